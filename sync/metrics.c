/*
 * metrics.c: the Prometheus exposition, families in a fixed order, each
 * with its HELP and TYPE lines (promtool check metrics is clean on it).
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STATUS 600

static atomic_ulong webhooks[PS_WEBHOOK_RESULTS];
static atomic_ulong api_status[MAX_STATUS];
static atomic_ulong api_rate_limited;
static atomic_ulong jobs_done, jobs_failed, jobs_requeued;

static const char *const webhook_names[PS_WEBHOOK_RESULTS] = {
    "queued",    "coalesced", "unauthorized", "not_found",
    "too_large", "error",     "replay",       "bad_request"};

void
ps_metrics_webhook(ps_webhook_result result)
{
	if ((unsigned)result < PS_WEBHOOK_RESULTS)
		atomic_fetch_add(&webhooks[result], 1);
}

void
ps_metrics_api_response(int status)
{
	if (status < 0 || status >= MAX_STATUS)
		status = 0;
	atomic_fetch_add(&api_status[status], 1);
	if (status == 429)
		atomic_fetch_add(&api_rate_limited, 1);
}

void
ps_metrics_job(const char *state)
{
	if (strcmp(state, "done") == 0)
		atomic_fetch_add(&jobs_done, 1);
	else if (strcmp(state, "failed") == 0)
		atomic_fetch_add(&jobs_failed, 1);
	else
		atomic_fetch_add(&jobs_requeued, 1);
}

/* The database's families, in ps_db_metric order: name, type, help, and
 * the names of the labels after "target" (NULL: none; target itself is
 * left out for the queue-wide families). */
typedef struct family {
	const char *name;
	const char *type;
	const char *help;
	int has_target;
	const char *l1, *l2;
} family;

static const family db_families[PS_DB_M_COUNT] = {
    [PS_DB_M_RUNS] = {"pinsync_runs_total", "counter", "Syncs finished, by outcome.", 1, "outcome",
                      NULL},
    [PS_DB_M_RUNS_RUNNING] = {"pinsync_runs_running", "gauge", "Syncs running now.", 1, NULL, NULL},
    [PS_DB_M_ITEMS] = {"pinsync_items_total", "counter",
                       "Items sent to Pinterest, by operation and by Pinterest's result "
                       "(pending: no verdict yet; followed_up: a failure pinsync read back "
                       "and acted on).",
                       1, "operation", "result"},
    [PS_DB_M_ITEMS_INVALID] = {"pinsync_items_invalid_total", "counter",
                               "Feed items refused locally (not sent).", 1, NULL, NULL},
    [PS_DB_M_BATCHES] = {"pinsync_batches_total", "counter", "Batches of the journal, by state.", 1,
                         "state", NULL},
    [PS_DB_M_BATCHES_INFLIGHT] = {"pinsync_batches_in_flight", "gauge",
                                  "Batches planned or sent and not finished.", 1, NULL, NULL},
    [PS_DB_M_RETRIES] = {"pinsync_api_retries_total", "counter",
                         "Pinterest API calls retried (429, 5xx, network errors).", 1, NULL, NULL},
    [PS_DB_M_RETRY_WAIT] = {"pinsync_api_retry_wait_seconds_total", "counter",
                            "Time syncs spent waiting to retry API calls.", 1, NULL, NULL},
    [PS_DB_M_LAST_SUCCESS] = {"pinsync_last_success_timestamp_seconds", "gauge",
                              "End of the last sync that left the catalog in step.", 1, NULL, NULL},
    [PS_DB_M_LAST_DURATION] = {"pinsync_last_run_duration_seconds", "gauge",
                               "Duration of the last finished sync.", 1, NULL, NULL},
    [PS_DB_M_FEED_BYTES] = {"pinsync_feed_bytes_total", "counter", "Bytes read from feed sources.",
                            1, NULL, NULL},
    [PS_DB_M_FEED_ITEMS] = {"pinsync_feed_items_parsed_total", "counter",
                            "Items parsed from feeds.", 1, NULL, NULL},
    [PS_DB_M_JOBS] = {"pinsync_jobs", "gauge", "Jobs of the queue, by state.", 0, "state", NULL},
    [PS_DB_M_QUEUE_DEPTH] = {"pinsync_queue_depth", "gauge",
                             "Jobs queued and waiting for a worker.", 0, NULL, NULL},
    [PS_DB_M_PENDING] = {"pinsync_items_pending", "gauge",
                         "Items the last sync sent without a verdict from Pinterest (sent "
                         "again by the next one).",
                         1, NULL, NULL},
    [PS_DB_M_DRIFT] = {"pinsync_drift_items", "gauge",
                       "Items that differed on Pinterest from what pinsync sent, in the last "
                       "sync's read-back sample.",
                       1, NULL, NULL},
    [PS_DB_M_QUEUE_OLDEST] = {"pinsync_queue_oldest_seconds", "gauge",
                              "Seconds the oldest queued job has waited (0: none queued).", 0, NULL,
                              NULL},
    [PS_DB_M_REFRESH_EXPIRY] = {"pinsync_refresh_token_expiry_timestamp_seconds", "gauge",
                                "Unix time the stored refresh token of each client id expires.", 0,
                                "client_id", NULL},
};

static void
header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void
label(FILE *f, const char *name, const char *value, int first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fputc('\\', f);
		if (*value == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*value, f);
	}
	fputc('"', f);
}

static void
value(FILE *f, double v)
{
	/* Whole numbers print as such; others with 15 significant digits. */
	if (v == (double)(long long)v && v < 1e15 && v > -1e15)
		fprintf(f, " %lld\n", (long long)v);
	else
		fprintf(f, " %.15g\n", v);
}

typedef struct scrape {
	FILE *f;
	int next; /* first family whose header is not written yet */
} scrape;

static void
headers_until(scrape *sc, int m)
{
	for (; sc->next <= m && sc->next < PS_DB_M_COUNT; sc->next++) {
		const family *fa = &db_families[sc->next];

		header(sc->f, fa->name, fa->type, fa->help);
	}
}

static int
on_metric(void *ctx, ps_db_metric m, const char *target, const char *l1, const char *l2, double v)
{
	scrape *sc = ctx;
	const family *fa = &db_families[m];
	int first = 1;

	headers_until(sc, (int)m);
	fputs(fa->name, sc->f);
	if (fa->has_target || fa->l1) {
		fputc('{', sc->f);
		if (fa->has_target) {
			label(sc->f, "target", target, first);
			first = 0;
		}
		if (fa->l1) {
			label(sc->f, fa->l1, l1, first);
			first = 0;
		}
		if (fa->l2)
			label(sc->f, fa->l2, l2, first);
		fputc('}', sc->f);
	}
	value(sc->f, v);
	return 0;
}

int
ps_metrics_render_db(ps_db *db, char **out, size_t *len)
{
	scrape sc = {NULL, 0};
	int rc;

	*out = NULL;
	*len = 0;
	sc.f = open_memstream(out, len);
	if (sc.f == NULL)
		return -1;
	/* Rows come grouped by family, so headers go out just before the first
	 * row of theirs; families without rows get theirs too. */
	rc = ps_db_metrics(db, on_metric, &sc);
	if (rc == PS_DB_OK)
		headers_until(&sc, PS_DB_M_COUNT - 1);
	if (fclose(sc.f) != 0 || rc != PS_DB_OK) {
		/* A partial exposition would repeat families: none at all. */
		free(*out);
		*out = NULL;
		*len = 0;
		return -1;
	}
	return 0;
}

int
ps_metrics_render(const char *db_text, size_t db_len, char **out, size_t *len)
{
	scrape sc = {NULL, 0};
	int i;
	char buf[16];

	*out = NULL;
	*len = 0;
	sc.f = open_memstream(out, len);
	if (sc.f == NULL)
		return -1;
	if (db_text)
		fwrite(db_text, 1, db_len, sc.f);

	header(sc.f, "pinsync_database_up", "gauge",
	       "1 when the database's figures could be read (at most PINSYNC_METRICS_CACHE_S "
	       "ago).");
	fprintf(sc.f, "pinsync_database_up %d\n", db_text != NULL);

	header(sc.f, "pinsync_webhooks_total", "counter",
	       "Webhook requests this process answered, by result.");
	for (i = 0; i < PS_WEBHOOK_RESULTS; i++)
		fprintf(sc.f, "pinsync_webhooks_total{result=\"%s\"} %lu\n", webhook_names[i],
		        atomic_load(&webhooks[i]));

	header(sc.f, "pinsync_jobs_run_total", "counter",
	       "Jobs this process ran to their end, by what became of them.");
	fprintf(sc.f, "pinsync_jobs_run_total{state=\"done\"} %lu\n", atomic_load(&jobs_done));
	fprintf(sc.f, "pinsync_jobs_run_total{state=\"failed\"} %lu\n", atomic_load(&jobs_failed));
	fprintf(sc.f, "pinsync_jobs_run_total{state=\"requeued\"} %lu\n",
	        atomic_load(&jobs_requeued));

	header(sc.f, "pinsync_api_requests_total", "counter",
	       "Answers of the Pinterest API to this process, by HTTP status (0: no answer).");
	for (i = 0; i < MAX_STATUS; i++) {
		unsigned long n = atomic_load(&api_status[i]);

		if (n) {
			snprintf(buf, sizeof(buf), "%d", i);
			fprintf(sc.f, "pinsync_api_requests_total{status=\"%s\"} %lu\n", buf, n);
		}
	}
	header(sc.f, "pinsync_api_rate_limited_total", "counter",
	       "Answers 429 (rate limited) of the Pinterest API to this process.");
	fprintf(sc.f, "pinsync_api_rate_limited_total %lu\n", atomic_load(&api_rate_limited));

	header(sc.f, "pinsync_build_info", "gauge", "The running version of pinsync.");
	fprintf(sc.f, "pinsync_build_info{version=\"%s\"} 1\n", PINSYNC_VERSION);

	if (fclose(sc.f) != 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}
