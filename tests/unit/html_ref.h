/*
 * html_ref.h: the reference for ps_feed__html_to_text(), the conversion as
 * it was before the single-pass rewrite (feeds/html.c at 7e037b6, one
 * character at a time), kept verbatim but for the ref_ prefix. The
 * differential tests (tests/unit/test_feeds_html.c, tests/fuzz/
 * fuzz_normalise.c) hold the rewrite to its output byte for byte, and
 * tests/bench/html_speed.c measures it as the "before". Every function is
 * static: each program that includes this has its own copy, and the
 * reference is never linked into pinsync.
 */
#ifndef PS_TESTS_HTML_REF_H
#define PS_TESTS_HTML_REF_H

#include <stddef.h>
#include <string.h>
#include <strings.h>

static int
ref_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static const struct ref_entity_def {
	const char *name;
	const char *utf8;
} ref_entities[] = {
    {"amp", "&"},
    {"lt", "<"},
    {"gt", ">"},
    {"quot", "\""},
    {"apos", "'"},
    {"nbsp", " "},
    {"ndash", "\xE2\x80\x93"},
    {"mdash", "\xE2\x80\x94"},
    {"lsquo", "\xE2\x80\x98"},
    {"rsquo", "\xE2\x80\x99"},
    {"ldquo", "\xE2\x80\x9C"},
    {"rdquo", "\xE2\x80\x9D"},
    {"bull", "\xE2\x80\xA2"},
    {"hellip", "\xE2\x80\xA6"},
    {"copy", "\xC2\xA9"},
    {"reg", "\xC2\xAE"},
    {"trade", "\xE2\x84\xA2"},
    {"deg", "\xC2\xB0"},
    {"euro", "\xE2\x82\xAC"},
    {"pound", "\xC2\xA3"},
    {"yen", "\xC2\xA5"},
    {"cent", "\xC2\xA2"},
    {"times", "\xC3\x97"},
    {"frac12", "\xC2\xBD"},
    {"frac14", "\xC2\xBC"},
    {"frac34", "\xC2\xBE"},
    {"middot", "\xC2\xB7"},
    {"laquo", "\xC2\xAB"},
    {"raquo", "\xC2\xBB"},
    {"eacute", "\xC3\xA9"},
    {"egrave", "\xC3\xA8"},
    {"agrave", "\xC3\xA0"},
    {"aacute", "\xC3\xA1"},
    {"ccedil", "\xC3\xA7"},
    {"uuml", "\xC3\xBC"},
    {"ouml", "\xC3\xB6"},
    {"auml", "\xC3\xA4"},
    {"Uuml", "\xC3\x9C"},
    {"Ouml", "\xC3\x96"},
    {"Auml", "\xC3\x84"},
    {"szlig", "\xC3\x9F"},
    {"oacute", "\xC3\xB3"},
    {"iacute", "\xC3\xAD"},
    {"uacute", "\xC3\xBA"},
    {"ntilde", "\xC3\xB1"},
    {"shy", ""},
    {"zwj", ""},
    {"zwnj", ""},
    {"prime", "\xE2\x80\xB2"},
    {"Prime", "\xE2\x80\xB3"},
};

static const char *const ref_block_tags[] = {
    "p",       "br",     "div",    "li", "ul", "ol", "tr",         "table",
    "h1",      "h2",     "h3",     "h4", "h5", "h6", "blockquote", "section",
    "article", "header", "footer", "dd", "dt", "dl", "hr",         "pre",
};

static int
ref_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static size_t
ref_put_utf8(char *o, unsigned long cp)
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decodes the entity at in[i] ('&'): writes its UTF-8 to tmp (4 bytes at
 * most), sets *used to the bytes it spans and returns the UTF-8 length, or
 * -1 when it is not an entity (the '&' stays as text).
 */
static int
ref_entity(const char *in, size_t n, size_t i, char tmp[4], size_t *used)
{
	size_t j = i + 1, k;

	if (j < n && in[j] == '#') {
		unsigned long cp = 0;
		int hex = 0, digits = 0;

		j++;
		if (j < n && (in[j] == 'x' || in[j] == 'X')) {
			hex = 1;
			j++;
		}
		for (; j < n && digits < 8; j++, digits++) {
			unsigned char c = (unsigned char)in[j];
			int d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (hex && c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (hex && c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				break;
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
		}
		if (digits == 0 || j >= n || in[j] != ';')
			return -1;
		*used = j + 1 - i;
		return (int)ref_put_utf8(tmp, cp);
	}
	for (k = j; k < n && k - j < 8 &&
	            (ref_is_alpha((unsigned char)in[k]) || (k > j && in[k] >= '0' && in[k] <= '9'));
	     k++)
		;
	if (k == j || k >= n || in[k] != ';')
		return -1;
	for (size_t e = 0; e < sizeof(ref_entities) / sizeof(ref_entities[0]); e++) {
		size_t len = strlen(ref_entities[e].name);

		if (len == k - j && memcmp(ref_entities[e].name, in + j, len) == 0) {
			size_t u = strlen(ref_entities[e].utf8);

			memcpy(tmp, ref_entities[e].utf8, u);
			*used = k + 1 - i;
			return (int)u;
		}
	}
	return -1;
}

/* Is the tag starting at in[i] ('<') one of those named? Sets *name_len. */
static int
ref_tag_is(const char *in, size_t n, size_t i, const char *name)
{
	size_t j = i + 1, len = strlen(name);

	if (j < n && in[j] == '/')
		j++;
	if (j + len > n || strncasecmp(in + j, name, len) != 0)
		return 0;
	j += len;
	return j >= n || !ref_is_alpha((unsigned char)in[j]) ? 1 : 0;
}

static int
ref_is_block(const char *in, size_t n, size_t i)
{
	size_t t;

	for (t = 0; t < sizeof(ref_block_tags) / sizeof(ref_block_tags[0]); t++) {
		if (ref_tag_is(in, n, i, ref_block_tags[t]))
			return 1;
	}
	return 0;
}

/* Where the tag or comment at in[i] ends (index after '>'), or 0 when the
 * '<' does not open one. */
static size_t
ref_tag_end(const char *in, size_t n, size_t i)
{
	size_t j = i + 1;
	char q = 0;

	if (j >= n)
		return 0;
	if (n - j >= 3 && memcmp(in + j, "!--", 3) == 0) {
		for (j += 3; j + 2 < n; j++) {
			if (memcmp(in + j, "-->", 3) == 0)
				return j + 3;
		}
		return n; /* an open comment runs to the end */
	}
	if (!(ref_is_alpha((unsigned char)in[j]) || in[j] == '/' || in[j] == '!'))
		return 0;
	for (; j < n; j++) {
		if (q) {
			if (in[j] == q)
				q = 0;
		} else if (in[j] == '"' || in[j] == '\'') {
			q = in[j];
		} else if (in[j] == '>') {
			return j + 1;
		} else if (in[j] == '<') {
			return 0;
		}
	}
	return 0;
}

static size_t
ref_html_to_text(char *out, const char *in, size_t n)
{
	size_t i = 0, o = 0;
	int nl = 0, sp = 0; /* pending line breaks, pending space */

	while (i < n) {
		unsigned char c = (unsigned char)in[i];
		const char *piece = NULL;
		char tmp[4];
		size_t plen = 0;

		if (c == '<') {
			size_t e = ref_tag_end(in, n, i);

			if (e > 0) {
				int skip = (ref_tag_is(in, n, i, "script") ||
				            ref_tag_is(in, n, i, "style")) &&
				           in[i + 1] != '/';

				if (ref_is_block(in, n, i) && o > 0)
					nl =
					    nl < 2 ? nl + (ref_tag_is(in, n, i, "br") ? 1 : 2) : nl;
				i = e;
				if (skip) {
					/* to the matching end tag */
					while (i < n &&
					       !(in[i] == '<' && i + 1 < n && in[i + 1] == '/' &&
					         (ref_tag_is(in, n, i, "script") ||
					          ref_tag_is(in, n, i, "style"))))
						i++;
					if (i < n && (e = ref_tag_end(in, n, i)) > 0)
						i = e;
				}
				continue;
			}
		}
		if (c == '&') {
			size_t used;
			int k = ref_entity(in, n, i, tmp, &used);

			if (k >= 0) {
				piece = tmp;
				plen = (size_t)k;
				i += used;
			}
		}
		if (piece == NULL) {
			piece = in + i;
			plen = 1;
			i++;
		}
		if (plen == 1 && (piece[0] == '\n' || piece[0] == '\r')) {
			/* source line breaks are layout, not text */
			sp = 1;
			continue;
		}
		if (plen == 1 && ref_is_space((unsigned char)piece[0])) {
			sp = 1;
			continue;
		}
		if (plen == 2 && (unsigned char)piece[0] == 0xC2 &&
		    (unsigned char)piece[1] == 0xA0) {
			sp = 1; /* &nbsp; */
			continue;
		}
		if (plen == 0)
			continue;
		if (nl > 0 && o > 0) {
			if (nl > 2)
				nl = 2;
			while (nl-- > 0)
				out[o++] = '\n';
			sp = 0;
		} else if (sp && o > 0 && out[o - 1] != '\n') {
			out[o++] = ' ';
		}
		nl = 0;
		sp = 0;
		memmove(out + o, piece, plen);
		o += plen;
	}
	return o;
}

#endif
