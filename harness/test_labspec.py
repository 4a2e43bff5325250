"""Tests of lab.toml (labspec), signatures (signature) and `make mutants` (mutants)."""
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import labs
import labspec
import mmaplabs
import mutants
import runner
import signature

ROOT = labspec.ROOT
LAB09 = labs.get(9)


# ---- lab.toml: the parser ------------------------------------------------------

GOOD = """
[params]
pages  = { min = 1, max = 6 }
offset = { choices = [0, 1, 3] }
mode   = { choices = ["read", "write"] }
exclude = [ { pages = 1, offset = 3 } ]    # inside [params], as coord/LABSPEC.md writes it

[signature]
calls = ["mmap MAP_SHARED !MAP_ANONYMOUS", "ftruncate", "mmap =EINVAL"]
ordered = true

[[mutant]]
name = "private"
file = "x.c"
find = "MAP_SHARED"
replace = "MAP_PRIVATE"
breaks = 3
variant = "offset-1"

[[mutant]]
name = "two"
file = "x.c"
find = "a"
replace = "b"
breaks = 1
variant = ["v1", "v2"]

[excused]
"a length of 0" = "a kernel refusal"
"""


def test_a_good_spec_reads_whole():
    s = labspec.parse(GOOD, "99-x", Path("labs/99-x/lab.toml"))
    assert s.exists and list(s.params) == ["pages", "offset", "mode"]
    assert (s.params["pages"].min, s.params["pages"].max) == (1, 6)
    assert s.params["offset"].choices == [0, 1, 3]
    assert s.exclude == [{"pages": 1, "offset": 3}]
    assert [(c.name, c.words) for c in s.signature.calls] == [
        ("mmap", ["MAP_SHARED", "!MAP_ANONYMOUS"]), ("ftruncate", []), ("mmap", ["=EINVAL"])]
    assert s.signature.ordered
    assert [(m.name, m.breaks, m.variants) for m in s.mutants] == [("private", 3, ["offset-1"]), ("two", 1, ["v1", "v2"])]
    assert s.excused == {"a length of 0": "a kernel refusal"}


def test_no_lab_toml_is_an_empty_spec(tmp_path):
    (tmp_path / "labs" / "01-a").mkdir(parents=True)
    (tmp_path / "labs" / "labs.mk").write_text("ALL_LABS += 01-a\n01-a.title := A\n01-a.programs := a\n")
    s = labspec.load(1, tmp_path)
    assert not s.exists and not s.params and not s.mutants and not s.signature.calls and not s.excused


@pytest.mark.parametrize("text, message", [
    ("[params\n", "not valid TOML"),
    ("[paramz]\n", "paramz: unknown key"),
    ("[params]\nPages = { min = 1, max = 2 }\n", "params.Pages: a parameter is an option"),
    ("[params]\np = { min = 3, max = 2 }\n", "params.p: min (3) is greater than max (2)"),
    ("[params]\np = { min = 1.5, max = 2 }\n", "params.p: min and max must be whole numbers"),
    ("[params]\np = { min = true, max = 2 }\n", "params.p: min and max must be whole numbers"),
    ("[params]\np = { choices = [] }\n", "params.p.choices: must be a non-empty list"),
    ("[params]\np = { choices = [1, 1] }\n", "params.p.choices: a value is listed twice"),
    ("[params]\np = { choices = [1.5] }\n", "params.p.choices: 1.5: only whole numbers and strings"),
    ("[params]\np = { choices = ['a b'] }\n", "must be one word"),
    ("[params]\np = { min = 1, max = 2, step = 1 }\n", "params.p: has keys"),
    ("[params]\np = 3\n", "params.p: must be { min"),
    ("exclude = [ { q = 1 } ]\n[params]\np = { min = 1, max = 2 }\n", "exclude[0].q: is not a parameter"),
    ("[params]\np = { min = 1, max = 2 }\nexclude = [ { q = 1 } ]\n", "exclude[0].q: is not a parameter"),
    ("exclude = []\n[params]\nexclude = []\n", "exclude: given twice"),
    ("exclude = [ { p = 9 } ]\n[params]\np = { min = 1, max = 2 }\n", "exclude[0].p: 9 is not a value"),
    ("[signature]\ncalls = 'mmap'\n", "signature.calls: must be a list"),
    ("[signature]\ncalls = ['MMAP']\n", "signature.calls[0]: 'MMAP' is not a system call name"),
    ("[signature]\ncalls = ['mmap MAP-SHARED']\n", "signature.calls[0]: 'MAP-SHARED': a word is a symbol"),
    ("[signature]\ncalls = ['mmap =EINVAL =EBADF']\n", "at most one =ERRNO"),
    ("[signature]\ncalls = ['']\n", "signature.calls[0]: must be a string"),
    ("[signature]\nordered = 'yes'\n", "signature.ordered: must be true or false"),
    ("[signature]\norder = true\n", "signature.order: unknown key"),
    ("[[mutant]]\nname = 'a'\n", "mutant[0] (a).breaks: is missing"),
    ("[[mutant]]\nfile = 'x.c'\n", "mutant[0].breaks: is missing"),
    ("[[mutant]]\nname = 'A b'\nfile = 'x.c'\nfind = 'a'\nreplace = 'b'\nbreaks = 1\n", "mutant[0].name: lower-case"),
    ("[[mutant]]\nname = 'a'\nfile = '../x.c'\nfind = 'a'\nreplace = 'b'\nbreaks = 1\n", "mutant[0] (a).file: a file name"),
    ("[[mutant]]\nname = 'a'\nfile = 'x.c'\nfind = ''\nreplace = 'b'\nbreaks = 1\n", "mutant[0] (a).find: must not be empty"),
    ("[[mutant]]\nname = 'a'\nfile = 'x.c'\nfind = 'b'\nreplace = 'b'\nbreaks = 1\n", "the mutant changes nothing"),
    ("[[mutant]]\nname = 'a'\nfile = 'x.c'\nfind = 'a'\nreplace = 'b'\nbreaks = 0\n", "mutant[0] (a).breaks: the number"),
    ("[[mutant]]\nname = 'a'\nfile = 'x.c'\nfind = 'a'\nreplace = 'b'\nbreaks = 1\nvariant = 3\n", "(a).variant"),
    ("[[mutant]]\nname = 'a'\nfile = 'x.c'\nfind = 'a'\nreplace = 'b'\nbreaks = 1\nbrakes = 1\n", "(a).brakes: unknown key"),
    ("[[mutant]]\nname = 'a'\nfile = 'x.c'\nfind = 'a'\nreplace = 'b'\nbreaks = 1\n"
     "[[mutant]]\nname = 'a'\nfile = 'x.c'\nfind = 'a'\nreplace = 'c'\nbreaks = 1\n", "two mutants have this name"),
    ("[excused]\n'ok: x' = 'why'\n", "not the \"ok:\" itself"),
    ("[excused]\n'x' = ''\n", "give the reason"),
])
def test_a_bad_spec_names_file_and_key(text, message):
    with pytest.raises(labspec.LabSpecError) as e:
        labspec.parse(text, "99-x", Path("labs/99-x/lab.toml"))
    assert str(e.value).startswith("labs/99-x/lab.toml: ")
    assert message in str(e.value)


def test_a_mutant_file_must_exist_in_the_lab_folder(tmp_path):
    (tmp_path / "x.c").write_text("int a;\n")
    text = "[[mutant]]\nname = 'a'\nfile = 'y.c'\nfind = 'a'\nreplace = 'b'\nbreaks = 1\n"
    with pytest.raises(labspec.LabSpecError, match=r"mutant\[0\] \(a\)\.file: y\.c is not a file of"):
        labspec.parse(text, "99-x", tmp_path / "lab.toml", tmp_path)
    labspec.parse(text.replace("y.c", "x.c"), "99-x", tmp_path / "lab.toml", tmp_path)


# ---- parameters -----------------------------------------------------------------

def test_draw_is_deterministic_and_respects_ranges_and_exclusions():
    s = labspec.parse(GOOD)
    draws = [labspec.draw(s, random.Random(seed)) for seed in range(300)]
    assert draws == [labspec.draw(s, random.Random(seed)) for seed in range(300)]
    for d in draws:
        assert list(d) == ["mode", "offset", "pages"]             # name order: file order does not matter
        assert 1 <= d["pages"] <= 6 and d["offset"] in (0, 1, 3) and d["mode"] in ("read", "write")
        assert (d["pages"], d["offset"]) != (1, 3)
    assert len({tuple(d.values()) for d in draws}) > 20           # and they do vary
    assert {d["pages"] for d in draws} == set(range(1, 7))


def test_draw_does_not_depend_on_the_order_of_the_file():
    a = labspec.parse("[params]\na = { min = 1, max = 9 }\nb = { choices = [1, 2] }\n")
    b = labspec.parse("[params]\nb = { choices = [1, 2] }\na = { min = 1, max = 9 }\n")
    assert labspec.draw(a, random.Random(7)) == labspec.draw(b, random.Random(7))


def test_draw_fails_when_everything_is_excluded():
    s = labspec.parse("exclude = [ { p = 1 } ]\n[params]\np = { choices = [1] }\n")
    with pytest.raises(labspec.LabSpecError, match="exclude: 1000 draws in a row were excluded"):
        labspec.draw(s, random.Random(1))
    assert labspec.draw(labspec.parse(""), random.Random(1)) == {}


def test_args_for():
    assert labspec.args_for({"offset-pages": 1, "mode": "read"}) == ["--offset-pages=1", "--mode=read"]
    assert labspec.args_for({}) == []


# ---- signatures: reading strace's output --------------------------------------------

# What strace -f --pidns-translation writes around a sandboxed run: bwrap (100),
# the supervisor (102), the program (103), a thread (104) and a child (105).
CANNED = r'''100 execve("/usr/bin/bwrap", ["bwrap", "--unshare-pid"], 0x7ffd /* 4 vars */) = 0
100 clone(child_stack=NULL, flags=CLONE_NEWNS|CLONE_NEWPID|SIGCHLD) = 101
101 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f00) = 2 /* 102 in strace's PID NS */
102 execve("/usr/bin/python3", ["/usr/bin/python3", "-I", "-S", "/sandbox/runner.py"], 0x55 /* 5 vars */) = 0
102 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000
102 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f00) = 3 /* 103 in strace's PID NS */
103 ftruncate(5, 4096)                = 0
103 execve("/b/lab", ["/b/lab"], 0x7ffe /* 5 vars */) = 0
103 mmap(NULL, 0, PROT_READ, MAP_SHARED, 3, 0) = -1 EINVAL (Invalid argument)
103 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 99, 0) = -1 EBADF (Bad file descriptor)
103 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0, stack=0x7f00, stack_size=0x7fff00}, 88) = 4 /* 104 in strace's PID NS */
103 vfork( <unfinished ...>
105 execve("/b/helper", ["helper", ") = 0\n103 ftruncate(3, 0) = 0 MAP_SHARED"], 0x1 /* 1 var */ <unfinished ...>
103 <... vfork resumed>)              = 5 /* 105 in strace's PID NS */
105 <... execve resumed>)             = 0
105 mmap(0x7f0000002000, 4096, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, 3, 0) = 0x7f0000002000
105 --- SIGBUS {si_signo=SIGBUS, si_code=BUS_ADRERR, si_addr=0x7f0000002000} ---
104 munmap(0x7f0000002000, 4096)      = 0
105 +++ exited with 0 +++
102 execve("/usr/bin/ipcrm", ["ipcrm", "-m", "7"], 0x55 /* 5 vars */) = 0
102 shmctl(7, IPC_RMID, NULL)         = 0
102 ftruncate(3, 0)                   = 0
'''


def sig(*calls, ordered=False):
    return labspec.Signature([labspec.Call(c.split()[0], c.split()[1:], c) for c in calls], ordered)


def test_the_trace_is_read_across_unfinished_calls():
    evs = signature.parse(CANNED)
    vfork = next(e for e in evs if e.name == "vfork")
    assert (vfork.pid, vfork.child, vfork.ok) == (103, 105, True)      # the pid as strace sees it
    helper = next(e for e in evs if e.path == "/b/helper")
    assert helper.ok and "ftruncate" not in helper.tokens                # strings are not arguments
    assert [e.name for e in evs if e.pid == 105] == ["execve", "mmap"]   # signals and exits skipped
    assert next(e for e in evs if e.errno == "EBADF").ok is False


def test_only_the_program_and_its_descendants_count():
    s = sig("mmap MAP_SHARED !MAP_ANONYMOUS", "munmap", "fork", "mmap =EINVAL")
    assert signature.check(CANNED, s, program="/b/lab") == (True, [])
    # the supervisor's ftruncate/shmctl and the program's own pre-exec ftruncate are not the program's
    ok, missing = signature.check(CANNED, sig("ftruncate", "shmctl IPC_RMID"), program="/b/lab")
    assert not ok and missing == ["no ftruncate call", "no shmctl call with IPC_RMID"]
    # without a program, everything in the trace counts
    assert signature.check(CANNED, sig("ftruncate", "shmctl IPC_RMID")) == (True, [])


def test_a_call_counts_only_when_it_succeeded_and_holds_every_word():
    mine = signature.program_events(signature.parse(CANNED), "/b/lab")
    assert [e.name for e in mine] == ["execve", "mmap", "mmap", "clone3", "vfork", "execve", "mmap", "munmap"]
    _, missing = signature.check(CANNED, sig("mmap MAP_SHARED MAP_ANONYMOUS", "mmap PROT_EXEC", "mmap =ENOMEM",
                                             "execve MAP_SHARED", "msync"), program="/b/lab")
    assert missing == ["no mmap call with MAP_SHARED and MAP_ANONYMOUS", "no mmap call with PROT_EXEC",
                       "no mmap call that failed with ENOMEM", "no execve call with MAP_SHARED", "no msync call"]
    # the supervisor's anonymous MAP_SHARED mapping is no file mapping of the program's
    assert signature.check(CANNED, sig("mmap MAP_SHARED !MAP_FIXED"), program="/b/lab") == \
        (False, ["no mmap call with MAP_SHARED and without MAP_FIXED"])


def test_a_thread_is_not_a_fork():
    threads_only = "\n".join(l for l in CANNED.splitlines() if "vfork" not in l)
    assert signature.check(threads_only, sig("fork"), program="/b/lab") == \
        (False, ["no fork (clone/fork/vfork of a process) call"])


def test_ordered_calls():
    assert signature.check(CANNED, sig("mmap =EINVAL", "fork", "mmap MAP_SHARED", "munmap", ordered=True),
                           program="/b/lab") == (True, [])
    ok, missing = signature.check(CANNED, sig("munmap", "mmap MAP_FIXED", ordered=True), program="/b/lab")
    assert not ok and missing[0].startswith("no mmap call with MAP_FIXED after the munmap call (the calls must come")


def test_a_trace_without_the_program_is_a_grader_error():
    with pytest.raises(signature.TraceError, match="no successful execve of /b/other"):
        signature.check(CANNED, sig("mmap"), program="/b/other")
    with pytest.raises(signature.TraceError, match="the trace is empty"):
        signature.check("", sig("mmap"), program="/b/lab")


def test_an_unreadable_exec_path_is_the_program():
    """A non-root tracer cannot read the execve arguments of a process that is
    not dumpable (the supervisor's child before its exec): the first such
    execve is the program's."""
    text = CANNED.replace('103 execve("/b/lab", ["/b/lab"], 0x7ffe /* 5 vars */) = 0',
                          '103 execve(0x7f12, 0x7f34, 0x7ffe) = 0')
    assert signature.check(text, sig("mmap MAP_SHARED", "fork"), program="/b/lab") == (True, [])


def test_traced_argv():
    argv = signature.traced_argv(["bwrap", "--", "/b/lab", "--x=1"], sig("mmap MAP_SHARED", "fork", "shmctl"),
                                 "/grader/t.txt", strace="/usr/bin/strace", pidns=[])
    i = argv.index("--")
    assert argv[i + 1:] == ["bwrap", "--", "/b/lab", "--x=1"]
    assert argv[:2] == ["/usr/bin/strace", "-f"] and "--pidns-translation" in argv
    assert argv[argv.index("-o") + 1] == "/grader/t.txt"
    traced = set(next(a for a in argv if a.startswith("trace="))[len("trace="):].split(","))
    assert {"mmap", "?mmap2", "shmctl", "clone", "?clone3", "?vfork", "execve"} <= traced
    prefix = ["/usr/bin/unshare", *signature.OWN_PIDNS]
    assert signature.traced_argv(["/b/lab"], [], "/t", strace="/s", pidns=prefix)[:len(prefix) + 2] == [*prefix, "/s", "-f"]


needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)")


@needs_strace
def test_a_real_run_of_lab_09_has_its_signature(tmp_path):
    prog = LAB09.program_path(labs.build_dir())
    if not prog.exists():
        pytest.skip(f"{prog} is not built")
    spec = labspec.load(LAB09)
    assert spec.signature.calls, "lab 09's lab.toml declares a signature"
    out = tmp_path / "trace.txt"
    work = tmp_path / "work"
    work.mkdir()
    p = subprocess.run(signature.traced_argv([prog], spec.signature.calls, out), cwd=work,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=runner.seconds(60))
    assert p.returncode == 0, p.stderr.decode()
    assert signature.check(out.read_text(), spec, program=prog) == (True, [])
    # /bin/true under the same tracer has none of it
    p = subprocess.run(signature.traced_argv(["/bin/true"], spec.signature.calls, out), timeout=runner.seconds(60))
    ok, missing = signature.check(out.read_text(), spec, program="/bin/true")
    assert not ok and "no ftruncate call" in missing and "no mmap call with MAP_SHARED and without MAP_ANONYMOUS" in missing


def _traced_python(code, out):
    """Python running code under the grader's strace (no call of a signature),
    the trace in out; it must succeed."""
    p = subprocess.run(signature.traced_argv([sys.executable, "-c", code], [], out),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=runner.seconds(60))
    assert p.returncode == 0, p.stderr
    return p


# A forked child that makes 2000 system calls, none of them traced, then says
# how often it was switched out of its own accord.
FORKED_CHILD = r"""
import os
pid = os.fork()
if pid == 0:
    for _ in range(2000):
        os.getppid()
    with open("/proc/self/status") as f:
        print(next(l.split()[1] for l in f if l.startswith("voluntary_ctxt_switches")), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@needs_strace
def test_a_traced_programs_child_is_not_stopped_at_each_call(tmp_path):
    """strace --seccomp-bpf stops a process it has just seen created at every
    system call until its first traced one (signature.EARLY_CALLS): the child
    of fork() makes one (set_robust_list) at once, so its 2000 untraced calls
    run without stopping.  Without it: more than 4000 switches (a stop at the
    entry and the exit of each call)."""
    p = _traced_python(FORKED_CHILD, tmp_path / "trace.txt")
    assert int(p.stdout) < 200, p.stdout


# A program whose forked child makes a traced call (umask, one of EARLY_CALLS).
CHILD_CALLS = r"""
import os
print(os.getpid(), os.readlink("/proc/self/ns/pid"), flush=True)
pid = os.fork()
if pid == 0:
    os.umask(0o27)
    os._exit(0)
os.waitpid(pid, 0)
"""


@needs_strace
def test_as_root_strace_has_a_pid_namespace_of_its_own(tmp_path):
    """As root strace starts in a PID namespace of its own (signature.own_pidns:
    its pid translation then reads a handful of /proc entries, not the host's):
    the program's PID namespace is not ours, and the trace names it by the
    pid it has there (strace shares it).  The forked child is still found as
    the program's (clone's return value translated).  As an ordinary user
    there is no such prefix: our namespace, our pids."""
    out = tmp_path / "trace.txt"
    p = _traced_python(CHILD_CALLS, out)
    pid, ns = p.stdout.split()
    events = signature.parse(out.read_text())
    first = events[0].pid
    assert first == int(pid), (p.stdout, out.read_text()[:500])
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare and subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "/bin/true"]).returncode == 0:
        assert signature.own_pidns() == [unshare, *signature.OWN_PIDNS]
        assert ns != os.readlink("/proc/self/ns/pid")
    else:                      # an ordinary user, or a container that refuses it to root
        assert signature.own_pidns() == [] and ns == os.readlink("/proc/self/ns/pid")
    mine = signature.program_events(events, sys.executable)
    assert [e.pid for e in mine if e.name == "umask"] and all(e.pid != first for e in mine if e.name == "umask"), \
        out.read_text()[:2000]


def test_trustworthy_levels():
    assert signature.trustworthy("bwrap", 1000)[0] and signature.trustworthy("rlimits", 0)[0]
    assert signature.trustworthy("unshare", 0)[0]
    assert not signature.trustworthy("rlimits", 1000)[0] and not signature.trustworthy("unshare", 1000)[0]


# ---- make mutants ----------------------------------------------------------------------

def test_the_worked_examples_apply_to_their_sources():
    """Every mutant of labs 09 and 10 finds its text exactly once (a cheap guard
    against a source edit that silently retires a mutant)."""
    for n in (9, 10):
        lab = labs.get(n)
        spec = labspec.load(lab)
        assert spec.exists and spec.mutants
        for m in spec.mutants:
            assert (lab.folder / m.file).read_text().count(m.find) == 1, f"{lab.slug}: mutant {m.name}"


def small_tree(tmp_path, toml):
    """A tree with the Makefile, labs/common, lab 09 (with this lab.toml) and its transcript."""
    root = tmp_path / "tree"
    (root / "labs").mkdir(parents=True)
    shutil.copy2(ROOT / "Makefile", root)
    shutil.copy2(ROOT / "labs" / "labs.mk", root / "labs")
    shutil.copytree(ROOT / "labs" / "common", root / "labs" / "common")
    shutil.copytree(LAB09.folder, root / "labs" / LAB09.slug)
    (root / "labs" / LAB09.slug / "lab.toml").write_text(toml)
    (root / "expected").mkdir()
    for t in LAB09.transcripts():
        shutil.copy2(t, root / "expected")
    return root


def ok_lines(lab):
    """How many different ok: lines the lab's transcripts hold (counted here, not by mutants.py)."""
    return len({text for v in mmaplabs.variants(lab)
                for text in re.findall(r"^\s*ok: (.*)$", mmaplabs.normalise(v.body), re.M)})


def run_mutants(root, tmp_path, *args):
    lines = []
    rc = mutants.main(["--root", str(root), "--out", str(tmp_path / "out"), *args], log=lines.append)
    return rc, "\n".join(lines)


@pytest.mark.long
def test_mutants_end_to_end_on_lab_09(tmp_path):
    """mutants.py on a copy of lab 09 with a lab.toml that has one good mutant,
    one that survives, one that does not apply and one that does not compile,
    an excuse and a stale excuse.  (The real lab.toml of labs 09 and 10 runs in
    `make mutants`; above, its mutants are only checked to apply.)"""
    toml = '''
[[mutant]]
name = "no-shrink"
file = "sigbus-eof.c"
find = "if (ftruncate(fd, 0) == -1)"
replace = "if (0)"
breaks = 4

[[mutant]]
name = "comment-only"
file = "sigbus-eof.c"
find = "sigbus-eof - what happens"
replace = "sigbus-eof: what happens"
breaks = 2

[[mutant]]
name = "not-there"
file = "sigbus-eof.c"
find = "no such text in the lab"
replace = "x"
breaks = 1

[[mutant]]
name = "no-compile"
file = "sigbus-eof.c"
find = "if (ftruncate(fd, 0) == -1)"
replace = "if (ftruncate(fd, 0) == -1"
breaks = 4

[excused]
"a length of 0 is EINVAL" = "a kernel refusal"
"no ok: line starts like this" = "stale"
'''
    root = small_tree(tmp_path, toml)
    rc, out = run_mutants(root, tmp_path, "--lab", "09")
    assert rc == 1
    assert "KILLED    no-shrink" in out and "NOT OK: SIGBUS is back" in out
    assert "SURVIVED  comment-only  step 2 is as expected" in out
    assert "BROKEN    not-there" in out and "`find` occurs 0 times in sigbus-eof.c" in out
    assert "BROKEN    no-compile    does not compile" in out
    assert "UNCOVERED ok: the write works and read() of the file sees 'A'" in out
    assert "UNCOVERED ok: a length of 0" not in out                       # excused
    assert "'no ok: line starts like this' matches no ok: line" in out
    n = ok_lines(LAB09)
    assert n >= 3
    assert f"coverage: {n} ok: lines, 1 covered, 1 excused, {n - 2} uncovered" in out
    assert (tmp_path / "out" / LAB09.slug / "no-shrink" / "build" / LAB09.slug / LAB09.entry).exists()


def test_a_lab_without_lab_toml_fails_and_is_named(tmp_path):
    root = small_tree(tmp_path, "")
    (root / "labs" / LAB09.slug / "lab.toml").unlink()
    rc, out = run_mutants(root, tmp_path, "--lab", "9")
    assert rc == 1
    assert f"09-sigbus-eof: no lab.toml: no mutants: {ok_lines(LAB09)} ok: lines uncovered" in out
    assert "labs with no lab.toml (1; their owners must add one" in out


def test_list(tmp_path):
    lines = []
    assert mutants.main(["--list", "--lab", "10"], log=lines.append) == 0
    assert lines[0].startswith("10-page-boundary: ") and any("private-mapping" in l for l in lines)
