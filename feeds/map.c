/*
 * map.c: mapping files, and the row path of CSV/TSV feeds.
 *
 * A mapping file (ps_feed_options.map_file) has one rule per line:
 *
 *   source_name = pinterest_attribute    a column (CSV) or element (XML)
 *                                        gives that attribute; beats the
 *                                        built-in names
 *   source_name = -                      the column / element is ignored
 *   attribute = "constant"               the attribute is this text for
 *                                        every item ("" inside: a quote)
 *   attribute = text with {name} parts   a template: {name} is the value of
 *                                        the column / element "name" (or,
 *                                        if the feed has none, of the
 *                                        Pinterest attribute "name"); an
 *                                        item whose {name} is empty gets no
 *                                        value from the template
 *
 * Blank lines and lines starting with # are skipped; names are matched as
 * the built-in ones are (case-insensitive, trimmed, ' ' and '-' as '_'
 * for attributes). Constants and templates replace what the feed gave.
 * A bad line fails ps_feed_open() with "FILE:LINE: reason".
 *
 * The row path. A CSV feed with a preset or with constants/templates
 * is read row by row: csv.c keeps the fields of the columns some rule
 * needs (its "slots") in a row buffer and hands the row to
 * ps_feed__map_row(), which builds zero or more items: through the preset
 * (presets.c) or, without one, from the columns that name attributes;
 * then the constants and templates apply. Plain CSV feeds and renames
 * alone keep the direct path (fields copied once, straight to the arena).
 */
#include "feeds_int.h"

#include <stdio.h>
#include <strings.h>

#define MAP_FILE_MAX ((size_t)1 << 20) /* a mapping file is small */
#define MAP_LINE_MAX 4096

/* Folds a source name for comparison: trimmed, lowercase; for attribute
 * lookups ps_feed__attr_from_name() folds further. */
static size_t
fold(char *out, size_t cap, const char *p, size_t n)
{
	size_t i, k = 0;

	while (n > 0 && ps_is_space((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n > 0 && ps_is_space((unsigned char)p[n - 1]))
		n--;
	for (i = 0; i < n && k + 1 < cap; i++)
		out[k++] = (char)ps_lower((unsigned char)p[i]);
	out[k] = '\0';
	return k;
}

static int
name_eq(const char *folded, const char *p, size_t n)
{
	char buf[256];

	if (n >= sizeof(buf))
		return 0;
	fold(buf, sizeof(buf), p, n);
	return strcmp(buf, folded) == 0;
}

static void
map_free_rules(ps_map *m)
{
	size_t i;

	for (i = 0; i < m->nrenames; i++)
		free(m->renames[i].name);
	for (i = 0; i < m->nrules; i++) {
		free(m->rules[i].text);
		free(m->rules[i].refs);
	}
	for (i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->renames);
	free(m->rules);
	free(m->names);
	free(m->file);
}

void
ps_feed__map_free(ps_map *m)
{
	if (m == NULL)
		return;
	map_free_rules(m);
	free(m->colslot);
	free(m->slot_attr);
	free(m->name_slot);
	fbuf_free(&m->tmp);
	if (m->preset != NULL && m->preset->free != NULL)
		m->preset->free(m);
	free(m->pcol);
	free(m);
}

int
ps_feed__map_need(ps_map *m, const char *p, size_t n)
{
	char buf[256];
	size_t i;
	char **names;

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	fold(buf, sizeof(buf), p, n);
	for (i = 0; i < m->nnames; i++) {
		if (strcmp(m->names[i], buf) == 0)
			return (int)i;
	}
	names = realloc(m->names, (m->nnames + 1) * sizeof(*names));
	if (names == NULL)
		return -1;
	m->names = names;
	if ((names[m->nnames] = strdup(buf)) == NULL)
		return -1;
	return (int)m->nnames++;
}

/* Parses one line; writes a reason to why on error. */
static int
parse_line(ps_map *m, char *line, unsigned lineno, char *why, size_t whylen)
{
	char *eq, *lhs, *rhs;
	size_t llen, rlen;
	int a;

	while (ps_is_space((unsigned char)*line))
		line++;
	if (*line == '\0' || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (eq == NULL) {
		snprintf(why, whylen, "expected \"name = value\"");
		return -1;
	}
	lhs = line;
	llen = (size_t)(eq - line);
	while (llen > 0 && ps_is_space((unsigned char)lhs[llen - 1]))
		llen--;
	rhs = eq + 1;
	while (ps_is_space((unsigned char)*rhs))
		rhs++;
	rlen = strlen(rhs);
	while (rlen > 0 && ps_is_space((unsigned char)rhs[rlen - 1]))
		rlen--;
	rhs[rlen] = '\0';
	if (llen == 0) {
		snprintf(why, whylen, "nothing before \"=\"");
		return -1;
	}
	if (rlen == 0) {
		snprintf(why, whylen, "nothing after \"=\" (use - to ignore a column)");
		return -1;
	}

	if (rhs[0] == '"' || strchr(rhs, '{') != NULL) {
		/* attribute = "constant" | template */
		struct ps_map_rule *r, *rules;
		char *text;
		size_t i, o = 0;

		a = ps_feed__attr_exact(lhs, llen);
		if (a < 0) {
			snprintf(why, whylen, "\"%.*s\" is not a Pinterest attribute", (int)llen,
			         lhs);
			return -1;
		}
		rules = realloc(m->rules, (m->nrules + 1) * sizeof(*rules));
		if (rules == NULL)
			return PS_ENOMEM;
		m->rules = rules;
		r = &rules[m->nrules];
		memset(r, 0, sizeof(*r));
		r->attr = a;
		r->line = lineno;
		text = malloc(rlen + 1);
		if (text == NULL)
			return PS_ENOMEM;
		if (rhs[0] == '"') {
			/* "..." with "" for a quote */
			for (i = 1; i < rlen; i++) {
				if (rhs[i] == '"') {
					if (i + 1 < rlen && rhs[i + 1] == '"') {
						text[o++] = '"';
						i++;
						continue;
					}
					break;
				}
				text[o++] = rhs[i];
			}
			if (i != rlen - 1) {
				free(text);
				snprintf(why, whylen, "a constant is one quoted string: \"...\"");
				return -1;
			}
			text[o] = '\0';
			r->constant = 1;
		} else {
			size_t nrefs = 0;
			const char *p = rhs;

			memcpy(text, rhs, rlen + 1);
			for (p = rhs; (p = strchr(p, '{')) != NULL; p++)
				nrefs++;
			r->refs = malloc(nrefs * sizeof(*r->refs));
			if (r->refs == NULL) {
				free(text);
				return PS_ENOMEM;
			}
			for (p = rhs; (p = strchr(p, '{')) != NULL;) {
				const char *e = strchr(p, '}');
				int idx;

				if (e == NULL || e == p + 1 ||
				    memchr(p + 1, '{', (size_t)(e - p - 1))) {
					free(text);
					free(r->refs);
					snprintf(why, whylen,
					         "a template part is {name}, closed, not empty");
					return -1;
				}
				idx = ps_feed__map_need(m, p + 1, (size_t)(e - p - 1));
				if (idx < 0) {
					free(text);
					free(r->refs);
					return PS_ENOMEM;
				}
				r->refs[r->nrefs++] = idx;
				p = e + 1;
			}
			if (strchr(rhs, '}') != NULL && r->nrefs == 0) {
				free(text);
				free(r->refs);
				snprintf(why, whylen, "unbalanced }");
				return -1;
			}
		}
		r->text = text;
		m->nrules++;
		return 0;
	}

	/* source_name = attribute | - */
	{
		struct ps_map_rename *rn, *renames;

		if (strcmp(rhs, "-") == 0) {
			a = -2;
		} else {
			a = ps_feed__attr_exact(rhs, rlen);
			if (a < 0) {
				snprintf(why, whylen,
				         "\"%s\" is not a Pinterest attribute (a constant needs "
				         "quotes, a template {column})",
				         rhs);
				return -1;
			}
		}
		if (llen >= 256) {
			snprintf(why, whylen, "source name over 255 bytes");
			return -1;
		}
		renames = realloc(m->renames, (m->nrenames + 1) * sizeof(*renames));
		if (renames == NULL)
			return PS_ENOMEM;
		m->renames = renames;
		rn = &renames[m->nrenames];
		rn->attr = a;
		rn->line = lineno;
		rn->name = malloc(llen + 1);
		if (rn->name == NULL)
			return PS_ENOMEM;
		fold(rn->name, llen + 1, lhs, llen);
		m->nrenames++;
	}
	return 0;
}

static int
load_file(ps_feed *f, ps_map *m, const char *path)
{
	FILE *fp = NULL;
	char line[MAP_LINE_MAX + 2], why[256];
	unsigned lineno = 0;
	size_t total = 0;
	int rc = 0;

	m->file = strdup(path);
	if (m->file == NULL)
		return ps_feed__fail(f, PS_ENOMEM, "out of memory");
	fp = fopen(path, "r");
	if (fp == NULL)
		return ps_feed__fail(f, PS_ERROR, "%s: cannot read the mapping file", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t n = strlen(line);

		lineno++;
		total += n;
		if (total > MAP_FILE_MAX) {
			rc = ps_feed__fail(f, PS_ERROR, "%s:%u: mapping file over 1 MiB", path,
			                   lineno);
			goto done;
		}
		if (n > MAP_LINE_MAX && line[n - 1] != '\n') {
			rc = ps_feed__fail(f, PS_ERROR, "%s:%u: line over %d bytes", path, lineno,
			                   MAP_LINE_MAX);
			goto done;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
			memmove(line, line + 3, n - 2);
		why[0] = '\0';
		rc = parse_line(m, line, lineno, why, sizeof(why));
		if (rc == PS_ENOMEM) {
			rc = ps_feed__fail(f, PS_ENOMEM, "out of memory");
			goto done;
		}
		if (rc != 0) {
			rc = ps_feed__fail(f, PS_ERROR, "%s:%u: %s", path, lineno, why);
			goto done;
		}
	}
	if (ferror(fp))
		rc = ps_feed__fail(f, PS_ERROR, "%s: read error", path);
done:
	fclose(fp);
	return rc;
}

int
ps_feed__map_load(ps_feed *f)
{
	const ps_feed_options *o = &f->opts;
	ps_map *m;
	int rc;

	if ((o->map_file == NULL || o->map_file[0] == '\0') &&
	    (o->preset == NULL || o->preset[0] == '\0' || strcasecmp(o->preset, "none") == 0))
		return 0;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return ps_feed__fail(f, PS_ENOMEM, "out of memory");
	f->map = m;
	fbuf_init(&m->tmp, PS_FEED_MAX_FIELD);
	if (o->preset != NULL && o->preset[0] != '\0' && strcasecmp(o->preset, "none") != 0) {
		if ((rc = ps_feed__preset_init(f, m, o->preset)) != 0)
			return rc;
	}
	if (o->map_file != NULL && o->map_file[0] != '\0') {
		if ((rc = load_file(f, m, o->map_file)) != 0)
			return rc;
	}
	m->rows = m->preset != NULL || m->nrules > 0;
	return 0;
}

int
ps_feed__map_attr(const ps_feed *f, const char *name, size_t len)
{
	const ps_map *m = f->map;
	size_t i;

	if (m != NULL && m->nrenames > 0) {
		char buf[256];

		if (len < sizeof(buf)) {
			fold(buf, sizeof(buf), name, len);
			for (i = 0; i < m->nrenames; i++) {
				if (strcmp(m->renames[i].name, buf) == 0)
					return m->renames[i].attr;
			}
		}
	}
	if (m != NULL && m->preset != NULL)
		return -1; /* a preset names its columns itself */
	return ps_feed__attr_from_name(name, len);
}

/* ------------------------------------------------------------------ */
/* Header and rows                                                     */

int
ps_feed__map_header(ps_feed *f, const ps_slice *names, size_t ncols)
{
	ps_map *m = f->map;
	size_t c, i;
	int rc;

	m->colslot = malloc((ncols ? ncols : 1) * sizeof(*m->colslot));
	m->slot_attr = malloc((ncols ? ncols : 1) * sizeof(*m->slot_attr));
	m->name_slot = malloc((m->nnames ? m->nnames : 1) * sizeof(*m->name_slot));
	if (m->colslot == NULL || m->slot_attr == NULL || m->name_slot == NULL)
		return ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
	for (i = 0; i < m->nnames; i++)
		m->name_slot[i] = -1;
	m->nslots = 0;
	for (c = 0; c < ncols; c++) {
		int a = ps_feed__map_attr(f, names[c].ptr, names[c].len), needed = 0;
		char buf[256];

		m->colslot[c] = -1;
		if (names[c].len < sizeof(buf)) {
			fold(buf, sizeof(buf), names[c].ptr, names[c].len);
			for (i = 0; i < m->nnames; i++) {
				if (m->name_slot[i] < 0 && strcmp(m->names[i], buf) == 0) {
					m->name_slot[i] = (int)m->nslots;
					needed = 1;
				}
			}
		}
		if (a < 0 && !needed)
			continue;
		m->colslot[c] = (int)m->nslots;
		m->slot_attr[m->nslots] = a;
		m->nslots++;
	}
	if (m->preset != NULL) {
		int key = m->pcol[0];

		/* The first column of a preset identifies the export. */
		if (m->name_slot[key] < 0)
			return ps_feed__fail(
			    f, PS_EFEED, "%s: no \"%s\" column: not a %s export (preset %s)",
			    f->name, m->preset->columns[0], m->preset->name, m->preset->name);
		if ((rc = ps_feed__preset_header(f, m)) != 0)
			return rc;
	}
	/* A template part that names no column may name an attribute. */
	for (i = 0; i < m->nrules; i++) {
		struct ps_map_rule *r = &m->rules[i];
		size_t k;

		for (k = 0; k < r->nrefs; k++) {
			int idx = r->refs[k];

			if (m->name_slot[idx] >= 0)
				continue;
			if (ps_feed__attr_exact(m->names[idx], strlen(m->names[idx])) < 0)
				return ps_feed__fail(
				    f, PS_EFEED,
				    "%s:%u: {%s}: the feed has no such column and it "
				    "is not a Pinterest attribute",
				    m->file ? m->file : "map", r->line, m->names[idx]);
		}
	}
	return 0;
}

/* Value of needed name idx in the row, or of the attribute of that name in
 * the item in progress. */
static int
ref_value(ps_feed *f, const ps_row *row, int idx, const char **p, size_t *n)
{
	ps_map *m = f->map;
	int s = m->name_slot ? m->name_slot[idx] : -1, a;

	*p = NULL;
	*n = 0;
	if (row != NULL && s >= 0 && row->len[s] != PS_ROW_ABSENT) {
		*p = row->text + row->off[s];
		*n = row->len[s];
	} else if ((a = ps_feed__attr_exact(m->names[idx], strlen(m->names[idx]))) >= 0 &&
	           f->in_item && (f->cur.present & ((uint64_t)1 << a))) {
		*p = f->arena.ptr + f->cur.base + f->cur.off[a];
		*n = f->cur.len[a];
	}
	while (*n > 0 && ps_is_space((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ps_is_space((unsigned char)(*p)[*n - 1]))
		(*n)--;
	return *n > 0;
}

/* Percent-encodes what may not stand in a URL as it is. */
static int
put_url_part(ps_fbuf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c == '"' || c == '<' || c == '>' || c == 0x7F || c == '`') {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};

			if ((rc = fbuf_put(b, e, 3)) != 0)
				return rc;
		} else if ((rc = fbuf_putc(b, (char)c)) != 0) {
			return rc;
		}
	}
	return 0;
}

int
ps_feed__map_apply(ps_feed *f, const ps_row *row)
{
	ps_map *m = f->map;
	size_t i;
	int rc;

	if (m == NULL)
		return 0;
	for (i = 0; i < m->nrules; i++) {
		struct ps_map_rule *r = &m->rules[i];
		const int url = ps_feed__attr_is_url(r->attr);
		const char *t = r->text;
		size_t k = 0;
		int ok = 1;

		if (r->constant) {
			if ((rc = ps_feed__item_text(f, r->attr, t, strlen(t), 1)) != 0)
				return rc;
			continue;
		}
		m->tmp.len = 0;
		while (*t && ok) {
			const char *open = strchr(t, '{'), *v;
			size_t vn;

			if (open == NULL) {
				rc = fbuf_put(&m->tmp, t, strlen(t));
				break;
			}
			if ((rc = fbuf_put(&m->tmp, t, (size_t)(open - t))) != 0)
				break;
			ok = ref_value(f, row, r->refs[k++], &v, &vn);
			if (ok)
				rc = url ? put_url_part(&m->tmp, v, vn) : fbuf_put(&m->tmp, v, vn);
			if (rc != 0)
				break;
			t = strchr(open, '}') + 1;
		}
		if (rc != 0)
			return ps_feed__fail(f, rc, "%s:%llu: template value over the cap", f->name,
			                     (unsigned long long)f->cur.line);
		if (!ok)
			continue; /* an empty part: no value from this template */
		if ((rc = ps_feed__item_text(f, r->attr, m->tmp.ptr, m->tmp.len, 1)) != 0)
			return rc;
	}
	return 0;
}

int
ps_feed__map_row(ps_feed *f, const ps_row *row)
{
	ps_map *m = f->map;
	size_t s;
	int rc;

	if (m->preset != NULL)
		return m->preset->row(f, m, row);
	ps_feed__item_begin(f, row->line);
	for (s = 0; s < m->nslots; s++) {
		int a = m->slot_attr[s];

		if (a < 0 || row->len[s] == PS_ROW_ABSENT)
			continue;
		if ((rc = ps_feed__item_text(f, a, row->text + row->off[s], row->len[s], 0)) != 0)
			return rc;
	}
	if ((rc = ps_feed__map_apply(f, row)) != 0)
		return rc;
	return ps_feed__item_end(f);
}

int
ps_feed__map_finish(ps_feed *f)
{
	ps_map *m = f->map;

	if (m == NULL || m->preset == NULL || m->preset->finish == NULL)
		return 0;
	return m->preset->finish(f, m);
}

/* ------------------------------------------------------------------ */
/* XML                                                                 */

int
ps_feed__map_xml_wants(const ps_feed *f, const char *local, size_t len)
{
	const ps_map *m = f->map;
	size_t i;

	for (i = 0; m && i < m->nnames; i++) {
		if (name_eq(m->names[i], local, len))
			return (int)i;
	}
	return -1;
}
