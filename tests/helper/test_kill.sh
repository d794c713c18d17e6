#!/bin/sh
# test_kill.sh — Berkeley DB makes the survivor of a killed process run recovery; potd
# alone owns the environment, so a `pot` killed in the middle of a write must leave potd
# serving, and a `pot` killed while it owned the store (potd down) must leave a store
# that the next potd opens, recovers and serves. Nothing acknowledged is lost.
set -eu
top=${POT_TOP_BUILDDIR:?POT_TOP_BUILDDIR is not set}
POT=$top/pot
POTD=$top/potd
[ "${POT_SANITIZERS:-no}" != yes ] || { echo "SKIP: sanitizer build (kill -9 leaves ASan reports)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pot-kill.XXXXXX")
chmod 0755 "$tmp"
potd_pid=
cleanup() {
	[ -z "$potd_pid" ] || kill -9 "$potd_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/pot.conf" <<EOF
issuer = http://127.0.0.1:$port
listen = 127.0.0.1:$port
state_dir = $tmp/state
jwks = $tmp/state/jwks.json
socket = $tmp/run/potd.sock
user = nobody
EOF
chmod 0644 "$tmp/pot.conf"
fail() { echo "FAIL: $*"; [ ! -f "$tmp/potd.log" ] || sed 's/^/  potd: /' "$tmp/potd.log"; exit 1; }
pot() { timeout 30 "$POT" --config "$tmp/pot.conf" "$@"; }

start_potd() {
	timeout 300 "$POTD" --config "$tmp/pot.conf" --foreground >>"$tmp/potd.log" 2>&1 &
	potd_pid=$!
	i=0
	until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "potd did not come up"
		kill -0 "$potd_pid" 2>/dev/null || fail "potd exited"
		sleep 0.1
	done
}
stop_potd() {
	kill -TERM "$potd_pid"
	st=0
	wait "$potd_pid" || st=$?
	[ "$st" = 0 ] || fail "potd exited with $st on SIGTERM (want 0)"
	potd_pid=
}
# Starts `pot client add NAME` and kills it -9 after a short, varying delay.
add_and_kill() {
	"$POT" --config "$tmp/pot.conf" client add "$1" --scope api --grant client_credentials \
		>/dev/null 2>&1 &
	p=$!
	sleep "0.0$(( $2 % 10 ))"
	kill -9 "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

# 1. potd running: twenty `pot` processes killed mid-request; potd keeps serving.
start_potd
n=0
while [ $n -lt 20 ]; do
	add_and_kill "k$n" "$n"
	n=$((n + 1))
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "potd stopped answering after killed clients"
pot client add after-kill --scope api --grant client_credentials >/dev/null ||
	fail "pot could not add a client after the kills"
pot --json client list >"$tmp/list1" || fail "pot client list failed while potd runs"
grep -q '"after-kill"' "$tmp/list1" || fail "after-kill is not listed"
stop_potd

# 2. potd down: `pot` owns the store itself; kill it -9 in the middle, ten times.
n=0
while [ $n -lt 10 ]; do
	add_and_kill "d$n" "$((n * 3))"
	n=$((n + 1))
done
pot client add direct-after --scope api --grant client_credentials >/dev/null ||
	fail "pot could not open the store after being killed (no recovery?)"
# every client acknowledged before the kills is still there after recovery by potd
start_potd
pot --json client list >"$tmp/list2" || fail "pot client list failed after recovery"
for c in after-kill direct-after; do
	grep -q "\"$c\"" "$tmp/list2" || fail "client $c was lost"
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "potd unhealthy after recovery"
stop_potd
echo "PASS: potd survived 20 killed pot clients; the store recovered after 10 killed direct writers"
