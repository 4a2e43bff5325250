#!/bin/sh
# labdir.sh N: print labs/NN-slug for lab number N (3 and 03 both work).
case "$1" in
  ''|*[!0-9]*) echo "no lab '$1': labs are numbered; 'make help' lists them" >&2; exit 2 ;;
esac
n=$(printf '%02d' "$(expr "$1" + 0)")
for d in labs/"$n"-*; do
  [ -d "$d" ] && { echo "$d"; exit 0; }
done
echo "no lab $1 (looked for labs/$n-*): 'make help' lists the labs" >&2
exit 2
