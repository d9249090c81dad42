/*
 * targets.c: sync targets (a feed and the Pinterest catalog it feeds) and
 * the per-target advisory lock that keeps one sync per target at a time.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

/* Advisory lock namespace (classid) of the per-target sync lock. */
#define TARGET_LOCK_CLASS "7405001"

#define TARGET_COLUMNS                                                                      \
	"id, name, feed, format, catalog_id, country, language, ad_account_id, on_missing," \
	" max_delete_ratio, api_owned, map_file, preset, base_url, currency,"               \
	" coalesce(schedule_s, 0), webhook_secret_file, feed_source,"                       \
	" coalesce(extract(epoch FROM feed_source_checked_at)::bigint, 0),"                 \
	" feed_password_file"

/* The columns ps_db_target_set() may change. */
static const char *const settable[] = {"feed",
                                       "format",
                                       "catalog_id",
                                       "country",
                                       "language",
                                       "ad_account_id",
                                       "on_missing",
                                       "max_delete_ratio",
                                       "api_owned",
                                       "map_file",
                                       "preset",
                                       "base_url",
                                       "currency",
                                       "schedule_s",
                                       "webhook_secret_file",
                                       "feed_password_file",
                                       NULL};

void
ps_target_clear(ps_target *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->feed);
	free(t->format);
	free(t->catalog_id);
	free(t->country);
	free(t->language);
	free(t->ad_account_id);
	free(t->on_missing);
	free(t->map_file);
	free(t->preset);
	free(t->base_url);
	free(t->currency);
	free(t->webhook_secret_file);
	free(t->feed_password_file);
	memset(t, 0, sizeof(*t));
}

/* A nullable boolean column: -1 NULL, 0 false, 1 true. */
static int
tristate(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return -1;
	return PQgetvalue(res, row, col)[0] == 't';
}

static int
target_from_row(ps_target *t, const PGresult *res, int row)
{
	memset(t, 0, sizeof(*t));
	t->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	t->name = db_strdup_value(res, row, 1);
	t->feed = db_strdup_value(res, row, 2);
	t->format = db_strdup_value(res, row, 3);
	t->catalog_id = db_strdup_value(res, row, 4);
	t->country = db_strdup_value(res, row, 5);
	t->language = db_strdup_value(res, row, 6);
	t->ad_account_id = db_strdup_value(res, row, 7);
	t->on_missing = db_strdup_value(res, row, 8);
	t->max_delete_ratio = strtod(PQgetvalue(res, row, 9), NULL);
	t->api_owned = tristate(res, row, 10);
	t->map_file = db_strdup_value(res, row, 11);
	t->preset = db_strdup_value(res, row, 12);
	t->base_url = db_strdup_value(res, row, 13);
	t->currency = db_strdup_value(res, row, 14);
	t->schedule_s = strtol(PQgetvalue(res, row, 15), NULL, 10);
	t->webhook_secret_file = db_strdup_value(res, row, 16);
	t->feed_source = tristate(res, row, 17);
	t->feed_source_checked_at = (time_t)strtoll(PQgetvalue(res, row, 18), NULL, 10);
	t->feed_password_file = db_strdup_value(res, row, 19);
	if (!t->name || !t->feed || !t->format || !t->catalog_id || !t->country || !t->language ||
	    !t->on_missing) {
		ps_target_clear(t);
		return PS_DB_ERROR;
	}
	return PS_DB_OK;
}

int
ps_db_target_add(ps_db *db, ps_target *t)
{
	const char *params[7] = {t->name,         t->feed,    t->format ? t->format : "auto",
	                         t->catalog_id,   t->country, t->language,
	                         t->ad_account_id};
	PGresult *res;

	res = PQexecParams(db->conn,
	                   "INSERT INTO targets (name, feed, format, catalog_id, country, language,"
	                   " ad_account_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
	                   7, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int rc = db_fail_result(db, res, "adding target");

		if (rc == PS_DB_EXISTS)
			snprintf(db->error, sizeof(db->error), "target \"%s\" already exists",
			         t->name);
		PQclear(res);
		return rc;
	}
	t->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_target_get(ps_db *db, const char *name, ps_target *out)
{
	const char *params[1] = {name};
	PGresult *res;
	int rc;

	memset(out, 0, sizeof(*out));
	res = db_query(db, "reading target",
	               "SELECT " TARGET_COLUMNS " FROM targets WHERE name = $1", 1, params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		snprintf(db->error, sizeof(db->error),
		         "no target named \"%s\" (see: pinsync target list)", name);
		return PS_DB_NOTFOUND;
	}
	rc = target_from_row(out, res, 0);
	PQclear(res);
	return rc;
}

int
ps_db_target_set(ps_db *db, const char *name, const char *column, const char *value)
{
	const char *params[2] = {name, value};
	char sql[200];
	PGresult *res;
	int i;

	for (i = 0; settable[i]; i++)
		if (strcmp(settable[i], column) == 0)
			break;
	if (settable[i] == NULL)
		return db_fail(db, "target option \"%s\" cannot be set", column);
	/* column comes from the whitelist above, never from the caller. A new
	 * schedule applies at once: the next due time is computed afresh. */
	snprintf(sql, sizeof(sql), "UPDATE targets SET %s = $2%s WHERE name = $1", settable[i],
	         strcmp(settable[i], "schedule_s") == 0 ? ", next_run_at = NULL" : "");
	res = db_query(db, "changing target", sql, 2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (strcmp(PQcmdTuples(res), "0") == 0) {
		PQclear(res);
		snprintf(db->error, sizeof(db->error), "no target named \"%s\"", name);
		return PS_DB_NOTFOUND;
	}
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_target_source_get(ps_db *db, int64_t target_id, char **etag, char **last_modified)
{
	char id[32];
	const char *params[1] = {id};
	PGresult *res;

	*etag = *last_modified = NULL;
	snprintf(id, sizeof(id), "%" PRId64, target_id);
	res = db_query(db, "reading feed validators",
	               "SELECT source_etag, source_last_modified FROM targets WHERE id = $1", 1,
	               params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (PQntuples(res) == 1) {
		*etag = db_strdup_value(res, 0, 0);
		*last_modified = db_strdup_value(res, 0, 1);
	}
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_target_source_set(ps_db *db, int64_t target_id, const char *etag, const char *last_modified)
{
	char id[32];
	const char *params[3] = {id, etag, last_modified};
	PGresult *res;

	snprintf(id, sizeof(id), "%" PRId64, target_id);
	res =
	    db_query(db, "recording feed validators",
	             "UPDATE targets SET source_etag = $2, source_last_modified = $3 WHERE id = $1",
	             3, params);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_target_ownership_set(ps_db *db, int64_t target_id, int has_feed_source)
{
	char id[32];
	const char *params[2] = {id, has_feed_source < 0 ? NULL : has_feed_source ? "t" : "f"};
	PGresult *res;

	snprintf(id, sizeof(id), "%" PRId64, target_id);
	res = db_query(db, "recording catalog ownership",
	               "UPDATE targets SET feed_source = $2, feed_source_checked_at ="
	               " CASE WHEN $2::boolean IS NULL THEN NULL ELSE clock_timestamp() END"
	               " WHERE id = $1",
	               2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_target_list(ps_db *db, ps_target **out, size_t *count)
{
	PGresult *res;
	ps_target *list;
	int i, n;

	*out = NULL;
	*count = 0;
	res = db_query(db, "listing targets",
	               "SELECT " TARGET_COLUMNS " FROM targets ORDER BY name", 0, NULL);
	if (res == NULL)
		return PS_DB_ERROR;
	n = PQntuples(res);
	list = calloc((size_t)n + 1, sizeof(*list));
	if (list == NULL) {
		PQclear(res);
		return db_fail(db, "out of memory");
	}
	for (i = 0; i < n; i++)
		if (target_from_row(&list[i], res, i) < 0) {
			ps_db_targets_free(list, (size_t)i);
			PQclear(res);
			return db_fail(db, "out of memory");
		}
	PQclear(res);
	*out = list;
	*count = (size_t)n;
	return PS_DB_OK;
}

void
ps_db_targets_free(ps_target *list, size_t count)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < count; i++)
		ps_target_clear(&list[i]);
	free(list);
}

int
ps_db_target_trylock(ps_db *db, int64_t target_id)
{
	PGresult *res;
	int got;

	res = db_query_id(db, "locking target",
	                  "SELECT pg_try_advisory_lock(" TARGET_LOCK_CLASS ", $1::int)", target_id);
	if (res == NULL)
		return PS_DB_ERROR;
	got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!got) {
		db_fail(db, "another pinsync is syncing this target");
		return PS_DB_BUSY;
	}
	return PS_DB_OK;
}

int
ps_db_target_unlock(ps_db *db, int64_t target_id)
{
	PGresult *res;

	res = db_query_id(db, "unlocking target",
	                  "SELECT pg_advisory_unlock(" TARGET_LOCK_CLASS ", $1::int)", target_id);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}
