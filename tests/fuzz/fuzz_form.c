/*
 * fuzz_form.c — libFuzzer harness: potd's decoders of client credentials
 * (helper/form.c): an Authorization: Basic value (base64 of two form-urlencoded halves,
 * RFC 6749 §2.3.1) and form-urlencoding itself, on arbitrary bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "fuzz.h"
#include "pot/util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr, *id = NULL, *secret = NULL, *dec = NULL;

	if (size > 8192 || (hdr = malloc(size + 7)) == NULL)
		return 0;
	memcpy(hdr, "Basic ", 6);
	memcpy(hdr + 6, data, size);
	hdr[size + 6] = '\0';
	if (potd_basic_credentials(hdr, &id, &secret) == 0 && (id == NULL || secret == NULL))
		abort();			/* success gives both */
	free(id);
	pot_secret_free(secret);
	if (potd_url_decode((const char *)data, size, &dec) == 0 && strlen(dec) > size)
		abort();			/* a decoding never grows */
	free(dec);
	free(hdr);
	return 0;
}
