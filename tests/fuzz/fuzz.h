/* fuzz.h — shared by the libFuzzer harnesses (tests/fuzz/fuzz.sh builds them). */
#ifndef POT_FUZZ_H
#define POT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "pot/keys.h"

/* libFuzzer's entry points, which replay.c also calls */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ISSUER	"https://pot.fuzz"
#define FUZZ_NOW	1900000000	/* the seeds' iat is 1899999000, exp 1900000600 */

/* A keyring of FUZZ_SRCDIR/corpus/NAME for issuer; exits on failure. */
struct pot_keyring *fuzz_keyring_from(const char *name, const char *issuer);
/* A keyring of a new ES256 key, whose private half and kid are returned. */
struct pot_keyring *fuzz_keyring_generated(EVP_PKEY **key, char **kid, const char *issuer);

#endif
