"""Honest error bars: does every numerical derivative's estimate bound its true error?

Two measurements (issue #20), each printed as a table:

1. **Cases**: the table of issue #20 (noise, float32 inside f, a large offset, a jump) plus
   held-out cases of the same kinds (other noise levels, quantized values, offsets, jumps,
   points near a kink or a pole, huge and tiny x), every numerical method on each. The count
   that must be 0: results with status ``"ok"`` whose true error is above their estimate.
   A raised error (a jump has no derivative) counts as not ``"ok"``; a one-sided scheme at a
   jump where f is continuous from its side is held to that side's derivative. Exact values
   are taken at the float point itself (mpmath, 50 digits).
2. **Soak**: random programs from ``tests.strategies.programs`` (float64, deterministic), each
   numerical method's gradient against the exact one (mpmath chain rule, 40 digits): the
   fraction of gradient entries whose estimate bounds the true error, and the fraction where
   it is within 100x of it (true errors below ``eps * max(1, |gradient|)`` count as that).

::

    python benchmarks/error_bars.py                      # cases + 2000 programs
    python benchmarks/error_bars.py --programs 20000 --seed 3 --markdown /tmp/bars.md

The soak runs under a memory limit (``--memory-gb``, default 4) so a blow-up is a
counterexample, not a dead machine.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import diffkit as dk

EPS = float(np.finfo(float).eps)
METHODS = ("forward-difference", "backward-difference", "central-difference", "richardson",
           "complex-step")


def _fmt(v: float) -> str:
    return "—" if v is None or not np.isfinite(v) else ("0" if v == 0 else f"{v:.1e}")


# ----------------------------------------------------------------------------- cases


def _noisy(level: float, seed: int, base=lambda x: x**2, kind: str = "normal"):
    """``base(x)`` plus seeded noise of size ``level`` (normal, or uniform in +-level)."""
    rng = np.random.default_rng(seed)
    draw = rng.standard_normal if kind == "normal" else lambda: rng.uniform(-1, 1)
    return lambda x: base(x) + level * draw()


def _mp(expr: str):
    """The exact derivative at the float point (every float is a rational): ``expr`` in
    mpmath (``d`` for its derivative function of ``x``), 50 digits, rounded at the end."""
    import mpmath

    def exact(x):
        with mpmath.workdps(50):
            xs = np.atleast_1d(np.asarray(x, dtype=float))
            out = [float(eval(expr, {"mp": mpmath, "x": mpmath.mpf(float(v))}))
                   for v in xs]
        return np.array(out).reshape(np.shape(x)) if np.ndim(x) else out[0]
    return exact


# one-sided schemes differentiate from one side: where f is continuous from that side at a
# jump, their answer is the one-sided derivative (right: forward, left: backward)
ONE_SIDED = {"forward-difference": "right", "backward-difference": "left"}


def _cases() -> list[tuple]:
    """(kind, description, f, x, exact derivative (callable of x, or None: none exists),
    one-sided derivatives {"right": ..., "left": ...} where f is continuous from that side)."""
    f32 = np.float32
    return [
        # the table of issue #20
        ("issue", "x^2 + 1e-9 noise at 1.5", _noisy(1e-9, 0), 1.5, _mp("2*x"), {}),
        ("issue", "x^2 + 1e-6 noise at 1.5", _noisy(1e-6, 1), 1.5, _mp("2*x"), {}),
        ("issue", "float(sin(float32(x))) at 0.7", lambda x: float(np.sin(f32(x))), 0.7,
         _mp("mp.cos(x)"), {}),
        ("issue", "gradient of 1e12 + sum x^2 at (0.5, 1.5)",
         lambda x: 1e12 + np.sum(x**2), np.array([0.5, 1.5]), _mp("2*x"), {}),
        ("issue", "floor(x) + x at 1.0 (a jump)", lambda x: np.floor(x) + x, 1.0, None,
         {"right": 1.0}),
        # held out: noise
        ("noisy", "exp(x) + 1e-12 noise at 0.3", _noisy(1e-12, 2, np.exp), 0.3,
         _mp("mp.exp(x)"), {}),
        ("noisy", "sin(x) + 1e-8 uniform noise at 2.0", _noisy(1e-8, 3, np.sin, "uniform"),
         2.0, _mp("mp.cos(x)"), {}),
        ("noisy", "gradient of sum cos + 1e-10 noise",
         _noisy(1e-10, 4, lambda x: np.sum(np.cos(x))), np.array([0.4, 1.3, -0.7]),
         _mp("-mp.sin(x)"), {}),
        # held out: quantized / lower precision
        ("quantized", "exp in float32 (float32 out) at 1.2", lambda x: np.exp(f32(x)), 1.2,
         _mp("mp.exp(x)"), {}),
        ("quantized", "log in float16 (float16 out) at 3.0", lambda x: np.log(np.float16(x)),
         3.0, _mp("1/x"), {}),
        ("quantized", "round(1e6 exp(x)) / 1e6 at 0.5",
         lambda x: np.round(1e6 * np.exp(x)) / 1e6, 0.5, _mp("mp.exp(x)"), {}),
        ("quantized", "float(sum atan(float32 x)) gradient",
         lambda x: float(np.sum(np.arctan(x.astype(f32)))), np.array([0.2, 2.5]),
         _mp("1/(1+x**2)"), {}),
        # held out: large offsets
        ("offset", "1e8 + sin(x) at 1.0", lambda x: 1e8 + np.sin(x), 1.0, _mp("mp.cos(x)"),
         {}),
        ("offset", "1e15 + x^3 at 2.0", lambda x: 1e15 + x**3, 2.0, _mp("3*x**2"), {}),
        ("offset", "-1e10 + exp(x) gradient", lambda x: -1e10 + np.sum(np.exp(x)),
         np.array([0.1, -0.4]), _mp("mp.exp(x)"), {}),
        # held out: jumps (no derivative at x)
        ("jump", "sign(x - 0.3) + x at 0.3", lambda x: np.sign(x - 0.3) + x, 0.3, None, {}),
        ("jump", "round(x) + 0.1 x at 2.5", lambda x: np.round(x) + 0.1 * x, 2.5, None,
         {"left": 0.1}),
        ("jump", "x if x < 1 else x + 1 (a branch) at 1.0",
         lambda x: x if x < 1 else x + 1.0, 1.0, None, {"right": 1.0}),
        ("jump", "floor(10 x) / 10 + x^2, 1e-9 right of its jump at 0.7",
         lambda x: np.floor(10 * x) / 10 + x**2, 0.7 + 1e-9, _mp("2*x"), {}),
        # held out: near a kink (the derivative exists at x)
        ("kink", "|x - 0.3| at 0.3 + 1e-6", lambda x: abs(x - 0.3), 0.3 + 1e-6, _mp("1"), {}),
        ("kink", "max(x, 2 - x) at 1 + 1e-4", lambda x: max(x, 2 - x), 1.0 + 1e-4, _mp("1"),
         {}),
        ("kink", "|sin(x)| at 1e-7", lambda x: abs(np.sin(x)), 1e-7, _mp("mp.cos(x)"), {}),
        # held out: near a pole
        ("pole", "1 / (x - 1) at 1.001", lambda x: 1 / (x - 1), 1.001, _mp("-1/(x-1)**2"), {}),
        ("pole", "tan(x) at pi/2 - 1e-4", lambda x: np.tan(x), np.pi / 2 - 1e-4,
         _mp("1/mp.cos(x)**2"), {}),
        ("pole", "log(x) at 1e-6", lambda x: np.log(x), 1e-6, _mp("1/x"), {}),
        ("pole", "1 / (x^2 - 2) at sqrt(2) + 1e-6 (x^2 rounds)", lambda x: 1 / (x**2 - 2),
         np.sqrt(2) + 1e-6, _mp("-2*x/(x**2-2)**2"), {}),
        ("pole", "1 / (exp(x) - 3) at log(3) + 1e-8", lambda x: 1 / (np.exp(x) - 3),
         np.log(3) + 1e-8, _mp("-mp.exp(x)/(mp.exp(x)-3)**2"), {}),
        # held out: huge and tiny x
        ("huge x", "sin(x) at 1e6", lambda x: np.sin(x), 1e6, _mp("mp.cos(x)"), {}),
        ("huge x", "log(x) at 1e12", lambda x: np.log(x), 1e12, _mp("1/x"), {}),
        ("huge x", "x^2 at 3e8", lambda x: x**2, 3e8, _mp("2*x"), {}),
        ("huge x", "sqrt(x) at 1e300", lambda x: np.sqrt(x), 1e300, _mp("1/(2*mp.sqrt(x))"),
         {}),
        ("huge x", "sin(x) at 1e308 (floats 2e292 apart)", lambda x: np.sin(x), 1e308,
         _mp("mp.cos(x)"), {}),
        ("huge x", "gradient of sum sin at (1e308, 1)", lambda x: np.sum(np.sin(x)),
         np.array([1e308, 1.0]), _mp("mp.cos(x)"), {}),
        ("huge x", "gradient of sum log at (1e300, 1e290)", lambda x: np.sum(np.log(x)),
         np.array([1e300, 1e290]), _mp("1/x"), {}),
        ("tiny x", "sin(x) at 1e-9", lambda x: np.sin(x), 1e-9, _mp("mp.cos(x)"), {}),
        ("tiny x", "exp(x) at 1e-300", lambda x: np.exp(x), 1e-300, _mp("mp.exp(x)"), {}),
        ("tiny x", "x^3 at 2e-5", lambda x: x**3, 2e-5, _mp("3*x**2"), {}),
    ]


def cases_table() -> tuple[list[str], int, int]:
    """The per-case table, the count of "ok" results with true error above the estimate, and
    the number of results."""
    warnings.simplefilter("ignore")
    lines = ["| kind | function | method | value | true error | estimate | status |",
             "|---|---|---|---|---|---|---|"]
    bad = total = 0
    for kind, text, f, x, exact, sides in _cases():
        for name in METHODS:
            m = dk.methods.get(name)
            total += 1
            try:
                r = m.gradient(f, x) if np.ndim(x) else m.derivative(f, x)
            except dk.DiffkitError as exc:
                lines.append(f"| {kind} | {text} | {name} | raised | — | — | "
                             f"{type(exc).__name__}: {str(exc)[:70]}... |")
                continue
            val = np.asarray(r.value, dtype=float)
            est = np.asarray(r.error, dtype=float)
            ok = r.status == "ok"
            side = sides.get(ONE_SIDED.get(name, ""))
            if side is not None:
                true = np.abs(val - side)
            elif exact is None:  # no derivative: only "not ok" is right
                true = np.full(val.shape, np.inf)
            else:
                true = np.abs(val - np.asarray(exact(x), dtype=float))
            fails = ok and bool(np.any(true > est))
            bad += fails
            status = r.status if len(r.status) < 90 else r.status[:87] + "..."
            lines.append(f"| {kind} | {text} | {name} | {_vals(val)} | {_vals(true)} | "
                         f"{_vals(est)} | {'**' if fails else ''}{status}"
                         f"{'**' if fails else ''} |")
    return lines, bad, total


def _vals(a: np.ndarray) -> str:
    a = np.ravel(a)
    return ", ".join(_fmt(float(v)) for v in a[:3]) + (" ..." if a.size > 3 else "")


# ----------------------------------------------------------------------------- soak


def soak(programs: int, seed: int) -> tuple[list[str], dict]:
    """Bound and within-100x fractions per method over random programs."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from tests.strategies import programs as strategy

    stats = {m: {"entries": 0, "bound": 0, "within": 0, "ok": 0, "ok_bad": 0, "results": 0,
                 "raised": 0} for m in METHODS}
    worst: dict[str, list[tuple[float, str]]] = {m: [] for m in METHODS}
    count = [0]

    @hseed(seed)
    @settings(max_examples=programs, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy())
    def run(prog):  # type: ignore[no-untyped-def]
        count[0] += 1
        spec = prog.spec()
        x = prog.point
        exact, _ = prog.reference()
        for name in METHODS:
            if name == "complex-step" and not prog.analytic:
                continue
            s = stats[name]
            try:
                with np.errstate(all="ignore"):
                    r = dk.methods.get(name).gradient(spec, x)
            except dk.DiffkitError:
                s["raised"] += 1
                continue
            val = np.ravel(np.asarray(r.value, dtype=float))
            est = np.ravel(np.asarray(r.error, dtype=float))
            ex = np.ravel(exact)
            true = np.abs(val - ex)
            # errors below one rounding of the gradient's scale count as that
            floor = EPS * max(1.0, float(np.abs(ex).max()))
            s["results"] += 1
            s["entries"] += val.size
            bound = est >= true
            s["bound"] += int(bound.sum())
            s["within"] += int((bound & (est <= 100 * np.maximum(true, floor))).sum())
            s["ok"] += r.status == "ok"
            s["ok_bad"] += r.status == "ok" and not bool(bound.all())
            if not bound.all():
                ratio = float(np.max(true / np.maximum(est, 1e-300)))
                worst[name].append((ratio, f"{prog.text} at {np.ravel(x).tolist()}"))

    run()
    lines = [f"{count[0]} programs (seed {seed}), float64, deterministic", "",
             "| method | gradient entries | estimate bounds true error | within 100x of it | "
             "results ok | ok but not bounded | refused (DiffkitError) |",
             "|---|---|---|---|---|---|---|"]
    for name in METHODS:
        s = stats[name]
        e = max(s["entries"], 1)
        lines.append(f"| {name} | {s['entries']} | {s['bound'] / e:.4%} | "
                     f"{s['within'] / e:.2%} | {s['ok']}/{s['results']} | {s['ok_bad']} | "
                     f"{s['raised']} |")
    lines.append("")
    for name in METHODS:
        for ratio, text in sorted(worst[name], reverse=True)[:3]:
            lines.append(f"- {name}: true error {ratio:.3g}x the estimate: `{text}`")
    return lines, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--memory-gb", type=float, default=4.0)
    parser.add_argument("--no-cases", action="store_true")
    parser.add_argument("--markdown", default="", help="also write the tables here")
    args = parser.parse_args(argv)
    limit = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = []
    if not args.no_cases:
        t = time.perf_counter()
        lines, bad, total = cases_table()
        out += ["## Cases (issue #20's table and held-out cases)", "", *lines, "",
                f"results with status ok and true error above the estimate: {bad} of {total} "
                f"({time.perf_counter() - t:.0f} s)", ""]
    if args.programs:
        t = time.perf_counter()
        lines, _ = soak(args.programs, args.seed)
        out += ["## Soak: estimates against exact gradients", "", *lines, "",
                f"({time.perf_counter() - t:.0f} s)"]
    text = "\n".join(out)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
