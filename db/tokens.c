/*
 * tokens.c: the Pinterest app's OAuth tokens, one row per client id.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

void
ps_tokens_clear(ps_tokens *t)
{
	if (t == NULL)
		return;
	free(t->access_token);
	free(t->refresh_token);
	free(t->refresh_lost_detail);
	memset(t, 0, sizeof(*t));
}

/* The error of a lookup that found no row for client_id: names the client
 * id looked for, and those that have tokens (client ids are app ids, not
 * secrets). Returns PS_DB_NOTFOUND. */
static int
not_found(ps_db *db, const char *client_id)
{
	char have[256] = "";
	size_t len = 0;
	PGresult *res;
	int i, n;

	res = PQexec(db->conn, "SELECT client_id FROM oauth_tokens ORDER BY client_id LIMIT 6");
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		n = PQntuples(res);
		for (i = 0; i < n && i < 5 && len < sizeof(have); i++)
			len += (size_t)snprintf(have + len, sizeof(have) - len, "%s\"%.60s\"",
			                        i ? ", " : "", PQgetvalue(res, i, 0));
		if (n > 5 && len < sizeof(have))
			snprintf(have + len, sizeof(have) - len, ", ...");
	}
	PQclear(res);
	snprintf(db->error, sizeof(db->error),
	         "no Pinterest tokens stored for client id \"%s\" (tokens are stored for: %s)",
	         client_id, have[0] ? have : "no client id");
	return PS_DB_NOTFOUND;
}

int
ps_db_tokens_set(ps_db *db, const char *client_id, const ps_tokens *t)
{
	char aexp[32], rexp[32];
	const char *params[5] = {client_id, t->access_token, t->refresh_token,
	                         t->access_expires_at ? aexp : NULL,
	                         t->refresh_expires_at ? rexp : NULL};
	PGresult *res;

	snprintf(aexp, sizeof(aexp), "%lld", (long long)t->access_expires_at);
	snprintf(rexp, sizeof(rexp), "%lld", (long long)t->refresh_expires_at);
	res = db_query(
	    db, "storing tokens",
	    "INSERT INTO oauth_tokens (client_id, access_token, refresh_token,"
	    " access_expires_at, refresh_expires_at, updated_at)"
	    " VALUES ($1, $2, $3, to_timestamp($4::bigint), to_timestamp($5::bigint), now())"
	    " ON CONFLICT (client_id) DO UPDATE SET access_token = EXCLUDED.access_token,"
	    " refresh_token = EXCLUDED.refresh_token,"
	    " access_expires_at = EXCLUDED.access_expires_at,"
	    " refresh_expires_at = EXCLUDED.refresh_expires_at, updated_at = now(),"
	    " refresh_lost_at = NULL, refresh_lost_detail = NULL",
	    5, params);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_tokens_get(ps_db *db, const char *client_id, ps_tokens *out)
{
	const char *params[1] = {client_id};
	PGresult *res;

	memset(out, 0, sizeof(*out));
	res = db_query(db, "reading tokens",
	               "SELECT access_token, refresh_token,"
	               " coalesce(extract(epoch FROM access_expires_at)::bigint, 0),"
	               " coalesce(extract(epoch FROM refresh_expires_at)::bigint, 0)"
	               " FROM oauth_tokens WHERE client_id = $1",
	               1, params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return not_found(db, client_id);
	}
	out->access_token = db_strdup_value(res, 0, 0);
	out->refresh_token = db_strdup_value(res, 0, 1);
	out->access_expires_at = (time_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	out->refresh_expires_at = (time_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	PQclear(res);
	if (out->access_token == NULL) {
		ps_tokens_clear(out);
		return db_fail(db, "out of memory");
	}
	return PS_DB_OK;
}

/* Reads access/refresh tokens, expiries and the lost-answer mark from row 0
 * of res into out. */
static int
tokens_from_result(ps_db *db, PGresult *res, ps_tokens *out)
{
	out->access_token = db_strdup_value(res, 0, 0);
	out->refresh_token = db_strdup_value(res, 0, 1);
	out->access_expires_at = (time_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	out->refresh_expires_at = (time_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	out->refresh_lost_at = (time_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	out->refresh_lost_detail = db_strdup_value(res, 0, 5);
	if (out->access_token == NULL || (!PQgetisnull(res, 0, 1) && out->refresh_token == NULL) ||
	    (!PQgetisnull(res, 0, 5) && out->refresh_lost_detail == NULL)) {
		ps_tokens_clear(out);
		return db_fail(db, "out of memory");
	}
	return PS_DB_OK;
}

int
ps_db_tokens_refresh_begin(ps_db *db, const char *client_id, double lock_timeout_s, ps_tokens *out)
{
	const char *params[1] = {client_id};
	char sql[96];
	PGresult *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	/* lock_timeout bounds the wait for a refresher that hangs; its
	 * transaction ends with its connection anyway. */
	snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL lock_timeout = '%ldms'",
	         (long)(lock_timeout_s * 1000.0));
	if ((rc = db_command(db, "locking tokens", sql)) < 0)
		goto done;
	res = db_query(db, "locking tokens",
	               "SELECT access_token, refresh_token,"
	               " coalesce(extract(epoch FROM access_expires_at)::bigint, 0),"
	               " coalesce(extract(epoch FROM refresh_expires_at)::bigint, 0),"
	               " coalesce(floor(extract(epoch FROM refresh_lost_at))::bigint, 0),"
	               " refresh_lost_detail"
	               " FROM oauth_tokens WHERE client_id = $1 FOR UPDATE",
	               1, params);
	if (res == NULL) {
		rc = PS_DB_ERROR;
		goto done;
	}
	if (PQntuples(res) == 0) {
		rc = not_found(db, client_id);
		goto done;
	}
	rc = tokens_from_result(db, res, out);
done:
	PQclear(res);
	if (rc != PS_DB_OK)
		ps_db_tokens_refresh_abort(db);
	return rc;
}

int
ps_db_tokens_refresh_commit(ps_db *db, const char *client_id, const ps_tokens *t)
{
	int rc = ps_db_tokens_set(db, client_id, t);

	if (rc == PS_DB_OK)
		rc = db_command(db, "committing refreshed tokens", "COMMIT");
	if (rc != PS_DB_OK)
		ps_db_tokens_refresh_abort(db);
	return rc;
}

int
ps_db_tokens_refresh_lost(ps_db *db, const char *client_id, const char *detail)
{
	const char *params[2] = {client_id, detail};
	PGresult *res;
	int rc = PS_DB_ERROR;

	/* In the refresher's transaction: the mark and the release of the lock
	 * are one commit, so the next refresher always sees the mark. */
	res = db_query(db, "recording a lost refresh answer",
	               "UPDATE oauth_tokens SET refresh_lost_at = now(), refresh_lost_detail = $2"
	               " WHERE client_id = $1",
	               2, params);
	if (res != NULL) {
		PQclear(res);
		rc = db_command(db, "recording a lost refresh answer", "COMMIT");
	}
	if (rc != PS_DB_OK)
		ps_db_tokens_refresh_abort(db);
	return rc;
}

void
ps_db_tokens_refresh_abort(ps_db *db)
{
	/* Outside a transaction this only warns, and warnings are off. */
	PQclear(PQexec(db->conn, "ROLLBACK"));
}

int
ps_db_tokens_info(ps_db *db, const char *client_id, ps_tokens_info *out)
{
	const char *params[1] = {client_id};
	PGresult *res;

	memset(out, 0, sizeof(*out));
	res = db_query(db, "reading token expiries",
	               "SELECT refresh_token IS NOT NULL,"
	               " coalesce(extract(epoch FROM access_expires_at)::bigint, 0),"
	               " coalesce(extract(epoch FROM refresh_expires_at)::bigint, 0),"
	               " extract(epoch FROM updated_at)::bigint,"
	               " coalesce(floor(extract(epoch FROM refresh_lost_at))::bigint, 0),"
	               " coalesce(refresh_lost_detail, '')"
	               " FROM oauth_tokens WHERE client_id = $1",
	               1, params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return not_found(db, client_id);
	}
	out->has_refresh_token = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	out->access_expires_at = (time_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->refresh_expires_at = (time_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	out->updated_at = (time_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	out->refresh_lost_at = (time_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	snprintf(out->refresh_lost_detail, sizeof(out->refresh_lost_detail), "%s",
	         PQgetvalue(res, 0, 5));
	PQclear(res);
	return PS_DB_OK;
}
