"""cgroups: a total limit for one sandboxed run, and a way to kill all of it.

    g = cgroups.Group.make("run-123", memory=1 << 30, pids=256, cpus=1.0)   # None: not available
    subprocess.Popen(g.entering(cmd), ...)         # cmd and everything it starts are in it
    ...
    g.oom_killed()                                 # the memory limit killed something
    g.close()                                      # kill whatever is left in it, remove it
    cgroups.enforced()                             # what a run gets here, in words (reports)

RLIMIT_AS and RLIMIT_NPROC are per process and per uid; a control group
limits the run as a whole: every process of the sandbox (strace, bwrap, the
supervisor, the student's program and its children) shares one memory limit
(no swap), one process count and at most `cpus` CPUs, so a fork bomb or a
memory hog slows nobody else much and a compile of `#include "/dev/zero"`
dies at the limit.  Killing the group (cgroup v2's cgroup.kill, or SIGKILL to
each member until none is left) ends every process of the run, whatever it
did to get away (setsid, double fork, a new process group).

Which hierarchy: cgroup v2 where its controllers (memory, pids, cpu) can be
enabled for our groups (the v2 root is exempt from the no-internal-process
rule, so groups go in <v2 root>/mmaplabs/); for each controller v2 does not
have, a cgroup v1 hierarchy that does (groups under our own v1 group); a v2
group in any case, when v2 is mounted, for cgroup.kill.  Only root can do
any of this: for an ordinary user `enforced()` says what is left (the
per-process rlimits).  Standard library only; never imported inside the
sandbox (runner.py's supervisor does not need it).
"""
import os
import signal
import time
from pathlib import Path

def _seconds(quiet_machine_seconds):
    """runner.seconds: the harness's one measure of this machine's speed."""
    import runner          # runner imports this module lazily; by then it is loaded
    return runner.seconds(quiet_machine_seconds)


BASE = "mmaplabs"
CONTROLLERS = ("memory", "pids", "cpu")
_setup = None


def _mounts():
    """[(fstype, mount point, super options)] of the cgroup file systems."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, rfields = left.split(), right.split()
                if len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
                    out.append((rfields[0], fields[4], rfields[2].split(",")))
    except OSError:
        pass
    return out


def _own():
    """{controller or "": our group's path} from /proc/self/cgroup ("" is v2)."""
    out = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in (ctrls.split(",") if ctrls else [""]):
                    out[c] = path
    except (OSError, ValueError):
        pass
    return out


ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"'


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class _Setup:
    """Where each controller's groups go, found once per process."""

    def __init__(self):
        self.v2 = None           # the v2 base folder (for cgroup.kill and any v2 controller)
        self.ctl = {}            # controller -> (version, base folder)
        self.why = []
        if os.geteuid() != 0:
            self.why.append("not root: no control groups")
            return
        mounts, own = _mounts(), _own()
        v2 = next((m for t, m, _ in mounts if t == "cgroup2"), None)
        if v2:
            base = Path(v2) / BASE
            try:
                base.mkdir(exist_ok=True)
                self.v2 = base
            except OSError as e:
                self.why.append(f"cannot make {base}: {e.strerror}")
        if self.v2:
            have = _read(Path(self.v2).parent / "cgroup.controllers").split()
            for c in CONTROLLERS:
                if c not in have:
                    continue
                try:       # enable it for our base and for the groups below it
                    if c not in _read(self.v2.parent / "cgroup.subtree_control").split():
                        _write(self.v2.parent / "cgroup.subtree_control", "+" + c)
                    if c not in _read(self.v2 / "cgroup.subtree_control").split():
                        _write(self.v2 / "cgroup.subtree_control", "+" + c)
                    self.ctl[c] = ("v2", self.v2)
                except OSError:
                    pass
        for c in CONTROLLERS:
            if c in self.ctl:
                continue
            m = next((m for t, m, opts in mounts if t == "cgroup" and c in opts), None)
            if not m:
                continue
            base = Path(m + own.get(c, "/")) / BASE
            try:
                base.mkdir(exist_ok=True)
                self.ctl[c] = ("v1", base)
            except OSError as e:
                self.why.append(f"cannot make {base}: {e.strerror}")
        for base in {b for _, b in self.ctl.values()} | ({self.v2} if self.v2 else set()):
            _sweep(base)


def _sweep(base):
    """Remove the groups that runs of graders now gone could not remove: a
    member still unreaped at close() (an orphan whose new parent had not reaped
    it yet: a killed grader's sandbox) keeps a group busy past its wait.  Only
    groups whose maker ("run-<pid>-...") is gone; one still in use is not
    empty, and rmdir refuses it."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for n in names:
        maker = n.split("-")[1] if n.startswith("run-") and n.count("-") >= 2 else ""
        if maker.isdigit() and not os.path.exists(f"/proc/{maker}"):
            try:
                os.rmdir(base / n)
            except OSError:
                pass


def setup():
    global _setup
    if _setup is None:
        _setup = _Setup()
    return _setup


def enforced(memory, pids, cpus):
    """What a run gets here, in words."""
    s = setup()
    if not s.ctl and not s.v2:
        return "no control groups (" + "; ".join(s.why or ["none mounted"]) + "): per-process limits only"
    parts = []
    names = {"memory": f"{memory >> 20} MiB of memory in all (no swap)", "pids": f"{pids} processes",
             "cpu": f"{cpus:g} CPU"}
    for c in CONTROLLERS:
        if c in s.ctl:
            parts.append(f"{names[c]} (cgroup {s.ctl[c][0]})")
        else:
            parts.append(f"no {c} limit for the whole run (no {c} controller we can use)")
    if s.v2:
        parts.append("every process killed through its cgroup at the end")
    return "; ".join(parts)


class Group:
    """One run's groups (one per hierarchy in use)."""

    def __init__(self, dirs, v2dir):
        self.dirs = dirs         # {controller: folder}, and "" for the v2 group
        self.v2dir = v2dir

    @classmethod
    def make(cls, name, memory=0, pids=0, cpus=0.0):
        """The groups of one run with these limits, or None where there are none."""
        s = setup()
        if not s.ctl and not s.v2:
            return None
        dirs, made = {}, []
        try:
            for c, (ver, base) in sorted(s.ctl.items()):
                d = base / name
                if d not in made:
                    d.mkdir()
                    made.append(d)
                dirs[c] = d
                if c == "memory" and memory:
                    if ver == "v2":
                        _write(d / "memory.max", str(memory))
                        if (d / "memory.swap.max").exists():
                            _write(d / "memory.swap.max", "0")
                    else:
                        _write(d / "memory.limit_in_bytes", str(memory))
                        if (d / "memory.memsw.limit_in_bytes").exists():
                            _write(d / "memory.memsw.limit_in_bytes", str(memory))
                elif c == "pids" and pids:
                    _write(d / "pids.max", str(pids))
                elif c == "cpu" and cpus:
                    period = 100000
                    if ver == "v2":
                        _write(d / "cpu.max", f"{int(cpus * period)} {period}")
                    else:
                        _write(d / "cpu.cfs_period_us", str(period))
                        _write(d / "cpu.cfs_quota_us", str(int(cpus * period)))
            v2dir = None
            if s.v2:
                v2dir = s.v2 / name
                if v2dir not in made:
                    v2dir.mkdir()
                    made.append(v2dir)
        except OSError:
            for d in reversed(made):
                try:
                    d.rmdir()
                except OSError:
                    pass
            raise
        return cls(dirs, v2dir)

    def _folders(self):
        out = []
        for d in list(self.dirs.values()) + ([self.v2dir] if self.v2dir else []):
            if d not in out:
                out.append(d)
        return out

    def entering(self, cmd):
        """cmd, started inside every group: a shell writes its own pid into
        each group's cgroup.procs, then becomes cmd (exec), so nothing of cmd
        runs outside them.  Not a Popen preexec_fn: with one, Python forks its
        whole self instead of vfork (2-4 ms of CPU per run, more in a bigger
        process).  If a write fails the shell exits 126 before cmd starts."""
        return ["/bin/sh", "-c", ENTER, "enter", *[str(d / "cgroup.procs") for d in self._folders()],
                "--", *map(str, cmd)]

    def pids(self):
        out = set()
        for d in self._folders():
            for p in _read(d / "cgroup.procs").split():
                out.add(int(p))
        return out

    def oom_killed(self):
        d = self.dirs.get("memory")
        if not d:
            return False
        for line in (_read(d / "memory.events") + _read(d / "memory.oom_control")).splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill" and v.strip().isdigit() and int(v) > 0:
                return True
        return False

    def kill(self):
        """SIGKILL everything in the groups; the number of processes found there."""
        found = self.pids()
        if self.v2dir and (self.v2dir / "cgroup.kill").exists():
            try:
                _write(self.v2dir / "cgroup.kill", "1")
            except OSError:
                pass
        end = time.monotonic() + _seconds(2)
        while time.monotonic() < end:
            left = self.pids()
            if not left:
                break
            found |= left
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)        # the kernel takes a moment to empty the group
        return len(found)

    def settle(self, grace):
        """Give processes that are already dying (a PID namespace torn down as
        its init ends) up to `grace` seconds to go; the pids still there."""
        end = time.monotonic() + grace
        left = self.pids()
        while left and time.monotonic() < end:
            time.sleep(0.005)
            left = self.pids()
        return left

    def close(self, grace=0.0):
        """Kill what is left (after `grace` seconds for it to end by itself)
        and remove the groups; the number of processes that had to be killed."""
        n = self.kill() if self.settle(grace) else 0
        for d in self._folders():
            end = time.monotonic() + _seconds(1)
            while time.monotonic() < end:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002)    # EBUSY until the last member is reaped
        return n
