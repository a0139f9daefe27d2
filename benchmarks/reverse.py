"""Reverse-mode benchmark: diffkit's tape against autograd, micrograd, torch and jax.

Run: ``python benchmarks/reverse.py`` (``--quick`` for fewer repeats). Every anchor that
imports is measured in this one process with thread pools pinned to one thread; each figure
is the median over paired repeats (the function and its gradient timed back to back, so load
from other processes hits both alike).

(a) µs per scalar op, forward + backward, on the logistic map x <- 4x(1-x), 1000 steps
    (3000 scalar ops);
(b) (value+grad)/f on Rosenbrock at n = 1e3, 1e5, 1e6 (f as the tools write it: diffkit's with
    ``dnp.sum``), and diffkit's time over the hand-written gradient's (f's cost apart);
(c) grad/forward on an MLP 784-256-10, tanh, batch 128, softmax cross-entropy, float64.
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
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# DIFFKIT_TREE: another checkout to measure (benchmarks/against.py pairs two trees)
sys.path.insert(0, os.environ.get("DIFFKIT_TREE")
                or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import diffkit.numpy as dnp
from diffkit.methods import reverse as rev

# (the names before the architecture issue, for measuring an older tree beside this one)
value_and_gradient = getattr(rev, "value_and_gradient", None) or rev.value_and_grad
gradient = getattr(rev, "gradient", None) if hasattr(rev, "value_and_gradient") else rev.grad


def _optional(name: str) -> Any:
    try:
        return __import__(name)
    except Exception:
        return None


# DIFFKIT_ONLY=1: diffkit's own figures only (benchmarks/against.py pairing two trees)
_ANCHORS = not os.environ.get("DIFFKIT_ONLY")
autograd = _optional("autograd") if _ANCHORS else None
micrograd = _optional("micrograd") if _ANCHORS else None
torch = _optional("torch") if _ANCHORS else None
jax = _optional("jax") if _ANCHORS else None
if torch is not None:
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


def _time(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _number(fn: Callable[[], Any], budget: float = 0.02) -> int:
    t = _time(fn, 1)
    return max(1, int(budget / max(t, 1e-9)))


def paired(f: Callable[[], Any], g: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median of g/f over paired repeats, and the median time of g (seconds)."""
    f(), g()  # warm up (jit compiles, caches)
    nf, ng = _number(f), _number(g)
    ratios, tg = [], []
    for _ in range(repeats):
        a = _time(f, nf)
        b = _time(g, ng)
        ratios.append(b / a)
        tg.append(b)
    return float(np.median(ratios)), float(np.median(tg))


def median_time(g: Callable[[], Any], repeats: int) -> float:
    g()
    n = _number(g)
    return float(np.median([_time(g, n) for _ in range(repeats)]))


# ============================================================================ (a) logistic


STEPS = 1000
OPS = 3 * STEPS


def logistic(x: Any) -> Any:
    for _ in range(STEPS):
        x = 4.0 * x * (1.0 - x)
    return x


def bench_logistic(repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """µs per scalar op for each tool, and diffkit's time over each tool's (paired)."""
    tools: dict[str, Callable[[], Any]] = {"diffkit": lambda: gradient(logistic, 0.3)}
    if autograd is not None:
        ag = autograd.grad(logistic)
        tools["autograd"] = lambda: ag(0.3)
    if micrograd is not None:
        from micrograd.engine import Value

        sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * OPS))  # its topo sort recurses

        def mg() -> float:
            x = Value(0.3)
            y = logistic(x)
            y.backward()
            return x.grad

        tools["micrograd"] = mg
    if torch is not None:
        def tg() -> Any:
            x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
            logistic(x).backward()
            return x.grad

        tools["torch"] = tg
    if jax is not None:
        jg = jax.grad(logistic)
        tools["jax eager"] = lambda: jg(0.3)
    numbers = {}
    for name, fn in tools.items():
        fn()
        numbers[name] = _number(fn, 0.05)
    times: dict[str, list[float]] = {name: [] for name in tools}
    for r in range(repeats):  # round robin: every repeat times every tool back to back
        for name, fn in tools.items():
            if name == "jax eager" and r >= 3:  # seconds per call: three repeats will do
                continue
            times[name].append(_time(fn, numbers[name]))
    per_op = {name: float(np.median(t)) / OPS * 1e6 for name, t in times.items()}
    ratio = {name: float(np.median(np.array(times["diffkit"][: len(t)]) / np.array(t)))
             for name, t in times.items() if name != "diffkit"}
    return per_op, ratio


def collector_off(repeats: int) -> float:
    """µs per scalar op of diffkit on the logistic map with Python's garbage collector off for
    the whole call. The tape keeps one object the collector tracks per operation (the record
    the sweep reads); with the collector on, a long tape triggers full collections, whose
    cost this row separates from the tape's own."""
    fn = lambda: gradient(logistic, 0.3)
    fn()
    n = _number(fn, 0.05)
    was_on = gc.isenabled()
    gc.disable()
    try:
        times = [_time(fn, n) for _ in range(repeats)]
    finally:
        if was_on:
            gc.enable()
    return float(np.median(times)) / OPS * 1e6


# ============================================================================ (b) Rosenbrock


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
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, n)
    out = {}
    out["diffkit"] = paired(lambda: rosen(x), lambda: value_and_gradient(rosen, x), repeats)[0]
    out["hand-written"] = paired(lambda: rosen(x), lambda: rosen_value_and_grad_numpy(x),
                                 repeats)[0]
    if autograd is not None:
        import autograd.numpy as anp

        def arosen(x: Any) -> Any:
            return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

        vg = autograd.value_and_grad(arosen)
        out["autograd"] = paired(lambda: arosen(x), lambda: vg(x), repeats)[0]
    if torch is not None:
        xt = torch.tensor(x)

        def trosen(x: Any) -> Any:
            return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

        def tvg() -> Any:
            xg = xt.detach().requires_grad_(True)
            y = trosen(xg)
            y.backward()
            return y.detach(), xg.grad

        def tf() -> Any:
            with torch.no_grad():
                return trosen(xt)

        out["torch"] = paired(tf, tvg, repeats)[0]
    if jax is not None:
        import jax.numpy as jnp

        def jrosen(x: Any) -> Any:
            return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

        xj = jnp.asarray(x)
        jvg = jax.value_and_grad(jrosen)
        if n <= 10**3 or n >= 10**6:
            out["jax eager"] = paired(lambda: jrosen(xj).block_until_ready(),
                                      lambda: jvg(xj)[1].block_until_ready(),
                                      max(3, repeats // 3))[0]
        jf, jg = jax.jit(jrosen), jax.jit(jvg)
        out["jax.jit"] = paired(lambda: jf(xj).block_until_ready(),
                                lambda: jg(xj)[1].block_until_ready(), repeats)[0]
    return out


# ============================================================================ (c) MLP


SIZES = (784, 256, 10)
BATCH = 128


def _mlp_data() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    w1 = rng.normal(0, 784**-0.5, (784, 256))
    b1 = np.zeros(256)
    w2 = rng.normal(0, 256**-0.5, (256, 10))
    b2 = np.zeros(10)
    xb = rng.normal(size=(BATCH, 784))
    yb = np.eye(10)[rng.integers(0, 10, BATCH)]
    return [w1, b1, w2, b2], xb, yb


def _split(p: Any) -> tuple[Any, Any, Any, Any]:
    a, b, c = 784 * 256, 784 * 256 + 256, 784 * 256 + 256 + 2560
    return (p[:a].reshape(784, 256), p[a:b], p[b:c].reshape(256, 10), p[c:])


def bench_mlp(repeats: int) -> dict[str, float]:
    params, xb, yb = _mlp_data()
    flat = np.concatenate([q.ravel() for q in params])

    def loss(ps: Any) -> Any:
        w1, b1, w2, b2 = ps
        h = dnp.tanh(xb @ w1 + b1)
        logits = h @ w2 + b2
        return dnp.mean(dnp.logsumexp(logits, axis=1) - dnp.sum(logits * yb, axis=1))

    tparams = tuple(params)
    out = {}
    out["diffkit"] = paired(lambda: loss(tparams), lambda: gradient(loss, tparams), repeats)[0]
    out["diffkit, flat vector"] = paired(lambda: loss(_split(flat)),
                                         lambda: gradient(lambda p: loss(_split(p)), flat),
                                         repeats)[0]

    def np_loss(w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
        h = np.tanh(xb @ w1 + b1)
        z = h @ w2 + b2
        m = z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
        return np.mean(lse - np.sum(z * yb, axis=1))

    def np_grad(w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
        h = np.tanh(xb @ w1 + b1)
        z = h @ w2 + b2
        m = z.max(axis=1, keepdims=True)
        ez = np.exp(z - m)
        p = ez / ez.sum(axis=1, keepdims=True)
        dz = (p - yb) / BATCH
        dh = dz @ w2.T
        da = dh * (1.0 - h * h)
        return xb.T @ da, da.sum(0), h.T @ dz, dz.sum(0)

    out["hand-written"] = paired(lambda: np_loss(*params), lambda: np_grad(*params), repeats)[0]
    if autograd is not None:
        import autograd.numpy as anp
        from autograd.scipy.special import logsumexp

        def aloss(ps: Any) -> Any:
            w1, b1, w2, b2 = ps
            h = anp.tanh(anp.dot(xb, w1) + b1)
            z = anp.dot(h, w2) + b2
            return anp.mean(logsumexp(z, axis=1) - anp.sum(z * yb, axis=1))

        ag = autograd.grad(aloss)
        out["autograd"] = paired(lambda: aloss(params), lambda: ag(params), repeats)[0]
    if torch is not None:
        tp = [torch.tensor(q) for q in params]
        txb, tyb = torch.tensor(xb), torch.tensor(yb)

        def tloss(w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
            h = torch.tanh(txb @ w1 + b1)
            z = h @ w2 + b2
            return torch.mean(torch.logsumexp(z, dim=1) - torch.sum(z * tyb, dim=1))

        def tf() -> Any:
            with torch.no_grad():
                return tloss(*tp)

        def tgrad() -> Any:
            ps = [q.detach().requires_grad_(True) for q in tp]
            tloss(*ps).backward()
            return [q.grad for q in ps]

        out["torch"] = paired(tf, tgrad, repeats)[0]
    if jax is not None:
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp as jlse

        jp = [jnp.asarray(q) for q in params]
        jxb, jyb = jnp.asarray(xb), jnp.asarray(yb)

        def jloss(ps: Any) -> Any:
            w1, b1, w2, b2 = ps
            h = jnp.tanh(jxb @ w1 + b1)
            z = h @ w2 + b2
            return jnp.mean(jlse(z, axis=1) - jnp.sum(z * jyb, axis=1))

        def block(tree: Any) -> Any:
            return jax.block_until_ready(tree)

        jg = jax.grad(jloss)
        out["jax eager"] = paired(lambda: block(jloss(jp)), lambda: block(jg(jp)),
                                  max(3, repeats // 3))[0]
        jf, jgj = jax.jit(jloss), jax.jit(jg)
        out["jax.jit"] = paired(lambda: block(jf(jp)), lambda: block(jgj(jp)), repeats)[0]
    return out


# ============================================================================ report

COLUMNS = ("diffkit", "diffkit, flat vector", "autograd", "torch", "micrograd", "jax eager",
           "jax.jit", "hand-written")


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", choices=["logistic", "rosen", "mlp"], default=None)
    args = parser.parse_args(argv)  # (--markdown PATH: benchmarks/_markdown.py)
    repeats = 5 if args.quick else 15
    rows: list[tuple[str, dict[str, float]]] = []
    ratios_logistic: dict[str, float] = {}
    if args.only in (None, "logistic"):
        per_op, ratios_logistic = bench_logistic(repeats)
        rows.append(("µs per scalar op, fwd+bwd (logistic map, 3000 ops)", per_op))
        rows.append(("the same, garbage collector off (diffkit only)",
                     {"diffkit": collector_off(repeats)}))
    if args.only in (None, "rosen"):
        for n in (10**3, 10**5, 10**6):
            reps = repeats if n < 10**6 else max(5, repeats // 2)
            res = bench_rosen(n, reps)
            rows.append((f"Rosenbrock (value+grad)/f, n = 1e{round(np.log10(n))}", res))
            rows.append((f"Rosenbrock (value+grad)/hand-written, n = 1e{round(np.log10(n))}",
                         {"diffkit": res["diffkit"] / res["hand-written"]}))
    if args.only in (None, "mlp"):
        rows.append(("MLP 784-256-10 batch 128, grad/forward", bench_mlp(repeats)))
    versions = {"numpy": np.__version__}
    for mod in (autograd, torch, jax):
        if mod is not None:
            versions[mod.__name__] = getattr(mod, "__version__", "?")
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines = ["| workload | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for label, res in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(res.get(c)) for c in COLUMNS) + " |")
    print("\n".join(lines))
    if ratios_logistic:
        print("per scalar op, paired: diffkit = " + ", ".join(
            f"{v:.2f}x {k}" for k, v in ratios_logistic.items()))
    return 0


if __name__ == "__main__":
    from _markdown import run as run_with_markdown

    raise SystemExit(run_with_markdown(main, "Reverse mode against autograd, torch and jax"))
