/*
 * clock.c: monotonic time and interruptible sleep.
 */
#include "clock.h"

#include <errno.h>
#include <time.h>

#include "control.h"

double
ps_clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
ps_clock_sleep(double seconds)
{
	struct timespec ts;
	double left = ps_control_time_left();

	/* A run's deadline cuts the wait short: nothing signals it. */
	if (seconds > left)
		seconds = left;
	if (seconds <= 0 || ps_control_stopping())
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !ps_control_stopping())
		;
}
