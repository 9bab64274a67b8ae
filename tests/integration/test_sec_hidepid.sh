#!/bin/bash
# SPDX-License-Identifier: MIT
# hidepid (docs/security.md, "hidepid"): with /proc mounted hidepid=, the
# process files of /clondike show no more to a user than /proc does.  In a
# private mount namespace with a proc of its own at /proc (the machine's
# /proc is not touched), two nodes n1, n2; root's process RP and the user's
# (cldfuse) process UP; the user looks at them locally (/clondike/n1/ on
# n1) and remotely (/clondike/n2/ through n1, served by n2):
#   invisible:  RP is ENOENT (stat, xattrs) and not listed; UP as before;
#               root sees RP, and that is not cached for the user;
#   noaccess:   RP stats (owner root) with no size or time, xattrs EACCES;
#   gid=G:      a member of G sees everything (not under ptraceable);
#   off:        the old behaviour (size, xattr names).
if [ -z "${CLD_HIDEPID_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: unshare (util-linux) is missing" >&2; exit 77; }
	err=$(unshare -m --propagation private true 2>&1) ||
		{ echo "SKIP: no mount namespaces here: $err" >&2; exit 77; }
	CLD_HIDEPID_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/cluster_lib.sh"

. "$(dirname "$0")/user_lib.sh"
test_user
GID_U=$(id -g "$U")

# A proc of this namespace's own, so remounting it changes nothing outside.
err=$(mount -t proc -o hidepid=invisible proc /proc 2>&1) || skip "cannot mount a proc here: $err"
grep -Eq "^[0-9]+ [0-9]+ [^ ]+ [^ ]+ /proc .* - proc [^ ]+ [^ ]*hidepid=(invisible|2)" /proc/self/mountinfo ||
	skip "this kernel does not show hidepid in mountinfo: $(grep ' /proc ' /proc/self/mountinfo)"
setpriv --reuid="$U" --regid="$U" --init-groups ls /proc/1/ >/dev/null 2>&1 &&
	fail "hidepid=invisible does not hide /proc/1 from $U"

# look PATH: as the user, "ok SIZE UID MTIME" or the errno's name.
look() {
	as_user /usr/bin/python3 -c 'import errno, os, sys
try:
    st = os.stat(sys.argv[1]); print("ok", st.st_size, st.st_uid, int(st.st_mtime))
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}
# ux PATH: as the user, listxattr and getxattr(state): "NAMES/ERR STATE/ERR"
ux() {
	as_user /usr/bin/python3 -c 'import errno, os, sys
def t(f):
    try: return f()
    except OSError as e: return errno.errorcode[e.errno]
print(t(lambda: str(len(os.listxattr(sys.argv[1])))), t(lambda: os.getxattr(sys.argv[1], "user.clondike.state").decode()))' "$1"
}
# listed DIR PID: as the user, does ls DIR show PID?
listed() { as_user ls "$1" 2>/dev/null | grep -qx "$2"; }
# remount OPTS: change this namespace's /proc; the daemons see it within 1 s.
remount() {
	mount -o remount,"$1" /proc || fail "remount /proc $1"
	sleep 1.2
}

cluster_init 2
cluster_write_confs
cluster_start_all
cluster_wait_up

spawn "$T/root.out" sleep 1000
RP=$SPAWNED
setpriv --reuid="$U" --regid="$U" --init-groups /usr/bin/python3 -c \
	'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
	sleep 1000 </dev/null >/dev/null 2>&1 &
UP=$!
KILL_PIDS="$KILL_PIDS $UP"
# UP2: the user's uid but the root group: the user owns it and cannot
# ptrace it (gids differ), so /proc hides it from them too.
setpriv --reuid="$U" --regid=0 --clear-groups /usr/bin/python3 -c \
	'import os,sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
	sleep 1000 </dev/null >/dev/null 2>&1 &
UP2=$!
KILL_PIDS="$KILL_PIDS $UP2"
sleep 0.3
as_user ls "/proc/$UP2/" >/dev/null 2>&1 && fail "/proc does not hide $UP2 from $U (test assumption)"
L=${MNT[n1]}/n1 # local, fs.c
R=${MNT[n1]}/n2 # remote, served by n2 (serve.c)

# ---- hidepid=invisible ----------------------------------------------------------
for d in "$L" "$R"; do
	w=$([ "$d" = "$L" ] && echo local || echo remote)
	stat "$d/$RP" >/dev/null || fail "$w: root cannot stat its own process"
	r=$(look "$d/$RP")
	[ "$r" = ENOENT ] || fail "$w: the user's stat of root's $RP: $r (want ENOENT)"
	r=$(ux "$d/$RP")
	case "$r" in ENOENT*) ;; *) fail "$w: the user's xattrs of root's $RP: $r (want ENOENT)" ;; esac
	listed "$d" "$RP" && fail "$w: root's $RP listed for the user"
	r=$(look "$d/$UP")
	case "$r" in "ok "*" $UID_U "*) ;; *) fail "$w: the user's stat of their own $UP: $r" ;; esac
	listed "$d" "$UP" || fail "$w: the user's own $UP is not listed"
	r=$(ux "$d/$UP")
	[ "${r#* }" = running ] || fail "$w: the user's xattrs of their own $UP: $r"
	r=$(look "$d/$UP2")
	[ "$r" = ENOENT ] || fail "$w: $U's $UP2 of group root: $r (want ENOENT, as /proc)"
	listed "$d" "$UP2" && fail "$w: $UP2 (hidden by /proc) listed for the user"
	ls -l "$d/" >/dev/null # root lists everything: nothing of it must be cached for the user
	r=$(look "$d/$RP")
	[ "$r" = ENOENT ] || fail "$w: right after root looked: the user's stat of $RP: $r"
	ok "$w, hidepid=invisible: root's $RP is ENOENT for $U, $U's own $UP as before"
done
grep -q "hidepid=2" "$T/n1.log" || fail "n1 does not log the hidepid it follows"

# ---- hidepid=noaccess -------------------------------------------------------------
remount hidepid=noaccess
for d in "$L" "$R"; do
	w=$([ "$d" = "$L" ] && echo local || echo remote)
	r=$(look "$d/$RP")
	[ "$r" = "ok 0 0 0" ] || fail "$w, noaccess: the user's stat of $RP: $r (want: exists, owner 0, no size or time)"
	r=$(ux "$d/$RP")
	case "$r" in *" EACCES") ;; *) fail "$w, noaccess: the user's xattrs of $RP: $r (want EACCES)" ;; esac
	# The user owns UP2, so the kernel lets the xattr request through
	# (mode 0400): EACCES comes from the daemon.
	r=$(look "$d/$UP2")
	[ "$r" = "ok 0 $UID_U 0" ] || fail "$w, noaccess: $UP2: $r (want: exists, owner $UID_U, no size or time)"
	r=$(ux "$d/$UP2")
	case "$r" in *" EACCES") ;; *) fail "$w, noaccess: the user's xattrs of $UP2: $r (want EACCES)" ;; esac
	r=$(look "$d/$UP")
	case "$r" in "ok 0 "*) fail "$w, noaccess: the user's own $UP has no size: $r" ;; "ok "*) ;; *) fail "$w: $r" ;; esac
	stat -c %s "$d/$RP" | grep -qx 0 && fail "$w, noaccess: root sees no size"
	ok "$w, hidepid=noaccess: $RP exists for $U (owner root), no size, xattrs EACCES"
done

# ---- gid= exempts, except under ptraceable --------------------------------------------
remount hidepid=invisible,gid="$GID_U"
for d in "$L" "$R"; do
	r=$(look "$d/$RP")
	case "$r" in "ok "*) ;; *) fail "gid=$GID_U: the group member's stat of $RP: $r" ;; esac
done
remount hidepid=ptraceable,gid="$GID_U"
for d in "$L" "$R"; do
	r=$(look "$d/$RP")
	[ "$r" = ENOENT ] || fail "ptraceable: gid= must not exempt: $r"
	r=$(look "$d/$UP")
	case "$r" in "ok "*) ;; *) fail "ptraceable: the user's own $UP: $r" ;; esac
done
ok "gid=$GID_U exempts its members (invisible), not under ptraceable"

# ---- off: as before ---------------------------------------------------------------------
remount hidepid=off,gid=0
for d in "$L" "$R"; do
	w=$([ "$d" = "$L" ] && echo local || echo remote)
	r=$(look "$d/$RP")
	case "$r" in "ok 0 "*) fail "$w, off: no size for $RP: $r" ;; "ok "*" 0 "*) ;; *) fail "$w, off: $r" ;; esac
	r=$(ux "$d/$RP")
	case "$r" in [0-9]*) ;; *) fail "$w, off: listxattr of $RP: $r" ;; esac
	listed "$d" "$RP" && fail "$w, off: root's process listed for the user (it never was)"
done
ok "hidepid=off: the old behaviour (another user's process stats with its size)"
exit 0
