"""Shapes and indexing: reshape, transpose, broadcasting, indexing and its adjoint, joining,
splitting, rearranging, ordering and casts.

Three kinds of stanza live here:

* true primitives with their own rules (``reshape``, ``transpose``, ``broadcast_to``,
  ``getitem`` and its adjoint ``scatter``, ``stack``, ``concatenate``, ``index_update``,
  ``astype``): each one is linear, so its JVP is the same operation on the tangent and its VJP
  is the adjoint map;
* composites (``composite=``): numpy functions that are exactly a few of those primitives
  (``flip`` is a reversed slice, ``swapaxes`` a transpose, ``tile`` a broadcast, ``take`` a
  gather). Each interpreter traces through the parts, so they need no rules of their own. The
  gathers read numpy itself for their index maps: ``np.take(positions, indices, axis, mode)``
  applied to the array of flat positions ``0..size-1`` says which entry of ``x`` lands where,
  so every parameter and every error is numpy's own;
* index-valued functions (``argsort``, ``argpartition``, ``argmax``, ``argmin``, ``nonzero``,
  ``flatnonzero``, ``argwhere``): they carry no derivative and return plain integer arrays
  under reverse and forward mode; ``sort`` and ``partition`` are the gathers they define (a
  permutation: the VJP sends each cotangent entry back to where its value came from).

Traced arrays cannot be assigned in place; ``dnp.index_update(x, index, values)`` is the
functional ``x[index] = values``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import REGISTRY, Tracer, bind, innermost
from ..errors import NotTraceableError, OutputShapeError, UnsupportedPrimitiveError
from ._stanza import (
    M,
    V,
    axis_param,
    batch_broadcast,
    batch_index,
    batch_lead,
    each_direction,
    ops,
    primitive,
    shape_of,
    symbolic_refusal,
    sympy_module,
    unbroadcast,
)

try:  # numpy >= 2.0
    from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
except ImportError:  # pragma: no cover - numpy 1.26
    from numpy.core.multiarray import normalize_axis_index  # type: ignore[no-redef]
    from numpy.core.numeric import normalize_axis_tuple  # type: ignore[no-redef]

T = np.array([[[0.3, 0.7, 1.1, 0.2], [0.5, 0.9, 1.3, 0.4], [0.6, 0.8, 1.2, 0.1]],
              [[0.35, 0.75, 1.15, 0.25], [0.55, 0.95, 1.35, 0.45],
               [0.65, 0.85, 1.25, 0.15]]])  # (2, 3, 4), distinct entries
V5 = np.array([0.3, -0.7, 1.2, 0.5, -1.6])


def _dummy(shape: tuple[int, ...]) -> np.ndarray:
    """A read-only zero-stride array of ``shape``: numpy's shape functions run on it to check
    a call and to compute a result's shape, without allocating anything."""
    return np.broadcast_to(np.empty((), dtype=np.bool_), shape)


def _positions(shape: tuple[int, ...]) -> np.ndarray:
    """The flat position of every entry of an array of ``shape`` (``0..size-1``)."""
    return np.arange(math.prod(shape), dtype=np.intp).reshape(shape)


def _gather(x: Any, idx: np.ndarray) -> Any:
    """``x.ravel()[idx]``: the entries of x at flat positions ``idx`` (a traced gather)."""
    return getitem(reshape(x, (-1,)), idx)


def _ndim(x: Any) -> int:
    return len(shape_of(x))


def _frozen(value: Any) -> Any:
    """A parameter as a hashable value (nested lists and arrays of numbers become tuples)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _static(value: Any, what: str, name: str) -> Any:
    """``value`` for a parameter that must not be traced (an index, a count, a pad value)."""
    if isinstance(value, Tracer) or (isinstance(value, (list, tuple))
                                     and any(isinstance(v, Tracer) for v in value)):
        raise UnsupportedPrimitiveError(
            f"numpy.{name}: the {what} is a traced value; it is a static parameter (an integer "
            f"or a constant) and carries no derivative: compute it from constants")
    return value


def _entry(out: Any) -> Any:
    """A symbolic rule's 0-d object array as the sympy value it holds (sympy arithmetic and
    the expression tools take scalars, not 0-d arrays)."""
    return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out


# ============================================================================ reshape, transpose


def _reshape_signature(x: Any, shape: Any = None, *more: Any, order: str = "C",
                       newshape: Any = None) -> Any:
    if shape is None:
        shape = newshape
    if more:  # x.reshape(2, 3)
        shape = (shape, *more)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if order != "C":
        raise UnsupportedPrimitiveError(f"numpy.reshape(..., order={order!r}) on a traced value: "
                                        f"only order='C' is supported; transpose first")
    return (x,), {"shape": shape}


def _reshape_method(x: Any, *shape: Any, order: str = "C") -> Any:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return reshape(x, shape, order=order)


reshape = primitive(
    "reshape", lambda x, shape: np.reshape(x, shape), signature=_reshape_signature,
    symbolic=lambda x, shape: _entry(np.reshape(x, shape)), linear=True,
    methods={"reshape": _reshape_method},
    vjp=(lambda g, ans, x, shape: reshape(g, shape_of(x)),),
    jvp=(lambda t, ans, x, shape:
         reshape(t, shape_of(t)[:batch_lead(t, x)] + tuple(shape)),),
    jvp_batched=True,
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


def _transpose_jvp(t: Any, ans: Any, x: Any, axes: Any = None) -> Any:
    lead = batch_lead(t, x)
    if lead == 0:
        return transpose(t, axes)
    nd = len(shape_of(x))
    own = range(nd - 1, -1, -1) if axes is None else (int(a) % nd for a in axes)
    return transpose(t, tuple(range(lead)) + tuple(lead + a for a in own))


transpose = primitive(
    "transpose", lambda x, axes=None: np.transpose(x, axes), signature=_transpose_signature,
    symbolic=lambda x, axes=None: _entry(np.transpose(x, axes)), linear=True,
    methods={"transpose": _transpose_method, "T": lambda x: transpose(x)},
    vjp=(_transpose_vjp,), jvp=(_transpose_jvp,), jvp_batched=True,
    saves=(),
    samples=(((M,), {"axes": None}), ((M.reshape(1, 2, 3),), {"axes": (2, 0, 1)})),
)


def _broadcast_signature(x: Any, shape: Any) -> Any:
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    return (x,), {"shape": shape}


def _symbolic_broadcast(x: Any, shape: Any) -> Any:
    return _entry(np.broadcast_to(np.asarray(x, dtype=object), shape).copy())


broadcast_to = primitive(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), signature=_broadcast_signature,
    symbolic=_symbolic_broadcast, linear=True,
    vjp=(lambda g, ans, x, shape: unbroadcast(g, x),),
    jvp=(lambda t, ans, x, shape: batch_broadcast(t, batch_lead(t, x), shape),),
    jvp_batched=True,
    saves=(),
    samples=(((V,), {"shape": (2, 3)}), ((0.7,), {"shape": (3,)})),
)

# ============================================================================ indexing


def is_basic_index(index: Any) -> bool:
    """True for ints, slices, Ellipsis and None: no element can be selected twice. A bool
    (``x[True]``) is an int to Python but a mask to numpy: advanced indexing, a copy."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        (isinstance(p, (int, np.integer, slice)) and not isinstance(p, bool))
        or p is None or p is Ellipsis for p in parts
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
    return _entry(out)


def _scatter_signature(g: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    return (g,), {"index": index, "shape": tuple(shape), "dtype": dtype}


def _scatter_batched(t: Any, x: Any, index: Any, shape: Any, dtype: Any = None) -> Any:
    """``scatter`` of a tangent of ``x``, batched or not (scatter is linear: its JVP is
    itself)."""
    lead = batch_lead(t, x)
    index_b = batch_index(index, lead)
    if index_b is None:
        return each_direction(t, lead, lambda tj: scatter(tj, index, shape, dtype))
    return scatter(t, index_b, shape_of(t)[:lead] + tuple(shape), dtype)


scatter = primitive(
    "scatter", _scatter_numeric, signature=_scatter_signature, symbolic=_scatter_symbolic,
    linear=True,
    vjp=(lambda g, ans, x, index, shape, dtype=None: getitem(g, index),),
    jvp=(lambda t, ans, x, index, shape, dtype=None: _scatter_batched(t, x, index, shape, dtype),),
    jvp_batched=True,
    saves=(),
    samples=(((V[:2],), {"index": slice(1, None), "shape": (3,), "dtype": None}),
             ((V,), {"index": np.array([0, 2, 2]), "shape": (4,), "dtype": None})),
    derivative="the adjoint of getitem: zeros with g placed (added) at index",
)


_innermost = innermost


_MASK_HELP = (
    "which entries a mask computed from a symbolic value selects depends on x, and "
    "method='symbolic' needs one formula for every x: write the selection as "
    "dnp.where(mask, value, 0) (np.sum(x[x > 0]**2) is np.sum(np.where(x > 0, x**2, 0))), or "
    "use method='reverse-mode' or 'forward-mode', which follow the entries selected at the point")


def _settled_index(part: Any) -> Any:
    """A traced index part as the plain integer or boolean array it stands for.

    An index carries no derivative, so only its value matters: AD traces hold plain integers
    or booleans; symbolic traces hold sympy values, which must have settled to numbers or to
    true/false (a relation between symbols cannot select entries)."""
    value = _innermost(part)
    arr = np.asarray(value)
    if arr.dtype.kind in "biu":
        return arr
    if arr.dtype == object:
        sp = sympy_module()
        flat = list(arr.ravel())
        if all(isinstance(e, sp.logic.boolalg.BooleanAtom) for e in flat):
            return np.array([bool(e) for e in flat], dtype=bool).reshape(arr.shape)
        if all(getattr(e, "is_Integer", False) for e in flat):
            return np.array([int(e) for e in flat], dtype=np.intp).reshape(arr.shape)
        raise NotTraceableError(f"indexing with a symbolic value (x[mask] or x[i] where the "
                                f"index depends on x): {_MASK_HELP}")
    raise NotTraceableError(
        f"indexing with a traced value of dtype {arr.dtype} (x[y] where y depends on the "
        f"input): an index is an integer or boolean array and carries no derivative; compute "
        f"the index from constants, or use np.where(condition, a, b) to select values")


def _index_param(index: Any) -> Any:
    """An index as a parameter: traced parts become the plain integers or booleans they hold
    (an index carries no derivative), lists become arrays."""
    if isinstance(index, tuple):
        if any(isinstance(p, Tracer) for p in index):
            index = tuple(_settled_index(p) if isinstance(p, Tracer) else p for p in index)
    elif isinstance(index, Tracer):
        index = _settled_index(index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _getitem(x: Any, index: Any) -> Any:
    if isinstance(x, Tracer):
        if index.__class__ is not slice and index.__class__ is not int:
            index = _index_param(index)
        return x._trace.process(_GETITEM, (x,), {"index": index})
    return x[index if index.__class__ is slice or index.__class__ is int
             else _index_param(index)]


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


def _getitem_jvp(t: Any, ans: Any, x: Any, index: Any) -> Any:
    lead = batch_lead(t, x)
    index_b = batch_index(index, lead)
    if index_b is None:
        return each_direction(t, lead, lambda tj: getitem(tj, index))
    return getitem(t, index_b)


getitem = primitive(
    "getitem", lambda x, index: x[index], function=_getitem,
    symbolic=lambda x, index: _entry(x[index]), linear=True, operators=("getitem",),
    vjp=(_getitem_vjp,), jvp=(_getitem_jvp,), jvp_batched=True,
    vjp_numpy=_getitem_np, vjp_into=_getitem_into, saves=(),
    samples=(((V,), {"index": 1}), ((V,), {"index": slice(1, None)}),
             ((M,), {"index": (slice(None), 0)}), ((V,), {"index": np.array([0, 2, 2])})),
    derivative="x[index]: the cotangent is scattered back to the selected entries",
)

# ============================================================================ joining


def _axis_index(axis: int, i: Any, ndim: int) -> tuple[Any, ...]:
    axis %= ndim
    return (slice(None),) * axis + (i,)


def _stack_vjp(i: int, g: Any, ans: Any, *xs: Any, axis: int = 0) -> Any:
    return getitem(g, _axis_index(axis, i, len(shape_of(g))))


def _stack_jvp(i: int, t: Any, ans: Any, *xs: Any, axis: int = 0) -> Any:
    lead = batch_lead(t, xs[i])
    t = batch_broadcast(t, lead, shape_of(xs[i]))
    index = (slice(None),) * lead + _axis_index(axis, i, len(shape_of(ans)))
    return scatter(t, index, shape_of(t)[:lead] + shape_of(ans))


def _symbolic_stack(*xs: Any, axis: int = 0) -> Any:
    return np.stack([np.asarray(x, dtype=object) for x in xs], axis=axis)


def _bind_joined(prim_name: str) -> Any:
    """numpy's ``stack``/``concatenate(arrays, axis=0, out=None, *, dtype=None, casting=...)``:
    ``axis=None`` (concatenate) joins the flattened arrays, ``dtype=`` casts the result."""

    def fn(arrays: Any, axis: Any = 0, out: Any = None, *, dtype: Any = None,
           casting: str = "same_kind") -> Any:
        prim = REGISTRY[prim_name]
        arrays = tuple(arrays)
        if not any(isinstance(a, Tracer) for a in arrays):
            if dtype is None and casting == "same_kind" and out is None:
                return prim.numeric(*arrays, axis=axis)
            return getattr(np, prim_name)(arrays, axis=axis, out=out, dtype=dtype,
                                          casting=casting)
        if out is not None:
            raise UnsupportedPrimitiveError(
                f"numpy.{prim_name}(..., out=...) on traced values: diffkit cannot follow "
                f"writes into an existing array; assign the result instead")
        if axis is None and prim_name == "concatenate":  # numpy joins the flattened arrays
            arrays, axis = tuple(reshape(a, (-1,)) for a in arrays), 0
        if not isinstance(axis, (int, np.integer)):
            raise UnsupportedPrimitiveError(
                f"numpy.{prim_name}(..., axis={axis!r}) on traced values: the axis must be an "
                f"integer")
        result = bind(prim, arrays, {"axis": int(axis)})
        return result if dtype is None else astype(result, dtype)

    return fn


stack = primitive(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis), function=_bind_joined("stack"),
    symbolic=_symbolic_stack, variadic=True, linear=True,
    vjp=(_stack_vjp,), jvp=(_stack_jvp,), jvp_batched=True, saves=(),
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
    jvp=(lambda i, t, ans, *xs, axis=0: _scatter_batched(t, xs[i], _concat_slice(i, xs, axis),
                                                          shape_of(ans)),),
    jvp_batched=True,
    saves=(),
    samples=(((V, np.array([1.0, 2.0])), {"axis": 0}), ((M, M[:1]), {"axis": 0})),
)

# ============================================================================ casts and copies


def _dtype_of(x: Any) -> np.dtype:
    dtype = getattr(x, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(x).dtype


def _astype_numeric(x: Any, dtype: Any) -> Any:
    arr = x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x)
    out = arr.astype(dtype)
    return out[()] if out.ndim == 0 and not isinstance(x, np.ndarray) else out


def _cast_back(g: Any, x: Any) -> Any:
    """The cotangent (or tangent) cast to the dtype of ``x``: a float32 input gets a float32
    gradient. Symbolic values (object dtype) have no precision to restore."""
    dtype = _dtype_of(x)
    return astype(g, dtype) if dtype.kind in "fc" and _dtype_of(g) != dtype else g


def _astype(x: Any, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True,
            copy: bool = True, *, device: Any = None) -> Any:
    """``x.astype(dtype)`` / ``numpy.astype(x, dtype)``.

    A cast to a floating or complex type is a primitive whose derivative casts back (the VJP of
    a float64 -> float32 cast is the float32 -> float64 cast of the cotangent, and the other
    way round). A cast to an integer or boolean type carries no derivative, like ``floor``:
    under reverse and forward mode it returns the plain integer array of the value (an index,
    a count); symbolic values cast to integers only when they are numbers.
    """
    if not isinstance(x, Tracer):
        arr = x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x)
        out = arr.astype(dtype, order=order, casting=casting, subok=subok, copy=copy)
        return out[()] if out.ndim == 0 and not isinstance(x, (np.ndarray, np.generic)) else out
    target = np.dtype(dtype)
    source = _dtype_of(x)
    if casting != "unsafe" and source != object and not np.can_cast(source, target, casting):
        raise UnsupportedPrimitiveError(
            f"ndarray.astype({target}, casting={casting!r}) of a traced {source} value: numpy "
            f"refuses this cast under casting={casting!r}; cast with casting='unsafe'")
    if target.kind not in "fc":
        value = _innermost(x)
        if np.asarray(value).dtype == object:
            try:
                value = np.asarray(value, dtype=float)
            except TypeError:
                raise NotTraceableError(
                    f"astype({target}) of a symbolic value: a cast to an integer or boolean "
                    f"type has no formula (it rounds or tests the value); use "
                    f"method='reverse-mode' or 'forward-mode', which cast the value at the "
                    f"point (the result carries no derivative)") from None
        out = np.asarray(np.real(value) if np.iscomplexobj(value) else value).astype(target)
        return out[()] if out.ndim == 0 else out
    return x._trace.process(REGISTRY["astype"], (x,), {"dtype": target})


astype = primitive(
    "astype", _astype_numeric, function=_astype, symbolic=lambda x, dtype: x, linear=True,
    methods=("astype",),
    # not for the complex step: numpy's cast of x + ih to a real type drops ih, the derivative
    # (and the complex step evaluates plain numpy once it has checked the program)
    analytic=False,
    vjp=(lambda g, ans, x, dtype: _cast_back(g, x),),
    jvp=(lambda t, ans, x, dtype: astype(t, dtype) if _dtype_of(t) != dtype else t,),
    jvp_batched=True,  # elementwise: a batch of tangents casts alike
    samples=(((0.7,), {"dtype": np.dtype(np.float64)}), ((V,), {"dtype": np.dtype(np.float64)}),
             ((M,), {"dtype": np.dtype(np.float64)})),
    derivative="the cast of the cotangent back to the input's dtype; integer casts: none",
)


def _copy_signature(a: Any, order: str = "K", subok: bool = False) -> Any:
    return (a,), {"order": order, "subok": subok}


copy = primitive(
    "copy", lambda a, order="K", subok=False: np.copy(a, order=order, subok=subok),
    signature=_copy_signature,
    # traced values are never written in place, so a copy is the value itself
    composite=lambda a, order="K", subok=False: a, linear=True,
    methods={"copy": lambda x, order="C": x},
    samples=(((V,), {"order": "K", "subok": False}),),
    derivative="the identity",
)

# ======================================================================== reshaping (composites)


def _squeeze(a: Any, axis: Any = None) -> Any:
    shape = np.squeeze(_dummy(shape_of(a)), axis=axis).shape
    return a if shape == shape_of(a) else reshape(a, shape)


squeeze = primitive(
    "squeeze", lambda a, axis=None: np.squeeze(a, axis=axis),
    signature=lambda a, axis=None: ((a,), {"axis": axis_param(axis)}),
    composite=_squeeze, linear=True, methods=("squeeze",),
    samples=(((M.reshape(2, 1, 3),), {"axis": None}), ((M.reshape(1, 2, 3),), {"axis": 0}),
             ((V.reshape(1, 3, 1),), {"axis": (0, 2)})),
    derivative="a reshape",
)


def _expand_dims(a: Any, axis: Any) -> Any:
    return reshape(a, np.expand_dims(_dummy(shape_of(a)), axis).shape)


expand_dims = primitive(
    "expand_dims", lambda a, axis: np.expand_dims(a, axis),
    signature=lambda a, axis: ((a,), {"axis": axis_param(axis)}),
    composite=_expand_dims, linear=True,
    samples=(((V,), {"axis": 0}), ((M,), {"axis": (0, -1)}), ((0.7,), {"axis": 0})),
    derivative="a reshape",
)


def _ravel(a: Any, order: str = "C") -> Any:
    if order == "F":
        a = transpose(a)  # Fortran order is C order of the reversed axes
    elif order != "C":
        raise UnsupportedPrimitiveError(
            f"numpy.ravel(x, order={order!r}) on a traced value: diffkit does not track the "
            f"memory layout of traced values; use order='C' or order='F'")
    return reshape(a, (-1,))


def _item(x: Any, *args: Any) -> Any:
    """``x.item()``: the single entry of x as a traced scalar (not a Python number, which
    would lose the derivative); ``x.item(i)`` / ``x.item(i, j)`` index it first."""
    if len(args) == 1 and isinstance(args[0], (int, np.integer)):
        return getitem(reshape(x, (-1,)), int(args[0]))  # a flat index
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    if args:
        return getitem(x, tuple(args))
    shape = shape_of(x)
    if math.prod(shape) != 1:
        raise OutputShapeError(
            f"ndarray.item() of a traced value of shape {shape}: only an array of one element "
            f"converts to a scalar (numpy raises ValueError too); index it (x.item(i), x[i])")
    return getitem(reshape(x, (-1,)), 0)


ravel = primitive(
    "ravel", lambda a, order="C": np.ravel(a, order=order),
    signature=lambda a, order="C": ((a,), {"order": order}),
    composite=_ravel, linear=True,
    methods={"ravel": None, "flatten": lambda x, order="C": ravel(x, order), "item": _item},
    samples=(((M,), {"order": "C"}), ((M,), {"order": "F"}), ((0.7,), {"order": "C"})),
    derivative="a reshape",
)


def _swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    nd = _ndim(a)
    i, j = normalize_axis_index(axis1, nd), normalize_axis_index(axis2, nd)
    perm = list(range(nd))
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, tuple(perm))


swapaxes = primitive(
    "swapaxes", lambda a, axis1, axis2: np.swapaxes(a, axis1, axis2),
    signature=lambda a, axis1, axis2: ((a,), {"axis1": int(axis1), "axis2": int(axis2)}),
    composite=_swapaxes, linear=True, methods=("swapaxes",),
    samples=(((T,), {"axis1": 0, "axis2": 2}), ((M,), {"axis1": -1, "axis2": 0})),
    derivative="a transpose",
)


def _moveaxis(a: Any, source: Any, destination: Any) -> Any:
    np.moveaxis(_dummy(shape_of(a)), source, destination)  # numpy checks the axes
    nd = _ndim(a)
    source = normalize_axis_tuple(source, nd, "source")
    destination = normalize_axis_tuple(destination, nd, "destination")
    order = [n for n in range(nd) if n not in source]
    for dest, src in sorted(zip(destination, source, strict=True)):
        order.insert(dest, src)
    return transpose(a, tuple(order))


moveaxis = primitive(
    "moveaxis", lambda a, source, destination: np.moveaxis(a, source, destination),
    signature=lambda a, source, destination: (
        (a,), {"source": _frozen(source), "destination": _frozen(destination)}),
    composite=_moveaxis, linear=True,
    samples=(((T,), {"source": 0, "destination": -1}),
             ((T,), {"source": (0, 1), "destination": (2, 0)})),
    derivative="a transpose",
)


def _rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    np.rollaxis(_dummy(shape_of(a)), axis, start)  # numpy checks the axes
    n = _ndim(a)
    axis = normalize_axis_index(axis, n)
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return transpose(a, tuple(axes))


rollaxis = primitive(
    "rollaxis", lambda a, axis, start=0: np.rollaxis(a, axis, start),
    signature=lambda a, axis, start=0: ((a,), {"axis": int(axis), "start": int(start)}),
    composite=_rollaxis, linear=True,
    samples=(((T,), {"axis": 2, "start": 0}), ((T,), {"axis": 0, "start": 3})),
    derivative="a transpose",
)


def _atleast(name: str) -> Any:
    numpy_fn = getattr(np, name)

    def composite(*arys: Any) -> Any:
        shapes = numpy_fn(*(_dummy(shape_of(a)) for a in arys))
        if len(arys) == 1:
            return reshape(arys[0], shapes.shape) if shapes.shape != shape_of(arys[0]) \
                else arys[0]
        out = [reshape(a, s.shape) if s.shape != shape_of(a) else a
               for a, s in zip(arys, shapes, strict=True)]
        return type(shapes)(out)  # a tuple (numpy >= 2) or a list (numpy 1.26)

    return composite


_ATLEAST_SAMPLES = (((0.7,), {}), ((V,), {}), ((M,), {}), ((T,), {}), ((0.7, V), {}))

atleast_1d = primitive(
    "atleast_1d", np.atleast_1d, signature=lambda *arys: (arys, {}),
    composite=_atleast("atleast_1d"), linear=True, samples=_ATLEAST_SAMPLES,
    derivative="a reshape",
)
atleast_2d = primitive(
    "atleast_2d", np.atleast_2d, signature=lambda *arys: (arys, {}),
    composite=_atleast("atleast_2d"), linear=True, samples=_ATLEAST_SAMPLES,
    derivative="a reshape",
)
atleast_3d = primitive(
    "atleast_3d", np.atleast_3d, signature=lambda *arys: (arys, {}),
    composite=_atleast("atleast_3d"), linear=True, samples=_ATLEAST_SAMPLES,
    derivative="a reshape",
)


def _broadcast_arrays(*args: Any, subok: bool = False) -> Any:
    shape = np.broadcast_shapes(*(shape_of(a) for a in args))
    return tuple(a if shape_of(a) == shape else broadcast_to(a, shape) for a in args)


broadcast_arrays = primitive(
    "broadcast_arrays", lambda *args, subok=False: np.broadcast_arrays(*args, subok=subok),
    signature=lambda *args, subok=False: (args, {"subok": subok}),
    composite=_broadcast_arrays, linear=True,
    samples=(((V, M), {"subok": False}), ((0.7, V.reshape(3, 1), V), {"subok": False})),
    derivative="broadcast_to of each array",
)

# ============================================================================ indexing (more)


def _winners(index: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """For ``x[index] = values`` with repeated fancy indices, where numpy keeps the last value
    written: a mask over ``x[index]``'s entries of the ones that survive (None: all do)."""
    if is_basic_index(index):
        return None
    picked = np.asarray(_positions(shape)[index])
    flat = picked.ravel()
    _, last_from_end = np.unique(flat[::-1], return_index=True)
    if last_from_end.size == flat.size:
        return None
    keep = np.zeros(flat.size, dtype=bool)
    keep[flat.size - 1 - last_from_end] = True
    return keep.reshape(picked.shape)


def _index_update_numeric(x: Any, values: Any, index: Any) -> Any:
    x = np.asarray(x)
    out = x.astype(np.result_type(x, np.asarray(values).dtype), copy=True)
    out[index] = values
    return out


def _index_update_values_vjp(g: Any, ans: Any, x: Any, values: Any, index: Any) -> Any:
    picked = getitem(g, index)
    keep = _winners(index, shape_of(x))
    if keep is not None:  # a value overwritten by a later one has no effect
        picked = ops.where(keep, picked, 0.0)
    return unbroadcast(picked, values)


_MISSING = object()


def _index_update(x: Any, *args: Any, index: Any = _MISSING, values: Any = _MISSING) -> Any:
    """``x`` with ``x[index]`` replaced by ``values``: the functional form of ``x[index] =
    values``, which traced arrays cannot do in place.

    Called ``index_update(x, index, values)`` (positional arguments fill ``index``, then
    ``values``, skipping one given by keyword). ``index`` is any numpy index: ints, slices,
    ``Ellipsis``, ``None``, boolean masks, integer arrays and tuples of them; ``values``
    broadcasts to ``x[index]``. Where a fancy index repeats an entry, the last value written
    wins, as in numpy. The result has the dtype of ``x`` and ``values`` combined.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> dnp.index_update(np.zeros(4), slice(1, 3), 5.0)
    array([0., 5., 5., 0.])
    """
    rest = list(args)
    if index is _MISSING:
        index = rest.pop(0) if rest else _MISSING
    if values is _MISSING:
        values = rest.pop(0) if rest else _MISSING
    if index is _MISSING or values is _MISSING or rest:
        raise UnsupportedPrimitiveError(
            "dnp.index_update takes (x, index, values): the array, a numpy index and the new "
            "values for x[index]")
    index = _index_param(index)
    if isinstance(x, Tracer) or isinstance(values, Tracer):
        return bind(REGISTRY["index_update"], (x, values), {"index": index})
    return _index_update_numeric(x, values, index)


def _index_update_jvp_x(t: Any, ans: Any, x: Any, values: Any, index: Any) -> Any:
    lead = batch_lead(t, x)
    index_b = batch_index(index, lead)
    if index_b is None:
        return each_direction(t, lead, lambda tj: index_update(tj, index, 0.0))
    return index_update(t, index_b, 0.0)


def _index_update_jvp_values(t: Any, ans: Any, x: Any, values: Any, index: Any) -> Any:
    lead = batch_lead(t, values)
    index_b = batch_index(index, lead)
    dtype = np.result_type(_dtype_of(ans), float)
    if index_b is None or lead == 0:
        return each_direction(t, lead, lambda tj: index_update(
            np.zeros(shape_of(ans), dtype=dtype), index, tj))
    # the values broadcast to ans[index]: align their own axes right, after the batch axes
    selected = np.broadcast_to(np.zeros((), dtype=np.int8), shape_of(ans))[index].shape
    t = batch_broadcast(t, lead, selected)
    return index_update(np.zeros(shape_of(t)[:lead] + shape_of(ans), dtype=dtype), index_b, t)


index_update = primitive(
    "index_update", _index_update_numeric, function=_index_update,
    symbolic=lambda x, values, index: _entry(_index_update_numeric(x, values, index)),
    linear=True, nargs=2,
    vjp=(lambda g, ans, x, values, index: index_update(g, index, 0.0),
         _index_update_values_vjp),
    jvp=(_index_update_jvp_x, _index_update_jvp_values), jvp_batched=True,
    saves=(),
    samples=(((V, 5.0), {"index": 1}), ((V, np.array([2.0, 3.0])), {"index": slice(0, 2)}),
             ((M, V), {"index": 0}), ((M, np.array([1.5, 2.5])), {"index": (slice(None), 1)}),
             ((V, np.array([1.5, 2.5])), {"index": np.array([0, 0])}),
             ((M, 0.5), {"index": M > 0.6})),
    derivative="x's cotangent with zeros at index; values get g[index] (the last write wins)",
)


def _take_signature(a: Any, indices: Any, axis: Any = None, out: Any = None,
                    mode: str = "raise") -> Any:
    indices = _static(indices, "indices", "take")
    return (a,), {"indices": np.asarray(indices) if isinstance(indices, list) else indices,
                  "axis": axis_param(axis), "out": out, "mode": mode}


def _take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
    if out is not None:
        raise UnsupportedPrimitiveError(
            "numpy.take(..., out=...) on a traced value: diffkit cannot follow writes into an "
            "existing array; assign the result instead")
    return _gather(a, np.take(_positions(shape_of(a)), indices, axis=axis, mode=mode))


take = primitive(
    "take", lambda a, indices, axis=None, out=None, mode="raise": np.take(
        a, indices, axis=axis, out=out, mode=mode),
    signature=_take_signature, composite=_take, linear=True, methods=("take",),
    samples=(((V,), {"indices": np.array([2, 0, 2]), "axis": None, "out": None,
                     "mode": "raise"}),
             ((M,), {"indices": np.array([1, 0]), "axis": 1, "out": None, "mode": "raise"}),
             ((M,), {"indices": np.array([4, -1]), "axis": 1, "out": None, "mode": "wrap"}),
             ((M,), {"indices": 1, "axis": 0, "out": None, "mode": "clip"})),
    derivative="a gather (getitem)",
)


def _take_along_axis_signature(arr: Any, indices: Any, axis: Any = -1) -> Any:
    return (arr,), {"indices": np.asarray(_static(indices, "indices", "take_along_axis")),
                    "axis": axis_param(axis)}


take_along_axis = primitive(
    "take_along_axis",
    lambda arr, indices, axis=-1: np.take_along_axis(arr, indices, axis=axis),
    signature=_take_along_axis_signature,
    composite=lambda arr, indices, axis=-1: _gather(
        arr, np.take_along_axis(_positions(shape_of(arr)), indices, axis=axis)),
    linear=True,
    samples=(((M,), {"indices": np.array([[2, 0], [1, 1]]), "axis": 1}),
             ((M,), {"indices": np.array([[1, 0, 1]]), "axis": 0}),
             ((V,), {"indices": np.array([2, 1]), "axis": None})),
    derivative="a gather (getitem)",
)


def _diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    idx = np.diagonal(_positions(shape_of(a)), offset, axis1, axis2)
    return _gather(a, np.array(idx))


diagonal = primitive(
    "diagonal", lambda a, offset=0, axis1=0, axis2=1: np.diagonal(a, offset, axis1, axis2),
    signature=lambda a, offset=0, axis1=0, axis2=1: (
        (a,), {"offset": int(offset), "axis1": int(axis1), "axis2": int(axis2)}),
    composite=_diagonal, linear=True, methods=("diagonal",),
    samples=(((M,), {"offset": 0, "axis1": 0, "axis2": 1}),
             ((M,), {"offset": 1, "axis1": 0, "axis2": 1}),
             ((T,), {"offset": -1, "axis1": 2, "axis2": 1})),
    derivative="a gather (getitem)",
)


def _diag(v: Any, k: int = 0) -> Any:
    if _ndim(v) == 2:
        return diagonal(v, k)
    if _ndim(v) != 1:
        raise ValueError("Input must be 1- or 2-d.")  # numpy's words
    n = shape_of(v)[0]
    m = n + abs(k)
    rows = np.arange(n) + max(-k, 0)
    cols = np.arange(n) + max(k, 0)
    return scatter(v, (rows, cols), (m, m), _dtype_of(v) if _dtype_of(v).kind == "c" else None)


diag = primitive(
    "diag", lambda v, k=0: np.diag(v, k), signature=lambda v, k=0: ((v,), {"k": int(k)}),
    composite=_diag, linear=True,
    samples=(((V,), {"k": 0}), ((V,), {"k": -1}), ((M,), {"k": 1}), ((M,), {"k": 0})),
    derivative="vector -> matrix: a scatter; matrix -> vector: a gather",
)

diagflat = primitive(
    "diagflat", lambda v, k=0: np.diagflat(v, k),
    signature=lambda v, k=0: ((v,), {"k": int(k)}),
    composite=lambda v, k=0: _diag(reshape(v, (-1,)), k), linear=True,
    samples=(((M,), {"k": 0}), ((V,), {"k": 2})),
    derivative="a scatter",
)


def _triangle(name: str) -> Any:
    def composite(m: Any, k: int = 0) -> Any:
        shape = shape_of(m)
        if name == "tril":
            mask = np.tri(*shape[-2:], k=k, dtype=bool)
        else:
            mask = ~np.tri(*shape[-2:], k=k - 1, dtype=bool)
        return ops.where(mask, m, np.zeros(1, dtype=_dtype_of(m)))

    return composite


tril = primitive(
    "tril", lambda m, k=0: np.tril(m, k), signature=lambda m, k=0: ((m,), {"k": int(k)}),
    composite=_triangle("tril"), linear=True,
    samples=(((M,), {"k": 0}), ((M,), {"k": -1}), ((T,), {"k": 1}), ((V,), {"k": 0})),
    derivative="where(mask, x, 0)",
)
triu = primitive(
    "triu", lambda m, k=0: np.triu(m, k), signature=lambda m, k=0: ((m,), {"k": int(k)}),
    composite=_triangle("triu"), linear=True,
    samples=(((M,), {"k": 0}), ((M,), {"k": 1}), ((T,), {"k": -1}), ((V,), {"k": 0})),
    derivative="where(mask, x, 0)",
)

# ========================================================================== joining (composites)


def _stacker(name: str, axis_of: Any, lift: Any, has_dtype: bool = True) -> Any:
    """vstack / hstack / dstack / column_stack: ``lift`` each array, then concatenate."""
    numpy_fn = getattr(np, name)

    if has_dtype:
        def numeric(*arrays: Any, dtype: Any = None, casting: str = "same_kind") -> Any:
            return numpy_fn(arrays, dtype=dtype, casting=casting)

        def signature(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
            return tuple(tup), {"dtype": dtype, "casting": casting}
    else:
        def numeric(*arrays: Any) -> Any:  # type: ignore[misc]
            return numpy_fn(arrays)

        def signature(tup: Any) -> Any:  # type: ignore[misc]
            return tuple(tup), {}

    def composite(*arrays: Any, dtype: Any = None, casting: str = "same_kind") -> Any:
        lifted = [lift(a) for a in arrays]
        return concatenate(lifted, axis=axis_of(lifted), dtype=dtype)

    return numeric, signature, composite


def _column(a: Any) -> Any:
    """column_stack's lift: a 1-D (or 0-d) array becomes one column."""
    nd = _ndim(a)
    if nd >= 2:
        return a
    return reshape(a, (math.prod(shape_of(a)), 1))


_JOIN_SAMPLES = (((V, np.array([1.0, 2.0, 3.0])), {"dtype": None, "casting": "same_kind"}),
                 ((M, M[:1] * 2.0), {"dtype": None, "casting": "same_kind"}),
                 ((0.3, 0.8), {"dtype": None, "casting": "same_kind"}))


def _joining(name: str, axis_of: Any, lift: Any, samples: Any, has_dtype: bool = True) -> Any:
    numeric, signature, composite = _stacker(name, axis_of, lift, has_dtype)
    return primitive(name, numeric, signature=signature, composite=composite, linear=True,
                     variadic=True, samples=samples, derivative="a concatenate")


vstack = _joining("vstack", lambda arrays: 0, lambda a: atleast_2d(a), _JOIN_SAMPLES)
hstack = _joining("hstack", lambda arrays: 0 if _ndim(arrays[0]) == 1 else 1,
                  lambda a: atleast_1d(a),
                  (*_JOIN_SAMPLES[::2], ((M, M[:, :1] * 2.0), {"dtype": None,
                                                                 "casting": "same_kind"})))
dstack = _joining("dstack", lambda arrays: 2, lambda a: atleast_3d(a),
                  (((V, np.array([1.0, 2.0, 3.0])), {}), ((M, M * 2.0), {}), ((0.3, 0.8), {})),
                  has_dtype=False)
column_stack = _joining("column_stack", lambda arrays: 1, _column,
                        (((V, np.array([1.0, 2.0, 3.0])), {}), ((M.T, V), {}),
                         ((0.3, 0.8), {})), has_dtype=False)


def _append(arr: Any, values: Any, axis: Any = None) -> Any:
    if axis is None:
        if _ndim(arr) != 1:
            arr = reshape(arr, (-1,))
        values = reshape(values, (-1,))
        axis = _ndim(arr) - 1
    return concatenate((arr, values), axis=axis)


append = primitive(
    "append", lambda arr, values, axis=None: np.append(arr, values, axis=axis),
    signature=lambda arr, values, axis=None: ((arr, values), {"axis": axis_param(axis)}),
    composite=_append, linear=True,
    samples=(((V, 0.5), {"axis": None}), ((M, V), {"axis": None}),
             ((M, M[:1] * 2.0), {"axis": 0})),
    derivative="a concatenate",
)

def _delete(arr: Any, obj: Any, axis: Any = None) -> Any:
    return _gather(arr, np.delete(_positions(shape_of(arr)), obj, axis=axis))


delete = primitive(
    "delete", lambda arr, obj, axis=None: np.delete(arr, obj, axis=axis),
    signature=lambda arr, obj, axis=None: (
        (arr,), {"obj": _frozen(_static(obj, "obj", "delete")), "axis": axis_param(axis)}),
    composite=_delete, linear=True,
    samples=(((V5,), {"obj": 1, "axis": None}), ((M,), {"obj": (0, 2), "axis": 1}),
             ((M,), {"obj": slice(0, 1), "axis": 0})),
    derivative="a gather (getitem)",
)


def _insert(arr: Any, obj: Any, values: Any, axis: Any = None) -> Any:
    # numpy itself says where each entry comes from: x's flat positions (-1 in the new
    # slots), and the flat positions of the values in the new slots (-1 elsewhere)
    shape, vshape = shape_of(arr), shape_of(values)
    from_x = np.insert(_positions(shape), obj, -1, axis=axis)
    from_v = np.insert(np.full(shape, -1, dtype=np.intp), obj, _positions(vshape), axis=axis)
    kept = from_x >= 0
    if not kept.any():
        return _gather(values, from_v)
    if kept.all():
        return _gather(arr, from_x)
    return ops.where(kept, _gather(arr, np.maximum(from_x, 0)),
                     _gather(values, np.maximum(from_v, 0)))


insert = primitive(
    "insert", lambda arr, values, obj, axis=None: np.insert(arr, obj, values, axis=axis),
    signature=lambda arr, obj, values, axis=None: (
        (arr, values), {"obj": _frozen(_static(obj, "obj", "insert")), "axis": axis_param(axis)}),
    composite=lambda arr, values, obj, axis=None: _insert(arr, obj, values, axis),
    linear=True,
    samples=(((V5, 0.5), {"obj": 2, "axis": None}),
             ((M, np.array([1.5, 2.5])), {"obj": 1, "axis": 1}),
             ((M, np.array([1.5, 2.5])), {"obj": (1, 3), "axis": 1})),
    derivative="a gather from x and from the values",
)


def _resize(a: Any, new_shape: Any) -> Any:
    where = np.resize(_positions(shape_of(a)), new_shape)
    if not math.prod(shape_of(a)):  # numpy fills with zeros
        return np.zeros(where.shape, dtype=_dtype_of(a))
    return _gather(a, where)


resize = primitive(
    "resize", lambda a, new_shape: np.resize(a, new_shape),
    signature=lambda a, new_shape: ((a,), {"new_shape": _frozen(new_shape)}),
    composite=_resize, linear=True,
    samples=(((V,), {"new_shape": (2, 4)}), ((M,), {"new_shape": 4})),
    derivative="a gather (getitem)",
)

# ======================================================================== splitting (composites)


def _split_points(n: int, sections: Any) -> list[int]:
    """numpy.array_split's division points along an axis of length ``n``."""
    if isinstance(sections, tuple):
        return [0, *sections, n]
    count = int(sections)
    each, extras = divmod(n, count)
    sizes = [0] + extras * [each + 1] + (count - extras) * [each]
    return [int(p) for p in np.cumsum(sizes)]


def _splitter(name: str) -> Any:
    numpy_fn = getattr(np, name)
    fixed_axis = name in ("hsplit", "vsplit", "dsplit")

    def sections_param(indices_or_sections: Any) -> Any:
        sections = _static(indices_or_sections, "indices_or_sections", name)
        try:
            return tuple(int(i) for i in sections)
        except TypeError:  # a number of sections
            return sections

    if fixed_axis:
        def signature(ary: Any, indices_or_sections: Any) -> Any:
            return (ary,), {"indices_or_sections": sections_param(indices_or_sections)}
    else:
        def signature(  # type: ignore[misc]
                ary: Any, indices_or_sections: Any, axis: int = 0) -> Any:
            return (ary,), {"indices_or_sections": sections_param(indices_or_sections),
                            "axis": int(axis)}

    def numeric(ary: Any, indices_or_sections: Any, axis: int | None = None) -> Any:
        if fixed_axis:
            return numpy_fn(ary, indices_or_sections)
        return numpy_fn(ary, indices_or_sections, axis=axis)

    def composite(ary: Any, indices_or_sections: Any, axis: int | None = None) -> Any:
        shape = shape_of(ary)
        if fixed_axis:  # numpy checks the number of dimensions, and the division
            numpy_fn(_dummy(shape), indices_or_sections)
            axis = {"hsplit": 1 if len(shape) > 1 else 0, "vsplit": 0, "dsplit": 2}[name]
        else:  # numpy checks the axis and, for split, an equal division
            numpy_fn(_dummy(shape), indices_or_sections, axis=axis)
            axis = normalize_axis_index(axis, len(shape))
        points = _split_points(shape[axis], indices_or_sections)
        return [getitem(ary, _axis_index(axis, slice(points[i], points[i + 1]), len(shape)))
                for i in range(len(points) - 1)]

    return signature, numeric, composite


def _splitting(name: str, samples: Any) -> Any:
    signature, numeric, composite = _splitter(name)
    return primitive(name, numeric, signature=signature, composite=composite, linear=True,
                     samples=samples, derivative="slices (getitem)")


split = _splitting("split", (((V,), {"indices_or_sections": 3, "axis": 0}),
                             ((T,), {"indices_or_sections": (1, 3), "axis": -1})))
array_split = _splitting("array_split", (((V5,), {"indices_or_sections": 2, "axis": 0}),
                                         ((T,), {"indices_or_sections": (2,), "axis": 1})))
hsplit = _splitting("hsplit", (((M,), {"indices_or_sections": 3}),
                               ((V,), {"indices_or_sections": (1,)})))
vsplit = _splitting("vsplit", (((M,), {"indices_or_sections": 2}),))
dsplit = _splitting("dsplit", (((T,), {"indices_or_sections": (1, 2)}),))

# ====================================================================== rearranging (composites)


def _flip(m: Any, axis: Any = None) -> Any:
    nd = _ndim(m)
    axes = range(nd) if axis is None else normalize_axis_tuple(axis, nd)
    return getitem(m, tuple(slice(None, None, -1) if k in axes else slice(None)
                            for k in range(nd)))


flip = primitive(
    "flip", lambda m, axis=None: np.flip(m, axis=axis),
    signature=lambda m, axis=None: ((m,), {"axis": axis_param(axis)}),
    composite=_flip, linear=True,
    samples=(((V,), {"axis": None}), ((T,), {"axis": (0, 2)}), ((M,), {"axis": -1})),
    derivative="a reversed slice (getitem)",
)


def _fliplr(m: Any) -> Any:
    np.fliplr(_dummy(shape_of(m)))  # numpy's error below two dimensions
    return _flip(m, 1)


def _flipud(m: Any) -> Any:
    np.flipud(_dummy(shape_of(m)))
    return _flip(m, 0)


fliplr = primitive(
    "fliplr", np.fliplr, signature=lambda m: ((m,), {}), composite=_fliplr, linear=True,
    samples=(((M,), {}), ((T,), {})), derivative="a reversed slice (getitem)",
)
flipud = primitive(
    "flipud", np.flipud, signature=lambda m: ((m,), {}), composite=_flipud, linear=True,
    samples=(((V,), {}), ((M,), {})), derivative="a reversed slice (getitem)",
)


def _rot90(m: Any, k: int = 1, axes: Any = (0, 1)) -> Any:
    np.rot90(_dummy(shape_of(m)), k, axes)  # numpy checks the axes
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return _flip(_flip(m, axes[0]), axes[1])
    perm = list(range(_ndim(m)))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return transpose(_flip(m, axes[1]), tuple(perm))
    return _flip(transpose(m, tuple(perm)), axes[1])


rot90 = primitive(
    "rot90", lambda m, k=1, axes=(0, 1): np.rot90(m, k, axes),
    signature=lambda m, k=1, axes=(0, 1): ((m,), {"k": int(k), "axes": _frozen(axes)}),
    composite=_rot90, linear=True,
    samples=(((M,), {"k": 1, "axes": (0, 1)}), ((M,), {"k": 2, "axes": (0, 1)}),
             ((T,), {"k": -1, "axes": (2, 0)})),
    derivative="flips and a transpose",
)


def _roll(a: Any, shift: Any, axis: Any = None) -> Any:
    shape = shape_of(a)
    if axis is None:
        return reshape(_roll(reshape(a, (-1,)), shift, 0), shape)
    axes = normalize_axis_tuple(axis, len(shape), allow_duplicate=True)
    pairs = np.broadcast(shift, axes)
    if pairs.ndim > 1:
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")  # numpy's
    shifts = dict.fromkeys(range(len(shape)), 0)
    for s, ax in pairs:
        shifts[ax] += int(s)
    for ax, s in shifts.items():
        n = shape[ax]
        if n == 0 or s % n == 0:
            continue
        cut = n - s % n  # the last s entries move to the front
        a = concatenate([getitem(a, _axis_index(ax, slice(cut, None), len(shape))),
                         getitem(a, _axis_index(ax, slice(0, cut), len(shape)))], axis=ax)
    return a


roll = primitive(
    "roll", lambda a, shift, axis=None: np.roll(a, shift, axis=axis),
    signature=lambda a, shift, axis=None: (
        (a,), {"shift": _frozen(_static(shift, "shift", "roll")), "axis": axis_param(axis)}),
    composite=_roll, linear=True,
    samples=(((V5,), {"shift": 2, "axis": None}), ((M,), {"shift": -1, "axis": 1}),
             ((T,), {"shift": (1, 2), "axis": (0, 2)}), ((M,), {"shift": 4, "axis": None})),
    derivative="two slices joined (concatenate)",
)


def _repeat_signature(a: Any, repeats: Any, axis: Any = None) -> Any:
    repeats = _static(repeats, "repeats", "repeat")
    return (a,), {"repeats": _frozen(repeats), "axis": axis_param(axis)}


def _repeat(a: Any, repeats: Any, axis: Any = None) -> Any:
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    shape = shape_of(a)
    axis = normalize_axis_index(axis, len(shape))
    n = shape[axis]
    counts = np.asarray(repeats)
    if counts.size == 1:  # every entry r times: a broadcast along a new axis
        np.repeat(np.zeros(1), counts)  # numpy checks the count
        r = int(counts.reshape(()))
        column = reshape(a, (*shape[:axis + 1], 1, *shape[axis + 1:]))
        spread = broadcast_to(column, (*shape[:axis + 1], r, *shape[axis + 1:]))
        return reshape(spread, (*shape[:axis], n * r, *shape[axis + 1:]))
    return getitem(a, _axis_index(axis, np.repeat(np.arange(n), counts), len(shape)))


repeat = primitive(
    "repeat", lambda a, repeats, axis=None: np.repeat(a, repeats, axis=axis),
    signature=_repeat_signature, composite=_repeat, linear=True, methods=("repeat",),
    samples=(((V,), {"repeats": 2, "axis": None}), ((M,), {"repeats": 3, "axis": 0}),
             ((M,), {"repeats": (1, 0, 2), "axis": 1}), ((0.7,), {"repeats": 2, "axis": None})),
    derivative="a broadcast (a gather for per-entry counts)",
)


def _tile(A: Any, reps: Any) -> Any:
    reps = tuple(reps) if isinstance(reps, tuple) else (reps,)
    shape = shape_of(A)
    if len(shape) < len(reps):
        shape = (1,) * (len(reps) - len(shape)) + shape
    reps = (1,) * (len(shape) - len(reps)) + reps
    # tile = broadcast along a new axis in front of each axis, then merge the pairs
    paired = reshape(A, tuple(x for n in shape for x in (1, n)))
    spread = broadcast_to(paired, tuple(x for r, n in zip(reps, shape, strict=True)
                                        for x in (r, n)))
    return reshape(spread, tuple(r * n for r, n in zip(reps, shape, strict=True)))


tile = primitive(
    "tile", lambda A, reps: np.tile(A, reps),
    signature=lambda A, reps: ((A,), {"reps": _frozen(_static(reps, "reps", "tile"))}),
    composite=_tile, linear=True,
    samples=(((V,), {"reps": 2}), ((V,), {"reps": (2, 2)}), ((M,), {"reps": (1, 3)}),
             ((T,), {"reps": (2,)}), ((0.7,), {"reps": 3})),
    derivative="a broadcast",
)

_PAD_GATHERS = ("edge", "reflect", "symmetric", "wrap")


def _pad_signature(array: Any, pad_width: Any, mode: Any = "constant", **kwargs: Any) -> Any:
    options = tuple(sorted((k, _frozen(_static(v, k, "pad"))) for k, v in kwargs.items()))
    return (array,), {"pad_width": _frozen(_static(pad_width, "pad_width", "pad")),
                      "mode": mode, "options": options}


def _pad(array: Any, pad_width: Any, mode: Any = "constant", options: Any = ()) -> Any:
    opts = dict(options)
    shape = shape_of(array)
    where = _positions(shape)
    if isinstance(mode, str) and mode == "constant":
        # numpy checks pad_width and the options; -1 marks the padding
        idx = np.pad(where, pad_width, mode="constant", **{**opts, "constant_values": -1})
        const = np.pad(np.zeros(shape, dtype=_dtype_of(array)), pad_width, mode="constant",
                       **opts)
        if not where.size:
            return const
        start = np.unravel_index(int(np.argmax(idx.ravel() >= 0)), idx.shape)  # x's corner
        box = tuple(slice(int(s), int(s) + n) for s, n in zip(start, shape, strict=True))
        dtype = _dtype_of(array)
        return scatter(array, box, idx.shape, dtype if dtype.kind == "c" else None) + const
    if isinstance(mode, str) and mode in _PAD_GATHERS:
        if opts.get("reflect_type", "even") != "even":
            raise UnsupportedPrimitiveError(
                f"numpy.pad(..., mode={mode!r}, reflect_type='odd') on a traced value: diffkit "
                f"pads traced values by copying entries (reflect_type='even'); write the odd "
                f"reflection as 2 * edge - even reflection")
        return _gather(array, np.pad(where, pad_width, mode=mode, **opts))
    raise UnsupportedPrimitiveError(
        f"numpy.pad(..., mode={mode!r}) on a traced value: diffkit pads traced values with the "
        f"modes 'constant' (constant_values a constant), 'edge', 'reflect', 'symmetric' and "
        f"'wrap'; compute other paddings with np.concatenate")


pad = primitive(
    "pad", lambda array, pad_width, mode="constant", options=(): np.pad(
        array, pad_width, mode=mode, **dict(options)),
    signature=_pad_signature, composite=_pad, linear=True,
    samples=(((V,), {"pad_width": (1, 2), "mode": "constant", "options": ()}),
             ((M,), {"pad_width": 1, "mode": "constant",
                     "options": (("constant_values", ((0.5, 1.5), (2.5, 3.5))),)}),
             ((M,), {"pad_width": 1, "mode": "edge", "options": ()}),
             ((V5,), {"pad_width": 2, "mode": "reflect", "options": ()}),
             ((M,), {"pad_width": ((1, 0), (2, 1)), "mode": "symmetric", "options": ()}),
             ((V,), {"pad_width": (2, 4), "mode": "wrap", "options": ()})),
    derivative="a scatter plus the constant (constant mode); a gather (the others)",
)

_NO_VALUE = object()  # numpy.diff's "not given" for prepend and append


def _diff_signature(a: Any, n: int = 1, axis: int = -1, prepend: Any = _NO_VALUE,
                    append: Any = _NO_VALUE) -> Any:
    return (a, prepend, append), {"n": int(n), "axis": int(axis)}


def _diff_numeric(a: Any, prepend: Any, append: Any, n: int = 1, axis: int = -1) -> Any:
    given = {k: v for k, v in (("prepend", prepend), ("append", append)) if v is not _NO_VALUE}
    return np.diff(a, n=n, axis=axis, **given)


def _diff(a: Any, prepend: Any, append: Any, n: int = 1, axis: int = -1) -> Any:
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")  # numpy's words
    nd = _ndim(a)
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis_index(axis, nd)
    parts = []
    for extra in (prepend, None, append):
        if extra is None:
            parts.append(a)
        elif extra is not _NO_VALUE:
            if not shape_of(extra):  # a number stands for a slab of thickness one
                slab = list(shape_of(a))
                slab[axis] = 1
                extra = broadcast_to(extra, tuple(slab))
            parts.append(extra)
    if len(parts) > 1:
        a = concatenate(parts, axis=axis)
    for _ in range(n):
        a = (getitem(a, _axis_index(axis, slice(1, None), nd))
             - getitem(a, _axis_index(axis, slice(None, -1), nd)))
    return a


diff = primitive(
    "diff", _diff_numeric, signature=_diff_signature, composite=_diff, linear=True,
    samples=(((V5, _NO_VALUE, _NO_VALUE), {"n": 1, "axis": -1}),
             ((T, _NO_VALUE, _NO_VALUE), {"n": 2, "axis": 2}),
             ((M, 0.5, np.array([[1.0], [2.0]])), {"n": 1, "axis": 1})),
    derivative="slices subtracted",
)

# ============================================================================ ordering

_ORDER_REFUSAL = (
    "the order of the entries of a symbolic value depends on x, so {name} has no single "
    "formula (np.sort, np.partition and x[np.argsort(x)] are built on it); use "
    "method='reverse-mode' or 'forward-mode', which follow the order at the point, or a "
    "numerical method")


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise UnsupportedPrimitiveError(
            f"numpy.{name}(..., out=...) on a traced value: diffkit cannot follow writes into "
            f"an existing array; assign the result instead")


def _no_order(name: str, order: Any) -> None:
    if order is not None:
        raise UnsupportedPrimitiveError(
            f"numpy.{name}(..., order={order!r}) on a traced value: order= sorts structured "
            f"arrays by field, and traced values are plain numbers; call it without order=")


def _argsort_numeric(a: Any, axis: Any = -1, kind: Any = None, stable: Any = None) -> Any:
    if stable is None:
        return np.argsort(a, axis=axis, kind=kind)
    return np.argsort(a, axis=axis, kind=kind, stable=stable)


def _argsort_signature(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *,
                       stable: Any = None) -> Any:
    _no_order("argsort", order)
    return (a,), {"axis": axis_param(axis), "kind": kind, "stable": stable}


def _inplace(name: str) -> Any:
    def method(x: Any, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedPrimitiveError(
            f"x.{name}() {name}s x in place, and diffkit records a program of pure operations "
            f"that cannot follow mutation; use the function, which returns a new array: "
            f"x = np.{name}(x{', kth' if name == 'partition' else ''})")

    return method


_INDEX_SAMPLES = (((V5,), {"axis": -1, "kind": None, "stable": None}),
                  ((M,), {"axis": 0, "kind": "stable", "stable": None}),
                  ((V5,), {"axis": None, "kind": None, "stable": True}))

argsort = primitive(
    "argsort", _argsort_numeric, signature=_argsort_signature,
    symbolic=symbolic_refusal(_ORDER_REFUSAL.format(name="numpy.argsort")),
    analytic=False, differentiable=False, methods=("argsort",), samples=_INDEX_SAMPLES,
    derivative="none: integer indices",
)


def _argpartition_signature(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect",
                            order: Any = None) -> Any:
    _no_order("argpartition", order)
    return (a,), {"kth": _frozen(_static(kth, "kth", "argpartition")),
                  "axis": axis_param(axis), "kind": kind}


argpartition = primitive(
    "argpartition", lambda a, kth, axis=-1, kind="introselect": np.argpartition(
        a, kth, axis=axis, kind=kind),
    signature=_argpartition_signature,
    symbolic=symbolic_refusal(_ORDER_REFUSAL.format(name="numpy.argpartition")),
    analytic=False, differentiable=False, methods=("argpartition",),
    samples=(((V5,), {"kth": 2, "axis": -1, "kind": "introselect"}),
             ((M,), {"kth": (0, 2), "axis": 1, "kind": "introselect"})),
    derivative="none: integer indices",
)


def _arg_extremum(name: str) -> Any:
    numpy_fn = getattr(np, name)

    def signature(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        if isinstance(a, Tracer):
            _no_out(name, out)
        elif out is not None:  # plain values: numpy writes into out
            return (a,), {"axis": axis_param(axis), "keepdims": bool(keepdims), "out": out}
        return (a,), {"axis": axis_param(axis), "keepdims": bool(keepdims)}

    def numeric(a: Any, axis: Any = None, keepdims: bool = False, out: Any = None) -> Any:
        return numpy_fn(a, axis=axis, out=out, keepdims=keepdims)

    return primitive(
        name, numeric, signature=signature,
        symbolic=symbolic_refusal(
            f"which entry of a symbolic value is the "
            f"{'largest' if name == 'argmax' else 'smallest'} depends on x, so numpy.{name} "
            f"has no single formula; use method='reverse-mode' or 'forward-mode', which take "
            f"the entry at the point, or a numerical method"),
        analytic=False, differentiable=False, methods=(name,),
        samples=(((V5,), {"axis": None, "keepdims": False}),
                 ((M,), {"axis": 1, "keepdims": False}),
                 ((M,), {"axis": 0, "keepdims": True})),
        derivative="none: integer indices",
    )


argmax = _arg_extremum("argmax")
argmin = _arg_extremum("argmin")


def _where_nonzero(name: str) -> Any:
    return primitive(
        name, getattr(np, name), signature=lambda a: ((a,), {}),
        symbolic=symbolic_refusal(
            f"which entries of a symbolic value are nonzero depends on x, so numpy.{name} has "
            f"no single formula; use method='reverse-mode' or 'forward-mode', which take the "
            f"entries at the point, or a numerical method"),
        analytic=False, differentiable=False,
        methods=("nonzero",) if name == "nonzero" else (),
        samples=(((np.array([0.0, 0.7, 0.0, -1.2]),), {}), ((M - 0.5 * (M > 0.6),), {})),
        derivative="none: integer indices",
    )


nonzero = _where_nonzero("nonzero")
flatnonzero = _where_nonzero("flatnonzero")
argwhere = _where_nonzero("argwhere")


def _sort(a: Any, axis: Any = -1, kind: Any = None, stable: Any = None) -> Any:
    if axis is None:
        a, axis = reshape(a, (-1,)), -1
    order = argsort(a, axis=axis, kind=kind, stable=stable)  # plain integers
    return take_along_axis(a, order, axis=axis)


def _sort_signature(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *,
                    stable: Any = None) -> Any:
    _no_order("sort", order)
    return (a,), {"axis": axis_param(axis), "kind": kind, "stable": stable}


def _sort_numeric(a: Any, axis: Any = -1, kind: Any = None, stable: Any = None) -> Any:
    if stable is None:
        return np.sort(a, axis=axis, kind=kind)
    return np.sort(a, axis=axis, kind=kind, stable=stable)


sort = primitive(
    "sort", _sort_numeric, signature=_sort_signature, composite=_sort, analytic=False,
    methods={"sort": _inplace("sort")}, samples=_INDEX_SAMPLES,
    derivative="a permutation: each cotangent entry goes back to where its value came from",
)


def _partition(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect") -> Any:
    if axis is None:
        a, axis = reshape(a, (-1,)), -1
    order = argpartition(a, kth, axis=axis, kind=kind)  # plain integers
    return take_along_axis(a, order, axis=axis)


def _partition_signature(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect",
                         order: Any = None) -> Any:
    _no_order("partition", order)
    return (a,), {"kth": _frozen(_static(kth, "kth", "partition")), "axis": axis_param(axis),
                  "kind": kind}


partition = primitive(
    "partition", lambda a, kth, axis=-1, kind="introselect": np.partition(
        a, kth, axis=axis, kind=kind),
    signature=_partition_signature, composite=_partition, analytic=False,
    methods={"partition": _inplace("partition")},
    samples=(((V5,), {"kth": 2, "axis": -1, "kind": "introselect"}),
             ((M,), {"kth": (0, 2), "axis": 1, "kind": "introselect"}),
             ((M,), {"kth": 3, "axis": None, "kind": "introselect"})),
    derivative="a permutation: each cotangent entry goes back to where its value came from",
)

__all__ = ["append", "argmax", "argmin", "argpartition", "argsort", "argwhere", "array_split",
           "astype", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays", "broadcast_to",
           "column_stack", "concatenate", "copy", "delete", "diag", "diagflat", "diagonal",
           "diff", "dsplit", "dstack", "expand_dims", "flatnonzero", "flip", "fliplr", "flipud",
           "getitem", "hsplit", "hstack", "index_update", "insert", "is_basic_index", "moveaxis",
           "nonzero", "pad", "partition", "ravel", "repeat", "reshape", "resize", "roll",
           "rollaxis", "rot90", "scatter", "sort", "split", "squeeze", "stack", "swapaxes",
           "take", "take_along_axis", "tile", "transpose", "tril", "triu", "vsplit", "vstack"]

_GETITEM = REGISTRY["getitem"]
