/*
 * webhook.h: what a webhook request's headers say, and whether its
 * signature holds: the pure part of serve mode's webhook check (no HTTP
 * library, no database, no file, no clock: the caller passes "now"), so that
 * it can be unit-tested and fuzzed (tests/fuzz/fuzz_webhook.c).
 *
 * Headers read (names are case-insensitive; the first of a name counts):
 *
 *   signature  X-Hub-Signature-256 ("sha256=" + hex), X-Shopify-Hmac-Sha256
 *              and X-WC-Webhook-Signature (base64): HMAC-SHA256 of the body
 *              (hmac.h); the first present in that order is checked
 *   timestamp  X-Pinsync-Timestamp: Unix seconds; the signed payload is then
 *              "TIMESTAMP.BODY", and a timestamp out of the window is stale
 *   delivery   X-Pinsync-Delivery (a relay's), X-Shopify-Webhook-Id,
 *              X-WC-Webhook-Delivery-ID: the sender's id of the delivery,
 *              remembered for the replay window (db.h, "webhook
 *              deliveries"); the first present in that order is used
 *
 * The delivery id is not covered by Shopify's or WooCommerce's signature:
 * it catches a sender's retries and replays of a request as captured, not
 * one replayed with a made-up id (a signed timestamp does).
 */
#ifndef PS_SYNC_WEBHOOK_H
#define PS_SYNC_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

/* Longest delivery id kept (longer ones are refused); ids are 1 to this
 * many visible ASCII characters (no space, no control). */
#define PS_WEBHOOK_DELIVERY_MAX 128

enum { PS_WEBHOOK_SIGNATURES = 3, PS_WEBHOOK_DELIVERIES = 3 };

/* The headers of one request that the check reads; the strings are
 * borrowed (the caller's, e.g. the HTTP library's), NULL when absent. */
typedef struct ps_webhook_headers {
	const char *signature[PS_WEBHOOK_SIGNATURES]; /* in the order above */
	const char *timestamp;
	const char *delivery[PS_WEBHOOK_DELIVERIES]; /* in the order above */
} ps_webhook_headers;

#define PS_WEBHOOK_HEADERS_INIT {.signature = {NULL}, .timestamp = NULL, .delivery = {NULL}}

/* Takes one request header into h when it is one of those above and the
 * first of its name; value is borrowed. Returns 1 when taken, else 0. */
int ps_webhook_header(ps_webhook_headers *h, const char *name, const char *value);

/* What the check found, first failure first. */
typedef enum ps_webhook_verdict {
	PS_WEBHOOK_SIGNED,        /* the signature holds (and the timestamp, if any) */
	PS_WEBHOOK_UNSIGNED,      /* no signature header, or no secret to check with */
	PS_WEBHOOK_BAD_SIGNATURE, /* malformed, or not the body's under secret */
	PS_WEBHOOK_STALE,         /* timestamp malformed or out of the window */
	PS_WEBHOOK_BAD_DELIVERY   /* signed, but the delivery id is malformed */
} ps_webhook_verdict;

/* Checks a request: its timestamp (when there is one) lies within
 * tolerance_s of now, its signature is HMAC-SHA256 of [timestamp "."] body
 * under secret (NULL or "": nothing can be signed), and then its delivery
 * id, if any, is well formed. On PS_WEBHOOK_SIGNED, *delivery (may be NULL)
 * is the delivery id to remember (borrowed from h) or NULL when the request
 * has none. Digests are compared in constant time (hmac.h). */
ps_webhook_verdict ps_webhook_check(const ps_webhook_headers *h, const char *secret,
                                    const void *body, size_t body_len, int64_t now,
                                    long tolerance_s, const char **delivery);

/* A name for a verdict, for logs ("invalid signature", ...). */
const char *ps_webhook_verdict_str(ps_webhook_verdict v);

#endif /* PS_SYNC_WEBHOOK_H */
