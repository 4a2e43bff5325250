"""Tests of the grader: scores, reports, handout, and the hostile corpus.

Everything runs on a small copy of the tree (lab 09 plus a test lab,
99-victim, whose entry program the hostile submissions replace), so these
tests do not depend on the other labs and stay fast.
"""
import csv
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import labs
import mmaplabs
import runner

ROOT = labs.ROOT
HOSTILE = Path(__file__).resolve().parent / "hostile"
PY = sys.executable
SECRET = "s3cr3t-hidden-variant"
VICTIM = """/* A test lab for the grader's own tests: one step, one check. */
#include "common.h"

#include <time.h>

int main(void)
{
\tlab_begin(LAB_TITLE);
\tstep("Do one harmless thing.");
\t/* BEGIN SOLUTION */
\tint answer = 1;
\t/* END SOLUTION */
\t//> int answer = 0; /* TODO */
\tcheck(answer == 1, "it worked");
\treturn lab_end();
}
"""
# Cases that must be contained at every sandbox level (processes, limits, hygiene).
EVERY_LEVEL = ["fork-bomb", "setsid-daemon", "ignore-sigterm", "sysv-leak", "big-file"]
# Short limits keep the endless hostile cases quick; scale 20 leaves lab 09 room
# when a fork bomb runs beside it (real grading: max(10 x reference, 5 s)).
FAST = ["--timeout-floor", "1.5", "--timeout-scale", "20"]


def protected(name):
    """Whether the sandbox level in force here contains this hostile case.
    The weaker levels say what they do not isolate (test_weaker_levels_say_so)."""
    level = runner.level()[0]
    if name in ("write-outside", "read-hidden", "include-hidden"):    # the host's files
        return level == "bwrap" or os.geteuid() == 0  # as root: run as an unprivileged uid
    if name == "network":
        return level in ("bwrap", "unshare")
    return True


HOSTILE_CASES = sorted(p.stem for p in HOSTILE.glob("*.c"))


def need_bwrap():
    if os.geteuid() == 0 and not shutil.which("bwrap"):
        subprocess.run(["sh", str(ROOT / "harness" / "need.sh"), "bubblewrap"])


def host_state(tree):
    """What must be the same before and after grading hostile code."""
    procs = []       # escaped: an orphan (adopted by init) running graded code
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes()
                ppid = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            if (str(tree).encode() in cmd or b"/victim" in cmd) and ppid in ("0", "1"):
                procs.append((p, cmd))
    files = {}
    for p in sorted(Path(tree).rglob("*")):
        rel = p.relative_to(tree)
        if p.is_file() and rel.parts[0] != "build" and "__pycache__" not in rel.parts:
            files[str(rel)] = p.read_bytes()
    # Other programs (another grader, other tests) may create and remove their
    # own objects meanwhile: look only for ours (the hostile names and size).
    segs = [l.split() for l in open("/proc/sysvipc/shm").readlines()[1:]]
    return {
        "procs": procs,
        "shm": sorted(n for n in os.listdir("/dev/shm") if "hostile" in n),
        "sysv": sorted(f[1] for f in segs if f[3] == "77777"),
        "tmp": sorted(n for n in os.listdir("/tmp") if "hostile" in n),
        "root": os.path.exists("/root/mmaplab-hostile-pwned"),
        "tree": files,
    }


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A grader's tree: Makefile, harness, labs/common, lab 09 and 99-victim
    (its own labs/labs.mk lists just these two), built."""
    need_bwrap()
    t = tmp_path_factory.mktemp("grader")
    for f in ["Makefile"] + [str(p.relative_to(ROOT)) for p in (ROOT / "harness").glob("*.[ps][yh]")]:
        (t / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, t / f)
    shutil.copytree(ROOT / "labs" / "common", t / "labs" / "common")
    sigbus = labs.get(9)
    (t / "labs" / "labs.mk").write_text(
        f"ALL_LABS += {sigbus.slug}\n{sigbus.slug}.title := {sigbus.title}\n"
        f"{sigbus.slug}.programs := {' '.join(sigbus.programs)}\n\n"
        "ALL_LABS += 99-victim\n99-victim.title := victim\n99-victim.programs := victim\n")
    shutil.copytree(ROOT / "labs" / "09-sigbus-eof", t / "labs" / "09-sigbus-eof")
    (t / "expected").mkdir()
    shutil.copy2(ROOT / "expected" / "09-sigbus-eof.txt", t / "expected")
    (t / "labs" / "99-victim").mkdir()
    (t / "labs" / "99-victim" / "victim.c").write_text(VICTIM)
    programs = [str(lab.program_path("build", p)) for lab in labs.all_labs(t) for p in lab.programs]
    subprocess.run(["make", "-s", *programs], cwd=t, check=True, env=clean_env())
    r = runner.run([str(labs.get(99, t).program_path(t / "build"))], runner.seconds(10), level="plain")
    assert r.returncode == 0, r.stderr
    (t / "expected" / "99-victim.txt").write_text("$ victim\n" + r.stdout)
    hidden = tmp_path_factory.mktemp("hidden")        # the instructor's, outside the student tree
    os.chmod(hidden, 0o700)
    (hidden / "99-victim.txt").write_text(f"$ victim --{SECRET}\n" + r.stdout)
    return t, hidden


def clean_env(**more):
    """The environment for the test tree: BUILD=build there, whatever `make test` was given
    (a `make test BUILD=x` passes BUILD=x on to every make below it through MAKEFLAGS)."""
    e = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return {**e, "BUILD": "build", **more}


def grade_py(t, *args, env=None, timeout=None):
    e = clean_env(**(env or {}))
    e.pop("LABS", None), e.pop("EXPECTED", None), e.pop("SUBMISSION", None)
    return subprocess.run([PY, str(t / "harness" / "grade.py"), *args], cwd=t, env=e,
                          capture_output=True, text=True, errors="backslashreplace",
                          timeout=timeout or runner.seconds(300))


def submission(base, name, tree_dir, victim=None, sigbus=None):
    """A student's copy: only labs/ (student-owned files)."""
    d = base / name
    (d / "labs" / "99-victim").mkdir(parents=True)
    (d / "labs" / "99-victim" / "victim.c").write_text(victim if victim is not None else VICTIM)
    (d / "labs" / "09-sigbus-eof").mkdir(parents=True)
    src = (tree_dir / "labs" / "09-sigbus-eof" / "sigbus-eof.c").read_text()
    (d / "labs" / "09-sigbus-eof" / "sigbus-eof.c").write_text(sigbus(src) if sigbus else src)
    return d


def must_replace(text, old, new):
    """The lab's source, broken on purpose: the test must notice when the lab changes."""
    assert text.count(old) == 1, f"lab 09 no longer has exactly one {old!r}: update the test"
    return text.replace(old, new)


def check_results_json(path):
    """The fields Gradescope documents for results.json, and nothing malformed."""
    r = json.loads(Path(path).read_text())
    formats = {"text", "html", "simple_format", "md", "ansi"}
    vis = {"hidden", "after_due_date", "after_published", "visible"}
    assert isinstance(r["score"], (int, float))
    assert isinstance(r["execution_time"], int)
    assert r["output_format"] in formats and r["test_output_format"] in formats
    assert r["visibility"] in vis and r["stdout_visibility"] in vis
    for t in r["tests"]:
        assert set(t) <= {"score", "max_score", "status", "name", "name_format", "number", "output",
                          "output_format", "tags", "visibility", "extra_data"}
        assert isinstance(t["score"], (int, float)) and isinstance(t["max_score"], (int, float))
        assert 0 <= t["score"] <= t["max_score"] + 1e-9
        assert t["status"] in ("passed", "failed") and t["visibility"] in vis
        assert t["output_format"] in formats and isinstance(t["name"], str) and isinstance(t["output"], str)
    assert abs(r["score"] - sum(t["score"] for t in r["tests"])) < 0.05
    return r


def lab_tests(results, lab):
    return [t for t in results["tests"] if t["tags"][0] == lab]


# ---- the reference, a broken lab, a missing lab, the handout -------------------

@pytest.fixture(scope="module")
def batch(tree, tmp_path_factory):
    """Grade the hostile corpus and a few ordinary submissions in one batch (-j 2)."""
    t, hidden = tree
    subs = tmp_path_factory.mktemp("subs")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    for f in sorted(HOSTILE.glob("*.c")):
        if not protected(f.stem):
            continue
        src = f.read_text().replace("@GRADER_ROOT@", str(t)).replace("@HIDDEN@", str(hidden / "99-victim.txt"))
        submission(subs, f.stem, t, victim=src.replace("@PORT@", str(port)))
    submission(subs, "reference", t)
    submission(subs, "broken-compile", t, sigbus=lambda s: must_replace(s, "int main(", "int main oops("))
    submission(subs, "broken-step", t, sigbus=lambda s: must_replace(s, '"file size: %lld page(s)"', '"file size: %lld pages"'))
    submission(subs, "nondeterministic", t, victim=VICTIM.replace(
        '\tcheck(', '\tstruct timespec ts;\n\tclock_gettime(CLOCK_MONOTONIC, &ts);\n\tsay("now %ld", ts.tv_nsec);\n\tcheck('))
    d = submission(subs, "missing-lab", t)
    shutil.rmtree(d / "labs" / "09-sigbus-eof")
    before = host_state(t)
    out = tmp_path_factory.mktemp("out")
    r = grade_py(t, "all", str(subs), "-j", "2", "--labs", "9,99", "--expected", str(hidden),
                 "--out", str(out), "--repeat", "2", *FAST)
    try:
        conn, _ = listener.accept()
        conn.close()
        connected = True
    except BlockingIOError:
        connected = False
    listener.close()
    after = host_state(t)
    return {"run": r, "out": out, "subs": subs, "before": before, "after": after, "connected": connected,
            "tree": t, "hidden": hidden}


def results_of(batch, name):
    return check_results_json(batch["out"] / "work" / name / "results.json")


def test_batch_ran(batch):
    assert batch["run"].returncode == 0, batch["run"].stdout + batch["run"].stderr


def test_reference_scores_full_marks(batch):
    r = results_of(batch, "reference")
    assert r["score"] == r["extra_data"]["max_score"] == 20
    assert all(t["status"] == "passed" for t in r["tests"])


def test_broken_lab_loses_exactly_its_points(batch):
    r = results_of(batch, "broken-compile")
    assert sum(t["score"] for t in lab_tests(r, "09-sigbus-eof")) == 0
    assert sum(t["score"] for t in lab_tests(r, "99-victim")) == 10
    out = lab_tests(r, "09-sigbus-eof")[0]["output"]
    assert "does not compile" in out and "error" in out and "oops" in out


def test_wrong_step_costs_that_step_with_a_readable_diff(batch):
    r = results_of(batch, "broken-step")
    (t,) = lab_tests(r, "09-sigbus-eof")
    steps = mmaplabs.steps((batch["tree"] / "expected" / "09-sigbus-eof.txt").read_text().partition("\n")[2])
    n = len(steps) - 1                                  # the header is no step
    (broken,) = [i for i, text in steps if "    file size: 1 page(s)\n" in text]
    assert t["score"] == round(10 * (n - 1) / n, 2) and t["status"] == "failed"
    assert f"first differing step: [{broken}]" in t["output"]
    assert "-    file size: 1 page(s)" in t["output"] and "+    file size: 1 pages" in t["output"]
    assert "make lab-9" in t["output"] and "make grade SUBMISSION=" in t["output"]
    assert sum(t["score"] for t in lab_tests(r, "99-victim")) == 10


def test_missing_lab_scores_zero_and_says_so(batch):
    r = results_of(batch, "missing-lab")
    (t,) = lab_tests(r, "09-sigbus-eof")
    assert t["score"] == 0 and "missing" in t["output"]


def test_nondeterministic_run_is_reported(batch):
    r = results_of(batch, "nondeterministic")
    (t, _) = lab_tests(r, "99-victim")
    assert t["tags"][1] == "nondeterministic" and t["score"] == 0
    assert "run 2 of 2 printed something else than run 1 (first at step 1)" in t["output"]


def test_hidden_variants_are_graded_but_not_shown(batch):
    r = results_of(batch, "reference")
    hidden = [t for t in r["tests"] if "hidden" in t["name"]]
    assert len(hidden) == 1 and hidden[0]["visibility"] != "visible" and hidden[0]["score"] == 5
    assert SECRET not in json.dumps(r)


def test_reports_parse(batch):
    out, subs = batch["out"], batch["subs"]
    names = sorted(p.name for p in subs.iterdir())
    assert len(names) >= 13
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student"] for r in rows) == names
    for n in names:
        ET.parse(out / "work" / n / "junit.xml")
        assert (out / "feedback" / f"{n}.md").exists()


def test_grade_all_resumes(batch):
    t = batch["tree"]
    r = grade_py(t, "all", str(batch["subs"]), "--labs", "9,99", "--expected", str(batch["hidden"]),
                 "--out", str(batch["out"]), "--repeat", "2", *FAST)
    assert r.returncode == 0 and f"{len(list(batch['subs'].iterdir()))} unchanged" in r.stdout, r.stdout


def test_handout(tree, tmp_path):
    t, hidden = tree
    r = grade_py(t, "handout", "--out", str(tmp_path / "handout"), "--expected", str(hidden))
    assert r.returncode == 0, r.stdout + r.stderr
    src = (tmp_path / "handout" / "labs" / "99-victim" / "victim.c").read_text()
    assert "SOLUTION" not in src and "int answer = 0;" in src
    assert "self-check: the reference scores 20/20" in r.stdout and "handout check: ok" in r.stdout
    # A hidden variant left inside the tree by mistake is caught.
    leak = t / "notes" / "oops.txt"
    leak.parent.mkdir(exist_ok=True)
    shutil.copy(hidden / "99-victim.txt", leak)
    try:
        r = grade_py(t, "handout", "--out", str(tmp_path / "handout2"), "--expected", str(hidden))
    finally:
        leak.unlink()
    assert r.returncode == 1 and "hidden variant 99-victim.txt leaked into the handout as notes/oops.txt" in r.stdout


def test_killed_grader_leaves_a_result_file(tree, tmp_path):
    """Kill the grader halfway: results.json lists every case, the finished ones
    scored, and the sandbox dies with the grader."""
    t, _ = tree
    sub = submission(tmp_path / "subs", "slow", t, victim=(HOSTILE / "infinite-loop.c").read_text())
    out = tmp_path / "out"
    tmp = Path(tempfile.mkdtemp(prefix="mmaplab-test-kill."))   # where the grader's temporary tree goes
    os.chmod(tmp, 0o755)
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)     # PR_SET_CHILD_SUBREAPER: the killed grader's children come to us
    try:
        grade_and_kill(t, sub, out, tmp)
    finally:
        libc.prctl(36, 0, 0, 0, 0)
        while True:                # ... and are reaped here, not left as zombies
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        shutil.rmtree(tmp, ignore_errors=True)


def grade_and_kill(t, sub, out, tmp_path):
    env = clean_env(TMPDIR=str(tmp_path))
    p = subprocess.Popen([PY, str(t / "harness" / "grade.py"), "grade", "--submission", str(sub), "--labs", "9,99",
                          "--out", str(out), "--timeout-floor", "3"], cwd=t, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + runner.seconds(60)
        while time.monotonic() < deadline:
            try:
                r = json.loads((out / "results.json").read_text())
                if r["tests"][0]["status"] == "passed":
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        time.sleep(0.5)                      # now inside the endless lab 99
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    r = check_results_json(out / "results.json")
    assert r["extra_data"]["final"] is False and "interrupted" in r["output"]
    assert [t["tags"] for t in r["tests"]] == [["09-sigbus-eof", "passed"], ["99-victim", "not graded"]]
    assert r["score"] == 10
    def running():       # the sandbox and the lab run from the grader's temporary tree in TMPDIR
        return [c for c in map(_cmdline, filter(str.isdigit, os.listdir("/proc"))) if str(tmp_path).encode() in c]
    deadline = time.monotonic() + runner.seconds(10)   # at the rlimits level the supervisor ends at the time limit
    while running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(), "the sandbox outlived the grader"
    if runner.level()[0] != "rlimits":
        assert time.monotonic() < deadline - runner.seconds(8), "the sandbox did not die with the grader"


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# ---- the hostile corpus --------------------------------------------------------

def test_host_unchanged(batch):
    b, a = batch["before"], batch["after"]
    assert a["procs"] == b["procs"], "a process of the graded code survived"
    assert a["shm"] == b["shm"] and a["sysv"] == b["sysv"] and a["tmp"] == b["tmp"]
    assert not a["root"]
    assert a["tree"] == b["tree"], "the grader's tree was changed"


def test_weaker_levels_say_so():
    level = runner.level()[0]
    text = runner.describe(level)
    assert text.startswith(f"sandbox level: {level} ")
    if level != "bwrap":
        assert "shared" in text or "NOT isolated" in text
    if level == "rlimits":
        assert "network" in text and "NOT isolated" in text


@pytest.mark.parametrize("name", HOSTILE_CASES)
def test_hostile_contained_and_other_lab_graded(batch, name):
    if not protected(name):
        pytest.skip(f"sandbox level {runner.level()[0]} as uid {os.geteuid()} does not isolate what {name} "
                    "attacks, and says so in every report (test_weaker_levels_say_so)")
    r = results_of(batch, name)
    assert r["extra_data"]["final"]
    assert sum(t["score"] for t in lab_tests(r, "09-sigbus-eof")) == 10, "the other lab was not graded in full"
    (t, hid) = lab_tests(r, "99-victim")
    out = t["output"]
    assert t["status"] == "failed" and hid["status"] == "failed"
    status = t["tags"][1]
    level = runner.level()[0]
    expect = {
        "infinite-loop": lambda: status == "timeout",
        "ignore-sigterm": lambda: status == "timeout",
        "fork-bomb": lambda: status in ("timeout", "failed") or status.startswith("crashed"),
        "setsid-daemon": lambda: "still running after the program ended" in out,
        "sysv-leak": lambda: status == "hygiene" and "System V segment" in out and "IPC_RMID" in out,
        "fill-dev-shm": lambda: "/dev/shm/hostile-fill left behind" in out,
        "big-file": lambda: status == "crashed (SIGXFSZ)" and "big.dat" in out,
        "megabytes": lambda: status == "output limit",
        "bad-utf8": lambda: status == "failed" and "\\xff" in out,
        "write-outside": lambda: "write " + str(batch["tree"]) in out,
        "read-hidden": lambda: SECRET not in out,
        "include-hidden": lambda: status == "compile error" and SECRET not in r["output"] + out,
        "network": lambda: not batch["connected"] or level == "rlimits",
    }[name]
    assert expect(), f"{name}: status {status}\n{out}"
    for f in (batch["out"] / "work" / name).iterdir():
        assert SECRET not in f.read_text(errors="replace"), f"the hidden variant leaked into {f.name}"
    if name == "network" and level != "rlimits":
        assert "CONNECTED" not in out
    if name == "write-outside" and os.geteuid() == 0:
        assert f"running as uid {runner.SANDBOX_UID}\n" in out, "as root, student code must not run as root"
    if name == "write-outside" and level == "bwrap":
        assert "WRITTEN" not in out.split("/tmp/")[0]


def test_containment_without_namespaces(tree, tmp_path):
    """The rlimits level (no bwrap, no unshare) must still contain processes and clean up."""
    t, _ = tree
    subs = tmp_path / "subs"
    for n in EVERY_LEVEL:
        submission(subs, n, t, victim=(HOSTILE / f"{n}.c").read_text())
    before = host_state(t)
    r = grade_py(t, "all", str(subs), "-j", "2", "--labs", "99", "--repeat", "1", "--out", str(tmp_path / "out"),
                 *FAST, env={"MMAPLABS_SANDBOX": "rlimits"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sandbox level: rlimits" in r.stdout and "NOT isolated" in r.stdout
    assert "graded one at a time" in r.stdout
    after = host_state(t)
    assert after["procs"] == before["procs"] and after["shm"] == before["shm"] and after["sysv"] == before["sysv"]
    assert after["tree"] == before["tree"]
    for n in EVERY_LEVEL:
        res = check_results_json(tmp_path / "out" / "work" / n / "results.json")
        assert sum(x["score"] for x in lab_tests(res, "99-victim")) == 0, n


def test_only_plain_student_files_are_taken(tmp_path):
    """Symbolic links (of a file or a folder) and hard links are refused: as root
    the grader reads the files, and they could point at anything."""
    import grade
    lab = "09-sigbus-eof"
    only = [labs.get(lab)]
    src = ROOT / "labs" / lab / "sigbus-eof.c"
    sub = tmp_path / "sub" / "labs"
    (sub / lab).mkdir(parents=True)
    (sub / lab / "sigbus-eof.c").symlink_to(src)
    assert "not a regular file" in grade.student_files(sub.parent, only)[f"labs/{lab}/sigbus-eof.c"]
    (sub / lab / "sigbus-eof.c").unlink()
    shutil.copy(src, tmp_path / "copy.c")
    os.link(tmp_path / "copy.c", sub / lab / "sigbus-eof.c")
    assert "hard links" in grade.student_files(sub.parent, only)[f"labs/{lab}/sigbus-eof.c"]
    shutil.rmtree(sub / lab)
    (sub / lab).symlink_to(ROOT / "labs" / lab)
    assert "not a regular file" in grade.student_files(sub.parent, only)[f"labs/{lab}/sigbus-eof.c"]
    (sub / lab).unlink()
    assert "missing" in grade.student_files(sub.parent, only)[f"labs/{lab}/sigbus-eof.c"]
    (sub / lab).mkdir()
    shutil.copy(src, sub / lab / "sigbus-eof.c")
    assert grade.student_files(sub.parent, only)[f"labs/{lab}/sigbus-eof.c"] == src.read_bytes()
