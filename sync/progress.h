/*
 * progress.h: the live progress line of `pinsync run` on a terminal.
 *
 * The run reports its counters through a callback (ps_progress_fn, see the
 * hook proposed for ps_run_options in run.h); ps_progress_update() is such
 * a callback. On a terminal it redraws one line on stderr with '\r', at
 * most every PS_PROGRESS_INTERVAL_MS (the hot path calls it per item, so
 * it must be cheap when it does not draw); elsewhere it prints nothing
 * until ps_progress_finish(), which writes one summary line. It never
 * prints an item's content, only counts.
 */
#ifndef PS_SYNC_PROGRESS_H
#define PS_SYNC_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#define PS_PROGRESS_INTERVAL_MS 100

/* What a run has done so far. */
typedef struct ps_progress_counts {
	uint64_t feed_bytes; /* bytes read from the source */
	uint64_t feed_size;  /* the source's size when known (a file), else 0 */
	int64_t items;       /* items parsed */
	int64_t changes;     /* items to create, update or delete so far */
	int batches_sent;    /* batches posted to Pinterest */
	int batches_done;    /* batches finished (completed or failed) */
} ps_progress_counts;

/* The callback a run calls with its counters (ctx is the caller's). */
typedef void (*ps_progress_fn)(void *ctx, const ps_progress_counts *counts);

typedef struct ps_progress {
	FILE *out;
	int tty;        /* redraw in place */
	double started; /* monotonic seconds */
	double last_draw;
	size_t last_width; /* characters of the line drawn last, to blank */
} ps_progress;

/* Prepares p to draw on out; tty: 1 redraw in place, 0 summary only, -1
 * decide with isatty(). Owns nothing. */
void ps_progress_init(ps_progress *p, FILE *out, int tty);

/* A ps_progress_fn: ctx is the ps_progress. */
void ps_progress_update(void *ctx, const ps_progress_counts *counts);

/* Ends the line on a terminal, or prints the summary line elsewhere. */
void ps_progress_finish(ps_progress *p, const ps_progress_counts *counts);

/* Formats the line (no '\r', no newline) into buf; for tests. */
void ps_progress_format(char *buf, size_t len, const ps_progress_counts *c, double elapsed_s);

#endif /* PS_SYNC_PROGRESS_H */
