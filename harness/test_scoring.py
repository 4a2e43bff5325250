"""Unit tests of the grading rule (scoring.py), the report formats (reports.py)
and the variants (variants.py): no build, no sandbox, no process; runs are made up."""
import csv
import json
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import labs
import labspec
import mmaplabs
import reports
import runner
import scoring
import variants

EXPECTED = """# Lab 99: victim

[1] One.
    ok: one {pid=12}

[2] Two.
    ok: two

[3] Three.
    ok: three

== 3 checks, all ok
"""


def run(stdout=EXPECTED, returncode=0, timed_out=False, output_limited=False, leftovers=()):
    return runner.Run(["victim"], stdout, "", returncode, timed_out, 0.1, list(leftovers), "bwrap", output_limited)


def wrong_step(n, text=EXPECTED):
    return text.replace({1: "ok: one", 2: "ok: two", 3: "ok: three"}[n], "NOT OK: nope")


def test_exact_runs_pass_with_full_marks():
    v = scoring.score(EXPECTED, [run(), run(EXPECTED.replace("{pid=12}", "{pid=99}"))], 1000)
    assert (v.status, v.cents, v.steps_ok, v.steps_total) == ("passed", 1000, 3, 3)
    assert v.differs is None and v.nondet is None and v.bad is None


def test_each_wrong_step_costs_its_share():
    v = scoring.score(EXPECTED, [run(wrong_step(2))] * 2, 1000)
    assert (v.status, v.steps_ok, v.cents, v.score) == ("failed", 2, 667, 6.67)
    assert v.differs == 0 and v.first_differing_step == 2


def test_runs_that_differ_earn_nothing():
    """Which steps happen to agree in a few runs of a racy program would be luck."""
    v = scoring.score(EXPECTED, [run(), run(wrong_step(3))], 1000)
    assert v.status == "nondeterministic" and v.nondet == 1 and v.steps_ok == 2 and v.cents == 0
    v = scoring.score(EXPECTED, [run(), run(returncode=-11)], 1000)           # the same lines, but a crash
    assert v.status == "nondeterministic" and v.cents == 0
    v = scoring.score(EXPECTED, [run(), run(timed_out=True, returncode=-9)], 1000)
    assert v.status == "nondeterministic" and v.cents == 0


def test_only_a_second_timeout_ends_the_repetitions():
    hang, crash = run(timed_out=True, returncode=-9), run(returncode=-11)
    assert scoring.more_runs([], 3) and scoring.more_runs([hang], 3) and not scoring.more_runs([hang, hang], 3)
    assert scoring.more_runs([crash, crash], 3) and not scoring.more_runs([run()] * 3, 3)


@pytest.mark.parametrize("kw, status", [
    ({"returncode": 1}, "failed"),
    ({"leftovers": ["System V segment 7 left behind"]}, "hygiene"),
])
def test_full_marks_need_a_clean_exit(kw, status):
    v = scoring.score(EXPECTED, [run(**kw)], 1000)
    assert v.status == status and v.steps_ok == 2 and v.cents == 666      # the largest share (334) withheld


@pytest.mark.parametrize("kw, status", [
    ({"timed_out": True, "returncode": -9}, "timeout"),
    ({"output_limited": True, "returncode": -13}, "output limit"),
    ({"returncode": -11}, "crashed (SIGSEGV)"),
    ({"returncode": -7}, "crashed (SIGBUS)"),
])
def test_runs_that_go_wrong(kw, status):
    r = run(**kw)
    assert scoring.stops(r)
    v = scoring.score(EXPECTED, [r, r], 1000)
    assert v.status == status and v.bad == 0 and v.cents < 1000


def test_leftovers_of_every_run_are_listed_once():
    v = scoring.score(EXPECTED, [run(leftovers=["a", "b"]), run(leftovers=["b"])], 500)
    assert v.leftovers == ["a", "b"] and v.status == "hygiene"


def test_the_header_is_worth_nothing():
    broken = EXPECTED.replace("# Lab 99: victim", "# Lab 99: something else")
    v = scoring.score(EXPECTED, [run(broken)], 1000)
    assert v.steps_ok == 2 and v.status == "failed" and v.first_differing_step == 0


def test_no_run():
    v = scoring.no_run("compile error", EXPECTED)
    assert (v.status, v.cents, v.steps_ok, v.steps_total) == ("compile error", 0, 0, 3)


def test_scoring_is_pure():
    runs = [run(wrong_step(1)), run()]
    assert scoring.score(EXPECTED, runs, 1000) == scoring.score(EXPECTED, runs, 1000)


# ---- exact sums, signatures, drawn variants --------------------------------------

@pytest.mark.parametrize("n", range(1, 13))
def test_points_add_up_exactly_whatever_the_number_of_parts(n):
    parts = scoring.allocate(1000, [1] * n)
    assert sum(parts) == 1000 and max(parts) - min(parts) <= 1
    lab = [scoring.score(EXPECTED, [run()], c).cents for c in parts]     # a perfect lab of n variants
    assert sum(lab) == 1000
    assert sum([sum(lab)] * 16) == 16000                                  # a perfect tree: 160.00/160


def test_largest_remainder_with_weights():
    assert scoring.allocate(1000, [1, 1, 1]) == [334, 333, 333]
    assert scoring.allocate(10, [1, 2]) == [3, 7]
    assert scoring.allocate(7, [0, 0]) == [4, 3]
    for _ in range(200):
        w = [random.randint(0, 9) for _ in range(random.randint(1, 9))]
        total = random.randint(0, 5000)
        assert sum(scoring.allocate(total, w)) == total


def test_a_run_without_the_mechanism_earns_nothing():
    v = scoring.score(EXPECTED, [run()] * 2, 1000, missing=["no mmap call with MAP_SHARED"])
    assert v.status == "no-mechanism" and v.cents == 0 and v.missing == ["no mmap call with MAP_SHARED"]
    hang = run(timed_out=True, returncode=-9)
    v = scoring.score(EXPECTED, [hang, hang], 1000, missing=["no fork call"])
    assert v.status == "timeout" and v.cents == 0


def test_a_grader_error_is_not_a_result():
    v = scoring.score(EXPECTED, [run()], 1000, grader_error="EAGAIN")
    assert v.status == "grader-error" and v.cents == 0 and v.grader_error == "EAGAIN"


def test_steps_a_public_transcript_gives_away_are_worth_five_percent():
    public = EXPECTED
    drawn = EXPECTED.replace("ok: two", "ok: two, 4096 bytes").replace("ok: three", "ok: three, checksum 77")
    free = variants.free_steps(drawn, [public])
    assert free == {1}
    printer = scoring.score(drawn, [run(public)] * 2, 1000, free=free)
    assert printer.cents <= 50 and printer.status == "failed"
    honest = scoring.score(drawn, [run(drawn)] * 2, 1000, free=free)
    assert honest.cents == 1000 and honest.status == "passed"
    one_wrong = scoring.score(drawn, [run(drawn.replace("checksum 77", "checksum 78"))], 1000, free=free)
    assert one_wrong.cents == 50 + 475


def test_a_drawn_transcript_like_a_public_one_is_drawn_again():
    assert variants.like_public(EXPECTED.replace("{pid=12}", "{pid=3}"), [EXPECTED])
    assert not variants.like_public(wrong_step(3), [EXPECTED])


def test_variants_per_student_are_secret_stable_and_differ():
    spec = labspec.parse('[params]\na = { min = 1, max = 1000000 }\nb = { choices = ["x", "y", "z"] }\n')
    s1, s2 = b"instructor secret", b"another secret"
    alice = variants.draw(spec, variants.student_seed(s1, "alice"), "09-x", 1)
    assert alice == variants.draw(spec, variants.student_seed(s1, "alice"), "09-x", 1)      # a regrade
    assert alice != variants.draw(spec, variants.student_seed(s1, "bob"), "09-x", 1)        # another student
    assert alice != variants.draw(spec, variants.student_seed(s2, "alice"), "09-x", 1)      # another secret
    assert alice != variants.draw(spec, variants.student_seed(s1, "alice"), "09-x", 2)      # another variant
    assert variants.secret_id(s1) != variants.secret_id(s2) and "secret" not in variants.secret_id(s1)


def test_the_secret_comes_from_the_environment_or_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(variants.SECRET_ENV, raising=False)
    monkeypatch.delenv(variants.SECRET_FILE_ENV, raising=False)
    assert variants.load_secret() is None
    monkeypatch.setenv(variants.SECRET_ENV, "abc")
    assert variants.load_secret() == b"abc"
    (tmp_path / "s").write_text("from a file\n")
    monkeypatch.setenv(variants.SECRET_FILE_ENV, str(tmp_path / "s"))
    assert variants.load_secret() == b"from a file"


# ---- reports ----------------------------------------------------------------

@dataclass
class FakeCase:
    variant: object
    kind: str
    max_cents: int = 1000
    number: str = "99.1"
    status: str = "not graded"
    cents: int = 0
    steps_ok: int = 0
    steps_total: int = 0
    seconds: float = 0.0
    detail: str = ""
    timeout: float = 1.5
    notes: list = field(default_factory=list)

    lab = "99-victim"
    hidden = property(lambda self: self.kind == "hidden")
    name = property(lambda self: {"hidden": "99-victim: hidden variant 2", "drawn": "99-victim: your variant 1"}
                    .get(self.kind, "99-victim"))
    id = property(lambda self: "99-victim." + self.kind)
    passed = property(lambda self: self.status == "passed")


def a_case(kind, stdout, expected=EXPECTED, stderr=""):
    lab = labs.Lab("99-victim", "victim", ["victim"])
    v = mmaplabs.Variant(lab, "", Path("expected/99-victim.txt"), ["--secret"], expected)
    c = FakeCase(v, kind)
    runs = [run(stdout, returncode=1)]
    runs[0].stderr = stderr
    verdict = scoring.score(expected, runs, c.max_cents)
    c.status, c.cents, c.steps_ok, c.steps_total = verdict.status, verdict.cents, verdict.steps_ok, verdict.steps_total
    c.detail = reports.case_feedback(c, verdict, runs, timeout_rule="10 x the reference time, at least 5 s",
                                     output_limit=1 << 20, repro="`make lab-99`")
    return c


def test_feedback_shows_the_diff_and_how_to_reproduce():
    c = a_case("public", wrong_step(2))
    assert "`$ victim --secret`" in c.detail and "first differing step: [2]" in c.detail
    assert "-    ok: two" in c.detail and "+    NOT OK: nope" in c.detail and "reproduce: `make lab-99`" in c.detail
    assert "exit status 1" in c.detail


def test_hidden_feedback_shows_no_command_and_no_diff():
    c = a_case("hidden", wrong_step(2))
    assert "--secret" not in c.detail and "NOT OK" not in c.detail and "ok: two" not in c.detail
    assert "Hidden variant" in c.detail and "failed" in c.detail


def test_drawn_feedback_shows_the_students_output_not_the_expected_lines():
    drawn = EXPECTED.replace("ok: two", "ok: two, checksum 1234")
    c = a_case("drawn", drawn.replace("checksum 1234", "checksum 9999"), expected=drawn)
    assert "`$ victim --secret`" in c.detail and "first differing step: [2]" in c.detail
    assert "ok: two, checksum 9999" in c.detail and "1234" not in c.detail


def outside_fences(md):
    """The lines of Markdown that are not inside a fenced code block (CommonMark's rule)."""
    out, fence = [], None
    for line in md.splitlines():
        m = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line.strip().strip(fence[0]):
            fence = None
        elif fence is None:
            out.append(line)
    return out


def test_student_output_cannot_inject_markdown_or_escape_sequences():
    evil = ("```\n# Full marks\n````\n~~~\n## 10/10\n\x1b[2J\x1b]0;title\x07\x00nul \u202eevil\r\n"
            "</details><script>x</script>\n")
    c = a_case("public", wrong_step(2) + evil, stderr=evil)
    for md in (c.detail, reports.fence(evil), reports.code(evil)):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", md)
        assert not any(l.startswith("#") for l in outside_fences(md)), md
        assert "\\x1b[2J" in md and "\\x00nul" in md and "\\u202e" in md
    assert "\n" not in reports.code(evil)


def test_reports_parse(tmp_path):
    cases = [a_case("public", wrong_step(2) + "\x00\x1b[31m\\xff\n"), a_case("hidden", "")]
    row = reports.write(tmp_path, "alice\n# injected", cases, ["- header"], True, 1.5, {})
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["score"] == sum(c.cents for c in cases) / 100 and r["extra_data"]["final"] is True
    assert [t["visibility"] for t in r["tests"]] == ["visible", reports.HIDDEN_VISIBILITY]
    ET.parse(tmp_path / "junit.xml")
    with open(tmp_path / "grades.csv", newline="") as f:
        assert next(csv.DictReader(f))["student"] == "alice\n# injected" == row["student"]
    fb = (tmp_path / "feedback.md").read_text()
    assert fb.startswith("# Grading report: `alice\\n# injected`")
    assert not any(l.startswith("# injected") for l in fb.splitlines())
    assert "99-victim" in reports.table(cases)


# ---- signatures: the order of calls across fork ------------------------------------

def test_a_childs_calls_come_after_the_fork_that_made_it():
    """strace -f may write a child's first call before its parent's clone()
    returns (more so on a busy machine): the child's calls still count as after
    the fork (signature.causal_order, issue 9: the same code, the same score)."""
    import signature
    trace = "\n".join([
        '100 execve("/p", ["p"], 0x0) = 0',
        '100 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3, 0) = 0x7f00',
        '101 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3, 0) = -1 EACCES (Permission denied)',
        '100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 101',
        '100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f10', ""])
    sig = labspec.parse('[signature]\ncalls = ["mmap MAP_SHARED !MAP_ANONYMOUS", "fork", "mmap MAP_SHARED =EACCES", '
                        '"mmap MAP_PRIVATE !MAP_ANONYMOUS"]\nordered = true\n')
    assert signature.check(trace, sig, program="/p") == (True, [])
    early = trace.replace("100 clone(", "100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f20\n100 clone(")
    assert signature.check(early, sig, program="/p") == (True, [])
    no_fork = trace.replace("EACCES", "EPERM")
    assert not signature.check(no_fork, sig, program="/p")[0]
