/*
 * poller.h: batches on their way through Pinterest, until every item has a
 * verdict or is known to have none.
 *
 * The poller sends a batch (written to the journal first, its batch_id
 * recorded as soon as Pinterest returns it), keeps at most max_inflight
 * batches unfinished, polls each with its own backoff (a first poll after
 * poll_initial_ms, doubling to poll_max_ms) until COMPLETED or FAILED, and
 * records every item's result with the snapshot advance in one transaction.
 *
 * Every item sent ends in exactly one state (DESIGN invariant 7):
 *   accepted  SUCCESS: the snapshot advanced;
 *   rejected  FAILURE that is the item's own (see follow-ups below), or
 *             a one-item batch Pinterest refused whole: recorded with
 *             Pinterest's code and message;
 *   pending   no verdict: not reported, PROCESSING or a status pinsync
 *             does not know (logged raw) in a finished batch, a FAILED
 *             batch without item records, a batch skipped as a recent
 *             duplicate (created_time null), lost (404 code 4331) more than
 *             MAX_RESENDS times, or still processing past poll_timeout_s
 *             (left in the journal for `pinsync poll`). The snapshot does
 *             not move: the next run sends the item again.
 *
 * Follow-ups: a FAILURE of an item planned from the feed may mean that
 * Pinterest's state differs from the snapshot (an item that exists
 * already, one deleted outside pinsync, a catalog that gained a feed data
 * source and refuses UPSERT: checked again, once per run), whatever its
 * code. The poller
 * reads such items back (POST /catalogs/items) and acts on what Pinterest
 * holds: an item present is sent as what it lacks (UPSERT on a catalog
 * without a feed data source, else an UPDATE of the attributes that
 * differ, or DELETE then CREATE when an image differs), or recorded as
 * accepted when it already holds the item; an item absent is created (a
 * failed UPSERT) or forgotten by the snapshot so that the next run sends
 * it whole (a failed UPDATE); a DELETE whose item is absent is accepted.
 * When the read-back agrees with the operation (a CREATE refused for an
 * absent item), the failure is the item's own: rejected. When it says
 * nothing usable, the item is pending. Follow-up operations go out in
 * batches of their own; their failures are verdicts.
 *
 * A batch Pinterest refuses whole with HTTP 400 or 413 is split in halves,
 * sent again, recursively, until the items the API refuses are isolated
 * (each then rejected with the API's message); at most MAX_SPLIT_POSTS
 * such POSTs per run, after which a refused batch's items are rejected
 * together. A batch Pinterest lost (404 code 4331) goes out again.
 *
 * Errors: a function returning -1 has set the poller's exit code (PS_EXIT_*)
 * and message, already logged; later calls keep the first.
 */
#ifndef PS_SYNC_POLLER_H
#define PS_SYNC_POLLER_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "db.h"
#include "pinterest.h"
#include "settings.h"

typedef struct ps_poller ps_poller;

typedef struct ps_poller_stats {
	int batches;            /* batches POSTed (a lost one sent again, a half of a
	                           split one, a follow-up: each counts) */
	int64_t succeeded;      /* items accepted */
	int64_t failed;         /* items rejected */
	int64_t pending;        /* items without a verdict */
	int64_t skipped;        /* of those, in batches skipped as duplicates */
	int64_t followed_up;    /* failures that a read-back showed were a
	                           difference of state, and were acted on */
	int lost;               /* batches Pinterest lost (4331) */
	int split;              /* batches refused whole and split */
	size_t pending_batches; /* batches left unfinished (deadline passed) */
} ps_poller_stats;

/* db, pin and target are borrowed and must outlive the poller; run_id is
 * the run new batches belong to. The poller updates the target's catalog
 * ownership when UPSERTs fail and a new check finds a feed data source. */
int ps_poller_new(ps_poller **out, ps_db *db, ps_pin *pin, ps_target *target, int64_t run_id,
                  const ps_settings *settings);
void ps_poller_free(ps_poller *p);

/* Journals, sends and tracks b (which is closed here and reset after).
 * Waits first while max_inflight batches are unfinished. A batch Pinterest
 * refuses whole (a 4xx answer) is split or rejected and is not an error. */
int ps_poller_send(ps_poller *p, ps_batch *b);

/* An item whose image changed on a catalog with a feed data source, where
 * UPDATE cannot carry images and UPSERT is refused: the poller sends a
 * DELETE now and, once Pinterest confirms it, a CREATE of item (copied).
 * Returns 0, 1 when the poller holds PS_RECREATE_MAX such items already
 * (the item is not sent: pending until the next run), -1 on error. */
#define PS_RECREATE_MAX 1000
int ps_poller_recreate(ps_poller *p, const ps_item *item);

/* Forgets the counters (after finishing an earlier run's batches, whose
 * items the new run plans again). */
void ps_poller_stats_reset(ps_poller *p);

/* Recovers a batch planned but never confirmed sent (the process died
 * around its POST): reads its items back from Pinterest (POST
 * /catalogs/items), records those found exactly as the journal says as
 * SUCCESS (advancing the snapshot), and leaves the others dirty for the
 * next run. It never guesses: an answer that does not parse, an id that
 * comes back as an error, and any DELETE (absence is never proven) leave
 * the item dirty. The batch becomes 'abandoned'. */
int ps_poller_recover(ps_poller *p, int64_t batch_pk);

/* Tracks a batch sent earlier (by a run that did not finish it). */
int ps_poller_adopt(ps_poller *p, int64_t batch_pk, const char *batch_id);

/* Polls until at most max_pending batches are unfinished, or until the
 * deadline of every remaining batch passed. With max_pending 0 it also
 * sends the follow-up operations and waits for them: every item then has
 * its final state for this run. */
int ps_poller_wait(ps_poller *p, size_t max_pending);

const ps_poller_stats *ps_poller_stats_get(const ps_poller *p);
/* Batches sent and not finished yet. */
size_t ps_poller_unfinished(const ps_poller *p);
int ps_poller_exit_code(const ps_poller *p); /* PS_EXIT_OK when no error */
const char *ps_poller_error(const ps_poller *p);

#endif /* PS_SYNC_POLLER_H */
