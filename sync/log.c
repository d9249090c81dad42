/*
 * log.c: text or JSON lines on stderr, with secrets redacted.
 *
 * Threads (serve mode runs HTTP threads beside the worker): the context
 * (target, run id) is per thread, so a webhook line never carries the
 * target of the sync running meanwhile; the secrets list is shared and
 * guarded by a mutex; a line is written under the stderr stream's lock.
 */
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* A long-running serve process sees refresh tokens rotate: when the list is
 * full the oldest secret (a token long replaced) makes room. */
#define MAX_SECRETS 64

static struct {
	ps_log_level min;
	int json;
	char *secrets[MAX_SECRETS];
	int nsecrets;
} L = {PS_LOG_INFO, 0, {NULL}, 0};

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;

/* The context of the calling thread. */
static _Thread_local struct {
	char target[128];
	int64_t run_id;
} C;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
ps_log_init(ps_log_level min, int json)
{
	L.min = min;
	L.json = json < 0 ? !isatty(STDERR_FILENO) : json;
}

int
ps_log_level_parse(const char *name)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void
ps_log_set_target(const char *target)
{
	snprintf(C.target, sizeof(C.target), "%s", target ? target : "");
}

void
ps_log_set_run(int64_t run_id)
{
	C.run_id = run_id;
}

void
ps_log_secret(const char *secret)
{
	int i;

	if (secret == NULL || secret[0] == '\0')
		return;
	pthread_mutex_lock(&secrets_lock);
	for (i = 0; i < L.nsecrets; i++)
		if (strcmp(L.secrets[i], secret) == 0)
			goto done;
	if (L.nsecrets == MAX_SECRETS) {
		free(L.secrets[0]);
		memmove(L.secrets, L.secrets + 1, (MAX_SECRETS - 1) * sizeof(L.secrets[0]));
		L.nsecrets--;
	}
	L.secrets[L.nsecrets] = strdup(secret);
	if (L.secrets[L.nsecrets])
		L.nsecrets++;
done:
	pthread_mutex_unlock(&secrets_lock);
}

void
ps_log_secrets_clear(void)
{
	int i;

	pthread_mutex_lock(&secrets_lock);
	for (i = 0; i < L.nsecrets; i++)
		free(L.secrets[i]);
	L.nsecrets = 0;
	pthread_mutex_unlock(&secrets_lock);
}

/* Replaces every registered secret in msg (in place; the result is never
 * longer than msg since "[redacted]" is only used for secrets of 10+ bytes,
 * shorter ones are starred). */
static void
redact(char *msg)
{
	int i;

	for (i = 0; i < L.nsecrets; i++) {
		const char *s = L.secrets[i];
		size_t slen = strlen(s);
		char *p;

		while ((p = strstr(msg, s)) != NULL) {
			if (slen >= 10) {
				memcpy(p, "[redacted]", 10);
				memmove(p + 10, p + slen, strlen(p + slen) + 1);
			} else {
				memset(p, '*', slen);
			}
		}
	}
}

static void
json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void emit(ps_log_level level, const char *batch_id, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
emit(ps_log_level level, const char *batch_id, const char *fmt, va_list ap)
{
	char msg[4096];
	char ts[40];
	struct timeval tv;
	struct tm tm;

	if (level < L.min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&secrets_lock);
	redact(msg);
	pthread_mutex_unlock(&secrets_lock);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	flockfile(stderr);
	if (L.json) {
		fprintf(stderr, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\"", ts,
		        (int)(tv.tv_usec / 1000), level_names[level]);
		if (C.target[0]) {
			fputs(",\"target\":", stderr);
			json_string(stderr, C.target);
		}
		if (C.run_id)
			fprintf(stderr, ",\"run_id\":%" PRId64, C.run_id);
		if (batch_id) {
			fputs(",\"batch_id\":", stderr);
			json_string(stderr, batch_id);
		}
		fputs(",\"msg\":", stderr);
		json_string(stderr, msg);
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "%s %-5s ", ts + 11, level_names[level]);
		if (C.target[0])
			fprintf(stderr, "[%s", C.target);
		if (C.target[0] && C.run_id)
			fprintf(stderr, " run %" PRId64, C.run_id);
		if (C.target[0])
			fputs("] ", stderr);
		if (batch_id)
			fprintf(stderr, "batch %s: ", batch_id);
		fprintf(stderr, "%s\n", msg);
	}
	funlockfile(stderr);
}

const char *
ps_log_quote(char *buf, size_t len, const char *s)
{
	size_t n = 0;

	if (len < 8) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		size_t k;

		if (c == '"' || c == '\\')
			k = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			esc[0] = (char)c, k = 1;
		if (n + k + 4 > len) {
			/* Cut at a character, not inside a UTF-8 sequence. */
			if ((c & 0xC0) == 0x80) {
				while (n > 0 && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
					n--;
				if (n > 0 && (unsigned char)buf[n - 1] >= 0xC0)
					n--;
			}
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		memcpy(buf + n, esc, k);
		n += k;
	}
	buf[n] = '\0';
	return buf;
}

void
ps_log(ps_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, NULL, fmt, ap);
	va_end(ap);
}

void
ps_log_batch(ps_log_level level, const char *batch_id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, batch_id, fmt, ap);
	va_end(ap);
}
