#!/bin/sh
# check.sh — every test, from a fresh clone: installs the Debian 12 packages that are
# missing (with sudo when not root), bootstraps, builds with -Werror and runs `make check`,
# then `make distcheck`, then the whole suite again under ASan+UBSan, then a 60 s
# libFuzzer run of each fuzz harness.
# Its exit status tells. POT_CHECK_QUICK=1 skips distcheck and the sanitizer pass.
set -eu
cd "$(dirname "$0")"
top=$(pwd)

PACKAGES="build-essential autoconf automake libtool pkg-config autoconf-archive
	libpam0g-dev libssl-dev libjansson-dev libmicrohttpd-dev libdb5.3-dev
	libcmocka-dev libpam-wrapper libnss-wrapper libpamtest0-dev pamtester libjwt-dev
	python3 python3-jwt python3-cryptography python3-authlib python3-requests faketime
	openssh-server openssh-client sudo binutils procps curl valgrind
	clang libclang-rt-14-dev chromium
	dpkg-dev debhelper lintian"
# Node.js and npm for tests/e2e/browser.sh (playwright-core drives the chromium above):
# Debian's, unless there is a node already (NodeSource's nodejs bundles npm and conflicts
# with Debian's npm package)
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

. "$top/tests/tools/debian-packages.sh"
# shellcheck disable=SC2086
pot_need_packages $PACKAGES

jobs=$(nproc 2>/dev/null || echo 2)
autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }

run_build() {	# run_build DIR CONFIGURE-ARGS...
	dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" --enable-werror "$@" >configure.out 2>&1) ||
		{ cat "$dir/configure.out"; return 1; }
	grep -q 'test dependencies missing' "$dir/configure.out" &&
		{ grep WARNING "$dir/configure.out"; return 1; }
	make -C "$dir" -j"$jobs" >/dev/null || make -C "$dir"
	if ! make -C "$dir" -j"$jobs" check; then
		for log in "$dir"/tests/*/*.log; do
			grep -qE '^(FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null || continue
			echo "=== $log"
			tail -50 "$log"
		done
		return 1
	fi
}

echo "== build and test (-Werror)"
run_build "$top/build/check"
if [ "${POT_CHECK_QUICK:-0}" != 1 ]; then
	echo "== make distcheck"
	if ! make -C "$top/build/check" -j"$jobs" distcheck >"$top/build/distcheck.log" 2>&1; then
		grep -E '^(FAIL|ERROR):' "$top/build/distcheck.log" || tail -40 "$top/build/distcheck.log"
		for log in "$top"/build/check/pam_pot-*/_build/sub/tests/*/*.log; do
			grep -qE '^(FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null || continue
			echo "=== $log"
			tail -60 "$log"
		done
		exit 1
	fi
	echo "== build and test under ASan+UBSan"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_build "$top/build/sanitizers" --enable-sanitizers
	echo "== fuzzing: 60 s of each harness (make fuzz-smoke)"
	make -C "$top/build/check" fuzz-smoke
fi
echo "check.sh: all tests passed"
