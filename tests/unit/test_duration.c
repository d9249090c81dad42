/*
 * test_duration.c: durations of the retention settings (PINSYNC_PRUNE_AFTER,
 * pinsync prune --older-than): what ps_duration_parse() takes and refuses,
 * ps_duration_format() reading back, and the setting through the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

static long
parsed(const char *text)
{
	long v = -42;

	assert_int_equal(ps_duration_parse(text, &v), 0);
	return v;
}

static void
test_units(void **state)
{
	(void)state;
	assert_int_equal(parsed("30d"), 30L * 86400);
	assert_int_equal(parsed("12h"), 12L * 3600);
	assert_int_equal(parsed("90m"), 90L * 60);
	assert_int_equal(parsed("3600s"), 3600);
	assert_int_equal(parsed("3600"), 3600);
	assert_int_equal(parsed("0"), 0);
	assert_int_equal(parsed("0s"), 0);
	assert_int_equal(parsed("off"), 0);
	assert_int_equal(parsed("36500d"), 36500L * 86400);
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
	    "", "d", "-1d", "+1d", " 1d", "1d ", "1.5d", "1d2h", "1w", "1D", "30 days", "0x10",
	    "Off", "36501d", "99999999999999999999", "9223372036854775807s"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long v = -42;

		if (ps_duration_parse(bad[i], &v) != -1)
			fail_msg("\"%s\" was taken as %ld s", bad[i], v);
		assert_int_equal(v, -42); /* untouched */
	}
	assert_int_equal(ps_duration_parse(NULL, &(long){0}), -1);
}

static void
test_format_reads_back(void **state)
{
	static const long values[] = {0, 1, 59, 60, 90 * 60, 3600, 12 * 3600, 86400 + 1,
	                              30 * 86400, 36500L * 86400};
	static const char *const texts[] = {"off", "1s", "59s", "1m", "90m", "1h", "12h",
	                                    "86401s", "30d", "36500d"};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ps_duration_format(values[i], out, sizeof(out));
		assert_string_equal(out, texts[i]);
		assert_int_equal(parsed(out), values[i]);
	}
}

static void
test_setting(void **state)
{
	ps_settings s;
	char err[256];

	(void)state;
	unsetenv("PINSYNC_CONFIG");
	unsetenv("PINSYNC_PRUNE_AFTER");
	assert_int_equal(ps_settings_load(&s, err, sizeof(err)), 0);
	assert_int_equal(s.prune_after_s, 30L * 86400);
	assert_int_equal(s.prune_keep_runs, 3);
	assert_int_equal(s.prune_every_s, 3600);
	ps_settings_free(&s);

	setenv("PINSYNC_PRUNE_AFTER", "off", 1);
	assert_int_equal(ps_settings_load(&s, err, sizeof(err)), 0);
	assert_int_equal(s.prune_after_s, 0);
	ps_settings_free(&s);

	setenv("PINSYNC_PRUNE_AFTER", "12h", 1);
	assert_int_equal(ps_settings_load(&s, err, sizeof(err)), 0);
	assert_int_equal(s.prune_after_s, 12L * 3600);
	ps_settings_free(&s);

	setenv("PINSYNC_PRUNE_AFTER", "30 days", 1);
	assert_int_equal(ps_settings_load(&s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "PINSYNC_PRUNE_AFTER"));
	ps_settings_free(&s);
	/* Over the setting's bound (10 years), though a duration. */
	setenv("PINSYNC_PRUNE_AFTER", "3651d", 1);
	assert_int_equal(ps_settings_load(&s, err, sizeof(err)), -1);
	ps_settings_free(&s);
	unsetenv("PINSYNC_PRUNE_AFTER");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_units),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_format_reads_back),
	    cmocka_unit_test(test_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
