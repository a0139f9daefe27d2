"""Soak test: hostile inputs to every public entry point (issue #24, item 5).

The property of ``tests/test_fuzz.py`` (``tests/fuzzing.py``), run long: ``--examples`` calls
drawn per seed, every violation recorded (no shrinking, no stopping): a raw exception from
inside diffkit, a wrong value, a refusal that does not name the argument, the user's own
exception changed, or a call that does not return within ``--seconds``. Runs under an
address-space limit (``--memory-gb``) so a blow-up is a violation, not a dead machine.

    python benchmarks/soak_fuzz.py --examples 100000 --seeds 20261205
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="calls per seed")
    parser.add_argument("--seeds", default="20261205", help="comma-separated seeds")
    parser.add_argument("--seconds", type=int, default=20, help="bound of one call")
    parser.add_argument("--cheap", action="store_true",
                        help="leave out compare, step_error and the CLI (as CI does)")
    parser.add_argument("--memory-gb", type=float, default=4.0,
                        help="address-space limit of this process (0: none)")
    parser.add_argument("--out", default="", help="write the violations here, one a line")
    args = parser.parse_args(argv)
    if args.memory_gb > 0:
        limit = int(args.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("ignore")

    from hypothesis import HealthCheck, Phase, given, seed, settings

    from tests.fuzzing import cases, known, violation

    found: list[str] = []
    lines = ["| seed | calls | seconds | violations |", "|---|---|---|---|"]
    for sd in [int(s) for s in args.seeds.split(",")]:
        count = [0]
        start = time.perf_counter()
        before = len(found)
        _runner(sd, args, count, found, start, cases, violation, known, given, seed,
                settings, HealthCheck, Phase)()
        lines.append(f"| {sd} | {count[0]} | {time.perf_counter() - start:.0f} | "
                     f"{len(found) - before} |")
    total = sum(int(line.split("|")[2]) for line in lines[2:])
    nknown = sum(f.startswith("KNOWN") for f in found)
    lines += ["", f"total: {total} calls, {len(found) - nknown} violations, {nknown} of the "
              f"KNOWN kinds (tests/fuzzing.py KNOWN)"]
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(found) + "\n")
    return 1 if len(found) > nknown else 0


def _runner(sd, args, count, found, start, cases, violation, known, given, seed, settings,
            HealthCheck, Phase):  # type: ignore[no-untyped-def]
    """The hypothesis-driven loop for one seed (a closure: @given takes no defaults)."""

    @seed(sd)
    @settings(max_examples=args.examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(cases(cheap=args.cheap))
    def run(case):  # type: ignore[no-untyped-def]
        count[0] += 1
        try:
            problem = violation(case, args.seconds)
        except MemoryError:
            problem = f"{case.label}: MemoryError (the memory limit was reached)"
        if problem is not None:
            tag = "KNOWN " if known(problem) else ""
            found.append(f"{tag}seed {sd}: {problem}")
            print(found[-1], flush=True)
        if count[0] % 1000 == 0:
            rate = count[0] / (time.perf_counter() - start)
            print(f"  seed {sd}: {count[0]} calls, {len(found)} violations, {rate:.0f}/s",
                  file=sys.stderr, flush=True)

    return run


if __name__ == "__main__":
    raise SystemExit(main())
