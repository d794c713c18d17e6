/*
 * pam_marker.so — test-only module stacked after pam_pot. libpam turns a stack whose
 * every module returned PAM_IGNORE into PAM_PERM_DENIED, so the tests stack pam_pot as
 * `[success=done ignore=ignore default=die]` followed by this module: its result,
 * PAM_NO_MODULE_DATA, reaching the application means pam_pot returned PAM_IGNORE.
 */
#include "config.h"

#include <security/pam_modules.h>

#define MARK PAM_NO_MODULE_DATA

int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) { (void)h; (void)f; (void)c; (void)v; return MARK; }
int pam_sm_setcred(pam_handle_t *h, int f, int c, const char **v) { (void)h; (void)f; (void)c; (void)v; return MARK; }
int pam_sm_acct_mgmt(pam_handle_t *h, int f, int c, const char **v) { (void)h; (void)f; (void)c; (void)v; return MARK; }
int pam_sm_open_session(pam_handle_t *h, int f, int c, const char **v) { (void)h; (void)f; (void)c; (void)v; return MARK; }
int pam_sm_close_session(pam_handle_t *h, int f, int c, const char **v) { (void)h; (void)f; (void)c; (void)v; return MARK; }
int pam_sm_chauthtok(pam_handle_t *h, int f, int c, const char **v) { (void)h; (void)f; (void)c; (void)v; return MARK; }
