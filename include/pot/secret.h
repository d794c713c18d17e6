/* pot/secret.h — opaque secrets (refresh tokens, codes, client secrets) and their ids. */
#ifndef POT_SECRET_H
#define POT_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define POT_RT_PREFIX		"pot_rt_"
#define POT_CODE_PREFIX		"pot_ac_"
#define POT_CS_PREFIX		"pot_cs_"
#define POT_SECRET_B64		43	/* base64url of 256 random bits */
#define POT_SECRET_LEN		(7 + POT_SECRET_B64)	/* prefix + body, without NUL */
#define POT_PEPPER_LEN		32

/* prefix + 43 base64url characters of 256 random bits; out holds POT_SECRET_LEN + 1. */
int pot_secret_generate(const char *prefix, char out[POT_SECRET_LEN + 1]);
/*
 * The same shape, derived: prefix + base64url(HMAC-SHA256(key, label || seed)). Used to
 * re-derive a rotated refresh token's successor inside the grace window without storing
 * it (nothing in the database can be turned into a usable token).
 */
int pot_secret_derive(const unsigned char key[POT_PEPPER_LEN], const char *label, const char *seed,
		      const char *prefix, char out[POT_SECRET_LEN + 1]);
/* Exactly prefix + 43 base64url characters. */
bool pot_secret_well_formed(const char *s, const char *prefix);
/*
 * The record key of a secret: HMAC-SHA256 under the pepper. Thread-safe: each thread keeps
 * one HMAC context keyed with the last pepper it used (wiped when the thread exits).
 */
int pot_secret_id(const unsigned char pepper[POT_PEPPER_LEN], const char *secret, unsigned char id[32]);

#endif
