/*
 * store.c — potd's store on Berkeley DB 5.3: refresh tokens, authorization codes, clients
 * and grant families in one transactional environment, every operation one transaction.
 *
 * On disk (dir, 0700, owned by the caller; every file 0600):
 *   pot.lock        flock(2)ed by the one process that has the environment open
 *   __db.0*, log.*  the environment's regions and write-ahead log (auto-removed)
 *   pot.db          one file, B-tree subdatabases:
 *     rt             32-byte id -> refresh token record
 *     code           32-byte id -> authorization code record
 *     client         client id -> client record
 *     grant          grant id -> grant record
 *     nonce          32-byte id -> nonce record (one-time values of signed forms)
 *     meta           "layout" -> u32 layout version (1)
 *     rt.user, rt.grant, rt.expiry, code.expiry,
 *     grant.user, grant.client, grant.expiry, nonce.expiry
 *                    DB_DUP|DB_DUPSORT secondary indexes kept by DB->associate
 * Records: u8 layout version, then for tokens, codes, grants and nonces the 8-byte expiry key
 * (big-endian int64 with the sign bit flipped, so that bytes sort as numbers), then fixed
 * big-endian integers, then strings as u16 big-endian length + bytes (no NUL). Keys are
 * never repeated inside records. Nothing secret is stored: ids are HMACs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <db.h>

#include "pot/err.h"
#include "pot/store.h"
#include "pot/util.h"

#define STORE_FILE	"pot.db"
#define STORE_LOCK	"pot.lock"
#define STORE_LAYOUT	1
#define STORE_REC_MAX	8192	/* larger than any record we write */
#define STORE_KEY_MAX	256	/* larger than any key */
#define STORE_RETRIES	16	/* runs of one transaction that lost a deadlock */
#define STORE_RETRY	1	/* internal: the transaction lost a deadlock, run it again */
#define STORE_MSG_MAX	512
#define STORE_EXP_LEN	8
#define STORE_CKP_KB	256	/* purge checkpoints once this much log was written */

/* Offsets of the fixed parts of records. */
#define REC_VERSION	0
#define REC_EXPIRY	1	/* 8 bytes: the expiry index key (tokens, codes, grants) */
#define REC_FLAG	9	/* state, used, revoked */
#define RT_STRINGS	(10 + 6 * 8)	/* user, client_id, grant, scope */
#define CODE_STRINGS	(10 + 2 * 8)	/* user, client_id, grant, scope, redirect_uri, challenge */
#define GRANT_STRINGS	(10 + 2 * 8)	/* user, client_id */

#define CLIENT_CONFIDENTIAL	0x01
#define CLIENT_FIRST_PARTY	0x02
#define CLIENT_INTROSPECT	0x04
#define CLIENT_ROTATE		0x08

enum store_dbi {
	S_RT, S_CODE, S_CLIENT, S_GRANT, S_NONCE, S_META,
	/* secondaries after their primaries: closed first */
	S_RT_USER, S_RT_GRANT, S_RT_EXPIRY, S_CODE_EXPIRY, S_GRANT_USER, S_GRANT_CLIENT,
	S_GRANT_EXPIRY, S_NONCE_EXPIRY,
	S_NDB
};

struct pot_store {
	DB_ENV *env;
	DB *db[S_NDB];
	int lockfd;
	bool durable;
	pthread_mutex_t mu;		/* guards msg */
	char msg[STORE_MSG_MAX];	/* the last failure, for pot_store_strerror */
};

/* The library's text of the current call, set by its errcall in the calling thread. */
static __thread char store_libmsg[STORE_MSG_MAX];
/* pot_store_strerror's answer: a copy of the store's message owned by the thread. */
static __thread char store_msgcopy[STORE_MSG_MAX];
/* Advanced by every client write and every close: see client_cache below. */
static uint64_t client_gen = 1;

static void
client_gen_advance(void)
{
	__atomic_add_fetch(&client_gen, 1, __ATOMIC_RELEASE);
}

/* --- records -------------------------------------------------------------------- */

struct store_rec {
	unsigned char b[STORE_REC_MAX];
	size_t len;
	int r;			/* encoding: POT_OK or the first error */
};

struct store_dec {
	const unsigned char *p;
	size_t len, off;
	bool bad;
};

static void *
unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

static void
exp_key(unsigned char k[STORE_EXP_LEN], int64_t v)
{
	uint64_t u = (uint64_t)v ^ (UINT64_C(1) << 63);
	int i;

	for (i = 0; i < STORE_EXP_LEN; i++)
		k[i] = (unsigned char)(u >> (56 - 8 * i));
}

static void
enc_bytes(struct store_rec *e, const void *p, size_t n)
{
	if (e->r != POT_OK)
		return;
	if (n > sizeof(e->b) - e->len) {
		e->r = POT_ERR_TOO_LONG;
		return;
	}
	memcpy(e->b + e->len, p, n);
	e->len += n;
}

static void
enc_be(struct store_rec *e, uint64_t v, size_t n)
{
	unsigned char b[8];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	enc_bytes(e, b, n);
}

static void
enc_expiry(struct store_rec *e, int64_t v)
{
	unsigned char k[STORE_EXP_LEN];

	exp_key(k, v);
	enc_bytes(e, k, sizeof(k));
}

/* A NUL-terminated string of a char[size] field; required ones must not be empty. */
static void
enc_str(struct store_rec *e, const char *s, size_t size, bool required)
{
	size_t n = strnlen(s, size);

	if (e->r != POT_OK)
		return;
	if (n == size)
		e->r = POT_ERR_TOO_LONG;
	else if (required && n == 0)
		e->r = POT_ERR_BAD_REQUEST;
	else {
		enc_be(e, n, 2);
		enc_bytes(e, s, n);
	}
}

static void
enc_start(struct store_rec *e)
{
	e->len = 0;
	e->r = POT_OK;
	enc_be(e, STORE_LAYOUT, 1);
}

static void
dec_start(struct store_dec *d, const void *p, size_t len)
{
	d->p = p;
	d->len = len;
	d->off = 0;
	d->bad = false;
}

static uint64_t
dec_be(struct store_dec *d, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if (d->bad || n > d->len - d->off) {
		d->bad = true;
		return 0;
	}
	for (i = 0; i < n; i++)
		v = v << 8 | d->p[d->off + i];
	d->off += n;
	return v;
}

static int64_t
dec_i64(struct store_dec *d)
{
	return (int64_t)dec_be(d, 8);
}

static bool
dec_bool(struct store_dec *d)
{
	uint64_t v = dec_be(d, 1);

	if (v > 1)
		d->bad = true;
	return v == 1;
}

static void
dec_bytes(struct store_dec *d, void *out, size_t n)
{
	if (d->bad || n > d->len - d->off) {
		d->bad = true;
		return;
	}
	memcpy(out, d->p + d->off, n);
	d->off += n;
}

static void
dec_str(struct store_dec *d, char *out, size_t size)
{
	size_t n = (size_t)dec_be(d, 2);

	out[0] = '\0';
	if (d->bad || n >= size || n > d->len - d->off ||
	    memchr(d->p + d->off, '\0', n) != NULL) {
		d->bad = true;
		return;
	}
	memcpy(out, d->p + d->off, n);
	out[n] = '\0';
	d->off += n;
}

/* The layout version and the expiry index key; false when neither is as written. */
static bool
dec_head(struct store_dec *d, bool expiry)
{
	unsigned char k[STORE_EXP_LEN];

	if (dec_be(d, 1) != STORE_LAYOUT)
		return false;
	if (expiry)
		dec_bytes(d, k, sizeof(k));
	return !d->bad;
}

static bool
dec_end(const struct store_dec *d)
{
	return !d->bad && d->off == d->len;
}

static int
rt_encode(const struct pot_rt *rt, struct store_rec *e)
{
	enc_start(e);
	if (rt->state < POT_RT_ACTIVE || rt->state > POT_RT_REVOKED)
		return POT_ERR_BAD_REQUEST;
	enc_expiry(e, rt->expires < rt->abs_expires ? rt->expires : rt->abs_expires);
	enc_be(e, (uint64_t)rt->state, 1);
	enc_be(e, (uint64_t)rt->created, 8);
	enc_be(e, (uint64_t)rt->last_used, 8);
	enc_be(e, (uint64_t)rt->expires, 8);
	enc_be(e, (uint64_t)rt->abs_expires, 8);
	enc_be(e, (uint64_t)rt->auth_time, 8);
	enc_be(e, (uint64_t)rt->rotated_at, 8);
	enc_str(e, rt->user, sizeof(rt->user), true);
	enc_str(e, rt->client_id, sizeof(rt->client_id), true);
	enc_str(e, rt->grant, sizeof(rt->grant), true);
	enc_str(e, rt->scope, sizeof(rt->scope), false);
	return e->r;
}

static bool
rt_decode(const DBT *k, const DBT *v, struct pot_rt *rt)
{
	struct store_dec d;

	memset(rt, 0, sizeof(*rt));
	if (k->size != POT_ID_LEN)
		return false;
	memcpy(rt->id, k->data, POT_ID_LEN);
	dec_start(&d, v->data, v->size);
	if (!dec_head(&d, true))
		return false;
	rt->state = (int)dec_be(&d, 1);
	rt->created = dec_i64(&d);
	rt->last_used = dec_i64(&d);
	rt->expires = dec_i64(&d);
	rt->abs_expires = dec_i64(&d);
	rt->auth_time = dec_i64(&d);
	rt->rotated_at = dec_i64(&d);
	dec_str(&d, rt->user, sizeof(rt->user));
	dec_str(&d, rt->client_id, sizeof(rt->client_id));
	dec_str(&d, rt->grant, sizeof(rt->grant));
	dec_str(&d, rt->scope, sizeof(rt->scope));
	return dec_end(&d) && rt->state >= POT_RT_ACTIVE && rt->state <= POT_RT_REVOKED;
}

static int
code_encode(const struct pot_code *c, struct store_rec *e)
{
	enc_start(e);
	enc_expiry(e, c->expires);
	enc_be(e, c->used, 1);
	enc_be(e, (uint64_t)c->expires, 8);
	enc_be(e, (uint64_t)c->auth_time, 8);
	enc_str(e, c->user, sizeof(c->user), true);
	enc_str(e, c->client_id, sizeof(c->client_id), true);
	enc_str(e, c->grant, sizeof(c->grant), true);
	enc_str(e, c->scope, sizeof(c->scope), false);
	enc_str(e, c->redirect_uri, sizeof(c->redirect_uri), false);
	enc_str(e, c->challenge, sizeof(c->challenge), false);
	return e->r;
}

static bool
code_decode(const DBT *k, const DBT *v, struct pot_code *c)
{
	struct store_dec d;

	memset(c, 0, sizeof(*c));
	if (k->size != POT_ID_LEN)
		return false;
	memcpy(c->id, k->data, POT_ID_LEN);
	dec_start(&d, v->data, v->size);
	if (!dec_head(&d, true))
		return false;
	c->used = dec_bool(&d);
	c->expires = dec_i64(&d);
	c->auth_time = dec_i64(&d);
	dec_str(&d, c->user, sizeof(c->user));
	dec_str(&d, c->client_id, sizeof(c->client_id));
	dec_str(&d, c->grant, sizeof(c->grant));
	dec_str(&d, c->scope, sizeof(c->scope));
	dec_str(&d, c->redirect_uri, sizeof(c->redirect_uri));
	dec_str(&d, c->challenge, sizeof(c->challenge));
	return dec_end(&d);
}

static int
grant_encode(const struct pot_grant *g, struct store_rec *e)
{
	enc_start(e);
	enc_expiry(e, g->expires);
	enc_be(e, g->revoked, 1);
	enc_be(e, (uint64_t)g->created, 8);
	enc_be(e, (uint64_t)g->expires, 8);
	enc_str(e, g->user, sizeof(g->user), true);
	enc_str(e, g->client_id, sizeof(g->client_id), true);
	return e->r;
}

static bool
grant_decode(const DBT *k, const DBT *v, struct pot_grant *g)
{
	struct store_dec d;

	memset(g, 0, sizeof(*g));
	if (k->size == 0 || k->size >= sizeof(g->id) || memchr(k->data, '\0', k->size) != NULL)
		return false;
	memcpy(g->id, k->data, k->size);
	dec_start(&d, v->data, v->size);
	if (!dec_head(&d, true))
		return false;
	g->revoked = dec_bool(&d);
	g->created = dec_i64(&d);
	g->expires = dec_i64(&d);
	dec_str(&d, g->user, sizeof(g->user));
	dec_str(&d, g->client_id, sizeof(g->client_id));
	return dec_end(&d);
}

static int
client_encode(const struct pot_client *c, struct store_rec *e)
{
	unsigned flags = (c->confidential ? CLIENT_CONFIDENTIAL : 0) |
	    (c->first_party ? CLIENT_FIRST_PARTY : 0) | (c->introspect ? CLIENT_INTROSPECT : 0) |
	    (c->rotate ? CLIENT_ROTATE : 0);

	enc_start(e);
	enc_be(e, flags, 1);
	enc_be(e, c->grants, 4);
	enc_be(e, (uint64_t)c->created, 8);
	enc_bytes(e, c->secret, sizeof(c->secret));
	enc_str(e, c->scope, sizeof(c->scope), false);
	enc_str(e, c->redirect_uris, sizeof(c->redirect_uris), false);
	return e->r;
}

static bool
client_decode(const DBT *k, const DBT *v, struct pot_client *c)
{
	struct store_dec d;
	unsigned flags;

	memset(c, 0, sizeof(*c));
	if (k->size == 0 || k->size >= sizeof(c->id) || memchr(k->data, '\0', k->size) != NULL)
		return false;
	memcpy(c->id, k->data, k->size);
	dec_start(&d, v->data, v->size);
	if (!dec_head(&d, false))
		return false;
	flags = (unsigned)dec_be(&d, 1);
	c->confidential = (flags & CLIENT_CONFIDENTIAL) != 0;
	c->first_party = (flags & CLIENT_FIRST_PARTY) != 0;
	c->introspect = (flags & CLIENT_INTROSPECT) != 0;
	c->rotate = (flags & CLIENT_ROTATE) != 0;
	c->grants = (unsigned)dec_be(&d, 4);
	c->created = dec_i64(&d);
	dec_bytes(&d, c->secret, sizeof(c->secret));
	dec_str(&d, c->scope, sizeof(c->scope));
	dec_str(&d, c->redirect_uris, sizeof(c->redirect_uris));
	return dec_end(&d) && (flags & ~0x0fU) == 0;
}

/* --- secondary keys: slices of the primary record ---------------------------------- */

static int
skey_str(const DBT *data, size_t off, int nth, DBT *skey)
{
	const unsigned char *p = data->data;
	size_t n;

	if (data->size < 1 || p[REC_VERSION] != STORE_LAYOUT)
		return EINVAL;
	for (;;) {
		if (off + 2 > data->size)
			return EINVAL;
		n = (size_t)p[off] << 8 | p[off + 1];
		if (n > data->size - off - 2)
			return EINVAL;
		if (nth-- == 0)
			break;
		off += 2 + n;
	}
	memset(skey, 0, sizeof(*skey));
	skey->data = unconst(p + off + 2);
	skey->size = (u_int32_t)n;
	return 0;
}

static int
skey_expiry(const DBT *data, DBT *skey)
{
	const unsigned char *p = data->data;

	if (data->size < REC_EXPIRY + STORE_EXP_LEN || p[REC_VERSION] != STORE_LAYOUT)
		return EINVAL;
	memset(skey, 0, sizeof(*skey));
	skey->data = unconst(p + REC_EXPIRY);
	skey->size = STORE_EXP_LEN;
	return 0;
}

static int
rt_by_user(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	(void)sdb;
	(void)pkey;
	return skey_str(pdata, RT_STRINGS, 0, skey);
}

static int
rt_by_grant(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	(void)sdb;
	(void)pkey;
	return skey_str(pdata, RT_STRINGS, 2, skey);
}

static int
by_expiry(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	(void)sdb;
	(void)pkey;
	return skey_expiry(pdata, skey);
}

static int
grant_by_user(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	(void)sdb;
	(void)pkey;
	return skey_str(pdata, GRANT_STRINGS, 0, skey);
}

static int
grant_by_client(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	(void)sdb;
	(void)pkey;
	return skey_str(pdata, GRANT_STRINGS, 1, skey);
}

static const struct store_dbdef {
	const char *name;
	int primary;		/* -1: a primary */
	int (*key)(DB *, const DBT *, const DBT *, DBT *);
} store_dbdefs[S_NDB] = {
	[S_RT] =		{ "rt", -1, NULL },
	[S_CODE] =		{ "code", -1, NULL },
	[S_CLIENT] =		{ "client", -1, NULL },
	[S_GRANT] =		{ "grant", -1, NULL },
	[S_NONCE] =		{ "nonce", -1, NULL },
	[S_META] =		{ "meta", -1, NULL },
	[S_RT_USER] =		{ "rt.user", S_RT, rt_by_user },
	[S_RT_GRANT] =		{ "rt.grant", S_RT, rt_by_grant },
	[S_RT_EXPIRY] =		{ "rt.expiry", S_RT, by_expiry },
	[S_CODE_EXPIRY] =	{ "code.expiry", S_CODE, by_expiry },
	[S_GRANT_USER] =	{ "grant.user", S_GRANT, grant_by_user },
	[S_GRANT_CLIENT] =	{ "grant.client", S_GRANT, grant_by_client },
	[S_GRANT_EXPIRY] =	{ "grant.expiry", S_GRANT, by_expiry },
	[S_NONCE_EXPIRY] =	{ "nonce.expiry", S_NONCE, by_expiry },
};

/* --- errors ------------------------------------------------------------------------ */

static void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	snprintf(store_libmsg, sizeof(store_libmsg), "%s", msg != NULL ? msg : "");
}

static void __attribute__((format(printf, 2, 3)))
store_msg(struct pot_store *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->mu);
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->mu);
}

/* Maps a Berkeley DB code: a lost deadlock is retried, anything else is POT_ERR_STORE. */
static int
store_dberr(struct pot_store *s, const char *what, int rc)
{
	if (rc == DB_LOCK_DEADLOCK || rc == DB_LOCK_NOTGRANTED)
		return STORE_RETRY;
	store_msg(s, "%s: %s%s%s", what, db_strerror(rc), store_libmsg[0] != '\0' ? ": " : "",
	    store_libmsg);
	store_libmsg[0] = '\0';
	return POT_ERR_STORE;
}

static int
store_corrupt(struct pot_store *s, const char *what)
{
	store_msg(s, "corrupt %s record", what);
	return POT_ERR_STORE;
}

const char *
pot_store_strerror(const struct pot_store *s)
{
	struct pot_store *w = unconst(s);

	if (s == NULL)
		return "no store";
	pthread_mutex_lock(&w->mu);
	snprintf(store_msgcopy, sizeof(store_msgcopy), "%s", s->msg[0] != '\0' ? s->msg : "no error");
	pthread_mutex_unlock(&w->mu);
	return store_msgcopy;
}

/* --- Berkeley DB access ------------------------------------------------------------ */

static void
dbt_in(DBT *d, const void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = unconst(p);
	d->size = (u_int32_t)n;
}

static void
dbt_out(DBT *d, void *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->data = buf;
	d->ulen = (u_int32_t)cap;
	d->flags = DB_DBT_USERMEM;
}

static int
store_get(struct pot_store *s, DB_TXN *txn, int dbi, const void *key, size_t klen,
	  struct store_rec *v, u_int32_t flags)
{
	DB *db = s->db[dbi];
	DBT k, d;
	int rc;

	dbt_in(&k, key, klen);
	dbt_out(&d, v->b, sizeof(v->b));
	v->len = 0;
	rc = db->get(db, txn, &k, &d, flags);
	if (rc == DB_NOTFOUND)
		return POT_ERR_NOT_FOUND;
	if (rc != 0)
		return store_dberr(s, store_dbdefs[dbi].name, rc);
	v->len = d.size;
	return POT_OK;
}

/*
 * flags: 0, or DB_NOOVERWRITE for POT_ERR_EXISTS when the key is taken. That check is a
 * DB_RMW get rather than DB_NOOVERWRITE itself, which reads the page under a read lock and
 * upgrades it for the write: two inserters on one page then deadlock on the upgrade.
 */
static int
store_put(struct pot_store *s, DB_TXN *txn, int dbi, const void *key, size_t klen,
	  const struct store_rec *v, u_int32_t flags)
{
	DB *db = s->db[dbi];
	DBT k, d;
	int rc;

	if (v->r != POT_OK)
		return v->r;
	dbt_in(&k, key, klen);
	if (flags == DB_NOOVERWRITE) {
		memset(&d, 0, sizeof(d));
		d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;	/* the lock, not the data */
		rc = db->get(db, txn, &k, &d, DB_RMW);
		if (rc == 0)
			return POT_ERR_EXISTS;
		if (rc != DB_NOTFOUND)
			return store_dberr(s, store_dbdefs[dbi].name, rc);
		flags = 0;
	}
	dbt_in(&d, v->b, v->len);
	rc = db->put(db, txn, &k, &d, flags);
	if (rc == DB_KEYEXIST)
		return POT_ERR_EXISTS;
	if (rc != 0)
		return store_dberr(s, store_dbdefs[dbi].name, rc);
	return POT_OK;
}

static int
store_del(struct pot_store *s, DB_TXN *txn, int dbi, const void *key, size_t klen)
{
	DB *db = s->db[dbi];
	DBT k;
	int rc;

	dbt_in(&k, key, klen);
	rc = db->del(db, txn, &k, 0);
	if (rc == DB_NOTFOUND)
		return POT_ERR_NOT_FOUND;
	if (rc != 0)
		return store_dberr(s, store_dbdefs[dbi].name, rc);
	return POT_OK;
}

static int
store_cursor_close(struct pot_store *s, DBC *c, int r)
{
	int rc;

	if (c != NULL && (rc = c->close(c)) != 0 && (r == POT_OK || r == POT_ERR_NOT_FOUND))
		r = store_dberr(s, "cursor close", rc);
	return r;
}

/* Records copied out of a transaction: [u32 klen][key][u32 dlen][data]... */
struct store_list {
	unsigned char *buf;
	size_t len, cap;
};

static int
list_add(struct store_list *l, const DBT *k, const DBT *d)
{
	size_t need = 8 + (size_t)k->size + d->size;
	unsigned char *nb;
	size_t ncap;

	if (need > l->cap - l->len) {
		ncap = l->cap == 0 ? 4096 : l->cap;
		while (need > ncap - l->len) {
			if (ncap > SIZE_MAX / 2)
				return POT_ERR_ALLOC;
			ncap *= 2;
		}
		if ((nb = realloc(l->buf, ncap)) == NULL)
			return POT_ERR_ALLOC;
		l->buf = nb;
		l->cap = ncap;
	}
	memcpy(l->buf + l->len, &k->size, 4);
	memcpy(l->buf + l->len + 4, k->data, k->size);
	l->len += 4 + (size_t)k->size;
	memcpy(l->buf + l->len, &d->size, 4);
	memcpy(l->buf + l->len + 4, d->data, d->size);
	l->len += 4 + (size_t)d->size;
	return POT_OK;
}

static bool
list_next(const struct store_list *l, size_t *off, DBT *k, DBT *d)
{
	u_int32_t n;

	if (*off >= l->len)
		return false;
	memcpy(&n, l->buf + *off, 4);
	dbt_in(k, l->buf + *off + 4, n);
	*off += 4 + (size_t)n;
	memcpy(&n, l->buf + *off, 4);
	dbt_in(d, l->buf + *off + 4, n);
	*off += 4 + (size_t)n;
	return true;
}

static void
list_free(struct store_list *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}

/*
 * Appends to l the primary key and record of every entry of index dbi under skey, or of
 * every record of primary dbi when skey is NULL. flags: 0 or DB_RMW.
 */
static int
store_collect(struct pot_store *s, DB_TXN *txn, int dbi, const void *skey, size_t sklen,
	      u_int32_t flags, struct store_list *l)
{
	unsigned char kb[STORE_KEY_MAX], pkb[STORE_KEY_MAX];
	struct store_rec *v = NULL;
	DB *db = s->db[dbi];
	DBC *c = NULL;
	DBT k, pk, d;
	u_int32_t op = skey != NULL ? DB_SET : DB_FIRST;
	int r, rc;

	l->len = 0;
	if (sklen > sizeof(kb))
		return POT_OK;			/* no such key can exist */
	if ((v = malloc(sizeof(*v))) == NULL)
		return POT_ERR_ALLOC;
	if ((rc = db->cursor(db, txn, &c, 0)) != 0) {
		c = NULL;
		r = store_dberr(s, "cursor", rc);
		goto out;
	}
	dbt_out(&k, kb, sizeof(kb));
	if (skey != NULL) {
		memcpy(kb, skey, sklen);
		k.size = (u_int32_t)sklen;
	}
	for (;;) {
		dbt_out(&pk, pkb, sizeof(pkb));
		dbt_out(&d, v->b, sizeof(v->b));
		if (store_dbdefs[dbi].primary < 0)
			rc = c->get(c, &k, &d, op | flags);
		else
			rc = c->pget(c, &k, &pk, &d, op | flags);
		if (rc == DB_NOTFOUND) {
			r = POT_OK;
			break;
		}
		if (rc != 0) {
			r = store_dberr(s, store_dbdefs[dbi].name, rc);
			break;
		}
		if ((r = list_add(l, store_dbdefs[dbi].primary < 0 ? &k : &pk, &d)) != POT_OK)
			break;
		op = skey != NULL ? DB_NEXT_DUP : DB_NEXT;
	}
out:
	r = store_cursor_close(s, c, r);
	free(v);
	return r;
}

/* --- transactions -------------------------------------------------------------------- */

typedef int (*store_fn)(struct pot_store *, DB_TXN *, void *);

/*
 * Before running a transaction again: a random pause below 100 us << attempt (at most
 * 25.6 ms), so that the losers of one deadlock do not collide again at once.
 */
static void
store_backoff(int attempt)
{
	static __thread unsigned seed;
	struct timespec ts = { 0, 0 };
	long cap = 100000L << (attempt < 8 ? attempt : 8);

	if (seed == 0)
		seed = (unsigned)(uintptr_t)&seed ^ (unsigned)time(NULL) ^ (unsigned)getpid();
	ts.tv_nsec = (long)(rand_r(&seed) % cap);
	nanosleep(&ts, NULL);
}

/*
 * Runs fn in one transaction, committed when fn returns POT_OK or POT_ERR_REPLAY (whose
 * revocations must last), aborted otherwise, and run again when it lost a deadlock.
 * flush = false only for lookups that write nothing and decide nothing that must last
 * (client_get, rt_get, grant_get): they need not wait for other transactions' log flush,
 * nor fail when it fails (a full disk). What they read may be a commit whose flush is
 * still running, but a secret becomes known only after the flush of its creation, a
 * revocation read early only makes a token inactive sooner, and every write that follows
 * such a lookup (the refresh itself) flushes the whole log before its caller answers.
 */
static int
store_run_flush(struct pot_store *s, const char *what, store_fn fn, void *arg, bool flush)
{
	DB_TXN *txn;
	int attempt, r, rc;

	store_libmsg[0] = '\0';
	for (attempt = 0;; attempt++) {
		txn = NULL;
		if ((rc = s->env->txn_begin(s->env, NULL, &txn, 0)) != 0) {
			r = store_dberr(s, "txn_begin", rc);
			if (r == STORE_RETRY)
				r = POT_ERR_STORE;
			return r;
		}
		r = fn(s, txn, arg);
		if (r == POT_OK || r == POT_ERR_REPLAY) {
			/*
			 * Group commit: the commit releases its locks without waiting for the
			 * disk, then the log is flushed before the caller hears success. A
			 * commit that held its record locks through the fsync made every other
			 * writer of that page wait for it; now concurrent commits share flushes
			 * and nothing is acknowledged before it is on disk.
			 */
			if ((rc = txn->commit(txn, s->durable ? DB_TXN_NOSYNC : 0)) != 0)
				r = store_dberr(s, "txn_commit", rc);
			else if (s->durable && flush && (rc = s->env->log_flush(s->env, NULL)) != 0)
				r = store_dberr(s, "log_flush", rc);
		} else if ((rc = txn->abort(txn)) != 0) {
			r = store_dberr(s, "txn_abort", rc);
			if (r == STORE_RETRY)
				r = POT_ERR_STORE;
		}
		if (r != STORE_RETRY)
			return r;
		if (attempt + 1 >= STORE_RETRIES) {
			store_msg(s, "%s: deadlock, gave up after %d attempts", what, STORE_RETRIES);
			return POT_ERR_STORE;
		}
		store_backoff(attempt);
	}
}

static int
store_run(struct pot_store *s, const char *what, store_fn fn, void *arg)
{
	return store_run_flush(s, what, fn, arg, true);
}

/* A key of a char[POT_NAME_MAX] field: non-empty, NUL-terminated in it. */
static int
name_check(const char *s)
{
	if (s == NULL || *s == '\0')
		return POT_ERR_BAD_REQUEST;
	if (strnlen(s, POT_NAME_MAX) == POT_NAME_MAX)
		return POT_ERR_TOO_LONG;
	return POT_OK;
}

static int64_t
slide(int64_t now, int64_t ttl, int64_t abs_expires)
{
	int64_t e = now > 0 && ttl > INT64_MAX - now ? INT64_MAX : now + ttl;

	return e < abs_expires ? e : abs_expires;
}

static int
rt_load(struct pot_store *s, DB_TXN *txn, const unsigned char id[POT_ID_LEN], u_int32_t flags,
	struct pot_rt *rt)
{
	struct store_rec v;
	DBT k, d;
	int r;

	if ((r = store_get(s, txn, S_RT, id, POT_ID_LEN, &v, flags)) != POT_OK)
		return r;
	dbt_in(&k, id, POT_ID_LEN);
	dbt_in(&d, v.b, v.len);
	return rt_decode(&k, &d, rt) ? POT_OK : store_corrupt(s, "refresh token");
}

static int
rt_save(struct pot_store *s, DB_TXN *txn, const struct pot_rt *rt, u_int32_t flags)
{
	struct store_rec v;
	int r;

	if ((r = rt_encode(rt, &v)) != POT_OK)
		return r;
	return store_put(s, txn, S_RT, rt->id, POT_ID_LEN, &v, flags);
}

static int
grant_load(struct pot_store *s, DB_TXN *txn, const char *id, u_int32_t flags, struct pot_grant *g)
{
	struct store_rec v;
	DBT k, d;
	int r;

	if ((r = store_get(s, txn, S_GRANT, id, strlen(id), &v, flags)) != POT_OK)
		return r;
	dbt_in(&k, id, strlen(id));
	dbt_in(&d, v.b, v.len);
	return grant_decode(&k, &d, g) ? POT_OK : store_corrupt(s, "grant");
}

static int
grant_save(struct pot_store *s, DB_TXN *txn, const struct pot_grant *g, u_int32_t flags)
{
	struct store_rec v;
	int r;

	if ((r = name_check(g->id)) != POT_OK || (r = grant_encode(g, &v)) != POT_OK)
		return r;
	return store_put(s, txn, S_GRANT, g->id, strlen(g->id), &v, flags);
}

/*
 * Marks grant revoked and every refresh token of it REVOKED; *n (if not NULL) counts the
 * tokens that were not revoked before. POT_ERR_NOT_FOUND when there is no grant record
 * (its tokens, if any, are revoked all the same).
 */
static int
grant_revoke_txn(struct pot_store *s, DB_TXN *txn, const char *grant, size_t *n)
{
	struct store_list l = { NULL, 0, 0 };
	struct pot_grant g;
	struct pot_rt rt;
	size_t off = 0;
	DBT k, d;
	bool found;
	int r;

	r = grant_load(s, txn, grant, DB_RMW, &g);
	if (r != POT_OK && r != POT_ERR_NOT_FOUND)
		goto out;
	found = r == POT_OK;
	if (found && !g.revoked) {
		g.revoked = true;
		if ((r = grant_save(s, txn, &g, 0)) != POT_OK)
			goto out;
	}
	if ((r = store_collect(s, txn, S_RT_GRANT, grant, strlen(grant), DB_RMW, &l)) != POT_OK)
		goto out;
	while (list_next(&l, &off, &k, &d)) {
		if (!rt_decode(&k, &d, &rt)) {
			r = store_corrupt(s, "refresh token");
			goto out;
		}
		if (rt.state == POT_RT_REVOKED)
			continue;
		rt.state = POT_RT_REVOKED;
		if ((r = rt_save(s, txn, &rt, 0)) != POT_OK)
			goto out;
		if (n != NULL)
			(*n)++;
	}
	r = found ? POT_OK : POT_ERR_NOT_FOUND;
out:
	list_free(&l);
	return r;
}

/* POT_OK when grant exists and is not revoked; POT_ERR_DENIED otherwise. */
static int
grant_live(struct pot_store *s, DB_TXN *txn, const char *grant)
{
	struct pot_grant g;
	int r;

	r = grant_load(s, txn, grant, 0, &g);
	if (r == POT_ERR_NOT_FOUND || (r == POT_OK && g.revoked))
		return POT_ERR_DENIED;
	return r;
}

/* --- open and close ------------------------------------------------------------------ */

static int
store_dir_check(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return pot_fail(POT_ERR_IO, err, errlen, "cannot create %s: %s", dir, strerror(errno));
	if (lstat(dir, &st) == -1)
		return pot_fail(POT_ERR_IO, err, errlen, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pot_fail(POT_ERR_IO, err, errlen, "%s is not a directory", dir);
	if (st.st_uid != geteuid())
		return pot_fail(POT_ERR_IO, err, errlen, "%s is owned by uid %u, not by uid %u",
		    dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 077) != 0)
		return pot_fail(POT_ERR_IO, err, errlen,
		    "%s is accessible by group or others (mode %04o): it must be 0700",
		    dir, (unsigned)(st.st_mode & 07777));
	return POT_OK;
}

static int
store_lock(struct pot_store *s, const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, STORE_LOCK) >= sizeof(path))
		return pot_fail(POT_ERR_TOO_LONG, err, errlen, "%s: path too long", dir);
	s->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (s->lockfd == -1)
		return pot_fail(POT_ERR_IO, err, errlen, "cannot open %s: %s", path, strerror(errno));
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			return pot_fail(POT_ERR_BUSY, err, errlen,
			    "%s is in use by another process (potd running?)", dir);
		return pot_fail(POT_ERR_IO, err, errlen, "cannot lock %s: %s", path, strerror(errno));
	}
	return POT_OK;
}

static int
store_env_open(struct pot_store *s, const char *dir, bool durable, char *err, size_t errlen)
{
	const char *step;
	DB_ENV *env;
	int rc;

	if ((rc = db_env_create(&s->env, 0)) != 0) {
		s->env = NULL;
		return pot_fail(POT_ERR_STORE, err, errlen, "db_env_create: %s", db_strerror(rc));
	}
	env = s->env;
	env->set_errcall(env, store_errcall);
	if ((rc = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0)
		step = "set_lk_detect";
	else if ((rc = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0)
		step = "log_set_config";
	/*
	 * Durable: log files are zero-filled when created, so that the flush of each commit
	 * rewrites allocated blocks instead of growing the file (whose new size must reach
	 * the disk too): about 8% less per commit here.
	 */
	else if (durable && (rc = env->log_set_config(env, DB_LOG_ZERO, 1)) != 0)
		step = "log_set_config";
	else if ((rc = env->set_lg_filemode(env, 0600)) != 0)
		step = "set_lg_filemode";
	else if ((rc = env->set_lg_max(env, 1024 * 1024)) != 0)
		step = "set_lg_max";
	else if ((rc = env->set_cachesize(env, 0, 8 * 1024 * 1024, 1)) != 0)
		step = "set_cachesize";
	else if ((rc = env->set_lk_max_locks(env, 20000)) != 0 ||
	    (rc = env->set_lk_max_objects(env, 20000)) != 0 ||
	    (rc = env->set_lk_max_lockers(env, 4000)) != 0)
		step = "set_lk_max";
	else if ((rc = env->set_tx_max(env, 512)) != 0)
		step = "set_tx_max";
	else if (!durable && (rc = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0)
		step = "set_flags";
	else {
		step = "open";
		/*
		 * DB_PRIVATE: the regions live in this process's heap, not in __db.* files
		 * mapped into memory, where a full disk turns the first touch of a new page
		 * into SIGBUS (seen on a full tmpfs); now it is ENOSPC from write(2), and a
		 * 503. One process owns the environment anyway (store_lock).
		 */
		rc = env->open(env, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
		    DB_INIT_MPOOL | DB_THREAD | DB_RECOVER | DB_PRIVATE, 0600);
	}
	if (rc != 0) {
		pot_fail(POT_ERR_STORE, err, errlen, "Berkeley DB environment %s: %s: %s%s%s", dir,
		    step, db_strerror(rc), store_libmsg[0] != '\0' ? ": " : "", store_libmsg);
		return POT_ERR_STORE;
	}
	return POT_OK;
}

static int
store_layout(struct pot_store *s, DB_TXN *txn, void *arg)
{
	static const char key[] = "layout";
	struct store_rec v;
	struct store_dec d;
	uint64_t version;
	int r;

	(void)arg;
	r = store_get(s, txn, S_META, key, sizeof(key) - 1, &v, DB_RMW);
	if (r == POT_ERR_NOT_FOUND) {
		v.len = 0;
		v.r = POT_OK;
		enc_be(&v, STORE_LAYOUT, 4);
		return store_put(s, txn, S_META, key, sizeof(key) - 1, &v, DB_NOOVERWRITE);
	}
	if (r != POT_OK)
		return r;
	dec_start(&d, v.b, v.len);
	version = dec_be(&d, 4);
	if (!dec_end(&d) || version != STORE_LAYOUT) {
		store_msg(s, "unsupported store layout %llu (this potd reads %d)",
		    (unsigned long long)version, STORE_LAYOUT);
		return POT_ERR_STORE;
	}
	return POT_OK;
}

static int
store_dbs_open(struct pot_store *s, char *err, size_t errlen)
{
	const struct store_dbdef *def;
	const char *step = "db_create";
	DB *db;
	int i, rc = 0, r;

	for (i = 0; i < S_NDB; i++) {
		def = &store_dbdefs[i];
		if ((rc = db_create(&s->db[i], s->env, 0)) != 0) {
			s->db[i] = NULL;
			goto fail;
		}
		db = s->db[i];
		step = "set_flags";
		if (def->primary >= 0 && (rc = db->set_flags(db, DB_DUP | DB_DUPSORT)) != 0)
			goto fail;
		step = "open";
		if ((rc = db->open(db, NULL, STORE_FILE, def->name, DB_BTREE,
		    DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0600)) != 0)
			goto fail;
	}
	step = "associate";
	for (i = 0; i < S_NDB; i++) {
		def = &store_dbdefs[i];
		if (def->primary < 0)
			continue;
		db = s->db[def->primary];
		if ((rc = db->associate(db, NULL, s->db[i], def->key, DB_CREATE)) != 0)
			goto fail;
	}
	if ((r = store_run(s, "layout", store_layout, NULL)) != POT_OK)
		return pot_fail(r, err, errlen, "%s/%s: %s", "store", STORE_FILE, s->msg);
	return POT_OK;
fail:
	return pot_fail(POT_ERR_STORE, err, errlen, "%s %s: %s: %s%s%s", STORE_FILE,
	    store_dbdefs[i].name, step, db_strerror(rc), store_libmsg[0] != '\0' ? ": " : "",
	    store_libmsg);
}

int
pot_store_open(const char *dir, bool durable, struct pot_store **out, char *err, size_t errlen)
{
	struct pot_store *s = NULL;
	int r;

	*out = NULL;
	store_libmsg[0] = '\0';
	if (dir == NULL || *dir == '\0')
		return pot_fail(POT_ERR_CONFIG, err, errlen, "no store directory");
	if ((r = store_dir_check(dir, err, errlen)) != POT_OK)
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
		goto out;
	}
	s->lockfd = -1;
	s->durable = durable;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		s = NULL;
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "pthread_mutex_init failed");
		goto out;
	}
	if ((r = store_lock(s, dir, err, errlen)) != POT_OK ||
	    (r = store_env_open(s, dir, durable, err, errlen)) != POT_OK ||
	    (r = store_dbs_open(s, err, errlen)) != POT_OK)
		goto out;
	*out = s;
	s = NULL;			/* transferred */
out:
	pot_store_close(s);
	return r;
}

void
pot_store_close(struct pot_store *s)
{
	int i;

	if (s == NULL)
		return;
	client_gen_advance();		/* no cached client outlives its store */
	if (s->env != NULL && s->db[S_NDB - 1] != NULL)
		(void)s->env->txn_checkpoint(s->env, 0, 0, 0);
	for (i = S_NDB - 1; i >= 0; i--)
		if (s->db[i] != NULL)
			(void)s->db[i]->close(s->db[i], 0);
	if (s->env != NULL)
		(void)s->env->close(s->env, 0);
	if (s->lockfd != -1)
		close(s->lockfd);		/* releases the flock */
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* --- clients ------------------------------------------------------------------------ */

/*
 * Every token request reads its client; clients change only through client_put and
 * client_del (potd holds the environment alone: `pot` goes through its admin socket while
 * it runs). So each thread keeps the last clients it read, each tagged with the generation
 * it was read under. Every client write advances the generation after its commit (and so
 * does every close, so that a new store at an old address starts afresh); a lookup
 * trusts an entry only while the generation is still the one it was read under. A read
 * that raced a write was tagged before that write's advance, so it is never trusted once
 * the write has returned: a removed client stops authenticating when `pot client remove`
 * answers. Entries are wiped when the thread exits.
 */
#define CLIENT_CACHE_N	4

struct client_cache {
	struct {
		const struct pot_store *s;
		uint64_t gen;
		struct pot_client c;
	} e[CLIENT_CACHE_N];
	unsigned next;
};

static pthread_key_t client_cache_key;
static pthread_once_t client_cache_once = PTHREAD_ONCE_INIT;
static bool client_cache_ok;

static void
client_cache_free(void *p)
{
	if (p == NULL)
		return;
	pot_wipe(p, sizeof(struct client_cache));
	free(p);
}

static void
client_cache_init(void)
{
	client_cache_ok = pthread_key_create(&client_cache_key, client_cache_free) == 0;
}

/* The calling thread's cache; NULL (no caching) when it cannot have one. */
static struct client_cache *
client_cache_get(void)
{
	struct client_cache *c;

	if (pthread_once(&client_cache_once, client_cache_init) != 0 || !client_cache_ok)
		return NULL;
	if ((c = pthread_getspecific(client_cache_key)) != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) != NULL && pthread_setspecific(client_cache_key, c) != 0) {
		free(c);
		c = NULL;
	}
	return c;
}

static bool
client_cache_find(struct client_cache *c, const struct pot_store *s, uint64_t gen,
    const char *id, struct pot_client *out)
{
	unsigned i;

	for (i = 0; c != NULL && i < CLIENT_CACHE_N; i++)
		if (c->e[i].s == s && c->e[i].gen == gen && strcmp(c->e[i].c.id, id) == 0) {
			*out = c->e[i].c;
			return true;
		}
	return false;
}

static void
client_cache_add(struct client_cache *c, const struct pot_store *s, uint64_t gen,
    const struct pot_client *in)
{
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < CLIENT_CACHE_N; i++)
		if (c->e[i].gen != gen || c->e[i].s != s)
			break;			/* a stale slot first */
	if (i == CLIENT_CACHE_N)
		i = c->next++ % CLIENT_CACHE_N;
	c->e[i].s = s;
	c->e[i].gen = gen;
	c->e[i].c = *in;
}

struct client_args {
	const struct pot_client *in;
	const char *id;
	struct pot_client *out;
	bool create;
	struct store_list list;
};

static int
client_put_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct client_args *a = arg;
	struct store_rec v;
	int r;

	if ((r = client_encode(a->in, &v)) != POT_OK)
		return r;
	return store_put(s, txn, S_CLIENT, a->in->id, strlen(a->in->id), &v,
	    a->create ? DB_NOOVERWRITE : 0);
}

int
pot_store_client_put(struct pot_store *s, const struct pot_client *c, bool create)
{
	struct client_args a = { .in = c, .create = create };
	int r;

	if (c == NULL)
		return POT_ERR_BAD_REQUEST;
	if ((r = name_check(c->id)) != POT_OK)
		return r;
	r = store_run(s, "client put", client_put_txn, &a);
	client_gen_advance();
	return r;
}

static int
client_get_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct client_args *a = arg;
	struct store_rec v;
	DBT k, d;
	int r;

	if ((r = store_get(s, txn, S_CLIENT, a->id, strlen(a->id), &v, 0)) != POT_OK)
		return r;
	dbt_in(&k, a->id, strlen(a->id));
	dbt_in(&d, v.b, v.len);
	return client_decode(&k, &d, a->out) ? POT_OK : store_corrupt(s, "client");
}

int
pot_store_client_get(struct pot_store *s, const char *id, struct pot_client *out)
{
	char key[POT_NAME_MAX];
	struct client_args a = { .id = key, .out = out };
	struct client_cache *cache;
	uint64_t gen;
	int r;

	if ((r = name_check(id)) != POT_OK) {
		memset(out, 0, sizeof(*out));
		return r;
	}
	memcpy(key, id, strlen(id) + 1);	/* id may point into *out */
	memset(out, 0, sizeof(*out));
	gen = __atomic_load_n(&client_gen, __ATOMIC_ACQUIRE);	/* before the read */
	cache = client_cache_get();
	if (client_cache_find(cache, s, gen, key, out))
		return POT_OK;
	if ((r = store_run_flush(s, "client get", client_get_txn, &a, false)) != POT_OK)
		memset(out, 0, sizeof(*out));
	else
		client_cache_add(cache, s, gen, out);
	return r;
}

static int
client_del_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct client_args *a = arg;
	struct pot_grant g;
	size_t off = 0;
	DBT k, d;
	int r;

	if ((r = store_del(s, txn, S_CLIENT, a->id, strlen(a->id))) != POT_OK)
		return r;
	if ((r = store_collect(s, txn, S_GRANT_CLIENT, a->id, strlen(a->id), DB_RMW,
	    &a->list)) != POT_OK)
		return r;
	while (list_next(&a->list, &off, &k, &d)) {
		if (!grant_decode(&k, &d, &g))
			return store_corrupt(s, "grant");
		r = grant_revoke_txn(s, txn, g.id, NULL);
		if (r != POT_OK && r != POT_ERR_NOT_FOUND)
			return r;
	}
	return POT_OK;
}

int
pot_store_client_del(struct pot_store *s, const char *id)
{
	struct client_args a = { .id = id };
	int r;

	if ((r = name_check(id)) != POT_OK)
		return r;
	r = store_run(s, "client del", client_del_txn, &a);
	client_gen_advance();
	list_free(&a.list);
	return r;
}

static int
collect_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct client_args *a = arg;

	return store_collect(s, txn, S_CLIENT, NULL, 0, 0, &a->list);
}

int
pot_store_client_list(struct pot_store *s, int (*cb)(const struct pot_client *, void *), void *arg)
{
	struct client_args a = { .id = NULL };
	struct pot_client c;
	size_t off = 0;
	DBT k, d;
	int r;

	if ((r = store_run(s, "client list", collect_txn, &a)) != POT_OK)
		goto out;
	while (list_next(&a.list, &off, &k, &d)) {
		if (!client_decode(&k, &d, &c)) {
			r = store_corrupt(s, "client");
			goto out;
		}
		if ((r = cb(&c, arg)) != 0)
			goto out;
	}
out:
	list_free(&a.list);
	return r;
}

/* --- authorization codes -------------------------------------------------------------- */

struct code_args {
	const unsigned char *id;
	const struct pot_code *in;
	const struct pot_rt *rt;
	struct pot_code *out;
	int64_t now;
};

static int
code_put_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct code_args *a = arg;
	struct store_rec v;
	int r;

	if ((r = code_encode(a->in, &v)) != POT_OK)
		return r;
	return store_put(s, txn, S_CODE, a->in->id, POT_ID_LEN, &v, DB_NOOVERWRITE);
}

int
pot_store_code_put(struct pot_store *s, const struct pot_code *c)
{
	struct code_args a = { .in = c };

	if (c == NULL)
		return POT_ERR_BAD_REQUEST;
	return store_run(s, "code put", code_put_txn, &a);
}

static int
code_get_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct code_args *a = arg;
	struct store_rec v;
	DBT k, d;
	int r;

	if ((r = store_get(s, txn, S_CODE, a->id, POT_ID_LEN, &v, 0)) != POT_OK)
		return r;
	dbt_in(&k, a->id, POT_ID_LEN);
	dbt_in(&d, v.b, v.len);
	return code_decode(&k, &d, a->out) ? POT_OK : store_corrupt(s, "code");
}

int
pot_store_code_get(struct pot_store *s, const unsigned char id[POT_ID_LEN], struct pot_code *out)
{
	unsigned char key[POT_ID_LEN];
	struct code_args a = { .id = key, .out = out };
	int r;

	memcpy(key, id, POT_ID_LEN);		/* id may point into *out */
	memset(out, 0, sizeof(*out));
	if ((r = store_run(s, "code get", code_get_txn, &a)) != POT_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static int
code_redeem_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct code_args *a = arg;
	struct pot_code *c = a->out;
	struct pot_grant g;
	struct store_rec v;
	struct pot_rt rt;
	DBT k, d;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = store_get(s, txn, S_CODE, a->id, POT_ID_LEN, &v, DB_RMW)) != POT_OK)
		return r;
	dbt_in(&k, a->id, POT_ID_LEN);
	dbt_in(&d, v.b, v.len);
	if (!code_decode(&k, &d, c))
		return store_corrupt(s, "code");
	if (c->used) {
		/* RFC 6749 §4.1.2: deny, and revoke what the first redemption issued */
		r = grant_revoke_txn(s, txn, c->grant, NULL);
		return r == POT_OK || r == POT_ERR_NOT_FOUND ? POT_ERR_REPLAY : r;
	}
	if (a->now >= c->expires)
		return POT_ERR_EXPIRED;
	c->used = true;
	if ((r = code_encode(c, &v)) != POT_OK ||
	    (r = store_put(s, txn, S_CODE, c->id, POT_ID_LEN, &v, 0)) != POT_OK)
		return r;
	memset(&g, 0, sizeof(g));
	memcpy(g.id, c->grant, sizeof(g.id));
	memcpy(g.user, c->user, sizeof(g.user));
	memcpy(g.client_id, c->client_id, sizeof(g.client_id));
	g.created = a->now;
	if (a->rt != NULL)
		g.expires = a->rt->abs_expires;
	else
		g.expires = c->expires > a->now ? c->expires : a->now;
	if ((r = grant_save(s, txn, &g, DB_NOOVERWRITE)) != POT_OK || a->rt == NULL)
		return r;
	rt = *a->rt;
	memcpy(rt.user, c->user, sizeof(rt.user));
	memcpy(rt.client_id, c->client_id, sizeof(rt.client_id));
	memcpy(rt.grant, c->grant, sizeof(rt.grant));
	rt.auth_time = c->auth_time;
	rt.state = POT_RT_ACTIVE;
	rt.rotated_at = 0;
	return rt_save(s, txn, &rt, DB_NOOVERWRITE);
}

int
pot_store_code_redeem(struct pot_store *s, const unsigned char id[POT_ID_LEN], int64_t now,
		      const struct pot_rt *rt, struct pot_code *out)
{
	unsigned char key[POT_ID_LEN];
	struct code_args a = { .id = key, .rt = rt, .out = out, .now = now };
	int r;

	memcpy(key, id, POT_ID_LEN);		/* id may point into *out */
	r = store_run(s, "code redeem", code_redeem_txn, &a);
	if (r == POT_ERR_STORE || r == POT_ERR_ALLOC || r == POT_ERR_NOT_FOUND)
		memset(out, 0, sizeof(*out));
	return r;
}

/* --- refresh tokens ------------------------------------------------------------------- */

struct rt_args {
	const unsigned char *id;
	const char *client_id;
	const char *user;
	const struct pot_refresh_policy *p;
	int64_t now, ttl;
	bool has_next;
	struct pot_rt next_in;		/* the caller's successor: id, scope */
	struct pot_rt next_out;		/* the stored successor */
	struct pot_rt *cur;
	enum pot_refresh_outcome outcome;
	size_t n;
	struct store_list list;
};

/* A superseded token presented inside the grace window: its successor must be live. */
static int
rt_grace(struct pot_store *s, DB_TXN *txn, struct rt_args *a)
{
	struct pot_rt succ;
	int r;

	if (!a->has_next)
		return POT_OK;
	r = rt_load(s, txn, a->next_in.id, 0, &succ);
	if (r == POT_ERR_NOT_FOUND)
		return POT_ERR_REPLAY;
	if (r != POT_OK)
		return r;
	if (succ.state != POT_RT_ACTIVE || strcmp(succ.grant, a->cur->grant) != 0 ||
	    a->p->now >= succ.expires)
		return POT_ERR_REPLAY;
	a->next_out = succ;
	return POT_OK;
}

static int
rt_refresh_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct rt_args *a = arg;
	const struct pot_refresh_policy *p = a->p;
	struct pot_rt *cur = a->cur, nx;
	int r;

	if ((r = rt_load(s, txn, a->id, DB_RMW, cur)) != POT_OK)
		return r;
	if (cur->state == POT_RT_REVOKED || (r = grant_live(s, txn, cur->grant)) == POT_ERR_DENIED)
		return POT_ERR_DENIED;
	if (r != POT_OK)
		return r;
	if (strcmp(cur->client_id, a->client_id) != 0)
		return POT_ERR_DENIED;
	if (p->now >= cur->expires || p->now >= cur->abs_expires)
		return POT_ERR_EXPIRED;
	if (cur->state == POT_RT_ROTATED) {
		if (p->now - cur->rotated_at <= p->grace) {
			if ((r = rt_grace(s, txn, a)) == POT_OK) {
				a->outcome = POT_REFRESH_GRACE;
				return POT_OK;
			}
			if (r != POT_ERR_REPLAY)
				return r;
		}
		/* RFC 9700 §4.14.2: reuse of a superseded token revokes the family */
		r = grant_revoke_txn(s, txn, cur->grant, NULL);
		if (r != POT_OK && r != POT_ERR_NOT_FOUND)
			return r;
		cur->state = POT_RT_REVOKED;
		return POT_ERR_REPLAY;
	}
	if (p->rotate) {
		nx = a->next_in;
		memcpy(nx.user, cur->user, sizeof(nx.user));
		memcpy(nx.client_id, cur->client_id, sizeof(nx.client_id));
		memcpy(nx.grant, cur->grant, sizeof(nx.grant));
		/* RFC 6749 §6: identical scope; a narrower one is for the access token only */
		memcpy(nx.scope, cur->scope, sizeof(nx.scope));
		nx.auth_time = cur->auth_time;
		nx.abs_expires = cur->abs_expires;
		nx.created = nx.last_used = p->now;
		nx.expires = slide(p->now, p->ttl, cur->abs_expires);
		nx.rotated_at = 0;
		nx.state = POT_RT_ACTIVE;
		if ((r = rt_save(s, txn, &nx, DB_NOOVERWRITE)) != POT_OK)
			return r;
		cur->state = POT_RT_ROTATED;
		cur->rotated_at = cur->last_used = p->now;
		if ((r = rt_save(s, txn, cur, 0)) != POT_OK)
			return r;
		a->next_out = nx;
		a->outcome = POT_REFRESH_ROTATED;
		return POT_OK;
	}
	/*
	 * A record that would not change (used again within the same second) is not written
	 * again: the caller's log flush still makes the state it read durable before it
	 * answers.
	 */
	if (cur->last_used != p->now || cur->expires != slide(p->now, p->ttl, cur->abs_expires)) {
		cur->last_used = p->now;
		cur->expires = slide(p->now, p->ttl, cur->abs_expires);
		if ((r = rt_save(s, txn, cur, 0)) != POT_OK)
			return r;
	}
	a->outcome = POT_REFRESH_SLID;
	return POT_OK;
}

int
pot_store_rt_refresh(struct pot_store *s, const unsigned char id[POT_ID_LEN],
		     const char *client_id, const struct pot_refresh_policy *p,
		     struct pot_rt *next, struct pot_rt *cur, enum pot_refresh_outcome *outcome)
{
	unsigned char key[POT_ID_LEN];
	struct rt_args a = { .id = key, .client_id = client_id, .p = p, .cur = cur };
	int r;

	memcpy(key, id, POT_ID_LEN);		/* id may point into *cur */
	memset(cur, 0, sizeof(*cur));
	if (client_id == NULL || p == NULL || p->ttl < 0 || p->grace < 0 ||
	    (p->rotate && next == NULL))
		return POT_ERR_BAD_REQUEST;
	if (next != NULL) {
		a.has_next = true;
		a.next_in = *next;
	}
	r = store_run(s, "rt refresh", rt_refresh_txn, &a);
	if (r == POT_OK) {
		*outcome = a.outcome;
		if (a.outcome != POT_REFRESH_SLID && next != NULL)
			*next = a.next_out;
	}
	if (r == POT_ERR_STORE || r == POT_ERR_ALLOC)
		memset(cur, 0, sizeof(*cur));
	return r;
}

static int
rt_check_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct rt_args *a = arg;
	struct pot_rt *rt = a->cur;
	int r;

	if ((r = rt_load(s, txn, a->id, DB_RMW, rt)) != POT_OK)
		return r;
	if (rt->state != POT_RT_ACTIVE)
		return POT_ERR_DENIED;	/* revoked, or superseded: no grace for logins */
	if ((r = grant_live(s, txn, rt->grant)) != POT_OK)
		return r;
	if (a->now >= rt->expires || a->now >= rt->abs_expires)
		return POT_ERR_EXPIRED;
	rt->last_used = a->now;
	rt->expires = slide(a->now, a->ttl, rt->abs_expires);
	return rt_save(s, txn, rt, 0);
}

int
pot_store_rt_check(struct pot_store *s, const unsigned char id[POT_ID_LEN], int64_t now,
		   int64_t ttl, struct pot_rt *out)
{
	unsigned char key[POT_ID_LEN];
	struct rt_args a = { .id = key, .now = now, .ttl = ttl, .cur = out };
	int r;

	memcpy(key, id, POT_ID_LEN);		/* id may point into *out */
	memset(out, 0, sizeof(*out));
	if (ttl < 0)
		return POT_ERR_BAD_REQUEST;
	if ((r = store_run(s, "rt check", rt_check_txn, &a)) == POT_ERR_STORE || r == POT_ERR_ALLOC)
		memset(out, 0, sizeof(*out));
	return r;
}

static int
rt_get_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct rt_args *a = arg;

	return rt_load(s, txn, a->id, 0, a->cur);
}

int
pot_store_rt_get(struct pot_store *s, const unsigned char id[POT_ID_LEN], struct pot_rt *out)
{
	unsigned char key[POT_ID_LEN];
	struct rt_args a = { .id = key, .cur = out };
	int r;

	memcpy(key, id, POT_ID_LEN);		/* id may point into *out */
	memset(out, 0, sizeof(*out));
	if ((r = store_run_flush(s, "rt get", rt_get_txn, &a, false)) != POT_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static int
rt_revoke_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct rt_args *a = arg;
	struct pot_rt rt;
	int r;

	if ((r = rt_load(s, txn, a->id, DB_RMW, &rt)) != POT_OK)
		return r;
	r = grant_revoke_txn(s, txn, rt.grant, NULL);
	return r == POT_ERR_NOT_FOUND ? POT_OK : r;
}

int
pot_store_rt_revoke(struct pot_store *s, const unsigned char id[POT_ID_LEN])
{
	struct rt_args a = { .id = id };

	return store_run(s, "rt revoke", rt_revoke_txn, &a);
}

static int
rt_list_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct rt_args *a = arg;

	if (a->user == NULL)
		return store_collect(s, txn, S_RT, NULL, 0, 0, &a->list);
	return store_collect(s, txn, S_RT_USER, a->user, strlen(a->user), 0, &a->list);
}

int
pot_store_rt_list(struct pot_store *s, const char *user,
		  int (*cb)(const struct pot_rt *, void *), void *arg)
{
	struct rt_args a = { .user = user };
	struct pot_rt rt;
	size_t off = 0;
	DBT k, d;
	int r;

	if (user != NULL && (r = name_check(user)) != POT_OK)
		return r;
	if ((r = store_run(s, "rt list", rt_list_txn, &a)) != POT_OK)
		goto out;
	while (list_next(&a.list, &off, &k, &d)) {
		if (!rt_decode(&k, &d, &rt)) {
			r = store_corrupt(s, "refresh token");
			goto out;
		}
		if ((r = cb(&rt, arg)) != 0)
			goto out;
	}
out:
	list_free(&a.list);
	return r;
}

/* --- grants ---------------------------------------------------------------------------- */

struct grant_args {
	const char *id;
	struct pot_grant *out;
};

static int
grant_get_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct grant_args *a = arg;

	return grant_load(s, txn, a->id, 0, a->out);
}

int
pot_store_grant_get(struct pot_store *s, const char *grant, struct pot_grant *out)
{
	char key[POT_NAME_MAX];
	struct grant_args a = { .id = key, .out = out };
	int r;

	if ((r = name_check(grant)) != POT_OK) {
		memset(out, 0, sizeof(*out));
		return r;
	}
	memcpy(key, grant, strlen(grant) + 1);	/* grant may point into *out */
	memset(out, 0, sizeof(*out));
	if ((r = store_run_flush(s, "grant get", grant_get_txn, &a, false)) != POT_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static int
grant_revoke_one_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct grant_args *a = arg;

	return grant_revoke_txn(s, txn, a->id, NULL);
}

int
pot_store_grant_revoke(struct pot_store *s, const char *grant)
{
	struct grant_args a = { .id = grant };
	int r;

	if ((r = name_check(grant)) != POT_OK)
		return r;
	return store_run(s, "grant revoke", grant_revoke_one_txn, &a);
}

static int
revoke_user_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct rt_args *a = arg;
	struct pot_grant g;
	struct pot_rt rt;
	size_t off = 0;
	DBT k, d;
	int r;

	a->n = 0;
	if ((r = store_collect(s, txn, S_GRANT_USER, a->user, strlen(a->user), DB_RMW,
	    &a->list)) != POT_OK)
		return r;
	while (list_next(&a->list, &off, &k, &d)) {
		if (!grant_decode(&k, &d, &g))
			return store_corrupt(s, "grant");
		r = grant_revoke_txn(s, txn, g.id, &a->n);
		if (r != POT_OK && r != POT_ERR_NOT_FOUND)
			return r;
	}
	/* tokens of the user whose grant record is missing */
	if ((r = store_collect(s, txn, S_RT_USER, a->user, strlen(a->user), DB_RMW,
	    &a->list)) != POT_OK)
		return r;
	off = 0;
	while (list_next(&a->list, &off, &k, &d)) {
		if (!rt_decode(&k, &d, &rt))
			return store_corrupt(s, "refresh token");
		if (rt.state == POT_RT_REVOKED)
			continue;
		rt.state = POT_RT_REVOKED;
		if ((r = rt_save(s, txn, &rt, 0)) != POT_OK)
			return r;
		a->n++;
	}
	return POT_OK;
}

int
pot_store_revoke_user(struct pot_store *s, const char *user, size_t *n)
{
	struct rt_args a = { .user = user };
	int r;

	*n = 0;
	if ((r = name_check(user)) != POT_OK)
		return r;
	if ((r = store_run(s, "revoke user", revoke_user_txn, &a)) == POT_OK)
		*n = a.n;
	list_free(&a.list);
	return r;
}

/* --- nonces ----------------------------------------------------------------------------- */

struct nonce_args {
	const unsigned char *id;
	int64_t expires;
};

static int
nonce_use_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct nonce_args *a = arg;
	struct store_rec v;

	enc_start(&v);
	enc_expiry(&v, a->expires);
	enc_be(&v, (uint64_t)a->expires, 8);
	return store_put(s, txn, S_NONCE, a->id, POT_ID_LEN, &v, DB_NOOVERWRITE);
}

int
pot_store_nonce_use(struct pot_store *s, const unsigned char id[POT_ID_LEN], int64_t expires)
{
	struct nonce_args a = { .id = id, .expires = expires };

	return store_run(s, "nonce use", nonce_use_txn, &a);
}

/* --- purge and statistics --------------------------------------------------------------- */

struct purge_args {
	int64_t now;
	size_t batch, n;
};

/* Whether any refresh token still belongs to grant (the primary key pk). */
static int
grant_has_rts(struct pot_store *s, DB_TXN *txn, const DBT *pk, bool *has)
{
	struct store_rec *v;
	int r;

	if ((v = malloc(sizeof(*v))) == NULL)
		return POT_ERR_ALLOC;
	r = store_get(s, txn, S_RT_GRANT, pk->data, pk->size, v, 0);
	*has = r == POT_OK;
	free(v);
	return r == POT_ERR_NOT_FOUND ? POT_OK : r;
}

/* Deletes records whose expiry key in index dbi is before now, up to a->batch in all. */
static int
purge_index(struct pot_store *s, DB_TXN *txn, int dbi, struct purge_args *a)
{
	unsigned char kb[STORE_KEY_MAX], pkb[STORE_KEY_MAX], lim[STORE_EXP_LEN];
	struct store_rec *v = NULL;
	DB *db = s->db[dbi];
	DBC *c = NULL;
	DBT k, pk, d;
	u_int32_t op = DB_FIRST;
	size_t seen = 0, limit = a->batch * 4 + 64;
	bool has;
	int r = POT_OK, rc;

	/*
	 * A grant outlives its tokens by the longest access_ttl (a day): introspection finds
	 * the family of every access token still alive, revoked or not.
	 */
	exp_key(lim, dbi == S_GRANT_EXPIRY ? a->now - POT_GRANT_KEEP : a->now);
	if ((v = malloc(sizeof(*v))) == NULL)
		return POT_ERR_ALLOC;
	if ((rc = db->cursor(db, txn, &c, 0)) != 0) {
		c = NULL;
		r = store_dberr(s, "cursor", rc);
		goto out;
	}
	while (a->n < a->batch && seen++ < limit) {
		dbt_out(&k, kb, sizeof(kb));
		dbt_out(&pk, pkb, sizeof(pkb));
		dbt_out(&d, v->b, sizeof(v->b));
		rc = c->pget(c, &k, &pk, &d, op | DB_RMW);
		op = DB_NEXT;
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			r = store_dberr(s, store_dbdefs[dbi].name, rc);
			goto out;
		}
		if (k.size != STORE_EXP_LEN) {
			r = store_corrupt(s, store_dbdefs[dbi].name);
			goto out;
		}
		if (memcmp(kb, lim, STORE_EXP_LEN) >= 0)
			break;
		if (dbi == S_GRANT_EXPIRY) {
			if ((r = grant_has_rts(s, txn, &pk, &has)) != POT_OK)
				goto out;
			if (has)
				continue;
		}
		if ((rc = c->del(c, 0)) != 0) {
			r = store_dberr(s, store_dbdefs[dbi].name, rc);
			goto out;
		}
		a->n++;
	}
out:
	r = store_cursor_close(s, c, r);
	free(v);
	return r;
}

static int
purge_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct purge_args *a = arg;
	int r;

	a->n = 0;
	if ((r = purge_index(s, txn, S_RT_EXPIRY, a)) != POT_OK ||
	    (r = purge_index(s, txn, S_CODE_EXPIRY, a)) != POT_OK ||
	    (r = purge_index(s, txn, S_NONCE_EXPIRY, a)) != POT_OK ||
	    (r = purge_index(s, txn, S_GRANT_EXPIRY, a)) != POT_OK)
		return r;
	return POT_OK;
}

int
pot_store_purge(struct pot_store *s, int64_t now, size_t batch, size_t *removed)
{
	struct purge_args a = { .now = now, .batch = batch };
	int r, rc;

	*removed = 0;
	if ((r = store_run(s, "purge", purge_txn, &a)) != POT_OK)
		return r;
	*removed = a.n;
	/* lets DB_LOG_AUTO_REMOVE drop the log files recovery no longer needs */
	if ((rc = s->env->txn_checkpoint(s->env, STORE_CKP_KB, 0, 0)) != 0 &&
	    (r = store_dberr(s, "txn_checkpoint", rc)) != STORE_RETRY)
		return r;
	return POT_OK;
}

struct stats_args {
	struct pot_store_stats *out;
};

static int
store_count(struct pot_store *s, DB_TXN *txn, int dbi, size_t *n)
{
	DB *db = s->db[dbi];
	DB_BTREE_STAT *sp = NULL;
	int rc;

	if ((rc = db->stat(db, txn, &sp, DB_READ_COMMITTED)) != 0)
		return store_dberr(s, store_dbdefs[dbi].name, rc);
	*n = sp->bt_nkeys;
	free(sp);
	return POT_OK;
}

static int
stats_txn(struct pot_store *s, DB_TXN *txn, void *arg)
{
	struct stats_args *a = arg;
	int r;

	if ((r = store_count(s, txn, S_RT, &a->out->refresh_tokens)) != POT_OK ||
	    (r = store_count(s, txn, S_CODE, &a->out->codes)) != POT_OK ||
	    (r = store_count(s, txn, S_CLIENT, &a->out->clients)) != POT_OK ||
	    (r = store_count(s, txn, S_GRANT, &a->out->grants)) != POT_OK)
		return r;
	return POT_OK;
}

int
pot_store_stats(struct pot_store *s, struct pot_store_stats *out)
{
	struct stats_args a = { .out = out };
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = store_run(s, "stats", stats_txn, &a)) != POT_OK)
		memset(out, 0, sizeof(*out));
	return r;
}
