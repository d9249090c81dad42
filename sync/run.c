/*
 * run.c: one sync of one target (see run.h for the path of a run).
 *
 * The planner reads the feed item by item: invalid items are recorded and
 * skipped, new items become CREATE (UPSERT for an API-owned catalog),
 * changed items wait in a set of up to a batch's worth until their
 * accepted attributes are fetched in one query, then become UPDATE with an
 * update_mask (or UPSERT when an image changed), and after a feed read to
 * its end the items it lacked follow the target's on-missing policy.
 * Batches go to the poller (poller.c) as they fill.
 */
#include "run.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "catalog.h"
#include "changes.h"
#include "db.h"
#include "diffmap.h"
#include "feeds.h"
#include "control.h"
#include "log.h"
#include "pinterest.h"
#include "plan.h"
#include "poller.h"
#include "reconcile.h"

/* A changed item's id and index in the set, to find it by id. */
struct by_id {
	const char *id;
	size_t index;
};

/* One changed item's fate, decided against its snapshot attributes. */
typedef struct change {
	int found;
	int unknown; /* the row has no fingerprint this version can read */
	int drift;   /* the row holds what Pinterest holds (PS_HASH_DRIFT) */
	int upsert;  /* an attribute UPDATE cannot carry changed */
	int nchanged;
	unsigned char changed[PS_ATTR__COUNT];
	int held; /* a ps_rb_state once read back, -1 before */
	size_t held_len;
	unsigned char held_fp[PS_FP_MAX];
} change;

typedef struct run_state {
	const ps_settings *settings;
	const ps_run_options *opts;
	ps_db *db;
	ps_target target;
	const char *client_key;
	int64_t run_id;
	ps_diffmap *map;
	ps_plan *plan; /* a dry run's */
	ps_feed *feed;
	ps_pin *pin;
	ps_pin_db_store tokstore; /* the client refreshes tokens through it */
	ps_poller *poller;
	ps_batch batch;
	int batch_ready;
	ps_itemset *changed; /* changed items waiting for their old attributes */
	change *changes;     /* decisions for them, by index */
	struct by_id *order; /* their ids sorted, with their indices */
	ps_run_counts counts;
	int64_t pending_local; /* items left for the next run while planning */
	ps_buf arena;          /* an item rebuilt from a read-back */
	int64_t planned_create, planned_update, planned_delete, planned_oos;
	size_t held;             /* deletes held back by the delete guard */
	int unchanged_at_source; /* the feed's server answered 304 */
	char error[1024];
	int exit_code; /* first fatal outcome, PS_EXIT_OK until then */
	struct timespec phase_wall, phase_cpu; /* when the current phase began */
	char plan_hint[256]; /* where the summary says the full plan is */
} run_state;

/* Logs (at debug level) how long the phase that ends now took, in wall
 * time and in CPU time of this thread (the parser thread's is not in it),
 * and starts the next: where a run's time goes (issue 15). */
static void
phase_end(run_state *rs, const char *name)
{
	struct timespec w, c;

	clock_gettime(CLOCK_MONOTONIC, &w);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
	if (name)
		ps_debug("phase %s: %.1f ms, %.1f ms CPU", name,
		         (double)(w.tv_sec - rs->phase_wall.tv_sec) * 1e3 +
		             (double)(w.tv_nsec - rs->phase_wall.tv_nsec) / 1e6,
		         (double)(c.tv_sec - rs->phase_cpu.tv_sec) * 1e3 +
		             (double)(c.tv_nsec - rs->phase_cpu.tv_nsec) / 1e6);
	rs->phase_wall = w;
	rs->phase_cpu = c;
}

static void run_fail(run_state *rs, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
run_fail(run_state *rs, int exit_code, const char *fmt, ...)
{
	va_list ap;

	if (rs->exit_code != PS_EXIT_OK)
		return; /* keep the first cause */
	va_start(ap, fmt);
	vsnprintf(rs->error, sizeof(rs->error), fmt, ap);
	va_end(ap);
	rs->exit_code = exit_code;
	ps_error("%s", rs->error);
}

/* Takes the poller's error as the run's (already logged there). */
static int
poller_failed(run_state *rs)
{
	if (rs->exit_code == PS_EXIT_OK) {
		rs->exit_code = ps_poller_exit_code(rs->poller);
		snprintf(rs->error, sizeof(rs->error), "%s", ps_poller_error(rs->poller));
	}
	return -1;
}

/* ---- planning ---- */

static void
place_of(run_state *rs, const ps_item *item, char *buf, size_t len)
{
	if (ps_feed_detected_format(rs->feed) == PS_FORMAT_XML)
		snprintf(buf, len, "item %" PRIu64 " (line %" PRIu64 ")", item->index, item->line);
	else
		snprintf(buf, len, "line %" PRIu64, item->line);
}

static int
record_problem(run_state *rs, const ps_item *item, const char *attr, const char *code,
               const char *message)
{
	char place[96];

	place_of(rs, item, place, sizeof(place));
	if (ps_db_problems_add(rs->db, item->values[PS_ATTR_ID].ptr, place, attr, code, message) <
	    0) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	return 0;
}

/* Tells the caller's progress callback where the run is. */
static void
report_progress(run_state *rs)
{
	ps_progress_counts c;
	const ps_poller_stats *st;
	struct stat sb;

	if (rs->opts->on_progress == NULL)
		return;
	memset(&c, 0, sizeof(c));
	if (rs->feed)
		c.feed_bytes = ps_feed_bytes_read(rs->feed);
	if (rs->target.feed && strcmp(rs->target.feed, "-") != 0 &&
	    !strstr(rs->target.feed, "://") && stat(rs->target.feed, &sb) == 0)
		c.feed_size = (uint64_t)sb.st_size;
	c.items = rs->counts.parsed;
	c.changes = rs->planned_create + rs->planned_update + rs->planned_oos + rs->planned_delete;
	if (rs->poller) {
		st = ps_poller_stats_get(rs->poller);
		c.batches_sent = st->batches;
		c.batches_done = st->batches - (int)ps_poller_unfinished(rs->poller);
	}
	rs->opts->on_progress(rs->opts->progress_ctx, &c);
}

static int
send_if_full(run_state *rs)
{
	if (!ps_batch_full(&rs->batch))
		return 0;
	if (ps_poller_send(rs->poller, &rs->batch) < 0)
		return poller_failed(rs);
	report_progress(rs);
	return 0;
}

static int
batch_oom(run_state *rs, const char *id, size_t len)
{
	run_fail(rs, PS_EXIT_INTERNAL, "item %.*s: cannot add it to a batch (out of memory)",
	         (int)len, id);
	return -1;
}

/* A dry run's operation, to its plan (plan.h). */
static int
plan_write(run_state *rs, const char *op, const char *id, size_t len, const char *detail)
{
	if (ps_plan_add(rs->plan, op, id, len, detail) < 0) {
		run_fail(rs, PS_EXIT_INTERNAL, "%s", ps_plan_error(rs->plan));
		return -1;
	}
	return 0;
}

/* A dry run's plan: the full plan where it was asked for, and a summary
 * on a terminal (plan.h). */
static int
open_plan(run_state *rs)
{
	ps_plan_options po = PS_PLAN_OPTIONS_INIT;
	FILE *out = rs->opts->out;

	po.full = rs->opts->plan_full ? rs->opts->plan_full
	          : out && !isatty(fileno(out)) ? out
	                                        : NULL;
	po.summary = po.full == out ? NULL : out;
	po.show = rs->opts->plan_show;
	snprintf(rs->plan_hint, sizeof(rs->plan_hint),
	         "the full plan: pinsync run --dry-run %s --plan FILE", rs->target.name);
	if ((rs->plan = ps_plan_new(&po)) == NULL) {
		run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
		return -1;
	}
	return 0;
}

/* Plans an operation on one item: printed in a dry run, batched else.
 * changed: the attributes of an UPDATE (NULL: the whole item under op);
 * is_new: the item is new to the snapshot (counted as created). */
static int
plan_op(run_state *rs, const char *op, const ps_item *item, const unsigned char *changed,
        int is_new)
{
	const ps_slice *id = &item->values[PS_ATTR_ID];
	int a;

	if (rs->opts->dry_run) {
		char detail[PS_ATTR__COUNT * 40];
		size_t n = 0;

		if (changed) {
			const char *sep = " [";

			for (a = 0; a < PS_ATTR__COUNT; a++)
				if (changed[a]) {
					n += (size_t)snprintf(detail + n, sizeof(detail) - n,
					                      "%s%s", sep, ps_attr_defs[a].name);
					sep = ", ";
				}
			snprintf(detail + n, sizeof(detail) - n, "]");
		}
		return plan_write(rs, op, id->ptr, id->len, changed ? detail : NULL);
	}
	if (send_if_full(rs) < 0)
		return -1;
	if ((changed  ? ps_batch_add_update(&rs->batch, item, changed)
	     : is_new ? ps_batch_add_new(&rs->batch, op, item)
	              : ps_batch_add_item(&rs->batch, op, item)) < 0)
		return batch_oom(rs, id->ptr, id->len);
	return 0;
}

static int
plan_item(run_state *rs, const char *op, const ps_item *item, const unsigned char *changed)
{
	return plan_op(rs, op, item, changed, 0);
}

static int
cmp_by_id(const void *a, const void *b)
{
	return strcmp(((const struct by_id *)a)->id, ((const struct by_id *)b)->id);
}

static void
sort_order(run_state *rs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		rs->order[i].id = ps_itemset_id(rs->changed, i);
		rs->order[i].index = i;
	}
	qsort(rs->order, n, sizeof(*rs->order), cmp_by_id);
}

/* A ps_db_fp_cb: decides the operation of the changed item item_id. */
static int
on_old_fingerprint(void *ctx, const char *item_id, uint64_t hash, const unsigned char *fp,
                   size_t fp_len)
{
	run_state *rs = ctx;
	size_t lo = 0, hi = ps_itemset_count(rs->changed);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2, i = rs->order[mid].index;
		int c = strcmp(item_id, rs->order[mid].id);

		if (c > 0) {
			lo = mid + 1;
		} else if (c < 0) {
			hi = mid;
		} else {
			change *ch = &rs->changes[i];
			unsigned char buf[PS_FP_MAX], names[PS_ATTR__COUNT];
			ps_item item;

			/* Marked out of stock by an earlier run: the row kept the
			 * item's fingerprint, and Pinterest's availability is now
			 * "out of stock". */
			fp = ps_fingerprint_held(hash, fp, fp_len, buf, &fp_len);
			ps_itemset_get(rs->changed, i, &item);
			ch->found = 1;
			ch->drift = hash == PS_HASH_DRIFT;
			ch->unknown = ps_fingerprint_names(fp, fp_len, names) < 0;
			ch->nchanged =
			    ps_changes_compute(&item, fp, fp_len, ch->changed, &ch->upsert);
			return 0;
		}
	}
	return 0;
}

/* The item holds what Pinterest holds already (seen by a read-back):
 * nothing to send, the snapshot takes the item as it is. */
static int
confirm_item(run_state *rs, const ps_item *item)
{
	unsigned char fp[PS_FP_MAX];
	size_t len;
	const ps_slice *id = &item->values[PS_ATTR_ID];

	rs->planned_update--;
	rs->counts.unchanged++;
	if (rs->opts->dry_run)
		return plan_write(rs, "CONFIRM", id->ptr, id->len,
		                  " (Pinterest holds it as the feed says)");
	len = ps_fingerprint(item, fp);
	if (ps_db_snapshot_mark(rs->db, rs->target.id, id->ptr, item->hash, fp, len) < 0) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	return 0;
}

/* An image changed on a catalog with a feed data source: UPDATE cannot
 * carry it and UPSERT is refused, so DELETE then CREATE (the poller sends
 * the CREATE once Pinterest confirmed the DELETE). */
static int
recreate_item(run_state *rs, const ps_item *item, const unsigned char *changed)
{
	const ps_slice *id = &item->values[PS_ATTR_ID];
	int rc;

	if (rs->opts->dry_run) {
		plan_item(rs, "DELETE+CREATE", item, changed);
		return 0;
	}
	rc = ps_poller_recreate(rs->poller, item);
	if (rc < 0)
		return poller_failed(rs);
	if (rc == 1) {
		if (rs->pending_local++ == 0)
			ps_warn("more than %d items need DELETE then CREATE (an image changed on a "
			        "catalog with a feed data source): the others, from %.*s on, wait "
			        "for the next run",
			        PS_RECREATE_MAX, (int)id->len, id->ptr);
	}
	return 0;
}

/* Plans one changed item of a catalog with a feed data source (CREATE and
 * UPDATE only), from what Pinterest holds: the snapshot's fingerprint, or
 * a read-back when the snapshot cannot tell. Returns 1 when the item must
 * be read back first. */
static int
plan_owned(run_state *rs, const ps_item *item, change *ch)
{
	if (ch->held == PS_RB_ERROR)
		return plan_item(rs, "CREATE", item, NULL);
	if (ch->held == PS_RB_UNKNOWN) {
		if (rs->pending_local++ == 0)
			ps_warn(
			    "item %.*s: its state on Pinterest is unknown and could not be read "
			    "back: pending until the next run",
			    (int)item->values[PS_ATTR_ID].len, item->values[PS_ATTR_ID].ptr);
		return 0;
	}
	if (!ch->found)
		return plan_item(rs, "CREATE", item, NULL);
	/* No fingerprint to compare with, or one that sees no difference
	 * although the item's hash differs (a 32-bit collision): ask. */
	if (ch->held != PS_RB_PRESENT && (ch->unknown || (ch->nchanged == 0 && !ch->drift))) {
		if (rs->opts->dry_run)
			return plan_write(rs, "READBACK", item->values[PS_ATTR_ID].ptr,
			                  item->values[PS_ATTR_ID].len,
			                  " (state unknown: read back, then sent)");
		return 1;
	}
	if (ch->nchanged == 0)
		return confirm_item(rs, item);
	if (ch->upsert)
		return recreate_item(rs, item, ch->changed);
	return plan_item(rs, "UPDATE", item, ch->changed);
}

/* A ps_readback_cb: what Pinterest holds for a changed item of unknown
 * state. */
static int
on_changed_readback(void *ctx, const char *item_id, ps_rb_state state, yajl_val value)
{
	run_state *rs = ctx;
	size_t n = ps_itemset_count(rs->changed), i;

	for (i = 0; i < n; i++) {
		change *ch = &rs->changes[i];
		ps_item held, item;

		if (strcmp(ps_itemset_id(rs->changed, i), item_id) != 0)
			continue;
		ch->held = state;
		if (state == PS_RB_PRESENT) {
			if (ps_item_from_json(&held, &rs->arena, item_id, value) < 0)
				return 1;
			ch->held_len = ps_fingerprint(&held, ch->held_fp);
			ps_itemset_get(rs->changed, i, &item);
			ch->unknown = 0;
			ch->drift = 1; /* compared with what Pinterest holds */
			ch->nchanged = ps_changes_compute(&item, ch->held_fp, ch->held_len,
			                                  ch->changed, &ch->upsert);
		}
		return 0;
	}
	return 0;
}

/* Plans the changed items waiting in rs->changed. */
static int
flush_changed(run_state *rs)
{
	size_t n = ps_itemset_count(rs->changed), i, nread = 0;
	const char **ids;
	int rc = 0;

	if (n == 0)
		return 0;
	ids = malloc(n * sizeof(*ids));
	if (ids == NULL) {
		run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		ids[i] = ps_itemset_id(rs->changed, i);
		memset(&rs->changes[i], 0, sizeof(rs->changes[i]));
		rs->changes[i].held = -1; /* not read back */
	}
	sort_order(rs, n);
	if (ps_db_snapshot_get(rs->db, rs->target.id, ids, n, on_old_fingerprint, rs) < 0) {
		free(ids);
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		change *ch = &rs->changes[i];
		ps_item item;

		ps_itemset_get(rs->changed, i, &item);
		if (!ps_catalog_api_owned(&rs->target)) {
			rc = plan_owned(rs, &item, ch);
			if (rc == 1) {
				ids[nread++] = ps_itemset_id(rs->changed, i);
				rc = 0;
			}
		} else if (ch->found && ch->drift && ch->nchanged == 0 && !ch->upsert) {
			rc = confirm_item(rs, &item);
		} else if (!ch->found || ch->upsert || ch->nchanged == 0) {
			/* New to the snapshot, an image changed, or no attribute
			 * differs although the hash does: a full UPSERT converges. */
			rc = plan_op(rs, "UPSERT", &item, NULL, !ch->found);
		} else {
			rc = plan_item(rs, "UPDATE", &item, ch->changed);
		}
	}
	/* The items whose state only Pinterest can tell (catalogs with a feed
	 * data source): read back, then planned from what it holds. */
	if (rc == 0 && nread > 0) {
		int rb = ps_catalog_read(rs->pin, &rs->target, ids, nread, on_changed_readback, rs);

		if (rb > 0) {
			run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
			rc = -1;
		} else if (rb < 0) {
			ps_warn("reading back %zu items of unknown state: %s (x-pinterest-rid %s)",
			        nread, ps_pin_last(rs->pin)->message,
			        ps_pin_last(rs->pin)->request_id[0]
			            ? ps_pin_last(rs->pin)->request_id
			            : "none");
		}
		for (i = 0; i < n && rc == 0; i++) {
			change *ch = &rs->changes[i];
			ps_item item;

			if ((int)ch->held < 0)
				continue;
			ps_itemset_get(rs->changed, i, &item);
			rc = plan_owned(rs, &item, ch);
		}
	}
	free(ids);
	if (rc != 0)
		return -1;
	ps_itemset_reset(rs->changed);
	return 0;
}

/* A stop (SIGTERM, or the run's deadline: control.h) came: the run fails
 * as interrupted, saying why and where, and returns 1; else 0. Nothing
 * more is planned or sent: the batches in flight stay in the journal for
 * the next run (or pinsync poll), the items not yet sent go out with the
 * next run. */
static int
stopped(run_state *rs, const char *where)
{
	if (!ps_control_stopping())
		return 0;
	run_fail(rs, PS_EXIT_INTERRUPTED,
	         "interrupted %s: %s; nothing more was sent%s, the items not yet sent go out "
	         "with the next run",
	         where, ps_control_stop_reason(),
	         rs->planned_delete + rs->planned_oos ? "" : " and nothing was deleted");
	return 1;
}

/* Reads the whole feed; returns 0 when it was read to its end. */
static int
plan_feed(run_state *rs)
{
	ps_item *item;
	int rc;

	while ((rc = ps_feed_next(&item, rs->feed)) == 0) {
		const ps_slice *id = &item->values[PS_ATTR_ID];
		int d, i;

		rs->counts.parsed++;
		if ((rs->counts.parsed & 255) == 0)
			report_progress(rs);
		ps_crashpoint("parse");
		if (stopped(rs, "while reading the feed"))
			return -1;
		if (item->nproblems > 0) {
			rs->counts.invalid++;
			/* An invalid item is not sent, and not deleted either: what
			 * Pinterest has stays until the feed is fixed. It does not
			 * take its id either: a valid item with the same id, before
			 * or after it, is the one that counts (the first VALID
			 * occurrence wins; issue "Hardening"). */
			if (id->ptr && id->len)
				ps_diffmap_keep(rs->map, id->ptr, id->len);
			for (i = 0; i < item->nproblems; i++) {
				const ps_problem *p = &item->problems[i];

				if (record_problem(rs, item,
				                   p->attr >= 0 ? ps_attr_defs[p->attr].name : NULL,
				                   p->code, p->message) < 0)
					return -1;
			}
			if (id->ptr && id->len && ps_diffmap_seen(rs->map, id->ptr, id->len) &&
			    record_problem(rs, item, "id", "duplicate",
			                   "duplicate id: the earlier valid item is sent") < 0)
				return -1;
			continue;
		}
		d = ps_diffmap_see(rs->map, id->ptr, id->len, item->hash);
		switch (d) {
		case PS_DIFF_SAME: rs->counts.unchanged++; break;
		case PS_DIFF_DUPLICATE:
			rs->counts.invalid++;
			if (record_problem(rs, item, "id", "duplicate",
			                   "duplicate id: the first valid item wins") < 0)
				return -1;
			break;
		case PS_DIFF_NEW:
			rs->planned_create++;
			/* On a catalog fed by the API alone, UPSERT: idempotent, so
			 * an item Pinterest has already (a lost answer, a new
			 * database) converges. Elsewhere UPSERT is refused: CREATE,
			 * and a failure is read back and followed up (poller.h). */
			if (plan_op(rs, ps_catalog_api_owned(&rs->target) ? "UPSERT" : "CREATE",
			            item, NULL, 1) < 0)
				return -1;
			break;
		case PS_DIFF_CHANGED:
			rs->planned_update++;
			if (ps_itemset_add(rs->changed, item) < 0) {
				run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
				return -1;
			}
			if (ps_itemset_count(rs->changed) == PS_BATCH_MAX_ITEMS &&
			    flush_changed(rs) < 0)
				return -1;
			break;
		default: run_fail(rs, PS_EXIT_INTERNAL, "out of memory in the diff map"); return -1;
		}
	}
	if (rc != PS_ITEROVER) {
		/* Invariant 3: a feed not read to its end deletes nothing. The
		 * changes read so far still go out: they are what the feed says. */
		run_fail(rs, PS_EXIT_FEED, "feed %s: %s; no item was deleted",
		         ps_feed_name(rs->feed), ps_feed_error(rs->feed));
		flush_changed(rs);
		return -1;
	}
	if (ps_feed_warnings(rs->feed)[0])
		ps_warn("feed %s: %s", ps_feed_name(rs->feed), ps_feed_warnings(rs->feed));
	if (ps_feed_skipped(rs->feed))
		ps_info("feed %s: %" PRIu64 " rows make no item by design (continuation or parent "
		        "rows of the preset)",
		        ps_feed_name(rs->feed), ps_feed_skipped(rs->feed));
	if (stopped(rs, "after reading the feed"))
		return -1;
	return flush_changed(rs);
}

/* The items the feed lacked, by the target's on-missing policy.
 *
 * Delete guard (DESIGN invariant 3): when the items to delete (or to mark
 * out of stock) are more than the target's max_delete_ratio of the
 * snapshot, none of them goes out, the run is "held" and exits with
 * PS_EXIT_HELD, unless the run was started with --allow-mass-delete. A feed
 * that suddenly lost most of its items, or an empty one, wipes nothing. */
static int
plan_missing(run_state *rs)
{
	int oos = strcmp(rs->target.on_missing, "out-of-stock") == 0;
	size_t cursor = 0, len, snapshot = ps_diffmap_snapshot_count(rs->map), missing = 0;
	uint64_t hash;
	const char *id;

	if (strcmp(rs->target.on_missing, "keep") == 0)
		return 0;
	while (ps_diffmap_next_unseen(rs->map, &cursor, &id, &len, &hash))
		missing += !(oos && hash == PS_HASH_GONE);
	if (missing > 0 && !rs->opts->allow_mass_delete &&
	    (double)missing > rs->target.max_delete_ratio * (double)snapshot) {
		rs->held = missing;
		run_fail(rs, PS_EXIT_HELD,
		         "held: the feed lacks %zu of the %zu items in the catalog (%.0f%%, above "
		         "the target's limit of %.0f%%); nothing was %s. If the feed is right, run "
		         "pinsync run %s --allow-mass-delete",
		         missing, snapshot, 100.0 * (double)missing / (double)snapshot,
		         100.0 * rs->target.max_delete_ratio,
		         oos ? "marked out of stock" : "deleted", rs->target.name);
		return -1;
	}
	cursor = 0;
	while (ps_diffmap_next_unseen(rs->map, &cursor, &id, &len, &hash)) {
		if (oos && hash == PS_HASH_GONE)
			continue; /* marked out of stock by an earlier run */
		if (stopped(rs, "while planning the deletes"))
			return -1;
		if (rs->opts->dry_run) {
			if (plan_write(rs, oos ? "UPDATE" : "DELETE", id, len,
			               oos ? " [availability: out of stock]" : NULL) < 0)
				return -1;
		} else {
			if (send_if_full(rs) < 0)
				return -1;
			if ((oos ? ps_batch_add_out_of_stock(&rs->batch, id, len, PS_HASH_GONE)
			         : ps_batch_add_delete(&rs->batch, id, len)) < 0)
				return batch_oom(rs, id, len);
		}
		if (oos)
			rs->planned_oos++;
		else
			rs->planned_delete++;
	}
	return 0;
}

/* ---- the run ---- */

/* Asks Pinterest whether the target's catalog has a feed data source,
 * unless a check fresher than ownership_check_s says so already, and
 * decides the operations (DESIGN section 5: UPSERT is refused on such a
 * catalog). A failed check keeps what the last one found. */
static int
check_ownership(run_state *rs)
{
	ps_target *t = &rs->target;
	time_t now = time(NULL);
	int has = -1;

	if (t->feed_source < 0 ||
	    now - t->feed_source_checked_at >= rs->settings->ownership_check_s) {
		if (ps_catalog_feed_source(rs->pin, t, &has) == 0) {
			if (ps_db_target_ownership_set(rs->db, t->id, has) < 0) {
				run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
				return -1;
			}
			t->feed_source = has;
			t->feed_source_checked_at = now;
		} else {
			ps_warn("could not check whether catalog %s has a feed data source (GET "
			        "/catalogs/feeds: %s, x-pinterest-rid %s)%s",
			        t->catalog_id, ps_pin_last(rs->pin)->message,
			        ps_pin_last(rs->pin)->request_id[0]
			            ? ps_pin_last(rs->pin)->request_id
			            : "none",
			        t->feed_source < 0
			            ? "; CREATE and UPDATE are used, which work either way"
			            : "; using what the last check found");
		}
	}
	if (t->feed_source == 1 && t->api_owned == 1)
		ps_warn("catalog %s has a feed data source, but the target says --api-owned yes: "
		        "Pinterest refuses UPSERT there; pinsync reads each refused item back and "
		        "sends CREATE or UPDATE. Set --api-owned auto to follow the check",
		        t->catalog_id);
	else if (t->feed_source == 1)
		ps_warn(
		    "catalog %s has a feed data source in Pinterest: its feed and pinsync both "
		    "write the items and will overwrite each other's changes. pinsync sends "
		    "CREATE and UPDATE (Pinterest refuses UPSERT there), and an image change as "
		    "DELETE then CREATE. Feed the catalog from one writer only",
		    t->catalog_id);
	return 0;
}

/* The Pinterest client, with the stored tokens and the token store. */
static int
open_pin(run_state *rs)
{
	const ps_settings *s = rs->settings;
	ps_pin_options po = PS_PIN_OPTIONS_INIT;
	ps_pin_tokens pt;
	ps_tokens tok;
	int rc;

	rc = ps_db_tokens_get(rs->db, rs->client_key, &tok);
	if (rc == PS_DB_NOTFOUND) {
		char hint[600];

		ps_settings_client_hint(s, hint, sizeof(hint));
		run_fail(rs, PS_EXIT_USAGE, "%s: %s", ps_db_error(rs->db), hint);
		return -1;
	}
	if (rc != PS_DB_OK) {
		/* Issue "Hardening": a database failure is exit 4, never 2. */
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	po.api_base = s->api_base;
	po.client_id = s->client_id[0] ? s->client_id : NULL;
	po.client_secret = s->client_secret[0] ? s->client_secret : NULL;
	po.connect_timeout_ms = s->http_connect_timeout_ms;
	po.timeout_ms = s->http_timeout_ms;
	po.max_retry_s = s->max_retry_s;
	/* Invariant 5: one refresher at a time across processes, the rotated
	 * refresh token committed before the new access token is used. */
	ps_pin_db_store_init(&rs->tokstore, rs->db, rs->client_key);
	po.token_store = &rs->tokstore.store;
	memset(&pt, 0, sizeof(pt));
	pt.access_token = tok.access_token;
	pt.refresh_token = tok.refresh_token;
	pt.access_expires_at = tok.access_expires_at;
	pt.refresh_expires_at = tok.refresh_expires_at;
	rc = ps_pin_new(&rs->pin, &po, &pt);
	ps_tokens_clear(&tok);
	if (rc < 0) {
		run_fail(rs, PS_EXIT_INTERNAL, "cannot start the HTTP client");
		return -1;
	}
	return 0;
}

static int
open_client(run_state *rs)
{
	if (open_pin(rs) < 0 || check_ownership(rs) < 0)
		return -1;
	if (ps_poller_new(&rs->poller, rs->db, rs->pin, &rs->target, rs->run_id, rs->settings) <
	    0) {
		run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
		return -1;
	}
	if (ps_batch_init(&rs->batch, rs->target.catalog_id, rs->target.country,
	                  rs->target.language) < 0) {
		run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
		return -1;
	}
	rs->batch_ready = 1;
	return 0;
}

/* Finishes the batches earlier runs left in flight, so that the snapshot
 * the diff starts from holds their results. */
static int
finish_earlier_batches(run_state *rs)
{
	ps_open_batch *open = NULL;
	size_t n = 0, i, adopted = 0;
	int rc = 0;

	if (ps_db_open_batches(rs->db, rs->target.id, &open, &n) < 0) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (open[i].batch_id == NULL)
			rc = ps_poller_recover(rs->poller, open[i].batch_pk);
		else
			rc = ps_poller_adopt(rs->poller, open[i].batch_pk, open[i].batch_id);
		adopted++;
	}
	ps_db_open_batches_free(open, n);
	if (rc == 0 && adopted > 0) {
		ps_info("finishing %zu batches left in flight by earlier runs", adopted);
		rc = ps_poller_wait(rs->poller, 0);
	}
	if (rc < 0)
		return poller_failed(rs);
	/* Their items are planned again by this run from the snapshot they
	 * left: what they did is not this run's count. */
	ps_poller_stats_reset(rs->poller);
	return 0;
}

/* Reads a random sample of the snapshot back from Pinterest (setting
 * drift_sample) before the diff: items that differ there are marked, so
 * this run's diff repairs them (reconcile.h). A failed read-back is
 * logged, not fatal: the sample only looks for trouble. */
static int
sample_drift(run_state *rs)
{
	ps_drift_options o = {(int)rs->settings->drift_sample, 1, NULL};
	ps_drift_counts c;
	int rc;

	if (o.sample <= 0)
		return 0;
	rc = ps_drift_check(rs->db, rs->pin, &rs->target, &o, &c);
	if (rc == PS_DB_ERROR) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	if (rc != 0)
		ps_warn("drift sample: reading items back failed: %s",
		        ps_pin_last(rs->pin)->message);
	rs->counts.drift_checked = (int)c.checked;
	rs->counts.drift = (int)(c.missing + c.changed);
	if (rs->counts.drift)
		ps_warn("drift: %d of %" PRId64 " items read back differ on Pinterest from what "
		        "pinsync sent (%" PRId64 " not there, %" PRId64
		        " changed): this run repairs "
		        "them; pinsync reconcile %s --all checks every item",
		        rs->counts.drift, c.checked, c.missing, c.changed, rs->target.name);
	return 0;
}

static int
open_everything(run_state *rs)
{
	ps_feed_options fo = PS_FEED_OPTIONS_INIT;
	char *etag = NULL, *last_modified = NULL;
	int64_t hint = 0;
	int rc;

	if (ps_itemset_new(&rs->changed) < 0 ||
	    (rs->changes = calloc(PS_BATCH_MAX_ITEMS, sizeof(*rs->changes))) == NULL ||
	    (rs->order = calloc(PS_BATCH_MAX_ITEMS, sizeof(*rs->order))) == NULL) {
		run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
		return -1;
	}
	if (!rs->opts->dry_run &&
	    (open_client(rs) < 0 || finish_earlier_batches(rs) < 0 || sample_drift(rs) < 0))
		return -1;
	if (!rs->opts->dry_run)
		phase_end(rs, "client, earlier batches, drift sample");
	/* Sized from a hint, not from count(*), which read the whole snapshot
	 * once more on the server (issue 15); the map grows past it if need
	 * be, and a map sized right spares the growing's rehashes. */
	if (ps_db_snapshot_size_hint(rs->db, rs->target.id, &hint) < 0 ||
	    ps_diffmap_new(&rs->map, hint > 0 ? (size_t)hint : 0) < 0 ||
	    ps_db_snapshot_load(rs->db, rs->target.id, ps_diffmap_add_snapshot, rs->map) < 0) {
		run_fail(rs, PS_EXIT_DB, "loading the snapshot: %s", ps_db_error(rs->db));
		return -1;
	}
	ps_debug("snapshot: %zu items, %zu bytes in memory", ps_diffmap_snapshot_count(rs->map),
	         ps_diffmap_memory(rs->map));
	phase_end(rs, "snapshot load");

	if (ps_feed_format_parse(&fo.format, rs->target.format) < 0)
		fo.format = PS_FORMAT_AUTO;
	fo.default_currency = rs->target.currency;
	fo.map_file = rs->target.map_file;
	fo.preset = rs->target.preset;
	fo.base_url = rs->target.base_url;
	/* The target's own password file beats the setting's. */
	fo.password_file = rs->target.feed_password_file         ? rs->target.feed_password_file
	                   : rs->settings->feed_password_file[0] ? rs->settings->feed_password_file
	                                                         : NULL;
	fo.connect_timeout_ms = rs->settings->http_connect_timeout_ms;
	/* Conditional GET: a URL feed unchanged since the last run that
	 * succeeded is neither downloaded nor parsed again. */
	if (ps_db_target_source_get(rs->db, rs->target.id, &etag, &last_modified) < 0) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	/* Drift found: the feed is read whatever its validators say, so that
	 * the diff repairs it. */
	fo.etag = rs->counts.drift ? NULL : etag;
	fo.last_modified = rs->counts.drift ? NULL : last_modified;
	rc = ps_feed_open(&rs->feed, rs->target.feed, &fo);
	free(etag);
	free(last_modified);
	if (rc == PS_FEED_UNCHANGED) {
		rs->unchanged_at_source = 1;
		ps_info("feed %s: unchanged at source (HTTP 304): nothing to parse or send",
		        ps_feed_name(rs->feed));
		return 1;
	}
	if (rc != 0) {
		run_fail(rs,
		         rc == PS_EFEED   ? PS_EXIT_FEED
		         : rc == PS_ERROR ? PS_EXIT_USAGE
		                          : PS_EXIT_INTERNAL,
		         "feed %s: %s; no item was deleted", rs->feed ? ps_feed_name(rs->feed) : "",
		         rs->feed ? ps_feed_error(rs->feed) : "out of memory");
		return -1;
	}
	return 0;
}

static const char *
outcome_of(const run_state *rs)
{
	switch (rs->exit_code) {
	case PS_EXIT_OK:
		if (rs->counts.failed || rs->counts.invalid || rs->counts.pending || rs->error[0])
			return "partial";
		return rs->unchanged_at_source ? "unchanged" : "ok";
	case PS_EXIT_HELD: return "held";
	case PS_EXIT_INTERRUPTED: return "interrupted";
	default: return "failed";
	}
}

static void
print_summary(const run_state *rs, const char *outcome)
{
	FILE *out = rs->opts->out;
	const ps_run_counts *c = &rs->counts;

	if (rs->opts->dry_run) {
		fprintf(out,
		        "plan for %s (dry run): %" PRId64 " to create, %" PRId64
		        " to update, %" PRId64 " to delete, %" PRId64
		        " to mark out of stock, %" PRId64 " unchanged, %" PRId64
		        " invalid, of %" PRId64 " items parsed\n",
		        rs->target.name, rs->planned_create, rs->planned_update, rs->planned_delete,
		        rs->planned_oos, c->unchanged, c->invalid, c->parsed);
		return;
	}
	fprintf(out,
	        "run %" PRId64 " of %s: %s\n  parsed %" PRId64 ", invalid %" PRId64
	        ", created %" PRId64 ", updated %" PRId64 ", deleted %" PRId64
	        ", unchanged %" PRId64 ", failed %" PRId64 ", pending %" PRId64
	        ", batches %d, retries %d\n",
	        rs->run_id, rs->target.name, outcome, c->parsed, c->invalid, c->created, c->updated,
	        c->deleted, c->unchanged, c->failed, c->pending, c->batches, c->retries);
	if (c->drift)
		fprintf(
		    out,
		    "  drift: %d of %d items read back differed on Pinterest: this run repaired "
		    "them\n",
		    c->drift, c->drift_checked);
	else if (c->drift_checked)
		fprintf(out, "  drift: none in %d items read back\n", c->drift_checked);
	if (rs->error[0])
		fprintf(out, "  error: %s\n", rs->error);
	if (c->failed || c->invalid || c->pending)
		fprintf(out, "  see: pinsync errors %s --run %" PRId64 "\n", rs->target.name,
		        rs->run_id);
}

/* Sends what is batched and waits for every batch of the run. */
static void
finish_sending(run_state *rs)
{
	int first = rs->exit_code;

	if (!rs->batch_ready || rs->poller == NULL)
		return;
	/* Even after a feed error: what was planned from the part read is
	 * what the feed says, and what left must be recorded. Not after a stop
	 * request: batches in flight stay in the journal for the next run. */
	if ((first == PS_EXIT_OK || first == PS_EXIT_FEED || first == PS_EXIT_HELD) &&
	    !stopped(rs, "before sending the last batch")) {
		rs->exit_code = PS_EXIT_OK;
		if (ps_poller_send(rs->poller, &rs->batch) == 0)
			ps_poller_wait(rs->poller, 0);
		if (ps_poller_exit_code(rs->poller) != PS_EXIT_OK)
			poller_failed(rs);
		if (first != PS_EXIT_OK)
			rs->exit_code = first;
	}
}

static void
count_results(run_state *rs)
{
	const ps_poller_stats *st;
	const ps_pin_stats *pst;

	if (rs->poller == NULL)
		return;
	st = ps_poller_stats_get(rs->poller);
	rs->counts.batches = st->batches;
	rs->counts.failed += st->failed;
	rs->counts.pending = st->pending + rs->pending_local;
	if (st->pending_batches && rs->exit_code == PS_EXIT_OK && !rs->error[0])
		snprintf(rs->error, sizeof(rs->error),
		         "%zu batches still processing at Pinterest: pinsync poll %s records them",
		         st->pending_batches, rs->target.name);
	if (st->skipped && rs->exit_code == PS_EXIT_OK && !rs->error[0])
		snprintf(rs->error, sizeof(rs->error),
		         "%" PRId64
		         " items were in batches Pinterest skipped as recent duplicates; "
		         "the next run sends them again",
		         st->skipped);
	if (rs->counts.pending && rs->exit_code == PS_EXIT_OK && !rs->error[0])
		snprintf(rs->error, sizeof(rs->error),
		         "%" PRId64
		         " items have no verdict from Pinterest yet (pending): the next run "
		         "sends them again; pinsync errors %s lists them",
		         rs->counts.pending, rs->target.name);
	pst = ps_pin_get_stats(rs->pin);
	rs->counts.retries = pst->retries;
	rs->counts.retry_wait_s = pst->retry_wait_s;
}

/* Invariant 4: one sync per target. Another run holding the target makes
 * this one wait up to lock_wait_s, then give up (PS_EXIT_BUSY). Returns 0
 * holding the lock, else -1 with the run failed. */
static int
lock_target(run_state *rs)
{
	struct timespec start, now, pause = {0, 200 * 1000000L};
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		rc = ps_db_target_trylock(rs->db, rs->target.id);
		if (rc != PS_DB_BUSY)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= rs->settings->lock_wait_s || ps_control_stopping())
			break;
		nanosleep(&pause, NULL);
	}
	if (rc == PS_DB_OK)
		return 0;
	run_fail(rs, rc == PS_DB_BUSY ? PS_EXIT_BUSY : PS_EXIT_DB, "%s", ps_db_error(rs->db));
	return -1;
}

/* Keeps the feed's ETag / Last-Modified for the next conditional GET, only
 * after a run where everything is in sync: after any other outcome the
 * next run must read the feed again, or items Pinterest rejected would
 * never be retried. */
static void
record_validators(run_state *rs, const char *outcome)
{
	const char *etag = NULL, *last_modified = NULL;

	if (rs->opts->dry_run || rs->unchanged_at_source)
		return;
	if (strcmp(outcome, "ok") == 0 && rs->feed)
		ps_feed_validators(rs->feed, &etag, &last_modified);
	if (ps_db_target_source_set(rs->db, rs->target.id, etag, last_modified) < 0)
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
}

/* Connects, checks the migrations and reads the target (rs->settings and
 * rs->client_key set). Returns PS_EXIT_OK or the exit code, logged. */
static int
open_target(run_state *rs, const char *name)
{
	int rc = ps_db_connect(&rs->db, rs->settings->database_url);

	if (rc != PS_DB_OK) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return rs->exit_code;
	}
	if (ps_db_migrated(rs->db, ps_migrations_embedded) != PS_DB_OK) {
		run_fail(rs, PS_EXIT_DB, "the database is not migrated: run pinsync migrate");
		return rs->exit_code;
	}
	rc = ps_db_target_get(rs->db, name, &rs->target);
	if (rc != PS_DB_OK)
		run_fail(rs, rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB, "%s",
		         ps_db_error(rs->db));
	return rs->exit_code;
}

static void
close_target(run_state *rs)
{
	ps_pin_free(rs->pin);
	ps_target_clear(&rs->target);
	ps_db_close(rs->db);
	ps_log_set_target(NULL);
}

int
ps_sync_run(const ps_settings *settings, const ps_run_options *opts)
{
	run_state rs;
	const char *outcome;
	int locked = 0, started = 0;

	memset(&rs, 0, sizeof(rs));
	rs.settings = settings;
	rs.opts = opts;
	rs.client_key = ps_settings_client_key(settings);
	ps_buf_init(&rs.arena, PS_BATCH_HARD_BYTES);
	ps_log_set_target(opts->target);
	/* Issue "Hardening": no run goes on for ever. Past its deadline it
	 * stops at its next safe point exactly as for SIGTERM (control.h). */
	ps_control_set_deadline((double)settings->run_deadline_s, "PINSYNC_RUN_DEADLINE_S");

	phase_end(&rs, NULL);
	if (open_target(&rs, opts->target) != PS_EXIT_OK)
		goto done;
	phase_end(&rs, "connect, migrations, target");
	ps_db_set_hook(rs.db, ps_crashpoint);
	if (lock_target(&rs) < 0)
		goto done;
	locked = 1;
	/* Holding the lock, no other run of this target is alive. */
	if (ps_db_runs_close_stale(rs.db, rs.target.id) < 0) {
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		goto done;
	}
	if (ps_db_run_start(rs.db, rs.target.id, opts->trigger ? opts->trigger : "manual",
	                    opts->dry_run, &rs.run_id) < 0) {
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		goto done;
	}
	started = 1;
	ps_log_set_run(rs.run_id);
	ps_db_problems_begin(rs.db, rs.run_id);
	if (opts->dry_run && open_plan(&rs) < 0)
		goto done;
	phase_end(&rs, "lock, run start");

	if (open_everything(&rs) == 0) {
		if (plan_feed(&rs) == 0) {
			phase_end(&rs, "feed (parse, diff, plan)");
			plan_missing(&rs);
			phase_end(&rs, "deletes");
		}
	}
	/* An unchanged feed (304) plans nothing: every snapshot item would
	 * otherwise look absent. */
	finish_sending(&rs);
	if (ps_db_problems_end(rs.db) < 0)
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
	count_results(&rs);
	if (rs.feed)
		rs.counts.feed_bytes = (int64_t)ps_feed_bytes_read(rs.feed);
	report_progress(&rs);

done:
	if (started) {
		if (!opts->dry_run &&
		    ps_db_run_operation_counts(rs.db, rs.run_id, &rs.counts.created,
		                               &rs.counts.updated, &rs.counts.deleted) < 0)
			run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		if (opts->dry_run) {
			rs.counts.created = rs.planned_create;
			rs.counts.updated = rs.planned_update + rs.planned_oos;
			rs.counts.deleted = rs.planned_delete;
		}
		if (rs.plan && ps_plan_finish(rs.plan, rs.plan_hint) < 0)
			run_fail(&rs, PS_EXIT_INTERNAL, "%s", ps_plan_error(rs.plan));
		outcome = outcome_of(&rs);
		record_validators(&rs, outcome);
		if (ps_db_run_finish(rs.db, rs.run_id, outcome, rs.error[0] ? rs.error : NULL,
		                     &rs.counts) < 0)
			run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		print_summary(&rs, outcome);
		ps_info("run %s: parsed %" PRId64 ", invalid %" PRId64 ", created %" PRId64
		        ", updated %" PRId64 ", deleted %" PRId64 ", unchanged %" PRId64
		        ", failed %" PRId64 ", batches %d",
		        outcome, rs.counts.parsed, rs.counts.invalid, rs.counts.created,
		        rs.counts.updated, rs.counts.deleted, rs.counts.unchanged, rs.counts.failed,
		        rs.counts.batches);
	}
	if (locked)
		ps_db_target_unlock(rs.db, rs.target.id);
	phase_end(&rs, "finish");
	if (rs.batch_ready)
		ps_batch_free(&rs.batch);
	ps_poller_free(rs.poller);
	ps_itemset_free(rs.changed);
	free(rs.changes);
	free(rs.order);
	ps_feed_free(rs.feed);
	ps_pin_free(rs.pin);
	ps_diffmap_free(rs.map);
	ps_plan_free(rs.plan);
	ps_buf_free(&rs.arena);
	ps_target_clear(&rs.target);
	ps_db_close(rs.db);
	phase_end(&rs, "free, disconnect");
	ps_log_set_run(0);
	ps_log_set_target(NULL);
	ps_control_set_deadline(0, NULL);

	if (rs.exit_code != PS_EXIT_OK)
		return rs.exit_code;
	return rs.counts.failed || rs.counts.invalid || rs.counts.pending || rs.error[0]
	           ? PS_EXIT_PARTIAL
	           : PS_EXIT_OK;
}

/* Polls the open batches of one target (rs->target set, db connected). */
static int
poll_target(run_state *rs, FILE *out)
{
	ps_open_batch *open = NULL;
	size_t n = 0, i, adopted = 0, planned = 0;
	const ps_poller_stats *st;
	int64_t last_run = 0;
	int rc;

	rc = ps_db_target_trylock(rs->db, rs->target.id);
	if (rc != PS_DB_OK) {
		run_fail(rs, rc == PS_DB_BUSY ? PS_EXIT_BUSY : PS_EXIT_DB, "%s",
		         ps_db_error(rs->db));
		return -1;
	}
	if (ps_db_open_batches(rs->db, rs->target.id, &open, &n) < 0) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		goto done;
	}
	for (i = 0; i < n; i++) {
		if (adopted + planned == 0 && open_client(rs) < 0)
			goto done;
		if (open[i].batch_id == NULL) {
			planned++;
			rc = ps_poller_recover(rs->poller, open[i].batch_pk);
		} else {
			adopted++;
			rc = ps_poller_adopt(rs->poller, open[i].batch_pk, open[i].batch_id);
		}
		if (rc < 0) {
			poller_failed(rs);
			goto done;
		}
	}
	if (adopted && ps_poller_wait(rs->poller, 0) < 0)
		poller_failed(rs);
	/* Recount every run whose batches were finished here. */
	for (i = 0; i < n; i++) {
		if (open[i].run_id == last_run)
			continue;
		last_run = open[i].run_id;
		if (ps_db_run_recount(rs->db, open[i].run_id) < 0)
			run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
	}
	if (adopted) {
		st = ps_poller_stats_get(rs->poller);
		fprintf(out,
		        "%s: %zu batches polled: %" PRId64 " items succeeded, %" PRId64
		        " failed, %zu batches still processing\n",
		        rs->target.name, adopted, st->succeeded, st->failed, st->pending);
		if (st->pending && rs->exit_code == PS_EXIT_OK)
			rs->exit_code = PS_EXIT_PARTIAL;
	} else {
		fprintf(out, "%s: no batch in flight\n", rs->target.name);
	}
	if (planned)
		fprintf(out,
		        "%s: %zu batches were never confirmed sent: read back from Pinterest, the "
		        "items not found applied go out with the next run\n",
		        rs->target.name, planned);
done:
	ps_db_open_batches_free(open, n);
	ps_db_target_unlock(rs->db, rs->target.id);
	return rs->exit_code == PS_EXIT_OK ? 0 : -1;
}

int
ps_sync_poll(const ps_settings *settings, const char *target, FILE *out)
{
	ps_target *list = NULL;
	size_t n = 0, i;
	ps_db *db = NULL;
	int exit_code = PS_EXIT_OK;

	if (ps_db_connect(&db, settings->database_url) != PS_DB_OK) {
		ps_error("%s", ps_db_error(db));
		ps_db_close(db);
		return PS_EXIT_DB;
	}
	if (ps_db_migrated(db, ps_migrations_embedded) != PS_DB_OK) {
		ps_error("the database is not migrated: run pinsync migrate");
		ps_db_close(db);
		return PS_EXIT_DB;
	}
	if (target) {
		list = calloc(1, sizeof(*list));
		n = 1;
		int rc;

		if (list == NULL) {
			ps_error("out of memory");
			ps_db_close(db);
			return PS_EXIT_INTERNAL;
		}
		rc = ps_db_target_get(db, target, &list[0]);
		if (rc != PS_DB_OK) {
			ps_error("%s", ps_db_error(db));
			free(list);
			ps_db_close(db);
			return rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB;
		}
	} else if (ps_db_target_list(db, &list, &n) < 0) {
		ps_error("%s", ps_db_error(db));
		ps_db_close(db);
		return PS_EXIT_DB;
	}
	for (i = 0; i < n; i++) {
		run_state rs;

		memset(&rs, 0, sizeof(rs));
		rs.settings = settings;
		rs.db = db;
		rs.client_key = ps_settings_client_key(settings);
		rs.target = list[i]; /* borrowed: freed with the list */
		ps_log_set_target(rs.target.name);
		poll_target(&rs, out);
		if (rs.exit_code != PS_EXIT_OK && exit_code == PS_EXIT_OK)
			exit_code = rs.exit_code;
		if (rs.batch_ready)
			ps_batch_free(&rs.batch);
		ps_poller_free(rs.poller);
		ps_pin_free(rs.pin);
	}
	ps_log_set_target(NULL);
	ps_db_targets_free(list, n);
	ps_db_close(db);
	return exit_code;
}

int
ps_sync_check_catalog(const ps_settings *settings, const char *target, FILE *out)
{
	run_state rs;
	ps_tokens tok;

	memset(&rs, 0, sizeof(rs));
	rs.settings = settings;
	rs.client_key = ps_settings_client_key(settings);
	ps_log_set_target(target);
	if (open_target(&rs, target) == PS_EXIT_OK) {
		int rc = ps_db_tokens_get(rs.db, rs.client_key, &tok);

		if (rc == PS_DB_NOTFOUND) {
			fprintf(out,
			        "catalog %s: no tokens stored yet for client id \"%s\"; the first "
			        "run checks whether it has a feed data source\n",
			        rs.target.catalog_id, rs.client_key);
		} else if (rc != PS_DB_OK) {
			run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		} else {
			ps_tokens_clear(&tok);
			rs.target.feed_source = -1; /* check now */
			if (open_pin(&rs) == 0 && check_ownership(&rs) == 0)
				fprintf(out, "catalog %s: %s; pinsync sends %s\n",
				        rs.target.catalog_id,
				        rs.target.feed_source == 1   ? "has a feed data source"
				        : rs.target.feed_source == 0 ? "no feed data source"
				                                     : "could not be checked",
				        ps_catalog_api_owned(&rs.target)
				            ? "new items and image changes as UPSERT"
				            : "CREATE and UPDATE, image changes as DELETE then "
				              "CREATE");
		}
	}
	close_target(&rs);
	return rs.exit_code;
}

int
ps_sync_reconcile(const ps_settings *settings, const ps_reconcile_options *opts)
{
	run_state rs;
	ps_drift_options o = {opts->sample, 1, opts->out};
	ps_drift_counts c;
	int rc, locked = 0, exit_code;

	memset(&rs, 0, sizeof(rs));
	memset(&c, 0, sizeof(c));
	rs.settings = settings;
	rs.client_key = ps_settings_client_key(settings);
	ps_log_set_target(opts->target);
	if (open_target(&rs, opts->target) != PS_EXIT_OK)
		goto done;
	/* The target's lock: a run diffing against the snapshot while it is
	 * marked would plan from a half-marked one. */
	if (lock_target(&rs) < 0)
		goto done;
	locked = 1;
	if (open_pin(&rs) < 0)
		goto done;
	rc = ps_drift_check(rs.db, rs.pin, &rs.target, &o, &c);
	if (rc == PS_DB_ERROR) {
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
	} else if (rc == PS_PIN_ESTOP) {
		run_fail(&rs, PS_EXIT_INTERRUPTED, "reading items back: %s",
		         ps_pin_last(rs.pin)->message);
	} else if (rc != 0) {
		run_fail(&rs, PS_EXIT_API, "reading items back: HTTP %ld: %s (x-pinterest-rid %s)",
		         ps_pin_last(rs.pin)->http_status, ps_pin_last(rs.pin)->message,
		         ps_pin_last(rs.pin)->request_id[0] ? ps_pin_last(rs.pin)->request_id
		                                            : "none");
	}
	/* The next run reads the feed whatever its validators say: the diff
	 * is what repairs the items marked. */
	if (c.missing + c.changed > 0 &&
	    ps_db_target_source_set(rs.db, rs.target.id, NULL, NULL) < 0)
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
	fprintf(opts->out,
	        "reconcile %s: %" PRId64 " items read back: %" PRId64 " not on Pinterest, %" PRId64
	        " changed outside pinsync, %" PRId64 " without an answer%s\n",
	        rs.target.name, c.checked, c.missing, c.changed, c.unknown,
	        c.missing + c.changed == 0 ? ""
	        : opts->fix                ? "; repairing them now"
	                                   : "; marked: the next run repairs them");
done:
	if (locked)
		ps_db_target_unlock(rs.db, rs.target.id);
	exit_code = rs.exit_code;
	close_target(&rs);
	if (exit_code != PS_EXIT_OK)
		return exit_code;
	if (c.missing + c.changed == 0)
		return PS_EXIT_OK;
	if (opts->fix) {
		ps_run_options ro;

		memset(&ro, 0, sizeof(ro));
		ro.target = opts->target;
		ro.trigger = "reconcile";
		ro.out = opts->out;
		rc = ps_sync_run(settings, &ro);
		if (rc != PS_EXIT_OK)
			return rc;
	}
	return PS_EXIT_DRIFT;
}
