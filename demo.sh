#!/bin/sh
# demo.sh — the login story so far, through the real pam_pot.so under pam_wrapper
# (no root needed, nothing under /etc touched): build, make a signing key, mint tokens
# with the project's signer, then log in, try sudo without scope `sudo`, and try a forgery.
# State lives in ./demo-state. Needs the packages check.sh installs.
set -eu
cd "$(dirname "$0")"
top=$(pwd)
state=$top/demo-state
build=$top/build/demo
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building pam_pot into build/demo (autoreconf, configure, make)"
if [ ! -x "$build/tests/tools/pot-mint" ] || [ ! -f "$build/.libs/pam_pot.so" ]; then
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1
	mkdir -p "$build"
	(cd "$build" && "$top/configure" >/dev/null && make -j"$(nproc)" >/dev/null)
fi
module=$build/.libs/pam_pot.so
mint=$build/tests/tools/pot-mint
pam_wrapper=$(pkg-config --libs pam_wrapper)
nss_wrapper=$(pkg-config --libs nss_wrapper)

rm -rf "$state"
mkdir -p "$state/keys" "$state/services"
chmod 0755 "$state"
chmod 0700 "$state/keys"
issuer=http://127.0.0.1:8740

say "Making an ES256 signing key; its public half goes into the JWK Set pam_pot trusts"
kid=$("$mint" keygen --alg ES256 --key "$state/keys/signing.pem")
"$mint" jwks "$state/keys/signing.pem" >"$state/jwks.json"
chmod 0644 "$state/jwks.json"
echo "kid (RFC 7638 thumbprint): $kid"

cat >"$state/pot.conf" <<CONF
# demo configuration: pam_pot trusts tokens of $issuer with audience pot
issuer = $issuer
audience = pot
jwks = $state/jwks.json
CONF
chmod 0644 "$state/pot.conf"
for svc in login sudo; do
	cat >"$state/services/$svc" <<PAM
auth	required	$module config=$state/pot.conf
account	required	$module config=$state/pot.conf
PAM
done
printf 'auth\trequired\tpam_deny.so\naccount\trequired\tpam_deny.so\n' >"$state/services/other"
printf 'alice:x:1001:1001:Alice:/tmp:/bin/sh\n' >"$state/passwd"
printf 'alice:x:1001:\n' >"$state/group"

pam() {	# pam SERVICE USER TOKEN: pamtester under pam_wrapper, the token as the password
	printf '%s\n' "$3" | timeout 20 env LD_PRELOAD="$pam_wrapper:$nss_wrapper" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$state/services" \
		NSS_WRAPPER_PASSWD="$state/passwd" NSS_WRAPPER_GROUP="$state/group" \
		PAM_WRAPPER_DEBUGLEVEL=3 pamtester -v "$1" "$2" authenticate acct_mgmt 2>&1 |
		sed -n -e 's/^PWRAP_[A-Z]*\[[^]]*\] - SYSLOG([0-9]*): \(.*result=.*\)/    pam_pot syslog: \1/p' \
			-e 's/^Password: //' -e '/^pamtester: \(successfully\|account\|Permission\|Authentication\)/s/^/    /p'
}

say "Minting alice's access token with scope \"login\" only"
token=$("$mint" sign --key "$state/keys/signing.pem" --iss "$issuer" --aud pot \
	--sub alice --scope "login" --client-id demo --ttl 600)
echo "a ${#token}-byte JWT (ES256, typ at+jwt), valid for 10 minutes"

say "1. Login service (requires scope \"login\"): the token is alice's password -> success"
pam login alice "$token"

say "2. sudo service (requires scope \"sudo\"): the token lacks it -> PAM_PERM_DENIED (403, not 401)"
pam sudo alice "$token" || true

say "3. A forged token: the payload changed to add scope sudo, signature kept -> PAM_AUTH_ERR"
payload=$(printf '{"iss":"%s","sub":"alice","aud":"pot","exp":%s,"scope":"login sudo"}' \
	"$issuer" $(( $(date +%s) + 600 )) | basenc --base64url | tr -d '=\n')
forged=$(echo "$token" | awk -F. -v p="$payload" '{ print $1 "." p "." $3 }')
pam sudo alice "$forged" || true

say "4. With scope \"sudo\" granted, sudo succeeds"
sudo_token=$("$mint" sign --key "$state/keys/signing.pem" --iss "$issuer" --aud pot \
	--sub alice --scope "login sudo" --client-id demo --ttl 600)
pam sudo alice "$sudo_token"

say "Done. Files are in $state; potd (the token server) arrives with the next issue."
