/* tmpdir.h — a test's own scratch directory, and its removal. */
#ifndef POT_TEST_TMPDIR_H
#define POT_TEST_TMPDIR_H

#define TMPDIR_LEN	64

/* A new directory $TMPDIR/pot-NAME-XXXXXX (/tmp when TMPDIR is unset or long) in dir; 0 or -1. */
int tmpdir_make(char dir[TMPDIR_LEN], const char *name);

/* Removes dir and all below it, never following a symbolic link. */
void tmpdir_remove(const char *dir);

#endif
