"""The manual method: the hand-written derivative registered with ``@f.manual``."""

from __future__ import annotations

import numpy as np

from ..errors import MissingManualError, OutputShapeError
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
        value = spec.manual_call(x)
        try:
            # a copy: the hand-written derivative may return an array of its own (a data
            # argument, a captured constant) that the caller would otherwise get to write to
            arr = np.array(value, dtype=float)
        except (TypeError, ValueError):
            raise OutputShapeError(
                f"manual derivative of {spec.name} returned {value!r}, which is not an array "
                f"of numbers; return a list or array with one entry per coordinate"
            ) from None
        return check_output(spec, arr, "manual derivative", x)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        fx = call_checked(spec, x.copy(), "jacobian")  # (f may write to its argument)
        raw = self._raw(spec, x)
        m, n = fx.size, x.size
        if raw.size != m * n:
            raise OutputShapeError(
                f"manual derivative of {spec.name} returned shape {raw.shape}; expected {m * n} "
                f"entries (f has {m} output(s) and x has {n} coordinate(s))"
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
                f"registered; add one with @{spec.name}.manual_hessian, or choose another method"
            )
        h = np.asarray(spec.manual_hessian_fn(*spec.unpack(x)), dtype=float)
        n = x.size
        if h.size != n * n:
            raise OutputShapeError(
                f"manual Hessian of {spec.name} returned shape {h.shape}; expected ({n}, {n})"
            )
        return DerivativeResult(h.reshape(n, n), nfev=1, method=self.name, out_shape=())
