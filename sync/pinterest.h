/*
 * pinterest.h: the Pinterest API v5 client (libcurl + yajl).
 *
 * One ps_pin holds one libcurl easy handle, reused for every request so the
 * connection is kept alive (HTTP/2 where the server offers it over TLS; TLS
 * verification is always on), the access token, a rate limiter
 * (ratelimit.h), what the last answer said (HTTP status, Pinterest error
 * code and message, x-pinterest-rid) and counters for the whole client.
 *
 * Tokens: the client refreshes the access token shortly before it expires
 * and once after a 401, with the refresh grant of POST /oauth/token. The
 * refresh token rotates, so refreshing goes through a token store
 * (ps_pin_token_store): lock the stored tokens (one refresher at a time,
 * across processes), use them if another process refreshed meanwhile, else
 * refresh and commit the new pair durably BEFORE the new access token is
 * used (DESIGN invariant 5); if the commit fails, the request fails.
 * ps_pin_db_store_init() makes a store over db/'s oauth_tokens row.
 *
 * The refresh is not idempotent: once Pinterest has processed it, the
 * refresh token sent is dead. So it is sent once per rotation, on a fresh
 * connection (libcurl re-sends a request by itself when a reused connection
 * closes without an answer), and sent again only when it certainly did not
 * reach Pinterest: no connection could be made, or a 429 (the rate limiter
 * refuses before processing). Between such tries the stored tokens are
 * unlocked while the client waits (backoff, Retry-After, within
 * max_retry_s), then locked and read again. Any other failure after sending
 * (a timeout, a dropped connection, a 5xx, an unreadable 2xx answer) is a
 * LOST ANSWER: never retried; recorded through the store (lost()) and
 * returned as PS_PIN_EREFRESHLOST, with a message that says what happened
 * and what to do. The next client tries the stored refresh token once; a
 * 283 then names the lost answer as the likely cause. After a lost answer or
 * a 283 the client sends no refresh with that token for the rest of its life
 * (its callers may go on after a failed request): later refreshes return
 * the same error, unless the store hands over other tokens. When the access
 * token is still valid (the refresh was only due soon), a request goes on
 * with it after a lost answer, with a warning.
 *
 * Rate limits and retries: before each request the client waits as the
 * limiter says (fed by x-ratelimit-*, Retry-After). 429, 5xx and network
 * errors are retried with capped, jittered exponential backoff (never
 * shorter than what the server asked) while the total time spent waiting to
 * retry stays within max_retry_s (one budget for the client's whole life,
 * i.e. per run); other 4xx are returned at once. The token refresh is the
 * exception above: only 429 and failures to connect are retried. A stop
 * (control.h: a signal, the run's deadline) ends those waits: the call
 * returns PS_PIN_ESTOP without sending again. A request in flight is never
 * cut (a refresh cut short would be a lost answer): it ends within
 * timeout_ms.
 *
 * Errors are not logged here (the caller logs them once, with
 * ps_pin_last()); retries and token events are logged as they happen, each
 * with the x-pinterest-rid of the answer that caused it.
 *
 * Secrets: tokens and the client secret are registered with the log's
 * redactor and never formatted into a message.
 */
#ifndef PS_SYNC_PINTEREST_H
#define PS_SYNC_PINTEREST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "db.h"

/* Return codes (negative; 0 = ok). */
#define PS_PIN_EHTTP -60  /* an answer with an unexpected HTTP status */
#define PS_PIN_ENET -61   /* network error after retries */
#define PS_PIN_EAUTH -62  /* authentication failed and could not be fixed */
#define PS_PIN_EGRANT -63 /* refresh token invalid (code 283) or expired */
#define PS_PIN_ELOST -64  /* batch unknown to Pinterest (404 code 4331) */
#define PS_PIN_ESTORE -65 /* the token store callback failed */
#define PS_PIN_EPROTO -66 /* an answer pinsync cannot read */
#define PS_PIN_ERATE -67  /* the rate limit asks for a longer wait than max_retry_s */
#define PS_PIN_EREFRESHLOST -68 /* the answer to the token refresh was lost */
/* A stop (a signal, the run's deadline: control.h) came while waiting to
 * retry or for the rate limit: nothing more was sent. */
#define PS_PIN_ESTOP -69

/* Size caps of what Pinterest sends back. */
#define PS_PIN_MAX_RESPONSE (64 * 1024 * 1024)

typedef struct ps_pin_tokens {
	const char *access_token;
	const char *refresh_token;
	time_t access_expires_at;  /* 0: unknown */
	time_t refresh_expires_at; /* 0: unknown */
	/* Set by a store's lock() only: when the answer to a refresh sent with
	 * refresh_token was lost (0: never), and what happened (or NULL). */
	time_t refresh_lost_at;
	const char *refresh_lost_detail;
} ps_pin_tokens;

/*
 * Where the tokens live while several processes share them. The client
 * calls lock() before refreshing, then exactly one of commit(), lost() and
 * unlock(). It never waits between lock() and that call but for the one
 * refresh exchange.
 *   lock:   makes the caller the only refresher (waiting for another one to
 *           finish) and reads the tokens as stored now into *current; the
 *           strings are owned by the store and valid until the next call.
 *           Returns 0, or non-zero when the tokens cannot be read.
 *   commit: stores the rotated tokens durably, clears the mark lost() left
 *           and releases the lock; returns 0 only once they are committed
 *           (on failure the lock is released too).
 *   lost:   records durably that the answer to the refresh just sent with
 *           the locked refresh token was lost (when: now; detail: what
 *           happened, never a secret) and releases the lock; returns 0 once
 *           recorded (on failure the lock is released too). NULL: nothing
 *           is recorded.
 *   unlock: releases the lock without storing anything.
 */
typedef struct ps_pin_token_store {
	int (*lock)(void *ctx, ps_pin_tokens *current);
	int (*commit)(void *ctx, const ps_pin_tokens *tokens);
	int (*lost)(void *ctx, const char *detail);
	void (*unlock)(void *ctx);
	void *ctx;
} ps_pin_token_store;

/* A token store over the oauth_tokens row of client_key in db (db/tokens.c:
 * SELECT ... FOR UPDATE in a transaction, COMMIT on store; a lost answer is
 * marked in refresh_lost_at and refresh_lost_detail). Hand &st->store
 * to ps_pin_options.token_store. db and client_key are borrowed and, with
 * st, must outlive the client; st holds nothing between refreshes. */
typedef struct ps_pin_db_store {
	ps_pin_token_store store;
	ps_db *db;
	const char *client_key;
	ps_tokens held; /* the locked row, while a refresh runs */
} ps_pin_db_store;

void ps_pin_db_store_init(ps_pin_db_store *st, ps_db *db, const char *client_key);

typedef struct ps_pin_options {
	const char *api_base;  /* "https://api.pinterest.com/v5" */
	const char *client_id; /* for the refresh grant; NULL: no refresh */
	const char *client_secret;
	long connect_timeout_ms;
	long timeout_ms;       /* whole request */
	double max_retry_s;    /* total time spent waiting to retry, per client */
	const ps_pin_token_store *token_store; /* borrowed; NULL: tokens live only here */
} ps_pin_options;

#define PS_PIN_OPTIONS_INIT                                                                       \
	{                                                                                         \
		"https://api.pinterest.com/v5", NULL, NULL, 10000, 60000, 300.0, NULL             \
	}

typedef struct ps_pin ps_pin;

/* What the last request's answer said. */
typedef struct ps_pin_status {
	long http_status;    /* 0: no answer */
	long code;           /* Pinterest error code, -1 when none */
	char message[768];   /* Pinterest's message, the transport error or what
	                        pinsync makes of it (and what to do) */
	char request_id[80]; /* x-pinterest-rid */
	int token_refresh;   /* the last call failed in the token refresh: the
	                        message says it all (status, rid, what to do) */
	int retries;         /* retries made by the last call */
	double retry_wait_s; /* time spent waiting to retry, all calls */
} ps_pin_status;

/* Counters over the client's whole life (a run's worth). */
typedef struct ps_pin_stats {
	long requests;         /* HTTP exchanges attempted */
	long connections;      /* connections opened (keep-alive keeps this low) */
	int retries;           /* exchanges retried after 429, 5xx or a network error */
	double retry_wait_s;   /* time spent waiting to retry (backoff, Retry-After) */
	double rate_wait_s;    /* time spent pacing requests to the announced limits */
	int refreshes;         /* token refreshes done by this client */
	int refreshes_adopted; /* refreshes found already done by another process */
} ps_pin_stats;

/* Creates a client; options' strings and tokens are copied (token_store is
 * borrowed). Warns when the refresh token expires within 7 days. Returns 0,
 * or -1 when out of memory or libcurl cannot start. */
int ps_pin_new(ps_pin **out, const ps_pin_options *opts, const ps_pin_tokens *tokens);
void ps_pin_free(ps_pin *pin);
/* What the last request's answer said (borrowed, valid until the next
 * request). */
const ps_pin_status *ps_pin_last(const ps_pin *pin);
/* The client's counters (borrowed, valid while the client lives). */
const ps_pin_stats *ps_pin_get_stats(const ps_pin *pin);

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

/* Refreshes the access token now (normally done by the client itself),
 * through the token store when there is one: if another process refreshed
 * meanwhile, its tokens are used and nothing is sent. PS_PIN_EGRANT when
 * Pinterest refuses the refresh token (code 283) or it has expired: the
 * message then says how to re-authorise (and names the lost answer the
 * store remembers, if any). PS_PIN_EREFRESHLOST when the answer was lost
 * (recorded through the store; see above). Once either happened, later
 * calls return the same error and send nothing, until the store holds
 * other tokens (another process refreshed, or pinsync auth set). */
int ps_pin_refresh(ps_pin *pin);

#endif /* PS_SYNC_PINTEREST_H */
