"""Core overheads: `import diffkit` time and the cost of a dnp call over plain numpy.

Targets (issue 2): import < 0.3 s beyond numpy; a dnp call on a plain float or array costs
< 1 µs over the numpy call. Run: ``python benchmarks/core.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import timeit

import numpy as np


def import_time(repeats: int = 7) -> float:
    code = ("import time; import numpy; t = time.perf_counter(); import diffkit; "
            "print(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(repeats)]
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
    print(f"import diffkit (beyond numpy): {import_time():.3f} s  (target < 0.3 s)")
    for name, us in dnp_overhead().items():
        print(f"dnp.{name:<28} +{us:.2f} µs over numpy  (target < 1 µs)")
    for name, sec in hostile_parse_times().items():
        print(f"refuse {name:<28} {sec * 1e3:.2f} ms  (target < 100 ms)")
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Core overheads"))
