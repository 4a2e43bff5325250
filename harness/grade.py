#!/usr/bin/env python3
"""grade: score student submissions against the labs' transcripts.

    grade.py grade   [--submission PATH] [--labs 9,10] [--expected DIR[:DIR]] [--out build/grade]
    grade.py all     SUBMISSIONS_DIR [-j N] [--labs ...] [--expected ...] [--out build/grade-all]
    grade.py handout [--expected DIR[:DIR]] [--out build/handout]
    (also --repeat N, --drawn N, --timeout-scale X, --timeout-floor S, --lab-timeout-floor N=S,
    --secret-file F, --no-signatures, --recalibrate; make passes SUBMISSION, LABS, EXPECTED, TIMEOUT_SCALE,
    TIMEOUT_FLOOR, RECALIBRATE=1, GRADE_SECRET (or GRADE_SECRET_FILE) through the environment)

This file only orchestrates, from a Settings: which labs and variants
(harness/labs.py, labspec.py, variants.py), the reference solution's runs
that give each drawn variant its expected transcript and each variant its
time limit, staging and building a submission, running each case (runner.py,
sandboxed, traced by signature.py), then scoring (scoring.py, the rule) and
reports (reports.py, the formats).  The handout is harness/handout.py.

  * Student-owned files are each lab's .c files (labs/NN-slug/*.c), nothing
    else; the Makefile, labs/labs.mk, labs/common, a lab's other files
    (lab.toml, headers), the harness and the transcripts come from this tree.
  * Every lab is worth LAB_CENTS hundredths, split across its variants by
    largest remainder.  With a secret (GRADE_SECRET) a lab with [params] is
    graded on --drawn variants drawn for this student (variants.py), whose
    expected transcripts the reference solution writes; without one, or for
    a lab without parameters, on the public transcripts in expected/.  Hidden
    transcripts (--expected DIRs) are graded too.
  * Every graded run is traced (strace around the whole sandbox command); a
    run that lacks its lab's [signature] earns nothing (no-mechanism).
  * Timeout per variant = max(scale x the reference solution's time for it
    on this machine, floor); the floor is FLOOR seconds of a quiet machine
    scaled by this one's measured slowness (runner.seconds), unless
    TIMEOUT_FLOOR / --timeout-floor gives it in seconds (--lab-timeout-floor
    N=S: lab N's own, in seconds); the reference runs
    are cached per machine, tree and parameters.  The reference's time is
    calibrated once per lab variant, machine and grader version and kept
    (Calibrations, build/grade/calibration/), in seconds of a quiet machine,
    so that every regrade, with or without the reference cache, sets the same
    limit for the same slowness; --recalibrate (RECALIBRATE=1) measures
    it again.
  * Everything runs in the sandbox, compiling included, under a uid leased
    for this grading (runner.lease()).  A failure of the grader itself is
    retried, then graded `grader-error` (never the student's), and the
    command exits non-zero.
  * Ctrl-C or SIGTERM: every sandboxed process is killed, the reports say
    what was not graded, and `grade.py all` keeps a gradebook and a state
    that a rerun resumes from.
Standard library only.
"""
import argparse
import fcntl
import hashlib
import json
import os
import platform
import shlex
import shutil
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labs  # noqa: E402
import labspec  # noqa: E402
import mmaplabs  # noqa: E402
import reports  # noqa: E402
import runner  # noqa: E402
import scoring  # noqa: E402
import signature  # noqa: E402
import variants  # noqa: E402

ROOT = labs.ROOT
LAB_CENTS = 1000                 # 10 points, in hundredths
REPEAT = 3
FLOOR = 5                        # the least time limit, in seconds of a quiet 2-CPU machine (runner.seconds)
DRAWN = 1                        # variants drawn per parametrised lab and student
RETRIES = 2                      # more tries of a run the grader's side failed
TRACE_CAP = 16 << 20             # bytes of trace kept per run
MAX_SOURCE = 1 << 20
INTERRUPTED = 130
CALIBRATION = "calibration"      # build/grade/calibration/<lab>/: the reference times the limits come from


@dataclass(frozen=True)
class Settings:
    """Everything that decides a grade, besides the files."""
    labs: str = ""                   # "9,10": only these labs; "": every lab
    hidden: tuple = ()               # folders of hidden transcripts
    repeat: int = REPEAT             # runs per variant
    scale: float = field(default_factory=lambda: float(os.environ.get("TIMEOUT_SCALE", "10")))
    # TIMEOUT_FLOOR or --timeout-floor: seconds, as given.  Not given (None): FLOOR
    # seconds of a quiet 2-CPU machine, scaled by this one's measured slowness.
    floor: float = field(default_factory=lambda: float(os.environ["TIMEOUT_FLOOR"])
                         if os.environ.get("TIMEOUT_FLOOR") else None)
    # --lab-timeout-floor N=S: ((N, S), ...), a lab's own floor in seconds, as given.
    lab_floors: tuple = ()
    drawn: int = DRAWN
    secret: bytes = field(default=None, repr=False)   # never printed, never passed on a command line
    signatures: bool = True          # False: --no-signatures, said in every report

    @property
    def floor_seconds(self):
        """The least time limit of a run, in seconds on this machine now."""
        return self.floor if self.floor is not None else runner.seconds(FLOOR)

    @property
    def floor_rule(self):
        if self.floor is not None:
            return f"{self.floor:g} s"
        return f"{FLOOR:g} s on a quiet machine, here {self.floor_seconds:.1f} s (its measured slowness)"

    def own_floor(self, lab):
        """Lab's own floor in seconds (--lab-timeout-floor), or None (lab None: any lab's)."""
        return dict(self.lab_floors).get(lab.number) if lab else None

    def floor_for(self, lab):
        """The least time limit of lab's runs (a labs.Lab; None: any lab's), in seconds now."""
        own = self.own_floor(lab)
        return self.floor_seconds if own is None else own

    def timeout_rule_for(self, lab):
        own = self.own_floor(lab)
        return (f"{self.scale:g} x the reference time (calibrated once, kept, scaled by this machine's "
                f"measured slowness), at least {self.floor_rule if own is None else f'{own:g} s'}")

    def argv(self):
        """The command-line options that give a child grader these settings
        (the secret goes through the environment)."""
        a = ["--repeat", str(self.repeat), "--timeout-scale", str(self.scale), "--drawn", str(self.drawn)]
        if self.floor is not None:      # else the child derives it from the slowness it inherits
            a += ["--timeout-floor", str(self.floor)]
        for n, secs in self.lab_floors:
            a += ["--lab-timeout-floor", f"{n}={secs}"]
        if self.labs:
            a += ["--labs", self.labs]
        if self.hidden:
            a += ["--expected", ":".join(str(Path(d).resolve()) for d in self.hidden)]
        if not self.signatures:
            a.append("--no-signatures")
        return a

    def key(self):
        floor = f"quiet:{FLOOR}" if self.floor is None else self.floor     # the rule, not this moment's value
        own = "".join(f",{n}={secs}" for n, secs in self.lab_floors)     # none: the key as before
        return (f"{self.labs}|{self.repeat}|{self.scale}|{floor}{own}|{LAB_CENTS}|{self.drawn}|"
                f"{variants.secret_id(self.secret)}|{self.signatures}")


# ---- cases -----------------------------------------------------------------

@dataclass
class Case:
    variant: mmaplabs.Variant
    kind: str                        # "public", "hidden" or "drawn"
    max_cents: int
    number: str
    k: int = 1                       # the variant's number among its kind
    status: str = "not graded"
    cents: int = 0
    steps_ok: int = 0
    steps_total: int = 0
    seconds: float = 0.0
    detail: str = ""                 # Markdown, already hidden-safe
    timeout: float = 0.0
    free: frozenset = frozenset()    # steps a printed public transcript gets right (drawn)
    error: str = None                # the grader's failure, when status is grader-error

    @property
    def hidden(self):
        return self.kind == "hidden"

    @property
    def lab(self):
        return self.variant.lab.slug

    @property
    def name(self):
        if self.kind == "hidden":
            return f"{self.lab}: hidden variant {self.k}"
        if self.kind == "drawn":
            return f"{self.lab}: your variant {self.k}"
        return self.lab + (f" ({self.variant.name})" if self.variant.name else "")

    @property
    def id(self):
        return {"hidden": f"{self.lab}.hidden{self.k}", "drawn": f"{self.lab}.v{self.k}"}.get(self.kind, self.variant.id)

    @property
    def passed(self):
        return self.status == "passed"

    @property
    def score(self):
        return self.cents / 100

    @property
    def max_score(self):
        return self.max_cents / 100

    def record(self, verdict):
        self.status, self.cents = verdict.status, verdict.cents
        self.steps_ok, self.steps_total = verdict.steps_ok, verdict.steps_total
        self.error = verdict.grader_error


def select_labs(spec):
    """'9,10' or '' (every lab) -> [Lab], in curriculum order."""
    if not spec:
        return labs.all_labs()
    chosen = {labs.get(word.split("-")[0]).slug for word in spec.replace(",", " ").split()}
    return [lab for lab in labs.all_labs() if lab.slug in chosen]


def lab_spec(lab, warnings):
    try:
        return labspec.load(lab)
    except labspec.LabSpecError as e:
        warnings.append(f"{lab.slug}: {e}: graded on its public transcripts, signature not checked")
        return labspec.Spec(lab.slug, lab.folder / labspec.FILENAME)


def collect(labs_sel, settings):
    """(cases, warnings, specs): the variants each lab is graded on.  Drawn
    variants get their arguments and transcript later (draw_variants)."""
    cases, warnings, specs = [], [], {}
    for lab in labs_sel:
        spec = specs[lab.slug] = lab_spec(lab, warnings)
        publics = mmaplabs.variants(lab)
        hidden = [v for d in settings.hidden for v in mmaplabs.variants(lab, d)]
        if settings.secret and spec.params:
            vs = [(mmaplabs.Variant(lab, f"v{k}", Path(f"{lab.slug}.v{k}.txt")), "drawn", k)
                  for k in range(1, settings.drawn + 1)]
        else:
            vs = [(v, "public", i) for i, v in enumerate(publics, 1)]
            if settings.secret:
                warnings.append(f"lab {lab.number:02d}: no parameters declared: public transcript only")
        vs += [(v, "hidden", i) for i, v in enumerate(hidden, 1)]
        if not vs:
            warnings.append(f"{lab.slug}: no transcript in expected/, not graded")
            continue
        for (v, kind, k), cents, i in zip(vs, scoring.allocate(LAB_CENTS, [1] * len(vs)), range(1, len(vs) + 1)):
            cases.append(Case(v, kind, cents, f"{lab.number}.{i}", k))
        if settings.signatures and not spec.signature.calls:
            warnings.append(f"lab {lab.number:02d}: no signature declared: its system calls are not checked")
    return cases, warnings, specs


# ---- the student's files ------------------------------------------------------

def _has_labs(d):
    slugs = labs.slugs()
    try:
        return any((d / s).is_dir() and not (d / s).is_symlink() for s in slugs)
    except OSError:
        return False


def find_labs(sub):
    """(folder holding the NN-slug/ folders, a note or None).  A submission is
    a tree (labs/NN-slug/), its labs/ folder (NN-slug/), or either one or two
    folder levels down (a zip of the repository's folder: mmap-labs/labs/...)."""
    sub = Path(sub)
    for d in (sub / "labs", sub):
        if _has_labs(d):
            return d, None
    found = []
    for a in sorted(p for p in sub.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")) \
            if sub.is_dir() else []:
        for d in (a / "labs", a):
            if _has_labs(d):
                found.append(d)
                break
        else:
            for b in sorted(p for p in a.iterdir() if p.is_dir() and not p.is_symlink()):
                if _has_labs(b / "labs"):
                    found.append(b / "labs")
    if len(found) == 1:
        rel = found[0].relative_to(sub)
        return found[0], (f"the labs were found in {reports.code(str(rel) + '/')}, deeper than expected: "
                          "submit the repository's contents (labs/ at the top) or just its labs/ folder")
    if found:
        return sub / "labs", ("the submission holds several lab trees (" +
                              ", ".join(reports.code(str(f.relative_to(sub)) + "/") for f in found) +
                              "): submit one, with labs/ at the top")
    return sub / "labs", ("no lab folder found in the submission: expected `labs/NN-slug/*.c` at its top "
                          "(for example `labs/09-sigbus-eof/sigbus-eof.c`), or the labs/ folder itself")


def student_labs_dir(sub):
    return find_labs(sub)[0]


def student_files(sub, labs_sel):
    """{'labs/NN-slug/x.c': bytes or an error string} for the files the student owns."""
    out, base = {}, student_labs_dir(sub)
    for lab in labs_sel:
        for ref in lab.sources():
            rel, path = f"labs/{lab.slug}/{ref.name}", base / lab.slug / ref.name
            if any(p.is_symlink() for p in (base, base / lab.slug, path)) or (path.exists() and not path.is_file()):
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


# ---- who may read what ---------------------------------------------------------

def _reachable_by_others(path):
    """Whether a user with no relation to the files could read path."""
    p = Path(path).resolve()
    try:
        if not all(os.stat(a).st_mode & 0o001 for a in p.parents):
            return False
        return bool(os.stat(p).st_mode & (0o005 if p.is_dir() else 0o004))
    except OSError:
        return False


def protect(paths, lvl, log):
    """As root below bwrap, the sandbox uid sees the host's files: the reference
    solutions (this tree), the hidden transcripts and the secret must not be
    readable by other users.  Takes the 'other' bits away where they are not."""
    if os.geteuid() != 0 or lvl == "bwrap":
        return []
    done = []
    for p in paths:
        if p and Path(p).exists() and _reachable_by_others(p):
            mode = os.stat(p).st_mode
            os.chmod(p, mode & ~0o007)
            done.append(f"{p} was readable by every user: made it {oct(mode & ~0o007 & 0o777)} so the sandbox "
                        "cannot read reference solutions, hidden transcripts or the secret")
    for d in done:
        log("note: " + d)
    return done


# ---- staging and building -----------------------------------------------------

MAKE = ["/usr/bin/make", "-s", "--no-print-directory", "BUILD=build"]


def _chown_tree(where, uid):
    for d, dirs, fs in os.walk(where):
        for n in [d] + [os.path.join(d, x) for x in dirs + fs]:
            os.lchown(n, uid, uid)


def staging_base(lvl):
    """Where build trees go: TMPDIR, unless the sandbox uid could not reach it."""
    base = tempfile.gettempdir()
    if os.geteuid() == 0 and lvl != "bwrap" and not all(os.stat(p).st_mode & 0o001 for p in Path(base).parents):
        base = "/tmp"          # without bwrap's mounts, the sandbox uid must reach the programs itself
    return base


def private_dir(prefix, lvl, uid):
    """A folder only the grader and the sandbox uid `uid` may enter (0710,
    group: uid's group): other sandboxes cannot reach what is inside."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=staging_base(lvl)))
    if os.geteuid() == 0 and uid is not None:
        os.chown(d, 0, uid)
        os.chmod(d, 0o710)
    else:
        os.chmod(d, 0o711)
    return d


def _retrying(what, fn, log=None):
    """fn() until its result has no grader_error (RETRIES more times)."""
    r = None
    for attempt in range(RETRIES + 1):
        try:
            r = fn()
        except runner.GraderError as e:
            r = e
        if not isinstance(r, runner.GraderError) and not getattr(r, "grader_error", None):
            return r
        if log:
            log(f"grader problem ({what}), try {attempt + 1} of {RETRIES + 1}: "
                f"{r if isinstance(r, runner.GraderError) else r.grader_error}")
        if attempt < RETRIES:
            time.sleep(runner.seconds(0.2) * (attempt + 1))    # resources may come back: back off a little
    return r


def prepare(labs_sel, lvl, where, uid=None):
    """The grader's part of a build tree, built: the Makefile, labs/labs.mk,
    labs/common and each lab's files that are not its sources, with labs/common
    compiled in the sandbox (the environment of every build there).  stage()
    copies it whole, times kept, so make finds those objects up to date and
    compiles only the student's files."""
    where = Path(where)
    (where / "labs").mkdir(parents=True)
    shutil.copy2(ROOT / "Makefile", where / "Makefile")
    shutil.copy2(ROOT / "labs" / "labs.mk", where / "labs" / "labs.mk")
    shutil.copytree(ROOT / "labs" / "common", where / "labs" / "common")
    for lab in labs_sel:
        (where / "labs" / lab.slug).mkdir()
        sources = set(lab.sources())
        for f in lab.folder.iterdir():      # headers and data of the lab: the grader's
            if f.is_file() and not f.is_symlink() and f not in sources:
                shutil.copy2(f, where / "labs" / lab.slug / f.name)
    seed_common_objects(where)
    with (nullcontext(runner.Lease(uid)) if uid is not None else runner.lease()) as lease:
        if os.geteuid() == 0:
            _chown_tree(where, lease.uid)
        targets = [str(o) for o in labs.common_objects("build", ROOT)]
        # The grader's own code, on every CPU: the graders started with this one wait for it.
        jobs = max(1, min(os.cpu_count() or 1, len(targets)))
        r = _retrying("building labs/common", lambda: runner.run(
            MAKE + [f"-j{jobs}"] + targets, runner.seconds(120), level=lvl, workdir=where,
            limits=replace(runner.BUILD_LIMITS, cpus=float(jobs)), check_workdir=False, uid=lease.uid))
    if os.geteuid() == 0:
        _chown_tree(where, 0)              # nothing run later as a sandbox uid may change it
    if isinstance(r, runner.GraderError) or r.grader_error:
        raise runner.GraderError(f"cannot build labs/common in the sandbox: {r if isinstance(r, Exception) else r.grader_error}")
    if r.returncode != 0 or r.timed_out or not all((where / t).exists() for t in targets):
        raise SystemExit(f"cannot build labs/common in the sandbox ({runner.describe(lvl)}):\n"
                         + (r.stderr + r.stdout)[-2000:])


def seed_common_objects(where):
    """The grader tree's own labs/common objects (build/, as `make all` left
    them), copied with their times, dependency files and flags stamp into
    prepare()'s tree, where the sandbox's make then compiles only what they
    do not cover: a source or header newer than its object, another compiler
    or other flags (the stamp differs: everything), or no object at all.
    One compile of labs/common (7 files) fewer where they are up to date."""
    built, into = ROOT / "build", where / "build"
    stamp = built / ".flags"
    if not stamp.is_file() or stamp.is_symlink():
        return
    (into / "common").mkdir(parents=True, exist_ok=True)
    shutil.copy2(stamp, into / ".flags")
    for obj in labs.common_objects(built, ROOT):
        for f in (obj, obj.with_suffix(".d")):
            if f.is_file() and not f.is_symlink():
                shutil.copy2(f, into / "common" / f.name)


def grader_part(labs_sel, lvl):
    """The path of prepare()'s tree for these labs, made once and kept
    (build/grade/parts/, keyed by the files it holds and the compiler; the
    objects do not depend on the sandbox level): every later grader copies
    it instead of compiling labs/common again."""
    h = hashlib.sha256(f"{shutil.which('cc')}|{sorted(l.slug for l in labs_sel)}".encode())
    files = [ROOT / "Makefile", ROOT / "labs" / "labs.mk", *sorted((ROOT / "labs" / "common").rglob("*"))]
    for lab in labs_sel:
        sources = set(lab.sources())
        files += [f for f in sorted(lab.folder.iterdir()) if f not in sources]
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    try:
        h.update(subprocess.run(["cc", "--version"], capture_output=True).stdout)
    except OSError:
        pass
    cache = labs.build_dir() / "grade" / "parts" / h.hexdigest()[:16]
    if not (cache / "tree").is_dir():
        # Graders started together (a class at -j N, several grade-alls) wait for the
        # first one's build instead of each compiling labs/common (4 at once compiled
        # it 4 times: 28 compiles where 7 do).
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(cache.parent / f"{cache.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (cache / "tree").is_dir():
                with tempfile.TemporaryDirectory(prefix="mmaplab-grader.", dir=staging_base(lvl)) as d:
                    os.chmod(d, 0o711)
                    prepare(labs_sel, lvl, Path(d) / "tree")
                    tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".", dir=cache.parent))
                    shutil.copytree(Path(d) / "tree", tmp / "tree", symlinks=True)    # times kept: objects up to date
                    try:
                        os.rename(tmp, cache)
                    except OSError:          # another grader made it meanwhile: the same files
                        shutil.rmtree(tmp, ignore_errors=True)
    return cache / "tree"


def stage(template, files, where, uid=None):
    """A build tree: a copy of prepare()'s, and the student's files."""
    where = Path(where)
    shutil.copytree(template, where, symlinks=True)
    problems = {}
    for rel, data in files.items():
        if isinstance(data, bytes):
            (where / rel).write_bytes(data)
        else:
            problems.setdefault(rel.split("/")[1], []).append(data)
    if os.geteuid() == 0 and uid is not None:
        _chown_tree(where, uid)
    return problems


RESOURCE_ERRORS = ("Resource temporarily unavailable",)

# A source that could make its own compile depend on more than its text:
# the date and time, or a name spliced or pasted together (which may be one of them).
UNCACHEABLE = ("__DATE__", "__TIME__", "__TIMESTAMP__", "##", "\\\n", "\\\r", "??/")


class CompileCache:
    """A lab's programs, built once per content: identical sources (the
    handout's stubs a class leaves alone, a resubmission) compile once.
    build/grade/compiled/KEY/, KEY = the grader's part of the tree (the
    Makefile, labs.mk, labs/common, the lab's own other files, the compiler:
    grader_part's key), the sandbox level, the grader's uid and the lab's
    student files, name and bytes.  Only at the bwrap level, where a
    compile sees nothing but /usr and its own tree, and only what build_all
    made before any student program ran; never a source that could read the
    clock or splice names (UNCACHEABLE).  The folder is the grader's alone
    (0700); a hit is copied into the build tree as make would have left it."""

    def __init__(self, part, lvl):
        self.on = lvl == "bwrap"
        self.base = labs.build_dir() / "grade" / "compiled"
        self.prefix = f"{Path(part).parent.name}|{lvl}|uid{os.geteuid()}"

    def _key(self, lab, files):
        mine = {rel: v for rel, v in files.items() if rel.startswith(f"labs/{lab.slug}/")}
        if not self.on or not mine or any(not isinstance(v, bytes) or any(u.encode() in v for u in UNCACHEABLE)
                                          for v in mine.values()):
            return None
        return hashlib.sha256(f"{self.prefix}|{lab.slug}|{files_hash(mine)}".encode()).hexdigest()[:32]

    def fetch(self, lab, files, where, uid):
        """Put the cached programs in place: whether there were."""
        key = self._key(lab, files)
        d = self.base / key if key else None
        if not d or not all((d / p).is_file() for p in lab.programs):
            return False
        for p in lab.programs:
            dest = Path(where) / lab.program_path("build", p)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(d / p, dest)
            if os.geteuid() == 0 and uid is not None:
                os.lchown(dest.parent, uid, uid)
                os.lchown(dest, uid, uid)
        return True

    def store(self, lab, files, where):
        key = self._key(lab, files)
        if not key or (self.base / key).is_dir():
            return
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o700)
        tmp = Path(tempfile.mkdtemp(prefix=key + ".", dir=self.base))
        try:
            for p in lab.programs:
                src = Path(where) / lab.program_path("build", p)
                if not src.is_file() or src.is_symlink():
                    return
                shutil.copy2(src, tmp / p, follow_symlinks=False)
            os.rename(tmp, self.base / key)
        except OSError:           # another grader stored the same meanwhile
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def build_all(where, labs_sel, lvl, uid=None):
    """Compile every lab at once (make -k, one make instead of one per lab):
    {slug: (None or the compiler's first lines, None or the grader's failure)}
    for the labs it can tell about; build() the others one by one."""
    targets = [str(lab.program_path("build", p)) for lab in labs_sel for p in lab.programs]
    if not targets:
        return {}
    r = _retrying("building", lambda: runner.run(MAKE + ["-k"] + targets, runner.seconds(120) * max(1, len(labs_sel)),
                                                 level=lvl, workdir=where, limits=runner.BUILD_LIMITS,
                                                 check_workdir=False, uid=uid))
    if isinstance(r, runner.GraderError) or r.grader_error or r.timed_out or r.memory_killed \
            or any(e in r.stderr + r.stdout for e in RESOURCE_ERRORS):
        return {}
    out, failed = {}, []
    for lab in labs_sel:
        if all((Path(where) / lab.program_path("build", p)).exists() for p in lab.programs):
            out[lab.slug] = (None, None)
        else:
            failed.append(lab.slug)
    if len(failed) == 1:        # everything make said is about it (more than one: build() each)
        out[failed[0]] = (_first_errors((r.stderr + r.stdout).replace(str(where) + "/", "").splitlines()), None)
    return out


def _first_errors(lines, why=""):
    first = [l for l in lines if "error" in l.lower()][:1]
    start = lines.index(first[0]) if first else 0
    return why + ("\n".join(lines[max(0, start - 2):start + 15]) or "make failed")


def build(where, lab, lvl, uid=None):
    """Compile one lab's programs inside the sandbox: (None or the compiler's
    first lines, None or the grader's failure)."""
    targets = [str(lab.program_path("build", p)) for p in lab.programs]

    def once():
        r = runner.run(MAKE + targets, runner.seconds(120), level=lvl, workdir=where,
                       limits=runner.BUILD_LIMITS, check_workdir=False, uid=uid)
        if r.returncode != 0 and not r.memory_killed and any(e in r.stderr + r.stdout for e in RESOURCE_ERRORS):
            r.grader_error = "the compiler could not start a process (EAGAIN): the machine's limits, not the code"
        return r
    r = _retrying(f"building {lab.slug}", once)
    if isinstance(r, runner.GraderError) or r.grader_error:
        return None, str(r) if isinstance(r, Exception) else r.grader_error
    if r.returncode == 0 and not r.timed_out and all((Path(where) / t).exists() for t in targets):
        return None, None
    lines = (r.stderr + r.stdout).replace(str(where) + "/", "").splitlines()
    why = ("the compiler timed out\n" if r.timed_out else "") + \
          ("the compiler was killed at the build's memory limit\n" if r.memory_killed else "")
    return _first_errors(lines, why) if lines else why + f"make exited with {r.returncode}", None


# ---- tracing ----------------------------------------------------------------

class Trace:
    """One traced run: strace around the whole sandbox command writes into a
    FIFO in a folder only the grader may enter (mkdtemp: 0700); runner.run
    reads it as it goes (at most TRACE_CAP bytes kept).  A dummy writer keeps
    the FIFO from reading as ended before strace opens it."""

    def __init__(self, calls):
        self.calls = calls
        self.dir = tempfile.mkdtemp(prefix="mmaplab-trace.")
        self.path = os.path.join(self.dir, "trace")
        os.mkfifo(self.path, 0o600)
        self.rfd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.wfd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def wrap(self, cmd):
        return signature.traced_argv(cmd, self.calls, self.path)

    def close(self):
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def traced_run(argv, timeout, lvl, workdir, ro_binds, uid, spec, program, cpus=None):
    """runner.run, traced when spec has a signature: (Run, missing or None)."""
    if spec is None or not spec.signature.calls:
        return runner.run(argv, timeout, level=lvl, workdir=workdir, ro_binds=ro_binds, uid=uid, cpus=cpus), None
    with Trace(spec.signature.calls) as t:
        r = runner.run(argv, timeout, level=lvl, workdir=workdir, ro_binds=ro_binds, uid=uid,
                       wrap=t.wrap, side=t.rfd, side_cap=TRACE_CAP, cpus=cpus)
    if r.grader_error:
        return r, None
    try:
        ok, missing = signature.check(r.side.decode("utf-8", "replace"), spec, program=str(program))
    except signature.TraceError as e:
        if r.returncode == 127 and not r.stdout:      # the program never started: nothing to trace
            return r, None
        r.grader_error = f"the trace is unusable: {e}"
        return r, None
    if r.side_limited:
        r.notes.append(f"the trace was cut at {TRACE_CAP >> 20} MiB (the program made too many traced calls)")
    return r, missing


# ---- the reference solution: expected transcripts and times ------------------------

class ReferenceError(Exception):
    pass


def harness_code():
    """The grader's code: harness/*.py but the tests, and the sandbox's supervisor (supervisor.c)."""
    here = Path(__file__).resolve().parent
    return [p for p in sorted([*here.glob("*.py"), here / "supervisor.c"])
            if not p.name.startswith(("test_", "conftest"))]


def grader_code_version():
    """A hash of the grader's code (harness_code()): a calibration
    made by another version of the grader is not reused."""
    h = hashlib.sha256()
    for p in harness_code():
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


class Calibrations:
    """What each variant's time limit comes from: the reference solution's
    time for it, measured once and kept, in seconds of a quiet 2-CPU machine
    (its seconds divided by the slowness measured when it ran), one JSON file
    per key in folder/<lab>/ (the grader's only).  The key is the lab, the
    arguments, the lab's files and programs, the machine, the sandbox level
    and user, tracing and the grader's code: a regrade of the same student
    with the same grader finds it, whatever the reference cache holds (a
    cold regrade measures the reference again, but its limit stays).  The
    first calibration of a key wins, also between graders running at once.
    A variant's limit is then max(scale x quiet_seconds x the slowness of
    this grading, floor): the same for the same slowness, and the labs' own
    limits (limit_ms) scale by that same slowness."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, slug, key):
        return self.folder / slug / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def get(self, slug, key):
        try:
            data = json.loads(self._path(slug, key).read_text())
        except (OSError, ValueError):
            return None
        return data if data.get("key") == key and isinstance(data.get("quiet_seconds"), (int, float)) else None

    def keep(self, slug, key, value):
        """The calibration of key: the one kept, or value, kept now."""
        old = self.get(slug, key)
        if old:
            return old
        path = self._path(slug, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for d in (self.folder, path.parent):
            os.chmod(d, 0o700)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**value, "key": key}, f)
        try:
            os.link(tmp, path)             # never over another grader's calibration
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return self.get(slug, key) or {**value, "key": key}

    def forget(self, slugs):
        """--recalibrate: the labs' calibrations are measured again."""
        for slug in slugs:
            shutil.rmtree(self.folder / slug, ignore_errors=True)


class References:
    """The reference solution's runs, in the sandbox the student's get:
    the expected transcript of each drawn variant, the time limit of every
    variant, and whether the reference shows its own lab's signature.
    Cached (variants.ReferenceCache) per machine, sandbox level, user, the
    lab's files and programs, and the arguments."""

    def __init__(self, lvl, uid, log, specs, trace):
        self.lvl, self.uid, self.log, self.specs, self.trace = lvl, uid, log, specs, trace
        self.cache = variants.ReferenceCache(labs.build_dir() / "grade" / "reference")
        self.calibrations = Calibrations(labs.build_dir() / "grade" / CALIBRATION)
        self.grader = grader_code_version()
        self.machine = f"{platform.node()}|{os.cpu_count()}|{platform.release()}|{lvl}|uid{os.geteuid()}"
        self.tree = {}
        self.copies = None            # a private copy of the reference programs (made when needed)
        self.announced = False

    def lab_hash(self, lab):
        if lab.slug not in self.tree:
            h = hashlib.sha256()
            prog_dir = labs.build_dir() / lab.slug
            for p in [*sorted(lab.folder.glob("*")), *sorted((ROOT / "labs" / "common").glob("*")),
                      ROOT / "labs" / "labs.mk", *[prog_dir / q for q in lab.programs]]:
                if p.is_file():
                    h.update(p.name.encode() + b"\0" + p.read_bytes())
            self.tree[lab.slug] = h.hexdigest()[:16]
        return self.tree[lab.slug]

    def programs(self, lab):
        """The lab's reference programs, copied where only the grader and
        this grading's sandbox uid may go (the tree itself may be closed to
        other users, protect())."""
        for p in lab.programs:
            if not (labs.build_dir() / lab.slug / p).exists():
                raise SystemExit(f"{labs.build_dir() / lab.slug / p} is not built: run 'make all' first")
        if self.copies is None:
            self.copies = private_dir("mmaplab-ref.", self.lvl, self.uid)
        d = self.copies / lab.slug
        if not d.exists():
            d.mkdir()
            for p in lab.programs:
                shutil.copy2(labs.build_dir() / lab.slug / p, d / p)
            os.chmod(d, 0o755)
        return d

    def run(self, lab, args):
        """{"body", "seconds", "slowness", "missing", "calibration"} of the reference
        for these arguments (calibration: Calibrations' record, the limit's source)."""
        key = f"{lab.slug}|{shlex.join(args)}|{self.lab_hash(lab)}|{self.machine}|trace={self.trace}"
        value = self.measure(lab, args, key)
        slowness = value.get("slowness") or runner.slowness()      # a cache entry made before it was kept
        cal = self.calibrations.keep(lab.slug, f"{key}|grader={self.grader}", {
            "args": list(args), "reference_seconds": value["seconds"], "slowness": round(slowness, 2),
            "quiet_seconds": round(value["seconds"] / slowness, 4),
            "calibrated": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
        return {**value, "calibration": cal}

    def measure(self, lab, args, key):
        """{"body", "seconds", "slowness", "missing"}: the reference's run, cached under key."""
        hit = self.cache.get(key)
        if hit:
            return hit
        if not self.announced:
            self.log("running the reference solution for the variants not seen before (expected transcripts, time limits)")
            self.announced = True
        d = self.programs(lab)
        spec = self.specs.get(lab.slug) if self.trace else None
        problem = None
        for attempt in range(RETRIES + 1):
            work = tempfile.mkdtemp(prefix="mmaplab-cal.", dir=self.copies)
            os.chmod(work, 0o755)
            try:
                r, missing = traced_run([d / lab.entry, *args], runner.seconds(60), self.lvl, work, [d], self.uid,
                                        spec, d / lab.entry)
            except runner.GraderError as e:
                problem = str(e)
                continue
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if r.grader_error:
                problem = r.grader_error
            elif r.timed_out or r.returncode != 0 or r.leftovers:
                problem = (f"exit status {r.returncode}{', timed out' if r.timed_out else ''}"
                           + (f", left {'; '.join(r.leftovers)}" if r.leftovers else "")
                           + (f"; stderr: {r.stderr.strip()[-300:]}" if r.stderr.strip() else ""))
            else:
                value = {"args": list(args), "body": r.stdout, "missing": missing,
                         "seconds": round(r.program_seconds if r.program_seconds is not None else r.seconds, 4),
                         "slowness": round(runner.slowness(), 2)}
                self.cache.put(key, value)
                return value
        raise ReferenceError(f"the reference solution fails `{shlex.join([lab.entry, *args])}` in the sandbox "
                             f"({problem}): fix the lab or its lab.toml ranges; nothing is charged to the student")

    def close(self):
        if self.copies:
            shutil.rmtree(self.copies, ignore_errors=True)
            self.copies = None


def draw_variants(cases, specs, refs, settings, student, log):
    """Give every case its expected transcript (drawn ones: the reference's
    output for this student's parameters) and time limit; return the labs
    whose reference lacks its own signature ({slug: missing})."""
    seed = variants.student_seed(settings.secret, student) if settings.secret else None
    unsigned = {}
    publics = {}
    for c in cases:
        lab = c.variant.lab
        try:
            if c.kind == "drawn":
                pub = publics.setdefault(lab.slug, [v.body for v in mmaplabs.variants(lab)])
                for attempt in range(variants.REDRAWS):
                    args = labspec.args_for(variants.draw(specs[lab.slug], seed, lab.slug, c.k, attempt))
                    ref = refs.run(lab, args)
                    if not variants.like_public(ref["body"], pub):
                        break
                c.variant = replace(c.variant, args=args, body=ref["body"])
                c.free = variants.free_steps(ref["body"], pub)
            else:
                ref = refs.run(lab, c.variant.args)
                if mmaplabs.normalise(ref["body"]) != mmaplabs.normalise(c.variant.body):
                    log(f"WARNING: the reference solution does not reproduce {c.id} in the sandbox "
                        f"(first at step {mmaplabs.first_differing_step(mmaplabs.normalise(c.variant.body), mmaplabs.normalise(ref['body']))}); "
                        "fix the tree before grading")
        except ReferenceError as e:
            c.error = str(e)
            continue
        if ref.get("missing"):
            unsigned[lab.slug] = ref["missing"]
        c.timeout = time_limit(settings, ref["calibration"], lab=lab)
    return unsigned


def time_limit(settings, calibration, slowness=None, lab=None):
    """A variant's time limit in seconds now: max(scale x the calibrated
    reference time, in seconds of a quiet machine, x this machine's measured
    slowness, the floor: lab's own if it has one)."""
    s = runner.slowness() if slowness is None else slowness
    return max(settings.scale * calibration["quiet_seconds"] * s, settings.floor_for(lab))


# ---- running one case --------------------------------------------------------

def placement(i):
    """Where repetition i runs: every second one on a single CPU.  A program
    that is right only by luck of the scheduler (a race) then tends to print
    something else in one of its runs (nondeterministic) instead of being
    scored on runs that happened to agree; a right one prints the same
    wherever it runs (the labs' transcripts are checked pinned to one CPU)."""
    if i % 2 == 0:
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return {allowed[(os.getpid() + i // 2) % len(allowed)]}      # graders side by side: not all on one CPU


def run_case(case, prog, lvl, settings, runs_dir, repro, uid, spec):
    """Run a case's variant settings.repeat times (fewer after two timeouts), score it."""
    v = case.variant
    runs, missing, error = [], [], None
    while scoring.more_runs(runs, settings.repeat):
        def once(i=len(runs)):
            work = tempfile.mkdtemp(prefix="run.", dir=runs_dir)
            os.chmod(work, 0o755)
            try:
                return traced_run([prog] + v.args, case.timeout, lvl, work, [prog.parent], uid, spec, prog,
                                  cpus=placement(i))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        res = _retrying(case.id, lambda: _Pair(*once()))
        if isinstance(res, runner.GraderError) or res.grader_error:
            error = str(res) if isinstance(res, Exception) else res.grader_error
            break
        r, miss = res.run, res.missing
        runs.append(r)
        if miss and not missing:
            missing = miss
    case.seconds = sum(r.seconds for r in runs)
    if error:
        verdict = scoring.no_run("grader-error", v.body, grader_error=error)
        case.record(verdict)
        case.detail = (f"**{case.name}**: grader-error, not graded: {reports.safe(error)}. This is the grader's "
                       "failure, not yours: the instructor will grade it again.")
        return
    verdict = scoring.score(v.body, runs, case.max_cents, free=case.free if case.kind == "drawn" else (),
                            missing=missing)
    case.record(verdict)
    case.detail = reports.case_feedback(case, verdict, runs, timeout_rule=settings.timeout_rule_for(v.lab),
                                        output_limit=runner.Limits().output, repro=repro(case),
                                        signature=[str(c) for c in spec.signature.calls] if spec else None)


@dataclass
class _Pair:
    run: object
    missing: list

    @property
    def grader_error(self):
        return self.run.grader_error


# ---- grading one submission ----------------------------------------------------

def signature_policy(settings, lvl):
    """(check signatures?, a line for the header, or None)."""
    if not settings.signatures:
        return False, ("- **signatures: NOT checked** (--no-signatures): a program that prints the right "
                       "lines without doing the experiment is not caught")
    ok, why = signature.trustworthy(lvl, os.geteuid())
    if not ok:
        return False, f"- **signatures: NOT checked**: {why}"
    ok, why = (True, "") if os.environ.get("MMAPLABS_STRACE_PROBED") == "ok" else signature.probe()
    if not ok and not settings.secret:     # practice (make check, a try without the instructor's secret)
        return False, (f"- **signatures: NOT checked**: {why}; grading with GRADE_SECRET needs them "
                       "(apt-get install strace)")
    if not ok:
        raise runner.GraderError(f"signatures cannot be checked here ({why}); install strace "
                                 "(apt-get install strace) or grade with --no-signatures")
    return True, "- signatures: every graded run is traced (strace); a run without its lab's system calls earns nothing"


def secret_on_a_command_line(secret):
    """Whether some process shows the secret in its command line (make grade
    GRADE_SECRET=... does): any user can read /proc/PID/cmdline, and so can
    student code where /proc is the host's (the rlimits level)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if secret in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            pass
    return False


def variant_line(settings):
    if settings.secret:
        return (f"- variants: {settings.drawn} per parametrised lab, drawn for this student from the instructor's "
                "secret (the public transcripts in expected/ are for practice and earn nothing there)")
    return ("- **WARNING: no GRADE_SECRET: every lab is graded on its public transcripts (and hidden ones), "
            "which a program can simply print: use this only to try the grader, never for grades**")


def grade(submission, out, settings, student=None, log=print, quiet=False, template=None, variant_key=None):
    """Grade one submission (None: this tree) into `out`.  Returns (cases, csv row).
    template: prepare()'s tree to reuse (grade-all and the handout make one for all).
    variant_key: whose variants (default: student)."""
    start = time.monotonic()
    sub = Path(submission).resolve() if submission else ROOT
    student = student or (sub.name if submission else "reference")
    labs_sel = select_labs(settings.labs)
    cases, warnings, specs = collect(labs_sel, settings)
    lvl, why = runner.level()
    traced, sig_line = signature_policy(settings, lvl)
    header = [f"- submission: {reports.code(str(sub))}",
              f"- {runner.describe(lvl)}" + (f" ({why})" if why and lvl != "bwrap" else ""),
              variant_line(settings), sig_line,
              f"- each variant runs {settings.repeat} time(s); timeout = max({settings.scale:g} x reference time, {settings.floor_rule}"
              + "".join(f"; lab {n:02d}: {secs:g} s" for n, secs in settings.lab_floors) + "); "
              f"the reference times are calibrated once per lab variant and grader version and kept "
              f"({CALIBRATION}/, --recalibrate measures them again), in seconds of a quiet machine "
              f"times this one's measured slowness ({runner.slowness():.2f} now)"]
    if settings.secret and lvl == "rlimits" and secret_on_a_command_line(settings.secret):
        header.append("- **warning: the secret is on a command line (make grade GRADE_SECRET=...): at the rlimits "
                      "level student code can read it in /proc; give it as `export GRADE_SECRET=...` or "
                      "GRADE_SECRET_FILE=path (a file only you can read)**")
    sub_dir, where_note = find_labs(sub) if submission else (None, None)
    if where_note:
        header.append(f"- note: {where_note}")
    header += [f"- warning: {w}" for w in warnings]
    lab_notes = {}
    final = False
    try:
        reports.write(out, student, cases, header, False, 0, lab_notes)   # every case listed before anything runs
        if not quiet:
            log("\n".join(header))
        with runner.shared_uid_turn(lvl), runner.lease() as lease, \
                tempfile.TemporaryDirectory(prefix="mmaplab-grade.", dir=staging_base(lvl)) as tmp_name:
            tmp = Path(tmp_name)
            if os.geteuid() == 0 and lease.uid is not None:
                os.chown(tmp, 0, lease.uid)
                os.chmod(tmp, 0o710)
            else:
                os.chmod(tmp, 0o711)
            refs = References(lvl, lease.uid, log, specs, traced)
            try:
                unsigned = draw_variants(cases, specs, refs, settings, variant_key or student, log)
            finally:
                refs.close()           # no reference program is left where the student's code runs
            for slug, missing in unsigned.items():
                header.append(f"- **warning: {slug}: the reference solution itself lacks the lab's signature "
                              f"({'; '.join(missing)}): its signature is not checked** (fix its lab.toml)")
            for c in cases:
                if c.error:
                    c.record(scoring.no_run("grader-error", c.variant.body, grader_error=c.error))
                    c.detail = f"**{c.name}**: grader-error, not graded: {reports.safe(c.error)}"

            def repro(c):
                n = c.variant.lab.number
                args = f" ARGS={shlex.quote(shlex.join(c.variant.args))}" if c.variant.args else ""
                grader = f"make grade{' SUBMISSION=' + shlex.quote(str(sub)) if submission else ''} LABS={n}"
                return reports.code(f"make lab-{n}{args}") + " in the submission's tree; the grader's command: " \
                    + reports.code(grader)

            files = student_files(sub, labs_sel)
            part = template or grader_part(labs_sel, lvl)
            where = tmp / "tree"
            runs = tmp / "runs"
            runs.mkdir()
            os.chmod(runs, 0o755)
            problems = stage(part, files, where, lease.uid)
            wanted = [lab for lab in labs_sel if lab.slug not in problems
                      and any(c.lab == lab.slug and not c.error for c in cases)]
            compiled = CompileCache(part, lvl)
            cached = [lab for lab in wanted if compiled.fetch(lab, files, where, lease.uid)]
            built = build_all(where, [lab for lab in wanted if lab not in cached], lvl, lease.uid)
            for lab in wanted:        # before any student program runs
                if built.get(lab.slug) == (None, None):
                    compiled.store(lab, files, where)
            built.update({lab.slug: (None, None) for lab in cached})
            for lab in labs_sel:
                lc = [c for c in cases if c.lab == lab.slug and not c.error]
                if not lc:
                    continue
                gerr = None
                if lab.slug in problems:
                    note, status = "\n".join(f"- {reports.safe(p)}" for p in problems[lab.slug]), "missing"
                    if where_note:
                        note += f"\n- {where_note}"
                else:
                    err, gerr = built[lab.slug] if lab.slug in built else build(where, lab, lvl, lease.uid)
                    note, status = (None, None) if err is None else (
                        "does not compile; the compiler's first error lines:\n\n" + reports.fence(err), "compile error")
                if gerr:
                    for c in lc:
                        c.record(scoring.no_run("grader-error", c.variant.body, grader_error=gerr))
                        c.detail = f"**{c.name}**: grader-error, not graded: {reports.safe(gerr)}"
                elif note:
                    lab_notes[lab.slug] = note
                    for c in lc:
                        c.record(scoring.no_run(status, c.variant.body))
                        c.detail = reports.lab_note_feedback(c, status, note)
                else:
                    spec = specs[lab.slug] if traced and lab.slug not in unsigned else None
                    for c in lc:
                        run_case(c, lab.program_path(where / "build"), lvl, settings, runs, repro, lease.uid, spec)
                        reports.write(out, student, cases, header, False, time.monotonic() - start, lab_notes)
                reports.write(out, student, cases, header, False, time.monotonic() - start, lab_notes)
                if not quiet:
                    for c in lc:
                        log(f"  {c.name:44s} {c.status:18s} {reports.points(c.cents):>6s}/{reports.points(c.max_cents)}")
        errors = [c for c in cases if c.status == "grader-error"]
        if errors:
            header.append(f"- **{len(errors)} case(s) could not be graded (grader-error): not the student's fault; "
                          "the command exits non-zero, grade again**")
        final = True
    except KeyboardInterrupt:
        header.append("- **interrupted (Ctrl-C or SIGTERM): the cases marked 'not graded' were not graded**")
        raise
    finally:
        row = reports.write(out, student, cases, header, final, time.monotonic() - start, lab_notes)
    return cases, row


# ---- batch grading ------------------------------------------------------------

def grader_files():
    """Every file of this tree a grade depends on, but the student's
    submissions: the harness, the Makefile, every file of labs/ (the reference
    sources write the drawn variants' transcripts; lab.toml, headers, common)
    and the public transcripts."""
    here = Path(__file__).resolve().parent
    files = harness_code()
    files += sorted(p for p in (here / "gradescope").glob("*") if p.is_file())
    files += [p for p in (here / "need.sh", ROOT / "Makefile") if p.exists()]
    files += sorted(p for p in (ROOT / "labs").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    files += sorted((ROOT / "expected").glob("*.txt"))
    return files


def grader_version(settings):
    h = hashlib.sha256(settings.key().encode())
    h.update(f"{runner.level()[0]}|uid{os.geteuid()}".encode())
    paths = grader_files() + [p for d in settings.hidden for p in sorted(Path(d).glob("*.txt"))]
    for p in paths:
        h.update(str(p).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class Forker:
    """Where grade-all's graders come from: a process forked from grade-all
    before its threads start, with every module already imported, that forks
    each submission's grader (`grade.py grade ...`'s main, its output to a
    file).  A new interpreter per submission spent about 50 ms of CPU on
    imports alone, more than the rest of its own work.

    The graders are the forker's children: it reports each one's pid, then its
    exit status, on a socket of that grader's own; it dies with grade-all (so
    do they: PR_SET_PDEATHSIG, as before) and ends when grade-all closes its
    socket and every grader has ended.  Forked only from one thread each time,
    so no lock of another thread is copied held."""

    def __init__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lock = threading.Lock()
        self.pid = os.fork()
        if self.pid == 0:
            code = 0
            try:
                keep = theirs.detach()           # nothing of grade-all's stays open here: its locks
                os.closerange(3, keep)
                os.closerange(keep + 1, 1 << 16)
                _forker_serve(socket.socket(fileno=keep))
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        theirs.close()

    def start(self, argv, log_path):
        """Start main(argv) with stdout and stderr in log_path: a Popen-like handle."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self.lock:
                socket.send_fds(self.sock, [json.dumps([list(map(str, argv)), str(log_path)]).encode()],
                                [theirs.fileno()])
        finally:
            theirs.close()
        answer = mine.recv(256).decode()
        if not answer.startswith("pid "):
            mine.close()
            raise OSError(f"cannot start a grader: {answer or 'the forker is gone'}")
        return Forked(int(answer[4:]), mine)

    def close(self):
        self.sock.close()                  # the forker ends once its graders have
        os.waitpid(self.pid, 0)


class Forked:
    """A grader Forker started: the part of subprocess.Popen grade-all uses."""

    def __init__(self, pid, sock):
        self.pid, self.sock, self.returncode = pid, sock, None
        self.reading = threading.Lock()    # one reader: grade-all's main thread polls while a pool thread waits

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        left = lambda: None if end is None else max(0.0, end - time.monotonic())  # noqa: E731
        if not self.reading.acquire(timeout=-1 if end is None else left()):
            raise subprocess.TimeoutExpired(f"grader {self.pid}", timeout)
        try:
            if self.returncode is None:
                if not select.select([self.sock], [], [], left())[0]:
                    raise subprocess.TimeoutExpired(f"grader {self.pid}", timeout)
                answer = self.sock.recv(64).decode()
                self.returncode = int(answer[5:]) if answer.startswith("exit ") else 70
                self.sock.close()
        finally:
            self.reading.release()
        return self.returncode

    def poll(self):
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, sig):
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.send_signal(signal.SIGKILL)


def _forker_serve(control):
    """The forker's loop (see Forker)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)      # Ctrl-C reaches the graders; grade-all decides
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG: gone with grade-all
    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ)
    graders = {}                           # pidfd -> (pid, the socket to report on)
    while control is not None or graders:
        for key, _ in sel.select():
            if key.fileobj is control:
                try:
                    msg, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
                except OSError:
                    msg, fds = b"", []
                if not msg:
                    sel.unregister(control)
                    control.close()
                    control = None
                    continue
                reply = socket.socket(fileno=fds[0])
                argv, log_path = json.loads(msg)
                try:
                    pid = os.fork()
                except OSError as e:
                    reply.sendall(f"error {e}".encode())
                    reply.close()
                    continue
                if pid == 0:
                    _forked_grader(argv, log_path)
                pidfd = os.pidfd_open(pid)
                graders[pidfd] = (pid, reply)
                sel.register(pidfd, selectors.EVENT_READ)
                reply.sendall(f"pid {pid}".encode())
            else:
                pid, reply = graders.pop(key.fileobj)
                sel.unregister(key.fileobj)
                os.close(key.fileobj)
                status = os.waitpid(pid, 0)[1]
                try:
                    reply.sendall(f"exit {os.waitstatus_to_exitcode(status)}".encode())
                except OSError:
                    pass
                reply.close()


def _forked_grader(argv, log_path):
    """In the forker's child: what `python3 grade.py ARGV` would do, output in log_path."""
    code = 70
    try:
        os.closerange(3, 1 << 16)          # no socket of the forker, nothing of grade-all's
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.argv = [str(Path(__file__).resolve()), *argv]
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int) and e.code is not None:
                print(e.code, file=sys.stderr)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
    finally:
        try:
            import atexit
            atexit._run_exitfuncs()        # what an interpreter's exit runs (weakref.finalize's among them)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)


def grade_all(subs_dir, out, settings, jobs, log=print):
    """Grade every submission folder; returns the exit status (0, 1: grader
    errors, INTERRUPTED)."""
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / "work").mkdir(exist_ok=True)
    subs = sorted(p for p in Path(subs_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
    labs_sel = select_labs(settings.labs)
    lab_slugs = [lab.slug for lab in labs_sel]
    lvl, _ = runner.level()
    if lvl != "bwrap" and os.geteuid() != 0 and jobs > 1:
        log(f"sandbox level {lvl} as an ordinary user: every sandbox has the grader's uid and shares /dev/shm "
            "and /tmp, so submissions are graded one at a time (-j 1)")
        jobs = 1
    protect([ROOT, out, *settings.hidden, os.environ.get(variants.SECRET_FILE_ENV)], lvl, log)
    log(runner.describe(lvl))
    runner.remember_level()                       # the child graders reuse what was found here
    runner.slowness()                             # ... and this speed (MMAPLABS_SLOWNESS): one floor for all
    if signature_policy(settings, lvl)[0]:
        os.environ["MMAPLABS_STRACE_PROBED"] = "ok"
    version = grader_version(settings)
    state_file = out / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    rows, todo = {}, []
    for s in subs:
        key = version + ":" + files_hash(student_files(s, labs_sel))
        if state.get(s.name, {}).get("key") == key:
            rows[s.name] = state[s.name]["row"]
        else:
            todo.append((s, key))
    log(f"{len(subs)} submission(s): {len(subs) - len(todo)} unchanged since last graded, {len(todo)} to grade, -j {jobs}")

    def save():
        reports.gradebook(out / "gradebook.csv", rows, lab_slugs)
        reports.atomic_write(state_file, json.dumps(state, indent=1))

    children, stop = {}, threading.Event()
    lock = threading.Lock()
    forker = None

    def one(s, key, part):
        work = out / "work" / s.name
        argv = ["grade", "--submission", str(s.resolve()), "--out", str(work), "--student", s.name, "--quiet",
                "--grader-part", str(part), *settings.argv()]
        t = time.monotonic()
        log_tmp = out / "work" / f".{s.name}.log"
        with lock:
            if stop.is_set():
                return s, key, None, 0.0
            p = forker.start(argv, log_tmp)
            children[s.name] = p
        p.wait()
        work.mkdir(parents=True, exist_ok=True)
        text = log_tmp.read_bytes().decode("utf-8", "backslashreplace")
        log_tmp.unlink()
        (work / "log.txt").write_text(text)
        return s, key, p.returncode, time.monotonic() - t

    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    start, done, status = time.monotonic(), 0, 0
    pool = part = None
    try:
        if todo:
            # The public and hidden variants' reference runs, once for all (each grader reuses
            # them), and the grader's part of every build tree (kept: grader_part).
            with runner.shared_uid_turn(lvl), runner.lease() as lease:
                cases, _, specs = collect(labs_sel, replace(settings, secret=None))
                refs = References(lvl, lease.uid, log, specs, signature_policy(settings, lvl)[0])
                try:
                    draw_variants(cases, specs, refs, replace(settings, secret=None), "", log)
                finally:
                    refs.close()
                part = grader_part(labs_sel, lvl)     # made under this turn, kept: each grader copies it
        forker = Forker() if todo else None      # before the threads start
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        futures = [pool.submit(one, s, key, part) for s, key in todo]
        for f in as_completed(futures):
            s, key, rc, secs = f.result()
            if rc is None:
                continue
            done += 1
            work = out / "work" / s.name
            row, final = reports.read_row(work) or ({"student": s.name, "score": 0, "max_score": "", "percent": 0}, False)
            if rc != 0 or not final:
                row["notes"] = f"GRADER ERROR (exit {rc}), see {work / 'log.txt'}; " + row.get("notes", "")
                status = 1
            else:
                state[s.name] = {"key": key, "row": row}
            rows[s.name] = row
            if (work / "feedback.md").exists():
                shutil.copy(work / "feedback.md", out / "feedback" / f"{s.name}.md")
            save()
            eta = (time.monotonic() - start) / done * (len(todo) - done)
            log(f"[{done}/{len(todo)}] {s.name}: {row.get('score')}/{row.get('max_score')} ({secs:.1f} s)"
                f"{' ' + row['notes'][:60] if rc else ''}  ETA {int(eta) // 60}:{int(eta) % 60:02d}")
        pool.shutdown()
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with lock:
            stop.set()
            for p in children.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)       # each kills its sandbox and writes what it has
        for p in children.values():
            try:
                p.wait(timeout=runner.seconds(1.5))
            except subprocess.TimeoutExpired:
                p.kill()
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
        for s, key in todo:
            if s.name not in state or state[s.name].get("key") != key:
                rows[s.name] = {"student": s.name, "score": "", "max_score": "", "percent": "",
                                "notes": "interrupted: not graded (run the same command again to resume)"}
        save()
        log(f"interrupted: {done} of {len(todo)} graded; {out / 'gradebook.csv'} and {state_file} are saved, "
            "the same command resumes")
        return INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, old)
        if forker:
            forker.close()
    save()
    log(f"gradebook: {out / 'gradebook.csv'} ({len(rows)} rows); feedback: {out / 'feedback'}/")
    if status:
        log("some submissions could not be graded (GRADER ERROR in the gradebook): run the same command again")
    return status


# ---- command line ---------------------------------------------------------------

def gradescope_student(path):
    """(display name, variant key) from Gradescope's submission_metadata.json."""
    meta = json.loads(Path(path).read_text())
    users = meta.get("users") or []
    ids = sorted(str(u.get("id") or u.get("email") or u.get("name")) for u in users)
    names = ", ".join(sorted(str(u.get("name") or u.get("email") or "") for u in users)) or "submission"
    if not ids:
        return names, None
    return names, "gradescope:" + ",".join(ids)


def main(argv=None):
    defaults = Settings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--labs", default=os.environ.get("LABS", ""), help="only these labs: 9,10")
    common.add_argument("--expected", default=os.environ.get("EXPECTED", ""),
                        help="extra (hidden) transcript folders, ':'-separated")
    common.add_argument("--repeat", type=int, default=defaults.repeat)
    common.add_argument("--drawn", type=int, default=int(os.environ.get("DRAWN") or DRAWN),
                        help="variants drawn per parametrised lab and student (with a secret)")
    common.add_argument("--timeout-scale", type=float, default=defaults.scale)
    common.add_argument("--timeout-floor", type=float, default=defaults.floor,
                        help=f"the least time limit, in seconds (default: {FLOOR:g} s x this machine's measured slowness)")
    common.add_argument("--lab-timeout-floor", action="append", default=[], metavar="N=S",
                        help="lab N's own least time limit, in seconds (again for another lab)")
    common.add_argument("--secret-file", help="the instructor's secret (else GRADE_SECRET or GRADE_SECRET_FILE)")
    common.add_argument("--no-signatures", action="store_true", default=os.environ.get("SIGNATURES") == "0",
                        help="do not trace runs (said in every report)")
    common.add_argument("--recalibrate", action="store_true", default=os.environ.get("RECALIBRATE") == "1",
                        help="measure the reference times the time limits come from again (else each is "
                             "calibrated once per lab variant, machine and grader version, and kept)")
    g = sub.add_parser("grade", parents=[common], help="grade one submission (default: this tree)")
    g.add_argument("--submission", default=os.environ.get("SUBMISSION") or None)
    g.add_argument("--out", default=str(labs.build_dir() / "grade"))
    g.add_argument("--student")
    g.add_argument("--gradescope-metadata", help="Gradescope's submission_metadata.json: whose variants")
    g.add_argument("--quiet", action="store_true")
    g.add_argument("--grader-part", help=argparse.SUPPRESS)      # grade-all's prepare()d tree
    a = sub.add_parser("all", parents=[common], help="grade every submission in a folder")
    a.add_argument("submissions")
    a.add_argument("-j", "--jobs", type=int, default=1)
    a.add_argument("--out", default=str(labs.build_dir() / "grade-all"))
    h = sub.add_parser("handout", help="write and check the student tree")
    h.add_argument("--out", default=str(labs.build_dir() / "handout"))
    h.add_argument("--expected", default=os.environ.get("EXPECTED", ""), help="hidden transcript folders, to check none leaks")
    args = ap.parse_args(argv)
    hidden = tuple(d for d in args.expected.split(":") if d)
    if args.cmd == "handout":
        import handout
        return handout.make_handout(args.out, hidden)
    if args.secret_file:
        os.environ[variants.SECRET_FILE_ENV] = str(Path(args.secret_file).resolve())   # for child graders
    try:
        secret = variants.load_secret()
    except variants.SecretError as e:
        ap.error(str(e))
    lab_floors = {}
    for item in args.lab_timeout_floor:
        n, _, secs = item.partition("=")
        try:
            n, secs = int(n), float(secs)
        except ValueError:
            ap.error(f"--lab-timeout-floor {item}: not N=SECONDS (a lab number, then seconds: 9=3)")
        if not 0 < secs < float("inf"):
            ap.error(f"--lab-timeout-floor {item}: the seconds must be more than 0")
        try:
            labs.get(n)
        except labs.LabError as e:
            ap.error(f"--lab-timeout-floor {item}: {e}")
        lab_floors[n] = secs
    settings = Settings(labs=args.labs, hidden=hidden, repeat=args.repeat, scale=args.timeout_scale,
                        floor=args.timeout_floor, lab_floors=tuple(sorted(lab_floors.items())),
                        drawn=max(1, args.drawn), secret=secret, signatures=not args.no_signatures)
    for d in hidden:
        if not Path(d).is_dir():
            ap.error(f"--expected {d}: no such folder")
    if args.cmd == "grade" and args.grader_part:      # a child of grade-all: die with it
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)      # PR_SET_PDEATHSIG
    signal.signal(signal.SIGTERM, _raise_interrupt)
    recalibrate = args.recalibrate and not getattr(args, "grader_part", None)
    os.environ.pop("RECALIBRATE", None)     # once, here: not again in each of grade-all's graders
    try:
        if recalibrate:
            Calibrations(labs.build_dir() / "grade" / CALIBRATION).forget(
                lab.slug for lab in select_labs(settings.labs))
        if args.cmd == "all":
            if not Path(args.submissions).is_dir():
                ap.error(f"SUBMISSIONS={args.submissions}: no such folder")
            return grade_all(args.submissions, args.out, settings, args.jobs)
        if args.submission and not Path(args.submission).is_dir():
            ap.error(f"SUBMISSION={args.submission}: no such folder")
        student, key = args.student, None
        if args.gradescope_metadata and Path(args.gradescope_metadata).exists():
            student, key = gradescope_student(args.gradescope_metadata)
        if not args.grader_part:
            protect([ROOT, args.out, *hidden, os.environ.get(variants.SECRET_FILE_ENV)], runner.level()[0], print)
        cases, row = grade(args.submission, args.out, settings, student, quiet=args.quiet,
                           template=args.grader_part and Path(args.grader_part), variant_key=key)
    except (labs.LabError, mmaplabs.TranscriptError, labspec.LabSpecError) as e:
        print(f"grade: {e}", file=sys.stderr)
        return 2
    except runner.GraderError as e:
        print(f"grade: grader-error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"grade: interrupted; what was graded is in {args.out}", file=sys.stderr)
        return INTERRUPTED
    errors = [c for c in cases if c.status == "grader-error"]
    if not args.quiet:
        print()
        print(reports.table(cases))
        failed = [c for c in cases if not c.passed and not c.hidden and c.detail]
        for c in failed[:3]:
            print("\n" + c.detail)
        if len(failed) > 3:
            print(f"\n... {len(failed) - 3} more: see {Path(args.out) / 'feedback.md'}")
        print(f"\nwrote {args.out}/results.json, junit.xml, grades.csv, feedback.md")
    if errors:
        print(f"grade: grader-error in {len(errors)} case(s): {', '.join(c.id for c in errors)}; "
              "not the student's fault: grade again", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
