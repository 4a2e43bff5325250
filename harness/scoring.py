"""scoring: the points of one variant, from its expected transcript and its runs.

    v = scoring.score(expected_body, runs, max_cents, free={2, 5}, missing=[...])
    v.status, v.cents, v.score, v.steps_ok, v.steps_total
    scoring.allocate(1000, [1, 1, 1])      # -> [334, 333, 333]

A pure function: no files, no processes, no clock.  A run is anything with
stdout, returncode, timed_out, output_limited and leftovers (a runner.Run).

Points are integer hundredths ("cents"), split by largest remainder, so the
parts of a whole always add up to it exactly: a lab's 1000 over its variants,
a variant's share over its steps.  A perfect lab is 10.00/10, a perfect tree
160.00/160, whatever the number of variants or steps.

The rule (harness/GRADING.md says the same for instructors): a variant's
points are split across its steps [1], [2] ... (the header counts for
nothing); a step counts when its normalised text is the transcript's in every
run.  Steps of a drawn variant whose text is the same in a public transcript
(`free`: a program that prints the public transcripts gets them right) share
only FREE_SHARE of the variant; the steps that follow from the drawn
parameters share the rest.  Full marks also need the whole transcript, exit
status 0 and nothing left behind: otherwise the largest step share is
withheld.  A run whose trace lacks the lab's signature (`missing`: what was
not done) earns 0 points.

The same code must get the same score, so luck may not decide anything: a
variant whose runs differ (output, exit status, timed out or not) earns 0
points (status nondeterministic): which steps happened to agree in a few runs
of a racy program would be luck.  Every variant runs `repeat` times; only a
timeout (costly) ends the repetitions early, and not the first one: a run
that timed out is run once more (more_runs()), so a program that hangs only
sometimes is caught as nondeterministic instead of scored on one run.
"""
from dataclasses import dataclass, field
from fractions import Fraction

import mmaplabs

# Statuses where the program ran to its end but got something wrong (JUnit "failure");
# every other status but "passed" is an "error".
FAILURES = ("failed", "hygiene", "nondeterministic", "no-mechanism")
FREE_SHARE = Fraction(5, 100)


def allocate(total, weights):
    """total (an int) split in proportion to weights, as integers adding up to
    total exactly (largest remainder; ties go to the earlier part)."""
    weights = [Fraction(w) for w in weights]
    wsum = sum(weights)
    if not weights:
        return []
    if wsum == 0:
        weights, wsum = [Fraction(1)] * len(weights), Fraction(len(weights))
    quotas = [total * w / wsum for w in weights]
    parts = [int(q) for q in quotas]           # floor: the quotas are not negative
    rest = total - sum(parts)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class Verdict:
    status: str                  # passed, failed, hygiene, nondeterministic, no-mechanism, timeout,
                                 # output limit, crashed (SIGxxx), grader-error
    cents: int
    steps_ok: int
    steps_total: int
    expected: str                # the normalised expected transcript
    actual: list                 # the normalised output of each run
    bad: int = None              # the run that timed out, crashed or hit the output limit
    nondet: int = None           # the first run that printed something else than run 0
    differs: int = None          # the first run whose output is not the transcript
    leftovers: list = field(default_factory=list)
    missing: list = field(default_factory=list)   # the signature's calls no run made
    free: frozenset = frozenset()                 # steps worth FREE_SHARE together
    grader_error: str = None

    @property
    def score(self):
        return self.cents / 100

    @property
    def first_differing_step(self):
        if self.differs is None:
            return None
        return mmaplabs.first_differing_step(self.expected, self.actual[self.differs])


def stops(run):
    """Whether a run went wrong before its end: timed out, crashed or hit the output limit."""
    return run.timed_out or run.returncode < 0 or run.output_limited


def more_runs(runs, repeat):
    """Whether to run a variant again: until `repeat` runs, or two timeouts."""
    return len(runs) < repeat and sum(1 for r in runs if r.timed_out) < 2


def _outcome(run):
    return mmaplabs.normalise(run.stdout), run.returncode, bool(run.timed_out)


def step_shares(step_numbers, max_cents, free=()):
    """{step: cents} for a variant worth max_cents."""
    free = set(free) & set(step_numbers)
    dyn = [n for n in step_numbers if n not in free]
    if not free or not dyn:
        weights = [1] * len(step_numbers)
    else:
        weights = [FREE_SHARE / len(free) if n in free else (1 - FREE_SHARE) / len(dyn) for n in step_numbers]
    return dict(zip(step_numbers, allocate(max_cents, weights)))


def score(expected_body, runs, max_cents, free=(), missing=(), grader_error=None):
    """The Verdict of one variant: expected_body is its transcript after the
    command line; max_cents its points in hundredths."""
    expected = mmaplabs.normalise(expected_body)
    exp_steps = [(n, t) for n, t in mmaplabs.steps(expected) if n > 0]
    actual = [mmaplabs.normalise(r.stdout) for r in runs]
    got = [dict(mmaplabs.steps(a)) for a in actual]
    ok_steps = [n for n, t in exp_steps if runs and all(g.get(n) == t for g in got)]
    bad = next((i for i, r in enumerate(runs) if stops(r)), None)
    nondet = next((i for i, r in enumerate(runs) if _outcome(r) != _outcome(runs[0])), None)
    differs = next((i for i, a in enumerate(actual) if a != expected), None)
    leftovers = sorted({l for r in runs for l in r.leftovers})
    missing = list(missing)
    if grader_error:
        status = "grader-error"
    elif nondet is not None:
        status = "nondeterministic"
    elif bad is not None and runs[bad].timed_out:
        status = "timeout"
    elif bad is not None and runs[bad].output_limited:
        status = "output limit"
    elif bad is not None:
        status = f"crashed ({runs[bad].signal_name})"
    elif missing:
        status = "no-mechanism"
    elif differs is not None or any(r.returncode != 0 for r in runs):
        status = "failed"
    elif leftovers:
        status = "hygiene"
    else:
        status = "passed"
    numbers = [n for n, _ in exp_steps] or [0]
    shares = step_shares(numbers, max_cents, free)
    counted = [n for n in ok_steps if n in shares]
    if status != "passed" and len(counted) == len(numbers):
        withheld = max(counted, key=lambda n: (shares[n], n))   # full marks need a clean, exact run
        counted.remove(withheld)
    cents = 0 if (missing or grader_error or nondet is not None) else sum(shares[n] for n in counted)
    if status == "passed":
        cents = max_cents
    return Verdict(status, cents, len(counted), len(exp_steps), expected, actual,
                   bad, nondet, differs, leftovers, missing, frozenset(free), grader_error)


def no_run(status, expected_body, grader_error=None):
    """A variant that could not run (missing, compile error, grader-error): 0 points."""
    return Verdict(status, 0, 0, len(mmaplabs.steps(expected_body)) - 1,
                   mmaplabs.normalise(expected_body), [], grader_error=grader_error)
