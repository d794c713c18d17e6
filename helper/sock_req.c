/* sock_req.c — one request line of potd's socket, parsed; see sock_req.h. */
#include "config.h"

#include <string.h>

#include "sock_req.h"
#include "pot/store.h"

/*
 * The string member key of req in *out (NULL when absent and optional); false, with *why
 * set, when a required one is absent or one is not a string. (json_loadb refused any
 * \u0000: a string ends at its NUL.)
 */
static bool
member(const json_t *req, const char *key, bool required, const char **out, const char **why)
{
	const json_t *v = json_object_get(req, key);

	*out = NULL;
	if (v == NULL) {
		*why = required ? "missing" : NULL;
		return !required;
	}
	if (!json_is_string(v)) {
		*why = "not a string";
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static enum sock_op
bad(struct sock_req *r, const char *what, const char *why)
{
	r->bad = what;
	r->why = why;
	return SOCK_BAD;
}

enum sock_op
sock_req_parse(const char *line, size_t len, struct sock_req *r)
{
	json_error_t jerr;
	const char *op, *why = NULL;

	memset(r, 0, sizeof(*r));
	if ((r->json = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r->position = jerr.position;
		return bad(r, "request", "not JSON");
	}
	if (!json_is_object(r->json))
		return bad(r, "request", "not an object");
	if (!member(r->json, "op", true, &op, &why))
		return bad(r, "op", why);
	if (strcmp(op, "ping") == 0)
		return SOCK_PING;
	if (strcmp(op, "check") != 0)
		return bad(r, "op", "unknown");
	if (!member(r->json, "token", true, &r->token, &why))
		return bad(r, "token", why);
	if (!member(r->json, "user", true, &r->user, &why))
		return bad(r, "user", why);
	if (!member(r->json, "service", false, &r->service, &why))
		return bad(r, "service", why);
	if (!member(r->json, "rhost", false, &r->rhost, &why))
		return bad(r, "rhost", why);
	if (*r->user == '\0' || strlen(r->user) >= POT_NAME_MAX)
		return bad(r, "user", "empty or too long");
	return SOCK_CHECK;
}

void
sock_req_free(struct sock_req *r)
{
	json_decref(r->json);		/* held the token: potd has jansson wipe what it frees */
	memset(r, 0, sizeof(*r));
}
