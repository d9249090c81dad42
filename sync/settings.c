/*
 * settings.c: the table of settings, and loading it.
 */
#include "settings.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STRING, T_LONG, T_DOUBLE } setting_type;

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
    {"log_level", "PINSYNC_LOG_LEVEL", T_STRING, OFF(log_level), "info", 0, 0, 0,
     "debug, info, warn or error"},
    {"log_format", "PINSYNC_LOG_FORMAT", T_STRING, OFF(log_format), "auto", 0, 0, 0,
     "auto (text on a terminal, JSON lines otherwise), text or json"},
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

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
		free(fromfile);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int
ps_settings_set(ps_settings *s, const char *name, const char *value, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < NDEFS; i++)
		if (strcmp(defs[i].name, name) == 0)
			return assign(s, &defs[i], value, err, errlen);
	snprintf(err, errlen, "unknown setting \"%s\"", name);
	return -1;
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
		}
		fprintf(out, "    # %s (%s)\n", d->help, d->env);
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
