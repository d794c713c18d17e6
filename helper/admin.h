/*
 * admin.h — the administration operations behind `pot client|key|tokens|purge`. One
 * implementation, reached two ways: potd runs them for `pot` over its private socket
 * (state_dir/admin.sock, 0600) while it runs, and `pot` runs them itself, holding the
 * store's lock, while potd is down. Requests and replies are JSON objects:
 *   {"op":"client_add", ...} -> {"ok":true, ...} | {"ok":false, "error":"...", "usage":bool}
 */
#ifndef POT_ADMIN_H
#define POT_ADMIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "pot/conf.h"
#include "pot/keystore.h"
#include "pot/store.h"

#define POT_ADMIN_SOCKET	"admin.sock"	/* in state_dir */
#define POT_ADMIN_LINE_MAX	(64 * 1024)	/* a request line */
#define POT_ADMIN_REPLY_MAX	(16 * 1024 * 1024)	/* a reply line: lists of many tokens */

struct pot_admin {
	const struct pot_conf *conf;
	struct pot_store *store;
	struct pot_keystore *ks;
	pthread_rwlock_t *ks_lock;	/* NULL when single-threaded (pot itself) */
	/* called after a key change so the JWKS file is rewritten (potd: keys_publish) */
	void (*keys_changed)(void *arg);
	void *arg;
};

/*
 * Runs one request; returns a new reply object (never NULL unless out of memory).
 * Ops: client_add client_list client_remove key_new key_list key_retire tokens_list
 * tokens_revoke tokens_revoke_user purge. See admin.c for each one's members.
 */
json_t *pot_admin_run(struct pot_admin *a, json_t *req);
/* {"ok":false, "error":..., "usage":true when usage}: for replies made outside an op. */
json_t *pot_admin_error(bool usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wipes the reply's secret (client_add's client_secret), then frees it; NULL-safe. */
void pot_admin_reply_free(json_t *rep);
/* One syslog line per op: who (uid, pid), what (op and its non-secret names), outcome. */
void pot_admin_log(const json_t *req, const json_t *rep, unsigned long uid, long pid);

/*
 * admin_sock.c: serves `pot` on path (unlinks a stale socket, binds it 0600, listens),
 * one connection at a time in the calling thread, until *stop becomes non-zero (checked
 * every second). Each connection carries one request line and gets one reply line; only
 * root and potd's own uid are served (SO_PEERCRED). Returns POT_OK once stopped, or the
 * error that kept the socket from being made (logged).
 */
int pot_admin_serve(struct pot_admin *a, const char *path, volatile int *stop);

#endif
