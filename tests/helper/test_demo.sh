#!/bin/sh
# test_demo.sh — ./demo.sh, the README's front door, runs its whole story on this build:
# exit 0, every step's PAM result in order, nothing secret on the screen, nothing left
# running. Skipped (77) without pamtester, curl or python3, and in a sanitizer build
# (pamtester cannot load an ASan module).
set -u
: "${POT_TOP_SRCDIR:?}" "${POT_TOP_BUILDDIR:?}"
[ "${POT_SANITIZERS:-no}" != yes ] || { echo "SKIP: sanitizer build: pamtester cannot load an ASan module"; exit 77; }
for p in pamtester curl python3; do
	command -v "$p" >/dev/null 2>&1 || { echo "SKIP: $p is not installed"; exit 77; }
done
for so in "${PAM_WRAPPER_SO:-}" "${NSS_WRAPPER_SO:-}"; do
	[ -n "$so" ] && [ -e "$so" ] || { echo "SKIP: pam_wrapper or nss_wrapper is missing"; exit 77; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/pot-demo-test.XXXXXX") || exit 1
chmod 0755 "$T"
trap 'rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*"
	sed 's/^/    | /' "$T/out"
	[ -f "$T/state/potd.log" ] && sed 's/^/    potd | /' "$T/state/potd.log"
	exit 1
}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

DEMO_BUILD=$POT_TOP_BUILDDIR DEMO_STATE=$T/state DEMO_PORT=$port \
	timeout -k 5 240 "$POT_TOP_SRCDIR/demo.sh" </dev/null >"$T/out" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "demo.sh exited $rc"

# The story, in order: login ok; sudo 403; forgery 401; sudo ok; refresh login ok; revoked 401.
got=$(sed -n 's/.*pam_pot syslog: auth result=\(PAM_[A-Z_]*\).*service=\([a-z]*\).*/\2:\1/p' "$T/out" | tr '\n' ' ')
want="login:PAM_SUCCESS sudo:PAM_PERM_DENIED sudo:PAM_AUTH_ERR sudo:PAM_SUCCESS login:PAM_SUCCESS login:PAM_AUTH_ERR "
[ "$got" = "$want" ] || fail "PAM results: got '$got', want '$want'"
grep -q 'Signed in to http://127.0.0.1:'"$port"' as alice (scope: login)\.' "$T/out" ||
	fail "the first pot login did not sign alice in with scope login"
grep -q 'as alice (scope: login sudo)\.' "$T/out" || fail "the second pot login did not get scope sudo"
grep -q 'reason="refresh token: invalid refresh token"' "$T/out" || fail "revoked refresh token: no reason"
grep -q '1 refresh token(s) of alice revoked' "$T/out" || fail "pot tokens revoke --user said otherwise"
grep -q 'peer uid=[0-9]* pid=[0-9]* user=alice service=login .*result=ok' "$T/out" ||
	fail "potd's socket log line is missing"

# Nothing secret on the screen: no JWT, refresh token, code or the sign-in password.
grep -E -q 'eyJ[A-Za-z0-9_-]{10}|pot_(rt|ac|cs)_[A-Za-z0-9_-]{20}|code=[^&… ]' "$T/out" &&
	fail "a token or code was printed"
grep -F -q "$(cat "$T/state/alice.password")" "$T/out" && fail "the password was printed"

# Nothing left running, and pam_wrapper's directories removed.
sleep 0.5
pgrep -f -- "--config $T/state/pot.conf" >/dev/null && fail "potd still runs after the demo"
for d in /tmp/pam.?; do
	grep -q -s -F "$T/state/" "$d"/* && fail "pam_wrapper directory $d left behind"
done
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz" && fail "port $port still answers"
echo "PASS: demo.sh told the whole story"
exit 0
