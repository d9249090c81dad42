/*
 * run.h: one sync of one target, end to end.
 *
 * plan -> send -> poll -> record: the feed is parsed item by item, each
 * item is diffed against the snapshot, new and changed items are encoded
 * into batches that go out as they fill (each written to the journal before
 * it is sent), items absent from a feed read to its end are deleted, every
 * batch is polled until Pinterest finishes it, and every item's result is
 * recorded with the snapshot advanced for the items Pinterest accepted.
 *
 * Exit codes (documented in the README and `pinsync --help`).
 */
#ifndef PS_SYNC_RUN_H
#define PS_SYNC_RUN_H

#include <stdio.h>

#include "progress.h"
#include "settings.h"

#define PS_EXIT_OK 0          /* every item is in sync */
#define PS_EXIT_INTERNAL 1    /* a bug or out of memory */
#define PS_EXIT_USAGE 2       /* bad command line or configuration */
#define PS_EXIT_FEED 3        /* the feed is unusable: nothing was deleted */
#define PS_EXIT_DB 4          /* the database failed */
#define PS_EXIT_API 5         /* Pinterest failed or refused us */
#define PS_EXIT_PARTIAL 6     /* some items were rejected (see pinsync errors) */
#define PS_EXIT_HELD 7        /* deletes held back by the delete guard */
#define PS_EXIT_INTERRUPTED 8 /* stopped by a signal or the run's deadline */
#define PS_EXIT_BUSY 9        /* another pinsync is syncing this target */
#define PS_EXIT_DRIFT 10      /* reconcile: Pinterest differs from the snapshot */

typedef struct ps_run_options {
	const char *target;
	int dry_run;
	int allow_mass_delete;      /* lifts the delete guard for this run */
	const char *trigger;        /* manual, schedule, webhook */
	FILE *out;                  /* where the plan / summary is printed */
	/* A dry run's full plan (plan.h): to plan_full when set, else to out
	 * unless out is a terminal; out gets a summary whenever the full plan
	 * goes elsewhere, with plan_show ids per operation. */
	FILE *plan_full;
	int plan_show;
	ps_progress_fn on_progress; /* called with the counters as the run goes, or NULL */
	void *progress_ctx;
} ps_run_options;

/* Runs one sync; returns a PS_EXIT_* code. */
int ps_sync_run(const ps_settings *settings, const ps_run_options *opts);

/* Finishes the batches runs of target (NULL: of every target) left in
 * flight: polls them to their end, records their results, and recounts
 * those runs. Returns a PS_EXIT_* code. */
int ps_sync_poll(const ps_settings *settings, const char *target, FILE *out);

/* Asks Pinterest now whether target's catalog has a feed data source
 * (when tokens are stored), records the answer and prints what it means
 * for the operations. Returns a PS_EXIT_* code. */
int ps_sync_check_catalog(const ps_settings *settings, const char *target, FILE *out);

typedef struct ps_reconcile_options {
	const char *target;
	int sample; /* read back this many random items; 0: all of them */
	int fix;    /* repair what differs with a sync right away */
	FILE *out;  /* the report */
} ps_reconcile_options;

/* pinsync reconcile: reads the target's items back from Pinterest, reports
 * every item that differs from the snapshot (id, attribute, what Pinterest
 * has, what the snapshot says) and marks it so that the next run repairs
 * it (with fix, a run repairs it now). Returns PS_EXIT_OK when nothing
 * differs, PS_EXIT_DRIFT when something did (and was repaired, with fix),
 * else the exit code of what failed. */
int ps_sync_reconcile(const ps_settings *settings, const ps_reconcile_options *opts);

#endif /* PS_SYNC_RUN_H */
