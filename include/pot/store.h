/*
 * pot/store.h — potd's Berkeley DB 5.3 store: refresh tokens, authorization codes,
 * clients and grant families, each operation one transaction. Secrets appear here only
 * as their HMAC-SHA256 under the pepper (pot/secret.h). Only potd and `pot` link this.
 */
#ifndef POT_STORE_H
#define POT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POT_ID_LEN	32	/* HMAC-SHA256 of a secret: the record key */
#define POT_NAME_MAX	65	/* user names, client ids, grant ids (+NUL) */
#define POT_SCOPE_MAX	513
#define POT_URI_MAX	1025
#define POT_URIS_MAX	4097	/* redirect URIs, one per line */
#define POT_CHALLENGE_MAX 65
#define POT_GRANT_KEEP	86400	/* purge keeps a grant this long past its expiry: access_ttl's max */	/* base64url SHA-256: 43 characters */

enum pot_rt_state {
	POT_RT_ACTIVE = 0,
	POT_RT_ROTATED = 1,	/* superseded by a rotation; reuse past the grace revokes the grant */
	POT_RT_REVOKED = 2,
};

struct pot_rt {
	unsigned char id[POT_ID_LEN];
	char user[POT_NAME_MAX];
	char client_id[POT_NAME_MAX];
	char scope[POT_SCOPE_MAX];
	char grant[POT_NAME_MAX];	/* the family: every RT of one authorization */
	int64_t created;
	int64_t last_used;
	int64_t expires;		/* sliding: last use + refresh_ttl, capped by abs_expires */
	int64_t abs_expires;		/* created + refresh_max */
	int64_t auth_time;
	int64_t rotated_at;		/* when state became ROTATED */
	int state;			/* enum pot_rt_state */
};

struct pot_code {
	unsigned char id[POT_ID_LEN];
	char user[POT_NAME_MAX];
	char client_id[POT_NAME_MAX];
	char scope[POT_SCOPE_MAX];
	char redirect_uri[POT_URI_MAX];
	char challenge[POT_CHALLENGE_MAX];	/* PKCE S256 code_challenge */
	char grant[POT_NAME_MAX];		/* the family its tokens will belong to */
	int64_t expires;
	int64_t auth_time;
	bool used;			/* kept until expiry so that a replay is recognised */
};

enum pot_grant_type {
	POT_GRANT_CODE = 1 << 0,
	POT_GRANT_REFRESH = 1 << 1,
	POT_GRANT_CLIENT_CREDENTIALS = 1 << 2,
};

struct pot_client {
	char id[POT_NAME_MAX];
	unsigned char secret[POT_ID_LEN];	/* HMAC of the secret; all zero for public clients */
	bool confidential;
	bool first_party;
	bool introspect;
	bool rotate;				/* refresh tokens rotate on use */
	unsigned grants;			/* enum pot_grant_type bits */
	char scope[POT_SCOPE_MAX];		/* the most it may be granted */
	char redirect_uris[POT_URIS_MAX];	/* one per line, exact match */
	int64_t created;
};

struct pot_grant {
	char id[POT_NAME_MAX];
	char user[POT_NAME_MAX];
	char client_id[POT_NAME_MAX];
	int64_t created;
	int64_t expires;		/* the family's absolute end: purge after it */
	bool revoked;
};

struct pot_store;

/*
 * Opens (creating if needed) the transactional environment in dir, running recovery.
 * dir is created 0700; an existing one must be a directory (not a symlink) owned by the
 * effective uid and closed to group and others, else POT_ERR_IO. Files are 0600.
 * durable=false uses DB_TXN_WRITE_NOSYNC (tests and benchmarks only).
 * The caller must be the environment's only process: open takes an exclusive flock on
 * dir/pot.lock, held until pot_store_close, and returns POT_ERR_BUSY when another process
 * (potd, or `pot` while potd is down) holds it. DB failures: POT_ERR_STORE. err says why.
 * The handle is safe to share between threads; every call below is one transaction
 * (retried internally when it loses a deadlock), but for the cached pot_store_client_get. Any Berkeley DB failure, including
 * DB_RUNRECOVERY, gives POT_ERR_STORE, with the text in pot_store_strerror.
 */
int pot_store_open(const char *dir, bool durable, struct pot_store **out, char *err, size_t errlen);
void pot_store_close(struct pot_store *s);	/* checkpoints; NULL-safe */
/*
 * The library's text for the store's last failure (for logs); never a secret. The string
 * is a copy owned by the calling thread, valid until its next call.
 */
const char *pot_store_strerror(const struct pot_store *s);

/*
 * Keys of the string kind (client, grant, user) must be non-empty (POT_ERR_BAD_REQUEST)
 * and NUL-terminated within POT_NAME_MAX (POT_ERR_TOO_LONG); so must the user, client_id
 * and grant of records written. List callbacks run after the transaction has ended (they
 * may call the store); one returning non-zero stops the listing, which returns that value.
 */

/* Clients. create: POT_ERR_EXISTS when the id is taken; else the record is replaced. */
int pot_store_client_put(struct pot_store *s, const struct pot_client *c, bool create);
/*
 * May answer from the calling thread's cache of recent clients instead of a transaction:
 * an entry is used only under the store's client generation it was read in, and every
 * put and del bumps the generation after its commit, so no thread sees a removed client.
 */
int pot_store_client_get(struct pot_store *s, const char *id, struct pot_client *out);
/* POT_ERR_NOT_FOUND, or deleted and every grant of the client revoked (with its RTs). */
int pot_store_client_del(struct pot_store *s, const char *id);
int pot_store_client_list(struct pot_store *s, int (*cb)(const struct pot_client *, void *), void *arg);

/* Authorization codes. POT_ERR_EXISTS when the id is taken. */
int pot_store_code_put(struct pot_store *s, const struct pot_code *c);
/*
 * Reads a code without changing it (the token endpoint checks client, redirect and PKCE
 * first); POT_ERR_NOT_FOUND. Its used/expires are only advisory: code_redeem decides.
 */
int pot_store_code_get(struct pot_store *s, const unsigned char id[POT_ID_LEN], struct pot_code *out);

/*
 * One transaction: the code is looked up, checked (unused, unexpired), marked used, its
 * grant created and the first refresh token (rt, prepared by the caller; NULL when the
 * client gets none) stored. A used code revokes its grant (and every RT of it, RFC 6749
 * §4.1.2) and returns POT_ERR_REPLAY; this is checked before expiry. Unknown:
 * POT_ERR_NOT_FOUND. Expired: POT_ERR_EXPIRED. A grant id already present: POT_ERR_EXISTS.
 * The RT's user, client_id, grant and auth_time are taken from the code, its state is
 * ACTIVE; the caller sets id, scope, created, last_used, expires and abs_expires.
 * The grant (id code->grant) gets created = now and expires = rt->abs_expires, or without
 * an RT the later of now and the code's expiry (so that a replay can still revoke it).
 * *out receives the code record whenever it was found (zeroed when not found).
 */
int pot_store_code_redeem(struct pot_store *s, const unsigned char id[POT_ID_LEN], int64_t now,
			  const struct pot_rt *rt, struct pot_code *out);

/* Refresh tokens. */
struct pot_refresh_policy {
	int64_t now;
	int64_t ttl;			/* refresh_ttl */
	int64_t grace;			/* 60 s: a superseded RT presented again returns its successor */
	bool rotate;			/* the client's policy */
};

enum pot_refresh_outcome {
	POT_REFRESH_SLID = 0,		/* same RT, expiry extended */
	POT_REFRESH_ROTATED = 1,	/* *next stored, old one superseded */
	POT_REFRESH_GRACE = 2,		/* superseded within grace: the caller re-derives the successor */
};

/*
 * One transaction. Looks up id, then in this order: unknown POT_ERR_NOT_FOUND; REVOKED, or
 * its grant revoked or missing, POT_ERR_DENIED; another client's token POT_ERR_DENIED
 * (nothing written); now >= expires or abs_expires POT_ERR_EXPIRED. Then:
 * - ROTATED and now - rotated_at <= grace: POT_REFRESH_GRACE, nothing written. When next
 *   is not NULL its id must name the successor (the caller re-derives it, pot_secret_derive,
 *   exactly as when rotating): *next receives the stored successor, which must be ACTIVE,
 *   unexpired and of the same grant, else the reuse is treated as below.
 * - ROTATED otherwise (a reuse): the whole grant is revoked, POT_ERR_REPLAY.
 * - ACTIVE and p->rotate: next (the caller sets its id; nothing else is read) is stored
 *   ACTIVE with user, client_id, grant, auth_time, abs_expires and scope copied (RFC 6749
 *   §6: the new RT's scope is identical; a narrower request only narrows the access token),
 *   created = last_used = now, expires = min(now + ttl, abs_expires); the presented
 *   token becomes ROTATED (rotated_at = last_used = now, expiry unchanged: kept so that a
 *   reuse is recognised until then); *next receives the stored record; POT_REFRESH_ROTATED.
 *   A successor id already present: POT_ERR_EXISTS. next must not be NULL when rotating.
 * - ACTIVE otherwise: last_used = now, expires = min(now + ttl, abs_expires), SLID.
 * *cur receives the presented token's record (after the update) whenever it was found;
 * *next is only written on POT_OK with GRACE or ROTATED.
 */
int pot_store_rt_refresh(struct pot_store *s, const unsigned char id[POT_ID_LEN],
			 const char *client_id, const struct pot_refresh_policy *p,
			 struct pot_rt *next, struct pot_rt *cur, enum pot_refresh_outcome *outcome);
/*
 * A PAM login, for any client: NOT_FOUND; not ACTIVE (REVOKED, or ROTATED: no grace for
 * logins) or grant revoked, DENIED; expired, EXPIRED. Else slides the expiry like a
 * non-rotating refresh (last_used = now, expires = min(now + ttl, abs_expires)), never
 * rotates. *out receives the record whenever it was found.
 */
int pot_store_rt_check(struct pot_store *s, const unsigned char id[POT_ID_LEN], int64_t now,
		       int64_t ttl, struct pot_rt *out);
int pot_store_rt_get(struct pot_store *s, const unsigned char id[POT_ID_LEN], struct pot_rt *out);
/*
 * Revokes one RT and its grant (RFC 7009 §2.1: the grant's other tokens too). Revoked
 * records stay (so that their reuse is recognised) until purged after their expiry.
 * POT_ERR_NOT_FOUND for an unknown id; revoking again is POT_OK.
 */
int pot_store_rt_revoke(struct pot_store *s, const unsigned char id[POT_ID_LEN]);
int pot_store_grant_get(struct pot_store *s, const char *grant, struct pot_grant *out);
/* Marks the grant revoked and every RT of it REVOKED; POT_ERR_NOT_FOUND when unknown. */
int pot_store_grant_revoke(struct pot_store *s, const char *grant);
/*
 * Revokes every grant of user and every RT of user; *n receives how many refresh tokens
 * went from ACTIVE or ROTATED to REVOKED. A user with none: POT_OK, *n = 0.
 */
int pot_store_revoke_user(struct pot_store *s, const char *user, size_t *n);
/* Refresh tokens of user (all when NULL), through the by-user index, in any state. */
int pot_store_rt_list(struct pot_store *s, const char *user,
		      int (*cb)(const struct pot_rt *, void *), void *arg);

/*
 * Records a one-time value (the nonce of a signed form) until expires: POT_ERR_EXISTS
 * when it was used already. Lets potd refuse a replayed consent without sessions.
 * The record stays until purged after expires (a repeat until then: POT_ERR_EXISTS).
 */
int pot_store_nonce_use(struct pot_store *s, const unsigned char id[POT_ID_LEN], int64_t expires);

/*
 * Deletes up to batch expired records in one short transaction, through the expiry
 * indexes: RTs with min(expires, abs_expires) < now in any state, then codes with
 * expires < now, then nonces with expires < now, then grants with expires < now that
 * have no RT left. *removed counts them; call again while it equals batch. Also
 * checkpoints, so that the log files recovery no longer needs are removed.
 */
int pot_store_purge(struct pot_store *s, int64_t now, size_t batch, size_t *removed);

struct pot_store_stats {
	size_t refresh_tokens;
	size_t codes;
	size_t clients;
	size_t grants;
};
int pot_store_stats(struct pot_store *s, struct pot_store_stats *out);

#endif
