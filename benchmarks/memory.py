"""Memory benchmark: reverse mode through a long loop, the plain tape against checkpointing.

Run: ``python benchmarks/memory.py`` (``--markdown PATH`` also writes the table;
``--quick`` for a short loop). The loop is explicit Euler on Lorenz-96
(:func:`diffkit.analysis.memory.lorenz96`): ``T = 10,000`` steps over a state of 1,000
float64, the gradient of ``sum(x_T**2)/n`` with respect to the initial state.

Configurations: diffkit's plain tape, ``checkpoints="sqrt"`` and the binomial schedule with
``c`` snapshots (revolve); torch's plain autograd and ``torch.utils.checkpoint`` on segments
of ``sqrt(T)`` steps (``checkpoint_sequential``'s scheme); ``jax.checkpoint`` on the same
segments inside ``lax.scan`` (jit-compiled) when jax is installed. Each anchor runs the same
operations (shifts as two slices joined, float64, one thread).

Memory: the peak of one gradient measured two ways: ``tracemalloc`` (sees numpy's
allocations, not torch's or XLA's), and the rise of the peak resident set size over the
resident size just before the call, in a fresh process per configuration (sees everything,
rounded to pages, includes the allocator's slack). Time: the median of ``--repeat`` gradients
per configuration, configurations interleaved so load from other processes hits them alike.
Every ratio is to the plain tape of the same library.
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
import json
import math
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import diffkit as dk
from diffkit.analysis.memory import lorenz96
from diffkit.methods import reverse

DT, FORCING = 5e-4, 8.0


def _optional(name: str) -> Any:
    try:
        return __import__(name)
    except Exception:
        return None


# ----------------------------------------------------------------------------- the anchors


def _diffkit(steps: int, state: int, checkpoints: Any) -> tuple[Callable[[], Any], Any]:
    spec, x0 = lorenz96(state, steps, checkpoints, dt=DT, forcing=FORCING)
    return lambda: reverse.value_and_gradient(spec.fn, x0)[1], x0


def _torch(steps: int, state: int, segments: Any) -> tuple[Callable[[], Any], Any]:
    import torch
    from torch.utils.checkpoint import checkpoint

    torch.set_num_threads(1)

    def shift(x: Any, k: int) -> Any:
        return torch.cat([x[k:], x[:k]])

    def step(x: Any) -> Any:
        return x + DT * ((shift(x, 1) - shift(x, -2)) * shift(x, -1) - x + FORCING)

    def run(x: Any, n: int) -> Any:
        for _ in range(n):
            x = step(x)
        return x

    seg = math.isqrt(steps - 1) + 1
    x0 = torch.tensor(FORCING + 0.01 * np.sin(np.arange(state, dtype=float)),
                      dtype=torch.float64)

    def grad() -> Any:
        x = x0.clone().requires_grad_(True)
        y = x
        if segments:  # checkpoint every segment but the last, as checkpoint_sequential does
            done = 0
            while steps - done > seg:
                y = checkpoint(run, y, seg, use_reentrant=segments == "reentrant")
                done += seg
            y = run(y, steps - done)
        else:
            y = run(y, steps)
        (y.pow(2).sum() / state).backward()
        return x.grad.numpy()

    return grad, x0


def _jax(steps: int, state: int, segments: bool) -> tuple[Callable[[], Any], Any]:
    import jax
    import jax.numpy as jnp

    def shift(x: Any, k: int) -> Any:
        return jnp.concatenate([x[k:], x[:k]])

    def step(x: Any, _: Any) -> Any:
        return x + DT * ((shift(x, 1) - shift(x, -2)) * shift(x, -1) - x + FORCING), None

    seg = math.isqrt(steps - 1) + 1

    def loss(x: Any) -> Any:
        if segments:  # jax.checkpoint around each segment of sqrt(T) steps
            n_seg, rest = divmod(steps, seg)

            @jax.checkpoint
            def segment(y: Any, _: Any) -> Any:
                return jax.lax.scan(step, y, None, length=seg)[0], None

            x = jax.lax.scan(segment, x, None, length=n_seg)[0]
            x = jax.lax.scan(step, x, None, length=rest)[0] if rest else x
        else:
            x = jax.lax.scan(step, x, None, length=steps)[0]
        return jnp.sum(x ** 2) / state

    g = jax.jit(jax.grad(loss))
    x0 = jnp.asarray(FORCING + 0.01 * np.sin(np.arange(state, dtype=float)))
    g(x0).block_until_ready()  # compile outside the measurement

    return lambda: np.asarray(g(x0).block_until_ready()), x0


def configurations(have_torch: bool, have_jax: bool, cs: list[int]) -> list[tuple[str, str, Any]]:
    """``(name, library, setting)`` in the order of the table; each library's plain first."""
    out = [("diffkit tape", "diffkit", None), ("diffkit sqrt", "diffkit", "sqrt")]
    out += [(f"diffkit revolve c={c}", "diffkit", c) for c in cs]
    if have_torch:
        out += [("torch tape", "torch", False),
                ("torch checkpoint sqrt (reentrant)", "torch", "reentrant"),
                ("torch checkpoint sqrt (non-reentrant)", "torch", "non-reentrant")]
    if have_jax:
        out += [("jax scan (jit)", "jax", False), ("jax checkpoint sqrt (jit)", "jax", True)]
    return out


def build(library: str, setting: Any, steps: int, state: int) -> Callable[[], Any]:
    if library == "diffkit":
        return _diffkit(steps, state, setting)[0]
    if library == "torch":
        return _torch(steps, state, setting)[0]
    return _jax(steps, state, setting)[0]


# ----------------------------------------------------------------------------- measuring


def _status(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` in bytes (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(library: str, setting: Any, steps: int, state: int) -> None:
    """In a fresh process: the rise of peak RSS during one gradient (printed as JSON).

    The peak is the address space's high-water mark (``VmHWM``), reset just before the call
    (``/proc/self/clear_refs``); ``ru_maxrss`` would not do, it carries the parent's peak
    across ``fork`` and ``exec``.
    """
    grad = build(library, setting, steps, state)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    grad()
    print(json.dumps({"rss": _status("VmHWM") - before}))


def rss_rise(library: str, setting: Any, steps: int, state: int) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(
        [library, setting]), "--steps", str(steps), "--state", str(state)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rss"])


def traced_peak(grad: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        grad()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def measure(steps: int, state: int, repeat: int, cs: list[int], log: Callable[[str], None]
            ) -> list[dict[str, Any]]:
    torch, jax = _optional("torch"), _optional("jax")
    configs = configurations(torch is not None, jax is not None, cs)
    grads = {name: build(lib, setting, steps, state) for name, lib, setting in configs}
    rows = {name: {"name": name, "library": lib, "setting": setting, "times": []}
            for name, lib, setting in configs}
    reference = np.asarray(grads["diffkit tape"]())
    for name, _, _ in configs:  # warm up, check every gradient against the tape's
        g = np.asarray(grads[name]())
        rows[name]["difference"] = float(np.max(np.abs(g - reference))
                                         / np.max(np.abs(reference)))
    for k in range(repeat):  # interleaved
        for name, _, _ in configs:
            t0 = time.perf_counter()
            grads[name]()
            rows[name]["times"].append(time.perf_counter() - t0)
        log(f"repeat {k + 1}/{repeat}: " + ", ".join(
            f"{n} {rows[n]['times'][-1]:.2f}s" for n, _, _ in configs))
    for name, lib, setting in configs:
        row = rows[name]
        row["seconds"] = float(np.median(row["times"]))
        row["tracemalloc"] = traced_peak(grads[name]) if lib == "diffkit" else float("nan")
        row["rss"] = rss_rise(lib, setting, steps, state)
        if lib == "diffkit":
            with dk.memory.meter() as m:
                grads[name]()
            row["recomputed"], row["snapshots"] = m.recomputed, m.snapshots
        log(f"{name}: tracemalloc {row['tracemalloc']:,.0f} B, RSS rise {row['rss']:,.0f} B")
    return [rows[name] for name, _, _ in configs]


# ----------------------------------------------------------------------------- the table


def table(rows: list[dict[str, Any]], steps: int, state: int) -> str:
    base = {r["library"]: r for r in rows if r["setting"] in (None, False)}

    def pct(v: float, b: float) -> str:
        return "—" if not (np.isfinite(v) and np.isfinite(b) and b > 0) else f"{100 * v / b:.2f}%"

    lines = [f"T = {steps:,} steps, state of {state:,} float64 (explicit Euler, Lorenz-96); "
             f"ratios to the same library's plain tape.", "",
             "| configuration | seconds | time vs tape | tracemalloc peak | % of tape | "
             "RSS rise | % of tape | recomputed steps | snapshots | vs diffkit tape |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = base[r["library"]]
        rec = r.get("recomputed")
        lines.append(
            f"| {r['name']} | {r['seconds']:.2f} | {r['seconds'] / b['seconds']:.2f} | "
            + (f"{r['tracemalloc']:,.0f}" if np.isfinite(r["tracemalloc"]) else "—")
            + f" | {pct(r['tracemalloc'], b['tracemalloc'])} | {r['rss']:,.0f} | "
            f"{pct(r['rss'], b['rss'])} | {'—' if rec is None else f'{rec:,}'} | "
            f"{r.get('snapshots', '—')} | {r['difference']:.1e} |")
    return "\n".join(lines) + "\n"


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 15's figures: revolve c=20 memory <= 2% and time <= 4x, sqrt 5% and 2.5x."""
    by = {r["name"]: r for r in rows}
    tape = by["diffkit tape"]
    out = []
    for name, mem_max, time_max in (("diffkit revolve c=20", 0.02, 4.0),
                                    ("diffkit sqrt", 0.05, 2.5)):
        if name not in by:
            continue
        r = by[name]
        mem = r["tracemalloc"] / tape["tracemalloc"]
        t = r["seconds"] / tape["seconds"]
        ok = mem <= mem_max and t <= time_max and r["difference"] == 0.0
        out.append(f"{name}: memory {100 * mem:.2f}% of the tape's (target <= {100 * mem_max:.0f}%)"
                   f", time {t:.2f}x (target <= {time_max}x), gradient equal to the tape's "
                   f"bit for bit: {r['difference'] == 0.0} -> {'PASS' if ok else 'FAIL'}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--state", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--c", default="5,20", help="revolve's snapshot counts")
    parser.add_argument("--quick", action="store_true", help="T = 1000, one repeat")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        library, setting = json.loads(args.child)
        child(library, setting, args.steps, args.state)
        return 0
    if args.quick:
        args.steps, args.repeat = 1000, 1
    cs = sorted({int(c) for c in args.c.split(",")})
    if 20 not in cs:
        cs.append(20)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    rows = measure(args.steps, args.state, args.repeat, cs, log)
    text = table(rows, args.steps, args.state)
    checks = targets(rows)
    missing = [n for n, m in (("jax", _optional("jax")), ("torch", _optional("torch")))
               if m is None]
    notes = [f"Not installed (not measured): {', '.join(missing)}."] if missing else []
    out = text + "\n" + "\n".join(f"- {c}" for c in checks + notes) + "\n"
    print(out)
    if args.markdown:
        from _markdown import provenance

        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(provenance("Memory: checkpointing against the tape") + out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
