"""Gradient checkers on a 1000-dimensional Rosenbrock gradient: cost and what they catch.

diffkit.testing.check_grad (every entry; ``directions=8``; Taylor test) against
scipy.optimize.check_grad and autograd.test_util.check_grads, in one process, threads pinned
to one. For each: the median time of a check of the correct gradient, and whether a 1 % error
in one entry (x[417]) is caught and located.

    python benchmarks/gradcheck.py [--n 1000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_grad(x):
    g = np.zeros_like(x)
    d = x[1:] - x[:-1] ** 2
    g[:-1] = -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * d
    return g


def slipped(x):
    g = rosen_grad(x)
    g[417] *= 1.01
    return g


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    n = args.n
    x = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)

    from diffkit.testing import check_grad, check_taylor

    rows = []

    def diffkit_row(label, **kw):
        t = median_time(lambda: check_grad(rosen, rosen_grad, x, **kw), args.repeats)
        ok = check_grad(rosen, rosen_grad, x, **kw).ok
        bad = check_grad(rosen, slipped, x, **kw)
        where = bad.worst_label if not bad.ok and bad.kind != "directional" else \
            ("caught, not located" if not bad.ok else "missed")
        rows.append((label, t, "pass" if ok else "FALSE ALARM", where))

    diffkit_row("diffkit check_grad (every entry, central)")
    diffkit_row("diffkit check_grad directions=8", directions=8)
    t = median_time(lambda: check_taylor(rosen, rosen_grad, x), args.repeats)
    ok = check_taylor(rosen, rosen_grad, x).ok
    caught = not check_taylor(rosen, slipped, x).ok
    rows.append(("diffkit Taylor test (3 directions)", t, "pass" if ok else "FALSE ALARM",
                 "caught, not located" if caught else "missed"))

    try:
        from scipy.optimize import check_grad as scipy_check_grad

        t = median_time(lambda: scipy_check_grad(rosen, rosen_grad, x), args.repeats)
        good = scipy_check_grad(rosen, rosen_grad, x)
        bad = scipy_check_grad(rosen, slipped, x)
        rows.append(("scipy.optimize.check_grad (returns a norm)", t,
                     f"norm {good:.2g} (no verdict)", f"norm {bad:.2g}, no index"))
    except ImportError:
        pass

    try:
        import autograd.numpy as anp
        from autograd.test_util import check_grads

        def arosen(x):
            return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

        t = median_time(lambda: check_grads(arosen, modes=["rev"], order=1)(x), args.repeats)
        rows.append(("autograd check_grads (its own AD, 1 direction)", t, "pass",
                     "n/a (checks autograd's gradient, not yours)"))
    except ImportError:
        pass

    base = rows[0][1]
    print(f"Rosenbrock n = {n}, median of {args.repeats}, threads pinned to 1")
    print("| checker | time | x full check | correct gradient | 1 % error in x[417] |")
    print("|---|---|---|---|---|")
    for label, t, ok, where in rows:
        print(f"| {label} | {t * 1e3:.1f} ms | {t / base:.3f} | {ok} | {where} |")
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Gradient checkers"))
