/*
 * plan.c: the plan of a dry run: a full plan in blocks, a summary per
 * operation.
 */
#include "plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define PLAN_BLOCK (64 * 1024)       /* the full plan is written in blocks of this */
#define PLAN_LINE_MAX (1024 * 1024)  /* a line: an id and the attributes named */
#define PLAN_OPS 8                   /* distinct operations (5 exist) */
#define PLAN_SHOWN_MAX (1024 * 1024) /* bytes of the summary's lines, per operation */

typedef struct plan_op {
	const char *op; /* static */
	uint64_t count;
	int shown;
	ps_buf lines; /* the summary's first lines */
} plan_op;

struct ps_plan {
	ps_plan_options o;
	ps_buf block; /* full plan not yet written */
	plan_op ops[PLAN_OPS];
	int nops;
	char error[128];
};

ps_plan *
ps_plan_new(const ps_plan_options *o)
{
	ps_plan *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->o = *o;
	if (p->o.show < 0)
		p->o.show = 0;
	ps_buf_init(&p->block, PLAN_BLOCK + PLAN_LINE_MAX);
	return p;
}

static int
write_block(ps_plan *p)
{
	if (p->block.len && fwrite(p->block.data, 1, p->block.len, p->o.full) != p->block.len) {
		snprintf(p->error, sizeof(p->error), "writing the plan: %s", strerror(errno));
		return -1;
	}
	ps_buf_reset(&p->block);
	return 0;
}

static plan_op *
op_of(ps_plan *p, const char *op)
{
	int i;

	for (i = 0; i < p->nops; i++)
		if (p->ops[i].op == op || strcmp(p->ops[i].op, op) == 0)
			return &p->ops[i];
	if (p->nops == PLAN_OPS)
		return NULL;
	p->ops[p->nops].op = op;
	ps_buf_init(&p->ops[p->nops].lines, PLAN_SHOWN_MAX);
	return &p->ops[p->nops++];
}

/* Appends "op id detail\n" to b. */
static int
line(ps_buf *b, const char *op, const char *id, size_t len, const char *detail)
{
	return ps_buf_adds(b, op) < 0 || ps_buf_add(b, " ", 1) < 0 || ps_buf_add(b, id, len) < 0 ||
	               (detail && ps_buf_adds(b, detail) < 0) || ps_buf_add(b, "\n", 1) < 0
	           ? -1
	           : 0;
}

int
ps_plan_add(ps_plan *p, const char *op, const char *id, size_t len, const char *detail)
{
	plan_op *o = op_of(p, op);

	if (o == NULL) {
		snprintf(p->error, sizeof(p->error), "more than %d kinds of operation", PLAN_OPS);
		return -1;
	}
	o->count++;
	if (p->o.full) {
		if (line(&p->block, op, id, len, detail) < 0) {
			snprintf(p->error, sizeof(p->error), "out of memory for the plan");
			return -1;
		}
		if (p->block.len >= PLAN_BLOCK && write_block(p) < 0)
			return -1;
	}
	/* The summary's first ids; past its cap the count goes on alone. */
	if (p->o.summary && o->shown < p->o.show) {
		size_t before = o->lines.len;

		if (ps_buf_add(&o->lines, "  ", 2) == 0 &&
		    line(&o->lines, op, id, len, detail) == 0)
			o->shown++;
		else if (o->lines.data) /* a line too long for the cap: left out whole */
			o->lines.data[o->lines.len = before] = '\0';
	}
	return 0;
}

int
ps_plan_finish(ps_plan *p, const char *hint)
{
	int k, left_out = 0;

	if (p->o.full && (write_block(p) < 0 || fflush(p->o.full) != 0)) {
		if (p->error[0] == '\0')
			snprintf(p->error, sizeof(p->error), "writing the plan: %s",
			         strerror(errno));
		return -1;
	}
	if (p->o.summary == NULL)
		return 0;
	for (k = 0; k < p->nops; k++) {
		const plan_op *o = &p->ops[k];

		fprintf(p->o.summary, "%s: %" PRIu64 " item%s\n", o->op, o->count,
		        o->count == 1 ? "" : "s");
		fputs(ps_buf_str(&o->lines), p->o.summary);
		if (o->count > (uint64_t)o->shown) {
			fprintf(p->o.summary, "  ... and %" PRIu64 " more\n",
			        o->count - (uint64_t)o->shown);
			left_out = 1;
		}
	}
	if (left_out && hint)
		fprintf(p->o.summary, "%s\n", hint);
	return 0;
}

const char *
ps_plan_error(const ps_plan *p)
{
	return p ? p->error : "out of memory";
}

void
ps_plan_free(ps_plan *p)
{
	int k;

	if (p == NULL)
		return;
	ps_buf_free(&p->block);
	for (k = 0; k < p->nops; k++)
		ps_buf_free(&p->ops[k].lines);
	free(p);
}
