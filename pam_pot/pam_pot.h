/* pam_pot.h — the module's private interface: options, the auth core, logging. */
#ifndef PAM_POT_H
#define PAM_POT_H

#include <stdbool.h>
#include <security/pam_modules.h>

#include "pot/conf.h"

#define POT_PROMPT_DEFAULT	"Password: "
#define POT_SCOPE_DEFAULT	"%s"
#define POT_DATA_RESULT		"pam_pot_result"
#define POT_SUDO_MAX		511	/* sudo's PAM_MAX_RESP_SIZE - 1 */

struct pot_opts {
	struct pot_conf conf;
	const char *scope;		/* required scopes, comma-separated templates */
	const char *prompt;
	bool use_first_pass;
	bool try_first_pass;
	bool no_refresh;
	bool allow_root;
	bool debug;
};

/* What auth proved, kept in the handle for account and session. */
struct pot_result {
	char *user;
	char *sub;
	char *scope;
	char *client_id;
	char *jti;
	long long exp;
};

/* opts.c: pot.conf first, then the arguments; PAM_SERVICE_ERR on any bad one. */
int pot_opts_parse(pam_handle_t *pamh, int argc, const char **argv, struct pot_opts *o);
void pot_opts_free(struct pot_opts *o);

/* auth.c */
int pot_auth_run(pam_handle_t *pamh, const struct pot_opts *o);
int pot_acct_run(pam_handle_t *pamh, const struct pot_opts *o);
int pot_session_open(pam_handle_t *pamh, const struct pot_opts *o);

/*
 * refresh.c: potd checks a refresh token over its socket. POT_OK fills *out (user,
 * scope, client_id, exp); POT_ERR_UNAVAILABLE when potd cannot be reached or answer;
 * POT_ERR_USER, POT_ERR_DENIED otherwise. *why is a log-safe reason.
 */
struct pot_claims;
int pot_refresh_check(pam_handle_t *pamh, const struct pot_opts *o, const char *user,
		      const char *token, struct pot_claims *out, const char **why);

/* scope.c: are all required scopes (templates expanded) in `granted`? */
int pot_scopes_check(pam_handle_t *pamh, const char *required, const char *user,
		     const char *granted, char *missing, size_t missinglen);

/* Is `required` a well-formed list: non-empty items, scope characters, %u %h %s %%? */
bool pot_scopes_valid(const char *required);

/* log.c: one line per decision, never a secret. */
void pot_log_decision(pam_handle_t *pamh, const char *fn, int result, const char *reason,
		      const char *user, const char *jti, const char *client_id);

#endif
