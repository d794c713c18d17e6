#!/bin/sh
# fuzz.sh — builds the libFuzzer harnesses with clang and runs them (`make fuzz`,
# `make fuzz-smoke`). Run by make, which exports CC_FUZZ, CPPFLAGS_FUZZ (the include
# paths and DEFS of the build), LIBS_FUZZ (OpenSSL, jansson), POT_TOP_SRCDIR and the
# build directory as the current directory.
#
#   fuzz.sh [NAME...]     each harness until FUZZ_RUNS executions (default 10,000,000)
#                         or FUZZ_SECONDS seconds (when set); one harness per core
# A crash stops with its input in tests/fuzz/crashes/NAME/; copy it into
# tests/fuzz/regress/NAME/ (make check replays those) once it is fixed.
set -eu
src=${POT_TOP_SRCDIR:?}
out=tests/fuzz
cc=${CC_FUZZ:-clang}
names=${*:-jwt claims jwks conf sockline form}
runs=${FUZZ_RUNS:-10000000}
seconds=${FUZZ_SECONDS:-0}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}

command -v "$cc" >/dev/null 2>&1 || { echo "fuzz.sh: $cc not found (apt-get install clang libclang-rt-14-dev)"; exit 1; }
mkdir -p "$out"
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
libsrc="$src/lib/config.c $src/lib/err.c $src/lib/jwks.c $src/lib/jws.c $src/lib/secret.c $src/lib/util.c
	$src/helper/sock_req.c $src/helper/form.c"
for n in $names; do
	[ -f "$src/tests/fuzz/fuzz_$n.c" ] || { echo "fuzz.sh: no harness $n"; exit 2; }
	echo "fuzz.sh: building $out/fuzz_$n"
	# shellcheck disable=SC2086
	$cc $flags ${CPPFLAGS_FUZZ:-} -I"$src/include" -I"$src/helper" -I"$src/tests/fuzz" -I. \
		-DFUZZ_SRCDIR="\"$src/tests/fuzz\"" -o "$out/fuzz_$n" \
		"$src/tests/fuzz/fuzz_$n.c" "$src/tests/fuzz/fuzz_common.c" $libsrc ${LIBS_FUZZ:-} -lm
done

# The longest input of a harness. jwks: 4 KiB, room for two 8192-bit RSA keys or a set of
# smaller ones, and for more keys than the parser accepts; OpenSSL's check of an RSA key
# (a gcd with the small primes, then Miller-Rabin) costs milliseconds at 8192 bits, and at
# 16 KiB the corpus filled with inputs of several such keys, slowing the run from ~20,000
# to ~500 executions a second.
max_len() {
	case $1 in
	jwks) echo 4096 ;;
	*) echo 16384 ;;
	esac
}

run_one() {	# run_one NAME: its corpus grows in $out/corpus-NAME; the seeds stay as they are
	n=$1
	mkdir -p "$out/corpus-$n" "$out/crashes/$n"
	if [ "$seconds" -gt 0 ]; then limit="-max_total_time=$seconds"; else limit="-runs=$runs"; fi
	# -rss_limit_mb: a parser must not need much; -timeout: nor take long on one input
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	"$out/fuzz_$n" "$limit" -rss_limit_mb=1024 -timeout=10 -max_len="$(max_len "$n")" \
		-print_final_stats=1 -artifact_prefix="$out/crashes/$n/" \
		"$out/corpus-$n" "$src/tests/fuzz/corpus/$n" >"$out/fuzz_$n.log" 2>&1
}

pids=
fail=0
for n in $names; do
	while [ "$(echo $pids | wc -w)" -ge "$jobs" ]; do
		set -- $pids
		wait "$1" || fail=1
		shift
		pids=$*
	done
	run_one "$n" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail=1; done

printf '%-8s %14s %10s %8s %s\n' harness executions seconds exec/s result
for n in $names; do
	log=$out/fuzz_$n.log
	done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
	execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{ print $2 }')
	secs=$(echo "$done_line" | awk '{ print $5 }')
	rate=$(grep -E '^stat::average_exec_per_sec:' "$log" | awk '{ print $2 }')
	result=ok
	if ls "$out/crashes/$n"/* >/dev/null 2>&1; then
		result="CRASH: see $log and $out/crashes/$n/"
		fail=1
	elif grep -q 'libFuzzer: run interrupted' "$log"; then
		result="interrupted before the end (no crash)"
		fail=1
	elif [ -z "$done_line" ]; then
		result="did not finish: see $log"
		fail=1
	fi
	printf '%-8s %14s %10s %8s %s\n' "$n" "${execs:-?}" "${secs:-?}" "${rate:-?}" "$result"
done
exit $fail
