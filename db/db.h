/*
 * db: pinsync's state in PostgreSQL, through libpq.
 *
 * A ps_db is one connection. It owns: the migrations runner, targets, the
 * snapshot of what Pinterest accepted (loaded with COPY, advanced only from
 * item results that say SUCCESS), runs, the batch journal (planned -> sent ->
 * completed/failed/lost) with every item's result, local item problems and
 * the OAuth tokens. It never includes feeds/ or sync/: callers hand it ids,
 * hashes and attribute JSON as plain strings.
 *
 * Errors: fallible functions return 0 or a negative PS_DB_* code; the message
 * (with the SQLSTATE where there is one) is kept in the ps_db and read with
 * ps_db_error(). Nothing here logs.
 *
 * Ownership: strings inside structs filled by this module are malloc'ed and
 * released by the matching *_clear()/free function named beside the struct.
 */
#ifndef PS_DB_H
#define PS_DB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PS_DB_OK 0
#define PS_DB_ERROR -1    /* a query failed; see ps_db_error() */
#define PS_DB_NOTFOUND -3 /* no such row */
#define PS_DB_CONNECT -50 /* cannot connect */
#define PS_DB_EXISTS -51  /* unique violation, e.g. target name taken */
#define PS_DB_BUSY -52    /* a lock is held by another process */
#define PS_DB_SESSION -53 /* the connection keeps no session of its own (a pooler) */

typedef struct ps_db ps_db;

/* Connects with a libpq connection string or URI (NULL or "" uses the
 * PG* environment). On failure *out is still set (free it) so that
 * ps_db_error() can tell why; the message never contains the password.
 * A connection through a pooler that does not keep the session (pgbouncer
 * in transaction or statement mode) is refused with PS_DB_SESSION: the
 * locks and settings pinsync relies on live in the session (conn.c). */
int ps_db_connect(ps_db **out, const char *conninfo);
void ps_db_close(ps_db *db);

/*
 * Timeouts. Opening a connection is always bounded: by the conninfo's
 * connect_timeout (or PGCONNECT_TIMEOUT) when it has one, else 10 s. A
 * statement is bounded only when a timeout is set: the server ends one
 * that runs longer (statement_timeout), and the client stops waiting for
 * an answer that does not come at all (a stalled server, where
 * statement_timeout does nothing) a moment later; the call then fails with
 * "WHAT: the database did not answer within N s" and the connection is
 * closed (ps_db_usable() is then 0: reconnect). Rows streamed by COPY are
 * not bounded.
 */

typedef struct ps_db_options {
	/* Bound on the connection and on each statement (0: statements
	 * unbounded, as ps_db_connect()). Serve mode's own connections use a
	 * short one; a sync's, none (a first sync's statements take seconds at
	 * a million items). */
	long timeout_ms;
	/* What pg_stat_activity and the server's log (%a) call the connection
	 * when the conninfo names nothing (NULL: libpq's default). */
	const char *application_name;
} ps_db_options;

#define PS_DB_OPTIONS_INIT                                \
	{                                                 \
		.timeout_ms = 0, .application_name = NULL \
	}

/* ps_db_connect() with options (NULL: the defaults). */
int ps_db_connect_opts(ps_db **out, const char *conninfo, const ps_db_options *o);

/* Ends db's connection at the socket, from another thread, so that a call
 * waiting on it returns at once with an error (a stop that must not wait
 * on a database that stopped answering). The owner still closes db. */
void ps_db_interrupt(ps_db *db);

/* Sets (0: removes) the bound on db's later statements, on both sides;
 * 0 or PS_DB_ERROR. */
int ps_db_set_timeout(ps_db *db, long timeout_ms);

/* 1 while db's connection is open and good, 0 after a timeout or a lost
 * link closed it (or for NULL). */
int ps_db_usable(const ps_db *db);
const char *ps_db_error(const ps_db *db);

/* A function called at named points inside db/ transactions, for the
 * fault-injection tests (sync/control.c's crash points); NULL: none. */
typedef void (*ps_db_hook_fn)(const char *point);
void ps_db_set_hook(ps_db *db, ps_db_hook_fn fn);

/* Runs sql (no parameters, no result wanted). For tests and admin. */
int ps_db_exec(ps_db *db, const char *sql);

/* ---- migrations (migrate.c) ---- */

typedef struct ps_migration {
	const char *name; /* "0001_init.sql": the number orders, the name tells */
	const char *sql;
} ps_migration;

/* The migrations compiled into the binary, ending with {NULL, NULL}. */
extern const ps_migration ps_migrations_embedded[];

/* Reads dir/NNNN_*.sql into a NULL-terminated array (sorted by name), to
 * free with ps_db_migrations_free(). */
int ps_db_migrations_load(ps_migration **out, const char *dir, char *err, size_t errlen);
void ps_db_migrations_free(ps_migration *list);

/* Applies every migration of list not yet recorded in schema_migrations,
 * in order, each in its own transaction, under an advisory lock so that two
 * migrators never interleave. *applied counts what was applied now. A
 * failing migration is rolled back and the error names its file. */
int ps_db_migrate(ps_db *db, const ps_migration *list, int *applied);

/* 0 when every migration of list is applied, PS_DB_NOTFOUND otherwise. Two
 * queries, then none: the answer OK is kept for the connection. */
int ps_db_migrated(ps_db *db, const ps_migration *list);

/* ---- targets (targets.c) ---- */

typedef struct ps_target {
	int64_t id;
	char *name;
	char *feed;
	char *format; /* auto | xml | csv | tsv */
	char *catalog_id;
	char *country;
	char *language;
	char *ad_account_id; /* NULL when unset */
	char *on_missing;    /* delete | out-of-stock | keep */
	double max_delete_ratio;
	int api_owned;  /* override of feed_source: 1 the catalog has no feed
	                   data source, 0 it has one, -1 follow the check */
	char *map_file; /* NULL when unset, as the four below */
	char *preset;
	char *base_url;
	char *currency;
	long schedule_s; /* 0: no schedule */
	char *webhook_secret_file;
	int feed_source;               /* the catalog has a feed data source: 1, 0,
	                                  -1 never checked or the check failed */
	time_t feed_source_checked_at; /* when it was checked; 0 never */
	char *feed_password_file;      /* the password of the feed URL's user, or
	                                  NULL (PINSYNC_FEED_PASSWORD_FILE then) */
} ps_target;

void ps_target_clear(ps_target *t);

/* Inserts t (t->id is set on return). PS_DB_EXISTS when the name is taken. */
int ps_db_target_add(ps_db *db, ps_target *t);
int ps_db_target_get(ps_db *db, const char *name, ps_target *out);

/* Sets one option of a target: column is one of the option columns
 * (on_missing, max_delete_ratio, api_owned, map_file, preset, base_url,
 * currency, schedule_s, webhook_secret_file, feed_password_file, feed,
 * format, catalog_id, country, language, ad_account_id); value NULL sets SQL NULL. The
 * database checks the value. PS_DB_NOTFOUND for an unknown target. */
int ps_db_target_set(ps_db *db, const char *name, const char *column, const char *value);

/* Records what Pinterest said of the target's catalog: has_feed_source 1
 * or 0 (checked now), or -1 (the check failed: the answer is forgotten). */
int ps_db_target_ownership_set(ps_db *db, int64_t target_id, int has_feed_source);

/* Validators of the target's feed source for conditional GET (NULL when
 * none); _set records them after a feed read to its end. Strings returned
 * are malloc'ed. */
int ps_db_target_source_get(ps_db *db, int64_t target_id, char **etag, char **last_modified);
int ps_db_target_source_set(ps_db *db, int64_t target_id, const char *etag,
                            const char *last_modified);
/* All targets ordered by name; free with ps_db_targets_free(). */
int ps_db_target_list(ps_db *db, ps_target **out, size_t *count);
void ps_db_targets_free(ps_target *list, size_t count);

/* ---- one sync at a time per target (invariant 4) ---- */

/* Session advisory lock on the target: 0 when taken, PS_DB_BUSY when another
 * session holds it. Released by ps_db_target_unlock() or the connection's end. */
int ps_db_target_trylock(ps_db *db, int64_t target_id);
int ps_db_target_unlock(ps_db *db, int64_t target_id);

/* ---- snapshot (snapshot.c) ---- */

/* Called once per snapshot row; return non-zero to stop with that code. */
typedef int (*ps_db_snapshot_cb)(void *ctx, const char *item_id, size_t id_len, uint64_t hash);

/* Streams (item_id, hash) of the target's snapshot with COPY ... TO STDOUT. */
int ps_db_snapshot_load(ps_db *db, int64_t target_id, ps_db_snapshot_cb cb, void *ctx);

/* Called once per (item_id, hash, attribute fingerprint) of
 * ps_db_snapshot_get; fp is NULL (fp_len 0) when the row has none. Return
 * non-zero to stop. */
typedef int (*ps_db_fp_cb)(void *ctx, const char *item_id, uint64_t hash, const unsigned char *fp,
                           size_t fp_len);

/* The attribute fingerprints of what Pinterest accepted for the given ids
 * (those in the snapshot; ids missing from it are not reported). The
 * fingerprint is opaque here: sync/changes.h defines it. */
int ps_db_snapshot_get(ps_db *db, int64_t target_id, const char *const *ids, size_t count,
                       ps_db_fp_cb cb, void *ctx);

/* Removes items from the target's snapshot (Pinterest does not hold them:
 * the next run sends them whole). */
int ps_db_snapshot_forget(ps_db *db, int64_t target_id, const char *const *ids, size_t count);

/* Drift: items Pinterest holds otherwise than the snapshot says. Each gets
 * hash (a value no content hash takes, so the next diff sees the item
 * changed) and the fingerprint of what Pinterest holds (fp_len bytes, or
 * NULL: unknown), so that the next run sends what differs. */
int ps_db_snapshot_mark(ps_db *db, int64_t target_id, const char *item_id, uint64_t hash,
                        const unsigned char *fp, size_t fp_len);

/* Up to limit rows of the snapshot (item_id, hash, fp): with after NULL a
 * random sample, else the rows after item id 'after' in id order ("" for
 * the first page), to read the whole snapshot a page at a time. */
int ps_db_snapshot_page(ps_db *db, int64_t target_id, const char *after, int limit, ps_db_fp_cb cb,
                        void *ctx);

/* About the number of items in the target's snapshot, cheaply: how many
 * the target's last finished run parsed (0 before the first). To size a
 * map that can still grow, never to count. */
int ps_db_snapshot_size_hint(ps_db *db, int64_t target_id, int64_t *hint);

/* ---- runs (runs.c) ---- */

typedef struct ps_run_counts {
	int64_t parsed, invalid, created, updated, deleted, unchanged, failed;
	int64_t pending;   /* sent without a verdict: dirty, sent again next run */
	int drift_checked; /* items read back to look for drift */
	int drift;         /* of those, items Pinterest holds otherwise */
	int batches;
	int retries;         /* API calls retried */
	double retry_wait_s; /* time spent waiting to retry */
	int64_t feed_bytes;  /* bytes read from the source */
} ps_run_counts;

typedef struct ps_run_row {
	int64_t id;
	char *target;
	char *trigger;
	int dry_run;
	char *started_at;  /* text, as PostgreSQL prints it */
	char *finished_at; /* NULL while running */
	double seconds;    /* duration so far */
	char *outcome;
	char *error; /* NULL when none */
	ps_run_counts counts;
} ps_run_row;

int ps_db_run_start(ps_db *db, int64_t target_id, const char *trigger, int dry_run,
                    int64_t *run_id);
/* Closes the target's runs still marked running as interrupted (their
 * process died): call it holding the target's lock. */
int ps_db_runs_close_stale(ps_db *db, int64_t target_id);

/* Records the end of a run: outcome is one of ok, partial, failed, held,
 * interrupted; error may be NULL. */
int ps_db_run_finish(ps_db *db, int64_t run_id, const char *outcome, const char *error,
                     const ps_run_counts *counts);
/* The last 'limit' runs, newest first, of one target (NULL: all targets). */
int ps_db_run_list(ps_db *db, const char *target, int limit, ps_run_row **out, size_t *count);
void ps_db_runs_free(ps_run_row *rows, size_t count);

/* Records local validation problems of a run: ps_db_problems_begin, then
 * _add for each (buffered, written with COPY in large chunks), then _end,
 * which writes the rest. Other queries may run in between. */
int ps_db_problems_begin(ps_db *db, int64_t run_id);
int ps_db_problems_add(ps_db *db, const char *item_id, const char *place, const char *attribute,
                       const char *code, const char *message);
int ps_db_problems_end(ps_db *db);

/* ---- batch journal (batches.c) ---- */

/* One item of a planned batch: hash and fp are what the snapshot takes if
 * Pinterest accepts it. Its attributes travel in the batch's body. */
typedef struct ps_batch_item {
	const char *item_id;
	const char *operation; /* CREATE | UPDATE | UPSERT | DELETE */
	uint64_t hash;
	const unsigned char *fp; /* fingerprint of all the item's attributes,
	                            NULL when none (DELETE, out of stock: the
	                            snapshot row then keeps its fingerprint) */
	size_t fp_len;
	const char *update_mask; /* JSON array for UPDATE, else NULL */
	size_t update_mask_len;
	int is_new; /* new to the snapshot: counts as created (an UPSERT too) */
} ps_batch_item;

/* Writes a batch down as 'planned', in one transaction, before it is sent
 * (invariant 2): body (the request body as it will be sent, body_len bytes)
 * once, and one narrow row per item. Returns its primary key in *batch_pk. */
int ps_db_batch_plan(ps_db *db, int64_t run_id, int64_t target_id, int seq, const char *body,
                     size_t body_len, const ps_batch_item *items, size_t count, int64_t *batch_pk);

/* Records Pinterest's batch_id for a planned batch: state becomes 'sent'. */
int ps_db_batch_sent(ps_db *db, int64_t batch_pk, const char *batch_id);

/* What a finished batch said of its items. */
typedef struct ps_batch_counts {
	int64_t succeeded; /* SUCCESS: the snapshot advanced */
	int64_t failed;    /* FAILURE */
	int64_t pending;   /* no verdict: not reported, PROCESSING, or a status
	                      pinsync does not know */
} ps_batch_counts;

/* Records a batch's final answer and advances the snapshot, in one
 * transaction: results_json is a JSON array of
 * {"item_id","status","errors":[...],"warnings":[...]}; state is
 * "completed", "failed" or "abandoned". Snapshot rows change only for
 * items whose status is SUCCESS (invariant 1): their hash and fingerprint
 * are taken from the journal, and a successful DELETE removes the row. The
 * results go to batch_results; a status other than SUCCESS, FAILURE and
 * PROCESSING is recorded as no verdict (NULL), never refused. */
int ps_db_batch_finish(ps_db *db, int64_t batch_pk, const char *state, const char *results_json,
                       ps_batch_counts *counts);

/* Called once per journaled item: its operation, attributes (JSON object
 * or NULL) and update_mask (JSON array or NULL), as read back from the
 * batch's stored body. Return non-zero to stop. */
typedef int (*ps_db_journal_cb)(void *ctx, const char *item_id, const char *operation,
                                const char *attributes, const char *update_mask);

/* The items of a batch with the given result status ("FAILURE"), or NULL:
 * those without a result yet. In item id order. */
int ps_db_batch_items(ps_db *db, int64_t batch_pk, const char *status, ps_db_journal_cb cb,
                      void *ctx);

/* Records what pinsync did about items of a finished batch after reading
 * them back: resolutions_json is a JSON array of {"item_id", "resolution"
 * (text), "status" (optional: replaces the recorded status, e.g. SUCCESS
 * for a DELETE whose item Pinterest does not hold)}. */
int ps_db_batch_resolve(ps_db *db, int64_t batch_pk, const char *resolutions_json);

/* Pinterest skipped a batch as a recent duplicate (created_time null):
 * its items are marked SKIPPED (they stay dirty) and the batch completed.
 * *count is the number of items marked. */
int ps_db_batch_skip(ps_db *db, int64_t batch_pk, int64_t *count);

/* A batch of the journal not finished yet. */
typedef struct ps_open_batch {
	int64_t batch_pk;
	int64_t run_id;
	char *batch_id; /* NULL while only planned */
	char *state;    /* planned | sent */
	int item_count;
} ps_open_batch;

/* The target's batches in state planned or sent, oldest first; free with
 * ps_db_open_batches_free(). */
int ps_db_open_batches(ps_db *db, int64_t target_id, ps_open_batch **out, size_t *count);
void ps_db_open_batches_free(ps_open_batch *list, size_t count);

/* Plans a new batch of run_id holding the items of batch from_pk whose
 * result is unknown (a lost batch goes out again; half of a batch refused
 * whole), and builds its request body from the journal: *body (malloc'ed
 * JSON) is ready to POST. first and limit select a range of those items in
 * item id order (limit 0: all from first on). *count is the number of
 * items (0: nothing to resend, no batch planned). */
typedef struct ps_replan {
	int64_t from_pk;
	int64_t run_id;
	int seq;
	const char *catalog_id, *country, *language;
	size_t first, limit;
} ps_replan;

int ps_db_batch_replan(ps_db *db, const ps_replan *rp, int64_t *batch_pk, char **body,
                       size_t *count);

/* Recomputes a run's created/updated/deleted/failed counts and its outcome
 * from the journal (after pinsync poll finished its batches). */
int ps_db_run_recount(ps_db *db, int64_t run_id);

/* Marks a batch lost (404 code 4331) or failed before sending, with why. */
int ps_db_batch_mark(ps_db *db, int64_t batch_pk, const char *state, const char *error);

/* Counts of the items of a run per operation, from the journal. */
int ps_db_run_operation_counts(ps_db *db, int64_t run_id, int64_t *created, int64_t *updated,
                               int64_t *deleted);

/* ---- item errors (report.c) ---- */

typedef struct ps_item_error {
	int64_t run_id;
	char *item_id;
	char *operation; /* NULL for local problems */
	char *state;     /* "rejected" (locally or by Pinterest) or "pending" */
	char *place;     /* "local" place or "pinterest" */
	char *attribute;
	char *code;
	char *message;
} ps_item_error;

/* Every item of a run (run_id 0: the target's last run) that is not in
 * sync: rejected locally or by Pinterest, with the reason, or pending (sent
 * without a verdict), with what happened; in item order. */
int ps_db_item_errors(ps_db *db, const char *target, int64_t run_id, ps_item_error **out,
                      size_t *count);
void ps_db_item_errors_free(ps_item_error *rows, size_t count);

/* ---- OAuth tokens (tokens.c) ---- */

typedef struct ps_tokens {
	char *access_token;
	char *refresh_token;       /* NULL when none */
	time_t access_expires_at;  /* 0 when unknown */
	time_t refresh_expires_at; /* 0 when unknown */
	/* Filled by ps_db_tokens_refresh_begin() only, never stored from here:
	 * when the answer to a refresh sent with refresh_token was lost (0:
	 * never) and what happened then (NULL when none). */
	time_t refresh_lost_at;
	char *refresh_lost_detail;
} ps_tokens;

void ps_tokens_clear(ps_tokens *t);
/* Stores (replaces) the tokens of client_id, committed when it returns;
 * clears the mark of a lost refresh answer: these tokens are new. */
int ps_db_tokens_set(ps_db *db, const char *client_id, const ps_tokens *t);
/* PS_DB_NOTFOUND when client_id has no tokens: the error names the client
 * id looked for and those that have tokens (as ps_db_tokens_info and
 * ps_db_tokens_refresh_begin do); PS_DB_ERROR when the query failed. */
int ps_db_tokens_get(ps_db *db, const char *client_id, ps_tokens *out);

/*
 * One refresher at a time, across processes (invariant 5):
 * ps_db_tokens_refresh_begin() opens a transaction, locks client_id's row
 * (SELECT ... FOR UPDATE, waiting at most lock_timeout_s for another
 * refresher to finish) and returns the tokens as they are stored now, to
 * free with ps_tokens_clear(). Then exactly one of:
 *   ps_db_tokens_refresh_commit(): stores the rotated tokens, clears the
 *     mark of a lost refresh answer and COMMITs: when it returns 0 they are
 *     durable and the lock is released;
 *   ps_db_tokens_refresh_lost(): records that the answer to the refresh
 *     just sent with the locked refresh token was lost (when: now; detail:
 *     what happened, never a token) and COMMITs: when it returns 0 the mark
 *     is durable and the lock is released;
 *   ps_db_tokens_refresh_abort(): ROLLBACK, nothing stored, lock released.
 * The connection must not be used for anything else in between. begin
 * returns PS_DB_NOTFOUND (no transaction left open) when no tokens are
 * stored; commit and lost roll back and release the lock when they fail.
 */
int ps_db_tokens_refresh_begin(ps_db *db, const char *client_id, double lock_timeout_s,
                               ps_tokens *out);
int ps_db_tokens_refresh_commit(ps_db *db, const char *client_id, const ps_tokens *t);
int ps_db_tokens_refresh_lost(ps_db *db, const char *client_id, const char *detail);
void ps_db_tokens_refresh_abort(ps_db *db);

/* What `pinsync auth status` shows: never the tokens themselves. */
typedef struct ps_tokens_info {
	int has_refresh_token;
	time_t access_expires_at;  /* 0 when unknown */
	time_t refresh_expires_at; /* 0 when unknown */
	time_t updated_at;
	time_t refresh_lost_at;        /* 0: no refresh answer lost since */
	char refresh_lost_detail[512]; /* what happened then ("" when none) */
} ps_tokens_info;

/* Reads the expiries of client_id's tokens and the mark of a lost refresh
 * answer (no token is read at all). PS_DB_NOTFOUND when none are stored. */
int ps_db_tokens_info(ps_db *db, const char *client_id, ps_tokens_info *out);

/* ---- jobs: the queue of serve mode, its scheduler, metrics (jobs.c) ----
 *
 * A job asks for one sync of one target (trigger webhook, schedule or
 * manual). Every `pinsync serve` process shares the table: a worker claims
 * the oldest due job with FOR UPDATE SKIP LOCKED and holds a lease on it
 * that it renews while the sync runs; a job whose lease ran out (its worker
 * died) is claimed again. At most one job per target is queued at a time,
 * so a burst of requests coalesces into one pending job (plus the one
 * running). One sync per target at a time is still guaranteed by the
 * target's advisory lock (invariant 4), not by the queue.
 */

typedef struct ps_job {
	int64_t id;
	int64_t target_id;
	char *target;  /* the target's name */
	char *trigger; /* webhook | schedule | manual | reconcile */
	int attempts;  /* claims so far, this one included */
} ps_job;

/* Frees the strings of j (accepts NULL). */
void ps_job_clear(ps_job *j);

/* Queues a sync of target_id. *job_id is the new job's id, or 0 when a job
 * of that target was already queued and absorbed this request. */
int ps_db_job_enqueue(ps_db *db, int64_t target_id, const char *trigger, int64_t *job_id);

/* Claims the next due job for worker (a name unique to the process) with a
 * lease of lease_s seconds: a queued job whose target has no job running
 * under a live lease, or a running job whose lease expired. Fills out (free
 * with ps_job_clear); PS_DB_NOTFOUND when there is none. */
int ps_db_job_claim(ps_db *db, const char *worker, double lease_s, ps_job *out);

/* Extends the lease of a job worker still holds by lease_s, unless the job
 * was claimed more than max_age_s ago (0: no limit; the run's deadline
 * plus a grace): *renewed is then 0 (the lease runs out and another
 * process may take the job over). *age_s: the seconds since the claim.
 * PS_DB_NOTFOUND when the job is no longer running under worker (another
 * claimed it). */
int ps_db_job_renew(ps_db *db, int64_t job_id, const char *worker, double lease_s, double max_age_s,
                    int *renewed, double *age_s);

/* Ends a job worker holds: state is "done" or "failed", exit_code the
 * run's PS_EXIT_* code, error NULL or a message. Links the job to the run
 * its sync recorded. PS_DB_NOTFOUND when worker no longer holds it. */
int ps_db_job_finish(ps_db *db, int64_t job_id, const char *worker, const char *state,
                     int exit_code, const char *error);

/* Puts a job worker holds back in the queue, due in delay_s seconds (its
 * target was busy). When another job of the target is already queued, this
 * one is ended instead ("done", error why) since that job covers it. */
int ps_db_job_requeue(ps_db *db, int64_t job_id, const char *worker, double delay_s,
                      const char *why);

/* ---- webhook deliveries (webhooks.c) ----
 *
 * Replay protection for senders that mark each delivery with an id
 * (Shopify, WooCommerce, a relay) instead of a signed timestamp: a delivery
 * id is remembered per target for the replay window, and a signed request
 * whose id was seen within it is a replay.
 */

/* Queues a webhook's sync of target_id as ps_db_job_enqueue() does. With a
 * delivery id (NULL: none, nothing remembered), in the same statement: when
 * the id was seen for the target less than window_s seconds ago, *replay is
 * 1 and nothing is queued; otherwise the id is remembered from now on and
 * the sync queued (*job_id, or 0 when coalesced). A request that fails
 * leaves no trace, so that its retry is not taken for a replay. */
int ps_db_webhook_enqueue(ps_db *db, int64_t target_id, const char *delivery, long window_s,
                          int64_t *job_id, int *replay);

/* Forgets delivery ids seen more than window_s seconds ago, up to 10000 a
 * call; *pruned is the number forgotten. */
int ps_db_webhook_prune(ps_db *db, long window_s, int64_t *pruned);

/* The scheduler's tick: every target with a schedule whose next_run_at has
 * passed (or was never set) gets next_run_at moved on by its schedule and
 * a "schedule" job queued, in one statement, so that however many serve
 * processes tick at once each due sync is queued once. With
 * reconcile_every_s > 0, a target whose next_reconcile_at has passed gets
 * a "reconcile" job the same way. *count is the number of jobs due. */
int ps_db_schedule_tick(ps_db *db, long reconcile_every_s, int *count);

/* The figures /metrics shows, read from the tables at scrape time (so they
 * are the same whichever process is scraped), at a cost that does not
 * grow with the journal: totals kept by triggers (metric_totals) and what
 * is under way. Counters keep their values when old rows are pruned. */
typedef enum ps_db_metric {
	PS_DB_M_RUNS,             /* target, outcome: runs finished */
	PS_DB_M_RUNS_RUNNING,     /* target: runs not finished */
	PS_DB_M_ITEMS,            /* target, operation, result: items sent */
	PS_DB_M_ITEMS_INVALID,    /* target: items refused locally */
	PS_DB_M_BATCHES,          /* target, state: batches of the journal */
	PS_DB_M_BATCHES_INFLIGHT, /* target: batches planned or sent */
	PS_DB_M_RETRIES,          /* target: API calls retried */
	PS_DB_M_RETRY_WAIT,       /* target: seconds waited before retries */
	PS_DB_M_LAST_SUCCESS,     /* target: Unix time of the last ok run */
	PS_DB_M_LAST_DURATION,    /* target: seconds the last finished run took */
	PS_DB_M_FEED_BYTES,       /* target: feed bytes read */
	PS_DB_M_FEED_ITEMS,       /* target: feed items parsed */
	PS_DB_M_JOBS,             /* state: jobs per state */
	PS_DB_M_QUEUE_DEPTH,      /* jobs queued */
	PS_DB_M_PENDING,          /* target: items pending after the last finished run */
	PS_DB_M_DRIFT,            /* target: items that differed on Pinterest in the last
	                             run's read-back sample */
	PS_DB_M_QUEUE_OLDEST,     /* seconds the oldest queued job has waited */
	PS_DB_M_REFRESH_EXPIRY,   /* client_id: Unix time its refresh token expires */
	PS_DB_M_COUNT
} ps_db_metric;

/* Called once per figure; l1 and l2 are the labels named above ("" when
 * the figure has fewer). Return non-zero to stop with that code. */
typedef int (*ps_db_metric_cb)(void *ctx, ps_db_metric metric, const char *target, const char *l1,
                               const char *l2, double value);

/* Reports every figure, grouped by metric in enum order. */
int ps_db_metrics(ps_db *db, ps_db_metric_cb cb, void *ctx);


/* ---- retention (prune.c) ----
 *
 * Removes what the journal no longer needs, in small transactions (at most
 * about PS_DB_PRUNE_ROWS_PER_TX item rows and results each, or that many
 * problems, jobs or delivery ids), so that no lock is held for long and no
 * table is rewritten: the space freed is reused by later rows (autovacuum).
 *
 * A run goes with its batches, their bodies, items and results and its
 * item problems when it finished before the cutoff and none of these needs
 * it:
 *   - recovery: a run still 'running', and a run with a batch planned or
 *     sent (a later run or `pinsync poll` finishes those batches from the
 *     journal), are kept whatever their age;
 *   - `pinsync errors NAME`: the target's latest run that is no dry run;
 *   - the gauges of /metrics about "the last run": the latest finished run
 *     that is no dry run, the latest successful one;
 *   - `pinsync status`: the target's latest run and its keep_runs newest.
 * The snapshot (snapshot_items) is never touched. Jobs go when they ended
 * (done or failed) before the cutoff; webhook delivery ids when they are
 * older than the replay window.
 */

#define PS_DB_PRUNE_ROWS_PER_TX 10000

typedef struct ps_db_prune_options {
	long older_than_s;     /* runs and jobs that ended longer ago than this go */
	int keep_runs;         /* newest runs kept per target whatever their age */
	const char *target;    /* a target's name; NULL: every target */
	long webhook_window_s; /* delivery ids older than this go; 0: none */
	int dry_run;           /* count what would go, remove nothing */
	int max_transactions;  /* stop after this many (0: until done) */
} ps_db_prune_options;

#define PS_DB_PRUNE_OPTIONS_INIT                                                          \
	{.older_than_s = 30 * 86400, .keep_runs = 3, .target = NULL, .webhook_window_s = 0, \
	 .dry_run = 0, .max_transactions = 0}

/* What a prune removed (or, dry, would remove), per table. */
typedef struct ps_db_prune_counts {
	int64_t runs, batches, batch_items, batch_results, item_problems, jobs,
	    webhook_deliveries;
	int64_t body_bytes; /* stored (compressed) size of the batch bodies */
	int transactions;   /* transactions committed */
	int more;           /* stopped at max_transactions with work left */
} ps_db_prune_counts;

/* Prunes as o says, adding to *counts (zero it first). Only one prune runs
 * at a time across processes (a session advisory lock): PS_DB_BUSY when
 * another holds it (a dry run takes no lock). What was committed before a
 * failure stays removed and counted. */
int ps_db_prune(ps_db *db, const ps_db_prune_options *o, ps_db_prune_counts *counts);

#endif /* PS_DB_H */
