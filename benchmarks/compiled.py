"""Source transformation benchmark: method="reverse-compiled" against the tape, jax.jit and
hand-written gradients, through the public call.

Run: ``python benchmarks/compiled.py`` (``--quick`` for fewer repeats, ``--markdown PATH``
to write the table). Thread pools are pinned to one thread; each ratio is the median over
repeats that time the function and the derivative back to back (paired), so load from other
processes hits both alike.

(a) Rosenbrock ``(value+grad)/f`` at n = 1e3 and 1e6: ``dk.gradient(F, x, method=...)`` with
    the cache warm (the compiled program alone in its own column);
(b) the logistic map x <- 4x(1-x), 1000 steps (3000 scalar ops): µs per op, forward+backward;
(c) an MLP 784-256-10, tanh, batch 128, softmax cross-entropy: grad/forward, the parameters
    one flat vector (the public call takes one point);
(d) the first call (trace + write + compile + the check that the program reproduces its
    trace) for programs of about 1,000 operations.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# DIFFKIT_TREE: another checkout to measure (benchmarks/against.py pairs two trees)
sys.path.insert(0, os.environ.get("DIFFKIT_TREE")
                or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.methods.compiled import ReverseCompiled

try:
    import jax
    import jax.numpy as jnp
except Exception:  # not installed: its columns are empty
    jax = None

COMPILED = "reverse-compiled"
TAPE = "reverse-mode"


def _time(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _number(fn: Callable[[], Any], budget: float = 0.02, least: int = 1) -> int:
    return max(least, int(budget / max(_time(fn, 1), 1e-9)))


def paired(f: Callable[[], Any], tools: dict[str, Callable[[], Any]], repeats: int
           ) -> tuple[dict[str, float], float]:
    """Median of tool/f over repeats (f timed before each tool, each after one untimed
    call), and f's median time."""
    f()
    for g in tools.values():
        g()  # warm: caches, jit
    # (at least five calls a block: at n = 1e6 a block of one or two calls is mostly the
    # first call after the other function's, see below)
    nf = _number(f, least=5)
    numbers = {k: _number(g, least=5) for k, g in tools.items()}
    ratios: dict[str, list[float]] = {k: [] for k in tools}
    tf = []
    for _ in range(repeats):
        for k, g in tools.items():
            # one untimed call before each block: each is timed in its steady state (at
            # n = 1e6 the first call after another function's pays the system's page faults
            # for the memory that one freed, 2 ms of 8 here, whichever comes first)
            f()
            a = _time(f, nf)
            g()
            ratios[k].append(_time(g, numbers[k]) / a)
            tf.append(a)
    return {k: float(np.median(v)) for k, v in ratios.items()}, float(np.median(tf))


# ============================================================================ (a) Rosenbrock


def rosen(x: Any) -> Any:
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_value_and_grad_numpy(x: np.ndarray) -> tuple[float, np.ndarray]:
    xm, xp = x[:-1], x[1:]
    d = xp - xm**2
    e = 1.0 - xm
    f = np.sum(100.0 * d**2 + e**2)
    g = np.zeros_like(x)
    g[:-1] = -400.0 * xm * d - 2.0 * e
    g[1:] += 200.0 * d
    return f, g


def bench_rosen(n: int, repeats: int) -> dict[str, float]:
    x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    spec = dk.Function(rosen)
    program = ReverseCompiled().compile(spec, x).function
    tools: dict[str, Callable[[], Any]] = {
        COMPILED: lambda: dk.gradient(spec, x, method=COMPILED),
        "compiled program": lambda: program(x),
        TAPE: lambda: dk.gradient(spec, x, method=TAPE),
        "hand-written": lambda: rosen_value_and_grad_numpy(x),
    }
    if jax is not None:
        def jrosen(x: Any) -> Any:
            return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

        xj = jnp.asarray(x)
        jf, jvg = jax.jit(jrosen), jax.jit(jax.value_and_grad(jrosen))
        jf(xj).block_until_ready()
        ratio, _ = paired(lambda: jf(xj).block_until_ready(),
                          {"jax.jit": lambda: jvg(xj)[1].block_until_ready()}, repeats)
    out, _ = paired(lambda: rosen(x), tools, repeats)
    if jax is not None:
        out.update(ratio)
    return out


# ============================================================================ (b) logistic


STEPS = 1000
OPS = 3 * STEPS


def logistic(x: Any) -> Any:
    for _ in range(STEPS):
        x = 4.0 * x * (1.0 - x)
    return x


def bench_logistic(repeats: int) -> dict[str, float]:
    """µs per scalar op (forward + backward) through dk.gradient."""
    spec = dk.Function(logistic)
    program = ReverseCompiled().compile(spec, 0.3).function
    tools: dict[str, Callable[[], Any]] = {
        COMPILED: lambda: dk.gradient(spec, 0.3, method=COMPILED),
        "compiled program": lambda: program(0.3),
        TAPE: lambda: dk.gradient(spec, 0.3, method=TAPE),
    }
    if jax is not None:
        def jlogistic(x: Any) -> Any:
            return jax.lax.fori_loop(0, STEPS, lambda _, x: 4.0 * x * (1.0 - x), x)

        jg = jax.jit(jax.grad(jlogistic))
        tools["jax.jit"] = lambda: jg(0.3).block_until_ready()
    times: dict[str, list[float]] = {k: [] for k in tools}
    numbers = {}
    for k, fn in tools.items():
        fn()
        numbers[k] = _number(fn, 0.05)
    for _ in range(repeats):
        for k, fn in tools.items():
            times[k].append(_time(fn, numbers[k]))
    return {k: float(np.median(v)) / OPS * 1e6 for k, v in times.items()}


# ============================================================================ (c) MLP


SIZES = (784, 256, 10)
BATCH = 128
_SPLIT = (784 * 256, 784 * 256 + 256, 784 * 256 + 256 + 2560)


def bench_mlp(repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    params = [rng.normal(0, 784**-0.5, (784, 256)), np.zeros(256),
              rng.normal(0, 256**-0.5, (256, 10)), np.zeros(10)]
    xb = rng.normal(size=(BATCH, 784))
    yb = np.eye(10)[rng.integers(0, 10, BATCH)]
    flat = np.concatenate([q.ravel() for q in params])

    def split(p: Any) -> tuple[Any, Any, Any, Any]:
        a, b, c = _SPLIT
        return (p[:a].reshape(784, 256), p[a:b], p[b:c].reshape(256, 10), p[c:])

    def loss(p: Any) -> Any:
        w1, b1, w2, b2 = split(p)
        h = dnp.tanh(xb @ w1 + b1)
        logits = h @ w2 + b2
        return dnp.mean(dnp.logsumexp(logits, axis=1) - dnp.sum(logits * yb, axis=1))

    def np_grad(p: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = split(p)
        h = np.tanh(xb @ w1 + b1)
        z = h @ w2 + b2
        ez = np.exp(z - z.max(axis=1, keepdims=True))
        dz = (ez / ez.sum(axis=1, keepdims=True) - yb) / BATCH
        da = (dz @ w2.T) * (1.0 - h * h)
        return np.concatenate([(xb.T @ da).ravel(), da.sum(0), (h.T @ dz).ravel(), dz.sum(0)])

    spec = dk.Function(loss)
    program = ReverseCompiled().compile(spec, flat).function
    tools: dict[str, Callable[[], Any]] = {
        COMPILED: lambda: dk.gradient(spec, flat, method=COMPILED),
        "compiled program": lambda: program(flat),
        TAPE: lambda: dk.gradient(spec, flat, method=TAPE),
        "hand-written": lambda: np_grad(flat),
    }
    out, _ = paired(lambda: loss(flat), tools, repeats)
    if jax is not None:
        from jax.scipy.special import logsumexp as jlse

        jxb, jyb, jflat = jnp.asarray(xb), jnp.asarray(yb), jnp.asarray(flat)

        def jloss(p: Any) -> Any:
            a, b, c = _SPLIT
            w1, b1 = p[:a].reshape(784, 256), p[a:b]
            w2, b2 = p[b:c].reshape(256, 10), p[c:]
            z = jnp.tanh(jxb @ w1 + b1) @ w2 + b2
            return jnp.mean(jlse(z, axis=1) - jnp.sum(z * jyb, axis=1))

        jf, jg = jax.jit(jloss), jax.jit(jax.grad(jloss))
        ratio, _ = paired(lambda: jf(jflat).block_until_ready(),
                          {"jax.jit": lambda: jg(jflat).block_until_ready()}, repeats)
        out.update(ratio)
    return out


# ============================================================================ (d) first call


def _chain(n_ops: int, seed: int) -> Callable[..., Any]:
    """A scalar program of about ``n_ops`` operations mixing the registry's elementwise
    primitives (every value kept moderate)."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, 5, n_ops // 3)

    def f(x1: Any, x2: Any) -> Any:
        a, b = x1, x2
        for s in steps:
            if s == 0:
                a = dnp.sin(a) * b + 0.5
            elif s == 1:
                b = dnp.tanh(a - b) * 0.9
            elif s == 2:
                a = dnp.exp(-a * a) + b
            elif s == 3:
                b = dnp.log1p(a * a) - b * 0.3
            else:
                a = dnp.sqrt(b * b + 1.0) * 0.5
        return a + b

    return f


def bench_first_call(repeats: int) -> dict[str, tuple[float, int, int]]:
    """Median ms of the first dk.gradient call of a new function, its operations (as the tape
    counts them) and the written program's."""
    cases: dict[str, tuple[Callable[[int], Callable[..., Any]], Any]] = {
        "logistic map, 333 steps": (lambda k: lambda x: _logistic_n(x, 333), 0.3),
        "mixed scalar chain": (lambda k: _chain(1000, k), [0.3, 0.7]),
        "Rosenbrock, n = 1e3": (lambda k: lambda x: rosen(x),
                                np.random.default_rng(0).uniform(-1, 1, 1000)),
        "Rosenbrock over 83 overlapping blocks of 5 (arrays)": (
            lambda k: lambda x: sum(rosen(x[i:i + 5]) for i in range(0, 332, 4)),
            np.random.default_rng(0).uniform(-1, 1, 1000)),
    }
    out = {}
    for label, (make, x) in cases.items():
        times = []
        info: dict[str, Any] = {}
        for k in range(repeats):
            spec = dk.Function(make(k))  # a new function: nothing cached
            t0 = time.perf_counter()
            r = dk.methods.get(COMPILED).gradient(spec, x)
            times.append(time.perf_counter() - t0)
            info = r.info
        out[label] = (float(np.median(times)) * 1e3, info.get("ops", 0),
                      info.get("program ops", 0))
    return out


def _logistic_n(x: Any, n: int) -> Any:
    for _ in range(n):
        x = 4.0 * x * (1.0 - x)
    return x


# ============================================================================ report


def _fmt(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "—"
    return f"{v:.{digits}f}" if v < 10 else f"{v:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", choices=["rosen", "logistic", "mlp", "first"], default=None)
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 11
    lines = []
    versions = {"numpy": np.__version__}
    if jax is not None:
        versions["jax"] = jax.__version__
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines.append("")
    cols = (COMPILED, "compiled program", TAPE, "jax.jit", "hand-written")
    lines.append("| workload | " + " | ".join(cols) + " |")
    lines.append("|---|" + "---|" * len(cols))
    if args.only in (None, "rosen"):
        for n in (10**3, 10**6):
            res = bench_rosen(n, repeats if n < 10**6 else max(5, repeats // 2))
            lines.append(f"| Rosenbrock (value+grad)/f, n = 1e{round(np.log10(n))} | "
                         + " | ".join(_fmt(res.get(c)) for c in cols) + " |")
    if args.only in (None, "logistic"):
        res = bench_logistic(repeats)
        lines.append("| logistic map, µs per scalar op, fwd+bwd (3000 ops) | "
                     + " | ".join(_fmt(res.get(c), 3) for c in cols) + " |")
    if args.only in (None, "mlp"):
        res = bench_mlp(repeats)
        lines.append("| MLP 784-256-10 batch 128 (flat parameter vector), grad/forward | "
                     + " | ".join(_fmt(res.get(c)) for c in cols) + " |")
    if args.only in (None, "first"):
        res1 = bench_first_call(5 if args.quick else 9)
        lines += ["", "| first call (trace + write + compile + self-check) | ms | function's "
                  "operations | written program's operations |", "|---|---|---|---|"]
        for label, (ms, ops, program) in res1.items():
            lines.append(f"| {label} | {ms:.1f} | {ops} | {program} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":  # (--markdown PATH: benchmarks/_markdown.py)
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(
        main, "Source transformation (reverse-compiled) against the tape, jax.jit and "
        "hand-written gradients"))
