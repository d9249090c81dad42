/*
 * cmd_target.c: pinsync target add|list.
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "db.h"
#include "feeds.h"
#include "log.h"

/* An option given on the command line, to store with ps_db_target_set(). */
typedef struct target_opt {
	const char *column;
	char *value; /* NULL: SQL NULL ("" on the command line clears) */
} target_opt;

#define MAX_TARGET_OPTS 32

typedef struct target_args {
	ps_target t; /* the columns of target add; strings borrowed from argv */
	target_opt opts[MAX_TARGET_OPTS];
	int nopts;
	char scratch[MAX_TARGET_OPTS][32]; /* values rewritten by the parser */
	char *owned[MAX_TARGET_OPTS];      /* values made here (absolute paths ...) */
	int nowned;
	const command *cmd;
} target_args;

/* Flags shared by target add and target set. */
static const struct option target_options[] = {
    {"feed", required_argument, NULL, 'f'},
    {"catalog-id", required_argument, NULL, 'c'},
    {"country", required_argument, NULL, 'C'},
    {"language", required_argument, NULL, 'l'},
    {"format", required_argument, NULL, 'F'},
    {"ad-account-id", required_argument, NULL, 'a'},
    {"on-missing", required_argument, NULL, 'm'},
    {"max-delete-ratio", required_argument, NULL, 'r'},
    {"api-owned", required_argument, NULL, 'o'},
    {"map", required_argument, NULL, 'M'},
    {"preset", required_argument, NULL, 'p'},
    {"base-url", required_argument, NULL, 'b'},
    {"currency", required_argument, NULL, 'u'},
    {"schedule", required_argument, NULL, 's'},
    {"webhook-secret-file", required_argument, NULL, 'w'},
    {"feed-password-file", required_argument, NULL, 'P'},
    {"help", no_argument, NULL, 'h'},
    {0}};

#define TARGET_FLAGS_HELP                                                                    \
	"  --feed SOURCE            a path, - (stdin), file://, http:// or https:// URL\n"   \
	"  --catalog-id ID          the Pinterest catalog (digits)\n"                        \
	"  --country CC             e.g. US; one country and language per target\n"          \
	"  --language LOCALE        e.g. en-US\n"                                            \
	"  --format F               auto (default), xml, csv or tsv\n"                       \
	"  --ad-account-id ID       act on behalf of this ad account\n"                      \
	"  --on-missing P           items gone from the feed: delete (default),\n"           \
	"                           out-of-stock or keep\n"                                  \
	"  --max-delete-ratio R     hold deletes back above this share (default 0.2)\n"      \
	"  --api-owned yes|no|auto  override the check of the catalog's feed data source:\n" \
	"                           yes = none (UPSERT), no = one (CREATE/UPDATE)\n"         \
	"  --map FILE               a mapping file (source_name = pinterest_attribute)\n"    \
	"  --preset NAME            a mapping preset for store exports\n"                    \
	"  --base-url URL           base for relative links and image paths\n"               \
	"  --currency CUR           currency of prices that have none, e.g. EUR\n"           \
	"  --schedule DURATION      serve mode syncs this often: 30s, 15m, 2h, 1d\n"         \
	"  --webhook-secret-file P  the secret that signs this target's webhooks\n"          \
	"  --feed-password-file P   the password of the user named in an http(s) --feed\n"   \
	"                           URL (https://USER@host/...); beats\n"                    \
	"                           PINSYNC_FEED_PASSWORD_FILE\n"                            \
	"A value of \"\" clears an optional setting (target set). Relative paths (a\n"       \
	"--feed path, --map, --webhook-secret-file, --feed-password-file) are stored\n"      \
	"made absolute from the working directory. A password inside the --feed URL\n"       \
	"(https://USER:PASSWORD@host/...) draws a warning: it would be stored in plain\n"    \
	"text; with a --feed-password-file it is not stored.\n"

/* Parses "90", "30s", "15m", "2h", "1d" into seconds; -1 when malformed. */
static long
parse_duration(const char *s)
{
	char *end;
	long v, mult = 1;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's': break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > 366L * 86400 / mult)
		return -1;
	return v * mult;
}

static int
add_opt(target_args *a, const char *column, char *value)
{
	if (a->nopts == MAX_TARGET_OPTS)
		return ps_cli_usage_error(a->cmd, "too many options");
	a->opts[a->nopts].column = column;
	a->opts[a->nopts].value = value && value[0] ? value : NULL;
	a->nopts++;
	return 0;
}

static int
target_flag(void *ctx, int opt, const char *arg)
{
	target_args *a = ctx;
	ps_target *t = &a->t;
	char *v = (char *)arg;
	char *sc = a->scratch[a->nopts < MAX_TARGET_OPTS ? a->nopts : 0];
	ps_feed_format fmt;
	char *end;
	double ratio;
	long secs;

	switch (opt) {
	case 'f': t->feed = v; return add_opt(a, "feed", v);
	case 'c':
		if (!v[0] || strspn(v, "0123456789") != strlen(v))
			return ps_cli_usage_error(a->cmd, "--catalog-id must be digits, not \"%s\"",
			                          v);
		t->catalog_id = v;
		return add_opt(a, "catalog_id", v);
	case 'C': t->country = v; return add_opt(a, "country", v);
	case 'l': t->language = v; return add_opt(a, "language", v);
	case 'F':
		if (ps_feed_format_parse(&fmt, v) < 0)
			return ps_cli_usage_error(
			    a->cmd, "--format must be auto, xml, csv or tsv, not \"%s\"", v);
		t->format = v;
		return add_opt(a, "format", v);
	case 'a': t->ad_account_id = v; return add_opt(a, "ad_account_id", v);
	case 'm':
		if (strcmp(v, "delete") && strcmp(v, "out-of-stock") && strcmp(v, "keep"))
			return ps_cli_usage_error(
			    a->cmd, "--on-missing must be delete, out-of-stock or keep");
		return add_opt(a, "on_missing", v);
	case 'r':
		errno = 0;
		ratio = strtod(v, &end);
		if (errno || end == v || *end || ratio < 0 || ratio > 1)
			return ps_cli_usage_error(a->cmd,
			                          "--max-delete-ratio must be between 0 and 1");
		return add_opt(a, "max_delete_ratio", v);
	case 'o':
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
			return add_opt(a, "api_owned", "true");
		if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
			return add_opt(a, "api_owned", "false");
		if (strcmp(v, "auto") == 0)
			return add_opt(a, "api_owned", NULL); /* follow the check */
		return ps_cli_usage_error(a->cmd, "--api-owned must be yes, no or auto");
	case 'M': return add_opt(a, "map_file", v);
	case 'p': {
		const char *const *names = ps_feed_preset_names();
		int i;

		for (i = 0; v[0] && names[i]; i++)
			if (strcmp(names[i], v) == 0)
				break;
		if (v[0] && names[i] == NULL)
			return ps_cli_usage_error(a->cmd, "--preset: unknown preset \"%s\"", v);
		return add_opt(a, "preset", v);
	}
	case 'b':
		if (v[0] && strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
			return ps_cli_usage_error(a->cmd,
			                          "--base-url must start with http:// or https://");
		return add_opt(a, "base_url", v);
	case 'u':
		if (v[0] && (strlen(v) != 3 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
			return ps_cli_usage_error(a->cmd,
			                          "--currency must be an ISO 4217 code like EUR");
		return add_opt(a, "currency", v);
	case 's':
		if (!v[0])
			return add_opt(a, "schedule_s", v);
		if ((secs = parse_duration(v)) < 0)
			return ps_cli_usage_error(a->cmd,
			                          "--schedule must be like 30s, 15m, 2h or 1d");
		snprintf(sc, 32, "%ld", secs);
		return add_opt(a, "schedule_s", sc);
	case 'w': return add_opt(a, "webhook_secret_file", v);
	case 'P': return add_opt(a, "feed_password_file", v);
	default: return PS_EXIT_USAGE;
	}
}

/* Keeps a string made here until the command ends; NULL when out of room
 * (the caller then fails). */
static char *
keep(target_args *a, char *str)
{
	if (str == NULL || a->nowned == MAX_TARGET_OPTS) {
		free(str);
		return NULL;
	}
	return a->owned[a->nowned++] = str;
}

static void
target_args_free(target_args *a)
{
	int i;

	for (i = 0; i < a->nowned; i++) {
		/* A feed URL with its password (only ever a copy of argv's). */
		memset(a->owned[i], 0, strlen(a->owned[i]));
		free(a->owned[i]);
	}
	a->nowned = 0;
}

/* path made absolute from the working directory (malloc'ed), or NULL when
 * out of memory or the working directory is unknown. Lexical only: "./"
 * parts dropped, ".." and symlinks left for the kernel to resolve at each
 * use, so that a symlink an operator repoints (a mounted secret that
 * rotates, a feed's latest export) keeps working. */
static char *
absolute(const char *path)
{
	char cwd[4096], *out;
	size_t n;

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	while (path[0] == '.' && path[1] == '/')
		for (path += 2; *path == '/'; path++)
			;
	if (strcmp(path, ".") == 0)
		path = "";
	n = strlen(cwd) + strlen(path) + 2;
	if ((out = malloc(n)) == NULL)
		return NULL;
	snprintf(out, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 || !path[0] ? "" : "/", path);
	return out;
}

/* Issue "Hardening": a relative path stored as typed breaks as soon as
 * pinsync runs from another directory (serve's, a cron job's). The path
 * options are stored made absolute, and said so; a path where nothing is
 * now draws a warning (not a refusal: a feed's export or a mounted secret
 * may come later). Returns 0, or an exit code. */
static int
absolute_paths(target_args *a)
{
	static const struct {
		const char *column, *flag;
	} paths[] = {{"feed", "--feed"},
	             {"map_file", "--map"},
	             {"webhook_secret_file", "--webhook-secret-file"},
	             {"feed_password_file", "--feed-password-file"}};
	int i;
	size_t k;

	for (i = 0; i < a->nopts; i++) {
		target_opt *o = &a->opts[i];
		struct stat st;
		char *abs;

		for (k = 0; k < sizeof(paths) / sizeof(paths[0]); k++)
			if (strcmp(o->column, paths[k].column) == 0)
				break;
		if (k == sizeof(paths) / sizeof(paths[0]) || o->value == NULL)
			continue;
		/* A feed may be stdin or a URL (file:// ones are absolute). */
		if (k == 0 && (strcmp(o->value, "-") == 0 || strstr(o->value, "://")))
			continue;
		if (o->value[0] != '/') {
			if ((abs = keep(a, absolute(o->value))) == NULL) {
				ps_error("%s %s: cannot make the path absolute: %s", paths[k].flag,
				         o->value, strerror(errno));
				return PS_EXIT_INTERNAL;
			}
			printf("%s %s: stored as %s (relative paths are made absolute from the "
			       "working directory)\n",
			       paths[k].flag, o->value, abs);
			if (k == 0)
				a->t.feed = abs;
			o->value = abs;
		}
		if (stat(o->value, &st) != 0 && errno == ENOENT)
			ps_warn("%s %s: nothing there yet; runs will read it from this path",
			        paths[k].flag, o->value);
	}
	return 0;
}

/* The option given for column, or NULL. */
static target_opt *
opt_of(target_args *a, const char *column)
{
	int i;

	for (i = 0; i < a->nopts; i++)
		if (strcmp(a->opts[i].column, column) == 0)
			return &a->opts[i];
	return NULL;
}

/* Issue "Hardening": a password inside the feed URL is visible in ps while
 * the command runs and would be stored in plain text. With a password file
 * (given now, or the target's: has_file) the URL is stored without it;
 * else a warning names the file forms. stored: the URL is the one stored
 * (a password file given alone), not one from the command line. Returns 0,
 * or an exit code. */
static int
feed_password(target_args *a, int has_file, int stored)
{
	target_opt *feed = opt_of(a, "feed"), *pwf = opt_of(a, "feed_password_file");
	CURLU *h;
	char *pw = NULL, *user = NULL, *clean = NULL;
	int rc = 0;

	if (feed == NULL || feed->value == NULL || strstr(feed->value, "://") == NULL)
		return 0;
	if ((h = curl_url()) == NULL)
		return PS_EXIT_INTERNAL;
	if (curl_url_set(h, CURLUPART_URL, feed->value, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PASSWORD, &pw, 0) != CURLUE_OK || pw == NULL)
		goto done; /* no password (a bad URL fails at the run, as before) */
	if (!stored)
		ps_warn("--feed: the URL holds a password, which other users of the machine see "
		        "in ps while this command runs; give only the user in the URL "
		        "(https://USER@host/...) and the password in a file: --feed-password-file "
		        "FILE (or PINSYNC_FEED_PASSWORD_FILE)");
	if (!has_file && (pwf == NULL || pwf->value == NULL)) {
		ps_warn("--feed: without a password file the URL's password is stored in plain "
		        "text in the database");
		goto done;
	}
	/* The file's password is the one used (feeds.h): the URL's is dropped,
	 * the user stays. */
	if (curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_USER, &user, 0) != CURLUE_OK || user == NULL ||
	    curl_url_get(h, CURLUPART_URL, &clean, 0) != CURLUE_OK ||
	    keep(a, strdup(clean)) == NULL) {
		ps_error("--feed: cannot remove the password from the URL");
		rc = PS_EXIT_INTERNAL;
		goto done;
	}
	feed->value = a->owned[a->nowned - 1];
	if (a->t.feed)
		a->t.feed = feed->value;
	printf("--feed: the URL's password is %s: the password file is used\n",
	       stored ? "removed from the stored URL" : "not stored");
done:
	if (pw)
		memset(pw, 0, strlen(pw));
	curl_free(pw);
	curl_free(user);
	curl_free(clean);
	curl_url_cleanup(h);
	return rc;
}

/* Copies url into buf with a password in it shown as ***. */
static const char *
redacted(char *buf, size_t len, const char *url)
{
	const char *scheme = strstr(url, "://"), *at, *colon, *slash;

	snprintf(buf, len, "%s", url);
	if (scheme == NULL)
		return buf;
	slash = strchr(scheme + 3, '/');
	at = strchr(scheme + 3, '@');
	if (at == NULL || (slash && slash < at))
		return buf;
	colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
	if (colon)
		snprintf(buf, len, "%.*s***%s", (int)(colon + 1 - url), url, at);
	return buf;
}

/* Applies the options given (add: only those not in the INSERT). */
static int
apply_opts(ps_db *db, const char *name, const target_args *a, int skip_basic)
{
	int i;

	for (i = 0; i < a->nopts; i++) {
		const char *c = a->opts[i].column;

		if (skip_basic &&
		    (!strcmp(c, "feed") || !strcmp(c, "catalog_id") || !strcmp(c, "country") ||
		     !strcmp(c, "language") || !strcmp(c, "format") || !strcmp(c, "ad_account_id")))
			continue;
		if (ps_db_target_set(db, name, c, a->opts[i].value) != PS_DB_OK)
			return -1;
	}
	return 0;
}

/* Another catalog: what was checked of the old one no longer holds. */
static int
forget_ownership(ps_db *db, const char *name, const target_args *a)
{
	ps_target t;
	int i, rc;

	for (i = 0; i < a->nopts; i++)
		if (strcmp(a->opts[i].column, "catalog_id") == 0)
			break;
	if (i == a->nopts)
		return 0;
	if (ps_db_target_get(db, name, &t) != PS_DB_OK)
		return -1;
	rc = ps_db_target_ownership_set(db, t.id, -1);
	ps_target_clear(&t);
	return rc;
}

/* What target list shows of the catalog's operations. */
static const char *
ownership(const ps_target *t, char *buf, size_t len)
{
	const char *found = t->feed_source == 1   ? "feed source"
	                    : t->feed_source == 0 ? "API only"
	                                          : "unchecked";

	if (t->api_owned < 0)
		snprintf(buf, len, "%s", found);
	else
		snprintf(buf, len, "%s (override: %s)", found,
		         t->api_owned ? "api-owned" : "feed-owned");
	return buf;
}

static int
target_add(const command *cmd, ps_settings *s, int argc, char **argv)
{
	target_args a;
	ps_db *db = NULL;
	const char *name;
	int rc, first;

	memset(&a, 0, sizeof(a));
	a.cmd = cmd;
	first = ps_cli_parse_flags(cmd, argc, argv, target_options, target_flag, &a, &rc);
	if (first < 0)
		return rc;
	if ((name = ps_cli_target_name(cmd, argc, argv, first, &rc)) == NULL)
		return rc;
	a.t.name = (char *)name;
	if (!a.t.feed)
		return ps_cli_usage_error(cmd, "missing --feed SOURCE");
	if (!a.t.catalog_id)
		return ps_cli_usage_error(cmd, "missing --catalog-id ID");
	if (!a.t.country)
		return ps_cli_usage_error(cmd, "missing --country CC");
	if (!a.t.language)
		return ps_cli_usage_error(cmd, "missing --language LOCALE");
	if ((rc = absolute_paths(&a)) != 0 || (rc = feed_password(&a, 0, 0)) != 0)
		goto done;
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		goto done;
	/* One transaction: a target is added with all its options or not at all. */
	if (ps_db_exec(db, "BEGIN") < 0 || (rc = ps_db_target_add(db, &a.t)) != PS_DB_OK ||
	    apply_opts(db, a.t.name, &a, 1) < 0 || ps_db_exec(db, "COMMIT") < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_exec(db, "ROLLBACK");
		rc = rc == PS_DB_EXISTS ? PS_EXIT_USAGE : PS_EXIT_DB;
	} else {
		char shown[2048];

		printf("target %s added (feed %s, catalog %s, %s/%s)\n", a.t.name,
		       redacted(shown, sizeof(shown), a.t.feed), a.t.catalog_id, a.t.country,
		       a.t.language);
		rc = PS_EXIT_OK;
	}
	ps_db_close(db);
	/* Which operations the catalog takes: asked now when tokens are
	 * stored, so that `target list` shows it; a failure is only a warning
	 * (every run checks again). */
	if (rc == PS_EXIT_OK && ps_sync_check_catalog(s, a.t.name, stdout) == PS_EXIT_DB)
		rc = PS_EXIT_DB; /* every database failure is exit 4 */
done:
	target_args_free(&a);
	return rc;
}

static int
target_set(const command *cmd, ps_settings *s, int argc, char **argv)
{
	target_args a;
	target_opt *feed, *pwf;
	ps_db *db = NULL;
	const char *name;
	int rc, first;

	memset(&a, 0, sizeof(a));
	a.cmd = cmd;
	first = ps_cli_parse_flags(cmd, argc, argv, target_options, target_flag, &a, &rc);
	if (first < 0)
		return rc;
	if ((name = ps_cli_target_name(cmd, argc, argv, first, &rc)) == NULL)
		return rc;
	if (a.nopts == 0)
		return ps_cli_usage_error(cmd, "nothing to set");
	if ((rc = absolute_paths(&a)) != 0)
		goto done;
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		goto done;
	feed = opt_of(&a, "feed");
	pwf = opt_of(&a, "feed_password_file");
	if ((feed && !pwf) || (!feed && pwf && pwf->value)) {
		/* A new URL's password is not stored when the target has a
		 * password file; a new password file takes the password out of
		 * the stored URL. */
		ps_target t;

		rc = ps_db_target_get(db, name, &t);
		if (rc != PS_DB_OK) {
			ps_error("%s", ps_db_error(db));
			rc = rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB;
			goto done;
		}
		if (feed) {
			rc = feed_password(&a, t.feed_password_file != NULL, 0);
		} else if (ps_cli_url_has_password(t.feed)) {
			char *stored = keep(&a, strdup(t.feed));

			rc = stored == NULL ? PS_EXIT_INTERNAL : add_opt(&a, "feed", stored);
			if (rc == 0)
				rc = feed_password(&a, 1, 1);
		}
		ps_target_clear(&t);
	} else {
		rc = feed_password(&a, 0, 0);
	}
	if (rc != 0)
		goto done;
	if (ps_db_exec(db, "BEGIN") < 0 || apply_opts(db, name, &a, 0) < 0 ||
	    forget_ownership(db, name, &a) < 0 || ps_db_exec(db, "COMMIT") < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_exec(db, "ROLLBACK");
		rc = strstr(ps_db_error(db), "no target named") ? PS_EXIT_USAGE : PS_EXIT_DB;
	} else {
		printf("target %s changed\n", name);
		rc = PS_EXIT_OK;
	}
done:
	ps_db_close(db);
	target_args_free(&a);
	return rc;
}

static int
target_list(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	ps_target *list = NULL;
	size_t n = 0, i;
	char shown[2048];
	ps_db *db = NULL;
	int rc, first = ps_cli_parse_flags(cmd, argc, argv, opts, ps_cli_no_flags, NULL, &rc);

	if (first < 0)
		return rc;
	if (first < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	if (ps_db_target_list(db, &list, &n) < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_close(db);
		return PS_EXIT_DB;
	}
	printf("%-20s %-6s %-16s %-8s %-8s %-28s %s\n", "NAME", "FORMAT", "CATALOG", "COUNTRY",
	       "LANGUAGE", "CATALOG FED BY", "FEED");
	for (i = 0; i < n; i++) {
		char own[64];

		printf("%-20s %-6s %-16s %-8s %-8s %-28s %s\n", list[i].name, list[i].format,
		       list[i].catalog_id, list[i].country, list[i].language,
		       ownership(&list[i], own, sizeof(own)),
		       redacted(shown, sizeof(shown), list[i].feed));
	}
	ps_db_targets_free(list, n);
	ps_db_close(db);
	return PS_EXIT_OK;
}

static const command target_cmds[] = {
    {"target add",
     "Adds a sync target: a feed and the Pinterest catalog it keeps in step.\n\n" TARGET_FLAGS_HELP,
     "target add NAME --feed SOURCE --catalog-id ID --country CC --language LOCALE\n"
     "       [--format auto|xml|csv|tsv] [--ad-account-id ID] [options]",
     target_add},
    {"target set", "Changes options of a target.\n\n" TARGET_FLAGS_HELP,
     "target set NAME [options]", target_set},
    {"target list", "Lists the sync targets.", "target list", target_list},
};

int
cmd_target(const command *cmd, ps_settings *s, int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return ps_cli_usage_error(cmd, "missing a subcommand: add, set or list");
		printf("usage:\n");
		for (i = 0; i < sizeof(target_cmds) / sizeof(target_cmds[0]); i++)
			printf("  %s %s\n", ps_cli_progname, target_cmds[i].usage);
		return PS_EXIT_OK;
	}
	for (i = 0; i < sizeof(target_cmds) / sizeof(target_cmds[0]); i++)
		if (strcmp(target_cmds[i].name + 7, argv[1]) == 0)
			return target_cmds[i].fn(&target_cmds[i], s, argc - 1, argv + 1);
	return ps_cli_usage_error(cmd, "unknown subcommand \"%s\"", argv[1]);
}
