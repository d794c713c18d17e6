#!/bin/sh
# bench.sh [--callgrind] BUILD_DIR — the per-login cost of pam_pot, as a ratio to a raw
# OpenSSL ES256 verification measured in the same run (see bench_login.c). Not part of
# `make check`. It builds the module and tests/bench/bench_login in BUILD_DIR (a configured
# build directory), runs the benchmark under a timeout (pam_wrapper spins for ever when its
# variables are missing), and prints its result line:
#
#	ratio pam_authenticate/raw_verify = X.XX (median of 7 rounds)
#
# --callgrind adds a second, noise-free measurement: instructions per login against
# instructions per raw verification, counted by callgrind in the same process.
#
# Environment: POT_BENCH_ROUNDS (7), POT_BENCH_ITERS (operations of each series per round;
# default: rounds of 1 s), POT_BENCH_CG_ITERS (200), POT_BENCH_TIMEOUT (900 s), and
# POT_BENCH_KEEP=1 keeps the callgrind profile and prints its path.
set -eu

cmdline="$0 $*"
BENCH_TAG=bench
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
callgrind=false
if [ "${1:-}" = --callgrind ]; then
	callgrind=true
	shift
fi
if [ $# -ne 1 ] || [ ! -f "$1/Makefile" ]; then
	echo "usage: $0 [--callgrind] BUILD_DIR   (a configured build directory)" >&2
	exit 2
fi
B=$(cd "$1" && pwd)
rounds=${POT_BENCH_ROUNDS:-7}
limit=${POT_BENCH_TIMEOUT:-900}

make -s --no-print-directory -C "$B" pam_pot.la libpot_common.la
bin=$B/tests/bench/bench_login
if ! bench_make_prog tests/bench/bench_login; then
	# Makefile.am does not know the benchmark yet: build it with the build's own flags.
	src=$(mkvar abs_top_srcdir)
	mkdir -p "$B/tests/bench"
	# shellcheck disable=SC2046 # the flags are word lists
	$(mkvar CC) -I"$B" -I"$src/include" $(mkvar CPPFLAGS) $(mkvar CFLAGS) \
		$(mkvar WARN_CFLAGS) $(mkvar CRYPTO_CFLAGS) $(mkvar JANSSON_CFLAGS) \
		-o "$bin" "$src/tests/bench/bench_login.c" "$src/tests/common/mint.c" \
		"$B/.libs/libpot_common.a" $(mkvar LDFLAGS) $(mkvar CRYPTO_LIBS) \
		$(mkvar JANSSON_LIBS) $(mkvar PAM_LIBS) -lm
fi
module=$B/.libs/pam_pot.so
preload=$(mkvar PAM_WRAPPER_SO):$(mkvar NSS_WRAPPER_SO)
for so in "$module" $(echo "$preload" | tr : ' '); do
	if [ ! -f "$so" ]; then
		echo "$0: $so is missing (pam_wrapper and nss_wrapper are needed)" >&2
		exit 2
	fi
done

rev=$(git -C "$(mkvar abs_top_srcdir)" describe --always --dirty 2>/dev/null || echo unknown)
echo "command: $cmdline"
echo "source $rev, $(openssl version 2>/dev/null | cut -d' ' -f1-2), $(uname -m), $(nproc) CPUs"
timeout -k 10 "$limit" "$bin" -m "$module" -p "$preload" -r "$rounds" \
	${POT_BENCH_ITERS:+-n "$POT_BENCH_ITERS"}

$callgrind || exit 0
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
	echo "$0: --callgrind needs valgrind and callgrind_annotate" >&2
	exit 2
fi
n=${POT_BENCH_CG_ITERS:-200}
out=$(mktemp -d /tmp/pot-bench-cg.XXXXXX)
# After the warm-up, cg_raw, cg_lib and cg_pam run n operations each, then cg_pam_late
# n more logins on the same handle; callgrind counts inside those four only.
timeout -k 10 "$limit" valgrind -q --tool=callgrind --trace-children=yes \
	--collect-atstart=no --toggle-collect=cg_raw --toggle-collect=cg_lib \
	--toggle-collect=cg_pam --toggle-collect=cg_pam_late \
	--callgrind-out-file="$out/callgrind.out.%p" \
	"$bin" -m "$module" -p "$preload" -c "$n" >"$out/stdout"
# The child (the one under the wrappers) is the profile with the collected costs.
prof=
for f in "$out"/callgrind.out.*; do
	if callgrind_annotate --inclusive=yes "$f" 2>/dev/null | grep -q ':cg_pam '; then
		prof=$f
	fi
done
if [ -z "$prof" ]; then
	echo "$0: no callgrind profile with cg_pam in $out" >&2
	exit 1
fi
callgrind_annotate --inclusive=yes --threshold=100 "$prof" 2>/dev/null | awk -v n="$n" '
	/:cg_(raw|lib|pam|pam_late) / {
		v = $1; gsub(",", "", v)
		name = $0; sub(/.*:cg_/, "", name); sub(/ .*/, "", name)
		ir[name] = v / n
	}
	END {
		if (ir["raw"] == 0 || ir["pam"] == 0 || ir["pam_late"] == 0) {
			print "callgrind: costs not found"
			exit 1
		}
		printf "callgrind Ir per op (%d ops each): raw_verify %.0f, pot_jwt_verify %.0f, " \
		       "pam_authenticate %.0f (logins 5-%d), %.0f (logins %d-%d)\n", n, ir["raw"],
		       ir["lib"], ir["pam"], n + 4, ir["pam_late"], n + 5, 2 * n + 4
		if (ir["pam_late"] > 1.05 * ir["pam"])
			printf "WARNING: a login costs %.0f%% more instructions after %d logins " \
			       "on the handle than before\n", 100 * (ir["pam_late"] / ir["pam"] - 1), n
		printf "callgrind ratio pot_jwt_verify/raw_verify = %.2f (instructions, " \
		       "information only)\n", ir["lib"] / ir["raw"]
		printf "callgrind ratio pam_authenticate/raw_verify = %.2f (instructions, " \
		       "logins 5-%d)\n", ir["pam"] / ir["raw"], n + 4
	}'
# pam_wrapper leaves its directory behind under valgrind: remove the child's.
cgpid=${prof##*.}
for d in /tmp/pam.?; do
	if [ -f "$d/pot_bench" ] && [ "$(cat "$d/pid" 2>/dev/null)" = "$cgpid" ]; then
		rm -rf "$d"
	fi
done
if [ "${POT_BENCH_KEEP:-0}" = 1 ]; then
	echo "callgrind profile: $prof"
else
	rm -rf "$out"
fi
