/*
 * genfeed.c: deterministic product feeds for the benchmark.
 *
 *   genfeed --items N --format xml|csv [--kind plain|realistic]
 *           [--variant a|b] [--seed S] [--change-rate R] [--size-factor F]
 *           [--gzip [--level L]] [--manifest FILE] -o FILE
 *
 * Feed A (--variant a) has N items. Feed B (--variant b) is A with a share R
 * of the items changed: of those, 80% are updated (the price, or for one in
 * three the title), 10% are removed and 10% get a new item right after them.
 * Unchanged items are byte for byte the same in A and B, in either format,
 * and the XML and CSV forms of one item carry the same values, so pinsync
 * computes the same content hash for both.
 *
 * Items resemble a Google Merchant / Pinterest feed: the Pinterest columns,
 * titles of about 80 characters, descriptions of about 900 (CDATA in XML,
 * a line break in one of ten, quotes in one of ten), 5% of the items with
 * non-ASCII text, variants four to an item_group_id. --size-factor F makes
 * every item about F times larger (longer descriptions), for the memory
 * flatness check. Values are already in Pinterest's canonical spelling.
 *
 * --kind realistic (issue 15) writes feeds as store exports do: 85% of the
 * descriptions are HTML documents in the manner of Shopify's Body (HTML),
 * WooCommerce or Magento (<p>, <br />, <strong>, <em>, <ul><li>, <h2>,
 * <a href>, <div> and <span> with attributes, comments, entities such as
 * &amp; &nbsp; &#8217; &#x2019; &quot; and escaped markup like &lt;b&gt;,
 * source line breaks), 10% sentences with inline tags and entities, 5%
 * plain text; 2% of the items carry a <script> or <style> block. Description lengths are spread log-uniformly from 200
 * to 5000 bytes of source, each item has 0 to 10 additional images, 20% of
 * the items have non-ASCII titles and descriptions (accents, CJK, emoji) and
 * 5% a title with an entity. In XML 70% of the descriptions are CDATA and
 * 30% escaped text (as many Google Shopping feeds have them); additional
 * images are repeated elements. In CSV the HTML is a quoted field with its
 * line breaks and doubled quotes; additional images are joined with ",".
 * The realistic text comes from a random stream of its own, so plain and
 * realistic items share ids, prices and the change draws.
 *
 * The manifest (JSON) gives the counts: items, updated, removed, added,
 * bytes written (uncompressed).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- output: a big buffer, written plain or through deflate ---- */

#define OUT_CAP (1u << 20)

static struct {
	FILE *f;
	int gzip;
	z_stream z;
	unsigned char *zbuf;
	char buf[OUT_CAP];
	size_t len;
	uint64_t total;
} out;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("genfeed: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
out_drain(int flush)
{
	if (!out.gzip) {
		if (out.len && fwrite(out.buf, 1, out.len, out.f) != out.len)
			die("write: %s", strerror(errno));
		out.len = 0;
		return;
	}
	out.z.next_in = (unsigned char *)out.buf;
	out.z.avail_in = (uInt)out.len;
	do {
		int rc;

		out.z.next_out = out.zbuf;
		out.z.avail_out = OUT_CAP;
		rc = deflate(&out.z, flush);
		if (rc == Z_STREAM_ERROR)
			die("deflate failed");
		if (fwrite(out.zbuf, 1, OUT_CAP - out.z.avail_out, out.f) != OUT_CAP - out.z.avail_out)
			die("write: %s", strerror(errno));
	} while (out.z.avail_out == 0);
	out.len = 0;
}

static inline void
put(const char *s, size_t n)
{
	if (out.len + n > OUT_CAP) {
		out_drain(Z_NO_FLUSH);
		while (n > OUT_CAP) { /* cannot happen with our item sizes */
			memcpy(out.buf, s, OUT_CAP);
			out.len = OUT_CAP;
			out_drain(Z_NO_FLUSH);
			s += OUT_CAP;
			n -= OUT_CAP;
		}
	}
	memcpy(out.buf + out.len, s, n);
	out.len += n;
	out.total += n;
}

static inline void
puts_(const char *s)
{
	put(s, strlen(s));
}

/* ---- randomness: splitmix64, one stream per item ---- */

static inline uint64_t
mix64(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

typedef struct rng {
	uint64_t s;
} rng;

static inline uint64_t
next(rng *r)
{
	r->s += UINT64_C(0x9E3779B97F4A7C15);
	return mix64(r->s);
}

static inline unsigned
pick(rng *r, unsigned n)
{
	return (unsigned)((next(r) >> 32) * n >> 32);
}

/* ---- word lists ---- */

static const char *const brands[] = {"Northwind", "Acme", "Larkspur", "Tidewater", "Oakhaven",
                                     "Bellweather", "Copperline", "Juniper & Co", "Maple Row",
                                     "Silverpine", "Brightwater", "Harborview"};
static const char *const adjs[] = {"Classic", "Relaxed", "Slim", "Oversized", "Lightweight",
                                   "Organic", "Vintage", "Everyday", "Premium", "Soft-Touch",
                                   "Quilted", "Ribbed", "Linen-Blend", "Waterproof", "Cropped",
                                   "High-Rise", "Heritage", "Essential"};
static const char *const nouns[] = {"T-Shirt", "Hoodie", "Cardigan", "Chino Trousers", "Denim Jacket",
                                    "Midi Dress", "Rain Coat", "Crew Sweater", "Polo Shirt",
                                    "Cargo Shorts", "Wrap Skirt", "Puffer Vest", "Oxford Shirt",
                                    "Jogger Pants", "Blazer", "Tote Bag", "Ankle Boots", "Sneakers"};
static const char *const colors[] = {"Black", "White", "Navy", "Olive", "Sand", "Burgundy",
                                     "Heather Grey", "Sky Blue", "Rust", "Forest Green"};
static const char *const sizes[] = {"XS", "S", "M", "L", "XL", "XXL"};
static const char *const materials[] = {"cotton", "linen", "wool", "polyester", "denim",
                                        "leather", "cashmere", "recycled nylon"};
static const char *const genders[] = {"female", "male", "unisex"};
static const char *const categories[] = {
    "Apparel & Accessories > Clothing > Shirts & Tops", "Apparel & Accessories > Clothing > Pants",
    "Apparel & Accessories > Clothing > Outerwear > Coats & Jackets",
    "Apparel & Accessories > Clothing > Dresses", "Apparel & Accessories > Shoes",
    "Apparel & Accessories > Handbags, Wallets & Cases > Handbags"};
static const char *const types[] = {"Women > Tops > T-Shirts", "Men > Bottoms > Trousers",
                                    "Women > Outerwear > Jackets", "Women > Dresses > Midi",
                                    "Unisex > Shoes > Sneakers", "Accessories > Bags > Totes"};
/* Non-ASCII words, precomposed (NFC), for 5% of the items. */
static const char *const intl[] = {"Café",    "Crème",   "Größe",    "Édition", "naïve",
                                   "Ærøskøbing", "Tōkyō", "日本製", "Ñandú",   "Straße",
                                   "Señorita", "Ελληνικό", "Москва",  "çok güzel"};
static const char *const words[] = {
    "soft",     "breathable", "fabric",   "designed", "for",      "everyday", "comfort",  "with",
    "a",        "relaxed",    "fit",      "and",      "durable",  "stitching", "that",    "holds",
    "its",      "shape",      "wash",     "after",    "wash",     "made",     "from",     "responsibly",
    "sourced",  "fibres",     "the",      "cut",      "flatters", "every",    "body",     "type",
    "pair",     "it",         "jeans",    "or",       "tailored", "trousers", "easy",     "care",
    "machine",  "washable",   "at",       "30",       "degrees",  "finished", "in",       "our",
    "own",      "workshop",   "lined",    "pockets",  "keep",     "hands",    "warm",     "reinforced",
    "seams",    "last",       "longer",   "than",     "you",      "expect",   "true",     "to",
    "size",     "model",      "wears",    "medium",   "colour",   "may",      "vary",     "slightly",
    "between",  "batches",    "packed",   "plastic-free", "shipped", "within", "two",     "days"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Realistic text (--kind realistic). */
static const char *const intl_r[] = {"Café",      "Crème brûlée",
                                     "Größe",     "Édition limitée",
                                     "naïve",     "Ærøskøbing",
                                     "Tōkyō",     "日本製",
                                     "綿100%",    "手洗い可能",
                                     "柔らかい",  "Ñandú",
                                     "Straße",    "Señorita",
                                     "Ελληνικό",  "Москва",
                                     "çok güzel", "Zürich",
                                     "São Paulo", "Kraków",
                                     "✨",         "🌿",
                                     "💙",         "🧵 handmade",
                                     "한국어",    "精选面料",
                                     "Ça va"};
static const char *const features[] = {
    "Relaxed fit through the chest and waist",
    "Two side pockets &amp; one hidden inner pocket",
    "Machine wash cold, tumble dry low",
    "Made from 100% organic cotton",
    "Model is 5&#8217;10&quot; and wears a size M",
    "Reinforced seams for everyday wear",
    "Soft brushed interior",
    "Imported",
    "Breathable&nbsp;&amp;&nbsp;lightweight",
    "Ships in plastic-free packaging",
    "Recycled polyester lining",
    "Ribbed cuffs &amp; hem",
    "Don&#x2019;t bleach",
    "YKK&reg; zip closure",
};
static const char *const headings[] = {"Features",
                                       "Details",
                                       "Care &amp; Materials",
                                       "Size &amp; Fit",
                                       "Why you&#8217;ll love it",
                                       "Shipping &amp; Returns"};
static const char *const links[] = {"https://shop.example.com/pages/size-guide",
                                    "https://shop.example.com/pages/care?ref=pdp&amp;lang=en",
                                    "/collections/new-arrivals",
                                    "https://shop.example.com/blogs/news"};
static const char *const scripts[] = {
    "<script type=\"text/javascript\">\nwindow.dataLayer = window.dataLayer || [];\n"
    "if (a < b && b > 0) { dataLayer.push({'event': 'pdp_view'}); }\n</script>\n",
    "<style type=\"text/css\">\n.pdp-table td { padding: 4px; border: 1px solid #ccc; }\n"
    "p > strong { color: #222; }\n</style>\n",
    "<SCRIPT>var sizes = \"<li>XS</li><li>S</li>\";</SCRIPT>"};

/* ---- one item ---- */

typedef struct field {
	const char *name;
	char *val;
	size_t len, cap;
} field;

enum {
	F_ID,
	F_ITEM_GROUP_ID,
	F_TITLE,
	F_DESCRIPTION,
	F_LINK,
	F_IMAGE_LINK,
	F_ADDITIONAL_IMAGE_LINK, /* two URLs: repeated in XML, joined with "," in CSV */
	F_PRICE,
	F_SALE_PRICE,
	F_AVAILABILITY,
	F_CONDITION,
	F_BRAND,
	F_GTIN,
	F_MPN,
	F_GOOGLE_PRODUCT_CATEGORY,
	F_PRODUCT_TYPE,
	F_COLOR,
	F_SIZE,
	F_MATERIAL,
	F_GENDER,
	F_AGE_GROUP,
	F__COUNT
};

static field fields[F__COUNT] = {
    {"id", NULL, 0, 0},           {"item_group_id", NULL, 0, 0},
    {"title", NULL, 0, 0},        {"description", NULL, 0, 0},
    {"link", NULL, 0, 0},         {"image_link", NULL, 0, 0},
    {"additional_image_link", NULL, 0, 0},
    {"price", NULL, 0, 0},        {"sale_price", NULL, 0, 0},
    {"availability", NULL, 0, 0}, {"condition", NULL, 0, 0},
    {"brand", NULL, 0, 0},        {"gtin", NULL, 0, 0},
    {"mpn", NULL, 0, 0},          {"google_product_category", NULL, 0, 0},
    {"product_type", NULL, 0, 0}, {"color", NULL, 0, 0},
    {"size", NULL, 0, 0},         {"material", NULL, 0, 0},
    {"gender", NULL, 0, 0},       {"age_group", NULL, 0, 0}};

/* Additional images after the first (in fields[F_ADDITIONAL_IMAGE_LINK]):
 * XML repeats the element, CSV joins them with ",". */
#define MAX_IMAGES 10
static char more_images[MAX_IMAGES - 1][256];
static int n_more_images;
static int desc_cdata; /* XML: description as CDATA (else escaped text) */

static void
fset(int f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fset(int f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(fields[f].val, fields[f].cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= fields[f].cap)
		die("field %s too long", fields[f].name);
	fields[f].len = (size_t)n;
}

static void
fcat(int f, const char *s)
{
	size_t n = strlen(s);

	if (fields[f].len + n + 1 > fields[f].cap)
		die("field %s too long", fields[f].name);
	memcpy(fields[f].val + fields[f].len, s, n + 1);
	fields[f].len += n;
}

typedef struct params {
	uint64_t seed;
	double change_rate;
	unsigned size_factor;
	int variant_b;
	int realistic;
} params;

/* Appends one sentence of the realistic description: words, now and then
 * inline markup, an entity or a non-ASCII word. */
static void
r_sentence(rng *h, int intl_on, int markup)
{
	unsigned nw = 6 + pick(h, 12), w;
	int styled = markup ? (int)pick(h, 6) : -1; /* which inline touch, if any */

	for (w = 0; w < nw; w++) {
		const char *word = words[pick(h, N_OF(words))];
		char cap[64];

		if (w > 0)
			fcat(F_DESCRIPTION, markup && pick(h, 40) == 0 ? "&nbsp;" : " ");
		if (w == 0) {
			snprintf(cap, sizeof(cap), "%s", word);
			if (cap[0] >= 'a' && cap[0] <= 'z')
				cap[0] = (char)(cap[0] - 32);
			word = cap;
		}
		if (w == 2 && styled == 0) {
			fcat(F_DESCRIPTION, "<strong>");
			fcat(F_DESCRIPTION, word);
			fcat(F_DESCRIPTION, "</strong>");
		} else if (w == 3 && styled == 1) {
			fcat(F_DESCRIPTION, "<em>");
			fcat(F_DESCRIPTION, word);
			fcat(F_DESCRIPTION, "</em>");
		} else if (w == 2 && styled == 2) {
			fcat(F_DESCRIPTION, "<a href=\"");
			fcat(F_DESCRIPTION, links[pick(h, N_OF(links))]);
			fcat(F_DESCRIPTION, "\" target=\"_blank\">");
			fcat(F_DESCRIPTION, word);
			fcat(F_DESCRIPTION, "</a>");
		} else if (w == 1 && styled == 3) {
			fcat(F_DESCRIPTION, "&quot;");
			fcat(F_DESCRIPTION, word);
			fcat(F_DESCRIPTION, "&quot;");
		} else if (w == 1 && styled == 4) {
			fcat(F_DESCRIPTION, word);
			fcat(F_DESCRIPTION, " &amp;");
		} else {
			fcat(F_DESCRIPTION, word);
		}
		if (w == 2 && pick(h, 25) == 0)
			fcat(F_DESCRIPTION, markup ? "&#8217;s" : "'s");
		if (w == 4 && intl_on && pick(h, 2) == 0) {
			fcat(F_DESCRIPTION, " ");
			fcat(F_DESCRIPTION, intl_r[pick(h, N_OF(intl_r))]);
		}
	}
	if (markup && pick(h, 60) == 0)
		fcat(F_DESCRIPTION, " (use &lt;b&gt; for bold)"); /* escaped markup: text */
	fcat(F_DESCRIPTION, pick(h, 12) == 0 ? "!" : ".");
}

/* A paragraph of sentences, closed by `close`. */
static void
r_para(rng *h, int intl_on, const char *open, const char *close)
{
	unsigned n = 1 + pick(h, 4), i;

	fcat(F_DESCRIPTION, open);
	for (i = 0; i < n; i++) {
		if (i)
			fcat(F_DESCRIPTION, " ");
		r_sentence(h, intl_on, 1);
	}
	fcat(F_DESCRIPTION, close);
}

static void
r_list(rng *h, const char *ul, const char *li, const char *nl)
{
	unsigned n = 3 + pick(h, 4), i;

	fcat(F_DESCRIPTION, ul);
	fcat(F_DESCRIPTION, nl);
	for (i = 0; i < n; i++) {
		fcat(F_DESCRIPTION, li);
		fcat(F_DESCRIPTION, features[pick(h, N_OF(features))]);
		fcat(F_DESCRIPTION, "</li>");
		fcat(F_DESCRIPTION, nl);
	}
	fcat(F_DESCRIPTION, "</ul>");
	fcat(F_DESCRIPTION, nl);
}

/*
 * The realistic title, description and additional images of item idx, from
 * a stream of their own (see the top of the file).
 */
static void
make_realistic(const params *pp, uint64_t idx, const char *brand, const char *adj, const char *noun,
               const char *color, const char *material, const char *size)
{
	rng h = {
	    mix64(pp->seed ^ UINT64_C(0x7265616C69737469) ^ (idx * UINT64_C(0xD6E8FEB86659FD93)))};
	uint64_t group = idx / 4;
	int intl_on = pick(&h, 5) == 0; /* 20% */
	unsigned style = pick(&h, 100);
	int script = pick(&h, 50) == 0; /* 2% */
	/* log-uniform 200 B .. 5 KB of source */
	double u = (double)(next(&h) >> 11) / 9007199254740992.0;
	size_t target = (size_t)(200.0 * exp(u * log(25.0)));
	unsigned nimg = pick(&h, 11), i;

	desc_cdata = pick(&h, 10) < 7;

	fset(F_TITLE, "%s%s %s %s", pick(&h, 20) == 0 ? "Women&#8217;s " : "", brand, adj, noun);
	if (intl_on) {
		fcat(F_TITLE, " ");
		fcat(F_TITLE, intl_r[pick(&h, N_OF(intl_r))]);
	}
	fcat(F_TITLE, " - ");
	fcat(F_TITLE, color);
	fcat(F_TITLE, " / ");
	fcat(F_TITLE, size);

	fields[F_DESCRIPTION].len = 0;
	fields[F_DESCRIPTION].val[0] = '\0';
	if (style < 40) { /* Shopify's Body (HTML) */
		if (pick(&h, 4) == 0)
			fcat(F_DESCRIPTION, "<meta charset=\"utf-8\">");
		fcat(F_DESCRIPTION, "<p><span>");
		r_sentence(&h, intl_on, 1);
		fcat(F_DESCRIPTION, "</span></p>\n");
		while (fields[F_DESCRIPTION].len < target) {
			unsigned b = pick(&h, 10);

			if (script && pick(&h, 3) == 0) {
				fcat(F_DESCRIPTION, scripts[pick(&h, N_OF(scripts))]);
				script = 0;
			}
			if (b < 5) {
				r_para(&h, intl_on, "<p>", "</p>\n");
			} else if (b < 7) {
				fcat(F_DESCRIPTION, "<h2>");
				fcat(F_DESCRIPTION, headings[pick(&h, N_OF(headings))]);
				fcat(F_DESCRIPTION, "</h2>\n");
				r_list(&h, "<ul>", "<li>", "\n");
			} else if (b < 8) {
				r_para(&h, intl_on, "<p><strong>Care:</strong> ", "</p>\n");
			} else if (b < 9) {
				fcat(F_DESCRIPTION, "<!-- split -->\n");
			} else {
				r_para(&h, intl_on, "<p>", "<br>\n");
				r_sentence(&h, intl_on, 1);
				fcat(F_DESCRIPTION, "</p>\n");
			}
		}
	} else if (style < 65) { /* WooCommerce */
		while (fields[F_DESCRIPTION].len < target) {
			unsigned b = pick(&h, 10);

			if (script && pick(&h, 3) == 0) {
				fcat(F_DESCRIPTION, scripts[pick(&h, N_OF(scripts))]);
				script = 0;
			}
			if (b < 6) {
				r_para(&h, intl_on, "", "<br />\n");
				if (pick(&h, 3) == 0)
					fcat(F_DESCRIPTION, "&nbsp;\n");
			} else if (b < 8) {
				r_list(&h, "<ul class=\"features\">", "\t<li>", "\r\n");
			} else {
				fcat(F_DESCRIPTION, "<h3><em>");
				fcat(F_DESCRIPTION, headings[pick(&h, N_OF(headings))]);
				fcat(F_DESCRIPTION, "</em></h3>\n");
			}
		}
	} else if (style < 85) { /* Magento */
		fcat(F_DESCRIPTION,
		     "<div class=\"product attribute description\"><div class=\"value\">");
		while (fields[F_DESCRIPTION].len < target) {
			unsigned b = pick(&h, 10);

			if (script && pick(&h, 3) == 0) {
				fcat(F_DESCRIPTION, scripts[pick(&h, N_OF(scripts))]);
				script = 0;
			}
			if (b < 6)
				r_para(&h, intl_on, "<p><span style=\"font-weight: 400;\">",
				       "</span></p>");
			else if (b < 9)
				r_list(&h, "<ul>", "<li data-mce-style='color: #333;'>", "");
			else
				fcat(F_DESCRIPTION, "<table><tr><td>Material</td><td>Cotton &amp; "
				                    "linen</td></tr></table>");
		}
		fcat(F_DESCRIPTION, "</div></div>");
	} else if (style < 95) { /* sentences with inline markup and entities, no blocks */
		while (fields[F_DESCRIPTION].len < target) {
			r_sentence(&h, intl_on, 1);
			fcat(F_DESCRIPTION, pick(&h, 5) == 0 ? "\n" : " ");
		}
	} else { /* plain text, line breaks kept */
		while (fields[F_DESCRIPTION].len < target) {
			r_sentence(&h, intl_on, 0);
			fcat(F_DESCRIPTION, pick(&h, 5) == 0 ? "\n" : " ");
		}
	}
	if (script) /* not placed yet: at the end */
		fcat(F_DESCRIPTION, scripts[pick(&h, N_OF(scripts))]);

	n_more_images = nimg > 1 ? (int)nimg - 1 : 0;
	if (nimg == 0)
		fields[F_ADDITIONAL_IMAGE_LINK].len = 0;
	else
		fset(F_ADDITIONAL_IMAGE_LINK,
		     "https://cdn.shopify.com/s/files/1/0123/4567/products/%07" PRIu64
		     "-1.jpg?v=1690000000",
		     group);
	for (i = 1; i < nimg; i++)
		snprintf(more_images[i - 1], sizeof(more_images[0]),
		         "https://cdn.shopify.com/s/files/1/0123/4567/products/%07" PRIu64
		         "-%u.jpg?v=16%08u",
		         group, i + 1, (unsigned)(pick(&h, 100000000)));
}

/* Builds item `idx` (a serial number: feed position for A, or N + k for an
 * added item) into fields[]. change: 0 none, 1 price, 2 title. */
static void
make_item(const params *pp, uint64_t idx, int change)
{
	rng r = {mix64(pp->seed ^ (idx * UINT64_C(0x2545F4914F6CDD1D)))};
	uint64_t group = idx / 4;
	rng g = {mix64(pp->seed ^ 0x5bd1e995u ^ (group * UINT64_C(0x9E3779B97F4A7C15)))};
	const char *brand = brands[pick(&g, N_OF(brands))];
	const char *adj = adjs[pick(&g, N_OF(adjs))];
	const char *noun = nouns[pick(&g, N_OF(nouns))];
	const char *material = materials[pick(&g, N_OF(materials))];
	unsigned cat = pick(&g, N_OF(categories));
	const char *gender = genders[pick(&g, N_OF(genders))];
	unsigned base_cents = 999 + pick(&g, 20000);
	const char *color = colors[(group + idx % 4) % N_OF(colors)];
	const char *size = sizes[idx % 4 + pick(&g, 3)];
	int intl_item = pick(&r, 20) == 0; /* 5% */
	unsigned price = base_cents + (unsigned)(idx % 4) * 200;
	size_t desc_target = 900 + (size_t)(pp->size_factor - 1) * 2050 + pick(&r, 120) - 60;
	int newline_at = pick(&r, 10) == 0 ? 3 : -1;
	int quote_at = pick(&r, 10) == 0 ? 2 : -1;
	unsigned avail = pick(&r, 100);
	int sentence = 0;

	fset(F_ID, "SKU%08" PRIu64, idx);
	fset(F_ITEM_GROUP_ID, "GRP%07" PRIu64, group);
	fset(F_TITLE, "%s %s %s%s%s in %s, %s, size %s", brand, adj, noun, intl_item ? " " : "",
	     intl_item ? intl[pick(&r, N_OF(intl))] : "", color, material, size);
	/* Pad the title to about 80 characters with a collection name. */
	fcat(F_TITLE, " -");
	while (fields[F_TITLE].len < 76) {
		fcat(F_TITLE, " ");
		fcat(F_TITLE, words[pick(&r, N_OF(words))]);
	}
	if (change == 2)
		fcat(F_TITLE, " (new season)");

	/* Description: sentences of words up to the target length. */
	fields[F_DESCRIPTION].len = 0;
	fields[F_DESCRIPTION].val[0] = '\0';
	fset(F_DESCRIPTION, "The %s %s by %s, in %s %s.", adj, noun, brand, color, material);
	while (fields[F_DESCRIPTION].len < desc_target) {
		unsigned nw = 8 + pick(&r, 10), w;

		fcat(F_DESCRIPTION, sentence == newline_at ? "\n" : " ");
		for (w = 0; w < nw; w++) {
			const char *word = words[pick(&r, N_OF(words))];
			char cap[64];

			if (w == 0) {
				snprintf(cap, sizeof(cap), "%s", word);
				if (cap[0] >= 'a' && cap[0] <= 'z')
					cap[0] = (char)(cap[0] - 32);
				fcat(F_DESCRIPTION, cap);
			} else {
				fcat(F_DESCRIPTION, " ");
				if (sentence == quote_at && w == 2) {
					fcat(F_DESCRIPTION, "\"");
					fcat(F_DESCRIPTION, word);
					fcat(F_DESCRIPTION, "\"");
				} else {
					fcat(F_DESCRIPTION, word);
				}
			}
			if (w == 3 && sentence == 1)
				fcat(F_DESCRIPTION, " & more,");
			if (w == 4 && intl_item && sentence == 0) {
				fcat(F_DESCRIPTION, " ");
				fcat(F_DESCRIPTION, intl[pick(&r, N_OF(intl))]);
			}
		}
		fcat(F_DESCRIPTION, ".");
		sentence++;
	}

	fset(F_LINK, "https://shop.example.com/products/%s-%s-%07" PRIu64 "?variant=%" PRIu64,
	     "item", size, group, idx);
	fset(F_IMAGE_LINK, "https://cdn.shop.example.com/images/%07" PRIu64 "/main-%u.jpg", group,
	     (unsigned)(idx % 4));
	n_more_images = 1;
	snprintf(more_images[0], sizeof(more_images[0]),
	         "https://cdn.shop.example.com/images/%07" PRIu64 "/detail-2.jpg", group);
	fset(F_ADDITIONAL_IMAGE_LINK, "https://cdn.shop.example.com/images/%07" PRIu64 "/detail-1.jpg",
	     group);
	if (change == 1)
		price += 100 + pick(&r, 900);
	fset(F_PRICE, "%u.%02u USD", price / 100, price % 100);
	if (pick(&r, 5) == 0)
		fset(F_SALE_PRICE, "%u.%02u USD", price * 8 / 1000, price * 8 / 10 % 100);
	else
		fields[F_SALE_PRICE].len = 0;
	fset(F_AVAILABILITY, "%s", avail < 90 ? "in stock" : avail < 98 ? "out of stock" : "preorder");
	fset(F_CONDITION, "new");
	fset(F_BRAND, "%s", brand);
	fset(F_GTIN, "0%012" PRIu64, (idx * 7919 + 1234567) % UINT64_C(1000000000000));
	fset(F_MPN, "MPN-%" PRIu64 "-%u", group, (unsigned)(idx % 4));
	fset(F_GOOGLE_PRODUCT_CATEGORY, "%s", categories[cat]);
	fset(F_PRODUCT_TYPE, "%s", types[cat]);
	fset(F_COLOR, "%s", color);
	fset(F_SIZE, "%s", size);
	fset(F_MATERIAL, "%s", material);
	fset(F_GENDER, "%s", gender);
	fset(F_AGE_GROUP, "adult");
	desc_cdata = 1;
	if (pp->realistic) {
		make_realistic(pp, idx, brand, adj, noun, color, material, size);
		if (change == 2)
			fcat(F_TITLE, " (new season)");
	}
}

/* ---- formats ---- */

static void
put_xml_text(const char *s, size_t n)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		const char *rep = NULL;

		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		default: continue;
		}
		put(s + start, i - start);
		puts_(rep);
		start = i + 1;
	}
	put(s + start, n - start);
}

static void
xml_field(const char *name, const char *v, size_t n, int cdata)
{
	puts_("    <g:");
	puts_(name);
	put(">", 1);
	if (cdata) {
		puts_("<![CDATA[");
		put(v, n);
		puts_("]]>");
	} else {
		put_xml_text(v, n);
	}
	puts_("</g:");
	puts_(name);
	puts_(">\n");
}

static void
xml_head(void)
{
	puts_("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\">\n"
	      "  <channel>\n"
	      "    <title>Benchmark Shop</title>\n"
	      "    <link>https://shop.example.com/</link>\n"
	      "    <description>pinsync benchmark feed</description>\n");
}

static void
xml_item(void)
{
	int f;

	puts_("  <item>\n");
	for (f = 0; f < F__COUNT; f++) {
		if (fields[f].len == 0)
			continue;
		xml_field(fields[f].name, fields[f].val, fields[f].len,
		          (f == F_DESCRIPTION && desc_cdata) ||
		              (f == F_TITLE && fields[F_ID].val[10] % 2));
		if (f == F_ADDITIONAL_IMAGE_LINK) {
			int i;

			for (i = 0; i < n_more_images; i++)
				xml_field(fields[f].name, more_images[i], strlen(more_images[i]),
				          0);
		}
	}
	puts_("  </item>\n");
}

static void
xml_tail(void)
{
	puts_("  </channel>\n</rss>\n");
}

static void
csv_value(const char *s, size_t n)
{
	const char *q;

	put("\"", 1);
	while ((q = memchr(s, '"', n)) != NULL) {
		put(s, (size_t)(q - s) + 1);
		put("\"", 1);
		n -= (size_t)(q - s) + 1;
		s = q + 1;
	}
	put(s, n);
	put("\"", 1);
}

static void
csv_head(void)
{
	int f;

	for (f = 0; f < F__COUNT; f++) {
		if (f)
			put(",", 1);
		puts_(fields[f].name);
	}
	puts_("\r\n");
}

static void
csv_item(void)
{
	int f;

	for (f = 0; f < F__COUNT; f++) {
		if (f)
			put(",", 1);
		if (f == F_ADDITIONAL_IMAGE_LINK && fields[f].len) {
			char all[MAX_IMAGES * 256];
			size_t n = 0;
			int i;

			n += (size_t)snprintf(all, sizeof(all), "%s", fields[f].val);
			for (i = 0; i < n_more_images; i++)
				n += (size_t)snprintf(all + n, sizeof(all) - n, ",%s",
				                      more_images[i]);
			csv_value(all, n);
		} else if (fields[f].len) {
			csv_value(fields[f].val, fields[f].len);
		}
	}
	puts_("\r\n");
}

/* ---- main ---- */

static void
usage(void)
{
	fputs("usage: genfeed --items N --format xml|csv [--kind plain|realistic]\n"
	      "               [--variant a|b] [--seed S] [--change-rate R] [--size-factor F]\n"
	      "               [--gzip [--level L]] [--manifest FILE] -o FILE\n",
	      stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	params pp = {42, 0.01, 1, 0, 0};
	uint64_t items = 0, i, updated = 0, removed = 0, added = 0, written = 0;
	const char *format = "xml", *path = NULL, *manifest = NULL;
	int gzip = 0, level = 6, xml, a;
	uint64_t t_upd, t_rem, t_add;

	for (a = 1; a < argc; a++) {
		const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(o, "--gzip") == 0) {
			gzip = 1;
			continue;
		}
		if (v == NULL)
			usage();
		a++;
		if (strcmp(o, "--items") == 0)
			items = strtoull(v, NULL, 10);
		else if (strcmp(o, "--format") == 0)
			format = v;
		else if (strcmp(o, "--kind") == 0 && strcmp(v, "plain") == 0)
			pp.realistic = 0;
		else if (strcmp(o, "--kind") == 0 && strcmp(v, "realistic") == 0)
			pp.realistic = 1;
		else if (strcmp(o, "--variant") == 0)
			pp.variant_b = v[0] == 'b' || v[0] == 'B';
		else if (strcmp(o, "--seed") == 0)
			pp.seed = strtoull(v, NULL, 10);
		else if (strcmp(o, "--change-rate") == 0)
			pp.change_rate = strtod(v, NULL);
		else if (strcmp(o, "--size-factor") == 0)
			pp.size_factor = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--level") == 0)
			level = (int)strtol(v, NULL, 10);
		else if (strcmp(o, "--manifest") == 0)
			manifest = v;
		else if (strcmp(o, "-o") == 0)
			path = v;
		else
			usage();
	}
	if (items == 0 || path == NULL || pp.size_factor < 1 || pp.size_factor > 4 ||
	    pp.change_rate < 0 || pp.change_rate > 1 || (pp.realistic && pp.size_factor != 1))
		usage(); /* realistic descriptions reach 5 KB: 4x would pass Pinterest's 10 000 */
	xml = strcmp(format, "xml") == 0;
	if (!xml && strcmp(format, "csv") != 0)
		usage();

	for (a = 0; a < F__COUNT; a++) {
		fields[a].cap = a == F_DESCRIPTION ? 65536 : 1024;
		if ((fields[a].val = malloc(fields[a].cap)) == NULL)
			die("out of memory");
		fields[a].val[0] = '\0';
	}
	if ((out.f = fopen(path, "wb")) == NULL)
		die("%s: %s", path, strerror(errno));
	if (gzip) {
		out.gzip = 1;
		if ((out.zbuf = malloc(OUT_CAP)) == NULL)
			die("out of memory");
		/* 15 + 16: a gzip header and trailer, as `gzip` writes. */
		if (deflateInit2(&out.z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			die("deflateInit2 failed");
	}

	/* Which items change: a per-item draw in [0, 1e6), thresholds for
	 * updated / removed / added-after. */
	t_upd = (uint64_t)(pp.change_rate * 0.8 * 1e6 + 0.5);
	t_rem = t_upd + (uint64_t)(pp.change_rate * 0.1 * 1e6 + 0.5);
	t_add = t_rem + (uint64_t)(pp.change_rate * 0.1 * 1e6 + 0.5);

	if (xml)
		xml_head();
	else
		csv_head();
	for (i = 0; i < items; i++) {
		uint64_t draw = mix64(pp.seed * 31 + i + UINT64_C(0xC0FFEE)) % 1000000;
		int change = 0;

		if (pp.variant_b && draw < t_upd) {
			change = draw % 3 == 0 ? 2 : 1;
			updated++;
		} else if (pp.variant_b && draw < t_rem) {
			removed++;
			continue;
		}
		make_item(&pp, i, change);
		if (xml)
			xml_item();
		else
			csv_item();
		written++;
		if (pp.variant_b && draw >= t_rem && draw < t_add) {
			make_item(&pp, items + added, 0);
			if (xml)
				xml_item();
			else
				csv_item();
			added++;
			written++;
		}
	}
	if (xml)
		xml_tail();
	out_drain(Z_FINISH);
	if (gzip)
		deflateEnd(&out.z);
	if (fclose(out.f) != 0)
		die("%s: %s", path, strerror(errno));
	if (manifest) {
		FILE *m = fopen(manifest, "w");

		if (m == NULL)
			die("%s: %s", manifest, strerror(errno));
		fprintf(m,
		        "{\"kind\": \"%s\", \"items\": %" PRIu64 ", \"base_items\": %" PRIu64
		        ", \"updated\": %" PRIu64 ", \"removed\": %" PRIu64 ", \"added\": %" PRIu64
		        ", \"bytes\": %" PRIu64 "}\n",
		        pp.realistic ? "realistic" : "plain", written, items, updated, removed,
		        added, out.total);
		fclose(m);
	}
	return 0;
}
