#!/bin/bash
# guest.sh: PID 1 of the test-kernel guest (the host's bash, after switch_root).
#
# test-kernel.sh put this script, its settings (tk/config) and a copy of the
# checkout (tk/src: the tracked files, no build/) on the scratch disk, which is
# the guest's /tmp (ext4).  For each user in $USERS ("root", "user" = uid 65534)
# it copies tk/src to a folder of its own on /tmp, builds it (make -j all, one job
# per vCPU) and runs `make test PYTEST_ARGS=...`.  Everything goes to the results
# port, ttyS1, which qemu writes to a file on the host; lines starting with "TK-"
# are read back by test-kernel.sh.  Then the machine powers off.
#
# As PID 1, bash reaps every orphan while it waits for its foreground command
# (its waitpid(-1) collects them), so none lingers as a zombie; if bash ever ends
# without powering off, the kernel panics and (panic=-1, qemu -no-reboot) qemu ends.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8 TERM=dumb
umask 022
hostname tk-guest

# Results port: raw, so that "\n" is not turned into "\r\n".
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1 </dev/null

halt() {
	exec 3>&-
	sync
	# busybox-static is installed on the host (the initramfs is made from it)
	/bin/busybox poweroff -f
	echo o >/proc/sysrq-trigger
}
trap halt EXIT

say() { printf '%s\n' "$*" >&3; }
now() { printf '%s' "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if ! . /tmp/tk/config; then        # KVER USERS PYTEST_ARGS NAME
	say "TK-FATAL guest: cannot read /tmp/tk/config"
	exit
fi
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
chmod 1777 /tmp

say "TK-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
# The guest's speed, measured the harness's way (runner.slowness: process starts and a
# shell loop against a quiet 2-CPU machine): the emulation and the host's load together.
# test-kernel.sh derives the run's time limit from it (limits.sh).
slow=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import runner; print("%.2f" % runner.slowness())' \
	/tmp/tk/src/harness 2>&1)
case "$slow" in
[0-9]*) say "TK-SLOWNESS $slow" ;;
*) say "TK-FATAL guest: cannot measure the guest's slowness: $slow"; exit ;;
esac
say "guest: $(uname -srm); $(nproc) vCPUs; $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo); slowness $slow (runner.slowness)"
say "guest: THP enabled=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo n/a)"
say "guest: overcommit_memory=$(cat /proc/sys/vm/overcommit_memory) shmmax=$(cat /proc/sys/kernel/shmmax) shmmni=$(cat /proc/sys/kernel/shmmni) max_user_namespaces=$(cat /proc/sys/user/max_user_namespaces)"
say "guest: $(awk '$2 == "/" || $2 == "/tmp" || $2 == "/dev/shm" { printf "%s on %s (%s)  ", $1, $2, $3 }' /proc/self/mounts)"

jobs=$(nproc)
for who in $USERS; do
	case "$who" in
	root) as="" ;;
	user) as="setpriv --reuid=65534 --regid=65534 --clear-groups" ;;
	*) say "TK-RESULT $who setup=1 build=- test=- build_s=0 test_s=0 summary=unknown user"; continue ;;
	esac
	top=/tmp/tk-$who
	dir=$top/$NAME
	say "TK-BEGIN $who"
	rm -rf "$top" && mkdir -p "$top" && cp -a /tmp/tk/src "$dir" || {
		say "TK-RESULT $who setup=1 build=- test=- build_s=0 test_s=0 summary=cannot copy the checkout"
		continue
	}
	if [ "$who" = user ]; then
		chown -R 65534:65534 "$top"
		home=$top
	else
		home=/root
	fi
	run() { (cd "$dir" && env -i PATH="$PATH" LC_ALL="$LC_ALL" TERM="$TERM" HOME="$home" $as "$@"); }

	say "== $who: make -j$jobs all"
	t0=$(now)
	run make -j"$jobs" all >&3 2>&1
	brc=$?
	t1=$(now)
	say "== $who: make test PYTEST_ARGS=$PYTEST_ARGS"
	# make test builds too: after a failed parallel build it shows the errors again, serially.
	run make test PYTEST_ARGS="$PYTEST_ARGS" 2>&1 | tee "$top/test.log" >&3
	trc=${PIPESTATUS[0]}
	t2=$(now)
	# pytest's closing line, e.g. "===== 3 failed, 35 passed in 80.12s (0:01:20) ====="
	summary=$(grep -E '^=+ .+ in [0-9.]+s( \([0-9:]+\))? =+$' "$top/test.log" |
		tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
	say "TK-RESULT $who setup=0 build=$brc test=$trc build_s=$(secs "$t0" "$t1") test_s=$(secs "$t1" "$t2") summary=${summary:-no pytest summary line}"
done
say "TK-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
