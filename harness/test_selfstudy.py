"""Tests of self-study (harness/selfstudy.py): make try, check, answer, reset.

Every test works in its own try/ folder (tmp_path), never in the tree's."""
import re
import subprocess
from types import SimpleNamespace

import pytest

import grade
import handout
import labs
import runner
import selfstudy

LAB09 = labs.get(9)
show = selfstudy.show


def run(cmd, lab, base):
    lines = []
    rc = selfstudy.main([cmd, str(lab), "--dir", str(base)], log=lines.append)
    return rc, "\n".join(lines)


def test_try_writes_the_exercise_and_never_overwrites_your_work(tmp_path):
    rc, out = run("try", 9, tmp_path)
    folder = tmp_path / LAB09.slug
    assert rc == 0 and f"wrote {show(folder)}/" in out and "make check LAB=9" in out
    for src in LAB09.sources():
        assert (folder / src.name).read_text() == handout.strip(src.read_text())
    assert sorted(p.name for p in folder.iterdir()) == sorted([".exercise"] + [s.name for s in LAB09.sources()])
    rc, out = run("try", 9, tmp_path)
    assert rc == 0 and "still the exercise as written: nothing to do" in out
    mine = folder / LAB09.sources()[0].name
    mine.write_text(mine.read_text() + "/* my work */\n")
    rc, out = run("try", 9, tmp_path)
    assert rc == 1 and "already holds your work" in out and "make reset LAB=9" in out
    assert mine.read_text().endswith("/* my work */\n")
    rc, out = run("reset", 9, tmp_path)
    assert rc == 0 and f"now in {show(folder)}.prev/" in out
    assert (tmp_path / f"{LAB09.slug}.prev" / mine.name).read_text().endswith("/* my work */\n")
    assert mine.read_text() == handout.strip((LAB09.folder / mine.name).read_text())
    # A folder make try did not write (no record) is the student's too.
    (folder / ".exercise").unlink()
    assert run("try", 9, tmp_path)[0] == 1


@pytest.mark.parametrize("lab", labs.all_labs(), ids=[lab.slug for lab in labs.all_labs()])
def test_every_exercise_has_todo_lines_and_an_answer(lab):
    ex, regions = selfstudy.exercise(lab)
    assert set(ex) == {s.name for s in lab.sources()}
    if not regions:
        pytest.skip(f"{lab.slug} has no solution region")
    for src in lab.sources():
        text, todo = ex[src.name]
        if handout.has_solution(src.read_text()):
            assert text != src.read_text()
        lines = text.splitlines()
        stubs = [l for l in src.read_text().splitlines() if handout.PROMPT.match(l)]
        assert len(todo) == len(stubs), f"{src.name}: every //> line is a TODO line of the exercise"
        for n, stub in zip(todo, stubs):
            m = handout.PROMPT.match(stub)
            assert lines[n - 1] == m.group(1) + m.group(2), f"{src.name}:{n}"
    assert any(todo for _, todo in ex.values()), f"{lab.slug}: a solution region with no //> line tells the student nothing"


def test_answer_shows_the_reference_without_markers(tmp_path):
    rc, out = run("answer", 9, tmp_path)
    assert rc == 0
    assert "SOLUTION" not in out and "//>" not in out
    ref = [l for l in selfstudy.solution((LAB09.folder / "sigbus-eof.c").read_text()).splitlines()
           if l not in handout.strip((LAB09.folder / "sigbus-eof.c").read_text()).splitlines()]
    assert ref and all(f"+{l}" in out.splitlines() for l in ref)
    todo = selfstudy.exercise(LAB09)[0]["sigbus-eof.c"]
    for n in todo[1]:
        assert "-" + todo[0].splitlines()[n - 1] in out.splitlines()


def test_commands_need_a_lab(tmp_path):
    assert run("try", "", tmp_path)[0] == 2
    rc, out = run("answer", 42, tmp_path)
    assert rc == 2 and "no lab 42" in out
    rc, out = run("check", 9, tmp_path)
    assert rc == 2 and "make try LAB=9" in out
    rc, out = run("check", "", tmp_path)
    assert rc == 2 and "nothing to check" in out


def test_make_targets():
    r = subprocess.run(["make", "--no-print-directory", "try"], cwd=labs.ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and "usage: make try LAB=N" in r.stdout + r.stderr
    r = subprocess.run(["make", "--no-print-directory", "answer", "LAB=09"], cwd=labs.ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "+++ reference/09-sigbus-eof/sigbus-eof.c" in r.stdout


@pytest.mark.long
def test_check_grades_the_exercise_then_a_solution(tmp_path):
    """make check on the exercise as written: the grader's feedback (first
    differing step, the diff) and a hint; then on the reference: full marks."""
    prog = LAB09.program_path(labs.build_dir())
    if not prog.exists():
        pytest.skip(f"{prog} is not built: run 'make all'")
    assert run("try", 9, tmp_path)[0] == 0
    folder = tmp_path / LAB09.slug
    settings = grade.Settings(labs=LAB09.slug, repeat=1)
    part = grade.grader_part([LAB09], runner.level()[0])
    lines = []
    rc = selfstudy.cmd_check([LAB09], tmp_path, lines.append, settings=settings, template=part)
    out = "\n".join(lines)
    assert rc == 1, out
    assert re.search(r"first differing step: \[\d+\]", out) and "```diff" in out and "NOT OK: " in out
    assert "hint:" in out and "still as handed out:" in out and "make answer LAB=9" in out
    for n in selfstudy.exercise(LAB09)[0]["sigbus-eof.c"][1]:
        assert f"{show(folder / 'sigbus-eof.c')}:{n}: " in out
    assert "reproduce: make check LAB=9" in out and "make grade" not in out
    # the student writes the answer
    for src in LAB09.sources():
        (folder / src.name).write_text(selfstudy.solution(src.read_text()))
    lines = []
    rc = selfstudy.cmd_check([LAB09], tmp_path, lines.append, settings=settings, template=part)
    out = "\n".join(lines)
    assert rc == 0 and "10/10 points, every transcript matches" in out, out


def test_a_compile_error_names_your_file_once(tmp_path):
    """The grader's note for a lab that does not compile (reports.lab_note_feedback,
    one per variant of the lab) is shown once, naming the file in try/."""
    import mmaplabs
    import reports
    assert run("try", 9, tmp_path)[0] == 0
    note = ("does not compile; the compiler's first error lines:\n\n```\n"
            "labs/09-sigbus-eof/sigbus-eof.c:207:1: error: expected ';' at end of input\n```")
    cases, vs = [], mmaplabs.variants(LAB09)
    for v in vs:
        c = SimpleNamespace(variant=v, hidden=False, max_score=10 / len(vs), max_cents=1000 // len(vs), score=0.0,
                            cents=0, passed=False,
                            name=LAB09.slug + (f" ({v.name})" if v.name else ""))
        c.detail = reports.lab_note_feedback(c, "compile error", note)
        cases.append(c)
    assert len(cases) >= 2
    out = "\n".join(selfstudy.lab_feedback(LAB09, cases, tmp_path))
    assert out.startswith(f"lab 9 ({show(tmp_path / LAB09.slug)}/): 0/10 points, {len(cases)} of {len(cases)}")
    assert out.count("does not compile") == 1 and out.count(": compile error, 0/") == len(cases)
    assert f"{show(tmp_path / LAB09.slug / 'sigbus-eof.c')}:207:1: error" in out and "labs/09-sigbus-eof/sigbus-eof.c" not in out
    assert "still as handed out:" in out and "make answer LAB=9" in out
