/*
 * fuzz_common.h: shared by the libFuzzer targets of tests/fuzz/.
 *
 * ps_feed_open() reads a path, so each input goes into a memfd that is
 * opened through /proc/self/fd: no file on disk, no state between runs.
 */
#ifndef PS_FUZZ_COMMON_H
#define PS_FUZZ_COMMON_H

#define _GNU_SOURCE 1
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "feeds.h"

/* Writes data to a fresh memfd; path receives its /proc name. -1 on error. */
static int
fuzz_memfd(char *path, size_t cap, const uint8_t *data, size_t size)
{
	int fd = memfd_create("ps_fuzz", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

/* Reads the whole feed; checks what the API promises of every item (in
 * feed order: indexes 1, 2, 3...). o->single_thread picks the parser
 * thread or the caller's; the targets take it from an input bit. */
static void
fuzz_drain(const char *path, const ps_feed_options *o)
{
	ps_feed *f = NULL;
	ps_item *it;
	uint64_t index = 0;
	int rc = ps_feed_open(&f, path, o);

	if (rc == 0) {
		while ((rc = ps_feed_next(&it, f)) == 0) {
			int a;

			if (it->index != ++index)
				abort();
			for (a = 0; a < PS_ATTR__COUNT; a++) {
				const ps_slice v = it->values[a];

				/* values are NUL-terminated, without NUL inside */
				if (v.ptr != NULL &&
				    (v.ptr[v.len] != '\0' || memchr(v.ptr, 0, v.len)))
					abort();
			}
			if (it->nproblems < 0 || it->nproblems > PS_FEED_MAX_PROBLEMS)
				abort();
			if (it->hash != ps_item_hash(it))
				abort();
		}
		if (rc != PS_ITEROVER && rc != PS_EFEED && rc != PS_ENOMEM)
			abort();
		if (rc != PS_ITEROVER && ps_feed_error(f)[0] == '\0')
			abort(); /* a fatal error always says why */
	}
	(void)ps_feed_warnings(f);
	ps_feed_free(f);
}

#endif
