/*
 * cmd_target.c: pinsync target add|list.
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
	first = ps_cli_parse_flags(cmd, argc, argv, opts, target_flag, &a, &rc);
	if (first < 0)
		return rc;
	if (first >= argc)
		return ps_cli_usage_error(cmd, "missing the target's NAME");
	if (first + 1 < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	a.t.name = argv[first];
	if (!a.t.feed)
		return ps_cli_usage_error(cmd, "missing --feed SOURCE");
	if (!a.t.catalog_id)
		return ps_cli_usage_error(cmd, "missing --catalog-id ID");
	if (!a.t.country)
		return ps_cli_usage_error(cmd, "missing --country CC");
	if (!a.t.language)
		return ps_cli_usage_error(cmd, "missing --language LOCALE");
	if (a.t.format && ps_feed_format_parse(&fmt, a.t.format) < 0)
		return ps_cli_usage_error(cmd, "--format must be auto, xml, csv or tsv, not \"%s\"",
		                          a.t.format);
	if (strspn(a.t.catalog_id, "0123456789") != strlen(a.t.catalog_id) || !a.t.catalog_id[0])
		return ps_cli_usage_error(cmd, "--catalog-id must be digits, not \"%s\"",
		                          a.t.catalog_id);
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
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
	printf("%-20s %-6s %-16s %-8s %-8s %s\n", "NAME", "FORMAT", "CATALOG", "COUNTRY",
	       "LANGUAGE", "FEED");
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

int
cmd_target(const command *cmd, ps_settings *s, int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return ps_cli_usage_error(cmd, "missing a subcommand: add or list");
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
