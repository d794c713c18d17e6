/* pot/conf.h — pot.conf and the module arguments that override it: one parser. */
#ifndef POT_CONF_H
#define POT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define POT_CONF_DEFAULT	"/etc/pot/pot.conf"
#define POT_CONF_MAX		(64 * 1024)

struct pot_trust {
	char *issuer;
	char *jwks;
};

struct pot_scope_rule {
	char *scope;		/* NAME of scope.NAME */
	char *who;		/* "alice @wheel *" */
};

struct pot_conf {
	char *issuer;
	char *audience;
	char *jwks;		/* NULL: <state_dir>/jwks.json */
	char *state_dir;
	char *socket;
	char *listen;
	char *tls_cert;
	char *tls_key;
	char *login_service;
	char *user_claim;
	char *user;
	unsigned long access_ttl;
	unsigned long refresh_ttl;
	unsigned long refresh_max;
	unsigned long code_ttl;
	unsigned long leeway;
	unsigned long key_activation_delay;
	unsigned long socket_timeout;	/* seconds pam_pot waits for potd's socket */
	struct pot_trust *trust;
	size_t ntrust;
	struct pot_scope_rule *scopes;
	size_t nscopes;
};

/* Fills in every default of DESIGN.md. */
int pot_conf_init(struct pot_conf *c);
void pot_conf_free(struct pot_conf *c);

/*
 * Sets one key. The single parser behind both the file and the module arguments.
 * Unknown key or bad value: POT_ERR_CONFIG with the reason in err.
 */
int pot_conf_set(struct pot_conf *c, const char *key, const char *value, char *err, size_t errlen);

/*
 * Reads `key = value` lines. Errors name path:line. A missing file is an error only
 * when required. The file must be owned by root or owner and not group/other-writable.
 */
int pot_conf_load(struct pot_conf *c, const char *path, bool required, uid_t owner,
		  char *err, size_t errlen);

/*
 * The parser behind pot_conf_load: buf[0..len) holds the file's text and buf[len] is a
 * NUL; the buffer is modified. `name` is used in messages (path:line: reason).
 */
int pot_conf_parse(struct pot_conf *c, char *buf, size_t len, const char *name, char *err,
		   size_t errlen);

/* After the file and the arguments: derives defaults (jwks = <state_dir>/jwks.json). */
int pot_conf_finish(struct pot_conf *c);
/* A deep copy (dst is overwritten, not freed). */
int pot_conf_copy(struct pot_conf *dst, const struct pot_conf *src);

#endif
