"""``diffkit.numpy`` (imported as ``dnp``): the namespace specs are written against.

Generated from the registry: every primitive is here under numpy's name. On plain floats and
arrays a function costs one type check over numpy itself; on traced values it hands the call
to the trace (tape, dual numbers, sympy). A few helpers that are not primitives (``array``,
``zeros``, constants) complete the namespace.

Examples
--------
>>> import diffkit.numpy as dnp
>>> float(dnp.sin(0.0))
0.0
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from . import primitives as _primitives
from .core import REGISTRY as _REGISTRY
from .core import Tracer as _Tracer

# --------------------------------------------------------------- the primitives themselves
for _name, _prim in _REGISTRY.items():
    globals()[_name] = _prim.function

abs = _REGISTRY["absolute"].function
true_divide = _REGISTRY["divide"].function
amax = _REGISTRY["max"].function
amin = _REGISTRY["min"].function

# --------------------------------------------------------------- constants and dtypes
pi = _np.pi
e = _np.e
inf = _np.inf
nan = _np.nan
newaxis = None
float64 = _np.float64
float32 = _np.float32
complex128 = _np.complex128
ndarray = _np.ndarray

# --------------------------------------------------------------- non-differentiable helpers
zeros = _np.zeros
ones = _np.ones
empty = _np.empty
full = _np.full
eye = _np.eye
arange = _np.arange
linspace = _np.linspace
zeros_like = _np.zeros_like
ones_like = _np.ones_like
isfinite = _np.isfinite
shape = _np.shape
ndim = _np.ndim


def _contains_tracer(obj: Any) -> bool:
    if isinstance(obj, _Tracer):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_tracer(o) for o in obj)
    return False


def array(obj: Any, dtype: Any = None) -> Any:
    """``numpy.array``, also for nested lists that hold traced values (built with stack)."""
    if _contains_tracer(obj):
        if isinstance(obj, _Tracer):
            return obj
        return _primitives.stack([array(o) for o in obj])
    return _np.array(obj, dtype=dtype)


def asarray(obj: Any, dtype: Any = None) -> Any:
    """``numpy.asarray``, passing traced values through (see :func:`array`)."""
    if _contains_tracer(obj):
        return array(obj)
    return _np.asarray(obj, dtype=dtype)


def _composite(fn: Any) -> Any:
    fn._diffkit_composite = True
    return fn


@_composite
def expand_dims(a: Any, axis: int) -> Any:
    """``numpy.expand_dims`` as a reshape (so it is differentiable)."""
    shp = list(_np.shape(a))
    axis = axis % (len(shp) + 1)
    shp.insert(axis, 1)
    return _primitives.reshape(a, tuple(shp))


@_composite
def ravel(a: Any) -> Any:
    """``numpy.ravel`` as a reshape."""
    return _primitives.reshape(a, (-1,))


@_composite
def outer(a: Any, b: Any) -> Any:
    """``numpy.outer`` as a broadcast product."""
    return _primitives.reshape(a, (-1, 1)) * _primitives.reshape(b, (1, -1))


@_composite
def norm(a: Any) -> Any:
    """Euclidean norm of a vector (``numpy.linalg.norm`` for 1-D input)."""
    return _primitives.sqrt(_primitives.sum(a * a))


__all__ = sorted(
    [*_REGISTRY, "abs", "true_divide", "amax", "amin", "pi", "e", "inf", "nan", "newaxis",
     "float64", "float32", "complex128", "ndarray", "zeros", "ones", "empty", "full", "eye",
     "arange", "linspace", "zeros_like", "ones_like", "isfinite", "shape", "ndim", "array",
     "asarray", "expand_dims", "ravel", "outer", "norm"]
)
