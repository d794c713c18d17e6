/* config.c — pot.conf: `key = value` lines; the same setter serves module arguments. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pot/conf.h"
#include "pot/err.h"
#include "pot/util.h"

enum conf_type { CONF_STR, CONF_UINT };

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset;
	unsigned long min, max;
};

#define STR_KEY(f)		{ #f, CONF_STR, offsetof(struct pot_conf, f), 0, 0 }
#define UINT_KEY(f, lo, hi)	{ #f, CONF_UINT, offsetof(struct pot_conf, f), lo, hi }

static const struct conf_key conf_keys[] = {
	STR_KEY(issuer),
	STR_KEY(audience),
	STR_KEY(jwks),
	STR_KEY(state_dir),
	STR_KEY(socket),
	STR_KEY(listen),
	STR_KEY(tls_cert),
	STR_KEY(tls_key),
	STR_KEY(login_service),
	STR_KEY(user_claim),
	STR_KEY(user),
	UINT_KEY(access_ttl, 30, 86400),
	UINT_KEY(refresh_ttl, 60, 31536000),
	UINT_KEY(refresh_max, 60, 315360000),
	UINT_KEY(code_ttl, 10, 600),
	UINT_KEY(leeway, 0, 300),
	UINT_KEY(key_activation_delay, 0, 604800),
	UINT_KEY(socket_timeout, 1, 30),
};

static int
set_str(char **dst, const char *value)
{
	char *s = strdup(value);

	if (s == NULL)
		return POT_ERR_ALLOC;
	free(*dst);
	*dst = s;
	return POT_OK;
}

int
pot_conf_init(struct pot_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->access_ttl = 600;
	c->refresh_ttl = 2592000;
	c->refresh_max = 7776000;
	c->code_ttl = 60;
	c->leeway = 30;
	c->key_activation_delay = 600;
	c->socket_timeout = 3;
	if (set_str(&c->issuer, "http://127.0.0.1:8740") != 0 ||
	    set_str(&c->audience, "pot") != 0 ||
	    set_str(&c->state_dir, "/var/lib/pot") != 0 ||
	    set_str(&c->socket, "/run/pot/potd.sock") != 0 ||
	    set_str(&c->listen, "127.0.0.1:8740") != 0 ||
	    set_str(&c->login_service, "potd") != 0 ||
	    set_str(&c->user_claim, "sub") != 0 ||
	    set_str(&c->user, "pot") != 0) {
		pot_conf_free(c);
		return POT_ERR_ALLOC;
	}
	return POT_OK;
}

void
pot_conf_free(struct pot_conf *c)
{
	const struct conf_key *k;
	size_t i;

	if (c == NULL)
		return;
	for (k = conf_keys; k < conf_keys + sizeof(conf_keys) / sizeof(conf_keys[0]); k++)
		if (k->type == CONF_STR)
			free(*(char **)((char *)c + k->offset));
	for (i = 0; i < c->ntrust; i++) {
		free(c->trust[i].issuer);
		free(c->trust[i].jwks);
	}
	free(c->trust);
	for (i = 0; i < c->nscopes; i++) {
		free(c->scopes[i].scope);
		free(c->scopes[i].who);
	}
	free(c->scopes);
	memset(c, 0, sizeof(*c));
}

/* trust = ISSUER FILE */
static int
conf_add_trust(struct pot_conf *c, const char *value, char *err, size_t errlen)
{
	const char *sp = strpbrk(value, " \t");
	const char *file = sp;
	struct pot_trust *t;

	if (sp == NULL || sp == value)
		return pot_fail(POT_ERR_CONFIG, err, errlen, "trust needs `ISSUER JWKS_FILE`");
	while (*file == ' ' || *file == '\t')
		file++;
	if (*file != '/' || strpbrk(file, " \t") != NULL)
		return pot_fail(POT_ERR_CONFIG, err, errlen,
				"trust: the JWKS file must be one absolute path");
	if ((t = reallocarray(c->trust, c->ntrust + 1, sizeof(*t))) == NULL)
		return POT_ERR_ALLOC;
	c->trust = t;
	t = &c->trust[c->ntrust];
	t->issuer = strndup(value, (size_t)(sp - value));
	t->jwks = strdup(file);
	if (t->issuer == NULL || t->jwks == NULL) {
		free(t->issuer);
		free(t->jwks);
		return POT_ERR_ALLOC;
	}
	c->ntrust++;
	return POT_OK;
}

static bool
valid_scope_token(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)	/* RFC 6749 §3.3 scope-token characters */
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

static int
conf_add_scope(struct pot_conf *c, const char *name, const char *value, char *err, size_t errlen)
{
	struct pot_scope_rule *s;
	size_t i;

	if (!valid_scope_token(name, strlen(name)))
		return pot_fail(POT_ERR_CONFIG, err, errlen, "bad scope name in scope.%s", name);
	for (i = 0; i < c->nscopes; i++)
		if (strcmp(c->scopes[i].scope, name) == 0)
			return set_str(&c->scopes[i].who, value);
	if ((s = reallocarray(c->scopes, c->nscopes + 1, sizeof(*s))) == NULL)
		return POT_ERR_ALLOC;
	c->scopes = s;
	s = &c->scopes[c->nscopes];
	s->scope = strdup(name);
	s->who = strdup(value);
	if (s->scope == NULL || s->who == NULL) {
		free(s->scope);
		free(s->who);
		return POT_ERR_ALLOC;
	}
	c->nscopes++;
	return POT_OK;
}

int
pot_conf_set(struct pot_conf *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct conf_key *k;
	const char *name;
	unsigned long v;

	if (strcmp(key, "trust") == 0)
		return conf_add_trust(c, value, err, errlen);
	if ((name = pot_skip_prefix(key, "scope.")) != NULL)
		return conf_add_scope(c, name, value, err, errlen);
	for (k = conf_keys; k < conf_keys + sizeof(conf_keys) / sizeof(conf_keys[0]); k++) {
		if (strcmp(k->name, key) != 0)
			continue;
		if (k->type == CONF_UINT) {
			if (!pot_parse_uint(value, k->min, k->max, &v))
				return pot_fail(POT_ERR_CONFIG, err, errlen,
						"%s: `%s` is not a number in %lu..%lu", key, value,
						k->min, k->max);
			*(unsigned long *)((char *)c + k->offset) = v;
			return POT_OK;
		}
		if (*value == '\0')
			return pot_fail(POT_ERR_CONFIG, err, errlen, "%s: empty value", key);
		return set_str((char **)((char *)c + k->offset), value);
	}
	return pot_fail(POT_ERR_CONFIG, err, errlen, "unknown key `%s`", key);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
conf_parse_line(struct pot_conf *c, char *line, char *err, size_t errlen)
{
	char *eq, *key, *value, *p;

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return POT_OK;
	if ((eq = strchr(line, '=')) == NULL)
		return pot_fail(POT_ERR_CONFIG, err, errlen, "expected `key = value`");
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	if (*key == '\0')
		return pot_fail(POT_ERR_CONFIG, err, errlen, "missing key before `=`");
	for (p = key; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return pot_fail(POT_ERR_CONFIG, err, errlen, "bad key `%s`", key);
	for (p = value; *p != '\0'; p++)
		if (iscntrl((unsigned char)*p) && *p != '\t')
			return pot_fail(POT_ERR_CONFIG, err, errlen, "control character in value");
	return pot_conf_set(c, key, value, err, errlen);
}

int
pot_conf_parse(struct pot_conf *c, char *buf, size_t len, const char *name, char *err,
	       size_t errlen)
{
	char why[256], *line, *next;
	unsigned lineno = 0;
	int r;

	if (memchr(buf, '\0', len) != NULL)
		return pot_fail(POT_ERR_CONFIG, err, errlen, "%s: contains a NUL byte", name);
	if (buf[len] != '\0')
		return pot_fail(POT_ERR_CONFIG, err, errlen, "%s: not terminated", name);
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((r = conf_parse_line(c, line, why, sizeof(why))) != POT_OK)
			return r == POT_ERR_ALLOC ? r : pot_fail(POT_ERR_CONFIG, err, errlen, "%s:%u: %s",
								    name, lineno, why);
	}
	return POT_OK;
}

int
pot_conf_load(struct pot_conf *c, const char *path, bool required, uid_t owner,
	      char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	r = pot_file_read(path, owner, POT_CONF_MAX, &buf, &len, &st, err, errlen);
	if (r == POT_ERR_NOT_FOUND && !required)
		return POT_OK;
	if (r != POT_OK)
		return r == POT_ERR_ALLOC ? r : POT_ERR_CONFIG;
	r = pot_conf_parse(c, buf, len, path, err, errlen);
	free(buf);
	return r;
}

int
pot_conf_finish(struct pot_conf *c)
{
	if (c->jwks == NULL && asprintf(&c->jwks, "%s/jwks.json", c->state_dir) == -1) {
		c->jwks = NULL;
		return POT_ERR_ALLOC;
	}
	return POT_OK;
}

int
pot_conf_copy(struct pot_conf *dst, const struct pot_conf *src)
{
	const struct conf_key *k;
	size_t i;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, sizeof(*dst));
	for (k = conf_keys; k < conf_keys + sizeof(conf_keys) / sizeof(conf_keys[0]); k++)
		if (k->type == CONF_STR)
			*(char **)((char *)dst + k->offset) = NULL;
	dst->trust = NULL;
	dst->ntrust = 0;
	dst->scopes = NULL;
	dst->nscopes = 0;
	for (k = conf_keys; k < conf_keys + sizeof(conf_keys) / sizeof(conf_keys[0]); k++) {
		const char *v = *(char *const *)((const char *)src + k->offset);

		if (k->type == CONF_STR && v != NULL &&
		    (*(char **)((char *)dst + k->offset) = strdup(v)) == NULL)
			goto fail;
	}
	if (src->ntrust != 0) {
		if ((dst->trust = calloc(src->ntrust, sizeof(*dst->trust))) == NULL)
			goto fail;
		for (i = 0; i < src->ntrust; i++, dst->ntrust++)
			if ((dst->trust[i].issuer = strdup(src->trust[i].issuer)) == NULL ||
			    (dst->trust[i].jwks = strdup(src->trust[i].jwks)) == NULL) {
				free(dst->trust[i].issuer);
				goto fail;
			}
	}
	if (src->nscopes != 0) {
		if ((dst->scopes = calloc(src->nscopes, sizeof(*dst->scopes))) == NULL)
			goto fail;
		for (i = 0; i < src->nscopes; i++, dst->nscopes++)
			if ((dst->scopes[i].scope = strdup(src->scopes[i].scope)) == NULL ||
			    (dst->scopes[i].who = strdup(src->scopes[i].who)) == NULL) {
				free(dst->scopes[i].scope);
				goto fail;
			}
	}
	return POT_OK;
fail:
	pot_conf_free(dst);
	return POT_ERR_ALLOC;
}
