/*
 * refresh.c — a refresh token is checked by potd over its UNIX socket: one JSON line
 * out, one back, within socket_timeout seconds. potd slides the token's expiry and never
 * rotates it. When potd cannot be reached the answer is "unavailable", so JWT logins,
 * verified offline, go on working while refresh-token logins wait for potd.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <security/pam_ext.h>

#include "pam_pot.h"
#include "pot/err.h"
#include "pot/token.h"
#include "pot/util.h"

#define REPLY_MAX	4096

/*
 * A UNIX socket connects at once or not at all: there is no connect in progress to wait
 * for, and EAGAIN means potd's listen backlog is full (potd busy or stalled). So try
 * again until the deadline.
 */
static int
sock_connect(const char *path, int64_t deadline, char *why, size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return pot_fail(-1, why, whylen, "socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return pot_fail(-1, why, whylen, "socket: %s", strerror(errno));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		if (e != EAGAIN || pot_mono_ms() >= deadline) {
			pot_fail(-1, why, whylen, "cannot connect to %s: %s", path,
				 e == EAGAIN ? "potd busy, timed out" : strerror(e));
			close(fd);
			return -1;
		}
		(void)poll(NULL, 0, 10);
	}
	return fd;
}

static bool
send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!pot_wait_fd(fd, POLLOUT, deadline))
				return false;
		} else
			return false;
	}
	return true;
}

/* One line back, at most REPLY_MAX bytes. */
static bool
recv_line(int fd, char *buf, size_t size, int64_t deadline)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1) {
		if (!pot_wait_fd(fd, POLLIN, deadline))
			return false;
		n = recv(fd, buf + len, size - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return false;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) != NULL)
			return true;
	}
	return false;
}

static int
reply_parse(const char *line, struct pot_claims *c, const char **why)
{
	const char *error = NULL, *sub, *scope, *cid;
	json_int_t exp;
	int ok = 0;
	json_t *j = json_loads(line, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, NULL);

	*why = "potd gave a malformed answer";
	if (j == NULL || json_unpack(j, "{s:b, s?s}", "ok", &ok, "error", &error) != 0) {
		json_decref(j);
		return POT_ERR_UNAVAILABLE;
	}
	if (!ok) {
		int r = POT_ERR_DENIED;

		*why = "invalid refresh token";
		if (error != NULL && strcmp(error, "user_mismatch") == 0) {
			*why = pot_strerror(POT_ERR_USER);
			r = POT_ERR_USER;
		} else if (error != NULL && strcmp(error, "rate_limited") == 0)
			*why = "rate limited by potd";
		else if (error != NULL && strcmp(error, "unavailable") == 0) {
			*why = "potd's store is unavailable";
			r = POT_ERR_UNAVAILABLE;
		} else if (error != NULL && strcmp(error, "bad_request") == 0)
			*why = "potd refused the request";
		json_decref(j);
		return r;
	}
	if (json_unpack(j, "{s:s, s:s, s:s, s:I}", "sub", &sub, "scope", &scope, "client_id", &cid,
			"exp", &exp) != 0 ||
	    (c->user = strdup(sub)) == NULL || (c->scope = strdup(scope)) == NULL ||
	    (c->client_id = strdup(cid)) == NULL) {
		json_decref(j);
		pot_claims_free(c);
		return POT_ERR_UNAVAILABLE;
	}
	c->exp = (long long)exp;
	json_decref(j);
	*why = "ok";
	return POT_OK;
}

int
pot_refresh_check(pam_handle_t *pamh, const struct pot_opts *o, const char *user,
		  const char *token, struct pot_claims *out, const char **why)
{
	static __thread char reason[300];	/* per thread: PAM applications may be threaded */
	const void *service = NULL, *rhost = NULL;
	int64_t deadline = pot_mono_ms() + (int64_t)o->conf.socket_timeout * 1000;
	char *req = NULL, reply[REPLY_MAX + 1];
	json_t *j;
	int fd = -1, r = POT_ERR_UNAVAILABLE;

	memset(out, 0, sizeof(*out));
	*why = "potd unreachable";
	(void)pam_get_item(pamh, PAM_SERVICE, &service);
	(void)pam_get_item(pamh, PAM_RHOST, &rhost);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "check", "token", token, "user", user,
		      "service", service != NULL ? (const char *)service : "",
		      "rhost", rhost != NULL ? (const char *)rhost : "");
	if (j == NULL || (req = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return POT_ERR_ALLOC;
	}
	json_decref(j);
	if ((fd = sock_connect(o->conf.socket, deadline, reason, sizeof(reason))) == -1) {
		*why = reason;
		goto out;
	}
	if (!send_all(fd, req, strlen(req), deadline) || !send_all(fd, "\n", 1, deadline) ||
	    !recv_line(fd, reply, sizeof(reply), deadline)) {
		*why = "potd did not answer in time";
		goto out;
	}
	r = reply_parse(reply, out, why);
out:
	if (fd != -1)
		close(fd);
	pot_secret_free(req);
	pot_wipe(reply, sizeof(reply));
	return r;
}
