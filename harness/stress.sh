#!/bin/sh
# stress.sh: are the transcripts the same when the CPU is scarce? (issue 13)
#
#   sh harness/stress.sh [-n RUNS] [-l LAB] [-u USER] [--suite] [pinned|loaded|both]
#
#   pinned   everything on one CPU (taskset -c 0)
#   loaded   every CPU busy: Debian's stress-ng with 2 x CPUs workers beside the runs
#   both     pinned, then loaded (the default)
#   -n RUNS  runs of each transcript per condition (default 20)
#   -l LAB   only this lab
#   -u USER  run as this user as well as yourself (as root: -u nobody); the tree must be built
#   --suite  run the whole `make test` RUNS times per condition instead, counting passes
#
# Each run of a transcript goes through the harness (mmaplabs.py repeat: the runner's plain
# level, as `make test`), is normalised and compared byte for byte with expected/; the
# script prints, per condition, how many runs of each transcript were identical, and the
# first difference of any that was not.  Time limits inside are runner.seconds(), from the
# machine's slowness measured at the start of each condition, under that condition.
# Exit status: 0 when every run of every condition was identical (or passed).
# As root it installs stress-ng (harness/need.sh); otherwise it prints the command.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=${PYTHON:-/usr/bin/python3}
runs=20 lab= users= suite= modes=
while [ $# -gt 0 ]; do
	case $1 in
	-n) runs=$2; shift ;;
	-l) lab=$2; shift ;;
	-u) users="$users $2"; shift ;;
	--suite) suite=1 ;;
	pinned|loaded) modes="$modes $1" ;;
	both) modes="$modes pinned loaded" ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "stress.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
	esac
	shift
done
modes=${modes:-pinned loaded}
case $runs in ''|*[!0-9]*) echo "stress.sh: -n needs a number" >&2; exit 2 ;; esac
cpus=$(nproc)
stress_pid=

stop_stress() {
	if [ -n "$stress_pid" ]; then
		kill -TERM "-$stress_pid" 2>/dev/null || kill -TERM "$stress_pid" 2>/dev/null
		wait "$stress_pid" 2>/dev/null
		stress_pid=
	fi
}
trap 'stop_stress' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# One condition, as one user: the transcripts (or the suite) $runs times.
once() {  # once WRAPPER... -- (the command is added here)
	if [ -n "$suite" ]; then
		pass=0 i=0
		while [ "$i" -lt "$runs" ]; do
			i=$((i + 1))
			if "$@" make -C "$root" --no-print-directory test PYTEST_ARGS=-q >"$log.suite" 2>&1; then
				pass=$((pass + 1)); echo "  make test $i/$runs: passed"
			else
				echo "  make test $i/$runs: FAILED"; tail -n 30 "$log.suite" | sed 's/^/    /'
			fi
		done
		echo "  make test: $pass/$runs passed"
		[ "$pass" = "$runs" ]
	else
		"$@" "$python" "$here/mmaplabs.py" repeat -n "$runs" $lab
	fi
}

as_user() {  # as_user USER: the command prefix running as USER (uid and gid of USER, no groups)
	uid=$(id -u "$1") || exit 2
	gid=$(id -g "$1") || exit 2
	echo "setpriv --reuid=$uid --regid=$gid --clear-groups --reset-env"
}

log=$(mktemp "${TMPDIR:-/tmp}/mmaplab-stress.XXXXXX") || exit 2
trap 'stop_stress; rm -f "$log" "$log.suite"' EXIT
status=0
summary=
for mode in $modes; do
	case $mode in
	pinned)
		wrap="taskset -c 0"
		what="pinned to CPU 0 (taskset -c 0)" ;;
	loaded)
		sh "$here/need.sh" stress-ng || exit 1
		workers=$((2 * cpus))
		# its own session, so its workers go with it (kill -PID), and it ends with this script
		setsid setpriv --pdeathsig TERM stress-ng --cpu "$workers" --quiet >/dev/null 2>&1 &
		stress_pid=$!
		# the slowness is measured as the runs start: only once every worker spins (it once
		# measured 1.00, before they did).  600 polls: only a broken stress-ng takes so long
		tries=0
		while n=$(pgrep -c -P "$stress_pid"); [ "${n:-0}" -lt "$workers" ]; do
			tries=$((tries + 1))
			if [ "$tries" -gt 600 ] || ! kill -0 "$stress_pid" 2>/dev/null; then
				echo "stress.sh: stress-ng did not start its $workers workers" >&2
				exit 1
			fi
			sleep 0.05
		done
		wrap=""
		what="under stress-ng --cpu $workers ($cpus CPUs)" ;;
	esac
	for who in "$(id -un)" $users; do
		prefix=$wrap
		[ "$who" = "$(id -un)" ] || prefix="$(as_user "$who") $wrap"
		echo "== $what, as $who: $runs run(s)${lab:+ of lab $lab}${suite:+ of make test}"
		# shellcheck disable=SC2086
		once $prefix >"$log" 2>&1
		rc=$?
		cat "$log"
		line=$(grep -E '^(repeat: [0-9]+/|  make test: )' "$log" | tail -n 1 | sed 's/^ *//')
		summary="$summary
  $what, as $who: ${line:-no result (exit $rc)}"
		[ "$rc" = 0 ] || status=1
		echo
	done
	stop_stress
done
echo "stress.sh summary:$summary"
exit $status
