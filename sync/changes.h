/*
 * changes.h: what changed in an item, and which operation carries it.
 *
 * The snapshot does not keep the attributes Pinterest accepted but their
 * fingerprint (ps_fingerprint), 8 bytes per attribute: a changed item is
 * compared attribute by attribute with it. If every changed attribute can
 * go in an UPDATE, the item goes out as UPDATE with an update_mask naming
 * exactly those attributes, so an attribute that left the feed (an ended
 * sale_price) is cleared on Pinterest. If one cannot (image_link,
 * additional_image_link, video_link and a few others are not updatable,
 * per UpdatableItemAttributes and UpdateMaskFieldType in the spec), the item
 * goes out as UPSERT with all its attributes.
 *
 * ps_itemset keeps copies of items across ps_feed_next() calls, so changed
 * items can wait until their old attributes are fetched in one query.
 */
#ifndef PS_SYNC_CHANGES_H
#define PS_SYNC_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "feeds.h"

/* Whether attribute a may be named in an UPDATE's update_mask. */
int ps_attr_updatable(int a);

/*
 * An item's attribute fingerprint: for each attribute present but the id,
 * in table order, 8 bytes: the low 32 bits of XXH3-64 of the attribute's
 * name, then of its value (the item's normalised text, list values joined
 * with PS_LIST_SEP), both big-endian. Names are hashed rather than numbered
 * so that a fingerprint stored by one version still reads in the next one.
 * Writes at most PS_FP_MAX bytes to out and returns the length.
 */
#define PS_FP_MAX (8 * PS_ATTR__COUNT)
size_t ps_fingerprint(const ps_item *item, unsigned char out[PS_FP_MAX]);

/* Sets attribute a's value in the fingerprint fp of *len bytes (capacity
 * PS_FP_MAX): replaces its entry or appends one. An item marked out of
 * stock keeps its fingerprint in the snapshot; this says what Pinterest
 * has since. */
void ps_fingerprint_set(unsigned char fp[PS_FP_MAX], size_t *len, int a, const char *value,
                        size_t value_len);

/* Which attributes fp names (has[a] = 1). Returns 0, or -1 when fp is NULL
 * or not a fingerprint of this version. */
int ps_fingerprint_names(const unsigned char *fp, size_t len, unsigned char has[PS_ATTR__COUNT]);

/*
 * Snapshot hashes that are no content hash (XXH3 of real content taking one
 * of them is as likely as any other collision), so that the next diff sees
 * the item as changed:
 *   PS_HASH_GONE   the item left the feed and the out-of-stock policy
 *                  marked it out of stock; its row keeps the item's
 *                  fingerprint, and Pinterest's availability is now
 *                  "out of stock";
 *   PS_HASH_DRIFT  Pinterest holds the item otherwise than pinsync sent it
 *                  (found by a read-back); the row's fingerprint is that of
 *                  what Pinterest holds (NULL: unknown), so the next diff
 *                  sends what differs.
 */
#define PS_HASH_GONE UINT64_C(0x676f6e65676f6e65)
#define PS_HASH_DRIFT UINT64_C(0x6472696674647269)

/* The fingerprint of what Pinterest holds for a snapshot row (hash, fp of
 * len bytes): fp itself, or for a row marked out of stock a copy in buf
 * with that availability. Returns the fingerprint to compare with (NULL
 * when fp is) and its length in *out_len. */
const unsigned char *ps_fingerprint_held(uint64_t hash, const unsigned char *fp, size_t len,
                                         unsigned char buf[PS_FP_MAX], size_t *out_len);

/*
 * Compares item with old, the fingerprint of what Pinterest accepted
 * (old_len bytes; NULL when unknown). Sets changed[a] for every attribute
 * that differs (present in one and not the other, or with another value).
 * Returns the number of changed attributes, and sets *needs_upsert when one
 * of them cannot be updated, or old is NULL, malformed or names an
 * attribute this version does not know. A 32-bit value hash may miss a
 * change once in four billion: the item's 64-bit hash still differs, the
 * count is then 0, and the caller sends the item whole.
 */
int ps_changes_compute(const ps_item *item, const unsigned char *old, size_t old_len,
                       unsigned char changed[PS_ATTR__COUNT], int *needs_upsert);

/* Copies of items, valid until ps_itemset_reset(). */
typedef struct ps_itemset ps_itemset;

int ps_itemset_new(ps_itemset **out);
void ps_itemset_free(ps_itemset *s);
/* Copies item in; 0, or -1 when out of memory. */
int ps_itemset_add(ps_itemset *s, const ps_item *item);
size_t ps_itemset_count(const ps_itemset *s);
/* Fills *out with the i-th item (its values point into the set). */
void ps_itemset_get(const ps_itemset *s, size_t i, ps_item *out);
/* The i-th item's id, NUL-terminated. */
const char *ps_itemset_id(const ps_itemset *s, size_t i);
void ps_itemset_reset(ps_itemset *s);

#endif /* PS_SYNC_CHANGES_H */
