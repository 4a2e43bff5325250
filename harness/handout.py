#!/usr/bin/env python3
"""handout: turn a lab source with solution regions into the student's version.

The only syntax, line-based, so the reference compiles as it is:

        /* BEGIN SOLUTION */
        char *p = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);   <- reference code
        /* END SOLUTION */
        //> char *p = NULL; /* TODO: map the file ... */           <- the student's start

In the handout the BEGIN/END lines and everything between them disappear and
each `//> ` line loses its marker (keeping its indentation).  In the reference
the `//>` lines are ordinary comments.  The handout must still compile.
"""
import re
import sys
from pathlib import Path

BEGIN = re.compile(r"^\s*/\* BEGIN SOLUTION \*/\s*$")
END = re.compile(r"^\s*/\* END SOLUTION \*/\s*$")
PROMPT = re.compile(r"^(\s*)//> ?(.*)$")


class MarkerError(Exception):
    pass


def strip(text, name="source"):
    """Return the handout text of one source file."""
    out, inside = [], False
    for n, line in enumerate(text.splitlines(True), 1):
        if BEGIN.match(line):
            if inside:
                raise MarkerError(f"{name}:{n}: BEGIN SOLUTION inside a solution region")
            inside = True
        elif END.match(line):
            if not inside:
                raise MarkerError(f"{name}:{n}: END SOLUTION without BEGIN")
            inside = False
        elif inside:
            continue
        else:
            m = PROMPT.match(line)
            out.append(f"{m.group(1)}{m.group(2)}\n" if m else line)
    if inside:
        raise MarkerError(f"{name}: BEGIN SOLUTION never ends")
    return "".join(out)


def has_solution(text):
    return any(BEGIN.match(l) for l in text.splitlines())


if __name__ == "__main__":
    for path in sys.argv[1:]:
        sys.stdout.write(strip(Path(path).read_text(), path))
