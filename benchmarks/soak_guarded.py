"""Soak test: every method on many random where-guarded programs (discarded branches outside
their primitive's domain), against the exact gradient of the branch taken.

The property of ``tests/test_guarded_domains.py``, run long: draws ``--examples`` programs from
``tests.strategies.guarded_programs``, records every disagreement (no shrinking, no stopping)
and prints a summary and the counterexamples.

    python benchmarks/soak_guarded.py --examples 20000 --seed 1
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="", help="comma-separated subset of methods")
    args = parser.parse_args(argv)

    from hypothesis import HealthCheck, Phase, given, seed, settings

    from tests.strategies import guarded_programs
    from tests.test_guarded_domains import GUARDED_METHODS, guarded_disagreements

    names = [m for m in args.methods.split(",") if m] or GUARDED_METHODS
    found: list[tuple[str, list[str]]] = []
    by_method: collections.Counter[str] = collections.Counter()
    count = [0]
    start = time.perf_counter()

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(guarded_programs())
    def run(prog):  # type: ignore[no-untyped-def]
        count[0] += 1
        problems = guarded_disagreements(prog, names)
        if problems:
            found.append((repr(prog), problems))
            for p in problems:
                by_method[p.split(" ")[0].rstrip(":")] += 1
        if count[0] % 1000 == 0:
            rate = count[0] / (time.perf_counter() - start)
            print(f"  {count[0]} examples, {len(found)} with disagreements "
                  f"{dict(by_method)}, {rate:.1f}/s", flush=True)

    run()
    print(f"methods: {', '.join(names)}")
    print(f"examples: {count[0]} in {time.perf_counter() - start:.0f} s; programs with a "
          f"disagreement: {len(found)}; by method: {dict(by_method)}")
    for text, problems in found[:50]:
        print(f"  {text}")
        for p in problems:
            print(f"    # {p[:300]}")
    return 1 if found else 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Soak: where-guarded programs"))
