#!/bin/sh
# Gradescope autograder: run once, as root, when Gradescope builds the image.
# The autograder zip holds this file, run_autograder, the instructor's tree as
# mmap-labs/ and, optionally, hidden variants as hidden/ (harness/GRADING.md).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q make gcc libc6-dev python3 bubblewrap util-linux
cd "${AUTOGRADER:-/autograder}/source/mmap-labs"
make all PYTHON=/usr/bin/python3
