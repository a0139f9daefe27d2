"""Elementwise functions: transcendental functions, kinks, comparisons and selection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

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
from .arithmetic import unary_samples

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
    vjp=(lambda g, ans, x: -g * sin(x),), jvp=(lambda t, ans, x: -t * sin(x),), saves=(0,),
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
tanh = primitive(
    "tanh", np.tanh, symbolic=elementwise_sympy("tanh"), sympy_name="tanh",
    vjp=(lambda g, ans, x: g * (1.0 - ans * ans),), jvp=(lambda t, ans, x: t * (1.0 - ans * ans),),
    saves=(-1,), partials=("1 - {y}**2",), formula=("tanh",), generate=(_MODERATE,),
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

# ------------------------------------------------------------ not complex-analytic (kinks)

sign = primitive(
    "sign", np.sign, symbolic=elementwise_sympy("sign"), sympy_name="sign", analytic=False,
    differentiable=False, formula=("sign",), samples=unary_samples(SPREAD),
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

# ------------------------------------------------------------ comparisons (no derivative)


def _relation(name: str) -> Callable[..., Any]:
    return elementwise_fn(lambda a, b: getattr(sympy_module(), name)(a, b, evaluate=False))


def _comparison(name: str, ufunc: Any, sympy_rel: str, op: str) -> Callable[..., Any]:
    return primitive(name, ufunc, kind="binary", symbolic=_relation(sympy_rel), analytic=False,
                     differentiable=False, operators=(op,), samples=_TIE_SAMPLES)


less = _comparison("less", np.less, "Lt", "lt")
less_equal = _comparison("less_equal", np.less_equal, "Le", "le")
greater = _comparison("greater", np.greater, "Gt", "gt")
greater_equal = _comparison("greater_equal", np.greater_equal, "Ge", "ge")
# elementwise like numpy: AD traces compare values (so `if x == 0:` branches), symbolic
# traces build an equation whose truth value raises SymbolicBranchError
equal = _comparison("equal", np.equal, "Eq", "eq")
not_equal = _comparison("not_equal", np.not_equal, "Ne", "ne")

# ------------------------------------------------------------ selection


def _where_symbolic(c: Any, x: Any, y: Any) -> Any:
    piecewise = sympy_module().Piecewise

    def one(ci: Any, xi: Any, yi: Any) -> Any:
        try:
            return piecewise((xi, ci), (yi, True))
        except RecursionError:
            # sympy 1.14's Piecewise.eval can rebuild itself forever on a condition such as
            # Eq(Min(exp(x), log1p(x) - sin(x)), log1p(log1p(x)) - x/4): keep it as written
            return piecewise((xi, ci), (yi, True), evaluate=False)

    return elementwise_fn(one)(c, x, y)


def _where_signature(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        from ..errors import UnsupportedPrimitiveError

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

__all__ = ["absolute", "arccos", "arcsin", "arctan", "cos", "cosh", "equal", "exp", "expm1",
           "greater", "greater_equal", "less", "less_equal", "log", "log1p", "maximum", "minimum",
           "not_equal", "ops", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "tie_weight",
           "where"]
