/*
 * cmd_check.c: pinsync check FEED: parse and validate a feed locally, with
 * no database and no API, fast enough for a store's CI.
 *
 * Prints the counts (items, valid, invalid, duplicates, skipped rows,
 * bytes, seconds, items/s, peak RSS), the first problems with their place
 * (CSV line, or XML item index and line), a summary per problem kind
 * (code and attribute -> count), the feed's warnings, and a verdict. Exit
 * 0 when the feed is usable (read to its end with at least one valid
 * item, or unchanged at source), 3 (PS_EXIT_FEED) when it is not, with the
 * reason; 2 for a usage or configuration error (bad flag, bad mapping
 * file, unknown preset). --json prints one JSON object instead.
 *
 * Duplicates: a set of 64-bit hashes of the ids of valid items (XXH3):
 * the second valid item with an id already seen is reported, as the diff
 * stage of a run does (sync/diffmap.c): the first VALID occurrence wins,
 * an invalid item never hides a valid one (reported as invalid, and also
 * as a duplicate when a valid item had its id before it). 8 bytes per item, at a load under 1/2
 * (a false duplicate needs a 64-bit collision: ~3e-8 at 1M items).
 * --no-duplicates skips the set; memory is then flat in the feed's size.
 */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <xxhash.h>
#include <yajl/yajl_gen.h>

#include "cli_int.h"
#include "feeds.h"
#include "log.h"

#define CHECK_SHOWN 20  /* problems printed in full */
#define CHECK_KINDS 512 /* distinct code+attribute pairs counted */

typedef struct check_args {
	ps_feed_options fo;
	int json;
	int max_shown;
	int dump;    /* --items N: print the first N items, normalised */
	int no_dups; /* --no-duplicates: no id set (memory then flat) */
} check_args;

typedef struct shown_problem {
	char place[64];
	char id[64];
	const char *attr;
	const char *code;
	char message[160];
} shown_problem;

typedef struct kind {
	const char *code; /* static strings from feeds/ */
	int attr;
	uint64_t count;
} kind;

typedef struct idset {
	uint64_t *slots;
	size_t cap, n;
} idset;

typedef struct check_state {
	uint64_t items, valid, invalid, duplicates;
	shown_problem *shown;
	int nshown, max_shown;
	kind kinds[CHECK_KINDS];
	int nkinds;
	uint64_t other_kinds;
	idset ids;
} check_state;

/* Whether h is in s. */
static int
idset_has(const idset *s, uint64_t h)
{
	size_t i;

	if (h == 0)
		h = 1;
	for (i = h & (s->cap - 1); s->cap && s->slots[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == h)
			return 1;
	return 0;
}

/* Adds h; 1 if it was new, 0 if seen, -1 out of memory. */
static int
idset_add(idset *s, uint64_t h)
{
	size_t i;

	if (h == 0)
		h = 1;
	if (2 * (s->n + 1) > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024, k;
		uint64_t *ns = calloc(ncap, sizeof(*ns));

		if (ns == NULL)
			return -1;
		for (k = 0; k < s->cap; k++) {
			if (s->slots[k] == 0)
				continue;
			for (i = s->slots[k] & (ncap - 1); ns[i] != 0; i = (i + 1) & (ncap - 1))
				;
			ns[i] = s->slots[k];
		}
		free(s->slots);
		s->slots = ns;
		s->cap = ncap;
	}
	for (i = h & (s->cap - 1); s->slots[i] != 0; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i] == h)
			return 0;
	}
	s->slots[i] = h;
	s->n++;
	return 1;
}

static void
place_of(char *out, size_t cap, const ps_item *it, ps_feed_format fmt)
{
	if (fmt == PS_FORMAT_XML)
		snprintf(out, cap, "item %" PRIu64 " (line %" PRIu64 ")", it->index, it->line);
	else
		snprintf(out, cap, "line %" PRIu64, it->line);
}

static void
count_kind(check_state *cs, const char *code, int attr)
{
	int i;

	for (i = 0; i < cs->nkinds; i++) {
		if (cs->kinds[i].attr == attr && strcmp(cs->kinds[i].code, code) == 0) {
			cs->kinds[i].count++;
			return;
		}
	}
	if (cs->nkinds == CHECK_KINDS) {
		cs->other_kinds++;
		return;
	}
	cs->kinds[cs->nkinds].code = code;
	cs->kinds[cs->nkinds].attr = attr;
	cs->kinds[cs->nkinds].count = 1;
	cs->nkinds++;
}

static void
show(check_state *cs, const ps_item *it, ps_feed_format fmt, int attr, const char *code,
     const char *message)
{
	shown_problem *p;
	const ps_slice *id = &it->values[PS_ATTR_ID];

	count_kind(cs, code, attr);
	if (cs->nshown >= cs->max_shown)
		return;
	p = &cs->shown[cs->nshown++];
	place_of(p->place, sizeof(p->place), it, fmt);
	snprintf(p->id, sizeof(p->id), "%.*s", id->ptr ? (int)(id->len > 60 ? 60 : id->len) : 0,
	         id->ptr ? id->ptr : "");
	p->attr = attr >= 0 ? ps_attr_defs[attr].name : "item";
	p->code = code;
	snprintf(p->message, sizeof(p->message), "%s", message);
}

static int
kind_cmp(const void *a, const void *b)
{
	const kind *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->code, y->code);
}

static long
peak_rss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return ru.ru_maxrss; /* KiB on Linux */
}

static int
check_flag(void *ctx, int opt, const char *arg)
{
	check_args *a = ctx;
	char *end = NULL;

	switch (opt) {
	case 'f':
		if (ps_feed_format_parse(&a->fo.format, arg) < 0)
			return ps_cli_usage_error(NULL, "--format must be auto, xml, csv or tsv");
		return 0;
	case 'm': a->fo.map_file = arg; return 0;
	case 'p': a->fo.preset = arg; return 0;
	case 'b': a->fo.base_url = arg; return 0;
	case 'c': a->fo.default_currency = arg; return 0;
	case 'j': a->json = 1; return 0;
	case 'D': a->no_dups = 1; return 0;
	case 'E': a->fo.etag = arg; return 0;
	case 'L': a->fo.last_modified = arg; return 0;
	case 'P': a->fo.password_file = arg; return 0;
	case 'A': a->fo.ca_file = arg; return 0;
	case 'G':
		a->fo.max_inflated = strtoull(arg, &end, 10);
		if (end == arg || *end != '\0' || a->fo.max_inflated == 0)
			return ps_cli_usage_error(NULL, "--max-gzip-bytes needs a positive number");
		return 0;
	case 'i':
		a->dump = (int)strtol(arg, &end, 10);
		if (end == arg || *end != '\0' || a->dump < 0)
			return ps_cli_usage_error(NULL, "--items needs a number");
		return 0;
	case 'n':
		a->max_shown = (int)strtol(arg, &end, 10);
		if (end == arg || *end != '\0' || a->max_shown < 0 || a->max_shown > 100000)
			return ps_cli_usage_error(NULL, "--show needs a number from 0 to 100000");
		return 0;
	default: return PS_EXIT_USAGE;
	}
}

#define GS(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

static void
gen_kv_str(yajl_gen g, const char *k, const char *v)
{
	GS(g, k);
	if (v == NULL)
		yajl_gen_null(g);
	else
		GS(g, v);
}

static void
gen_kv_int(yajl_gen g, const char *k, long long v)
{
	GS(g, k);
	yajl_gen_integer(g, v);
}

/*
 * Prints an item as "attribute=value" lines in table order: a LIST value
 * one line per element, a line break in a value as \n, a backslash as \\.
 */
static void
dump_item(FILE *out, const ps_item *it, const char *place)
{
	int a;

	fprintf(out, "# %s\n", place);
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice v = it->values[a];
		size_t i;

		if (v.ptr == NULL)
			continue;
		fprintf(out, "%s=", ps_attr_defs[a].name);
		for (i = 0; i < v.len; i++) {
			char c = v.ptr[i];

			if (c == PS_LIST_SEP)
				fprintf(out, "\n%s=", ps_attr_defs[a].name);
			else if (c == '\n')
				fputs("\\n", out);
			else if (c == '\\')
				fputs("\\\\", out);
			else
				fputc(c, out);
		}
		fputc('\n', out);
	}
	for (a = 0; a < it->nproblems; a++)
		fprintf(out, "! %s %s: %s\n", it->problems[a].code,
		        it->problems[a].attr >= 0 ? ps_attr_defs[it->problems[a].attr].name
		                                  : "item",
		        it->problems[a].message);
}

/* The warnings, one per line, as a JSON array. */
static void
gen_lines(yajl_gen g, const char *text)
{
	yajl_gen_array_open(g);
	while (text && *text) {
		const char *e = strchr(text, '\n');
		size_t n = e ? (size_t)(e - text) : strlen(text);

		yajl_gen_string(g, (const unsigned char *)text, n);
		text += n + (e ? 1 : 0);
	}
	yajl_gen_array_close(g);
}

int
cmd_check(const command *cmd, ps_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
	                                     {"map", required_argument, NULL, 'm'},
	                                     {"preset", required_argument, NULL, 'p'},
	                                     {"base-url", required_argument, NULL, 'b'},
	                                     {"currency", required_argument, NULL, 'c'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"show", required_argument, NULL, 'n'},
	                                     {"items", required_argument, NULL, 'i'},
	                                     {"no-duplicates", no_argument, NULL, 'D'},
	                                     {"if-none-match", required_argument, NULL, 'E'},
	                                     {"if-modified-since", required_argument, NULL, 'L'},
	                                     {"password-file", required_argument, NULL, 'P'},
	                                     {"ca-file", required_argument, NULL, 'A'},
	                                     {"max-gzip-bytes", required_argument, NULL, 'G'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	check_args a;
	check_state cs;
	ps_feed *feed = NULL;
	ps_item *it;
	struct timespec t0, t1;
	const char *source, *reason = NULL, *etag = NULL, *lm = NULL;
	char why[600];
	double secs;
	int rc, frc, first, usable, unchanged = 0, i;
	ps_feed_format fmt = PS_FORMAT_AUTO;

	(void)s;
	memset(&a, 0, sizeof(a));
	{
		ps_feed_options init = PS_FEED_OPTIONS_INIT;

		a.fo = init;
	}
	a.max_shown = CHECK_SHOWN;
	memset(&cs, 0, sizeof(cs));
	first = ps_cli_parse_flags(cmd, argc, argv, opts, check_flag, &a, &rc);
	if (first < 0)
		return rc;
	if (first >= argc)
		return ps_cli_usage_error(cmd, "missing the FEED (a path, - for stdin, or a URL)");
	if (first + 1 < argc)
		return ps_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first + 1]);
	source = argv[first];
	if (ps_cli_url_has_password(source))
		ps_warn("the feed URL holds a password, which other users of the machine see in ps "
		        "while this command runs: give only the user in the URL "
		        "(https://USER@host/...) and the password with --password-file FILE");
	cs.max_shown = a.max_shown;
	cs.shown = calloc((size_t)(a.max_shown ? a.max_shown : 1), sizeof(*cs.shown));
	if (cs.shown == NULL) {
		ps_error("out of memory");
		return PS_EXIT_INTERNAL;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	frc = ps_feed_open(&feed, source, &a.fo);
	if (frc == PS_ENOMEM || feed == NULL) {
		ps_error("out of memory");
		rc = PS_EXIT_INTERNAL;
		goto done;
	}
	if (frc == PS_ERROR) {
		/* a configuration problem: bad mapping file, preset, currency */
		fprintf(stderr, "%s check: %s\n", ps_cli_progname, ps_feed_error(feed));
		rc = PS_EXIT_USAGE;
		goto done;
	}
	if (frc == PS_FEED_UNCHANGED) {
		unchanged = 1;
	} else if (frc == 0) {
		fmt = ps_feed_detected_format(feed);
		while ((frc = ps_feed_next(&it, feed)) == 0) {
			const ps_slice *id = &it->values[PS_ATTR_ID];

			cs.items++;
			if (cs.items <= (uint64_t)a.dump) {
				char place[64];

				place_of(place, sizeof(place), it, fmt);
				dump_item(a.json ? stderr : stdout, it, place);
			}
			if (it->nproblems > 0) {
				/* Never in the id set: an invalid item does not hide a
				 * valid one with its id, before or after it. */
				cs.invalid++;
				for (i = 0; i < it->nproblems; i++)
					show(&cs, it, fmt, it->problems[i].attr,
					     it->problems[i].code, it->problems[i].message);
				if (!a.no_dups && id->ptr && id->len &&
				    idset_has(&cs.ids, XXH3_64bits(id->ptr, id->len)))
					show(&cs, it, fmt, PS_ATTR_ID, "duplicate",
					     "duplicate id: a run sends the earlier valid item");
				continue;
			}
			rc = a.no_dups ? 1 : idset_add(&cs.ids, XXH3_64bits(id->ptr, id->len));
			if (rc < 0) {
				ps_error("out of memory");
				rc = PS_EXIT_INTERNAL;
				goto done;
			}
			if (rc == 0) {
				char msg[160];

				cs.duplicates++;
				snprintf(msg, sizeof(msg),
				         "duplicate id \"%.*s\": the first valid item wins",
				         (int)(id->len > 100 ? 100 : id->len), id->ptr);
				show(&cs, it, fmt, PS_ATTR_ID, "duplicate", msg);
				continue;
			}
			cs.valid++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ps_feed_validators(feed, &etag, &lm);

	if (unchanged) {
		usable = 1;
	} else if (frc != PS_ITEROVER) {
		usable = 0;
		reason = ps_feed_error(feed);
	} else if (cs.valid == 0) {
		usable = 0;
		snprintf(why, sizeof(why), "%s",
		         cs.items == 0 ? "the feed has no items" : "no item is valid");
		reason = why;
	} else {
		usable = 1;
	}
	qsort(cs.kinds, (size_t)cs.nkinds, sizeof(cs.kinds[0]), kind_cmp);

	if (a.json) {
		yajl_gen g = yajl_gen_alloc(NULL);
		const unsigned char *buf;
		size_t len;

		if (g == NULL) {
			rc = PS_EXIT_INTERNAL;
			goto done;
		}
		yajl_gen_map_open(g);
		/* the feed's own name: a URL's password shown as *** */
		gen_kv_str(g, "feed", ps_feed_name(feed));
		gen_kv_str(g, "format", ps_feed_format_name(fmt));
		GS(g, "usable");
		yajl_gen_bool(g, usable);
		GS(g, "unchanged");
		yajl_gen_bool(g, unchanged);
		gen_kv_str(g, "reason", reason);
		gen_kv_int(g, "items", (long long)cs.items);
		gen_kv_int(g, "valid", (long long)cs.valid);
		gen_kv_int(g, "invalid", (long long)cs.invalid);
		gen_kv_int(g, "duplicates", (long long)cs.duplicates);
		gen_kv_int(g, "skipped", (long long)ps_feed_skipped(feed));
		gen_kv_int(g, "bytes", (long long)ps_feed_bytes_read(feed));
		GS(g, "seconds");
		yajl_gen_double(g, secs);
		GS(g, "items_per_second");
		yajl_gen_double(g, secs > 0 ? (double)cs.items / secs : 0);
		gen_kv_int(g, "peak_rss_kb", peak_rss_kb());
		gen_kv_int(g, "http_status", ps_feed_http_status(feed));
		gen_kv_str(g, "etag", etag);
		gen_kv_str(g, "last_modified", lm);
		GS(g, "problems");
		yajl_gen_array_open(g);
		for (i = 0; i < cs.nshown; i++) {
			yajl_gen_map_open(g);
			gen_kv_str(g, "place", cs.shown[i].place);
			gen_kv_str(g, "id", cs.shown[i].id);
			gen_kv_str(g, "attribute", cs.shown[i].attr);
			gen_kv_str(g, "code", cs.shown[i].code);
			gen_kv_str(g, "message", cs.shown[i].message);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		GS(g, "summary");
		yajl_gen_array_open(g);
		for (i = 0; i < cs.nkinds; i++) {
			yajl_gen_map_open(g);
			gen_kv_str(g, "code", cs.kinds[i].code);
			gen_kv_str(g, "attribute",
			           cs.kinds[i].attr >= 0 ? ps_attr_defs[cs.kinds[i].attr].name
			                                 : "item");
			gen_kv_int(g, "count", (long long)cs.kinds[i].count);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		GS(g, "warnings");
		gen_lines(g, ps_feed_warnings(feed));
		yajl_gen_map_close(g);
		if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
			printf("%.*s\n", (int)len, (const char *)buf);
		yajl_gen_free(g);
	} else {
		printf("feed: %s (%s)\n", ps_feed_name(feed), ps_feed_format_name(fmt));
		if (unchanged) {
			printf("unchanged at source: HTTP 304, nothing parsed\n");
		} else {
			printf("items: %" PRIu64 "  valid: %" PRIu64 "  invalid: %" PRIu64
			       "  duplicates: %" PRIu64 "  skipped rows: %" PRIu64 "\n",
			       cs.items, cs.valid, cs.invalid, cs.duplicates,
			       ps_feed_skipped(feed));
			printf("bytes: %" PRIu64
			       "  seconds: %.3f  items/s: %.0f  peak RSS: %ld KiB\n",
			       ps_feed_bytes_read(feed), secs,
			       secs > 0 ? (double)cs.items / secs : 0.0, peak_rss_kb());
		}
		if (cs.nshown > 0) {
			printf("\nfirst problems:\n");
			for (i = 0; i < cs.nshown; i++)
				printf("  %s%s%s%s: %s: %s\n", cs.shown[i].place,
				       cs.shown[i].id[0] ? " [" : "", cs.shown[i].id,
				       cs.shown[i].id[0] ? "]" : "", cs.shown[i].code,
				       cs.shown[i].message);
		}
		if (cs.nkinds > 0) {
			printf("\nproblems by kind:\n");
			for (i = 0; i < cs.nkinds; i++)
				printf("  %-10s %-26s %" PRIu64 "\n", cs.kinds[i].code,
				       cs.kinds[i].attr >= 0 ? ps_attr_defs[cs.kinds[i].attr].name
				                             : "item",
				       cs.kinds[i].count);
			if (cs.other_kinds > 0)
				printf("  (other kinds: %" PRIu64 ")\n", cs.other_kinds);
		}
		if (ps_feed_warnings(feed)[0])
			printf("\nwarnings:\n%s\n", ps_feed_warnings(feed));
		if (usable)
			printf("\nresult: usable%s\n", unchanged ? " (unchanged at source)" : "");
		else
			printf("\nresult: UNUSABLE: %s\n", reason);
	}
	rc = usable ? PS_EXIT_OK : PS_EXIT_FEED;
done:
	ps_feed_free(feed);
	free(cs.shown);
	free(cs.ids.slots);
	return rc;
}
