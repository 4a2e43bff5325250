#!/usr/bin/env python3
"""mmaplabs: find the labs, run them, normalise and compare their transcripts.

Standard library only, so `make memcheck` and `make expected` need no pytest.

Transcripts (expected/NN-slug.txt, or expected/NN-slug.VARIANT.txt for a lab
with several) start with the command that produced them, like a terminal:

    $ page-boundary --offset-pages=1
    # Lab 10: Page-boundary access
    ...

The normalisation rule, the only one: a volatile value is printed by the lab as
{name=value} (name: lower-case letters, digits, '-' or '_'; value: anything but
braces and newlines) and compared as {name}.  Nothing else is loosened.
"""
import argparse
import difflib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labs as labdesc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ROOT / "expected"
LAB_RE = re.compile(r"^\d\d-[a-z0-9-]+$")
VOLATILE = re.compile(r"\{([a-z][a-z0-9_-]*)=[^{}\n]*\}")
STEP_RE = re.compile(r"^\[(\d+)\] ", re.M)
DEFAULT_TIMEOUT = float(os.environ.get("MMAPLABS_TIMEOUT", "60"))
OUTPUT_LIMIT = 1 << 20  # bytes of stdout (and of stderr) kept from one run


class TranscriptError(Exception):
    """An expected transcript that cannot be used, with a message saying why."""


def build_dir():
    return labdesc.build_dir(ROOT)


def labs():
    """Lab folder names, in curriculum order (labs/labs.mk)."""
    return labdesc.slugs(ROOT)


def lab_for(number):
    """'3' or '03' -> '03-...'; raises KeyError with a readable message."""
    try:
        return labdesc.get(number, ROOT).slug
    except labdesc.LabError as e:
        raise KeyError(str(e)) from None


def entry_program(slug):
    return labdesc.read(ROOT)[slug].entry


@dataclass
class Variant:
    lab: str          # "10-page-boundary"
    name: str         # "" for a lab's only transcript, else the VARIANT part
    path: Path        # the expected transcript
    args: list = field(default_factory=list)
    body: str = ""    # the transcript after the command line

    @property
    def id(self):
        return self.lab + (f".{self.name}" if self.name else "")

    def command(self):
        return shlex.join([entry_program(self.lab)] + self.args)


def parse_transcript(lab, text, path="transcript"):
    """Split an expected transcript into (args, body); explain what is wrong."""
    first, sep, body = text.partition("\n")
    if not first.startswith("$ "):
        raise TranscriptError(f"{path}: the first line must be the command, '$ {entry_program(lab)} ...', not {first[:60]!r}")
    try:
        words = shlex.split(first[2:])
    except ValueError as e:
        raise TranscriptError(f"{path}: cannot read the command line: {e}") from None
    if not words or words[0] != entry_program(lab):
        raise TranscriptError(f"{path}: the command must run '{entry_program(lab)}', not {words[:1]}")
    if not sep:
        raise TranscriptError(f"{path}: no transcript after the command line")
    return words[1:], body


def variants(lab, expected_dir=EXPECTED):
    """Every transcript of a lab: expected/LAB.txt and expected/LAB.NAME.txt."""
    out = []
    for p in sorted(Path(expected_dir).glob(lab + "*.txt")):
        rest = p.name[len(lab):-len(".txt")]
        if rest and not rest.startswith("."):
            continue  # another lab whose name starts like this one
        text = p.read_text(encoding="utf-8", errors="surrogateescape")
        args, body = parse_transcript(lab, text, p)
        out.append(Variant(lab, rest[1:], p, args, body))
    return out


def normalise(text):
    return VOLATILE.sub(r"{\1}", text)


def steps(text):
    """Split a transcript into [(number, text)], the header being step 0."""
    parts = STEP_RE.split(text)
    out = [(0, parts[0])]
    for i in range(1, len(parts), 2):
        out.append((int(parts[i]), "[%s] %s" % (parts[i], parts[i + 1])))
    return out


def diff(expected, actual, label="transcript"):
    return "".join(difflib.unified_diff(
        expected.splitlines(True), actual.splitlines(True),
        f"expected/{label}", f"actual/{label}", n=3))


# ---- running ---------------------------------------------------------------

def _run_token():
    """A short token for one run: labs put it in their /dev/shm names and in
    the top bits of their System V keys (labs/common: run_token), so only this
    run's leftovers are reported and removed, never another run's objects."""
    return "r" + os.urandom(4).hex()


def _token_hash(token):
    h = 0
    for c in token.encode():
        h = (h * 31 + c) & 0xFFFFFFFF
    return h & 0x7FFF


def _sysv_segments():
    """{shmid: (key, nattch, cpid)} from /proc/sysvipc/shm."""
    segs = {}
    try:
        with open("/proc/sysvipc/shm") as f:
            next(f)
            for line in f:
                w = line.split()
                segs[int(w[1])] = (int(w[0]) & 0xFFFFFFFF, int(w[6]), int(w[4]))
    except (FileNotFoundError, StopIteration):
        pass
    return segs


def _ours(token, before):
    """This run's System V segments: keyed with the run's token, or private
    (key 0), unattached and created by a process that is gone."""
    h = _token_hash(token)
    out = []
    for shmid, (key, nattch, cpid) in _sysv_segments().items():
        if shmid in before:
            continue
        if key and (key >> 16) & 0x7FFF == h:
            out.append(shmid)
        elif key == 0 and nattch == 0 and not os.path.exists(f"/proc/{cpid}"):
            out.append(shmid)
    return sorted(out)


@dataclass
class Result:
    argv: list
    stdout: str
    stderr: str
    returncode: int
    timed_out: bool
    seconds: float
    leftovers: list   # what the run left behind (and the harness removed)


def run_program(argv, timeout=DEFAULT_TIMEOUT, cwd=None, env=None):
    """Run argv in its own process group, in a fresh directory (or cwd).

    On timeout the whole group is killed.  Afterwards, report and remove what
    it left behind: files in its directory, /dev/shm/mmaplab-* names, System V
    segments, processes still in its group."""
    own_dir = cwd is None
    cwd = cwd or tempfile.mkdtemp(prefix="mmaplab-test.")
    token = _run_token()
    env = dict(os.environ if env is None else env, MMAPLAB_RUN=token)
    sysv_before = set(_sysv_segments())
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    readers = [_Reader(proc.stdout), _Reader(proc.stderr)]
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _killpg(proc.pid)
        proc.wait()
    # A process that outlives the lab may still hold the pipes open: give the
    # output a moment to drain, then the group's survivors are killed below.
    drain_until = time.monotonic() + 1.0
    for r in readers:
        r.join(max(0.0, drain_until - time.monotonic()))
    leftovers = []
    if _killpg(proc.pid):
        leftovers.append("processes still running in the lab's process group (killed)")
    out, err = (r.finish() for r in readers)
    seconds = time.monotonic() - start
    if own_dir:
        files = sorted(os.listdir(cwd))
        if files:
            leftovers.append("files left in the work directory: " + ", ".join(files))
        shutil.rmtree(cwd, ignore_errors=True)
    try:
        names = sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"mmaplab-{token}-"))
    except FileNotFoundError:
        names = []
    for name in names:
        leftovers.append(f"/dev/shm/{name} left behind (removed)")
        try:
            os.unlink("/dev/shm/" + name)
        except OSError:
            pass
    for shmid in _ours(token, sysv_before):
        leftovers.append(f"System V segment {shmid} left behind (removed)")
        subprocess.run(["ipcrm", "-m", str(shmid)], stderr=subprocess.DEVNULL)
    dec = lambda b: b.decode("utf-8", errors="backslashreplace")
    return Result(list(argv), dec(out), dec(err), proc.returncode, timed_out, seconds, leftovers)


class _Reader(threading.Thread):
    """Drain one pipe; keep at most OUTPUT_LIMIT bytes, count the rest."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.chunks, self.kept, self.dropped = pipe, [], 0, 0
        self.start()

    def run(self):
        while True:
            b = self.pipe.read1(65536) if hasattr(self.pipe, "read1") else self.pipe.read(65536)
            if not b:
                break
            room = OUTPUT_LIMIT - self.kept
            self.chunks.append(b[:room])
            self.kept += min(len(b), room)
            self.dropped += max(0, len(b) - room)

    def finish(self):
        self.join(5)
        data = b"".join(self.chunks)
        if self.dropped:
            data += b"\n[... %d more bytes of output not kept]\n" % self.dropped
        return data


def _killpg(pgid):
    """SIGKILL a process group; True if anything was in it."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def program_path(lab):
    return labdesc.read(ROOT)[lab].program_path(build_dir())


def run_variant(v, timeout=DEFAULT_TIMEOUT, prefix=()):
    prog = program_path(v.lab)
    if not prog.exists():
        raise FileNotFoundError(f"{prog} is not built: run 'make all'")
    return run_program(list(prefix) + [str(prog)] + v.args, timeout=timeout)


def compare(v, result):
    """None when the run matches its transcript, else a readable report."""
    problems = []
    if result.timed_out:
        problems.append(f"timed out after {result.seconds:.1f} s (process group killed)")
    elif result.returncode != 0:
        problems.append(f"exit status {result.returncode} (0 means every check held)")
    problems += result.leftovers
    actual = normalise(result.stdout)
    expected = normalise(v.body)
    if actual != expected:
        d = diff(expected, actual, v.path.name)
        first = first_differing_step(expected, actual)
        problems.append(f"transcript differs from {v.path.relative_to(ROOT) if v.path.is_relative_to(ROOT) else v.path}"
                        + (f", first at step {first}" if first is not None else "") + ":\n" + d)
    if not problems:
        return None
    report = [f"lab {v.id}: " + problems[0]] + problems[1:]
    if result.stderr.strip():
        report.append("stderr:\n" + result.stderr.rstrip())
    n = v.lab.split("-")[0].lstrip("0") or "0"
    report.append("reproduce: make lab-%s%s" % (n, f" ARGS={shlex.quote(shlex.join(v.args))}" if v.args else ""))
    return "\n".join(report)


def first_differing_step(expected, actual):
    e, a = dict(steps(expected)), dict(steps(actual))
    for n in sorted(set(e) | set(a)):
        if e.get(n) != a.get(n):
            return n
    return None


# ---- commands ----------------------------------------------------------------

def cmd_expected(number, variant=None, args=None):
    lab = lab_for(number)
    vs = variants(lab)
    if variant is not None:
        vs = [v for v in vs if v.name == variant]
    if args is not None or not vs:
        name = variant or ""
        path = EXPECTED / (lab + (f".{name}" if name else "") + ".txt")
        vs = [Variant(lab, name, path, shlex.split(args or ""))]
    for v in vs:
        r = run_variant(v)
        if r.timed_out or r.returncode != 0 or r.leftovers:
            print(compare(v, r) or "", file=sys.stderr)
            print(f"not writing {v.path.name}: the run itself failed", file=sys.stderr)
            return 1
        old = v.path.read_text(errors="surrogateescape") if v.path.exists() else ""
        new = "$ " + v.command() + "\n" + r.stdout
        v.path.write_text(new)
        d = diff(normalise(old), normalise(new), v.path.name)
        print(d if d else f"{v.path.name}: unchanged but for {{volatile}} values")
        if d:
            print(f"wrote {v.path.relative_to(ROOT)}: read the diff and know why before you commit it")
    return 0


def cmd_memcheck(only=None):
    failed = 0
    for lab in labs():
        if only and lab != lab_for(only):
            continue
        for v in variants(lab):
            logs = Path(tempfile.mkdtemp(prefix="mmaplab-vg."))
            prefix = ["valgrind", "--tool=memcheck", "--quiet", "--vgdb=no", "--trace-children=yes",
                      "--child-silent-after-fork=no", "--leak-check=full",
                      "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                      f"--log-file={logs}/vg.%p"]
            r = run_variant(v, timeout=DEFAULT_TIMEOUT * 5, prefix=prefix)
            bad = []
            for log in sorted(logs.iterdir()):
                text = log.read_text(errors="replace")
                if re.search(r"ERROR SUMMARY: [1-9]", text) or re.search(r"definitely lost: [1-9]", text) \
                        or re.search(r"^==\d+== (Invalid|Conditional|Syscall param|Mismatched)", text, re.M):
                    bad.append(text)
            shutil.rmtree(logs, ignore_errors=True)
            status = "ok"
            if r.timed_out:
                status = "TIMED OUT"
            elif bad:
                status = "VALGRIND ERRORS"
            elif r.leftovers:
                status = "LEFT THINGS BEHIND"
            print(f"memcheck {v.id:40s} {status}")
            if status != "ok":
                failed += 1
                for text in bad:
                    print(text)
                for l in r.leftovers:
                    print("   ", l)
            elif r.returncode != 0:
                print(f"    (the lab's own checks reported exit {r.returncode} under valgrind; not a memcheck error)")
    print(f"memcheck: {'all clean' if not failed else f'{failed} failed'}")
    return 1 if failed else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("expected", help="rewrite a lab's transcript(s) for review")
    e.add_argument("lab")
    e.add_argument("--variant")
    e.add_argument("--args")
    m = sub.add_parser("memcheck", help="run every lab under valgrind memcheck")
    m.add_argument("lab", nargs="?")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "expected":
            return cmd_expected(a.lab, a.variant, a.args)
        return cmd_memcheck(a.lab)
    except (KeyError, TranscriptError, FileNotFoundError) as err:
        print(f"mmaplabs: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
