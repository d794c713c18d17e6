/*
 * leak_cycles.c — N whole PAM conversations in one process, for valgrind's leak check
 * (tests/pam/test_valgrind.sh): pam_start, pam_authenticate, pam_acct_mgmt,
 * pam_open_session, pam_close_session, pam_end, with the secrets of a file typed in
 * turn as the password (a good token, a forged one, one lacking the scope, garbage, a
 * refresh token nobody can check...), so that every path of the module runs again and
 * again. Run under pam_wrapper; prints how many of each PAM result it saw.
 *
 *	leak_cycles SERVICE USER SECRETS-FILE N
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#define SECRETS_MAX	16

static const char *current;

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r;
	int i;

	(void)data;
	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF && msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if ((r[i].resp = strdup(current)) == NULL) {
			while (i-- > 0)
				free(r[i].resp);
			free(r);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

int
main(int argc, char **argv)
{
	static char line[SECRETS_MAX][4096];
	struct pam_conv pc = { conv, NULL };
	unsigned long counts[64] = { 0 }, n, i;
	size_t nsecrets = 0;
	FILE *f;
	int r, k;

	if (argc != 5 || (n = strtoul(argv[4], NULL, 10)) == 0) {
		fprintf(stderr, "usage: leak_cycles SERVICE USER SECRETS-FILE N\n");
		return 2;
	}
	if ((f = fopen(argv[3], "r")) == NULL) {
		perror(argv[3]);
		return 2;
	}
	while (nsecrets < SECRETS_MAX && fgets(line[nsecrets], sizeof(line[0]), f) != NULL) {
		line[nsecrets][strcspn(line[nsecrets], "\n")] = '\0';
		nsecrets++;
	}
	fclose(f);
	if (nsecrets == 0) {
		fprintf(stderr, "leak_cycles: %s holds no secret\n", argv[3]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		pam_handle_t *ph = NULL;

		current = line[i % nsecrets];
		if ((r = pam_start(argv[1], argv[2], &pc, &ph)) != PAM_SUCCESS) {
			fprintf(stderr, "leak_cycles: pam_start: %d\n", r);
			return 1;
		}
		r = pam_authenticate(ph, PAM_SILENT);
		counts[r & 63]++;
		if (r == PAM_SUCCESS && pam_acct_mgmt(ph, PAM_SILENT) == PAM_SUCCESS &&
		    pam_open_session(ph, PAM_SILENT) == PAM_SUCCESS)
			(void)pam_close_session(ph, PAM_SILENT);
		pam_end(ph, r);
	}
	for (k = 0; k < 64; k++)
		if (counts[k] != 0)
			printf("%s: %lu\n", pam_strerror(NULL, k), counts[k]);
	return 0;
}
