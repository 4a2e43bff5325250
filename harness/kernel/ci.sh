#!/bin/sh
# ci.sh: the CI leg on Debian 12's own kernels.  Runs the transcript tests (and
# the harness's own tests) under qemu on the newest 6.1 kernel (Debian 12's stock
# series) and the newest 6.12 kernel for Debian 12 (linux-6.12 from bookworm-security,
# or bookworm-backports where that is in the apt sources), each as root and as
# uid 65534, through test-kernel.sh.  Prints one line per leg, then a count:
#     kernel-ci 6.1.0-57-amd64 root: PASS (38 passed, 320 deselected in 44s; ...)
#     kernel-ci: 4 passed, 0 failed, 0 skipped
# A kernel that cannot be had, or qemu that cannot run, is a SKIP with the reason
# (never a pass).  A guest whose kernel crashed is booted once more (README.md).
# Exit status: 1 if any leg failed (a test, the build, or the boot), 0 otherwise;
# with TK_CI_STRICT=1 a skip fails too.
#
# Environment: TK_CI_BUDGET  seconds CI allots to the whole of ci.sh (default 2100 = 35 min;
#                measured: ~11-17 min under TCG for the 4 legs).  It is CI's time, not a
#                measure of this machine: each kernel gets what is left divided by the
#                kernels still to run as a cap (TK_TIME_CAP) on test-kernel.sh's own
#                limit, which follows from the guest's measured speed (limits.sh).  A
#                kernel whose share is less than the boot limit (the host's slowness x
#                limits.sh's quiet boot x margin) is a SKIP: not even a boot fits.
#              TK_CI_PYTEST_ARGS  the pytest selection (default: the transcript and
#                harness tests, ~45 s of pytest per user under TCG).
#              TK_CI_KERNELS  kernel releases to use instead of looking up the newest.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUDGET=${TK_CI_BUDGET:-2100}
PYTEST_ARGS=${TK_CI_PYTEST_ARGS:-'-k "transcript or test_harness.py"'}
STRICT=${TK_CI_STRICT:-0}
CACHE=${TK_CACHE:-$ROOT/build/kernel}   # test-kernel.sh's: its logs go in CACHE/KVER/last
LOGDIR=$CACHE/ci
mkdir -p "$LOGDIR" || { echo "kernel-ci: cannot create $LOGDIR" >&2; exit 1; }
start=$(date +%s)
. "$HERE/limits.sh"
HOST_SLOW=$(tk_host_slowness)
[ -n "$HOST_SLOW" ] || { echo "kernel-ci: cannot measure the host's slowness (python3 $ROOT/harness/runner.py)" >&2; exit 1; }
MIN_SHARE=$(tk_seconds "$TK_Q_BOOT" "$HOST_SLOW" "$TK_MARGIN")

# The newest kernel of a series in apt's lists ($1: a regex for the release).
newest() {
	apt-cache search --names-only "^linux-image-$1-amd64-unsigned\$" 2>/dev/null |
		sed -n 's/^linux-image-\(.*\)-unsigned .*/\1/p' | sort -V | tail -n 1
}
RE_61='6\.1\.0-[0-9]+'
RE_612='6\.12\.[0-9]+\+(deb12|bpo)'
lookup() {
	K61=$(newest "$RE_61")
	K612=$(newest "$RE_612")
}
WHY61="" WHY612=""
if [ -n "${TK_CI_KERNELS:-}" ]; then
	KERNELS=$TK_CI_KERNELS
else
	lookup
	if { [ -z "$K61" ] || [ -z "$K612" ]; } && [ "$(id -u)" = 0 ]; then
		echo "kernel-ci: apt-get update (a kernel series is missing from apt's lists)" >&2
		apt-get update -q >"$LOGDIR/apt-update.log" 2>&1 || echo "kernel-ci: apt-get update failed ($LOGDIR/apt-update.log)" >&2
		lookup
	fi
	sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$K61" ] || WHY61="no linux-image-6.1.0-N-amd64-unsigned in apt's lists (is bookworm in the apt sources?)"
	if [ -z "$K612" ]; then
		case "$sources" in
		*bookworm-backports*) WHY612="no linux-image-6.12.*-amd64-unsigned in apt's lists, although bookworm-backports is in the apt sources" ;;
		*) WHY612="no linux-image-6.12.*-amd64-unsigned in apt's lists: neither bookworm-security's linux-6.12 nor bookworm-backports (which is not in the apt sources) offers it here" ;;
		esac
	fi
	KERNELS="${K61:-6.1:missing} ${K612:-6.12:missing}"
fi

# unfinished: test-kernel.sh's run of kernel $k (its output in $log) did not finish.
unfinished() { grep -q "^test-kernel $k: .*ERROR" "$log"; }
# crashed: it did not finish and the guest's console shows its kernel crashing.
CRASH_RE='Kernel panic|Oops:|BUG: '
crashed() { unfinished && grep -aqE "$CRASH_RE" "$CACHE/$k/last/console.log" 2>/dev/null; }

n_left=$(echo "$KERNELS" | wc -w)
passed=0 failed=0 skipped=0
summary=""
add() { summary="$summary$1
"; }
for k in $KERNELS; do
	case "$k" in
	6.1:missing) add "kernel-ci 6.1 root: SKIP ($WHY61)"; add "kernel-ci 6.1 user: SKIP ($WHY61)"
		skipped=$((skipped + 2)); n_left=$((n_left - 1)); continue ;;
	6.12:missing) add "kernel-ci 6.12 root: SKIP ($WHY612)"; add "kernel-ci 6.12 user: SKIP ($WHY612)"
		skipped=$((skipped + 2)); n_left=$((n_left - 1)); continue ;;
	esac
	left=$((BUDGET - ($(date +%s) - start)))
	limit=$((left / n_left))
	n_left=$((n_left - 1))
	if [ "$limit" -lt "$MIN_SHARE" ]; then
		add "kernel-ci $k root: SKIP (the budget TK_CI_BUDGET=$BUDGET s is spent: $limit s for this kernel, less than a boot may take here, $MIN_SHARE s)"
		add "kernel-ci $k user: SKIP (the budget TK_CI_BUDGET=$BUDGET s is spent: $limit s for this kernel, less than a boot may take here, $MIN_SHARE s)"
		skipped=$((skipped + 2))
		continue
	fi
	echo "== kernel-ci: $k, root and uid 65534, PYTEST_ARGS=$PYTEST_ARGS (at most $limit s of the budget)"
	log=$LOGDIR/$k.log
	TK_TIME_CAP=$limit sh "$HERE/test-kernel.sh" "$k" root,user "$PYTEST_ARGS" 2>&1 | tee "$log"
	# The guest's own kernel crashed (under TCG: an Oops in 6.12's kmem_cache_alloc from
	# the net namespace clean-up, once in three runs): boot it once more if the budget
	# allows, and say so in both legs' lines.  A crash that comes back is a FAIL.
	again=""
	if crashed; then
		kdir=$CACHE/$k
		first=$(grep -aE -m 1 "$CRASH_RE" "$kdir/last/console.log" | sed 's/^\[[ 0-9.]*\] //')
		left=$((BUDGET - ($(date +%s) - start)))
		share=$((left / (n_left + 1)))
		if [ "$share" -ge "$MIN_SHARE" ]; then
			rm -rf "$kdir/crashed" && cp -r "$kdir/last" "$kdir/crashed"
			echo "== kernel-ci: $k: the guest's kernel crashed ($first); booting it once more (at most $share s)"
			TK_TIME_CAP=$share sh "$HERE/test-kernel.sh" "$k" root,user "$PYTEST_ARGS" 2>&1 | tee "$log"
			again=" [booted twice: the first boot's kernel crashed: $first; its console: $kdir/crashed/console.log]"
		else
			again=" [the guest's kernel crashed: $first; no budget left to boot it again ($share s)]"
		fi
	fi
	# test-kernel.sh's status, through the pipe (POSIX sh has no PIPESTATUS)
	rc=$(sed -n 's/^test-kernel .*: \(SKIP\|ERROR\).*/\1/p' "$log" | tail -n 1)
	for u in root user; do
		v=$(sed -n "s/^test-kernel $k ${u}[^:]*: //p" "$log" | tail -n 1)
		if [ -n "$v" ]; then
			line="kernel-ci $k $u: $v"
		elif [ "$rc" = SKIP ]; then
			line="kernel-ci $k $u: SKIP ($(sed -n 's/^test-kernel [^ ]*: SKIP (\(.*\))$/\1/p' "$log" | tail -n 1))"
		else
			line="kernel-ci $k $u: FAIL (test-kernel.sh gave no verdict: $(tail -n 1 "$log"))"
		fi
		line="$line$again"
		# a verdict without a summary is still a failure if the run as a whole failed to finish
		case "$line" in
		*": PASS "*) if unfinished; then line="kernel-ci $k $u: FAIL (${line#*: }; but the guest run did not finish)"; failed=$((failed + 1)); else passed=$((passed + 1)); fi ;;
		*": SKIP "*) skipped=$((skipped + 1)) ;;
		*": ERROR "*) line="kernel-ci $k $u: FAIL ${line#*: ERROR }$(sed -n "s/^test-kernel [^ ]*: .*; ERROR: / - /p" "$log" | tail -n 1)"; failed=$((failed + 1)) ;;
		*) failed=$((failed + 1)) ;;
		esac
		add "$line"
	done
done
total=$(($(date +%s) - start))
echo
echo "== kernel-ci summary (the transcript tests on Debian 12's kernels under qemu; ${total} s of a ${BUDGET} s budget)"
printf '%s' "$summary"
if [ "$skipped" -gt 0 ]; then
	echo "kernel-ci: WARNING: $skipped of $((passed + failed + skipped)) legs were SKIPPED, see the reasons above"
fi
echo "kernel-ci: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] || exit 1
[ "$STRICT" = 1 ] && [ "$skipped" -gt 0 ] && exit 1
exit 0
