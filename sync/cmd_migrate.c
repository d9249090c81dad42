/*
 * cmd_migrate.c: pinsync migrate.
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

int
cmd_migrate(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
	migrate_args a = {NULL};
	ps_migration *loaded = NULL;
	ps_db *db = NULL;
	int rc, applied = 0,
	        first = ps_cli_parse_flags(cmd, argc, argv, opts, migrate_flag, &a, &rc);
	char err[512];

	if (first < 0)
		return rc;
	if (first < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
	if (a.dir && ps_db_migrations_load(&loaded, a.dir, err, sizeof(err)) < 0) {
		ps_error("%s", err);
		return PS_EXIT_USAGE;
	}
	if ((rc = ps_cli_open_db(s, &db)) != PS_EXIT_OK)
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
