#!/bin/sh
# sshd.sh — end to end: a real OpenSSH sshd (keyboard-interactive through PAM) and the
# real ssh client, with an access token as the "password".
#
# sshd runs under pam_wrapper (its PAM service "sshd" comes from a private service
# directory, /etc/pam.d is never read) and nss_wrapper (the test user exists only in a
# private passwd file, /etc/passwd is never touched). Root only: sshd must be root to
# authenticate and switch to the user. Exit 0 pass, 1 fail, 77 skip.
set -u
E2E_NAME=sshd
. "$(dirname "$0")/lib.sh"

USER_OK=pote2e
USER_UID=4242

e2e_need_root
[ -x "$E2E_SSHD" ] || skip "$E2E_SSHD not installed (openssh-server)"
for p in ssh ssh-keygen setsid timeout; do
	command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
e2e_need_env
e2e_need_wrappers

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	rc=$?
	e2e_cleanup_begin
	e2e_sshd_stop
	e2e_pam_wrapper_sweep
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$T" ]; then
		[ -s "$T/sshd.log" ] && { echo "--- sshd log:"; tail -n 40 "$T/sshd.log"; } >&2
	fi
	e2e_cleanup_end "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

e2e_tmpdir
e2e_etc_snapshot
e2e_keys_and_conf
# The module's decision lines cannot be read here: sshd runs PAM authentication in a child
# that empties its environment (auth-pam.c, sshpam_thread: environ[0] = NULL), so pam_wrapper
# there no longer sees PAM_WRAPPER_DEBUGLEVEL/PAM_WRAPPER_USE_SYSLOG and drops every
# pam_syslog line below LOG_ERR. sshd's own log (-e, LogLevel VERBOSE) names the PAM result
# ("PAM: Permission denied for ..." = PAM_PERM_DENIED, "PAM: Authentication failure for ..."
# = PAM_AUTH_ERR), which keeps the 401/403 distinction checkable.
E2E_LOG=$T/sshd.log
E2E_LOG_OK=yes

# --- the user, for nss_wrapper only: the system's accounts (root, sshd) plus ours ----------
mkdir -p "$T/home"
chown "$USER_UID:$USER_UID" "$T/home"
{ getent passwd root sshd nobody; echo "$USER_OK:x:$USER_UID:$USER_UID:pot e2e:$T/home:/bin/sh"; } \
	>"$T/passwd"
{ getent group root nogroup; echo "$USER_OK:x:$USER_UID:"; } >"$T/group"
grep -q '^sshd:' "$T/passwd" || fail "no sshd account (privilege separation user) on this host"

# --- sshd, for the user alone (its PAM service "sshd": pam_pot, scope ssh) --------------
e2e_sshd_start "$USER_OK" 55

# --- the client: the token comes from SSH_ASKPASS, no tty ---------------------------------
printf '#!/bin/sh\ncat %s/token\n' "$T" >"$T/askpass"
chmod 0755 "$T/askpass"

# try NAME TOKEN: runs ssh, sets OUT, ERR, RC.
try() {
	printf '%s\n' "$2" >"$T/token"
	e2e_log_mark
	e2e_ssh "$T/askpass"
	note "$1: ssh exit $RC, stdout [$(echo "$OUT" | head -n 1)], stderr [$(echo "$ERR" | tail -n 1)]"
}

# expect_refused NAME LOGPATTERN
expect_refused() {
	[ "$RC" = 255 ] || fail "$1: ssh exit $RC, expected 255 (authentication refused); stderr: $ERR"
	echo "$ERR" | grep -q 'Permission denied' ||
		fail "$1: no \"Permission denied\" from ssh; stderr: $ERR"
	echo "$OUT" | grep -q POT_OK && fail "$1: the remote command ran"
	e2e_log_has "$2" || fail "$1: sshd did not log the expected PAM result"
}

K1=$T/k1.pem
AUTH_ERR="PAM: Authentication failure for $USER_OK from 127.0.0.1"

# 1. a good token (scope ssh) logs in and runs the command
GOOD=$(e2e_mint "$K1" "$USER_OK" "ssh openid") || fail "pot-mint sign failed"
try good "$GOOD"
[ "$RC" = 0 ] || fail "good token: ssh exit $RC, expected 0; stderr: $ERR"
[ "$(echo "$OUT" | head -n 1)" = POT_OK ] || fail "good token: remote command output [$OUT], expected POT_OK"
e2e_log_has "Accepted keyboard-interactive/pam for $USER_OK from 127.0.0.1" ||
	fail "good token: sshd did not log an accepted keyboard-interactive/pam login"
POT_SUBJECT_SEEN=$(echo "$OUT" | sed -n 's/^POT_SUBJECT=//p')
note "good token: POT_SUBJECT in the session: $POT_SUBJECT_SEEN"

# 2. a valid token without scope ssh: authenticated, not allowed (PAM_PERM_DENIED)
TOK=$(e2e_mint "$K1" "$USER_OK" "sudo openid") || fail "pot-mint sign failed"
try no-scope "$TOK"
# pam_pot tells the user which scope is missing (pam_error); sshd relays that message as
# keyboard-interactive info and then logs only "Failed ...", never the AUTH_ERR line.
expect_refused no-scope "PAM: Permission denied for $USER_OK from 127.0.0.1|Failed keyboard-interactive/pam for $USER_OK from 127.0.0.1"
e2e_log_since | grep -qF -- "$AUTH_ERR" && fail "no-scope: sshd logged PAM_AUTH_ERR, expected PAM_PERM_DENIED"

# 3. a valid token with scope ssh, for another user
TOK=$(e2e_mint "$K1" someoneelse "ssh") || fail "pot-mint sign failed"
try other-user "$TOK"
expect_refused other-user "$AUTH_ERR"

# 4. forged: signed by a key that is not in the JWK Set (unknown kid)
FORGED=$(e2e_mint "$T/forged.pem" "$USER_OK" "ssh") || fail "pot-mint sign failed"
try forged "$FORGED"
expect_refused forged "$AUTH_ERR"

# 5. forged with a trusted kid: the good token's header and claims, another key's signature
try forged-sig "${GOOD%.*}.${FORGED##*.}"
expect_refused forged-sig "$AUTH_ERR"

# 6. expired (beyond the 30 s leeway)
TOK=$(e2e_mint "$K1" "$USER_OK" "ssh" --iat-offset -700) || fail "pot-mint sign failed"
try expired "$TOK"
expect_refused expired "$AUTH_ERR"

# 7. the good token still works after all those refusals (no lock-out, sshd still serving)
try good-again "$GOOD"
[ "$RC" = 0 ] && [ "$(echo "$OUT" | head -n 1)" = POT_OK ] ||
	fail "good token, second time: ssh exit $RC, output [$OUT]; stderr: $ERR"

note "PASS"
exit 0
