/*
 * fuzz_jwks.c — libFuzzer harness: pot_jwks_parse, the RFC 7517 JWK Set parser (EC P-256
 * and RSA public keys, strict base64url, kid required), on arbitrary bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "pot/keys.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pot_jwks *j = NULL;
	char err[256];

	if (pot_jwks_parse((const char *)data, size, "https://fuzz.example", &j, err,
			   sizeof(err)) == 0)
		pot_jwks_free(j);
	return 0;
}
