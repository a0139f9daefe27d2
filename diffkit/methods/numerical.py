"""Finite differences (first version: textbook steps; the numerical issue extends this)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DomainError, StencilError, StepError
from ..results import DerivativeResult
from ..spec import Function
from ..validation import call_checked
from .base import Method

__all__ = ["BackwardDifference", "CentralDifference", "ForwardDifference"]

EPS = np.finfo(np.float64).eps


class _FiniteDifference(Method):
    family = "numerical"
    offsets: ClassVar[tuple[int, ...]] = ()
    weights: ClassVar[tuple[float, ...]] = ()
    power: ClassVar[float] = 0.5  # textbook step: eps**power * max(1, |x|)

    def __init__(self, *, h: Any = "auto") -> None:
        if not (isinstance(h, str) and h == "auto"):
            try:
                hf = float(h)
            except (TypeError, ValueError):
                raise StepError(f"h={h!r} is not a number; pass a positive float or 'auto'") \
                    from None
            if not (np.isfinite(hf) and hf > 0):
                raise StepError(f"h={h!r} must be positive and finite, e.g. h=1e-6, or 'auto'")
            h = hf
        self.h = h

    def _steps(self, x: np.ndarray) -> np.ndarray:
        flat = x.ravel()
        if self.h == "auto":
            return EPS**self.power * np.maximum(1.0, np.abs(flat))
        return np.full(flat.shape, float(self.h))

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        flat = x.ravel()
        steps = self._steps(x)
        nfev = 0
        f0 = None
        if 0 in self.offsets:
            f0 = call_checked(spec, x, "jacobian")
            nfev += 1
        cols = []
        for i in range(flat.size):
            h = steps[i]
            # the step actually taken, (x+h)-x, is exactly representable
            hs = [(flat[i] + o * h) - flat[i] for o in self.offsets]
            col = 0.0
            for o, w, ho in zip(self.offsets, self.weights, hs, strict=True):
                if o == 0:
                    val = f0
                else:
                    xp = flat.copy()
                    xp[i] = flat[i] + ho
                    val = self._sample(spec, xp.reshape(x.shape), x, i, ho)
                    nfev += 1
                col = col + w * np.asarray(val, dtype=float)
            cols.append(np.ravel(col) / abs(hs[-1] if self.offsets[-1] else hs[0]))
        out_shape = np.shape(f0) if f0 is not None else None
        if out_shape is None:
            out_shape = np.shape(self._sample(spec, x, x, 0, 0.0))
            nfev += 1
        jac = np.stack(cols, axis=1)
        return DerivativeResult(jac, nfev=nfev, method=self.name, step=steps.reshape(x.shape),
                                out_shape=tuple(out_shape))

    def _sample(self, spec: Function, xp: np.ndarray, x: np.ndarray, i: int, h: float) -> Any:
        try:
            val = np.asarray(spec.call(xp))
        except DomainError as exc:
            call_checked(spec, x, "jacobian")  # the point itself outside the domain: say so
            raise StencilError(
                f"{self.name}: the stencil point x[{i}] = {xp.ravel()[i]!r} (step h = {h:.3g}) "
                f"crosses a domain edge ({exc}); use a one-sided scheme pointing away from the "
                f"edge or a smaller h"
            ) from None
        if not np.all(np.isfinite(val)):
            raise StencilError(
                f"{self.name}: f is not finite at the stencil point x[{i}] = {xp.ravel()[i]!r} "
                f"(step h = {h:.3g}); use a one-sided scheme or a smaller h"
            )
        return val


class ForwardDifference(_FiniteDifference):
    """(f(x+h) - f(x)) / h, first order."""

    name = "forward-difference"
    offsets = (0, 1)
    weights = (-1.0, 1.0)


class BackwardDifference(_FiniteDifference):
    """(f(x) - f(x-h)) / h, first order."""

    name = "backward-difference"
    offsets = (0, -1)
    weights = (1.0, -1.0)


class CentralDifference(_FiniteDifference):
    """(f(x+h) - f(x-h)) / 2h, second order."""

    name = "central-difference"
    offsets = (-1, 1)
    weights = (-0.5, 0.5)
    power = 1.0 / 3.0
