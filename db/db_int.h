/*
 * db_int.h: internals shared by the files of db/ (not for other modules).
 */
#ifndef PS_DB_INT_H
#define PS_DB_INT_H

#include <libpq-fe.h>

#include "db.h"

typedef struct db_buf {
	char *data;
	size_t len;
	size_t cap;
} db_buf;

struct ps_db {
	PGconn *conn;
	char error[1024];
	/* Item problems waiting to be written (ps_db_problems_*). */
	int64_t problems_run_id;
	db_buf problems;
	ps_db_hook_fn hook;
	long timeout_ms; /* bound on each statement's answer; 0: none */
	/* The migration list ps_db_migrated() found applied on this
	 * connection (it asks the server once). */
	const struct ps_migration *migrated;
};

/* How long a connection may take to open when neither the caller nor the
 * conninfo (connect_timeout) says: a server that never answers fails the
 * connection instead of hanging it. */
#define DB_CONNECT_TIMEOUT_S 10
/* The client waits this much longer than the server's statement_timeout. */
#define DB_TIMEOUT_MARGIN_MS 500

/* Records a formatted error message in db->error; returns PS_DB_ERROR. */
int db_fail(ps_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the error of res (message and SQLSTATE) prefixed by what;
 * returns PS_DB_EXISTS for unique violations, PS_DB_ERROR otherwise. */
int db_fail_result(ps_db *db, const PGresult *res, const char *what);

/* How db_exec sends: parameters with text or binary results, or the
 * simple protocol (no parameters; sql may hold several statements). */
#define DB_EXEC_TEXT 0
#define DB_EXEC_BINARY 1
#define DB_EXEC_SIMPLE 2

/* Sends sql and returns its (last) result whatever its status, as
 * PQexecParams/PQexec do, but waits at most db->timeout_ms (when set) for
 * the answer: then, or when the connection fails, it records "WHAT: the
 * database did not answer within N s" (or why), closes the connection
 * (every later call fails until the caller reconnects) and returns NULL.
 * A COPY result is returned at once, the COPY itself is not bounded. */
PGresult *db_exec(ps_db *db, const char *what, const char *sql, int nparams,
                  const char *const *params, int mode);

/* PQexecParams in text mode, bounded as db_exec. Returns the result when its status is ok
 * (COMMAND_OK or TUPLES_OK), else records the error, clears the result and
 * returns NULL. */
PGresult *db_query(ps_db *db, const char *what, const char *sql, int nparams,
                   const char *const *params);

/* db_query() with one bigint parameter $1 (an id), the most common case. */
PGresult *db_query_id(ps_db *db, const char *what, const char *sql, int64_t id);

/* Runs a command without parameters; 0 or PS_DB_ERROR. */
int db_command(ps_db *db, const char *what, const char *sql);

/* malloc'ed copy of a result value, NULL for SQL NULL. */
char *db_strdup_value(const PGresult *res, int row, int col);

/* Growable buffer: append raw, or escaped for COPY text format.
 * Return 0, or -1 when out of memory. */
int db_buf_append(db_buf *buf, const char *s, size_t len);
int db_buf_append_copy_text(db_buf *buf, const char *s, size_t len);
int db_buf_append_str(db_buf *buf, const char *s);
void db_buf_free(db_buf *buf);

/* Sends buf to an open COPY FROM STDIN and empties it. */
int db_copy_flush(ps_db *db, db_buf *buf);
/* Ends a COPY FROM STDIN (errmsg NULL: success) and checks its result. */
int db_copy_end(ps_db *db, const char *what, const char *errmsg);

#endif /* PS_DB_INT_H */
