/*
 * test_feeds_expected.c: the normalised output of real feeds against
 * expected files written by hand (the .txt files of
 * tests/fixtures/feeds/expected/).
 *
 * Each expected file starts with "# source: NAME" (a file of
 * shared/feeds/real/) and holds, for the first items of that feed, a
 * "# item N (line L)" or "# line L" line and then "attribute=value" lines
 * in the table order of attrs.h: a LIST value one line per element, a line
 * break in a value written \n. Lines starting "# " other than the item
 * headers are comments. The test renders the same items the same way and
 * compares line by line, naming the first difference. Without the real
 * feeds the test is skipped.
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

#ifndef PINSYNC_SOURCE_DIR
#define PINSYNC_SOURCE_DIR "."
#endif
#define EXPECTED PINSYNC_SOURCE_DIR "/tests/fixtures/feeds/expected/"

static char real_dir[4096];

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

static void
compare(const char *expected_name)
{
	char path[4600], line[16384], source[256] = "";
	text want = {0}, got = {0};
	int nitems = 0, xml;
	FILE *fp;
	ps_feed *f = NULL;
	ps_item *it;
	const char *w, *g;
	unsigned lineno = 1;

	snprintf(path, sizeof(path), "%s%s", EXPECTED, expected_name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, "# source: ", 10) == 0) {
			snprintf(source, sizeof(source), "%.200s", line + 10);
			source[strcspn(source, "\n")] = '\0';
			continue;
		}
		if (strncmp(line, "# item ", 7) == 0 || strncmp(line, "# line ", 7) == 0)
			nitems++;
		else if (line[0] == '#')
			continue;
		puts_(&want, line);
	}
	fclose(fp);
	assert_true(source[0] != '\0');
	snprintf(path, sizeof(path), "%s/%s", real_dir, source);
	if (access(path, R_OK) != 0) {
		print_message("skipped: %s not found\n", path);
		free(want.p);
		skip();
	}
	assert_int_equal(ps_feed_open(&f, path, NULL), 0);
	xml = ps_feed_detected_format(f) == PS_FORMAT_XML;
	while (nitems-- > 0) {
		assert_int_equal(ps_feed_next(&it, f), 0);
		render(&got, it, xml);
	}
	ps_feed_free(f);

	/* the first differing line, for a readable failure */
	w = want.p;
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

static void
test_rss(void **state)
{
	(void)state;
	compare("gmc-rss-freshlock-ja.xml.txt");
}

static void
test_atom(void **state)
{
	(void)state;
	compare("gmc-atom-bigcommerce-ajmoss.xml.txt");
}

static void
test_csv(void **state)
{
	(void)state;
	compare("pinterest-catalog-dragonink.csv.txt");
}

static int
setup(void **state)
{
	(void)state;
	ps_test_real_dir(real_dir, sizeof(real_dir));
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rss),
	    cmocka_unit_test(test_atom),
	    cmocka_unit_test(test_csv),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
