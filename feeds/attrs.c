/*
 * attrs.c: the attribute table of attrs.h, lookup by wire name, and the
 * names feeds use for the same attributes (aliases).
 *
 * ps_attr_lookup() is a binary search over by_name[], the attributes in
 * strcmp() order of their wire names. by_name[] is written out by hand
 * because C cannot sort at compile time; test_feeds_normalise checks that it
 * is sorted and complete, so a row added to attrs.h without it fails there.
 */
#include "attrs.h"

#include <string.h>

#include "feeds_int.h"

const ps_attr_def ps_attr_defs[PS_ATTR__COUNT] = {
#define PS_ATTR_DEF(e, name, type, max, req) [PS_ATTR_##e] = {name, PS_ATTR_TYPE_##type, max, req},
    PS_ATTR_TABLE(PS_ATTR_DEF)
#undef PS_ATTR_DEF
};

static const unsigned char by_name[] = {
    PS_ATTR_AD_LINK,
    PS_ATTR_ADDITIONAL_IMAGE_LINK,
    PS_ATTR_ADULT,
    PS_ATTR_AGE_GROUP,
    PS_ATTR_ANDROID_DEEP_LINK,
    PS_ATTR_AVAILABILITY,
    PS_ATTR_AVERAGE_REVIEW_RATING,
    PS_ATTR_BRAND,
    PS_ATTR_CHECKOUT_ENABLED,
    PS_ATTR_COLOR,
    PS_ATTR_CONDITION,
    PS_ATTR_CUSTOM_LABEL_0,
    PS_ATTR_CUSTOM_LABEL_1,
    PS_ATTR_CUSTOM_LABEL_2,
    PS_ATTR_CUSTOM_LABEL_3,
    PS_ATTR_CUSTOM_LABEL_4,
    PS_ATTR_CUSTOM_NUMBER_0,
    PS_ATTR_CUSTOM_NUMBER_1,
    PS_ATTR_CUSTOM_NUMBER_2,
    PS_ATTR_CUSTOM_NUMBER_3,
    PS_ATTR_CUSTOM_NUMBER_4,
    PS_ATTR_DESCRIPTION,
    PS_ATTR_FREE_SHIPPING_LABEL,
    PS_ATTR_FREE_SHIPPING_LIMIT,
    PS_ATTR_GENDER,
    PS_ATTR_GOOGLE_PRODUCT_CATEGORY,
    PS_ATTR_GTIN,
    PS_ATTR_ID,
    PS_ATTR_IMAGE_LINK,
    PS_ATTR_INSTALLMENT_PRICE,
    PS_ATTR_IOS_DEEP_LINK,
    PS_ATTR_ITEM_GROUP_ID,
    PS_ATTR_LINK,
    PS_ATTR_MATERIAL,
    PS_ATTR_MIN_AD_PRICE,
    PS_ATTR_MOBILE_LINK,
    PS_ATTR_MPN,
    PS_ATTR_NUMBER_OF_RATINGS,
    PS_ATTR_NUMBER_OF_REVIEWS,
    PS_ATTR_PATTERN,
    PS_ATTR_PRICE,
    PS_ATTR_PRODUCT_TYPE,
    PS_ATTR_PROMOTION_ID,
    PS_ATTR_SALE_PRICE,
    PS_ATTR_SALE_PRICE_EFFECTIVE_DATE,
    PS_ATTR_SHIPPING,
    PS_ATTR_SHIPPING_HEIGHT,
    PS_ATTR_SHIPPING_WEIGHT,
    PS_ATTR_SHIPPING_WIDTH,
    PS_ATTR_SIZE,
    PS_ATTR_SIZE_SYSTEM,
    PS_ATTR_SIZE_TYPE,
    PS_ATTR_TAX,
    PS_ATTR_TITLE,
    PS_ATTR_UNIT_PRICING_BASE_MEASURE,
    PS_ATTR_UNIT_PRICING_MEASURE,
    PS_ATTR_VARIANT_NAMES,
    PS_ATTR_VARIANT_VALUES,
    PS_ATTR_VIDEO_LINK,
};

_Static_assert(sizeof(by_name) == PS_ATTR__COUNT,
               "by_name[] must list every attribute of attrs.h once");

/* Compares name[0..len) with the NUL-terminated s, as strcmp() would. */
static int
cmp_name(const char *name, size_t len, const char *s)
{
	size_t slen = strlen(s);
	int c = memcmp(name, s, len < slen ? len : slen);

	if (c != 0)
		return c;
	return (len > slen) - (len < slen);
}

int
ps_attr_lookup(const char *name, size_t len)
{
	size_t lo = 0, hi = sizeof(by_name);

	if (name == NULL)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int a = by_name[mid];
		int c = cmp_name(name, len, ps_attr_defs[a].name);

		if (c == 0)
			return a;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/*
 * Other names feeds use for an attribute, after the folding done by
 * ps_feed__attr_from_name() (lowercase, '_' for ' ' and '-', no "g:").
 * Google's own names are Pinterest's except for the few below.
 */
static const struct alias {
	const char *name;
	int attr;
} aliases[] = {
    {"image", PS_ATTR_IMAGE_LINK},
    {"image_url", PS_ATTR_IMAGE_LINK},
    {"url", PS_ATTR_LINK},
    {"product_url", PS_ATTR_LINK},
    {"ads_redirect", PS_ATTR_AD_LINK},     /* Google's name */
    {"adwords_redirect", PS_ATTR_AD_LINK}, /* Google's old name */
    {"additional_image_links", PS_ATTR_ADDITIONAL_IMAGE_LINK},
    {"ean", PS_ATTR_GTIN},
    {"upc", PS_ATTR_GTIN},
    {"isbn", PS_ATTR_GTIN},
    /* Atom 1.0: <summary> is the entry's description (a g:description
     * or <description> element beats it: see xml.c) */
    {"summary", PS_ATTR_DESCRIPTION},
    /* Meta (Facebook) catalog columns */
    {"rich_text_description", PS_ATTR_DESCRIPTION},
    {"video[0].url", PS_ATTR_VIDEO_LINK},
    {"image[0].url", PS_ATTR_IMAGE_LINK},
};

#define NAME_MAX_FOLDED 64

int
ps_feed__attr_from_name(const char *name, size_t len)
{
	char buf[NAME_MAX_FOLDED];
	size_t i, n = 0;
	int a;

	while (len > 0 && ps_is_space((unsigned char)name[0])) {
		name++;
		len--;
	}
	while (len > 0 && ps_is_space((unsigned char)name[len - 1]))
		len--;
	if (len > 2 && ps_lower((unsigned char)name[0]) == 'g' && name[1] == ':') {
		name += 2;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		buf[n++] = (c == ' ' || c == '-') ? '_' : (char)ps_lower(c);
	}
	a = ps_attr_lookup(buf, n);
	if (a >= 0)
		return a;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (cmp_name(buf, n, aliases[i].name) == 0)
			return aliases[i].attr;
	}
	return -1;
}

int
ps_feed__attr_is_url(int a)
{
	switch (a) {
	case PS_ATTR_LINK:
	case PS_ATTR_IMAGE_LINK:
	case PS_ATTR_ADDITIONAL_IMAGE_LINK:
	case PS_ATTR_VIDEO_LINK:
	case PS_ATTR_MOBILE_LINK:
	case PS_ATTR_AD_LINK: return 1;
	default: return 0;
	}
}

int
ps_feed__attr_exact(const char *name, size_t len)
{
	char buf[NAME_MAX_FOLDED];
	size_t i, n = 0;

	while (len > 0 && ps_is_space((unsigned char)name[0])) {
		name++;
		len--;
	}
	while (len > 0 && ps_is_space((unsigned char)name[len - 1]))
		len--;
	if (len > 2 && ps_lower((unsigned char)name[0]) == 'g' && name[1] == ':') {
		name += 2;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		buf[n++] = (c == ' ' || c == '-') ? '_' : (char)ps_lower(c);
	}
	return ps_attr_lookup(buf, n);
}
