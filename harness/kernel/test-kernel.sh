#!/bin/sh
# test-kernel.sh KVER [USERS [PYTEST_ARGS]]     (make test-kernel KVER=... USERS=... PYTEST_ARGS=...)
#
# Boots Debian's kernel KVER (package linux-image-KVER-unsigned, e.g. 6.1.0-57-amd64
# or 6.12.117+deb12-amd64) under qemu and runs this checkout's `make test` inside it,
# as root and/or as uid 65534 (USERS: "root,user", "root" or "user"; default both).
# The guest runs the host's own userland (gcc, make, python3, pytest), shared
# read-only over 9p under a tmpfs overlay; /tmp is a fresh ext4 scratch disk that
# holds a copy of the checkout (git ls-files: tracked and new files, no build/);
# /dev/shm is a tmpfs.  Prints the build and pytest output as it comes, then one
# verdict line per user and an overall line:
#     test-kernel 6.1.0-57-amd64: root PASS, user PASS
# Exit status: 0 all passed, 1 a build or a test failed, 2 setup or boot failure,
# 3 cannot run here (qemu or the kernel cannot be had; the reason is printed).
#
# Time limits (limits.sh): none is a fixed number of seconds.  Each is a quiet-machine
# figure times the measured slowness times a margin: the boot's by the host's slowness
# (runner.slowness), the run's by the guest's own, which guest.sh measures after the boot
# (TK-SLOWNESS): the emulation's cost and the host's load, measured instead of assumed.
#
# Environment (all optional):
#   TK_TIME_LIMIT  seconds for the whole guest run, boot included, instead of the limit
#                  derived from the guest's slowness
#   TK_TIME_CAP    at most this many seconds for the whole guest run (ci.sh: CI's budget)
#   TK_BOOT_LIMIT  seconds from qemu's start to the guest's first line, instead of the
#                  derived one
#   TK_MARGIN      the margin of the derived limits (limits.sh; default 3)
#   TK_ACCEL       auto (default: KVM if a probe boot works, else TCG), kvm or tcg
#   TK_SMP, TK_MEM, TK_DISK_GB   vCPUs (2), MiB of memory (4096), scratch disk (8, sparse)
#   TK_CACHE       where kernels, initramfs, the KVM probe and logs go (default build/kernel)
#
# Packages (Debian): qemu-system-x86 busybox-static cpio kmod xz-utils e2fsprogs on the
# host, and for the guest, which runs the host's userland: build-essential python3-pytest
# bubblewrap.  Installed with apt-get when run as root; otherwise the command is printed.
# The kernel is not installed on the host: unless /boot and /lib/modules already have
# it, `apt-get download` fetches the package and it is unpacked under TK_CACHE.
set -u
# depmod, modprobe and mke2fs live in sbin, which an ordinary user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
export PATH

ME="test-kernel"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KVER=${1:-}
USERS_ARG=${2:-root,user}
PYTEST_ARGS=${3:-}
CACHE=${TK_CACHE:-$ROOT/build/kernel}
TIME_LIMIT=${TK_TIME_LIMIT:-}
TIME_CAP=${TK_TIME_CAP:-}
BOOT_LIMIT=${TK_BOOT_LIMIT:-}
ACCEL=${TK_ACCEL:-auto}
SMP=${TK_SMP:-2}
MEM=${TK_MEM:-4096}
DISK_GB=${TK_DISK_GB:-8}
KVM_PROBE_LIMIT=${TK_KVM_PROBE_LIMIT:-}
. "$HERE/limits.sh"

note() { echo "$ME: $*" >&2; }
verdict() { echo "test-kernel ${KVER:-?}: $*"; }
cannot() {
	note "cannot run here: $*"
	verdict "SKIP (cannot run here: $*)"
	[ -n "${KDIR:-}" ] && rm -rf "$KDIR/deb" "$KDIR/tree" && rmdir "$KDIR" 2>/dev/null
	exit 3
}
broken() { note "setup failed: $*"; verdict "ERROR (setup: $*)"; exit 2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }
# single-quote for sh
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

case "$KVER" in
'' | -h | --help)
	sed -n '2,/^set -u$/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2 ;;
*/* | *' '*) broken "KVER must be a kernel release such as 6.1.0-57-amd64, not '$KVER'" ;;
esac
USERS=""
for u in $(echo "$USERS_ARG" | tr ',' ' '); do
	case "$u" in
	root | user) case " $USERS " in *" $u "*) ;; *) USERS="${USERS:+$USERS }$u" ;; esac ;;
	*) broken "USERS must be root, user or root,user (got '$USERS_ARG')" ;;
	esac
done
[ -n "$USERS" ] || broken "USERS is empty"
for n in "$SMP" "$MEM" "$DISK_GB" "${TIME_LIMIT:-0}" "${TIME_CAP:-0}" "${BOOT_LIMIT:-0}" "${KVM_PROBE_LIMIT:-0}"; do
	case "$n" in '' | *[!0-9]*) broken "TK_* limits and sizes must be whole numbers (got '$n')" ;; esac
done
[ "$(uname -m)" = x86_64 ] || cannot "the host is $(uname -m); this runs Debian's amd64 kernels under qemu-system-x86_64"
mkdir -p "$CACHE" || broken "cannot create $CACHE"
CACHE=$(cd "$CACHE" && pwd)
IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1

# ---- packages ------------------------------------------------------------------
APT_LOG=$CACHE/apt.log
APT_UPDATED=0
apt_update_once() {
	[ "$APT_UPDATED" = 0 ] || return 1
	APT_UPDATED=1
	note "apt-get update"
	apt-get update -q >>"$APT_LOG" 2>&1
}
apt_install() {
	note "installing $* (apt-get; log in $APT_LOG)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "$@" >>"$APT_LOG" 2>&1 && return 0
	apt_update_once && apt-get install -y -q --no-install-recommends "$@" >>"$APT_LOG" 2>&1
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

need=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
installed busybox-static || need="$need busybox-static"      # /bin/busybox, static
command -v cpio >/dev/null 2>&1 || need="$need cpio"
command -v depmod >/dev/null 2>&1 && command -v modprobe >/dev/null 2>&1 || need="$need kmod"
command -v xz >/dev/null 2>&1 || need="$need xz-utils"
command -v mke2fs >/dev/null 2>&1 || need="$need e2fsprogs"
command -v gcc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || need="$need build-essential"
/usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || need="$need python3-pytest"
command -v bwrap >/dev/null 2>&1 || need="$need bubblewrap"
if [ -n "$need" ]; then
	if [ "$IS_ROOT" = 1 ]; then
		# shellcheck disable=SC2086
		apt_install $need || cannot "apt-get install$need failed (see $APT_LOG)"
	else
		cannot "missing packages; as root run: apt-get update && apt-get install -y --no-install-recommends$need"
	fi
fi
[ -x /bin/busybox ] || cannot "busybox-static is installed but /bin/busybox is missing"

# ---- the host's speed, and the limits that follow from it (limits.sh) -------------
HOST_SLOW=$(tk_host_slowness)
[ -n "$HOST_SLOW" ] || broken "cannot measure the host's slowness (python3 $ROOT/harness/runner.py)"
if [ -n "$BOOT_LIMIT" ]; then
	BOOT_HOW="TK_BOOT_LIMIT"
else
	BOOT_LIMIT=$(tk_seconds "$TK_Q_BOOT" "$HOST_SLOW" "$TK_MARGIN")
	BOOT_HOW="host slowness $HOST_SLOW x $TK_Q_BOOT s x margin $TK_MARGIN; TK_BOOT_LIMIT changes it"
fi
[ -n "$KVM_PROBE_LIMIT" ] || KVM_PROBE_LIMIT=$(tk_seconds "$TK_Q_KVM" "$HOST_SLOW" "$TK_MARGIN")
GRACE=$(tk_seconds "$TK_Q_GRACE" "$HOST_SLOW")

# ---- the kernel and its initramfs (cached per kernel) ---------------------------
KDIR=$CACHE/$KVER
mkdir -p "$KDIR" || broken "cannot create $KDIR"
PKG=linux-image-$KVER-unsigned
MODULES="virtio_pci virtio_blk 9pnet_virtio 9p overlay ext4"
if installed "$PKG"; then
	PKGVER=$(dpkg-query -W -f='${Version}' "$PKG")
elif installed "linux-image-$KVER"; then
	PKGVER=$(dpkg-query -W -f='${Version}' "linux-image-$KVER")
else
	PKGVER=$(apt-cache show --no-all-versions "$PKG" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
fi
KEY="$KVER ${PKGVER:-unknown} init=$(sha256sum "$HERE/initramfs-init" | cut -c1-16) $(/bin/busybox 2>&1 | head -n 1) modules=$MODULES"

# Sets MODBASE to a root whose lib/modules/$KVER has the modules and modules.dep,
# and VMLINUZ to the kernel image.
find_kernel_tree() {
	if [ -f "/boot/vmlinuz-$KVER" ] && [ -f "/lib/modules/$KVER/modules.dep" ]; then
		MODBASE=/ VMLINUZ=/boot/vmlinuz-$KVER
		note "kernel $KVER: installed on the host"
		return
	fi
	debs=$KDIR/deb
	rm -rf "$debs" "$KDIR/tree" && mkdir -p "$debs" || broken "cannot create $debs"
	fetch() { (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$PKG") >>"$APT_LOG" 2>&1; }
	note "kernel $KVER: apt-get download $PKG"
	if ! fetch; then
		if [ "$IS_ROOT" = 1 ]; then
			apt_update_once && fetch ||
				cannot "Debian has no package $PKG here (after apt-get update; apt-cache search --names-only '^linux-image-.*-unsigned\$' lists those there are)"
		else
			cannot "apt-get download $PKG failed: no such package in apt's lists (as root run: apt-get update), see $APT_LOG"
		fi
	fi
	deb=$(ls "$debs"/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || cannot "apt-get download $PKG gave no .deb (see $APT_LOG)"
	dpkg-deb -x "$deb" "$KDIR/tree" || broken "cannot unpack $deb"
	rm -rf "$debs"
	[ -f "$KDIR/tree/boot/vmlinuz-$KVER" ] || broken "$PKG has no /boot/vmlinuz-$KVER"
	depmod -b "$KDIR/tree" "$KVER" || broken "depmod for the unpacked $KVER failed"
	MODBASE=$KDIR/tree VMLINUZ=$KDIR/tree/boot/vmlinuz-$KVER
	note "kernel $KVER: unpacked into $KDIR (package $(basename "$deb"))"
}

build_initramfs() {
	st=$KDIR/initramfs.d
	rm -rf "$st" && mkdir -p "$st/bin" "$st/etc" "$st/lib/tk-modules" || broken "cannot create $st"
	cp /bin/busybox "$st/bin/busybox" && cp "$HERE/initramfs-init" "$st/init" && chmod 755 "$st/init" ||
		broken "cannot stage busybox and init"
	# modprobe resolves each module's dependencies (and soft dependencies such as
	# ext4's crc32c) in load order; "builtin" lines are parts of the kernel image.
	# shellcheck disable=SC2086
	for m in $MODULES; do
		modprobe -d "$MODBASE" -S "$KVER" --show-depends "$m" || echo "MISSING $m"
	done >"$st/depends" 2>&1
	if grep -q '^MISSING' "$st/depends"; then
		broken "modules not found for $KVER: $(sed -n 's/^MISSING //p' "$st/depends" | tr '\n' ' ')"
	fi
	: >"$st/etc/tk-modules"
	awk '$1 == "insmod" && !seen[$2]++ { print $2 }' "$st/depends" | while read -r ko; do
		base=$(basename "$ko")
		case "$base" in
		*.ko.xz) base=${base%.xz}; xz -dc "$ko" >"$st/lib/tk-modules/$base" ;;
		*.ko.zst) base=${base%.zst}; zstd -qdc "$ko" >"$st/lib/tk-modules/$base" ;;
		*.ko.gz) base=${base%.gz}; gzip -dc "$ko" >"$st/lib/tk-modules/$base" ;;
		*) cp "$ko" "$st/lib/tk-modules/$base" ;;
		esac || exit 1
		echo "$base" >>"$st/etc/tk-modules"
	done || broken "cannot copy the modules of $KVER (zstd-compressed ones need the zstd package)"
	rm -f "$st/depends"
	(cd "$st" && find . | cpio -o -H newc --quiet | gzip -1) >"$KDIR/initrd.tmp" &&
		cp "$VMLINUZ" "$KDIR/vmlinuz.tmp" &&
		mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz" && mv "$KDIR/initrd.tmp" "$KDIR/initrd.gz" ||
		broken "cannot write the initramfs"
	printf '%s\n' "$KEY" >"$KDIR/initrd.key"
	note "kernel $KVER: initramfs built with $(wc -l <"$st/etc/tk-modules") modules: $(tr '\n' ' ' <"$st/etc/tk-modules")"
	rm -rf "$st" "$KDIR/tree"
}

if [ -s "$KDIR/initrd.gz" ] && [ -s "$KDIR/vmlinuz" ] && [ "$(cat "$KDIR/initrd.key" 2>/dev/null)" = "$KEY" ]; then
	note "kernel $KVER: cached in $KDIR"
else
	find_kernel_tree
	build_initramfs
fi

# ---- accelerator: KVM if a probe boot works (probed once per host kernel) ---------
kvm_probe() {
	if [ -d /sys/module/kvm_pvm ]; then
		echo "tcg (/dev/kvm is kvm-pvm, which cannot boot a stock kernel)"; return
	fi
	if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "tcg (no usable /dev/kvm)"; return
	fi
	note "probing KVM: booting $KVER with no root (at most $KVM_PROBE_LIMIT s)"
	log=$CACHE/kvm-probe.log
	timeout -k "$GRACE" "$KVM_PROBE_LIMIT" qemu-system-x86_64 -enable-kvm -cpu host -m 256 -nodefaults \
		-no-user-config -display none -serial "file:$log" -no-reboot \
		-kernel "$KDIR/vmlinuz" -append "console=ttyS0 panic=-1" >/dev/null 2>&1
	if grep -aq 'Linux version' "$log" 2>/dev/null; then
		echo "kvm (a probe boot printed the kernel banner)"
	else
		echo "tcg (a KVM probe boot printed nothing in $KVM_PROBE_LIMIT s; $log)"
	fi
}
case "$ACCEL" in
auto)
	probe=$CACHE/accel.$(uname -r)
	[ -s "$probe" ] || kvm_probe >"$probe"
	ACCEL_WHY=$(cat "$probe")
	ACCEL=${ACCEL_WHY%% *} ;;
kvm | tcg) ACCEL_WHY="$ACCEL (TK_ACCEL)" ;;
*) broken "TK_ACCEL must be auto, kvm or tcg" ;;
esac
if [ "$ACCEL" = kvm ]; then
	set -- -enable-kvm -cpu host
else
	set -- -accel tcg,thread=multi,tb-size=512 -cpu max
fi

# ---- the scratch disk: guest script, settings and the checkout -------------------
RUN=$CACHE/run.$$
QPID="" WPID=""
cleanup() {
	[ -n "$WPID" ] && kill "$WPID" 2>/dev/null
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	rm -rf "$RUN/stage" "$RUN/scratch.img"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 2' INT TERM HUP
rm -rf "$RUN" && mkdir -p "$RUN/stage/tk/src" || broken "cannot create $RUN"
chmod 1777 "$RUN/stage"
cp "$HERE/guest.sh" "$RUN/stage/tk/guest.sh" || broken "cannot stage guest.sh"
NAME=$(basename "$ROOT")
{
	echo "KVER=$(sq "$KVER")"
	echo "USERS=$(sq "$USERS")"
	echo "PYTEST_ARGS=$(sq "$PYTEST_ARGS")"
	echo "NAME=$(sq "$NAME")"
} >"$RUN/stage/tk/config"
# The working tree as it is (edits and new files included, ignored files and build/ not).
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
		tar -C "$ROOT" --null -T - --ignore-failed-read -cf - 2>>"$RUN/copy.log" |
		tar -C "$RUN/stage/tk/src" -xf - || broken "cannot copy the checkout (see $RUN/copy.log)"
else
	tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . |
		tar -C "$RUN/stage/tk/src" -xf - || broken "cannot copy the checkout"
fi
rm -rf "$RUN/stage/tk/src/build"
[ -f "$RUN/stage/tk/src/Makefile" ] || broken "the copy of $ROOT has no Makefile"
truncate -s "${DISK_GB}G" "$RUN/scratch.img" &&
	mke2fs -q -t ext4 -F -L tk-scratch -d "$RUN/stage" "$RUN/scratch.img" ||
	broken "mke2fs of the scratch disk failed"
rm -rf "$RUN/stage"

# ---- boot ---------------------------------------------------------------------------
# ttyS0: the kernel's console (console.log); ttyS1: the guest's results (results.log).
note "booting $KVER: $ACCEL_WHY; $SMP vCPUs, $MEM MiB; users: $USERS; PYTEST_ARGS=$PYTEST_ARGS"
if [ -n "$TIME_LIMIT" ]; then
	run_how="${TIME_LIMIT} s (TK_TIME_LIMIT)"
else
	run_how="the guest's slowness x $TK_Q_RUN s x $(echo "$USERS" | wc -w) user(s) x margin $TK_MARGIN, from the boot"
fi
note "limits: boot ${BOOT_LIMIT} s ($BOOT_HOW); run: $run_how${TIME_CAP:+, at most $TIME_CAP s in all (TK_TIME_CAP)}; logs in $RUN"
: >"$RUN/results.log"
: >"$RUN/console.log"
t_start=$(now)
nice -n 10 qemu-system-x86_64 "$@" -smp "$SMP" -m "$MEM" \
	-nodefaults -no-user-config -display none -no-reboot \
	-chardev "file,id=console,path=$RUN/console.log" -serial chardev:console \
	-chardev "file,id=results,path=$RUN/results.log" -serial chardev:results \
	-kernel "$KDIR/vmlinuz" -initrd "$KDIR/initrd.gz" \
	-append "console=ttyS0 panic=-1" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-drive "file=$RUN/scratch.img,format=raw,if=virtio,cache=unsafe" \
	>"$RUN/qemu.log" 2>&1 &
QPID=$!
# Watchdog: the guest's first line (or a fatal one) must come within BOOT_LIMIT, and
# its slowness (TK-SLOWNESS) within BOOT_LIMIT more; that sets the run's limit
# (limits.sh), unless TK_TIME_LIMIT fixed it.  Past the limit qemu gets SIGTERM, and
# SIGKILL after GRACE.  It polls once a second: an interval, not a deadline.
(
	elapsed() { secs "$t_start" "$(now)"; }
	stop_qemu() {
		: >"$RUN/$1"
		kill "$QPID" 2>/dev/null
		end=$(($(elapsed) + GRACE))
		while kill -0 "$QPID" 2>/dev/null && [ "$(elapsed)" -lt "$end" ]; do sleep 1; done
		kill -KILL "$QPID" 2>/dev/null
		exit 0
	}
	# wait_for REGEX LIMIT: 0 when a line matching REGEX came, 1 when qemu ended, 2 at LIMIT
	wait_for() {
		while ! grep -aqE "$1" "$RUN/results.log"; do
			kill -0 "$QPID" 2>/dev/null || return 1
			[ "$(elapsed)" -lt "$2" ] || return 2
			sleep 1
		done
	}
	wait_for 'TK-(BOOTED|FATAL)' "$BOOT_LIMIT"
	case $? in 1) exit 0 ;; 2) stop_qemu boot-timeout ;; esac
	now >"$RUN/booted"
	limit=$TIME_LIMIT
	if [ -z "$limit" ]; then
		booted=$(elapsed)
		wait_for 'TK-(SLOWNESS|FATAL)' $((booted + BOOT_LIMIT))
		case $? in 1) exit 0 ;; 2) stop_qemu slowness-timeout ;; esac
		slow=$(sed -n 's/.*TK-SLOWNESS \([0-9.]*\).*/\1/p' "$RUN/results.log" | head -n 1)
		[ -n "$slow" ] || exit 0                 # TK-FATAL: the guest powers off by itself
		limit=$((booted + $(tk_seconds "$TK_Q_RUN" "$slow" "$TK_MARGIN") * $(echo "$USERS" | wc -w)))
		how="guest slowness $slow x $TK_Q_RUN s x $(echo "$USERS" | wc -w) user(s) x margin $TK_MARGIN, after a boot of $booted s"
	else
		how="TK_TIME_LIMIT"
	fi
	if [ -n "$TIME_CAP" ] && [ "$limit" -gt "$TIME_CAP" ]; then
		limit=$TIME_CAP how="TK_TIME_CAP; derived: $how"
	fi
	echo "$limit s ($how)" >"$RUN/time-limit"
	note "time limit of the guest run: $(cat "$RUN/time-limit")"
	wait_for 'TK-DONE' "$limit"
	case $? in 2) stop_qemu time-out ;; esac
) &
WPID=$!
tail -n +1 -f --pid="$QPID" "$RUN/results.log" | grep -av --line-buffered -E '^TK-(RESULT|DONE|BOOTED|SLOWNESS)'
wait "$QPID"
qrc=$?
QPID=""
wait "$WPID" 2>/dev/null
WPID=""
t_end=$(now)
rm -f "$RUN/scratch.img"

# ---- verdicts ---------------------------------------------------------------------------
boot_s="?"
[ -f "$RUN/booted" ] && boot_s=$(secs "$t_start" "$(cat "$RUN/booted")")
echo
note "$KVER ($ACCEL): wall $(secs "$t_start" "$t_end") s, boot ~$boot_s s (qemu start to the guest script), qemu exit $qrc"
status=0
line=""
fatal=$(sed -n 's/.*TK-FATAL \(.*\)/\1/p' "$RUN/results.log" | head -n 1)
for u in $USERS; do
	r=$(sed -n "s/.*TK-RESULT $u \(.*\)/\1/p" "$RUN/results.log" | tail -n 1)
	if [ -z "$r" ]; then
		v=ERROR why="did not run"
		grep -aq "TK-BEGIN $u\$" "$RUN/results.log" && why="started but did not finish"
		status=2
	else
		setup=$(echo "$r" | sed -n 's/.*setup=\([^ ]*\).*/\1/p')
		build=$(echo "$r" | sed -n 's/.*build=\([^ ]*\).*/\1/p')
		test=$(echo "$r" | sed -n 's/.*test=\([^ ]*\).*/\1/p')
		build_s=$(echo "$r" | sed -n 's/.*build_s=\([^ ]*\).*/\1/p')
		test_s=$(echo "$r" | sed -n 's/.*test_s=\([^ ]*\).*/\1/p')
		summary=$(echo "$r" | sed -n 's/.*summary=\(.*\)/\1/p')
		if [ "$setup" != 0 ]; then
			v=ERROR why="guest setup: $summary"
			status=2
		elif [ "$build" != 0 ]; then
			v=FAIL why="make all failed (exit $build); make test exit $test: $summary"
			[ "$status" = 2 ] || status=1
		elif [ "$test" = 0 ]; then
			v=PASS why="$summary"
		elif [ "$test" = 5 ]; then
			v=FAIL why="no test ran (pytest exit 5): $summary"
			[ "$status" = 2 ] || status=1
		else
			v=FAIL why="make test exit $test: $summary"
			[ "$status" = 2 ] || status=1
		fi
		why="$why; build ${build_s} s, make test ${test_s} s"
	fi
	label=$u
	[ "$u" = user ] && label="user (uid 65534)"
	echo "test-kernel $KVER $label: $v ($why)"
	line="${line:+$line, }$u $v"
done
if ! grep -aq 'TK-DONE' "$RUN/results.log"; then
	status=2
	if [ -n "$fatal" ]; then
		why="$fatal"
	elif [ -f "$RUN/boot-timeout" ]; then
		why="the guest did not start within $BOOT_LIMIT s ($BOOT_HOW)"
	elif [ -f "$RUN/slowness-timeout" ]; then
		why="the guest did not report its slowness within $BOOT_LIMIT s of its boot"
	elif [ -f "$RUN/time-out" ]; then
		why="the guest did not finish within its time limit, $(cat "$RUN/time-limit") (TK_MARGIN or TK_TIME_LIMIT change it)"
	else
		why="qemu ended (exit $qrc) before the guest finished"
	fi
	note "$why; last lines of the kernel console ($RUN/console.log):"
	tail -n 25 "$RUN/console.log" | sed 's/^/    /' >&2
	[ -s "$RUN/qemu.log" ] && sed 's/^/    qemu: /' "$RUN/qemu.log" >&2
	line="$line; ERROR: $why"
fi
verdict "$line"
# Keep the last run's logs per kernel.
rm -rf "$KDIR/last" && mv "$RUN" "$KDIR/last" && note "logs: $KDIR/last/{results,console,qemu}.log"
exit "$status"
