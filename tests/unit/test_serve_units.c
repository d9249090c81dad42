/*
 * test_serve_units.c: the pure parts of serve mode: webhook signatures
 * (HMAC-SHA256, the three header spellings, the timestamp window) and the
 * progress line's format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "hmac.h"
#include "progress.h"

/* RFC 4231, test case 2: key "Jefe". */
static const char rfc_data[] = "what do ya want for nothing?";
static const char rfc_hex[] = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

static void
test_hmac_rfc4231(void **state)
{
	unsigned char mac[PS_HMAC_LEN];
	char hex[2 * PS_HMAC_LEN + 1];

	(void)state;
	assert_int_equal(ps_hmac_sha256(mac, "Jefe", 4, NULL, rfc_data, strlen(rfc_data)), 0);
	ps_hmac_hex(hex, mac);
	assert_string_equal(hex, rfc_hex);
}

static void
test_verify_every_spelling(void **state)
{
	unsigned char mac[PS_HMAC_LEN];
	char hub[80], b64[45];

	(void)state;
	ps_hmac_sha256(mac, "Jefe", 4, NULL, rfc_data, strlen(rfc_data));
	snprintf(hub, sizeof(hub), "sha256=%s", rfc_hex);
	ps_hmac_base64(b64, mac);
	assert_int_equal(strlen(b64), 44);
	assert_int_equal(
	    ps_hmac_verify("Jefe", NULL, rfc_data, strlen(rfc_data), PS_SIG_HEX_SHA256, hub), 0);
	assert_int_equal(
	    ps_hmac_verify("Jefe", NULL, rfc_data, strlen(rfc_data), PS_SIG_BASE64, b64), 0);
	/* Upper-case hex is the same digest. */
	for (char *p = hub + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(
	    ps_hmac_verify("Jefe", NULL, rfc_data, strlen(rfc_data), PS_SIG_HEX_SHA256, hub), 0);
}

static void
test_verify_refuses(void **state)
{
	const char *d = rfc_data;
	size_t n = strlen(rfc_data);
	char hub[80];

	(void)state;
	snprintf(hub, sizeof(hub), "sha256=%s", rfc_hex);
	assert_int_equal(ps_hmac_verify("jefe", NULL, d, n, PS_SIG_HEX_SHA256, hub), -1);
	assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n - 1, PS_SIG_HEX_SHA256, hub), -1);
	assert_int_equal(ps_hmac_verify("Jefe", "1700000000", d, n, PS_SIG_HEX_SHA256, hub), -1);
	assert_int_equal(ps_hmac_verify("", NULL, d, n, PS_SIG_HEX_SHA256, hub), -1);
	assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_HEX_SHA256, rfc_hex), -1);
	assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_HEX_SHA256, "sha256=5bdc"), -1);
	assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_HEX_SHA256, NULL), -1);
	assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_BASE64, "!!!!"), -1);
	assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_BASE64,
	                                "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM"),
	                 -1); /* no padding */
}

static void
test_timestamp_is_signed_and_windowed(void **state)
{
	unsigned char mac[PS_HMAC_LEN];
	char hex[2 * PS_HMAC_LEN + 1], hub[80];

	(void)state;
	ps_hmac_sha256(mac, "k", 1, "1700000000", "{}", 2);
	ps_hmac_hex(hex, mac);
	snprintf(hub, sizeof(hub), "sha256=%s", hex);
	assert_int_equal(ps_hmac_verify("k", "1700000000", "{}", 2, PS_SIG_HEX_SHA256, hub), 0);
	assert_int_equal(ps_hmac_verify("k", "1700000001", "{}", 2, PS_SIG_HEX_SHA256, hub), -1);
	assert_int_equal(ps_hmac_verify("k", NULL, "{}", 2, PS_SIG_HEX_SHA256, hub), -1);
	/* The payload is exactly "1700000000.{}". */
	ps_hmac_sha256(mac, "k", 1, NULL, "1700000000.{}", 13);
	ps_hmac_hex(hex, mac);
	assert_string_equal(hub + 7, hex);

	assert_int_equal(ps_hmac_check_timestamp("1700000000", 1700000300, 300), 0);
	assert_int_equal(ps_hmac_check_timestamp("1700000000", 1700000301, 300), -1);
	assert_int_equal(ps_hmac_check_timestamp("1700000400", 1700000000, 300), -1);
	assert_int_equal(ps_hmac_check_timestamp("-5", 0, 300), -1);
	assert_int_equal(ps_hmac_check_timestamp("17e8", 1700000000, 300), -1);
	assert_int_equal(ps_hmac_check_timestamp("", 0, 300), -1);
}

static void
test_progress_line(void **state)
{
	ps_progress_counts c = {2500000, 10000000, 1234, 56, 3, 2};
	char line[256];

	(void)state;
	ps_progress_format(line, sizeof(line), &c, 65.0);
	assert_string_equal(line, "2.5 MB (25%) read, 38.5 KB/s | 1234 items | 56 changes | "
	                          "batches 3 sent, 2 done | 1:05");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hmac_rfc4231),
	    cmocka_unit_test(test_verify_every_spelling),
	    cmocka_unit_test(test_verify_refuses),
	    cmocka_unit_test(test_timestamp_is_signed_and_windowed),
	    cmocka_unit_test(test_progress_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
