#!/bin/sh
# test_logs.sh — pam_pot's syslog lines: one per decision, with result and reason, and
# never a token. Runs the PAM suite with pam_wrapper printing every syslog(3) call.
set -eu
out=$POT_TOP_BUILDDIR/tests/pam/logs.out
POT_RUN_NAME=logs PAM_WRAPPER_DEBUGLEVEL=3 \
	"$POT_TOP_SRCDIR/tests/run-test.sh" "$POT_TOP_BUILDDIR/tests/pam/test_pam_pot" \
	>/dev/null 2>"$out" || { echo "the PAM suite failed"; tail -20 "$out"; exit 1; }
fail=0
# pam_wrapper's own traces print PAM items; only what went to syslog(3) is ours to judge.
grep 'SYSLOG(' "$out" >"$out.syslog" || { echo "no syslog lines captured: is pam_wrapper preloaded?"; exit 1; }
out=$out.syslog
# Tokens start with base64url('{"') = eyJ; refresh tokens with pot_rt_.
if grep -nE 'eyJ[A-Za-z0-9_-]{8,}|pot_rt_[A-Za-z0-9_-]' "$out" | head -5 | grep .; then
	echo "FAIL: a token reached the log"
	fail=1
fi
for want in \
	'auth result=PAM_SUCCESS reason="ok" user=alice service=pot_login rhost=- jti=jti-1 client_id=cli-1' \
	'account result=PAM_SUCCESS reason="ok" user=alice' \
	'auth result=PAM_PERM_DENIED reason="missing scope login" user=alice' \
	'account result=PAM_PERM_DENIED reason="missing scope admin"' \
	'auth result=PAM_AUTH_ERR reason="bad signature" user=alice' \
	'auth result=PAM_AUTH_ERR reason="unknown key" user=alice' \
	'auth result=PAM_AUTH_ERR reason="bad algorithm" user=alice' \
	'auth result=PAM_AUTH_ERR reason="expired" user=alice' \
	'auth result=PAM_AUTH_ERR reason="not yet valid" user=alice' \
	'auth result=PAM_AUTH_ERR reason="untrusted issuer" user=alice' \
	'auth result=PAM_AUTH_ERR reason="wrong audience" user=alice' \
	'auth result=PAM_AUTH_ERR reason="bad header" user=alice' \
	'auth result=PAM_AUTH_ERR reason="malformed token" user=alice' \
	'auth result=PAM_AUTH_ERR reason="missing or bad claim" user=alice' \
	'auth result=PAM_AUTH_ERR reason="too long" user=alice' \
	'auth result=PAM_AUTH_ERR reason="token for another user" user=alice service=pot_login rhost=- jti=jti-1' \
	'auth result=PAM_USER_UNKNOWN reason="unknown user" user=mallory' \
	'auth result=PAM_AUTH_ERR reason="a client'"'"'s own token (sub = client_id), not a user'"'"'s" user=alice' \
	'auth result=PAM_PERM_DENIED reason="root not allowed (no allow_root)" user=root' \
	'auth result=PAM_AUTHINFO_UNAVAIL reason="refresh token: cannot connect to ' \
	'auth result=PAM_AUTH_ERR reason="refresh token refused (no_refresh)"' \
	'unknown module argument `frobnicate`' \
	'bad.conf:2: unknown key `frobnicate`' \
	'trusted keys: ' \
	'jwks.json: No such file or directory' \
	'jwks.json: not JSON (line 1: ' \
	'writable by group or others'; do
	grep -qF -- "$want" "$out" || { echo "FAIL: no log line with: $want"; fail=1; }
done
exit $fail
