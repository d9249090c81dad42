/*
 * serve_secrets.c: the webhook secrets of the targets, cached so that a
 * webhook's signature is checked with no database query and no file read
 * (issue "Hardening": an unsigned request must cost nothing but the HMAC).
 *
 * The heartbeat reads the targets (about once a second) and hands them to
 * serve_secrets_update(), which keeps each secret file's content with the
 * file's identity and re-reads a file only when that changed: a rotated
 * secret is in force within a second or two, an unchanged one is never
 * read again. Secrets are wiped before they are freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "serve_int.h"

/* Largest secret file read (as settings.c reads PINSYNC_WEBHOOK_SECRET_FILE). */
#define SECRET_FILE_MAX 8192

struct serve_secret {
	char *name;
	int64_t target_id;
	char *path;   /* the target's --webhook-secret-file; NULL: the default secret */
	char *secret; /* the file's secret; NULL when it could not be read */
	/* The file as it was when read (or failed to be). */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int err; /* errno of the failed read, 0 when read */
};

void
serve_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	/* volatile: the wipe is not optimised away before free(). */
	for (volatile char *p = secret; *p; p++)
		*p = '\0';
	free(secret);
}

static void
entry_clear(serve_secret *e)
{
	free(e->name);
	free(e->path);
	serve_secret_free(e->secret);
	memset(e, 0, sizeof(*e));
}

static int
same_file(const serve_secret *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
	       e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Reads path into e->secret (trailing newlines cut); sets e->err. A secret
 * file must be a regular file (a FIFO would block the heartbeat). */
static void
read_secret(serve_secret *e, const struct stat *st)
{
	int fd = open(e->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char *buf = NULL;
	size_t n = 0;

	e->secret = NULL;
	e->err = 0;
	if (fd < 0) {
		e->err = errno;
		return;
	}
	if (!S_ISREG(st->st_mode)) {
		e->err = EINVAL;
		goto done;
	}
	buf = malloc(SECRET_FILE_MAX);
	if (buf == NULL) {
		e->err = ENOMEM;
		goto done;
	}
	while (n < SECRET_FILE_MAX - 1) {
		ssize_t r = read(fd, buf + n, SECRET_FILE_MAX - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e->err = errno;
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0) {
		e->err = ENODATA; /* an empty secret would sign nothing */
		goto done;
	}
	e->secret = buf;
	buf = NULL;
done:
	serve_secret_free(buf);
	close(fd);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const serve_secret *)a)->name, ((const serve_secret *)b)->name);
}

static serve_secret *
lookup(serve_secret *list, size_t n, const char *name)
{
	serve_secret key;

	key.name = (char *)name;
	return n ? bsearch(&key, list, n, sizeof(*list), by_name) : NULL;
}

void
serve_secrets_update(serve_ctx *sv, const ps_target *list, size_t count)
{
	serve_secret *next = calloc(count ? count : 1, sizeof(*next)), *old_list;
	size_t i, old_n;

	if (next == NULL)
		return; /* the cache stays as it was */
	/* The old entries are read outside the lock, never written: only this
	 * thread (the heartbeat) replaces them. */
	old_list = sv->secrets;
	old_n = sv->nsecrets;
	for (i = 0; i < count; i++) {
		const ps_target *t = &list[i];
		serve_secret *e = &next[i], *old;
		struct stat st;

		e->name = strdup(t->name);
		e->target_id = t->id;
		if (e->name == NULL)
			goto oom;
		if (t->webhook_secret_file == NULL || t->webhook_secret_file[0] == '\0')
			continue;
		e->path = strdup(t->webhook_secret_file);
		if (e->path == NULL)
			goto oom;
		old = lookup(old_list, old_n, t->name);
		if (stat(e->path, &st) < 0) {
			memset(&st, 0, sizeof(st));
			e->err = errno;
		} else if (old && old->path && strcmp(old->path, e->path) == 0 &&
		           same_file(old, &st)) {
			/* Unchanged: the file is not read again. (A copy: requests
			 * may be reading the old entry until the swap.) */
			e->err = old->err;
			if (old->secret && (e->secret = strdup(old->secret)) == NULL)
				goto oom;
		} else {
			read_secret(e, &st);
			if (e->secret && old && old->path)
				ps_info("webhook secret of target \"%s\" (re)loaded from %s",
				        e->name, e->path);
		}
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->size = st.st_size;
		e->mtime = st.st_mtim;
		/* Said once per change, not at every request it refuses. */
		if (e->err &&
		    !(old && old->path && old->err == e->err && strcmp(old->path, e->path) == 0))
			ps_error("webhook secret of target \"%s\": cannot read %s: %s; its webhooks"
			         " are refused",
			         e->name, e->path,
			         e->err == EINVAL    ? "not a regular file"
			         : e->err == ENODATA ? "empty"
			                             : strerror(e->err));
	}
	qsort(next, count, sizeof(*next), by_name);
	pthread_mutex_lock(&sv->secrets_lock);
	sv->secrets = next;
	sv->nsecrets = count;
	pthread_mutex_unlock(&sv->secrets_lock);
	for (i = 0; i < old_n; i++)
		entry_clear(&old_list[i]);
	free(old_list);
	return;
oom:
	for (i = 0; i < count; i++)
		entry_clear(&next[i]);
	free(next);
}

int
serve_secrets_find(serve_ctx *sv, const char *name, int64_t *target_id, int *own, char **secret)
{
	serve_secret *e;
	int rc = 0;

	*target_id = 0;
	*own = 0;
	*secret = NULL;
	pthread_mutex_lock(&sv->secrets_lock);
	e = lookup(sv->secrets, sv->nsecrets, name);
	if (e) {
		rc = 1;
		*target_id = e->target_id;
		*own = e->path != NULL;
		if (e->secret && (*secret = strdup(e->secret)) == NULL)
			rc = -1;
	}
	pthread_mutex_unlock(&sv->secrets_lock);
	return rc;
}

void
serve_secrets_clear(serve_ctx *sv)
{
	size_t i;

	pthread_mutex_lock(&sv->secrets_lock);
	for (i = 0; i < sv->nsecrets; i++)
		entry_clear(&sv->secrets[i]);
	free(sv->secrets);
	sv->secrets = NULL;
	sv->nsecrets = 0;
	pthread_mutex_unlock(&sv->secrets_lock);
}
