/*
 * xml.c: RSS 2.0 and Atom 1.0 product feeds through libxml2's SAX2 push
 * parser (xmlCreatePushParserCtxt + xmlParseChunk). No DOM is built and
 * no xmlTextReader is used: the callbacks below copy only the text of the
 * elements that map to an attribute.
 *
 * What is an item: an element named <item> (RSS) or <entry> (Atom) that
 * has no prefix or is in the Atom namespace. Its direct children are
 * matched by local name (see ps_feed__attr_from_name) when they are in the
 * Google namespace (http://base.google.com/ns/1.0, or any prefix "g"), in
 * no namespace or the default one, or in the Atom namespace. A value from
 * the g: namespace beats a plain one (g:title over an Atom <title>);
 * otherwise the first non-empty value wins. Children that map to nothing
 * are skipped with everything inside them, so the <g:price> inside
 * <g:returns_policy> is never the item's price.
 *
 * Nested values: <g:shipping> children country, region, service, price
 * become "country:region:service:price"; <g:tax> children country, region,
 * rate, tax_ship become "country:region:rate:tax_ship"; repeated blocks are
 * joined with ",". Repeated LIST attributes (additional_image_link) are
 * joined with PS_LIST_SEP, at most PS_MAX_ADDITIONAL_IMAGES images. An
 * Atom <link href="..."/> (rel absent or "alternate") gives the link when
 * the element has no text.
 *
 * Undeclared "g:" prefix: libxml2 reports a namespace error for each such
 * element but the document is well-formed; the elements still match by
 * name and one warning is added. Namespace errors are never fatal.
 *
 * Safety: XML_PARSE_NONET; no XML_PARSE_NOENT (external entities are not
 * substituted), no DTD loading or validation, no XML_PARSE_HUGE (libxml2's
 * default limits on entity expansion and text size stay on). Internal
 * entities declared in the document's own DTD subset are expanded by
 * libxml2 through the characters callback.
 *
 * Hostile shapes (the hardening issue): libxml2 2.9's SAX push parse has
 * costs its own limits do not bound, so the feed is refused, with the
 * place, before they grow: elements nested deeper than PS_FEED_MAX_DEPTH
 * (libxml2's memory per open level, counted in on_start); more than
 * PS_FEED_MAX_ATTRIBUTES attributes on one start tag (libxml2's pairwise
 * check runs before any callback, so xmlscan.c counts them in the bytes
 * before each piece is pushed, and refuses encodings it cannot read).
 *
 * Errors: the first fatal libxml2 error becomes "file:LINE:COL: not
 * well-formed: message"; data that stops before the root element is closed
 * becomes "file:LINE: document ends before its end (truncated?)".
 */
#include "feeds_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/globals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

#define G_NS "http://base.google.com/ns/1.0"
#define ATOM_NS "http://www.w3.org/2005/Atom"

/* xmlParseChunk() takes an int. */
#define XML_MAX_PUSH ((size_t)64 << 20)

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_ptr;
#else
typedef xmlErrorPtr xml_error_ptr;
#endif

enum child_mode { C_NONE, C_FIELD, C_CONTAINER, C_SKIP, C_EXTRA };
enum part_mode { P_NONE, P_FIELD, P_SKIP };

#define NPARTS 4
#define NSLOTS 8
#define NAME_SLOTS 256

typedef struct xml_state {
	ps_feed *f;
	xmlParserCtxtPtr ctxt;
	xmlSAXHandler sax;

	unsigned long depth;      /* of the element being read; root = 1 */
	unsigned long item_depth; /* 0: not inside an item */
	int child;                /* enum child_mode, for item_depth + 1 */
	int part;                 /* enum part_mode, for item_depth + 2 */
	int attr;                 /* attribute of the child being read */
	int preferred;            /* the child is in the g: namespace */
	int part_index;           /* container part being read */
	int direct;               /* C_FIELD text goes straight to the arena */
	size_t field_off;         /* direct: where it starts (item-relative) */
	size_t field_len;
	int saw_root;
	int root_closed;
	int warned_prefix;

	ps_fbuf text;     /* text of the child (or a flat container) */
	ps_fbuf href;     /* href of an Atom <link> */
	ps_fbuf parttext; /* text of the container part being read */
	ps_fbuf parts;    /* the container's parts, located by part_off */
	size_t part_off[NPARTS], part_len[NPARTS];
	unsigned part_set;

	/* Attributes whose repeated elements are joined: LIST ones plus
	 * shipping and tax. */
	int slot_of[PS_ATTR__COUNT];
	int slot_attr[NSLOTS];
	int nslots;
	ps_fbuf multi[NSLOTS];
	unsigned multi_n[NSLOTS];

	/* Element name -> attribute, by libxml2's interned name pointer
	 * (open addressing; only names its dictionary owns). */
	struct name_slot {
		const xmlChar *ptr;
		int attr;
	} names[NAME_SLOTS];

	/* Elements a mapping file's template reads ({name}): their text by
	 * names[] index, for ps_feed__map_apply(). */
	int extra;
	ps_fbuf extras;
	uint32_t *xoff, *xlen;
	size_t nx;

	/* First error libxml2 reported (fatal ones preferred). */
	int err_have;
	int err_fatal;
	int err_line;
	int err_col;
	char err_msg[200];

	/* libxml2 also reports some errors (encoding conversion) through
	 * its generic handler, and then halts the parser. */
	int halted;
	char gen_msg[200];
	size_t gen_len;
	int gen_done;

	/*
	 * Telling a cut document from a broken one. libxml2 reports some
	 * errors only once it has seen the end of the data (it waits for the
	 * ';' of an '&' until then), so "the root is not closed" alone does
	 * not mean truncated. The data is complete when its last bytes are
	 * the root's end tag: keep the root's name and the last bytes pushed.
	 */
	char root[128];
	char tail[256];
	size_t tail_len;

	/* The bytes before libxml2 sees them (xmlscan.c). */
	ps_xscan scan;
	int prescanned; /* the source scans what it reads (xml_prescan()) */
	unsigned dtd_attributes; /* <!ATTLIST> attribute declarations */
} xml_state;

static const char *const shipping_parts[NPARTS] = {"country", "region", "service", "price"};
static const char *const tax_parts[NPARTS] = {"country", "region", "rate", "tax_ship"};

/* Error texts go on one line. */
static void
one_line(char *s)
{
	for (; *s; s++) {
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
	}
}

static uint64_t
cur_line(const xml_state *st)
{
	long line = st->ctxt ? xmlSAX2GetLineNumber(st->ctxt) : 0;

	return (uint64_t)(line > 0 ? line : 0) + st->f->line_offset;
}

/* Fails the feed and stops libxml2 from calling back any more. */
static void
stop(xml_state *st, int rc, const char *what)
{
	if (rc == PS_ENOMEM)
		ps_feed__fail(st->f, PS_ENOMEM, "%s: out of memory", st->f->name);
	else
		ps_feed__fail(st->f, PS_EFEED, "%s:%llu: %s", st->f->name,
		              (unsigned long long)cur_line(st), what);
	if (st->ctxt)
		xmlStopParser(st->ctxt);
}

/*
 * Refuses the feed at the place libxml2 has reached, "FILE:LINE:COL: what",
 * and stops the parser: the document's, and the one parsing an entity's
 * text when ud is that one (libxml2 makes a context per entity; the place
 * is then the reference's, in the document).
 */
static void refuse(xml_state *st, void *ud, const char *fmt, ...) PS_PRINTF(3, 4);

static void
refuse(xml_state *st, void *ud, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	int col = st->ctxt ? xmlSAX2GetColumnNumber(st->ctxt) : 0;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	one_line(what);
	ps_feed__fail(st->f, PS_EFEED, "%s:%llu:%d: %s", st->f->name,
	              (unsigned long long)cur_line(st), col > 0 ? col : 0, what);
	if (st->ctxt)
		xmlStopParser(st->ctxt);
	if (ud != NULL && (xmlParserCtxtPtr)ud != st->ctxt)
		xmlStopParser((xmlParserCtxtPtr)ud);
}

static int
is_item(const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	const char *l = (const char *)local;

	if (strcmp(l, "item") != 0 && strcmp(l, "entry") != 0)
		return 0;
	return prefix == NULL || (uri != NULL && strcmp((const char *)uri, ATOM_NS) == 0);
}

/* May a child in this namespace name an attribute? Sets *g for g:. */
static int
ns_ok(xml_state *st, const xmlChar *prefix, const xmlChar *uri, int *g)
{
	*g = 0;
	if (prefix != NULL && strcmp((const char *)prefix, "g") == 0) {
		*g = 1;
		if (uri == NULL && !st->warned_prefix) {
			st->warned_prefix = 1;
			ps_feed__warn(st->f,
			              "%s:%llu: undeclared g: prefix; g: elements are "
			              "matched by name",
			              st->f->name, (unsigned long long)cur_line(st));
		}
		return 1;
	}
	if (uri != NULL && strcmp((const char *)uri, G_NS) == 0) {
		*g = 1;
		return 1;
	}
	if (prefix == NULL)
		return 1;
	return uri != NULL && strcmp((const char *)uri, ATOM_NS) == 0;
}

static void
begin_item(xml_state *st)
{
	int i;

	ps_feed__item_begin(st->f, cur_line(st));
	st->item_depth = st->depth;
	st->child = C_NONE;
	st->part = P_NONE;
	for (i = 0; i < st->nslots; i++) {
		st->multi[i].len = 0;
		st->multi_n[i] = 0;
	}
	st->extras.len = 0;
	for (i = 0; i < (int)st->nx; i++)
		st->xlen[i] = PS_ROW_ABSENT;
}

static void
end_item(xml_state *st)
{
	int i, rc;

	for (i = 0; i < st->nslots; i++) {
		int a = st->slot_attr[i];
		ps_fbuf *m = &st->multi[i];

		if (st->multi_n[i] == 0)
			continue;
		if (ps_attr_defs[a].type == PS_ATTR_TYPE_LIST) {
			int urls = ps_feed__attr_is_url(a);

			m->len = ps_feed__list_pack(
			    m->ptr, m->len, urls ? ',' : 0, urls,
			    a == PS_ATTR_ADDITIONAL_IMAGE_LINK ? PS_MAX_ADDITIONAL_IMAGES : 0);
		}
		if ((rc = ps_feed__item_set(st->f, a, m->ptr, m->len, 1)) != 0) {
			if (st->ctxt)
				xmlStopParser(st->ctxt);
			return;
		}
	}
	if (st->f->map != NULL) {
		ps_row row;

		row.text = st->extras.ptr ? st->extras.ptr : "";
		row.off = st->xoff;
		row.len = st->xlen;
		row.line = st->f->cur.line;
		if (ps_feed__map_apply(st->f, st->nx ? &row : NULL) != 0) {
			if (st->ctxt)
				xmlStopParser(st->ctxt);
			return;
		}
	}
	if (ps_feed__item_end(st->f) != 0 && st->ctxt)
		xmlStopParser(st->ctxt);
	st->item_depth = 0;
	st->child = C_NONE;
}

/* Appends one value to a joined attribute. */
static void
multi_add(xml_state *st, int slot, char sep, const char *p, size_t n)
{
	ps_fbuf *m = &st->multi[slot];
	int rc;

	if (n == 0)
		return;
	/* Beyond the cap, extra images are dropped without a fuss. */
	if (st->slot_attr[slot] == PS_ATTR_ADDITIONAL_IMAGE_LINK &&
	    st->multi_n[slot] >= PS_MAX_ADDITIONAL_IMAGES)
		return;
	if ((st->multi_n[slot] > 0 && (rc = fbuf_putc(m, sep)) != 0) ||
	    (rc = fbuf_put(m, p, n)) != 0) {
		stop(st, rc, "item text over the cap");
		return;
	}
	st->multi_n[slot]++;
}

static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && ps_is_space((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ps_is_space((unsigned char)(*p)[*n - 1]))
		(*n)--;
}

static int
rel_ok(const xmlChar **attrs, int nattrs, const xmlChar **href, size_t *hlen)
{
	int i, ok = 1;

	*href = NULL;
	*hlen = 0;
	for (i = 0; i < nattrs; i++) {
		const char *name = (const char *)attrs[5 * i];
		const xmlChar *v = attrs[5 * i + 3], *e = attrs[5 * i + 4];

		if (attrs[5 * i + 1] != NULL)
			continue; /* prefixed attribute */
		if (strcmp(name, "href") == 0) {
			*href = v;
			*hlen = (size_t)(e - v);
		} else if (strcmp(name, "rel") == 0) {
			ok = (size_t)(e - v) == 9 && memcmp(v, "alternate", 9) == 0;
		}
	}
	return ok && *href != NULL;
}

/*
 * The attribute an element's local name maps to, or -1. libxml2 interns
 * names in the parser's dictionary, which lives as long as the parser: a
 * name it owns is the only pointer to that string, so the pointer alone is
 * the key (the lookup by name cost more than the parsing of the items'
 * children). A name the dictionary does not own, or one that finds the
 * table full, takes the lookup by name every time.
 */
static int
attr_of(xml_state *st, const xmlChar *local)
{
	size_t h = (size_t)(((uint64_t)(uintptr_t)local * UINT64_C(0x9E3779B97F4A7C15)) >> 32);
	size_t i = 0, k;
	int a;

	for (k = 0; k < NAME_SLOTS; k++) {
		i = (h + k) % NAME_SLOTS;
		if (st->names[i].ptr == local)
			return st->names[i].attr;
		if (st->names[i].ptr == NULL)
			break;
	}
	a = ps_feed__map_attr(st->f, (const char *)local, strlen((const char *)local));
	if (a < 0)
		a = -1;
	if (k < NAME_SLOTS && st->ctxt != NULL && st->ctxt->dict != NULL &&
	    xmlDictOwns(st->ctxt->dict, local) == 1) {
		st->names[i].ptr = local;
		st->names[i].attr = a;
	}
	return a;
}

static void
start_child(xml_state *st, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
            int nattrs, const xmlChar **attrs)
{
	int g, a, rc;

	st->child = C_SKIP;
	if (!ns_ok(st, prefix, uri, &g))
		return;
	a = attr_of(st, local);
	if (a < 0) {
		int x = st->nx ? ps_feed__map_xml_wants(st->f, (const char *)local,
		                                        strlen((const char *)local))
		               : -1;

		if (x >= 0 && st->xlen[x] == PS_ROW_ABSENT) {
			st->child = C_EXTRA;
			st->extra = x;
			st->text.len = 0;
		}
		return;
	}
	st->attr = a;
	st->preferred = g;
	st->text.len = 0;
	if (a == PS_ATTR_SHIPPING || a == PS_ATTR_TAX) {
		st->child = C_CONTAINER;
		st->part = P_NONE;
		st->part_set = 0;
		st->parts.len = 0;
		return;
	}
	/* A single-valued attribute that already has its value: skip. */
	st->direct = st->slot_of[a] < 0;
	if (st->direct && !ps_feed__item_wants(st->f, a, g))
		return;
	st->child = C_FIELD;
	st->field_off = ps_feed__item_size(st->f);
	st->field_len = 0;
	st->href.len = 0;
	if (a == PS_ATTR_LINK && nattrs > 0) {
		const xmlChar *href;
		size_t hlen;

		if (rel_ok(attrs, nattrs, &href, &hlen) &&
		    (rc = fbuf_put(&st->href, href, hlen)) != 0)
			stop(st, rc, "link href over the cap");
	}
}

static void
end_child(xml_state *st)
{
	const char *p = st->text.ptr;
	size_t n = st->text.len;
	int a = st->attr, slot = a >= 0 ? st->slot_of[a] : -1;

	if (st->child == C_EXTRA) {
		int rc;

		trim(&p, &n);
		st->xoff[st->extra] = (uint32_t)st->extras.len;
		st->xlen[st->extra] = (uint32_t)n;
		if (n > 0 && (rc = fbuf_put(&st->extras, p, n)) != 0)
			stop(st, rc, "item text over the cap");
		st->child = C_NONE;
		return;
	}

	if (st->child == C_FIELD && st->direct) {
		ps_feed *f = st->f;
		size_t len = ps_feed__item_size(f) - st->field_off;
		const char *v = f->arena.ptr ? f->arena.ptr + f->cur.base + st->field_off : "";
		size_t k = 0;
		int rc;

		while (k < len && ps_is_space((unsigned char)v[k]))
			k++;
		if (k == len && a == PS_ATTR_LINK && st->href.len > 0) {
			/* <link href="..."/>: the href stands in for the text */
			f->arena.len = f->cur.base + st->field_off;
			if ((rc = fbuf_put(&f->arena, st->href.ptr, st->href.len)) != 0) {
				stop(st, rc, "item text over the cap");
				return;
			}
			len = st->href.len;
		}
		if (ps_feed__item_commit(f, a, st->field_off, len, st->preferred) != 0)
			xmlStopParser(st->ctxt);
		st->child = C_NONE;
		return;
	}
	trim(&p, &n);
	if (st->child == C_FIELD) {
		if (n == 0 && a == PS_ATTR_LINK && st->href.len > 0) {
			p = st->href.ptr;
			n = st->href.len;
			trim(&p, &n);
		}
		if (slot >= 0) {
			multi_add(st, slot, PS_LIST_SEP, p, n);
		} else if (ps_feed__item_set(st->f, a, p ? p : "", n, st->preferred) != 0) {
			xmlStopParser(st->ctxt);
		}
	} else if (st->child == C_CONTAINER && slot >= 0) {
		if (st->part_set != 0) {
			/* "country:region:service:price", empty parts kept. */
			char block[1024];
			size_t k = 0;
			int i;

			for (i = 0; i < NPARTS; i++) {
				size_t plen = (st->part_set & (1u << i)) ? st->part_len[i] : 0;

				if (i > 0 && k < sizeof(block))
					block[k++] = ':';
				if (plen > sizeof(block) - k)
					plen = sizeof(block) - k;
				if (plen > 0)
					memcpy(block + k, st->parts.ptr + st->part_off[i], plen);
				k += plen;
			}
			multi_add(st, slot, ',', block, k);
		} else {
			multi_add(st, slot, ',', p, n); /* flat "US:::4.99 USD" */
		}
	}
	st->child = C_NONE;
}

static void
start_part(xml_state *st, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	const char *const *names = st->attr == PS_ATTR_TAX ? tax_parts : shipping_parts;
	const char *l = (const char *)local;
	int g, i;

	st->part = P_SKIP;
	if (!ns_ok(st, prefix, uri, &g))
		return;
	for (i = 0; i < NPARTS; i++) {
		if (strcmp(l, names[i]) == 0) {
			st->part = P_FIELD;
			st->part_index = i;
			st->parttext.len = 0;
			return;
		}
	}
}

static void
end_part(xml_state *st)
{
	const char *p = st->parttext.ptr;
	size_t n = st->parttext.len;
	int i = st->part_index, rc;

	if (st->part == P_FIELD && !(st->part_set & (1u << i))) {
		trim(&p, &n);
		st->part_off[i] = st->parts.len;
		st->part_len[i] = n;
		if ((rc = fbuf_put(&st->parts, p, n)) != 0) {
			stop(st, rc, "item text over the cap");
			return;
		}
		st->part_set |= 1u << i;
	}
	st->part = P_NONE;
}

/* ------------------------------------------------------------------ */
/* SAX2 callbacks                                                      */

/*
 * libxml2's own SAX2 handlers, which we keep for the DTD (entity
 * declarations and lookups), take the parser context as their first
 * argument. So userData stays the context and our state rides in
 * ctxt->_private, which libxml2 also copies into the contexts it makes to
 * parse entity content.
 */
static xml_state *
state_of(void *ud)
{
	return ((xmlParserCtxtPtr)ud)->_private;
}

static void
on_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
         int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
         const xmlChar **attributes)
{
	xml_state *st = state_of(ud);

	(void)namespaces;
	(void)nb_defaulted;
	st->depth++;
	if (st->f->failed)
		return;
	/* libxml2 keeps some bytes per open level for as long as it stays
	 * open: stopping here bounds them (feeds.h). */
	if (st->depth > PS_FEED_MAX_DEPTH) {
		refuse(st, ud, "elements nested deeper than %d (<%s%s%s> would be level %lu)",
		       PS_FEED_MAX_DEPTH, prefix ? (const char *)prefix : "", prefix ? ":" : "",
		       (const char *)local, st->depth);
		return;
	}
	/* xmlscan.c refuses such a tag before libxml2 parses it; this catches
	 * those it cannot see: attributes defaulted by a DTD, elements in an
	 * entity's replacement text. */
	if (nb_attributes + nb_namespaces > PS_FEED_MAX_ATTRIBUTES) {
		refuse(st, ud, "more than %d attributes on one element (<%s%s%s>)",
		       PS_FEED_MAX_ATTRIBUTES, prefix ? (const char *)prefix : "",
		       prefix ? ":" : "", (const char *)local);
		return;
	}
	if (st->depth == 1) {
		st->saw_root = 1;
		snprintf(st->root, sizeof(st->root), "%s%s%s", prefix ? (const char *)prefix : "",
		         prefix ? ":" : "", (const char *)local);
		if (strcasecmp((const char *)local, "html") == 0) {
			stop(st, PS_EFEED, "an HTML page, not a product feed");
			return;
		}
	}
	if (st->item_depth == 0) {
		if (is_item(local, prefix, uri))
			begin_item(st);
		return;
	}
	if (st->depth == st->item_depth + 1)
		start_child(st, local, prefix, uri, nb_attributes, attributes);
	else if (st->depth == st->item_depth + 2 && st->child == C_CONTAINER)
		start_part(st, local, prefix, uri);
}

static void
on_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	xml_state *st = state_of(ud);

	(void)local;
	(void)prefix;
	(void)uri;
	if (!st->f->failed && st->item_depth != 0) {
		if (st->depth == st->item_depth)
			end_item(st);
		else if (st->depth == st->item_depth + 1)
			end_child(st);
		else if (st->depth == st->item_depth + 2 && st->child == C_CONTAINER)
			end_part(st);
	}
	if (st->depth > 0 && --st->depth == 0)
		st->root_closed = 1;
}

static void
on_text(void *ud, const xmlChar *ch, int len)
{
	xml_state *st = state_of(ud);
	ps_fbuf *b;
	int rc;

	if (st->item_depth == 0 || len <= 0)
		return;
	if (st->child == C_FIELD && st->direct) {
		ps_feed *f = st->f;

		st->field_len += (size_t)len;
		if (st->field_len > PS_FEED_MAX_FIELD) {
			stop(st, PS_EFEED, "element text over the 1 MiB cap");
			return;
		}
		if (ps_feed__item_size(f) + (size_t)len >= PS_FEED_MAX_ITEM) {
			stop(st, PS_EFEED, "item text over the 4 MiB cap");
			return;
		}
		if ((rc = fbuf_put(&f->arena, ch, (size_t)len)) != 0)
			stop(st, rc, "item text over the cap");
		return;
	}
	if (st->child == C_FIELD || st->child == C_EXTRA)
		b = &st->text;
	else if (st->child == C_CONTAINER && st->part == P_FIELD)
		b = &st->parttext;
	else if (st->child == C_CONTAINER && st->part == P_NONE)
		b = &st->text;
	else
		return;
	if ((rc = fbuf_put(b, ch, (size_t)len)) != 0)
		stop(st, rc, "element text over the 1 MiB cap");
}

/*
 * The DTD's declarations, checked before libxml2 keeps them (feeds.h).
 * libxml2 parses an internal entity's replacement text at each reference,
 * with the SAX callbacks (it builds nothing to keep): the start tags in it
 * never pass through xmlscan.c, so the text is scanned here, once.
 */
static void
on_entity_decl(void *ud, const xmlChar *name, int type, const xmlChar *public_id,
               const xmlChar *system_id, xmlChar *content)
{
	xml_state *st = state_of(ud);

	if (st->f->failed)
		return;
	if (type == XML_INTERNAL_GENERAL_ENTITY && content != NULL) {
		ps_xscan s;
		size_t used;

		ps_feed__xscan_init(&s, 1);
		if (ps_feed__xscan(&s, (const char *)content, strlen((const char *)content), &used) !=
		    0) {
			refuse(st, ud, "entity \"%s\": %s", (const char *)name, s.msg);
			return;
		}
	}
	xmlSAX2EntityDecl(ud, name, type, public_id, system_id, content);
}

/* An attribute's default goes into every start tag of its element. */
static void
on_attribute_decl(void *ud, const xmlChar *elem, const xmlChar *fullname, int type, int def,
                  const xmlChar *default_value, xmlEnumerationPtr tree)
{
	xml_state *st = state_of(ud);

	if (!st->f->failed && ++st->dtd_attributes > PS_FEED_MAX_DTD_ATTRIBUTES)
		refuse(st, ud, "more than %d attribute declarations (<!ATTLIST>) in the DTD",
		       PS_FEED_MAX_DTD_ATTRIBUTES);
	if (st->f->failed) {
		xmlFreeEnumeration(tree);
		return;
	}
	xmlSAX2AttributeDecl(ud, elem, fullname, type, def, default_value, tree);
}

static void
on_error(void *ud, xml_error_ptr e)
{
	xml_state *st = state_of(ud);
	size_t n;

	/* libxml2 may report (a bad encoding) while xmlCreatePushParserCtxt()
	 * still runs, before _private is set: create_ctxt() reads that error
	 * from the context instead. */
	if (st == NULL || e == NULL || e->level < XML_ERR_ERROR || e->domain == XML_FROM_NAMESPACE)
		return;
	if (st->err_have && (st->err_fatal || e->level != XML_ERR_FATAL))
		return;
	st->err_have = 1;
	st->err_fatal = e->level == XML_ERR_FATAL;
	st->err_line = e->line;
	st->err_col = e->int2;
	/* An error inside an entity's replacement text comes from the context
	 * libxml2 makes to parse that text, whose lines count from 1: name
	 * the place of the reference in the document instead. */
	if ((xmlParserCtxtPtr)ud != st->ctxt && st->ctxt != NULL && st->ctxt->input != NULL) {
		st->err_line = st->ctxt->input->line;
		st->err_col = st->ctxt->input->col;
	}
	snprintf(st->err_msg, sizeof(st->err_msg), "%s", e->message ? e->message : "parse error");
	n = strlen(st->err_msg);
	while (n > 0 && ps_is_space((unsigned char)st->err_msg[n - 1]))
		st->err_msg[--n] = '\0';
	one_line(st->err_msg);
}

/*
 * libxml2's generic error handler, installed (for this thread only) just
 * around xmlParseChunk(): keeps the first line for the error message
 * instead of letting libxml2 print to stderr.
 */
static void on_generic_error(void *ctx, const char *fmt, ...) PS_PRINTF(2, 3);

static void
on_generic_error(void *ctx, const char *fmt, ...)
{
	xml_state *st = ctx;
	va_list ap;
	int w;

	if (st->gen_done || st->gen_len + 1 >= sizeof(st->gen_msg))
		return;
	va_start(ap, fmt);
	w = vsnprintf(st->gen_msg + st->gen_len, sizeof(st->gen_msg) - st->gen_len, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	st->gen_len += (size_t)w;
	if (st->gen_len >= sizeof(st->gen_msg))
		st->gen_len = sizeof(st->gen_msg) - 1;
	if (memchr(st->gen_msg, '\n', st->gen_len) != NULL) {
		st->gen_done = 1;
		while (st->gen_len > 0 && ps_is_space((unsigned char)st->gen_msg[st->gen_len - 1]))
			st->gen_msg[--st->gen_len] = '\0';
		one_line(st->gen_msg);
	}
}

/* xmlParseChunk() with libxml2's generic errors caught, not printed. */
static void
parse(xml_state *st, const char *buf, size_t n, int terminate)
{
	xmlGenericErrorFunc old = xmlGenericError;
	void *old_ctx = xmlGenericErrorContext;
	int ret;

	xmlSetGenericErrorFunc(st, on_generic_error);
	ret = xmlParseChunk(st->ctxt, buf, (int)n, terminate);
	xmlSetGenericErrorFunc(old_ctx, old);
	/* A parser halted (instate EOF) before the root closed has failed;
	 * namespace errors also make ret non-zero but never halt it. */
	if (ret != 0 && st->ctxt->instate == XML_PARSER_EOF && !st->root_closed)
		st->halted = 1;
}

/* ------------------------------------------------------------------ */
/* Parser hooks                                                        */

static int
check(xml_state *st)
{
	ps_feed *f = st->f;

	if (f->failed)
		return f->failed;
	if (!st->err_fatal && st->ctxt->wellFormed && !st->halted)
		return 0;
	if (!st->err_have && st->halted)
		return ps_feed__fail(f, PS_EFEED, "%s:%llu: XML parser stopped: %s", f->name,
		                     (unsigned long long)cur_line(st),
		                     st->gen_len ? st->gen_msg : "unknown error");
	if (st->err_have)
		return ps_feed__fail(
		    f, PS_EFEED, "%s:%llu:%d: not well-formed: %s%s", f->name,
		    (unsigned long long)((uint64_t)(st->err_line > 0 ? st->err_line : 0) +
		                         f->line_offset),
		    st->err_col, st->err_msg,
		    (strstr(st->err_msg, "ntity") &&
		     (strstr(st->err_msg, "loop") || strstr(st->err_msg, "amplification") ||
		      strstr(st->err_msg, "xceeded")))
		        ? " (entity expansion refused: a \"billion laughs\" document?)"
		        : "");
	return ps_feed__fail(f, PS_EFEED, "%s:%llu: not well-formed XML", f->name,
	                     (unsigned long long)cur_line(st));
}

/* Remembers the last bytes pushed. */
static void
keep_tail(xml_state *st, const char *buf, size_t n)
{
	const size_t cap = sizeof(st->tail);

	if (n >= cap) {
		memcpy(st->tail, buf + n - cap, cap);
		st->tail_len = cap;
		return;
	}
	if (st->tail_len + n > cap) {
		size_t drop = st->tail_len + n - cap;

		memmove(st->tail, st->tail + drop, st->tail_len - drop);
		st->tail_len -= drop;
	}
	memcpy(st->tail + st->tail_len, buf, n);
	st->tail_len += n;
}

/* Do the data end with the root's end tag ("</rss>", blanks allowed)? */
static int
ends_with_root_end(const xml_state *st)
{
	const char *t = st->tail;
	size_t n = st->tail_len, rlen = strlen(st->root);

	while (n > 0 && ps_is_space((unsigned char)t[n - 1]))
		n--;
	if (rlen == 0 || n < rlen + 3 || t[n - 1] != '>')
		return 0;
	n--;
	while (n > 0 && ps_is_space((unsigned char)t[n - 1]))
		n--;
	return n >= rlen + 2 && memcmp(t + n - rlen, st->root, rlen) == 0 &&
	       memcmp(t + n - rlen - 2, "</", 2) == 0;
}

static int
xml_init(ps_feed *f)
{
	xml_state *st;
	int a;

	xmlInitParser(); /* idempotent; a threaded main calls it first */
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
	f->pstate = st;
	st->f = f;
	ps_feed__xscan_init(&st->scan, 0);
	fbuf_init(&st->text, PS_FEED_MAX_FIELD);
	fbuf_init(&st->href, PS_FEED_MAX_FIELD);
	fbuf_init(&st->parttext, PS_FEED_MAX_FIELD);
	fbuf_init(&st->parts, PS_FEED_MAX_ITEM);
	fbuf_init(&st->extras, PS_FEED_MAX_ITEM);
	if (f->map != NULL && f->map->nnames > 0) {
		size_t i;

		/* On XML, a template's {name} is an element: slot = index. */
		st->nx = f->map->nnames;
		st->xoff = calloc(st->nx, sizeof(*st->xoff));
		st->xlen = calloc(st->nx, sizeof(*st->xlen));
		f->map->name_slot = calloc(st->nx, sizeof(*f->map->name_slot));
		if (st->xoff == NULL || st->xlen == NULL || f->map->name_slot == NULL)
			return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
		for (i = 0; i < st->nx; i++)
			f->map->name_slot[i] = (int)i;
	}
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		st->slot_of[a] = -1;
		if ((ps_attr_defs[a].type == PS_ATTR_TYPE_LIST || a == PS_ATTR_SHIPPING ||
		     a == PS_ATTR_TAX) &&
		    st->nslots < NSLOTS) {
			st->slot_of[a] = st->nslots;
			st->slot_attr[st->nslots] = a;
			fbuf_init(&st->multi[st->nslots], PS_FEED_MAX_ITEM);
			st->nslots++;
		}
	}

	/* SAX2 defaults (they keep the DTD's internal entities), then ours.
	 * No SAX1 element callbacks, no comments or PIs, nothing external. */
	xmlSAXVersion(&st->sax, 2);
	st->sax.startElement = NULL;
	st->sax.endElement = NULL;
	st->sax.startElementNs = on_start;
	st->sax.endElementNs = on_end;
	st->sax.characters = on_text;
	st->sax.ignorableWhitespace = on_text;
	st->sax.cdataBlock = on_text;
	st->sax.entityDecl = on_entity_decl;
	st->sax.attributeDecl = on_attribute_decl;
	st->sax.comment = NULL;
	st->sax.processingInstruction = NULL;
	st->sax.reference = NULL;
	st->sax.externalSubset = NULL;
	st->sax.resolveEntity = NULL;
	st->sax.setDocumentLocator = NULL;
	st->sax.warning = NULL;
	st->sax.error = NULL;
	st->sax.fatalError = NULL;
	st->sax.serror = on_error;
	return 0;
}

static int
create_ctxt(xml_state *st, const char **buf, size_t *len)
{
	ps_feed *f = st->f;
	size_t first = *len < 4 ? *len : 4; /* libxml2 sniffs the encoding */

	keep_tail(st, *buf, first);
	st->ctxt = xmlCreatePushParserCtxt(&st->sax, NULL, *buf, (int)first, f->name);
	if (st->ctxt == NULL)
		return ps_feed__fail(f, PS_ENOMEM, "%s: cannot create the XML parser", f->name);
	st->ctxt->_private = st;
	if (st->ctxt->errNo != XML_ERR_OK) {
		const xmlError *e = xmlCtxtGetLastError(st->ctxt);
		char msg[256];

		snprintf(msg, sizeof(msg), "%s",
		         e && e->message ? e->message : "cannot read the XML declaration");
		one_line(msg);
		return ps_feed__fail(f, PS_EFEED, "%s:1: %s", f->name, msg);
	}
	xmlCtxtUseOptions(st->ctxt, XML_PARSE_NONET);
	st->ctxt->replaceEntities = 0;
	st->ctxt->loadsubset = 0;
	st->ctxt->validate = 0;
	*buf += first;
	*len -= first;
	return 0;
}

/*
 * The place of the byte after everything pushed so far, as libxml2 counts
 * lines and columns: where its parser stands, moved over the bytes it
 * holds but has not parsed yet (a start tag waits whole for its '>'). The
 * scanner counts no lines itself, which would cost a pass over every byte
 * of every feed for the sake of one message.
 */
static void
pushed_end(const xml_state *st, uint64_t *line, uint64_t *col)
{
	const xmlParserInput *in = st->ctxt ? st->ctxt->input : NULL;
	const xmlChar *p;

	*line = 1;
	*col = 1;
	if (in == NULL || in->cur == NULL || in->end == NULL)
		return;
	*line = in->line > 0 ? (uint64_t)in->line : 1;
	*col = in->col > 0 ? (uint64_t)in->col : 1;
	for (p = in->cur; p < in->end; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else if ((*p & 0xC0) != 0x80) {
			(*col)++;
		}
	}
}

/* The scanner's refusal, once every byte before its place is parsed: the
 * place as libxml2 counts it, and the scanner's message. */
static int
scan_refused(ps_feed *f)
{
	xml_state *st = f->pstate;
	uint64_t line, col;

	if (st->scan.at_start) {
		line = 1;
		col = 1;
	} else {
		pushed_end(st, &line, &col);
	}
	/* In the internal subset libxml2's column depends on the pieces it was
	 * given (it waits there for the subset's end): the line is the place. */
	if (st->scan.in_dtd)
		return ps_feed__fail(f, PS_EFEED, "%s:%llu: %s", f->name,
		                     (unsigned long long)(line + f->line_offset), st->scan.msg);
	return ps_feed__fail(f, PS_EFEED, "%s:%llu:%llu: %s", f->name,
	                     (unsigned long long)(line + f->line_offset), (unsigned long long)col,
	                     st->scan.msg);
}

static int
scan_piece(void *ctx, const char *buf, size_t len, size_t *ok)
{
	return ps_feed__xscan(ctx, buf, len, ok);
}

/*
 * The bytes not read yet are scanned on the reading thread, ahead of the
 * parser (source.c), when the source can: xml_push() then has nothing to
 * scan, and a refusal comes as PS_FEED_SCAN_REFUSED from the read that
 * follows the last byte before its place (scan_refused()).
 */
static void
xml_prescan(ps_feed *f)
{
	xml_state *st = f->pstate;

	if (!f->failed)
		st->prescanned = ps_feed__source_prescan(&f->src, scan_piece, &st->scan);
}

static int
xml_push(ps_feed *f, const char *buf, size_t len, int last)
{
	xml_state *st = f->pstate;
	size_t ok = len;
	int rc, refused;

	/* The scanner first (xmlscan.c): a start tag with too many
	 * attributes must never reach libxml2. What comes before the place it
	 * refuses is still parsed, so that the items before it come out
	 * whatever the size of the pieces. */
	refused = len > 0 && !st->prescanned && ps_feed__xscan(&st->scan, buf, len, &ok) != 0;
	len = ok;
	if (len > 0 && st->ctxt == NULL && (rc = create_ctxt(st, &buf, &len)) != 0)
		return rc;
	while (len > 0) {
		size_t n = len < XML_MAX_PUSH ? len : XML_MAX_PUSH;

		keep_tail(st, buf, n);
		parse(st, buf, n, 0);
		if ((rc = check(st)) != 0)
			return rc;
		buf += n;
		len -= n;
	}
	if (refused)
		return scan_refused(f);
	if (!last)
		return 0;

	parse(st, NULL, 0, 1);
	if (f->failed)
		return f->failed;
	if (st->root_closed || ends_with_root_end(st)) {
		/* Complete data: any error is a real one. */
		if ((rc = check(st)) != 0)
			return rc;
	}
	if (!st->root_closed)
		return ps_feed__fail(f, PS_EFEED,
		                     "%s:%llu: document ends before its end (truncated?)", f->name,
		                     (unsigned long long)cur_line(st));
	if (f->nitems == 0)
		ps_feed__warn(f, "%s: no <item> or <entry> elements", f->name);
	return 0;
}

static void
xml_free(ps_feed *f)
{
	xml_state *st = f->pstate;
	int i;

	if (st == NULL)
		return;
	if (st->ctxt != NULL) {
		if (st->ctxt->myDoc != NULL)
			xmlFreeDoc(st->ctxt->myDoc);
		st->ctxt->myDoc = NULL;
		xmlFreeParserCtxt(st->ctxt);
	}
	fbuf_free(&st->text);
	fbuf_free(&st->href);
	fbuf_free(&st->parttext);
	fbuf_free(&st->parts);
	fbuf_free(&st->extras);
	free(st->xoff);
	free(st->xlen);
	for (i = 0; i < st->nslots; i++)
		fbuf_free(&st->multi[i]);
	free(st);
	f->pstate = NULL;
}

const ps_parser_ops ps_feed__xml_parser = {"xml",     xml_init,     xml_push,
                                            xml_free,  xml_prescan, scan_refused};
