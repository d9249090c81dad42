/*
 * cli.c: dispatches the command line to the commands (cmd_*.c), and the
 * helpers they share: flag parsing, usage errors, help, opening the
 * database.
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_int.h"
#include "db.h"
#include "feeds.h"
#include "log.h"
#include "run.h"
#include "settings.h"

const char *ps_cli_progname = "pinsync";

int
ps_cli_usage_error(const command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s%s%s: ", ps_cli_progname, cmd ? " " : "", cmd ? cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see: %s %s%s--help)\n", ps_cli_progname, cmd ? cmd->name : "",
	        cmd ? " " : "");
	return PS_EXIT_USAGE;
}

int
ps_cli_help(const command *cmd)
{
	printf("usage: %s %s\n\n%s\n", ps_cli_progname, cmd->usage, cmd->summary);
	return PS_EXIT_OK;
}

int
ps_cli_parse_flags(const command *cmd, int argc, char **argv, const struct option *longopts,
                   flag_fn handle, void *ctx, int *rc)
{
	int opt, idx;

	/* optind = 0 fully reinitialises glibc's getopt between commands; flags
	 * and operands may come in any order (operands are moved last). */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, &idx)) != -1) {
		if (opt == 'h') {
			*rc = ps_cli_help(cmd);
			return -1;
		}
		if (opt == '?') {
			if (optopt)
				*rc = ps_cli_usage_error(cmd, "unknown flag -%c", optopt);
			else
				*rc = ps_cli_usage_error(cmd, "unknown flag %s", argv[optind - 1]);
			return -1;
		}
		if (opt == ':') {
			*rc = ps_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
			return -1;
		}
		if ((*rc = handle(ctx, opt, optarg)) != 0)
			return -1;
	}
	return optind;
}

const char *
ps_cli_target_name(const command *cmd, int argc, char **argv, int first, int *rc)
{
	if (first >= argc) {
		*rc = ps_cli_usage_error(cmd, "missing the target's NAME");
		return NULL;
	}
	if (first + 1 < argc) {
		*rc = ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
		return NULL;
	}
	return argv[first];
}

int
ps_cli_url_has_password(const char *url)
{
	CURLU *h;
	char *pw = NULL;
	int has = 0;

	if (url == NULL || strstr(url, "://") == NULL || (h = curl_url()) == NULL)
		return 0;
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK && pw != NULL)
		has = 1;
	curl_free(pw);
	curl_url_cleanup(h);
	return has;
}

int
ps_cli_no_flags(void *ctx, int opt, const char *arg)
{
	(void)ctx, (void)opt, (void)arg;
	return PS_EXIT_USAGE;
}

int
ps_cli_open_db(ps_settings *s, ps_db **db)
{
	if (ps_db_connect(db, s->database_url) != PS_DB_OK) {
		ps_error("%s", ps_db_error(*db));
		ps_db_close(*db);
		*db = NULL;
		return PS_EXIT_DB;
	}
	return PS_EXIT_OK;
}

int
ps_cli_open_migrated_db(ps_settings *s, ps_db **db)
{
	int rc = ps_cli_open_db(s, db);

	if (rc != PS_EXIT_OK)
		return rc;
	if (ps_db_migrated(*db, ps_migrations_embedded) != PS_DB_OK) {
		ps_error("the database is not migrated: run %s migrate", ps_cli_progname);
		ps_db_close(*db);
		*db = NULL;
		return PS_EXIT_DB;
	}
	return PS_EXIT_OK;
}

/* ---- config ---- */

int
cmd_config(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int rc, first = ps_cli_parse_flags(cmd, argc, argv, opts, ps_cli_no_flags, NULL, &rc);

	if (first < 0)
		return rc;
	if (first < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	ps_settings_print(s, stdout);
	return PS_EXIT_OK;
}

static const command commands[] = {
    {"migrate",
     "Applies the database migrations not yet applied, each in its own transaction.\n"
     "--dir reads NNNN_name.sql files from DIR instead of those built in.",
     "migrate [--dir DIR]", cmd_migrate},
    {"target", "Adds or lists sync targets.", "target add|list ...", cmd_target},
    {"auth", "Stores the Pinterest OAuth tokens, or shows their expiries.", "auth set|status ...",
     cmd_auth},
    {"run",
     "Syncs one target: parse the feed, diff it against the snapshot, send the\n"
     "changes, poll every batch to its end and record every item's result.\n"
     "--dry-run plans and changes nothing on Pinterest or in the snapshot. The\n"
     "plan: on a terminal, its counts and the first --show N (10) item ids per\n"
     "operation; the full plan, one line per item (\"UPDATE id [price]\"), goes\n"
     "to --plan FILE (\"-\": stdout), or to stdout when that is no terminal.\n"
     "A run that would delete more than the target's --max-delete-ratio of the\n"
     "catalog sends its creates and updates but holds the deletes back (exit 7);\n"
     "--allow-mass-delete releases them.\n\n" EXIT_CODES_HELP,
     "run [--dry-run [--plan FILE] [--show N]] [--allow-mass-delete] NAME", cmd_run},
    {"poll",
     "Finishes the batches runs left in flight (still processing at Pinterest\n"
     "when their run ended, or left by a run that stopped): polls them to their\n"
     "end, records every item's result and recounts their runs.",
     "poll [NAME]", cmd_poll},
    {"reconcile",
     "Reads the target's items back from Pinterest (a random sample of N, default\n"
     "100, or --all of them) and compares them with what pinsync sent: items gone\n"
     "from Pinterest or changed outside pinsync are listed (id, attribute, what\n"
     "Pinterest has, what the snapshot says) and marked so that the next run\n"
     "repairs them; --fix repairs them now with a sync. Exit 0 when nothing\n"
     "differs, 10 when something did.\n\n" EXIT_CODES_HELP,
     "reconcile NAME [--sample N | --all] [--fix]", cmd_reconcile},
    {"status", "Shows the last runs, of one target or of all.", "status [NAME]", cmd_status},
    {"errors",
     "Lists every item of a run (default: the last) that is not in sync: rejected\n"
     "locally or by Pinterest, with the attribute and the reason, or pending (sent\n"
     "without a verdict yet), with what happened.",
     "errors NAME [--run ID] [--format table|csv|json]", cmd_errors},
    {"prune",
     "Removes old finished runs with their batches, bodies, items, results and\n"
     "problems, old finished jobs and webhook delivery ids past the replay window,\n"
     "a few thousand rows per transaction. Runs older than --older-than (default\n"
     "PINSYNC_PRUNE_AFTER, 30d) go, except each target's --keep-runs newest\n"
     "(default PINSYNC_PRUNE_KEEP_RUNS, 3), its latest run that is no dry run (what\n"
     "pinsync errors shows), its last successful one, and any run that recovery\n"
     "still needs (running, or with a batch planned or sent). The snapshot is never\n"
     "touched. --dry-run counts what would go. Exit 9 when another pinsync prunes.",
     "prune [--older-than DURATION] [--keep-runs N] [--dry-run] [NAME]", cmd_prune},
    {"config",
     "Prints the effective settings, secrets redacted, and where each comes from\n"
     "(default < config file < environment < flag).\n\n"
     "The config file (PINSYNC_CONFIG, serve --config) holds name = value lines:\n"
     "  # a comment line\n"
     "  api_base = https://api.pinterest.com/v5   # a comment after a blank\n"
     "  feed_password_file = \"/srv/shop #1/pw\"      # quotes keep # and blanks\n"
     "  database_url_file = /run/secrets/db       # a secret read from a file\n"
     "A '#' at the start of a value or after a blank starts a comment; any other\n"
     "'#' is part of the value. In quotes, \"\" is one quote. A bad line is refused\n"
     "with its line number.",
     "config", cmd_config},
    {"metrics",
     "Prints the database's figures in Prometheus's text format (those of serve's\n"
     "/metrics that come from the database). --output FILE replaces FILE whole,\n"
     "for node_exporter's textfile collector on hosts that run pinsync from cron.",
     "metrics [--output FILE]", cmd_metrics},
    {"serve", SERVE_HELP, "serve [--listen ADDR:PORT] [--config FILE]", cmd_serve},
    {"check",
     "Parses and validates a feed locally (no database, no API): counts, the first problems with "
     "their place, problems by kind. Exit 0 if usable, 3 if not.",
     "check FEED [--format auto|xml|csv|tsv] [--map FILE] [--preset shopify|woocommerce|magento2] "
     "[--base-url URL] [--currency CUR] [--json] [--show N] [--items N] [--no-duplicates] "
     "[--if-none-match ETAG] [--if-modified-since DATE] [--password-file FILE] [--ca-file FILE] "
     "[--max-gzip-bytes N]",
     cmd_check},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
print_main_help(FILE *out)
{
	size_t i;

	fprintf(out,
	        "pinsync %s: keeps a Pinterest catalog in step with a store's product feed.\n\n"
	        "usage: %s COMMAND [ARGS]\n\ncommands:\n",
	        PINSYNC_VERSION, ps_cli_progname);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].usage);
	fprintf(out,
	        "\n`%s COMMAND --help` tells more. Settings come from the environment\n"
	        "(PINSYNC_DATABASE_URL, PINSYNC_API_BASE, PINSYNC_CLIENT_ID, ...; see: %s "
	        "config).\n\n" EXIT_CODES_HELP,
	        ps_cli_progname, ps_cli_progname);
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
		return ps_cli_usage_error(NULL, "unknown command \"%s\"", argv[1]);

	if (ps_settings_load(&s, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", ps_cli_progname, err);
		ps_settings_free(&s);
		return PS_EXIT_USAGE;
	}
	level = ps_log_level_parse(s.log_level);
	if (level < 0) {
		fprintf(stderr, "%s: PINSYNC_LOG_LEVEL must be debug, info, warn or error\n",
		        ps_cli_progname);
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
