/*
 * presets.c: store product exports whose columns need more than renaming.
 *
 *   shopify      Shopify's product CSV export. Rows sharing a Handle are one
 *                product: the first row carries the product's fields, the
 *                variant rows their options, SKU, price and stock, and rows
 *                with only an Image Src add images. Each variant is an item
 *                (id: Variant SKU, else Handle-option-values); continuation
 *                rows inherit title, description, brand and images; an
 *                image-only row makes no item; draft, archived and
 *                unpublished products make none either. Variants share
 *                item_group_id = Handle. link: BASE/products/HANDLE.
 *   woocommerce  WooCommerce's product CSV export. Simple and external
 *                products are items; a variable product's row makes none but
 *                its variations inherit its description, images and link
 *                (item_group_id: the parent's SKU); grouped products and
 *                unpublished rows make none. link: BASE/?p=ID (WordPress
 *                redirects it to the product's page).
 *   magento2     Magento 2's catalog export. The simple products "Not Visible
 *                Individually" that precede a configurable product and that
 *                its configurable_variations name are its variants
 *                (item_group_id: its sku, title, link and, when theirs are
 *                empty, description and images from it); the configurable row
 *                makes no item; other invisible products none either; store
 *                view rows (store_view_code set) and disabled products none.
 *                link: BASE/URL_KEY.html; images: BASE/media/catalog/product/
 *                PATH.
 *
 * Prices get the target's currency (ps_feed_options.default_currency),
 * descriptions are HTML turned to text by the normaliser. Rows kept for a
 * group (a Shopify product, Magento variants waiting for their parent,
 * WooCommerce variable products) are bounded by PRESET_MAX_KEPT bytes: a
 * feed over it fails with a clear error.
 */
#include "feeds_int.h"

#include <stdio.h>
#include <strings.h>

#define PRESET_MAX_KEPT ((size_t)64 << 20)

/* ------------------------------------------------------------------ */
/* Kept rows                                                           */

typedef struct rowstore {
	ps_fbuf text;
	uint32_t *off, *len; /* nrows * nslots */
	uint64_t *line;
	size_t nrows, caprows, nslots;
} rowstore;

static void
rs_init(rowstore *rs, size_t nslots)
{
	memset(rs, 0, sizeof(*rs));
	fbuf_init(&rs->text, PRESET_MAX_KEPT);
	rs->nslots = nslots;
}

static void
rs_clear(rowstore *rs)
{
	rs->text.len = 0;
	rs->nrows = 0;
}

static void
rs_free(rowstore *rs)
{
	fbuf_free(&rs->text);
	free(rs->off);
	free(rs->len);
	free(rs->line);
	memset(rs, 0, sizeof(*rs));
}

static int
rs_add(ps_feed *f, rowstore *rs, const ps_row *row)
{
	size_t s, base;
	int rc;

	if (rs->nrows == rs->caprows) {
		size_t nc = rs->caprows ? rs->caprows * 2 : 16;
		size_t cells = nc * (rs->nslots ? rs->nslots : 1);
		uint32_t *off = realloc(rs->off, cells * sizeof(*off));
		uint32_t *len;
		uint64_t *line;

		if (off == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
		rs->off = off;
		len = realloc(rs->len, cells * sizeof(*len));
		if (len == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
		rs->len = len;
		line = realloc(rs->line, nc * sizeof(*line));
		if (line == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
		rs->line = line;
		rs->caprows = nc;
	}
	base = rs->nrows * rs->nslots;
	for (s = 0; s < rs->nslots; s++) {
		rs->len[base + s] = row->len[s];
		rs->off[base + s] = (uint32_t)rs->text.len;
		if (row->len[s] == PS_ROW_ABSENT || row->len[s] == 0)
			continue;
		if ((rc = fbuf_put(&rs->text, row->text + row->off[s], row->len[s])) != 0)
			return ps_feed__fail(
			    f, rc, "%s:%llu: rows kept for one product over %zu MiB", f->name,
			    (unsigned long long)row->line, PRESET_MAX_KEPT >> 20);
	}
	rs->line[rs->nrows++] = row->line;
	return 0;
}

static ps_row
rs_get(const rowstore *rs, size_t i)
{
	ps_row r;

	r.text = rs->text.ptr ? rs->text.ptr : "";
	r.off = rs->off + i * rs->nslots;
	r.len = rs->len + i * rs->nslots;
	r.line = rs->line[i];
	return r;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

typedef struct val {
	const char *p;
	size_t n;
} val;

/* Value of preset column c in row (trimmed); n == 0 when empty or absent. */
static val
col(const ps_map *m, const ps_row *row, int c)
{
	val v = {"", 0};
	int idx = m->pcol[c], s;

	if (row == NULL || idx < 0 || (s = m->name_slot[idx]) < 0 || row->len[s] == PS_ROW_ABSENT)
		return v;
	v.p = row->text + row->off[s];
	v.n = row->len[s];
	while (v.n > 0 && ps_is_space((unsigned char)*v.p)) {
		v.p++;
		v.n--;
	}
	while (v.n > 0 && ps_is_space((unsigned char)v.p[v.n - 1]))
		v.n--;
	return v;
}

static int
veq(val v, const char *s)
{
	return v.n == strlen(s) && strncasecmp(v.p, s, v.n) == 0;
}

static int
vsame(val a, val b)
{
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static int
vhas(val v, const char *s)
{
	size_t k = strlen(s), i;

	for (i = 0; i + k <= v.n; i++) {
		if (strncasecmp(v.p + i, s, k) == 0)
			return 1;
	}
	return 0;
}

/* Decimal value of v (',' as a decimal point too); 0 when not a number. */
static int
vnum(val v, double *out)
{
	char buf[64];
	char *end;
	size_t i;

	if (v.n == 0 || v.n >= sizeof(buf))
		return 0;
	for (i = 0; i < v.n; i++)
		buf[i] = v.p[i] == ',' ? '.' : v.p[i];
	buf[v.n] = '\0';
	*out = strtod(buf, &end);
	return end != buf && *end == '\0';
}

static int
set(ps_feed *f, int a, val v)
{
	if (v.n == 0)
		return 0;
	return ps_feed__item_text(f, a, v.p, v.n, 0);
}

static int
set_str(ps_feed *f, int a, const char *s)
{
	return ps_feed__item_text(f, a, s, strlen(s), 1);
}

/* Appends a lowercase ASCII slug of v to b: "Red / XL" -> "red-xl". */
static int
put_slug(ps_fbuf *b, val v)
{
	size_t i;
	int dash = b->len > 0 && b->ptr[b->len - 1] != '-', rc;

	for (i = 0; i < v.n; i++) {
		unsigned char c = ps_lower((unsigned char)v.p[i]);

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
			if (dash && (rc = fbuf_putc(b, '-')) != 0)
				return rc;
			dash = 0;
			if ((rc = fbuf_putc(b, (char)c)) != 0)
				return rc;
		} else {
			dash = 1;
		}
	}
	return 0;
}

/* base_url without its trailing slashes; NULL when unset. */
static val
base_of(const ps_feed *f)
{
	val v = {NULL, 0};

	if (f->opts.base_url == NULL)
		return v;
	v.p = f->opts.base_url;
	v.n = strlen(v.p);
	while (v.n > 0 && v.p[v.n - 1] == '/')
		v.n--;
	return v;
}

/* b = BASE + mid + v + tail; 0, or -1 without a base URL (or v empty). */
static int
url_of(ps_feed *f, ps_fbuf *b, const char *mid, val v, const char *tail)
{
	val base = base_of(f);

	b->len = 0;
	if (base.p == NULL || v.n == 0)
		return -1;
	if (fbuf_put(b, base.p, base.n) != 0 || fbuf_put(b, mid, strlen(mid)) != 0 ||
	    fbuf_put(b, v.p, v.n) != 0 || fbuf_put(b, tail, strlen(tail)) != 0)
		return -1;
	return 0;
}

static int
set_buf(ps_feed *f, int a, const ps_fbuf *b)
{
	if (b->len == 0)
		return 0;
	return ps_feed__item_text(f, a, b->ptr, b->len, 1);
}

/* An option or attribute name to the attribute it fills, or -1. */
static int
option_attr(val name)
{
	static const struct {
		const char *name;
		int attr;
	} names[] = {
	    {"color", PS_ATTR_COLOR},       {"colour", PS_ATTR_COLOR},    {"kleur", PS_ATTR_COLOR},
	    {"farbe", PS_ATTR_COLOR},       {"couleur", PS_ATTR_COLOR},   {"size", PS_ATTR_SIZE},
	    {"maat", PS_ATTR_SIZE},         {"taille", PS_ATTR_SIZE},     {"talla", PS_ATTR_SIZE},
	    {"material", PS_ATTR_MATERIAL}, {"pattern", PS_ATTR_PATTERN},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (veq(name, names[i].name))
			return names[i].attr;
	}
	return -1;
}

/* Resolves preset column names against m->names. */
static int
need_columns(ps_feed *f, ps_map *m, const ps_preset *p)
{
	size_t n = 0, i;

	while (p->columns[n] != NULL)
		n++;
	m->pcol = malloc(n * sizeof(*m->pcol));
	if (m->pcol == NULL)
		return ps_feed__fail(f, PS_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		m->pcol[i] = ps_feed__map_need(m, p->columns[i], strlen(p->columns[i]));
		if (m->pcol[i] < 0)
			return ps_feed__fail(f, PS_ENOMEM, "out of memory");
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Shopify                                                             */

enum {
	SH_HANDLE,
	SH_TITLE,
	SH_BODY,
	SH_VENDOR,
	SH_PRODUCT_CATEGORY,
	SH_TYPE,
	SH_PUBLISHED,
	SH_OPT1_NAME,
	SH_OPT1_VALUE,
	SH_OPT2_NAME,
	SH_OPT2_VALUE,
	SH_OPT3_NAME,
	SH_OPT3_VALUE,
	SH_SKU,
	SH_TRACKER,
	SH_QTY,
	SH_POLICY,
	SH_PRICE,
	SH_COMPARE,
	SH_BARCODE,
	SH_IMAGE_SRC,
	SH_VARIANT_IMAGE,
	SH_STATUS,
	SH_SEO_DESCRIPTION,
	SH_G_CATEGORY,
	SH_G_GENDER,
	SH_G_AGE,
	SH_G_MPN,
	SH_G_CONDITION,
	SH_G_LABEL0,
	SH_G_LABEL1,
	SH_G_LABEL2,
	SH_G_LABEL3,
	SH_G_LABEL4,
};

static const char *const shopify_columns[] = {
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Barcode",
    "Image Src",
    "Variant Image",
    "Status",
    "SEO Description",
    "Google Shopping / Google Product Category",
    "Google Shopping / Gender",
    "Google Shopping / Age Group",
    "Google Shopping / MPN",
    "Google Shopping / Condition",
    "Google Shopping / Custom Label 0",
    "Google Shopping / Custom Label 1",
    "Google Shopping / Custom Label 2",
    "Google Shopping / Custom Label 3",
    "Google Shopping / Custom Label 4",
    NULL,
};

typedef struct shopify_state {
	rowstore group; /* the rows of the current Handle */
	ps_fbuf buf;
	ps_fbuf images;
} shopify_state;

static int
is_variant_row(const ps_map *m, const ps_row *r)
{
	return col(m, r, SH_PRICE).n > 0 || col(m, r, SH_OPT1_VALUE).n > 0 ||
	       col(m, r, SH_SKU).n > 0;
}

static int
shopify_item(ps_feed *f, ps_map *m, shopify_state *st, const ps_row *p, const ps_row *v, int multi,
             size_t nimages)
{
	val handle = col(m, p, SH_HANDLE), price = col(m, v, SH_PRICE),
	    compare = col(m, v, SH_COMPARE), vimg = col(m, v, SH_VARIANT_IMAGE), tracker, qty,
	    policy, t;
	double dp = 0, dc = 0, dq = 0;
	const char *img = NULL;
	size_t i, off, imglen = 0;
	int k, rc;

	ps_feed__item_begin(f, v->line);

	/* id */
	st->buf.len = 0;
	if ((t = col(m, v, SH_SKU)).n > 0) {
		rc = fbuf_put(&st->buf, t.p, t.n);
	} else {
		rc = fbuf_put(&st->buf, handle.p, handle.n);
		for (k = 0; k < 3 && rc == 0; k++) {
			val ov = col(m, v, SH_OPT1_VALUE + 2 * k);

			if (ov.n > 0 && !veq(ov, "Default Title"))
				rc = put_slug(&st->buf, ov);
		}
	}
	if (rc != 0)
		return ps_feed__fail(f, rc, "%s:%llu: id over the cap", f->name,
		                     (unsigned long long)v->line);
	if ((rc = set_buf(f, PS_ATTR_ID, &st->buf)) != 0)
		return rc;

	if ((rc = set(f, PS_ATTR_TITLE, col(m, p, SH_TITLE))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, p, SH_BODY))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, p, SH_SEO_DESCRIPTION))) != 0)
		return rc;
	if (url_of(f, &st->buf, "/products/", handle, "") == 0 &&
	    (rc = set_buf(f, PS_ATTR_LINK, &st->buf)) != 0)
		return rc;

	/* images: the variant's own, else the product's first; the others
	 * as additional images */
	if (vimg.n > 0) {
		img = vimg.p;
		imglen = vimg.n;
	} else if (nimages > 0) {
		img = st->images.ptr;
		imglen = strlen(img);
	}
	if (img != NULL && (rc = ps_feed__item_text(f, PS_ATTR_IMAGE_LINK, img, imglen, 1)) != 0)
		return rc;
	st->buf.len = 0;
	for (i = 0, off = 0; i < nimages; i++) {
		const char *u = st->images.ptr + off;
		size_t n = strlen(u);

		off += n + 1;
		if (img != NULL && n == imglen && memcmp(u, img, n) == 0)
			continue;
		if ((st->buf.len > 0 && fbuf_putc(&st->buf, PS_LIST_SEP) != 0) ||
		    fbuf_put(&st->buf, u, n) != 0)
			break;
	}
	if ((rc = set_buf(f, PS_ATTR_ADDITIONAL_IMAGE_LINK, &st->buf)) != 0)
		return rc;

	/* price: a compare-at price above the price makes the price a sale */
	if (vnum(price, &dp) && vnum(compare, &dc) && dc > dp) {
		if ((rc = set(f, PS_ATTR_PRICE, compare)) != 0 ||
		    (rc = set(f, PS_ATTR_SALE_PRICE, price)) != 0)
			return rc;
	} else if ((rc = set(f, PS_ATTR_PRICE, price)) != 0) {
		return rc;
	}

	/* availability: untracked, or sold when out of stock, is in stock */
	tracker = col(m, v, SH_TRACKER);
	qty = col(m, v, SH_QTY);
	policy = col(m, v, SH_POLICY);
	if (tracker.n == 0 || veq(policy, "continue") || (vnum(qty, &dq) && dq > 0))
		rc = set_str(f, PS_ATTR_AVAILABILITY, "in stock");
	else
		rc = set_str(f, PS_ATTR_AVAILABILITY, "out of stock");
	if (rc != 0)
		return rc;

	if ((rc = set(f, PS_ATTR_BRAND, col(m, p, SH_VENDOR))) != 0 ||
	    (rc = set(f, PS_ATTR_PRODUCT_TYPE, col(m, p, SH_TYPE))) != 0 ||
	    (rc = set(f, PS_ATTR_PRODUCT_TYPE, col(m, p, SH_PRODUCT_CATEGORY))) != 0 ||
	    (rc = set(f, PS_ATTR_GOOGLE_PRODUCT_CATEGORY, col(m, p, SH_G_CATEGORY))) != 0 ||
	    (rc = set(f, PS_ATTR_GTIN, col(m, v, SH_BARCODE))) != 0 ||
	    (rc = set(f, PS_ATTR_MPN, col(m, v, SH_G_MPN))) != 0 ||
	    (rc = set(f, PS_ATTR_MPN, col(m, p, SH_G_MPN))) != 0 ||
	    (rc = set(f, PS_ATTR_CONDITION, col(m, p, SH_G_CONDITION))) != 0 ||
	    (rc = set(f, PS_ATTR_GENDER, col(m, p, SH_G_GENDER))) != 0 ||
	    (rc = set(f, PS_ATTR_AGE_GROUP, col(m, p, SH_G_AGE))) != 0)
		return rc;
	for (k = 0; k < 5; k++) {
		if ((rc = set(f, PS_ATTR_CUSTOM_LABEL_0 + k, col(m, p, SH_G_LABEL0 + k))) != 0)
			return rc;
	}
	for (k = 0; k < 3; k++) {
		int a = option_attr(col(m, p, SH_OPT1_NAME + 2 * k));
		val ov = col(m, v, SH_OPT1_VALUE + 2 * k);

		if (a >= 0 && (rc = set(f, a, ov)) != 0)
			return rc;
	}
	if (multi && (rc = set(f, PS_ATTR_ITEM_GROUP_ID, handle)) != 0)
		return rc;
	if ((rc = ps_feed__map_apply(f, v)) != 0)
		return rc;
	return ps_feed__item_end(f);
}

static int
shopify_flush(ps_feed *f, ps_map *m)
{
	shopify_state *st = m->pstate;
	size_t i, nvar = 0, nimages = 0;
	ps_row p;
	val status, published;
	int rc = 0;

	if (st->group.nrows == 0)
		return 0;
	p = rs_get(&st->group, 0);
	for (i = 0; i < st->group.nrows; i++) {
		ps_row r = rs_get(&st->group, i);

		nvar += is_variant_row(m, &r);
	}
	status = col(m, &p, SH_STATUS);
	published = col(m, &p, SH_PUBLISHED);
	if ((status.n > 0 && !veq(status, "active")) || veq(published, "false")) {
		f->skipped += st->group.nrows; /* not for sale */
		goto done;
	}

	/* The product's images, in order, without repeats; NUL-separated. */
	st->images.len = 0;
	for (i = 0; i < st->group.nrows; i++) {
		ps_row r = rs_get(&st->group, i);
		val u = col(m, &r, SH_IMAGE_SRC);
		size_t k, off = 0;
		int dup = 0;

		if (u.n == 0)
			continue;
		for (k = 0; k < nimages && !dup; k++) {
			const char *s = st->images.ptr + off;

			dup = strlen(s) == u.n && memcmp(s, u.p, u.n) == 0;
			off += strlen(s) + 1;
		}
		if (dup)
			continue;
		if (fbuf_put(&st->images, u.p, u.n) != 0 || fbuf_putc(&st->images, '\0') != 0)
			break;
		nimages++;
	}

	for (i = 0; i < st->group.nrows; i++) {
		ps_row r = rs_get(&st->group, i);

		if (!is_variant_row(m, &r)) {
			f->skipped++; /* an image-only row */
			continue;
		}
		if ((rc = shopify_item(f, m, st, &p, &r, nvar > 1, nimages)) != 0)
			goto done;
	}
done:
	rs_clear(&st->group);
	return rc;
}

static int
shopify_row(ps_feed *f, ps_map *m, const ps_row *row)
{
	shopify_state *st = m->pstate;
	val h = col(m, row, SH_HANDLE);
	int rc;

	if (h.n == 0) {
		f->skipped++;
		return 0;
	}
	if (st->group.nrows > 0) {
		ps_row p = rs_get(&st->group, 0);

		if (!vsame(h, col(m, &p, SH_HANDLE)) && (rc = shopify_flush(f, m)) != 0)
			return rc;
	}
	return rs_add(f, &st->group, row);
}

static int
shopify_finish(ps_feed *f, ps_map *m)
{
	return shopify_flush(f, m);
}

static void
shopify_free(ps_map *m)
{
	shopify_state *st = m->pstate;

	if (st == NULL)
		return;
	rs_free(&st->group);
	fbuf_free(&st->buf);
	fbuf_free(&st->images);
	free(st);
	m->pstate = NULL;
}

/* ------------------------------------------------------------------ */
/* WooCommerce                                                         */

enum {
	WC_ID,
	WC_TYPE,
	WC_SKU,
	WC_NAME,
	WC_PUBLISHED,
	WC_SHORT,
	WC_DESCRIPTION,
	WC_IN_STOCK,
	WC_STOCK,
	WC_SALE,
	WC_REGULAR,
	WC_CATEGORIES,
	WC_IMAGES,
	WC_PARENT,
	WC_A1_NAME,
	WC_A1_VALUE,
	WC_A2_NAME,
	WC_A2_VALUE,
	WC_A3_NAME,
	WC_A3_VALUE,
	WC_BRANDS,
	WC_GTIN,
};

static const char *const woo_columns[] = {
    "ID",
    "Type",
    "SKU",
    "Name",
    "Published",
    "Short description",
    "Description",
    "In stock?",
    "Stock",
    "Sale price",
    "Regular price",
    "Categories",
    "Images",
    "Parent",
    "Attribute 1 name",
    "Attribute 1 value(s)",
    "Attribute 2 name",
    "Attribute 2 value(s)",
    "Attribute 3 name",
    "Attribute 3 value(s)",
    "Brands",
    "GTIN, UPC, EAN, or ISBN",
    NULL,
};

typedef struct woo_state {
	rowstore parents; /* variable products */
	size_t last;      /* parent found last (+1), a cache */
	ps_fbuf buf;
} woo_state;

/* Does kept parent row r match a variation's Parent ("SKU" or "id:ID")? */
static int
woo_is_parent(const ps_map *m, const ps_row *r, val ref)
{
	val sku = col(m, r, WC_SKU), id = col(m, r, WC_ID);

	if (sku.n > 0 && vsame(ref, sku))
		return 1;
	return id.n > 0 && ref.n == id.n + 3 && strncasecmp(ref.p, "id:", 3) == 0 &&
	       memcmp(ref.p + 3, id.p, id.n) == 0;
}

/* The variable product a variation's Parent names: the one found last
 * (variations usually follow each other), else the latest that matches. */
static int
woo_parent(const ps_map *m, woo_state *st, val ref, ps_row *out)
{
	size_t i;

	if (ref.n == 0)
		return 0;
	if (st->last > 0 && st->last <= st->parents.nrows) {
		*out = rs_get(&st->parents, st->last - 1);
		if (woo_is_parent(m, out, ref))
			return 1;
	}
	for (i = st->parents.nrows; i > 0; i--) {
		*out = rs_get(&st->parents, i - 1);
		if (woo_is_parent(m, out, ref)) {
			st->last = i;
			return 1;
		}
	}
	return 0;
}

/* First URL of a comma-separated list, and the rest. */
static void
split_first(val v, val *first, val *rest)
{
	size_t i;

	*first = v;
	rest->p = "";
	rest->n = 0;
	for (i = 0; i < v.n; i++) {
		if (v.p[i] == ',') {
			first->n = i;
			rest->p = v.p + i + 1;
			rest->n = v.n - i - 1;
			break;
		}
	}
	while (first->n > 0 && ps_is_space((unsigned char)first->p[first->n - 1]))
		first->n--;
}

static int
woo_row(ps_feed *f, ps_map *m, const ps_row *row)
{
	woo_state *st = m->pstate;
	val type = col(m, row, WC_TYPE), pub = col(m, row, WC_PUBLISHED), t, img, rest;
	val price = col(m, row, WC_REGULAR), sale = col(m, row, WC_SALE);
	ps_row parent;
	const ps_row *p = NULL;
	double dp = 0, ds = 0;
	int rc, k;

	if (pub.n > 0 && !veq(pub, "1")) {
		f->skipped++;
		return 0;
	}
	if (vhas(type, "variable")) {
		f->skipped++;
		return rs_add(f, &st->parents, row);
	}
	if (vhas(type, "grouped")) {
		f->skipped++;
		return 0;
	}
	if (vhas(type, "variation") && woo_parent(m, st, col(m, row, WC_PARENT), &parent))
		p = &parent;

	ps_feed__item_begin(f, row->line);
	t = col(m, row, WC_SKU);
	if ((rc = set(f, PS_ATTR_ID, t.n ? t : col(m, row, WC_ID))) != 0 ||
	    (rc = set(f, PS_ATTR_TITLE, col(m, row, WC_NAME))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, row, WC_DESCRIPTION))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, row, WC_SHORT))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, p, WC_DESCRIPTION))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, p, WC_SHORT))) != 0)
		return rc;
	if (url_of(f, &st->buf, "/?p=", col(m, p ? p : row, WC_ID), "") == 0 &&
	    (rc = set_buf(f, PS_ATTR_LINK, &st->buf)) != 0)
		return rc;
	t = col(m, row, WC_IMAGES);
	if (t.n == 0)
		t = col(m, p, WC_IMAGES);
	split_first(t, &img, &rest);
	if ((rc = set(f, PS_ATTR_IMAGE_LINK, img)) != 0 ||
	    (rc = set(f, PS_ATTR_ADDITIONAL_IMAGE_LINK, rest)) != 0)
		return rc;

	if (price.n == 0) {
		price = sale;
		sale.n = 0;
	}
	if ((rc = set(f, PS_ATTR_PRICE, price)) != 0)
		return rc;
	if (sale.n > 0 && (!vnum(price, &dp) || !vnum(sale, &ds) || ds < dp) &&
	    (rc = set(f, PS_ATTR_SALE_PRICE, sale)) != 0)
		return rc;

	t = col(m, row, WC_IN_STOCK);
	if (veq(t, "backorder"))
		rc = set_str(f, PS_ATTR_AVAILABILITY, "preorder");
	else if (veq(t, "0"))
		rc = set_str(f, PS_ATTR_AVAILABILITY, "out of stock");
	else if (veq(t, "1"))
		rc = set_str(f, PS_ATTR_AVAILABILITY, "in stock");
	else if (vnum(col(m, row, WC_STOCK), &dp))
		rc = set_str(f, PS_ATTR_AVAILABILITY, dp > 0 ? "in stock" : "out of stock");
	if (rc != 0)
		return rc;

	t = col(m, row, WC_CATEGORIES);
	if (t.n == 0)
		t = col(m, p, WC_CATEGORIES);
	split_first(t, &img, &rest);
	if ((rc = set(f, PS_ATTR_PRODUCT_TYPE, img)) != 0 ||
	    (rc = set(f, PS_ATTR_BRAND, col(m, row, WC_BRANDS))) != 0 ||
	    (rc = set(f, PS_ATTR_BRAND, col(m, p, WC_BRANDS))) != 0 ||
	    (rc = set(f, PS_ATTR_GTIN, col(m, row, WC_GTIN))) != 0)
		return rc;
	for (k = 0; k < 3; k++) {
		int a = option_attr(col(m, row, WC_A1_NAME + 2 * k));
		val av = col(m, row, WC_A1_VALUE + 2 * k);

		/* one value: a variation's, or a simple product's only one */
		if (a >= 0 && memchr(av.p, ',', av.n) == NULL && (rc = set(f, a, av)) != 0)
			return rc;
	}
	if (p != NULL) {
		t = col(m, p, WC_SKU);
		if ((rc = set(f, PS_ATTR_ITEM_GROUP_ID, t.n ? t : col(m, p, WC_ID))) != 0)
			return rc;
	}
	if ((rc = ps_feed__map_apply(f, row)) != 0)
		return rc;
	return ps_feed__item_end(f);
}

static void
woo_free(ps_map *m)
{
	woo_state *st = m->pstate;

	if (st == NULL)
		return;
	rs_free(&st->parents);
	fbuf_free(&st->buf);
	free(st);
	m->pstate = NULL;
}

/* ------------------------------------------------------------------ */
/* Magento 2                                                           */

enum {
	MG_SKU,
	MG_STORE_VIEW,
	MG_TYPE,
	MG_NAME,
	MG_DESCRIPTION,
	MG_SHORT,
	MG_ONLINE,
	MG_VISIBILITY,
	MG_PRICE,
	MG_SPECIAL,
	MG_URL_KEY,
	MG_BASE_IMAGE,
	MG_ADDITIONAL_IMAGES,
	MG_QTY,
	MG_IN_STOCK,
	MG_VARIATIONS,
	MG_CATEGORIES,
	MG_ATTRIBUTES,
};

static const char *const magento_columns[] = {
    "sku",
    "store_view_code",
    "product_type",
    "name",
    "description",
    "short_description",
    "product_online",
    "visibility",
    "price",
    "special_price",
    "url_key",
    "base_image",
    "additional_images",
    "qty",
    "is_in_stock",
    "configurable_variations",
    "categories",
    "additional_attributes",
    NULL,
};

typedef struct magento_state {
	rowstore pending; /* invisible products, waiting for a parent */
	ps_fbuf buf;
	ps_fbuf list;
} magento_state;

/* Image path -> URL: BASE/media/catalog/product/PATH (absolute URLs kept). */
static int
magento_image(ps_feed *f, ps_fbuf *b, val path)
{
	b->len = 0;
	if (path.n == 0)
		return -1;
	if ((path.n > 7 && strncasecmp(path.p, "http://", 7) == 0) ||
	    (path.n > 8 && strncasecmp(path.p, "https://", 8) == 0))
		return fbuf_put(b, path.p, path.n) == 0 ? 0 : -1;
	if (path.p[0] == '/') {
		path.p++;
		path.n--;
	}
	return url_of(f, b, "/media/catalog/product/", path, "");
}

/* Sets the attributes named in "k=v,k=v" (color=Black,size=XS). */
static int
magento_pairs(ps_feed *f, val kv, char sep)
{
	size_t i = 0;
	int rc;

	while (i < kv.n) {
		size_t j = i, eq;
		val k, v;

		while (j < kv.n && kv.p[j] != sep)
			j++;
		for (eq = i; eq < j && kv.p[eq] != '='; eq++)
			;
		if (eq < j) {
			int a;

			k.p = kv.p + i;
			k.n = eq - i;
			v.p = kv.p + eq + 1;
			v.n = j - eq - 1;
			a = option_attr(k);
			if (a >= 0 && (rc = set(f, a, v)) != 0)
				return rc;
		}
		i = j + 1;
	}
	return 0;
}

static int
magento_item(ps_feed *f, ps_map *m, const ps_row *c, const ps_row *p, val variation)
{
	magento_state *st = m->pstate;
	const ps_row *link_row = p ? p : c;
	val key = col(m, link_row, MG_URL_KEY), t, first, rest;
	int rc;

	ps_feed__item_begin(f, c->line);
	if ((rc = set(f, PS_ATTR_ID, col(m, c, MG_SKU))) != 0 ||
	    (rc = set(f, PS_ATTR_TITLE, col(m, p, MG_NAME))) != 0 ||
	    (rc = set(f, PS_ATTR_TITLE, col(m, c, MG_NAME))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, c, MG_DESCRIPTION))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, p, MG_DESCRIPTION))) != 0 ||
	    (rc = set(f, PS_ATTR_DESCRIPTION, col(m, c, MG_SHORT))) != 0)
		return rc;
	/* Magento makes a url_key from the name when it has none. */
	st->list.len = 0;
	if (key.n == 0 && put_slug(&st->list, col(m, link_row, MG_NAME)) == 0 && st->list.len > 0) {
		key.p = st->list.ptr;
		key.n = st->list.len;
	}
	if (url_of(f, &st->buf, "/", key, ".html") == 0 &&
	    (rc = set_buf(f, PS_ATTR_LINK, &st->buf)) != 0)
		return rc;

	t = col(m, c, MG_BASE_IMAGE);
	if (t.n == 0)
		t = col(m, p, MG_BASE_IMAGE);
	if (magento_image(f, &st->buf, t) == 0 &&
	    (rc = set_buf(f, PS_ATTR_IMAGE_LINK, &st->buf)) != 0)
		return rc;
	t = col(m, c, MG_ADDITIONAL_IMAGES);
	if (t.n == 0)
		t = col(m, p, MG_ADDITIONAL_IMAGES);
	st->list.len = 0;
	while (t.n > 0) {
		split_first(t, &first, &rest);
		while (first.n > 0 && ps_is_space((unsigned char)*first.p)) {
			first.p++;
			first.n--;
		}
		if (magento_image(f, &st->buf, first) == 0 &&
		    ((st->list.len > 0 && fbuf_putc(&st->list, PS_LIST_SEP) != 0) ||
		     fbuf_put(&st->list, st->buf.ptr, st->buf.len) != 0))
			break;
		t = rest;
	}
	if ((rc = set_buf(f, PS_ATTR_ADDITIONAL_IMAGE_LINK, &st->list)) != 0)
		return rc;

	if ((rc = set(f, PS_ATTR_PRICE, col(m, c, MG_PRICE))) != 0 ||
	    (rc = set(f, PS_ATTR_SALE_PRICE, col(m, c, MG_SPECIAL))) != 0)
		return rc;
	t = col(m, c, MG_IN_STOCK);
	if (t.n > 0 &&
	    (rc = set_str(f, PS_ATTR_AVAILABILITY, veq(t, "0") ? "out of stock" : "in stock")) != 0)
		return rc;

	/* "Default Category/Men/Tops,..." -> "Men > Tops" */
	t = col(m, c, MG_CATEGORIES);
	if (t.n == 0)
		t = col(m, p, MG_CATEGORIES);
	split_first(t, &first, &rest);
	if (first.n > 17 && strncasecmp(first.p, "Default Category/", 17) == 0) {
		first.p += 17;
		first.n -= 17;
	}
	st->buf.len = 0;
	{
		size_t i;

		for (i = 0; i < first.n; i++) {
			if (first.p[i] == '/' ? fbuf_put(&st->buf, " > ", 3) != 0
			                      : fbuf_putc(&st->buf, first.p[i]) != 0)
				break;
		}
	}
	if ((rc = set_buf(f, PS_ATTR_PRODUCT_TYPE, &st->buf)) != 0)
		return rc;
	if ((rc = magento_pairs(f, variation, ',')) != 0 ||
	    (rc = magento_pairs(f, col(m, c, MG_ATTRIBUTES), ',')) != 0)
		return rc;
	if (p != NULL && (rc = set(f, PS_ATTR_ITEM_GROUP_ID, col(m, p, MG_SKU))) != 0)
		return rc;
	if ((rc = ps_feed__map_apply(f, c)) != 0)
		return rc;
	return ps_feed__item_end(f);
}

/* The variation entry ("sku=X,size=XS,color=Black") naming sku, if any. */
static int
magento_variation(val list, val sku, val *entry)
{
	size_t i = 0;

	while (i < list.n) {
		size_t j = i;
		val e;

		while (j < list.n && list.p[j] != '|')
			j++;
		e.p = list.p + i;
		e.n = j - i;
		if (e.n > 4 && strncasecmp(e.p, "sku=", 4) == 0 && e.n - 4 >= sku.n &&
		    memcmp(e.p + 4, sku.p, sku.n) == 0 &&
		    (e.n - 4 == sku.n || e.p[4 + sku.n] == ',')) {
			*entry = e;
			return 1;
		}
		i = j + 1;
	}
	return 0;
}

static int
magento_row(ps_feed *f, ps_map *m, const ps_row *row)
{
	magento_state *st = m->pstate;
	val none = {"", 0};
	size_t i;
	int rc;

	if (col(m, row, MG_STORE_VIEW).n > 0 || veq(col(m, row, MG_ONLINE), "2")) {
		f->skipped++;
		return 0;
	}
	if (vhas(col(m, row, MG_VISIBILITY), "not visible"))
		return rs_add(f, &st->pending, row);
	if (veq(col(m, row, MG_TYPE), "configurable")) {
		val vars = col(m, row, MG_VARIATIONS), e;

		for (i = 0; i < st->pending.nrows; i++) {
			ps_row c = rs_get(&st->pending, i);

			if (!magento_variation(vars, col(m, &c, MG_SKU), &e)) {
				f->skipped++;
				continue;
			}
			if ((rc = magento_item(f, m, &c, row, e)) != 0)
				return rc;
		}
		rs_clear(&st->pending);
		f->skipped++; /* the parent itself */
		return 0;
	}
	f->skipped += st->pending.nrows; /* invisible and claimed by nobody */
	rs_clear(&st->pending);
	return magento_item(f, m, row, NULL, none);
}

static int
magento_finish(ps_feed *f, ps_map *m)
{
	magento_state *st = m->pstate;

	f->skipped += st->pending.nrows;
	rs_clear(&st->pending);
	return 0;
}

static void
magento_free(ps_map *m)
{
	magento_state *st = m->pstate;

	if (st == NULL)
		return;
	rs_free(&st->pending);
	fbuf_free(&st->buf);
	fbuf_free(&st->list);
	free(st);
	m->pstate = NULL;
}

/* ------------------------------------------------------------------ */
/* Table                                                               */

static const ps_preset presets[] = {
    {"shopify", shopify_columns, shopify_row, shopify_finish, shopify_free},
    {"woocommerce", woo_columns, woo_row, NULL, woo_free},
    {"magento2", magento_columns, magento_row, magento_finish, magento_free},
};

static const char *const preset_names[] = {"shopify", "woocommerce", "magento2", NULL};

const char *const *
ps_feed_preset_names(void)
{
	return preset_names;
}

int
ps_feed__preset_init(ps_feed *f, ps_map *m, const char *name)
{
	const ps_preset *p = NULL;
	size_t i, ncols = 0;
	int rc;

	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		if (strcasecmp(name, presets[i].name) == 0 ||
		    (strcasecmp(name, "woo") == 0 && i == 1) ||
		    (strcasecmp(name, "magento") == 0 && i == 2))
			p = &presets[i];
	}
	if (p == NULL)
		return ps_feed__fail(
		    f, PS_ERROR, "unknown preset \"%.32s\" (known: shopify, woocommerce, magento2)",
		    name);
	if ((rc = need_columns(f, m, p)) != 0)
		return rc;
	while (p->columns[ncols] != NULL)
		ncols++;
	if (p->row == shopify_row) {
		shopify_state *st = calloc(1, sizeof(*st));

		if (st == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "out of memory");
		m->pstate = st;
		fbuf_init(&st->buf, PS_FEED_MAX_FIELD);
		fbuf_init(&st->images, PS_FEED_MAX_ITEM);
	} else if (p->row == woo_row) {
		woo_state *st = calloc(1, sizeof(*st));

		if (st == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "out of memory");
		m->pstate = st;
		fbuf_init(&st->buf, PS_FEED_MAX_FIELD);
	} else {
		magento_state *st = calloc(1, sizeof(*st));

		if (st == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "out of memory");
		m->pstate = st;
		fbuf_init(&st->buf, PS_FEED_MAX_FIELD);
		fbuf_init(&st->list, PS_FEED_MAX_FIELD);
	}
	m->preset = p;
	return 0;
}

/* Called once the header is known: the kept rows hold one cell per slot. */
int
ps_feed__preset_header(ps_feed *f, ps_map *m)
{
	(void)f;
	if (m->preset == NULL)
		return 0;
	if (m->preset->row == shopify_row)
		rs_init(&((shopify_state *)m->pstate)->group, m->nslots);
	else if (m->preset->row == woo_row)
		rs_init(&((woo_state *)m->pstate)->parents, m->nslots);
	else
		rs_init(&((magento_state *)m->pstate)->pending, m->nslots);
	return 0;
}
