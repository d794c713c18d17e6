/*
 * admin_sock.c — potd's administration socket, state_dir/admin.sock (0600): `pot client|
 * key|tokens|purge` reach the running potd through it. One connection at a time, each
 * one request line and one reply line (JSON, see admin.h), every op logged with the
 * peer's uid and pid and never a secret. Only root and potd's own uid are served.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "pot/err.h"
#include "pot/util.h"

#define CONN_TIMEOUT_MS	5000
#define BACKLOG		16

/*
 * Reads one line (without its newline; EOF also ends it) of at most POT_ADMIN_LINE_MAX
 * bytes into buf (POT_ADMIN_LINE_MAX + 1 bytes). POT_ERR_TOO_LONG past the cap.
 */
static int
line_read(int fd, char *buf, size_t *len, int64_t deadline)
{
	char *nl;
	ssize_t n;

	*len = 0;
	for (;;) {
		if (!pot_wait_fd(fd, POLLIN, deadline))
			return POT_ERR_IO;
		if ((n = read(fd, buf + *len, POT_ADMIN_LINE_MAX + 1 - *len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return POT_ERR_IO;
		}
		if ((nl = memchr(buf + *len, '\n', (size_t)n)) != NULL) {
			*len = (size_t)(nl - buf);
			break;
		}
		*len += (size_t)n;
		if (n == 0)
			break;
		if (*len > POT_ADMIN_LINE_MAX)
			return POT_ERR_TOO_LONG;
	}
	buf[*len] = '\0';
	return *len == 0 ? POT_ERR_IO : POT_OK;
}

static int
write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		if (!pot_wait_fd(fd, POLLOUT, deadline))
			return POT_ERR_IO;
		if ((n = send(fd, buf, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return POT_ERR_IO;
		}
		buf += n;
		len -= (size_t)n;
	}
	return POT_OK;
}

/* The reply as one line, written into a buffer of ours so that it can be wiped. */
static int
reply_write(int fd, const json_t *rep, int64_t deadline)
{
	size_t need = json_dumpb(rep, NULL, 0, JSON_COMPACT);
	char *line;
	int r;

	if (need == 0 || (line = malloc(need + 1)) == NULL)
		return POT_ERR_ALLOC;
	if (json_dumpb(rep, line, need, JSON_COMPACT) != need)
		r = POT_ERR_ALLOC;
	else {
		line[need] = '\n';
		r = write_all(fd, line, need + 1, deadline);
	}
	pot_wipe(line, need + 1);	/* may hold a client secret */
	free(line);
	return r;
}

static json_t *
request_run(struct pot_admin *a, const char *line, size_t len, json_t **req)
{
	json_error_t jerr;

	if ((*req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return pot_admin_error(true, "bad request: %s at column %d", jerr.text, jerr.column);
	return pot_admin_run(a, *req);
}

static void
conn_serve(struct pot_admin *a, int fd)
{
	int64_t deadline = pot_mono_ms() + CONN_TIMEOUT_MS;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	json_t *req = NULL, *rep = NULL;
	char *line = NULL;
	size_t len;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == -1) {
		syslog(LOG_ERR, "admin: SO_PEERCRED: %m");
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		syslog(LOG_WARNING, "admin: refused uid %lu pid %ld: neither root nor potd's user",
		       (unsigned long)cred.uid, (long)cred.pid);
		return;
	}
	if ((line = malloc(POT_ADMIN_LINE_MAX + 1)) == NULL) {
		syslog(LOG_ERR, "admin: out of memory");
		return;
	}
	if ((r = line_read(fd, line, &len, deadline)) == POT_ERR_TOO_LONG)
		rep = pot_admin_error(true, "request longer than %d bytes", POT_ADMIN_LINE_MAX);
	else if (r != POT_OK) {
		syslog(LOG_WARNING, "admin: uid %lu pid %ld sent no request line within %d s",
		       (unsigned long)cred.uid, (long)cred.pid, CONN_TIMEOUT_MS / 1000);
		goto out;
	} else
		rep = request_run(a, line, len, &req);
	if (rep == NULL)
		rep = pot_admin_error(false, "out of memory");
	pot_admin_log(req, rep, (unsigned long)cred.uid, (long)cred.pid);
	if (rep == NULL || reply_write(fd, rep, deadline) != POT_OK)
		syslog(LOG_WARNING, "admin: cannot answer uid %lu pid %ld",
		       (unsigned long)cred.uid, (long)cred.pid);
out:
	pot_admin_reply_free(rep);
	json_decref(req);
	free(line);
}

/* Unlinks a stale socket (never another kind of file), binds path 0600 and listens. */
static int
sock_listen(const char *path, int *out)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	*out = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		syslog(LOG_ERR, "admin: %s: path too long for a socket", path);
		return POT_ERR_TOO_LONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		syslog(LOG_ERR, "admin: %s exists and is not a socket", path);
		return POT_ERR_IO;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		syslog(LOG_ERR, "admin: cannot remove the stale %s: %m", path);
		return POT_ERR_IO;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		syslog(LOG_ERR, "admin: socket: %m");
		return POT_ERR_IO;
	}
	/* Linux gives the new node the socket's mode: no moment with a wider one */
	if (fchmod(fd, 0600) == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0600) == -1 || listen(fd, BACKLOG) == -1) {
		syslog(LOG_ERR, "admin: %s: %m", path);
		close(fd);
		return POT_ERR_IO;
	}
	*out = fd;
	return POT_OK;
}

static void
accept_one(struct pot_admin *a, int lfd)
{
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
			syslog(LOG_ERR, "admin: accept: %m");
			usleep(100 * 1000);	/* EMFILE and the like: do not spin */
		}
		return;
	}
	conn_serve(a, fd);
	close(fd);
}

int
pot_admin_serve(struct pot_admin *a, const char *path, volatile int *stop)
{
	struct pollfd p;
	int fd, n, r;

	if ((r = sock_listen(path, &fd)) != POT_OK)
		return r;
	syslog(LOG_INFO, "admin: listening on %s", path);
	while (!*stop) {
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		if ((n = poll(&p, 1, 1000)) == -1 && errno != EINTR) {
			syslog(LOG_ERR, "admin: poll: %m");
			r = POT_ERR_IO;
			break;
		}
		if (n > 0)
			accept_one(a, fd);
	}
	close(fd);
	(void)unlink(path);
	return r;
}
