/*
 * feeds_test.h: helpers the feeds unit tests share. Include after cmocka.h
 * (the helpers assert with it); every function is static, so each test
 * program has its own copy and no link-time dependency.
 */
#ifndef PS_TESTS_FEEDS_TEST_H
#define PS_TESTS_FEEDS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes data to a new temporary file; returns its path (malloc'ed; the
 * caller unlinks and frees it). */
static inline char *
ps_test_write_tmp(const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path = malloc(strlen(dir) + 32);
	FILE *fp;
	int fd;

	assert_non_null(path);
	snprintf(path, strlen(dir) + 32, "%s/ps_feed_XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return path;
}

/* The folder of the real feed specimens: $PINSYNC_SHARED_DIR/feeds/real,
 * else ../shared/feeds/real beside the checkout. */
static inline void
ps_test_real_dir(char *out, size_t cap)
{
	const char *shared = getenv("PINSYNC_SHARED_DIR");

	if (shared != NULL && *shared != '\0')
		snprintf(out, cap, "%s/feeds/real", shared);
	else
		snprintf(out, cap, "%s", PINSYNC_SOURCE_DIR "/../shared/feeds/real");
}

#endif /* PS_TESTS_FEEDS_TEST_H */
