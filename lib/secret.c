/* secret.c — opaque secrets: random, derived, checked, and hashed under the pepper. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
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

int
pot_secret_derive(const unsigned char key[POT_PEPPER_LEN], const char *label, const char *seed,
		  const char *prefix, char out[POT_SECRET_LEN + 1])
{
	unsigned char mac[32], *msg;
	unsigned int len = sizeof(mac);
	size_t ll = strlen(label) + 1, sl = strlen(seed);
	int r = POT_ERR_CRYPTO;

	if ((msg = malloc(ll + sl)) == NULL)
		return POT_ERR_ALLOC;
	memcpy(msg, label, ll);			/* label, NUL, seed: no ambiguity */
	memcpy(msg + ll, seed, sl);
	if (HMAC(EVP_sha256(), key, POT_PEPPER_LEN, msg, ll + sl, mac, &len) != NULL)
		r = secret_format(prefix, mac, out);
	pot_wipe(msg, ll + sl);
	free(msg);
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
	unsigned int len = 32;

	return HMAC(EVP_sha256(), pepper, POT_PEPPER_LEN, (const unsigned char *)secret,
		    strlen(secret), id, &len) != NULL && len == 32 ? POT_OK : POT_ERR_CRYPTO;
}
