# lib.sh — shared by the end-to-end tests (sshd.sh, sudo.sh); sourced, not run.
#
# Gives: skip, fail, note, e2e_need_root, e2e_need_env, e2e_tmpdir, e2e_keys_and_conf,
# e2e_mint, e2e_etc_snapshot, e2e_etc_verify, e2e_syslog_start/_stop, e2e_log_mark/_has.
# Every test is root only, runs under a timeout, and must leave /etc exactly as it found it.

E2E_NAME=${E2E_NAME:-$(basename "$0" .sh)}
E2E_ISS=https://pot.e2e
E2E_AUD=pot
T=				# the test's temp dir (set by e2e_tmpdir)
E2E_SYSLOG_PID=			# our /dev/log listener: module lines land in $T/syslog

# First thing a test's EXIT trap does: no second signal may cut the clean-up short.
e2e_cleanup_begin() {
	trap '' INT TERM HUP
	trap - EXIT
}

skip() { echo "SKIP: $E2E_NAME: $*"; exit 77; }
note() { echo "$E2E_NAME: $*"; }
fail() {
	echo "FAIL: $E2E_NAME: $*" >&2
	exit 1
}

e2e_need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (real sshd/sudo, users, /etc/pam.d)"
	# An ASan-built module cannot load into sshd or sudo, which are not built with ASan.
	[ "${POT_SANITIZERS:-no}" != yes ] || skip "sanitizer build: sshd and sudo cannot load an ASan module"
	# One end-to-end test at a time: each compares all of /etc before and after, and
	# sudo.sh adds and removes a user (make check -j runs tests in parallel).
	exec 9>"${TMPDIR:-/tmp}/pot-e2e.lock"
	flock -w 300 9 || fail "another end-to-end test holds ${TMPDIR:-/tmp}/pot-e2e.lock"
}

# The variables `make check` exports (tests/run-test.sh, AM_TESTS_ENVIRONMENT).
e2e_need_env() {
	[ -n "${PAM_POT_SO:-}" ] || fail "PAM_POT_SO is not set (abs path of .libs/pam_pot.so; make check sets it)"
	[ -n "${POT_MINT:-}" ] || fail "POT_MINT is not set (abs path of tests/tools/pot-mint; make check sets it)"
	[ -f "$PAM_POT_SO" ] || fail "PAM_POT_SO=$PAM_POT_SO: no such file"
	[ -x "$POT_MINT" ] || fail "POT_MINT=$POT_MINT: not executable"
	case $PAM_POT_SO in /*) ;; *) fail "PAM_POT_SO must be absolute: $PAM_POT_SO" ;; esac
	case $POT_MINT in /*) ;; *) fail "POT_MINT must be absolute: $POT_MINT" ;; esac
}

# A private 0755 temp dir (the module wants its config in a directory nobody else can write).
e2e_tmpdir() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/pot-e2e-$E2E_NAME.XXXXXX") || fail "mktemp failed"
	chmod 0755 "$T"
	chown 0:0 "$T"
}

# Keys, JWK Set and pot.conf in $T: $T/k1.pem (trusted ES256), $T/forged.pem (ES256, not
# in the JWK Set). Extra trusted keys: e2e_keys_and_conf K2.pem ...
e2e_keys_and_conf() {
	"$POT_MINT" keygen --alg ES256 --key "$T/k1.pem" >/dev/null || fail "pot-mint keygen failed"
	"$POT_MINT" keygen --alg ES256 --key "$T/forged.pem" >/dev/null || fail "pot-mint keygen failed"
	"$POT_MINT" jwks "$T/k1.pem" "$@" >"$T/jwks.json" || fail "pot-mint jwks failed"
	chmod 0644 "$T/jwks.json"
	cat >"$T/pot.conf" <<-EOF
	# pot.conf of the $E2E_NAME end-to-end test
	issuer = $E2E_ISS
	audience = $E2E_AUD
	jwks = $T/jwks.json
	EOF
	chmod 0644 "$T/pot.conf"
	chown 0:0 "$T/pot.conf" "$T/jwks.json"
}

# e2e_mint KEY SUB SCOPE [more pot-mint sign options]: prints a token.
e2e_mint() {
	_k=$1 _s=$2 _sc=$3
	shift 3
	"$POT_MINT" sign --key "$_k" --iss "$E2E_ISS" --aud "$E2E_AUD" --sub "$_s" \
		--scope "$_sc" --ttl 300 "$@" || fail "pot-mint sign failed"
}

# A listing of /etc: type, mode, owner, link target and content hash of every entry.
e2e_etc_listing() {
	(cd /etc && find . -xdev -printf '%y %#m %U:%G %p -> %l\n' | LC_ALL=C sort &&
		find . -xdev -type f -exec sha256sum {} + | LC_ALL=C sort -k 2)
}

e2e_etc_snapshot() {
	E2E_ETC_BEFORE=$T/etc.before
	e2e_etc_listing >"$E2E_ETC_BEFORE" || fail "cannot list /etc"
}

# Returns non-zero, with the differences on stderr, when /etc is not as it was.
e2e_etc_verify() {
	[ -n "${E2E_ETC_BEFORE:-}" ] && [ -f "$E2E_ETC_BEFORE" ] || return 0
	e2e_etc_listing >"$T/etc.after" 2>/dev/null
	if ! cmp -s "$E2E_ETC_BEFORE" "$T/etc.after"; then
		echo "FAIL: $E2E_NAME: /etc is not as it was before the test:" >&2
		diff "$E2E_ETC_BEFORE" "$T/etc.after" >&2
		return 1
	fi
	return 0
}

# Without a syslog daemon (no /dev/log), listen on /dev/log ourselves so that the module's
# decision lines can be read and checked; with one, the checks on log lines are skipped.
E2E_PY=$(command -v /usr/bin/python3 python3 2>/dev/null | head -n 1)

e2e_syslog_start() {
	if [ -z "$E2E_PY" ]; then
		note "no python3: module log lines not checked"
		return 0
	fi
	: >"$T/syslog"
	"$E2E_PY" - /dev/log "$T/syslog" "$T/syslog.ready" $$ <<-'EOF' &
	import errno, os, signal, socket, sys
	path, ppid = sys.argv[1], int(sys.argv[4])
	if os.path.exists(path):	# a syslog daemon's, or the stale one of a killed test?
	    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	    try:
	        probe.connect(path)
	        sys.exit(0)		# someone listens: theirs
	    except OSError as e:
	        if e.errno != errno.ECONNREFUSED:
	            sys.exit(0)
	    os.unlink(path)		# nobody listens: stale
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.bind(path)
	os.chmod(path, 0o666)
	ino = os.stat(path).st_ino
	def bye(*_):
	    try:
	        if os.stat(path).st_ino == ino:
	            os.unlink(path)
	    except OSError:
	        pass
	    os._exit(0)
	for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
	    signal.signal(sig, bye)
	s.settimeout(0.5)
	out = open(sys.argv[2], "ab", buffering=0)
	open(sys.argv[3], "w").close()
	while os.getppid() == ppid:	# the test was killed: do not outlive it
	    try:
	        out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
	    except socket.timeout:
	        pass
	bye()
	EOF
	E2E_SYSLOG_PID=$!
	_i=0
	while [ ! -e "$T/syslog.ready" ] && [ $_i -lt 50 ] && kill -0 "$E2E_SYSLOG_PID" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if [ -e "$T/syslog.ready" ]; then
		E2E_LOG=$T/syslog
		E2E_LOG_OK=yes
	else
		note "/dev/log belongs to a syslog daemon: module log lines not checked"
		kill "$E2E_SYSLOG_PID" 2>/dev/null
		E2E_SYSLOG_PID=
	fi
}

e2e_syslog_stop() {
	if [ -n "$E2E_SYSLOG_PID" ]; then
		kill "$E2E_SYSLOG_PID" 2>/dev/null	# it removes its /dev/log
		wait "$E2E_SYSLOG_PID" 2>/dev/null
		E2E_SYSLOG_PID=
	fi
	E2E_LOG_OK=no
}

# Log lines are read from $E2E_LOG when E2E_LOG_OK=yes (sshd.sh: sshd's own log, which names
# the PAM result; sudo.sh: the module's lines, through our /dev/log listener).
# e2e_log_mark: remember where the log is; e2e_log_has PATTERN: grep -E since the mark.
E2E_LOG=
E2E_LOG_OK=no

e2e_log_mark() {
	E2E_LOG_MARK=0
	[ "$E2E_LOG_OK" = yes ] && E2E_LOG_MARK=$(wc -l <"$E2E_LOG")
}

e2e_log_since() {
	[ "$E2E_LOG_OK" = yes ] && tail -n +"$((E2E_LOG_MARK + 1))" "$E2E_LOG"
}

# True when the pattern is in the log since the mark, or when there is no log to read;
# false (with the lines on stderr) otherwise.
e2e_log_has() {
	[ "$E2E_LOG_OK" = yes ] || return 0
	_j=0
	while [ $_j -lt 20 ]; do		# lines may land a moment after the client exits
		e2e_log_since | grep -E -q -- "$1" && return 0
		sleep 0.1
		_j=$((_j + 1))
	done
	echo "$E2E_NAME: no log line matching: $1; the lines were:" >&2
	e2e_log_since | sed 's/^/    /' >&2
	return 1
}
