/* test_config.c — pot.conf: defaults, every key, errors naming file:line. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmocka_pre.h"
#include "pot/conf.h"
#include "pot/err.h"

static char dir[] = "/tmp/pot-conf-XXXXXX";
static char path[600];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/pot.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
write_conf(const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_int_not_equal(fd, -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
}

/* Loads text; returns the result and leaves the message in err. */
static int
load(const char *text, struct pot_conf *c, char *err, size_t errlen)
{
	write_conf(text);
	assert_int_equal(pot_conf_init(c), POT_OK);
	return pot_conf_load(c, path, true, getuid(), err, errlen);
}

static void
test_defaults(void **state)
{
	struct pot_conf c;

	(void)state;
	assert_int_equal(pot_conf_init(&c), POT_OK);
	assert_int_equal(pot_conf_finish(&c), POT_OK);
	assert_string_equal(c.issuer, "http://127.0.0.1:8740");
	assert_string_equal(c.audience, "pot");
	assert_string_equal(c.jwks, "/var/lib/pot/jwks.json");
	assert_string_equal(c.state_dir, "/var/lib/pot");
	assert_string_equal(c.socket, "/run/pot/potd.sock");
	assert_string_equal(c.listen, "127.0.0.1:8740");
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_int_equal(c.access_ttl, 600);
	assert_int_equal(c.refresh_ttl, 2592000);
	assert_int_equal(c.refresh_max, 7776000);
	assert_int_equal(c.code_ttl, 60);
	assert_string_equal(c.login_service, "potd");
	assert_string_equal(c.user_claim, "sub");
	assert_int_equal(c.leeway, 30);
	assert_string_equal(c.user, "pot");
	assert_int_equal(c.key_activation_delay, 600);
	assert_int_equal(c.ntrust, 0);
	assert_int_equal(c.nscopes, 0);
	pot_conf_free(&c);
}

static void
test_all_keys(void **state)
{
	struct pot_conf c;
	char err[512];

	(void)state;
	assert_int_equal(load("# comment\n\n"
			      "issuer = https://pot.example\n"
			      "  audience=hosts  \n"
			      "state_dir = /srv/pot\n"
			      "socket = /run/x.sock\n"
			      "listen = 0.0.0.0:443\n"
			      "tls_cert = /etc/pot/cert.pem\n"
			      "tls_key = /etc/pot/key.pem\n"
			      "access_ttl = 300\n"
			      "refresh_ttl = 86400\n"
			      "refresh_max = 864000\n"
			      "code_ttl = 30\n"
			      "login_service = login\n"
			      "user_claim = preferred_username\n"
			      "leeway = 0\n"
			      "user = _pot\n"
			      "key_activation_delay = 0\n"
			      "trust = https://platform.example /etc/pot/platform.json\n"
			      "trust = https://other.example\t/etc/pot/other.json\n"
			      "scope.sudo = alice @wheel\n"
			      "scope.ssh = *\n"
			      "scope.sudo = bob\n", &c, err, sizeof(err)), POT_OK);
	assert_int_equal(pot_conf_finish(&c), POT_OK);
	assert_string_equal(c.issuer, "https://pot.example");
	assert_string_equal(c.audience, "hosts");
	assert_string_equal(c.jwks, "/srv/pot/jwks.json");	/* follows state_dir */
	assert_string_equal(c.tls_key, "/etc/pot/key.pem");
	assert_int_equal(c.access_ttl, 300);
	assert_int_equal(c.leeway, 0);
	assert_string_equal(c.user_claim, "preferred_username");
	assert_int_equal(c.ntrust, 2);
	assert_string_equal(c.trust[0].issuer, "https://platform.example");
	assert_string_equal(c.trust[0].jwks, "/etc/pot/platform.json");
	assert_string_equal(c.trust[1].jwks, "/etc/pot/other.json");
	assert_int_equal(c.nscopes, 2);
	assert_string_equal(c.scopes[0].scope, "sudo");
	assert_string_equal(c.scopes[0].who, "bob");		/* the last line wins */
	assert_string_equal(c.scopes[1].who, "*");
	pot_conf_free(&c);
}

static void
test_errors_name_file_and_line(void **state)
{
	static const struct { const char *text; const char *want; } cases[] = {
		{ "issuer = x\nfrobnicate = 1\n", ":2: unknown key `frobnicate`" },
		{ "\n\nleeway = 301\n", ":3: leeway: `301` is not a number in 0..300" },
		{ "leeway = -1\n", ":1: leeway" },
		{ "leeway = 1s\n", ":1: leeway" },
		{ "leeway = \n", ":1: leeway" },
		{ "access_ttl = 10\n", ":1: access_ttl" },
		{ "code_ttl = 601\n", ":1: code_ttl" },
		{ "just words\n", ":1: expected `key = value`" },
		{ " = value\n", ":1: missing key" },
		{ "issuer =\n", ":1: issuer: empty value" },
		{ "trust = https://only.issuer\n", ":1: trust needs" },
		{ "trust = https://x relative.json\n", ":1: trust: the JWKS file must be one absolute path" },
		{ "scope.= x\n", ":1: bad scope name" },
		{ "is suer = x\n", ":1: bad key" },
		{ "issuer = a\x01z\n", ":1: control character" },
	};
	struct pot_conf c;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load(cases[i].text, &c, err, sizeof(err)), POT_ERR_CONFIG);
		if (strncmp(err, path, strlen(path)) != 0 || strstr(err, cases[i].want) == NULL)
			pot_fail_msg("case %zu: got `%s`, want `%s%s`", i, err, path, cases[i].want);
		pot_conf_free(&c);
	}
}

static void
test_missing_file(void **state)
{
	struct pot_conf c;
	char err[512];

	(void)state;
	assert_int_equal(pot_conf_init(&c), POT_OK);
	assert_int_equal(pot_conf_load(&c, "/nonexistent/pot.conf", false, getuid(), err, sizeof(err)),
			 POT_OK);
	assert_int_equal(pot_conf_load(&c, "/nonexistent/pot.conf", true, getuid(), err, sizeof(err)),
			 POT_ERR_CONFIG);
	pot_conf_free(&c);
}

static void
test_unsafe_file(void **state)
{
	struct pot_conf c;
	char err[512];

	(void)state;
	write_conf("issuer = x\n");
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(pot_conf_init(&c), POT_OK);
	assert_int_equal(pot_conf_load(&c, path, true, getuid(), err, sizeof(err)), POT_ERR_CONFIG);
	assert_non_null(strstr(err, "writable by group or others"));
	pot_conf_free(&c);
}

static void
test_set_is_the_argument_parser(void **state)
{
	struct pot_conf c;
	char err[256];

	(void)state;
	assert_int_equal(pot_conf_init(&c), POT_OK);
	assert_int_equal(pot_conf_set(&c, "leeway", "5", err, sizeof(err)), POT_OK);
	assert_int_equal(c.leeway, 5);
	assert_int_equal(pot_conf_set(&c, "leeway", "five", err, sizeof(err)), POT_ERR_CONFIG);
	assert_int_equal(c.leeway, 5);
	assert_int_equal(pot_conf_set(&c, "jwks", "/x.json", err, sizeof(err)), POT_OK);
	assert_int_equal(pot_conf_finish(&c), POT_OK);
	assert_string_equal(c.jwks, "/x.json");
	assert_int_equal(pot_conf_set(&c, "nope", "1", err, sizeof(err)), POT_ERR_CONFIG);
	assert_string_equal(err, "unknown key `nope`");
	pot_conf_free(&c);
	pot_conf_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_unsafe_file),
		cmocka_unit_test(test_set_is_the_argument_parser),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
