"""The one validation boundary: every public entry point checks its input here."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .core import evaluating
from .errors import ArityError, NonFiniteError, OutputShapeError, PointError
from .spec import Function, SpecError, check_output, not_scalar, surely_finite

__all__ = ["as_function", "as_point", "check_output", "not_scalar", "prepare", "scalar_point",
           "with_data"]


def as_function(f: Any, op: str = "gradient", *, call: str | None = None) -> Function:
    """``f`` as a :class:`Function` (plain callables are wrapped); ``call`` is how the call
    appears in messages (default ``f"{op}(f, x)"``)."""
    if isinstance(f, Function):
        return f
    if not callable(f):
        hint = f"; for a formula use dk.Function.from_expr({f!r})" if isinstance(f, str) else ""
        raise SpecError(
            f"{call or f'{op}(f, x)'}: f must be a callable or a diffkit Function, got "
            f"{type(f).__name__} {short_repr(f)}{hint}"
        )
    return Function(f)


def _short(x: Any) -> str:
    """An array for a message (numpy's print, cut to one short line)."""
    text = np.array2string(np.asarray(x), threshold=8, precision=6)
    return text if len(text) < 80 else text[:77] + "..."


def short_repr(x: Any) -> str:
    """Any value for a message: its ``repr`` cut to one short line."""
    text = repr(x)
    return text if len(text) < 60 else text[:57] + "..."


_FLOATS = (float, np.float64)
"""The scalar types a point may have without conversion (np.float64 subclasses float)."""
_F64 = np.dtype(np.float64)


def scalar_point(f: Any, x: Any) -> float | None:
    """``x`` as a float when ``f`` is a scalar, non-vectorized :class:`Function` of one
    parameter and ``x`` a finite float; else None (then :func:`as_point` says what is wrong).

    The case a method may serve without :func:`prepare` and dispatch: nothing about it needs
    checking but finiteness.
    """
    if type(x) in _FLOATS and isinstance(f, Function) and not f.vectorized \
            and f.nparams == 1 and math.isfinite(x):
        return float(x)
    return None


def as_point(spec: Function, x: Any, op: str = "gradient", *, call: str | None = None,
             copy: bool = True) -> np.ndarray:
    """``x`` as a finite float array that fits ``spec``'s parameters.

    Every public entry point takes its point through here, so a bad point gets the same
    error everywhere, one class per kind of fault:

    ===================================================  ==================
    x is not an array of numbers (ragged, text, complex,  :class:`PointError`
    empty), or not a scalar where ``op`` is "derivative"
    x has a different number of coordinates than         :class:`ArityError`
    ``spec`` has parameters
    an entry of x is NaN or infinite                      :class:`NonFiniteError`
    ===================================================  ==================

    Parameters
    ----------
    spec : Function
        What the point is for (its parameter count).
    x : array_like
        The point.
    op : str
        The operation ("derivative", "gradient", "jacobian", "hessian", ...).
    call : str, optional
        How the call appears in messages; default ``f"{op}(f, x)"``.
    copy : bool
        False: a C-ordered float64 array ``x`` that passes is returned as it is, not copied
        (for a method that only reads its point: see
        :attr:`diffkit.methods.base.Method.reads_point`).

    Returns
    -------
    ndarray
        A copy of ``x`` (0-d for a scalar): float64, or the float type ``x`` already had;
        ``x`` itself where ``copy`` is False and ``x`` is a finite C-ordered float64 array.

    Examples
    --------
    >>> import diffkit as dk
    >>> f = dk.Function(lambda x1, x2: x1 * x2)
    >>> as_point(f, [2, 5])
    array([2., 5.])
    >>> try:
    ...     as_point(f, [1.0, float("nan")])
    ... except dk.NonFiniteError as exc:
    ...     print(str(exc).split(";")[0])
    gradient(f, x): x[1] = nan is not finite
    """
    if type(x) in _FLOATS and len(spec.parameters) == 1 and math.isfinite(x):
        return np.array(x, dtype=np.float64)  # the common scalar case, without the checks below
    if x.__class__ is np.ndarray and x.dtype is _F64 and op != "derivative" and x.size \
            and (len(spec.parameters) == 1 or x.shape == (len(spec.parameters),)):
        arr = x if not copy and x.flags.c_contiguous else x.copy()  # (only finiteness left)
        if (evaluating() and surely_finite(arr)) or np.isfinite(arr).all():
            return arr  # (a silent dot where numpy's errors are counted: see surely_finite)
    call = call or f"{op}(f, x)"
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise PointError(
            f"{call}: x = {short_repr(x)} is not an array of numbers ({str(exc).split('.')[0]}); "
            f"pass a float, a list of floats or an array, e.g. [2.0, 5.0]"
        ) from None
    if arr.dtype.kind == "c":
        raise PointError(
            f"{call}: x = {_short(arr)} is complex; diffkit differentiates real functions "
            f"at real points (the complex step is method='complex-step')"
        )
    if arr.dtype.kind not in "biuf":
        raise PointError(
            f"{call}: x = {short_repr(x)} is not numeric (dtype {arr.dtype}); pass floats, "
            f"e.g. [2.0, 5.0]"
        )
    if arr.size == 0:
        raise PointError(f"{call}: x is empty (shape {arr.shape}); pass at least one number")
    arr = arr.astype(np.float64) if arr.dtype.kind != "f" else arr.copy()
    k = spec.nparams
    if k >= 2 and (arr.ndim != 1 or arr.shape[0] != k):
        got = arr.shape[0] if arr.ndim == 1 else f"shape {arr.shape}"
        raise ArityError(
            f"{call}: {spec.name} takes {k} parameters ({', '.join(spec.parameters)}), so x "
            f"needs {k} coordinates; got {got} (x = {_short(arr)}). Pass one value per "
            f"parameter, or write the function with a single array parameter{_data_hint(spec)}"
        )
    if op == "derivative" and arr.size != 1:
        raise PointError(
            f"{call}: x must be a scalar, got shape {arr.shape} (x = {_short(arr)}); "
            f"use gradient for scalar f of several variables or jacobian for vector f"
        )
    if not np.isfinite(arr).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        where = f"x[{', '.join(map(str, idx))}]" if arr.ndim else "x"
        raise NonFiniteError(
            f"{call}: {where} = {arr[idx]} is not finite; derivatives are taken at finite "
            f"points, pass a finite x"
        )
    return arr


def _data_hint(spec: Function) -> str:
    """For a Function with data arguments: which parameters the data took."""
    if spec.data is None:
        return ""
    names = spec.unbound.parameters
    taken = [p for p in names if p not in spec.parameters]
    return (f" (the data arguments args=/kwargs= fill {', '.join(taken)}; the point fills "
            f"the first parameter(s) of {spec.unbound.name}({', '.join(names)}))")


def with_data(spec: Function, args: Any, kwargs: Any, op: str = "gradient", *,
              call: str | None = None) -> Function:
    """``spec`` with the data arguments ``args`` (a tuple) and ``kwargs`` (a dict) bound, as
    every entry point taking ``args=``/``kwargs=`` binds them (:meth:`Function.with_data`);
    ``spec`` itself when there are none."""
    if args.__class__ is tuple and not args and kwargs is None:
        return spec
    return spec.with_data(args, kwargs, call=call or f"{op}(f, x)")


def prepare(f: Any, x: Any, op: str, args: Any = (), kwargs: Any = None, copy: bool = True
            ) -> tuple[Function, np.ndarray]:
    """Validate ``(f, x)`` for operation ``op`` ("derivative", "gradient", ...), with the data
    arguments ``args``/``kwargs`` bound to ``f`` (see :meth:`Function.with_data`); ``copy``:
    see :func:`as_point`."""
    spec = f if f.__class__ is Function else as_function(f, op)
    if args.__class__ is not tuple or args or kwargs is not None:
        spec = spec.with_data(args, kwargs, call=f"{op}(f, x)")
    return spec, as_point(spec, x, op, copy=copy)


def call_checked(spec: Function, x: np.ndarray, op: str) -> np.ndarray:
    """Evaluate ``spec`` at ``x`` and check the value (see :func:`check_output`)."""
    return check_output(spec, spec.call(x), op, x)


Validator = Callable[[Any, Any, str], tuple[Function, np.ndarray]]
