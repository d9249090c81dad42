/*
 * fuzz_webhook.c: libFuzzer target for serve mode's webhook check
 * (sync/webhook.h: ps_webhook_header, ps_webhook_check; sync/hmac.c under
 * it): the headers of a request as a client sends them, its body, and the
 * verdict, with no HTTP library and no database.
 *
 * Input: one flags byte (bit 0: no secret; bits 1-2: the tolerance), then
 * "Name: value" lines up to an empty line (each given to
 * ps_webhook_header), then the body. "Now" is 1700000000 and the secret
 * FUZZ_SECRET, which the seeds (tests/fuzz/run) sign with, so that signed
 * requests are reached and mutated.
 *
 * Checked, besides no crash, leak or undefined behaviour (ASan, UBSan): the
 * verdict is one of the enum; SIGNED only with a secret and a signature
 * header whose value is the HMAC of [timestamp "."] body, recomputed and
 * encoded here independently of the decoder; a timestamp within the
 * window; a delivery id that is one of the request's, 1 to
 * PS_WEBHOOK_DELIVERY_MAX visible ASCII bytes; the same verdict twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hmac.h"
#include "webhook.h"

#define FUZZ_SECRET "fuzz-webhook-secret-0123456789"
#define FUZZ_NOW 1700000000
#define MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when header (leading blanks skipped) spells mac in enc. */
static int
spells(const char *header, ps_sig_encoding enc, const unsigned char mac[PS_HMAC_LEN])
{
	char want[2 * PS_HMAC_LEN + 8];

	while (*header == ' ' || *header == '\t')
		header++;
	if (enc == PS_SIG_HEX_SHA256) {
		memcpy(want, "sha256=", 7);
		ps_hmac_hex(want + 7, mac);
		/* The digits may come in either case; the prefix not. */
		return strncmp(header, want, 7) == 0 && strcasecmp(header + 7, want + 7) == 0;
	}
	ps_hmac_base64(want, mac);
	return strcmp(header, want) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long tolerances[] = {300, 1, 86400, 0};
	ps_webhook_headers h = PS_WEBHOOK_HEADERS_INIT;
	const char *secret, *delivery = NULL, *again = NULL;
	char *text, *p, *end, *body;
	size_t body_len, i, nheaders = 0;
	long tolerance;
	ps_webhook_verdict v;

	if (size < 1 || size > (1 << 16))
		return 0;
	secret = data[0] & 1 ? "" : FUZZ_SECRET;
	tolerance = tolerances[(data[0] >> 1) & 3];
	/* A NUL-terminated copy: header values are C strings (as the HTTP
	 * library hands them over); a NUL inside a line ends its value. */
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	end = text + size - 1;
	p = text;
	while (p < end && nheaders < MAX_HEADERS) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *colon, *value;

		if (nl == NULL)
			break;
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p == '\0') { /* the empty line: the body follows */
			p = nl + 1;
			break;
		}
		colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			value = colon + 1;
			while (*value == ' ')
				value++;
			ps_webhook_header(&h, p, value);
			nheaders++;
		}
		p = nl + 1;
	}
	body = p;
	body_len = (size_t)(end - p);

	v = ps_webhook_check(&h, secret, body, body_len, FUZZ_NOW, tolerance, &delivery);
	if (v != PS_WEBHOOK_SIGNED && v != PS_WEBHOOK_UNSIGNED && v != PS_WEBHOOK_BAD_SIGNATURE &&
	    v != PS_WEBHOOK_STALE && v != PS_WEBHOOK_BAD_DELIVERY)
		abort();
	if (ps_webhook_check(&h, secret, body, body_len, FUZZ_NOW, tolerance, &again) != v ||
	    again != delivery)
		abort();
	if (ps_webhook_verdict_str(v) == NULL)
		abort();
	if (v == PS_WEBHOOK_SIGNED) {
		static const ps_sig_encoding encs[PS_WEBHOOK_SIGNATURES] = {
		    PS_SIG_HEX_SHA256, PS_SIG_BASE64, PS_SIG_BASE64};
		unsigned char mac[PS_HMAC_LEN];
		const char *sig = NULL;
		ps_sig_encoding enc = PS_SIG_HEX_SHA256;

		for (i = 0; i < PS_WEBHOOK_SIGNATURES && sig == NULL; i++)
			if (h.signature[i]) {
				sig = h.signature[i];
				enc = encs[i];
			}
		if (sig == NULL || secret[0] == '\0')
			abort();
		if (h.timestamp && ps_hmac_check_timestamp(h.timestamp, FUZZ_NOW, tolerance) != 0)
			abort();
		if (ps_hmac_sha256(mac, secret, strlen(secret), h.timestamp, body, body_len) != 0 ||
		    !spells(sig, enc, mac))
			abort();
		if (delivery) {
			size_t n = strlen(delivery);
			int ours = 0;

			for (i = 0; i < PS_WEBHOOK_DELIVERIES; i++)
				ours |= delivery == h.delivery[i];
			if (!ours || n == 0 || n > PS_WEBHOOK_DELIVERY_MAX)
				abort();
			for (i = 0; i < n; i++)
				if ((unsigned char)delivery[i] <= 0x20 ||
				    (unsigned char)delivery[i] >= 0x7f)
					abort();
		}
	} else if (delivery != NULL) {
		abort(); /* a delivery id only for a signed request */
	}
	free(text);
	return 0;
}
