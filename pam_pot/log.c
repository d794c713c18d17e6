/* log.c — one pam_syslog line per decision: who, what, why; never the token. */
#include "config.h"

#include <syslog.h>

#include <security/pam_ext.h>

#include "pam_pot.h"
#include "pot/util.h"

static const char *
pam_result_name(int r)
{
	switch (r) {
	case PAM_SUCCESS:		return "PAM_SUCCESS";
	case PAM_AUTH_ERR:		return "PAM_AUTH_ERR";
	case PAM_PERM_DENIED:		return "PAM_PERM_DENIED";
	case PAM_USER_UNKNOWN:		return "PAM_USER_UNKNOWN";
	case PAM_AUTHINFO_UNAVAIL:	return "PAM_AUTHINFO_UNAVAIL";
	case PAM_SERVICE_ERR:		return "PAM_SERVICE_ERR";
	case PAM_CONV_ERR:		return "PAM_CONV_ERR";
	case PAM_BUF_ERR:		return "PAM_BUF_ERR";
	case PAM_IGNORE:		return "PAM_IGNORE";
	case PAM_SYSTEM_ERR:		return "PAM_SYSTEM_ERR";
	}
	return "PAM_?";
}

void
pot_log_decision(pam_handle_t *pamh, const char *fn, int result, const char *reason,
		 const char *user, const char *jti, const char *client_id)
{
	const void *service = NULL, *rhost = NULL;
	char b_user[64], b_svc[64], b_rhost[128], b_jti[80], b_cid[80];

	(void)pam_get_item(pamh, PAM_SERVICE, &service);
	(void)pam_get_item(pamh, PAM_RHOST, &rhost);
	pam_syslog(pamh, result == PAM_SUCCESS ? LOG_INFO : LOG_NOTICE,
		   "%s result=%s reason=\"%s\" user=%s service=%s rhost=%s jti=%s client_id=%s",
		   fn, pam_result_name(result), reason,
		   pot_log_safe(user, b_user, sizeof(b_user)),
		   pot_log_safe(service, b_svc, sizeof(b_svc)),
		   pot_log_safe(rhost, b_rhost, sizeof(b_rhost)),
		   pot_log_safe(jti, b_jti, sizeof(b_jti)),
		   pot_log_safe(client_id, b_cid, sizeof(b_cid)));
}
