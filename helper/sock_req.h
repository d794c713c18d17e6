/* sock_req.h — one request line of potd's socket, parsed (sock.c; tests/fuzz/fuzz_sockline). */
#ifndef POTD_SOCK_REQ_H
#define POTD_SOCK_REQ_H

#include <stddef.h>

#include <jansson.h>

enum sock_op { SOCK_BAD, SOCK_PING, SOCK_CHECK };

struct sock_req {
	json_t *json;		/* owns the strings below: sock_req_free */
	const char *token, *user, *service, *rhost;	/* service, rhost may be NULL */
	const char *bad;	/* SOCK_BAD: which part ("request", "op", "token", ...) */
	const char *why;	/* SOCK_BAD: what is wrong with it; never the input itself */
	int position;		/* SOCK_BAD, not JSON: the byte where parsing stopped */
};

/*
 * Parses one line (without its newline): strict JSON (no duplicate member, nothing
 * after), an object whose "op" is "ping" or "check"; a check has string members token and
 * user (1..POT_NAME_MAX - 1 bytes), and service and rhost when present. Other members are
 * ignored. Never logs: why and bad are constant strings (the parser's own message quotes
 * the input, which may hold a token).
 */
enum sock_op sock_req_parse(const char *line, size_t len, struct sock_req *r);
/* Frees what sock_req_parse kept; r may be reused. */
void sock_req_free(struct sock_req *r);

#endif
