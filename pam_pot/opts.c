/* opts.c — module arguments over pot.conf, through the one pot_conf_set parser. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>

#include "pam_pot.h"
#include "pot/err.h"
#include "pot/util.h"

/* pot.conf keys a module argument may override. */
static const char *const conf_args[] = {
	"issuer", "audience", "jwks", "socket", "socket_timeout", "leeway", "user_claim", NULL
};

static bool
is_conf_arg(const char *key)
{
	const char *const *k;

	for (k = conf_args; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return true;
	return false;
}

static int
opts_apply(pam_handle_t *pamh, struct pot_opts *o, const char *arg)
{
	char key[32], why[256];
	const char *v, *eq;
	int r;

	if (strcmp(arg, "use_first_pass") == 0)
		o->use_first_pass = true;
	else if (strcmp(arg, "try_first_pass") == 0)
		o->try_first_pass = true;
	else if (strcmp(arg, "no_refresh") == 0)
		o->no_refresh = true;
	else if (strcmp(arg, "allow_root") == 0)
		o->allow_root = true;
	else if (strcmp(arg, "debug") == 0)
		o->debug = true;
	else if (pot_skip_prefix(arg, "config=") != NULL)
		;				/* read first, in pot_opts_parse */
	else if ((v = pot_skip_prefix(arg, "prompt=")) != NULL)
		o->prompt = v;
	else if ((v = pot_skip_prefix(arg, "scope=")) != NULL) {
		if (!pot_scopes_valid(v)) {
			pam_syslog(pamh, LOG_ERR, "bad module argument `%s`: not a scope list", arg);
			return PAM_SERVICE_ERR;
		}
		o->scope = v;
	} else if ((eq = strchr(arg, '=')) != NULL && (size_t)(eq - arg) < sizeof(key)) {
		memcpy(key, arg, (size_t)(eq - arg));
		key[eq - arg] = '\0';
		if (!is_conf_arg(key)) {
			pam_syslog(pamh, LOG_ERR, "unknown module argument `%s`", arg);
			return PAM_SERVICE_ERR;
		}
		if ((r = pot_conf_set(&o->conf, key, eq + 1, why, sizeof(why))) != POT_OK) {
			pam_syslog(pamh, LOG_ERR, "bad module argument `%s`: %s", arg,
				   r == POT_ERR_ALLOC ? "out of memory" : why);
			return r == POT_ERR_ALLOC ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		}
	} else {
		pam_syslog(pamh, LOG_ERR, "unknown module argument `%s`", arg);
		return PAM_SERVICE_ERR;
	}
	return PAM_SUCCESS;
}

/*
 * pot.conf parsed once per process, like the keys: reused while the file keeps its
 * identity (device, inode, size, mtime and ctime — a chmod changes ctime), re-read and
 * re-checked (owner, mode, O_NOFOLLOW) through pot_conf_load otherwise.
 */
static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *path;
	uid_t euid;
	struct stat st;
	struct pot_conf conf;
	bool valid;
} cache;

static int
conf_load_cached(struct pot_conf *c, const char *path, bool required, uid_t euid,
		 char *why, size_t whylen)
{
	struct stat st;
	bool have;
	int r;

	have = fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
	pthread_mutex_lock(&conf_lock);
	if (have && cache.valid && cache.euid == euid && strcmp(cache.path, path) == 0 &&
	    pot_same_file(&st, &cache.st)) {
		pot_conf_free(c);
		r = pot_conf_copy(c, &cache.conf);
		pthread_mutex_unlock(&conf_lock);
		return r;
	}
	r = pot_conf_load(c, path, required, euid, why, whylen);
	if (r == POT_OK && have) {
		if (cache.valid) {
			pot_conf_free(&cache.conf);
			free(cache.path);
			cache.valid = false;
		}
		if ((cache.path = strdup(path)) != NULL && pot_conf_copy(&cache.conf, c) == POT_OK) {
			cache.st = st;
			cache.euid = euid;
			cache.valid = true;
		}
	}
	pthread_mutex_unlock(&conf_lock);
	return r;
}

int
pot_opts_parse(pam_handle_t *pamh, int argc, const char **argv, struct pot_opts *o)
{
	const char *path = POT_CONF_DEFAULT, *v;
	bool explicit = false;
	char why[512];
	int i, r;

	memset(o, 0, sizeof(*o));
	o->scope = POT_SCOPE_DEFAULT;
	o->prompt = POT_PROMPT_DEFAULT;
	if (pot_conf_init(&o->conf) != POT_OK)
		return PAM_BUF_ERR;
	for (i = 0; i < argc; i++)
		if ((v = pot_skip_prefix(argv[i], "config=")) != NULL) {
			path = v;
			explicit = true;
		}
	r = conf_load_cached(&o->conf, path, explicit, geteuid(), why, sizeof(why));
	if (r != POT_OK) {
		pam_syslog(pamh, LOG_ERR, "%s", r == POT_ERR_ALLOC ? "out of memory" : why);
		return r == POT_ERR_ALLOC ? PAM_BUF_ERR : PAM_SERVICE_ERR;
	}
	for (i = 0; i < argc; i++)
		if ((r = opts_apply(pamh, o, argv[i])) != PAM_SUCCESS)
			return r;
	if (pot_conf_finish(&o->conf) != POT_OK)
		return PAM_BUF_ERR;
	return PAM_SUCCESS;
}

void
pot_opts_free(struct pot_opts *o)
{
	pot_conf_free(&o->conf);
}
