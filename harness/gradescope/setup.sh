#!/bin/sh
# Gradescope autograder: run once, as root, when Gradescope builds the image.
# The autograder zip (`make gradescope`) holds this file, run_autograder, the
# instructor's tree as mmap-labs/, optionally hidden variants as hidden/ and
# the secret as secret (harness/GRADING.md).  Everything under source/ is made
# root's alone: the student's code runs as a sandbox uid that must not read the
# reference solutions, the hidden transcripts or the secret.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q make gcc libc6-dev python3 bubblewrap util-linux strace
ag=${AUTOGRADER:-/autograder}
chmod -R go-rwx "$ag/source"
cd "$ag/source/mmap-labs"
make all PYTHON=/usr/bin/python3
