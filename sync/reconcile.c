/*
 * reconcile.c: reading the snapshot back from Pinterest and marking drift.
 */
#include "reconcile.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "changes.h"
#include "log.h"

/* Snapshot rows read per page when checking the whole snapshot. */
#define PAGE_ROWS 1000

typedef struct snap_row {
	char *id;
	uint64_t hash;
	int has_fp;
	size_t fp_len;
	unsigned char fp[PS_FP_MAX];
} snap_row;

typedef struct check {
	ps_db *db;
	const ps_target *target;
	const ps_drift_options *opts;
	ps_drift_counts *counts;
	snap_row *rows;
	size_t count, cap;
	ps_buf arena;
	int db_failed;
} check;

/* A ps_db_fp_cb: one snapshot row to check. */
static int
on_row(void *ctx, const char *item_id, uint64_t hash, const unsigned char *fp, size_t fp_len)
{
	check *c = ctx;
	snap_row *r;

	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 128;
		snap_row *n = realloc(c->rows, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		c->rows = n;
		c->cap = cap;
	}
	r = &c->rows[c->count];
	if ((r->id = strdup(item_id)) == NULL)
		return -1;
	r->hash = hash;
	r->has_fp = fp != NULL && fp_len <= PS_FP_MAX;
	r->fp_len = r->has_fp ? fp_len : 0;
	if (r->has_fp)
		memcpy(r->fp, fp, fp_len);
	c->count++;
	return 0;
}

static void
rows_clear(check *c)
{
	size_t i;

	for (i = 0; i < c->count; i++)
		free(c->rows[i].id);
	c->count = 0;
}

static snap_row *
row_of(check *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->count; i++)
		if (strcmp(c->rows[i].id, id) == 0)
			return &c->rows[i];
	return NULL;
}

static int
mark(check *c, const char *id, const unsigned char *fp, size_t fp_len)
{
	if (!c->opts->mark)
		return 0;
	if (ps_db_snapshot_mark(c->db, c->target->id, id, PS_HASH_DRIFT, fp, fp_len) < 0) {
		c->db_failed = 1;
		return -1;
	}
	return 0;
}

/* Reports each attribute of held (what Pinterest holds) that differs from
 * the snapshot row's fingerprint. */
static void
report_changes(check *c, const snap_row *r, const ps_item *held, const unsigned char *changed,
               const unsigned char *had)
{
	char id[160], val[200];
	int a;

	if (c->opts->report == NULL)
		return;
	ps_log_quote(id, sizeof(id), r->id);
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice *v = &held->values[a];

		if (!changed[a])
			continue;
		if (v->ptr)
			ps_log_quote(val + 1, sizeof(val) - 2, v->ptr);
		fprintf(c->opts->report, "drift %s %s: Pinterest has %s%s%s, the snapshot has %s\n",
		        id, ps_attr_defs[a].name, v->ptr ? "\"" : "", v->ptr ? val + 1 : "none",
		        v->ptr ? "\"" : "", had[a] ? "another value" : "none");
	}
}

/* A ps_readback_cb: compares one item with its snapshot row. */
static int
on_item(void *ctx, const char *item_id, ps_rb_state state, yajl_val value)
{
	check *c = ctx;
	snap_row *r = row_of(c, item_id);
	unsigned char held_buf[PS_FP_MAX], fp[PS_FP_MAX], changed[PS_ATTR__COUNT],
	    had[PS_ATTR__COUNT];
	const unsigned char *snap;
	size_t snap_len, fp_len;
	char id[160];
	ps_item held;
	int n, upsert;

	if (r == NULL)
		return 0;
	if (state == PS_RB_UNKNOWN) {
		c->counts->unknown++;
		return 0;
	}
	c->counts->checked++;
	if (state == PS_RB_ERROR) {
		c->counts->missing++;
		if (c->opts->report)
			fprintf(c->opts->report,
			        "drift %s: not on Pinterest (it answers the id with an error), the "
			        "snapshot says it was accepted\n",
			        ps_log_quote(id, sizeof(id), r->id));
		return mark(c, r->id, NULL, 0);
	}
	snap =
	    ps_fingerprint_held(r->hash, r->has_fp ? r->fp : NULL, r->fp_len, held_buf, &snap_len);
	if (ps_fingerprint_names(snap, snap_len, had) < 0)
		return 0; /* no fingerprint to compare with: sent whole on its next change */
	if (ps_item_from_json(&held, &c->arena, item_id, value) < 0)
		return -1;
	n = ps_changes_compute(&held, snap, snap_len, changed, &upsert);
	if (n == 0)
		return 0;
	c->counts->changed++;
	report_changes(c, r, &held, changed, had);
	fp_len = ps_fingerprint(&held, fp);
	return mark(c, r->id, fp, fp_len);
}

/* Reads back the rows gathered in c. */
static int
check_rows(ps_pin *pin, check *c)
{
	const char **ids = calloc(c->count + 1, sizeof(*ids));
	size_t i;
	int rc;

	if (ids == NULL)
		return PS_DB_ERROR;
	for (i = 0; i < c->count; i++)
		ids[i] = c->rows[i].id;
	rc = ps_catalog_read(pin, c->target, ids, c->count, on_item, c);
	free(ids);
	if (rc > 0 || c->db_failed)
		return PS_DB_ERROR;
	return rc;
}

int
ps_drift_check(ps_db *db, ps_pin *pin, const ps_target *target, const ps_drift_options *opts,
               ps_drift_counts *counts)
{
	check c;
	char *after = NULL;
	int rc = 0;

	memset(counts, 0, sizeof(*counts));
	memset(&c, 0, sizeof(c));
	c.db = db;
	c.target = target;
	c.opts = opts;
	c.counts = counts;
	ps_buf_init(&c.arena, 64 * 1024 * 1024);
	if (opts->sample > 0) {
		rc = ps_db_snapshot_page(db, target->id, NULL, opts->sample, on_row, &c);
		if (rc == 0)
			rc = check_rows(pin, &c);
	} else {
		for (;;) {
			rows_clear(&c);
			rc = ps_db_snapshot_page(db, target->id, after ? after : "", PAGE_ROWS,
			                         on_row, &c);
			if (rc != 0 || c.count == 0)
				break;
			free(after);
			if ((after = strdup(c.rows[c.count - 1].id)) == NULL) {
				rc = PS_DB_ERROR;
				break;
			}
			if ((rc = check_rows(pin, &c)) != 0)
				break;
		}
	}
	rows_clear(&c);
	free(c.rows);
	free(after);
	ps_buf_free(&c.arena);
	return rc;
}
