/*
 * metrics.h: what GET /metrics shows, in Prometheus text format 0.0.4.
 *
 * Most figures (runs, items, batches, retries, feed bytes, jobs) are read
 * from the database (ps_db_metrics), so every serve process shows the same
 * totals and nothing is lost when a process restarts; serve reads them at
 * most once per PINSYNC_METRICS_CACHE_S.
 * Figures that only a process knows (webhooks it answered, API answers it
 * got) are counters of this process, kept here with atomic increments so
 * that any thread may count.
 */
#ifndef PS_SYNC_METRICS_H
#define PS_SYNC_METRICS_H

#include "db.h"

/* What became of a webhook request. */
typedef enum ps_webhook_result {
	PS_WEBHOOK_QUEUED,       /* a job was queued */
	PS_WEBHOOK_COALESCED,    /* a job was already queued: nothing new */
	PS_WEBHOOK_UNAUTHORIZED, /* signature missing, malformed, wrong or stale */
	PS_WEBHOOK_NOT_FOUND,    /* correctly signed with the default secret, no such target */
	PS_WEBHOOK_TOO_LARGE,    /* body over PINSYNC_WEBHOOK_MAX_BYTES */
	PS_WEBHOOK_ERROR,        /* the database failed */
	PS_WEBHOOK_REPLAY,       /* signed, but its delivery id was seen: nothing queued */
	PS_WEBHOOK_BAD_REQUEST,  /* signed, but its delivery id is malformed */
	PS_WEBHOOK_RESULTS
} ps_webhook_result;

/* Counts one webhook (any thread). */
void ps_metrics_webhook(ps_webhook_result result);

/* Counts one answer of the Pinterest API (any thread): status is the HTTP
 * status, 0 for a transport error (no answer). Statuses above 599 are
 * counted as 0. 429s are also counted as rate-limited. */
void ps_metrics_api_response(int status);

/* Counts one job this process ran to its end, by final state ("done",
 * "failed" or "requeued"). */
void ps_metrics_job(const char *state);

/*
 * The database's families (ps_db_metrics), with their HELP and TYPE lines,
 * as exposition text: a malloc'ed, NUL-terminated string (*out, *len; the
 * caller frees it). Returns 0, or -1 when the database failed or memory ran
 * out (*out is then NULL). Serve mode caches what it returns (one read of
 * the database per PINSYNC_METRICS_CACHE_S however often it is scraped).
 */
int ps_metrics_render_db(ps_db *db, char **out, size_t *len);

/*
 * Writes the whole exposition into a malloc'ed, NUL-terminated string
 * (*out, *len; the caller frees it): db_text (db_len bytes, from
 * ps_metrics_render_db) or, when it is NULL, no database figures and
 * pinsync_database_up 0; then this process's own figures. Returns 0, or -1
 * when out of memory.
 */
int ps_metrics_render(const char *db_text, size_t db_len, char **out, size_t *len);

#endif /* PS_SYNC_METRICS_H */
