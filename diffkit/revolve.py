"""Checkpointing schedules: which states a reverse sweep keeps and which steps it recomputes.

Reverse mode over a loop of ``T`` steps keeps every step's intermediates until the sweep.
A *checkpointing schedule* keeps a few states (snapshots) instead and recomputes the rest
during the sweep. This module is the arithmetic of the schedules :func:`diffkit.loop` runs,
and a simulation of them as a list of actions (for the time/step diagram of
:func:`diffkit.plotting.plot_schedule`); it holds no arrays and imports nothing of diffkit.

A schedule is a :class:`Plan`: the loop is recorded as a chain of *pieces* — each a
checkpoint holding only the state it starts from — followed by a *tail* of steps taped as a
plain loop would tape them. During the sweep the tail is swept first; then each piece, last
first, is re-run from its snapshot on a fresh tape under its own plan, and swept.

* ``checkpoints=None``: no pieces, every step taped (memory ``O(T)``).
* ``checkpoints="sqrt"``: pieces of ``ceil(sqrt(T))`` steps re-run as plain tapes; the last
  segment is the tail (the segment-wise scheme of ``jax.checkpoint`` and
  ``torch.utils.checkpoint.checkpoint_sequential``): ``O(sqrt T)`` snapshots and steps taped
  at once, ``T - tail`` steps recomputed.
* ``checkpoints=c``: the binomial schedule of Griewank & Walther (revolve) with ``c``
  snapshots, the starting state counted among them. The chain advances ``m`` steps into a
  piece that will be reversed with ``c`` snapshots, then the remaining ``T - m`` steps are
  reversed with ``c - 1``; the tail is the last step alone.

Counting convention. With ``r`` the least integer such that ``C(c + r, c) >= T``, revolve
reverses ``T`` steps with at least ``r T - C(c + r, c + 1)`` *advances*: step evaluations
whose intermediates are not kept (the first sweep from the start to step ``T - 1`` included),
beside the ``T`` taped evaluations every reversal needs (revolve's ``youturn`` steps).
diffkit's recording pass is that first sweep (its pieces run the steps without taping them,
its tail tapes the last one), so the steps a reverse sweep *recomputes* — evaluations after
the program was recorded — number exactly the optimal advances, and a gradient through the
loop evaluates ``T + r T - C(c + r, c + 1)`` steps in all.

References
----------
A. Griewank, A. Walther, "Algorithm 799: revolve: an implementation of checkpointing for the
reverse or adjoint mode of computational differentiation", ACM TOMS 26 (2000), 19-45.
A. Griewank, A. Walther, *Evaluating Derivatives*, 2nd ed., SIAM (2008), chapter 12.

Examples
--------
>>> repetitions(10_000, 20), recomputations(10_000, 20)
(4, 37976)
>>> plan(10, 3).pieces, plan(10, 3).tail
(((4, 3), (3, 2), (2, 1)), 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Action",
    "Plan",
    "plan",
    "recomputations",
    "repetitions",
    "schedule",
    "split",
    "sqrt_segment",
]


def _check(steps: Any, snapshots: Any) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r}: pass a non-negative integer")
    if isinstance(snapshots, bool) or not isinstance(snapshots, int) or snapshots < 1:
        raise ValueError(f"snapshots={snapshots!r}: pass a positive integer")


def repetitions(steps: int, snapshots: int) -> int:
    """The least ``r`` with ``C(snapshots + r, snapshots) >= steps``.

    Revolve's *repetition number*: with ``snapshots`` states kept, no step is evaluated more
    than ``r`` times without being taped (and ``r + 1`` times in all, the taped evaluation
    included). It grows like ``log T`` for fixed ``c`` (like ``T^(1/c)``, more precisely).

    Examples
    --------
    >>> [repetitions(t, 2) for t in (1, 3, 6, 10)]
    [0, 1, 2, 3]
    """
    _check(steps, snapshots)
    if snapshots == 1:
        return max(steps - 1, 0)
    hi = 1
    while math.comb(snapshots + hi, snapshots) < steps:
        hi *= 2
    lo = 0  # C(c + lo, c) may be < steps; C(c + hi, c) >= steps: bisect
    while lo < hi:
        mid = (lo + hi) // 2
        if math.comb(snapshots + mid, snapshots) >= steps:
            hi = mid
        else:
            lo = mid + 1
    return lo


def recomputations(steps: int, snapshots: int) -> int:
    """Minimal number of advances to reverse ``steps`` steps with ``snapshots`` snapshots.

    ``r T - C(c + r, c + 1)`` with ``r = repetitions(T, c)`` (Griewank & Walther): the step
    evaluations whose intermediates are not kept, counting the first sweep to step ``T - 1``
    and not the ``T`` taped evaluations. It is what :func:`diffkit.loop` with
    ``checkpoints=c`` recomputes during a reverse sweep (see the module's counting note).

    Examples
    --------
    >>> recomputations(1, 5), recomputations(5, 5), recomputations(5, 1)
    (0, 4, 10)
    """
    r = repetitions(steps, snapshots)
    return r * steps - math.comb(snapshots + r, snapshots + 1)


def split(steps: int, snapshots: int) -> int:
    """How far the binomial schedule advances before its next snapshot (``steps >= 2``).

    Reversing ``T`` steps from a snapshot with ``c`` snapshots costs
    ``m + t(m, c) + t(T - m, c - 1)`` advances when the state after ``m`` steps is the next
    snapshot (``t`` the optimal count of :func:`recomputations`). That is optimal exactly for
    ``max(C(c+r-2, c), T - C(c+r-1, c-1)) <= m <= min(C(c+r-1, c), T - C(c+r-2, c-1))``
    (``t`` is convex and piecewise linear in ``T`` with slope ``r`` on
    ``(C(c+r-1, c), C(c+r, c)]``; Pascal's rule joins the two pieces); this returns the
    largest such ``m``. ``tests/test_checkpointing.py`` checks the range against a
    brute-force search.

    Examples
    --------
    >>> split(10, 3), split(6, 2), split(3, 1)
    (4, 3, 2)
    """
    _check(steps, snapshots)
    if steps < 2:
        raise ValueError(f"split(steps={steps}): a split needs at least 2 steps")
    c = snapshots
    r = repetitions(steps, c)
    return min(math.comb(c + r - 1, c), steps - math.comb(c + r - 2, c - 1))


def sqrt_segment(steps: int) -> int:
    """Length of the segments of the ``"sqrt"`` schedule: ``ceil(sqrt(steps))``."""
    return max(1, math.isqrt(max(steps - 1, 0)) + 1) if steps > 1 else 1


@dataclass(frozen=True)
class Plan:
    """How one recording runs ``steps`` steps.

    Attributes
    ----------
    steps : int
    pieces : tuple of (int, int or None)
        Checkpointed pieces in order: ``(length, snapshots)``, where ``snapshots`` is the plan
        its reverse sweep re-runs it under (an int: the binomial schedule; ``None``: a plain
        tape).
    tail : int
        Steps taped directly after the pieces.
    """

    steps: int
    pieces: tuple[tuple[int, int | None], ...]
    tail: int


def plan(steps: int, checkpoints: Any = None) -> Plan:
    """The recording plan of ``steps`` steps under ``checkpoints`` (None, "sqrt" or c >= 1).

    Examples
    --------
    >>> plan(10, "sqrt")
    Plan(steps=10, pieces=((4, None), (4, None)), tail=2)
    >>> plan(10, None).tail
    10
    """
    if checkpoints is None or steps <= 1:
        return Plan(steps, (), steps)
    if checkpoints == "sqrt":
        seg = sqrt_segment(steps)
        n = (steps - 1) // seg  # full segments before the last (non-empty) one
        return Plan(steps, ((seg, None),) * n, steps - n * seg)
    _check(steps, checkpoints)
    pieces = []
    t, c = steps, checkpoints
    while t > 1:
        m = split(t, c)
        pieces.append((m, c))
        t -= m
        c -= 1
    return Plan(steps, tuple(pieces), t)


# ============================================================================ simulation


@dataclass(frozen=True)
class Action:
    """One event of a reversal, in the order it happens.

    Attributes
    ----------
    kind : str
        ``"advance"`` (step ``step`` evaluated, nothing kept), ``"taped"`` (evaluated on a
        tape), ``"reverse"`` (its VJP applied), ``"snapshot"`` (state ``step`` kept by a
        checkpoint), ``"restore"`` (a sweep re-runs from state ``step``) or ``"release"``
        (the snapshot of state ``step`` is no longer needed).
    step : int
        The step ``k`` (from state ``k`` to ``k + 1``) or the state ``k``.
    sweep : bool
        Whether it happens during the reverse sweep (after the program was recorded).
    """

    kind: str
    step: int
    sweep: bool


def schedule(steps: int, checkpoints: Any = None) -> list[Action]:
    """Every action of a gradient through a loop of ``steps`` steps, in order.

    The simulation of what :func:`diffkit.loop` does (``tests/test_checkpointing.py`` runs
    the loop with a step that logs itself and compares). Recording runs the plan: for each
    piece a snapshot, then advances; then the tail, taped. The sweep reverses the tail; then,
    last piece first, restores a piece's snapshot and runs the piece's own plan the same way
    (advancing and snapshotting, taping its tail and reversing it), with its pieces pending
    before the rest: an explicit stack, so no step of the reversal nests inside another.

    Examples
    --------
    >>> [(a.kind, a.step) for a in schedule(3, 1) if a.kind in ("advance", "taped")]
    [('advance', 0), ('advance', 1), ('taped', 2), ('advance', 0), ('taped', 1), ('taped', 0)]
    """
    out: list[Action] = []

    def expand(start: int, p: Plan, sweep: bool) -> list[tuple[int, int, int | None]]:
        """Record plan ``p`` from state ``start``; in a sweep, also reverse its tail."""
        pieces = []
        k = start
        for length, snaps in p.pieces:
            out.append(Action("snapshot", k, sweep))
            pieces.append((k, length, snaps))
            out.extend(Action("advance", k + j, sweep) for j in range(length))
            k += length
        out.extend(Action("taped", k + j, sweep) for j in range(p.tail))
        return pieces

    top = plan(steps, checkpoints)
    pending = [expand(0, top, False)]
    end = steps
    out.extend(Action("reverse", end - 1 - j, True) for j in range(top.tail))
    while pending:
        if not pending[-1]:
            pending.pop()
            continue
        k, length, snaps = pending[-1].pop()
        out.append(Action("restore", k, True))
        inner = plan(length, snaps)
        pieces = expand(k, inner, True)
        out.append(Action("release", k, True))  # the re-run's first piece holds it now
        end = k + length
        out.extend(Action("reverse", end - 1 - j, True) for j in range(inner.tail))
        pending.append(pieces)
    return out
