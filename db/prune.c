/*
 * prune.c: retention. Removes old finished runs with their journal, old
 * finished jobs and webhook delivery ids past their window, in small
 * transactions; never what recovery, `pinsync errors` or the gauges of the
 * last run read (db.h says what is kept, and why).
 *
 * Every transaction is one statement in autocommit: a few batches (their
 * items and results bounded by PS_DB_PRUNE_ROWS_PER_TX), or that many item
 * problems, jobs or delivery ids. A sync running meanwhile is not blocked:
 * its own rows are never candidates, and no table lock is taken.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

/* Serialises prunes across processes (the migrator's class is 7405000, a
 * target's 7405001). */
#define PRUNE_LOCK "7405002, 0"
/* Candidate runs fetched at once; all of their rows go before the next. */
#define PRUNE_RUNS_AT_ONCE 20

/*
 * The runs that may go: $1 the cutoff (timestamptz), $2 keep_runs, $3 the
 * target's name or NULL. Kept per target: the keep_runs newest (at least
 * the latest), the latest that is no dry run (`pinsync errors` reads it),
 * the latest finished one that is no dry run (the last duration, pending
 * and drift gauges) and the latest successful one (last success). Never a
 * run still running, nor one with a batch planned or sent: recovery and
 * `pinsync poll` finish those batches from the journal. A batch in another
 * state (completed, failed, lost, split, abandoned) is final: nothing reads
 * a finished run's lost or split batches again (their items stayed dirty in
 * the snapshot, and the next run sends them).
 */
#define CANDIDATES                                                                               \
	"WITH t AS (SELECT id FROM targets WHERE $3::text IS NULL OR name = $3::text),"         \
	" keep AS (SELECT k.id FROM t CROSS JOIN LATERAL ("                                      \
	"  (SELECT id FROM runs WHERE target_id = t.id ORDER BY id DESC"                         \
	"   LIMIT greatest($2::int, 1))"                                                         \
	"  UNION (SELECT id FROM runs WHERE target_id = t.id AND NOT dry_run"                    \
	"   ORDER BY id DESC LIMIT 1)"                                                           \
	"  UNION (SELECT id FROM runs WHERE target_id = t.id AND NOT dry_run"                    \
	"   AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1)"                               \
	"  UNION (SELECT id FROM runs WHERE target_id = t.id"                                    \
	"   AND outcome IN ('ok', 'unchanged') ORDER BY finished_at DESC LIMIT 1)) k),"          \
	" c AS (SELECT r.id FROM runs r JOIN t ON t.id = r.target_id"                            \
	"  WHERE r.outcome <> 'running' AND r.finished_at < $1::timestamptz"                     \
	"  AND r.id NOT IN (SELECT id FROM keep)"                                                \
	"  AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.run_id = r.id"                        \
	"   AND b.state IN ('planned', 'sent')))"

/* Jobs that ended before the cutoff; CUT and TARGET name the parameters
 * (cutoff, target's name or NULL). */
#define OLD_JOBS(CUT, TARGET)                                                            \
	"SELECT j.ctid FROM jobs j WHERE j.state IN ('done', 'failed')"                  \
	" AND j.finished_at < " CUT "::timestamptz AND (" TARGET "::text IS NULL"        \
	" OR j.target_id = (SELECT id FROM targets WHERE name = " TARGET "::text))"

/* Delivery ids older than the window (WIN seconds; 0: none). */
#define OLD_DELIVERIES(WIN, TARGET)                                                      \
	"SELECT w.ctid FROM webhook_deliveries w WHERE " WIN "::int > 0"                 \
	" AND w.first_seen < now() - make_interval(secs => " WIN "::int)"                \
	" AND (" TARGET "::text IS NULL"                                                 \
	" OR w.target_id = (SELECT id FROM targets WHERE name = " TARGET "::text))"

#define STR_(x) #x
#define STR(x) STR_(x)
#define ROWS_PER_TX STR(PS_DB_PRUNE_ROWS_PER_TX)

typedef struct prune_ctx {
	ps_db *db;
	const ps_db_prune_options *o;
	ps_db_prune_counts *n;
	const char *cutoff, *keep, *window; /* as text, for the statements */
} prune_ctx;

static int64_t
value(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? 0 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* 1 when the transaction budget is spent (counts->more is then set). */
static int
budget_spent(prune_ctx *p)
{
	if (p->o->max_transactions > 0 && p->n->transactions >= p->o->max_transactions) {
		p->n->more = 1;
		return 1;
	}
	return 0;
}

/* Runs one bounded DELETE; *deleted is its row count. */
static int
delete_step(prune_ctx *p, const char *what, const char *sql, int nparams,
            const char *const *params, int64_t *deleted)
{
	PGresult *res = db_query(p->db, what, sql, nparams, params);

	if (res == NULL)
		return PS_DB_ERROR;
	*deleted = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	p->n->transactions++;
	return PS_DB_OK;
}

/* Removes every row of the runs in ids (a bigint[] literal), a bounded
 * number a transaction. *progress is set when anything went. */
static int
prune_runs(prune_ctx *p, const char *ids, int *progress)
{
	char limit[32];
	PGresult *res;
	int64_t gone;
	int rc;

	snprintf(limit, sizeof(limit), "%d", PS_DB_PRUNE_ROWS_PER_TX);
	/* The batches in id order while their items stay within the limit
	 * (at least one: a batch holds at most 1000). Items and results go in
	 * the same statement; the trigger on batches then finds none left. */
	for (;;) {
		const char *params[2] = {ids, limit};

		if (budget_spent(p))
			return PS_DB_OK;
		res = db_query(
		    p->db, "pruning batches",
		    "WITH b AS (SELECT id FROM (SELECT id, item_count,"
		    "  sum(item_count) OVER (ORDER BY id) AS upto FROM batches"
		    "  WHERE run_id = ANY ($1::bigint[])) s"
		    "  WHERE upto - item_count < $2::int),"
		    " bi AS (DELETE FROM batch_items i USING b WHERE i.batch_pk = b.id RETURNING 1),"
		    " br AS (DELETE FROM batch_results x USING b WHERE x.batch_pk = b.id RETURNING 1),"
		    " bd AS (DELETE FROM batches d USING b WHERE d.id = b.id"
		    "  RETURNING pg_column_size(d.body) AS size)"
		    " SELECT (SELECT count(*) FROM bd), (SELECT count(*) FROM bi),"
		    "  (SELECT count(*) FROM br), (SELECT sum(size) FROM bd)",
		    2, params);
		if (res == NULL)
			return PS_DB_ERROR;
		p->n->transactions++;
		gone = value(res, 0);
		p->n->batches += gone;
		p->n->batch_items += value(res, 1);
		p->n->batch_results += value(res, 2);
		p->n->body_bytes += value(res, 3);
		PQclear(res);
		if (gone == 0)
			break;
		*progress = 1;
	}
	do {
		if (budget_spent(p))
			return PS_DB_OK;
		rc = delete_step(p, "pruning item problems",
		                 "DELETE FROM item_problems WHERE ctid = ANY (ARRAY("
		                 " SELECT ctid FROM item_problems WHERE run_id = ANY ($1::bigint[])"
		                 " LIMIT " ROWS_PER_TX "))",
		                 1, &ids, &gone);
		if (rc < 0)
			return rc;
		p->n->item_problems += gone;
		*progress |= gone > 0;
	} while (gone > 0);
	if (budget_spent(p))
		return PS_DB_OK;
	/* The runs themselves, once nothing of theirs is left (jobs that made
	 * them keep their row, with run_id NULL). */
	rc = delete_step(p, "pruning runs",
	                 "DELETE FROM runs r WHERE r.id = ANY ($1::bigint[])"
	                 " AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.run_id = r.id)",
	                 1, &ids, &gone);
	if (rc < 0)
		return rc;
	p->n->runs += gone;
	*progress |= gone > 0;
	return PS_DB_OK;
}

/* What a prune would remove, counted in one read-only statement. */
static int
prune_count(prune_ctx *p)
{
	const char *params[4] = {p->cutoff, p->keep, p->o->target, p->window};
	PGresult *res = db_query(
	    p->db, "counting what a prune would remove",
	    CANDIDATES ","
	    " cb AS (SELECT b.id, pg_column_size(b.body) AS size FROM batches b"
	    "  JOIN c ON c.id = b.run_id)"
	    " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM cb),"
	    "  (SELECT count(*) FROM batch_items i JOIN cb ON cb.id = i.batch_pk),"
	    "  (SELECT count(*) FROM batch_results x JOIN cb ON cb.id = x.batch_pk),"
	    "  (SELECT count(*) FROM item_problems q JOIN c ON c.id = q.run_id),"
	    "  (SELECT count(*) FROM (" OLD_JOBS("$1", "$3") ") j),"
	    "  (SELECT count(*) FROM (" OLD_DELIVERIES("$4", "$3") ") w),"
	    "  (SELECT sum(size) FROM cb)",
	    4, params);

	if (res == NULL)
		return PS_DB_ERROR;
	p->n->runs += value(res, 0);
	p->n->batches += value(res, 1);
	p->n->batch_items += value(res, 2);
	p->n->batch_results += value(res, 3);
	p->n->item_problems += value(res, 4);
	p->n->jobs += value(res, 5);
	p->n->webhook_deliveries += value(res, 6);
	p->n->body_bytes += value(res, 7);
	PQclear(res);
	return PS_DB_OK;
}

static int
prune_all(prune_ctx *p)
{
	const char *jparams[2] = {p->cutoff, p->o->target};
	const char *wparams[2] = {p->window, p->o->target};
	char limit[32];
	int64_t gone;
	int rc;

	snprintf(limit, sizeof(limit), "%d", PRUNE_RUNS_AT_ONCE);
	/* Jobs first: a run removed later then has no job to update. */
	do {
		if (budget_spent(p))
			return PS_DB_OK;
		rc = delete_step(p, "pruning jobs",
		                 "DELETE FROM jobs WHERE ctid = ANY (ARRAY(" OLD_JOBS("$1", "$2")
		                 " LIMIT " ROWS_PER_TX "))",
		                 2, jparams, &gone);
		if (rc < 0)
			return rc;
		p->n->jobs += gone;
	} while (gone > 0);
	for (;;) {
		const char *params[4] = {p->cutoff, p->keep, p->o->target, limit};
		PGresult *res;
		char *ids;
		int progress = 0;

		if (budget_spent(p))
			return PS_DB_OK;
		res = db_query(p->db, "finding runs to prune",
		               CANDIDATES " SELECT coalesce(array_agg(id ORDER BY id), '{}')::text"
		                          " FROM (SELECT id FROM c ORDER BY id LIMIT $4::int) f",
		               4, params);
		if (res == NULL)
			return PS_DB_ERROR;
		if (strcmp(PQgetvalue(res, 0, 0), "{}") == 0) {
			PQclear(res);
			break;
		}
		ids = db_strdup_value(res, 0, 0);
		PQclear(res);
		if (ids == NULL)
			return db_fail(p->db, "out of memory");
		rc = prune_runs(p, ids, &progress);
		free(ids);
		if (rc < 0)
			return rc;
		if (p->n->more)
			return PS_DB_OK;
		if (!progress)
			break; /* something holds them after all: leave them */
	}
	do {
		if (budget_spent(p))
			return PS_DB_OK;
		rc = delete_step(p, "pruning webhook deliveries",
		                 "DELETE FROM webhook_deliveries WHERE ctid = ANY (ARRAY("
		                 OLD_DELIVERIES("$1", "$2") " LIMIT " ROWS_PER_TX "))",
		                 2, wparams, &gone);
		if (rc < 0)
			return rc;
		p->n->webhook_deliveries += gone;
	} while (gone > 0);
	return PS_DB_OK;
}

int
ps_db_prune(ps_db *db, const ps_db_prune_options *o, ps_db_prune_counts *counts)
{
	char older[32], keep[32], window[32];
	const char *params[1] = {older};
	prune_ctx p = {db, o, counts, NULL, keep, window};
	PGresult *res;
	char *cutoff = NULL;
	int rc, locked = 0;

	snprintf(older, sizeof(older), "%ld", o->older_than_s);
	snprintf(keep, sizeof(keep), "%d", o->keep_runs);
	snprintf(window, sizeof(window), "%ld", o->webhook_window_s);
	if (!o->dry_run) {
		res = db_query(db, "taking the prune lock",
		               "SELECT pg_try_advisory_lock(" PRUNE_LOCK ")", 0, NULL);
		if (res == NULL)
			return PS_DB_ERROR;
		locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (!locked) {
			db_fail(db, "another pinsync is pruning this database");
			return PS_DB_BUSY;
		}
	}
	/* One cutoff for the whole prune, so that its parts agree. */
	res = db_query(db, "pruning",
	               "SELECT now() - make_interval(secs => $1::bigint)", 1, params);
	if (res == NULL) {
		rc = PS_DB_ERROR;
		goto done;
	}
	cutoff = db_strdup_value(res, 0, 0);
	PQclear(res);
	if (cutoff == NULL) {
		rc = db_fail(db, "out of memory");
		goto done;
	}
	p.cutoff = cutoff;
	rc = o->dry_run ? prune_count(&p) : prune_all(&p);
done:
	free(cutoff);
	if (locked && ps_db_usable(db)) {
		res = db_exec(db, "releasing the prune lock",
		              "SELECT pg_advisory_unlock(" PRUNE_LOCK ")", 0, NULL, DB_EXEC_TEXT);
		PQclear(res);
	}
	return rc;
}
