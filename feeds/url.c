/*
 * url.c: http(s) feed sources, streamed through libcurl as they download.
 *
 * One easy handle in a multi handle, driven from the reader's side: when
 * the parser wants bytes, ps_feed__url_read() runs curl_multi_perform()
 * and curl_multi_poll() until the write callback has put some in a small
 * buffer (URL_STASH bytes). When that buffer is full the callback answers
 * CURL_WRITEFUNC_PAUSE and the transfer waits, paused, until the parser
 * has drained it: memory stays constant whatever the size of the feed, and
 * nothing is written to disk.
 *
 * Safety: TLS peer and host verification stay on (libcurl's defaults,
 * never turned off; ca_file only adds trust anchors); http and https only,
 * also after redirects; credentials are not sent to another host after a
 * redirect (libcurl's default, CURLOPT_UNRESTRICTED_AUTH off). The
 * password, from the URL or the password file, is removed from every
 * message this file writes (see scrub()).
 *
 * A download is complete only when libcurl says so (CURLE_OK): a body
 * shorter than its Content-Length (CURLE_PARTIAL_FILE), a cut chunked
 * body, a reset or a stall is a fatal error, never an end of the feed.
 */
#include "feeds_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include <curl/curl.h>

#ifndef PINSYNC_VERSION
#define PINSYNC_VERSION "dev"
#endif

#define URL_STASH ((size_t)128 << 10)    /* bytes buffered between curl and the parser */
#define URL_STASH_MAX ((size_t)16 << 20) /* a libcurl that hands out more at once */
#define URL_VALIDATOR_MAX 1024           /* ETag / Last-Modified kept */
#define URL_PASSWORD_MAX 4096            /* bytes read from the password file */

struct ps_url {
	CURLM *multi;
	CURL *easy;
	int in_multi;
	char errbuf[CURL_ERROR_SIZE];
	char name[512]; /* the URL, password shown as *** */

	char *stash;
	size_t len, pos, cap;
	int paused;

	int done;
	CURLcode result;
	long status;
	int bad_status;  /* the write callback refused a non-2xx body */
	int conditional; /* If-None-Match / If-Modified-Since were sent */

	char etag[URL_VALIDATOR_MAX];
	char last_modified[URL_VALIDATOR_MAX];
	int have_etag, have_lm;

	char *password; /* for scrub(); wiped and freed with the handle */
	struct curl_slist *headers;

	int cancel_fd; /* readable once the download must stop, or -1 */
};

int
ps_feed__is_url(const char *source)
{
	return strncasecmp(source, "http://", 7) == 0 || strncasecmp(source, "https://", 8) == 0;
}

/* Replaces every occurrence of the password in s by "***" (by as many
 * '*' when it is shorter: the text never grows). */
static void
scrub(const ps_url *u, char *s)
{
	size_t plen;
	char *p;

	if (u == NULL || u->password == NULL || (plen = strlen(u->password)) == 0)
		return;
	while ((p = strstr(s, u->password)) != NULL) {
		if (plen >= 3) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + plen, strlen(p + plen) + 1);
			s = p + 3;
		} else {
			memset(p, '*', plen);
			s = p + plen;
		}
	}
}

static void url_fail(ps_url *u, char *err, size_t errlen, const char *fmt, ...) PS_PRINTF(4, 5);

static void
url_fail(ps_url *u, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int k;

	k = snprintf(err, errlen, "%s: ", u->name);
	if (k < 0 || (size_t)k >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
	va_end(ap);
	scrub(u, err);
}

/* The URL with its password replaced by ***, for messages. */
void
ps_feed__url_redact(char *out, size_t cap, const char *url)
{
	CURLU *h = curl_url();
	char *pw = NULL, *s = NULL;

	snprintf(out, cap, "%s", url);
	if (h == NULL)
		return;
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK && pw != NULL) {
		if (curl_url_set(h, CURLUPART_PASSWORD, "***", 0) == CURLUE_OK &&
		    curl_url_get(h, CURLUPART_URL, &s, 0) == CURLUE_OK)
			snprintf(out, cap, "%s", s);
		else
			snprintf(out, cap, "(URL with a password)");
	}
	curl_free(pw);
	curl_free(s);
	curl_url_cleanup(h);
}

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	ps_url *u = ud;
	size_t n = size * nmemb;

	if (u->status == 0)
		(void)curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &u->status);
	if (u->status < 200 || u->status > 299) {
		u->bad_status = 1;
		return 0; /* not a feed: an error page, a 304 with a body... */
	}
	if (u->pos == u->len)
		u->pos = u->len = 0;
	if (u->cap - u->len < n && u->pos > 0) {
		memmove(u->stash, u->stash + u->pos, u->len - u->pos);
		u->len -= u->pos;
		u->pos = 0;
	}
	if (u->cap - u->len < n) {
		if (u->len > 0) {
			u->paused = 1;
			return CURL_WRITEFUNC_PAUSE;
		}
		/* Empty and still too small: a libcurl that delivers more than
		 * CURL_MAX_WRITE_SIZE at once. Grow, within reason. */
		if (n > URL_STASH_MAX)
			return 0;
		{
			char *p = realloc(u->stash, n);

			if (p == NULL)
				return 0;
			u->stash = p;
			u->cap = n;
		}
	}
	memcpy(u->stash + u->len, ptr, n);
	u->len += n;
	return n;
}

/* Copies a header's value, trimmed, into dst. */
static void
header_value(char *dst, size_t cap, const char *v, size_t n, int *have)
{
	while (n > 0 && ps_is_space((unsigned char)*v)) {
		v++;
		n--;
	}
	while (n > 0 && ps_is_space((unsigned char)v[n - 1]))
		n--;
	if (n == 0 || n >= cap) {
		*have = 0;
		return;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
	*have = 1;
}

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	ps_url *u = ud;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 100): its own headers. */
		u->have_etag = u->have_lm = 0;
		u->status = 0;
	} else if (n > 5 && strncasecmp(ptr, "ETag:", 5) == 0) {
		header_value(u->etag, sizeof(u->etag), ptr + 5, n - 5, &u->have_etag);
	} else if (n > 14 && strncasecmp(ptr, "Last-Modified:", 14) == 0) {
		header_value(u->last_modified, sizeof(u->last_modified), ptr + 14, n - 14,
		             &u->have_lm);
	}
	return n;
}

/* A header value we send must be one line of printable text. */
static int
header_safe(const char *v)
{
	for (; *v; v++) {
		if ((unsigned char)*v < 0x20 || *v == 0x7F)
			return 0;
	}
	return 1;
}

/* Reads the first line of path into a new string. */
static int
read_password(char **out, const char *path, char *err, size_t errlen, const char *name)
{
	char buf[URL_PASSWORD_MAX + 1];
	size_t n;
	FILE *fp = fopen(path, "rb");

	*out = NULL;
	if (fp == NULL) {
		snprintf(err, errlen, "%s: cannot read the password file %s", name, path);
		return PS_ERROR;
	}
	n = fread(buf, 1, URL_PASSWORD_MAX, fp);
	fclose(fp);
	buf[n] = '\0';
	n = strcspn(buf, "\r\n");
	while (n > 0 && ps_is_space((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "%s: the password file %s is empty", name, path);
		return PS_ERROR;
	}
	*out = strdup(buf);
	memset(buf, 0, sizeof(buf));
	return *out ? 0 : PS_ENOMEM;
}

/* Runs the transfer until bytes are buffered or it ended. */
static int
drive(ps_url *u, char *err, size_t errlen)
{
	while (u->pos == u->len && !u->done) {
		CURLMsg *m;
		int running = 0, left;
		CURLMcode mc;

		if (u->paused) {
			u->paused = 0;
			(void)curl_easy_pause(u->easy, CURLPAUSE_CONT);
			if (u->pos < u->len)
				break;
		}
		mc = curl_multi_perform(u->multi, &running);
		if (mc != CURLM_OK) {
			url_fail(u, err, errlen, "download failed: %s", curl_multi_strerror(mc));
			return PS_EFEED;
		}
		while ((m = curl_multi_info_read(u->multi, &left)) != NULL) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == u->easy) {
				u->done = 1;
				u->result = m->data.result;
			}
		}
		if (u->pos < u->len || u->done)
			break;
		if (u->paused)
			continue;
		{
			/* The parser thread waits here; ps_feed_free() wakes it
			 * through cancel_fd. */
			struct curl_waitfd wf = {u->cancel_fd, CURL_WAIT_POLLIN, 0};

			mc = curl_multi_poll(u->multi, &wf, u->cancel_fd >= 0 ? 1 : 0, 1000, NULL);
			if (mc != CURLM_OK) {
				url_fail(u, err, errlen, "download failed: %s",
				         curl_multi_strerror(mc));
				return PS_EFEED;
			}
			if (wf.revents != 0) {
				url_fail(u, err, errlen, "download stopped");
				return PS_ERROR;
			}
		}
	}
	if (u->pos < u->len)
		return 0;

	/* Done: the final status and the outcome. */
	if (u->status == 0)
		(void)curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &u->status);
	if (u->status == 304 && u->result == CURLE_OK) {
		if (u->conditional)
			return PS_FEED_UNCHANGED;
		url_fail(u, err, errlen, "HTTP 304 to a request that was not conditional");
		return PS_EFEED;
	}
	if (u->bad_status || (u->result == CURLE_OK && (u->status < 200 || u->status > 299))) {
		url_fail(u, err, errlen, "HTTP %ld: the server did not send the feed", u->status);
		return PS_EFEED;
	}
	if (u->result != CURLE_OK) {
		const char *why = u->errbuf[0] ? u->errbuf : curl_easy_strerror(u->result);

		if (u->result == CURLE_PARTIAL_FILE)
			url_fail(u, err, errlen, "download truncated (%s)", why);
		else if (u->result == CURLE_OPERATION_TIMEDOUT)
			url_fail(u, err, errlen, "download stalled or timed out (%s)", why);
		else if (u->result == CURLE_PEER_FAILED_VERIFICATION ||
		         u->result == CURLE_SSL_CACERT_BADFILE)
			url_fail(u, err, errlen, "TLS certificate not trusted (%s)", why);
		else
			url_fail(u, err, errlen, "download failed (%s)", why);
		return PS_EFEED;
	}
	return 0;
}

int
ps_feed__url_open(ps_url **out, const char *url, const ps_feed_options *o, char *err, size_t errlen)
{
	ps_url *u = NULL;
	CURLU *h = NULL;
	char *user = NULL, *pw = NULL, *clean = NULL, *scheme = NULL, *file_pw = NULL;
	char line[URL_VALIDATOR_MAX + 64];
	int rc = PS_ERROR;
	long redirects;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return PS_ERROR;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return PS_ENOMEM;
	}
	*out = u;
	u->cancel_fd = -1;
	ps_feed__url_redact(u->name, sizeof(u->name), url);

	h = curl_url();
	if (h == NULL)
		goto nomem;
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		url_fail(u, err, errlen, "not a valid http(s) URL");
		rc = PS_EFEED;
		goto done;
	}
	(void)curl_url_get(h, CURLUPART_USER, &user, CURLU_URLDECODE);
	(void)curl_url_get(h, CURLUPART_PASSWORD, &pw, CURLU_URLDECODE);
	if (o->password_file != NULL && o->password_file[0] != '\0') {
		if (user == NULL || user[0] == '\0') {
			url_fail(u, err, errlen,
			         "a password file is set but the URL names no user "
			         "(https://USER@host/...)");
			goto done;
		}
		if ((rc = read_password(&file_pw, o->password_file, err, errlen, u->name)) != 0)
			goto done;
		rc = PS_ERROR;
		curl_free(pw);
		pw = NULL;
	}
	if (pw != NULL || file_pw != NULL) {
		u->password = strdup(file_pw ? file_pw : pw);
		if (u->password == NULL)
			goto nomem;
	}
	/* The credentials go through CURLOPT_USERNAME/PASSWORD, not the URL. */
	(void)curl_url_set(h, CURLUPART_USER, NULL, 0);
	(void)curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
	if (curl_url_get(h, CURLUPART_URL, &clean, 0) != CURLUE_OK)
		goto nomem;

	u->cap = URL_STASH;
	u->stash = malloc(u->cap);
	u->multi = curl_multi_init();
	u->easy = curl_easy_init();
	if (u->stash == NULL || u->multi == NULL || u->easy == NULL)
		goto nomem;

	redirects = o->max_redirects == 0 ? 10 : o->max_redirects < 0 ? 0 : o->max_redirects;
	curl_easy_setopt(u->easy, CURLOPT_URL, clean);
	curl_easy_setopt(u->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(u->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(u->easy, CURLOPT_FOLLOWLOCATION, redirects > 0 ? 1L : 0L);
	curl_easy_setopt(u->easy, CURLOPT_MAXREDIRS, redirects);
	curl_easy_setopt(u->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(u->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL && o->ca_file[0] != '\0')
		curl_easy_setopt(u->easy, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(u->easy, CURLOPT_CONNECTTIMEOUT_MS,
	                 o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 30000L);
	curl_easy_setopt(u->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(u->easy, CURLOPT_LOW_SPEED_TIME,
	                 o->stall_timeout_s > 0 ? o->stall_timeout_s : 120L);
	if (o->timeout_s > 0)
		curl_easy_setopt(u->easy, CURLOPT_TIMEOUT, o->timeout_s);
	curl_easy_setopt(u->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(u->easy, CURLOPT_USERAGENT, "pinsync/" PINSYNC_VERSION);
	curl_easy_setopt(u->easy, CURLOPT_ERRORBUFFER, u->errbuf);
	curl_easy_setopt(u->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(u->easy, CURLOPT_WRITEDATA, u);
	curl_easy_setopt(u->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(u->easy, CURLOPT_HEADERDATA, u);
	if (user != NULL && user[0] != '\0') {
		curl_easy_setopt(u->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(u->easy, CURLOPT_USERNAME, user);
		curl_easy_setopt(u->easy, CURLOPT_PASSWORD, u->password ? u->password : "");
	}

	if (o->etag != NULL && o->etag[0] != '\0') {
		if (!header_safe(o->etag) || strlen(o->etag) >= URL_VALIDATOR_MAX) {
			url_fail(u, err, errlen, "the stored ETag is not a valid header value");
			goto done;
		}
		snprintf(line, sizeof(line), "If-None-Match: %s", o->etag);
		if ((u->headers = curl_slist_append(u->headers, line)) == NULL)
			goto nomem;
		u->conditional = 1;
	}
	if (o->last_modified != NULL && o->last_modified[0] != '\0') {
		struct curl_slist *l;

		if (!header_safe(o->last_modified) ||
		    strlen(o->last_modified) >= URL_VALIDATOR_MAX) {
			url_fail(u, err, errlen,
			         "the stored Last-Modified is not a valid header value");
			goto done;
		}
		snprintf(line, sizeof(line), "If-Modified-Since: %s", o->last_modified);
		if ((l = curl_slist_append(u->headers, line)) == NULL)
			goto nomem;
		u->headers = l;
		u->conditional = 1;
	}
	if (u->headers != NULL)
		curl_easy_setopt(u->easy, CURLOPT_HTTPHEADER, u->headers);

	if (curl_multi_add_handle(u->multi, u->easy) != CURLM_OK)
		goto nomem;
	u->in_multi = 1;

	/* Up to the first bytes of the body, or the end: the status is known. */
	rc = drive(u, err, errlen);
	goto done;

nomem:
	rc = PS_ENOMEM;
	snprintf(err, errlen, "%s: out of memory", u->name);
done:
	if (file_pw != NULL) {
		memset(file_pw, 0, strlen(file_pw));
		free(file_pw);
	}
	if (pw != NULL)
		memset(pw, 0, strlen(pw));
	curl_free(pw);
	curl_free(user);
	curl_free(clean);
	curl_free(scheme);
	curl_url_cleanup(h);
	return rc;
}

int
ps_feed__url_read(size_t *n, ps_url *u, void *buf, size_t cap, char *err, size_t errlen)
{
	int rc;
	size_t k;

	*n = 0;
	if ((rc = drive(u, err, errlen)) != 0)
		return rc == PS_FEED_UNCHANGED ? PS_EFEED : rc;
	k = u->len - u->pos;
	if (k > cap)
		k = cap;
	if (k > 0)
		memcpy(buf, u->stash + u->pos, k);
	u->pos += k;
	*n = k;
	return 0;
}

void
ps_feed__url_validators(const ps_url *u, const char **etag, const char **last_modified)
{
	*etag = (u && u->have_etag) ? u->etag : NULL;
	*last_modified = (u && u->have_lm) ? u->last_modified : NULL;
}

void
ps_feed__url_set_cancel(ps_url *u, int fd)
{
	if (u != NULL)
		u->cancel_fd = fd;
}

long
ps_feed__url_status(const ps_url *u)
{
	return u ? u->status : 0;
}

void
ps_feed__url_free(ps_url *u)
{
	if (u == NULL)
		return;
	if (u->in_multi)
		curl_multi_remove_handle(u->multi, u->easy);
	if (u->easy)
		curl_easy_cleanup(u->easy);
	if (u->multi)
		curl_multi_cleanup(u->multi);
	curl_slist_free_all(u->headers);
	if (u->password != NULL) {
		memset(u->password, 0, strlen(u->password));
		free(u->password);
	}
	free(u->stash);
	free(u);
	curl_global_cleanup();
}
