"""Property-based agreement: every method matches the exact reference on random programs.

Programs come from :func:`tests.strategies.programs` (the registry's elementwise and
arithmetic primitives, inside their domains). Each available method's gradient is checked
with :func:`diffkit.testing.check_grad` against the exact derivative (sympy, 50 digits) under
the method's own default tolerance (:data:`diffkit.testing.DEFAULT_RTOL`). Derandomized, so CI
is reproducible; ``benchmarks/soak_agreement.py --examples N`` runs the same property longer.
Counterexamples found by the soak are pinned below as regression tests.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from diffkit import methods
from diffkit.analysis.reference import exact_gradient
from diffkit.spec import Function
from diffkit.testing import DEFAULT_RTOL, check_grad
from tests.strategies import RandomProgram, programs

EXAMPLES = int(os.environ.get("DIFFKIT_AGREEMENT_EXAMPLES", "2000"))
SKIP = {"manual"}  # random programs have no hand-written derivative
SYMBOLIC_EVERY = 4
AD_FORMS = {"reverse-mode", "forward-mode"}  # also run on the dnp Python form


def method_names() -> list[str]:
    return [m for m in methods.available() if m not in SKIP]


def disagreements(prog: RandomProgram, names: list[str] | None = None) -> list[str]:
    """Messages of every method that disagrees with the exact gradient (empty: all agree)."""
    spec = prog.spec()
    x = prog.point
    if prog.mp is not None:
        exact, scale = prog.reference()
    else:
        exact = exact_gradient(spec, x)
        scale = np.abs(exact)
    # rounding is relative to the size of the terms that cancel in the gradient, not to it;
    # and where the gradient vanishes, a step method's error is relative to f's own scale
    magnitude = float(np.max(scale, initial=0.0))
    with np.errstate(all="ignore"):
        f_scale = 1e-3 * max(1.0, float(np.max(np.abs(np.asarray(spec.call(x), dtype=float)))))
    out = []
    for name in names or method_names():
        if name == "complex-step" and not prog.analytic:
            continue
        forms = [("formula", spec)]
        if name in AD_FORMS:
            forms.append(("python", prog.python_spec()))
        for form, f in forms:
            try:
                value = np.asarray(methods.get(name).gradient(f, x).value, dtype=float)
            except Exception as exc:  # any error is a disagreement worth a regression test
                out.append(f"{name} ({form}) raised {type(exc).__name__}: {exc}")
                continue
            rtol = DEFAULT_RTOL[name]
            report = check_grad(spec, lambda *a, v=value: v, x, reference=lambda *a: exact,
                                rtol=rtol, atol=rtol * max(magnitude, f_scale, float(
                                    np.max(np.abs(exact), initial=0.0))))
            if not report.ok:
                out.append(f"{name} ({form}): {report.message()}")
    return out


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_every_method_agrees_with_the_exact_gradient(prog):
    names = method_names()
    if zlib.crc32(prog.text.encode()) % SYMBOLIC_EVERY:
        # symbolic compiles every new program (sympy diff + lambdify, ~25 ms): a quarter of
        # the examples keeps CI under its budget; the soak runs it on every program
        names = [n for n in names if n != "symbolic"]
    if not prog.analytic:
        # Richardson's first steps (up to 0.25) straddle kinks that the others never reach:
        # see the xfail regression below
        names = [n for n in names if n != "richardson"]
    problems = disagreements(prog, names)
    assert not problems, f"{prog}\n" + "\n".join(problems)


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_the_mpmath_chain_rule_reference_is_the_exact_gradient(prog):
    """The fast reference used above (mpmath, 40 digits) against sympy's exact derivative."""
    exact = exact_gradient(prog.spec(), prog.point)
    np.testing.assert_allclose(prog.reference_gradient(), exact, rtol=1e-13, atol=1e-300)


# ============================================================================ regressions
# Counterexamples found by benchmarks/soak_agreement.py, pinned (formula, point).

REGRESSIONS: list[tuple[str, list[float]]] = [
    ("maximum(abs(x1), x2*x2) + log(x2)", [0.5, 1.3]),
    # a vanishing gradient (sin(0) = 0 upstream): a step method's error is h f'', not 0
    ("cos((cosh(expm1(x1)) * sinh((x2 - x1))))", [0.493, 0.493]),
]


KNOWN: list[tuple[str, list[float], str, str]] = [
    # Richardson takes h0 = 0.25 for x1, straddles the kink of minimum at distance ~0.08 and
    # returns 0.378 (exact -0.444) with status "ok" and an error estimate of 0.010: the
    # estimate does not bound the error. Reported; the CI property skips Richardson on kinks.
    ("(((minimum((1.5 + x1), (arccos((arctan(x1) * 0.5)) + (x2 - 1.5))) + 0.75) ** 2.0)"
     " + (0.5 * x3))", [-1.2, -0.3, -1.2], "richardson",
     "Richardson straddles a kink with its first step and its error estimate misses it"),
    # the symbolic method raises sympy's "TypeError: Invalid comparison of non-real zoo" on a
    # maximum whose argument is constant after cancellation (soak, seed 2; minimal form here)
    ("maximum(x2 - x2 + 0.75, 0.3) + x1", [1.126, 1.182], "symbolic",
     "symbolic: sympy TypeError on maximum of an argument that cancels to a constant"),
    ("(square(maximum((((x2 - x2) + 0.75) ** (-1.0)), arccos((arctan(maximum(0.5, (0.5 + 0.5)))"
     " * 0.5)))) + (0.5 * x1))", [1.126, 1.182], "symbolic",
     "symbolic: sympy TypeError on maximum of an argument that cancels to a constant"),
]


@pytest.mark.parametrize(("text", "point", "method", "why"), KNOWN)
def test_known_disagreements(text, point, method, why):
    if method not in methods.available():
        pytest.skip(f"{method} not available")
    variables = [f"x{i + 1}" for i in range(len(point))]
    spec = Function.from_expr(text, variables=variables)
    prog = RandomProgram(text, tuple(variables), np.array(point), spec.fn, frozenset())
    problems = disagreements(prog, [method])
    if problems:
        pytest.xfail(why)


@pytest.mark.parametrize(("text", "point"), REGRESSIONS)
def test_regressions(text, point):
    variables = sorted({f"x{i + 1}" for i in range(len(point))})
    spec = Function.from_expr(text, variables=variables)
    prog = RandomProgram(text, tuple(variables), np.array(point), spec.fn, frozenset(
        {"absolute", "maximum"} if ("abs" in text or "max" in text or "min" in text)
        else set()))
    problems = disagreements(prog)
    assert not problems, "\n".join(problems)
