/*
 * log.h: pinsync's log, on stderr.
 *
 * Human-readable lines on a terminal, JSON lines otherwise (one object per
 * line: ts, level, msg, and target / run_id / batch_id where they apply).
 * Secrets registered with ps_log_secret() are replaced by "[redacted]" in
 * every line before it is written, as a last line of defence: callers still
 * never format a token into a message on purpose.
 */
#ifndef PS_SYNC_LOG_H
#define PS_SYNC_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum ps_log_level { PS_LOG_DEBUG, PS_LOG_INFO, PS_LOG_WARN, PS_LOG_ERROR } ps_log_level;

/* json: 1 JSON lines, 0 text, -1 decide from isatty(stderr). */
void ps_log_init(ps_log_level min, int json);
/* Parses debug|info|warn|error; -1 when unknown. */
int ps_log_level_parse(const char *name);

/* Context added to every following line; NULL / 0 clears it. */
void ps_log_set_target(const char *target);
void ps_log_set_run(int64_t run_id);

/* Registers a secret to redact (copied; empty strings are ignored). */
void ps_log_secret(const char *secret);
/* Forgets every registered secret (frees the copies). */
void ps_log_secrets_clear(void);

/* A value from outside (a status Pinterest sent, an attribute value) made
 * safe to print: control characters, backslash and double quote escaped,
 * cut to fit buf (with "..." when cut). Returns buf. */
const char *ps_log_quote(char *buf, size_t len, const char *s);

void ps_log(ps_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for a line about one Pinterest batch. */
void ps_log_batch(ps_log_level level, const char *batch_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ps_debug(...) ps_log(PS_LOG_DEBUG, __VA_ARGS__)
#define ps_info(...) ps_log(PS_LOG_INFO, __VA_ARGS__)
#define ps_warn(...) ps_log(PS_LOG_WARN, __VA_ARGS__)
#define ps_error(...) ps_log(PS_LOG_ERROR, __VA_ARGS__)

#endif /* PS_SYNC_LOG_H */
