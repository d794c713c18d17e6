/* util.c — base64url, constant-time compares, wiping, numbers, trusted files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "pot/err.h"
#include "pot/util.h"

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
pot_b64url_encode(const void *in, size_t len, char **out)
{
	const unsigned char *p = in;
	size_t i, o = 0;
	char *s;

	*out = NULL;
	if (len > (SIZE_MAX - 4) / 4 * 3)
		return POT_ERR_TOO_LONG;
	if ((s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return POT_ERR_ALLOC;
	for (i = 0; i + 2 < len; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];

		s[o++] = b64url_alphabet[(v >> 18) & 63];
		s[o++] = b64url_alphabet[(v >> 12) & 63];
		s[o++] = b64url_alphabet[(v >> 6) & 63];
		s[o++] = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		s[o++] = b64url_alphabet[p[i] >> 2];
		s[o++] = b64url_alphabet[(p[i] & 3) << 4];
	} else if (len - i == 2) {
		s[o++] = b64url_alphabet[p[i] >> 2];
		s[o++] = b64url_alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		s[o++] = b64url_alphabet[(p[i + 1] & 15) << 2];
	}
	s[o] = '\0';
	*out = s;
	return POT_OK;
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
pot_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *d;
	unsigned long acc = 0;
	size_t i, o = 0;
	int bits = 0, v;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 1)
		return POT_ERR_MALFORMED;
	if ((d = malloc(len / 4 * 3 + 3)) == NULL)
		return POT_ERR_ALLOC;
	for (i = 0; i < len; i++) {
		if ((v = b64url_value(in[i])) < 0)
			goto bad;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	if (acc != 0)			/* non-canonical: leftover bits must be zero */
		goto bad;
	d[o] = '\0';
	*out = d;
	*outlen = o;
	return POT_OK;
bad:
	pot_wipe(d, len / 4 * 3 + 3);
	free(d);
	return POT_ERR_MALFORMED;
}

bool
pot_ct_streq(const char *a, const char *b)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
	bool eq;

	SHA256((const unsigned char *)a, strlen(a), da);
	SHA256((const unsigned char *)b, strlen(b), db);
	eq = CRYPTO_memcmp(da, db, sizeof(da)) == 0;
	OPENSSL_cleanse(da, sizeof(da));
	OPENSSL_cleanse(db, sizeof(db));
	return eq;
}

void
pot_wipe(void *p, size_t len)
{
	if (p != NULL && len != 0)
		OPENSSL_cleanse(p, len);
}

void
pot_secret_free(char *s)
{
	if (s == NULL)
		return;
	pot_wipe(s, strlen(s));
	free(s);
}

bool
pot_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

const char *
pot_skip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

int
pot_fail(int r, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen != 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int
pot_file_read(const char *path, uid_t owner, size_t max, char **buf, size_t *len,
	      struct stat *st, char *err, size_t errlen)
{
	char *b = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		r = pot_fail(errno == ENOENT ? POT_ERR_NOT_FOUND : POT_ERR_IO, err, errlen,
			     "%s: %s", path, errno == ELOOP ? "is a symbolic link" : strerror(errno));
		goto out;
	}
	if (fstat(fd, st) == -1) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: writable by group or others (mode %04o)",
			     path, (unsigned)(st->st_mode & 07777));
		goto out;
	}
	if (owner != POT_OWNER_ANY && st->st_uid != 0 && st->st_uid != owner) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: owned by uid %lu, not root", path,
			     (unsigned long)st->st_uid);
		goto out;
	}
	if ((size_t)st->st_size > max) {
		r = pot_fail(POT_ERR_TOO_LONG, err, errlen, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	if ((b = malloc((size_t)st->st_size + 1)) == NULL) {
		r = POT_ERR_ALLOC;
		goto out;
	}
	while (got < (size_t)st->st_size) {
		n = read(fd, b + got, (size_t)st->st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = pot_fail(POT_ERR_IO, err, errlen, "%s: %s", path,
				     n == 0 ? "changed while being read" : strerror(errno));
			goto out;
		}
		got += (size_t)n;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;			/* transferred */
	r = POT_OK;
out:
	free(b);
	if (fd != -1)
		close(fd);
	return r;
}

const char *
pot_log_safe(const char *s, char *buf, size_t len)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return "-";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (s[i] > 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

bool
pot_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int64_t
pot_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
pot_wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int n;

	do {
		if ((left = deadline - pot_mono_ms()) <= 0)
			return false;
		n = poll(&p, 1, (int)left);
	} while (n == -1 && errno == EINTR);
	return n > 0;
}
