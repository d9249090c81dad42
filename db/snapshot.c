/*
 * snapshot.c: reading the target's snapshot (item id -> content hash).
 *
 * The snapshot is streamed with COPY ... TO STDOUT (text format) rather
 * than a SELECT, so a million rows arrive as one stream without libpq
 * materialising a result set: the memory is the caller's map, not ours.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

/* An int8 of a binary result: 8 bytes, big-endian. */
static uint64_t
db_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* An int8 as COPY text writes it (an optional '-', then digits), read up to
 * the first other byte. The same bits as strtoll() for every int8, in a
 * fraction of its time: a million rows per run. */
static uint64_t
copy_int8(const char *p)
{
	int neg = *p == '-';
	uint64_t v = 0;

	for (p += neg; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	return neg ? (uint64_t)0 - v : v;
}

/* Undoes COPY text escaping of s[0..len) in place; returns the new length.
 * Ids seldom hold a backslash: one memchr() settles most of them. */
static size_t
unescape_copy_text(char *s, size_t len)
{
	size_t i, o = 0;

	if (memchr(s, '\\', len) == NULL)
		return len;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < len) {
			c = s[++i];
			switch (c) {
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'v': c = '\v'; break;
			default: break; /* \\ and others: the character itself */
			}
		}
		s[o++] = c;
	}
	return o;
}

int
ps_db_snapshot_load(ps_db *db, int64_t target_id, ps_db_snapshot_cb cb, void *ctx)
{
	char sql[200];
	PGresult *res;
	char *line = NULL;
	int n, rc = PS_DB_OK;

	snprintf(sql, sizeof(sql),
	         "COPY (SELECT item_id, hash FROM snapshot_items WHERE target_id = %" PRId64
	         ") TO STDOUT",
	         target_id);
	res = PQexec(db->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		rc = db_fail_result(db, res, "loading snapshot");
		PQclear(res);
		return rc;
	}
	PQclear(res);

	while ((n = PQgetCopyData(db->conn, &line, 0)) > 0) {
		char *tab = memchr(line, '\t', (size_t)n);
		size_t idlen;
		uint64_t hash;

		if (rc == PS_DB_OK) {
			if (tab == NULL) {
				rc = db_fail(db, "loading snapshot: malformed COPY row");
			} else {
				idlen = unescape_copy_text(line, (size_t)(tab - line));
				line[idlen] = '\0';
				hash = copy_int8(tab + 1);
				rc = cb(ctx, line, idlen, hash);
			}
		}
		/* After an error keep draining, so the connection stays usable. */
		PQfreemem(line);
		line = NULL;
	}
	if (n == -2 && rc == PS_DB_OK)
		rc = db_fail(db, "loading snapshot: %s", PQerrorMessage(db->conn));
	while ((res = PQgetResult(db->conn)) != NULL) {
		if (rc == PS_DB_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = db_fail_result(db, res, "loading snapshot");
		PQclear(res);
	}
	return rc;
}

int
ps_db_snapshot_count(ps_db *db, int64_t target_id, int64_t *count)
{
	PGresult *res;

	res = db_query_id(db, "counting snapshot",
	                  "SELECT count(*) FROM snapshot_items WHERE target_id = $1", target_id);
	if (res == NULL)
		return PS_DB_ERROR;
	*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_snapshot_get(ps_db *db, int64_t target_id, const char *const *ids, size_t count,
                   ps_db_fp_cb cb, void *ctx)
{
	db_buf arr = {0};
	char id[32];
	const char *params[2] = {id, NULL};
	PGresult *res;
	size_t i;
	int rc = PS_DB_OK, n, row;

	/* The ids travel as one text[] literal: {"a","b"} with \ and " escaped. */
	if (db_buf_append(&arr, "{", 1) < 0)
		goto oom;
	for (i = 0; i < count; i++) {
		const char *p;

		if ((i && db_buf_append(&arr, ",", 1) < 0) || db_buf_append(&arr, "\"", 1) < 0)
			goto oom;
		for (p = ids[i]; *p; p++)
			if (((*p == '"' || *p == '\\') && db_buf_append(&arr, "\\", 1) < 0) ||
			    db_buf_append(&arr, p, 1) < 0)
				goto oom;
		if (db_buf_append(&arr, "\"", 1) < 0)
			goto oom;
	}
	if (db_buf_append(&arr, "}", 1) < 0)
		goto oom;
	snprintf(id, sizeof(id), "%" PRId64, target_id);
	params[1] = arr.data;
	/* Binary results: item_id's bytes (NUL-terminated by libpq), hash as a
	 * big-endian int8, and fp's bytes. */
	res = PQexecParams(db->conn,
	                   "SELECT item_id, hash, fp FROM snapshot_items"
	                   " WHERE target_id = $1 AND item_id = ANY ($2::text[])",
	                   2, NULL, params, NULL, NULL, 1);
	db_buf_free(&arr);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = db_fail_result(db, res, "reading snapshot fingerprints");
		PQclear(res);
		return rc;
	}
	n = PQntuples(res);
	for (row = 0; row < n && rc == PS_DB_OK; row++)
		rc = cb(ctx, PQgetvalue(res, row, 0),
		        db_be64((const unsigned char *)PQgetvalue(res, row, 1)),
		        PQgetisnull(res, row, 2) ? NULL
		                                 : (const unsigned char *)PQgetvalue(res, row, 2),
		        (size_t)PQgetlength(res, row, 2));
	PQclear(res);
	return rc;
oom:
	db_buf_free(&arr);
	return db_fail(db, "out of memory");
}
