"""labspec: read labs/NN-slug/lab.toml, how a lab is graded and proven able to fail.

    import labspec
    spec = labspec.load("09-sigbus-eof")      # or a labs.Lab, or 9
    spec.exists                               # False: the lab has no lab.toml (an empty spec)
    spec.params                               # {"offset-pages": Param(...)}, in file order
    spec.signature.calls, .ordered            # [Call("mmap", ["MAP_SHARED"]), ...]
    spec.mutants                              # [Mutant(name, file, find, replace, breaks, variants)]
    spec.excused                              # {"a length of 0 is EINVAL": "a kernel refusal ..."}
    params = labspec.draw(spec, random.Random(seed))   # {"offset-pages": 1}
    labspec.args_for(params)                  # ["--offset-pages=1"]

The format is coord/LABSPEC.md.  Every error names the file and the key:
"labs/09-sigbus-eof/lab.toml: mutant[2].breaks: ...".  Standard library only
(tomllib, Python 3.11).
"""
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labs as labdesc  # noqa: E402

ROOT = labdesc.ROOT
FILENAME = "lab.toml"
PARAM_RE = re.compile(r"^[a-z][a-z0-9-]*$")          # an option: --name=value
MUTANT_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")      # a folder name under build/mutants/<lab>/
SYSCALL_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
WORD_RE = re.compile(r"^[=!]?[A-Za-z0-9_]+$")        # MAP_SHARED; !MAP_ANONYMOUS: must not be there; =EINVAL: failed with it
VARIANT_RE = re.compile(r"^[A-Za-z0-9_-]+$")
DRAW_TRIES = 1000


class LabSpecError(Exception):
    """A lab.toml that cannot be used; the message names file and key."""


@dataclass
class Param:
    name: str
    min: int = None            # a range (inclusive) ...
    max: int = None
    choices: list = None       # ... or a list of values

    def values_ok(self, v):
        if self.choices is not None:
            return v in self.choices
        return _is_int(v) and self.min <= v <= self.max


@dataclass
class Call:
    name: str                  # the syscall as strace names it ("fork": clone/clone3/fork/vfork)
    words: list                # all in the arguments of one successful call; "!W": W not there; "=EINVAL": a failed call
    text: str = ""             # as written in lab.toml

    def __str__(self):
        return self.text or " ".join([self.name, *self.words])


@dataclass
class Signature:
    calls: list = field(default_factory=list)
    ordered: bool = False


@dataclass
class Mutant:
    name: str
    file: str
    find: str
    replace: str
    breaks: int
    variants: list = field(default_factory=list)   # [] = the lab's default transcript


@dataclass
class Spec:
    lab: str
    path: Path
    exists: bool = False
    params: dict = field(default_factory=dict)
    exclude: list = field(default_factory=list)
    signature: Signature = field(default_factory=Signature)
    mutants: list = field(default_factory=list)
    excused: dict = field(default_factory=dict)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class _Where:
    """Builds "path: key: message" errors."""

    def __init__(self, path):
        self.path = path

    def __call__(self, key, msg):
        return LabSpecError(f"{self.path}: {key}: {msg}" if key else f"{self.path}: {msg}")


def _rel(path):
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


def _lab_of(lab, root):
    if isinstance(lab, labdesc.Lab):
        return lab
    try:
        return labdesc.get(lab, root)
    except labdesc.LabError as e:
        raise LabSpecError(str(e)) from None


def load(lab, root=ROOT):
    """The spec of a lab (a labs.Lab, a number or a slug); an empty one if it has no lab.toml."""
    lab = _lab_of(lab, root)
    path = lab.folder / FILENAME
    if not path.exists():
        return Spec(lab.slug, path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LabSpecError(f"{_rel(path)}: cannot read: {e}") from None
    return parse(text, lab.slug, path, lab.folder)


def parse(text, slug="lab", path=Path(FILENAME), folder=None):
    """Parse and validate lab.toml text; folder (if given) is where mutant files must exist."""
    where = _Where(_rel(Path(path)))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise where(None, f"not valid TOML: {e}") from None
    known = {"params", "exclude", "signature", "mutant", "excused"}
    for key in data:
        if key not in known:
            raise where(key, f"unknown key (known: {', '.join(sorted(known))})")
    spec = Spec(slug, Path(path), exists=True)
    params = dict(_table(data.get("params", {}), "params", where))
    exclude = data.get("exclude", [])
    if "exclude" in params:           # as coord/LABSPEC.md writes it: exclude = [...] inside [params]
        if "exclude" in data:
            raise where("exclude", "given twice: at the top and in [params]")
        exclude = params.pop("exclude")
    spec.params = _params(params, where)
    spec.exclude = _exclude(exclude, spec.params, where)
    spec.signature = _signature(data.get("signature", {}), where)
    spec.mutants = _mutants(data.get("mutant", []), where, folder)
    spec.excused = _excused(data.get("excused", {}), where)
    return spec


def _table(v, key, where):
    if not isinstance(v, dict):
        raise where(key, "must be a table")
    return v


def _params(table, where):
    out = {}
    for name, p in _table(table, "params", where).items():
        key = f"params.{name}"
        if not PARAM_RE.match(name):
            raise where(key, "a parameter is an option --name=value: lower-case letters, digits and '-'")
        if not isinstance(p, dict):
            raise where(key, "must be { min = A, max = B } or { choices = [...] }")
        if set(p) == {"min", "max"}:
            lo, hi = p["min"], p["max"]
            if not _is_int(lo) or not _is_int(hi):
                raise where(key, "min and max must be whole numbers")
            if lo > hi:
                raise where(key, f"min ({lo}) is greater than max ({hi})")
            out[name] = Param(name, min=lo, max=hi)
        elif set(p) == {"choices"}:
            cs = p["choices"]
            if not isinstance(cs, list) or not cs:
                raise where(key + ".choices", "must be a non-empty list")
            for c in cs:
                if not (_is_int(c) or isinstance(c, str)):
                    raise where(key + ".choices", f"{c!r}: only whole numbers and strings")
                if isinstance(c, str) and (not c or any(ch.isspace() for ch in c)):
                    raise where(key + ".choices", f"{c!r}: a string choice must be one word")
            if len(set(map(repr, cs))) != len(cs):
                raise where(key + ".choices", "a value is listed twice")
            out[name] = Param(name, choices=list(cs))
        else:
            raise where(key, f"has keys {sorted(p)}: use {{ min = A, max = B }} or {{ choices = [...] }}")
    return out


def _exclude(rules, params, where):
    if not isinstance(rules, list):
        raise where("exclude", "must be a list of tables, e.g. [ { pages = 1, offset = 3 } ]")
    for i, rule in enumerate(rules):
        key = f"exclude[{i}]"
        if not isinstance(rule, dict) or not rule:
            raise where(key, "must be a non-empty table of parameter = value")
        for name, v in rule.items():
            if name not in params:
                raise where(f"{key}.{name}", "is not a parameter of [params]")
            if not params[name].values_ok(v):
                raise where(f"{key}.{name}", f"{v!r} is not a value [params] can draw")
    return list(rules)


def _signature(table, where):
    table = _table(table, "signature", where)
    for key in table:
        if key not in ("calls", "ordered"):
            raise where(f"signature.{key}", "unknown key (known: calls, ordered)")
    calls = table.get("calls", [])
    if not isinstance(calls, list):
        raise where("signature.calls", "must be a list of strings like \"mmap MAP_SHARED\"")
    out = []
    for i, c in enumerate(calls):
        key = f"signature.calls[{i}]"
        if not isinstance(c, str) or not c.split():
            raise where(key, "must be a string: a syscall name, then words its arguments must hold")
        name, *words = c.split()
        if not SYSCALL_RE.match(name):
            raise where(key, f"{name!r} is not a system call name")
        for w in words:
            if not WORD_RE.match(w):
                raise where(key, f"{w!r}: a word is a symbol like MAP_SHARED, !SYMBOL for one that must not be "
                                 "there, or =ERRNO for a call that fails with it")
        if sum(w.startswith("=") for w in words) > 1:
            raise where(key, "at most one =ERRNO")
        out.append(Call(name, words, " ".join(c.split())))
    ordered = table.get("ordered", False)
    if not isinstance(ordered, bool):
        raise where("signature.ordered", "must be true or false")
    return Signature(out, ordered)


def _mutants(items, where, folder):
    if not isinstance(items, list):
        raise where("mutant", "write each mutant as a [[mutant]] table")
    out, names = [], set()
    for i, m in enumerate(items):
        key = f"mutant[{i}]"
        if not isinstance(m, dict):
            raise where(key, "must be a table")
        need = {"name", "file", "find", "replace", "breaks"}
        name = m.get("name")
        if "name" in m and (not isinstance(name, str) or not MUTANT_RE.match(name)):
            raise where(f"{key}.name", "lower-case letters, digits and '-' (it names a folder)")
        if name:
            key = f"mutant[{i}] ({name})"
        for k in m:
            if k not in need | {"variant"}:
                raise where(f"{key}.{k}", "unknown key (known: name, file, find, replace, breaks, variant)")
        for k in sorted(need - set(m)):
            raise where(f"{key}.{k}", "is missing")
        if name in names:
            raise where(f"{key}.name", "two mutants have this name")
        names.add(name)
        f = m["file"]
        if not isinstance(f, str) or not f or "/" in f or f.startswith("."):
            raise where(f"{key}.file", "a file name of the lab's folder (no '/')")
        if folder is not None and not (Path(folder) / f).is_file():
            raise where(f"{key}.file", f"{f} is not a file of {_rel(Path(folder))}/")
        for k in ("find", "replace"):
            if not isinstance(m[k], str):
                raise where(f"{key}.{k}", "must be a string")
        if not m["find"]:
            raise where(f"{key}.find", "must not be empty")
        if m["find"] == m["replace"]:
            raise where(f"{key}.replace", "is the same as find: the mutant changes nothing")
        if not _is_int(m["breaks"]) or m["breaks"] < 1:
            raise where(f"{key}.breaks", "the number of the step that must differ (1 or more)")
        v = m.get("variant", [])
        vs = [v] if isinstance(v, str) else v
        if not isinstance(vs, list) or not all(isinstance(x, str) and VARIANT_RE.match(x) for x in vs) \
                or len(set(vs)) != len(vs):
            raise where(f"{key}.variant", "a transcript variant name (expected/NN-slug.NAME.txt) or a list of them")
        out.append(Mutant(name, f, m["find"], m["replace"], m["breaks"], list(vs)))
    return out


def _excused(table, where):
    table = _table(table, "excused", where)
    for prefix, reason in table.items():
        key = f"excused.{prefix!r}"
        if not prefix.strip():
            raise where(key, "the prefix of an ok: line's text must not be empty")
        if not isinstance(reason, str) or not reason.strip():
            raise where(key, "give the reason why no mutant can break this line")
        if prefix.startswith("ok:"):
            raise where(key, "write the line's text after \"ok: \", not the \"ok:\" itself")
    return dict(table)


# ---- parameters ------------------------------------------------------------

def excluded(spec, params):
    return any(all(params.get(k) == v for k, v in rule.items()) for rule in spec.exclude)


def draw(spec, rng):
    """One value per parameter, drawn with rng (a random.Random); the same rng
    state gives the same dict.  Parameters are drawn in name order, so moving
    lines around in lab.toml does not change anyone's variant."""
    for _ in range(DRAW_TRIES):
        out = {}
        for name in sorted(spec.params):
            p = spec.params[name]
            out[name] = rng.choice(p.choices) if p.choices is not None else rng.randint(p.min, p.max)
        if not excluded(spec, out):
            return out
    raise LabSpecError(f"{_rel(spec.path)}: exclude: {DRAW_TRIES} draws in a row were excluded; "
                       "the rules leave (almost) nothing to draw")


def args_for(params):
    """{"offset-pages": 1} -> ["--offset-pages=1"], in the dict's order."""
    return [f"--{k}={v}" for k, v in params.items()]
