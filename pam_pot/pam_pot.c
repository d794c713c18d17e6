/* pam_pot.c — the PAM entry points: parse, run, free; nothing else. */
#include "config.h"

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_pot.h"

int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pot_opts opts;
	int rc = pot_opts_parse(pamh, argc, argv, &opts);

	(void)flags;
	if (rc == PAM_SUCCESS)
		rc = pot_auth_run(pamh, &opts);		/* PAM_AUTH_ERR unless proven */
	pot_opts_free(&opts);
	return rc;
}

int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pot_opts opts;
	int rc = pot_opts_parse(pamh, argc, argv, &opts);

	(void)flags;
	if (rc == PAM_SUCCESS)
		rc = pot_acct_run(pamh, &opts);		/* PAM_IGNORE when no token was seen */
	pot_opts_free(&opts);
	return rc;
}

int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pot_opts opts;
	int rc = pot_opts_parse(pamh, argc, argv, &opts);

	(void)flags;
	if (rc == PAM_SUCCESS)
		rc = pot_session_open(pamh, &opts);
	pot_opts_free(&opts);
	return rc;
}

int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const void *data;

	(void)flags;
	(void)argc;
	(void)argv;
	return pam_get_data(pamh, POT_DATA_RESULT, &data) == PAM_SUCCESS ? PAM_SUCCESS : PAM_IGNORE;
}

int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;		/* tokens are changed at potd, not here */
}
