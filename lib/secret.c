/* secret.c — opaque secrets: random, derived, checked, and hashed under the pepper. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pot/err.h"
#include "pot/secret.h"
#include "pot/util.h"

static int
secret_format(const char *prefix, const unsigned char raw[32], char out[POT_SECRET_LEN + 1])
{
	char *b64;
	int r;

	if (strlen(prefix) != 7)
		return POT_ERR_BAD_REQUEST;
	if ((r = pot_b64url_encode(raw, 32, &b64)) != POT_OK)
		return r;
	memcpy(out, prefix, 7);
	memcpy(out + 7, b64, POT_SECRET_B64 + 1);
	pot_secret_free(b64);
	return POT_OK;
}

int
pot_secret_generate(const char *prefix, char out[POT_SECRET_LEN + 1])
{
	unsigned char raw[32];
	int r;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return POT_ERR_CRYPTO;
	r = secret_format(prefix, raw, out);
	pot_wipe(raw, sizeof(raw));
	return r;
}

/*
 * HMAC-SHA256 under a 32-byte key, with the MAC context kept per thread: fetching HMAC
 * and SHA-256 and keying a fresh context cost more than the MAC of a short secret. The
 * context is keyed once per key (the pepper: it changes only with a new state_dir) and
 * re-initialised with the same key for each MAC; a different key re-keys it. The key's
 * copy and the context are wiped and freed when the thread exits.
 */
struct mac_cache {
	EVP_MAC_CTX *ctx;
	unsigned char key[POT_PEPPER_LEN];
};

static pthread_key_t mac_key;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *mac_hmac;	/* fetched once; never freed (lives as long as the process) */
static bool mac_ready;

static void
mac_cache_free(void *p)
{
	struct mac_cache *c = p;

	if (c == NULL)
		return;
	EVP_MAC_CTX_free(c->ctx);	/* cleanses the keyed state */
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}

static void
mac_init_once(void)
{
	if ((mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL &&
	    pthread_key_create(&mac_key, mac_cache_free) == 0)
		mac_ready = true;
}

/* The calling thread's context, keyed with key and ready for an update; NULL on failure. */
static EVP_MAC_CTX *
mac_ctx(const unsigned char key[POT_PEPPER_LEN])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	struct mac_cache *c;

	if (pthread_once(&mac_once, mac_init_once) != 0 || !mac_ready)
		return NULL;
	if ((c = pthread_getspecific(mac_key)) == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return NULL;
		if ((c->ctx = EVP_MAC_CTX_new(mac_hmac)) == NULL ||
		    pthread_setspecific(mac_key, c) != 0) {
			mac_cache_free(c);
			return NULL;
		}
	} else if (CRYPTO_memcmp(c->key, key, POT_PEPPER_LEN) == 0) {
		if (EVP_MAC_init(c->ctx, NULL, 0, NULL) == 1)	/* same key, reused */
			return c->ctx;
		OPENSSL_cleanse(c->key, sizeof(c->key));
		return NULL;
	}
	if (EVP_MAC_init(c->ctx, key, POT_PEPPER_LEN, params) != 1) {
		OPENSSL_cleanse(c->key, sizeof(c->key));	/* never matches a real key's use */
		return NULL;
	}
	memcpy(c->key, key, POT_PEPPER_LEN);
	return c->ctx;
}

/* out = HMAC-SHA256(key, a || b); b may be NULL. */
static int
hmac_sha256(const unsigned char key[POT_PEPPER_LEN], const void *a, size_t alen,
	    const void *b, size_t blen, unsigned char out[32])
{
	EVP_MAC_CTX *ctx = mac_ctx(key);
	size_t len = 0;

	if (ctx == NULL || EVP_MAC_update(ctx, a, alen) != 1 ||
	    (b != NULL && EVP_MAC_update(ctx, b, blen) != 1) ||
	    EVP_MAC_final(ctx, out, &len, 32) != 1 || len != 32)
		return POT_ERR_CRYPTO;
	return POT_OK;
}

int
pot_secret_derive(const unsigned char key[POT_PEPPER_LEN], const char *label, const char *seed,
		  const char *prefix, char out[POT_SECRET_LEN + 1])
{
	unsigned char mac[32];
	int r;

	/* label, NUL, seed: no ambiguity */
	if ((r = hmac_sha256(key, label, strlen(label) + 1, seed, strlen(seed), mac)) == POT_OK)
		r = secret_format(prefix, mac, out);
	pot_wipe(mac, sizeof(mac));
	return r;
}

bool
pot_secret_well_formed(const char *s, const char *prefix)
{
	size_t i;

	if (strncmp(s, prefix, 7) != 0 || strlen(s) != POT_SECRET_LEN)
		return false;
	for (i = 7; i < POT_SECRET_LEN; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

int
pot_secret_id(const unsigned char pepper[POT_PEPPER_LEN], const char *secret, unsigned char id[32])
{
	return hmac_sha256(pepper, secret, strlen(secret), NULL, 0, id);
}
