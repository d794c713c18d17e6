#!/bin/sh
# browser.sh — end to end, the way a person does it: potd, `pot login` completed by a real
# headless Chromium, then ssh and sudo with `pot askpass`, a login with the refresh token,
# and that login refused once an administrator revoked the user's tokens.
#
#  1. potd (from the build tree) starts as root and drops to nobody; its login_service
#     checks the password with pam_matrix under pam_wrapper. `pot client add` registers the
#     first-party public client `pot` (ssh sudo) and a third-party one, example-app (ssh).
#  2. `pot login --no-browser`, as the test user, prints the sign-in address; Debian's
#     chromium, driven by playwright-core (tests/e2e/browser/login.mjs; never a downloaded
#     browser), signs in, allows example-app on the consent page, and lands on pot's loopback
#     page. Screenshots of the sign-in and consent pages are taken.
#  3. ssh into a test sshd (pam_wrapper + nss_wrapper, pam_pot scope=ssh) with
#     SSH_ASKPASS=pot-askpass: the session sees POT_SUBJECT.
#  4. sudo -A with SUDO_ASKPASS=pot-askpass: runs as root (scope sudo); example-app's token,
#     without scope sudo, is refused (PAM_PERM_DENIED).
#  5. ssh with the refresh token from tokens.json as the password: potd checks it over its
#     socket, the login succeeds.
#  6. `pot tokens revoke --user`: the same refresh-token login is refused.
#
# sudo is setuid, so the user is real (useradd) and sudo's PAM service and a sudoers drop-in
# live in /etc for the test's length, as in sudo.sh; /etc is compared before and after.
# node_modules (playwright-core, pinned by browser/package-lock.json) is installed with
# `npm ci` into the build tree (tests/e2e/browser-deps), never into the source tree.
# POT_E2E_SCREENSHOTS=DIR copies the screenshots to DIR/login.png and DIR/consent.png.
# Root only. Exit 0 pass, 1 fail, 77 skip.
set -u
E2E_NAME=browser
. "$(dirname "$0")/lib.sh"

USER_OK=potbrw
SERVICE=pot-e2e-browser
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
APP=example-app			# the third-party client: its sign-in asks for consent
SRC_BROWSER=$(cd "$(dirname "$0")" && pwd)/browser

e2e_need_root
[ -x "$CHROMIUM" ] || skip "$CHROMIUM not installed (Debian package chromium)"
[ -x "$E2E_SSHD" ] || skip "$E2E_SSHD not installed (openssh-server)"
for p in node npm ssh ssh-keygen sudo visudo useradd userdel runuser timeout setsid; do
	command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
[ -u "$(command -v sudo)" ] || skip "sudo is not setuid root"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || node_major=0
[ "$node_major" -ge 18 ] 2>/dev/null || skip "node $(node --version 2>/dev/null) is too old: playwright-core needs 18"
e2e_need_env
[ -n "${POT_TOP_BUILDDIR:-}" ] || fail "POT_TOP_BUILDDIR is not set (make check sets it)"
POT_BIN=$POT_TOP_BUILDDIR/pot
POTD_BIN=$POT_TOP_BUILDDIR/potd
[ -x "$POT_BIN" ] && [ -x "$POTD_BIN" ] || fail "no pot or potd in $POT_TOP_BUILDDIR"
e2e_need_wrappers
PAM_MATRIX=$(dirname "$PAM_WRAPPER_SO")/pam_wrapper/pam_matrix.so
[ -f "$PAM_MATRIX" ] || skip "$PAM_MATRIX not found (libpam-wrapper)"

POTD_PID=
LOGIN_PID=
NODE_PID=

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	rc=$?
	e2e_cleanup_begin
	e2e_sudo_remove			# first: nothing may stay that lets the user run anything as root
	e2e_stop "$NODE_PID"
	e2e_stop "$LOGIN_PID"
	e2e_sshd_stop
	e2e_stop "$POTD_PID"
	e2e_syslog_stop		# before the sweep below: it must remove its /dev/log itself
	if [ -n "$T" ]; then
		# anything of ours left (timeout itself killed, an orphaned chromium): every process
		# whose command line names our temp dir
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			[ "$p" != $$ ] || continue
			{ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q -F -- "$T/" &&
				kill -KILL "$p" 2>/dev/null
		done
	fi
	e2e_user_remove || rc=1
	e2e_pam_wrapper_sweep		# potd's (no longer root) and sshd's children's
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$T" ]; then
		# the logs never hold a token or a password (potd's and pam_pot's rule)
		[ -s "$T/potd.log" ] && { echo "--- potd log:"; tail -n 30 "$T/potd.log"; } >&2
		[ -s "$T/sshd.log" ] && { echo "--- sshd log:"; tail -n 20 "$T/sshd.log"; } >&2
		[ -s "$T/syslog" ] && { echo "--- syslog (the user's lines):"; grep -F "$USER_OK" "$T/syslog" | tail -n 20; } >&2
	fi
	e2e_cleanup_end "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

e2e_sudo_prepare "$USER_OK" "$SERVICE" /etc/sudoers.d/pot-e2e-browser
getent passwd nobody >/dev/null || fail "no account nobody (potd's user here)"

e2e_tmpdir
e2e_etc_snapshot
e2e_syslog_start
mkdir -p "$T/bin" "$T/services" "$T/shots" "$T/browser-home"

# --- playwright-core: npm ci into the build tree, again only when the lock file changed ----
DEPS=$POT_TOP_BUILDDIR/tests/e2e/browser-deps
if ! [ -d "$DEPS/node_modules/playwright-core" ] ||
	! cmp -s "$SRC_BROWSER/package-lock.json" "$DEPS/package-lock.json"; then
	note "npm ci (playwright-core) into $DEPS"
	rm -rf "$DEPS"
	mkdir -p "$DEPS" && cp "$SRC_BROWSER/package.json" "$SRC_BROWSER/package-lock.json" "$DEPS/" ||
		fail "cannot make $DEPS"
	(cd "$DEPS" && HOME=$T/browser-home npm_config_cache=$T/npm-cache \
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout -k 5 120 npm ci --ignore-scripts \
		--no-audit --no-fund --no-update-notifier --loglevel=error) >"$T/npm.log" 2>&1 || {
		cat "$T/npm.log" >&2
		rm -rf "$DEPS"
		fail "npm ci of tests/e2e/browser failed (is the npm registry reachable?)"
	}
fi
# node resolves playwright-core from the script's own directory: run a copy beside it
cp "$SRC_BROWSER/login.mjs" "$DEPS/login.mjs" || fail "cannot copy login.mjs to $DEPS"

# --- the user: real (sudo is setuid: no nss_wrapper there), home in the temp dir ----------
e2e_user_add "pot e2e browser"
# nss_wrapper's view for potd and sshd: the system's accounts they need, plus the user
{ getent passwd root nobody sshd; getent passwd "$USER_OK"; } >"$T/passwd"
{ getent group root nogroup; getent group "$USER_OK"; } >"$T/group"
grep -q '^sshd:' "$T/passwd" || fail "no sshd account (privilege separation user) on this host"
NOBODY_UID=$(id -u nobody)

# the password potd's sign-in page checks (pam_matrix), readable by root and potd only
od -An -N18 -tx1 /dev/urandom | tr -d ' \n' >"$T/password" || fail "cannot make a password"
chmod 0600 "$T/password"
printf '%s:%s:%s\n' "$USER_OK" "$(cat "$T/password")" pot-e2e-login >"$T/passdb"
chown "$NOBODY_UID" "$T/passdb"
chmod 0600 "$T/passdb"

# pot and its askpass name (ssh and sudo take a program, not a command line), where the
# user can run them whatever the build directory's modes
cp "$POT_BIN" "$T/bin/pot" && ln -s pot "$T/bin/pot-askpass" || fail "cannot copy pot"
runuser -u "$USER_OK" -- "$T/bin/pot" --help >/dev/null 2>&1 ||
	fail "$USER_OK cannot run $T/bin/pot: every directory above $T must be searchable by all (TMPDIR?)"

free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1",
		() => { console.log(s.address().port); s.close(); })'
}

# http_ok URL: true when URL answers 200
http_ok() {
	node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1),
		() => process.exit(1))' "$1" 2>/dev/null
}

# --- potd ----------------------------------------------------------------------------------
PPORT=$(free_port) || fail "no free port"
ISS=http://127.0.0.1:$PPORT
cat >"$T/pot.conf" <<EOF
# pot.conf of the browser end-to-end test
issuer = $ISS
listen = 127.0.0.1:$PPORT
state_dir = $T/state
jwks = $T/state/jwks.json
socket = $T/run/potd.sock
user = nobody
login_service = pot-e2e-login
scope.ssh = *
scope.sudo = $USER_OK
EOF
chmod 0644 "$T/pot.conf"
printf 'auth\trequired\t%s passdb=%s\naccount\trequired\t%s passdb=%s\n' \
	"$PAM_MATRIX" "$T/passdb" "$PAM_MATRIX" "$T/passdb" >"$T/services/pot-e2e-login"

timeout -k 5 100 env LD_PRELOAD="$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" \
	PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/services" \
	NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
	UID_WRAPPER_DISABLE_DEEPBIND=1 NSS_WRAPPER_DISABLE_DEEPBIND=1 \
	"$POTD_BIN" --config "$T/pot.conf" --foreground </dev/null >"$T/potd.log" 2>&1 &
POTD_PID=$!
i=0
until http_ok "$ISS/healthz"; do
	kill -0 "$POTD_PID" 2>/dev/null || { cat "$T/potd.log" >&2; POTD_PID=; fail "potd exited at start"; }
	i=$((i + 1))
	[ $i -lt 100 ] || fail "potd did not answer $ISS/healthz within 20 s"
	sleep 0.2
done
note "potd listening at $ISS (state in \$T/state, running as nobody)"

pot_admin() {
	timeout -k 2 20 "$T/bin/pot" --config "$T/pot.conf" "$@"
}
pot_admin client add pot --public --first-party --redirect-uri http://127.0.0.1/callback \
	--scope "ssh sudo" >"$T/client-pot.out" 2>&1 || {
	cat "$T/client-pot.out" >&2
	fail "pot client add pot failed"
}
pot_admin client add "$APP" --public --redirect-uri http://127.0.0.1/callback \
	--scope "ssh" >"$T/client-app.out" 2>&1 || {
	cat "$T/client-app.out" >&2
	fail "pot client add $APP failed"
}
note "clients: pot (first-party, ssh sudo) and $APP (third-party, ssh)"

# --- pot login as the user, completed by chromium ----------------------------------------
# login NAME XDG_DIR [pot login options]: pot login in the background, the browser on the
# address it prints, then pot login's own result. Screenshots in $T/shots/NAME-*.png.
login() {
	name=$1 xdg=$2
	shift 2
	mkdir -p "$xdg" && chown "$USER_OK:" "$xdg" && chmod 0700 "$xdg" || fail "$name: cannot make $xdg"
	: >"$T/$name.out"
	: >"$T/$name.err"
	timeout -k 2 60 runuser -u "$USER_OK" -- env HOME="$T/home" XDG_CONFIG_HOME="$xdg" \
		"$T/bin/pot" login --server "$ISS" --no-browser "$@" \
		</dev/null >"$T/$name.out" 2>"$T/$name.err" &
	LOGIN_PID=$!
	i=0
	# the address is alone on its line, indented (pot_user.c, login_prompt)
	until sed -n 's/^    \(http:[^ ]*\)$/\1/p' "$T/$name.err" | grep -q .; do
		kill -0 "$LOGIN_PID" 2>/dev/null || {
			grep -v '^    http' "$T/$name.err" >&2
			fail "$name: pot login exited before printing the sign-in address"
		}
		i=$((i + 1))
		[ $i -lt 100 ] || fail "$name: pot login printed no sign-in address within 10 s"
		sleep 0.1
	done
	sed -n 's/^    \(http:[^ ]*\)$/\1/p' "$T/$name.err" | head -n 1 >"$T/$name.url"
	case $(cat "$T/$name.url") in
	"$ISS/auth/v2/authorize?"*) ;;
	*) fail "$name: pot login's address is not potd's authorization endpoint" ;;
	esac
	TMPDIR=$T HOME=$T/browser-home XDG_CONFIG_HOME=$T/browser-home XDG_CACHE_HOME=$T/browser-home \
		CHROMIUM=$CHROMIUM timeout -k 5 60 node "$DEPS/login.mjs" "$T/$name.url" "$USER_OK" \
		"$T/password" "$T/shots" "$name" >"$T/$name.browser" 2>&1 &
	NODE_PID=$!
	wait "$NODE_PID"
	brc=$?
	NODE_PID=
	sed -e '/^$/d' -e 's/^/    /' "$T/$name.browser"
	[ "$brc" = 0 ] || fail "$name: the browser did not complete the sign-in (exit $brc)"
	wait "$LOGIN_PID"
	lrc=$?
	LOGIN_PID=
	[ "$lrc" = 0 ] || {
		grep -v '^    http' "$T/$name.err" >&2
		fail "$name: pot login exit $lrc after the browser signed in"
	}
	note "$name: $(cat "$T/$name.out")"
}

# a third-party client first: the consent page
login "$APP" "$T/xdg-app" --client-id "$APP"
[ -s "$T/shots/$APP-consent.png" ] || fail "$APP: no consent page was shown for a third-party client"
grep -q -F "Signed in to $ISS as $USER_OK (scope: ssh)." "$T/$APP.out" ||
	fail "$APP: pot login did not say it signed in as $USER_OK with scope ssh"
# the first-party client `pot`: no consent page
login pot "$T/xdg"
[ -e "$T/shots/pot-consent.png" ] && fail "pot: a consent page was shown for the first-party client"
grep -q -F "Signed in to $ISS as $USER_OK (scope: ssh sudo)." "$T/pot.out" ||
	fail "pot: pot login did not say it signed in as $USER_OK with scope \"ssh sudo\""
TOKENS=$T/xdg/pot/tokens.json
[ "$(stat -c '%a %U' "$TOKENS" 2>/dev/null)" = "600 $USER_OK" ] ||
	fail "pot: $TOKENS is not 0600 and the user's: $(stat -c '%a %U' "$TOKENS" 2>&1)"
if [ -n "${POT_E2E_SCREENSHOTS:-}" ]; then
	mkdir -p "$POT_E2E_SCREENSHOTS" &&
		cp "$T/shots/pot-login.png" "$POT_E2E_SCREENSHOTS/login.png" &&
		cp "$T/shots/$APP-consent.png" "$POT_E2E_SCREENSHOTS/consent.png" ||
		fail "cannot copy the screenshots to $POT_E2E_SCREENSHOTS"
	note "screenshots copied to $POT_E2E_SCREENSHOTS (login.png, consent.png)"
fi

# --- sshd, for the user alone (its PAM service "sshd": pam_pot, scope ssh) --------------
e2e_sshd_start "$USER_OK" 80
E2E_LOG=$T/sshd.log		# e2e_log_has reads sshd's log for the ssh steps
E2E_LOG_OK=yes

# ssh_as NAME ASKPASS: ssh as the user, the password from ASKPASS; sets OUT, ERR, RC
ssh_as() {
	e2e_log_mark
	e2e_ssh "$2" runuser -u "$USER_OK" -- env HOME="$T/home" XDG_CONFIG_HOME="$T/xdg"
	note "$1: ssh exit $RC, stdout [$(echo "$OUT" | tr '\n' ' ')], stderr [$(echo "$ERR" | tail -n 1)]"
}

expect_ssh_ok() {
	[ "$RC" = 0 ] || fail "$1: ssh exit $RC, expected 0; stderr: $ERR"
	[ "$(echo "$OUT" | head -n 1)" = POT_OK ] || fail "$1: remote command output [$OUT], expected POT_OK"
	echo "$OUT" | grep -q -x "POT_SUBJECT=$USER_OK" ||
		fail "$1: the session did not see POT_SUBJECT=$USER_OK: [$OUT]"
	echo "$OUT" | grep -q -x "POT_CLIENT_ID=pot" ||
		fail "$1: the session did not see POT_CLIENT_ID=pot: [$OUT]"
	e2e_log_has "Accepted keyboard-interactive/pam for $USER_OK from 127.0.0.1" ||
		fail "$1: sshd did not log an accepted keyboard-interactive/pam login"
}

# 3. ssh with SSH_ASKPASS=pot-askpass: the access token from pot login
ssh_as ssh-askpass "$T/bin/pot-askpass"
expect_ssh_ok ssh-askpass

# --- sudo: a drop-in and a PAM service for this user, as in sudo.sh -----------------------
e2e_sudo_install passwd_tries=1

# sudo_as NAME XDG_DIR: sudo -A -k id -u as the user, SUDO_ASKPASS=pot-askpass with the
# tokens of XDG_DIR; sets OUT, ERR, RC. The module's lines come through our /dev/log.
sudo_as() {
	E2E_LOG=$T/syslog
	E2E_LOG_OK=$SYSLOG_OK
	e2e_log_mark
	timeout -k 2 20 setsid -w runuser -u "$USER_OK" -- env HOME="$T/home" XDG_CONFIG_HOME="$2" \
		SUDO_ASKPASS="$T/bin/pot-askpass" sudo -A -k /usr/bin/id -u \
		</dev/null >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	note "$1: sudo exit $RC, stdout [$OUT], stderr [$(echo "$ERR" | tr '\n' '|')]"
}
SYSLOG_OK=no
[ -n "$E2E_SYSLOG_PID" ] && SYSLOG_OK=yes
WHO="user=$USER_OK service=$SERVICE"

# 4. sudo -A with SUDO_ASKPASS=pot-askpass: the token of client pot has scope sudo
sudo_as sudo-askpass "$T/xdg"
[ "$RC" = 0 ] && [ "$OUT" = 0 ] || fail "sudo-askpass: sudo exit $RC, output [$OUT], expected 0 and [0]; stderr: $ERR"
e2e_log_has "auth result=PAM_SUCCESS reason=\"ok\" $WHO .*client_id=pot" ||
	fail "sudo-askpass: no auth PAM_SUCCESS line from the module"
#    example-app's token (scope ssh only): authenticated, not allowed
sudo_as sudo-no-scope "$T/xdg-app"
[ "$RC" != 0 ] && [ "$OUT" != 0 ] || fail "sudo-no-scope: sudo ran the command with a token without scope sudo"
[ "$RC" != 124 ] && [ "$RC" != 137 ] || fail "sudo-no-scope: sudo timed out"
e2e_log_has "auth result=PAM_PERM_DENIED reason=\"missing scope sudo\" $WHO .*client_id=$APP" ||
	fail "sudo-no-scope: the module did not log PAM_PERM_DENIED for the missing scope"
E2E_LOG=$T/sshd.log
E2E_LOG_OK=yes

# --- 5. the refresh token as the password, checked by potd over its socket ---------------
node -e 'const fs = require("fs");
	const rt = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).refresh_token;
	if (!/^pot_rt_[A-Za-z0-9_-]{43}$/.test(rt || "")) process.exit(1);
	fs.writeFileSync(process.argv[2], rt + "\n", { mode: 0o600 });' "$TOKENS" "$T/rt" ||
	fail "refresh-token: no refresh token (pot_rt_...) in $TOKENS"
chown "$USER_OK:" "$T/rt"
printf '#!/bin/sh\ncat %s/rt\n' "$T" >"$T/askpass-rt"
chmod 0755 "$T/askpass-rt"
checks_ok=$(grep -c "check: .* user=$USER_OK service=sshd .*result=ok client_id=pot" "$T/potd.log")
ssh_as refresh-token "$T/askpass-rt"
expect_ssh_ok refresh-token
[ "$(grep -c "check: .* user=$USER_OK service=sshd .*result=ok client_id=pot" "$T/potd.log")" -gt "$checks_ok" ] ||
	fail "refresh-token: potd logged no successful socket check for $USER_OK"

# --- 6. the administrator revokes the user's tokens: the refresh token no longer logs in --
pot_admin tokens revoke --user "$USER_OK" >"$T/revoke.out" 2>&1 || {
	cat "$T/revoke.out" >&2
	fail "pot tokens revoke --user $USER_OK failed"
}
note "revoked: $(head -n 1 "$T/revoke.out")"
ssh_as refresh-token-revoked "$T/askpass-rt"
[ "$RC" = 255 ] || fail "refresh-token-revoked: ssh exit $RC, expected 255 (authentication refused); stderr: $ERR"
echo "$ERR" | grep -q 'Permission denied' ||
	fail "refresh-token-revoked: no \"Permission denied\" from ssh; stderr: $ERR"
echo "$OUT" | grep -q POT_OK && fail "refresh-token-revoked: the remote command ran"
e2e_log_has "PAM: Authentication failure for $USER_OK from 127.0.0.1" ||
	fail "refresh-token-revoked: sshd did not log PAM_AUTH_ERR"
grep -q "check: .* user=$USER_OK service=sshd .*result=invalid_token" "$T/potd.log" ||
	fail "refresh-token-revoked: potd did not log an invalid_token check"

note "PASS"
exit 0
