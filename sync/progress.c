/*
 * progress.c: a rate-limited progress line.
 */
#include "progress.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static void
human_bytes(char *buf, size_t len, double b)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
	int u = 0;

	while (b >= 1000 && u < 4) {
		b /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

void
ps_progress_format(char *buf, size_t len, const ps_progress_counts *c, double elapsed_s)
{
	char read[32], rate[32], pct[16] = "";
	int secs = (int)elapsed_s;

	human_bytes(read, sizeof(read), (double)c->feed_bytes);
	human_bytes(rate, sizeof(rate), elapsed_s > 0 ? (double)c->feed_bytes / elapsed_s : 0);
	if (c->feed_size)
		snprintf(pct, sizeof(pct), " (%d%%)",
		         (int)(100.0 * (double)c->feed_bytes / (double)c->feed_size));
	snprintf(buf, len,
	         "%s%s read, %s/s | %" PRId64 " items | %" PRId64
	         " changes | batches %d sent, %d done | %d:%02d",
	         read, pct, rate, c->items, c->changes, c->batches_sent, c->batches_done, secs / 60,
	         secs % 60);
}

void
ps_progress_init(ps_progress *p, FILE *out, int tty)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->tty = tty < 0 ? isatty(fileno(out)) : tty;
	p->started = ps_clock_now();
}

static void
draw(ps_progress *p, const ps_progress_counts *c, double now)
{
	char line[256];
	size_t w;

	ps_progress_format(line, sizeof(line), c, now - p->started);
	w = strlen(line);
	/* Blank what a longer previous line left behind. */
	fprintf(p->out, "\r%s%*s", line, p->last_width > w ? (int)(p->last_width - w) : 0, "");
	fflush(p->out);
	p->last_width = w;
	p->last_draw = now;
}

void
ps_progress_update(void *ctx, const ps_progress_counts *c)
{
	ps_progress *p = ctx;
	double now;

	if (!p->tty)
		return;
	now = ps_clock_now();
	if (now - p->last_draw < PS_PROGRESS_INTERVAL_MS / 1000.0)
		return;
	draw(p, c, now);
}

void
ps_progress_finish(ps_progress *p, const ps_progress_counts *c)
{
	char line[256];

	if (p->tty) {
		draw(p, c, ps_clock_now());
		fputc('\n', p->out);
		fflush(p->out);
		return;
	}
	ps_progress_format(line, sizeof(line), c, ps_clock_now() - p->started);
	fprintf(p->out, "%s\n", line);
}
