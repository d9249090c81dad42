/*
 * serve.c: serve mode's process: signals, the worker loop that runs jobs,
 * and the `pinsync serve` command.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "run.h"
#include "serve_int.h"

/* How long a job that found its target busy waits before it is tried again. */
#define BUSY_RETRY_S 2.0

/* The process's one serve_ctx, for the signal handler. */
static serve_ctx *volatile signal_ctx;

static void
on_signal(int sig)
{
	serve_ctx *sv = signal_ctx;

	(void)sig;
	if (sv == NULL)
		return;
	if (atomic_load(&sv->stopping) && atomic_load(&sv->current_job))
		_exit(PS_EXIT_INTERRUPTED); /* asked twice: the lease hands the job on */
	atomic_store(&sv->stopping, 1);
	serve_wake(sv);
}

void
serve_deadline(struct timespec *until, long ms)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += ms / 1000;
	until->tv_nsec += (ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

void
serve_wake(serve_ctx *sv)
{
	char c = 1;
	ssize_t n;

	/* Non-blocking: a full pipe already holds a wake-up. */
	n = write(sv->wake_pipe[1], &c, 1);
	(void)n;
}

/* Waits up to ms for a wake-up byte, and drains the pipe. */
static void
wait_for_work(serve_ctx *sv, long ms)
{
	struct pollfd p = {sv->wake_pipe[0], POLLIN, 0};
	char buf[64];

	if (poll(&p, 1, (int)ms) > 0)
		while (read(sv->wake_pipe[0], buf, sizeof(buf)) > 0)
			;
}

static int
install_signals(serve_ctx *sv)
{
	struct sigaction sa;

	signal_ctx = sv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/* What a run's exit code makes of its job. */
static const char *
describe_exit(int code)
{
	switch (code) {
	case PS_EXIT_OK: return NULL;
	case PS_EXIT_INTERNAL: return "internal error";
	case PS_EXIT_USAGE: return "configuration error (does the target still exist?)";
	case PS_EXIT_FEED: return "feed unusable: nothing was deleted";
	case PS_EXIT_DB: return "database error";
	case PS_EXIT_API: return "Pinterest API error";
	case PS_EXIT_PARTIAL: return "partial: some items were rejected (pinsync errors NAME)";
	case PS_EXIT_HELD: return "held: deletes held back by the delete guard";
	case PS_EXIT_INTERRUPTED: return "interrupted";
	case PS_EXIT_BUSY: return "another pinsync was syncing this target";
	case PS_EXIT_DRIFT: return "drift found on Pinterest and repaired";
	default: return "unknown exit status";
	}
}

/* Connects the worker's connection when it has none; 0 when usable. */
static int
worker_db(serve_ctx *sv, ps_db **db, int *down_logged)
{
	if (*db)
		return 0;
	/* The heartbeat finds it down: no need to wait on it here too. */
	if (serve_db_state_get(sv, 0) == SERVE_DB_DOWN)
		return -1;
	if (ps_db_connect_opts(db, sv->settings->database_url,
	                       &(ps_db_options){sv->settings->serve_db_timeout_ms,
	                                        "pinsync serve worker"}) != PS_DB_OK ||
	    ps_db_migrated(*db, ps_migrations_embedded) != PS_DB_OK) {
		if (!*down_logged)
			ps_error("serve: the database is not usable (%s); retrying",
			         ps_db_error(*db)[0] ? ps_db_error(*db) : "not migrated");
		*down_logged = 1;
		ps_db_close(*db);
		*db = NULL;
		return -1;
	}
	if (*down_logged)
		ps_info("serve: the database is back");
	*down_logged = 0;
	return 0;
}

/* Runs one claimed job to its end and records what became of it. */
static void
run_job(serve_ctx *sv, ps_db *db, const ps_job *job, FILE *devnull)
{
	const ps_settings *s = sv->settings;
	ps_run_options ro;
	const char *state, *why;
	int code, rc;

	ps_log_set_target(job->target);
	if (job->attempts > s->job_max_attempts) {
		ps_error("job %" PRId64 ": its worker stopped %d times; giving up", job->id,
		         job->attempts - 1);
		rc = ps_db_job_finish(db, job->id, sv->worker, "failed", PS_EXIT_INTERNAL,
		                      "given up: the process running it stopped every time");
		if (rc < 0)
			ps_error("%s", ps_db_error(db));
		ps_metrics_job("failed");
		ps_log_set_target(NULL);
		return;
	}
	ps_info("job %" PRId64 ": %s sync%s", job->id, job->trigger,
	        job->attempts > 1 ? " (taken over after its worker stopped)" : "");

	memset(&ro, 0, sizeof(ro));
	ro.target = job->target;
	ro.trigger = job->trigger;
	ro.out = devnull;
	atomic_store(&sv->current_job, job->id);
	if (strcmp(job->trigger, "reconcile") == 0) {
		/* PINSYNC_RECONCILE_EVERY_S: every item read back, drift repaired. */
		ps_reconcile_options rco = {job->target, 0, 1, devnull};

		code = ps_sync_reconcile(s, &rco);
	} else {
		code = ps_sync_run(s, &ro);
	}
	atomic_store(&sv->current_job, 0);
	ps_log_set_target(job->target); /* ps_sync_run clears it */

	why = describe_exit(code);
	if (code == PS_EXIT_BUSY || code == PS_EXIT_INTERRUPTED) {
		ps_info("job %" PRId64 ": %s; queued again", job->id, why);
		rc = ps_db_job_requeue(db, job->id, sv->worker, BUSY_RETRY_S, why);
		state = "requeued";
	} else {
		state = code == PS_EXIT_OK || code == PS_EXIT_PARTIAL || code == PS_EXIT_HELD ||
		                code == PS_EXIT_DRIFT
		            ? "done"
		            : "failed";
		ps_info("job %" PRId64 ": %s (exit %d%s%s)", job->id, state, code, why ? ": " : "",
		        why ? why : "");
		rc = ps_db_job_finish(db, job->id, sv->worker, state, code, why);
	}
	if (rc == PS_DB_NOTFOUND)
		ps_warn("job %" PRId64 ": another process took it over meanwhile", job->id);
	else if (rc < 0)
		ps_error("job %" PRId64 ": %s", job->id, ps_db_error(db));
	ps_metrics_job(state);
	ps_log_set_target(NULL);
}

static void
worker_loop(serve_ctx *sv)
{
	const ps_settings *s = sv->settings;
	FILE *devnull = fopen("/dev/null", "w");
	ps_db *db = NULL;
	int down_logged = 0;

	while (!atomic_load(&sv->stopping)) {
		ps_job job;
		int rc;

		if (s->serve_workers == 0 || devnull == NULL ||
		    worker_db(sv, &db, &down_logged) < 0) {
			wait_for_work(sv, s->serve_workers ? 1000 : 60000);
			continue;
		}
		rc = ps_db_job_claim(db, sv->worker, (double)s->job_lease_s, &job);
		if (rc == PS_DB_NOTFOUND) {
			wait_for_work(sv, s->serve_poll_ms);
			continue;
		}
		if (rc < 0) {
			ps_error("serve: %s", ps_db_error(db));
			ps_db_close(db); /* reconnects at the next turn */
			db = NULL;
			wait_for_work(sv, 1000);
			continue;
		}
		run_job(sv, db, &job, devnull);
		ps_job_clear(&job);
		if (!ps_db_usable(db)) {
			/* A call timed out or the link broke: reconnect next turn. */
			ps_db_close(db);
			db = NULL;
		}
	}
	if (devnull)
		fclose(devnull);
	ps_db_close(db);
}

int
ps_serve(const ps_settings *settings)
{
	serve_ctx sv;
	char host[128], err[512];
	sigset_t block, old;
	int rc = PS_EXIT_OK, http_started = 0;

	memset(&sv, 0, sizeof(sv));
	sv.settings = settings;
	sv.wake_pipe[0] = sv.wake_pipe[1] = -1;
	pthread_mutex_init(&sv.state_lock, NULL);
	pthread_cond_init(&sv.state_cond, NULL);
	pthread_mutex_init(&sv.secrets_lock, NULL);
	pthread_mutex_init(&sv.http_lock, NULL);
	pthread_mutex_init(&sv.metrics_lock, NULL);
	pthread_mutex_init(&sv.metrics_cache_lock, NULL);
	pthread_mutex_init(&sv.heart_lock, NULL);
	pthread_mutex_init(&sv.pruner_lock, NULL);
	pthread_cond_init(&sv.heart_cond, NULL);
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(sv.worker, sizeof(sv.worker), "%s:%ld", host, (long)getpid());

	if (pipe(sv.wake_pipe) < 0 || fcntl(sv.wake_pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(sv.wake_pipe[1], F_SETFL, O_NONBLOCK) < 0 || install_signals(&sv) < 0) {
		ps_error("serve: %s", strerror(errno));
		rc = PS_EXIT_INTERNAL;
		goto done;
	}

	/* The threads start with SIGTERM and SIGINT blocked, so that signals
	 * land in this thread (and interrupt its waits), then unblock here. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (serve_http_start(&sv, err, sizeof(err)) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		ps_error("serve: %s", err);
		rc = PS_EXIT_USAGE;
		goto done;
	}
	http_started = 1;
	if (serve_heart_start(&sv) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		ps_error("serve: cannot start the heartbeat thread");
		rc = PS_EXIT_INTERNAL;
		goto done;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ps_info("serve: worker %s, %ld job%s at a time, lease %lds", sv.worker,
	        settings->serve_workers, settings->serve_workers == 1 ? "" : "s",
	        settings->job_lease_s);

	worker_loop(&sv);
	ps_info("serve: stopping");
	if (atomic_load(&sv.exit_code))
		rc = atomic_load(&sv.exit_code);

done:
	/* The heartbeat is told first, so that it ends its round (at most one
	 * bounded database call) while the listener drains. */
	if (sv.heart_started)
		serve_heart_quit(&sv);
	if (http_started)
		serve_http_stop(&sv);
	serve_heart_stop(&sv);
	serve_secrets_clear(&sv);
	signal_ctx = NULL;
	if (sv.wake_pipe[0] >= 0)
		close(sv.wake_pipe[0]);
	if (sv.wake_pipe[1] >= 0)
		close(sv.wake_pipe[1]);
	pthread_cond_destroy(&sv.heart_cond);
	pthread_mutex_destroy(&sv.pruner_lock);
	pthread_mutex_destroy(&sv.heart_lock);
	pthread_mutex_destroy(&sv.metrics_cache_lock);
	pthread_mutex_destroy(&sv.metrics_lock);
	pthread_mutex_destroy(&sv.http_lock);
	pthread_mutex_destroy(&sv.secrets_lock);
	pthread_cond_destroy(&sv.state_cond);
	pthread_mutex_destroy(&sv.state_lock);
	if (rc == PS_EXIT_OK)
		ps_info("serve: stopped");
	return rc;
}

/* ---- pinsync serve ---- */

typedef struct serve_args {
	const char *listen;
	const char *config;
} serve_args;

static int
serve_flag(void *ctx, int opt, const char *arg)
{
	serve_args *a = ctx;

	if (opt == 'l')
		a->listen = arg;
	else if (opt == 'c')
		a->config = arg;
	else
		return PS_EXIT_USAGE;
	return 0;
}

int
cmd_serve(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
	                                     {"config", required_argument, NULL, 'c'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	serve_args a = {NULL, NULL};
	char err[512];
	int rc, first, level;

	first = ps_cli_parse_flags(cmd, argc, argv, opts, serve_flag, &a, &rc);
	if (first < 0)
		return rc;
	if (first < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	/* --config fills what the environment left at its default; flags win. */
	if (a.config) {
		if (ps_settings_set(s, "config", a.config, err, sizeof(err)) < 0 ||
		    ps_settings_load_file(s, a.config, err, sizeof(err)) < 0)
			return ps_cli_usage_error(cmd, "%s", err);
		level = ps_log_level_parse(s->log_level);
		if (level < 0)
			return ps_cli_usage_error(cmd,
			                          "log_level must be debug, info, warn or error");
		ps_log_init((ps_log_level)level, strcmp(s->log_format, "json") == 0   ? 1
		                                 : strcmp(s->log_format, "text") == 0 ? 0
		                                                                      : -1);
		ps_log_secret(s->client_secret);
	}
	if (a.listen && ps_settings_set(s, "listen", a.listen, err, sizeof(err)) < 0)
		return ps_cli_usage_error(cmd, "%s", err);
	return ps_serve(s);
}
