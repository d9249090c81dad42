/*
 * webhooks.c: what serve mode remembers of webhooks: the delivery ids seen
 * within the replay window (migrations/0009_webhook_deliveries.sql), and
 * queueing a webhook's sync together with its delivery id.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

int
ps_db_webhook_enqueue(ps_db *db, int64_t target_id, const char *delivery, long window_s,
                      int64_t *job_id, int *replay)
{
	char id[32], window[32];
	const char *params[3] = {id, delivery, window};
	PGresult *res;

	*job_id = 0;
	*replay = 0;
	if (delivery == NULL)
		return ps_db_job_enqueue(db, target_id, "webhook", job_id);
	snprintf(id, sizeof(id), "%" PRId64, target_id);
	snprintf(window, sizeof(window), "%ld", window_s);
	/* One statement, so that the delivery is remembered if and only if its
	 * sync was queued (or coalesced): a request that failed leaves nothing
	 * behind, and its retry is no replay. A row older than the window (not
	 * pruned yet) counts as unseen and starts a new window. Two requests
	 * with one id at once: the second waits on the first's row lock and
	 * then finds it fresh. */
	res = db_query(db, "queueing webhook job",
	               "WITH d AS ("
	               " INSERT INTO webhook_deliveries AS w (target_id, delivery_id)"
	               " VALUES ($1, $2) ON CONFLICT (target_id, delivery_id)"
	               " DO UPDATE SET first_seen = now()"
	               " WHERE w.first_seen < now() - make_interval(secs => $3::int)"
	               " RETURNING 1),"
	               " j AS (INSERT INTO jobs (target_id, trigger) SELECT $1, 'webhook' FROM d"
	               " ON CONFLICT (target_id) WHERE state = 'queued' DO NOTHING RETURNING id)"
	               " SELECT (SELECT count(*) FROM d), (SELECT id FROM j)",
	               3, params);
	if (res == NULL)
		return PS_DB_ERROR;
	*replay = strcmp(PQgetvalue(res, 0, 0), "0") == 0;
	if (!PQgetisnull(res, 0, 1))
		*job_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_webhook_prune(ps_db *db, long window_s, int64_t *pruned)
{
	char window[32];
	const char *params[1] = {window};
	PGresult *res;

	*pruned = 0;
	snprintf(window, sizeof(window), "%ld", window_s);
	/* At most a bounded number of rows a call, so that one prune after a
	 * long outage does not hold the table: the next ones take the rest. */
	res = db_query(db, "pruning webhook deliveries",
	               "DELETE FROM webhook_deliveries WHERE ctid = ANY (ARRAY("
	               " SELECT ctid FROM webhook_deliveries"
	               " WHERE first_seen < now() - make_interval(secs => $1::int)"
	               " LIMIT 10000))",
	               1, params);
	if (res == NULL)
		return PS_DB_ERROR;
	*pruned = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}
