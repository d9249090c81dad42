/*
 * test_serve_units.c: the pure parts of serve mode: webhook signatures
 * (HMAC-SHA256, the three header spellings, the timestamp window), the
 * webhook check that serve runs before any database work (webhook.h:
 * which headers count, the verdicts, delivery ids) and the progress line's
 * format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "hmac.h"
#include "progress.h"
#include "webhook.h"

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
	{
		/* One digest, one spelling: not '=' for 'A' inside the text, nor
		 * other unused low bits in the last character. */
		unsigned char mac[PS_HMAC_LEN];
		char b64[45], *a;

		ps_hmac_sha256(mac, "Jefe", 4, NULL, d, n);
		ps_hmac_base64(b64, mac);
		assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_BASE64, b64), 0);
		b64[42] = b64[42] == 'A' ? 'B' : (char)(b64[42] + 1);
		assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_BASE64, b64), -1);
		ps_hmac_base64(b64, mac);
		a = strchr(b64, 'A');
		if (a && a - b64 < 42) {
			*a = '=';
			assert_int_equal(ps_hmac_verify("Jefe", NULL, d, n, PS_SIG_BASE64, b64),
			                 -1);
		}
	}
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

/* The headers of a request signed in style 0 (hub), 1 (Shopify), 2 (WC). */
static void
signed_headers(ps_webhook_headers *h, char *buf, size_t len, int style, const char *secret,
               const char *ts, const char *body)
{
	unsigned char mac[PS_HMAC_LEN];
	char hex[2 * PS_HMAC_LEN + 1];
	static const char *const names[] = {"X-Hub-Signature-256", "x-shopify-hmac-sha256",
	                                    "X-WC-WEBHOOK-SIGNATURE"};

	ps_hmac_sha256(mac, secret, strlen(secret), ts, body, strlen(body));
	if (style == 0) {
		ps_hmac_hex(hex, mac);
		snprintf(buf, len, "sha256=%s", hex);
	} else {
		ps_hmac_base64(buf, mac);
	}
	assert_int_equal(ps_webhook_header(h, names[style], buf), 1);
	if (ts)
		assert_int_equal(ps_webhook_header(h, "x-pinsync-timestamp", ts), 1);
}

static void
test_webhook_check_styles_and_verdicts(void **state)
{
	const char *body = "{\"id\":1}", *delivery = "x";
	char sig[80];
	int style;

	(void)state;
	for (style = 0; style < 3; style++) {
		ps_webhook_headers h = PS_WEBHOOK_HEADERS_INIT;

		signed_headers(&h, sig, sizeof(sig), style, "s3cret", NULL, body);
		assert_int_equal(
		    ps_webhook_check(&h, "s3cret", body, strlen(body), 0, 300, &delivery),
		    PS_WEBHOOK_SIGNED);
		assert_null(delivery); /* none sent */
		assert_int_equal(
		    ps_webhook_check(&h, "other", body, strlen(body), 0, 300, &delivery),
		    PS_WEBHOOK_BAD_SIGNATURE);
		assert_int_equal(
		    ps_webhook_check(&h, "s3cret", body, strlen(body) - 1, 0, 300, &delivery),
		    PS_WEBHOOK_BAD_SIGNATURE);
		/* No secret: nothing can be signed. */
		assert_int_equal(ps_webhook_check(&h, "", body, strlen(body), 0, 300, &delivery),
		                 PS_WEBHOOK_UNSIGNED);
		assert_int_equal(ps_webhook_check(&h, NULL, body, strlen(body), 0, 300, &delivery),
		                 PS_WEBHOOK_UNSIGNED);
	}
	{
		ps_webhook_headers h = PS_WEBHOOK_HEADERS_INIT;

		/* Headers the check does not read are not taken. */
		assert_int_equal(ps_webhook_header(&h, "Content-Type", "application/json"), 0);
		assert_int_equal(ps_webhook_header(&h, "X-Hub-Signature", "sha1=00"), 0);
		assert_int_equal(ps_webhook_check(&h, "s3cret", body, strlen(body), 0, 300, NULL),
		                 PS_WEBHOOK_UNSIGNED);
		/* Malformed values are bad signatures. */
		assert_int_equal(ps_webhook_header(&h, "X-Hub-Signature-256", "sha256=zz"), 1);
		assert_int_equal(ps_webhook_check(&h, "s3cret", body, strlen(body), 0, 300, NULL),
		                 PS_WEBHOOK_BAD_SIGNATURE);
	}
	{
		/* The timestamp is checked (window) and signed. */
		ps_webhook_headers h = PS_WEBHOOK_HEADERS_INIT;

		signed_headers(&h, sig, sizeof(sig), 0, "s3cret", "1700000000", body);
		assert_int_equal(
		    ps_webhook_check(&h, "s3cret", body, strlen(body), 1700000100, 300, NULL),
		    PS_WEBHOOK_SIGNED);
		assert_int_equal(
		    ps_webhook_check(&h, "s3cret", body, strlen(body), 1700000301, 300, NULL),
		    PS_WEBHOOK_STALE);
		h.timestamp = "1700000001";
		assert_int_equal(
		    ps_webhook_check(&h, "s3cret", body, strlen(body), 1700000100, 300, NULL),
		    PS_WEBHOOK_BAD_SIGNATURE);
		h.timestamp = "17e8";
		assert_int_equal(
		    ps_webhook_check(&h, "s3cret", body, strlen(body), 1700000100, 300, NULL),
		    PS_WEBHOOK_STALE);
	}
}

static void
test_webhook_first_header_wins(void **state)
{
	ps_webhook_headers h = PS_WEBHOOK_HEADERS_INIT;
	const char *body = "{}";
	char sig[80];

	(void)state;
	signed_headers(&h, sig, sizeof(sig), 0, "k", NULL, body);
	/* A second header of a name is not taken (MHD's lookup gives the first too). */
	assert_int_equal(ps_webhook_header(&h, "x-hub-signature-256", "sha256=00"), 0);
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, NULL), PS_WEBHOOK_SIGNED);
	/* The hub spelling is looked at first: a wrong one is not rescued by a
	 * right one in another header. */
	h.signature[0] = "sha256=00";
	h.signature[1] = sig;
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, NULL),
	                 PS_WEBHOOK_BAD_SIGNATURE);
}

static void
test_webhook_delivery_ids(void **state)
{
	const char *body = "{}", *delivery = NULL;
	char sig[80], longest[PS_WEBHOOK_DELIVERY_MAX + 2];
	ps_webhook_headers h = PS_WEBHOOK_HEADERS_INIT;

	(void)state;
	signed_headers(&h, sig, sizeof(sig), 1, "k", NULL, body);
	assert_int_equal(ps_webhook_header(&h, "X-WC-Webhook-Delivery-ID", "4242"), 1);
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, &delivery), PS_WEBHOOK_SIGNED);
	assert_string_equal(delivery, "4242");
	assert_int_equal(
	    ps_webhook_header(&h, "x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
	    1);
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, &delivery), PS_WEBHOOK_SIGNED);
	assert_string_equal(delivery, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
	/* The relay's header comes first. */
	assert_int_equal(ps_webhook_header(&h, "X-Pinsync-Delivery", "relay:1"), 1);
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, &delivery), PS_WEBHOOK_SIGNED);
	assert_string_equal(delivery, "relay:1");
	/* Malformed ids: empty, a space, a control, non-ASCII, too long. */
	h.delivery[0] = "";
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, &delivery),
	                 PS_WEBHOOK_BAD_DELIVERY);
	assert_null(delivery);
	h.delivery[0] = "a b";
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, NULL), PS_WEBHOOK_BAD_DELIVERY);
	h.delivery[0] = "a\tb";
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, NULL), PS_WEBHOOK_BAD_DELIVERY);
	h.delivery[0] = "caf\xc3\xa9";
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, NULL), PS_WEBHOOK_BAD_DELIVERY);
	memset(longest, 'x', sizeof(longest));
	longest[PS_WEBHOOK_DELIVERY_MAX] = '\0';
	h.delivery[0] = longest;
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, &delivery), PS_WEBHOOK_SIGNED);
	assert_int_equal(strlen(delivery), PS_WEBHOOK_DELIVERY_MAX);
	longest[PS_WEBHOOK_DELIVERY_MAX] = 'x';
	longest[PS_WEBHOOK_DELIVERY_MAX + 1] = '\0';
	assert_int_equal(ps_webhook_check(&h, "k", body, 2, 0, 300, NULL), PS_WEBHOOK_BAD_DELIVERY);
	/* A delivery id is judged only once the signature holds. */
	assert_int_equal(ps_webhook_check(&h, "wrong", body, 2, 0, 300, NULL),
	                 PS_WEBHOOK_BAD_SIGNATURE);
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
	    cmocka_unit_test(test_webhook_check_styles_and_verdicts),
	    cmocka_unit_test(test_webhook_first_header_wins),
	    cmocka_unit_test(test_webhook_delivery_ids),
	    cmocka_unit_test(test_progress_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
