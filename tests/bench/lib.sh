# lib.sh — shared by the benchmark scripts (bench.sh, sock_bench.sh, potd_bench.sh, load.sh);
# sourced, not run. POSIX sh, so that bench.sh (sh) and the bash scripts can all source it.
#
# Gives: log, die, bench_need, bench_missing, bench_packages, mkvar, bench_make_prog,
# bench_source, bench_tmpdir (and its EXIT trap), bench_run_user, bench_free_port,
# bench_potd_conf, bench_pam_wrapper, bench_pam_login, bench_potd_start, bench_potd_stop,
# bench_client_add, bench_form_field, bench_code_flow, uri, b64url.
# A script sets BENCH_TAG (its log prefix) and B (its build dir); the temp dir T and the
# variables below are set by the functions that name them. Functions use _-prefixed
# variables of their own: POSIX sh has no `local`.
# shellcheck shell=sh

BENCH_TAG=${BENCH_TAG:-bench}
BENCH_LIMIT=0		# potd's lifetime bound in s (timeout(1); 0: none)
BENCH_STOP_S=12		# how long potd may take to exit on SIGTERM before SIGKILL
BENCH_KEEP=0		# 1: the EXIT trap keeps T
POTD_OUT=		# where potd's output goes (default $T/potd.log)
T=
POTD_PID=
WRAP_PID=

log() { echo "[$BENCH_TAG] $*" >&2; }
die() {
	log "$*"
	exit 1
}

# ---- tools and the build ------------------------------------------------------------------
# bench_missing TOOL...: those TOOLs that are not installed, each after a space
bench_missing() {
	for _t; do
		command -v "$_t" >/dev/null || printf ' %s' "$_t"
	done
}
# bench_packages TOOL...: the Debian packages that hold them (most are named after the tool)
bench_packages() {
	echo "$*" | sed -e 's/\bss\b/iproute2/' -e 's/\bpkg-config\b/pkgconf/' -e 's/\bsetpriv\b/util-linux/'
}
bench_need() {
	_m=$(bench_missing "$@")
	[ -z "$_m" ] || die "missing:$_m (apt-get install$(bench_packages "$_m"))"
}

# mkvar VAR: a variable of the build's Makefile, as make expands it.
# shellcheck disable=SC2016 # $(...) is make's here, not the shell's
mkvar() {
	printf 'pot-bench-print:\n\t@printf "%%s\\n" "$(%s)"\n' "$1" |
		make -s --no-print-directory -C "$B" -f Makefile -f - pot-bench-print
}

# bench_make_prog PROG: builds PROG (e.g. tests/bench/sock_bench) with the build's Makefile.
# False when that Makefile predates PROG: the caller then compiles it with mkvar's flags.
bench_make_prog() {
	# shellcheck disable=SC2016 # a literal make rule
	grep -q "^$1"'\$(EXEEXT):' "$B/Makefile" || return 1
	make -s --no-print-directory -C "$B" "$1" >&2 || die "cannot build $1"
}

# bench_source: the build's source dir and its git revision, for the report
bench_source() {
	_src=$(mkvar abs_top_srcdir)
	echo "$_src ($(git -C "$_src" describe --always --dirty 2>/dev/null || echo 'not a git tree'))"
}

# ---- the temp dir and the EXIT trap -----------------------------------------------------------
# bench_tmpdir NAME: T, a fresh /tmp/NAME.XXXXXX of mode 0755 (potd, as nobody, reads its
# pot.conf there). At exit, potd is stopped, then the script's at_exit runs if it has one,
# then T goes (BENCH_KEEP=1 keeps it); an interruption exits 130 through the same trap.
bench_tmpdir() {
	T=$(mktemp -d "/tmp/$1.XXXXXX") || die "mktemp"
	chmod 0755 "$T"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}
# shellcheck disable=SC2317 # called by the trap
bench_cleanup() {
	_rc=$?
	trap - EXIT INT TERM
	bench_potd_stop
	if command -v at_exit >/dev/null; then
		at_exit
	fi
	if [ "$BENCH_KEEP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
	exit "$_rc"
}

# ---- potd ---------------------------------------------------------------------------------------
# bench_run_user: potd refuses to serve as root, so as root potd and pot run as nobody.
# Sets RUN_USER and RUN_AS, the words to put before a command to run it as RUN_USER (none
# when that is us), and makes $T/state and $T/run, which potd as nobody could not create.
bench_run_user() {
	mkdir -p "$T/state" "$T/run"
	if [ "$(id -u)" = 0 ]; then
		RUN_USER=nobody
		RUN_AS="setpriv --reuid=$(id -u nobody) --regid=$(id -g nobody) --clear-groups"
		chown "$RUN_USER:" "$T/state" "$T/run"
	else
		RUN_USER=$(id -un)
		RUN_AS=
	fi
}

# bench_free_port: a loopback TCP port nobody listens on
bench_free_port() {
	_n=0
	while [ "$_n" -lt 200 ]; do
		_p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
		ss -ltnH "sport = :$_p" 2>/dev/null | grep -q . || { echo "$_p"; return 0; }
		_n=$((_n + 1))
	done
	return 1
}

# bench_potd_conf SERVICE SCOPE: $T/pot.conf for potd on a free loopback port (PORT, BASE)
# with its socket at SOCK, serving as RUN_USER, signing in through SERVICE, and giving
# SCOPE to anyone; a script appends lines of its own. REDIRECT is the clients' redirect URI
# (nothing listens there: the code is read from the Location header).
bench_potd_conf() {
	PORT=$(bench_free_port) || die "no free port"
	BASE=http://127.0.0.1:$PORT
	REDIRECT=http://127.0.0.1:9/cb
	SOCK=$T/run/potd.sock
	cat >"$T/pot.conf" <<EOF
issuer = $BASE
listen = 127.0.0.1:$PORT
state_dir = $T/state
jwks = $T/state/jwks.json
socket = $SOCK
user = $RUN_USER
login_service = $1
scope.$2 = *
EOF
	chmod 0644 "$T/pot.conf"
}

# bench_pam_wrapper: PAMWRAP, pam_wrapper's library, and PAM_MATRIX, its module with users
# in a file, so that potd's login_service needs no account on the machine
bench_pam_wrapper() {
	PAMWRAP=$(pkg-config --libs pam_wrapper 2>/dev/null | awk '{ print $1 }')
	[ -f "$PAMWRAP" ] || die "pam_wrapper is missing (apt-get install libpam-wrapper)"
	PAM_MATRIX=$(dirname "$PAMWRAP")/pam_wrapper/pam_matrix.so
	[ -f "$PAM_MATRIX" ] || die "pam_matrix.so not found (libpam-wrapper)"
}

# bench_pam_login SERVICE USER:PASSWORD...: the PAM service SERVICE in $T/services (potd's
# PAM_WRAPPER_SERVICE_DIR), pam_matrix with a passdb of these users
bench_pam_login() {
	_svc=$1
	shift
	for _up; do
		echo "$_up:$_svc"
	done >"$T/passdb"
	chmod 0644 "$T/passdb"
	mkdir -p "$T/services"
	printf 'auth\trequired\t%s passdb=%s\naccount\trequired\t%s passdb=%s\n' \
		"$PAM_MATRIX" "$T/passdb" "$PAM_MATRIX" "$T/passdb" >"$T/services/$_svc"
	chmod -R a+rX "$T/services"
}

# bench_potd_start COMMAND...: COMMAND (potd and what wraps it) in the background under
# timeout BENCH_LIMIT, its output appended to POTD_OUT; waits (30 s at most: potd under
# valgrind starts slowly) until BASE answers. WRAP_PID is the timeout, the child this shell
# waits for; POTD_PID is whatever listens on PORT: potd, or the valgrind it runs under.
bench_potd_start() {
	timeout -k 10 "$BENCH_LIMIT" "$@" >>"${POTD_OUT:-$T/potd.log}" 2>&1 </dev/null &
	WRAP_PID=$!
	_n=0
	until curl -sf -m 2 -o /dev/null "$BASE/healthz"; do
		kill -0 "$WRAP_PID" 2>/dev/null || { tail -20 "$T"/potd.* >&2; die "potd died at start"; }
		_n=$((_n + 1))
		[ "$_n" -lt 300 ] || { tail -20 "$T"/potd.* >&2; die "potd does not answer on $BASE"; }
		sleep 0.1
	done
	POTD_PID=$(ss -ltnpH "sport = :$PORT" | sed -n 's/.*users:(("[^"]*",pid=\([0-9]*\),.*/\1/p' | head -1)
	[ -n "$POTD_PID" ] || die "cannot find potd's pid on port $PORT"
}

# bench_potd_stop: SIGTERM, then SIGKILL after BENCH_STOP_S; potd may be gone already
bench_potd_stop() {
	if [ -n "$POTD_PID" ] && kill -0 "$POTD_PID" 2>/dev/null; then
		kill -TERM "$POTD_PID" 2>/dev/null
		_n=0
		while [ "$_n" -lt $((BENCH_STOP_S * 10)) ] && kill -0 "$POTD_PID" 2>/dev/null; do
			sleep 0.1
			_n=$((_n + 1))
		done
		if kill -0 "$POTD_PID" 2>/dev/null; then
			kill -KILL "$POTD_PID" 2>/dev/null
		fi
	fi
	if [ -n "$WRAP_PID" ]; then
		kill -TERM "$WRAP_PID" 2>/dev/null
		wait "$WRAP_PID" 2>/dev/null
	fi
	# pam_wrapper's copy of libpam and the modules, if potd could not remove it itself:
	# ours names our passdb
	if [ -n "$T" ]; then
		for _d in /tmp/pam.?; do
			if grep -q -s -F "$T/" "$_d"/*; then
				rm -rf "$_d"
			fi
		done
	fi
	POTD_PID=
	WRAP_PID=
}

# ---- a client and its refresh tokens ------------------------------------------------------------
uri() { jq -rn --arg v "$1" '$v|@uri'; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# bench_client_add NAME POT-CLIENT-ADD-ARG...: registers a confidential client with REDIRECT
# (pot runs as RUN_USER through RUN_AS); sets CLIENT_ID and CLIENT_SECRET
bench_client_add() {
	_name=$1
	shift
	# shellcheck disable=SC2086 # RUN_AS is a word list
	$RUN_AS "$B/pot" --config "$T/pot.conf" --json client add "$_name" "$@" \
		--redirect-uri "$REDIRECT" >"$T/client.json" 2>"$T/client.err" ||
		{ cat "$T/client.err" >&2; die "pot client add failed"; }
	CLIENT_ID=$(jq -r .client_id "$T/client.json")
	CLIENT_SECRET=$(jq -r .client_secret "$T/client.json")
	if [ -z "$CLIENT_SECRET" ] || [ "$CLIENT_SECRET" = null ]; then
		die "no client secret: $(cat "$T/client.json")"
	fi
}

# the value of the hidden input NAME in the login form, HTML entities undone
bench_form_field() {
	sed -n "s/.*<input type=\"hidden\" name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" "$T/login.html" | head -1 |
		sed -e 's/&quot;/"/g' -e "s/&#39;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'
}

# bench_code_flow USER PASSWORD SCOPE: a refresh token of USER for the client in RT, through
# the authorization code flow as a browser and the client make it: authorize + PKCE S256 ->
# login form -> 303 with a code -> token. No token is printed, not even on failure.
bench_code_flow() {
	_verifier=$(openssl rand 48 | b64url)
	_challenge=$(printf '%s' "$_verifier" | openssl dgst -sha256 -binary | b64url)
	_st=$(curl -s -m 10 -o "$T/login.html" -w '%{http_code}' "$BASE/auth/v2/authorize?response_type=code&client_id=$(uri "$CLIENT_ID")&redirect_uri=$(uri "$REDIRECT")&scope=$(uri "$3")&state=s&code_challenge=$_challenge&code_challenge_method=S256")
	[ "$_st" = 200 ] || die "GET authorize: HTTP $_st $(head -c 300 "$T/login.html")"
	_req=$(bench_form_field req)
	_mac=$(bench_form_field mac)
	if [ -z "$_req" ] || [ -z "$_mac" ]; then
		die "no req/mac in the login form"
	fi
	curl -s -m 20 -o "$T/login-post.html" -D "$T/login-post.hdr" --data-urlencode step=login \
		--data-urlencode "req=$_req" --data-urlencode "mac=$_mac" \
		--data-urlencode "username=$1" --data-urlencode "password=$2" \
		"$BASE/auth/v2/authorize"
	_st=$(head -1 "$T/login-post.hdr" | awk '{ print $2 }')
	[ "$_st" = 303 ] || die "login POST for $1: HTTP $_st (want 303): $(sed -e 's/<[^>]*>//g' "$T/login-post.html" | grep -v '^\s*$' | head -5 | tr '\n' ' '); potd log: $(tail -3 "$T/potd.log")"
	_loc=$(tr -d '\r' <"$T/login-post.hdr" | awk -F': ' 'tolower($1) == "location" { print $2 }')
	_code=$(printf '%s' "$_loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
	[ -n "$_code" ] || die "no code in the redirect: $_loc"
	# umask 077: the reply holds tokens, and T is world-readable
	_st=$(umask 077 && curl -s -m 10 -o "$T/code-token.json" -w '%{http_code}' -u "$(uri "$CLIENT_ID"):$(uri "$CLIENT_SECRET")" \
		--data-urlencode grant_type=authorization_code --data-urlencode "code=$_code" \
		--data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$_verifier" \
		"$BASE/auth/v2/token")
	[ "$_st" = 200 ] || die "code redemption: HTTP $_st $(jq -c 'del(.access_token, .refresh_token)' "$T/code-token.json")"
	RT=$(jq -r '.refresh_token // empty' "$T/code-token.json")
	rm -f "$T/code-token.json" "$T/login.html" "$T/login-post.html" "$T/login-post.hdr"
	[ -n "$RT" ] || die "no refresh token from the code"
}
