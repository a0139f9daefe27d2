"""The registry: one stanza per primitive, with every interpretation side by side.

Each stanza names the numpy implementation (``numeric``), the sympy one (``symbolic``), the
vector-Jacobian products (``vjp``, one per argument, ``vjp[i](g, ans, *args, **params)``), the
Jacobian-vector products (``jvp``, one per argument, ``jvp[i](t, ans, *args, **params)``, the
result broadcast to the output's shape) and the real domain. Rules are written with the
primitives themselves (``cos``, ``multiply``, ``sum`` below are ``dnp`` functions), so a rule
applied to traced values is itself traced: higher derivatives come for free.

``tests/test_primitives.py`` iterates over :data:`REGISTRY`, so a new stanza is tested the
moment it exists.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .core import (
    REGISTRY,
    Domain,
    Primitive,
    Tracer,
    bind,
    domain_error,
    register,
)

__all__ = ["REGISTRY", "unbroadcast"]

# ============================================================================ machinery


def _make_function(prim: Primitive, kind: str) -> Callable[..., Any]:
    """The ``dnp`` function for ``prim``: numpy on plain values, the trace's rule on tracers."""
    numeric = prim.numeric
    if kind == "unary":

        def fn(x: Any) -> Any:
            if isinstance(x, Tracer):
                return x._trace.process(prim, (x,), {})
            try:
                return numeric(x)
            except FloatingPointError:
                raise domain_error(prim, (x,)) from None

    elif kind == "binary":

        def fn(x: Any, y: Any) -> Any:  # type: ignore[misc]
            if isinstance(x, Tracer) or isinstance(y, Tracer):
                return bind(prim, (x, y), {})
            try:
                return numeric(x, y)
            except FloatingPointError:
                raise domain_error(prim, (x, y)) from None

    elif kind == "reduce":

        def fn(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # type: ignore[misc]
            if isinstance(axis, list):
                axis = tuple(axis)
            if isinstance(x, Tracer):
                return x._trace.process(prim, (x,), {"axis": axis, "keepdims": keepdims})
            if axis is None and not keepdims:
                return numeric(x)
            return numeric(x, axis=axis, keepdims=keepdims)

    else:  # pragma: no cover - programming error
        raise ValueError(kind)
    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = prim.doc or f"diffkit primitive ``{prim.name}`` (numpy.{prim.name})."
    fn.primitive = prim  # type: ignore[attr-defined]
    prim.function = fn
    return fn


def primitive(
    name: str,
    numeric: Callable[..., Any],
    *,
    kind: str = "unary",
    symbolic: Callable[..., Any] | None = None,
    vjp: tuple[Any, ...] | None = None,
    jvp: tuple[Any, ...] | None = None,
    domain: Domain | None = None,
    analytic: bool = True,
    differentiable: bool = True,
    linear: bool = False,
    ufunc: Any = None,
    derivative: str = "",
    function: Callable[..., Any] | None = None,
    variadic: bool = False,
) -> Callable[..., Any]:
    """Register one stanza and return its ``dnp`` function."""
    prim = register(
        Primitive(
            name=name,
            numeric=numeric,
            symbolic=symbolic,
            vjp=vjp,
            jvp=jvp,
            domain=domain,
            analytic=analytic,
            differentiable=differentiable,
            linear=linear,
            ufunc=ufunc,
            derivative_text=derivative,
            variadic=variadic,
            doc=(
                f"diffkit primitive ``{name}``: numpy.{name} on plain values, recorded on "
                f"traced ones.{' Derivative: ' + derivative + '.' if derivative else ''}"
                f"{' Domain: ' + domain.text + '.' if domain else ''}"
            ),
        )
    )
    if function is not None:  # a hand-written signature (stack, reshape, ...)
        function.__name__ = function.__qualname__ = name
        function.__doc__ = prim.doc
        function.primitive = prim  # type: ignore[attr-defined]
        prim.function = function
        return function
    return _make_function(prim, kind)


def _sympy() -> Any:
    import sympy

    return sympy


def _elementwise(sympy_name: str) -> Callable[..., Any]:
    """Symbolic rule applying ``sympy.<sympy_name>`` to a scalar or elementwise to an array."""

    def rule(*args: Any) -> Any:
        f = getattr(_sympy(), sympy_name)
        if any(isinstance(a, np.ndarray) for a in args):
            return np.frompyfunc(f, len(args), 1)(*args)
        return f(*args)

    rule.__name__ = f"sympy_{sympy_name}"
    return rule


def _elementwise_fn(f: Callable[..., Any]) -> Callable[..., Any]:
    """Symbolic rule from a python function of sympy scalars, applied elementwise."""

    def rule(*args: Any) -> Any:
        if any(isinstance(a, np.ndarray) for a in args):
            return np.frompyfunc(f, len(args), 1)(*args)
        return f(*args)

    return rule


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, (np.ndarray, Tracer)) else np.shape(x)


def unbroadcast(g: Any, x: Any) -> Any:
    """Sum the cotangent ``g`` down to the shape of ``x`` (undo numpy broadcasting)."""
    target = _shape(x)
    gshape = _shape(g)
    if gshape == target:
        return g
    lead = len(gshape) - len(target)
    if lead > 0:
        g = sum(g, axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(target) if n == 1 and _shape(g)[i] != 1)
    if axes:
        g = sum(g, axis=axes, keepdims=True)
    return g


def _like(t: Any, ans: Any) -> Any:
    """Broadcast the tangent ``t`` to the output's shape (JVP rules return full shapes)."""
    shape = _shape(ans)
    return t if _shape(t) == shape else broadcast_to(t, shape)


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim if ndim else 0 for a in axis))


def _restore_reduced(g: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """Reshape a reduction's cotangent so it broadcasts against ``x`` again."""
    shape = _shape(x)
    if keepdims or not shape:
        return g
    kept = list(shape)
    for a in _norm_axes(axis, len(shape)):
        kept[a] = 1
    return reshape(g, tuple(kept))


# ============================================================================ arithmetic

add = primitive(
    "add", np.add, kind="binary", symbolic=operator.add, ufunc=np.add, linear=True,
    vjp=(lambda g, ans, x, y: unbroadcast(g, x), lambda g, ans, x, y: unbroadcast(g, y)),
    jvp=(lambda t, ans, x, y: _like(t, ans), lambda t, ans, x, y: _like(t, ans)),
    derivative="d(x+y) = dx + dy",
)
subtract = primitive(
    "subtract", np.subtract, kind="binary", symbolic=operator.sub, ufunc=np.subtract,
    linear=True,
    vjp=(lambda g, ans, x, y: unbroadcast(g, x), lambda g, ans, x, y: unbroadcast(-g, y)),
    jvp=(lambda t, ans, x, y: _like(t, ans), lambda t, ans, x, y: _like(-t, ans)),
    derivative="d(x-y) = dx - dy",
)
multiply = primitive(
    "multiply", np.multiply, kind="binary", symbolic=operator.mul, ufunc=np.multiply,
    vjp=(lambda g, ans, x, y: unbroadcast(g * y, x), lambda g, ans, x, y: unbroadcast(g * x, y)),
    jvp=(lambda t, ans, x, y: _like(t * y, ans), lambda t, ans, x, y: _like(x * t, ans)),
    derivative="d(xy) = y dx + x dy",
)
divide = primitive(
    "divide", np.divide, kind="binary", symbolic=operator.truediv, ufunc=np.divide,
    domain=Domain("y != 0"),
    # d(x/y) = dx/y - x dy/y**2 = dx/y - ans dy/y
    vjp=(
        lambda g, ans, x, y: unbroadcast(g / y, x),
        lambda g, ans, x, y: unbroadcast(-g * ans / y, y),
    ),
    jvp=(lambda t, ans, x, y: _like(t / y, ans), lambda t, ans, x, y: _like(-t * ans / y, ans)),
    derivative="d(x/y) = dx/y - x dy/y**2",
)
negative = primitive(
    "negative", np.negative, symbolic=operator.neg, ufunc=np.negative, linear=True,
    vjp=(lambda g, ans, x: -g,), jvp=(lambda t, ans, x: -t,), derivative="d(-x) = -dx",
)


def _pow_vjp_base(g: Any, ans: Any, x: Any, y: Any) -> Any:
    if not isinstance(y, (Tracer, np.ndarray)):  # constant exponent: cheap special cases
        if y == 2:
            return unbroadcast(g * 2.0 * x, x)
        if y == 1:
            return unbroadcast(g, x)
        if y == 0:
            return unbroadcast(g * 0.0, x)
        return unbroadcast(g * y * x ** (y - 1), x)
    return unbroadcast(g * y * x ** (y - 1), x)


def _pow_jvp_base(t: Any, ans: Any, x: Any, y: Any) -> Any:
    if not isinstance(y, (Tracer, np.ndarray)) and y == 2:
        return _like(t * 2.0 * x, ans)
    return _like(t * y * x ** (y - 1), ans)


power = primitive(
    "power", np.power, kind="binary", symbolic=operator.pow, ufunc=np.power,
    domain=Domain("x > 0 unless the exponent is an integer", lo=0.0),
    # d(x**y) = y x**(y-1) dx + x**y log(x) dy
    vjp=(_pow_vjp_base, lambda g, ans, x, y: unbroadcast(g * ans * log(x), y)),
    jvp=(_pow_jvp_base, lambda t, ans, x, y: _like(t * ans * log(x), ans)),
    derivative="d(x**y) = y x**(y-1) dx + x**y log(x) dy",
)
square = primitive(
    "square", np.square, symbolic=_elementwise_fn(lambda x: x**2), ufunc=np.square,
    vjp=(lambda g, ans, x: g * 2.0 * x,), jvp=(lambda t, ans, x: t * 2.0 * x,),
    derivative="d(x**2) = 2x dx",
)

# ============================================================================ elementwise

sin = primitive(
    "sin", np.sin, symbolic=_elementwise("sin"), ufunc=np.sin,
    vjp=(lambda g, ans, x: g * cos(x),), jvp=(lambda t, ans, x: t * cos(x),),
    derivative="cos(x)",
)
cos = primitive(
    "cos", np.cos, symbolic=_elementwise("cos"), ufunc=np.cos,
    vjp=(lambda g, ans, x: -g * sin(x),), jvp=(lambda t, ans, x: -t * sin(x),),
    derivative="-sin(x)",
)
tan = primitive(
    "tan", np.tan, symbolic=_elementwise("tan"), ufunc=np.tan,
    vjp=(lambda g, ans, x: g * (1.0 + ans * ans),), jvp=(lambda t, ans, x: t * (1.0 + ans * ans),),
    derivative="1 + tan(x)**2",
)
exp = primitive(
    "exp", np.exp, symbolic=_elementwise("exp"), ufunc=np.exp,
    vjp=(lambda g, ans, x: g * ans,), jvp=(lambda t, ans, x: t * ans,), derivative="exp(x)",
)
log = primitive(
    "log", np.log, symbolic=_elementwise("log"), ufunc=np.log, domain=Domain("x > 0", lo=0.0),
    vjp=(lambda g, ans, x: g / x,), jvp=(lambda t, ans, x: t / x,), derivative="1/x",
)
log1p = primitive(
    "log1p", np.log1p, symbolic=_elementwise_fn(lambda x: _sympy().log(1 + x)), ufunc=np.log1p,
    domain=Domain("x > -1", lo=-1.0),
    vjp=(lambda g, ans, x: g / (1.0 + x),), jvp=(lambda t, ans, x: t / (1.0 + x),),
    derivative="1/(1+x)",
)
expm1 = primitive(
    "expm1", np.expm1, symbolic=_elementwise_fn(lambda x: _sympy().exp(x) - 1), ufunc=np.expm1,
    vjp=(lambda g, ans, x: g * (ans + 1.0),), jvp=(lambda t, ans, x: t * (ans + 1.0),),
    derivative="exp(x)",
)
sqrt = primitive(
    "sqrt", np.sqrt, symbolic=_elementwise("sqrt"), ufunc=np.sqrt,
    domain=Domain("x >= 0 (derivative: x > 0)", lo=0.0, lo_open=False),
    vjp=(lambda g, ans, x: g / (2.0 * ans),), jvp=(lambda t, ans, x: t / (2.0 * ans),),
    derivative="1/(2 sqrt(x))",
)
tanh = primitive(
    "tanh", np.tanh, symbolic=_elementwise("tanh"), ufunc=np.tanh,
    vjp=(lambda g, ans, x: g * (1.0 - ans * ans),), jvp=(lambda t, ans, x: t * (1.0 - ans * ans),),
    derivative="1 - tanh(x)**2",
)
sinh = primitive(
    "sinh", np.sinh, symbolic=_elementwise("sinh"), ufunc=np.sinh,
    vjp=(lambda g, ans, x: g * cosh(x),), jvp=(lambda t, ans, x: t * cosh(x),),
    derivative="cosh(x)",
)
cosh = primitive(
    "cosh", np.cosh, symbolic=_elementwise("cosh"), ufunc=np.cosh,
    vjp=(lambda g, ans, x: g * sinh(x),), jvp=(lambda t, ans, x: t * sinh(x),),
    derivative="sinh(x)",
)
arctan = primitive(
    "arctan", np.arctan, symbolic=_elementwise("atan"), ufunc=np.arctan,
    vjp=(lambda g, ans, x: g / (1.0 + x * x),), jvp=(lambda t, ans, x: t / (1.0 + x * x),),
    derivative="1/(1+x**2)",
)
arcsin = primitive(
    "arcsin", np.arcsin, symbolic=_elementwise("asin"), ufunc=np.arcsin,
    domain=Domain("-1 <= x <= 1 (derivative: -1 < x < 1)", lo=-1.0, hi=1.0, lo_open=False,
                  hi_open=False),
    vjp=(lambda g, ans, x: g / sqrt(1.0 - x * x),), jvp=(lambda t, ans, x: t / sqrt(1.0 - x * x),),
    derivative="1/sqrt(1-x**2)",
)
arccos = primitive(
    "arccos", np.arccos, symbolic=_elementwise("acos"), ufunc=np.arccos,
    domain=Domain("-1 <= x <= 1 (derivative: -1 < x < 1)", lo=-1.0, hi=1.0, lo_open=False,
                  hi_open=False),
    vjp=(lambda g, ans, x: -g / sqrt(1.0 - x * x),),
    jvp=(lambda t, ans, x: -t / sqrt(1.0 - x * x),),
    derivative="-1/sqrt(1-x**2)",
)

# ------------------------------------------------------------ not complex-analytic (kinks)

sign = primitive(
    "sign", np.sign, symbolic=_elementwise("sign"), ufunc=np.sign, analytic=False,
    differentiable=False,
)
absolute = primitive(
    "absolute", np.absolute, symbolic=_elementwise("Abs"), ufunc=np.absolute, analytic=False,
    vjp=(lambda g, ans, x: g * sign(x),), jvp=(lambda t, ans, x: t * sign(x),),
    derivative="sign(x) (undefined at 0)",
)


def _tie_weight(x: Any, y: Any) -> Any:
    """1 where x wins, 0 where y wins, 1/2 at ties (the subgradient that splits the tie)."""
    return where(equal(x, y), 0.5, where(greater(x, y), 1.0, 0.0))


maximum = primitive(
    "maximum", np.maximum, kind="binary", symbolic=_elementwise("Max"), ufunc=np.maximum,
    analytic=False,
    vjp=(
        lambda g, ans, x, y: unbroadcast(g * _tie_weight(x, y), x),
        lambda g, ans, x, y: unbroadcast(g * _tie_weight(y, x), y),
    ),
    jvp=(
        lambda t, ans, x, y: _like(t * _tie_weight(x, y), ans),
        lambda t, ans, x, y: _like(t * _tie_weight(y, x), ans),
    ),
    derivative="1 where x > y, 0 where x < y, 1/2 at ties",
)
minimum = primitive(
    "minimum", np.minimum, kind="binary", symbolic=_elementwise("Min"), ufunc=np.minimum,
    analytic=False,
    vjp=(
        lambda g, ans, x, y: unbroadcast(g * _tie_weight(y, x), x),
        lambda g, ans, x, y: unbroadcast(g * _tie_weight(x, y), y),
    ),
    jvp=(
        lambda t, ans, x, y: _like(t * _tie_weight(y, x), ans),
        lambda t, ans, x, y: _like(t * _tie_weight(x, y), ans),
    ),
    derivative="1 where x < y, 0 where x > y, 1/2 at ties",
)

# ------------------------------------------------------------ comparisons (no derivative)


def _relation(name: str) -> Callable[..., Any]:
    return _elementwise_fn(lambda a, b: getattr(_sympy(), name)(a, b, evaluate=False))


less = primitive("less", np.less, kind="binary", symbolic=_relation("Lt"), ufunc=np.less,
                 analytic=False, differentiable=False)
less_equal = primitive("less_equal", np.less_equal, kind="binary", symbolic=_relation("Le"),
                       ufunc=np.less_equal, analytic=False, differentiable=False)
greater = primitive("greater", np.greater, kind="binary", symbolic=_relation("Gt"),
                    ufunc=np.greater, analytic=False, differentiable=False)
greater_equal = primitive("greater_equal", np.greater_equal, kind="binary",
                          symbolic=_relation("Ge"), ufunc=np.greater_equal, analytic=False,
                          differentiable=False)
equal = primitive("equal", np.equal, kind="binary", symbolic=_relation("Eq"), ufunc=np.equal,
                  analytic=False, differentiable=False)
not_equal = primitive("not_equal", np.not_equal, kind="binary", symbolic=_relation("Ne"),
                      ufunc=np.not_equal, analytic=False, differentiable=False)


def _where_symbolic(c: Any, x: Any, y: Any) -> Any:
    piecewise = _sympy().Piecewise

    def one(ci: Any, xi: Any, yi: Any) -> Any:
        try:
            return piecewise((xi, ci), (yi, True))
        except RecursionError:
            # sympy 1.14's Piecewise.eval can rebuild itself forever on a condition such as
            # Eq(Min(exp(x), log1p(x) - sin(x)), log1p(log1p(x)) - x/4): keep it as written
            return piecewise((xi, ci), (yi, True), evaluate=False)

    return _elementwise_fn(one)(c, x, y)


def _where(condition: Any, x: Any, y: Any) -> Any:
    if isinstance(condition, Tracer) or isinstance(x, Tracer) or isinstance(y, Tracer):
        return bind(REGISTRY["where"], (condition, x, y), {})
    return np.where(condition, x, y)


where = primitive(
    "where", np.where, symbolic=_where_symbolic, ufunc=np.where, function=_where, linear=True,
    vjp=(
        None,
        lambda g, ans, c, x, y: unbroadcast(where(c, g, 0.0), x),
        lambda g, ans, c, x, y: unbroadcast(where(c, 0.0, g), y),
    ),
    jvp=(
        None,
        lambda t, ans, c, x, y: _like(where(c, t, 0.0), ans),
        lambda t, ans, c, x, y: _like(where(c, 0.0, t), ans),
    ),
    derivative="the derivative of the branch taken",
)

# ============================================================================ reductions


def _sum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # every element of x gets the cotangent of its sum: a broadcast view, no copy
    return broadcast_to(_restore_reduced(g, x, axis, keepdims), _shape(x))


def _count(x: Any, axis: Any) -> int:
    shape = _shape(x)
    return int(np.prod([shape[a] for a in _norm_axes(axis, len(shape))], dtype=np.int64))


def _symbolic_mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return np.sum(x, axis=axis, keepdims=keepdims) / _sympy().Integer(_count(x, axis))


def _symbolic_reduce(sympy_name: str) -> Callable[..., Any]:
    def rule(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        f = getattr(_sympy(), sympy_name)
        if not isinstance(x, np.ndarray):
            return x
        if axis is None and not keepdims:
            return f(*x.ravel())
        axes = _norm_axes(axis, x.ndim)
        moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
        flat = moved.reshape((*moved.shape[: moved.ndim - len(axes)], -1))
        out = np.empty(flat.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = f(*flat[idx])
        if keepdims:
            out = np.expand_dims(out, axes)
        return out

    return rule


sum = primitive(
    "sum", np.sum, kind="reduce", symbolic=np.sum, ufunc=np.sum, linear=True,
    vjp=(_sum_vjp,),
    jvp=(lambda t, ans, x, axis=None, keepdims=False: sum(t, axis=axis, keepdims=keepdims),),
)
mean = primitive(
    "mean", np.mean, kind="reduce", symbolic=_symbolic_mean, ufunc=np.mean, linear=True,
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         _sum_vjp(g, ans, x, axis, keepdims) / _count(x, axis),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False: mean(t, axis=axis, keepdims=keepdims),),
)
def _logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # log(sum(exp(x))) shifted by the largest real part, so exp never overflows
    x = np.asarray(x)
    m = np.max(np.real(x), axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = out.reshape(()) if axis is None else np.squeeze(out, axis=axis)
    return out[()] if out.ndim == 0 else out


def _symbolic_logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    sp = _sympy()
    if not isinstance(x, np.ndarray):
        return x  # log(exp(x)) = x for one real entry
    s = np.sum(np.vectorize(sp.exp, otypes=[object])(x), axis=axis, keepdims=keepdims)
    return np.vectorize(sp.log, otypes=[object])(s) if isinstance(s, np.ndarray) else sp.log(s)


def _softmax(ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    return exp(x - _restore_reduced(ans, x, axis, keepdims))


logsumexp = primitive(
    "logsumexp", _logsumexp, kind="reduce", symbolic=_symbolic_logsumexp,
    # one primitive instead of seven (max, shift, exp, sum, log, add, reshape): the tape of a
    # softmax cross-entropy is a third shorter, and the rule is the softmax
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         _sum_vjp(g, ans, x, axis, keepdims) * _softmax(ans, x, axis, keepdims),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(t * _softmax(ans, x, axis, keepdims), axis=axis, keepdims=keepdims),),
    derivative="softmax(x): exp(x - logsumexp(x))",
)
prod = primitive(
    "prod", np.prod, kind="reduce", symbolic=np.prod, ufunc=np.prod,
    # d(prod x)/dx_i = prod / x_i (requires nonzero entries)
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         _sum_vjp(g * ans, ans, x, axis, keepdims) / x,),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(t * _restore_reduced(ans, x, axis, keepdims) / x, axis=axis, keepdims=keepdims),),
    domain=Domain("derivative: no zero entries"),
)


def _extremum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # the cotangent goes to the extremal entries, split evenly between ties
    full = _restore_reduced(ans, x, axis, keepdims)
    hit = where(equal(x, full), 1.0, 0.0)
    share = _restore_reduced(sum(hit, axis=axis, keepdims=keepdims), x, axis, keepdims)
    return _sum_vjp(g, ans, x, axis, keepdims) * hit / share


def _extremum_jvp(t: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    full = _restore_reduced(ans, x, axis, keepdims)
    hit = where(equal(x, full), 1.0, 0.0)
    return sum(t * hit, axis=axis, keepdims=keepdims) / sum(hit, axis=axis, keepdims=keepdims)


max = primitive(
    "max", np.max, kind="reduce", symbolic=_symbolic_reduce("Max"), ufunc=np.max,
    analytic=False, vjp=(_extremum_vjp,), jvp=(_extremum_jvp,),
)
min = primitive(
    "min", np.min, kind="reduce", symbolic=_symbolic_reduce("Min"), ufunc=np.min,
    analytic=False, vjp=(_extremum_vjp,), jvp=(_extremum_jvp,),
)

# ============================================================================ linear algebra


def _swap_last(a: Any) -> Any:
    nd = len(_shape(a))
    axes = (*range(nd - 2), nd - 1, nd - 2)
    return transpose(a, axes)


def _matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    na, nb = len(_shape(a)), len(_shape(b))
    if na == 0 or nb == 0:  # dot with a scalar is multiplication
        return unbroadcast(g * b, a)
    if nb == 1:  # (..., n) . (n,) -> (...): da = g[..., None] * b
        ga = g * b if na == 1 else reshape(g, (*_shape(g), 1)) * b
        return unbroadcast(ga, a)
    if na == 1:  # (n,) @ (..., n, k) -> (..., k): da = sum over batch of b @ g
        gb = reshape(g, (*_shape(g), 1))
        return unbroadcast(reshape(matmul(b, gb), (*_shape(g)[:-1], _shape(b)[-2])), a)
    return unbroadcast(matmul(g, _swap_last(b)), a)


def _matmul_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    na, nb = len(_shape(a)), len(_shape(b))
    if na == 0 or nb == 0:
        return unbroadcast(g * a, b)
    if na == 1:  # (n,) @ (..., n, k) -> (..., k): db = a[:, None] * g[..., None, :]
        if nb == 1:
            return g * a
        return unbroadcast(reshape(a, (_shape(a)[0], 1)) * reshape(g, (*_shape(g)[:-1], 1,
                                                                          _shape(g)[-1])), b)
    if nb == 1:  # (..., m, n) @ (n,) -> (..., m): db = sum g[..., None] * a
        return unbroadcast(sum(reshape(g, (*_shape(g), 1)) * a, axis=tuple(range(na - 1))), b)
    if na == 2 and nb == 2 and _shape(a)[1] > _shape(g)[1]:
        # the same product, transposed: numpy's OpenBLAS takes 0.6-0.85 of the time of a.T @ g
        # when the result has more rows than columns (a (128, 784), g (128, 256): 1.65 ms for
        # 2.10; benchmarks/reverse.py's MLP), and about the same time otherwise
        return transpose(matmul(transpose(g), a))
    return unbroadcast(matmul(_swap_last(a), g), b)


def _symbolic_matmul(a: Any, b: Any) -> Any:
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        return a * b
    return np.dot(a, b) if a.ndim <= 2 and b.ndim <= 2 else np.matmul(a, b)


matmul = primitive(
    "matmul", np.matmul, kind="binary", symbolic=_symbolic_matmul, ufunc=np.matmul,
    vjp=(_matmul_vjp_a, _matmul_vjp_b),
    jvp=(lambda t, ans, a, b: matmul(t, b), lambda t, ans, a, b: matmul(a, t)),
    derivative="d(AB) = dA B + A dB",
)


def _dot(a: Any, b: Any) -> Any:
    if isinstance(a, Tracer) or isinstance(b, Tracer):
        return bind(REGISTRY["dot"], (a, b), {})
    return np.dot(a, b)


def _dot_numeric(a: Any, b: Any) -> Any:
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        raise ValueError("dnp.dot supports arrays of up to 2 dimensions; use dnp.matmul")
    return np.dot(a, b)


dot = primitive(
    "dot", _dot_numeric, symbolic=_symbolic_matmul, ufunc=np.dot, function=_dot,
    vjp=(_matmul_vjp_a, _matmul_vjp_b),
    jvp=(lambda t, ans, a, b: dot(t, b), lambda t, ans, a, b: dot(a, t)),
    derivative="d(a.b) = da.b + a.db",
)

# ============================================================================ structure


def _reshape(x: Any, shape: Any) -> Any:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if isinstance(x, Tracer):
        return x._trace.process(REGISTRY["reshape"], (x,), {"shape": shape})
    return np.reshape(x, shape)


reshape = primitive(
    "reshape", lambda x, shape: np.reshape(x, shape), symbolic=lambda x, shape: np.reshape(x, shape),
    ufunc=np.reshape, function=_reshape, linear=True,
    vjp=(lambda g, ans, x, shape: reshape(g, _shape(x)),),
    jvp=(lambda t, ans, x, shape: reshape(t, shape),),
)


def _transpose(x: Any, axes: Any = None) -> Any:
    axes = None if axes is None else tuple(axes)
    if isinstance(x, Tracer):
        return x._trace.process(REGISTRY["transpose"], (x,), {"axes": axes})
    return np.transpose(x, axes)


def _transpose_vjp(g: Any, ans: Any, x: Any, axes: Any = None) -> Any:
    return transpose(g, None if axes is None else tuple(int(i) for i in np.argsort(axes)))


transpose = primitive(
    "transpose", lambda x, axes=None: np.transpose(x, axes),
    symbolic=lambda x, axes=None: np.transpose(x, axes), ufunc=np.transpose,
    function=_transpose, linear=True,
    vjp=(_transpose_vjp,), jvp=(lambda t, ans, x, axes=None: transpose(t, axes),),
)


def _broadcast_to(x: Any, shape: Any) -> Any:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if isinstance(x, Tracer):
        return x._trace.process(REGISTRY["broadcast_to"], (x,), {"shape": shape})
    return np.broadcast_to(x, shape)


def _symbolic_broadcast(x: Any, shape: Any) -> Any:
    return np.broadcast_to(np.asarray(x, dtype=object), shape).copy()


broadcast_to = primitive(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), symbolic=_symbolic_broadcast,
    ufunc=np.broadcast_to, function=_broadcast_to, linear=True,
    vjp=(lambda g, ans, x, shape: unbroadcast(g, x),),
    jvp=(lambda t, ans, x, shape: broadcast_to(t, shape),),
)


def _is_basic_index(index: Any) -> bool:
    """True for ints, slices, Ellipsis and None: no element can be selected twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts
    )


def _scatter_numeric(g: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    out = np.zeros(shape, dtype=dtype if dtype is not None else np.result_type(g, float))
    if _is_basic_index(index):
        out[index] = g  # a basic index selects each element once: plain assignment
    else:
        np.add.at(out, index, g)  # fancy indices may repeat: accumulate
    return out


def _scatter_symbolic(g: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    out = np.full(shape, _sympy().Integer(0), dtype=object)
    if _is_basic_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _scatter(g: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    params = {"index": index, "shape": tuple(shape), "dtype": dtype}
    if isinstance(g, Tracer):
        return g._trace.process(REGISTRY["scatter"], (g,), params)
    return _scatter_numeric(g, **params)


scatter = primitive(
    "scatter", _scatter_numeric, symbolic=_scatter_symbolic, function=_scatter, linear=True,
    vjp=(lambda g, ans, x, index, shape, dtype=None: getitem(g, index),),
    jvp=(lambda t, ans, x, index, shape, dtype=None: scatter(t, index, shape, dtype),),
    derivative="the adjoint of getitem: zeros with g placed (added) at index",
)


def _getitem(x: Any, index: Any) -> Any:
    if isinstance(x, Tracer):
        return x._trace.process(REGISTRY["getitem"], (x,), {"index": index})
    return x[index]


def _getitem_vjp(g: Any, ans: Any, x: Any, index: Any) -> Any:
    # x.dtype, not np.iscomplexobj(x): numpy functions refuse tracers (forward-over-reverse)
    complex_x = np.dtype(getattr(x, "dtype", float)).kind == "c"
    return scatter(g, index, _shape(x), x.dtype if complex_x else None)


getitem = primitive(
    "getitem", lambda x, index: x[index], symbolic=lambda x, index: x[index],
    function=_getitem, linear=True,
    vjp=(_getitem_vjp,), jvp=(lambda t, ans, x, index: getitem(t, index),),
    derivative="x[index]: the cotangent is scattered back to the selected entries",
)


def _axis_index(axis: int, i: Any, ndim: int) -> tuple[Any, ...]:
    axis %= ndim
    return (slice(None),) * axis + (i,)


def _stack(arrays: Any, axis: int = 0) -> Any:
    arrays = tuple(arrays)
    if any(isinstance(a, Tracer) for a in arrays):
        return bind(REGISTRY["stack"], arrays, {"axis": axis})
    return np.stack(arrays, axis=axis)


def _stack_vjp(i: int, g: Any, ans: Any, *xs: Any, axis: int = 0) -> Any:
    return getitem(g, _axis_index(axis, i, len(_shape(ans))))


def _stack_jvp(i: int, t: Any, ans: Any, *xs: Any, axis: int = 0) -> Any:
    return scatter(broadcast_to(t, _shape(xs[i])), _axis_index(axis, i, len(_shape(ans))),
                   _shape(ans))


def _symbolic_stack(*xs: Any, axis: int = 0) -> Any:
    return np.stack([np.asarray(x, dtype=object) for x in xs], axis=axis)


stack = primitive(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis), symbolic=_symbolic_stack,
    ufunc=np.stack, function=_stack, variadic=True, linear=True,
    vjp=(_stack_vjp,), jvp=(_stack_jvp,),
)


def _concatenate(arrays: Any, axis: int = 0) -> Any:
    arrays = tuple(arrays)
    if any(isinstance(a, Tracer) for a in arrays):
        return bind(REGISTRY["concatenate"], arrays, {"axis": axis})
    return np.concatenate(arrays, axis=axis)


def _concat_slice(i: int, xs: Any, axis: int) -> tuple[Any, ...]:
    nd = len(_shape(xs[0]))
    ax = axis % nd
    start = int(np.sum([_shape(x)[ax] for x in xs[:i]], dtype=np.int64))
    return _axis_index(ax, slice(start, start + _shape(xs[i])[ax]), nd)


def _symbolic_concatenate(*xs: Any, axis: int = 0) -> Any:
    return np.concatenate([np.asarray(x, dtype=object) for x in xs], axis=axis)


concatenate = primitive(
    "concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    symbolic=_symbolic_concatenate, ufunc=np.concatenate, function=_concatenate, variadic=True,
    linear=True,
    vjp=(lambda i, g, ans, *xs, axis=0: getitem(g, _concat_slice(i, xs, axis)),),
    jvp=(lambda i, t, ans, *xs, axis=0: scatter(t, _concat_slice(i, xs, axis), _shape(ans)),),
)

# numpy aliases that reach the same primitives through __array_ufunc__/__array_function__
from .core import NUMPY_TO_PRIMITIVE

for _alias, _name in [(np.true_divide, "divide"), (np.abs, "absolute"), (np.amax, "max"),
                      (np.amin, "min")]:
    NUMPY_TO_PRIMITIVE.setdefault(_alias, REGISTRY[_name])

del functools
