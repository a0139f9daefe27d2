"""``diffkit report``: regenerate every figure and table of the seed into one directory.

The report measures, on this machine: the four families side by side on one function
(accuracy, cost, expression size, control flow); error versus step size for every
finite-difference scheme with its model; Baydin et al.'s Table 1 and the swell plot; the
computational graph of Baydin's example with values and adjoints; the forward and reverse
traces; cost versus dimension; memory versus recomputation (the tape, checkpointing and the
methods without a tape); and the comparison over the catalogue. Parts whose machinery
is not installed are skipped with a note and appear as soon as it is.
"""

from __future__ import annotations

import datetime
import importlib
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import revolve
from .errors import DiffkitError

__all__ = ["build_report"]

BAYDIN = "log(x1) + x1*x2 - sin(x2)"


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _save(fig: Any, out: Path, name: str) -> str:
    fig.savefig(out / name, dpi=100)
    return name


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _fmt(v: Any, spec: str = ".1e") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not np.isfinite(f):
        return "—"
    return "0" if f == 0 else format(f, spec)


# ----------------------------------------------------------------------------- sections

def _four_methods(out: Path, quick: bool, log: Callable[[str], None]) -> list[str]:
    """Pros and cons of each family, measured on Baydin's function."""
    from . import methods as _methods
    from .analysis.compare import compare
    from .spec import Function

    spec = Function.from_expr(BAYDIN, name="baydin")

    @spec.manual
    def _dbaydin(x1: Any, x2: Any) -> Any:
        import diffkit.numpy as dnp

        return [1 / x1 + x2, x1 - dnp.cos(x2)]

    x = np.array([2.0, 5.0])
    c = compare(spec, x, repeat=3 if quick else 20, budget=0.05 if quick else 0.3)

    import diffkit.numpy as dnp

    def branchy(t: Any) -> Any:  # Python control flow on the value
        y = t
        for _ in range(3):
            if y > 1.0:
                y = dnp.sqrt(y)
            else:
                y = y * dnp.exp(y)
        return y

    flow = Function(branchy, name="branchy")
    flow_status = {"manual": "yes (you write the branches too)"}
    for m in _methods.concrete():
        if m in flow_status:
            continue
        try:
            _methods.get(m).derivative(flow, 2.5)
            flow_status[m] = "yes"
        except DiffkitError as exc:
            flow_status[m] = f"no ({type(exc).__name__})"

    pros = {
        "auto": ("reverse mode where the code allows it, Richardson otherwise",
                 "you do not choose: the result's method says which ran"),
        "manual": ("exact, as fast as the code you write", "you derive and maintain it; "
                   "nothing checks it but a test"),
        "forward-difference": ("any code, even a black box",
                               "≈ half the digits (√ε); n+1 evaluations at a fixed h, plus a "
                               "pilot for the automatic step"),
        "backward-difference": ("any code; samples only to the left (domain edges)",
                                "≈ half the digits; n+1 evaluations"),
        "central-difference": ("any code; ≈ two thirds of the digits (ε^(2/3))",
                               "2n evaluations; step choice matters"),
        "richardson": ("any code; near machine precision with an error estimate",
                       "many evaluations per coordinate"),
        "complex-step": ("machine precision with one complex evaluation per coordinate",
                         "needs complex-analytic code (no abs, max, comparisons)"),
        "symbolic": ("an exact formula you can read, simplify and compile",
                     "expression swell as a tree; no control flow on values"),
        "reverse-mode": ("exact to rounding; whole gradient for ≈ a few f's",
                         "tape memory grows with the program's length"),
        "forward-mode": ("exact to rounding; no tape; cheap for few inputs",
                         "work grows with n: one tangent per input (pushed in chunks)"),
    }
    lines = [
        "## The methods side by side on one function",
        "",
        f"Baydin et al. (2018)'s example `f(x1, x2) = {BAYDIN}` at (2, 5), differentiated by "
        f"every method installed ({len(c.rows)}). Errors against the exact gradient "
        f"(sympy, 50 digits); time is the median of up to 20 calls on this machine. The "
        f"control-flow column differentiates `branchy`, a loop with an `if` on the value "
        f"(`y = sqrt(y) if y > 1 else y*exp(y)`, three times) at 2.5.",
        "",
        "| method | rel error | evaluations | seconds | expression / tape size | "
        "`if` on a value | strength | weakness |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in c.rows:
        p, q = pros.get(r.method, ("", ""))
        err = _fmt(r.rel_error) if r.value is not None else r.status.split(":")[0]
        lines.append(f"| {r.method} | {err} | {'' if r.nfev is None else r.nfev} | "
                     f"{_fmt(r.seconds, '.1e')} | {r.size} | {flow_status.get(r.method, '')} "
                     f"| {p} | {q} |")
    lines += [""] + [f"_{n}_" for n in c.notes] + [""]
    fig, ax = _figure((7.5, 4))
    c.plot(ax=ax)
    lines += [f"![relative error per method]({_save(fig, out, 'compare_baydin.png')})", ""]
    log("report: methods side by side")
    return lines


def _step_error(out: Path, quick: bool, log: Callable[[str], None]) -> list[str]:
    from .analysis.step_error import step_error
    from .spec import Function

    schemes = ("forward-difference", "backward-difference", "central-difference", "richardson")
    spec = Function.from_expr("exp(x)")
    h = np.logspace(-16, 0, 49 if quick else 97)
    r = step_error(spec, 1.0, schemes=schemes, h=h)
    fig, ax = _figure((10, 5.2))
    r.plot(ax=ax)
    png = _save(fig, out, "step_error_exp.png")
    lines = [
        "## Error versus step size",
        "",
        "d/dx exp(x) at x = 1 by forward, backward and central differences, one Richardson "
        "step (central differences at h and h/2) and the complex step, against the exact "
        "derivative. Dashed: the model — truncation `C·h^p` with `C` from the exact higher "
        "derivative (`f''/2`, `f'''/6`, `f⁽⁵⁾/480`) plus round-off `ε·|f|/h` (`ε·|f'|` for the "
        "complex step, which subtracts nothing). Stars: measured optimum; dotted: predicted "
        "optimum `h* = (R ε|f| / (p C))^(1/(p+1))`.",
        "",
        f"![error versus step]({png})",
        "",
        "| scheme | order p | fitted slope | measured optimal h | predicted h | "
        "minimum abs error | steps that broke down |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r.summary():
        lines.append(f"| {row['scheme']} | {row['order']} | {row['slope']:.2f} | "
                     f"{row['optimal_h']:.1e} | {row['predicted_h']:.1e} | "
                     f"{_fmt(row['min_error'])} | {row['breakdowns']} |")
    fwd, cen = r.summary()[0], r.summary()[2]
    lines += [
        "",
        f"Targets (issue 7): forward optimum in [1e-10, 1e-6]: **{fwd['optimal_h']:.1e}**; "
        f"central in [1e-7, 1e-3]: **{cen['optimal_h']:.1e}**; central's minimum error "
        f"{cen['min_error']:.1e} vs forward's / 100 = {fwd['min_error'] / 100:.1e}; slopes "
        f"**{fwd['slope']:.2f}** and **{cen['slope']:.2f}**; predicted/measured optimum "
        f"{fwd['predicted_h'] / fwd['optimal_h']:.1f}x and "
        f"{cen['predicted_h'] / cen['optimal_h']:.1f}x.",
        "",
    ]
    if not quick:
        r32 = step_error(spec, 1.0, h=np.logspace(-8, 0, 49), dtype=np.float32)
        fig, ax = _figure((10, 5.2))
        r32.plot(ax=ax)
        png32 = _save(fig, out, "step_error_exp_float32.png")
        r_edge = step_error(Function.from_expr("sqrt(x)"), 0.02, h=np.logspace(-16, 0, 65))
        fig, ax = _figure((10, 5.2))
        r_edge.plot(ax=ax)
        png_edge = _save(fig, out, "step_error_sqrt_edge.png")
        rows32 = {row["scheme"]: row for row in r32.summary()}
        broke = {row["scheme"]: row["breakdowns"] for row in r_edge.summary()}
        lines += [
            f"In float32 (ε = 1.2e-7) the optima move to h ≈ "
            f"{rows32['forward-difference']['optimal_h']:.0e} (forward) and "
            f"{rows32['central-difference']['optimal_h']:.0e} (central):",
            "",
            f"![float32]({png32})",
            "",
            f"Near a domain edge (sqrt at 0.02) steps h > 0.02 leave the domain for the "
            f"backward and central schemes: the sweep records them as breakdowns "
            f"({broke.get('backward-difference', 0)} and {broke.get('central-difference', 0)} "
            f"steps) instead of stopping:",
            "",
            f"![sqrt near its domain edge]({png_edge})",
            "",
        ]
    log("report: error versus step")
    return lines


def _swell(out: Path, quick: bool, log: Callable[[str], None]) -> list[str]:
    from .analysis.swell import swell

    ns = range(1, 6) if quick else range(1, 13)
    s = swell("logistic", ns, max_expanded=4 if quick else 5)
    lines = [
        "## Expression swell (Baydin et al. 2018, Table 1)",
        "",
        "The logistic map `l₁ = x, l_(k+1) = 4 l_k (1 - l_k)`: sizes of `l_n` and of its "
        "derivative as a tree (what you would print), as a DAG (shared subexpressions "
        "stored once), after common-subexpression elimination, as the expanded polynomial "
        "(Table 1's \"simplified\" column), and the reverse-mode tape of the same program.",
        "",
        s.to_markdown(),
    ]
    lines += [f"_{n}_\n" for n in s.notes]
    lines += _table1()
    if s.available():
        fig, ax = _figure((8, 5))
        s.plot(ax=ax)
        lines += [f"![expression swell]({_save(fig, out, 'swell_logistic.png')})", ""]
    log("report: expression swell")
    return lines


def _table1() -> list[str]:
    """The expressions of Table 1 for n = 1..4, when the symbolic family is installed."""
    symbolic = _module("diffkit.methods.symbolic")
    if symbolic is None or not hasattr(symbolic, "Symbolic"):
        return ["_Table 1's expressions: skipped, the symbolic family is not installed._", ""]
    import sympy

    from .catalog import logistic

    rows = ["| n | l_n | d/dx l_n (tree, sympy.diff) | d/dx l_n expanded |", "|---|---|---|---|"]
    try:
        for n in range(1, 5):
            f = logistic(n).function
            m = symbolic.Symbolic(strategy="tree")
            expr = m.expression(f)
            d = m.derivative_expressions(f)
            d = d[0] if isinstance(d, (list, tuple)) else d
            d = np.ravel(np.asarray(d, dtype=object))[0]
            rows.append(f"| {n} | `{expr}` | `{d}` | `{sympy.expand(d)}` |")
    except (DiffkitError, AttributeError, TypeError) as exc:
        return [f"_Table 1's expressions: skipped ({type(exc).__name__}: {exc})._", ""]
    return ["Table 1's expressions (symbolic family, tree strategy):", "", *rows, ""]


def _graph_and_traces(out: Path, log: Callable[[str], None]) -> list[str]:
    tr = _module("diffkit.trace")
    lines = ["## The computational graph and its traces", ""]
    if tr is None or not hasattr(tr, "trace"):
        log("report: traces skipped (diffkit.trace not installed)")
        return [*lines, "_Skipped: diffkit.trace is not in this installation._", ""]
    from .spec import Function

    spec = Function.from_expr(BAYDIN, name="baydin")
    x = np.array([2.0, 5.0])
    rev = tr.trace(spec, x, mode="reverse")
    fwd = tr.trace(spec, x, mode="forward")
    lines += [
        f"Baydin et al.'s example `f = {BAYDIN}` at (2, 5): each node is one primitive, with "
        f"its value `v` from the forward sweep and its adjoint `v̄ = ∂f/∂v` from the reverse "
        f"sweep.",
        "",
    ]
    if hasattr(rev, "figure"):
        fig = rev.figure()  # sized to the graph
        lines += [f"![DAG with values and adjoints]({_save(fig, out, 'dag_baydin.png')})", ""]
    if hasattr(rev, "to_mermaid"):
        lines += ["```mermaid", str(rev.to_mermaid()).strip(), "```", ""]
    lines += ["Forward primal trace and reverse adjoint trace (Baydin et al. 2018, Table 3; "
              "`dk.trace(f, x)`):", "", "```", str(rev.forward_table()).rstrip(), "",
              str(rev.reverse_table()).rstrip(), "```", "",
              "Forward-mode tangent trace seeded with ẋ1 = 1 (Table 2; "
              "`dk.trace(f, x, mode=\"forward\")`):", "", "```",
              str(fwd.forward_table()).rstrip(), "```", "",
              f"The tape holds {rev.ops} operations and {rev.nbytes} bytes of values.", ""]
    if hasattr(rev, "to_python"):  # the adjoint trace as the program method reverse-compiled runs

        try:
            code = rev.to_python()
        except DiffkitError as exc:
            lines += [f"_The adjoint program: skipped ({type(exc).__name__}: {exc})._", ""]
        else:
            lines += ["The same adjoint trace as code: the program `method=\"reverse-compiled\"` "
                      "writes from the registry's rules and compiles (`dk.trace(f, x)"
                      ".to_python()`, `diffkit trace --python`):", "", "```python",
                      code.rstrip(), "```", ""]
    log("report: graph and traces")
    return lines


def _cost(out: Path, quick: bool, log: Callable[[str], None]) -> list[str]:
    from .analysis.cost import cost

    dims = (5, 20) if quick else (10, 100, 1000)
    repeat = 1 if quick else 5
    budget = 0.5 if quick else 10.0
    c1 = cost("rosenbrock", dims, repeat=repeat, budget=budget)
    c2 = cost("sines", dims, repeat=repeat, budget=budget)
    fig, axes = _figure((12, 4.5))
    fig.delaxes(axes)
    ax1, ax2 = fig.subplots(1, 2)
    c1.plot(ax=ax1)
    c2.plot(ax=ax2)
    png = _save(fig, out, "cost_dimension.png")
    fig, axes = _figure((12, 4.5))
    fig.delaxes(axes)
    ax1, ax2 = fig.subplots(1, 2)
    c1.plot(ax=ax1, metric="nfev")
    c1.plot(ax=ax2, metric="peak_bytes")
    png2 = _save(fig, out, "cost_rosenbrock_nfev_memory.png")
    lines = [
        "## Cost versus dimension",
        "",
        "Left: the gradient of Rosenbrock's function, R^n → R (reverse mode: one sweep). "
        "Right: the Jacobian of t ↦ sin(k t), k = 1..m, R → R^m (forward mode: one pass; "
        "reverse mode: one sweep per output). Median wall time of warm calls on this "
        "2-core shared machine: compare ratios, not absolute times.",
        "",
        f"![cost versus dimension]({png})",
        "",
        f"![evaluations and memory]({png2})",
        "",
        "### Rosenbrock gradient (R^n → R)",
        "",
        c1.to_markdown(),
        "### sin(k t) Jacobian (R → R^m)",
        "",
        c2.to_markdown(),
    ]
    lines += [f"_{n}_\n" for n in {*c1.notes, *c2.notes}]
    log("report: cost versus dimension")
    return lines


def _memory(out: Path, quick: bool, log: Callable[[str], None]) -> list[str]:
    """Reverse mode's one con, measured, and checkpointing's cure."""
    from .analysis.memory import memory
    from .plotting import plot_schedule

    if quick:
        r = memory(steps=(30, 100), state=6, schedules=(None, "sqrt", 2, 5), repeat=3,
                   budget=0.5)
    else:
        r = memory(steps=(100, 300, 1000), state=16, schedules=(None, "sqrt", 2, 5, 20),
                   repeat=3, budget=3.0)
    fig, axes = _figure((15, 4.6))
    fig.delaxes(axes)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    r.plot(ax=ax1)
    r.plot(ax=ax2, metric="seconds")
    r.plot(ax=ax3, metric="tradeoff")
    ax2.get_legend().remove()
    png = _save(fig, out, "memory_loop.png")
    t_diag, c_diag = 10, 3
    actions = revolve.schedule(t_diag, c_diag)
    fig, ax = _figure((7, 6.5))
    plot_schedule(actions, ax=ax)
    png2 = _save(fig, out, "memory_revolve_schedule.png")
    i = len(r.steps) - 1
    t = int(r.steps[i])
    rows = []
    for c in r.configs[1:]:
        mem, sec = r.ratios(c)
        if np.isfinite(mem[i]):
            rows.append(f"{c}: memory {100 * mem[i]:.2g}% of the tape's, time {sec[i]:.2f}x")
    lines = [
        "## Memory: the tape, checkpointing and the methods without a tape",
        "",
        "Reverse mode's one drawback is memory: it keeps every intermediate of the program "
        "until the sweep. Explicit Euler on Lorenz-96 (a coupled nonlinear system, state of "
        f"{r.state}) stepped T times by `dk.loop`: the gradient of `sum(x_T²)/n` with respect "
        "to the initial state. The plain tape grows like T; √T segments (what "
        "`jax.checkpoint` and `torch.utils.checkpoint` offer) keep about √T states; the "
        "binomial schedule of Griewank & Walther (revolve, `checkpoints=c`) keeps c and "
        "recomputes `r·T - C(c+r, c+1)` steps, r the least integer with C(c+r, c) ≥ T. "
        "Forward mode (n passes) and central differences (about 2n evaluations) keep no tape "
        "at all. Every checkpointed gradient equals the plain tape's to the last bit "
        "(column *vs tape*). Peak memory by tracemalloc; time the median of warm calls on "
        "this shared machine.",
        "",
        f"![memory and time versus T]({png})",
        "",
        f"At T = {t}: " + "; ".join(rows) + ".",
        "",
        r.to_markdown(),
        f"The binomial schedule for T = {t_diag}, c = {c_diag} "
        f"({revolve.recomputations(t_diag, c_diag)} steps recomputed, the fewest possible "
        f"with {c_diag} snapshots): rows are time, arrows steps (grey: advanced without "
        f"taping, blue: taped, red: reversed), bars the snapshots held.",
        "",
        f"![revolve schedule]({png2})",
        "",
        "The figures of issue 15 (T = 10,000 steps over a state of 1,000 float64, beside "
        "`torch.utils.checkpoint`) are measured by `python benchmarks/memory.py`.",
        "",
    ]
    lines += [f"_{n}_\n" for n in r.notes]
    log("report: memory")
    return lines


def _catalogue(out: Path, quick: bool, log: Callable[[str], None]) -> list[str]:
    from . import catalog
    from .analysis.compare import catalog_markdown, compare_catalog

    entries = catalog.entries()
    results = compare_catalog(entries, repeat=1)
    lines = [
        "## Every method over the catalogue",
        "",
        "Maximum relative error of the gradient (Jacobian for `polar`) against the exact "
        "reference (sympy at 50 digits, or the catalogue's mpmath routine); a name where a "
        "method refused, with the error it raised.",
        "",
        catalog_markdown(results),
    ]
    log("report: catalogue")
    return lines


def build_report(out: Any = "reports", *, quick: bool = False,
                 log: Callable[[str], None] | None = None) -> Path:
    """Write every figure (PNG) and ``README.md`` with the tables into ``out``.

    Parameters
    ----------
    out : str or Path
        Output directory (created if missing).
    quick : bool
        Smaller sweeps and dimensions (for CI): under 30 s instead of under 2 minutes.
    log : callable, optional
        Receives one progress line per section (the CLI sends them to stderr).

    Returns
    -------
    Path
        The written ``README.md``.
    """
    from . import methods as _methods

    log = log or (lambda msg: None)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    available = _methods.available()
    missing = [m for m in _methods.METHOD_NAMES if m not in available]
    body: list[str] = []
    body += _four_methods(outdir, quick, log)
    body += _step_error(outdir, quick, log)
    body += _swell(outdir, quick, log)
    body += _graph_and_traces(outdir, log)
    body += _cost(outdir, quick, log)
    body += _memory(outdir, quick, log)
    body += _catalogue(outdir, quick, log)
    elapsed = time.perf_counter() - t0
    head = [
        "# diffkit report",
        "",
        f"Generated by `python -m diffkit report{' --quick' if quick else ''}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC in "
        f"{elapsed:.0f} s (Python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}).",
        "",
        f"Methods: {', '.join(available)}."
        + (f" Not installed (skipped): {', '.join(missing)}." if missing else ""),
        "",
    ]
    path = outdir / "README.md"
    path.write_text("\n".join(head + body).rstrip() + "\n", encoding="utf-8")
    log(f"report: wrote {path} in {elapsed:.1f} s")
    return path
