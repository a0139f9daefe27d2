"""Elementwise functions: transcendental functions, kinks, comparisons and selection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UnsupportedPrimitiveError
from ._stanza import (
    POS,
    SPREAD,
    UNIT,
    Domain,
    M,
    V,
    elementwise_fn,
    elementwise_sympy,
    like,
    ops,
    primitive,
    sympy_module,
    unbroadcast,
)
from .arithmetic import STEP_PRINTERS, step_functions, unary_samples

# ============================================================================ transcendental

_MODERATE = Domain("|x| <= 3 (random programs keep fast-growing functions moderate)",
                   moderate=3.0)

sin = primitive(
    "sin", np.sin, symbolic=elementwise_sympy("sin"), sympy_name="sin",
    vjp=(lambda g, ans, x: g * cos(x),), jvp=(lambda t, ans, x: t * cos(x),), saves=(0,),
    partials=("cos({0})",), formula=("sin",), generate=True, methods=(),
    samples=unary_samples(SPREAD), derivative="cos(x)",
)
cos = primitive(
    "cos", np.cos, symbolic=elementwise_sympy("cos"), sympy_name="cos",
    vjp=(lambda g, ans, x: -g * sin(x),), jvp=(lambda t, ans, x: t * -sin(x),), saves=(0,),
    partials=("-sin({0})",), formula=("cos",), generate=True,
    samples=unary_samples(SPREAD), derivative="-sin(x)",
)
tan = primitive(
    "tan", np.tan, symbolic=elementwise_sympy("tan"), sympy_name="tan",
    domain=Domain("cos(x) != 0", poles=(np.pi / 2,), period=np.pi),
    vjp=(lambda g, ans, x: g * (1.0 + ans * ans),), jvp=(lambda t, ans, x: t * (1.0 + ans * ans),),
    saves=(-1,), partials=("1 + {y}**2",), formula=("tan",), generate=True,
    samples=unary_samples(SPREAD), derivative="1 + tan(x)**2",
)
exp = primitive(
    "exp", np.exp, symbolic=elementwise_sympy("exp"), sympy_name="exp",
    vjp=(lambda g, ans, x: g * ans,), jvp=(lambda t, ans, x: t * ans,), saves=(-1,),
    partials=("{y}",), formula=("exp",), generate=(_MODERATE,),
    samples=unary_samples(SPREAD), derivative="exp(x)",
)
log = primitive(
    "log", np.log, symbolic=elementwise_sympy("log"), sympy_name="log",
    domain=Domain("x > 0", lo=0.0),
    vjp=(lambda g, ans, x: g / x,), jvp=(lambda t, ans, x: t / x,), saves=(0,),
    partials=("1 / {0}",), formula=("log", "ln"), generate=True,
    samples=unary_samples(POS), derivative="1/x",
)
log1p = primitive(
    "log1p", np.log1p, symbolic=elementwise_fn(lambda x: sympy_module().log(1 + x)),
    domain=Domain("x > -1", lo=-1.0),
    vjp=(lambda g, ans, x: g / (1.0 + x),), jvp=(lambda t, ans, x: t / (1.0 + x),),
    saves=(0,), partials=("1 / (1 + {0})",), formula=("log1p",), generate=True,
    samples=unary_samples(np.array([-0.5, 0.2, 1.4])), derivative="1/(1+x)",
)
expm1 = primitive(
    "expm1", np.expm1, symbolic=elementwise_fn(lambda x: sympy_module().exp(x) - 1),
    vjp=(lambda g, ans, x: g * (ans + 1.0),), jvp=(lambda t, ans, x: t * (ans + 1.0),), saves=(-1,),
    partials=("{y} + 1",), formula=("expm1",), generate=(_MODERATE,),
    samples=unary_samples(SPREAD), derivative="exp(x)",
)
sqrt = primitive(
    "sqrt", np.sqrt, symbolic=elementwise_sympy("sqrt"), sympy_name="sqrt",
    domain=Domain("x >= 0", lo=0.0, lo_open=False),
    derivative_domain=Domain("x > 0", lo=0.0),
    vjp=(lambda g, ans, x: g / (2.0 * ans),), jvp=(lambda t, ans, x: t / (2.0 * ans),), saves=(-1,),
    partials=("1 / (2 * {y})",), formula=("sqrt",), generate=True,
    samples=unary_samples(POS), derivative="1/(2 sqrt(x))",
)


def _tanh_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    # g (1 - ans**2) with one new array instead of three (an MLP's hidden layer: 128 x 256)
    d = ans * ans
    if d.__class__ is not np.ndarray or not (g.__class__ is float or (
            g.__class__ is np.ndarray and g.dtype == d.dtype and g.shape == d.shape)):
        return (g * (1.0 - d),)
    np.subtract(1.0, d, out=d)
    np.multiply(d, g, out=d)
    return (d,)


tanh = primitive(
    "tanh", np.tanh, symbolic=elementwise_sympy("tanh"), sympy_name="tanh",
    vjp=(lambda g, ans, x: g * (1.0 - ans * ans),), jvp=(lambda t, ans, x: t * (1.0 - ans * ans),),
    vjp_numpy=_tanh_np, saves=(-1,), partials=("1 - {y}**2",), formula=("tanh",),
    generate=(_MODERATE,),
    samples=unary_samples(SPREAD), derivative="1 - tanh(x)**2",
)
sinh = primitive(
    "sinh", np.sinh, symbolic=elementwise_sympy("sinh"), sympy_name="sinh",
    vjp=(lambda g, ans, x: g * cosh(x),), jvp=(lambda t, ans, x: t * cosh(x),), saves=(0,),
    partials=("cosh({0})",), formula=("sinh",), generate=(_MODERATE,),
    samples=unary_samples(SPREAD), derivative="cosh(x)",
)
cosh = primitive(
    "cosh", np.cosh, symbolic=elementwise_sympy("cosh"), sympy_name="cosh",
    vjp=(lambda g, ans, x: g * sinh(x),), jvp=(lambda t, ans, x: t * sinh(x),), saves=(0,),
    partials=("sinh({0})",), formula=("cosh",), generate=(_MODERATE,),
    samples=unary_samples(SPREAD), derivative="sinh(x)",
)
arctan = primitive(
    "arctan", np.arctan, symbolic=elementwise_sympy("atan"), sympy_name="atan",
    vjp=(lambda g, ans, x: g / (1.0 + x * x),), jvp=(lambda t, ans, x: t / (1.0 + x * x),),
    saves=(0,), partials=("1 / (1 + {0}**2)",), formula=("arctan", "atan"), generate=True,
    samples=unary_samples(SPREAD), derivative="1/(1+x**2)",
)
arcsin = primitive(
    "arcsin", np.arcsin, symbolic=elementwise_sympy("asin"), sympy_name="asin",
    domain=Domain("-1 <= x <= 1", lo=-1.0, hi=1.0, lo_open=False, hi_open=False),
    derivative_domain=Domain("-1 < x < 1", lo=-1.0, hi=1.0),
    vjp=(lambda g, ans, x: g / sqrt(1.0 - x * x),), jvp=(lambda t, ans, x: t / sqrt(1.0 - x * x),),
    saves=(0,), partials=("1 / sqrt(1 - {0}**2)",), formula=("arcsin", "asin"),
    generate=True, samples=unary_samples(UNIT), derivative="1/sqrt(1-x**2)",
)
arccos = primitive(
    "arccos", np.arccos, symbolic=elementwise_sympy("acos"), sympy_name="acos",
    domain=Domain("-1 <= x <= 1", lo=-1.0, hi=1.0, lo_open=False, hi_open=False),
    derivative_domain=Domain("-1 < x < 1", lo=-1.0, hi=1.0),
    vjp=(lambda g, ans, x: -g / sqrt(1.0 - x * x),),
    jvp=(lambda t, ans, x: -t / sqrt(1.0 - x * x),),
    saves=(0,), partials=("-1 / sqrt(1 - {0}**2)",), formula=("arccos", "acos"),
    generate=True, samples=unary_samples(UNIT), derivative="-1/sqrt(1-x**2)",
)

arcsinh = primitive(
    "arcsinh", np.arcsinh, symbolic=elementwise_sympy("asinh"), sympy_name="asinh",
    vjp=(lambda g, ans, x: g / sqrt(x * x + 1.0),),
    jvp=(lambda t, ans, x: t / sqrt(x * x + 1.0),),
    saves=(0,), partials=("1 / sqrt({0}**2 + 1)",), formula=("arcsinh", "asinh"), generate=True,
    samples=unary_samples(SPREAD), derivative="1/sqrt(x**2+1)",
)
# (x - 1)(x + 1), not x*x - 1: no cancellation near the branch point x = 1
arccosh = primitive(
    "arccosh", np.arccosh, symbolic=elementwise_sympy("acosh"), sympy_name="acosh",
    domain=Domain("x >= 1", lo=1.0, lo_open=False),
    derivative_domain=Domain("x > 1", lo=1.0),
    vjp=(lambda g, ans, x: g / sqrt((x - 1.0) * (x + 1.0)),),
    jvp=(lambda t, ans, x: t / sqrt((x - 1.0) * (x + 1.0)),),
    saves=(0,), partials=("1 / sqrt({0}**2 - 1)",), formula=("arccosh", "acosh"), generate=True,
    samples=unary_samples(np.array([1.2, 1.9, 3.1])), derivative="1/sqrt(x**2-1)",
)
arctanh = primitive(
    "arctanh", np.arctanh, symbolic=elementwise_sympy("atanh"), sympy_name="atanh",
    domain=Domain("-1 < x < 1", lo=-1.0, hi=1.0),
    vjp=(lambda g, ans, x: g / ((1.0 - x) * (1.0 + x)),),
    jvp=(lambda t, ans, x: t / ((1.0 - x) * (1.0 + x)),),
    saves=(0,), partials=("1 / (1 - {0}**2)",), formula=("arctanh", "atanh"), generate=True,
    samples=unary_samples(UNIT), derivative="1/(1-x**2)",
)

_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))

exp2 = primitive(
    "exp2", np.exp2, symbolic=elementwise_fn(lambda x: sympy_module().Integer(2) ** x),
    vjp=(lambda g, ans, x: g * ans * _LN2,), jvp=(lambda t, ans, x: t * ans * _LN2,), saves=(-1,),
    partials=("log(2) * {y}",), formula=("exp2",), generate=(_MODERATE,),
    samples=unary_samples(SPREAD), derivative="log(2) 2**x",
)
log2 = primitive(
    "log2", np.log2, symbolic=elementwise_fn(lambda x: sympy_module().log(x, 2)),
    domain=Domain("x > 0", lo=0.0),
    vjp=(lambda g, ans, x: g / (x * _LN2),), jvp=(lambda t, ans, x: t / (x * _LN2),), saves=(0,),
    partials=("1 / ({0} * log(2))",), formula=("log2",), generate=True,
    samples=unary_samples(POS), derivative="1/(x log(2))",
)
log10 = primitive(
    "log10", np.log10, symbolic=elementwise_fn(lambda x: sympy_module().log(x, 10)),
    domain=Domain("x > 0", lo=0.0),
    vjp=(lambda g, ans, x: g / (x * _LN10),), jvp=(lambda t, ans, x: t / (x * _LN10),),
    saves=(0,), partials=("1 / ({0} * log(10))",), formula=("log10",), generate=True,
    samples=unary_samples(POS), derivative="1/(x log(10))",
)


def _sinc_slope(x: Any, ans: Any) -> Any:
    """d sinc(x)/dx = (cos(pi x) - sinc(x)) / x, and its limit 0 at x = 0.

    The quotient cancels near 0 (two numbers near 1, divided by a small x), so there the
    Taylor series -pi^2 x/3 + pi^4 x^3/30 - pi^6 x^5/840 takes over: for x^2 < 1e-4 the next
    term is 6e-14 of the first, and beyond it the quotient loses at most 7e-13. The
    double where (a safe divisor, then the selection) keeps a NaN out of every branch, and
    the series is itself differentiable: the second derivative at 0 is -pi^2/3. sinc(x) is
    ``ans``: a second sweep then differentiates sinc at x itself, not at the safe divisor.
    """
    x2 = x * x
    near = less(x2, 1e-4)
    series = x * (_SINC1 + x2 * (_SINC3 + x2 * _SINC5))
    # x + 1 near 0, x (exactly) elsewhere: as a sum, not where(near, 1, x), so that sympy
    # keeps 1/safe whole instead of a Piecewise holding 1/x, which common-subexpression
    # elimination would hoist out of its branch and evaluate at x = 0
    safe = x + where(near, 1.0, 0.0)
    return where(near, series, (cos(np.pi * x) - ans) / safe)


_SINC1, _SINC3, _SINC5 = -np.pi**2 / 3, np.pi**4 / 30, -np.pi**6 / 840

sinc = primitive(
    "sinc", np.sinc, symbolic=elementwise_fn(lambda x: sympy_module().sinc(sympy_module().pi * x)),
    vjp=(lambda g, ans, x: g * _sinc_slope(x, ans),),
    jvp=(lambda t, ans, x: t * _sinc_slope(x, ans),), saves=(0, -1),
    partials=("(cos(pi*{0}) - {y}) / {0}",), formula=("sinc",),
    # drawn away from 0, where sympy's derivative of sin(pi x)/(pi x) is 0/0 (a reference
    # taken from the symbolic form would fail there; the rules above do not)
    generate=(Domain("x > 0 for random programs", lo=0.0),),
    samples=(((0.35,), {}), ((np.array([-1.3, 0.004, 0.6]),), {}), ((M - 0.6,), {})),
    derivative="(cos(pi x) - sinc(x))/x, 0 at x = 0",
)

# analytic=False below marks the smooth functions whose numpy loop refuses complex input:
# the complex step evaluates the user's own np.hypot(x + ih, y), which raises TypeError
_RAD, _DEG = np.pi / 180.0, 180.0 / np.pi

deg2rad = primitive(
    "deg2rad", np.deg2rad, numpy=("deg2rad", "radians"),
    symbolic=elementwise_fn(lambda x: x * sympy_module().pi / 180), linear=True,
    analytic=False,  # numpy: reals only
    vjp=(lambda g, ans, x: g * _RAD,), jvp=(lambda t, ans, x: t * _RAD,), saves=(),
    partials=("pi / 180",), formula=("deg2rad", "radians"), generate=True,
    samples=unary_samples(SPREAD * 50.0), derivative="pi/180",
)
rad2deg = primitive(
    "rad2deg", np.rad2deg, numpy=("rad2deg", "degrees"),
    symbolic=elementwise_fn(lambda x: x * 180 / sympy_module().pi), linear=True,
    analytic=False,  # numpy: reals only
    vjp=(lambda g, ans, x: g * _DEG,), jvp=(lambda t, ans, x: t * _DEG,), saves=(),
    partials=("180 / pi",), formula=("rad2deg", "degrees"), generate=True,
    samples=unary_samples(SPREAD), derivative="180/pi",
)

# ------------------------------------------------------------ smooth binary functions

_BINARY_SPREAD = (((0.7, -1.3), {}), ((V, np.array([-1.1, 0.2, 0.9])), {}), ((M, SPREAD), {}),
                  ((-0.5, M), {}))

hypot = primitive(
    "hypot", np.hypot, kind="binary", analytic=False,  # numpy: reals only
    symbolic=elementwise_fn(lambda x, y: sympy_module().sqrt(x * x + y * y)),
    derivative_domain=Domain("(x, y) != (0, 0)"),
    vjp=(lambda g, ans, x, y: unbroadcast(g * x / ans, x),
         lambda g, ans, x, y: unbroadcast(g * y / ans, y)),
    jvp=(lambda t, ans, x, y: like(t * x / ans, ans), lambda t, ans, x, y: like(t * y / ans, ans)),
    saves=((0, -1), (1, -1)), partials=("{0} / {y}", "{1} / {y}"), formula=("hypot",),
    generate=(Domain("x > 0", lo=0.0), Domain("all y")),
    samples=_BINARY_SPREAD, derivative="d hypot(x, y) = (x dx + y dy) / hypot(x, y)",
)
arctan2 = primitive(
    "arctan2", np.arctan2, kind="binary", analytic=False,  # numpy: reals only
    symbolic=elementwise_sympy("atan2"), sympy_name="atan2",
    derivative_domain=Domain("(y, x) != (0, 0) and not y = 0 with x < 0 (a jump)"),
    # d atan2(y, x) = (x dy - y dx) / (x**2 + y**2)
    vjp=(lambda g, ans, y, x: unbroadcast(g * x / (x * x + y * y), y),
         lambda g, ans, y, x: unbroadcast(-g * y / (x * x + y * y), x)),
    jvp=(lambda t, ans, y, x: like(t * x / (x * x + y * y), ans),
         lambda t, ans, y, x: like(-t * y / (x * x + y * y), ans)),
    saves=(0, 1), partials=("{1} / ({0}**2 + {1}**2)", "-{0} / ({0}**2 + {1}**2)"),
    formula=("arctan2", "atan2"), generate=(Domain("all y"), Domain("x > 0", lo=0.0)),
    samples=_BINARY_SPREAD, derivative="d atan2(y, x) = (x dy - y dx) / (x**2 + y**2)",
)


def _logaddexp_sympy(x: Any, y: Any) -> Any:
    sp = sympy_module()
    return sp.log(sp.exp(x) + sp.exp(y))


logaddexp = primitive(
    "logaddexp", np.logaddexp, kind="binary", analytic=False,  # numpy: reals only
    symbolic=elementwise_fn(_logaddexp_sympy),
    # d log(e^x + e^y) = (e^x dx + e^y dy) / (e^x + e^y) = e^(x - ans) dx + e^(y - ans) dy
    vjp=(lambda g, ans, x, y: unbroadcast(g * exp(x - ans), x),
         lambda g, ans, x, y: unbroadcast(g * exp(y - ans), y)),
    jvp=(lambda t, ans, x, y: like(t * exp(x - ans), ans),
         lambda t, ans, x, y: like(t * exp(y - ans), ans)),
    saves=((0, -1), (1, -1)), partials=("exp({0} - {y})", "exp({1} - {y})"),
    formula=("logaddexp",), generate=True, samples=_BINARY_SPREAD,
    derivative="d logaddexp(x, y) = exp(x - ans) dx + exp(y - ans) dy",
)
logaddexp2 = primitive(
    "logaddexp2", np.logaddexp2, kind="binary", analytic=False,  # numpy: reals only
    symbolic=elementwise_fn(lambda x, y: sympy_module().log(2**x + 2**y, 2)),
    vjp=(lambda g, ans, x, y: unbroadcast(g * exp2(x - ans), x),
         lambda g, ans, x, y: unbroadcast(g * exp2(y - ans), y)),
    jvp=(lambda t, ans, x, y: like(t * exp2(x - ans), ans),
         lambda t, ans, x, y: like(t * exp2(y - ans), ans)),
    saves=((0, -1), (1, -1)), partials=("2**({0} - {y})", "2**({1} - {y})"),
    formula=("logaddexp2",), generate=True, samples=_BINARY_SPREAD,
    derivative="d logaddexp2(x, y) = 2**(x - ans) dx + 2**(y - ans) dy",
)

# ------------------------------------------------------------ not complex-analytic (kinks)


def _dirac_delta(x: float, k: int = 0) -> float:
    return 0.0  # the slope of a step, 0 as every method says (sympy: d sign/dx = 2 DiracDelta)


sign = primitive(
    "sign", np.sign, symbolic=elementwise_sympy("sign"), sympy_name="sign", analytic=False,
    differentiable=False, formula=("sign",), samples=unary_samples(SPREAD),
    domain=Domain("all x; jumps at 0", kinks=(0.0,)),
    printer={"DiracDelta": _dirac_delta},
)
absolute = primitive(
    "absolute", np.absolute, symbolic=elementwise_sympy("Abs"), sympy_name="Abs",
    numpy=("absolute", "abs"), analytic=False, operators=("abs",),
    domain=Domain("all x", kinks=(0.0,)),
    vjp=(lambda g, ans, x: g * sign(x),), jvp=(lambda t, ans, x: t * sign(x),), saves=(0,),
    partials=("sign({0})",), formula=("abs", "Abs", "absolute"), generate=True,
    samples=unary_samples(SPREAD), derivative="sign(x) (0 at x = 0)",
)


def tie_weight(x: Any, y: Any) -> Any:
    """1 where x wins, 0 where y wins, 1/2 at ties (the subgradient that splits the tie)."""
    return where(equal(x, y), 0.5, where(greater(x, y), 1.0, 0.0))


_TIE_SAMPLES = (((0.7, 1.3), {}), ((V, np.array([1.1, 0.2, 0.9])), {}), ((M, V), {}),
                ((0.5, M), {}))

maximum = primitive(
    "maximum", np.maximum, kind="binary", symbolic=elementwise_sympy("Max"), sympy_name="Max",
    analytic=False, domain=Domain("all x, y; kink where x = y", kinks=(0.0,)),
    vjp=(
        lambda g, ans, x, y: unbroadcast(g * tie_weight(x, y), x),
        lambda g, ans, x, y: unbroadcast(g * tie_weight(y, x), y),
    ),
    jvp=(
        lambda t, ans, x, y: like(t * tie_weight(x, y), ans),
        lambda t, ans, x, y: like(t * tie_weight(y, x), ans),
    ),
    saves=(0, 1), partials=("[{0} > {1}]", "[{1} > {0}]"),
    formula=("maximum", "max", "Max"), generate=True, samples=_TIE_SAMPLES,
    derivative="1 where x > y, 0 where x < y, 1/2 at ties",
)
minimum = primitive(
    "minimum", np.minimum, kind="binary", symbolic=elementwise_sympy("Min"), sympy_name="Min",
    analytic=False, domain=Domain("all x, y; kink where x = y", kinks=(0.0,)),
    vjp=(
        lambda g, ans, x, y: unbroadcast(g * tie_weight(y, x), x),
        lambda g, ans, x, y: unbroadcast(g * tie_weight(x, y), y),
    ),
    jvp=(
        lambda t, ans, x, y: like(t * tie_weight(y, x), ans),
        lambda t, ans, x, y: like(t * tie_weight(x, y), ans),
    ),
    saves=(0, 1), partials=("[{0} < {1}]", "[{1} < {0}]"),
    formula=("minimum", "min", "Min"), generate=True, samples=_TIE_SAMPLES,
    derivative="1 where x < y, 0 where x > y, 1/2 at ties",
)

fabs = primitive(
    "fabs", np.fabs, symbolic=elementwise_sympy("Abs"), analytic=False,  # numpy: reals only
    domain=Domain("all x", kinks=(0.0,)),
    vjp=(lambda g, ans, x: g * sign(x),), jvp=(lambda t, ans, x: t * sign(x),), saves=(0,),
    partials=("sign({0})",), formula=("fabs",),
    samples=unary_samples(SPREAD), derivative="sign(x) (0 at x = 0)",
)


def _copysign_sympy(x: Any, y: Any) -> Any:
    sp = sympy_module()
    return sp.Piecewise((sp.Abs(x), y >= 0), (-sp.Abs(x), True))


copysign = primitive(
    "copysign", np.copysign, kind="binary", symbolic=elementwise_fn(_copysign_sympy),
    analytic=False, domain=Domain("all x, y; kink at x = 0", kinks=(0.0,),
                                  kink_vars=((0,),)),
    derivative_domain=Domain("x != 0 and y != 0 (a jump)"),
    # |x| with the sign of y: slope sign(x) sign(y), which is sign(x) sign(ans) (both 0 at
    # x = 0, like abs); the sign of y is a step, slope 0
    vjp=(lambda g, ans, x, y: unbroadcast(g * sign(x) * sign(ans), x), None),
    jvp=(lambda t, ans, x, y: like(t * sign(x) * sign(ans), ans), None),
    saves=((0, -1), ()), partials=("sign({0}) * sign({y})", "0"), formula=("copysign",),
    samples=(((0.7, -1.3), {}), ((SPREAD, np.array([1.1, -0.2, 0.9])), {}), ((M, SPREAD), {}),
             ((-0.5, M - 0.6), {})),
    derivative="sign(x) sign(y) dx",
)


def _nan_aware(w: Any, x: Any, y: Any) -> Any:
    """The weight ``w`` of ``x`` in fmax/fmin, with numpy's NaN rule: NaN loses (weight 1
    where y is NaN, 0 where x is; both NaN: 0, the output is NaN anyway)."""
    return where(not_equal(x, x), 0.0, where(not_equal(y, y), 1.0, w))


fmax = primitive(
    "fmax", np.fmax, kind="binary", symbolic=elementwise_sympy("Max"), analytic=False,
    domain=Domain("all x, y; kink where x = y; a NaN loses", kinks=(0.0,)),
    vjp=(
        lambda g, ans, x, y: unbroadcast(g * _nan_aware(tie_weight(x, y), x, y), x),
        lambda g, ans, x, y: unbroadcast(g * _nan_aware(tie_weight(y, x), y, x), y),
    ),
    jvp=(
        lambda t, ans, x, y: like(t * _nan_aware(tie_weight(x, y), x, y), ans),
        lambda t, ans, x, y: like(t * _nan_aware(tie_weight(y, x), y, x), ans),
    ),
    saves=(0, 1), partials=("[{0} > {1}]", "[{1} > {0}]"), formula=("fmax",),
    samples=_TIE_SAMPLES, derivative="as maximum; where one argument is NaN, the other's",
)
fmin = primitive(
    "fmin", np.fmin, kind="binary", symbolic=elementwise_sympy("Min"), analytic=False,
    domain=Domain("all x, y; kink where x = y; a NaN loses", kinks=(0.0,)),
    vjp=(
        lambda g, ans, x, y: unbroadcast(g * _nan_aware(tie_weight(y, x), x, y), x),
        lambda g, ans, x, y: unbroadcast(g * _nan_aware(tie_weight(x, y), y, x), y),
    ),
    jvp=(
        lambda t, ans, x, y: like(t * _nan_aware(tie_weight(y, x), x, y), ans),
        lambda t, ans, x, y: like(t * _nan_aware(tie_weight(x, y), y, x), ans),
    ),
    saves=(0, 1), partials=("[{0} < {1}]", "[{1} < {0}]"), formula=("fmin",),
    samples=_TIE_SAMPLES, derivative="as minimum; where one argument is NaN, the other's",
)

# ------------------------------------------------------------ clip


class _NoValue:
    """numpy's "argument not given" (``np.clip(x, a_max=1)``)."""

    def __repr__(self) -> str:
        return "<no value>"


_NOT_GIVEN = _NoValue()


def _numpy_name(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Name a ``signature`` function as numpy's, so a call it cannot bind reads
    ``clip() takes from 1 to 4 positional arguments``."""

    def rename(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__name__ = fn.__qualname__ = name
        return fn

    return rename


@_numpy_name("clip")
def _clip_signature(a: Any, a_min: Any = _NOT_GIVEN, a_max: Any = _NOT_GIVEN, out: Any = None,
                    **bounds: Any) -> Any:
    for key in bounds:
        if key not in ("min", "max"):
            raise TypeError(f"clip() got an unexpected keyword argument {key!r}")
    if "min" in bounds:
        if a_min is not _NOT_GIVEN:
            raise TypeError("clip() got a_min and min; pass one of them")
        a_min = bounds["min"]
    if "max" in bounds:
        if a_max is not _NOT_GIVEN:
            raise TypeError("clip() got a_max and max; pass one of them")
        a_max = bounds["max"]
    if out is not None:

        raise UnsupportedPrimitiveError(
            "numpy.clip(..., out=...) on a traced value: diffkit cannot follow writes into an "
            "existing array; assign the result instead (y = np.clip(x, lo, hi))")
    lo = None if a_min is _NOT_GIVEN else a_min
    hi = None if a_max is _NOT_GIVEN else a_max
    return (a, lo, hi), {}


def _clip_weight(i: int, x: Any, lo: Any, hi: Any) -> Any:
    """The slope of clip(x, lo, hi) in its argument ``i`` (a bound ``None`` is absent).

    clip is minimum(maximum(x, lo), hi), each with maximum's and minimum's slopes (1/2 at a
    tie): x's slope is 1 inside [lo, hi] and 0 outside; a bound's is 1 where it is the
    output.
    """
    m = x if lo is None else maximum(x, lo)
    if i == 2:
        return tie_weight(m, hi)
    below = 1.0 if hi is None else tie_weight(hi, m)  # d min(m, hi) / dm
    if i == 1:
        return tie_weight(lo, x) * below
    return below if lo is None else tie_weight(x, lo) * below


def _clip_vjp(i: int) -> Callable[..., Any]:
    def rule(g: Any, ans: Any, x: Any, lo: Any, hi: Any) -> Any:
        return unbroadcast(g * _clip_weight(i, x, lo, hi), (x, lo, hi)[i])

    return rule


def _clip_jvp(i: int) -> Callable[..., Any]:
    def rule(t: Any, ans: Any, x: Any, lo: Any, hi: Any) -> Any:
        return like(t * _clip_weight(i, x, lo, hi), ans)

    return rule


def _clip_one(x: Any, lo: Any, hi: Any) -> Any:
    sp = sympy_module()
    out = x if lo is None else sp.Max(x, lo)
    return out if hi is None else sp.Min(out, hi)


clip = primitive(
    "clip", np.clip, signature=_clip_signature, symbolic=elementwise_fn(_clip_one),
    methods=("clip",), analytic=False, elementwise=True,
    domain=Domain("all x; kinks where x meets a bound", kinks=(0.0,),
                  kink_vars=((0, 1), (0, 2))),
    vjp=tuple(_clip_vjp(i) for i in range(3)), jvp=tuple(_clip_jvp(i) for i in range(3)),
    # a bound None (absent) is never traced, so no rule sees it as the argument it differentiates
    samples=(((SPREAD, -0.5, 1.0), {}), ((0.35, 0.2, 1.0), {}),
             ((M, np.array([0.3, 0.45, 0.1]), 1.0), {}), ((M, 0.85, 0.6), {}),
             ((V, np.array([0.5, 0.2, 1.3]), np.array([0.9, 0.6, 1.5])), {})),
    derivative="1 inside [a_min, a_max], 0 outside; a bound's slope is 1 where it is the "
    "output",
)

# ------------------------------------------------------------ steps (slope 0)

_STEPS_AT_INTEGERS = Domain("x not an integer (a jump)")


def _steps(name: str) -> Callable[..., Any]:
    return elementwise_fn(lambda x: getattr(step_functions(), name)(x))


floor = primitive(
    "floor", np.floor, symbolic=_steps("floor"), sympy_name="floor", analytic=False,
    differentiable=False, staircase=1.0, derivative_domain=_STEPS_AT_INTEGERS, formula=("floor",),
    samples=unary_samples(SPREAD * 3.0), derivative="0 (a step function)",
)
ceil = primitive(
    "ceil", np.ceil, symbolic=_steps("ceiling"), sympy_name="ceiling", analytic=False,
    differentiable=False, staircase=1.0, derivative_domain=_STEPS_AT_INTEGERS,
    formula=("ceil", "ceiling"), samples=unary_samples(SPREAD * 3.0),
    derivative="0 (a step function)",
)
trunc = primitive(
    "trunc", np.trunc, symbolic=_steps("trunc"), analytic=False, differentiable=False,
    staircase=1.0,
    numpy=("trunc", "fix"),  # numpy.fix rounds towards zero too
    printer=STEP_PRINTERS, derivative_domain=Domain("x not a nonzero integer (a jump)"),
    formula=("trunc",), samples=unary_samples(SPREAD * 3.0), derivative="0 (a step function)",
)
rint = primitive(
    "rint", np.rint, symbolic=_steps("rint"), analytic=False, differentiable=False,
    staircase=1.0, staircase_edge=0.5,
    printer=STEP_PRINTERS, derivative_domain=Domain("x not a half-integer (a jump)"),
    formula=("rint",), samples=unary_samples(SPREAD * 3.0), derivative="0 (a step function)",
)


@_numpy_name("round")
def _round_signature(a: Any, decimals: Any = 0, out: Any = None) -> Any:
    if out is not None:

        raise UnsupportedPrimitiveError(
            "numpy.round(..., out=...) on a traced value: diffkit cannot follow writes into an "
            "existing array; assign the result instead (y = np.round(x, decimals))")
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise TypeError(f"decimals must be an integer, got {decimals!r}")
    return (a,), {"decimals": int(decimals)}


def _round_one(x: Any, decimals: int) -> Any:
    rint_ = step_functions().rint
    if decimals >= 0:  # as numpy: rint(x * 10**d) / 10**d, or * 10**-d for d < 0
        return rint_(x * 10**decimals) / 10**decimals
    return rint_(x / 10**-decimals) * 10**-decimals


round_ = primitive(
    "round", lambda x, decimals=0: np.round(x, decimals), signature=_round_signature,
    symbolic=elementwise_fn(lambda x, decimals=0: _round_one(x, decimals)),
    numpy=("round", "around"), methods=("round",), operators=("round",), analytic=False,
    differentiable=False, elementwise=True, printer=STEP_PRINTERS, nargs=1,
    staircase=lambda params: 10.0 ** -params.get("decimals", 0), staircase_edge=0.5,
    derivative_domain=Domain("x not halfway between two rounded values (a jump)"),
    samples=(((2.37,), {"decimals": 0}), ((SPREAD * 3.0,), {"decimals": 1}),
             ((M * 7.3,), {"decimals": 0}), ((M * 73.0,), {"decimals": -1})),
    derivative="0 (a step function)",
)


def _heaviside_one(x: Any, h0: Any) -> Any:
    sp = sympy_module()  # sympy's Heaviside differentiates to DiracDelta; this to 0
    return sp.Piecewise((0, x < 0), (h0, sp.Eq(x, 0)), (1, True))


heaviside = primitive(
    "heaviside", np.heaviside, kind="binary", symbolic=elementwise_fn(_heaviside_one),
    analytic=False, differentiable=False, derivative_domain=Domain("x != 0 (a jump)"),
    formula=("heaviside",), samples=_TIE_SAMPLES, derivative="0 (a step function)",
)

# ------------------------------------------------------------ parts of a real value

real = primitive(
    "real", np.real, symbolic=elementwise_sympy("re"), linear=True,
    analytic=False,  # real(x + ih) drops the step: not the continuation of real(x) = x
    vjp=(lambda g, ans, x: g,), jvp=(lambda t, ans, x: t,), saves=(),
    methods={"real": property(lambda self: real(self))}, partials=("1",),
    samples=unary_samples(SPREAD), derivative="1 on real input",
)
imag = primitive(
    "imag", np.imag, symbolic=elementwise_sympy("im"), analytic=False, differentiable=False,
    methods={"imag": property(lambda self: imag(self))},
    samples=unary_samples(SPREAD), derivative="0 on real input (the value is 0)",
)
# registered as numpy's short name: "conjugate" is also sympy's, which the engines spell out
conj = primitive(
    "conj", np.conjugate, symbolic=elementwise_sympy("conjugate"), linear=True,
    numpy=("conjugate", "conj"), methods=("conjugate", "conj"),
    analytic=False,  # conj(x + ih) = x - ih: the step's sign flips
    vjp=(lambda g, ans, x: g,), jvp=(lambda t, ans, x: t,), saves=(),
    partials=("1",), samples=unary_samples(SPREAD), derivative="1 on real input",
)

# ------------------------------------------------------------ nan_to_num


@_numpy_name("nan_to_num")
def _nan_to_num_signature(x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None,
                          neginf: Any = None) -> Any:
    # copy=False asks numpy to write into x; a traced value is never modified, so the
    # returned array is the result either way
    params = {"nan": nan, "posinf": posinf, "neginf": neginf}
    for key, v in params.items():
        if v is not None and not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{key}={v!r}: diffkit takes a number (a fixed replacement)")
    return (x,), {k: None if v is None else float(v) for k, v in params.items()}


nan_to_num = primitive(
    "nan_to_num", lambda x, nan=0.0, posinf=None, neginf=None: np.nan_to_num(
        x, nan=nan, posinf=posinf, neginf=neginf),
    signature=_nan_to_num_signature, symbolic=elementwise_fn(lambda x, **params: x),
    elementwise=True, nargs=1,
    # the identity where x is finite (the output equals x there); a constant elsewhere
    vjp=(lambda g, ans, x, **p: where(equal(ans, x), g, 0.0),),
    jvp=(lambda t, ans, x, **p: like(where(equal(ans, x), t, 0.0), ans),),
    saves=(0, -1), partials=("1",),
    samples=(((0.35,), {"nan": 0.0, "posinf": None, "neginf": None}),
             ((SPREAD,), {"nan": 0.0, "posinf": None, "neginf": None}),
             ((M,), {"nan": 1.0, "posinf": 9.0, "neginf": -9.0})),
    derivative="1 where x is finite, 0 where it is replaced",
)

# ------------------------------------------------------------ comparisons (no derivative)


def _relation(name: str) -> Callable[..., Any]:
    return elementwise_fn(lambda a, b: getattr(sympy_module(), name)(a, b, evaluate=False))


_SWITCH = Domain("all x, y; the answer switches where x = y", kinks=(0.0,))
"""A comparison's switch: where x = y a branch on it (``np.where(x > 1, a, b)``, ``if x > 1:``)
may be a kink or a jump of f, which a finite difference must not straddle (the noise trace
keeps its distance as it keeps maximum's)."""


def _comparison(name: str, ufunc: Any, sympy_rel: str, op: str) -> Callable[..., Any]:
    return primitive(name, ufunc, kind="binary", symbolic=_relation(sympy_rel), analytic=False,
                     differentiable=False, operators=(op,), samples=_TIE_SAMPLES,
                     domain=_SWITCH)


less = _comparison("less", np.less, "Lt", "lt")
less_equal = _comparison("less_equal", np.less_equal, "Le", "le")
greater = _comparison("greater", np.greater, "Gt", "gt")
greater_equal = _comparison("greater_equal", np.greater_equal, "Ge", "ge")
# elementwise like numpy: AD traces compare values (so `if x == 0:` branches), symbolic
# traces build an equation whose truth value raises SymbolicBranchError
equal = _comparison("equal", np.equal, "Eq", "eq")
not_equal = _comparison("not_equal", np.not_equal, "Ne", "ne")

# ------------------------------------------------------------ logic on masks (no derivative)


def _logic(name: str) -> Callable[..., Any]:
    return elementwise_fn(lambda *a: getattr(sympy_module(), name)(*a))


_MASKS = (((np.array([True, False, True]), np.array([True, True, False])), {}),
          ((np.array([[True, False], [False, True]]), True), {}))

# (x > 0) & (x < 1), ~(x > 0): numpy's & | ^ ~ on boolean masks are these (the AD traces'
# comparisons are plain arrays already; the code writer's and symbolic's are traced values)
logical_and = primitive("logical_and", np.logical_and, kind="binary", symbolic=_logic("And"),
                        analytic=False, differentiable=False, operators=("and",),
                        samples=_MASKS)
logical_or = primitive("logical_or", np.logical_or, kind="binary", symbolic=_logic("Or"),
                       analytic=False, differentiable=False, operators=("or",), samples=_MASKS)
logical_xor = primitive("logical_xor", np.logical_xor, kind="binary", symbolic=_logic("Xor"),
                        analytic=False, differentiable=False, operators=("xor",),
                        samples=_MASKS)
logical_not = primitive("logical_not", np.logical_not, symbolic=_logic("Not"), analytic=False,
                        differentiable=False, operators=("invert",),
                        samples=(((np.array([True, False, True]),), {}),))

# ------------------------------------------------------------ selection


def _where_symbolic(c: Any, x: Any, y: Any) -> Any:
    sp = sympy_module()
    piecewise = sp.Piecewise

    def as_written(ci: Any, xi: Any, yi: Any) -> Any:
        # sympy folds a condition that holds a Piecewise (an adjoint below another where)
        # into nested rewrites that can fail deep inside its simplification: build it raw
        pair = sp.functions.elementary.piecewise.ExprCondPair
        return sp.Basic.__new__(piecewise, sp.Tuple.__new__(pair, sp.sympify(xi), ci),
                                sp.Tuple.__new__(pair, sp.sympify(yi), sp.true))

    def one(ci: Any, xi: Any, yi: Any) -> Any:
        if ci is True or ci == sp.true:
            return xi
        if ci is False or ci == sp.false:
            return yi
        if isinstance(ci, sp.Basic) and ci.has(piecewise):
            return as_written(ci, xi, yi)
        try:
            return piecewise((xi, ci), (yi, True))
        except (RecursionError, AttributeError, TypeError):
            # sympy 1.14's Piecewise.eval can rebuild itself forever on a condition such as
            # Eq(Min(exp(x), log1p(x) - sin(x)), log1p(log1p(x)) - x/4): keep it as written
            return as_written(ci, xi, yi)

    return elementwise_fn(one)(c, x, y)


def _where_signature(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:

        raise UnsupportedPrimitiveError(
            "numpy.where(condition) with one argument returns indices, which carry no "
            "derivative; call np.where(condition, x, y) to select values")
    return (condition, x, y), {}


where = primitive(
    "where", np.where, signature=_where_signature, symbolic=_where_symbolic, linear=True,
    elementwise=True,
    vjp=(
        None,
        lambda g, ans, c, x, y: unbroadcast(where(c, g, 0.0), x),
        lambda g, ans, c, x, y: unbroadcast(where(c, 0.0, g), y),
    ),
    jvp=(
        None,
        lambda t, ans, c, x, y: like(where(c, t, 0.0), ans),
        lambda t, ans, c, x, y: like(where(c, 0.0, t), ans),
    ),
    saves=(0,),
    samples=(((np.array([True, False, True]), V, np.array([2.0, 3.0, 4.0])), {}),
             ((np.array([[True, False, True], [False, False, True]]), M, 0.5), {})),
    derivative="the derivative of the branch taken",
)

__all__ = ["absolute", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
           "ceil", "clip", "conj", "copysign", "cos", "cosh", "deg2rad",
           "equal", "exp", "exp2", "expm1", "fabs", "floor", "fmax", "fmin", "greater",
           "greater_equal", "heaviside", "hypot", "imag", "less", "less_equal", "log", "log1p",
           "log2", "log10", "logaddexp", "logaddexp2", "logical_and", "logical_not",
           "logical_or", "logical_xor", "maximum", "minimum", "nan_to_num",
           "not_equal", "ops", "rad2deg", "real", "rint", "round_", "sign", "sin", "sinc", "sinh",
           "sqrt", "tan", "tanh", "tie_weight", "trunc", "where"]
