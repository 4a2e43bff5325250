#!/usr/bin/env python3
"""grade: score student submissions against the labs' transcripts.

    grade.py grade   [--submission PATH] [--labs 9,10] [--expected DIR[:DIR]] [--out build/grade]
    grade.py all     SUBMISSIONS_DIR [-j N] [--labs ...] [--expected ...] [--out build/grade-all]
    grade.py handout [--expected DIR[:DIR]] [--out build/handout]
    (also --repeat N, --timeout-scale X, --timeout-floor S; make passes SUBMISSION,
    LABS, EXPECTED, TIMEOUT_SCALE, TIMEOUT_FLOOR through the environment)

The rules (harness/GRADING.md says the same for instructors):
  * Student-owned files are labs/NN-slug/*.c, nothing else; the Makefile,
    labs/common, the harness and the transcripts come from this tree.
  * Every lab is worth LAB_POINTS, split evenly across its variants (the
    public transcripts in expected/ plus hidden ones from --expected DIRs),
    and a variant's share evenly across its steps [1], [2] ...  A step
    counts when its normalised text matches in every repetition.  Full marks
    for a variant also need the whole transcript, exit status 0 and nothing
    left behind: otherwise at least one step's share is withheld.
  * Timeout per variant = max(scale x the reference solution's time on this
    machine, floor); the reference is measured once, cached per machine and tree.
  * Everything runs in harness/sandbox.py, compiling included.
Standard library only.
"""
import argparse
import csv
import hashlib
import io
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handout  # noqa: E402
import mmaplabs  # noqa: E402
import sandbox  # noqa: E402

ROOT = mmaplabs.ROOT
LAB_POINTS = 10.0
REPEAT = 3
SCALE = float(os.environ.get("TIMEOUT_SCALE", "10"))
FLOOR = float(os.environ.get("TIMEOUT_FLOOR", "5"))
MAX_SOURCE = 1 << 20
DIFF_LINES = 120
HIDDEN_VISIBILITY = "after_published"
GRADER_FILES = ["harness/grade.py", "harness/sandbox.py", "harness/mmaplabs.py", "harness/handout.py", "Makefile"]


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
        return self.variant.lab

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


def select_labs(spec):
    """'9,10' or '' (every lab) -> lab folder names."""
    if not spec:
        return mmaplabs.labs()
    out = []
    for word in spec.replace(",", " ").split():
        out.append(mmaplabs.lab_for(word.split("-")[0]))
    return sorted(set(out))


def collect(labs, hidden_dirs):
    cases, warnings = [], []
    for lab in labs:
        vs = [(v, False) for v in mmaplabs.variants(lab)]
        vs += [(v, True) for d in hidden_dirs for v in mmaplabs.variants(lab, d)]
        if not vs:
            warnings.append(f"{lab}: no transcript in expected/, not graded")
            continue
        for i, (v, hidden) in enumerate(vs, 1):
            cases.append(Case(v, hidden, LAB_POINTS / len(vs), f"{int(lab[:2])}.{i}"))
    return cases, warnings


# ---- staging and building ---------------------------------------------------

def student_labs_dir(sub):
    sub = Path(sub)
    if (sub / "labs").is_dir():
        return sub / "labs"
    if any(mmaplabs.LAB_RE.match(p.name) for p in sub.iterdir() if p.is_dir()):
        return sub
    return sub / "labs"


def student_files(sub, labs):
    """{'labs/NN-slug/x.c': bytes or an error string} for the files the student owns."""
    out, base = {}, student_labs_dir(sub)
    for lab in labs:
        for ref in sorted((ROOT / "labs" / lab).glob("*.c")):
            rel, path = f"labs/{lab}/{ref.name}", base / lab / ref.name
            if any(p.is_symlink() for p in (base, base / lab, path)) or (path.exists() and not path.is_file()):
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


def stage(files, labs, where):
    """A build tree: the grader's Makefile and labs/common, the student's labs."""
    where = Path(where)
    shutil.copy2(ROOT / "Makefile", where / "Makefile")
    shutil.copytree(ROOT / "labs" / "common", where / "labs" / "common")
    common_o = mmaplabs.build_dir() / "common" / "common.o"
    if not common_o.exists():
        raise SystemExit(f"{common_o} is not built: run 'make all' first")
    (where / "build" / "common").mkdir(parents=True)
    shutil.copy2(common_o, where / "build" / "common" / "common.o")
    os.utime(where / "build" / "common" / "common.o")   # newer than the sources: never rebuilt
    problems = {}
    for lab in labs:
        (where / "labs" / lab).mkdir(parents=True)
        for f in (ROOT / "labs" / lab).iterdir():      # headers and data of the lab: the grader's
            if f.is_file() and not f.is_symlink() and f.suffix != ".c":
                shutil.copy2(f, where / "labs" / lab / f.name)
        for rel, data in files.items():
            if rel.startswith(f"labs/{lab}/"):
                if isinstance(data, bytes):
                    (where / rel).write_bytes(data)
                else:
                    problems.setdefault(lab, []).append(data)
    if os.geteuid() == 0:
        for d, dirs, fs in os.walk(where):
            for n in [d] + [os.path.join(d, x) for x in dirs + fs]:
                os.lchown(n, sandbox.SANDBOX_UID, sandbox.SANDBOX_UID)
    return problems


def build(where, lab, lvl):
    """Compile one lab inside the sandbox; None or the compiler's first lines."""
    targets = [f"build/{lab}/{p.stem}" for p in sorted((ROOT / "labs" / lab).glob("*.c"))]
    r = sandbox.run(["/usr/bin/make", "-s", "--no-print-directory", "BUILD=build", *targets], where,
                    timeout=120, limits=sandbox.BUILD_LIMITS, lvl=lvl, check_workdir=False)
    if r.returncode == 0 and not r.timed_out and all((Path(where) / t).exists() for t in targets):
        return None
    lines = (r.stderr + r.stdout).replace(str(where) + "/", "").splitlines()
    first = [l for l in lines if "error" in l.lower()][:1]
    start = lines.index(first[0]) if first else 0
    text = "\n".join(lines[max(0, start - 2):start + 15]) or f"make exited with {r.returncode}"
    return ("compiler timed out\n" if r.timed_out else "") + text


# ---- calibration ------------------------------------------------------------

def case_hash(c):
    """What a reference time depends on: the lab's sources, common, the transcript."""
    h = hashlib.sha256(c.variant.path.read_bytes())
    for p in sorted((ROOT / "labs" / c.lab).glob("*")) + sorted((ROOT / "labs" / "common").glob("*")):
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
        prog = mmaplabs.program_path(c.lab)
        if not prog.exists():
            raise SystemExit(f"{prog} is not built: run 'make all' first")
        with tempfile.TemporaryDirectory(prefix="mmaplab-cal.") as work:
            os.chmod(work, 0o755)
            r = sandbox.run([prog] + c.variant.args, work, timeout=60, ro_binds=[prog.parent], lvl=lvl)
        if r.timed_out or mmaplabs.normalise(r.stdout) != mmaplabs.normalise(c.variant.body):
            log(f"WARNING: the reference solution does not reproduce {c.id} in the sandbox "
                f"(status {r.returncode}{', timed out' if r.timed_out else ''}); fix the tree before grading")
        times[case_hash(c)] = round(r.seconds, 3)
    if todo:
        cache[machine] = times
        Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache_file, json.dumps(cache, indent=1))
    return {c.id: times[case_hash(c)] for c in cases}


# ---- running one case --------------------------------------------------------

def run_case(case, prog, lvl, repeat, runs_dir, repro):
    v = case.variant
    runs = []
    for _ in range(repeat):
        work = tempfile.mkdtemp(prefix="run.", dir=runs_dir)
        os.chmod(work, 0o755)
        try:
            r = sandbox.run([prog] + v.args, work, case.timeout, ro_binds=[prog.parent], lvl=lvl)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs.append(r)
        if r.timed_out or r.returncode < 0 or r.output_limited:
            break
    case.seconds = sum(r.seconds for r in runs)
    expected = mmaplabs.normalise(v.body)
    exp_steps = [(n, t) for n, t in mmaplabs.steps(expected) if n > 0]
    actual = [mmaplabs.normalise(r.stdout) for r in runs]
    got = [dict(mmaplabs.steps(a)) for a in actual]
    ok = sum(1 for n, t in exp_steps if all(g.get(n) == t for g in got))
    differs = any(a != expected for a in actual)
    nondet = len(set(actual)) > 1
    leftovers = sorted({l for r in runs for l in r.leftovers})
    bad = next((r for r in runs if r.timed_out or r.returncode < 0 or r.output_limited), None)
    last = runs[-1]
    if bad and bad.timed_out:
        status = "timeout"
    elif bad and bad.output_limited:
        status = "output limit"
    elif bad:
        status = f"crashed ({bad.signal_name})"
    elif nondet:
        status = "nondeterministic"
    elif differs or any(r.returncode != 0 for r in runs):
        status = "failed"
    elif leftovers:
        status = "hygiene"
    else:
        status = "passed"
    total = max(len(exp_steps), 1)
    if status != "passed" and ok == total:
        ok -= 1                      # full marks need a clean, exact run
    case.status, case.steps_ok, case.steps_total = status, ok, len(exp_steps)
    case.score = round(case.max_score * ok / total, 2)

    if case.hidden:
        case.detail = (f"**{case.name}**: {status}, {case.score:g}/{case.max_score:g} points "
                       f"({ok} of {len(exp_steps)} steps). Hidden variant: its command and transcript are not shown.")
        return
    md = [f"**{case.name}** `$ {v.command()}`: {status}, {case.score:g}/{case.max_score:g} points "
          f"({ok} of {len(exp_steps)} steps)", ""]
    if bad and bad.timed_out:
        md.append(f"- timed out after {case.timeout:.1f} s (the limit: {SCALE:g} x the reference time, at least "
                  f"{FLOOR:g} s); every process it started was killed")
    elif bad and bad.output_limited:
        md.append(f"- printed more than {sandbox.Limits().output} bytes; its output was cut there")
    elif bad:
        md.append(f"- killed by {bad.signal_name}")
    elif last.returncode != 0:
        md.append(f"- exit status {last.returncode} (0 means every check held)")
    if nondet:
        i = next(i for i, a in enumerate(actual) if a != actual[0])
        md.append(f"- nondeterministic: run {i + 1} of {len(runs)} printed something else than run 1 "
                  f"(first at step {mmaplabs.first_differing_step(actual[0], actual[i])})")
    for l in leftovers:
        md.append(f"- left behind: {l}")
    for r in runs:
        for n in r.notes:
            md.append(f"- sandbox: {n}")
    bad_run = next((a for a in actual if a != expected), None)
    if bad_run is not None:
        first = mmaplabs.first_differing_step(expected, bad_run)
        d = mmaplabs.diff(expected, bad_run, v.path.name).splitlines()
        if len(d) > DIFF_LINES:
            d = d[:DIFF_LINES] + [f"... ({len(d) - DIFF_LINES} more diff lines)"]
        where = {None: "the transcript differs", 0: "first difference: before step [1]"}.get(first, f"first differing step: [{first}]")
        md += [f"- {where}", "",
               "```diff", *d, "```"]
    err = (bad or last).stderr.strip()
    if err:
        lines = err.splitlines()
        md += ["", "stderr:", "```", *lines[:20], *(["..."] if len(lines) > 20 else []), "```"]
    md += ["", "reproduce: " + repro(case)]
    case.detail = "\n".join(md)


# ---- reports ---------------------------------------------------------------

def atomic_write(path, text):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def xml_safe(s):
    return "".join(ch if ch in "\t\n\r" or (ch >= " " and ch not in "\ufffe\uffff") else "\\x%02x" % ord(ch)
                   for ch in s)


def write_reports(out, student, cases, header, final, elapsed, lab_notes):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = round(sum(c.score for c in cases), 2)
    max_total = round(sum(c.max_score for c in cases), 2)
    state = "" if final else "\n\n**Grading was interrupted or is still running: cases marked 'not graded' scored 0.**"
    summary = "\n".join(header) + state
    tests = [{
        "score": c.score, "max_score": round(c.max_score, 2),
        "status": "passed" if c.passed else "failed",
        "name": c.name, "name_format": "text", "number": c.number,
        "output": c.detail or f"{c.status}", "output_format": "md",
        "tags": [c.lab, c.status],
        "visibility": HIDDEN_VISIBILITY if c.hidden else "visible",
    } for c in cases]
    results = {"score": total, "execution_time": int(elapsed), "output": summary, "output_format": "md",
               "test_output_format": "md", "test_name_format": "text", "visibility": "visible",
               "stdout_visibility": "hidden", "tests": tests,
               "extra_data": {"student": student, "max_score": max_total, "final": final}}
    atomic_write(out / "results.json", json.dumps(results, indent=1, ensure_ascii=True))

    suites = ET.Element("testsuites", name="mmap-labs grading")
    suite = ET.SubElement(suites, "testsuite", name=student, tests=str(len(cases)),
                          failures=str(sum(1 for c in cases if c.status in ("failed", "hygiene", "nondeterministic"))),
                          errors=str(sum(1 for c in cases if not c.passed and c.status not in ("failed", "hygiene", "nondeterministic"))),
                          time="%.3f" % elapsed)
    for c in cases:
        tc = ET.SubElement(suite, "testcase", classname=c.lab, name=c.name, time="%.3f" % c.seconds)
        if not c.passed:
            kind = "failure" if c.status in ("failed", "hygiene", "nondeterministic") else "error"
            el = ET.SubElement(tc, kind, message=f"{c.status}: {c.score:g}/{c.max_score:g}", type=c.status)
            el.text = xml_safe(c.detail)
    atomic_write(out / "junit.xml", ET.tostring(suites, encoding="unicode"))

    labs = sorted({c.lab for c in cases})
    row = {"student": student, "score": total, "max_score": max_total,
           "percent": round(100 * total / max_total, 1) if max_total else 0.0}
    for lab in labs:
        row[lab] = round(sum(c.score for c in cases if c.lab == lab), 2)
    row["notes"] = "; ".join(f"{c.id}: {c.status}" for c in cases if not c.passed)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(row), lineterminator="\n")
    w.writeheader()
    w.writerow(row)
    atomic_write(out / "grades.csv", buf.getvalue())

    fb = [f"# Grading report: {student}", "", *header, state.strip(), ""]
    for lab in labs:
        lc = [c for c in cases if c.lab == lab]
        fb.append(f"## {lab}: {sum(c.score for c in lc):g}/{sum(c.max_score for c in lc):g}")
        fb.append("")
        if lab in lab_notes:
            fb += [lab_notes[lab], ""]
        for c in lc:      # a lab note (compile error, missing file) is shown once, above
            fb += [(c.detail.split("\n\n")[0] if lab in lab_notes else c.detail) or f"**{c.name}**: {c.status}", ""]
    atomic_write(out / "feedback.md", "\n".join(fb))
    return row


def table(cases):
    lines = [f"{'case':44s} {'status':18s} {'steps':>7s} {'points':>12s}"]
    for c in cases:
        lines.append(f"{c.name[:44]:44s} {c.status[:18]:18s} {c.steps_ok:>3d}/{c.steps_total:<3d} "
                     f"{c.score:>5.1f}/{c.max_score:<5.1f}")
    total, max_total = sum(c.score for c in cases), sum(c.max_score for c in cases)
    lines.append(f"{'total':44s} {'':18s} {'':7s} {total:>5.1f}/{max_total:<5.1f} "
                 f"({100 * total / max_total if max_total else 0:.1f} %)")
    return "\n".join(lines)


# ---- grading one submission ----------------------------------------------------

def grade(submission, out, labs_spec="", hidden_dirs=(), repeat=REPEAT, student=None, log=print, quiet=False):
    """Grade one submission (None: this tree).  Returns (cases, csv row)."""
    start = time.monotonic()
    sub = Path(submission).resolve() if submission else ROOT
    student = student or (sub.name if submission else "reference")
    labs = select_labs(labs_spec)
    cases, warnings = collect(labs, [Path(d) for d in hidden_dirs])
    lvl, why = sandbox.level()
    header = [f"- submission: `{sub}`", f"- {sandbox.describe(lvl)}" + (f" ({why})" if why and lvl != "bwrap" else ""),
              f"- each variant runs {repeat} time(s); timeout = max({SCALE:g} x reference time, {FLOOR:g} s)"]
    header += [f"- warning: {w}" for w in warnings]
    lab_notes = {}
    write_reports(out, student, cases, header, False, 0, lab_notes)   # every case listed before anything runs
    if not quiet:
        log("\n".join(header))
    times = calibrate(cases, lvl, mmaplabs.build_dir() / "grade" / "calibration.json", log)
    for c in cases:
        c.timeout = max(SCALE * times[c.id], FLOOR)

    def repro(c):
        n = int(c.lab[:2])
        args = f" ARGS={shlex.quote(shlex.join(c.variant.args))}" if c.variant.args else ""
        grader = f"make grade{' SUBMISSION=' + shlex.quote(str(sub)) if submission else ''} LABS={n}"
        return f"`make lab-{n}{args}` in the submission's tree; the grader's command: `{grader}`"

    files = student_files(sub, labs)
    base = tempfile.gettempdir()
    if os.geteuid() == 0 and lvl != "bwrap" and not all(os.stat(p).st_mode & 0o001 for p in Path(base).parents):
        base = "/tmp"          # without bwrap's mounts, the sandbox uid must reach the programs itself
    with tempfile.TemporaryDirectory(prefix="mmaplab-grade.", dir=base) as tmp:
        os.chmod(tmp, 0o711)
        where = Path(tmp) / "tree"
        where.mkdir()
        runs = Path(tmp) / "runs"
        runs.mkdir()
        problems = stage(files, labs, where)
        for lab in labs:
            lc = [c for c in cases if c.lab == lab]
            if not lc:
                continue
            if lab in problems:
                note, status = "\n".join(f"- {p}" for p in problems[lab]), "missing"
            else:
                err = build(where, lab, lvl)
                note, status = (None, None) if err is None else (
                    "does not compile; the compiler's first error lines:\n\n```\n" + err + "\n```", "compile error")
            if note:
                lab_notes[lab] = note
                for c in lc:
                    c.status, c.score, c.steps_total = status, 0.0, len(mmaplabs.steps(c.variant.body)) - 1
                    c.detail = f"**{c.name}**: {status}, 0/{c.max_score:g} points" + ("" if c.hidden else "\n\n" + note)
            else:
                for c in lc:
                    prog = where / "build" / lab / mmaplabs.entry_program(lab)
                    run_case(c, prog, lvl, repeat, runs, repro)
                    write_reports(out, student, cases, header, False, time.monotonic() - start, lab_notes)
            write_reports(out, student, cases, header, False, time.monotonic() - start, lab_notes)
            if not quiet:
                for c in lc:
                    log(f"  {c.name:44s} {c.status:18s} {c.score:5.1f}/{c.max_score:g}")
    row = write_reports(out, student, cases, header, True, time.monotonic() - start, lab_notes)
    return cases, row


# ---- batch grading ------------------------------------------------------------

def grader_version(labs_spec, hidden_dirs, repeat):
    h = hashlib.sha256(f"{labs_spec}|{repeat}|{SCALE}|{FLOOR}|{LAB_POINTS}".encode())
    paths = [ROOT / f for f in GRADER_FILES] \
        + sorted(p for p in (ROOT / "labs").glob("*/*") if p.is_file() and p.suffix != ".c") \
        + sorted((ROOT / "expected").glob("*.txt")) + [p for d in hidden_dirs for p in sorted(Path(d).glob("*.txt"))]
    for p in paths:
        h.update(str(p).encode() + p.read_bytes())
    return h.hexdigest()[:16]


def grade_all(subs_dir, out, jobs, labs_spec="", hidden_dirs=(), repeat=REPEAT, log=print):
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / "work").mkdir(exist_ok=True)
    subs = sorted(p for p in Path(subs_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
    labs = select_labs(labs_spec)
    lvl, _ = sandbox.level()
    if lvl != "bwrap" and jobs > 1:
        log(f"sandbox level {lvl}: /dev/shm and /tmp are shared, so submissions are graded one at a time (-j 1)")
        jobs = 1
    log(sandbox.describe(lvl))
    calibrate(collect(labs, [Path(d) for d in hidden_dirs])[0], lvl, mmaplabs.build_dir() / "grade" / "calibration.json", log)
    version = grader_version(labs_spec, hidden_dirs, repeat)
    state_file = out / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    rows, todo = {}, []
    for s in subs:
        key = version + ":" + files_hash(student_files(s, labs))
        if state.get(s.name, {}).get("key") == key:
            rows[s.name] = state[s.name]["row"]
        else:
            todo.append((s, key))
    log(f"{len(subs)} submission(s): {len(subs) - len(todo)} unchanged since last graded, {len(todo)} to grade, -j {jobs}")

    def one(s, key):
        work = out / "work" / s.name
        cmd = [sys.executable, str(Path(__file__).resolve()), "grade", "--submission", str(s.resolve()),
               "--out", str(work), "--student", s.name, "--repeat", str(repeat), "--quiet",
               "--timeout-scale", str(SCALE), "--timeout-floor", str(FLOOR)]
        if labs_spec:
            cmd += ["--labs", labs_spec]
        if hidden_dirs:
            cmd += ["--expected", ":".join(str(Path(d).resolve()) for d in hidden_dirs)]
        t = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, errors="backslashreplace")
        (work / "log.txt").parent.mkdir(parents=True, exist_ok=True)
        (work / "log.txt").write_text(p.stdout + p.stderr)
        return s, key, p.returncode, time.monotonic() - t

    def save():
        names = sorted(rows)
        fields = ["student", "score", "max_score", "percent"] + labs + ["notes"]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for n in names:
            w.writerow(rows[n])
        atomic_write(out / "gradebook.csv", buf.getvalue())
        atomic_write(state_file, json.dumps(state, indent=1))

    start, done = time.monotonic(), 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, s, key) for s, key in todo]
        for f in as_completed(futures):
            s, key, rc, secs = f.result()
            done += 1
            work = out / "work" / s.name
            try:
                with open(work / "grades.csv", newline="") as fh:
                    row = next(csv.DictReader(fh))
                final = json.loads((work / "results.json").read_text())["extra_data"]["final"]
            except (OSError, StopIteration, ValueError, KeyError):
                row, final = {"student": s.name, "score": 0, "max_score": "", "percent": 0}, False
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


# ---- handout ------------------------------------------------------------------

SKIP = {".git", "build", "__pycache__", ".pytest_cache"}


def make_handout(out, hidden_dirs=(), log=print):
    """Write the student tree, then check it: reference 100 %, handout below
    on every lab with a solution region, no marker or hidden case in it."""
    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    with_solution = set()
    hidden = [Path(d).resolve() for d in hidden_dirs]
    for d, dirs, fs in os.walk(ROOT):
        rel = Path(d).relative_to(ROOT)
        dirs[:] = [x for x in dirs if x not in SKIP and (ROOT / rel / x).resolve() not in [out, *hidden]]
        (out / rel).mkdir(parents=True, exist_ok=True)
        for f in fs:
            src = ROOT / rel / f
            if src.is_symlink():
                continue
            if rel.parts[:1] == ("labs",) and len(rel.parts) == 2 and mmaplabs.LAB_RE.match(rel.parts[1]) and f.endswith(".c"):
                text = src.read_text()
                if handout.has_solution(text):
                    with_solution.add(rel.parts[1])
                (out / rel / f).write_text(handout.strip(text, str(src)))
                shutil.copymode(src, out / rel / f)
            else:
                shutil.copy2(src, out / rel / f)
    log(f"wrote the handout to {out} ({len(with_solution)} lab(s) with solution regions)")
    problems = []
    for p in out.rglob("*"):
        if p.is_file() and p.suffix in (".c", ".h"):
            t = p.read_text(errors="replace")
            if "BEGIN SOLUTION" in t or "END SOLUTION" in t:
                problems.append(f"{p.relative_to(out)} still holds a solution marker")
    secrets = {h.read_bytes(): h.name for d in hidden for h in Path(d).glob("*.txt")}
    for p in out.rglob("*"):
        if p.is_file() and not p.is_symlink() and p.read_bytes() in secrets:
            problems.append(f"hidden variant {secrets[p.read_bytes()]} leaked into the handout as {p.relative_to(out)}")
    with tempfile.TemporaryDirectory(prefix="mmaplab-handout-check.") as tmp:
        cases, _ = grade(None, Path(tmp) / "ref", "", hidden, 1, "reference", log=log, quiet=True)
        bad = [c for c in cases if not c.passed]
        log(f"self-check: the reference scores {sum(c.score for c in cases):g}/{sum(c.max_score for c in cases):g}")
        problems += [f"the reference fails {c.id}: {c.status}" for c in bad]
        cases, _ = grade(out, Path(tmp) / "handout", "", hidden, 1, "handout", log=log, quiet=True)
        log(f"self-check: the handout scores {sum(c.score for c in cases):g}/{sum(c.max_score for c in cases):g}")
        for lab in sorted({c.lab for c in cases}):
            lc = [c for c in cases if c.lab == lab]
            if any(c.status == "compile error" for c in lc):
                problems.append(f"the handout of {lab} does not compile")
            elif lab in with_solution and sum(c.score for c in lc) >= sum(c.max_score for c in lc):
                problems.append(f"the handout of {lab} still scores full marks: its solution region gives nothing away")
        no_region = sorted({c.lab for c in cases} - with_solution)
        if no_region:
            log("note: no solution region yet in " + ", ".join(no_region))
    for p in problems:
        log("HANDOUT PROBLEM: " + p)
    log("handout check: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


# ---- command line ---------------------------------------------------------------

def main(argv=None):
    global SCALE, FLOOR
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--labs", default=os.environ.get("LABS", ""), help="only these labs: 9,10")
    common.add_argument("--expected", default=os.environ.get("EXPECTED", ""),
                        help="extra (hidden) transcript folders, ':'-separated")
    common.add_argument("--repeat", type=int, default=REPEAT)
    common.add_argument("--timeout-scale", type=float, default=SCALE)
    common.add_argument("--timeout-floor", type=float, default=FLOOR)
    g = sub.add_parser("grade", parents=[common], help="grade one submission (default: this tree)")
    g.add_argument("--submission", default=os.environ.get("SUBMISSION") or None)
    g.add_argument("--out", default=str(mmaplabs.build_dir() / "grade"))
    g.add_argument("--student")
    g.add_argument("--quiet", action="store_true")
    a = sub.add_parser("all", parents=[common], help="grade every submission in a folder")
    a.add_argument("submissions")
    a.add_argument("-j", "--jobs", type=int, default=1)
    a.add_argument("--out", default=str(mmaplabs.build_dir() / "grade-all"))
    h = sub.add_parser("handout", help="write and check the student tree")
    h.add_argument("--out", default=str(mmaplabs.build_dir() / "handout"))
    h.add_argument("--expected", default=os.environ.get("EXPECTED", ""), help="hidden transcript folders, to check none leaks")
    args = ap.parse_args(argv)
    if args.cmd == "handout":
        return make_handout(args.out, [d for d in args.expected.split(":") if d])
    SCALE, FLOOR = args.timeout_scale, args.timeout_floor
    hidden = [d for d in args.expected.split(":") if d]
    for d in hidden:
        if not Path(d).is_dir():
            ap.error(f"--expected {d}: no such folder")
    try:
        if args.cmd == "all":
            if not Path(args.submissions).is_dir():
                ap.error(f"SUBMISSIONS={args.submissions}: no such folder")
            grade_all(args.submissions, args.out, args.jobs, args.labs, hidden, args.repeat)
            return 0
        if args.submission and not Path(args.submission).is_dir():
            ap.error(f"SUBMISSION={args.submission}: no such folder")
        cases, row = grade(args.submission, args.out, args.labs, hidden, args.repeat, args.student, quiet=args.quiet)
    except (KeyError, mmaplabs.TranscriptError) as e:
        print(f"grade: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print()
        print(table(cases))
        failed = [c for c in cases if not c.passed and not c.hidden and c.detail]
        for c in failed[:3]:
            print("\n" + c.detail)
        if len(failed) > 3:
            print(f"\n... {len(failed) - 3} more: see {Path(args.out) / 'feedback.md'}")
        print(f"\nwrote {args.out}/results.json, junit.xml, grades.csv, feedback.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
