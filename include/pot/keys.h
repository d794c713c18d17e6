/* pot/keys.h — JWK Sets of trusted issuers, and signing keys. */
#ifndef POT_KEYS_H
#define POT_KEYS_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include <openssl/evp.h>

enum pot_alg { POT_ALG_UNKNOWN = 0, POT_ALG_ES256, POT_ALG_RS256 };

#define POT_JWKS_MAX		(1024 * 1024)
#define POT_RSA_MIN_BITS	2048	/* RFC 7518 §3.3 */
/* No signing key needs more; a larger modulus only makes every check slower (OpenSSL's
 * key check runs Miller-Rabin on it), and Go's crypto/tls draws the same line. */
#define POT_RSA_MAX_BITS	8192
#define POT_JWKS_MAX_KEYS	256	/* as many as potd's keystore holds */

struct pot_key {
	char *kid;
	const char *issuer;	/* owned by the JWK Set */
	enum pot_alg alg;	/* from the key type; the token's header never chooses */
	EVP_PKEY *pkey;
	EVP_MD_CTX *verify;	/* EVP_DigestVerifyInit'ed once; copied per signature */
};

struct pot_jwks {
	char *issuer;
	struct pot_key *keys;
	size_t nkeys;
};

const char *pot_alg_name(enum pot_alg alg);
enum pot_alg pot_alg_from_name(const char *name);

/* Parses an RFC 7517 JWK Set of EC P-256 and RSA (>= 2048 bit) public keys, each with kid. */
int pot_jwks_parse(const char *json, size_t len, const char *issuer, struct pot_jwks **out,
		   char *err, size_t errlen);
int pot_jwks_load(const char *path, const char *issuer, struct pot_jwks **out, char *err,
		  size_t errlen);
void pot_jwks_free(struct pot_jwks *j);

/*
 * A keyring: the JWK Sets of every trusted issuer, each re-read only when its file
 * changes (mtime, size or inode). A key only vouches for its own issuer.
 */
struct pot_keyring;

struct pot_keyring *pot_keyring_new(void);
void pot_keyring_free(struct pot_keyring *kr);
/* Makes the keyring hold exactly these (issuer, file) pairs, re-reading changed files. */
int pot_keyring_sync(struct pot_keyring *kr, const char *const *issuers,
		     const char *const *paths, size_t n, char *err, size_t errlen);
/* The next key with this kid after *pos (start with *pos = 0), or NULL. */
const struct pot_key *pot_keyring_find(const struct pot_keyring *kr, const char *kid, size_t *pos);

/* Signing keys (private). */
int pot_key_generate(enum pot_alg alg, EVP_PKEY **out);
int pot_key_load_pem(const char *path, EVP_PKEY **out, char *err, size_t errlen);
enum pot_alg pot_key_alg(const EVP_PKEY *pkey);
/* RFC 7638 thumbprint, base64url of SHA-256 over the canonical public JWK. */
int pot_jwk_thumbprint(const EVP_PKEY *pkey, char **out);
/* The public JWK with kid (thumbprint), alg and use "sig". */
int pot_jwk_public(const EVP_PKEY *pkey, json_t **out);

#endif
