"""Stencil weights from Fornberg's recursion: exact moment conditions at every order."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from diffkit.errors import OrderError
from diffkit.stencils import MAX_ORDER, fornberg, fornberg_float, optimal_step, stencil

EPS = np.finfo(float).eps

ALL = [(kind, d, p) for kind in ("central", "forward", "backward") for d in (1, 2)
       for p in (range(2, MAX_ORDER + 1, 2) if kind == "central" else range(1, MAX_ORDER + 1))]


def test_known_weights():
    s = stencil("central", 1, 2)
    assert s.offsets == (-1, 1)
    assert s.weights == (Fraction(-1, 2), Fraction(1, 2))
    assert s.error_coef == Fraction(1, 6)
    s = stencil("central", 2, 2)
    assert (s.offsets, s.weights) == ((-1, 0, 1), (1, -2, 1))
    assert stencil("forward", 1, 1).weights == (-1, 1)
    assert stencil("backward", 1, 1).offsets == (0, -1)
    assert [str(w) for w in stencil("forward", 2, 2).weights] == ["2", "-5", "4", "-1"]


@pytest.mark.parametrize(("kind", "d", "p"), ALL)
def test_moment_conditions_hold_exactly(kind, d, p):
    """sum w s^k = k! [k == d] for k < d + p: the stencil is exact on polynomials of degree
    < d + p, and the first non-vanishing moment is the error coefficient."""
    st = stencil(kind, d, p)
    for k in range(d + p):
        moment = sum((w * Fraction(s) ** k for s, w in zip(st.offsets, st.weights, strict=True)),
                     Fraction(0))
        assert moment == (math.factorial(d) if k == d else 0), (k, moment)
    # on x^(d+p) at any point, the error is exactly C h^p (d+p)!
    a, h = Fraction(3, 7), Fraction(1, 5)
    q = d + p
    est = sum((w * (a + s * h) ** q for s, w in zip(st.offsets, st.weights, strict=True)),
              Fraction(0)) / h**d
    exact = math.factorial(q) // math.factorial(q - d) * a ** (q - d)
    assert est - exact == st.error_coef * h**p * math.factorial(q)


def test_high_order_weights_do_not_break_down():
    """The Vandermonde solve loses digits at high order (findiff #70); exact rationals don't."""
    st = stencil("central", 1, MAX_ORDER)
    x = 0.7
    for h, tol in ((0.3, 1e-13), (0.2, 1e-14)):
        est = sum(float(w) * np.exp(x + s * h) for s, w in zip(st.offsets, st.weights,
                                                                 strict=True)) / h
        assert abs(est / np.exp(x) - 1) < tol


def test_fornberg_float_matches_exact_and_handles_any_grid():
    for kind, d, p in [("central", 1, 6), ("forward", 2, 3), ("backward", 1, 4)]:
        st = stencil(kind, d, p)
        w = fornberg_float(np.array([st.offsets], dtype=float), d)[0]
        np.testing.assert_allclose(w, st.weights_float, rtol=1e-13, atol=1e-13)
    z = np.array([[-1.3, -0.2, 0.0, 0.9, 2.1]])
    w = fornberg_float(z, 1)[0]
    for k in range(5):
        assert sum(w * z[0] ** k) == pytest.approx(1.0 if k == 1 else 0.0, abs=1e-12)
    assert [str(c) for c in fornberg([Fraction(-1, 2), 0, 1], 1)] == ["-4/3", "1", "1/3"]


def test_optimal_step_is_the_textbook_formula():
    assert optimal_step(stencil("central", 1, 2), 1.0) == pytest.approx((3 * EPS) ** (1 / 3))
    assert optimal_step(stencil("forward", 1, 1), 2.0) == pytest.approx(2 * np.sqrt(EPS) * 2)
    # higher orders take bigger steps: eps^(1/(p+1))
    hs = [optimal_step(stencil("central", 1, p), 1.0) for p in (2, 4, 6, 8)]
    assert hs == sorted(hs)


@pytest.mark.parametrize(("kind", "order", "match"), [
    ("central", 3, r"order=3 is not available for central differences, whose orders are "
                   r"even \(2, 4, \.\.\., 16\); use order=4, or a one-sided scheme"),
    ("central", 0, r"order=0 is not available for central differences"),
    ("forward", 0, r"order=0 is out of range; choose 1 <= order <= 16"),
    ("backward", 17, r"order=17 is out of range; choose 1 <= order <= 16"),
    ("forward", 2.5, r"order=2.5 is not an integer; pass e.g. order=2"),
    ("forward", True, r"order=True is not an integer"),
])
def test_bad_orders(kind, order, match):
    with pytest.raises(OrderError, match=match):
        stencil(kind, 1, order)


def test_bad_fornberg_input():
    with pytest.raises(OrderError, match="offsets must be distinct"):
        fornberg([0, 1, 1], 1)
    with pytest.raises(OrderError, match="derivative 2 needs at least 3 points, got 2"):
        fornberg([0, 1], 2)
    with pytest.raises(OrderError, match="kind='sideways' is not one of central"):
        stencil("sideways", 1, 2)
