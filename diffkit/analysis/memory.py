"""Memory versus recomputation: what reverse mode holds on a long loop, and what it costs not to.

The seed's one con of automatic differentiation, measured: reverse mode over a loop of ``T``
steps keeps every step's intermediates (memory ``O(T)``). Checkpointing keeps a few states
and recomputes the rest during the sweep (:func:`diffkit.loop`): ``sqrt(T)`` snapshots
(segment-wise, as ``jax.checkpoint`` and ``torch.utils.checkpoint`` do) or ``c`` snapshots on
the binomial schedule of Griewank & Walther (revolve), whose recomputation grows like
``log T``. Beside them, the methods that keep no tape at all: forward mode (``n`` tangent
directions for ``n`` inputs, pushed together in vector passes) and finite differences (about ``2n`` evaluations).

:func:`memory` measures, for each configuration and each ``T``: the peak memory of one
gradient (``tracemalloc``, which sees numpy's allocations), the median time, the loop steps
evaluated and recomputed, the snapshots held, the meter's peak tape bytes, and the
difference from the plain tape's gradient (0 for every checkpointed schedule: the same
operations in the same order).
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
from ..checkpointing import loop
from ..errors import DiffkitError, PointError, UnknownMethodError
from ..memory import meter
from ..methods import reverse
from ..plotting import plot_memory
from ..spec import Function

__all__ = ["FAMILIES", "MemoryResult", "lorenz96", "lorenz96_step", "memory", "schedule_label"]


def lorenz96_step(dt: float = 5e-4, forcing: float = 8.0) -> Callable[[Any], Any]:
    """One explicit Euler step of Lorenz-96, ``x -> x + dt * ((x_{i+1} - x_{i-2}) x_{i-1} -
    x_i + F)`` on a ring (the shifts are slices joined by ``concatenate``)."""

    def shift(x: Any, k: int) -> Any:
        return dnp.concatenate([x[k:], x[:k]])

    def lorenz96(x: Any) -> Any:
        return x + dt * ((shift(x, 1) - shift(x, -2)) * shift(x, -1) - x + forcing)

    return lorenz96


def lorenz96(state: int = 1000, steps: int = 10_000, checkpoints: Any = None, *,
             dt: float = 5e-4, forcing: float = 8.0) -> tuple[Function, np.ndarray]:
    """Explicit Euler on Lorenz-96, ``T`` steps: the loop the study and the benchmark share.

    ``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` on a ring of ``state`` variables
    (a nonlinear, coupled system; the shifts are slices joined by ``concatenate``), stepped
    ``steps`` times with ``dt``; the function is ``sum(x_T ** 2) / state`` of the initial
    state.

    Returns
    -------
    (Function, ndarray)
        The function of the initial state, and a point (``F`` plus a small perturbation).

    Examples
    --------
    >>> import diffkit as dk
    >>> f, x0 = lorenz96(8, 100, checkpoints=3)
    >>> g = dk.gradient(f, x0, method="reverse-mode")
    >>> g.shape
    (8,)
    """
    step = lorenz96_step(dt, forcing)

    def f(x: Any) -> Any:
        return dnp.sum(loop(step, x, steps, checkpoints=checkpoints) ** 2) / state

    label = schedule_label(checkpoints)
    x0 = forcing + 0.01 * np.sin(np.arange(state, dtype=float))
    return Function(f, name=f"lorenz96(n={state}, T={steps}, {label})"), x0


FAMILIES: dict[str, Callable[..., tuple[Function, np.ndarray]]] = {"lorenz96": lorenz96}
"""Loop families: ``name -> build(state, steps, checkpoints) -> (Function, point)``."""


def schedule_label(checkpoints: Any) -> str:
    """``"tape"``, ``"sqrt"`` or ``"revolve c=5"``: how the study names a schedule."""
    if checkpoints is None:
        return "tape"
    if checkpoints == "sqrt":
        return "sqrt"
    return f"revolve c={checkpoints}"


@dataclass(frozen=True, eq=False)
class MemoryResult:
    """Memory and time of a gradient through a loop, per configuration and loop length.

    Attributes
    ----------
    family : str
    state : int
        Size of the loop's state (and of the gradient).
    steps : ndarray of int
        The loop lengths ``T``.
    configs : tuple of str
        ``"tape"``, ``"sqrt"``, ``"revolve c=..."`` (reverse mode) and method names.
    peak_bytes, seconds, evaluations, recomputed, snapshots, tape_bytes, difference :
        dict of str -> ndarray
        Per configuration and ``T``: peak allocation during one gradient (tracemalloc);
        median seconds of a gradient; loop steps evaluated (for a method that re-runs the
        function, all its evaluations); of those, recomputed by a reverse sweep; most
        snapshots held; the meter's peak tape bytes (reverse mode); and
        ``max |g - g_tape| / max |g_tape|``, the difference from the plain tape's gradient.
        NaN where skipped.
    f_seconds : ndarray
        Median seconds of one plain evaluation, per ``T``.
    status : dict of str -> list of str
    notes : list of str
    """

    family: str
    state: int
    steps: np.ndarray
    configs: tuple[str, ...]
    peak_bytes: dict[str, np.ndarray]
    seconds: dict[str, np.ndarray]
    evaluations: dict[str, np.ndarray]
    recomputed: dict[str, np.ndarray]
    snapshots: dict[str, np.ndarray]
    tape_bytes: dict[str, np.ndarray]
    difference: dict[str, np.ndarray]
    f_seconds: np.ndarray
    status: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)

    def ratios(self, config: str, base: str = "tape") -> tuple[np.ndarray, np.ndarray]:
        """``(peak memory, time)`` of ``config`` divided by those of ``base``, per ``T``."""
        return (self.peak_bytes[config] / self.peak_bytes[base],
                self.seconds[config] / self.seconds[base])

    def to_markdown(self) -> str:
        """One row per (configuration, T), with memory and time relative to the tape."""
        lines = ["| configuration | T | peak bytes | / tape | seconds | / tape | steps run | "
                 "recomputed | snapshots | vs tape | status |", "|---|" + "---|" * 10]

        def num(v: float, spec: str) -> str:
            return "—" if not np.isfinite(v) else format(v, spec)

        for c in self.configs:
            mem, sec = self.ratios(c) if "tape" in self.configs else (
                np.full(self.steps.shape, np.nan),) * 2
            for i, t in enumerate(self.steps):
                lines.append(
                    f"| {c} | {int(t)} | {num(self.peak_bytes[c][i], ',.0f')} | "
                    f"{num(mem[i], '.3f')} | {num(self.seconds[c][i], '.3g')} | "
                    f"{num(sec[i], '.2f')} | {num(self.evaluations[c][i], ',.0f')} | "
                    f"{num(self.recomputed[c][i], ',.0f')} | {num(self.snapshots[c][i], '.0f')}"
                    f" | {num(self.difference[c][i], '.1e')} | {self.status[c][i]} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        def clean(a: np.ndarray) -> list[Any]:
            return [None if not np.isfinite(v) else float(v) for v in a]

        fields = ("peak_bytes", "seconds", "evaluations", "recomputed", "snapshots",
                  "tape_bytes", "difference")
        return {"family": self.family, "state": self.state,
                "steps": [int(t) for t in self.steps], "f_seconds": clean(self.f_seconds),
                "configs": {c: {**{k: clean(getattr(self, k)[c]) for k in fields},
                                "status": list(self.status[c])} for c in self.configs},
                "notes": list(self.notes)}

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Memory (or time, or both) versus ``T``; see :func:`diffkit.plotting.plot_memory`."""
        return plot_memory(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return (f"MemoryResult({self.family!r}, state={self.state}, "
                f"steps={self.steps.tolist()}, configs={self.configs})")


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t0


def _median_time(call: Callable[[], Any], repeat: int, budget: float,
                 first: float | None = None) -> float:
    """Median seconds of up to ``repeat`` calls (``first``: one already timed), stopping
    once they took ``budget`` seconds."""
    times: list[float] = [] if first is None else [first]
    while len(times) < repeat and (not times or sum(times) < budget):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _peak(call: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        call()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def memory(family: str = "lorenz96", steps: Sequence[int] = (100, 300, 1000, 3000),
           state: int = 32, schedules: Sequence[Any] = (None, "sqrt", 2, 5, 20),
           methods: Sequence[Any] = ("forward-mode", "central-difference"), *,
           repeat: int = 3, budget: float = 5.0, progress: Any = None) -> MemoryResult:
    """Peak memory and time of a gradient through a loop, versus the loop's length.

    Parameters
    ----------
    family : {"lorenz96"}
        The loop (:data:`FAMILIES`; :func:`lorenz96`: explicit Euler on Lorenz-96).
    steps : sequence of int
        Loop lengths ``T >= 1``.
    state : int
        Size of the state, which is also the number of inputs (forward mode pushes that many
        tangent directions; finite differences make about twice as many evaluations).
    schedules : sequence of None, "sqrt" or int
        Reverse-mode configurations: ``None`` is the plain tape (measured first: the others
        are reported relative to it), ``"sqrt"`` and integers ``c`` checkpoint the loop
        (:func:`diffkit.loop`).
    methods : sequence of str or Method
        Methods that keep no tape, measured on the same function (their gradient is
        computed with the plain loop; checkpoints change nothing for them).
    repeat : int
        Timed calls per point at most (the median is reported); calls stop once they took
        ``budget`` seconds.
    budget : float
        Seconds one call may take: a configuration whose next ``T`` is predicted (linearly
        from its last point) to exceed it is skipped there, with a status. Peak memory is
        measured on one more call (under tracemalloc, several times slower).
    progress : callable, optional
        Called with ``(configuration, T)`` after each measurement.

    Returns
    -------
    MemoryResult

    Examples
    --------
    >>> import diffkit as dk
    >>> r = dk.analysis.memory(steps=[50, 100], state=8, schedules=[None, 3],
    ...                        methods=[], repeat=1)
    >>> r.recomputed["revolve c=3"].tolist()  # r T - C(c + r, c + 1)
    [180.0, 490.0]
    >>> bool((r.peak_bytes["revolve c=3"] < r.peak_bytes["tape"]).all())
    True
    """
    if family not in FAMILIES:
        raise UnknownMethodError(f"memory(family={family!r}): unknown family; choose from "
                                 f"{', '.join(repr(k) for k in FAMILIES)}")
    try:
        steps_arr = np.asarray(list(steps))
    except TypeError:
        raise PointError(f"memory(steps={steps!r}): pass a sequence of integers") from None
    if steps_arr.size == 0 or steps_arr.dtype.kind not in "iu" or np.any(steps_arr < 1):
        raise PointError(f"memory(steps={steps!r}): loop lengths must be integers >= 1, "
                         f"e.g. [100, 1000]")
    if isinstance(state, bool) or not isinstance(state, (int, np.integer)) or state < 3:
        raise PointError(f"memory(state={state!r}): the state size must be an integer >= 3")
    if not isinstance(repeat, (int, np.integer)) or repeat < 1:
        raise PointError(f"memory(repeat={repeat!r}): must be a positive integer")
    build = FAMILIES[family]
    schedules = list(schedules)
    if None in schedules:  # the plain tape first: the others are read against it
        schedules.remove(None)
        schedules.insert(0, None)
    resolved = {}
    for m in methods:
        obj = _methods.get(m)
        resolved[m if isinstance(m, str) else obj.name] = obj
    configs = [schedule_label(s) for s in schedules] + list(resolved)
    shape = steps_arr.shape
    out = {k: {c: np.full(shape, np.nan) for c in configs}
           for k in ("peak", "seconds", "evals", "recomputed", "snapshots", "tape", "diff")}
    status = {c: ["" for _ in steps_arr] for c in configs}
    f_seconds = np.full(shape, np.nan)
    seen: dict[str, tuple[int, float]] = {}
    notes = [f"{family}: state of {state} float64, gradient with respect to the initial "
             f"state; tracemalloc peak of one gradient; median of up to {repeat} calls"]

    def skip(c: str, i: int, t: int) -> bool:
        last = seen.get(c)
        if last is not None and last[1] * t / last[0] > budget:
            status[c][i] = f"skipped: about {last[1] * t / last[0]:.0f} s predicted"
            return True
        return False

    for i, t in enumerate(steps_arr.tolist()):
        plain, x0 = build(state, t, None)
        f_seconds[i] = _median_time(lambda plain=plain, x0=x0: plain.fn(x0), max(repeat, 3),
                                    budget)
        g_tape = None
        for sched, c in zip(schedules, configs, strict=False):
            if skip(c, i, t):
                continue
            spec, x = build(state, t, sched)

            def call(spec: Any = spec, x: Any = x) -> Any:
                return reverse.value_and_gradient(spec.fn, x)

            (_, g), first = _timed(call)
            seconds = _median_time(call, repeat, budget, first)
            g = np.asarray(g)
            with meter() as m:
                r = _methods.get("reverse-mode").gradient(spec, x)
            peak = _peak(call)
            if sched is None:
                g_tape = g
            out["seconds"][c][i] = seconds
            out["peak"][c][i] = peak
            out["evals"][c][i] = m.steps
            out["recomputed"][c][i] = m.recomputed
            out["snapshots"][c][i] = m.snapshots
            out["tape"][c][i] = r.info["peak_nbytes"]
            if g_tape is not None:
                out["diff"][c][i] = float(np.max(np.abs(g - g_tape)) / np.max(np.abs(g_tape)))
            status[c][i] = "ok"
            seen[c] = (t, seconds)
            if progress is not None:
                progress(c, t)
        for c, method in resolved.items():
            if skip(c, i, t):
                continue

            def run(method: Any = method, plain: Any = plain, x0: Any = x0) -> Any:
                return method.gradient(plain, x0)

            try:
                with meter() as m:
                    res, first = _timed(run)
            except (DiffkitError, ArithmeticError) as exc:
                status[c][i] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
                continue
            seconds = _median_time(run, repeat, budget, first)
            out["seconds"][c][i] = seconds
            out["peak"][c][i] = _peak(run)
            out["evals"][c][i] = m.steps
            out["recomputed"][c][i] = 0
            out["snapshots"][c][i] = 0
            if g_tape is not None:
                out["diff"][c][i] = float(np.max(np.abs(np.asarray(res.value) - g_tape))
                                          / np.max(np.abs(g_tape)))
            status[c][i] = res.status
            seen[c] = (t, seconds)
            if progress is not None:
                progress(c, t)
    return MemoryResult(family, int(state), steps_arr, tuple(configs), out["peak"],
                        out["seconds"], out["evals"], out["recomputed"], out["snapshots"],
                        out["tape"], out["diff"], f_seconds, status, notes)
