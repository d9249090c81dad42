/*
 * test_feeds_real.c: every real feed specimen in shared/feeds/real/ read
 * through the public API, against the counts in that folder's SOURCES.md.
 *
 * The specimens live outside the repository (they carry no licence to
 * redistribute): $PINSYNC_SHARED_DIR, else PINSYNC_SOURCE_DIR "/../shared".
 * Without them the tests are skipped, not failed.
 *
 * Checked: the number of items of every file in the index table of
 * SOURCES.md (duplicates count: dedup happens downstream); the detected
 * format; PS_ITEROVER with no error; the NEGATIVE file failing with
 * PS_EFEED at a named line; the undeclared-prefix warning; the same items
 * with a small read chunk; the documented deltas between two revisions of
 * the same feed, computed from the content hashes. The share of valid
 * items per file is printed (not asserted: it says how good the mapping is,
 * and store exports without Pinterest column names are expected to fail
 * validation until mapping presets exist).
 *
 * Build (repository root, after cmake --build build --target ps_feeds):
 * gcc -std=c11 -D_POSIX_C_SOURCE=200809L -DPINSYNC_SOURCE_DIR=\"$PWD\" -Ifeeds
 * tests/unit/test_feeds_real.c build/feeds/libps_feeds.a $(pkg-config --cflags --libs cmocka
 * libxml-2.0 libxxhash zlib) -o test_feeds_real
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "feeds_test.h"

#include "feeds.h"

#ifndef PINSYNC_SOURCE_DIR
#define PINSYNC_SOURCE_DIR "."
#endif

#define MALFORMED "gmc-rss-m5zoon-MALFORMED-raw-amp.xml"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static char real_dir[4096];

static int
setup(void **state)
{
	(void)state;
	ps_test_real_dir(real_dir, sizeof(real_dir));
	return 0;
}

static void
real_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", real_dir, name);
}

typedef struct entry {
	char name[128];
	unsigned long count;
} entry;

/* Reads the index table of SOURCES.md: "| file | bytes | items/rows | sha |". */
static size_t
read_index(entry *out, size_t cap)
{
	char path[4200], line[1024];
	size_t n = 0;
	FILE *fp;

	real_path(path, sizeof(path), "SOURCES.md");
	fp = fopen(path, "r");
	if (fp == NULL)
		return 0;
	while (n < cap && fgets(line, sizeof(line), fp) != NULL) {
		char *cols[5], *p = line, *end;
		int k = 0;

		if (line[0] != '|')
			continue;
		while (k < 5 && (p = strchr(p, '|')) != NULL) {
			*p++ = '\0';
			while (*p == ' ')
				p++;
			cols[k++] = p;
		}
		if (k < 4)
			continue;
		end = strchr(cols[0], ' ');
		if (end != NULL)
			*end = '\0';
		if (!(strstr(cols[0], ".xml") || strstr(cols[0], ".csv") ||
		      strstr(cols[0], ".tsv")))
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", cols[0]);
		out[n].count = strtoul(cols[2], &end, 10);
		if (end == cols[2])
			continue;
		n++;
	}
	fclose(fp);
	return n;
}

typedef struct idhash {
	char *id;
	uint64_t hash;
} idhash;

typedef struct summary {
	int rc;
	unsigned long n;
	unsigned long valid;
	uint64_t fold; /* of every item's hash, in order */
	char error[512];
	char warnings[2048];
	ps_feed_format format;
	idhash *ids; /* when asked for */
} summary;

static void
read_feed(summary *s, const char *name, size_t chunk, int want_ids)
{
	ps_feed_options opts = PS_FEED_OPTIONS_INIT;
	char path[4200];
	ps_feed *f = NULL;
	ps_item *it;
	size_t cap = 0;

	memset(s, 0, sizeof(*s));
	real_path(path, sizeof(path), name);
	if (chunk)
		opts.chunk_size = chunk;
	s->rc = ps_feed_open(&f, path, &opts);
	assert_non_null(f);
	if (s->rc == 0) {
		while ((s->rc = ps_feed_next(&it, f)) == 0) {
			s->valid += it->nproblems == 0;
			s->fold = (s->fold ^ it->hash) * UINT64_C(0x100000001b3);
			if (want_ids) {
				const ps_slice id = it->values[PS_ATTR_ID];

				if (s->n == cap) {
					cap = cap ? 2 * cap : 256;
					s->ids = realloc(s->ids, cap * sizeof(*s->ids));
					assert_non_null(s->ids);
				}
				s->ids[s->n].id = strndup(id.ptr ? id.ptr : "", id.len);
				s->ids[s->n].hash = it->hash;
			}
			s->n++;
		}
	}
	snprintf(s->error, sizeof(s->error), "%s", ps_feed_error(f));
	snprintf(s->warnings, sizeof(s->warnings), "%s", ps_feed_warnings(f));
	s->format = ps_feed_detected_format(f);
	ps_feed_free(f);
}

static void
summary_free(summary *s)
{
	unsigned long i;

	if (s->ids != NULL)
		for (i = 0; i < s->n; i++)
			free(s->ids[i].id);
	free(s->ids);
	s->ids = NULL;
}

static int
skip_without_specimens(void)
{
	entry e[1];

	return read_index(e, 1) == 0;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void
test_counts(void **state)
{
	entry idx[128];
	size_t n, i;
	unsigned long total = 0, total_valid = 0;

	(void)state;
	if (skip_without_specimens()) {
		print_message("no specimens in %s: skipped\n", real_dir);
		skip();
	}
	n = read_index(idx, 128);
	assert_true(n >= 40);

	print_message("%-46s %7s %7s %6s\n", "file", "items", "valid", "valid%");
	for (i = 0; i < n; i++) {
		summary s;

		read_feed(&s, idx[i].name, 0, 0);
		if (strcmp(idx[i].name, MALFORMED) == 0) {
			/* NEGATIVE: fatal, naming the first bad line (and column). */
			char where[200];

			assert_int_equal(s.rc, PS_EFEED);
			snprintf(where, sizeof(where), "%s:321:", MALFORMED);
			assert_non_null(strstr(s.error, where));
			assert_true(s.n < idx[i].count);
			print_message("%-46s %7lu %7s %6s  %s\n", idx[i].name, s.n, "-", "-",
			              "PS_EFEED as expected");
			continue;
		}
		if (s.rc != PS_ITEROVER || s.n != idx[i].count)
			print_error("%s: rc %d, %lu items, expected %lu; error: %s\n", idx[i].name,
			            s.rc, s.n, idx[i].count, s.error);
		assert_int_equal(s.rc, PS_ITEROVER);
		assert_int_equal(s.n, idx[i].count);
		assert_string_equal(s.error, "");
		if (ends_with(idx[i].name, ".xml"))
			assert_int_equal(s.format, PS_FORMAT_XML);
		else if (ends_with(idx[i].name, ".tsv"))
			assert_int_equal(s.format, PS_FORMAT_TSV);
		else
			assert_int_equal(s.format, PS_FORMAT_CSV);
		if (strstr(idx[i].name, "broken-ns") != NULL)
			assert_non_null(strstr(s.warnings, "undeclared g: prefix"));
		print_message("%-46s %7lu %7lu %5.0f%%\n", idx[i].name, s.n, s.valid,
		              s.n ? 100.0 * (double)s.valid / (double)s.n : 0.0);
		total += s.n;
		total_valid += s.valid;
	}
	print_message("%-46s %7lu %7lu\n", "total", total, total_valid);
}

static void
test_small_chunks_same_items(void **state)
{
	entry idx[128];
	size_t n, i;

	(void)state;
	if (skip_without_specimens())
		skip();
	n = read_index(idx, 128);
	for (i = 0; i < n; i++) {
		summary a, b;

		read_feed(&a, idx[i].name, 0, 0);
		read_feed(&b, idx[i].name, 997, 0);
		assert_int_equal(a.rc, b.rc);
		assert_int_equal(a.n, b.n);
		assert_int_equal(a.valid, b.valid);
		assert_true(a.fold == b.fold);
		assert_string_equal(a.error, b.error);
	}
}

static int
by_id(const void *x, const void *y)
{
	const idhash *a = x, *b = y;
	int c = strcmp(a->id, b->id);

	if (c != 0)
		return c;
	return (a->hash > b->hash) - (a->hash < b->hash);
}

/* Added, removed and changed ids from a to b (an id may repeat). */
static void
delta(summary *a, summary *b, unsigned long *added, unsigned long *removed, unsigned long *changed)
{
	unsigned long i = 0, j = 0;

	qsort(a->ids, a->n, sizeof(*a->ids), by_id);
	qsort(b->ids, b->n, sizeof(*b->ids), by_id);
	*added = *removed = *changed = 0;
	while (i < a->n || j < b->n) {
		unsigned long i2 = i, j2 = j;
		int c;

		if (i == a->n)
			c = 1;
		else if (j == b->n)
			c = -1;
		else
			c = strcmp(a->ids[i].id, b->ids[j].id);
		if (c <= 0)
			while (i2 < a->n && strcmp(a->ids[i2].id, a->ids[i].id) == 0)
				i2++;
		if (c >= 0)
			while (j2 < b->n && strcmp(b->ids[j2].id, b->ids[j].id) == 0)
				j2++;
		if (c < 0) {
			(*removed)++;
		} else if (c > 0) {
			(*added)++;
		} else {
			unsigned long k;
			int same = i2 - i == j2 - j;

			for (k = 0; same && k < i2 - i; k++)
				same = a->ids[i + k].hash == b->ids[j + k].hash;
			*changed += !same;
		}
		i = i2;
		j = j2;
	}
}

static void
test_documented_deltas(void **state)
{
	static const struct {
		const char *from, *to;
		unsigned long added, removed, changed;
	} pairs[] = {
	    /* SOURCES.md: "0 items were added, 0 removed and 65 changed" */
	    {"gmc-rss-importpc-cz-minified-v1.xml", "gmc-rss-importpc-cz-minified.xml", 0, 0, 65},
	    /* "33 rows were added, 126 removed and 1 changed" */
	    {"pinterest-catalog-stillrising-v1.csv", "pinterest-catalog-stillrising-v4.csv", 33,
	     126, 1},
	};
	size_t p;

	(void)state;
	if (skip_without_specimens())
		skip();
	for (p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		summary a, b;
		unsigned long added, removed, changed;

		read_feed(&a, pairs[p].from, 0, 1);
		read_feed(&b, pairs[p].to, 0, 1);
		assert_int_equal(a.rc, PS_ITEROVER);
		assert_int_equal(b.rc, PS_ITEROVER);
		delta(&a, &b, &added, &removed, &changed);
		print_message("%s -> %s: +%lu -%lu ~%lu\n", pairs[p].from, pairs[p].to, added,
		              removed, changed);
		assert_int_equal(added, pairs[p].added);
		assert_int_equal(removed, pairs[p].removed);
		assert_int_equal(changed, pairs[p].changed);
		summary_free(&a);
		summary_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_small_chunks_same_items),
	    cmocka_unit_test(test_documented_deltas),
	};

	return cmocka_run_group_tests_name("feeds_real", tests, setup, NULL);
}
