/*
 * clock.h: monotonic time and sleeping, for every wait in sync/.
 *
 * ps_clock_sleep() returns early once a stop is requested (control.h), so
 * that a run waiting out a backoff or a poll interval notices SIGTERM, and
 * never sleeps past the run's deadline.
 */
#ifndef PS_SYNC_CLOCK_H
#define PS_SYNC_CLOCK_H

/* Seconds on the monotonic clock (an arbitrary origin). */
double ps_clock_now(void);

/* Sleeps for seconds (nothing when <= 0 or when a stop was requested
 * already), resuming after signals unless a stop was requested, and at
 * most until the calling thread's run deadline (control.h). */
void ps_clock_sleep(double seconds);

#endif /* PS_SYNC_CLOCK_H */
