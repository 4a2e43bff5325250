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

At every level the program runs under a small supervisor (this file,
`runner.py inner CONFIG -- ARGV`) that gives it its own session and process
group and, in a sandbox, RLIMIT_CPU/AS/FSIZE/NPROC, no core files and, as root,
an unused uid (SANDBOX_UID).  It kills the program's group at the time limit,
then every process the program left (PID namespace, or the supervisor as child
subreaper), and removes the System V objects, /dev/shm names and /tmp entries
the run left, reporting each.

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

Standard library only.  The supervisor part runs with `python3 -I -S` inside
the sandbox, where this file is all there is of the harness.
"""
import fcntl
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve()
LEVELS = ("bwrap", "unshare", "rlimits")          # the sandboxes, strongest first
DESCRIBE = {
    "bwrap": "bubblewrap: private IPC, PID, network, /dev/shm and /tmp; read-only system; only the work directory writable",
    "unshare": "unshare: private IPC, PID and network namespaces; host files, /dev/shm and /tmp shared",
    "rlimits": "resource limits and process-group kill only: no namespaces, the network and the host's files are NOT isolated",
    "plain": "no isolation (the harness's own runs of the labs)",
}
# As root, student code runs as this otherwise unused uid/gid (Debian reserves
# 65000-65533), so its processes and files are told apart from anyone else's.
SANDBOX_UID = int(os.environ.get("MMAPLABS_SANDBOX_UID", "65533"))
INNER_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
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


# ---- time ---------------------------------------------------------------------

PROBE = "i=0; while [ $i -lt 20 ]; do i=$((i+1)); /bin/true; done; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"
PROBE_SECONDS = 0.03      # what PROBE takes on a quiet 2-CPU Debian 12 VM


def slowness():
    """How many times slower than a quiet 2-CPU machine this one is now (at
    least 1): PROBE (20 process starts and a shell loop) timed three times,
    the median.  Measured once per session: the value goes into the
    environment (MMAPLABS_SLOWNESS), so the processes the harness starts reuse it."""
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
    # everything that appeared during the run (owned by the student's uid
    # where /dev/shm and /tmp are the host's): untrusted code need not use the
    # token, and a sandbox is not shared.
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
    address_space: int = 4 << 30
    file_size: int = 64 << 20
    processes: int = 64                # on top of what the user already runs
    output: int = OUTPUT_LIMIT         # bytes of stdout (and of stderr) kept, at every level


BUILD_LIMITS = Limits(address_space=0, processes=128)


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
    cmd += ["--ro-bind", str(HERE), "/sandbox/runner.py", "--chdir", str(workdir)]
    return cmd, "/sandbox/runner.py"


def _unshare():
    cmd = ["unshare", "--ipc", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        cmd += ["--user", "--map-root-user"]
    return cmd, str(HERE)


def _works(cmd):
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=seconds(20)).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def level():
    """(level, why): the strongest sandbox that works here, tried once."""
    global _level
    if _level:
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
    who = f" Student code runs as uid {SANDBOX_UID}." if os.geteuid() == 0 and lvl != "plain" else ""
    return f"sandbox level: {lvl} ({DESCRIBE[lvl]}).{who}"


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


def run(argv, timeout, *, level, workdir=None, limits=None, ro_binds=(), check_workdir=True):
    """Run argv at `level` ("plain" or one of LEVELS) in workdir (default: a
    fresh directory, removed afterwards) and return a Run.

    The supervisor enforces `timeout`; the caller kills it and everything in
    its process group seconds(10) later if it does not come back itself.
    ro_binds: folders a bwrap sandbox may read (the program's); everything
    else of the host but /usr is absent there."""
    policy = PLAIN if level == "plain" else SANDBOXED
    limits = limits or Limits()
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="mmaplab-run.") if own else workdir)
    drop = level != "plain" and os.geteuid() == 0
    if drop:
        os.chown(workdir, SANDBOX_UID, SANDBOX_UID)
    token = _Token()
    try:
        cfg = {
            "timeout": timeout,
            "rlimits": level != "plain",
            "cpu": limits.cpu_seconds or int(timeout) + 2,
            "as": limits.address_space,
            "fsize": limits.file_size,
            "nproc": 0 if level == "plain" else limits.processes + _uid_processes(SANDBOX_UID if drop else os.getuid()),
            "drop": drop,
            "pidns": level in ("bwrap", "unshare"),
            "ipcns": level in ("bwrap", "unshare"),
            "private_tmp": level == "bwrap",
            "attribute": policy.attribute,
            "token": token.value,
        }
        r, w = os.pipe()
        cfg["fd"] = w
        if level == "bwrap":
            prefix, script = _bwrap(workdir, ro_binds)
        elif level == "unshare":
            prefix, script = _unshare()
        else:
            prefix, script = [], str(HERE)
        cmd = prefix + [INNER_PY, "-I", "-S", script, "inner", json.dumps(cfg), "--", *map(str, argv)]
        if level == "plain":
            env = dict(os.environ)
        else:
            env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LC_ALL": "C"}
        env["MMAPLAB_RUN"] = token.value
        start = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, pass_fds=(w,), start_new_session=True,
                                    preexec_fn=_die_with_caller if level == "unshare" else None)
        except OSError:
            os.close(r)
            raise
        finally:
            os.close(w)
        out, err, limited, killed = _collect(proc, timeout + seconds(10), limits.output, policy.past_cap)
        proc.wait()
        elapsed = time.monotonic() - start
        with os.fdopen(r, "rb") as f:
            raw = f.read()
        notes = []
        try:
            rep = json.loads(raw)
        except ValueError:
            rep = {"returncode": proc.returncode, "timed_out": killed, "leftovers": []}
            notes.append("the supervisor did not report (sandbox killed from outside)"
                         + (f"; sandbox stderr: {err.decode(errors='replace')[-300:]}" if not killed else ""))
        leftovers = list(rep["leftovers"])
        if killpg(proc.pid, policy.eperm):
            where = "the lab's" if level == "plain" else "the sandbox's"
            leftovers.append(f"processes still running in {where} process group (killed)")
    finally:
        token.release()
    if check_workdir:
        files = sorted(os.listdir(workdir))
        if files:
            leftovers.append("files left in the work directory: " + ", ".join(files[:10])
                             + (" ..." if len(files) > 10 else "") + " (removed)")
    if own:
        shutil.rmtree(workdir, ignore_errors=True)
    dec = lambda b: b.decode("utf-8", errors="backslashreplace")
    return Run([str(a) for a in argv], dec(out), dec(err), rep["returncode"], rep["timed_out"] or killed,
               elapsed, leftovers, level, limited, notes)


def _die_with_caller():
    """unshare --kill-child takes its namespace down with it; make it die with us.
    (bwrap has --die-with-parent; at the rlimits and plain levels the supervisor
    outlives a killed caller by at most the time limit, then cleans up as usual.)"""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG


def _collect(proc, deadline, cap, past_cap):
    """Read stdout and stderr, keeping at most cap bytes of each; past the cap
    drain or close (Policy.past_cap).  At the deadline kill the process group.
    Returns (out, err, limited, killed_at_deadline)."""
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    dropped = {proc.stdout: 0, proc.stderr: 0}
    killed = False
    sel = selectors.DefaultSelector()
    for f in bufs:
        sel.register(f, selectors.EVENT_READ)
    end = time.monotonic() + deadline
    while sel.get_map():
        left = end - time.monotonic()
        if left <= 0:
            killpg(proc.pid, "foreign")
            killed = True
            break
        for key, _ in sel.select(timeout=min(left, 1.0)):
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
    out, err = bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr])
    if past_cap == "drain":
        if dropped[proc.stdout]:
            out += b"\n[... %d more bytes of output not kept]\n" % dropped[proc.stdout]
        if dropped[proc.stderr]:
            err += b"\n[... %d more bytes of output not kept]\n" % dropped[proc.stderr]
    return out, err, any(dropped.values()), killed


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


# ---- the supervisor (inside the sandbox) -------------------------------------

def _procs():
    """{pid: (ppid, state)} of the processes visible here."""
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                out[int(p)] = (int(rest[1]), rest[0])
            except (OSError, IndexError):
                pass
    return out


def _strays(pidns):
    """Live processes other than the supervisor (and the namespace's init)."""
    me, procs = os.getpid(), _procs()
    if pidns:
        return [p for p, (_, st) in procs.items() if p not in (1, me) and st != "Z"]
    kids, todo = set(), [me]           # descendants: orphans come to us (subreaper)
    while todo:
        parent = todo.pop()
        for p, (pp, st) in procs.items():
            if pp == parent and p not in kids:
                kids.add(p)
                todo.append(p)
    return [p for p in kids if procs[p][1] != "Z"]


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_strays(pidns):
    seen = set()
    for _ in range(500):
        left = _strays(pidns)
        if not left:
            break
        seen.update(left)
        if pidns:
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass              # one we may not kill stays a stray: it is reported
        _reap()
        time.sleep(0.01)
    while True:                      # nothing is left alive to fork: reap every zombie child
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    return len(seen)


SYSV = {"shm": ("-m", "segment"), "sem": ("-s", "semaphore set"), "msg": ("-q", "message queue")}


def _sysv():
    """{(kind, id): {column: value}} from /proc/sysvipc/{shm,sem,msg}."""
    out = {}
    for kind in SYSV:
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                names = next(f).split()
                for line in f:
                    row = dict(zip(names, line.split()))
                    out[(kind, int(line.split()[1]))] = row
        except (OSError, StopIteration, ValueError):
            pass
    return out


def _sysv_ours(kind, row, key_k):
    """At attribute "token": keyed with the run's K, or (a segment) private,
    unattached and made by a process that is gone."""
    key = int(row["key"]) & 0xFFFFFFFF
    if key:
        return (key >> 16) & 0x7FFF == key_k
    return (kind == "shm" and int(row.get("nattch", 1)) == 0
            and not os.path.exists(f"/proc/{row.get('cpid', '1')}"))


def _entries(d, uid=None, prefix=None):
    try:
        names = os.listdir(d)
    except OSError:
        return set()
    out = set()
    for n in names:
        if prefix is not None and not n.startswith(prefix):
            continue
        if uid is not None:
            try:
                if os.lstat(os.path.join(d, n)).st_uid != uid:
                    continue
            except OSError:
                continue
        out.add(n)
    return out


def _remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def inner(cfg, argv):
    import ctypes
    import resource
    report = os.fdopen(cfg["fd"], "w")
    os.set_inheritable(cfg["fd"], False)
    student_uid = SANDBOX_UID if cfg["drop"] else os.getuid()
    by_token = cfg["attribute"] == "token"
    key_k = run_token_key(cfg["token"])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)               # PR_SET_DUMPABLE 0: the student cannot ptrace us
    if not cfg["pidns"]:
        libc.prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
    # What was there before (at "token", only to keep the IPC_PRIVATE rule to this run).
    sysv_before = set() if cfg["ipcns"] else set(_sysv())
    if by_token:       # names with the run's token; the host's /dev/shm and /tmp are shared
        shm_uid, tmp_uid, prefix = None, None, f"mmaplab-{cfg['token']}-"
        shm_before = tmp_before = set()
    else:              # everything new (owned by the student, where the host's are shared)
        shm_uid = None if cfg["private_tmp"] else student_uid
        tmp_uid, prefix = student_uid, None
        shm_before = set() if cfg["private_tmp"] else _entries("/dev/shm")
        tmp_before = set() if cfg["private_tmp"] else _entries("/tmp")

    def limit():
        os.umask(0o022)
        for res, value in ((resource.RLIMIT_CPU, (cfg["cpu"], cfg["cpu"] + 1)),
                           (resource.RLIMIT_AS, (cfg["as"], cfg["as"])),
                           (resource.RLIMIT_FSIZE, (cfg["fsize"], cfg["fsize"])),
                           (resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"])),
                           (resource.RLIMIT_CORE, (0, 0))):
            if value[0] or res == resource.RLIMIT_CORE:
                resource.setrlimit(res, value)
        if cfg["drop"]:
            os.setgroups([])
            os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)

    timed_out = False
    try:
        p = subprocess.Popen(argv, preexec_fn=limit if cfg["rlimits"] else None,
                             start_new_session=True, stdin=subprocess.DEVNULL)
    except OSError as e:
        sys.stderr.write(f"sandbox: cannot run {argv[0]}: {e}\n")
        json.dump({"returncode": 127, "timed_out": False, "leftovers": []}, report)
        return 127
    try:
        rc = p.wait(timeout=cfg["timeout"])
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = p.wait()
    leftovers = []
    n = _kill_strays(cfg["pidns"])
    if n and not timed_out:
        leftovers.append(f"{n} process(es) still running after the program ended (killed)")
    now = _sysv()
    for (kind, ident) in sorted(set(now) - sysv_before):
        if by_token and not _sysv_ours(kind, now[(kind, ident)], key_k):
            continue
        flag, what = SYSV[kind]
        leftovers.append(f"System V {what} {ident} left behind (removed; the lab forgot IPC_RMID)")
        subprocess.run(["ipcrm", flag, str(ident)], stderr=subprocess.DEVNULL)
    for name in sorted(_entries("/dev/shm", shm_uid, prefix) - shm_before):
        leftovers.append(f"/dev/shm/{name} left behind (removed; the lab forgot shm_unlink)")
        _remove("/dev/shm/" + name)
    if not cfg["private_tmp"]:
        for name in sorted(_entries("/tmp", tmp_uid, prefix) - tmp_before):
            leftovers.append(f"/tmp/{name} written outside the work directory (removed)")
            _remove("/tmp/" + name)
    json.dump({"returncode": rc, "timed_out": timed_out, "leftovers": leftovers}, report)
    report.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "inner" and sys.argv[3] == "--":
        sys.exit(inner(json.loads(sys.argv[2]), sys.argv[4:]))
    lvl, why = level()
    print(describe(lvl) + (f" [{why}]" if why else ""))
