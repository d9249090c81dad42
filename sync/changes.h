/*
 * changes.h: what changed in an item, and which operation carries it.
 *
 * A changed item is compared attribute by attribute with the attributes
 * Pinterest accepted (the snapshot's JSON). If every changed attribute can
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
#include <yajl/yajl_tree.h>

#include "buf.h"
#include "feeds.h"

/* Whether attribute a may be named in an UPDATE's update_mask. */
int ps_attr_updatable(int a);

/*
 * Compares item with old (the snapshot's attributes, a JSON object or NULL
 * when unknown). Sets changed[a] for every attribute that differs (present
 * in one and not the other, or with another value). Returns the number of
 * changed attributes, and sets *needs_upsert when one of them cannot be
 * updated (or old is NULL).
 */
int ps_changes_compute(const ps_item *item, yajl_val old, unsigned char changed[PS_ATTR__COUNT],
                       int *needs_upsert);

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
