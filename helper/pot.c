/*
 * pot.c — the `pot` command: `pot [--config FILE] [--json] COMMAND ...`.
 *
 * The user commands (`login`, `token`, `askpass`, `logout`, `status`) are parsed here and
 * run by pot_user.c; only `login` reads pot.conf, for the default server (`issuer`).
 *
 * Administration (`client`, `key`, `tokens`, `purge`) builds one request of admin.h and
 * sends it to potd over state_dir/admin.sock while potd runs; when nobody listens there,
 * it takes potd's lock on the store and runs the request itself, as potd's user. Exit
 * status: 0 ok, 1 failure, 2 usage error. Errors go to stderr as `pot: message`.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "pot_user.h"
#include "pot/err.h"
#include "pot/util.h"

#define EXIT_USAGE	2
#define HELP_SHOWN	3		/* a build step printed --help: exit 0 */
#define REPLY_TIMEOUT_MS (120 * 1000)	/* potd serves one admin request at a time */
#define LOCK_FILE	"potd.lock"

struct cli {
	const char *config;
	bool explicit_config;
	bool json;
};

void
pot_warnmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("pot: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("pot: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry `pot --help`.\n", stderr);
	return EXIT_USAGE;
}

static const char usage_text[] =
	"usage: pot [--config FILE] [--json] COMMAND [ARGS]\n"
	"\n"
	"Your tokens (kept in $XDG_CONFIG_HOME/pot/, by default ~/.config/pot/):\n"
	"  pot login [--server URL] [--client-id ID] [--scope \"SCOPES\"] [--no-browser]\n"
	"                 sign in with a browser (server: pot.conf's issuer; client: pot)\n"
	"  pot token      print a valid access token, refreshing it when needed\n"
	"  pot askpass [PROMPT]\n"
	"                 the same, for SSH_ASKPASS and SUDO_ASKPASS (the prompt is ignored);\n"
	"                 pot run as " POT_ASKPASS_NAME " (a link to it) is pot askpass\n"
	"  pot status     who is signed in, with which scopes, until when\n"
	"  pot logout     revoke the refresh token and delete the local tokens\n"
	"\n"
	"Administration (run as root or potd's user; safe while potd runs):\n"
	"  pot client add NAME --redirect-uri URI... --scope \"SCOPES\" [--public] [--first-party]\n"
	"                 [--grant authorization_code,refresh_token,client_credentials]\n"
	"                 [--introspect] [--no-rotate]\n"
	"  pot client list\n"
	"  pot client remove CLIENT_ID\n"
	"  pot key new [--alg ES256|RS256] [--now]\n"
	"  pot key list\n"
	"  pot key retire KID\n"
	"  pot tokens list [--user USER]\n"
	"  pot tokens revoke ID          (the full id or a unique prefix of 8+ hex digits)\n"
	"  pot tokens revoke --user USER\n"
	"  pot purge\n"
	"\n"
	"Options:\n"
	"  --config FILE  read FILE instead of " POT_CONF_DEFAULT "\n"
	"  --json         print the result as JSON\n"
	"  --help         print this help; --version: print the version\n"
	"\n"
	"Exit status: 0 ok, 1 failure, 2 usage error.\n";

/* --- building a request from the arguments ----------------------------------------- */

#define COMMON_LONGOPTS \
	{ "json", no_argument, NULL, 'j' }, \
	{ "config", required_argument, NULL, 'c' }, \
	{ "help", no_argument, NULL, 'h' }

/* Options every command takes; EXIT_USAGE for a bad one, HELP_SHOWN, or 0. */
static int
common_opt(struct cli *cli, int opt, char **argv)
{
	switch (opt) {
	case 'j':
		cli->json = true;
		return 0;
	case 'c':
		cli->config = optarg;
		cli->explicit_config = true;
		return 0;
	case 'h':
		fputs(usage_text, stdout);
		return HELP_SHOWN;
	case ':':
		return usage_fail("option `%s` needs an argument", argv[optind - 1]);
	default:
		if (optopt != 0)
			return usage_fail("unknown option `-%c`", optopt);
		return usage_fail("unknown option `%s`", argv[optind - 1]);
	}
}

/* The positional arguments left after the options: exactly want of them. */
static int
positionals(int argc, char **argv, int want, const char *what)
{
	if (argc - optind < want)
		return usage_fail("%s", what);
	if (argc - optind > want)
		return usage_fail("unexpected argument `%s`", argv[optind + want]);
	return 0;
}

static int
op_new(const char *op, json_t **req)
{
	if ((*req = json_pack("{s:s}", "op", op)) == NULL) {
		pot_warnmsg("out of memory");
		return 1;
	}
	return 0;
}

static int
set_or_fail(json_t *req, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(req, key, v) != 0) {
		pot_warnmsg("out of memory");
		return 1;
	}
	return 0;
}

/* Appends each comma-separated name of list to arr. */
static int
append_list(json_t *arr, const char *list)
{
	size_t n;

	for (;;) {
		n = strcspn(list, ",");
		if (json_array_append_new(arr, json_stringn(list, n)) != 0) {
			pot_warnmsg("out of memory");
			return 1;
		}
		if (list[n] == '\0')
			return 0;
		list += n + 1;
	}
}

/* A command with only the common options and no arguments: 0, or its exit status. */
static int
plain_args(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if ((r = common_opt(cli, opt, argv)) != 0)
			return r;
	}
	if ((r = positionals(argc, argv, 0, "")) != 0)
		return r;
	return 0;
}

/* Commands without options or arguments: client list, key list, purge. */
static int
build_plain(struct cli *cli, int argc, char **argv, const char *op, json_t **req)
{
	int r;

	if ((r = plain_args(cli, argc, argv)) != 0)
		return r;
	return op_new(op, req);
}

/*
 * Commands with one argument and no option of their own: client remove, key retire.
 * Parsed by hand, as kids (base64url) and client ids may start with `-`: only `--json`,
 * `--config`, `--help`/`-h` are options; any other `--word` is unknown; `--` ends them.
 */
static int
build_one(struct cli *cli, int argc, char **argv, const char *op, const char *key,
	  const char *missing, json_t **req)
{
	const char *arg = NULL, *v;
	bool opts = true;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (opts && strcmp(argv[i], "--") == 0)
			opts = false;
		else if (opts && strcmp(argv[i], "--json") == 0)
			cli->json = true;
		else if (opts && ((v = pot_skip_prefix(argv[i], "--config=")) != NULL ||
				  strcmp(argv[i], "--config") == 0)) {
			if (v == NULL && (v = argv[++i]) == NULL)
				return usage_fail("option `--config` needs an argument");
			cli->config = v;
			cli->explicit_config = true;
		} else if (opts && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
			fputs(usage_text, stdout);
			return HELP_SHOWN;
		} else if (opts && strncmp(argv[i], "--", 2) == 0)
			return usage_fail("unknown option `%s` (an argument that starts with - may "
					  "follow --)", argv[i]);
		else if (arg != NULL)
			return usage_fail("unexpected argument `%s`", argv[i]);
		else
			arg = argv[i];
	}
	if (arg == NULL)
		return usage_fail("%s", missing);
	if ((r = op_new(op, req)) != 0)
		return r;
	return set_or_fail(*req, key, json_string(arg));
}

static int
build_client_list(struct cli *cli, int argc, char **argv, json_t **req)
{
	return build_plain(cli, argc, argv, "client_list", req);
}

static int
build_client_remove(struct cli *cli, int argc, char **argv, json_t **req)
{
	return build_one(cli, argc, argv, "client_remove", "client_id",
			 "client remove needs a CLIENT_ID", req);
}

static int
build_key_list(struct cli *cli, int argc, char **argv, json_t **req)
{
	return build_plain(cli, argc, argv, "key_list", req);
}

static int
build_key_retire(struct cli *cli, int argc, char **argv, json_t **req)
{
	return build_one(cli, argc, argv, "key_retire", "kid", "key retire needs a KID", req);
}

static int
build_purge(struct cli *cli, int argc, char **argv, json_t **req)
{
	return build_plain(cli, argc, argv, "purge", req);
}

struct client_args {
	json_t *uris;
	json_t *grants;		/* NULL: the default for the client's type */
	const char *scope;
	bool public, first_party, introspect, no_rotate;
};

static int
client_add_request(const struct client_args *ca, const char *name, json_t **req)
{
	int r;

	if ((r = op_new("client_add", req)) != 0 ||
	    (r = set_or_fail(*req, "name", json_string(name))) != 0 ||
	    (r = set_or_fail(*req, "redirect_uris", json_incref(ca->uris))) != 0 ||
	    (ca->scope != NULL && (r = set_or_fail(*req, "scope", json_string(ca->scope))) != 0) ||
	    (ca->grants != NULL && (r = set_or_fail(*req, "grants", json_incref(ca->grants))) != 0) ||
	    (r = set_or_fail(*req, "public", json_boolean(ca->public))) != 0 ||
	    (r = set_or_fail(*req, "first_party", json_boolean(ca->first_party))) != 0 ||
	    (r = set_or_fail(*req, "introspect", json_boolean(ca->introspect))) != 0 ||
	    (r = set_or_fail(*req, "no_rotate", json_boolean(ca->no_rotate))) != 0)
		return r;
	return 0;
}

static int
build_client_add(struct cli *cli, int argc, char **argv, json_t **req)
{
	static const struct option lo[] = {
		{ "redirect-uri", required_argument, NULL, 'r' },
		{ "scope", required_argument, NULL, 's' },
		{ "public", no_argument, NULL, 'p' },
		{ "first-party", no_argument, NULL, 'f' },
		{ "grant", required_argument, NULL, 'g' },
		{ "introspect", no_argument, NULL, 'i' },
		{ "no-rotate", no_argument, NULL, 'n' },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct client_args ca = { .uris = json_array() };
	int opt, r = 0;

	optind = 0;
	while (r == 0 && ca.uris != NULL && (opt = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (json_array_append_new(ca.uris, json_string(optarg)) != 0) {
				pot_warnmsg("out of memory");
				r = 1;
			}
			break;
		case 's': ca.scope = optarg; break;
		case 'p': ca.public = true; break;
		case 'f': ca.first_party = true; break;
		case 'i': ca.introspect = true; break;
		case 'n': ca.no_rotate = true; break;
		case 'g':
			if (ca.grants == NULL && (ca.grants = json_array()) == NULL)
				r = 1;
			else
				r = append_list(ca.grants, optarg);
			break;
		default: r = common_opt(cli, opt, argv); break;
		}
	}
	if (ca.uris == NULL) {
		pot_warnmsg("out of memory");
		r = 1;
	}
	if (r == 0 && (r = positionals(argc, argv, 1, "client add needs a NAME")) == 0)
		r = client_add_request(&ca, argv[optind], req);
	json_decref(ca.uris);
	json_decref(ca.grants);
	return r;
}

static int
build_key_new(struct cli *cli, int argc, char **argv, json_t **req)
{
	static const struct option lo[] = {
		{ "alg", required_argument, NULL, 'a' },
		{ "now", no_argument, NULL, 'n' },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	const char *alg = NULL;
	bool now = false;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (opt == 'a')
			alg = optarg;
		else if (opt == 'n')
			now = true;
		else if ((r = common_opt(cli, opt, argv)) != 0)
			return r;
	}
	if (alg != NULL && strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0)
		return usage_fail("--alg %s: ES256 or RS256", alg);
	if ((r = positionals(argc, argv, 0, "")) != 0 || (r = op_new("key_new", req)) != 0 ||
	    (alg != NULL && (r = set_or_fail(*req, "alg", json_string(alg))) != 0))
		return r;
	return set_or_fail(*req, "now", json_boolean(now));
}

/* `tokens list [--user U]` and `tokens revoke ID | --user U` */
static int
tokens_opts(struct cli *cli, int argc, char **argv, const char **user)
{
	static const struct option lo[] = {
		{ "user", required_argument, NULL, 'u' },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	int opt, r;

	*user = NULL;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (opt == 'u')
			*user = optarg;
		else if ((r = common_opt(cli, opt, argv)) != 0)
			return r;
	}
	return 0;
}

static int
build_tokens_list(struct cli *cli, int argc, char **argv, json_t **req)
{
	const char *user;
	int r;

	if ((r = tokens_opts(cli, argc, argv, &user)) != 0 ||
	    (r = positionals(argc, argv, 0, "")) != 0 || (r = op_new("tokens_list", req)) != 0)
		return r;
	return user == NULL ? 0 : set_or_fail(*req, "user", json_string(user));
}

static int
build_tokens_revoke(struct cli *cli, int argc, char **argv, json_t **req)
{
	const char *user;
	int r;

	if ((r = tokens_opts(cli, argc, argv, &user)) != 0)
		return r;
	if (user != NULL) {
		if ((r = positionals(argc, argv, 0, "")) != 0 ||
		    (r = op_new("tokens_revoke_user", req)) != 0)
			return r;
		return set_or_fail(*req, "user", json_string(user));
	}
	if ((r = positionals(argc, argv, 1, "tokens revoke needs an ID or --user USER")) != 0 ||
	    (r = op_new("tokens_revoke", req)) != 0)
		return r;
	return set_or_fail(*req, "id", json_string(argv[optind]));
}

/* --- printing replies ---------------------------------------------------------------- */

static const char *
fmt_time(json_int_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0)
		return "-";
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "%lld", (long long)t);
	return buf;
}

static const char *
str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static json_int_t
int_of(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* A table of strings, every column as wide as its widest cell; the last one unpadded. */
#define TABLE_COLS	16
struct table {
	size_t ncols, nrows;
	char **cells;
};

static int
table_row(struct table *t, const char *const *row)
{
	char **cells;
	size_t i;

	if ((cells = reallocarray(t->cells, (t->nrows + 1) * t->ncols, sizeof(*cells))) == NULL)
		return -1;
	t->cells = cells;
	for (i = 0; i < t->ncols; i++)
		cells[t->nrows * t->ncols + i] = strdup(row[i]);
	t->nrows++;
	for (i = 0; i < t->ncols; i++)
		if (cells[(t->nrows - 1) * t->ncols + i] == NULL)
			return -1;
	return 0;
}

static void
table_print(const struct table *t)
{
	size_t w[TABLE_COLS] = { 0 }, r, c, n;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols && c < TABLE_COLS; c++)
			if ((n = strlen(t->cells[r * t->ncols + c])) > w[c])
				w[c] = n;
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			if (c + 1 == t->ncols)
				printf("%s\n", t->cells[r * t->ncols + c]);
			else
				printf("%-*s  ", (int)w[c], t->cells[r * t->ncols + c]);
		}
	}
}

static void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* Joins the strings of arr with sep into buf, mapping each through f when not NULL. */
static const char *
join(const json_t *arr, const char *sep, const char *(*f)(const char *), char *buf, size_t len)
{
	const json_t *e;
	const char *s;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(arr, i, e) {
		s = json_string_value(e);
		if (s == NULL)
			continue;
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i != 0 ? sep : "",
			 f != NULL ? f(s) : s);
	}
	return buf[0] != '\0' ? buf : "-";
}

static const char *
grant_short(const char *g)
{
	if (strcmp(g, "authorization_code") == 0)
		return "code";
	if (strcmp(g, "refresh_token") == 0)
		return "refresh";
	return g;
}

static const char *
client_flags(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", json_is_true(json_object_get(c, "first_party")) ? "first-party," : "",
		 json_is_true(json_object_get(c, "introspect")) ? "introspect," : "",
		 json_is_true(json_object_get(c, "rotate")) ? "rotate," : "");
	if (buf[0] == '\0')
		return "-";
	buf[strlen(buf) - 1] = '\0';
	return buf;
}

static void
print_client_add(const json_t *rep)
{
	printf("client_id: %s\n", str_of(rep, "client_id"));
	if (json_is_string(json_object_get(rep, "client_secret"))) {
		printf("client_secret: %s\n", str_of(rep, "client_secret"));
		printf("The secret is shown only this once: store it now (potd keeps only its hash).\n");
	}
}

/* A row's cells, and room for those that are formatted (the widest: redirect URIs). */
struct cells {
	const char *row[TABLE_COLS];
	char buf[4][POT_URIS_MAX + 64];
};

/*
 * The reply's array member as a table under head (ncols columns), a row per element made
 * by fill; none instead when the array is empty.
 */
static void
print_table(const json_t *rep, const char *member, const char *none, const char *const *head,
	    size_t ncols, void (*fill)(const json_t *, struct cells *))
{
	struct table t = { .ncols = ncols };
	const json_t *arr = json_object_get(rep, member), *e;
	struct cells *x;
	size_t i;

	if (json_array_size(arr) == 0) {
		printf("%s\n", none);
		return;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL || table_row(&t, head) != 0)
		goto out;
	json_array_foreach(arr, i, e) {
		fill(e, x);
		if (table_row(&t, x->row) != 0)
			goto out;
	}
	table_print(&t);
out:
	free(x);
	table_free(&t);
}

static void
client_row(const json_t *c, struct cells *x)
{
	x->row[0] = str_of(c, "client_id");
	x->row[1] = json_is_true(json_object_get(c, "public")) ? "public" : "confidential";
	x->row[2] = join(json_object_get(c, "grants"), ",", grant_short, x->buf[0], sizeof(x->buf[0]));
	x->row[3] = client_flags(c, x->buf[1], sizeof(x->buf[1]));
	x->row[4] = str_of(c, "scope");
	x->row[5] = fmt_time(int_of(c, "created"), x->buf[2]);
	x->row[6] = join(json_object_get(c, "redirect_uris"), " ", NULL, x->buf[3], sizeof(x->buf[3]));
}

static void
print_client_list(const json_t *rep)
{
	static const char *const head[] = { "CLIENT_ID", "TYPE", "GRANTS", "FLAGS", "SCOPE",
					     "CREATED", "REDIRECT_URIS" };

	print_table(rep, "clients", "no clients", head, 7, client_row);
}

static void
print_client_remove(const json_t *rep)
{
	printf("client %s removed; its grants are revoked\n", str_of(rep, "client_id"));
}

static void
print_key_new(const json_t *rep)
{
	json_int_t at = int_of(rep, "activate_at");
	char buf[32];

	printf("kid: %s\nalg: %s\n", str_of(rep, "kid"), str_of(rep, "alg"));
	if (at <= (json_int_t)time(NULL))
		printf("published in the JWKS; potd signs with it from now on\n");
	else
		printf("published in the JWKS now; potd signs with it from %s\n", fmt_time(at, buf));
}

static void
key_row(const json_t *k, struct cells *x)
{
	x->row[0] = str_of(k, "kid");
	x->row[1] = str_of(k, "alg");
	x->row[2] = str_of(k, "state");
	x->row[3] = fmt_time(int_of(k, "created"), x->buf[0]);
	x->row[4] = fmt_time(int_of(k, "activate_at"), x->buf[1]);
	x->row[5] = fmt_time(int_of(k, "retired_at"), x->buf[2]);
	x->row[6] = fmt_time(int_of(k, "drop_at"), x->buf[3]);
}

static void
print_key_list(const json_t *rep)
{
	static const char *const head[] = { "KID", "ALG", "STATE", "CREATED", "ACTIVATE_AT",
					     "RETIRED_AT", "DROP_AT" };

	print_table(rep, "keys", "no keys", head, 7, key_row);
}

static void
print_key_retire(const json_t *rep)
{
	char buf[32];

	printf("key %s retired: potd no longer signs with it; it leaves the JWKS at %s\n",
	       str_of(rep, "kid"), fmt_time(int_of(rep, "drop_at"), buf));
}

static void
token_row(const json_t *k, struct cells *x)
{
	snprintf(x->buf[0], 17, "%s", str_of(k, "id"));	/* a prefix; --json: all */
	x->row[0] = x->buf[0];
	x->row[1] = str_of(k, "user");
	x->row[2] = str_of(k, "client_id");
	x->row[3] = str_of(k, "state");
	x->row[4] = fmt_time(int_of(k, "last_used"), x->buf[1]);
	x->row[5] = fmt_time(int_of(k, "expires"), x->buf[2]);
	x->row[6] = str_of(k, "scope");
}

static void
print_tokens_list(const json_t *rep)
{
	static const char *const head[] = { "ID", "USER", "CLIENT_ID", "STATE", "LAST_USED",
					     "EXPIRES", "SCOPE" };

	print_table(rep, "tokens", "no refresh tokens", head, 7, token_row);
}

static void
print_tokens_revoke(const json_t *rep)
{
	if (json_object_get(rep, "revoked") != NULL)
		printf("%lld refresh token(s) of %s revoked\n", (long long)int_of(rep, "revoked"),
		       str_of(rep, "user"));
	else
		printf("refresh token %s revoked, with its grant\n", str_of(rep, "id"));
}

static void
print_purge(const json_t *rep)
{
	printf("%lld expired record(s) removed\n", (long long)int_of(rep, "removed"));
}

/* --- the commands ------------------------------------------------------------------- */

typedef int (*build_fn)(struct cli *, int, char **, json_t **);
typedef void (*print_fn)(const json_t *);

static const struct cmd {
	const char *group;
	const char *verb;		/* NULL: a command of one word */
	build_fn build;
	print_fn print;
} cmds[] = {
	{ "client", "add", build_client_add, print_client_add },
	{ "client", "list", build_client_list, print_client_list },
	{ "client", "remove", build_client_remove, print_client_remove },
	{ "key", "new", build_key_new, print_key_new },
	{ "key", "list", build_key_list, print_key_list },
	{ "key", "retire", build_key_retire, print_key_retire },
	{ "tokens", "list", build_tokens_list, print_tokens_list },
	{ "tokens", "revoke", build_tokens_revoke, print_tokens_revoke },
	{ "purge", NULL, build_purge, print_purge },
};

/* The command argv names; *words: how many words name it. NULL after a usage message. */
static const struct cmd *
cmd_find(int argc, char **argv, int *words)
{
	bool group_known = false;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[0], cmds[i].group) != 0)
			continue;
		group_known = true;
		if (cmds[i].verb == NULL) {
			*words = 1;
			return &cmds[i];
		}
		if (argc > 1 && strcmp(argv[1], cmds[i].verb) == 0) {
			*words = 2;
			return &cmds[i];
		}
	}
	if (!group_known)
		usage_fail("unknown command `%s`", argv[0]);
	else if (argc < 2)
		usage_fail("`pot %s` needs a subcommand", argv[0]);
	else
		usage_fail("unknown command `%s %s`", argv[0], argv[1]);
	return NULL;
}

/* --- talking to potd ---------------------------------------------------------------- */

static int
send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		if (!pot_wait_fd(fd, POLLOUT, deadline) || (n = send(fd, p, len, MSG_NOSIGNAL)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The request as one line; it holds no secret. */
static int
send_line(int fd, const json_t *req, int64_t deadline)
{
	char *line = json_dumps(req, JSON_COMPACT);
	int r;

	if (line == NULL)
		return -1;
	r = send_all(fd, line, strlen(line), deadline) == 0 ? send_all(fd, "\n", 1, deadline) : -1;
	free(line);
	return r;
}

/* Reads the reply line (it may carry a client secret: buf is wiped). */
static json_t *
recv_reply(int fd, int64_t deadline)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap), *nl = NULL, *bigger = NULL;
	json_t *rep = NULL;
	ssize_t n;

	while (buf != NULL && nl == NULL) {
		if (len == cap && (cap >= POT_ADMIN_REPLY_MAX ||
				   (bigger = malloc(cap * 2)) == NULL)) {
			pot_warnmsg("potd's reply is too long");
			goto out;
		}
		if (len == cap) {
			memcpy(bigger, buf, len);
			pot_wipe(buf, len);
			free(buf);
			buf = bigger;
			cap *= 2;
		}
		if (!pot_wait_fd(fd, POLLIN, deadline) || (n = read(fd, buf + len, cap - len)) <= 0) {
			pot_warnmsg("potd did not answer");
			goto out;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	if (buf == NULL)
		pot_warnmsg("out of memory");
	else if ((rep = json_loadb(buf, (size_t)(nl - buf), JSON_REJECT_DUPLICATES, NULL)) == NULL ||
		 !json_is_object(rep) || !json_is_boolean(json_object_get(rep, "ok"))) {
		pot_warnmsg("malformed reply from potd");
		json_decref(rep);
		rep = NULL;
	}
out:
	if (buf != NULL)
		pot_wipe(buf, cap);
	free(buf);
	return rep;
}

/*
 * Asks potd over state_dir/admin.sock. 0: *rep is its reply (or NULL after a message);
 * 1: nobody listens there (no socket, or a stale one).
 */
static int
sock_call(const struct pot_conf *conf, const json_t *req, json_t **rep)
{
	int64_t deadline = pot_mono_ms() + REPLY_TIMEOUT_MS;
	struct sockaddr_un sun;
	int fd, n;

	*rep = NULL;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", conf->state_dir, POT_ADMIN_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		pot_warnmsg("%s/%s: path too long for a socket", conf->state_dir, POT_ADMIN_SOCKET);
		return 0;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		pot_warnmsg("socket: %s", strerror(errno));
		return 0;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		n = errno;
		close(fd);
		if (n == ENOENT || n == ECONNREFUSED || n == ENOTDIR)
			return 1;
		pot_warnmsg("cannot reach potd at %s: %s", sun.sun_path, strerror(n));
		return 0;
	}
	if (send_line(fd, req, deadline) != 0)
		pot_warnmsg("cannot send the request to potd at %s", sun.sun_path);
	else
		*rep = recv_reply(fd, deadline);
	close(fd);
	return 0;
}

/*
 * Run as root, become potd's user (pot.conf `user`) before touching its state, so that
 * what this creates stays potd's; as potd does, a state_dir of root's is given to it.
 */
static int
become_user(const struct pot_conf *conf)
{
	struct passwd *pw;
	struct stat st;

	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(conf->user)) == NULL) {
		pot_warnmsg("user = %s: no such account (potd's state belongs to it)", conf->user);
		return -1;
	}
	if (pw->pw_uid == 0)
		return 0;
	if (mkdir(conf->state_dir, 0755) == 0 && chmod(conf->state_dir, 0755) != 0) {
		pot_warnmsg("%s: %s", conf->state_dir, strerror(errno));
		return -1;
	}
	if (lstat(conf->state_dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
	    chown(conf->state_dir, pw->pw_uid, pw->pw_gid) != 0) {
		pot_warnmsg("chown %s: %s", conf->state_dir, strerror(errno));
		return -1;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
	    setuid(0) == 0) {
		pot_warnmsg("cannot become %s: %s", conf->user, strerror(errno));
		return -1;
	}
	return 0;
}

/* potd's own lock: while it is held, potd owns the store. -1 after a message. */
static int
store_lock(const struct pot_conf *conf)
{
	char path[4096];
	int fd;

	if (mkdir(conf->state_dir, 0755) == 0 && chmod(conf->state_dir, 0755) != 0) {
		pot_warnmsg("%s: %s", conf->state_dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", conf->state_dir, LOCK_FILE);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600)) == -1) {
		pot_warnmsg("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			pot_warnmsg("potd holds the store but its admin socket does not answer "
				"(%s is locked; %s/%s refuses connections)", path, conf->state_dir,
				POT_ADMIN_SOCKET);
		else
			pot_warnmsg("cannot lock %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* potd is not running: open its state and run the request here. */
static json_t *
direct_run(const struct pot_conf *conf, json_t *req)
{
	struct pot_admin a = { .conf = conf };
	char err[512], dbdir[4096];
	json_t *rep = NULL;
	int lockfd = -1;

	umask(077);
	if (become_user(conf) != 0 || (lockfd = store_lock(conf)) == -1)
		goto out;
	if (pot_keystore_open(conf->state_dir, true, (int64_t)time(NULL), &a.ks, err,
			      sizeof(err)) != POT_OK) {
		pot_warnmsg("keys: %s", err);
		goto out;
	}
	snprintf(dbdir, sizeof(dbdir), "%s/db", conf->state_dir);
	if (pot_store_open(dbdir, true, &a.store, err, sizeof(err)) != POT_OK) {
		pot_warnmsg("store: %s", err);
		goto out;
	}
	if ((rep = pot_admin_run(&a, req)) == NULL)
		pot_warnmsg("out of memory");
	openlog("pot", LOG_PID, LOG_AUTHPRIV);
	pot_admin_log(req, rep, (unsigned long)getuid(), (long)getpid());
	closelog();
out:
	pot_store_close(a.store);
	pot_keystore_free(a.ks);
	if (lockfd != -1)
		close(lockfd);
	return rep;
}

static struct pot_conf *
conf_read(const struct cli *cli)
{
	struct pot_conf *c = calloc(1, sizeof(*c));
	char err[512];
	int r;

	if (c == NULL || pot_conf_init(c) != POT_OK) {
		free(c);
		pot_warnmsg("out of memory");
		return NULL;
	}
	if ((r = pot_conf_load(c, cli->config, cli->explicit_config, geteuid(), err,
			       sizeof(err))) != POT_OK || (r = pot_conf_finish(c)) != POT_OK) {
		pot_warnmsg("%s", r == POT_ERR_ALLOC ? "out of memory" : err);
		pot_conf_free(c);
		free(c);
		return NULL;
	}
	return c;
}

/* The reply, printed: 0, or 1 (failure) or 2 (usage) after `pot: error`. */
static int
reply_show(const struct cmd *cmd, const struct cli *cli, json_t *rep)
{
	json_t *err = json_object_get(rep, "error");

	if (!json_is_true(json_object_get(rep, "ok"))) {
		pot_warnmsg("%s", json_is_string(err) ? json_string_value(err) : "failed");
		return json_is_true(json_object_get(rep, "usage")) ? EXIT_USAGE : 1;
	}
	if (cli->json) {
		json_object_del(rep, "ok");
		json_dumpf(rep, stdout, JSON_INDENT(2));
		putchar('\n');
	} else
		cmd->print(rep);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		pot_warnmsg("cannot write the output: %s", strerror(errno));
		return 1;
	}
	return 0;
}

static int
admin(const struct cmd *cmd, const struct cli *cli, json_t *req)
{
	struct pot_conf *conf;
	json_t *rep = NULL;
	int r = 1;

	if ((conf = conf_read(cli)) == NULL)
		return 1;
	if (sock_call(conf, req, &rep) == 1)
		rep = direct_run(conf, req);
	if (rep != NULL)
		r = reply_show(cmd, cli, rep);
	pot_admin_reply_free(rep);
	pot_conf_free(conf);
	free(conf);
	return r;
}

/* --- the user commands ---------------------------------------------------------------- */

/* `login [--server URL] [--client-id ID] [--scope "..."] [--no-browser]` */
static int
user_login(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "scope", required_argument, NULL, 'S' },
		{ "no-browser", no_argument, NULL, 'n' },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct pot_user_args ua = { .json = false };
	struct pot_conf *conf = NULL;
	char err[512];
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (opt) {
		case 's': ua.server = optarg; break;
		case 'i': ua.client_id = optarg; break;
		case 'S': ua.scope = optarg; break;
		case 'n': ua.no_browser = true; break;
		default:
			if ((r = common_opt(cli, opt, argv)) != 0)
				return r;
		}
	}
	if ((r = positionals(argc, argv, 0, "")) != 0)
		return r;
	if (ua.client_id != NULL && ua.client_id[0] == '\0')
		return usage_fail("--client-id cannot be empty");
	if (ua.server != NULL && pot_url_check(ua.server, err, sizeof(err)) != POT_OK)
		return usage_fail("--server %s", err);
	if (ua.server == NULL) {		/* pot.conf's issuer */
		if ((conf = conf_read(cli)) == NULL)
			return 1;
		ua.server = conf->issuer;
	}
	ua.json = cli->json;
	r = pot_user_login(&ua);
	if (conf != NULL) {
		pot_conf_free(conf);
		free(conf);
	}
	return r;
}

/* token, logout, status: only the common options. */
static int
user_plain(struct cli *cli, int argc, char **argv, struct pot_user_args *ua)
{
	int r;

	if ((r = plain_args(cli, argc, argv)) != 0)
		return r;
	memset(ua, 0, sizeof(*ua));
	ua->json = cli->json;
	return 0;
}

static int
user_token(struct cli *cli, int argc, char **argv)
{
	struct pot_user_args ua;
	int r = user_plain(cli, argc, argv, &ua);

	return r != 0 ? r : pot_user_token(&ua, false);
}

/* ssh and sudo pass a prompt, which may start with `-`: no argument is an option here. */
static int
user_askpass(struct cli *cli, int argc, char **argv)
{
	struct pot_user_args ua = { .json = false };

	(void)cli;
	(void)argc;
	(void)argv;
	return pot_user_token(&ua, true);
}

static int
user_logout(struct cli *cli, int argc, char **argv)
{
	struct pot_user_args ua;
	int r = user_plain(cli, argc, argv, &ua);

	return r != 0 ? r : pot_user_logout(&ua);
}

static int
user_status(struct cli *cli, int argc, char **argv)
{
	struct pot_user_args ua;
	int r = user_plain(cli, argc, argv, &ua);

	return r != 0 ? r : pot_user_status(&ua);
}

static const char *
pot_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

static const struct user_cmd {
	const char *name;
	int (*run)(struct cli *, int, char **);
} user_cmds[] = {
	{ "login", user_login },
	{ "token", user_token },
	{ "askpass", user_askpass },
	{ "logout", user_logout },
	{ "status", user_status },
};

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli cli = { .config = POT_CONF_DEFAULT };
	const struct cmd *cmd;
	json_t *req = NULL;
	int opt, words, r;
	size_t i;

	/* SSH_ASKPASS and SUDO_ASKPASS name a program, not a command line: pot-askpass -> pot */
	if (argc > 0 && strcmp(pot_basename(argv[0]), POT_ASKPASS_NAME) == 0)
		return user_askpass(&cli, argc, argv);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
		if (opt == 'V') {
			printf("pot %s\n", PACKAGE_VERSION);
			return 0;
		}
		if ((r = common_opt(&cli, opt, argv)) != 0)
			return r == HELP_SHOWN ? 0 : r;
	}
	if (optind == argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (i = 0; i < sizeof(user_cmds) / sizeof(user_cmds[0]); i++) {
		if (strcmp(argv[optind], user_cmds[i].name) == 0) {
			r = user_cmds[i].run(&cli, argc - optind, argv + optind);
			return r == HELP_SHOWN ? 0 : r;
		}
	}
	if ((cmd = cmd_find(argc - optind, argv + optind, &words)) == NULL)
		return EXIT_USAGE;
	r = cmd->build(&cli, argc - optind - words + 1, argv + optind + words - 1, &req);
	if (r == 0)
		r = admin(cmd, &cli, req);
	json_decref(req);
	return r == HELP_SHOWN ? 0 : r;
}
