"""The stencil engine: Fornberg's weights (exact moment conditions at every order), their
application, the extrapolation and the pilot -- the last two the same on floats and on arrays."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import diffkit as dk
from diffkit.errors import OrderError
from diffkit.stencils import (
    EVEN_POWERS,
    FLOATS,
    MAX_ORDER,
    PILOT_OFFSETS,
    Extrapolation,
    along_axes,
    exact_steps,
    fornberg,
    fornberg_float,
    nodes,
    optimal_step,
    pilot_length,
    stencil,
)

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


# ----------------------------------------------------------------------------- the engine


def test_exact_steps_and_nodes_fit_the_points_actually_sampled():
    x = np.array([1.0, 3.0, 0.0])
    h = np.array([0.1, 1e-7, 1e-3])
    hs = exact_steps(x, h)
    np.testing.assert_array_equal((x + hs) - x, hs)  # representable: adding it is exact
    st = stencil("central", 1, 4)
    pts, w = nodes(st, x, h)  # nominal steps: x + s h rounds for x = 1 and 3
    actual = (pts - x[:, None]) / h[:, None]  # in units of h: -2.0000000000000018, ...
    assert np.any(actual != np.asarray(st.offsets, dtype=float))
    for k in range(st.deriv + st.order):  # the moment conditions at the offsets sampled
        moment = (w * h[:, None] * actual**k).sum(axis=1)
        np.testing.assert_allclose(moment, 1.0 if k == 1 else 0.0, atol=1e-12)


def test_along_axes_is_the_central_difference_method():
    from diffkit.catalog import rosenbrock

    e = rosenbrock(6)
    x = np.asarray(e.point, dtype=float)
    st = stencil("central", 1, 4)

    def sample(idx, val):
        pts = np.repeat(x[None, :], len(idx), axis=0)
        pts[np.arange(len(idx)), idx] = val
        return np.array([[float(e.function.call(p))] for p in pts])

    f0 = np.array([float(e.function.call(x))])
    h = exact_steps(x, np.full(x.size, 1e-3))
    got = along_axes(st, x, h, sample, f0)
    ref = dk.methods.CentralDifference(h=1e-3, order=4).gradient(e.function, x)
    np.testing.assert_array_equal(got[0], ref.value)


def _sequences():
    """Central differences of a few functions at halving steps (one entry each)."""
    out = []
    for fn, x, h0 in ((math.exp, 1.0, 0.25), (math.sin, 100.0, 0.5), (math.log, 2.0, 0.125),
                      (lambda t: 1 / (1 + 25 * t * t), 0.2, 0.0625)):
        rows = []
        for k in range(10):
            h = h0 / 2**k
            a, b = x - h, x + h
            fa, fb = fn(a), fn(b)
            width = (b - x) - (a - x)
            rows.append(((fb - fa) / width, 2 * EPS * max(abs(fa), abs(fb)) / width, h))
        out.append(rows)
    return out


def test_extrapolation_on_floats_and_on_arrays_is_one_algorithm():
    """The scalar Richardson path (FLOATS) and the batched one (ARRAYS) are the same code:
    the same candidate, estimate, step and stopping level, bit for bit."""
    seqs = _sequences()
    batch = Extrapolation(EVEN_POWERS, (len(seqs), 1))
    singles = [Extrapolation(EVEN_POWERS, lanes=FLOATS) for _ in seqs]
    stopped = [None] * len(seqs)
    for k in range(10):
        d = np.array([[s[k][0]] for s in seqs])
        noise = np.array([[s[k][1]] for s in seqs])
        active = batch.add(d, noise, np.array([s[k][2] for s in seqs])).copy()
        for i, ext in enumerate(singles):
            if stopped[i] is None and not ext.add(*seqs[i][k]):
                stopped[i] = k
        for i in range(len(seqs)):  # an entry stops at the same level on both
            assert bool(active[i]) == (stopped[i] is None), (i, k)
        if not active.any():
            break
    for i, ext in enumerate(singles):
        assert (ext.value, ext.step) == (batch.value[i, 0], batch.step[i])
        assert ext.error == pytest.approx(batch.error[i, 0], rel=1e-15, abs=0)  # hypot vs sqrt
        assert abs(ext.value - {0: math.e, 1: math.cos(100.0), 2: 0.5,
                                3: -10 / (1 + 25 * 0.04) ** 2}[i]) <= ext.error


@pytest.mark.parametrize("kind", ["symmetric", "central", "forward", "backward"])
def test_pilot_length_on_floats_and_on_arrays_agree(kind):
    offsets = PILOT_OFFSETS[kind]
    cases = [(math.exp, 1.0, 2.0**-6), (math.sin, 1e6 * 3e-6, 2.0**-10),
             (lambda t: t - ((3.0 + t) - 3.0), -0.704, 2.0**-7),  # flat to rounding
             (lambda t: 3 * t * t + t, 2.0, 2.0**-5)]  # f''' = 0: no truncation visible
    for fn, x, h in cases:
        v = [fn(x + s * h) for s in offsets]
        noise = 2 * EPS * max(abs(fn(x)), *map(abs, v))
        got = pilot_length(kind, v, fn(x), h, noise, FLOATS)
        arr = pilot_length(kind, [np.array([[t]]) for t in v], np.array([[fn(x)]]),
                           np.array([h]), np.array([[noise]]))
        for a, b in zip(got, arr, strict=True):
            assert (math.isnan(a) and np.isnan(b[0])) or a == b[0], (fn, kind, got, arr)


def test_extrapolation_needs_a_shape_for_arrays():
    with pytest.raises(ValueError, match=r"needs shape=\(entries, outputs\)"):
        Extrapolation(EVEN_POWERS)
