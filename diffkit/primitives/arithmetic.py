"""Arithmetic: + - * / negation, powers and their relatives.

Each stanza also carries ``vjp_numpy``, the same rule in plain numpy for the tape's plain
values (no dispatch), and ``saves``, the arguments that rule reads.
"""

from __future__ import annotations

import functools
import math
import operator
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..core import Tracer
from ._stanza import (
    POS,
    SPREAD,
    Domain,
    M,
    V,
    elementwise_fn,
    like,
    ops,
    primitive,
    sum_to,
    sympy_module,
    unbroadcast,
)

_nd = np.ndarray


_BINARY_SAMPLES = (
    ((0.7, 1.3), {}),
    ((V, np.array([1.1, 0.2, 0.9])), {}),
    ((M, V), {}),  # broadcast (2,3) with (3,)
    ((0.5, M), {}),  # scalar with matrix
)


def unary_samples(values: np.ndarray) -> tuple[Any, ...]:
    """Scalar, vector and matrix samples of a unary primitive from three values."""
    lo, hi = float(values.min()), float(values.max())
    matrix = lo + (hi - lo) * np.array([[0.1, 0.5, 0.9], [0.3, 0.7, 0.2]])
    return (((float(values[1]),), {}), ((values,), {}), ((matrix,), {}))


# ============================================================================ + - * /


def _fit(c: Any, x: Any) -> Any:
    """``c`` summed down to the shape of the operand ``x`` where they differ (see sum_to)."""
    if c.__class__ is _nd:
        shape = x.shape if x.__class__ is _nd else getattr(x, "shape", ())
        if c.shape != shape:
            return sum_to(c, shape)
    return c


def _fit2(a: Any, x: Any, b: Any, y: Any) -> tuple[Any, Any]:
    """``(_fit(a, x), _fit(b, y))`` without a call where nothing is to be summed down: a
    number (the tape's scalar lane, a fill) or an array of its operand's shape."""
    if a.__class__ is _nd and (x.__class__ is not _nd or a.shape != x.shape):
        a = _fit(a, x)
    if b.__class__ is _nd and (y.__class__ is not _nd or b.shape != y.shape):
        b = _fit(b, y)
    return a, b


def _add_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x, y = args
    if g.__class__ is not _nd:  # a number: so are both cotangents (the tape's scalar lane)
        return (g if w[0] else None), (g if w[1] else None)
    return _fit2(g if w[0] else None, x, g if w[1] else None, y)


def _add_sympy(x: Any, y: Any) -> Any:
    # the array on the left: with sympy's evaluation off, Integer(1) + array raises
    # SympifyError instead of leaving the sum to numpy (Integer.__add__; +-*/ of other
    # numbers and the other operators return NotImplemented as they should)
    return y + x if y.__class__ is np.ndarray and x.__class__ is not np.ndarray else x + y


add = primitive(
    "add", np.add, kind="binary", symbolic=_add_sympy, linear=True, operators=("add",),
    vjp=(lambda g, ans, x, y: unbroadcast(g, x), lambda g, ans, x, y: unbroadcast(g, y)),
    jvp=(lambda t, ans, x, y: like(t, ans), lambda t, ans, x, y: like(t, ans)),
    vjp_numpy=_add_np, saves=(),
    infix="+", partials=("1", "1"), generate=True, formula=(),
    samples=_BINARY_SAMPLES, derivative="d(x+y) = dx + dy",
)


def _subtract_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x, y = args
    if g.__class__ is not _nd:  # (see _add_np)
        return (g if w[0] else None), (-g if w[1] else None)
    return _fit2(g if w[0] else None, x, -g if w[1] else None, y)


subtract = primitive(
    "subtract", np.subtract, kind="binary", symbolic=operator.sub, linear=True,
    operators=("sub",),
    vjp=(lambda g, ans, x, y: unbroadcast(g, x), lambda g, ans, x, y: unbroadcast(-g, y)),
    jvp=(lambda t, ans, x, y: like(t, ans), lambda t, ans, x, y: like(-t, ans)),
    vjp_numpy=_subtract_np, saves=(),
    infix="-", partials=("1", "-1"), generate=True, formula=(),
    samples=_BINARY_SAMPLES, derivative="d(x-y) = dx - dy",
)


def _multiply_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x, y = args
    a = g * y if w[0] else None
    b = g * x if w[1] else None
    if a.__class__ is _nd or b.__class__ is _nd:  # (else numbers: nothing to sum down)
        return _fit2(a, x, b, y)
    return a, b


multiply = primitive(
    "multiply", np.multiply, kind="binary", symbolic=operator.mul, operators=("mul",),
    vjp=(lambda g, ans, x, y: unbroadcast(g * y, x), lambda g, ans, x, y: unbroadcast(g * x, y)),
    jvp=(lambda t, ans, x, y: like(t * y, ans), lambda t, ans, x, y: like(x * t, ans)),
    vjp_numpy=_multiply_np, saves=((1,), (0,)),
    infix="*", partials=("{1}", "{0}"), generate=True, formula=(),
    samples=_BINARY_SAMPLES, derivative="d(xy) = y dx + x dy",
)


def _divide_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x, y = args
    gy = g / y
    a = gy if w[0] else None
    b = -gy * ans if w[1] else None
    if a.__class__ is _nd or b.__class__ is _nd:  # (see _multiply_np)
        return _fit2(a, x, b, y)
    return a, b


divide = primitive(
    "divide", np.divide, kind="binary", symbolic=operator.truediv, operators=("truediv",),
    numpy=("divide", "true_divide"),
    domain=Domain("y != 0", nonzero=(1,)),
    # d(x/y) = dx/y - x dy/y**2 = dx/y - ans dy/y; the y partial as -(g/y) ans, the product
    # vjp_numpy computes (written programs then share g/y, and give the tape's numbers)
    vjp=(
        lambda g, ans, x, y: unbroadcast(g / y, x),
        lambda g, ans, x, y: unbroadcast(-(g / y) * ans, y),
    ),
    jvp=(lambda t, ans, x, y: like(t / y, ans), lambda t, ans, x, y: like(t * (-ans / y), ans)),
    vjp_numpy=_divide_np, saves=((1,), (1, -1)),
    infix="/", partials=("1 / {1}", "-{y} / {1}"), formula=(),
    generate=(Domain("all x"), Domain("y != 0", poles=(0.0,))),
    samples=(((0.7, 1.3), {}), ((V, np.array([1.1, 0.2, 0.9])), {}), ((M, POS), {}),
             ((0.5, M + 0.1), {})),
    derivative="d(x/y) = dx/y - x dy/y**2",
)


def _negative_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    return (-g,)


negative = primitive(
    "negative", np.negative, symbolic=operator.neg, linear=True, operators=("neg",),
    vjp=(lambda g, ans, x: -g,), jvp=(lambda t, ans, x: -t,),
    vjp_numpy=_negative_np, saves=(),
    infix="-", partials=("-1",), generate=True, formula=(),
    samples=unary_samples(SPREAD), derivative="d(-x) = -dx",
)


# ============================================================================ powers


def _const(y: Any) -> bool:
    return not isinstance(y, (Tracer, np.ndarray))


def _pow_vjp_base(g: Any, ans: Any, x: Any, y: Any) -> Any:
    if _const(y):  # constant exponent: cheap special cases
        if y == 2:
            return unbroadcast(g * 2.0 * x, x)
        if y == 1:
            return unbroadcast(g, x)
        if y == 0:
            return unbroadcast(g * 0.0, x)
    return unbroadcast(g * y * x ** (y - 1), x)


def _pow_jvp_base(t: Any, ans: Any, x: Any, y: Any) -> Any:
    if _const(y) and y == 2:
        return like(t * (2.0 * x), ans)  # the partial first: one product with t's batch
    return like(t * (y * x ** (y - 1)), ans)


def _pow_log_x(x: Any) -> Any:
    # d(x**y)/dy = x**y log(x); at x = 0 with y > 0 the product is 0 (x**y log x -> 0)
    return ops.log(x)


def _power_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x, y = args
    ca = cb = None
    if w[0]:
        if (y.__class__ is float or y.__class__ is int) and y == 2:
            ca = g * 2.0 * x
        else:
            ca = g * y * x ** (y - 1)
    if w[1]:
        cb = g * ans * np.log(x)
    return _fit2(ca, x, cb, y)


def _power_text(names: list[str], args: tuple[Any, ...]) -> str:
    """The base's partial for display: ``2 * x`` for x**2, ``c * x**(c-1)`` for constants."""
    y = args[1]
    if _const(y) and np.ndim(y) == 0:
        c = float(y)
        if c == 2:
            return f"2 * {names[0]}"
        return f"{c:g} * {names[0]}**{c - 1:g}"
    return f"{names[1]} * {names[0]}**({names[1]} - 1)"


power = primitive(
    "power", np.power, kind="binary", symbolic=operator.pow, operators=("pow",),
    domain=Domain("x >= 0 unless the exponent is an integer", lo=0.0, lo_open=False,
                  integer_exponent_only=True),
    derivative_domain=Domain("x > 0 for a non-integer exponent", lo=0.0,
                             integer_exponent_only=True),
    # d(x**y) = y x**(y-1) dx + x**y log(x) dy
    vjp=(_pow_vjp_base, lambda g, ans, x, y: unbroadcast(g * ans * _pow_log_x(x), y)),
    jvp=(_pow_jvp_base, lambda t, ans, x, y: like(t * ans * _pow_log_x(x), ans)),
    vjp_numpy=_power_np, saves=((0, 1), (0, -1)),
    infix="**", partials=(_power_text, "{y} * log({0})"), formula=(),
    generate=(Domain("x > 0", lo=0.0), Domain("|y| <= 3", moderate=3.0)),
    samples=(((1.3, 2.0), {}), ((POS, 3.0), {}), ((POS, 0.5), {}), ((1.7, V), {}),
             ((POS, V), {})),
    derivative="d(x**y) = y x**(y-1) dx + x**y log(x) dy",
)


def _square_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    return (g * 2.0 * args[0],)


square = primitive(
    "square", np.square, symbolic=elementwise_fn(lambda x: x**2),
    vjp=(lambda g, ans, x: g * 2.0 * x,), jvp=(lambda t, ans, x: t * 2.0 * x,),
    vjp_numpy=_square_np, saves=(0,),
    partials=("2 * {0}",), generate=True, formula=("square",),
    samples=unary_samples(SPREAD), derivative="d(x**2) = 2x dx",
)

reciprocal = primitive(
    "reciprocal", np.reciprocal, symbolic=elementwise_fn(lambda x: 1 / x),
    domain=Domain("x != 0", poles=(0.0,)),
    vjp=(lambda g, ans, x: -g * ans * ans,), jvp=(lambda t, ans, x: t * -(ans * ans),), saves=(-1,),
    partials=("-{y}**2",), formula=("reciprocal",),
    samples=unary_samples(POS), derivative="-1/x**2",
)


def _cbrt_sympy(x: Any) -> Any:
    sp = sympy_module()
    return sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)


cbrt = primitive(
    "cbrt", np.cbrt, symbolic=elementwise_fn(_cbrt_sympy), analytic=False,  # numpy: reals only
    derivative_domain=Domain("x != 0"),
    vjp=(lambda g, ans, x: g / (3.0 * ans * ans),), jvp=(lambda t, ans, x: t / (3.0 * ans * ans),),
    saves=(-1,),
    partials=("1 / (3 * {y}**2)",), formula=("cbrt",),
    samples=unary_samples(POS), derivative="1/(3 cbrt(x)**2)",
)


# ============================================================================ remainders


@functools.cache
def step_functions() -> SimpleNamespace:
    """sympy's step functions with slope 0 wherever they are defined, diffkit's convention.

    ``sympy.diff(floor(x), x)`` stays an unevaluated ``Derivative``, which neither evaluates
    nor compiles; here it is 0, as the AD methods say (the rules of floor, ceil, ... record no
    derivative), so ``x - y*floor(x/y)`` differentiates to ``1`` and ``-floor(x/y)``. sympy
    lacks ``trunc`` and numpy's round-half-to-even ``rint``: they are here too, evaluating on
    numbers and compiled with :data:`STEP_PRINTERS`. Built on first use (sympy is imported
    lazily).
    """
    sp = sympy_module()

    def fdiff(self: Any, argindex: int = 1) -> Any:
        return sp.S.Zero

    class floor(sp.floor):
        pass

    class ceiling(sp.ceiling):
        pass

    class trunc(sp.Function):
        @classmethod
        def eval(cls, x: Any) -> Any:
            if x.is_Number:
                return sp.floor(x) if x >= 0 else sp.ceiling(x)
            return None

    class rint(sp.Function):
        @classmethod
        def eval(cls, x: Any) -> Any:
            if x.is_Number:  # the nearest integer, ties to even (numpy.rint)
                n = sp.floor(x)
                rest = x - n
                half = sp.Rational(1, 2)
                return n + 1 if rest > half or (rest == half and n % 2) else n
            return None

    for cls in (floor, ceiling, trunc, rint):
        cls.fdiff = fdiff
    return SimpleNamespace(floor=floor, ceiling=ceiling, trunc=trunc, rint=rint)


def _rint_float(v: float) -> float:
    return float(round(v))  # Python rounds floats half to even, as numpy.rint


STEP_PRINTERS = {"trunc": math.trunc, "rint": _rint_float}
"""The compiled symbolic code's ``trunc`` and ``rint`` (:func:`step_functions`)."""


def _quotient_sympy(step: str, remainder: bool) -> Any:
    """``<step>(x / y)``, or the remainder ``x - y <step>(x / y)``, elementwise in sympy."""

    def one(x: Any, y: Any) -> Any:
        q = getattr(step_functions(), step)(x / y)
        return x - y * q if remainder else q

    return elementwise_fn(one)


_MOD_SAMPLES = (  # x / y kept away from integers, where the remainder jumps
    ((2.7, 1.3), {}),
    ((np.array([-2.3, 0.7, 3.9]), np.array([0.9, -0.4, 1.7])), {}),
    ((np.array([[1.75, -0.35, 2.6], [4.1, 0.45, -1.2]]), np.array([0.8, 1.1, 0.7])), {}),
    ((-1.3, np.array([0.7, 2.9, 0.55])), {}),
)

remainder = primitive(
    "remainder", np.remainder, kind="binary", symbolic=_quotient_sympy("floor", remainder=True),
    numpy=("remainder", "mod"), sympy_name="Mod", analytic=False, operators=("mod",),
    domain=Domain("y != 0", nonzero=(1,)), derivative_domain=Domain("x/y not an integer (a jump)"),
    # x mod y = x - y floor(x/y), floor's slope is 0: d = dx - floor(x/y) dy
    vjp=(lambda g, ans, x, y: unbroadcast(g, x),
         lambda g, ans, x, y: unbroadcast(-g * ops.floor(x / y), y)),
    jvp=(lambda t, ans, x, y: like(t, ans), lambda t, ans, x, y: like(-t * ops.floor(x / y), ans)),
    saves=((), (0, 1)), partials=("1", "-floor({0} / {1})"), formula=("mod", "remainder"),
    samples=_MOD_SAMPLES, derivative="d(x mod y) = dx - floor(x/y) dy",
)
fmod = primitive(
    "fmod", np.fmod, kind="binary", symbolic=_quotient_sympy("trunc", remainder=True),
    analytic=False, printer=STEP_PRINTERS,
    domain=Domain("y != 0", nonzero=(1,)), derivative_domain=Domain("x/y not a nonzero integer (a jump)"),
    # fmod(x, y) = x - y trunc(x/y) (the sign of x, as C's fmod)
    vjp=(lambda g, ans, x, y: unbroadcast(g, x),
         lambda g, ans, x, y: unbroadcast(-g * ops.trunc(x / y), y)),
    jvp=(lambda t, ans, x, y: like(t, ans), lambda t, ans, x, y: like(-t * ops.trunc(x / y), ans)),
    saves=((), (0, 1)), partials=("1", "-trunc({0} / {1})"), formula=("fmod",),
    samples=_MOD_SAMPLES, derivative="d fmod(x, y) = dx - trunc(x/y) dy",
)
floor_divide = primitive(
    "floor_divide", np.floor_divide, kind="binary",
    symbolic=_quotient_sympy("floor", remainder=False),
    analytic=False, differentiable=False, operators=("floordiv",),
    domain=Domain("y != 0", nonzero=(1,)), samples=_MOD_SAMPLES,
    derivative="0 (a step function of x/y)",
)
positive = primitive(
    "positive", np.positive, symbolic=operator.pos, linear=True,
    vjp=(lambda g, ans, x: g,), jvp=(lambda t, ans, x: t,), saves=(),
    partials=("1",), samples=unary_samples(SPREAD), derivative="d(+x) = dx",
)

__all__ = ["STEP_PRINTERS", "add", "cbrt", "divide", "floor_divide", "fmod", "multiply",
           "negative", "positive", "power", "reciprocal", "remainder", "square", "step_functions",
           "subtract", "unary_samples"]
