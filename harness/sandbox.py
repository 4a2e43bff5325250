#!/usr/bin/env python3
"""sandbox: run untrusted student code so that it cannot escape or leave a mess.

Three levels, the strongest that works on this machine is used (and named in
every report):

  bwrap    Debian's bubblewrap: private IPC, PID, network, UTS and mount
           namespaces; a read-only /usr and nothing else of the host; private
           /dev/shm and /tmp (small tmpfs); only the work directory (and, for a
           build, the build tree) writable; dies with the grader.
  unshare  util-linux unshare: private IPC, PID and network namespaces, but the
           host's files, /dev/shm and /tmp are visible.
  rlimits  no namespaces: only what follows.

At every level the student program runs under a small supervisor (this file,
`sandbox.py inner ...`) that gives it its own session and process group,
RLIMIT_CPU/AS/FSIZE/NPROC and no core files, drops root to an unused uid (65533), kills
it at the time limit, then kills every process it left behind (PID namespace,
or the supervisor as child subreaper), and removes the System V objects,
/dev/shm names and /tmp entries it left, reporting each as a hygiene failure.
MMAPLABS_SANDBOX=bwrap|unshare|rlimits forces a level (for tests).

Standard library only.
"""
import json
import os
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
LEVELS = ("bwrap", "unshare", "rlimits")
DESCRIBE = {
    "bwrap": "bubblewrap: private IPC, PID, network, /dev/shm and /tmp; read-only system; only the work directory writable",
    "unshare": "unshare: private IPC, PID and network namespaces; host files, /dev/shm and /tmp shared",
    "rlimits": "resource limits and process-group kill only: no namespaces, the network and the host's files are NOT isolated",
}
# As root, student code runs as this otherwise unused uid/gid (Debian reserves
# 65000-65533), so its processes and files are told apart from anyone else's.
SANDBOX_UID = int(os.environ.get("MMAPLABS_SANDBOX_UID", "65533"))
INNER_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SHM_TMPFS_BYTES = 64 << 20


@dataclass
class Limits:
    cpu_seconds: int = 0               # 0: derived from the timeout
    address_space: int = 4 << 30
    file_size: int = 64 << 20
    processes: int = 64                # on top of what the user already runs
    output: int = 1 << 20              # bytes of stdout (and of stderr) kept


BUILD_LIMITS = Limits(address_space=0, processes=128)


@dataclass
class Run:
    argv: list
    stdout: str
    stderr: str
    returncode: int              # negative: killed by that signal
    timed_out: bool
    seconds: float
    leftovers: list              # hygiene failures, already cleaned up
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


# ---- choosing a level -----------------------------------------------------

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
    cmd += ["--ro-bind", str(HERE), "/sandbox/sandbox.py", "--chdir", str(workdir)]
    return cmd, "/sandbox/sandbox.py"


def _unshare():
    cmd = ["unshare", "--ipc", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        cmd += ["--user", "--map-root-user"]
    return cmd, str(HERE)


def _works(cmd):
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20).returncode == 0
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
    who = f" Student code runs as uid {SANDBOX_UID}." if os.geteuid() == 0 else ""
    return f"sandbox level: {lvl} ({DESCRIBE[lvl]}).{who}"


# ---- running (the grader's side) ------------------------------------------

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


def run(argv, workdir, timeout, limits=Limits(), ro_binds=(), lvl=None, check_workdir=True):
    """Run argv (absolute program path) in workdir inside the sandbox.

    The supervisor enforces `timeout`; the grader kills the whole sandbox
    10 s later if the supervisor itself does not come back."""
    lvl = lvl or level()[0]
    workdir = Path(workdir)
    drop = os.geteuid() == 0
    if drop:
        os.chown(workdir, SANDBOX_UID, SANDBOX_UID)
    cfg = {
        "timeout": timeout,
        "cpu": limits.cpu_seconds or int(timeout) + 2,
        "as": limits.address_space,
        "fsize": limits.file_size,
        "nproc": limits.processes + _uid_processes(SANDBOX_UID if drop else os.getuid()),
        "drop": drop,
        "pidns": lvl in ("bwrap", "unshare"),
        "ipcns": lvl in ("bwrap", "unshare"),
        "private_tmp": lvl == "bwrap",
    }
    r, w = os.pipe()
    cfg["fd"] = w
    if lvl == "bwrap":
        prefix, script = _bwrap(workdir, ro_binds)
    elif lvl == "unshare":
        prefix, script = _unshare()
    else:
        prefix, script = [], str(HERE)
    cmd = prefix + [INNER_PY, "-I", "-S", script, "inner", json.dumps(cfg), "--", *map(str, argv)]
    # MMAPLAB_RUN: the per-run token labs/common puts in /dev/shm names and SysV keys
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LC_ALL": "C", "MMAPLAB_RUN": "r" + os.urandom(4).hex()}
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, pass_fds=(w,), start_new_session=True,
                            preexec_fn=_die_with_grader if lvl == "unshare" else None)
    os.close(w)
    out, err, limited, killed = _collect(proc, timeout + 10, limits.output)
    proc.wait()
    seconds = time.monotonic() - start
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
    if _killpg(proc.pid):
        leftovers.append("processes still running in the sandbox's process group (killed)")
    if check_workdir:
        files = sorted(os.listdir(workdir))
        if files:
            leftovers.append("files left in the work directory: " + ", ".join(files[:10])
                             + (" ..." if len(files) > 10 else "") + " (removed)")
    dec = lambda b: b.decode("utf-8", errors="backslashreplace")
    return Run([str(a) for a in argv], dec(out), dec(err), rep["returncode"], rep["timed_out"] or killed,
               seconds, leftovers, lvl, limited, notes)


def _die_with_grader():
    """unshare --kill-child takes its namespace down with it; make it die with us.
    (bwrap has --die-with-parent; at the rlimits level the supervisor outlives
    a killed grader by at most the time limit, then cleans up as usual.)"""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG


def _collect(proc, deadline, cap):
    """Read stdout and stderr, keeping at most cap bytes of each.  Past the cap
    the pipe is closed (the writer gets SIGPIPE).  Returns (out, err, limited,
    killed_at_deadline)."""
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    limited = killed = False
    sel = selectors.DefaultSelector()
    for f in bufs:
        sel.register(f, selectors.EVENT_READ)
    end = time.monotonic() + deadline
    while sel.get_map():
        left = end - time.monotonic()
        if left <= 0:
            _killpg(proc.pid)
            killed = True
            break
        for key, _ in sel.select(timeout=min(left, 1.0)):
            chunk = os.read(key.fileobj.fileno(), 65536)
            buf = bufs[key.fileobj]
            if chunk:
                buf += chunk
            if not chunk or len(buf) > cap:
                if len(buf) > cap:
                    del buf[cap:]
                    limited = True
                sel.unregister(key.fileobj)
                key.fileobj.close()
    for f in bufs:
        if not f.closed:
            f.close()
    sel.close()
    if killed:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    return bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr]), limited, killed


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


# ---- the supervisor (inside the sandbox) ----------------------------------

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
                pass
        _reap()
        time.sleep(0.01)
    while True:                      # nothing is left alive to fork: reap every zombie child
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    return len(seen)


def _sysv():
    ids = set()
    for kind, flag in (("shm", "-m"), ("sem", "-s"), ("msg", "-q")):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                next(f)
                for line in f:
                    ids.add((kind, flag, int(line.split()[1])))
        except (OSError, StopIteration):
            pass
    return ids


def _entries(d, uid=None):
    try:
        names = os.listdir(d)
    except OSError:
        return set()
    if uid is None:
        return set(names)
    out = set()
    for n in names:
        try:
            if os.lstat(os.path.join(d, n)).st_uid == uid:
                out.add(n)
        except OSError:
            pass
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
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)               # PR_SET_DUMPABLE 0: the student cannot ptrace us
    if not cfg["pidns"]:
        libc.prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
    sysv_before = set() if cfg["ipcns"] else _sysv()
    shm_before = set() if cfg["private_tmp"] else _entries("/dev/shm")
    tmp_before = set() if cfg["private_tmp"] else _entries("/tmp")

    def limit():
        os.umask(0o022)
        for res, value in ((resource.RLIMIT_CPU, (cfg["cpu"], cfg["cpu"] + 1)),
                           (resource.RLIMIT_AS, (cfg["as"], cfg["as"])),
                           (resource.RLIMIT_FSIZE, (cfg["fsize"], cfg["fsize"])),
                           (resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"])),
                           (resource.RLIMIT_CORE, (0, 0))):
            if value[0]:
                resource.setrlimit(res, value)
        if cfg["drop"]:
            os.setgroups([])
            os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)

    timed_out = False
    try:
        p = subprocess.Popen(argv, preexec_fn=limit, start_new_session=True, stdin=subprocess.DEVNULL)
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
    for kind, flag, ident in sorted(_sysv() - sysv_before):
        what = {"shm": "segment", "sem": "semaphore set", "msg": "message queue"}[kind]
        leftovers.append(f"System V {what} {ident} left behind (removed; the lab forgot IPC_RMID)")
        subprocess.run(["ipcrm", flag, str(ident)], stderr=subprocess.DEVNULL)
    shm_owner = None if cfg["private_tmp"] else student_uid
    for name in sorted(_entries("/dev/shm", shm_owner) - shm_before):
        leftovers.append(f"/dev/shm/{name} left behind (removed; the lab forgot shm_unlink)")
        _remove("/dev/shm/" + name)
    if not cfg["private_tmp"]:
        for name in sorted(_entries("/tmp", student_uid) - tmp_before):
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
