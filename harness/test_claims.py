"""The claims ledger (notes/CLAIMS.md) must point at evidence that exists.

Every row: | ID | Source | Claim | Verdict | Shown by | Evidence |
  Source    "002 §10.1"      a seed note (000..004) and its section
  Verdict   starts with holds / wrong / partly / holds only ... / untestable
  Shown by  "09-sigbus-eof[2]" or "10-page-boundary.offset-1[3]": a lab transcript and a step
  Evidence  one or more `literal` strings that step's expected text contains
An "untestable" claim (history, advice to remount the host's /dev/shm) says why in its
verdict and has "-" for Shown by and Evidence; every other row needs real evidence.
"""
import re
import pytest

import labs
import mmaplabs

LEDGER = labs.ROOT / "notes" / "CLAIMS.md"
ROW = re.compile(r"^\|\s*(C\d{3}-\d{2,3})\s*\|")
WHERE = re.compile(r"^(\d\d-[a-z0-9-]+)(?:\.([a-z0-9-]+))?\[(\d+)\]$")
VERDICTS = ("holds", "wrong", "partly", "untestable")


def rows():
    if not LEDGER.exists():
        return []
    out = []
    for n, line in enumerate(LEDGER.read_text().splitlines(), 1):
        if ROW.match(line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.append((n, cells))
    return out


def test_ledger_exists_and_is_large():
    assert LEDGER.exists(), "notes/CLAIMS.md is missing"
    r = rows()
    assert len(r) >= 100, f"the seeds make well over a hundred checkable claims; the ledger has {len(r)}"
    untestable = [c for _, c in r if c[3].lower().startswith("untestable")]
    assert len(untestable) * 10 <= len(r), "more than a tenth of the ledger is 'untestable'"
    ids = [c[0] for _, c in r]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"duplicate claim IDs: {sorted(dupes)}"


@pytest.mark.parametrize("line, cells", rows(), ids=[c[0] for _, c in rows()])
def test_claim_points_at_real_evidence(line, cells):
    where = f"notes/CLAIMS.md:{line}"
    assert len(cells) == 6, f"{where}: a row has 6 cells (ID, Source, Claim, Verdict, Shown by, Evidence)"
    cid, source, claim, verdict, shown, evidence = cells
    seed = source.split()[0] if source else ""
    assert re.fullmatch(r"00[0-4]", seed), f"{where}: source must start with a seed number 000..004"
    assert cid[1:4] == seed, f"{where}: ID {cid} does not match its source seed {seed}"
    assert claim, f"{where}: empty claim"
    assert verdict.lower().startswith(VERDICTS), f"{where}: verdict must start with one of {VERDICTS}"
    if verdict.lower().startswith("untestable"):
        assert shown.strip() in ("-", "—") and len(verdict) > len("untestable: "), \
            f"{where}: an untestable claim says why, and points at no step"
        return
    m = WHERE.match(shown.strip("` "))
    assert m, f"{where}: 'Shown by' must look like 09-sigbus-eof[2] or 10-page-boundary.offset-1[3]"
    lab, variant, step = m.group(1), m.group(2), int(m.group(3))
    table = labs.read()
    assert lab in table, f"{where}: no lab {lab}"
    vs = {v.name: v for v in mmaplabs.variants(table[lab])}
    v = vs.get(variant or "") or (vs[sorted(vs)[0]] if variant is None and vs else None)
    assert v is not None, f"{where}: lab {lab} has no transcript {variant or '(default)'}"
    text = dict(mmaplabs.steps(mmaplabs.normalise(v.body))).get(step)
    assert text is not None, f"{where}: {v.path.name} has no step [{step}]"
    literals = re.findall(r"`([^`]+)`", evidence)
    assert literals, f"{where}: evidence must quote the transcript in `backticks`"
    for lit in literals:
        assert mmaplabs.normalise(lit) in text, f"{where}: step [{step}] of {v.path.name} does not contain {lit!r}"
