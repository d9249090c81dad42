/*
 * normalise.c: one raw item -> the item Pinterest would be sent, with the
 * reasons it cannot be sent, and its content hash.
 *
 * Every value is trimmed; control characters are dropped (in description
 * a line break is kept as "\n" and a tab becomes a space; elsewhere tabs
 * and line breaks become one space); invalid UTF-8 becomes U+FFFD and a
 * "bad_utf8" problem; a value left empty is absent. Then, by attribute:
 *
 *   availability  in stock | out of stock | preorder, from the usual
 *                 spellings (case, spaces, '_' and '-' do not matter;
 *                 schema.org URLs too); else "bad_enum"
 *   price, sale_price  "24.99 USD": number with '.' for decimals and no
 *                 thousands separators, one space, upper-case ISO code.
 *                 Accepts "24.99USD", "USD 24.99", "24,99 EUR",
 *                 "1.234,50 EUR", "€12", and opts->default_currency for
 *                 a bare number; else "bad_price"
 *   condition     new | used | refurbished, lowercased; else "bad_enum"
 *   BOOL          true | false (from yes/no, 1/0, ...); else "bad_enum"
 *   INT, NUMBER   digits (and one decimal point); else "bad_number"
 *   URLs          link, image_link, additional_image_link (each),
 *                 mobile_link, video_link, ad_link must be http(s); else
 *                 "bad_url"
 *   limits        max_chars of attrs.h in code points (each element of a
 *                 LIST); else "too_long"
 *   required      id, title, description, link, image_link, price,
 *                 availability; else "missing"
 *
 *   title, description  HTML turned to text when it holds tags or
 *                 entities (html.c): Pinterest shows plain text
 *   shipping      "country:region:service:price" blocks joined by ',';
 *                 each price normalised as above; else "bad_price"
 *   URLs          a path ("/img/a.jpg") is resolved against
 *                 opts->base_url, "//host/..." gets https:; without a
 *                 base URL a path stays and is a "bad_url"
 *
 * gtin and every other value stay strings as given (leading zeros kept).
 * Rewritten values go to item->scratch; fixed spellings point at static
 * strings. The hash covers the values only, never the problems or the
 * place in the feed.
 */
#include "feeds.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "feeds_int.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define SHOWN_MAX 60 /* bytes of a bad value quoted in a message */

static void problem(ps_item *it, int attr, const char *code, const char *fmt, ...) PS_PRINTF(4, 5);

static void
problem(ps_item *it, int attr, const char *code, const char *fmt, ...)
{
	ps_problem *p;
	va_list ap;

	if (it->nproblems >= PS_FEED_MAX_PROBLEMS)
		return;
	p = &it->problems[it->nproblems++];
	p->attr = attr;
	p->code = code;
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
}

/* problem(it, a, "missing", "%s is missing", name) without printf: whole
 * store exports miss most attributes on every row. */
static void
problem_missing(ps_item *it, int a)
{
	const char *name = ps_attr_defs[a].name;
	size_t n = strlen(name);
	ps_problem *p;

	if (it->nproblems >= PS_FEED_MAX_PROBLEMS)
		return;
	p = &it->problems[it->nproblems++];
	p->attr = a;
	p->code = "missing";
	if (n > sizeof(p->message) - 12)
		n = sizeof(p->message) - 12;
	memcpy(p->message, name, n);
	memcpy(p->message + n, " is missing", 12);
}

/* Copies at most SHOWN_MAX bytes of a value for a message, cut at a
 * character boundary, separators and controls shown as spaces. */
static const char *
shown(char out[SHOWN_MAX + 4], const char *p, size_t n)
{
	size_t k = n > SHOWN_MAX ? SHOWN_MAX : n, i;

	if (k < n) {
		while (k > 0 && ((unsigned char)p[k] & 0xC0) == 0x80)
			k--;
	}
	for (i = 0; i < k; i++)
		out[i] = (unsigned char)p[i] < 0x20 ? ' ' : p[i];
	if (k < n) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;

		return (n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80) ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;

		return (n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
		        (s[3] & 0xC0) == 0x80)
		           ? 4
		           : 0;
	}
	return 0;
}

static size_t
code_points(const char *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += ((unsigned char)p[i] & 0xC0) != 0x80;
	return k;
}

/* Room left in the scratch buffer (keeping one byte for a NUL). */
static size_t
scratch_room(const ps_item *it)
{
	if (it->scratch == NULL || it->scratch_cap <= it->scratch_len)
		return 0;
	return it->scratch_cap - it->scratch_len - 1;
}

/* Stores p[0..n) in the scratch as the value of a. 0, or -1 if no room. */
static int
set_scratch(ps_item *it, int a, const char *p, size_t n)
{
	char *dst;

	if (scratch_room(it) < n) {
		problem(it, a, "no_room", "%s does not fit the normalisation buffer",
		        ps_attr_defs[a].name);
		return -1;
	}
	dst = it->scratch + it->scratch_len;
	memmove(dst, p, n);
	dst[n] = '\0';
	it->scratch_len += n + 1;
	it->values[a].ptr = dst;
	it->values[a].len = n;
	return 0;
}

static void
set_static(ps_item *it, int a, const char *s)
{
	it->values[a].ptr = s;
	it->values[a].len = strlen(s);
}

/* Might one of p[0..8) not be plain printable ASCII? False alarms only
 * send the bytes to the byte loop. */
static int
not_ascii8(const unsigned char *p)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t high = UINT64_C(0x8080808080808080);
	uint64_t w, del;

	memcpy(&w, p, 8);
	del = w ^ (ones * 0x7F);
	/* any byte >= 0x80, < 0x20 or == 0x7F */
	return ((w & high) | ((w - ones * 0x20) & ~w & high) | ((del - ones) & ~del & high)) != 0;
}

#if defined(__SSE2__)
/* Bit i set when p[i] is not plain printable ASCII, for 16 bytes. Signed
 * compares: bytes >= 0x80 are negative, so "c > 0x1F and c < 0x7F" holds
 * for plain printable ASCII alone. */
static unsigned
not_ascii16(const unsigned char *p)
{
	const __m128i lo = _mm_set1_epi8(0x1F), hi = _mm_set1_epi8(0x7F);
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i ok = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi));

	return (unsigned)_mm_movemask_epi8(ok) ^ 0xFFFFu;
}
#endif

/*
 * Length of the run of plain printable ASCII at the start of s, 16 bytes
 * at a time with SSE2 (the last 16 again, overlapping, for the tail), else
 * 8: most values are all plain ASCII.
 */
static size_t
ascii_run(const unsigned char *s, size_t n)
{
	size_t i = 0;

#if defined(__SSE2__)
	unsigned mask;

	for (; n - i >= 16; i += 16) {
		if ((mask = not_ascii16(s + i)) != 0)
			return i + (size_t)__builtin_ctz(mask);
	}
	if (i == n)
		return n;
	if (n >= 16) {
		/* s[n - 16 .. i) are known good: 1 <= i - (n - 16) <= 15 */
		mask = not_ascii16(s + n - 16) >> (i - (n - 16));
		return mask != 0 ? i + (size_t)__builtin_ctz(mask) : n;
	}
	/* Short values (ids, prices, enums): 8 bytes twice, overlapping. */
	if (n >= 8 && !not_ascii8(s) && !not_ascii8(s + n - 8))
		return n;
#else
	while (n - i >= 8 && !not_ascii8(s + i))
		i += 8;
#endif
	while (i < n && s[i] >= 0x20 && s[i] < 0x7F)
		i++;
	return i;
}

/*
 * Trims and cleans value a (see the top of the file). Writes into the
 * scratch only when the value changes; an empty result makes it absent.
 */
static void
clean(ps_item *it, int a)
{
	const unsigned char *s = (const unsigned char *)it->values[a].ptr;
	size_t n = it->values[a].len, n0, i, o, bad_at = SIZE_MAX;
	const int desc = a == PS_ATTR_DESCRIPTION;
	const int list = ps_attr_defs[a].type == PS_ATTR_TYPE_LIST;
	int dirty = 0;
	unsigned seps = 0;
	char *out;

	while (n > 0 && ps_is_space(*s)) {
		s++;
		n--;
	}
	n0 = n;
	while (n > 0 && ps_is_space(s[n - 1]))
		n--;
	dirty = n != n0; /* the NUL must move */

	for (i = 0; i < n;) {
		unsigned char c;
		size_t k;

		i += ascii_run(s + i, n - i);
		if (i >= n)
			break;
		c = s[i];
		if (c < 0x80) {
			if (c == PS_LIST_SEP && list) {
				/* a separator next to a blank or another one, or
				 * more images than Pinterest takes */
				if (i == 0 || i + 1 == n || ps_is_space(s[i - 1]) ||
				    ps_is_space(s[i + 1]) || s[i + 1] == PS_LIST_SEP ||
				    (++seps >= PS_MAX_ADDITIONAL_IMAGES &&
				     a == PS_ATTR_ADDITIONAL_IMAGE_LINK))
					dirty = 1;
			} else if (!(c == '\n' && desc)) {
				dirty = 1;
			}
			i++;
			continue;
		}
		k = utf8_len(s + i, n - i);
		if (k == 0) {
			if (bad_at == SIZE_MAX)
				bad_at = i;
			dirty = 1;
			i++;
		} else {
			i += k;
		}
	}

	if (!dirty) {
		it->values[a].ptr = n ? (const char *)s : NULL;
		it->values[a].len = n;
		return;
	}

	if (scratch_room(it) < 3 * n) {
		problem(it, a, "no_room", "%s does not fit the normalisation buffer",
		        ps_attr_defs[a].name);
		return;
	}
	out = it->scratch + it->scratch_len;
	for (i = 0, o = 0; i < n;) {
		unsigned char c;
		size_t k = ascii_run(s + i, n - i);

		/* Runs of plain ASCII go whole (a value is most often dirty
		 * only for a blank trimmed at its end). */
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
		if (i >= n)
			break;
		c = s[i];
		if (c >= 0x80) {
			k = utf8_len(s + i, n - i);
			if (k == 0) {
				memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
				o += 3;
				i++;
			} else {
				memcpy(out + o, s + i, k);
				o += k;
				i += k;
			}
			continue;
		}
		if (list && c == PS_LIST_SEP) {
			out[o++] = (char)c;
		} else if (desc) {
			if (c == '\n' || (c == '\r' && !(i + 1 < n && s[i + 1] == '\n')))
				out[o++] = '\n';
			else if (c == '\t')
				out[o++] = ' ';
		} else if (c == '\t' || c == '\n' || c == '\r') {
			if (o == 0 || out[o - 1] != ' ')
				out[o++] = ' ';
		}
		i++;
	}
	/* Dropped controls may have bared blanks at the ends. */
	i = 0;
	while (i < o && ps_is_space((unsigned char)out[i]))
		i++;
	while (o > i && ps_is_space((unsigned char)out[o - 1]))
		o--;
	if (i > 0) {
		memmove(out, out + i, o - i);
		o -= i;
	}
	if (list)
		o = ps_feed__list_pack(out, o, 0, 0,
		                       a == PS_ATTR_ADDITIONAL_IMAGE_LINK ? PS_MAX_ADDITIONAL_IMAGES
		                                                          : 0);
	out[o] = '\0';
	if (o == 0) {
		it->values[a].ptr = NULL;
		it->values[a].len = 0;
	} else {
		it->scratch_len += o + 1;
		it->values[a].ptr = out;
		it->values[a].len = o;
	}
	if (bad_at != SIZE_MAX)
		problem(it, a, "bad_utf8", "%s has invalid UTF-8 at byte %zu", ps_attr_defs[a].name,
		        bad_at);
}

/* ------------------------------------------------------------------ */
/* Typed values                                                        */

/* Lowercase letters and digits of s, without blanks, '_' and '-'. */
static size_t
fold_key(char *key, size_t cap, const char *s, size_t n)
{
	size_t i, k = 0;

	if (n > 19 && strncasecmp(s, "https://schema.org/", 19) == 0) {
		s += 19;
		n -= 19;
	} else if (n > 18 && strncasecmp(s, "http://schema.org/", 18) == 0) {
		s += 18;
		n -= 18;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = ps_lower((unsigned char)s[i]);

		if (c == ' ' || c == '_' || c == '-')
			continue;
		if (k + 1 >= cap)
			return 0;
		key[k++] = (char)c;
	}
	key[k] = '\0';
	return k;
}

static const struct {
	const char *key;
	const char *value;
} availability_map[] = {
    {"instock", "in stock"},
    {"available", "in stock"},
    {"limitedavailability", "in stock"},
    {"onlineonly", "in stock"},
    {"outofstock", "out of stock"},
    {"soldout", "out of stock"},
    {"discontinued", "out of stock"},
    {"unavailable", "out of stock"},
    {"preorder", "preorder"},
    {"availablefororder", "preorder"},
    {"backorder", "preorder"},
};

static void
check_availability(ps_item *it, int a)
{
	const ps_slice v = it->values[a];
	char key[32], buf[SHOWN_MAX + 4];
	size_t i;

	if (fold_key(key, sizeof(key), v.ptr, v.len) > 0) {
		for (i = 0; i < sizeof(availability_map) / sizeof(availability_map[0]); i++) {
			if (strcmp(key, availability_map[i].key) == 0) {
				set_static(it, a, availability_map[i].value);
				return;
			}
		}
	}
	problem(it, a, "bad_enum", "%s \"%s\" is not one of in stock, out of stock, preorder",
	        ps_attr_defs[a].name, shown(buf, v.ptr, v.len));
}

static int
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Reads a currency at s[*i]: three letters, or a symbol we can map. */
static int
read_currency(char cur[4], const char *s, size_t n, size_t *i, const char *dflt)
{
	size_t j = *i, k;

	if (j < n && is_alpha((unsigned char)s[j])) {
		for (k = j; k < n && is_alpha((unsigned char)s[k]); k++)
			;
		if (k - j != 3)
			return -1;
		cur[0] = (char)(s[j] & ~0x20);
		cur[1] = (char)(s[j + 1] & ~0x20);
		cur[2] = (char)(s[j + 2] & ~0x20);
		cur[3] = '\0';
		*i = k;
		return 1;
	}
	if (j + 3 <= n && memcmp(s + j, "\xE2\x82\xAC", 3) == 0) { /* € */
		memcpy(cur, "EUR", 4);
		*i = j + 3;
		return 1;
	}
	if (j + 2 <= n && memcmp(s + j, "\xC2\xA3", 2) == 0) { /* £ */
		memcpy(cur, "GBP", 4);
		*i = j + 2;
		return 1;
	}
	if (j < n && s[j] == '$') { /* the store's dollar if it set one */
		memcpy(cur, (dflt && dflt[2] == 'D') ? dflt : "USD", 3);
		cur[3] = '\0';
		*i = j + 1;
		return 1;
	}
	return 0;
}

/*
 * Thousands separators (whichever of '.' and ',' is not dec) must split
 * the integer part into groups of three digits after a first of one to
 * three: "1,234,567" yes, "1.2.3" and "12,34" no.
 */
static int
valid_groups(const char *p, size_t n, char dec)
{
	size_t i, group = 0, groups = 0;

	for (i = 0; i < n && p[i] != dec; i++) {
		if (is_digit((unsigned char)p[i])) {
			group++;
			continue;
		}
		/* a thousands separator */
		if ((groups == 0 && (group == 0 || group > 3)) || (groups > 0 && group != 3))
			return 0;
		groups++;
		group = 0;
	}
	return groups == 0 || group == 3;
}

/*
 * Canonical "24.99 USD" from a price as feeds write it. Returns the length
 * written to out (at least 64 bytes), or 0 for an invalid price, -1 for a
 * number without a currency.
 */
static int
parse_price(char *out, const char *s, size_t n, const char *dflt)
{
	char cur[4] = "";
	size_t i = 0, ns, ne, dots = 0, commas = 0, last = SIZE_MAX, k, o = 0;
	char dec = 0;
	int digits = 0, r;

	if (n > 48)
		return 0;
	while (i < n && s[i] == ' ')
		i++;
	if ((r = read_currency(cur, s, n, &i, dflt)) < 0)
		return 0;
	while (i < n && s[i] == ' ')
		i++;
	ns = i;
	while (i < n && (is_digit((unsigned char)s[i]) || s[i] == '.' || s[i] == ',')) {
		if (s[i] == '.')
			dots++, last = i;
		else if (s[i] == ',')
			commas++, last = i;
		i++;
	}
	ne = i;
	while (i < n && s[i] == ' ')
		i++;
	if (cur[0] == '\0' && read_currency(cur, s, n, &i, dflt) < 0)
		return 0;
	while (i < n && s[i] == ' ')
		i++;
	if (i != n || ne == ns)
		return 0;

	/* Which separator is the decimal point? */
	if (dots && commas)
		dec = s[last];
	else if (commas == 1 && ne - last - 1 != 3)
		dec = ',';
	else if (dots == 1)
		dec = '.';
	if (dec && (dec == '.' ? dots : commas) > 1)
		return 0; /* "1.2,3.4" */
	if (!valid_groups(s + ns, ne - ns, dec))
		return 0; /* "1.2.3", "12,34,567" */

	for (k = ns; k < ne; k++) {
		char c = s[k];

		if (is_digit((unsigned char)c)) {
			out[o++] = c;
			digits++;
		} else if (c == dec) {
			if (k + 1 == ne)
				break; /* "24." */
			if (o == 0)
				out[o++] = '0';
			out[o++] = '.';
		}
	}
	if (digits == 0)
		return 0;
	if (cur[0] == '\0') {
		size_t d = 0;

		if (dflt == NULL || read_currency(cur, dflt, strlen(dflt), &d, NULL) != 1 ||
		    dflt[d] != '\0' || !is_alpha((unsigned char)dflt[0]))
			return -1;
	}
	out[o++] = ' ';
	memcpy(out + o, cur, 3);
	o += 3;
	out[o] = '\0';
	return (int)o;
}

static void
check_price(ps_item *it, int a, const ps_feed_options *opts)
{
	const ps_slice v = it->values[a];
	char price[64], buf[SHOWN_MAX + 4];
	int n = parse_price(price, v.ptr, v.len, opts ? opts->default_currency : NULL);

	if (n == -1) {
		problem(it, a, "bad_price", "%s \"%s\" has no currency", ps_attr_defs[a].name,
		        shown(buf, v.ptr, v.len));
		return;
	}
	if (n == 0) {
		problem(it, a, "bad_price", "%s \"%s\" is not a price", ps_attr_defs[a].name,
		        shown(buf, v.ptr, v.len));
		return;
	}
	if ((size_t)n != v.len || memcmp(price, v.ptr, (size_t)n) != 0)
		(void)set_scratch(it, a, price, (size_t)n);
}

static void
check_condition(ps_item *it, int a)
{
	static const char *const values[] = {"new", "used", "refurbished"};
	const ps_slice v = it->values[a];
	char buf[SHOWN_MAX + 4];
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		if (v.len == strlen(values[i]) && strncasecmp(v.ptr, values[i], v.len) == 0) {
			set_static(it, a, values[i]);
			return;
		}
	}
	problem(it, a, "bad_enum", "%s \"%s\" is not one of new, used, refurbished",
	        ps_attr_defs[a].name, shown(buf, v.ptr, v.len));
}

static void
check_bool(ps_item *it, int a)
{
	static const char *const yes[] = {"true", "yes", "y", "1", "t"};
	static const char *const no[] = {"false", "no", "n", "0", "f"};
	const ps_slice v = it->values[a];
	char buf[SHOWN_MAX + 4];
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (v.len == strlen(yes[i]) && strncasecmp(v.ptr, yes[i], v.len) == 0) {
			set_static(it, a, "true");
			return;
		}
		if (v.len == strlen(no[i]) && strncasecmp(v.ptr, no[i], v.len) == 0) {
			set_static(it, a, "false");
			return;
		}
	}
	problem(it, a, "bad_enum", "%s \"%s\" is not true or false", ps_attr_defs[a].name,
	        shown(buf, v.ptr, v.len));
}

/* The largest value of integer attribute a: the spec describes
 * custom_number_0..4 as "ranging from 0 to 4,294,967,295"; the others are
 * JSON integers, which Pinterest reads as int64. A larger value would be
 * refused by the API's schema for the whole batch, so it is caught here. */
static const char *
int_max_of(int a)
{
	return a >= PS_ATTR_CUSTOM_NUMBER_0 && a <= PS_ATTR_CUSTOM_NUMBER_4 ? "4294967295"
	                                                                     : "9223372036854775807";
}

/* Whether the digits s[0..len) are at most int_max_of(a). */
static int
int_in_range(const char *s, size_t len, int a)
{
	const char *max = int_max_of(a);
	size_t mlen = strlen(max);

	while (len > 1 && *s == '0')
		s++, len--;
	if (len != mlen)
		return len < mlen;
	return memcmp(s, max, len) <= 0;
}

static void
check_number(ps_item *it, int a, int integer)
{
	const ps_slice v = it->values[a];
	char buf[SHOWN_MAX + 4];
	size_t i, digits = 0, points = 0, comma = SIZE_MAX;

	for (i = 0; i < v.len; i++) {
		char c = v.ptr[i];

		if (is_digit((unsigned char)c)) {
			digits++;
		} else if ((c == '.' || c == ',') && !integer && digits > 0 && i + 1 < v.len) {
			points++;
			if (c == ',')
				comma = i;
		} else {
			break;
		}
	}
	if (i != v.len || digits == 0 || points > 1) {
		problem(it, a, "bad_number", "%s \"%s\" is not a%s number", ps_attr_defs[a].name,
		        shown(buf, v.ptr, v.len), integer ? " whole" : "");
		return;
	}
	if (integer && !int_in_range(v.ptr, v.len, a)) {
		problem(it, a, "out_of_range", "%s \"%s\" is out of range (at most %s)",
		        ps_attr_defs[a].name, shown(buf, v.ptr, v.len), int_max_of(a));
		return;
	}
	if (comma != SIZE_MAX && set_scratch(it, a, v.ptr, v.len) == 0)
		((char *)it->values[a].ptr)[comma] = '.';
}

/* Checks each element of a (LIST) value: URL scheme and length. */
static void
check_elements(ps_item *it, int a)
{
	const ps_slice v = it->values[a];
	const unsigned max = ps_attr_defs[a].max_chars;
	const int url = ps_feed__attr_is_url(a);
	char buf[SHOWN_MAX + 4];
	size_t s = 0;

	while (s < v.len) {
		const char *e = memchr(v.ptr + s, PS_LIST_SEP, v.len - s);
		size_t n = e ? (size_t)(e - (v.ptr + s)) : v.len - s;
		const char *p = v.ptr + s;
		size_t cp;

		if (url && !((n >= 7 && strncasecmp(p, "http://", 7) == 0) ||
		             (n >= 8 && strncasecmp(p, "https://", 8) == 0))) {
			problem(it, a, "bad_url", "%s \"%s\" is not an http(s) URL",
			        ps_attr_defs[a].name, shown(buf, p, n));
		}
		/* bytes >= characters: count only when the bytes exceed */
		if (max > 0 && n > max && (cp = code_points(p, n)) > max) {
			problem(it, a, "too_long", "%s has %zu characters, over the limit of %u",
			        ps_attr_defs[a].name, cp, max);
		}
		s += n + 1;
	}
}

/* title, description: HTML to text (see html.c). */
static void
check_html(ps_item *it, int a)
{
	const ps_slice v = it->values[a];
	size_t n;
	char *dst;

	if (!ps_feed__looks_html(v.ptr, v.len))
		return;
	if (scratch_room(it) < v.len) {
		problem(it, a, "no_room", "%s does not fit the normalisation buffer",
		        ps_attr_defs[a].name);
		return;
	}
	/* Converted straight into the scratch: the value lies before its end
	 * (a feed's own bytes, or a value clean() put there), never past it. */
	dst = it->scratch + it->scratch_len;
	n = ps_feed__html_to_text(dst, v.ptr, v.len);
	dst[n] = '\0';
	it->scratch_len += n + 1;
	it->values[a].ptr = n ? dst : NULL;
	it->values[a].len = n;
}

/* Appends p[0..n) to the value being built at the end of the scratch. */
static int
scratch_put(ps_item *it, size_t *o, const char *p, size_t n)
{
	if (it->scratch == NULL || it->scratch_len + *o + n + 1 > it->scratch_cap)
		return -1;
	memmove(it->scratch + it->scratch_len + *o, p, n);
	*o += n;
	return 0;
}

/* Makes the value built at the end of the scratch (o bytes) the value of a. */
static void
scratch_take(ps_item *it, int a, size_t o)
{
	char *dst = it->scratch + it->scratch_len;

	dst[o] = '\0';
	it->scratch_len += o + 1;
	it->values[a].ptr = dst;
	it->values[a].len = o;
}

/* URL attributes: relative paths against the base URL (each element of a
 * LIST). Leaves the value alone when nothing is relative. */
static void
resolve_urls(ps_item *it, int a, const ps_feed_options *opts)
{
	const ps_slice v = it->values[a];
	const char *base = opts ? opts->base_url : NULL;
	size_t blen = base ? strlen(base) : 0, s = 0, o = 0;
	int relative = 0;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	while (s < v.len) {
		const char *e = memchr(v.ptr + s, PS_LIST_SEP, v.len - s);
		size_t n = e ? (size_t)(e - (v.ptr + s)) : v.len - s;

		if (n > 0 && v.ptr[s] == '/')
			relative = 1;
		s += n + 1;
	}
	if (!relative)
		return;
	for (s = 0; s < v.len;) {
		const char *e = memchr(v.ptr + s, PS_LIST_SEP, v.len - s);
		size_t n = e ? (size_t)(e - (v.ptr + s)) : v.len - s;
		const char *p = v.ptr + s;
		int rc = 0;

		if (o > 0)
			rc = scratch_put(it, &o, "\x1f", 1);
		if (rc == 0 && n >= 2 && p[0] == '/' && p[1] == '/')
			rc = scratch_put(it, &o, "https:", 6);
		else if (rc == 0 && n >= 1 && p[0] == '/' && blen > 0)
			rc = scratch_put(it, &o, base, blen);
		if (rc == 0)
			rc = scratch_put(it, &o, p, n);
		if (rc != 0) {
			problem(it, a, "no_room", "%s does not fit the normalisation buffer",
			        ps_attr_defs[a].name);
			return;
		}
		s += n + 1;
	}
	scratch_take(it, a, o);
}

/* shipping: "country:region:service:price[,...]": each price normalised. A
 * block starts after a ',' only where a ':' follows, so "4,90 EUR" stays
 * one price. Free text without the colons is left as it is. */
static void
check_shipping(ps_item *it, int a, const ps_feed_options *opts)
{
	const ps_slice v = it->values[a];
	char price[64], buf[SHOWN_MAX + 4];
	size_t s = 0, o = 0;
	int changed = 0;

	if (memchr(v.ptr, ':', v.len) == NULL)
		return;
	while (s < v.len) {
		size_t e = s, colons = 0, last = 0;
		int n;

		/* the block: up to a ',' that starts another block */
		while (e < v.len) {
			if (v.ptr[e] == ':') {
				colons++;
				last = e;
			}
			if (v.ptr[e] == ',' && colons >= 3 &&
			    memchr(v.ptr + e + 1, ':', v.len - e - 1) != NULL) {
				size_t k = e + 1;

				while (k < v.len && v.ptr[k] != ',' && v.ptr[k] != ':')
					k++;
				if (k < v.len && v.ptr[k] == ':')
					break;
			}
			e++;
		}
		if (o > 0 && scratch_put(it, &o, ",", 1) != 0)
			goto noroom;
		if (colons >= 3 && e > last + 1) {
			n = parse_price(price, v.ptr + last + 1, e - last - 1,
			                opts ? opts->default_currency : NULL);
			if (n <= 0) {
				problem(it, a, "bad_price", "shipping price \"%s\" is %s",
				        shown(buf, v.ptr + last + 1, e - last - 1),
				        n == -1 ? "missing its currency" : "not a price");
				return;
			}
			if ((size_t)n != e - last - 1 || memcmp(price, v.ptr + last + 1, (size_t)n))
				changed = 1;
			if (scratch_put(it, &o, v.ptr + s, last + 1 - s) != 0 ||
			    scratch_put(it, &o, price, (size_t)n) != 0)
				goto noroom;
		} else if (scratch_put(it, &o, v.ptr + s, e - s) != 0) {
			goto noroom;
		}
		s = e + 1;
	}
	if (changed)
		scratch_take(it, a, o);
	return;
noroom:
	problem(it, a, "no_room", "%s does not fit the normalisation buffer", ps_attr_defs[a].name);
}

static uint64_t hash_of(const ps_item *it, uint64_t present);

/* Bit a set for each attribute a required to create an item. */
static uint64_t
required_mask(void)
{
	static const uint64_t mask = 0
#define PS_REQUIRED_BIT(e, name, type, max, req) | ((uint64_t)((req) != 0) << PS_ATTR_##e)
	    PS_ATTR_TABLE(PS_REQUIRED_BIT)
#undef PS_REQUIRED_BIT
	    ;

	return mask;
}

void
ps_item_normalise(ps_item *it, const ps_feed_options *opts)
{
	uint64_t present = 0;
	int a;

	for (a = 0; a < PS_ATTR__COUNT; a++)
		present |= (uint64_t)(it->values[a].ptr != NULL) << a;
	ps_feed__normalise(it, opts, present);
}

void
ps_feed__normalise(ps_item *it, const ps_feed_options *opts, uint64_t present)
{
	uint64_t todo;
	int a;

	/* An item has a third of the attributes or fewer: the passes below
	 * visit the bits of a mask, in table order, not every attribute. */
	for (todo = present; todo != 0; todo &= todo - 1) {
		a = __builtin_ctzll(todo);
		clean(it, a);
		if (it->values[a].ptr == NULL)
			present &= ~((uint64_t)1 << a);
	}
	if (it->values[PS_ATTR_TITLE].ptr != NULL)
		check_html(it, PS_ATTR_TITLE);
	if (it->values[PS_ATTR_DESCRIPTION].ptr != NULL)
		check_html(it, PS_ATTR_DESCRIPTION);

	/* Checks never add a value, and change only their own attribute. */
	for (todo = present | required_mask(); todo != 0; todo &= todo - 1) {
		const ps_attr_def *d;

		a = __builtin_ctzll(todo);
		d = &ps_attr_defs[a];
		if (it->values[a].ptr == NULL) {
			if (d->required)
				problem_missing(it, a);
			continue;
		}
		switch (a) {
		case PS_ATTR_AVAILABILITY: check_availability(it, a); break;
		case PS_ATTR_PRICE:
		case PS_ATTR_SALE_PRICE: check_price(it, a, opts); break;
		case PS_ATTR_CONDITION: check_condition(it, a); break;
		case PS_ATTR_SHIPPING: check_shipping(it, a, opts); break;
		default:
			if (d->type == PS_ATTR_TYPE_BOOL)
				check_bool(it, a);
			else if (d->type == PS_ATTR_TYPE_INT)
				check_number(it, a, 1);
			else if (d->type == PS_ATTR_TYPE_NUMBER)
				check_number(it, a, 0);
			break;
		}
		if (ps_feed__attr_is_url(a))
			resolve_urls(it, a, opts);
		if (d->max_chars > 0 || ps_feed__attr_is_url(a))
			check_elements(it, a);
	}

	it->hash = hash_of(it, present);
}

/* ------------------------------------------------------------------ */
/* Hash                                                                */

#define PS_HASH_FN hash_base
#include "hash_impl.h"

/*
 * The AVX2 build of the same hash (hash_avx2.c) where the compiler could
 * make one and the CPU runs it: XXH3 reads 32 bytes a step instead of the
 * 16 of libxxhash's SSE2 build, which was a tenth of the CSV hot path.
 */
#if defined(PS_HAVE_HASH_AVX2)
uint64_t ps_feed__hash_avx2(const ps_item *it, uint64_t present);
#endif

static uint64_t
hash_of(const ps_item *it, uint64_t present)
{
#if defined(PS_HAVE_HASH_AVX2)
	if (__builtin_cpu_supports("avx2"))
		return ps_feed__hash_avx2(it, present);
#endif
	return hash_base(it, present);
}

uint64_t
ps_item_hash(const ps_item *it)
{
	return hash_of(it, PS_ATTR__COUNT == 64 ? ~(uint64_t)0
	                                        : ((uint64_t)1 << (PS_ATTR__COUNT % 64)) - 1);
}
