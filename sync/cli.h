/*
 * cli.h: the pinsync command line.
 *
 * Each command has a name, a one-line summary, a usage text and a function;
 * `pinsync --help` and `pinsync CMD --help` print them. Unknown flags and
 * missing arguments give a one-line error and exit status 2.
 */
#ifndef PS_SYNC_CLI_H
#define PS_SYNC_CLI_H

/* Runs the command line; returns the process exit status (PS_EXIT_*). */
int ps_cli_main(int argc, char **argv);

#endif /* PS_SYNC_CLI_H */
