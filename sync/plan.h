/*
 * plan.h: the plan of a dry run, where it was asked for.
 *
 * Every planned operation ("UPDATE id [price, title]") goes to the full
 * plan, one line each, when there is one: a file (run --plan FILE), or
 * stdout when that is no terminal (a pipe or a file: scripts read the plan
 * line by line, as they always did). The summary goes to a terminal: per
 * operation its count and its first ids, so that a dry run of a million
 * new items stays readable (issue 15). Lines are gathered in a buffer and
 * written in large blocks: no stdio call per item.
 */
#ifndef PS_SYNC_PLAN_H
#define PS_SYNC_PLAN_H

#include <stddef.h>
#include <stdio.h>

typedef struct ps_plan ps_plan;

typedef struct ps_plan_options {
	FILE *full;    /* every operation, one line each; NULL: none */
	FILE *summary; /* counts and first ids per operation; NULL: none */
	int show;      /* ids per operation in the summary */
} ps_plan_options;

#define PS_PLAN_SHOW 10 /* the default of show */
#define PS_PLAN_OPTIONS_INIT {NULL, NULL, PS_PLAN_SHOW}

/* A new plan writing as o says; NULL when out of memory. Free it with
 * ps_plan_free(). */
ps_plan *ps_plan_new(const ps_plan_options *o);

/* Adds one operation: op (a static string such as "UPDATE"), the item id
 * id[0..len), and what follows it on its line (" [price, title]"; NULL:
 * nothing). Returns 0, or -1 when out of memory or a write failed
 * (ps_plan_error() says which). */
int ps_plan_add(ps_plan *p, const char *op, const char *id, size_t len, const char *detail);

/* Writes what is left of the full plan, then the summary (with hint, a
 * line telling where the full plan can be had, when ids were left out).
 * Returns 0, or -1 when a write failed. */
int ps_plan_finish(ps_plan *p, const char *hint);

/* Why the last call failed ("" when none did). */
const char *ps_plan_error(const ps_plan *p);

void ps_plan_free(ps_plan *p);

#endif /* PS_SYNC_PLAN_H */
