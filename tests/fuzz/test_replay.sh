#!/bin/sh
# test_replay.sh — `make check`: every fuzz harness, built by gcc with replay.c as its
# main(), runs its seed corpus and every input that once crashed it (tests/fuzz/regress/).
# Under --enable-sanitizers this is the harnesses' inputs under ASan+UBSan.
set -eu
: "${POT_TOP_SRCDIR:?}" "${POT_TOP_BUILDDIR:?}"
fz=$POT_TOP_SRCDIR/tests/fuzz
for n in jwt claims jwks conf sockline form; do
	set -- "$fz/corpus/$n"
	[ -d "$fz/regress/$n" ] && set -- "$@" "$fz/regress/$n"
	"$POT_TOP_BUILDDIR/tests/fuzz/replay_$n" "$@"
done
