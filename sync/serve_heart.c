/*
 * serve_heart.c: the heartbeat thread of serve mode.
 *
 * Every serve_poll_ms (or a third of the lease, if shorter) it:
 *   1. renews the lease of the job the worker runs, once a third of the
 *      lease has gone by, so that a live worker keeps its job while a dead
 *      one loses it within one lease; but not past the run's deadline
 *      (PINSYNC_RUN_DEADLINE_S) plus PINSYNC_RUN_DEADLINE_GRACE_S: a run
 *      that went on that long (a hostile feed, a stuck call) lets its lease
 *      run out, so that another process can take the job over;
 *   2. ticks the scheduler, which queues the syncs that are due (once
 *      across all processes: see ps_db_schedule_tick);
 *   3. about once a second, reads the targets into the cache of webhook
 *      secrets (serve_secrets.c), and every minute (or replay window, if
 *      shorter) forgets the webhook delivery ids older than the window;
 *   4. records what it found of the database (serve_db_state_set): /readyz
 *      answers from that, and webhooks fail fast while it is down.
 * It has its own database connection, bounded by PINSYNC_SERVE_DB_TIMEOUT_MS
 * and reconnected after any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "run.h"
#include "serve_int.h"

/* How often the targets are read for the secrets cache. */
#define SECRETS_EVERY_MS 1000
/* How often old delivery ids are pruned, at most (and at least once per
 * replay window). */
#define PRUNE_EVERY_MS 60000
/* How often a database found not migrated is checked again. */
#define MIGRATED_EVERY_MS 2000

int64_t
serve_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The heartbeat's period: serve_poll_ms, or a third of the lease. */
static long
heart_period_ms(const ps_settings *s)
{
	long third = s->job_lease_s * 1000 / 3;

	return s->serve_poll_ms < third ? s->serve_poll_ms : third;
}

void
serve_db_state_set(serve_ctx *sv, serve_db_state state)
{
	pthread_mutex_lock(&sv->state_lock);
	sv->db_state = state;
	if (state != SERVE_DB_DOWN)
		sv->db_ok_ms = serve_now_ms();
	pthread_cond_broadcast(&sv->state_cond);
	pthread_mutex_unlock(&sv->state_lock);
}

serve_db_state
serve_db_state_get(serve_ctx *sv, long wait_ms)
{
	const ps_settings *s = sv->settings;
	/* A round takes at most a period and one bounded call; more than that
	 * and some more since the last good one, the heartbeat is stuck. */
	int64_t stale_ms = heart_period_ms(s) + s->serve_db_timeout_ms + 1000;
	serve_db_state st;

	pthread_mutex_lock(&sv->state_lock);
	if (sv->db_state == SERVE_DB_UNKNOWN && wait_ms > 0) {
		struct timespec until;

		serve_deadline(&until, wait_ms);
		while (sv->db_state == SERVE_DB_UNKNOWN)
			if (pthread_cond_timedwait(&sv->state_cond, &sv->state_lock, &until) ==
			    ETIMEDOUT)
				break;
	}
	st = sv->db_state;
	if (st == SERVE_DB_UP && serve_now_ms() - sv->db_ok_ms > stale_ms)
		st = SERVE_DB_DOWN;
	pthread_mutex_unlock(&sv->state_lock);
	return st;
}

int
serve_heart_sleep(serve_ctx *sv, long ms)
{
	struct timespec until;
	int quit;

	serve_deadline(&until, ms);
	pthread_mutex_lock(&sv->heart_lock);
	while (!sv->heart_quit)
		if (pthread_cond_timedwait(&sv->heart_cond, &sv->heart_lock, &until) == ETIMEDOUT)
			break;
	quit = sv->heart_quit;
	pthread_mutex_unlock(&sv->heart_lock);
	return quit;
}

/* What the heartbeat carries from one round to the next. */
typedef struct heart {
	ps_db *db;
	int migrated;       /* the connection's database is migrated */
	int64_t checked_ms; /* when it was found not migrated */
	int64_t renewed_job;
	int64_t expired_job; /* the job whose lease is no longer renewed */
	int64_t last_renew_ms;
	int64_t secrets_ms, prune_ms;
	int failing;
} heart;

/* 1. The lease of the running job. Returns 0, or -1 when the database failed. */
static int
renew_lease(serve_ctx *sv, heart *h)
{
	const ps_settings *s = sv->settings;
	int64_t job = atomic_load(&sv->current_job), now = serve_now_ms();
	double lease = (double)s->job_lease_s, age = 0;
	double max_age = (double)s->run_deadline_s + (double)s->run_deadline_grace_s;
	int renewed = 0, rc;

	/* Renewed every third of the lease, and at once for a new job whose
	 * claim may be a while ago (e.g. a slow first query). */
	if (job == 0 || job == h->expired_job ||
	    (job == h->renewed_job && now - h->last_renew_ms < (int64_t)(lease * 1000 / 3)))
		return 0;
	rc = ps_db_job_renew(h->db, job, sv->worker, lease, max_age, &renewed, &age);
	if (rc == PS_DB_NOTFOUND) {
		if (job == atomic_load(&sv->current_job))
			ps_warn("job %" PRId64 ": lease lost (another process took it over)", job);
	} else if (rc < 0) {
		return -1;
	} else if (!renewed) {
		ps_warn(
		    "job %" PRId64 ": its run has gone on for %.0f s, past its deadline"
		    " (PINSYNC_RUN_DEADLINE_S=%ld) and grace (PINSYNC_RUN_DEADLINE_GRACE_S=%ld):"
		    " its lease (%ld s) is no longer renewed, so that another process may take"
		    " the job over",
		    job, age, s->run_deadline_s, s->run_deadline_grace_s, s->job_lease_s);
		h->expired_job = job;
	}
	h->renewed_job = job;
	h->last_renew_ms = now;
	return 0;
}

/* 3. The secrets cache and the replay window. */
static int
refresh(serve_ctx *sv, heart *h)
{
	const ps_settings *s = sv->settings;
	int64_t now = serve_now_ms();

	if (h->secrets_ms == 0 || now - h->secrets_ms >= SECRETS_EVERY_MS) {
		ps_target *list = NULL;
		size_t n = 0;

		if (ps_db_target_list(h->db, &list, &n) < 0)
			return -1;
		serve_secrets_update(sv, list, n);
		ps_db_targets_free(list, n);
		h->secrets_ms = now;
	}
	if (h->prune_ms == 0 || now - h->prune_ms >= PRUNE_EVERY_MS ||
	    now - h->prune_ms >= s->webhook_tolerance_s * 1000) {
		int64_t pruned = 0;

		if (ps_db_webhook_prune(h->db, s->webhook_tolerance_s, &pruned) < 0)
			return -1;
		if (pruned)
			ps_debug("webhooks: %" PRId64
			         " delivery ids past the replay window forgotten",
			         pruned);
		h->prune_ms = now;
	}
	return 0;
}

/* One round; the state it found is recorded. */
static void
heart_round(serve_ctx *sv, heart *h)
{
	const ps_settings *s = sv->settings;
	int due = 0, rc;

	if (h->db == NULL) {
		rc = ps_db_connect_opts(
		    &h->db, s->database_url,
		    &(ps_db_options){s->serve_db_timeout_ms, "pinsync serve heartbeat"});
		if (rc == PS_DB_SESSION) {
			/* A pooler that keeps no session is a setup to fix, not
			 * an outage to wait out (db/conn.c): the process stops. */
			ps_error("serve: %s", ps_db_error(h->db));
			atomic_store(&sv->exit_code, PS_EXIT_DB);
			atomic_store(&sv->stopping, 1);
			serve_wake(sv);
			h->failing = 1; /* said once */
		}
		if (rc != PS_DB_OK)
			goto failed;
		h->migrated = 0;
		h->checked_ms = 0;
	}
	if (!h->migrated) {
		if (h->checked_ms && serve_now_ms() - h->checked_ms < MIGRATED_EVERY_MS)
			return; /* still not migrated, as recorded */
		rc = ps_db_migrated(h->db, ps_migrations_embedded);
		if (rc < 0 && rc != PS_DB_NOTFOUND)
			goto failed;
		if (rc == PS_DB_NOTFOUND) {
			h->checked_ms = serve_now_ms();
			serve_db_state_set(sv, SERVE_DB_NOT_MIGRATED);
			return;
		}
		h->migrated = 1;
	}
	if (renew_lease(sv, h) < 0)
		goto failed;
	/* 2. Scheduler: a stopping process queues nothing more. */
	if (!atomic_load(&sv->stopping)) {
		if (ps_db_schedule_tick(h->db, s->reconcile_every_s, &due) < 0)
			goto failed;
		if (due) {
			ps_debug("scheduler: %d target%s due", due, due == 1 ? "" : "s");
			serve_wake(sv);
		}
	}
	if (refresh(sv, h) < 0)
		goto failed;
	if (h->failing)
		ps_info("heartbeat: the database is back");
	h->failing = 0;
	serve_db_state_set(sv, SERVE_DB_UP);
	return;
failed:
	if (!h->failing)
		ps_warn("heartbeat: %s", ps_db_error(h->db));
	h->failing = 1;
	ps_db_close(h->db);
	h->db = NULL;
	serve_db_state_set(sv, SERVE_DB_DOWN);
}

static void *
heart_main(void *arg)
{
	serve_ctx *sv = arg;
	heart h;

	memset(&h, 0, sizeof(h));
	do
		heart_round(sv, &h);
	while (!serve_heart_sleep(sv, heart_period_ms(sv->settings)));
	ps_db_close(h.db);
	return NULL;
}

int
serve_heart_start(serve_ctx *sv)
{
	if (pthread_create(&sv->heart, NULL, heart_main, sv) != 0)
		return -1;
	sv->heart_started = 1;
	if (serve_prune_start(sv) < 0) {
		serve_heart_stop(sv);
		return -1;
	}
	return 0;
}

void
serve_heart_quit(serve_ctx *sv)
{
	pthread_mutex_lock(&sv->heart_lock);
	sv->heart_quit = 1;
	pthread_cond_broadcast(&sv->heart_cond); /* the heartbeat and the pruner */
	pthread_mutex_unlock(&sv->heart_lock);
}

void
serve_heart_stop(serve_ctx *sv)
{
	if (!sv->heart_started)
		return;
	serve_heart_quit(sv);
	pthread_join(sv->heart, NULL);
	sv->heart_started = 0;
	serve_prune_stop(sv);
}
