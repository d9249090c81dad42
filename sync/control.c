/*
 * control.c: stop requests by signal, and test crash points.
 */
#include "control.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int
ps_control_stopping(void)
{
	return stop_requested != 0;
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
