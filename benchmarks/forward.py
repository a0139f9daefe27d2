"""Forward mode against reverse mode: the tall/wide asymmetry of Jacobians, and Hessian accuracy.

Run: ``python benchmarks/forward.py [--repeats 7] [--markdown PATH] [--vector-only]``

1. Jacobian cost of f: R^n -> R^m for (n, m) = (1, 1000) (tall: one forward pass, 1000 reverse
   sweeps) and (1000, 1) (wide, a gradient: 1000 forward passes, one reverse sweep). Both
   diffkit methods in one run, medians of repeats, ratios; jax.jacfwd/jacrev (jit) as the
   anchor where installed. A third row is the hand-written numpy floor of a batched-tangent
   pass on the wide case (all 1000 tangents through one pass), the figure diffkit's vector
   forward mode is measured against.
2. Hessian of Rosenbrock n = 100 by forward-over-reverse against the closed-form Hessian
   evaluated in mpmath at 50 digits: max |H - H_exact| / max |H_exact|.

3. Vector forward mode (issue 23): the PUBLIC calls ``dk.gradient(F, x,
   method="forward-mode")``, ``dk.jacobian`` and ``dk.hessian`` (tangents batched, ``chunk``
   directions per pass) beside the engine's ``forward.gradient``/``jacobian``/``hessian``,
   each paired in the same process with the n-pass scheme (``ForwardMode(chunk=1)``: one
   scalar-tangent pass per coordinate), samples alternating; ratios, and every result's
   error against its closed form (mpmath, 50 digits). ``--markdown PATH`` saves the output
   (docs/benchmarks/forward.md), ``--vector-only`` runs this section alone.

Thread pools are pinned to one thread. Targets (issue 5): tall forward >= 10x faster than
reverse; wide reverse >= 10x faster than forward; Hessian error <= 1e-12. Issue 23: vector
forward mode >= 5x the n passes on the R^1000 gradient and elementwise Jacobian, >= 3x on the
n = 100 Rosenbrock Hessian, errors <= 1e-12.
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

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog, methods
from diffkit.methods import forward
from diffkit.methods.forward import ForwardMode

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


# ============================================================================ vector mode


def elementwise(x):
    """R^1000 -> R^1000, entry by entry: a diagonal Jacobian."""
    return dnp.sin(x) * dnp.exp(-x) + x**2


def _paired_times(fns, repeats, min_time=0.05):
    """Median seconds per call of each function, samples alternating between them so load
    changes hit every function alike."""
    for fn in fns:
        fn()  # warm up
    samples = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, samples, strict=True):
            loops, t = 0, 0.0
            start = time.perf_counter()
            while t < min_time:
                fn()
                loops += 1
                t = time.perf_counter() - start
            out.append(t / loops)
    return [statistics.median(s) for s in samples]


def _rel_error(value, exact):
    """max |value - exact| / max |exact|, in mpmath at 50 digits (``exact``: mpf entries)."""
    flat = np.asarray(value, dtype=float).ravel()
    with mpmath.workdps(50):
        err = max(abs(mpmath.mpf(float(a)) - b) for a, b in zip(flat, exact, strict=True))
        scale = max(abs(b) for b in exact)
        return float(err / scale)


def _rosen_gradient_exact(x):
    with mpmath.workdps(50):
        v = [mpmath.mpf(float(t)) for t in x]
        g = [mpmath.mpf(0)] * len(v)
        for i in range(len(v) - 1):
            d = v[i + 1] - v[i] ** 2
            g[i] += -400 * v[i] * d - 2 * (1 - v[i])
            g[i + 1] += 200 * d
        return g


def _elementwise_jacobian_exact(x):
    with mpmath.workdps(50):
        n = len(x)
        out = [mpmath.mpf(0)] * (n * n)
        for i, t in enumerate(x):
            v = mpmath.mpf(float(t))
            out[i * n + i] = (mpmath.cos(v) - mpmath.sin(v)) * mpmath.exp(-v) + 2 * v
        return out


def vector_rows(repeats):
    """Vector forward mode against the n passes: public calls and engine, paired."""
    rosen = dk.Function(wide, name="rosenbrock")
    ew = dk.Function(elementwise, name="elementwise")
    x_g = np.random.default_rng(1).uniform(-2.0, 2.0, N)
    x_j = np.random.default_rng(2).uniform(-2.0, 2.0, N)
    x_h = np.random.default_rng(3).uniform(-2.0, 2.0, 100)
    batched, npass = ForwardMode(), ForwardMode(chunk=1)
    exact_g = _rosen_gradient_exact(x_g)
    exact_j = _elementwise_jacobian_exact(x_j)
    exact_h = [e for row in rosenbrock_hessian_exact(x_h) for e in row]
    cases = [
        ("gradient, Rosenbrock R^1000 -> R", exact_g,
         lambda m: dk.gradient(rosen, x_g, method=m),
         lambda c: forward.gradient(wide, x_g, chunk=c)),
        ("jacobian, elementwise R^1000 -> R^1000", exact_j,
         lambda m: dk.jacobian(ew, x_j, method=m),
         lambda c: forward.jacobian(elementwise, x_j, chunk=c)),
        ("hessian, Rosenbrock n = 100 (forward-over-reverse)", exact_h,
         lambda m: dk.hessian(rosen, x_h, method=m),
         lambda c: forward.hessian(wide, x_h, chunk=c)),
    ]
    rows = []
    for label, exact, public, engine in cases:
        v_b, v_n = public(batched), public(npass)
        err_b, err_n = _rel_error(v_b, exact), _rel_error(v_n, exact)
        t_pb, t_pn, t_eb, t_en = _paired_times(
            [lambda p=public: p(batched), lambda p=public: p(npass),
             lambda e=engine: e(None), lambda e=engine: e(1)], repeats)
        rows.append((label, t_pb, t_pn, t_eb, t_en, err_b, err_n))
    return rows


def vector_table(rows, repeats):
    lines = [
        f"Vector forward mode (issue 23): load average {os.getloadavg()[0]:.2f}, medians of "
        f"{repeats} alternating samples, ms per call. \"batched\": ForwardMode() (default "
        f"chunk); \"n passes\": ForwardMode(chunk=1), one scalar pass per coordinate. Errors: "
        f"max abs error / max abs entry against the closed form in mpmath (50 digits).",
        "",
        "| workload | public batched | public n passes | public ratio | engine batched | "
        "engine n passes | engine ratio | error batched | error n passes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, t_pb, t_pn, t_eb, t_en, err_b, err_n in rows:
        lines.append(f"| {label} | {t_pb * 1e3:.3g} | {t_pn * 1e3:.3g} | {t_pn / t_pb:.3g}x | "
                     f"{t_eb * 1e3:.3g} | {t_en * 1e3:.3g} | {t_en / t_eb:.3g}x | {err_b:.2g} | "
                     f"{err_n:.2g} |")
    return "\n".join(lines)


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
    parser.add_argument("--vector-only", action="store_true",
                        help="run only the vector forward mode comparison (section 3)")
    args = parser.parse_args(argv)

    vrows = vector_rows(args.repeats)
    table = vector_table(vrows, args.repeats)
    print(table + "\n")  # --markdown PATH (benchmarks/_markdown.py) saves it with the rest
    if args.vector_only:
        return 0

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
          f"{t_batch * 1e3:.3g} ms; diffkit's vector forward mode is {t_fw / t_batch:.1f}x that")

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
