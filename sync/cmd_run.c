/*
 * cmd_run.c: pinsync run, status and errors: syncs and what they did.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_int.h"
#include "control.h"
#include "db.h"
#include "feeds.h"
#include "log.h"
#include "plan.h"

typedef struct run_args {
	int dry_run;
	int allow_mass_delete;
	const char *plan; /* --plan FILE: the full plan of a dry run */
	int show;         /* --show N: ids per operation in its summary */
} run_args;

static int
run_flag(void *ctx, int opt, const char *arg)
{
	run_args *a = ctx;
	char *end;
	long v;

	switch (opt) {
	case 'n': a->dry_run = 1; return 0;
	case 'D': a->allow_mass_delete = 1; return 0;
	case 'p': a->plan = arg; return 0;
	case 's':
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || end == arg || v < 0 || v > 1000000)
			return ps_cli_usage_error(NULL, "--show must be a count from 0 to 1000000");
		a->show = (int)v;
		return 0;
	default: return PS_EXIT_USAGE;
	}
}

/* The progress line, and the last counters for its closing line. */
typedef struct run_progress {
	ps_progress progress;
	ps_progress_counts last;
} run_progress;

static void
progress_seen(void *ctx, const ps_progress_counts *c)
{
	run_progress *pg = ctx;

	pg->last = *c;
	ps_progress_update(&pg->progress, c);
}

int
cmd_run(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"dry-run", no_argument, NULL, 'n'},
	                                     {"allow-mass-delete", no_argument, NULL, 'D'},
	                                     {"plan", required_argument, NULL, 'p'},
	                                     {"show", required_argument, NULL, 's'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	run_args a = {0, 0, NULL, PS_PLAN_SHOW};
	ps_run_options ro;
	run_progress pg;
	const char *name;
	FILE *plan = NULL;
	int rc, first;

	first = ps_cli_parse_flags(cmd, argc, argv, opts, run_flag, &a, &rc);
	if (first < 0)
		return rc;
	if ((name = ps_cli_target_name(cmd, argc, argv, first, &rc)) == NULL)
		return rc;
	if (a.plan && !a.dry_run)
		return ps_cli_usage_error(cmd, "--plan needs --dry-run");
	memset(&ro, 0, sizeof(ro));
	ro.target = name;
	ro.dry_run = a.dry_run;
	ro.plan_show = a.show;
	ro.allow_mass_delete = a.allow_mass_delete;
	ro.trigger = "manual";
	ps_control_install();
	ro.out = stdout;
	if (ro.dry_run) {
		if (a.plan && strcmp(a.plan, "-") == 0) {
			plan = stdout;
		} else if (a.plan && (plan = fopen(a.plan, "w")) == NULL) {
			ps_error("--plan %s: %s", a.plan, strerror(errno));
			return PS_EXIT_USAGE;
		}
		ro.plan_full = plan;
		rc = ps_sync_run(s, &ro);
		if (plan && plan != stdout && fclose(plan) != 0 && rc == PS_EXIT_OK) {
			ps_error("--plan %s: %s", a.plan, strerror(errno));
			rc = PS_EXIT_INTERNAL;
		}
		return rc;
	}
	/* A live progress line on a terminal; a summary line otherwise. */
	memset(&pg, 0, sizeof(pg));
	ps_progress_init(&pg.progress, stderr, -1);
	ro.on_progress = progress_seen;
	ro.progress_ctx = &pg;
	rc = ps_sync_run(s, &ro);
	ps_progress_finish(&pg.progress, &pg.last);
	return rc;
}

/* ---- status ---- */

int
cmd_status(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	ps_run_row *rows = NULL;
	size_t n = 0, i;
	ps_db *db = NULL;
	int rc, first = ps_cli_parse_flags(cmd, argc, argv, opts, ps_cli_no_flags, NULL, &rc);
	const char *target;

	if (first < 0)
		return rc;
	if (first + 1 < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	target = first < argc ? argv[first] : NULL;
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
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
	printf("%-6s %-16s %-19s %-11s %8s %7s %7s %7s %7s %9s %6s %7s %7s %7s %7s %8s\n", "RUN",
	       "TARGET", "STARTED", "OUTCOME", "PARSED", "INVALID", "CREATED", "UPDATED", "DELETED",
	       "UNCHANGED", "FAILED", "PENDING", "BATCHES", "RETRIES", "DRIFT", "TIME");
	for (i = 0; i < n; i++) {
		const ps_run_row *r = &rows[i];
		char outcome[32], drift[32];

		snprintf(outcome, sizeof(outcome), "%s%s", r->outcome, r->dry_run ? "*" : "");
		/* Drift: items that differed on Pinterest of those read back. */
		if (r->counts.drift_checked)
			snprintf(drift, sizeof(drift), "%d/%d", r->counts.drift,
			         r->counts.drift_checked);
		else
			snprintf(drift, sizeof(drift), "-");
		printf("%-6" PRId64 " %-16s %-19s %-11s %8" PRId64 " %7" PRId64 " %7" PRId64
		       " %7" PRId64 " %7" PRId64 " %9" PRId64 " %6" PRId64 " %7" PRId64
		       " %7d %7d %7s %7.1fs\n",
		       r->id, r->target, r->started_at, outcome, r->counts.parsed,
		       r->counts.invalid, r->counts.created, r->counts.updated, r->counts.deleted,
		       r->counts.unchanged, r->counts.failed, r->counts.pending, r->counts.batches,
		       r->counts.retries, drift, r->seconds);
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
			return ps_cli_usage_error(NULL, "--run must be a run id, not \"%s\"", arg);
		return 0;
	}
	if (opt == 'f') {
		if (strcmp(arg, "table") && strcmp(arg, "csv") && strcmp(arg, "json"))
			return ps_cli_usage_error(NULL, "--format must be table, csv or json");
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

int
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
	int rc, first = ps_cli_parse_flags(cmd, argc, argv, opts, errors_flag, &a, &rc);
	const char *name;
	ps_target t;

	if (first < 0)
		return rc;
	if ((name = ps_cli_target_name(cmd, argc, argv, first, &rc)) == NULL)
		return rc;
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	rc = ps_db_target_get(db, name, &t);
	ps_target_clear(&t);
	if (rc != PS_DB_OK || ps_db_item_errors(db, name, a.run_id, &rows, &n) < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_close(db);
		return rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB;
	}
	if (strcmp(a.format, "csv") == 0) {
		printf("run,item_id,operation,state,source,attribute,code,message\n");
		for (i = 0; i < n; i++) {
			char run[32];

			snprintf(run, sizeof(run), "%" PRId64, rows[i].run_id);
			csv_field(run, 0);
			csv_field(rows[i].item_id, 0);
			csv_field(rows[i].operation, 0);
			csv_field(rows[i].state, 0);
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
			json_field("state", rows[i].state, 0);
			json_field("source", rows[i].place, 0);
			json_field("attribute", rows[i].attribute, 0);
			json_field("code", rows[i].code, 0);
			json_field("message", rows[i].message, 1);
			putchar('}');
		}
		printf("]\n");
	} else {
		size_t pending = 0;

		printf("%-6s %-24s %-9s %-8s %-22s %-22s %-8s %s\n", "RUN", "ITEM", "OP", "STATE",
		       "SOURCE", "ATTRIBUTE", "CODE", "MESSAGE");
		for (i = 0; i < n; i++) {
			printf("%-6" PRId64 " %-24s %-9s %-8s %-22s %-22s %-8s %s\n",
			       rows[i].run_id, rows[i].item_id ? rows[i].item_id : "-",
			       rows[i].operation ? rows[i].operation : "-", rows[i].state,
			       rows[i].place, rows[i].attribute ? rows[i].attribute : "-",
			       rows[i].code ? rows[i].code : "-", rows[i].message);
			pending += strcmp(rows[i].state, "pending") == 0;
		}
		printf("(%zu error%s, %zu pending)\n", n - pending, n - pending == 1 ? "" : "s",
		       pending);
	}
	ps_db_item_errors_free(rows, n);
	ps_db_close(db);
	return PS_EXIT_OK;
}

int
cmd_poll(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int rc, first = ps_cli_parse_flags(cmd, argc, argv, opts, ps_cli_no_flags, NULL, &rc);

	if (first < 0)
		return rc;
	if (first + 1 < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	ps_control_install();
	return ps_sync_poll(s, first < argc ? argv[first] : NULL, stdout);
}

/* ---- reconcile ---- */

typedef struct reconcile_args {
	int sample;
	int all;
	int fix;
} reconcile_args;

static int
reconcile_flag(void *ctx, int opt, const char *arg)
{
	reconcile_args *a = ctx;
	char *end;
	long v;

	switch (opt) {
	case 's':
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || v < 1 || v > 1000000)
			return ps_cli_usage_error(NULL,
			                          "--sample must be a count from 1 to 1000000");
		a->sample = (int)v;
		return 0;
	case 'a': a->all = 1; return 0;
	case 'f': a->fix = 1; return 0;
	default: return PS_EXIT_USAGE;
	}
}

int
cmd_reconcile(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"sample", required_argument, NULL, 's'},
	                                     {"all", no_argument, NULL, 'a'},
	                                     {"fix", no_argument, NULL, 'f'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	reconcile_args a = {0, 0, 0};
	ps_reconcile_options ro;
	const char *name;
	int rc, first;

	first = ps_cli_parse_flags(cmd, argc, argv, opts, reconcile_flag, &a, &rc);
	if (first < 0)
		return rc;
	if ((name = ps_cli_target_name(cmd, argc, argv, first, &rc)) == NULL)
		return rc;
	if (a.all && a.sample)
		return ps_cli_usage_error(cmd, "--sample and --all exclude each other");
	memset(&ro, 0, sizeof(ro));
	ro.target = name;
	ro.sample = a.all ? 0 : a.sample ? a.sample : 100;
	ro.fix = a.fix;
	ro.out = stdout;
	ps_control_install();
	return ps_sync_reconcile(s, &ro);
}
