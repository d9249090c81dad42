/*
 * batches.c: the run journal. A batch is written down with all its items
 * before it is sent, gets its Pinterest batch_id right after the POST
 * returns, and its per-item results (with the snapshot advance for the
 * items that succeeded) in one transaction when the batch finishes.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

static int
copy_items(ps_db *db, int64_t batch_pk, const ps_batch_item *items, size_t count)
{
	db_buf b = {0};
	char num[32];
	PGresult *res;
	size_t i;
	int rc = PS_DB_OK;

	res = PQexec(db->conn, "COPY batch_items (batch_pk, item_id, operation, hash, attributes)"
	                       " FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = db_fail_result(db, res, "journaling batch items");
		PQclear(res);
		return rc;
	}
	PQclear(res);
	for (i = 0; i < count && rc == PS_DB_OK; i++) {
		const ps_batch_item *it = &items[i];
		int len = snprintf(num, sizeof(num), "%" PRId64 "\t", batch_pk);

		if (db_buf_append(&b, num, (size_t)len) < 0 ||
		    db_buf_append_copy_text(&b, it->item_id, strlen(it->item_id)) < 0 ||
		    db_buf_append(&b, "\t", 1) < 0 || db_buf_append_str(&b, it->operation) < 0) {
			rc = db_fail(db, "out of memory");
			break;
		}
		len = snprintf(num, sizeof(num), "\t%" PRId64 "\t", (int64_t)it->hash);
		if (db_buf_append(&b, num, (size_t)len) < 0 ||
		    (it->attributes
		         ? db_buf_append_copy_text(&b, it->attributes, it->attributes_len)
		         : db_buf_append(&b, "\\N", 2)) < 0 ||
		    db_buf_append(&b, "\n", 1) < 0) {
			rc = db_fail(db, "out of memory");
			break;
		}
		if (b.len >= 1024 * 1024)
			rc = db_copy_flush(db, &b);
	}
	if (rc == PS_DB_OK)
		rc = db_copy_flush(db, &b);
	db_buf_free(&b);
	if (rc != PS_DB_OK) {
		db_copy_end(db, "journaling batch items", "aborted");
		return rc;
	}
	return db_copy_end(db, "journaling batch items", NULL);
}

int
ps_db_batch_plan(ps_db *db, int64_t run_id, int64_t target_id, int seq, const ps_batch_item *items,
                 size_t count, int64_t *batch_pk)
{
	char v[4][32];
	const char *params[4] = {v[0], v[1], v[2], v[3]};
	PGresult *res;

	snprintf(v[0], 32, "%" PRId64, run_id);
	snprintf(v[1], 32, "%" PRId64, target_id);
	snprintf(v[2], 32, "%d", seq);
	snprintf(v[3], 32, "%zu", count);
	if (db_command(db, "planning batch", "BEGIN") < 0)
		return PS_DB_ERROR;
	res = db_query(db, "planning batch",
	               "INSERT INTO batches (run_id, target_id, seq, item_count)"
	               " VALUES ($1, $2, $3, $4) RETURNING id",
	               4, params);
	if (res == NULL)
		goto rollback;
	*batch_pk = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (copy_items(db, *batch_pk, items, count) < 0)
		goto rollback;
	if (db_command(db, "planning batch", "COMMIT") < 0)
		goto rollback;
	return PS_DB_OK;
rollback:
	PQclear(PQexec(db->conn, "ROLLBACK"));
	return PS_DB_ERROR;
}

int
ps_db_batch_sent(ps_db *db, int64_t batch_pk, const char *batch_id)
{
	char pk[32];
	const char *params[2] = {pk, batch_id};
	PGresult *res;

	snprintf(pk, sizeof(pk), "%" PRId64, batch_pk);
	res = db_query(
	    db, "recording batch id",
	    "UPDATE batches SET state = 'sent', batch_id = $2, sent_at = clock_timestamp(),"
	    " attempts = attempts + 1 WHERE id = $1",
	    2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_batch_finish(ps_db *db, int64_t batch_pk, const char *state, const char *results_json,
                   int64_t *succeeded, int64_t *failed)
{
	char pk[32];
	const char *params[3] = {pk, results_json, state};
	PGresult *res;

	snprintf(pk, sizeof(pk), "%" PRId64, batch_pk);
	*succeeded = *failed = 0;
	if (db_command(db, "recording batch results", "BEGIN") < 0)
		return PS_DB_ERROR;

	res = db_query(db, "recording item results",
	               "UPDATE batch_items bi SET status = r.status, errors = r.errors,"
	               " warnings = r.warnings"
	               " FROM jsonb_to_recordset($2::jsonb)"
	               "      AS r(item_id text, status text, errors jsonb, warnings jsonb)"
	               " WHERE bi.batch_pk = $1 AND bi.item_id = r.item_id",
	               2, params);
	if (res == NULL)
		goto rollback;
	PQclear(res);

	/* Invariant 1: only SUCCESS moves the snapshot. */
	res =
	    db_query(db, "advancing snapshot",
	             "INSERT INTO snapshot_items (target_id, item_id, hash, attributes, updated_at)"
	             " SELECT b.target_id, bi.item_id, bi.hash, bi.attributes, now()"
	             " FROM batch_items bi JOIN batches b ON b.id = bi.batch_pk"
	             " WHERE bi.batch_pk = $1 AND bi.status = 'SUCCESS'"
	             "   AND bi.operation <> 'DELETE'"
	             " ON CONFLICT (target_id, item_id) DO UPDATE SET hash = EXCLUDED.hash,"
	             " attributes = EXCLUDED.attributes, updated_at = EXCLUDED.updated_at",
	             1, params);
	if (res == NULL)
		goto rollback;
	PQclear(res);
	res =
	    db_query(db, "advancing snapshot",
	             "DELETE FROM snapshot_items s USING batch_items bi JOIN batches b"
	             " ON b.id = bi.batch_pk"
	             " WHERE bi.batch_pk = $1 AND bi.status = 'SUCCESS' AND bi.operation = 'DELETE'"
	             "   AND s.target_id = b.target_id AND s.item_id = bi.item_id",
	             1, params);
	if (res == NULL)
		goto rollback;
	PQclear(res);

	{
		const char *p2[2] = {pk, state};

		res = db_query(db, "recording batch results",
		               "UPDATE batches SET state = $2, finished_at = clock_timestamp()"
		               " WHERE id = $1",
		               2, p2);
		if (res == NULL)
			goto rollback;
		PQclear(res);
	}
	res = db_query(db, "counting batch results",
	               "SELECT count(*) FILTER (WHERE status = 'SUCCESS'),"
	               " count(*) FILTER (WHERE status = 'FAILURE')"
	               " FROM batch_items WHERE batch_pk = $1",
	               1, params);
	if (res == NULL)
		goto rollback;
	*succeeded = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*failed = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (db_command(db, "recording batch results", "COMMIT") < 0)
		goto rollback;
	return PS_DB_OK;
rollback:
	PQclear(PQexec(db->conn, "ROLLBACK"));
	return PS_DB_ERROR;
}

int
ps_db_batch_mark(ps_db *db, int64_t batch_pk, const char *state, const char *error)
{
	char pk[32];
	const char *params[3] = {pk, state, error};
	PGresult *res;

	snprintf(pk, sizeof(pk), "%" PRId64, batch_pk);
	res = db_query(db, "marking batch",
	               "UPDATE batches SET state = $2, error = $3, finished_at = clock_timestamp()"
	               " WHERE id = $1",
	               3, params);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_run_operation_counts(ps_db *db, int64_t run_id, int64_t *created, int64_t *updated,
                           int64_t *deleted)
{
	char id[32];
	const char *params[1] = {id};
	PGresult *res;

	snprintf(id, sizeof(id), "%" PRId64, run_id);
	res = db_query(db, "counting run results",
	               "SELECT count(*) FILTER (WHERE bi.operation = 'CREATE'),"
	               " count(*) FILTER (WHERE bi.operation IN ('UPDATE', 'UPSERT')),"
	               " count(*) FILTER (WHERE bi.operation = 'DELETE')"
	               " FROM batch_items bi JOIN batches b ON b.id = bi.batch_pk"
	               " WHERE b.run_id = $1 AND bi.status = 'SUCCESS'",
	               1, params);
	if (res == NULL)
		return PS_DB_ERROR;
	*created = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*updated = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	*deleted = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}
