/*
 * answers.h: what pinsync reads in Pinterest's answers, apart from the
 * network and the database, so that each reader is tested and fuzzed alone
 * (tests/fuzz/fuzz_json.c).
 *
 * Every reader parses with ps_json_parse() (json.h: a size cap and a depth
 * cap before any tree is built) and never trusts a field's type: a field
 * missing or of another type is "not said". Strings handed out point into
 * the parsed tree, owned by the caller through the root it gets back.
 */
#ifndef PS_SYNC_ANSWERS_H
#define PS_SYNC_ANSWERS_H

#include <stddef.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "buf.h"
#include "feeds.h"
#include "json.h"

/* An error answer's {"code": integer, "message": string}: *code -1 and
 * message "(no message)" when not said; message "" when the body is not
 * JSON at all (the caller then says the HTTP status). */
void ps_answer_error(const char *text, size_t len, long *code, char *message, size_t msglen);

/* POST /catalogs/items/batch's answer: the batch_id (malloc'ed), or NULL
 * when the answer has none. */
char *ps_answer_batch_id(const char *text, size_t len);

/* GET /catalogs/items/batch/{id}'s answer. */
typedef struct ps_batch_answer {
	yajl_val root;      /* the tree (ps_batch_answer_free) */
	const char *status; /* COMPLETED, FAILED, PROCESSING or another; NULL:
	                       an answer pinsync cannot read */
	int skipped;        /* created_time null: skipped as a recent duplicate */
	yajl_val items;     /* the item records (an array), or NULL */
} ps_batch_answer;

/* Reads a batch answer into a. Returns 0 when it says a status, -1 when it
 * is not an answer pinsync can read (a->status NULL). Free with
 * ps_batch_answer_free() either way. */
int ps_batch_answer_read(ps_batch_answer *a, const char *text, size_t len);
void ps_batch_answer_free(ps_batch_answer *a);

/* Whether s is one of the item statuses of the spec's ItemProcessingStatus. */
int ps_answer_known_item_status(const char *s);

/* Writes the item records of a finished batch as ps_db_batch_finish()
 * takes them: [{item_id, status, errors, warnings}], records without a
 * string item_id dropped, a status outside the spec's enum written as null
 * (no verdict) and logged (escaped) as a warning about batch_id. */
void ps_batch_answer_results(const ps_batch_answer *a, const char *batch_id, yajl_gen g);

/* The status (SUCCESS, FAILURE, ...) the records give item id, or NULL. */
const char *ps_batch_answer_status_of(yajl_val items, const char *id);

/* GET /catalogs/feeds's answer: 0 with *has 1 when it lists a feed, 0 when
 * it lists none; -1 when it is not a list (*has untouched). */
int ps_answer_feeds(const char *text, size_t len, int *has);

/* POST /catalogs/items's answer (a read-back): its "items" array, or NULL
 * when it has none (*root: the tree to free with yajl_tree_free(), also
 * then). */
yajl_val ps_answer_readback_items(const char *text, size_t len, yajl_val *root);

/* What a read-back answer's items say of id: 0 PRESENT (*value: its
 * attributes, an object), 1 ERROR (*value: its errors, an array), 2
 * UNKNOWN (*value NULL): the order of catalog.h's ps_rb_state. */
int ps_answer_readback_of(yajl_val items, const char *id, yajl_val *value);

/* POST /oauth/token's answer (the refresh grant). */
typedef struct ps_token_answer {
	yajl_val root;             /* the tree: the strings below point into it */
	const char *access_token;  /* NULL: not an answer pinsync can use */
	const char *refresh_token; /* NULL when the answer names none */
	time_t access_expires_at;  /* 0 when not said */
	time_t refresh_expires_at; /* 0 when not said */
} ps_token_answer;

/* Reads a token answer (now: the time it arrived, for expires_in).
 * Returns 0 with an access token, -1 without (root freed or not: free with
 * ps_token_answer_free() either way). */
int ps_token_answer_read(ps_token_answer *t, const char *text, size_t len, time_t now);
void ps_token_answer_free(ps_token_answer *t);

/* Fills item with id and the attributes of attrs (a JSON object as sent to
 * or read from Pinterest), as pinsync's items hold them: lists joined with
 * PS_LIST_SEP, booleans "true"/"false", numbers as written, null absent,
 * names pinsync does not know ignored. The values are NUL-terminated
 * copies in *arena (reset first; they live until its next change); the
 * item's hash is computed. Returns 0, or -1 when out of memory. */
int ps_item_from_json(ps_item *item, ps_buf *arena, const char *id, yajl_val attrs);

#endif /* PS_SYNC_ANSWERS_H */
