/*
 * batch.h: one request body of POST /catalogs/items/batch, built as items
 * arrive.
 *
 * The body is written with yajl's generator straight into a capped buffer
 * (format: catalog_type RETAIL, catalog_id, country, language, items with a
 * per-item operation). The journal stores that body once, as sent, and per
 * item its id, operation, hash and attribute fingerprint (changes.h) taken
 * from the whole item (an UPDATE sends only the changed attributes). A
 * batch holds at most PS_BATCH_MAX_ITEMS items (the spec's maxItems) and
 * closes early when its body passes PS_BATCH_SOFT_BYTES: Pinterest states no
 * size limit for this body, so pinsync keeps well below what HTTP front ends
 * commonly take, and a 413 answer splits the batch (poller.h). One country and
 * language per batch.
 */
#ifndef PS_SYNC_BATCH_H
#define PS_SYNC_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#include "buf.h"
#include "changes.h"
#include "db.h"
#include "feeds.h"

#define PS_BATCH_MAX_ITEMS 1000
#define PS_BATCH_SOFT_BYTES (4 * 1024 * 1024)
#define PS_BATCH_HARD_BYTES (32 * 1024 * 1024)

typedef struct ps_batch_entry {
	size_t id_off;  /* in ids */
	const char *op; /* static string: CREATE, UPDATE, UPSERT, DELETE */
	uint64_t hash;
	size_t mask_off; /* update_mask in body; mask_len 0 unless UPDATE */
	size_t mask_len;
	int has_fp; /* 0: no fingerprint (DELETE, out of stock) */
	int is_new; /* new to the snapshot (ps_batch_journal's is_new) */
	size_t fp_len;
	unsigned char fp[PS_FP_MAX];
} ps_batch_entry;

typedef struct ps_batch {
	const char *catalog_id, *country, *language; /* borrowed */
	yajl_gen gen;
	ps_buf body;
	ps_buf ids;
	ps_batch_entry *entries;
	size_t count;
	int oom; /* a write to body failed: the batch is unusable */
	/* Journal view rebuilt by ps_batch_journal(). */
	ps_batch_item *journal;
} ps_batch;

/* Prepares an empty batch for one catalog, country and language (the
 * strings are borrowed and must outlive the batch). */
int ps_batch_init(ps_batch *b, const char *catalog_id, const char *country, const char *language);
void ps_batch_free(ps_batch *b);

/* Adds an item with all its attributes under op (CREATE or UPSERT).
 * Returns 0, or -1 when out of memory or over PS_BATCH_HARD_BYTES: the
 * batch is then unusable and the run must stop. */
int ps_batch_add_item(ps_batch *b, const char *op, const ps_item *item);
/* The same for an item new to the snapshot: it counts as created whatever
 * the operation. */
int ps_batch_add_new(ps_batch *b, const char *op, const ps_item *item);
int ps_batch_add_delete(ps_batch *b, const char *id, size_t len);

/* Adds an UPDATE of the attributes flagged in changed[]: those present in
 * item are sent, and every flagged one is named in update_mask, so a flagged
 * attribute the item lacks is cleared on Pinterest. Every flagged attribute
 * must be updatable (ps_attr_updatable). */
int ps_batch_add_update(ps_batch *b, const ps_item *item,
                        const unsigned char changed[PS_ATTR__COUNT]);

/* Adds an UPDATE setting availability to "out of stock" (the on-missing
 * policy out-of-stock); hash is what the snapshot records for it. */
int ps_batch_add_out_of_stock(ps_batch *b, const char *id, size_t len, uint64_t hash);

/* Whether the batch must be sent before another item is added. */
int ps_batch_full(const ps_batch *b);

/* Closes the JSON; b->body then holds the request body. */
int ps_batch_close(ps_batch *b);

/* The items for ps_db_batch_plan(): an array of b->count entries owned by
 * the batch, valid until the next change to it. */
const ps_batch_item *ps_batch_journal(ps_batch *b);

/* Empties the batch for reuse with the same catalog. */
int ps_batch_reset(ps_batch *b);

/* Id of entry i (NUL-terminated, owned by the batch). */
const char *ps_batch_id(const ps_batch *b, size_t i);

#endif /* PS_SYNC_BATCH_H */
