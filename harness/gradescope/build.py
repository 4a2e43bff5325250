#!/usr/bin/env python3
"""build.py: the Gradescope autograder zip (`make gradescope`).

    harness/gradescope/build.py [--out build/gradescope/autograder.zip] [--expected DIR[:DIR]]
    (the secret: GRADE_SECRET or GRADE_SECRET_FILE, as for make grade)

The zip holds, at its top, setup.sh and run_autograder (Gradescope's two
entry points), the instructor's tree as mmap-labs/ (the files git knows, or
every file but build/ and .git/ outside a repository), the hidden transcripts
as hidden/ and the secret as the file `secret`.  setup.sh makes all of it
readable by root only and builds the reference; run_autograder grades
/autograder/submission as root, and the student's code and its compiler run
as a sandbox uid that can read none of it (harness/GRADING.md, "Gradescope").
Standard library only.
"""
import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import labs  # noqa: E402
import variants  # noqa: E402

SKIP = {".git", "build", "__pycache__", ".pytest_cache", "try"}


def tree_files(root):
    """The tree's files, relative: git's view (tracked and not ignored) when it is a repository."""
    root = Path(root).resolve()
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if Path(top).resolve() != root:
            raise ValueError("not the top of a repository")
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout
        files = [Path(p.decode()) for p in out.split(b"\0") if p]
    except (OSError, ValueError, subprocess.CalledProcessError):
        files = [p.relative_to(root) for p in root.rglob("*")]
    return sorted(f for f in files if not SKIP & set(f.parts) and (root / f).is_file() and not (root / f).is_symlink())


def add(z, path, arcname, mode):
    info = zipfile.ZipInfo.from_file(path, arcname)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(path, "rb") as f:
        z.writestr(info, f.read())


def build(out, root=labs.ROOT, hidden_dirs=(), secret=None, log=print):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    with zipfile.ZipFile(tmp, "w") as z:
        add(z, HERE / "setup.sh", "setup.sh", 0o755)
        add(z, HERE / "run_autograder", "run_autograder", 0o755)
        for f in tree_files(root):
            add(z, Path(root) / f, f"mmap-labs/{f}", 0o755 if os.access(Path(root) / f, os.X_OK) else 0o644)
            n += 1
        hidden = 0
        for d in hidden_dirs:
            for p in sorted(Path(d).glob("*.txt")):
                add(z, p, f"hidden/{p.name}", 0o600)
                hidden += 1
        if secret:
            info = zipfile.ZipInfo("secret")
            info.external_attr = (0o100600) << 16
            z.writestr(info, secret + b"\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, out)
    log(f"wrote {out}: setup.sh, run_autograder, mmap-labs/ ({n} files), hidden/ ({hidden} transcripts), "
        + ("the secret" if secret else "NO secret"))
    if not secret:
        log("WARNING: no GRADE_SECRET: on Gradescope every lab is graded on its public transcripts, "
            "which a submission can print; set GRADE_SECRET (or GRADE_SECRET_FILE) and build again")
    log("keep this zip to yourself: it holds the reference solutions" + (" and the secret" if secret else ""))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(labs.build_dir() / "gradescope" / "autograder.zip"))
    ap.add_argument("--expected", default=os.environ.get("EXPECTED", ""), help="hidden transcript folders, ':'-separated")
    a = ap.parse_args(argv)
    try:
        secret = variants.load_secret()
    except variants.SecretError as e:
        ap.error(str(e))
    hidden = [d for d in a.expected.split(":") if d]
    for d in hidden:
        if not Path(d).is_dir():
            ap.error(f"EXPECTED={d}: no such folder")
    build(a.out, labs.ROOT, hidden, secret)
    return 0


if __name__ == "__main__":
    sys.exit(main())
