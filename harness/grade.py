#!/usr/bin/env python3
"""grade: score student submissions against the labs' transcripts.

    grade.py grade   [--submission PATH] [--labs 9,10] [--expected DIR[:DIR]] [--out build/grade]
    grade.py all     SUBMISSIONS_DIR [-j N] [--labs ...] [--expected ...] [--out build/grade-all]
    grade.py handout [--expected DIR[:DIR]] [--out build/handout]
    (also --repeat N, --timeout-scale X, --timeout-floor S; make passes SUBMISSION,
    LABS, EXPECTED, TIMEOUT_SCALE, TIMEOUT_FLOOR through the environment)

This file only orchestrates, from a Settings: which labs and variants
(harness/labs.py, mmaplabs.variants), staging and building a submission,
calibrating time limits, running each case (harness/runner.py, sandboxed),
then scoring (harness/scoring.py, the rule) and reports (harness/reports.py,
the formats).  The handout is harness/handout.py.

  * Student-owned files are each lab's .c files (labs/NN-slug/*.c), nothing
    else; the Makefile, labs/labs.mk, labs/common, a lab's other files, the
    harness and the transcripts come from this tree.
  * Every lab is worth LAB_POINTS, split evenly across its variants (the
    public transcripts in expected/ plus hidden ones from --expected DIRs).
  * Timeout per variant = max(scale x the reference solution's time on this
    machine, floor); the reference is measured once, cached per machine and tree.
  * Everything runs in the sandbox, compiling included.
Standard library only.
"""
import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labs  # noqa: E402
import mmaplabs  # noqa: E402
import reports  # noqa: E402
import runner  # noqa: E402
import scoring  # noqa: E402

ROOT = labs.ROOT
LAB_POINTS = 10.0
REPEAT = 3
MAX_SOURCE = 1 << 20


@dataclass(frozen=True)
class Settings:
    """Everything that decides a grade, besides the files."""
    labs: str = ""                   # "9,10": only these labs; "": every lab
    hidden: tuple = ()               # folders of hidden transcripts
    repeat: int = REPEAT             # runs per variant
    scale: float = field(default_factory=lambda: float(os.environ.get("TIMEOUT_SCALE", "10")))
    floor: float = field(default_factory=lambda: float(os.environ.get("TIMEOUT_FLOOR", "5")))

    @property
    def timeout_rule(self):
        return f"{self.scale:g} x the reference time, at least {self.floor:g} s"

    def argv(self):
        """The command-line options that give a child grader these settings."""
        a = ["--repeat", str(self.repeat), "--timeout-scale", str(self.scale), "--timeout-floor", str(self.floor)]
        if self.labs:
            a += ["--labs", self.labs]
        if self.hidden:
            a += ["--expected", ":".join(str(Path(d).resolve()) for d in self.hidden)]
        return a

    def key(self):
        return f"{self.labs}|{self.repeat}|{self.scale}|{self.floor}|{LAB_POINTS}"


# ---- cases -----------------------------------------------------------------

@dataclass
class Case:
    variant: mmaplabs.Variant
    hidden: bool
    max_score: float
    number: str
    status: str = "not graded"
    score: float = 0.0
    steps_ok: int = 0
    steps_total: int = 0
    seconds: float = 0.0
    detail: str = ""                 # Markdown, already hidden-safe
    timeout: float = 0.0

    @property
    def lab(self):
        return self.variant.lab.slug

    @property
    def name(self):
        if self.hidden:
            return f"{self.lab}: hidden variant {self.number.split('.')[1]}"
        return self.lab + (f" ({self.variant.name})" if self.variant.name else "")

    @property
    def id(self):
        return (f"{self.lab}.hidden{self.number.split('.')[1]}" if self.hidden else self.variant.id)

    @property
    def passed(self):
        return self.status == "passed"

    def record(self, verdict):
        self.status, self.score = verdict.status, verdict.score
        self.steps_ok, self.steps_total = verdict.steps_ok, verdict.steps_total


def select_labs(spec):
    """'9,10' or '' (every lab) -> [Lab], in curriculum order."""
    if not spec:
        return labs.all_labs()
    chosen = {labs.get(word.split("-")[0]).slug for word in spec.replace(",", " ").split()}
    return [lab for lab in labs.all_labs() if lab.slug in chosen]


def collect(labs_sel, hidden_dirs):
    cases, warnings = [], []
    for lab in labs_sel:
        vs = [(v, False) for v in mmaplabs.variants(lab)]
        vs += [(v, True) for d in hidden_dirs for v in mmaplabs.variants(lab, d)]
        if not vs:
            warnings.append(f"{lab.slug}: no transcript in expected/, not graded")
            continue
        for i, (v, hidden) in enumerate(vs, 1):
            cases.append(Case(v, hidden, LAB_POINTS / len(vs), f"{lab.number}.{i}"))
    return cases, warnings


# ---- the student's files ------------------------------------------------------

def student_labs_dir(sub):
    sub = Path(sub)
    if (sub / "labs").is_dir():
        return sub / "labs"
    if any((sub / slug).is_dir() for slug in labs.slugs()):
        return sub
    return sub / "labs"


def student_files(sub, labs_sel):
    """{'labs/NN-slug/x.c': bytes or an error string} for the files the student owns."""
    out, base = {}, student_labs_dir(sub)
    for lab in labs_sel:
        for ref in lab.sources():
            rel, path = f"labs/{lab.slug}/{ref.name}", base / lab.slug / ref.name
            if any(p.is_symlink() for p in (base, base / lab.slug, path)) or (path.exists() and not path.is_file()):
                out[rel] = f"{rel} is not a regular file (symbolic links are not followed)"
            elif not path.exists():
                out[rel] = f"{rel} is missing from the submission"
            elif path.stat().st_nlink > 1:      # a hard link could point at a file the student may not read
                out[rel] = f"{rel} has other hard links; submit a plain copy"
            elif path.stat().st_size > MAX_SOURCE:
                out[rel] = f"{rel} is larger than {MAX_SOURCE} bytes"
            else:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as f:
                    out[rel] = f.read(MAX_SOURCE)
    return out


def files_hash(files):
    h = hashlib.sha256()
    for rel in sorted(files):
        v = files[rel]
        h.update(rel.encode() + b"\0" + (v if isinstance(v, bytes) else v.encode()) + b"\0")
    return h.hexdigest()


# ---- staging and building -----------------------------------------------------

MAKE = ["/usr/bin/make", "-s", "--no-print-directory", "BUILD=build"]


def _chown_tree(where, uid):
    for d, dirs, fs in os.walk(where):
        for n in [d] + [os.path.join(d, x) for x in dirs + fs]:
            os.lchown(n, uid, uid)


def staging_base(lvl):
    """Where build trees go: TMPDIR, unless the sandbox uid could not reach it."""
    base = tempfile.gettempdir()
    if os.geteuid() == 0 and lvl != "bwrap" and not all(os.stat(p).st_mode & 0o001 for p in Path(base).parents):
        base = "/tmp"          # without bwrap's mounts, the sandbox uid must reach the programs itself
    return base


def prepare(labs_sel, lvl, where):
    """The grader's part of a build tree, built: the Makefile, labs/labs.mk,
    labs/common and each lab's files that are not its sources, with labs/common
    compiled in the sandbox (the environment of every build there).  stage()
    copies it whole, times kept, so make finds those objects up to date and
    compiles only the student's files."""
    where = Path(where)
    (where / "labs").mkdir(parents=True)
    shutil.copy2(ROOT / "Makefile", where / "Makefile")
    shutil.copy2(ROOT / "labs" / "labs.mk", where / "labs" / "labs.mk")
    shutil.copytree(ROOT / "labs" / "common", where / "labs" / "common")
    for lab in labs_sel:
        (where / "labs" / lab.slug).mkdir()
        sources = set(lab.sources())
        for f in lab.folder.iterdir():      # headers and data of the lab: the grader's
            if f.is_file() and not f.is_symlink() and f not in sources:
                shutil.copy2(f, where / "labs" / lab.slug / f.name)
    if os.geteuid() == 0:
        _chown_tree(where, runner.SANDBOX_UID)
    targets = [str(o) for o in labs.common_objects("build", ROOT)]
    r = runner.run(MAKE + targets, runner.seconds(120), level=lvl, workdir=where,
                   limits=runner.BUILD_LIMITS, check_workdir=False)
    if os.geteuid() == 0:
        _chown_tree(where, 0)              # nothing run later as the sandbox uid may change it
    if r.returncode != 0 or r.timed_out or not all((where / t).exists() for t in targets):
        raise SystemExit(f"cannot build labs/common in the sandbox ({runner.describe(lvl)}):\n"
                         + (r.stderr + r.stdout)[-2000:])


@contextmanager
def grader_part(labs_sel, lvl):
    """prepare() into a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mmaplab-grader.", dir=staging_base(lvl)) as d:
        os.chmod(d, 0o711)
        prepare(labs_sel, lvl, Path(d) / "tree")
        yield Path(d) / "tree"


def stage(template, files, where):
    """A build tree: a copy of prepare()'s, and the student's files."""
    where = Path(where)
    shutil.copytree(template, where, symlinks=True)
    problems = {}
    for rel, data in files.items():
        if isinstance(data, bytes):
            (where / rel).write_bytes(data)
        else:
            problems.setdefault(rel.split("/")[1], []).append(data)
    if os.geteuid() == 0:
        _chown_tree(where, runner.SANDBOX_UID)
    return problems


def build(where, lab, lvl):
    """Compile one lab's programs inside the sandbox; None or the compiler's first lines."""
    targets = [str(lab.program_path("build", p)) for p in lab.programs]
    r = runner.run(MAKE + targets, runner.seconds(120), level=lvl, workdir=where,
                   limits=runner.BUILD_LIMITS, check_workdir=False)
    if r.returncode == 0 and not r.timed_out and all((Path(where) / t).exists() for t in targets):
        return None
    lines = (r.stderr + r.stdout).replace(str(where) + "/", "").splitlines()
    first = [l for l in lines if "error" in l.lower()][:1]
    start = lines.index(first[0]) if first else 0
    text = "\n".join(lines[max(0, start - 2):start + 15]) or f"make exited with {r.returncode}"
    return ("compiler timed out\n" if r.timed_out else "") + text


# ---- calibration ------------------------------------------------------------

def calibration_file():
    return labs.build_dir() / "grade" / "calibration.json"


def case_hash(c):
    """What a reference time depends on: the lab's files, common, labs.mk, the transcript."""
    h = hashlib.sha256(c.variant.path.read_bytes())
    lab = c.variant.lab
    for p in sorted(lab.folder.glob("*")) + sorted((ROOT / "labs" / "common").glob("*")) + [ROOT / "labs" / "labs.mk"]:
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return c.id + ":" + h.hexdigest()[:12]


def calibrate(cases, lvl, cache_file, log):
    """Reference seconds per case, measured once per machine, sandbox level and tree."""
    machine = f"{platform.node()}|{os.cpu_count()}|{platform.release()}|{lvl}|uid{os.geteuid()}"
    try:
        cache = json.loads(Path(cache_file).read_text())
    except (OSError, ValueError):
        cache = {}
    times = cache.get(machine, {})
    todo = [c for c in cases if case_hash(c) not in times]
    if todo:
        log(f"calibrating timeouts: running the reference solution once per variant ({len(todo)})")
    for c in todo:
        prog = c.variant.lab.program_path(labs.build_dir())
        if not prog.exists():
            raise SystemExit(f"{prog} is not built: run 'make all' first")
        with tempfile.TemporaryDirectory(prefix="mmaplab-cal.") as work:
            os.chmod(work, 0o755)
            r = runner.run([prog] + c.variant.args, runner.seconds(60), level=lvl, workdir=work, ro_binds=[prog.parent])
        if r.timed_out or mmaplabs.normalise(r.stdout) != mmaplabs.normalise(c.variant.body):
            log(f"WARNING: the reference solution does not reproduce {c.id} in the sandbox "
                f"(status {r.returncode}{', timed out' if r.timed_out else ''}); fix the tree before grading")
        times[case_hash(c)] = round(r.seconds, 3)
    if todo:
        cache[machine] = times
        Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
        reports.atomic_write(cache_file, json.dumps(cache, indent=1))
    return {c.id: times[case_hash(c)] for c in cases}


# ---- running one case --------------------------------------------------------

def run_case(case, prog, lvl, settings, runs_dir, repro):
    """Run a case's variant settings.repeat times (fewer if a run stops it), score it."""
    v = case.variant
    runs = []
    for _ in range(settings.repeat):
        work = tempfile.mkdtemp(prefix="run.", dir=runs_dir)
        os.chmod(work, 0o755)
        try:
            r = runner.run([prog] + v.args, case.timeout, level=lvl, workdir=work, ro_binds=[prog.parent])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs.append(r)
        if scoring.stops(r):
            break
    case.seconds = sum(r.seconds for r in runs)
    verdict = scoring.score(v.body, runs, case.max_score)
    case.record(verdict)
    case.detail = reports.case_feedback(case, verdict, runs, timeout_rule=settings.timeout_rule,
                                        output_limit=runner.Limits().output, repro=repro(case))


# ---- grading one submission ----------------------------------------------------

def grade(submission, out, settings, student=None, log=print, quiet=False, template=None):
    """Grade one submission (None: this tree) into `out`.  Returns (cases, csv row).
    template: prepare()'s tree to reuse (grade-all and the handout make one for all)."""
    start = time.monotonic()
    sub = Path(submission).resolve() if submission else ROOT
    student = student or (sub.name if submission else "reference")
    labs_sel = select_labs(settings.labs)
    cases, warnings = collect(labs_sel, [Path(d) for d in settings.hidden])
    lvl, why = runner.level()
    header = [f"- submission: `{sub}`", f"- {runner.describe(lvl)}" + (f" ({why})" if why and lvl != "bwrap" else ""),
              f"- each variant runs {settings.repeat} time(s); timeout = max({settings.scale:g} x reference time, {settings.floor:g} s)"]
    header += [f"- warning: {w}" for w in warnings]
    lab_notes = {}
    reports.write(out, student, cases, header, False, 0, lab_notes)   # every case listed before anything runs
    if not quiet:
        log("\n".join(header))
    times = calibrate(cases, lvl, calibration_file(), log)
    for c in cases:
        c.timeout = max(settings.scale * times[c.id], settings.floor)

    def repro(c):
        n = c.variant.lab.number
        args = f" ARGS={shlex.quote(shlex.join(c.variant.args))}" if c.variant.args else ""
        grader = f"make grade{' SUBMISSION=' + shlex.quote(str(sub)) if submission else ''} LABS={n}"
        return f"`make lab-{n}{args}` in the submission's tree; the grader's command: `{grader}`"

    files = student_files(sub, labs_sel)
    with tempfile.TemporaryDirectory(prefix="mmaplab-grade.", dir=staging_base(lvl)) as tmp, \
            (nullcontext(template) if template else grader_part(labs_sel, lvl)) as part:
        os.chmod(tmp, 0o711)
        where = Path(tmp) / "tree"
        runs = Path(tmp) / "runs"
        runs.mkdir()
        problems = stage(part, files, where)
        for lab in labs_sel:
            lc = [c for c in cases if c.lab == lab.slug]
            if not lc:
                continue
            if lab.slug in problems:
                note, status = "\n".join(f"- {p}" for p in problems[lab.slug]), "missing"
            else:
                err = build(where, lab, lvl)
                note, status = (None, None) if err is None else (
                    "does not compile; the compiler's first error lines:\n\n```\n" + err + "\n```", "compile error")
            if note:
                lab_notes[lab.slug] = note
                for c in lc:
                    c.record(scoring.no_run(status, c.variant.body))
                    c.detail = reports.lab_note_feedback(c, status, note)
            else:
                for c in lc:
                    run_case(c, lab.program_path(where / "build"), lvl, settings, runs, repro)
                    reports.write(out, student, cases, header, False, time.monotonic() - start, lab_notes)
            reports.write(out, student, cases, header, False, time.monotonic() - start, lab_notes)
            if not quiet:
                for c in lc:
                    log(f"  {c.name:44s} {c.status:18s} {c.score:5.1f}/{c.max_score:g}")
    row = reports.write(out, student, cases, header, True, time.monotonic() - start, lab_notes)
    return cases, row


# ---- batch grading ------------------------------------------------------------

def grader_files():
    """Every file of this tree a grade depends on, but the student's and the transcripts."""
    here = Path(__file__).resolve().parent
    files = [p for p in sorted(here.glob("*.py")) if not p.name.startswith(("test_", "conftest"))]
    files += [ROOT / "Makefile", ROOT / "labs" / "labs.mk"]
    files += sorted(p for p in (ROOT / "labs" / "common").glob("*") if p.is_file())
    for lab in labs.all_labs():
        sources = set(lab.sources())
        files += sorted(p for p in lab.folder.glob("*") if p.is_file() and p not in sources)
    return files


def grader_version(settings):
    h = hashlib.sha256(settings.key().encode())
    paths = grader_files() + sorted((ROOT / "expected").glob("*.txt")) \
        + [p for d in settings.hidden for p in sorted(Path(d).glob("*.txt"))]
    for p in paths:
        h.update(str(p).encode() + p.read_bytes())
    return h.hexdigest()[:16]


def grade_all(subs_dir, out, settings, jobs, log=print):
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / "work").mkdir(exist_ok=True)
    subs = sorted(p for p in Path(subs_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
    labs_sel = select_labs(settings.labs)
    lab_slugs = [lab.slug for lab in labs_sel]
    lvl, _ = runner.level()
    if lvl != "bwrap" and jobs > 1:
        log(f"sandbox level {lvl}: /dev/shm and /tmp are shared, so submissions are graded one at a time (-j 1)")
        jobs = 1
    log(runner.describe(lvl))
    calibrate(collect(labs_sel, [Path(d) for d in settings.hidden])[0], lvl, calibration_file(), log)
    version = grader_version(settings)
    state_file = out / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    rows, todo = {}, []
    for s in subs:
        key = version + ":" + files_hash(student_files(s, labs_sel))
        if state.get(s.name, {}).get("key") == key:
            rows[s.name] = state[s.name]["row"]
        else:
            todo.append((s, key))
    log(f"{len(subs)} submission(s): {len(subs) - len(todo)} unchanged since last graded, {len(todo)} to grade, -j {jobs}")

    def one(s, key, part):
        work = out / "work" / s.name
        cmd = [sys.executable, str(Path(__file__).resolve()), "grade", "--submission", str(s.resolve()),
               "--out", str(work), "--student", s.name, "--quiet", "--grader-part", str(part), *settings.argv()]
        t = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, errors="backslashreplace")
        (work / "log.txt").parent.mkdir(parents=True, exist_ok=True)
        (work / "log.txt").write_text(p.stdout + p.stderr)
        return s, key, p.returncode, time.monotonic() - t

    def save():
        reports.gradebook(out / "gradebook.csv", rows, lab_slugs)
        reports.atomic_write(state_file, json.dumps(state, indent=1))

    start, done = time.monotonic(), 0
    with (grader_part(labs_sel, lvl) if todo else nullcontext()) as part, \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, s, key, part) for s, key in todo]
        for f in as_completed(futures):
            s, key, rc, secs = f.result()
            done += 1
            work = out / "work" / s.name
            row, final = reports.read_row(work) or ({"student": s.name, "score": 0, "max_score": "", "percent": 0}, False)
            if rc != 0 or not final:
                row["notes"] = f"GRADER ERROR (exit {rc}), see {work / 'log.txt'}; " + row.get("notes", "")
            else:
                state[s.name] = {"key": key, "row": row}
            rows[s.name] = row
            if (work / "feedback.md").exists():
                shutil.copy(work / "feedback.md", out / "feedback" / f"{s.name}.md")
            save()
            eta = (time.monotonic() - start) / done * (len(todo) - done)
            log(f"[{done}/{len(todo)}] {s.name}: {row.get('score')}/{row.get('max_score')} ({secs:.1f} s)"
                f"{' ' + row['notes'][:60] if rc else ''}  ETA {int(eta) // 60}:{int(eta) % 60:02d}")
    save()
    log(f"gradebook: {out / 'gradebook.csv'} ({len(rows)} rows); feedback: {out / 'feedback'}/")
    return rows


# ---- command line ---------------------------------------------------------------

def main(argv=None):
    defaults = Settings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--labs", default=os.environ.get("LABS", ""), help="only these labs: 9,10")
    common.add_argument("--expected", default=os.environ.get("EXPECTED", ""),
                        help="extra (hidden) transcript folders, ':'-separated")
    common.add_argument("--repeat", type=int, default=defaults.repeat)
    common.add_argument("--timeout-scale", type=float, default=defaults.scale)
    common.add_argument("--timeout-floor", type=float, default=defaults.floor)
    g = sub.add_parser("grade", parents=[common], help="grade one submission (default: this tree)")
    g.add_argument("--submission", default=os.environ.get("SUBMISSION") or None)
    g.add_argument("--out", default=str(labs.build_dir() / "grade"))
    g.add_argument("--student")
    g.add_argument("--quiet", action="store_true")
    g.add_argument("--grader-part", help=argparse.SUPPRESS)      # grade-all's prepare()d tree
    a = sub.add_parser("all", parents=[common], help="grade every submission in a folder")
    a.add_argument("submissions")
    a.add_argument("-j", "--jobs", type=int, default=1)
    a.add_argument("--out", default=str(labs.build_dir() / "grade-all"))
    h = sub.add_parser("handout", help="write and check the student tree")
    h.add_argument("--out", default=str(labs.build_dir() / "handout"))
    h.add_argument("--expected", default=os.environ.get("EXPECTED", ""), help="hidden transcript folders, to check none leaks")
    args = ap.parse_args(argv)
    hidden = tuple(d for d in args.expected.split(":") if d)
    if args.cmd == "handout":
        import handout
        return handout.make_handout(args.out, hidden)
    settings = Settings(labs=args.labs, hidden=hidden, repeat=args.repeat,
                        scale=args.timeout_scale, floor=args.timeout_floor)
    for d in hidden:
        if not Path(d).is_dir():
            ap.error(f"--expected {d}: no such folder")
    try:
        if args.cmd == "all":
            if not Path(args.submissions).is_dir():
                ap.error(f"SUBMISSIONS={args.submissions}: no such folder")
            grade_all(args.submissions, args.out, settings, args.jobs)
            return 0
        if args.submission and not Path(args.submission).is_dir():
            ap.error(f"SUBMISSION={args.submission}: no such folder")
        cases, row = grade(args.submission, args.out, settings, args.student, quiet=args.quiet,
                           template=args.grader_part and Path(args.grader_part))
    except (labs.LabError, mmaplabs.TranscriptError) as e:
        print(f"grade: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print()
        print(reports.table(cases))
        failed = [c for c in cases if not c.passed and not c.hidden and c.detail]
        for c in failed[:3]:
            print("\n" + c.detail)
        if len(failed) > 3:
            print(f"\n... {len(failed) - 3} more: see {Path(args.out) / 'feedback.md'}")
        print(f"\nwrote {args.out}/results.json, junit.xml, grades.csv, feedback.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
