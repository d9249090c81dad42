/*
 * test_log.c: values from outside cannot forge log lines (issue
 * "Hardening"): control characters (newline, CR, ESC, C1) and bytes that
 * are not UTF-8 are escaped in the text log, in the message and in the
 * context (target, batch id); every JSON line stays one valid object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "log.h"

/* A webhook's target name as it comes out of /hooks/x%0a07:03:00 ... */
#define FORGED "x\n07:03:00 info  [shop run 99] run ok"
#define NASTY                           \
	"a\r\x1b[31mred\x1b[0m\xc2\x9b" \
	"2J\x7f\xff\xfe end"

/* Runs the log lines of emit() with stderr in a file; returns what was
 * written (static). */
static const char *
capture(int json)
{
	static char out[8192];
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	ps_log_init(PS_LOG_DEBUG, json);
	ps_log_set_target(FORGED);
	ps_log_set_run(7);
	ps_warn("webhook for \"%s\" refused", FORGED);
	ps_log_batch(PS_LOG_INFO, "b\n07:03:01 error fake", "value %s", NASTY);
	ps_log_set_target(NULL);
	ps_log_set_run(0);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

static int
count(const char *s, char c)
{
	int n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

static void
test_text_lines_cannot_be_forged(void **state)
{
	const char *out = capture(0);
	const unsigned char *p;

	(void)state;
	/* Two calls, two lines: nothing from the values starts one. */
	assert_int_equal(count(out, '\n'), 2);
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\x1b'));
	for (p = (const unsigned char *)out; *p; p++)
		assert_true(*p >= 0x20 || *p == '\n' || *p == '\t');
	assert_null(strstr(out, "\xc2\x9b"));
	assert_null(strstr(out, "\xff"));
	assert_non_null(strstr(out, "[x\\n07:03:00 info  [shop run 99] run ok run 7] "));
	assert_non_null(strstr(out, "webhook for \"x\\n07:03:00 info  [shop run 99] run ok\""));
	assert_non_null(strstr(out, "batch b\\n07:03:01 error fake: "));
	assert_non_null(
	    strstr(out, "value a\\r\\x1b[31mred\\x1b[0m\\xc2\\x9b2J\\x7f\\xff\\xfe end\n"));
}

static void
test_json_lines_stay_objects(void **state)
{
	const char *out = capture(1), *line = out;
	const char *p_target[] = {"target", NULL}, *p_batch[] = {"batch_id", NULL};
	const char *p_msg[] = {"msg", NULL};
	char buf[4096], err[128];
	int lines = 0;

	(void)state;
	assert_int_equal(count(out, '\n'), 2);
	assert_null(strchr(out, '\x1b'));
	while (*line) {
		const char *end = strchr(line, '\n');
		yajl_val v, s;

		assert_non_null(end);
		snprintf(buf, sizeof(buf), "%.*s", (int)(end - line), line);
		v = yajl_tree_parse(buf, err, sizeof(err));
		assert_non_null(v);
		s = yajl_tree_get(v, p_target, yajl_t_string);
		assert_non_null(s);
		assert_string_equal(YAJL_GET_STRING(s), FORGED);
		if (lines == 1) {
			s = yajl_tree_get(v, p_batch, yajl_t_string);
			assert_string_equal(YAJL_GET_STRING(s), "b\n07:03:01 error fake");
			s = yajl_tree_get(v, p_msg, yajl_t_string);
			/* Bytes that are not UTF-8 become U+FFFD: the line stays JSON. */
			assert_string_equal(YAJL_GET_STRING(s),
			                    "value a\r\x1b[31mred\x1b[0m\xc2\x9b"
			                    "2J\x7f\xef\xbf\xbd\xef\xbf\xbd end");
		}
		yajl_tree_free(v);
		lines++;
		line = end + 1;
	}
	assert_int_equal(lines, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_lines_cannot_be_forged),
	    cmocka_unit_test(test_json_lines_stay_objects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
