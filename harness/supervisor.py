"""supervisor: what runs a program inside every run of runner.run, at every level.

    /usr/bin/python3 -I -S supervisor.py CONFIG -- PROGRAM ARGS...

CONFIG is runner.run's settings, marshal'd (version 2) and in hex.  The
supervisor starts the program in a session and process group of its own with
stdin on /dev/null (in a sandbox: under RLIMIT_CPU/AS/FSIZE/NPROC, no core
files and, as root, the run's own uid), kills its group at the time limit,
then every process it left (PID namespace, or the supervisor as child
subreaper), removes the System V objects, /dev/shm names and /tmp entries the
run left, and writes one JSON line, ending in the run's nonce, to the report
pipe: {"returncode", "timed_out", "leftovers", "seconds"} (or "grader_error",
or "cancelled" after a SIGTERM from the caller).  runner.py documents what
counts as the run's.

It is started for every run (about 300 times in `make test`), so it imports
only modules built into the interpreter or small (no subprocess, json, re,
shutil): the start-up is about a third of what runner.py's own was.  It is
all there is of the harness inside a bwrap sandbox.
"""
import ctypes
import errno
import fcntl
import marshal
import os
import resource
import select
import signal
import sys
import time

SYSV = {"shm": "segment", "sem": "semaphore set", "msg": "message queue"}
IPC_RMID = 0
NAME_PREFIX = "mmaplab-r"               # "mmaplab-rKKKK-...": a run's /dev/shm and /tmp names

cfg = {}


def seconds(quiet_machine_seconds):
    """runner.seconds with the caller's measure of this machine (no probe of our own)."""
    return quiet_machine_seconds * cfg["slowness"]


def json_line(value):
    """value (dict, list, str, int, float, bool, None) as one JSON line, ASCII only
    (a lone surrogate from a file name becomes its \\u escape, as json.dumps does)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = []
        for ch in value:
            c = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif 0x20 <= c < 0x7F:
                out.append(ch)
            elif c > 0xFFFF:
                c -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF)))
            else:
                out.append("\\u%04x" % c)
        return '"' + "".join(out) + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(json_line(str(k)) + ": " + json_line(v) for k, v in value.items()) + "}"
    return "[" + ", ".join(json_line(v) for v in value) + "]"


# ---- what is left ----------------------------------------------------------------

def procs():
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


def strays(pidns):
    """Live processes other than the supervisor (and the namespace's init)."""
    me, ps = os.getpid(), procs()
    if pidns:
        return [p for p, (_, st) in ps.items() if p not in (1, me) and st != "Z"]
    kids, todo = set(), [me]           # descendants: orphans come to us (subreaper)
    while todo:
        parent = todo.pop()
        for p, (pp, st) in ps.items():
            if pp == parent and p not in kids:
                kids.add(p)
                todo.append(p)
    return [p for p in kids if ps[p][1] != "Z"]


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_strays(pidns):
    seen = set()
    end = time.monotonic() + seconds(5)     # a fork bomb refills as it is killed: give it time to run dry
    while time.monotonic() < end:
        left = strays(pidns)
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
        reap()
        time.sleep(0.01)
    while True:                      # nothing is left alive to fork: reap every zombie child
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    return len(seen)


def sysv():
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


def sysv_remove(libc, kind, ident):
    """IPC_RMID, as ipcrm does (errors ignored: it may be gone already)."""
    if kind == "shm":
        libc.shmctl(ident, IPC_RMID, None)
    elif kind == "sem":
        libc.semctl(ident, 0, IPC_RMID)
    else:
        libc.msgctl(ident, IPC_RMID, None)


def sysv_ours(row, kind, key_k):
    """At attribute "token": keyed with the run's K, or (a segment) private,
    unattached and made by a process that is gone, not by a sandbox's uid (a
    graded program's, at the rlimits level beside us, as root)."""
    key = int(row["key"]) & 0xFFFFFFFF
    if key:
        return (key >> 16) & 0x7FFF == key_k
    lo, hi = cfg["sandbox_uids"]
    cuid = int(row.get("cuid", -1))
    if lo <= cuid < hi and cuid != os.getuid():
        return False
    return (kind == "shm" and int(row.get("nattch", 1)) == 0
            and not os.path.exists(f"/proc/{row.get('cpid', '1')}"))


def token_held_by_another(k, own_k):
    """True if run token K (not ours) is held by a run on this machine now (its
    flock in the token lock folder, runner._Token): what carries it is that run's."""
    if k == own_k or not 1 <= k <= 0x7FFF:
        return False
    try:
        fd = os.open(os.path.join(cfg["token_locks"], "r%04x" % k), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def sysv_new_ours(row, kind, student_uid, shared_uid, key_k):
    """At attribute "new" where the host's System V objects are seen (the
    rlimits level): the student's uid made or owns it.  Where that uid is not
    the student's alone (an ordinary user's grader: its plain runs, another
    test's, share it), also not keyed with another live run's token and not a
    segment whose creator still runs (the student's processes are all gone by
    now)."""
    if student_uid not in (int(row.get("uid", -1)), int(row.get("cuid", -1))):
        return False
    if not shared_uid:
        return True
    key = int(row["key"]) & 0xFFFFFFFF
    if key and not key >> 31 and token_held_by_another((key >> 16) & 0x7FFF, key_k):
        return False
    return not (kind == "shm" and os.path.exists(f"/proc/{row.get('cpid', '0')}"))


def name_of_another_run(name, own_k):
    """A /dev/shm or /tmp name "mmaplab-rKKKK-..." of another live run."""
    k = name[len(NAME_PREFIX):len(NAME_PREFIX) + 4]
    if not (name.startswith(NAME_PREFIX) and name[len(NAME_PREFIX) + 4:len(NAME_PREFIX) + 5] == "-"
            and len(k) == 4 and all(c in "0123456789abcdef" for c in k)):
        return False
    return token_held_by_another(int(k, 16), own_k)


def entries(d, uid=None, prefix=None):
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


def overflow_uid():
    try:
        with open("/proc/sys/kernel/overflowuid") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 65534


def remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil           # a folder left in /dev/shm or /tmp: rare, so imported only then
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


# ---- the program ----------------------------------------------------------------

class Stop(Exception):
    """SIGTERM to the supervisor: the caller gives the run up."""


class SetupError(Exception):
    """The program's limits or uid could not be set: the grader's side."""


def start(argv):
    """Fork and exec the program: a session of its own, stdin on /dev/null, only
    fds 0-2, default signal dispositions, and in a sandbox the run's limits and
    uid.  Returns its pid.  OSError (the errno of the fork or the exec) if the
    program did not start, SetupError if its limits or uid could not be set."""
    err_r, err_w = os.pipe()            # close-on-exec: EOF tells the exec worked
    pid = os.fork()
    if pid == 0:
        stage, code = "setup", errno.EINVAL
        try:
            for s in (signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(s, signal.SIG_DFL)       # Python ignores SIGPIPE and SIGXFSZ
            os.setsid()
            os.dup2(os.open("/dev/null", os.O_RDWR), 0)
            os.closerange(3, err_w)
            os.closerange(err_w + 1, 1 << 20)
            if cfg["rlimits"]:
                os.umask(0o022)
                if cfg.get("affinity"):
                    os.sched_setaffinity(0, cfg["affinity"])
                for res, value in ((resource.RLIMIT_CPU, (cfg["cpu"], cfg["cpu"] + 1)),
                                   (resource.RLIMIT_AS, (cfg["as"], cfg["as"])),
                                   (resource.RLIMIT_FSIZE, (cfg["fsize"], cfg["fsize"])),
                                   (resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"])),
                                   (resource.RLIMIT_CORE, (0, 0))):
                    if value[0] or res == resource.RLIMIT_CORE:
                        resource.setrlimit(res, value)
                if cfg["drop"]:
                    os.setgroups([])
                    os.setresgid(cfg["uid"], cfg["uid"], cfg["uid"])
                    os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
            stage = "exec"
            os.execvp(argv[0], argv)
        except OSError as e:
            code = e.errno or errno.EINVAL
        except BaseException:
            pass
        try:
            os.write(err_w, f"{stage} {code}".encode())
        finally:
            os._exit(127)
    os.close(err_w)
    with os.fdopen(err_r, "rb") as f:
        why = f.read().decode()
    if why:
        os.waitpid(pid, 0)
        stage, code = why.split()
        if stage == "setup":
            raise SetupError(f"cannot set the program's limits or uid: {errno.errorcode.get(int(code), code)}")
        raise OSError(int(code), os.strerror(int(code)))
    return pid


def wait(pid, timeout):
    """The program's exit status (runner's returncode: -signal if killed), or
    None at the time limit (the program still runs)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):    # before Linux 5.3: poll waitpid
        end = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= end:
                return None
            time.sleep(0.002)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or poller.poll(max(1, int(left * 1000 + 0.999))):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return os.waitstatus_to_exitcode(status)
                if left <= 0:
                    return None
    finally:
        os.close(fd)


def main(argv):
    cfg.update(marshal.loads(bytes.fromhex(argv[0])))
    argv = argv[2:]
    report = os.fdopen(cfg["fd"], "w")
    os.set_inheritable(cfg["fd"], False)
    nonce = os.environ.pop("MMAPLAB_REPORT_NONCE", "")
    student_uid = cfg["uid"] if cfg["drop"] else os.getuid()
    by_token = cfg["attribute"] == "token"
    key_k = cfg["key_k"]
    keep = set(cfg.get("keep", []))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)               # PR_SET_DUMPABLE 0: the student cannot ptrace us
    if not cfg["pidns"]:
        libc.prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER

    def stop(signum, frame):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)

    def send(rep):
        rep["nonce"] = nonce
        report.write("\n" + json_line(rep) + "\n")
        report.close()

    # What was there before (at "token", only to keep the IPC_PRIVATE rule to
    # this run).  A private /dev/shm (bwrap) holds nothing but the folders on
    # the way to the run's own (TMPDIR on /dev/shm): they are in `before` and
    # in `keep`, never swept.
    sysv_before = set() if cfg["ipcns"] else set(sysv())
    if by_token:       # names with the run's token; the host's /dev/shm and /tmp are shared
        shm_uid, tmp_uid, prefix = None, None, f"mmaplab-{cfg['token']}-"
        shm_before = tmp_before = set()
    else:              # everything new (owned by the student, where the host's are shared)
        shm_uid = None if cfg["private_tmp"] else student_uid
        tmp_uid, prefix = student_uid, None
        shm_before = entries("/dev/shm")
        tmp_before = entries("/tmp")

    timed_out = False
    pid = None
    try:
        try:
            began = time.monotonic()
            pid = start(argv)
        except SetupError as e:
            send({"returncode": 127, "timed_out": False, "leftovers": [], "grader_error": str(e)})
            return 0
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ENOMEM):    # the machine's resources, not the program
                send({"returncode": 127, "timed_out": False, "leftovers": [],
                      "grader_error": f"cannot start {argv[0]}: {errno.errorcode[e.errno]} (no resources)"})
                return 0
            sys.stderr.write(f"sandbox: cannot run {argv[0]}: {e}\n")
            send({"returncode": 127, "timed_out": False, "leftovers": []})
            return 127
        rc = wait(pid, cfg["timeout"])
        if rc is None:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        seconds_used = time.monotonic() - began
    except Stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        kill_strays(cfg["pidns"])
        send({"returncode": -signal.SIGKILL, "timed_out": False, "leftovers": [], "cancelled": True})
        return 0
    signal.signal(signal.SIGTERM, signal.SIG_IGN)      # the clean-up below runs to its end
    leftovers = []
    n = kill_strays(cfg["pidns"])
    if n and not timed_out:
        leftovers.append(f"{n} process(es) still running after the program ended (killed)")
    now = sysv()
    # At the rlimits level (the host's IPC namespace) only what the student's
    # uid made or owns is the run's: as root that uid is the sandbox's own
    # (lease()); as an ordinary user it is also ours, so objects of other live
    # runs (their token) are left to them.
    shared_ipc = not by_token and not cfg["ipcns"]
    shared_uid = not cfg["drop"]
    for (kind, ident) in sorted(set(now) - sysv_before):
        if by_token and not sysv_ours(now[(kind, ident)], kind, key_k):
            continue
        if shared_ipc and not sysv_new_ours(now[(kind, ident)], kind, student_uid, shared_uid, key_k):
            continue
        leftovers.append(f"System V {SYSV[kind]} {ident} left behind (removed; the lab forgot IPC_RMID)")
        sysv_remove(libc, kind, ident)
    # In a user namespace the files of unmapped users (root's) show as the
    # overflow uid: when that is also the student's uid (a grader running as
    # nobody), only what the supervisor could remove was the program's.
    ambiguous = cfg["pidns"] and not cfg["drop"] and student_uid == overflow_uid()

    def sweep(path, what):
        if path in keep:
            return
        if not by_token and shared_uid and name_of_another_run(os.path.basename(path), key_k):
            return           # a plain run's name beside a sandbox sharing its uid: not the student's
        remove(path)
        if ambiguous and os.path.lexists(path):
            return
        leftovers.append(what)
    for name in sorted(entries("/dev/shm", shm_uid, prefix) - shm_before):
        sweep("/dev/shm/" + name, f"/dev/shm/{name} left behind (removed; the lab forgot shm_unlink)")
    if not cfg["private_tmp"]:
        for name in sorted(entries("/tmp", tmp_uid, prefix) - tmp_before):
            sweep("/tmp/" + name, f"/tmp/{name} written outside the work directory (removed)")
    send({"returncode": rc, "timed_out": timed_out, "leftovers": leftovers, "seconds": round(seconds_used, 4)})
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit("usage: supervisor.py CONFIG -- PROGRAM [ARGS...]  (runner.run starts it)")
    sys.exit(main(sys.argv[1:]))
