/*
 * pipeline.c: the parser on a thread of its own (issue 5).
 *
 * A feed's work splits in two about evenly: the parser side (reading,
 * libxml2 or the CSV state machine, assembling each item's raw fields) and
 * the per-item side (mapping done, normalisation, validation, the
 * canonical hash). On two cores they run at the same time: the parser
 * thread runs ps_feed__pump() in a loop and hands filled batches over
 * through a ring of PS_FEED_RING slots; the caller's thread takes one
 * batch at a time in ps_feed_next() and hands its items out one by one.
 *
 * Order: one producer, one consumer, a FIFO ring: items come out in feed
 * order. Memory: the parser waits for a free slot (back-pressure), so at
 * most PS_FEED_RING + 2 batches exist (ring, the one being filled, the one
 * being handed out), whatever the size of the feed.
 *
 * Errors: the parser thread publishes the items it completed, then says it
 * is done; only then does the caller read f->failed and f->error (after
 * the batches before them), so a fatal error still comes after every item
 * parsed before it, with the same message.
 *
 * Stopping early (ps_feed_free() mid-feed): the caller sets the stop flag,
 * wakes the parser wherever it may wait (a free slot: the condition
 * variable; a read from a pipe, stdin or a URL: the wake pipe, which
 * source.c and url.c poll beside their fd) and joins it. A regular file
 * never blocks for long, and the thread that reads it ahead (source.c: the
 * gzip inflater, or the XML scanner's reader) keeps reading it, so a parser
 * waiting on that thread wakes too.
 *
 * The parser thread blocks every signal: they go to the caller's threads,
 * as they did before the thread existed.
 */
#include "feeds_int.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

struct ps_pipe {
	pthread_t thread;
	/* Set before the thread starts, read by both sides: the parser side
	 * runs on a thread of its own. */
	int on_thread;
	int threaded; /* the caller's: the thread runs or awaits its join */
	int inited;   /* mu and the condition variables exist */
	pthread_mutex_t mu;
	pthread_cond_t more; /* the caller waits: a batch or the end */
	pthread_cond_t room; /* the parser waits: a free slot */

	/* Under mu. */
	ps_batch ring[PS_FEED_RING]; /* [head, head + count) are full */
	unsigned head, count;
	int done; /* the parser side has finished: failed / eof are final */

	atomic_int stop; /* the caller is gone: the parser stops */
	int wake[2];     /* pipe; a byte written to wake[1] stops reads */
};

static void
batch_init(ps_batch *b)
{
	memset(b, 0, sizeof(*b));
	fbuf_init(&b->arena, PS_FEED_MAX_ARENA);
	fbuf_init(&b->scratch, PS_FEED_BATCH_SCRATCH);
}

static void
batch_free(ps_batch *b)
{
	fbuf_free(&b->arena);
	fbuf_free(&b->scratch);
	free(b->items);
	free(b->done);
	b->items = NULL;
	b->done = NULL;
	b->n = b->cap = b->ndone = b->done_cap = 0;
}

/* Thread body: pumps until the end, an error or a stop. */
static void *
parser_main(void *arg)
{
	ps_feed *f = arg;
	ps_pipe *p = f->pipe;

	while (!f->failed && !f->eof && !atomic_load_explicit(&p->stop, memory_order_relaxed))
		ps_feed__pump(f);
	/* ps_feed__pump() handed every completed item over before saying
	 * the end or the error. */
	pthread_mutex_lock(&p->mu);
	p->done = 1;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int
ps_feed__pipe_start(ps_feed *f)
{
	ps_pipe *p = calloc(1, sizeof(*p));
	sigset_t all, old;
	int i;

	if (p == NULL)
		return PS_ENOMEM;
	f->pipe = p;
	p->wake[0] = p->wake[1] = -1;
	for (i = 0; i < PS_FEED_RING; i++)
		batch_init(&p->ring[i]);
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		return PS_ENOMEM;
	if (pthread_cond_init(&p->more, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		return PS_ENOMEM;
	}
	if (pthread_cond_init(&p->room, NULL) != 0) {
		pthread_cond_destroy(&p->more);
		pthread_mutex_destroy(&p->mu);
		return PS_ENOMEM;
	}
	p->inited = 1;
	if (f->opts.single_thread)
		return 0;

	/* Without a wake pipe a read from a pipe could not be stopped: parse
	 * in the caller's thread then, as with single_thread. */
	if (pipe(p->wake) != 0)
		return 0;
	for (i = 0; i < 2; i++)
		(void)fcntl(p->wake[i], F_SETFD, FD_CLOEXEC);
	f->src.cancel_fd = p->wake[0];
	if (f->src.url != NULL)
		ps_feed__url_set_cancel(f->src.url, p->wake[0]);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->on_thread = 1;
	p->threaded = pthread_create(&p->thread, NULL, parser_main, f) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!p->threaded) {
		/* No thread: the caller's thread parses after all. */
		p->on_thread = 0;
		f->src.cancel_fd = -1;
		if (f->src.url != NULL)
			ps_feed__url_set_cancel(f->src.url, -1);
	}
	return 0;
}

int
ps_feed__pipe_wants(ps_feed *f, int end_of_piece)
{
	ps_pipe *p = f->pipe;

	if (f->qlen == 0)
		return 0;
	if (!p->on_thread)
		return end_of_piece; /* the caller waits, by definition */
	if (f->qlen >= PS_FEED_BATCH_ITEMS || f->arena.len >= PS_FEED_BATCH_BYTES)
		return 1;
	/* The next step reads from a source that may block (a slow URL, a
	 * pipe): never keep finished items back while waiting for bytes.
	 * Otherwise a batch goes only when full, whether the caller waits or
	 * not: handing over costs a wake-up, and an early batch would not
	 * make the parser, then the slower side, any faster. */
	return end_of_piece && (f->src.pollable || f->src.url != NULL) && f->pending.ptr == NULL &&
	       f->chunk_pos == f->chunk_len;
}

int
ps_feed__pipe_publish(ps_feed *f)
{
	ps_pipe *p = f->pipe;
	ps_batch *b;
	ps_fbuf arena;
	ps_raw_item *items;
	size_t cap;
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	if (p->count == PS_FEED_RING && p->on_thread) {
		/* The caller's side is the slower one: rather than wait for it,
		 * do its per-item work for this batch. */
		pthread_mutex_unlock(&p->mu);
		ps_feed__prenormalise(f);
		pthread_mutex_lock(&p->mu);
	}
	while (p->count == PS_FEED_RING && !atomic_load(&p->stop))
		pthread_cond_wait(&p->room, &p->mu);
	if (atomic_load(&p->stop)) {
		pthread_mutex_unlock(&p->mu);
		return ps_feed__fail(f, PS_ERROR, "%s: stopped", f->name);
	}
	/* The free slot's buffers become the batch being filled. */
	b = &p->ring[(p->head + p->count) % PS_FEED_RING];
	arena = b->arena;
	items = b->items;
	cap = b->cap;
	b->arena = f->arena;
	b->items = f->queue;
	b->cap = f->qcap;
	b->n = f->qlen;
	f->arena = arena;
	f->arena.len = 0;
	f->queue = items;
	f->qcap = cap;
	f->qlen = 0;
	{
		ps_item *done = b->done;
		size_t done_cap = b->done_cap;
		ps_fbuf scratch = b->scratch;

		b->done = f->done;
		b->done_cap = f->done_cap;
		b->ndone = f->ndone;
		b->scratch = f->done_scratch;
		f->done = done;
		f->done_cap = done_cap;
		f->ndone = 0;
		f->done_scratch = scratch;
	}
	if (f->in_item) {
		/* The item in progress starts the new batch. */
		size_t keep = b->arena.len - f->cur.base;

		if (keep > 0 && (rc = fbuf_put(&f->arena, b->arena.ptr + f->cur.base, keep)) != 0)
			rc = ps_feed__fail(f, PS_ENOMEM, "%s: out of memory", f->name);
		b->arena.len = f->cur.base;
	}
	f->cur.base = 0;
	b->bytes_read = f->src.bytes_read;
	b->skipped = f->skipped;
	p->count++;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* The shown_ copies of what the parser side counts; under mu (or with the
 * parser side idle). */
static void
show(ps_feed *f, uint64_t bytes_read, uint64_t skipped)
{
	f->shown_bytes_read = bytes_read;
	f->shown_skipped = skipped;
	if (f->warnings.len != f->shown_warnings.len) {
		f->shown_warnings.len = 0;
		if (fbuf_put(&f->shown_warnings, f->warnings.ptr, f->warnings.len) == 0)
			(void)fbuf_cstr(&f->shown_warnings);
		else
			f->shown_warnings.len = 0;
	}
}

int
ps_feed__pipe_take(ps_feed *f)
{
	ps_pipe *p = f->pipe;
	ps_batch *b, spent;

	if (!p->on_thread) {
		/* Single thread: the parser side runs here until a batch is
		 * ready. Nothing else touches the ring. */
		while (p->count == 0 && !f->failed && !f->eof)
			ps_feed__pump(f);
		if (p->count == 0)
			p->done = 1;
	}

	pthread_mutex_lock(&p->mu);
	while (p->count == 0 && !p->done)
		pthread_cond_wait(&p->more, &p->mu);
	if (p->count == 0) {
		/* The end: every batch was taken, failed / eof are final. */
		show(f, f->src.bytes_read, f->skipped);
		pthread_mutex_unlock(&p->mu);
		f->end_rc = f->failed ? f->failed : f->eof ? PS_ITEROVER : PS_ERROR;
		f->error_shown = 1;
		ps_feed__pipe_stop(f);
		return 0;
	}
	/* The spent batch's buffers go back to the ring for reuse. */
	b = &p->ring[p->head];
	spent = f->cons;
	f->cons = *b;
	*b = spent;
	b->n = b->ndone = 0;
	b->arena.len = 0;
	f->cons_pos = 0;
	p->head = (p->head + 1) % PS_FEED_RING;
	p->count--;
	show(f, f->cons.bytes_read, f->cons.skipped);
	pthread_cond_signal(&p->room);
	pthread_mutex_unlock(&p->mu);
	return 1;
}

void
ps_feed__pipe_stop(ps_feed *f)
{
	ps_pipe *p = f->pipe;
	char c = 1;

	if (p == NULL || !p->threaded)
		return;
	atomic_store(&p->stop, 1);
	if (write(p->wake[1], &c, 1) < 0) {
		/* The pipe is empty and ours: cannot fail but by EINTR, and the
		 * parser also sees the flag at its next step. */
	}
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->room);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	p->threaded = 0;
	p->done = 1;
}

void
ps_feed__pipe_free(ps_feed *f)
{
	ps_pipe *p = f->pipe;
	int i;

	if (p == NULL)
		return;
	ps_feed__pipe_stop(f);
	for (i = 0; i < PS_FEED_RING; i++)
		batch_free(&p->ring[i]);
	if (p->inited) {
		pthread_cond_destroy(&p->room);
		pthread_cond_destroy(&p->more);
		pthread_mutex_destroy(&p->mu);
	}
	for (i = 0; i < 2; i++)
		if (p->wake[i] >= 0)
			close(p->wake[i]);
	free(p);
	f->pipe = NULL;
}

void
ps_feed__pipe_lock(ps_feed *f)
{
	if (f->pipe != NULL && f->pipe->inited)
		pthread_mutex_lock(&f->pipe->mu);
}

void
ps_feed__pipe_unlock(ps_feed *f)
{
	if (f->pipe != NULL && f->pipe->inited)
		pthread_mutex_unlock(&f->pipe->mu);
}
