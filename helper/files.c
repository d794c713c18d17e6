/* files.c — atomic replacement of one file in a directory (see files.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "files.h"
#include "pot/err.h"
#include "pot/util.h"

#define TMP_MAX_NAME	256

static int
write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The temporary file of name, created exclusively; its name into tmp. -1 with errno. */
static int
tmp_create(int dirfd, const char *name, char tmp[TMP_MAX_NAME])
{
	unsigned char rnd[6];
	int n, tries, fd;

	for (tries = 0; tries < 8; tries++) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			errno = EIO;
			return -1;
		}
		n = snprintf(tmp, TMP_MAX_NAME, ".%s" POT_FILE_TMP_INFIX "%02x%02x%02x%02x%02x%02x",
			     name, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
		if (n < 0 || n >= TMP_MAX_NAME) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			    0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;				/* errno: EEXIST eight times */
}

int
pot_file_write_atomic(int dirfd, const char *dir, const char *name, const void *data,
		      size_t len, mode_t mode, bool replace, char *err, size_t errlen)
{
	char tmp[TMP_MAX_NAME];
	int fd, r;

	if ((fd = tmp_create(dirfd, name, tmp)) == -1)
		return pot_fail(POT_ERR_IO, err, errlen, "%s/%s: cannot create a temporary file: %s",
				dir, name, strerror(errno));
	if (fchmod(fd, mode) == -1 || write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s/%s: %s", dir, tmp, strerror(errno));
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r == -1) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s/%s: %s", dir, tmp, strerror(errno));
		goto out;
	}
	if (replace ? renameat(dirfd, tmp, dirfd, name) == -1 :
		      linkat(dirfd, tmp, dirfd, name, 0) == -1) {
		r = pot_fail(errno == EEXIST ? POT_ERR_DENIED : POT_ERR_IO, err, errlen, "%s/%s: %s",
			     dir, name, strerror(errno));
		goto out;
	}
	if (replace)
		tmp[0] = '\0';			/* renamed: nothing left to remove */
	r = fsync(dirfd) == -1 ? pot_fail(POT_ERR_IO, err, errlen, "%s: fsync: %s", dir,
					 strerror(errno)) : POT_OK;
out:
	if (fd != -1)
		close(fd);
	if (tmp[0] != '\0')
		(void)unlinkat(dirfd, tmp, 0);
	return r;
}
