/* tmpdir.c — a test's own scratch directory, and its removal (see tmpdir.h). */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdir.h"

int
tmpdir_make(char dir[TMPDIR_LEN], const char *name)
{
	const char *t = getenv("TMPDIR");
	int n;

	if (t == NULL || t[0] != '/' || strlen(t) > 32)
		t = "/tmp";
	n = snprintf(dir, TMPDIR_LEN, "%s/pot-%s-XXXXXX", t, name);
	if (n < 0 || n >= TMPDIR_LEN)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
tmpdir_remove(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
