"""The default method: the exact-to-rounding method that fits the function and the shape.

* code written with ``dnp`` (or numpy ufuncs on traced values) is differentiated by AD:
  reverse mode for gradients and wide Jacobians (m <= n), forward mode for tall Jacobians
  (m > n) and for Hessians (forward-over-reverse);
* code that AD cannot follow (it converts the value to a plain array or float) falls back to
  Richardson extrapolation, which only evaluates the function and reports an error estimate.

The result's ``method`` names the method that ran and ``info["auto"]`` says why.
"""

from __future__ import annotations

import numpy as np

from ..errors import NotTraceableError, UnsupportedPrimitiveError
from ..results import DerivativeResult
from ..spec import Function
from .base import Method, _replace

__all__ = ["Auto"]


class Auto(Method):
    """Pick AD where the code allows it, Richardson extrapolation otherwise.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp, numpy as np
    >>> r = dk.methods.get("auto").gradient(lambda x: dnp.sum(x**3), [1.0, 2.0])
    >>> r.value, r.method
    (array([ 3., 12.]), 'reverse-mode')
    >>> r = dk.methods.get("auto").gradient(lambda x: float(np.sum(np.asarray(x)**3)), [1.0, 2.0])
    >>> r.method, np.allclose(r.value, [3.0, 12.0])
    ('richardson', True)
    """

    name = "auto"
    family = "auto"

    def __init__(self) -> None:
        pass

    def _dispatch(self, op: str, spec: Function, x: np.ndarray, ad: str) -> DerivativeResult:
        from . import get

        try:
            r = getattr(get(ad), op)(spec, x)
            why = f"{ad}: the code is traceable"
        except (NotTraceableError, UnsupportedPrimitiveError) as exc:
            r = getattr(get("richardson"), op)(spec, x)
            why = f"richardson: {ad} could not follow the code ({type(exc).__name__})"
        return _replace(r, info={**r.info, "auto": why})

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        return self._dispatch("_gradient", spec, x, "reverse-mode")

    def _derivative(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        return self._dispatch("_derivative", spec, x, "forward-mode")

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        return self._dispatch("_hessian", spec, x, "forward-mode")

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        m = np.size(spec.call(x))
        return self._dispatch("_jacobian", spec, x, "forward-mode" if m > x.size else
                              "reverse-mode")

    def __repr__(self) -> str:
        return "Auto()"
