#!/bin/sh
# need.sh pytest|pytest-xdist|valgrind|bubblewrap|stress-ng|strace: make sure a tool from Debian's packages is here.
# As root it installs the package; otherwise it stops with the exact command.
python=${PYTHON:-/usr/bin/python3}
spec='import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, sys.argv[1:])))'
case "$1" in
  # Found, not imported: importing pytest costs 0.1 s before every make test (find_spec: 0.02 s).
  pytest)   have() { "$python" -c "$spec" pytest 2>/dev/null; }; pkg=python3-pytest ;;
  pytest-xdist) have() { "$python" -c "$spec" pytest xdist 2>/dev/null; }; pkg=python3-pytest-xdist ;;
  valgrind) have() { command -v valgrind >/dev/null 2>&1; }; pkg=valgrind ;;
  bubblewrap) have() { command -v bwrap >/dev/null 2>&1; }; pkg=bubblewrap ;;
  stress-ng) have() { command -v stress-ng >/dev/null 2>&1; }; pkg=stress-ng ;;
  strace)   have() { command -v strace >/dev/null 2>&1; }; pkg=strace ;;
  *) echo "need.sh: unknown tool $1" >&2; exit 2 ;;
esac
have && exit 0
if [ "${1%-xdist}" = pytest ] && [ "$python" != /usr/bin/python3 ]; then
  echo "$1 is not importable by PYTHON=$python; Debian's $pkg serves /usr/bin/python3: run with PYTHON=/usr/bin/python3" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's $pkg ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q "$pkg" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$pkg" >/dev/null; }; } || {
    echo "could not install $pkg: run  apt-get update && apt-get install -y $pkg" >&2; exit 1; }
  have && exit 0
  echo "installed $pkg but still cannot use it" >&2; exit 1
fi
echo "$1 is missing. Install it with:" >&2
echo "    sudo apt-get install -y $pkg" >&2
exit 1
