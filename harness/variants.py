"""variants: each student's own variant of each lab (issue 9).

    secret = variants.load_secret()                 # GRADE_SECRET / GRADE_SECRET_FILE, or None
    seed = variants.student_seed(secret, "alice")   # HMAC-SHA256(secret, student name)
    params = variants.draw(spec, seed, lab.slug, 1) # {"map-pages": 3, ...} (labspec.draw)
    variants.free_steps(expected, publics)          # steps a printed public transcript gets right
    cache = variants.ReferenceCache(folder)         # the reference's transcripts, per (lab, args, tree)

A lab whose lab.toml has [params] is graded, when the grader has a secret, on
variants drawn for each student: the values come from a random generator
seeded with HMAC-SHA256(secret, student name), the lab's slug and the
variant's number, so two students get different variants, a regrade the same
ones, and nobody without the secret can tell which.  The expected transcript
of a drawn variant is the reference solution's output for it, run by the
grader in the same sandbox (grade.py); a draw whose transcript reads like a
public one is drawn again.

The secret itself is never written anywhere by the grader; secret_id() (an
HMAC of a constant) stands for it in version hashes and cache keys.
Standard library only.
"""
import hashlib
import hmac
import json
import os
import random
from pathlib import Path

import labspec
import mmaplabs

SECRET_ENV = "GRADE_SECRET"
SECRET_FILE_ENV = "GRADE_SECRET_FILE"
REDRAWS = 20          # draws of one variant before giving up on one unlike the public transcripts


class SecretError(Exception):
    pass


def load_secret(path=None):
    """The instructor's secret (bytes) from a file, GRADE_SECRET_FILE or
    GRADE_SECRET; None when there is none."""
    path = path or os.environ.get(SECRET_FILE_ENV)
    if path:
        try:
            data = Path(path).read_bytes().strip()
        except OSError as e:
            raise SecretError(f"{SECRET_FILE_ENV}={path}: {e.strerror}") from None
        if not data:
            raise SecretError(f"{path} is empty")
        return data
    value = os.environ.get(SECRET_ENV, "")
    return value.encode() if value else None


def secret_id(secret):
    """What stands for the secret in hashes (never the secret)."""
    if not secret:
        return "no-secret"
    return hmac.new(secret, b"mmap-labs grader version", hashlib.sha256).hexdigest()[:16]


def student_seed(secret, student):
    return hmac.new(secret, student.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()


def rng(seed, slug, k, attempt=0):
    h = hashlib.sha256(seed + b"\0" + slug.encode() + b"\0%d\0%d" % (k, attempt)).digest()
    return random.Random(int.from_bytes(h, "big"))


def draw(spec, seed, slug, k, attempt=0):
    """Parameters of variant k (1, 2 ...) of a lab for the student whose seed this is."""
    return labspec.draw(spec, rng(seed, slug, k, attempt))


def step_texts(body):
    return {n: t for n, t in mmaplabs.steps(mmaplabs.normalise(body)) if n > 0}


def free_steps(body, public_bodies):
    """The steps of a transcript that read exactly the same (normalised) in
    some public transcript of its lab: a program that prints the public
    transcripts gets them right without doing anything."""
    mine = step_texts(body)
    pubs = [step_texts(b) for b in public_bodies]
    return frozenset(n for n, t in mine.items() if any(p.get(n) == t for p in pubs))


def like_public(body, public_bodies):
    """Whether a drawn transcript gives a printer of the public ones
    everything: the same as one of them, or no step of its own."""
    norm = mmaplabs.normalise(body)
    if any(norm == mmaplabs.normalise(b) for b in public_bodies):
        return True
    mine = step_texts(body)
    return bool(mine) and free_steps(body, public_bodies) == frozenset(mine)


class ReferenceCache:
    """The reference solution's runs, one JSON file per key in a folder only
    the grader may read (the transcripts of drawn variants are as secret as
    hidden ones)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, key):
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def get(self, key):
        try:
            data = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return data if data.get("key") == key else None

    def put(self, key, value):
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        tmp = self._path(key).with_suffix(".tmp%d" % os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**value, "key": key}, f)
        os.replace(tmp, self._path(key))
