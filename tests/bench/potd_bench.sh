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
OUTDIR=${POTD_BENCH_OUT:-/tmp/potd-bench-results/$(date +%Y%m%d-%H%M%S)}
USER_NAME=benchuser USER_PASS=benchpass-0123 SERVICE=potd-bench
BENCH_TAG=potd-bench
# shellcheck source=tests/bench/lib.sh
. "$HERE/lib.sh"
BENCH_LIMIT=${POTD_BENCH_LIMIT:-7200}
BENCH_KEEP=${POTD_BENCH_KEEP:-0}

# ---- tools --------------------------------------------------------------------------------
need=$(bench_missing curl jq wrk openssl ss pkg-config setpriv)
if [ -n "$need" ]; then
	log "installing:$need"
	# shellcheck disable=SC2046 # a word list
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(bench_packages "$need") >&2 ||
		die "cannot install$need"
fi
[ -x "$PEERS_DIR/run-peers.sh" ] || die "no $PEERS_DIR/run-peers.sh"
bench_pam_wrapper

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
bench_tmpdir potd-bench
PEERS_STARTED=false
# shellcheck disable=SC2317 # called by the EXIT trap (bench_cleanup)
at_exit() {
	if $PEERS_STARTED; then	# run-peers.sh brings each peer down itself; this is for an interruption
		"$PEERS_DIR/oidcp-down.sh" 4594 >/dev/null 2>&1
		"$PEERS_DIR/oidcp-down.sh" 4596 >/dev/null 2>&1
		"$PEERS_DIR/glewlwyd-down.sh" 4593 >/dev/null 2>&1
	fi
}
bench_run_user
bench_potd_conf "$SERVICE" api
bench_pam_login "$SERVICE" "$USER_NAME:$USER_PASS"

# ---- potd -----------------------------------------------------------------------------------
# LD_PRELOAD is set by env after setpriv, so that only potd is under pam_wrapper.
# --foreground as in etc/systemd/potd.service: its log lines also go to potd.log.
# shellcheck disable=SC2086 # RUN_AS is a word list
bench_potd_start $RUN_AS env LD_PRELOAD="$PAMWRAP" PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$T/services" UID_WRAPPER_DISABLE_DEEPBIND=1 \
	"$B/potd" --config "$T/pot.conf" --foreground
log "potd $POTD_PID serving $BASE as $RUN_USER, state $T/state"

# ---- client, and a refresh token through the authorization code flow -----------------------
bench_client_add bench-potd --grant client_credentials,authorization_code,refresh_token \
	--introspect --first-party --scope api
bench_code_flow "$USER_NAME" "$USER_PASS" api
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
echo "potd from $B, source $(bench_source), $(openssl version | cut -d' ' -f1-2), $(nproc) CPUs"
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
