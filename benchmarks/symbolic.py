"""Symbolic benchmark: expression swell on the logistic map, and what the DAG strategy does.

Run: ``python benchmarks/symbolic.py`` (``--quick``: one repeat, ``--max-tree N``: largest n
differentiated as a tree with sympy, default 12). For l_1 = x, l_{k+1} = 4 l_k (1 - l_k),
n = 1..20, in one process:

* sizes of f and f' per strategy (tree = sympy.diff, dag = reverse accumulation over the
  recorded program), measured by diffkit's memoised DAG walks;
* time of differentiation, of the metrics, and of one compiled gradient call;
* plain sympy beside them (``diff``, ``count_ops``, ``cse``), symengine's ``diff``, and the
  op count of diffkit's reverse-mode tape.

sympy's cache is cleared before every timed step (``sympy.core.cache.clear_cache``), or it
would hide the cost. Figures are medians over repeats; the machine is shared, so compare the
ratios printed in the same run.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sympy
from sympy.core.cache import clear_cache

from diffkit import methods
from diffkit.analysis.expressions import measure
from diffkit.catalog import logistic
from diffkit.methods.symbolic import Symbolic


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``fn()`` over ``repeats`` calls, each after clearing sympy's cache."""
    times, out = [], None
    for _ in range(repeats):
        clear_cache()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _per_call_us(fn: Callable[[], Any], repeats: int = 7, number: int = 5000) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e6


def _plain_loop(n: int) -> Callable[[float], float]:
    """The hand-written derivative loop, as a Python-speed yardstick for compiled code."""

    def grad(x: float) -> float:
        v, d = x, 1.0
        for _ in range(n - 1):
            d = 4.0 * (1.0 - 2.0 * v) * d
            v = 4.0 * v * (1.0 - v)
        return d

    return grad


def _symengine() -> Any:
    try:
        import symengine
    except ImportError:
        return None
    from diffkit.methods.symbolic import to_symengine

    return symengine, to_symengine


def run(ns: list[int], max_tree: int, repeats: int, sympy_ns: set[int]) -> int:
    se = _symengine()
    have_reverse = "reverse-mode" in methods.available()
    rows = []
    for n in ns:
        row: dict[str, Any] = {"n": n}
        # ---- f itself
        t_fx, fx = _median_time(lambda n=n: Symbolic().expression(logistic(n).function), repeats)
        mf = measure(fx)
        row.update(f_tree=mf.tree_size, f_dag=mf.dag_size, f_cse=mf.cse_ops, t_trace=t_fx)
        # ---- dag strategy: trace + reverse accumulation, then metrics
        t_dag, d_dag = _median_time(
            lambda n=n: Symbolic(strategy="dag").derivative_expressions(logistic(n).function),
            repeats)
        t_mdag, m_dag = _median_time(lambda d=d_dag, f=fx: (measure(f), measure(d))[1], repeats)
        row.update(dag_tree=m_dag.tree_size, dag_dag=m_dag.dag_size, dag_cse=m_dag.cse_ops,
                   t_dag=t_dag, t_mdag=t_mdag)
        # ---- tree strategy (sympy.diff), only while it finishes in reasonable time
        if n <= max_tree:
            t_tree, d_tree = _median_time(
                lambda n=n: Symbolic(strategy="tree").derivative_expressions(
                    logistic(n).function), repeats)
            t_mtree, m_tree = _median_time(
                lambda d=d_tree, f=fx: (measure(f), measure(d))[1], repeats)
            row.update(tree_tree=m_tree.tree_size, tree_dag=m_tree.dag_size,
                       tree_cse=m_tree.cse_ops, t_tree=t_tree, t_mtree=t_mtree)
            if n in sympy_ns:  # plain sympy's own tools, slow: selected n only
                expr = d_tree[0, 0]
                t_co, _ = _median_time(lambda e=expr: sympy.count_ops(e), 1)
                t_cse, cse_out = _median_time(lambda e=expr: sympy.cse(e), 1)
                repl, red = cse_out
                row.update(t_count_ops=t_co, t_sympy_cse=t_cse,
                           sympy_cse_ops=sympy.count_ops([v for _, v in repl] + red))
        elif se is not None:  # beyond sympy's reach: the same tree derivative by symengine
            t_tree, d_tree = _median_time(
                lambda n=n: Symbolic(strategy="tree", engine="symengine").derivative_expressions(
                    logistic(n).function), repeats)
            m_tree = measure(d_tree)
            row.update(tree_tree=m_tree.tree_size, tree_dag=m_tree.dag_size,
                       tree_cse=m_tree.cse_ops, t_tree_se=t_tree)
        # ---- symengine tree differentiation
        if se is not None:
            se_diff, to_se = se[0].diff, se[1]
            x = sympy.Symbol("x", real=True)
            se_f, se_x = to_se(fx), to_se(x)
            row["t_symengine"] = statistics.median(
                timeit.repeat(lambda f=se_f, v=se_x, d=se_diff: d(f, v), number=1,
                              repeat=max(repeats, 3)))
        # ---- reverse-mode tape
        if have_reverse:
            r = methods.get("reverse-mode").derivative(logistic(n).function, 0.3)
            row["tape_ops"] = r.info.get("ops")
        rows.append(row)
        print(f"  n = {n} done", file=sys.stderr, flush=True)

    # ---- compiled evaluation at n = 12
    n_eval = 12 if 12 in ns else max(ns)
    clear_cache()
    spec = logistic(n_eval).function
    t0 = time.perf_counter()
    g = Symbolic().compile(spec)
    t_build = time.perf_counter() - t0
    us_dag = _per_call_us(lambda: g(0.3))
    plain = _plain_loop(n_eval)
    us_plain = _per_call_us(lambda: plain(0.3))
    us_api = _per_call_us(lambda: Symbolic().gradient(spec, 0.3), number=500)
    sympy_lambdify = None
    if n_eval <= max_tree:
        clear_cache()
        x = sympy.Symbol("x", real=True)
        d = Symbolic(strategy="tree").derivative_expressions(spec)[0, 0]
        t0 = time.perf_counter()
        h = sympy.lambdify([x], d, modules="math", cse=True)
        sympy_lambdify = (time.perf_counter() - t0, _per_call_us(lambda: h(0.3)))

    _print(rows, max_tree, have_reverse, se is not None)
    print(f"\nCompiled gradient at n = {n_eval} (modules='math', diffkit cse): build "
          f"{t_build * 1e3:.0f} ms, {us_dag:.2f} µs per call; hand-written Python loop "
          f"{us_plain:.2f} µs ({us_dag / us_plain:.2f}x); Symbolic().gradient(f, x) through "
          f"the API (validation, f's domain check) {us_api:.1f} µs")
    if sympy_lambdify is not None:
        print(f"sympy.diff + lambdify(cse=True): build {sympy_lambdify[0]:.2f} s, "
              f"{sympy_lambdify[1]:.2f} µs per call")
    return _targets(rows, us_dag, n_eval)


def _fmt(v: Any, kind: str = "int") -> str:
    if v is None:
        return "—"
    if kind == "s":
        return f"{v:.3f}" if v >= 0.001 else f"{v * 1e3:.2f}ms"
    return f"{v:,}"


def _print(rows: list[dict[str, Any]], max_tree: int, have_reverse: bool, have_se: bool
           ) -> None:
    print("\nSizes (tree = unfolded nodes, DAG = distinct subexpressions, CSE = ops after "
          "diffkit's CSE):\n")
    print("| n | tree(f) | DAG(f) | CSE(f) | tree strategy: tree(f') | DAG(f') | CSE(f') | "
          "dag strategy: DAG(f') | CSE(f') | CSE(f')/CSE(f) | reverse tape ops |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["dag_cse"] / r["f_cse"] if r["f_cse"] else float("nan")
        print(f"| {r['n']} | {_fmt(r['f_tree'])} | {r['f_dag']} | {r['f_cse']} | "
              f"{_fmt(r.get('tree_tree'))} | {_fmt(r.get('tree_dag'))} | "
              f"{_fmt(r.get('tree_cse'))} | {r['dag_dag']} | {r['dag_cse']} | {ratio:.2f} | "
              f"{_fmt(r.get('tape_ops')) if have_reverse else 'n/a'} |")
    print("\nTimes in seconds (medians; metrics = f and f' together):\n")
    print("| n | trace f | dag: differentiate | dag: metrics | tree: sympy.diff | "
          "tree: metrics | sympy count_ops(f') | sympy cse(f') | symengine diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {_fmt(r['t_trace'], 's')} | {_fmt(r['t_dag'], 's')} | "
              f"{_fmt(r['t_mdag'], 's')} | {_fmt(r.get('t_tree'), 's')} | "
              f"{_fmt(r.get('t_mtree'), 's')} | {_fmt(r.get('t_count_ops'), 's')} | "
              f"{_fmt(r.get('t_sympy_cse'), 's')} | "
              f"{_fmt(r.get('t_symengine'), 's') if have_se else 'not installed'} |")
    for r in rows:
        if "sympy_cse_ops" in r:
            print(f"n = {r['n']}: sympy.cse(sympy.diff) -> {r['sympy_cse_ops']} ops "
                  f"(diffkit's CSE of the same expression: {r['tree_cse']}; dag strategy: "
                  f"{r['dag_cse']})")
    if not have_reverse:
        print("reverse-mode is not in this installation: tape op counts skipped")
    if max(r["n"] for r in rows) > max_tree:
        print(f"tree strategy for n > {max_tree}: sympy.diff swells, so those rows are "
              f"Symbolic(strategy='tree', engine='symengine') (same tree), or skipped without "
              f"symengine; --max-tree N to change")


def _targets(rows: list[dict[str, Any]], us_dag: float, n_eval: int) -> int:
    by_n = {r["n"]: r for r in rows}
    checks = []
    if 12 in by_n:
        r = by_n[12]
        if "t_mtree" in r:
            checks.append((f"n=12 metrics of f and f' (tree) {r['t_mtree']:.3f} s < 0.5 s",
                           r["t_mtree"] < 0.5))
        checks.append((f"n=12 metrics of f and f' (dag) {r['t_mdag']:.3f} s < 0.5 s",
                       r["t_mdag"] < 0.5))
        total = r["t_dag"] + r["t_mdag"]
        checks.append((f"n=12 dag differentiation + metrics {total:.3f} s < 1 s", total < 1.0))
    worst = max(rows, key=lambda r: r["dag_cse"] / max(r["f_cse"], 1))
    ratio = worst["dag_cse"] / max(worst["f_cse"], 1)
    checks.append((f"dag CSE(f') <= 3 CSE(f) for n <= {max(by_n)} (worst {ratio:.2f} at "
                   f"n = {worst['n']})", ratio <= 3.0))
    checks.append((f"compiled gradient n={n_eval} {us_dag:.2f} µs <= 10 µs", us_dag <= 10.0))
    print("\nTargets:")
    for text, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for _, ok in checks) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat per timing")
    parser.add_argument("--max-n", type=int, default=20)
    parser.add_argument("--max-tree", type=int, default=12,
                        help="largest n differentiated with sympy.diff")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    ns = list(range(1, args.max_n + 1))
    return run(ns, args.max_tree, repeats, sympy_ns={8, 12})


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Symbolic differentiation and expression swell"))
