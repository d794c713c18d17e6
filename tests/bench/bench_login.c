/*
 * bench_login.c — what one login costs pam_pot: pam_authenticate with a good ES256 token,
 * again and again on ONE PAM handle, against the floor of any JWS verifier: a raw OpenSSL
 * ES256 verification of the same signing input with a key loaded before the clock runs
 * (R || S to DER, EVP_DigestVerifyInit, EVP_DigestVerify). Both run in the same process
 * and the same rounds, interleaved in slices of a few operations so that the noise of a
 * shared machine falls on both alike; each round gives a ratio, and the result is the
 * median of those ratios. An absolute time is printed for information only.
 * A third series times lib/'s pot_jwt_verify() on a loaded keyring: the token's JSON and
 * claims, without PAM, pot.conf, the passwd lookup or the log line.
 *
 * Not part of `make check`; run it with tests/bench/bench.sh BUILD_DIR. By hand:
 *
 *	bench_login -m BUILD/.libs/pam_pot.so -p "$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" \
 *	    [-r ROUNDS] [-n ITERATIONS] [-c ITERATIONS]
 *
 * It writes a P-256 key's JWK Set, pot.conf, a PAM service, an nss_wrapper passwd file
 * and a token to a temporary directory, then runs itself again there under pam_wrapper
 * and nss_wrapper (pam_wrapper spins for ever without its variables), and removes the
 * directory when the child is done. A round lasts 1 s (or -n operations of each series);
 * the subject's drift from the first rounds to the last is reported, since a login that
 * gets dearer with the handle's age makes any single ratio meaningless.
 * -c N runs no clock: N operations of each series in cg_raw(), cg_lib() and cg_pam(),
 * then N more logins in cg_pam_late(), for callgrind's --toggle-collect.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <security/pam_appl.h>

#include "../common/mint.h"
#include "pot/err.h"
#include "pot/keys.h"
#include "pot/token.h"
#include "pot/util.h"

#define BENCH_ISS	"https://pot.bench"
#define BENCH_USER	"alice"
#define BENCH_SERVICE	"pot_bench"
#define ROUNDS_MAX	101
#define ROUND_NS	1e9		/* a round lasts about this long */
#define SLICE_OPS	8		/* operations of one series before the next series */

/* Kept whole and apart for callgrind: GCC would otherwise fold identical functions. */
#if defined(__GNUC__) && !defined(__clang__)
#define BENCH_KEEP	__attribute__((noipa))
#else
#define BENCH_KEEP	__attribute__((noinline))
#endif

#define DIE(...) do { fprintf(stderr, "bench_login: " __VA_ARGS__); fputc('\n', stderr); \
	exit(2); } while (0)

struct bench {
	const char *dir;
	char *token;			/* the conversation's answer */
	const char *input;		/* base64url(header).base64url(payload), in token */
	size_t inlen;
	unsigned char sig[64];		/* R || S, decoded before the clock runs */
	EVP_PKEY *pkey;
	struct pot_keyring *keyring;	/* for the lib/ series */
	pam_handle_t *pamh;
	long logins;			/* on pamh so far */
};

enum series { S_RAW, S_LIB, S_PAM, S_COUNT };

static const char *const series_name[S_COUNT] = {
	"raw_verify", "pot_jwt_verify", "pam_authenticate"
};

/* --- the parent: a directory of everything PAM reads, then the child under wrappers --- */

static void
path_in(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		DIE("path too long: %s/%s", dir, name);
}

static void
dir_write(const char *dir, const char *name, const char *text, int mode)
{
	char p[4096];

	path_in(p, sizeof(p), dir, name);
	mint_write_file(p, text, mode);
}

static void
dir_setup(const char *dir, const char *module)
{
	EVP_PKEY *key = mint_key(POT_ALG_ES256);
	char p[4096], text[8192], *tok, *pem;

	path_in(p, sizeof(p), dir, "jwks.json");
	mint_write_jwks(p, &key, 1);
	snprintf(text, sizeof(text), "issuer = " BENCH_ISS "\naudience = pot\njwks = %s\n", p);
	dir_write(dir, "pot.conf", text, 0644);
	path_in(p, sizeof(p), dir, "services");
	if (mkdir(p, 0755) == -1)
		DIE("mkdir %s: %s", p, strerror(errno));
	snprintf(text, sizeof(text), "auth\trequired\t%s config=%s/pot.conf scope=login\n",
		 module, dir);
	dir_write(dir, "services/" BENCH_SERVICE, text, 0644);
	/* libpam reads `other` at pam_start and complains when it is missing */
	dir_write(dir, "services/other", "auth\trequired\tpam_deny.so\n", 0644);
	snprintf(text, sizeof(text), BENCH_USER ":x:1001:1001:Alice:%s:/bin/sh\n", dir);
	dir_write(dir, "passwd", text, 0644);
	dir_write(dir, "group", BENCH_USER ":x:1001:\n", 0644);
	tok = mint_at(key, BENCH_ISS, "pot", BENCH_USER, "login", 3600);
	dir_write(dir, "token", tok, 0600);
	pem = mint_public_pem(key);
	dir_write(dir, "public.pem", pem, 0644);
	free(tok);
	free(pem);
	EVP_PKEY_free(key);
}

static void
dir_remove(const char *dir)
{
	static const char *const names[] = {
		("services/" BENCH_SERVICE), "services/other", "services", "jwks.json", "pot.conf",
		"passwd", "group", "token", "public.pem",
	};
	char p[4096];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_in(p, sizeof(p), dir, names[i]);
		(void)remove(p);
	}
	if (rmdir(dir) == -1)
		fprintf(stderr, "bench_login: rmdir %s: %s\n", dir, strerror(errno));
}

static volatile pid_t child_pid;

/* timeout(1)'s SIGTERM reaches the parent only: pass it on, then clean up as usual. */
static void
forward_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static int
run_child(char **argv, const char *dir, const char *preload)
{
	struct sigaction sa;
	char self[4096], p[4096];
	ssize_t n;
	pid_t pid;
	int status;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		DIE("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	fflush(NULL);
	if ((pid = fork()) == -1)
		DIE("fork: %s", strerror(errno));
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
			_exit(2);
		path_in(p, sizeof(p), dir, "services");
		if (setenv("PAM_WRAPPER_SERVICE_DIR", p, 1) != 0)
			_exit(2);
		path_in(p, sizeof(p), dir, "passwd");
		if (setenv("NSS_WRAPPER_PASSWD", p, 1) != 0)
			_exit(2);
		path_in(p, sizeof(p), dir, "group");
		if (setenv("NSS_WRAPPER_GROUP", p, 1) != 0 ||
		    setenv("PAM_WRAPPER", "1", 1) != 0 || setenv("LD_PRELOAD", preload, 1) != 0 ||
		    setenv("POT_BENCH_DIR", dir, 1) != 0)
			_exit(2);
		execv(self, argv);
		fprintf(stderr, "bench_login: exec %s: %s\n", self, strerror(errno));
		_exit(2);
	}
	child_pid = pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			DIE("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "bench_login: child killed by signal %d\n", WTERMSIG(status));
		return 2;
	}
	return WEXITSTATUS(status);
}

/* --- the child: the three series ------------------------------------------------------ */

/* The first line of a file in dir, into *out (free()). */
static void
file_line(const char *dir, const char *name, char **out)
{
	char p[4096];
	struct stat st;
	size_t len;

	path_in(p, sizeof(p), dir, name);
	if (pot_file_read(p, POT_OWNER_ANY, 64 * 1024, out, &len, &st, NULL, 0) != POT_OK)
		DIE("cannot read %s", p);
	(*out)[strcspn(*out, "\n")] = '\0';
}

static int
conv_token(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r;
	int i;

	*resp = NULL;
	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF)
			continue;
		if ((r[i].resp = strdup(data)) == NULL) {
			while (i-- > 0)
				free(r[i].resp);
			free(r);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static void
child_setup(struct bench *b)
{
	static struct pam_conv conv = { conv_token, NULL };
	const char *issuers[1] = { BENCH_ISS }, *paths[1], *dot;
	char p[4096], jwks[4096], why[512];
	unsigned char *sig;
	size_t siglen;
	BIO *bio;
	int rc;

	file_line(b->dir, "token", &b->token);
	if ((dot = strrchr(b->token, '.')) == NULL)
		DIE("the token has no signature");
	b->input = b->token;
	b->inlen = (size_t)(dot - b->token);
	if (pot_b64url_decode(dot + 1, strlen(dot + 1), &sig, &siglen) != POT_OK || siglen != 64)
		DIE("the token's signature is not 64 bytes of base64url");
	memcpy(b->sig, sig, sizeof(b->sig));
	free(sig);

	path_in(p, sizeof(p), b->dir, "public.pem");
	if ((bio = BIO_new_file(p, "r")) == NULL ||
	    (b->pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL)
		DIE("cannot load %s", p);
	BIO_free(bio);

	path_in(jwks, sizeof(jwks), b->dir, "jwks.json");
	paths[0] = jwks;
	if ((b->keyring = pot_keyring_new()) == NULL ||
	    pot_keyring_sync(b->keyring, issuers, paths, 1, why, sizeof(why)) != POT_OK)
		DIE("keyring: %s", why);

	conv.appdata_ptr = b->token;
	if ((rc = pam_start(BENCH_SERVICE, BENCH_USER, &conv, &b->pamh)) != PAM_SUCCESS)
		DIE("pam_start: %s", pam_strerror(NULL, rc));
}

/* The floor: R || S to DER, then EVP_DigestVerify with a key loaded beforehand. */
static int
raw_verify(EVP_PKEY *pkey, const char *input, size_t inlen, const unsigned char sig[64])
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	EVP_MD_CTX *md = NULL;
	int n, ok = 0;

	if ((es = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(sig, 32, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + 32, 32, NULL)) == NULL || !ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;			/* transferred */
	if ((n = i2d_ECDSA_SIG(es, &der)) <= 0 || (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1)
		goto out;
	ok = EVP_DigestVerify(md, der, (size_t)n, (const unsigned char *)input, inlen) == 1;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

static void
loop_raw(struct bench *b, long n)
{
	long i;

	for (i = 0; i < n; i++)
		if (!raw_verify(b->pkey, b->input, b->inlen, b->sig))
			DIE("raw verification failed");
}

static void
loop_lib(struct bench *b, long n)
{
	struct pot_verify_opts vo = { .audience = "pot", .user_claim = "sub", .leeway = 30 };
	struct pot_claims c;
	size_t len = strlen(b->token);
	long i;
	int r;

	for (i = 0; i < n; i++) {
		vo.now = time(NULL);
		if ((r = pot_jwt_verify(b->keyring, b->token, len, &vo, &c)) != POT_OK)
			DIE("pot_jwt_verify: %s", pot_strerror(r));
		pot_claims_free(&c);
	}
}

static void
loop_pam(struct bench *b, long n)
{
	long i;
	int rc;

	for (i = 0; i < n; i++, b->logins++)
		if ((rc = pam_authenticate(b->pamh, 0)) != PAM_SUCCESS)
			DIE("pam_authenticate: %s (see the auth log)", pam_strerror(b->pamh, rc));
}

/*
 * Callgrind's view (-c): bench.sh collects inside these only, after the warm-up.
 * cg_pam_late() repeats cg_pam() on the same handle: a per-login cost that grows with
 * the logins a handle has seen shows as a difference between the two.
 */
BENCH_KEEP static void
cg_raw(struct bench *b, long n)
{
	loop_raw(b, n);
}

BENCH_KEEP static void
cg_lib(struct bench *b, long n)
{
	loop_lib(b, n);
}

BENCH_KEEP static void
cg_pam(struct bench *b, long n)
{
	loop_pam(b, n);
}

BENCH_KEEP static void
cg_pam_late(struct bench *b, long n)
{
	loop_pam(b, n);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void
series_loop(struct bench *b, enum series s, long n)
{
	switch (s) {
	case S_RAW:	loop_raw(b, n); break;
	case S_LIB:	loop_lib(b, n); break;
	case S_PAM:	loop_pam(b, n); break;
	case S_COUNT:	break;
	}
}

/*
 * One round: slices of SLICE_OPS operations of each series in turn, the order rotating,
 * for ROUND_NS (or until each series has done n operations), so that the noise of a
 * shared machine falls on all series alike. Fills in nanoseconds per operation.
 */
static void
round_run(struct bench *b, int round, long n, double per_op[S_COUNT], long done[S_COUNT])
{
	double ns[S_COUNT] = { 0 }, t0 = now_ns(), t = t0, a;
	int k, slice;

	memset(done, 0, S_COUNT * sizeof(*done));
	for (slice = 0; n > 0 ? done[S_RAW] < n : t - t0 < ROUND_NS; slice++) {
		for (k = 0; k < S_COUNT; k++) {
			enum series s = (enum series)((round + slice + k) % S_COUNT);

			a = now_ns();
			series_loop(b, s, SLICE_OPS);
			t = now_ns();
			ns[s] += t - a;
			done[s] += SLICE_OPS;
		}
	}
	for (k = 0; k < S_COUNT; k++)
		per_op[k] = ns[k] / (double)done[k];
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *v, int n)
{
	double s[ROUNDS_MAX];

	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The subject's ratio late in the run over early in it: > 1 when logins get dearer. */
static void
drift_report(const double *ratio, int rounds, long logins)
{
	int k = rounds >= 4 ? 2 : 1;
	double early = median(ratio, k), late = median(ratio + rounds - k, k);

	printf("drift: pam_authenticate/raw_verify %.2f in the first %d round(s), %.2f in the "
	       "last %d, after %ld logins on the handle\n", early, k, late, k, logins);
	if (rounds >= 3 && late > 1.5 * early)
		printf("WARNING: the per-login cost grows with the logins on one handle: the "
		       "ratio below depends on the handle's age (see bench.sh --callgrind)\n");
}

static void
bench_timed(struct bench *b, int rounds, long iters)
{
	double t[S_COUNT][ROUNDS_MAX], ratio[ROUNDS_MAX], lib_ratio[ROUNDS_MAX], per_op[S_COUNT];
	long done[S_COUNT];
	int r, k;

	printf("bench_login: ES256 token of %zu bytes; %d rounds of ", strlen(b->token), rounds);
	if (iters > 0)
		printf("%ld operations per series", iters);
	else
		printf("%.2f s", ROUND_NS / 1e9);
	printf(", the series interleaved in slices of %d operations\n", SLICE_OPS);
	for (r = 0; r < rounds; r++) {
		round_run(b, r, iters, per_op, done);
		for (k = 0; k < S_COUNT; k++)
			t[k][r] = per_op[k];
		ratio[r] = t[S_PAM][r] / t[S_RAW][r];
		lib_ratio[r] = t[S_LIB][r] / t[S_RAW][r];
		printf("round %d: %s %.1f us (x%ld), %s %.1f us (x%ld), %s %.1f us (x%ld), "
		       "ratio %.3f\n", r + 1, series_name[S_RAW], t[S_RAW][r] / 1e3, done[S_RAW],
		       series_name[S_LIB], t[S_LIB][r] / 1e3, done[S_LIB],
		       series_name[S_PAM], t[S_PAM][r] / 1e3, done[S_PAM], ratio[r]);
		fflush(stdout);
	}
	drift_report(ratio, rounds, b->logins);
	printf("median per op (information only): %s %.1f us, %s %.1f us, %s %.1f us\n",
	       series_name[S_RAW], median(t[S_RAW], rounds) / 1e3,
	       series_name[S_LIB], median(t[S_LIB], rounds) / 1e3,
	       series_name[S_PAM], median(t[S_PAM], rounds) / 1e3);
	printf("ratio pot_jwt_verify/raw_verify = %.2f (median of %d rounds, information only)\n",
	       median(lib_ratio, rounds), rounds);
	printf("ratio pam_authenticate/raw_verify = %.2f (median of %d rounds)\n",
	       median(ratio, rounds), rounds);
}

static int
child_main(const char *dir, int rounds, long iters, long cg_iters)
{
	struct bench b;
	int rc;

	memset(&b, 0, sizeof(b));
	b.dir = dir;
	child_setup(&b);
	/* warm up: the module is loaded and the JWK Set parsed by the first login */
	loop_pam(&b, 4);
	loop_lib(&b, 4);
	loop_raw(&b, 4);
	if (cg_iters > 0) {
		cg_raw(&b, cg_iters);
		cg_lib(&b, cg_iters);
		cg_pam(&b, cg_iters);
		cg_pam_late(&b, cg_iters);
		printf("callgrind iterations: %ld\n", cg_iters);
	} else
		bench_timed(&b, rounds, iters);
	if ((rc = pam_end(b.pamh, PAM_SUCCESS)) != PAM_SUCCESS)
		DIE("pam_end: %s", pam_strerror(NULL, rc));
	pot_keyring_free(b.keyring);
	EVP_PKEY_free(b.pkey);
	free(b.token);
	return 0;
}

static long
arg_num(const char *s, unsigned long min, unsigned long max, const char *what)
{
	unsigned long v;

	if (!pot_parse_uint(s, min, max, &v))
		DIE("%s: `%s` is not a number in %lu..%lu", what, s, min, max);
	return (long)v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_login -m PAM_POT_SO -p LD_PRELOAD [-r ROUNDS] "
		"[-n ITERATIONS] [-c CALLGRIND_ITERATIONS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *module = NULL, *preload = NULL, *dir;
	char tmpl[] = "/tmp/pot-bench.XXXXXX", mod[4096];
	long rounds = 7, iters = 0, cg_iters = 0;
	int c, rc;

	while ((c = getopt(argc, argv, "m:p:r:n:c:")) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 'p': preload = optarg; break;
		case 'r': rounds = arg_num(optarg, 1, ROUNDS_MAX, "-r"); break;
		case 'n': iters = arg_num(optarg, 1, 100000000, "-n"); break;
		case 'c': cg_iters = arg_num(optarg, 1, 100000000, "-c"); break;
		default: usage();
		}
	}
	if ((dir = getenv("POT_BENCH_DIR")) != NULL)
		return child_main(dir, (int)rounds, iters, cg_iters);
	if (module == NULL || preload == NULL || optind != argc)
		usage();
	if (realpath(module, mod) == NULL)
		DIE("%s: %s", module, strerror(errno));
	if (mkdtemp(tmpl) == NULL || chmod(tmpl, 0755) == -1)
		DIE("mkdtemp: %s", strerror(errno));
	dir_setup(tmpl, mod);
	rc = run_child(argv, tmpl, preload);
	dir_remove(tmpl);
	return rc;
}
