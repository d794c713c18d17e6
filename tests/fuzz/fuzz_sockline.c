/*
 * fuzz_sockline.c — libFuzzer harness: sock_req_parse, the request parser of potd's
 * refresh-token socket (helper/sock_req.c), on arbitrary lines as any local user can send
 * them; a parsed check's members are read to the end, as check_token and the log do.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "sock_req.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sock_req r;
	volatile size_t n = 0;

	if (size > 4096)		/* potd's line limit */
		return 0;
	if (sock_req_parse((const char *)data, size, &r) == SOCK_CHECK) {
		n += strlen(r.token) + strlen(r.user);
		n += r.service != NULL ? strlen(r.service) : 0;
		n += r.rhost != NULL ? strlen(r.rhost) : 0;
	} else if (r.why != NULL)
		n += strlen(r.why) + strlen(r.bad);
	sock_req_free(&r);
	return 0;
}
