/* pot/err.h — the one error code set of pam_pot, converted to PAM/HTTP at the edge. */
#ifndef POT_ERR_H
#define POT_ERR_H

enum pot_err {
	POT_OK = 0,
	POT_ERR_ALLOC = -1,		/* out of memory */
	POT_ERR_IO = -2,		/* a file cannot be read or is unsafe */
	POT_ERR_CONFIG = -3,		/* bad configuration or module argument */
	POT_ERR_MALFORMED = -4,		/* not a well-formed JWS/JWT */
	POT_ERR_ALG = -5,		/* alg none, HMAC, or not the key's algorithm */
	POT_ERR_UNKNOWN_KEY = -6,	/* no trusted key with this kid */
	POT_ERR_SIGNATURE = -7,		/* signature does not verify */
	POT_ERR_HEADER = -8,		/* bad typ, a crit header, ... */
	POT_ERR_ISSUER = -9,		/* iss missing, untrusted, or not the key's issuer */
	POT_ERR_AUDIENCE = -10,		/* aud does not contain our audience */
	POT_ERR_EXPIRED = -11,		/* exp in the past beyond leeway */
	POT_ERR_NOT_YET = -12,		/* nbf or iat in the future beyond leeway */
	POT_ERR_CLAIMS = -13,		/* a required claim missing or of the wrong type */
	POT_ERR_USER = -14,		/* token names another user */
	POT_ERR_SCOPE = -15,		/* a required scope is missing */
	POT_ERR_CRYPTO = -16,		/* OpenSSL failed internally */
	POT_ERR_TOO_LONG = -17,		/* input longer than any valid one */
	POT_ERR_NOT_FOUND = -18,
	POT_ERR_DENIED = -19,
	POT_ERR_STORE = -20,
	POT_ERR_BAD_REQUEST = -21,
	POT_ERR_UNAVAILABLE = -22,	/* potd cannot be reached */
	POT_ERR_REPLAY = -23,		/* a used code or superseded refresh token again: its grant is revoked */
	POT_ERR_EXISTS = -24,		/* a record with this key exists already */
	POT_ERR_BUSY = -25,		/* the store is open in another process */
};

/* A short, log-safe reason ("bad signature", "expired", ...). Never NULL. */
const char *pot_strerror(int r);

#endif
