# SPDX-License-Identifier: MIT
# Sourced by the tests that act as an unprivileged user.
#
#   test_user      the user cldfuse (a system user, created when missing):
#                  sets U and UID_U; skips, saying why, where it cannot be
#   as_user CMD... CMD as that user, with its own groups
test_user() {
	command -v setpriv >/dev/null || skip "setpriv is missing"
	[ -x /usr/bin/python3 ] ||
		skip "/usr/bin/python3 is missing (the test user needs a python3 outside root's PATH)"
	U=cldfuse
	if ! id "$U" >/dev/null 2>&1; then
		useradd -M -r -s /usr/sbin/nologin "$U" 2>/dev/null || skip "cannot create user $U"
	fi
	UID_U=$(id -u "$U")
}

as_user() { setpriv --reuid="$U" --regid="$U" --init-groups "$@"; }
