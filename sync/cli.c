/*
 * cli.c: commands, their flags and their help.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "feeds.h"
#include "log.h"
#include "run.h"
#include "settings.h"

typedef struct command {
	const char *name;
	const char *summary;
	const char *usage;
	int (*fn)(const struct command *cmd, ps_settings *s, int argc, char **argv);
} command;

static const char *progname = "pinsync";

#define EXIT_CODES_HELP                                                                     \
	"Exit status:\n"                                                                        \
	"  0 ok: every item in sync      1 internal error      2 usage or configuration\n"      \
	"  3 feed unusable (nothing deleted)   4 database error   5 Pinterest API error\n"      \
	"  6 partial: some items rejected (pinsync errors NAME)\n"                              \
	"  7 held: deletes held back by the delete guard   8 interrupted by a signal\n"         \
	"  9 busy: another pinsync is syncing this target\n"

static int
usage_error(const command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
usage_error(const command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s%s%s: ", progname, cmd ? " " : "", cmd ? cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see: %s %s%s--help)\n", progname, cmd ? cmd->name : "", cmd ? " " : "");
	return PS_EXIT_USAGE;
}

static int
print_help(const command *cmd)
{
	printf("usage: %s %s\n\n%s\n", progname, cmd->usage, cmd->summary);
	return PS_EXIT_OK;
}

/*
 * Parses flags with getopt_long. Returns -1 when parsing must stop with
 * *rc set (help printed or usage error), else the index of the first
 * operand. handle() is called per flag and returns 0 or an exit code.
 */
typedef int (*flag_fn)(void *ctx, int opt, const char *arg);

static int
parse_flags(const command *cmd, int argc, char **argv, const struct option *longopts,
            flag_fn handle, void *ctx, int *rc)
{
	int opt, idx;

	/* optind = 0 fully reinitialises glibc's getopt between commands; flags
	 * and operands may come in any order (operands are moved last). */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, &idx)) != -1) {
		if (opt == 'h') {
			*rc = print_help(cmd);
			return -1;
		}
		if (opt == '?') {
			if (optopt)
				*rc = usage_error(cmd, "unknown flag -%c", optopt);
			else
				*rc = usage_error(cmd, "unknown flag %s", argv[optind - 1]);
			return -1;
		}
		if (opt == ':') {
			*rc = usage_error(cmd, "%s needs a value", argv[optind - 1]);
			return -1;
		}
		if ((*rc = handle(ctx, opt, optarg)) != 0)
			return -1;
	}
	return optind;
}

static int
no_flags(void *ctx, int opt, const char *arg)
{
	(void)ctx, (void)opt, (void)arg;
	return PS_EXIT_USAGE;
}

static int
open_db(ps_settings *s, ps_db **db)
{
	if (ps_db_connect(db, s->database_url) != PS_DB_OK) {
		ps_error("%s", ps_db_error(*db));
		ps_db_close(*db);
		*db = NULL;
		return PS_EXIT_DB;
	}
	return PS_EXIT_OK;
}

static int
open_migrated_db(ps_settings *s, ps_db **db)
{
	int rc = open_db(s, db);

	if (rc != PS_EXIT_OK)
		return rc;
	if (ps_db_migrated(*db, ps_migrations_embedded) != PS_DB_OK) {
		ps_error("the database is not migrated: run %s migrate", progname);
		ps_db_close(*db);
		*db = NULL;
		return PS_EXIT_DB;
	}
	return PS_EXIT_OK;
}

/* ---- migrate ---- */

typedef struct migrate_args {
	const char *dir;
} migrate_args;

static int
migrate_flag(void *ctx, int opt, const char *arg)
{
	((migrate_args *)ctx)->dir = arg;
	(void)opt;
	return 0;
}

static int
cmd_migrate(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
	migrate_args a = {NULL};
	ps_migration *loaded = NULL;
	ps_db *db = NULL;
	int rc, applied = 0, first = parse_flags(cmd, argc, argv, opts, migrate_flag, &a, &rc);
	char err[512];

	if (first < 0)
		return rc;
	if (first < argc)
		return usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	if (a.dir && ps_db_migrations_load(&loaded, a.dir, err, sizeof(err)) < 0) {
		ps_error("%s", err);
		return PS_EXIT_USAGE;
	}
	if ((rc = open_db(s, &db)) != PS_EXIT_OK)
		goto done;
	if (ps_db_migrate(db, loaded ? loaded : ps_migrations_embedded, &applied) < 0) {
		ps_error("%s", ps_db_error(db));
		rc = PS_EXIT_DB;
		goto done;
	}
	printf("%d migration%s applied%s\n", applied, applied == 1 ? "" : "s",
	       applied ? "" : " (the database is up to date)");
	rc = PS_EXIT_OK;
done:
	ps_db_migrations_free(loaded);
	ps_db_close(db);
	return rc;
}

/* ---- target ---- */

typedef struct target_args {
	ps_target t;
} target_args;

static int
target_flag(void *ctx, int opt, const char *arg)
{
	ps_target *t = &((target_args *)ctx)->t;

	switch (opt) {
	case 'f': t->feed = (char *)arg; break;
	case 'c': t->catalog_id = (char *)arg; break;
	case 'C': t->country = (char *)arg; break;
	case 'l': t->language = (char *)arg; break;
	case 'F': t->format = (char *)arg; break;
	case 'a': t->ad_account_id = (char *)arg; break;
	default: return PS_EXIT_USAGE;
	}
	return 0;
}

static int
target_add(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"feed", required_argument, NULL, 'f'},
	                                     {"catalog-id", required_argument, NULL, 'c'},
	                                     {"country", required_argument, NULL, 'C'},
	                                     {"language", required_argument, NULL, 'l'},
	                                     {"format", required_argument, NULL, 'F'},
	                                     {"ad-account-id", required_argument, NULL, 'a'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	target_args a;
	ps_feed_format fmt;
	ps_db *db = NULL;
	int rc, first;

	memset(&a, 0, sizeof(a));
	first = parse_flags(cmd, argc, argv, opts, target_flag, &a, &rc);
	if (first < 0)
		return rc;
	if (first >= argc)
		return usage_error(cmd, "missing the target's NAME");
	if (first + 1 < argc)
		return usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	a.t.name = argv[first];
	if (!a.t.feed)
		return usage_error(cmd, "missing --feed SOURCE");
	if (!a.t.catalog_id)
		return usage_error(cmd, "missing --catalog-id ID");
	if (!a.t.country)
		return usage_error(cmd, "missing --country CC");
	if (!a.t.language)
		return usage_error(cmd, "missing --language LOCALE");
	if (a.t.format && ps_feed_format_parse(&fmt, a.t.format) < 0)
		return usage_error(cmd, "--format must be auto, xml, csv or tsv, not \"%s\"", a.t.format);
	if (strspn(a.t.catalog_id, "0123456789") != strlen(a.t.catalog_id) || !a.t.catalog_id[0])
		return usage_error(cmd, "--catalog-id must be digits, not \"%s\"", a.t.catalog_id);
	if ((rc = open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	rc = ps_db_target_add(db, &a.t);
	if (rc != PS_DB_OK) {
		ps_error("%s", ps_db_error(db));
		rc = rc == PS_DB_EXISTS ? PS_EXIT_USAGE : PS_EXIT_DB;
	} else {
		printf("target %s added (feed %s, catalog %s, %s/%s)\n", a.t.name, a.t.feed,
		       a.t.catalog_id, a.t.country, a.t.language);
	}
	ps_db_close(db);
	return rc;
}

static int
target_list(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	ps_target *list = NULL;
	size_t n = 0, i;
	ps_db *db = NULL;
	int rc, first = parse_flags(cmd, argc, argv, opts, no_flags, NULL, &rc);

	if (first < 0)
		return rc;
	if (first < argc)
		return usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	if ((rc = open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	if (ps_db_target_list(db, &list, &n) < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_close(db);
		return PS_EXIT_DB;
	}
	printf("%-20s %-6s %-16s %-8s %-8s %s\n", "NAME", "FORMAT", "CATALOG", "COUNTRY", "LANGUAGE",
	       "FEED");
	for (i = 0; i < n; i++)
		printf("%-20s %-6s %-16s %-8s %-8s %s\n", list[i].name, list[i].format,
		       list[i].catalog_id, list[i].country, list[i].language, list[i].feed);
	ps_db_targets_free(list, n);
	ps_db_close(db);
	return PS_EXIT_OK;
}

static const command target_cmds[] = {
    {"target add",
     "Adds a sync target: a feed and the Pinterest catalog it keeps in step.\n"
     "SOURCE is a path or - (stdin). LOCALE is Pinterest's, e.g. en-US.",
     "target add NAME --feed SOURCE --catalog-id ID --country CC --language LOCALE\n"
     "       [--format auto|xml|csv|tsv] [--ad-account-id ID]",
     target_add},
    {"target list", "Lists the sync targets.", "target list", target_list},
};

static int
cmd_target(const command *cmd, ps_settings *s, int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return usage_error(cmd, "missing a subcommand: add or list");
		printf("usage:\n");
		for (i = 0; i < sizeof(target_cmds) / sizeof(target_cmds[0]); i++)
			printf("  %s %s\n", progname, target_cmds[i].usage);
		return PS_EXIT_OK;
	}
	for (i = 0; i < sizeof(target_cmds) / sizeof(target_cmds[0]); i++)
		if (strcmp(target_cmds[i].name + 7, argv[1]) == 0)
			return target_cmds[i].fn(&target_cmds[i], s, argc - 1, argv + 1);
	return usage_error(cmd, "unknown subcommand \"%s\"", argv[1]);
}

/* ---- auth ---- */

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
	first = parse_flags(cmd, argc, argv, opts, auth_flag, &a, &rc);
	if (first < 0)
		return rc;
	if (first < argc)
		return usage_error(cmd, "unexpected argument");
	if (!a.access && !a.access_file)
		return usage_error(cmd, "missing --access-token T (or --access-token-file PATH)");
	if (a.expires_in && parse_seconds(a.expires_in, &secs) < 0)
		return usage_error(cmd, "--expires-in must be a positive number of seconds");
	if (a.refresh_expires_in && parse_seconds(a.refresh_expires_in, &secs) < 0)
		return usage_error(cmd, "--refresh-expires-in must be a positive number of seconds");
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
	if ((rc = open_migrated_db(s, &db)) != PS_EXIT_OK)
		goto done;
	if (ps_db_tokens_set(db, s->client_id[0] ? s->client_id : "default", &t) < 0) {
		ps_error("%s", ps_db_error(db));
		rc = PS_EXIT_DB;
		goto done;
	}
	printf("tokens stored for app %s\n", s->client_id[0] ? s->client_id : "default");
	rc = PS_EXIT_OK;
done:
	free(access);
	free(refresh);
	ps_db_close(db);
	return rc;
}

static int
cmd_auth(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const command set = {
	    "auth set",
	    "Stores the Pinterest OAuth tokens (the app id and secret come from\n"
	    "PINSYNC_CLIENT_ID and PINSYNC_CLIENT_SECRET). Prefer the *-file forms:\n"
	    "a token on a command line is visible to other users of the machine.",
	    "auth set --access-token T [--refresh-token R] [--expires-in SECONDS]\n"
	    "       [--refresh-expires-in SECONDS] [--access-token-file PATH]\n"
	    "       [--refresh-token-file PATH]",
	    auth_set};

	if (argc < 2)
		return usage_error(cmd, "missing a subcommand: set");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return print_help(&set);
	if (strcmp(argv[1], "set") == 0)
		return auth_set(&set, s, argc - 1, argv + 1);
	return usage_error(cmd, "unknown subcommand \"%s\"", argv[1]);
}

/* ---- run ---- */

typedef struct run_args {
	int dry_run;
} run_args;

static int
run_flag(void *ctx, int opt, const char *arg)
{
	(void)arg;
	if (opt != 'n')
		return PS_EXIT_USAGE;
	((run_args *)ctx)->dry_run = 1;
	return 0;
}

static int
cmd_run(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dry-run", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {0}};
	run_args a = {0};
	ps_run_options ro;
	int rc, first;

	first = parse_flags(cmd, argc, argv, opts, run_flag, &a, &rc);
	if (first < 0)
		return rc;
	if (first >= argc)
		return usage_error(cmd, "missing the target's NAME");
	if (first + 1 < argc)
		return usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	memset(&ro, 0, sizeof(ro));
	ro.target = argv[first];
	ro.dry_run = a.dry_run;
	ro.trigger = "manual";
	ro.out = stdout;
	return ps_sync_run(s, &ro);
}

/* ---- status ---- */

static int
cmd_status(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	ps_run_row *rows = NULL;
	size_t n = 0, i;
	ps_db *db = NULL;
	int rc, first = parse_flags(cmd, argc, argv, opts, no_flags, NULL, &rc);
	const char *target;

	if (first < 0)
		return rc;
	if (first + 1 < argc)
		return usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	target = first < argc ? argv[first] : NULL;
	if ((rc = open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	if (target) {
		ps_target t;

		rc = ps_db_target_get(db, target, &t);
		ps_target_clear(&t);
		if (rc != PS_DB_OK) {
			ps_error("%s", ps_db_error(db));
			ps_db_close(db);
			return rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB;
		}
	}
	if (ps_db_run_list(db, target, 20, &rows, &n) < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_close(db);
		return PS_EXIT_DB;
	}
	printf("%-6s %-16s %-19s %-11s %8s %7s %7s %7s %7s %9s %6s %7s\n", "RUN", "TARGET", "STARTED",
	       "OUTCOME", "PARSED", "INVALID", "CREATED", "UPDATED", "DELETED", "UNCHANGED", "FAILED",
	       "BATCHES");
	for (i = 0; i < n; i++) {
		const ps_run_row *r = &rows[i];
		char outcome[32];

		snprintf(outcome, sizeof(outcome), "%s%s", r->outcome, r->dry_run ? "*" : "");
		printf("%-6" PRId64 " %-16s %-19s %-11s %8" PRId64 " %7" PRId64 " %7" PRId64 " %7" PRId64
		       " %7" PRId64 " %9" PRId64 " %6" PRId64 " %7d\n",
		       r->id, r->target, r->started_at, outcome, r->counts.parsed, r->counts.invalid,
		       r->counts.created, r->counts.updated, r->counts.deleted, r->counts.unchanged,
		       r->counts.failed, r->counts.batches);
		if (r->error)
			printf("       error: %s\n", r->error);
	}
	if (n == 0)
		printf("(no runs yet)\n");
	else
		printf("(* = dry run)\n");
	ps_db_runs_free(rows, n);
	ps_db_close(db);
	return PS_EXIT_OK;
}

/* ---- errors ---- */

typedef struct errors_args {
	int64_t run_id;
	const char *format;
} errors_args;

static int
errors_flag(void *ctx, int opt, const char *arg)
{
	errors_args *a = ctx;
	char *end;

	if (opt == 'r') {
		errno = 0;
		a->run_id = strtoll(arg, &end, 10);
		if (errno || *end || a->run_id <= 0)
			return usage_error(NULL, "--run must be a run id, not \"%s\"", arg);
		return 0;
	}
	if (opt == 'f') {
		if (strcmp(arg, "table") && strcmp(arg, "csv") && strcmp(arg, "json"))
			return usage_error(NULL, "--format must be table, csv or json");
		a->format = arg;
		return 0;
	}
	return PS_EXIT_USAGE;
}

static void
csv_field(const char *s, int last)
{
	const char *p;

	if (s == NULL)
		s = "";
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, stdout);
	} else {
		putchar('"');
		for (p = s; *p; p++) {
			if (*p == '"')
				putchar('"');
			putchar(*p);
		}
		putchar('"');
	}
	putchar(last ? '\n' : ',');
}

static void
json_field(const char *key, const char *s, int last)
{
	const unsigned char *p;

	printf("\"%s\":", key);
	if (s == NULL) {
		fputs("null", stdout);
	} else {
		putchar('"');
		for (p = (const unsigned char *)s; *p; p++) {
			if (*p == '"' || *p == '\\')
				printf("\\%c", *p);
			else if (*p < 0x20)
				printf("\\u%04x", *p);
			else
				putchar(*p);
		}
		putchar('"');
	}
	if (!last)
		putchar(',');
}

static int
cmd_errors(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"run", required_argument, NULL, 'r'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	errors_args a = {0, "table"};
	ps_item_error *rows = NULL;
	size_t n = 0, i;
	ps_db *db = NULL;
	int rc, first = parse_flags(cmd, argc, argv, opts, errors_flag, &a, &rc);
	ps_target t;

	if (first < 0)
		return rc;
	if (first >= argc)
		return usage_error(cmd, "missing the target's NAME");
	if (first + 1 < argc)
		return usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	if ((rc = open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	rc = ps_db_target_get(db, argv[first], &t);
	ps_target_clear(&t);
	if (rc != PS_DB_OK || ps_db_item_errors(db, argv[first], a.run_id, &rows, &n) < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_close(db);
		return rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB;
	}
	if (strcmp(a.format, "csv") == 0) {
		printf("run,item_id,operation,source,attribute,code,message\n");
		for (i = 0; i < n; i++) {
			char run[32];

			snprintf(run, sizeof(run), "%" PRId64, rows[i].run_id);
			csv_field(run, 0);
			csv_field(rows[i].item_id, 0);
			csv_field(rows[i].operation, 0);
			csv_field(rows[i].place, 0);
			csv_field(rows[i].attribute, 0);
			csv_field(rows[i].code, 0);
			csv_field(rows[i].message, 1);
		}
	} else if (strcmp(a.format, "json") == 0) {
		putchar('[');
		for (i = 0; i < n; i++) {
			printf("%s{\"run\":%" PRId64 ",", i ? ",\n " : "", rows[i].run_id);
			json_field("item_id", rows[i].item_id, 0);
			json_field("operation", rows[i].operation, 0);
			json_field("source", rows[i].place, 0);
			json_field("attribute", rows[i].attribute, 0);
			json_field("code", rows[i].code, 0);
			json_field("message", rows[i].message, 1);
			putchar('}');
		}
		printf("]\n");
	} else {
		printf("%-6s %-24s %-9s %-22s %-22s %-8s %s\n", "RUN", "ITEM", "OP", "SOURCE",
		       "ATTRIBUTE", "CODE", "MESSAGE");
		for (i = 0; i < n; i++)
			printf("%-6" PRId64 " %-24s %-9s %-22s %-22s %-8s %s\n", rows[i].run_id,
			       rows[i].item_id ? rows[i].item_id : "-",
			       rows[i].operation ? rows[i].operation : "-", rows[i].place,
			       rows[i].attribute ? rows[i].attribute : "-",
			       rows[i].code ? rows[i].code : "-", rows[i].message);
		printf("(%zu error%s)\n", n, n == 1 ? "" : "s");
	}
	ps_db_item_errors_free(rows, n);
	ps_db_close(db);
	return PS_EXIT_OK;
}

/* ---- config ---- */

static int
cmd_config(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int rc, first = parse_flags(cmd, argc, argv, opts, no_flags, NULL, &rc);

	if (first < 0)
		return rc;
	if (first < argc)
		return usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	ps_settings_print(s, stdout);
	return PS_EXIT_OK;
}

static const command commands[] = {
    {"migrate",
     "Applies the database migrations not yet applied, each in its own transaction.\n"
     "--dir reads NNNN_name.sql files from DIR instead of those built in.",
     "migrate [--dir DIR]", cmd_migrate},
    {"target", "Adds or lists sync targets.", "target add|list ...", cmd_target},
    {"auth", "Stores the Pinterest OAuth tokens.", "auth set ...", cmd_auth},
    {"run",
     "Syncs one target: parse the feed, diff it against the snapshot, send the\n"
     "changes, poll every batch to its end and record every item's result.\n"
     "--dry-run prints the plan (counts and item ids per operation) and\n"
     "changes nothing on Pinterest or in the snapshot.\n\n" EXIT_CODES_HELP,
     "run [--dry-run] NAME", cmd_run},
    {"status", "Shows the last runs, of one target or of all.", "status [NAME]", cmd_status},
    {"errors",
     "Lists every item of a run (default: the last) that failed locally or on\n"
     "Pinterest, with the attribute and the reason.",
     "errors NAME [--run ID] [--format table|csv|json]", cmd_errors},
    {"config", "Prints the effective settings, secrets redacted.", "config", cmd_config},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
print_main_help(FILE *out)
{
	size_t i;

	fprintf(out,
	        "pinsync %s: keeps a Pinterest catalog in step with a store's product feed.\n\n"
	        "usage: %s COMMAND [ARGS]\n\ncommands:\n",
	        PINSYNC_VERSION, progname);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].usage);
	fprintf(out,
	        "\n`%s COMMAND --help` tells more. Settings come from the environment\n"
	        "(PINSYNC_DATABASE_URL, PINSYNC_API_BASE, PINSYNC_CLIENT_ID, ...; see: %s config).\n\n"
	        EXIT_CODES_HELP,
	        progname, progname);
}

int
ps_cli_main(int argc, char **argv)
{
	ps_settings s;
	char err[512];
	size_t i;
	int rc, level;

	if (argc < 2) {
		print_main_help(stderr);
		return PS_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_main_help(stdout);
		return PS_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("pinsync %s\n", PINSYNC_VERSION);
		return PS_EXIT_OK;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, argv[1]) == 0)
			break;
	if (i == NCOMMANDS)
		return usage_error(NULL, "unknown command \"%s\"", argv[1]);

	if (ps_settings_load(&s, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", progname, err);
		ps_settings_free(&s);
		return PS_EXIT_USAGE;
	}
	level = ps_log_level_parse(s.log_level);
	if (level < 0) {
		fprintf(stderr, "%s: PINSYNC_LOG_LEVEL must be debug, info, warn or error\n", progname);
		ps_settings_free(&s);
		return PS_EXIT_USAGE;
	}
	ps_log_init((ps_log_level)level, strcmp(s.log_format, "json") == 0   ? 1
	                                 : strcmp(s.log_format, "text") == 0 ? 0
	                                                                     : -1);
	ps_log_secret(s.client_secret);
	rc = commands[i].fn(&commands[i], &s, argc - 1, argv + 1);
	ps_settings_free(&s);
	ps_log_secrets_clear();
	return rc;
}
