"""The one validation boundary: every public entry point checks its input here."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ArityError, NonFiniteError, OutputShapeError, PointError
from .spec import Function, SpecError, check_output, not_scalar

__all__ = ["as_function", "as_point", "check_output", "not_scalar", "prepare"]


def as_function(f: Any, op: str = "gradient") -> Function:
    """``f`` as a :class:`Function` (plain callables are wrapped)."""
    if isinstance(f, Function):
        return f
    if not callable(f):
        raise SpecError(
            f"{op}(f, x): f must be a callable or a diffkit Function, got "
            f"{type(f).__name__} {f!r}; for a formula use dk.Function.from_expr({f!r})"
            if isinstance(f, str)
            else f"{op}(f, x): f must be a callable or a diffkit Function, got "
            f"{type(f).__name__} {f!r}"
        )
    return Function(f)


def _short(x: Any) -> str:
    text = np.array2string(np.asarray(x), threshold=8, precision=6)
    return text if len(text) < 80 else text[:77] + "..."


def as_point(spec: Function, x: Any, op: str = "gradient") -> np.ndarray:
    """``x`` as a finite float array that fits ``spec``'s parameters."""
    if type(x) in (float, np.float64) and len(spec.parameters) == 1 and math.isfinite(x):
        return np.array(x, dtype=np.float64)  # the common scalar case, without the checks below
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise PointError(f"{op}(f, x): x = {x!r} is not an array of numbers ({exc})") from None
    if arr.dtype.kind == "c":
        raise PointError(
            f"{op}(f, x): x = {_short(arr)} is complex; diffkit differentiates real functions "
            f"at real points (the complex step is method='complex-step')"
        )
    if arr.dtype.kind not in "biuf":
        raise PointError(
            f"{op}(f, x): x = {x!r} is not numeric (dtype {arr.dtype}); pass floats, "
            f"e.g. [2.0, 5.0]"
        )
    if arr.size == 0:
        raise PointError(f"{op}(f, x): x is empty (shape {arr.shape}); pass at least one number")
    arr = arr.astype(np.float64) if arr.dtype.kind != "f" else arr.copy()
    k = spec.nparams
    if k >= 2 and (arr.ndim != 1 or arr.shape[0] != k):
        got = arr.shape[0] if arr.ndim == 1 else f"shape {arr.shape}"
        raise ArityError(
            f"{op}(f, x): {spec.name} takes {k} parameters ({', '.join(spec.parameters)}), so x "
            f"needs {k} coordinates; got {got} (x = {_short(arr)}). Pass one value per "
            f"parameter, or write the function with a single array parameter"
        )
    if op == "derivative" and arr.size != 1:
        raise PointError(
            f"derivative(f, x): x must be a scalar, got shape {arr.shape} (x = {_short(arr)}); "
            f"use gradient for scalar f of several variables or jacobian for vector f"
        )
    if not np.isfinite(arr).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        where = f"x[{', '.join(map(str, idx))}]" if arr.ndim else "x"
        raise NonFiniteError(
            f"{op}(f, x): {where} = {arr[idx]} is not finite; derivatives are taken at finite "
            f"points, pass a finite x"
        )
    return arr


def prepare(f: Any, x: Any, op: str) -> tuple[Function, np.ndarray]:
    """Validate ``(f, x)`` for operation ``op`` ("derivative", "gradient", ...)."""
    spec = as_function(f, op)
    return spec, as_point(spec, x, op)


def call_checked(spec: Function, x: np.ndarray, op: str) -> np.ndarray:
    """Evaluate ``spec`` at ``x`` and check the value (see :func:`check_output`)."""
    return check_output(spec, spec.call(x), op, x)


Validator = Callable[[Any, Any, str], tuple[Function, np.ndarray]]
