"""Cost versus dimension: evaluations, wall time and memory of each method as n grows.

The classical asymmetry: for ``f: R^n -> R`` a gradient costs finite differences and forward
mode ``O(n)`` evaluations, reverse mode one forward pass plus one sweep (a constant multiple
of ``f``, paid for in tape memory). For ``f: R -> R^m`` it is the other way round: forward mode
needs one pass, reverse mode one sweep per output.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import methods as _methods
from .. import numpy as dnp
from ..catalog import rosenbrock
from ..display import cost_text
from ..errors import DiffkitError, PointError, UnknownMethodError
from ..plotting import plot_cost
from ..spec import Function

__all__ = ["FAMILIES", "CostResult", "cost"]


@dataclass(frozen=True)
class _Family:
    kind: str  # "gradient" (R^n -> R) or "jacobian" (R -> R^m)
    label: str
    build: Callable[[int], tuple[Any, np.ndarray, np.ndarray]]  # n -> (spec, x, exact)


def _rosenbrock(n: int) -> tuple[Any, np.ndarray, np.ndarray]:
    e = rosenbrock(n)
    return e.function, e.point, e.function.manual_call(e.point)


def _sines(m: int) -> tuple[Any, np.ndarray, np.ndarray]:

    k = np.arange(1.0, m + 1.0)

    def sines(t: Any) -> Any:
        return dnp.sin(k * t)

    def dsines(t: Any) -> Any:
        return (k * np.cos(k * t)).reshape(m, 1)

    t0 = np.asarray(0.3)
    return Function(sines, name=f"sines{m}", manual=dsines), t0, dsines(t0)


FAMILIES: dict[str, _Family] = {
    "rosenbrock": _Family("gradient", "Rosenbrock gradient, R^n -> R", _rosenbrock),
    "sines": _Family("jacobian", "sin(k t), k = 1..m: Jacobian of R -> R^m", _sines),
}
"""Built-in families: ``rosenbrock`` (R^n -> R) and ``sines`` (R -> R^m)."""


@dataclass(frozen=True, eq=False)
class CostResult:
    """Cost of each method versus the dimension.

    Attributes
    ----------
    family : str
    kind : str
        ``"gradient"`` (R^n -> R) or ``"jacobian"`` (R -> R^m).
    dims : ndarray of int
        ``n`` (inputs) or ``m`` (outputs).
    methods : tuple of str
    nfev, seconds, first_seconds, tape_bytes, peak_bytes, rel_error : dict of str -> ndarray
        Per method and dimension: evaluations (forward passes for AD), median wall time of
        a warm call, time of the first call (symbolic compiles there), bytes held by the
        tape (reverse mode), peak Python allocation during one call (tracemalloc), and the
        relative error against the exact derivative. NaN where skipped or failed.
    status : dict of str -> list of str
    notes : list of str
    """

    family: str
    kind: str
    dims: np.ndarray
    methods: tuple[str, ...]
    nfev: dict[str, np.ndarray]
    seconds: dict[str, np.ndarray]
    first_seconds: dict[str, np.ndarray]
    tape_bytes: dict[str, np.ndarray]
    peak_bytes: dict[str, np.ndarray]
    rel_error: dict[str, np.ndarray]
    status: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """One row per (method, dimension)."""
        dim = "n" if self.kind == "gradient" else "m"
        lines = [f"| method | {dim} | evaluations | median s | first call s | tape bytes | "
                 f"peak bytes | rel error | status |", "|---|" + "---|" * 8]

        def num(v: float, spec: str) -> str:
            return "—" if not np.isfinite(v) else format(v, spec)

        for m in self.methods:
            for i, d in enumerate(self.dims):
                lines.append(
                    f"| {m} | {int(d)} | {num(self.nfev[m][i], '.0f')} | "
                    f"{num(self.seconds[m][i], '.2e')} | {num(self.first_seconds[m][i], '.2e')}"
                    f" | {num(self.tape_bytes[m][i], ',.0f')} | "
                    f"{num(self.peak_bytes[m][i], ',.0f')} | {num(self.rel_error[m][i], '.1e')}"
                    f" | {self.status[m][i]} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        def clean(a: np.ndarray) -> list[Any]:
            return [None if not np.isfinite(v) else float(v) for v in a]

        return {"family": self.family, "kind": self.kind, "dims": [int(d) for d in self.dims],
                "methods": {m: {"nfev": clean(self.nfev[m]), "seconds": clean(self.seconds[m]),
                                "first_seconds": clean(self.first_seconds[m]),
                                "tape_bytes": clean(self.tape_bytes[m]),
                                "peak_bytes": clean(self.peak_bytes[m]),
                                "rel_error": clean(self.rel_error[m]),
                                "status": list(self.status[m])} for m in self.methods},
                "notes": list(self.notes)}

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Time versus dimension, log-log; see :func:`diffkit.plotting.plot_cost`."""
        return plot_cost(self, ax=ax, **kwargs)

    def __str__(self) -> str:
        """A summary table and the notes (:func:`diffkit.display.cost_text`)."""

        return cost_text(self)

    def __repr__(self) -> str:
        return f"CostResult({self.family!r}, dims={self.dims.tolist()}, methods={self.methods})"


def _predict(seen: list[tuple[int, float]], d: int) -> float:
    """Seconds a call at dimension ``d`` is expected to take, erring on the slow side.

    The growth exponent is the log-log slope between the last two measurements (at least 1),
    plus 0.5: symbolic compilation grows faster than its first points suggest. Calls under
    10 ms give no slope: on a loaded machine one descheduling makes such a call 100x slower
    and the slope would skip a method that takes milliseconds (vector forward mode at n = 64).
    """
    if not seen:
        return 0.0
    d1, t1 = seen[-1]
    slope = 1.0
    if len(seen) >= 2 and t1 >= 0.01:
        d0, t0 = seen[-2]
        if t0 > 0 and t1 > 0 and d1 > d0:
            slope = max(1.0, float(np.log(t1 / t0) / np.log(d1 / d0)))
    return t1 * (d / d1) ** (slope + 0.5)


def cost(family: str = "rosenbrock", dims: Sequence[int] = (10, 100, 1000),
         methods: Any = "all", *, repeat: int = 5, budget: float = 5.0,
         progress: Any = None) -> CostResult:
    """Evaluations, time and memory of each method versus the dimension.

    Parameters
    ----------
    family : {"rosenbrock", "sines"}
        ``rosenbrock``: the gradient of Rosenbrock's function of ``n`` variables (R^n -> R).
        ``sines``: the Jacobian of ``t -> sin(k t), k = 1..m`` (R -> R^m).
    dims : sequence of int
        The dimensions ``n`` (or ``m``), each >= 2.
    methods : "all" or sequence of str or Method
        Method names or configured method objects (keyed by their name);
        ``"all"`` is :func:`diffkit.methods.available`.
    repeat : int
        Timed warm calls per point at most (the median is reported); repeats stop once they
        have taken ``budget / 5`` seconds.
    budget : float
        Seconds one call may take: a method whose next dimension is predicted to exceed it
        (growth exponent from its last two points, at least 1, plus 0.5) is skipped there,
        with a status. Peak memory
        is measured (under tracemalloc) for calls under ``budget / 10`` seconds.
    progress : callable, optional
        Called with ``(method, dim)`` after each measurement.

    Returns
    -------
    CostResult

    Examples
    --------
    >>> import diffkit as dk
    >>> fixed = dk.methods.CentralDifference(h=1e-6)
    >>> c = dk.analysis.cost("rosenbrock", [10, 20], [fixed], repeat=1)
    >>> # f(x), the noise probe, 2n stencil points, 2n more at 2h for the error estimate
    >>> c.nfev["central-difference"].tolist()
    [42.0, 82.0]
    """
    if not isinstance(family, str) or family not in FAMILIES:
        raise UnknownMethodError(f"cost(family={family!r}): unknown family; choose from "
                                 f"{', '.join(repr(k) for k in FAMILIES)}")
    try:
        dims_arr = np.asarray(list(dims))
    except TypeError:
        raise PointError(f"cost(dims={dims!r}): pass a sequence of integers, e.g. [10, 100]") \
            from None
    if dims_arr.ndim != 1 or dims_arr.size == 0 or dims_arr.dtype.kind not in "iu" \
            or np.any(dims_arr < 2):
        raise PointError(f"cost(dims={dims!r}): dimensions must be integers >= 2, "
                         f"e.g. [10, 100, 1000]")
    if not isinstance(repeat, (int, np.integer)) or repeat < 1:
        raise PointError(f"cost(repeat={repeat!r}): must be a positive integer")
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer,
                                                           np.floating)) or not budget > 0:
        raise PointError(f"cost(budget={budget!r}): the seconds one method may take per "
                         f"dimension, a positive number (e.g. budget=5.0)")
    if progress is not None and not callable(progress):
        raise PointError(f"cost(progress={progress!r}): a function called as each "
                         f"(method, dimension) is done (e.g. progress=print), or None")
    if not isinstance(methods, (str, _methods.Method, list, tuple)):
        raise UnknownMethodError(f"cost(methods={methods!r}): 'all', a method name, or a list "
                                 f"of names or method objects")
    chosen = _methods.concrete() if (isinstance(methods, str) and methods == "all") \
        else ([methods] if isinstance(methods, (str, _methods.Method)) else list(methods))
    resolved = {}
    for m in chosen:
        obj = _methods.get(m)
        resolved[m if isinstance(m, str) else obj.name] = obj
    names = list(resolved)
    fam = FAMILIES[family]
    shape = dims_arr.shape
    out = {k: {m: np.full(shape, np.nan) for m in names}
           for k in ("nfev", "seconds", "first", "tape", "peak", "err")}
    status = {m: ["" for _ in dims_arr] for m in names}
    notes: list[str] = []
    if isinstance(methods, str) and methods == "all":
        missing = [m for m in _methods.METHOD_NAMES if m not in names]
        if missing:
            notes.append(f"not in this installation (skipped): {', '.join(missing)}")

    for m, method in resolved.items():
        seen: list[tuple[int, float]] = []
        for i, d in enumerate(dims_arr.tolist()):
            guess = _predict(seen, d)
            if guess > budget:
                status[m][i] = f"skipped: about {guess:.0f} s predicted"
                continue
            spec, x, exact = fam.build(d)
            run = method.gradient if fam.kind == "gradient" else method.jacobian

            def call(run: Any = run, spec: Any = spec, x: Any = x) -> Any:
                return run(spec, x)

            try:
                t0 = time.perf_counter()
                r = call()
                first = time.perf_counter() - t0
            except (DiffkitError, ArithmeticError) as exc:
                status[m][i] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
                continue
            times: list[float] = []
            while len(times) < repeat and (not times or sum(times) < budget / 5):
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
            peak = float("nan")
            if first < budget / 10:  # tracemalloc slows Python-heavy code several times
                tracemalloc.start()
                try:
                    call()
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
            val = np.asarray(r.value, dtype=float).reshape(np.shape(exact))
            scale = float(np.max(np.abs(exact)))
            out["nfev"][m][i] = r.nfev
            out["seconds"][m][i] = float(np.median(times))
            out["first"][m][i] = first
            out["tape"][m][i] = r.info.get("nbytes", np.nan)
            out["peak"][m][i] = peak
            out["err"][m][i] = float(np.max(np.abs(val - exact))) / scale
            status[m][i] = r.status
            seen.append((d, max(first, float(np.median(times)))))
            if progress is not None:
                progress(m, d)
    return CostResult(family, fam.kind, dims_arr, tuple(names), out["nfev"], out["seconds"],
                      out["first"], out["tape"], out["peak"], out["err"], status, notes)
