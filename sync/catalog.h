/*
 * catalog.h: what the target's catalog on Pinterest really holds.
 *
 * pinsync's snapshot says what Pinterest accepted from pinsync; the catalog
 * can differ (an item created before pinsync was pointed at it, a POST
 * whose answer was lost, an item deleted or edited in Pinterest's UI). This
 * module asks Pinterest directly:
 *   - ownership: whether the catalog has a feed data source (GET
 *     /catalogs/feeds?catalog_id=). Pinterest refuses UPSERT on such a
 *     catalog, so it decides the operations pinsync sends;
 *   - read-back: the items themselves (POST /catalogs/items, at most 100
 *     ids a request, the filter's maxItems). Each id comes back present
 *     with its attributes, as an error item (Pinterest does not give the
 *     item: absent, or an error it does not explain), or not at all. Only
 *     "present" is a fact; callers never take the other two as proof that
 *     an operation was applied.
 * Pinterest's JSON attributes become a ps_item again with ps_item_from_json
 * (answers.h), so that a journaled body or a read-back can be planned,
 * hashed and fingerprinted like a feed item.
 *
 * Errors are not logged here: the functions return a PS_PIN_* code and
 * ps_pin_last() says why.
 */
#ifndef PS_SYNC_CATALOG_H
#define PS_SYNC_CATALOG_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "buf.h"
#include "db.h"
#include "answers.h"
#include "feeds.h"
#include "pinterest.h"

/* Ids per read-back request. Pinterest's POST /catalogs/items filter takes
 * up to 1000; pinsync asks for 100 at a time, so that one answer stays a few
 * megabytes and a read-back keeps well under the catalogs_read rate limit
 * between the batches it interleaves with. */
#define PS_READBACK_MAX 100

/* Sets *has to 1 when the catalog has a feed data source, else 0.
 * Returns 0 or a PS_PIN_* code (*has untouched). */
int ps_catalog_feed_source(ps_pin *pin, const ps_target *target, int *has);

/* Whether the target's operations are those of a catalog fed by the API
 * alone (no feed data source: UPSERT allowed): the target's override when
 * set, else what the last check found. An unknown catalog counts as one
 * with a feed source: CREATE and UPDATE work on both kinds. */
int ps_catalog_api_owned(const ps_target *target);

/* The order of ps_answer_readback_of()'s results (answers.h). */
typedef enum ps_rb_state {
	PS_RB_PRESENT, /* Pinterest holds the item: attributes given */
	PS_RB_ERROR,   /* it came back as an error item: absent, or unknown */
	PS_RB_UNKNOWN  /* no usable answer for it */
} ps_rb_state;

/* Called once per id asked for: value is the item's attributes (a JSON
 * object, PRESENT) or its errors (ERROR), NULL otherwise; borrowed for the
 * call. Return non-zero to stop. */
typedef int (*ps_readback_cb)(void *ctx, const char *item_id, ps_rb_state state, yajl_val value);

/* Reads ids back from the target's catalog, PS_READBACK_MAX a request, in
 * the target's country and language. Every id gets exactly one callback,
 * also when a request fails (then UNKNOWN for its ids and those after:
 * the call returns that request's PS_PIN_* code). Returns 0, the PS_PIN_*
 * code of the first failed request, or the callback's non-zero value. */
int ps_catalog_read(ps_pin *pin, const ps_target *target, const char *const *ids, size_t count,
                    ps_readback_cb cb, void *ctx);

#endif /* PS_SYNC_CATALOG_H */
