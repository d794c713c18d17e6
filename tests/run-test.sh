#!/bin/sh
# run-test.sh TEST — the test driver of `make check`: every test under a timeout, and the
# PAM tests under pam_wrapper + nss_wrapper with a generated service directory, so that
# nothing under /etc/pam.d is read or touched. pam_wrapper spins for ever when
# PAM_WRAPPER or PAM_WRAPPER_SERVICE_DIR is missing: hence the timeout on every test.
#
# POT_TEST_PREFIX: a command, split into words, that the test runs under (test_valgrind.sh
# runs test_pam_pot under memcheck this way).
set -eu
t=$1
limit=${POT_TEST_TIMEOUT:-600}

# pam_wrapper has only 62 names for its /tmp/pam.X directories and leaves one behind for
# every killed process: remove those whose creator is gone, or later runs cannot start.
for d in /tmp/pam.?; do
	[ -d "$d" ] && [ -O "$d" ] || continue
	pid=$(cat "$d/pid" 2>/dev/null) || pid=
	case $pid in '' | *[!0-9]*) continue ;; esac
	kill -0 "$pid" 2>/dev/null || rm -rf "$d"
done
case "$t" in
*/pam/test_pam_pot)
	run=$POT_TOP_BUILDDIR/tests/pam/run-${POT_RUN_NAME:-main}
	rm -rf "$run"
	mkdir -p "$run/services"
	chmod 0755 "$run"
	for f in "$POT_TOP_SRCDIR"/tests/pam/services.in/*; do
		sed -e "s|@PAM_POT_SO@|$PAM_POT_SO|g" -e "s|@PAM_MARKER_SO@|$POT_TOP_BUILDDIR/tests/pam/.libs/pam_marker.so|g" -e "s|@RUN@|$run|g" "$f" \
			>"$run/services/$(basename "$f")"
	done
	cp "$POT_TOP_SRCDIR/tests/pam/nss/passwd" "$POT_TOP_SRCDIR/tests/pam/nss/group" "$run/"
	# pam_wrapper 1.1.4 dlopens libpam with RTLD_DEEPBIND, which ASan refuses; it reads
	# UID_WRAPPER_DISABLE_DEEPBIND (sic) to turn that off; nss_wrapper does the same to libc.
	export LD_PRELOAD="$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$run/services" \
		NSS_WRAPPER_PASSWD="$run/passwd" NSS_WRAPPER_GROUP="$run/group" \
		UID_WRAPPER_DISABLE_DEEPBIND=1 NSS_WRAPPER_DISABLE_DEEPBIND=1 POT_RUN="$run" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	;;
esac
# pam_wrapper picks its /tmp/pam.X directory when a process starts, and gives up when
# another process starting at the same moment took the same name: the tests that start
# pam_wrapper processes run one at a time.
case "$t" in
*/pam/test_pam_pot | */pam/test_valgrind.sh | */helper/test_potd.sh | */helper/test_crash.sh | \
*/helper/test_diskfull.sh | */helper/test_demo.sh | */e2e/sshd.sh | */e2e/browser.sh)
	# a test that runs another through this script (test_valgrind.sh) already holds it
	if [ "${POT_PAM_WRAPPER_LOCKED:-0}" != 1 ]; then
		export POT_PAM_WRAPPER_LOCKED=1
		# shellcheck disable=SC2086 # words
		exec flock -w 900 "${TMPDIR:-/tmp}/pot-pam-wrapper.lock" timeout -k 10 "$limit" \
			${POT_TEST_PREFIX:-} "$@"
	fi
	;;
esac
# shellcheck disable=SC2086 # words
exec timeout -k 10 "$limit" ${POT_TEST_PREFIX:-} "$@"
