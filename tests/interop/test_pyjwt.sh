#!/bin/sh
# test_pyjwt.sh — tokens from the project's signer (pot-mint, lib/jws.c) must verify in
# PyJWT, an implementation we did not write, with the JWK Set the project publishes:
# ES256 and RS256, header typ at+jwt and kid = RFC 7638 thumbprint, RFC 9068 claims.
# A tampered token must be refused, so the check cannot pass vacuously.
#
# Environment (set by `make check`): POT_MINT, the pot-mint tool; PYTHON3, a python3
# with PyJWT and cryptography (exit 77, skipped, when empty).
set -eu

if [ -z "${PYTHON3:-}" ]; then
	echo "SKIP: PYTHON3 is empty (install python3-jwt)"
	exit 77
fi
: "${POT_MINT:?POT_MINT must name the pot-mint tool}"

ISS=https://issuer.example
AUD=pot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# verify JWKS TOKEN ALG KID: PyJWT checks the token; exit 1 with the reason if not.
verify() {
	"$PYTHON3" - "$@" "$ISS" "$AUD" <<'EOF'
import base64, copy, hashlib, json, sys
import jwt

jwks_path, tok, alg, kid, iss, aud = sys.argv[1:]
with open(jwks_path) as f:
    jwks = json.load(f)
hdr = jwt.get_unverified_header(tok)
want = {"alg": alg, "typ": "at+jwt", "kid": kid}
if hdr != want:
    sys.exit(f"header {hdr}, want {want}")
jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
canon = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
thumb = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=")
if thumb.decode() != kid:
    sys.exit(f"kid {kid} is not the RFC 7638 thumbprint {thumb.decode()}")
key = jwt.PyJWKSet.from_dict(copy.deepcopy(jwks))[kid].key
c = jwt.decode(tok, key, algorithms=[alg], audience=aud, issuer=iss,
               options={"require": ["exp", "iat", "iss", "aud", "sub"]})
if c["sub"] != "alice" or c["scope"] != "ssh sudo" or not c.get("jti") or \
        not c.get("client_id") or not 0 < c["exp"] - c["iat"] <= 600:
    sys.exit(f"claims {c}")
h, p, s = tok.split(".")
bad = h + "." + p + "." + s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
try:
    jwt.decode(bad, key, algorithms=[alg], audience=aud, issuer=iss)
    sys.exit("a tampered token verified")
except jwt.InvalidSignatureError:
    pass
EOF
}

for alg in ES256 RS256; do
	"$POT_MINT" keygen --alg "$alg" --key "$tmp/$alg.pem" >"$tmp/$alg.kid" || fail "keygen $alg"
done
"$POT_MINT" jwks "$tmp/ES256.pem" "$tmp/RS256.pem" >"$tmp/jwks.json" || fail "jwks"
for alg in ES256 RS256; do
	tok=$("$POT_MINT" sign --key "$tmp/$alg.pem" --iss "$ISS" --aud "$AUD" --sub alice \
		--scope "ssh sudo") || fail "sign $alg"
	verify "$tmp/jwks.json" "$tok" "$alg" "$(cat "$tmp/$alg.kid")" ||
		fail "$alg token from pot-mint refused by PyJWT"
	echo "PASS: $alg token from pot-mint verifies in PyJWT"
done
