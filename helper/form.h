/* form.h — decoders of what clients send besides form bodies (helper/form.c). */
#ifndef POTD_FORM_H
#define POTD_FORM_H

#include <stddef.h>

/*
 * application/x-www-form-urlencoded of in[0..len) ('+' is a space, %XX a byte) into a new
 * string; POT_ERR_BAD_REQUEST for a bad escape or a NUL. Free with pot_secret_free when
 * it may hold a secret.
 */
int potd_url_decode(const char *in, size_t len, char **out);
/*
 * The client id and secret of an "Authorization: Basic" value (RFC 7617), each
 * form-urlencoded before base64 (RFC 6749 §2.3.1); POT_ERR_BAD_REQUEST when malformed.
 */
int potd_basic_credentials(const char *hdr, char **id, char **secret);

#endif
