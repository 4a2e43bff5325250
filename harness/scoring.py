"""scoring: the points of one variant, from its expected transcript and its runs.

    v = scoring.score(expected_body, runs, max_score)
    v.status, v.score, v.steps_ok, v.steps_total

A pure function: no files, no processes, no clock.  A run is anything with
stdout, returncode, timed_out, output_limited and leftovers (a runner.Run).

The rule (harness/GRADING.md says the same for instructors): a variant's
points are split evenly across its steps [1], [2] ... (the header counts for
nothing); a step counts when its normalised text is the transcript's in every
run.  Full marks also need the whole transcript, exit status 0 and nothing left
behind: otherwise at least one step's share is withheld.  A run that timed
out, crashed or hit the output limit ends the repetitions (the caller stops
there; see stops()).
"""
from dataclasses import dataclass, field

import mmaplabs

# Statuses where the program ran to its end but got something wrong (JUnit "failure");
# every other status but "passed" is an "error".
FAILURES = ("failed", "hygiene", "nondeterministic")


@dataclass(frozen=True)
class Verdict:
    status: str                  # passed, failed, hygiene, nondeterministic, timeout, output limit, crashed (SIGxxx)
    score: float
    steps_ok: int
    steps_total: int
    expected: str                # the normalised expected transcript
    actual: list                 # the normalised output of each run
    bad: int = None              # the run that timed out, crashed or hit the output limit
    nondet: int = None           # the first run that printed something else than run 0
    differs: int = None          # the first run whose output is not the transcript
    leftovers: list = field(default_factory=list)

    @property
    def first_differing_step(self):
        if self.differs is None:
            return None
        return mmaplabs.first_differing_step(self.expected, self.actual[self.differs])


def stops(run):
    """Whether a run ends the repetitions: no use running it again."""
    return run.timed_out or run.returncode < 0 or run.output_limited


def score(expected_body, runs, max_score):
    """The Verdict of one variant: expected_body is its transcript after the command line."""
    expected = mmaplabs.normalise(expected_body)
    exp_steps = [(n, t) for n, t in mmaplabs.steps(expected) if n > 0]
    actual = [mmaplabs.normalise(r.stdout) for r in runs]
    got = [dict(mmaplabs.steps(a)) for a in actual]
    ok = sum(1 for n, t in exp_steps if all(g.get(n) == t for g in got))
    bad = next((i for i, r in enumerate(runs) if stops(r)), None)
    nondet = next((i for i, a in enumerate(actual) if a != actual[0]), None)
    differs = next((i for i, a in enumerate(actual) if a != expected), None)
    leftovers = sorted({l for r in runs for l in r.leftovers})
    if bad is not None and runs[bad].timed_out:
        status = "timeout"
    elif bad is not None and runs[bad].output_limited:
        status = "output limit"
    elif bad is not None:
        status = f"crashed ({runs[bad].signal_name})"
    elif nondet is not None:
        status = "nondeterministic"
    elif differs is not None or any(r.returncode != 0 for r in runs):
        status = "failed"
    elif leftovers:
        status = "hygiene"
    else:
        status = "passed"
    total = max(len(exp_steps), 1)
    if status != "passed" and ok == total:
        ok -= 1                      # full marks need a clean, exact run
    return Verdict(status, round(max_score * ok / total, 2), ok, len(exp_steps), expected, actual,
                   bad, nondet, differs, leftovers)


def no_run(status, expected_body):
    """A variant that could not run (missing, compile error): 0 points."""
    return Verdict(status, 0.0, 0, len(mmaplabs.steps(expected_body)) - 1,
                   mmaplabs.normalise(expected_body), [])
