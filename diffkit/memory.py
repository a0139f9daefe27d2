"""What reverse mode holds: a meter for tape bytes, snapshots and recomputed steps.

Reverse mode stores intermediates until the sweep; checkpointing (:func:`diffkit.checkpoint`,
:func:`diffkit.loop`) stores a few states instead and recomputes the rest. A :class:`Meter`
made active by :func:`meter` counts what that costs, as diffkit runs:

* ``steps``: steps run by :func:`diffkit.loop` (in every interpreter), and ``recomputed``:
  those run while a reverse sweep re-ran a checkpoint;
* ``snapshots``: the most checkpointed states held at one time;
* ``tape_nbytes``: the bytes the recorded tape holds when the sweep starts, and
  ``peak_nbytes``: the most bytes held by tapes at one time, the tapes a sweep records while
  re-running checkpoints included. Each tape is counted whole while it is alive, so when a
  sweep frees records as it goes (a gradient) this bounds the peak from above.

``ReverseMode`` results carry these in ``info``, and :func:`diffkit.trace` on its
:class:`~diffkit.trace.EvaluationTrace`; ``tracemalloc`` measures the process's real peak
(:func:`diffkit.analysis.memory`).

This module imports nothing of diffkit; the reverse engine and the checkpoints report to it.

Examples
--------
>>> import numpy as np, diffkit as dk
>>> from diffkit.methods import reverse
>>> f = lambda x: dk.loop(lambda s: s * 0.5 + 1.0, x, 100, checkpoints=5).sum()
>>> with dk.memory.meter() as m:
...     g = reverse.gradient(f, np.ones(3))
>>> m.steps, m.recomputed, m.snapshots
(416, 316, 5)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Meter", "current", "meter"]


class Meter:
    """Counts of one measured computation (see the module's docstring).

    Attributes
    ----------
    steps : int
        Loop steps evaluated (:func:`diffkit.loop`).
    recomputed : int
        Loop steps evaluated while a reverse sweep re-ran a checkpoint.
    snapshots : int
        Most checkpointed states held at one time.
    checkpoints : int
        Checkpoint calls recorded on a tape (each holds one snapshot).
    tape_nbytes : int
        Bytes held by the recorded tape when its sweep starts (reported by the engine).
    peak_nbytes : int
        Most bytes held by tapes at one time.

    Notes
    -----
    Tapes are measured by :meth:`~diffkit.methods.reverse.ReverseTrace.nbytes_by_record`
    (the values the VJPs read). While a sweep re-runs the checkpoint recorded at entry ``i``
    of a tape, that tape is counted up to entry ``i``: the entries after it were swept, and a
    sweep that consumes its tape (a gradient; every re-run's own sweep) has freed them. A
    tape swept several times (a Jacobian) is counted whole.
    """

    __slots__ = ("_depth", "_frames", "_held", "_where", "checkpoints", "peak_nbytes",
                 "recomputed", "snapshots", "steps", "tape_nbytes")

    def __init__(self) -> None:
        self.steps = 0
        self.recomputed = 0
        self.snapshots = 0
        self.checkpoints = 0
        self.tape_nbytes = 0
        self.peak_nbytes = 0
        self._depth = 0  # checkpoints being re-run by a sweep, nested
        self._held: dict[Any, int] = {}  # snapshot key -> checkpoint records holding it
        self._where: dict[Any, list[tuple[int, int]]] = {}  # key -> (tape id, entry), latest last
        # tapes alive, outermost first: [tape id, cumulative bytes by entry or None, bytes]
        self._frames: list[list[Any]] = []

    # --- reports from diffkit
    def ran(self, n: int) -> None:
        """``n`` loop steps were evaluated."""
        self.steps += n
        if self._depth:
            self.recomputed += n

    def hold(self, key: Any, tape: Any = None, entry: int = -1) -> None:
        """A checkpoint record, entry ``entry`` of ``tape``, now holds the state ``key``."""
        self.checkpoints += 1
        self._held[key] = self._held.get(key, 0) + 1
        self.snapshots = max(self.snapshots, len(self._held))
        if tape is not None:
            self._where.setdefault(key, []).append((id(tape), entry))

    def release(self, key: Any) -> None:
        """A checkpoint record holding ``key`` was swept."""
        n = self._held.get(key, 0) - 1
        if n > 0:
            self._held[key] = n
        else:
            self._held.pop(key, None)
        where = self._where.get(key)
        if where:
            where.pop()
            if not where:
                del self._where[key]

    def tape(self, trace: Any, consumed: bool = True) -> None:
        """The recorded tape ``trace`` is about to be swept (once, freeing its entries as it
        goes, when ``consumed``; else kept whole)."""
        cum = list(itertools.accumulate(trace.nbytes_by_record())) or [0]
        self.tape_nbytes = max(self.tape_nbytes, cum[-1])
        if self._depth:  # a gradient taken inside a sweep: a tape beside the others
            self.peak_nbytes = max(self.peak_nbytes, cum[-1] + sum(f[2] for f in self._frames))
            return
        self._frames = [[id(trace), cum if consumed else None, cum[-1]]]
        self._peak()

    def enter(self, key: Any) -> None:
        """A sweep starts re-running the checkpoint that holds ``key``."""
        where = self._where.get(key)
        if where:
            tape, entry = where[-1]
            for frame in self._frames:
                if frame[0] == tape and frame[1] is not None:
                    frame[2] = frame[1][entry]  # what the sweep has not reached yet
        self._depth += 1
        self._frames.append([None, None, 0])

    def recorded(self, trace: Any, seen: set[int], extra: int = 0) -> None:
        """The re-run recorded ``trace`` (``seen``: ids of values counted already, such as
        the snapshot it started from), beside ``extra`` bytes of snapshots of its own; its
        sweep frees its entries as it goes."""
        cum = [extra + b for b in itertools.accumulate(trace.nbytes_by_record(seen))]
        cum = cum or [extra]
        self._frames[-1] = [id(trace), cum, cum[-1]]
        self._peak()

    def leave(self) -> None:
        """The re-run's sweep is over; its tape is freed."""
        self._depth -= 1
        self._frames.pop()

    def _peak(self) -> None:
        self.peak_nbytes = max(self.peak_nbytes, sum(f[2] for f in self._frames))

    @property
    def active(self) -> bool:
        """Whether a sweep is re-running a checkpoint now."""
        return self._depth > 0

    def merge(self, other: Meter) -> None:
        """Add the counts of a nested meter (its peaks are peaks of this one too)."""
        self.steps += other.steps
        self.recomputed += other.recomputed
        self.checkpoints += other.checkpoints
        self.snapshots = max(self.snapshots, other.snapshots)
        self.tape_nbytes = max(self.tape_nbytes, other.tape_nbytes)
        self.peak_nbytes = max(self.peak_nbytes, other.peak_nbytes)

    def info(self) -> dict[str, int]:
        """The counts as a dict (what ``ReverseMode`` puts in a result's ``info``)."""
        return {"peak_nbytes": self.peak_nbytes, "snapshots": self.snapshots,
                "steps": self.steps, "recomputed": self.recomputed,
                "checkpoints": self.checkpoints}

    def __repr__(self) -> str:
        return "Meter(" + ", ".join(f"{k}={v}" for k, v in self.info().items()) + ")"


_ACTIVE: list[Meter] = []


def current() -> Meter | None:
    """The innermost active meter, or None (then nothing is counted)."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextmanager
def meter() -> Iterator[Meter]:
    """Count, inside the block, what reverse mode and checkpointing hold and recompute.

    Meters nest: an inner meter's counts are added to the outer one when it closes.

    Yields
    ------
    Meter
    """
    m = Meter()
    _ACTIVE.append(m)
    try:
        yield m
    finally:
        _ACTIVE.pop()
        if _ACTIVE:
            _ACTIVE[-1].merge(m)
