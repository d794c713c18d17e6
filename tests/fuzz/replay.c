/*
 * replay.c — a main() for the libFuzzer harnesses without libFuzzer: runs each file named
 * on the command line (or every file in each directory named) through
 * LLVMFuzzerTestOneInput once. `make check` uses it to replay the seed corpora and every
 * input that once crashed (tests/fuzz/regress/), with gcc and under ASan+UBSan.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* a harness without state to set up has no LLVMFuzzerInitialize */
#pragma weak LLVMFuzzerInitialize

static int
run_file(const char *path, unsigned *n)
{
	unsigned char *buf;
	struct stat st;
	size_t len;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) != 0) {
		perror(path);
		return 1;
	}
	len = (size_t)st.st_size;
	if ((buf = malloc(len ? len : 1)) == NULL || fread(buf, 1, len, f) != len) {
		fprintf(stderr, "%s: cannot read\n", path);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	(*n)++;
	return 0;
}

static int
run_path(const char *path, unsigned *n)
{
	struct dirent *e;
	struct stat st;
	char sub[4096];
	DIR *d;
	int bad = 0;

	if (stat(path, &st) != 0) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, n);
	if ((d = opendir(path)) == NULL) {
		perror(path);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		bad |= run_path(sub, n);
	}
	closedir(d);
	return bad;
}

int
main(int argc, char **argv)
{
	unsigned n = 0;
	int i, bad = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++)
		bad |= run_path(argv[i], &n);
	printf("%s: %u inputs replayed\n", argv[0], n);
	return bad || n == 0;
}
