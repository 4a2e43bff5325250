"""One test per lab transcript: run the lab, normalise, compare with expected/.

The labs are those of labs/labs.mk (harness/labs.py); every run goes through
harness/runner.py at its plain level, the path the grader takes too."""
import re

import pytest

import labs
import mmaplabs

LABS = labs.all_labs()
CASES = [v for lab in LABS for v in mmaplabs.variants(lab)]


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


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_lab_is_complete(lab):
    """A lab is not done until its programs, transcript and note are."""
    assert lab.title, f"labs/labs.mk gives {lab.slug} no title"
    assert lab.transcripts(), f"labs/{lab.slug} has no transcript in expected/"
    assert lab.note.exists(), f"labs/{lab.slug} has no note ({lab.note.relative_to(lab.root)})"
    text = lab.note.read_text()
    for heading in ("Predict", "What happened", "The source notes", "Exercise", "Try this next"):
        assert re.search(rf"^#+ .*{heading}", text, re.M | re.I), f"notes/{lab.slug}.md lacks a '{heading}' section"
    for program in lab.programs:
        src = lab.folder / f"{program}.c"
        assert src.exists(), f"labs/labs.mk lists {program} for {lab.slug}, but there is no labs/{lab.slug}/{src.name}"
    entry = lab.folder / f"{lab.entry}.c"
    assert "lab_begin(LAB_TITLE)" in entry.read_text(), f"{entry.name} does not start with lab_begin(LAB_TITLE)"


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_lab_sources_follow_the_rules(lab):
    for src in lab.sources() + sorted(lab.folder.glob("*.h")):
        text = src.read_text()
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
        assert not re.search(r"\b(u?sleep|nanosleep)\s*\(", code), \
            f"{src.name} sleeps: synchronise with a pipe, waitpid, a semaphore or a futex"
        assert not re.search(r"\b4096\b", code), f"{src.name} has a literal 4096: use page_size()"
        assert "%X" not in code, f"{src.name} prints with %X: addresses go in {{addr=%p}}"


def test_readme_lists_every_lab():
    readme = (labs.ROOT / "README.md").read_text()
    for lab in LABS:
        assert lab.slug in readme, f"README.md does not list {lab.slug}"
