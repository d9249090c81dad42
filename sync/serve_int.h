/*
 * serve_int.h: what the files of serve mode share (not a public API).
 *
 * serve.c owns the serve_ctx and the worker loop; serve_http.c the HTTP
 * listener; serve_heart.c the heartbeat thread; serve_prune.c the pruner
 * thread (retention); serve_secrets.c the cache of webhook secrets. Each thread owns its own ps_db: libpq connections are
 * not shared between threads. Every connection of serve's own is bounded
 * by PINSYNC_SERVE_DB_TIMEOUT_MS (ps_db_connect_opts), so that no
 * request, probe or stop waits on a database that does not answer for
 * longer than that.
 *
 * What the HTTP side needs of the database without asking it, the
 * heartbeat keeps: whether the database answers and is migrated (for
 * /readyz and to fail fast), and each target's webhook secret (so that a
 * signature is checked before any database work and without a file read).
 */
#ifndef PS_SYNC_SERVE_INT_H
#define PS_SYNC_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "db.h"
#include "settings.h"

struct MHD_Daemon;
typedef struct serve_secret serve_secret;

/* The database as the heartbeat last found it. */
typedef enum serve_db_state {
	SERVE_DB_UNKNOWN,      /* no heartbeat round has ended yet */
	SERVE_DB_DOWN,         /* cannot connect, or a statement failed or timed out */
	SERVE_DB_NOT_MIGRATED, /* reachable, but pinsync migrate has not run */
	SERVE_DB_UP            /* reachable and migrated */
} serve_db_state;

typedef struct serve_ctx {
	const ps_settings *settings;
	char worker[160]; /* host:pid, unique per process: jobs.worker */

	atomic_int stopping;      /* a signal asked to stop: take no new job */
	atomic_int exit_code;     /* set by a thread that found a setup to fix */
	atomic_llong current_job; /* the job the worker runs, 0 when idle */
	int wake_pipe[2];         /* a byte wakes the idle worker (non-blocking) */

	/* The database's state (serve_heart.c writes it, anyone reads it with
	 * serve_db_state()), guarded by state_lock; state_cond is broadcast
	 * after every heartbeat round. */
	pthread_mutex_t state_lock;
	pthread_cond_t state_cond;
	serve_db_state db_state;
	int64_t db_ok_ms; /* serve_now_ms() of the last round that reached it */

	/* Webhook secrets by target name (serve_secrets.c), guarded by
	 * secrets_lock; filled by the heartbeat. */
	pthread_mutex_t secrets_lock;
	serve_secret *secrets; /* sorted by name (strcmp) */
	size_t nsecrets;

	/* HTTP (serve_http.c). */
	struct MHD_Daemon *mhd;
	pthread_mutex_t http_lock; /* guards http_db */
	ps_db *http_db;            /* the webhooks' connection, NULL until needed */
	/* /metrics: the database's part, read by one scrape at a time (the one
	 * holding metrics_lock, on metrics_db) and kept metrics_cache_s. */
	pthread_mutex_t metrics_lock;
	ps_db *metrics_db;
	pthread_mutex_t metrics_cache_lock; /* guards the four below */
	char *metrics_text;                 /* NULL: the database could not be read */
	size_t metrics_len;
	int64_t metrics_at_ms; /* when it was read; 0: never */

	/* Heartbeat (serve_heart.c). */
	pthread_t heart;
	int heart_started;
	pthread_mutex_t heart_lock;
	pthread_cond_t heart_cond;
	int heart_quit; /* guarded by heart_lock; also ends the pruner */

	/* Pruner (serve_prune.c): started with the heartbeat when retention
	 * is on. */
	pthread_t pruner;
	int pruner_started;
	pthread_mutex_t pruner_lock; /* guards pruner_db, the pruner's connection */
	ps_db *pruner_db;
} serve_ctx;

/* Milliseconds of the monotonic clock. */
int64_t serve_now_ms(void);

/* Wakes the worker if it waits for work (any thread; async-signal-safe). */
void serve_wake(serve_ctx *sv);
/* *until = the realtime clock ms milliseconds from now, for the timed
 * waits (pthread_mutex_timedlock, pthread_cond_timedwait). */
void serve_deadline(struct timespec *until, long ms);

/* Starts the HTTP listener on settings->listen. Returns 0, or -1 with a
 * message in err. serve_http_stop() closes it and waits for the requests
 * being answered; it accepts a listener that never started. */
int serve_http_start(serve_ctx *sv, char *err, size_t errlen);
void serve_http_stop(serve_ctx *sv);

/* Starts the heartbeat thread (and the pruner's); serve_heart_quit() asks
 * them to end (at once, or after the database call they are in),
 * serve_heart_stop() also waits for them. */
int serve_heart_start(serve_ctx *sv);
void serve_heart_quit(serve_ctx *sv);
void serve_heart_stop(serve_ctx *sv);

/* Sleeps ms or until serve_heart_quit(); returns 1 when asked to quit. */
int serve_heart_sleep(serve_ctx *sv, long ms);

/* The pruner thread: with PINSYNC_PRUNE_AFTER and PINSYNC_PRUNE_EVERY_S
 * both on, it prunes every PINSYNC_PRUNE_EVERY_S (ps_db_prune), a bounded
 * number of transactions per tick, on its own connection, off the HTTP
 * and heartbeat threads; one serve process at a time does (the prune
 * lock), the others skip their turn. serve_prune_start() returns 0 (also
 * when retention is off: nothing started) or -1; serve_prune_stop() waits
 * for it after serve_heart_quit() and accepts a pruner never started. */
int serve_prune_start(serve_ctx *sv);
void serve_prune_stop(serve_ctx *sv);

/* The database's state as the heartbeat last found it. Before the first
 * round has ended, waits for it up to wait_ms (a process that has just
 * started answers its first probes from fact, not from ignorance). A state
 * SERVE_DB_UP older than the heartbeat can take to renew it reads as
 * SERVE_DB_DOWN (the heartbeat is stuck on the database). */
serve_db_state serve_db_state_get(serve_ctx *sv, long wait_ms);

/* Records the end of a heartbeat round (serve_heart.c). */
void serve_db_state_set(serve_ctx *sv, serve_db_state state);

/* ---- webhook secrets (serve_secrets.c) ---- */

/* Replaces the cache with the targets of list (the heartbeat, after
 * reading them): each target's --webhook-secret-file is read when it is
 * new or its file changed (device, inode, size, modification time); an
 * unreadable one is logged once and refuses every request. */
void serve_secrets_update(serve_ctx *sv, const ps_target *list, size_t count);

/* Looks name up in the cache: 1 when found, with *target_id and *own (the
 * target has its own secret file); *secret is then a malloc'ed copy of
 * that file's secret (NULL when it could not be read), to free with
 * serve_secret_free(). 0 when name is not in the cache (or it was never
 * loaded). No database, no file. -1 when out of memory. */
int serve_secrets_find(serve_ctx *sv, const char *name, int64_t *target_id, int *own,
                       char **secret);

/* Wipes and frees a secret (accepts NULL). */
void serve_secret_free(char *secret);

/* Frees the cache (at the end of serve). */
void serve_secrets_clear(serve_ctx *sv);

#endif /* PS_SYNC_SERVE_INT_H */
