"""scipy.special and scipy.stats.norm: the special functions people write in likelihoods
(``dnp.special``, ``dnp.stats.norm``).

scipy is imported only when one of them is evaluated (``import diffkit`` never imports it).
scipy.special's functions are numpy ufuncs, so ``scipy.special.erf(x)`` on a traced ``x``
reaches these stanzas through ``__array_ufunc__``. ``scipy.special.polygamma``, ``softmax``,
``log_softmax``, ``logsumexp`` and ``scipy.stats.norm.*`` are Python functions that convert
their input with ``np.asarray``: on a traced value they raise ``NotTraceableError`` naming the
``dnp`` function to call instead (same arguments).

Complex step: after its first, traced, evaluation the complex step calls the user's function on
plain complex arrays, so ``scipy.special.X(z)`` runs scipy's own complex kernel, not the
stanza's. A stanza is ``analytic`` only where that kernel exists and keeps ``Im f(x + ih) / h``
(``h = 1e-20``) accurate on the whole domain: erf, erfc, ndtr, digamma, xlogy, xlog1py (checked
on dense grids against the exact derivative). It does not for gammaln, beta, betaln, expit,
logit, erfinv (no complex kernel: a TypeError), gamma and rgamma (the imaginary part is lost for
x < 0), log_ndtr (7 digits lost near x = 6) and the Bessel functions (AMOS: ``iv(0, x + 1e-20j)``
gives a derivative 12 times too large for 22 < x < 37).

Derivatives: DLMF 5.15 (polygamma), 7.10 (erf), 10.6 and 10.29 (Bessel recurrences, written
without the ``1/x`` of ``i1' = i0 - i1/x`` so they hold at ``x = 0``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import bind
from ..errors import UnsupportedPrimitiveError
from ._stanza import (
    POS,
    SPREAD,
    UNIT,
    Domain,
    M,
    V,
    axis_param,
    elementwise_fn,
    elementwise_sympy,
    is_traced,
    like,
    ops,
    primitive,
    restore_reduced,
    sympy_module,
    unbroadcast,
)
from .arithmetic import unary_samples

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _sps() -> Any:
    """scipy.special, imported on first use."""
    import scipy.special

    return scipy.special


# ============================================================================ numeric helpers


def _is_complex(*args: Any) -> bool:
    return any(np.iscomplexobj(a) for a in args)


def _signal(out: Any, args: tuple[Any, ...], pole: Callable[..., Any] | None) -> None:
    """Raise FloatingPointError where numpy would have: scipy.special returns NaN (and an
    infinity at a pole) silently, without numpy's error state seeing it, so a point outside
    the domain would otherwise pass :func:`~diffkit.core.checked_evaluation` unnoticed."""
    if np.isfinite(out).all():
        return
    state = np.geterr()
    finite = functools.reduce(np.logical_and, [np.isfinite(a) for a in args])  # broadcasts
    for kind, hit in (("invalid", lambda: (np.isnan(out) & finite).any()),
                      ("divide", lambda: pole is not None and (
                          np.isinf(out) & finite & pole(*args)).any())):
        if state[kind] in ("raise", "call") and hit():
            if state[kind] == "call":  # counted as numpy counts its own (checked_evaluation)
                np.geterrcall()(f"{kind} value", 0)
                continue
            raise FloatingPointError(f"{kind} value encountered in scipy.special")


def _scipy(name: str, complex_form: Callable[..., Any] | None = None,
           pole: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """The numeric rule ``scipy.special.<name>``; ``complex_form`` for complex input (where
    scipy has no complex kernel or an inaccurate one); ``pole(*args)`` marks the arguments
    where an infinite result is a pole (a domain error), not an overflow."""

    def numeric(*args: Any) -> Any:
        if complex_form is not None and _is_complex(*args):
            return complex_form(*args)
        out = getattr(_sps(), name)(*args)
        _signal(out, args, pole)
        return out

    numeric.__name__ = name
    return numeric


def _nonpositive_integer(x: Any) -> Any:
    """The poles of gamma: 0, -1, -2, ..."""
    x = np.real(x)
    return (x <= 0) & (x == np.floor(x))


def _log_ndtr_c(z: Any) -> Any:
    # log(1 - ndtr(-z)) on the right: scipy's complex log_ndtr loses digits there
    z = np.asarray(z, dtype=complex)
    right = np.real(z) > 0
    out = np.empty(z.shape, dtype=complex)
    out[right] = np.log1p(-_sps().ndtr(-z[right]))
    out[~right] = _sps().log_ndtr(z[~right])
    return out[()] if out.ndim == 0 else out


# ============================================================================ printers
# compiled symbolic code (lambdify to ``math``) calls these by sympy's name; math has erf,
# erfc, gamma and lgamma (sympy's loggamma) itself


def _scalar(name: str) -> Callable[..., float]:
    def call(*args: float) -> float:
        return float(getattr(_sps(), name)(*args))

    call.__name__ = name
    return call


_PRINTERS = {
    "erfinv": _scalar("erfinv"), "polygamma": _scalar("polygamma"), "beta": _scalar("beta"),
    "besseli": _scalar("iv"), "besselj": _scalar("jv"), "bessely": _scalar("yv"),
}


def _printer(*names: str) -> dict[str, Any]:
    return {n: _PRINTERS[n] for n in names}


# ============================================================================ samples

_POSITIVE = np.array([0.4, 1.5, 2.7])
_GAMMA = np.array([-0.5, 0.6, 2.3])  # off the poles, one negative
_PROB = np.array([0.15, 0.5, 0.85])
_ERFC = np.array([0.3, 1.0, 1.6])


def _binary_samples(x: np.ndarray, y: np.ndarray) -> tuple[Any, ...]:
    """Scalar, vector, broadcast (matrix with vector) and scalar-with-vector samples."""
    matrix = np.array([[x[0], x[1], x[2]], [x[2], x[0], x[1]]])
    return (((float(x[1]), float(y[1])), {}), ((x, y), {}), ((matrix, y), {}),
            ((float(x[0]), y), {}))


def _order_samples(orders: tuple[float, ...], x: np.ndarray) -> tuple[Any, ...]:
    """Samples of a Bessel function of order ``v``: scalar, vector, broadcast orders."""
    v = np.array(orders)
    return (((orders[1], float(x[1])), {}), ((orders[0], x), {}), ((v, x), {}),
            ((v[:, None], x), {}))


# ============================================================================ error functions

erf = primitive(
    "erf", _scipy("erf"), namespace="special", scipy=("special.erf",),
    symbolic=elementwise_sympy("erf"), sympy_name="erf", formula=("erf",), generate=True,
    vjp=(lambda g, ans, x: g * (2.0 / _SQRT_PI) * ops.exp(-x * x),),
    jvp=(lambda t, ans, x: t * (2.0 / _SQRT_PI) * ops.exp(-x * x),), saves=(0,),
    partials=("2 exp(-{0}**2) / sqrt(pi)",), samples=unary_samples(SPREAD),
    derivative="2 exp(-x**2) / sqrt(pi)",
)
erfc = primitive(
    "erfc", _scipy("erfc"), namespace="special", scipy=("special.erfc",),
    symbolic=elementwise_sympy("erfc"), sympy_name="erfc", formula=("erfc",), generate=True,
    vjp=(lambda g, ans, x: g * (-2.0 / _SQRT_PI) * ops.exp(-x * x),),
    jvp=(lambda t, ans, x: t * (-2.0 / _SQRT_PI) * ops.exp(-x * x),), saves=(0,),
    partials=("-2 exp(-{0}**2) / sqrt(pi)",), samples=unary_samples(SPREAD),
    derivative="-2 exp(-x**2) / sqrt(pi)",
)
erfinv = primitive(
    "erfinv", _scipy("erfinv", pole=lambda x: np.abs(x) == 1), namespace="special",
    scipy=("special.erfinv",), analytic=False,  # scipy has no complex erfinv
    domain=Domain("-1 < x < 1", lo=-1.0, hi=1.0),
    symbolic=elementwise_sympy("erfinv"), sympy_name="erfinv", formula=("erfinv",),
    printer=_printer("erfinv"),
    # the inverse function's derivative: 1 / erf'(y) at y = erfinv(x)
    vjp=(lambda g, ans, x: g * (_SQRT_PI / 2.0) * ops.exp(ans * ans),),
    jvp=(lambda t, ans, x: t * (_SQRT_PI / 2.0) * ops.exp(ans * ans),), saves=(-1,),
    partials=("sqrt(pi)/2 exp({y}**2)",), samples=unary_samples(UNIT),
    derivative="sqrt(pi)/2 exp(erfinv(x)**2)",
)
erfcinv = primitive(
    "erfcinv", _scipy("erfcinv", pole=lambda x: (x == 0) | (x == 2)), namespace="special",
    scipy=("special.erfcinv",), analytic=False, domain=Domain("0 < x < 2", lo=0.0, hi=2.0),
    # as erfinv(1 - x): sympy cannot evaluate erfcinv numerically
    symbolic=elementwise_fn(lambda x: sympy_module().erfinv(1 - x)), sympy_name="erfcinv",
    formula=("erfcinv",), printer=_printer("erfinv"),
    vjp=(lambda g, ans, x: g * (-_SQRT_PI / 2.0) * ops.exp(ans * ans),),
    jvp=(lambda t, ans, x: t * (-_SQRT_PI / 2.0) * ops.exp(ans * ans),), saves=(-1,),
    partials=("-sqrt(pi)/2 exp({y}**2)",), samples=unary_samples(_ERFC),
    derivative="-sqrt(pi)/2 exp(erfcinv(x)**2)",
)


def _ndtr_sympy(z: Any) -> Any:
    """erfc(-z / sqrt(2)) / 2 as written: sympy would rewrite erfc(-u) as 2 - erfc(u), which
    cancels to 0 in compiled code far in the left tail (log_ndtr(-12) then divides by 0)."""
    sp = sympy_module()
    return sp.erfc(-z / sp.sqrt(2), evaluate=False) / 2


ndtr = primitive(
    "ndtr", _scipy("ndtr"), namespace="special", scipy=("special.ndtr",),
    symbolic=elementwise_fn(_ndtr_sympy), formula=("ndtr",),
    vjp=(lambda g, ans, x: g * ops.exp(-0.5 * x * x) / _SQRT_2PI,),
    jvp=(lambda t, ans, x: t * ops.exp(-0.5 * x * x) / _SQRT_2PI,), saves=(0,),
    partials=("exp(-{0}**2/2) / sqrt(2 pi)",), samples=unary_samples(SPREAD * 2),
    derivative="the standard normal density exp(-x**2/2) / sqrt(2 pi)",
)


def _log_ndtr_d(x: Any, ans: Any) -> Any:
    # pdf / cdf as exp(log pdf - log cdf): no 0/0 far in the left tail
    return ops.exp(-0.5 * x * x - _LOG_SQRT_2PI - ans)


log_ndtr = primitive(
    "log_ndtr", _scipy("log_ndtr", complex_form=_log_ndtr_c), namespace="special",
    scipy=("special.log_ndtr",), analytic=False,  # scipy's own complex log_ndtr (plain calls)
    # loses 7 digits of the derivative near x = 6; norm.logcdf uses the accurate form above
    symbolic=elementwise_fn(lambda x: sympy_module().log(_ndtr_sympy(x))),
    formula=("log_ndtr",),
    vjp=(lambda g, ans, x: g * _log_ndtr_d(x, ans),),
    jvp=(lambda t, ans, x: t * _log_ndtr_d(x, ans),),
    partials=("exp(-{0}**2/2 - {y}) / sqrt(2 pi)",), samples=unary_samples(SPREAD * 3),
    derivative="pdf(x) / cdf(x) of the standard normal",
)
ndtri = primitive(
    "ndtri", _scipy("ndtri", pole=lambda x: (x == 0) | (x == 1)), namespace="special",
    scipy=("special.ndtri",), analytic=False, domain=Domain("0 < x < 1", lo=0.0, hi=1.0),
    symbolic=elementwise_fn(lambda x: sympy_module().sqrt(2) * sympy_module().erfinv(2 * x - 1)),
    formula=("ndtri",), printer=_printer("erfinv"),
    vjp=(lambda g, ans, x: g * _SQRT_2PI * ops.exp(0.5 * ans * ans),),
    jvp=(lambda t, ans, x: t * _SQRT_2PI * ops.exp(0.5 * ans * ans),), saves=(-1,),
    partials=("sqrt(2 pi) exp({y}**2/2)",), samples=unary_samples(_PROB),
    derivative="sqrt(2 pi) exp(ndtri(x)**2 / 2)",
)

# ============================================================================ gamma family

_GAMMA_DOMAIN = Domain("x not in {0, -1, -2, ...}", poles=(0.0,))

gamma = primitive(
    "gamma", _scipy("gamma", pole=_nonpositive_integer), namespace="special",
    scipy=("special.gamma",), domain=_GAMMA_DOMAIN,
    analytic=False,  # scipy's complex gamma loses an imaginary part of 1e-20 for x < 0
    symbolic=elementwise_sympy("gamma"), sympy_name="gamma", printer=_printer("polygamma"),
    vjp=(lambda g, ans, x: g * ans * digamma(x),), jvp=(lambda t, ans, x: t * ans * digamma(x),),
    partials=("{y} digamma({0})",), samples=unary_samples(_GAMMA),
    derivative="gamma(x) digamma(x)",
)
rgamma = primitive(
    "rgamma", _scipy("rgamma"), namespace="special", scipy=("special.rgamma",),
    analytic=False,  # as gamma
    symbolic=elementwise_fn(lambda x: 1 / sympy_module().gamma(x)), formula=("rgamma",),
    printer=_printer("polygamma"),
    vjp=(lambda g, ans, x: -g * ans * digamma(x),),
    jvp=(lambda t, ans, x: -t * ans * digamma(x),),
    partials=("-{y} digamma({0})",), samples=unary_samples(_GAMMA),
    derivative="-digamma(x) / gamma(x)",
)
gammaln = primitive(
    "gammaln", _scipy("gammaln", pole=_nonpositive_integer), namespace="special",
    scipy=("special.gammaln",), domain=_GAMMA_DOMAIN, analytic=False,  # no complex kernel
    # sympy's loggamma is log(gamma) on x > 0 (the samples); for x < 0 it differs from
    # log|gamma| by the constant i pi k, and compiled code evaluates it as math.lgamma
    symbolic=elementwise_sympy("loggamma"), sympy_name="loggamma", formula=("gammaln",),
    printer=_printer("polygamma"),
    vjp=(lambda g, ans, x: g * digamma(x),), jvp=(lambda t, ans, x: t * digamma(x),),
    saves=(0,), partials=("digamma({0})",), samples=unary_samples(_POSITIVE),
    derivative="digamma(x)",
)
digamma = primitive(
    "digamma", _scipy("digamma", pole=_nonpositive_integer), namespace="special",
    scipy=("special.digamma", "special.psi"), domain=_GAMMA_DOMAIN,
    symbolic=elementwise_fn(lambda x: sympy_module().polygamma(0, x)), formula=("digamma",),
    printer=_printer("polygamma"),
    vjp=(lambda g, ans, x: g * polygamma(1, x),), jvp=(lambda t, ans, x: t * polygamma(1, x),),
    saves=(0,), partials=("polygamma(1, {0})",), samples=unary_samples(_GAMMA),
    derivative="polygamma(1, x)",
)


def _polygamma_signature(n: Any, x: Any) -> Any:
    if is_traced(n):
        raise UnsupportedPrimitiveError(
            "scipy.special.polygamma(n, x) with a traced order n: n is an integer, there is "
            "no derivative with respect to it; pass n as a plain int")
    order = np.asarray(n)
    if order.dtype.kind not in "iuf" or np.any(order < 0) or np.any(order != np.floor(order)):
        raise UnsupportedPrimitiveError(
            f"scipy.special.polygamma(n={n!r}, x): the order n must be a non-negative integer "
            f"(or an array of them)")
    return (n, x), {}


def _polygamma(n: Any, x: Any) -> Any:
    out = _sps().polygamma(n, x)
    _signal(out, (x,), _nonpositive_integer)
    return out


polygamma = primitive(
    "polygamma", _polygamma, signature=_polygamma_signature, namespace="special",
    scipy=("special.polygamma",), elementwise=True, nargs=2,
    analytic=False,  # scipy's polygamma (the Hurwitz zeta) takes no complex x for n >= 1
    domain=_GAMMA_DOMAIN, symbolic=elementwise_sympy("polygamma"), sympy_name="polygamma",
    printer=_printer("polygamma"),
    vjp=(None, lambda g, ans, n, x: unbroadcast(g * polygamma(n + 1, x), x)),
    jvp=(None, lambda t, ans, n, x: like(t * polygamma(n + 1, x), ans)), saves=(0, 1),
    partials=(None, "polygamma({0} + 1, {1})"),
    samples=(((0, 0.7), {}), ((1, _POSITIVE), {}), ((2, M + 0.1), {}), ((1, _GAMMA), {}),
             ((np.array([0, 1, 2]), M + 0.1), {})),
    derivative="polygamma(n + 1, x)",
)


def _digamma_difference(a: Any, b: Any) -> Any:
    return digamma(a) - digamma(a + b)


beta = primitive(
    "beta", _scipy("beta"), kind="binary", namespace="special", scipy=("special.beta",),
    analytic=False,  # no complex kernel
    domain=Domain("a, b, a + b not in {0, -1, -2, ...}"),
    symbolic=elementwise_sympy("beta"), sympy_name="beta", printer=_printer("beta", "polygamma"),
    vjp=(lambda g, ans, a, b: unbroadcast(g * ans * _digamma_difference(a, b), a),
         lambda g, ans, a, b: unbroadcast(g * ans * _digamma_difference(b, a), b)),
    jvp=(lambda t, ans, a, b: like(t * ans * _digamma_difference(a, b), ans),
         lambda t, ans, a, b: like(t * ans * _digamma_difference(b, a), ans)),
    partials=("{y} (digamma({0}) - digamma({0} + {1}))",
              "{y} (digamma({1}) - digamma({0} + {1}))"),
    samples=_binary_samples(_POSITIVE, np.array([1.2, 0.5, 3.1])),
    derivative="beta(a, b) (digamma(a) - digamma(a + b))",
)


def _betaln_symbolic(a: Any, b: Any) -> Any:
    lg = sympy_module().loggamma
    return lg(a) + lg(b) - lg(a + b)


betaln = primitive(
    "betaln", _scipy("betaln"), kind="binary", namespace="special", scipy=("special.betaln",),
    analytic=False,  # no complex kernel
    domain=Domain("a, b, a + b not in {0, -1, -2, ...}"),
    symbolic=elementwise_fn(_betaln_symbolic), formula=("betaln",), printer=_printer("polygamma"),
    vjp=(lambda g, ans, a, b: unbroadcast(g * _digamma_difference(a, b), a),
         lambda g, ans, a, b: unbroadcast(g * _digamma_difference(b, a), b)),
    jvp=(lambda t, ans, a, b: like(t * _digamma_difference(a, b), ans),
         lambda t, ans, a, b: like(t * _digamma_difference(b, a), ans)),
    saves=(0, 1), partials=("digamma({0}) - digamma({0} + {1})",
                            "digamma({1}) - digamma({0} + {1})"),
    samples=_binary_samples(_POSITIVE, np.array([1.2, 0.5, 3.1])),
    derivative="digamma(a) - digamma(a + b)",
)

# ============================================================================ logistic, x log y

expit = primitive(
    "expit", _scipy("expit"), namespace="special", scipy=("special.expit",),
    analytic=False,  # no complex kernel
    symbolic=elementwise_fn(lambda x: 1 / (1 + sympy_module().exp(-x))), formula=("expit",),
    generate=True,
    vjp=(lambda g, ans, x: g * ans * (1.0 - ans),), jvp=(lambda t, ans, x: t * ans * (1.0 - ans),),
    saves=(-1,), partials=("{y} (1 - {y})",), samples=unary_samples(SPREAD * 2),
    derivative="expit(x) (1 - expit(x))",
)
logit = primitive(
    "logit", _scipy("logit", pole=lambda x: (x == 0) | (x == 1)), namespace="special",
    scipy=("special.logit",), analytic=False,  # no complex kernel
    domain=Domain("0 < x < 1", lo=0.0, hi=1.0),
    symbolic=elementwise_fn(lambda x: sympy_module().log(x / (1 - x))), formula=("logit",),
    vjp=(lambda g, ans, x: g / (x * (1.0 - x)),), jvp=(lambda t, ans, x: t / (x * (1.0 - x)),),
    saves=(0,), partials=("1 / ({0} (1 - {0}))",), samples=unary_samples(_PROB),
    derivative="1 / (x (1 - x))",
)
xlogy = primitive(
    "xlogy", _scipy("xlogy", pole=lambda x, y: (y == 0) & (x != 0)), kind="binary",
    namespace="special", scipy=("special.xlogy",), domain=Domain("y > 0 (or x = 0: 0)"),
    symbolic=elementwise_fn(lambda x, y: x * sympy_module().log(y)), formula=("xlogy",),
    vjp=(lambda g, ans, x, y: unbroadcast(g * ops.log(y), x),
         lambda g, ans, x, y: unbroadcast(g * x / y, y)),
    jvp=(lambda t, ans, x, y: like(t * ops.log(y), ans),
         lambda t, ans, x, y: like(t * x / y, ans)),
    saves=(0, 1), partials=("log({1})", "{0} / {1}"),
    samples=_binary_samples(SPREAD, _POSITIVE), derivative="d(x log y) = log(y) dx + x/y dy",
)
xlog1py = primitive(
    "xlog1py", _scipy("xlog1py", pole=lambda x, y: (y == -1) & (x != 0)), kind="binary",
    namespace="special", scipy=("special.xlog1py",), domain=Domain("y > -1 (or x = 0: 0)"),
    symbolic=elementwise_fn(lambda x, y: x * sympy_module().log(1 + y)), formula=("xlog1py",),
    vjp=(lambda g, ans, x, y: unbroadcast(g * ops.log1p(y), x),
         lambda g, ans, x, y: unbroadcast(g * x / (1.0 + y), y)),
    jvp=(lambda t, ans, x, y: like(t * ops.log1p(y), ans),
         lambda t, ans, x, y: like(t * x / (1.0 + y), ans)),
    saves=(0, 1), partials=("log(1 + {1})", "{0} / (1 + {1})"),
    samples=_binary_samples(SPREAD, np.array([-0.5, 0.2, 1.4])),
    derivative="d(x log(1 + y)) = log(1 + y) dx + x/(1 + y) dy",
)

# ============================================================================ Bessel functions
# The order v is a plain number (or array): diffkit has no derivative with respect to it.


def _order_signature(qualname: str) -> Callable[..., Any]:
    def signature(v: Any, x: Any) -> Any:
        if is_traced(v):
            raise UnsupportedPrimitiveError(
                f"{qualname}(v, x) with a traced order v: diffkit differentiates with "
                f"respect to x only (no closed form in v); pass v as a plain number")
        return (v, x), {}

    signature.__name__ = qualname.rpartition(".")[2]
    return signature


def _bessel(name: str, sympy_name: str, dx: Callable[..., Any], *, analytic: bool,
            domain: Domain | None, text: str, samples: tuple[Any, ...],
            symbolic: Callable[..., Any] | None = None, aliases: tuple[str, ...] = ()
            ) -> Callable[..., Any]:
    """A Bessel function ``name(v, x)`` with ``d/dx = dx(v, x, ans)``; ``text`` shows it
    with ``{v}`` and ``{x}`` for the arguments."""
    return primitive(
        # an infinity at x = 0 is a pole (yv, negative orders); elsewhere an overflow
        name, _scipy(name, pole=lambda v, x: np.equal(x, 0)),
        signature=_order_signature(f"scipy.special.{name}"), namespace="special",
        scipy=(f"special.{name}", *aliases), elementwise=True, nargs=2, analytic=analytic,
        domain=domain, symbolic=symbolic or elementwise_sympy(sympy_name),
        sympy_name=None if symbolic else sympy_name, printer=_printer(sympy_name),
        vjp=(None, lambda g, ans, v, x: unbroadcast(g * dx(v, x, ans), x)),
        jvp=(None, lambda t, ans, v, x: like(t * dx(v, x, ans), ans)),
        partials=(None, text.format(v="{0}", x="{1}")), samples=samples,
        derivative=text.format(v="v", x="x"),
    )


# complex iv, jv and yv (AMOS) lose an imaginary part of 1e-20 (iv(0, x + 1e-20j) for
# 22 < x < 37 gives a derivative 12 times too large): no complex step through them
iv = _bessel(
    "iv", "besseli", lambda v, x, ans: (iv(v - 1, x) + iv(v + 1, x)) / 2.0, analytic=False,
    domain=Domain("x > 0 unless v is an integer"), text="(iv({v} - 1, {x}) + iv({v} + 1, {x})) / 2",
    samples=_order_samples((0.0, 1.0, 2.5), _POSITIVE),
)
ive = _bessel(
    "ive", "besseli",
    lambda v, x, ans: (ive(v - 1, x) + ive(v + 1, x)) / 2.0 - ops.sign(x) * ans,
    # ive(v, x) = iv(v, x) exp(-|x|): a kink at 0, and scipy's complex form uses |Re z|
    analytic=False, domain=Domain("x > 0 unless v is an integer", kinks=(0.0,),
                                         kink_vars=((1,),)),
    text="(ive({v} - 1, {x}) + ive({v} + 1, {x})) / 2 - sign({x}) ive({v}, {x})",
    symbolic=elementwise_fn(
        lambda v, x: sympy_module().besseli(v, x) * sympy_module().exp(-sympy_module().Abs(x))),
    samples=_order_samples((0.0, 1.0, 2.5), _POSITIVE),
)
jv = _bessel(
    "jv", "besselj", lambda v, x, ans: (jv(v - 1, x) - jv(v + 1, x)) / 2.0, analytic=False,
    domain=Domain("x > 0 unless v is an integer"), text="(jv({v} - 1, {x}) - jv({v} + 1, {x})) / 2",
    aliases=("special.jn",), samples=_order_samples((0.0, 1.0, 2.5), _POSITIVE),
)
yv = _bessel(
    "yv", "bessely", lambda v, x, ans: (yv(v - 1, x) - yv(v + 1, x)) / 2.0, analytic=False,
    domain=Domain("x > 0", lo=0.0), text="(yv({v} - 1, {x}) - yv({v} + 1, {x})) / 2",
    aliases=("special.yn",), samples=_order_samples((0.0, 1.0, 2.5), _POSITIVE),
)


def _bessel_n(name: str, sympy_name: str, order: int, dx: Callable[..., Any], *, text: str,
              analytic: bool, domain: Domain | None = None, numpy: tuple[str, ...] = (),
              values: np.ndarray = SPREAD * 2) -> Callable[..., Any]:
    """A Bessel function of fixed integer order, ``i0(x)`` = ``iv(0, x)``; ``text`` its
    derivative with ``{0}`` for x."""
    return primitive(
        name, _scipy(name, pole=(lambda x: x == 0) if domain is not None else None),
        namespace="special", scipy=(f"special.{name}",), numpy=numpy, analytic=analytic,
        domain=domain,
        symbolic=elementwise_fn(lambda x: getattr(sympy_module(), sympy_name)(order, x)),
        printer=_printer(sympy_name),
        vjp=(lambda g, ans, x: g * dx(x),), jvp=(lambda t, ans, x: t * dx(x),), saves=(0,),
        partials=(text,), samples=unary_samples(values), derivative=text.format("x"),
    )


i0 = _bessel_n("i0", "besseli", 0, lambda x: i1(x), text="i1({0})", analytic=False,
               numpy=("i0",))
i1 = _bessel_n("i1", "besseli", 1, lambda x: (i0(x) + iv(2.0, x)) / 2.0,
               text="(i0({0}) + iv(2, {0})) / 2", analytic=False)
j0 = _bessel_n("j0", "besselj", 0, lambda x: -j1(x), text="-j1({0})", analytic=False)
j1 = _bessel_n("j1", "besselj", 1, lambda x: (j0(x) - jv(2.0, x)) / 2.0,
               text="(j0({0}) - jv(2, {0})) / 2", analytic=False)
y0 = _bessel_n("y0", "bessely", 0, lambda x: -y1(x), text="-y1({0})", analytic=False,
               domain=Domain("x > 0", lo=0.0), values=POS)
y1 = _bessel_n("y1", "bessely", 1, lambda x: (y0(x) - yv(2.0, x)) / 2.0,
               text="(y0({0}) - yv(2, {0})) / 2", analytic=False, domain=Domain("x > 0", lo=0.0),
               values=POS)

# ============================================================================ softmax, logsumexp

_AXIS_SAMPLES = (((V,), {"axis": None}), ((M,), {"axis": 0}), ((M,), {"axis": 1}),
                 ((M,), {"axis": None}), ((M,), {"axis": (0, 1)}))


def _axis_signature(x: Any, axis: Any = None) -> Any:
    return (x,), {"axis": axis_param(axis)}


def _sum_keep(x: Any, axis: Any) -> Any:
    return ops.sum(x, axis=axis, keepdims=True)


def _symbolic_sum_keep(x: Any, axis: Any) -> Any:
    return np.sum(x, axis=axis, keepdims=True) if isinstance(x, np.ndarray) else x


def _softmax_symbolic(x: Any, axis: Any = None) -> Any:
    if not isinstance(x, np.ndarray):
        return sympy_module().Integer(1)
    e = np.vectorize(sympy_module().exp, otypes=[object])(x)
    return e / _symbolic_sum_keep(e, axis)


def _log_softmax_symbolic(x: Any, axis: Any = None) -> Any:
    if not isinstance(x, np.ndarray):
        return sympy_module().Integer(0)
    sp = sympy_module()
    e = np.vectorize(sp.exp, otypes=[object])(x)
    return x - np.vectorize(sp.log, otypes=[object])(_symbolic_sum_keep(e, axis))


softmax = primitive(
    "softmax", lambda x, axis=None: _sps().softmax(x, axis=axis), signature=_axis_signature,
    namespace="special", scipy=("special.softmax",), symbolic=_softmax_symbolic,
    # the Jacobian diag(s) - s s^T along the axis, applied without forming it
    vjp=(lambda g, ans, x, axis=None: ans * (g - _sum_keep(g * ans, axis)),),
    jvp=(lambda t, ans, x, axis=None: ans * (t - _sum_keep(t * ans, axis)),), saves=(-1,),
    samples=_AXIS_SAMPLES, derivative="s (g - sum(g s)) with s = softmax(x)",
)
log_softmax = primitive(
    "log_softmax", lambda x, axis=None: _sps().log_softmax(x, axis=axis),
    signature=_axis_signature, namespace="special", scipy=("special.log_softmax",),
    symbolic=_log_softmax_symbolic,
    vjp=(lambda g, ans, x, axis=None: g - ops.exp(ans) * _sum_keep(g, axis),),
    jvp=(lambda t, ans, x, axis=None: t - _sum_keep(ops.exp(ans) * t, axis),), saves=(-1,),
    samples=_AXIS_SAMPLES, derivative="g - softmax(x) sum(g)",
)


def _scaled_numeric(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False) -> Any:
    return _sps().logsumexp(a, axis=axis, b=b, keepdims=keepdims)


def _scaled_symbolic(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False) -> Any:
    sp = sympy_module()
    terms = np.asarray(b, dtype=object) * np.vectorize(sp.exp, otypes=[object])(
        np.asarray(a, dtype=object))
    s = np.sum(terms, axis=axis, keepdims=keepdims)
    return np.vectorize(sp.log, otypes=[object])(s) if isinstance(s, np.ndarray) else sp.log(s)


def _scaled_weights(ans: Any, a: Any, axis: Any, b: Any, keepdims: bool) -> Any:
    """d ans / d a = b exp(a - ans), broadcast against ``a``."""
    return b * ops.exp(a - restore_reduced(ans, a, axis, keepdims))


def _logsumexp_call(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
                    return_sign: bool = False) -> Any:
    """scipy.special.logsumexp's call form. Without ``b`` it is the ``logsumexp`` reduction;
    ``b`` is a constant scaling (no derivative with respect to it is recorded);
    ``return_sign=True`` gives ``(log|sum|, sign(sum))``."""
    axis = axis_param(axis)
    keepdims = bool(keepdims)
    if is_traced(b):
        raise UnsupportedPrimitiveError(
            "scipy.special.logsumexp(a, b=...) with a traced b: diffkit records b as a "
            "constant; for positive weights write dnp.special.logsumexp(a + dnp.log(b)) to "
            "differentiate with respect to b")
    if not return_sign:
        if b is None:
            return ops.logsumexp(a, axis=axis, keepdims=keepdims)
        params = {"axis": axis, "b": np.asarray(b, dtype=float), "keepdims": keepdims}
        return bind(scaled_logsumexp.primitive, (a,), params)  # type: ignore[attr-defined]
    # log|s| = logsumexp(a) + log|sum(b softmax(a))|: abs is not analytic, so the complex step
    # refuses this form, and the sign is a step function (no derivative)
    top = ops.logsumexp(a, axis=axis, keepdims=keepdims)
    shifted = ops.exp(a - restore_reduced(top, a, axis, keepdims))
    s = ops.sum(shifted if b is None else np.asarray(b, dtype=float) * shifted, axis=axis,
                keepdims=keepdims)
    return top + ops.log(ops.absolute(s)), ops.sign(s)


scaled_logsumexp = primitive(
    "scaled_logsumexp", _scaled_numeric, function=_logsumexp_call, namespace="special",
    scipy=("special.logsumexp",), symbolic=_scaled_symbolic, nargs=1,
    vjp=(lambda g, ans, a, axis=None, b=None, keepdims=False: unbroadcast(
        restore_reduced(g, a, axis, keepdims) * _scaled_weights(ans, a, axis, b, keepdims), a),),
    jvp=(lambda t, ans, a, axis=None, b=None, keepdims=False: ops.sum(
        t * _scaled_weights(ans, a, axis, b, keepdims), axis=axis, keepdims=keepdims),),
    samples=(((V,), {"axis": None, "b": np.array([0.5, 2.0, 1.0]), "keepdims": False}),
             ((M,), {"axis": 1, "b": V, "keepdims": False}),
             ((M,), {"axis": 0, "b": np.array([[0.5], [2.0]]), "keepdims": True}),
             ((M,), {"axis": None, "b": np.array([1.0, -0.2, 0.7]), "keepdims": False})),
    derivative="b exp(a - logsumexp(a, b=b))",
)

# ============================================================================ scipy.stats.norm
# z = (x - loc) / scale; every rule is d/dz of the standardized function, times dz/dx = 1/scale,
# dz/dloc = -1/scale, dz/dscale = -z/scale, plus the density's own -log(scale).


def _norm_signature(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    return (x, loc, scale), {}


def _z(x: Any, loc: Any, scale: Any) -> Any:
    return (x - loc) / scale


def _norm_logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    z = _z(x, loc, scale)
    return -0.5 * z * z - np.log(scale) - _LOG_SQRT_2PI


def _norm_rules(dz: Callable[..., Any], dscale: Callable[..., Any] | None = None) -> Any:
    """(vjp, jvp) of a function of z, with ``dz(z, ans)`` its derivative in z and ``dscale``
    the extra term of a density in scale (``-1/scale`` for logpdf)."""

    def partials(ans: Any, x: Any, loc: Any, scale: Any) -> tuple[Any, Any, Any]:
        z = _z(x, loc, scale)
        d = dz(z, ans) / scale
        ds = -d * z if dscale is None else -d * z + dscale(ans, scale)
        return d, -d, ds

    def vjp(k: int) -> Callable[..., Any]:
        def rule(g: Any, ans: Any, x: Any, loc: Any, scale: Any) -> Any:
            return unbroadcast(g * partials(ans, x, loc, scale)[k], (x, loc, scale)[k])

        return rule

    def jvp(k: int) -> Callable[..., Any]:
        def rule(t: Any, ans: Any, x: Any, loc: Any, scale: Any) -> Any:
            return like(t * partials(ans, x, loc, scale)[k], ans)

        return rule

    return tuple(vjp(k) for k in range(3)), tuple(jvp(k) for k in range(3))


def _norm_symbolic(form: Callable[..., Any]) -> Callable[..., Any]:
    def one(x: Any, loc: Any, scale: Any) -> Any:
        sp = sympy_module()
        return form(sp, (x - loc) / scale, scale)

    return elementwise_fn(one)


def _phi_log(z: Any) -> Any:
    """log of the standard normal density, with dnp primitives."""
    return -0.5 * z * z - _LOG_SQRT_2PI


_NORM_SAMPLES = (((0.3, 0.5, 1.5), {}), ((SPREAD, 0.2, 1.3), {}), ((M, V, POS), {}),
                 ((SPREAD, np.array([0.1, -0.4, 0.6]), POS), {}))
_SCALE = Domain("scale > 0")


def _norm(name: str, numeric: Callable[..., Any], form: Callable[..., Any],
          dz: Callable[..., Any], dscale: Callable[..., Any] | None,
          partials: tuple[str, str, str]) -> Callable[..., Any]:
    """A scipy.stats.norm function; ``partials`` in x, loc, scale with ``Z`` for z and
    ``npdf`` the standard normal density."""
    vjp, jvp = _norm_rules(dz, dscale)
    derivative = "; ".join(
        f"d/d{arg} = {p.replace('Z', 'z').format('x', 'loc', 'scale', y=name)}"
        for arg, p in zip(("x", "loc", "scale"), partials, strict=True))
    return primitive(
        f"norm_{name}", numeric, signature=_norm_signature, namespace="stats",
        scipy=(f"stats.norm.{name}",), elementwise=True, nargs=3, domain=_SCALE,
        symbolic=_norm_symbolic(form), vjp=vjp, jvp=jvp, samples=_NORM_SAMPLES,
        partials=tuple(p.replace("Z", "(({0} - {1}) / {2})") for p in partials),
        derivative=f"{derivative} (z = (x - loc) / scale)",
    )


norm_logpdf = _norm(
    "logpdf", _norm_logpdf,
    lambda sp, z, scale: -z**2 / 2 - sp.log(scale) - sp.log(2 * sp.pi) / 2,
    lambda z, ans: -z, lambda ans, scale: -1.0 / scale,
    ("-Z / {2}", "Z / {2}", "(Z**2 - 1) / {2}"),
)
norm_pdf = _norm(
    "pdf", lambda x, loc=0.0, scale=1.0: np.exp(_norm_logpdf(x, loc, scale)),
    lambda sp, z, scale: sp.exp(-z**2 / 2) / (scale * sp.sqrt(2 * sp.pi)),
    lambda z, ans: -z * ans, lambda ans, scale: -ans / scale,
    ("-{y} Z / {2}", "{y} Z / {2}", "{y} (Z**2 - 1) / {2}"),
)
norm_cdf = _norm(
    "cdf", lambda x, loc=0.0, scale=1.0: ndtr(_z(x, loc, scale)),
    lambda sp, z, scale: _ndtr_sympy(z),
    lambda z, ans: ops.exp(_phi_log(z)), None,
    ("npdf(Z) / {2}", "-npdf(Z) / {2}", "-Z npdf(Z) / {2}"),
)
norm_logcdf = _norm(
    "logcdf", lambda x, loc=0.0, scale=1.0: log_ndtr(_z(x, loc, scale)),
    lambda sp, z, scale: sp.log(_ndtr_sympy(z)),
    lambda z, ans: ops.exp(_phi_log(z) - ans), None,
    ("npdf(Z) / exp({y}) / {2}", "-npdf(Z) / exp({y}) / {2}",
     "-Z npdf(Z) / exp({y}) / {2}"),
)
norm_sf = _norm(
    "sf", lambda x, loc=0.0, scale=1.0: ndtr(-_z(x, loc, scale)),
    lambda sp, z, scale: _ndtr_sympy(-z),
    lambda z, ans: -ops.exp(_phi_log(z)), None,
    ("-npdf(Z) / {2}", "npdf(Z) / {2}", "Z npdf(Z) / {2}"),
)
norm_logsf = _norm(
    "logsf", lambda x, loc=0.0, scale=1.0: log_ndtr(-_z(x, loc, scale)),
    lambda sp, z, scale: sp.log(_ndtr_sympy(-z)),
    lambda z, ans: -ops.exp(_phi_log(z) - ans), None,
    ("-npdf(Z) / exp({y}) / {2}", "npdf(Z) / exp({y}) / {2}", "Z npdf(Z) / exp({y}) / {2}"),
)

__all__ = ["beta", "betaln", "digamma", "erf", "erfc", "erfcinv", "erfinv", "expit", "gamma",
           "gammaln", "i0", "i1", "iv", "ive", "j0", "j1", "jv", "log_ndtr", "log_softmax",
           "logit", "ndtr", "ndtri", "norm_cdf", "norm_logcdf", "norm_logpdf", "norm_logsf",
           "norm_pdf", "norm_sf", "polygamma", "rgamma", "scaled_logsumexp", "softmax",
           "xlog1py", "xlogy", "y0", "y1", "yv"]
