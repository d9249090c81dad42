/*
 * diffmap.h: the target's snapshot in memory, to diff a feed against.
 *
 * An open-addressing hash map of item id -> content hash, with the ids in
 * one arena and a "seen" bit per entry: about 16 bytes per slot at a load
 * under 0.7 plus the id bytes, so memory grows with the catalog, never with
 * the feed. Ids from the feed that the snapshot lacks are added too, so a
 * second valid occurrence of an id in one feed is recognised as a
 * duplicate; invalid occurrences never hide a valid one.
 * Not thread-safe.
 */
#ifndef PS_SYNC_DIFFMAP_H
#define PS_SYNC_DIFFMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ps_diffmap ps_diffmap;

typedef enum ps_diff {
	PS_DIFF_NEW,      /* not in the snapshot */
	PS_DIFF_CHANGED,  /* in the snapshot with another hash */
	PS_DIFF_SAME,     /* in the snapshot with this hash */
	PS_DIFF_DUPLICATE /* a valid item of this feed had the id: the first one wins */
} ps_diff;

/* expected: number of snapshot rows to size for (may be 0). */
int ps_diffmap_new(ps_diffmap **out, size_t expected);
void ps_diffmap_free(ps_diffmap *m);

/* Adds a snapshot row (a ps_db_snapshot_cb). Returns 0, or -1 when out of
 * memory. */
int ps_diffmap_add_snapshot(void *m, const char *id, size_t len, uint64_t hash);

/* Marks id as seen in the feed (a valid item's) and says how it compares.
 * Returns a ps_diff, or -1 when out of memory. */
int ps_diffmap_see(ps_diffmap *m, const char *id, size_t len, uint64_t hash);

/* Keeps a snapshot id from the deletes without comparing (an item that is
 * in the feed but invalid: it must not be deleted). It does not count as
 * seen: a later valid item with the id is compared, never a duplicate (the
 * first VALID occurrence wins). Unknown ids are ignored. */
void ps_diffmap_keep(ps_diffmap *m, const char *id, size_t len);

/* Whether a valid item of the feed had id already (ps_diffmap_see). */
int ps_diffmap_seen(ps_diffmap *m, const char *id, size_t len);

/* Iterates the snapshot entries never seen: start with *cursor = 0; returns
 * 1 with *id (NUL-terminated, owned by the map) and the snapshot's *hash,
 * or 0 at the end. */
int ps_diffmap_next_unseen(ps_diffmap *m, size_t *cursor, const char **id, size_t *len,
                           uint64_t *hash);

size_t ps_diffmap_snapshot_count(const ps_diffmap *m);
/* Bytes the map holds (slots and arena). */
size_t ps_diffmap_memory(const ps_diffmap *m);

#endif /* PS_SYNC_DIFFMAP_H */
