/*
 * report.c: every item of a run that is not in sync, and why: refused by
 * local validation (item_problems), rejected by Pinterest (a FAILURE that
 * pinsync did not follow up), or pending (sent without a verdict yet).
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

int
ps_db_item_errors(ps_db *db, const char *target, int64_t run_id, ps_item_error **out, size_t *count)
{
	char id[32];
	const char *params[2] = {target, id};
	PGresult *res;
	ps_item_error *rows;
	int i, n;

	*out = NULL;
	*count = 0;
	snprintf(id, sizeof(id), "%" PRId64, run_id);
	res = db_query(
	    db, "listing item errors",
	    "WITH r AS ("
	    "  SELECT r.id FROM runs r JOIN targets t ON t.id = r.target_id"
	    "  WHERE t.name = $1 AND NOT r.dry_run AND ($2::bigint = 0 OR r.id = $2::bigint)"
	    "  ORDER BY r.id DESC LIMIT 1),"
	    /* The last entry of each item the run sent without success: an
	     * earlier one (a lost batch, half of a split one, a failure followed
	     * up) is not its verdict. */
	    " e AS (SELECT b.run_id, bi.item_id, bi.operation, bi.status, bi.errors,"
	    "   bi.resolution, b.state, b.error"
	    "  FROM batch_item_results bi JOIN batches b ON b.id = bi.batch_pk"
	    "   JOIN r ON b.run_id = r.id"
	    "  WHERE bi.status IS DISTINCT FROM 'SUCCESS' AND NOT EXISTS (SELECT 1"
	    "   FROM batch_items l JOIN batches lb ON lb.id = l.batch_pk"
	    "   WHERE lb.run_id = b.run_id AND l.item_id = bi.item_id"
	    "   AND l.batch_pk > bi.batch_pk))"
	    " SELECT p.run_id, p.item_id, NULL, 'rejected', p.place, p.attribute, p.code,"
	    "  p.message FROM item_problems p JOIN r ON p.run_id = r.id"
	    " UNION ALL"
	    " SELECT e.run_id, e.item_id, e.operation, 'rejected', 'pinterest',"
	    "  x->>'attribute', x->>'code', x->>'message'"
	    " FROM e, jsonb_array_elements(CASE WHEN jsonb_typeof(e.errors) = 'array'"
	    "   AND jsonb_array_length(e.errors) > 0 THEN e.errors"
	    "   ELSE '[{\"message\": \"rejected by Pinterest without a reason\"}]'::jsonb END) x"
	    " WHERE e.status = 'FAILURE' AND e.resolution IS NULL"
	    " UNION ALL"
	    /* Pending: no verdict yet; the item stays dirty and goes out again. */
	    " SELECT e.run_id, e.item_id, e.operation, 'pending', 'pinterest', NULL, NULL,"
	    "  CASE WHEN e.status = 'FAILURE' THEN e.resolution"
	    "   WHEN e.status = 'PROCESSING' THEN 'reported PROCESSING in a finished batch'"
	    "   WHEN e.status = 'SKIPPED' THEN 'the batch was skipped as a recent duplicate'"
	    "   WHEN e.state IN ('planned', 'sent') THEN 'the batch is still in flight'"
	    "   WHEN e.state = 'lost' THEN 'the batch was lost by Pinterest (code 4331)'"
	    "   WHEN e.state = 'abandoned' THEN coalesce(e.error, 'never confirmed sent')"
	    "   WHEN e.state = 'failed' THEN"
	    "    coalesce(e.error, 'the batch FAILED') || ', with no verdict for the item'"
	    "   ELSE 'Pinterest reported no verdict for the item' END"
	    "  || '; the next run sends it again'"
	    " FROM e WHERE e.status IS DISTINCT FROM 'FAILURE' OR e.resolution IS NOT NULL"
	    " ORDER BY 2, 6",
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
		rows[i].run_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		rows[i].item_id = db_strdup_value(res, i, 1);
		rows[i].operation = db_strdup_value(res, i, 2);
		rows[i].state = db_strdup_value(res, i, 3);
		rows[i].place = db_strdup_value(res, i, 4);
		rows[i].attribute = db_strdup_value(res, i, 5);
		rows[i].code = db_strdup_value(res, i, 6);
		rows[i].message = db_strdup_value(res, i, 7);
	}
	PQclear(res);
	*out = rows;
	*count = (size_t)n;
	return PS_DB_OK;
}

void
ps_db_item_errors_free(ps_item_error *rows, size_t count)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < count; i++) {
		free(rows[i].item_id);
		free(rows[i].operation);
		free(rows[i].state);
		free(rows[i].place);
		free(rows[i].attribute);
		free(rows[i].code);
		free(rows[i].message);
	}
	free(rows);
}
