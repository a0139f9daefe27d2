"""Numerical differentiation: diffkit's schemes against numdifftools, scipy.differentiate and
scipy.optimize.approx_fprime, in one run.

Two workloads (ANCHORS.md, numerical):

1. the 9-function suite (``diffkit.catalog.suite()``, exact references from sympy at 50
   digits): median and worst relative error, evaluations per derivative, time per derivative
   relative to a plain textbook central difference, and whether each error estimate bounded
   the true error (and by how much it overestimated it);
2. the Rosenbrock gradient at n = 10, 100, 1000 (``catalog.rosenbrock(n)``, exact mpmath
   reference), with plain and vectorised (batched) variants.

Thread pools are pinned to one thread; times are medians of interleaved repeats of loops of
calls (about 2 ms each, like timeit), so the ratios measured in this run are what count.

    python benchmarks/numerical.py            # both tables (about a minute)
    python benchmarks/numerical.py --quick    # fewer repeats, n = 10, 100 only
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import time
import warnings

import numpy as np

import diffkit as dk
from diffkit import catalog
from diffkit.core import checked_evaluation

EPS = np.finfo(float).eps


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _fmt(v: float) -> str:
    return "NaN" if not np.isfinite(v) else ("0" if v == 0 else f"{v:.1e}")


# ----------------------------------------------------------------------------- the suite


def suite_table(repeats: int) -> list[str]:
    import numdifftools as nd
    from scipy import differentiate

    entries = catalog.suite()
    exact = {e.name: float(e.exact_float()) for e in entries}

    def textbook(spec, x):  # the unit of time: one plain central difference
        h = EPS ** (1 / 3) * max(1.0, abs(x))
        h = (x + h) - x
        return (spec.call(x + h) - spec.call(x - h)) / (2 * h), None, 2

    def dk_method(method):
        m = dk.methods.get(method)

        def run(spec, x):
            r = m.derivative(spec, x)
            return float(r), r.error, r.nfev
        return run

    def numdifftools(spec, x):
        count = [0]

        def f(t):
            count[0] += 1
            return spec.call(t)
        r = nd.Derivative(f, full_output=True)(x)
        return float(r[0]), float(np.ravel(r[1])[0]), count[0]

    def scipy_derivative(spec, x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                r = differentiate.derivative(lambda t: spec.call(t), x)
        return float(r.df), float(r.error), int(r.nfev)

    rows = [("plain central, h = cbrt(eps) max(1, abs(x))", textbook),
            ("diffkit forward-difference (default)", dk_method("forward-difference")),
            ("diffkit central-difference (default)", dk_method("central-difference")),
            ("diffkit central-difference order=4", dk_method(dk.methods.CentralDifference(
                order=4))),
            ("diffkit richardson (default)", dk_method("richardson")),
            ("diffkit complex-step", dk_method("complex-step")),
            ("numdifftools.Derivative (default)", numdifftools),
            ("scipy.differentiate.derivative (default)", scipy_derivative)]
    results: dict[str, dict[str, list]] = {name: {"err": [], "nfev": [], "time": [],
                                                  "bound": [], "over": []} for name, _ in rows}
    for e in entries:
        x = float(e.point)
        spec = e.function
        for name, fn in rows:  # warm up (and the complex step's one-off analyticity check)
            with checked_evaluation() if name.startswith("plain") else _nullcontext():
                fn(spec, x)
        times = {name: [] for name, _ in rows}
        # each method is timed as a loop of calls (about 2 ms, like timeit), the loops of all
        # methods interleaved in every repeat: one call alone measures a cold start
        loops = {name: max(1, int(2e-3 / max(_median_time(
            lambda fn=fn, spec=spec, x=x: fn(spec, x), 3), 1e-7))) for name, fn in rows}
        for _ in range(repeats):
            for name, fn in rows:
                n = loops[name]
                t = time.perf_counter()
                for _ in range(n):
                    fn(spec, x)
                times[name].append((time.perf_counter() - t) / n)
        unit = np.median(times[rows[0][0]])
        for name, fn in rows:
            val, est, nfev = fn(spec, x)
            true = abs(val - exact[e.name])
            res = results[name]
            res["err"].append(true / abs(exact[e.name]) if np.isfinite(val) else np.nan)
            res["nfev"].append(nfev)
            res["time"].append(np.median(times[name]) / unit)
            if est is not None:
                res["bound"].append(bool(np.isfinite(val) and est >= true))
                res["over"].append(est / max(true, np.spacing(abs(exact[e.name]))))
    out = ["| method | median rel err | worst | f evaluations | time per derivative vs plain "
           "central | error estimate bounds true error | estimate / true error (median, max) |",
           "|---|---|---|---|---|---|---|"]
    for name, _ in rows:
        r = results[name]
        err = np.array(r["err"])
        worst = "NaN" if np.isnan(err).any() else _fmt(err.max())
        if np.isnan(err).any():
            bad = [e.name for e, v in zip(entries, err, strict=True) if np.isnan(v)]
            worst += f" ({', '.join(bad)})"
        nf = f"{min(r['nfev'])}-{max(r['nfev'])}" if min(r["nfev"]) != max(r["nfev"]) \
            else str(r["nfev"][0])
        bound = f"{sum(r['bound'])}/{len(r['bound'])}" if r["bound"] else "-"
        over = f"{np.median(r['over']):.0f}x, {max(r['over']):.0f}x" if r["over"] else "-"
        out.append(f"| {name} | {_fmt(np.nanmedian(err))} | {worst} | {nf} | "
                   f"{np.median(r['time']):.1f}x | {bound} | {over} |")
    cs = _complex_step_vs_bare(entries, repeats)
    nd_t = np.array(results["numdifftools.Derivative (default)"]["time"])
    ri_t = np.array(results["diffkit richardson (default)"]["time"])
    out.append("")
    out.append(f"complex step time / bare f call (loops of calls): median {np.median(cs):.2f}x "
               f"(range {min(cs):.2f}-{max(cs):.2f}x); richardson time / numdifftools time: "
               f"median {np.median(ri_t / nd_t):.3f} (worst {max(ri_t / nd_t):.3f})")
    return out


def _complex_step_vs_bare(entries, repeats: int) -> list[float]:
    """Per function: time of ``ComplexStep().derivative(f, x)`` over a bare ``f(x)``.

    Both are timed as loops of calls (one call is a few microseconds: timing it alone would
    measure the timer), interleaved, median over repeats of the ratio of the pair.
    """
    m = dk.methods.ComplexStep()
    ratios = []
    for e in entries:
        spec, x = e.function, float(e.point)
        m.derivative(spec, x)  # the one-off analyticity check
        call, deriv = spec.call, m.derivative
        loops = 200
        pair = []
        for _ in range(max(repeats, 15)):
            t = time.perf_counter()
            for _ in range(loops):
                call(x)
            bare = time.perf_counter() - t
            t = time.perf_counter()
            for _ in range(loops):
                deriv(spec, x)
            pair.append((time.perf_counter() - t) / bare)
        ratios.append(float(np.median(pair)))
    return ratios


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


# ----------------------------------------------------------------------------- Rosenbrock


def _rosen_batch(x):
    """Rosenbrock over a batch of points along axis 0 (the vectorised spec)."""
    return np.sum(100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1.0 - x[..., :-1]) ** 2,
                  axis=-1)


def _rosen_axis0(x):
    """Rosenbrock with the coordinates along axis 0 (scipy.differentiate's convention)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2, axis=0)


def rosenbrock_table(sizes: list[int], repeats: int) -> list[str]:
    out = ["| n | method | rel error | f evaluations (points) | calls of f | time | "
           "vs approx_fprime | vs numdifftools |", "|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        out += _rosen_case(n, repeats)
    return out


def _rosen_case(n: int, repeats: int) -> list[str]:
    import numdifftools as nd
    from scipy import differentiate
    from scipy.optimize import approx_fprime

    out = []
    e = catalog.rosenbrock(n)
    x = e.point
    exact = e.exact_float()
    plain = dk.Function(_rosen_batch, name="rosen")
    vec = dk.Function(_rosen_batch, name="rosen-vec", vectorized=True)
    counter = {"calls": 0, "points": 0}

    def counted(fn, rows):
        def f(z):
            counter["calls"] += 1
            counter["points"] += rows(z)
            return fn(z)
        return f

    def dk_run(method, spec):
        def run():
            r = method.gradient(spec, x)
            return np.asarray(r.value), r.nfev
        return run

    def nd_run():
        f = counted(_rosen_batch, lambda z: 1)
        return nd.Gradient(f)(x), None

    def scipy_run():
        f = counted(_rosen_axis0, lambda z: int(np.prod(np.shape(z)[1:])) or 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = differentiate.jacobian(f, x)
        return r.df, None

    def fprime_run():
        f = counted(_rosen_batch, lambda z: 1)
        return approx_fprime(x, f), None

    central = dk.methods.CentralDifference()
    rows = [
        ("scipy.optimize.approx_fprime", fprime_run),
        ("numdifftools.Gradient", nd_run),
        ("scipy.differentiate.jacobian", scipy_run),
        ("diffkit forward-difference", dk_run(dk.methods.ForwardDifference(), plain)),
        ("diffkit central-difference", dk_run(central, plain)),
        ("diffkit central-difference, vectorised", dk_run(central, vec)),
        ("diffkit central-difference order=4, vectorised",
         dk_run(dk.methods.CentralDifference(order=4), vec)),
        ("diffkit central h=6e-6, vectorised", dk_run(dk.methods.CentralDifference(h=6e-6),
                                                      vec)),
        ("diffkit richardson", dk_run(dk.methods.Richardson(), plain)),
        ("diffkit richardson, vectorised", dk_run(dk.methods.Richardson(), vec)),
        ("diffkit complex-step", dk_run(dk.methods.ComplexStep(), plain)),
        ("diffkit complex-step, vectorised", dk_run(dk.methods.ComplexStep(), vec)),
    ]
    if n >= 1000:  # one plain-call per point: slow, and the vectorised rows tell the story
        rows = [r for r in rows if r[0] not in ("diffkit forward-difference",)]
    reps = repeats
    times: dict[str, list[float]] = {name: [] for name, _ in rows}
    info = {}
    for name, fn in rows:
        counter.update(calls=0, points=0)
        g, nfev = fn()
        err = np.max(np.abs(np.asarray(g) - exact)) / np.max(np.abs(exact))
        info[name] = (err, nfev if nfev is not None else counter["points"],
                      counter["calls"] if nfev is None else None)
    for _ in range(reps):
        for name, fn in rows:
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    t_fp = np.median(times["scipy.optimize.approx_fprime"])
    t_nd = np.median(times["numdifftools.Gradient"])
    for name, _ in rows:
        t = np.median(times[name])
        err, nfev, calls = info[name]
        out.append(f"| {n} | {name} | {_fmt(err)} | {nfev} | "
                   f"{'-' if calls is None else calls} | {t * 1e3:.1f} ms | "
                   f"{t / t_fp:.2f}x | {t / t_nd:.3f}x |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, n <= 100")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15
    print("## 9-function suite\n")
    print("\n".join(suite_table(repeats)))
    print("\n## Rosenbrock gradient\n")
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    print("\n".join(rosenbrock_table(sizes, 3 if args.quick else 7)))
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Numerical differentiation"))
