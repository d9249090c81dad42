/*
 * diffmap.c: open addressing with linear probing over a power-of-two
 * table; ids live NUL-terminated in one growing arena.
 */
#include "diffmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#define FLAG_SEEN 0x1u     /* a valid item of the feed has this id */
#define FLAG_SNAPSHOT 0x2u /* the snapshot has this id */
#define FLAG_KEPT 0x4u     /* an invalid item of the feed has this id */

typedef struct slot {
	uint64_t hash;   /* content hash (snapshot), or the feed's for new ids */
	uint32_t id_off; /* offset + 1 in the arena; 0 = empty slot */
	uint32_t flags;
} slot;

struct ps_diffmap {
	slot *slots;
	size_t mask; /* capacity - 1 */
	size_t used;
	size_t snapshot;
	char *arena;
	size_t arena_len, arena_cap;
};

#define HUGE_PAGE ((size_t)2 << 20)

/* A zeroed table of cap slots. From 2 MiB on, aligned to and advised as
 * huge pages: every lookup lands on a random slot, and with 4 KiB pages
 * nearly each one also missed the TLB and, the first time, faulted
 * (issue 15: a third of the snapshot load's time). Freed with free(). */
static slot *
slots_new(size_t cap)
{
	size_t bytes = cap * sizeof(slot);
	slot *s;

	if (bytes < HUGE_PAGE)
		return calloc(cap, sizeof(slot));
	if ((s = aligned_alloc(HUGE_PAGE, bytes)) == NULL)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(s, bytes, MADV_HUGEPAGE); /* advice: without it, small pages */
#endif
	memset(s, 0, bytes);
	return s;
}

static size_t
pow2_at_least(size_t n)
{
	size_t c = 1024;

	while (c < n)
		c <<= 1;
	return c;
}

int
ps_diffmap_new(ps_diffmap **out, size_t expected)
{
	ps_diffmap *m = calloc(1, sizeof(*m));
	size_t cap = pow2_at_least(expected + expected / 2 + 16);

	*out = NULL;
	if (m == NULL || (m->slots = slots_new(cap)) == NULL) {
		free(m);
		return -1;
	}
	m->mask = cap - 1;
	*out = m;
	return 0;
}

void
ps_diffmap_free(ps_diffmap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m->arena);
	free(m);
}

static inline size_t
key_of(const char *id, size_t len)
{
	return (size_t)XXH3_64bits(id, len);
}

static inline int
slot_is(const ps_diffmap *m, const slot *s, const char *id, size_t len)
{
	const char *k = m->arena + s->id_off - 1;

	/* Ids are NUL-terminated in the arena, so this also checks the length. */
	return memcmp(k, id, len) == 0 && k[len] == '\0';
}

static slot *
find(ps_diffmap *m, const char *id, size_t len, size_t key)
{
	size_t i = key & m->mask;

	for (;;) {
		slot *s = &m->slots[i];

		if (s->id_off == 0 || slot_is(m, s, id, len))
			return s;
		i = (i + 1) & m->mask;
	}
}

static int
grow(ps_diffmap *m)
{
	size_t cap = (m->mask + 1) * 2, i;
	slot *old = m->slots, *slots = slots_new(cap);

	if (slots == NULL)
		return -1;
	for (i = 0; i <= m->mask; i++) {
		if (old[i].id_off) {
			const char *k = m->arena + old[i].id_off - 1;
			size_t j = key_of(k, strlen(k)) & (cap - 1);

			while (slots[j].id_off)
				j = (j + 1) & (cap - 1);
			slots[j] = old[i];
		}
	}
	free(old);
	m->slots = slots;
	m->mask = cap - 1;
	return 0;
}

/* Stores id in the arena; returns its offset + 1, or 0 when out of room. */
static uint32_t
arena_put(ps_diffmap *m, const char *id, size_t len)
{
	size_t off = m->arena_len;

	if (off + len + 1 > UINT32_MAX - 1)
		return 0;
	if (off + len + 1 > m->arena_cap) {
		size_t cap = m->arena_cap ? m->arena_cap * 2 : 64 * 1024;
		char *p;

		while (cap < off + len + 1)
			cap *= 2;
		if ((p = realloc(m->arena, cap)) == NULL)
			return 0;
		m->arena = p;
		m->arena_cap = cap;
	}
	memcpy(m->arena + off, id, len);
	m->arena[off + len] = '\0';
	m->arena_len = off + len + 1;
	return (uint32_t)off + 1;
}

/* Inserts a new key at s (found empty by find()). */
static slot *
insert(ps_diffmap *m, slot *s, const char *id, size_t len, size_t key, uint64_t hash,
       uint32_t flags)
{
	uint32_t off;

	/* Keep the load under 0.7 so probes stay short. */
	if ((m->used + 1) * 10 > (m->mask + 1) * 7) {
		if (grow(m) < 0)
			return NULL;
		s = find(m, id, len, key);
	}
	if ((off = arena_put(m, id, len)) == 0)
		return NULL;
	s->id_off = off;
	s->hash = hash;
	s->flags = flags;
	m->used++;
	return s;
}

int
ps_diffmap_add_snapshot(void *ctx, const char *id, size_t len, uint64_t hash)
{
	ps_diffmap *m = ctx;
	size_t key = key_of(id, len);
	slot *s = find(m, id, len, key);

	if (s->id_off) { /* cannot happen with a primary key, but stay sane */
		s->hash = hash;
		return 0;
	}
	if (insert(m, s, id, len, key, hash, FLAG_SNAPSHOT) == NULL)
		return -1;
	m->snapshot++;
	return 0;
}

int
ps_diffmap_see(ps_diffmap *m, const char *id, size_t len, uint64_t hash)
{
	size_t key = key_of(id, len);
	slot *s = find(m, id, len, key);

	if (s->id_off == 0)
		return insert(m, s, id, len, key, hash, FLAG_SEEN) ? PS_DIFF_NEW : -1;
	if (s->flags & FLAG_SEEN)
		return PS_DIFF_DUPLICATE;
	s->flags |= FLAG_SEEN;
	return s->hash == hash ? PS_DIFF_SAME : PS_DIFF_CHANGED;
}

void
ps_diffmap_keep(ps_diffmap *m, const char *id, size_t len)
{
	slot *s = find(m, id, len, key_of(id, len));

	/* Not FLAG_SEEN: an invalid item must not make a later valid one
	 * with the same id a duplicate (issue "Hardening"). */
	if (s->id_off)
		s->flags |= FLAG_KEPT;
}

int
ps_diffmap_seen(ps_diffmap *m, const char *id, size_t len)
{
	const slot *s = find(m, id, len, key_of(id, len));

	return s->id_off != 0 && (s->flags & FLAG_SEEN) != 0;
}

int
ps_diffmap_next_unseen(ps_diffmap *m, size_t *cursor, const char **id, size_t *len,
                       uint64_t *hash)
{
	size_t i;

	for (i = *cursor; i <= m->mask; i++) {
		const slot *s = &m->slots[i];

		if (s->id_off && (s->flags & FLAG_SNAPSHOT) &&
		    !(s->flags & (FLAG_SEEN | FLAG_KEPT))) {
			*id = m->arena + s->id_off - 1;
			*len = strlen(*id);
			*hash = s->hash;
			*cursor = i + 1;
			return 1;
		}
	}
	*cursor = i;
	return 0;
}

size_t
ps_diffmap_snapshot_count(const ps_diffmap *m)
{
	return m->snapshot;
}

size_t
ps_diffmap_memory(const ps_diffmap *m)
{
	return (m->mask + 1) * sizeof(slot) + m->arena_cap;
}
