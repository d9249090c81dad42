/*
 * settings.c: the table of settings, and loading it.
 */
#include "settings.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* T_DURATION: a long of seconds, written as ps_duration_parse() reads it. */
typedef enum { T_STRING, T_LONG, T_DOUBLE, T_DURATION } setting_type;

typedef struct setting_def {
	const char *name;
	const char *env;
	setting_type type;
	size_t offset;
	const char *def;
	double min, max;
	int secret;
	const char *help;
} setting_def;

#define OFF(f) offsetof(ps_settings, f)

static const setting_def defs[] = {
    {"database_url", "PINSYNC_DATABASE_URL", T_STRING, OFF(database_url), "", 0, 0, 1,
     "libpq connection string or URI of pinsync's database"},
    {"api_base", "PINSYNC_API_BASE", T_STRING, OFF(api_base), "https://api.pinterest.com/v5", 0, 0,
     0, "base URL of the Pinterest API"},
    {"client_id", "PINSYNC_CLIENT_ID", T_STRING, OFF(client_id), "", 0, 0, 0,
     "Pinterest app id, for refreshing tokens"},
    {"client_secret", "PINSYNC_CLIENT_SECRET", T_STRING, OFF(client_secret), "", 0, 0, 1,
     "Pinterest app secret, for refreshing tokens"},
    {"http_connect_timeout_ms", "PINSYNC_HTTP_CONNECT_TIMEOUT_MS", T_LONG,
     OFF(http_connect_timeout_ms), "10000", 100, 600000, 0, "connect timeout per request"},
    {"http_timeout_ms", "PINSYNC_HTTP_TIMEOUT_MS", T_LONG, OFF(http_timeout_ms), "120000", 100,
     3600000, 0, "total time per request"},
    {"max_retry_s", "PINSYNC_MAX_RETRY_S", T_DOUBLE, OFF(max_retry_s), "300", 0, 86400, 0,
     "total time a run may wait to retry API calls before it stops"},
    {"poll_initial_ms", "PINSYNC_POLL_INITIAL_MS", T_LONG, OFF(poll_initial_ms), "1000", 10, 600000,
     0, "first wait before polling a batch"},
    {"poll_max_ms", "PINSYNC_POLL_MAX_MS", T_LONG, OFF(poll_max_ms), "30000", 10, 3600000, 0,
     "longest wait between two polls"},
    {"poll_timeout_s", "PINSYNC_POLL_TIMEOUT_S", T_LONG, OFF(poll_timeout_s), "1800", 1, 86400, 0,
     "how long a run polls before leaving batches to pinsync poll"},
    {"max_inflight", "PINSYNC_MAX_INFLIGHT", T_LONG, OFF(max_inflight), "4", 1, 64, 0,
     "batches a run keeps in flight at once before it waits for one to finish"},
    {"run_deadline_s", "PINSYNC_RUN_DEADLINE_S", T_LONG, OFF(run_deadline_s), "14400", 1, 604800, 0,
     "a run still going after this long stops cleanly, as for SIGTERM (serve stops renewing "
     "its job's lease)"},
    {"ownership_check_s", "PINSYNC_OWNERSHIP_CHECK_S", T_LONG, OFF(ownership_check_s), "3600", 0,
     31536000, 0,
     "how long a check of whether a catalog has a feed data source stays fresh (0: every run)"},
    {"drift_sample", "PINSYNC_DRIFT_SAMPLE", T_LONG, OFF(drift_sample), "100", 0, 100000, 0,
     "items each run reads back from Pinterest to find drift (0: none)"},
    {"reconcile_every_s", "PINSYNC_RECONCILE_EVERY_S", T_LONG, OFF(reconcile_every_s), "0", 0,
     31536000, 0, "serve: a full reconcile (and repair) of each target this often (0: never)"},
    {"feed_password_file", "PINSYNC_FEED_PASSWORD_FILE", T_STRING, OFF(feed_password_file), "", 0,
     0, 0, "file holding the basic-auth password for the user named in a feed URL"},
    {"lock_wait_s", "PINSYNC_LOCK_WAIT_S", T_LONG, OFF(lock_wait_s), "0", 0, 86400, 0,
     "a run finding its target busy waits this long, then exits with status 9"},
    {"log_level", "PINSYNC_LOG_LEVEL", T_STRING, OFF(log_level), "info", 0, 0, 0,
     "debug, info, warn or error"},
    {"log_format", "PINSYNC_LOG_FORMAT", T_STRING, OFF(log_format), "auto", 0, 0, 0,
     "auto (text on a terminal, JSON lines otherwise), text or json"},
    {"listen", "PINSYNC_LISTEN", T_STRING, OFF(listen), "127.0.0.1:8080", 0, 0, 0,
     "serve: ADDR:PORT of the HTTP listener (webhooks, health, metrics)"},
    {"webhook_secret", "PINSYNC_WEBHOOK_SECRET", T_STRING, OFF(webhook_secret), "", 0, 0, 1,
     "serve: the webhook secret of targets without --webhook-secret-file"},
    {"webhook_max_bytes", "PINSYNC_WEBHOOK_MAX_BYTES", T_LONG, OFF(webhook_max_bytes), "1048576", 1,
     67108864, 0, "serve: largest webhook body accepted (else 413)"},
    {"webhook_tolerance_s", "PINSYNC_WEBHOOK_TOLERANCE_S", T_LONG, OFF(webhook_tolerance_s), "300",
     1, 86400, 0, "serve: how far a signed X-Pinsync-Timestamp may be from now"},
    {"job_lease_s", "PINSYNC_JOB_LEASE_S", T_LONG, OFF(job_lease_s), "60", 1, 86400, 0,
     "serve: a running job's lease; another process takes the job over when it lapses"},
    {"job_max_attempts", "PINSYNC_JOB_MAX_ATTEMPTS", T_LONG, OFF(job_max_attempts), "3", 1, 100, 0,
     "serve: claims of one job (its worker died each time) before it is failed"},
    {"serve_workers", "PINSYNC_SERVE_WORKERS", T_LONG, OFF(serve_workers), "1", 0, 1, 0,
     "serve: jobs run at once by one process (0: HTTP and scheduler only)"},
    {"serve_poll_ms", "PINSYNC_SERVE_POLL_MS", T_LONG, OFF(serve_poll_ms), "500", 10, 60000, 0,
     "serve: how often idle workers look for jobs and the scheduler ticks"},
    {"serve_db_timeout_ms", "PINSYNC_SERVE_DB_TIMEOUT_MS", T_LONG, OFF(serve_db_timeout_ms), "5000",
     200, 600000, 0,
     "serve: longest wait for the database (connecting, and each statement) on serve's own "
     "connections: HTTP, heartbeat, queue; a sync's own connection has none"},
    {"serve_conn_per_ip", "PINSYNC_SERVE_CONN_PER_IP", T_LONG, OFF(serve_conn_per_ip), "32", 0, 256,
     0, "serve: HTTP connections one client address may hold at once (0: no limit)"},
    {"serve_request_timeout_s", "PINSYNC_SERVE_REQUEST_TIMEOUT_S", T_LONG,
     OFF(serve_request_timeout_s), "15", 1, 3600, 0,
     "serve: an HTTP connection idle this long, or a request body still arriving after it, "
     "is closed"},
    {"metrics_cache_s", "PINSYNC_METRICS_CACHE_S", T_LONG, OFF(metrics_cache_s), "10", 1, 3600, 0,
     "serve: /metrics reads the database's figures at most once this often (one scrape at a "
     "time)"},
    {"run_deadline_grace_s", "PINSYNC_RUN_DEADLINE_GRACE_S", T_LONG, OFF(run_deadline_grace_s),
     "600", 0, 86400, 0,
     "serve: a job's lease is renewed until its run is this long past PINSYNC_RUN_DEADLINE_S, "
     "then left to run out so that another process may take the job over"},
    {"prune_after", "PINSYNC_PRUNE_AFTER", T_DURATION, OFF(prune_after_s), "30d", 0,
     3650.0 * 86400, 0,
     "finished runs (their batches, bodies, items, results, problems) and jobs older than this "
     "are pruned, by pinsync prune and by serve (30d, 12h, 90m, 3600s; 0 or off: never)"},
    {"prune_keep_runs", "PINSYNC_PRUNE_KEEP_RUNS", T_LONG, OFF(prune_keep_runs), "3", 0, 1000000,
     0, "the newest runs of each target that pruning keeps whatever their age"},
    {"prune_every_s", "PINSYNC_PRUNE_EVERY_S", T_LONG, OFF(prune_every_s), "3600", 0, 604800, 0,
     "serve: how often one of the serve processes prunes (0: never)"},
    {"config", "PINSYNC_CONFIG", T_STRING, OFF(config_file), "", 0, 0, 0,
     "a file of name = value lines, read before the environment"},
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

_Static_assert(NDEFS <= PS_SETTINGS_MAX, "raise PS_SETTINGS_MAX");

static const char *const source_names[] = {"default", "file", "env", "flag"};

static int
assign(ps_settings *s, const setting_def *d, const char *value, char *err, size_t errlen)
{
	char *p = (char *)s + d->offset;
	char *end = NULL;

	switch (d->type) {
	case T_STRING: {
		char *copy = strdup(value);

		if (copy == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*(char **)p);
		*(char **)p = copy;
		return 0;
	}
	case T_LONG: {
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < d->min || v > d->max) {
			snprintf(err, errlen, "%s: \"%s\" is not a whole number in [%.0f, %.0f]",
			         d->env, value, d->min, d->max);
			return -1;
		}
		*(long *)p = v;
		return 0;
	}
	case T_DURATION: {
		long v;

		if (ps_duration_parse(value, &v) < 0 || v < d->min || v > d->max) {
			snprintf(err, errlen,
			         "%s: \"%s\" is not a duration (30d, 12h, 90m, 3600s, or off)",
			         d->env, value);
			return -1;
		}
		*(long *)p = v;
		return 0;
	}
	case T_DOUBLE: {
		double v;

		errno = 0;
		v = strtod(value, &end);
		if (errno || end == value || *end || v < d->min || v > d->max) {
			snprintf(err, errlen, "%s: \"%s\" is not a number in [%g, %g]", d->env,
			         value, d->min, d->max);
			return -1;
		}
		*(double *)p = v;
		return 0;
	}
	}
	return -1;
}

/* Reads a secret from the file named by ENV_FILE; trailing newlines cut. */
static char *
read_secret_file(const char *path, char *err, size_t errlen, const char *env)
{
	FILE *f = fopen(path, "r");
	char buf[8192];
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s_FILE: cannot read %s: %s", env, path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return strdup(buf);
}

int
ps_settings_load(ps_settings *s, char *err, size_t errlen)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < NDEFS; i++) {
		const setting_def *d = &defs[i];
		const char *v = getenv(d->env);
		char fileenv[128];
		char *fromfile = NULL;
		int rc;

		snprintf(fileenv, sizeof(fileenv), "%s_FILE", d->env);
		if ((v == NULL || v[0] == '\0') && d->secret && getenv(fileenv)) {
			fromfile = read_secret_file(getenv(fileenv), err, errlen, d->env);
			if (fromfile == NULL)
				return -1;
			v = fromfile;
		}
		rc = assign(s, d, v && v[0] ? v : d->def, err, errlen);
		s->source[i] = v && v[0] ? PS_SETTING_ENV : PS_SETTING_DEFAULT;
		free(fromfile);
		if (rc < 0)
			return -1;
	}
	/* The file fills only what the environment left at its default. */
	if (s->config_file && s->config_file[0])
		return ps_settings_load_file(s, s->config_file, err, errlen);
	return 0;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int
ps_settings_parse_line(char *line, ps_config_line *out, char *err, size_t errlen)
{
	char *p = line, *eq, *end, *v, *w;

	out->name = out->value = NULL;
	end = line + strlen(line);
	while (end > line && (is_blank(end[-1]) || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0; /* blank, or a comment line */
	eq = strchr(p, '=');
	if (eq == NULL) {
		snprintf(err, errlen, "expected name = value");
		return -1;
	}
	for (end = eq; end > p && is_blank(end[-1]); end--)
		;
	if (end == p) {
		snprintf(err, errlen, "nothing before \"=\"");
		return -1;
	}
	*end = '\0';
	out->name = p;
	for (v = eq + 1; is_blank(*v); v++)
		;
	if (*v == '"') {
		/* "..." keeps everything, a # too; "" inside is one quote (as
		 * in mapping files). After it: blanks, then a comment or nothing. */
		char *r = v + 1;

		for (w = v;; r++) {
			if (*r == '\0') {
				snprintf(err, errlen, "a quoted value needs its closing quote");
				return -1;
			}
			if (*r == '"') {
				if (r[1] != '"')
					break;
				r++;
			}
			*w++ = *r;
		}
		*w = '\0';
		for (r++; is_blank(*r); r++)
			;
		if (*r != '\0' && *r != '#') {
			snprintf(err, errlen, "text after the closing quote (quote \"\" inside)");
			return -1;
		}
		out->value = v;
		return 0;
	}
	/* Unquoted: a # at the start of the value or after a blank starts a
	 * comment (issue "Hardening": an inline comment used to become part
	 * of the value); any other # is the value's. */
	for (w = v; *w; w++)
		if (*w == '#' && (w == v || is_blank(w[-1]))) {
			*w = '\0';
			break;
		}
	while (w > v && is_blank(w[-1]))
		*--w = '\0';
	out->value = v;
	return 0;
}

int
ps_settings_load_file(ps_settings *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096], msg[512];
	int lineno = 0, rc = -1;

	if (f == NULL) {
		snprintf(err, errlen, "PINSYNC_CONFIG: cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		ps_config_line cl;
		const char *name, *value;
		char *fromfile = NULL;
		size_t i, nlen;
		int is_file = 0, r;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto done;
		}
		if (ps_settings_parse_line(line, &cl, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			goto done;
		}
		if (cl.name == NULL)
			continue;
		name = cl.name;
		value = cl.value;
		nlen = strlen(name);
		for (i = 0; i < NDEFS; i++) {
			if (strcmp(defs[i].name, name) == 0)
				break;
			if (defs[i].secret && nlen == strlen(defs[i].name) + 5 &&
			    strncmp(defs[i].name, name, nlen - 5) == 0 &&
			    strcmp(name + nlen - 5, "_file") == 0) {
				is_file = 1;
				break;
			}
		}
		if (i == NDEFS || defs[i].offset == OFF(config_file)) {
			snprintf(err, errlen,
			         "%s:%d: unknown setting \"%.100s\" (see: pinsync config)", path,
			         lineno, name);
			goto done;
		}
		if (s->source[i] > PS_SETTING_FILE)
			continue; /* the environment or a flag wins */
		if (is_file) {
			fromfile = read_secret_file(value, msg, sizeof(msg), defs[i].env);
			if (fromfile == NULL) {
				snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
				goto done;
			}
			value = fromfile;
		}
		r = assign(s, &defs[i], value, msg, sizeof(msg));
		free(fromfile);
		if (r < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			goto done;
		}
		s->source[i] = PS_SETTING_FILE;
	}
	rc = 0;
done:
	fclose(f);
	return rc;
}

int
ps_settings_set(ps_settings *s, const char *name, const char *value, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < NDEFS; i++)
		if (strcmp(defs[i].name, name) == 0) {
			if (assign(s, &defs[i], value, err, errlen) < 0)
				return -1;
			s->source[i] = PS_SETTING_FLAG;
			return 0;
		}
	snprintf(err, errlen, "unknown setting \"%s\"", name);
	return -1;
}

const char *
ps_settings_client_key(const ps_settings *s)
{
	return s->client_id && s->client_id[0] ? s->client_id : "default";
}

void
ps_settings_client_hint(const ps_settings *s, char *buf, size_t len)
{
	if (s->client_id && s->client_id[0])
		snprintf(
		    buf, len,
		    "pinsync keeps tokens under the client id PINSYNC_CLIENT_ID names (\"%.100s\" "
		    "here; \"default\" when it is unset, as when pinsync auth set ran without "
		    "it): store them with PINSYNC_CLIENT_ID=%.100s pinsync auth set "
		    "--access-token-file FILE --refresh-token-file FILE",
		    s->client_id, s->client_id);
	else
		snprintf(buf, len,
		         "PINSYNC_CLIENT_ID is not set, so pinsync looked under \"default\": set "
		         "PINSYNC_CLIENT_ID to the app id the tokens were stored under (as for "
		         "pinsync auth set; refreshing tokens needs it too), or store them with "
		         "pinsync auth set --access-token-file FILE --refresh-token-file FILE");
}

void
ps_settings_print(const ps_settings *s, FILE *out)
{
	size_t i;

	for (i = 0; i < NDEFS; i++) {
		const setting_def *d = &defs[i];
		const char *p = (const char *)s + d->offset;

		fprintf(out, "%-24s = ", d->name);
		switch (d->type) {
		case T_STRING: {
			const char *v = *(char *const *)p;

			if (d->secret && v && v[0])
				fputs("[redacted]", out);
			else
				fputs(v ? v : "", out);
			break;
		}
		case T_LONG: fprintf(out, "%ld", *(const long *)p); break;
		case T_DOUBLE: fprintf(out, "%g", *(const double *)p); break;
		case T_DURATION: {
			char text[32];

			ps_duration_format(*(const long *)p, text, sizeof(text));
			fputs(text, out);
			break;
		}
		}
		fprintf(out, "    # %s (%s; from %s)\n", d->help, d->env,
		        source_names[s->source[i] < 4 ? s->source[i] : 0]);
	}
}

void
ps_settings_free(ps_settings *s)
{
	size_t i;

	for (i = 0; i < NDEFS; i++)
		if (defs[i].type == T_STRING) {
			char **p = (char **)((char *)s + defs[i].offset);

			free(*p);
			*p = NULL;
		}
}

/* 100 years, in seconds: more is surely a mistake. */
#define DURATION_MAX (100L * 365 * 86400)

int
ps_duration_parse(const char *text, long *seconds)
{
	long n = 0, unit = 1;
	const char *p = text;

	if (text == NULL)
		return -1;
	if (strcmp(text, "off") == 0) {
		*seconds = 0;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > DURATION_MAX)
			return -1;
	}
	switch (*p) {
	case '\0': break;
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -1;
	}
	if (*p && p[1] != '\0')
		return -1;
	if (n > DURATION_MAX / unit)
		return -1;
	*seconds = n * unit;
	return 0;
}

void
ps_duration_format(long seconds, char *out, size_t outlen)
{
	if (seconds <= 0)
		snprintf(out, outlen, "off");
	else if (seconds % 86400 == 0)
		snprintf(out, outlen, "%ldd", seconds / 86400);
	else if (seconds % 3600 == 0)
		snprintf(out, outlen, "%ldh", seconds / 3600);
	else if (seconds % 60 == 0)
		snprintf(out, outlen, "%ldm", seconds / 60);
	else
		snprintf(out, outlen, "%lds", seconds);
}
