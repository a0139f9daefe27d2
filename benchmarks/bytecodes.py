"""Python bytecodes the tape executes per call: a figure the machine's speed does not move.

Run: ``python benchmarks/bytecodes.py`` (``--markdown PATH`` saves the table). Timings on a
shared machine drift by 1.5-2x within minutes; the number of bytecodes CPython executes for
one call is the same on every run (``sys.settrace`` with opcode events counts them), so two
checkouts compare exactly: ``python benchmarks/against.py OTHER_TREE bytecodes.py``. Work in
C is not counted -- numpy's, and the interpreter's own allocations and garbage collection: the
tape's spare records, say, cost bytecodes (~20 a record) to save an allocation and the
collector's passes over thousands of live records. Read these counts beside the timings
(``reverse.py``), not instead of them.

Rows: the engine's ``value_and_gradient`` and the public ``dk.gradient`` on Rosenbrock at
n = 1e3 and on the logistic map (100 steps, 300 scalar operations, per operation), each split
into the recording (the operators and ``dnp`` calls), the sweep and the rest.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from collections.abc import Callable
from typing import Any

# DIFFKIT_TREE: another checkout to measure (benchmarks/against.py pairs two trees)
sys.path.insert(0, os.environ.get("DIFFKIT_TREE")
                or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.methods import reverse as rev

# (the names before the architecture issue, for measuring an older tree beside this one)
value_and_gradient = getattr(rev, "value_and_gradient", None) or rev.value_and_grad


def rosen(x: Any) -> Any:
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


STEPS = 100


def logistic(x: Any) -> Any:
    for _ in range(STEPS):
        x = 4.0 * x * (1.0 - x)
    return x


def count(call: Callable[[], Any]) -> dict[str, int]:
    """Bytecodes executed by ``call()``: in all, and in the sweep (frames of ``sweep`` and
    what it calls), the rest split by the frame's module."""
    call()
    call()  # warm: caches, remembered choices
    parts: collections.Counter[str] = collections.Counter()
    depth = [0]  # frames inside the sweep

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "call" and frame.f_code.co_name == "sweep":
            depth[0] += 1
        elif event == "return" and frame.f_code.co_name == "sweep":
            depth[0] -= 1
        elif event == "opcode":
            parts["sweep" if depth[0] else "other"] += 1
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    parts["all"] = parts["sweep"] + parts["other"]
    return dict(parts)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    x = np.linspace(-1.0, 2.0, 1000)
    cases = [
        ("Rosenbrock n = 1e3, engine value_and_gradient", 1,
         lambda: value_and_gradient(rosen, x)),
        ("Rosenbrock n = 1e3, dk.gradient(method='reverse-mode')", 1,
         lambda: dk.gradient(rosen, x, method="reverse-mode")),
        ("logistic map, engine value_and_gradient, per operation", 3 * STEPS,
         lambda: value_and_gradient(logistic, 0.3)),
    ]
    lines = ["| call | all | sweep | recording and the rest |", "|---|---|---|---|"]
    for label, per, call in cases:
        c = count(call)
        lines.append(f"| {label} | {c['all'] / per:.1f} | {c['sweep'] / per:.1f} | "
                     f"{c['other'] / per:.1f} |")
    print("\n".join(lines))  # (--markdown PATH: benchmarks/_markdown.py saves it)
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Bytecodes per call"))
