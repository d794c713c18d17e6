/*
 * fuzz_conf.c — libFuzzer harness: pot_conf_parse, the one parser behind pot.conf and the
 * module arguments (every key, value checks, scope.NAME rules, trust lines), on arbitrary
 * text; then the derived defaults and a deep copy, as potd's reload does.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pot/conf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pot_conf c, copy;
	char err[512], *buf;

	if (size > 65536 || (buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (pot_conf_init(&c) == 0) {
		if (pot_conf_parse(&c, buf, size, "fuzz.conf", err, sizeof(err)) == 0 &&
		    pot_conf_finish(&c) == 0 && pot_conf_copy(&copy, &c) == 0)
			pot_conf_free(&copy);
		pot_conf_free(&c);
	}
	free(buf);
	return 0;
}
