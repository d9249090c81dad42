/*
 * serve_http.c: serve mode's HTTP listener (libmicrohttpd, one internal
 * polling thread; its handlers run one at a time in that thread and share
 * one database connection, http_db).
 *
 *   POST /hooks/TARGET  a signed webhook: queue a sync of TARGET (202)
 *   GET  /healthz       the process is alive (200)
 *   GET  /readyz        200 when the database is reachable and migrated and
 *                       the process is not stopping, else 503
 *   GET  /metrics       Prometheus text format 0.0.4 (metrics.h)
 *
 * Webhooks and what a caller learns: a request without a valid signature
 * gets the same 401 whether the target exists or not; 404 goes only to a
 * request correctly signed with the default secret (PINSYNC_WEBHOOK_SECRET)
 * for a name that is no target. A target with its own secret file accepts
 * only that secret. Bodies over PINSYNC_WEBHOOK_MAX_BYTES get 413.
 * Nothing of a secret, a signature or a body is ever logged.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "buf.h"
#include "db.h"
#include "hmac.h"
#include "log.h"
#include "metrics.h"
#include "serve_int.h"

/* The webhook signature headers, in the order they are looked for. */
static const struct {
	const char *header;
	ps_sig_encoding enc;
} sig_headers[] = {
    {"X-Hub-Signature-256", PS_SIG_HEX_SHA256},
    {"X-Shopify-Hmac-Sha256", PS_SIG_BASE64},
    {"X-WC-Webhook-Signature", PS_SIG_BASE64},
};

#define TIMESTAMP_HEADER "X-Pinsync-Timestamp"
#define HOOKS_PREFIX "/hooks/"
#define SECRET_FILE_MAX 8192

/* One request being answered (MHD's per-connection pointer). */
typedef struct request {
	ps_buf body;
	int too_large;
	int replied; /* a response was queued before the body was read */
} request;

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *type, const char *body)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
reply_json(struct MHD_Connection *c, unsigned int status, const char *body)
{
	return reply(c, status, "application/json", body);
}

/* The HTTP thread's connection, (re)connected when needed; NULL when the
 * database cannot be reached. Call with http_lock held. */
static ps_db *
http_db(serve_ctx *sv)
{
	if (sv->http_db == NULL &&
	    ps_db_connect(&sv->http_db, sv->settings->database_url) != PS_DB_OK) {
		ps_db_close(sv->http_db);
		sv->http_db = NULL;
	}
	return sv->http_db;
}

/* After a failed query the connection may be broken: start afresh. */
static void
http_db_reset(serve_ctx *sv)
{
	ps_db_close(sv->http_db);
	sv->http_db = NULL;
}

/* A target name as the targets table allows it (0001_init.sql). */
static int
valid_target_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		            (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '_' && ch != '.' && ch != '-')))
			return 0;
	}
	return 1;
}

/* Reads a secret file (trailing newlines cut) into a malloc'ed string. */
static char *
read_secret(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(SECRET_FILE_MAX);
	if (buf) {
		n = fread(buf, 1, SECRET_FILE_MAX - 1, f);
		buf[n] = '\0';
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
	}
	fclose(f);
	return buf;
}

/* 0 when one signature header is present and matches secret. */
static int
check_signature(struct MHD_Connection *c, const char *secret, const request *rq, long tolerance_s)
{
	const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, TIMESTAMP_HEADER);
	size_t i;

	if (secret == NULL || secret[0] == '\0')
		return -1;
	if (ts && ps_hmac_check_timestamp(ts, (int64_t)time(NULL), tolerance_s) < 0)
		return -1;
	for (i = 0; i < sizeof(sig_headers) / sizeof(sig_headers[0]); i++) {
		const char *v =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, sig_headers[i].header);

		if (v)
			return ps_hmac_verify(secret, ts, rq->body.data ? rq->body.data : "",
			                      rq->body.len, sig_headers[i].enc, v);
	}
	return -1;
}

static enum MHD_Result
unauthorized(struct MHD_Connection *c, const char *name, const char *why)
{
	ps_metrics_webhook(PS_WEBHOOK_UNAUTHORIZED);
	ps_warn("webhook for \"%s\" refused: %s", name, why);
	return reply_json(c, MHD_HTTP_UNAUTHORIZED,
	                  "{\"error\":\"invalid or missing signature\"}\n");
}

static enum MHD_Result
handle_webhook(serve_ctx *sv, struct MHD_Connection *c, const char *name, request *rq)
{
	const ps_settings *s = sv->settings;
	ps_target t;
	ps_db *db;
	char *own_secret = NULL;
	char body[128];
	int64_t job_id = 0;
	int found = 0, rc;
	enum MHD_Result ret;

	memset(&t, 0, sizeof(t));
	if (rq->too_large) {
		ps_metrics_webhook(PS_WEBHOOK_TOO_LARGE);
		ps_warn("webhook refused: body over %ld bytes", s->webhook_max_bytes);
		return reply_json(c, MHD_HTTP_CONTENT_TOO_LARGE,
		                  "{\"error\":\"body too large\"}\n");
	}
	pthread_mutex_lock(&sv->http_lock);
	db = http_db(sv);
	if (db == NULL)
		goto db_failed;
	if (valid_target_name(name)) {
		rc = ps_db_target_get(db, name, &t);
		if (rc == PS_DB_OK)
			found = 1;
		else if (rc != PS_DB_NOTFOUND)
			goto db_failed;
	}
	/* The target's own secret, else the default one. */
	if (found && t.webhook_secret_file) {
		own_secret = read_secret(t.webhook_secret_file);
		if (own_secret == NULL) {
			ps_error("webhook for \"%s\": cannot read its secret file %s: %s", name,
			         t.webhook_secret_file, strerror(errno));
			ret = unauthorized(c, name, "its secret file cannot be read");
			goto done;
		}
	}
	if (check_signature(c, own_secret ? own_secret : s->webhook_secret, rq,
	                    s->webhook_tolerance_s) < 0) {
		ret = unauthorized(c, name, "invalid, missing or expired signature");
		goto done;
	}
	if (!found) {
		/* Only a holder of the default secret gets here. */
		ps_metrics_webhook(PS_WEBHOOK_NOT_FOUND);
		ps_warn("webhook for \"%s\": no such target", name);
		ret = reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such target\"}\n");
		goto done;
	}
	if (ps_db_job_enqueue(db, t.id, "webhook", &job_id) < 0)
		goto db_failed;
	ps_log_set_target(t.name);
	if (job_id) {
		ps_metrics_webhook(PS_WEBHOOK_QUEUED);
		ps_info("webhook: job %" PRId64 " queued", job_id);
		snprintf(body, sizeof(body), "{\"queued\":true,\"job\":%" PRId64 "}\n", job_id);
		serve_wake(sv);
	} else {
		ps_metrics_webhook(PS_WEBHOOK_COALESCED);
		ps_info("webhook: a sync is already queued");
		snprintf(body, sizeof(body), "{\"queued\":false,\"coalesced\":true}\n");
	}
	ps_log_set_target(NULL);
	ret = reply_json(c, MHD_HTTP_ACCEPTED, body);
	goto done;

db_failed:
	ps_metrics_webhook(PS_WEBHOOK_ERROR);
	ps_error("webhook: %s", db ? ps_db_error(db) : "cannot connect to the database");
	http_db_reset(sv);
	ret = reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"database unavailable\"}\n");
done:
	pthread_mutex_unlock(&sv->http_lock);
	if (own_secret) {
		memset(own_secret, 0, strlen(own_secret));
		free(own_secret);
	}
	ps_target_clear(&t);
	return ret;
}

static enum MHD_Result
handle_readyz(serve_ctx *sv, struct MHD_Connection *c)
{
	const char *why = NULL;
	ps_db *db;

	if (atomic_load(&sv->stopping))
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "stopping\n");
	pthread_mutex_lock(&sv->http_lock);
	db = http_db(sv);
	if (db == NULL) {
		why = "database unreachable\n";
	} else {
		int rc = ps_db_migrated(db, ps_migrations_embedded);

		if (rc == PS_DB_NOTFOUND) {
			why = "database not migrated\n";
		} else if (rc < 0) {
			why = "database unreachable\n";
			http_db_reset(sv);
		}
	}
	pthread_mutex_unlock(&sv->http_lock);
	if (why)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", why);
	return reply(c, MHD_HTTP_OK, "text/plain", "ready\n");
}

static enum MHD_Result
handle_metrics(serve_ctx *sv, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	char *text = NULL;
	size_t len = 0;
	enum MHD_Result rc;
	ps_db *db;

	pthread_mutex_lock(&sv->http_lock);
	db = http_db(sv);
	if (ps_metrics_render(db, &text, &len) < 0) {
		pthread_mutex_unlock(&sv->http_lock);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n");
	}
	if (db && strstr(text, "pinsync_database_up 0"))
		http_db_reset(sv);
	pthread_mutex_unlock(&sv->http_lock);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	serve_ctx *sv = cls;
	request *rq = *con_cls;
	int is_hook = strncmp(url, HOOKS_PREFIX, strlen(HOOKS_PREFIX)) == 0;

	(void)version;
	if (rq == NULL) {
		const char *cl;

		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		ps_buf_init(&rq->body, (size_t)sv->settings->webhook_max_bytes);
		*con_cls = rq;
		/* A declared length over the cap is refused before the body is read. */
		cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (is_hook && cl && strtoull(cl, NULL, 10) > (unsigned long long)rq->body.limit) {
			rq->too_large = rq->replied = 1;
			ps_metrics_webhook(PS_WEBHOOK_TOO_LARGE);
			ps_warn("webhook refused: body over %ld bytes",
			        sv->settings->webhook_max_bytes);
			return reply_json(c, MHD_HTTP_CONTENT_TOO_LARGE,
			                  "{\"error\":\"body too large\"}\n");
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* Only webhooks keep their body; past the cap it is read and dropped. */
		if (is_hook && !rq->too_large &&
		    ps_buf_add(&rq->body, upload_data, *upload_data_size) < 0)
			rq->too_large = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rq->replied)
		return MHD_YES;

	if (is_hook) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply_json(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			                  "{\"error\":\"use POST\"}\n");
		return handle_webhook(sv, c, url + strlen(HOOKS_PREFIX), rq);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n");
	if (strcmp(url, "/healthz") == 0)
		return reply(c, MHD_HTTP_OK, "text/plain", "ok\n");
	if (strcmp(url, "/readyz") == 0)
		return handle_readyz(sv, c);
	if (strcmp(url, "/metrics") == 0)
		return handle_metrics(sv, c);
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	request *rq = *con_cls;

	(void)cls, (void)c, (void)toe;
	if (rq) {
		ps_buf_free(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	ps_warn("http: %s", msg);
}

/* Splits "ADDR:PORT" ("[v6]:PORT", ":PORT" for every address). */
static int
split_listen(const char *listen, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t n;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	n = (size_t)(colon - listen);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

int
serve_http_start(serve_ctx *sv, char *err, size_t errlen)
{
	const char *listen = sv->settings->listen;
	struct addrinfo hints, *ai = NULL;
	char host[256], port[16];
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	int rc;

	if (split_listen(listen, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "PINSYNC_LISTEN: \"%s\" is not ADDR:PORT", listen);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "PINSYNC_LISTEN: %s: %s", listen, gai_strerror(rc));
		return -1;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	sv->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, sv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, sv,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)256, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (sv->mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s (address in use or not local?)", listen);
		return -1;
	}
	info = MHD_get_daemon_info(sv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	ps_info("serve: listening on %s%s%s:%u (webhooks: POST /hooks/TARGET)",
	        strchr(host, ':') ? "[" : "", host[0] ? host : "*", strchr(host, ':') ? "]" : "",
	        info ? (unsigned)info->port : 0u);
	return 0;
}

void
serve_http_stop(serve_ctx *sv)
{
	if (sv->mhd) {
		MHD_stop_daemon(sv->mhd);
		sv->mhd = NULL;
	}
	pthread_mutex_lock(&sv->http_lock);
	ps_db_close(sv->http_db);
	sv->http_db = NULL;
	pthread_mutex_unlock(&sv->http_lock);
}
