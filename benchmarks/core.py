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


if __name__ == "__main__":
    print(f"import diffkit (beyond numpy): {import_time():.3f} s  (target < 0.3 s)")
    for name, us in dnp_overhead().items():
        print(f"dnp.{name:<28} +{us:.2f} µs over numpy  (target < 1 µs)")
