"""Reductions: sums, means, products, extrema and their relatives along axes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._stanza import (
    POS,
    Domain,
    M,
    V,
    count,
    norm_axes,
    ops,
    primitive,
    restore_reduced,
    shape_of,
    sympy_module,
)

_REDUCE_SAMPLES = (((V,), {"axis": None, "keepdims": False}),
                   ((M,), {"axis": 0, "keepdims": False}),
                   ((M,), {"axis": 1, "keepdims": True}),
                   ((M,), {"axis": None, "keepdims": False}))


def sum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Every element of x gets the cotangent of its sum: a broadcast view, no copy."""
    return ops.broadcast_to(restore_reduced(g, x, axis, keepdims), shape_of(x))


def _sum_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x = args[0]
    if np.ndim(g) == 0 and not params["keepdims"] and params["axis"] is None:
        return (g,)  # a number standing for every entry (the engine materializes it)
    if not params["keepdims"]:
        reduced = norm_axes(params["axis"], x.ndim)
        g = np.reshape(g, tuple(1 if k in reduced else n for k, n in enumerate(x.shape)))
    return (np.broadcast_to(g, x.shape),)


def _symbolic_reduce(sympy_name: str) -> Callable[..., Any]:
    def rule(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        f = getattr(sympy_module(), sympy_name)
        if not isinstance(x, np.ndarray):
            return x
        if axis is None and not keepdims:
            return f(*x.ravel())
        axes = norm_axes(axis, x.ndim)
        moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
        flat = moved.reshape((*moved.shape[: moved.ndim - len(axes)], -1))
        out = np.empty(flat.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = f(*flat[idx])
        if keepdims:
            out = np.expand_dims(out, axes)
        return out

    return rule


def _sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # numpy.sum; for a float array its reduction directly (a third of np.sum's overhead)
    if x.__class__ is np.ndarray and x.dtype.kind == "f":
        return np.add.reduce(x, axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


sum = primitive(
    "sum", _sum, kind="reduce", numpy=("sum",), symbolic=np.sum, linear=True, methods=("sum",),
    vjp=(sum_vjp,),
    jvp=(lambda t, ans, x, axis=None, keepdims=False: sum(t, axis=axis, keepdims=keepdims),),
    vjp_numpy=_sum_np, saves=(), samples=_REDUCE_SAMPLES,
)


def _symbolic_mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return np.sum(x, axis=axis, keepdims=keepdims) / sympy_module().Integer(count(x, axis))


def _mean_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    (c,) = _sum_np(g, ans, args, params, w)
    return (c / count(args[0], params["axis"]),)


mean = primitive(
    "mean", np.mean, kind="reduce", symbolic=_symbolic_mean, linear=True, methods=("mean",),
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         sum_vjp(g, ans, x, axis, keepdims) / count(x, axis),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False: mean(t, axis=axis, keepdims=keepdims),),
    vjp_numpy=_mean_np, saves=(), samples=_REDUCE_SAMPLES,
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
    sp = sympy_module()
    if not isinstance(x, np.ndarray):
        return x  # log(exp(x)) = x for one real entry
    s = np.sum(np.vectorize(sp.exp, otypes=[object])(x), axis=axis, keepdims=keepdims)
    return np.vectorize(sp.log, otypes=[object])(s) if isinstance(s, np.ndarray) else sp.log(s)


def softmax_of(ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """``exp(x - logsumexp(x))`` from the logsumexp ``ans`` already computed."""
    return ops.exp(x - restore_reduced(ans, x, axis, keepdims))


def _logsumexp_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    # g * softmax(x), the rule below in plain numpy (five dnp calls on small arrays cost more
    # than the arithmetic: the MLP's softmax cross-entropy)
    x = args[0]
    reduced = norm_axes(params["axis"], np.ndim(x))
    shape = tuple(1 if k in reduced else n for k, n in enumerate(np.shape(x)))
    c = np.subtract(x, np.reshape(ans, shape))
    np.exp(c, out=c)
    c *= np.reshape(g, shape) if np.ndim(g) else g
    return (c,)


logsumexp = primitive(
    "logsumexp", _logsumexp, kind="reduce", symbolic=_symbolic_logsumexp,
    # one primitive instead of seven (max, shift, exp, sum, log, add, reshape): the tape of a
    # softmax cross-entropy is a third shorter, and the rule is the softmax
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         sum_vjp(g, ans, x, axis, keepdims) * softmax_of(ans, x, axis, keepdims),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(t * softmax_of(ans, x, axis, keepdims), axis=axis, keepdims=keepdims),),
    vjp_numpy=_logsumexp_np, samples=_REDUCE_SAMPLES,
    derivative="softmax(x): exp(x - logsumexp(x))",
)
prod = primitive(
    "prod", np.prod, kind="reduce", symbolic=np.prod, methods=("prod",),
    # d(prod x)/dx_i = prod / x_i (requires nonzero entries)
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         sum_vjp(g * ans, ans, x, axis, keepdims) / x,),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(t * restore_reduced(ans, x, axis, keepdims) / x, axis=axis, keepdims=keepdims),),
    derivative_domain=Domain("no zero entries"),
    samples=(((POS,), {"axis": None, "keepdims": False}),
             ((M,), {"axis": 1, "keepdims": False})),
)


def _extremum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # the cotangent goes to the extremal entries, split evenly between ties
    full = restore_reduced(ans, x, axis, keepdims)
    hit = ops.where(ops.equal(x, full), 1.0, 0.0)
    share = restore_reduced(sum(hit, axis=axis, keepdims=keepdims), x, axis, keepdims)
    return sum_vjp(g, ans, x, axis, keepdims) * hit / share


def _extremum_jvp(t: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    full = restore_reduced(ans, x, axis, keepdims)
    hit = ops.where(ops.equal(x, full), 1.0, 0.0)
    return sum(t * hit, axis=axis, keepdims=keepdims) / sum(hit, axis=axis, keepdims=keepdims)


_EXTREMUM_SAMPLES = _REDUCE_SAMPLES[:3]

max = primitive(
    "max", np.max, kind="reduce", symbolic=_symbolic_reduce("Max"), numpy=("max", "amax"),
    analytic=False, vjp=(_extremum_vjp,), jvp=(_extremum_jvp,), methods=("max",),
    samples=_EXTREMUM_SAMPLES, derivative="1 at the largest entry, split evenly between ties",
)
min = primitive(
    "min", np.min, kind="reduce", symbolic=_symbolic_reduce("Min"), numpy=("min", "amin"),
    analytic=False, vjp=(_extremum_vjp,), jvp=(_extremum_jvp,), methods=("min",),
    samples=_EXTREMUM_SAMPLES, derivative="1 at the smallest entry, split evenly between ties",
)

__all__ = ["logsumexp", "max", "mean", "min", "prod", "softmax_of", "sum", "sum_vjp"]
