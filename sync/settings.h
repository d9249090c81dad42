/*
 * settings.h: every setting of pinsync, described once.
 *
 * One table (settings.c) gives each setting its name, environment variable,
 * type, default, bounds, whether it is a secret, and its help text. It is
 * used to load (defaults < config file < environment < command-line flags),
 * to validate, and to print the effective settings with secrets redacted
 * and where each value came from. A secret may also come from a file named
 * by the variable with "_FILE" appended.
 */
#ifndef PS_SYNC_SETTINGS_H
#define PS_SYNC_SETTINGS_H

#include <stdio.h>

/* Room for this many settings in ps_settings.source. */
#define PS_SETTINGS_MAX 64

typedef struct ps_settings {
	char *database_url;  /* PINSYNC_DATABASE_URL */
	char *api_base;      /* PINSYNC_API_BASE */
	char *client_id;     /* PINSYNC_CLIENT_ID */
	char *client_secret; /* PINSYNC_CLIENT_SECRET (secret) */
	long http_connect_timeout_ms;
	long http_timeout_ms;
	double max_retry_s;
	long poll_initial_ms;
	long poll_max_ms;
	long poll_timeout_s;
	long max_inflight;        /* batches sent and not finished, at most */
	long lock_wait_s;         /* how long a run waits for another on its target */
	char *feed_password_file; /* basic-auth password of URL feeds */
	long run_deadline_s;      /* a run stops cleanly after this long */
	long ownership_check_s;   /* a catalog's feed-source check stays fresh this long */
	long drift_sample;        /* items a run reads back to look for drift */
	long reconcile_every_s;   /* serve: full reconcile of each target (0: never) */
	char *log_level;
	char *log_format; /* auto | text | json */
	/* serve mode (serve.h) */
	char *listen;             /* PINSYNC_LISTEN: ADDR:PORT of the HTTP listener */
	char *webhook_secret;     /* PINSYNC_WEBHOOK_SECRET (secret): for targets without one */
	long webhook_max_bytes;   /* a larger webhook body gets 413 */
	long webhook_tolerance_s; /* signed timestamps older or newer than this: 401 */
	long job_lease_s;         /* a job's lease, renewed while it runs */
	long job_max_attempts;    /* claims of one job before it is failed */
	long serve_workers;       /* jobs a serve process runs at once (0: HTTP only) */
	long serve_poll_ms;       /* how often serve looks for jobs and due schedules */
	char *config_file;        /* PINSYNC_CONFIG: name = value lines, below the environment */

	/* serve mode: bounds (issue "Hardening") */
	long serve_db_timeout_ms;     /* each database call of serve's own connections */
	long serve_conn_per_ip;       /* connections one client address may hold (0: any) */
	long serve_request_timeout_s; /* an idle connection, or a body still coming, is closed */
	long metrics_cache_s;         /* /metrics reads the database at most this often */
	long run_deadline_grace_s;    /* serve renews a job's lease until deadline + this */

	/* retention (issue 14, "Retention"): pinsync prune, and serve on its own */
	long prune_after_s;   /* PINSYNC_PRUNE_AFTER: runs older than this go (0: off) */
	long prune_keep_runs; /* newest runs kept per target whatever their age */
	long prune_every_s;   /* serve: how often it prunes (0: never) */

	/* Where each setting's value came from (a ps_setting_source), in the
	 * order of the table; kept last so that new settings go above it. */
	unsigned char source[PS_SETTINGS_MAX];
} ps_settings;

/* Where a value came from, lowest precedence first. */
typedef enum ps_setting_source {
	PS_SETTING_DEFAULT,
	PS_SETTING_FILE,
	PS_SETTING_ENV,
	PS_SETTING_FLAG
} ps_setting_source;

/* Fills s from the defaults, the config file named by PINSYNC_CONFIG (if
 * any) and the environment, in that order of precedence. On a bad value
 * returns -1 with a message naming the variable (or file and line) in err.
 * Free with ps_settings_free. */
int ps_settings_load(ps_settings *s, char *err, size_t errlen);

/* Reads a config file of "name = value" lines (names of the table;
 * "NAME_file = PATH" reads a secret from PATH; the syntax is that of
 * ps_settings_parse_line) into the settings that still hold their default:
 * the environment and flags keep precedence. Returns 0, or -1 with the
 * file and line in err. */
int ps_settings_load_file(ps_settings *s, const char *path, char *err, size_t errlen);

/* One line of a config file, parsed: name and value point into the line
 * (NULL, NULL for a blank or comment line). */
typedef struct ps_config_line {
	const char *name;
	const char *value;
} ps_config_line;

/* Parses one line of a config file, in place (line is modified). The
 * syntax (README, Settings; pinsync config --help):
 *   - blanks around names, "=" and values are dropped; a blank line, or
 *     one whose first non-blank character is '#', is a comment;
 *   - an unquoted value ends at a '#' that starts it or follows a blank
 *     (space or tab): the rest of the line is a comment. Any other '#' is
 *     the value's (a URL's fragment, "pa#ss");
 *   - a value in double quotes is taken as written, '#' and blanks
 *     included, with "" for one quote; after the closing quote only
 *     blanks and a comment may follow.
 * Returns 0, or -1 with the reason in err (no file or line number: the
 * caller adds them). */
int ps_settings_parse_line(char *line, ps_config_line *out, char *err, size_t errlen);

/* Sets one setting by name (e.g. from a flag); same validation. */
int ps_settings_set(ps_settings *s, const char *name, const char *value, char *err, size_t errlen);

/* The key pinsync stores and looks up the OAuth tokens under: client_id
 * (PINSYNC_CLIENT_ID), or "default" when it is unset. Borrowed from s. */
const char *ps_settings_client_key(const ps_settings *s);

/* What to do when no tokens are stored under ps_settings_client_key(s):
 * which client id was looked for, why, and how to store or find the
 * tokens (for the message after a lookup that found nothing). */
void ps_settings_client_hint(const ps_settings *s, char *buf, size_t len);

/* Prints "name = value  (source)" for every setting, secrets redacted. */
void ps_settings_print(const ps_settings *s, FILE *out);

void ps_settings_free(ps_settings *s);

/* Parses a duration: a whole number with a unit, s, m, h or d ("30d",
 * "12h", "90m", "3600s"; a bare number is seconds), or "off" (0). Returns
 * 0 with *seconds set, or -1 for anything else (signs, spaces, fractions,
 * more than 100 years). */
int ps_duration_parse(const char *text, long *seconds);

/* Writes seconds as ps_duration_parse() reads it, in the largest unit that
 * divides it ("30d", "90m"; "off" for 0). */
void ps_duration_format(long seconds, char *out, size_t outlen);

#endif /* PS_SYNC_SETTINGS_H */
