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

typedef struct ps_db ps_db;

/* Connects with a libpq connection string or URI (NULL or "" uses the
 * PG* environment). On failure *out is still set (free it) so that
 * ps_db_error() can tell why; the message never contains the password. */
int ps_db_connect(ps_db **out, const char *conninfo);
void ps_db_close(ps_db *db);
const char *ps_db_error(const ps_db *db);

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

/* 0 when every migration of list is applied, PS_DB_NOTFOUND otherwise. */
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
	int api_owned;       /* new items go out as UPSERT */
	char *map_file;      /* NULL when unset, as the four below */
	char *preset;
	char *base_url;
	char *currency;
	long schedule_s;     /* 0: no schedule */
	char *webhook_secret_file;
} ps_target;

void ps_target_clear(ps_target *t);

/* Inserts t (t->id is set on return). PS_DB_EXISTS when the name is taken. */
int ps_db_target_add(ps_db *db, ps_target *t);
int ps_db_target_get(ps_db *db, const char *name, ps_target *out);

/* Sets one option of a target: column is one of the option columns
 * (on_missing, max_delete_ratio, api_owned, map_file, preset, base_url,
 * currency, schedule_s, webhook_secret_file, feed, format, catalog_id,
 * country, language, ad_account_id); value NULL sets SQL NULL. The
 * database checks the value. PS_DB_NOTFOUND for an unknown target. */
int ps_db_target_set(ps_db *db, const char *name, const char *column, const char *value);

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

/* Number of items in the target's snapshot. */
int ps_db_snapshot_count(ps_db *db, int64_t target_id, int64_t *count);

/* ---- runs (runs.c) ---- */

typedef struct ps_run_counts {
	int64_t parsed, invalid, created, updated, deleted, unchanged, failed;
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

/* One item of a planned batch: attributes is the JSON object sent (NULL for
 * a DELETE); hash is what the snapshot takes if Pinterest accepts it. */
typedef struct ps_batch_item {
	const char *item_id;
	const char *operation; /* CREATE | UPDATE | UPSERT | DELETE */
	uint64_t hash;
	const char *attributes;
	size_t attributes_len;
} ps_batch_item;

/* Writes a batch down as 'planned' with all its items, in one transaction,
 * before it is sent (invariant 2). Returns its primary key in *batch_pk. */
int ps_db_batch_plan(ps_db *db, int64_t run_id, int64_t target_id, int seq,
                     const ps_batch_item *items, size_t count, int64_t *batch_pk);

/* Records Pinterest's batch_id for a planned batch: state becomes 'sent'. */
int ps_db_batch_sent(ps_db *db, int64_t batch_pk, const char *batch_id);

/* Records a batch's final answer and advances the snapshot, in one
 * transaction: results_json is a JSON array of
 * {"item_id","status","errors":[...],"warnings":[...]}; state is
 * "completed" or "failed". Snapshot rows change only for items whose status
 * is SUCCESS (invariant 1): their hash and attributes are taken from the
 * journal, and a successful DELETE removes the row. Counts the outcome per
 * item into *succeeded and *failed (items without a result stay pending). */
int ps_db_batch_finish(ps_db *db, int64_t batch_pk, const char *state, const char *results_json,
                       int64_t *succeeded, int64_t *failed);

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
	char *place;     /* "local" place or "pinterest" */
	char *attribute;
	char *code;
	char *message;
} ps_item_error;

/* Every item that failed locally or on Pinterest in a run (run_id 0: the
 * target's last run), in item order. */
int ps_db_item_errors(ps_db *db, const char *target, int64_t run_id, ps_item_error **out,
                      size_t *count);
void ps_db_item_errors_free(ps_item_error *rows, size_t count);

/* ---- OAuth tokens (tokens.c) ---- */

typedef struct ps_tokens {
	char *access_token;
	char *refresh_token;       /* NULL when none */
	time_t access_expires_at;  /* 0 when unknown */
	time_t refresh_expires_at; /* 0 when unknown */
} ps_tokens;

void ps_tokens_clear(ps_tokens *t);
/* Stores (replaces) the tokens of client_id, committed when it returns. */
int ps_db_tokens_set(ps_db *db, const char *client_id, const ps_tokens *t);
int ps_db_tokens_get(ps_db *db, const char *client_id, ps_tokens *out);

#endif /* PS_DB_H */
