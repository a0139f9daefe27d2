"""Soak test: forward mode against reverse mode on many random programs.

Draws ``--examples`` programs from ``tests.strategies`` (the registry programs of
``programs()`` and, one in four, the where-guarded programs of ``guarded_programs()``) and, on
each, computes through the public calls:

- the gradient by vector forward mode (``ForwardMode()``: every direction in one pass), by
  scalar forward mode (``ForwardMode(chunk=1)``: one pass per coordinate) and by reverse mode;
- the Hessian by vector forward-over-reverse, by scalar forward-over-reverse, and by reverse
  mode (reverse-over-reverse).

A disagreement is any pair that differs by more than ``rtol`` times the scale of the terms
the chain rule adds (the mpmath reference's absolute-value chain rule, so cancellation does
not make rounding look like an error), or one method raising where another returns. Errors
raised by all methods alike (a point where the derivative is not finite) agree. Every
disagreement is printed as ``(formula, point)``, no shrinking, no stopping.

    python benchmarks/soak_modes.py --examples 20000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RTOL = 1e-12  # gradients: forward and reverse add the same products in another order
HESSIAN_RTOL = 1e-10  # Hessians: one more level of rounding, scaled by max |H| and |grad|


def _run(fn):  # type: ignore[no-untyped-def]
    """``("ok", value)`` or ``("error", exception class name)``."""
    import numpy as np

    try:
        return "ok", np.asarray(fn(), dtype=float)
    except Exception as exc:  # every outcome is compared, errors included
        return "error", type(exc).__name__


def compare(prog) -> list[str]:  # type: ignore[no-untyped-def]
    """Messages of every pair of modes that disagree on ``prog`` (empty: all agree)."""
    import numpy as np

    import diffkit as dk
    from diffkit.methods.forward import ForwardMode

    spec = prog.python_spec()
    x = prog.point
    _, scale = prog.reference()
    magnitude = max(float(np.max(scale, initial=0.0)), 1e-300)
    vector, scalar = ForwardMode(), ForwardMode(chunk=1)
    problems = []
    for op, tol in (("gradient", RTOL), ("hessian", HESSIAN_RTOL)):
        call = getattr(dk, op)
        results = {
            "forward-mode (vector)": _run(lambda call=call: call(spec, x, method=vector)),
            "forward-mode (chunk=1)": _run(lambda call=call: call(spec, x, method=scalar)),
            "reverse-mode": _run(lambda call=call: call(spec, x, method="reverse-mode")),
        }
        (ref_name, (ref_kind, ref)), *others = list(results.items())[::-1]
        for name, (kind, value) in others:
            if kind != ref_kind:
                shown = value if kind == "error" else "a value"
                ref_shown = ref if ref_kind == "error" else "a value"
                problems.append(f"{op}: {name} gave {shown}, {ref_name} gave {ref_shown}")
            elif kind == "error":
                if value != ref:
                    problems.append(f"{op}: {name} raised {value}, {ref_name} raised {ref}")
            else:
                # the terms' scale, or the result's own size where the program's constants
                # are not the exact ones (sinc(3.0) is 3.9e-17 in floats and 0 exactly: the
                # exact terms vanish and 1 ulp of the float result looked like an error)
                size = max(magnitude, float(np.max(np.abs(ref), initial=0.0)))
                err = float(np.max(np.abs(value - ref), initial=0.0))
                if not err <= tol * size:
                    problems.append(f"{op}: {name} differs from {ref_name} by {err:.3g} "
                                    f"(scale {size:.3g}): {value.tolist()} vs {ref.tolist()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from tests.strategies import guarded_programs, programs

    found: list[tuple[str, list[float], list[str]]] = []
    kinds: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    count = [0]
    start = time.perf_counter()

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.integers(0, 3).flatmap(lambda k: guarded_programs() if k == 0 else programs()))
    def run(prog):  # type: ignore[no-untyped-def]
        count[0] += 1
        kinds["guarded" if "where(" in prog.text else "plain"] += 1
        kinds[f"{len(prog.variables)} variable(s)"] += 1
        problems = compare(prog)
        outcomes["disagreement" if problems else "agree"] += 1
        if problems:
            found.append((prog.text, np.atleast_1d(prog.point).tolist(), problems))
        if count[0] % 1000 == 0:
            rate = count[0] / (time.perf_counter() - start)
            print(f"  {count[0]} programs, {len(found)} with disagreements, {rate:.1f}/s",
                  file=sys.stderr, flush=True)

    run()
    elapsed = time.perf_counter() - start
    print(f"programs: {count[0]} in {elapsed:.0f} s ({dict(kinds)}); gradient and Hessian by "
          f"vector forward mode, scalar forward mode (chunk=1) and reverse mode")
    print(f"programs with a disagreement: {len(found)}")
    for text, point, problems in found[:50]:
        print(f"({text!r}, {point!r}),")
        for p in problems:
            print("    # " + p[:300])
    return 0 if not found else 1


if __name__ == "__main__":
    raise SystemExit(main())
