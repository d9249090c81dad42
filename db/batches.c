/*
 * batches.c: the run journal. A batch is written down before it is sent:
 * its request body once (batches.body) and one narrow row per item
 * (batch_items: id, operation, hash, fingerprint, update_mask). It gets its
 * Pinterest batch_id right after the POST returns, and its per-item results
 * (batch_results, with the snapshot advance for the items that succeeded)
 * in one transaction when the batch finishes. Journal rows are written once
 * and never updated: at 1M items that is what keeps a first sync's SQL in
 * seconds rather than minutes.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

/* Appends fp as a bytea in COPY text format ("\\x" and hex digits), or \N. */
static int
append_fp(db_buf *b, const unsigned char *fp, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char chunk[64];
	size_t i, n = 0;

	if (fp == NULL)
		return db_buf_append(b, "\\N", 2);
	if (db_buf_append(b, "\\\\x", 3) < 0)
		return -1;
	for (i = 0; i < len; i++) {
		chunk[n++] = hex[fp[i] >> 4];
		chunk[n++] = hex[fp[i] & 15];
		if (n == sizeof(chunk)) {
			if (db_buf_append(b, chunk, n) < 0)
				return -1;
			n = 0;
		}
	}
	return db_buf_append(b, chunk, n);
}

static int
copy_items(ps_db *db, int64_t batch_pk, const ps_batch_item *items, size_t count)
{
	db_buf b = {0};
	char num[32];
	PGresult *res;
	size_t i;
	int rc = PS_DB_OK;

	res = PQexec(db->conn,
	             "COPY batch_items (batch_pk, item_id, operation, hash, fp, update_mask,"
	             " is_new) FROM STDIN");
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
		    append_fp(&b, it->fp, it->fp_len) < 0 || db_buf_append(&b, "\t", 1) < 0 ||
		    (it->update_mask
		         ? db_buf_append_copy_text(&b, it->update_mask, it->update_mask_len)
		         : db_buf_append(&b, "\\N", 2)) < 0 ||
		    db_buf_append(&b, it->is_new ? "\tt\n" : "\tf\n", 3) < 0) {
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
ps_db_batch_plan(ps_db *db, int64_t run_id, int64_t target_id, int seq, const char *body,
                 size_t body_len, const ps_batch_item *items, size_t count, int64_t *batch_pk)
{
	char v[4][32];
	const char *params[5] = {v[0], v[1], v[2], v[3], body};
	/* The body goes as binary text: its bytes as they are, no terminator
	 * needed. */
	int lengths[5] = {0, 0, 0, 0, (int)body_len}, formats[5] = {0, 0, 0, 0, 1};
	PGresult *res;

	if (body_len > INT32_MAX)
		return db_fail(db, "planning batch: body of %zu bytes is too large", body_len);
	snprintf(v[0], 32, "%" PRId64, run_id);
	snprintf(v[1], 32, "%" PRId64, target_id);
	snprintf(v[2], 32, "%d", seq);
	snprintf(v[3], 32, "%zu", count);
	if (db_command(db, "planning batch", "BEGIN") < 0)
		return PS_DB_ERROR;
	res = PQexecParams(db->conn,
	                   "INSERT INTO batches (run_id, target_id, seq, item_count, body)"
	                   " VALUES ($1, $2, $3, $4, $5::text) RETURNING id",
	                   5, NULL, params, lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_fail_result(db, res, "planning batch");
		PQclear(res);
		goto rollback;
	}
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

/* The tail of a statement that advances the snapshot of batch $1 for the
 * items of the CTE "ok" (item_id, operation, hash, fp): a DELETE removes
 * the row, anything else stores the journal's hash and fingerprint (NULL
 * for an item marked out of stock: its row keeps the one it had). */
#define ADVANCE_FROM_OK                                                          \
	" t AS (SELECT target_id FROM batches WHERE id = $1),"                   \
	" del AS (DELETE FROM snapshot_items s USING ok, t"                      \
	"  WHERE s.target_id = t.target_id AND s.item_id = ok.item_id"           \
	"  AND ok.operation = 'DELETE')"                                         \
	" INSERT INTO snapshot_items (target_id, item_id, hash, fp, updated_at)" \
	" SELECT t.target_id, ok.item_id, ok.hash, ok.fp, now() FROM ok, t"      \
	" WHERE ok.operation <> 'DELETE'"                                        \
	" ON CONFLICT (target_id, item_id) DO UPDATE SET hash = EXCLUDED.hash,"  \
	" fp = coalesce(EXCLUDED.fp, snapshot_items.fp), updated_at = EXCLUDED.updated_at"

int
ps_db_batch_finish(ps_db *db, int64_t batch_pk, const char *state, const char *results_json,
                   ps_batch_counts *counts)
{
	char pk[32];
	const char *params[3] = {pk, results_json, state};
	PGresult *res;

	snprintf(pk, sizeof(pk), "%" PRId64, batch_pk);
	memset(counts, 0, sizeof(*counts));
	if (db_command(db, "recording batch results", "BEGIN") < 0)
		return PS_DB_ERROR;

	/* The results, by exception: a row for every item that did not simply
	 * succeed (failed, without a verdict, or with warnings); the others
	 * succeeded once results_recorded is set. Recording again replaces. A
	 * status outside the spec's enum is no verdict (NULL): it must never
	 * make the transaction fail, or the batch would stay 'sent' forever. */
	res = db_query(
	    db, "recording item results",
	    "WITH gone AS (DELETE FROM batch_results WHERE batch_pk = $1),"
	    " r AS (SELECT DISTINCT ON (item_id) item_id,"
	    "       CASE WHEN status IN ('SUCCESS', 'FAILURE', 'PROCESSING') THEN status END"
	    "        AS status, errors, warnings"
	    "      FROM jsonb_to_recordset($2::jsonb)"
	    "      AS r(item_id text, status text, errors jsonb, warnings jsonb))"
	    " INSERT INTO batch_results (batch_pk, item_id, status, errors, warnings)"
	    " SELECT $1, bi.item_id, r.status, r.errors, r.warnings"
	    " FROM batch_items bi LEFT JOIN r ON r.item_id = bi.item_id"
	    " WHERE bi.batch_pk = $1 AND (r.status IS DISTINCT FROM 'SUCCESS'"
	    "  OR coalesce(r.warnings, '[]') <> '[]' OR coalesce(r.errors, '[]') <> '[]')",
	    2, params);
	if (res == NULL)
		goto rollback;
	PQclear(res);
	{
		const char *p2[2] = {pk, state};

		res = db_query(db, "recording batch results",
		               "UPDATE batches SET state = $2, results_recorded = true,"
		               " finished_at = clock_timestamp() WHERE id = $1",
		               2, p2);
		if (res == NULL)
			goto rollback;
		PQclear(res);
	}

	if (db->hook)
		db->hook("record");
	/* Invariant 1: only SUCCESS moves the snapshot, with the hash and the
	 * fingerprint of the whole item from the journal (NULL for an item
	 * marked out of stock: its row keeps the one it had). The items that
	 * succeeded are those without an exception row, or with a SUCCESS one:
	 * one range scan of the journal, no second pass over the JSON. */
	res = db_query(db, "advancing snapshot",
	               "WITH ok AS (SELECT bi.item_id, bi.operation, bi.hash, bi.fp"
	               "  FROM batch_items bi LEFT JOIN batch_results r"
	               "   ON r.batch_pk = bi.batch_pk AND r.item_id = bi.item_id"
	               "  WHERE bi.batch_pk = $1 AND (r.item_id IS NULL OR r.status = "
	               "'SUCCESS'))," ADVANCE_FROM_OK,
	               1, params);
	if (res == NULL)
		goto rollback;
	PQclear(res);
	res = db_query(db, "counting batch results",
	               "SELECT count(*) FILTER (WHERE status = 'SUCCESS'),"
	               " count(*) FILTER (WHERE status = 'FAILURE'),"
	               " count(*) FILTER (WHERE status IS DISTINCT FROM 'SUCCESS'"
	               "  AND status IS DISTINCT FROM 'FAILURE')"
	               " FROM batch_item_results WHERE batch_pk = $1",
	               1, params);
	if (res == NULL)
		goto rollback;
	counts->succeeded = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	counts->failed = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	counts->pending = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	if (db_command(db, "recording batch results", "COMMIT") < 0)
		goto rollback;
	return PS_DB_OK;
rollback:
	PQclear(PQexec(db->conn, "ROLLBACK"));
	return PS_DB_ERROR;
}

int
ps_db_batch_resolve(ps_db *db, int64_t batch_pk, const char *resolutions_json)
{
	char pk[32];
	const char *params[2] = {pk, resolutions_json};
	PGresult *res;

	snprintf(pk, sizeof(pk), "%" PRId64, batch_pk);
	/* One statement: the resolutions, and the snapshot advance for the
	 * items that became SUCCESS (invariant 1 still holds: Pinterest holds
	 * them as the journal says, seen by a read-back). */
	res = db_query(db, "recording resolutions",
	               "WITH r AS (SELECT * FROM jsonb_to_recordset($2::jsonb)"
	               "  AS r(item_id text, resolution text, status text)),"
	               " u AS (UPDATE batch_results b SET resolution = r.resolution,"
	               "  status = coalesce(r.status, b.status) FROM r"
	               "  WHERE b.batch_pk = $1 AND b.item_id = r.item_id),"
	               " ok AS (SELECT bi.item_id, bi.operation, bi.hash, bi.fp"
	               "  FROM batch_items bi JOIN r ON r.item_id = bi.item_id"
	               "  WHERE bi.batch_pk = $1 AND r.status = 'SUCCESS')," ADVANCE_FROM_OK,
	               2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
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
	PGresult *res;

	res = db_query_id(
	    db, "counting run results",
	    "SELECT count(*) FILTER (WHERE bi.operation = 'CREATE' OR bi.is_new),"
	    " count(*) FILTER (WHERE bi.operation IN ('UPDATE', 'UPSERT') AND NOT bi.is_new),"
	    " count(*) FILTER (WHERE bi.operation = 'DELETE')"
	    " FROM batch_item_results bi WHERE bi.run_id = $1 AND bi.status = 'SUCCESS'",
	    run_id);
	if (res == NULL)
		return PS_DB_ERROR;
	*created = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*updated = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	*deleted = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_open_batches(ps_db *db, int64_t target_id, ps_open_batch **out, size_t *count)
{
	ps_open_batch *list;
	PGresult *res;
	int i, n;

	*out = NULL;
	*count = 0;
	res = db_query_id(db, "listing open batches",
	                  "SELECT id, run_id, batch_id, state, item_count FROM batches"
	                  " WHERE target_id = $1 AND state IN ('planned', 'sent') ORDER BY id",
	                  target_id);
	if (res == NULL)
		return PS_DB_ERROR;
	n = PQntuples(res);
	list = calloc((size_t)n + 1, sizeof(*list));
	if (list == NULL) {
		PQclear(res);
		return db_fail(db, "out of memory");
	}
	for (i = 0; i < n; i++) {
		list[i].batch_pk = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		list[i].run_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		list[i].batch_id = db_strdup_value(res, i, 2);
		list[i].state = db_strdup_value(res, i, 3);
		list[i].item_count = (int)strtol(PQgetvalue(res, i, 4), NULL, 10);
	}
	PQclear(res);
	*out = list;
	*count = (size_t)n;
	return PS_DB_OK;
}

void
ps_db_open_batches_free(ps_open_batch *list, size_t count)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < count; i++) {
		free(list[i].batch_id);
		free(list[i].state);
	}
	free(list);
}

int
ps_db_batch_replan(ps_db *db, const ps_replan *rp, int64_t *batch_pk, char **body, size_t *count)
{
	char v[5][32];
	const char *params[8] = {v[0],        v[1],         v[2], rp->catalog_id,
	                         rp->country, rp->language, v[3], v[4]};
	PGresult *res;

	*body = NULL;
	*count = 0;
	snprintf(v[0], 32, "%" PRId64, rp->from_pk);
	snprintf(v[1], 32, "%" PRId64, rp->run_id);
	snprintf(v[2], 32, "%d", rp->seq);
	snprintf(v[3], 32, "%zu", rp->first);
	if (rp->limit)
		snprintf(v[4], 32, "%zu", rp->limit);
	else
		params[7] = NULL; /* LIMIT NULL: all */
	if (db_command(db, "replanning batch", "BEGIN") < 0)
		return PS_DB_ERROR;
	/* The new batch's items: the old batch's items that have no result
	 * yet, the range asked for in item id order, as they were sent. */
	res = db_query(
	    db, "replanning batch",
	    "WITH pending AS ("
	    "  SELECT e FROM batches ob, jsonb_array_elements(ob.body::jsonb -> 'items') e"
	    "  WHERE ob.id = $1 AND e->>'item_id' IN (SELECT item_id FROM batch_item_results"
	    "   WHERE batch_pk = $1 AND status IS NULL)"
	    "  ORDER BY e->>'item_id' OFFSET $7 LIMIT $8)"
	    " INSERT INTO batches (run_id, target_id, seq, item_count, body)"
	    " SELECT $2, ob.target_id, $3, (SELECT count(*) FROM pending),"
	    "  jsonb_build_object('catalog_type', 'RETAIL', 'catalog_id', $4::text,"
	    "   'country', $5::text, 'language', $6::text,"
	    "   'items', (SELECT jsonb_agg(e ORDER BY e->>'item_id') FROM pending))::text"
	    " FROM batches ob WHERE ob.id = $1 RETURNING id, item_count, body",
	    8, params);
	if (res == NULL)
		goto rollback;
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_fail(db, "replanning batch: no batch %s", v[0]);
		goto rollback;
	}
	*batch_pk = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*count = (size_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	if (*count == 0) {
		PQclear(res);
		PQclear(PQexec(db->conn, "ROLLBACK"));
		return PS_DB_OK;
	}
	*body = strdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	if (*body == NULL) {
		db_fail(db, "out of memory");
		goto rollback;
	}
	snprintf(v[1], 32, "%" PRId64, *batch_pk);
	res =
	    db_query(db, "replanning batch",
	             "INSERT INTO batch_items (batch_pk, item_id, operation, hash, fp, update_mask,"
	             " is_new)"
	             " SELECT $2, bi.item_id, bi.operation, bi.hash, bi.fp, bi.update_mask,"
	             " bi.is_new"
	             " FROM batch_items bi, batches nb WHERE bi.batch_pk = $1 AND nb.id = $2"
	             " AND bi.item_id IN (SELECT e->>'item_id'"
	             "  FROM jsonb_array_elements(nb.body::jsonb -> 'items') e)",
	             2, params);
	if (res == NULL)
		goto rollback;
	PQclear(res);
	if (db_command(db, "replanning batch", "COMMIT") < 0)
		goto rollback;
	return PS_DB_OK;
rollback:
	free(*body);
	*body = NULL;
	PQclear(PQexec(db->conn, "ROLLBACK"));
	return PS_DB_ERROR;
}

int
ps_db_run_recount(ps_db *db, int64_t run_id)
{
	PGresult *res;

	/* An item may appear in several batches of a run (a lost batch sent
	 * again, a refused one split, a failure followed up): its last entry
	 * is its verdict. Rejected: a FAILURE pinsync did not follow up.
	 * Pending: anything else but SUCCESS. */
	res = db_query_id(
	    db, "recounting run",
	    "WITH e AS (SELECT DISTINCT ON (r.item_id) r.item_id, r.operation, r.status,"
	    "   r.resolution, r.is_new FROM batch_item_results r"
	    "  WHERE r.run_id = $1 ORDER BY r.item_id, r.batch_pk DESC),"
	    " c AS (SELECT"
	    "  count(*) FILTER (WHERE status = 'SUCCESS' AND (operation = 'CREATE' OR is_new))"
	    "   AS created,"
	    "  count(*) FILTER (WHERE status = 'SUCCESS' AND operation IN ('UPDATE', 'UPSERT')"
	    "   AND NOT is_new) AS updated,"
	    "  count(*) FILTER (WHERE status = 'SUCCESS' AND operation = 'DELETE') AS deleted,"
	    "  count(*) FILTER (WHERE status = 'FAILURE' AND resolution IS NULL) AS failed,"
	    "  count(*) FILTER (WHERE status IS DISTINCT FROM 'SUCCESS'"
	    "   AND (status IS DISTINCT FROM 'FAILURE' OR resolution IS NOT NULL)) AS pending"
	    " FROM e)"
	    " UPDATE runs r SET created = c.created, updated = c.updated, deleted = c.deleted,"
	    "  failed = c.failed, pending = c.pending,"
	    "  outcome = CASE WHEN r.outcome IN ('failed', 'held', 'interrupted') THEN r.outcome"
	    "   WHEN c.failed > 0 OR r.invalid > 0 OR c.pending > 0"
	    "   THEN 'partial' ELSE 'ok' END,"
	    "  error = CASE WHEN c.pending = 0 AND r.outcome = 'partial'"
	    "   AND r.error LIKE '%pinsync poll%' THEN NULL ELSE r.error END"
	    " FROM c WHERE r.id = $1",
	    run_id);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_batch_skip(ps_db *db, int64_t batch_pk, int64_t *count)
{
	PGresult *res;

	res = db_query_id(db, "recording a skipped batch",
	                  "WITH s AS (INSERT INTO batch_results (batch_pk, item_id, status)"
	                  "  SELECT $1, item_id, 'SKIPPED' FROM batch_item_results"
	                  "  WHERE batch_pk = $1 AND status IS NULL RETURNING 1),"
	                  " b AS (UPDATE batches SET state = 'completed', results_recorded = true,"
	                  "  finished_at = clock_timestamp(),"
	                  "  error = 'skipped by Pinterest as a recent duplicate' WHERE id = $1)"
	                  " SELECT count(*) FROM s",
	                  batch_pk);
	if (res == NULL)
		return PS_DB_ERROR;
	*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_batch_items(ps_db *db, int64_t batch_pk, const char *status, ps_db_journal_cb cb, void *ctx)
{
	char pk[32];
	const char *params[2] = {pk, status};
	PGresult *res;
	int i, n, rc = PS_DB_OK;

	snprintf(pk, sizeof(pk), "%" PRId64, batch_pk);
	res =
	    db_query(db, "reading the journal",
	             "SELECT e->>'item_id', e->>'operation', (e->'attributes')::text,"
	             " (e->'update_mask')::text"
	             " FROM batches b, jsonb_array_elements(b.body::jsonb -> 'items') e"
	             " WHERE b.id = $1 AND e->>'item_id' IN (SELECT item_id FROM batch_item_results"
	             "  WHERE batch_pk = $1 AND status IS NOT DISTINCT FROM $2) ORDER BY 1",
	             2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	n = PQntuples(res);
	for (i = 0; i < n && rc == PS_DB_OK; i++)
		rc = cb(ctx, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		        PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
		        PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3));
	PQclear(res);
	return rc;
}
