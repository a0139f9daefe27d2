"""Precision: derivatives of functions that compute in float32 (or float16), and checks that
can fail (issue #18).

Four tables:

1. **The 9-function suite in float32** (``f`` casts its input to float32 and computes
   there; exact references from sympy at 50 digits, at the float64 point): median and worst
   relative error per numerical method, whether each error estimate bounds the true error,
   and how many results say ``"ok"``. Targets: central <= 1e-4 / 1e-3, forward <= 1e-3 /
   1e-2, Richardson <= 2e-5 / 2e-4 with an estimate that bounds the error 9/9.
2. **The table of issue #18**: ``sum(sin(float32 x)**2)`` at (0.3, 0.7, 1.1), float32 out
   and float64 out, every numerical method, and ``check_grad`` with a 10 % bug, a 1 % bug and
   the correct gradient.
3. **A check matrix**: float16 / float32 / float64 versions of every catalogue function x
   every numerical reference x ``check_grad`` with a planted 0.1 % / 1 % / 10 % error in one
   entry, at random points. A *silent pass* is a pass with the planted error above the
   tolerance the check states (``allowed``): must be 0.
4. **False alarms**: the correct gradient at 100 random points per catalogue entry, in each
   precision, with the default reference: fails must be 0 (inconclusive ones are counted).

::

    python benchmarks/precision.py                       # about two minutes
    python benchmarks/precision.py --points 20 --markdown /tmp/precision.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import diffkit as dk
from diffkit import catalog
from diffkit.testing import check_grad, check_jacobian

NUMERICAL = ("forward-difference", "backward-difference", "central-difference", "richardson",
             "complex-step")
DTYPES = (np.float16, np.float32, np.float64)


def _fmt(v: float) -> str:
    return "—" if v is None or not np.isfinite(v) else ("0" if v == 0 else f"{v:.1e}")


def in_precision(spec: dk.Function, dtype, out: str = "native") -> dk.Function:
    """``spec`` with its input cast to ``dtype`` (``x.astype(dtype)``) and computed there;
    ``out="float"`` returns a Python float (float64 out, ``dtype`` inside)."""
    fn = spec.fn
    cast = (lambda v: v) if out == "native" else (lambda v: np.asarray(v, dtype=float)
                                                  if np.ndim(v) else float(v))

    def f(*args):
        return cast(fn(*(a.astype(dtype) if hasattr(a, "astype") else dtype(a)
                         for a in args)))

    name = f"{spec.name} in {np.dtype(dtype).name}" + ("" if out == "native" else ", float out")
    return dk.Function(f, name=name, parameters=spec.parameters)


# ----------------------------------------------------------------------------- 1. suite


def suite_table() -> list[str]:
    methods = ("forward-difference", "backward-difference", "central-difference", "richardson")
    targets = {"central-difference": (1e-4, 1e-3), "forward-difference": (1e-3, 1e-2),
               "backward-difference": (1e-3, 1e-2), "richardson": (2e-5, 2e-4)}
    lines = ["| method | median rel err | worst | target (median / worst) | estimate bounds "
             "the true error | status ok | per function (rel err) |",
             "|---|---|---|---|---|---|---|"]
    for name in methods:
        errs, bounds, oks, per = [], 0, 0, []
        for e in catalog.suite():
            x = float(e.point)
            exact = float(e.exact_float())
            f = in_precision(e.function, np.float32)
            r = dk.methods.get(name).derivative(f, x)
            err = abs(float(r) - exact) / abs(exact)
            errs.append(err)
            bounds += bool(r.error is not None and float(r.error) >= abs(float(r) - exact))
            oks += r.status == "ok"
            per.append(f"{e.name} {_fmt(err)}")
        med, worst = float(np.median(errs)), max(errs)
        t = targets[name]
        flag = "met" if med <= t[0] and worst <= t[1] else "MISSED"
        lines.append(f"| {name} | {_fmt(med)} | {_fmt(worst)} | {t[0]:.0e} / {t[1]:.0e} "
                     f"({flag}) | {bounds}/9 | {oks}/9 | {'; '.join(per)} |")
    return lines


# ----------------------------------------------------------------------------- 2. issue


def issue_table() -> list[str]:
    x = np.array([0.3, 0.7, 1.1])
    exact = np.sin(2 * x)
    lines = ["| f | call | result | status |", "|---|---|---|---|"]
    for out in ("float32 out", "float64 out, float32 inside"):
        if out == "float32 out":
            f = dk.Function(lambda x: np.sum(np.sin(x.astype(np.float32)) ** 2), name="f")
        else:
            f = dk.Function(lambda x: float(np.sum(np.sin(x.astype(np.float32)) ** 2)),
                            name="f")
        for name in NUMERICAL:
            try:
                r = dk.methods.get(name).gradient(f, x)
            except dk.DiffkitError as exc:
                lines.append(f"| {out} | gradient, {name} | refused | "
                             f"{type(exc).__name__}: {str(exc)[:60]}... |")
                continue
            rel = np.max(np.abs(r.value - exact)) / np.max(np.abs(exact))
            est = np.max(r.error) / np.max(np.abs(exact))
            status = r.status if len(r.status) < 70 else r.status[:67] + "..."
            lines.append(f"| {out} | gradient, {name} | rel error {_fmt(rel)} (estimate "
                         f"{_fmt(est)}) | {status} |")
        for label, g in (("10% bug", exact * [1.1, 1, 1]), ("1% bug", exact * [1.01, 1, 1]),
                         ("correct", exact)):
            rep = check_grad(f, lambda x, g=g: g, x)
            lines.append(f"| {out} | check_grad, {label} | **{rep.verdict}** | rtol "
                         f"{rep.rtol:.0e}, atol {rep.atol:.1e}, precision {rep.precision} |")
    return lines


# ----------------------------------------------------------------------------- 3. matrix


def _exact_evaluator(entry):
    """Exact derivatives of a catalogue entry, compiled once (sympy -> mpmath, 30 digits)."""
    import mpmath
    import sympy

    from diffkit.reference import sympy_form

    if entry.expr is None:
        return entry.exact_float
    expr, symbols = sympy_form(entry.function)
    outs = list(np.ravel(np.asarray(expr, dtype=object))) if isinstance(expr, np.ndarray) \
        else [expr]
    fn = sympy.lambdify(symbols, [[sympy.diff(o, s) for s in symbols] for o in outs],
                        modules="mpmath")
    vector = "vector" in entry.tags

    def exact(x):
        with mpmath.workdps(30):
            args = [mpmath.mpf(float(v)) for v in np.ravel(x)]
            rows = np.array([[float(v) for v in row] for row in fn(*args)])
        return rows if vector else rows[0].reshape(np.shape(x))

    return exact


def _points(entry, rng, k):
    p = np.asarray(entry.point, dtype=float)
    spread = 0.25 * np.maximum(np.abs(p), 0.04)
    return [p + rng.uniform(-1.0, 1.0, p.shape) * spread for _ in range(k)]


def _check(entry, f, x, value, **kw):
    if "vector" in entry.tags:
        return check_jacobian(f, lambda *a, v=value: v, x, **kw)
    return check_grad(f, lambda *a, v=value: v, x, **kw)


def matrix(points: int, seed: int) -> tuple[list[str], dict]:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(seed)
    out: dict = {}
    silent_total = 0
    for dtype in DTYPES:
        for ref in NUMERICAL:
            counts = {b: {"fail": 0, "inconclusive": 0, "pass": 0, "silent": 0,
                          "refused": 0} for b in (1e-3, 1e-2, 1e-1)}
            for entry in catalog.entries():
                exact = _exact_evaluator(entry)
                f = in_precision(entry.function, dtype) if dtype != np.float64 \
                    else entry.function
                for x in _points(entry, rng, points):
                    value = exact(x)
                    flat = np.abs(np.ravel(value))
                    i = int(np.argmax(flat))  # the planted error sits in the largest entry
                    for b in counts:
                        bad = np.array(value, dtype=float, copy=True).ravel()
                        bad[i] *= 1 + b
                        bad = bad.reshape(np.shape(value))
                        try:
                            rep = _check(entry, f, x, bad, reference=ref)
                        except dk.DiffkitError:
                            counts[b]["refused"] += 1
                            continue
                        counts[b][rep.verdict] += 1
                        if rep.verdict == "pass" and b * flat[i] > np.ravel(rep.allowed)[i]:
                            counts[b]["silent"] += 1
            out[(np.dtype(dtype).name, ref)] = counts
            silent_total += sum(c["silent"] for c in counts.values())
    lines = ["| precision | reference | 0.1% error: fail / inconclusive / pass (silent) / "
             "refused | 1% error | 10% error |", "|---|---|---|---|---|"]
    for (dt, ref), counts in out.items():
        cells = [f"{c['fail']} / {c['inconclusive']} / {c['pass']} ({c['silent']}) / "
                 f"{c['refused']}" for c in counts.values()]
        lines.append(f"| {dt} | {ref} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"silent passes (a pass with the planted error above the stated tolerance): "
                 f"{silent_total}")
    return lines, out


# ----------------------------------------------------------------------------- 4. alarms


def false_alarms(points: int, seed: int) -> list[str]:
    warnings.simplefilter("ignore")
    lines = ["| precision | checks | pass | inconclusive | fail (false alarm) | refused | "
             "entries with an inconclusive check |", "|---|---|---|---|---|---|---|"]
    total_fail = 0
    for dtype in DTYPES:
        rng = np.random.default_rng(seed)
        c = {"pass": 0, "inconclusive": 0, "fail": 0, "refused": 0}
        where = set()
        for entry in catalog.entries():
            exact = _exact_evaluator(entry)
            f = in_precision(entry.function, dtype) if dtype != np.float64 else entry.function
            for x in _points(entry, rng, points):
                try:
                    rep = _check(entry, f, x, exact(x))
                except dk.DiffkitError:
                    c["refused"] += 1
                    continue
                c[rep.verdict] += 1
                if rep.verdict == "inconclusive":
                    where.add(entry.name)
        total_fail += c["fail"]
        n = sum(c.values())
        lines.append(f"| {np.dtype(dtype).name} | {n} | {c['pass']} | {c['inconclusive']} | "
                     f"{c['fail']} | {c['refused']} | {', '.join(sorted(where)) or '—'} |")
    lines.append("")
    lines.append(f"false alarms (a correct gradient failed): {total_fail}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100,
                        help="random points per catalogue entry for the false-alarm table")
    parser.add_argument("--matrix-points", type=int, default=5,
                        help="random points per catalogue entry and reference in the matrix")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--markdown", default="", help="also write the tables here")
    args = parser.parse_args(argv)
    out = []
    t = time.perf_counter()
    out += ["## The 9-function suite in float32", "", *suite_table(), ""]
    out += ["## Issue #18's table", "", *issue_table(), ""]
    lines, _ = matrix(args.matrix_points, args.seed)
    out += [f"## check_grad with planted errors ({args.matrix_points} random points per "
            f"catalogue entry, error in the largest entry)", "", *lines, ""]
    out += [f"## Correct gradients at {args.points} random points per catalogue entry "
            f"(default reference)", "", *false_alarms(args.points, args.seed), ""]
    out.append(f"({time.perf_counter() - t:.0f} s)")
    text = "\n".join(out)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
