/*
 * cmd_metrics.c: pinsync metrics: the database's figures in Prometheus's
 * text format, for a host that runs pinsync from cron (no serve process to
 * scrape): node_exporter's textfile collector reads the --output file,
 * which is replaced whole (written aside, then renamed), never half
 * written. The figures are those of serve's /metrics that come from the
 * database (sync/metrics.c), at the same constant cost.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"
#include "db.h"
#include "log.h"
#include "metrics.h"

/* Writes len bytes of text to path through path.tmp and a rename. */
static int
write_whole(const char *path, const char *text, size_t len)
{
	char tmp[4096];
	FILE *f;
	int ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		ps_error("metrics: output path too long");
		return -1;
	}
	f = fopen(tmp, "w");
	if (f == NULL) {
		ps_error("metrics: %s: %s", tmp, strerror(errno));
		return -1;
	}
	ok = fwrite(text, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		ps_error("metrics: %s: %s", ok ? path : tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
metrics_flag(void *ctx, int opt, const char *arg)
{
	const char **output = ctx;

	if (opt != 'o')
		return -1;
	*output = arg;
	return 0;
}

int
cmd_metrics(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0}};
	const char *output = NULL;
	char *text = NULL;
	size_t len = 0;
	ps_db *db = NULL;
	int rc, first = ps_cli_parse_flags(cmd, argc, argv, opts, metrics_flag, &output, &rc);

	if (first < 0)
		return rc;
	if (first < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	if ((rc = ps_cli_open_migrated_db(s, &db)) != PS_EXIT_OK)
		return rc;
	if (ps_metrics_render_db(db, &text, &len) < 0) {
		ps_error("metrics: %s", ps_db_error(db));
		ps_db_close(db);
		return PS_EXIT_DB;
	}
	ps_db_close(db);
	if (output == NULL) {
		rc = fwrite(text, 1, len, stdout) == len ? PS_EXIT_OK : PS_EXIT_INTERNAL;
	} else {
		rc = write_whole(output, text, len) == 0 ? PS_EXIT_OK : PS_EXIT_USAGE;
	}
	free(text);
	return rc;
}
