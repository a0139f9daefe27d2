"""Hostile inputs to every public entry point (issue #24, item 5): the result is right, or the
user's own exception propagates unchanged, or a DiffkitError names the argument -- never a raw
exception from inside diffkit, a silently wrong number or a hang. ``tests/fuzzing.py`` holds
the strategies and the property; ``benchmarks/soak_fuzz.py`` runs it 100,000 times.

5,000 examples in all, seeded (the same calls on every run): the CI budget is a minute.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings

from tests import fuzzing

COUNTS = {"api": 2700, "function": 800, "check": 1200, "analysis": 300}
STRATEGIES = {"api": fuzzing.api_cases, "function": fuzzing.function_cases,
              "check": fuzzing.check_cases, "analysis": lambda: fuzzing.st.one_of(
                  fuzzing.analysis_cases(), fuzzing.cli_cases())}


@pytest.mark.parametrize("part", list(COUNTS))
def test_hostile_inputs_never_escape_as_raw_errors_or_wrong_values(part):
    problems: list[str] = []

    @seed(20261205)
    @settings(max_examples=COUNTS[part], deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(STRATEGIES[part]())
    def run(case):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem = fuzzing.violation(case)
        if problem is not None:
            (known if fuzzing.known(problem) else problems).append(problem)

    known: list[str] = []
    run()
    assert not problems, "\n".join(problems[:20])
    if known:  # reported, not failed: fuzzing.KNOWN says what and why
        print(f"{len(known)} known fuzz violations ({part}): {known[0][:200]}")


def test_the_property_itself_catches_what_it_should():
    """The checker is not vacuous: a raw error, a wrong value, a changed user exception and
    an unnamed refusal are each reported."""
    import diffkit as dk

    def raw():
        raise TypeError("inside")

    assert "raw TypeError" in fuzzing.violation(fuzzing.Case("raw", raw))
    assert "wrong value" in fuzzing.violation(
        fuzzing.Case("wrong", lambda: np.ones(2), exact=lambda v: False))
    mine = fuzzing.UserError("mine")
    assert "became" in fuzzing.violation(fuzzing.Case(
        "changed", lambda: (_ for _ in ()).throw(dk.PointError("x")), user=mine))
    assert fuzzing.violation(fuzzing.Case("same", lambda: (_ for _ in ()).throw(mine),
                                          user=mine)) is None
    assert "does not name" in fuzzing.violation(fuzzing.Case(
        "unnamed", lambda: (_ for _ in ()).throw(dk.PointError("bad")), words=("rtol",)))
