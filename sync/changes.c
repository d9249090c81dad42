/*
 * changes.c: attribute-level diff of an item against the snapshot, and
 * item copies.
 */
#include "changes.h"

#include <stdlib.h>
#include <string.h>

/* Attributes an UPDATE cannot carry (not in UpdatableItemAttributes or not
 * an UpdateMaskFieldType value in Pinterest API v5.23.0). */
static const int not_updatable[] = {
    PS_ATTR_IMAGE_LINK,           PS_ATTR_ADDITIONAL_IMAGE_LINK,     PS_ATTR_VIDEO_LINK,
    PS_ATTR_MOBILE_LINK,          PS_ATTR_SALE_PRICE_EFFECTIVE_DATE, PS_ATTR_INSTALLMENT_PRICE,
    PS_ATTR_UNIT_PRICING_MEASURE, PS_ATTR_UNIT_PRICING_BASE_MEASURE, PS_ATTR_IOS_DEEP_LINK,
    PS_ATTR_ANDROID_DEEP_LINK};

int
ps_attr_updatable(int a)
{
	size_t i;

	if (a == PS_ATTR_ID)
		return 0;
	for (i = 0; i < sizeof(not_updatable) / sizeof(not_updatable[0]); i++)
		if (not_updatable[i] == a)
			return 0;
	return 1;
}

static yajl_val
obj_get(yajl_val obj, const char *key)
{
	size_t i;

	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

/* Whether JSON value v says the same as the item's text form s[0..len). */
static int
same_value(yajl_val v, const char *s, size_t len)
{
	if (YAJL_IS_STRING(v))
		return strlen(v->u.string) == len && memcmp(v->u.string, s, len) == 0;
	if (YAJL_IS_NUMBER(v))
		return strlen(v->u.number.r) == len && memcmp(v->u.number.r, s, len) == 0;
	if (YAJL_IS_TRUE(v))
		return len == 4 && memcmp(s, "true", 4) == 0;
	if (YAJL_IS_FALSE(v))
		return len == 5 && memcmp(s, "false", 5) == 0;
	if (YAJL_IS_ARRAY(v)) {
		const char *p = s, *end = s + len;
		size_t i;

		/* The item joins list values with PS_LIST_SEP. */
		for (i = 0; i < v->u.array.len; i++) {
			yajl_val e = v->u.array.values[i];
			const char *sep;
			size_t n;

			if (p > end)
				return 0; /* the item has fewer values */
			sep = memchr(p, PS_LIST_SEP, (size_t)(end - p));
			n = sep ? (size_t)(sep - p) : (size_t)(end - p);
			if (!YAJL_IS_STRING(e) || strlen(e->u.string) != n ||
			    memcmp(e->u.string, p, n) != 0)
				return 0;
			p += n + 1;
		}
		return p == end + 1 || (v->u.array.len == 0 && len == 0);
	}
	return 0;
}

int
ps_changes_compute(const ps_item *item, yajl_val old, unsigned char changed[PS_ATTR__COUNT],
                   int *needs_upsert)
{
	int a, n = 0;

	memset(changed, 0, PS_ATTR__COUNT);
	*needs_upsert = old == NULL || !YAJL_IS_OBJECT(old);
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice *nv = &item->values[a];
		yajl_val ov;

		if (a == PS_ATTR_ID)
			continue;
		ov = *needs_upsert ? NULL : obj_get(old, ps_attr_defs[a].name);
		if (ov && YAJL_IS_NULL(ov))
			ov = NULL;
		if (nv->ptr == NULL && ov == NULL)
			continue;
		if (nv->ptr != NULL && ov != NULL && same_value(ov, nv->ptr, nv->len))
			continue;
		changed[a] = 1;
		n++;
		if (!ps_attr_updatable(a))
			*needs_upsert = 1;
	}
	return n;
}

/* ---- item copies ---- */

typedef struct rec {
	uint64_t hash, line, index;
	uint32_t off[PS_ATTR__COUNT]; /* offset + 1 into data; 0 = absent */
	uint32_t len[PS_ATTR__COUNT];
} rec;

struct ps_itemset {
	rec *recs;
	size_t count, cap;
	ps_buf data;
};

int
ps_itemset_new(ps_itemset **out)
{
	ps_itemset *s = calloc(1, sizeof(*s));

	*out = s;
	if (s == NULL)
		return -1;
	ps_buf_init(&s->data, (size_t)1 << 31);
	return 0;
}

void
ps_itemset_free(ps_itemset *s)
{
	if (s == NULL)
		return;
	free(s->recs);
	ps_buf_free(&s->data);
	free(s);
}

int
ps_itemset_add(ps_itemset *s, const ps_item *item)
{
	rec *r;
	int a;

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		rec *p = realloc(s->recs, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		s->recs = p;
		s->cap = cap;
	}
	r = &s->recs[s->count];
	r->hash = item->hash;
	r->line = item->line;
	r->index = item->index;
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice *v = &item->values[a];

		r->off[a] = r->len[a] = 0;
		if (v->ptr == NULL)
			continue;
		r->off[a] = (uint32_t)s->data.len + 1;
		r->len[a] = (uint32_t)v->len;
		/* Values stay NUL-terminated, as in ps_item. */
		if (ps_buf_add(&s->data, v->ptr, v->len) < 0 || ps_buf_add(&s->data, "", 1) < 0)
			return -1;
	}
	s->count++;
	return 0;
}

size_t
ps_itemset_count(const ps_itemset *s)
{
	return s->count;
}

void
ps_itemset_get(const ps_itemset *s, size_t i, ps_item *out)
{
	const rec *r = &s->recs[i];
	int a;

	memset(out, 0, sizeof(*out));
	out->hash = r->hash;
	out->line = r->line;
	out->index = r->index;
	for (a = 0; a < PS_ATTR__COUNT; a++)
		if (r->off[a]) {
			out->values[a].ptr = s->data.data + r->off[a] - 1;
			out->values[a].len = r->len[a];
		}
}

const char *
ps_itemset_id(const ps_itemset *s, size_t i)
{
	return s->data.data + s->recs[i].off[PS_ATTR_ID] - 1;
}

void
ps_itemset_reset(ps_itemset *s)
{
	s->count = 0;
	ps_buf_reset(&s->data);
}
