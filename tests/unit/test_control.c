/*
 * test_control.c: the run deadline (issue "Hardening": no run had one):
 * past it ps_control_stopping() is true, as after SIGTERM, and no sleep
 * of ps_clock_sleep() goes beyond it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "clock.h"
#include "control.h"

/* The run deadline: ps_control_stopping() turns true once it passed, and a
 * sleep never goes past it. */
static void
test_deadline(void **state)
{
	double t0;

	(void)state;
	assert_false(ps_control_stopping());
	ps_control_set_deadline(0.2, "PINSYNC_RUN_DEADLINE_S");
	assert_false(ps_control_stopping());
	t0 = ps_clock_now();
	ps_clock_sleep(30);
	assert_true(ps_clock_now() - t0 < 5);
	assert_true(ps_control_stopping());
	assert_string_equal(ps_control_stop_reason(),
	                    "the run's deadline passed (PINSYNC_RUN_DEADLINE_S = 0 s)");
	ps_control_set_deadline(0, NULL);
	assert_false(ps_control_stopping());
}

static void
test_no_deadline_once_cleared(void **state)
{
	(void)state;
	ps_control_set_deadline(1000, "PINSYNC_RUN_DEADLINE_S");
	assert_false(ps_control_stopping());
	assert_true(ps_control_time_left() > 900);
	ps_control_set_deadline(0, NULL);
	assert_true(ps_control_time_left() > 1e17);
	assert_string_equal(ps_control_stop_reason(), "a stop was requested (SIGTERM or SIGINT)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_no_deadline_once_cleared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
