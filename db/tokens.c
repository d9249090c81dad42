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
	memset(t, 0, sizeof(*t));
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
	    " refresh_expires_at = EXCLUDED.refresh_expires_at, updated_at = now()",
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
		db_fail(db, "no Pinterest tokens stored (see: pinsync auth set)");
		return PS_DB_NOTFOUND;
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
