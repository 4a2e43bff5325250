#!/usr/bin/env python3
"""runner: the one way the harness runs a program.

    r = runner.run([prog, *args], runner.seconds(60), level="plain")
    r.stdout, r.stderr, r.returncode, r.timed_out, r.output_limited, r.leftovers

Every run has a time limit, keeps at most Limits.output bytes of stdout and of
stderr, kills everything it started, and reports (and removes) what it left
behind: processes, System V objects, /dev/shm names, files.  `make test` and
the grader go through the same code; only the level differs.

Levels, weakest first (`python3 harness/runner.py` names the sandbox you get):

  plain    no isolation, the caller's environment: the harness's own runs of
           the labs (make test, make expected, make memcheck).  Trusted code.
  rlimits  no namespaces: resource limits, an unprivileged uid (as root) and
           the process-group kill only.
  unshare  util-linux unshare: private IPC, PID and network namespaces, but the
           host's files, /dev/shm and /tmp are visible.
  bwrap    Debian's bubblewrap: private IPC, PID, network, UTS and mount
           namespaces; a read-only /usr and nothing else of the host; private
           /dev/shm and /tmp (small tmpfs); only the work directory (and, for a
           build, the build tree) writable; dies with the grader.
The grader uses the strongest sandbox that works here (level());
MMAPLABS_SANDBOX=bwrap|unshare|rlimits forces one (for tests).

At every level the program runs under a small supervisor (supervisor.c,
`supervisor KEY=VALUE... -- ARGV`, built by supervisor()) that gives it its own session and process
group and, in a sandbox, RLIMIT_CPU/AS/FSIZE/NPROC, no core files and, as root,
a uid of its own (lease(): one of UIDS, flocked while in use, so no limit of
one sandbox counts another's processes; as an ordinary user each bwrap or
unshare sandbox is a user namespace of its own, where RLIMIT_NPROC counts
only that namespace's processes).  It kills the program's group at the time
limit, then every process the program left (PID namespace, or the supervisor
as child subreaper), and removes the System V objects, /dev/shm names and
/tmp entries the run left, reporting each.  As root a sandboxed run is also
in control groups of its own (harness/cgroups.py: a total memory, process and
CPU limit, and a kill that nothing escapes).

A failure of the grader's side (the sandbox cannot start, the program cannot
be started for lack of resources: EAGAIN, ENOMEM) is Run.grader_error, never
a result of the program.  Any exception in run() (a signal handler raising
in the caller: Ctrl-C, SIGTERM) kills everything the run started first.

Trusted and untrusted runs differ on purpose in three ways, each a field of
Policy (PLAIN for the plain level, SANDBOXED for the others).

The run token (labs/common/names.h describes it): MMAPLAB_RUN is "r" and
exactly 4 lower-case hex digits K, 1 <= K <= 0x7fff.  The labs put
"mmaplab-<token>-" in their /dev/shm and file names and make System V keys
with (key >> 16) & 0x7fff == K, so a plain run can tell its own leftovers from
those of runs beside it.  new_run_token()/run_token_key() are the only Python
that writes or reads it; no two runs on the machine hold the same K at once.

Time: every duration the harness waits for is seconds(d), d being what it
takes on a quiet 2-CPU machine, scaled by slowness(), measured once per session.

Standard library only (and cc, once, for the supervisor; labs.py for where it goes).  The supervisor is
all there is of the harness inside the sandbox.
"""
import fcntl
import hashlib
import json
import math
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve()
SUPERVISOR_SOURCE = HERE.parent / "supervisor.c"   # what runs inside every run (its header comment)
LEVELS = ("bwrap", "unshare", "rlimits")          # the sandboxes, strongest first
DESCRIBE = {
    "bwrap": "bubblewrap: private IPC, PID, network, /dev/shm and /tmp; read-only system; only the work directory writable",
    "unshare": "unshare: private IPC, PID and network namespaces; host files, /dev/shm and /tmp shared",
    "rlimits": "resource limits and process-group kill only: no namespaces, the network and the host's files are NOT isolated",
    "plain": "no isolation (the harness's own runs of the labs)",
}
# As root, student code runs as one of these otherwise unused uids/gids (Debian
# leaves 65000-65533 to local use), one per sandbox running at the same time
# (lease()), so its processes and files are told apart from anyone else's and
# RLIMIT_NPROC counts only its own processes.
UIDS = range(65100, 65200)
SANDBOX_UID = UIDS[0]             # an unprivileged uid (the tests use it); runs take a lease()
UID_LOCKS = Path("/run/mmaplab-uids")     # root's: one flock per uid in use
SHM_TMPFS_BYTES = 64 << 20
OUTPUT_LIMIT = 1 << 20


# ---- the run token ----------------------------------------------------------

TOKEN_RE = re.compile(r"^r([0-9a-f]{4})$")
TOKEN_LOCKS = Path("/dev/shm/.mmaplab-run-tokens")   # one flock per token in use on this machine


def new_run_token():
    """A fresh token: "r" + 4 lower-case hex digits K, 1 <= K <= 0x7fff."""
    return "r%04x" % (secrets.randbelow(0x7FFF) + 1)


def run_token_key(token):
    """K of a token, the bits 16..30 of the run's System V keys; ValueError if it is none."""
    m = TOKEN_RE.match(token or "")
    k = int(m.group(1), 16) if m else 0
    if not 1 <= k <= 0x7FFF:
        raise ValueError(f"{token!r} is not a run token (r + 4 hex digits, 0001..7fff)")
    return k


class _Token:
    """A token no other run on this machine holds while this one runs: its lock
    file is flocked until release().  Two plain runs with the same K would take
    each other's leftovers for their own."""

    def __init__(self):
        self.fd = None
        try:
            TOKEN_LOCKS.mkdir(mode=0o1777, exist_ok=True)
            os.chmod(TOKEN_LOCKS, 0o1777)
        except OSError:
            pass
        for _ in range(64):
            self.value = new_run_token()
            try:
                fd = os.open(TOKEN_LOCKS / self.value, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except PermissionError:
                continue                   # another user's token
            except OSError:
                return                     # no lock directory: a random token, unguarded
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino == os.stat(TOKEN_LOCKS / self.value).st_ino:
                    self.fd = fd           # ... and still the file of that name (see release)
                    return
            except OSError:
                pass
            os.close(fd)

    def release(self):
        if self.fd is not None:
            try:
                os.unlink(TOKEN_LOCKS / self.value)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


class GraderError(Exception):
    """The grader's side failed (sandbox setup, resources): not the program's doing."""


class Lease:
    """A sandbox uid held by this process (lease()), or none (uid None: not root)."""

    def __init__(self, uid=None, fd=None):
        self.uid, self.fd = uid, fd

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _lock_dir():
    """UID_LOCKS, made if needed; it must be root's and writable by root only
    (a student could otherwise hold every uid's lock)."""
    for d in (UID_LOCKS, Path(tempfile.gettempdir()) / "mmaplab-uids-root"):
        try:
            d.mkdir(mode=0o755, exist_ok=True)
            st = os.lstat(d)
            if st.st_uid == 0 and not st.st_mode & 0o022 and os.path.isdir(d) and not os.path.islink(d):
                return d
        except OSError:
            continue
    raise GraderError(f"no root-owned folder for the sandbox uid locks ({UID_LOCKS})")


def lease():
    """A sandbox uid for this process's runs (as root; otherwise Lease(None)):
    one of UIDS that no other sandbox holds (flock) and that runs nothing."""
    if os.geteuid() != 0:
        return Lease()
    d = _lock_dir()
    for uid in UIDS:
        fd = os.open(d / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _uid_processes(uid):       # something of a crashed grader still runs as it: not this one
            os.close(fd)
            continue
        return Lease(uid, fd)
    raise GraderError(f"every sandbox uid ({UIDS.start}-{UIDS.stop - 1}) is in use")


# ---- time ---------------------------------------------------------------------

PROBE = "i=0; while [ $i -lt 20 ]; do i=$((i+1)); /bin/true; done; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"
PROBE_SECONDS = 0.03      # what PROBE takes on a quiet 2-CPU Debian 12 VM


def slowness():
    """How many times slower than a quiet 2-CPU machine this one is now (at
    least 1): PROBE (20 process starts and a shell loop) timed three times,
    the median.  Measured once per session: the value goes into the
    environment (MMAPLABS_SLOWNESS), so the processes the harness starts reuse it
    (the supervisor, whose environment is the sandbox's, gets it in its settings)."""
    try:
        return max(1.0, float(os.environ["MMAPLABS_SLOWNESS"]))
    except (KeyError, ValueError):
        pass
    times = []
    for _ in range(3):
        t = time.monotonic()
        subprocess.run(["sh", "-c", PROBE], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - t)
    s = max(1.0, sorted(times)[1] / PROBE_SECONDS)
    os.environ["MMAPLABS_SLOWNESS"] = f"{s:.2f}"
    return s


def seconds(quiet_machine_seconds):
    """A duration chosen on a quiet 2-CPU machine, for this machine now."""
    return quiet_machine_seconds * slowness()


# ---- what a run is ----------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    # Past the output cap.  "drain": keep reading, count what is dropped, so a
    # trusted lab that prints too much still runs to its end and its exit
    # status is its own.  "close": close the pipe, so an untrusted flood dies
    # of SIGPIPE (or at its time limit) instead of keeping the grader reading.
    past_cap: str
    # Which leftovers are the run's.  "token": only names and keys that carry
    # its run token (and unattached IPC_PRIVATE segments whose creator is
    # gone): other runs, tests and users go on beside a plain run.  "new":
    # everything that appeared during the run (where System V objects,
    # /dev/shm and /tmp are the host's: only what the student's uid made or
    # owns and, when that uid is not the sandbox's own, what no other live
    # run's token marks): untrusted code need not use the token, and a
    # sandbox is not shared.
    attribute: str
    # A process group that exists but may not be signalled (EPERM).  "alive":
    # a leftover still running (at the plain level only the run's own
    # processes can be in its group: one that changed identity, a set-uid
    # program, is still the run's).  "foreign": nothing of the run's (the
    # grader may signal everything a sandbox started, so the group id was
    # reused by another user's processes).
    eperm: str


PLAIN = Policy(past_cap="drain", attribute="token", eperm="alive")
SANDBOXED = Policy(past_cap="close", attribute="new", eperm="foreign")


@dataclass
class Limits:
    cpu_seconds: int = 0               # 0: derived from the timeout
    address_space: int = 4 << 30       # per process (RLIMIT_AS)
    file_size: int = 64 << 20
    processes: int = 64                # the program's own (RLIMIT_NPROC, in its uid or user namespace)
    output: int = OUTPUT_LIMIT         # bytes of stdout (and of stderr) kept, at every level
    memory: int = 1 << 30              # the whole run, as root with control groups (cgroups.py)
    cpus: float = 1.0                  # the whole run, as root with control groups


# A compiler reading `#include "/dev/zero"` stops at RLIMIT_AS (and at the run's memory).
BUILD_LIMITS = Limits(address_space=1 << 30, processes=128)
SUPERVISION = 16                       # processes of the sandbox itself (unshare, strace, bwrap, the supervisor)


@dataclass
class Run:
    argv: list
    stdout: str
    stderr: str
    returncode: int              # negative: killed by that signal
    timed_out: bool
    seconds: float
    leftovers: list              # what the run left behind, already removed
    level: str
    output_limited: bool = False
    notes: list = field(default_factory=list)
    grader_error: str = None     # the grader's side failed: not the program's result
    side: bytes = b""            # what was read from run(side=fd) (a trace), at most Limits.output bytes
    side_limited: bool = False
    memory_killed: bool = False  # the run's memory limit killed a process
    program_seconds: float = None  # the program's own time, start to exit, as the supervisor saw it

    @property
    def signal_name(self):
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


# ---- choosing a sandbox -------------------------------------------------------

_level = None


def _host_dirs():
    """bwrap arguments giving the sandbox /usr and the /bin, /lib... links."""
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    args += ["--perms", "0755", "--dir", "/etc"]        # bwrap would make it 0700
    for f in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    return args


def _bwrap(workdir, ro_binds):
    ns = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        ns.append("--unshare-user")   # as root a user namespace would hide SANDBOX_UID
    cmd = ["bwrap", *ns, "--die-with-parent", "--new-session", *_host_dirs(),
           # as root bwrap drops every capability; the supervisor needs these to
           # drop to SANDBOX_UID and to kill and clean up after it
           *(["--cap-add", "CAP_SETUID,CAP_SETGID,CAP_KILL,CAP_FOWNER,CAP_IPC_OWNER"] if os.geteuid() == 0 else []),
           "--proc", "/proc", "--dev", "/dev",
           "--perms", "1777", "--size", str(SHM_TMPFS_BYTES), "--tmpfs", "/dev/shm",
           "--perms", "1777", "--size", str(SHM_TMPFS_BYTES), "--tmpfs", "/tmp"]
    made = {"/", "/tmp", "/usr", "/dev", "/proc"}
    for path, how in [(str(d), "--ro-bind") for d in ro_binds] + [(str(workdir), "--bind")]:
        for parent in reversed(Path(path).parents):    # bwrap would make them 0700
            if str(parent) not in made:
                made.add(str(parent))
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += [how, path, path]
    cmd += ["--ro-bind", str(supervisor()), "/sandbox/supervisor", "--chdir", str(workdir)]
    return cmd, "/sandbox/supervisor"


def _unshare():
    cmd = ["unshare", "--ipc", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        # Ourselves inside, not root: after its exec the supervisor (and the
        # program) have no capability, so the program cannot ptrace the
        # non-dumpable supervisor or open its report pipe through /proc.
        cmd += ["--user", "--map-current-user"]
    return cmd, str(supervisor())


_supervisor = None


def supervisor():
    """The supervisor's program: supervisor.c built with cc into the build
    folder ($BUILD/harness/supervisor-<hash of the source>), once for each
    version of the source (a new name: no run ever sees a half-written one)."""
    global _supervisor
    if _supervisor is None:
        source = SUPERVISOR_SOURCE.read_bytes()
        import labs        # the build folder's one rule ($BUILD, relative to the tree)
        out = labs.build_dir() / "harness" / f"supervisor-{hashlib.sha256(source).hexdigest()[:16]}"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f"{out.name}.tmp{os.getpid()}.{secrets.token_hex(4)}")
            try:
                r = subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(tmp),
                                    str(SUPERVISOR_SOURCE)], stdin=subprocess.DEVNULL, capture_output=True, text=True)
            except OSError as e:
                raise GraderError(f"cannot build the sandbox's supervisor: cc: {e}") from None
            if r.returncode:
                tmp.unlink(missing_ok=True)
                raise GraderError(f"cannot build the sandbox's supervisor ({SUPERVISOR_SOURCE}): "
                                  + (r.stderr.strip()[-500:] or f"cc exit {r.returncode}"))
            os.chmod(tmp, 0o755)
            os.replace(tmp, out)
        _supervisor = out
    return _supervisor


def _settings(cfg):
    """runner.run's settings as the supervisor's KEY=VALUE arguments (a list:
    the key once per item; None: left out)."""
    out = []
    for k, v in cfg.items():
        for item in (v if isinstance(v, list) else [] if v is None else [v]):
            out.append(f"{k}={int(item) if isinstance(item, bool) else item}")
    return out


def _works(cmd):
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=seconds(20)).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


PROBED_ENV = "MMAPLABS_SANDBOX_PROBED"


def remember_level():
    """Put level() into the environment, so the graders this process starts reuse it."""
    lvl, why = level()
    os.environ[PROBED_ENV] = f"{lvl}|{why}"


def level():
    """(level, why): the strongest sandbox that works here, tried once."""
    global _level
    if _level:
        return _level
    probed = os.environ.get(PROBED_ENV, "")
    if probed.partition("|")[0] in LEVELS:       # a parent grader found it: no second probe
        _level = tuple(probed.split("|", 1)) if "|" in probed else (probed, "")
        return _level
    forced = os.environ.get("MMAPLABS_SANDBOX", "")
    if forced:
        if forced not in LEVELS:
            raise SystemExit(f"MMAPLABS_SANDBOX={forced}: use one of {', '.join(LEVELS)}")
        _level = (forced, "forced by MMAPLABS_SANDBOX")
        return _level
    why = []
    with tempfile.TemporaryDirectory(prefix="mmaplab-probe.") as d:
        if not shutil.which("bwrap"):
            why.append("bwrap is not installed (apt-get install bubblewrap)")
        elif _works(_bwrap(d, [])[0] + ["/bin/true"]):
            _level = ("bwrap", "bwrap works")
            return _level
        else:
            why.append("bwrap is installed but cannot create its namespaces here")
    if shutil.which("unshare") and _works(_unshare()[0] + ["true"]):
        _level = ("unshare", "; ".join(why))
    else:
        why.append("unshare cannot create namespaces here")
        _level = ("rlimits", "; ".join(why))
    return _level


def describe(lvl=None):
    lvl = lvl or level()[0]
    who = ""
    if lvl != "plain":
        if os.geteuid() == 0:
            who = (f" Student code runs as a uid of its own ({UIDS.start}-{UIDS.stop - 1}, one per sandbox)."
                   " The run as a whole: " + _cgroups().enforced(Limits().memory, Limits().processes + SUPERVISION,
                                                                  Limits().cpus) + ".")
        elif lvl in ("bwrap", "unshare"):
            who = " Each sandbox is a user namespace of its own (its process limit counts only its processes)."
        else:
            who = (" Student code runs as the grader's uid: its process limit counts every process of that uid"
                   " on the machine, and no total memory limit is enforced (per-process limits only).")
    return f"sandbox level: {lvl} ({DESCRIBE[lvl]}).{who}"


def _cgroups():
    import cgroups          # the caller's side only: the supervisor has just this file
    return cgroups


# ---- running (the caller's side) ----------------------------------------------

def _uid_processes(uid):
    n = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat("/proc/" + p).st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


FAULTS_ENV = "MMAPLABS_TEST_GRADER_ERRORS"


def _injected_fault(argv):
    """For the grader's own tests: MMAPLABS_TEST_GRADER_ERRORS names a file
    of lines "N WORDS": the next N sandboxed runs whose command holds WORDS
    fail as the grader's side would (N = -1: every one)."""
    path = os.environ[FAULTS_ENV]
    command = " ".join(map(str, argv))
    try:
        with open(path, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            rules = [line.partition(" ") for line in f.read().splitlines() if line.strip()]
            hit = next((i for i, (n, _, words) in enumerate(rules) if int(n) != 0 and words in command), None)
            if hit is None:
                return None
            n, _, words = rules[hit]
            if int(n) > 0:
                rules[hit] = (str(int(n) - 1), " ", words)
                f.seek(0)
                f.truncate()
                f.write("".join(f"{a} {c}\n" for a, _, c in rules))
    except (OSError, ValueError):
        return None
    return "injected by the test (MMAPLABS_TEST_GRADER_ERRORS)"


def shared_uid_lock_path():
    """The lock that makes graders of one ordinary user take turns at the
    levels where all their sandboxes share the user's uid, /dev/shm and /tmp
    (unshare, rlimits): a sandbox's sweep of what appeared in /tmp during its
    run would otherwise take another grader's folders for the program's."""
    return Path(tempfile.gettempdir()) / f".mmaplab-grader-{os.getuid()}.lock"


@contextmanager
def shared_uid_turn(lvl):
    """Hold shared_uid_lock_path() (as an ordinary user at unshare or rlimits)."""
    if os.geteuid() == 0 or lvl not in ("unshare", "rlimits"):
        yield
        return
    fd = os.open(shared_uid_lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _keep(paths):
    """Every folder on the way to these paths: the supervisor never sweeps them
    (with TMPDIR on /dev/shm the run's own folders are there), nor the graders'
    turn lock."""
    out = {str(shared_uid_lock_path())}
    for p in paths:
        p = Path(p)
        out.update(str(x) for x in [p, *p.parents])
    return sorted(out)


def run(argv, timeout, *, level, workdir=None, workdir_in=None, limits=None, ro_binds=(), check_workdir=True,
        uid=None, wrap=None, side=None, side_cap=None, cpus=None):
    """Run argv at `level` ("plain" or one of LEVELS) in workdir (default: a
    fresh directory in workdir_in, or TMPDIR, removed afterwards) and return a Run.

    The supervisor enforces `timeout`; the caller kills it and everything in
    its process group seconds(10) later if it does not come back itself.
    ro_binds: folders a bwrap sandbox may read (the program's); everything
    else of the host but /usr is absent there.
    uid: the sandbox uid (a lease() the caller holds; as root, default: a
    lease for this run).  wrap: a function given the whole sandbox command
    (a list) that returns the command to start instead (strace around it).
    side: a non-blocking file descriptor to read while the run goes on (a
    trace's FIFO), kept in Run.side up to side_cap bytes (default
    limits.output), the rest read and dropped; the caller owns it.
    cpus: the CPUs the program may run on (a set; default: any)."""
    policy = PLAIN if level == "plain" else SANDBOXED
    limits = limits or Limits()
    sandboxed = level != "plain"
    if sandboxed and os.environ.get(FAULTS_ENV):
        fault = _injected_fault(argv)
        if fault:
            return Run([str(a) for a in argv], "", "", 127, False, 0.0, [], level, grader_error=fault)
    drop = sandboxed and os.geteuid() == 0
    own_lease = Lease()
    if drop and uid is None:
        own_lease = lease()
        uid = own_lease.uid
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="mmaplab-run.", dir=workdir_in) if own else workdir)
    if drop:
        os.chown(workdir, uid, uid)
    token = _Token()
    box = None
    proc = None
    try:
        userns = sandboxed and not drop and level in ("bwrap", "unshare")
        if not sandboxed:
            nproc = 0
        elif userns:                       # RLIMIT_NPROC counts this user namespace's processes only
            nproc = limits.processes + SUPERVISION
        else:
            nproc = limits.processes + _uid_processes(uid if drop else os.getuid())
        nonce = secrets.token_hex(8)
        cfg = {
            "timeout": timeout,
            "rlimits": sandboxed,
            # RLIMIT_CPU backs the wall-clock limit up: one thread cannot use
            # more CPU than the time it ran, so it leaves the supervisor
            # seconds(2) (scaled like every wait) to notice the limit and kill.
            "cpu": limits.cpu_seconds or math.ceil(timeout + seconds(2)),
            "slowness": slowness(),
            "as": limits.address_space,
            "fsize": limits.file_size,
            "nproc": nproc,
            "drop": drop,
            "uid": uid if drop else None,
            "pidns": level in ("bwrap", "unshare"),
            "ipcns": level in ("bwrap", "unshare"),
            "private_tmp": level == "bwrap",
            "attribute": policy.attribute,
            "token": token.value,
            "key_k": run_token_key(token.value),
            "token_locks": str(TOKEN_LOCKS),
            "uid_lo": UIDS.start,
            "uid_hi": UIDS.stop,
            "keep": _keep([workdir, *ro_binds]),
            "cpu_on": sorted(cpus) if cpus else None,
        }
        if drop:
            try:
                box = _cgroups().Group.make(f"run-{os.getpid()}-{token.value}-{nonce[:6]}", memory=limits.memory,
                                            pids=limits.processes + SUPERVISION, cpus=limits.cpus)
            except OSError as e:
                raise GraderError(f"cannot make the run's control group: {e}") from None
        r, w = os.pipe()
        cfg["fd"] = w
        if level == "bwrap":
            prefix, script = _bwrap(workdir, ro_binds)
        elif level == "unshare":
            prefix, script = _unshare()
        else:
            prefix, script = [], str(supervisor())
        cmd = prefix + [script, *_settings(cfg), "--", *map(str, argv)]
        if wrap:
            cmd = wrap(cmd)
        if level == "plain":
            env = dict(os.environ)
        else:
            env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LC_ALL": "C"}
        env["MMAPLABS_SLOWNESS"] = f"{slowness():.2f}"   # the labs' own limits scale by it (limit_ms)
        env["MMAPLAB_RUN"] = token.value
        env["MMAPLAB_REPORT_NONCE"] = nonce     # the supervisor takes it out before the program starts
        start = time.monotonic()
        try:
            proc = subprocess.Popen(box.entering(cmd) if box else cmd, cwd=workdir, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=(w,), start_new_session=True,
                                    preexec_fn=_die_with_caller if level == "unshare" else None)
        except OSError as e:
            os.close(r)
            raise GraderError(f"cannot start the sandbox ({cmd[0]}): {e}") from None
        finally:
            os.close(w)
        try:
            out, err, limited, killed, side_data, side_limited = _collect(
                proc, timeout + seconds(10), limits.output, policy.past_cap, side, side_cap or limits.output)
            proc.wait()
        except BaseException:              # Ctrl-C, SIGTERM (a handler raising), anything: kill it all
            _kill_everything(proc, box, uid if drop else None)
            os.close(r)
            raise
        elapsed = time.monotonic() - start
        with os.fdopen(r, "rb") as f:
            raw = f.read()
        notes = []
        rep = None
        for line in raw.decode(errors="replace").splitlines():   # the last line carrying our nonce
            try:
                cand = json.loads(line)
            except ValueError:
                continue
            if isinstance(cand, dict) and cand.get("nonce") == nonce:
                rep = cand
        grader_error = None
        if rep is None:
            rep = {"returncode": proc.returncode, "timed_out": killed, "leftovers": []}
            if killed:
                notes.append("the supervisor did not report (sandbox killed from outside)")
            else:
                grader_error = ("the sandbox did not start or its supervisor died (exit %s): %s"
                                % (proc.returncode, err.decode(errors="replace").strip()[-300:] or "no message"))
        grader_error = rep.get("grader_error") or grader_error
        leftovers = list(rep["leftovers"])
        if killpg(proc.pid, policy.eperm):
            where = "the lab's" if level == "plain" else "the sandbox's"
            leftovers.append(f"processes still running in {where} process group (killed)")
        memory_killed = bool(box and box.oom_killed())
        stray = (box.close(grace=seconds(0.2)) if box else 0) + (_kill_uid(uid, grace=seconds(0.2)) if drop else 0)
        box = None
        if stray:
            leftovers.append(f"{stray} process(es) still running after the sandbox ended (killed)")
    finally:
        if box:
            box.close()
        token.release()
        own_lease.release()
    if check_workdir:
        files = sorted(os.listdir(workdir))
        if files:
            leftovers.append("files left in the work directory: " + ", ".join(files[:10])
                             + (" ..." if len(files) > 10 else "") + " (removed)")
    if own:
        shutil.rmtree(workdir, ignore_errors=True)
    dec = lambda b: b.decode("utf-8", errors="backslashreplace")
    res = Run([str(a) for a in argv], dec(out), dec(err), rep["returncode"], rep["timed_out"] or killed,
              elapsed, leftovers, level, limited, notes, grader_error, side_data, side_limited, memory_killed)
    res.program_seconds = rep.get("seconds")
    if memory_killed:
        res.notes.append(f"a process was killed at the run's memory limit ({limits.memory >> 20} MiB in all)")
    return res


def _uid_pids(uid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat("/proc/" + p).st_uid == uid:
                    out.append(int(p))
            except OSError:
                pass
    return out


def _kill_uid(uid, grace=0.0):
    """SIGKILL every process of a sandbox uid until none is left (after
    `grace` seconds for those already dying to go); how many had to be killed."""
    if uid is None:
        return 0
    end = time.monotonic() + grace
    while _uid_pids(uid) and time.monotonic() < end:
        time.sleep(0.005)
    seen = set()
    end = time.monotonic() + seconds(1)     # SIGKILLed processes go within milliseconds
    while time.monotonic() < end:
        left = _uid_pids(uid)
        if not left:
            break
        seen.update(left)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)
    return len(seen)


def _kill_everything(proc, box, uid):
    """A run given up (the caller was interrupted): kill all of it, now.
    SIGTERM first: the supervisor then kills its program and what it left
    (the only way at the rlimits level as an ordinary user, where the program
    has a session of its own and the grader's uid); then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=seconds(0.3))
    except (OSError, subprocess.TimeoutExpired):
        pass
    if box:
        box.kill()
    killpg(proc.pid, "foreign")
    _kill_uid(uid)
    try:
        proc.wait(timeout=seconds(2))
    except subprocess.TimeoutExpired:
        pass
    for f in (proc.stdout, proc.stderr):
        if f and not f.closed:
            f.close()


def _die_with_caller():
    """unshare --kill-child takes its namespace down with it; make it die with us.
    (bwrap has --die-with-parent; at the rlimits and plain levels the supervisor
    outlives a killed caller by at most the time limit, then cleans up as usual.)"""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG


def _collect(proc, deadline, cap, past_cap, side=None, side_cap=0):
    """Read stdout and stderr, keeping at most cap bytes of each; past the cap
    drain or close (Policy.past_cap).  Also read `side` (a non-blocking fd the
    caller owns) up to side_cap bytes, draining the rest.  At the deadline kill
    the process group.  Returns (out, err, limited, killed_at_deadline, side, side_limited)."""
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    dropped = {proc.stdout: 0, proc.stderr: 0}
    side_buf, side_dropped = bytearray(), 0
    killed = False
    sel = selectors.DefaultSelector()
    for f in bufs:
        sel.register(f, selectors.EVENT_READ)
    if side is not None:
        sel.register(side, selectors.EVENT_READ)

    def read_side():
        nonlocal side_dropped
        while True:
            try:
                chunk = os.read(side, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            room = max(0, side_cap - len(side_buf))
            side_buf.extend(chunk[:room])
            side_dropped += len(chunk) - min(room, len(chunk))

    end = time.monotonic() + deadline
    while len(sel.get_map()) > (side is not None):
        left = end - time.monotonic()
        if left <= 0:
            killpg(proc.pid, "foreign")
            killed = True
            break
        for key, _ in sel.select(timeout=min(left, 1.0)):
            if key.fileobj is side:
                read_side()
                continue
            f = key.fileobj
            chunk = os.read(f.fileno(), 65536)
            buf = bufs[f]
            room = max(0, cap - len(buf))
            buf += chunk[:room]
            dropped[f] += max(0, len(chunk) - room)
            if not chunk or (dropped[f] and past_cap == "close"):
                sel.unregister(f)
                f.close()
    for f in bufs:
        if not f.closed:
            f.close()
    sel.close()
    if killed:
        try:
            proc.wait(timeout=seconds(10))
        except subprocess.TimeoutExpired:
            pass
    if side is not None:
        try:
            proc.wait(timeout=seconds(10))     # the tracer writes its last lines as it ends
        except subprocess.TimeoutExpired:
            pass
        read_side()
    out, err = bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr])
    if past_cap == "drain":
        if dropped[proc.stdout]:
            out += b"\n[... %d more bytes of output not kept]\n" % dropped[proc.stdout]
        if dropped[proc.stderr]:
            err += b"\n[... %d more bytes of output not kept]\n" % dropped[proc.stderr]
    return out, err, any(dropped.values()), killed, bytes(side_buf), side_dropped > 0


def killpg(pgid, eperm):
    """SIGKILL a process group; True if anything of the run's was in it.
    eperm ("alive" or "foreign", Policy.eperm) says what a group we may not
    signal is."""
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return eperm == "alive"


if __name__ == "__main__":
    lvl, why = level()
    print(describe(lvl) + (f" [{why}]" if why else ""))
