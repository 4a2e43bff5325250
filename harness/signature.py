"""signature: did the graded run make the system calls its lab is about? (issue 9)

A lab declares its signature in labs/NN-slug/lab.toml ([signature], see
harness/labspec.py).  The grader traces the run with Debian's strace and
checks the trace:

    argv = signature.traced_argv(argv, spec.signature.calls, "/grader/private/trace.txt")
    ... run argv ...
    ok, missing = signature.check(Path(".../trace.txt").read_text(), spec, program=prog)
    # missing: ["no mmap call with MAP_SHARED", "no ftruncate call"]

Where to put strace (what was tried, coord report of the signature helper):
wrap the WHOLE sandbox command (strace -f ... -- bwrap ... supervisor ... prog),
with the trace file in a directory of the grader.  strace then stays outside
the sandbox's PID and mount namespaces: the student's processes cannot see it
(/proc), signal it, ptrace it or open its output file, and strace opens -o with
FD_CLOEXEC, so no traced process inherits the file.  The trace then holds the
sandbox's own processes too (bwrap, the supervisor's clean-up): pass
program= (the path the supervisor executes) and only that process, from its
execve on, and its descendants are checked.  --pidns-translation makes
clone()'s return value name the child as strace sees it, so the tree can be
built across the PID namespace.  As root strace has a PID namespace of its
own (own_pidns), the sandbox's nested in it.

Matching: a call "mmap MAP_SHARED" is satisfied by a SUCCESSFUL mmap whose
arguments hold the symbol MAP_SHARED (quoted strings are ignored, so a file
name cannot forge a flag).  "!MAP_ANONYMOUS": that symbol must not be there.
"mmap =EINVAL" asks for an mmap that failed with EINVAL.  "fork" is any clone/clone3/fork/vfork that made a process (not a
thread).  ordered = true: the calls happen in that order (one matching call
each, each after the previous one's).

Standard library only.
"""
import re
import shutil
from dataclasses import dataclass, field

# A call name in lab.toml -> the system calls strace may show for it.
ALIASES = {
    "fork": ("clone", "clone3", "fork", "vfork"),
    "mmap": ("mmap", "mmap2"),
    "execve": ("execve", "execveat"),
}
# A symbol in lab.toml -> the symbols strace may print for it.
WORD_ALIASES = {
    "MAP_SHARED": ("MAP_SHARED", "MAP_SHARED_VALIDATE"),
}
PROCESS_CALLS = ("clone", "clone3", "fork", "vfork", "execve", "execveat")
# Traced only so that each new process makes a traced call early.  strace
# --seccomp-bpf cannot tell whether a process it has just seen created carries
# its filter, so it stops that process at every system call (at its entry and
# exit: 0.115 ms a call on a 2-CPU VM) until the process's first traced call.
# set_robust_list is glibc's first call in the child of fork() and in a new
# thread, and at the start of every program; umask comes early in bwrap's
# sandbox init (its first 17 calls: netlink set-up of the loopback).  Lab 09
# graded at the bwrap level, measured over 40 traced runs each: 35 ms of CPU
# and 89 ms wall per run before, 22-25 ms and 49-54 ms with them (7 ms and
# 21 ms untraced).  A program's forked child that never made a traced call
# ran its whole life that way (test_a_traced_programs_child_is_not_stopped_at_each_call).
EARLY_CALLS = ("set_robust_list", "umask")
# Names that may not exist on every architecture: strace's '?' lets them be unknown.
MAYBE = {"mmap2", "clone3", "fork", "vfork", "execveat"}

LINE_RE = re.compile(r"^(?P<pid>\d+)\s+(?P<rest>.*)$")
RESUMED_RE = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>(?P<rest>.*)$")
CALL_RE = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\((?P<rest>.*)$")
STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?')
COMMENT_RE = re.compile(r"/\*.*?\*/")
TOKEN_RE = re.compile(r"[A-Za-z0-9_]+")
RET_RE = re.compile(r"^(?P<val>-?\d+|0x[0-9a-f]+|\?)(?:\s+(?P<err>E[A-Z0-9]+))?")
RET_SEP_RE = re.compile(r"\) +=(?: |$)")
NS_PID_RE = re.compile(r"/\* (\d+) in strace's PID NS \*/")


class TraceError(Exception):
    """The trace cannot say anything about the program (it was never started
    under the tracer, or strace did not run): a grader error, not the student's."""


def strace_path():
    p = shutil.which("strace")
    if not p:
        raise TraceError("strace is not installed: apt-get install -y strace")
    return p


def _names(call):
    return ALIASES.get(call, (call,))


def _entries(calls):
    """calls: a Spec, a Signature, or a list of Call objects / "name WORD" strings."""
    calls = getattr(calls, "signature", calls)
    calls = getattr(calls, "calls", calls)
    return [c if hasattr(c, "words") else _Entry(*str(c).split()[:1], str(c).split()[1:]) for c in calls]


@dataclass
class _Entry:
    name: str
    words: list

    def __str__(self):
        return " ".join([self.name, *self.words])


# --pidns-translation finds which of its processes a pid of the sandbox's
# namespace is by reading /proc/PID/status of every process it can see, for
# each new pid (strace's src/pidns.c): 6-11 ms of CPU for a lab 09 run (two
# new pids) on a quiet 2-CPU VM running 90 processes, more where more run.  As root,
# strace starts in a PID namespace of its own with its own /proc (unshare), so
# it sees only itself and the sandbox.  Lab 09 run at the bwrap level, 40
# traced runs twice, a run's CPU time (all it started: a control group) and
# wall: 34-35 ms and 47-48 ms with strace in the host's namespace, 24-28 ms
# and 35-39 ms in its own (untraced: 16 ms and 21 ms).  The pids in the trace
# are then that namespace's.  When strace ends, the kernel kills whatever is
# left in it; when unshare is killed, so is strace (--kill-child).  As an
# ordinary user a PID namespace needs a user namespace too, which would change
# the uids the sandbox sees: strace stays in the grader's namespace there.
OWN_PIDNS = ("--pid", "--fork", "--kill-child", "--mount-proc")
_own_pidns = None


def own_pidns():
    """The command that starts strace in a PID namespace of its own, or []
    where that cannot be had (not root, no unshare, a container that refuses
    it).  Tried once."""
    global _own_pidns
    if _own_pidns is None:
        import os
        import subprocess
        import runner
        unshare = shutil.which("unshare")
        found = []           # set once, whole: grade-all's threads may ask at the same time
        if os.geteuid() == 0 and unshare:
            try:
                ok = subprocess.run([unshare, *OWN_PIDNS, "/bin/true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=runner.seconds(30)).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            if ok:
                found = [unshare, *OWN_PIDNS]
        _own_pidns = found
    return list(_own_pidns)


def traced_argv(argv, calls, out_path, strace=None, pidns=None):
    """argv run under strace, tracing what `calls` needs plus the process
    calls (to follow the program's tree), writing the trace to out_path.
    pidns: the prefix that gives strace a PID namespace of its own (default:
    own_pidns()).

    Wrap the whole sandbox command with it and keep out_path in a directory the
    student's uid cannot reach (see the module's docstring)."""
    names = set(PROCESS_CALLS) | set(EARLY_CALLS)
    for c in _entries(calls):
        names.update(_names(c.name))
    trace = ",".join(("?" + n) if n in MAYBE else n for n in sorted(names))
    return [*(own_pidns() if pidns is None else pidns), strace or strace_path(), "-f", "-qq", "--seccomp-bpf",
            "--pidns-translation", "-e", "signal=none", "-e", "trace=" + trace, "-o", str(out_path),
            "--", *map(str, argv)]


_probed = None


def probe():
    """(ok, why): can strace trace a child here?  Tried once.  When it cannot
    (no strace, ptrace refused in a container), a run under traced_argv would
    fail for reasons that are not the student's: the grader must say so
    (grader-error), not grade."""
    global _probed
    if _probed is None:
        import subprocess
        import tempfile
        import runner
        try:
            with tempfile.TemporaryDirectory(prefix="mmaplab-strace.") as d:
                out = f"{d}/trace.txt"
                p = subprocess.run(traced_argv(["/bin/true"], [], out), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=runner.seconds(30))
                text = open(out).read() if p.returncode == 0 else ""
                if program_events(parse(text), "/bin/true") is not None:
                    _probed = (True, "strace works")
                else:
                    _probed = (False, "strace cannot trace here: " + p.stderr.decode(errors="replace").strip()[-200:])
        except (TraceError, OSError, subprocess.TimeoutExpired) as e:
            _probed = (False, f"strace cannot run: {e}")
    return _probed


def trustworthy(level, euid):
    """(ok, why): is a trace taken at this sandbox level out of the program's reach?

    strace (wrapped around the sandbox) runs as the grader and is dumpable;
    its trace file must be in a directory of the grader's made with mode 0700
    (tempfile.mkdtemp).  As root the program runs as another uid: it can open
    neither strace's /proc/PID/fd nor that directory.  As an ordinary user
    only bwrap protects the trace: strace is in another PID namespace and the
    grader's directories are not mounted in the sandbox.  With unshare (host
    files shared) or rlimits (nothing hidden) the program has the grader's uid
    and can write into the trace file (and, at rlimits, into strace's fds)."""
    if level == "bwrap" or euid == 0:
        return True, ""
    return False, (f"at the {level} level as an ordinary user the program has the grader's uid and can reach "
                   "the trace file: signatures are not checked (bwrap, or grading as root, is needed)")


# ---- reading a trace --------------------------------------------------------

@dataclass
class Event:
    index: int
    pid: int
    name: str
    args: str           # quoted strings and comments removed
    ret: str            # "0", "-1", "0x7f..."
    errno: str          # "EINVAL" or ""
    path: str = ""      # execve: the program's path
    child: int = 0      # clone/fork: the child as strace sees it
    tokens: set = field(default_factory=set)

    @property
    def ok(self):
        return self.ret not in ("-1", "?") and not self.errno


def _split_ret(rest):
    """'args) = ret ...' -> (args, ret text); quoted strings may hold anything."""
    plain = STRING_RE.sub('""', rest)
    m = None
    for m in RET_SEP_RE.finditer(plain):
        pass
    if m is None:
        return None
    return plain[:m.start()], plain[m.end():]


def parse(text):
    """strace -f output -> [Event], unfinished/resumed calls joined, signals and exits skipped."""
    events, pending = [], {}
    for line in text.splitlines():
        m = LINE_RE.match(line)
        if not m:
            continue
        pid, rest = int(m["pid"]), m["rest"]
        if rest.startswith(("---", "+++")):
            continue
        r = RESUMED_RE.match(rest)
        if r:
            start = pending.pop((pid, r["name"]), None)
            if start is None:
                continue
            rest = start + r["rest"]
        elif rest.endswith("<unfinished ...>"):
            c = CALL_RE.match(rest)
            if c:
                pending[(pid, c["name"])] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        c = CALL_RE.match(rest)
        if not c:
            continue
        split = _split_ret(c["rest"])
        if not split:
            continue          # a call that never returned (the process died in it)
        args, ret_text = split
        rm = RET_RE.match(ret_text.strip())
        if not rm:
            continue
        ev = Event(len(events), pid, c["name"], COMMENT_RE.sub(" ", args), rm["val"], rm["err"] or "")
        ev.tokens = set(TOKEN_RE.findall(ev.args))
        if ev.name in ("execve", "execveat"):
            rest = c["rest"] if ev.name == "execve" else c["rest"].split(", ", 1)[-1]
            s = STRING_RE.match(rest)
            # None: strace could not read the path (see program_events)
            ev.path = _unquote(s.group(0)) if s else None
        elif ev.name in ("clone", "clone3", "fork", "vfork") and ev.ok:
            ns = NS_PID_RE.search(ret_text)
            ev.child = int(ns.group(1)) if ns else int(ev.ret, 0)
        events.append(ev)
    return events


def _unquote(s):
    if s.endswith("..."):
        s = s[:-3]
    s = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def program_events(events, program):
    """The events of the process that executed `program` (from that execve on)
    and of every process it created, directly or not.

    The program is the first successful execve of that path.  An execve whose
    path strace could not read counts too: a non-root tracer cannot read the
    memory of a process that is not dumpable, and the sandbox's supervisor
    makes itself (so the child it forks, until its execve) not dumpable.  The
    first such execve is the program's: the grader's own processes before it
    (bwrap, the supervisor) are dumpable, and everything the supervisor does
    after it (its clean-up) comes later."""
    root = next((e for e in events if e.name in ("execve", "execveat") and e.ok
                 and e.path in (program, None)), None)
    if root is None:
        return None
    parent = {}
    for e in events:
        if e.child and e.child not in parent:
            parent[e.child] = e.pid
    def ours(pid):
        seen = set()
        while pid not in seen:
            if pid == root.pid:
                return True
            seen.add(pid)
            if pid not in parent:
                return False
            pid = parent[pid]
        return False
    return [e for e in events if (e.pid != root.pid or e.index >= root.index) and ours(e.pid)]


def matches(entry, e):
    if e.name not in _names(entry.name):
        return False
    if entry.name == "fork" and "CLONE_THREAD" in e.tokens:
        return False            # a thread is not a process
    want_err = next((w[1:] for w in entry.words if w.startswith("=")), None)
    if want_err is not None:
        if e.ok or e.errno != want_err:
            return False
    elif not e.ok:
        return False
    for w in entry.words:
        if w.startswith("="):
            continue
        present = any(a in e.tokens for a in WORD_ALIASES.get(w.lstrip("!"), (w.lstrip("!"),)))
        if present == w.startswith("!"):
            return False
    return True


def describe_missing(entry):
    words = [w for w in entry.words if w[0] not in "=!"]
    nots = [w[1:] for w in entry.words if w.startswith("!")]
    err = next((w[1:] for w in entry.words if w.startswith("=")), None)
    name = entry.name if entry.name != "fork" else "fork (clone/fork/vfork of a process)"
    msg = f"no {name} call"
    if words:
        msg += " with " + " and ".join(words)
    if nots:
        msg += (" and" if words else "") + " without " + " or ".join(nots)
    if err:
        msg += f" that failed with {err}"
    return msg


def causal_order(events):
    """The events with everything a process did after the fork that made it.
    strace -f writes lines as they happen, and a child often runs (and makes
    calls) before its parent's clone() returns and is written; on a busy
    machine more so.  So "ordered" compares this order, not the lines'."""
    born, made_by = {}, {}
    for e in events:
        if e.child and e.child not in made_by:
            made_by[e.child] = e

    def birth(pid, seen=()):
        if pid in born:
            return born[pid]
        e = made_by.get(pid)
        b = -1 if e is None or pid in seen else max(e.index, birth(e.pid, seen + (pid,)))
        born[pid] = b
        return b
    return sorted(events, key=lambda e: (max(e.index, birth(e.pid)), e.index < birth(e.pid), e.index))


def check(trace_text, spec, program=None):
    """(ok, missing): does the trace hold the lab's signature?  spec: a
    labspec.Spec or Signature (or a list of calls, then unordered).  program:
    the path the sandbox executes; only that process and its descendants count.
    Raises TraceError when the trace shows nothing of the program."""
    events = parse(trace_text)
    if program is not None:
        mine = program_events(events, str(program))
        if mine is None:
            raise TraceError(f"the trace has no successful execve of {program}: "
                             "the program was not run under the tracer" if events else
                             "the trace is empty: strace did not run or could not trace")
        events = mine
    sig = getattr(spec, "signature", spec)
    entries = _entries(sig)
    ordered = getattr(sig, "ordered", False)
    missing = []
    if not ordered:
        for entry in entries:
            if not any(matches(entry, e) for e in events):
                missing.append(describe_missing(entry))
        return not missing, missing
    events = causal_order(events)
    pos = 0
    for i, entry in enumerate(entries):
        hit = next((j for j in range(pos, len(events)) if matches(entry, events[j])), None)
        if hit is None:
            if any(matches(entry, e) for e in events):
                missing.append(f"{describe_missing(entry)} after the {entries[i - 1]} call "
                               f"(the calls must come in this order: {', '.join(map(str, entries))})")
            else:
                missing.append(describe_missing(entry))
            continue
        pos = hit + 1
    return not missing, missing
