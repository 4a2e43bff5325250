"""reports: what the grader writes about a submission.

    case_feedback(...)     the Markdown of one case (hidden-safe)
    write(out, ...)        results.json (Gradescope), junit.xml, grades.csv, feedback.md
    table(cases)           the terminal table

Formats are documented in harness/GRADING.md.  A case is anything with name,
id, lab, number, hidden, status, score, max_score, steps_ok, steps_total,
seconds and detail (grade.Case).  Files are replaced atomically.
"""
import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import mmaplabs
import scoring

DIFF_LINES = 120
HIDDEN_VISIBILITY = "after_published"


def atomic_write(path, text):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def xml_safe(s):
    return "".join(ch if ch in "\t\n\r" or (ch >= " " and ch not in "\ufffe\uffff") else "\\x%02x" % ord(ch)
                   for ch in s)


def case_feedback(case, verdict, runs, *, timeout_rule, output_limit, repro):
    """Markdown for one graded case.  A hidden case shows its status and points only.
    timeout_rule: how the time limit was set ("10 x the reference time, at least 5 s")."""
    head = f"{verdict.status}, {verdict.score:g}/{case.max_score:g} points ({verdict.steps_ok} of {verdict.steps_total} steps)"
    if case.hidden:
        return f"**{case.name}**: {head}. Hidden variant: its command and transcript are not shown."
    v = case.variant
    md = [f"**{case.name}** `$ {v.command()}`: {head}", ""]
    bad = runs[verdict.bad] if verdict.bad is not None else None
    last = runs[-1]
    if bad and bad.timed_out:
        md.append(f"- timed out after {case.timeout:.1f} s (the limit: {timeout_rule}); every process it started was killed")
    elif bad and bad.output_limited:
        md.append(f"- printed more than {output_limit} bytes; its output was cut there")
    elif bad:
        md.append(f"- killed by {bad.signal_name}")
    elif last.returncode != 0:
        md.append(f"- exit status {last.returncode} (0 means every check held)")
    if verdict.nondet is not None:
        i = verdict.nondet
        md.append(f"- nondeterministic: run {i + 1} of {len(runs)} printed something else than run 1 "
                  f"(first at step {mmaplabs.first_differing_step(verdict.actual[0], verdict.actual[i])})")
    for l in verdict.leftovers:
        md.append(f"- left behind: {l}")
    for r in runs:
        for n in r.notes:
            md.append(f"- sandbox: {n}")
    if verdict.differs is not None:
        first = verdict.first_differing_step
        d = mmaplabs.diff(verdict.expected, verdict.actual[verdict.differs], v.path.name).splitlines()
        if len(d) > DIFF_LINES:
            d = d[:DIFF_LINES] + [f"... ({len(d) - DIFF_LINES} more diff lines)"]
        where = {None: "the transcript differs", 0: "first difference: before step [1]"}.get(first, f"first differing step: [{first}]")
        md += [f"- {where}", "", "```diff", *d, "```"]
    err = (bad or last).stderr.strip()
    if err:
        lines = err.splitlines()
        md += ["", "stderr:", "```", *lines[:20], *(["..."] if len(lines) > 20 else []), "```"]
    md += ["", "reproduce: " + repro]
    return "\n".join(md)


def lab_note_feedback(case, status, note):
    """A case that did not run (missing, compile error): the lab's note, once per lab."""
    return f"**{case.name}**: {status}, 0/{case.max_score:g} points" + ("" if case.hidden else "\n\n" + note)


def write(out, student, cases, header, final, elapsed, lab_notes):
    """Write the four reports; return the grades.csv row (a dict)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = round(sum(c.score for c in cases), 2)
    max_total = round(sum(c.max_score for c in cases), 2)
    state = "" if final else "\n\n**Grading was interrupted or is still running: cases marked 'not graded' scored 0.**"
    summary = "\n".join(header) + state
    tests = [{
        "score": c.score, "max_score": round(c.max_score, 2),
        "status": "passed" if c.passed else "failed",
        "name": c.name, "name_format": "text", "number": c.number,
        "output": c.detail or f"{c.status}", "output_format": "md",
        "tags": [c.lab, c.status],
        "visibility": HIDDEN_VISIBILITY if c.hidden else "visible",
    } for c in cases]
    results = {"score": total, "execution_time": int(elapsed), "output": summary, "output_format": "md",
               "test_output_format": "md", "test_name_format": "text", "visibility": "visible",
               "stdout_visibility": "hidden", "tests": tests,
               "extra_data": {"student": student, "max_score": max_total, "final": final}}
    atomic_write(out / "results.json", json.dumps(results, indent=1, ensure_ascii=True))

    suites = ET.Element("testsuites", name="mmap-labs grading")
    suite = ET.SubElement(suites, "testsuite", name=student, tests=str(len(cases)),
                          failures=str(sum(1 for c in cases if c.status in scoring.FAILURES)),
                          errors=str(sum(1 for c in cases if not c.passed and c.status not in scoring.FAILURES)),
                          time="%.3f" % elapsed)
    for c in cases:
        tc = ET.SubElement(suite, "testcase", classname=c.lab, name=c.name, time="%.3f" % c.seconds)
        if not c.passed:
            kind = "failure" if c.status in scoring.FAILURES else "error"
            el = ET.SubElement(tc, kind, message=f"{c.status}: {c.score:g}/{c.max_score:g}", type=c.status)
            el.text = xml_safe(c.detail)
    atomic_write(out / "junit.xml", ET.tostring(suites, encoding="unicode"))

    labs = sorted({c.lab for c in cases})
    row = {"student": student, "score": total, "max_score": max_total,
           "percent": round(100 * total / max_total, 1) if max_total else 0.0}
    for lab in labs:
        row[lab] = round(sum(c.score for c in cases if c.lab == lab), 2)
    row["notes"] = "; ".join(f"{c.id}: {c.status}" for c in cases if not c.passed)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(row), lineterminator="\n")
    w.writeheader()
    w.writerow(row)
    atomic_write(out / "grades.csv", buf.getvalue())

    fb = [f"# Grading report: {student}", "", *header, state.strip(), ""]
    for lab in labs:
        lc = [c for c in cases if c.lab == lab]
        fb.append(f"## {lab}: {sum(c.score for c in lc):g}/{sum(c.max_score for c in lc):g}")
        fb.append("")
        if lab in lab_notes:
            fb += [lab_notes[lab], ""]
        for c in lc:      # a lab note (compile error, missing file) is shown once, above
            fb += [(c.detail.split("\n\n")[0] if lab in lab_notes else c.detail) or f"**{c.name}**: {c.status}", ""]
    atomic_write(out / "feedback.md", "\n".join(fb))
    return row


def gradebook(path, rows, labs):
    """gradebook.csv of grade-all: one row per student (rows: {student: row})."""
    fields = ["student", "score", "max_score", "percent"] + list(labs) + ["notes"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for n in sorted(rows):
        w.writerow(rows[n])
    atomic_write(path, buf.getvalue())


def read_row(work):
    """(row, final) of one submission graded into `work`, or None if there is none."""
    try:
        with open(Path(work) / "grades.csv", newline="") as fh:
            row = next(csv.DictReader(fh))
        final = json.loads((Path(work) / "results.json").read_text())["extra_data"]["final"]
    except (OSError, StopIteration, ValueError, KeyError):
        return None
    return row, final


def table(cases):
    lines = [f"{'case':44s} {'status':18s} {'steps':>7s} {'points':>12s}"]
    for c in cases:
        lines.append(f"{c.name[:44]:44s} {c.status[:18]:18s} {c.steps_ok:>3d}/{c.steps_total:<3d} "
                     f"{c.score:>5.1f}/{c.max_score:<5.1f}")
    total, max_total = sum(c.score for c in cases), sum(c.max_score for c in cases)
    lines.append(f"{'total':44s} {'':18s} {'':7s} {total:>5.1f}/{max_total:<5.1f} "
                 f"({100 * total / max_total if max_total else 0:.1f} %)")
    return "\n".join(lines)
