#!/bin/sh
# debian.sh — end to end: the Debian packages. Builds libpam-pot and pot-helper from a copy
# of the source tree (dpkg-buildpackage -b, nocheck), runs lintian (errors fail), installs
# both, checks what they installed (no setuid/setgid file, the system user pot, the unit),
# starts the installed potd by hand as root with /etc/pot/pot.conf (no systemd here: it
# drops to pot), registers a client with `pot client add`, signs in with `pot login` (the
# browser stand-in tests/tools/pot-browser), and logs in with the access token and the
# refresh token through the INSTALLED pam_pot.so, in a stack that pam-auth-update made
# from the package's profile (in a private --root: /etc/pam.d is never changed). Then it
# stops potd, purges both packages and checks that their files, state and unit links are
# gone and that /etc is exactly as before. The system user pot survives the purge, as
# documented (Debian keeps system users): the test removes it itself, with the backups
# (/etc/passwd- and friends) its creation rewrote.
#
# PAM runs under pam_wrapper and the test user exists only for nss_wrapper; potd's sign-in
# service (login_service = potd) comes from a private pam_wrapper directory (pam_matrix).
# Root only; skipped when the packaging tools are missing, in sanitizer builds, or when the
# host has pam_pot packages, a `pot` account or pot state of its own.
# Exit 0 pass, 1 fail, 77 skip.
set -u
E2E_NAME=debian
. "$(dirname "$0")/lib.sh"

USER_OK=potdeb
USER_UID=4243
PKGS="libpam-pot pot-helper"

[ "$(id -u)" = 0 ] || skip "needs root (installs and purges packages)"
[ "${POT_SANITIZERS:-no}" != yes ] || skip "sanitizer build: the packages are built without sanitizers; run it once, in the plain build"
for p in dpkg-buildpackage dpkg-checkbuilddeps dpkg-parsechangelog lintian dpkg apt-get \
	pam-auth-update pamtester curl flock timeout userdel groupdel; do
	command -v "$p" >/dev/null 2>&1 || skip "$p not installed (debhelper, lintian, dpkg-dev, pamtester, curl)"
done
[ -n "$E2E_PY" ] || skip "no python3 (the browser stand-in)"
SRC=${POT_TOP_SRCDIR:-}
[ -n "$SRC" ] || fail "POT_TOP_SRCDIR is not set (make check sets it)"
[ -f "$SRC/debian/control" ] || skip "no debian/ in $SRC"
e2e_need_wrappers
PAM_MATRIX=$(dirname "$PAM_WRAPPER_SO")/pam_wrapper/pam_matrix.so
[ -f "$PAM_MATRIX" ] || skip "pam_matrix.so not found beside $PAM_WRAPPER_SO (libpam-wrapper)"
for p in $PKGS; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[ih]' &&
		skip "$p is installed on this host: not touching it"
done
getent passwd pot >/dev/null && skip "a pot account exists on this host: not touching it"
getent group pot >/dev/null && skip "a pot group exists on this host: not touching it"
for d in /var/lib/pot /run/pot /etc/pot /etc/pam.d/potd /usr/share/pam-configs/pot; do
	[ -e "$d" ] && skip "$d exists on this host (a pot installation?): not touching it"
done

POTD_PID=
LOGIN_PID=
INSTALLED=no

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	rc=$?
	e2e_cleanup_begin
	[ -n "$LOGIN_PID" ] && kill "$LOGIN_PID" 2>/dev/null
	if [ -n "$POTD_PID" ]; then
		kill "$POTD_PID" 2>/dev/null	# SIGTERM: potd finishes requests, closes the store
		wait "$POTD_PID" 2>/dev/null
	fi
	if [ "$INSTALLED" = yes ]; then
		DEBIAN_FRONTEND=noninteractive dpkg --purge libpam-pot pot-helper >>"$T/purge.log" 2>&1 || {
			echo "FAIL: $E2E_NAME: dpkg --purge libpam-pot pot-helper failed:" >&2
			tail -n 20 "$T/purge.log" >&2
			rc=1
		}
		rm -rf /var/lib/pot /run/pot	# not there before (checked): ours
	fi
	if [ "$E2E_SAVED_ACCOUNT_FILES" = yes ]; then
		# the account the package made: no process of it may remain
		if getent passwd pot >/dev/null; then
			pgrep -u pot >/dev/null 2>&1 && { echo "FAIL: $E2E_NAME: processes of pot left:" >&2
				ps -u pot -o pid,args >&2; rc=1; }
			userdel pot 2>>"$T/userdel.err" || { cat "$T/userdel.err" >&2; rc=1; }
		fi
		getent group pot >/dev/null && groupdel pot
	fi
	e2e_account_files_restore	# the backups the making and removing of pot rewrote
	e2e_pam_wrapper_sweep
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$T" ]; then
		for f in potd.log login.err install.log purge.log; do
			[ -s "$T/$f" ] && { echo "--- $f:"; tail -n 30 "$T/$f"; } >&2
		done
	fi
	e2e_cleanup_end "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

e2e_tmpdir

# --- 1. build, from a copy: `make distcheck` makes the source tree read-only -------------------
# (No lock yet: the build touches nothing outside $T.)
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version) ||
	fail "dpkg-parsechangelog failed on $SRC/debian/changelog"
AC_VERSION=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$SRC/configure.ac")
[ "$VERSION" = "$AC_VERSION" ] ||
	fail "debian/changelog is at $VERSION, configure.ac at $AC_VERSION: add a changelog entry"
B=$T/build
W=$B/pam-pot-$VERSION
mkdir -p "$W"
if [ -e "$SRC/.git" ] && command -v git >/dev/null 2>&1 &&
	git -c safe.directory="$SRC" -C "$SRC" ls-files -z -co --exclude-standard >"$T/files.z" 2>/dev/null; then
	(cd "$SRC" && tar --null -T "$T/files.z" -cf -) | tar -xf - -C "$W" ||
		fail "cannot copy the git work tree $SRC"
else	# a dist tree (distcheck): all of it but the builds in it
	(cd "$SRC" && tar --exclude=./.git --exclude='./build*' --exclude=./_build \
		--exclude=./demo-state --exclude=./autom4te.cache --exclude='./pam_pot-*' \
		--exclude=node_modules -cf - .) | tar -xf - -C "$W" || fail "cannot copy $SRC"
fi
chmod -R u+w "$W"
(cd "$W" && dpkg-checkbuilddeps -P nocheck) >"$T/builddeps" 2>&1 ||
	skip "build dependencies missing: $(sed -n 's/.*Unmet build dependencies: //p' "$T/builddeps")"
started=$(date +%s)
# make check's jobserver and variables must not reach the package's own make
(cd "$W" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u TESTS \
	DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
	dpkg-buildpackage -us -uc -b --build-profiles=nocheck) >"$T/build.log" 2>&1 || {
	tail -n 40 "$T/build.log" >&2
	fail "dpkg-buildpackage failed"
}
note "dpkg-buildpackage: $(($(date +%s) - started)) s"
CHANGES=$(ls "$B"/pam-pot_"$VERSION"_*.changes 2>/dev/null | head -n 1)
DEB_MOD=$(ls "$B"/libpam-pot_"$VERSION"_*.deb 2>/dev/null | head -n 1)
DEB_HELPER=$(ls "$B"/pot-helper_"$VERSION"_*.deb 2>/dev/null | head -n 1)
[ -f "$CHANGES" ] && [ -f "$DEB_MOD" ] && [ -f "$DEB_HELPER" ] ||
	fail "dpkg-buildpackage made no .changes or no .debs: $(ls "$B")"

# --- 2. lintian: no errors (warnings are shown) --------------------------------------------
lintian --fail-on error "$CHANGES" >"$T/lintian.out" 2>&1
lrc=$?
grep -v '^running with root privileges' "$T/lintian.out" | sed 's/^/    lintian: /'
[ "$lrc" = 0 ] || fail "lintian found errors (exit $lrc)"
note "lintian: $(grep -c '^E:' "$T/lintian.out") errors, $(grep -c '^W:' "$T/lintian.out") warnings"

# --- from here on the host changes: one pam_wrapper test and one e2e test at a time --------
# (the same order as tests/run-test.sh and sshd.sh: the pam_wrapper lock, then lib.sh's)
exec 8>"${TMPDIR:-/tmp}/pot-pam-wrapper.lock"
flock -w 900 8 || fail "another test holds ${TMPDIR:-/tmp}/pot-pam-wrapper.lock"
e2e_need_root
e2e_etc_snapshot
e2e_account_files_save		# postinst's useradd of pot rewrites /etc/passwd- and friends

# --- 3. install -----------------------------------------------------------------------------
started=$(date +%s)
INSTALLED=yes		# set first: a half-done installation is purged too
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o DPkg::Lock::Timeout=120 "$DEB_MOD" "$DEB_HELPER" 8>&- 9>&- >"$T/install.log" 2>&1 ||
	fail "apt-get install of the packages failed"
note "apt-get install: $(($(date +%s) - started)) s"
dpkg -L libpam-pot pot-helper >"$T/files" || fail "dpkg -L failed"
for f in /lib/*/security/pam_pot.so /usr/share/pam-configs/pot /etc/pot/pot.conf /etc/pam.d/potd \
	/usr/sbin/potd /usr/bin/pot /usr/bin/pot-askpass /lib/systemd/system/potd.service; do
	[ -e "$f" ] || fail "$f is not installed"
done
MODULE=$(ls /lib/*/security/pam_pot.so | head -n 1)
grep -qx "$MODULE" "$T/files" || fail "$MODULE does not belong to libpam-pot"
# no setuid or setgid file (nor directory) among the packages' files
suid=$(tr '\n' '\0' <"$T/files" | xargs -0 find 2>/dev/null -maxdepth 0 -perm /6000 -print)
[ -z "$suid" ] || fail "setuid/setgid among the packages' files: $suid"
for f in /etc/pot/pot.conf /etc/pam.d/potd; do
	grep -qx "$f" /var/lib/dpkg/info/*.conffiles || fail "$f is not a conffile"
done
# the account: a system user and group, no login, home = state_dir
pw=$(getent passwd pot) || fail "postinst made no user pot"
getent group pot >/dev/null || fail "postinst made no group pot"
POT_UID=$(echo "$pw" | cut -d: -f3)
[ "$POT_UID" -lt 1000 ] || fail "pot is no system user (uid $POT_UID)"
[ "$(echo "$pw" | cut -d: -f6)" = /var/lib/pot ] || fail "pot's home is not /var/lib/pot: $pw"
case $(echo "$pw" | cut -d: -f7) in */nologin | */false) ;; *) fail "pot has a login shell: $pw" ;; esac
# the unit names the potd the package installs, runs it as pot, and is enabled
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' /lib/systemd/system/potd.service)
[ "$exec_start" = /usr/sbin/potd ] || fail "potd.service runs $exec_start, not /usr/sbin/potd"
grep -qx 'User=pot' /lib/systemd/system/potd.service || fail "potd.service does not run as pot"
[ -L /etc/systemd/system/multi-user.target.wants/potd.service ] ||
	fail "potd.service was not enabled at installation"
# installing changes no login: the profile is "Default: no"
grep -l pam_pot /etc/pam.d/common-* 2>/dev/null && fail "installing libpam-pot put pam_pot into common-*"
grep -q '^auth.*pam_deny\.so' /etc/pam.d/potd || fail "/etc/pam.d/potd does not refuse sign-ins by default"

# --- 4. the profile, enabled with pam-auth-update in a private root ------------------------
# (DEBCONF_DB_REPLACE: the answers go to $T, the system's debconf database is only read)
R=$T/root
mkdir -p "$R/etc/pam.d" "$R/var/lib/pam" "$R/usr/share/pam-configs"
cp -p /etc/pam.d/common-* "$R/etc/pam.d/" && cp -p /var/lib/pam/* "$R/var/lib/pam/" &&
	cp -p /usr/share/pam-configs/* "$R/usr/share/pam-configs/" || fail "cannot copy the PAM configuration"
DEBIAN_FRONTEND=noninteractive DEBCONF_DB_REPLACE="File{$T/debconf.dat}" \
	pam-auth-update --root "$R" --enable pot >"$T/pam-auth-update.log" 2>&1 ||
	{ cat "$T/pam-auth-update.log" >&2; fail "pam-auth-update --enable pot failed"; }
grep -v '^#' "$R/etc/pam.d/common-auth" | grep . | sed 's/^/    common-auth: /'
first=$(grep -E '^auth' "$R/etc/pam.d/common-auth" | head -n 1)
case $first in
*'[success='[0-9]*' default=ignore]'*pam_pot.so*) ;;
*) fail "pam_pot is not the first auth module, as [success=N default=ignore]: $first" ;;
esac
grep -q '^auth.*pam_unix\.so.*try_first_pass' "$R/etc/pam.d/common-auth" ||
	fail "pam_unix after pam_pot does not reuse the typed password (try_first_pass)"
grep -q '^account.*pam_pot\.so' "$R/etc/pam.d/common-account" || fail "no pam_pot in common-account"

# --- 5. potd, as installed, started by hand (no systemd): root binds, then drops to pot -----
PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$T/home" "$T/user" "$T/potd-services" "$T/login-services"
chmod 0700 "$T/user"
{ getent passwd root pot; echo "$USER_OK:x:$USER_UID:$USER_UID:pot debian e2e:$T/home:/bin/sh"; } >"$T/passwd"
{ getent group root pot; echo "$USER_OK:x:$USER_UID:"; } >"$T/group"
printf '%s:%s:potd\n' "$USER_OK" "$PASSWORD" >"$T/passdb"
printf '%s\n' "$PASSWORD" >"$T/password"
chmod 0600 "$T/password"
chmod 0644 "$T/passwd" "$T/group" "$T/passdb"
# potd's login_service (default potd), for pam_wrapper: pam_matrix knows the password
printf 'auth\trequired\t%s passdb=%s\naccount\trequired\t%s passdb=%s\n' \
	"$PAM_MATRIX" "$T/passdb" "$PAM_MATRIX" "$T/passdb" >"$T/potd-services/potd"
# the login service: common-auth as pam-auth-update just made it, inlined (libpam resolves a
# relative @include in /etc/pam.d even under pam_wrapper), and the pam_pot line it put into
# common-account (pam_unix's account check there knows no user of nss_wrapper's). pam_pot.so
# is a bare name in both: libpam loads the installed module.
{ cat "$R/etc/pam.d/common-auth"; grep '^account.*pam_pot\.so' "$R/etc/pam.d/common-account"
  printf 'account\trequired\tpam_permit.so\n'; } >"$T/login-services/login"

PORT=$(e2e_free_port)
ISSUER=http://127.0.0.1:$PORT
# what an administrator edits: the issuer and address, and who may get scope "login"
cat >>/etc/pot/pot.conf <<EOF || fail "cannot edit /etc/pot/pot.conf"

# added by tests/e2e/debian.sh
issuer = $ISSUER
listen = 127.0.0.1:$PORT
scope.login = *
EOF
env LD_PRELOAD="$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$T/potd-services" \
	NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
	/usr/sbin/potd --config /etc/pot/pot.conf --foreground >"$T/potd.log" 2>&1 8>&- 9>&- &
POTD_PID=$!
i=0
until curl -s -o /dev/null --max-time 1 "$ISSUER/healthz"; do
	kill -0 "$POTD_PID" 2>/dev/null || { POTD_PID=; fail "potd exited at start"; }
	i=$((i + 1))
	[ $i -lt 100 ] || fail "potd does not answer on $ISSUER/healthz"
	sleep 0.1
done
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$POTD_PID/status")
[ "$uids" = "$POT_UID $POT_UID $POT_UID $POT_UID" ] || fail "potd runs with uids $uids, not pot's ($POT_UID)"
[ "$(stat -c '%U %a' /var/lib/pot)" = "pot 755" ] || fail "/var/lib/pot: $(stat -c '%U %a' /var/lib/pot)"
[ "$(stat -c '%a' /var/lib/pot/jwks.json)" = 644 ] || fail "/var/lib/pot/jwks.json is not 0644"
note "potd (pid $POTD_PID) serves $ISSUER as pot (uid $POT_UID)"

# --- 6. pot client add, pot login (the browser stand-in signs in) --------------------------
/usr/bin/pot client add pot --public --first-party --redirect-uri http://127.0.0.1/callback \
	--scope login >"$T/client.out" 2>&1 || { cat "$T/client.out" >&2; fail "pot client add failed"; }
grep -q '^client_id: pot$' "$T/client.out" || fail "pot client add said: $(cat "$T/client.out")"
/usr/bin/pot client list >"$T/clients" 2>&1 && grep -q pot "$T/clients" || fail "pot client list: $(cat "$T/clients")"
: >"$T/login.err"
XDG_CONFIG_HOME="$T/user" /usr/bin/pot login --scope login --no-browser \
	>"$T/login.out" 2>"$T/login.err" 8>&- 9>&- &
LOGIN_PID=$!
"$E2E_PY" "$SRC/tests/tools/pot-browser" --url-from "$T/login.err" --user "$USER_OK" \
	--password-file "$T/password" >"$T/browser.out" 2>&1 ||
	{ cat "$T/browser.out" >&2; fail "the browser stand-in could not sign in"; }
wait "$LOGIN_PID" || { LOGIN_PID=; fail "pot login failed"; }
LOGIN_PID=
TOKEN=$(XDG_CONFIG_HOME="$T/user" /usr/bin/pot token) || fail "pot token failed"
RT=$("$E2E_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["refresh_token"])' \
	"$T/user/pot/tokens.json") || fail "no refresh token in $T/user/pot/tokens.json"
note "signed in as $USER_OK: a $(printf '%s' "$TOKEN" | wc -c)-byte access token and a refresh token"

# --- 7. logins through the installed module -------------------------------------------------
# pam USER SECRET: pamtester, service login; sets OUT (stdout and stderr) and RC
pam() {
	printf '%s\n' "$2" | timeout -k 2 30 env PAM_WRAPPER_DEBUGLEVEL=2 \
		LD_PRELOAD="$PAM_WRAPPER_SO:$NSS_WRAPPER_SO" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$T/login-services" \
		NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
		pamtester -v login "$1" authenticate acct_mgmt >"$T/pam.out" 2>&1 8>&- 9>&-
	RC=$?
	OUT=$(cat "$T/pam.out")
}
pam "$USER_OK" "$TOKEN"
[ "$RC" = 0 ] || { echo "$OUT" >&2; fail "the access token did not log in (pamtester exit $RC)"; }
echo "$OUT" | grep -q "SYSLOG([0-9]*): auth result=PAM_SUCCESS reason=\"ok\" user=$USER_OK service=login" ||
	{ echo "$OUT" >&2; fail "no PAM_SUCCESS line of pam_pot for the access token"; }
echo "$OUT" | grep -q "SYSLOG([0-9]*): account result=PAM_SUCCESS reason=\"ok\" user=$USER_OK service=login" ||
	{ echo "$OUT" >&2; fail "no account PAM_SUCCESS line of pam_pot for the access token"; }
note "access token: logged in through $MODULE"
pam "$USER_OK" "$RT"
[ "$RC" = 0 ] || { echo "$OUT" >&2; fail "the refresh token did not log in (pamtester exit $RC)"; }
note "refresh token: logged in (checked by potd over /run/pot/potd.sock)"
# root: pam_pot refuses without asking (no allow_root); the stack must go on to pam_unix,
# which asks for the password: the profile must not lock root out of su and login.
# (pam_unix either refuses, with its "authentication failure; ... user=root" line, or lets
# in a root without password: nullok. Either way it was asked.)
pam root "not-a-token-$PASSWORD"
echo "$OUT" | grep -q 'SYSLOG([0-9]*): auth result=PAM_PERM_DENIED reason="root not allowed' ||
	{ echo "$OUT" >&2; fail "pam_pot did not refuse root"; }
[ "$RC" = 0 ] || echo "$OUT" | grep -q 'SYSLOG([0-9]*): authentication failure;.* user=root' ||
	{ echo "$OUT" >&2; fail "after pam_pot refused root, pam_unix was not asked: root is locked out"; }
note "root: pam_pot steps aside, pam_unix asks for the password"

# --- 8. stop potd, purge --------------------------------------------------------------------
kill "$POTD_PID"
wait "$POTD_PID"
prc=$?
POTD_PID=
[ "$prc" = 0 ] || fail "potd exited $prc on SIGTERM"
pgrep -u "$POT_UID" >/dev/null && { ps -u "$POT_UID" -o pid,args >&2; fail "processes of pot still run"; }
started=$(date +%s)
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=120 libpam-pot pot-helper \
	>"$T/purge.log" 2>&1 8>&- 9>&- || fail "apt-get purge failed"
INSTALLED=no
note "apt-get purge: $(($(date +%s) - started)) s"
for p in $PKGS; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[a-z]i' && fail "$p is still installed"
done
while read -r f; do
	[ -d "$f" ] && continue			# shared directories (/etc, /lib/.../security, ...)
	[ -e "$f" ] || [ -L "$f" ] && fail "$f is left after the purge"
done <"$T/files"
for f in /var/lib/pot /run/pot /etc/pot /etc/pam.d/potd /usr/share/pam-configs/pot \
	/etc/systemd/system/multi-user.target.wants/potd.service; do
	[ -e "$f" ] || [ -L "$f" ] && fail "$f is left after the purge"
done
grep -l pam_pot /etc/pam.d/common-* 2>/dev/null && fail "pam_pot is left in common-*"
grep -qx pot /var/lib/pam/seen 2>/dev/null && fail "pam-auth-update still knows the profile pot"
# the same login again: the module is gone, the token no longer logs in
pam "$USER_OK" "$TOKEN"
[ "$RC" != 0 ] || fail "the access token still logs in after the purge"
# documented: the system user stays (removed by cleanup)
getent passwd pot >/dev/null || note "the purge removed the user pot (README says it stays)"
note "purged: files, state, unit links gone; the user pot remains (removed by the test)"
note "PASS"
exit 0
