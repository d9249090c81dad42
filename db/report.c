/*
 * report.c: what went wrong for each item of a run, from local validation
 * (item_problems) and from Pinterest (batch_results with status FAILURE).
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
	    "  ORDER BY r.id DESC LIMIT 1)"
	    " SELECT p.run_id, p.item_id, NULL, p.place, p.attribute, p.code, p.message"
	    " FROM item_problems p JOIN r ON p.run_id = r.id"
	    " UNION ALL"
	    " SELECT b.run_id, bi.item_id, bi.operation, 'pinterest', e->>'attribute',"
	    "        e->>'code', e->>'message'"
	    " FROM batch_item_results bi JOIN batches b ON b.id = bi.batch_pk"
	    "  JOIN r ON b.run_id = r.id,"
	    "  jsonb_array_elements(CASE WHEN jsonb_typeof(bi.errors) = 'array'"
	    "   AND jsonb_array_length(bi.errors) > 0 THEN bi.errors"
	    "   ELSE '[{\"message\": \"rejected by Pinterest without a reason\"}]'::jsonb END) e"
	    " WHERE bi.status = 'FAILURE'"
	    " UNION ALL"
	    /* A batch Pinterest refused whole: its items have no status. */
	    " SELECT b.run_id, bi.item_id, bi.operation, 'pinterest', NULL, NULL,"
	    "        coalesce(b.error, 'batch ' || b.state)"
	    " FROM batch_item_results bi JOIN batches b ON b.id = bi.batch_pk"
	    "  JOIN r ON b.run_id = r.id"
	    " WHERE bi.status IS NULL AND b.state IN ('failed', 'lost')"
	    " ORDER BY 2, 5",
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
		rows[i].place = db_strdup_value(res, i, 3);
		rows[i].attribute = db_strdup_value(res, i, 4);
		rows[i].code = db_strdup_value(res, i, 5);
		rows[i].message = db_strdup_value(res, i, 6);
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
		free(rows[i].place);
		free(rows[i].attribute);
		free(rows[i].code);
		free(rows[i].message);
	}
	free(rows);
}
