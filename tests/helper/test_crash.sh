#!/bin/sh
# test_crash.sh — potd killed with SIGKILL 20 times under concurrent refreshes, code
# exchanges and client_credentials (tests/helper/crash_test.py). Skipped (77) without
# python3 + PyJWT or without pam_wrapper/nss_wrapper.
set -eu
if [ -z "${PYTHON3:-}" ] || ! "$PYTHON3" -c 'import jwt' 2>/dev/null; then
	echo "SKIP: PYTHON3 is empty or has no PyJWT (install python3-jwt)"
	exit 77
fi
: "${POT_TOP_SRCDIR:?}" "${POT_TOP_BUILDDIR:?}"
cd "$POT_TOP_BUILDDIR"
exec timeout 500 "$PYTHON3" "$POT_TOP_SRCDIR/tests/helper/crash_test.py" -v
