# limits.sh: the time limits of test-kernel.sh and ci.sh (sourced by both; needs ROOT).
#
# No fixed number of seconds: like every wait of the harness (harness/runner.py,
# seconds()), a limit is what the step takes on a quiet 2-CPU machine, times how
# much slower the machine is now, times a stated margin.  Two measures of speed:
#
#   the host's slowness   runner.slowness() on the host before qemu starts (PROBE:
#                         20 process starts and a shell loop, median of 3; 1 = a
#                         quiet 2-CPU Debian 12 VM).  Used for what happens before
#                         the guest can measure anything (the boot, the KVM probe)
#                         and for the host's own waits.
#   the guest's slowness  the same probe, run by guest.sh in the booted guest: the
#                         host's load and the emulation together (TCG: 30-60 here,
#                         Nov 2026), measured rather than assumed.  Used for the run.
#
# Quiet-machine figures (measured on this project's 2-CPU VM, load < 0.1, Nov 2026):
#   TK_Q_BOOT   12 s   qemu start to the guest's first line under TCG (6-12 s measured
#                      at slowness 1; KVM is faster, the same bound serves it)
#   TK_Q_RUN    60 s   one user's guest work on a quiet host: make -j2 all (2.8 s) and
#                      the whole make test (48.5 s, 2 workers), rounded up; a narrower
#                      PYTEST_ARGS selection only finishes sooner
#   TK_Q_KVM     2 s   a KVM probe boot printing the kernel banner (well under 1 s)
#   TK_Q_GRACE   2 s   qemu ending after SIGTERM (a fraction of a second)
# Margin (TK_MARGIN, 3): the guest's probe is process starts, which TCG slows more
# than compiling and most tests (build 13-45x, the CI selection 24-53x, the probe
# 30-60x), so the run limit is already above the expected time; the margin covers
# the 2x swings of a shared host between the probe and the end of the run.  A limit
# is there to stop a hung guest, never to judge speed: a run that needs longer is
# allowed it by raising TK_MARGIN, never reported as a pass.
TK_Q_BOOT=${TK_Q_BOOT:-12}
TK_Q_RUN=${TK_Q_RUN:-60}
TK_Q_KVM=${TK_Q_KVM:-2}
TK_Q_GRACE=${TK_Q_GRACE:-2}
TK_MARGIN=${TK_MARGIN:-3}

# The host's slowness (runner.slowness; MMAPLABS_SLOWNESS if the caller measured it).
tk_host_slowness() {
	/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import runner; print("%.2f" % runner.slowness())' \
		"$ROOT/harness" 2>/dev/null || echo ""
}

# tk_seconds QUIET_SECONDS SLOWNESS [MARGIN]: whole seconds, at least 1.
tk_seconds() {
	awk -v q="$1" -v s="$2" -v m="${3:-1}" 'BEGIN { t = q * s * m; printf "%d", (t < 1 ? 1 : t + 0.999) }'
}
