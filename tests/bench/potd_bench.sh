#!/usr/bin/env bash
# potd_bench.sh [BUILD_DIR] — potd's token endpoint under wrk on loopback, against the two
# peer servers of ../shared/peers (glewlwyd from Debian, node-oidc-provider from npm),
# measured in the same run, in the same rounds, by the same script (bench-token.sh through
# run-peers.sh, which measures an already running server described by an `env:FILE`).
# Not part of `make check`: it asserts no timing; it reports ratios to the peers.
#
# What it does:
#   1. builds potd and pot in BUILD_DIR (default /work/main/build; a BUILD_DIR without a
#      Makefile is configured out of tree in /tmp/b-pbench instead);
#   2. starts potd on a free loopback port with a fresh state dir (durable Berkeley DB
#      commits, potd's default; access_ttl default; ES256 key made at first start), its
#      login_service under pam_wrapper + pam_matrix, `scope.api = *`; as root it runs potd
#      and pot as `nobody` (potd refuses to serve as root);
#   3. registers a confidential first-party client with `pot client add` (client_credentials,
#      authorization_code, refresh_token, --introspect, scope api) and gets a refresh token
#      through the code flow with curl (authorize + PKCE S256 -> login form -> 303 with a
#      code -> token); checks with two refreshes that it does not rotate, so wrk can replay it;
#   4. writes an env file and runs run-peers.sh with
#      VARIANTS="env:FILE oidcp-jwt oidcp-opaque glwd" REPEAT=${REPEAT:-3}; each wrk run waits
#      for a quiet machine first, and the table keeps, per label+test, the median of the
#      clean rounds (other CPU <= 15 % of a core);
#   5. prints that table, potd's p50/p99/non-2xx per test, and the ratios to the targets:
#        potd cc / oidcp-jwt cc          >= 10   (ES256 + durable vs RS256 JWTs)
#        potd cc / oidcp-opaque cc       >= 3
#        potd refresh / oidcp-jwt refresh >= 5
#        potd cc / glewlwyd cc           (information)
#   6. stops potd and the peers (trap), leaving nothing running.
#
# Environment: REPEAT (3) DURATION (10s) WARMUP (2s) THREADS (2) CONNS (32), passed on;
#   PEERS ("oidcp-jwt oidcp-opaque glwd"): the peer variants; POTD_BENCH_OUT (results dir,
#   default /tmp/potd-bench-results/<time>); POTD_BENCH_LIMIT (potd's lifetime bound, 7200 s);
#   POTD_BENCH_KEEP=1 keeps potd's temp dir; POTD_BENCH_STRICT=1 exits 3 when a target is
#   missed; POTD_BENCH_HOLD=1 stops after step 3, prints the env file and waits (for
#   profiling by hand) until interrupted or POTD_BENCH_LIMIT passes.
# Exit: 0 measured (targets reported), 1 setup failure or a non-2xx answer from potd,
#   2 usage, 3 a target missed under POTD_BENCH_STRICT=1.
set -uo pipefail

cmdline="$0 $*"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PEERS_DIR=${PEERS_DIR:-$(cd "$TOP/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)}
B=${1:-/work/main/build}
[ $# -le 1 ] || { sed -n '2,/^set /{/^set /!p}' "$0"; exit 2; }
case "$B" in -h|--help) sed -n '2,/^set /{/^set /!p}' "$0"; exit 0 ;; esac
export REPEAT=${REPEAT:-3}
PEERS=${PEERS:-oidcp-jwt oidcp-opaque glwd}
LIMIT=${POTD_BENCH_LIMIT:-7200}
OUTDIR=${POTD_BENCH_OUT:-/tmp/potd-bench-results/$(date +%Y%m%d-%H%M%S)}
USER_NAME=benchuser USER_PASS=benchpass-0123 SERVICE=potd-bench

log() { echo "[potd-bench] $*" >&2; }
die() { log "$*"; exit 1; }

# ---- tools --------------------------------------------------------------------------------
need=""
for t in curl jq wrk openssl ss pkg-config setpriv; do command -v $t >/dev/null || need="$need $t"; done
if [ -n "$need" ]; then
	log "installing:$need"
	pk=$(echo "$need" | sed -e 's/\bss\b/iproute2/' -e 's/\bpkg-config\b/pkgconf/' -e 's/\bsetpriv\b/util-linux/')
	# shellcheck disable=SC2086 # a word list
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pk >&2 || die "cannot install$need"
fi
[ -x "$PEERS_DIR/run-peers.sh" ] || die "no $PEERS_DIR/run-peers.sh"
PAMWRAP=$(pkg-config --libs pam_wrapper 2>/dev/null | awk '{print $1}')
[ -f "$PAMWRAP" ] || die "pam_wrapper is missing (apt-get install libpam-wrapper)"
PAM_MATRIX=/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so
[ -f "$PAM_MATRIX" ] || PAM_MATRIX=$(dirname "$PAMWRAP")/pam_wrapper/pam_matrix.so
[ -f "$PAM_MATRIX" ] || die "pam_matrix.so not found"

# ---- build --------------------------------------------------------------------------------
if [ ! -f "$B/Makefile" ]; then
	log "$B is not a configured build directory: configuring /tmp/b-pbench"
	B=/tmp/b-pbench
	mkdir -p "$B" && (cd "$B" && { [ -f Makefile ] || "$TOP/configure" >&2; }) || die "configure failed"
fi
B=$(cd "$B" && pwd)
(cd "$B" && make -j2 -s potd pot >&2) || (cd "$B" && make -j2 >&2) || die "build failed in $B"
[ -x "$B/potd" ] && [ -x "$B/pot" ] || die "no potd/pot in $B"

# ---- state --------------------------------------------------------------------------------
T=$(mktemp -d /tmp/potd-bench.XXXXXX) || die "mktemp"
chmod 0755 "$T"
POTD_PID=""
WRAP_PID=""
PEERS_STARTED=false
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$POTD_PID" ] && kill -0 "$POTD_PID" 2>/dev/null; then
		kill -TERM "$POTD_PID" 2>/dev/null
		for _ in $(seq 1 120); do kill -0 "$POTD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$POTD_PID" 2>/dev/null && kill -KILL "$POTD_PID" 2>/dev/null
	fi
	if [ -n "$WRAP_PID" ]; then
		kill -TERM "$WRAP_PID" 2>/dev/null
		wait "$WRAP_PID" 2>/dev/null
	fi
	# pam_wrapper's copy of libpam and the modules, if potd could not remove it itself
	if [ -n "$POTD_PID" ]; then
		for d in /tmp/pam.?; do
			[ -d "$d" ] && [ "$(cat "$d/pid" 2>/dev/null)" = "$POTD_PID" ] && rm -rf "$d"
		done
	fi
	if $PEERS_STARTED; then	# run-peers.sh brings each peer down itself; this is for an interruption
		"$PEERS_DIR/oidcp-down.sh" 4594 >/dev/null 2>&1
		"$PEERS_DIR/oidcp-down.sh" 4596 >/dev/null 2>&1
		"$PEERS_DIR/glewlwyd-down.sh" 4593 >/dev/null 2>&1
	fi
	if [ "${POTD_BENCH_KEEP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# potd refuses to serve as root: as root, potd and pot run as nobody
if [ "$(id -u)" = 0 ]; then
	RUN_USER=nobody
	RUN_AS=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups)
else
	RUN_USER=$(id -un)
	RUN_AS=()
fi

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$(( 20000 + RANDOM % 20000 ))
		ss -ltnH "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
PORT=$(free_port) || die "no free port"
BASE=http://127.0.0.1:$PORT
REDIRECT=http://127.0.0.1:9/cb

mkdir -p "$T/state" "$T/run" "$T/services"
[ "$(id -u)" = 0 ] && chown "$RUN_USER:" "$T/state" "$T/run"
cat >"$T/pot.conf" <<EOF
issuer = $BASE
listen = 127.0.0.1:$PORT
state_dir = $T/state
jwks = $T/state/jwks.json
socket = $T/run/potd.sock
user = $RUN_USER
login_service = $SERVICE
scope.api = *
EOF
chmod 0644 "$T/pot.conf"
echo "$USER_NAME:$USER_PASS:$SERVICE" >"$T/passdb"
chmod 0644 "$T/passdb"
cat >"$T/services/$SERVICE" <<EOF
auth	required	$PAM_MATRIX passdb=$T/passdb
account	required	$PAM_MATRIX passdb=$T/passdb
EOF
chmod -R a+rX "$T/services"

# ---- potd -----------------------------------------------------------------------------------
# LD_PRELOAD is set by env after setpriv, so that only potd is under pam_wrapper.
# --foreground as in etc/systemd/potd.service: its log lines also go to potd.log.
timeout -k 10 "$LIMIT" "${RUN_AS[@]}" env LD_PRELOAD="$PAMWRAP" PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$T/services" UID_WRAPPER_DISABLE_DEEPBIND=1 \
	"$B/potd" --config "$T/pot.conf" --foreground >"$T/potd.log" 2>&1 </dev/null &
WRAP_PID=$!
for _ in $(seq 1 100); do
	curl -sf -m 2 -o /dev/null "$BASE/healthz" && break
	kill -0 "$WRAP_PID" 2>/dev/null || { cat "$T/potd.log" >&2; die "potd died at start"; }
	sleep 0.1
done
curl -sf -m 2 -o /dev/null "$BASE/healthz" || { cat "$T/potd.log" >&2; die "potd does not answer on $BASE"; }
POTD_PID=$(ss -ltnpH "sport = :$PORT" | sed -n 's/.*"potd",pid=\([0-9]*\).*/\1/p' | head -1)
[ -n "$POTD_PID" ] || die "cannot find potd's pid on port $PORT"
log "potd $POTD_PID serving $BASE as $RUN_USER, state $T/state"

# ---- client -----------------------------------------------------------------------------------
"${RUN_AS[@]}" "$B/pot" --config "$T/pot.conf" --json client add bench-potd \
	--grant client_credentials,authorization_code,refresh_token --introspect --first-party \
	--scope api --redirect-uri "$REDIRECT" >"$T/client.json" 2>"$T/client.err" ||
	{ cat "$T/client.err" >&2; die "pot client add failed"; }
CLIENT_ID=$(jq -r .client_id "$T/client.json")
CLIENT_SECRET=$(jq -r .client_secret "$T/client.json")
[ -n "$CLIENT_SECRET" ] && [ "$CLIENT_SECRET" != null ] || die "no client secret: $(cat "$T/client.json")"

# ---- authorization code flow -> refresh token ----------------------------------------------
uri() { jq -rn --arg v "$1" '$v|@uri'; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
VERIFIER=$(openssl rand 48 | b64url)
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | b64url)
AUTHZ="$BASE/auth/v2/authorize?response_type=code&client_id=$(uri "$CLIENT_ID")&redirect_uri=$(uri "$REDIRECT")&scope=api&state=s1&code_challenge=$CHALLENGE&code_challenge_method=S256"
code=$(curl -s -m 10 -o "$T/login.html" -w '%{http_code}' "$AUTHZ")
[ "$code" = 200 ] || die "GET authorize: HTTP $code $(head -c 300 "$T/login.html")"
field() { # the value of the hidden input NAME in the login form, HTML entities undone
	sed -n "s/.*<input type=\"hidden\" name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" "$T/login.html" | head -1 |
		sed -e 's/&quot;/"/g' -e "s/&#39;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'
}
REQ=$(field req); MAC=$(field mac)
[ -n "$REQ" ] && [ -n "$MAC" ] || die "no req/mac in the login form"
curl -s -m 20 -o "$T/login-post.html" -D "$T/login-post.hdr" \
	--data-urlencode step=login --data-urlencode "req=$REQ" --data-urlencode "mac=$MAC" \
	--data-urlencode "username=$USER_NAME" --data-urlencode "password=$USER_PASS" \
	"$BASE/auth/v2/authorize"
status=$(head -1 "$T/login-post.hdr" | awk '{print $2}')
LOC=$(tr -d '\r' <"$T/login-post.hdr" | awk -F': ' 'tolower($1)=="location"{print $2}')
[ "$status" = 303 ] || die "login POST: HTTP $status (want 303): $(sed -e 's/<[^>]*>//g' "$T/login-post.html" | grep -v '^\s*$' | head -5 | tr '\n' ' '); potd log: $(tail -3 "$T/potd.log")"
CODE=$(printf '%s' "$LOC" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
[ -n "$CODE" ] || die "no code in Location: $LOC"
code=$(curl -s -m 10 -o "$T/code-token.json" -w '%{http_code}' -u "$(uri "$CLIENT_ID"):$(uri "$CLIENT_SECRET")" \
	--data-urlencode grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$VERIFIER" \
	"$BASE/auth/v2/token")
[ "$code" = 200 ] || die "code redemption: HTTP $code $(cat "$T/code-token.json")"
RT=$(jq -r '.refresh_token // empty' "$T/code-token.json")
[ -n "$RT" ] || die "no refresh token from the code: $(cat "$T/code-token.json")"
# a confidential client's refresh token slides, never rotates: wrk may replay it
for i in 1 2; do
	code=$(curl -s -m 10 -o "$T/refresh$i.json" -w '%{http_code}' -u "$(uri "$CLIENT_ID"):$(uri "$CLIENT_SECRET")" \
		--data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$RT" "$BASE/auth/v2/token")
	[ "$code" = 200 ] || die "refresh $i: HTTP $code $(cat "$T/refresh$i.json")"
	[ "$(jq -r '.refresh_token // empty' "$T/refresh$i.json")" = "$RT" ] ||
		die "refresh $i: the refresh token rotated; wrk cannot replay it"
done
log "client $CLIENT_ID; refresh token obtained by the code flow and refreshed twice without rotation"

ENVF=$T/potd.env
cat >"$ENVF" <<EOF
LABEL=potd-es256
BASE=$BASE
TOKEN_URL=$BASE/auth/v2/token
JWKS_URL=$BASE/auth/v2/jwks
INTROSPECT_URL=$BASE/auth/v2/introspect
CLIENT_ID='$CLIENT_ID'
CLIENT_SECRET='$CLIENT_SECRET'
REFRESH_TOKEN='$RT'
SCOPE=api
PID=$POTD_PID
TESTS="cc refresh introspect jwks"
EOF

if [ "${POTD_BENCH_HOLD:-0}" = 1 ]; then
	log "holding potd for profiling; env file $ENVF:"
	cat "$ENVF"
	wait "$WRAP_PID"
	exit 0
fi

# ---- the measurement ---------------------------------------------------------------------------
mkdir -p "$OUTDIR"
TABLE=$OUTDIR/table.md
log "run-peers.sh: VARIANTS=\"env:$ENVF $PEERS\" REPEAT=$REPEAT, results in $OUTDIR"
PEERS_STARTED=true
OUT=$OUTDIR VARIANTS="env:$ENVF $PEERS" "$PEERS_DIR/run-peers.sh" >"$TABLE" 2>"$OUTDIR/run-peers.log"
PEERS_STARTED=false	# it brought every peer down itself
kill -0 "$POTD_PID" 2>/dev/null || { tail -20 "$T/potd.log" >&2; die "potd died during the run"; }

echo "command: $cmdline"
src=$(sed -n 's/^abs_top_srcdir = //p' "$B/Makefile")
echo "potd from $B, source ${src:-?} ($(git -C "${src:-/nonexistent}" describe --always --dirty 2>/dev/null || echo 'not a git tree')), $(openssl version | cut -d' ' -f1-2), $(nproc) CPUs"
echo "wrk -t${THREADS:-2} -c${CONNS:-32} -d${DURATION:-10s} (warm-up ${WARMUP:-2s}), REPEAT=$REPEAT"
echo "peers: $PEERS; results: $OUTDIR"
echo
cat "$TABLE"
echo

# summary rows: | label | test | req/s | p50 | p99 | non-2xx | sock err | cpu | rss | token | clean/total, range |
row() { awk -F'|' -v l="$1" -v t="$2" '{ a = $2; b = $3; gsub(/^ +| +$/, "", a); gsub(/^ +| +$/, "", b) }
	a == l && b == t { print; exit }' "$TABLE"; }
col() { printf '%s\n' "$1" | awk -F'|' -v n="$2" '{ v = $n; gsub(/^ +| +$/, "", v); print v }'; }
full() { row "$1" "$2" | awk -F'|' 'NF >= 12'; }	# a measured row, not a failed probe
rps() { local r; r=$(full "$1" "$2"); [ -n "$r" ] && col "$r" 4; }
clean() { local r; r=$(full "$1" "$2"); [ -n "$r" ] && col "$r" 12 | sed 's/,.*//'; }

bad=0 miss=0
echo "potd (label potd-es256):"
echo "| test | req/s | p50 | p99 | non-2xx | sock err | clean/total |"
echo "|---|---|---|---|---|---|---|"
for t in cc refresh introspect jwks; do
	r=$(full potd-es256 "$t")
	if [ -z "$r" ]; then
		echo "| $t | MISSING: $(row potd-es256 "$t" | cut -d'|' -f4- | tr -d '|') | | | | | |"; bad=1; continue
	fi
	n2=$(col "$r" 7)
	echo "| $t | $(col "$r" 4) | $(col "$r" 5) | $(col "$r" 6) | $n2 | $(col "$r" 8) | $(clean potd-es256 "$t") |"
	[ "$n2" = 0 ] || { log "potd answered $n2 non-2xx on $t"; bad=1; }
done
# every round, not only the median one: potd must never answer non-2xx
if grep -h '^| potd-es256 ' "$OUTDIR"/all-summary.md | awk -F'|' '$7+0 != 0 {f=1} END {exit !f}'; then
	log "potd answered non-2xx in some round (see $OUTDIR/all-summary.md)"; bad=1
fi
echo

ratio_line() { # name num_label num_test den_label den_test target
	local a b c1 c2 r verdict
	a=$(rps "$2" "$3"); b=$(rps "$4" "$5")
	c1=$(clean "$2" "$3"); c2=$(clean "$4" "$5")
	if [ -z "$a" ] || [ -z "$b" ] || ! awk -v b="$b" 'BEGIN{exit !(b+0 > 0)}'; then
		echo "| $1 | ${a:-n/a} | ${b:-n/a} | n/a | ${6:+≥ $6} | NO DATA |"; [ -z "$6" ] || miss=1; return
	fi
	r=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')
	if [ -z "$6" ]; then verdict="(information)"
	elif awk -v r="$r" -v t="$6" 'BEGIN{exit !(r >= t)}'; then verdict=PASS
	else verdict=MISS; miss=1; fi
	case "$c1/$c2" in 0/*|*/0) verdict="$verdict (no clean round)";; esac
	echo "| $1 | $a | $b | $r | ${6:+≥ $6} | $verdict |"
}
echo "ratios (median req/s of clean rounds, same run):"
echo "| ratio | potd req/s | peer req/s | ratio | target | verdict |"
echo "|---|---|---|---|---|---|"
ratio_line "potd cc / oidcp-jwt cc" potd-es256 cc oidcp-jwt cc 10
ratio_line "potd cc / oidcp-opaque cc" potd-es256 cc oidcp-opaque cc 3
ratio_line "potd refresh / oidcp-jwt refresh" potd-es256 refresh oidcp-jwt refresh 5
ratio_line "potd cc / glewlwyd cc" potd-es256 cc glewlwyd cc ""
ratio_line "potd refresh / glewlwyd refresh" potd-es256 refresh glewlwyd refresh ""
# oidc-provider does not introspect its own JWT access tokens: its opaque mode is the peer here
ratio_line "potd introspect / oidcp-opaque introspect" potd-es256 introspect oidcp-opaque introspect ""
ratio_line "potd introspect / glewlwyd introspect" potd-es256 introspect glewlwyd introspect ""
echo

if [ $bad != 0 ]; then
	echo "RESULT: INVALID (potd answered non-2xx or a row is missing)"
	exit 1
fi
if [ $miss != 0 ]; then
	echo "RESULT: measured; at least one target MISSED"
	[ "${POTD_BENCH_STRICT:-0}" = 1 ] && exit 3
	exit 0
fi
echo "RESULT: measured; every target met"
exit 0
