#!/bin/sh
# run-lab.sh PROGRAM [ARGS...]: run a lab's program (build/NN-slug/prog) in a
# fresh temporary directory, where its files go; remove the directory afterwards,
# on every way out (end, Ctrl-C, Ctrl-\, hang-up, kill).
prog=$1
[ -n "$prog" ] || { echo "usage: run-lab.sh PROGRAM [ARGS...]" >&2; exit 2; }
shift
case $prog in /*) ;; *) prog=$(pwd)/$prog ;; esac
[ -x "$prog" ] || { echo "$prog is not built: run 'make all'" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mmaplab-run.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 131' QUIT
trap 'exit 143' TERM
cd "$work" && "$prog" "$@"
