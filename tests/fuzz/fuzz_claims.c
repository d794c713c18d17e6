/*
 * fuzz_claims.c — libFuzzer harness: the claims half of pot_jwt_verify. A signature check
 * comes before the payload is parsed, so mutated tokens never reach it; here the input is
 * the payload, signed with a key made at start-up (its public half in the keyring), then
 * verified: iss, aud, exp, nbf, iat, the user claim, scope, jti and client_id checks on
 * arbitrary JSON. The first input byte picks the header's typ and the user claim.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pot/token.h"

static struct pot_keyring *kr;
static EVP_PKEY *key;
static char *kid;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kr = fuzz_keyring_generated(&key, &kid, FUZZ_ISSUER);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const typs[] = { "at+jwt", "JWT", "jwt", "at+JWT" };
	static const char *const claims[] = { "sub", "preferred_username", "uid", "sub" };
	struct pot_verify_opts o = { .audience = "pot", .leeway = 30, .now = FUZZ_NOW };
	struct pot_claims c;
	char *payload, *token = NULL;

	if (size == 0 || size > 4096)
		return 0;
	o.user_claim = claims[(data[0] >> 2) & 3];
	if ((payload = malloc(size)) == NULL)
		return 0;
	memcpy(payload, data + 1, size - 1);
	payload[size - 1] = '\0';
	if (pot_jws_sign(key, kid, typs[data[0] & 3], payload, &token) == 0 &&
	    pot_jwt_verify(kr, token, strlen(token), &o, &c) == 0)
		pot_claims_free(&c);
	free(token);
	free(payload);
	return 0;
}
