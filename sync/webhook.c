/*
 * webhook.c: the headers of a webhook and its signature check (webhook.h).
 */
#include "webhook.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hmac.h"

static const struct {
	const char *name;
	ps_sig_encoding enc;
} signature_headers[PS_WEBHOOK_SIGNATURES] = {
    {"X-Hub-Signature-256", PS_SIG_HEX_SHA256},
    {"X-Shopify-Hmac-Sha256", PS_SIG_BASE64},
    {"X-WC-Webhook-Signature", PS_SIG_BASE64},
};

static const char *const delivery_headers[PS_WEBHOOK_DELIVERIES] = {
    "X-Pinsync-Delivery",
    "X-Shopify-Webhook-Id",
    "X-WC-Webhook-Delivery-ID",
};

#define TIMESTAMP_HEADER "X-Pinsync-Timestamp"

/* Sets *slot to value unless a header of that name came first. */
static int
take(const char **slot, const char *value)
{
	if (*slot)
		return 0;
	*slot = value;
	return 1;
}

int
ps_webhook_header(ps_webhook_headers *h, const char *name, const char *value)
{
	size_t i;

	if (name == NULL || value == NULL)
		return 0;
	for (i = 0; i < PS_WEBHOOK_SIGNATURES; i++)
		if (strcasecmp(name, signature_headers[i].name) == 0)
			return take(&h->signature[i], value);
	for (i = 0; i < PS_WEBHOOK_DELIVERIES; i++)
		if (strcasecmp(name, delivery_headers[i]) == 0)
			return take(&h->delivery[i], value);
	if (strcasecmp(name, TIMESTAMP_HEADER) == 0)
		return take(&h->timestamp, value);
	return 0;
}

/* 1 when s is 1 to PS_WEBHOOK_DELIVERY_MAX visible ASCII characters. */
static int
valid_delivery(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (n >= PS_WEBHOOK_DELIVERY_MAX || (unsigned char)s[n] <= 0x20 ||
		    (unsigned char)s[n] >= 0x7f)
			return 0;
	return n > 0;
}

ps_webhook_verdict
ps_webhook_check(const ps_webhook_headers *h, const char *secret, const void *body, size_t body_len,
                 int64_t now, long tolerance_s, const char **delivery)
{
	const char *sig = NULL;
	ps_sig_encoding enc = PS_SIG_HEX_SHA256;
	size_t i;

	if (delivery)
		*delivery = NULL;
	for (i = 0; i < PS_WEBHOOK_SIGNATURES && sig == NULL; i++)
		if (h->signature[i]) {
			sig = h->signature[i];
			enc = signature_headers[i].enc;
		}
	if (sig == NULL || secret == NULL || secret[0] == '\0')
		return PS_WEBHOOK_UNSIGNED;
	if (h->timestamp && ps_hmac_check_timestamp(h->timestamp, now, tolerance_s) < 0)
		return PS_WEBHOOK_STALE;
	if (ps_hmac_verify(secret, h->timestamp, body_len ? body : "", body_len, enc, sig) < 0)
		return PS_WEBHOOK_BAD_SIGNATURE;
	for (i = 0; i < PS_WEBHOOK_DELIVERIES; i++)
		if (h->delivery[i]) {
			if (!valid_delivery(h->delivery[i]))
				return PS_WEBHOOK_BAD_DELIVERY;
			if (delivery)
				*delivery = h->delivery[i];
			break;
		}
	return PS_WEBHOOK_SIGNED;
}

const char *
ps_webhook_verdict_str(ps_webhook_verdict v)
{
	switch (v) {
	case PS_WEBHOOK_SIGNED: return "signed";
	case PS_WEBHOOK_UNSIGNED: return "missing signature";
	case PS_WEBHOOK_BAD_SIGNATURE: return "invalid signature";
	case PS_WEBHOOK_STALE: return "stale or malformed timestamp";
	case PS_WEBHOOK_BAD_DELIVERY: return "malformed delivery id";
	}
	return "?";
}
