/*
 * serve.h: `pinsync serve`, the long-running mode.
 *
 * One process holds:
 *   - an HTTP listener (libmicrohttpd, a thread per connection, its own
 *     database connections): POST /hooks/TARGET queues a sync of TARGET when
 *     the request is signed (webhook.h), unless its delivery id says it is a
 *     replay; GET /healthz (the process alone), /readyz (what the heartbeat
 *     found) and /metrics (the database's part cached);
 *   - a heartbeat thread (its own connection): renews the lease of the job
 *     running (not past the run's deadline plus a grace), ticks the
 *     scheduler (targets with --schedule), keeps the webhook secrets and
 *     the database's state for the HTTP side, prunes old delivery ids;
 *   - the worker, in the calling thread: claims jobs from the shared queue
 *     (db.h, "jobs") one at a time and runs each with ps_sync_run().
 * Several processes against one database share the jobs; one sync per
 * target at a time still holds through the target's advisory lock.
 *
 * A database that does not answer stops nothing but the database work:
 * every call on serve's own connections is bounded by
 * PINSYNC_SERVE_DB_TIMEOUT_MS, so probes, webhooks and a stop answer
 * within it (a sync's own connection is unbounded).
 *
 * SIGTERM or SIGINT: stop taking jobs, let the running sync finish,
 * answer /readyz with 503 meanwhile, close the listener, return PS_EXIT_OK.
 * A second signal while a sync runs exits at once with PS_EXIT_INTERRUPTED
 * (the job's lease then runs out and another process takes it over).
 */
#ifndef PS_SYNC_SERVE_H
#define PS_SYNC_SERVE_H

#include "settings.h"

/* Runs serve mode until a signal; returns a PS_EXIT_* code (PS_EXIT_OK
 * after a graceful stop, PS_EXIT_USAGE when the listener cannot start).
 * settings must stay valid and unchanged until it returns. */
int ps_serve(const ps_settings *settings);

#endif /* PS_SYNC_SERVE_H */
