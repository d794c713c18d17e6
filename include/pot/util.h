/* pot/util.h — base64url, constant-time compares, secret wiping, numbers, trusted files. */
#ifndef POT_UTIL_H
#define POT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Unpadded base64url (RFC 7515 §2). *out is NUL-terminated; free with free(). */
int pot_b64url_encode(const void *in, size_t len, char **out);
/*
 * Strict decoding: only A-Z a-z 0-9 - _, no padding, no whitespace, and the unused
 * low bits of the last character must be zero (one encoding per value).
 * *out is NUL-terminated (not counted in *outlen); free with free().
 */
int pot_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

/* Constant-time equality of two NUL-terminated strings (over their SHA-256). */
bool pot_ct_streq(const char *a, const char *b);

/* Wipe then free; NULL-safe. */
void pot_secret_free(char *s);
void pot_wipe(void *p, size_t len);

/* Decimal unsigned number in [min, max]: digits only, no sign, no space. */
bool pot_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Returns the rest of s after prefix, or NULL. */
const char *pot_skip_prefix(const char *s, const char *prefix);

#define POT_OWNER_ANY ((uid_t)-1)

/*
 * Reads a whole regular file opened with O_NOFOLLOW, refused when it is writable by
 * group or others, larger than max, or (unless owner is POT_OWNER_ANY) owned by
 * someone other than root or owner. On error, err says why (naming the path).
 * *buf is NUL-terminated. *st receives the file's status.
 */
int pot_file_read(const char *path, uid_t owner, size_t max, char **buf, size_t *len,
		  struct stat *st, char *err, size_t errlen);

/*
 * s made safe for a log line, in buf: printable ASCII except space, quotes and backslash
 * (each becomes '?'), truncated to fit; "-" when s is NULL or empty.
 */
const char *pot_log_safe(const char *s, char *buf, size_t len);

/*
 * Is it still the same file, unchanged? Device, inode, size, mtime and ctime (a chmod or
 * an in-place rewrite with the old mtime restored still changes ctime).
 */
bool pot_same_file(const struct stat *a, const struct stat *b);

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
int64_t pot_mono_ms(void);
/* poll(2) fd for events until the pot_mono_ms() deadline: true when something happened. */
bool pot_wait_fd(int fd, short events, int64_t deadline);

/* printf into err, truncating; returns r so callers can `return pot_fail(...)`. */
int pot_fail(int r, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
