# lib.sh — shared by the end-to-end tests (sshd.sh, sudo.sh, browser.sh, debian.sh); sourced,
# not run.
#
# Gives: skip, fail, note, e2e_need_root, e2e_need_env, e2e_need_wrappers, e2e_tmpdir,
# e2e_keys_and_conf, e2e_mint, e2e_etc_snapshot, e2e_etc_verify, e2e_cleanup_begin/_end,
# e2e_stop, e2e_free_port, e2e_pam_wrapper_sweep, e2e_sshd_start/_stop,
# e2e_ssh, e2e_account_files_save/_restore, e2e_sudo_prepare, e2e_user_add/_remove,
# e2e_sudo_install/_remove, e2e_syslog_start/_stop, e2e_log_mark/_has.
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

# pam_wrapper and nss_wrapper: configure finds them with pkg-config; fall back on the .pc
# files' Libs: when it did not.
e2e_need_wrappers() {
	[ -n "${PAM_WRAPPER_SO:-}" ] || PAM_WRAPPER_SO=$(pkg-config --libs pam_wrapper 2>/dev/null | tr -d ' ')
	[ -n "${NSS_WRAPPER_SO:-}" ] || NSS_WRAPPER_SO=$(pkg-config --libs nss_wrapper 2>/dev/null | tr -d ' ')
	[ -f "${PAM_WRAPPER_SO:-}" ] || skip "libpam_wrapper.so not found (libpam-wrapper)"
	[ -f "${NSS_WRAPPER_SO:-}" ] || skip "libnss_wrapper.so not found (libnss-wrapper)"
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

# Last thing of a test's EXIT trap: /etc must be as it was (else the test fails) and the
# temp dir goes. e2e_cleanup_end RC: exits with RC, or 1 when /etc changed.
e2e_cleanup_end() {
	_rc=$1
	if [ -n "$T" ]; then
		e2e_etc_verify || _rc=1
		rm -rf "$T"
	fi
	exit "$_rc"
}

# e2e_stop PID: TERM to a timeout(1) we started (it passes it on to its process group), then
# wait; KILL after 5 s. Nothing when PID is empty.
e2e_stop() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	_s=0
	while kill -0 "$1" 2>/dev/null && [ $_s -lt 50 ]; do
		sleep 0.1
		_s=$((_s + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# A free TCP port on 127.0.0.1. Without python3 a random one, which may be taken: the caller
# must cope with a server that fails to listen.
e2e_free_port() {
	if [ -n "$E2E_PY" ]; then
		"$E2E_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
	fi
}

# pam_wrapper copies a service directory to /tmp/pam.X (a fixed name: its length must be
# that of /etc/pam.d) in every process that starts PAM; those no longer root, or sshd's
# children, exit without removing theirs. Removes each copy that names our temp dir.
e2e_pam_wrapper_sweep() {
	[ -n "$T" ] || return 0
	for _d in /tmp/pam.?; do
		[ -d "$_d" ] && grep -q -s -F "$T/" "$_d"/* && rm -rf "$_d"
	done
	return 0
}

# --- a test sshd (sshd.sh, browser.sh) ---------------------------------------------------
# On 127.0.0.1, keyboard-interactive through PAM only, under pam_wrapper (its service "sshd"
# in $T/services) and nss_wrapper ($T/passwd and $T/group, which the test writes); its log
# in $T/sshd.log. Nothing under /etc is read or written; /run/sshd (privilege separation) is
# made when missing, and e2e_sshd_stop removes it again.
E2E_SSHD=/usr/sbin/sshd
E2E_SSHD_PID=			# the timeout(1) that runs sshd
E2E_SSHD_PORT=
E2E_SSHD_USER=			# the one user sshd lets in
E2E_SSHD_CAT_PID=		# the reader of sshd's log pipe
E2E_MADE_RUN_SSHD=no

# e2e_sshd_start USER SECONDS: sshd for USER alone, pam_pot with scope ssh, killed after
# SECONDS; tries three free ports. Sets E2E_SSHD_PID and E2E_SSHD_PORT.
e2e_sshd_start() {
	E2E_SSHD_USER=$1
	mkdir -p "$T/services"
	_args="config=$T/pot.conf scope=ssh"
	cat >"$T/services/sshd" <<-EOF
	auth	required	$PAM_POT_SO $_args
	account	required	$PAM_POT_SO $_args
	session	required	$PAM_POT_SO $_args
	session	required	pam_permit.so
	EOF
	if [ ! -d /run/sshd ]; then
		mkdir -m 0755 /run/sshd || fail "cannot create /run/sshd"
		E2E_MADE_RUN_SSHD=yes
	fi
	ssh-keygen -q -t ed25519 -N '' -C pot-e2e -f "$T/host_ed25519" || fail "ssh-keygen failed"
	_tries=0
	while :; do
		E2E_SSHD_PORT=$(e2e_free_port) || fail "no free port"
		e2e_sshd_config "$1" "$E2E_SSHD_PORT"
		"$E2E_SSHD" -t -f "$T/sshd_config" >"$T/sshd-t.log" 2>&1 || {
			cat "$T/sshd-t.log" >&2
			fail "sshd -t refused the test's sshd_config"
		}
		e2e_sshd_listen "$2" && break
		_tries=$((_tries + 1))
		[ $_tries -lt 3 ] || fail "sshd did not start listening on 127.0.0.1:$E2E_SSHD_PORT"
	done
	note "sshd (pid $E2E_SSHD_PID) listening on 127.0.0.1:$E2E_SSHD_PORT"
}

# e2e_sshd_config USER PORT
e2e_sshd_config() {
	cat >"$T/sshd_config" <<-EOF
	ListenAddress 127.0.0.1:$2
	HostKey $T/host_ed25519
	PidFile $T/sshd.pid
	UsePAM yes
	KbdInteractiveAuthentication yes
	PasswordAuthentication no
	PubkeyAuthentication no
	HostbasedAuthentication no
	AuthenticationMethods keyboard-interactive
	AuthorizedKeysFile none
	PermitRootLogin no
	AllowUsers $1
	UseDNS no
	PrintMotd no
	PrintLastLog no
	PermitUserEnvironment no
	X11Forwarding no
	AllowTcpForwarding no
	LoginGraceTime 20
	MaxAuthTries 2
	LogLevel VERBOSE
	EOF
}

# e2e_sshd_listen SECONDS: starts sshd, true once it listens. Its stderr is a pipe, never a
# file: sshd's sandboxed pre-auth child runs with RLIMIT_FSIZE 0, and a write of
# pam_wrapper's to a file there kills it with SIGXFSZ.
e2e_sshd_listen() {
	: >"$T/sshd.log"
	rm -f "$T/sshd.fifo"
	mkfifo -m 0600 "$T/sshd.fifo" || fail "mkfifo failed"
	cat "$T/sshd.fifo" >>"$T/sshd.log" &
	E2E_SSHD_CAT_PID=$!
	timeout -k 5 "$1" env LD_PRELOAD="$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/services" \
		NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
		"$E2E_SSHD" -D -e -f "$T/sshd_config" >"$T/sshd.fifo" 2>&1 &
	E2E_SSHD_PID=$!
	_w=0
	while [ $_w -lt 100 ]; do
		grep -q 'Server listening on 127.0.0.1' "$T/sshd.log" && return 0
		kill -0 "$E2E_SSHD_PID" 2>/dev/null || break
		sleep 0.1
		_w=$((_w + 1))
	done
	e2e_stop "$E2E_SSHD_PID"
	E2E_SSHD_PID=
	return 1
}

# e2e_ssh ASKPASS [PREFIX...]: ssh to the test sshd as E2E_SSHD_USER, keyboard-interactive
# only, the password from the program ASKPASS (no tty), run through PREFIX (e.g. runuser
# ... --) when given; the remote command prints POT_OK and the session's POT_SUBJECT and
# POT_CLIENT_ID. Sets RC, OUT and ERR.
# shellcheck disable=SC2016,SC2034  # the remote shell expands; RC, OUT, ERR are the caller's
e2e_ssh() {
	_askpass=$1
	shift
	timeout -k 2 25 setsid -w "$@" env -u SSH_AUTH_SOCK SSH_ASKPASS="$_askpass" \
		SSH_ASKPASS_REQUIRE=force DISPLAY=:0 ssh -F /dev/null -p "$E2E_SSHD_PORT" -T \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-o PreferredAuthentications=keyboard-interactive -o NumberOfPasswordPrompts=1 \
		-o BatchMode=no -o ConnectTimeout=10 -o IdentitiesOnly=yes -o IdentityFile=none \
		"$E2E_SSHD_USER@127.0.0.1" \
		'echo POT_OK; echo "POT_SUBJECT=${POT_SUBJECT-unset}"; echo "POT_CLIENT_ID=${POT_CLIENT_ID-unset}"' \
		</dev/null >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# Undoes e2e_sshd_start: stops sshd, and a listener left over (timeout itself killed?) only
# if it really is ours; lets the log pipe drain; removes /run/sshd when we made it.
e2e_sshd_stop() {
	e2e_stop "$E2E_SSHD_PID"
	E2E_SSHD_PID=
	if [ -n "$T" ] && [ -s "$T/sshd.pid" ]; then
		_p=$(cat "$T/sshd.pid")
		tr '\0' ' ' <"/proc/$_p/cmdline" 2>/dev/null | grep -q -F -- "-f $T/sshd_config" &&
			kill "$_p" 2>/dev/null
	fi
	if [ -n "$E2E_SSHD_CAT_PID" ]; then	# the log pipe: ends when sshd is gone
		_w=0
		while kill -0 "$E2E_SSHD_CAT_PID" 2>/dev/null && [ $_w -lt 10 ]; do
			sleep 0.1
			_w=$((_w + 1))
		done
		kill "$E2E_SSHD_CAT_PID" 2>/dev/null
		wait "$E2E_SSHD_CAT_PID" 2>/dev/null
		E2E_SSHD_CAT_PID=
	fi
	if [ "$E2E_MADE_RUN_SSHD" = yes ]; then
		rmdir /run/sshd 2>/dev/null
		E2E_MADE_RUN_SSHD=no
	fi
	return 0
}

# --- accounts and sudo (sudo.sh, browser.sh; debian.sh the account files) ----------------
# sudo is setuid root, so neither wrapper reaches it: a real user (useradd), a sudoers
# drop-in and a PAM service under /etc for the test's length. e2e_sudo_remove and
# e2e_user_remove take them away again, and put back the backups (/etc/passwd- and friends)
# that useradd and userdel rewrite, so that /etc is compared equal afterwards.
E2E_ACCOUNT_FILES="passwd group shadow gshadow subuid subgid"
E2E_SAVED_ACCOUNT_FILES=no
E2E_USER=
E2E_SERVICE=
E2E_SUDOERS=
E2E_PAMFILE=
E2E_MADE_USER=no
E2E_MADE_SUDOERS=no
E2E_MADE_PAMFILE=no

# Keeps /etc/passwd- and friends (and whether /etc/.pwd.lock, which lckpwdf(3) makes, was
# there) in $T/saved, for e2e_account_files_restore.
e2e_account_files_save() {
	mkdir -p "$T/saved"
	for _f in $E2E_ACCOUNT_FILES; do
		if [ -e "/etc/$_f-" ]; then
			cp -p "/etc/$_f-" "$T/saved/$_f-" || fail "cannot save /etc/$_f-"
		else
			: >"$T/saved/$_f-.absent"
		fi
	done
	[ -e /etc/.pwd.lock ] || : >"$T/saved/.pwd.lock.absent"
	E2E_SAVED_ACCOUNT_FILES=yes
}

# Puts back what e2e_account_files_save kept; removes what was not there.
e2e_account_files_restore() {
	[ "$E2E_SAVED_ACCOUNT_FILES" = yes ] || return 0
	[ -e "$T/saved/.pwd.lock.absent" ] && rm -f /etc/.pwd.lock
	for _f in $E2E_ACCOUNT_FILES; do
		if [ -e "$T/saved/$_f-" ]; then
			cp -p "$T/saved/$_f-" "/etc/$_f-"
		elif [ -e "$T/saved/$_f-.absent" ]; then
			rm -f "/etc/$_f-"
		fi
	done
	return 0
}

# e2e_sudo_prepare USER SERVICE SUDOERS: the names the test will make (a user and group
# USER, the PAM service /etc/pam.d/SERVICE, the drop-in SUDOERS); fails when any exists.
e2e_sudo_prepare() {
	E2E_USER=$1
	E2E_SERVICE=$2
	E2E_SUDOERS=$3
	E2E_PAMFILE=/etc/pam.d/$2
	getent passwd "$E2E_USER" >/dev/null && fail "a user $E2E_USER exists already: not touching it"
	getent group "$E2E_USER" >/dev/null && fail "a group $E2E_USER exists already: not touching it"
	[ -e "$E2E_SUDOERS" ] && fail "$E2E_SUDOERS exists already: not touching it"
	[ -e "$E2E_PAMFILE" ] && fail "$E2E_PAMFILE exists already: not touching it"
	return 0
}

# e2e_user_add COMMENT: the real account E2E_USER, with its group, home $T/home.
e2e_user_add() {
	e2e_account_files_save
	mkdir -p "$T/home"
	E2E_MADE_USER=yes		# set first: a useradd that half-worked is still undone
	useradd -M -d "$T/home" -s /bin/sh -c "$1" -l -U "$E2E_USER" ||
		{ E2E_MADE_USER=no; fail "useradd $E2E_USER failed"; }
	chown "$E2E_USER:" "$T/home"
}

# Undoes e2e_user_add: userdel, sudo's timestamp and lecture files of the user, and the
# account files. Non-zero, with the reason on stderr, when userdel kept failing.
e2e_user_remove() {
	_urc=0
	if [ "$E2E_MADE_USER" = yes ]; then
		_n=0
		until userdel "$E2E_USER" 2>"$T/userdel.err"; do
			_n=$((_n + 1))
			if [ "$_n" -ge 20 ]; then
				echo "FAIL: $E2E_NAME: userdel $E2E_USER: $(cat "$T/userdel.err")" >&2
				_urc=1
				break
			fi
			sleep 0.25	# a process of the user's still exiting
		done
		rm -f "/run/sudo/ts/$E2E_USER" "/var/lib/sudo/lectured/$E2E_USER"
		E2E_MADE_USER=no
	fi
	e2e_account_files_restore
	return $_urc
}

# e2e_sudo_install [DEFAULT...]: the sudoers drop-in (E2E_USER may run anything as root,
# through the PAM service E2E_SERVICE, asked every time; each DEFAULT another Defaults
# setting for the user), validated, then moved in place (sudo skips names with a dot); and
# that PAM service: pam_pot, scope sudo (Debian's /etc/pam.d/sudo has no pam_pot).
e2e_sudo_install() {
	{
		cat <<-EOF
		# pot-e2e: temporary, removed by tests/e2e/$E2E_NAME.sh
		Defaults:$E2E_USER pam_service=$E2E_SERVICE
		Defaults:$E2E_USER timestamp_timeout=0
		Defaults:$E2E_USER timestamp_type=global
		Defaults:$E2E_USER !mail_badpass
		EOF
		for _d in "$@"; do
			printf 'Defaults:%s %s\n' "$E2E_USER" "$_d"
		done
		printf '%s ALL=(root) ALL\n' "$E2E_USER"
	} >"$T/sudoers"
	visudo -cf "$T/sudoers" >/dev/null || fail "visudo -cf refused the test's sudoers drop-in"
	E2E_MADE_SUDOERS=yes
	install -m 0440 -o root -g root "$T/sudoers" "$E2E_SUDOERS.tmp" &&
		mv -f "$E2E_SUDOERS.tmp" "$E2E_SUDOERS" || fail "cannot install $E2E_SUDOERS"
	visudo -c >/dev/null 2>"$T/visudo.err" || {
		rm -f "$E2E_SUDOERS"
		fail "visudo -c fails with the drop-in: $(cat "$T/visudo.err")"
	}
	_args="config=$T/pot.conf scope=sudo"
	E2E_MADE_PAMFILE=yes
	cat >"$E2E_PAMFILE.tmp" <<-EOF &&
	#%PAM-1.0
	# pot-e2e: temporary, removed by tests/e2e/$E2E_NAME.sh
	auth	required	$PAM_POT_SO $_args
	account	required	$PAM_POT_SO $_args
	session	required	pam_permit.so
	EOF
		chmod 0644 "$E2E_PAMFILE.tmp" && mv -f "$E2E_PAMFILE.tmp" "$E2E_PAMFILE" || fail "cannot write $E2E_PAMFILE"
}

# Undoes e2e_sudo_install, the drop-in first: nothing may stay that lets the user run
# anything as root.
e2e_sudo_remove() {
	[ "$E2E_MADE_SUDOERS" = yes ] && rm -f "$E2E_SUDOERS" "$E2E_SUDOERS.tmp"
	[ "$E2E_MADE_PAMFILE" = yes ] && rm -f "$E2E_PAMFILE" "$E2E_PAMFILE.tmp"
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
