/*
 * serve_int.h: what the files of serve mode share (not a public API).
 *
 * serve.c owns the serve_ctx and the worker loop; serve_http.c the HTTP
 * listener; serve_heart.c the heartbeat thread. Each thread owns its own
 * ps_db: libpq connections are not shared between threads.
 */
#ifndef PS_SYNC_SERVE_INT_H
#define PS_SYNC_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "db.h"
#include "settings.h"

struct MHD_Daemon;

typedef struct serve_ctx {
	const ps_settings *settings;
	char worker[160]; /* host:pid, unique per process: jobs.worker */

	atomic_int stopping;      /* a signal asked to stop: take no new job */
	atomic_llong current_job; /* the job the worker runs, 0 when idle */
	int wake_pipe[2];         /* a byte wakes the idle worker (non-blocking) */

	/* HTTP (serve_http.c). */
	struct MHD_Daemon *mhd;
	pthread_mutex_t http_lock; /* guards http_db */
	ps_db *http_db;            /* the HTTP thread's connection, NULL until needed */

	/* Heartbeat (serve_heart.c). */
	pthread_t heart;
	int heart_started;
	pthread_mutex_t heart_lock;
	pthread_cond_t heart_cond;
	int heart_quit; /* guarded by heart_lock */
} serve_ctx;

/* Wakes the worker if it waits for work (any thread; async-signal-safe). */
void serve_wake(serve_ctx *sv);

/* Starts the HTTP listener on settings->listen. Returns 0, or -1 with a
 * message in err. serve_http_stop() closes it and waits for the requests
 * being answered; it accepts a listener that never started. */
int serve_http_start(serve_ctx *sv, char *err, size_t errlen);
void serve_http_stop(serve_ctx *sv);

/* Starts and stops the heartbeat thread. */
int serve_heart_start(serve_ctx *sv);
void serve_heart_stop(serve_ctx *sv);

#endif /* PS_SYNC_SERVE_INT_H */
