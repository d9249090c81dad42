/*
 * conn.c: the connection and the small helpers every db/ file uses.
 */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "db_int.h"

int
db_fail(ps_db *db, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->error, sizeof(db->error), fmt, ap);
	va_end(ap);
	return PS_DB_ERROR;
}

int
db_fail_result(ps_db *db, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL)
		msg = PQerrorMessage(db->conn);
	snprintf(db->error, sizeof(db->error), "%s: %s%s%s%s", what, msg,
	         state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
	/* libpq messages end with a newline: drop it. */
	db->error[strcspn(db->error, "\n")] = '\0';
	if (state && strcmp(state, "23505") == 0)
		return PS_DB_EXISTS;
	return PS_DB_ERROR;
}

/* Milliseconds of the monotonic clock. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or deadline (mono_ms; 0: none) has
 * passed. Returns 1 when ready, 0 at the deadline, -1 on a poll error. */
static int
wait_socket(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {fd, events, 0};
		int ms = -1, rc;

		if (deadline) {
			int64_t left = deadline - mono_ms();

			if (left <= 0)
				return 0;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		rc = poll(&p, 1, ms);
		if (rc > 0)
			return 1;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Closes the connection after a wait ran out or the link failed: the
 * server may still be working on what was sent, and libpq's own cancel
 * (PQcancel) blocks until the server answers, so against a server that
 * does not answer at all it would hang too. A closed connection makes the
 * backend stop at its next write; the session's statement_timeout (set by
 * ps_db_connect_opts) ends a merely slow statement on the server's side.
 * Every later call fails until the caller reconnects. */
static void
db_broken(ps_db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
}

PGresult *
db_exec(ps_db *db, const char *what, const char *sql, int nparams, const char *const *params,
        int mode)
{
	PGresult *res, *last = NULL;
	int64_t deadline = 0;
	int sent;

	if (db->conn == NULL) {
		db_fail(db, "%s: the connection was closed after an earlier failure", what);
		return NULL;
	}
	if (db->timeout_ms <= 0)
		return mode == DB_EXEC_SIMPLE ? PQexec(db->conn, sql)
		                              : PQexecParams(db->conn, sql, nparams, NULL, params,
		                                             NULL, NULL, mode == DB_EXEC_BINARY);
	/* The client's bound is a little longer than the server's
	 * statement_timeout, so that a slow statement ends with the server's
	 * own error (and the connection still usable) rather than with ours. */
	deadline = mono_ms() + db->timeout_ms + DB_TIMEOUT_MARGIN_MS;
	sent = mode == DB_EXEC_SIMPLE ? PQsendQuery(db->conn, sql)
	                              : PQsendQueryParams(db->conn, sql, nparams, NULL, params,
	                                                  NULL, NULL, mode == DB_EXEC_BINARY);
	if (!sent) {
		db_fail(db, "%s: %s", what, PQerrorMessage(db->conn));
		db->error[strcspn(db->error, "\n")] = '\0';
		db_broken(db);
		return NULL;
	}
	/* As PQexec does: every result is read, the last one is returned (an
	 * error ends a multi-statement string, so it is the last), and a COPY
	 * result is handed over at once. */
	for (;;) {
		int ready = 1;

		while (PQisBusy(db->conn)) {
			ready = wait_socket(PQsocket(db->conn), POLLIN, deadline);
			if (ready <= 0 || !PQconsumeInput(db->conn))
				break;
		}
		if (ready == 0) {
			db_fail(db, "%s: the database did not answer within %.1f s", what,
			        (double)db->timeout_ms / 1000);
			break;
		}
		if (ready < 0 || PQisBusy(db->conn)) {
			db_fail(db, "%s: %s", what,
			        ready < 0 ? strerror(errno) : PQerrorMessage(db->conn));
			db->error[strcspn(db->error, "\n")] = '\0';
			break;
		}
		res = PQgetResult(db->conn);
		if (res == NULL)
			return last;
		PQclear(last);
		last = res;
		switch (PQresultStatus(res)) {
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH: return res;
		default: break;
		}
	}
	PQclear(last);
	db_broken(db);
	return NULL;
}

PGresult *
db_query(ps_db *db, const char *what, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = db_exec(db, what, sql, nparams, params, DB_EXEC_TEXT);
	ExecStatusType st;

	if (res == NULL)
		return NULL;
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	db_fail_result(db, res, what);
	PQclear(res);
	return NULL;
}

PGresult *
db_query_id(ps_db *db, const char *what, const char *sql, int64_t id)
{
	char v[32];
	const char *params[1] = {v};

	snprintf(v, sizeof(v), "%" PRId64, id);
	return db_query(db, what, sql, 1, params);
}

int
db_command(ps_db *db, const char *what, const char *sql)
{
	/* The simple protocol, so that sql may hold several statements. */
	PGresult *res = db_exec(db, what, sql, 0, NULL, DB_EXEC_SIMPLE);
	ExecStatusType st;
	int rc = PS_DB_OK;

	if (res == NULL)
		return PS_DB_ERROR;
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = db_fail_result(db, res, what);
	PQclear(res);
	return rc;
}

char *
db_strdup_value(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return strdup(PQgetvalue(res, row, col));
}

int
db_buf_append(db_buf *buf, const char *s, size_t len)
{
	if (buf->len + len + 1 > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 4096;
		char *p;

		while (cap < buf->len + len + 1)
			cap *= 2;
		p = realloc(buf->data, cap);
		if (p == NULL)
			return -1;
		buf->data = p;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, s, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

int
db_buf_append_str(db_buf *buf, const char *s)
{
	return db_buf_append(buf, s, strlen(s));
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
int
db_buf_append_copy_text(db_buf *buf, const char *s, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		const char *esc = NULL;

		switch (s[i]) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		default: continue;
		}
		if (db_buf_append(buf, s + start, i - start) < 0 || db_buf_append(buf, esc, 2) < 0)
			return -1;
		start = i + 1;
	}
	return db_buf_append(buf, s + start, len - start);
}

void
db_buf_free(db_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

int
db_copy_flush(ps_db *db, db_buf *buf)
{
	if (buf->len == 0)
		return PS_DB_OK;
	if (PQputCopyData(db->conn, buf->data, (int)buf->len) != 1)
		return db_fail(db, "COPY: %s", PQerrorMessage(db->conn));
	buf->len = 0;
	return PS_DB_OK;
}

int
db_copy_end(ps_db *db, const char *what, const char *errmsg)
{
	PGresult *res;
	int rc = PS_DB_OK;

	if (PQputCopyEnd(db->conn, errmsg) != 1)
		rc = db_fail(db, "%s: %s", what, PQerrorMessage(db->conn));
	while ((res = PQgetResult(db->conn)) != NULL) {
		if (rc == PS_DB_OK && errmsg == NULL && PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = db_fail_result(db, res, what);
		PQclear(res);
	}
	return rc;
}

/* The bound on establishing a connection when the caller gave none: the
 * conninfo's connect_timeout (or PGCONNECT_TIMEOUT) when it names one, else
 * DB_CONNECT_TIMEOUT_S. 0 (no bound) only when it says 0. */
static int64_t
connect_bound_ms(PGconn *conn)
{
	PQconninfoOption *opts = PQconninfo(conn), *o;
	int64_t ms = (int64_t)DB_CONNECT_TIMEOUT_S * 1000;

	for (o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && o->val[0]) {
			long s = strtol(o->val, NULL, 10);

			/* As libpq reads it: 0 or less waits forever, 1 means 2. */
			ms = s <= 0 ? 0 : (int64_t)(s < 2 ? 2 : s) * 1000;
		}
	PQconninfoFree(opts);
	return ms;
}

static int
db_open(ps_db **out, const char *conninfo, const ps_db_options *o)
{
	/* conninfo goes in as dbname with expand_dbname, so that a URI or a
	 * key=value string is taken whole and an empty one uses the PG*
	 * environment, as PQconnectdb() does; what it says wins over what
	 * comes before it (libpq takes the last value of a keyword). */
	const char *keywords[] = {"fallback_application_name", "dbname", NULL};
	const char *values[] = {o && o->application_name ? o->application_name : "",
	                        conninfo ? conninfo : "", NULL};
	long timeout_ms = o ? o->timeout_ms : 0;
	ps_db *db = calloc(1, sizeof(*db));
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int64_t bound, deadline;
	char setup[160];

	*out = db;
	if (db == NULL)
		return PS_DB_CONNECT;
	db->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	/* Asynchronous, so that the bound is ours, in milliseconds, over the
	 * whole of it (every host of a multi-host string, TLS, authentication):
	 * a server that accepts the TCP connection and then never answers
	 * cannot hold the caller. */
	db->conn = PQconnectStartParams(keywords, values, 1);
	if (db->conn == NULL) {
		db_fail(db, "cannot connect to PostgreSQL: out of memory");
		return PS_DB_CONNECT;
	}
	bound = db->timeout_ms ? db->timeout_ms : connect_bound_ms(db->conn);
	deadline = bound ? mono_ms() + bound : 0;
	while (PQstatus(db->conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	       st != PGRES_POLLING_FAILED) {
		int ready = wait_socket(PQsocket(db->conn),
		                        st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);

		if (ready == 0) {
			db_fail(db,
			        "cannot connect to PostgreSQL: the database did not answer within"
			        " %.1f s",
			        (double)bound / 1000);
			db_broken(db);
			return PS_DB_CONNECT;
		}
		if (ready < 0) {
			db_fail(db, "cannot connect to PostgreSQL: %s", strerror(errno));
			db_broken(db);
			return PS_DB_CONNECT;
		}
		st = PQconnectPoll(db->conn);
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		db_fail(db, "cannot connect to PostgreSQL: %s", PQerrorMessage(db->conn));
		db->error[strcspn(db->error, "\n")] = '\0';
		return PS_DB_CONNECT;
	}
	/* Quiet NOTICEs (CREATE ... IF NOT EXISTS) and fix the time zone so that
	 * timestamps print the same everywhere. With a bound, the server ends a
	 * statement that runs longer by itself (statement_timeout), and the
	 * client gives up on one that gets no answer at all (db_exec). */
	snprintf(setup, sizeof(setup), "SET client_min_messages = warning; SET TIME ZONE 'UTC'");
	if (db->timeout_ms)
		snprintf(setup + strlen(setup), sizeof(setup) - strlen(setup),
		         "; SET statement_timeout = %ld", db->timeout_ms);
	if (db_command(db, "session setup", setup) < 0)
		return PS_DB_CONNECT;
	return PS_DB_OK;
}

/*
 * pinsync needs a server session of its own on each connection: the
 * target's advisory lock, the migrations' lock and statement_timeout live
 * in it. A pooler that hands each transaction to any server connection
 * (pgbouncer's pool_mode=transaction or statement) would share them
 * between clients: two syncs of one target at once, a lock left behind on
 * a pooled server. The probe: a setting made on a second connection must
 * not show on this one. Under such a pooler the second connection's
 * server goes back to the pool after its statement and the next statement
 * of this one gets it (pgbouncer hands out the server it got back last),
 * so the setting shows; two sessions of PostgreSQL never share settings,
 * so a direct connection or a pool in session mode always passes.
 */
static int
session_check(ps_db *db, const char *conninfo, const ps_db_options *o)
{
	ps_db *other = NULL;
	char value[64];
	const char *params[1] = {value};
	int round, rc = PS_DB_OK;

	if (db_open(&other, conninfo, o) != PS_DB_OK) {
		db_fail(db, "%s", ps_db_error(other));
		ps_db_close(other);
		return PS_DB_CONNECT;
	}
	for (round = 0; round < 2 && rc == PS_DB_OK; round++) {
		PGresult *res;
		int shared;

		snprintf(value, sizeof(value), "%ld.%" PRId64 ".%d", (long)getpid(), mono_ms(),
		         round);
		res = db_query(other, "probing the session",
		               "SELECT set_config('pinsync.session_probe', $1, false)", 1, params);
		if (res == NULL) {
			rc = db_fail(db, "%s", ps_db_error(other));
			break;
		}
		PQclear(res);
		res = db_query(db, "probing the session",
		               "SELECT current_setting('pinsync.session_probe', true)", 0, NULL);
		if (res == NULL) {
			rc = PS_DB_ERROR;
			break;
		}
		shared = strcmp(PQgetvalue(res, 0, 0), value) == 0;
		PQclear(res);
		if (shared) {
			db_fail(db,
			        "the database connection does not keep a server session of its own"
			        " (a pooler in transaction or statement mode, such as pgbouncer's"
			        " pool_mode=transaction): pinsync's locks and settings live in the"
			        " session; connect to PostgreSQL directly or through a pool in"
			        " pool_mode=session");
			rc = PS_DB_SESSION;
		}
	}
	ps_db_close(other);
	if (rc == PS_DB_OK)
		return PS_DB_OK;
	return rc == PS_DB_SESSION ? PS_DB_SESSION : PS_DB_CONNECT;
}

int
ps_db_connect_opts(ps_db **out, const char *conninfo, const ps_db_options *o)
{
	int rc = db_open(out, conninfo, o);

	if (rc != PS_DB_OK)
		return rc;
	return session_check(*out, conninfo, o);
}

int
ps_db_connect(ps_db **out, const char *conninfo)
{
	return ps_db_connect_opts(out, conninfo, NULL);
}

void
ps_db_close(ps_db *db)
{
	if (db == NULL)
		return;
	if (db->conn)
		PQfinish(db->conn);
	db_buf_free(&db->problems);
	free(db);
}

void
ps_db_set_hook(ps_db *db, ps_db_hook_fn fn)
{
	db->hook = fn;
}

int
ps_db_set_timeout(ps_db *db, long timeout_ms)
{
	char sql[64];

	db->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	snprintf(sql, sizeof(sql), "SET statement_timeout = %ld", db->timeout_ms);
	return db_command(db, "setting the statement timeout", sql);
}

void
ps_db_interrupt(ps_db *db)
{
	int fd = db && db->conn ? PQsocket(db->conn) : -1;

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

int
ps_db_usable(const ps_db *db)
{
	return db && db->conn && PQstatus(db->conn) == CONNECTION_OK;
}

const char *
ps_db_error(const ps_db *db)
{
	return db ? db->error : "out of memory";
}

int
ps_db_exec(ps_db *db, const char *sql)
{
	return db_command(db, "query", sql);
}
