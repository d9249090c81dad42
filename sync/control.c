/*
 * control.c: stop requests by signal or run deadline, and test crash points.
 */
#include "control.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "run.h"

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	if (stop_requested)
		_exit(PS_EXIT_INTERRUPTED); /* the second signal: at once */
	stop_requested = 1;
}

void
ps_control_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call returns EINTR and the loop around it
	 * looks at the flag. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* The calling thread's run deadline (monotonic seconds; 0: none). */
static _Thread_local double deadline_at;
static _Thread_local double deadline_s;
static _Thread_local const char *deadline_setting;
static _Thread_local char reason[160];

int
ps_control_stopping(void)
{
	return stop_requested != 0 || (deadline_at > 0 && ps_clock_now() >= deadline_at);
}

void
ps_control_set_deadline(double seconds, const char *setting)
{
	deadline_at = seconds > 0 ? ps_clock_now() + seconds : 0;
	deadline_s = seconds;
	deadline_setting = setting;
}

double
ps_control_time_left(void)
{
	double left;

	if (deadline_at <= 0)
		return 1e18;
	left = deadline_at - ps_clock_now();
	return left > 0 ? left : 0;
}

const char *
ps_control_stop_reason(void)
{
	if (stop_requested || deadline_at <= 0 || ps_clock_now() < deadline_at)
		return "a stop was requested (SIGTERM or SIGINT)";
	snprintf(reason, sizeof(reason), "the run's deadline passed (%s = %.0f s)",
	         deadline_setting ? deadline_setting : "deadline", deadline_s);
	return reason;
}

void
ps_control_request_stop(void)
{
	stop_requested = 1;
}

void
ps_crashpoint(const char *name)
{
	static int parsed;
	static const char *want;
	static long nth, hits;
	size_t len;

	if (!parsed) {
		const char *env = getenv("PINSYNC_CRASH_AT");
		const char *colon;

		parsed = 1;
		want = env && env[0] ? env : NULL;
		nth = 1;
		if (want && (colon = strchr(want, ':')) != NULL)
			nth = strtol(colon + 1, NULL, 10);
	}
	if (want == NULL)
		return;
	len = strcspn(want, ":");
	if (strlen(name) != len || strncmp(want, name, len) != 0)
		return;
	if (++hits >= nth)
		kill(getpid(), SIGKILL);
}
