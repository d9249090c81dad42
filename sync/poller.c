/*
 * poller.c: sending batches and following them to their end.
 */
#include "poller.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "clock.h"
#include "control.h"
#include "log.h"
#include "run.h"

/* A lost batch goes out again at most this many times in one run. */
#define MAX_RESENDS 3

typedef struct inflight {
	int64_t batch_pk;
	char *batch_id;
	double next_poll; /* monotonic seconds */
	double interval;  /* seconds to the poll after next */
	double deadline;
	int resends;
	int done;
} inflight;

struct ps_poller {
	ps_db *db;
	ps_pin *pin;
	const ps_target *target;
	int64_t run_id;
	const ps_settings *settings;
	inflight *list;
	size_t count, cap;
	size_t unfinished;
	ps_buf resp;
	ps_poller_stats stats;
	int exit_code;
	char error[1024];
};

static int fail(ps_poller *p, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(ps_poller *p, int exit_code, const char *fmt, ...)
{
	va_list ap;

	if (p->exit_code != PS_EXIT_OK)
		return -1; /* keep the first cause */
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->exit_code = exit_code;
	ps_error("%s", p->error);
	return -1;
}

static int
fail_pin(ps_poller *p, const char *what)
{
	const ps_pin_status *st = ps_pin_last(p->pin);
	char status[32] = "";

	if (st->http_status)
		snprintf(status, sizeof(status), "HTTP %ld: ", st->http_status);
	return fail(p, PS_EXIT_API, "%s: %s%s (x-pinterest-rid %s)", what, status, st->message,
	            st->request_id[0] ? st->request_id : "none");
}

int
ps_poller_new(ps_poller **out, ps_db *db, ps_pin *pin, const ps_target *target, int64_t run_id,
              const ps_settings *settings)
{
	ps_poller *p = calloc(1, sizeof(*p));

	*out = p;
	if (p == NULL)
		return -1;
	p->db = db;
	p->pin = pin;
	p->target = target;
	p->run_id = run_id;
	p->settings = settings;
	ps_buf_init(&p->resp, PS_PIN_MAX_RESPONSE);
	return 0;
}

void
ps_poller_free(ps_poller *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->count; i++)
		free(p->list[i].batch_id);
	free(p->list);
	ps_buf_free(&p->resp);
	free(p);
}

const ps_poller_stats *
ps_poller_stats_get(const ps_poller *p)
{
	return &p->stats;
}

size_t
ps_poller_unfinished(const ps_poller *p)
{
	return p->unfinished;
}

int
ps_poller_exit_code(const ps_poller *p)
{
	return p->exit_code;
}

const char *
ps_poller_error(const ps_poller *p)
{
	return p->error;
}

/* Starts tracking batch_id (taken over: freed by the poller). */
static int
track(ps_poller *p, int64_t batch_pk, char *batch_id, int resends)
{
	inflight *f;
	double t = ps_clock_now();

	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		inflight *l = realloc(p->list, cap * sizeof(*l));

		if (l == NULL) {
			free(batch_id);
			return fail(p, PS_EXIT_INTERNAL, "out of memory");
		}
		p->list = l;
		p->cap = cap;
	}
	f = &p->list[p->count++];
	f->batch_pk = batch_pk;
	f->batch_id = batch_id;
	f->interval = (double)p->settings->poll_initial_ms / 1000.0;
	f->next_poll = t + f->interval;
	f->deadline = t + (double)p->settings->poll_timeout_s;
	f->resends = resends;
	f->done = 0;
	p->unfinished++;
	return 0;
}

/* POSTs body for the journaled batch batch_pk and records its batch_id.
 * Returns 0 when sent (or refused whole, recorded), -1 on error. */
static int
post(ps_poller *p, int64_t batch_pk, const char *body, size_t len, size_t nitems, int resends)
{
	char *batch_id = NULL;
	int rc;

	ps_crashpoint("before-post");
	rc = ps_pin_batch_send(p->pin, body, len, &batch_id);
	p->stats.batches++;
	if (rc != 0) {
		const ps_pin_status *st = ps_pin_last(p->pin);
		char why[700];

		snprintf(why, sizeof(why), "POST /catalogs/items/batch: HTTP %ld code %ld: %s",
		         st->http_status, st->code, st->message);
		if (rc == PS_PIN_EHTTP && st->http_status >= 400 && st->http_status < 500 &&
		    st->http_status != 401 && st->http_status != 429) {
			/* Pinterest refused this body: its items stay dirty and are
			 * reported; later batches may still go through. */
			ps_error("a batch of %zu items was refused: %s (x-pinterest-rid %s)",
			         nitems, why, st->request_id[0] ? st->request_id : "none");
			p->stats.failed += (int64_t)nitems;
			if (ps_db_batch_mark(p->db, batch_pk, "failed", why) < 0)
				return fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
			return 0;
		}
		/* Not known to have reached Pinterest: the batch stays planned in
		 * the journal, its items dirty. */
		return fail_pin(p, "POST /catalogs/items/batch");
	}
	ps_crashpoint("after-post");
	if (ps_db_batch_sent(p->db, batch_pk, batch_id) < 0) {
		fail(p, PS_EXIT_DB, "%s (batch %s was sent but not recorded)", ps_db_error(p->db),
		     batch_id);
		free(batch_id);
		return -1;
	}
	ps_log_batch(PS_LOG_INFO, batch_id, "sent %zu items", nitems);
	return track(p, batch_pk, batch_id, resends);
}

int
ps_poller_send(ps_poller *p, ps_batch *b)
{
	int64_t batch_pk;
	int seq;

	if (p->exit_code != PS_EXIT_OK)
		return -1;
	if (b->count == 0)
		return 0;
	if (p->unfinished >= (size_t)p->settings->max_inflight &&
	    ps_poller_wait(p, (size_t)p->settings->max_inflight - 1) < 0)
		return -1;
	if (ps_batch_close(b) < 0)
		return fail(p, PS_EXIT_INTERNAL, "encoding a batch failed (out of memory)");
	seq = p->stats.batches + 1;
	/* Invariant 2: written down before it is sent. */
	if (ps_db_batch_plan(p->db, p->run_id, p->target->id, seq, b->body.data, b->body.len,
	                     ps_batch_journal(b), b->count, &batch_pk) < 0)
		return fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
	if (post(p, batch_pk, b->body.data, b->body.len, b->count, 0) < 0)
		return -1;
	if (ps_batch_reset(b) < 0)
		return fail(p, PS_EXIT_INTERNAL, "out of memory");
	return 0;
}

int
ps_poller_adopt(ps_poller *p, int64_t batch_pk, const char *batch_id)
{
	char *copy = strdup(batch_id);

	if (copy == NULL)
		return fail(p, PS_EXIT_INTERNAL, "out of memory");
	return track(p, batch_pk, copy, 0);
}

/* ---- answers ---- */

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

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

static void
finished(ps_poller *p, inflight *f)
{
	f->done = 1;
	p->unfinished--;
}

/* Plans and sends the unanswered items of a lost batch again. */
static int
resend(ps_poller *p, inflight *f)
{
	int64_t batch_pk;
	char *body = NULL;
	size_t count = 0;
	int rc;

	p->stats.lost++;
	if (ps_db_batch_mark(p->db, f->batch_pk, "lost", "Pinterest: 404 code 4331") < 0)
		return fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
	if (f->resends >= MAX_RESENDS) {
		ps_log_batch(PS_LOG_WARN, f->batch_id,
		             "lost again: its items stay dirty for the next run");
		return 0;
	}
	if (ps_db_batch_replan(p->db, f->batch_pk, p->run_id, p->stats.batches + 1,
	                       p->target->catalog_id, p->target->country, p->target->language,
	                       &batch_pk, &body, &count) < 0)
		return fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
	if (count == 0)
		return 0;
	ps_log_batch(
	    PS_LOG_WARN, f->batch_id,
	    "lost by Pinterest (code 4331, x-pinterest-rid %s): sending its %zu items again",
	    ps_pin_last(p->pin)->request_id[0] ? ps_pin_last(p->pin)->request_id : "none", count);
	rc = post(p, batch_pk, body, strlen(body), count, f->resends + 1);
	free(body);
	return rc;
}

/* Records Pinterest's answer for f: 1 when the batch is finished, 0 when
 * still processing, -1 on error. */
static int
record_answer(ps_poller *p, inflight *f)
{
	char err[256];
	yajl_val root = yajl_tree_parse(ps_buf_str(&p->resp), err, sizeof(err));
	yajl_val status, items, created;
	yajl_gen g = NULL;
	const unsigned char *json;
	size_t len, i;
	int64_t ok = 0, failed = 0;
	int rc = -1;

	status = obj_get(root, "status");
	if (status == NULL || !YAJL_IS_STRING(status)) {
		fail(p, PS_EXIT_API, "batch %s: unreadable answer from Pinterest", f->batch_id);
		goto done;
	}
	created = obj_get(root, "created_time");
	if (created && YAJL_IS_NULL(created)) {
		/* Pinterest skipped the batch as a recent duplicate: nothing was
		 * applied by it, so its items stay dirty. */
		ps_log_batch(PS_LOG_WARN, f->batch_id,
		             "skipped by Pinterest as a duplicate (created_time null)");
		if (ps_db_batch_skip(p->db, f->batch_pk, &ok) < 0) {
			fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
			goto done;
		}
		p->stats.skipped += ok;
		rc = 1;
		goto done;
	}
	if (strcmp(status->u.string, "COMPLETED") != 0 && strcmp(status->u.string, "FAILED") != 0) {
		rc = 0;
		goto done;
	}
	items = obj_get(root, "items");
	g = yajl_gen_alloc(NULL);
	if (g == NULL) {
		fail(p, PS_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	yajl_gen_array_open(g);
	for (i = 0; items && YAJL_IS_ARRAY(items) && i < items->u.array.len; i++) {
		yajl_val it = items->u.array.values[i];
		yajl_val id = obj_get(it, "item_id");

		if (id == NULL || !YAJL_IS_STRING(id))
			continue;
		yajl_gen_map_open(g);
		yajl_gen_string(g, (const unsigned char *)"item_id", 7);
		gen_tree(g, id);
		yajl_gen_string(g, (const unsigned char *)"status", 6);
		gen_tree(g, obj_get(it, "status"));
		yajl_gen_string(g, (const unsigned char *)"errors", 6);
		gen_tree(g, obj_get(it, "errors"));
		yajl_gen_string(g, (const unsigned char *)"warnings", 8);
		gen_tree(g, obj_get(it, "warnings"));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_get_buf(g, &json, &len);
	if (ps_db_batch_finish(p->db, f->batch_pk,
	                       strcmp(status->u.string, "COMPLETED") == 0 ? "completed" : "failed",
	                       (const char *)json, &ok, &failed) < 0) {
		fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
		goto done;
	}
	p->stats.succeeded += ok;
	p->stats.failed += failed;
	ps_log_batch(failed ? PS_LOG_WARN : PS_LOG_INFO, f->batch_id,
	             "%s: %" PRId64 " succeeded, %" PRId64 " failed", status->u.string, ok, failed);
	rc = 1;
done:
	if (g)
		yajl_gen_free(g);
	yajl_tree_free(root);
	return rc;
}

/* Polls f once. */
static int
poll_one(ps_poller *p, inflight *f)
{
	int rc = ps_pin_batch_get(p->pin, f->batch_id, &p->resp);

	if (rc == PS_PIN_ELOST) {
		finished(p, f);
		return resend(p, f);
	}
	if (rc != 0)
		return fail_pin(p, "GET /catalogs/items/batch");
	ps_crashpoint("poll");
	rc = record_answer(p, f);
	if (rc < 0)
		return -1;
	if (rc == 1)
		ps_crashpoint("after-record");
	if (rc == 1) {
		finished(p, f);
		return 0;
	}
	/* Still processing: back off, up to the cap. */
	f->interval *= 2;
	if (f->interval > (double)p->settings->poll_max_ms / 1000.0)
		f->interval = (double)p->settings->poll_max_ms / 1000.0;
	f->next_poll = ps_clock_now() + f->interval;
	return 0;
}

int
ps_poller_wait(ps_poller *p, size_t max_pending)
{
	size_t i;

	while (p->exit_code == PS_EXIT_OK) {
		double t = ps_clock_now(), next = 0;
		size_t waiting = 0;

		if (ps_control_stopping() && p->unfinished > max_pending)
			return fail(
			    p, PS_EXIT_INTERRUPTED,
			    "interrupted: %zu batches left in flight, finished by the next run "
			    "or pinsync poll",
			    p->unfinished);

		/* Batches past their deadline are left for pinsync poll. */
		for (i = 0; i < p->count; i++) {
			inflight *f = &p->list[i];

			if (f->done || t < f->deadline)
				continue;
			ps_log_batch(PS_LOG_WARN, f->batch_id,
			             "still processing after %ld s: left for pinsync poll",
			             p->settings->poll_timeout_s);
			finished(p, f);
			p->stats.pending++;
		}
		if (p->unfinished <= max_pending)
			return 0;
		for (i = 0; i < p->count; i++) {
			inflight *f = &p->list[i];

			if (f->done)
				continue;
			if (waiting++ == 0 || f->next_poll < next)
				next = f->next_poll;
		}
		ps_clock_sleep(next - t);
		t = ps_clock_now();
		for (i = 0; i < p->count && p->exit_code == PS_EXIT_OK; i++) {
			inflight *f = &p->list[i];

			if (!f->done && f->next_poll <= t && poll_one(p, f) < 0)
				return -1;
		}
	}
	return -1;
}

/* ---- recovery of batches never confirmed sent ---- */

typedef struct journal_item {
	char *item_id;
	char *operation;
	yajl_val attributes; /* NULL for DELETE */
	yajl_val mask;       /* NULL unless UPDATE */
} journal_item;

typedef struct journal {
	journal_item *items;
	size_t count, cap;
} journal;

static int
collect_item(void *ctx, const char *item_id, const char *operation, const char *attributes,
             const char *update_mask)
{
	journal *j = ctx;
	journal_item *it;
	char err[128];

	if (j->count == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		journal_item *p = realloc(j->items, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		j->items = p;
		j->cap = cap;
	}
	it = &j->items[j->count];
	memset(it, 0, sizeof(*it));
	it->item_id = strdup(item_id);
	it->operation = strdup(operation);
	if (attributes)
		it->attributes = yajl_tree_parse(attributes, err, sizeof(err));
	if (update_mask)
		it->mask = yajl_tree_parse(update_mask, err, sizeof(err));
	j->count++;
	return it->item_id && it->operation ? 0 : -1;
}

static void
journal_free(journal *j)
{
	size_t i;

	for (i = 0; i < j->count; i++) {
		free(j->items[i].item_id);
		free(j->items[i].operation);
		yajl_tree_free(j->items[i].attributes);
		yajl_tree_free(j->items[i].mask);
	}
	free(j->items);
}

/* Whether two JSON values say the same; Pinterest answers image_link as a
 * one-element array where we send a string, and may print numbers its way. */
static int
json_same(yajl_val a, yajl_val b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (YAJL_IS_STRING(a) && YAJL_IS_ARRAY(b) && b->u.array.len == 1)
		return json_same(a, b->u.array.values[0]);
	if (YAJL_IS_STRING(a))
		return YAJL_IS_STRING(b) && strcmp(a->u.string, b->u.string) == 0;
	if (YAJL_IS_NUMBER(a))
		return YAJL_IS_NUMBER(b) &&
		       strtod(a->u.number.r, NULL) == strtod(b->u.number.r, NULL);
	if (YAJL_IS_TRUE(a) || YAJL_IS_FALSE(a) || YAJL_IS_NULL(a))
		return a->type == b->type;
	if (YAJL_IS_ARRAY(a)) {
		if (!YAJL_IS_ARRAY(b) || a->u.array.len != b->u.array.len)
			return 0;
		for (i = 0; i < a->u.array.len; i++)
			if (!json_same(a->u.array.values[i], b->u.array.values[i]))
				return 0;
		return 1;
	}
	if (YAJL_IS_OBJECT(a)) {
		if (!YAJL_IS_OBJECT(b))
			return 0;
		for (i = 0; i < a->u.object.len; i++)
			if (!json_same(a->u.object.values[i], obj_get(b, a->u.object.keys[i])))
				return 0;
		return 1;
	}
	return 0;
}

/* Whether Pinterest's item (its attributes, NULL when absent) shows the
 * journal's operation applied. */
static int
applied(const journal_item *it, yajl_val found)
{
	size_t i;

	if (strcmp(it->operation, "DELETE") == 0)
		return found == NULL;
	if (found == NULL || it->attributes == NULL || !YAJL_IS_OBJECT(it->attributes))
		return 0;
	/* Every attribute sent is there with its value ... */
	if (!json_same(it->attributes, found))
		return 0;
	/* ... and every attribute an UPDATE cleared is gone. */
	for (i = 0; it->mask && YAJL_IS_ARRAY(it->mask) && i < it->mask->u.array.len; i++) {
		yajl_val name = it->mask->u.array.values[i];
		yajl_val v;

		if (!YAJL_IS_STRING(name) || obj_get(it->attributes, name->u.string))
			continue;
		v = obj_get(found, name->u.string);
		if (v && !YAJL_IS_NULL(v))
			return 0;
	}
	return 1;
}

#define GEN_S(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

int
ps_poller_recover(ps_poller *p, int64_t batch_pk)
{
	journal j = {NULL, 0, 0};
	yajl_gen g = NULL, r = NULL;
	yajl_val root = NULL, items;
	const unsigned char *body, *results;
	size_t len, rlen, i, k;
	int64_t ok = 0, failed = 0;
	char err[128], why[200];
	int rc = -1;

	if (ps_db_batch_items(p->db, batch_pk, collect_item, &j) < 0) {
		fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
		goto done;
	}
	g = yajl_gen_alloc(NULL);
	r = yajl_gen_alloc(NULL);
	if (g == NULL || r == NULL) {
		fail(p, PS_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	yajl_gen_array_open(r);
	if (j.count > 0) {
		/* One read-back request: a batch holds at most 1000 items, the
		 * filter's maxItems. */
		yajl_gen_map_open(g);
		GEN_S(g, "country");
		GEN_S(g, p->target->country);
		GEN_S(g, "language");
		GEN_S(g, p->target->language);
		GEN_S(g, "filters");
		yajl_gen_map_open(g);
		GEN_S(g, "catalog_type");
		GEN_S(g, "RETAIL");
		GEN_S(g, "catalog_id");
		GEN_S(g, p->target->catalog_id);
		GEN_S(g, "item_ids");
		yajl_gen_array_open(g);
		for (i = 0; i < j.count; i++)
			GEN_S(g, j.items[i].item_id);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		yajl_gen_get_buf(g, &body, &len);
		if (ps_pin_request(p->pin, "POST", "/catalogs/items", (const char *)body, len,
		                   &p->resp) != 0) {
			fail_pin(p, "POST /catalogs/items (reading back an unconfirmed batch)");
			goto done;
		}
		root = yajl_tree_parse(ps_buf_str(&p->resp), err, sizeof(err));
		items = obj_get(root, "items");
		for (i = 0; i < j.count; i++) {
			yajl_val found = NULL;

			for (k = 0; items && YAJL_IS_ARRAY(items) && k < items->u.array.len; k++) {
				yajl_val e = items->u.array.values[k], id = obj_get(e, "item_id");

				if (id && YAJL_IS_STRING(id) &&
				    strcmp(id->u.string, j.items[i].item_id) == 0 &&
				    obj_get(e, "attributes")) {
					found = obj_get(e, "attributes");
					break;
				}
			}
			if (!applied(&j.items[i], found))
				continue;
			yajl_gen_map_open(r);
			GEN_S(r, "item_id");
			GEN_S(r, j.items[i].item_id);
			GEN_S(r, "status");
			GEN_S(r, "SUCCESS");
			yajl_gen_map_close(r);
		}
	}
	yajl_gen_array_close(r);
	yajl_gen_get_buf(r, &results, &rlen);
	if (ps_db_batch_finish(p->db, batch_pk, "abandoned", (const char *)results, &ok, &failed) <
	    0) {
		fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
		goto done;
	}
	snprintf(why, sizeof(why),
	         "never confirmed sent: %" PRId64 " of %zu items found applied on Pinterest, the "
	         "others go out again",
	         ok, j.count);
	if (ps_db_batch_mark(p->db, batch_pk, "abandoned", why) < 0) {
		fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
		goto done;
	}
	ps_warn("a batch of an earlier run was %s", why);
	p->stats.succeeded += ok;
	rc = 0;
done:
	if (g)
		yajl_gen_free(g);
	if (r)
		yajl_gen_free(r);
	yajl_tree_free(root);
	journal_free(&j);
	return rc;
}
