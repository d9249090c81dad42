/*
 * control.h: how a run is stopped from outside, on purpose or as a test.
 *
 * Signals: ps_control_install() makes the first SIGTERM (or SIGINT) ask the
 * run to stop at its next safe point (ps_control_stopping() turns true:
 * reading stops, nothing more is sent, the run is recorded as interrupted);
 * a second one exits at once with PS_EXIT_INTERRUPTED.
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
int ps_control_stopping(void);
/* For tests of the stop path without a signal. */
void ps_control_request_stop(void);

void ps_crashpoint(const char *name);

#endif /* PS_SYNC_CONTROL_H */
