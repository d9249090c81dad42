/*
 * feeds_test.h: helpers the feeds unit tests share. Include after cmocka.h
 * (the helpers assert with it); every function is static, so each test
 * program has its own copy and no link-time dependency.
 *
 * Two layers of feeds (tests/fixtures/feeds/specimens/INDEX.md):
 *   - the project's specimen feeds, PS_TEST_SPECIMENS: always there, always
 *     read;
 *   - the real feeds of the shared folder, outside the project: read in
 *     addition when that folder is there. A test of that layer calls
 *     ps_test_need_real(), which skips it, saying so and naming the folder
 *     it looked for, when the folder is absent. Never silently.
 */
#ifndef PS_TESTS_FEEDS_TEST_H
#define PS_TESTS_FEEDS_TEST_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feeds.h"

#ifndef PINSYNC_SOURCE_DIR
#define PINSYNC_SOURCE_DIR "."
#endif

/* The project's specimen feeds and their index. */
#define PS_TEST_SPECIMENS PINSYNC_SOURCE_DIR "/tests/fixtures/feeds/specimens"
#define PS_TEST_SPECIMEN_INDEX PS_TEST_SPECIMENS "/INDEX.md"

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

/*
 * The folder of the real feeds: $PINSYNC_SHARED_DIR/feeds/real when that
 * variable is set and not empty, whether or not the folder exists (a named
 * folder that is missing means "no real feeds", never "look elsewhere"),
 * else ../shared/feeds/real beside the checkout. Returns 1 when the folder
 * can be read, 0 when it cannot.
 */
static inline int
ps_test_real_dir(char *out, size_t cap)
{
	const char *shared = getenv("PINSYNC_SHARED_DIR");
	DIR *d;

	if (shared != NULL && *shared != '\0')
		snprintf(out, cap, "%s/feeds/real", shared);
	else
		snprintf(out, cap, "%s", PINSYNC_SOURCE_DIR "/../shared/feeds/real");
	d = opendir(out);
	if (d == NULL)
		return 0;
	closedir(d);
	return 1;
}

/* For the real-feed layer of a test: fills dir and returns when the real
 * feeds are there; otherwise says the layer is skipped, naming the folder,
 * and skips the test (cmocka's skip() leaves this function too). */
static inline void
ps_test_need_real(char *dir, size_t cap)
{
	if (ps_test_real_dir(dir, cap))
		return;
	print_message("real-feed layer skipped: %s not found (the shared folder is absent; "
	              "PINSYNC_SHARED_DIR names it); the specimens' layer runs regardless\n",
	              dir);
	skip();
}

/* One row of an index table: INDEX.md of the specimens, or the index
 * table of the real feeds' SOURCES.md. Columns the table lacks stay "" or
 * -1. */
typedef struct ps_test_entry {
	char name[128];
	char format[8]; /* "xml", "csv", "tsv"; "-" or "": not checked */
	long items;     /* "items" (INDEX.md) or "items/rows" (SOURCES.md) */
	long valid;
	long skipped;
	char options[256]; /* "preset=shopify default_currency=NOK ..." or "-" */
	char result[32];   /* "ok", "EFEED", "EFEED:LINE" */
	char message[256]; /* in the error (EFEED) or the warnings (ok); "-": none */

	/* ps_test_entry_options() points the options here */
	char preset[32];
	char currency[16];
	char base_url[128];
} ps_test_entry;

static inline char *
ps_test_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* The number in a cell, or -1 when there is none. */
static inline long
ps_test_num(const char *v)
{
	char *end;
	long n;

	if (v == NULL)
		return -1;
	n = strtol(v, &end, 10);
	return end == v ? -1 : n;
}

/* Splits a table line "| a | b |" into its cells (trimmed, in place). */
static inline int
ps_test_cells(char *line, char **cells, int cap)
{
	char *p = line, *bar;
	int n = 0;

	if (*p != '|')
		return 0;
	p++;
	while (n < cap && (bar = strchr(p, '|')) != NULL) {
		*bar = '\0';
		cells[n++] = ps_test_trim(p);
		p = bar + 1;
	}
	return n;
}

/*
 * Reads the first table of the Markdown file path whose header's first
 * cell is "file": one entry per row, columns found by their header name.
 * Returns the number of rows read (at most cap), or -1 when the file
 * cannot be opened.
 */
static inline int
ps_test_read_index(ps_test_entry *out, size_t cap, const char *path)
{
	enum { C_NAME, C_FORMAT, C_ITEMS, C_VALID, C_SKIPPED, C_OPTIONS, C_RESULT, C_MESSAGE, C_N };
	static const char *const names[C_N] = {"file",    "format",  "items",  "valid",
	                                       "skipped", "options", "result", "message"};
	int col[C_N], in_table = 0, k;
	char line[4096];
	size_t n = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return -1;
	while (n < cap && fgets(line, sizeof(line), fp) != NULL) {
		char *cells[16];
		const char *val[C_N];
		int ncells = ps_test_cells(line, cells, 16);
		ps_test_entry *e = &out[n];

		if (ncells == 0) {
			if (in_table)
				break; /* the first table only */
			continue;
		}
		if (!in_table) {
			if (strcmp(cells[0], "file") != 0)
				continue;
			for (k = 0; k < C_N; k++)
				col[k] = -1;
			for (k = 0; k < ncells; k++) {
				int c;

				for (c = 0; c < C_N; c++) {
					if (strcmp(cells[k], names[c]) == 0 ||
					    (c == C_ITEMS && strcmp(cells[k], "items/rows") == 0))
						col[c] = k;
				}
			}
			in_table = 1;
			continue;
		}
		if (strncmp(cells[0], "---", 3) == 0)
			continue;
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", cells[0]);
		for (k = 0; k < C_N; k++)
			val[k] = col[k] >= 0 && col[k] < ncells ? cells[col[k]] : NULL;
		e->items = ps_test_num(val[C_ITEMS]);
		e->valid = ps_test_num(val[C_VALID]);
		e->skipped = ps_test_num(val[C_SKIPPED]);
		snprintf(e->format, sizeof(e->format), "%s", val[C_FORMAT] ? val[C_FORMAT] : "");
		snprintf(e->options, sizeof(e->options), "%s",
		         val[C_OPTIONS] ? val[C_OPTIONS] : "");
		snprintf(e->result, sizeof(e->result), "%s", val[C_RESULT] ? val[C_RESULT] : "");
		snprintf(e->message, sizeof(e->message), "%s",
		         val[C_MESSAGE] ? val[C_MESSAGE] : "");
		if (e->items < 0)
			continue; /* not a row of counts */
		n++;
	}
	fclose(fp);
	return (int)n;
}

/* The options of an index row ("key=value ..." over ps_feed_options
 * field names) set in *o; the strings point into e. */
static inline void
ps_test_entry_options(ps_test_entry *e, ps_feed_options *o)
{
	char buf[sizeof(e->options)], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", e->options);
	for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (strcmp(tok, "-") == 0)
			continue;
		if (eq == NULL)
			fail_msg("%s: option \"%s\" is not key=value", e->name, tok);
		*eq++ = '\0';
		if (strcmp(tok, "preset") == 0) {
			snprintf(e->preset, sizeof(e->preset), "%s", eq);
			o->preset = e->preset;
		} else if (strcmp(tok, "default_currency") == 0) {
			snprintf(e->currency, sizeof(e->currency), "%s", eq);
			o->default_currency = e->currency;
		} else if (strcmp(tok, "base_url") == 0) {
			snprintf(e->base_url, sizeof(e->base_url), "%s", eq);
			o->base_url = e->base_url;
		} else if (strcmp(tok, "max_inflated") == 0) {
			o->max_inflated = strtoull(eq, NULL, 10);
		} else {
			fail_msg("%s: unknown option \"%s\"", e->name, tok);
		}
	}
}

/* Reads the specimens' index, which must be there and hold rows. */
static inline int
ps_test_specimens(ps_test_entry *out, size_t cap)
{
	int n = ps_test_read_index(out, cap, PS_TEST_SPECIMEN_INDEX);

	if (n <= 0)
		fail_msg("%s: no specimen rows (%d)", PS_TEST_SPECIMEN_INDEX, n);
	return n;
}

#endif /* PS_TESTS_FEEDS_TEST_H */
