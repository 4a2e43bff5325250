"""Tests of the harness itself: it must catch what is wrong and hide nothing real."""
import os
import subprocess
import sys
import time

import pytest

import mmaplabs
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
    with pytest.raises(mmaplabs.TranscriptError, match="first line must be the command"):
        mmaplabs.parse_transcript("09-sigbus-eof", "# Lab 09: no command line\n")
    with pytest.raises(mmaplabs.TranscriptError, match="must run 'sigbus-eof'"):
        mmaplabs.parse_transcript("09-sigbus-eof", "$ cat /etc/passwd\nx\n")
    with pytest.raises(mmaplabs.TranscriptError, match="cannot read the command"):
        mmaplabs.parse_transcript("09-sigbus-eof", "$ sigbus-eof 'unclosed\nx\n")
    args, body = mmaplabs.parse_transcript("10-page-boundary", "$ page-boundary --offset-pages=1\nbody\n")
    assert args == ["--offset-pages=1"] and body == "body\n"


def a_lab_variant():
    for lab in mmaplabs.labs():
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


def test_right_transcript_passes():
    v = a_lab_variant()
    assert mmaplabs.compare(v, mmaplabs.run_variant(v)) is None


def test_missing_step_is_reported():
    v = a_lab_variant()
    parts = mmaplabs.steps(v.body)
    shorter = "".join(t for n, t in parts if n != 2)
    wrong = mmaplabs.Variant(v.lab, v.name, v.path, v.args, shorter)
    report = mmaplabs.compare(wrong, mmaplabs.run_variant(wrong))
    assert report and "first at step 2" in report


# ---- running ---------------------------------------------------------------

def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "grandchild-alive"
    script = f"(sleep 30; touch {marker}) & sleep 30"
    start = time.monotonic()
    r = mmaplabs.run_program(["sh", "-c", script], timeout=1)
    assert r.timed_out and time.monotonic() - start < 10
    time.sleep(0.2)
    assert not marker.exists()
    out = subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True, text=True).stdout
    assert out == "", "a grandchild survived the timeout"


def test_leftovers_are_reported_and_removed():
    script = ('touch leftover.dat; : > "/dev/shm/mmaplab-$MMAPLAB_RUN-1-x"; '
              f'{sys.executable} -c "import ctypes; ctypes.CDLL(None).shmget(0, 4096, 0o600)"')
    r = mmaplabs.run_program(["sh", "-c", script], timeout=10)
    assert any("leftover.dat" in l for l in r.leftovers)
    assert any("/dev/shm/mmaplab-r" in l for l in r.leftovers)
    assert not [n for n in os.listdir("/dev/shm") if n.endswith("-1-x")]
    assert any("System V segment" in l for l in r.leftovers), "an orphaned IPC_PRIVATE segment"


def test_other_runs_objects_are_not_touched():
    """Objects of other runs (other tokens, live owners) are neither reported nor removed."""
    other = f"/dev/shm/mmaplab-rother-{os.getpid()}-x"
    open(other, "w").close()
    try:
        r = mmaplabs.run_program(["true"], timeout=10)
        assert r.leftovers == [] and os.path.exists(other)
    finally:
        os.unlink(other)


def test_stray_background_process_is_reported():
    r = mmaplabs.run_program(["sh", "-c", "sleep 30 & exit 0"], timeout=10)
    assert any("processes still running" in l for l in r.leftovers)


# ---- make --------------------------------------------------------------------

def make(*args):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=mmaplabs.ROOT,
                          capture_output=True, text=True)


def test_missing_lab_is_a_clear_error():
    r = make("lab-99")
    assert r.returncode != 0 and "no lab 99" in r.stderr
    r = make("lab-x")
    assert r.returncode != 0 and "labs are numbered" in r.stderr


def test_lab_number_with_and_without_leading_zero():
    lab = mmaplabs.labs()[0]
    n = lab[:2]
    a, b = make(f"lab-{int(n)}"), make(f"lab-{n}")
    assert a.returncode == 0 and b.returncode == 0
    assert normalise(a.stdout.split("# Lab", 1)[1]) == normalise(b.stdout.split("# Lab", 1)[1])


def test_help_lists_every_lab():
    out = make("help").stdout
    for lab in mmaplabs.labs():
        assert lab in out
