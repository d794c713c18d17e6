#!/usr/bin/python3
"""pyjwt_mint.py — mint one access token with PyJWT, an implementation we did not write.

  pyjwt_mint.py --key KEY.pem --kid KID --alg ES256|RS256 --iss I --aud A --sub U
                [--scope S] [--exp-in SECONDS] [--typ at+jwt|JWT] [--extra-json '{...}']

Prints the token. iat is now, exp is now + --exp-in (default 300). --extra-json adds or
overrides claims (e.g. '{"exp": 1}' or '{"aud": ["x", "pot"]}'). Runs with Debian's
python3-jwt (2.6) and python3-cryptography.
"""
import argparse
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization


def main():
    ap = argparse.ArgumentParser(description="mint a JWT access token with PyJWT")
    ap.add_argument("--key", required=True, help="private key, PEM")
    ap.add_argument("--kid", required=True)
    ap.add_argument("--alg", required=True, choices=["ES256", "RS256"])
    ap.add_argument("--iss", required=True)
    ap.add_argument("--aud", required=True)
    ap.add_argument("--sub", required=True)
    ap.add_argument("--scope")
    ap.add_argument("--exp-in", type=int, default=300)
    ap.add_argument("--typ", default="at+jwt")
    ap.add_argument("--extra-json", default="{}")
    a = ap.parse_args()

    with open(a.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    now = int(time.time())
    claims = {"iss": a.iss, "aud": a.aud, "sub": a.sub, "iat": now, "exp": now + a.exp_in}
    if a.scope is not None:
        claims["scope"] = a.scope
    extra = json.loads(a.extra_json)
    if not isinstance(extra, dict):
        sys.exit("pyjwt_mint.py: --extra-json must be a JSON object")
    claims.update(extra)
    print(jwt.encode(claims, key, algorithm=a.alg, headers={"kid": a.kid, "typ": a.typ}))


if __name__ == "__main__":
    main()
