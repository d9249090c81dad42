/*
 * poller.h: batches on their way through Pinterest.
 *
 * The poller sends a batch (written to the journal first, its batch_id
 * recorded as soon as Pinterest returns it), keeps at most max_inflight
 * batches unfinished, polls each with its own backoff (a first poll after
 * poll_initial_ms, doubling to poll_max_ms) until COMPLETED or FAILED, and
 * records every item's result with the snapshot advance in one transaction.
 * A batch Pinterest no longer knows (404 code 4331) is marked lost and its
 * items go out again in a new batch; a batch skipped as a recent duplicate
 * (created_time null) has its items marked SKIPPED, so they stay dirty. A
 * batch still processing past poll_timeout_s is left in the journal for
 * `pinsync poll` and counted as pending.
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
	int batches;        /* batches sent (lost ones sent again count again) */
	int64_t succeeded;  /* items with SUCCESS */
	int64_t failed;     /* items with FAILURE, or in a batch refused whole */
	int64_t skipped;    /* items of batches skipped as duplicates */
	int lost;           /* batches Pinterest lost (4331) */
	size_t pending;     /* batches left unfinished (deadline passed) */
} ps_poller_stats;

/* db, pin and target are borrowed and must outlive the poller; run_id is
 * the run new batches belong to. */
int ps_poller_new(ps_poller **out, ps_db *db, ps_pin *pin, const ps_target *target,
                  int64_t run_id, const ps_settings *settings);
void ps_poller_free(ps_poller *p);

/* Journals, sends and tracks b (which is closed here and reset after).
 * Waits first while max_inflight batches are unfinished. A batch Pinterest
 * refuses whole (a 4xx answer) is recorded as failed and is not an error. */
int ps_poller_send(ps_poller *p, ps_batch *b);

/* Recovers a batch planned but never confirmed sent (the process died
 * around its POST): reads its items back from Pinterest (POST
 * /catalogs/items), records those found exactly as the journal says as
 * SUCCESS (advancing the snapshot), and leaves the others dirty for the
 * next run. The batch becomes 'abandoned'. */
int ps_poller_recover(ps_poller *p, int64_t batch_pk);

/* Tracks a batch sent earlier (by a run that did not finish it). */
int ps_poller_adopt(ps_poller *p, int64_t batch_pk, const char *batch_id);

/* Polls until at most max_pending batches are unfinished (0: all), or
 * until the deadline of every remaining batch passed. */
int ps_poller_wait(ps_poller *p, size_t max_pending);

const ps_poller_stats *ps_poller_stats_get(const ps_poller *p);
/* Batches sent and not finished yet. */
size_t ps_poller_unfinished(const ps_poller *p);
int ps_poller_exit_code(const ps_poller *p); /* PS_EXIT_OK when no error */
const char *ps_poller_error(const ps_poller *p);

#endif /* PS_SYNC_POLLER_H */
