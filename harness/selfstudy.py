#!/usr/bin/env python3
"""selfstudy: a lab's exercise without an instructor (issue 12 §2).

    make try LAB=N      write lab N's exercise to try/NN-slug/ (the handout's version of its .c files)
    make check [LAB=N]  build try/NN-slug/ and grade it as the instructor's grader would
    make answer LAB=N   the reference solution: what the exercise leaves out
    make reset LAB=N    start again from the exercise (your files are kept in try/NN-slug.prev/)

try/ is at the top of the tree, beside labs/, and git ignores it: it is yours,
and `make clean` (which removes build/) leaves it alone.  Only the lab's .c
files are there; the headers, labs/common and the Makefile are the tree's,
as when an instructor grades a submission.

Reused, not rewritten: the exercise is handout.strip() of each source (the
same text `make handout` gives a class), and `make check` is grade.grade() on
try/ as a submission folder (the grader's build in its sandbox, its runs, its
scoring and its feedback: first differing step, the diff, what was left
behind), with a hint added: the TODO lines still as handed out, and where the
lab's note says what to write.

A file try/NN-slug/.exercise records what `make try` wrote (a SHA-256 per
file), so `make try` can tell the exercise as written from your work, and
never overwrites your work.  Standard library only.
"""
import argparse
import difflib
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handout  # noqa: E402
import labs  # noqa: E402

ROOT = labs.ROOT
STAMP = ".exercise"
SENTINEL = "\0todo\0"


def try_root(root=ROOT):
    return Path(root) / "try"


def show(path, root=ROOT):
    """A path as the student types it: relative to the tree when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def sha(data):
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# ---- the exercise ----------------------------------------------------------------

def exercise(lab):
    """{file name: (exercise text, [line numbers of its TODO lines])} for every
    .c file of the lab, and whether any of them has a solution region.  The
    TODO lines are the `//> ` lines of the reference (1-based, in the exercise)."""
    out, regions = {}, False
    for src in lab.sources():
        text = src.read_text()
        regions |= handout.has_solution(text)
        marked = handout.strip(handout_prompts_marked(text), str(src))
        todo = [n for n, line in enumerate(marked.splitlines(), 1) if SENTINEL in line]
        out[src.name] = (handout.strip(text, str(src)), todo)
    return out, regions


def handout_prompts_marked(text):
    """The reference with every `//> ` line tagged, so its place in the stripped text can be found."""
    return "".join(handout.PROMPT.sub(lambda m: f"{m.group(1)}//> {SENTINEL}{m.group(2)}", line, count=1)
                   if handout.PROMPT.match(line) else line for line in text.splitlines(True))


def solution(text):
    """The reference as a student would write it: without the solution markers and the `//> ` stubs."""
    return "".join(l for l in text.splitlines(True)
                   if not (handout.BEGIN.match(l) or handout.END.match(l) or handout.PROMPT.match(l)))


def read_stamp(folder):
    try:
        data = json.loads((folder / STAMP).read_text())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def your_changes(folder, stamp):
    """The files of folder that are not what `make try` wrote (all of them when there is no stamp)."""
    names = sorted(p.name for p in folder.glob("*.c"))
    if stamp is None:
        return names or ["(no record of what make try wrote)"]
    changed = [n for n in sorted(stamp) if not (folder / n).is_file() or sha((folder / n).read_bytes()) != stamp[n]]
    return changed + [n for n in names if n not in stamp]


def write_exercise(lab, folder, ex):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, _) in ex.items():
        (folder / name).write_text(text)
    (folder / STAMP).write_text(json.dumps({n: sha(t) for n, (t, _) in ex.items()}, indent=1) + "\n")


def cmd_try(lab, base, log=print, root=ROOT):
    folder = Path(base) / lab.slug
    ex, regions = exercise(lab)
    if folder.exists():
        stamp = read_stamp(folder)
        changed = your_changes(folder, stamp)
        if changed:
            log(f"{show(folder, root)}/ already holds your work ({', '.join(changed)} changed): nothing written.")
            log(f"  make check LAB={lab.number}   grades it;  make reset LAB={lab.number}   starts again "
                f"(your files are kept in {show(folder, root)}.prev/)")
            return 1
        if stamp == {n: sha(t) for n, (t, _) in ex.items()}:
            log(f"{show(folder, root)}/ is there, still the exercise as written: nothing to do.")
            return 0
        log(f"{show(folder, root)}/: the lab changed since `make try` and you had changed nothing: rewritten.")
    write_exercise(lab, folder, ex)
    log(f"wrote {show(folder, root)}/: the exercise of lab {lab.number}, {lab.title}")
    for name, (_, todo) in ex.items():
        if todo:
            log(f"  {name}: TODO at line{'s' if len(todo) > 1 else ''} {', '.join(map(str, todo))}")
    if not regions:
        log(f"  (no solution region in labs/{lab.slug}: these are its sources as they are; in a handout tree "
            "they already are the exercise)")
    log(f"Write the missing code where the TODO lines are; {show(lab.note, root)}, section \"Exercise\", says what.")
    others = sorted(p.name for p in lab.folder.glob("*.h"))
    log("Only these .c files are yours; " + (f"the lab's {', '.join(others)} (labs/{lab.slug}/), " if others else "")
        + "labs/common and the Makefile stay the tree's, as when a grader builds a submission.")
    log(f"  make check LAB={lab.number}    build your copy and compare it with the lab's transcript(s), as the grader does")
    log(f"  make answer LAB={lab.number}   the reference solution;   make reset LAB={lab.number}   start again")
    return 0


def cmd_reset(lab, base, log=print, root=ROOT):
    folder = Path(base) / lab.slug
    if folder.exists():
        changed = your_changes(folder, read_stamp(folder))
        if changed:
            prev = folder.with_name(folder.name + ".prev")
            if prev.exists():
                shutil.rmtree(prev)
            folder.rename(prev)
            log(f"your files ({', '.join(changed)} changed) are now in {show(prev, root)}/")
        else:
            shutil.rmtree(folder)
    return cmd_try(lab, base, log, root)


def cmd_answer(lab, base, log=print, root=ROOT):
    ex, regions = exercise(lab)
    if not regions:
        log(f"lab {lab.number} has no solution region in this tree (labs/{lab.slug}): no reference answer here.")
        return 1
    folder = Path(base) / lab.slug
    log(f"The reference solution of lab {lab.number}: '-' lines are the exercise as handed out, '+' lines the reference.")
    for src in lab.sources():
        text = src.read_text()
        if not handout.has_solution(text):
            continue
        d = difflib.unified_diff(ex[src.name][0].splitlines(True), solution(text).splitlines(True),
                                 f"exercise/{lab.slug}/{src.name}", f"reference/{lab.slug}/{src.name}", n=3)
        log("".join(d).rstrip("\n"))
    if folder.exists():
        log(f"Yours against the reference:  diff -u {show(folder, root)}/FILE.c labs/{lab.slug}/FILE.c")
    return 0


# ---- make check -------------------------------------------------------------------

def hint(lab, folder, first_step, root=ROOT):
    """What to look at next: the TODO lines still as handed out, and the note."""
    ex, _ = exercise(lab)
    left = []
    for name, (text, todo) in ex.items():
        mine = (folder / name).read_text(errors="replace").splitlines() if (folder / name).is_file() else []
        wanted = [text.splitlines()[n - 1] for n in todo]
        for line_no, line in enumerate(mine, 1):
            if line in wanted and line.strip():
                left.append(f"    {show(folder / name, root)}:{line_no}: {line.strip()}")
    note = lab.note
    where = show(note, root)
    if note.exists():
        n = next((i for i, l in enumerate(note.read_text().splitlines(), 1) if re.match(r"^#+ .*Exercise", l)), None)
        where += f":{n}" if n else ""
    out = ["hint:"]
    if first_step:
        out.append(f"  step [{first_step}] is the first that differs (the diff above); "
                   f"`make lab-{lab.number}` prints the reference's whole transcript")
    if left:
        out.append("  still as handed out:")
        out += left
    out.append(f"  what to write: {where} (section \"Exercise\"); the reference: make answer LAB={lab.number}")
    return "\n".join(out)


def cmd_check(selected, base, log=print, root=ROOT, settings=None, template=None):
    """Grade try/ (the labs in `selected`, or every lab found there) with grade.grade
    (settings: grade.Settings, the instructor's by default; template: a grade.grader_part tree)."""
    import grade
    import runner
    base = Path(base)
    if selected:
        missing = [lab for lab in selected if not (base / lab.slug).is_dir()]
        if missing:
            for lab in missing:
                log(f"no {show(base / lab.slug, root)}/: `make try LAB={lab.number}` writes the exercise there first")
            return 2
    else:
        selected = [lab for lab in labs.all_labs(root) if (base / lab.slug).is_dir()]
        if not selected:
            log(f"nothing to check: no lab in {show(base, root)}/ (`make try LAB=N` writes one)")
            return 2
    settings = settings or grade.Settings(labs=",".join(lab.slug for lab in selected))
    lvl = runner.level()[0]
    log(f"checking {', '.join(show(base / lab.slug, root) + '/' for lab in selected)} as the grader would "
        f"(sandbox level {lvl}; {settings.repeat} run(s) per transcript)")
    out = labs.build_dir(root) / "check"
    cases, _ = grade.grade(base, out, settings, student="your try/", log=log, quiet=True, template=template)
    failed = 0
    for lab in selected:
        log("")
        lines = lab_feedback(lab, [c for c in cases if c.variant.lab.slug == lab.slug], base, root)
        failed += lines[0].endswith("differ.")
        for line in lines:
            log(line)
    log("")
    log(f"full report: {show(out / 'feedback.md', root)}")
    return 1 if failed else 0


def lab_feedback(lab, cases, base, root=ROOT):
    """What make check says of one lab, from its graded cases (grade.Case): a
    summary line first, then each differing case's feedback and the hint."""
    score, top = sum(c.score for c in cases), sum(c.max_score for c in cases)
    bad = [c for c in cases if not c.passed]
    out = [f"lab {lab.number} ({show(Path(base) / lab.slug, root)}/): {score:g}/{top:g} points, "
           + ("every transcript matches: done." if not bad else f"{len(bad)} of {len(cases)} transcript(s) differ.")]
    shown = set()
    for c in bad:
        text = ours(c.detail, lab, base, root)
        first, _, rest = text.partition("\n")
        out += ["", first if rest in shown else text]        # a compile error is the lab's: shown once
        shown.add(rest)
    if bad:
        m = re.search(r"first differing step: \[(\d+)\]", bad[0].detail or "")
        out += ["", hint(lab, Path(base) / lab.slug, int(m.group(1)) if m else None, root)]
    return out


def ours(detail, lab, base, root=ROOT):
    """The grader's feedback as the student reads it: the compiler names the
    files of try/, and the 'reproduce:' line (a grader's command) is make check."""
    text = detail or ""
    for src in lab.sources():
        text = text.replace(f"labs/{lab.slug}/{src.name}", f"{show(Path(base) / lab.slug / src.name, root)}")
    head, sep, _ = text.rpartition("\nreproduce: ")
    return (head if sep else text) + ("\n" if sep else "\n\n") + f"reproduce: make check LAB={lab.number}"


# ---- command line ------------------------------------------------------------------

def main(argv=None, log=print, root=ROOT):
    ap = argparse.ArgumentParser(description="A lab's exercise without an instructor: try, check, answer, reset.")
    ap.add_argument("cmd", choices=["try", "check", "answer", "reset"])
    ap.add_argument("lab", nargs="?", default="", help="the lab's number (check: every lab in try/ when empty)")
    ap.add_argument("--dir", help=argparse.SUPPRESS)          # the tests' own try/ folder
    a = ap.parse_args(argv)
    base = Path(a.dir) if a.dir else try_root(root)
    try:
        lab = labs.get(a.lab, root) if a.lab else None
    except labs.LabError as e:
        log(f"{a.cmd}: {e}")
        return 2
    if lab is None and a.cmd != "check":
        log(f"usage: make {a.cmd} LAB=N   (N: a lab's number; `make help` lists them)")
        return 2
    try:
        if a.cmd == "check":
            return cmd_check([lab] if lab else [], base, log, root)
        return {"try": cmd_try, "answer": cmd_answer, "reset": cmd_reset}[a.cmd](lab, base, log, root)
    except handout.MarkerError as e:
        log(f"{a.cmd}: the lab's solution markers are broken: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
