"""Shapes and indexing: reshape, transpose, broadcasting, getitem and its adjoint, joining."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import REGISTRY, Tracer, bind
from ._stanza import M, V, primitive, shape_of, sympy_module, unbroadcast

# ============================================================================ reshape, transpose


def _reshape_signature(x: Any, shape: Any = None, *more: Any, order: str = "C",
                       newshape: Any = None) -> Any:
    if shape is None:
        shape = newshape
    if more:  # x.reshape(2, 3)
        shape = (shape, *more)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if order != "C":
        from ..errors import UnsupportedPrimitiveError

        raise UnsupportedPrimitiveError(f"numpy.reshape(..., order={order!r}) on a traced value: "
                                        f"only order='C' is supported; transpose first")
    return (x,), {"shape": shape}


def _reshape_method(x: Any, *shape: Any, order: str = "C") -> Any:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return reshape(x, shape, order=order)


reshape = primitive(
    "reshape", lambda x, shape: np.reshape(x, shape), signature=_reshape_signature,
    symbolic=lambda x, shape: np.reshape(x, shape), linear=True,
    methods={"reshape": _reshape_method},
    vjp=(lambda g, ans, x, shape: reshape(g, shape_of(x)),),
    jvp=(lambda t, ans, x, shape: reshape(t, shape),),
    vjp_numpy=lambda g, ans, args, params, w: (np.reshape(g, np.shape(args[0])),),
    saves=(),
    samples=(((M,), {"shape": (3, 2)}), ((V,), {"shape": (3, 1)})),
)


def _transpose_signature(x: Any, axes: Any = None) -> Any:
    return (x,), {"axes": None if axes is None else tuple(int(a) for a in axes)}


def _transpose_method(x: Any, *axes: Any) -> Any:
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return transpose(x, tuple(axes) if axes else None)


def _transpose_vjp(g: Any, ans: Any, x: Any, axes: Any = None) -> Any:
    return transpose(g, None if axes is None else tuple(int(i) for i in np.argsort(axes)))


transpose = primitive(
    "transpose", lambda x, axes=None: np.transpose(x, axes), signature=_transpose_signature,
    symbolic=lambda x, axes=None: np.transpose(x, axes), linear=True,
    methods={"transpose": _transpose_method, "T": lambda x: transpose(x)},
    vjp=(_transpose_vjp,), jvp=(lambda t, ans, x, axes=None: transpose(t, axes),),
    saves=(),
    samples=(((M,), {"axes": None}), ((M.reshape(1, 2, 3),), {"axes": (2, 0, 1)})),
)


def _broadcast_signature(x: Any, shape: Any) -> Any:
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    return (x,), {"shape": shape}


def _symbolic_broadcast(x: Any, shape: Any) -> Any:
    return np.broadcast_to(np.asarray(x, dtype=object), shape).copy()


broadcast_to = primitive(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), signature=_broadcast_signature,
    symbolic=_symbolic_broadcast, linear=True,
    vjp=(lambda g, ans, x, shape: unbroadcast(g, x),),
    jvp=(lambda t, ans, x, shape: broadcast_to(t, shape),),
    saves=(),
    samples=(((V,), {"shape": (2, 3)}), ((0.7,), {"shape": (3,)})),
)

# ============================================================================ indexing


def is_basic_index(index: Any) -> bool:
    """True for ints, slices, Ellipsis and None: no element can be selected twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts
    )


def _scatter_numeric(g: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    out = np.zeros(shape, dtype=dtype if dtype is not None else np.result_type(g, float))
    if is_basic_index(index):
        out[index] = g  # a basic index selects each element once: plain assignment
    else:
        np.add.at(out, index, g)  # fancy indices may repeat: accumulate
    return out


def _scatter_symbolic(g: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    out = np.full(shape, sympy_module().Integer(0), dtype=object)
    if is_basic_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _scatter_signature(g: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    return (g,), {"index": index, "shape": tuple(shape), "dtype": dtype}


scatter = primitive(
    "scatter", _scatter_numeric, signature=_scatter_signature, symbolic=_scatter_symbolic,
    linear=True,
    vjp=(lambda g, ans, x, index, shape, dtype=None: getitem(g, index),),
    jvp=(lambda t, ans, x, index, shape, dtype=None: scatter(t, index, shape, dtype),),
    saves=(),
    samples=(((V[:2],), {"index": slice(1, None), "shape": (3,), "dtype": None}),
             ((V,), {"index": np.array([0, 2, 2]), "shape": (4,), "dtype": None})),
    derivative="the adjoint of getitem: zeros with g placed (added) at index",
)


def _index_param(index: Any) -> Any:
    """An index as a parameter: traced integer arrays are refused, lists become arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, Tracer) for p in parts):
        from ..errors import NotTraceableError

        raise NotTraceableError(
            "indexing with a traced value (x[y] where y depends on the input): an index is "
            "an integer and carries no derivative; compute the index from constants, or use "
            "np.where(condition, a, b) to select values")
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _getitem(x: Any, index: Any) -> Any:
    if isinstance(x, Tracer):
        if index.__class__ is not slice and index.__class__ is not int:
            index = _index_param(index)
        return x._trace.process(_GETITEM, (x,), {"index": index})
    return x[index]


def _getitem_vjp(g: Any, ans: Any, x: Any, index: Any) -> Any:
    # x.dtype, not np.iscomplexobj(x): numpy functions refuse tracers (forward-over-reverse)
    complex_x = np.dtype(getattr(x, "dtype", float)).kind == "c"
    return scatter(g, index, shape_of(x), x.dtype if complex_x else None)


def _getitem_np(g: Any, ans: Any, args: Any, params: Any, w: Any) -> Any:
    x = args[0]
    return (_scatter_numeric(g, params["index"], x.shape,
                             x.dtype if x.dtype.kind == "c" else None),)


def _getitem_into(acc: np.ndarray, g: Any, args: Any, params: Any) -> None:
    """Add the cotangent of ``x[index]`` into x's accumulator in place (no scatter + add)."""
    index = params["index"]
    if index.__class__ is slice or index.__class__ is int or is_basic_index(index):
        view = acc[index]
        if view.__class__ is np.ndarray:  # add into the view: no write-back __setitem__
            view += g
        else:  # an int index: a number, not a view
            acc[index] += g
    else:
        np.add.at(acc, index, g)


getitem = primitive(
    "getitem", lambda x, index: x[index], function=_getitem,
    symbolic=lambda x, index: x[index], linear=True, operators=("getitem",),
    vjp=(_getitem_vjp,), jvp=(lambda t, ans, x, index: getitem(t, index),),
    vjp_numpy=_getitem_np, vjp_into=_getitem_into, saves=(),
    samples=(((V,), {"index": 1}), ((V,), {"index": slice(1, None)}),
             ((M,), {"index": (slice(None), 0)}), ((V,), {"index": np.array([0, 2, 2])})),
    derivative="x[index]: the cotangent is scattered back to the selected entries",
)

# ============================================================================ joining


def _axis_index(axis: int, i: Any, ndim: int) -> tuple[Any, ...]:
    axis %= ndim
    return (slice(None),) * axis + (i,)


def _joined(name: str) -> Any:
    def signature(arrays: Any, axis: int = 0, **kwargs: Any) -> Any:
        if kwargs.get("out") is not None or kwargs.get("dtype") is not None:
            from ..errors import UnsupportedPrimitiveError

            raise UnsupportedPrimitiveError(f"numpy.{name}(..., out=/dtype=) on traced values "
                                            f"is not recorded; call it without them")
        return tuple(arrays), {"axis": int(axis)}

    return signature


def _stack_vjp(i: int, g: Any, ans: Any, *xs: Any, axis: int = 0) -> Any:
    return getitem(g, _axis_index(axis, i, len(shape_of(g))))


def _stack_jvp(i: int, t: Any, ans: Any, *xs: Any, axis: int = 0) -> Any:
    return scatter(broadcast_to(t, shape_of(xs[i])), _axis_index(axis, i, len(shape_of(ans))),
                   shape_of(ans))


def _symbolic_stack(*xs: Any, axis: int = 0) -> Any:
    return np.stack([np.asarray(x, dtype=object) for x in xs], axis=axis)


def _bind_joined(prim_name: str) -> Any:
    signature = _joined(prim_name)

    def fn(arrays: Any, axis: int = 0, **kwargs: Any) -> Any:
        arrays, params = signature(arrays, axis, **kwargs)
        if any(isinstance(a, Tracer) for a in arrays):
            return bind(REGISTRY[prim_name], arrays, params)
        return REGISTRY[prim_name].numeric(*arrays, **params)

    return fn


stack = primitive(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis), function=_bind_joined("stack"),
    symbolic=_symbolic_stack, variadic=True, linear=True,
    vjp=(_stack_vjp,), jvp=(_stack_jvp,), saves=(),
    samples=(((V, np.array([1.0, 2.0, 3.0])), {"axis": 0}),
             ((V, V * 2, V * 3), {"axis": 1}), ((0.3, 0.8), {"axis": 0})),
)


def _concat_slice(i: int, xs: Any, axis: int) -> tuple[Any, ...]:
    nd = len(shape_of(xs[0]))
    ax = axis % nd
    start = int(np.sum([shape_of(x)[ax] for x in xs[:i]], dtype=np.int64))
    return _axis_index(ax, slice(start, start + shape_of(xs[i])[ax]), nd)


def _symbolic_concatenate(*xs: Any, axis: int = 0) -> Any:
    return np.concatenate([np.asarray(x, dtype=object) for x in xs], axis=axis)


concatenate = primitive(
    "concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    function=_bind_joined("concatenate"), symbolic=_symbolic_concatenate, variadic=True,
    linear=True,
    vjp=(lambda i, g, ans, *xs, axis=0: getitem(g, _concat_slice(i, xs, axis)),),
    jvp=(lambda i, t, ans, *xs, axis=0: scatter(t, _concat_slice(i, xs, axis), shape_of(ans)),),
    saves=(),
    samples=(((V, np.array([1.0, 2.0])), {"axis": 0}), ((M, M[:1]), {"axis": 0})),
)

__all__ = ["broadcast_to", "concatenate", "getitem", "is_basic_index", "reshape", "scatter",
           "stack", "transpose"]

_GETITEM = REGISTRY["getitem"]
