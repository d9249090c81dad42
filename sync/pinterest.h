/*
 * pinterest.h: the Pinterest API v5 client (libcurl + yajl).
 *
 * One ps_pin holds one libcurl easy handle, reused for every request so the
 * connection is kept alive, the access token, and what the last answer said
 * (HTTP status, Pinterest error code and message, x-pinterest-rid).
 *
 * Tokens: the client refreshes the access token shortly before it expires
 * and once after a 401, with the refresh grant of POST /oauth/token. The
 * refresh token rotates: the new pair is handed to the store callback, which
 * must commit it durably BEFORE the client uses the new access token
 * (DESIGN invariant 5); if the store fails, the request fails.
 *
 * Retries: 429, 5xx and network errors are retried with capped, jittered
 * exponential backoff (Retry-After / x-ratelimit-reset respected) up to a
 * total retry time; other 4xx are returned at once.
 *
 * Secrets: tokens and the client secret are registered with the log's
 * redactor and never formatted into an error message.
 */
#ifndef PS_SYNC_PINTEREST_H
#define PS_SYNC_PINTEREST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* Return codes (negative; 0 = ok). */
#define PS_PIN_EHTTP -60  /* an answer with an unexpected HTTP status */
#define PS_PIN_ENET -61   /* network error after retries */
#define PS_PIN_EAUTH -62  /* authentication failed and could not be fixed */
#define PS_PIN_EGRANT -63 /* refresh token invalid (code 283) or expired */
#define PS_PIN_ELOST -64  /* batch unknown to Pinterest (404 code 4331) */
#define PS_PIN_ESTORE -65 /* the token store callback failed */
#define PS_PIN_EPROTO -66 /* an answer pinsync cannot read */

/* Size caps of what Pinterest sends back. */
#define PS_PIN_MAX_RESPONSE (64 * 1024 * 1024)

typedef struct ps_pin_tokens {
	const char *access_token;
	const char *refresh_token;
	time_t access_expires_at;  /* 0: unknown */
	time_t refresh_expires_at; /* 0: unknown */
} ps_pin_tokens;

/* Stores rotated tokens durably; returns 0 on success. */
typedef int (*ps_pin_store_fn)(void *ctx, const ps_pin_tokens *tokens);

typedef struct ps_pin_options {
	const char *api_base;  /* "https://api.pinterest.com/v5" */
	const char *client_id; /* for the refresh grant; NULL: no refresh */
	const char *client_secret;
	long connect_timeout_ms;
	long timeout_ms;    /* whole request */
	double max_retry_s; /* total time spent waiting to retry */
	ps_pin_store_fn store;
	void *store_ctx;
} ps_pin_options;

#define PS_PIN_OPTIONS_INIT                                                                 \
	{                                                                                   \
		"https://api.pinterest.com/v5", NULL, NULL, 10000, 60000, 300.0, NULL, NULL \
	}

typedef struct ps_pin ps_pin;

/* What the last request's answer said. */
typedef struct ps_pin_status {
	long http_status;    /* 0: no answer */
	long code;           /* Pinterest error code, -1 when none */
	char message[512];   /* Pinterest's message or the transport error */
	char request_id[80]; /* x-pinterest-rid */
	int retries;         /* retries made by the last call */
	double retry_wait_s; /* time spent waiting to retry, all calls */
} ps_pin_status;

/* Creates a client; tokens are copied. Returns 0, or -1 when out of memory
 * or libcurl cannot start. */
int ps_pin_new(ps_pin **out, const ps_pin_options *opts, const ps_pin_tokens *tokens);
void ps_pin_free(ps_pin *pin);
const ps_pin_status *ps_pin_last(const ps_pin *pin);

/* Sends a request to api_base + path with the bearer token; body may be
 * NULL (then GET unless method says otherwise). The answer's body is left
 * in resp (NUL-terminated). Returns 0 for a 2xx answer, else a PS_PIN_*
 * code with details in ps_pin_last(). */
int ps_pin_request(ps_pin *pin, const char *method, const char *path, const char *body,
                   size_t body_len, ps_buf *resp);

/* POST /catalogs/items/batch: returns the batch_id (malloc'ed) in *out. */
int ps_pin_batch_send(ps_pin *pin, const char *body, size_t len, char **out);

/* GET /catalogs/items/batch/{batch_id}: the raw answer in resp.
 * PS_PIN_ELOST for 404 code 4331. */
int ps_pin_batch_get(ps_pin *pin, const char *batch_id, ps_buf *resp);

/* Refreshes the access token now (normally done by the client itself). */
int ps_pin_refresh(ps_pin *pin);

#endif /* PS_SYNC_PINTEREST_H */
