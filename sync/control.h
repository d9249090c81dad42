/*
 * control.h: how a run is stopped from outside, on purpose or as a test.
 *
 * Signals: ps_control_install() makes the first SIGTERM (or SIGINT) ask the
 * run to stop at its next safe point (ps_control_stopping() turns true:
 * reading stops, nothing more is sent, the run is recorded as interrupted);
 * a second one exits at once with PS_EXIT_INTERRUPTED. A run's deadline
 * (PINSYNC_RUN_DEADLINE_S) passing has the same effect as the first signal.
 *
 * Crash points, for the fault-injection tests only: when the environment
 * variable PINSYNC_CRASH_AT is "NAME" or "NAME:N", the process kills itself
 * with SIGKILL the first (or N-th) time it reaches ps_crashpoint("NAME").
 * The points: parse (an item was parsed), before-post, after-post (the POST
 * returned, its batch_id not yet recorded), poll (an answer arrived, not yet
 * recorded), record (inside the transaction that records results),
 * after-record.
 */
#ifndef PS_SYNC_CONTROL_H
#define PS_SYNC_CONTROL_H

void ps_control_install(void);
/* Whether the run should stop at its next safe point: a stop was requested
 * (a signal, ps_control_request_stop) or the calling thread's run deadline
 * passed (ps_control_set_deadline). */
int ps_control_stopping(void);
/* For tests of the stop path without a signal. */
void ps_control_request_stop(void);

/* Run deadline (issue "Hardening": no run may go on for ever): from now
 * on, for the calling thread, ps_control_stopping() turns true once
 * seconds have passed, exactly as after a SIGTERM, and ps_clock_sleep()
 * wakes up at the deadline. setting names the setting that gave seconds,
 * for messages (a static string). seconds <= 0 clears the deadline. Per
 * thread: serve runs a job's sync on a worker thread beside its HTTP
 * threads. */
void ps_control_set_deadline(double seconds, const char *setting);
/* Seconds left before the calling thread's deadline (a large number when
 * there is none; 0 once it passed). */
double ps_control_time_left(void);
/* Why ps_control_stopping() is true, for messages: "the run's deadline
 * passed (PINSYNC_RUN_DEADLINE_S = 14400 s)" or "a stop was requested
 * (SIGTERM or SIGINT)". Static or thread-local storage. */
const char *ps_control_stop_reason(void);

void ps_crashpoint(const char *name);

#endif /* PS_SYNC_CONTROL_H */
