/* metrics.c — Prometheus text: requests by endpoint and status, latency, token counters. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "potd.h"

#define ENDPOINTS	9	/* the route table's 8, and "other" */
static const unsigned statuses[] = { 200, 302, 303, 400, 401, 403, 404, 405, 413, 429, 500, 503, 0 };
#define NSTATUS		(sizeof(statuses) / sizeof(statuses[0]))
static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define NBUCKETS	(sizeof(buckets) / sizeof(buckets[0]))

struct potd_metrics {
	unsigned long requests[ENDPOINTS][NSTATUS];
	unsigned long hist[ENDPOINTS][NBUCKETS + 1];	/* cumulative at render time */
	unsigned long long sum_ns[ENDPOINTS];
	unsigned long count[ENDPOINTS];
	unsigned long counters[POTD_COUNTER_MAX];
};

static const char *const counter_names[POTD_COUNTER_MAX] = {
	[POTD_TOKENS_ISSUED] = "potd_tokens_issued_total",
	[POTD_TOKENS_REFRESHED] = "potd_tokens_refreshed_total",
	[POTD_TOKENS_REVOKED] = "potd_tokens_revoked_total",
	[POTD_REUSE_DETECTED] = "potd_refresh_reuse_detected_total",
};

struct potd_metrics *
potd_metrics_new(void)
{
	return calloc(1, sizeof(struct potd_metrics));
}

void
potd_metrics_free(struct potd_metrics *m)
{
	free(m);
}

void
potd_metrics_request(struct potd_metrics *m, int endpoint, unsigned status, int64_t ns)
{
	size_t s, b;
	int e = endpoint >= 0 && endpoint < ENDPOINTS - 1 ? endpoint : ENDPOINTS - 1;
	double secs = (double)ns / 1e9;

	for (s = 0; s < NSTATUS - 1 && statuses[s] != status; s++)
		;
	for (b = 0; b < NBUCKETS && secs > buckets[b]; b++)
		;
	__atomic_fetch_add(&m->requests[e][s], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->hist[e][b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->sum_ns[e], (unsigned long long)(ns > 0 ? ns : 0), __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->count[e], 1, __ATOMIC_RELAXED);
}

void
potd_metrics_count(struct potd_metrics *m, enum potd_counter which)
{
	__atomic_fetch_add(&m->counters[which], 1, __ATOMIC_RELAXED);
}

static const char *
endpoint_label(int e)
{
	return e == ENDPOINTS - 1 ? "other" : potd_route_name(e);
}

char *
potd_metrics_render(struct potd_metrics *m, const struct pot_store_stats *st)
{
	char *buf = NULL, status[16];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned long cum, n;
	size_t s, b;
	int e;

	if (f == NULL)
		return NULL;
	fputs("# HELP potd_http_requests_total HTTP requests by endpoint and status.\n"
	      "# TYPE potd_http_requests_total counter\n", f);
	for (e = 0; e < ENDPOINTS; e++)
		for (s = 0; s < NSTATUS; s++) {
			if ((n = __atomic_load_n(&m->requests[e][s], __ATOMIC_RELAXED)) == 0)
				continue;
			if (statuses[s] != 0)
				snprintf(status, sizeof(status), "%u", statuses[s]);
			else
				snprintf(status, sizeof(status), "other");
			fprintf(f, "potd_http_requests_total{endpoint=\"%s\",status=\"%s\"} %lu\n",
				endpoint_label(e), status, n);
		}
	fputs("# HELP potd_http_request_duration_seconds Request latency by endpoint.\n"
	      "# TYPE potd_http_request_duration_seconds histogram\n", f);
	for (e = 0; e < ENDPOINTS; e++) {
		if (__atomic_load_n(&m->count[e], __ATOMIC_RELAXED) == 0)
			continue;
		for (b = 0, cum = 0; b <= NBUCKETS; b++) {
			cum += __atomic_load_n(&m->hist[e][b], __ATOMIC_RELAXED);
			if (b < NBUCKETS)
				fprintf(f, "potd_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %lu\n",
					endpoint_label(e), buckets[b], cum);
			else
				fprintf(f, "potd_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %lu\n",
					endpoint_label(e), cum);
		}
		fprintf(f, "potd_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n",
			endpoint_label(e), (double)__atomic_load_n(&m->sum_ns[e], __ATOMIC_RELAXED) / 1e9);
		fprintf(f, "potd_http_request_duration_seconds_count{endpoint=\"%s\"} %lu\n",
			endpoint_label(e), __atomic_load_n(&m->count[e], __ATOMIC_RELAXED));
	}
	for (e = 0; e < POTD_COUNTER_MAX; e++)
		fprintf(f, "# TYPE %s counter\n%s %lu\n", counter_names[e], counter_names[e],
			__atomic_load_n(&m->counters[e], __ATOMIC_RELAXED));
	if (st != NULL)
		fprintf(f, "# HELP potd_store_records Records in the store.\n"
			   "# TYPE potd_store_records gauge\n"
			   "potd_store_records{kind=\"refresh_token\"} %zu\n"
			   "potd_store_records{kind=\"code\"} %zu\n"
			   "potd_store_records{kind=\"client\"} %zu\n"
			   "potd_store_records{kind=\"grant\"} %zu\n",
			st->refresh_tokens, st->codes, st->clients, st->grants);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
