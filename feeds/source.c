/*
 * source.c: the bytes of a feed, from a path, stdin, a file:// URL or an
 * http(s) URL (url.c), gunzipped in process.
 *
 * Gzip is recognised by its magic bytes (1f 8b), not by the file name, and
 * inflated with zlib as it streams (windowBits 15 + 32: gzip or zlib
 * header). Concatenated gzip members are read one after the other, as
 * gzip -d does. The data ends properly only at the end of a gzip member:
 * input that stops inside one is a fatal "gzip stream truncated", so a cut
 * download can never pass for a short feed. Inflated output is capped at
 * opts->max_inflated (PS_FEED_DEFAULT_MAX_INFLATED) against gzip bombs.
 *
 * A gzip regular file is inflated on a thread of its own (the "inflater"),
 * a few 256 KiB buffers ahead of the parser, so that inflating (about a
 * third of the parser's time for an XML feed) runs on another core. The
 * same thread reads a plain regular file ahead of the parser when the
 * parser asks for its bytes to be scanned first (ps_feed__source_prescan():
 * the XML scanner, xmlscan.c, a sixth of an XML run otherwise). A
 * pipe, stdin or a URL is inflated in the reader's thread (the parser
 * thread of pipeline.c), whose blocking reads can be stopped: with
 * cancel_fd set, a read from anything but a regular file first polls the
 * fd and cancel_fd, and gives up once cancel_fd is readable (the feed is
 * being freed).
 *
 * Errors are written to the caller's buffer as "name: reason"; nothing is
 * logged here.
 */
#include "feeds_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int inflater_start(ps_source *src, ps_source_scan scan, void *scan_ctx, char *err,
                          size_t errlen);
static int read_plain(size_t *n, ps_source *src, char *buf, size_t cap, char *err,
                      size_t errlen);
static int inflater_read(size_t *n, ps_source *src, char *buf, size_t cap, char *err,
                         size_t errlen);
static void inflater_stop(ps_source *src);

static void
err_errno(char *err, size_t errlen, const char *name, const char *what, int e)
{
	char msg[128];

	if (strerror_r(e, msg, sizeof(msg)) != 0)
		snprintf(msg, sizeof(msg), "error %d", e);
	snprintf(err, errlen, "%s: %s: %s", name, what, msg);
}

/* read() that retries on EINTR. Returns bytes read, 0 at EOF, -1 on error. */
static ssize_t
read_some(int fd, void *buf, size_t cap)
{
	ssize_t r;

	do {
		r = read(fd, buf, cap);
	} while (r < 0 && errno == EINTR);
	return r;
}

/* Waits until fd can be read or cancel_fd is readable. 0, or PS_ERROR
 * (stopped) / PS_EFEED (poll failed) with err written. */
static int
wait_readable(ps_source *src, char *err, size_t errlen)
{
	struct pollfd pf[2];
	int r;

	pf[0].fd = src->fd;
	pf[0].events = POLLIN;
	pf[1].fd = src->cancel_fd;
	pf[1].events = POLLIN;
	for (;;) {
		pf[0].revents = pf[1].revents = 0;
		r = poll(pf, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_errno(err, errlen, src->name, "poll failed", errno);
			return PS_EFEED;
		}
		if (pf[1].revents != 0) {
			snprintf(err, errlen, "%s: reading stopped", src->name);
			return PS_ERROR;
		}
		if (pf[0].revents != 0)
			return 0; /* data, the end (POLLHUP) or an error read() tells */
	}
}

/* Reads up to cap bytes from the fd or the URL: 0 with *got (0 at the
 * end), or PS_EFEED / PS_ENOMEM with err written. Counts bytes_read. */
static int
raw_read(ps_source *src, void *buf, size_t cap, size_t *got, char *err, size_t errlen)
{
	ssize_t r;
	int rc;

	*got = 0;
	if (src->url != NULL) {
		if ((rc = ps_feed__url_read(got, src->url, buf, cap, err, errlen)) != 0)
			return rc;
	} else {
		if (src->pollable && src->cancel_fd >= 0 &&
		    (rc = wait_readable(src, err, errlen)) != 0)
			return rc;
		r = read_some(src->fd, buf, cap);
		if (r < 0) {
			err_errno(err, errlen, src->name, "read failed", errno);
			return PS_EFEED;
		}
		*got = (size_t)r;
	}
	if (*got == 0)
		src->in_eof = 1;
	*src->read_count += (uint64_t)*got;
	return 0;
}

/* Fills src->in from in_len on (at most in_cap). 0, or PS_EFEED. */
static int
fill_in(ps_source *src, char *err, size_t errlen)
{
	size_t got;
	int rc;

	if (src->in_eof || src->in_len >= src->in_cap)
		return 0;
	if ((rc = raw_read(src, src->in + src->in_len, src->in_cap - src->in_len, &got, err,
	                   errlen)) != 0)
		return rc;
	src->in_len += got;
	return 0;
}

/* "file:///a/b%20c" -> "/a/b c" (also file://localhost/...). 0, or -1. */
static int
file_url_path(char *out, size_t cap, const char *url)
{
	const char *p = url + 7;
	size_t o = 0;

	if (strncasecmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/')
		return -1;
	for (; *p && *p != '?' && *p != '#'; p++) {
		char c = *p;

		if (c == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			char hex[3] = {p[1], p[2], 0};

			c = (char)strtol(hex, NULL, 16);
			p += 2;
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int
ps_feed__source_open(ps_source *src, const char *path, const char *name,
                     const ps_feed_options *opts, char *err, size_t errlen)
{
	char fpath[4096];
	size_t chunk = opts->chunk_size;
	struct stat st;
	int rc = PS_EFEED;

	memset(&st, 0, sizeof(st));
	memset(src, 0, sizeof(*src));
	src->fd = -1;
	src->cancel_fd = -1;
	src->name = name;
	src->read_count = &src->bytes_read;
	src->max_inflated = opts->max_inflated ? opts->max_inflated : PS_FEED_DEFAULT_MAX_INFLATED;

	if (strncasecmp(path, "file://", 7) == 0) {
		if (file_url_path(fpath, sizeof(fpath), path) != 0) {
			snprintf(err, errlen, "%s: not a valid file:// URL (file:///absolute/path)",
			         name);
			goto done;
		}
		path = fpath;
	}
	if (ps_feed__is_url(path)) {
		rc = ps_feed__url_open(&src->url, path, opts, err, errlen);
		if (rc != 0)
			goto done;
		rc = PS_EFEED;
	} else if (strcmp(path, "-") == 0) {
		src->fd = STDIN_FILENO;
		src->pollable = fstat(src->fd, &st) != 0 || !S_ISREG(st.st_mode);
	} else {
		src->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (src->fd < 0) {
			err_errno(err, errlen, name, "cannot open", errno);
			goto done;
		}
		src->close_fd = 1;
		if (fstat(src->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: is a directory", name);
			goto done;
		}
		src->pollable = !S_ISREG(st.st_mode); /* a FIFO, a device... */
	}

	src->in_cap = chunk < 16 ? 16 : chunk;
	src->in = malloc(src->in_cap);
	if (src->in == NULL) {
		rc = PS_ENOMEM;
		snprintf(err, errlen, "%s: out of memory", name);
		goto done;
	}

	/* Two bytes decide gzip; a pipe may deliver them one at a time. */
	while (src->in_len < 2 && !src->in_eof) {
		if ((rc = fill_in(src, err, errlen)) != 0)
			goto done;
	}
	rc = PS_EFEED;
	if (src->in_len >= 2 && src->in[0] == 0x1f && src->in[1] == 0x8b) {
		int zrc;

		src->gzip = 1;
		zrc = inflateInit2(&src->z, 15 + 32);
		if (zrc != Z_OK) {
			rc = zrc == Z_MEM_ERROR ? PS_ENOMEM : PS_EFEED;
			snprintf(err, errlen, "%s: inflateInit2 failed (%d)", name, zrc);
			goto done;
		}
		src->z_live = 1;
		src->z.next_in = src->in;
		src->z.avail_in = (uInt)src->in_len;
		if (src->url == NULL && src->close_fd && S_ISREG(st.st_mode) &&
		    (rc = inflater_start(src, NULL, NULL, err, errlen)) != 0)
			goto done;
	}
	rc = 0;

done:
	return rc;
}

static int
read_plain(size_t *n, ps_source *src, char *buf, size_t cap, char *err, size_t errlen)
{
	if (src->in_pos < src->in_len) {
		size_t k = src->in_len - src->in_pos;

		if (k > cap)
			k = cap;
		memcpy(buf, src->in + src->in_pos, k);
		src->in_pos += k;
		*n = k;
		return 0;
	}
	if (src->in_eof)
		return 0;
	return raw_read(src, buf, cap, n, err, errlen);
}

static int
read_gzip(size_t *n, ps_source *src, char *buf, size_t cap, char *err, size_t errlen)
{
	int rc;

	if (src->z_finished)
		return 0;
	if (cap > UINT_MAX)
		cap = UINT_MAX;

	src->z.next_out = (Bytef *)buf;
	src->z.avail_out = (uInt)cap;

	while (src->z.avail_out == cap) {
		int zrc;

		if (src->z.avail_in == 0) {
			src->in_len = 0;
			if ((rc = fill_in(src, err, errlen)) != 0)
				return rc;
			src->z.next_in = src->in;
			src->z.avail_in = (uInt)src->in_len;
			if (src->in_len == 0) {
				/* EOF inside a member: the member never ended. */
				snprintf(err, errlen, "%s: gzip stream truncated", src->name);
				return PS_EFEED;
			}
		}

		zrc = inflate(&src->z, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END) {
			/* Another member may follow (cat a.gz b.gz). */
			if (src->z.avail_in == 0) {
				src->in_len = 0;
				if ((rc = fill_in(src, err, errlen)) != 0)
					return rc;
				src->z.next_in = src->in;
				src->z.avail_in = (uInt)src->in_len;
			}
			if (src->z.avail_in >= 1 && src->z.next_in[0] == 0x1f) {
				if (inflateReset(&src->z) != Z_OK) {
					snprintf(err, errlen, "%s: inflateReset failed", src->name);
					return PS_EFEED;
				}
				continue;
			}
			/* Anything else after the last member is ignored, as
			 * gzip -d does with trailing garbage. */
			src->z_finished = 1;
			break;
		}
		if (zrc == Z_BUF_ERROR && src->z.avail_in == 0)
			continue; /* needs more input */
		if (zrc != Z_OK) {
			snprintf(err, errlen, "%s: gzip data corrupt: %s", src->name,
			         src->z.msg ? src->z.msg : "inflate failed");
			return zrc == Z_MEM_ERROR ? PS_ENOMEM : PS_EFEED;
		}
	}

	*n = cap - src->z.avail_out;
	src->bytes_out += *n;
	if (src->bytes_out > src->max_inflated) {
		snprintf(err, errlen,
		         "%s: gzip data inflates to more than the cap of %llu bytes "
		         "(a gzip bomb?); raise the cap if the feed is really this big",
		         src->name, (unsigned long long)src->max_inflated);
		return PS_EFEED;
	}
	return 0;
}

/* ---- the inflater thread ---- */

#define BG_SLOTS 4
#define BG_SLOT_BYTES (256 * 1024)

struct ps_inflater {
	pthread_t thread;
	ps_source_scan scan; /* plain mode's look at each slot, or NULL */
	void *scan_ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ps_source *src;
	char *slot[BG_SLOTS];
	size_t len[BG_SLOTS];
	uint64_t read_at[BG_SLOTS]; /* compressed bytes read when it was filled */
	unsigned head, tail, count; /* ring: head consumed next, tail filled next */
	size_t pos;                 /* consumed bytes of the head slot */
	uint64_t read_total;        /* the thread's compressed byte count */
	uint64_t end_at;            /* read_total when done was set */
	int done, stop, rc;
	char err[512];
};

/* The thread: inflates (or, for a plain file, reads and scans) into free
 * slots until the end, an error, a refusal of the scan or stop. It alone
 * touches src's zlib state, file and scan from its start on. */
static void *
inflater_main(void *arg)
{
	ps_inflater *bg = arg;
	char err[512] = "";

	for (;;) {
		unsigned slot;
		size_t n = 0;
		int rc;

		pthread_mutex_lock(&bg->mu);
		while (bg->count == BG_SLOTS && !bg->stop)
			pthread_cond_wait(&bg->cv, &bg->mu);
		if (bg->stop) {
			pthread_mutex_unlock(&bg->mu);
			return NULL;
		}
		slot = bg->tail;
		pthread_mutex_unlock(&bg->mu);

		rc = bg->src->gzip
		         ? read_gzip(&n, bg->src, bg->slot[slot], BG_SLOT_BYTES, err, sizeof(err))
		         : read_plain(&n, bg->src, bg->slot[slot], BG_SLOT_BYTES, err, sizeof(err));
		if (rc == 0 && n > 0 && bg->scan != NULL &&
		    bg->scan(bg->scan_ctx, bg->slot[slot], n, &n) != 0)
			rc = PS_FEED_SCAN_REFUSED; /* the n bytes before go first */

		pthread_mutex_lock(&bg->mu);
		if (rc == PS_FEED_SCAN_REFUSED && n > 0) {
			bg->len[slot] = n;
			bg->read_at[slot] = bg->read_total;
			bg->tail = (bg->tail + 1) % BG_SLOTS;
			bg->count++;
		}
		if (rc != 0 || n == 0) {
			bg->done = 1;
			bg->rc = rc;
			memcpy(bg->err, err, sizeof(err));
			bg->end_at = bg->read_total;
			pthread_cond_broadcast(&bg->cv);
			pthread_mutex_unlock(&bg->mu);
			return NULL;
		}
		bg->len[slot] = n;
		bg->read_at[slot] = bg->read_total;
		bg->tail = (bg->tail + 1) % BG_SLOTS;
		bg->count++;
		pthread_cond_broadcast(&bg->cv);
		pthread_mutex_unlock(&bg->mu);
	}
}

static int
inflater_start(ps_source *src, ps_source_scan scan, void *scan_ctx, char *err, size_t errlen)
{
	ps_inflater *bg = calloc(1, sizeof(*bg));
	int i;

	if (bg == NULL)
		goto oom;
	for (i = 0; i < BG_SLOTS; i++)
		if ((bg->slot[i] = malloc(BG_SLOT_BYTES)) == NULL)
			goto oom;
	bg->src = src;
	bg->scan = scan;
	bg->scan_ctx = scan_ctx;
	bg->read_total = src->bytes_read;
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	/* From here on the thread counts the reads. */
	src->read_count = &bg->read_total;
	if (pthread_create(&bg->thread, NULL, inflater_main, bg) != 0) {
		/* No thread: inflate in the caller's thread after all. */
		src->read_count = &src->bytes_read;
		pthread_mutex_destroy(&bg->mu);
		pthread_cond_destroy(&bg->cv);
		for (i = 0; i < BG_SLOTS; i++)
			free(bg->slot[i]);
		free(bg);
		return 0;
	}
	src->bg = bg;
	return 0;
oom:
	if (bg)
		for (i = 0; i < BG_SLOTS; i++)
			free(bg->slot[i]);
	free(bg);
	snprintf(err, errlen, "%s: out of memory", src->name);
	return PS_ENOMEM;
}

/* ps_feed__source_read() for a source with an inflater. */
static int
inflater_read(size_t *n, ps_source *src, char *buf, size_t cap, char *err, size_t errlen)
{
	ps_inflater *bg = src->bg;
	unsigned slot;
	size_t k;

	pthread_mutex_lock(&bg->mu);
	while (bg->count == 0 && !bg->done)
		pthread_cond_wait(&bg->cv, &bg->mu);
	if (bg->count == 0) {
		/* The end, or the error, the thread met. */
		int rc = bg->rc;

		src->bytes_read = bg->end_at;
		if (rc != 0)
			snprintf(err, errlen, "%s", bg->err);
		pthread_mutex_unlock(&bg->mu);
		return rc;
	}
	slot = bg->head;
	src->bytes_read = bg->read_at[slot];
	pthread_mutex_unlock(&bg->mu);

	/* A filled slot is the reader's until it is handed back. */
	k = bg->len[slot] - bg->pos;
	if (k > cap)
		k = cap;
	memcpy(buf, bg->slot[slot] + bg->pos, k);
	bg->pos += k;
	*n = k;
	if (bg->pos == bg->len[slot]) {
		pthread_mutex_lock(&bg->mu);
		bg->pos = 0;
		bg->head = (bg->head + 1) % BG_SLOTS;
		bg->count--;
		pthread_cond_signal(&bg->cv);
		pthread_mutex_unlock(&bg->mu);
	}
	return 0;
}

/* Stops and joins the thread, if any, and frees its buffers. */
static void
inflater_stop(ps_source *src)
{
	ps_inflater *bg = src->bg;
	int i;

	if (bg == NULL)
		return;
	pthread_mutex_lock(&bg->mu);
	bg->stop = 1;
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	pthread_join(bg->thread, NULL);
	pthread_mutex_destroy(&bg->mu);
	pthread_cond_destroy(&bg->cv);
	for (i = 0; i < BG_SLOTS; i++)
		free(bg->slot[i]);
	free(bg);
	src->bg = NULL;
	src->read_count = &src->bytes_read;
}

int
ps_feed__source_prescan(ps_source *src, ps_source_scan scan, void *ctx)
{
	char err[64];

	if (src->bg != NULL || src->gzip || src->url != NULL || src->pollable || src->fd < 0 ||
	    src->in_eof)
		return 0;
	/* Out of memory or no thread: the caller scans, as without this. */
	return inflater_start(src, scan, ctx, err, sizeof(err)) == 0 && src->bg != NULL;
}

int
ps_feed__source_read(size_t *n, ps_source *src, char *buf, size_t cap, char *err, size_t errlen)
{
	*n = 0;
	if (cap == 0)
		return 0;
	if (src->bg)
		return inflater_read(n, src, buf, cap, err, errlen);
	if (src->gzip)
		return read_gzip(n, src, buf, cap, err, errlen);
	return read_plain(n, src, buf, cap, err, errlen);
}

void
ps_feed__source_close(ps_source *src)
{
	if (src == NULL)
		return;
	inflater_stop(src);
	if (src->z_live)
		inflateEnd(&src->z);
	src->z_live = 0;
	ps_feed__url_free(src->url);
	src->url = NULL;
	if (src->close_fd && src->fd >= 0)
		close(src->fd);
	src->fd = -1;
	src->close_fd = 0;
	free(src->in);
	src->in = NULL;
}
