#!/usr/bin/env python3
"""mmaplabs: the labs' transcripts: read them, run a lab against one, compare.

Standard library only, so `make memcheck` and `make expected` need no pytest.
Which labs there are comes from harness/labs.py (labs/labs.mk); every run goes
through harness/runner.py at its plain level, the path the grader takes too.

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
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labs  # noqa: E402
import runner  # noqa: E402

ROOT = labs.ROOT
VOLATILE = re.compile(r"\{([a-z][a-z0-9_-]*)=[^{}\n]*\}")
STEP_RE = re.compile(r"^\[(\d+)\] ", re.M)


def lab_timeout():
    """The time limit of one lab run: MMAPLABS_TIMEOUT seconds, else a minute
    on a quiet machine (the slowest lab takes a few seconds)."""
    if os.environ.get("MMAPLABS_TIMEOUT"):
        return float(os.environ["MMAPLABS_TIMEOUT"])
    return runner.seconds(60)


class TranscriptError(Exception):
    """An expected transcript that cannot be used, with a message saying why."""


@dataclass
class Variant:
    lab: labs.Lab     # the lab (labs/labs.mk)
    name: str         # "" for a lab's only transcript, else the VARIANT part
    path: Path        # the expected transcript
    args: list = field(default_factory=list)
    body: str = ""    # the transcript after the command line

    @property
    def id(self):
        return self.lab.slug + (f".{self.name}" if self.name else "")

    def command(self):
        return shlex.join([self.lab.entry] + self.args)


def parse_transcript(lab, text, path="transcript"):
    """Split an expected transcript of a Lab into (args, body); explain what is wrong."""
    first, sep, body = text.partition("\n")
    if not first.startswith("$ "):
        raise TranscriptError(f"{path}: the first line must be the command, '$ {lab.entry} ...', not {first[:60]!r}")
    try:
        words = shlex.split(first[2:])
    except ValueError as e:
        raise TranscriptError(f"{path}: cannot read the command line: {e}") from None
    if not words or words[0] != lab.entry:
        raise TranscriptError(f"{path}: the command must run '{lab.entry}', not {words[:1]}")
    if not sep:
        raise TranscriptError(f"{path}: no transcript after the command line")
    return words[1:], body


def variants(lab, expected_dir=None):
    """Every transcript of a Lab (lab.transcripts(): expected/SLUG[.NAME].txt), read."""
    out = []
    for p in lab.transcripts(expected_dir):
        text = p.read_text(encoding="utf-8", errors="surrogateescape")
        args, body = parse_transcript(lab, text, p)
        out.append(Variant(lab, p.name[len(lab.slug) + 1:-len(".txt")], p, args, body))
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


# ---- running ----------------------------------------------------------------

def run_variant(v, timeout=None, prefix=()):
    """Run a variant's command with the lab's entry program as built
    (BUILD/NN-slug/prog), at the runner's plain level, in a fresh directory."""
    prog = v.lab.program_path(labs.build_dir(v.lab.root))
    if not prog.exists():
        raise FileNotFoundError(f"{prog} is not built: run 'make all'")
    # The tests keep their own folders in memory (conftest.py) and name a
    # folder on the disk for the labs: where `make lab-N` would run them.
    return runner.run(list(prefix) + [str(prog)] + v.args, timeout or lab_timeout(), level="plain",
                      workdir_in=os.environ.get("MMAPLAB_LAB_TMPDIR"))


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
    report.append("reproduce: make lab-%d%s" % (v.lab.number, f" ARGS={shlex.quote(shlex.join(v.args))}" if v.args else ""))
    return "\n".join(report)


def first_differing_step(expected, actual):
    e, a = dict(steps(expected)), dict(steps(actual))
    for n in sorted(set(e) | set(a)):
        if e.get(n) != a.get(n):
            return n
    return None


# ---- commands ----------------------------------------------------------------

def cmd_expected(number, variant=None, args=None):
    lab = labs.get(number)
    vs = variants(lab)
    if variant is not None:
        vs = [v for v in vs if v.name == variant]
    if args is not None or not vs:
        name = variant or ""
        vs = [Variant(lab, name, lab.transcript_path(name), shlex.split(args or ""))]
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
    for lab in labs.all_labs():
        if only and lab.slug != labs.get(only).slug:
            continue
        for v in variants(lab):
            logs = Path(tempfile.mkdtemp(prefix="mmaplab-vg."))
            prefix = ["valgrind", "--tool=memcheck", "--quiet", "--vgdb=no", "--trace-children=yes",
                      "--child-silent-after-fork=no", "--leak-check=full",
                      "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                      f"--log-file={logs}/vg.%p"]
            r = run_variant(v, timeout=5 * lab_timeout(), prefix=prefix)      # valgrind: ~5x slower
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


def cmd_repeat(runs, only=None, log=print):
    """Run every transcript `runs` times (round after round) and count the runs
    whose normalised output is the transcript byte for byte (exit 0, nothing
    left behind).  harness/stress.sh runs this pinned to one CPU and under load."""
    vs = [v for lab in labs.all_labs() if not only or lab.slug == labs.get(only).slug for v in variants(lab)]
    same = {v.id: 0 for v in vs}
    first_bad = {}
    t0 = time.monotonic()
    log(f"repeat: {len(vs)} transcript(s) x {runs} run(s); machine slowness {runner.slowness():.2f}, "
        f"time limit per run {lab_timeout():.0f} s")
    for i in range(runs):
        bad = []
        for v in vs:
            r = run_variant(v)
            report = compare(v, r)
            if report is None:
                same[v.id] += 1
            else:
                bad.append(v.id)
                first_bad.setdefault(v.id, f"run {i + 1}: {report}")
        log(f"round {i + 1}/{runs}: {len(vs) - len(bad)}/{len(vs)} identical"
            + (f"; differ: {', '.join(bad)}" if bad else "") + f"  ({time.monotonic() - t0:.0f} s)")
    width = max([len(k) for k in same] + [10])
    log("")
    for k, n in same.items():
        log(f"  {k:<{width}}  identical {n}/{runs}")
    total = sum(same.values())
    log(f"repeat: {total}/{len(vs) * runs} runs identical to their transcripts, "
        f"{len(vs) * runs - total} differ; {len(first_bad)} transcript(s) ever differed")
    for k, report in first_bad.items():
        log("")
        log(f"first difference of {k}, {report}")
    return 1 if first_bad else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("expected", help="rewrite a lab's transcript(s) for review")
    e.add_argument("lab")
    e.add_argument("--variant")
    e.add_argument("--args")
    m = sub.add_parser("memcheck", help="run every lab under valgrind memcheck")
    m.add_argument("lab", nargs="?")
    r = sub.add_parser("repeat", help="run every transcript N times and count identical runs (harness/stress.sh)")
    r.add_argument("-n", "--runs", type=int, default=20)
    r.add_argument("lab", nargs="?")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "expected":
            return cmd_expected(a.lab, a.variant, a.args)
        if a.cmd == "repeat":
            return cmd_repeat(a.runs, a.lab)
        return cmd_memcheck(a.lab)
    except (labs.LabError, TranscriptError, FileNotFoundError) as err:
        print(f"mmaplabs: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
