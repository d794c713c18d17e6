#!/bin/sh
# test_admin.sh — `pot client|key|tokens|purge` run directly on the store (no potd): output,
# exit codes (0 ok, 1 failure, 2 usage), --json, the client secret shown once and stored
# nowhere in clear, new keys published in the JWKS at once, and the refusal while another
# process holds potd.lock.
set -eu
top=${POT_TOP_BUILDDIR:-${POT_BUILDDIR:-}}
[ -n "$top" ] || { echo "POT_TOP_BUILDDIR is not set"; exit 1; }
POT=$top/pot
PY=${PYTHON3:-python3}
[ -x "$POT" ] || { echo "no $POT"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pot-admin.XXXXXX")
lockpid=
cleanup() {
	[ -z "$lockpid" ] || kill "$lockpid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
state=$tmp/state
conf=$tmp/pot.conf
cat >"$conf" <<EOF
state_dir = $state
jwks = $state/jwks.json
user = $(id -un)
key_activation_delay = 600
EOF
chmod 0600 "$conf"

fail=0
out=$tmp/out
err=$tmp/err

# run ARGS...: runs pot, leaving its status in $rc, stdout in $out, stderr in $err
run() {
	set +e
	"$POT" --config "$conf" "$@" >"$out" 2>"$err"
	rc=$?
	set -e
}
bad() {
	echo "FAIL: $*"
	sed 's/^/  stdout: /' "$out"
	sed 's/^/  stderr: /' "$err"
	fail=1
}
# expect STATUS ARGS...
expect() {
	want=$1
	shift
	run "$@"
	[ "$rc" = "$want" ] || bad "pot $* exited $rc, want $want"
}
out_has() { grep -qe "$1" "$out" || bad "stdout of the last command lacks: $1"; }
err_has() { grep -qe "$1" "$err" || bad "stderr of the last command lacks: $1"; }
out_lacks() { ! grep -qe "$1" "$out" || bad "stdout of the last command has: $1"; }
json_ok() { "$PY" -m json.tool "$out" >/dev/null 2>&1 || bad "not valid JSON"; }
# jq-less JSON queries: json EXPR, with `d` the document on stdout
json() { "$PY" -c "import json, sys; d = json.load(open(sys.argv[1])); print($1)" "$out"; }

# --- help, version, usage errors ----------------------------------------------------
expect 0 --help
out_has 'pot client add NAME'
out_has 'pot tokens revoke --user USER'
expect 0 help
out_has 'pot key new'
expect 0 --version
out_has '^pot '
expect 2
expect 2 frobnicate
err_has 'unknown command'
expect 2 login --bogus
err_has 'unknown option'
expect 2 client
expect 2 client frob
expect 2 --bogus client list
expect 2 client list --bogus
err_has '^pot: unknown option'
expect 2 client list extra
expect 2 client add --scope ssh
err_has 'NAME'
expect 2 client add x --scope
expect 2 client add x --redirect-uri https://x.example/cb --scope ssh --bogus
expect 2 client add x --redirect-uri http://x.example/cb --scope ssh
err_has 'loopback'
expect 2 client add x --redirect-uri https://x.example/cb#frag --scope ssh
expect 2 client add x --redirect-uri /relative/cb --scope ssh
expect 2 client add x --public --grant client_credentials --scope ssh
err_has 'public client'
expect 2 client add x --public --introspect --redirect-uri http://127.0.0.1/cb --scope ssh
expect 2 client add x --redirect-uri https://x.example/cb
err_has 'scope'
expect 2 client add x --redirect-uri https://x.example/cb --scope 'a"b'
expect 2 client add 'no spaces' --redirect-uri https://x.example/cb --scope ssh
expect 2 client add x --scope ssh			# authorization_code without a redirect URI
expect 2 client add x --redirect-uri https://x.example/cb --scope ssh --grant password
expect 2 client remove
expect 2 key new --alg HS256
expect 2 key retire
expect 2 tokens revoke
expect 2 tokens revoke abc				# shorter than 8
expect 2 tokens revoke zzzzzzzzzz			# not hex

# --- clients ---------------------------------------------------------------------------
expect 0 client add app --public --redirect-uri http://127.0.0.1/cb \
	--redirect-uri 'http://[::1]/cb' --scope "ssh sudo"
out_has '^client_id: app$'
out_lacks 'client_secret'
expect 0 client add svc --redirect-uri https://svc.example/cb --scope "api ssh" --introspect --first-party
out_has '^client_id: svc$'
out_has 'shown only'
secret=$(sed -n 's/^client_secret: //p' "$out")
echo "$secret" | grep -Eq '^pot_cs_[A-Za-z0-9_-]{43}$' || bad "client secret '$secret' is not pot_cs_ + 43 base64url characters"
expect 1 client add svc --redirect-uri https://svc.example/cb --scope api
err_has 'exists'
expect 0 client add loop --public --redirect-uri http://localhost:8080/cb --scope ssh --no-rotate
expect 0 --json client add api --grant client_credentials --scope api
json_ok
[ "$(json 'd["client_id"]')" = api ] || bad "--json client add: no client_id"
[ "$(json '"ok" in d')" = False ] || bad "--json printed ok"
secret2=$(json 'd["client_secret"]')
echo "$secret2" | grep -Eq '^pot_cs_[A-Za-z0-9_-]{43}$' || bad "--json client secret '$secret2' malformed"

# the secrets exist nowhere under state_dir: not in clear, not base64url-decoded
for s in "$secret" "$secret2"; do
	body=${s#pot_cs_}
	if grep -r -a -q -F -e "$s" -e "$body" "$state"; then
		bad "a client secret is stored in clear under $state"
	fi
	"$PY" - "$state" "$body" <<'EOF' || bad "a client secret's bytes are stored under $state"
import base64, os, sys
raw = base64.urlsafe_b64decode(sys.argv[2] + "=")
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        if os.path.isfile(p) and raw in open(p, "rb").read():
            sys.exit(1)
EOF
done

expect 0 client list
out_has '^CLIENT_ID'
out_has '^app .*public'
out_has '^svc .*confidential'
out_has 'first-party,introspect'
out_has '^loop .*public'
out_lacks 'pot_cs_'
expect 0 --json client list
json_ok
[ "$(json 'sorted(c["client_id"] for c in d["clients"])')" = "['api', 'app', 'loop', 'svc']" ] ||
	bad "client list --json: wrong clients"
[ "$(json '[c for c in d["clients"] if c["client_id"] == "app"][0]["rotate"]')" = True ] ||
	bad "a public client does not rotate"
[ "$(json '[c for c in d["clients"] if c["client_id"] == "loop"][0]["rotate"]')" = False ] ||
	bad "--no-rotate ignored"
[ "$(json '[c for c in d["clients"] if c["client_id"] == "svc"][0]["rotate"]')" = False ] ||
	bad "a confidential client rotates"
[ "$(json '[c for c in d["clients"] if c["client_id"] == "svc"][0]["grants"]')" = \
  "['authorization_code', 'refresh_token', 'client_credentials']" ] || bad "confidential default grants"
[ "$(json '[c for c in d["clients"] if c["client_id"] == "app"][0]["grants"]')" = \
  "['authorization_code', 'refresh_token']" ] || bad "public default grants"
[ "$(json '[c for c in d["clients"] if c["client_id"] == "app"][0]["redirect_uris"]')" = \
  "['http://127.0.0.1/cb', 'http://[::1]/cb']" ] || bad "redirect URIs"
out_lacks 'pot_cs_'
out_lacks 'secret'
expect 0 client list --json		# --json after the command as well
json_ok

expect 0 client remove app
expect 1 client remove app
err_has 'no client app'
expect 0 --json client list
[ "$(json 'sorted(c["client_id"] for c in d["clients"])')" = "['api', 'loop', 'svc']" ] ||
	bad "client remove left the client"

# --- keys --------------------------------------------------------------------------------
expect 0 --json key list
json_ok
first=$(json '[k["kid"] for k in d["keys"] if k["signing"]][0]')
[ -n "$first" ] || bad "no signing key after the first start"
expect 0 key new
kid=$(sed -n 's/^kid: //p' "$out")
[ -n "$kid" ] || bad "key new printed no kid"
grep -qF "\"$kid\"" "$state/jwks.json" || bad "the new key $kid is not in jwks.json at once"
[ "$(stat -c %a "$state/jwks.json")" = 644 ] || bad "jwks.json is not 0644"
expect 0 --json key list
[ "$(json "[k['state'] for k in d['keys'] if k['kid'] == '$kid'][0]")" = pending ] ||
	bad "a new key is not pending"
[ "$(json "[k['signing'] for k in d['keys'] if k['kid'] == '$first'][0]")" = True ] ||
	bad "the first key stopped signing before the new one activated"
expect 0 --json key new --now --alg RS256
json_ok
now_kid=$(json 'd["kid"]')
[ "$(json 'd["alg"]')" = RS256 ] || bad "key new --alg RS256"
grep -qF "\"$now_kid\"" "$state/jwks.json" || bad "the --now key is not in jwks.json"
expect 0 key list
out_has '^KID'
out_has "^$now_kid .*RS256 .*signing"
out_has "^$kid .*pending"
expect 0 key retire "$first"
out_has 'retired'
expect 0 --json key list
[ "$(json "[k['retired_at'] != 0 and k['drop_at'] != 0 for k in d['keys'] if k['kid'] == '$first'][0]")" = True ] ||
	bad "key retire did not retire"
grep -qF "\"$first\"" "$state/jwks.json" || bad "a retired key left the JWKS before its tokens expired"
expect 1 key retire no-such-kid
err_has 'no key'
expect 1 key retire -no-such-kid			# kids may start with -
err_has 'no key'
expect 1 key retire -- --no-such-kid
err_has 'no key'
expect 2 key retire --bogus
expect 2 key retire a b
expect 0 key retire "$kid"			# the pending one
expect 1 key retire "$now_kid"			# the last one that can sign
err_has 'last key'

# --- refresh tokens and purge (an empty store) ------------------------------------
expect 0 tokens list
out_has 'no refresh tokens'
expect 0 --json tokens list --user alice
json_ok
[ "$(json 'd["tokens"]')" = "[]" ] || bad "tokens list --json is not empty"
expect 1 tokens revoke 0123456789abcdef
err_has 'no refresh token'
expect 1 tokens revoke 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
expect 0 tokens revoke --user alice
out_has '0 refresh token'
expect 0 --json tokens revoke --user alice
[ "$(json 'd["revoked"]')" = 0 ] || bad "tokens revoke --user --json"
expect 0 purge
out_has 'removed'
expect 0 --json purge
[ "$(json 'd["removed"]')" = 0 ] || bad "purge --json"

# --- modes of what pot made --------------------------------------------------------------
[ "$(stat -c %a "$state/db")" = 700 ] || bad "db/ is not 0700"
[ "$(stat -c %a "$state/keys")" = 700 ] || bad "keys/ is not 0700"
[ "$(stat -c %a "$state")" = 755 ] || bad "state_dir is not 0755"

# --- another process holds potd.lock and nobody answers on admin.sock --------------------
if command -v flock >/dev/null 2>&1; then
	# the background process itself holds the lock, so killing it releases the lock
	(exec 9>>"$state/potd.lock" && flock -n 9 && : >"$tmp/locked" && exec sleep 60) &
	lockpid=$!
	i=0
	while [ ! -e "$tmp/locked" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { bad "flock never took potd.lock"; break; }
		sleep 0.1
	done
	expect 1 client list
	err_has 'potd holds the store but its admin socket does not answer'
	kill "$lockpid" 2>/dev/null || true
	wait "$lockpid" 2>/dev/null || true
	lockpid=
	expect 0 client list
else
	echo "SKIP: no flock(1) for the lock test"
fi

# a missing --config file is an error; the default one is optional
set +e
"$POT" --config "$tmp/missing.conf" client list >"$out" 2>"$err"
rc=$?
set -e
[ "$rc" = 1 ] || bad "a missing --config file gave $rc, want 1"

[ $fail = 0 ] && echo "PASS: test_admin.sh"
exit $fail
