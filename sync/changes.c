/*
 * changes.c: attribute fingerprints, the attribute-level diff of an item
 * against the snapshot's fingerprint, and item copies.
 */
#include "changes.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

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

/* ---- fingerprints ---- */

static uint32_t name_hash[PS_ATTR__COUNT];
static pthread_once_t name_hash_once = PTHREAD_ONCE_INIT;

static void
name_hash_init(void)
{
	int a;

	for (a = 0; a < PS_ATTR__COUNT; a++)
		name_hash[a] =
		    (uint32_t)XXH3_64bits(ps_attr_defs[a].name, strlen(ps_attr_defs[a].name));
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

size_t
ps_fingerprint(const ps_item *item, unsigned char out[PS_FP_MAX])
{
	size_t n = 0;
	int a;

	pthread_once(&name_hash_once, name_hash_init);
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice *v = &item->values[a];

		if (a == PS_ATTR_ID || v->ptr == NULL)
			continue;
		put32(out + n, name_hash[a]);
		put32(out + n + 4, (uint32_t)XXH3_64bits(v->ptr, v->len));
		n += 8;
	}
	return n;
}

void
ps_fingerprint_set(unsigned char fp[PS_FP_MAX], size_t *len, int a, const char *value,
                   size_t value_len)
{
	size_t off;

	pthread_once(&name_hash_once, name_hash_init);
	for (off = 0; off + 8 <= *len; off += 8)
		if (get32(fp + off) == name_hash[a])
			break;
	if (off + 8 > *len) {
		if (*len + 8 > PS_FP_MAX)
			return; /* not a fingerprint of this version: compared as unknown */
		off = *len;
		*len += 8;
		put32(fp + off, name_hash[a]);
	}
	put32(fp + off + 4, (uint32_t)XXH3_64bits(value, value_len));
}

/* The attribute whose name hashes to h, or -1. Entries come in table
 * order, so the search starts where the previous one stopped. */
static int
attr_of(uint32_t h, int *from)
{
	int i, a;

	for (i = 0; i < PS_ATTR__COUNT; i++) {
		a = (*from + i) % PS_ATTR__COUNT;
		if (name_hash[a] == h) {
			*from = a + 1;
			return a;
		}
	}
	return -1;
}

int
ps_fingerprint_names(const unsigned char *fp, size_t len, unsigned char has[PS_ATTR__COUNT])
{
	size_t off;
	int a, from = 0;

	pthread_once(&name_hash_once, name_hash_init);
	memset(has, 0, PS_ATTR__COUNT);
	if (fp == NULL || len % 8 != 0)
		return -1;
	for (off = 0; off < len; off += 8) {
		a = attr_of(get32(fp + off), &from);
		if (a < 0 || a == PS_ATTR_ID)
			return -1;
		has[a] = 1;
	}
	return 0;
}

const unsigned char *
ps_fingerprint_held(uint64_t hash, const unsigned char *fp, size_t len,
                    unsigned char buf[PS_FP_MAX], size_t *out_len)
{
	*out_len = len;
	if (hash != PS_HASH_GONE || fp == NULL || len > PS_FP_MAX)
		return fp;
	memcpy(buf, fp, len);
	ps_fingerprint_set(buf, out_len, PS_ATTR_AVAILABILITY, "out of stock", 12);
	return buf;
}

int
ps_changes_compute(const ps_item *item, const unsigned char *old, size_t old_len,
                   unsigned char changed[PS_ATTR__COUNT], int *needs_upsert)
{
	unsigned char had[PS_ATTR__COUNT] = {0};
	uint32_t was[PS_ATTR__COUNT];
	size_t off;
	int a, from = 0, n = 0, unknown;

	pthread_once(&name_hash_once, name_hash_init);
	memset(changed, 0, PS_ATTR__COUNT);
	unknown = old == NULL || old_len % 8 != 0;
	for (off = 0; !unknown && off < old_len; off += 8) {
		a = attr_of(get32(old + off), &from);
		if (a < 0 || a == PS_ATTR_ID) {
			unknown = 1; /* an attribute this version cannot name */
			break;
		}
		had[a] = 1;
		was[a] = get32(old + off + 4);
	}
	*needs_upsert = unknown;
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice *nv = &item->values[a];

		if (a == PS_ATTR_ID)
			continue;
		if (!unknown) {
			if (nv->ptr == NULL && !had[a])
				continue;
			if (nv->ptr != NULL && had[a] &&
			    (uint32_t)XXH3_64bits(nv->ptr, nv->len) == was[a])
				continue;
		} else if (nv->ptr == NULL) {
			continue;
		}
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
