/*
 * serve_http.c: serve mode's HTTP listener (libmicrohttpd, a thread per
 * connection, so that a request waiting on the database never holds up
 * another: /healthz answers while a webhook waits).
 *
 *   POST /hooks/TARGET  a signed webhook: queue a sync of TARGET (202)
 *   GET  /healthz       the process is alive (200), from the process alone
 *   GET  /readyz        200 when the database is reachable and migrated and
 *                       the process is not stopping, else 503: from what the
 *                       heartbeat found (serve_db_state_get), never a query
 *   GET  /metrics       Prometheus text format 0.0.4 (metrics.h); the
 *                       database's part read at most once per
 *                       PINSYNC_METRICS_CACHE_S, by one scrape at a time
 *
 * Webhooks and what a caller learns: the signature is checked first, with
 * the secret the heartbeat cached (serve_secrets.c): an unsigned or badly
 * signed request costs no database query and no file read, and gets the
 * same 401 whether the target exists or not. 404 goes only to a request
 * correctly signed with the default secret (PINSYNC_WEBHOOK_SECRET) for a
 * name that is no target. A target with its own secret file accepts only
 * that secret. Bodies over PINSYNC_WEBHOOK_MAX_BYTES get 413. Then the
 * delivery id, if the request has one (webhook.h): a delivery seen within
 * the replay window is answered 200 and queues nothing. The database calls
 * share one connection (http_db) and are bounded by
 * PINSYNC_SERVE_DB_TIMEOUT_MS; while the heartbeat finds the database down
 * they are not even tried (503 at once).
 *
 * Connections: at most 256, PINSYNC_SERVE_CONN_PER_IP from one client
 * address (so that one client cannot take the probes' places), closed when
 * idle PINSYNC_SERVE_REQUEST_TIMEOUT_S, or when a body is still arriving
 * after that long.
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
#include "log.h"
#include "metrics.h"
#include "serve_int.h"
#include "webhook.h"

#define HOOKS_PREFIX "/hooks/"
/* Connections at once, from every client address together. */
#define MAX_CONNECTIONS 256

/* One request being answered (MHD's per-connection pointer). */
typedef struct request {
	ps_buf body;
	int too_large;
	int replied;        /* a response was queued before the body was read */
	int64_t started_ms; /* when its headers were in */
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

/* The webhooks' connection with http_lock held, (re)connected when
 * needed; NULL (the lock not held) when the heartbeat finds the database
 * down, when the lock cannot be had within the database timeout (another
 * request is waiting on a database that does not answer), or when it
 * cannot connect. Release with http_db_release(). */
static ps_db *
http_db_acquire(serve_ctx *sv)
{
	const ps_settings *s = sv->settings;
	struct timespec until;
	long ms = s->serve_db_timeout_ms;

	if (serve_db_state_get(sv, ms) != SERVE_DB_UP)
		return NULL;
	serve_deadline(&until, ms);
	if (pthread_mutex_timedlock(&sv->http_lock, &until) != 0)
		return NULL;
	if (sv->http_db == NULL &&
	    ps_db_connect_opts(&sv->http_db, s->database_url,
	                       &(ps_db_options){ms, "pinsync serve http"}) != PS_DB_OK) {
		ps_error("webhook: %s", ps_db_error(sv->http_db));
		ps_db_close(sv->http_db);
		sv->http_db = NULL;
		pthread_mutex_unlock(&sv->http_lock);
		return NULL;
	}
	return sv->http_db;
}

/* Releases http_db_acquire()'s connection; after a failed query (failed
 * nonzero) it is closed, to be opened afresh. */
static void
http_db_release(serve_ctx *sv, int failed)
{
	if (failed) {
		ps_db_close(sv->http_db);
		sv->http_db = NULL;
	}
	pthread_mutex_unlock(&sv->http_lock);
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

static enum MHD_Result
unauthorized(struct MHD_Connection *c, const char *name, const char *why)
{
	ps_metrics_webhook(PS_WEBHOOK_UNAUTHORIZED);
	ps_warn("webhook for \"%s\" refused: %s", name, why);
	return reply_json(c, MHD_HTTP_UNAUTHORIZED,
	                  "{\"error\":\"invalid or missing signature\"}\n");
}

/* MHD's header iterator: keeps the headers the check reads. */
static enum MHD_Result
take_header(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
	(void)kind;
	ps_webhook_header(cls, name, value);
	return MHD_YES;
}

static enum MHD_Result
db_unavailable(struct MHD_Connection *c)
{
	ps_metrics_webhook(PS_WEBHOOK_ERROR);
	return reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
	                  "{\"error\":\"database unavailable\"}\n");
}

static enum MHD_Result
handle_webhook(serve_ctx *sv, struct MHD_Connection *c, const char *name, request *rq)
{
	const ps_settings *s = sv->settings;
	ps_webhook_headers h = PS_WEBHOOK_HEADERS_INIT;
	ps_webhook_verdict verdict;
	const char *delivery = NULL;
	char *own_secret = NULL;
	ps_target t;
	ps_db *db = NULL;
	char body[128];
	int64_t target_id = 0, job_id = 0;
	int known = 0, own = 0, replay = 0, failed = 0, rc;
	enum MHD_Result ret;

	memset(&t, 0, sizeof(t));
	if (rq->too_large) {
		ps_metrics_webhook(PS_WEBHOOK_TOO_LARGE);
		ps_warn("webhook refused: body over %ld bytes", s->webhook_max_bytes);
		return reply_json(c, MHD_HTTP_CONTENT_TOO_LARGE,
		                  "{\"error\":\"body too large\"}\n");
	}
	MHD_get_connection_values(c, MHD_HEADER_KIND, take_header, &h);

	/* 1. The signature, with the cached secret: no database, no file. (A
	 * process that has just started waits, bounded, for the heartbeat's
	 * first reading of the targets.) */
	(void)serve_db_state_get(sv, s->serve_db_timeout_ms);
	if (valid_target_name(name)) {
		known = serve_secrets_find(sv, name, &target_id, &own, &own_secret);
		if (known < 0) {
			ret = reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			                 "{\"error\":\"out of memory\"}\n");
			goto done;
		}
	}
	if (own && own_secret == NULL) {
		/* Its secret file cannot be read (logged when that was found). */
		ret = unauthorized(c, name, "its secret file cannot be read");
		goto done;
	}
	verdict = ps_webhook_check(&h, own ? own_secret : s->webhook_secret,
	                           rq->body.data ? rq->body.data : "", rq->body.len,
	                           (int64_t)time(NULL), s->webhook_tolerance_s, &delivery);
	if (verdict == PS_WEBHOOK_BAD_DELIVERY) {
		ps_metrics_webhook(PS_WEBHOOK_BAD_REQUEST);
		ps_warn("webhook for \"%s\" refused: %s", name, ps_webhook_verdict_str(verdict));
		ret =
		    reply_json(c, MHD_HTTP_BAD_REQUEST, "{\"error\":\"malformed delivery id\"}\n");
		goto done;
	}
	if (verdict != PS_WEBHOOK_SIGNED) {
		ret = unauthorized(c, name, ps_webhook_verdict_str(verdict));
		goto done;
	}

	/* 2. Signed: with the target's own secret, or with the default one. */
	if (!valid_target_name(name)) {
		ps_metrics_webhook(PS_WEBHOOK_NOT_FOUND);
		ps_warn("webhook for \"%s\": no such target", name);
		ret = reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such target\"}\n");
		goto done;
	}
	db = http_db_acquire(sv);
	if (db == NULL) {
		ps_error("webhook for \"%s\": the database is unavailable", name);
		ret = db_unavailable(c);
		goto done;
	}
	if (!known) {
		/* Not in the cache (a target added since the heartbeat last read
		 * them, or none): only a holder of the default secret gets here. */
		rc = ps_db_target_get(db, name, &t);
		if (rc == PS_DB_NOTFOUND) {
			ps_metrics_webhook(PS_WEBHOOK_NOT_FOUND);
			ps_warn("webhook for \"%s\": no such target", name);
			ret = reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such target\"}\n");
			goto release;
		}
		if (rc < 0)
			goto db_failed;
		if (t.webhook_secret_file) {
			ret = unauthorized(
			    c, name, "signed with the default secret; the target has its own");
			goto release;
		}
		target_id = t.id;
	}
	/* 3. Queued, unless its delivery id says it is a replay. */
	if (ps_db_webhook_enqueue(db, target_id, delivery, s->webhook_tolerance_s, &job_id,
	                          &replay) < 0)
		goto db_failed;
	ps_log_set_target(name);
	if (replay) {
		ps_metrics_webhook(PS_WEBHOOK_REPLAY);
		ps_warn("webhook: delivery already received within the replay window (%ld s):"
		        " nothing queued",
		        s->webhook_tolerance_s);
		snprintf(body, sizeof(body), "{\"queued\":false,\"replay\":true}\n");
		ret = reply_json(c, MHD_HTTP_OK, body);
	} else if (job_id) {
		ps_metrics_webhook(PS_WEBHOOK_QUEUED);
		ps_info("webhook: job %" PRId64 " queued", job_id);
		snprintf(body, sizeof(body), "{\"queued\":true,\"job\":%" PRId64 "}\n", job_id);
		serve_wake(sv);
		ret = reply_json(c, MHD_HTTP_ACCEPTED, body);
	} else {
		ps_metrics_webhook(PS_WEBHOOK_COALESCED);
		ps_info("webhook: a sync is already queued");
		snprintf(body, sizeof(body), "{\"queued\":false,\"coalesced\":true}\n");
		ret = reply_json(c, MHD_HTTP_ACCEPTED, body);
	}
	ps_log_set_target(NULL);
	goto release;

db_failed:
	ps_error("webhook for \"%s\": %s", name, ps_db_error(db));
	failed = 1;
	ret = db_unavailable(c);
release:
	http_db_release(sv, failed);
done:
	serve_secret_free(own_secret);
	ps_target_clear(&t);
	return ret;
}

static enum MHD_Result
handle_readyz(serve_ctx *sv, struct MHD_Connection *c)
{
	if (atomic_load(&sv->stopping))
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "stopping\n");
	switch (serve_db_state_get(sv, sv->settings->serve_db_timeout_ms)) {
	case SERVE_DB_UP: return reply(c, MHD_HTTP_OK, "text/plain", "ready\n");
	case SERVE_DB_NOT_MIGRATED:
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
		             "database not migrated\n");
	default:
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
		             "database unreachable\n");
	}
}

/* Reads the database's figures into the cache, when they are older than
 * PINSYNC_METRICS_CACHE_S and no other scrape is reading them (that one
 * fills the cache; this one shows what is there, or waits for the first). Every outcome is kept
 * for the interval, a failure too: a scrape loop costs the database at
 * most one query (or one connection attempt) per interval. */
static void
metrics_refresh(serve_ctx *sv)
{
	const ps_settings *s = sv->settings;
	int64_t now = serve_now_ms(), at;
	char *text = NULL;
	size_t len = 0;

	pthread_mutex_lock(&sv->metrics_cache_lock);
	at = sv->metrics_at_ms;
	pthread_mutex_unlock(&sv->metrics_cache_lock);
	if (at && now - at < s->metrics_cache_s * 1000)
		return;
	/* Another scrape is reading them: show what there is, or, when there is
	 * nothing yet, wait for it (at most the database's bound). */
	if (at ? pthread_mutex_trylock(&sv->metrics_lock) != 0
	       : pthread_mutex_lock(&sv->metrics_lock) != 0)
		return;
	pthread_mutex_lock(&sv->metrics_cache_lock);
	at = sv->metrics_at_ms; /* read meanwhile by the scrape before? */
	pthread_mutex_unlock(&sv->metrics_cache_lock);
	if (at && serve_now_ms() - at < s->metrics_cache_s * 1000) {
		pthread_mutex_unlock(&sv->metrics_lock);
		return;
	}
	/* Not while the heartbeat finds the database down or not migrated. */
	if (serve_db_state_get(sv, s->serve_db_timeout_ms) == SERVE_DB_UP) {
		if (sv->metrics_db == NULL &&
		    ps_db_connect_opts(&sv->metrics_db, s->database_url,
		                       &(ps_db_options){s->serve_db_timeout_ms,
		                                        "pinsync serve metrics"}) != PS_DB_OK) {
			ps_warn("metrics: %s", ps_db_error(sv->metrics_db));
			ps_db_close(sv->metrics_db);
			sv->metrics_db = NULL;
		}
		if (sv->metrics_db && ps_metrics_render_db(sv->metrics_db, &text, &len) < 0) {
			ps_warn("metrics: %s", ps_db_error(sv->metrics_db));
			ps_db_close(sv->metrics_db);
			sv->metrics_db = NULL;
		}
	}
	pthread_mutex_lock(&sv->metrics_cache_lock);
	free(sv->metrics_text);
	sv->metrics_text = text;
	sv->metrics_len = len;
	sv->metrics_at_ms = serve_now_ms();
	pthread_mutex_unlock(&sv->metrics_cache_lock);
	pthread_mutex_unlock(&sv->metrics_lock);
}

static enum MHD_Result
handle_metrics(serve_ctx *sv, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	char *text = NULL;
	size_t len = 0;
	enum MHD_Result rc;
	int failed;

	metrics_refresh(sv);
	pthread_mutex_lock(&sv->metrics_cache_lock);
	failed = ps_metrics_render(sv->metrics_text, sv->metrics_len, &text, &len) < 0;
	pthread_mutex_unlock(&sv->metrics_cache_lock);
	if (failed)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n");
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
		rq->started_ms = serve_now_ms();
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
		/* A body trickled in to hold the connection: the idle timeout
		 * alone would let it last for ever. */
		if (serve_now_ms() - rq->started_ms >
		    sv->settings->serve_request_timeout_s * 1000) {
			ps_warn(
			    "http: a request body still arriving after %ld s: connection closed",
			    sv->settings->serve_request_timeout_s);
			return MHD_NO;
		}
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
	/* A thread per connection: a handler waiting on the database (at most
	 * PINSYNC_SERVE_DB_TIMEOUT_MS) holds up its own connection only. */
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
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
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)sv->settings->serve_request_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)sv->settings->serve_conn_per_ip,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
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
	pthread_mutex_lock(&sv->metrics_lock);
	ps_db_close(sv->metrics_db);
	sv->metrics_db = NULL;
	pthread_mutex_unlock(&sv->metrics_lock);
	pthread_mutex_lock(&sv->metrics_cache_lock);
	free(sv->metrics_text);
	sv->metrics_text = NULL;
	sv->metrics_at_ms = 0;
	pthread_mutex_unlock(&sv->metrics_cache_lock);
}
