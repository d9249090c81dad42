/*
 * run.c: one sync of one target (see run.h for the path of a run).
 */
#include "run.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "batch.h"
#include "db.h"
#include "diffmap.h"
#include "feeds.h"
#include "log.h"
#include "pinterest.h"

/* A batch sent and not yet finished. */
typedef struct inflight {
	int64_t batch_pk;
	char *batch_id;
	int done;
} inflight;

typedef struct run_state {
	const ps_settings *settings;
	const ps_run_options *opts;
	ps_db *db;
	ps_target target;
	const char *client_key;
	int64_t run_id;
	ps_diffmap *map;
	ps_feed *feed;
	ps_pin *pin;
	ps_batch batch;
	int batch_ready;
	int seq;
	inflight *inflight;
	size_t ninflight, capinflight;
	ps_run_counts counts;
	int64_t planned_create, planned_update, planned_delete;
	char error[1024];
	int exit_code; /* first fatal outcome, PS_EXIT_OK until then */
} run_state;

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

static int
store_tokens(void *ctx, const ps_pin_tokens *t)
{
	run_state *rs = ctx;
	ps_tokens tok = {(char *)t->access_token, (char *)t->refresh_token, t->access_expires_at,
	                 t->refresh_expires_at};

	if (ps_db_tokens_set(rs->db, rs->client_key, &tok) < 0) {
		ps_error("storing refreshed tokens: %s", ps_db_error(rs->db));
		return -1;
	}
	return 0;
}

static void
pin_fail(run_state *rs, const char *what)
{
	const ps_pin_status *st = ps_pin_last(rs->pin);

	run_fail(rs, PS_EXIT_API, "%s: %s%s%ld%s%s (x-pinterest-rid %s)", what,
	         st->http_status ? "HTTP " : "", "", st->http_status, st->http_status ? ": " : "",
	         st->message, st->request_id[0] ? st->request_id : "none");
}

/* ---- sending ---- */

static int
send_batch(run_state *rs)
{
	ps_batch *b = &rs->batch;
	int64_t batch_pk;
	char *batch_id = NULL;
	int rc;

	if (b->count == 0)
		return 0;
	if (ps_batch_close(b) < 0) {
		run_fail(rs, PS_EXIT_INTERNAL, "encoding batch %d failed (out of memory)",
		         rs->seq + 1);
		return -1;
	}
	rs->seq++;
	/* Invariant 2: written down before it is sent. */
	if (ps_db_batch_plan(rs->db, rs->run_id, rs->target.id, rs->seq, ps_batch_journal(b),
	                     b->count, &batch_pk) < 0) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		return -1;
	}
	rs->counts.batches++;
	rc = ps_pin_batch_send(rs->pin, b->body.data, b->body.len, &batch_id);
	if (rc != 0) {
		const ps_pin_status *st = ps_pin_last(rs->pin);
		char why[700];

		snprintf(why, sizeof(why), "POST /catalogs/items/batch: HTTP %ld code %ld: %s",
		         st->http_status, st->code, st->message);
		ps_db_batch_mark(rs->db, batch_pk, "failed", why);
		rs->counts.failed += (int64_t)b->count;
		if (rc == PS_PIN_EHTTP && st->http_status >= 400 && st->http_status < 500 &&
		    st->http_status != 401 && st->http_status != 429) {
			/* Pinterest refused this body: its items stay dirty and are
			 * reported; later batches may still go through. */
			ps_error("batch %d refused: %s (x-pinterest-rid %s)", rs->seq, why,
			         st->request_id[0] ? st->request_id : "none");
			return ps_batch_reset(b);
		}
		pin_fail(rs, "POST /catalogs/items/batch");
		return -1;
	}
	if (ps_db_batch_sent(rs->db, batch_pk, batch_id) < 0) {
		run_fail(rs, PS_EXIT_DB, "%s (batch %s was sent: pinsync poll will not find it)",
		         ps_db_error(rs->db), batch_id);
		free(batch_id);
		return -1;
	}
	ps_log_batch(PS_LOG_INFO, batch_id, "sent %zu items", b->count);
	if (rs->ninflight == rs->capinflight) {
		size_t cap = rs->capinflight ? rs->capinflight * 2 : 16;
		inflight *p = realloc(rs->inflight, cap * sizeof(*p));

		if (p == NULL) {
			free(batch_id);
			run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
			return -1;
		}
		rs->inflight = p;
		rs->capinflight = cap;
	}
	rs->inflight[rs->ninflight].batch_pk = batch_pk;
	rs->inflight[rs->ninflight].batch_id = batch_id;
	rs->inflight[rs->ninflight].done = 0;
	rs->ninflight++;
	return ps_batch_reset(b);
}

/* ---- polling ---- */

/* Writes v (a yajl tree) with g. */
static void
gen_tree(yajl_gen g, yajl_val v)
{
	size_t i;

	if (v == NULL || YAJL_IS_NULL(v)) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (i = 0; i < v->u.array.len; i++)
			gen_tree(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (i = 0; i < v->u.object.len; i++) {
			yajl_gen_string(g, (const unsigned char *)v->u.object.keys[i],
			                strlen(v->u.object.keys[i]));
			gen_tree(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	}
}

static yajl_val
obj_get(yajl_val obj, const char *key)
{
	size_t i;

	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

/* Records one finished batch from Pinterest's answer. Returns 1 when the
 * batch is finished, 0 when still processing, -1 on error. */
static int
record_answer(run_state *rs, inflight *f, const char *body)
{
	char err[256];
	yajl_val root = yajl_tree_parse(body, err, sizeof(err));
	yajl_val status, items;
	yajl_gen g = NULL;
	const unsigned char *json;
	size_t len, i;
	int64_t ok = 0, failed = 0;
	int rc = -1;

	status = root ? obj_get(root, "status") : NULL;
	if (status == NULL || !YAJL_IS_STRING(status)) {
		run_fail(rs, PS_EXIT_API, "batch %s: unreadable answer from Pinterest",
		         f->batch_id);
		goto done;
	}
	if (strcmp(status->u.string, "COMPLETED") != 0 && strcmp(status->u.string, "FAILED") != 0) {
		rc = 0;
		goto done;
	}
	items = obj_get(root, "items");
	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		goto done;
	yajl_gen_array_open(g);
	for (i = 0; items && YAJL_IS_ARRAY(items) && i < items->u.array.len; i++) {
		yajl_val it = items->u.array.values[i];
		yajl_val id = obj_get(it, "item_id"), st = obj_get(it, "status");

		if (id == NULL || !YAJL_IS_STRING(id))
			continue;
		yajl_gen_map_open(g);
		yajl_gen_string(g, (const unsigned char *)"item_id", 7);
		gen_tree(g, id);
		yajl_gen_string(g, (const unsigned char *)"status", 6);
		gen_tree(g, st);
		yajl_gen_string(g, (const unsigned char *)"errors", 6);
		gen_tree(g, obj_get(it, "errors"));
		yajl_gen_string(g, (const unsigned char *)"warnings", 8);
		gen_tree(g, obj_get(it, "warnings"));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_get_buf(g, &json, &len);
	if (ps_db_batch_finish(rs->db, f->batch_pk,
	                       strcmp(status->u.string, "COMPLETED") == 0 ? "completed" : "failed",
	                       (const char *)json, &ok, &failed) < 0) {
		run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
		goto done;
	}
	rs->counts.failed += failed;
	ps_log_batch(failed ? PS_LOG_WARN : PS_LOG_INFO, f->batch_id,
	             "%s: %" PRId64 " succeeded, %" PRId64 " failed", status->u.string, ok, failed);
	rc = 1;
done:
	if (g)
		yajl_gen_free(g);
	yajl_tree_free(root);
	return rc;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
poll_all(run_state *rs)
{
	ps_buf resp;
	long wait = rs->settings->poll_initial_ms;
	time_t deadline = time(NULL) + rs->settings->poll_timeout_s;
	size_t pending = 0, i;

	for (i = 0; i < rs->ninflight; i++)
		pending += !rs->inflight[i].done;
	ps_buf_init(&resp, PS_PIN_MAX_RESPONSE);
	while (pending > 0 && rs->exit_code == PS_EXIT_OK) {
		if (time(NULL) >= deadline) {
			run_fail(rs, PS_EXIT_API,
			         "%zu batches still processing after %ld s: run pinsync poll later",
			         pending, rs->settings->poll_timeout_s);
			break;
		}
		sleep_ms(wait);
		wait = wait * 2 > rs->settings->poll_max_ms ? rs->settings->poll_max_ms : wait * 2;
		for (i = 0; i < rs->ninflight && rs->exit_code == PS_EXIT_OK; i++) {
			inflight *f = &rs->inflight[i];
			int rc;

			if (f->done)
				continue;
			rc = ps_pin_batch_get(rs->pin, f->batch_id, &resp);
			if (rc == PS_PIN_ELOST) {
				/* The items were not applied: the snapshot did not move,
				 * so the next run sends them again. */
				ps_log_batch(
				    PS_LOG_WARN, f->batch_id,
				    "Pinterest does not know this batch (code 4331): marked lost");
				if (ps_db_batch_mark(rs->db, f->batch_pk, "lost", "404 code 4331") <
				    0)
					run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
				f->done = 1;
				pending--;
				continue;
			}
			if (rc != 0) {
				pin_fail(rs, "GET /catalogs/items/batch");
				break;
			}
			rc = record_answer(rs, f, ps_buf_str(&resp));
			if (rc == 1) {
				f->done = 1;
				pending--;
			}
		}
	}
	ps_buf_free(&resp);
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
record_problems(run_state *rs, const ps_item *item)
{
	const ps_slice *id = &item->values[PS_ATTR_ID];
	char place[96];
	int i;

	place_of(rs, item, place, sizeof(place));
	for (i = 0; i < item->nproblems; i++) {
		const ps_problem *p = &item->problems[i];

		if (ps_db_problems_add(rs->db, id->ptr, place,
		                       p->attr >= 0 ? ps_attr_defs[p->attr].name : NULL, p->code,
		                       p->message) < 0) {
			run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
			return -1;
		}
	}
	return 0;
}

static int
plan_op(run_state *rs, const char *op, const ps_item *item, const char *id, size_t len)
{
	if (rs->opts->dry_run) {
		fprintf(rs->opts->out, "%s %.*s\n", op, (int)len, id);
		return 0;
	}
	if (ps_batch_full(&rs->batch) && send_batch(rs) < 0)
		return -1;
	if ((item ? ps_batch_add_item(&rs->batch, op, item)
	          : ps_batch_add_delete(&rs->batch, id, len)) < 0) {
		run_fail(rs, PS_EXIT_INTERNAL,
		         "item %.*s: cannot add it to a batch (out of memory)", (int)len, id);
		return -1;
	}
	return 0;
}

/* Reads the whole feed; returns 0 when it was read to its end. */
static int
plan_feed(run_state *rs)
{
	ps_item *item;
	int rc;

	while ((rc = ps_feed_next(&item, rs->feed)) == 0) {
		const ps_slice *id = &item->values[PS_ATTR_ID];
		int d;

		rs->counts.parsed++;
		if (item->nproblems > 0) {
			rs->counts.invalid++;
			/* An invalid item is not sent, and not deleted either: what
			 * Pinterest has stays until the feed is fixed. */
			if (id->ptr && id->len)
				ps_diffmap_keep(rs->map, id->ptr, id->len);
			if (record_problems(rs, item) < 0)
				return -1;
			continue;
		}
		d = ps_diffmap_see(rs->map, id->ptr, id->len, item->hash);
		switch (d) {
		case PS_DIFF_SAME: rs->counts.unchanged++; break;
		case PS_DIFF_DUPLICATE: {
			char place[96];

			rs->counts.invalid++;
			place_of(rs, item, place, sizeof(place));
			if (ps_db_problems_add(rs->db, id->ptr, place, "id", "duplicate",
			                       "duplicate id: an earlier item with this id wins") <
			    0) {
				run_fail(rs, PS_EXIT_DB, "%s", ps_db_error(rs->db));
				return -1;
			}
			break;
		}
		case PS_DIFF_NEW:
			rs->planned_create++;
			if (plan_op(rs, "CREATE", item, id->ptr, id->len) < 0)
				return -1;
			break;
		case PS_DIFF_CHANGED:
			rs->planned_update++;
			/* UPSERT replaces every attribute, so one that left the feed
			 * (an ended sale_price) is cleared on Pinterest too. */
			if (plan_op(rs, "UPSERT", item, id->ptr, id->len) < 0)
				return -1;
			break;
		default: run_fail(rs, PS_EXIT_INTERNAL, "out of memory in the diff map"); return -1;
		}
	}
	if (rc != PS_ITEROVER) {
		/* Invariant 3: a feed not read to its end deletes nothing. */
		run_fail(rs, PS_EXIT_FEED, "feed %s: %s; no item was deleted", rs->target.feed,
		         ps_feed_error(rs->feed));
		return -1;
	}
	if (ps_feed_warnings(rs->feed)[0])
		ps_warn("feed %s: %s", rs->target.feed, ps_feed_warnings(rs->feed));
	return 0;
}

static int
plan_deletes(run_state *rs)
{
	size_t cursor = 0, len;
	const char *id;

	while (ps_diffmap_next_unseen(rs->map, &cursor, &id, &len)) {
		rs->planned_delete++;
		if (plan_op(rs, "DELETE", NULL, id, len) < 0)
			return -1;
	}
	return 0;
}

/* ---- the run ---- */

static int
open_everything(run_state *rs)
{
	const ps_settings *s = rs->settings;
	ps_feed_options fo = PS_FEED_OPTIONS_INIT;
	int64_t snap = 0;
	int rc;

	if (ps_feed_format_parse(&fo.format, rs->target.format) < 0)
		fo.format = PS_FORMAT_AUTO;
	fo.default_currency = rs->target.currency;
	if (ps_db_snapshot_count(rs->db, rs->target.id, &snap) < 0 ||
	    ps_diffmap_new(&rs->map, (size_t)snap) < 0 ||
	    ps_db_snapshot_load(rs->db, rs->target.id, ps_diffmap_add_snapshot, rs->map) < 0) {
		run_fail(rs, PS_EXIT_DB, "loading the snapshot: %s", ps_db_error(rs->db));
		return -1;
	}
	ps_debug("snapshot: %" PRId64 " items, %zu bytes in memory", snap,
	         ps_diffmap_memory(rs->map));

	if (!rs->opts->dry_run) {
		ps_pin_options po = PS_PIN_OPTIONS_INIT;
		ps_tokens tok;

		if (ps_db_tokens_get(rs->db, rs->client_key, &tok) < 0) {
			run_fail(rs, PS_EXIT_USAGE, "%s", ps_db_error(rs->db));
			return -1;
		}
		po.api_base = s->api_base;
		po.client_id = s->client_id[0] ? s->client_id : NULL;
		po.client_secret = s->client_secret[0] ? s->client_secret : NULL;
		po.connect_timeout_ms = s->http_connect_timeout_ms;
		po.timeout_ms = s->http_timeout_ms;
		po.max_retry_s = s->max_retry_s;
		po.store = store_tokens;
		po.store_ctx = rs;
		{
			ps_pin_tokens pt = {tok.access_token, tok.refresh_token,
			                    tok.access_expires_at, tok.refresh_expires_at};

			rc = ps_pin_new(&rs->pin, &po, &pt);
		}
		ps_tokens_clear(&tok);
		if (rc < 0) {
			run_fail(rs, PS_EXIT_INTERNAL, "cannot start the HTTP client");
			return -1;
		}
		if (ps_batch_init(&rs->batch, rs->target.catalog_id, rs->target.country,
		                  rs->target.language) < 0) {
			run_fail(rs, PS_EXIT_INTERNAL, "out of memory");
			return -1;
		}
		rs->batch_ready = 1;
	}
	rc = ps_feed_open(&rs->feed, rs->target.feed, &fo);
	if (rc != 0) {
		run_fail(rs, rc == PS_EFEED ? PS_EXIT_FEED : PS_EXIT_INTERNAL,
		         "feed %s: %s; no item was deleted", rs->target.feed,
		         rs->feed ? ps_feed_error(rs->feed) : "out of memory");
		return -1;
	}
	return 0;
}

static const char *
outcome_of(const run_state *rs)
{
	switch (rs->exit_code) {
	case PS_EXIT_OK: return rs->counts.failed || rs->counts.invalid ? "partial" : "ok";
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
		        " to update, %" PRId64 " to delete, %" PRId64 " unchanged, %" PRId64
		        " invalid, of %" PRId64 " items parsed\n",
		        rs->target.name, rs->planned_create, rs->planned_update, rs->planned_delete,
		        c->unchanged, c->invalid, c->parsed);
		return;
	}
	fprintf(out,
	        "run %" PRId64 " of %s: %s\n  parsed %" PRId64 ", invalid %" PRId64
	        ", created %" PRId64 ", updated %" PRId64 ", deleted %" PRId64
	        ", unchanged %" PRId64 ", failed %" PRId64 ", batches %d\n",
	        rs->run_id, rs->target.name, outcome, c->parsed, c->invalid, c->created, c->updated,
	        c->deleted, c->unchanged, c->failed, c->batches);
	if (rs->error[0])
		fprintf(out, "  error: %s\n", rs->error);
	if (c->failed || c->invalid)
		fprintf(out, "  see: pinsync errors %s --run %" PRId64 "\n", rs->target.name,
		        rs->run_id);
}

int
ps_sync_run(const ps_settings *settings, const ps_run_options *opts)
{
	run_state rs;
	const char *outcome;
	int locked = 0, started = 0;
	size_t i;
	int rc;

	memset(&rs, 0, sizeof(rs));
	rs.settings = settings;
	rs.opts = opts;
	rs.client_key = settings->client_id[0] ? settings->client_id : "default";
	ps_log_set_target(opts->target);

	rc = ps_db_connect(&rs.db, settings->database_url);
	if (rc != PS_DB_OK) {
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		goto done;
	}
	if (ps_db_migrated(rs.db, ps_migrations_embedded) != PS_DB_OK) {
		run_fail(&rs, PS_EXIT_DB, "the database is not migrated: run pinsync migrate");
		goto done;
	}
	rc = ps_db_target_get(rs.db, opts->target, &rs.target);
	if (rc != PS_DB_OK) {
		run_fail(&rs, rc == PS_DB_NOTFOUND ? PS_EXIT_USAGE : PS_EXIT_DB, "%s",
		         ps_db_error(rs.db));
		goto done;
	}
	rc = ps_db_target_trylock(rs.db, rs.target.id);
	if (rc != PS_DB_OK) {
		run_fail(&rs, rc == PS_DB_BUSY ? PS_EXIT_BUSY : PS_EXIT_DB, "%s",
		         ps_db_error(rs.db));
		goto done;
	}
	locked = 1;
	if (ps_db_run_start(rs.db, rs.target.id, opts->trigger ? opts->trigger : "manual",
	                    opts->dry_run, &rs.run_id) < 0) {
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		goto done;
	}
	started = 1;
	ps_log_set_run(rs.run_id);
	ps_db_problems_begin(rs.db, rs.run_id);

	if (open_everything(&rs) == 0 && plan_feed(&rs) == 0)
		plan_deletes(&rs);
	/* Whatever stopped the planning, what is already encoded or sent is
	 * finished: a batch that left must be polled and recorded. */
	if (rs.batch_ready && rs.exit_code == PS_EXIT_OK)
		send_batch(&rs);
	if (rs.ninflight > 0) {
		int first = rs.exit_code;

		/* Poll even after a feed error: those results must be kept. */
		if (first == PS_EXIT_FEED)
			rs.exit_code = PS_EXIT_OK;
		poll_all(&rs);
		if (first != PS_EXIT_OK)
			rs.exit_code = first;
	}
	if (ps_db_problems_end(rs.db) < 0)
		run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));

done:
	if (started) {
		if (!opts->dry_run &&
		    ps_db_run_operation_counts(rs.db, rs.run_id, &rs.counts.created,
		                               &rs.counts.updated, &rs.counts.deleted) < 0)
			run_fail(&rs, PS_EXIT_DB, "%s", ps_db_error(rs.db));
		if (opts->dry_run) {
			rs.counts.created = rs.planned_create;
			rs.counts.updated = rs.planned_update;
			rs.counts.deleted = rs.planned_delete;
		}
		outcome = outcome_of(&rs);
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
	for (i = 0; i < rs.ninflight; i++)
		free(rs.inflight[i].batch_id);
	free(rs.inflight);
	if (rs.batch_ready)
		ps_batch_free(&rs.batch);
	ps_feed_free(rs.feed);
	ps_pin_free(rs.pin);
	ps_diffmap_free(rs.map);
	ps_target_clear(&rs.target);
	ps_db_close(rs.db);
	ps_log_set_run(0);
	ps_log_set_target(NULL);

	if (rs.exit_code != PS_EXIT_OK)
		return rs.exit_code;
	return rs.counts.failed || rs.counts.invalid ? PS_EXIT_PARTIAL : PS_EXIT_OK;
}
