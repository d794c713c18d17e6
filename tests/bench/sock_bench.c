/*
 * sock_bench.c — requests per second and latency on potd's refresh-token socket.
 *
 *	sock_bench -s SOCKET -c CLIENTS [-d SECONDS] [-w SECONDS] (-p | -t TOKEN_FILE)
 *	sock_bench -s SOCKET -e -t TOKEN_FILE
 *	sock_bench -L LOG_SOCKET -o FILE
 *
 * CLIENTS threads, each with a connection of its own, each sending one request at a time:
 * a JSON line, then it waits for the reply line before the next. -p sends {"op":"ping"},
 * which potd answers without touching the store (the socket's floor: connection handling,
 * JSON parsing and the reply); -t sends checks of the refresh tokens of TOKEN_FILE (lines
 * "USER TOKEN"), client i taking tokens i, i + CLIENTS, i + 2 * CLIENTS, … in turn, so
 * that concurrent clients check different tokens of different users. The first -w seconds
 * (0.5) warm up; then the replies received within -d seconds (2) are counted, and one line
 * is printed:
 *
 *	op=check clients=8 requests=41234 seconds=2.000 rps=20617 p50_us=350 p99_us=1210 failed=0
 *	sent=51602 cpu_s=1.913
 *
 * p50/p99 are the latencies of those requests, from the first byte sent to the reply's
 * newline; sent counts every request of the run, warm-up included, and cpu_s is this
 * process's own CPU time (user + system), so that a caller can tell potd's share of the
 * machine from the clients'. A reply that is not {"ok":true,…}, or a connection that closes, counts as failed
 * and makes the exit status 1: a benchmark of failures measures nothing. Tokens are never
 * printed; the request buffers are wiped before exit.
 *
 * -e checks the first token of TOKEN_FILE once and prints the expiry potd answered,
 * "exp=N": two in a row tell whether a check wrote a new expiry.
 *
 * -L is the benchmark's stand-in for journald: it binds a datagram socket (0666) that the
 * script mounts on /dev/log in potd's private mount namespace, and appends every message
 * potd logs there to FILE, until SIGTERM or SIGINT; then it prints "lines=N". potd logs
 * each check, as in production, without the machine's own /dev/log (which other programs
 * read) in the way.
 *
 * Not part of `make check`: run it through tests/bench/sock_bench.sh BUILD_DIR.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS_MAX	1024
#define TOKENS_MAX	100000
#define REPLY_MAX	8192
#define IO_TIMEOUT_S	10

#define DIE(...) do { fprintf(stderr, "sock_bench: " __VA_ARGS__); fputc('\n', stderr); \
	exit(2); } while (0)

struct req {
	char *line;		/* a JSON request and its newline; holds a token: wiped */
	size_t len;
};

struct client {
	pthread_t thread;
	int fd;
	size_t first;		/* index of its first request; then every nclients-th */
	uint32_t *lat_us;	/* latencies of the requests answered within the window */
	size_t nlat, cap;
	unsigned long failed;
	unsigned long sent;	/* answered, warm-up included */
	char buf[REPLY_MAX];
};

static struct req *reqs;
static size_t nreqs;
static size_t nclients;
static int64_t t_measure, t_end;	/* the window, monotonic ns */
static pthread_barrier_t start;

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
usage(void)
{
	fprintf(stderr, "usage: sock_bench -s SOCKET -c CLIENTS [-d SECONDS] [-w SECONDS] "
		"(-p | -t TOKEN_FILE)\n       sock_bench -s SOCKET -e -t TOKEN_FILE\n"
		"       sock_bench -L LOG_SOCKET -o FILE\n");
	exit(2);
}

static volatile sig_atomic_t sink_stop;

static void
sink_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

/* -L: a syslog sink on a datagram socket; every message becomes a line of out. */
static int
log_sink(const char *path, const char *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction act = { .sa_handler = sink_signal };	/* no SA_RESTART: recv returns */
	static char msg[65536];
	unsigned long lines = 0;
	int fd, rcvbuf = 4 << 20;
	FILE *f;
	ssize_t n;

	if (strlen(path) >= sizeof(sa.sun_path))
		DIE("%s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((f = fopen(out, "ae")) == NULL)
		DIE("%s: %s", out, strerror(errno));
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0666) != 0)
		DIE("log socket %s: %s", path, strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	while (!sink_stop) {
		if ((n = recv(fd, msg, sizeof(msg), MSG_DONTWAIT)) < 0 && errno == EAGAIN) {
			fflush(f);		/* idle: the file is complete for a reader */
			n = recv(fd, msg, sizeof(msg), 0);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			DIE("recv: %s", strerror(errno));
		}
		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\0'))
			n--;
		fwrite(msg, 1, (size_t)n, f);
		fputc('\n', f);
		lines++;
	}
	close(fd);
	unlink(path);
	if (fclose(f) != 0)
		DIE("%s: %s", out, strerror(errno));
	printf("lines=%lu\n", lines);
	return 0;
}

static double
parse_seconds(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 3600)
		usage();
	return v;
}

static void
req_add(const char *text)
{
	struct req *r;

	if (nreqs == TOKENS_MAX)
		DIE("more than %d tokens", TOKENS_MAX);
	if ((r = realloc(reqs, (nreqs + 1) * sizeof(*reqs))) == NULL ||
	    (r[nreqs].line = strdup(text)) == NULL)
		DIE("out of memory");
	r[nreqs].len = strlen(text);
	reqs = r;
	nreqs++;
}

/* "USER TOKEN" lines -> check requests; a blank line or a '#' comment is skipped. */
static void
load_tokens(const char *path)
{
	char line[1024], text[1200], *user, *token, *save;
	FILE *f = fopen(path, "re");
	unsigned lineno = 0;

	if (f == NULL)
		DIE("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((user = strtok_r(line, " \t\r\n", &save)) == NULL || *user == '#')
			continue;
		if ((token = strtok_r(NULL, " \t\r\n", &save)) == NULL ||
		    strspn(user, "abcdefghijklmnopqrstuvwxyz0123456789_-.") != strlen(user) ||
		    strspn(token, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		    strlen(token))
			DIE("%s:%u: not \"USER TOKEN\"", path, lineno);
		if ((size_t)snprintf(text, sizeof(text), "{\"op\":\"check\",\"token\":\"%s\",\"user\":"
				     "\"%s\",\"service\":\"sock-bench\",\"rhost\":\"\"}\n", token,
				     user) >= sizeof(text))
			DIE("%s:%u: too long", path, lineno);
		req_add(text);
		explicit_bzero(text, sizeof(text));
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (nreqs == 0)
		DIE("%s: no tokens", path);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		DIE("%s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		DIE("connect %s: %s", path, strerror(errno));
	return fd;
}

/* One request, one reply line: false when the connection failed or closed. */
static bool
roundtrip(struct client *c, const struct req *r, bool *ok)
{
	size_t off = 0, have = 0;
	ssize_t n;
	char *nl;

	while (off < r->len) {
		if ((n = send(c->fd, r->line + off, r->len - off, MSG_NOSIGNAL)) <= 0)
			return false;
		off += (size_t)n;
	}
	for (;;) {
		if ((n = recv(c->fd, c->buf + have, sizeof(c->buf) - have, 0)) <= 0)
			return false;
		have += (size_t)n;
		if ((nl = memchr(c->buf, '\n', have)) != NULL)
			break;
		if (have == sizeof(c->buf))
			return false;
	}
	if (nl + 1 != c->buf + have)
		return false;		/* one request in flight: one reply, nothing after it */
	*ok = have > 10 && memcmp(c->buf, "{\"ok\":true", 10) == 0;
	return true;
}

/* -e: one check of the first token; prints its "exp". */
static int
one_exp(const char *sock)
{
	struct client c = { .fd = connect_to(sock) };
	const char *p;
	bool ok;

	if (!roundtrip(&c, &reqs[0], &ok) || !ok || (p = strstr(c.buf, "\"exp\":")) == NULL)
		DIE("the check failed");
	printf("exp=%lld\n", strtoll(p + 6, NULL, 10));
	close(c.fd);
	return 0;
}

static void
lat_add(struct client *c, int64_t ns)
{
	uint32_t *p;

	if (c->nlat == c->cap) {
		c->cap = c->cap != 0 ? 2 * c->cap : 4096;
		if ((p = realloc(c->lat_us, c->cap * sizeof(*p))) == NULL)
			DIE("out of memory");
		c->lat_us = p;
	}
	c->lat_us[c->nlat++] = ns / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ns / 1000);
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	size_t i = c->first;
	int64_t t0, t1;
	bool ok;

	pthread_barrier_wait(&start);
	do {
		t0 = mono_ns();
		if (!roundtrip(c, &reqs[i], &ok)) {
			c->failed++;
			break;
		}
		t1 = mono_ns();
		c->sent++;
		if (!ok)
			c->failed++;
		if (t1 >= t_measure && t1 < t_end)
			lat_add(c, t1 - t0);
		i = (i + nclients) % nreqs;
	} while (t1 < t_end);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *tokens = NULL, *sink = NULL, *sink_out = NULL;
	double duration = 2, warmup = 0.5;
	struct client *cl;
	unsigned long failed = 0, sent = 0, n;
	struct rusage ru;
	uint32_t *all;
	size_t total = 0, i, off = 0;
	bool ping = false, exp = false;
	int opt;

	while ((opt = getopt(argc, argv, "s:c:d:w:pt:eL:o:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'c':
			n = strtoul(optarg, NULL, 10);
			if (n < 1 || n > CLIENTS_MAX)
				usage();
			nclients = n;
			break;
		case 'd': duration = parse_seconds(optarg); break;
		case 'w': warmup = parse_seconds(optarg); break;
		case 'p': ping = true; break;
		case 't': tokens = optarg; break;
		case 'e': exp = true; break;
		case 'L': sink = optarg; break;
		case 'o': sink_out = optarg; break;
		default: usage();
		}
	}
	if (sink != NULL || sink_out != NULL) {
		if (sink == NULL || sink_out == NULL || optind != argc || sock != NULL)
			usage();
		return log_sink(sink, sink_out);
	}
	if (exp) {
		if (sock == NULL || tokens == NULL || ping || optind != argc)
			usage();
		load_tokens(tokens);
		return one_exp(sock);
	}
	if (optind != argc || sock == NULL || nclients == 0 || ping == (tokens != NULL) ||
	    duration <= 0)
		usage();
	if (ping)
		req_add("{\"op\":\"ping\"}\n");
	else
		load_tokens(tokens);
	if ((cl = calloc(nclients, sizeof(*cl))) == NULL)
		DIE("out of memory");
	if (pthread_barrier_init(&start, NULL, (unsigned)nclients + 1) != 0)
		DIE("pthread_barrier_init");
	for (i = 0; i < nclients; i++) {
		cl[i].fd = connect_to(sock);
		cl[i].first = i % nreqs;
	}
	t_measure = INT64_MAX;
	t_end = INT64_MAX;
	for (i = 0; i < nclients; i++)
		if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0)
			DIE("pthread_create");
	t_measure = mono_ns() + (int64_t)(warmup * 1e9);
	t_end = t_measure + (int64_t)(duration * 1e9);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pthread_barrier_wait(&start);
	for (i = 0; i < nclients; i++) {
		pthread_join(cl[i].thread, NULL);
		close(cl[i].fd);
		failed += cl[i].failed;
		sent += cl[i].sent;
		total += cl[i].nlat;
	}
	if ((all = malloc((total > 0 ? total : 1) * sizeof(*all))) == NULL)
		DIE("out of memory");
	for (i = 0; i < nclients; i++) {
		if (cl[i].nlat > 0)
			memcpy(all + off, cl[i].lat_us, cl[i].nlat * sizeof(*all));
		off += cl[i].nlat;
		free(cl[i].lat_us);
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		memset(&ru, 0, sizeof(ru));
	printf("op=%s clients=%zu requests=%zu seconds=%.3f rps=%.0f p50_us=%u p99_us=%u failed=%lu "
	       "sent=%lu cpu_s=%.3f\n", ping ? "ping" : "check", nclients, total, duration,
	       (double)total / duration, total > 0 ? all[total / 2] : 0,
	       total > 0 ? all[(total * 99) / 100] : 0, failed, sent,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	for (i = 0; i < nreqs; i++) {
		explicit_bzero(reqs[i].line, reqs[i].len);
		free(reqs[i].line);
	}
	for (i = 0; i < nclients; i++)
		explicit_bzero(cl[i].buf, sizeof(cl[i].buf));
	free(reqs);
	free(cl);
	free(all);
	pthread_barrier_destroy(&start);
	return failed != 0 ? 1 : 0;
}
