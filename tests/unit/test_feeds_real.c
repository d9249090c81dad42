/*
 * test_feeds_real.c: whole feeds read through the public API against the
 * counts their index gives, in two layers.
 *
 * The specimens (always): every row of tests/fixtures/feeds/specimens/
 * INDEX.md, read with the options of the row: items, valid items, skipped
 * records, the detected format, PS_ITEROVER or PS_EFEED naming FILE:LINE,
 * the text of the error or of a warning. Then: every specimen file has a
 * row; a small read chunk gives the same items; a gzipped specimen gives
 * the items of its plain twin; a field over PS_FEED_MAX_FIELD (generated
 * here, a megabyte not worth committing) fails cleanly; the documented
 * delta between two revisions of one catalog, from the content hashes.
 *
 * The real feeds (in addition, when the shared folder is there): every file
 * in the index table of shared/feeds/real/SOURCES.md, with the number of
 * items it gives (duplicates count: dedup happens downstream); the NEGATIVE
 * file failing with PS_EFEED at a named line; the undeclared-prefix
 * warning; the same items with a small read chunk; the documented deltas.
 * The share of valid items per file is printed, not asserted (they are
 * read without presets). Those feeds live outside the repository (they
 * carry no licence to redistribute): $PINSYNC_SHARED_DIR, else
 * PINSYNC_SOURCE_DIR "/../shared". Without them those tests are skipped
 * with a message naming the folder.
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

#define MALFORMED "gmc-rss-m5zoon-MALFORMED-raw-amp.xml"
#define MAX_ENTRIES 128

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

typedef struct idhash {
	char *id;
	uint64_t hash;
} idhash;

typedef struct summary {
	int rc;
	unsigned long n;
	unsigned long valid;
	uint64_t skipped;
	uint64_t fold; /* of every item's hash, in order */
	char error[512];
	char warnings[2048];
	ps_feed_format format;
	idhash *ids; /* when asked for */
} summary;

/* Reads the feed at path to its end (or its error). opts may be NULL;
 * chunk 0 keeps the options' read chunk. */
static void
read_feed(summary *s, const char *path, const ps_feed_options *opts, size_t chunk, int want_ids)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	ps_feed *f = NULL;
	ps_item *it;
	size_t cap = 0;

	memset(s, 0, sizeof(*s));
	if (opts != NULL)
		o = *opts;
	if (chunk)
		o.chunk_size = chunk;
	s->rc = ps_feed_open(&f, path, &o);
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
	s->skipped = ps_feed_skipped(f);
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
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int
is_feed_file(const char *name)
{
	return ends_with(name, ".xml") || ends_with(name, ".csv") || ends_with(name, ".tsv") ||
	       ends_with(name, ".gz");
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

/* The delta between two feeds of dir, against the documented counts. */
static void
check_delta(const char *dir, const char *from, const char *to, unsigned long want_added,
            unsigned long want_removed, unsigned long want_changed)
{
	char pa[4400], pb[4400];
	summary a, b;
	unsigned long added, removed, changed;

	snprintf(pa, sizeof(pa), "%s/%s", dir, from);
	snprintf(pb, sizeof(pb), "%s/%s", dir, to);
	read_feed(&a, pa, NULL, 0, 1);
	read_feed(&b, pb, NULL, 0, 1);
	assert_int_equal(a.rc, PS_ITEROVER);
	assert_int_equal(b.rc, PS_ITEROVER);
	delta(&a, &b, &added, &removed, &changed);
	print_message("%s -> %s: +%lu -%lu ~%lu\n", from, to, added, removed, changed);
	assert_int_equal(added, want_added);
	assert_int_equal(removed, want_removed);
	assert_int_equal(changed, want_changed);
	summary_free(&a);
	summary_free(&b);
}

/* ------------------------------------------------------------------ */
/* Specimens: always                                                   */

static const char *
format_name(ps_feed_format f)
{
	return f == PS_FORMAT_XML   ? "xml"
	       : f == PS_FORMAT_CSV ? "csv"
	       : f == PS_FORMAT_TSV ? "tsv"
	                            : "?";
}

/* A row whose error is about the source, not a place in the feed (the
 * gzip cap): how many items come out before it depends on the read chunk
 * (INDEX.md), so its counts hold for the default chunk only. */
static int
source_error(const ps_test_entry *e)
{
	return strcmp(e->result, "EFEED") == 0;
}

/* One specimen against its row of INDEX.md. */
static void
check_specimen(ps_test_entry *e, size_t chunk, summary *s)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	char path[4200];
	const char *colon;

	snprintf(path, sizeof(path), "%s/%s", PS_TEST_SPECIMENS, e->name);
	ps_test_entry_options(e, &o);
	read_feed(s, path, &o, chunk, 0);
	if ((chunk == 0 || !source_error(e)) &&
	    (s->n != (unsigned long)e->items || s->valid != (unsigned long)e->valid ||
	     s->skipped != (uint64_t)e->skipped))
		fail_msg(
		    "%s (chunk %zu): %lu items, %lu valid, %llu skipped; the index says %ld, %ld, "
		    "%ld (error: \"%s\")",
		    e->name, chunk, s->n, s->valid, (unsigned long long)s->skipped, e->items,
		    e->valid, e->skipped, s->error);
	if (strcmp(e->format, "-") != 0 && strcmp(e->format, format_name(s->format)) != 0)
		fail_msg("%s: format %s, the index says %s", e->name, format_name(s->format),
		         e->format);
	if (strcmp(e->result, "ok") == 0) {
		if (s->rc != PS_ITEROVER)
			fail_msg("%s: rc %d (%s), the index says ok", e->name, s->rc, s->error);
		assert_string_equal(s->error, "");
		if (strcmp(e->message, "-") != 0 && strstr(s->warnings, e->message) == NULL)
			fail_msg("%s: warnings \"%s\" lack \"%s\"", e->name, s->warnings,
			         e->message);
		return;
	}
	if (strncmp(e->result, "EFEED", 5) != 0)
		fail_msg("%s: result \"%s\" is neither ok nor EFEED[:LINE]", e->name, e->result);
	if (s->rc != PS_EFEED)
		fail_msg("%s: rc %d, the index says %s", e->name, s->rc, e->result);
	if ((colon = strchr(e->result, ':')) != NULL) {
		char where[300];

		/* "FILE:LINE:" with FILE as the feed names it (the path) */
		snprintf(where, sizeof(where), "%s:%s:", e->name, colon + 1);
		if (strstr(s->error, where) == NULL)
			fail_msg("%s: error \"%s\" does not name \"%s\"", e->name, s->error, where);
	}
	if (strcmp(e->message, "-") != 0 && strstr(s->error, e->message) == NULL)
		fail_msg("%s: error \"%s\" lacks \"%s\"", e->name, s->error, e->message);
}

static void
test_specimens_as_indexed(void **state)
{
	ps_test_entry idx[MAX_ENTRIES];
	int n, i;
	unsigned long total = 0, total_valid = 0;

	(void)state;
	n = ps_test_specimens(idx, MAX_ENTRIES);
	assert_true(n >= 20);
	print_message("%-38s %6s %6s %8s  %s\n", "specimen", "items", "valid", "skipped", "result");
	for (i = 0; i < n; i++) {
		summary s;

		check_specimen(&idx[i], 0, &s);
		print_message("%-38s %6lu %6lu %8llu  %s\n", idx[i].name, s.n, s.valid,
		              (unsigned long long)s.skipped, s.rc == PS_ITEROVER ? "ok" : s.error);
		total += s.n;
		total_valid += s.valid;
	}
	print_message("%-38s %6lu %6lu\n", "total", total, total_valid);
}

/* A specimen added without its row of the index would never be checked. */
static void
test_every_specimen_is_indexed(void **state)
{
	ps_test_entry idx[MAX_ENTRIES];
	int n = ps_test_specimens(idx, MAX_ENTRIES), i, seen = 0;
	DIR *d = opendir(PS_TEST_SPECIMENS);
	struct dirent *de;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		int found = 0;

		if (!is_feed_file(de->d_name))
			continue;
		for (i = 0; i < n && !found; i++)
			found = strcmp(idx[i].name, de->d_name) == 0;
		if (!found)
			fail_msg("%s/%s has no row in INDEX.md", PS_TEST_SPECIMENS, de->d_name);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, n);
}

static void
test_specimens_small_chunks_same_items(void **state)
{
	static const size_t chunks[] = {997, 61};
	ps_test_entry idx[MAX_ENTRIES];
	int n = ps_test_specimens(idx, MAX_ENTRIES), i;
	size_t c;

	(void)state;
	for (i = 0; i < n; i++) {
		summary a, b;

		check_specimen(&idx[i], 0, &a);
		for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			check_specimen(&idx[i], chunks[c], &b);
			assert_int_equal(a.rc, b.rc);
			assert_string_equal(a.error, b.error);
			assert_string_equal(a.warnings, b.warnings);
			if (source_error(&idx[i]))
				continue; /* checked by check_specimen() */
			assert_int_equal(a.n, b.n);
			assert_int_equal(a.valid, b.valid);
			assert_true(a.fold == b.fold);
		}
	}
}

/* NAME.gz gives exactly the items of NAME. */
static void
test_specimen_gzip_same_items(void **state)
{
	ps_test_entry idx[MAX_ENTRIES];
	int n = ps_test_specimens(idx, MAX_ENTRIES), i, pairs = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		char gz[4200], plain[4200];
		summary a, b;

		if (!ends_with(idx[i].name, ".gz"))
			continue;
		snprintf(gz, sizeof(gz), "%s/%s", PS_TEST_SPECIMENS, idx[i].name);
		snprintf(plain, sizeof(plain), "%.*s", (int)strlen(gz) - 3, gz);
		if (access(plain, R_OK) != 0)
			continue; /* a gzip of its own (the bomb) */
		read_feed(&a, plain, NULL, 0, 0);
		read_feed(&b, gz, NULL, 0, 0);
		assert_int_equal(a.rc, PS_ITEROVER);
		assert_int_equal(b.rc, PS_ITEROVER);
		assert_int_equal(a.n, b.n);
		assert_int_equal(a.valid, b.valid);
		assert_true(a.fold == b.fold);
		pairs++;
	}
	assert_true(pairs >= 1);
}

/* The over-cap field specimens, generated: a megabyte each. */
static void
test_specimen_field_over_cap(void **state)
{
	static const char csv_head[] = "id,title,description,link,image_link,price,availability\n"
	                               "OC-1,Small,Fine,https://cap.example/p/1,https://"
	                               "cap.example/i/1.jpg,1.00 USD,in stock\n"
	                               "OC-2,Huge,";
	static const char xml_head[] =
	    "<?xml version=\"1.0\"?>\n<rss xmlns:g=\"http://base.google.com/ns/1.0\"><channel>\n"
	    "<item><g:id>OC-1</g:id><title>Small</title><description>Fine</description>"
	    "<link>https://cap.example/p/1</link><g:image_link>https://cap.example/i/1.jpg"
	    "</g:image_link><g:price>1.00 USD</g:price><g:availability>in stock</g:availability>"
	    "</item>\n<item><g:id>OC-2</g:id><title>Huge</title>\n<description>";
	const size_t big = PS_FEED_MAX_FIELD + 1;
	size_t cap = big + 1024, k;
	char *doc = malloc(cap), *path, want[4200];
	summary s;

	(void)state;
	assert_non_null(doc);

	k = (size_t)snprintf(doc, cap, "%s", csv_head);
	memset(doc + k, 'x', big);
	k += big;
	k += (size_t)snprintf(
	    doc + k, cap - k,
	    ",https://cap.example/p/2,https://cap.example/i/2.jpg,1.00 USD,in stock\n");
	path = ps_test_write_tmp(doc, k);
	read_feed(&s, path, NULL, 0, 0);
	assert_int_equal(s.rc, PS_EFEED);
	assert_int_equal(s.n, 1);
	snprintf(want, sizeof(want), "%s:3: field over the 1 MiB cap", path);
	assert_string_equal(s.error, want);
	unlink(path);
	free(path);

	k = (size_t)snprintf(doc, cap, "%s", xml_head);
	memset(doc + k, 'x', big);
	k += big;
	k += (size_t)snprintf(doc + k, cap - k, "</description></item>\n</channel></rss>\n");
	path = ps_test_write_tmp(doc, k);
	read_feed(&s, path, NULL, 0, 0);
	assert_int_equal(s.rc, PS_EFEED);
	assert_int_equal(s.n, 1);
	snprintf(want, sizeof(want), "%s:", path);
	assert_true(strncmp(s.error, want, strlen(want)) == 0);
	assert_non_null(strstr(s.error, "element text over the 1 MiB cap"));
	unlink(path);
	free(path);
	free(doc);
}

static void
test_specimen_documented_delta(void **state)
{
	(void)state;
	/* INDEX.md, "Delta pair": +2 -1 ~1; CRLF -> LF, quoting and
	 * "5900,00 RUB" -> "5900.00 RUB" are no change */
	check_delta(PS_TEST_SPECIMENS, "pinterest-catalog-severknit.csv",
	            "pinterest-catalog-severknit-v2.csv", 2, 1, 1);
}

/* ------------------------------------------------------------------ */
/* Real feeds: when the shared folder is there                         */

static int
real_index(ps_test_entry *idx, size_t cap, char *dir, size_t dircap)
{
	char path[4200];
	int n;

	ps_test_need_real(dir, dircap);
	snprintf(path, sizeof(path), "%s/SOURCES.md", dir);
	n = ps_test_read_index(idx, cap, path);
	if (n < 0)
		fail_msg("%s is there but %s is not", dir, path);
	return n;
}

static void
test_real_counts(void **state)
{
	ps_test_entry idx[MAX_ENTRIES];
	char dir[4096];
	int n, i;
	unsigned long total = 0, total_valid = 0;

	(void)state;
	n = real_index(idx, MAX_ENTRIES, dir, sizeof(dir));
	assert_true(n >= 40);

	print_message("%-46s %7s %7s %6s\n", "file", "items", "valid", "valid%");
	for (i = 0; i < n; i++) {
		char path[4400];
		summary s;

		snprintf(path, sizeof(path), "%s/%.127s", dir, idx[i].name);
		read_feed(&s, path, NULL, 0, 0);
		if (strcmp(idx[i].name, MALFORMED) == 0) {
			/* NEGATIVE: fatal, naming the first bad line (and column). */
			char where[200];

			assert_int_equal(s.rc, PS_EFEED);
			snprintf(where, sizeof(where), "%s:321:", MALFORMED);
			assert_non_null(strstr(s.error, where));
			assert_true(s.n < (unsigned long)idx[i].items);
			print_message("%-46s %7lu %7s %6s  %s\n", idx[i].name, s.n, "-", "-",
			              "PS_EFEED as expected");
			continue;
		}
		if (s.rc != PS_ITEROVER || s.n != (unsigned long)idx[i].items)
			print_error("%s: rc %d, %lu items, expected %ld; error: %s\n", idx[i].name,
			            s.rc, s.n, idx[i].items, s.error);
		assert_int_equal(s.rc, PS_ITEROVER);
		assert_int_equal(s.n, idx[i].items);
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
test_real_small_chunks_same_items(void **state)
{
	ps_test_entry idx[MAX_ENTRIES];
	char dir[4096];
	int n, i;

	(void)state;
	n = real_index(idx, MAX_ENTRIES, dir, sizeof(dir));
	for (i = 0; i < n; i++) {
		char path[4400];
		summary a, b;

		snprintf(path, sizeof(path), "%s/%.127s", dir, idx[i].name);
		read_feed(&a, path, NULL, 0, 0);
		read_feed(&b, path, NULL, 997, 0);
		assert_int_equal(a.rc, b.rc);
		assert_int_equal(a.n, b.n);
		assert_int_equal(a.valid, b.valid);
		assert_true(a.fold == b.fold);
		assert_string_equal(a.error, b.error);
	}
}

static void
test_real_documented_deltas(void **state)
{
	char dir[4096];

	(void)state;
	ps_test_need_real(dir, sizeof(dir));
	/* SOURCES.md: "0 items were added, 0 removed and 65 changed" */
	check_delta(dir, "gmc-rss-importpc-cz-minified-v1.xml", "gmc-rss-importpc-cz-minified.xml",
	            0, 0, 65);
	/* "33 rows were added, 126 removed and 1 changed" */
	check_delta(dir, "pinterest-catalog-stillrising-v1.csv",
	            "pinterest-catalog-stillrising-v4.csv", 33, 126, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_specimens_as_indexed),
	    cmocka_unit_test(test_every_specimen_is_indexed),
	    cmocka_unit_test(test_specimens_small_chunks_same_items),
	    cmocka_unit_test(test_specimen_gzip_same_items),
	    cmocka_unit_test(test_specimen_field_over_cap),
	    cmocka_unit_test(test_specimen_documented_delta),
	    cmocka_unit_test(test_real_counts),
	    cmocka_unit_test(test_real_small_chunks_same_items),
	    cmocka_unit_test(test_real_documented_deltas),
	};

	return cmocka_run_group_tests_name("feeds_real", tests, NULL, NULL);
}
