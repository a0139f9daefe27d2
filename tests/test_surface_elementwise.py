"""The elementwise surface, the way people write numpy: each function as ``np.X(x)``,
``dnp.X(x)`` and the ndarray method or operator (``x.clip``, ``x % y``), under every method.

Ported from the per-function checks of autograd's suite (``tests/test_systematic.py``,
``test_scalar_ops.py``, ``test_binary_ops.py``, ``test_numpy.py``: the same functions, other
inputs and code). The reference is exact: mpmath's derivative at 30 digits of the function
written in mpmath (``mp.diff``), entry by entry through numpy's broadcasting. Step functions
(floor, round, ...) are tested as ``x * floor(x)``, whose slope ``floor(x)`` is nonzero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath as mp
import numpy as np
import pytest
import sympy

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.errors import DomainError, NonAnalyticError, UnsupportedPrimitiveError
from diffkit.methods import Symbolic

mp.mp.dps = 30

AD = ("reverse-mode", "forward-mode", "symbolic")
RTOL, ATOL = 1e-10, 1e-12

V = np.array([0.3, -0.7, 1.2])
P = np.array([0.4, 0.9, 1.7])
U = np.array([0.2, -0.5, 0.7])
G = np.array([1.3, 2.1, 3.4])
S = np.array([0.35, -1.45, 2.3])  # away from the integers and the half-integers (steps)


@dataclass(frozen=True)
class Unary:
    name: str
    np_form: Any  # np.X(x), as users write it
    dnp_form: Any
    method_form: Any  # the ndarray method / operator / attribute, or None
    ref: Any  # the same function of one mpmath number
    x: np.ndarray
    analytic: bool = True  # the complex step applies

    def form(self, route: str) -> Any:
        return {"np": self.np_form, "dnp": self.dnp_form, "method": self.method_form}[route]


def _step(f: Any) -> Any:  # x * step(x): its slope is step(x), which a test can see
    return lambda x: x * f(x)


def _mp_rint(v: Any) -> Any:
    return mp.nint(v)


UNARY = [
    Unary("arcsinh", np.arcsinh, dnp.arcsinh, None, mp.asinh, V),
    Unary("arccosh", np.arccosh, dnp.arccosh, None, mp.acosh, G),
    Unary("arctanh", np.arctanh, dnp.arctanh, None, mp.atanh, U),
    Unary("exp2", np.exp2, dnp.exp2, None, lambda v: mp.power(2, v), V),
    Unary("log2", np.log2, dnp.log2, None, lambda v: mp.log(v, 2), P),
    Unary("log10", np.log10, dnp.log10, None, mp.log10, P),
    Unary("sinc", np.sinc, dnp.sinc, None, mp.sincpi, np.array([0.35, -1.3, 0.004])),
    Unary("deg2rad", np.deg2rad, dnp.deg2rad, None, mp.radians, V * 40, analytic=False),
    Unary("radians", np.radians, dnp.radians, None, mp.radians, V * 40, analytic=False),
    Unary("rad2deg", np.rad2deg, dnp.rad2deg, None, mp.degrees, V, analytic=False),
    Unary("degrees", np.degrees, dnp.degrees, None, mp.degrees, V, analytic=False),
    Unary("fabs", np.fabs, dnp.fabs, None, mp.fabs, V, analytic=False),
    Unary("positive", np.positive, dnp.positive, lambda x: +x, lambda v: v, V),
    Unary("real", np.real, dnp.real, lambda x: x.real, lambda v: v, V, analytic=False),
    Unary("imag", _step(np.imag), _step(dnp.imag), _step(lambda x: x.imag),
          lambda v: v * 0, V, analytic=False),
    Unary("conj", np.conj, dnp.conj, lambda x: x.conj(), lambda v: v, V, analytic=False),
    Unary("conjugate", np.conjugate, dnp.conjugate, lambda x: x.conjugate(), lambda v: v, V,
          analytic=False),
    Unary("nan_to_num", lambda x: np.nan_to_num(x), lambda x: dnp.nan_to_num(x), None,
          lambda v: v, V),
    Unary("floor", _step(np.floor), _step(dnp.floor), None, _step(mp.floor), S,
          analytic=False),
    Unary("ceil", _step(np.ceil), _step(dnp.ceil), None, _step(mp.ceil), S, analytic=False),
    Unary("trunc", _step(np.trunc), _step(dnp.trunc), None,
          _step(lambda v: mp.floor(v) if v >= 0 else mp.ceil(v)), S, analytic=False),
    Unary("fix", _step(np.fix), _step(dnp.fix), None,
          _step(lambda v: mp.floor(v) if v >= 0 else mp.ceil(v)), S, analytic=False),
    Unary("rint", _step(np.rint), _step(dnp.rint), None, _step(_mp_rint), S, analytic=False),
    Unary("round", _step(np.round), _step(dnp.round), _step(lambda x: x.round()),
          _step(_mp_rint), S, analytic=False),
    Unary("around(x, 1)", _step(lambda x: np.around(x, 1)), _step(lambda x: dnp.around(x, 1)),
          _step(lambda x: round(x, 1)), _step(lambda v: _mp_rint(v * 10) / 10), S * 1.03,
          analytic=False),
    Unary("round(x, -1)", _step(lambda x: np.round(x, -1)),
          _step(lambda x: dnp.round(x, decimals=-1)), _step(lambda x: x.round(-1)),
          _step(lambda v: _mp_rint(v / 10) * 10), S * 7.0, analytic=False),
    Unary("clip", lambda x: np.clip(x, -0.5, 1.0), lambda x: dnp.clip(x, -0.5, 1.0),
          lambda x: x.clip(-0.5, 1.0), lambda v: min(max(v, -0.5), 1.0), V, analytic=False),
    Unary("clip(a_min=, a_max=)", lambda x: np.clip(x, a_min=0.1, a_max=1.1),
          lambda x: dnp.clip(x, a_min=0.1, a_max=1.1), lambda x: x.clip(min=0.1, max=1.1),
          lambda v: min(max(v, 0.1), 1.1), V, analytic=False),
    Unary("clip(None, hi)", lambda x: np.clip(x, None, 0.5), lambda x: dnp.clip(x, None, 0.5),
          lambda x: x.clip(max=0.5), lambda v: min(v, 0.5), V, analytic=False),
    Unary("clip(lo, None)", lambda x: np.clip(x, 0.0, None), lambda x: dnp.clip(x, min=0.0),
          lambda x: x.clip(0.0), lambda v: max(v, 0.0), V, analytic=False),
    Unary("sign", _step(np.sign), _step(dnp.sign), None, _step(mp.sign), V, analytic=False),
]
ROUTES = ("np", "dnp", "method")


def _unary_params():
    for case in UNARY:
        for route in ROUTES:
            if case.form(route) is None:
                continue
            for method in (*AD, "complex-step"):
                if method == "complex-step" and not case.analytic:
                    continue
                yield pytest.param(case, route, method, id=f"{case.name}-{route}-{method}")


def _slope(f: Any, v: float, order: int = 1) -> float:
    return float(mp.diff(f, mp.mpf(float(v)), order))


@pytest.mark.parametrize(("case", "route", "method"), list(_unary_params()))
def test_unary(case, route, method):
    fn = case.form(route)
    jac = dk.jacobian(dk.Function(fn, name=case.name), case.x, method=method)
    exact = np.diag([_slope(case.ref, v) for v in case.x])
    np.testing.assert_allclose(jac, exact, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", [c for c in UNARY if c.analytic], ids=lambda c: c.name)
def test_unary_scalar_derivative(case):
    """``dk.derivative`` at one point (the lean paths of the complex step and of AD)."""
    x0 = float(case.x[1])
    exact = _slope(case.ref, x0)
    for method in (*AD, "complex-step"):
        got = dk.derivative(case.np_form, x0, method=method)
        assert got == pytest.approx(exact, rel=RTOL, abs=ATOL), method


# ---------------------------------------------------------------------------- binary


@dataclass(frozen=True)
class Binary:
    name: str
    np_form: Any
    dnp_form: Any
    op_form: Any  # the Python operator, or None
    ref: Any  # of two mpmath numbers
    a: Any
    b: Any


def _mp_fmod(a: Any, b: Any) -> Any:
    q = a / b
    return a - b * (mp.floor(q) if q >= 0 else mp.ceil(q))


A3 = np.array([1.3, -0.35, 2.2])
B3 = np.array([0.55, 1.7, -0.9])
B23 = np.array([[0.55, 1.7, -0.9], [-1.25, 0.8, 0.45]])

BINARY = [
    Binary("hypot", np.hypot, dnp.hypot, None, mp.hypot, A3, B23),
    Binary("arctan2", np.arctan2, dnp.arctan2, None, mp.atan2, A3, B23),
    Binary("logaddexp", np.logaddexp, dnp.logaddexp, None,
           lambda a, b: mp.log(mp.exp(a) + mp.exp(b)), A3, B3),
    Binary("logaddexp2", np.logaddexp2, dnp.logaddexp2, None,
           lambda a, b: mp.log(mp.power(2, a) + mp.power(2, b), 2), 0.6, B23),
    Binary("remainder", np.remainder, dnp.remainder, lambda a, b: a % b,
           lambda a, b: a - b * mp.floor(a / b), A3, B23),
    Binary("mod", np.mod, dnp.mod, lambda a, b: a % b,
           lambda a, b: a - b * mp.floor(a / b), A3, 0.45),
    Binary("fmod", np.fmod, dnp.fmod, None, _mp_fmod, A3, B23),
    Binary("floor_divide", lambda a, b: a * np.floor_divide(a, b),
           lambda a, b: a * dnp.floor_divide(a, b), lambda a, b: a * (a // b),
           lambda a, b: a * mp.floor(a / b), A3, B23),
    Binary("fmax", np.fmax, dnp.fmax, None, max, A3, B23),
    Binary("fmin", np.fmin, dnp.fmin, None, min, A3, B23),
    Binary("copysign", np.copysign, dnp.copysign, None,
           lambda a, b: abs(a) if b >= 0 else -abs(a), A3, B23),
    Binary("heaviside", lambda a, b: a * np.heaviside(a, b), lambda a, b: a * dnp.heaviside(a, b),
           None, lambda a, b: a * (1 if a > 0 else 0), A3, B3),
]


def _exact_binary(ref: Any, a: Any, b: Any) -> np.ndarray:
    """d F(a, b).ravel() / d (a.ravel(), b.ravel()) through numpy's broadcasting."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    shape = np.broadcast_shapes(a.shape, b.shape)
    ia = np.broadcast_to(np.arange(a.size).reshape(a.shape), shape).ravel()
    ib = np.broadcast_to(np.arange(b.size).reshape(b.shape), shape).ravel()
    jac = np.zeros((ia.size, a.size + b.size))
    for k, (i, j) in enumerate(zip(ia, ib, strict=True)):
        point = (mp.mpf(float(a.flat[i])), mp.mpf(float(b.flat[j])))
        jac[k, i] += float(mp.diff(ref, point, (1, 0)))
        jac[k, a.size + j] += float(mp.diff(ref, point, (0, 1)))
    return jac


def _split(fn: Any, a: Any, b: Any) -> Any:
    na = np.size(a)
    sa, sb = np.shape(a), np.shape(b)
    return lambda z: dnp.reshape(fn(dnp.reshape(z[:na], sa), dnp.reshape(z[na:], sb)), (-1,))


def _binary_params():
    for case in BINARY:
        for route, fn in (("np", case.np_form), ("dnp", case.dnp_form), ("op", case.op_form)):
            if fn is None:
                continue
            for method in AD:
                yield pytest.param(case, fn, method, id=f"{case.name}-{route}-{method}")


@pytest.mark.parametrize(("case", "fn", "method"), list(_binary_params()))
def test_binary(case, fn, method):
    z = np.concatenate([np.ravel(case.a), np.ravel(case.b)]).astype(float)
    jac = dk.jacobian(dk.Function(_split(fn, case.a, case.b), name=case.name), z,
                      method=method)
    np.testing.assert_allclose(jac, _exact_binary(case.ref, case.a, case.b), rtol=RTOL,
                               atol=ATOL)


@pytest.mark.parametrize("method", AD)
def test_operators_with_constants_on_either_side(method):
    """``x % c``, ``c % x``, ``x // c``, ``c // x`` and ``+x`` on every tracer type."""
    x = np.array([1.3, -0.35, 2.2])

    def f(x):
        return (x % 0.7) * (2.5 % x) + x * (x // 0.4) + (3.0 // x) * x + (+x) ** 2

    def ref(v):
        return ((v - 0.7 * mp.floor(v / 0.7)) * (2.5 - v * mp.floor(2.5 / v))
                + v * mp.floor(v / 0.4) + mp.floor(3.0 / v) * v + v**2)

    jac = dk.jacobian(f, x, method=method)
    np.testing.assert_allclose(jac, np.diag([_slope(ref, v) for v in x]), rtol=RTOL)


@pytest.mark.parametrize("method", AD)
def test_clip_with_traced_bounds(method):
    """The bounds are differentiable too: slope 1 where a bound is the output."""
    data = np.array([0.2, 0.9, -0.4, 1.6])

    def f(z):
        lo, hi = z[0], z[1]
        return np.clip(data, lo, hi) * np.clip(z[2:], lo - 1.0, hi)

    z = np.array([0.1, 1.1, -1.5, 0.6, 2.0, 0.3])
    expected = dk.jacobian(f, z, method="richardson")
    np.testing.assert_allclose(dk.jacobian(f, z, method=method), expected, rtol=1e-9,
                               atol=1e-12)
    assert np.count_nonzero(expected[:, 0])
    assert np.count_nonzero(expected[:, 1])


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode"])
def test_fmax_and_fmin_follow_the_argument_that_is_not_nan(method):
    y = np.array([np.nan, 0.5, np.nan, -2.0])
    x = np.array([0.3, 0.9, -1.2, -2.5])
    jac_max = dk.jacobian(lambda x: np.fmax(x, y) * 2.0, x, method=method)
    np.testing.assert_array_equal(jac_max, np.diag([2.0, 2.0, 2.0, 0.0]))
    jac_min = dk.jacobian(lambda x: np.fmin(y, x) * 2.0, x, method=method)
    np.testing.assert_array_equal(jac_min, np.diag([2.0, 0.0, 2.0, 2.0]))


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode"])
def test_nan_to_num_passes_finite_entries_only(method):
    """autograd's test_nan_to_num: sum(sin(nan_to_num(x + y))) with y holding nan, +-inf."""
    y = np.array([0.0, np.nan, np.inf, -np.inf])
    x = np.array([0.3, -0.8, 1.1, 0.25])
    g = dk.gradient(lambda x: np.sum(np.sin(np.nan_to_num(x + y))), x, method=method)
    np.testing.assert_allclose(g, [np.cos(0.3), 0.0, 0.0, 0.0], rtol=1e-15)
    g = dk.gradient(lambda x: np.sum(np.nan_to_num(x + y, nan=1.0, posinf=5.0) * x), x,
                    method=method)
    np.testing.assert_allclose(g, [0.6, 1.0, 5.0, np.nan_to_num(-np.inf)], rtol=1e-15)


# ---------------------------------------------------------------------------- order two


def _f_smooth(x1: Any, x2: Any) -> Any:
    return (np.sinc(x1) * np.arcsinh(x2) + np.log2(x1 * x2) + np.exp2(x1) * np.arccosh(x2 + 2)
            + np.arctanh(x1 / 3) * np.log10(x2))


def _mp_smooth(x1: Any, x2: Any) -> Any:
    return (mp.sincpi(x1) * mp.asinh(x2) + mp.log(x1 * x2, 2) + mp.power(2, x1) * mp.acosh(x2 + 2)
            + mp.atanh(x1 / 3) * mp.log10(x2))


def _f_binary(x1: Any, x2: Any) -> Any:
    return (np.hypot(x1, x2) + np.arctan2(x1, x2) * np.logaddexp(x1, x2)
            + np.logaddexp2(x2, x1 * x1) + (x1 % x2) * x1 + np.fmod(x2, x1) ** 2
            + np.clip(x1 * x2, 0.1, 1.0) ** 2)


def _mp_binary(x1: Any, x2: Any) -> Any:
    return (mp.hypot(x1, x2) + mp.atan2(x1, x2) * mp.log(mp.exp(x1) + mp.exp(x2))
            + mp.log(mp.power(2, x2) + mp.power(2, x1 * x1), 2)
            + (x1 - x2 * mp.floor(x1 / x2)) * x1 + _mp_fmod(x2, x1) ** 2
            + min(max(x1 * x2, 0.1), 1.0) ** 2)


def _exact_hessian(ref: Any, point: Any) -> np.ndarray:
    p = tuple(mp.mpf(float(v)) for v in point)
    orders = {(0, 0): (2, 0), (0, 1): (1, 1), (1, 0): (1, 1), (1, 1): (0, 2)}
    return np.array([[float(mp.diff(ref, p, orders[i, j])) for j in range(2)]
                     for i in range(2)])


@pytest.mark.parametrize("method", AD)
@pytest.mark.parametrize(("f", "ref", "point"), [
    (_f_smooth, _mp_smooth, [0.45, 1.3]),
    (_f_smooth, _mp_smooth, [0.006, 0.8]),  # sinc's series branch
    (_f_binary, _mp_binary, [0.7, 1.15]),
], ids=["smooth", "sinc-near-0", "binary"])
def test_hessian(f, ref, point, method):
    hess = dk.hessian(f, point, method=method)
    np.testing.assert_allclose(hess, _exact_hessian(ref, point), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("method", AD)
def test_sinc_at_zero_has_the_limits(method):
    """sinc'(0) = 0 and sinc''(0) = -pi^2/3, with no NaN from the 0/0 of the quotient."""
    assert dk.derivative(np.sinc, 0.0, method=method) == 0.0
    hess = dk.hessian(lambda x: np.sinc(x[0]) * x[1], [0.0, 2.0], method=method)
    np.testing.assert_allclose(hess, [[-2 * np.pi**2 / 3, 0.0], [0.0, 0.0]], rtol=1e-14,
                               atol=1e-15)


def test_sinc_slope_is_accurate_on_both_sides_of_the_series_switch():
    points = np.array([1e-8, 3e-3, 9.99e-3, 1.001e-2, 0.02, 0.5, -0.0099, -0.0101, 2.7])
    got = dk.jacobian(lambda x: np.sinc(x), points, method="reverse-mode").diagonal()
    exact = np.array([_slope(mp.sincpi, v) for v in points])
    np.testing.assert_allclose(got, exact, rtol=1e-12)


# ---------------------------------------------------------------------------- symbolic forms


def test_formula_names_and_sympy_functions_reach_the_stanzas():
    f = dk.Function.from_expr("log2(x) * arcsinh(y) + hypot(x, y) - atan2(y, x) + sinc(x)"
                              " + mod(x, y) + floor(3 * y) * x")
    g = dk.Function(lambda x, y: (np.log2(x) * np.arcsinh(y) + np.hypot(x, y)
                                  - np.arctan2(y, x) + np.sinc(x) + x % y + np.floor(3 * y) * x))
    point = [0.8, 1.3]
    want = dk.gradient(g, point, method="reverse-mode")
    for method in AD:
        np.testing.assert_allclose(dk.gradient(f, point, method=method), want, rtol=1e-12)
    x, y = sympy.symbols("x y", real=True)
    h = dk.Function.from_sympy(sympy.Mod(x, y) * sympy.atan2(y, x) + sympy.floor(x) * y
                               + sympy.asinh(x) + sympy.ceiling(y), [x, y])
    ref = dk.Function(lambda x, y: (x % y) * np.arctan2(y, x) + np.floor(x) * y
                      + np.arcsinh(x) + np.ceil(y))
    np.testing.assert_allclose(dk.gradient(h, point, method="reverse-mode"),
                               dk.gradient(ref, point, method="reverse-mode"), rtol=1e-14)


@pytest.mark.parametrize("strategy", ["dag", "tree"])
def test_symbolic_strategies_give_steps_slope_zero(strategy):
    """sympy leaves d floor(x)/dx unevaluated and writes d sign(x)/dx as a DiracDelta; both
    strategies compile to the slope 0 every other method gives."""
    f = dk.Function(lambda x, y: (x * np.floor(x) + np.sign(x) * x * y + np.trunc(y) * y
                                  + np.rint(x * y) * x + np.round(y, 1) * x + (x % y) * y))
    point = [1.35, -2.2]
    got = dk.gradient(f, point, method=Symbolic(strategy=strategy))
    np.testing.assert_allclose(got, dk.gradient(f, point, method="reverse-mode"), rtol=1e-13)


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("fn", "prim"), [
    (lambda x: np.hypot(x, 2.0), "hypot"), (lambda x: np.arctan2(x, 2.0), "arctan2"),
    (lambda x: np.logaddexp(x, 0.3), "logaddexp"), (np.degrees, "rad2deg"),
    (lambda x: np.floor(x) * x, "floor"), (lambda x: x % 0.7, "remainder"),
    (lambda x: np.clip(x, 0.0, 1.0), "clip"), (np.real, "real"), (np.conjugate, "conj"),
    (np.fabs, "fabs"), (lambda x: np.round(x, 1) * x, "round"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_complex_step_refuses_what_it_cannot_differentiate(fn, prim):
    with pytest.raises(NonAnalyticError, match=f"uses the primitive '{prim}', which is not "
                                               f"complex-analytic"):
        dk.derivative(fn, 0.45, method="complex-step")


X = np.array([0.3, -0.7, 1.2])


def _traced(fn: Any) -> Any:
    """``fn`` applied to a traced ``x`` (reverse mode), for the errors raised while tracing."""
    return lambda: dk.gradient(lambda x: dnp.sum(fn(x)), X, method="reverse-mode")


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda x: np.round(x, 1.5), UnsupportedPrimitiveError,
     r"numpy\.round: decimals must be an integer, got 1\.5; diffkit supports the call "
     r"numpy\.round\(a"),
    (lambda x: np.round(x, 1, out=np.empty(3)), UnsupportedPrimitiveError,
     r"numpy\.round\(\.\.\., out=\.\.\.\) on a traced value: diffkit cannot follow writes"),
    (lambda x: np.clip(x, 0.0, 1.0, out=np.empty(3)), UnsupportedPrimitiveError,
     r"numpy\.clip\(\.\.\., out=\.\.\.\) on a traced value"),
    (lambda x: np.clip(x, 0.0, 1.0, casting="unsafe"), UnsupportedPrimitiveError,
     r"numpy\.clip: clip\(\) got an unexpected keyword argument 'casting'"),
    (lambda x: np.clip(x, 0.0, min=0.5), UnsupportedPrimitiveError,
     r"clip\(\) got a_min and min; pass one of them"),
    (lambda x: x.clip(0.0, 1.0, 2.0, 3.0), UnsupportedPrimitiveError,
     r"numpy\.clip: clip\(\) takes from 1 to 4 positional arguments but 5 were given; "
     r"diffkit supports the call numpy\.clip\(a"),
    (lambda x: np.nan_to_num(x, nan=np.zeros(3)), UnsupportedPrimitiveError,
     r"numpy\.nan_to_num: nan=array\(\[0\., 0\., 0\.\]\): diffkit takes a number"),
    (lambda x: np.fmax(x, 0.5, where=x > 0), UnsupportedPrimitiveError,
     r"numpy\.fmax was called on a traced value with where=, which diffkit does not record"),
    (lambda x: np.mod(x, 0.5, out=np.empty(3)), UnsupportedPrimitiveError,
     r"numpy\.remainder\(\.\.\., out=\.\.\.\) on a traced value"),
    (lambda x: np.fmax.reduce(x), UnsupportedPrimitiveError,
     r"numpy\.fmax\.reduce was called on a traced value; diffkit records plain calls"),
    (lambda x: np.frexp(x)[0], UnsupportedPrimitiveError,
     r"numpy\.frexp was called on a traced value and diffkit has no primitive for it"),
    (lambda x: np.remainder(x, 0.0), DomainError,
     r"remainder\(array of shape \(3,\), 0\.0\): outside its domain, remainder requires "
     r"y != 0"),
    (lambda x: np.arccosh(x), DomainError,
     r"arccosh\(array of shape \(3,\)\): outside its domain, arccosh requires x >= 1; first "
     r"offending element x\[0\] = "),
    (lambda x: np.log2(x), DomainError, r"log2 requires x > 0; first offending element x\[1\]"),
    (lambda x: np.arctanh(x * 2), DomainError, r"arctanh requires -1 < x < 1"),
])
def test_unsupported_call_forms_and_domains_are_named(fn, error, message):
    with pytest.raises(error, match=message):
        _traced(fn)()


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "reverse-compiled",
                                    "symbolic"])
def test_divmod_is_floor_divide_and_remainder(method):
    """divmod(x, c), divmod(c, x) and np.divmod: the two stanzas numpy's divmod computes (it
    was a raw TypeError from Python's divmod, an unsupported-primitive error from numpy's)."""
    x = np.array([0.7, 1.3, 2.9])
    for f, want in [(lambda x: dnp.sum(divmod(x, 0.5)[1] * x), 2.0 * x - 0.5 * (x // 0.5)),
                    (lambda x: dnp.sum(np.divmod(3.0, x)[1] * x), -(3.0 // x) * x + 3.0 % x),
                    (lambda x: dnp.sum(divmod(x, 0.5)[0] * x), x // 0.5)]:
        np.testing.assert_allclose(dk.gradient(f, x, method=method), want, rtol=1e-14)


def test_every_method_refuses_alike_under_forward_and_symbolic():
    """The same call-form errors whichever tracer meets them."""
    for method in AD:
        with pytest.raises(UnsupportedPrimitiveError, match="decimals must be an integer"):
            dk.gradient(lambda x: dnp.sum(np.round(x, 0.5)), X, method=method)
        with pytest.raises(UnsupportedPrimitiveError, match="ufunc methods"):
            dk.gradient(lambda x: np.remainder.reduce(x), X, method=method)


def test_plain_values_are_plain_numpy():
    """On plain arrays the dnp functions are numpy's, bit for bit."""
    x = np.array([-2.5, -0.35, 0.5, 1.5, 2.675])
    np.testing.assert_array_equal(dnp.log2(np.abs(x)), np.log2(np.abs(x)))
    for name in ("arcsinh", "exp2", "sinc", "deg2rad", "floor", "ceil", "trunc",
                 "rint", "fabs", "real", "imag", "conj", "positive", "nan_to_num"):
        np.testing.assert_array_equal(getattr(dnp, name)(x), getattr(np, name)(x), err_msg=name)
    for name in ("hypot", "arctan2", "logaddexp", "logaddexp2", "remainder", "mod", "fmod",
                 "floor_divide", "fmax", "fmin", "copysign", "heaviside"):
        np.testing.assert_array_equal(getattr(dnp, name)(x, 0.75), getattr(np, name)(x, 0.75),
                                      err_msg=name)
    np.testing.assert_array_equal(dnp.round(x, 2), np.round(x, 2))
    np.testing.assert_array_equal(dnp.clip(x, None, 1.0), np.clip(x, None, 1.0))
    np.testing.assert_array_equal(dnp.clip(x, min=-1.0), np.clip(x, -1.0, None))


def test_symbolic_sums_hold_with_sympy_evaluation_off():
    """``1.0 + x`` on an array of symbols: with evaluation off (how a symbolic method may build
    long programs), sympy's Integer.__add__ raises on an array instead of deferring to it."""
    from sympy.core.parameters import evaluate

    from diffkit.core import REGISTRY

    a, b = sympy.symbols("a b", real=True)
    arr = np.array([a, b], dtype=object)
    with evaluate(False):
        total = REGISTRY["add"].symbolic(sympy.Integer(1), arr)
    assert [sympy.simplify(t - (s + 1)) for t, s in zip(total, arr, strict=True)] == [0, 0]


_MASKED = [
    (lambda x: dnp.sum(x**2 * (x > 0)), lambda x: 2 * x * (x > 0)),
    (lambda x: dnp.sum(x**2 * (x > 0).astype(float)), lambda x: 2 * x * (x > 0)),
    (lambda x: dnp.sum(x**2 + (x > 0)), lambda x: 2 * x),
    (lambda x: np.mean(x > 0) * x[0], lambda x: np.array([np.mean(x > 0), 0.0, 0.0])),
    (lambda x: dnp.sum(x**2 * ((x > 0) & (x < 1))), lambda x: 2 * x * ((x > 0) & (x < 1))),
    (lambda x: dnp.sum(np.where(~(x > 0), x**2, 0.0)), lambda x: 2 * x * ~(x > 0)),
    (lambda x: dnp.sum(np.where((x > 0) | (x < -0.5), x**2, 0.0)),
     lambda x: 2 * x * ((x > 0) | (x < -0.5))),
    (lambda x: dnp.sum(x * np.logical_xor(x > 0, x > 1)), lambda x: 1.0 * ((x > 0) ^ (x > 1))),
]


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "reverse-compiled",
                                    "symbolic"])
@pytest.mark.parametrize(("f", "exact"), _MASKED, ids=[f"mask{k}" for k in range(len(_MASKED))])
def test_comparison_masks_in_arithmetic_and_logic(method, f, exact):
    """x**2 * (x > 0), np.mean(x > 0), (x > 0) & (x < 1), ~mask: numpy's masks as numbers and
    logic. Symbolic raised a raw sympy TypeError ('Pow' * 'StrictGreaterThan'), and the code
    writer and symbolic a raw TypeError for & and ~ of their traced masks."""
    x = np.array([-1.0, 2.0, 0.5])
    np.testing.assert_allclose(dk.gradient(f, x, method=method), exact(x), rtol=1e-14)
