"""The reductions and statistics surface, the way people write numpy: each function as
``np.X(x)``, ``dnp.X(x)`` and the ndarray method where numpy has one (``x.std(ddof=1)``),
under reverse mode, forward mode, the symbolic method and (where analytic) the complex step.

Ported from the per-function checks of autograd's suite (``tests/test_numpy.py``: max, min,
sum, mean, prod, cumsum, trace, var/std with ddof, ties of max and min; ``test_systematic.py``'s
``stat_check`` axis/keepdims combinations): the same functions, other inputs and code. The
reference is exact: numpy's own function on mpmath numbers (object arrays at 40 digits),
differentiated by a central difference with h = 1e-15 (truncation ~1e-30), independent of
diffkit's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath as mp
import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.core import NUMPY_TO_PRIMITIVE, REGISTRY
from diffkit.errors import DomainError, NonAnalyticError, UnsupportedPrimitiveError
from diffkit.methods import Symbolic

AD = ("reverse-mode", "forward-mode", "symbolic")
RTOL, ATOL = 1e-10, 1e-12

V5 = np.array([0.3, -0.7, 1.2, 0.5, -1.6])
M6 = np.array([0.9, -0.3, 0.2, 0.4, 1.1, -0.5])  # a 2x3 matrix, distinct entries
P6 = np.array([0.4, 0.9, 1.7, 1.3, 0.6, 2.2])
T12 = np.array([0.35, -1.2, 0.8, 1.45, -0.15, 0.6, -0.9, 1.05, 0.25, -0.4, 1.7, 0.05])
W3 = np.array([0.2, 0.5, 0.3])
W6 = np.array([[0.2, 0.5, 0.3], [1.0, 0.1, 0.6]])


def _m(x: Any) -> Any:
    return x.reshape(2, 3)


def _t(x: Any) -> Any:
    return x.reshape(2, 3, 2)


def _mp_sqrt(v: Any) -> Any:
    return np.frompyfunc(mp.sqrt, 1, 1)(v) if isinstance(v, np.ndarray) else mp.sqrt(v)


# ---------------------------------------------------------------------------- the exact reference


def _mp_point(x: np.ndarray, i: int = -1, h: Any = 0) -> np.ndarray:
    out = np.array([mp.mpf(float(v)) for v in x], dtype=object)
    if i >= 0:
        out[i] += h
    return out


def _flat(value: Any) -> list[Any]:
    return list(np.asarray(value, dtype=object).ravel())


def exact_jacobian(ref: Any, x: np.ndarray) -> np.ndarray:
    """d ref(x).ravel() / dx at 40 digits: ``ref`` is numpy's function on mpmath numbers."""
    with mp.workdps(40):
        h = mp.mpf("1e-15")
        cols = []
        for i in range(x.size):
            up, down = _flat(ref(_mp_point(x, i, h))), _flat(ref(_mp_point(x, i, -h)))
            cols.append([(a - b) / (2 * h) for a, b in zip(up, down, strict=True)])
        return np.array([[float(c) for c in col] for col in cols]).T


def exact_hessian(ref: Any, x: np.ndarray) -> np.ndarray:
    """The Hessian of a scalar ``ref`` at 50 digits (a four-point central difference)."""
    with mp.workdps(50):
        h = mp.mpf("1e-12")
        n = x.size
        hess = np.zeros((n, n))

        def f(i: int, si: int, j: int, sj: int) -> Any:
            p = _mp_point(x)
            p[i] += si * h
            p[j] += sj * h
            return ref(p)

        for i in range(n):
            for j in range(n):
                hess[i, j] = float((f(i, 1, j, 1) - f(i, 1, j, -1) - f(i, -1, j, 1)
                                    + f(i, -1, j, -1)) / (4 * h * h))
        return hess


# ---------------------------------------------------------------------------- the surface table


@dataclass(frozen=True)
class Case:
    name: str
    np_form: Any  # np.X(x), as users write it
    dnp_form: Any
    method_form: Any  # the ndarray method, or None where numpy has none
    ref: Any  # the same function on an object array of mpmath numbers
    x: np.ndarray
    analytic: bool = True  # the complex step applies

    def form(self, route: str) -> Any:
        return {"np": self.np_form, "dnp": self.dnp_form, "method": self.method_form}[route]


def _case(name: str, fn: Any, x: np.ndarray, *, prep: Any = None, method: Any = None,
          ref: Any = None, analytic: bool = True, **kwargs: Any) -> Case:
    """``np.fn(prep(x), **kwargs)``, ``dnp.fn(...)``, ``prep(x).method(**kwargs)``."""
    prep = prep or (lambda x: x)
    np_fn, dnp_fn = getattr(np, fn), getattr(dnp, fn)
    return Case(
        name,
        lambda x: np_fn(prep(x), **kwargs),
        lambda x: dnp_fn(prep(x), **kwargs),
        None if method is None else (lambda x: getattr(prep(x), method)(**kwargs)),
        ref or (lambda x: np_fn(prep(x), **kwargs)),
        x, analytic,
    )


def _std_ref(prep: Any = None, **kwargs: Any) -> Any:
    prep = prep or (lambda x: x)
    return lambda x: _mp_sqrt(np.var(prep(x), **kwargs))


CASES = [
    # sum, mean, prod (autograd: test_sum_1..3, with_axis_tuple; mean_1..3; prod_1..4)
    _case("sum", "sum", M6, method="sum"),
    _case("sum(axis=0)", "sum", M6, prep=_m, method="sum", axis=0),
    _case("sum(axis=0, keepdims)", "sum", M6, prep=_m, method="sum", axis=0, keepdims=True),
    _case("sum(axis=(1, 2))", "sum", T12, prep=_t, method="sum", axis=(1, 2)),
    _case("mean", "mean", M6, method="mean"),
    _case("mean(axis=0)", "mean", M6, prep=_m, method="mean", axis=0),
    _case("mean(axis=0, keepdims)", "mean", M6, prep=_m, method="mean", axis=0, keepdims=True),
    _case("mean(axis=(0, 2))", "mean", T12, prep=_t, method="mean", axis=(0, 2)),
    _case("prod", "prod", P6, method="prod"),
    _case("prod(axis=0)", "prod", P6, prep=_m, method="prod", axis=0),
    _case("prod(axis=0, keepdims)", "prod", P6, prep=_m, method="prod", axis=0, keepdims=True),
    # max, min (autograd: test_max, max_axis, max_axis_keepdims; the same for min)
    _case("max", "max", M6, method="max", analytic=False),
    _case("max(axis=1)", "max", T12, prep=_t, method="max", axis=1, analytic=False),
    _case("max(axis=1, keepdims)", "max", T12, prep=_t, method="max", axis=1, keepdims=True,
          analytic=False),
    _case("min", "min", M6, method="min", analytic=False),
    _case("min(axis=1)", "min", T12, prep=_t, method="min", axis=1, analytic=False),
    _case("min(axis=(0, 2), keepdims)", "min", T12, prep=_t, method="min", axis=(0, 2),
          keepdims=True, analytic=False),
    _case("amax(axis=0)", "amax", M6, prep=_m, analytic=False, axis=0),
    _case("amin", "amin", M6, analytic=False),
    # var, std (autograd: test_var_ddof, test_std_ddof combinations)
    _case("var", "var", V5, method="var", analytic=False),
    _case("var(ddof=1)", "var", V5, method="var", ddof=1, analytic=False),
    _case("var(axis=1, ddof=2, keepdims)", "var", T12, prep=lambda x: x.reshape(3, 4),
          method="var", axis=1, ddof=2, keepdims=True, analytic=False),
    _case("var(axis=(0, 2), ddof=1)", "var", T12, prep=_t, method="var", axis=(0, 2), ddof=1,
          analytic=False),
    _case("std", "std", V5, method="std", ref=_std_ref(), analytic=False),
    _case("std(ddof=1)", "std", V5, method="std", ref=_std_ref(ddof=1), ddof=1,
          analytic=False),
    _case("std(axis=-1, keepdims)", "std", T12, prep=_t, method="std",
          ref=_std_ref(_t, axis=-1, keepdims=True), axis=-1, keepdims=True, analytic=False),
    _case("std(axis=(0, 1), ddof=1)", "std", T12, prep=_t, method="std",
          ref=_std_ref(_t, axis=(0, 1), ddof=1), axis=(0, 1), ddof=1, analytic=False),
    # average
    _case("average(weights)", "average", V5[:3], weights=W3),
    _case("average(axis=1, weights 1-d)", "average", M6, prep=_m, axis=1, weights=W3),
    _case("average(axis=0, weights 2-d)", "average", M6, prep=_m, axis=0, weights=W6),
    _case("average(axis=1)", "average", M6, prep=_m, axis=1),
    # cumsum, cumprod (autograd: test_cumsum_axis0, axis1, 1d, no_axis)
    _case("cumsum(axis=0)", "cumsum", M6, prep=_m, method="cumsum", axis=0),
    _case("cumsum(axis=1)", "cumsum", M6, prep=_m, method="cumsum", axis=1),
    _case("cumsum 1-d", "cumsum", V5, method="cumsum"),
    _case("cumsum(no axis)", "cumsum", M6, prep=_m, method="cumsum"),
    _case("cumprod 1-d", "cumprod", V5, method="cumprod"),
    _case("cumprod(axis=1)", "cumprod", M6, prep=_m, method="cumprod", axis=1),
    _case("cumprod(no axis)", "cumprod", M6, prep=_m, method="cumprod"),
    # median, ptp
    _case("median (odd)", "median", V5, analytic=False),
    _case("median (even)", "median", M6, analytic=False),
    _case("median(axis=1)", "median", M6, prep=_m, axis=1, analytic=False),
    _case("median(axis=0, keepdims)", "median", T12, prep=lambda x: x.reshape(4, 3), axis=0,
          keepdims=True, analytic=False),
    _case("ptp", "ptp", V5, analytic=False),
    _case("ptp(axis=0)", "ptp", M6, prep=_m, axis=0, analytic=False),
    # trace (autograd: test_trace, trace2, trace_extradims, with offsets)
    _case("trace", "trace", T12, prep=lambda x: x.reshape(3, 4), method="trace"),
    _case("trace(offset=1)", "trace", T12, prep=lambda x: x.reshape(3, 4), method="trace",
          offset=1),
    _case("trace(offset=-1)", "trace", T12, prep=lambda x: x.reshape(4, 3), method="trace",
          offset=-1),
    _case("trace 3-d", "trace", T12, prep=_t, method="trace"),
    _case("trace(axis1=2, axis2=1)", "trace", T12, prep=_t, method="trace", axis1=2, axis2=1),
    # NaN-ignoring reductions (on numbers: NaN entries are tested below)
    _case("nansum(axis=1)", "nansum", M6, prep=_m, axis=1),
    _case("nanmean", "nanmean", M6),
    _case("nanmax(axis=0)", "nanmax", M6, prep=_m, axis=0, analytic=False),
    _case("nanmin", "nanmin", M6, analytic=False),
    _case("nanprod(axis=0)", "nanprod", P6, prep=_m, axis=0, ref=lambda x: np.prod(_m(x), axis=0)),
    _case("nanvar(ddof=1)", "nanvar", V5, ddof=1, ref=lambda x: np.var(x, ddof=1),
          analytic=False),
    _case("nanstd(axis=1)", "nanstd", M6, prep=_m, axis=1, ref=_std_ref(_m, axis=1),
          analytic=False),
    _case("nancumsum(axis=1)", "nancumsum", M6, prep=_m, axis=1,
          ref=lambda x: np.cumsum(_m(x), axis=1)),
    _case("nancumprod", "nancumprod", V5, ref=np.cumprod),
    _case("nanmedian(axis=0)", "nanmedian", M6, prep=_m, axis=0,
          ref=lambda x: np.median(_m(x), axis=0), analytic=False),
]
ROUTES = ("np", "dnp", "method")


def _params():
    for case in CASES:
        for route in ROUTES:
            if case.form(route) is None:
                continue
            for method in (*AD, "complex-step"):
                if method == "complex-step" and not case.analytic:
                    continue
                if method == "symbolic" and route == "dnp":
                    continue  # the same primitive as np.X: reverse and forward cover the route
                yield pytest.param(case, route, method, id=f"{case.name}-{route}-{method}")


_EXACT: dict[str, np.ndarray] = {}


def _exact(case: Case) -> np.ndarray:
    if case.name not in _EXACT:
        _EXACT[case.name] = exact_jacobian(case.ref, case.x)
    return _EXACT[case.name]


@pytest.mark.parametrize(("case", "route", "method"), list(_params()))
def test_reduction(case, route, method):
    jac = dk.jacobian(dk.Function(case.form(route), name=case.name), case.x, method=method)
    np.testing.assert_allclose(jac, _exact(case), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", [c for c in CASES if not c.analytic], ids=lambda c: c.name)
def test_the_complex_step_refuses_what_is_not_analytic(case):
    with pytest.raises(NonAnalyticError, match="is not complex-analytic"):
        dk.jacobian(dk.Function(case.np_form), case.x, method="complex-step")


# ---------------------------------------------------------------------------- second order

HESSIANS = {
    "var(ddof=1)": (lambda x: np.var(x, ddof=1), lambda x: np.var(x, ddof=1), V5),
    "std": (lambda x: np.std(x), lambda x: mp.sqrt(np.var(x)), V5),
    "x.std(axis=0) . w": (lambda x: np.sum(_m(x).std(axis=0) * W3),
                          lambda x: np.sum(_mp_sqrt(np.var(_m(x), axis=0)) * W3), M6),
    "prod": (lambda x: np.prod(x), np.prod, P6[:4]),
    "cumprod . w": (lambda x: np.cumprod(x) @ np.arange(1.0, 6.0),
                    lambda x: np.cumprod(x) @ np.arange(1.0, 6.0), V5),
    "average, traced weights": (lambda x: np.average(x[:3], weights=x[2:] ** 2),
                                lambda x: np.average(x[:3], weights=x[2:] ** 2), V5),
    "median**2": (lambda x: np.median(x) ** 2, lambda x: np.median(x) ** 2, V5),
    "max * x[0]": (lambda x: np.max(x) * x[0], lambda x: np.max(x) * x[0], V5),
    "trace(A A)": (lambda x: np.trace(_m(x) @ _m(x).T), lambda x: np.trace(_m(x) @ _m(x).T),
                   M6),
}


@pytest.mark.parametrize("method", AD)
@pytest.mark.parametrize("name", list(HESSIANS))
def test_hessian(name, method):
    fn, ref, x = HESSIANS[name]
    got = dk.hessian(dk.Function(fn, name=name), x, method=method)
    np.testing.assert_allclose(got, exact_hessian(ref, x), rtol=1e-8, atol=1e-9)


# ---------------------------------------------------------------------------- max and min


def test_symbolic_max_of_a_weighted_vector():
    """The issue: np.max(x * w) raised DomainError under the symbolic method. Its rule selected
    the maximum with Eq(x_i * w_i, Max(...)), which sympy rewrites to Eq(x_i, Max(...)/w_i),
    and compiled float code found no entry equal to the maximum (a division by zero)."""
    rng = np.random.default_rng(0)
    for n in (2, 3, 5):
        w, x = rng.normal(size=n), rng.normal(size=n)
        for fn in (np.max, np.min):
            f = dk.Function(lambda x, fn=fn, w=w: fn(x * w))
            exact = np.zeros(n)
            k = int(np.argmax(x * w) if fn is np.max else np.argmin(x * w))
            exact[k] = w[k]
            for strategy in ("dag", "tree"):
                got = dk.gradient(f, x, method=Symbolic(strategy=strategy))
                np.testing.assert_allclose(got, exact, rtol=RTOL, atol=ATOL)


def test_symbolic_max_is_written_with_steps_not_equations():
    expr = Symbolic().derivative_expression(dk.Function(lambda x: np.max(x)), shape=(2,))
    text = str(expr)
    assert "Heaviside(x_0 - x_1)" in text
    assert "Eq(" not in text
    assert "Piecewise" not in text


@pytest.mark.parametrize("method", AD)
def test_ties_split_the_derivative_evenly(method):
    """autograd: test_max_equal_values, test_max_equal_values_2d, test_min_3_way_equality."""
    def grad(f, x):
        return dk.derivative(dk.Function(f), x, method=method)

    assert grad(lambda x: dnp.max(dnp.array([x, x])), 1.0) == pytest.approx(1.0)
    def row(x):
        v = x[0]
        return dnp.max(dnp.array([[v, v], [v, 0.5]]), axis=1)

    np.testing.assert_allclose(dk.jacobian(dk.Function(row), [1.0], method=method).ravel(),
                               [1.0, 1.0])
    np.testing.assert_allclose(dk.jacobian(dk.Function(row), [-1.0], method=method).ravel(),
                               [1.0, 0.0])
    def col(x):
        v = x[0]
        return dnp.min(dnp.array([[v, v, v], [v, 0.5, 0.5], [0.5, 0.5, 0.5], [v, v, 0.5]]),
                       axis=0)

    np.testing.assert_allclose(dk.jacobian(dk.Function(col), [1.0], method=method).ravel(),
                               [0.0, 0.0, 0.0])
    np.testing.assert_allclose(dk.jacobian(dk.Function(col), [-1.0], method=method).ravel(),
                               [1.0, 1.0, 1.0])
    # three entries tied at the maximum of a vector share it in thirds
    np.testing.assert_allclose(
        dk.gradient(dk.Function(lambda x: np.max(x)), [0.2, 0.7, 0.7, 0.7], method=method),
        [0.0, 1 / 3, 1 / 3, 1 / 3], rtol=RTOL)


def test_the_tree_strategy_compiles_steps_and_deltas():
    """sympy.diff of Max and of the median's closed form gives Heaviside steps and, one order
    up, DiracDelta: compiled code evaluates a delta as 0 away from its jump and refuses at it
    (a tie), instead of failing on an undefined name."""
    tree = Symbolic(strategy="tree")
    for name, (fn, ref, x) in HESSIANS.items():
        if name in ("max * x[0]", "median**2"):
            got = dk.hessian(dk.Function(fn), x, method=tree)
            np.testing.assert_allclose(got, exact_hessian(ref, x), rtol=1e-8, atol=1e-9)
    got = dk.gradient(dk.Function(lambda x: np.median(x)), V5, method=tree)
    np.testing.assert_allclose(got, [1.0, 0, 0, 0, 0])
    with pytest.raises(DomainError, match="a Dirac delta at its singular point"):
        dk.hessian(dk.Function(lambda x: np.max(x) * x[0]), [0.7, 0.7, 0.2], method=tree)


@pytest.mark.parametrize("method", AD)
def test_median_ties_share_the_middle(method):
    f = dk.Function(lambda x: np.median(x))
    np.testing.assert_allclose(dk.gradient(f, [1.0, 2.0, 2.0, 2.0, 3.0], method=method),
                               [0, 1 / 3, 1 / 3, 1 / 3, 0], rtol=RTOL)
    np.testing.assert_allclose(dk.gradient(f, [2.0, 1.0, 3.0, 2.0], method=method),
                               [0.5, 0, 0, 0.5], rtol=RTOL)


# ---------------------------------------------------------------------------- kinks and zeros


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode"])
def test_std_at_zero_variance_is_the_zero_subgradient_not_nan(method):
    got = dk.gradient(dk.Function(lambda x: np.std(x)), [0.5, 0.5, 0.5], method=method)
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.0])
    rows = dk.Function(lambda x: np.std(_m(x), axis=1))  # one flat row, one not
    jac = dk.jacobian(rows, [0.5, 0.5, 0.5, 0.1, 0.4, 0.9], method=method)
    np.testing.assert_array_equal(jac[0], np.zeros(6))
    np.testing.assert_allclose(jac[1], exact_jacobian(lambda x: _mp_sqrt(np.var(x[3:])),
                                                      np.array([0.5, 0.5, 0.5, 0.1, 0.4, 0.9]))
                               .ravel(), rtol=RTOL)


ZEROS = np.array([0.5, 0.0, 1.5, 0.0, 2.0, -0.7])


@pytest.mark.parametrize("method", AD)
@pytest.mark.parametrize(("name", "fn"), [
    ("cumprod", np.cumprod),
    ("cumprod(axis=1)", lambda x: np.cumprod(_m(x), axis=1)),
    ("prod", np.prod),
    ("prod(axis=0)", lambda x: np.prod(_m(x), axis=0)),
    ("prod(axis=1, keepdims)", lambda x: np.prod(_m(x), axis=1, keepdims=True)),
])
def test_products_are_differentiated_exactly_at_zero_entries(name, fn, method):
    """d prod / dx_i is the product of the other entries, also where entries are zero (no
    division by x_i)."""
    got = dk.jacobian(dk.Function(fn, name=name), ZEROS, method=method)
    np.testing.assert_allclose(got, exact_jacobian(fn, ZEROS), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("method", AD)
def test_products_at_zero_entries_at_second_order(method):
    for fn in (np.prod, lambda x: np.cumprod(x) @ np.arange(1.0, 7.0)):
        got = dk.hessian(dk.Function(fn), ZEROS, method=method)
        np.testing.assert_allclose(got, exact_hessian(fn, ZEROS), rtol=1e-8, atol=1e-9)


NAN_AT = np.array([False, True, False, False, True, False])
KEEP = ~NAN_AT


def _nan_squares(x: Any) -> Any:
    return np.where(NAN_AT, np.nan, x**2)


NAN_CASES = {  # the NaN-ignoring function of x**2 with NaN at NAN_AT; the same without NaN
    "nansum": (np.nansum, lambda x: np.sum(x[KEEP] ** 2)),
    "nanmean": (np.nanmean, lambda x: np.mean(x[KEEP] ** 2)),
    "nanmax": (np.nanmax, lambda x: np.max(x[KEEP] ** 2)),
    "nanmin": (np.nanmin, lambda x: np.min(x[KEEP] ** 2)),
    "nanprod": (np.nanprod, lambda x: np.prod(x[KEEP] ** 2)),
    "nanvar(ddof=1)": (lambda v: np.nanvar(v, ddof=1), lambda x: np.var(x[KEEP] ** 2, ddof=1)),
    "nanstd": (np.nanstd, lambda x: mp.sqrt(np.var(x[KEEP] ** 2))),
    "nanstd(axis=1)": (lambda v: np.nanstd(_m(v), axis=1),
                       lambda x: np.array([mp.sqrt(np.var(x[[0, 2]] ** 2)),
                                           mp.sqrt(np.var(x[[3, 5]] ** 2))], dtype=object)),
    "nanmean(axis=1, keepdims)": (lambda v: np.nanmean(_m(v), axis=1, keepdims=True),
                                  lambda x: np.array([[np.mean(x[[0, 2]] ** 2)],
                                                      [np.mean(x[[3, 5]] ** 2)]])),
    "nanmedian": (np.nanmedian, lambda x: np.median(x[KEEP] ** 2)),
    "nanmedian(axis=1)": (lambda v: np.nanmedian(_m(v), axis=1),
                          lambda x: np.array([np.median(x[[0, 2]] ** 2),
                                              np.median(x[[3, 5]] ** 2)])),
    "nancumsum": (np.nancumsum, lambda x: np.cumsum(np.where(NAN_AT, 0, x**2))),
    "nancumprod": (np.nancumprod, lambda x: np.cumprod(np.where(NAN_AT, 1, x**2))),
}


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode"])
@pytest.mark.parametrize("name", list(NAN_CASES))
def test_nan_entries_are_constants(name, method):
    """The NaN-ignoring reductions on data with NaN entries: the derivative is that of the
    same reduction over the numbers only (NaN entries are constants)."""
    fn, ref = NAN_CASES[name]
    got = dk.jacobian(dk.Function(lambda x: fn(_nan_squares(x)), name=name), M6, method=method)
    np.testing.assert_allclose(got, exact_jacobian(ref, M6), rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------- call forms


FORMS = {
    # name: (function as written, the same function without the call form)
    "sum(where=)": (lambda x: np.sum(x**2, where=x > 0),
                    lambda x: np.sum(np.where(x > 0, x**2, 0))),
    "sum(where=constant mask, initial=)": (
        lambda x: np.sum(x, where=np.array([1, 0, 1, 1, 0], bool), initial=3.0) ** 2,
        lambda x: (x[0] + x[2] + x[3] + 3.0) ** 2),
    "mean(where=)": (lambda x: np.mean(x**2, where=np.array([1, 0, 1, 1, 0], bool)),
                     lambda x: (x[0] ** 2 + x[2] ** 2 + x[3] ** 2) / 3),
    "mean(where=traced mask)": (lambda x: np.mean(x**3, where=x > 0),
                                lambda x: (x[0] ** 3 + x[2] ** 3 + x[3] ** 3) / 3),
    "max(where=, initial=)": (lambda x: np.max(x, where=np.array([1, 0, 0, 1, 1], bool),
                                               initial=0.4),
                              lambda x: x[3]),
    "prod(initial=)": (lambda x: np.prod(x, initial=2.0), lambda x: 2.0 * np.prod(x)),
    "mean(dtype=float64)": (lambda x: np.mean(x**2, dtype=np.float64),
                            lambda x: np.mean(x**2)),
    "x.mean(dtype=float)": (lambda x: (x**2).mean(dtype=float), lambda x: np.mean(x**2)),
    "var(correction=1)": (lambda x: np.var(x, correction=1), lambda x: np.var(x, ddof=1)),
    "x.std(ddof=0.5)": (lambda x: x.std(ddof=0.5),
                                 lambda x: np.sqrt(np.sum((x - np.mean(x)) ** 2) / 4.5)),
    "average(returned=True)": (
        lambda x: (lambda a, s: a * s)(*np.average(x, weights=np.arange(1.0, 6.0),
                                                   returned=True)),
        lambda x: x @ np.arange(1.0, 6.0)),
    "average(traced weights)": (lambda x: np.average(x[:2] * 3, weights=x[3:] ** 2),
                                lambda x: (x[0] * x[3] ** 2 + x[1] * x[4] ** 2) * 3
                                / (x[3] ** 2 + x[4] ** 2)),
    "median(overwrite_input=True)": (lambda x: np.median(x, overwrite_input=True),
                                     lambda x: x[0]),
    "cumsum(dtype=float)": (lambda x: np.cumsum(x, dtype=float)[-1], np.sum),
}


@pytest.mark.parametrize("method", AD)
@pytest.mark.parametrize("name", list(FORMS))
def test_numpy_call_forms(name, method):
    form, plain = FORMS[name]
    got = dk.gradient(dk.Function(form, name=name), V5, method=method)
    want = dk.gradient(dk.Function(plain, name=name), V5, method="reverse-mode")
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("method", AD)
def test_lists_of_traced_values(method):
    """autograd: test_mean_list_of_boxes, test_std_list_of_boxes, test_var_list_of_boxes
    (through dnp: numpy does not look inside a list for traced values)."""
    for fn, slope in ((dnp.mean, 1.0), (dnp.std, 0.0), (dnp.var, 0.0),
                      (dnp.sum, 2.0), (dnp.max, 1.0)):
        assert dk.derivative(lambda x, fn=fn: fn([x, x + 2]), 0.5, method=method) == \
            pytest.approx(slope, abs=1e-14)
        assert dk.derivative(lambda x, fn=fn: fn((x, x + 2)), 0.5, method=method) == \
            pytest.approx(slope, abs=1e-14)


def test_plain_values_are_numpy_itself():
    x = np.array([[0.5, np.nan, 2.0], [1.0, 3.0, -1.0]])
    w = np.array([True, False, True])
    assert np.array_equal(dnp.sum(x, axis=1, where=w, initial=1.0),
                          np.sum(x, axis=1, where=w, initial=1.0), equal_nan=True)
    assert dnp.nanmax(x) == np.nanmax(x)
    assert dnp.var(M6, ddof=1) == np.var(M6, ddof=1)
    assert dnp.average(M6, weights=P6, returned=True) == np.average(M6, weights=P6,
                                                                     returned=True)
    assert dnp.median(M6) == np.median(M6)
    assert np.array_equal(dnp.cumprod(_m(M6), axis=1), np.cumprod(_m(M6), axis=1))
    assert dnp.trace(_m(M6), offset=1) == np.trace(_m(M6), offset=1)
    with pytest.raises(ZeroDivisionError):  # numpy's own error on plain values
        dnp.average(np.ones(2), weights=np.array([1.0, -1.0]))


def test_numpy_names_reach_the_registry():
    assert NUMPY_TO_PRIMITIVE[np.amax] is REGISTRY["max"]
    assert NUMPY_TO_PRIMITIVE[np.amin] is REGISTRY["min"]
    for name in ("var", "std", "average", "cumsum", "cumprod", "median", "ptp", "trace",
                 "nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanvar", "nanstd",
                 "nancumsum", "nancumprod", "nanmedian"):
        assert NUMPY_TO_PRIMITIVE[getattr(np, name)] is REGISTRY[name]


# ---------------------------------------------------------------------------- refusals


REFUSALS = [
    (lambda x: np.sum(x, out=np.empty(())), "numpy.sum\\(..., out=...\\) on a traced value"),
    (lambda x: np.var(x, out=np.empty(())), "numpy.var\\(..., out=...\\) on a traced value"),
    (lambda x: np.var(x, where=x > 0), "numpy.var\\(..., where=...\\) on a traced value is "
                                       "not recorded; write the masked statistic out"),
    (lambda x: np.std(x, mean=np.mean(x, keepdims=True)), "numpy.std\\(..., mean=...\\) on "
                                                          "a traced value is not recorded"),
    (lambda x: np.var(x, ddof=1, correction=1), "ddof and correction are the same "
                                                "parameter"),
    (lambda x: np.max(x, where=x > 0), "numpy.max\\(..., where=...\\) without initial=: the "
                                       "reduction has no identity"),
    (lambda x: np.cumsum(_m(x[:6]), axis=(0, 1)), "numpy.cumsum\\(..., axis=\\(0, 1\\)\\): "
                                                  "the axis is one integer or None"),
    (lambda x: np.trace(x), "numpy.trace of an array of shape \\(6,\\): the trace needs at "
                            "least two dimensions"),
    (lambda x: np.trace(_m(x), axis1=1, axis2=-1), "the two axes must differ"),
    (lambda x: np.sum(x, dtype=int), "numpy.sum\\(..., dtype=int64\\) on a traced value: an "
                                     "integer or boolean result carries no derivative"),
    (lambda x: np.average(_m(x), weights=W3), "needs axis="),
    (lambda x: np.average(_m(x), axis=0, weights=W3), "weights of shape \\(3,\\) do not "
                                                      "match a \\(2, 3\\) along axis 0"),
    (lambda x: np.median(x, out=np.empty(())), "numpy.median\\(..., out=...\\)"),
]


@pytest.mark.parametrize("method", list(AD))
@pytest.mark.parametrize(("fn", "message"), REFUSALS)
def test_unsupported_call_forms_are_named(fn, message, method):
    with pytest.raises(UnsupportedPrimitiveError, match=message):
        dk.gradient(dk.Function(fn), M6, method=method)


def test_a_call_numpy_rejects_is_a_clear_error():
    with pytest.raises(UnsupportedPrimitiveError, match=r"ndarray\.sum"):
        dk.gradient(dk.Function(lambda x: x.sum(bogus=1)), M6, method="reverse-mode")
