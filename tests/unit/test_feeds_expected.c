/*
 * test_feeds_expected.c: the normalised output of feeds against expected
 * files written by hand (the .txt files of tests/fixtures/feeds/expected/),
 * in two layers.
 *
 * Each expected file starts with "# specimen: NAME" (a file of the
 * project's tests/fixtures/feeds/specimens/: always compared) or
 * "# source: NAME" (a file of shared/feeds/real/: compared when the shared
 * folder is there, else skipped with a message naming it), optionally
 * "# options: key=value ..." (ps_feed_options fields, as in the specimens'
 * INDEX.md), and holds, for the first items of that feed, a
 * "# item N (line L)" or "# line L" line and then "attribute=value" lines
 * in the table order of attrs.h: a LIST value one line per element, a line
 * break in a value written \n. Lines starting "# " other than the item
 * headers are comments. The test renders the same items the same way and
 * compares line by line, naming the first difference. Every .txt file of
 * the folder is compared: a new one needs no code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "feeds_test.h"

#include "feeds.h"

#define EXPECTED PINSYNC_SOURCE_DIR "/tests/fixtures/feeds/expected/"

typedef struct text {
	char *p;
	size_t len, cap;
} text;

static void
put(text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void
puts_(text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void
render(text *t, const ps_item *it, int xml)
{
	char head[96];
	int a;

	if (xml)
		snprintf(head, sizeof(head), "# item %llu (line %llu)\n",
		         (unsigned long long)it->index, (unsigned long long)it->line);
	else
		snprintf(head, sizeof(head), "# line %llu\n", (unsigned long long)it->line);
	puts_(t, head);
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice v = it->values[a];
		size_t i;

		if (v.ptr == NULL)
			continue;
		puts_(t, ps_attr_defs[a].name);
		puts_(t, "=");
		for (i = 0; i < v.len; i++) {
			if (v.ptr[i] == PS_LIST_SEP) {
				puts_(t, "\n");
				puts_(t, ps_attr_defs[a].name);
				puts_(t, "=");
			} else if (v.ptr[i] == '\n') {
				puts_(t, "\\n");
			} else {
				put(t, v.ptr + i, 1);
			}
		}
		puts_(t, "\n");
	}
}

/* What an expected file says about itself. */
typedef struct header {
	int real;           /* "# source:" (real feed) rather than "# specimen:" */
	char name[256];     /* the feed */
	ps_test_entry opts; /* "# options:", for ps_test_entry_options() */
} header;

static void
read_header(header *h, const char *path)
{
	char line[16384];
	FILE *fp = fopen(path, "r");

	memset(h, 0, sizeof(*h));
	snprintf(h->opts.options, sizeof(h->opts.options), "-");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "# source: ", 10) == 0) {
			h->real = 1;
			snprintf(h->name, sizeof(h->name), "%.200s", line + 10);
		} else if (strncmp(line, "# specimen: ", 12) == 0) {
			snprintf(h->name, sizeof(h->name), "%.200s", line + 12);
		} else if (strncmp(line, "# options: ", 11) == 0) {
			snprintf(h->opts.options, sizeof(h->opts.options), "%.200s", line + 11);
		}
	}
	fclose(fp);
	if (h->name[0] == '\0')
		fail_msg("%s: no \"# specimen:\" or \"# source:\" line", path);
	snprintf(h->opts.name, sizeof(h->opts.name), "%.120s", h->name);
}

/* Compares the feed at feed_path with the expected file (already read). */
static void
compare(const char *expected_name, const char *feed_path, header *h)
{
	char path[4600], line[16384];
	text want = {0}, got = {0};
	int nitems = 0, xml;
	FILE *fp;
	ps_feed *f = NULL;
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	ps_item *it;
	const char *w, *g;
	unsigned lineno = 1;

	snprintf(path, sizeof(path), "%s%s", EXPECTED, expected_name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, "# item ", 7) == 0 || strncmp(line, "# line ", 7) == 0)
			nitems++;
		else if (line[0] == '#')
			continue;
		puts_(&want, line);
	}
	fclose(fp);
	ps_test_entry_options(&h->opts, &o);
	if (ps_feed_open(&f, feed_path, &o) != 0)
		fail_msg("%s: %s", expected_name, ps_feed_error(f));
	xml = ps_feed_detected_format(f) == PS_FORMAT_XML;
	while (nitems-- > 0) {
		if (ps_feed_next(&it, f) != 0)
			fail_msg("%s: the feed ends before the expected items: %s", expected_name,
			         ps_feed_error(f));
		render(&got, it, xml);
	}
	ps_feed_free(f);

	/* the first differing line, for a readable failure */
	w = want.p ? want.p : "";
	g = got.p ? got.p : "";
	while (*w || *g) {
		size_t wl = strcspn(w, "\n"), gl = strcspn(g, "\n");

		if (wl != gl || memcmp(w, g, wl) != 0)
			fail_msg("%s line %u:\n  want: %.*s\n  got:  %.*s", expected_name, lineno,
			         (int)wl, w, (int)gl, g);
		w += wl + (w[wl] == '\n');
		g += gl + (g[gl] == '\n');
		lineno++;
	}
	free(want.p);
	free(got.p);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compares every expected file of one layer (real or not); returns how
 * many. For the real layer, dir is the real feeds' folder, which exists. */
static int
compare_layer(int real, const char *dir)
{
	DIR *d = opendir(EXPECTED);
	struct dirent *de;
	char *names[256];
	size_t n = 0, i;
	int done = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < 256) {
		size_t len = strlen(de->d_name);

		if (len > 4 && strcmp(de->d_name + len - 4, ".txt") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n; i++) {
		char path[4600], feed[4600];
		header h;

		snprintf(path, sizeof(path), "%s%s", EXPECTED, names[i]);
		read_header(&h, path);
		if (h.real == real) {
			snprintf(feed, sizeof(feed), "%s/%s", dir, h.name);
			if (access(feed, R_OK) != 0)
				fail_msg("%s: its feed %s is not there", names[i], feed);
			compare(names[i], feed, &h);
			print_message("%-40s same as %s\n", names[i], feed);
			done++;
		}
		free(names[i]);
	}
	return done;
}

static void
test_specimens(void **state)
{
	(void)state;
	/* the RSS, Atom, Pinterest, TSV, semicolon, Meta and the three
	 * store exports */
	assert_true(compare_layer(0, PS_TEST_SPECIMENS) >= 9);
}

static void
test_real(void **state)
{
	char dir[4096];

	(void)state;
	ps_test_need_real(dir, sizeof(dir));
	assert_true(compare_layer(1, dir) >= 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_specimens),
	    cmocka_unit_test(test_real),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
