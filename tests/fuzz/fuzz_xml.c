/*
 * fuzz_xml.c: libFuzzer target for the XML reader (xml.c over libxml2's
 * SAX2 push parser) and the gzip source. The first byte picks the read
 * chunk size, so that element and entity boundaries fall everywhere, and
 * (bit 2) whether the parser runs on its own thread (pipeline.c).
 *
 * The same input also goes to the scanner xml.c runs before libxml2
 * (xmlscan.c, ps_feed__xscan()), which is checked two ways:
 *   - any split: whole, in two pieces cut where the first byte says, and
 *     a byte at a time, it refuses at the same byte with the same reason;
 *   - against libxml2: when libxml2 finds the document well-formed, the
 *     scanner refuses it for its attributes exactly when some start tag of
 *     the document itself (not of an entity's text, not defaulted by the
 *     DTD) carries more than PS_FEED_MAX_ATTRIBUTES attributes and
 *     namespace declarations. A tag it missed would be the quadratic cost
 *     back; a tag it saw that is not there, a good feed refused.
 */
#include "fuzz_common.h"

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

#include "feeds_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Scans p[0..n) in pieces ending at cuts[]; the absolute offset refused
 * at (msg set), or n. */
static size_t
xscan(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts, char *msg, size_t cap)
{
	ps_xscan s;
	size_t at = 0, k, used;

	ps_feed__xscan_init(&s, 0);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : n;

		if (ps_feed__xscan(&s, (const char *)p + at, end - at, &used) != 0) {
			snprintf(msg, cap, "%s", s.msg);
			/* refused for its encoding: the place is the start,
			 * whichever piece made it known */
			return s.at_start ? 0 : at + used;
		}
		at = end;
	}
	msg[0] = '\0';
	return n;
}

typedef struct oracle {
	xmlParserCtxtPtr ctxt;
	int max; /* attributes + namespaces of the busiest start tag */
} oracle;

static void
oracle_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
             int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
             const xmlChar **attributes)
{
	xmlParserCtxtPtr c = ud;
	oracle *o = c->_private;
	int n = nb_attributes - nb_defaulted + nb_namespaces;

	(void)local;
	(void)prefix;
	(void)uri;
	(void)namespaces;
	(void)attributes;
	/* libxml2 parses an entity's text with a context of its own */
	if (o != NULL && c == o->ctxt && n > o->max)
		o->max = n;
}

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_ptr;
#else
typedef xmlErrorPtr xml_error_ptr;
#endif

static void
oracle_quiet(void *ud, xml_error_ptr e)
{
	(void)ud;
	(void)e;
}

/* libxml2's verdict, parsed as xml.c parses (SAX2, no DTD loading, no
 * entity substitution): 1 well-formed (*max set), 0 not. */
static int
oracle_parse(const uint8_t *p, size_t n, int *max)
{
	xmlSAXHandler sax;
	xmlParserCtxtPtr c;
	oracle o = {NULL, 0};
	int ok;

	if (n < 4 || n > (size_t)INT32_MAX)
		return 0;
	xmlSAXVersion(&sax, 2);
	sax.startElementNs = oracle_start;
	sax.startElement = NULL;
	sax.characters = NULL;
	sax.ignorableWhitespace = NULL;
	sax.cdataBlock = NULL;
	sax.comment = NULL;
	sax.warning = NULL;
	sax.error = NULL;
	sax.fatalError = NULL;
	sax.serror = oracle_quiet;
	sax.externalSubset = NULL;
	sax.resolveEntity = NULL;
	c = xmlCreatePushParserCtxt(&sax, NULL, (const char *)p, 4, NULL);
	if (c == NULL)
		return 0;
	o.ctxt = c;
	c->_private = &o;
	xmlCtxtUseOptions(c, XML_PARSE_NONET);
	c->replaceEntities = 0;
	c->loadsubset = 0;
	c->validate = 0;
	xmlParseChunk(c, (const char *)p + 4, (int)(n - 4), 1);
	ok = c->wellFormed && c->errNo == XML_ERR_OK;
	*max = o.max;
	if (c->myDoc != NULL)
		xmlFreeDoc(c->myDoc);
	c->myDoc = NULL;
	xmlFreeParserCtxt(c);
	return ok;
}

static void
check_scanner(const uint8_t *p, size_t n, unsigned pick)
{
	char msg[256], msg2[256];
	size_t whole, cut, *ones;
	size_t k;
	int max;

	whole = xscan(p, n, NULL, 0, msg, sizeof(msg));
	cut = n ? (size_t)pick * 257 % (n + 1) : 0;
	if (xscan(p, n, &cut, 1, msg2, sizeof(msg2)) != whole || strcmp(msg, msg2) != 0)
		abort();
	if (n <= 4096 && n > 0) {
		ones = malloc(n * sizeof(*ones));
		if (ones == NULL)
			return;
		for (k = 0; k < n; k++)
			ones[k] = k;
		if (xscan(p, n, ones, n, msg2, sizeof(msg2)) != whole || strcmp(msg, msg2) != 0)
			abort();
		free(ones);
	}

	if (!oracle_parse(p, n, &max))
		return;
	if (whole < n && strncmp(msg, "more than", 9) != 0)
		return; /* refused for its encoding: libxml2 may read it */
	if ((max > PS_FEED_MAX_ATTRIBUTES) != (whole < n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	char path[64];
	int fd;

	if (size < 1)
		return 0;
	check_scanner(data + 1, size - 1, data[0]);
	o.format = PS_FORMAT_XML;
	o.chunk_size = 1 + (size_t)data[0] * 37;
	o.max_inflated = 1 << 20;
	o.default_currency = (data[0] & 1) ? "EUR" : NULL;
	o.base_url = (data[0] & 2) ? "https://shop.example" : NULL;
	o.single_thread = (data[0] & 4) != 0;
	fd = fuzz_memfd(path, sizeof(path), data + 1, size - 1);
	if (fd < 0)
		return 0;
	fuzz_drain(path, &o);
	close(fd);
	return 0;
}
