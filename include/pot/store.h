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
#define POT_CHALLENGE_MAX 65	/* base64url SHA-256: 43 characters */

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
 * Opens (creating if needed) the transactional environment in dir (mode 0700), running
 * recovery. durable=false uses DB_TXN_WRITE_NOSYNC (tests and benchmarks only).
 * The caller must be the environment's only process (potd, or `pot` while potd is down:
 * see pot_store_lock).
 */
int pot_store_open(const char *dir, bool durable, struct pot_store **out, char *err, size_t errlen);
void pot_store_close(struct pot_store *s);
/* The library's text for the last failure (for logs); never a secret. */
const char *pot_store_strerror(const struct pot_store *s);

/* Clients. */
int pot_store_client_put(struct pot_store *s, const struct pot_client *c, bool create);
int pot_store_client_get(struct pot_store *s, const char *id, struct pot_client *out);
int pot_store_client_del(struct pot_store *s, const char *id);	/* also revokes its grants */
int pot_store_client_list(struct pot_store *s, int (*cb)(const struct pot_client *, void *), void *arg);

/* Authorization codes. */
int pot_store_code_put(struct pot_store *s, const struct pot_code *c);

/*
 * One transaction: the code is looked up, checked (unused, unexpired), marked used, its
 * grant created and the first refresh token (rt, prepared by the caller; NULL when the
 * client gets none) stored. A used code revokes its grant and returns POT_ERR_REPLAY.
 * Unknown: POT_ERR_NOT_FOUND. Expired: POT_ERR_EXPIRED. *out receives the code record.
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
 * One transaction. Looks up id; refuses unknown/revoked/expired (POT_ERR_NOT_FOUND,
 * POT_ERR_DENIED, POT_ERR_EXPIRED) and another client's token (POT_ERR_DENIED). A token
 * superseded more than `grace` ago is a reuse: its whole grant is revoked, POT_ERR_REPLAY.
 * When rotating, next (prepared by the caller with its id) is stored with the family's
 * absolute expiry. *cur receives the presented token's record (after the update).
 */
int pot_store_rt_refresh(struct pot_store *s, const unsigned char id[POT_ID_LEN],
			 const char *client_id, const struct pot_refresh_policy *p,
			 struct pot_rt *next, struct pot_rt *cur, enum pot_refresh_outcome *outcome);
/* A PAM login: checks and slides the expiry, never rotates. */
int pot_store_rt_check(struct pot_store *s, const unsigned char id[POT_ID_LEN], int64_t now,
		       int64_t ttl, struct pot_rt *out);
int pot_store_rt_get(struct pot_store *s, const unsigned char id[POT_ID_LEN], struct pot_rt *out);
/* Revokes one RT and its grant (RFC 7009 §2.1: the grant's other tokens too). */
int pot_store_rt_revoke(struct pot_store *s, const unsigned char id[POT_ID_LEN]);
int pot_store_grant_get(struct pot_store *s, const char *grant, struct pot_grant *out);
int pot_store_grant_revoke(struct pot_store *s, const char *grant);
/* Revokes every grant of user; *n receives how many refresh tokens died. */
int pot_store_revoke_user(struct pot_store *s, const char *user, size_t *n);
/* Refresh tokens of user (all when NULL), through the by-user index. */
int pot_store_rt_list(struct pot_store *s, const char *user,
		      int (*cb)(const struct pot_rt *, void *), void *arg);

/* Deletes up to batch expired records (RTs, codes, grants) in one short transaction. */
int pot_store_purge(struct pot_store *s, int64_t now, size_t batch, size_t *removed);

struct pot_store_stats {
	size_t refresh_tokens;
	size_t codes;
	size_t clients;
	size_t grants;
};
int pot_store_stats(struct pot_store *s, struct pot_store_stats *out);

#endif
