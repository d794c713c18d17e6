/* test_util.c — base64url strictness, constant-time compare, numbers, trusted files. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmocka_pre.h"
#include "pot/err.h"
#include "pot/util.h"

static void
test_b64url_roundtrip(void **state)
{
	unsigned char in[256], *out;
	char *enc;
	size_t i, n, len;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (n = 0; n <= sizeof(in); n++) {
		assert_int_equal(pot_b64url_encode(in, n, &enc), POT_OK);
		assert_null(strchr(enc, '='));
		assert_int_equal(strlen(enc), (n * 4 + 2) / 3);
		assert_int_equal(pot_b64url_decode(enc, strlen(enc), &out, &len), POT_OK);
		assert_int_equal(len, n);
		assert_memory_equal(out, in, n);
		free(enc);
		free(out);
	}
}

static void
test_b64url_vectors(void **state)
{
	unsigned char *out;
	char *enc;
	size_t len;

	(void)state;
	/* RFC 4648 §10 vectors, url alphabet, unpadded */
	assert_int_equal(pot_b64url_encode("foobar", 6, &enc), POT_OK);
	assert_string_equal(enc, "Zm9vYmFy");
	free(enc);
	assert_int_equal(pot_b64url_encode("fo", 2, &enc), POT_OK);
	assert_string_equal(enc, "Zm8");
	free(enc);
	assert_int_equal(pot_b64url_encode("\xfb\xff", 2, &enc), POT_OK);
	assert_string_equal(enc, "-_8");
	free(enc);
	assert_int_equal(pot_b64url_decode("-_8", 3, &out, &len), POT_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(out, "\xfb\xff", 2);
	free(out);
}

static void
test_b64url_refusals(void **state)
{
	static const char *const bad[] = {
		"Zm8=",		/* padding */
		"Zm9v YmFy",	/* space */
		"Zm9v\nYmFy",	/* newline */
		"Zm9v\tYmFy",
		"Zm9+YmFy",	/* standard alphabet */
		"Zm9/YmFy",
		"Z",		/* impossible length */
		"Zm9",		/* last char leaves non-zero bits: "Zm8" is canonical */
		"Zm9vYmF.",
		"Zm9v\0YmFy",
	};
	unsigned char *out;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = i == sizeof(bad) / sizeof(bad[0]) - 1 ? 9 : strlen(bad[i]);

		if (pot_b64url_decode(bad[i], n, &out, &len) != POT_ERR_MALFORMED)
			pot_fail_msg("accepted %s", bad[i]);
		assert_null(out);
	}
}

static void
test_ct_streq(void **state)
{
	(void)state;
	assert_true(pot_ct_streq("pot_rt_abc", "pot_rt_abc"));
	assert_false(pot_ct_streq("pot_rt_abc", "pot_rt_abd"));
	assert_false(pot_ct_streq("pot_rt_abc", "pot_rt_ab"));
	assert_false(pot_ct_streq("", "x"));
	assert_true(pot_ct_streq("", ""));
}

static void
test_parse_uint(void **state)
{
	unsigned long v;

	(void)state;
	assert_true(pot_parse_uint("30", 0, 300, &v));
	assert_int_equal(v, 30);
	assert_true(pot_parse_uint("0", 0, 300, &v));
	assert_false(pot_parse_uint("301", 0, 300, &v));
	assert_false(pot_parse_uint("-1", 0, 300, &v));
	assert_false(pot_parse_uint("+1", 0, 300, &v));
	assert_false(pot_parse_uint(" 1", 0, 300, &v));
	assert_false(pot_parse_uint("1 ", 0, 300, &v));
	assert_false(pot_parse_uint("1x", 0, 300, &v));
	assert_false(pot_parse_uint("", 0, 300, &v));
	assert_false(pot_parse_uint("99999999999999999999999", 0, 300, &v));
	assert_false(pot_parse_uint("5", 10, 300, &v));
}

static void
test_secret_free(void **state)
{
	(void)state;
	pot_secret_free(NULL);
	pot_secret_free(strdup("pot_rt_secret"));
	pot_wipe(NULL, 10);
}

static char dir[] = "/tmp/pot-util-XXXXXX";

static void
write_at(const char *name, const char *text, mode_t mode, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", dir, name);
	unlink(path);
	assert_int_not_equal(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_file_read(void **state)
{
	char path[600], link[600], err[512], *buf;
	struct stat st;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_at("ok", "hello", 0644, path, sizeof(path));
	assert_int_equal(pot_file_read(path, getuid(), 100, &buf, &len, &st, err, sizeof(err)), POT_OK);
	assert_string_equal(buf, "hello");
	assert_int_equal(len, 5);
	free(buf);
	/* too large */
	assert_int_equal(pot_file_read(path, getuid(), 4, &buf, &len, &st, err, sizeof(err)),
			 POT_ERR_TOO_LONG);
	/* group- or world-writable */
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(pot_file_read(path, getuid(), 100, &buf, &len, &st, err, sizeof(err)), POT_ERR_IO);
	assert_non_null(strstr(err, "writable by group or others"));
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(pot_file_read(path, getuid(), 100, &buf, &len, &st, err, sizeof(err)), POT_ERR_IO);
	assert_int_equal(chmod(path, 0644), 0);
	/* a symbolic link is refused, never followed */
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(pot_file_read(link, getuid(), 100, &buf, &len, &st, err, sizeof(err)), POT_ERR_IO);
	assert_non_null(strstr(err, "symbolic link"));
	unlink(link);
	/* missing, and a directory */
	snprintf(link, sizeof(link), "%s/missing", dir);
	assert_int_equal(pot_file_read(link, getuid(), 100, &buf, &len, &st, err, sizeof(err)),
			 POT_ERR_NOT_FOUND);
	assert_int_equal(pot_file_read(dir, getuid(), 100, &buf, &len, &st, err, sizeof(err)), POT_ERR_IO);
	/* owned by someone else than root or the expected owner */
	if (getuid() != 0) {
		assert_int_equal(pot_file_read(path, getuid() + 1, 100, &buf, &len, &st, err,
					       sizeof(err)), POT_ERR_IO);
		assert_non_null(strstr(err, "owned by uid"));
	}
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_roundtrip),
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_refusals),
		cmocka_unit_test(test_ct_streq),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_secret_free),
		cmocka_unit_test(test_file_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
