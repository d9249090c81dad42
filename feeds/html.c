/*
 * html.c: HTML to plain text, for descriptions.
 *
 * Pinterest shows descriptions as plain text, and store exports (Shopify's
 * Body (HTML), Magento's description, many CSV feeds) carry HTML. So tags
 * are dropped, block tags (<p>, <br>, <li>, <div>, <h1>..<h6>, <tr>, ...)
 * become line breaks, <script> and <style> go with their content, comments
 * go, and entities are decoded: the common named ones, &#NNN; and &#xHH;
 * (a code point that is not a valid Unicode scalar becomes U+FFFD). What
 * only looks like a tag ("a < b", "<3") is kept as text. Runs of blanks
 * become one space, three or more line breaks two.
 *
 * The output is never longer than the input (an entity is never shorter
 * than the UTF-8 it decodes to), so the conversion may run in place.
 */
#include "feeds_int.h"

#include <strings.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const struct entity {
	const char *name;
	const char *utf8;
} entities[] = {
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

static const char *const block_tags[] = {
    "p",       "br",     "div",    "li", "ul", "ol", "tr",         "table",
    "h1",      "h2",     "h3",     "h4", "h5", "h6", "blockquote", "section",
    "article", "header", "footer", "dd", "dt", "dl", "hr",         "pre",
};

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static size_t
put_utf8(char *o, unsigned long cp)
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
entity(const char *in, size_t n, size_t i, char tmp[4], size_t *used)
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
		return (int)put_utf8(tmp, cp);
	}
	for (k = j; k < n && k - j < 8 &&
	            (is_alpha((unsigned char)in[k]) || (k > j && in[k] >= '0' && in[k] <= '9'));
	     k++)
		;
	if (k == j || k >= n || in[k] != ';')
		return -1;
	for (size_t e = 0; e < sizeof(entities) / sizeof(entities[0]); e++) {
		size_t len = strlen(entities[e].name);

		if (len == k - j && memcmp(entities[e].name, in + j, len) == 0) {
			size_t u = strlen(entities[e].utf8);

			memcpy(tmp, entities[e].utf8, u);
			*used = k + 1 - i;
			return (int)u;
		}
	}
	return -1;
}

/* Is the tag starting at in[i] ('<') one of those named? Sets *name_len. */
static int
tag_is(const char *in, size_t n, size_t i, const char *name)
{
	size_t j = i + 1, len = strlen(name);

	if (j < n && in[j] == '/')
		j++;
	if (j + len > n || strncasecmp(in + j, name, len) != 0)
		return 0;
	j += len;
	return j >= n || !is_alpha((unsigned char)in[j]) ? 1 : 0;
}

static int
is_block(const char *in, size_t n, size_t i)
{
	size_t t;

	for (t = 0; t < sizeof(block_tags) / sizeof(block_tags[0]); t++) {
		if (tag_is(in, n, i, block_tags[t]))
			return 1;
	}
	return 0;
}

/* Where the tag or comment at in[i] ends (index after '>'), or 0 when the
 * '<' does not open one. */
static size_t
tag_end(const char *in, size_t n, size_t i)
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
	if (!(is_alpha((unsigned char)in[j]) || in[j] == '/' || in[j] == '!'))
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

size_t
ps_feed__find2(const char *p, size_t i, size_t n, char c1, char c2)
{
#if defined(__SSE2__)
	const __m128i v1 = _mm_set1_epi8(c1), v2 = _mm_set1_epi8(c2);

	/* 64 bytes a step while nothing matches: descriptions are long and
	 * mostly plain text. */
	while (n - i >= 64) {
		const __m128i *q = (const __m128i *)(const void *)(p + i);
		__m128i a = _mm_loadu_si128(q), b = _mm_loadu_si128(q + 1);
		__m128i c = _mm_loadu_si128(q + 2), d = _mm_loadu_si128(q + 3);
		__m128i m = _mm_or_si128(
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, v1), _mm_cmpeq_epi8(a, v2)),
		                 _mm_or_si128(_mm_cmpeq_epi8(b, v1), _mm_cmpeq_epi8(b, v2))),
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(c, v1), _mm_cmpeq_epi8(c, v2)),
		                 _mm_or_si128(_mm_cmpeq_epi8(d, v1), _mm_cmpeq_epi8(d, v2))));

		if (_mm_movemask_epi8(m) != 0)
			break; /* the 16-byte loop finds which byte */
		i += 64;
	}
	while (n - i >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		int mask =
		    _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, v1), _mm_cmpeq_epi8(x, v2)));

		if (mask != 0)
			return i + (size_t)__builtin_ctz((unsigned)mask);
		i += 16;
	}
#endif
	while (i < n && p[i] != c1 && p[i] != c2)
		i++;
	return i;
}

int
ps_feed__looks_html(const char *p, size_t n)
{
	size_t i;

	for (i = ps_feed__find2(p, 0, n, '<', '&'); i < n;
	     i = ps_feed__find2(p, i + 1, n, '<', '&')) {
		char tmp[4];
		size_t used;

		if (p[i] == '<' ? tag_end(p, n, i) > 0 : entity(p, n, i, tmp, &used) >= 0)
			return 1;
	}
	return 0;
}

size_t
ps_feed__html_to_text(char *out, const char *in, size_t n)
{
	size_t i = 0, o = 0;
	int nl = 0, sp = 0; /* pending line breaks, pending space */

	while (i < n) {
		unsigned char c = (unsigned char)in[i];
		const char *piece = NULL;
		char tmp[4];
		size_t plen = 0;

		if (c == '<') {
			size_t e = tag_end(in, n, i);

			if (e > 0) {
				int skip =
				    (tag_is(in, n, i, "script") || tag_is(in, n, i, "style")) &&
				    in[i + 1] != '/';

				if (is_block(in, n, i) && o > 0)
					nl = nl < 2 ? nl + (tag_is(in, n, i, "br") ? 1 : 2) : nl;
				i = e;
				if (skip) {
					/* to the matching end tag */
					while (i < n &&
					       !(in[i] == '<' && i + 1 < n && in[i + 1] == '/' &&
					         (tag_is(in, n, i, "script") ||
					          tag_is(in, n, i, "style"))))
						i++;
					if (i < n && (e = tag_end(in, n, i)) > 0)
						i = e;
				}
				continue;
			}
		}
		if (c == '&') {
			size_t used;
			int k = entity(in, n, i, tmp, &used);

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
		if (plen == 1 && ps_is_space((unsigned char)piece[0])) {
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
