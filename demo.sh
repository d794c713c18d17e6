#!/bin/sh
# demo.sh — the whole pam_pot story on one machine, nothing under /etc touched:
#   build; start potd on loopback with its state in ./demo-state; register the `pot` client;
#   alice signs in (`pot login`: a scripted browser stand-in, or you at a browser when this
#   runs on a terminal) and gets tokens; she logs in through the real pam_pot.so with her
#   access token; sudo is refused without scope `sudo` and allowed with it; she logs in with
#   her refresh token (checked by potd over its socket); the administrator revokes it; the
#   next such login is refused.
# PAM runs under pam_wrapper and users come from nss_wrapper, so no root is needed and the
# system's accounts and PAM configuration are never read or changed. On a terminal potd keeps
# serving at the end until Ctrl-C; otherwise the script exits 0 and leaves nothing running.
# DEMO_PORT (default 8740) picks the port; DEMO_BROWSER=stand-in skips the person on a terminal.
# For tests/helper/test_demo.sh: DEMO_BUILD=DIR uses that build as it is, DEMO_STATE=DIR.
set -eu
cd "$(dirname "$0")"
top=$(pwd)
state=${DEMO_STATE:-$top/demo-state}
build=${DEMO_BUILD:-$top/build/demo}
port=${DEMO_PORT:-8740}
issuer=http://127.0.0.1:$port
interactive=no
[ -t 0 ] && [ -t 1 ] && [ "${DEMO_BROWSER:-}" != stand-in ] && interactive=yes
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

# --- what it needs: Debian 12 packages, installed when missing (as check.sh does) -------
. "$top/tests/tools/debian-packages.sh"
[ -n "${DEMO_BUILD:-}" ] || pot_need_packages build-essential autoconf automake libtool pkg-config autoconf-archive \
	libpam0g-dev libssl-dev libjansson-dev libmicrohttpd-dev libdb5.3-dev \
	libpam-wrapper libnss-wrapper pamtester python3 curl

if [ -n "${DEMO_BUILD:-}" ]; then
	say "Using the build in $build"
elif [ ! -x "$build/potd" ] || [ ! -x "$build/pot" ] || [ ! -f "$build/.libs/pam_pot.so" ] ||
	[ -n "$(find "$top/helper" "$top/lib" "$top/pam_pot" "$top/include" "$top/configure.ac" \
		"$top/Makefile.am" -newer "$build/potd" -print -quit 2>/dev/null)" ]; then
	say "Building pam_pot.so, potd and pot into build/demo"
	[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
		autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
	mkdir -p "$build"
	(cd "$build" && { [ -f Makefile ] || "$top/configure" >configure.out 2>&1 ||
		{ cat configure.out; exit 1; }; } && make -j"$(nproc)" >make.out 2>&1 ||
		{ tail -30 make.out; exit 1; })
fi
module=$build/.libs/pam_pot.so
potd=$build/potd
pot=$build/pot
pam_wrapper=$(pkg-config --libs pam_wrapper | tr -d ' ')
nss_wrapper=$(pkg-config --libs nss_wrapper | tr -d ' ')
pam_matrix=$(dirname "$pam_wrapper")/pam_wrapper/pam_matrix.so
[ -f "$pam_matrix" ] || die "pam_matrix.so not found beside $pam_wrapper (libpam-wrapper)"

# --- a clean state, and everything stopped on the way out ----------------------------------
potd_pid=
cleanup() {
	trap '' INT TERM HUP
	if [ -n "$potd_pid" ] && kill -0 "$potd_pid" 2>/dev/null; then
		kill "$potd_pid" 2>/dev/null	# SIGTERM: potd finishes requests, closes the store
		wait "$potd_pid" 2>/dev/null || :
	fi
	# pam_wrapper's copies of our service directories (/tmp/pam.X)
	for d in /tmp/pam.?; do
		grep -q -s -F "$state/" "$d"/* && rm -rf "$d"
	done
	return 0
}
serving=no
trap 'cleanup; [ "$serving" = yes ] && { echo; echo "potd stopped."; exit 0; }; exit 130' INT
trap 'cleanup; exit 143' TERM HUP
trap cleanup EXIT

if [ -f "$state/potd.pid" ] && kill -0 "$(cat "$state/potd.pid")" 2>/dev/null; then
	die "a potd of an earlier demo still runs (pid $(cat "$state/potd.pid")): stop it first"
fi
curl -s -o /dev/null --max-time 2 "$issuer/healthz" &&
	die "something already listens on 127.0.0.1:$port: set DEMO_PORT to a free port"
rm -rf "$state"
mkdir -p "$state/services" "$state/alice"
chmod 0755 "$state" "$state/services"
chmod 0700 "$state/alice"

# Users for nss_wrapper: alice (in group ops) and, when we are root, the account potd drops
# to. PAM service demo-signin is potd's login_service: pam_matrix checks alice's password.
me=$(id -un)
user=$me
if [ "$(id -u)" = 0 ]; then
	user=nobody
	su -s /bin/sh nobody -c "test -x '$state'" 2>/dev/null ||
		die "potd drops to nobody when started as root, and nobody cannot reach $state"
fi
{ getent passwd "$user" || echo "$user:x:$(id -u):$(id -g):potd:$state:/bin/false"
  echo "alice:x:4701:4701:Alice:$state/alice:/bin/sh"; } >"$state/passwd"
{ getent group "$(id -gn "$user")" || echo "$(id -gn):x:$(id -g):"
  echo "alice:x:4701:"
  echo "ops:x:4702:alice"; } >"$state/group"
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" >"$state/alice.password"
chmod 0600 "$state/alice.password"
printf 'alice:%s:demo-signin\n' "$password" >"$state/passdb"
chmod 0644 "$state/passwd" "$state/group" "$state/passdb"
printf 'auth\trequired\t%s passdb=%s\naccount\trequired\t%s passdb=%s\n' \
	"$pam_matrix" "$state/passdb" "$pam_matrix" "$state/passdb" >"$state/services/demo-signin"

# pot.conf: potd issues tokens for $issuer; pam_pot trusts them through the JWK Set potd
# writes. Scope policy: anyone may get login, members of ops may get sudo.
cat >"$state/pot.conf" <<CONF
# pot.conf of the demo (see pot.conf(5))
issuer = $issuer
listen = 127.0.0.1:$port
state_dir = $state/potd
socket = $state/run/potd.sock
jwks = $state/potd/jwks.json
login_service = demo-signin
user = $user
access_ttl = 600
scope.login = *
scope.sudo = @ops
CONF
chmod 0644 "$state/pot.conf"
for svc in login sudo; do
	printf 'auth\trequired\t%s config=%s\naccount\trequired\t%s config=%s\n' \
		"$module" "$state/pot.conf" "$module" "$state/pot.conf" >"$state/services/$svc"
done
printf 'auth\trequired\tpam_deny.so\naccount\trequired\tpam_deny.so\n' >"$state/services/other"

wrapped() {	# wrapped COMMAND...: with alice known (nss_wrapper) and PAM from $state/services
	env LD_PRELOAD="$pam_wrapper:$nss_wrapper" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$state/services" \
		NSS_WRAPPER_PASSWD="$state/passwd" NSS_WRAPPER_GROUP="$state/group" "$@"
}
as_admin() {	# the administrator's `pot`
	env LD_PRELOAD="$nss_wrapper" NSS_WRAPPER_PASSWD="$state/passwd" \
		NSS_WRAPPER_GROUP="$state/group" "$pot" --config "$state/pot.conf" "$@"
}
as_alice() {	# alice's `pot`: her tokens in $state/alice/pot/tokens.json
	XDG_CONFIG_HOME="$state/alice" "$pot" --config "$state/pot.conf" "$@"
}
pam() {	# pam SERVICE SECRET: pamtester as alice, the secret typed as her password
	printf '%s\n' "$2" | timeout 20 env PAM_WRAPPER_DEBUGLEVEL=3 \
		LD_PRELOAD="$pam_wrapper:$nss_wrapper" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$state/services" \
		NSS_WRAPPER_PASSWD="$state/passwd" NSS_WRAPPER_GROUP="$state/group" \
		pamtester -v "$1" alice authenticate acct_mgmt 2>&1 |
		sed -n -e 's/^PWRAP_[A-Z]*\[[^]]*\] - SYSLOG([0-9]*): \(.*result=.*\)/    pam_pot syslog: \1/p' \
			-e 's/^Password: //' \
			-e '/^pamtester: \(successfully\|account\|Permission\|Authentication\)/s/^/    /p'
}
refresh_token() {	# alice's refresh token, from her tokens file (never printed)
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["refresh_token"])' \
		"$state/alice/pot/tokens.json"
}

say "Starting potd on $issuer (state in demo-state/potd, log in demo-state/potd.log)"
timeout -k 5 86400 env LD_PRELOAD="$pam_wrapper:$nss_wrapper" PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$state/services" \
	NSS_WRAPPER_PASSWD="$state/passwd" NSS_WRAPPER_GROUP="$state/group" \
	"$potd" --config "$state/pot.conf" --foreground >"$state/potd.log" 2>&1 &
potd_pid=$!
echo "$potd_pid" >"$state/potd.pid"
i=0
until curl -s -o /dev/null --max-time 1 "$issuer/healthz"; do
	kill -0 "$potd_pid" 2>/dev/null || { cat "$state/potd.log"; die "potd did not start"; }
	i=$((i + 1))
	[ $i -lt 100 ] || die "potd does not answer on $issuer/healthz"
	sleep 0.1
done
sed 's/^/    potd: /' "$state/potd.log"
echo "    first start: a pepper and an ES256 key in demo-state/potd/keys (0700), the store in"
echo "    demo-state/potd/db, the public keys for pam_pot in demo-state/potd/jwks.json (0644)"

say "The administrator registers the first-party public client \`pot\`"
echo "    \$ pot client add pot --public --first-party --redirect-uri http://127.0.0.1/callback --scope \"login sudo\""
as_admin client add pot --public --first-party --redirect-uri http://127.0.0.1/callback \
	--scope "login sudo" | sed 's/^/    /'

login() {	# login SCOPE: alice runs `pot login`; a person or the stand-in signs in
	echo "    \$ pot login --scope \"$1\" --no-browser"
	if [ "$interactive" = yes ]; then
		echo "    (sign in as alice with the password $password)"
		as_alice login --scope "$1" --no-browser 2>&1 | sed 's/^/    /'
		return
	fi
	: >"$state/login.err"
	as_alice login --scope "$1" --no-browser >"$state/login.out" 2>"$state/login.err" &
	login_pid=$!
	python3 "$top/tests/tools/pot-browser" --url-from "$state/login.err" --user alice \
		--password-file "$state/alice.password" || { kill "$login_pid" 2>/dev/null; die "the browser stand-in failed"; }
	wait "$login_pid" || { cat "$state/login.err"; die "pot login failed"; }
	sed -n 's/^/    /p' "$state/login.out"
}

say "1. alice signs in with \`pot login\`, asking for scope \"login\" only"
login login
as_alice status | sed 's/^/    /'

say "2. Her access token is her password at the \"login\" service (scope \"login\" required)"
token=$(as_alice token)
echo "    (a ${#token}-byte ES256 JWT from \`pot token\`, verified offline by pam_pot)"
pam login "$token"

say "3. The \"sudo\" service requires scope \"sudo\": refused with PAM_PERM_DENIED (403, not 401)"
pam sudo "$token" || true

say "4. A forged token (payload changed to add scope sudo, signature kept): PAM_AUTH_ERR"
payload=$(printf '{"iss":"%s","sub":"alice","aud":"pot","exp":%s,"scope":"login sudo"}' \
	"$issuer" $(( $(date +%s) + 600 )) | basenc --base64url | tr -d '=\n')
forged=$(echo "$token" | awk -F. -v p="$payload" '{ print $1 "." p "." $3 }')
pam sudo "$forged" || true

say "5. alice signs in again asking for \"login sudo\" (pot.conf: scope.sudo = @ops, she is in ops)"
login "login sudo"
token=$(as_alice token)
pam sudo "$token"

say "6. Her refresh token, typed as a password: potd checks it over $state/run/potd.sock"
rt=$(refresh_token)
echo "    (pot_rt_… 50 characters; potd keeps only its HMAC; the check slides its expiry)"
pam login "$rt"

say "7. The administrator revokes alice's tokens"
echo "    \$ pot tokens revoke --user alice"
as_admin tokens revoke --user alice | sed 's/^/    /'

say "8. The same refresh token is refused now (PAM_AUTH_ERR); access tokens expire on their own"
pam login "$rt" || true
rt=
token=
forged=
grep -E 'check|revoke' "$state/potd.log" | tail -n 3 | sed 's/^/    potd: /'

if [ "$interactive" = yes ]; then
	say "potd keeps serving on $issuer until Ctrl-C"
	cat <<-EOF
	    Try it yourself (alice's password: $password):
	      XDG_CONFIG_HOME=$state/alice $pot --config $state/pot.conf login --no-browser
	      XDG_CONFIG_HOME=$state/alice $pot --config $state/pot.conf status
	      curl $issuer/.well-known/oauth-authorization-server
	      curl $issuer/metrics
	EOF
	serving=yes
	wait "$potd_pid" || :
	exit 0
fi
say "Done: potd stopped; files are in $state"
