/*
 * cmd_auth.c: pinsync auth set | status.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_int.h"
#include "db.h"
#include "feeds.h"
#include "log.h"

typedef struct auth_args {
	const char *access, *refresh, *access_file, *refresh_file;
	const char *expires_in, *refresh_expires_in;
} auth_args;

static int
auth_flag(void *ctx, int opt, const char *arg)
{
	auth_args *a = ctx;

	switch (opt) {
	case 'a': a->access = arg; break;
	case 'r': a->refresh = arg; break;
	case 'A': a->access_file = arg; break;
	case 'R': a->refresh_file = arg; break;
	case 'e': a->expires_in = arg; break;
	case 'E': a->refresh_expires_in = arg; break;
	default: return PS_EXIT_USAGE;
	}
	return 0;
}

static char *
read_token_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (f == NULL) {
		ps_error("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static int
parse_seconds(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out > 0 ? 0 : -1;
}

static int
auth_set(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"access-token", required_argument, NULL, 'a'},
	                                     {"refresh-token", required_argument, NULL, 'r'},
	                                     {"access-token-file", required_argument, NULL, 'A'},
	                                     {"refresh-token-file", required_argument, NULL, 'R'},
	                                     {"expires-in", required_argument, NULL, 'e'},
	                                     {"refresh-expires-in", required_argument, NULL, 'E'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	auth_args a;
	ps_tokens t;
	char *access = NULL, *refresh = NULL;
	long long secs;
	ps_db *db = NULL;
	int rc, first;

	memset(&a, 0, sizeof(a));
	memset(&t, 0, sizeof(t));
	first = ps_cli_parse_flags(cmd, argc, argv, opts, auth_flag, &a, &rc);
	if (first < 0)
		return rc;
	if (first < argc)
		return ps_cli_usage_error(cmd, "unexpected argument");
	if (!a.access && !a.access_file)
		return ps_cli_usage_error(cmd,
		                          "missing --access-token T (or --access-token-file PATH)");
	if (a.expires_in && parse_seconds(a.expires_in, &secs) < 0)
		return ps_cli_usage_error(cmd, "--expires-in must be a positive number of seconds");
	if (a.refresh_expires_in && parse_seconds(a.refresh_expires_in, &secs) < 0)
		return ps_cli_usage_error(
		    cmd, "--refresh-expires-in must be a positive number of seconds");
	/* Issue "Hardening": a secret on the command line is visible to every
	 * user of the machine (ps, /proc) and stays in shell histories. */
	if (a.access && !a.access_file)
		ps_warn("--access-token puts the token on the command line, where other users "
		        "of the machine see it (ps, /proc) and shell histories keep it: use "
		        "--access-token-file PATH instead");
	if (a.refresh && !a.refresh_file)
		ps_warn("--refresh-token puts the token on the command line, where other users "
		        "of the machine see it (ps, /proc) and shell histories keep it: use "
		        "--refresh-token-file PATH instead");
	access = a.access_file ? read_token_file(a.access_file) : strdup(a.access);
	refresh = a.refresh_file ? read_token_file(a.refresh_file)
	                         : (a.refresh ? strdup(a.refresh) : NULL);
	if (access == NULL || ((a.refresh || a.refresh_file) && refresh == NULL)) {
		rc = PS_EXIT_USAGE;
		goto done;
	}
	ps_log_secret(access);
	ps_log_secret(refresh);
	t.access_token = access;
	t.refresh_token = refresh && refresh[0] ? refresh : NULL;
	if (a.expires_in && parse_seconds(a.expires_in, &secs) == 0)
		t.access_expires_at = time(NULL) + (time_t)secs;
	if (a.refresh_expires_in && parse_seconds(a.refresh_expires_in, &secs) == 0)
		t.refresh_expires_at = time(NULL) + (time_t)secs;
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		goto done;
	if (ps_db_tokens_set(db, ps_settings_client_key(s), &t) < 0) {
		ps_error("%s", ps_db_error(db));
		rc = PS_EXIT_DB;
		goto done;
	}
	/* Runs look the tokens up by the same key: say which it was. */
	if (!s->client_id[0])
		ps_warn("PINSYNC_CLIENT_ID is not set: the tokens are stored under the client id "
		        "\"default\". Runs find them only while PINSYNC_CLIENT_ID is unset too, "
		        "and cannot refresh them (that needs PINSYNC_CLIENT_ID and "
		        "PINSYNC_CLIENT_SECRET): set PINSYNC_CLIENT_ID to the app's id, for auth "
		        "set as for the runs");
	printf("tokens stored for client id %s%s\n", ps_settings_client_key(s),
	       s->client_id[0] ? " (PINSYNC_CLIENT_ID)" : " (PINSYNC_CLIENT_ID is not set)");
	rc = PS_EXIT_OK;
done:
	free(access);
	free(refresh);
	ps_db_close(db);
	return rc;
}

/* "2025-03-01 12:00 UTC (in 29 days)" or "unknown". */
static void
print_when(FILE *out, time_t when, time_t now)
{
	char stamp[32];
	struct tm tm;
	long long d = (long long)when - (long long)now;
	long long a = d < 0 ? -d : d;

	if (when == 0) {
		fprintf(out, "unknown\n");
		return;
	}
	gmtime_r(&when, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(out, "%s (", stamp);
	if (d < 0)
		fprintf(out, "expired ");
	else
		fprintf(out, "in ");
	if (a >= 86400)
		fprintf(out, "%lld days", (a + 43200) / 86400);
	else if (a >= 3600)
		fprintf(out, "%lld hours", (a + 1800) / 3600);
	else
		fprintf(out, "%lld minutes", (a + 30) / 60);
	fprintf(out, "%s)\n", d < 0 ? " ago" : "");
}

static int
auth_status(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	const char *app = ps_settings_client_key(s);
	ps_tokens_info info;
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	ps_db *db = NULL;
	int rc, first;

	first = ps_cli_parse_flags(cmd, argc, argv, opts, ps_cli_no_flags, NULL, &rc);
	if (first < 0)
		return rc;
	if (first < argc)
		return ps_cli_usage_error(cmd, "unexpected argument");
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		goto done;
	/* Only the expiries are read: no token ever reaches this process. */
	rc = ps_db_tokens_info(db, app, &info);
	if (rc == PS_DB_NOTFOUND) {
		char hint[600];

		ps_settings_client_hint(s, hint, sizeof(hint));
		ps_error("%s: %s", ps_db_error(db), hint);
		rc = PS_EXIT_USAGE;
		goto done;
	}
	if (rc != PS_DB_OK) {
		ps_error("%s", ps_db_error(db));
		rc = PS_EXIT_DB;
		goto done;
	}
	printf("client id:      %s\n", app);
	printf("access token:   expires ");
	print_when(stdout, info.access_expires_at, now);
	printf("refresh token:  ");
	if (!info.has_refresh_token) {
		printf("none (pinsync cannot renew the access token)\n");
	} else {
		printf("expires ");
		print_when(stdout, info.refresh_expires_at, now);
	}
	gmtime_r(&info.updated_at, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("last update:    %s\n", stamp);
	if (info.refresh_lost_at != 0) {
		gmtime_r(&info.refresh_lost_at, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("refresh answer: lost at %s (%s)\n", stamp,
		       info.refresh_lost_detail[0] ? info.refresh_lost_detail : "no detail");
	}
	if (!info.has_refresh_token ||
	    (info.refresh_expires_at != 0 && info.refresh_expires_at <= now))
		printf(
		    "action needed:  re-authorise pinsync in the Pinterest app and store the new "
		    "tokens with pinsync auth set\n");
	else if (info.refresh_lost_at != 0)
		/* pinsync never resends a refresh whose answer was lost (the
		 * token may be dead): only the next run's one try can tell. */
		printf("action needed:  the answer to a token refresh was lost: Pinterest may have "
		       "rotated the refresh token, so the stored one may be dead. The next run "
		       "tries it once; if Pinterest refuses it (code 283), re-authorise pinsync in "
		       "the Pinterest app and store the new tokens with pinsync auth set\n");
	else if (info.refresh_expires_at != 0 && info.refresh_expires_at - now < 7 * 86400)
		printf("action needed:  the refresh token expires within 7 days: re-authorise "
		       "pinsync in the Pinterest app and store the new tokens with pinsync auth "
		       "set\n");
	rc = PS_EXIT_OK;
done:
	ps_db_close(db);
	return rc;
}

int
cmd_auth(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const command set = {
	    "auth set",
	    "Stores the Pinterest OAuth tokens (the app id and secret come from\n"
	    "PINSYNC_CLIENT_ID and PINSYNC_CLIENT_SECRET) and clears the mark of a\n"
	    "lost refresh answer. The tokens are stored under PINSYNC_CLIENT_ID\n"
	    "(\"default\" when it is unset, with a warning): runs look them up under\n"
	    "the same id, so set it alike for both. Prefer the *-file forms: a token\n"
	    "on a command line is visible to other users of the machine (a warning\n"
	    "says so).",
	    "auth set --access-token T [--refresh-token R] [--expires-in SECONDS]\n"
	    "       [--refresh-expires-in SECONDS] [--access-token-file PATH]\n"
	    "       [--refresh-token-file PATH]",
	    auth_set};
	static const command status = {
	    "auth status",
	    "Shows the app's client id, when the access and refresh tokens expire,\n"
	    "when they were last stored, and whether the answer to a token refresh\n"
	    "was lost since. The tokens themselves are never shown.",
	    "auth status", auth_status};

	if (argc < 2)
		return ps_cli_usage_error(cmd, "missing a subcommand: set or status");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		ps_cli_help(&set);
		printf("\n");
		return ps_cli_help(&status);
	}
	if (strcmp(argv[1], "set") == 0)
		return auth_set(&set, s, argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return auth_status(&status, s, argc - 1, argv + 1);
	return ps_cli_usage_error(cmd, "unknown subcommand \"%s\"", argv[1]);
}
