/*
 * fuzz_jwt.c — libFuzzer harness: pot_jwt_verify, the JWS/JWT parser and verifier, on
 * arbitrary input. The keyring holds the public keys of corpus/jwks.json (EC P-256 and
 * RSA-2048, whose private halves were thrown away after signing the seed tokens in
 * corpus/jwt/), so seeds are real, valid tokens and mutations explore every refusal.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "pot/token.h"

static struct pot_keyring *kr;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kr = fuzz_keyring_from("jwks.json", FUZZ_ISSUER);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pot_verify_opts o = { .audience = "pot", .user_claim = "sub", .leeway = 30,
				     .now = FUZZ_NOW };
	struct pot_claims c;

	/* the token as PAM hands it: a C string, read up to its length */
	if (pot_jwt_verify(kr, (const char *)data, size, &o, &c) == 0)
		pot_claims_free(&c);
	return 0;
}
