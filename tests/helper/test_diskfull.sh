#!/bin/sh
# test_diskfull.sh — potd with its state_dir on a small tmpfs that fills up
# (tests/helper/diskfull_test.py). Skipped (77) when not root, without python3 + PyJWT or
# without pam_wrapper/nss_wrapper.
set -eu
if [ -z "${PYTHON3:-}" ] || ! "$PYTHON3" -c 'import jwt' 2>/dev/null; then
	echo "SKIP: PYTHON3 is empty or has no PyJWT (install python3-jwt)"
	exit 77
fi
: "${POT_TOP_SRCDIR:?}" "${POT_TOP_BUILDDIR:?}"
cd "$POT_TOP_BUILDDIR"
exec timeout 300 "$PYTHON3" "$POT_TOP_SRCDIR/tests/helper/diskfull_test.py" -v
