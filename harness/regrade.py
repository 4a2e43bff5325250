#!/usr/bin/env python3
"""regrade: does the same class get the same gradebook every time?

    python3 harness/regrade.py [-n N] [--fork-bomb] [-j J] [--cold] [--recalibrate] [--labs 14,16] [OUT]
    make regrade [N=10] [FORK_BOMB=1]

Builds a class in a temporary folder: `reference` (this tree's labs/ as it
is), `handout` (the labs/ of `grade.py handout`), and two partial
submissions made from the reference (see PARTIALS: a wrong step, a lab that
does not compile, a racy lab, a lab missing its mechanism, a lab that leaves
a shared-memory name behind, a missing file).  Grades it N times (default
10) with `grade.py all` and a fixed secret (GRADE_SECRET if set, else a
fixed test phrase), each time into a fresh OUT/run-NN (OUT default:
build/regrade), and compares every run with the first: gradebook.csv byte
for byte, and in each student's results.json the score and every test's
name, score, max_score, status and tags.  Prints a table and a verdict.

--fork-bomb: while the N gradings run, another grader grades a submission
whose lab 04 is harness/hostile/fork-bomb.c, again and again.
--cold: forget the cached reference runs before every grading (the expected
transcripts are measured again each time; the time limits keep the reference
times calibrated the first time, grade.py's Calibrations).
--recalibrate: forget those calibrations too before every grading (each
grading measures its own limits: a slow submission may land on either side).
--labs 14,16: grade only these labs (grade.py --labs).

Exit status: 0 when every grading exited 0, all gradebooks are identical and
the reference scored 100 %; 1 otherwise; 2 for a usage error; 130 when
interrupted.  Ctrl-C, SIGTERM or SIGHUP stop every grader (each kills its
sandboxes) and remove the temporary folder.
"""
import argparse
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import labs  # noqa: E402
import runner  # noqa: E402

GRADE = HERE / "grade.py"
FIXED_SECRET = "mmap-labs regrade check: a fixed phrase, not a course secret"
INTERRUPTED = 130

# The partial submissions: (lab, file, text to find (exactly once), its replacement, what it does).
# A replacement of None deletes the file.  Each find must match the reference, or the check stops.
PARTIALS = {
    "partial-a": [
        ("03-shared-private", None, "child-writes-every-page", None,
         "a wrong step (lab.toml's mutant child-writes-every-page)"),
        ("10-page-boundary", "page-boundary.c", "", "int not_compiled = undeclared_name;\n",
         "does not compile (an undeclared name)"),
        ("14-sync", None, "counter-without-mutex", None,
         "racy: the shared counter incremented without its mutex (lab.toml's mutant counter-without-mutex)"),
    ],
    "partial-b": [
        ("08-sysv-persistence", None, "no-rmid", None, "no shmctl(IPC_RMID) (lab.toml's mutant no-rmid)"),
        ("07-posix-shm", None, "no-shm-unlink", None, "a /dev/shm name left (lab.toml's mutant no-shm-unlink)"),
        ("12-msync", "msync.c", None, None, "missing: msync.c deleted"),
        ("16-speed", None, "no-tail-publish", None, "the ring never publishes (lab.toml's mutant no-tail-publish)"),
    ],
}
BOMB_LAB = "04-cow-fork"


CURRENT = []                  # the grade.py that runs in the main thread (stopped on the way out)


class Interrupted(Exception):
    pass


def _interrupt(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def log(*a):
    print(*a, flush=True)


def apply_edit(labs_dir, lab, name, find, replace, why):
    """One edit of PARTIALS on a copy of labs/; a find that is not there exactly once stops the check."""
    if name is None and find is not None:                  # a mutant of the lab's lab.toml
        import labspec
        spec = labspec.load(lab)
        m = next((m for m in spec.mutants if m.name == find), None)
        if m is None:
            raise SystemExit(f"regrade: labs/{lab}/lab.toml has no mutant {find!r} (PARTIALS is out of date)")
        name, find, replace = m.file, m.find, m.replace
    path = labs_dir / lab / name
    if find is None:
        path.unlink()
        return
    text = path.read_text()
    if find == "":                                         # put replace first
        path.write_text(replace + text)
        return
    if text.count(find) != 1:
        raise SystemExit(f"regrade: labs/{lab}/{name}: the text to replace ({why}) is found "
                         f"{text.count(find)} times, not once: PARTIALS is out of date")
    path.write_text(text.replace(find, replace, 1))


def make_class(tmp):
    """tmp/class/<student>/labs for every student; returns the students' names.  The handout
    is made with your environment: without a secret of yours it need not hide FIXED_SECRET."""
    cls = tmp / "class"
    cls.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "labs", cls / "reference" / "labs", ignore=ignore)
    log("making the handout (grade.py handout: it checks itself, about a minute)")
    CURRENT.append(Grader(["--out", str(tmp / "handout")], dict(os.environ), tmp / "handout.log", "handout"))
    if CURRENT[-1].wait() != 0:
        raise SystemExit(f"regrade: grade.py handout failed:\n{(tmp / 'handout.log').read_text()}")
    CURRENT.pop()
    shutil.copytree(tmp / "handout" / "labs", cls / "handout" / "labs", ignore=ignore)
    for student, edits in PARTIALS.items():
        shutil.copytree(ROOT / "labs", cls / student / "labs", ignore=ignore)
        for e in edits:
            apply_edit(cls / student / "labs", *e)
    return sorted(p.name for p in cls.iterdir())


class Grader:
    """One `grade.py all` (or `handout`) in a session of its own, stopped with SIGTERM (it kills its sandboxes)."""

    def __init__(self, args, env, logfile, cmd="all"):
        self.logfile = open(logfile, "w")
        self.p = subprocess.Popen([sys.executable, str(GRADE), cmd, *args], cwd=ROOT, env=env,
                                  stdout=self.logfile, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self):
        try:
            return self.p.wait()
        finally:
            self.logfile.close()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=runner.seconds(30))   # the grader's own SIGTERM path, scaled to this machine
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)        # whatever is left of its session
        except (ProcessLookupError, PermissionError):
            pass
        self.p.wait()
        self.logfile.close()


class Bomb(threading.Thread):
    """Grades the fork-bomb submission again and again until stop()."""

    def __init__(self, tmp, env):
        super().__init__(daemon=True)
        self.tmp, self.env = tmp, env
        subs = tmp / "bomb"
        lab = subs / "fork-bomb" / "labs" / BOMB_LAB
        lab.mkdir(parents=True)
        shutil.copy(HERE / "hostile" / "fork-bomb.c", lab / f"{labs.get(BOMB_LAB).programs[0]}.c")
        self.subs, self.results, self.halt = subs, [], threading.Event()
        self.lock, self.current = threading.Lock(), None

    def run(self):
        k = 0
        while not self.halt.is_set():
            k += 1
            out = self.tmp / f"bomb-out-{k}"
            t0 = time.monotonic()
            with self.lock:
                if self.halt.is_set():
                    break
                self.current = Grader([str(self.subs), "--labs", BOMB_LAB[:2], "--out", str(out)], self.env,
                                      self.tmp / f"bomb-{k}.log")
            rc = self.current.wait()
            t1 = time.monotonic()
            if self.halt.is_set() and rc != 0:
                break                                   # stopped by us: not a result
            self.results.append((t0, t1, rc, self.row(out)))
            shutil.rmtree(out, ignore_errors=True)

    @staticmethod
    def row(out):
        try:
            r = json.loads((out / "work" / "fork-bomb" / "results.json").read_text())
            return r["score"], sorted({(t.get("tags") or [None, t["status"]])[-1] for t in r["tests"]})
        except (OSError, ValueError, KeyError):
            return None, ["no results.json"]

    def stop(self):
        self.halt.set()
        with self.lock:
            if self.current:
                self.current.stop()
        self.join()


def read_run(out, students):
    """(gradebook bytes, {student: (score, [(number, name, score, max, status, tags)])}, {student: gradebook row})"""
    book = (out / "gradebook.csv").read_bytes() if (out / "gradebook.csv").exists() else b""
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(book.decode()))}
    res = {}
    for s in students:
        try:
            r = json.loads((out / "work" / s / "results.json").read_text())
            res[s] = (r["score"], [(t.get("number"), t["name"], t["score"], t["max_score"], t["status"],
                                    tuple(t.get("tags", ()))) for t in r["tests"]])
        except (OSError, ValueError, KeyError) as e:
            res[s] = (None, [("results.json", str(e))])
    return book, res, rows


def differences(first, other, students):
    """What differs between two runs, one line each."""
    out = []
    if first[0] != other[0]:
        out.append("gradebook.csv differs")
    for s in students:
        a, b = first[1][s], other[1][s]
        if a[0] != b[0]:
            out.append(f"{s}: score {a[0]} -> {b[0]}")
        ta, tb = {t[:2]: t for t in a[1]}, {t[:2]: t for t in b[1]}
        for k in sorted(set(ta) | set(tb), key=str):
            if ta.get(k) != tb.get(k):
                def show(t):
                    return "absent" if t is None else f"{t[2]}/{t[3]} {t[4]} {list(t[5]) if len(t) > 5 else ''}"
                out.append(f"{s}: {k[1]}: {show(ta.get(k))} -> {show(tb.get(k))}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10, help="gradings (default 10)")
    ap.add_argument("--fork-bomb", action="store_true", help="grade a fork bomb alongside, all the time")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="grade-all's -j (default 2)")
    ap.add_argument("--cold", action="store_true", help="forget the cached reference runs before each grading")
    ap.add_argument("--recalibrate", action="store_true",
                    help="forget the calibrated reference times (the time limits' source) before each grading too")
    ap.add_argument("--labs", default="", help="only these labs: 14,16 (default: every lab)")
    ap.add_argument("out", nargs="?", default=str(labs.build_dir() / "regrade"))
    args = ap.parse_args(argv)
    if args.n < 2:
        ap.error("-n: at least 2 gradings to compare")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("run-*"):              # the last check's gradings (folders) and logs (files)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
    env = dict(os.environ)
    own_secret = bool(env.get("GRADE_SECRET") or env.get("GRADE_SECRET_FILE"))
    if not own_secret:
        env["GRADE_SECRET"] = FIXED_SECRET
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="mmaplab-regrade."))
    os.chmod(tmp, 0o755)                   # the graders' sandbox uids read the submissions
    bomb, status = None, 1
    try:
        students = make_class(tmp)
        log(f"class: {', '.join(students)}; {args.n} gradings, -j {args.jobs}, "
            f"{'your GRADE_SECRET' if own_secret else 'a fixed test secret'}"
            f"{', beside a fork bomb' if args.fork_bomb else ''}{', reference runs forgotten each time' if args.cold else ''}"
            f"{', time limits calibrated again each time' if args.recalibrate else ''}"
            f"{', labs ' + args.labs if args.labs else ''}; "
            f"uid {os.geteuid()}; results in {out}")
        for student, edits in PARTIALS.items():
            for e in edits:
                log(f"  {student}: lab {e[0][:2]}: {e[4]}")
        if args.fork_bomb:
            bomb = Bomb(tmp, env)
            bomb.start()
        runs = []
        width = max(len(s) for s in students)
        log("\n" + f"{'run':>3}  {'seconds':>7}  {'exit':>4}  " + "  ".join(f"{s:>{width}}" for s in students) + "  same")
        for i in range(1, args.n + 1):
            if args.cold:
                shutil.rmtree(labs.build_dir() / "grade" / "reference", ignore_errors=True)
            d = out / f"run-{i:02d}"
            t0 = time.monotonic()
            CURRENT.append(Grader([str(tmp / "class"), "--out", str(d), "-j", str(args.jobs),
                                   *(["--labs", args.labs] if args.labs else []),
                                   *(["--recalibrate"] if args.recalibrate else [])], env, out / f"run-{i:02d}.log"))
            rc = CURRENT[-1].wait()
            CURRENT.pop()
            t1 = time.monotonic()
            run = read_run(d, students)
            runs.append((t0, t1, rc, run))
            diff = differences(runs[0][3], run, students) if i > 1 else []
            scores = [str(run[2].get(s, {}).get("score", "?")) for s in students]
            log(f"{i:>3}  {t1 - t0:>7.1f}  {rc:>4}  " + "  ".join(f"{x:>{width}}" for x in scores) + "  "
                + ("-" if i == 1 else "yes" if not diff else "NO"))
            for line in diff:
                log(f"       {line}")
        log("")
        first = runs[0][3]
        for s in students:                      # per student: which results, in which runs
            kinds = {}
            for i, (_, _, _, r) in enumerate(runs, 1):
                kinds.setdefault(repr(r[1][s]), []).append(i)
            if len(kinds) > 1:
                results = [runs[ix[0] - 1][3][1][s] for ix in kinds.values()]
                tests = sorted({t[1] for res in results for t in res[1] if any(t not in o[1] for o in results)})
                log(f"{s}: {len(kinds)} different results: " + "; ".join(
                    f"{res[0]} in run(s) {', '.join(map(str, ix))}" for res, ix in zip(results, kinds.values()))
                    + f"; differing: {', '.join(tests)}")
        same = all(not differences(first, r, students) for _, _, _, r in runs)
        clean = all(rc == 0 for _, _, rc, _ in runs)
        refs = [r[3][2].get("reference", {}) for r in runs]
        low = [(i, ref.get("score"), ref.get("max_score")) for i, ref in enumerate(refs, 1)
               if not (ref.get("percent") in ("100.0", "100") and ref.get("score") == ref.get("max_score"))]
        full = not low
        times = [t1 - t0 for t0, t1, _, _ in runs]
        log(f"wall time per grading: {min(times):.0f}-{max(times):.0f} s (mean {sum(times) / len(times):.0f} s)")
        if bomb:
            bomb.stop()
            rs = bomb.results
            start, end = runs[0][0], runs[-1][1]
            busy = sum(max(0.0, min(b, end) - max(a, start)) for a, b, _, _ in rs)
            outcomes = sorted({f"{sc} {'/'.join(st)} (exit {rc})" for _, _, rc, (sc, st) in rs})
            log(f"fork bomb: {len(rs)} gradings of lab {BOMB_LAB[:2]} finished alongside, a bomb grading in "
                f"progress {100 * busy / max(end - start, 1e-9):.0f} % of the time; its results: {'; '.join(outcomes) or 'none'}")
            bomb = None
        log(f"exit status of every grading 0: {'yes' if clean else 'NO (see ' + str(out) + '/run-NN.log)'}")
        log("the reference scored 100 % in every grading: " + ("yes" if full else "NO: " + ", ".join(
            f"run {i}: {sc}/{mx}" for i, sc, mx in low)))
        log(f"all {args.n} gradebooks identical: {'yes' if same else 'NO'}")
        status = 0 if same and clean and full else 1
        log("verdict: " + ("SAME CODE, SAME SCORE" if status == 0 else "NOT TRUSTWORTHY (above: what differs)"))
    except Interrupted as e:
        log(f"\nregrade: {e}: stopping the graders")
        status = INTERRUPTED
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        for g in CURRENT:
            g.stop()
        if bomb:
            bomb.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
