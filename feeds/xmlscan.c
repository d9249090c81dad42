/*
 * xmlscan.c: the bytes of an XML document, looked at before libxml2 parses
 * them (the hardening issue).
 *
 * Why: libxml2 2.9 reads every attribute of a start tag, and checks each
 * one against all those before it for a duplicate (namespace declarations
 * likewise), before it calls startElementNs(): 100,000 attributes on one
 * element cost 2.5 s, 600,000 (a 6.5 MB tag, under libxml2's own 10 MB
 * limit on one construct) 145 s. A count in the SAX callback comes after
 * that cost. So each piece of the document goes through ps_feed__xscan()
 * before xmlParseChunk() (in xml.c, or, for a regular file, on the thread
 * that reads it ahead: source.c), and the feed is refused at the '=' of
 * the attribute past PS_FEED_MAX_ATTRIBUTES on one start tag, before
 * libxml2 has seen it.
 *
 * What it follows: just enough of XML's lexical structure to know where
 * start tags are. Text; start tags, with their quoted values (which may
 * hold '>'); end tags; comments; CDATA sections; processing instructions
 * (the XML declaration among them); the DOCTYPE with its quoted literals
 * and its internal subset (declarations with their literals, comments and
 * PIs). In a start tag each '=' outside quotes is one attribute or
 * namespace declaration. The DOCTYPE is capped at PS_FEED_MAX_DTD bytes:
 * libxml2 waits for all of it, then keeps what it declares. Any split of the data into pieces gives the same
 * result, since the state carries over from one piece to the next (the
 * unit tests try every split point; the fuzz target checks it too).
 *
 * It does not judge well-formedness: libxml2 does, and after its first
 * fatal error it parses nothing more, so a malformed construct this
 * scanner reads otherwise never reaches libxml2's costly paths.
 *
 * Encodings: it must see the markup libxml2 sees. libxml2 picks the
 * encoding from the first four bytes (a BOM, or "<?" in UTF-16 or UCS-4,
 * or EBCDIC), then from the XML declaration, which may switch it for the
 * rest of the document. So the first bytes are kept (and not scanned)
 * until the declaration has been read, at most PS_XSCAN_PROLOG bytes, and
 * then:
 *   - UTF-8, US-ASCII, ISO-8859-*, Windows-125*, KOI8, EUC-*: bytes under
 *     0x80 are always ASCII, the markup is read byte by byte;
 *   - Shift_JIS, GBK, GB18030, Big5, CP949: the second byte of a
 *     two-byte character may be '[' or ']' (never '<', '>', '=', a quote,
 *     '-' or '?'), so where those brackets count (CDATA, DOCTYPE) lead
 *     bytes are followed;
 *   - UTF-16 (BOM or "<?" in UTF-16): read by 16-bit units;
 *   - anything else (UTF-7, ISO-2022-*, EBCDIC, UCS-4, a UTF-16 switch
 *     declared in an ASCII document...) is refused: markup could hide
 *     from this scanner in it. Convert the feed to UTF-8.
 *
 * Speed: it reads every byte of every XML feed. Text, quoted values,
 * comments and CDATA are skipped 16 bytes at a time (SSE2); the bytes of
 * tags go through a small table-driven loop. Lines and columns are not
 * counted here: the caller asks libxml2, which has parsed everything up to
 * the place refused, and counts the few bytes it has not (xml.c).
 */
#include "feeds_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum xs_mode {
	XM_UNDECIDED = 0,
	XM_BYTES,   /* every byte under 0x80 is ASCII */
	XM_SJIS,    /* Shift_JIS family: leads 0x81-0x9F, 0xE0-0xFC */
	XM_DBCS,    /* GBK, GB18030, Big5, CP949: leads 0x81-0xFE */
	XM_UTF16LE, /* 16-bit units */
	XM_UTF16BE
};

enum xs_state {
	XS_TEXT = 0,
	XS_LT,       /* after '<' */
	XS_STAG,     /* in a start tag, outside quotes */
	XS_QUOTE,    /* in a quoted value or literal; back to s->ret */
	XS_ETAG,     /* in an end tag */
	XS_PI,       /* in a PI; back to s->ret */
	XS_BANG,     /* after "<!": "--", "[CDATA[" or "DOCTYPE"? */
	XS_COMMENT,  /* back to s->ret */
	XS_CDATA,    /* in a CDATA section */
	XS_DECL,     /* "<!" and something else: to the next '>' */
	XS_DOCTYPE,  /* in the DOCTYPE, outside its internal subset */
	XS_SUBSET,   /* in the internal subset */
	XS_SUB_LT,   /* after '<' in the subset */
	XS_SUB_BANG, /* after "<!" in the subset: a comment? */
	XS_DT_END    /* after the subset's ']', to the DOCTYPE's '>' */
};

void
ps_feed__xscan_init(ps_xscan *s, int fragment)
{
	memset(s, 0, sizeof(*s));
	if (fragment)
		s->mode = XM_BYTES; /* libxml2's own UTF-8, already decoded */
}

/* ------------------------------------------------------------------ */
/* Finding bytes                                                       */

/*
 * Index of the first byte c in v[i..n), or n. Inline, 16 bytes a step:
 * most runs of text between tags are short, where a call to memchr()
 * costs more than the search.
 */
static inline size_t
find(const unsigned char *v, size_t i, size_t n, unsigned char c)
{
#if defined(__SSE2__)
	const __m128i x = _mm_set1_epi8((char)c);

	while (n - i >= 16) {
		int m = _mm_movemask_epi8(
		    _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(v + i)), x));

		if (m != 0)
			return i + (size_t)__builtin_ctz((unsigned)m);
		i += 16;
	}
#endif
	while (i < n && v[i] != c)
		i++;
	return i;
}

/* What ends a run of a start tag's bytes: '>', '=', or a quote. */
static inline int
tag_stop(unsigned char c)
{
	return c == '>' || c == '=' || c == '"' || c == '\'';
}

/* Index of the first '>', '=' or quote in v[i..n), or n. */
static inline size_t
find_tag_stop(const unsigned char *v, size_t i, size_t n)
{
#if defined(__SSE2__)
	const __m128i gt = _mm_set1_epi8('>'), eq = _mm_set1_epi8('='), dq = _mm_set1_epi8('"'),
	              sq = _mm_set1_epi8('\'');

	while (n - i >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(v + i));
		int m = _mm_movemask_epi8(
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, gt), _mm_cmpeq_epi8(x, eq)),
		                 _mm_or_si128(_mm_cmpeq_epi8(x, dq), _mm_cmpeq_epi8(x, sq))));

		if (m != 0)
			return i + (size_t)__builtin_ctz((unsigned)m);
		i += 16;
	}
#endif
	while (i < n && !tag_stop(v[i]))
		i++;
	return i;
}

/* ------------------------------------------------------------------ */
/* The markup                                                          */

static int
is_lead(const ps_xscan *s, unsigned char c)
{
	if (s->mode == XM_SJIS)
		return (c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC);
	return s->mode == XM_DBCS && c >= 0x81 && c <= 0xFE;
}

/*
 * The start tag's name, for the message: read only when it is needed (a
 * refusal) or about to go (the tag goes on past the end of the block):
 * copied from v[s->tag_at..n) while it lasts.
 */
static void
keep_name(ps_xscan *s, const unsigned char *v, size_t n)
{
	size_t i = s->tag_at;

	for (; i < n; i++) {
		unsigned char c = v[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/' || tag_stop(c)) {
			s->naming = 0;
			break;
		}
		if (s->nname < sizeof(s->name) - 1)
			s->name[s->nname++] = (char)c;
	}
	s->name[s->nname] = '\0';
	s->tag_at = 0; /* a name cut by the block goes on at the next one */
}

/* Records the refusal; returns i (where it happened) for scan_view(). */
static size_t refuse(ps_xscan *s, size_t i, const char *fmt, ...) PS_PRINTF(3, 4);

static size_t
refuse(ps_xscan *s, size_t i, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	s->failed = 1;
	return i;
}

/*
 * In a start tag at v[i], outside quotes: counts its '=' to the '>'.
 * Returns where it stopped: after the '>' (state XS_TEXT), n (the tag goes
 * on: XS_STAG, or XS_QUOTE in a value), or at the '=' refused.
 */
static size_t
scan_stag(ps_xscan *s, const unsigned char *v, size_t i, size_t n)
{
	for (;;) {
		unsigned char c;

		if ((i = find_tag_stop(v, i, n)) == n) {
			s->state = XS_STAG;
			return n;
		}
		c = v[i++];
		if (c == '>') {
			s->state = XS_TEXT;
			return i;
		}
		if (c == '=') {
			if (++s->attrs > PS_FEED_MAX_ATTRIBUTES) {
				if (s->naming)
					keep_name(s, v, n);
				return refuse(s, i - 1,
				              "more than %d attributes on one element (<%s%s>)",
				              PS_FEED_MAX_ATTRIBUTES, s->name,
				              s->nname == sizeof(s->name) - 1 ? "..." : "");
			}
			continue;
		}
		/* a quoted value: '>' and '=' inside mean nothing; a quote is
		 * never the second byte of a character */
		if ((i = find(v, i, n, c)) == n) {
			s->quote = c;
			s->ret = XS_STAG;
			s->state = XS_QUOTE;
			return n;
		}
		i++;
	}
}

/*
 * Follows the markup of v[0..n), the next bytes of the document as ASCII
 * (the byte view: the bytes themselves, or one byte per UTF-16 unit).
 * Returns n, or the offset of the byte at which the document is refused
 * (s->failed set).
 */
static size_t
scan_view(ps_xscan *s, const unsigned char *v, size_t n)
{
	size_t i = 0;
	unsigned char c;

	while (i < n) {
		size_t i0 = i;
		int dtd = s->in_dtd;

		switch ((enum xs_state)s->state) {
		case XS_TEXT:
			/* The common path, element after element: text, a tag. */
			for (;;) {
				if ((i = find(v, i, n, '<')) + 1 >= n) {
					if (i < n)
						s->state = XS_LT;
					i = n;
					break;
				}
				c = v[++i];
				if (c == '/') {
					if ((i = find(v, i + 1, n, '>')) == n) {
						s->state = XS_ETAG;
						break;
					}
					i++;
					continue;
				}
				if (c == '?' || c == '!') {
					s->state = XS_LT;
					break;
				}
				s->attrs = 0;
				s->naming = 1;
				s->nname = 0;
				s->tag_at = i;
				if ((i = scan_stag(s, v, i, n)) == n || s->state != XS_TEXT ||
				    s->failed)
					break;
			}
			break;

		case XS_LT:
			c = v[i];
			if (c == '/') {
				s->state = XS_ETAG;
				i++;
			} else if (c == '?') {
				s->state = XS_PI;
				s->ret = XS_TEXT;
				s->run = 0;
				i++;
			} else if (c == '!') {
				s->state = XS_BANG;
				s->kw = NULL;
				s->kwpos = 0;
				i++;
			} else {
				/* a start tag (or junk libxml2 will refuse) */
				s->attrs = 0;
				s->naming = 1;
				s->nname = 0;
				s->tag_at = i;
				i = scan_stag(s, v, i, n);
			}
			break;

		case XS_STAG: i = scan_stag(s, v, i, n); break;

		case XS_QUOTE:
			/* a quote is never the second byte of a character */
			if ((i = find(v, i, n, (unsigned char)s->quote)) == n)
				break;
			i++;
			s->state = s->ret;
			break;

		case XS_ETAG:
		case XS_DECL:
		case XS_DT_END:
			if ((i = find(v, i, n, '>')) == n)
				break;
			i++;
			s->state = XS_TEXT;
			s->in_dtd = 0;
			break;

		case XS_PI:
			/* to "?>" */
			while (i < n) {
				if (!s->run) {
					if ((i = find(v, i, n, '?')) == n)
						break;
					i++;
					s->run = 1;
					continue;
				}
				c = v[i++];
				if (c == '>') {
					s->run = 0;
					s->state = s->ret;
					break;
				}
				s->run = c == '?';
			}
			break;

		case XS_COMMENT:
			/* to "-->" */
			while (i < n) {
				if (s->run == 0) {
					if ((i = find(v, i, n, '-')) == n)
						break;
					i++;
					s->run = 1;
					continue;
				}
				c = v[i++];
				if (c == '-') {
					s->run++;
				} else if (c == '>' && s->run >= 2) {
					s->run = 0;
					s->state = s->ret;
					break;
				} else {
					s->run = 0;
				}
			}
			break;

		case XS_CDATA:
			/* to "]]>"; in a double-byte encoding ']' may be the
			 * second byte of a character */
			while (i < n) {
				if (s->run == 0 && !s->trail && s->mode != XM_SJIS &&
				    s->mode != XM_DBCS) {
					if ((i = find(v, i, n, ']')) == n)
						break;
					i++;
					s->run = 1;
					continue;
				}
				c = v[i++];
				if (s->trail) {
					s->trail = 0;
					s->run = 0;
				} else if (is_lead(s, c)) {
					s->trail = 1;
					s->run = 0;
				} else if (c == ']') {
					s->run++;
				} else if (c == '>' && s->run >= 2) {
					s->run = 0;
					s->state = XS_TEXT;
					break;
				} else {
					s->run = 0;
				}
			}
			break;

		case XS_BANG:
			c = v[i];
			if (s->kw == NULL) {
				s->kw = c == '-'   ? "--"
				        : c == '[' ? "[CDATA["
				        : c == 'D' ? "DOCTYPE"
				                   : NULL;
				s->kwpos = 0;
			}
			if (s->kw == NULL || c != (unsigned char)s->kw[s->kwpos]) {
				s->state = XS_DECL; /* c is read again there */
				break;
			}
			i++;
			if (s->kw[++s->kwpos] != '\0')
				break;
			s->run = 0;
			s->trail = 0;
			if (s->kw[0] == '-') {
				s->state = XS_COMMENT;
				s->ret = XS_TEXT;
			} else if (s->kw[0] == '[') {
				s->state = XS_CDATA;
			} else {
				s->state = XS_DOCTYPE;
				s->in_dtd = 1;
			}
			break;

		case XS_DOCTYPE:
		case XS_SUBSET:
			for (; i < n; i++) {
				c = v[i];
				if (s->trail) {
					s->trail = 0;
					continue;
				}
				if (is_lead(s, c)) {
					s->trail = 1;
					continue;
				}
				if (c == '"' || c == '\'') {
					s->quote = c;
					s->ret = s->state;
					s->state = XS_QUOTE;
				} else if (s->state == XS_DOCTYPE && c == '[') {
					s->state = XS_SUBSET;
				} else if (s->state == XS_DOCTYPE && c == '>') {
					s->state = XS_TEXT;
					s->in_dtd = 0;
				} else if (s->state == XS_SUBSET && c == '<') {
					s->state = XS_SUB_LT;
				} else if (s->state == XS_SUBSET && c == ']') {
					s->state = XS_DT_END;
				} else {
					continue;
				}
				i++;
				break;
			}
			break;

		case XS_SUB_LT:
			c = v[i];
			if (c == '!') {
				s->state = XS_SUB_BANG;
				s->kwpos = 0;
				i++;
			} else if (c == '?') {
				s->state = XS_PI;
				s->ret = XS_SUBSET;
				s->run = 0;
				i++;
			} else {
				s->state = XS_SUBSET; /* a declaration's name: read again */
			}
			break;

		case XS_SUB_BANG:
			/* "<!--" is a comment; any other "<!" a declaration */
			if (v[i] != '-') {
				s->state = XS_SUBSET;
				break;
			}
			i++;
			if (++s->kwpos == 2) {
				s->state = XS_COMMENT;
				s->ret = XS_SUBSET;
				s->run = 0;
			}
			break;
		}
		if (s->failed)
			return i;
		/* What a DOCTYPE declares, libxml2 keeps; it also waits for the
		 * whole internal subset before parsing it. */
		if (dtd && (s->dtd += i - i0) > PS_FEED_MAX_DTD)
			return refuse(s, i, "DOCTYPE declaration over the %d KiB cap",
			              PS_FEED_MAX_DTD >> 10);
	}
	/* A start tag goes on in the next block: keep its name now. */
	if (s->naming && (s->state == XS_STAG || (s->state == XS_QUOTE && s->ret == XS_STAG)))
		keep_name(s, v, n);
	return n;
}

/* Scans a block of the byte view; on a refusal *used is the number of its
 * bytes before the place. */
static int
scan_block(ps_xscan *s, const unsigned char *v, size_t n, size_t *used)
{
	*used = scan_view(s, v, n);
	return s->failed ? PS_EFEED : 0;
}

/* One byte of the view per UTF-16 unit: ASCII as itself, a low surrogate
 * as a continuation byte (a pair is one column), anything else as 0xC2. */
static unsigned char
unit_view(unsigned u)
{
	if (u < 0x80)
		return (unsigned char)u;
	return (u >= 0xDC00 && u <= 0xDFFF) ? 0x80 : 0xC2;
}

/*
 * Scans raw bytes p[0..n) in the decided mode. On a refusal, *used is the
 * number of those bytes that come before it.
 */
static int
scan_raw(ps_xscan *s, const unsigned char *p, size_t n, size_t *used)
{
	unsigned char view[4096];
	size_t i = 0;

	if (s->mode != XM_UTF16LE && s->mode != XM_UTF16BE)
		return scan_block(s, p, n, used);

	while (i < n) {
		size_t k = 0, raw0 = i, got;
		int rc, cut = s->odd;

		/* a unit cut by the previous piece first */
		if (s->odd) {
			unsigned u = s->mode == XM_UTF16LE
			                 ? (unsigned)s->odd_byte | (unsigned)p[i] << 8
			                 : (unsigned)s->odd_byte << 8 | p[i];
			view[k++] = unit_view(u);
			s->odd = 0;
			i++;
		}
		for (; k < sizeof(view) && n - i >= 2; i += 2) {
			unsigned u = s->mode == XM_UTF16LE
			                 ? (unsigned)p[i] | (unsigned)p[i + 1] << 8
			                 : (unsigned)p[i] << 8 | p[i + 1];
			view[k++] = unit_view(u);
		}
		if (n - i == 1 && k < sizeof(view)) {
			s->odd = 1;
			s->odd_byte = p[i++];
		}
		if ((rc = scan_block(s, view, k, &got)) != 0) {
			/* the raw bytes before view byte got: a unit cut by the
			 * previous piece has only its second byte here */
			if (!cut)
				*used = raw0 + 2 * got;
			else
				*used = got == 0 ? raw0 : raw0 + 2 * got - 1;
			return rc;
		}
	}
	*used = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The encoding                                                        */

static int
name_in(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcasecmp(name, *list) == 0)
			return 1;
	return 0;
}

/* "PREFIXn" with lo <= n <= hi, case-insensitive. */
static int
name_num(const char *name, const char *prefix, int lo, int hi)
{
	size_t pl = strlen(prefix);
	char *end;
	long v;

	if (strncasecmp(name, prefix, pl) != 0 || name[pl] < '0' || name[pl] > '9')
		return 0;
	v = strtol(name + pl, &end, 10);
	return *end == '\0' && v >= lo && v <= hi;
}

/* The mode for a declared encoding in a document that starts in bytes, or
 * XM_UNDECIDED when it cannot be scanned. */
static int
byte_mode(const char *enc)
{
	static const char *const ascii[] = {
	    "", "UTF-8", "UTF8",
	    /* libxml2 refuses these in a document without a UTF-16 start */
	    "UTF-16", "UTF16", "US-ASCII", "ASCII", "ISO-LATIN-1", "ISO_LATIN_1", "KOI8-R",
	    "KOI8-U", "EUC-JP", "EUCJP", "EUC-KR", "EUCKR", "EUC-CN", "EUCCN", "EUC-TW", "EUCTW",
	    "GB2312", "TIS-620", "MACINTOSH", "MAC", "CP437", "CP850", "CP852", "CP866", NULL};
	static const char *const sjis[] = {"SHIFT_JIS",   "SHIFT-JIS",  "SJIS",
	                                   "MS_KANJI",    "CSSHIFTJIS", "CP932",
	                                   "WINDOWS-31J", "MS932",      NULL};
	static const char *const dbcs[] = {"GBK",   "CP936", "MS936",      "WINDOWS-936", "GB18030",
	                                   "BIG5",  "BIG-5", "BIG5-HKSCS", "BIG5HKSCS",   "CP950",
	                                   "CP949", "UHC",   NULL};

	if (name_in(enc, ascii) || name_num(enc, "ISO-8859-", 1, 16) ||
	    name_num(enc, "ISO8859-", 1, 16) || name_num(enc, "ISO_8859-", 1, 16) ||
	    name_num(enc, "LATIN", 1, 10) || name_num(enc, "WINDOWS-", 1250, 1258) ||
	    name_num(enc, "CP", 1250, 1258) || strcasecmp(enc, "WINDOWS-874") == 0 ||
	    strcasecmp(enc, "CP874") == 0)
		return XM_BYTES;
	if (name_in(enc, sjis))
		return XM_SJIS;
	if (name_in(enc, dbcs))
		return XM_DBCS;
	return XM_UNDECIDED;
}

/*
 * Reads the encoding="..." of an XML declaration d[0..n) ("<?xml ...?>")
 * into out; "" when it has none.
 */
static void
declared_encoding(const unsigned char *d, size_t n, char *out, size_t cap)
{
	size_t i, k = 0;
	unsigned char q;

	out[0] = '\0';
	for (i = 0; i + 8 <= n; i++) {
		if (memcmp(d + i, "encoding", 8) != 0)
			continue;
		i += 8;
		while (i < n && ps_is_space(d[i]))
			i++;
		if (i >= n || d[i] != '=')
			return;
		i++;
		while (i < n && ps_is_space(d[i]))
			i++;
		if (i >= n || (d[i] != '"' && d[i] != '\''))
			return;
		for (q = d[i++]; i < n && d[i] != q && k + 1 < cap; i++)
			out[k++] = (char)d[i];
		break;
	}
	out[k] = '\0';
}

/*
 * Decides the mode from the bytes held (s->pend): 0 decided, 1 more bytes
 * needed, PS_EFEED refused (s->msg).
 */
static int
decide(ps_xscan *s)
{
	const unsigned char *b = s->pend;
	size_t n = s->npend, i, dn = 0, bom = 0;
	unsigned char d[PS_XSCAN_PROLOG];
	int sniff = XM_BYTES;
	const unsigned char *end;
	int mode;

	if (n < 4)
		return 1;
	if ((b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0x3C) ||
	    (b[0] == 0x3C && b[1] == 0 && b[2] == 0 && b[3] == 0) ||
	    (b[0] == 0 && b[1] == 0 && b[2] == 0x3C && b[3] == 0) ||
	    (b[0] == 0 && b[1] == 0x3C && b[2] == 0 && b[3] == 0)) {
		refuse(s, 0, "UCS-4 text is not read; convert the feed to UTF-8");
		return PS_EFEED;
	}
	if (b[0] == 0x4C && b[1] == 0x6F && b[2] == 0xA7 && b[3] == 0x94) {
		refuse(s, 0, "EBCDIC text is not read; convert the feed to UTF-8");
		return PS_EFEED;
	}
	if (b[0] == 0 && b[1] == 0x3C && b[2] == 0 && b[3] == 0x3F) {
		sniff = XM_UTF16BE;
	} else if (b[0] == 0x3C && b[1] == 0 && b[2] == 0x3F && b[3] == 0) {
		sniff = XM_UTF16LE;
	} else if (b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
		bom = 3;
	} else if (b[0] == 0xFE && b[1] == 0xFF) {
		sniff = XM_UTF16BE;
		bom = 2;
	} else if (b[0] == 0xFF && b[1] == 0xFE) {
		sniff = XM_UTF16LE;
		bom = 2;
	}

	/* The declaration, as ASCII. */
	if (sniff == XM_BYTES) {
		dn = n - bom < sizeof(d) ? n - bom : sizeof(d);
		memcpy(d, b + bom, dn);
	} else {
		for (i = bom; i + 1 < n && dn < sizeof(d); i += 2)
			d[dn++] =
			    unit_view(sniff == XM_UTF16LE ? (unsigned)b[i] | (unsigned)b[i + 1] << 8
			                                  : (unsigned)b[i] << 8 | b[i + 1]);
	}
	if (dn < 6 && memcmp(d, "<?xml ", dn) == 0)
		return 1;
	s->encoding[0] = '\0';
	if (dn >= 6 && memcmp(d, "<?xml", 5) == 0 && ps_is_space(d[5])) {
		end = NULL;
		for (i = 6; i + 1 < dn; i++) {
			if (d[i] == '?' && d[i + 1] == '>') {
				end = d + i + 2;
				break;
			}
		}
		if (end == NULL) {
			if (s->npend < sizeof(s->pend))
				return 1;
			refuse(s, 0, "XML declaration longer than %d bytes", PS_XSCAN_PROLOG);
			return PS_EFEED;
		}
		declared_encoding(d, (size_t)(end - d), s->encoding, sizeof(s->encoding));
	}

	if (sniff == XM_BYTES) {
		mode = byte_mode(s->encoding);
	} else {
		/* libxml2 keeps its UTF-16 for these; any other name would
		 * switch the decoder for the rest of the document */
		static const char *const same[] = {"", "UTF-16", "UTF16", "UTF-8", "UTF8", NULL};

		mode = name_in(s->encoding, same) ||
		               strcasecmp(s->encoding,
		                          sniff == XM_UTF16LE ? "UTF-16LE" : "UTF-16BE") == 0
		           ? sniff
		           : XM_UNDECIDED;
	}
	if (mode == XM_UNDECIDED) {
		refuse(
		    s, 0,
		    "encoding \"%s\"%s is not read (markup in it cannot be checked); convert the "
		    "feed to UTF-8",
		    s->encoding, sniff == XM_BYTES ? "" : " in a UTF-16 document");
		return PS_EFEED;
	}
	s->mode = mode;
	return 0;
}

int
ps_feed__xscan(ps_xscan *s, const char *p, size_t n, size_t *used)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t before = 0, got;
	int rc;

	*used = 0;
	if (s->failed)
		return PS_EFEED;
	if (s->mode == XM_UNDECIDED) {
		/* Hold the first bytes until the encoding is known; the caller
		 * may push them: until then they hold no start tag. */
		size_t k = sizeof(s->pend) - s->npend < n ? sizeof(s->pend) - s->npend : n;

		memcpy(s->pend + s->npend, u, k);
		before = s->npend;
		s->npend += k;
		rc = decide(s);
		s->at_start = rc == PS_EFEED;
		if (rc == 1) {
			*used = n;
			return 0;
		}
		if (rc != 0)
			return rc;
		/* Everything held, from the first byte of the document. */
		if (scan_raw(s, s->pend, s->npend, &got) != 0) {
			*used = got > before ? got - before : 0;
			return PS_EFEED;
		}
		u += k;
		n -= k;
		before = k;
	}
	rc = scan_raw(s, u, n, &got);
	*used = before + got;
	return rc;
}
