"""Soak: method="reverse-compiled" against the tape, on random programs, branches both ways.

Each program of ``tests.strategies.programs`` is differentiated by the tape (``reverse-mode``)
and the compiled method in both forms (formula and ``dnp`` Python) at its point and at a
second point (where the cached program runs), and wrapped in a branch on its own value whose
threshold lies between its values at the two points, so the branch is taken both ways and the
method re-traces. Every comparison is bit-identical, equal within rounding (1e-13 of the
largest entry: the tape's plain-numpy fast rules round some terms differently from the
stanzas' rules; where the derivative cancels, within four times forward mode's distance from the
tape), the same error, or a disagreement (listed).

    python benchmarks/soak_compiled.py --examples 20000 --seed 7

``--arrays`` soaks random array programs instead (``tests/array_programs.py``: slices, joins,
fancy indices, scalar entries broadcast, shared intermediates) at three points each; where
the compiled method and the tape differ, forward mode decides (the tape's shortcut that keeps
a whole sum's cotangent as one number gets some of them wrong, ``sum(x - x[0])``).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arrays", action="store_true", help="random array programs")
    parser.add_argument("--in-place-bytes", type=int, default=None,
                        help="lend memory from arrays this large on (0: every array, so the "
                             "small programs exercise the written in-place lines)")
    parser.add_argument("--keep-bytes", type=int, default=None,
                        help="write intermediates this large on into memory the program keeps "
                             "(0: every array, so the small programs exercise the workspace)")
    args = parser.parse_args(argv)
    if args.in_place_bytes is not None:
        import diffkit.codegen

        diffkit.codegen.IN_PLACE_BYTES = args.in_place_bytes
    if args.keep_bytes is not None:
        import diffkit.codegen

        diffkit.codegen.KEEP_BYTES = args.keep_bytes
    if args.arrays:
        return soak_arrays(args.examples, args.seed)

    warnings.simplefilter("ignore")
    from hypothesis import HealthCheck, Phase, given, seed, settings

    import diffkit as dk
    import diffkit.numpy as dnp
    from tests.strategies import programs

    compiled = dk.methods.get("reverse-compiled")
    tape = dk.methods.get("reverse-mode")
    stats: collections.Counter[str] = collections.Counter()
    bad: list[tuple[Any, ...]] = []

    def compare(f: Any, x: Any, tag: str, text: str) -> None:
        try:
            want: tuple[str, Any] = ("ok", np.asarray(tape.gradient(f, x).value))
        except Exception as exc:
            want = ("error", type(exc).__name__)
        try:
            r = compiled.gradient(f, x)
            got: tuple[str, Any] = ("ok", np.asarray(r.value))
            stats["status " + r.status.split(":")[0]] += 1
        except Exception as exc:
            got = ("error", type(exc).__name__)
        if want[0] == "error" or got[0] == "error":
            if want == got:
                stats[f"same error ({want[1]})"] += 1
            else:
                bad.append((text, tag, np.asarray(x).tolist(), str(want), str(got)))
            return
        a, b = want[1], got[1]
        if np.array_equal(a, b, equal_nan=True):
            stats["bit-identical"] += 1
        elif np.all(np.abs(a - b) <= 1e-13 * max(float(np.max(np.abs(a))), 1e-300)):
            stats["within rounding"] += 1
        else:
            # a derivative that cancels (sinh(erf(x)) - x at 0.4: terms 1e3 times the result)
            # rounds apart in every method: within four times forward mode's distance from the tape
            # it is that, not a disagreement
            try:
                fwd = np.asarray(dk.gradient(f, x, method="forward-mode"))
                spread = float(np.max(np.abs(fwd - a)))
            except Exception:
                spread = 0.0
            if spread and np.all(np.abs(a - b) <= 4.0 * spread):
                stats["within the methods' rounding (forward mode as far from the tape)"] += 1
            else:
                bad.append((text, tag, np.asarray(x).tolist(), a.tolist(), b.tolist()))

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(prog: Any) -> None:
        x1 = prog.point
        x2 = np.asarray(x1) * 1.001 + 5e-4
        for form, spec in (("formula", prog.spec()), ("python", prog.python_spec())):
            compare(spec, x1, form, prog.text)
            compare(spec, x2, f"{form} at a second point", prog.text)
        try:
            y1, y2 = float(prog.spec().call(x1)), float(prog.spec().call(x2))
        except Exception:
            return
        if not (np.isfinite(y1) and np.isfinite(y2)) or y1 == y2:
            return
        threshold = 0.5 * (y1 + y2)

        def branchy(*xs: Any, inner: Any = prog.python, t: float = threshold) -> Any:
            y = inner(*xs)
            if y > t:
                return y * y
            return dnp.sin(y) + y

        spec = dk.Function(branchy, parameters=prog.variables)
        for k, x in enumerate((x1, x2, x1, x2)):
            compare(spec, x, f"branch, call {k + 1}", prog.text)

    start = time.perf_counter()
    run()
    print(f"examples: {args.examples} (seed {args.seed}) in {time.perf_counter() - start:.0f} s")
    print(json.dumps(dict(stats)))
    print(f"disagreements: {len(bad)}")
    for b in bad[:30]:
        print(b)
    return 0


def soak_arrays(examples: int, first: int) -> int:
    """The compiled method on random array programs, against the tape and forward mode."""
    warnings.simplefilter("ignore")
    import diffkit as dk
    from tests.array_programs import POINTS, array_program

    compiled = dk.methods.get("reverse-compiled")
    tape = dk.methods.get("reverse-mode")
    stats: collections.Counter[str] = collections.Counter()
    bad: list[tuple[Any, ...]] = []
    start = time.perf_counter()
    for seed in range(first, first + examples):
        f = dk.Function(array_program(seed))
        for x in POINTS:
            try:
                want: Any = tape.gradient(f, x).value
            except Exception as exc:
                want = exc
            try:
                r = compiled.gradient(f, x)
                got: Any = r.value
                stats["status " + r.status.split(":")[0]] += 1
            except Exception as exc:
                got = exc
            if isinstance(want, Exception) or isinstance(got, Exception):
                same = type(want) is type(got)
                stats["same error" if same else "different errors"] += 1
                if not same:
                    bad.append((seed, repr(want)[:100], repr(got)[:100]))
                continue
            scale = max(1.0, float(np.max(np.abs(want))))
            if np.array_equal(want, got):
                stats["bit-identical to the tape"] += 1
            elif np.allclose(got, want, rtol=1e-12, atol=1e-12 * scale):
                stats["the tape's within rounding"] += 1
            else:
                fwd = dk.gradient(f, x, method="forward-mode")
                scale = max(scale, 1.0, float(np.max(np.abs(fwd))))
                if np.allclose(got, fwd, rtol=1e-10, atol=1e-12 * scale):
                    stats["the tape wrong, forward mode's"] += 1
                else:
                    bad.append((seed, x.tolist(), want.tolist(), got.tolist(), fwd.tolist()))
    print(f"array programs: seeds {first}..{first + examples - 1} in "
          f"{time.perf_counter() - start:.0f} s")
    print(json.dumps(dict(stats)))
    print(f"compiled wrong: {len(bad)}")
    for b in bad[:20]:
        print(b)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
