"""scipy.special and scipy.stats.norm through every method, the way users write them.

Ported from the per-function checks of autograd's ``tests/test_scipy.py`` (same functions,
own inputs and code): each function as plain ``scipy.special.X(x)`` (a ufunc on the traced
value) and as ``dnp.special.X(x)``, under reverse mode, forward mode, the symbolic method and
the complex step where the stanza is analytic (elsewhere the complex step must refuse),
against exact derivatives from mpmath at 30 digits; second derivatives by ``dk.hessian``; the
Python-level scipy functions (logsumexp, softmax, polygamma, scipy.stats.norm.*), which no
tracer can enter, refuse with a message naming the dnp function to call.
"""

from __future__ import annotations

import functools

import mpmath as mp
import numpy as np
import pytest
import scipy.special as sps
import sympy
from scipy.special import logsumexp as _logsumexp_imported  # bound before any trace
from scipy.stats import norm

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.core import REGISTRY
from diffkit.errors import (
    DomainError,
    NonAnalyticError,
    NotTraceableError,
    UnsupportedPrimitiveError,
)

AD = ("reverse-mode", "forward-mode", "symbolic")
RTOL = 1e-10


def _mp_derivative(f, point, orders):
    """A partial derivative of the mpmath function ``f`` at ``point``, at 30 digits."""
    return _mp_cached(f, tuple(float(p) for p in point), tuple(int(k) for k in orders))


@functools.cache
def _mp_cached(f, point, orders):
    with mp.workdps(30):
        return float(mp.diff(f, tuple(mp.mpf(p) for p in point), orders))


def _assert_close(actual, desired, rtol=RTOL):
    actual, desired = np.asarray(actual, dtype=float), np.asarray(desired, dtype=float)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    scale = max(1.0, float(np.max(np.abs(desired))))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def _method_or_refusal(name, method, run, desired):
    """``run(method)`` against ``desired``; the complex step refuses a non-analytic stanza."""
    if method == "complex-step" and not REGISTRY[name].analytic:
        with pytest.raises(NonAnalyticError, match=repr(name)):
            run(method)
        return
    _assert_close(run(method), desired)


# ============================================================================ one argument
# name -> (scipy's function, mpmath form, points inside the domain)

_LOG_ABS_GAMMA = lambda t: mp.log(abs(mp.gamma(t)))

UNARY = {
    "erf": (sps.erf, mp.erf, [-1.4, 0.35, 2.1]),
    "erfc": (sps.erfc, mp.erfc, [-1.4, 0.35, 2.1]),
    "erfinv": (sps.erfinv, mp.erfinv, [-0.95, 0.1, 0.7]),
    "erfcinv": (sps.erfcinv, lambda t: mp.erfinv(1 - t), [0.05, 0.9, 1.95]),
    "ndtr": (sps.ndtr, mp.ncdf, [-3.0, 0.2, 1.7]),
    "log_ndtr": (sps.log_ndtr, lambda t: mp.log(mp.ncdf(t)), [-12.0, -0.5, 4.0]),
    "ndtri": (sps.ndtri, lambda t: mp.sqrt(2) * mp.erfinv(2 * t - 1), [0.02, 0.5, 0.9]),
    "gamma": (sps.gamma, mp.gamma, [-1.5, 0.3, 4.2]),
    "rgamma": (sps.rgamma, mp.rgamma, [-1.5, 0.3, 4.2]),
    "gammaln": (sps.gammaln, _LOG_ABS_GAMMA, [-2.5, 0.3, 25.0]),
    "digamma": (sps.digamma, mp.digamma, [-0.4, 0.3, 6.0]),
    "expit": (sps.expit, lambda t: 1 / (1 + mp.exp(-t)), [-4.05, 0.0, 4.95]),
    "logit": (sps.logit, lambda t: mp.log(t / (1 - t)), [0.1, 0.5, 0.9]),
    "i0": (sps.i0, lambda t: mp.besseli(0, t), [-2.0, 0.2, 20.0]),
    "i1": (sps.i1, lambda t: mp.besseli(1, t), [-2.0, 0.0, 20.0]),
    "j0": (sps.j0, lambda t: mp.besselj(0, t), [0.2, 3.0, 20.0]),
    "j1": (sps.j1, lambda t: mp.besselj(1, t), [0.0, 3.0, 20.0]),
    "y0": (sps.y0, lambda t: mp.bessely(0, t), [0.2, 3.0, 20.0]),
    "y1": (sps.y1, lambda t: mp.bessely(1, t), [0.2, 3.0, 20.0]),
}
METHODS = (*AD, "complex-step")


def _unary_exact(mpf, x):
    return np.diag([_mp_derivative(mpf, [v], [1]) for v in x])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_function_through_scipy_and_dnp(name, method):
    spf, mpf, points = UNARY[name]
    x = np.array(points)
    desired = _unary_exact(mpf, x)
    dnpf = getattr(dnp.special, name)
    for fn in (spf, dnpf):
        _method_or_refusal(name, method, lambda m, fn=fn: dk.jacobian(fn, x, method=m), desired)


def test_psi_is_digamma_and_numpy_i0_is_the_same_primitive():
    x = np.array([0.4, 1.3, 7.0])
    assert dnp.special.psi is dnp.special.digamma
    for fn, mpf in ((sps.psi, mp.digamma), (np.i0, lambda t: mp.besseli(0, t))):
        for method in ("reverse-mode", "forward-mode"):
            _assert_close(dk.jacobian(fn, x, method=method), _unary_exact(mpf, x))


# ============================================================================ two arguments


BINARY = {
    "beta": (sps.beta, mp.beta),
    "betaln": (sps.betaln, lambda a, b: mp.log(abs(mp.beta(a, b)))),
    "xlogy": (sps.xlogy, lambda a, b: a * mp.log(b)),
    "xlog1py": (sps.xlog1py, lambda a, b: a * mp.log1p(b)),
}
_A = np.array([1.3, 2.2, 0.4])
_B = np.array([0.6, 3.5, -0.5])  # b = -0.5: beta off its poles; log1p(-0.5) defined


def _binary_point(name):
    b = np.abs(_B) + 0.1 if name == "xlogy" else _B
    return np.concatenate([_A if name != "xlogy" else _A - 1.0, b])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(BINARY))
def test_two_argument_function_in_both_arguments(name, method):
    spf, mpf = BINARY[name]
    p = _binary_point(name)
    desired = np.zeros((3, 6))
    for k in range(3):
        pair = [p[k], p[3 + k]]
        desired[k, k] = _mp_derivative(mpf, pair, [1, 0])
        desired[k, 3 + k] = _mp_derivative(mpf, pair, [0, 1])
    dnpf = getattr(dnp.special, name)
    for fn in (spf, dnpf):
        _method_or_refusal(name, method, lambda m, fn=fn: dk.jacobian(
            lambda v, fn=fn: fn(v[:3], v[3:]), p, method=m), desired)


def test_two_argument_function_broadcasts_a_scalar_and_a_matrix():
    # xlogy(x, Y): x a scalar against a (2, 3) matrix; the gradient in x sums over Y
    y = np.array([[0.5, 1.5, 2.5], [3.0, 0.2, 1.1]])

    def f(v):
        return np.sum(sps.xlogy(v[0], y * v[1]))

    point = np.array([0.7, 1.3])
    exact = [float(np.sum(np.log(y * 1.3))), 0.7 * y.size / 1.3]
    for method in METHODS:
        _assert_close(dk.gradient(f, point, method=method), exact)


# ============================================================================ an order argument

ORDERS = {  # scipy's function of (order, x), its mpmath form, orders and points
    "iv": (sps.iv, mp.besseli, (0, 1, 2.5), [0.3, 2.0, 15.0]),
    "ive": (sps.ive, lambda v, t: mp.besseli(v, t) * mp.exp(-abs(t)), (0, 1, 2.5),
            [0.3, 2.0, 15.0]),
    "jv": (sps.jv, mp.besselj, (0, 1, 2.5), [0.3, 2.0, 15.0]),
    "yv": (sps.yv, mp.bessely, (0, 1, 2.5), [0.3, 2.0, 15.0]),
    "jn": (sps.jn, mp.besselj, (0, 2), [0.3, 2.0, 15.0]),
    "yn": (sps.yn, mp.bessely, (1, 2), [0.3, 2.0, 15.0]),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(ORDERS))
def test_bessel_functions_in_x_at_fixed_orders(name, method):
    spf, mpf, orders, points = ORDERS[name]
    x = np.array(points)
    prim_name = {"jn": "jv", "yn": "yv"}.get(name, name)
    dnpf = getattr(dnp.special, name)
    for v in orders:
        desired = np.diag([_mp_derivative(lambda t, v=v: mpf(v, t), [p], [1]) for p in x])
        for fn in (spf, dnpf):
            _method_or_refusal(prim_name, method, lambda m, fn=fn, v=v: dk.jacobian(
                lambda z: fn(v, z), x, method=m), desired)


def test_bessel_order_as_an_array_broadcasts():
    v = np.array([[0.0], [1.0], [3.5]])
    x = np.array([0.5, 2.0, 9.0])
    desired = np.vstack([np.diag([_mp_derivative(lambda t, o=o: mp.besselj(o, t), [p], [1])
                                  for p in x]) for o in v.ravel()])
    for method in AD:
        _assert_close(dk.jacobian(lambda z: sps.jv(v, z), x, method=method), desired)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [0, 1, 2])
def test_polygamma_through_dnp(n, method):
    x = np.array([-0.4, 0.3, 6.0])  # autograd: polygamma(0, R(4)**2 + 1.3); also x < 0
    desired = np.diag([_mp_derivative(lambda t: mp.polygamma(n, t), [p], [1]) for p in x])
    _method_or_refusal("polygamma", method,
                       lambda m: dk.jacobian(lambda z: dnp.special.polygamma(n, z), x, method=m),
                       desired)


# ============================================================================ second order

HESSIAN_UNARY = ["erf", "erfinv", "gamma", "gammaln", "digamma", "expit", "logit", "log_ndtr",
                 "i1", "j1", "y1"]


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "symbolic"])
@pytest.mark.parametrize("name", HESSIAN_UNARY)
def test_hessian_of_a_weighted_sum(name, method):
    spf, mpf, points = UNARY[name]
    x = np.array(points)
    w = np.array([0.5, -1.5, 2.0])
    desired = np.diag([w[k] * _mp_derivative(mpf, [x[k]], [2]) for k in range(3)])
    _assert_close(dk.hessian(lambda z: np.sum(w * spf(z)), x, method=method), desired, 1e-9)


@pytest.mark.parametrize("name", ["beta", "betaln", "xlogy"])
def test_hessian_of_a_two_argument_function_has_the_mixed_partial(name):
    spf, mpf = BINARY[name]
    p = np.array([1.3, 2.2]) if name != "xlogy" else np.array([-0.3, 0.7])
    # d2 f / dp_i dp_j: differentiate (i == 0) + (j == 0) times in a, the rest in b
    desired = np.array([[_mp_derivative(mpf, p, [(i == 0) + (j == 0), (i == 1) + (j == 1)])
                         for j in range(2)] for i in range(2)])
    for method in ("reverse-mode", "forward-mode", "symbolic"):
        _assert_close(dk.hessian(lambda v: spf(v[0], v[1]), p, method=method), desired, 1e-9)


def test_hessians_in_x_of_polygamma_and_ive():
    x = np.array([0.6, 2.5])
    cases = [(lambda z: np.sum(dnp.special.polygamma(1, z)), lambda t: mp.polygamma(1, t)),
             (lambda z: np.sum(sps.ive(1.5, z)),
              lambda t: mp.besseli(1.5, t) * mp.exp(-t))]
    for f, mpf in cases:
        desired = np.diag([_mp_derivative(mpf, [p], [2]) for p in x])
        for method in ("reverse-mode", "forward-mode"):
            _assert_close(dk.hessian(f, x, method=method), desired, 1e-9)


# ============================================================================ softmax family


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_jacobian(x, axis):
    """d softmax(x)_i / d x_j = s_i (delta_ij - s_j) within one slice along ``axis``."""
    s = _softmax(x, axis)
    n = x.size
    jac = np.zeros((n, n))
    idx = np.arange(n).reshape(x.shape)
    slices = [idx] if axis is None else list(np.moveaxis(idx, axis, -1).reshape(-1, x.shape[
        axis]))
    for sl in slices:
        sl = np.ravel(sl)
        sv = s.ravel()[sl]
        jac[np.ix_(sl, sl)] = np.diag(sv) - np.outer(sv, sv)
    return jac


_X34 = np.array([[0.3, -1.2, 0.8, 2.0], [1.1, 0.4, -0.6, 0.9], [-2.0, 0.5, 1.5, 0.1]])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_softmax_and_log_softmax_along_an_axis(axis, method):
    jac = _softmax_jacobian(_X34, axis)
    s = _softmax(_X34, axis).ravel()
    # log_softmax: d/dx_j (x_i - lse) = delta_ij - s_j within the slice
    log_jac = np.where(jac != 0, jac / np.where(s[:, None] != 0, s[:, None], 1), 0)
    for fn, desired in ((dnp.special.softmax, jac), (dnp.special.log_softmax, log_jac)):
        _assert_close(dk.jacobian(lambda v, fn=fn: fn(v.reshape(3, 4), axis=axis), _X34.ravel(),
                                  method=method), desired)


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode"])
def test_softmax_cross_entropy_hessian(method):
    labels = np.array([0.0, 1.0, 0.0, 0.0])
    x = np.array([0.3, -1.2, 0.8, 2.0])

    def loss(v):
        return -np.sum(labels * dnp.special.log_softmax(v))

    s = _softmax(x, None)
    _assert_close(dk.hessian(loss, x, method=method), np.diag(s) - np.outer(s, s))


# logsumexp: autograd's test_logsumexp1-6, every (shape, axis, keepdims) combination
_LSE_CASES = [(np.array([1.1]), None), (np.array([0.3, -1.0, 2.0, 0.5]), None),
              (np.array([0.3, -1.0, 2.0, 0.5]), 0), (_X34, None), (_X34, 0), (_X34, 1),
              (np.linspace(-1, 1, 30).reshape(5, 6), (0, 1))]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("case", range(len(_LSE_CASES)))
def test_logsumexp_axis_keepdims(case, keepdims, method):
    x, axis = _LSE_CASES[case]
    s = _softmax(x, axis).ravel()
    # row r of the Jacobian (output r, one slice along axis): the softmax of that slice
    out = sps.logsumexp(x, axis=axis, keepdims=keepdims)
    desired = np.zeros((np.size(out), x.size))
    idx = np.arange(x.size).reshape(x.shape)
    groups = [idx.ravel()] if axis is None or isinstance(axis, tuple) else \
        list(np.moveaxis(idx, axis, -1).reshape(-1, x.shape[axis]))
    for r, g in enumerate(groups):
        desired[r, np.ravel(g)] = s[np.ravel(g)]
    got = dk.jacobian(lambda v: dnp.special.logsumexp(v.reshape(x.shape), axis=axis,
                                                      keepdims=keepdims), x.ravel(),
                      method=method)
    _assert_close(got, desired)


def test_logsumexp_with_scaling_b_and_return_sign():
    a = np.array([[0.3, -1.0, 2.0], [0.5, 1.5, -0.2]])
    b = np.exp(np.array([[0.1, -0.4, 0.3], [1.2, 0.0, -1.0]]))
    for axis in (None, 0, 1):
        w = b * np.exp(a - sps.logsumexp(a, axis=axis, b=b, keepdims=True))
        for method in METHODS:
            got = dk.gradient(lambda v, axis=axis: np.sum(dnp.special.logsumexp(
                v, axis=axis, b=b)), a, method=method)
            _assert_close(got, w)
    # negative weights: log|sum| and the sign of the sum (the sign has no derivative)
    bneg = np.array([1.0, -3.0, 0.5])
    v0 = np.array([0.2, 0.4, -0.1])
    out, sign = dnp.special.logsumexp(v0, b=bneg, return_sign=True)
    ref = sps.logsumexp(v0, b=bneg, return_sign=True)
    _assert_close([out, sign], ref, 1e-14)
    assert sign == -1.0
    s = np.sum(bneg * np.exp(v0))
    for method in AD:
        got = dk.gradient(lambda v: dnp.special.logsumexp(v, b=bneg, return_sign=True)[0], v0,
                          method=method)
        _assert_close(got, bneg * np.exp(v0) / s)
    with pytest.raises(NonAnalyticError, match="absolute"):
        dk.gradient(lambda v: dnp.special.logsumexp(v, b=bneg, return_sign=True)[0], v0,
                    method="complex-step")


def test_logsumexp_second_order_keepdims():
    # autograd's test_logsumexp6: the gradient of a keepdims logsumexp differentiated again
    x = np.array([[0.3, -0.7, 1.2, 0.1, -2.0]])

    def f(v):
        return dnp.special.logsumexp(v.reshape(1, 5), axis=1, keepdims=True)[0, 0]

    s = _softmax(x, 1).ravel()
    for method in ("reverse-mode", "forward-mode", "symbolic"):
        _assert_close(dk.hessian(f, x.ravel(), method=method), np.diag(s) - np.outer(s, s))


# ============================================================================ scipy.stats.norm

NORM = {
    "logpdf": lambda x, m, s: mp.log(mp.npdf(x, m, s)),
    "pdf": lambda x, m, s: mp.npdf(x, m, s),
    "cdf": lambda x, m, s: mp.ncdf(x, m, s),
    "logcdf": lambda x, m, s: mp.log(mp.ncdf(x, m, s)),
    "sf": lambda x, m, s: mp.ncdf(-x, -m, s),  # no 1 - cdf: it cancels in the tail
    "logsf": lambda x, m, s: mp.log(mp.ncdf(-x, -m, s)),
}


def _broadcast_jacobian(mpf, args):
    """Exact Jacobian of ``f(*args)`` (elementwise with broadcasting) in all its arguments,
    columns ordered as the concatenation of the raveled arguments."""
    shapes = [np.shape(a) for a in args]
    out_shape = np.broadcast_shapes(*shapes)
    offsets = np.cumsum([0] + [int(np.prod(s, dtype=int)) for s in shapes])
    jac = np.zeros((int(np.prod(out_shape, dtype=int)), offsets[-1]))
    full = [np.broadcast_to(a, out_shape) for a in args]
    for r, idx in enumerate(np.ndindex(out_shape)):
        point = [float(f[idx]) for f in full]
        for k, shape in enumerate(shapes):
            src = tuple(0 if n == 1 else i for n, i in zip(shape, idx[len(idx) - len(shape):],
                                                             strict=True))
            col = offsets[k] + (np.ravel_multi_index(src, shape) if shape else 0)
            orders = [int(j == k) for j in range(len(args))]
            jac[r, col] += _mp_derivative(mpf, point, orders)
    return jac


_NORM_ARGS = {
    "vectors": (np.array([-0.3, 0.4, 1.9, -1.1]), np.array([0.2, -0.5, 1.0, 0.3]),
                np.array([1.2, 0.6, 2.1, 1.5])),
    "broadcast": (np.array([[0.3, -1.2, 0.8], [1.1, 0.4, -0.6], [-2.0, 0.5, 1.5],
                            [0.1, 0.9, -0.4]]),
                  np.array([[0.2, -0.3, 0.5]]), np.array([[1.2], [0.6], [2.1], [1.5]])),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shapes", list(_NORM_ARGS))
@pytest.mark.parametrize("name", list(NORM))
def test_norm_in_x_loc_and_scale(name, shapes, method):
    args = _NORM_ARGS[shapes]
    sizes = np.cumsum([a.size for a in args])
    fn = getattr(dnp.stats.norm, name)

    def f(v):
        x, loc, scale = (v[:sizes[0]], v[sizes[0]:sizes[1]], v[sizes[1]:])
        return fn(x.reshape(args[0].shape), loc.reshape(args[1].shape),
                  scale=scale.reshape(args[2].shape))

    theta = np.concatenate([a.ravel() for a in args])
    np.testing.assert_allclose(f(theta), getattr(norm, name)(*args), rtol=1e-13)
    _method_or_refusal(f"norm_{name}", method, lambda m: dk.jacobian(f, theta, method=m),
                       _broadcast_jacobian(NORM[name], args))


@pytest.mark.parametrize("method", METHODS)
def test_norm_log_cdf_and_log_sf_far_in_the_tails(method):
    x = np.array([-30.0, -5.0, 8.0])
    for name, points in (("logcdf", x), ("logsf", -x)):
        desired = np.diag([_mp_derivative(lambda t, name=name: NORM[name](t, 0, 1), [p], [1])
                           for p in points])
        fn = getattr(dnp.stats.norm, name)
        _assert_close(dk.jacobian(lambda v, fn=fn: fn(v), points, method=method), desired)


def test_norm_defaults_and_hessian_of_a_gaussian_log_likelihood():
    data = np.array([0.3, -1.2, 0.8, 2.0, 1.1])

    def nll(p):  # mean and log standard deviation
        return -np.sum(dnp.stats.norm.logpdf(data, p[0], dnp.exp(p[1])))

    p = np.array([0.4, 0.2])
    sigma2 = np.exp(2 * p[1])
    r = data - p[0]
    n = data.size
    exact = np.array([[n / sigma2, 2 * np.sum(r) / sigma2],
                      [2 * np.sum(r) / sigma2, 2 * np.sum(r * r) / sigma2]])
    for method in ("reverse-mode", "forward-mode", "symbolic"):
        _assert_close(dk.hessian(nll, p, method=method), exact)
    # standard normal defaults: d logpdf / dx = -x
    x = np.array([0.3, -0.7])
    _assert_close(dk.jacobian(lambda v: dnp.stats.norm.logpdf(v), x, method="reverse-mode"),
                  np.diag(-x))


# ============================================================================ symbolic forms


def test_symbolic_tree_strategy_and_compiled_printers():
    """sympy.diff of the sympy forms (the tree strategy), compiled with the stanzas' printers
    for the functions math lacks (erfinv, polygamma, beta, besseli/besselj/bessely)."""
    f = dk.Function(lambda x1, x2: sps.erfinv(x1 / 3) * sps.gamma(x2) + sps.i1(x1) * sps.beta(
        x1, x2) + sps.y0(x2) + dnp.special.polygamma(1, x2))
    point = [0.9, 1.7]
    ref = dk.gradient(f, point, method="richardson")
    for strategy in ("tree", "dag"):
        got = dk.gradient(f, point, method=dk.methods.Symbolic(strategy=strategy))
        np.testing.assert_allclose(got, ref, rtol=1e-9)
    expr = dk.methods.Symbolic().derivative_expression(f)
    assert expr.has(sympy.erfinv, sympy.gamma, sympy.besseli, sympy.beta, sympy.bessely)


def test_formula_names_and_sympy_read_back():
    f = dk.Function.from_expr("erf(x1) + gammaln(x2) * expit(x1) + xlogy(x1, x2)")
    point = [0.4, 1.8]
    exact = dk.gradient(f, point, method="symbolic")
    _assert_close(dk.gradient(f, point, method="reverse-mode"), exact)
    x = sympy.Symbol("x", real=True)
    g = dk.Function.from_sympy(sympy.besseli(1, x) + sympy.loggamma(x) + sympy.erfinv(x / 2),
                               [x])
    assert {"iv", "gammaln", "erfinv"} <= {n.prim.name for n in _recorded(g, 0.7)}
    _assert_close(dk.derivative(g, 0.7, method="reverse-mode"),
                  dk.derivative(g, 0.7, method="richardson"), 1e-8)


def _recorded(spec, x):
    from diffkit.methods import symbolic

    trace = symbolic._traced(spec, None)
    return [t.node for t in symbolic._ancestors(trace.output) if t.node is not None]


# ============================================================================ what is refused

_ROUTED = [
    # scipy's Python-level functions, called through their module inside f: routed to dnp
    (lambda x: sps.logsumexp(x), lambda x: dnp.special.logsumexp(x)),
    (lambda x: sps.logsumexp(x, b=np.ones(3)), lambda x: dnp.special.logsumexp(x, b=np.ones(3))),
    (lambda x: sps.softmax(x)[0], lambda x: dnp.special.softmax(x)[0]),
    (lambda x: sps.log_softmax(x)[0], lambda x: dnp.special.log_softmax(x)[0]),
    (lambda x: np.sum(sps.polygamma(1, x)), lambda x: dnp.sum(dnp.special.polygamma(1, x))),
    (lambda x: np.sum(norm.logpdf(x)), lambda x: dnp.sum(dnp.stats.norm.logpdf(x))),
    (lambda x: np.sum(norm.cdf(np.ones(3), loc=x)),
     lambda x: dnp.sum(dnp.stats.norm.cdf(np.ones(3), loc=x))),
]


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "symbolic"])
@pytest.mark.parametrize("k", range(len(_ROUTED)))
def test_python_level_scipy_functions_are_routed_while_diffkit_traces(k, method):
    f, same = _ROUTED[k]
    x = np.array([0.3, 0.7, 1.1])
    originals = (sps.logsumexp, sps.softmax, sps.polygamma, norm.__dict__.get("logpdf"))
    np.testing.assert_allclose(dk.gradient(f, x, method=method),
                               dk.gradient(same, x, method="reverse-mode"), rtol=1e-12)
    # after the call scipy is scipy again: the same objects, no instance attribute left
    assert (sps.logsumexp, sps.softmax, sps.polygamma, norm.__dict__.get("logpdf")) == originals
    assert sps.logsumexp(x) == pytest.approx(np.log(np.sum(np.exp(x))), rel=1e-15)


def test_routes_are_undone_when_f_raises():
    original = sps.logsumexp

    def f(x):
        sps.logsumexp(x)
        raise RuntimeError("the user's own error")

    with pytest.raises(RuntimeError, match="the user's own error"):
        dk.gradient(f, np.array([0.3, 0.7]), method="reverse-mode")
    assert sps.logsumexp is original


def test_a_function_the_user_swapped_into_scipy_between_calls_is_kept(monkeypatch):
    """The routes are resolved and wrapped once and reused (re-making them cost 39 us per
    recording); a function someone put in scipy's place since is noticed: the route wraps it,
    and it is what scipy holds again after the call."""
    x = np.array([0.3, 0.7])
    f = lambda v: sps.logsumexp(v)
    want = dk.gradient(f, x, method="reverse-mode")  # the plan is made
    calls = []

    def mine(a, *args, **kwargs):
        calls.append(1)
        return _logsumexp_imported(a, *args, **kwargs)

    monkeypatch.setattr(sps, "logsumexp", mine)
    assert sps.logsumexp is mine
    np.testing.assert_allclose(dk.gradient(f, x, method="reverse-mode"), want, rtol=1e-15)
    assert sps.logsumexp is mine  # restored to the user's function, not the stale original
    sps.logsumexp(x)
    assert calls == [1]


_NOT_TRACEABLE = [
    # a name bound before the trace, and a frozen distribution, are scipy's own functions
    ("scipy.special.logsumexp", lambda x: _logsumexp_imported(x), "dnp.special.logsumexp"),
    ("scipy.stats.norm.logsf", lambda x: np.sum(norm(0.0, 2.0).logsf(x)),
     "dnp.stats.norm.logsf"),
]


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "symbolic"])
@pytest.mark.parametrize(("called", "f", "instead"), _NOT_TRACEABLE,
                         ids=[f"{c}-{k}" for k, (c, _, _) in enumerate(_NOT_TRACEABLE)])
def test_python_level_scipy_functions_name_their_dnp_replacement(called, f, instead, method):
    with pytest.raises(NotTraceableError) as info:
        dk.gradient(f, np.array([0.3, 0.7, 1.1]), method=method)
    msg = str(info.value)
    assert msg.startswith(f"{called} is not a numpy ufunc or array function, so diffkit "
                          f"cannot see inside it: it converted the traced value ")
    assert f"the derivative would be lost; call {instead} (same arguments) instead. " \
        f"(diffkit routes {called}(...) called through its module while it traces f; a name " \
        f"imported before, or a frozen distribution, is scipy's own function)" in msg
    assert callable(eval(instead, {"dnp": dnp}))


def test_another_scipy_distribution_is_named_without_a_replacement():
    from scipy.stats import t as student

    with pytest.raises(NotTraceableError, match=r"^scipy\.stats\.t\.logpdf is not a numpy "
                       r"ufunc.*express it with numpy functions diffkit knows"):
        dk.gradient(lambda x: np.sum(student.logpdf(x, 3.0)), [0.3, 0.7], method="reverse-mode")


@pytest.mark.parametrize(("call", "message"), [
    (lambda x: sps.iv(x[0], x), r"^scipy\.special\.iv\(v, x\) with a traced order v: diffkit "
     r"differentiates with respect to x only \(no closed form in v\); pass v as a plain "
     r"number$"),
    (lambda x: dnp.special.polygamma(x[0], x), r"^scipy\.special\.polygamma\(n, x\) with a "
     r"traced order n: n is an integer, there is no derivative with respect to it; pass n "
     r"as a plain int$"),
    (lambda x: dnp.special.polygamma(1.5, x), r"^scipy\.special\.polygamma\(n=1\.5, x\): the "
     r"order n must be a non-negative integer \(or an array of them\)$"),
    (lambda x: dnp.special.polygamma(-1, x), r"^scipy\.special\.polygamma\(n=-1, x\)"),
    (lambda x: dnp.special.logsumexp(x, b=x), r"^scipy\.special\.logsumexp\(a, b=\.\.\.\) "
     r"with a traced b: diffkit records b as a constant; for positive weights write "
     r"dnp\.special\.logsumexp\(a \+ dnp\.log\(b\)\) to differentiate with respect to b$"),
    (lambda x: dnp.special.softmax(x, axis=0, out=None),
     r"^scipy\.special\.softmax: .*unexpected keyword argument 'out'; diffkit supports the "
     r"call scipy\.special\.softmax\(x: 'Any', axis: 'Any' = None\)"),
    (lambda x: sps.erf(x, out=np.empty(3)), r"^scipy\.special\.erf\(\.\.\., out=\.\.\.\) on a "
     r"traced value: diffkit cannot follow writes into an existing array"),
])
def test_unsupported_call_forms_are_refused_with_a_message(call, message):
    for method in ("reverse-mode", "forward-mode"):
        with pytest.raises(UnsupportedPrimitiveError, match=message):
            dk.gradient(lambda x: np.sum(call(x)), np.array([0.3, 0.7, 1.1]), method=method)


@pytest.mark.parametrize(("f", "x", "message"), [
    (sps.gammaln, -1.0, r"^gammaln\(-1\.0\): outside its domain, gammaln requires x not in "
     r"\{0, -1, -2, \.\.\.\}"),
    (sps.logit, 1.0, r"^logit\(1\.0\): outside its domain, logit requires 0 < x < 1"),
    (sps.erfinv, 1.5, r"^erfinv\(1\.5\): outside its domain, erfinv requires -1 < x < 1"),
    (sps.y1, 0.0, r"^y1\(0\.0\): outside its domain, y1 requires x > 0"),
    (lambda x: sps.yv(1.0, x), 0.0, r"^yv\(1\.0, 0\.0\): outside its domain, yv requires x > 0"),
    (lambda x: np.sum(sps.iv(np.array([[0.5], [1.0]]), x * np.array([1.0, 2.0]))), -1.0,
     r"^iv\(array of shape \(2, 1\), array of shape \(2,\)\): outside its domain, iv "
     r"requires x > 0 unless v is an integer"),
    (lambda s: dnp.stats.norm.logpdf(0.5, 0.0, s), -2.0,
     r"^norm_logpdf\(0\.5, 0\.0, -2\.0\): outside its domain, norm_logpdf requires scale > 0"),
])
def test_points_outside_the_domain_are_domain_errors(f, x, message):
    # scipy.special returns NaN or an infinity silently; the stanza reports it like numpy would
    for method in ("reverse-mode", "forward-mode"):
        with pytest.raises(DomainError, match=message):
            dk.derivative(f, x, method=method)


def test_plain_values_behave_like_scipy():
    x = np.array([-0.5, 0.3, 2.5])
    assert np.array_equal(dnp.special.gammaln(x), sps.gammaln(x))
    assert np.array_equal(dnp.special.polygamma(1, x), sps.polygamma(1, x))
    assert np.array_equal(dnp.special.ive(1.0, x), sps.ive(1.0, x))
    assert dnp.special.logsumexp(x, b=-np.ones(3)) != dnp.special.logsumexp(x)  # nan vs value
    assert np.isnan(dnp.special.logsumexp(x, b=-np.ones(3)))  # as scipy: log of a negative sum
    np.testing.assert_allclose(dnp.special.softmax(_X34, axis=1), sps.softmax(_X34, axis=1),
                               rtol=1e-15)
    for name in NORM:
        np.testing.assert_allclose(getattr(dnp.stats.norm, name)(x, 0.3, 1.7),
                                   getattr(norm, name)(x, 0.3, 1.7), rtol=1e-14)
