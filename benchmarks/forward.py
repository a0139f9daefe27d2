"""Forward mode against reverse mode: the tall/wide asymmetry of Jacobians, and Hessian accuracy.

Run: ``python benchmarks/forward.py [--repeats 7]``

1. Jacobian cost of f: R^n -> R^m for (n, m) = (1, 1000) (tall: one forward pass, 1000 reverse
   sweeps) and (1000, 1) (wide, a gradient: 1000 forward passes, one reverse sweep). Both
   diffkit methods in one run, medians of repeats, ratios; jax.jacfwd/jacrev (jit) as the
   anchor where installed. A third row measures what batching the tangents could buy on the
   wide case: the same forward-mode gradient with all 1000 tangents pushed through one pass,
   hand-written in numpy (diffkit's registry JVPs are written for unbatched shapes, so
   diffkit's forward mode takes one pass per coordinate).
2. Hessian of Rosenbrock n = 100 by forward-over-reverse against the closed-form Hessian
   evaluated in mpmath at 50 digits: max |H - H_exact| / max |H_exact|.

Thread pools are pinned to one thread. Targets (issue 5): tall forward >= 10x faster than
reverse; wide reverse >= 10x faster than forward; Hessian error <= 1e-12.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mpmath
import numpy as np

import diffkit.numpy as dnp
from diffkit import catalog, methods

N = 1000
_k = np.arange(1, N + 1) / N
A, B = 3.0 * _k, 0.5 + _k


def tall(x):
    """R -> R^1000: a damped oscillation sampled at 1000 frequencies."""
    return dnp.sin(A * x) * dnp.exp(-B * x) + x**2 * _k


def wide(x):
    """R^1000 -> R: Rosenbrock."""
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _median_time(fn, repeats, min_time=0.05):
    """Median seconds per call, each sample looping until it lasts ``min_time``."""
    fn()  # warm up
    times = []
    for _ in range(repeats):
        loops, t = 0, 0.0
        start = time.perf_counter()
        while t < min_time:
            fn()
            loops += 1
            t = time.perf_counter() - start
        times.append(t / loops)
    return statistics.median(times)


def batched_forward_gradient(x):
    """One forward pass with the identity as the tangent batch (Rosenbrock, by hand)."""
    t = np.eye(x.size)  # row j: the tangent of x in direction e_j
    a, ta = x[1:], t[:, 1:]
    b, tb = x[:-1], t[:, :-1]
    d = a - b**2
    td = ta - 2.0 * b * tb
    e = 1.0 - b
    return (200.0 * d * td - 2.0 * e * tb).sum(axis=1)


def rosenbrock_hessian_exact(x, dps=50):
    with mpmath.workdps(dps):
        v = [mpmath.mpf(float(t)) for t in x]
        n = len(v)
        h = [[mpmath.mpf(0)] * n for _ in range(n)]
        for i in range(n - 1):
            h[i][i] += 1200 * v[i] ** 2 - 400 * v[i + 1] + 2
            h[i][i + 1] += -400 * v[i]
            h[i + 1][i] += -400 * v[i]
            h[i + 1][i + 1] += 200
        return h


def hessian_error(x):
    h = methods.get("forward-mode", hessian_scheme="forward-over-reverse").hessian(
        catalog.rosenbrock(x.size).function, x).value
    exact = rosenbrock_hessian_exact(x)
    with mpmath.workdps(50):
        err = max(abs(mpmath.mpf(float(h[i, j])) - exact[i][j])
                  for i in range(x.size) for j in range(x.size))
        scale = max(abs(e) for row in exact for e in row)
        return float(err / scale)


def jax_rows(repeats, x_tall, x_wide):
    if importlib.util.find_spec("jax") is None:
        return None
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    a, b, k = jnp.asarray(A), jnp.asarray(B), jnp.asarray(_k)

    def jtall(x):
        return jnp.sin(a * x[0]) * jnp.exp(-b * x[0]) + x[0] ** 2 * k

    def jwide(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    xt, xw = jnp.asarray(x_tall), jnp.asarray(x_wide)
    out = {}
    for label, f, x in (("tall", jtall, xt), ("wide", jwide, xw)):
        fwd, rev = jax.jit(jax.jacfwd(f)), jax.jit(jax.jacrev(f))
        out[label] = (_median_time(lambda fwd=fwd, x=x: fwd(x).block_until_ready(), repeats),
                      _median_time(lambda rev=rev, x=x: rev(x).block_until_ready(), repeats))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    fwd = methods.get("forward-mode")
    has_reverse = "reverse-mode" in methods.available()
    rev = methods.get("reverse-mode") if has_reverse else None

    x_tall = np.array([0.7])
    x_wide = np.where(np.arange(N) % 2 == 0, -1.2, 1.0)

    # the two methods agree before they are timed
    if rev is not None:
        np.testing.assert_allclose(fwd.jacobian(tall, x_tall).value,
                                   rev.jacobian(tall, x_tall).value, rtol=1e-13)
        np.testing.assert_allclose(fwd.gradient(wide, x_wide).value,
                                   rev.gradient(wide, x_wide).value, rtol=1e-13)
    np.testing.assert_allclose(batched_forward_gradient(x_wide),
                               fwd.gradient(wide, x_wide).value, rtol=1e-13)

    rows = []
    t_ft = _median_time(lambda: fwd.jacobian(tall, x_tall), args.repeats)
    t_fw = _median_time(lambda: fwd.gradient(wide, x_wide), args.repeats, min_time=0.2)
    if rev is not None:
        t_rt = _median_time(lambda: rev.jacobian(tall, x_tall), args.repeats)
        t_rw = _median_time(lambda: rev.gradient(wide, x_wide), args.repeats)
    else:
        t_rt = t_rw = float("nan")
        print("note: diffkit.methods.reverse is not installed; reverse-mode rows skipped")
    t_batch = _median_time(lambda: batched_forward_gradient(x_wide), args.repeats)
    rows.append(("tall  R^1 -> R^1000 jacobian", t_ft, t_rt, t_rt / t_ft))
    rows.append(("wide  R^1000 -> R gradient", t_fw, t_rw, t_rw / t_fw))

    print(f"load average {os.getloadavg()[0]:.2f}; medians of {args.repeats}; ms per call\n")
    print("| workload | forward-mode | reverse-mode | reverse/forward |")
    print("|---|---|---|---|")
    for label, tf, tr, ratio in rows:
        print(f"| {label} | {tf * 1e3:.3g} | {tr * 1e3:.3g} | {ratio:.3g} |")
    print(f"\ntall: forward is {t_rt / t_ft:.0f}x faster than reverse (target >= 10x)")
    print(f"wide: reverse is {t_fw / t_rw:.0f}x faster than forward (target >= 10x)")
    print(f"wide, tangents batched in one pass (hand-written numpy, not diffkit): "
          f"{t_batch * 1e3:.3g} ms, {t_fw / t_batch:.0f}x below diffkit's 1000 passes")

    jx = jax_rows(args.repeats, x_tall, x_wide)
    if jx is not None:
        print("\nanchor, jax jit (ms):\n\n| workload | jacfwd | jacrev | jacrev/jacfwd |")
        print("|---|---|---|---|")
        for label, (a, b) in jx.items():
            print(f"| {label} | {a * 1e3:.3g} | {b * 1e3:.3g} | {b / a:.3g} |")

    if rev is not None:
        err1 = hessian_error(catalog.rosenbrock(100).point)
        err2 = hessian_error(np.random.default_rng(0).uniform(-2, 2, 100))
        print(f"\nRosenbrock n=100 Hessian, forward-over-reverse vs closed form (mpmath, 50 "
              f"digits): max rel error {err1:.2g} at the classical start, {err2:.2g} at a random "
              f"point (target <= 1e-12)")
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Forward mode: tall versus wide Jacobians"))
