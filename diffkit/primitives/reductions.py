"""Reductions and statistics: sums, means, products, cumulations, spreads and order statistics.

Every ``dnp`` function here takes numpy's call form (``axis``, ``dtype``, ``out``, ``keepdims``,
``initial``, ``where``, ``ddof``, ``weights`` as numpy does): on plain values it is numpy's own
function, on traced values the parameters become a stanza's static ``params``. Call forms a
trace cannot record (``out=``, an integer ``dtype=``, ``np.var(..., mean=...)``) raise
:class:`~diffkit.errors.UnsupportedPrimitiveError` saying what works instead.

Rules for kinks and selections (max, median, nan-entries) read the numbers under a traced
value to find the selected entries: which entries a maximum or a median selects is piecewise
constant in ``x``, so the selection is a constant of the rule and the rule stays
differentiable. On the symbolic trace the selection of a maximum is written in closed form
(products of ``Heaviside(x_i - x_j)``), never as ``Eq(x_i, Max(...))``: sympy rewrites such an
equation (``Eq(0.64*x_0, Max(...))`` becomes ``Eq(x_0, 1.5614*Max(...))``) and compiled float
code then finds no entry equal to the maximum.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import Tracer, bind, holds_tracer, innermost
from ..errors import UnsupportedPrimitiveError
from ._stanza import (
    POS,
    Domain,
    M,
    V,
    axis_param,
    batch_axes,
    batch_lead,
    count,
    norm_axes,
    ops,
    primitive,
    restore_reduced,
    shape_of,
    sympy_module,
    unbroadcast,
)

_UNSET: Any = np._NoValue  # numpy's own "not given" (numpy's functions pass it on, too)

# ============================================================================ shared helpers


_numbers = innermost  # the numbers under a traced value: floats, or sympy expressions


def _is_symbolic(v: Any) -> bool:
    """Whether the numbers under a traced value are sympy expressions (the symbolic trace)."""
    if isinstance(v, np.ndarray):
        return v.dtype == object
    return type(v).__module__.startswith("sympy")


def _unsupported(message: str) -> Exception:

    return UnsupportedPrimitiveError(message)


def _no_out(qualname: str) -> Exception:
    return _unsupported(f"{qualname}(..., out=...) on a traced value: diffkit cannot follow "
                        f"writes into an existing array; assign the result instead")


def _given(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments the caller gave (numpy 1.26 lacks some of numpy 2's)."""
    return {k: v for k, v in kwargs.items() if v is not _UNSET}


_holds_tracer = holds_tracer


def _stacked(a: Any) -> Any:
    """A nested list holding traced values as one traced array (numpy's ``asarray``)."""
    if a.__class__ in (list, tuple):
        return ops.stack([_stacked(e) for e in a])
    return a


def _flag(keepdims: Any) -> bool:
    return False if keepdims is _UNSET else bool(keepdims)


def _cast(result: Any, dtype: Any, qualname: str) -> Any:
    """``result`` in the requested ``dtype``: float64 on float64 values changes nothing."""
    if dtype is None:
        return result
    target = np.dtype(dtype)
    v = _numbers(result)
    if target.kind in "fc" and (_is_symbolic(v) or np.result_type(v) == target):
        return result  # exact arithmetic, or numpy computes in this dtype anyway
    if target.kind in "fc" and hasattr(ops, "astype"):
        return ops.astype(result, target)
    have = "exact arithmetic" if _is_symbolic(v) else np.result_type(v)
    why = ("an integer or boolean result carries no derivative" if target.kind not in "fc"
           else f"diffkit records the reduction in {have}")
    raise _unsupported(f"{qualname}(..., dtype={target}) on a traced value: {why}; call it "
                       f"without dtype= and convert the result outside the differentiated "
                       f"function")


def _sym_number(value: float) -> Any:
    """An exact sympy number (``0.5`` -> ``1/2``), as the symbolic trace makes constants."""
    sp = sympy_module()
    value = float(value)
    return sp.Integer(int(value)) if value.is_integer() else sp.Rational(repr(value))


def _map(f: Callable[[Any], Any], value: Any) -> Any:
    """``f`` on a sympy scalar, or entry by entry on an object array."""
    if isinstance(value, np.ndarray):
        return np.frompyfunc(f, 1, 1)(value)
    return f(value)


def _flip(v: Any, axis: int) -> Any:
    """``v`` reversed along ``axis`` (a basic slice: plain arrays and traced values alike)."""
    return v[(slice(None),) * axis + (slice(None, None, -1),)]


def _insert_axis(v: Any, axis: int) -> Any:
    """``v`` with a new axis of length 1 at position ``axis``."""
    shape = shape_of(v)
    return ops.reshape(v, (*shape[:axis], 1, *shape[axis:]))


def _rows(v: np.ndarray, axis: Any) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """``v`` with the reduced axes moved last and flattened, and the map back to v's shape."""
    axes = norm_axes(axis, v.ndim)
    last = tuple(range(v.ndim - len(axes), v.ndim))
    moved = np.moveaxis(v, axes, last)
    flat = moved.reshape((*moved.shape[: v.ndim - len(axes)], -1))

    def back(w: np.ndarray) -> np.ndarray:
        return np.moveaxis(w.reshape(moved.shape), last, axes)

    return flat, back


def _symbolic_reduce(sympy_name: str) -> Callable[..., Any]:
    def rule(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        f = getattr(sympy_module(), sympy_name)
        if not isinstance(x, np.ndarray):
            return x
        flat, _ = _rows(x, axis)
        out = np.empty(flat.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = f(*flat[idx])
        if keepdims:
            out = np.expand_dims(out, norm_axes(axis, x.ndim))
        return out

    return rule


# a reduction's dnp function: numpy's own on plain values, the stanza on traced ones


def _reduce_traced(prim: Any, a: Any, axis: Any, out: Any, keepdims: Any, initial: Any,
                   where: Any, fill: Any, combine: Callable[[Any, Any], Any] | None) -> Any:
    """``prim`` along ``axis`` of the traced ``a``; ``where=`` fills the masked-out entries
    with ``fill`` (the reduction's identity) and ``initial=`` joins by ``combine``."""
    if out is not None:
        raise _no_out(prim.qualname)
    if where is not _UNSET and not (where is True):
        if fill is None:  # max and min have no identity: numpy asks for initial= too
            if initial is _UNSET:
                raise _unsupported(
                    f"{prim.qualname}(..., where=...) without initial=: the reduction has no "
                    f"identity, so numpy needs initial= to fill the masked-out entries; pass "
                    f"initial= (numpy refuses this call too)")
            fill = initial
        a = ops.where(where, a, fill)
    if not isinstance(a, Tracer):  # the mask selected no traced entry
        a = np.asarray(a)
    result = _apply(prim, a, {"axis": axis_param(axis), "keepdims": _flag(keepdims)})
    if initial is not _UNSET and combine is not None:
        result = combine(result, initial)
    return result


def _apply(prim: Any, a: Any, params: dict[str, Any]) -> Any:
    """``prim`` on one array: the trace's rule on a traced value, numpy's on a plain one."""
    if isinstance(a, Tracer):
        return a._trace.process(prim, (a,), params)
    return prim.evaluate((a,), params)


_WHOLE: dict[str, Any] = {"axis": None, "keepdims": False}
"""The params of a reduction over the whole array (one dict, shared: nothing writes params)."""


def _sum_like(numeric: Callable[..., Any], fill: Any, combine: Callable[[Any, Any], Any],
              fast: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """numpy's ``sum``/``prod``/``nansum`` call form: axis, dtype, out, keepdims, initial,
    where (``fast``: the plain call without any of them)."""
    fast = numeric if fast is None else fast

    def fn(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
           keepdims: Any = _UNSET, initial: Any = _UNSET, where: Any = _UNSET) -> Any:
        if not isinstance(a, Tracer):
            if not _holds_tracer(a):
                if axis is None and dtype is None and out is None and keepdims is _UNSET \
                        and initial is _UNSET and where is _UNSET:
                    return fast(a)
                return numeric(a, axis=axis, dtype=dtype, out=out,
                               **_given(keepdims=keepdims, initial=initial, where=where))
            a = _stacked(a)
        elif axis is None and dtype is None and out is None and keepdims is _UNSET \
                and initial is _UNSET and where is _UNSET:  # the whole array: straight on
            return a._trace.process(fn.primitive, (a,), _WHOLE)  # type: ignore[attr-defined]
        prim = fn.primitive  # type: ignore[attr-defined]
        result = _reduce_traced(prim, a, axis, out, keepdims, initial, where, fill, combine)
        return _cast(result, dtype, prim.qualname)

    return fn


def _extremum_like(numeric: Callable[..., Any], combine: Callable[[Any, Any], Any],
                   fill: Any = None) -> Callable[..., Any]:
    """numpy's ``max``/``min`` call form: axis, out, keepdims, initial, where (no dtype)."""

    def fn(a: Any, axis: Any = None, out: Any = None, keepdims: Any = _UNSET,
           initial: Any = _UNSET, where: Any = _UNSET) -> Any:
        if not isinstance(a, Tracer):
            if not _holds_tracer(a):
                if axis is None and out is None and keepdims is _UNSET and initial is _UNSET \
                        and where is _UNSET:
                    return numeric(a)
                return numeric(a, axis=axis, out=out,
                               **_given(keepdims=keepdims, initial=initial, where=where))
            a = _stacked(a)
        return _reduce_traced(fn.primitive, a, axis, out, keepdims, initial,  # type: ignore
                              where, fill, combine)

    return fn


def _mean_like(numeric: Callable[..., Any], nan: bool) -> Callable[..., Any]:
    """numpy's ``mean``/``nanmean`` call form: axis, dtype, out, keepdims, where."""

    def fn(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
           keepdims: Any = _UNSET, *, where: Any = _UNSET) -> Any:
        if not isinstance(a, Tracer):
            if not _holds_tracer(a):
                if axis is None and dtype is None and out is None and keepdims is _UNSET \
                        and where is _UNSET:
                    return numeric(a)
                return numeric(a, axis=axis, dtype=dtype, out=out,
                               **_given(keepdims=keepdims, where=where))
            a = _stacked(a)
        prim = fn.primitive  # type: ignore[attr-defined]
        if out is not None:
            raise _no_out(prim.qualname)
        axis, keep = axis_param(axis), _flag(keepdims)
        if where is _UNSET or where is True:
            result = _apply(prim, a, {"axis": axis, "keepdims": keep})
        elif nan:  # masked-out entries are ignored like NaN entries
            result = _apply(prim, ops.where(where, a, np.nan), {"axis": axis, "keepdims": keep})
        else:  # the mean of the selected entries: their sum over their number
            shape = shape_of(a)
            if isinstance(where, Tracer):
                n = ops.sum(ops.broadcast_to(ops.where(where, 1.0, 0.0), shape), axis=axis,
                            keepdims=keep)
            else:
                n = np.sum(np.broadcast_to(where, shape), axis=axis, keepdims=keep)
            result = ops.sum(ops.where(where, a, 0.0), axis=axis, keepdims=keep) / n
        return _cast(result, dtype, prim.qualname)

    return fn


_REDUCE_SAMPLES = (((V,), {"axis": None, "keepdims": False}),
                   ((M,), {"axis": 0, "keepdims": False}),
                   ((M,), {"axis": 1, "keepdims": True}),
                   ((M,), {"axis": None, "keepdims": False}))

# ============================================================================ sums and means


def sum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Every element of x gets the cotangent of its sum: a broadcast view, no copy."""
    return ops.broadcast_to(restore_reduced(g, x, axis, keepdims), shape_of(x))


def _sum_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x = args[0]
    if (g.__class__ is not np.ndarray or not g.ndim) and not params["keepdims"] \
            and params["axis"] is None:
        return (g,)  # a number standing for every entry (the engine materializes it)
    if not params["keepdims"]:
        reduced = norm_axes(params["axis"], x.ndim)
        g = np.reshape(g, tuple(1 if k in reduced else n for k, n in enumerate(x.shape)))
    return (np.broadcast_to(g, x.shape),)


_add_reduce = np.add.reduce


def _sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # numpy.sum; for a float array its reduction directly (a third of np.sum's overhead)
    if x.__class__ is np.ndarray and x.dtype.kind == "f":
        return _add_reduce(x, axis, None, None, keepdims)  # (positional: cheaper)
    return np.sum(x, axis=axis, keepdims=keepdims)


sum = primitive(
    "sum", _sum, function=_sum_like(np.sum, 0.0, lambda r, i: r + i, fast=_sum),
    numpy=("sum",), symbolic=np.sum, linear=True, methods=("sum",),
    vjp=(sum_vjp,),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(t, axis=batch_axes(axis, batch_lead(t, x), len(shape_of(x))), keepdims=keepdims),),
    jvp_batched=True,
    vjp_numpy=_sum_np, saves=(), samples=_REDUCE_SAMPLES,
)


def _symbolic_mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return np.sum(x, axis=axis, keepdims=keepdims) / sympy_module().Integer(count(x, axis))


def _mean_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    (c,) = _sum_np(g, ans, args, params, w)
    return (c / count(args[0], params["axis"]),)


mean = primitive(
    "mean", np.mean, function=_mean_like(np.mean, nan=False), symbolic=_symbolic_mean,
    linear=True, methods=("mean",),
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         sum_vjp(g, ans, x, axis, keepdims) / count(x, axis),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         mean(t, axis=batch_axes(axis, batch_lead(t, x), len(shape_of(x))), keepdims=keepdims),),
    jvp_batched=True,
    vjp_numpy=_mean_np, saves=(), samples=_REDUCE_SAMPLES,
)

# ------------------------------------------------------------ average (weights may be traced)


def _average_weights(a: Any, weights: Any, axis: Any) -> tuple[Any, Any]:
    """numpy's check and layout of ``weights``: a's shape, or a's shape along ``axis`` (then
    reshaped to broadcast against a). Returns ``(weights, axis as a tuple or None)``."""
    ashape, wshape = shape_of(a), shape_of(weights)
    axes = None if axis is None else norm_axes(axis, len(ashape))
    if axis is not None and not isinstance(axis, (int, np.integer)):
        given = tuple(int(k) % len(ashape) for k in axis)
    else:
        given = axes
    if wshape == ashape:
        return weights, axes
    if axis is None:
        raise _unsupported("numpy.average(a, weights=w) with w.shape != a.shape needs axis= "
                           f"(a {ashape}, weights {wshape}); numpy refuses it too")
    if wshape != tuple(ashape[k] for k in given):
        raise _unsupported(f"numpy.average: weights of shape {wshape} do not match a "
                           f"{ashape} along axis {axis}; numpy refuses it too")
    order = tuple(int(k) for k in np.argsort(given))
    if order != tuple(range(len(order))):
        weights = ops.transpose(weights, order)
    return ops.reshape(weights, tuple(n if k in axes else 1 for k, n in enumerate(ashape))), axes


def _average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
             keepdims: Any = _UNSET) -> Any:
    if not any(isinstance(v, Tracer) or _holds_tracer(v) for v in (a, weights)):
        return np.average(a, axis=axis, weights=weights, returned=returned,
                          **_given(keepdims=keepdims))
    a, keep = _stacked(a), _flag(keepdims)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keep)
        scale = np.full(shape_of(avg), count(a, axis_param(axis)) * 1.0)
    else:
        w, axes = _average_weights(a, _stacked(weights), axis_param(axis))
        avg = bind(average.primitive, (a, w), {"axis": axes, "keepdims": keep})
        scale = sum(w, axis=axes, keepdims=keep)
        if returned and shape_of(scale) != shape_of(avg):
            scale = ops.broadcast_to(scale, shape_of(avg))
    return (avg, scale) if returned else avg


def _average_numeric(a: Any, w: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # numpy's own formula: sum(a * w) / sum(w), the weights laid out to broadcast against a
    return (np.sum(np.multiply(a, w), axis=axis, keepdims=keepdims)
            / np.sum(w, axis=axis, keepdims=keepdims))


def _average_symbolic(a: Any, w: Any, axis: Any = None, keepdims: bool = False) -> Any:
    a, w = np.asarray(a, dtype=object), np.asarray(w, dtype=object)
    return np.sum(a * w, axis=axis, keepdims=keepdims) / np.sum(w, axis=axis, keepdims=keepdims)


average = primitive(
    "average", _average_numeric, function=_average, symbolic=_average_symbolic,
    vjp=(
        # d/da_i = w_i / sum(w);  d/dw_i = (a_i - average) / sum(w)
        lambda g, ans, a, w, axis=None, keepdims=False: unbroadcast(
            sum_vjp(g, ans, a, axis, keepdims) * w / sum(w, axis=axis, keepdims=True), a),
        lambda g, ans, a, w, axis=None, keepdims=False: unbroadcast(
            sum_vjp(g, ans, a, axis, keepdims) * (a - restore_reduced(ans, a, axis, keepdims))
            / sum(w, axis=axis, keepdims=True), w),
    ),
    jvp=(
        lambda t, ans, a, w, axis=None, keepdims=False:
            sum(t * w, axis=axis, keepdims=keepdims) / sum(w, axis=axis, keepdims=keepdims),
        lambda t, ans, a, w, axis=None, keepdims=False:
            sum(t * (a - restore_reduced(ans, a, axis, keepdims)), axis=axis, keepdims=keepdims)
            / sum(w, axis=axis, keepdims=keepdims),
    ),
    domain=Domain("the weights along the axis do not sum to zero"),
    samples=(((V, np.array([0.2, 0.5, 0.3])), {"axis": None, "keepdims": False}),
             ((M, np.array([[0.2, 0.5, 0.3], [1.0, 0.1, 0.6]])), {"axis": (1,),
                                                                  "keepdims": False}),
             ((M, M + 0.5), {"axis": (0,), "keepdims": True})),
    derivative="w / sum(w) for a; (a - average) / sum(w) for the weights",
)

# ------------------------------------------------------------ NaN-ignoring sums and means


def _not_nan(x: Any) -> Any:
    """1.0 where x's entry is a number, 0.0 where it is NaN (a constant of the rules: NaN
    entries are constants, their derivative is zero)."""
    v = _numbers(x)
    if _is_symbolic(v):  # sympy values are never NaN (the trace refuses NaN constants)
        return np.ones(shape_of(v))
    return (~np.isnan(v)).astype(float)


def _nan_dropped(t: Any, x: Any) -> Any:
    """The tangent ``t`` with the entries at x's NaN entries set to 0 by selection (``where``),
    not by a 0 weight: a NaN of data times a direction is a NaN tangent there (the JVP of
    ``y * w`` at NaN y), and 0 * NaN would keep it. NaN entries are constants."""
    keep = _not_nan(x)
    return t if np.all(keep) else ops.where(keep > 0, t, 0.0)


# (their symbolic rules are the plain ones: the symbolic trace refuses NaN constants, so
# no entry of a symbolic value is NaN)
nansum = primitive(
    "nansum", np.nansum, function=_sum_like(np.nansum, 0.0, lambda r, i: r + i),
    symbolic=np.sum,
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         sum_vjp(g, ans, x, axis, keepdims) * _not_nan(x),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(_nan_dropped(t, x), axis=axis, keepdims=keepdims),),
    samples=_REDUCE_SAMPLES,
    derivative="1 at every number, 0 at NaN entries (constants)",
)


def _nanmean_share(x: Any, axis: Any) -> Any:
    """1/(number of non-NaN entries) at each non-NaN entry, 0 at NaN entries."""
    keep = _not_nan(x)
    n = np.sum(keep, axis=norm_axes(axis, keep.ndim), keepdims=True)
    return np.divide(keep, n, out=np.zeros(keep.shape), where=n > 0)


nanmean = primitive(
    "nanmean", np.nanmean, function=_mean_like(np.nanmean, nan=True), symbolic=_symbolic_mean,
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         sum_vjp(g, ans, x, axis, keepdims) * _nanmean_share(x, axis),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(_nan_dropped(t, x) * _nanmean_share(x, axis), axis=axis, keepdims=keepdims),),
    samples=_REDUCE_SAMPLES,
    derivative="1/(number of non-NaN entries), 0 at NaN entries (constants)",
)

# ------------------------------------------------------------ trace


def _trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
           out: Any = None) -> Any:
    if not isinstance(a, Tracer) and not _holds_tracer(a):
        return np.trace(a, offset=offset, axis1=axis1, axis2=axis2, dtype=dtype, out=out)
    a = _stacked(a)
    if out is not None:
        raise _no_out("numpy.trace")
    nd = len(shape_of(a))
    if nd < 2:
        raise _unsupported(f"numpy.trace of an array of shape {shape_of(a)}: the trace needs "
                           f"at least two dimensions (numpy refuses it too)")
    ax1, ax2 = int(axis1) % nd, int(axis2) % nd
    if ax1 == ax2:
        raise _unsupported(f"numpy.trace(..., axis1={axis1}, axis2={axis2}): the two axes "
                           f"must differ (numpy refuses it too)")
    result = _apply(trace.primitive, a, {"offset": int(offset), "axis1": ax1, "axis2": ax2})
    return _cast(result, dtype, "numpy.trace")


def _trace_vjp(g: Any, ans: Any, x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1
               ) -> Any:
    # the cotangent of each trace goes to the diagonal entries it summed: g (with the two
    # axes put back, of length 1) times the 0/1 diagonal mask
    shape = shape_of(x)
    mask = np.eye(shape[axis1], shape[axis2], k=offset)
    if axis1 > axis2:
        mask = mask.T
    mask = mask.reshape(tuple(n if k in (axis1, axis2) else 1 for k, n in enumerate(shape)))
    g = _insert_axis(_insert_axis(g, builtins.min(axis1, axis2)), builtins.max(axis1, axis2))
    return g * mask


trace = primitive(
    "trace", np.trace, function=_trace,
    symbolic=lambda x, offset=0, axis1=0, axis2=1: np.trace(x, offset, axis1, axis2),
    linear=True, methods=("trace",),
    vjp=(_trace_vjp,),
    jvp=(lambda t, ans, x, offset=0, axis1=0, axis2=1: trace(t, offset, axis1, axis2),),
    saves=(),
    samples=(((M,), {"offset": 0, "axis1": 0, "axis2": 1}),
             ((M,), {"offset": 1, "axis1": 0, "axis2": 1}),
             ((np.arange(1.0, 25.0).reshape(2, 3, 4) / 10,), {"offset": -1, "axis1": 2,
                                                                "axis2": 1})),
    derivative="1 on the (offset) diagonal, 0 elsewhere",
)

# ============================================================================ products


def _cumulative(name: str) -> Callable[..., Any]:
    """numpy's ``cumsum``/``cumprod`` call form: axis (None flattens), dtype, out."""
    numeric = getattr(np, name)

    def fn(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        if not isinstance(a, Tracer) and not _holds_tracer(a):
            return numeric(a, axis=axis, dtype=dtype, out=out)
        a = _stacked(a)
        if out is not None:
            raise _no_out(f"numpy.{name}")
        nd = len(shape_of(a))
        if axis is not None and not isinstance(axis, (int, np.integer)):
            raise _unsupported(f"numpy.{name}(..., axis={axis!r}): the axis is one integer or "
                               f"None (numpy refuses a tuple too)")
        axis = None if axis is None else int(axis) % builtins.max(nd, 1)
        result = _apply(fn.primitive, a, {"axis": axis})  # type: ignore[attr-defined]
        return _cast(result, dtype, f"numpy.{name}")

    return fn


def _along(x: Any, axis: Any) -> tuple[Any, int]:
    """``x`` flattened when ``axis`` is None (what numpy cumulates then), and the axis."""
    if axis is None:
        return ops.reshape(x, (-1,)), 0
    return x, axis


def _reverse_cumsum(v: Any, axis: int) -> Any:
    """``out[i] = sum(v[i:])`` along ``axis``."""
    return _flip(cumsum(_flip(v, axis), axis=axis), axis)


def _cumsum_vjp(g: Any, ans: Any, x: Any, axis: Any = None) -> Any:
    # each entry x[i] enters every partial sum from i on
    shape = shape_of(x)
    out = _reverse_cumsum(g, 0 if axis is None else axis)
    return ops.reshape(out, shape) if axis is None else out


cumsum = primitive(
    "cumsum", np.cumsum, function=_cumulative("cumsum"),
    symbolic=lambda x, axis=None: np.cumsum(np.asarray(x, dtype=object), axis=axis),
    linear=True, methods=("cumsum",),
    vjp=(_cumsum_vjp,),
    jvp=(lambda t, ans, x, axis=None: cumsum(t, axis=axis),),
    saves=(),
    samples=(((V,), {"axis": None}), ((M,), {"axis": 1}), ((M,), {"axis": 0}),
             ((M,), {"axis": None})),
    derivative="d y_k / d x_i = 1 for i <= k",
)


def _has_zero(v: Any) -> bool:
    return bool(np.any(np.equal(v, 0)))


def _products_without_one(x: Any, axis: int) -> Any:
    """``C[..., i, k, ...] = prod(x[j] for j <= k if j != i)`` along ``axis`` (i at ``axis``,
    k at ``axis + 1``): every partial derivative of a cumulative product with no division,
    so exact at zero entries and polynomial in x (the symbolic form is the textbook one).
    Costs n**2 entries per line."""
    n = shape_of(x)[axis]
    nd = len(shape_of(x))
    layout = (1,) * axis + (n, n) + (1,) * (nd - axis - 1)
    eye = np.eye(n, dtype=bool).reshape(layout)
    spread = ops.where(eye, 1.0, _insert_axis(x, axis))  # x[k], with 1 where k = i
    return ops.cumprod(spread, axis=axis + 1)


def _upper(n: int, axis: int, nd: int) -> np.ndarray:
    """``[k >= i]`` laid out as ``_products_without_one``'s (i, k) axes."""
    return np.triu(np.ones((n, n), dtype=bool)).reshape((1,) * axis + (n, n)
                                                        + (1,) * (nd - axis - 1))


def _cumprod_vjp(g: Any, ans: Any, x: Any, axis: Any = None) -> Any:
    shape = shape_of(x)
    xs, ax = _along(x, axis)
    v = _numbers(xs)
    if _is_symbolic(v) or _has_zero(v):
        # d y_k / d x_i = prod_{j <= k, j != i} x_j, summed against g over k >= i
        n, nd = shape_of(xs)[ax], len(shape_of(xs))
        c = ops.where(_upper(n, ax, nd), _products_without_one(xs, ax), 0.0)
        out = sum(c * _insert_axis(g, ax), axis=ax + 1)
    else:  # no zero entry: d y_k / d x_i = y_k / x_i
        out = _reverse_cumsum(g * ans, ax) / xs  # (ans is flat when xs is)
    return ops.reshape(out, shape) if axis is None else out


def _cumprod_jvp(t: Any, ans: Any, x: Any, axis: Any = None) -> Any:
    xs, ax = _along(x, axis)
    ts = ops.reshape(t, shape_of(xs)) if axis is None else t
    v = _numbers(xs)
    if _is_symbolic(v) or _has_zero(v):
        n, nd = shape_of(xs)[ax], len(shape_of(xs))
        c = ops.where(_upper(n, ax, nd), _products_without_one(xs, ax), 0.0)
        return sum(c * _insert_axis(ts, ax + 1), axis=ax)
    return ans * cumsum(ts / xs, axis=ax)


cumprod = primitive(
    "cumprod", np.cumprod, function=_cumulative("cumprod"),
    symbolic=lambda x, axis=None: np.cumprod(np.asarray(x, dtype=object), axis=axis),
    methods=("cumprod",),
    vjp=(_cumprod_vjp,), jvp=(_cumprod_jvp,),
    samples=(((POS,), {"axis": None}), ((M,), {"axis": 1}), ((M,), {"axis": 0}),
             ((np.array([0.5, 0.0, 1.5, 0.0, 2.0]),), {"axis": None})),
    derivative="d y_k / d x_i = prod(x_j for j <= k, j != i) for i <= k (also at zeros)",
)


def _prod_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    v = _numbers(x)
    if _is_symbolic(v) or not _has_zero(v):
        # d(prod x)/dx_i = prod / x_i (sympy cancels x_i from the product: no division)
        return sum_vjp(g * ans, ans, x, axis, keepdims) / x
    return sum_vjp(g, ans, x, axis, keepdims) * _others_product(x, axis)


def _prod_jvp(t: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    v = _numbers(x)
    if _is_symbolic(v) or not _has_zero(v):
        return sum(t * restore_reduced(ans, x, axis, keepdims) / x, axis=axis, keepdims=keepdims)
    return sum(t * _others_product(x, axis), axis=axis, keepdims=keepdims)


def _others_product(x: Any, axis: Any) -> Any:
    """``prod(x_j for j != i)`` over each reduced group, without division (exact at zeros):
    the product of everything before i times everything after i."""
    shape = shape_of(x)
    axes = norm_axes(axis, len(shape))
    kept = tuple(k for k in range(len(shape)) if k not in axes)
    order = (*kept, *axes)
    moved = ops.transpose(x, order) if order != tuple(range(len(shape))) else x
    lines = ops.reshape(moved, (*(shape[k] for k in kept), -1))
    last = len(kept)
    ones = np.ones((*(shape[k] for k in kept), 1))
    before = ops.concatenate([ones, cumprod(lines, axis=last)[..., :-1]], axis=last)
    after = _flip(ops.concatenate([ones, cumprod(_flip(lines, last), axis=last)[..., :-1]],
                                  axis=last), last)
    others = ops.reshape(before * after, shape_of(moved))
    if order == tuple(range(len(shape))):
        return others
    return ops.transpose(others, tuple(int(k) for k in np.argsort(order)))


prod = primitive(
    "prod", np.prod, function=_sum_like(np.prod, 1.0, lambda r, i: r * i),
    symbolic=np.prod, methods=("prod",),
    vjp=(_prod_vjp,), jvp=(_prod_jvp,),
    samples=(((POS,), {"axis": None, "keepdims": False}),
             ((M,), {"axis": 1, "keepdims": False}),
             ((np.array([[0.5, 0.0, 1.5], [0.0, 2.0, 0.0]]),), {"axis": 1, "keepdims": True})),
    derivative="prod(x_j for j != i) (also at zeros)",
)


def _nan_to(x: Any, fill: float) -> Any:
    """``x`` with its NaN entries (constants) replaced by ``fill``."""
    keep = _not_nan(x)
    return x if np.all(keep) else ops.where(keep > 0, x, fill)


# NaN entries count as the operation's identity (1 in products, 0 in sums): constants
nanprod = primitive(
    "nanprod", np.nanprod, function=_sum_like(np.nanprod, 1.0, lambda r, i: r * i),
    symbolic=np.prod,
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         _prod_vjp(g, ans, _nan_to(x, 1.0), axis, keepdims) * _not_nan(x),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         _prod_jvp(_nan_dropped(t, x), ans, _nan_to(x, 1.0), axis, keepdims),),
    samples=prod.primitive.samples,
    derivative="prod(x_j for j != i, NaN entries left out); 0 at NaN entries",
)
nancumsum = primitive(
    "nancumsum", np.nancumsum, function=_cumulative("nancumsum"),
    symbolic=cumsum.primitive.symbolic, linear=True,
    vjp=(lambda g, ans, x, axis=None: _cumsum_vjp(g, ans, x, axis) * _not_nan(x),),
    jvp=(lambda t, ans, x, axis=None: cumsum(_nan_dropped(t, x), axis=axis),),
    samples=cumsum.primitive.samples,
    derivative="d y_k / d x_i = 1 for i <= k; 0 at NaN entries",
)
nancumprod = primitive(
    "nancumprod", np.nancumprod, function=_cumulative("nancumprod"),
    symbolic=cumprod.primitive.symbolic,
    vjp=(lambda g, ans, x, axis=None:
         _cumprod_vjp(g, ans, _nan_to(x, 1.0), axis) * _not_nan(x),),
    jvp=(lambda t, ans, x, axis=None:
         _cumprod_jvp(_nan_dropped(t, x), ans, _nan_to(x, 1.0), axis),),
    samples=cumprod.primitive.samples,
    derivative="as cumprod with NaN entries read as 1; 0 at NaN entries",
)

# ============================================================================ spread


def _spread_function(name: str) -> Callable[..., Any]:
    """numpy's ``var``/``std`` call form: axis, dtype, out, ddof, keepdims, where, mean,
    correction."""
    numeric = getattr(np, name)

    def fn(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
           keepdims: Any = _UNSET, *, where: Any = _UNSET, mean: Any = _UNSET,
           correction: Any = _UNSET) -> Any:
        if not isinstance(a, Tracer) and not _holds_tracer(a):
            return numeric(a, axis=axis, dtype=dtype, out=out, ddof=ddof,
                           **_given(keepdims=keepdims, where=where, mean=mean,
                                    correction=correction))
        a = _stacked(a)
        qual = f"numpy.{name}"
        if out is not None:
            raise _no_out(qual)
        if where is not _UNSET and not (where is True):
            raise _unsupported(
                f"{qual}(..., where=...) on a traced value is not recorded; write the masked "
                f"statistic out, e.g. n = np.sum(mask); m = np.sum(np.where(mask, x, 0)) / n; "
                f"np.sum(np.where(mask, (x - m) ** 2, 0)) / (n - ddof)")
        if mean is not _UNSET:
            raise _unsupported(f"{qual}(..., mean=...) on a traced value is not recorded; "
                               f"call it without mean= (diffkit computes the mean itself)")
        if correction is not _UNSET:
            if ddof != 0:
                raise _unsupported(f"{qual}: ddof and correction are the same parameter; "
                                   f"give one of them (numpy refuses both too)")
            ddof = correction
        if isinstance(ddof, Tracer):
            raise _unsupported(f"{qual}(..., ddof=<traced value>): ddof is a count, not "
                               f"differentiable; pass a number")
        ddof = int(ddof) if float(ddof).is_integer() else float(ddof)
        params = {"axis": axis_param(axis), "ddof": ddof, "keepdims": _flag(keepdims)}
        return _cast(_apply(fn.primitive, a, params), dtype, qual)  # type: ignore[attr-defined]

    return fn


def _spread_parts(x: Any, axis: Any, ddof: Any, nan: bool) -> tuple[Any, Any]:
    """``(x - mean, n - ddof)``: the deviations (0 at NaN entries for the NaN-ignoring
    versions) and the divisor, a number or, with NaN entries, one per line (keepdims)."""
    if nan:
        keep = _not_nan(x)
        if not np.all(keep):
            n = np.sum(keep, axis=norm_axes(axis, keep.ndim), keepdims=True)
            dev = ops.where(keep > 0, x - nanmean(x, axis=axis, keepdims=True), 0.0)
            return dev, n - ddof
    # (an integer divisor, not a float 1 / n: the symbolic trace keeps it exact)
    return x - mean(x, axis=axis, keepdims=True), count(x, axis) - ddof


def _symbolic_var(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False) -> Any:
    arr = np.asarray(x, dtype=object)
    n = count(arr, axis)
    dev = arr - np.sum(arr, axis=axis, keepdims=True) / sympy_module().Integer(n)
    return np.sum(dev * dev, axis=axis, keepdims=keepdims) / _sym_number(n - ddof)


def _var_rules(nan: bool) -> tuple[Any, Any]:
    # d var / dx = 2 (x - mean) / (n - ddof)
    def vjp(g: Any, ans: Any, x: Any, axis: Any = None, ddof: Any = 0,
            keepdims: bool = False) -> Any:
        dev, n = _spread_parts(x, axis, ddof, nan)
        return sum_vjp(g, ans, x, axis, keepdims) * dev * 2 / n

    def jvp(t: Any, ans: Any, x: Any, axis: Any = None, ddof: Any = 0,
            keepdims: bool = False) -> Any:
        dev, n = _spread_parts(x, axis, ddof, nan)
        if nan:
            t = _nan_dropped(t, x)
        return sum(t * dev * 2 / n, axis=axis, keepdims=keepdims)

    return (vjp,), (jvp,)


def _std_factor(ans: Any, n: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """``1 / ((n - ddof) std)`` broadcast against x, and 0 where std = 0: there all entries
    are equal and std has a kink (std(c + t v) = |t| std(v)); 0 is its smallest subgradient,
    as sign(0) = 0 is abs's. The symbolic form keeps the plain quotient."""
    full = restore_reduced(ans, x, axis, keepdims)
    v = _numbers(full)
    if _is_symbolic(v):
        return 1 / (full * n)
    flat = np.equal(v, 0)
    if not np.any(flat):
        return 1 / (full * n)
    return ops.where(flat, 0.0, 1 / (ops.where(flat, 1.0, full) * n))


def _std_rules(nan: bool) -> tuple[Any, Any]:
    # d std / dx = (x - mean) / ((n - ddof) std)
    def vjp(g: Any, ans: Any, x: Any, axis: Any = None, ddof: Any = 0,
            keepdims: bool = False) -> Any:
        dev, n = _spread_parts(x, axis, ddof, nan)
        return sum_vjp(g, ans, x, axis, keepdims) * dev * _std_factor(ans, n, x, axis, keepdims)

    def jvp(t: Any, ans: Any, x: Any, axis: Any = None, ddof: Any = 0,
            keepdims: bool = False) -> Any:
        dev, n = _spread_parts(x, axis, ddof, nan)
        if nan:
            t = _nan_dropped(t, x)
        return sum(t * dev * _std_factor(ans, n, x, axis, keepdims), axis=axis,
                   keepdims=keepdims)

    return (vjp,), (jvp,)


def _symbolic_std(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False) -> Any:
    return _map(sympy_module().sqrt, _symbolic_var(x, axis, ddof, keepdims))


_SPREAD_SAMPLES = (((V,), {"axis": None, "ddof": 0, "keepdims": False}),
                   ((M,), {"axis": 1, "ddof": 1, "keepdims": True}),
                   ((M,), {"axis": (0, 1), "ddof": 0, "keepdims": False}),
                   ((M,), {"axis": 0, "ddof": 1, "keepdims": False}))
_STD_KINK = ("entries along the axis not all equal (there std has a kink: reverse and forward "
             "mode give the subgradient 0, the symbolic closed form is undefined)")
_VAR_RULES, _NANVAR_RULES = _var_rules(nan=False), _var_rules(nan=True)
_STD_RULES, _NANSTD_RULES = _std_rules(nan=False), _std_rules(nan=True)

var = primitive(
    "var", np.var, function=_spread_function("var"), symbolic=_symbolic_var,
    analytic=False,  # numpy's var of complex numbers is the mean of |x - mean|**2
    methods=("var",), vjp=_VAR_RULES[0], jvp=_VAR_RULES[1],
    domain=Domain("more entries along the axis than ddof"), samples=_SPREAD_SAMPLES,
    derivative="2 (x - mean) / (n - ddof)",
)
std = primitive(
    "std", np.std, function=_spread_function("std"), symbolic=_symbolic_std,
    analytic=False, methods=("std",), vjp=_STD_RULES[0], jvp=_STD_RULES[1],
    domain=Domain("more entries along the axis than ddof"),
    derivative_domain=Domain(_STD_KINK), samples=_SPREAD_SAMPLES,
    derivative="(x - mean) / ((n - ddof) std)",
)
nanvar = primitive(
    "nanvar", np.nanvar, function=_spread_function("nanvar"), symbolic=_symbolic_var,
    analytic=False, vjp=_NANVAR_RULES[0], jvp=_NANVAR_RULES[1],
    domain=Domain("more numbers along the axis than ddof"), samples=_SPREAD_SAMPLES,
    derivative="2 (x - nanmean) / (n - ddof), n the numbers in the line; 0 at NaN entries",
)
nanstd = primitive(
    "nanstd", np.nanstd, function=_spread_function("nanstd"), symbolic=_symbolic_std,
    analytic=False, vjp=_NANSTD_RULES[0], jvp=_NANSTD_RULES[1],
    domain=Domain("more numbers along the axis than ddof"),
    derivative_domain=Domain(_STD_KINK), samples=_SPREAD_SAMPLES,
    derivative="(x - nanmean) / ((n - ddof) std), n the numbers in the line; 0 at NaN entries",
)

# ============================================================================ order statistics


def _extremum_weights(x: Any, axis: Any, largest: bool, nan: bool = False) -> Any:
    """The share of the derivative of max (``largest``) or min that each entry of x gets: 1
    at the extremal entry, split evenly between ties; NaN entries get 0 (``nan``: the
    NaN-ignoring nanmax/nanmin). A constant of the rules (piecewise constant in x)."""
    v = _numbers(x)
    if _is_symbolic(v):
        return _symbolic_extremum_weights(v, axis, largest)
    v = np.asarray(v)
    axes = norm_axes(axis, v.ndim)
    ufunc = (np.fmax if largest else np.fmin) if nan else (np.maximum if largest else np.minimum)
    hit = (v == ufunc.reduce(v, axis=axes, keepdims=True)) if axes else np.ones(v.shape, bool)
    n = np.sum(hit, axis=axes, keepdims=True)
    return np.divide(hit, n, out=np.zeros(v.shape), where=n > 0)


def _symbolic_extremum_weights(v: Any, axis: Any, largest: bool) -> Any:
    """The same shares in closed form: entry i of a line gets ``P_i / sum_k P_k`` with
    ``P_i = prod_j H(x_i - x_j)`` (``H`` = Heaviside, ``H(0) = 1/2``; ``1 - H(x_j - x_i)`` for
    j > i, so compiled code decides each pair once): 1 at the extremum, 1/m to each of m tied
    entries. No ``Eq(x_i, Max(...))``, which sympy rewrites out of float reach."""
    sp = sympy_module()
    v = np.asarray(v, dtype=object)
    if v.ndim == 0:
        return sp.Integer(1)
    flat, back = _rows(v, axis)
    out = np.empty(flat.shape, dtype=object)
    sign = 1 if largest else -1
    for idx in np.ndindex(flat.shape[:-1]):
        line = flat[idx]
        n = len(line)
        wins = {}
        for i in range(n):
            for j in range(i + 1, n):
                h = sp.Heaviside(sign * (line[i] - line[j]))
                wins[i, j], wins[j, i] = h, 1 - h
        p = [sp.Mul(*(wins[i, j] for j in range(n) if j != i)) for i in range(n)]
        total = sp.Add(*p)
        out[idx] = [pi / total for pi in p]
    return back(out)


def _extremum_rules(largest: bool, nan: bool = False) -> tuple[Any, Any]:
    def vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return sum_vjp(g, ans, x, axis, keepdims) * _extremum_weights(x, axis, largest, nan)

    def jvp(t: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        if nan:
            t = _nan_dropped(t, x)
        return sum(t * _extremum_weights(x, axis, largest, nan), axis=axis, keepdims=keepdims)

    return (vjp,), (jvp,)


_EXTREMUM_SAMPLES = _REDUCE_SAMPLES[:3]
_MAX_RULES, _MIN_RULES = _extremum_rules(True), _extremum_rules(False)

max = primitive(
    "max", np.max, function=_extremum_like(np.max, lambda r, i: ops.maximum(r, i)),
    symbolic=_symbolic_reduce("Max"), numpy=("max", "amax"), analytic=False,
    vjp=_MAX_RULES[0], jvp=_MAX_RULES[1], methods=("max",),
    samples=_EXTREMUM_SAMPLES, derivative="1 at the largest entry, split evenly between ties",
)
min = primitive(
    "min", np.min, function=_extremum_like(np.min, lambda r, i: ops.minimum(r, i)),
    symbolic=_symbolic_reduce("Min"), numpy=("min", "amin"), analytic=False,
    vjp=_MIN_RULES[0], jvp=_MIN_RULES[1], methods=("min",),
    samples=_EXTREMUM_SAMPLES, derivative="1 at the smallest entry, split evenly between ties",
)
_NANMAX_RULES, _NANMIN_RULES = _extremum_rules(True, nan=True), _extremum_rules(False, nan=True)


nanmax = primitive(
    "nanmax", np.nanmax, function=_extremum_like(np.nanmax, lambda r, i: ops.maximum(r, i),
                                                 fill=np.nan),
    symbolic=_symbolic_reduce("Max"), analytic=False,
    vjp=_NANMAX_RULES[0], jvp=_NANMAX_RULES[1],
    samples=_EXTREMUM_SAMPLES,
    derivative="1 at the largest number, split evenly between ties; 0 at NaN entries",
)
nanmin = primitive(
    "nanmin", np.nanmin, function=_extremum_like(np.nanmin, lambda r, i: ops.minimum(r, i),
                                                 fill=np.nan),
    symbolic=_symbolic_reduce("Min"), analytic=False,
    vjp=_NANMIN_RULES[0], jvp=_NANMIN_RULES[1],
    samples=_EXTREMUM_SAMPLES,
    derivative="1 at the smallest number, split evenly between ties; 0 at NaN entries",
)


def _ptp(a: Any, axis: Any = None, out: Any = None, keepdims: Any = _UNSET) -> Any:
    if not isinstance(a, Tracer) and not _holds_tracer(a):
        return np.ptp(a, axis=axis, out=out, **_given(keepdims=keepdims))
    a = _stacked(a)
    if out is not None:
        raise _no_out("numpy.ptp")
    return _apply(ptp.primitive, a, {"axis": axis_param(axis), "keepdims": _flag(keepdims)})


def _ptp_weights(x: Any, axis: Any) -> Any:
    return _extremum_weights(x, axis, True) - _extremum_weights(x, axis, False)


def _symbolic_ptp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _symbolic_reduce("Max")(x, axis, keepdims) - _symbolic_reduce("Min")(x, axis,
                                                                                keepdims)


ptp = primitive(
    "ptp", np.ptp, function=_ptp, symbolic=_symbolic_ptp, analytic=False,
    methods=("ptp",) if hasattr(np.ndarray, "ptp") else (),  # numpy 2 dropped the method
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         sum_vjp(g, ans, x, axis, keepdims) * _ptp_weights(x, axis),),
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum(t * _ptp_weights(x, axis), axis=axis, keepdims=keepdims),),
    samples=_EXTREMUM_SAMPLES,
    derivative="max's derivative minus min's",
)


def _median_function(name: str) -> Callable[..., Any]:
    """numpy's ``median``/``nanmedian`` call form: axis, out, overwrite_input, keepdims."""
    numeric = getattr(np, name)

    def fn(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
           keepdims: Any = _UNSET) -> Any:
        if not isinstance(a, Tracer) and not _holds_tracer(a):
            return numeric(a, axis=axis, out=out, overwrite_input=overwrite_input,
                           **_given(keepdims=keepdims))
        a = _stacked(a)
        if out is not None:
            raise _no_out(f"numpy.{name}")
        # overwrite_input only lets numpy sort in place; the values are the same
        params = {"axis": axis_param(axis), "keepdims": _flag(keepdims)}
        return _apply(fn.primitive, a, params)  # type: ignore[attr-defined]

    return fn


def _median_middle(n: int) -> tuple[tuple[int, float], ...]:
    """The sorted positions a median of ``n`` entries averages, with their shares."""
    return ((n // 2, 1.0),) if n % 2 else ((n // 2 - 1, 0.5), (n // 2, 0.5))


def _median_weights(x: Any, axis: Any) -> Any:
    """The share of the derivative each entry gets: 1 at the middle entry of each line (odd
    count) or 1/2 at each of the two middle entries (even count); a middle position held by
    m tied entries is shared evenly between them. NaN entries (sorted last, left out of the
    count: nanmedian) get 0. A constant of the rules (piecewise constant in x)."""
    v = _numbers(x)
    if _is_symbolic(v):
        return _symbolic_median_weights(v, axis)
    v = np.asarray(v)
    if v.ndim == 0:
        return np.ones(())
    lines, back = _rows(v, axis)
    ordered = np.sort(lines, axis=-1)
    n = np.sum(~np.isnan(lines), axis=-1, keepdims=True)  # the numbers of each line
    w = np.zeros(lines.shape)
    for k in ((n - 1) // 2, n // 2):  # the two middle positions (one, twice, for odd n)
        middle = np.take_along_axis(ordered, np.maximum(k, 0), axis=-1)
        hit = lines == middle
        m = np.sum(hit, axis=-1, keepdims=True)
        w += 0.5 * np.divide(hit, m, out=np.zeros(lines.shape), where=m > 0)
    return back(w)


def _symbolic_median_weights(v: Any, axis: Any) -> Any:
    """The same shares in closed form. Entry i holds the sorted positions ``lt_i .. le_i``
    (``lt_i`` entries below it, ``le_i`` others at most it, counted with ``Heaviside(x_i -
    x_j, 0 or 1)``, each pair decided once) and gets ``share / (le_i - lt_i + 1)`` of each
    middle position in that range. The range test is a Piecewise of integer-valued sums
    (exact in compiled float code), so its derivative is 0, not a Dirac delta."""
    sp = sympy_module()
    v = np.asarray(v, dtype=object)
    if v.ndim == 0:
        return sp.Integer(1)
    lines, back = _rows(v, axis)
    out = np.empty(lines.shape, dtype=object)
    for idx in np.ndindex(lines.shape[:-1]):
        line = lines[idx]
        n = len(line)
        above = [[sp.Integer(0)] * n for _ in range(n)]  # [x_i > x_j]
        at_least = [[sp.Integer(0)] * n for _ in range(n)]  # [x_i >= x_j]
        for i in range(n):
            for j in range(i + 1, n):
                d = line[i] - line[j]
                above[i][j], at_least[i][j] = sp.Heaviside(d, 0), sp.Heaviside(d, 1)
                above[j][i], at_least[j][i] = 1 - at_least[i][j], 1 - above[i][j]
        for i in range(n):
            lt, le = sp.Add(*above[i]), sp.Add(*at_least[i])
            out[idx][i] = sp.Add(*(
                sp.Piecewise((sp.Rational(share) / (le - lt + 1), sp.And(lt <= k, le >= k)),
                             (0, True))
                for k, share in _median_middle(n)))
    return back(out)


def _symbolic_median(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # the shares times the entries: the middle value (the average of the two middle values)
    x = np.asarray(x, dtype=object)
    return np.sum(_symbolic_median_weights(x, axis) * x, axis=axis, keepdims=keepdims)


def _dirac(x: float, *order: Any) -> float:
    """DiracDelta in compiled symbolic code (sympy's derivative of a Heaviside step): 0 away
    from the jump; at the jump (a tie of a max or median, abs at 0) there is no derivative."""
    if x == 0:
        raise ValueError("a Dirac delta at its singular point: the derivative is not defined")
    return 0.0


_MEDIAN_RULES = (
    (lambda g, ans, x, axis=None, keepdims=False:
     sum_vjp(g, ans, x, axis, keepdims) * _median_weights(x, axis),),
    (lambda t, ans, x, axis=None, keepdims=False:  # (nanmedian's too: NaN entries weigh 0)
     sum(_nan_dropped(t, x) * _median_weights(x, axis), axis=axis, keepdims=keepdims),),
)
_MEDIAN_SAMPLES = (((np.array([0.3, 1.4, -0.2, 0.9, 0.5]),), {"axis": None, "keepdims": False}),
                   ((M,), {"axis": 1, "keepdims": False}),
                   ((M,), {"axis": 0, "keepdims": True}),
                   ((M,), {"axis": None, "keepdims": False}))

median = primitive(
    "median", np.median, function=_median_function("median"), symbolic=_symbolic_median,
    analytic=False, printer={"DiracDelta": _dirac},
    vjp=_MEDIAN_RULES[0], jvp=_MEDIAN_RULES[1], samples=_MEDIAN_SAMPLES,
    derivative="1 at the middle entry (odd count), 1/2 at the two middle entries (even)",
)
nanmedian = primitive(
    "nanmedian", np.nanmedian, function=_median_function("nanmedian"),
    symbolic=_symbolic_median,  # (no entry of a symbolic value is NaN)
    analytic=False, vjp=_MEDIAN_RULES[0], jvp=_MEDIAN_RULES[1], samples=_MEDIAN_SAMPLES,
    derivative="median's, over the numbers of each line; 0 at NaN entries",
)

# ============================================================================ logsumexp


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

__all__ = ["average", "cumprod", "cumsum", "logsumexp", "max", "mean", "median", "min",
           "nancumprod", "nancumsum", "nanmax", "nanmean", "nanmedian", "nanmin", "nanprod", "nanstd",
           "nansum", "nanvar", "prod", "ptp", "softmax_of", "std", "sum", "sum_vjp", "trace",
           "var"]

