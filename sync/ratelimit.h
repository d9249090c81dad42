/*
 * ratelimit.h: the client-side rate limiter of the Pinterest client.
 *
 * A run must never send faster than the limits Pinterest announces (DESIGN
 * section 5): every answer carries
 *
 *     x-ratelimit-limit: 100, 100;w=1, 100;w=60   the current quota, then one
 *                                                 "N;w=SECONDS" per window
 *     x-ratelimit-remaining: 42                   left in the current window
 *     x-ratelimit-reset: 17                       seconds until it resets
 *
 * and a 429 or 503 may carry Retry-After (seconds or an HTTP date).
 *
 * The limiter keeps the send times of the last requests and, for each window
 * announced (N per W seconds), lets a request go only when fewer than N were
 * sent in the last W seconds (a sliding log: stricter than a token bucket,
 * which lets 2N through across a window boundary), plus a small margin for
 * the clock and the network. When the server says remaining 0 it waits for
 * the reset; Retry-After blocks until its time. Answers without these headers
 * change nothing.
 *
 * The clock is injected: every call takes "now" in seconds of a monotonic
 * clock (the client uses CLOCK_MONOTONIC; tests pass their own), and the
 * wall-clock time where an HTTP date must be read. Nothing here sleeps, logs
 * or does I/O.
 *
 * Ownership: ps_rl_new() returns a limiter the caller frees with
 * ps_rl_free() (NULL accepted). Header strings are only read.
 */
#ifndef PS_SYNC_RATELIMIT_H
#define PS_SYNC_RATELIMIT_H

#include <stddef.h>
#include <time.h>

/* At most this many windows are kept from one x-ratelimit-limit header. */
#define PS_RL_MAX_WINDOWS 8
/* Send times remembered: a window of more requests than this is enforced as
 * the same rate over a proportionally shorter window. */
#define PS_RL_HISTORY 4096
/* Safety margin added to every window (seconds): our clock and the server's
 * differ by the network's latency and its jitter. */
#define PS_RL_MARGIN_S 0.05

typedef struct ps_rl_window {
	long limit;      /* requests allowed... */
	double window_s; /* ...per this many seconds */
} ps_rl_window;

/* The rate-limit headers of one answer, as received (NULL when absent). */
typedef struct ps_rl_headers {
	const char *limit;       /* x-ratelimit-limit */
	const char *remaining;   /* x-ratelimit-remaining */
	const char *reset;       /* x-ratelimit-reset */
	const char *retry_after; /* Retry-After */
} ps_rl_headers;

typedef struct ps_rl ps_rl;

/* A limiter that knows no limit yet. Returns 0, or -1 when out of memory. */
int ps_rl_new(ps_rl **out);
void ps_rl_free(ps_rl *rl);

/* Parses an x-ratelimit-limit value ("100, 100;w=1, 100;w=60"): the windows
 * with a w= parameter go to out (at most max of them, in header order; the
 * leading quota without w= names no window of its own). Unknown parameters
 * are ignored. Returns the number of windows stored, or -1 when the value
 * is malformed (nothing usable is then assumed). */
int ps_rl_parse_limit(const char *value, ps_rl_window *out, size_t max);

/* Parses a Retry-After value, delta-seconds or an HTTP date, into seconds
 * from wall_now (0 when the date is past). Returns 0, or -1 when malformed. */
int ps_rl_parse_retry_after(const char *value, time_t wall_now, double *seconds);

/* Feeds the headers of an answer received at now (wall_now: the same instant
 * on the wall clock, for HTTP dates). Malformed values are ignored. */
void ps_rl_update(ps_rl *rl, double now, time_t wall_now, const ps_rl_headers *h);

/* Seconds to wait from now before the next request may be sent (0: go). */
double ps_rl_delay(const ps_rl *rl, double now);

/* Records that a request was sent at now. */
void ps_rl_sent(ps_rl *rl, double now);

/* The windows currently enforced (borrowed, valid until the next update). */
const ps_rl_window *ps_rl_windows(const ps_rl *rl, size_t *count);

#endif /* PS_SYNC_RATELIMIT_H */
