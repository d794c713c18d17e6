/*
 * sock.c — refresh-token logins for pam_pot on potd's UNIX socket (`socket`, 0666 in a
 * 0755 directory owned by potd's user). One JSON object per line, at most 4096 bytes,
 * one reply per request, several requests per connection:
 *   {"op":"check","token":"pot_rt_…","user":"alice","service":"sshd","rhost":"…"}
 *   -> {"ok":true,"sub":"alice","scope":"…","client_id":"…","exp":…}
 *    | {"ok":false,"error":"invalid_token"|"user_mismatch"|"rate_limited"|"bad_request"}
 *   {"op":"ping"} -> {"ok":true}: no store, no log line, never a failure nor limited (for
 *   health checks, and the floor that tests/bench/sock_bench.sh measures checks against)
 * A successful check slides the token's expiry like a refresh (never past refresh_max)
 * and never rotates it. To keep checks cheap the expiry is written when it would move by
 * at least SLIDE_STEP seconds: a durable write per token per minute, not per login.
 * Failed checks count per peer uid and per user; past the limit, failures answer
 * rate_limited, but a valid token is always accepted: with 256 random bits guessing is
 * hopeless, and nobody can lock a user out by failing on purpose. Each worker thread
 * runs its own epoll set; idle and half-open connections are closed after IDLE_SECONDS.
 * Any local user may connect, so the connections never take more than a quarter of
 * RLIMIT_NOFILE: the store (Berkeley DB panics when it cannot open a file) and the HTTP
 * server keep theirs. Out of descriptors all the same, a worker stops accepting for a
 * second rather than spin.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "potd.h"
#include "sock_req.h"
#include "pot/err.h"
#include "pot/secret.h"
#include "pot/util.h"

#define LINE_MAX_BYTES	4096
#define IDLE_SECONDS	10
#define MAX_CONNS	1024	/* per worker */
#define WORKERS		2
#define SLIDE_STEP	60

struct conn {
	int fd;
	uid_t uid;
	pid_t pid;
	int64_t last;		/* monotonic seconds of the last data received */
	size_t len;
	char buf[LINE_MAX_BYTES + 1];
	struct conn *next;
};

/*
 * A connection's replies are written into one buffer and sent together once its input is
 * used up: one send() for a request, one for a pipelined batch. A reply is at most
 * REPLY_MAX bytes (three strings of the store escaped six times over, in the worst case),
 * so the buffer is sent before a request is handled whenever REPLY_MAX no longer fits.
 */
#define REPLY_MAX	(6 * (2 * POT_NAME_MAX + POT_SCOPE_MAX) + 128)
#define OUT_MAX		(2 * REPLY_MAX)

struct out {
	size_t len;
	char buf[OUT_MAX];
};

struct worker {
	struct potd *d;
	int listen_fd;
	int ep;
	pthread_t thread;
	struct conn *conns;
	size_t nconns;
	bool paused;		/* out of descriptors: the listening socket left the epoll set */
	struct out out;		/* the replies of the connection being served */
};

static struct worker workers[WORKERS];
static size_t max_conns = MAX_CONNS;	/* per worker: at most a quarter of RLIMIT_NOFILE */
static volatile int sock_stopping;

/*
 * Idle time is measured on the monotonic clock: a step of the wall clock must neither
 * close every connection at once nor keep idle ones open.
 */
static int64_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* --- creating the socket (as root, before privileges are dropped) ------------------ */

int
potd_sock_open(const char *path, uid_t owner, gid_t group)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *copy, *dir;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path) || path[0] != '/') {
		syslog(LOG_ERR, "socket = %s: must be an absolute path shorter than %zu", path,
		       sizeof(sa.sun_path));
		return -1;
	}
	if ((copy = strdup(path)) == NULL)
		return -1;
	dir = dirname(copy);
	if (mkdir(dir, 0755) == 0) {
		if (geteuid() == 0 && (chown(dir, owner, group) != 0 || chmod(dir, 0755) != 0)) {
			syslog(LOG_ERR, "%s: %m", dir);
			free(copy);
			return -1;
		}
	} else if (errno != EEXIST || lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
		   (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		syslog(LOG_ERR, "%s: not a directory writable only by its owner", dir);
		free(copy);
		return -1;
	}
	free(copy);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);				/* stale, from a previous run */
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0666) != 0 ||
	    (geteuid() == 0 && chown(path, owner, group) != 0) || listen(fd, 256) != 0) {
		syslog(LOG_ERR, "socket %s: %m", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* --- replies ------------------------------------------------------------------------ */

static void
out_add(struct out *o, const char *s, size_t n)
{
	memcpy(o->buf + o->len, s, n);		/* room is ensured by REPLY_MAX */
	o->len += n;
}

/*
 * s as a JSON string. ASCII is escaped here ('"', '\\' and control characters); a string
 * with bytes beyond ASCII goes through jansson, which refuses invalid UTF-8: false.
 */
static bool
out_str(struct out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	char *text;
	bool ok;

	for (p = (const unsigned char *)s; *p != '\0' && *p < 0x80; p++)
		;
	if (*p != '\0') {
		json_t *j = json_string(s);

		text = j != NULL ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		json_decref(j);
		if ((ok = text != NULL && strlen(text) <= 6 * strlen(s) + 2))
			out_add(o, text, strlen(text));
		free(text);
		return ok;
	}
	out_add(o, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			out_add(o, "\\", 1);
			out_add(o, (const char *)p, 1);
		} else if (*p < 0x20 || *p == 0x7f) {
			char u[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };

			out_add(o, u, sizeof(u));
		} else
			out_add(o, (const char *)p, 1);
	}
	out_add(o, "\"", 1);
	return true;
}

static void
out_failure(struct out *o, const char *error)
{
	out_add(o, "{\"ok\":false,\"error\":\"", 21);
	out_add(o, error, strlen(error));		/* one of ours: nothing to escape */
	out_add(o, "\"}\n", 3);
}

/* {"ok":true,"sub":…,"scope":…,"client_id":…,"exp":…}; false: nothing added. */
static bool
out_success(struct out *o, const struct pot_rt *rt, const char *granted)
{
	size_t start = o->len;
	char exp[32];

	out_add(o, "{\"ok\":true,\"sub\":", 17);
	if (!out_str(o, rt->user))
		goto fail;
	out_add(o, ",\"scope\":", 9);
	if (!out_str(o, granted))
		goto fail;
	out_add(o, ",\"client_id\":", 13);
	if (!out_str(o, rt->client_id))
		goto fail;
	out_add(o, exp, (size_t)snprintf(exp, sizeof(exp), ",\"exp\":%lld}\n", (long long)rt->expires));
	return true;
fail:
	o->len = start;
	return false;
}

/* Sends what o holds; false: the peer does not read its replies, drop it. */
static bool
out_flush(int fd, struct out *o)
{
	size_t off = 0;
	ssize_t n;

	while (off < o->len) {
		n = send(fd, o->buf + off, o->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0) {
			o->len = 0;
			return false;
		}
		off += (size_t)n;
	}
	o->len = 0;
	return true;
}

/* --- one check ---------------------------------------------------------------------- */

/* Is the token good for user? Fills *rt (expiry slid) and the granted scope. */
static const char *
check_token(struct potd *d, const char *token, const char *user, struct pot_rt *rt,
	    char *granted, size_t grantedlen)
{
	unsigned char id[POT_ID_LEN];
	struct pot_grant g;
	int64_t now = potd_now(), want;
	int rc;

	if (!pot_secret_well_formed(token, POT_RT_PREFIX) ||
	    pot_secret_id(pot_keystore_pepper(d->ks), token, id) != POT_OK)
		return "invalid_token";
	if ((rc = pot_store_rt_get(d->store, id, rt)) != POT_OK)
		return rc == POT_ERR_NOT_FOUND ? "invalid_token" : "unavailable";
	if (rt->state != POT_RT_ACTIVE || now >= rt->expires || now >= rt->abs_expires)
		return "invalid_token";
	if (pot_store_grant_get(d->store, rt->grant, &g) != POT_OK || g.revoked)
		return "invalid_token";
	if (strcmp(rt->user, user) != 0)
		return "user_mismatch";
	want = now + (int64_t)d->conf->refresh_ttl;
	if (want > rt->abs_expires)
		want = rt->abs_expires;
	if (want - rt->expires >= SLIDE_STEP &&
	    (rc = pot_store_rt_check(d->store, id, now, (int64_t)d->conf->refresh_ttl, rt)) != POT_OK)
		return rc == POT_ERR_STORE ? "unavailable" : "invalid_token";
	if (potd_scope_policy(d->conf, user, rt->scope, granted, grantedlen) != POT_OK)
		return "invalid_token";
	return NULL;
}

/* Answers the request line into o; false: the reply could not be made, close. */
static bool
handle(struct potd *d, const struct conn *cn, const char *line, size_t len, struct out *o)
{
	char granted[POT_SCOPE_MAX], key[POT_NAME_MAX + 16], s_user[POT_NAME_MAX], s_svc[64],
	     s_rhost[128];
	const char *error;
	struct sock_req c;
	unsigned limited;
	struct pot_rt rt;
	bool ok = true;

	switch (sock_req_parse(line, len, &c)) {
	case SOCK_PING:				/* health checks, the benchmarks' floor */
		sock_req_free(&c);
		out_add(o, "{\"ok\":true}\n", 12);
		return true;
	case SOCK_BAD:
		if (strcmp(c.why, "not JSON") == 0)
			syslog(LOG_NOTICE, "check: peer uid=%lu pid=%ld: bad request (not JSON at byte %d)",
			       (unsigned long)cn->uid, (long)cn->pid, c.position);
		else
			syslog(LOG_NOTICE, "check: peer uid=%lu pid=%ld: bad request (%s: %s)",
			       (unsigned long)cn->uid, (long)cn->pid, c.bad, c.why);
		sock_req_free(&c);
		out_failure(o, "bad_request");
		return true;
	case SOCK_CHECK:
		break;
	}
	memset(&rt, 0, sizeof(rt));
	error = check_token(d, c.token, c.user, &rt, granted, sizeof(granted));
	if (error != NULL && strcmp(error, "unavailable") != 0) {
		snprintf(key, sizeof(key), "sock-uid:%lu", (unsigned long)cn->uid);
		limited = potd_throttle_check(d->throttle, key, potd_now());
		potd_throttle_fail(d->throttle, key, potd_now());
		snprintf(key, sizeof(key), "sock-user:%s", c.user);
		limited |= potd_throttle_check(d->throttle, key, potd_now());
		potd_throttle_fail(d->throttle, key, potd_now());
		if (limited != 0)
			error = "rate_limited";
	}
	syslog(error == NULL ? LOG_INFO : LOG_NOTICE,
	       "check: peer uid=%lu pid=%ld user=%s service=%s rhost=%s result=%s client_id=%s grant=%s",
	       (unsigned long)cn->uid, (long)cn->pid, pot_log_safe(c.user, s_user, sizeof(s_user)),
	       pot_log_safe(c.service, s_svc, sizeof(s_svc)),
	       pot_log_safe(c.rhost, s_rhost, sizeof(s_rhost)), error != NULL ? error : "ok",
	       rt.client_id[0] != '\0' ? rt.client_id : "-", rt.grant[0] != '\0' ? rt.grant : "-");
	if (error == NULL)
		ok = out_success(o, &rt, granted);
	else
		out_failure(o, error);
	sock_req_free(&c);
	pot_wipe(&rt, sizeof(rt));
	return ok;
}

/* --- connections ---------------------------------------------------------------------- */

static void
conn_close(struct worker *w, struct conn *cn)
{
	struct conn **pp;

	for (pp = &w->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cn) {
			*pp = cn->next;
			break;
		}
	epoll_ctl(w->ep, EPOLL_CTL_DEL, cn->fd, NULL);
	close(cn->fd);
	pot_wipe(cn, sizeof(*cn));
	free(cn);
	w->nconns--;
}

/*
 * Reads what is there and answers every complete line; false: close the connection.
 * The listening set is level-triggered: a read that did not fill the buffer took all
 * there was, and the next request wakes the worker again, so no read ends in EAGAIN.
 */
static bool
conn_read(struct worker *w, struct conn *cn)
{
	struct out *o = &w->out;
	size_t room;
	char *nl;
	ssize_t n;

	o->len = 0;
	for (;;) {
		room = LINE_MAX_BYTES + 1 - cn->len;
		n = recv(cn->fd, cn->buf + cn->len, room, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) && out_flush(cn->fd, o);
		cn->len += (size_t)n;
		cn->last = mono_now();
		while ((nl = memchr(cn->buf, '\n', cn->len)) != NULL) {
			size_t linelen = (size_t)(nl - cn->buf);

			if (sizeof(o->buf) - o->len < REPLY_MAX && !out_flush(cn->fd, o))
				return false;
			if (!handle(w->d, cn, cn->buf, linelen, o)) {
				(void)out_flush(cn->fd, o);
				return false;
			}
			pot_wipe(cn->buf, linelen + 1);
			memmove(cn->buf, nl + 1, cn->len - linelen - 1);
			cn->len -= linelen + 1;
		}
		if (cn->len > LINE_MAX_BYTES) {		/* no newline within the limit */
			syslog(LOG_NOTICE, "check: peer uid=%lu pid=%ld: line longer than %d bytes",
			       (unsigned long)cn->uid, (long)cn->pid, LINE_MAX_BYTES);
			if (sizeof(o->buf) - o->len < REPLY_MAX)
				(void)out_flush(cn->fd, o);
			out_failure(o, "bad_request");
			(void)out_flush(cn->fd, o);
			return false;
		}
		if ((size_t)n < room)
			return out_flush(cn->fd, o);
	}
}

static void
conn_accept(struct worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *cn;
	int fd;

	while ((fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) != -1) {
		if (w->nconns >= max_conns || (cn = calloc(1, sizeof(*cn))) == NULL) {
			close(fd);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
			cred.uid = (uid_t)-1;
			cred.pid = -1;
		}
		cn->fd = fd;
		cn->uid = cred.uid;
		cn->pid = cred.pid;
		cn->last = mono_now();
		ev.data.ptr = cn;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(cn);
			continue;
		}
		cn->next = w->conns;
		w->conns = cn;
		w->nconns++;
	}
	if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
	    epoll_ctl(w->ep, EPOLL_CTL_DEL, w->listen_fd, NULL) == 0) {
		syslog(LOG_WARNING, "socket: accept: %m; not accepting for a second");
		w->paused = true;
	}
}

static void
reap_idle(struct worker *w)
{
	struct conn *cn, *next;
	int64_t now = mono_now();

	for (cn = w->conns; cn != NULL; cn = next) {
		next = cn->next;
		if (now - cn->last >= IDLE_SECONDS)
			conn_close(w, cn);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64], lev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL };
	int64_t last_reap = mono_now();
	int n, i;

	while (!sock_stopping) {
		n = epoll_wait(w->ep, evs, 64, 1000);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				conn_accept(w);
				continue;
			}
			if (!conn_read(w, evs[i].data.ptr) ||
			    (evs[i].events & (EPOLLHUP | EPOLLERR)) != 0)
				conn_close(w, evs[i].data.ptr);
		}
		if (mono_now() != last_reap) {
			last_reap = mono_now();
			reap_idle(w);
			if (w->paused && epoll_ctl(w->ep, EPOLL_CTL_ADD, w->listen_fd, &lev) == 0)
				w->paused = false;
		}
	}
	while (w->conns != NULL)
		conn_close(w, w->conns);
	return NULL;
}

int
potd_sock_start(struct potd *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL };
	struct rlimit rl;
	int i;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 / WORKERS < max_conns)
		max_conns = rl.rlim_cur / 4 / WORKERS > 0 ? rl.rlim_cur / 4 / WORKERS : 1;
	for (i = 0; i < WORKERS; i++) {
		workers[i].d = d;
		workers[i].listen_fd = fd;
		if ((workers[i].ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
		    epoll_ctl(workers[i].ep, EPOLL_CTL_ADD, fd, &ev) != 0 ||
		    pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			return -1;
		(void)pthread_setname_np(workers[i].thread, "potd-sock");	/* top -H, tests */
	}
	return 0;
}

void
potd_sock_stop(void)
{
	int i;

	sock_stopping = 1;
	for (i = 0; i < WORKERS; i++) {
		if (workers[i].thread != 0)
			pthread_join(workers[i].thread, NULL);
		if (workers[i].ep > 0)
			close(workers[i].ep);
	}
}
