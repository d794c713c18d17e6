/*
 * pot-mint — test and demo tool: makes keys and JWK Sets and signs tokens with the
 * project's own signer (lib/jws.c). Not installed.
 *
 *   pot-mint keygen --alg ES256|RS256 --key OUT.pem
 *   pot-mint jwks KEY.pem...                   (public JWK Set on stdout)
 *   pot-mint sign --key KEY.pem --iss I --aud A --sub U [--scope S] [--client-id C]
 *                 [--ttl N] [--iat-offset N] [--typ T] [--payload JSON]
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "pot/err.h"
#include "pot/keys.h"
#include "pot/token.h"
#include "pot/util.h"

static int
usage(void)
{
	fprintf(stderr, "usage: pot-mint keygen --alg ES256|RS256 --key OUT.pem\n"
			"       pot-mint jwks KEY.pem...\n"
			"       pot-mint sign --key KEY.pem --iss ISS --aud AUD --sub USER [--scope S]\n"
			"                     [--client-id C] [--ttl N] [--iat-offset N] [--typ T]\n"
			"                     [--payload JSON]\n");
	return 2;
}

static EVP_PKEY *
load_key(const char *path)
{
	EVP_PKEY *k;
	char err[512];

	if (pot_key_load_pem(path, &k, err, sizeof(err)) != POT_OK) {
		fprintf(stderr, "pot-mint: %s\n", err);
		return NULL;
	}
	return k;
}

static int
cmd_keygen(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "alg", required_argument, NULL, 'a' }, { "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 } };
	const char *alg = "ES256", *path = NULL;
	EVP_PKEY *k = NULL;
	char *kid = NULL;
	FILE *f;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'a')
			alg = optarg;
		else if (c == 'k')
			path = optarg;
		else
			return usage();
	}
	if (path == NULL || pot_alg_from_name(alg) == POT_ALG_UNKNOWN)
		return usage();
	if (pot_key_generate(pot_alg_from_name(alg), &k) != POT_OK || pot_jwk_thumbprint(k, &kid) != 0)
		return 1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		perror(path);
		return 1;
	}
	if (!PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0)
		return 1;
	printf("%s\n", kid);
	free(kid);
	EVP_PKEY_free(k);
	return 0;
}

static int
cmd_jwks(int argc, char **argv)
{
	json_t *set = json_array(), *jwk, *doc;
	EVP_PKEY *k;
	int i, r;

	for (i = 1; i < argc; i++) {
		if ((k = load_key(argv[i])) == NULL || pot_jwk_public(k, &jwk) != POT_OK)
			return 1;
		json_array_append_new(set, jwk);
		EVP_PKEY_free(k);
	}
	doc = json_pack("{s:o}", "keys", set);
	r = doc != NULL && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
	json_decref(doc);
	putchar('\n');
	return r;
}

static int
cmd_sign(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' }, { "iss", required_argument, NULL, 'i' },
		{ "aud", required_argument, NULL, 'a' }, { "sub", required_argument, NULL, 's' },
		{ "scope", required_argument, NULL, 'S' }, { "client-id", required_argument, NULL, 'c' },
		{ "ttl", required_argument, NULL, 't' }, { "iat-offset", required_argument, NULL, 'o' },
		{ "typ", required_argument, NULL, 'y' }, { "payload", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 } };
	struct pot_at_params p = { .client_id = "pot-mint", .scope = "" };
	const char *keypath = NULL, *typ = NULL, *payload = NULL;
	long ttl = 600, off = 0;
	char *tok = NULL, *kid = NULL, *built = NULL;
	EVP_PKEY *k;
	int c, r;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k': keypath = optarg; break;
		case 'i': p.iss = optarg; break;
		case 'a': p.aud = optarg; break;
		case 's': p.sub = optarg; break;
		case 'S': p.scope = optarg; break;
		case 'c': p.client_id = optarg; break;
		case 't': ttl = strtol(optarg, NULL, 10); break;
		case 'o': off = strtol(optarg, NULL, 10); break;
		case 'y': typ = optarg; break;
		case 'p': payload = optarg; break;
		default: return usage();
		}
	}
	if (keypath == NULL || (payload == NULL && (p.iss == NULL || p.aud == NULL || p.sub == NULL)))
		return usage();
	if ((k = load_key(keypath)) == NULL)
		return 1;
	p.iat = (long long)time(NULL) + off;
	p.exp = p.iat + ttl;
	if (payload == NULL && typ != NULL) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", p.iss,
				      "sub", p.sub, "aud", p.aud, "exp", (json_int_t)p.exp,
				      "iat", (json_int_t)p.iat, "client_id", p.client_id,
				      "scope", p.scope);

		payload = built = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	if (payload != NULL) {
		if ((r = pot_jwk_thumbprint(k, &kid)) == POT_OK)
			r = pot_jws_sign(k, kid, typ != NULL ? typ : "at+jwt", payload, &tok);
	} else
		r = pot_at_sign(k, &p, &tok);
	if (r != POT_OK) {
		fprintf(stderr, "pot-mint: %s\n", pot_strerror(r));
		return 1;
	}
	printf("%s\n", tok);
	free(tok);
	free(kid);
	free(built);
	EVP_PKEY_free(k);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "jwks") == 0)
		return cmd_jwks(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	return usage();
}
