"""Soak test: every method against the exact gradient on many random programs.

The property of ``tests/test_agreement.py``, run long: draws ``--examples`` programs from
``tests.strategies.programs`` for each seed and records every disagreement (no shrinking, no
stopping), then prints a summary per seed and the counterexamples as ``(formula, point)``
lines ready to pin in ``tests/test_agreement.py::REGRESSIONS``.

The run is under a memory limit (``--memory-gb``, default 4, ``resource.setrlimit``): a method
that blows up (the symbolic method building a polynomial of degree 2^52) raises MemoryError,
which is recorded as that program's disagreement -- a counterexample, not a dead machine.

    python benchmarks/soak_agreement.py --examples 100000 --seeds 20261205,1,2
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="programs per seed")
    parser.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds)")
    parser.add_argument("--seeds", default="20261205", help="comma-separated seeds")
    parser.add_argument("--methods", default="", help="comma-separated subset of methods")
    parser.add_argument("--memory-gb", type=float, default=4.0,
                        help="address-space limit of this process (0: none)")
    parser.add_argument("--out", default="", help="write counterexamples as JSON lines here")
    parser.add_argument("--markdown", default="", help="also write the summary here")
    args = parser.parse_args(argv)
    if args.memory_gb > 0:
        limit = int(args.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    from tests.strategies import programs
    from tests.test_agreement import disagreements, method_names

    names = [m for m in args.methods.split(",") if m] or method_names()
    seeds = [args.seed] if args.seed is not None else [int(s) for s in args.seeds.split(",")]
    out = open(args.out, "w") if args.out else None
    summary = [f"methods: {', '.join(names)}; memory limit {args.memory_gb:g} GB", "",
               "| seed | programs | seconds | programs with a disagreement | by method |",
               "|---|---|---|---|---|"]
    found_all: list[tuple[int, str, list[float], list[str]]] = []
    for sd in seeds:
        found: list[tuple[str, list[float], list[str]]] = []
        by_method: collections.Counter[str] = collections.Counter()
        count = [0]
        start = time.perf_counter()
        run = _runner(sd, args.examples, programs, names, disagreements, found, by_method,
                      count, start, out, np)
        run()
        elapsed = time.perf_counter() - start
        summary.append(f"| {sd} | {count[0]} | {elapsed:.0f} | {len(found)} | "
                       f"{dict(by_method) or '—'} |")
        found_all += [(sd, *f) for f in found]
        print(summary[-1], flush=True)
    total = sum(int(line.split("|")[2]) for line in summary[4:])
    summary += ["", f"total: {total} programs, {len(found_all)} with a disagreement"]
    for sd, text, point, problems in found_all[:50]:
        summary.append(f"({text!r}, {point!r}),  # seed {sd}")
        for p in problems:
            summary.append("    # " + p.splitlines()[0][:200])
    text = "\n".join(summary)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if out is not None:
        out.close()
    return 0


def _runner(sd, examples, programs, names, disagreements, found, by_method, count, start,
            out, np):  # type: ignore[no-untyped-def]
    """The hypothesis-driven loop for one seed (a closure: @given takes no defaults)."""
    from hypothesis import HealthCheck, Phase, given, seed, settings

    @seed(sd)
    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(prog):  # type: ignore[no-untyped-def]
        count[0] += 1
        try:
            problems = disagreements(prog, names)
        except MemoryError:
            problems = ["(any) MemoryError: the memory limit was reached"]
        if problems:
            point = np.atleast_1d(prog.point).tolist()
            found.append((prog.text, point, problems))
            for p in problems:
                by_method[p.split(" ", 1)[0]] += 1
            if out is not None:
                out.write(json.dumps({"seed": sd, "text": prog.text, "point": point,
                                      "analytic": prog.analytic,
                                      "problems": problems}) + "\n")
                out.flush()
        if count[0] % 500 == 0:
            rate = count[0] / (time.perf_counter() - start)
            print(f"  seed {sd}: {count[0]} examples, {len(found)} with disagreements "
                  f"{dict(by_method)}, {rate:.1f}/s", file=sys.stderr, flush=True)

    return run


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Soak: property-based agreement of every method"))
