/*
 * hmac.h: webhook signatures, HMAC-SHA256 over the raw request body.
 *
 * Stores sign their webhooks with a shared secret in one of three
 * spellings, all accepted (serve.c picks the first header present):
 *
 *   X-Hub-Signature-256: sha256=<hex>        (GitHub style, many platforms)
 *   X-Shopify-Hmac-Sha256: <base64>          (Shopify)
 *   X-WC-Webhook-Signature: <base64>         (WooCommerce)
 *
 * With an X-Pinsync-Timestamp: <Unix seconds> header, the signed payload is
 * "<timestamp>.<body>" instead of the body, and a timestamp outside the
 * tolerance window is refused, so that a captured request cannot be
 * replayed later. Comparisons run in constant time (CRYPTO_memcmp).
 *
 * Pure functions: no I/O, nothing logged; the caller owns every buffer.
 */
#ifndef PS_SYNC_HMAC_H
#define PS_SYNC_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define PS_HMAC_LEN 32

/* How a signature header spells the digest. */
typedef enum ps_sig_encoding {
	PS_SIG_HEX_SHA256, /* "sha256=" then 64 hex digits */
	PS_SIG_BASE64      /* standard base64 of the 32 bytes */
} ps_sig_encoding;

/* HMAC-SHA256 of [prefix "."] body with key into out. prefix may be NULL
 * (no prefix, no dot). Returns 0, or -1 when the library fails. */
int ps_hmac_sha256(unsigned char out[PS_HMAC_LEN], const void *key, size_t key_len,
                   const char *prefix, const void *body, size_t body_len);

/* Checks header (the value of a signature header, spelled as enc) against
 * the HMAC of [timestamp "."] body under secret. Returns 0 when it matches,
 * -1 otherwise (malformed value, empty secret, or a different digest). */
int ps_hmac_verify(const char *secret, const char *timestamp, const void *body, size_t body_len,
                   ps_sig_encoding enc, const char *header);

/* Parses an X-Pinsync-Timestamp value and checks it lies within
 * tolerance_s of now (either side). Returns 0 when it does, -1 when it is
 * malformed or too old or too new. */
int ps_hmac_check_timestamp(const char *value, int64_t now, long tolerance_s);

/* Writes the lower-case hex of the HMAC (65 bytes with the NUL) or its
 * base64 (45 bytes with the NUL) into out; for tests and tools. */
void ps_hmac_hex(char out[2 * PS_HMAC_LEN + 1], const unsigned char mac[PS_HMAC_LEN]);
void ps_hmac_base64(char out[45], const unsigned char mac[PS_HMAC_LEN]);

#endif /* PS_SYNC_HMAC_H */
