"""The manual method: the hand-written derivative registered with ``@f.manual``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingManualError, NonFiniteError, OutputShapeError
from ..results import DerivativeResult
from ..spec import Function
from ..validation import call_checked, check_output
from .base import Method

__all__ = ["Manual"]


class Manual(Method):
    """Evaluate the derivative the user wrote by hand (``@f.manual``).

    The hand-written function returns the gradient (one entry per coordinate, or an array of
    the point's shape for a one-parameter function) or, for a vector-valued function, the
    ``(m, n)`` Jacobian.
    """

    name = "manual"
    family = "manual"

    def __init__(self) -> None:
        pass

    def _raw(self, spec: Function, x: np.ndarray) -> np.ndarray:
        return self._numbers(spec, x, spec.manual_call(x))

    @staticmethod
    def _numbers(spec: Function, x: np.ndarray, value: Any) -> np.ndarray:
        """What a hand-written derivative returned, as finite float numbers (a copy), or the
        error saying what it returned instead."""
        if value is None:
            raise OutputShapeError(
                f"the hand-written derivative of {spec.name} returned None (a missing return "
                f"statement?); return a list or array with one entry per coordinate")
        try:
            # a copy: the hand-written derivative may return an array of its own (a data
            # argument, a captured constant) that the caller would otherwise get to write to
            arr = np.array(value, dtype=float)
        except (TypeError, ValueError):
            raise OutputShapeError(
                f"manual derivative of {spec.name} returned {value!r}, which is not an array "
                f"of numbers; return a list or array with one entry per coordinate"
            ) from None
        if not np.all(np.isfinite(arr)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0]) if arr.ndim else ()
            entry = f" at entry {list(bad)}" if bad else ""
            raise NonFiniteError(
                f"the hand-written derivative of {spec.name} returned {arr[bad]}{entry} at "
                f"x = {np.asarray(x).tolist()}: not finite (f itself is finite "
                f"there); check the derivative registered with @{spec.name}.manual (or "
                f".manual_hessian) at this point")
        return check_output(spec, arr, "manual derivative", x)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        fx = call_checked(spec, x.copy(), "jacobian")  # (f may write to its argument)
        raw = self._raw(spec, x)
        m, n = fx.size, x.size
        # (m, n) or f's shape then x's; a vector where one side is a single entry
        fits = raw.shape in ((m, n), fx.shape + x.shape) or (
            raw.ndim <= 1 and raw.size == m * n and (m == 1 or n == 1))
        if not fits:
            turned = " (it looks transposed: rows are f's outputs, columns x's coordinates)" \
                if raw.shape in ((n, m), x.shape + fx.shape) and m != n else ""
            raise OutputShapeError(
                f"manual derivative of {spec.name} returned shape {raw.shape}; expected "
                f"({m}, {n}): f has {m} output(s) and x has {n} coordinate(s){turned}"
            )
        return DerivativeResult(raw.reshape(m, n), nfev=1, method=self.name,
                                out_shape=fx.shape, info={"manual_calls": 1})

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        call_checked(spec, x.copy(), "gradient")  # a point outside f's domain is an error here too
        raw = self._raw(spec, x)
        if raw.size != x.size:
            raise OutputShapeError(
                f"manual derivative of {spec.name} returned shape {raw.shape}; the gradient "
                f"needs {x.size} entries, one per coordinate of x (shape {x.shape})"
            )
        return DerivativeResult(raw.reshape(x.shape), nfev=1, method=self.name, out_shape=(),
                                info={"manual_calls": 1})

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        if spec.manual_hessian_fn is None:
            raise MissingManualError(
                f"hessian(method='manual') on {spec.name!r}: no hand-written Hessian is "
                f"registered; add one with "
                f"@{spec.name if spec.name.isidentifier() else 'f'}.manual_hessian, or choose "
                f"another method"
            )
        call_checked(spec, x.copy(), "hessian")  # a point outside f's domain: an error here too
        h = self._numbers(spec, x, spec.manual_hessian_fn(*spec.unpack(x)))  # finite numbers
        n = x.size
        if h.shape not in ((n, n), x.shape + x.shape) and not (n == 1 and h.size == 1):
            raise OutputShapeError(
                f"manual Hessian of {spec.name} returned shape {h.shape}; expected ({n}, {n})"
            )
        return DerivativeResult(h.reshape(n, n), nfev=1, method=self.name, out_shape=())
