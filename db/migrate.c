/*
 * migrate.c: applies migrations/NNNN_name.sql in order, each once, each in
 * its own transaction, recorded in schema_migrations.
 *
 * Migrators are serialised by an advisory lock, so two containers starting
 * at once never apply a file twice. A migration must not contain its own
 * BEGIN/COMMIT: the runner wraps it.
 */
#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

/* Advisory lock key (classid, objid) held while migrating. */
#define MIGRATE_LOCK "7405000, 0"

static int
valid_name(const char *name)
{
	size_t len = strlen(name), i;

	if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '_')
		return 0;
	for (i = 0; i < 4; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return 1;
}

static int
cmp_migration(const void *a, const void *b)
{
	return strcmp(((const ps_migration *)a)->name, ((const ps_migration *)b)->name);
}

static char *
read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long size;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		snprintf(err, errlen, "%s: cannot read", path);
		goto done;
	}
	data = malloc((size_t)size + 1);
	if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
		snprintf(err, errlen, "%s: cannot read", path);
		free(data);
		data = NULL;
		goto done;
	}
	data[size] = '\0';
done:
	fclose(f);
	return data;
}

int
ps_db_migrations_load(ps_migration **out, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	ps_migration *list = NULL;
	size_t count = 0, cap = 0, i;
	int rc = PS_DB_ERROR;

	*out = NULL;
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return PS_DB_ERROR;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];

		if (!valid_name(de->d_name))
			continue;
		if (count + 2 > cap) {
			ps_migration *p;

			cap = cap ? cap * 2 : 16;
			p = realloc(list, cap * sizeof(*list));
			if (p == NULL) {
				snprintf(err, errlen, "out of memory");
				goto done;
			}
			list = p;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		list[count].name = strdup(de->d_name);
		list[count].sql = read_file(path, err, errlen);
		list[count + 1].name = NULL;
		list[count + 1].sql = NULL;
		count++;
		if (list[count - 1].name == NULL || list[count - 1].sql == NULL)
			goto done;
	}
	if (count == 0) {
		snprintf(err, errlen, "%s: no migrations (NNNN_name.sql) found", dir);
		goto done;
	}
	qsort(list, count, sizeof(*list), cmp_migration);
	for (i = 1; i < count; i++)
		if (strncmp(list[i - 1].name, list[i].name, 4) == 0) {
			snprintf(err, errlen, "%s: migrations %s and %s share a number", dir,
			         list[i - 1].name, list[i].name);
			goto done;
		}
	rc = PS_DB_OK;
done:
	closedir(d);
	if (rc == PS_DB_OK)
		*out = list;
	else
		ps_db_migrations_free(list);
	return rc;
}

void
ps_db_migrations_free(ps_migration *list)
{
	ps_migration *m;

	if (list == NULL)
		return;
	for (m = list; m->name || m->sql; m++) {
		free((char *)m->name);
		free((char *)m->sql);
	}
	free(list);
}

static int
is_applied(ps_db *db, const char *name, int *applied)
{
	char version[5];
	const char *params[1] = {version};
	PGresult *res;

	memcpy(version, name, 4);
	version[4] = '\0';
	res = db_query(db, "reading schema_migrations",
	               "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params);
	if (res == NULL)
		return PS_DB_ERROR;
	*applied = PQntuples(res) > 0;
	PQclear(res);
	return PS_DB_OK;
}

static int
apply_one(ps_db *db, const ps_migration *m)
{
	char version[5];
	const char *params[2] = {version, m->name};
	PGresult *res;
	char what[300];

	memcpy(version, m->name, 4);
	version[4] = '\0';
	snprintf(what, sizeof(what), "migration %s failed", m->name);

	if (db_command(db, what, "BEGIN") < 0)
		return PS_DB_ERROR;
	res = PQexec(db->conn, m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_fail_result(db, res, what);
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	res = db_query(db, what, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
	               params);
	if (res == NULL)
		goto rollback;
	PQclear(res);
	if (db_command(db, what, "COMMIT") < 0)
		goto rollback;
	return PS_DB_OK;

rollback:
	/* Keep the migration's error, not ROLLBACK's. */
	PQclear(PQexec(db->conn, "ROLLBACK"));
	return PS_DB_ERROR;
}

int
ps_db_migrate(ps_db *db, const ps_migration *list, int *applied)
{
	const ps_migration *m;
	int rc = PS_DB_ERROR;

	*applied = 0;
	if (db_command(db, "taking the migration lock",
	               "SELECT pg_advisory_lock(" MIGRATE_LOCK ")") < 0)
		return PS_DB_ERROR;
	if (db_command(db, "creating schema_migrations",
	               "CREATE TABLE IF NOT EXISTS schema_migrations ("
	               " version text PRIMARY KEY,"
	               " name text NOT NULL,"
	               " applied_at timestamptz NOT NULL DEFAULT now())") < 0)
		goto done;
	for (m = list; m->name; m++) {
		int done_already;

		if (is_applied(db, m->name, &done_already) < 0)
			goto done;
		if (done_already)
			continue;
		if (apply_one(db, m) < 0)
			goto done;
		(*applied)++;
	}
	rc = PS_DB_OK;
done:
	PQclear(PQexec(db->conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")"));
	return rc;
}

/* The versions of list as a text[] literal, {0001,0002,...}; *count: how
 * many. -1 when out of memory. */
static int
versions_literal(db_buf *out, const ps_migration *list, long *count)
{
	const ps_migration *m;

	*count = 0;
	if (db_buf_append(out, "{", 1) < 0)
		return -1;
	for (m = list; m->name; m++, (*count)++)
		if ((*count && db_buf_append(out, ",", 1) < 0) ||
		    db_buf_append(out, m->name, 4) < 0)
			return -1;
	return db_buf_append(out, "}", 1);
}

int
ps_db_migrated(ps_db *db, const ps_migration *list)
{
	const char *params[1];
	db_buf versions = {0};
	PGresult *res;
	long wanted = 0;
	int rc = PS_DB_ERROR;

	/* Once per connection and list: a run asks on every command path
	 * (issue 15), and a schema is not unmigrated under a live process. */
	if (db->migrated == list)
		return PS_DB_OK;
	res = db_query(db, "checking migrations",
	               "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
	if (res == NULL)
		return PS_DB_ERROR;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		return PS_DB_NOTFOUND;
	}
	PQclear(res);
	/* Every version in one query: one round trip instead of one per
	 * migration. */
	if (versions_literal(&versions, list, &wanted) < 0) {
		db_fail(db, "checking migrations: out of memory");
		goto done;
	}
	params[0] = versions.data;
	res = db_query(db, "reading schema_migrations",
	               "SELECT count(*) FROM schema_migrations WHERE version = ANY ($1::text[])", 1,
	               params);
	if (res == NULL)
		goto done;
	rc = strtol(PQgetvalue(res, 0, 0), NULL, 10) == wanted ? PS_DB_OK : PS_DB_NOTFOUND;
	PQclear(res);
	if (rc == PS_DB_OK)
		db->migrated = list;
done:
	db_buf_free(&versions);
	return rc;
}
