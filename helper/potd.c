/*
 * potd.c — the token-issuing helper: `potd --config FILE [--foreground]`.
 * Started as root it binds its port, then drops to `user` before it reads state or
 * serves, and it refuses to serve as root. SIGTERM/SIGINT finish in-flight requests,
 * close the store and exit 0; SIGHUP reloads the configuration and the keys.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/hmac.h>

#include "admin.h"
#include "potd.h"
#include "pot/err.h"
#include "pot/util.h"

#define PURGE_EVERY	10	/* seconds between purge batches */
#define PURGE_BATCH	500
#define DRAIN_SECONDS	10

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	syslog(LOG_ERR, "%s", msg);
	exit(1);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: potd [--config FILE] [--foreground] [--debug]\n");
}

static struct pot_conf *
conf_load(const char *path, bool required)
{
	struct pot_conf *c = calloc(1, sizeof(*c));
	char err[512];

	if (c == NULL || pot_conf_init(c) != POT_OK)
		die("out of memory");
	if (pot_conf_load(c, path, required, geteuid(), err, sizeof(err)) != POT_OK) {
		syslog(LOG_ERR, "%s", err);
		pot_conf_free(c);
		free(c);
		return NULL;
	}
	if (pot_conf_finish(c) != POT_OK)
		die("out of memory");
	return c;
}

/* issuer must be scheme://host[:port] with no path, query or fragment (RFC 8414 §2). */
static bool
issuer_ok(const char *iss)
{
	const char *host;

	if ((host = pot_skip_prefix(iss, "https://")) == NULL &&
	    (host = pot_skip_prefix(iss, "http://")) == NULL)
		return false;
	return *host != '\0' && strpbrk(host, "/?#") == NULL;
}

/* listen = HOST:PORT (IPv4, or [IPv6]:PORT). */
static int
listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len, bool *loopback)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	unsigned long port;
	size_t hl;

	if (colon == NULL || !pot_parse_uint(colon + 1, 1, 65535, &port) ||
	    (hl = (size_t)(colon - listen)) == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		*loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		*loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
}

static int
listen_socket(const struct pot_conf *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool loopback;
	int fd, one = 1;

	if (listen_parse(c->listen, &ss, &len, &loopback) != 0)
		die("listen = %s: expected HOST:PORT with a numeric address", c->listen);
	if (!loopback && (c->tls_cert == NULL || c->tls_key == NULL))
		die("listen = %s is not loopback: tls_cert and tls_key are required", c->listen);
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %m");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		die("bind %s: %m", c->listen);
	if (listen(fd, 512) == -1)
		die("listen %s: %m", c->listen);
	return fd;
}

/* The refresh-token socket, bound before privileges are dropped, owned by `user`. */
static int
sock_open(const struct pot_conf *c)
{
	struct passwd *pw = geteuid() == 0 ? getpwnam(c->user) : NULL;
	int fd;

	if (geteuid() == 0 && pw == NULL)
		die("user = %s: no such account (create it, e.g. adduser --system %s)", c->user, c->user);
	fd = potd_sock_open(c->socket, pw != NULL ? pw->pw_uid : getuid(),
			    pw != NULL ? pw->pw_gid : getgid());
	if (fd == -1)
		die("cannot create the socket %s (see above)", c->socket);
	return fd;
}

/* As root: make state_dir ours-to-be, then become `user` for good. */
static void
drop_privileges(const struct pot_conf *c)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(c->user)) == NULL)
		die("user = %s: no such account (create it, e.g. adduser --system %s)", c->user, c->user);
	if (pw->pw_uid == 0)
		die("user = %s is root: potd never serves as root", c->user);
	if (mkdir(c->state_dir, 0755) == 0 || errno == EEXIST) {
		struct stat st;

		/* 0755 whatever root's umask: pam_pot in any process reads jwks.json in it */
		if (lstat(c->state_dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
		    (chown(c->state_dir, pw->pw_uid, pw->pw_gid) != 0 || chmod(c->state_dir, 0755) != 0))
			die("chown/chmod %s: %m", c->state_dir);
	}
	/* the account's own groups: e.g. shadow, when login_service uses pam_unix */
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		die("cannot drop privileges to %s: %m", c->user);
	if (setuid(0) == 0 || geteuid() == 0)
		die("privileges could be regained after dropping them: refusing to serve");
}

/* Only one process may own the Berkeley DB environment: potd, or `pot` while potd is down. */
static int
store_lock(const struct pot_conf *c)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/potd.lock", c->state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		die("%s: %m", path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		die("%s is locked: another potd (or a `pot` command) owns the store", path);
	return fd;
}

/*
 * Prunes dropped keys and rewrites the JWKS file when its content changed, so that
 * pam_pot, which re-reads it on every change of its mtime, does not re-read it for nothing.
 */
static void
keys_publish(struct potd *d)
{
	static char *last, *last_path;
	char err[512], *text = NULL;
	json_t *j;

	pthread_rwlock_wrlock(&d->ks_lock);
	pot_keystore_prune(d->ks, potd_now());
	if ((j = pot_keystore_jwks(d->ks, potd_now())) != NULL)
		text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (last_path == NULL || strcmp(last_path, d->conf->jwks) != 0) {	/* moved by a reload */
		free(last_path);
		last_path = strdup(d->conf->jwks);
		free(last);
		last = NULL;
	}
	if (text == NULL || last == NULL || strcmp(text, last) != 0) {
		if (pot_keystore_write_jwks(d->ks, d->conf->jwks, potd_now(), err, sizeof(err)) != POT_OK) {
			syslog(LOG_ERR, "cannot write the JWKS: %s", err);
			free(text);
			text = NULL;
		}
		free(last);
		last = text;
	} else
		free(text);
	pthread_rwlock_unlock(&d->ks_lock);
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
reload(struct potd *d, const char *path, bool explicit)
{
	struct pot_conf *c = conf_load(path, explicit);
	char err[512];

	if (c == NULL || !issuer_ok(c->issuer)) {
		syslog(LOG_ERR, "reload: %s; keeping the running configuration",
		       c == NULL ? "bad configuration" : "bad issuer");
		if (c != NULL) {
			pot_conf_free(c);
			free(c);
		}
		return;
	}
	if (!same_str(c->listen, d->conf->listen) || !same_str(c->state_dir, d->conf->state_dir) ||
	    !same_str(c->tls_cert, d->conf->tls_cert) || !same_str(c->tls_key, d->conf->tls_key) ||
	    !same_str(c->user, d->conf->user))
		syslog(LOG_WARNING, "reload: listen, state_dir, tls_cert, tls_key and user take "
		       "effect at the next start");
	__atomic_store_n(&d->conf, c, __ATOMIC_RELEASE);	/* the old one stays allocated */
	pthread_rwlock_wrlock(&d->ks_lock);
	if (pot_keystore_reload(d->ks, err, sizeof(err)) != POT_OK)
		syslog(LOG_ERR, "reload: keys: %s", err);
	pthread_rwlock_unlock(&d->ks_lock);
	keys_publish(d);
	syslog(LOG_INFO, "reloaded %s and the keys", path);
}

static void
purge(struct potd *d)
{
	size_t removed = 0;

	if (pot_store_purge(d->store, potd_now(), PURGE_BATCH, &removed) != POT_OK)
		syslog(LOG_ERR, "purge: %s", pot_store_strerror(d->store));
	else if (removed != 0)
		syslog(LOG_INFO, "purged %zu expired records", removed);
}

/* --- administration over state_dir/admin.sock, for `pot` while potd runs ---------------- */

static struct pot_admin admin;
static pthread_t admin_thread;
static volatile int admin_stopping;
static char admin_path[4096];

static void
admin_keys_changed(void *arg)
{
	keys_publish(arg);
}

static void *
admin_main(void *arg)
{
	(void)arg;
	if (pot_admin_serve(&admin, admin_path, &admin_stopping) != 0)
		syslog(LOG_ERR, "the admin socket %s stopped: `pot` cannot reach potd", admin_path);
	return NULL;
}

static void
admin_start(struct potd *d)
{
	admin = (struct pot_admin){ .conf = d->conf, .store = d->store, .ks = d->ks,
				    .ks_lock = &d->ks_lock, .keys_changed = admin_keys_changed,
				    .arg = d };
	snprintf(admin_path, sizeof(admin_path), "%s/%s", d->conf->state_dir, POT_ADMIN_SOCKET);
	if (pthread_create(&admin_thread, NULL, admin_main, NULL) != 0)
		die("cannot start the admin thread");
}

static void
admin_stop(struct potd *d)
{
	(void)d;
	admin_stopping = 1;
	pthread_join(admin_thread, NULL);
}

static char *
read_pem(const char *path)
{
	char *buf, err[512];
	struct stat st;
	size_t len;

	if (pot_file_read(path, POT_OWNER_ANY, 1024 * 1024, &buf, &len, &st, err, sizeof(err)) != POT_OK)
		die("%s", err);
	return buf;
}

static struct MHD_Daemon *
http_start(struct potd *d, int fd)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_USE_ITC;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	/*
	 * More threads than cores: a thread waiting for its commit to reach the disk is
	 * not using a core, and concurrent commits share one flush (store.c, store_run).
	 */
	unsigned pool = (unsigned)(cores > 0 ? cores : 2) * 8;
	char *cert = NULL, *key = NULL;
	struct MHD_Daemon *mhd;

	if (d->conf->tls_cert != NULL && d->conf->tls_key != NULL) {
		cert = read_pem(d->conf->tls_cert);
		key = read_pem(d->conf->tls_key);
		flags |= MHD_USE_TLS;
	}
	/*
	 * The connection memory limit is MHD's default, 32 KiB: MHD clears a connection's
	 * pool between requests, and clearing 64 KiB cost about 6% of a token request.
	 * Headers and form bodies pass through it in pieces (the body cap is 16 KiB).
	 */
	mhd = MHD_start_daemon(flags, 0, NULL, NULL, potd_http_access, d,
			       MHD_OPTION_LISTEN_SOCKET, fd,
			       MHD_OPTION_THREAD_POOL_SIZE, pool,
			       MHD_OPTION_CONNECTION_LIMIT, 1024u,
			       MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
			       MHD_OPTION_NOTIFY_COMPLETED, potd_http_completed, d,
			       cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
			       MHD_OPTION_HTTPS_MEM_KEY, key,
			       MHD_OPTION_END);
	if (key != NULL)
		pot_secret_free(key);
	free(cert);
	return mhd;
}

/*
 * Stop accepting, let in-flight requests finish (bounded), then stop. Idle keep-alive
 * connections (a proxy's pool) are not waited for: MHD_stop_daemon closes them.
 */
static void
http_stop(struct MHD_Daemon *mhd)
{
	int i;

	MHD_quiesce_daemon(mhd);
	for (i = 0; i < DRAIN_SECONDS * 10 && potd_http_inflight() != 0; i++)
		usleep(100 * 1000);
	MHD_stop_daemon(mhd);
}

static void
wipe_free(void *p)
{
	if (p != NULL) {
		pot_wipe(p, malloc_usable_size(p));
		free(p);
	}
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = POT_CONF_DEFAULT;
	bool explicit = false, foreground = false, debug = false;
	struct potd d = { 0 };
	char err[512], storedir[4096];
	struct MHD_Daemon *mhd;
	sigset_t sigs;
	int opt, fd, sock_fd, sig;
	int64_t last_purge = 0;

	/*
	 * One malloc arena for all threads. With glibc's default (eight per core) the 16+
	 * HTTP and socket threads each fragment an arena of their own, and RSS crept up by
	 * megabytes a minute under tests/bench/load.sh with nothing leaked (valgrind: 0 bytes
	 * lost); with one arena it stays flat. Per-thread caches (tcache) keep small
	 * allocations off the arena lock.
	 */
	(void)mallopt(M_ARENA_MAX, 1);
	/* jansson holds the refresh tokens of socket requests: wipe its blocks when freed */
	json_set_alloc_funcs(malloc, wipe_free);
	while ((opt = getopt_long(argc, argv, "c:fd", lo, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; explicit = true; break;
		case 'f': foreground = true; break;
		case 'd': debug = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("potd %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	openlog("potd", LOG_PID | (foreground ? LOG_PERROR : 0), LOG_DAEMON);
	/*
	 * Every grant of a code, reuse, revocation, sign-in and check is logged; the lines per
	 * client_credentials and refresh request are LOG_DEBUG, off unless --debug: at
	 * thousands a second they cost a third of a token's CPU and would be rate-limited
	 * by journald anyway (/metrics counts them).
	 */
	setlogmask(debug ? LOG_UPTO(LOG_DEBUG) : LOG_UPTO(LOG_INFO));
	if ((d.conf = conf_load(path, explicit)) == NULL)
		return 1;
	if (!issuer_ok(d.conf->issuer))
		die("issuer = %s: must be http(s)://host[:port] without a path", d.conf->issuer);
	fd = listen_socket(d.conf);
	sock_fd = sock_open(d.conf);
	drop_privileges(d.conf);
	if (geteuid() == 0 || getuid() == 0)
		die("refusing to serve as root");
	umask(077);
	if (pot_keystore_open(d.conf->state_dir, true, potd_now(), &d.ks, err, sizeof(err)) != POT_OK)
		die("keys: %s", err);
	(void)store_lock(d.conf);	/* state_dir exists now */
	snprintf(storedir, sizeof(storedir), "%s/db", d.conf->state_dir);
	if (pot_store_open(storedir, true, &d.store, err, sizeof(err)) != POT_OK)
		die("store: %s", err);
	if ((d.metrics = potd_metrics_new()) == NULL || (d.throttle = potd_throttle_new()) == NULL ||
	    (d.keyring = pot_keyring_new()) == NULL)
		die("out of memory");
	pthread_rwlock_init(&d.ks_lock, NULL);
	pthread_mutex_init(&d.keyring_lock, NULL);
	{
		unsigned int len = sizeof(d.form_key);

		if (HMAC(EVP_sha256(), pot_keystore_pepper(d.ks), POT_PEPPER_LEN,
			 (const unsigned char *)"authorize-form", 14, d.form_key, &len) == NULL)
			die("cannot derive the form key");
	}
	keys_publish(&d);
	/* signals go to this thread only: block them before any other thread starts */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	admin_start(&d);
	if ((mhd = http_start(&d, fd)) == NULL)
		die("cannot start the HTTP server on %s", d.conf->listen);
	if (potd_sock_start(&d, sock_fd) != 0)
		die("cannot serve the socket %s", d.conf->socket);
	syslog(LOG_INFO, "serving %s on %s%s as uid %lu", d.conf->issuer, d.conf->listen,
	       d.conf->tls_cert != NULL ? " (TLS)" : "", (unsigned long)getuid());
	for (;;) {
		struct timespec tick = { 1, 0 };

		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			reload(&d, path, explicit);
			__atomic_store_n(&admin.conf, d.conf, __ATOMIC_RELEASE);
		}
		if (potd_now() - last_purge >= PURGE_EVERY) {
			last_purge = potd_now();
			purge(&d);
			keys_publish(&d);
		}
	}
	syslog(LOG_INFO, "%s: finishing in-flight requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	http_stop(mhd);
	potd_sock_stop();
	unlink(d.conf->socket);
	admin_stop(&d);
	pot_store_close(d.store);
	pot_keystore_free(d.ks);
	pot_keyring_free(d.keyring);
	potd_metrics_free(d.metrics);
	potd_throttle_free(d.throttle);
	pot_wipe(d.form_key, sizeof(d.form_key));
	syslog(LOG_INFO, "stopped");
	return 0;
}
