#!/usr/bin/env bash
# load.sh [BUILD_DIR] — potd under 60 s of mixed traffic at 256 connections (wrk on
# loopback): client_credentials, refresh_token (durable commits), introspection, JWKS,
# metadata, healthz, and a designed refusal (a refresh token that does not exist: 400
# invalid_grant). Reports requests/s, p50/p99, every status seen, and potd's RSS after the
# warm-up, after each round of load and after 10 s of rest. The first round grows the
# allocator's per-thread arenas and the store's cache to their working size; memory is
# flat when later rounds add nothing. Fails (exit 1) on any status other than 200 and the
# designed 400, on a socket error, or when RSS after the last round exceeds RSS after the
# first by more than LOAD_RSS_SLACK_KB (1024). Not part of `make check`.
#
# Environment: ROUNDS (2) DURATION (60s, each round) CONNS (256) THREADS (2) WARMUP (5s);
# LOAD_POTD_PREFIX runs potd under a command, e.g. "valgrind --leak-check=full --log-file=F".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$TOP/build}" && pwd) || exit 2
ROUNDS=${ROUNDS:-2} DURATION=${DURATION:-60s} CONNS=${CONNS:-256} THREADS=${THREADS:-2} WARMUP=${WARMUP:-5s}
SLACK=${LOAD_RSS_SLACK_KB:-1024}
BENCH_TAG=load
# shellcheck source=tests/bench/lib.sh
. "$HERE/lib.sh"
# under LOAD_POTD_PREFIX (valgrind), potd's exit takes as long as its leak report
BENCH_STOP_S=300
bench_need wrk curl jq pkg-config openssl ss
[ -x "$B/potd" ] && [ -x "$B/pot" ] || die "no potd/pot in $B (build it first)"
bench_pam_wrapper
NSSWRAP=$(pkg-config --libs nss_wrapper | tr -d ' ')

bench_tmpdir potd-load
# As root, potd and pot start as root and become `user` themselves, as under systemd;
# nss_wrapper gives them loaduser.
RUN_USER=$(id -un)
[ "$(id -u)" = 0 ] && RUN_USER=nobody
{ getent passwd "$RUN_USER"; echo "loaduser:x:4801:4801:load:/:/bin/sh"; } >"$T/passwd"
{ getent group "$(id -gn "$RUN_USER")"; echo "loaduser:x:4801:"; } >"$T/group"
chmod 0644 "$T"/passwd "$T"/group
RUN_AS="env LD_PRELOAD=$NSSWRAP NSS_WRAPPER_PASSWD=$T/passwd NSS_WRAPPER_GROUP=$T/group"
bench_pam_login load-signin loaduser:load-password-0123
bench_potd_conf load-signin api
ulimit -n 4096 2>/dev/null
# shellcheck disable=SC2086 # LOAD_POTD_PREFIX is a word list
bench_potd_start env LD_PRELOAD="$PAMWRAP:$NSSWRAP" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/services" \
	NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
	${LOAD_POTD_PREFIX:-} "$B/potd" --config "$T/pot.conf" --foreground

bench_client_add load --grant client_credentials,authorization_code,refresh_token \
	--introspect --first-party --scope api
# a refresh token of loaduser through the code flow (confidential client: it does not rotate)
bench_code_flow loaduser load-password-0123 api
AT=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=api "$BASE/auth/v2/token" | jq -r .access_token)
[ -n "$AT" ] && [ "$AT" != null ] || die "no access token"

AUTH=$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)
cat >"$T/mix.lua" <<EOF
-- the mix: 10 slots, one request each, in turn
local auth = "Basic $AUTH"
local form = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth }
local plain = {}
local reqs = {
  wrk.format("POST", "/auth/v2/token", form, "grant_type=client_credentials&scope=api"),
  wrk.format("POST", "/auth/v2/token", form, "grant_type=client_credentials"),
  wrk.format("POST", "/auth/v2/token", form, "grant_type=client_credentials&scope=api"),
  wrk.format("POST", "/auth/v2/token", form, "grant_type=refresh_token&refresh_token=$RT"),
  wrk.format("POST", "/auth/v2/token", form, "grant_type=refresh_token&refresh_token=$RT"),
  wrk.format("POST", "/auth/v2/introspect", form, "token=$AT"),
  wrk.format("POST", "/auth/v2/introspect", form, "token=$RT"),
  wrk.format("GET", "/auth/v2/jwks", plain),
  wrk.format("GET", "/.well-known/oauth-authorization-server", plain),
  wrk.format("POST", "/auth/v2/token", form, "grant_type=refresh_token&refresh_token=pot_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; statuses = {} end
function request() n = n + 1; return reqs[(n % #reqs) + 1] end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for s, c in pairs(t:get("statuses")) do all[s] = (all[s] or 0) + c end
  end
  for s, c in pairs(all) do io.write(string.format("status %d %d\n", s, c)) end
  io.write(string.format("p50_ms %.2f\np99_ms %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("errors connect %d read %d write %d timeout %d status %d\n", summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
end
EOF
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$POTD_PID/status"; }
[ -n "${LOAD_POTD_PREFIX:-}" ] || [ "$(cat "/proc/$POTD_PID/comm")" = potd ] || die "pid $POTD_PID is not potd"
log "potd $POTD_PID on $BASE; warm-up $WARMUP at $CONNS connections"
wrk -t "$THREADS" -c "$CONNS" -d "$WARMUP" -s "$T/mix.lua" "$BASE" >/dev/null 2>&1
rss0=$(rss)
log "load: $ROUNDS x $DURATION at $CONNS connections, $THREADS wrk threads (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
rss_rounds=
for i in $(seq "$ROUNDS"); do
	wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" --timeout 10s -s "$T/mix.lua" "$BASE" >"$T/wrk$i.out" 2>&1
	rss_rounds="$rss_rounds $(rss)"
done
sleep 10
rss_rest=$(rss)
kill -0 "$POTD_PID" 2>/dev/null || die "potd died under load"
report() {	# report FILE: one round's numbers
	echo "  requests:      $(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1") ($(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1")/s)"
	echo "  latency:       p50 $(sed -n 's/^p50_ms //p' "$1") ms, p99 $(sed -n 's/^p99_ms //p' "$1") ms"
	sed -n 's/^status \([0-9]*\) \([0-9]*\)/  HTTP \1:      \2/p' "$1" | sort
	echo "  socket errors: $(sed -n 's/^errors //p' "$1")"
}
echo "potd under mixed load: $CONNS connections ($(nproc) cores, wrk on the same machine)"
for i in $(seq "$ROUNDS"); do
	echo "round $i ($DURATION):"
	report "$T/wrk$i.out"
done
echo "potd RSS (kB): $rss0 after warm-up;$(echo "$rss_rounds" | sed 's/ \([0-9]*\)/ \1,/g; s/,$//') after each round; $rss_rest after 10 s of rest"
fail=0
for i in $(seq "$ROUNDS"); do
	f=$T/wrk$i.out
	if sed -n 's/^status \([0-9]*\) .*/\1/p' "$f" | grep -qv -e '^200$' -e '^400$'; then
		log "FAIL: round $i: a status other than 200 and the designed 400"; fail=1
	fi
	grep -q '^errors connect 0 read 0 write 0 timeout 0' "$f" || { log "FAIL: round $i: socket errors"; fail=1; }
	grep -q '^status 400 ' "$f" || { log "FAIL: round $i: the designed refusal never came"; fail=1; }
done
set -- $rss_rounds
first=$1
shift $(($# - 1))
[ "$1" -le $((first + SLACK)) ] || { log "FAIL: RSS grew by $(($1 - first)) kB after round 1"; fail=1; }
exit $fail
