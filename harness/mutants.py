#!/usr/bin/env python3
"""mutants: every ok: line can fail (issue 10; `make mutants [LAB=N]`).

For each lab, labs/NN-slug/lab.toml lists mutants: source edits that must make
a named step of the lab's transcript differ (format: coord/LABSPEC.md, read by
harness/labspec.py).  For each lab this

  1. stages an untouched copy, build/mutants/<lab>/_original/ (the Makefile,
     labs/labs.mk, labs/common/ and the lab's folder), builds the lab's
     programs there with `make -s BUILD=build ...` and checks that it still
     prints its transcripts: a stale transcript would make every mutant look
     killed;
  2. for each mutant, copies that stage (objects included: only the edited
     file is recompiled) to build/mutants/<lab>/<mutant>/, applies the edit
     (`find` must occur exactly once), builds, runs the lab against the
     mutant's transcript(s) and compares, normalised.  KILLED: the named step
     differs.  SURVIVED: it does not (FAIL).  BROKEN: the edit does not apply,
     the mutant does not compile or the step does not exist (FAIL);
  3. checks coverage, strictly: an ok: line of any of the lab's transcripts is
     covered only when some mutant's run printed "NOT OK: <the same text>";
     otherwise it must be excused in lab.toml ([excused], a prefix of the
     text and the reason).  An uncovered line, or an excuse that matches no
     line, is a FAIL.  A lab with no lab.toml has no mutants: every ok: line
     of it is uncovered.

Exit status 1 if anything failed, 2 on a usage error.  --list prints each
lab's mutants.  Serial on purpose (the machine's CPUs are shared); each mutant
recompiles one file.  Standard library only.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labs as labdesc  # noqa: E402
import labspec  # noqa: E402
import mmaplabs  # noqa: E402
import runner  # noqa: E402

ROOT = labdesc.ROOT
OK_RE = re.compile(r"^\s*ok: (.*)$", re.M)
NOT_OK_RE = re.compile(r"^\s*NOT OK: (.*)$", re.M)
BUILD_TIMEOUT = 120         # seconds on a quiet machine: runner.seconds scales it
ORIGINAL = "_original"


# ---- the harness this relies on: transcripts and runs (one place) ------------

@dataclass
class Transcript:
    name: str          # the variant ("" for a lab's only transcript)
    args: list
    body: str          # normalised
    path: Path


def transcripts(lab, expected_dir):
    """The lab's expected transcripts, read by mmaplabs."""
    return [Transcript(v.name, list(v.args), mmaplabs.normalise(v.body), Path(v.path))
            for v in mmaplabs.variants(lab, expected_dir)]


def run(argv, timeout):
    """Run a (mutant) lab program as `make test` does (runner, plain level):
    (stdout, returncode, timed_out)."""
    r = runner.run([str(a) for a in argv], timeout, level="plain")
    return r.stdout, r.returncode, r.timed_out


def steps(text):
    return dict(mmaplabs.steps(text))


normalise = mmaplabs.normalise


# ---- one lab -------------------------------------------------------------------

@dataclass
class Outcome:
    name: str
    status: str                     # KILLED, SURVIVED, BROKEN
    detail: str = ""
    not_ok: set = field(default_factory=set)     # normalised texts printed as NOT OK
    seconds: float = 0.0


@dataclass
class LabReport:
    slug: str
    has_spec: bool = False
    failures: list = field(default_factory=list)
    outcomes: list = field(default_factory=list)
    ok_lines: int = 0
    covered: int = 0
    excused: int = 0
    uncovered: list = field(default_factory=list)
    build_s: float = 0.0
    run_s: float = 0.0
    seconds: float = 0.0


def _clean_env():
    """The caller's environment for the staged make, without the outer make's
    jobserver (its file descriptors are not passed on); CC, CFLAGS ... stay."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BUILD"):
        env.pop(k, None)
    return env


def stage_original(lab, root, where):
    """A tree with only what the Makefile needs to build this lab."""
    if where.exists():
        shutil.rmtree(where)
    (where / "labs").mkdir(parents=True)
    shutil.copy2(root / "Makefile", where / "Makefile")
    shutil.copy2(root / "labs" / "labs.mk", where / "labs" / "labs.mk")
    shutil.copytree(root / "labs" / "common", where / "labs" / "common")
    shutil.copytree(lab.folder, where / "labs" / lab.slug)


def build(lab, where):
    """make the lab's programs in a staged tree: (ok, seconds, compiler output)."""
    targets = [str(lab.program_path("build", p)) for p in lab.programs]
    t = time.monotonic()
    limit = runner.seconds(BUILD_TIMEOUT)
    try:
        p = subprocess.run(["make", "-s", "--no-print-directory", "BUILD=build", *targets], cwd=where,
                           env=_clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=limit)
        ok, out = p.returncode == 0, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        ok, out = False, f"make took more than {limit:.0f} s"
    return ok, time.monotonic() - t, out


def apply(m, folder):
    """Apply a mutant's edit in a staged lab folder; None or why it cannot."""
    path = folder / m.file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        return f"cannot read {m.file}: {e.strerror}"
    n = text.count(m.find)
    if n != 1:
        return f"`find` occurs {n} times in {m.file} (it must occur exactly once): {_short(m.find)}"
    newest = max((p.stat().st_mtime for p in (folder.parent.parent / "build").rglob("*") if p.is_file()),
                 default=0.0)
    path.write_text(text.replace(m.find, m.replace), encoding="utf-8")
    # make decides by time stamps: the edited file must be newer than every object copied with it.
    t = max(time.time(), newest + 1)
    os.utime(path, (t, t))
    return None


def _short(s, n=60):
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _first_lines(text, n=12):
    lines = text.strip().splitlines()
    return "\n".join("        " + l for l in lines[:n]) + ("\n        ..." if len(lines) > n else "")


def choose(m, ts):
    """The transcripts a mutant runs against: its variant(s), or the lab's
    default (the one without a variant name, else the first)."""
    by_name = {t.name: t for t in ts}
    if not m.variants:
        return [by_name.get("", ts[0])], None
    missing = [v for v in m.variants if v not in by_name]
    if missing:
        return None, f"no transcript for variant {', '.join(missing)} (have: {', '.join(sorted(by_name)) or 'none'})"
    return [by_name[v] for v in m.variants], None


def run_mutant(lab, m, ts, base, where, timeout, report):
    t0 = time.monotonic()
    out = Outcome(m.name, "BROKEN")
    chosen, why = choose(m, ts)
    if why:
        out.detail = why
        return out
    for t in chosen:
        if m.breaks not in steps(t.body):
            out.detail = f"step {m.breaks} is not in {t.path.name}"
            return out
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(base, where, symlinks=True)
    why = apply(m, where / "labs" / lab.slug)
    if why:
        out.detail = why
        return out
    ok, secs, log = build(lab, where)
    report.build_s += secs
    if not ok:
        out.detail = "does not compile (a mutant must compile, so it tests behaviour):\n" + _first_lines(log)
        return out
    survived = []
    for t in chosen:
        t1 = time.monotonic()
        stdout, rc, timed_out = run([lab.program_path(where / "build"), *t.args], timeout)
        report.run_s += time.monotonic() - t1
        actual = normalise(stdout)
        out.not_ok |= set(NOT_OK_RE.findall(actual))
        if steps(actual).get(m.breaks) == steps(t.body).get(m.breaks):
            survived.append(t.name or t.path.name)
    which = f" ({', '.join(t.name or t.path.name for t in chosen)})" if m.variants else ""
    if survived:
        out.status = "SURVIVED"
        out.detail = f"step {m.breaks} is as expected" + (f" in {', '.join(survived)}" if m.variants else "")
        killed = [t.name or t.path.name for t in chosen if (t.name or t.path.name) not in survived]
        if killed:
            out.detail += f" (it differs in {', '.join(killed)})"
    else:
        out.status = "KILLED"
        out.detail = f"step {m.breaks} differs{which}"
    out.seconds = time.monotonic() - t0
    return out


def check_lab(lab, root, expected_dir, out_dir, timeout, log):
    t_lab = time.monotonic()
    rep = LabReport(lab.slug)
    try:
        spec = labspec.load(lab, root)
    except labspec.LabSpecError as e:
        rep.failures.append(f"lab.toml: {e}")
        log(f"{lab.slug}: FAIL {e}")
        return rep
    rep.has_spec = spec.exists
    try:
        ts = transcripts(lab, expected_dir)
    except Exception as e:        # a transcript that cannot be read: say so, go on with the next lab
        rep.failures.append(f"transcripts: {e}")
        log(f"{lab.slug}: FAIL {e}")
        return rep
    oks = {}
    for t in ts:
        for text in OK_RE.findall(t.body):
            oks.setdefault(text, []).append(t.name or t.path.name)
    rep.ok_lines = len(oks)
    if not ts:
        rep.failures.append("no expected transcript")
        log(f"{lab.slug}: FAIL no expected transcript in {expected_dir}")
        return rep
    if not spec.exists:
        rep.uncovered = sorted(oks)
        rep.failures.append(f"no lab.toml: no mutants: {len(oks)} ok: lines uncovered")
        log(f"{lab.slug}: no lab.toml: no mutants: {len(oks)} ok: lines uncovered")
        rep.seconds = time.monotonic() - t_lab
        return rep

    log(f"{lab.slug}: {len(spec.mutants)} mutant(s), {len(ts)} transcript(s), {len(oks)} ok: line(s)")
    lab_dir = out_dir / lab.slug
    base = lab_dir / ORIGINAL
    stage_original(lab, root, base)
    ok, secs, blog = build(lab, base)
    rep.build_s += secs
    if not ok:
        rep.failures.append("the unmutated lab does not build")
        log(f"  FAIL the unmutated lab does not build in {base}:\n" + _first_lines(blog))
        rep.seconds = time.monotonic() - t_lab
        return rep
    stale = False
    for t in ts:
        t1 = time.monotonic()
        stdout, rc, timed_out = run([lab.program_path(base / "build"), *t.args], timeout)
        rep.run_s += time.monotonic() - t1
        actual = normalise(stdout)
        if actual != t.body:
            e, a = steps(t.body), steps(actual)
            first = next((n for n in sorted(set(e) | set(a)) if e.get(n) != a.get(n)), None)
            stale = True
            rep.failures.append(f"the unmutated lab does not print {t.path.name}")
            log(f"  FAIL the unmutated lab does not print {t.path.name} (first difference at step {first}"
                f"{', timed out' if timed_out else ''}): mutants cannot be judged against it")
    if stale:
        rep.seconds = time.monotonic() - t_lab
        return rep

    width = max([len(m.name) for m in spec.mutants] + [8])
    covered_by = {}
    for m in spec.mutants:
        o = run_mutant(lab, m, ts, base, lab_dir / m.name, timeout, rep)
        rep.outcomes.append(o)
        hits = sorted(o.not_ok & set(oks))
        if o.status == "KILLED":
            for h in hits:
                covered_by.setdefault(h, []).append(m.name)
        else:
            rep.failures.append(f"mutant {m.name} {o.status}")
        first, _, rest = o.detail.partition("\n")
        log(f"  {o.status:<8}  {m.name:<{width}}  {first}" + (f"\n{rest}" if rest else ""))
        for h in (hits if o.status == "KILLED" else []):
            log(f"  {'':<8}  {'':<{width}}    NOT OK: {h}")
        if o.status == "KILLED" and not hits:
            log(f"  {'':<8}  {'':<{width}}    (turned no ok: line NOT OK: it covers nothing)")

    used = set()
    for text in sorted(oks, key=lambda s: list(oks).index(s)):
        if text in covered_by:
            rep.covered += 1
            continue
        prefix = next((p for p in spec.excused if text.startswith(normalise(p))), None)
        if prefix is not None:
            used.add(prefix)
            rep.excused += 1
            continue
        rep.uncovered.append(text)
    for text in rep.uncovered:
        where = ", ".join(oks[text])
        log(f"  UNCOVERED ok: {text}   [{where}]: no mutant prints it NOT OK and it is not excused")
    for p in spec.excused:
        if p not in used and not any(t.startswith(normalise(p)) for t in oks):
            rep.failures.append(f"excuse {p!r} matches no ok: line")
            log(f"  FAIL [excused] {p!r} matches no ok: line of the lab's transcripts (stale?)")
        elif p not in used:
            log(f"  note: [excused] {p!r} is also covered by a mutant: the excuse can go")
    if rep.uncovered:
        rep.failures.append(f"{len(rep.uncovered)} ok: line(s) uncovered")
    killed = sum(o.status == "KILLED" for o in rep.outcomes)
    rep.seconds = time.monotonic() - t_lab
    log(f"  coverage: {rep.ok_lines} ok: lines, {rep.covered} covered, {rep.excused} excused, "
        f"{len(rep.uncovered)} uncovered; {killed}/{len(rep.outcomes)} mutants killed; "
        f"{rep.seconds:.1f} s (build {rep.build_s:.1f} s, runs {rep.run_s:.1f} s)")
    return rep


def list_mutants(all_labs, root, log):
    status = 0
    for lab in all_labs:
        try:
            spec = labspec.load(lab, root)
        except labspec.LabSpecError as e:
            log(f"{lab.slug}: {e}")
            status = 1
            continue
        if not spec.exists:
            log(f"{lab.slug}: no lab.toml")
            continue
        log(f"{lab.slug}: {len(spec.mutants)} mutant(s), {len(spec.excused)} excused")
        for m in spec.mutants:
            v = f" [{', '.join(m.variants)}]" if m.variants else ""
            log(f"  {m.name}: {m.file}: {_short(m.find, 40)!r} -> {_short(m.replace, 40)!r}; breaks step {m.breaks}{v}")
        for p, why in spec.excused.items():
            log(f"  excused {p!r}: {why}")
    return status


def main(argv=None, log=print):
    ap = argparse.ArgumentParser(description="Build each lab's mutants (labs/NN-slug/lab.toml); "
                                             "each must break the step it names, and every ok: line must be covered.")
    ap.add_argument("--lab", help="only this lab (number or NN-slug)")
    ap.add_argument("--list", action="store_true", help="print each lab's mutants and excuses, run nothing")
    ap.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)      # the tests' own trees
    ap.add_argument("--expected", help=argparse.SUPPRESS)
    ap.add_argument("--out", help="where to stage the mutants (default: BUILD/mutants)")
    ap.add_argument("--timeout", type=float, help="seconds per run (default: 30 on a quiet machine, runner.seconds)")
    a = ap.parse_args(argv)
    root = Path(a.root).resolve()
    try:
        all_labs = labdesc.all_labs(root) if not a.lab else [labdesc.get(a.lab, root)]
    except labdesc.LabError as e:
        log(f"mutants: {e}")
        return 2
    if a.list:
        return list_mutants(all_labs, root, log)
    out_dir = Path(a.out) if a.out else labdesc.build_dir(root) / "mutants"
    expected = Path(a.expected) if a.expected else root / "expected"
    t0 = time.monotonic()
    timeout = a.timeout or runner.seconds(30)
    reports = [check_lab(lab, root, expected, out_dir.resolve(), timeout, log) for lab in all_labs]
    total = time.monotonic() - t0

    log("")
    log("time: " + ", ".join(f"{r.slug} {r.seconds:.1f} s" for r in reports if r.has_spec)
        + f"; total {total:.1f} s")
    no_spec = [r.slug for r in reports if not r.has_spec and not any(f.startswith("lab.toml") for f in r.failures)]
    failed = [r for r in reports if r.failures]
    if no_spec:
        log(f"labs with no lab.toml ({len(no_spec)}; their owners must add one, coord/LABSPEC.md): {', '.join(no_spec)}")
    for r in failed:
        if r.slug not in no_spec:
            log(f"FAIL {r.slug}: " + "; ".join(r.failures))
    n_mut = sum(len(r.outcomes) for r in reports)
    n_killed = sum(o.status == "KILLED" for r in reports for o in r.outcomes)
    log(f"mutants: {n_killed}/{n_mut} killed; {len(reports) - len(failed)}/{len(reports)} lab(s) pass"
        + ("" if failed else ": every ok: line can fail"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
