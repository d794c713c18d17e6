/* fuzz_common.c — keyrings for the harnesses. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "fuzz.h"
#include "pot/err.h"

static struct pot_keyring *
keyring(const char *path, const char *issuer)
{
	const char *issuers[1] = { issuer }, *paths[1] = { path };
	struct pot_keyring *kr = pot_keyring_new();
	char err[512];

	if (kr == NULL || pot_keyring_sync(kr, issuers, paths, 1, err, sizeof(err)) != POT_OK) {
		fprintf(stderr, "fuzz: keyring of %s: %s\n", path, kr != NULL ? err : "out of memory");
		exit(1);
	}
	return kr;
}

struct pot_keyring *
fuzz_keyring_from(const char *name, const char *issuer)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/corpus/%s", FUZZ_SRCDIR, name);
	return keyring(path, issuer);
}

struct pot_keyring *
fuzz_keyring_generated(EVP_PKEY **key, char **kid, const char *issuer)
{
	char path[] = "/tmp/pot-fuzz-jwks.XXXXXX";
	json_t *jwk = NULL, *set;
	struct pot_keyring *kr;
	int fd;

	if (pot_key_generate(POT_ALG_ES256, key) != POT_OK || pot_jwk_thumbprint(*key, kid) != POT_OK ||
	    pot_jwk_public(*key, &jwk) != POT_OK) {
		fprintf(stderr, "fuzz: cannot make a key\n");
		exit(1);
	}
	set = json_pack("{s:[o]}", "keys", jwk);
	if (set == NULL || (fd = mkstemp(path)) == -1 || json_dumpfd(set, fd, 0) != 0 ||
	    fchmod(fd, 0644) != 0 || close(fd) != 0) {
		fprintf(stderr, "fuzz: cannot write %s\n", path);
		exit(1);
	}
	json_decref(set);
	kr = keyring(path, issuer);
	unlink(path);
	return kr;
}
