/*
 * json.c: bounded JSON parsing (see json.h).
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

/* Whether text[0..len) nests arrays and objects at most max_depth deep. A
 * lexer's view only (strings skipped, escapes honoured): yajl checks the
 * rest. Linear, no allocation, no recursion. */
static int
depth_ok(const char *text, size_t len, size_t max_depth)
{
	size_t i, depth = 0;
	int in_string = 0;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return 0;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 1;
}

yajl_val
ps_json_parse(const char *text, size_t len, size_t max_depth, char *err, size_t errlen)
{
	if (len > PS_JSON_MAX_BYTES) {
		snprintf(err, errlen, "JSON text of %zu bytes, over the cap of %zu", len,
		         PS_JSON_MAX_BYTES);
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "JSON text with a NUL byte");
		return NULL;
	}
	if (!depth_ok(text, len, max_depth)) {
		snprintf(err, errlen, "JSON nested deeper than %zu levels", max_depth);
		return NULL;
	}
	return yajl_tree_parse(text, err, errlen);
}

yajl_val
ps_json_parse_str(const char *text, char *err, size_t errlen)
{
	return ps_json_parse(text, strlen(text), PS_JSON_MAX_DEPTH, err, errlen);
}

yajl_val
ps_json_get(yajl_val obj, const char *key)
{
	size_t i;

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

void
ps_json_gen(yajl_gen g, yajl_val v)
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
			ps_json_gen(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (i = 0; i < v->u.object.len; i++) {
			yajl_gen_string(g, (const unsigned char *)v->u.object.keys[i],
			                strlen(v->u.object.keys[i]));
			ps_json_gen(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	}
}
