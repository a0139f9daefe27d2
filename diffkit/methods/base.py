"""The method interface: every method is an interpreter of the spec.

Public calls (``derivative``, ``gradient``, ``jacobian``, ``hessian``) validate their input once
(:mod:`diffkit.validation`), run the method's ``_jacobian``/``_gradient``/... inside
:class:`~diffkit.core.checked_evaluation` (so a primitive outside its domain raises instead of
returning NaN) and return a :class:`~diffkit.results.DerivativeResult`. A method needs only
``_jacobian``; the others default to it.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

from ..core import checked_call, checked_evaluation
from ..errors import DomainError, UnsupportedPrimitiveError
from ..results import DerivativeResult
from ..spec import Function
from ..validation import not_scalar, prepare

__all__ = ["Method"]


class Method:
    """Base class of all methods. Settings are keyword-only constructor arguments."""

    name: ClassVar[str] = "method"
    family: ClassVar[str] = "method"
    reads_point: ClassVar[bool] = False
    """True: the method's ``_gradient_array`` only reads the point (never writes into it,
    never returns it or a view of it, keeps nothing of it after the call), so
    :func:`diffkit.gradient` hands it the caller's C-ordered float64 array as it is instead of
    a copy (a copy of a 1.6 MB parameter vector is fresh pages, an eighth of an MLP's gradient
    call). Result objects, which may compute diagnostics later, always get a copy. As with
    autograd and PyTorch, a function that writes into the caller's array by another name while
    it runs (a closure over it) is then differentiated at the values it wrote."""

    # ------------------------------------------------------------------ public API
    # ``args``/``kwargs``: data arguments passed to f after the point, never differentiated
    # (:meth:`diffkit.Function.with_data`), and to the hand-written derivative too.
    def derivative(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                   kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """d f / d x at a scalar ``x``: a float for scalar ``f``, an array for vector ``f``."""
        with checked_evaluation():  # (validation inside: it may sum x silently)
            spec, xa = prepare(f, x, "derivative", args, kwargs)
            return self._derivative(spec, xa)

    def gradient(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """Gradient of scalar ``f`` at ``x``; the value has the shape of ``x``."""
        with checked_evaluation():  # (validation inside: it may sum x silently)
            spec, xa = prepare(f, x, "gradient", args, kwargs)
            return self._gradient(spec, xa)

    def gradient_array(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                       kwargs: dict[str, Any] | None = None) -> np.ndarray:
        """The gradient alone, as :func:`diffkit.gradient` returns it: a method that can skip
        building its :class:`~diffkit.results.DerivativeResult` (and diagnostics nobody will
        read) overrides ``_gradient_array``; validation and checks are those of
        :meth:`gradient`."""
        if type(self).gradient is not Method.gradient:  # a method's own public gradient
            return np.asarray(self.gradient(f, x, args=args, kwargs=kwargs).value)
        return checked_call(self._checked_gradient_array, f, x, args, kwargs)

    def _checked_gradient_array(self, f: Any, x: Any, args: tuple[Any, ...],
                                kwargs: dict[str, Any] | None) -> np.ndarray:
        spec, xa = prepare(f, x, "gradient", args, kwargs, copy=not self.reads_point)
        return self._gradient_array(spec, xa)

    def jacobian(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """Jacobian of ``f`` at ``x`` as an ``(m, n)`` array (m = f(x).size, n = x.size)."""
        with checked_evaluation():  # (validation inside: it may sum x silently)
            spec, xa = prepare(f, x, "jacobian", args, kwargs)
            return self._jacobian(spec, xa)

    def hessian(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """Hessian of scalar ``f`` at ``x`` as an ``(n, n)`` array."""
        with checked_evaluation():  # (validation inside: it may sum x silently)
            spec, xa = prepare(f, x, "hessian", args, kwargs)
            return self._hessian(spec, xa)

    def _run(self, op: Any, spec: Function, x: np.ndarray) -> DerivativeResult:
        with checked_evaluation():
            return op(spec, x)

    # ------------------------------------------------------------------ defaults
    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        raise UnsupportedPrimitiveError(f"method {self.name!r} does not compute Jacobians")

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        r = self._jacobian(spec, x)
        if r.out_shape not in (None, ()):
            raise not_scalar(spec.name, r.out_shape, "gradient")
        return _replace(r, value=np.asarray(r.value).reshape(x.shape),
                        error=_reshaped(r.error, x.shape))

    def _gradient_array(self, spec: Function, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._gradient(spec, x).value)

    def _derivative(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        r = self._jacobian(spec, x)
        shape = r.out_shape or ()
        value = np.asarray(r.value).reshape(shape)
        return _replace(r, value=float(value) if shape == () else value,
                        error=_reshaped(r.error, shape))

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        raise UnsupportedPrimitiveError(f"method {self.name!r} does not compute Hessians")

    # ------------------------------------------------------------------ display
    def settings(self) -> dict[str, Any]:
        """The method's settings as a dict (its keyword-only constructor arguments)."""
        names = [p.name for p in inspect.signature(type(self).__init__).parameters.values()
                 if p.kind == p.KEYWORD_ONLY]
        return {n: getattr(self, n, None) for n in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


def _reshaped(err: Any, shape: tuple[int, ...]) -> Any:
    if err is None:
        return None
    arr = np.asarray(err)
    if arr.size != int(np.prod(shape, dtype=np.int64)):
        return err
    return float(arr.reshape(())) if shape == () else arr.reshape(shape)


def _replace(r: DerivativeResult, **changes: Any) -> DerivativeResult:
    return r.replace(**changes)  # (lazy diagnostics stay lazy)
