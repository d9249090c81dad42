/*
 * hmac.c: webhook signatures with OpenSSL's EVP_MAC (HMAC, SHA-256).
 */
#include "hmac.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

int
ps_hmac_sha256(unsigned char out[PS_HMAC_LEN], const void *key, size_t key_len, const char *prefix,
               const void *body, size_t body_len)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t outlen = 0;
	int rc = -1;

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		goto done;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		goto done;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key, key_len, params))
		goto done;
	/* Streamed: the body (up to the webhook cap) is never copied. */
	if (prefix && (!EVP_MAC_update(ctx, (const unsigned char *)prefix, strlen(prefix)) ||
	               !EVP_MAC_update(ctx, (const unsigned char *)".", 1)))
		goto done;
	if (body_len && !EVP_MAC_update(ctx, body, body_len))
		goto done;
	if (!EVP_MAC_final(ctx, out, &outlen, PS_HMAC_LEN) || outlen != PS_HMAC_LEN)
		goto done;
	rc = 0;
done:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes exactly PS_HMAC_LEN bytes of hex; -1 on any other shape. */
static int
decode_hex(unsigned char out[PS_HMAC_LEN], const char *s)
{
	size_t i;

	if (strlen(s) != 2 * PS_HMAC_LEN)
		return -1;
	for (i = 0; i < PS_HMAC_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Decodes standard base64 of exactly PS_HMAC_LEN bytes (44 characters,
 * one '=' of padding); -1 on any other shape. Only the one canonical
 * spelling of a digest is accepted: EVP_DecodeBlock reads a '=' inside the
 * text as 'A' and ignores the unused low bits of the last character, so
 * that one digest had several spellings (found by tests/fuzz/fuzz_webhook). */
static int
decode_base64(unsigned char out[PS_HMAC_LEN], const char *s)
{
	unsigned char buf[3 * 11], again[45];
	size_t len = strlen(s);

	if (len != 44 || s[43] != '=' || s[42] == '=')
		return -1;
	/* EVP_DecodeBlock counts the padding as zero bytes: 33 for 44 chars. */
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) != 33)
		return -1;
	if (EVP_EncodeBlock(again, buf, PS_HMAC_LEN) != 44 || memcmp(again, s, 44) != 0)
		return -1;
	memcpy(out, buf, PS_HMAC_LEN);
	return 0;
}

int
ps_hmac_verify(const char *secret, const char *timestamp, const void *body, size_t body_len,
               ps_sig_encoding enc, const char *header)
{
	unsigned char want[PS_HMAC_LEN], got[PS_HMAC_LEN];

	if (secret == NULL || secret[0] == '\0' || header == NULL)
		return -1;
	while (*header == ' ' || *header == '\t')
		header++;
	if (enc == PS_SIG_HEX_SHA256) {
		if (strncmp(header, "sha256=", 7) != 0 || decode_hex(got, header + 7) < 0)
			return -1;
	} else if (decode_base64(got, header) < 0) {
		return -1;
	}
	if (ps_hmac_sha256(want, secret, strlen(secret), timestamp, body, body_len) < 0)
		return -1;
	return CRYPTO_memcmp(want, got, PS_HMAC_LEN) == 0 ? 0 : -1;
}

int
ps_hmac_check_timestamp(const char *value, int64_t now, long tolerance_s)
{
	char *end = NULL;
	long long ts;

	if (value == NULL || value[0] < '0' || value[0] > '9')
		return -1;
	errno = 0;
	ts = strtoll(value, &end, 10);
	if (errno || *end)
		return -1;
	if (ts > now + tolerance_s || ts < now - tolerance_s)
		return -1;
	return 0;
}

void
ps_hmac_hex(char out[2 * PS_HMAC_LEN + 1], const unsigned char mac[PS_HMAC_LEN])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < PS_HMAC_LEN; i++) {
		out[2 * i] = digits[mac[i] >> 4];
		out[2 * i + 1] = digits[mac[i] & 15];
	}
	out[2 * PS_HMAC_LEN] = '\0';
}

void
ps_hmac_base64(char out[45], const unsigned char mac[PS_HMAC_LEN])
{
	EVP_EncodeBlock((unsigned char *)out, mac, PS_HMAC_LEN);
}
