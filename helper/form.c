/* form.c — decoders of what clients send besides form bodies; see form.h. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "form.h"
#include "pot/err.h"
#include "pot/util.h"

int
potd_url_decode(const char *in, size_t len, char **out)
{
	char *o = malloc(len + 1), hex[3] = { 0 };
	size_t i, n = 0;

	*out = NULL;
	if (o == NULL)
		return POT_ERR_ALLOC;
	for (i = 0; i < len; i++) {
		if (in[i] == '%') {
			if (i + 2 >= len)
				goto bad;
			hex[0] = in[i + 1];
			hex[1] = in[i + 2];
			if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
				goto bad;
			o[n++] = (char)strtoul(hex, NULL, 16);
			i += 2;
		} else
			o[n++] = in[i] == '+' ? ' ' : in[i];
		if (o[n - 1] == '\0')
			goto bad;
	}
	o[n] = '\0';
	*out = o;
	return POT_OK;
bad:
	pot_wipe(o, len + 1);
	free(o);
	return POT_ERR_BAD_REQUEST;
}

int
potd_basic_credentials(const char *hdr, char **id, char **secret)
{
	unsigned char dec[1024];
	const char *b64, *colon;
	size_t len, pad = 0;
	int n, r = POT_ERR_BAD_REQUEST;

	*id = *secret = NULL;
	if (strncasecmp(hdr, "Basic ", 6) != 0)
		return POT_ERR_BAD_REQUEST;
	for (b64 = hdr + 6; *b64 == ' '; b64++)
		;
	len = strlen(b64);
	if (len > 4 * (sizeof(dec) / 3) - 4 ||
	    (n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)len)) < 0)
		return POT_ERR_BAD_REQUEST;
	/* EVP_DecodeBlock counts the padding as zero bytes: as many as there are '=' */
	while (pad < 2 && pad < len && b64[len - 1 - pad] == '=')
		pad++;
	if ((size_t)n < pad)
		goto out;
	n -= (int)pad;
	/* the id and the secret were form-urlencoded before base64 (RFC 6749 §2.3.1) */
	if ((colon = memchr(dec, ':', (size_t)n)) == NULL)
		goto out;
	r = potd_url_decode((const char *)dec, (size_t)(colon - (char *)dec), id);
	if (r == POT_OK)
		r = potd_url_decode(colon + 1, (size_t)n - (size_t)(colon + 1 - (char *)dec), secret);
	if (r != POT_OK) {
		free(*id);
		*id = NULL;
	}
out:
	pot_wipe(dec, sizeof(dec));
	return r;
}
