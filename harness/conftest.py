"""pytest's setup for the harness: the --repeat option, the machine's slowness,
and how `make test` spreads the tests over CPUs (pytest-xdist, --dist loadgroup).

Parallel runs: a test that uses one of SHARED's fixtures (expensive, module
scoped: computed once per worker that needs it) is marked
xdist_group(<module>::<fixture>), so every test of that fixture runs in one
worker and the fixture is computed once.  Other module-scoped fixtures are
cheap enough to be made again in each worker that needs them.  The tests are
ordered longest first (the shared fixture's group, then the other tests with
module fixtures, which grade whole trees, and those marked `long`, then the
rest in collection order), so the longest chains start at once.  Without xdist
(`python3 -m pytest harness`) the marks do nothing and the order is the same.

Plain runs side by side: a plain run (runner.run level "plain") takes as its
own leftovers the IPC_PRIVATE System V segments that appeared while it ran,
unattached, whose creator is gone: such a segment carries no run token.  A
test that leaves one on purpose (the `alone` fixture) must not have another
plain run beside it, in this process or another worker (or another `make
test`): every plain run of the tests holds PLAIN_LOCK shared, a test using
`alone` holds it exclusively.
"""
import contextlib
import fcntl
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runner  # noqa: E402

# Fixtures whose tests must share one worker: {fixture name}.  test_grade's
# `batch` grades the hostile corpus once, in one grade-all run.  A test module
# may name more in XDIST_SHARED = {...}: each such fixture is a group of its own,
# so two expensive fixtures of one module run in two workers at once.
SHARED = {"batch"}


def pytest_addoption(parser):
    parser.addoption("--repeat", type=int, default=1,
                     help="run every lab N times; every run must match its transcript byte for byte")


# In the machine's temporary folder, not the session's: two `make test`s beside each other share it.
PLAIN_LOCK = Path(os.environ.get("MMAPLAB_TEST_TMPBASE") or tempfile.gettempdir()) / "mmaplab-pytest-plain-runs.lock"
_alone = False          # this process holds PLAIN_LOCK exclusively


@contextlib.contextmanager
def _plain_lock(mode):
    fd = os.open(PLAIN_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            os.fchmod(fd, 0o666)       # other users' test runs lock it too
        except OSError:
            pass
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def _shared_plain_runs(run):
    def plain_run(*args, level, **kw):
        if level != "plain" or _alone:
            return run(*args, level=level, **kw)
        with _plain_lock(fcntl.LOCK_SH):
            return run(*args, level=level, **kw)
    plain_run.__wrapped__ = run
    return plain_run


@pytest.fixture
def alone():
    """No other plain run of the tests, anywhere on the machine, while this test runs."""
    global _alone
    with _plain_lock(fcntl.LOCK_EX):
        _alone = True
        try:
            yield
        finally:
            _alone = False


# One temporary folder for the whole session (every xdist worker inherits it
# through TMPDIR), made before any run starts.  At the unshare and rlimits
# levels an ordinary user's sandbox shares that user's /tmp, and its sweep
# removes what appeared in /tmp while it ran: a plain run's work folder made
# by another worker at that moment would be swept away under it.  Inside this
# folder, which predates every sandbox, nothing a test makes is new in /tmp.
#
# It is in /dev/shm (a tmpfs) where this user may make folders there.  The
# tests make and remove about 5,000 files and folders; on an ext4 without a
# journal (this project's machines) each new inode is found by stepping over
# every one freed in the last half minute: 9-11 % of all the suite's CPU time
# went there (perf, whole runs, in the Python processes that made them) and
# 0.1 % with the folders in /dev/shm.  `make test` from fresh clones, 3 pairs
# alternated 40 s apart (with its parallel build): pytest 12.4-14.2 s against
# 14.4-17.0 s; in all 16.3-18.5 s and 27.1-31.0 CPU-s against 21.3-25.3 s and
# 30.3-36.2 CPU-s (the build alone: 5.1 s serially, 2.5 s on 2 CPUs).
# The labs' own runs stay on the disk (a second session folder there,
# MMAPLAB_LAB_TMPDIR: mmaplabs.run_variant): labs 11 and 12 show what a disk
# filesystem does, and `make lab-N` runs them in TMPDIR or /tmp too.
_session_tmps = []


def fs_type(path):
    """The type of the filesystem path is on, from /proc/self/mounts (the
    longest mount point that holds it, the last one mounted there), or None."""
    path, best, kind = os.path.realpath(path), "", None
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                mnt, typ = line.split()[1:3]
                mnt = mnt.replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, typ
    except OSError:
        return None
    return kind


@pytest.fixture
def fs_type_of():
    """fs_type, for the tests."""
    return fs_type


def _memory_tmp():
    """/dev/shm when it is a tmpfs this user may make folders in, else None."""
    ok = fs_type("/dev/shm") == "tmpfs" and os.access("/dev/shm", os.W_OK | os.X_OK)
    return "/dev/shm" if ok else None


def _private_tmpdir():
    if "MMAPLAB_TEST_TMPDIR" in os.environ:        # an xdist worker: the controller made it
        return
    os.environ["MMAPLAB_TEST_TMPBASE"] = tempfile.gettempdir()
    disk = tempfile.mkdtemp(prefix="mmaplab-tests.")
    _session_tmps.append(disk)
    memory = _memory_tmp()
    session = tempfile.mkdtemp(prefix="mmaplab-tests.", dir=memory) if memory else disk
    if session != disk:
        _session_tmps.append(session)
    for d in _session_tmps:
        os.chmod(d, 0o755)       # a sandbox's uid reaches the folders made in it
    os.environ["MMAPLAB_LAB_TMPDIR"] = disk
    os.environ["TMPDIR"] = os.environ["MMAPLAB_TEST_TMPDIR"] = session
    tempfile.tempdir = session


def pytest_unconfigure(config):
    import shutil
    for d in _session_tmps:
        shutil.rmtree(d, ignore_errors=True)
        # Python's byte code for the session's trees, where make test keeps
        # it (PYTHONPYCACHEPREFIX=build/pycache): 1.4 MB more after every run.
        if sys.pycache_prefix:
            shutil.rmtree(os.path.join(sys.pycache_prefix, os.path.abspath(d).lstrip("/")), ignore_errors=True)


def _terminated(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # Killed by SIGTERM or SIGHUP, each pytest process stops as at Ctrl-C: its
    # fixtures end their graders and pytest_unconfigure removes the session's
    # folders (in /dev/shm they would hold memory until the machine restarts).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _terminated)
    _private_tmpdir()
    if _session_tmps and config.option.basetemp is None:
        # pytest's default folder would be in the session's (TMPDIR), which
        # pytest_unconfigure removes before pytest's own clean-up at exit
        # looks for it (a FileNotFoundError traceback after the results).
        config.option.basetemp = os.path.join(os.environ["MMAPLAB_TEST_TMPDIR"], "pytest")
    config.addinivalue_line("markers", "xdist_group(name): tests that must run in the same xdist worker")
    config.addinivalue_line("markers", "long: a test that takes seconds (it is started early)")
    if not hasattr(runner.run, "__wrapped__"):
        runner.run = _shared_plain_runs(runner.run)
    # Measured once per session, before any test and before xdist starts its
    # workers: they inherit MMAPLABS_SLOWNESS and reuse it (runner.slowness).
    runner.slowness()


def pytest_report_header(config):
    return f"machine slowness: {runner.slowness():.2f} (runner.seconds scales every wait by it)"


def _module_fixtures(item):
    """Names of the module-scoped fixtures the test uses."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    out = set()
    for name, defs in info.name2fixturedefs.items():
        if defs and defs[-1].scope == "module":
            out.add(name)
    return out


@pytest.hookimpl(tryfirst=True)        # before xdist reads the marks (its own modifyitems)
def pytest_collection_modifyitems(config, items):
    rank = {}
    for item in items:
        mod = _module_fixtures(item)
        shared = sorted(mod & (SHARED | set(getattr(item.module, "XDIST_SHARED", ()))))
        if shared:
            item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}::{shared[0]}"))
            rank[item.nodeid] = 0
        elif mod or item.get_closest_marker("long"):
            rank[item.nodeid] = 1
        else:
            rank[item.nodeid] = 2
    items.sort(key=lambda it: rank[it.nodeid])          # stable: collection order within a rank
