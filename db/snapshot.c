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
ps_db_snapshot_size_hint(ps_db *db, int64_t target_id, int64_t *hint)
{
	PGresult *res;

	/* The last finished run's item count, by runs_target_idx: a few rows
	 * read, where count(*) on snapshot_items reads the whole snapshot
	 * (as long as loading it; issue 15). */
	res = db_query_id(db, "sizing the snapshot",
	                  "SELECT parsed FROM runs WHERE target_id = $1 AND finished_at IS NOT NULL"
	                  " ORDER BY id DESC LIMIT 1",
	                  target_id);
	if (res == NULL)
		return PS_DB_ERROR;
	*hint = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return PS_DB_OK;
}

/* The ids as one text[] literal: {"a","b"} with \ and " escaped. */
static int
ids_literal(db_buf *arr, const char *const *ids, size_t count)
{
	size_t i;

	if (db_buf_append(arr, "{", 1) < 0)
		return -1;
	for (i = 0; i < count; i++) {
		const char *p;

		if ((i && db_buf_append(arr, ",", 1) < 0) || db_buf_append(arr, "\"", 1) < 0)
			return -1;
		for (p = ids[i]; *p; p++)
			if (((*p == '"' || *p == '\\') && db_buf_append(arr, "\\", 1) < 0) ||
			    db_buf_append(arr, p, 1) < 0)
				return -1;
		if (db_buf_append(arr, "\"", 1) < 0)
			return -1;
	}
	return db_buf_append(arr, "}", 1);
}

/* Runs sql with binary results (item_id, hash as a big-endian int8, fp's
 * bytes); NULL with the error recorded. */
static PGresult *
fp_query(ps_db *db, const char *what, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 1);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_fail_result(db, res, what);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Calls cb for each row of an fp_query() result, and clears it. */
static int
fp_each(PGresult *res, ps_db_fp_cb cb, void *ctx)
{
	int rc = PS_DB_OK, n = PQntuples(res), row;

	for (row = 0; row < n && rc == PS_DB_OK; row++)
		rc = cb(ctx, PQgetvalue(res, row, 0),
		        db_be64((const unsigned char *)PQgetvalue(res, row, 1)),
		        PQgetisnull(res, row, 2) ? NULL
		                                 : (const unsigned char *)PQgetvalue(res, row, 2),
		        (size_t)PQgetlength(res, row, 2));
	PQclear(res);
	return rc;
}

static int
fp_rows(ps_db *db, const char *what, const char *sql, int nparams, const char *const *params,
        ps_db_fp_cb cb, void *ctx)
{
	PGresult *res = fp_query(db, what, sql, nparams, params);

	return res ? fp_each(res, cb, ctx) : PS_DB_ERROR;
}

int
ps_db_snapshot_get(ps_db *db, int64_t target_id, const char *const *ids, size_t count,
                   ps_db_fp_cb cb, void *ctx)
{
	db_buf arr = {0};
	char id[32];
	const char *params[2] = {id, NULL};
	int rc;

	if (ids_literal(&arr, ids, count) < 0) {
		db_buf_free(&arr);
		return db_fail(db, "out of memory");
	}
	snprintf(id, sizeof(id), "%" PRId64, target_id);
	params[1] = arr.data;
	rc = fp_rows(db, "reading snapshot fingerprints",
	             "SELECT item_id, hash, fp FROM snapshot_items"
	             " WHERE target_id = $1 AND item_id = ANY ($2::text[])",
	             2, params, cb, ctx);
	db_buf_free(&arr);
	return rc;
}

int
ps_db_snapshot_page(ps_db *db, int64_t target_id, const char *after, int limit, ps_db_fp_cb cb,
                    void *ctx)
{
	char id[32], lim[16];
	const char *params[3] = {id, lim, after};

	snprintf(id, sizeof(id), "%" PRId64, target_id);
	snprintf(lim, sizeof(lim), "%d", limit);
	if (after == NULL) {
		/* A random sample without reading the whole table (0.7 s per
		 * million rows): the rows of about twenty times limit rows' worth
		 * of random pages, then limit of those at random. When the target
		 * has too few rows there (a small target in a large table), its
		 * own rows, through the primary key. */
		PGresult *res = fp_query(
		    db, "sampling the snapshot",
		    "SELECT item_id, hash, fp FROM snapshot_items TABLESAMPLE SYSTEM ("
		    "  (SELECT least(100, 2000.0 * $2 / greatest(reltuples, 1)) FROM pg_class"
		    "   WHERE oid = 'snapshot_items'::regclass))"
		    " WHERE target_id = $1 ORDER BY random() LIMIT $2",
		    2, params);

		if (res == NULL)
			return PS_DB_ERROR;
		if (PQntuples(res) >= limit)
			return fp_each(res, cb, ctx);
		PQclear(res);
		return fp_rows(db, "sampling the snapshot",
		               "SELECT item_id, hash, fp FROM snapshot_items WHERE target_id = $1"
		               " ORDER BY random() LIMIT $2",
		               2, params, cb, ctx);
	}
	return fp_rows(db, "reading the snapshot",
	               "SELECT item_id, hash, fp FROM snapshot_items WHERE target_id = $1"
	               " AND item_id > $3 ORDER BY item_id LIMIT $2",
	               3, params, cb, ctx);
}

int
ps_db_snapshot_forget(ps_db *db, int64_t target_id, const char *const *ids, size_t count)
{
	db_buf arr = {0};
	char id[32];
	const char *params[2] = {id, NULL};
	PGresult *res;

	if (ids_literal(&arr, ids, count) < 0) {
		db_buf_free(&arr);
		return db_fail(db, "out of memory");
	}
	snprintf(id, sizeof(id), "%" PRId64, target_id);
	params[1] = arr.data;
	res = db_query(db, "forgetting snapshot items",
	               "DELETE FROM snapshot_items WHERE target_id = $1"
	               " AND item_id = ANY ($2::text[])",
	               2, params);
	db_buf_free(&arr);
	if (res == NULL)
		return PS_DB_ERROR;
	PQclear(res);
	return PS_DB_OK;
}

int
ps_db_snapshot_mark(ps_db *db, int64_t target_id, const char *item_id, uint64_t hash,
                    const unsigned char *fp, size_t fp_len)
{
	char id[32], h[32];
	const char *params[4] = {id, item_id, h, (const char *)fp};
	int lengths[4] = {0, 0, 0, (int)fp_len}, formats[4] = {0, 0, 0, 1};
	PGresult *res;

	snprintf(id, sizeof(id), "%" PRId64, target_id);
	snprintf(h, sizeof(h), "%" PRId64, (int64_t)hash);
	res = PQexecParams(db->conn,
	                   "UPDATE snapshot_items SET hash = $3, fp = $4::bytea, updated_at = now()"
	                   " WHERE target_id = $1 AND item_id = $2",
	                   4, NULL, params, lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		int rc = db_fail_result(db, res, "marking drift in the snapshot");

		PQclear(res);
		return rc;
	}
	PQclear(res);
	return PS_DB_OK;
}
