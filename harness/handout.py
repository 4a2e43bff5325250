#!/usr/bin/env python3
"""handout: the student's tree, made from the reference tree and checked.

    make_handout(out, hidden_dirs)    (`make handout`, `grade.py handout`)
    strip(text), has_solution(text)   one source file

Each lab's sources (labs/labs.mk: labs/NN-slug/*.c, harness/labs.py) lose
their solution regions; everything else is copied as it is.

The only syntax, line-based, so the reference compiles as it is:

        /* BEGIN SOLUTION */
        char *p = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);   <- reference code
        /* END SOLUTION */
        //> char *p = NULL; /* TODO: map the file ... */           <- the student's start

In the handout the BEGIN/END lines and everything between them disappear and
each `//> ` line loses its marker (keeping its indentation).  In the reference
the `//>` lines are ordinary comments.  The handout must still compile.
"""
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labs  # noqa: E402

BEGIN = re.compile(r"^\s*/\* BEGIN SOLUTION \*/\s*$")
END = re.compile(r"^\s*/\* END SOLUTION \*/\s*$")
PROMPT = re.compile(r"^(\s*)//> ?(.*)$")


class MarkerError(Exception):
    pass


def strip(text, name="source"):
    """Return the handout text of one source file."""
    out, inside = [], False
    for n, line in enumerate(text.splitlines(True), 1):
        if BEGIN.match(line):
            if inside:
                raise MarkerError(f"{name}:{n}: BEGIN SOLUTION inside a solution region")
            inside = True
        elif END.match(line):
            if not inside:
                raise MarkerError(f"{name}:{n}: END SOLUTION without BEGIN")
            inside = False
        elif inside:
            continue
        else:
            m = PROMPT.match(line)
            out.append(f"{m.group(1)}{m.group(2)}\n" if m else line)
    if inside:
        raise MarkerError(f"{name}: BEGIN SOLUTION never ends")
    return "".join(out)


def has_solution(text):
    return any(BEGIN.match(l) for l in text.splitlines())


SKIP = {".git", "build", "__pycache__", ".pytest_cache"}


def write_tree(out, hidden):
    """Copy the tree to out, each lab source stripped; the labs with a solution region."""
    root = labs.ROOT
    sources = {p for lab in labs.all_labs() for p in lab.sources()}
    with_solution = set()
    for d, dirs, fs in os.walk(root):
        rel = Path(d).relative_to(root)
        dirs[:] = [x for x in dirs if x not in SKIP and (root / rel / x).resolve() not in [out, *hidden]]
        (out / rel).mkdir(parents=True, exist_ok=True)
        for f in fs:
            src = root / rel / f
            if src.is_symlink():
                continue
            if src in sources:
                text = src.read_text()
                if has_solution(text):
                    with_solution.add(rel.parts[1])
                (out / rel / f).write_text(strip(text, str(src)))
                shutil.copymode(src, out / rel / f)
            else:
                shutil.copy2(src, out / rel / f)
    return with_solution


def make_handout(out, hidden_dirs=(), log=print):
    """Write the student tree, then check it: reference 100 %, handout below
    on every lab with a solution region, no marker or hidden case in it."""
    import grade
    import reports
    import runner
    import variants
    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    hidden = [Path(d).resolve() for d in hidden_dirs]
    with_solution = write_tree(out, hidden)
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
    secret = variants.load_secret()
    if secret:           # the instructor's secret must be nowhere in what students get
        for p in out.rglob("*"):
            if p.is_file() and not p.is_symlink() and secret in p.read_bytes():
                problems.append(f"the grading secret (GRADE_SECRET) is written in {p.relative_to(out)}")
    if problems:         # nothing to hand out: say so without grading it first
        for p in problems:
            log("HANDOUT PROBLEM: " + p)
        log(f"handout check: {len(problems)} problem(s) (the self-check grading was not run: fix these first)")
        return 1
    settings = grade.Settings(hidden=tuple(hidden_dirs), repeat=1, secret=secret)
    total = lambda cs: f"{reports.points(sum(c.cents for c in cs))}/{reports.points(sum(c.max_cents for c in cs))}"
    part = grade.grader_part(grade.select_labs(settings.labs), runner.level()[0])
    with tempfile.TemporaryDirectory(prefix="mmaplab-handout-check.") as tmp:
        cases, _ = grade.grade(None, Path(tmp) / "ref", settings, "reference", log=log, quiet=True, template=part)
        bad = [c for c in cases if not c.passed]
        log(f"self-check: the reference scores {total(cases)}")
        problems += [f"the reference fails {c.id}: {c.status}" for c in bad]
        cases, _ = grade.grade(out, Path(tmp) / "handout", settings, "handout", log=log, quiet=True, template=part)
        log(f"self-check: the handout scores {total(cases)}")
        for lab in sorted({c.lab for c in cases}):
            lc = [c for c in cases if c.lab == lab]
            if any(c.status == "compile error" for c in lc):
                problems.append(f"the handout of {lab} does not compile")
            elif lab in with_solution and sum(c.cents for c in lc) >= sum(c.max_cents for c in lc):
                problems.append(f"the handout of {lab} still scores full marks: its solution region gives nothing away")
        no_region = sorted({c.lab for c in cases} - with_solution)
        if no_region:
            log("note: no solution region yet in " + ", ".join(no_region))
    for p in problems:
        log("HANDOUT PROBLEM: " + p)
    log("handout check: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    for path in sys.argv[1:]:
        sys.stdout.write(strip(Path(path).read_text(), path))
