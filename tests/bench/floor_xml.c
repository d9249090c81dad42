/*
 * floor_xml.c: the floor for XML feeds, the plain libxml2 SAX2 extraction
 * pass that pinsync's XML path is measured against.
 *
 *   floor_xml [--html] FILE [CHUNK]
 *
 * Reads FILE in CHUNK-byte pieces (default 256 KiB, pinsync's read size),
 * inflating it in process first when it starts with the gzip magic, and
 * pushes them through xmlParseChunk() with SAX2 callbacks that copy the text
 * of the g: children of each <item> into one item buffer; at </item> the
 * fields are hashed with XXH3-64 (name length, name, value length, value,
 * as pinsync's canonical hash does). Nothing else: no mapping, no
 * normalisation, no validation, no diff. Prints the item count, an
 * order-independent checksum of the hashes and the bytes read.
 *
 * With --html, the title and description that hold markup are turned into
 * text first by pinsync's own conversion (feeds/html.c, linked in), in
 * place, as pinsync's normalisation does: the floor plus the one piece of
 * pinsync's work that grows with the HTML in a feed (issue 15), a
 * reference for how much of a dry run's time that work explains.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#include <zlib.h>

#include "feeds_int.h" /* ps_feed__looks_html(), ps_feed__html_to_text() */

#define G_NS "http://base.google.com/ns/1.0"
#define MAX_FIELDS 64

typedef struct state {
	int depth, item_depth, in_field;
	char *buf;
	size_t len, cap;
	struct {
		const xmlChar *name;
		size_t off, len;
	} f[MAX_FIELDS];
	int nf;
	uint64_t items, sum;
	int html; /* --html */
} state;

static void
grow(state *st, size_t need)
{
	while (st->len + need > st->cap) {
		st->cap = st->cap ? st->cap * 2 : 65536;
		if ((st->buf = realloc(st->buf, st->cap)) == NULL) {
			fputs("floor_xml: out of memory\n", stderr);
			exit(1);
		}
	}
}

static void
on_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
         const xmlChar **nss, int nattrs, int ndef, const xmlChar **attrs)
{
	state *st = ctx;

	st->depth++;
	if (st->item_depth == 0) {
		if (uri == NULL && strcmp((const char *)local, "item") == 0) {
			st->item_depth = st->depth;
			st->nf = 0;
			st->len = 0;
		}
		return;
	}
	if (st->depth == st->item_depth + 1 && uri && strcmp((const char *)uri, G_NS) == 0 &&
	    st->nf < MAX_FIELDS) {
		st->in_field = 1;
		st->f[st->nf].name = local;
		st->f[st->nf].off = st->len;
	}
}

static void
on_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	state *st = ctx;

	if (st->in_field && st->depth == st->item_depth + 1) {
		size_t off = st->f[st->nf].off, len = st->len - off;

		if (st->html &&
		    (strcmp((const char *)local, "title") == 0 ||
		     strcmp((const char *)local, "description") == 0) &&
		    ps_feed__looks_html(st->buf + off, len)) {
			len = ps_feed__html_to_text(st->buf + off, st->buf + off, len);
			st->len = off + len;
		}
		st->f[st->nf].len = len;
		st->nf++;
		st->in_field = 0;
	} else if (st->item_depth && st->depth == st->item_depth) {
		/* The item: hash its fields in document order. */
		unsigned char head[128];
		XXH3_state_t h;
		int i;

		XXH3_INITSTATE(&h);
		XXH3_64bits_reset(&h);
		for (i = 0; i < st->nf; i++) {
			size_t nlen = strlen((const char *)st->f[i].name), k = 0, j;
			uint64_t vlen = st->f[i].len;

			if (nlen > 100)
				nlen = 100;
			head[k++] = (unsigned char)nlen;
			head[k++] = (unsigned char)(nlen >> 8);
			memcpy(head + k, st->f[i].name, nlen);
			k += nlen;
			for (j = 0; j < 8; j++)
				head[k++] = (unsigned char)(vlen >> (8 * j));
			XXH3_64bits_update(&h, head, k);
			XXH3_64bits_update(&h, st->buf + st->f[i].off, st->f[i].len);
		}
		st->sum += XXH3_64bits_digest(&h);
		st->items++;
		st->item_depth = 0;
	}
	st->depth--;
}

static void
on_text(void *ctx, const xmlChar *text, int len)
{
	state *st = ctx;

	if (!st->in_field)
		return;
	grow(st, (size_t)len);
	memcpy(st->buf + st->len, text, (size_t)len);
	st->len += (size_t)len;
}

int
main(int argc, char **argv)
{
	unsigned char *in, *plain = NULL;
	xmlSAXHandler sax;
	xmlParserCtxtPtr ctxt = NULL;
	state st;
	z_stream z;
	int gz = 0, first = 1, zdone = 0;
	uint64_t bytes = 0;
	FILE *f;
	size_t n, chunk;
	int html = argc > 1 && strcmp(argv[1], "--html") == 0;

	argc -= html;
	argv += html;
	if (argc < 2) {
		fputs("usage: floor_xml [--html] FILE [CHUNK]\n", stderr);
		return 2;
	}
	chunk = argc > 2 ? strtoul(argv[2], NULL, 10) : 256 * 1024;
	if ((f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "floor_xml: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	in = malloc(chunk);
	plain = malloc(chunk);
	memset(&st, 0, sizeof(st));
	st.html = html;
	memset(&sax, 0, sizeof(sax));
	memset(&z, 0, sizeof(z));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = on_start;
	sax.endElementNs = on_end;
	sax.characters = on_text;
	sax.cdataBlock = on_text;

	while ((n = fread(in, 1, chunk, f)) > 0) {
		bytes += n;
		if (first) {
			gz = n >= 2 && in[0] == 0x1f && in[1] == 0x8b;
			if (gz && inflateInit2(&z, 15 + 32) != Z_OK)
				return 1;
		}
		if (!gz) {
			if (first) {
				ctxt = xmlCreatePushParserCtxt(&sax, &st, (const char *)in, (int)n, argv[1]);
				xmlCtxtUseOptions(ctxt, XML_PARSE_NONET);
			} else if (xmlParseChunk(ctxt, (const char *)in, (int)n, 0) != 0) {
				break;
			}
			first = 0;
			continue;
		}
		z.next_in = in;
		z.avail_in = (uInt)n;
		while (z.avail_in > 0 && !zdone) {
			size_t got;
			int rc;

			z.next_out = plain;
			z.avail_out = (uInt)chunk;
			rc = inflate(&z, Z_NO_FLUSH);
			if (rc != Z_OK && rc != Z_STREAM_END) {
				fprintf(stderr, "floor_xml: inflate: %d\n", rc);
				return 1;
			}
			zdone = rc == Z_STREAM_END;
			got = chunk - z.avail_out;
			if (got == 0)
				continue;
			if (ctxt == NULL) {
				ctxt = xmlCreatePushParserCtxt(&sax, &st, (const char *)plain, (int)got,
				                               argv[1]);
				xmlCtxtUseOptions(ctxt, XML_PARSE_NONET);
			} else if (xmlParseChunk(ctxt, (const char *)plain, (int)got, 0) != 0) {
				break;
			}
		}
		first = 0;
	}
	if (ctxt == NULL) {
		fputs("floor_xml: empty input\n", stderr);
		return 1;
	}
	xmlParseChunk(ctxt, NULL, 0, 1);
	if (!ctxt->wellFormed) {
		fprintf(stderr, "floor_xml: %s: not well-formed\n", argv[1]);
		return 1;
	}
	xmlFreeParserCtxt(ctxt);
	if (gz)
		inflateEnd(&z);
	fclose(f);
	printf("items %" PRIu64 " checksum %016" PRIx64 " bytes %" PRIu64 "\n", st.items, st.sum,
	       bytes);
	free(in);
	free(plain);
	free(st.buf);
	return 0;
}
