/*
 * poller.c: sending batches and following them, and their items, to their
 * end (see poller.h for the states an item ends in).
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

#include "answers.h"
#include "catalog.h"
#include "changes.h"
#include "clock.h"
#include "control.h"
#include "log.h"
#include "run.h"

/* A lost batch goes out again at most this many times in one run. */
#define MAX_RESENDS 3
/* POSTs spent isolating the items of batches refused whole, per run: a
 * refusal that is not an item's (every half refused again) costs at most
 * this, not two POSTs per item. */
#define MAX_SPLIT_POSTS 256

#define GEN_S(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

typedef struct inflight {
	int64_t batch_pk;
	char *batch_id;
	double next_poll; /* monotonic seconds */
	double interval;  /* seconds to the poll after next */
	double deadline;
	size_t nitems;
	int resends;
	int follow; /* a follow-up batch: its failures are verdicts */
	int status_warned;
	int done;
} inflight;

struct ps_poller {
	ps_db *db;
	ps_pin *pin;
	ps_target *target; /* its catalog ownership is updated by a re-check */
	int64_t run_id;
	const ps_settings *settings;
	/* Batches tracked, each allocated on its own: a follow-up sent while
	 * an answer is recorded grows the list, and the inflight being
	 * recorded must stay where it is. */
	inflight **list;
	size_t count, cap;
	size_t unfinished;
	int seq;         /* batches planned by this poller */
	int rechecked;   /* catalog ownership checked again after UPSERT failures */
	int split_posts; /* POSTs spent on splitting */
	ps_buf resp;
	ps_poller_stats stats;
	/* Follow-up operations, sent by ps_poller_wait() (or when full). */
	ps_batch follow;
	int follow_ready;
	/* Items whose DELETE is on its way, to CREATE once it succeeded. */
	ps_itemset *recreate;
	unsigned char *recreate_done;
	size_t recreate_left;
	ps_buf arena; /* an item rebuilt from JSON */
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
fail_pin(ps_poller *p, int rc, const char *what)
{
	const ps_pin_status *st = ps_pin_last(p->pin);
	char status[32] = "";

	if (rc == PS_PIN_ESTOP) /* a stop, not a failure: as at the loop's top */
		return fail(p, PS_EXIT_INTERRUPTED,
		            "interrupted (%s): %zu batches left in flight, finished by the next "
		            "run or pinsync poll; %s: %s",
		            ps_control_stop_reason(), p->unfinished, what, st->message);
	if (st->token_refresh) /* its status is not the request's */
		return fail(p, PS_EXIT_API, "%s: %s", what, st->message);
	if (st->http_status)
		snprintf(status, sizeof(status), "HTTP %ld: ", st->http_status);
	return fail(p, PS_EXIT_API, "%s: %s%s (x-pinterest-rid %s)", what, status, st->message,
	            st->request_id[0] ? st->request_id : "none");
}

static int
fail_db(ps_poller *p)
{
	return fail(p, PS_EXIT_DB, "%s", ps_db_error(p->db));
}

int
ps_poller_new(ps_poller **out, ps_db *db, ps_pin *pin, ps_target *target, int64_t run_id,
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
	ps_buf_init(&p->arena, PS_BATCH_HARD_BYTES);
	if (ps_batch_init(&p->follow, target->catalog_id, target->country, target->language) < 0)
		return -1;
	p->follow_ready = 1;
	return 0;
}

void
ps_poller_free(ps_poller *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->count; i++) {
		free(p->list[i]->batch_id);
		free(p->list[i]);
	}
	free(p->list);
	ps_buf_free(&p->resp);
	ps_buf_free(&p->arena);
	if (p->follow_ready)
		ps_batch_free(&p->follow);
	ps_itemset_free(p->recreate);
	free(p->recreate_done);
	free(p);
}

const ps_poller_stats *
ps_poller_stats_get(const ps_poller *p)
{
	return &p->stats;
}

void
ps_poller_stats_reset(ps_poller *p)
{
	memset(&p->stats, 0, sizeof(p->stats));
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
track(ps_poller *p, int64_t batch_pk, char *batch_id, size_t nitems, int resends, int follow)
{
	inflight *f;
	double t = ps_clock_now();

	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		inflight **l = realloc(p->list, cap * sizeof(*l));

		if (l == NULL) {
			free(batch_id);
			return fail(p, PS_EXIT_INTERNAL, "out of memory");
		}
		p->list = l;
		p->cap = cap;
	}
	if ((f = malloc(sizeof(*f))) == NULL) {
		free(batch_id);
		return fail(p, PS_EXIT_INTERNAL, "out of memory");
	}
	p->list[p->count++] = f;
	memset(f, 0, sizeof(*f));
	f->batch_pk = batch_pk;
	f->batch_id = batch_id;
	f->nitems = nitems;
	f->interval = (double)p->settings->poll_initial_ms / 1000.0;
	f->next_poll = t + f->interval;
	f->deadline = t + (double)p->settings->poll_timeout_s;
	f->resends = resends;
	f->follow = follow;
	p->unfinished++;
	return 0;
}

/* ---- batches refused whole ---- */

typedef struct id_list {
	char **ids;
	size_t count, cap;
} id_list;

static int
id_list_add(id_list *l, const char *id)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **n = realloc(l->ids, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		l->ids = n;
		l->cap = cap;
	}
	if ((l->ids[l->count] = strdup(id)) == NULL)
		return -1;
	l->count++;
	return 0;
}

static void
id_list_free(id_list *l)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		free(l->ids[i]);
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

/* A ps_db_journal_cb collecting ids. */
static int
collect_id(void *ctx, const char *item_id, const char *operation, const char *attributes,
           const char *update_mask)
{
	(void)operation;
	(void)attributes;
	(void)update_mask;
	return id_list_add(ctx, item_id) < 0 ? -1 : 0;
}

/* Records every item of a batch Pinterest refused whole as rejected, with
 * the API's answer as the reason. */
static int
reject_whole(ps_poller *p, int64_t batch_pk, const char *why)
{
	id_list ids = {0};
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *json;
	ps_batch_counts c;
	const ps_pin_status *st = ps_pin_last(p->pin);
	size_t len, i;
	int rc = -1;

	if (g == NULL || ps_db_batch_items(p->db, batch_pk, NULL, collect_id, &ids) < 0) {
		if (g)
			fail_db(p);
		else
			fail(p, PS_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	yajl_gen_array_open(g);
	for (i = 0; i < ids.count; i++) {
		yajl_gen_map_open(g);
		GEN_S(g, "item_id");
		GEN_S(g, ids.ids[i]);
		GEN_S(g, "status");
		GEN_S(g, "FAILURE");
		GEN_S(g, "errors");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		GEN_S(g, "code");
		yajl_gen_integer(g, st->code >= 0 ? st->code : st->http_status);
		GEN_S(g, "message");
		GEN_S(g, why);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_get_buf(g, &json, &len);
	if (ps_db_batch_finish(p->db, batch_pk, "failed", (const char *)json, &c) < 0 ||
	    ps_db_batch_mark(p->db, batch_pk, "failed", why) < 0) {
		fail_db(p);
		goto done;
	}
	p->stats.failed += c.failed;
	rc = 0;
done:
	if (g)
		yajl_gen_free(g);
	id_list_free(&ids);
	return rc;
}

static int post(ps_poller *p, int64_t batch_pk, const char *body, size_t len, size_t nitems,
                int resends, int follow);

/* Plans a batch of the items of from_pk without a result (all of them, or
 * the range first/limit in id order) and sends it. */
static int
replan_and_post(ps_poller *p, int64_t from_pk, size_t first, size_t limit, int resends, int follow)
{
	ps_replan rp = {from_pk,
	                p->run_id,
	                ++p->seq,
	                p->target->catalog_id,
	                p->target->country,
	                p->target->language,
	                first,
	                limit};
	int64_t batch_pk;
	char *body = NULL;
	size_t count = 0;
	int rc;

	if (ps_db_batch_replan(p->db, &rp, &batch_pk, &body, &count) < 0)
		return fail_db(p);
	if (count == 0)
		return 0;
	rc = post(p, batch_pk, body, strlen(body), count, resends, follow);
	free(body);
	return rc;
}

/* Pinterest refused a whole batch (HTTP 4xx): split it when that may
 * isolate the items it refuses, else reject its items. */
static int
refused(ps_poller *p, int64_t batch_pk, size_t nitems, int follow)
{
	const ps_pin_status *st = ps_pin_last(p->pin);
	char why[1024];
	size_t half = nitems / 2;

	snprintf(why, sizeof(why), "POST /catalogs/items/batch: HTTP %ld code %ld: %s",
	         st->http_status, st->code, st->message);
	/* 400 (an item the schema refuses) and 413 (a body too large) may be
	 * one item's doing; other 4xx (an unknown catalog, no access) are the
	 * whole request's. */
	if (nitems > 1 && (st->http_status == 400 || st->http_status == 413) &&
	    p->split_posts + 2 <= MAX_SPLIT_POSTS) {
		ps_warn("a batch of %zu items was refused whole (%s, x-pinterest-rid %s): sending "
		        "it again in halves to isolate the items refused",
		        nitems, why, st->request_id[0] ? st->request_id : "none");
		p->stats.split++;
		p->split_posts += 2;
		if (ps_db_batch_mark(p->db, batch_pk, "split", why) < 0)
			return fail_db(p);
		if (replan_and_post(p, batch_pk, 0, half, 0, follow) < 0 ||
		    replan_and_post(p, batch_pk, half, 0, 0, follow) < 0)
			return -1;
		return 0;
	}
	if (nitems > 1 && (st->http_status == 400 || st->http_status == 413))
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		         " (not split further: this run spent its %d POSTs for splitting)",
		         MAX_SPLIT_POSTS);
	ps_error("a batch of %zu items was refused: %s (x-pinterest-rid %s)", nitems, why,
	         st->request_id[0] ? st->request_id : "none");
	return reject_whole(p, batch_pk, why);
}

/* POSTs body for the journaled batch batch_pk and records its batch_id.
 * Returns 0 when sent (or refused whole, recorded), -1 on error. */
static int
post(ps_poller *p, int64_t batch_pk, const char *body, size_t len, size_t nitems, int resends,
     int follow)
{
	char *batch_id = NULL;
	int rc;

	ps_crashpoint("before-post");
	rc = ps_pin_batch_send(p->pin, body, len, &batch_id);
	p->stats.batches++;
	if (rc != 0) {
		long http = ps_pin_last(p->pin)->http_status;

		if (rc == PS_PIN_EHTTP && http >= 400 && http < 500 && http != 401 && http != 429)
			return refused(p, batch_pk, nitems, follow);
		/* Not known to have reached Pinterest: the batch stays planned in
		 * the journal, its items dirty. */
		return fail_pin(p, rc, "POST /catalogs/items/batch");
	}
	ps_crashpoint("after-post");
	if (ps_db_batch_sent(p->db, batch_pk, batch_id) < 0) {
		fail(p, PS_EXIT_DB, "%s (batch %s was sent but not recorded)", ps_db_error(p->db),
		     batch_id);
		free(batch_id);
		return -1;
	}
	ps_log_batch(PS_LOG_INFO, batch_id, "sent %zu items%s", nitems,
	             follow ? " (follow-up)" : "");
	return track(p, batch_pk, batch_id, nitems, resends, follow);
}

/* Journals and sends b, then empties it. */
static int
send_batch(ps_poller *p, ps_batch *b, int follow)
{
	int64_t batch_pk;

	if (b->count == 0)
		return 0;
	if (ps_batch_close(b) < 0)
		return fail(p, PS_EXIT_INTERNAL, "encoding a batch failed (out of memory)");
	/* Invariant 2: written down before it is sent. */
	if (ps_db_batch_plan(p->db, p->run_id, p->target->id, ++p->seq, b->body.data, b->body.len,
	                     ps_batch_journal(b), b->count, &batch_pk) < 0)
		return fail_db(p);
	if (post(p, batch_pk, b->body.data, b->body.len, b->count, 0, follow) < 0)
		return -1;
	if (ps_batch_reset(b) < 0)
		return fail(p, PS_EXIT_INTERNAL, "out of memory");
	return 0;
}

/* A stop (a signal, the run's deadline) came: nothing more goes out. */
static int
interrupted(ps_poller *p)
{
	return fail(p, PS_EXIT_INTERRUPTED,
	            "interrupted (%s): %zu batches left in flight, finished by the next run or "
	            "pinsync poll; the items not yet sent go out with the next run",
	            ps_control_stop_reason(), p->unfinished);
}

int
ps_poller_send(ps_poller *p, ps_batch *b)
{
	if (p->exit_code != PS_EXIT_OK)
		return -1;
	if (b->count == 0)
		return 0;
	if (ps_control_stopping())
		return interrupted(p);
	if (p->unfinished >= (size_t)p->settings->max_inflight &&
	    ps_poller_wait(p, (size_t)p->settings->max_inflight - 1) < 0)
		return -1;
	return send_batch(p, b, 0);
}

/* Makes room in the follow-up batch for one more item. */
static int
follow_room(ps_poller *p)
{
	return ps_batch_full(&p->follow) ? send_batch(p, &p->follow, 1) : 0;
}

int
ps_poller_recreate(ps_poller *p, const ps_item *item)
{
	const ps_slice *id = &item->values[PS_ATTR_ID];
	size_t n;

	if (p->exit_code != PS_EXIT_OK)
		return -1;
	if (p->recreate == NULL) {
		if (ps_itemset_new(&p->recreate) < 0 ||
		    (p->recreate_done = calloc(PS_RECREATE_MAX, 1)) == NULL)
			return fail(p, PS_EXIT_INTERNAL, "out of memory");
	}
	n = ps_itemset_count(p->recreate);
	if (n >= PS_RECREATE_MAX)
		return 1;
	if (follow_room(p) < 0)
		return -1;
	if (ps_itemset_add(p->recreate, item) < 0 ||
	    ps_batch_add_delete(&p->follow, id->ptr, id->len) < 0)
		return fail(p, PS_EXIT_INTERNAL, "out of memory");
	p->recreate_done[n] = 0;
	p->recreate_left++;
	return 0;
}

int
ps_poller_adopt(ps_poller *p, int64_t batch_pk, const char *batch_id)
{
	char *copy = strdup(batch_id);

	if (copy == NULL)
		return fail(p, PS_EXIT_INTERNAL, "out of memory");
	return track(p, batch_pk, copy, 0, 0, 0);
}

/* ---- answers ---- */

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
	p->stats.lost++;
	if (ps_db_batch_mark(p->db, f->batch_pk, "lost", "Pinterest: 404 code 4331") < 0)
		return fail_db(p);
	if (f->resends >= MAX_RESENDS) {
		ps_log_batch(PS_LOG_WARN, f->batch_id,
		             "lost again: its %zu items stay pending for the next run", f->nitems);
		p->stats.pending += (int64_t)f->nitems;
		return 0;
	}
	ps_log_batch(PS_LOG_WARN, f->batch_id,
	             "lost by Pinterest (code 4331, x-pinterest-rid %s): sending its items again",
	             ps_pin_last(p->pin)->request_id[0] ? ps_pin_last(p->pin)->request_id : "none");
	return replan_and_post(p, f->batch_pk, 0, 0, f->resends + 1, f->follow);
}

/* Items waiting to be created again whose DELETE this answer confirms:
 * their CREATE joins the follow-up batch. */
static int
recreate_confirmed(ps_poller *p, yajl_val items)
{
	size_t i, n = p->recreate ? ps_itemset_count(p->recreate) : 0;

	for (i = 0; i < n && p->recreate_left > 0; i++) {
		const char *st;
		ps_item item;

		if (p->recreate_done[i])
			continue;
		st = ps_batch_answer_status_of(items, ps_itemset_id(p->recreate, i));
		if (st == NULL)
			continue;
		p->recreate_done[i] = 1;
		p->recreate_left--;
		if (strcmp(st, "SUCCESS") != 0)
			continue; /* the DELETE's own verdict says why */
		ps_itemset_get(p->recreate, i, &item);
		if (follow_room(p) < 0)
			return -1;
		if (ps_batch_add_item(&p->follow, "CREATE", &item) < 0)
			return fail(p, PS_EXIT_INTERNAL, "out of memory");
	}
	if (p->recreate_left == 0 && n > 0) {
		ps_itemset_reset(p->recreate);
		memset(p->recreate_done, 0, PS_RECREATE_MAX);
	}
	return 0;
}

/* ---- follow-ups of failures ---- */

/* One failed item of a finished batch, and what a read-back found. */
typedef struct failed_item {
	char *item_id;
	char *operation;
	char *attributes; /* JSON object as sent, or NULL (DELETE) */
	ps_rb_state state;
	size_t fp_len; /* what Pinterest holds, when PRESENT */
	unsigned char fp[PS_FP_MAX];
} failed_item;

typedef struct failures {
	failed_item *items;
	size_t count, cap;
	ps_buf *arena;
} failures;

static int
collect_failure(void *ctx, const char *item_id, const char *operation, const char *attributes,
                const char *update_mask)
{
	failures *fs = ctx;
	failed_item *it;

	(void)update_mask;
	if (fs->count == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 64;
		failed_item *n = realloc(fs->items, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		fs->items = n;
		fs->cap = cap;
	}
	it = &fs->items[fs->count++];
	memset(it, 0, sizeof(*it));
	it->state = PS_RB_UNKNOWN;
	it->item_id = strdup(item_id);
	it->operation = strdup(operation);
	it->attributes = attributes ? strdup(attributes) : NULL;
	return it->item_id && it->operation && (attributes == NULL || it->attributes) ? 0 : -1;
}

static void
failures_free(failures *fs)
{
	size_t i;

	for (i = 0; i < fs->count; i++) {
		free(fs->items[i].item_id);
		free(fs->items[i].operation);
		free(fs->items[i].attributes);
	}
	free(fs->items);
}

/* A ps_readback_cb: what Pinterest holds for one failed item. */
static int
on_readback(void *ctx, const char *item_id, ps_rb_state state, yajl_val value)
{
	failures *fs = ctx;
	size_t i;

	for (i = 0; i < fs->count; i++) {
		failed_item *it = &fs->items[i];
		ps_item held;

		if (strcmp(it->item_id, item_id) != 0)
			continue;
		it->state = state;
		if (state == PS_RB_PRESENT) {
			if (ps_item_from_json(&held, fs->arena, item_id, value) < 0)
				return 1; /* out of memory */
			it->fp_len = ps_fingerprint(&held, it->fp);
		}
		return 0;
	}
	return 0;
}

/* Records what was done for one item, in the resolutions array g. */
static void
resolution(yajl_gen g, const char *item_id, const char *status, const char *text)
{
	yajl_gen_map_open(g);
	GEN_S(g, "item_id");
	GEN_S(g, item_id);
	GEN_S(g, "resolution");
	GEN_S(g, text);
	if (status) {
		GEN_S(g, "status");
		GEN_S(g, status);
	}
	yajl_gen_map_close(g);
}

/* An item present on Pinterest for which a CREATE or an UPSERT failed:
 * send what Pinterest lacks. Returns the resolution's status (SUCCESS when
 * Pinterest holds the item already) through *status, the text in why. */
static int
follow_present(ps_poller *p, failed_item *it, const char **status, char *why, size_t whylen)
{
	unsigned char changed[PS_ATTR__COUNT];
	char err[128];
	yajl_val attrs =
	    it->attributes ? ps_json_parse_str(it->attributes, err, sizeof(err)) : NULL;
	ps_item item;
	int upsert = 0, n, rc = 0;

	*status = NULL;
	if (attrs == NULL || ps_item_from_json(&item, &p->arena, it->item_id, attrs) < 0) {
		yajl_tree_free(attrs);
		snprintf(why, whylen, "the journal's attributes could not be read; pending");
		p->stats.pending++;
		return 0;
	}
	n = ps_changes_compute(&item, it->fp, it->fp_len, changed, &upsert);
	if (n == 0 && !upsert) {
		*status = "SUCCESS";
		snprintf(why, whylen,
		         "%s failed, but Pinterest holds the item exactly as sent (read back)",
		         it->operation);
		p->stats.succeeded++;
	} else if (ps_catalog_api_owned(p->target) && strcmp(it->operation, "UPSERT") != 0) {
		snprintf(why, whylen, "the item exists on Pinterest (read back): sent as UPSERT");
		p->stats.followed_up++;
		if ((rc = follow_room(p)) == 0 &&
		    ps_batch_add_item(&p->follow, "UPSERT", &item) < 0)
			rc = fail(p, PS_EXIT_INTERNAL, "out of memory");
	} else if (upsert) {
		/* An image differs: UPDATE cannot carry it, UPSERT is refused. */
		rc = ps_poller_recreate(p, &item);
		if (rc == 1) {
			snprintf(why, whylen,
			         "the item exists on Pinterest with another image (read "
			         "back); pending: too many items to recreate in one run");
			p->stats.pending++;
			rc = 0;
		} else {
			snprintf(why, whylen,
			         "the item exists on Pinterest with another image (read "
			         "back): sent as DELETE then CREATE");
			p->stats.followed_up++;
		}
	} else {
		snprintf(why, whylen,
		         "the item exists on Pinterest (read back): sent as UPDATE of the %d "
		         "attributes that differ",
		         n);
		p->stats.followed_up++;
		if ((rc = follow_room(p)) == 0 &&
		    ps_batch_add_update(&p->follow, &item, changed) < 0)
			rc = fail(p, PS_EXIT_INTERNAL, "out of memory");
	}
	yajl_tree_free(attrs);
	return rc;
}

/* A CREATE whose item is absent, from an UPSERT that failed. */
static int
follow_create(ps_poller *p, failed_item *it, char *why, size_t whylen)
{
	char err[128];
	yajl_val attrs =
	    it->attributes ? ps_json_parse_str(it->attributes, err, sizeof(err)) : NULL;
	ps_item item;
	int rc = 0;

	if (attrs == NULL || ps_item_from_json(&item, &p->arena, it->item_id, attrs) < 0) {
		snprintf(why, whylen, "the journal's attributes could not be read; pending");
		p->stats.pending++;
	} else {
		snprintf(why, whylen,
		         "UPSERT failed and Pinterest does not give the item (read "
		         "back): sent as CREATE");
		p->stats.followed_up++;
		if ((rc = follow_room(p)) == 0 &&
		    ps_batch_add_item(&p->follow, "CREATE", &item) < 0)
			rc = fail(p, PS_EXIT_INTERNAL, "out of memory");
	}
	yajl_tree_free(attrs);
	return rc;
}

/* Decides the fate of one failed item from what the read-back found, and
 * writes its resolution to g (nothing when the failure is its verdict). */
static int
follow_one(ps_poller *p, failed_item *it, yajl_gen g, id_list *forget, int upsert_refusable)
{
	const char *op = it->operation, *status = NULL;
	char why[300];
	int rc = 0;

	if (strcmp(op, "UPSERT") == 0 && !upsert_refusable) {
		/* Only a feed data source makes Pinterest refuse an UPSERT for
		 * the catalog's state; the catalog has none: the item's own. */
		p->stats.failed++;
		return 0;
	}
	if (it->state == PS_RB_UNKNOWN) {
		snprintf(why, sizeof(why),
		         "%s failed and the item could not be read back: no verdict; pending", op);
		p->stats.pending++;
	} else if (strcmp(op, "DELETE") == 0) {
		if (it->state == PS_RB_PRESENT) {
			p->stats.failed++; /* the DELETE's own failure */
			return 0;
		}
		status = "SUCCESS";
		snprintf(why, sizeof(why),
		         "DELETE failed, and Pinterest does not give the item (read back): "
		         "nothing left to delete");
		p->stats.succeeded++;
	} else if (strcmp(op, "UPDATE") == 0) {
		if (it->state == PS_RB_PRESENT) {
			p->stats.failed++;
			return 0;
		}
		/* Deleted outside pinsync: the UPDATE cannot carry the whole item,
		 * so the snapshot forgets it and the next run sends it whole. */
		snprintf(why, sizeof(why),
		         "UPDATE failed and Pinterest does not give the item (read back): "
		         "pending, the next run sends it whole");
		p->stats.pending++;
		if (id_list_add(forget, it->item_id) < 0)
			return fail(p, PS_EXIT_INTERNAL, "out of memory");
	} else if (it->state == PS_RB_PRESENT) { /* CREATE, UPSERT */
		rc = follow_present(p, it, &status, why, sizeof(why));
	} else if (strcmp(op, "UPSERT") == 0) {
		rc = follow_create(p, it, why, sizeof(why));
	} else {
		/* A CREATE refused while Pinterest does not give the item: the
		 * failure is the item's own. */
		p->stats.failed++;
		return 0;
	}
	if (rc == 0)
		resolution(g, it->item_id, status, why);
	return rc;
}

/* UPSERTs failed: Pinterest refuses them on a catalog with a feed data
 * source, which the catalog may have gained since it was checked. Checks
 * again (once per run) and returns whether the catalog has one, or may
 * have (the check failed). */
static int
recheck_ownership(ps_poller *p)
{
	ps_target *t = p->target;
	int has;

	if (!p->rechecked) {
		p->rechecked = 1;
		if (ps_catalog_feed_source(p->pin, t, &has) != 0) {
			ps_warn(
			    "UPSERTs failed and checking catalog %s for a feed data source failed "
			    "too (%s): reading the items back",
			    t->catalog_id, ps_pin_last(p->pin)->message);
			return 1;
		}
		if (has && t->feed_source != 1)
			ps_warn(
			    "catalog %s has a feed data source now: Pinterest refuses UPSERT "
			    "there; "
			    "the items refused are read back and sent as CREATE or UPDATE, and new "
			    "items go out as CREATE from now on",
			    t->catalog_id);
		t->feed_source = has;
		t->feed_source_checked_at = time(NULL);
		if (ps_db_target_ownership_set(p->db, t->id, has) < 0) {
			fail_db(p);
			return 1;
		}
	}
	return t->feed_source != 0;
}

/* After a batch planned from the feed finished with failures: reads the
 * failed items back and acts on what Pinterest holds. */
static int
follow_up(ps_poller *p, inflight *f, int64_t nfailed)
{
	failures fs = {NULL, 0, 0, &p->arena};
	id_list forget = {0};
	const char **ids = NULL;
	yajl_gen g = NULL;
	const unsigned char *json;
	size_t len, i, nread = 0;
	int rc = -1, upsert_failed = 0, upsert_refusable = 0;

	if (ps_db_batch_items(p->db, f->batch_pk, "FAILURE", collect_failure, &fs) < 0) {
		fail_db(p);
		goto done;
	}
	if ((ids = calloc(fs.count + 1, sizeof(*ids))) == NULL ||
	    (g = yajl_gen_alloc(NULL)) == NULL) {
		fail(p, PS_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	for (i = 0; i < fs.count; i++)
		upsert_failed |= strcmp(fs.items[i].operation, "UPSERT") == 0;
	if (upsert_failed)
		upsert_refusable = recheck_ownership(p);
	for (i = 0; i < fs.count; i++)
		if (upsert_refusable || strcmp(fs.items[i].operation, "UPSERT") != 0)
			ids[nread++] = fs.items[i].item_id;
	/* A failed read-back leaves its items UNKNOWN (pending): logged once
	 * here, not an error of the run. */
	rc = ps_catalog_read(p->pin, p->target, ids, nread, on_readback, &fs);
	if (rc < 0) {
		const ps_pin_status *st = ps_pin_last(p->pin);

		ps_log_batch(PS_LOG_WARN, f->batch_id,
		             "reading back %zu failed items: HTTP %ld: %s (x-pinterest-rid %s); "
		             "they stay pending",
		             nread, st->http_status, st->message,
		             st->request_id[0] ? st->request_id : "none");
	} else if (rc != 0) {
		fail(p, PS_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	rc = -1;
	yajl_gen_array_open(g);
	for (i = 0; i < fs.count; i++)
		if (follow_one(p, &fs.items[i], g, &forget, upsert_refusable) < 0)
			goto done;
	yajl_gen_array_close(g);
	yajl_gen_get_buf(g, &json, &len);
	if (ps_db_batch_resolve(p->db, f->batch_pk, (const char *)json) < 0 ||
	    (forget.count &&
	     ps_db_snapshot_forget(p->db, p->target->id, (const char *const *)forget.ids,
	                           forget.count) < 0)) {
		fail_db(p);
		goto done;
	}
	ps_log_batch(PS_LOG_INFO, f->batch_id, "%" PRId64 " failures read back and followed up",
	             nfailed);
	rc = 0;
done:
	if (g)
		yajl_gen_free(g);
	free(ids);
	failures_free(&fs);
	id_list_free(&forget);
	return rc;
}

/* Records Pinterest's answer for f: 1 when the batch is finished, 0 when
 * still processing, -1 on error. */
static int
record_answer(ps_poller *p, inflight *f)
{
	ps_batch_answer a;
	yajl_gen g = NULL;
	const unsigned char *json;
	ps_batch_counts c;
	size_t len;
	int rc = -1;
	int64_t skipped;

	if (ps_batch_answer_read(&a, ps_buf_str(&p->resp), p->resp.len) < 0) {
		/* Not an answer pinsync can read (not JSON, too deep, no status):
		 * no verdict yet. It asks again until the batch's deadline, then
		 * leaves it pending. */
		if (!f->status_warned++)
			ps_log_batch(PS_LOG_WARN, f->batch_id,
			             "unreadable answer from Pinterest: polling again");
		rc = 0;
		goto done;
	}
	if (a.skipped) {
		/* Pinterest skipped the batch as a recent duplicate: nothing was
		 * applied by it, so its items stay dirty. */
		ps_log_batch(PS_LOG_WARN, f->batch_id,
		             "skipped by Pinterest as a duplicate (created_time null): its items "
		             "stay pending");
		if (ps_db_batch_skip(p->db, f->batch_pk, &skipped) < 0) {
			fail_db(p);
			goto done;
		}
		p->stats.skipped += skipped;
		p->stats.pending += skipped;
		rc = 1;
		goto done;
	}
	if (strcmp(a.status, "COMPLETED") != 0 && strcmp(a.status, "FAILED") != 0) {
		char q[96];

		if (strcmp(a.status, "PROCESSING") != 0 && !f->status_warned++)
			ps_log_batch(PS_LOG_WARN, f->batch_id,
			             "batch status \"%s\" is not one pinsync knows: polling again",
			             ps_log_quote(q, sizeof(q), a.status));
		rc = 0;
		goto done;
	}
	g = yajl_gen_alloc(NULL);
	if (g == NULL) {
		fail(p, PS_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	ps_batch_answer_results(&a, f->batch_id, g);
	yajl_gen_get_buf(g, &json, &len);
	if (ps_db_batch_finish(p->db, f->batch_pk,
	                       strcmp(a.status, "COMPLETED") == 0 ? "completed" : "failed",
	                       (const char *)json, &c) < 0) {
		fail_db(p);
		goto done;
	}
	p->stats.succeeded += c.succeeded;
	p->stats.pending += c.pending;
	ps_log_batch(c.failed || c.pending ? PS_LOG_WARN : PS_LOG_INFO, f->batch_id,
	             "%s: %" PRId64 " succeeded, %" PRId64 " failed, %" PRId64 " without a verdict",
	             a.status, c.succeeded, c.failed, c.pending);
	if (c.failed > 0 && !f->follow) {
		if (follow_up(p, f, c.failed) < 0)
			goto done;
	} else {
		p->stats.failed += c.failed;
	}
	/* The DELETEs of items to create again travel in follow-up batches
	 * only (the id may be in a batch of the feed's too, as a CREATE). */
	if (f->follow && p->recreate_left > 0 && recreate_confirmed(p, a.items) < 0)
		goto done;
	rc = 1;
done:
	if (g)
		yajl_gen_free(g);
	ps_batch_answer_free(&a);
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
		return fail_pin(p, rc, "GET /catalogs/items/batch");
	ps_crashpoint("poll");
	rc = record_answer(p, f);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		ps_crashpoint("after-record");
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

		/* A stop leaves what is in flight to the journal, and sends no
		 * follow-up: their items stay dirty for the next run. */
		if (ps_control_stopping() &&
		    (p->unfinished > max_pending || (max_pending == 0 && p->follow.count > 0)))
			return interrupted(p);

		/* Batches past their deadline are left for pinsync poll. */
		for (i = 0; i < p->count; i++) {
			inflight *f = p->list[i];

			if (f->done || t < f->deadline)
				continue;
			ps_log_batch(PS_LOG_WARN, f->batch_id,
			             "still processing after %ld s: left for pinsync poll, its %zu "
			             "items pending",
			             p->settings->poll_timeout_s, f->nitems);
			finished(p, f);
			p->stats.pending_batches++;
			p->stats.pending += (int64_t)f->nitems;
		}
		if (p->unfinished <= max_pending) {
			/* The final wait sends the follow-ups and waits for them too. */
			if (max_pending > 0 || p->follow.count == 0)
				return 0;
			if (send_batch(p, &p->follow, 1) < 0)
				return -1;
			continue;
		}
		for (i = 0; i < p->count; i++) {
			inflight *f = p->list[i];

			if (f->done)
				continue;
			if (waiting++ == 0 || f->next_poll < next)
				next = f->next_poll;
		}
		ps_clock_sleep(next - t);
		t = ps_clock_now();
		for (i = 0; i < p->count && p->exit_code == PS_EXIT_OK; i++) {
			inflight *f = p->list[i];

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
	int applied;
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
		journal_item *n = realloc(j->items, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		j->items = n;
		j->cap = cap;
	}
	it = &j->items[j->count];
	memset(it, 0, sizeof(*it));
	it->item_id = strdup(item_id);
	it->operation = strdup(operation);
	if (attributes)
		it->attributes = ps_json_parse_str(attributes, err, sizeof(err));
	if (update_mask)
		it->mask = ps_json_parse_str(update_mask, err, sizeof(err));
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
			if (!json_same(a->u.object.values[i], ps_json_get(b, a->u.object.keys[i])))
				return 0;
		return 1;
	}
	return 0;
}

/* Whether the attributes Pinterest holds show the journal's operation
 * applied. Only a present item proves anything: a DELETE is never proven
 * applied (an item that does not come back may be an error), and goes out
 * again, which is harmless. */
static int
applied(const journal_item *it, yajl_val found)
{
	size_t i;

	if (found == NULL || it->attributes == NULL || !YAJL_IS_OBJECT(it->attributes))
		return 0;
	/* Every attribute sent is there with its value ... */
	if (!json_same(it->attributes, found))
		return 0;
	/* ... and every attribute an UPDATE cleared is gone. */
	for (i = 0; it->mask && YAJL_IS_ARRAY(it->mask) && i < it->mask->u.array.len; i++) {
		yajl_val name = it->mask->u.array.values[i];
		yajl_val v;

		if (!YAJL_IS_STRING(name) || ps_json_get(it->attributes, name->u.string))
			continue;
		v = ps_json_get(found, name->u.string);
		if (v && !YAJL_IS_NULL(v))
			return 0;
	}
	return 1;
}

/* A ps_readback_cb for recovery: marks the journal items found applied. */
static int
on_recovered(void *ctx, const char *item_id, ps_rb_state state, yajl_val value)
{
	journal *j = ctx;
	size_t i;

	for (i = 0; i < j->count; i++)
		if (strcmp(j->items[i].item_id, item_id) == 0) {
			j->items[i].applied =
			    state == PS_RB_PRESENT && applied(&j->items[i], value);
			break;
		}
	return 0;
}

int
ps_poller_recover(ps_poller *p, int64_t batch_pk)
{
	journal j = {NULL, 0, 0};
	yajl_gen r = NULL;
	const char **ids = NULL;
	const unsigned char *results;
	ps_batch_counts c;
	size_t rlen, i;
	char why[300];
	int rc = -1, rb;

	if (ps_db_batch_items(p->db, batch_pk, NULL, collect_item, &j) < 0) {
		fail_db(p);
		goto done;
	}
	if ((r = yajl_gen_alloc(NULL)) == NULL ||
	    (ids = calloc(j.count + 1, sizeof(*ids))) == NULL) {
		fail(p, PS_EXIT_INTERNAL, "out of memory");
		goto done;
	}
	for (i = 0; i < j.count; i++)
		ids[i] = j.items[i].item_id;
	rb = ps_catalog_read(p->pin, p->target, ids, j.count, on_recovered, &j);
	if (rb != 0) {
		const ps_pin_status *st = ps_pin_last(p->pin);

		/* No answer proves nothing: the items go out again. */
		ps_warn("reading back a batch never confirmed sent: HTTP %ld: %s (x-pinterest-rid "
		        "%s); its items go out again",
		        st->http_status, st->message, st->request_id[0] ? st->request_id : "none");
	}
	yajl_gen_array_open(r);
	for (i = 0; i < j.count; i++) {
		if (!j.items[i].applied)
			continue;
		yajl_gen_map_open(r);
		GEN_S(r, "item_id");
		GEN_S(r, j.items[i].item_id);
		GEN_S(r, "status");
		GEN_S(r, "SUCCESS");
		yajl_gen_map_close(r);
	}
	yajl_gen_array_close(r);
	yajl_gen_get_buf(r, &results, &rlen);
	if (ps_db_batch_finish(p->db, batch_pk, "abandoned", (const char *)results, &c) < 0) {
		fail_db(p);
		goto done;
	}
	snprintf(why, sizeof(why),
	         "never confirmed sent: %" PRId64 " of %zu items found applied on Pinterest, the "
	         "others go out again",
	         c.succeeded, j.count);
	if (ps_db_batch_mark(p->db, batch_pk, "abandoned", why) < 0) {
		fail_db(p);
		goto done;
	}
	ps_warn("a batch of an earlier run was %s", why);
	p->stats.succeeded += c.succeeded;
	rc = 0;
done:
	if (r)
		yajl_gen_free(r);
	free(ids);
	journal_free(&j);
	return rc;
}
