/*
 * conn.c: the connection and the small helpers every db/ file uses.
 */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

PGresult *
db_query(ps_db *db, const char *what, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

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
	PGresult *res = PQexec(db->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = PS_DB_OK;

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

int
ps_db_connect(ps_db **out, const char *conninfo)
{
	ps_db *db = calloc(1, sizeof(*db));

	*out = db;
	if (db == NULL)
		return PS_DB_CONNECT;
	db->conn = PQconnectdb(conninfo ? conninfo : "");
	if (PQstatus(db->conn) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		db_fail(db, "cannot connect to PostgreSQL: %s", PQerrorMessage(db->conn));
		db->error[strcspn(db->error, "\n")] = '\0';
		return PS_DB_CONNECT;
	}
	/* Quiet NOTICEs (CREATE ... IF NOT EXISTS) and fix the time zone so that
	 * timestamps print the same everywhere. */
	if (db_command(db, "session setup",
	               "SET client_min_messages = warning; SET TIME ZONE 'UTC'") < 0)
		return PS_DB_CONNECT;
	return PS_DB_OK;
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
