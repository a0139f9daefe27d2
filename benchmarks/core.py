"""Core overheads: `import diffkit` time and the cost of a dnp call over plain numpy.

Targets (issue 2): import < 0.3 s beyond numpy; a dnp call on a plain float or array costs
< 1 µs over the numpy call. Run: ``python benchmarks/core.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import timeit

import numpy as np

# DIFFKIT_TREE: another checkout to measure (benchmarks/against.py pairs two trees)
TREE = os.environ.get("DIFFKIT_TREE") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..")
sys.path.insert(0, TREE)


def import_time(repeats: int = 7) -> float:
    code = ("import time; import numpy; t = time.perf_counter(); import diffkit; "
            "print(time.perf_counter() - t)")
    env = {**os.environ, "PYTHONPATH": TREE}
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True, env=env).stdout) for _ in range(repeats)]
    return statistics.median(times)


def dnp_overhead() -> dict[str, float]:
    import diffkit.numpy as dnp

    x, a = 1.3, np.linspace(0.1, 1.0, 10)
    cases = {"sin(float)": (dnp.sin, np.sin, (x,)), "exp(array10)": (dnp.exp, np.exp, (a,)),
             "multiply(array10, array10)": (dnp.multiply, np.multiply, (a, a)),
             "sum(array10)": (dnp.sum, np.sum, (a,))}
    out = {}
    for name, (ours, theirs, args) in cases.items():
        diffs = []
        for _ in range(15):  # paired repeats: the difference of each pair, then the median
            t_d = timeit.timeit(lambda: ours(*args), number=20000) / 20000  # noqa: B023
            t_n = timeit.timeit(lambda: theirs(*args), number=20000) / 20000  # noqa: B023
            diffs.append(t_d - t_n)
        out[name] = statistics.median(diffs) * 1e6
    return out


def hostile_parse_times() -> dict[str, float]:
    import diffkit as dk

    texts = {"5000 nested parentheses": "(" * 5000 + "x" + ")" * 5000,
             "x+x+... (5000 terms)": "x+" * 4999 + "x", "20000-character name": "x" * 20000,
             "power tower 9**9**9**9**9": "9**9**9**9**9"}
    out = {}
    for name, text in texts.items():
        times = []
        for _ in range(7):
            t = timeit.default_timer()
            try:
                dk.Function.from_expr(text).program.sympy()
            except dk.ParseError:
                pass
            times.append(timeit.default_timer() - t)
        out[name] = statistics.median(times)
    return out


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    rows = [("import diffkit (beyond numpy), s", import_time(), "< 0.3")]
    rows += [(f"dnp.{name} over numpy, µs", us, "< 1") for name, us in dnp_overhead().items()]
    rows += [(f"refuse {name}, ms", sec * 1e3, "< 100")
             for name, sec in hostile_parse_times().items()]
    lines = ["| measure | value | target |", "|---|---|---|"]
    lines += [f"| {name} | {value:.3f} | {target} |" for name, value, target in rows]
    print("\n".join(lines))  # (--markdown PATH: benchmarks/_markdown.py saves it)
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Core overheads"))
