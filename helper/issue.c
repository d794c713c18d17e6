/* issue.c — what every grant shares: signing access tokens and the scope rules. */
#include "config.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "potd.h"
#include "pot/err.h"
#include "pot/token.h"
#include "pot/util.h"

int
potd_issue_at(struct potd *d, const char *sub, const char *client_id, const char *scope,
	      int64_t auth_time, const char *grant, char **out, int64_t *expires_in)
{
	struct pot_at_params p = {
		.iss = d->conf->issuer, .sub = sub, .aud = d->conf->audience, .client_id = client_id,
		.scope = scope, .iat = potd_now(), .auth_time = auth_time, .grant = grant,
	};
	const char *kid;
	EVP_PKEY *key;
	int r;

	*out = NULL;
	p.exp = p.iat + (int64_t)d->conf->access_ttl;
	pthread_rwlock_rdlock(&d->ks_lock);
	if ((r = pot_keystore_signer(d->ks, p.iat, &key, &kid)) == POT_OK) {
		p.kid = kid;
		r = pot_at_sign(key, &p, out);
	}
	pthread_rwlock_unlock(&d->ks_lock);
	*expires_in = (int64_t)d->conf->access_ttl;
	return r;
}

/* RFC 6749 §5.1, written directly: the same bytes json_dumps made, without the objects. */
enum MHD_Result
potd_reply_tokens(struct MHD_Connection *c, const char *at, int64_t expires_in, const char *scope,
		  const char *rt)
{
	char *j_at = NULL, *j_scope = NULL, *j_rt = NULL, *body = NULL;
	enum MHD_Result ret = MHD_NO;
	int n;

	if (pot_json_escape(at, &j_at) != POT_OK || pot_json_escape(scope, &j_scope) != POT_OK ||
	    (rt != NULL && pot_json_escape(rt, &j_rt) != POT_OK))
		goto out;
	n = asprintf(&body, "{\"access_token\":%s,\"token_type\":\"Bearer\",\"expires_in\":%lld,"
		     "\"scope\":%s%s%s}", j_at, (long long)expires_in, j_scope,
		     rt != NULL ? ",\"refresh_token\":" : "", rt != NULL ? j_rt : "");
	if (n < 0) {
		body = NULL;
		goto out;
	}
	ret = potd_reply_text(c, 200, "application/json", body, "no-store");
out:
	pot_secret_free(body);		/* holds tokens */
	pot_secret_free(j_at);
	pot_secret_free(j_rt);
	free(j_scope);
	return ret;
}

/* Calls fn on each space-separated scope of list; stops when fn returns false. */
static bool
scope_each(const char *list, bool (*fn)(const char *, size_t, void *), void *arg)
{
	const char *p = list, *e;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		e = strchrnul(p, ' ');
		if (!fn(p, (size_t)(e - p), arg))
			return false;
		p = e;
	}
	return true;
}

static bool
in_allowed(const char *s, size_t n, void *allowed)
{
	return pot_scope_has(allowed, s, n);
}

bool
potd_scope_subset(const char *want, const char *allowed)
{
	return scope_each(want, in_allowed, (void *)(uintptr_t)allowed);
}

/* Is user in group (primary or supplementary)? */
static bool
user_in_group(const char *user, const char *group)
{
	char buf[16384];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char **m;

	if (getgrnam_r(group, &gr, buf, sizeof(buf), &grp) != 0 || grp == NULL)
		return false;
	for (m = grp->gr_mem; *m != NULL; m++)
		if (strcmp(*m, user) == 0)
			return true;
	{
		gid_t gid = grp->gr_gid;

		return getpwnam_r(user, &pw, buf, sizeof(buf), &pwp) == 0 && pwp != NULL &&
		       pwp->pw_gid == gid;
	}
}

/* Does the `who` list of a scope.NAME rule (names, @groups, *) include user? */
static bool
policy_allows(const char *who, const char *user)
{
	char item[POT_NAME_MAX + 1];
	const char *p = who, *e;
	size_t n;

	while (*p != '\0') {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		e = p + strcspn(p, " ,\t");
		n = (size_t)(e - p);
		if (n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			if (strcmp(item, "*") == 0 || strcmp(item, user) == 0 ||
			    (item[0] == '@' && user_in_group(user, item + 1)))
				return true;
		}
		p = e;
	}
	return false;
}

struct policy_ctx {
	const struct pot_conf *conf;
	const char *user;
	char *out;
	size_t outlen, used;
	bool overflow;
};

static bool
policy_one(const char *s, size_t n, void *arg)
{
	struct policy_ctx *pc = arg;
	size_t i;

	for (i = 0; i < pc->conf->nscopes; i++) {
		const struct pot_scope_rule *rule = &pc->conf->scopes[i];

		if (strlen(rule->scope) != n || memcmp(rule->scope, s, n) != 0)
			continue;
		if (!policy_allows(rule->who, pc->user) || pot_scope_has(pc->out, s, n))
			return true;
		if (pc->used + n + 2 > pc->outlen) {
			pc->overflow = true;
			return false;
		}
		if (pc->used != 0)
			pc->out[pc->used++] = ' ';
		memcpy(pc->out + pc->used, s, n);
		pc->used += n;
		pc->out[pc->used] = '\0';
		return true;
	}
	return true;			/* no rule: nobody is granted it */
}

int
potd_scope_policy(const struct pot_conf *conf, const char *user, const char *want, char *out,
		  size_t outlen)
{
	struct policy_ctx pc = { .conf = conf, .user = user, .out = out, .outlen = outlen };

	if (outlen == 0)
		return POT_ERR_TOO_LONG;
	out[0] = '\0';
	scope_each(want, policy_one, &pc);
	return pc.overflow ? POT_ERR_TOO_LONG : POT_OK;
}
