/*
 * test_store.c — the Berkeley DB store: every operation's success path and refusals, N
 * parallel redemptions of one code, rotation with grace and replay, sliding expiry,
 * revocation of families, purge, reopening, and recovery after a SIGKILL mid-stream.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/cmocka_pre.h"
#include "../common/tmpdir.h"
#include "pot/err.h"
#include "pot/store.h"

#define NOW		INT64_C(1700000000)
#define TTL		INT64_C(2592000)	/* refresh_ttl */
#define MAX		INT64_C(7776000)	/* refresh_max */
#define GRACE		60
#define NTHREADS	24

struct fixture {
	char dir[TMPDIR_LEN];
	struct pot_store *s;
};

/* --- helpers ------------------------------------------------------------------------ */

static void
tmp_dir(char dir[TMPDIR_LEN])
{
	assert_int_equal(tmpdir_make(dir, "store"), 0);
}

static struct pot_store *
store_open(const char *dir, bool durable)
{
	struct pot_store *s = NULL;
	char err[256] = "";
	int r;

	r = pot_store_open(dir, durable, &s, err, sizeof(err));
	if (r != POT_OK)
		pot_fail_msg("pot_store_open %s: %s: %s", dir, pot_strerror(r), err);
	assert_non_null(s);
	return s;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmp_dir(f->dir);
	f->s = store_open(f->dir, false);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	pot_store_close(f->s);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* A distinct 32-byte id per (label, n): stands for an HMAC. */
static void
mkid(unsigned char id[POT_ID_LEN], const char *label, int n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; label[i] != '\0'; i++)
		h = (h ^ (unsigned char)label[i]) * 16777619u;
	h = (h ^ (uint32_t)n) * 16777619u;
	for (i = 0; i < POT_ID_LEN; i++) {
		h = (h ^ (uint32_t)i) * 16777619u;
		id[i] = (unsigned char)(h >> 13);
	}
}

static void
mkcode(struct pot_code *c, const char *label, int n, const char *user, const char *client,
       const char *grant, int64_t expires)
{
	memset(c, 0, sizeof(*c));
	mkid(c->id, label, n);
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->client_id, sizeof(c->client_id), "%s", client);
	snprintf(c->grant, sizeof(c->grant), "%s", grant);
	snprintf(c->scope, sizeof(c->scope), "ssh sudo");
	snprintf(c->redirect_uri, sizeof(c->redirect_uri), "http://127.0.0.1:4711/cb");
	snprintf(c->challenge, sizeof(c->challenge), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	c->expires = expires;
	c->auth_time = NOW - 5;
}

static void
mkrt(struct pot_rt *rt, const char *label, int n, int64_t now)
{
	memset(rt, 0, sizeof(*rt));
	mkid(rt->id, label, n);
	snprintf(rt->scope, sizeof(rt->scope), "ssh sudo");
	rt->created = rt->last_used = now;
	rt->expires = now + TTL;
	rt->abs_expires = now + MAX;
}

/* A code for (user, client, grant) redeemed at now into the refresh token label/n. */
static void
issue(struct pot_store *s, const char *label, int n, const char *user, const char *client,
      const char *grant, int64_t now, struct pot_rt *out)
{
	struct pot_code c, got;
	struct pot_rt rt;
	char cl[80];

	snprintf(cl, sizeof(cl), "code-%s", label);
	mkcode(&c, cl, n, user, client, grant, now + 60);
	assert_int_equal(pot_store_code_put(s, &c), POT_OK);
	mkrt(&rt, label, n, now);
	assert_int_equal(pot_store_code_redeem(s, c.id, now, &rt, &got), POT_OK);
	if (out != NULL)
		assert_int_equal(pot_store_rt_get(s, rt.id, out), POT_OK);
}

static int
rt_state(struct pot_store *s, const unsigned char id[POT_ID_LEN])
{
	struct pot_rt rt;

	assert_int_equal(pot_store_rt_get(s, id, &rt), POT_OK);
	return rt.state;
}

static bool
grant_revoked(struct pot_store *s, const char *grant)
{
	struct pot_grant g;

	assert_int_equal(pot_store_grant_get(s, grant, &g), POT_OK);
	return g.revoked;
}

static struct pot_refresh_policy
policy(int64_t now, bool rotate)
{
	struct pot_refresh_policy p = { .now = now, .ttl = TTL, .grace = GRACE, .rotate = rotate };

	return p;
}

static void
fill(char *buf, size_t size, char c)
{
	memset(buf, c, size - 1);
	buf[size - 1] = '\0';
}

/* --- open ----------------------------------------------------------------------------- */

static void
test_open_dir_checks(void **state)
{
	struct pot_store *s = NULL;
	char dir[TMPDIR_LEN], sub[128], err[256];
	struct stat st;
	int fd;

	(void)state;
	tmp_dir(dir);
	/* created 0700 when missing */
	snprintf(sub, sizeof(sub), "%s/db", dir);
	s = store_open(sub, false);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	pot_store_close(s);
	/* every file it made is 0600 */
	snprintf(sub, sizeof(sub), "%s/db/pot.db", dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(sub, sizeof(sub), "%s/db/log.0000000001", dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* open to the group: refused, naming the directory */
	snprintf(sub, sizeof(sub), "%s/db", dir);
	assert_int_equal(chmod(sub, 0750), 0);
	s = (struct pot_store *)1;
	assert_int_equal(pot_store_open(sub, false, &s, err, sizeof(err)), POT_ERR_IO);
	assert_null(s);
	assert_non_null(strstr(err, sub));
	assert_int_equal(chmod(sub, 0701), 0);
	assert_int_equal(pot_store_open(sub, false, &s, err, sizeof(err)), POT_ERR_IO);
	assert_int_equal(chmod(sub, 0700), 0);

	/* a symlink or a file: refused */
	snprintf(sub, sizeof(sub), "%s/link", dir);
	assert_int_equal(symlink("db", sub), 0);
	assert_int_equal(pot_store_open(sub, false, &s, err, sizeof(err)), POT_ERR_IO);
	snprintf(sub, sizeof(sub), "%s/file", dir);
	assert_true((fd = open(sub, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	assert_int_equal(pot_store_open(sub, false, &s, err, sizeof(err)), POT_ERR_IO);
	/* a parent that does not exist */
	snprintf(sub, sizeof(sub), "%s/no/such", dir);
	assert_int_equal(pot_store_open(sub, false, &s, err, sizeof(err)), POT_ERR_IO);
	assert_int_equal(pot_store_open("", false, &s, err, sizeof(err)), POT_ERR_CONFIG);
	tmpdir_remove(dir);
}

static void
test_open_busy(void **state)
{
	struct fixture *f = *state;
	struct pot_store *s2 = NULL;
	char err[256] = "";

	/* one process only: a second open (here even in the same process) is refused */
	assert_int_equal(pot_store_open(f->dir, false, &s2, err, sizeof(err)), POT_ERR_BUSY);
	assert_null(s2);
	assert_non_null(strstr(err, "in use"));
	pot_store_close(f->s);
	f->s = store_open(f->dir, false);
}

static void
test_open_corrupt_file(void **state)
{
	struct pot_store *s = NULL;
	char dir[TMPDIR_LEN], path[128], err[512] = "", junk[8192];
	int fd;

	(void)state;
	tmp_dir(dir);
	snprintf(path, sizeof(path), "%s/pot.db", dir);
	memset(junk, 'x', sizeof(junk));
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0600)) >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(pot_store_open(dir, false, &s, err, sizeof(err)), POT_ERR_STORE);
	assert_null(s);
	assert_non_null(strstr(err, "pot.db"));
	tmpdir_remove(dir);
}

static void
test_strerror(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(pot_store_strerror(f->s), "no error");
	assert_string_equal(pot_strerror(POT_ERR_REPLAY), "replayed code or refresh token");
	assert_string_equal(pot_strerror(POT_ERR_EXISTS), "already exists");
	assert_string_equal(pot_strerror(POT_ERR_BUSY), "store in use by another process");
}

/* --- clients ------------------------------------------------------------------------ */

static int
count_client(const struct pot_client *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static int
stop_client(const struct pot_client *c, void *arg)
{
	(void)c;
	(void)arg;
	return 42;
}

static void
test_client_crud(void **state)
{
	struct fixture *f = *state;
	struct pot_client c, got;
	int n = 0;

	memset(&c, 0, sizeof(c));
	fill(c.id, sizeof(c.id), 'c');		/* the longest id */
	memset(c.secret, 0xa5, sizeof(c.secret));
	c.secret[0] = 0;			/* binary, with a NUL */
	c.confidential = true;
	c.introspect = true;
	c.grants = POT_GRANT_CODE | POT_GRANT_REFRESH | POT_GRANT_CLIENT_CREDENTIALS;
	fill(c.scope, sizeof(c.scope), 's');
	fill(c.redirect_uris, sizeof(c.redirect_uris), 'u');
	c.created = NOW;
	assert_int_equal(pot_store_client_put(f->s, &c, true), POT_OK);
	assert_int_equal(pot_store_client_put(f->s, &c, true), POT_ERR_EXISTS);
	assert_int_equal(pot_store_client_get(f->s, c.id, &got), POT_OK);
	assert_memory_equal(&got, &c, sizeof(c));	/* every field, padding zeroed alike */

	c.confidential = false;
	c.first_party = true;
	c.rotate = true;
	c.introspect = false;
	c.grants = POT_GRANT_CODE;
	memset(c.secret, 0, sizeof(c.secret));
	snprintf(c.redirect_uris, sizeof(c.redirect_uris), "https://a.example/cb\nhttp://127.0.0.1/cb");
	snprintf(c.scope, sizeof(c.scope), "%s", "");
	c.created = -1;
	assert_int_equal(pot_store_client_put(f->s, &c, false), POT_OK);
	memset(&got, 0xff, sizeof(got));
	assert_int_equal(pot_store_client_get(f->s, c.id, &got), POT_OK);
	assert_string_equal(got.id, c.id);
	assert_false(got.confidential);
	assert_true(got.first_party);
	assert_true(got.rotate);
	assert_false(got.introspect);
	assert_int_equal(got.grants, POT_GRANT_CODE);
	assert_memory_equal(got.secret, c.secret, sizeof(c.secret));
	assert_string_equal(got.redirect_uris, c.redirect_uris);
	assert_string_equal(got.scope, "");
	assert_int_equal(got.created, -1);

	snprintf(c.id, sizeof(c.id), "other");
	assert_int_equal(pot_store_client_put(f->s, &c, false), POT_OK);
	assert_int_equal(pot_store_client_list(f->s, count_client, &n), POT_OK);
	assert_int_equal(n, 2);
	assert_int_equal(pot_store_client_list(f->s, stop_client, NULL), 42);

	assert_int_equal(pot_store_client_get(f->s, "nobody", &got), POT_ERR_NOT_FOUND);
	assert_int_equal(got.id[0], '\0');
	assert_int_equal(pot_store_client_del(f->s, "nobody"), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_client_del(f->s, "other"), POT_OK);
	assert_int_equal(pot_store_client_get(f->s, "other", &got), POT_ERR_NOT_FOUND);

	/* bad keys and fields */
	assert_int_equal(pot_store_client_get(f->s, "", &got), POT_ERR_BAD_REQUEST);
	c.id[0] = '\0';
	assert_int_equal(pot_store_client_put(f->s, &c, true), POT_ERR_BAD_REQUEST);
	memset(c.id, 'x', sizeof(c.id));	/* no NUL */
	assert_int_equal(pot_store_client_put(f->s, &c, true), POT_ERR_TOO_LONG);
	snprintf(c.id, sizeof(c.id), "ok");
	memset(c.scope, 's', sizeof(c.scope));
	assert_int_equal(pot_store_client_put(f->s, &c, true), POT_ERR_TOO_LONG);
	assert_int_equal(pot_store_client_get(f->s, "ok", &got), POT_ERR_NOT_FOUND);
}

/* --- codes ---------------------------------------------------------------------------- */

static void
test_code_roundtrip_and_redeem(void **state)
{
	struct fixture *f = *state;
	struct pot_code c, got;
	struct pot_grant g;
	struct pot_rt rt, st;
	struct pot_store_stats sts;

	mkcode(&c, "code", 1, "alice", "app", "g1", NOW + 60);
	fill(c.scope, sizeof(c.scope), 'S');
	fill(c.redirect_uri, sizeof(c.redirect_uri), 'R');
	fill(c.user, sizeof(c.user), 'a');
	assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_ERR_EXISTS);
	memset(&got, 0xff, sizeof(got));
	assert_int_equal(pot_store_code_get(f->s, c.id, &got), POT_OK);
	assert_memory_equal(&got, &c, sizeof(c));

	mkrt(&rt, "rt", 1, NOW);
	snprintf(rt.user, sizeof(rt.user), "mallory");	/* ignored: the code says who */
	rt.state = POT_RT_REVOKED;			/* ignored */
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, &rt, &got), POT_OK);
	c.used = true;
	assert_memory_equal(&got, &c, sizeof(c));
	assert_int_equal(pot_store_code_get(f->s, c.id, &got), POT_OK);
	assert_true(got.used);

	assert_int_equal(pot_store_grant_get(f->s, "g1", &g), POT_OK);
	assert_string_equal(g.id, "g1");
	assert_string_equal(g.user, c.user);
	assert_string_equal(g.client_id, "app");
	assert_int_equal(g.created, NOW);
	assert_int_equal(g.expires, NOW + MAX);
	assert_false(g.revoked);

	assert_int_equal(pot_store_rt_get(f->s, rt.id, &st), POT_OK);
	assert_memory_equal(st.id, rt.id, POT_ID_LEN);
	assert_string_equal(st.user, c.user);
	assert_string_equal(st.client_id, "app");
	assert_string_equal(st.grant, "g1");
	assert_string_equal(st.scope, "ssh sudo");
	assert_int_equal(st.created, NOW);
	assert_int_equal(st.last_used, NOW);
	assert_int_equal(st.expires, NOW + TTL);
	assert_int_equal(st.abs_expires, NOW + MAX);
	assert_int_equal(st.auth_time, c.auth_time);
	assert_int_equal(st.rotated_at, 0);
	assert_int_equal(st.state, POT_RT_ACTIVE);

	assert_int_equal(pot_store_stats(f->s, &sts), POT_OK);
	assert_int_equal(sts.refresh_tokens, 1);
	assert_int_equal(sts.codes, 1);
	assert_int_equal(sts.grants, 1);
	assert_int_equal(sts.clients, 0);
}

static void
test_code_refusals(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 10, false);
	struct pot_code c, got;
	struct pot_rt rt, rt2, cur;
	unsigned char id[POT_ID_LEN];
	enum pot_refresh_outcome o;

	mkid(id, "nope", 0);
	assert_int_equal(pot_store_code_redeem(f->s, id, NOW, NULL, &got), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_code_get(f->s, id, &got), POT_ERR_NOT_FOUND);

	/* expired: now == expires is too late */
	mkcode(&c, "code", 2, "alice", "app", "g-exp", NOW + 60);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
	mkrt(&rt, "rt", 2, NOW + 60);
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW + 60, &rt, &got), POT_ERR_EXPIRED);
	assert_int_equal(pot_store_rt_get(f->s, rt.id, &cur), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_grant_get(f->s, "g-exp", &(struct pot_grant){ 0 }), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_code_get(f->s, c.id, &got), POT_OK);
	assert_false(got.used);

	/* replay: denied, and what the first redemption issued is revoked */
	mkcode(&c, "code", 3, "alice", "app", "g-rep", NOW + 60);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
	mkrt(&rt, "rt", 3, NOW);
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, &rt, &got), POT_OK);
	mkrt(&rt2, "rt", 4, NOW);
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW + 1, &rt2, &got), POT_ERR_REPLAY);
	assert_string_equal(got.grant, "g-rep");
	assert_true(grant_revoked(f->s, "g-rep"));
	assert_int_equal(rt_state(f->s, rt.id), POT_RT_REVOKED);
	assert_int_equal(pot_store_rt_get(f->s, rt2.id, &cur), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "app", &p, NULL, &cur, &o), POT_ERR_DENIED);
	/* a replay after the code expired is still a replay */
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW + 3600, NULL, &got), POT_ERR_REPLAY);

	/* a grant id already taken: nothing of the redemption stays */
	mkcode(&c, "code", 5, "alice", "app", "g-rep", NOW + 60);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
	mkrt(&rt, "rt", 5, NOW);
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, &rt, &got), POT_ERR_EXISTS);
	assert_int_equal(pot_store_code_get(f->s, c.id, &got), POT_OK);
	assert_false(got.used);
	assert_int_equal(pot_store_rt_get(f->s, rt.id, &cur), POT_ERR_NOT_FOUND);

	/* bad records */
	mkcode(&c, "code", 6, "", "app", "g6", NOW + 60);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_ERR_BAD_REQUEST);
	mkcode(&c, "code", 7, "alice", "app", "g7", NOW + 60);
	memset(c.challenge, 'c', sizeof(c.challenge));
	assert_int_equal(pot_store_code_put(f->s, &c), POT_ERR_TOO_LONG);
}

static void
test_code_without_rt(void **state)
{
	struct fixture *f = *state;
	struct pot_code c, got;
	struct pot_grant g;
	struct pot_store_stats sts;

	mkcode(&c, "code", 8, "alice", "app", "g-nort", NOW + 60);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, NULL, &got), POT_OK);
	assert_int_equal(pot_store_grant_get(f->s, "g-nort", &g), POT_OK);
	assert_int_equal(g.expires, NOW + 60);		/* outlives the code: a replay revokes it */
	assert_int_equal(pot_store_stats(f->s, &sts), POT_OK);
	assert_int_equal(sts.refresh_tokens, 0);
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW + 1, NULL, &got), POT_ERR_REPLAY);
	assert_true(grant_revoked(f->s, "g-nort"));
}

struct race {
	struct pot_store *s;
	pthread_barrier_t *bar;
	const unsigned char *code;
	unsigned char rt_id[POT_ID_LEN];
	int r;
	struct pot_rt *next;
	const unsigned char *rt;
	enum pot_refresh_outcome o;
};

static void *
race_redeem(void *arg)
{
	struct race *a = arg;
	struct pot_code got;
	struct pot_rt rt;

	mkrt(&rt, "race-rt", 0, NOW);
	memcpy(rt.id, a->rt_id, POT_ID_LEN);
	pthread_barrier_wait(a->bar);
	a->r = pot_store_code_redeem(a->s, a->code, NOW, &rt, &got);
	return NULL;
}

static void
test_code_parallel_redeem(void **state)
{
	struct fixture *f = *state;
	pthread_barrier_t bar;
	pthread_t th[NTHREADS];
	struct race a[NTHREADS];
	struct pot_code c;
	struct pot_rt rt;
	char grant[32];
	int round, i, ok, winner;

	for (round = 0; round < 8; round++) {
		snprintf(grant, sizeof(grant), "race-%d", round);
		mkcode(&c, "race", round, "alice", "app", grant, NOW + 60);
		assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
		assert_int_equal(pthread_barrier_init(&bar, NULL, NTHREADS), 0);
		for (i = 0; i < NTHREADS; i++) {
			memset(&a[i], 0, sizeof(a[i]));
			a[i].s = f->s;
			a[i].bar = &bar;
			a[i].code = c.id;
			mkid(a[i].rt_id, grant, i);
			assert_int_equal(pthread_create(&th[i], NULL, race_redeem, &a[i]), 0);
		}
		ok = 0;
		winner = -1;
		for (i = 0; i < NTHREADS; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			if (a[i].r == POT_OK) {
				ok++;
				winner = i;
			} else if (a[i].r != POT_ERR_REPLAY)
				pot_fail_msg("round %d thread %d: %s: %s", round, i, pot_strerror(a[i].r),
				    pot_store_strerror(f->s));
		}
		pthread_barrier_destroy(&bar);
		assert_int_equal(ok, 1);
		/* the replays revoked what the one success issued (RFC 6749 §4.1.2) */
		assert_true(grant_revoked(f->s, grant));
		assert_int_equal(rt_state(f->s, a[winner].rt_id), POT_RT_REVOKED);
		for (i = 0; i < NTHREADS; i++)
			if (i != winner)
				assert_int_equal(pot_store_rt_get(f->s, a[i].rt_id, &rt), POT_ERR_NOT_FOUND);
	}
}

/* --- refresh tokens ---------------------------------------------------------------------- */

static void
test_rt_rotation_grace_replay(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 100, true);
	struct pot_rt first, next, cur, next2, got;
	enum pot_refresh_outcome o;

	issue(f->s, "rot", 1, "alice", "pub", "g-rot", NOW, &first);
	memset(&next, 0, sizeof(next));
	mkid(next.id, "rot-next", 1);
	snprintf(next.scope, sizeof(next.scope), "ssh");	/* ignored: RFC 6749 §6 */
	next.expires = 1;				/* ignored */
	assert_int_equal(pot_store_rt_refresh(f->s, first.id, "pub", &p, &next, &cur, &o), POT_OK);
	assert_int_equal(o, POT_REFRESH_ROTATED);
	/* the presented one, after the update */
	assert_int_equal(cur.state, POT_RT_ROTATED);
	assert_int_equal(cur.rotated_at, NOW + 100);
	assert_int_equal(cur.expires, first.expires);
	assert_memory_equal(cur.id, first.id, POT_ID_LEN);
	/* the successor: family data copied, times fresh */
	assert_int_equal(pot_store_rt_get(f->s, next.id, &got), POT_OK);
	assert_memory_equal(&got, &next, sizeof(got));
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.client_id, "pub");
	assert_string_equal(got.grant, "g-rot");
	assert_string_equal(got.scope, "ssh sudo");	/* identical to the presented one */
	assert_int_equal(got.auth_time, first.auth_time);
	assert_int_equal(got.abs_expires, first.abs_expires);
	assert_int_equal(got.created, NOW + 100);
	assert_int_equal(got.last_used, NOW + 100);
	assert_int_equal(got.expires, NOW + 100 + TTL);
	assert_int_equal(got.state, POT_RT_ACTIVE);
	assert_int_equal(rt_state(f->s, first.id), POT_RT_ROTATED);

	/* the superseded one again inside the grace: the same successor, nothing written */
	p.now = NOW + 100 + GRACE;
	memset(&next2, 0, sizeof(next2));
	mkid(next2.id, "rot-next", 1);			/* re-derived by the caller */
	assert_int_equal(pot_store_rt_refresh(f->s, first.id, "pub", &p, &next2, &cur, &o), POT_OK);
	assert_int_equal(o, POT_REFRESH_GRACE);
	assert_memory_equal(&next2, &got, sizeof(got));
	assert_int_equal(cur.state, POT_RT_ROTATED);
	assert_int_equal(cur.last_used, NOW + 100);
	/* another client inside the grace: denied, nothing revoked */
	assert_int_equal(pot_store_rt_refresh(f->s, first.id, "evil", &p, &next2, &cur, &o), POT_ERR_DENIED);
	assert_false(grant_revoked(f->s, "g-rot"));

	/* past the grace: a reuse; the family dies, successor included */
	p.now = NOW + 100 + GRACE + 1;
	assert_int_equal(pot_store_rt_refresh(f->s, first.id, "pub", &p, &next2, &cur, &o), POT_ERR_REPLAY);
	assert_int_equal(cur.state, POT_RT_REVOKED);
	assert_true(grant_revoked(f->s, "g-rot"));
	assert_int_equal(rt_state(f->s, first.id), POT_RT_REVOKED);
	assert_int_equal(rt_state(f->s, next.id), POT_RT_REVOKED);
	assert_int_equal(pot_store_rt_refresh(f->s, next.id, "pub", &p, &next2, &cur, &o), POT_ERR_DENIED);
	assert_int_equal(pot_store_rt_check(f->s, next.id, p.now, TTL, &cur), POT_ERR_DENIED);
}

static void
test_rt_grace_needs_live_successor(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 10, true);
	struct pot_rt a, b, c, cur;
	enum pot_refresh_outcome o;

	/* a -> b -> c, then a again inside a's grace: b is no longer live, a reuse */
	issue(f->s, "chain", 1, "alice", "pub", "g-chain", NOW, &a);
	memset(&b, 0, sizeof(b));
	mkid(b.id, "chain-b", 0);
	assert_int_equal(pot_store_rt_refresh(f->s, a.id, "pub", &p, &b, &cur, &o), POT_OK);
	assert_int_equal(o, POT_REFRESH_ROTATED);
	memset(&c, 0, sizeof(c));
	mkid(c.id, "chain-c", 0);
	p.now += 5;
	assert_int_equal(pot_store_rt_refresh(f->s, b.id, "pub", &p, &c, &cur, &o), POT_OK);
	assert_int_equal(o, POT_REFRESH_ROTATED);
	memset(&b, 0, sizeof(b));
	mkid(b.id, "chain-b", 0);
	p.now += 5;
	assert_int_equal(pot_store_rt_refresh(f->s, a.id, "pub", &p, &b, &cur, &o), POT_ERR_REPLAY);
	assert_int_equal(rt_state(f->s, c.id), POT_RT_REVOKED);

	/* a successor id the store does not know: a reuse too */
	issue(f->s, "chain", 2, "alice", "pub", "g-chain2", NOW, &a);
	memset(&b, 0, sizeof(b));
	mkid(b.id, "chain2-b", 0);
	p.now = NOW + 10;
	assert_int_equal(pot_store_rt_refresh(f->s, a.id, "pub", &p, &b, &cur, &o), POT_OK);
	memset(&c, 0, sizeof(c));
	mkid(c.id, "not-derived", 0);
	assert_int_equal(pot_store_rt_refresh(f->s, a.id, "pub", &p, &c, &cur, &o), POT_ERR_REPLAY);
	assert_true(grant_revoked(f->s, "g-chain2"));
}

static void *
race_refresh(void *arg)
{
	struct race *a = arg;
	struct pot_refresh_policy p = policy(NOW + 10, true);
	struct pot_rt cur;

	pthread_barrier_wait(a->bar);
	a->r = pot_store_rt_refresh(a->s, a->rt, "pub", &p, a->next, &cur, &a->o);
	return NULL;
}

static void
test_rt_parallel_refresh(void **state)
{
	struct fixture *f = *state;
	pthread_barrier_t bar;
	pthread_t th[NTHREADS];
	struct race a[NTHREADS];
	struct pot_rt first, next[NTHREADS];
	int i, rotated = 0, grace = 0;

	/* the same token refreshed at once by many: one rotation, the others get its successor */
	issue(f->s, "prt", 1, "alice", "pub", "g-prt", NOW, &first);
	assert_int_equal(pthread_barrier_init(&bar, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		memset(&next[i], 0, sizeof(next[i]));
		mkid(next[i].id, "prt-next", 0);	/* derived from the presented token */
		a[i].s = f->s;
		a[i].bar = &bar;
		a[i].rt = first.id;
		a[i].next = &next[i];
		assert_int_equal(pthread_create(&th[i], NULL, race_refresh, &a[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (a[i].r != POT_OK)
			pot_fail_msg("thread %d: %s: %s", i, pot_strerror(a[i].r), pot_store_strerror(f->s));
		rotated += a[i].o == POT_REFRESH_ROTATED;
		grace += a[i].o == POT_REFRESH_GRACE;
		assert_int_equal(next[i].state, POT_RT_ACTIVE);
		assert_memory_equal(&next[i], &next[0], sizeof(next[0]));
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(rotated, 1);
	assert_int_equal(grace, NTHREADS - 1);
}

static void
test_rt_refresh_refusals(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 10, false);
	struct pot_rt rt, rt2, cur, next;
	unsigned char id[POT_ID_LEN];
	enum pot_refresh_outcome o = POT_REFRESH_SLID;

	mkid(id, "unknown", 0);
	assert_int_equal(pot_store_rt_refresh(f->s, id, "app", &p, NULL, &cur, &o), POT_ERR_NOT_FOUND);

	/* another client's token: refused and untouched */
	issue(f->s, "ref", 1, "alice", "app", "g-ref", NOW, &rt);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "other", &p, NULL, &cur, &o), POT_ERR_DENIED);
	assert_int_equal(pot_store_rt_get(f->s, rt.id, &cur), POT_OK);
	assert_memory_equal(&cur, &rt, sizeof(rt));

	/* expired: sliding expiry reached */
	p.now = rt.expires;
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "app", &p, NULL, &cur, &o), POT_ERR_EXPIRED);
	assert_int_equal(pot_store_rt_check(f->s, rt.id, p.now, TTL, &cur), POT_ERR_EXPIRED);
	/* expired: absolute expiry reached although expires is later (written that way) */
	{
		struct pot_code c, got;

		mkcode(&c, "ref-abs", 2, "alice", "app", "g-ref2", NOW + 60);
		assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
		mkrt(&rt2, "ref", 2, NOW);
		rt2.abs_expires = NOW + 1000;
		rt2.expires = NOW + 5000;
		assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, &rt2, &got), POT_OK);
		p.now = NOW + 1000;
		assert_int_equal(pot_store_rt_refresh(f->s, rt2.id, "app", &p, NULL, &cur, &o),
		    POT_ERR_EXPIRED);
		assert_int_equal(pot_store_rt_check(f->s, rt2.id, p.now, TTL, &cur), POT_ERR_EXPIRED);
		p.now = NOW + 999;
		assert_int_equal(pot_store_rt_check(f->s, rt2.id, p.now, TTL, &cur), POT_OK);
		assert_int_equal(cur.expires, NOW + 1000);
	}

	/* revoked: denied, for refresh and login alike */
	p.now = NOW + 10;
	assert_int_equal(pot_store_rt_revoke(f->s, rt.id), POT_OK);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "app", &p, NULL, &cur, &o), POT_ERR_DENIED);
	assert_int_equal(cur.state, POT_RT_REVOKED);
	assert_int_equal(pot_store_rt_check(f->s, rt.id, p.now, TTL, &cur), POT_ERR_DENIED);

	/* grant revoked although the token itself is not (revoked by grant record only) */
	issue(f->s, "ref", 3, "alice", "app", "g-ref3", NOW, &rt);
	assert_int_equal(pot_store_grant_revoke(f->s, "g-ref3"), POT_OK);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "app", &p, NULL, &cur, &o), POT_ERR_DENIED);

	/* bad calls */
	issue(f->s, "ref", 4, "alice", "app", "g-ref4", NOW, &rt);
	p.rotate = true;
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "app", &p, NULL, &cur, &o), POT_ERR_BAD_REQUEST);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, NULL, &p, &next, &cur, &o), POT_ERR_BAD_REQUEST);
	p.ttl = -1;
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "app", &p, &next, &cur, &o), POT_ERR_BAD_REQUEST);
	p.ttl = TTL;
	/* a successor id that exists already: nothing changes */
	memset(&next, 0, sizeof(next));
	memcpy(next.id, rt2.id, POT_ID_LEN);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "app", &p, &next, &cur, &o), POT_ERR_EXISTS);
	assert_int_equal(rt_state(f->s, rt.id), POT_RT_ACTIVE);
}

static void
test_rt_slide_confidential(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 1000, false);
	struct pot_rt rt, cur, next;
	enum pot_refresh_outcome o;

	issue(f->s, "slide", 1, "alice", "conf", "g-slide", NOW, &rt);
	memset(&next, 0x5a, sizeof(next));
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "conf", &p, &next, &cur, &o), POT_OK);
	assert_int_equal(o, POT_REFRESH_SLID);
	assert_int_equal(next.state, 0x5a5a5a5a);	/* untouched */
	assert_memory_equal(cur.id, rt.id, POT_ID_LEN);
	assert_int_equal(cur.state, POT_RT_ACTIVE);
	assert_int_equal(cur.last_used, NOW + 1000);
	assert_int_equal(cur.expires, NOW + 1000 + TTL);
	assert_int_equal(cur.created, NOW);
	assert_int_equal(pot_store_rt_get(f->s, rt.id, &rt), POT_OK);
	assert_memory_equal(&rt, &cur, sizeof(rt));

	/* used just before each sliding expiry, it lives until the absolute end, not after */
	while (p.now + TTL < NOW + MAX) {
		p.now = cur.expires - 1;
		assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "conf", &p, NULL, &cur, &o), POT_OK);
		assert_int_equal(o, POT_REFRESH_SLID);
		assert_int_equal(cur.last_used, p.now);
		assert_int_equal(cur.expires, p.now + TTL < NOW + MAX ? p.now + TTL : NOW + MAX);
	}
	assert_int_equal(cur.expires, NOW + MAX);
	assert_int_equal(cur.abs_expires, NOW + MAX);
	p.now = NOW + MAX;
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "conf", &p, NULL, &cur, &o), POT_ERR_EXPIRED);

	/* unused for longer than refresh_ttl: expired although abs_expires is later */
	issue(f->s, "slide", 2, "alice", "conf", "g-slide2", NOW, &rt);
	p.now = NOW + TTL;
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "conf", &p, NULL, &cur, &o), POT_ERR_EXPIRED);
	assert_int_equal(pot_store_rt_get(f->s, rt.id, &cur), POT_OK);
	assert_memory_equal(&cur, &rt, sizeof(rt));	/* untouched */
}

static void
test_rt_check(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 50, true);
	struct pot_rt rt, cur, next;
	unsigned char id[POT_ID_LEN];
	enum pot_refresh_outcome o;
	struct pot_store_stats st;

	mkid(id, "unknown", 1);
	assert_int_equal(pot_store_rt_check(f->s, id, NOW, TTL, &cur), POT_ERR_NOT_FOUND);

	/* a rotating client's token: a login slides it and never rotates it, for any client */
	issue(f->s, "chk", 1, "alice", "pub", "g-chk", NOW, &rt);
	assert_int_equal(pot_store_rt_check(f->s, rt.id, NOW + 20, TTL, &cur), POT_OK);
	assert_memory_equal(cur.id, rt.id, POT_ID_LEN);
	assert_int_equal(cur.state, POT_RT_ACTIVE);
	assert_int_equal(cur.last_used, NOW + 20);
	assert_int_equal(cur.expires, NOW + 20 + TTL);
	while (cur.expires < NOW + MAX)
		assert_int_equal(pot_store_rt_check(f->s, rt.id, cur.expires - 1, TTL, &cur), POT_OK);
	assert_int_equal(cur.expires, NOW + MAX);
	assert_int_equal(cur.state, POT_RT_ACTIVE);
	assert_memory_equal(cur.id, rt.id, POT_ID_LEN);
	assert_int_equal(pot_store_stats(f->s, &st), POT_OK);
	assert_int_equal(st.refresh_tokens, 1);
	assert_int_equal(pot_store_rt_check(f->s, rt.id, NOW + MAX, TTL, &cur), POT_ERR_EXPIRED);
	assert_int_equal(pot_store_rt_check(f->s, rt.id, NOW, -1, &cur), POT_ERR_BAD_REQUEST);

	/* superseded: no grace for logins, and nothing revoked */
	issue(f->s, "chk", 2, "alice", "pub", "g-chk2", NOW, &rt);
	memset(&next, 0, sizeof(next));
	mkid(next.id, "chk-next", 2);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "pub", &p, &next, &cur, &o), POT_OK);
	assert_int_equal(pot_store_rt_check(f->s, rt.id, NOW + 51, TTL, &cur), POT_ERR_DENIED);
	assert_int_equal(cur.state, POT_RT_ROTATED);
	assert_false(grant_revoked(f->s, "g-chk2"));
	assert_int_equal(pot_store_rt_check(f->s, next.id, NOW + 51, TTL, &cur), POT_OK);
}

/* --- revocation ------------------------------------------------------------------------ */

static void
test_rt_revoke_family(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 10, true);
	struct pot_rt rt, other, next, cur;
	unsigned char id[POT_ID_LEN];
	enum pot_refresh_outcome o;

	issue(f->s, "rev", 1, "alice", "pub", "g-rev", NOW, &rt);
	issue(f->s, "rev", 2, "alice", "pub", "g-rev-other", NOW, &other);
	memset(&next, 0, sizeof(next));
	mkid(next.id, "rev-next", 1);
	assert_int_equal(pot_store_rt_refresh(f->s, rt.id, "pub", &p, &next, &cur, &o), POT_OK);
	/* RFC 7009 §2.1: revoking the old one kills the grant, the newest token too */
	assert_int_equal(pot_store_rt_revoke(f->s, rt.id), POT_OK);
	assert_int_equal(rt_state(f->s, rt.id), POT_RT_REVOKED);
	assert_int_equal(rt_state(f->s, next.id), POT_RT_REVOKED);
	assert_true(grant_revoked(f->s, "g-rev"));
	assert_int_equal(rt_state(f->s, other.id), POT_RT_ACTIVE);
	assert_false(grant_revoked(f->s, "g-rev-other"));
	assert_int_equal(pot_store_rt_revoke(f->s, rt.id), POT_OK);	/* again */
	mkid(id, "unknown", 2);
	assert_int_equal(pot_store_rt_revoke(f->s, id), POT_ERR_NOT_FOUND);

	assert_int_equal(pot_store_grant_revoke(f->s, "g-rev-other"), POT_OK);
	assert_int_equal(rt_state(f->s, other.id), POT_RT_REVOKED);
	assert_int_equal(pot_store_grant_revoke(f->s, "nope"), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_grant_revoke(f->s, ""), POT_ERR_BAD_REQUEST);
	assert_int_equal(pot_store_grant_get(f->s, "nope", &(struct pot_grant){ 0 }), POT_ERR_NOT_FOUND);
}

static void
test_revoke_user(void **state)
{
	struct fixture *f = *state;
	struct pot_refresh_policy p = policy(NOW + 10, true);
	struct pot_rt a1, a2, b1, next, cur;
	enum pot_refresh_outcome o;
	size_t n = 99;

	issue(f->s, "ru", 1, "alice", "pub", "g-ru-a1", NOW, &a1);
	issue(f->s, "ru", 2, "alice", "conf", "g-ru-a2", NOW, &a2);
	issue(f->s, "ru", 3, "bob", "pub", "g-ru-b1", NOW, &b1);
	memset(&next, 0, sizeof(next));
	mkid(next.id, "ru-next", 1);
	assert_int_equal(pot_store_rt_refresh(f->s, a1.id, "pub", &p, &next, &cur, &o), POT_OK);

	/* RFC 9700: the admin path kills every family of the user, no one else's */
	assert_int_equal(pot_store_revoke_user(f->s, "alice", &n), POT_OK);
	assert_int_equal(n, 3);		/* a1 (ROTATED), its successor, a2 */
	assert_int_equal(rt_state(f->s, a1.id), POT_RT_REVOKED);
	assert_int_equal(rt_state(f->s, next.id), POT_RT_REVOKED);
	assert_int_equal(rt_state(f->s, a2.id), POT_RT_REVOKED);
	assert_true(grant_revoked(f->s, "g-ru-a1"));
	assert_true(grant_revoked(f->s, "g-ru-a2"));
	assert_int_equal(rt_state(f->s, b1.id), POT_RT_ACTIVE);
	assert_false(grant_revoked(f->s, "g-ru-b1"));
	assert_int_equal(pot_store_rt_check(f->s, b1.id, NOW + 10, TTL, &cur), POT_OK);

	assert_int_equal(pot_store_revoke_user(f->s, "alice", &n), POT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(pot_store_revoke_user(f->s, "nobody", &n), POT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(pot_store_revoke_user(f->s, "", &n), POT_ERR_BAD_REQUEST);
}

static void
test_client_del_revokes(void **state)
{
	struct fixture *f = *state;
	struct pot_client c;
	struct pot_rt r1, r2, r3;

	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "doomed");
	assert_int_equal(pot_store_client_put(f->s, &c, true), POT_OK);
	issue(f->s, "cd", 1, "alice", "doomed", "g-cd1", NOW, &r1);
	issue(f->s, "cd", 2, "bob", "doomed", "g-cd2", NOW, &r2);
	issue(f->s, "cd", 3, "alice", "kept", "g-cd3", NOW, &r3);
	assert_int_equal(pot_store_client_del(f->s, "doomed"), POT_OK);
	assert_true(grant_revoked(f->s, "g-cd1"));
	assert_true(grant_revoked(f->s, "g-cd2"));
	assert_int_equal(rt_state(f->s, r1.id), POT_RT_REVOKED);
	assert_int_equal(rt_state(f->s, r2.id), POT_RT_REVOKED);
	assert_false(grant_revoked(f->s, "g-cd3"));
	assert_int_equal(rt_state(f->s, r3.id), POT_RT_ACTIVE);
}

/* --- listing ---------------------------------------------------------------------------- */

struct lister {
	struct pot_store *s;
	int n;
	bool revoke;
	const char *user;
};

static int
list_cb(const struct pot_rt *rt, void *arg)
{
	struct lister *l = arg;

	if (l->user != NULL && strcmp(rt->user, l->user) != 0)
		return -1000;
	l->n++;
	if (l->revoke)		/* the store is usable from the callback */
		return pot_store_rt_revoke(l->s, rt->id);
	return 0;
}

static int
list_stop(const struct pot_rt *rt, void *arg)
{
	(void)rt;
	(void)arg;
	return 7;
}

static void
test_rt_list(void **state)
{
	struct fixture *f = *state;
	struct lister l = { .s = f->s };
	int i;

	for (i = 0; i < 5; i++) {
		char g[16];

		snprintf(g, sizeof(g), "g-l%d", i);
		issue(f->s, "list", i, i < 3 ? "alice" : "bob", "app", g, NOW, NULL);
	}
	l.user = "alice";
	assert_int_equal(pot_store_rt_list(f->s, "alice", list_cb, &l), POT_OK);
	assert_int_equal(l.n, 3);
	l.user = "bob";
	l.n = 0;
	l.revoke = true;
	assert_int_equal(pot_store_rt_list(f->s, "bob", list_cb, &l), POT_OK);
	assert_int_equal(l.n, 2);
	l.user = NULL;
	l.n = 0;
	l.revoke = false;
	assert_int_equal(pot_store_rt_list(f->s, NULL, list_cb, &l), POT_OK);
	assert_int_equal(l.n, 5);
	l.n = 0;
	assert_int_equal(pot_store_rt_list(f->s, "nobody", list_cb, &l), POT_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(pot_store_rt_list(f->s, NULL, list_stop, NULL), 7);
}

/* --- nonces, purge, stats ----------------------------------------------------------------- */

static void
test_nonce(void **state)
{
	struct fixture *f = *state;
	unsigned char id[POT_ID_LEN];
	size_t n;

	mkid(id, "nonce", 1);
	assert_int_equal(pot_store_nonce_use(f->s, id, NOW + 300), POT_OK);
	assert_int_equal(pot_store_nonce_use(f->s, id, NOW + 300), POT_ERR_EXISTS);
	assert_int_equal(pot_store_purge(f->s, NOW + 300, 100, &n), POT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(pot_store_nonce_use(f->s, id, NOW + 300), POT_ERR_EXISTS);
	assert_int_equal(pot_store_purge(f->s, NOW + 301, 100, &n), POT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(pot_store_nonce_use(f->s, id, NOW + 900), POT_OK);
}

static void
test_purge(void **state)
{
	struct fixture *f = *state;
	struct pot_store_stats st;
	struct pot_code c, got;
	struct pot_rt rt, keep, dead;
	struct pot_grant g;
	size_t n, total;
	int i;

	/* live: a token and its grant; a pending code */
	issue(f->s, "live", 1, "alice", "app", "g-live", NOW + 5000, &keep);
	mkcode(&c, "pending", 1, "alice", "app", "g-pending", NOW + 5060);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
	/* expired: ten tokens (one revoked), their grants and codes */
	for (i = 0; i < 10; i++) {
		char g10[16];

		snprintf(g10, sizeof(g10), "g-dead%d", i);
		mkcode(&c, "dead", i, "bob", "app", g10, NOW + 60);
		assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
		mkrt(&rt, "dead", i, NOW);
		rt.expires = NOW + 100 + i;
		rt.abs_expires = NOW + 1000;
		assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, &rt, &got), POT_OK);
		if (i == 0)
			dead = rt;
	}
	assert_int_equal(pot_store_rt_revoke(f->s, dead.id), POT_OK);
	/* a token whose grant outlives it: the grant stays while it has a token */
	assert_int_equal(pot_store_stats(f->s, &st), POT_OK);
	assert_int_equal(st.refresh_tokens, 11);
	assert_int_equal(st.codes, 12);
	assert_int_equal(st.grants, 11);

	/* nothing is expired yet at NOW + 60: expiring exactly now is not yet past */
	assert_int_equal(pot_store_purge(f->s, NOW + 60, 100, &n), POT_OK);
	assert_int_equal(n, 0);
	/* batches */
	assert_int_equal(pot_store_purge(f->s, NOW + 2000, 4, &n), POT_OK);
	assert_int_equal(n, 4);
	total = n;
	do {
		assert_int_equal(pot_store_purge(f->s, NOW + 2000, 4, &n), POT_OK);
		total += n;
	} while (n == 4);
	assert_int_equal(total, 10 + 10);	/* tokens, codes */
	assert_int_equal(pot_store_stats(f->s, &st), POT_OK);
	assert_int_equal(st.refresh_tokens, 1);
	assert_int_equal(st.codes, 2);		/* the live token's and the pending one */
	assert_int_equal(st.grants, 11);	/* kept a day longer, for introspection */
	assert_int_equal(pot_store_grant_get(f->s, "g-dead3", &g), POT_OK);
	assert_int_equal(pot_store_rt_get(f->s, keep.id, &rt), POT_OK);
	assert_int_equal(pot_store_rt_get(f->s, dead.id, &rt), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_grant_get(f->s, "g-live", &g), POT_OK);
	assert_int_equal(pot_store_purge(f->s, NOW + 1000 + POT_GRANT_KEEP, 100, &n), POT_OK);
	assert_int_equal(pot_store_grant_get(f->s, "g-dead3", &g), POT_OK);	/* not yet */
	assert_int_equal(pot_store_purge(f->s, NOW + 1001 + POT_GRANT_KEEP, 100, &n), POT_OK);
	assert_int_equal(pot_store_grant_get(f->s, "g-dead3", &g), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_store_code_get(f->s, c.id, &got), POT_ERR_NOT_FOUND);

	/* a grant is kept while a token of it remains, even past its own expiry */
	mkcode(&c, "odd", 1, "carol", "app", "g-odd", NOW + 60);
	assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
	mkrt(&rt, "odd", 1, NOW);
	rt.abs_expires = NOW + 3000;
	rt.expires = NOW + 9000;		/* not capped by the caller: purge uses the min */
	assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, &rt, &got), POT_OK);
	assert_int_equal(pot_store_purge(f->s, NOW + 3001, 100, &n), POT_OK);
	assert_int_equal(n, 2);			/* its token and its code */
	assert_int_equal(pot_store_grant_get(f->s, "g-odd", &g), POT_OK);
	assert_int_equal(pot_store_purge(f->s, NOW + 3001 + POT_GRANT_KEEP, 100, &n), POT_OK);
	assert_int_equal(n, 1);			/* then its grant */
	assert_int_equal(pot_store_grant_get(f->s, "g-odd", &g), POT_ERR_NOT_FOUND);
}

/* --- durability ------------------------------------------------------------------------- */

static void
test_reopen(void **state)
{
	struct fixture *f = *state;
	struct pot_client c, cg;
	struct pot_code code, cgot;
	struct pot_rt rt, got;
	struct pot_grant g;
	struct pot_store_stats st;

	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "app");
	c.rotate = true;
	assert_int_equal(pot_store_client_put(f->s, &c, true), POT_OK);
	issue(f->s, "reopen", 1, "alice", "app", "g-reopen", NOW, &rt);
	mkcode(&code, "reopen-pending", 1, "alice", "app", "g-pend", NOW + 60);
	assert_int_equal(pot_store_code_put(f->s, &code), POT_OK);
	pot_store_close(f->s);
	f->s = store_open(f->dir, false);
	assert_int_equal(pot_store_client_get(f->s, "app", &cg), POT_OK);
	assert_memory_equal(&cg, &c, sizeof(c));
	assert_int_equal(pot_store_rt_get(f->s, rt.id, &got), POT_OK);
	assert_memory_equal(&got, &rt, sizeof(rt));
	assert_int_equal(pot_store_code_get(f->s, code.id, &cgot), POT_OK);
	assert_memory_equal(&cgot, &code, sizeof(code));
	assert_int_equal(pot_store_grant_get(f->s, "g-reopen", &g), POT_OK);
	assert_int_equal(pot_store_stats(f->s, &st), POT_OK);
	assert_int_equal(st.clients, 1);
	assert_int_equal(st.refresh_tokens, 1);
	assert_int_equal(st.codes, 2);
	assert_int_equal(st.grants, 1);
	/* the indexes came back too */
	assert_int_equal(pot_store_revoke_user(f->s, "alice", &(size_t){ 0 }), POT_OK);
	assert_int_equal(rt_state(f->s, rt.id), POT_RT_REVOKED);
}

static int
count_logs(const char *dir)
{
	char path[128];
	int i, n = 0;

	for (i = 1; i < 1000; i++) {
		snprintf(path, sizeof(path), "%s/log.%010d", dir, i);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* DB_LOG_AUTO_REMOVE with the checkpoints purge makes: the log does not grow for ever. */
static void
test_log_bounded(void **state)
{
	struct fixture *f = *state;
	struct pot_code c, got;
	struct pot_rt rt;
	char g[32];
	size_t n;
	int i, most = 0;

	for (i = 0; i < 6000; i++) {
		snprintf(g, sizeof(g), "g-log-%d", i);
		mkcode(&c, "log-code", i, "alice", "app", g, NOW + 60);
		mkrt(&rt, "log", i, NOW);
		assert_int_equal(pot_store_code_put(f->s, &c), POT_OK);
		assert_int_equal(pot_store_code_redeem(f->s, c.id, NOW, &rt, &got), POT_OK);
		if (i % 200 == 199) {
			assert_int_equal(pot_store_purge(f->s, NOW, 100, &n), POT_OK);
			if (count_logs(f->dir) > most)
				most = count_logs(f->dir);
		}
	}
	/* about 10 MB of log were written in 1 MB files; only the last few are kept */
	assert_true(most <= 3);
}

/*
 * A child inserts refresh tokens durably and reports each after its commit returned; it is
 * SIGKILLed mid-stream. Recovery must keep every reported one.
 */
static void
test_crash_recovery(void **state)
{
	struct pot_store *s;
	struct pot_rt rt;
	char dir[TMPDIR_LEN];
	int fds[2], status, i, got = 0, *seen;
	pid_t pid;
	ssize_t n;

	(void)state;
	tmp_dir(dir);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* no cmocka asserts here: a failure must not run the other tests twice */
		struct pot_store *cs = NULL;
		struct pot_code c, cg;
		char err[256], g[32];

		close(fds[0]);
		if (pot_store_open(dir, true, &cs, err, sizeof(err)) != POT_OK)
			_exit(2);
		for (i = 0;; i++) {
			snprintf(g, sizeof(g), "g-crash-%d", i);
			mkcode(&c, "crash-code", i, "alice", "app", g, NOW + 60);
			mkrt(&rt, "crash", i, NOW);
			if (pot_store_code_put(cs, &c) != POT_OK ||
			    pot_store_code_redeem(cs, c.id, NOW, &rt, &cg) != POT_OK)
				_exit(4);
			if (write(fds[1], &i, sizeof(i)) != (ssize_t)sizeof(i))
				_exit(3);
		}
	}
	close(fds[1]);
	seen = calloc(1, sizeof(int) * 100000);
	assert_non_null(seen);
	while (got < 300 && (n = read(fds[0], &i, sizeof(i))) == (ssize_t)sizeof(i))
		seen[got++] = i;
	assert_int_equal(kill(pid, SIGKILL), 0);
	while (got < 100000 && (n = read(fds[0], &i, sizeof(i))) == (ssize_t)sizeof(i))
		seen[got++] = i;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(got >= 300);

	s = store_open(dir, false);		/* runs recovery */
	for (i = 0; i < got; i++) {
		unsigned char id[POT_ID_LEN];

		mkid(id, "crash", seen[i]);
		if (pot_store_rt_get(s, id, &rt) != POT_OK)
			pot_fail_msg("committed token %d of %d lost", seen[i], got);
		assert_int_equal(seen[i], i);
	}
	pot_store_close(s);
	free(seen);
	tmpdir_remove(dir);
}

/* Many threads mixing every write: deadlocks must be retried, never surface. */
struct mix {
	struct pot_store *s;
	int t;
	int fails;
	char last[256];
};

/* Refusals are expected (other threads revoke and purge); store failures are not. */
static void
mix_check(struct mix *m, const char *what, int r)
{
	if (r == POT_ERR_STORE || r == POT_ERR_ALLOC) {
		m->fails++;
		snprintf(m->last, sizeof(m->last), "%s: %s: %s", what, pot_strerror(r),
		    pot_store_strerror(m->s));
	}
}

static void *
mix_run(void *arg)
{
	struct mix *m = arg;
	struct pot_refresh_policy p = policy(NOW + 1, true);
	struct pot_code c, got;
	struct pot_rt rt, next, cur;
	enum pot_refresh_outcome o;
	char user[16], grant[32];
	size_t n;
	int i;

	snprintf(user, sizeof(user), "u%d", m->t % 4);
	for (i = 0; i < 40; i++) {
		snprintf(grant, sizeof(grant), "mix-%d-%d", m->t, i);
		mkcode(&c, grant, 0, user, "app", grant, NOW + 60);
		mkrt(&rt, grant, 1, NOW);
		mix_check(m, "code put", pot_store_code_put(m->s, &c));
		mix_check(m, "code redeem", pot_store_code_redeem(m->s, c.id, NOW, &rt, &got));
		memset(&next, 0, sizeof(next));
		mkid(next.id, grant, 2);
		mix_check(m, "refresh", pot_store_rt_refresh(m->s, rt.id, "app", &p, &next, &cur, &o));
		mix_check(m, "check", pot_store_rt_check(m->s, next.id, NOW + 2, TTL, &cur));
		if (i % 10 == 9)
			mix_check(m, "revoke user", pot_store_revoke_user(m->s, user, &n));
		if (i % 7 == 3)
			mix_check(m, "purge", pot_store_purge(m->s, NOW + MAX + 10, 8, &n));
		if (i % 13 == 5)
			mix_check(m, "client del", pot_store_client_del(m->s, "app"));
	}
	return NULL;
}

static void
test_parallel_mix(void **state)
{
	struct fixture *f = *state;
	pthread_t th[12];
	struct mix m[12];
	int i;

	for (i = 0; i < 12; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].s = f->s;
		m[i].t = i;
		assert_int_equal(pthread_create(&th[i], NULL, mix_run, &m[i]), 0);
	}
	for (i = 0; i < 12; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (m[i].fails != 0)
			pot_fail_msg("thread %d: %d failures, last: %s", i, m[i].fails, m[i].last);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_dir_checks),
		cmocka_unit_test_setup_teardown(test_open_busy, setup, teardown),
		cmocka_unit_test(test_open_corrupt_file),
		cmocka_unit_test_setup_teardown(test_strerror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_roundtrip_and_redeem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_without_rt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_parallel_redeem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_rotation_grace_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_grace_needs_live_successor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_parallel_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_refresh_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_slide_confidential, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_revoke_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_del_revokes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_bounded, setup, teardown),
		cmocka_unit_test(test_crash_recovery),
		cmocka_unit_test_setup_teardown(test_parallel_mix, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
