"""Soak test: every method against the exact gradient on many random programs.

The property of ``tests/test_agreement.py``, run long: draws ``--examples`` programs from
``tests.strategies.programs`` and records every disagreement (no shrinking, no stopping), then
prints a summary and the counterexamples as ``(formula, point)`` lines ready to pin in
``tests/test_agreement.py::REGRESSIONS``.

    python benchmarks/soak_agreement.py --examples 100000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="", help="comma-separated subset of methods")
    parser.add_argument("--out", default="", help="write counterexamples as JSON lines here")
    args = parser.parse_args(argv)

    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from tests.strategies import programs
    from tests.test_agreement import disagreements, method_names

    names = [m for m in args.methods.split(",") if m] or method_names()
    found: list[tuple[str, list[float], list[str]]] = []
    by_method: collections.Counter[str] = collections.Counter()
    count = [0]
    start = time.perf_counter()
    out = open(args.out, "w") if args.out else None

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(prog):  # type: ignore[no-untyped-def]
        count[0] += 1
        problems = disagreements(prog, names)
        if problems:
            point = np.atleast_1d(prog.point).tolist()
            found.append((prog.text, point, problems))
            for p in problems:
                by_method[p.split(" ", 1)[0]] += 1
            if out is not None:
                out.write(json.dumps({"text": prog.text, "point": point,
                                      "analytic": prog.analytic, "problems": problems}) + "\n")
                out.flush()
        if count[0] % 500 == 0:
            rate = count[0] / (time.perf_counter() - start)
            print(f"  {count[0]} examples, {len(found)} with disagreements "
                  f"{dict(by_method)}, {rate:.1f}/s", file=sys.stderr, flush=True)

    run()
    elapsed = time.perf_counter() - start
    print(f"methods: {', '.join(names)}")
    print(f"examples: {count[0]} in {elapsed:.0f} s; programs with a disagreement: "
          f"{len(found)}; by method: {dict(by_method)}")
    for text, point, problems in found[:50]:
        print(f"({text!r}, {point!r}),")
        for p in problems:
            print("    # " + p.splitlines()[0][:200])
    if out is not None:
        out.close()
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Soak: property-based agreement of every method"))
