#!/bin/sh
# test_potd.sh — potd over HTTP (tests/helper/potd_test.py): the OAuth 2 endpoints against
# RFC-CHECKLIST.md, interop with PyJWT, pam_pot and Authlib, signals and a crash.
# Skipped (77) without python3 + PyJWT or without pam_wrapper/nss_wrapper.
set -eu
if [ -z "${PYTHON3:-}" ] || ! "$PYTHON3" -c 'import jwt' 2>/dev/null; then
	echo "SKIP: PYTHON3 is empty or has no PyJWT (install python3-jwt)"
	exit 77
fi
for so in "${PAM_WRAPPER_SO:-}" "${NSS_WRAPPER_SO:-}"; do
	if [ -z "$so" ] || [ ! -e "$so" ]; then
		echo "SKIP: pam_wrapper or nss_wrapper is missing (install libpam-wrapper libnss-wrapper)"
		exit 77
	fi
done
: "${POT_TOP_SRCDIR:?}" "${POT_TOP_BUILDDIR:?}"
cd "$POT_TOP_BUILDDIR"
exec timeout 600 "$PYTHON3" "$POT_TOP_SRCDIR/tests/helper/potd_test.py" -v
