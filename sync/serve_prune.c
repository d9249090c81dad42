/*
 * serve_prune.c: serve mode's pruner (retention, issue 14).
 *
 * Every PINSYNC_PRUNE_EVERY_S it removes what the journal no longer needs
 * (ps_db_prune: finished runs older than PINSYNC_PRUNE_AFTER but each
 * target's PINSYNC_PRUNE_KEEP_RUNS newest and what recovery, pinsync errors
 * and the gauges read; finished jobs; delivery ids past the replay window).
 * A tick does at most PRUNE_TX_PER_TICK small transactions; when work is
 * left the next tick comes a second later, so that a backlog (the first
 * prune of an old journal) drains steadily without ever holding the
 * database for long, and a stop is never kept waiting on a long prune.
 *
 * It runs on a thread and a database connection of its own: the heartbeat
 * (leases, scheduler, /readyz) and the HTTP thread never wait on it. Every
 * serve process has one; the prune lock lets one at a time work, and the
 * others find it taken and skip their turn.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "serve_int.h"

/* Transactions one tick may run (each bounded by PS_DB_PRUNE_ROWS_PER_TX). */
#define PRUNE_TX_PER_TICK 50
/* The wait before the next tick while work is left, and before the first. */
#define PRUNE_AGAIN_MS 1000
/* A prune statement's bound: each touches a few thousand rows. */
#define PRUNE_TIMEOUT_MS 60000

/* Closes the pruner's connection, unpublished first. */
static void
forget_db(serve_ctx *sv, ps_db **db)
{
	pthread_mutex_lock(&sv->pruner_lock);
	sv->pruner_db = NULL;
	pthread_mutex_unlock(&sv->pruner_lock);
	ps_db_close(*db);
	*db = NULL;
}

static void
prune_tick(serve_ctx *sv, ps_db **db, int *more)
{
	const ps_settings *s = sv->settings;
	ps_db_prune_options o = PS_DB_PRUNE_OPTIONS_INIT;
	ps_db_prune_counts n;
	char after[32];
	int rc;

	*more = 0;
	/* The heartbeat finds the database down: nothing to try. */
	if (serve_db_state_get(sv, 0) == SERVE_DB_DOWN)
		return;
	/* Connecting is bounded as serve's other connections are; the
	 * statements, by the longer PRUNE_TIMEOUT_MS. */
	if (*db == NULL &&
	    (ps_db_connect_opts(db, s->database_url,
	                        &(ps_db_options){s->serve_db_timeout_ms, "pinsync serve pruner"}) !=
	         PS_DB_OK ||
	     ps_db_set_timeout(*db, s->serve_db_timeout_ms > PRUNE_TIMEOUT_MS
	                                ? s->serve_db_timeout_ms
	                                : PRUNE_TIMEOUT_MS) != PS_DB_OK)) {
		ps_warn("prune: %s", ps_db_error(*db));
		ps_db_close(*db);
		*db = NULL;
		return;
	}
	pthread_mutex_lock(&sv->pruner_lock);
	sv->pruner_db = *db; /* serve_prune_stop() may interrupt it */
	pthread_mutex_unlock(&sv->pruner_lock);
	o.older_than_s = s->prune_after_s;
	o.keep_runs = (int)s->prune_keep_runs;
	o.webhook_window_s = s->webhook_tolerance_s;
	o.max_transactions = PRUNE_TX_PER_TICK;
	memset(&n, 0, sizeof(n));
	rc = ps_db_prune(*db, &o, &n);
	if (rc == PS_DB_BUSY) {
		ps_debug("prune: another process is pruning; skipped");
		return;
	}
	if (rc < 0) {
		if (!atomic_load(&sv->stopping))
			ps_warn("prune: %s", ps_db_error(*db));
		forget_db(sv, db);
	}
	if (n.runs || n.batches || n.item_problems || n.jobs || n.webhook_deliveries) {
		ps_duration_format(s->prune_after_s, after, sizeof(after));
		ps_info("prune: removed %" PRId64 " runs, %" PRId64 " batches (%" PRId64
		        " bytes of bodies), %" PRId64 " batch items, %" PRId64
		        " batch results, %" PRId64 " item problems, %" PRId64 " jobs, %" PRId64
		        " webhook deliveries, older than %s, in %d transactions%s",
		        n.runs, n.batches, n.body_bytes, n.batch_items, n.batch_results,
		        n.item_problems, n.jobs, n.webhook_deliveries, after, n.transactions,
		        n.more ? "; more next tick" : "");
	}
	*more = rc == 0 && n.more;
}

static void *
prune_main(void *arg)
{
	serve_ctx *sv = arg;
	ps_db *db = NULL;
	long wait_ms = PRUNE_AGAIN_MS;
	int more;

	while (!serve_heart_sleep(sv, wait_ms)) {
		if (atomic_load(&sv->stopping))
			break;
		prune_tick(sv, &db, &more);
		wait_ms = more ? PRUNE_AGAIN_MS : sv->settings->prune_every_s * 1000;
	}
	forget_db(sv, &db);
	return NULL;
}

int
serve_prune_start(serve_ctx *sv)
{
	const ps_settings *s = sv->settings;

	if (s->prune_after_s == 0 || s->prune_every_s == 0) {
		ps_info("prune: off (PINSYNC_PRUNE_AFTER=%s, PINSYNC_PRUNE_EVERY_S=%ld)",
		        s->prune_after_s ? "on" : "off", s->prune_every_s);
		return 0;
	}
	if (pthread_create(&sv->pruner, NULL, prune_main, sv) != 0)
		return -1;
	sv->pruner_started = 1;
	return 0;
}

void
serve_prune_stop(serve_ctx *sv)
{
	if (!sv->pruner_started)
		return;
	/* A prune statement waiting on a database that stopped answering must
	 * not hold the stop: its connection is cut, the call returns, and the
	 * server rolls the statement back (each is a transaction of its own).
	 * A connection still being opened is bounded by serve's own bound. */
	pthread_mutex_lock(&sv->pruner_lock);
	ps_db_interrupt(sv->pruner_db);
	pthread_mutex_unlock(&sv->pruner_lock);
	pthread_join(sv->pruner, NULL);
	sv->pruner_started = 0;
}
