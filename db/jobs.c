/*
 * jobs.c: the job queue of serve mode, the scheduler's tick, and the
 * figures /metrics shows.
 *
 * Every serve process runs the same statements against the same tables;
 * what keeps them from stepping on each other is in the SQL: claims lock
 * the job row with FOR UPDATE SKIP LOCKED, the partial unique index
 * jobs_one_queued_idx coalesces requests, and the scheduler's conditional
 * UPDATE of targets.next_run_at lets one process win each due sync.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

void
ps_job_clear(ps_job *j)
{
	if (j == NULL)
		return;
	free(j->target);
	free(j->trigger);
	memset(j, 0, sizeof(*j));
}

int
ps_db_job_enqueue(ps_db *db, int64_t target_id, const char *trigger, int64_t *job_id)
{
	char id[32];
	const char *params[2] = {id, trigger};
	PGresult *res;

	*job_id = 0;
	snprintf(id, sizeof(id), "%" PRId64, target_id);
	res = db_query(db, "queueing job",
	               "INSERT INTO jobs (target_id, trigger) VALUES ($1, $2)"
	               " ON CONFLICT (target_id) WHERE state = 'queued' DO NOTHING RETURNING id",
	               2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (PQntuples(res) == 1)
		*job_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_job_claim(ps_db *db, const char *worker, double lease_s, ps_job *out)
{
	char lease[32];
	const char *params[2] = {worker, lease};
	PGresult *res;

	memset(out, 0, sizeof(*out));
	snprintf(lease, sizeof(lease), "%.3f", lease_s);
	/* The inner SELECT picks one due job and locks it, skipping rows other
	 * workers hold locked; the outer UPDATE takes it. A queued job waits
	 * while a job of its target runs under a live lease (it would only find
	 * the target busy); a running job whose lease passed is taken over. */
	res =
	    db_query(db, "claiming job",
	             "UPDATE jobs j SET state = 'running', worker = $1, attempts = j.attempts + 1,"
	             " lease_until = clock_timestamp() + make_interval(secs => $2::float8),"
	             " started_at = clock_timestamp(), finished_at = NULL"
	             " FROM targets t"
	             " WHERE t.id = j.target_id AND j.id = ("
	             "  SELECT c.id FROM jobs c"
	             "  WHERE c.state IN ('queued', 'running') AND c.run_after <= now()"
	             "   AND ((c.state = 'queued' AND NOT EXISTS (SELECT 1 FROM jobs r"
	             "         WHERE r.target_id = c.target_id AND r.state = 'running'"
	             "         AND r.lease_until > now()))"
	             "    OR (c.state = 'running' AND c.lease_until <= now()))"
	             "  ORDER BY c.run_after, c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED)"
	             " RETURNING j.id, j.target_id, t.name, j.trigger, j.attempts",
	             2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return PS_DB_NOTFOUND;
	}
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->target_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->target = db_strdup_value(res, 0, 2);
	out->trigger = db_strdup_value(res, 0, 3);
	out->attempts = (int)strtol(PQgetvalue(res, 0, 4), NULL, 10);
	PQclear(res);
	if (out->target == NULL || out->trigger == NULL) {
		ps_job_clear(out);
		return db_fail(db, "out of memory");
	}
	return PS_DB_OK;
}

/* Runs an UPDATE of one job; PS_DB_NOTFOUND when it matched no row,
 * PS_DB_EXISTS when it broke a unique index. */
static int
update_one(ps_db *db, const char *what, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = db_exec(db, what, sql, nparams, params, DB_EXEC_TEXT);
	int rc = PS_DB_OK;

	if (res == NULL)
		return PS_DB_ERROR;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = db_fail_result(db, res, what); /* PS_DB_EXISTS: unique violation */
		PQclear(res);
		return rc;
	}
	if (strcmp(PQcmdTuples(res), "0") == 0) {
		snprintf(db->error, sizeof(db->error), "%s: the job is no longer held", what);
		rc = PS_DB_NOTFOUND;
	}
	PQclear(res);
	return rc;
}

int
ps_db_job_renew(ps_db *db, int64_t job_id, const char *worker, double lease_s, double max_age_s,
                int *renewed, double *age_s)
{
	char id[32], lease[32], max_age[32];
	const char *params[4] = {id, worker, lease, max_age};
	PGresult *res;

	*renewed = 0;
	*age_s = 0;
	snprintf(id, sizeof(id), "%" PRId64, job_id);
	snprintf(lease, sizeof(lease), "%.3f", lease_s);
	snprintf(max_age, sizeof(max_age), "%.3f", max_age_s);
	/* The age is the database's clock against the claim (started_at), the
	 * same clock every process reads the lease with. Past max_age the row
	 * is left as it is: its lease runs out and another process may claim
	 * the job. */
	res = db_query(db, "renewing job lease",
	               "UPDATE jobs SET lease_until = clock_timestamp()"
	               " + make_interval(secs => $3::float8)"
	               " WHERE id = $1 AND worker = $2 AND state = 'running'"
	               "  AND ($4::float8 <= 0 OR started_at"
	               "   > clock_timestamp() - make_interval(secs => $4::float8))"
	               " RETURNING extract(epoch FROM clock_timestamp() - started_at)::float8",
	               4, params);
	if (res == NULL)
		return PS_DB_ERROR;
	*renewed = PQntuples(res) == 1;
	if (*renewed)
		*age_s = strtod(PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	if (*renewed)
		return PS_DB_OK;
	/* Not renewed: lost to another process, or past max_age? */
	res = db_query(db, "reading job age",
	               "SELECT extract(epoch FROM clock_timestamp() - started_at)::float8"
	               " FROM jobs WHERE id = $1 AND worker = $2 AND state = 'running'",
	               2, params);
	if (res == NULL)
		return PS_DB_ERROR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		snprintf(db->error, sizeof(db->error),
		         "renewing job lease: the job is no longer held");
		return PS_DB_NOTFOUND;
	}
	*age_s = strtod(PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_job_finish(ps_db *db, int64_t job_id, const char *worker, const char *state, int exit_code,
                 const char *error)
{
	char id[32], code[16];
	const char *params[5] = {id, worker, state, code, error};

	snprintf(id, sizeof(id), "%" PRId64, job_id);
	snprintf(code, sizeof(code), "%d", exit_code);
	/* The run this job made is the last one of its target started since
	 * the job was claimed: the target's advisory lock, taken before a run
	 * row is written, keeps any other sync from starting one meanwhile. */
	return update_one(db, "finishing job",
	                  "UPDATE jobs SET state = $3, finished_at = clock_timestamp(),"
	                  " lease_until = NULL, exit_code = $4::int, error = $5,"
	                  " run_id = (SELECT r.id FROM runs r WHERE r.target_id = jobs.target_id"
	                  "  AND r.started_at >= jobs.started_at ORDER BY r.id DESC LIMIT 1)"
	                  " WHERE id = $1 AND worker = $2 AND state = 'running'",
	                  5, params);
}

int
ps_db_job_requeue(ps_db *db, int64_t job_id, const char *worker, double delay_s, const char *why)
{
	char id[32], delay[32];
	const char *params[4] = {id, worker, delay, why};
	int rc;

	snprintf(id, sizeof(id), "%" PRId64, job_id);
	snprintf(delay, sizeof(delay), "%.3f", delay_s);
	rc = update_one(db, "requeueing job",
	                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL,"
	                " started_at = NULL, error = $4, attempts = greatest(attempts - 1, 0),"
	                " run_after = clock_timestamp() + make_interval(secs => $3::float8)"
	                " WHERE id = $1 AND worker = $2 AND state = 'running'",
	                4, params);
	if (rc != PS_DB_EXISTS)
		return rc;
	/* (A claim that found the target busy was no attempt: attempts counts
	 * claims whose worker may have died.) Another job of the target is
	 * queued already: it covers this one. */
	params[2] = why;
	return update_one(db, "ending coalesced job",
	                  "UPDATE jobs SET state = 'done', lease_until = NULL, started_at = NULL,"
	                  " finished_at = clock_timestamp(), error = $3"
	                  " WHERE id = $1 AND worker = $2 AND state = 'running'",
	                  3, params);
}

int
ps_db_schedule_tick(ps_db *db, long reconcile_every_s, int *count)
{
	char every[32];
	const char *params[1] = {every};
	PGresult *res;

	*count = 0;
	snprintf(every, sizeof(every), "%ld", reconcile_every_s);
	/* Row locks serialise concurrent ticks: a second UPDATE waiting on a
	 * target's row re-reads it after the first commits, finds next_run_at
	 * in the future and leaves it. next_run_at keeps its cadence (moved by
	 * one period) unless a whole period was missed. A reconcile is due the
	 * same way, every reconcile_every_s (0: never); it waits while a job of
	 * its target is queued, since one queued job per target is the rule. */
	res = db_query(
	    db, "scheduling",
	    "WITH due AS ("
	    " UPDATE targets SET next_run_at = CASE"
	    "  WHEN next_run_at IS NULL"
	    "   OR next_run_at + make_interval(secs => schedule_s) <= now()"
	    "  THEN now() + make_interval(secs => schedule_s)"
	    "  ELSE next_run_at + make_interval(secs => schedule_s) END"
	    " WHERE schedule_s IS NOT NULL AND (next_run_at IS NULL OR next_run_at <= now())"
	    " RETURNING id),"
	    " queued AS (INSERT INTO jobs (target_id, trigger) SELECT id, 'schedule' FROM due"
	    " ON CONFLICT (target_id) WHERE state = 'queued' DO NOTHING RETURNING id),"
	    " rdue AS ("
	    " UPDATE targets t SET next_reconcile_at = now() + make_interval(secs => $1::int)"
	    " WHERE $1::int > 0 AND (next_reconcile_at IS NULL OR next_reconcile_at <= now())"
	    " AND t.id NOT IN (SELECT id FROM due)"
	    " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.target_id = t.id AND j.state = 'queued')"
	    " RETURNING id),"
	    " rqueued AS (INSERT INTO jobs (target_id, trigger) SELECT id, 'reconcile' FROM rdue"
	    " ON CONFLICT (target_id) WHERE state = 'queued' DO NOTHING RETURNING id)"
	    " SELECT (SELECT count(*) FROM due) + (SELECT count(*) FROM rdue),"
	    " (SELECT count(*) FROM queued) + (SELECT count(*) FROM rqueued)",
	    1, params);
	if (res == NULL)
		return PS_DB_ERROR;
	*count = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

/* One statement, so that a scrape sees one snapshot of the tables. The
 * first column is the ps_db_metric; rows come grouped by it. Its cost does
 * not depend on the journal's size (migrations/0011_metric_totals.sql):
 * the history comes from metric_totals, kept by triggers as the work is
 * done; what is under way (running runs, open batches and their items,
 * queued and running jobs) is counted through partial indexes; the last
 * finished run of each target is the first match of runs_target_idx, its
 * last success the first of runs_success_idx. */
static const char metrics_sql[] =
    "WITH tot AS (SELECT m.target_id, t.name, m.family, m.l1, m.l2, m.value"
    "  FROM metric_totals m JOIN targets t ON t.id = m.target_id),"
    " one AS (SELECT t.id, t.name, f.family, coalesce(m.value, 0) AS value"
    "  FROM targets t CROSS JOIN (VALUES ('invalid'), ('retries'), ('retry_wait'),"
    "   ('feed_bytes'), ('parsed')) f(family)"
    "  LEFT JOIN metric_totals m ON m.target_id = t.id AND m.family = f.family"
    "   AND m.l1 = '' AND m.l2 = ''),"
    " running AS (SELECT target_id, count(*) AS n FROM runs WHERE outcome = 'running'"
    "  GROUP BY 1),"
    " open AS (SELECT id, target_id FROM batches WHERE state IN ('planned', 'sent')),"
    " open_items AS (SELECT o.target_id, lower(bi.operation) AS op, count(*) AS n"
    "  FROM open o JOIN batches b ON b.id = o.id AND NOT b.results_recorded"
    "  JOIN batch_items bi ON bi.batch_pk = o.id GROUP BY 1, 2),"
    " items AS (SELECT target_id, l1, l2, sum(value) AS value FROM ("
    "   SELECT target_id, l1, l2, value FROM tot WHERE family = 'items'"
    "   UNION ALL SELECT target_id, op, 'pending', n FROM open_items) x GROUP BY 1, 2, 3),"
    " last AS (SELECT t.id, t.name, l.seconds, l.pending, l.drift FROM targets t"
    "  CROSS JOIN LATERAL (SELECT extract(epoch FROM r.finished_at - r.started_at) AS seconds,"
    "   r.pending, r.drift FROM runs r WHERE r.target_id = t.id"
    "   AND r.finished_at IS NOT NULL AND NOT r.dry_run ORDER BY r.id DESC LIMIT 1) l),"
    " jobs_live AS (SELECT state, count(*) AS n FROM jobs"
    "  WHERE state IN ('queued', 'running') GROUP BY 1)"
    " SELECT 0, name, l1, '', value FROM tot WHERE family = 'runs'"
    " UNION ALL SELECT 1, t.name, '', '', coalesce(r.n, 0)::float8 FROM targets t"
    "  LEFT JOIN running r ON r.target_id = t.id"
    " UNION ALL SELECT 2, t.name, i.l1, i.l2, i.value FROM items i"
    "  JOIN targets t ON t.id = i.target_id"
    " UNION ALL SELECT 3, name, '', '', value FROM one WHERE family = 'invalid'"
    " UNION ALL SELECT 4, name, l1, '', value FROM tot WHERE family = 'batches'"
    " UNION ALL SELECT 5, t.name, '', '', count(o.id)::float8 FROM targets t"
    "  LEFT JOIN open o ON o.target_id = t.id GROUP BY 2"
    " UNION ALL SELECT 6, name, '', '', value FROM one WHERE family = 'retries'"
    " UNION ALL SELECT 7, name, '', '', value FROM one WHERE family = 'retry_wait'"
    " UNION ALL SELECT 8, t.name, '', '', extract(epoch FROM l.finished_at)::float8"
    "  FROM targets t CROSS JOIN LATERAL (SELECT r.finished_at FROM runs r"
    "   WHERE r.target_id = t.id AND r.outcome IN ('ok', 'unchanged')"
    "   AND r.finished_at IS NOT NULL ORDER BY r.finished_at DESC LIMIT 1) l"
    " UNION ALL SELECT 9, name, '', '', seconds::float8 FROM last WHERE seconds IS NOT NULL"
    " UNION ALL SELECT 10, name, '', '', value FROM one WHERE family = 'feed_bytes'"
    " UNION ALL SELECT 11, name, '', '', value FROM one WHERE family = 'parsed'"
    " UNION ALL SELECT 12, '', s.state, '', coalesce(l.n, d.n, 0)::float8"
    "  FROM unnest(ARRAY['queued', 'running', 'done', 'failed']) s(state)"
    "  LEFT JOIN jobs_live l ON l.state = s.state"
    "  LEFT JOIN (SELECT l1, sum(value) AS n FROM tot WHERE family = 'jobs' GROUP BY 1) d"
    "   ON d.l1 = s.state"
    " UNION ALL SELECT 13, '', '', '', coalesce((SELECT n FROM jobs_live"
    "  WHERE state = 'queued'), 0)::float8"
    " UNION ALL SELECT 14, name, '', '', pending::float8 FROM last"
    " UNION ALL SELECT 15, name, '', '', drift::float8 FROM last"
    " UNION ALL SELECT 16, '', '', '', coalesce(extract(epoch FROM now() - min(created_at)), 0)"
    "  ::float8 FROM jobs WHERE state = 'queued'"
    " UNION ALL SELECT 17, '', client_id, '', extract(epoch FROM refresh_expires_at)::float8"
    "  FROM oauth_tokens WHERE refresh_expires_at IS NOT NULL"
    " ORDER BY 1, 2, 3, 4";

int
ps_db_metrics(ps_db *db, ps_db_metric_cb cb, void *ctx)
{
	PGresult *res = db_query(db, "reading metrics", metrics_sql, 0, NULL);
	int i, n, rc = PS_DB_OK;

	if (res == NULL)
		return PS_DB_ERROR;
	n = PQntuples(res);
	for (i = 0; i < n && rc == PS_DB_OK; i++) {
		long m = strtol(PQgetvalue(res, i, 0), NULL, 10);

		if (m < 0 || m >= PS_DB_M_COUNT)
			continue;
		rc = cb(ctx, (ps_db_metric)m, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		        PQgetvalue(res, i, 3), strtod(PQgetvalue(res, i, 4), NULL));
	}
	PQclear(res);
	return rc;
}
