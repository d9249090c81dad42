/*
 * test_ratelimit.c: the rate limiter's header parsing and waits, with an
 * injected clock (every call is given "now").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define EPS 1e-9
#define WALL ((time_t)1700000000) /* Tue, 14 Nov 2023 22:13:20 GMT */

static void
test_parse_limit_pinterest_form(void **state)
{
	ps_rl_window w[PS_RL_MAX_WINDOWS];

	(void)state;
	assert_int_equal(ps_rl_parse_limit("100, 100;w=1, 100;w=60", w, PS_RL_MAX_WINDOWS), 2);
	assert_int_equal(w[0].limit, 100);
	assert_true(fabs(w[0].window_s - 1) < EPS);
	assert_int_equal(w[1].limit, 100);
	assert_true(fabs(w[1].window_s - 60) < EPS);

	/* The simulator's form, blanks and case as they come. */
	assert_int_equal(ps_rl_parse_limit("5, 5;w=1", w, PS_RL_MAX_WINDOWS), 1);
	assert_int_equal(w[0].limit, 5);
	assert_int_equal(ps_rl_parse_limit(" 10 ;W=2.5 ; comment=\"a, b\" ,20;w=60", w, 8), 2);
	assert_int_equal(w[0].limit, 10);
	assert_true(fabs(w[0].window_s - 2.5) < EPS);
	assert_int_equal(w[1].limit, 20);

	/* A plain quota names no window. */
	assert_int_equal(ps_rl_parse_limit("100", w, PS_RL_MAX_WINDOWS), 0);

	/* At most max windows are kept. */
	assert_int_equal(ps_rl_parse_limit("1;w=1, 2;w=2, 3;w=3", w, 2), 2);
	assert_int_equal(w[1].limit, 2);
}

static void
test_parse_limit_malformed(void **state)
{
	ps_rl_window w[PS_RL_MAX_WINDOWS];
	const char *bad[] = {"",        "abc",    "100;w=0", "100;w=-1", "-5;w=1",     "0;w=1",
	                     "1.5;w=1", "100;w=", "100;w=x", "100, ,5",  "5;w=1,",     "nan;w=1",
	                     "inf",     "1e999",  "5;c=\"x", "5;w=1e99", "99999999999"};
	size_t i;

	(void)state;
	assert_int_equal(ps_rl_parse_limit(NULL, w, PS_RL_MAX_WINDOWS), -1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ps_rl_parse_limit(bad[i], w, PS_RL_MAX_WINDOWS) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void
test_parse_retry_after(void **state)
{
	double s = -1;

	(void)state;
	assert_int_equal(ps_rl_parse_retry_after("3", WALL, &s), 0);
	assert_true(fabs(s - 3) < EPS);
	assert_int_equal(ps_rl_parse_retry_after(" 1.5 ", WALL, &s), 0);
	assert_true(fabs(s - 1.5) < EPS);
	/* An HTTP date, 120 s after WALL. */
	assert_int_equal(ps_rl_parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", WALL, &s), 0);
	assert_true(fabs(s - 120) < EPS);
	/* A date in the past: go now. */
	assert_int_equal(ps_rl_parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", WALL, &s), 0);
	assert_true(fabs(s) < EPS);
	assert_int_equal(ps_rl_parse_retry_after("soon", WALL, &s), -1);
	assert_int_equal(ps_rl_parse_retry_after("-3", WALL, &s), -1);
	assert_int_equal(ps_rl_parse_retry_after("", WALL, &s), -1);
	assert_int_equal(ps_rl_parse_retry_after(NULL, WALL, &s), -1);
}

static ps_rl *
limiter(void)
{
	ps_rl *rl = NULL;

	assert_int_equal(ps_rl_new(&rl), 0);
	assert_non_null(rl);
	return rl;
}

static void
feed(ps_rl *rl, double now, const char *limit, const char *remaining, const char *reset,
     const char *retry_after)
{
	ps_rl_headers h = {limit, remaining, reset, retry_after};

	ps_rl_update(rl, now, WALL, &h);
}

static void
test_unknown_limits_never_wait(void **state)
{
	ps_rl *rl = limiter();
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		assert_true(ps_rl_delay(rl, 0.001 * i) == 0);
		ps_rl_sent(rl, 0.001 * i);
	}
	/* Answers without rate-limit headers change nothing. */
	feed(rl, 1, NULL, NULL, NULL, NULL);
	assert_true(ps_rl_delay(rl, 1) == 0);
	ps_rl_free(rl);
	ps_rl_free(NULL);
}

static void
test_window_waits_for_oldest_to_leave(void **state)
{
	ps_rl *rl = limiter();
	size_t n;
	int i;

	(void)state;
	feed(rl, 0, "5, 5;w=1", "4", "1", NULL);
	assert_int_equal(ps_rl_windows(rl, &n)[0].limit, 5);
	assert_int_equal(n, 1);
	for (i = 0; i < 5; i++) {
		assert_true(ps_rl_delay(rl, 0.1 * i) == 0);
		ps_rl_sent(rl, 0.1 * i);
	}
	/* Five sent in [0, 0.4]: the sixth waits until the first is 1 s old. */
	assert_true(fabs(ps_rl_delay(rl, 0.5) - (1.0 + PS_RL_MARGIN_S - 0.5)) < EPS);
	ps_rl_sent(rl, 1.0 + PS_RL_MARGIN_S);
	/* Then the second one (sent at 0.1) binds. */
	assert_true(fabs(ps_rl_delay(rl, 1.1) - (0.1 + 1.0 + PS_RL_MARGIN_S - 1.1)) < EPS);
	assert_true(ps_rl_delay(rl, 2.0) == 0);
	ps_rl_free(rl);
}

/* Sends as fast as the limiter allows and checks that no interval of the
 * window's length ever holds more than the limit, and that the pace is
 * close to the limit (not needlessly slow). */
static void
test_never_faster_than_announced(void **state)
{
	const int total = 300, limit = 5;
	double *t = calloc((size_t)total, sizeof(double));
	double now = 0;
	ps_rl *rl = limiter();
	int i, j;

	(void)state;
	assert_non_null(t);
	feed(rl, 0, "5, 5;w=1", NULL, NULL, NULL);
	for (i = 0; i < total; i++) {
		now += ps_rl_delay(rl, now);
		assert_true(ps_rl_delay(rl, now) == 0);
		t[i] = now;
		ps_rl_sent(rl, now);
		now += 0.003; /* the request itself */
	}
	for (i = 0; i < total; i++) {
		int in_window = 0;

		for (j = i; j < total && t[j] < t[i] + 1.0; j++)
			in_window++;
		assert_true(in_window <= limit);
	}
	/* 300 at 5 per (1 + margin) s: 59 full windows after the first. */
	assert_true(t[total - 1] <= (total / limit) * (1.0 + PS_RL_MARGIN_S + 0.02));
	free(t);
	ps_rl_free(rl);
}

static void
test_several_windows(void **state)
{
	ps_rl *rl = limiter();
	int i;

	(void)state;
	feed(rl, 0, "100, 100;w=1, 10;w=60", NULL, NULL, NULL);
	for (i = 0; i < 10; i++) {
		assert_true(ps_rl_delay(rl, i * 0.01) == 0);
		ps_rl_sent(rl, i * 0.01);
	}
	/* The 1 s window has room; the 60 s one does not. */
	assert_true(fabs(ps_rl_delay(rl, 1) - (60 + PS_RL_MARGIN_S - 1)) < EPS);
	ps_rl_free(rl);
}

static void
test_spent_quota_waits_for_reset(void **state)
{
	ps_rl *rl = limiter();

	(void)state;
	feed(rl, 10, "100, 100;w=60", "0", "3", NULL);
	assert_true(fabs(ps_rl_delay(rl, 10) - 3) < EPS);
	assert_true(fabs(ps_rl_delay(rl, 12) - 1) < EPS);
	assert_true(ps_rl_delay(rl, 13.5) == 0);
	/* Remaining above zero does not block. */
	feed(rl, 20, NULL, "1", "30", NULL);
	assert_true(ps_rl_delay(rl, 20) == 0);
	/* Spent without a usable reset: one second. */
	feed(rl, 30, NULL, "0", "soon", NULL);
	assert_true(fabs(ps_rl_delay(rl, 30) - 1) < EPS);
	/* A reset given as an epoch time. */
	feed(rl, 40, NULL, "0", "1700000005", NULL);
	assert_true(fabs(ps_rl_delay(rl, 40) - 5) < EPS);
	ps_rl_free(rl);
}

static void
test_retry_after_blocks_and_never_shortens(void **state)
{
	ps_rl *rl = limiter();

	(void)state;
	feed(rl, 100, NULL, NULL, NULL, "7");
	assert_true(fabs(ps_rl_delay(rl, 100) - 7) < EPS);
	/* A shorter Retry-After later does not cut the wait short. */
	feed(rl, 101, NULL, NULL, NULL, "1");
	assert_true(fabs(ps_rl_delay(rl, 101) - 6) < EPS);
	feed(rl, 102, NULL, NULL, NULL, "Tue, 14 Nov 2023 22:13:40 GMT"); /* WALL + 20 */
	assert_true(fabs(ps_rl_delay(rl, 102) - 20) < EPS);
	feed(rl, 103, NULL, NULL, NULL, "garbage");
	assert_true(fabs(ps_rl_delay(rl, 103) - 19) < EPS);
	ps_rl_free(rl);
}

static void
test_malformed_limit_keeps_known_windows(void **state)
{
	ps_rl *rl = limiter();
	size_t n;

	(void)state;
	feed(rl, 0, "5, 5;w=1", NULL, NULL, NULL);
	feed(rl, 1, "garbage;w=", NULL, NULL, NULL);
	feed(rl, 2, "100", NULL, NULL, NULL);
	assert_int_equal(ps_rl_windows(rl, &n)[0].limit, 5);
	assert_int_equal(n, 1);
	/* A new announcement replaces the windows. */
	feed(rl, 3, "7, 7;w=2", NULL, NULL, NULL);
	assert_int_equal(ps_rl_windows(rl, &n)[0].limit, 7);
	assert_true(fabs(ps_rl_windows(rl, &n)[0].window_s - 2) < EPS);
	ps_rl_free(rl);
}

static void
test_window_larger_than_history(void **state)
{
	ps_rl *rl = limiter();
	int i;

	(void)state;
	feed(rl, 0, "10000, 10000;w=60", NULL, NULL, NULL);
	for (i = 0; i < PS_RL_HISTORY; i++) {
		assert_true(ps_rl_delay(rl, 0) == 0);
		ps_rl_sent(rl, 0);
	}
	/* Enforced as the same rate over a shorter window: never looser. */
	assert_true(fabs(ps_rl_delay(rl, 0) - (60.0 * PS_RL_HISTORY / 10000.0 + PS_RL_MARGIN_S)) <
	            1e-6);
	ps_rl_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_limit_pinterest_form),
	    cmocka_unit_test(test_parse_limit_malformed),
	    cmocka_unit_test(test_parse_retry_after),
	    cmocka_unit_test(test_unknown_limits_never_wait),
	    cmocka_unit_test(test_window_waits_for_oldest_to_leave),
	    cmocka_unit_test(test_never_faster_than_announced),
	    cmocka_unit_test(test_several_windows),
	    cmocka_unit_test(test_spent_quota_waits_for_reset),
	    cmocka_unit_test(test_retry_after_blocks_and_never_shortens),
	    cmocka_unit_test(test_malformed_limit_keeps_known_windows),
	    cmocka_unit_test(test_window_larger_than_history),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
