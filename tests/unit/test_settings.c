/*
 * test_settings.c: the config file's syntax (issue "Hardening": an inline
 * "# comment" became part of the value).
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

#include "settings.h"

/* Parses one line; returns its value (or "(comment)", or "(error: ...)"). */
static const char *
parse(const char *text, const char **name)
{
	static char line[512], out[600];
	char err[256];
	ps_config_line cl;

	snprintf(line, sizeof(line), "%s", text);
	if (ps_settings_parse_line(line, &cl, err, sizeof(err)) < 0) {
		snprintf(out, sizeof(out), "(error: %s)", err);
		return out;
	}
	if (name)
		*name = cl.name;
	return cl.name ? cl.value : "(comment)";
}

static void
test_inline_comments(void **state)
{
	const char *name = NULL;

	(void)state;
	/* The line: the comment is not the URL's. */
	assert_string_equal(
	    parse("api_base = https://api.pinterest.com/v5   # production\n", &name),
	    "https://api.pinterest.com/v5");
	assert_string_equal(name, "api_base");
	assert_string_equal(parse("api_base = https://a.example/v5\t# tab before\r\n", NULL),
	                    "https://a.example/v5");
	/* A # that neither starts the value nor follows a blank is the value's. */
	assert_string_equal(parse("api_base = https://a.example/v5#frag", NULL),
	                    "https://a.example/v5#frag");
	assert_string_equal(parse("database_url = postgresql://u:pa#ss@h/db", NULL),
	                    "postgresql://u:pa#ss@h/db");
	/* A # starting the value starts a comment, with or without a blank. */
	assert_string_equal(parse("log_level = # nothing", NULL), "");
	assert_string_equal(parse("log_level =#nothing", NULL), "");
	/* Comment lines and blank lines. */
	assert_string_equal(parse("# api_base = x", NULL), "(comment)");
	assert_string_equal(parse("   \t# indented", NULL), "(comment)");
	assert_string_equal(parse("", NULL), "(comment)");
	assert_string_equal(parse("  \r\n", NULL), "(comment)");
}

static void
test_quotes(void **state)
{
	(void)state;
	assert_string_equal(parse("feed_password_file = \"/srv/shop #1/pw\"  # a comment", NULL),
	                    "/srv/shop #1/pw");
	assert_string_equal(parse("listen = \"  spaced  \"", NULL), "  spaced  ");
	assert_string_equal(parse("listen = \"a \"\"quoted\"\" word\"", NULL), "a \"quoted\" word");
	assert_string_equal(parse("listen = \"\"", NULL), "");
	assert_string_equal(parse("listen = \"x\"#c", NULL), "x");
	/* A quote inside an unquoted value is the value's. */
	assert_string_equal(parse("listen = a\"b", NULL), "a\"b");
	assert_true(strncmp(parse("listen = \"open", NULL), "(error: a quoted value needs", 28) ==
	            0);
	assert_true(
	    strncmp(parse("listen = \"a\" b", NULL), "(error: text after the closing", 30) == 0);
	assert_true(strncmp(parse("listen", NULL), "(error: expected name = value", 29) == 0);
	assert_true(strncmp(parse(" = x", NULL), "(error: nothing before", 22) == 0);
}

/* Writes text to a temporary file; returns its path (static). */
static const char *
write_file(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/ps-settings-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_file_applies_values_and_names_bad_lines(void **state)
{
	ps_settings s;
	char err[512];
	const char *path;

	(void)state;
	unsetenv("PINSYNC_CONFIG");
	unsetenv("PINSYNC_API_BASE");
	unsetenv("PINSYNC_RUN_DEADLINE_S");
	assert_int_equal(ps_settings_load(&s, err, sizeof(err)), 0);
	path = write_file("# pinsync\n"
	                  "api_base = https://api.pinterest.com/v5   # production\n"
	                  "run_deadline_s = 600 # ten minutes\n");
	assert_int_equal(ps_settings_load_file(&s, path, err, sizeof(err)), 0);
	assert_string_equal(s.api_base, "https://api.pinterest.com/v5");
	assert_int_equal(s.run_deadline_s, 600);
	unlink(path);
	/* A bad line is refused with its number. */
	path = write_file("api_base = x\n\nlisten = \"127.0.0.1:1\n");
	assert_int_equal(ps_settings_load_file(&s, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3: a quoted value needs its closing quote"));
	unlink(path);
	ps_settings_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inline_comments),
	    cmocka_unit_test(test_quotes),
	    cmocka_unit_test(test_file_applies_values_and_names_bad_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
