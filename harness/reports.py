"""reports: what the grader writes about a submission.

    case_feedback(...)     the Markdown of one case (hidden-safe)
    write(out, ...)        results.json (Gradescope), junit.xml, grades.csv, feedback.md
    table(cases)           the terminal table
    safe(), fence(), code()   student text made inert for Markdown and terminals

Formats are documented in harness/GRADING.md.  A case is anything with name,
id, lab, number, kind ("public", "hidden" or "drawn"), hidden, status, cents,
max_cents, steps_ok, steps_total, seconds and detail (grade.Case).  Points are
integer hundredths; every total is a sum of integers.  Files are replaced
atomically.

Student output is data.  Everything a program, a compiler or a submission's
file names put into a report goes through safe() (control characters, NUL,
escape sequences and bidirectional overrides become visible \\xNN/\\uNNNN
escapes) and then into a fenced block whose fence is longer than any
backtick run inside it (fence()) or a code span (code()): it cannot start a
heading, close a fence or move a terminal's cursor.
"""
import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import mmaplabs
import scoring

DIFF_LINES = 120
HIDDEN_VISIBILITY = "after_published"
# C0 and C1 controls but tab and newline, DEL, and the Unicode format characters
# that reorder or hide text (bidirectional overrides and isolates, zero-width).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def safe(text):
    """Text any terminal and Markdown renderer shows as it is: every control
    character but newline and tab as a visible escape."""
    return UNSAFE.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 0x100
                      else "\\u%04x" % ord(m.group()), str(text))


def fence(text, info=""):
    """A fenced code block holding text verbatim (after safe()): its fence is
    longer than the longest run of backticks inside."""
    text = safe(text)
    n = max([3] + [len(r) + 1 for r in re.findall("`+", text)])
    return "`" * n + info + "\n" + text + ("" if text.endswith("\n") or not text else "\n") + "`" * n


def code(text):
    """An inline code span holding one line of text (newlines shown as \\n)."""
    text = safe(text).replace("\n", "\\n")
    n = max([1] + [len(r) + 1 for r in re.findall("`+", text)])
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return "`" * n + pad + text + pad + "`" * n


def points(cents):
    """1000 -> "10", 333 -> "3.33"."""
    return f"{cents / 100:.2f}".rstrip("0").rstrip(".")


def atomic_write(path, text):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def xml_safe(s):
    return "".join(ch if ch in "\t\n\r" or (ch >= " " and ch not in "\ufffe\uffff") else "\\x%02x" % ord(ch)
                   for ch in s)


def case_feedback(case, verdict, runs, *, timeout_rule, output_limit, repro, signature=None):
    """Markdown for one graded case.  A hidden case shows its status and points
    only; a drawn one (the student's own variant) its command, what went wrong
    and the student's own output, never the expected text (a regrade draws the
    same variant: the expected lines would be a transcript to print).
    timeout_rule: how the time limit was set ("10 x the reference time, at least 5 s").
    signature: the lab's calls, listed when some are missing."""
    head = (f"{verdict.status}, {points(verdict.cents)}/{points(case.max_cents)} points "
            f"({verdict.steps_ok} of {verdict.steps_total} steps)")
    if case.hidden:
        return f"**{case.name}**: {head}. Hidden variant: its command and transcript are not shown."
    v = case.variant
    md = [f"**{case.name}** {code('$ ' + v.command())}: {head}", ""]
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
    if verdict.missing:
        md.append("- **no-mechanism**: the graded run did not make the system calls this lab is about, "
                  "so the variant earns 0 points whatever it printed:")
        md += [f"  - {safe(m)}" for m in verdict.missing]
        if signature:
            md.append("  - the lab's signature: " + ", ".join(code(c) for c in signature))
    if verdict.nondet is not None:
        i = verdict.nondet
        if verdict.actual[i] != verdict.actual[0]:
            what = (f"printed something else than run 1 "
                    f"(first at step {mmaplabs.first_differing_step(verdict.actual[0], verdict.actual[i])})")
        else:
            what = "ended otherwise than run 1 (exit status, signal or timeout)"
        md.append(f"- nondeterministic: run {i + 1} of {len(runs)} {what}: a program that does not do the same "
                  "thing every time earns nothing for this variant (which steps agree would be luck)")
    for l in verdict.leftovers:
        md.append(f"- left behind: {code(l)}")
    for r in runs:
        for n in r.notes:
            md.append(f"- sandbox: {safe(n)}")
    if verdict.free and case.kind == "drawn":
        md.append(f"- steps {', '.join(f'[{n}]' for n in sorted(verdict.free))} read the same as in a public "
                  f"transcript: together they are worth {int(scoring.FREE_SHARE * 100)} % of this variant")
    if verdict.differs is not None:
        first = verdict.first_differing_step
        where = {None: "the transcript differs", 0: "first difference: before step [1]"}.get(first, f"first differing step: [{first}]")
        if case.kind == "drawn":
            mine = dict(mmaplabs.steps(verdict.actual[verdict.differs])).get(first or 0, "")
            md += [f"- {where}; your program printed there:", "", fence(mine or "(nothing)"),
                   "", "  (the expected lines of your own variant are not shown; the public transcripts in "
                   "`expected/` and `make test` show what each step must say)"]
        else:
            d = mmaplabs.diff(verdict.expected, verdict.actual[verdict.differs], v.path.name).splitlines()
            if len(d) > DIFF_LINES:
                d = d[:DIFF_LINES] + [f"... ({len(d) - DIFF_LINES} more diff lines)"]
            md += [f"- {where}", "", fence("\n".join(d), "diff")]
    err = (bad or last).stderr.strip()
    if err:
        lines = err.splitlines()
        md += ["", "stderr:", fence("\n".join(lines[:20] + (["..."] if len(lines) > 20 else [])))]
    md += ["", "reproduce: " + repro]
    return "\n".join(md)


def lab_note_feedback(case, status, note):
    """A case that did not run (missing, compile error): the lab's note, once per lab."""
    return f"**{case.name}**: {status}, 0/{points(case.max_cents)} points" + ("" if case.hidden else "\n\n" + note)


def write(out, student, cases, header, final, elapsed, lab_notes):
    """Write the four reports; return the grades.csv row (a dict)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = sum(c.cents for c in cases) / 100
    max_total = sum(c.max_cents for c in cases) / 100
    state = "" if final else "\n\n**Grading was interrupted or is still running: cases marked 'not graded' scored 0.**"
    summary = "\n".join(header) + state
    tests = [{
        "score": c.cents / 100, "max_score": c.max_cents / 100,
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
            el = ET.SubElement(tc, kind, message=f"{c.status}: {points(c.cents)}/{points(c.max_cents)}", type=c.status)
            el.text = xml_safe(c.detail)
    atomic_write(out / "junit.xml", ET.tostring(suites, encoding="unicode"))

    labs = sorted({c.lab for c in cases})
    cents, max_cents = sum(c.cents for c in cases), sum(c.max_cents for c in cases)
    row = {"student": student, "score": points(cents), "max_score": points(max_cents),
           "percent": f"{100 * cents / max_cents:.1f}" if max_cents else "0.0"}
    for lab in labs:
        row[lab] = points(sum(c.cents for c in cases if c.lab == lab))
    row["notes"] = "; ".join(f"{c.id}: {c.status}" for c in cases if not c.passed)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(row), lineterminator="\n")
    w.writeheader()
    w.writerow(row)
    atomic_write(out / "grades.csv", buf.getvalue())

    fb = [f"# Grading report: {code(student)}", "", *header, state.strip(), ""]
    for lab in labs:
        lc = [c for c in cases if c.lab == lab]
        fb.append(f"## {lab}: {points(sum(c.cents for c in lc))}/{points(sum(c.max_cents for c in lc))}")
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
    lines = [f"{'case':44s} {'status':18s} {'steps':>7s} {'points':>13s}"]
    for c in cases:
        lines.append(f"{safe(c.name)[:44]:44s} {c.status[:18]:18s} {c.steps_ok:>3d}/{c.steps_total:<3d} "
                     f"{c.cents / 100:>6.2f}/{c.max_cents / 100:<6.2f}")
    total, max_total = sum(c.cents for c in cases), sum(c.max_cents for c in cases)
    lines.append(f"{'total':44s} {'':18s} {'':7s} {total / 100:>6.2f}/{max_total / 100:<6.2f} "
                 f"({100 * total / max_total if max_total else 0:.1f} %)")
    return "\n".join(lines)
