"""One test per lab transcript: run the lab, normalise, compare with expected/."""
import re

import pytest

import mmaplabs

CASES = [v for lab in mmaplabs.labs() for v in mmaplabs.variants(lab)]


@pytest.mark.parametrize("variant", CASES, ids=[v.id for v in CASES])
def test_transcript(variant, request):
    runs = request.config.getoption("--repeat")
    outputs = set()
    for i in range(runs):
        result = mmaplabs.run_variant(variant)
        report = mmaplabs.compare(variant, result)
        assert report is None, (f"run {i + 1} of {runs}\n" if runs > 1 else "") + report
        outputs.add(result.stdout)
    # Raw output may differ only inside {name=value} tokens.
    assert len({mmaplabs.normalise(o) for o in outputs}) == 1


@pytest.mark.parametrize("lab", mmaplabs.labs())
def test_lab_is_complete(lab):
    """A lab is not done until its transcript and its note are."""
    assert mmaplabs.variants(lab), f"labs/{lab} has no transcript in expected/"
    note = mmaplabs.ROOT / "notes" / f"{lab}.md"
    assert note.exists(), f"labs/{lab} has no note (notes/{lab}.md)"
    text = note.read_text()
    for heading in ("Predict", "What happened", "The source notes", "Exercise", "Try this next"):
        assert re.search(rf"^#+ .*{heading}", text, re.M | re.I), f"notes/{lab}.md lacks a '{heading}' section"
    entry = mmaplabs.ROOT / "labs" / lab / (mmaplabs.entry_program(lab) + ".c")
    assert entry.exists(), f"labs/{lab} has no entry program {entry.name}"
    assert "lab_begin(LAB_TITLE)" in entry.read_text(), f"{entry.name} does not start with lab_begin(LAB_TITLE)"


@pytest.mark.parametrize("lab", mmaplabs.labs())
def test_lab_sources_follow_the_rules(lab):
    for src in sorted((mmaplabs.ROOT / "labs" / lab).glob("*.c")):
        text = src.read_text()
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
        assert not re.search(r"\b(u?sleep|nanosleep)\s*\(", code), \
            f"{src.name} sleeps: synchronise with a pipe, waitpid, a semaphore or a futex"
        assert not re.search(r"\b4096\b", code), f"{src.name} has a literal 4096: use page_size()"
        assert "%X" not in code, f"{src.name} prints with %X: addresses go in {{addr=%p}}"


def test_readme_lists_every_lab():
    readme = (mmaplabs.ROOT / "README.md").read_text()
    for lab in mmaplabs.labs():
        assert lab in readme, f"README.md does not list {lab}"
