"""``diffkit.numpy`` (imported as ``dnp``): the namespace specs may be written against.

Generated from the registry: every primitive is here under numpy's names (``dnp.abs`` and
``dnp.absolute``), ``dnp.linalg`` mirrors ``numpy.linalg`` and ``dnp.special`` mirrors
``scipy.special``. On plain floats and arrays a function costs one type check over numpy
itself; on traced values it hands the call to the trace (tape, dual numbers, sympy). Plain
``np.sin(x)`` on a traced ``x`` reaches the same primitives, so ``dnp`` is optional. A few
helpers that are not primitives (``array``, ``zeros``, constants) complete the namespace.

Examples
--------
>>> import diffkit.numpy as dnp
>>> float(dnp.sin(0.0))
0.0
>>> dnp.linalg.det is dnp.REGISTRY_FUNCTIONS["det"]
True
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as _np

from . import primitives as _primitives
from .core import REGISTRY as _REGISTRY
from .core import Tracer as _Tracer

# --------------------------------------------------------------- the primitives themselves
linalg = types.ModuleType(f"{__name__}.linalg", "numpy.linalg's functions, recorded on traced "
                                                "values (generated from the registry).")
special = types.ModuleType(f"{__name__}.special", "scipy.special's functions, recorded on "
                                                  "traced values (generated from the "
                                                  "registry).")
sys.modules[linalg.__name__] = linalg
sys.modules[special.__name__] = special
_SUBMODULES = {"linalg": linalg, "special": special}
_top: list[str] = []


def _submodule(path: str) -> types.ModuleType:
    """The namespace ``dnp.<path>`` (``stats``, ``stats.norm``), made on first use."""
    module = _SUBMODULES.get(path)
    if module is None:
        parent, _, tail = path.rpartition(".")
        module = types.ModuleType(f"{__name__}.{path}", f"scipy.{path}'s functions, recorded "
                                                         f"on traced values (generated).")
        sys.modules[module.__name__] = module
        _SUBMODULES[path] = module
        if parent:
            home = _submodule(parent)
            setattr(home, tail, module)
            home.__dict__.setdefault("__all__", []).append(tail)
        else:
            globals()[tail] = module
            _top.append(tail)
    return module


REGISTRY_FUNCTIONS = {name: prim.function for name, prim in _REGISTRY.items()}
"""Every primitive's ``dnp`` function by registry name."""


def _place(path: str, fn: Any) -> None:
    head, _, tail = path.rpartition(".")
    if head:
        module = _submodule(head)
        setattr(module, tail, fn)
        module.__dict__.setdefault("__all__", []).append(tail)
        return
    globals()[tail] = fn
    _top.append(tail)


for _prim in _REGISTRY.values():
    _fn = _prim.function
    _place(f"{_prim.namespace}.{_prim.name}" if _prim.namespace else _prim.name, _fn)
    for _path in _prim.numpy:
        _place(_path, _fn)
    for _path in _prim.scipy:
        _place(_path, _fn)

# --------------------------------------------------------------- constants and dtypes
pi = _np.pi
e = _np.e
inf = _np.inf
nan = _np.nan
newaxis = None
float64 = _np.float64
float32 = _np.float32
float16 = _np.float16
complex128 = _np.complex128
ndarray = _np.ndarray

# --------------------------------------------------------------- non-differentiable helpers
zeros = _np.zeros
ones = _np.ones
empty = _np.empty
full = _np.full
eye = _np.eye
identity = _np.identity
arange = _np.arange
linspace = _np.linspace
zeros_like = _np.zeros_like
ones_like = _np.ones_like
isfinite = _np.isfinite
isnan = _np.isnan
shape = _np.shape
ndim = _np.ndim
size = _np.size


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
            return obj if dtype is None else obj.astype(dtype)
        return _primitives.ops.stack([array(o) for o in obj])
    return _np.array(obj, dtype=dtype)


def asarray(obj: Any, dtype: Any = None) -> Any:
    """``numpy.asarray``, passing traced values through (see :func:`array`)."""
    if _contains_tracer(obj):
        return array(obj, dtype=dtype)
    return _np.asarray(obj, dtype=dtype)


_HELPERS = ["pi", "e", "inf", "nan", "newaxis", "float64", "float32", "float16", "complex128",
            "ndarray", "zeros", "ones", "empty", "full", "eye", "identity", "arange",
            "linspace", "zeros_like", "ones_like", "isfinite", "isnan", "shape", "ndim", "size",
            "array", "asarray", "linalg", "special"]

__all__ = sorted({*_top, *_HELPERS})
for _module in _SUBMODULES.values():
    _module.__all__ = sorted(set(getattr(_module, "__all__", [])))

del _prim, _fn, _path, _module
