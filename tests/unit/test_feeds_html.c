/*
 * test_feeds_html.c: ps_feed__html_to_text() (feeds/html.c), the HTML to
 * text conversion of titles and descriptions, against the reference it
 * replaced (tests/unit/html_ref.h, one character at a time): the output
 * must be the same byte for byte, for any input, in place or not (issue
 * 15: "with the same output as today"). Compared on
 *   - the cases written out below, with their expected text;
 *   - strings made at random of HTML fragments (tags, entities good and
 *     bad, comments, script and style, blanks of every kind, UTF-8 with
 *     U+00A0, text runs around the scan's 16-byte steps), each whole, and
 *     some cut at every length from either end (tags and entities cut
 *     short);
 *   - every file of tests/fixtures/feeds and, when the shared folder is
 *     there, of its real feeds, as they stand and with the XML escapes of
 *     markup undone (&lt;p&gt; is <p> once parsed).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "feeds_int.h" /* ps_feed__html_to_text() */
#include "feeds_test.h"
#include "html_ref.h"

/* Both conversions of in[0..n), the new one out of place and in place;
 * fails naming the input when they differ. */
static void
same(const char *in, size_t n)
{
	char *want = malloc(n + 1), *got = malloc(n + 1), *inplace = malloc(n + 1);
	size_t wn, gn, pn;

	assert_non_null(want);
	assert_non_null(got);
	assert_non_null(inplace);
	wn = ref_html_to_text(want, in, n);
	gn = ps_feed__html_to_text(got, in, n);
	memcpy(inplace, in, n);
	pn = ps_feed__html_to_text(inplace, inplace, n);
	if (gn != wn || memcmp(got, want, wn) != 0 || pn != wn || memcmp(inplace, want, wn) != 0) {
		size_t k;

		print_error("html_to_text differs from the reference on %zu bytes:\n\"", n);
		for (k = 0; k < n && k < 400; k++) {
			unsigned char c = (unsigned char)in[k];

			if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
				print_error("%c", c);
			else
				print_error("\\x%02X", c);
		}
		print_error("\"\nreference %zu bytes, new %zu, in place %zu\n", wn, gn, pn);
		fail();
	}
	free(want);
	free(got);
	free(inplace);
}

static void
same_str(const char *in)
{
	same(in, strlen(in));
}

static void
expect(const char *in, const char *want)
{
	char out[1024];
	size_t n = strlen(in), k;

	assert_true(n < sizeof(out));
	k = ps_feed__html_to_text(out, in, n);
	out[k] = '\0';
	assert_string_equal(out, want);
	k = ref_html_to_text(out, in, n);
	out[k] = '\0';
	assert_string_equal(out, want);
	same_str(in);
}

/* What the conversion does, written out. */
static void
test_cases(void **state)
{
	(void)state;
	expect("", "");
	expect("plain text, nothing to do", "plain text, nothing to do");
	expect("  a  b\t\tc \r\n d  ", "a b c d");
	expect("<p>One</p><p>Two</p>", "One\n\nTwo");
	expect("a<br>b<br/>c<BR />d", "a\nb\nc\nd");
	expect("a<br><br><br><br>b", "a\n\nb");
	expect("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo");
	expect("<h2>Title</h2>text<h1x>x</h1x><p2>y", "Title\n\ntextx\n\ny");
	expect("Tom &amp; Jerry&#8217;s &#x2019;x&#X2019;", "Tom & Jerry\xE2\x80\x99s \xE2\x80\x99x"
	                                                    "\xE2\x80\x99");
	expect("a&nbsp;b&#160;c&#xA0;d\xC2\xA0"
	       "e",
	       "a b c d\xC2\xA0"
	       "e");
	expect("a &nbsp; &nbsp; b", "a b");
	expect("&bogus; &amp &#; &#x; &#12a; &", "&bogus; &amp &#; &#x; &#12a; &");
	expect("&#0;&#xD800;&#1114112;", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	expect("a&shy;b&zwj;c &zwnj; d", "abc d");
	expect("&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>");
	expect("a < b, <3 and x<", "a < b, <3 and x<");
	expect("x<script>if (a<b) y();</script>z<style>p{}</style>w", "xzw");
	expect("x<script type=\"a>b\">s</SCRIPT >z", "xz");
	expect("x<script>never closed", "x");
	expect("x<script>y</script", "x</script");
	expect("a<!-- c -->b<!-- open", "ab");
	expect("<a href=\"/x?a>b\">link</a> <b>bold</b>", "link bold");
	expect("<a href='x", "<a href='x");
	expect("<p>  \n  <br>  </p>  text", "text");
	expect("text<p>", "text");
	expect("a&#10;b&#9;c&#13;d", "a b c d");
	expect("a\fb\vc", "a b c");
	expect("<![CDATA[<p>x</p>]]>", "<![CDATA[\n\nx\n\n]]>");
}

/* ------------------------------------------------------------------ */
/* Random strings of fragments                                         */

#define F(s)                     \
	{                        \
		s, sizeof(s) - 1 \
	}
static const struct {
	const char *p;
	size_t n;
} fragments[] = {
    F("<p>"),
    F("</p>"),
    F("<br/>"),
    F("<br>"),
    F("<BR />"),
    F("<ul><li>"),
    F("</li>"),
    F("</ul>"),
    F("<ol>"),
    F("<h2>"),
    F("</H3>"),
    F("<h1x>"),
    F("<h7>"),
    F("<p2>"),
    F("<pre>"),
    F("<hr/>"),
    F("<blockquote>"),
    F("<tr><td>"),
    F("<div class=\"x\">"),
    F("</div>"),
    F("<section>"),
    F("<a href=\"/x?a>b\">"),
    F("<a href='y>'>"),
    F("</a>"),
    F("<b>"),
    F("</b>"),
    F("<span>"),
    F("<img src=\"i.jpg\"/>"),
    F("<!DOCTYPE html>"),
    F("<?xml?>"),
    F("<![CDATA["),
    F("]]>"),
    F("&amp;"),
    F("&nbsp;"),
    F("&#8217;"),
    F("&#x2019;"),
    F("&#X2019;"),
    F("&#160;"),
    F("&#xA0;"),
    F("&#10;"),
    F("&#9;"),
    F("&#32;"),
    F("&#0;"),
    F("&#xD800;"),
    F("&#1114112;"),
    F("&#99999999999;"),
    F("&bogus;"),
    F("&shy;"),
    F("&zwj;"),
    F("&quot;"),
    F("&Prime;"),
    F("&eacute;"),
    F("&frac12;"),
    F("&lt;b&gt;"),
    F("&lt;p&gt;"),
    F("&amp"),
    F("&#"),
    F("&#x;"),
    F("&;"),
    F("&abcdefghij;"),
    F("<script>x</script>"),
    F("<script>if (a<b) y();</script>"),
    F("<SCRIPT type=\"a>b\">"),
    F("</script>"),
    F("<style>"),
    F("p{color:red}"),
    F("</style>"),
    F("<!-- c -->"),
    F("<!--"),
    F("-->"),
    F("<"),
    F(">"),
    F("&"),
    F("/"),
    F("\""),
    F("'"),
    F("!"),
    F("<3"),
    F("a < b"),
    F(" "),
    F(" "),
    F(" "),
    F("  "),
    F("\t"),
    F("\n"),
    F("\r\n"),
    F("\r"),
    F("\f"),
    F("\v"),
    F("\xC2\xA0"),
    F("\xC3\xA9"),
    F("\xE2\x80\x99"),
    F("\xF0\x9F\x98\x80"),
    F("\xC2"),
    F("\x00"),
    F("\x01"),
    F("\x7F"),
    F("\xFF"),
    F("word"),
    F("x"),
    F("Ab"),
    F("Lorem ipsum dolor sit amet, consectetur"),
    F("a b c d e f g h i j k l m n o p q"),
    F("0123456789abcdef0123456789"),
    F("Merino wool, 100% (machine-washable)"),
    F("<p>Soft cotton tee.</p>"),
    F("<ul><li>Size S</li><li>Size M</li></ul>"),
};
#undef F

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A random string of up to max fragments into buf; returns its length. */
static size_t
random_html(char *buf, size_t cap, size_t max)
{
	size_t n = 0, k, count = 1 + next() % max;
	const size_t nf = sizeof(fragments) / sizeof(fragments[0]);

	for (k = 0; k < count; k++) {
		size_t f = next() % nf;

		if (n + fragments[f].n > cap)
			break;
		memcpy(buf + n, fragments[f].p, fragments[f].n);
		n += fragments[f].n;
	}
	return n;
}

static void
test_random_fragments(void **state)
{
	char buf[4096];
	size_t r;

	(void)state;
	for (r = 0; r < 100000; r++) {
		size_t n = random_html(buf, sizeof(buf), r % 3 == 0 ? 8 : 60);

		same(buf, n);
	}
}

/* Some cut at every length, from the end (tags, entities and comments cut
 * short) and from the start (beginning inside them). */
static void
test_random_fragments_cut(void **state)
{
	char buf[1024];
	size_t r, k;

	(void)state;
	for (r = 0; r < 2000; r++) {
		size_t n = random_html(buf, sizeof(buf), 30);

		for (k = 0; k <= n; k++) {
			same(buf, k);
			same(buf + k, n - k);
		}
	}
}

/* Each kind of byte the run scan stops at, at every offset from its 16-byte
 * steps, alone, doubled and before a stop. */
static void
test_run_stops_at_every_offset(void **state)
{
	static const char *const marks[] = {" ",  "  ",    "\t",  "\n",  "\r", "\f",
	                                    "\v", "&amp;", "<p>", " <",  "< ", " &",
	                                    "& ", "&x",    "<b",  " \t", "\t "};
	char buf[128];
	size_t m, k, len;

	(void)state;
	for (m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
		for (len = 1; len < 70; len++) {
			for (k = 0; k + strlen(marks[m]) <= len; k++) {
				memset(buf, 'x', len);
				memcpy(buf + k, marks[m], strlen(marks[m]));
				same(buf, len);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

/* &lt; &gt; &amp; &quot; &apos; undone in place: what a description in an
 * XML feed is once parsed. Returns the new length. */
static size_t
xml_unescape(char *p, size_t n)
{
	static const struct {
		const char *esc;
		char c;
	} esc[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
	size_t i = 0, o = 0, e;

	while (i < n) {
		for (e = 0; e < sizeof(esc) / sizeof(esc[0]); e++) {
			size_t l = strlen(esc[e].esc);

			if (n - i >= l && memcmp(p + i, esc[e].esc, l) == 0) {
				p[o++] = esc[e].c;
				i += l;
				break;
			}
		}
		if (e == sizeof(esc) / sizeof(esc[0]))
			p[o++] = p[i++];
	}
	return o;
}

/* Every regular file under dir (recursively): whole, unescaped whole, and
 * when windows, in 300-byte windows every 101 bytes. Returns the files. */
static int
same_files(const char *dir, int windows)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;
		FILE *fp;
		char *data;
		size_t n, k;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			files += same_files(path, windows);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		fp = fopen(path, "rb");
		assert_non_null(fp);
		data = malloc((size_t)st.st_size + 1);
		assert_non_null(data);
		n = fread(data, 1, (size_t)st.st_size, fp);
		fclose(fp);
		same(data, n);
		if (windows) {
			for (k = 0; k < n; k += 101)
				same(data + k, n - k < 300 ? n - k : 300);
		}
		n = xml_unescape(data, n);
		same(data, n);
		if (windows) {
			for (k = 0; k < n; k += 101)
				same(data + k, n - k < 300 ? n - k : 300);
		}
		free(data);
		files++;
	}
	closedir(d);
	return files;
}

static void
test_fixture_files(void **state)
{
	(void)state;
	assert_true(same_files(PINSYNC_SOURCE_DIR "/tests/fixtures/feeds", 1) > 10);
}

static void
test_real_feeds(void **state)
{
	char dir[1024];

	(void)state;
	ps_test_need_real(dir, sizeof(dir));
	assert_true(same_files(dir, 0) > 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_random_fragments),
	    cmocka_unit_test(test_random_fragments_cut),
	    cmocka_unit_test(test_run_stops_at_every_offset),
	    cmocka_unit_test(test_fixture_files),
	    cmocka_unit_test(test_real_feeds),
	};

	return cmocka_run_group_tests_name("feeds_html", tests, NULL, NULL);
}
