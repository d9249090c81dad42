/*
 * cmd_prune.c: pinsync prune: removes what the journal no longer needs
 * (ps_db_prune in db/prune.c says what goes and what is kept), and prints
 * what went per table, or with --dry-run what would.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "clock.h"
#include "db.h"
#include "log.h"

typedef struct prune_args {
	long older_than_s; /* -1: PINSYNC_PRUNE_AFTER */
	long keep_runs;    /* -1: PINSYNC_PRUNE_KEEP_RUNS */
	int dry_run;
} prune_args;

static int
prune_flag(void *ctx, int opt, const char *arg)
{
	prune_args *a = ctx;
	char *end;

	switch (opt) {
	case 'o':
		if (ps_duration_parse(arg, &a->older_than_s) < 0 || strcmp(arg, "off") == 0)
			return ps_cli_usage_error(
			    NULL, "--older-than must be a duration (30d, 12h, 90m, 3600s), not \"%s\"",
			    arg);
		return 0;
	case 'k':
		errno = 0;
		a->keep_runs = strtol(arg, &end, 10);
		if (errno || end == arg || *end || a->keep_runs < 0 || a->keep_runs > 1000000)
			return ps_cli_usage_error(NULL, "--keep-runs must be a count from 0 to 1000000");
		return 0;
	case 'n': a->dry_run = 1; return 0;
	default: return PS_EXIT_USAGE;
	}
}

int
cmd_prune(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"older-than", required_argument, NULL, 'o'},
	                                     {"keep-runs", required_argument, NULL, 'k'},
	                                     {"dry-run", no_argument, NULL, 'n'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	prune_args a = {-1, -1, 0};
	ps_db_prune_options o = PS_DB_PRUNE_OPTIONS_INIT;
	ps_db_prune_counts n;
	ps_db *db = NULL;
	char after[32];
	double started;
	int rc, first = ps_cli_parse_flags(cmd, argc, argv, opts, prune_flag, &a, &rc);

	if (first < 0)
		return rc;
	if (first + 1 < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	o.target = first < argc ? argv[first] : NULL;
	o.older_than_s = a.older_than_s >= 0 ? a.older_than_s : s->prune_after_s;
	o.keep_runs = (int)(a.keep_runs >= 0 ? a.keep_runs : s->prune_keep_runs);
	o.webhook_window_s = s->webhook_tolerance_s;
	o.dry_run = a.dry_run;
	if (a.older_than_s < 0 && s->prune_after_s == 0)
		return ps_cli_usage_error(cmd, "retention is off (PINSYNC_PRUNE_AFTER=off): "
		                               "say how old with --older-than");
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	if (o.target) {
		ps_target t;

		rc = ps_db_target_get(db, o.target, &t);
		ps_target_clear(&t);
		if (rc != PS_DB_OK) {
			ps_error("%s", ps_db_error(db));
			ps_db_close(db);
			return rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB;
		}
	}
	memset(&n, 0, sizeof(n));
	started = ps_clock_now();
	rc = ps_db_prune(db, &o, &n);
	if (rc < 0)
		ps_error("prune: %s", ps_db_error(db));
	/* What went before a failure went for good: it is printed too. */
	ps_duration_format(o.older_than_s, after, sizeof(after));
	printf("%s %s%s%s, older than %s, keeping %d run%s per target:\n",
	       o.dry_run ? "would remove" : rc < 0 ? "removed before the failure" : "removed",
	       o.target ? "from target " : "from every target", o.target ? o.target : "",
	       o.dry_run ? " (dry run: nothing removed)" : "",
	       o.older_than_s ? after : "0s", o.keep_runs, o.keep_runs == 1 ? "" : "s");
	printf("  %-20s %12" PRId64 "\n", "runs", n.runs);
	printf("  %-20s %12" PRId64 "\n", "batches", n.batches);
	printf("  %-20s %12" PRId64 "\n", "batch_bodies_bytes", n.body_bytes);
	printf("  %-20s %12" PRId64 "\n", "batch_items", n.batch_items);
	printf("  %-20s %12" PRId64 "\n", "batch_results", n.batch_results);
	printf("  %-20s %12" PRId64 "\n", "item_problems", n.item_problems);
	printf("  %-20s %12" PRId64 "\n", "jobs", n.jobs);
	printf("  %-20s %12" PRId64 "\n", "webhook_deliveries", n.webhook_deliveries);
	printf("in %.2f s, %d transaction%s\n", ps_clock_now() - started, n.transactions,
	       n.transactions == 1 ? "" : "s");
	ps_db_close(db);
	if (rc == PS_DB_BUSY)
		return PS_EXIT_BUSY;
	return rc < 0 ? PS_EXIT_DB : PS_EXIT_OK;
}
