"""Result objects: plain data that analysis returns and plotting consumes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DerivativeResult"]


@dataclass(frozen=True, eq=False, init=False)
class DerivativeResult:
    """A derivative with what it cost and how far it can be trusted.

    Behaves like its value: ``float(r)`` (for a single entry) and ``np.asarray(r)`` work.

    Attributes
    ----------
    value : float or ndarray
        The derivative (scalar, gradient with the point's shape, (m, n) Jacobian, Hessian).
    nfev : int
        Evaluations of the function (for AD: forward passes; 0 for symbolic after compile).
    method : str
        The method's name.
    error : float or ndarray or None
        An estimate of the absolute error, where the method has one.
    step : float or ndarray or None
        The final step(s) of a finite-difference method.
    status : str
        ``"ok"``, or what happened (``"one-sided near domain edge"``, ``"not converged"``).
    out_shape : tuple or None
        Shape of the function's value at the point.
    info : dict
        Method-specific extras (tape size, expression size, ...). A method may leave costly
        diagnostics to be computed on first access (``lazy_info=``): the dict is then built
        the first time ``info`` is read, and stays.
    """

    value: Any
    nfev: int
    method: str
    error: Any = None
    step: Any = None
    status: str = "ok"
    out_shape: tuple[int, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __init__(self, value: Any, nfev: int, method: str, error: Any = None, step: Any = None,
                 status: str = "ok", out_shape: tuple[int, ...] | None = None,
                 info: dict[str, Any] | None = None,
                 lazy_info: Callable[[], dict[str, Any]] | None = None) -> None:
        # one store instead of the frozen dataclass's eight object.__setattr__ calls: a result
        # is built per derivative, and for the complex step that was 3x the cost of f itself
        fields = {"value": value, "nfev": nfev, "method": method, "error": error, "step": step,
                  "status": status, "out_shape": out_shape}
        if lazy_info is None:
            fields["info"] = {} if info is None else info
        else:  # ``info`` is absent until read: __getattr__ builds it (lazy keys, then info's)
            fields["_lazy_info"] = (lazy_info, {} if info is None else info)
        object.__setattr__(self, "__dict__", fields)

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes not in __dict__: ``info`` of a result with lazy_info
        if name == "info":
            d = self.__dict__
            pending = d.pop("_lazy_info", None)
            if pending is not None:
                lazy, eager = pending
                d["info"] = info = {**lazy(), **eager}
                return info
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def replace(self, **changes: Any) -> DerivativeResult:
        """A copy with ``changes`` to its fields (``dataclasses.replace`` would build lazy
        diagnostics: this keeps them lazy unless ``info`` itself is replaced)."""
        d = dict(self.__dict__)
        if "info" in changes:
            d.pop("_lazy_info", None)
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"DerivativeResult has no field {sorted(unknown)[0]!r}")
        d.update(changes)
        new = object.__new__(type(self))
        object.__setattr__(new, "__dict__", d)
        return new

    def with_info(self, **extra: Any) -> DerivativeResult:
        """A copy with ``extra`` added to ``info``, leaving lazy diagnostics unbuilt."""
        d = dict(self.__dict__)
        pending = d.pop("_lazy_info", None)
        if pending is None:
            d["info"] = {**self.info, **extra}  # (a subclass may make info on first use)
        else:  # (each result builds its own diagnostics, if asked)
            d["_lazy_info"] = (pending[0], {**pending[1], **extra})
        new = object.__new__(type(self))
        object.__setattr__(new, "__dict__", d)
        return new

    def __getstate__(self) -> dict[str, Any]:
        self.info  # noqa: B018 - builds lazy diagnostics: a pickle holds no closures
        return self.__dict__

    def __float__(self) -> float:
        v = self.value
        return v if type(v) is float else float(np.asarray(v).reshape(()))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = np.asarray(self.value)
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self) -> str:
        extra = "" if self.error is None else f", error={np.asarray(self.error)!r}"
        return (f"DerivativeResult(value={np.asarray(self.value)!r}{extra}, nfev={self.nfev}, "
                f"method={self.method!r}, status={self.status!r})")
