/*
 * runs.c: one row per sync, and the items a run refused before sending.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

int
ps_db_run_start(ps_db *db, int64_t target_id, const char *trigger, int dry_run, int64_t *run_id)
{
	char id[32];
	const char *params[3] = {id, trigger, dry_run ? "t" : "f"};
	PGresult *res;

	snprintf(id, sizeof(id), "%" PRId64, target_id);
	res = db_query(
	    db, "starting run",
	    "INSERT INTO runs (target_id, trigger, dry_run) VALUES ($1, $2, $3) RETURNING id", 3,
	    params);
	if (res == NULL)
		return PS_DB_ERROR;
	*run_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_runs_close_stale(ps_db *db, int64_t target_id)
{
	PGresult *res;

	res =
	    db_query_id(db, "closing stale runs",
	                "UPDATE runs SET outcome = 'interrupted', finished_at = clock_timestamp(),"
	                " error = 'the process ended before the run did (killed or crashed)'"
	                " WHERE target_id = $1 AND outcome = 'running'",
	                target_id);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_run_finish(ps_db *db, int64_t run_id, const char *outcome, const char *error,
                 const ps_run_counts *c)
{
	char v[15][32];
	const char *params[17];
	PGresult *res;
	int i;

	snprintf(v[0], 32, "%" PRId64, run_id);
	snprintf(v[1], 32, "%" PRId64, c->parsed);
	snprintf(v[2], 32, "%" PRId64, c->invalid);
	snprintf(v[3], 32, "%" PRId64, c->created);
	snprintf(v[4], 32, "%" PRId64, c->updated);
	snprintf(v[5], 32, "%" PRId64, c->deleted);
	snprintf(v[6], 32, "%" PRId64, c->unchanged);
	snprintf(v[7], 32, "%" PRId64, c->failed);
	snprintf(v[8], 32, "%d", c->batches);
	snprintf(v[9], 32, "%d", c->retries);
	snprintf(v[10], 32, "%.3f", c->retry_wait_s);
	snprintf(v[11], 32, "%" PRId64, c->feed_bytes);
	snprintf(v[12], 32, "%" PRId64, c->pending);
	snprintf(v[13], 32, "%d", c->drift_checked);
	snprintf(v[14], 32, "%d", c->drift);
	for (i = 0; i < 12; i++)
		params[i] = v[i];
	params[12] = outcome;
	params[13] = error;
	for (i = 12; i < 15; i++)
		params[i + 2] = v[i];
	res = db_query(db, "finishing run",
	               "UPDATE runs SET finished_at = clock_timestamp(), parsed = $2, invalid = $3,"
	               " created = $4, updated = $5, deleted = $6, unchanged = $7, failed = $8,"
	               " batches = $9, retries = $10, retry_wait_s = $11, feed_bytes = $12,"
	               " outcome = $13, error = $14, pending = $15, drift_checked = $16,"
	               " drift = $17 WHERE id = $1",
	               17, params);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_run_list(ps_db *db, const char *target, int limit, ps_run_row **out, size_t *count)
{
	char lim[16];
	const char *params[2] = {target, lim};
	PGresult *res;
	ps_run_row *rows;
	int i, n;

	*out = NULL;
	*count = 0;
	snprintf(lim, sizeof(lim), "%d", limit);
	res = db_query(
	    db, "listing runs",
	    "SELECT r.id, t.name, r.trigger, r.dry_run,"
	    " to_char(r.started_at, 'YYYY-MM-DD HH24:MI:SS'),"
	    " to_char(r.finished_at, 'YYYY-MM-DD HH24:MI:SS'), r.outcome, r.error,"
	    " r.parsed, r.invalid, r.created, r.updated, r.deleted, r.unchanged,"
	    " r.failed, r.batches, r.retries, r.retry_wait_s, r.feed_bytes,"
	    " extract(epoch FROM coalesce(r.finished_at, clock_timestamp()) - r.started_at),"
	    " r.pending, r.drift_checked, r.drift"
	    " FROM runs r JOIN targets t ON t.id = r.target_id"
	    " WHERE $1::text IS NULL OR t.name = $1 ORDER BY r.id DESC LIMIT $2",
	    2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	n = PQntuples(res);
	rows = calloc((size_t)n + 1, sizeof(*rows));
	if (rows == NULL) {
		PQclear(res);
		return db_fail(db, "out of memory");
	}
	for (i = 0; i < n; i++) {
		ps_run_row *r = &rows[i];

		r->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		r->target = db_strdup_value(res, i, 1);
		r->trigger = db_strdup_value(res, i, 2);
		r->dry_run = PQgetvalue(res, i, 3)[0] == 't';
		r->started_at = db_strdup_value(res, i, 4);
		r->finished_at = db_strdup_value(res, i, 5);
		r->outcome = db_strdup_value(res, i, 6);
		r->error = db_strdup_value(res, i, 7);
		r->counts.parsed = strtoll(PQgetvalue(res, i, 8), NULL, 10);
		r->counts.invalid = strtoll(PQgetvalue(res, i, 9), NULL, 10);
		r->counts.created = strtoll(PQgetvalue(res, i, 10), NULL, 10);
		r->counts.updated = strtoll(PQgetvalue(res, i, 11), NULL, 10);
		r->counts.deleted = strtoll(PQgetvalue(res, i, 12), NULL, 10);
		r->counts.unchanged = strtoll(PQgetvalue(res, i, 13), NULL, 10);
		r->counts.failed = strtoll(PQgetvalue(res, i, 14), NULL, 10);
		r->counts.batches = (int)strtol(PQgetvalue(res, i, 15), NULL, 10);
		r->counts.retries = (int)strtol(PQgetvalue(res, i, 16), NULL, 10);
		r->counts.retry_wait_s = strtod(PQgetvalue(res, i, 17), NULL);
		r->counts.feed_bytes = strtoll(PQgetvalue(res, i, 18), NULL, 10);
		r->seconds = strtod(PQgetvalue(res, i, 19), NULL);
		r->counts.pending = strtoll(PQgetvalue(res, i, 20), NULL, 10);
		r->counts.drift_checked = (int)strtol(PQgetvalue(res, i, 21), NULL, 10);
		r->counts.drift = (int)strtol(PQgetvalue(res, i, 22), NULL, 10);
	}
	PQclear(res);
	*out = rows;
	*count = (size_t)n;
	return PS_DB_OK;
}

void
ps_db_runs_free(ps_run_row *rows, size_t count)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < count; i++) {
		free(rows[i].target);
		free(rows[i].trigger);
		free(rows[i].started_at);
		free(rows[i].finished_at);
		free(rows[i].outcome);
		free(rows[i].error);
	}
	free(rows);
}

/* ---- local problems ----
 *
 * Rows are gathered in a buffer and written with one COPY whenever it grows
 * past PROBLEMS_FLUSH bytes and at the end, so that the connection is free
 * for the batch journal in between and a feed full of bad rows costs a few
 * round trips, not one per row.
 */
#define PROBLEMS_FLUSH (1024 * 1024)

static int
problems_flush(ps_db *db)
{
	PGresult *res;
	int rc;

	if (db->problems.len == 0)
		return PS_DB_OK;
	res = PQexec(db->conn, "COPY item_problems (run_id, item_id, place, attribute,"
	                       " code, message) FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = db_fail_result(db, res, "recording item problems");
		PQclear(res);
		return rc;
	}
	PQclear(res);
	rc = db_copy_flush(db, &db->problems);
	return db_copy_end(db, "recording item problems", rc == PS_DB_OK ? NULL : "aborted");
}

int
ps_db_problems_begin(ps_db *db, int64_t run_id)
{
	db->problems_run_id = run_id;
	db->problems.len = 0;
	return PS_DB_OK;
}

static int
append_field(db_buf *b, const char *s, int last)
{
	int rc = s ? db_buf_append_copy_text(b, s, strlen(s)) : db_buf_append(b, "\\N", 2);

	return rc < 0 ? rc : db_buf_append(b, last ? "\n" : "\t", 1);
}

int
ps_db_problems_add(ps_db *db, const char *item_id, const char *place, const char *attribute,
                   const char *code, const char *message)
{
	db_buf *b = &db->problems;
	char run[32];

	snprintf(run, sizeof(run), "%" PRId64, db->problems_run_id);
	if (append_field(b, run, 0) < 0 || append_field(b, item_id, 0) < 0 ||
	    append_field(b, place, 0) < 0 || append_field(b, attribute, 0) < 0 ||
	    append_field(b, code, 0) < 0 || append_field(b, message, 1) < 0)
		return db_fail(db, "out of memory");
	if (b->len >= PROBLEMS_FLUSH)
		return problems_flush(db);
	return PS_DB_OK;
}

int
ps_db_problems_end(ps_db *db)
{
	int rc = problems_flush(db);

	db_buf_free(&db->problems);
	return rc;
}
