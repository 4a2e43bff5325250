"""Unit tests of the grading rule (scoring.py) and the report formats (reports.py):
no build, no sandbox, no process; runs are made up."""
import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import labs
import mmaplabs
import reports
import runner
import scoring

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
    v = scoring.score(EXPECTED, [run(), run(EXPECTED.replace("{pid=12}", "{pid=99}"))], 10)
    assert (v.status, v.score, v.steps_ok, v.steps_total) == ("passed", 10, 3, 3)
    assert v.differs is None and v.nondet is None and v.bad is None


def test_each_wrong_step_costs_its_share():
    v = scoring.score(EXPECTED, [run(wrong_step(2))] * 2, 10)
    assert (v.status, v.steps_ok, v.score) == ("failed", 2, 6.67)
    assert v.differs == 0 and v.first_differing_step == 2


def test_a_step_counts_only_if_it_holds_in_every_run():
    v = scoring.score(EXPECTED, [run(), run(wrong_step(3))], 10)
    assert v.status == "nondeterministic" and v.nondet == 1 and v.steps_ok == 2


@pytest.mark.parametrize("kw, status", [
    ({"returncode": 1}, "failed"),
    ({"leftovers": ["System V segment 7 left behind"]}, "hygiene"),
])
def test_full_marks_need_a_clean_exit(kw, status):
    v = scoring.score(EXPECTED, [run(**kw)], 10)
    assert v.status == status and v.steps_ok == 2 and v.score == 6.67


@pytest.mark.parametrize("kw, status", [
    ({"timed_out": True, "returncode": -9}, "timeout"),
    ({"output_limited": True, "returncode": -13}, "output limit"),
    ({"returncode": -11}, "crashed (SIGSEGV)"),
    ({"returncode": -7}, "crashed (SIGBUS)"),
])
def test_runs_that_stop(kw, status):
    r = run(**kw)
    assert scoring.stops(r)
    v = scoring.score(EXPECTED, [run(), r], 10)
    assert v.status == status and v.bad == 1 and v.score < 10


def test_leftovers_of_every_run_are_listed_once():
    v = scoring.score(EXPECTED, [run(leftovers=["a", "b"]), run(leftovers=["b"])], 5)
    assert v.leftovers == ["a", "b"] and v.status == "hygiene"


def test_the_header_is_worth_nothing():
    broken = EXPECTED.replace("# Lab 99: victim", "# Lab 99: something else")
    v = scoring.score(EXPECTED, [run(broken)], 10)
    assert v.steps_ok == 2 and v.status == "failed" and v.first_differing_step == 0


def test_no_run():
    v = scoring.no_run("compile error", EXPECTED)
    assert (v.status, v.score, v.steps_ok, v.steps_total) == ("compile error", 0.0, 0, 3)


def test_scoring_is_pure():
    runs = [run(wrong_step(1)), run()]
    assert scoring.score(EXPECTED, runs, 10) == scoring.score(EXPECTED, runs, 10)


# ---- reports ----------------------------------------------------------------

@dataclass
class FakeCase:
    variant: object
    hidden: bool
    max_score: float = 10.0
    number: str = "99.1"
    status: str = "not graded"
    score: float = 0.0
    steps_ok: int = 0
    steps_total: int = 0
    seconds: float = 0.0
    detail: str = ""
    timeout: float = 1.5
    notes: list = field(default_factory=list)

    lab = "99-victim"
    name = property(lambda self: "99-victim: hidden variant 2" if self.hidden else "99-victim")
    id = property(lambda self: "99-victim.hidden2" if self.hidden else "99-victim")
    passed = property(lambda self: self.status == "passed")


def a_case(hidden, stdout):
    lab = labs.Lab("99-victim", "victim", ["victim"])
    v = mmaplabs.Variant(lab, "", Path("expected/99-victim.txt"), ["--secret"], EXPECTED)
    c = FakeCase(v, hidden)
    runs = [run(stdout, returncode=1)]
    verdict = scoring.score(EXPECTED, runs, c.max_score)
    c.status, c.score, c.steps_ok, c.steps_total = verdict.status, verdict.score, verdict.steps_ok, verdict.steps_total
    c.detail = reports.case_feedback(c, verdict, runs, timeout_rule="10 x the reference time, at least 5 s",
                                     output_limit=1 << 20, repro="`make lab-99`")
    return c


def test_feedback_shows_the_diff_and_how_to_reproduce():
    c = a_case(False, wrong_step(2))
    assert "`$ victim --secret`" in c.detail and "first differing step: [2]" in c.detail
    assert "-    ok: two" in c.detail and "+    NOT OK: nope" in c.detail and "reproduce: `make lab-99`" in c.detail
    assert "exit status 1" in c.detail


def test_hidden_feedback_shows_no_command_and_no_diff():
    c = a_case(True, wrong_step(2))
    assert "--secret" not in c.detail and "NOT OK" not in c.detail and "ok: two" not in c.detail
    assert "Hidden variant" in c.detail and "failed" in c.detail


def test_reports_parse(tmp_path):
    cases = [a_case(False, wrong_step(2) + "\x00\x1b[31m\\xff\n"), a_case(True, "")]
    row = reports.write(tmp_path, "alice", cases, ["- header"], True, 1.5, {})
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["score"] == round(sum(c.score for c in cases), 2) and r["extra_data"]["final"] is True
    assert [t["visibility"] for t in r["tests"]] == ["visible", reports.HIDDEN_VISIBILITY]
    ET.parse(tmp_path / "junit.xml")
    with open(tmp_path / "grades.csv", newline="") as f:
        assert next(csv.DictReader(f))["student"] == "alice" == row["student"]
    assert (tmp_path / "feedback.md").read_text().startswith("# Grading report: alice")
    assert "99-victim" in reports.table(cases)
