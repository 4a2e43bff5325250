"""Tests of the harness itself: it must catch what is wrong and hide nothing real."""
import os
import re
import subprocess
import sys
import time

import pytest

import labs
import mmaplabs
import runner
from mmaplabs import normalise


# ---- the normaliser --------------------------------------------------------

def test_normaliser_hides_only_marked_values():
    assert normalise("at {addr=0x7ffd1234}\n") == "at {addr}\n"
    assert normalise("pid {pid=1} and {pid=99999}") == "pid {pid} and {pid}"


@pytest.mark.parametrize("a, b", [
    ("value 1\n", "value 2\n"),                    # plain numbers are compared
    ("addr=0x1\n", "addr=0x2\n"),                  # no braces, no normalisation
    ("{addr=0x1}\n", "{pid=0x1}\n"),               # the name itself is compared
    ("{addr=0x1} ok\n", "{addr=0x1} NOT OK\n"),    # text around a token is compared
    ("{Addr=1}\n", "{Addr=2}\n"),                  # names are lower case only
    ("{addr=1\n2}\n", "{addr=3\n4}\n"),            # a token never spans lines
    ("ok: x\n", "ok: x \n"),                       # trailing space counts
    ("[1] a\n", "[2] a\n"),                        # step numbers count
])
def test_normaliser_keeps_real_differences(a, b):
    assert normalise(a) != normalise(b)


# ---- transcripts -----------------------------------------------------------

def test_malformed_transcript_is_explained():
    lab, lab10 = labs.get(9), labs.get(10)
    with pytest.raises(mmaplabs.TranscriptError, match="first line must be the command"):
        mmaplabs.parse_transcript(lab, "# Lab 09: no command line\n")
    with pytest.raises(mmaplabs.TranscriptError, match="must run 'sigbus-eof'"):
        mmaplabs.parse_transcript(lab, "$ cat /etc/passwd\nx\n")
    with pytest.raises(mmaplabs.TranscriptError, match="cannot read the command"):
        mmaplabs.parse_transcript(lab, "$ sigbus-eof 'unclosed\nx\n")
    args, body = mmaplabs.parse_transcript(lab10, "$ page-boundary --offset-pages=1\nbody\n")
    assert args == ["--offset-pages=1"] and body == "body\n"


def a_lab_variant():
    for lab in labs.all_labs():
        for v in mmaplabs.variants(lab):
            return v
    pytest.skip("no lab yet")


def test_wrong_transcript_fails_with_a_diff(tmp_path):
    """A deliberately wrong expected transcript must fail, naming the step."""
    v = a_lab_variant()
    lines = v.body.splitlines(True)
    i = next(n for n, l in enumerate(lines) if l.startswith("    ok: "))
    lines[i] = lines[i].replace("ok: ", "ok: (tampered) ", 1)
    wrong = mmaplabs.Variant(v.lab, v.name, tmp_path / "wrong.txt", v.args, "".join(lines))
    report = mmaplabs.compare(wrong, mmaplabs.run_variant(wrong))
    assert report is not None
    assert "-    ok: (tampered)" in report and "+    ok: " in report
    assert "first at step" in report and "reproduce: make lab-" in report


def test_right_transcript_passes_through_the_plain_runner():
    v = a_lab_variant()
    r = mmaplabs.run_variant(v)
    assert r.level == "plain" and isinstance(r, runner.Run)
    assert mmaplabs.compare(v, r) is None


def test_the_labs_run_where_make_lab_runs_them(fs_type_of):
    """The tests' own folders may be in memory (conftest.py); lab 12 still
    finds its work directory in memory only where the TMPDIR the tests were
    started with is (`make lab-12` runs it there): a lab run in the tests'
    /dev/shm folder would show labs 11 and 12 without a disk."""
    base = os.environ.get("MMAPLAB_TEST_TMPBASE")
    if not base:
        pytest.skip("not started by this suite's conftest.py")
    (v,) = [v for v in mmaplabs.variants(labs.get(12)) if not v.args]
    r = mmaplabs.run_variant(v)
    assert mmaplabs.compare(v, r) is None
    said = re.search(r"\{fs=([^}]*)\}", r.stdout).group(1)
    assert (said == "tmpfs") == (fs_type_of(base) == "tmpfs"), f"{base} is on {fs_type_of(base)}:\n{r.stdout}"


def test_missing_step_is_reported():
    v = a_lab_variant()
    parts = mmaplabs.steps(v.body)
    shorter = "".join(t for n, t in parts if n != 2)
    wrong = mmaplabs.Variant(v.lab, v.name, v.path, v.args, shorter)
    report = mmaplabs.compare(wrong, mmaplabs.run_variant(wrong))
    assert report and "first at step 2" in report


# ---- the run token ----------------------------------------------------------

def test_run_token_protocol():
    for _ in range(200):
        t = runner.new_run_token()
        assert re.fullmatch(r"r[0-9a-f]{4}", t)
        assert 1 <= runner.run_token_key(t) <= 0x7FFF and runner.run_token_key(t) == int(t[1:], 16)
    for bad in ("r0000", "r8000", "rffff", "rABCD", "r123", "r12345", "x1234", "", None, "rother"):
        with pytest.raises(ValueError):
            runner.run_token_key(bad)


PROBE_C = r"""
#include "names.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Make a /dev/shm name and a System V segment the way the labs do, then
 * leave without cleaning up: the runner must find both by the run token. */
int main(void)
{
	char name[128];
	unique_shm_name("probe", name, sizeof name);
	int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
	key_t key;
	int id = sysv_create((size_t)sysconf(_SC_PAGESIZE), 0600, &key);
	printf("%s %d %d\n", name, fd, id);
	fflush(stdout);
	_exit(0);
}
"""


def test_the_labs_leftovers_carry_the_token(tmp_path):
    """labs/common's names and keys follow the protocol: the plain runner finds a
    killed lab's /dev/shm name and System V segment by its token alone."""
    objs = labs.common_objects(labs.build_dir())
    if not all(o.exists() for o in objs):
        pytest.skip("labs/common is not built: run 'make all'")
    (tmp_path / "probe.c").write_text(PROBE_C)
    cc = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", f"-I{labs.ROOT / 'labs' / 'common'}", "-o",
                         str(tmp_path / "probe"), str(tmp_path / "probe.c"), *map(str, objs), "-lpthread", "-lrt"],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    r = plain([str(tmp_path / "probe")])
    name, fd, shmid = r.stdout.split()
    assert name.startswith("/mmaplab-r") and int(fd) >= 0
    assert f"/dev/shm{name} left behind (removed; the lab forgot shm_unlink)" in r.leftovers
    assert f"System V segment {shmid} left behind (removed; the lab forgot IPC_RMID)" in r.leftovers
    assert not os.path.exists("/dev/shm" + name)
    assert shmid not in [l.split()[1] for l in open("/proc/sysvipc/shm").readlines()[1:]]


def test_labs_get_the_token():
    r = plain(["sh", "-c", 'echo "$MMAPLAB_RUN"'])
    assert re.fullmatch(r"r[0-9a-f]{4}\n", r.stdout) and r.leftovers == []


# ---- running ---------------------------------------------------------------

def plain(argv, timeout=None):
    return runner.run(argv, timeout or runner.seconds(10), level="plain")


SHMGET = ('import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); '
          'k = int(os.environ["MMAPLAB_RUN"][1:], 16); '
          'key = {key}; ps = os.sysconf("SC_PAGE_SIZE"); '
          'assert libc.shmget(ctypes.c_int(key), ctypes.c_size_t(ps), 0o1600) != -1, os.strerror(ctypes.get_errno())')


def long_sleep():
    """A sleep (in the programs the runner must stop) that outlasts any limit the test sets."""
    return "%d" % runner.seconds(30)


def test_timeout_kills_the_whole_process_group(tmp_path):
    started, marker = tmp_path / "grandchild-started", tmp_path / "grandchild-alive"
    script = f"(touch {started}; sleep {long_sleep()}; touch {marker}) & sleep {long_sleep()}"
    start = time.monotonic()
    # A short limit: the grandchild is up within milliseconds (20 process starts
    # take PROBE_SECONDS), and `started` proves it was there to be killed.
    r = plain(["sh", "-c", script], timeout=runner.seconds(0.3))
    assert r.timed_out and time.monotonic() - start < runner.seconds(10)
    assert started.exists(), "the grandchild never started: the limit is too short to test anything"
    assert not marker.exists()
    out = subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True, text=True).stdout
    assert out == "", "a grandchild survived the timeout"


def test_leftovers_are_reported_and_removed(alone):
    # alone (conftest): the IPC_PRIVATE segment carries no token; a plain run
    # beside this one would take it for its own.
    script = ('touch leftover.dat; : > "/dev/shm/mmaplab-$MMAPLAB_RUN-1-x"; '
              f'{sys.executable} -c \'{SHMGET.format(key="0")}\'')
    r = plain(["sh", "-c", script])
    assert r.returncode == 0, r.stderr
    assert any("leftover.dat" in l for l in r.leftovers)
    assert any("/dev/shm/mmaplab-r" in l for l in r.leftovers)
    assert not [n for n in os.listdir("/dev/shm") if n.endswith("-1-x")]
    assert any("System V segment" in l for l in r.leftovers), "an orphaned IPC_PRIVATE segment"


def _segments():
    """{shmid: (key as unsigned, cuid, cpid)} of the System V segments now."""
    out = {}
    for line in open("/proc/sysvipc/shm").readlines()[1:]:
        f = line.split()
        out[int(f[1])] = (int(f[0]) & 0xFFFFFFFF, int(f[9]), int(f[4]))
    return out


def _rmid(shmid):
    subprocess.run(["ipcrm", "-m", str(shmid)], stderr=subprocess.DEVNULL)


def test_sysv_keys_are_attributed_by_the_token():
    """A segment keyed with the run's K is its leftover; one keyed with another run's K is not.
    The other K is a token this test holds, so no run beside it has it (or takes the
    segment for its own), and the segment goes in any case, even when an assert fails."""
    other = runner._Token()
    k2 = runner.run_token_key(other.value)
    theirs_key = (k2 << 16) | 0x1234
    ours = SHMGET.format(key="(k << 16) | 0x1234")
    theirs = SHMGET.format(key=hex(theirs_key))
    try:
        r = plain([sys.executable, "-c", f"{ours}\n{theirs}"])
        assert r.returncode == 0, r.stderr
        assert len([l for l in r.leftovers if "System V segment" in l]) == 1, r.leftovers
        assert [key for key, _, _ in _segments().values() if key == theirs_key], \
            "the other run's segment must be left alone"
    finally:
        for shmid, (key, _, _) in _segments().items():
            if key == theirs_key:
                _rmid(shmid)
        other.release()


SANDBOXED_SEGMENT = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
shmid = libc.shmget(0, ctypes.c_size_t(os.sysconf("SC_PAGE_SIZE")), 0o1600)
assert shmid != -1, os.strerror(ctypes.get_errno())
with open("ready", "w") as f:
    f.write(str(shmid))
open("go").read()
"""


def test_rlimits_sweep_takes_only_the_students_objects(tmp_path):
    """At the rlimits level the host's System V objects and /dev/shm are visible:
    the sweep removes the program's own segment and leaves alone what others
    made meanwhile: (as root) another uid's; a segment and a /dev/shm name marked
    with another live run's token, and a private segment whose creator still
    runs (an ordinary user's sandbox shares that user's uid with its plain runs)."""
    import ctypes
    import select
    import threading
    os.chmod(tmp_path, 0o755)
    for fifo in ("ready", "go"):
        os.mkfifo(tmp_path / fifo)
        os.chmod(tmp_path / fifo, 0o666)
    libc = ctypes.CDLL(None, use_errno=True)
    page = ctypes.c_size_t(os.sysconf("SC_PAGE_SIZE"))
    other = runner._Token()
    other_name = f"/dev/shm/mmaplab-{other.value}-{os.getpid()}-sweep"
    mine = []
    result = {}

    def sandboxed():
        result["r"] = runner.run([sys.executable, "-c", SANDBOXED_SEGMENT], runner.seconds(10), level="rlimits",
                                 workdir=tmp_path, limits=runner.Limits(address_space=0), check_workdir=False)
    t = threading.Thread(target=sandboxed)
    t.start()
    go = None
    try:
        ready = os.open(tmp_path / "ready", os.O_RDONLY | os.O_NONBLOCK)
        try:
            readable, _, _ = select.select([ready], [], [], runner.seconds(10))
            students = int(os.read(ready, 64) or b"-1") if readable else -1
        finally:
            os.close(ready)
        assert students >= 0, "the sandboxed program did not make its segment"
        for key in ((runner.run_token_key(other.value) << 16) | 0x4321, 0):    # another run's; private
            shmid = libc.shmget(key, page, 0o1600)
            assert shmid != -1, os.strerror(ctypes.get_errno())
            mine.append(shmid)
        open(other_name, "w").close()
        end = time.monotonic() + runner.seconds(10)
        while go is None and time.monotonic() < end:          # the program opens it right after "ready"
            try:
                go = os.open(tmp_path / "go", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.005)
        assert go is not None, "the sandboxed program never waited for its go"
    finally:
        if go is not None:
            os.close(go)
        t.join()
        left = _segments()
        name_left = os.path.exists(other_name)
        for shmid in mine:
            _rmid(shmid)
        if name_left:
            os.unlink(other_name)
        other.release()
    r = result["r"]
    assert r.returncode == 0 and not r.timed_out, r.stderr
    assert r.leftovers == [f"System V segment {students} left behind (removed; the lab forgot IPC_RMID)"], \
        r.leftovers
    assert students not in left
    assert all(shmid in left for shmid in mine), "the sweep removed a segment that was not the program's"
    assert name_left, "the sweep removed another run's /dev/shm name"


def test_other_runs_objects_are_not_touched():
    """Objects of other runs (other tokens, live owners) are neither reported nor removed."""
    other = f"/dev/shm/mmaplab-rother-{os.getpid()}-x"
    open(other, "w").close()
    try:
        r = plain(["true"])
        assert r.leftovers == [] and os.path.exists(other)
    finally:
        os.unlink(other)


def test_stray_background_process_is_reported():
    r = plain(["sh", "-c", f"sleep {long_sleep()} & exit 0"])
    assert any("still running after the program ended" in l for l in r.leftovers)


FLOOD = "import sys\nfor _ in range(64): sys.stdout.write('x' * 65536)\nsys.stdout.flush()\nprint('done', file=sys.stderr)"


def test_plain_level_drains_a_flood():
    """A trusted lab that prints too much runs to its end (Policy.past_cap "drain")."""
    r = plain([sys.executable, "-c", FLOOD])
    assert r.returncode == 0 and r.output_limited and "done" in r.stderr
    assert len(r.stdout) < 2 * runner.OUTPUT_LIMIT and "more bytes of output not kept" in r.stdout


def test_sandbox_closes_a_flood(tmp_path):
    """Untrusted code is cut at the cap (Policy.past_cap "close"): SIGPIPE."""
    os.chmod(tmp_path, 0o755)
    r = runner.run([sys.executable, "-c", FLOOD], runner.seconds(10), level="rlimits", workdir=tmp_path,
                   limits=runner.Limits(address_space=0))
    assert r.output_limited and r.returncode != 0 and "done" not in r.stderr
    assert len(r.stdout) == runner.OUTPUT_LIMIT


def test_killpg_policy():
    """One process-group kill; what EPERM means is the policy's."""
    assert runner.PLAIN.eperm == "alive" and runner.SANDBOXED.eperm == "foreign"
    p = subprocess.Popen(["sleep", long_sleep()], start_new_session=True)
    assert runner.killpg(p.pid, "foreign") is True
    p.wait()
    assert runner.killpg(p.pid, "alive") is False
    if os.geteuid() != 0:
        return            # EPERM needs a group of another user: made below as root
    p = subprocess.Popen(["sleep", long_sleep()], start_new_session=True)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:        # an unprivileged process facing root's group: EPERM
        try:
            os.setresgid(runner.SANDBOX_UID, runner.SANDBOX_UID, runner.SANDBOX_UID)
            os.setresuid(runner.SANDBOX_UID, runner.SANDBOX_UID, runner.SANDBOX_UID)
            os.write(w, b"%d%d" % (runner.killpg(p.pid, "alive"), runner.killpg(p.pid, "foreign")))
        finally:
            os._exit(0)
    os.close(w)
    answer = os.read(r, 8)
    os.waitpid(child, 0)
    os.close(r)
    assert p.poll() is None, "the unprivileged kill must not have worked"
    p.kill()
    p.wait()
    assert answer == b"10"


# ---- make --------------------------------------------------------------------

def make(*args):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=labs.ROOT,
                          capture_output=True, text=True)


def test_missing_lab_is_a_clear_error():
    r = make("lab-99")
    assert r.returncode != 0 and "no lab 99" in r.stderr
    r = make("lab-x")
    assert r.returncode != 0 and "labs are numbered" in r.stderr


def test_lab_number_with_and_without_leading_zero():
    n = "%02d" % labs.all_labs()[0].number
    a, b = make(f"lab-{int(n)}"), make(f"lab-{n}")
    assert a.returncode == 0 and b.returncode == 0
    assert normalise(a.stdout.split("# Lab", 1)[1]) == normalise(b.stdout.split("# Lab", 1)[1])


def test_help_lists_every_lab():
    out = make("help").stdout
    for lab in labs.all_labs():
        assert lab.slug in out and lab.title in out


def test_stale_run_groups_are_swept():
    """A run's control groups that close() could not remove (a member not yet
    reaped: a killed grader's orphans) go at the next grader's start once the
    run's maker is gone; a live maker's groups stay."""
    import cgroups
    s = cgroups.setup()
    bases = {b for _, b in s.ctl.values()} | ({s.v2} if s.v2 else set())
    if not bases:
        pytest.skip("no control groups here: " + "; ".join(s.why or ["none mounted"]))
    gone = subprocess.Popen(["true"])
    gone.wait()                                     # a pid no process has now
    stale, live = f"run-{gone.pid}-rtest-stale", f"run-{os.getpid()}-rtest-live"
    try:
        for b in bases:
            (b / stale).mkdir()
            (b / live).mkdir()
        for b in bases:
            cgroups._sweep(b)
        for b in bases:
            assert not (b / stale).exists(), b
            assert (b / live).exists(), b
    finally:
        for b in bases:
            for n in (stale, live):
                try:
                    os.rmdir(b / n)
                except OSError:
                    pass


def test_a_run_starts_inside_its_control_groups_or_not_at_all(tmp_path, monkeypatch):
    """As root: the sandboxed program is in its run's control groups from its
    first instruction (cgroups.Group.entering), and a group that cannot be
    entered is the grader's error, with the program never started."""
    import cgroups
    if os.geteuid() != 0 or not cgroups.setup().ctl:
        pytest.skip("control groups: root only, and mounted")
    r = runner.run(["/bin/cat", "/proc/self/cgroup"], runner.seconds(10), level="rlimits")
    assert r.returncode == 0 and not r.grader_error, r.stderr
    assert f"/run-{os.getpid()}-" in r.stdout, r.stdout
    folders = cgroups.Group._folders
    monkeypatch.setattr(cgroups.Group, "_folders", lambda self: [*folders(self), tmp_path / "no-such-group"])
    r = runner.run(["/bin/echo", "the program ran"], runner.seconds(10), level="rlimits")
    assert r.grader_error and "no-such-group/cgroup.procs" in r.grader_error, (r.grader_error, r.stderr)
    assert "the program ran" not in r.stdout


def test_the_supervisor_outranks_the_program_it_runs():
    """As root the supervisor runs at nice -20, so a program that keeps its
    run's CPUs busy (a fork bomb under the run's CPU quota) cannot hold back
    its own kill; the program runs at the grader's nice value, never the -20.
    As an ordinary user, or without CAP_SYS_NICE, both keep the grader's."""
    r = runner.run(["/bin/sh", "-c", "cat /proc/$$/stat /proc/$PPID/stat"], runner.seconds(10), level="rlimits")
    assert r.returncode == 0 and not r.grader_error, r.stderr
    # /proc/PID/stat: after the command name's ")", the 17th field is the nice value.
    program, supervisor = (int(line.rpartition(")")[2].split()[16]) for line in r.stdout.splitlines())
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    cap_sys_nice = 1 << 23
    caps = next(int(l.split()[1], 16) for l in open("/proc/self/status") if l.startswith("CapEff:"))
    assert program == mine, r.stdout
    assert supervisor == (-20 if os.geteuid() == 0 and caps & cap_sys_nice else mine), r.stdout
