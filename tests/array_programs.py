"""Random array programs: slices, reversals, fancy indices, reshapes, joins, cumulative sums,
reductions, broadcasting with a scalar entry, where and maximum, over a DAG of intermediates
(each step reads any earlier value, so values are shared and their cotangents accumulate).

Where :mod:`tests.strategies` draws scalar expressions, these exercise what array code does
to a reverse sweep: sparse cotangents added into one array, views, cotangents passed on
unchanged, sums broadcast back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import diffkit.numpy as dnp

SIZE = 8
"""Length of the point."""

POINTS = (np.linspace(-0.8, 0.9, SIZE), np.linspace(-0.7, 1.0, SIZE) ** 3,
          np.linspace(0.1, 0.2, SIZE))
"""Three points per program (the second and third run the cached program, or re-trace)."""


def array_program(seed: int) -> Callable[[Any], Any]:
    """A scalar function of an array of :data:`SIZE` entries, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    steps = [(int(rng.integers(0, 15)), int(rng.integers(0, 1000)), int(rng.integers(0, 1000)),
              float(rng.uniform(0.5, 1.5))) for _ in range(int(rng.integers(3, 14)))]

    def f(x: Any) -> Any:
        vals = [x]
        for op, i, j, c in steps:
            a, b = vals[i % len(vals)], vals[j % len(vals)]
            vals.append(_step(op, a, b, c))
        return dnp.sum(vals[-1] ** 2) + 0.1 * dnp.sum(vals[len(vals) // 2])

    return f


def _step(op: int, a: Any, b: Any, c: float) -> Any:
    n, m = a.shape[0], b.shape[0]
    if op == 0:
        return a[1:] if n > 2 else a * c
    if op == 1:
        return a[:-1] if n > 2 else a + c
    if op == 2:
        return dnp.sin(a) * c
    if op == 3:
        return a * b if a.shape == b.shape else a * c
    if op == 4:
        return a + b if a.shape == b.shape else a - c
    if op == 5:
        return dnp.tanh(a) - b[0]  # a scalar entry broadcast against an array
    if op == 6:
        return a[::-1] * c
    if op == 7:
        return dnp.concatenate([a, b]) if n + m <= 24 else a * a
    if op == 8:
        return dnp.reshape(a, (-1, 2)).sum(axis=1) if n % 2 == 0 else a ** 2
    if op == 9:
        return dnp.maximum(a, c * 0.3) + a
    if op == 10:
        return dnp.where(a > 0.2, a, b[:n] if m >= n else a * 2.0)
    if op == 11:
        return a[[0, -1, 0]] * c  # a fancy index that repeats an entry
    if op == 12:
        return dnp.cumsum(a) * 0.1
    if op == 13:
        return dnp.exp(-a * a) * dnp.sum(b)
    return a - dnp.mean(a)
