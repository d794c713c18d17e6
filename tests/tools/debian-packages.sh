# debian-packages.sh — sourced by check.sh and demo.sh, not run.
# pot_need_packages PKG...: installs the Debian packages among PKG that are missing, with
# sudo when not root. Nothing is installed when all are there.
pot_need_packages() {
	_missing=
	for _p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$_p" 2>/dev/null | grep -q '^install ok installed$' ||
			_missing="$_missing $_p"
	done
	[ -n "$_missing" ] || return 0
	echo "installing Debian packages:$_missing"
	_as_root=
	[ "$(id -u)" -eq 0 ] || _as_root=sudo
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $_as_root apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive $_as_root apt-get install -y -qq \
			--no-install-recommends $_missing >/dev/null
}
