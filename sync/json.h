/*
 * json.h: reading JSON from outside (Pinterest's answers) within bounds.
 *
 * yajl's tree parser recurses and allocates per level of nesting, and
 * yajl_tree_free() recurses too: an answer of a few megabytes of "[" would
 * exhaust the stack. ps_json_parse() refuses, before any tree is built, an
 * answer larger than a size cap or nested deeper than a small limit
 * (Pinterest's answers are four or five levels deep), and one holding a
 * NUL byte (yajl_tree_parse() would stop there and take a prefix). Every
 * answer pinsync reads goes through it (issue "Hardening").
 */
#ifndef PS_SYNC_JSON_H
#define PS_SYNC_JSON_H

#include <stddef.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* Nesting pinsync accepts in an answer: arrays and objects inside each other. */
#define PS_JSON_MAX_DEPTH 64
/* Size pinsync accepts for one JSON text (the cap of an API answer). */
#define PS_JSON_MAX_BYTES ((size_t)64 * 1024 * 1024)

/* Parses text[0..len) (text[len] must be NUL, as ps_buf_str() gives) into a
 * tree, to free with yajl_tree_free(). Returns NULL with the reason in err
 * when it is larger than PS_JSON_MAX_BYTES, nested deeper than max_depth,
 * holds a NUL byte, or is not JSON. */
yajl_val ps_json_parse(const char *text, size_t len, size_t max_depth, char *err, size_t errlen);

/* ps_json_parse() of a NUL-terminated string with PS_JSON_MAX_DEPTH. */
yajl_val ps_json_parse_str(const char *text, char *err, size_t errlen);

/* The value of key in a yajl object, or NULL (obj NULL or not an object). */
yajl_val ps_json_get(yajl_val obj, const char *key);

/* Writes v (a tree from ps_json_parse: its depth is bounded) with g; NULL
 * writes null. */
void ps_json_gen(yajl_gen g, yajl_val v);

#endif /* PS_SYNC_JSON_H */
