/*
 * settings.h: every setting of pinsync, described once.
 *
 * One table (settings.c) gives each setting its name, environment variable,
 * type, default, bounds, whether it is a secret, and its help text. It is
 * used to load (defaults < environment < command-line flags), to validate,
 * and to print the effective settings with secrets redacted. A secret may
 * also come from a file named by the variable with "_FILE" appended.
 */
#ifndef PS_SYNC_SETTINGS_H
#define PS_SYNC_SETTINGS_H

#include <stdio.h>

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
	char *log_level;
	char *log_format; /* auto | text | json */
} ps_settings;

/* Fills s from the defaults and the environment. On a bad value returns -1
 * with a message naming the variable in err. Free with ps_settings_free. */
int ps_settings_load(ps_settings *s, char *err, size_t errlen);

/* Sets one setting by name (e.g. from a flag); same validation. */
int ps_settings_set(ps_settings *s, const char *name, const char *value, char *err, size_t errlen);

/* Prints "name = value  (source)" for every setting, secrets redacted. */
void ps_settings_print(const ps_settings *s, FILE *out);

void ps_settings_free(ps_settings *s);

#endif /* PS_SYNC_SETTINGS_H */
