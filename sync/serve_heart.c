/*
 * serve_heart.c: the heartbeat thread of serve mode.
 *
 * Every serve_poll_ms it (1) renews the lease of the job the worker runs,
 * once a third of the lease has gone by, so that a live worker keeps its
 * job however long the sync takes while a dead one loses it within one
 * lease; and (2) ticks the scheduler, which queues the syncs that are due
 * (once across all processes: see ps_db_schedule_tick). It has its own
 * database connection, reconnected after any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "serve_int.h"

/* Sleeps ms or until serve_heart_stop(); returns 1 when asked to quit. */
static int
heart_sleep(serve_ctx *sv, long ms)
{
	struct timespec until;
	int quit;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sv->heart_lock);
	while (!sv->heart_quit)
		if (pthread_cond_timedwait(&sv->heart_cond, &sv->heart_lock, &until) == ETIMEDOUT)
			break;
	quit = sv->heart_quit;
	pthread_mutex_unlock(&sv->heart_lock);
	return quit;
}

static void *
heart_main(void *arg)
{
	serve_ctx *sv = arg;
	const ps_settings *s = sv->settings;
	double lease = (double)s->job_lease_s, last_renew = 0;
	int64_t renewed_job = 0;
	ps_db *db = NULL;
	int failing = 0;

	do {
		int64_t job = atomic_load(&sv->current_job);
		int due = 0, rc;

		if (db == NULL && ps_db_connect(&db, s->database_url) != PS_DB_OK) {
			ps_db_close(db); /* the worker reports the database down */
			db = NULL;
			continue;
		}
		/* Lease: renewed every third of it (and at once for a new job
		 * whose claim may be a while ago, e.g. a slow first query). */
		if (job && (job != renewed_job || ps_clock_now() - last_renew >= lease / 3)) {
			rc = ps_db_job_renew(db, job, sv->worker, lease);
			if (rc == PS_DB_NOTFOUND && job == atomic_load(&sv->current_job))
				ps_warn("job %" PRId64
				        ": lease lost (another process took it over)",
				        job);
			else if (rc < 0 && rc != PS_DB_NOTFOUND)
				goto failed;
			renewed_job = job;
			last_renew = ps_clock_now();
		}
		/* Scheduler: a stopping process queues nothing more. */
		if (!atomic_load(&sv->stopping)) {
			if (ps_db_schedule_tick(db, s->reconcile_every_s, &due) < 0)
				goto failed;
			if (due) {
				ps_debug("scheduler: %d target%s due", due, due == 1 ? "" : "s");
				serve_wake(sv);
			}
		}
		failing = 0;
		continue;
	failed:
		if (!failing)
			ps_warn("heartbeat: %s", ps_db_error(db));
		failing = 1;
		ps_db_close(db);
		db = NULL;
	} while (!heart_sleep(sv, s->serve_poll_ms < lease * 1000 / 3 ? s->serve_poll_ms
	                                                              : (long)(lease * 1000 / 3)));
	ps_db_close(db);
	return NULL;
}

int
serve_heart_start(serve_ctx *sv)
{
	if (pthread_create(&sv->heart, NULL, heart_main, sv) != 0)
		return -1;
	sv->heart_started = 1;
	return 0;
}

void
serve_heart_stop(serve_ctx *sv)
{
	if (!sv->heart_started)
		return;
	pthread_mutex_lock(&sv->heart_lock);
	sv->heart_quit = 1;
	pthread_cond_signal(&sv->heart_cond);
	pthread_mutex_unlock(&sv->heart_lock);
	pthread_join(sv->heart, NULL);
	sv->heart_started = 0;
}
