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
SSHD=/usr/sbin/sshd

e2e_need_root
[ -x "$SSHD" ] || skip "$SSHD not installed (openssh-server)"
for p in ssh ssh-keygen setsid timeout; do
	command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
e2e_need_env
# configure finds them with pkg-config; fall back on the .pc files' Libs: when it did not.
[ -n "${PAM_WRAPPER_SO:-}" ] || PAM_WRAPPER_SO=$(pkg-config --libs pam_wrapper 2>/dev/null | tr -d ' ')
[ -n "${NSS_WRAPPER_SO:-}" ] || NSS_WRAPPER_SO=$(pkg-config --libs nss_wrapper 2>/dev/null | tr -d ' ')
[ -f "${PAM_WRAPPER_SO:-}" ] || skip "libpam_wrapper.so not found (libpam-wrapper)"
[ -f "${NSS_WRAPPER_SO:-}" ] || skip "libnss_wrapper.so not found (libnss-wrapper)"

SSHD_PID=
CAT_PID=
MADE_RUN_SSHD=no

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	rc=$?
	e2e_cleanup_begin
	if [ -n "$SSHD_PID" ]; then
		kill "$SSHD_PID" 2>/dev/null		# timeout passes the TERM to sshd
		wait "$SSHD_PID" 2>/dev/null
	fi
	# a listener left over (e.g. timeout itself killed)? only if it really is our sshd
	if [ -n "$T" ] && [ -s "$T/sshd.pid" ]; then
		p=$(cat "$T/sshd.pid")
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -F -- "-f $T/sshd_config" &&
			kill "$p" 2>/dev/null
	fi
	if [ -n "$CAT_PID" ]; then		# the log pipe: ends when sshd is gone
		i=0
		while kill -0 "$CAT_PID" 2>/dev/null && [ $i -lt 10 ]; do sleep 0.1; i=$((i + 1)); done
		kill "$CAT_PID" 2>/dev/null
		wait "$CAT_PID" 2>/dev/null
	fi
	[ "$MADE_RUN_SSHD" = yes ] && rmdir /run/sshd 2>/dev/null
	# pam_wrapper's copies of our service directory (/tmp/pam.?, a fixed name: its length
	# must be that of /etc/pam.d); sshd's children exit without removing theirs.
	if [ -n "$T" ]; then
		for d in /tmp/pam.?; do
			[ -f "$d/sshd" ] && grep -q -F "config=$T/pot.conf" "$d/sshd" 2>/dev/null &&
				rm -rf "$d"
		done
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$T" ]; then
		[ -s "$T/sshd.log" ] && { echo "--- sshd log:"; tail -n 40 "$T/sshd.log"; } >&2
	fi
	if [ -n "$T" ]; then
		e2e_etc_verify || rc=1
		rm -rf "$T"
	fi
	exit "$rc"
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
mkdir -p "$T/home" "$T/services"
chown "$USER_UID:$USER_UID" "$T/home"
{ getent passwd root sshd nobody; echo "$USER_OK:x:$USER_UID:$USER_UID:pot e2e:$T/home:/bin/sh"; } \
	>"$T/passwd"
{ getent group root nogroup; echo "$USER_OK:x:$USER_UID:"; } >"$T/group"
grep -q '^sshd:' "$T/passwd" || fail "no sshd account (privilege separation user) on this host"

# --- the PAM service "sshd", for pam_wrapper ------------------------------------------------
args="config=$T/pot.conf scope=ssh"
cat >"$T/services/sshd" <<EOF
auth	required	$PAM_POT_SO $args
account	required	$PAM_POT_SO $args
session	required	$PAM_POT_SO $args
session	required	pam_permit.so
EOF

# --- sshd --------------------------------------------------------------------------------------
if [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd || fail "cannot create /run/sshd"
	MADE_RUN_SSHD=yes
fi
ssh-keygen -q -t ed25519 -N '' -C pot-e2e -f "$T/host_ed25519" || fail "ssh-keygen failed"

free_port() {
	if [ -n "$E2E_PY" ]; then
		"$E2E_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
	fi
}

write_config() {
	cat >"$T/sshd_config" <<-EOF
	ListenAddress 127.0.0.1:$1
	HostKey $T/host_ed25519
	PidFile $T/sshd.pid
	UsePAM yes
	KbdInteractiveAuthentication yes
	PasswordAuthentication no
	PubkeyAuthentication no
	HostbasedAuthentication no
	AuthenticationMethods keyboard-interactive
	AuthorizedKeysFile none
	PermitRootLogin no
	AllowUsers $USER_OK
	UseDNS no
	PrintMotd no
	PrintLastLog no
	PermitUserEnvironment no
	X11Forwarding no
	AllowTcpForwarding no
	LoginGraceTime 20
	MaxAuthTries 2
	LogLevel VERBOSE
	EOF
}

# sshd's stderr is a pipe, never a file: sshd's sandboxed pre-auth child runs with
# RLIMIT_FSIZE 0, and a write of pam_wrapper's to a file there kills it with SIGXFSZ.
start_sshd() {
	: >"$T/sshd.log"
	rm -f "$T/sshd.fifo"
	mkfifo -m 0600 "$T/sshd.fifo" || fail "mkfifo failed"
	cat "$T/sshd.fifo" >>"$T/sshd.log" &
	CAT_PID=$!
	timeout -k 5 55 env LD_PRELOAD="$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/services" \
		NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
		"$SSHD" -D -e -f "$T/sshd_config" >"$T/sshd.fifo" 2>&1 &
	SSHD_PID=$!
	i=0
	while [ $i -lt 100 ]; do
		grep -q 'Server listening on 127.0.0.1' "$T/sshd.log" && return 0
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
	return 1
}

tries=0
while :; do
	PORT=$(free_port)
	write_config "$PORT"
	"$SSHD" -t -f "$T/sshd_config" >"$T/sshd-t.log" 2>&1 || {
		cat "$T/sshd-t.log" >&2
		fail "sshd -t refused the test's sshd_config"
	}
	start_sshd && break
	tries=$((tries + 1))
	[ $tries -lt 3 ] || fail "sshd did not start listening on 127.0.0.1:$PORT"
done
note "sshd (pid $SSHD_PID) listening on 127.0.0.1:$PORT"

# --- the client: the token comes from SSH_ASKPASS, no tty ---------------------------------
printf '#!/bin/sh\ncat %s/token\n' "$T" >"$T/askpass"
chmod 0755 "$T/askpass"

# try NAME TOKEN: runs ssh, sets OUT, ERR, RC.
try() {
	printf '%s\n' "$2" >"$T/token"
	e2e_log_mark
	env -u SSH_AUTH_SOCK SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
		timeout -k 2 20 setsid -w ssh -F /dev/null -p "$PORT" -T \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-o PreferredAuthentications=keyboard-interactive -o NumberOfPasswordPrompts=1 \
		-o BatchMode=no -o ConnectTimeout=10 -o IdentitiesOnly=yes -o IdentityFile=none \
		"$USER_OK@127.0.0.1" 'echo POT_OK; echo "POT_SUBJECT=${POT_SUBJECT-unset}"' \
		</dev/null >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
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
