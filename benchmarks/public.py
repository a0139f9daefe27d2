"""The public calls as users make them, beside the engines they run.

Run: ``python benchmarks/public.py`` (``--quick`` for fewer repeats, ``--markdown PATH`` to
write the table). Thread pools are pinned to one thread; each ratio is the median over
paired repeats (the engine and the public call timed back to back, so load from other
processes hits both alike).

Rows (issue 23: "the public path costs no more than the engine"):

* ``dk.gradient(F, x, method="reverse-mode")`` and ``dk.gradient(F, x)`` (auto) against the
  reverse engine's ``value_and_gradient`` on Rosenbrock, n = 1e3 (and 1e5, 1e6 without
  ``--quick``), also as (value + gradient) / f through the public call;
* the same with data arguments: ``dk.gradient(loss, w, args=(X, y))`` on a least-squares
  loss against the engine on a closure over the data;
* ``dk.gradient`` of an MLP's flat parameter vector (784-256-10, batch 128, data passed as
  ``args=``) against the engine, and as grad / forward;
* ``dk.jacobian`` (reverse mode, R^100 -> R^100) and ``dk.hessian`` (forward mode and auto,
  Rosenbrock n = 100) against their engines;
* Rosenbrock n = 1e3 through the public call once scipy is imported (its Python-level functions
  are routed to their stanzas around every recording).

``--warm-allocator``: measure with the C allocator in the state of a process that has freed a
large array (see ``main``): figures with arrays of 128 KB or more depend on it.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

# DIFFKIT_TREE: another checkout to measure (benchmarks/against.py pairs two trees)
sys.path.insert(0, os.environ.get("DIFFKIT_TREE")
                or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.methods import forward as fwd
from diffkit.methods import reverse as rev

# (the engine's name before the architecture issue, for measuring an older tree beside this)
value_and_gradient = getattr(rev, "value_and_gradient", None) or rev.value_and_grad


def _time(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _number(fn: Callable[[], Any], budget: float) -> int:
    t = min(_time(fn, 1) for _ in range(3))
    return max(1, int(budget / max(t, 1e-9)))


def paired(base: Callable[[], Any], call: Callable[[], Any], repeats: int,
           budget: float = 0.01) -> tuple[float, float, float]:
    """Median of call/base over paired repeats, and the median times of both (seconds).

    Each block is timed after one untimed call and holds at least five calls (as in
    ``compiled.py``): the first call after the other function's pays the page faults for the
    memory that one freed (at the MLP's size a block of one gradient call was mostly that)."""
    base(), call()  # warm up (imports, caches, auto's decision)
    nb, nc = max(5, _number(base, budget)), max(5, _number(call, budget))
    ratios, tb, tc = [], [], []
    for _ in range(repeats):
        base()
        a = _time(base, nb)
        call()
        b = _time(call, nc)
        ratios.append(b / a)
        tb.append(a)
        tc.append(b)
    return float(np.median(ratios)), float(np.median(tb)), float(np.median(tc))


Row = tuple[str, str, float, float, float]  # (workload, call, engine s, call s, ratio)


# ============================================================================ workloads


def rosen(x: Any) -> Any:
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def bench_rosen(n: int, repeats: int) -> list[Row]:
    x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    F = dk.Function(rosen)
    method = dk.methods.get("reverse-mode")
    engine = lambda: value_and_gradient(rosen, x)
    rows: list[Row] = []
    label = f"Rosenbrock n = 1e{round(np.log10(n))}"
    calls = {
        'dk.gradient(F, x, method="reverse-mode")':
            lambda: dk.gradient(F, x, method="reverse-mode"),
        "dk.gradient(F, x)  (auto)": lambda: dk.gradient(F, x),
        'dk.methods.get("reverse-mode").gradient(F, x)': lambda: method.gradient(F, x),
    }
    for name, call in calls.items():
        ratio, te, tc = paired(engine, call, repeats)
        rows.append((label, name, te, tc, ratio))
    for name, call in (("engine value_and_gradient", engine),
                       ('dk.gradient(F, x, method="reverse-mode")', calls[
                           'dk.gradient(F, x, method="reverse-mode")']),
                       ("dk.gradient(F, x)  (auto)", calls["dk.gradient(F, x)  (auto)"])):
        ratio, tf, tc = paired(lambda: rosen(x), call, repeats)
        rows.append((f"{label}, (value+grad)/f", name, tf, tc, ratio))
    return rows


def lstsq_loss(w: Any, X: Any, y: Any) -> Any:
    r = X @ w - y
    return dnp.sum(r * r) / y.size


def bench_data(repeats: int) -> list[Row]:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1000, 20))
    y = rng.normal(size=1000)
    w = rng.normal(size=20)
    engine = lambda: value_and_gradient(lambda v: lstsq_loss(v, X, y), w)
    rows = []
    for name, call in (("dk.gradient(loss, w, args=(X, y))",
                        lambda: dk.gradient(lstsq_loss, w, args=(X, y))),
                       ('dk.gradient(loss, w, method="reverse-mode", args=(X, y))',
                        lambda: dk.gradient(lstsq_loss, w, method="reverse-mode",
                                            args=(X, y)))):
        ratio, te, tc = paired(engine, call, repeats)
        rows.append(("least squares 1000 x 20, data as args=", name, te, tc, ratio))
    return rows


SIZES = (784, 256, 10)
BATCH = 128


def mlp_loss(p: Any, xb: Any, yb: Any) -> Any:
    a, b, c = 784 * 256, 784 * 256 + 256, 784 * 256 + 256 + 2560
    w1, b1 = p[:a].reshape(784, 256), p[a:b]
    w2, b2 = p[b:c].reshape(256, 10), p[c:]
    h = dnp.tanh(xb @ w1 + b1)
    logits = h @ w2 + b2
    return dnp.mean(dnp.logsumexp(logits, axis=1) - dnp.sum(logits * yb, axis=1))


def bench_mlp(repeats: int) -> list[Row]:
    rng = np.random.default_rng(1)
    flat = np.concatenate([rng.normal(0, 784**-0.5, 784 * 256), np.zeros(256),
                           rng.normal(0, 256**-0.5, 2560), np.zeros(10)])
    xb = rng.normal(size=(BATCH, 784))
    yb = np.eye(10)[rng.integers(0, 10, BATCH)]
    engine = lambda: value_and_gradient(lambda p: mlp_loss(p, xb, yb), flat)
    public = lambda: dk.gradient(mlp_loss, flat, args=(xb, yb))
    label = "MLP 784-256-10, batch 128"
    rows = []
    ratio, te, tc = paired(engine, public, repeats)
    rows.append((label, "dk.gradient(mlp_loss, p, args=(xb, yb))", te, tc, ratio))
    ratio, tf, tc = paired(lambda: mlp_loss(flat, xb, yb), public, repeats)
    rows.append((f"{label}, grad/forward", "dk.gradient(mlp_loss, p, args=(xb, yb))", tf, tc,
                 ratio))
    ratio, tf, te = paired(lambda: mlp_loss(flat, xb, yb), engine, repeats)
    rows.append((f"{label}, grad/forward", "engine value_and_gradient", tf, te, ratio))
    return rows


def bench_jacobian_hessian(repeats: int) -> list[Row]:
    x = np.random.default_rng(3).uniform(-1.0, 1.0, 100)

    def elementwise(v: Any) -> Any:
        return dnp.sin(v) * v

    E = dk.Function(elementwise)
    R = dk.Function(rosen)
    rows = []
    ratio, te, tc = paired(lambda: rev.jacobian(elementwise, x),
                           lambda: dk.jacobian(E, x, method="reverse-mode"), repeats)
    rows.append(("Jacobian R^100 -> R^100, reverse mode", 'dk.jacobian(F, x, '
                 'method="reverse-mode")', te, tc, ratio))
    engine = lambda: fwd.hessian(rosen, x)
    for name, call in (('dk.hessian(F, x, method="forward-mode")',
                        lambda: dk.hessian(R, x, method="forward-mode")),
                       ("dk.hessian(F, x)  (auto)", lambda: dk.hessian(R, x))):
        ratio, te, tc = paired(engine, call, repeats)
        rows.append(("Hessian of Rosenbrock n = 100, forward-over-reverse", name, te, tc,
                     ratio))
    return rows


def bench_scipy_imported(repeats: int) -> list[Row]:
    """Rosenbrock n = 1e3 once scipy is imported (as pandas, scikit-learn or jax import it):
    every recording then routes scipy's Python-level functions to their stanzas
    (``diffkit.core.library_routes``). Run last: the import stays for the process."""
    import scipy.special
    import scipy.stats  # (the routes cover scipy.stats.norm too)

    x = np.random.default_rng(0).uniform(-1.0, 1.0, 10**3)
    F = dk.Function(rosen)
    ratio, tf, tc = paired(lambda: rosen(x), lambda: dk.gradient(F, x, method="reverse-mode"),
                           repeats)
    return [("Rosenbrock n = 1e3, (value+grad)/f, scipy imported",
             'dk.gradient(F, x, method="reverse-mode")', tf, tc, ratio)]


# ============================================================================ report


def _us(t: float) -> str:
    us = t * 1e6
    return f"{us:.1f} µs" if us < 1e4 else f"{us / 1e3:.1f} ms"


def markdown(rows: list[Row]) -> str:
    lines = ["| workload | call | baseline | call | ratio |", "|---|---|---|---|---|"]
    for workload, name, tb, tc, ratio in rows:
        lines.append(f"| {workload} | `{name}` | {_us(tb)} | {_us(tc)} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, n = 1e3 only")
    parser.add_argument("--only", choices=["rosen", "data", "mlp", "jh", "scipy"],
                        default=None)
    parser.add_argument("--warm-allocator", action="store_true",
                        help="free one 2.4 MB array first (see below)")
    args = parser.parse_args(argv)
    if args.warm_allocator:
        # glibc serves an array of >= 128 KB with fresh pages from the system until the
        # process frees one block larger than that (up to 32 MB): it then raises that
        # threshold, and later arrays of the size reuse memory. A long-running process has
        # usually done so; a fresh benchmark process has not, and the MLP's 1.6 MB arrays
        # then cost page faults every call (its grad/forward ~3.5 cold, ~2.3 warmed here).
        # Everything in the process, f and every tool alike, runs in the same state.
        block = np.ones(300_000)
        del block
    repeats = 7 if args.quick else 21
    if hasattr(dk, "DiffkitFallbackWarning"):  # (absent from versions before issue 25)
        warnings.simplefilter("error", dk.DiffkitFallbackWarning)  # every call here is AD
    rows: list[Row] = []
    if args.only in (None, "rosen"):
        for n in (10**3,) if args.quick else (10**3, 10**5, 10**6):
            rows += bench_rosen(n, repeats if n < 10**6 else max(5, repeats // 3))
    if args.only in (None, "data"):
        rows += bench_data(repeats)
    if args.only in (None, "mlp"):
        rows += bench_mlp(max(5, repeats // 2))
    if args.only in (None, "jh"):
        rows += bench_jacobian_hessian(max(5, repeats // 2))
    if args.only in (None, "scipy"):
        rows += bench_scipy_imported(repeats)
    table = markdown(rows)
    print(f"numpy {np.__version__}; ratio = median over paired repeats of call / baseline "
          f"(baseline: the engine, or f for the /f rows)")
    print(table, end="")
    return 0


if __name__ == "__main__":  # (--markdown PATH: benchmarks/_markdown.py)
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "The public calls against their engines"))
