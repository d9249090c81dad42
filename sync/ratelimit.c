/*
 * ratelimit.c: waits computed from Pinterest's rate-limit headers (see
 * ratelimit.h for the model).
 */
#include "ratelimit.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ps_rl {
	ps_rl_window windows[PS_RL_MAX_WINDOWS];
	size_t nwindows;
	double blocked_until;       /* nothing goes before this (remaining 0, Retry-After) */
	double sent[PS_RL_HISTORY]; /* ring of send times */
	size_t head;                /* next slot to write */
	size_t count;               /* valid entries, up to PS_RL_HISTORY */
};

int
ps_rl_new(ps_rl **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -1;
}

void
ps_rl_free(ps_rl *rl)
{
	free(rl);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses the non-negative number in s[0..len) (surrounding blanks allowed).
 * Returns 0, or -1 when it is not exactly one finite number >= 0. */
static int
parse_number(const char *s, size_t len, double *out)
{
	char tmp[64], *end;
	double v;

	while (len && is_space(*s))
		s++, len--;
	while (len && is_space(s[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (!(tmp[0] >= '0' && tmp[0] <= '9'))
		return -1; /* no sign, no "inf", no "nan" */
	errno = 0;
	v = strtod(tmp, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* Parses one list member "N;w=W;other=x": returns 1 and fills *w when it
 * names a window, 0 when it is a plain quota, -1 when malformed. */
static int
parse_member(const char *s, size_t len, ps_rl_window *w)
{
	const char *semi = memchr(s, ';', len);
	size_t nlen = semi ? (size_t)(semi - s) : len;
	double limit, window = 0;
	int has_window = 0;

	if (parse_number(s, nlen, &limit) < 0 || limit < 1 || limit != floor(limit) || limit > 1e9)
		return -1;
	while (semi) {
		const char *p = semi + 1, *next;
		size_t plen;

		len -= (size_t)(p - s);
		s = p;
		next = memchr(s, ';', len);
		plen = next ? (size_t)(next - s) : len;
		while (plen && is_space(*p))
			p++, plen--;
		if (plen >= 2 && (p[0] == 'w' || p[0] == 'W') && p[1] == '=') {
			if (parse_number(p + 2, plen - 2, &window) < 0 || window <= 0 ||
			    window > 1e7)
				return -1;
			has_window = 1;
		}
		semi = next;
	}
	if (!has_window)
		return 0;
	w->limit = (long)limit;
	w->window_s = window;
	return 1;
}

int
ps_rl_parse_limit(const char *value, ps_rl_window *out, size_t max)
{
	const char *p = value;
	size_t n = 0;
	int members = 0;

	if (value == NULL)
		return -1;
	for (;;) {
		const char *start = p;
		int quoted = 0;
		ps_rl_window w;
		int rc;

		/* A member ends at a comma outside a quoted parameter value; an
		 * empty member (",," or a trailing comma) is malformed. */
		while (*p && (quoted || *p != ',')) {
			if (*p == '"')
				quoted = !quoted;
			p++;
		}
		if (quoted)
			return -1;
		rc = parse_member(start, (size_t)(p - start), &w);
		if (rc < 0)
			return -1;
		members++;
		if (rc == 1 && n < max)
			out[n++] = w;
		if (*p == '\0')
			break;
		p++; /* the comma */
	}
	return members > 0 ? (int)n : -1;
}

int
ps_rl_parse_retry_after(const char *value, time_t wall_now, double *seconds)
{
	time_t when;

	if (value == NULL)
		return -1;
	if (parse_number(value, strlen(value), seconds) == 0)
		return 0;
	/* An HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"). */
	when = curl_getdate(value, NULL);
	if (when == (time_t)-1)
		return -1;
	*seconds = when > wall_now ? (double)(when - wall_now) : 0;
	return 0;
}

static void
block_until(ps_rl *rl, double t)
{
	if (t > rl->blocked_until)
		rl->blocked_until = t;
}

void
ps_rl_update(ps_rl *rl, double now, time_t wall_now, const ps_rl_headers *h)
{
	ps_rl_window w[PS_RL_MAX_WINDOWS];
	double remaining, reset, after;
	int n;

	if (h->limit && (n = ps_rl_parse_limit(h->limit, w, PS_RL_MAX_WINDOWS)) > 0) {
		memcpy(rl->windows, w, (size_t)n * sizeof(w[0]));
		rl->nwindows = (size_t)n;
	}
	if (h->remaining && parse_number(h->remaining, strlen(h->remaining), &remaining) == 0 &&
	    remaining < 1) {
		/* The quota is spent: nothing more until it resets. Without a
		 * usable reset, one second (the shortest window Pinterest uses). */
		if (h->reset == NULL || parse_number(h->reset, strlen(h->reset), &reset) < 0)
			reset = 1;
		else if (reset > 1e9) /* an epoch time rather than a delay */
			reset = reset > (double)wall_now ? reset - (double)wall_now : 0;
		block_until(rl, now + (reset > 0 ? reset : 1));
	}
	if (h->retry_after && ps_rl_parse_retry_after(h->retry_after, wall_now, &after) == 0)
		block_until(rl, now + after);
}

/* The k-th most recent send time (k >= 1, k <= count). */
static double
kth_recent(const ps_rl *rl, size_t k)
{
	return rl->sent[(rl->head + PS_RL_HISTORY - k) % PS_RL_HISTORY];
}

double
ps_rl_delay(const ps_rl *rl, double now)
{
	double t = rl->blocked_until;
	size_t i;

	for (i = 0; i < rl->nwindows; i++) {
		const ps_rl_window *w = &rl->windows[i];
		size_t k = (size_t)w->limit;
		double span = w->window_s;

		if (k > PS_RL_HISTORY) {
			/* The same rate over a shorter window: stricter, never looser. */
			span = w->window_s * (double)PS_RL_HISTORY / (double)w->limit;
			k = PS_RL_HISTORY;
		}
		/* k sends already in the window: the next waits until the oldest
		 * of them has left it. */
		if (rl->count >= k && kth_recent(rl, k) + span + PS_RL_MARGIN_S > t)
			t = kth_recent(rl, k) + span + PS_RL_MARGIN_S;
	}
	return t > now ? t - now : 0;
}

void
ps_rl_sent(ps_rl *rl, double now)
{
	rl->sent[rl->head] = now;
	rl->head = (rl->head + 1) % PS_RL_HISTORY;
	if (rl->count < PS_RL_HISTORY)
		rl->count++;
}

const ps_rl_window *
ps_rl_windows(const ps_rl *rl, size_t *count)
{
	*count = rl->nwindows;
	return rl->windows;
}
