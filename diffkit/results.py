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

    Behaves like its value: ``float(r)`` (for a single entry) and ``np.asarray(r)`` work;
    ``print(r)`` shows a summary (value, method, estimated error, status, evaluations).

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
        ``"ok"`` when the estimate is within what the method promises, a note (``"one-sided
        ... near a domain edge"``), or ``"inaccurate: <why>"`` (see :attr:`ok`).
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

    @property
    def ok(self) -> bool:
        """Whether ``status`` vouches for the value (``"ok"`` or a note such as "one-sided
        ..."), not ``"inaccurate: ..."``."""
        return not self.status.startswith("inaccurate")

    def summary(self) -> str:
        """A few lines for people: what was computed, how, how accurately, at what cost.

        Examples
        --------
        >>> r = DerivativeResult(np.array([0.5, 1.25]), nfev=7, method="central-difference",
        ...                      error=np.array([3e-11, 2e-10]))
        >>> print(r.summary())
        central-difference: [0.5, 1.25]
        estimated error: <= 2e-10 per entry (largest 2e-10 at [1])
        status: ok; 7 evaluations
        """
        lines = [f"{self.method}: {_brief(self.value)}"]
        if self.error is not None:
            err = np.asarray(self.error, dtype=float)
            if err.size == 1:
                lines.append(f"estimated error: {float(err.reshape(-1)[0]):.2g}")
            elif err.size:
                w = np.unravel_index(int(np.nanargmax(err)), err.shape) if np.any(
                    np.isfinite(err)) else tuple(0 for _ in err.shape)
                where = ", ".join(str(int(i)) for i in w)
                lines.append(f"estimated error: <= {float(np.nanmax(err)):.2g} per entry "
                             f"(largest {float(err[w]):.2g} at [{where}])")
        status = self.status if len(self.status) <= 300 else self.status[:297] + "..."
        lines.append(f"status: {status}; {self.nfev} evaluations")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        extra = "" if self.error is None else f", error={_brief(self.error, 2)}"
        status = self.status if len(self.status) <= 80 else self.status[:77] + "..."
        return (f"DerivativeResult(value={_brief(self.value)}{extra}, nfev={self.nfev}, "
                f"method={self.method!r}, status={status!r})")

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.summary()) + "</pre>"


def _brief(value: Any, digits: int = 10) -> str:
    """A value for a one-line summary: a number, or an array cut to a few entries."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    if arr.ndim == 0:
        return f"{float(arr):.{digits}g}"
    flat = [f"{float(v):.{digits}g}" for v in arr.ravel()]
    if len(flat) > 8:
        return f"[{', '.join(flat[:3])}, ..., {', '.join(flat[-3:])}] (shape {arr.shape})"
    text = f"[{', '.join(flat)}]"
    return text if arr.ndim == 1 else f"{text} (shape {arr.shape})"
