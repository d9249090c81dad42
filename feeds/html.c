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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Names zero-padded to 8 bytes, so that a look-up compares one 64-bit word
 * per name (see entity()); UTF-8 with its length. */
#define E(name, utf8)                        \
	{                                    \
		name, utf8, sizeof(utf8) - 1 \
	}
static const struct entity {
	char name[8];
	const char *utf8;
	size_t ulen;
} entities[] = {
    E("amp", "&"),
    E("lt", "<"),
    E("gt", ">"),
    E("quot", "\""),
    E("apos", "'"),
    E("nbsp", " "),
    E("ndash", "\xE2\x80\x93"),
    E("mdash", "\xE2\x80\x94"),
    E("lsquo", "\xE2\x80\x98"),
    E("rsquo", "\xE2\x80\x99"),
    E("ldquo", "\xE2\x80\x9C"),
    E("rdquo", "\xE2\x80\x9D"),
    E("bull", "\xE2\x80\xA2"),
    E("hellip", "\xE2\x80\xA6"),
    E("copy", "\xC2\xA9"),
    E("reg", "\xC2\xAE"),
    E("trade", "\xE2\x84\xA2"),
    E("deg", "\xC2\xB0"),
    E("euro", "\xE2\x82\xAC"),
    E("pound", "\xC2\xA3"),
    E("yen", "\xC2\xA5"),
    E("cent", "\xC2\xA2"),
    E("times", "\xC3\x97"),
    E("frac12", "\xC2\xBD"),
    E("frac14", "\xC2\xBC"),
    E("frac34", "\xC2\xBE"),
    E("middot", "\xC2\xB7"),
    E("laquo", "\xC2\xAB"),
    E("raquo", "\xC2\xBB"),
    E("eacute", "\xC3\xA9"),
    E("egrave", "\xC3\xA8"),
    E("agrave", "\xC3\xA0"),
    E("aacute", "\xC3\xA1"),
    E("ccedil", "\xC3\xA7"),
    E("uuml", "\xC3\xBC"),
    E("ouml", "\xC3\xB6"),
    E("auml", "\xC3\xA4"),
    E("Uuml", "\xC3\x9C"),
    E("Ouml", "\xC3\x96"),
    E("Auml", "\xC3\x84"),
    E("szlig", "\xC3\x9F"),
    E("oacute", "\xC3\xB3"),
    E("iacute", "\xC3\xAD"),
    E("uacute", "\xC3\xBA"),
    E("ntilde", "\xC3\xB1"),
    E("shy", ""),
    E("zwj", ""),
    E("zwnj", ""),
    E("prime", "\xE2\x80\xB2"),
    E("Prime", "\xE2\x80\xB3"),
};
#undef E

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
	char name[8];
	uint64_t key;

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
	/* the name (letters and digits, no NUL) zero-padded, as in the table */
	memset(name, 0, sizeof(name));
	for (size_t m = j; m < k; m++)
		name[m - j] = in[m];
	memcpy(&key, name, sizeof(key));
	for (size_t e = 0; e < sizeof(entities) / sizeof(entities[0]); e++) {
		uint64_t ek;

		if (entities[e].name[0] != name[0])
			continue;
		memcpy(&ek, entities[e].name, sizeof(ek));
		if (ek == key) {
			memcpy(tmp, entities[e].utf8, entities[e].ulen);
			*used = k + 1 - i;
			return (int)entities[e].ulen;
		}
	}
	return -1;
}

enum { TAG_BLOCK = 1, TAG_BR = 2, TAG_SKIP = 4 };

/*
 * What the tag at in[i] ('<', a tag per tag_end()) is: TAG_BLOCK for the
 * block tags (<p>, <br>, <div>, <li>, <ul>, <ol>, <tr>, <table>, <h1>..<h6>,
 * <blockquote>, <section>, <article>, <header>, <footer>, <dd>, <dt>, <dl>,
 * <hr>, <pre>, opening or closing), TAG_BR besides for <br>, TAG_SKIP for
 * <script> and <style>. The name is the letters after '<' or '</', in any
 * case, and what follows them is not a letter: "<br/>" and "<p2>" are <br>
 * and <p>, "<h1x>" is not <h1>. Read once, not compared name by name.
 */
/* A tag name of up to 8 letters as one 64-bit word, the first letter in the
 * lowest byte ("br" is 'b' | 'r' << 8), for a switch over names. */
#define W1(a) ((uint64_t)(a))
#define W2(a, b) (W1(a) | (uint64_t)(b) << 8)
#define W3(a, b, c) (W2(a, b) | (uint64_t)(c) << 16)
#define W5(a, b, c, d, e) (W3(a, b, c) | (uint64_t)(d) << 24 | (uint64_t)(e) << 32)
#define W6(a, b, c, d, e, f) (W5(a, b, c, d, e) | (uint64_t)(f) << 40)
#define W7(a, b, c, d, e, f, g) (W6(a, b, c, d, e, f) | (uint64_t)(g) << 48)
#define W8(a, b, c, d, e, f, g, h) (W7(a, b, c, d, e, f, g) | (uint64_t)(h) << 56)

static int
tag_kind(const char *in, size_t n, size_t i)
{
	size_t j = i + 1, len = 0;
	uint64_t w = 0;

	if (j < n && in[j] == '/')
		j++;
	/* the name, lowered, packed into w: its first 8 letters; longer names
	 * are only "blockquote" */
	for (; j + len < n && len < 8; len++) {
		unsigned char c = (unsigned char)in[j + len] | 0x20; /* lower, if a letter */

		if (c < 'a' || c > 'z')
			break;
		w |= (uint64_t)c << (8 * len);
	}
	while (j + len < n && is_alpha((unsigned char)in[j + len])) {
		if (len == 10)
			return 0; /* longer than any name */
		len++;
	}
	if (len > 8) {
		return len == 10 && w == W8('b', 'l', 'o', 'c', 'k', 'q', 'u', 'o') &&
		               ps_lower((unsigned char)in[j + 8]) == 't' &&
		               ps_lower((unsigned char)in[j + 9]) == 'e'
		           ? TAG_BLOCK
		           : 0;
	}
	switch (w) {
	case W1('h'):
		/* <h1>..<h6>: the one name with a digit */
		return j + 1 < n && in[j + 1] >= '1' && in[j + 1] <= '6' &&
		               (j + 2 >= n || !is_alpha((unsigned char)in[j + 2]))
		           ? TAG_BLOCK
		           : 0;
	case W2('b', 'r'): return TAG_BLOCK | TAG_BR;
	case W1('p'):
	case W2('l', 'i'):
	case W2('u', 'l'):
	case W2('o', 'l'):
	case W3('d', 'i', 'v'):
	case W2('t', 'r'):
	case W5('t', 'a', 'b', 'l', 'e'):
	case W7('s', 'e', 'c', 't', 'i', 'o', 'n'):
	case W7('a', 'r', 't', 'i', 'c', 'l', 'e'):
	case W6('h', 'e', 'a', 'd', 'e', 'r'):
	case W6('f', 'o', 'o', 't', 'e', 'r'):
	case W2('d', 'd'):
	case W2('d', 't'):
	case W2('d', 'l'):
	case W2('h', 'r'):
	case W3('p', 'r', 'e'): return TAG_BLOCK;
	case W6('s', 'c', 'r', 'i', 'p', 't'):
	case W5('s', 't', 'y', 'l', 'e'): return TAG_SKIP;
	default: return 0;
	}
}

/* Index of the first '>', '<' or quote in p[i..n), or n: 16 bytes a step,
 * for tags with attributes (links, images) that run to tens of bytes. */
static inline size_t
find_tag_stop(const char *p, size_t i, size_t n)
{
#if defined(__SSE2__)
	const __m128i gt = _mm_set1_epi8('>'), lt = _mm_set1_epi8('<'), dq = _mm_set1_epi8('"'),
	              sq = _mm_set1_epi8('\'');

	while (n - i >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		int m = _mm_movemask_epi8(
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, gt), _mm_cmpeq_epi8(x, lt)),
		                 _mm_or_si128(_mm_cmpeq_epi8(x, dq), _mm_cmpeq_epi8(x, sq))));

		if (m != 0)
			return i + (size_t)__builtin_ctz((unsigned)m);
		i += 16;
	}
#endif
	while (i < n && p[i] != '>' && p[i] != '<' && p[i] != '"' && p[i] != '\'')
		i++;
	return i;
}

/* Where the tag or comment at in[i] ends (index after '>'), or 0 when the
 * '<' does not open one: a '<' outside quotes before the '>', or no '>'. */
static size_t
tag_end(const char *in, size_t n, size_t i)
{
	size_t j = i + 1;

	if (j >= n)
		return 0;
	if (n - j >= 3 && memcmp(in + j, "!--", 3) == 0) {
		for (j += 3; (j = ps_feed__find2(in, j, n, '-', '-')) + 2 < n; j++) {
			if (in[j + 1] == '-' && in[j + 2] == '>')
				return j + 3;
		}
		return n; /* an open comment runs to the end */
	}
	if (!(is_alpha((unsigned char)in[j]) || in[j] == '/' || in[j] == '!'))
		return 0;
	for (;;) {
		j = find_tag_stop(in, j, n);
		if (j >= n || in[j] == '<')
			return 0;
		if (in[j] == '>')
			return j + 1;
		/* a quote: '<' and '>' inside are the attribute's */
		j = ps_feed__find2(in, j + 1, n, in[j], in[j]);
		if (j >= n)
			return 0;
		j++;
	}
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

/*
 * Where the run of text starting at in[i] ends: at the first '<', '&' or
 * byte below ' ' (the blanks \t \n \v \f \r among them), or at a ' '
 * followed by one of those or another ' ' (or by the end). Within a run
 * every byte is copied as it stands, which is what the conversion one
 * character at a time does: once a character has been written, a single
 * ' ' before another character is written as ' '. A stop only ends the
 * run; what the byte there is (a tag or only a '<', an entity or only a
 * '&', blanks to fold, a control byte that is only text) is for
 * ps_feed__html_to_text() to decide, so a stop too many costs time, never
 * output.
 *
 * SSE2, as ps_feed__find2(): per 16 bytes x and the 16 bytes y one byte
 * on, stop = (x is '<', '&' or below ' ') or (x is ' ' and y is any of
 * those or ' '); 32 bytes a step while nothing stops.
 */
#if defined(__SSE2__)
static inline __m128i
stops16(const char *p)
{
	const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&'), blank = _mm_set1_epi8(' '),
	              below = _mm_set1_epi8(' ' - 1), zero = _mm_setzero_si128();
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i y = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
	__m128i xmark = _mm_or_si128(_mm_cmpeq_epi8(x, lt), _mm_cmpeq_epi8(x, amp));
	__m128i xlow = _mm_cmpeq_epi8(_mm_subs_epu8(x, below), zero); /* x < ' ' */
	__m128i yany = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(y, lt), _mm_cmpeq_epi8(y, amp)),
	                            _mm_cmpeq_epi8(_mm_subs_epu8(y, blank), zero)); /* y <= ' ' */

	return _mm_or_si128(_mm_or_si128(xmark, xlow),
	                    _mm_and_si128(_mm_cmpeq_epi8(x, blank), yany));
}
#endif

static size_t
run_end(const char *in, size_t i, size_t n)
{
#if defined(__SSE2__)
	while (n - i >= 33) {
		__m128i a = stops16(in + i), b = stops16(in + i + 16);

		if (_mm_movemask_epi8(_mm_or_si128(a, b)) != 0)
			break; /* the 16-byte loop finds which byte */
		i += 32;
	}
	while (n - i >= 17) {
		int mask = _mm_movemask_epi8(stops16(in + i));

		if (mask != 0)
			return i + (size_t)__builtin_ctz((unsigned)mask);
		i += 16;
	}
#endif
	for (; i < n; i++) {
		unsigned char c = (unsigned char)in[i], d;

		if (c == '<' || c == '&' || c < ' ')
			return i;
		if (c == ' ') {
			if (i + 1 == n)
				return i;
			d = (unsigned char)in[i + 1];
			if (d == '<' || d == '&' || d <= ' ')
				return i;
		}
	}
	return n;
}

/*
 * memmove() for the conversion's pieces, inline: most are short (an entity's
 * UTF-8, a run between two tags), where a call costs more than the copy.
 * Front to back, 8 bytes at a time, each word read before it is written:
 * right when dst and src do not overlap, and when dst <= src (in place, the
 * output never gets ahead of the input).
 */
static inline void
copy_forward(char *dst, const char *src, size_t len)
{
	size_t k = 0;

	if (len > 64) {
		memmove(dst, src, len);
		return;
	}
	for (; len - k >= 8; k += 8) {
		uint64_t w;

		memcpy(&w, src + k, 8);
		memcpy(dst + k, &w, 8);
	}
	for (; k < len; k++)
		dst[k] = src[k];
}

/*
 * One pass: runs of text are copied whole (run_end()), tags, entities and
 * blanks are dealt with where they stand. The output is byte for byte that
 * of the conversion one character at a time it replaces (kept as the
 * reference in tests/unit/html_ref.h, which the unit tests and the fuzz
 * target compare it with): pending line breaks (at most two) or a pending
 * space go before the next piece of text, never at the start or the end.
 * The output never gets ahead of the input (see the top of the file), so it
 * may run in place (copy_forward()).
 */
size_t
ps_feed__html_to_text(char *out, const char *in, size_t n)
{
	size_t i = 0, o = 0;
	int nl = 0, sp = 0; /* pending line breaks, pending space */

	while (i < n) {
		unsigned char c = (unsigned char)in[i];
		const char *piece;
		char tmp[4];
		size_t plen;

		if (ps_is_space(c)) {
			/* blanks and source line breaks are layout, not text */
			sp = 1;
			i++;
			continue;
		}
		if (c == '<') {
			size_t e = tag_end(in, n, i);

			if (e > 0) {
				int kind = tag_kind(in, n, i);

				if ((kind & TAG_BLOCK) && o > 0)
					nl = nl < 2 ? nl + ((kind & TAG_BR) ? 1 : 2) : nl;
				if ((kind & TAG_SKIP) && in[i + 1] != '/') {
					/* with their content, to the first </script or
					 * </style (or the end) */
					size_t k = e, t;

					while ((k = ps_feed__find2(in, k, n, '<', '<')) < n &&
					       !(k + 1 < n && in[k + 1] == '/' &&
					         (tag_kind(in, n, k) & TAG_SKIP)))
						k++;
					e = k < n && (t = tag_end(in, n, k)) > 0 ? t : k;
				}
				i = e;
				continue;
			}
		}
		piece = NULL;
		plen = 0;
		if (c == '&') {
			size_t used;
			int k = entity(in, n, i, tmp, &used);

			if (k >= 0) {
				i += used;
				if (k == 0)
					continue;
				if (k == 1 && ps_is_space((unsigned char)tmp[0])) {
					sp = 1; /* &nbsp;, &#10; ... */
					continue;
				}
				if (k == 2 && (unsigned char)tmp[0] == 0xC2 &&
				    (unsigned char)tmp[1] == 0xA0) {
					sp = 1; /* &#160; */
					continue;
				}
				piece = tmp;
				plen = (size_t)k;
			}
		}
		if (piece == NULL) {
			/* text, or a '<' or '&' that only looks like markup: with
			 * the run of text after it */
			size_t e = run_end(in, i + 1, n);

			piece = in + i;
			plen = e - i;
			i = e;
		}
		if (nl > 0 && o > 0) {
			if (nl > 2)
				nl = 2;
			while (nl-- > 0)
				out[o++] = '\n';
		} else if (sp && o > 0 && out[o - 1] != '\n') {
			out[o++] = ' ';
		}
		nl = 0;
		sp = 0;
		copy_forward(out + o, piece, plen);
		o += plen;
	}
	return o;
}
