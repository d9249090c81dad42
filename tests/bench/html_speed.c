/*
 * html_speed.c: the speed of the HTML to text conversion (feeds/html.c,
 * ps_feed__html_to_text()) on descriptions as stores write them, against
 * the conversion it replaced (tests/unit/html_ref.h, one character at a
 * time) and against memcpy of the same bytes (issue 15: "HTML to text at
 * memory speed").
 *
 *   html_speed [MB] [ROUNDS] [before|after]
 *
 * Makes MB megabytes (default 32) of descriptions, the same ones on every
 * run: 0.2 to 5 KB each, most with markup (<p>, <br>, <ul><li>, <strong>,
 * links, now and then a comment, a <style> or <script>, escaped markup),
 * entities (&amp;, &nbsp;, &#8217;, &#x2019;, &eacute;, ...), non-ASCII
 * text (German, French, Japanese, U+00A0); one in ten plain. Converts them
 * all, in place as normalise.c does, ROUNDS times (default 5) with each
 * conversion and prints the best round's input MB/s; checks that both give
 * the same bytes (exit 1 when not). With "before" or "after", times
 * that conversion alone (for a profiler). Built with -DPINSYNC_BENCH=ON (target
 * html_speed, in the benchmark's tools folder).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/html_ref.h"
#include "feeds_int.h" /* ps_feed__html_to_text() */

static uint64_t rng = 0x2545F4914F6CDD1Du;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const words[] = {
    "soft",
    "cotton",
    "merino",
    "wool",
    "jacket",
    "waterproof",
    "breathable",
    "the",
    "and",
    "with",
    "for",
    "a",
    "of",
    "machine",
    "washable",
    "size",
    "fits",
    "true",
    "to",
    "regular",
    "fit",
    "organic",
    "recycled",
    "polyester",
    "zip",
    "pocket",
    "hood",
    "adjustable",
    "cuffs",
    "Gr\xC3\xB6\xC3\x9F"
    "e",
    "Qualit\xC3\xA4t",
    "f\xC3\xBCr",
    "leg\xC3\xA8re",
    "\xC3\xA9t\xC3\xA9",
    "na\xC3\xAFve",
    "\xE6\x9D\xB1\xE4\xBA\xAC",
    "\xE3\x82\xB7\xE3\x83\xA3\xE3\x83\x84",
    "100%",
    "(S-XL)",
    "30\xC2\xA0"
    "cm",
    "\xE2\x80\x94",
};

static const char *const entities[] = {"&amp;",    "&nbsp;", "&#8217;", "&#x2019;",
                                       "&eacute;", "&quot;", "&ndash;", "&hellip;"};

/* Appends s to buf at *n when it fits under cap. */
static void
put(char *buf, size_t *n, size_t cap, const char *s)
{
	size_t l = strlen(s);

	if (*n + l <= cap) {
		memcpy(buf + *n, s, l);
		*n += l;
	}
}

/* A sentence of 6 to 20 words, now and then an entity or inline tag. */
static void
sentence(char *buf, size_t *n, size_t cap)
{
	size_t w, count = 6 + next() % 15;

	for (w = 0; w < count; w++) {
		uint64_t r = next();

		if (w > 0)
			put(buf, n, cap, r % 50 == 0 ? " &nbsp;" : " ");
		if (r % 23 == 0)
			put(buf, n, cap,
			    entities[(r >> 8) % (sizeof(entities) / sizeof(entities[0]))]);
		else if (r % 31 == 0)
			put(buf, n, cap, "<strong>");
		else if (r % 37 == 0)
			put(buf, n, cap, "<a href=\"https://shop.example/p/1?ref=feed&amp;x=2\">");
		put(buf, n, cap, words[(r >> 16) % (sizeof(words) / sizeof(words[0]))]);
		if (r % 31 == 0)
			put(buf, n, cap, "</strong>");
		else if (r % 37 == 0)
			put(buf, n, cap, "</a>");
	}
	put(buf, n, cap, next() % 4 == 0 ? ".\n" : ". ");
}

/* One description of about len bytes into buf (cap >= len + 512). */
static size_t
description(char *buf, size_t cap, size_t len)
{
	size_t n = 0;
	int plain = next() % 10 == 0;

	while (n < len) {
		uint64_t r = next();

		if (plain) {
			sentence(buf, &n, cap);
			continue;
		}
		switch (r % 12) {
		case 0:
			put(buf, &n, cap, "<ul>\n");
			for (int k = 0; k < 2 + (int)(r % 5); k++) {
				put(buf, &n, cap, "  <li>");
				sentence(buf, &n, cap);
				put(buf, &n, cap, "</li>\n");
			}
			put(buf, &n, cap, "</ul>\n");
			break;
		case 1:
			sentence(buf, &n, cap);
			put(buf, &n, cap, "<br>");
			sentence(buf, &n, cap);
			put(buf, &n, cap, "<br />\n");
			break;
		case 2:
			put(buf, &n, cap, "<h3>");
			sentence(buf, &n, cap);
			put(buf, &n, cap, "</h3>");
			break;
		case 3:
			if (r % 7 == 0)
				put(buf, &n, cap, "<style>.d p{margin:0 0 1em}</style>");
			else if (r % 7 == 1)
				put(buf, &n, cap,
				    "<script>window.dl=window.dl||[];dl.push({a:1<2})</script>");
			else if (r % 7 == 2)
				put(buf, &n, cap, "<!-- imported from ERP -->");
			else
				put(buf, &n, cap, "&lt;b&gt;New&lt;/b&gt; ");
			break;
		default:
			put(buf, &n, cap, "<p>");
			for (int k = 0; k < 1 + (int)(r % 4); k++)
				sentence(buf, &n, cap);
			put(buf, &n, cap, "</p>\n");
			break;
		}
	}
	return n;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum { REF, NEW, COPY };

/* One round: every description copied to work and converted there (as
 * normalise.c does), or only copied. Returns the seconds; *out_bytes gets
 * the bytes written. */
static double
round_of(int how, const char *corpus, const size_t *off, size_t count, char *work,
         size_t *out_bytes)
{
	double t0 = now();
	size_t d, total = 0;

	for (d = 0; d < count; d++) {
		size_t len = off[d + 1] - off[d];

		memcpy(work, corpus + off[d], len);
		if (how == REF)
			total += ref_html_to_text(work, work, len);
		else if (how == NEW)
			total += ps_feed__html_to_text(work, work, len);
		else
			total += len;
	}
	*out_bytes = total;
	return now() - t0;
}

int
main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 32;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	const char *only = argc > 3 ? argv[3] : "";
	size_t cap = mb * 1024 * 1024, n = 0, count = 0, maxlen = 0, d;
	size_t *off = malloc((cap / 200 + 2) * sizeof(*off));
	char *corpus = malloc(cap + 8192), *work = malloc(8192), *a = malloc(8192),
	     *b = malloc(8192);
	static const char *const names[] = {"before (reference, one character at a time)",
	                                    "after (single pass, SSE2 runs)",
	                                    "memcpy of the same bytes"};
	double best[3] = {0, 0, 0};
	size_t out[3] = {0, 0, 0};

	if (off == NULL || corpus == NULL || work == NULL || a == NULL || b == NULL || mb == 0 ||
	    rounds < 1)
		return 2;
	while (n < cap) {
		size_t len = 200 + next() % 4800;

		off[count++] = n;
		n += description(corpus + n, 8192, len > 7000 ? 7000 : len);
		if (n - off[count - 1] > maxlen)
			maxlen = n - off[count - 1];
	}
	off[count] = n;
	/* the same bytes, description by description */
	for (d = 0; d < count; d++) {
		size_t len = off[d + 1] - off[d];
		size_t an = ref_html_to_text(a, corpus + off[d], len);
		size_t bn = ps_feed__html_to_text(b, corpus + off[d], len);

		if (an != bn || memcmp(a, b, an) != 0) {
			fprintf(stderr, "html_speed: description %zu differs\n", d);
			return 1;
		}
	}
	printf("%zu descriptions, %.1f MB, %zu bytes on average, at most %zu\n", count,
	       (double)n / 1e6, n / count, maxlen);
	for (int r = 0; r < rounds; r++) {
		for (int how = REF; how <= COPY; how++) {
			if ((strcmp(only, "before") == 0 && how != REF) ||
			    (strcmp(only, "after") == 0 && how != NEW))
				continue;
			double s = round_of(how, corpus, off, count, work, &out[how]);

			if (r == 0 || s < best[how])
				best[how] = s;
		}
	}
	for (int how = REF; how <= COPY; how++)
		if (best[how] > 0)
			printf("%-44s %8.1f MB/s  (%.3f s, %.1f MB out)\n", names[how],
			       (double)n / 1e6 / best[how], best[how], (double)out[how] / 1e6);
	if (best[REF] > 0 && best[NEW] > 0)
		printf("after / before: %.1fx\n", best[REF] / best[NEW]);
	free(off);
	free(corpus);
	free(work);
	free(a);
	free(b);
	return 0;
}
