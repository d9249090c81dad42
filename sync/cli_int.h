/*
 * cli_int.h: what the files of the command line share (not a public API).
 *
 * cli.c dispatches; each cmd_*.c implements a group of commands. A command
 * parses its flags with ps_cli_parse_flags(), reports a usage error with
 * ps_cli_usage_error() (one line, exit status 2), and returns a PS_EXIT_*
 * code (run.h).
 */
#ifndef PS_SYNC_CLI_INT_H
#define PS_SYNC_CLI_INT_H

#include <getopt.h>

#include "db.h"
#include "run.h"
#include "settings.h"

typedef struct command {
	const char *name;
	const char *summary;
	const char *usage;
	int (*fn)(const struct command *cmd, ps_settings *s, int argc, char **argv);
} command;

#define EXIT_CODES_HELP                                                                    \
	"Exit status:\n"                                                                   \
	"  0 ok: every item in sync      1 internal error      2 usage or configuration\n" \
	"  3 feed unusable (nothing deleted)   4 database error   5 Pinterest API error\n" \
	"  6 partial: some items rejected or pending (pinsync errors NAME)\n"              \
	"  7 held: deletes held back by the delete guard\n"                                \
	"  8 interrupted: a signal, or the run's deadline (PINSYNC_RUN_DEADLINE_S)\n"      \
	"  9 busy: another pinsync is syncing this target\n"                               \
	"  10 drift (reconcile): items on Pinterest differ from what pinsync sent\n"

extern const char *ps_cli_progname;

/* Prints "pinsync CMD: <message> (see: pinsync CMD --help)" on stderr and
 * returns PS_EXIT_USAGE. cmd may be NULL. */
int ps_cli_usage_error(const command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints the command's usage and summary; returns PS_EXIT_OK. */
int ps_cli_help(const command *cmd);

/*
 * Parses flags with getopt_long. Returns -1 when parsing must stop with
 * *rc set (help printed or usage error), else the index of the first
 * operand. handle() is called per flag and returns 0 or an exit code.
 */
typedef int (*flag_fn)(void *ctx, int opt, const char *arg);

int ps_cli_parse_flags(const command *cmd, int argc, char **argv, const struct option *longopts,
                       flag_fn handle, void *ctx, int *rc);
/* After ps_cli_parse_flags(): the one operand, a target's NAME, of a
 * command that takes exactly one. Returns it, or NULL with *rc set to the
 * usage error already printed. */
const char *ps_cli_target_name(const command *cmd, int argc, char **argv, int first, int *rc);

/* Whether url (http://, https://) holds a password (https://USER:PASSWORD@
 * host/...): a secret visible in ps while the command runs. */
int ps_cli_url_has_password(const char *url);

/* A flag_fn for commands that take only --help. */
int ps_cli_no_flags(void *ctx, int opt, const char *arg);

/* Connects (and checks that the database is migrated); PS_EXIT_OK or the
 * exit code, with the error logged. */
int ps_cli_open_db(ps_settings *s, ps_db **db);
int ps_cli_open_migrated_db(ps_settings *s, ps_db **db);

/* The commands (cmd_*.c). */
int cmd_migrate(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_target(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_auth(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_run(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_status(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_poll(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_reconcile(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_errors(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_config(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_metrics(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_prune(const command *cmd, ps_settings *s, int argc, char **argv);
/* serve.c; SERVE_HELP is its summary. */
#define SERVE_HELP                                                                            \
	"Runs until SIGTERM: an HTTP listener (POST /hooks/NAME queues a sync of NAME when\n" \
	"signed; GET /healthz, /readyz, /metrics), the scheduler (targets with --schedule)\n" \
	"and a worker running queued syncs. Several serve processes share one database.\n"    \
	"--listen overrides PINSYNC_LISTEN (default 127.0.0.1:8080); --config reads a file\n" \
	"of name = value settings below the environment (see: pinsync config)."
int cmd_serve(const command *cmd, ps_settings *s, int argc, char **argv);
int cmd_check(const command *cmd, ps_settings *s, int argc, char **argv);

#endif /* PS_SYNC_CLI_INT_H */
