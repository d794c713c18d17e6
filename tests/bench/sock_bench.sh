#!/usr/bin/env bash
# sock_bench.sh BUILD_DIR — refresh-token checks per second on potd's UNIX socket, against
# the socket's own floor, {"op":"ping"} (answered without the store), measured in the same
# run by the same client (tests/bench/sock_bench.c: N threads, a connection each, one
# request at a time). Not part of `make check`: it asserts no timing; it reports ratios,
# and the absolute checks/s against the target of 20,000/s.
#
# What it does:
#   1. builds potd, pot and tests/bench/sock_bench in BUILD_DIR (a configured build dir);
#   2. starts potd (which never forks away) in the background of this script, with a
#      private state dir, socket and pot.conf (durable Berkeley DB commits, the default), its
#      login_service under pam_wrapper + pam_matrix; as root, potd and pot run as nobody,
#      and potd runs in a private mount namespace whose /dev/log is `sock_bench -L`, the
#      benchmark's stand-in for journald: potd logs every check through syslog(3) as in
#      production, and neither the machine's /dev/log (other programs read it) nor a
#      copy of every line on stderr (--foreground) is in the way. Not as root, potd runs
#      with --foreground and logs to whatever /dev/log the machine has;
#   3. registers a confidential first-party client with `pot client add` and gets NTOKENS
#      refresh tokens for NUSERS users through the authorization code flow with curl
#      (authorize + PKCE S256 -> login form -> 303 with a code -> token), into a 0600 file
#      that only sock_bench reads: no token is ever printed;
#   4. "batched": for clients in CLIENTS (1 8 64), ROUNDS (3) rounds of ping then check,
#      DURATION s each after WARMUP s: checks as pam_pot makes them, which write a token's
#      sliding expiry only when it moves by 60 s or more, so that within the run no check
#      writes (the tokens were just issued);
#   5. "every check writes": potd restarted on the same store under libfaketime with
#      FAKETIME="+0 i60" (the clock steps 60 s at each time() call, sleeps unscaled), so
#      that every check moves the expiry by >= 60 s and commits it durably; the same rounds
#      of ping then check; then one more check run per client count under `perf stat`
#      counting potd's fdatasync/fsync calls, to show how many commits share one flush;
#   6. prints, per phase and client count, the medians over the rounds: ping/s, check/s,
#      their ratio, p50/p99 latencies, potd's and the log sink's CPU time per request, the
#      CPU the rest of the machine used meanwhile, and check/s against the target (for 8
#      clients and more: one client waits for each answer, so its rate is 1/latency);
#      stops potd, removes its temp dir (trap).
# Before each run it waits (at most QUIET_WAIT s, 20) for a quiet machine: other processes
# using at most QUIET_PCT % (15) of it over half a second; the table shows what they took.
# The client runs on the same machine as potd and takes about as much CPU per request: on
# 2 CPUs the rates are those of the pair, which is also how pam_pot meets potd.
#
# Environment: CLIENTS ("1 8 64"), ROUNDS (3), DURATION (2 s), WARMUP (0.5 s), NTOKENS (64),
#   NUSERS (16), TARGET (20000), TARGET_CLIENTS (8), QUIET_PCT (15), QUIET_WAIT (20),
#   SOCK_BENCH_WRITES=0 skips phase 5, SOCK_BENCH_KEEP=1 keeps the temp dir,
#   SOCK_BENCH_HOLD=1 stops after step 3 with potd running and waits (for profiling by
#   hand: it prints the socket and the token file's path), SOCK_BENCH_LIMIT (potd's
#   lifetime bound, 3600 s).
# Exit: 0 measured (the target is reported, not enforced), 1 setup failure or a failed
#   request, 2 usage.
set -uo pipefail

cmdline="$0 $*"
BENCH_TAG=sock-bench
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { sed -n '2,/^set /{/^set /!p}' "$0" >&2; exit 2; }
case "$1" in -h|--help) sed -n '2,/^set /{/^set /!p}' "$0"; exit 0 ;; esac
[ -f "$1/Makefile" ] || { echo "$0: $1 is not a configured build directory" >&2; exit 2; }
B=$(cd "$1" && pwd)
CLIENTS=${CLIENTS:-1 8 64}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-2}
WARMUP=${WARMUP:-0.5}
NTOKENS=${NTOKENS:-64}
NUSERS=${NUSERS:-16}
TARGET=${TARGET:-20000}
TARGET_CLIENTS=${TARGET_CLIENTS:-8}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT=${QUIET_WAIT:-20}
BENCH_LIMIT=${SOCK_BENCH_LIMIT:-3600}
BENCH_KEEP=${SOCK_BENCH_KEEP:-0}
SERVICE=sock-bench-login
FAKETIME_SO=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1

bench_need curl jq openssl ss pkg-config setpriv awk
bench_pam_wrapper
[ "$(id -u)" != 0 ] || command -v unshare >/dev/null || die "unshare is missing (util-linux)"
WRITES=${SOCK_BENCH_WRITES:-1}
if [ "$WRITES" = 1 ] && [ ! -f "$FAKETIME_SO" ]; then
	log "no $FAKETIME_SO (apt-get install libfaketime): skipping the every-check-writes phase"
	WRITES=0
fi

# ---- build ----------------------------------------------------------------------------------
make -s --no-print-directory -C "$B" potd pot >&2 || die "build failed in $B"
BENCH=$B/tests/bench/sock_bench
if ! bench_make_prog tests/bench/sock_bench; then
	# Makefile.am does not know the benchmark yet: build it with the build's own flags.
	mkdir -p "$B/tests/bench"
	# shellcheck disable=SC2046 # the flags are word lists
	$(mkvar CC) -I"$B" $(mkvar CPPFLAGS) $(mkvar CFLAGS) $(mkvar WARN_CFLAGS) -o "$BENCH" \
		"$(mkvar abs_top_srcdir)/tests/bench/sock_bench.c" $(mkvar LDFLAGS) -lpthread ||
		die "cannot build sock_bench"
fi

# ---- state ----------------------------------------------------------------------------------
bench_tmpdir sock-bench
PERF_PID=""
SINK_PID=""
# shellcheck disable=SC2317 # called by the EXIT trap (bench_cleanup), once potd is stopped
at_exit() {
	[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null
	if [ -n "$SINK_PID" ]; then
		kill -TERM "$SINK_PID" 2>/dev/null
		wait "$SINK_PID" 2>/dev/null
	fi
}
bench_run_user
bench_potd_conf "$SERVICE" login
# refresh_max of 10 years: the fast clock of phase 5 runs months within a minute
cat >>"$T/pot.conf" <<EOF
refresh_ttl = 2592000
refresh_max = 315360000
EOF
user_of() { printf 'bench%02d' $(( ($1 - 1) % NUSERS + 1 )); }
# shellcheck disable=SC2046 # a word list of USER:PASSWORD
bench_pam_login "$SERVICE" $(for i in $(seq 1 "$NUSERS"); do echo "$(user_of "$i"):pw-$(user_of "$i")-0123"; done)

# As root: potd's syslog(3) goes to the sink, through /dev/log in a private mount namespace
# (a tmpfs /dev holding null, zero, full, random, urandom, shm, fd and log).
if [ "$(id -u)" = 0 ]; then
	"$BENCH" -L "$T/log.sock" -o "$T/potd.log" >"$T/sink.out" 2>&1 &
	SINK_PID=$!
	for _ in $(seq 1 50); do [ -S "$T/log.sock" ] && break; sleep 0.1; done
	[ -S "$T/log.sock" ] || die "the log sink did not start: $(cat "$T/sink.out")"
	mkdir -p "$T/dev"
	# shellcheck disable=SC2016 # for the inner shell
	IN_NS=(unshare --mount --propagation private -- sh -c 'set -e; d=$1; shift
		mount -t tmpfs -o mode=0755,size=64k sock-bench-dev "$d"
		for n in null zero full random urandom; do : >"$d/$n"; mount --bind "/dev/$n" "$d/$n"; done
		mkdir "$d/shm"; mount --bind /dev/shm "$d/shm"	# libfaketime needs it
		ln -s /proc/self/fd "$d/fd"; : >"$d/log"; mount --bind "$0" "$d/log"
		mount --move "$d" /dev
		exec "$@"' "$T/log.sock" "$T/dev")
	FOREGROUND=()
	POTD_OUT=$T/potd.err
else
	IN_NS=()
	FOREGROUND=(--foreground)
	POTD_OUT=$T/potd.log
fi

# start_potd [ENV=VALUE…]: potd in the background of this script; LD_PRELOAD is set by
# env after setpriv, so that only potd is under the preloads.
start_potd() {
	# shellcheck disable=SC2086 # RUN_AS is a word list
	bench_potd_start "${IN_NS[@]}" $RUN_AS env "$@" "$B/potd" --config "$T/pot.conf" \
		"${FOREGROUND[@]}"
	[ -S "$SOCK" ] || die "no socket at $SOCK"
}
start_potd LD_PRELOAD="$PAMWRAP" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/services" \
	UID_WRAPPER_DISABLE_DEEPBIND=1
log "potd $POTD_PID serving $SOCK as $RUN_USER, state $T/state"

# ---- refresh tokens ----------------------------------------------------------------------------
bench_client_add sock-bench --grant authorization_code,refresh_token --first-party --scope login
# issue_rt USER: the code flow for USER; appends "USER TOKEN" to the token file
issue_rt() {
	bench_code_flow "$1" "pw-$1-0123" login
	printf '%s %s\n' "$1" "$RT" >>"$T/tokens"
}
(umask 077 && : >"$T/tokens")
for i in $(seq 1 "$NTOKENS"); do
	issue_rt "$(user_of "$i")"
done
[ "$(wc -l <"$T/tokens")" = "$NTOKENS" ] || die "not $NTOKENS tokens"
log "$NTOKENS refresh tokens for $NUSERS users through the code flow of client $CLIENT_ID"
"$BENCH" -s "$SOCK" -c 1 -w 0 -d 0.2 -t "$T/tokens" >/dev/null ||
	die "a check failed: $(grep 'check:' "$T/potd.log" | grep -v result=ok | tail -3)"

if [ "${SOCK_BENCH_HOLD:-0}" = 1 ]; then
	log "holding potd $POTD_PID for profiling: socket $SOCK, tokens $T/tokens; e.g."
	log "  $BENCH -s $SOCK -c 8 -d 10 -t $T/tokens"
	wait "$WRAP_PID"
	exit 0
fi

# ---- measuring ---------------------------------------------------------------------------------
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }	# utime + stime
sink_ticks() { if [ -n "$SINK_PID" ]; then proc_ticks "$SINK_PID"; else echo 0; fi; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
RESULTS=$T/results
: >"$RESULTS"
LOADS=""

# quiet: waits, at most QUIET_WAIT s, until the other processes take at most QUIET_PCT % of
# the machine over half a second (potd and the sink idle meanwhile)
quiet() {
	local end=$((SECONDS + QUIET_WAIT)) b0 b1
	while [ "$SECONDS" -lt "$end" ]; do
		b0=$(busy_ticks); sleep 0.5; b1=$(busy_ticks)
		awk -v d=$((b1 - b0)) -v hz="$HZ" -v n="$NCPU" -v p="$QUIET_PCT" \
			'BEGIN { exit !(d / hz / 0.5 / n * 100 <= p) }' && return 0
	done
	return 0
}

# run_one PHASE OP CLIENTS ROUND: one sock_bench run; appends a result line
run_one() {
	local phase=$1 op=$2 n=$3 round=$4 arg out p0 p1 s0 s1 b0 b1 sent cpu
	if [ "$op" = ping ]; then arg=(-p); else arg=(-t "$T/tokens"); fi
	quiet
	p0=$(proc_ticks "$POTD_PID"); s0=$(sink_ticks); b0=$(busy_ticks)
	out=$("$BENCH" -s "$SOCK" -c "$n" -w "$WARMUP" -d "$DURATION" "${arg[@]}") ||
		die "$op with $n clients: a request failed ($out); potd log: $(tail -3 "$T/potd.log")"
	p1=$(proc_ticks "$POTD_PID"); s1=$(sink_ticks); b1=$(busy_ticks)
	sent=$(printf '%s\n' "$out" | sed -n 's/.* sent=\([0-9]*\).*/\1/p')
	cpu=$(printf '%s\n' "$out" | sed -n 's/.* cpu_s=\([0-9.]*\).*/\1/p')
	# CPU per request (µs) of potd and of the log sink, and the share of the machine (%)
	# that the other processes took meanwhile
	printf '%s\n' "$out" | awk -v ph="$phase" -v op="$op" -v r="$round" -v hz="$HZ" \
		-v pd=$((p1 - p0)) -v sd=$((s1 - s0)) -v bd=$((b1 - b0)) -v sent="$sent" -v cpu="$cpu" \
		-v ncpu="$NCPU" -v wall="$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN { print w + d }')" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		other = ((bd - pd - sd) / hz - cpu) / (wall * ncpu) * 100
		printf "%s %s %s %s %s %s %s %.1f %.1f %.1f\n", ph, op, v["clients"], r, v["rps"],
		       v["p50_us"], v["p99_us"], pd / hz * 1e6 / sent, (other < 0 ? 0 : other),
		       sd / hz * 1e6 / sent
	}' >>"$RESULTS"
}

# phase PHASE: ROUNDS rounds of ping, check for each client count
phase() {
	local n r
	LOADS="$LOADS $1:$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
	for n in $CLIENTS; do
		for r in $(seq 1 "$ROUNDS"); do
			run_one "$1" ping "$n" "$r"
			run_one "$1" check "$n" "$r"
		done
		log "$1: $n clients done"
	done
	LOADS="$LOADS..$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
}

# med PHASE OP CLIENTS FIELD: the median of a field over the rounds
med() {
	awk -v ph="$1" -v op="$2" -v n="$3" -v f="$4" '$1 == ph && $2 == op && $3 == n { print $f }' \
		"$RESULTS" | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a";
		else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
range() {
	awk -v ph="$1" -v op="$2" -v n="$3" -v f="$4" '$1 == ph && $2 == op && $3 == n { print $f }' \
		"$RESULTS" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'
}

table() {
	local ph=$1 n ping check ratio verdict
	echo "| clients | ping/s | check/s (range) | check/ping | ping p50/p99 µs | check p50/p99 µs | potd CPU µs per ping / check | log sink µs per check | other CPU % | check/s vs $TARGET |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for n in $CLIENTS; do
		ping=$(med "$ph" ping "$n" 5); check=$(med "$ph" check "$n" 5)
		ratio=$(awk -v a="$check" -v b="$ping" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		if [ "$n" -lt "$TARGET_CLIENTS" ]; then verdict="(information)"
		elif awk -v a="$check" -v t="$TARGET" 'BEGIN { exit !(a >= t) }'; then verdict=PASS
		else verdict=MISS; fi
		printf '| %s | %.0f | %.0f (%s) | %s | %s/%s | %s/%s | %s / %s | %s | %s | %s |\n' "$n" \
			"$ping" "$check" "$(range "$ph" check "$n" 5)" "$ratio" "$(med "$ph" ping "$n" 6)" \
			"$(med "$ph" ping "$n" 7)" "$(med "$ph" check "$n" 6)" "$(med "$ph" check "$n" 7)" \
			"$(med "$ph" ping "$n" 8)" "$(med "$ph" check "$n" 8)" "$(med "$ph" check "$n" 10)" \
			"$(med "$ph" check "$n" 9)" "$verdict"
	done
}

phase batched

FSYNCS=""
if [ "$WRITES" = 1 ]; then
	bench_potd_stop
	start_potd LD_PRELOAD="$FAKETIME_SO" FAKETIME="+0 i60" FAKETIME_DONT_FAKE_MONOTONIC=1
	log "potd $POTD_PID restarted on the same store, its clock stepping 60 s per time() call"
	# every check writes now: the expiry a check answers moves on from one to the next
	e1=$("$BENCH" -s "$SOCK" -e -t "$T/tokens") && e2=$("$BENCH" -s "$SOCK" -e -t "$T/tokens") ||
		die "a check failed under faketime"
	[ "${e2#exp=}" -ge $(( ${e1#exp=} + 60 )) ] ||
		die "checks do not write under faketime: $e1 then $e2"
	phase writes
	if command -v perf >/dev/null; then
		for n in $CLIENTS; do
			perf stat -x, -o "$T/perf.$n" -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync \
				-p "$POTD_PID" >/dev/null 2>&1 &
			PERF_PID=$!
			quiet
			out=$("$BENCH" -s "$SOCK" -c "$n" -w 0 -d "$DURATION" -t "$T/tokens") || die "check failed under perf"
			kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null; PERF_PID=""
			syncs=$(awk -F, '/sys_enter_f(data)?sync/ { s += $1 } END { print s + 0 }' "$T/perf.$n")
			sent=$(printf '%s\n' "$out" | sed -n 's/.* sent=\([0-9]*\).*/\1/p')
			FSYNCS="$FSYNCS$(awk -v n="$n" -v c="$sent" -v s="$syncs" 'BEGIN {
				printf "| %s | %d | %d | %s |\n", n, c, s, (s > 0 ? sprintf("%.1f", c / s) : "n/a") }')
"
		done
	fi
fi

# ---- report ------------------------------------------------------------------------------------
echo "command: $cmdline"
echo "potd from $B, source $(bench_source), $NCPU CPUs, $(uname -r)"
echo "sock_bench: -w $WARMUP -d $DURATION per run; $ROUNDS rounds of (ping, check) per client count, medians (check/s range over the rounds); $NTOKENS refresh tokens of $NUSERS users, client i checking tokens i, i+N, …"
echo "load average (1/5/15 min) at the start..end of each phase:$LOADS"
echo
echo "batched: checks as pam_pot makes them; the sliding expiry is written only when it moves by >= 60 s (none within this run)"
table batched
if [ "$WRITES" = 1 ]; then
	echo
	echo "every check writes: potd's clock steps 60 s per time() call (libfaketime i60), so each check commits its new expiry durably"
	table writes
	if [ -n "$FSYNCS" ]; then
		echo
		echo "group commit (one more run of checks that all write, potd's fdatasync+fsync counted by perf stat;"
		echo "a flush serves every commit made before it: with two socket workers at most two wait at once):"
		echo "| clients | checks (all written) | log flushes | commits per flush |"
		echo "|---|---|---|---|"
		printf '%s' "$FSYNCS"
	fi
	echo
	echo "| clients | check/s batched | check/s every check writing | batched / writing |"
	echo "|---|---|---|---|"
	for n in $CLIENTS; do
		a=$(med batched check "$n" 5); b=$(med writes check "$n" 5)
		printf '| %s | %.0f | %.0f | %s |\n' "$n" "$a" "$b" \
			"$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')"
	done
fi
exit 0
