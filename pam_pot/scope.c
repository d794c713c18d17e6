/* scope.c — required scopes: comma-separated templates %u %h %s, all needed. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>

#include "pam_pot.h"
#include "pot/err.h"
#include "pot/token.h"

#define SCOPE_MAX 256

static void
short_hostname(char *buf, size_t len)
{
	char *dot;

	if (gethostname(buf, len) != 0)
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
	if ((dot = strchr(buf, '.')) != NULL)
		*dot = '\0';
}

/* Expands one template [p, e) into out; PAM_SERVICE_ERR for an unknown %x or overflow. */
static int
scope_expand(pam_handle_t *pamh, const char *p, const char *e, const char *user,
	     char *out, size_t outlen)
{
	const void *service = NULL;
	char host[256];
	const char *sub;
	size_t o = 0, n;

	for (; p < e; p++) {
		sub = NULL;
		if (*p == '%' && p + 1 < e) {
			switch (*++p) {
			case 'u': sub = user; break;
			case 's':
				(void)pam_get_item(pamh, PAM_SERVICE, &service);
				sub = service != NULL ? service : "";
				break;
			case 'h': short_hostname(host, sizeof(host)); sub = host; break;
			case '%': sub = "%"; break;
			default: return PAM_SERVICE_ERR;
			}
		} else if (*p == '%')
			return PAM_SERVICE_ERR;
		n = sub != NULL ? strlen(sub) : 1;
		if (o + n >= outlen)
			return PAM_SERVICE_ERR;
		memcpy(out + o, sub != NULL ? sub : p, n);
		o += n;
	}
	out[o] = '\0';
	return o != 0 ? PAM_SUCCESS : PAM_SERVICE_ERR;
}

int
pot_scopes_check(pam_handle_t *pamh, const char *required, const char *user,
		 const char *granted, char *missing, size_t missinglen)
{
	char want[SCOPE_MAX];
	const char *p = required, *e;
	int rc;

	missing[0] = '\0';
	for (;;) {
		e = strchrnul(p, ',');
		if ((rc = scope_expand(pamh, p, e, user, want, sizeof(want))) != PAM_SUCCESS) {
			pam_syslog(pamh, LOG_ERR, "bad scope template in `scope=%s`", required);
			return rc;
		}
		if (!pot_scope_has(granted, want, strlen(want))) {
			snprintf(missing, missinglen, "%s", want);
			return PAM_PERM_DENIED;
		}
		if (*e == '\0')
			return PAM_SUCCESS;
		p = e + 1;
	}
}

bool
pot_scopes_valid(const char *required)
{
	const char *p;
	bool empty = true;

	for (p = required; *p != '\0'; p++) {
		if (*p == ',') {
			if (empty)
				return false;
			empty = true;
			continue;
		}
		if (*p == '%' && (p[1] == 'u' || p[1] == 'h' || p[1] == 's' || p[1] == '%'))
			p++;
		else if (*p == '%' || *p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			return false;
		empty = false;
	}
	return !empty;
}
