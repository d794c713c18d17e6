/*
 * pot/keystore.h — potd's keys under state_dir/keys (0700, files 0600): the pepper that
 * hashes every stored secret, and the signing keys with their life cycle (publish, then
 * activate after key_activation_delay; retire, then drop from the JWKS once every token
 * it signed has expired). jwks.json (0644) is written beside keys/, atomically.
 */
#ifndef POT_KEYSTORE_H
#define POT_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "pot/keys.h"
#include "pot/secret.h"

struct pot_keyinfo {
	char kid[48];
	enum pot_alg alg;
	int64_t created;
	int64_t activate_at;	/* signs from then on (unless retired) */
	int64_t retired_at;	/* 0: not retired */
	int64_t drop_at;	/* 0: published for ever; else leaves the JWKS then */
};

struct pot_keystore;

/*
 * Opens state_dir/keys. create: makes state_dir (0755), keys/ (0700), the pepper and,
 * when there is no signing key, an ES256 key active at once. Refuses a keys/ directory
 * or key file readable by group or others, naming the file.
 */
int pot_keystore_open(const char *state_dir, bool create, int64_t now, struct pot_keystore **out,
		      char *err, size_t errlen);
void pot_keystore_free(struct pot_keystore *ks);
/* Re-reads keys/ (after `pot key ...` or SIGHUP). */
int pot_keystore_reload(struct pot_keystore *ks, char *err, size_t errlen);

const unsigned char *pot_keystore_pepper(const struct pot_keystore *ks);

/* The newest key active at now and not retired; borrowed pointers. POT_ERR_NOT_FOUND if none. */
int pot_keystore_signer(const struct pot_keystore *ks, int64_t now, EVP_PKEY **key, const char **kid);

/* A new key, published at once, signing from now + delay. kid receives its thumbprint. */
int pot_keystore_new_key(struct pot_keystore *ks, enum pot_alg alg, int64_t now, int64_t delay,
			 char kid[48]);
/*
 * Stops signing with kid; it stays in the JWKS until now + keep (access_ttl + leeway).
 * Refuses (POT_ERR_DENIED) to retire the last key that can sign.
 */
int pot_keystore_retire(struct pot_keystore *ks, const char *kid, int64_t now, int64_t keep);
/* Removes keys whose drop_at has passed. */
int pot_keystore_prune(struct pot_keystore *ks, int64_t now);

size_t pot_keystore_count(const struct pot_keystore *ks);
const struct pot_keyinfo *pot_keystore_info(const struct pot_keystore *ks, size_t i);

/* The public JWK Set of every key still published at now (a new reference). */
json_t *pot_keystore_jwks(const struct pot_keystore *ks, int64_t now);
/* Writes it to path atomically (temporary file, fsync, rename), mode 0644. */
int pot_keystore_write_jwks(const struct pot_keystore *ks, const char *path, int64_t now,
			    char *err, size_t errlen);

#endif
