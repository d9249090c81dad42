/*
 * measure.c: runs a command and reports what it cost.
 *
 *   measure STATSFILE COMMAND [ARG...]
 *
 * Forks, execs COMMAND (standard streams inherited), waits for it with
 * wait4() and writes one line to STATSFILE:
 *
 *   wall_s user_s sys_s maxrss_kib exit_status
 *
 * Why not Python's own wait4(): Linux carries a process's peak RSS across
 * exec(), so a command forked from the (large) Python driver would report
 * at least the driver's size. Forked from this small program it reports its
 * own. The exit status is the command's, or 128 + signal.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	int status = 0, code;
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fputs("usage: measure STATSFILE COMMAND [ARG...]\n", stderr);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "measure: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("measure: wait4");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if ((f = fopen(argv[1], "w")) == NULL) {
		fprintf(stderr, "measure: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fprintf(f, "%.6f %.6f %.6f %ld %d\n",
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	        (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss, code);
	fclose(f);
	return code;
}
