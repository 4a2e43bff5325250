"""Tests of the grader: scores, reports, handout, the hostile corpus and the
cheater corpus, determinism beside a fork bomb, Ctrl-C, the Gradescope route.

Everything runs on a small copy of the tree (lab 09, which has parameters and
a signature, plus a test lab, 99-victim, whose entry program the hostile
submissions replace; the cheaters replace lab 09's), so these tests do not
depend on the other labs and stay fast.  Time limits are the machine's
(runner.seconds), never fixed.
"""
import compileall
import csv
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

import handout
import labs
import labspec
import mmaplabs
import runner
import variants
from test_scoring import outside_fences

ROOT = labs.ROOT
HOSTILE = Path(__file__).resolve().parent / "hostile"
CHEATERS = Path(__file__).resolve().parent / "cheaters"
PY = sys.executable
SECRET = "s3cr3t-hidden-variant"          # inside the hidden transcript: must never show
GRADE_KEY = "test-instructor-secret"      # the instructor's GRADE_SECRET for the batch
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
# The cases that never end by themselves: each of their runs lasts its whole time
# limit, spinning on a CPU.  They are graded by a grade-all of their own beside the
# others', with a short floor (fast(endless=True)): what is checked (killed at the
# limit, contained, cleaned up, the other lab graded in full) does not depend on
# how long the limit is, and the floor of the cases that end by themselves
# (ENDING_FLOOR) would make each spin 20 times as long.
# All at once (-j 3): their limits are wall-clock time, so three spinning side by
# side end together.  One at a time, the endless grade-all was the one its test
# waited for: 5.4-5.9 s against the other's 5.0-5.1 s in the hostile batch (all
# at once: 4.2-4.7 s against 5.0-6.0 s), 2.4-3.8 s against 1.9-2.2 s in the
# containment test (all at once: 2.1-3.1 s).  (-j 1 was for big-file, which
# missed its 0.5 s floor beside all three spinning in 2 of about 30 runs;
# ENDING_FLOOR has made that safe.)
ENDLESS = ("fork-bomb", "ignore-sigterm", "infinite-loop")


# The floor of a grading whose cases all end by themselves (a file written up to
# RLIMIT_FSIZE, a flood of output, a lab): none waits it out, so a generous one
# costs nothing.  It must hold under the load the gradings themselves make, which
# the slowness fast() measures just before they start does not see: at 0.5 s
# (slowness 1.00 measured just before), big-file was graded timeout once beside
# the two batches' graders; earlier at 0.67 s and at 0.86 s.
ENDING_FLOOR = 3.0


# A short floor keeps the endless hostile cases quick (the victim's own time is a
# millisecond: the floor decides); scale 40 leaves lab 09 room when a fork bomb
# runs beside it (real grading: max(10 x reference, 5 s)).
def fast(endless=False, again=True):
    """Limits for a grading that starts now, from the machine's slowness
    measured again (the other workers' tests load it more or less as the
    session goes on); the graders started here inherit the measure.  The
    floor: ENDING_FLOOR, or (under emulation) 5 times what writing a file up
    to RLIMIT_FSIZE takes now, if longer.
    endless: for a grading of ENDLESS cases only, whose limit only has to
    end them (where lab 09 is graded too, it needs a floor of its own:
    grade_batch).
    again=False: the measure fast() has just taken, for a grading started
    beside that one (each measure is 60 process starts: 0.14 CPU-s)."""
    if again:
        os.environ.pop("MMAPLABS_SLOWNESS", None)
    floor = runner.seconds(0.15) if endless else max(runner.seconds(ENDING_FLOOR), 5 * file_limit_seconds())
    return ["--timeout-floor", f"{floor:.2f}", "--timeout-scale", "40"]


def file_limit_seconds():
    """How long writing a file up to the runs' RLIMIT_FSIZE takes here now,
    written through to the disk (fdatasync), in the folder the graders work
    in.  The slowness probe (process starts, a shell loop) does not see the
    disk: on Debian's 6.1 under TCG the hostile big-file, whose dirty pages
    a run's memory limit sends to an emulated disk, once needed more than
    the probe's 14.6 s and was graded timeout in one run and SIGXFSZ in the
    other.  About 0.05 s on a quiet 2-CPU VM, so the floor stays the probe's."""
    size = runner.Limits().file_size
    chunk = b"x" * (1 << 20)
    fd, path = tempfile.mkstemp(prefix="mmaplab-io.")
    try:
        start = time.monotonic()
        for _ in range(size // len(chunk)):
            os.write(fd, chunk)
        os.fdatasync(fd)
        return time.monotonic() - start
    finally:
        os.close(fd)
        os.unlink(path)


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
    for p in filter(str.isdigit, os.listdir("/proc")):
        cmd, stat = _cmdline(p), _stat(p)
        if stat and (str(tree).encode() in cmd or b"/victim" in cmd) and stat[1] in ("0", "1"):
            procs.append((p, cmd))
    # A sandbox's own pid 1 (the inner bwrap) is orphaned for a moment when the
    # outer one ends first, in any grading: seen in another worker's ordinary
    # gradings, running with a SIGCHLD pending, a zombie 10 ms later (and once
    # as this test's failure).  A bwrap counts only if it is still there, alive,
    # a second later; graded code that escaped always counts.
    procs = [(p, cmd) for p, cmd in procs if not (cmd.startswith(b"bwrap\0") and _ends_soon(p))]
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


def _ends_soon(pid, within=1.0):
    """Whether process pid is gone or a zombie within `within` seconds of a quiet machine."""
    deadline = time.monotonic() + runner.seconds(within)
    while True:
        stat = _stat(pid)
        if not stat or stat[0] in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


@pytest.mark.long        # mostly waiting (1.3 s): started beside the gradings, not last
def test_host_state_counts_lasting_orphans_not_a_sandbox_ending(tmp_path):
    """An orphan (adopted by init) whose command line names the tree is an
    escape; a bwrap among them only if it lasts (see host_state)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    def orphan(argv0, seconds):      # a process named argv0 whose parent has ended
        # It says it has started (a file) before it sleeps, so the wait does
        # not have to catch the short one alive in /proc.  The file's name
        # stays out of its command line's way: a path holding "/victim"
        # would make it graded code for another test's host_state.
        started = tmp_path / f"orphan-{len(list(tmp_path.glob('orphan-*')))}"
        code = f"import time; open({str(started)!r}, 'w').close(); time.sleep({seconds})"
        subprocess.run(["/bin/sh", "-c", '("$@" &)', "sh", PY, "-c", "import os, sys; os.execv(sys.argv[1], sys.argv[2:])",
                        PY, argv0, "-c", code, str(tree)], check=True)
        deadline = time.monotonic() + runner.seconds(10)
        while not started.exists():
            assert time.monotonic() < deadline, f"{argv0} never started"
            time.sleep(0.01)
    try:
        # A sandbox ending: not an escape.  Still running when host_state looks
        # unless the next two took 0.5 s to start; gone within its 1 s.
        orphan("bwrap", round(runner.seconds(0.5), 2))
        orphan("victim-like", 30)       # anything else: an escape
        orphan("bwrap", 30)             # a sandbox left running: an escape
        found = sorted(cmd.split(b"\0")[0] for _, cmd in host_state(tree)["procs"])
        assert found == [b"bwrap", b"victim-like"], found
    finally:
        for p in filter(str.isdigit, os.listdir("/proc")):
            if str(tree).encode() in _cmdline(p):
                os.kill(int(p), signal.SIGKILL)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A grader's tree: Makefile, harness, labs/common, lab 09 and 99-victim
    (its own labs/labs.mk lists just these two), built; and a folder of hidden
    transcripts.  One for the whole session, made by the first xdist worker
    that needs it (the others wait on a lock), in the session's temporary
    folder (conftest.py): the labs compile once, and every grading reuses the
    grader's part, the reference runs and the compiled programs kept there.
    No test changes the tree (host_state compares it): test_handout's leak
    goes into a copy."""
    import fcntl
    base = Path(os.environ.get("MMAPLAB_TEST_TMPDIR") or tmp_path_factory.getbasetemp())
    t, hidden = base / "grader", base / "hidden"
    with open(base / "grader.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "grader.made").exists():
            shutil.rmtree(t, ignore_errors=True)
            shutil.rmtree(hidden, ignore_errors=True)
            make_tree(t, hidden)
            (base / "grader.made").touch()
    return t, hidden


def make_tree(t, hidden):
    need_bwrap()
    t.mkdir()
    for f in ["Makefile"] + [str(p.relative_to(ROOT)) for p in (ROOT / "harness").glob("*.[psc]*")] \
            + [str(p.relative_to(ROOT)) for p in (ROOT / "harness" / "gradescope").glob("*")]:
        (t / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, t / f)
    # The graders' bytecode, written once here even where PYTHONDONTWRITEBYTECODE is
    # set: otherwise each of the ~60 graders the tests start compiles it again (13 ms).
    compileall.compile_dir(str(t / "harness"), maxlevels=0, quiet=1)
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
    subprocess.run(["make", "-s", f"-j{os.cpu_count() or 1}", *programs], cwd=t, check=True, env=clean_env())
    (t / "build" / "harness").mkdir(parents=True, exist_ok=True)   # the same supervisor source: no 2nd compile
    shutil.copy2(runner.supervisor(), t / "build" / "harness" / runner.supervisor().name)
    r = runner.run([str(labs.get(99, t).program_path(t / "build"))], runner.seconds(10), level="plain")
    assert r.returncode == 0, r.stderr
    (t / "expected" / "99-victim.txt").write_text("$ victim\n" + r.stdout)
    hidden.mkdir(mode=0o700)         # the instructor's, outside the student tree
    os.chmod(hidden, 0o700)
    (hidden / "99-victim.txt").write_text(f"$ victim --{SECRET}\n" + r.stdout)


def clean_env(**more):
    """The environment for the test tree: BUILD=build there, whatever `make test` was given
    (a `make test BUILD=x` passes BUILD=x on to every make below it through MAKEFLAGS)."""
    e = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return {**e, "BUILD": "build", **more}


def grader_env(env=None):
    e = clean_env(**(env or {}))
    for k in ("LABS", "EXPECTED", "SUBMISSION", "GRADE_SECRET", "GRADE_SECRET_FILE", "DRAWN", "SIGNATURES"):
        e.pop(k, None)
    e.update(env or {})
    return e


def grade_py(t, *args, env=None, timeout=None):
    return subprocess.run([PY, str(t / "harness" / "grade.py"), *args], cwd=t, env=grader_env(env),
                          capture_output=True, text=True, errors="backslashreplace",
                          timeout=timeout or runner.seconds(300))


def c_string(text):
    """A C string literal holding text's UTF-8 bytes exactly (no trigraph, no escape surprise)."""
    out = []
    for b in text.encode("utf-8", "surrogateescape"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else "\\%03o" % b)
    return '"' + "".join(out) + '"'


def drawn_variant(t, student, k=1):
    """(args, transcript) of lab 09's drawn variant k for a student, as the
    grader draws it (variants.py) and the reference prints it."""
    lab = labs.get(9, t)
    spec = labspec.load(lab, t)
    public = [v.body for v in mmaplabs.variants(lab, t / "expected")]
    seed = variants.student_seed(GRADE_KEY.encode(), student)
    for attempt in range(variants.REDRAWS):
        args = labspec.args_for(variants.draw(spec, seed, lab.slug, k, attempt))
        r = runner.run([str(lab.program_path(t / "build"))] + args, runner.seconds(30), level="plain")
        assert r.returncode == 0, r.stdout + r.stderr
        if not variants.like_public(r.stdout, public):
            return args, r.stdout
    raise AssertionError("no drawn variant unlike the public transcript")


def submission(base, name, tree_dir, victim=None, sigbus=None, sigbus_text=None):
    """A student's copy: only labs/ (student-owned files)."""
    d = base / name
    (d / "labs" / "99-victim").mkdir(parents=True)
    (d / "labs" / "99-victim" / "victim.c").write_text(victim if victim is not None else VICTIM)
    (d / "labs" / "09-sigbus-eof").mkdir(parents=True)
    src = (tree_dir / "labs" / "09-sigbus-eof" / "sigbus-eof.c").read_text()
    (d / "labs" / "09-sigbus-eof" / "sigbus-eof.c").write_text(
        sigbus_text if sigbus_text is not None else sigbus(src) if sigbus else src)
    return d


def cheater(name, transcript, args=""):
    return (CHEATERS / f"{name}.c").read_text().replace("@TRANSCRIPT@", c_string(transcript)) \
        .replace("@ARGS@", c_string(args))


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

# Two batches, each one grade-all run (-j 4, with an instructor's secret: lab 09
# is graded on a variant drawn for each student), each an xdist group of its
# own (XDIST_SHARED, conftest.py), so the two run on two workers at once.
XDIST_SHARED = {"batch", "hostile"}
CLASS = ["broken-compile", "broken-step", "cheat-arithmetic", "cheat-copy-other", "cheat-print-public",
         "handout", "missing-lab", "nondeterministic", "reference"]


def split_endless(subs):
    """The ENDLESS submissions of subs, moved into a folder of their own (None: there are none)."""
    found = [p for p in sorted(subs.iterdir()) if p.name in ENDLESS]
    if not found:
        return None
    endless = subs.parent / (subs.name + "-endless")
    endless.mkdir()
    for p in found:
        p.rename(endless / p.name)
    return endless


def grade_alls(t, parts, *args, env=None):
    """One grade-all per (subs, out, its own arguments, jobs) of parts, all at once;
    their CompletedProcesses.  (As an ordinary user at the weak levels the graders
    still take turns: runner.shared_uid_turn.)"""
    procs = [subprocess.Popen([PY, str(t / "harness" / "grade.py"), "all", str(subs), "-j", str(jobs),
                               "--out", str(out), *args, *settings], cwd=t, env=grader_env(env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="backslashreplace")
             for subs, out, settings, jobs in parts]
    done = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=runner.seconds(300))
            done.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    finally:
        for p in procs:            # one timed out: none is left running
            if p.poll() is None:
                p.kill()
                p.communicate()
    return done


def grade_batch(t, hidden, subs, tmp_path_factory, env=None, repeat=2):
    """grade-all over subs (the batch's settings), with the host's state before
    and after; its ENDLESS submissions by a second grade-all at the same time,
    with the short floor (their own "part": out_of() finds a submission's)."""
    before = host_state(t)
    endless = split_endless(subs)
    parts = [(subs, tmp_path_factory.mktemp("out"), fast(), 4)]
    if endless:
        # Lab 09, graded there too, has ENDING_FLOOR as its own floor.  With the
        # short one and scale 40 its limit was 0.34-9 s (its reference: 4-9 ms
        # on a quiet machine), and its traced runs took up to 0.34 s of program
        # time beside the three spinning and the class batch (24 runs): once,
        # with a kernel test in qemu beside the suite, infinite-loop's lab 09
        # was graded timeout (8.64/10).  Scale 200 instead (lab 09 at least
        # 0.8 s) made lab 99's limits 0.2-0.94 s: its references, 0.6-1.1 ms
        # quiet, were calibrated at up to 4.7 ms under the tests' load.
        lab_09 = ["--lab-timeout-floor", f"9={runner.seconds(ENDING_FLOOR):.2f}"]
        parts.append((endless, tmp_path_factory.mktemp("out"), fast(endless=True, again=False) + lab_09,
                      len(ENDLESS)))
    runs = grade_alls(t, parts, "--labs", "9,99", "--expected", str(hidden), "--repeat", str(repeat),
                      "--drawn", "1", env={"GRADE_SECRET": GRADE_KEY, **(env or {})})
    b = [{"run": r, "out": out, "subs": subs, "fast": settings} for r, (subs, out, settings, _) in zip(runs, parts)]
    return {**b[0], "parts": b, "before": before, "after": host_state(t), "tree": t, "hidden": hidden}


def out_of(batch, name):
    """The grade-all output folder that holds submission name's results."""
    (out,) = [p["out"] for p in batch["parts"] if (p["subs"] / name).is_dir()]
    return out


@pytest.fixture(scope="module")
def batch(tree, tmp_path_factory):
    """The class: the cheater corpus, the handout, the reference and a few
    broken submissions.  Two students' gradings fail on the grader's side
    (injected): once (retried) and for good (grader-error)."""
    t, hidden = tree
    subs = tmp_path_factory.mktemp("subs")
    submission(subs, "reference", t)
    submission(subs, "handout", t, sigbus=lambda s: handout.strip(s), victim=handout.strip(VICTIM))
    submission(subs, "broken-compile", t, sigbus=lambda s: must_replace(s, "int main(", "int main oops("))
    submission(subs, "broken-step", t, sigbus=lambda s: must_replace(
        s, '"the read works and sees the zero the new file page holds"', '"the read works and sees zero"'))
    submission(subs, "nondeterministic", t, victim=VICTIM.replace(
        '\tcheck(', '\tstruct timespec ts;\n\tclock_gettime(CLOCK_MONOTONIC, &ts);\n\tsay("now %ld", ts.tv_nsec);\n\tcheck('))
    d = submission(subs, "missing-lab", t)
    shutil.rmtree(d / "labs" / "09-sigbus-eof")
    # The cheaters (harness/cheaters/) cheat on lab 09; their lab 99 is honest.
    public = (t / "expected" / "09-sigbus-eof.txt").read_text().partition("\n")[2]
    submission(subs, "cheat-print-public", t, sigbus_text=cheater("print-public", public))
    args, body = drawn_variant(t, "cheat-arithmetic")
    submission(subs, "cheat-arithmetic", t, sigbus_text=cheater("arithmetic", body, " ".join(args)))
    submission(subs, "cheat-copy-other", t, sigbus_text=cheater("copy-other", drawn_variant(t, "reference")[1]))
    # The grader's side fails on lab 09: once for the reference (retried), always
    # for nondeterministic (grader-error), in their reference runs.
    faults = tmp_path_factory.mktemp("faults") / "faults"
    faults.write_text(f"1 {' '.join(drawn_variant(t, 'reference')[0])}\n"
                      f"-1 {' '.join(drawn_variant(t, 'nondeterministic')[0])}\n")
    return grade_batch(t, hidden, subs, tmp_path_factory, env={runner.FAULTS_ENV: str(faults)})


@pytest.fixture(scope="module")
def hostile(tree, tmp_path_factory):
    """The hostile corpus (harness/hostile/): each replaces lab 99's program;
    its lab 09 is the reference's."""
    t, hidden = tree
    subs = tmp_path_factory.mktemp("hostile")
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
    try:
        # One run per variant: what is checked (contained, cleaned up, reported, the
        # other lab graded) holds or fails in each run; a second run of an endless
        # case would only wait out its time limit again.  The class (batch) runs twice.
        b = grade_batch(t, hidden, subs, tmp_path_factory, repeat=1)
        try:
            conn, _ = listener.accept()
            conn.close()
            b["connected"] = True
        except BlockingIOError:
            b["connected"] = False
    finally:
        listener.close()
    return b


def results_of(batch, name):
    return check_results_json(out_of(batch, name) / "work" / name / "results.json")


def batch_args(batch, *more):
    return ["all", str(batch["subs"]), "--labs", "9,99", "--expected", str(batch["hidden"]),
            "--out", str(batch["out"]), "--repeat", "2", "--drawn", "1", *batch["fast"], *more]


def test_batch_ran(batch):
    r = batch["run"]
    assert r.returncode == 1, r.stdout + r.stderr           # grader-broken: a grader error, said by the exit status
    flagged = [l for l in r.stdout.splitlines() if "GRADER ERROR" in l and l.startswith("[")]
    assert len(flagged) == 1 and "nondeterministic" in flagged[0], r.stdout


def test_hostile_batch_ran(hostile):
    """No hostile case is taken for a failure of the grader."""
    assert [sorted(p.name for p in b["subs"].iterdir()) for b in hostile["parts"]][1:] == [list(ENDLESS)]
    for b in hostile["parts"]:
        r = b["run"]
        assert r.returncode == 0, r.stdout + r.stderr
        assert "GRADER ERROR" not in r.stdout, r.stdout


def test_reference_scores_full_marks(batch):
    r = results_of(batch, "reference")
    assert r["score"] == r["extra_data"]["max_score"] == 20
    assert all(t["status"] == "passed" for t in r["tests"])
    assert [t["name"] for t in lab_tests(r, "09-sigbus-eof")] == ["09-sigbus-eof: your variant 1"]
    assert "your variant" in r["output"] or "drawn for this student" in r["output"]


def test_broken_lab_loses_exactly_its_points(batch):
    r = results_of(batch, "broken-compile")
    assert sum(t["score"] for t in lab_tests(r, "09-sigbus-eof")) == 0
    assert sum(t["score"] for t in lab_tests(r, "99-victim")) == 10
    out = lab_tests(r, "09-sigbus-eof")[0]["output"]
    assert "does not compile" in out and "error" in out and "oops" in out


def test_wrong_step_costs_that_step_and_shows_the_students_line(batch):
    import scoring
    r = results_of(batch, "broken-step")
    (t,) = lab_tests(r, "09-sigbus-eof")
    args, body = drawn_variant(batch["tree"], "broken-step")
    public = (batch["tree"] / "expected" / "09-sigbus-eof.txt").read_text().partition("\n")[2]
    steps = mmaplabs.steps(mmaplabs.normalise(body))
    (broken,) = [i for i, text in steps if "ok: the read works and sees the zero the new file page holds" in text]
    shares = scoring.step_shares([n for n, _ in steps if n > 0], 1000, variants.free_steps(body, [public]))
    assert round(t["score"] * 100) == 1000 - shares[broken] and t["status"] == "failed"
    assert f"first differing step: [{broken}]" in t["output"] and " ".join(args) in t["output"]
    assert "ok: the read works and sees zero\n" in t["output"]          # the student's own line ...
    assert "sees the zero the new file page holds" not in t["output"]   # ... never the expected one
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


def reports_parse(batch, names):
    assert sorted(p.name for b in batch["parts"] for p in b["subs"].iterdir()) == names
    for b in batch["parts"]:
        with open(b["out"] / "gradebook.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert sorted(r["student"] for r in rows) == sorted(p.name for p in b["subs"].iterdir())
    for n in names:
        ET.parse(out_of(batch, n) / "work" / n / "junit.xml")
        assert (out_of(batch, n) / "feedback" / f"{n}.md").exists()


def test_reports_parse(batch):
    reports_parse(batch, CLASS)


def test_hostile_reports_parse(hostile):
    reports_parse(hostile, [n for n in HOSTILE_CASES if protected(n)])
    assert len(CLASS) + len(HOSTILE_CASES) >= 13


def secret_never_in_a_report(batch):
    for b in batch["parts"]:
        for f in b["out"].rglob("*"):
            if f.is_file():
                assert GRADE_KEY not in f.read_text(errors="replace"), f


def test_the_secret_never_reaches_a_report(batch):
    secret_never_in_a_report(batch)


def test_the_secret_never_reaches_a_hostile_report(hostile):
    secret_never_in_a_report(hostile)


# ---- the cheater corpus ----------------------------------------------------------

@pytest.mark.parametrize("name", ["cheat-print-public", "cheat-arithmetic", "cheat-copy-other"])
def test_cheaters_earn_at_most_5_percent_of_what_they_cheat_on(batch, name):
    r = results_of(batch, name)
    if name == "cheat-arithmetic" and not signature_checked():
        assert "signatures: NOT checked" in r["output"]
        pytest.skip(f"at the {runner.level()[0]} level as an ordinary user the program could write its own trace: "
                    "signatures are not checked, and every report says so; only the right lines catch nothing")
    lab09 = lab_tests(r, "09-sigbus-eof")
    assert sum(t["score"] for t in lab09) <= 0.05 * sum(t["max_score"] for t in lab09), lab09
    assert sum(t["score"] for t in lab_tests(r, "99-victim")) == 10      # the honest lab is graded in full
    if signature_checked():
        (t,) = lab09
        assert t["tags"][1] == "no-mechanism" and t["score"] == 0, t
        assert "no mmap call with MAP_SHARED" in t["output"] and "no ftruncate call" in t["output"]


def signature_checked():
    import signature
    return signature.trustworthy(runner.level()[0], os.geteuid())[0]


def test_the_arithmetic_cheater_prints_the_right_transcript(batch):
    """What makes it a cheater is only what it does not do: every step matches."""
    (t,) = lab_tests(results_of(batch, "cheat-arithmetic"), "09-sigbus-eof")
    assert "differ" not in t["output"] and "exit status" not in t["output"], t["output"]
    assert t["tags"][1] == ("no-mechanism" if signature_checked() else "passed")


def test_the_handout_does_not_earn_full_marks(batch):
    """(Its lab 09 lacks the mapping the lab is about: no-mechanism, 0 points.)"""
    r = results_of(batch, "handout")
    assert r["score"] < 20
    assert [t["tags"][1] for t in lab_tests(r, "09-sigbus-eof")] == ["no-mechanism" if signature_checked() else "failed"]


# ---- the grader's own failures ------------------------------------------------------

def test_a_grader_failure_is_retried_then_reported_never_charged(batch):
    ok = results_of(batch, "reference")           # its first run failed on the grader's side: retried
    assert ok["score"] == 20, ok
    bad = results_of(batch, "nondeterministic")   # every try failed: grader-error, 0 points, flagged
    (t,) = lab_tests(bad, "09-sigbus-eof")
    assert t["tags"][1] == "grader-error" and t["score"] == 0 and "nothing is charged to the student" in t["output"]
    assert "grader-error" in bad["output"]
    with open(batch["out"] / "gradebook.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["student"] == "nondeterministic")
    assert row["notes"].startswith("GRADER ERROR")
    state = json.loads((batch["out"] / "state.json").read_text())
    assert "nondeterministic" not in state and "reference" in state      # a rerun grades it again


def test_grade_all_resumes(batch):
    r = grade_py(batch["tree"], *batch_args(batch), env={"GRADE_SECRET": GRADE_KEY})
    n = len(list(batch["subs"].iterdir()))
    assert r.returncode == 0 and f"{n - 1} unchanged since last graded, 1 to grade" in r.stdout, r.stdout


def test_handout(tree, tmp_path):
    t, hidden = tree
    r = grade_py(t, "handout", "--out", str(tmp_path / "handout"), "--expected", str(hidden))
    assert r.returncode == 0, r.stdout + r.stderr
    src = (tmp_path / "handout" / "labs" / "99-victim" / "victim.c").read_text()
    assert "SOLUTION" not in src and "int answer = 0;" in src
    assert "self-check: the reference scores 20/20" in r.stdout and "handout check: ok" in r.stdout
    # A hidden variant left inside the tree by mistake is caught (in a copy of
    # the tree: other tests compare the shared one before and after).
    copy = tmp_path / "tree"
    shutil.copytree(t, copy, symlinks=True, ignore=shutil.ignore_patterns("build"))
    leak = copy / "notes" / "oops.txt"
    leak.parent.mkdir(exist_ok=True)
    shutil.copy(hidden / "99-victim.txt", leak)
    r = grade_py(copy, "handout", "--out", str(tmp_path / "handout2"), "--expected", str(hidden))
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
    env = grader_env({"TMPDIR": str(tmp_path)})
    p = subprocess.Popen([PY, str(t / "harness" / "grade.py"), "grade", "--submission", str(sub), "--labs", "9,99",
                          "--out", str(out), "--timeout-floor", f"{runner.seconds(3):.2f}"], cwd=t, env=env,
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def lab_99_running():    # the endless program itself (argv[0]), not only its sandbox's command line
        return any(c.split(b"\0")[0].endswith(b"/99-victim/victim") and str(tmp_path).encode() in c
                   for c in map(_cmdline, filter(str.isdigit, os.listdir("/proc"))))
    try:
        deadline = time.monotonic() + runner.seconds(60)
        while time.monotonic() < deadline and p.poll() is None:
            try:
                r = json.loads((out / "results.json").read_text())
                if r["tests"][0]["status"] == "passed" and lab_99_running():
                    break                    # lab 09 graded, now inside the endless lab 99
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(0.05)
        assert p.poll() is None and lab_99_running(), "the grader never reached lab 99's endless run"
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


def _descendants(root):
    """Every process below pid `root` (by parent links, whatever paths its programs run from)."""
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _stat(pid)
        if stat:
            children.setdefault(stat[1], []).append(pid)
    found, todo = [], [str(root)]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _stat(pid):
    """/proc/PID/stat's fields after the command name (state, ppid, ...), or [] if pid is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


# ---- the hostile corpus --------------------------------------------------------

def host_unchanged(batch):
    b, a = batch["before"], batch["after"]
    assert a["procs"] == b["procs"], "a process of the graded code survived"
    assert a["shm"] == b["shm"] and a["sysv"] == b["sysv"] and a["tmp"] == b["tmp"]
    assert not a["root"]
    assert a["tree"] == b["tree"], "the grader's tree was changed"


def test_host_unchanged(hostile):
    host_unchanged(hostile)


def test_the_class_leaves_the_tree_unchanged(batch):
    """(The host's processes, names and segments: test_host_unchanged, around
    the hostile corpus.  Other workers' tests change them meanwhile.)"""
    assert batch["after"]["tree"] == batch["before"]["tree"], "the grader's tree was changed"


def test_weaker_levels_say_so():
    level = runner.level()[0]
    text = runner.describe(level)
    assert text.startswith(f"sandbox level: {level} ")
    if level != "bwrap":
        assert "shared" in text or "NOT isolated" in text
    if level == "rlimits":
        assert "network" in text and "NOT isolated" in text


@pytest.mark.parametrize("name", HOSTILE_CASES)
def test_hostile_contained_and_other_lab_graded(hostile, name):
    if not protected(name):
        pytest.skip(f"sandbox level {runner.level()[0]} as uid {os.geteuid()} does not isolate what {name} "
                    "attacks, and says so in every report (test_weaker_levels_say_so)")
    r = results_of(hostile, name)
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
        "bad-utf8": lambda: status == "failed" and "\\xff" in out and "\\x1b[2J" in out and "\\x00" in out,
        "write-outside": lambda: "write " + str(hostile["tree"]) in out,
        "read-hidden": lambda: SECRET not in out,
        "include-hidden": lambda: status == "compile error" and SECRET not in r["output"] + out,
        "include-dev-zero": lambda: status == "compile error" and "memory" in out,
        "network": lambda: not hostile["connected"] or level == "rlimits",
    }[name]
    assert expect(), f"{name}: status {status}\n{out}"
    out_dir = out_of(hostile, name)
    for f in (out_dir / "work" / name).iterdir():
        assert SECRET not in f.read_text(errors="replace"), f"the hidden variant leaked into {f.name}"
    if name == "network" and level != "rlimits":
        assert "CONNECTED" not in out
    if name == "write-outside" and os.geteuid() == 0:
        m = re.search(r"running as uid (\d+)\n", out)
        assert m and int(m.group(1)) in runner.UIDS, "as root, student code runs as a sandbox uid of its own"
    if name == "bad-utf8":
        for f in [out_dir / "work" / name / "feedback.md", out_dir / "feedback" / f"{name}.md"]:
            md = f.read_text()
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", md), f
            assert not [l for l in outside_fences(md) if "INJECTED" in l], f
        raw = (out_dir / "work" / name / "results.json").read_text()
        assert "\\u001b" not in raw and "\\u0000" not in raw         # no raw ESC or NUL in what Gradescope shows
    if name == "write-outside" and level == "bwrap":
        assert "WRITTEN" not in out.split("/tmp/")[0]


@pytest.mark.xdist_group("test_grade::hostile")    # never beside the hostile batch: both compare the host
def test_containment_without_namespaces(tree, tmp_path):
    """The rlimits level (no bwrap, no unshare) must still contain processes and clean up."""
    t, _ = tree
    subs = tmp_path / "subs"
    for n in EVERY_LEVEL:
        submission(subs, n, t, victim=(HOSTILE / f"{n}.c").read_text())
    before = host_state(t)
    endless = split_endless(subs)
    parts = [(subs, tmp_path / "out", fast(), 2),
             (endless, tmp_path / "out-endless", fast(endless=True, again=False), len(ENDLESS))]
    runs = grade_alls(t, parts, "--labs", "99", "--repeat", "1", env={"MMAPLABS_SANDBOX": "rlimits"})
    for r, (_, _, _, jobs) in zip(runs, parts):
        assert r.returncode == 0, r.stdout + r.stderr
        assert "sandbox level: rlimits" in r.stdout and "NOT isolated" in r.stdout
        if os.geteuid() != 0 and jobs > 1:      # as root every sandbox has a uid of its own: -j 2 is safe
            assert "graded one at a time" in r.stdout
    after = host_state(t)
    assert after["procs"] == before["procs"] and after["shm"] == before["shm"] and after["sysv"] == before["sysv"]
    assert after["tree"] == before["tree"]
    for n in EVERY_LEVEL:
        out = tmp_path / ("out-endless" if n in ENDLESS else "out")
        res = check_results_json(out / "work" / n / "results.json")
        assert sum(x["score"] for x in lab_tests(res, "99-victim")) == 0, n
        if n == "setsid-daemon":     # found and killed at once, not left to its RLIMIT_CPU
            assert "still running after the program ended" in lab_tests(res, "99-victim")[0]["output"]


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



# ---- where the submission is, and what the version covers ---------------------------

def test_a_submission_one_or_two_folders_down_is_found(tmp_path):
    import grade
    only = [labs.get(9)]
    src = (ROOT / "labs" / "09-sigbus-eof" / "sigbus-eof.c").read_bytes()
    deep = tmp_path / "a" / "submission" / "mmap-labs" / "labs" / "09-sigbus-eof"
    deep.mkdir(parents=True)
    (deep / "sigbus-eof.c").write_bytes(src)
    base, note = grade.find_labs(tmp_path / "a" / "submission")
    assert base == deep.parent and "mmap-labs/labs/" in note and "deeper than expected" in note
    assert grade.student_files(tmp_path / "a" / "submission", only)["labs/09-sigbus-eof/sigbus-eof.c"] == src
    assert grade.find_labs(tmp_path / "a")[0] == deep.parent                 # two levels down
    (tmp_path / "empty" / "stuff").mkdir(parents=True)
    base, note = grade.find_labs(tmp_path / "empty")
    assert "no lab folder found" in note and "labs/09-sigbus-eof/sigbus-eof.c" in note


def test_the_grader_version_covers_every_grader_owned_file():
    import grade
    files = set(grade.grader_files())
    for p in [*(ROOT / "labs").rglob("*"), *(ROOT / "expected").glob("*.txt"), ROOT / "Makefile",
              *(ROOT / "harness" / "gradescope").glob("*")]:
        if p.is_file() and "__pycache__" not in p.parts:
            assert p in files, p
    for p in (ROOT / "harness").glob("*.py"):
        if not p.name.startswith(("test_", "conftest")):
            assert p in files, p


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox uids are leased as root only (as a user: user namespaces)")
def test_each_sandbox_gets_a_uid_of_its_own():
    a, b = runner.lease(), runner.lease()
    try:
        assert a.uid != b.uid and a.uid in runner.UIDS and b.uid in runner.UIDS
        first = a.uid
        r, w = os.pipe()
        child = os.fork()
        if child == 0:            # a process still running as the released uid ...
            os.close(r)
            os.setresgid(first, first, first)
            os.setresuid(first, first, first)
            os.write(w, b"x")
            os.read(os.open("/dev/null", os.O_RDONLY), 1)
            signal.pause()
        os.close(w)
        os.read(r, 1)
        os.close(r)
        a.release()
        c = runner.lease()        # ... is not handed out again
        try:
            assert c.uid not in (first, b.uid)
        finally:
            c.release()
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        held = []                 # ... and is, once nothing runs as it (uids go out lowest first; other
        try:                      # tests lease and release them meanwhile: a lower one may be free now)
            while not held or held[-1].uid < first:
                held.append(runner.lease())
            assert held[-1].uid == first
        finally:
            for c in held:
                c.release()
    finally:
        a.release()
        b.release()


# ---- the same code, the same score: beside a fork bomb --------------------------------

def test_same_code_same_score_beside_a_fork_bomb(tree, tmp_path):
    """Three gradings of the reference and of a partial submission (the same
    students, so the same variants), at the same time, while another grader
    grades a fork bomb: every score and status equal, to the last digit.
    (The full ten gradings of a class, handout included, are in the closing
    report of issue 9.)"""
    t, hidden = tree
    base = tmp_path / "subs"
    submission(base, "fork-bomb", t, victim=(HOSTILE / "fork-bomb.c").read_text())
    submission(base, "reference", t)
    submission(base, "partial", t, sigbus=lambda s: must_replace(
        s, '"the read works and sees the zero the new file page holds"', '"the read works and sees zero"'))
    parts, settings = [], fast()
    # The bomb's own score is not compared here (the hostile batch grades it): one
    # run is the load, spinning out its whole limit, 0.5 s of a quiet machine (the
    # others' floor is ENDING_FLOOR: they end by themselves).  Lab 99's public
    # variant only, so that run starts with the others' gradings.  With its lab 09
    # first, then both variants of lab 99 (each run killed 0.3-0.9 s past its
    # limit), the bomb's grading ended at 3.1-3.4 s, the others' at 1.7-2.0 s;
    # now at 2.8-3.2 s against 1.8-2.2 s.
    bomb = ["--labs", "99", "--expected", "", "--timeout-floor", f"{runner.seconds(0.5):.2f}",
            "--timeout-scale", "40", "--repeat", "1"]
    for i, names in enumerate([["fork-bomb"], ["reference", "partial"], ["reference", "partial"],
                               ["reference", "partial"]]):
        d = tmp_path / f"subs{i}"
        d.mkdir()
        for n in names:
            shutil.copytree(base / n, d / n)
        parts.append((d, tmp_path / f"out{i}", bomb if i == 0 else [*settings, "--repeat", "2"], 2))
    for r in grade_alls(t, parts, "--labs", "9,99", "--expected", str(hidden), "--drawn", "1",
                        env={"GRADE_SECRET": GRADE_KEY}):
        assert r.returncode == 0, r.stdout + r.stderr

    def summary(i, n):
        r = json.loads((tmp_path / f"out{i}" / "work" / n / "results.json").read_text())
        return r["score"], [(x["name"], x["score"], x["tags"]) for x in r["tests"]]
    for n in ("reference", "partial"):
        assert summary(1, n) == summary(2, n) == summary(3, n), n
    assert summary(1, "reference")[0] == 20 and 10 < summary(1, "partial")[0] < 20


# ---- Ctrl-C ----------------------------------------------------------------------

def _sandboxes(where):
    """Processes running something from `where` (the grader's temporary trees)."""
    return [pid for pid in filter(str.isdigit, os.listdir("/proc")) if str(where).encode() in _cmdline(pid)]


def test_sigterm_stops_grade_all_at_once_and_a_rerun_resumes(tree, tmp_path):
    """With TMPDIR on /dev/shm (tmpfs): grade the reference, then interrupt the
    grading of an endless program with SIGTERM to grade-all alone (make passes
    SIGTERM on so): everything stops within 2 s, no sandboxed process is left,
    the gradebook and the state are there, and a rerun grades only what is left."""
    t, _ = tree
    subs = tmp_path / "subs"
    submission(subs, "a-reference", t)
    submission(subs, "b-slow", t, victim=(HOSTILE / "infinite-loop.c").read_text())
    out = tmp_path / "out"
    shm = Path(tempfile.mkdtemp(prefix="mmaplab-test-tmpfs.", dir="/dev/shm"))
    os.chmod(shm, 0o755)
    args = [PY, str(t / "harness" / "grade.py"), "all", str(subs), "--labs", "9,99", "--out", str(out),
            "--repeat", "1", "--timeout-scale", "40", "--timeout-floor", f"{runner.seconds(60):.0f}"]
    env = grader_env({"TMPDIR": str(shm)})
    try:
        p = subprocess.Popen(args, cwd=t, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + runner.seconds(120)
        while time.monotonic() < deadline and p.poll() is None:
            if (out / "state.json").exists() and any(b"victim" in _cmdline(x) for x in _descendants(p.pid)):
                break                              # a-reference graded, b-slow's endless run going on
            time.sleep(0.05)
        assert p.poll() is None, p.communicate()[0]
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        text, _ = p.communicate(timeout=runner.seconds(10))
        took = time.monotonic() - t0
        assert took <= runner.seconds(2), f"took {took:.1f} s to stop"
        assert p.returncode == 130 and "interrupted" in text, text
        # Everything stops within the same 2 s: the grader may return while a
        # sandbox it has SIGKILLed is still exiting (bwrap's --die-with-parent and
        # the pid namespace's end are asynchronous; seen as uid 65534 under stress-ng).
        left = _sandboxes(shm)
        while left and time.monotonic() < t0 + runner.seconds(2):
            time.sleep(0.01)
            left = _sandboxes(shm)
        assert not left, ("a sandboxed process outlived the interrupted grader by more than "
                          f"{runner.seconds(2):.1f} s: " + "; ".join(_cmdline(x).decode(errors="replace") for x in left))
        with open(out / "gradebook.csv", newline="") as f:
            rows = {r["student"]: r for r in csv.DictReader(f)}
        assert rows["a-reference"]["score"] == "20" and "interrupted" in rows["b-slow"]["notes"]
        assert list(json.loads((out / "state.json").read_text())) == ["a-reference"]
        # The student fixes the program; the rerun grades it alone (TMPDIR on tmpfs all along).
        (subs / "b-slow" / "labs" / "99-victim" / "victim.c").write_text(VICTIM)
        r = subprocess.run(args, cwd=t, env=env, capture_output=True, text=True, timeout=runner.seconds(300))
        assert r.returncode == 0 and "1 unchanged since last graded, 1 to grade" in r.stdout, r.stdout
        with open(out / "gradebook.csv", newline="") as f:
            assert [r["score"] for r in csv.DictReader(f)] == ["20", "20"]
    finally:
        shutil.rmtree(shm, ignore_errors=True)


# ---- Gradescope ----------------------------------------------------------------------

CAT_ATTACK = r"""/* The cat attack: print the reference solutions, the hidden transcript and the
 * secret into the feedback, and try to write the results file. */
#include <stdio.h>

static void show(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	printf("    %s: %s\n", path, f ? "READ" : "unreadable");
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		fputs(line, stdout);
	fclose(f);
}

int main(void)
{
	puts("# Lab 99: victim");
	show("@AG@/source/mmap-labs/labs/99-victim/victim.c");
	show("@AG@/source/mmap-labs/labs/09-sigbus-eof/sigbus-eof.c");
	show("@AG@/source/hidden/99-victim.txt");
	show("@AG@/source/secret");
	FILE *r = fopen("@AG@/results/results.json", "w");
	printf("    results.json %s\n", r ? "WRITABLE" : "not writable");
	return 0;
}
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the autograder as root")
def test_gradescope_route_leaks_nothing(tree, tmp_path):
    """`make gradescope`'s zip, unpacked as Gradescope does (world-readable),
    graded at Gradescope's sandbox level (rlimits: Docker forbids namespaces):
    a submission that #includes the reference solution and one that cats the
    solutions, the hidden transcript and the secret into its feedback get none of it."""
    t, hidden = tree
    zpath = tmp_path / "autograder.zip"
    r = subprocess.run([PY, str(t / "harness" / "gradescope" / "build.py"), "--out", str(zpath),
                        "--expected", str(hidden)], cwd=t, env=grader_env({"GRADE_SECRET": GRADE_KEY}),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    ag = Path(tempfile.mkdtemp(prefix="mmaplab-test-ag."))
    try:
        os.chmod(ag, 0o755)
        with zipfile.ZipFile(zpath) as z:
            names = z.namelist()
            assert {"setup.sh", "run_autograder", "secret", "hidden/99-victim.txt"} <= set(names)
            assert "mmap-labs/labs/09-sigbus-eof/sigbus-eof.c" in names and "mmap-labs/Makefile" in names
            z.extractall(ag / "source")
        for d, dirs, fs in os.walk(ag):                 # as unzipped on Gradescope: readable by anyone
            for n in dirs:
                os.chmod(os.path.join(d, n), 0o755)
            for n in fs:
                os.chmod(os.path.join(d, n), 0o644)
        shutil.copytree(t / "build", ag / "source" / "mmap-labs" / "build", symlinks=True)   # what setup.sh's make all does
        sub = ag / "submission"
        (sub / "labs" / "09-sigbus-eof").mkdir(parents=True)
        (sub / "labs" / "09-sigbus-eof" / "sigbus-eof.c").write_text(
            f'/* The include attack. */\n#include "{ag}/source/mmap-labs/labs/09-sigbus-eof/sigbus-eof.c"\n')
        (sub / "labs" / "99-victim").mkdir(parents=True)
        (sub / "labs" / "99-victim" / "victim.c").write_text(CAT_ATTACK.replace("@AG@", str(ag)))
        (ag / "submission_metadata.json").write_text(json.dumps({"users": [{"name": "Eve", "id": 4242}]}))
        run_ag = ag / "source" / "run_autograder"
        os.chmod(run_ag, 0o755)
        r = subprocess.run(["sh", str(run_ag)], env=grader_env({"AUTOGRADER": str(ag), "MMAPLABS_SANDBOX": "rlimits"}),
                           capture_output=True, text=True, timeout=runner.seconds(300))
        results = (ag / "results" / "results.json").read_text()
        res = check_results_json(ag / "results" / "results.json")
        assert "Eve" in results and "sandbox level: rlimits" in res["output"], r.stdout + r.stderr
        assert sum(x["score"] for x in res["tests"]) == 0, results
        for leak in ("BEGIN SOLUTION", "int answer = 1", SECRET, GRADE_KEY, "READ\\n", "WRITABLE"):
            assert leak not in results, leak
        assert "unreadable" in results and "not writable" in results, results
        inc = lab_tests(res, "09-sigbus-eof")[0]
        assert inc["tags"][1] == "compile error", inc
    finally:
        shutil.rmtree(ag, ignore_errors=True)


# ---- the compile cache ----------------------------------------------------------

def test_the_compile_cache_keys_every_input_and_refuses_what_it_cannot_key(tmp_path):
    import grade
    lab = labs.get(9)
    rel = f"labs/{lab.slug}/sigbus-eof.c"
    src = (ROOT / rel).read_bytes()
    part = tmp_path / "0123456789abcdef" / "tree"
    c = grade.CompileCache(part, "bwrap")
    k = c._key(lab, {rel: src})
    assert k and k == c._key(lab, {rel: src, "labs/99-victim/victim.c": b"other lab"})
    assert c._key(lab, {rel: src + b" "}) != k                                   # the student's bytes
    assert grade.CompileCache(tmp_path / "fedcba9876543210" / "tree", "bwrap")._key(lab, {rel: src}) != k   # the grader's part
    assert grade.CompileCache(part, "rlimits")._key(lab, {rel: src}) is None        # a compile that sees the host
    assert c._key(lab, {rel: "missing"}) is None
    for trick in (b'const char *when = __TIME__;', b'#define T(a, b) a ## b', b'int x = __TI\\\nME__;', b'??/\n'):
        assert c._key(lab, {rel: src + trick}) is None, trick


def test_the_class_batch_used_the_compile_cache(batch):
    """Seven of its submissions have the reference's lab 99: it was compiled and kept."""
    import grade
    if runner.level()[0] != "bwrap":
        pytest.skip("the compile cache is used at the bwrap level only")
    t = batch["tree"]
    victim = {"labs/99-victim/victim.c": (batch["subs"] / "reference" / "labs" / "99-victim" / "victim.c").read_bytes()}
    keys = [grade.CompileCache(part, "bwrap")._key(labs.get(99, t), victim)
            for part in (t / "build" / "grade" / "parts").glob("*/tree")]
    assert any((t / "build" / "grade" / "compiled" / k / "victim").is_file() for k in keys), keys


def test_the_grader_part_took_the_trees_own_labs_common_objects(batch):
    """The tree's `make` built labs/common: the graders' part has those very
    objects (their times), not a second compile of its own."""
    t = batch["tree"]
    parts = sorted((t / "build" / "grade" / "parts").glob("*/tree"))
    assert parts
    for part in parts:
        for obj in labs.common_objects("build", t):
            assert (part / obj).stat().st_mtime_ns == (t / obj).stat().st_mtime_ns, f"{part / obj} was compiled again"


def test_the_grader_part_compiles_what_its_seed_does_not_cover(tree, tmp_path, monkeypatch):
    """A labs/common source newer than the tree's object: that object is
    compiled again in prepare()'s tree, the others are kept.  (Another
    compiler or flags: the stamp differs and the Makefile compiles all.)"""
    import grade
    t, _ = tree
    root = tmp_path / "root"
    for f in ("Makefile", "labs/labs.mk"):
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(t / f, root / f)
    shutil.copytree(t / "labs" / "common", root / "labs" / "common")
    shutil.copytree(t / "build" / "common", root / "build" / "common")
    shutil.copy2(t / "build" / ".flags", root / "build" / ".flags")
    objs = labs.common_objects("build", root)
    newer = root / "labs" / "common" / (objs[0].stem + ".c")
    later = (root / objs[0]).stat().st_mtime_ns + 10**9
    os.utime(newer, ns=(later, later))
    monkeypatch.setattr(grade, "ROOT", root)
    grade.prepare([], "plain", tmp_path / "seeded")
    kept = [(tmp_path / "seeded" / o).stat().st_mtime_ns == (root / o).stat().st_mtime_ns for o in objs]
    assert kept == [False] + [True] * (len(objs) - 1)


# ---- time limits across regrades -------------------------------------------------

class _FakeRun:
    """What traced_run gives back for a reference run that took `secs`."""

    def __init__(self, stdout, secs):
        self.stdout, self.stderr, self.returncode = stdout, "", 0
        self.timed_out, self.leftovers, self.grader_error = False, [], None
        self.seconds = self.program_seconds = secs


def test_a_regrade_keeps_each_variants_calibrated_time_limit(tmp_path, monkeypatch):
    """Issue 9: the same code graded again by the same grader gets the same time
    limit for the same slowness, also when the cached reference runs are
    forgotten (regrade --cold) and the reference runs at another speed: the
    reference's time is calibrated once (grade.Calibrations) and kept.  A new
    grader version or --recalibrate measures it again; a slower machine scales
    the kept limit.  The reference's runs are faked (their time is what this
    is about); the grader's code that sets the limits is the real one."""
    import grade
    monkeypatch.setenv("BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("MMAPLABS_SLOWNESS", "1.00")
    lab = labs.get(9)
    settings = grade.Settings(labs="9", scale=10, floor=None)
    ran = []

    def fake_traced_run(argv, timeout, *a, **k):
        ran.append(argv)
        args = [str(x) for x in argv[1:]]
        body = next(v.body for v in mmaplabs.variants(lab) if list(v.args) == args)
        return _FakeRun(body, ref_secs[0]), []
    monkeypatch.setattr(grade, "traced_run", fake_traced_run)

    def limits():
        """Grade's limits for lab 09's variants now, with a fresh References (a new grading)."""
        cases, _, specs = grade.collect([lab], settings)
        refs = grade.References("plain", None, lambda *a: None, specs, False)
        refs.copies = tmp_path / "copies"
        refs.copies.mkdir(exist_ok=True)
        monkeypatch.setattr(refs, "programs", lambda lab: tmp_path)
        grade.draw_variants(cases, specs, refs, settings, "", lambda *a: None)
        assert all(c.error is None for c in cases), [c.error for c in cases]
        return [round(c.timeout, 3) for c in cases]

    ref_secs = [0.8]
    first = limits()
    assert first and set(first) == {8.0}, first           # 10 x 0.8 s, above the 5 s floor
    runs = len(ran)
    assert limits() == first and len(ran) == runs          # warm: the reference is not run again

    shutil.rmtree(tmp_path / "build" / "grade" / "reference")     # regrade --cold
    ref_secs = [1.3]                                       # ... at a busier moment
    assert limits() == first, "a cold regrade changed the time limit"
    assert len(ran) > runs, "the reference was not run again: the test proves nothing"

    monkeypatch.setenv("MMAPLABS_SLOWNESS", "2.00")        # a grading on a machine twice as slow
    assert limits() == [16.0] * len(first)                 # the kept limit, scaled as the labs' limit_ms()
    monkeypatch.setenv("MMAPLABS_SLOWNESS", "1.00")

    grade.Calibrations(tmp_path / "build" / "grade" / grade.CALIBRATION).forget([lab.slug])    # --recalibrate
    assert limits() == [13.0] * len(first)                 # measured again: the cold run's 1.3 s
    ref_secs = [0.4]
    shutil.rmtree(tmp_path / "build" / "grade" / "reference")
    monkeypatch.setattr(grade, "grader_code_version", lambda: "another-grader")
    assert limits() == [5.0] * len(first)                  # another grader version: calibrated anew (floor)

    cal = grade.Calibrations(tmp_path / "cal")             # two graders at once: the first calibration wins
    a = cal.keep("09", "k", {"quiet_seconds": 1.0})
    b = cal.keep("09", "k", {"quiet_seconds": 2.0})
    assert a["quiet_seconds"] == b["quiet_seconds"] == 1.0


def test_a_labs_own_floor_is_its_least_time_limit(capsys):
    """--lab-timeout-floor N=S: lab N's runs get at least S seconds, the other
    labs the floor; it reaches child graders and the saved grades' key, the
    reports say it, and what is not N=S for an existing lab is refused."""
    import grade
    s = grade.Settings(scale=10, floor=0.5, lab_floors=((9, 3.0),))
    tiny, slow = {"quiet_seconds": 0.001}, {"quiet_seconds": 1.0}
    assert grade.time_limit(s, tiny, slowness=1, lab=labs.get(9)) == 3.0
    assert grade.time_limit(s, tiny, slowness=1, lab=labs.get(10)) == 0.5
    assert grade.time_limit(s, slow, slowness=1, lab=labs.get(9)) == 10.0     # above it, the scale decides
    assert "at least 3 s" in s.timeout_rule_for(labs.get(9)) and "at least 0.5 s" in s.timeout_rule_for(labs.get(10))
    assert s.argv()[s.argv().index("--lab-timeout-floor") + 1] == "9=3.0"
    assert s.key() != grade.Settings(scale=10, floor=0.5).key()
    for bad, why in [("9", "not N=SECONDS"), ("x=3", "not N=SECONDS"), ("9=0", "more than 0"),
                     ("9=nan", "more than 0"), ("77=3", "no lab 77")]:
        with pytest.raises(SystemExit) as e:
            grade.main(["grade", "--labs", "9", "--lab-timeout-floor", bad, "--out", "/nonexistent"])
        assert e.value.code == 2 and why in capsys.readouterr().err, bad


def test_recalibrate_forgets_only_the_chosen_labs(tmp_path, monkeypatch):
    """`grade.py ... --recalibrate --labs 9` measures lab 09's limits again and keeps the others'."""
    import grade
    cal = grade.Calibrations(tmp_path / "grade" / grade.CALIBRATION)
    for slug in ("09-sigbus-eof", "16-speed"):
        cal.keep(slug, "k", {"quiet_seconds": 1.0})
    monkeypatch.setenv("BUILD", str(tmp_path))
    monkeypatch.setattr(grade, "grade", lambda *a, **k: ([], {}))
    monkeypatch.setattr(grade, "protect", lambda *a, **k: None)
    assert grade.main(["grade", "--labs", "9", "--recalibrate", "--out", str(tmp_path / "out")]) == 0
    assert cal.get("09-sigbus-eof", "k") is None
    assert cal.get("16-speed", "k") is not None
