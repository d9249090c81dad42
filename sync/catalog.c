/*
 * catalog.c: ownership checks, read-backs, and items rebuilt from JSON.
 */
#include "catalog.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "answers.h"

#define GEN_S(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

/* Cap on a read-back answer: 100 items of at most ~40 KB of attributes. */
#define READBACK_MAX_RESPONSE (16 * 1024 * 1024)

int
ps_catalog_api_owned(const ps_target *target)
{
	if (target->api_owned >= 0)
		return target->api_owned;
	return target->feed_source == 0;
}

int
ps_catalog_feed_source(ps_pin *pin, const ps_target *target, int *has)
{
	ps_buf resp;
	char path[256];
	int rc;

	ps_buf_init(&resp, READBACK_MAX_RESPONSE);
	/* One page is enough: the question is whether there is any feed. */
	snprintf(path, sizeof(path), "/catalogs/feeds?catalog_id=%s&page_size=25",
	         target->catalog_id);
	rc = ps_pin_request(pin, "GET", path, NULL, 0, &resp);
	if (rc == 0 && ps_answer_feeds(ps_buf_str(&resp), resp.len, has) < 0)
		rc = PS_PIN_EPROTO;
	ps_buf_free(&resp);
	return rc;
}

/* The body of one read-back request for ids[0..n). */
static int
readback_body(yajl_gen g, const ps_target *t, const char *const *ids, size_t n)
{
	size_t i;
	int bad = 0;

	bad |= yajl_gen_map_open(g) | GEN_S(g, "country") | GEN_S(g, t->country);
	bad |= GEN_S(g, "language") | GEN_S(g, t->language) | GEN_S(g, "filters");
	bad |= yajl_gen_map_open(g) | GEN_S(g, "catalog_type") | GEN_S(g, "RETAIL");
	bad |= GEN_S(g, "catalog_id") | GEN_S(g, t->catalog_id) | GEN_S(g, "item_ids");
	bad |= yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		bad |= GEN_S(g, ids[i]);
	bad |= yajl_gen_array_close(g) | yajl_gen_map_close(g) | yajl_gen_map_close(g);
	return bad ? -1 : 0;
}

int
ps_catalog_read(ps_pin *pin, const ps_target *target, const char *const *ids, size_t count,
                ps_readback_cb cb, void *ctx)
{
	ps_buf resp;
	size_t done = 0, i, n;
	int rc = 0, cbrc = 0;

	ps_buf_init(&resp, READBACK_MAX_RESPONSE);
	while (done < count && rc == 0 && cbrc == 0) {
		yajl_gen g = yajl_gen_alloc(NULL);
		yajl_val root = NULL, items = NULL;
		const unsigned char *body;
		size_t len;

		n = count - done < PS_READBACK_MAX ? count - done : PS_READBACK_MAX;
		if (g == NULL || readback_body(g, target, ids + done, n) < 0) {
			rc = PS_PIN_EPROTO;
		} else {
			yajl_gen_get_buf(g, &body, &len);
			rc = ps_pin_request(pin, "POST", "/catalogs/items", (const char *)body, len,
			                    &resp);
		}
		if (g)
			yajl_gen_free(g);
		/* An answer that does not parse says nothing of any item. */
		if (rc == 0)
			items = ps_answer_readback_items(ps_buf_str(&resp), resp.len, &root);
		for (i = done; i < done + n && cbrc == 0; i++) {
			yajl_val value;
			int state = ps_answer_readback_of(items, ids[i], &value);

			cbrc = cb(ctx, ids[i], (ps_rb_state)state, value);
		}
		yajl_tree_free(root);
		done += n;
	}
	for (i = done; i < count && cbrc == 0; i++)
		cbrc = cb(ctx, ids[i], PS_RB_UNKNOWN, NULL);
	ps_buf_free(&resp);
	return cbrc ? cbrc : rc;
}
