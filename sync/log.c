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

/* The length of the well-formed UTF-8 sequence at s (1 to 4), or 0 when
 * the bytes there are not one (a stray continuation byte, a truncated or
 * overlong sequence, a surrogate, a code point above U+10FFFF). */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* Whether the sequence of len bytes at s is a C1 control (U+0080 to
 * U+009F): some terminals act on them as on ESC sequences. */
static int
is_c1(const unsigned char *s, size_t len)
{
	return len == 2 && s[0] == 0xC2 && s[1] < 0xA0;
}

/* Writes s as a JSON string: quotes, backslashes and every control
 * character (C0, DEL, C1) escaped, bytes that are not UTF-8 as U+FFFD, so
 * that every line stays one valid JSON object whatever a value held. */
static void
json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (is_c1(p, n))
			fprintf(f, "\\u%04x", p[1]);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

/* Writes s into a text line: every control character but the tab (C0,
 * DEL, C1) and every byte that is not UTF-8 escaped (\n, \r, \xNN), so
 * that text from outside (a target name from a webhook's URL, a feed's
 * path or ids, a header Pinterest sent) can neither start a line of its
 * own that looks like pinsync's nor drive the terminal (ANSI sequences). */
static void
text_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0) {
			fprintf(f, "\\x%02x", *p);
			p++;
			continue;
		}
		if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\r')
			fputs("\\r", f);
		else if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else if (is_c1(p, n))
			fprintf(f, "\\x%02x\\x%02x", p[0], p[1]);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
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
		if (C.target[0]) {
			fputc('[', stderr);
			text_string(stderr, C.target);
		}
		if (C.target[0] && C.run_id)
			fprintf(stderr, " run %" PRId64, C.run_id);
		if (C.target[0])
			fputs("] ", stderr);
		if (batch_id) {
			fputs("batch ", stderr);
			text_string(stderr, batch_id);
			fputs(": ", stderr);
		}
		text_string(stderr, msg);
		fputc('\n', stderr);
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
