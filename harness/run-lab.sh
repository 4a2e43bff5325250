#!/bin/sh
# run-lab.sh labs/NN-slug [ARGS...]: run a lab's entry program in a fresh
# temporary directory (its files go there), then remove the directory.
d=${1%/}; shift
slug=${d#labs/}
prog="$(pwd)/${BUILD:-build}/$slug/${slug#*-}"
[ -x "$prog" ] || { echo "lab $slug is not built ($prog): run 'make lab-${slug%%-*}'" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mmaplab-run.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cd "$work" && "$prog" "$@"
