"""labs: what the labs are, read from labs/labs.mk (the one description).

    import labs
    for lab in labs.all_labs():           # in curriculum order
        lab.slug, lab.number, lab.title   # "09-sigbus-eof", 9, "SIGBUS past end of file"
        lab.programs, lab.entry           # ["sigbus-eof"], "sigbus-eof"
        lab.sources()                     # every .c of the folder (the student owns them)
        lab.transcripts(expected_dir)     # expected/09-sigbus-eof[.VARIANT].txt, those there are
        lab.transcript_path("offset-1")   # expected/10-page-boundary.offset-1.txt, to write
        lab.note                          # notes/09-sigbus-eof.md
        lab.program_path(build, "x")      # build/09-sigbus-eof/x (as the Makefile builds it)
    labs.common_objects(build)            # build/common/*.o, from labs/common/*.c

Standard library only.  The Makefile includes labs/labs.mk; this module reads
the same lines (`ALL_LABS += slug`, `slug.title := ...`, `slug.programs := ...`).
"""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLUG_RE = re.compile(r"^\d\d-[a-z0-9-]+$")
_LINE = re.compile(r"^(?:ALL_LABS\s*\+=\s*(?P<slug>\S+)|(?P<lab>\d\d-[a-z0-9-]+)\.(?P<key>title|programs)\s*:=\s*(?P<value>.*?))\s*$")
# A title goes into a C string through the shell: keep it to plain text.
TITLE_OK = re.compile(r"^[^'\"\\$`]+$")


class LabError(Exception):
    """A lab that does not exist, or a description that cannot be used."""


@dataclass
class Lab:
    slug: str                      # "09-sigbus-eof"
    title: str = ""
    programs: list = field(default_factory=list)
    root: Path = ROOT

    @property
    def number(self):
        return int(self.slug[:2])

    @property
    def entry(self):
        return self.programs[0]

    @property
    def folder(self):
        return self.root / "labs" / self.slug

    @property
    def note(self):
        return self.root / "notes" / f"{self.slug}.md"

    def sources(self):
        """Every .c file of the lab (its programs and the sources they share)."""
        return sorted(self.folder.glob("*.c"))

    def transcripts(self, expected_dir=None):
        """expected/SLUG.txt and expected/SLUG.VARIANT.txt, sorted."""
        d = Path(expected_dir) if expected_dir else self.root / "expected"
        out = []
        for p in sorted(d.glob(self.slug + "*.txt")):
            rest = p.name[len(self.slug):-len(".txt")]
            if not rest or rest.startswith("."):
                out.append(p)
        return out

    def transcript_path(self, variant="", expected_dir=None):
        """Where the transcript of a variant ("" for the lab's only one) goes."""
        d = Path(expected_dir) if expected_dir else self.root / "expected"
        return d / (self.slug + (f".{variant}" if variant else "") + ".txt")

    def program_path(self, build, program=None):
        """Where the Makefile puts a program: BUILD/NN-slug/program."""
        return Path(build) / self.slug / (program or self.entry)


def read(root=ROOT):
    """{slug: Lab} in curriculum order, from root/labs/labs.mk."""
    path = Path(root) / "labs" / "labs.mk"
    try:
        text = path.read_text()
    except OSError as e:
        raise LabError(f"{path}: {e.strerror}") from None
    found = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise LabError(f"{path}:{n}: not a lab line: {line.strip()[:60]!r}")
        if m["slug"]:
            if not SLUG_RE.match(m["slug"]):
                raise LabError(f"{path}:{n}: {m['slug']!r} is not NN-slug")
            found[m["slug"]] = Lab(m["slug"], root=Path(root))
        elif m["lab"] not in found:
            raise LabError(f"{path}:{n}: {m['lab']} is described before its ALL_LABS line")
        elif m["key"] == "title":
            if not TITLE_OK.match(m["value"]):
                raise LabError(f"{path}:{n}: a title may not contain quotes, backslashes, $ or `")
            found[m["lab"]].title = m["value"]
        else:
            found[m["lab"]].programs = m["value"].split()
    for lab in found.values():
        if not lab.title or not lab.programs:
            raise LabError(f"{path}: {lab.slug} needs a title and at least one program")
    return found


def all_labs(root=ROOT):
    return list(read(root).values())


def slugs(root=ROOT):
    return list(read(root))


def get(number, root=ROOT):
    """'3', '03', 3 or '03-shared-private' -> Lab; LabError says why not."""
    s = str(number)
    table = read(root)
    if s in table:
        return table[s]
    if not s.isdigit():
        raise LabError(f"no lab '{s}': labs are numbered; 'make help' lists them")
    for lab in table.values():
        if lab.number == int(s):
            return lab
    raise LabError(f"no lab {s}: 'make help' lists the labs")


def common_objects(build, root=ROOT):
    """What the Makefile compiles from labs/common/*.c and links into every
    program: BUILD/common/NAME.o."""
    return [Path(build) / "common" / (p.stem + ".o") for p in sorted((Path(root) / "labs" / "common").glob("*.c"))]


def build_dir(root=ROOT):
    """$BUILD (default build/), relative to the tree."""
    b = Path(os.environ.get("BUILD", "build"))
    return b if b.is_absolute() else Path(root) / b
