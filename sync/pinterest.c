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
#include <yajl/yajl_tree.h>

#include "log.h"

/* Refresh the access token when it expires within this many seconds. */
#define REFRESH_MARGIN_S 300
/* Backoff: first wait, growth cap. */
#define BACKOFF_FIRST_S 0.5
#define BACKOFF_CAP_S 30.0

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
	ps_pin_status last;
	/* Headers of the answer being received. */
	double retry_after_s;     /* Retry-After, 0 when absent */
	long ratelimit_remaining; /* x-ratelimit-remaining, -1 when absent */
	double ratelimit_reset_s; /* x-ratelimit-reset, 0 when absent */
	unsigned seed;
};

static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

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

int
ps_pin_new(ps_pin **out, const ps_pin_options *opts, const ps_pin_tokens *tokens)
{
	ps_pin *pin = calloc(1, sizeof(*pin));

	*out = NULL;
	if (pin == NULL)
		return -1;
	pin->opts = *opts;
	pin->curl = curl_easy_init();
	if (pin->curl == NULL || replace_str(&pin->api_base, opts->api_base) < 0 ||
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
	*out = pin;
	return 0;
}

void
ps_pin_free(ps_pin *pin)
{
	if (pin == NULL)
		return;
	if (pin->curl)
		curl_easy_cleanup(pin->curl);
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

static size_t
on_header(char *line, size_t size, size_t nmemb, void *userp)
{
	ps_pin *pin = userp;
	size_t len = size * nmemb;
	char value[80];

	if (header_value(line, len, "x-pinterest-rid", pin->last.request_id,
	                 sizeof(pin->last.request_id)))
		return len;
	if (header_value(line, len, "retry-after", value, sizeof(value)))
		pin->retry_after_s = strtod(value, NULL);
	else if (header_value(line, len, "x-ratelimit-remaining", value, sizeof(value)))
		pin->ratelimit_remaining = strtol(value, NULL, 10);
	else if (header_value(line, len, "x-ratelimit-reset", value, sizeof(value)))
		pin->ratelimit_reset_s = strtod(value, NULL);
	return len;
}

/* Reads Pinterest's {"code": int, "message": string} from body. */
static void
parse_error(ps_pin *pin, const char *body)
{
	char err[128];
	yajl_val root = yajl_tree_parse(body, err, sizeof(err));
	const char *code_path[] = {"code", NULL};
	const char *msg_path[] = {"message", NULL};
	yajl_val v;

	pin->last.code = -1;
	if (root == NULL) {
		snprintf(pin->last.message, sizeof(pin->last.message), "HTTP %ld",
		         pin->last.http_status);
		return;
	}
	v = yajl_tree_get(root, code_path, yajl_t_number);
	if (v && YAJL_IS_INTEGER(v))
		pin->last.code = YAJL_GET_INTEGER(v);
	v = yajl_tree_get(root, msg_path, yajl_t_string);
	snprintf(pin->last.message, sizeof(pin->last.message), "%s",
	         v ? YAJL_GET_STRING(v) : "(no message)");
	yajl_tree_free(root);
}

/* One HTTP exchange, no retry: basic_auth non-NULL sends the app's
 * credentials instead of a bearer token. Returns the CURLcode. */
static CURLcode
perform(ps_pin *pin, const char *method, const char *url, const char *body, size_t body_len,
        struct curl_slist *headers, int basic_auth, ps_buf *resp)
{
	CURL *c = pin->curl;
	char ua[64];
	CURLcode cc;

	curl_easy_reset(c); /* keeps the connection cache */
	snprintf(ua, sizeof(ua), "pinsync/%s", PINSYNC_VERSION);
	ps_buf_reset(resp);
	pin->last.http_status = 0;
	pin->last.code = -1;
	pin->last.message[0] = '\0';
	pin->last.request_id[0] = '\0';
	pin->retry_after_s = 0;
	pin->ratelimit_remaining = -1;
	pin->ratelimit_reset_s = 0;

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
	/* TLS verification is always on: there is no setting to turn it off. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (basic_auth) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, pin->client_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD, pin->client_secret);
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

	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &pin->last.http_status);
	else
		snprintf(pin->last.message, sizeof(pin->last.message), "%s",
		         curl_easy_strerror(cc));
	return cc;
}

/* Waits before the next retry; -1 when the retry budget is spent. */
static int
backoff(ps_pin *pin, int attempt)
{
	double wait = BACKOFF_FIRST_S * pow(2.0, attempt);

	if (wait > BACKOFF_CAP_S)
		wait = BACKOFF_CAP_S;
	/* Jitter in [wait/2, wait): spreads a herd of workers, keeps a floor. */
	wait = wait / 2 + (wait / 2) * ((double)rand_r(&pin->seed) / ((double)RAND_MAX + 1.0));
	if (pin->retry_after_s > wait)
		wait = pin->retry_after_s;
	/* A spent quota binds until its window resets. */
	if (pin->ratelimit_remaining == 0 && pin->ratelimit_reset_s > wait)
		wait = pin->ratelimit_reset_s;
	if (pin->last.retry_wait_s + wait > pin->opts.max_retry_s)
		return -1;
	pin->last.retry_wait_s += wait;
	pin->last.retries++;
	sleep_s(wait);
	return 0;
}

static int
retryable(CURLcode cc, long status)
{
	if (cc != CURLE_OK)
		return cc != CURLE_WRITE_ERROR && cc != CURLE_URL_MALFORMAT &&
		       cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_PEER_FAILED_VERIFICATION;
	return status == 429 || status >= 500;
}

/* Runs one exchange with retries. Returns 0 for 2xx, else PS_PIN_*. */
static int
exchange(ps_pin *pin, const char *method, const char *url, const char *body, size_t body_len,
         struct curl_slist *headers, int basic_auth, ps_buf *resp)
{
	int attempt;

	pin->last.retries = 0;
	for (attempt = 0;; attempt++) {
		CURLcode cc = perform(pin, method, url, body, body_len, headers, basic_auth, resp);
		long st = pin->last.http_status;

		if (cc == CURLE_OK && st >= 200 && st < 300)
			return 0;
		if (cc == CURLE_OK)
			parse_error(pin, ps_buf_str(resp));
		if (!retryable(cc, st))
			return cc != CURLE_OK ? PS_PIN_ENET : PS_PIN_EHTTP;
		ps_warn("%s %s: %s%s%s, retrying", method, url + strlen(pin->api_base),
		        cc != CURLE_OK ? "" : "HTTP ", cc != CURLE_OK ? pin->last.message : "",
		        cc != CURLE_OK ? "" : (st == 429 ? "429 rate limited" : "5xx"));
		if (backoff(pin, attempt) < 0) {
			ps_error("%s %s: giving up after %d retries (%.1f s waited); last: %s "
			         "(x-pinterest-rid %s)",
			         method, url + strlen(pin->api_base), pin->last.retries,
			         pin->last.retry_wait_s, pin->last.message,
			         pin->last.request_id[0] ? pin->last.request_id : "none");
			return cc != CURLE_OK ? PS_PIN_ENET : PS_PIN_EHTTP;
		}
	}
}

static int
refresh_due(const ps_pin *pin)
{
	return pin->refresh_token && pin->client_id && pin->client_secret &&
	       pin->access_expires_at != 0 &&
	       time(NULL) + REFRESH_MARGIN_S >= pin->access_expires_at;
}

int
ps_pin_refresh(ps_pin *pin)
{
	ps_buf resp;
	char url[1024];
	char *esc = NULL, *form = NULL;
	struct curl_slist *headers = NULL;
	yajl_val root = NULL, v;
	char err[128];
	const char *p_access[] = {"access_token", NULL};
	const char *p_refresh[] = {"refresh_token", NULL};
	const char *p_exp[] = {"expires_in", NULL};
	const char *p_rexp[] = {"refresh_token_expires_in", NULL};
	ps_pin_tokens tokens;
	time_t now = time(NULL);
	size_t formlen;
	int rc;

	if (!pin->refresh_token || !pin->client_id || !pin->client_secret) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "the access token was refused and cannot be refreshed: set "
		         "PINSYNC_CLIENT_ID, PINSYNC_CLIENT_SECRET and a refresh token "
		         "(pinsync auth set)");
		return PS_PIN_EAUTH;
	}
	if (pin->refresh_expires_at != 0 && now >= pin->refresh_expires_at) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "the refresh token has expired: re-authorise the Pinterest app and store "
		         "the new tokens with pinsync auth set");
		return PS_PIN_EGRANT;
	}
	ps_buf_init(&resp, 1024 * 1024);
	snprintf(url, sizeof(url), "%s/oauth/token", pin->api_base);
	esc = curl_easy_escape(pin->curl, pin->refresh_token, 0);
	formlen = esc ? strlen(esc) + 64 : 0;
	if (esc == NULL || (form = malloc(formlen)) == NULL) {
		rc = PS_PIN_EPROTO;
		goto done;
	}
	snprintf(form, formlen, "grant_type=refresh_token&refresh_token=%s", esc);
	headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
	rc = exchange(pin, "POST", url, form, strlen(form), headers, 1, &resp);
	if (rc != 0) {
		if (pin->last.code == 283 || pin->last.http_status == 400) {
			snprintf(pin->last.message, sizeof(pin->last.message),
			         "Pinterest refused the refresh token (code %ld): re-authorise the "
			         "Pinterest app and store the new tokens with pinsync auth set",
			         pin->last.code);
			rc = PS_PIN_EGRANT;
		} else if (rc == PS_PIN_EHTTP) {
			rc = PS_PIN_EAUTH;
		}
		goto done;
	}
	root = yajl_tree_parse(ps_buf_str(&resp), err, sizeof(err));
	v = root ? yajl_tree_get(root, p_access, yajl_t_string) : NULL;
	if (v == NULL) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "unreadable answer to the token refresh");
		rc = PS_PIN_EPROTO;
		goto done;
	}
	memset(&tokens, 0, sizeof(tokens));
	tokens.access_token = YAJL_GET_STRING(v);
	v = yajl_tree_get(root, p_refresh, yajl_t_string);
	tokens.refresh_token = v ? YAJL_GET_STRING(v) : pin->refresh_token;
	v = yajl_tree_get(root, p_exp, yajl_t_number);
	tokens.access_expires_at = v && YAJL_IS_INTEGER(v) ? now + YAJL_GET_INTEGER(v) : 0;
	v = yajl_tree_get(root, p_rexp, yajl_t_number);
	tokens.refresh_expires_at =
	    v && YAJL_IS_INTEGER(v) ? now + YAJL_GET_INTEGER(v) : pin->refresh_expires_at;
	ps_log_secret(tokens.access_token);
	ps_log_secret(tokens.refresh_token);

	/* Invariant 5: the rotated refresh token is stored before use. */
	if (pin->opts.store && pin->opts.store(pin->opts.store_ctx, &tokens) != 0) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "could not store the refreshed tokens");
		rc = PS_PIN_ESTORE;
		goto done;
	}
	if (replace_str(&pin->access_token, tokens.access_token) < 0 ||
	    replace_str(&pin->refresh_token, tokens.refresh_token) < 0) {
		rc = PS_PIN_EPROTO;
		goto done;
	}
	pin->access_expires_at = tokens.access_expires_at;
	pin->refresh_expires_at = tokens.refresh_expires_at;
	ps_info("access token refreshed; refresh token rotated");
	rc = 0;
done:
	curl_free(esc);
	free(form);
	curl_slist_free_all(headers);
	ps_buf_free(&resp);
	yajl_tree_free(root);
	return rc;
}

int
ps_pin_request(ps_pin *pin, const char *method, const char *path, const char *body, size_t body_len,
               ps_buf *resp)
{
	struct curl_slist *headers = NULL;
	char url[2048];
	int rc, refreshed = 0;

	if (refresh_due(pin) && (rc = ps_pin_refresh(pin)) != 0)
		return rc;
	snprintf(url, sizeof(url), "%s%s", pin->api_base, path);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	for (;;) {
		rc = exchange(pin, method, url, body, body_len, headers, 0, resp);
		if (rc == PS_PIN_EHTTP && pin->last.http_status == 401 && !refreshed) {
			/* Once per request: a second 401 is not a token problem. */
			refreshed = 1;
			ps_info("access token refused (HTTP 401, code %ld): refreshing",
			        pin->last.code);
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

int
ps_pin_batch_send(ps_pin *pin, const char *body, size_t len, char **out)
{
	ps_buf resp;
	yajl_val root = NULL, v;
	const char *p_id[] = {"batch_id", NULL};
	char err[128];
	int rc;

	*out = NULL;
	ps_buf_init(&resp, PS_PIN_MAX_RESPONSE);
	rc = ps_pin_request(pin, "POST", "/catalogs/items/batch", body, len, &resp);
	if (rc != 0)
		goto done;
	root = yajl_tree_parse(ps_buf_str(&resp), err, sizeof(err));
	v = root ? yajl_tree_get(root, p_id, yajl_t_string) : NULL;
	if (v && v->u.string)
		*out = strdup(v->u.string);
	if (*out == NULL) {
		snprintf(pin->last.message, sizeof(pin->last.message),
		         "answer to POST /catalogs/items/batch has no batch_id");
		rc = PS_PIN_EPROTO;
	}
done:
	yajl_tree_free(root);
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
