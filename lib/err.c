/* err.c — reasons for pot_err codes, safe to log. */
#include "config.h"

#include "pot/err.h"

const char *
pot_strerror(int r)
{
	switch (r) {
	case POT_OK:			return "ok";
	case POT_ERR_ALLOC:		return "out of memory";
	case POT_ERR_IO:		return "unreadable or unsafe file";
	case POT_ERR_CONFIG:		return "bad configuration";
	case POT_ERR_MALFORMED:		return "malformed token";
	case POT_ERR_ALG:		return "bad algorithm";
	case POT_ERR_UNKNOWN_KEY:	return "unknown key";
	case POT_ERR_SIGNATURE:		return "bad signature";
	case POT_ERR_HEADER:		return "bad header";
	case POT_ERR_ISSUER:		return "untrusted issuer";
	case POT_ERR_AUDIENCE:		return "wrong audience";
	case POT_ERR_EXPIRED:		return "expired";
	case POT_ERR_NOT_YET:		return "not yet valid";
	case POT_ERR_CLAIMS:		return "missing or bad claim";
	case POT_ERR_USER:		return "token for another user";
	case POT_ERR_SCOPE:		return "missing scope";
	case POT_ERR_CRYPTO:		return "crypto library failure";
	case POT_ERR_TOO_LONG:		return "too long";
	case POT_ERR_NOT_FOUND:		return "not found";
	case POT_ERR_DENIED:		return "denied";
	case POT_ERR_STORE:		return "store failure";
	case POT_ERR_BAD_REQUEST:	return "bad request";
	case POT_ERR_UNAVAILABLE:	return "potd unavailable";
	case POT_ERR_REPLAY:		return "replayed code or refresh token";
	case POT_ERR_EXISTS:		return "already exists";
	case POT_ERR_BUSY:		return "store in use by another process";
	}
	return "unknown error";
}
