/*
 * pinterest.c: requests to the Pinterest API v5 with one reused libcurl
 * handle, bearer tokens that refresh and rotate, and bounded retries.
 */
#include "pinterest.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "answers.h"
#include "clock.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"

/* Refresh the access token when it expires within this many seconds. */
#define REFRESH_MARGIN_S 300
/* Warn when the refresh token expires within this many seconds. */
#define REFRESH_WARN_S (7 * 86400)
/* Backoff: first wait, growth cap. */
#define BACKOFF_FIRST_S 0.5
#define BACKOFF_CAP_S 30.0
/* How long a refresher waits for another process's refresh to finish. */
#define TOKEN_LOCK_TIMEOUT_S 120.0

#define REAUTHORISE                                                                      \
	"re-authorise pinsync in the Pinterest app (OAuth consent for the account that " \
	"owns the catalog), then store the new tokens with: pinsync auth set "           \
	"--access-token-file FILE --refresh-token-file FILE --expires-in SECONDS "       \
	"--refresh-expires-in SECONDS"

struct ps_pin {
	CURL *curl;
	ps_pin_options opts;
	char *api_base;
	char *client_id;
	char *client_secret;
	char *access_token;
	char *refresh_token;
	time_t access_expires_at;
	time_t refresh_expires_at;
	int expiry_warned;
	/* Once per rotation: no refresh goes out with refresh_token any more in
	 * this client's life, because its answer was lost (PS_PIN_EREFRESHLOST:
	 * the token may be dead) or Pinterest refused it (PS_PIN_EGRANT); 0: it
	 * may. Cleared when the store hands over another refresh token.
	 * refresh_stop_msg repeats what the operator was told. */
	int refresh_stop;
	char refresh_stop_msg[sizeof(((ps_pin_status *)0)->message)];
	char lost_detail[400]; /* what happened to the answer that was lost */
	ps_pin_status last;
	ps_pin_stats stats;
	ps_rl *rl;
	/* Rate-limit headers of the answer being received ("" when absent). */
	char h_limit[256];
	char h_remaining[32];
	char h_reset[32];
	char h_retry_after[64];
	char curl_error[CURL_ERROR_SIZE]; /* libcurl's detail of a transport error */
	unsigned seed;
};

static int
replace_str(char **dst, const char *src)
{
	char *copy = NULL;

	if (src && (copy = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

static const char *
rid_of(const ps_pin *pin)
{
	return pin->last.request_id[0] ? pin->last.request_id : "none";
}

/* Warns (once) when the refresh token is close to its end: after it, only a
 * human can give pinsync access again. */
static void
warn_refresh_expiry(ps_pin *pin)
{
	time_t now = time(NULL);
	char when[32];
	struct tm tm;

	if (pin->expiry_warned || pin->refresh_expires_at == 0 || pin->refresh_token == NULL ||
	    now + REFRESH_WARN_S < pin->refresh_expires_at)
		return;
	pin->expiry_warned = 1;
	gmtime_r(&pin->refresh_expires_at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	if (now >= pin->refresh_expires_at)
		ps_warn("the Pinterest refresh token expired at %s: %s", when, REAUTHORISE);
	else
		ps_warn("the Pinterest refresh token expires at %s (in %ld days): before then, %s",
		        when, (long)((pin->refresh_expires_at - now + 43200) / 86400), REAUTHORISE);
}

/* Takes tokens as the client's own (copied); registers them as secrets. */
static int
adopt_tokens(ps_pin *pin, const ps_pin_tokens *t)
{
	if (replace_str(&pin->access_token, t->access_token) < 0 ||
	    (t->refresh_token && replace_str(&pin->refresh_token, t->refresh_token) < 0))
		return -1;
	ps_log_secret(pin->access_token);
	ps_log_secret(pin->refresh_token);
	pin->access_expires_at = t->access_expires_at;
	if (t->refresh_token) {
		if (t->refresh_expires_at != pin->refresh_expires_at)
			pin->expiry_warned = 0;
		pin->refresh_expires_at = t->refresh_expires_at;
	}
	warn_refresh_expiry(pin);
	return 0;
}

int
ps_pin_new(ps_pin **out, const ps_pin_options *opts, const ps_pin_tokens *tokens)
{
	ps_pin *pin = calloc(1, sizeof(*pin));

	*out = NULL;
	if (pin == NULL)
		return -1;
	pin->opts = *opts;
	pin->curl = curl_easy_init();
	if (pin->curl == NULL || ps_rl_new(&pin->rl) < 0 ||
	    replace_str(&pin->api_base, opts->api_base) < 0 ||
	    replace_str(&pin->client_id, opts->client_id) < 0 ||
	    replace_str(&pin->client_secret, opts->client_secret) < 0 ||
	    replace_str(&pin->access_token, tokens->access_token) < 0 ||
	    replace_str(&pin->refresh_token, tokens->refresh_token) < 0) {
		ps_pin_free(pin);
		return -1;
	}
	/* The base has no trailing slash: paths start with one. */
	if (pin->api_base) {
		size_t n = strlen(pin->api_base);

		while (n > 0 && pin->api_base[n - 1] == '/')
			pin->api_base[--n] = '\0';
	}
	pin->access_expires_at = tokens->access_expires_at;
	pin->refresh_expires_at = tokens->refresh_expires_at;
	pin->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	ps_log_secret(pin->client_secret);
	ps_log_secret(pin->access_token);
	ps_log_secret(pin->refresh_token);
	warn_refresh_expiry(pin);
	*out = pin;
	return 0;
}

void
ps_pin_free(ps_pin *pin)
{
	if (pin == NULL)
		return;
	if (pin->stats.requests > 0)
		ps_info("HTTP client: %ld requests over %ld connections, %d retries "
		        "(%.1f s waiting to retry), %.1f s paced by the rate limit, "
		        "%d token refreshes (%d done by another process)",
		        pin->stats.requests, pin->stats.connections, pin->stats.retries,
		        pin->stats.retry_wait_s, pin->stats.rate_wait_s, pin->stats.refreshes,
		        pin->stats.refreshes_adopted);
	if (pin->curl)
		curl_easy_cleanup(pin->curl);
	ps_rl_free(pin->rl);
	free(pin->api_base);
	free(pin->client_id);
	free(pin->client_secret);
	free(pin->access_token);
	free(pin->refresh_token);
	free(pin);
}

const ps_pin_status *
ps_pin_last(const ps_pin *pin)
{
	return &pin->last;
}

const ps_pin_stats *
ps_pin_get_stats(const ps_pin *pin)
{
	return &pin->stats;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	ps_buf *resp = userp;

	if (ps_buf_add(resp, data, size * nmemb) < 0)
		return 0; /* over PS_PIN_MAX_RESPONSE: curl stops with an error */
	return size * nmemb;
}

/* Copies the value of header line 'line' named 'name' into dst, trimmed. */
static int
header_value(const char *line, size_t len, const char *name, char *dst, size_t dstlen)
{
	size_t nlen = strlen(name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return 0;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= dstlen)
		vlen = dstlen - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 1;
}

static void
clear_headers(ps_pin *pin)
{
	pin->last.request_id[0] = '\0';
	pin->h_limit[0] = pin->h_remaining[0] = pin->h_reset[0] = pin->h_retry_after[0] = '\0';
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *userp)
{
	ps_pin *pin = userp;
	size_t len = size * nmemb;

	/* A status line starts a new answer (after a 100 Continue): only the
	 * final answer's headers count. */
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
		clear_headers(pin);
	else if (!header_value(line, len, "x-pinterest-rid", pin->last.request_id,
	                       sizeof(pin->last.request_id)) &&
	         !header_value(line, len, "retry-after", pin->h_retry_after,
	                       sizeof(pin->h_retry_after)) &&
	         !header_value(line, len, "x-ratelimit-limit", pin->h_limit,
	                       sizeof(pin->h_limit)) &&
	         !header_value(line, len, "x-ratelimit-remaining", pin->h_remaining,
	                       sizeof(pin->h_remaining)))
		header_value(line, len, "x-ratelimit-reset", pin->h_reset, sizeof(pin->h_reset));
	return len;
}

/* Reads Pinterest's {"code": int, "message": string} from body. */
static void
parse_error(ps_pin *pin, const ps_buf *body)
{
	ps_answer_error(ps_buf_str(body), body->len, &pin->last.code, pin->last.message,
	                sizeof(pin->last.message));
	if (pin->last.message[0] == '\0')
		snprintf(pin->last.message, sizeof(pin->last.message), "HTTP %ld",
		         pin->last.http_status);
}

/* Feeds the answer's rate-limit headers to the limiter. */
static void
feed_limiter(ps_pin *pin)
{
	ps_rl_headers h = {pin->h_limit[0] ? pin->h_limit : NULL,
	                   pin->h_remaining[0] ? pin->h_remaining : NULL,
	                   pin->h_reset[0] ? pin->h_reset : NULL,
	                   pin->h_retry_after[0] ? pin->h_retry_after : NULL};

	ps_rl_update(pin->rl, ps_clock_now(), time(NULL), &h);
}

/* One HTTP exchange, no retry: refresh non-zero sends the token refresh
 * (the app's credentials instead of a bearer token, on a fresh connection).
 * Returns the CURLcode. */
static CURLcode
perform(ps_pin *pin, const char *method, const char *url, const char *body, size_t body_len,
        struct curl_slist *headers, int refresh, ps_buf *resp)
{
	CURL *c = pin->curl;
	char ua[64];
	long conns = 0;
	CURLcode cc;

	curl_easy_reset(c); /* keeps the connection cache */
	snprintf(ua, sizeof(ua), "pinsync/%s", PINSYNC_VERSION);
	ps_buf_reset(resp);
	pin->last.token_refresh = refresh;
	pin->last.http_status = 0;
	pin->last.code = -1;
	pin->last.message[0] = '\0';
	clear_headers(pin);

	pin->curl_error[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, pin->curl_error);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_USERAGENT, ua);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, pin);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, pin->opts.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, pin->opts.timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	/* TLS verification is always on: there is no setting to turn it off. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	/* HTTP/2 when the server offers it in the TLS handshake (ALPN). */
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (refresh) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, pin->client_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD, pin->client_secret);
		/* libcurl sends a request again by itself when a reused connection
		 * closes before any answer, which is how a lost answer looks: the
		 * refresh must go out once, so never on a reused connection. */
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, pin->access_token);
	}
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (method && strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);

	ps_rl_sent(pin->rl, ps_clock_now());
	cc = curl_easy_perform(c);
	pin->stats.requests++;
	if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK)
		pin->stats.connections += conns;
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &pin->last.http_status);
		feed_limiter(pin);
	} else {
		/* The detail ("SSL certificate problem: self-signed certificate")
		 * when libcurl gives one. */
		snprintf(pin->last.message, sizeof(pin->last.message), "%s",
		         pin->curl_error[0] ? pin->curl_error : curl_easy_strerror(cc));
	}
	ps_metrics_api_response((int)pin->last.http_status);
	return cc;
}

/* After a wait: PS_PIN_ESTOP, with the reason in last, when a stop came
 * (a signal, the run's deadline), else 0. */
static int
stopped(ps_pin *pin, const char *what)
{
	if (!ps_control_stopping())
		return 0;
	pin->last.http_status = 0;
	pin->last.code = -1;
	pin->last.request_id[0] = '\0';
	snprintf(pin->last.message, sizeof(pin->last.message), "stopped while %s: %s", what,
	         ps_control_stop_reason());
	return PS_PIN_ESTOP;
}

/* Waits as the rate limiter says before a request. Returns 0, -1 (with the
 * reason in last) when the wait would exceed the retry budget, or
 * PS_PIN_ESTOP when a stop came meanwhile. */
static int
pace(ps_pin *pin, const char *method, const char *path)
{
	double wait = ps_rl_delay(pin->rl, ps_clock_now());

	if (wait <= 0)
		return 0;
	if (wait > pin->opts.max_retry_s) {
		/* Nothing is sent: no answer to describe but this. */
		pin->last.http_status = 0;
		pin->last.code = -1;
		pin->last.request_id[0] = '\0';
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "the rate limit asks to wait %.0f s before the next request, more than "
		         "the retry budget of %g s (PINSYNC_MAX_RETRY_S)",
		         wait, pin->opts.max_retry_s);
		return -1;
	}
	if (wait >= 1.0)
		ps_debug("%s %s: waiting %.2f s for the rate limit", method, path, wait);
	pin->stats.rate_wait_s += wait;
	ps_clock_sleep(wait);
	return stopped(pin, "waiting for the rate limit");
}

/* The wait before retry number attempt+1: jittered exponential backoff,
 * never shorter than what the server asked for (Retry-After, a spent quota
 * until its reset), both as the limiter now knows them. */
static double
backoff_wait(ps_pin *pin, int attempt)
{
	double wait = BACKOFF_FIRST_S * pow(2.0, attempt);
	double asked = ps_rl_delay(pin->rl, ps_clock_now());

	if (wait > BACKOFF_CAP_S)
		wait = BACKOFF_CAP_S;
	/* Jitter in [wait/2, wait): spreads a herd of workers, keeps a floor. */
	wait = wait / 2 + (wait / 2) * ((double)rand_r(&pin->seed) / ((double)RAND_MAX + 1.0));
	return asked > wait ? asked : wait;
}

static int
retryable(CURLcode cc, long status)
{
	if (cc != CURLE_OK)
		return cc != CURLE_WRITE_ERROR && cc != CURLE_URL_MALFORMAT &&
		       cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_PEER_FAILED_VERIFICATION &&
		       cc != CURLE_SSL_CACERT_BADFILE && cc != CURLE_SSL_CERTPROBLEM &&
		       cc != CURLE_SSL_PINNEDPUBKEYNOTMATCH;
	return status == 429 || status >= 500;
}

/* "HTTP 503 code 3: message" or the transport error, for messages. */
static void
describe(const ps_pin *pin, CURLcode cc, char *buf, size_t len)
{
	/* Pinterest's message is cut to leave room for what surrounds it. */
	if (cc != CURLE_OK)
		snprintf(buf, len, "%.300s", pin->last.message);
	else if (pin->last.code >= 0)
		snprintf(buf, len, "HTTP %ld code %ld: %.300s", pin->last.http_status,
		         pin->last.code, pin->last.message);
	else
		snprintf(buf, len, "HTTP %ld: %.300s", pin->last.http_status, pin->last.message);
}

/* Waits before retry number attempt+1 of a request that failed with cc (its
 * answer in last), as backoff_wait() says, and counts the wait; note, when
 * not NULL, ends the warning. Returns 0, PS_PIN_ENET / PS_PIN_EHTTP with
 * the message in last when the wait would go over the retry budget, or
 * PS_PIN_ESTOP when a stop came while waiting. */
static int
retry_wait(ps_pin *pin, CURLcode cc, int attempt, const char *method, const char *path,
           const char *note)
{
	char what[400];
	double wait;

	describe(pin, cc, what, sizeof(what));
	wait = backoff_wait(pin, attempt);
	if (pin->last.retry_wait_s + wait > pin->opts.max_retry_s) {
		/* The cause, the effort and the budget: what an operator needs. */
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "%.340s; gave up after %d retries and %.1f s of waiting (retry "
		         "budget %g s, PINSYNC_MAX_RETRY_S)",
		         what, pin->last.retries, pin->last.retry_wait_s, pin->opts.max_retry_s);
		return cc != CURLE_OK ? PS_PIN_ENET : PS_PIN_EHTTP;
	}
	ps_warn("%s %s: %s (x-pinterest-rid %s); retry %d in %.2f s%s", method, path, what,
	        rid_of(pin), attempt + 1, wait, note ? note : "");
	pin->last.retry_wait_s += wait;
	pin->last.retries++;
	pin->stats.retry_wait_s += wait;
	pin->stats.retries++;
	ps_clock_sleep(wait);
	return stopped(pin, "waiting to retry");
}

/* Runs one exchange with retries (never the token refresh: see
 * refresh_grant). Returns 0 for 2xx, else PS_PIN_*. */
static int
exchange(ps_pin *pin, const char *method, const char *url, const char *body, size_t body_len,
         struct curl_slist *headers, ps_buf *resp)
{
	const char *path = url + strlen(pin->api_base);
	int attempt, rc;

	pin->last.token_refresh = 0;
	pin->last.retries = 0;
	for (attempt = 0;; attempt++) {
		CURLcode cc;
		long st;

		if ((rc = pace(pin, method, path)) != 0)
			return rc < 0 && rc != PS_PIN_ESTOP ? PS_PIN_ERATE : rc;
		cc = perform(pin, method, url, body, body_len, headers, 0, resp);
		st = pin->last.http_status;
		if (cc == CURLE_OK && st >= 200 && st < 300)
			return 0;
		if (cc == CURLE_OK)
			parse_error(pin, resp);
		if (!retryable(cc, st))
			return cc != CURLE_OK ? PS_PIN_ENET : PS_PIN_EHTTP;
		if ((rc = retry_wait(pin, cc, attempt, method, path, NULL)) != 0)
			return rc;
	}
}

static int
refresh_due(const ps_pin *pin)
{
	return pin->refresh_token && pin->client_id && pin->client_secret && !pin->refresh_stop &&
	       pin->access_expires_at != 0 &&
	       time(NULL) + REFRESH_MARGIN_S >= pin->access_expires_at;
}

/* refresh_grant(): the refresh certainly did not reach Pinterest, or its
 * rate limiter refused it before processing (429): it may go again. */
#define REFRESH_UNSENT 1

/* Whether a refresh that failed with cc certainly never reached Pinterest. */
static int
refresh_unsent(ps_pin *pin, CURLcode cc)
{
	curl_off_t tcp = 0, tls = 0;

	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT: return 1;
	default:
		/* A connect timeout, a failed TLS handshake: the connection never
		 * became ready to carry the request. libcurl stamps these times
		 * (at least 1 us) once it is; the refresh always goes on a fresh
		 * connection, so they are its own. (Not the pre-transfer time:
		 * libcurl stamps that only after sending the request.) */
		if (curl_easy_getinfo(pin->curl, CURLINFO_CONNECT_TIME_T, &tcp) != CURLE_OK ||
		    curl_easy_getinfo(pin->curl, CURLINFO_APPCONNECT_TIME_T, &tls) != CURLE_OK)
			return 0;
		return tcp == 0 || (tls == 0 && strncasecmp(pin->api_base, "https:", 6) == 0);
	}
}

/* Notes in lost_detail what happened to a refresh whose answer was lost:
 * the HTTP status, Pinterest's code and x-pinterest-rid, or the transport
 * error; never a body (a 2xx one carries the new tokens). Returns
 * PS_PIN_EREFRESHLOST. */
static int
note_lost(ps_pin *pin, CURLcode cc)
{
	char rid[100] = "";
	const long st = pin->last.http_status;

	if (pin->last.request_id[0])
		snprintf(rid, sizeof(rid), ", x-pinterest-rid %s", pin->last.request_id);
	if (cc != CURLE_OK)
		snprintf(pin->lost_detail, sizeof(pin->lost_detail),
		         "no answer after the request was sent: %.200s%s", pin->last.message, rid);
	else if (st >= 200 && st < 300)
		snprintf(pin->lost_detail, sizeof(pin->lost_detail),
		         "HTTP %ld with an answer pinsync cannot read%s", st, rid);
	else if (pin->last.code >= 0)
		snprintf(pin->lost_detail, sizeof(pin->lost_detail), "HTTP %ld code %ld%s", st,
		         pin->last.code, rid);
	else
		snprintf(pin->lost_detail, sizeof(pin->lost_detail), "HTTP %ld%s", st, rid);
	return PS_PIN_EREFRESHLOST;
}

/* POST /oauth/token with the refresh grant, sent once. Returns 0 with the
 * new tokens in *out (strings owned by *ans: ps_token_answer_free);
 * REFRESH_UNSENT when it certainly was not processed (*cc: how it failed);
 * PS_PIN_EREFRESHLOST when it may have been but the answer was lost (see
 * note_lost); else PS_PIN_* with the message in last. */
static int
refresh_grant(ps_pin *pin, ps_pin_tokens *out, ps_token_answer *ans, CURLcode *cc)
{
	ps_buf resp;
	char url[1024];
	char *esc = NULL, *form = NULL;
	struct curl_slist *headers = NULL;
	time_t now = time(NULL);
	size_t formlen;
	long st;
	int rc;

	memset(ans, 0, sizeof(*ans));
	*cc = CURLE_OK;
	ps_buf_init(&resp, 1024 * 1024);
	snprintf(url, sizeof(url), "%s/oauth/token", pin->api_base);
	esc = curl_easy_escape(pin->curl, pin->refresh_token, 0);
	formlen = esc ? strlen(esc) + 64 : 0;
	if (esc == NULL || (form = malloc(formlen)) == NULL) {
		snprintf(pin->last.message, sizeof(pin->last.message), "out of memory");
		rc = PS_PIN_EPROTO;
		goto done;
	}
	snprintf(form, formlen, "grant_type=refresh_token&refresh_token=%s", esc);
	headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
	*cc = perform(pin, "POST", url, form, strlen(form), headers, 1, &resp);
	st = pin->last.http_status;
	if (*cc != CURLE_OK) {
		/* Sent, and no answer came back: Pinterest may have rotated the
		 * token. Not sent: the same token may go again, unless nothing
		 * would change (a certificate refused, a bad URL). */
		if (!refresh_unsent(pin, *cc))
			rc = note_lost(pin, *cc);
		else
			rc = retryable(*cc, 0) ? REFRESH_UNSENT : PS_PIN_ENET;
		goto done;
	}
	if (st < 200 || st >= 300) {
		parse_error(pin, &resp);
		if (st == 429) {
			rc = REFRESH_UNSENT; /* refused by the rate limiter, not processed */
		} else if (st >= 500) {
			rc = note_lost(pin, *cc); /* may fail after processing */
		} else if (pin->last.code == 283 || st == 400) {
			long code = pin->last.code;

			snprintf(pin->last.message, sizeof(pin->last.message),
			         "Pinterest refused the refresh token (code %ld, x-pinterest-rid "
			         "%s): %s",
			         code, rid_of(pin), REAUTHORISE);
			rc = PS_PIN_EGRANT;
		} else {
			/* 401 here: the app's id or secret is wrong. */
			char what[400];

			describe(pin, CURLE_OK, what, sizeof(what));
			snprintf(pin->last.message, sizeof(pin->last.message),
			         "token refresh refused: %.340s (check PINSYNC_CLIENT_ID and "
			         "PINSYNC_CLIENT_SECRET)",
			         what);
			rc = PS_PIN_EAUTH;
		}
		goto done;
	}
	if (ps_token_answer_read(ans, ps_buf_str(&resp), resp.len, now) < 0) {
		/* Processed (2xx), so the token sent is dead, and the new one is
		 * not readable here: as lost as no answer at all. */
		rc = note_lost(pin, *cc);
		goto done;
	}
	memset(out, 0, sizeof(*out));
	out->access_token = ans->access_token;
	out->refresh_token = ans->refresh_token ? ans->refresh_token : pin->refresh_token;
	out->access_expires_at = ans->access_expires_at;
	out->refresh_expires_at =
	    ans->refresh_expires_at ? ans->refresh_expires_at : pin->refresh_expires_at;
	ps_log_secret(out->access_token);
	ps_log_secret(out->refresh_token);
	rc = 0;
done:
	curl_free(esc);
	free(form);
	curl_slist_free_all(headers);
	ps_buf_free(&resp);
	return rc;
}

/* The error of a refresh whose answer was lost (lost_detail): what
 * happened, what pinsync does about it, what the operator does. recorded:
 * whether the store holds the mark for the next run. */
static int
lost_error(ps_pin *pin, int recorded)
{
	snprintf(pin->last.message, sizeof(pin->last.message),
	         "the answer to the token refresh was lost (%.200s): Pinterest may have rotated "
	         "the refresh token, and pinsync does not resend a refresh with a token that may "
	         "be dead. %sThe next run tries the stored refresh token once; if Pinterest "
	         "refuses it (code 283), %s",
	         pin->lost_detail,
	         recorded ? ""
	                  : "(This could not be recorded in the database: see the error above.) ",
	         REAUTHORISE);
	return PS_PIN_EREFRESHLOST;
}

/* "at 2025-03-01 12:00:00 UTC (HTTP 503 code 3, x-pinterest-rid ...)": the
 * lost answer a store remembers, for messages. */
static void
describe_lost(const ps_pin_tokens *t, char *buf, size_t len)
{
	char when[32];
	struct tm tm;

	gmtime_r(&t->refresh_lost_at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (t->refresh_lost_detail && t->refresh_lost_detail[0])
		snprintf(buf, len, "at %s (%.200s)", when, t->refresh_lost_detail);
	else
		snprintf(buf, len, "at %s", when);
}

int
ps_pin_refresh(ps_pin *pin)
{
	const ps_pin_token_store *ts = pin->opts.token_store;
	ps_pin_tokens cur, fresh;
	ps_token_answer ans = {NULL, NULL, NULL, 0, 0};
	char lost_before[300] = ""; /* the lost answer the store remembers */
	CURLcode cc = CURLE_OK;
	int locked = 0, attempt, rc;

	if (!pin->client_id || !pin->client_secret) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "the access token was refused or expired and cannot be refreshed: set "
		         "PINSYNC_CLIENT_ID and PINSYNC_CLIENT_SECRET");
		return PS_PIN_EAUTH;
	}
	pin->last.token_refresh = 1;
	pin->last.retries = 0;
	for (attempt = 0;; attempt++) {
		/* Paced before the lock: while the tokens are locked, the client
		 * waits for nothing but the refresh exchange itself. */
		if ((rc = pace(pin, "POST", "/oauth/token")) != 0) {
			if (rc != PS_PIN_ESTOP)
				rc = PS_PIN_ERATE;
			goto done;
		}
		if (ts) {
			/* Invariant 5: one refresher at a time, across processes. */
			if (ts->lock(ts->ctx, &cur) != 0) {
				snprintf(pin->last.message, sizeof(pin->last.message),
				         "could not lock the stored tokens to refresh them");
				rc = PS_PIN_ESTORE;
				goto done;
			}
			locked = 1;
			if (cur.access_token && strcmp(cur.access_token, pin->access_token) != 0 &&
			    (cur.access_expires_at == 0 ||
			     cur.access_expires_at > time(NULL) + REFRESH_MARGIN_S)) {
				/* Another process refreshed while we waited: use its tokens. */
				rc = adopt_tokens(pin, &cur) < 0 ? PS_PIN_EPROTO : 0;
				if (rc == 0) {
					pin->stats.refreshes_adopted++;
					pin->refresh_stop = 0; /* a new rotation */
					ps_info(
					    "access token refreshed by another pinsync: using it");
				}
				goto done;
			}
			/* Its refresh token is the one that is current now; another
			 * one than ours (pinsync auth set meanwhile) is a new rotation. */
			if (cur.refresh_token && pin->refresh_token &&
			    strcmp(cur.refresh_token, pin->refresh_token) != 0)
				pin->refresh_stop = 0;
			if (cur.refresh_token && adopt_tokens(pin, &cur) < 0) {
				rc = PS_PIN_EPROTO;
				goto done;
			}
			lost_before[0] = '\0';
			if (cur.refresh_lost_at != 0)
				describe_lost(&cur, lost_before, sizeof(lost_before));
		}
		if (pin->refresh_stop) {
			/* This token's refresh was lost or refused already, and
			 * nobody has refreshed since: the same answer, nothing sent. */
			snprintf(pin->last.message, sizeof(pin->last.message), "%s",
			         pin->refresh_stop_msg);
			rc = pin->refresh_stop;
			goto done;
		}
		if (!pin->refresh_token) {
			snprintf(pin->last.message, sizeof(pin->last.message),
			         "the access token was refused or expired and there is no refresh "
			         "token: %s",
			         REAUTHORISE);
			rc = PS_PIN_EGRANT;
			goto done;
		}
		if (pin->refresh_expires_at != 0 && time(NULL) >= pin->refresh_expires_at) {
			snprintf(pin->last.message, sizeof(pin->last.message),
			         "the Pinterest refresh token has expired: %s", REAUTHORISE);
			rc = PS_PIN_EGRANT;
			goto done;
		}
		if (attempt == 0 && lost_before[0])
			ps_warn("the answer to an earlier token refresh was lost %s: Pinterest may "
			        "have rotated the refresh token; trying the stored one once",
			        lost_before);
		ps_token_answer_free(&ans);
		rc = refresh_grant(pin, &fresh, &ans, &cc);
		if (rc != REFRESH_UNSENT)
			break;
		/* Pinterest did not process it: the same token may go again. The
		 * row is not held while waiting, so other processes are not held
		 * up; one may refresh meanwhile (the next lock() hands its tokens
		 * over). */
		if (locked) {
			ts->unlock(ts->ctx);
			locked = 0;
		}
		rc = retry_wait(pin, cc, attempt, "POST", "/oauth/token",
		                " (not processed by Pinterest: the same refresh token goes again; "
		                "the stored tokens stay unlocked meanwhile)");
		if (rc != 0)
			goto done;
	}
	if (rc == PS_PIN_EREFRESHLOST) {
		/* Never sent again: kept for the operator and the next run. */
		int recorded = 1;

		if (ts && ts->lost) {
			locked = 0; /* lost() releases the lock, also when it fails */
			recorded = ts->lost(ts->ctx, pin->lost_detail) == 0;
		}
		lost_error(pin, recorded);
	} else if (rc == PS_PIN_EGRANT && lost_before[0]) {
		long code = pin->last.code;

		snprintf(
		    pin->last.message, sizeof(pin->last.message),
		    "Pinterest refused the refresh token (code %ld, x-pinterest-rid %s): it was "
		    "most likely rotated by the token refresh whose answer was lost %s, so the "
		    "new one never reached pinsync; %s",
		    code, rid_of(pin), lost_before, REAUTHORISE);
	}
	if (rc == PS_PIN_EREFRESHLOST || rc == PS_PIN_EGRANT) {
		/* Once per rotation: callers that go on after a failed request
		 * (a read-back, a check) must not make this client send the
		 * same token again later in the run. */
		pin->refresh_stop = rc;
		memcpy(pin->refresh_stop_msg, pin->last.message, sizeof(pin->refresh_stop_msg));
		goto done;
	}
	if (rc != 0)
		goto done;
	/* Invariant 5: the rotated refresh token is committed before use; the
	 * old one no longer works, so losing the new one would lock us out. */
	if (ts) {
		locked = 0; /* commit releases the lock, also when it fails */
		if (ts->commit(ts->ctx, &fresh) != 0)
			rc = PS_PIN_ESTORE;
	}
	if (rc == PS_PIN_ESTORE) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "could not store the refreshed tokens: the new refresh token is lost and "
		         "the old one no longer works; %s",
		         REAUTHORISE);
		goto done;
	}
	if (adopt_tokens(pin, &fresh) < 0) {
		snprintf(pin->last.message, sizeof(pin->last.message), "out of memory");
		rc = PS_PIN_EPROTO;
		goto done;
	}
	pin->stats.refreshes++;
	ps_info("access token refreshed; refresh token rotated and stored (x-pinterest-rid %s)",
	        rid_of(pin));
	rc = 0;
done:
	if (locked)
		ts->unlock(ts->ctx);
	ps_token_answer_free(&ans);
	return rc;
}

/* After a lost refresh answer, while the access token still works. */
static void
warn_going_on(const ps_pin *pin)
{
	char when[32];
	struct tm tm;

	gmtime_r(&pin->access_expires_at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	ps_warn("%s; the current access token is valid until %s, so this run goes on with it",
	        pin->last.message, when);
}

int
ps_pin_request(ps_pin *pin, const char *method, const char *path, const char *body, size_t body_len,
               ps_buf *resp)
{
	struct curl_slist *headers = NULL;
	char url[2048];
	int rc, refreshed = 0;

	if (refresh_due(pin)) {
		refreshed = 1;
		rc = ps_pin_refresh(pin);
		if (rc == PS_PIN_EREFRESHLOST && time(NULL) < pin->access_expires_at) {
			/* Only due soon: the access token still works, so the run
			 * goes on with it, and the operator hears of the lost answer
			 * now rather than when that token expires. */
			warn_going_on(pin);
			refreshed = 0; /* a 401 still asks the store for newer tokens */
			rc = 0;
		}
		if (rc != 0)
			return rc;
	}
	snprintf(url, sizeof(url), "%s%s", pin->api_base, path);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	for (;;) {
		rc = exchange(pin, method, url, body, body_len, headers, resp);
		if (rc == PS_PIN_EHTTP && pin->last.http_status == 401 && !refreshed) {
			/* Once per request: a second 401 is not a token problem. */
			refreshed = 1;
			ps_info("%s %s: access token refused (HTTP 401, code %ld, x-pinterest-rid "
			        "%s): refreshing",
			        method, path, pin->last.code, rid_of(pin));
			if ((rc = ps_pin_refresh(pin)) != 0)
				break;
			continue;
		}
		if (rc == PS_PIN_EHTTP && pin->last.http_status == 401)
			rc = PS_PIN_EAUTH;
		break;
	}
	curl_slist_free_all(headers);
	return rc;
}

/* ---- the token store over db/ ---- */

static int
db_store_lock(void *ctx, ps_pin_tokens *current)
{
	ps_pin_db_store *st = ctx;

	if (ps_db_tokens_refresh_begin(st->db, st->client_key, TOKEN_LOCK_TIMEOUT_S, &st->held) !=
	    PS_DB_OK) {
		ps_error("locking the stored tokens: %s", ps_db_error(st->db));
		return -1;
	}
	current->access_token = st->held.access_token;
	current->refresh_token = st->held.refresh_token;
	current->access_expires_at = st->held.access_expires_at;
	current->refresh_expires_at = st->held.refresh_expires_at;
	current->refresh_lost_at = st->held.refresh_lost_at;
	current->refresh_lost_detail = st->held.refresh_lost_detail;
	return 0;
}

static int
db_store_commit(void *ctx, const ps_pin_tokens *t)
{
	ps_pin_db_store *st = ctx;
	ps_tokens tok;
	int rc;

	memset(&tok, 0, sizeof(tok));
	tok.access_token = (char *)t->access_token;
	tok.refresh_token = (char *)t->refresh_token;
	tok.access_expires_at = t->access_expires_at;
	tok.refresh_expires_at = t->refresh_expires_at;
	rc = ps_db_tokens_refresh_commit(st->db, st->client_key, &tok);

	ps_tokens_clear(&st->held);
	if (rc != PS_DB_OK) {
		ps_error("storing the refreshed tokens: %s", ps_db_error(st->db));
		return -1;
	}
	return 0;
}

static int
db_store_lost(void *ctx, const char *detail)
{
	ps_pin_db_store *st = ctx;
	int rc = ps_db_tokens_refresh_lost(st->db, st->client_key, detail);

	ps_tokens_clear(&st->held);
	if (rc != PS_DB_OK) {
		ps_error("recording the lost answer to the token refresh: %s", ps_db_error(st->db));
		return -1;
	}
	return 0;
}

static void
db_store_unlock(void *ctx)
{
	ps_pin_db_store *st = ctx;

	ps_db_tokens_refresh_abort(st->db);
	ps_tokens_clear(&st->held);
}

void
ps_pin_db_store_init(ps_pin_db_store *st, ps_db *db, const char *client_key)
{
	memset(st, 0, sizeof(*st));
	st->db = db;
	st->client_key = client_key;
	st->store.lock = db_store_lock;
	st->store.commit = db_store_commit;
	st->store.lost = db_store_lost;
	st->store.unlock = db_store_unlock;
	st->store.ctx = st;
}

int
ps_pin_batch_send(ps_pin *pin, const char *body, size_t len, char **out)
{
	ps_buf resp;
	int rc;

	*out = NULL;
	ps_buf_init(&resp, PS_PIN_MAX_RESPONSE);
	rc = ps_pin_request(pin, "POST", "/catalogs/items/batch", body, len, &resp);
	if (rc != 0)
		goto done;
	*out = ps_answer_batch_id(ps_buf_str(&resp), resp.len);
	if (*out == NULL) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "answer to POST /catalogs/items/batch has no batch_id");
		rc = PS_PIN_EPROTO;
	}
done:
	ps_buf_free(&resp);
	return rc;
}

int
ps_pin_batch_get(ps_pin *pin, const char *batch_id, ps_buf *resp)
{
	char path[512];
	char *esc = curl_easy_escape(pin->curl, batch_id, 0);
	int rc;

	if (esc == NULL)
		return PS_PIN_EPROTO;
	/* The id goes back exactly as Pinterest gave it, only URL-escaped. */
	snprintf(path, sizeof(path), "/catalogs/items/batch/%s", esc);
	curl_free(esc);
	rc = ps_pin_request(pin, "GET", path, NULL, 0, resp);
	if (rc == PS_PIN_EHTTP && pin->last.http_status == 404 && pin->last.code == 4331)
		rc = PS_PIN_ELOST;
	return rc;
}
