#!/bin/sh
# test_valgrind.sh — pam_pot leaks nothing: 1,000 whole PAM conversations in one process
# (tests/pam/leak_cycles) under valgrind memcheck, with a good token, one lacking the
# scope, a forged one, garbage and a refresh token potd is not there to check, in turn.
# Fails on any memcheck error, on memory definitely or indirectly lost, and when what is
# still reachable at exit after 1,000 cycles exceeds what 10 cycles leave (the module's
# caches of pot.conf and keys are kept for the process, once, by design). Then the whole
# PAM test suite (tests/pam/test_pam_pot: every refusal, the socket, sudo's limits...)
# under memcheck, through run-test.sh: no error and nothing lost either.
# Skipped (77) without valgrind, pam_wrapper or nss_wrapper, and in a sanitizer build.
set -u
: "${POT_TOP_SRCDIR:?}" "${POT_TOP_BUILDDIR:?}" "${POT_MINT:?}" "${PAM_POT_SO:?}"
[ "${POT_SANITIZERS:-no}" != yes ] || { echo "SKIP: sanitizer build (valgrind and ASan do not mix)"; exit 77; }
command -v valgrind >/dev/null 2>&1 || { echo "SKIP: valgrind is not installed"; exit 77; }
for so in "${PAM_WRAPPER_SO:-}" "${NSS_WRAPPER_SO:-}"; do
	[ -n "$so" ] && [ -e "$so" ] || { echo "SKIP: pam_wrapper or nss_wrapper is missing"; exit 77; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/pot-valgrind.XXXXXX") || exit 1
chmod 0755 "$T"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

iss=https://pot.valgrind
"$POT_MINT" keygen --alg ES256 --key "$T/k.pem" >/dev/null || fail "keygen"
"$POT_MINT" keygen --alg ES256 --key "$T/other.pem" >/dev/null || fail "keygen"
"$POT_MINT" jwks "$T/k.pem" >"$T/jwks.json" || fail "jwks"
printf 'issuer = %s\naudience = pot\njwks = %s\nsocket = %s/nobody.sock\nsocket_timeout = 1\n' \
	"$iss" "$T/jwks.json" "$T" >"$T/pot.conf"
chmod 0644 "$T/jwks.json" "$T/pot.conf"
mkdir "$T/services"
printf 'auth required %s config=%s scope=login\naccount required %s config=%s scope=login\nsession required %s config=%s\n' \
	"$PAM_POT_SO" "$T/pot.conf" "$PAM_POT_SO" "$T/pot.conf" "$PAM_POT_SO" "$T/pot.conf" >"$T/services/pot_leaks"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$T/services/other"
printf 'alice:x:4711:4711:alice:/:/bin/sh\n' >"$T/passwd"
printf 'alice:x:4711:\n' >"$T/group"
mint() { "$POT_MINT" sign --iss "$iss" --aud pot --sub alice --client-id c "$@"; }
{
	mint --key "$T/k.pem" --scope "login ssh" || fail "sign"
	mint --key "$T/k.pem" --scope "ssh" || fail "sign"
	mint --key "$T/other.pem" --scope "login" || fail "sign"
	mint --key "$T/k.pem" --scope "login" --ttl -600 || fail "sign"
	echo "not a token at all"
	echo "pot_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
} >"$T/secrets"

run() {	# run N: leak_cycles under memcheck; the summary in $T/vg.N
	timeout -k 5 500 env LD_PRELOAD="$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$T/services" NSS_WRAPPER_PASSWD="$T/passwd" \
		NSS_WRAPPER_GROUP="$T/group" \
		valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=3 --track-origins=no \
		--log-file="$T/vg.$1" "$POT_TOP_BUILDDIR/tests/pam/leak_cycles" pot_leaks alice \
		"$T/secrets" "$1" >"$T/out.$1" 2>&1
}
for n in 10 1000; do
	run $n || { rc=$?; cat "$T/out.$n" "$T/vg.$n"; fail "$n cycles under valgrind: exit $rc"; }
done
grep -v "^PWRAP_" "$T/out.1000"
for want in "Success" "Permission denied" "Authentication failure" "Authentication service cannot retrieve authentication info"; do
	grep -q "^$want: " "$T/out.1000" || fail "no cycle ended with: $want"
done
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|still reachable' "$T/vg.1000"
reach() { sed -n 's/.*still reachable: \([0-9,]*\) bytes.*/\1/p' "$1" | tr -d ,; }
r10=$(reach "$T/vg.10")
r1000=$(reach "$T/vg.1000")
echo "still reachable at exit: ${r10:-0} bytes after 10 cycles, ${r1000:-0} after 1000"
[ "${r1000:-0}" -le "$(( ${r10:-0} + 4096 ))" ] || fail "memory still reachable grows with the cycles"
grep -q 'ERROR SUMMARY: 0 errors' "$T/vg.1000" || fail "memcheck errors"
echo "no leak across 1000 PAM conversations"

# The suite's processes each write their own log; children that exec another program
# (python3) leave theirs empty of a summary.
POT_RUN_NAME=valgrind POT_TEST_PREFIX="valgrind --tool=memcheck --leak-check=full \
--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
--error-exitcode=3 --track-origins=no --log-file=$T/suite.%p" \
	"$POT_TOP_SRCDIR/tests/run-test.sh" "$POT_TOP_BUILDDIR/tests/pam/test_pam_pot" \
	>"$T/suite.out" 2>&1 || { tail -40 "$T/suite.out"; cat "$T"/suite.[0-9]*; fail "test_pam_pot under valgrind"; }
grep -E '^\[  PASSED  \]' "$T/suite.out" || fail "test_pam_pot under valgrind: no PASSED line"
grep -h 'ERROR SUMMARY' "$T"/suite.[0-9]* | grep -qv ' 0 errors' && fail "memcheck errors in test_pam_pot"
grep -h -E 'ERROR SUMMARY|definitely lost|indirectly lost' "$T"/suite.[0-9]* | sed 's/^==[0-9]*== //'
echo "PASS: no leak across 1000 PAM conversations, nor in the PAM test suite"
