"""The ``diffkit`` command: compare, sweep, swell, cost, memory, trace and report.

Results go to stdout (``--json`` for machine-readable output), progress and logs to stderr.
Exit codes: 0 success, 1 a run that failed (a part not installed, a write error), 2 bad input
(a formula, a point or an option), reported in one line without a traceback. Formula text
is parsed only by :mod:`diffkit.parse` (an ``ast`` whitelist, never ``eval``).

Examples
--------
::

    diffkit compare "log(x1) + x1*x2 - sin(x2)" --at 2,5
    diffkit sweep "exp(x)" --at 1 --out sweep.png --csv sweep.csv
    diffkit swell logistic --n 1..12
    diffkit cost rosenbrock --dims 10,100,1000
    diffkit memory --steps 100,1000 --state 32 --schedules tape,sqrt,5,20
    diffkit memory --schedule 10,3 --out revolve.png
    diffkit trace "log(x1) + x1*x2 - sin(x2)" --at 2,5 --mode reverse
    diffkit report --out reports/ --quick
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import revolve

__all__ = ["main"]


class _BadInput(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


class _Failed(Exception):
    """A run that could not complete: one line on stderr, exit code 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage block
        raise _BadInput(f"{self.prog}: {message} (see {self.prog} --help)")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def _progress(total: int, desc: str) -> Callable[..., None]:
    """A progress callback: a tqdm bar on a TTY when tqdm is installed, else nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        return lambda *a: None
    bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=None, leave=False)

    def step(*_: Any) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _spec(text: str, cmd: str) -> Any:
    from .errors import DiffkitError
    from .spec import Function

    try:
        return Function.from_expr(text)
    except DiffkitError as exc:
        raise _BadInput(f"diffkit {cmd}: bad formula {text!r}: "
                        f"{_first_line(exc).removeprefix(f'formula {text!r}: ')}") from None


def _numbers(text: str, what: str, cmd: str, kind: type = float) -> list[Any]:
    parts = [p.strip() for p in text.split(",")]
    try:
        vals = [kind(p) for p in parts if p]
    except ValueError:
        raise _BadInput(f"diffkit {cmd}: {what} {text!r} is not a comma-separated list of "
                        f"{'integers' if kind is int else 'numbers'}, e.g. "
                        f"{'10,100,1000' if kind is int else '2,5'}") from None
    if not vals or len(vals) != len(parts):
        raise _BadInput(f"diffkit {cmd}: {what} {text!r} is empty or has an empty entry")
    return vals


def _point(text: str, spec: Any, cmd: str) -> np.ndarray:
    from .errors import DiffkitError
    from .validation import as_point

    vals = np.array(_numbers(text, "--at", cmd))
    x = vals.reshape(()) if spec.nparams == 1 and vals.size == 1 else vals
    try:
        return as_point(spec, x, "gradient")
    except DiffkitError as exc:
        raise _BadInput(f"diffkit {cmd}: --at {text}: {_first_line(exc)}") from None


def _range(text: str, cmd: str) -> list[int]:
    """``1..12`` or ``1,2,4``."""
    if ".." in text:
        a, _, b = text.partition("..")
        try:
            lo, hi = int(a), int(b)
        except ValueError:
            raise _BadInput(f"diffkit {cmd}: --n {text!r} is not a range like 1..12") from None
        if lo < 1 or hi < lo:
            raise _BadInput(f"diffkit {cmd}: --n {text!r} must be an increasing range of "
                            f"depths >= 1, like 1..12")
        return list(range(lo, hi + 1))
    vals = _numbers(text, "--n", cmd, int)
    if min(vals) < 1:
        raise _BadInput(f"diffkit {cmd}: --n {text!r}: depths must be >= 1")
    return vals


def _methods_arg(text: str | None, cmd: str) -> Any:
    if text is None:
        return "all"
    from . import methods
    from .errors import DiffkitError

    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        try:
            methods.get(n)
        except DiffkitError as exc:
            raise _BadInput(f"diffkit {cmd}: --methods: {_first_line(exc)}") from None
    return names


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _savefig(draw: Callable[[Any], Any], path: str, cmd: str, size: tuple[float, float]) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise _Failed(f"diffkit {cmd}: --out needs matplotlib (pip install matplotlib)") \
            from None
    fig = Figure(figsize=size, layout="constrained")
    draw(fig.add_subplot())
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as exc:
        raise _Failed(f"diffkit {cmd}: cannot write {path}: {_first_line(exc)}") from None
    _log(f"wrote {path}")


# ----------------------------------------------------------------------------- commands

def _compare(args: argparse.Namespace) -> int:
    from .analysis.compare import catalog_markdown, compare, compare_catalog

    methods = _methods_arg(args.methods, "compare")
    if args.expr is None:
        if args.at:
            raise _BadInput("diffkit compare: --at needs a formula, e.g. diffkit compare "
                            "'exp(x)' --at 1")
        from . import catalog

        entries = catalog.entries()
        results = compare_catalog(entries, methods, repeat=args.repeat,
                                  progress=_progress(len(entries), "compare"))
        if args.json:
            _emit_json([c.to_dict() for c in results])
        else:
            print(catalog_markdown(results), end="")
        return 0
    spec = _spec(args.expr, "compare")
    if not args.at:
        raise _BadInput("diffkit compare: --at is required with a formula, e.g. --at 2,5")
    x = _point(args.at, spec, "compare")
    c = compare(spec, x, methods, repeat=args.repeat)
    if args.json:
        _emit_json(c.to_dict())
    elif args.markdown:
        print(c.to_markdown(), end="")
    else:
        print(c)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .analysis.step_error import SCHEMES, step_error

    spec = _spec(args.expr, "sweep")
    x = _point(args.at, spec, "sweep")
    if spec.nparams != 1:
        raise _BadInput(f"diffkit sweep: {args.expr!r} has {spec.nparams} variables; sweep "
                        f"takes a function of one variable")
    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    bad = [s for s in schemes if s not in SCHEMES]
    if bad or not schemes:
        raise _BadInput(f"diffkit sweep: --schemes: {bad[0] if bad else args.schemes!r} is not "
                        f"a scheme; choose from {', '.join(SCHEMES)}")
    dtype = {"float64": np.float64, "float32": np.float32}[args.dtype]
    r = step_error(spec, x, schemes=schemes, complex_step=not args.no_complex_step, dtype=dtype)
    if args.csv:
        try:
            with open(args.csv, "w", encoding="utf-8") as fh:
                fh.write(r.to_csv())
        except OSError as exc:
            raise _Failed(f"diffkit sweep: cannot write {args.csv}: {_first_line(exc)}") \
                from None
        _log(f"wrote {args.csv}")
    if args.out:
        _savefig(r.plot, args.out, "sweep", (10, 5))
    if args.json:
        _emit_json(r.to_dict())
        return 0
    print(f"d/dx {r.name} at x = {r.x:g}: reference {r.exact:.17g} "
          f"({'exact' if r.reference_exact else 'approximate'}), {np.dtype(r.dtype).name}")
    print(f"{'scheme':<20} {'p':>2} {'slope':>6} {'optimal h':>10} {'predicted h':>11} "
          f"{'min error':>10} {'breakdowns':>10}")
    for row in r.summary():
        print(f"{row['scheme']:<20} {row['order']:>2} {row['slope']:>6.2f} "
              f"{row['optimal_h']:>10.1e} {row['predicted_h']:>11.1e} {row['min_error']:>10.1e} "
              f"{row['breakdowns']:>10d}")
    for n in r.notes:
        _log(f"note: {n}")
    return 0


def _swell(args: argparse.Namespace) -> int:
    from .analysis.swell import FAMILIES, swell

    if args.family not in FAMILIES:
        raise _BadInput(f"diffkit swell: unknown family {args.family!r}; choose from "
                        f"{', '.join(FAMILIES)}")
    ns = _range(args.n, "swell")
    s = swell(args.family, ns, progress=_progress(len(ns), "swell"))
    if args.out:
        _savefig(s.plot, args.out, "swell", (8, 5))
    if args.json:
        _emit_json(s.to_dict())
    else:
        print(s.to_markdown(), end="")
    for n in s.notes:
        _log(f"note: {n}")
    return 0


def _cost(args: argparse.Namespace) -> int:
    from .analysis.cost import FAMILIES, cost

    if args.family not in FAMILIES:
        raise _BadInput(f"diffkit cost: unknown family {args.family!r}; choose from "
                        f"{', '.join(FAMILIES)}")
    dims = _numbers(args.dims, "--dims", "cost", int)
    if min(dims) < 2:
        raise _BadInput(f"diffkit cost: --dims {args.dims}: dimensions must be >= 2")
    methods = _methods_arg(args.methods, "cost")
    n_methods = len(methods) if methods != "all" else len(__import__(
        "diffkit.methods", fromlist=["available"]).available())
    c = cost(args.family, dims, methods, repeat=args.repeat,
             progress=_progress(n_methods * len(dims), "cost"))
    if args.out:
        _savefig(c.plot, args.out, "cost", (8, 5))
    if args.json:
        _emit_json(c.to_dict())
    else:
        print(c.to_markdown(), end="")
    for n in c.notes:
        _log(f"note: {n}")
    return 0


def _schedules_arg(text: str, flag: str = "--schedules") -> list[Any]:
    out: list[Any] = []
    for part in (t.strip() for t in text.split(",")):
        if part in ("tape", "none", "None"):
            out.append(None)
        elif part == "sqrt":
            out.append("sqrt")
        elif part.isdigit() and int(part) >= 1:
            out.append(int(part))
        else:
            raise _BadInput(f"diffkit memory: {flag} {text!r}: each entry is tape, sqrt or a "
                            f"number of snapshots >= 1, e.g. tape,sqrt,5,20")
    return out


def _memory(args: argparse.Namespace) -> int:
    if args.schedule:  # the diagram of one reversal, no measurement
        parts = [t.strip() for t in args.schedule.split(",")]
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
            raise _BadInput(f"diffkit memory: --schedule {args.schedule!r}: pass T,c with "
                            f"T >= 1 steps and c a number of snapshots or sqrt, e.g. 10,3")
        steps = int(parts[0])
        (sched,) = _schedules_arg(parts[1], "--schedule")
        actions = revolve.schedule(steps, sched)
        if args.out:
            from .plotting import plot_schedule

            _savefig(lambda ax: plot_schedule(actions, ax=ax), args.out, "memory",
                     (7, max(4.0, min(14.0, 1.0 + 0.14 * sum(
                         a.kind in ("advance", "taped", "reverse") for a in actions)))))
        if args.json:
            _emit_json([{"kind": a.kind, "step": a.step, "sweep": a.sweep} for a in actions])
        else:
            for a in actions:
                print(f"{'sweep' if a.sweep else 'record':<8}{a.kind:<10}{a.step}")
        return 0
    from .analysis.memory import FAMILIES, memory

    if args.family not in FAMILIES:
        raise _BadInput(f"diffkit memory: unknown family {args.family!r}; choose from "
                        f"{', '.join(FAMILIES)}")
    steps = _numbers(args.steps, "--steps", "memory", int)
    if min(steps) < 1:
        raise _BadInput(f"diffkit memory: --steps {args.steps}: loop lengths must be >= 1")
    if args.state < 3:
        raise _BadInput(f"diffkit memory: --state {args.state}: the state size must be >= 3")
    schedules = _schedules_arg(args.schedules)
    methods = [] if args.methods in ("", "none") else _methods_arg(args.methods, "memory")
    r = memory(args.family, steps, args.state, schedules, methods, repeat=args.repeat,
               progress=_progress(len(steps) * (len(schedules) + len(methods)), "memory"))
    if args.out:
        _savefig(lambda ax: r.plot(ax=ax, metric=args.metric), args.out, "memory", (8, 5))
    if args.json:
        _emit_json(r.to_dict())
    else:
        print(r.to_markdown(), end="")
    for n in r.notes:
        _log(f"note: {n}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    import importlib

    spec = _spec(args.expr, "trace")
    x = _point(args.at, spec, "trace")
    try:
        trace_mod = importlib.import_module("diffkit.trace")
    except ModuleNotFoundError:
        raise _Failed("diffkit trace: the trace module (diffkit.trace) is not in this "
                      "installation") from None
    t = trace_mod.trace(spec, x, mode=args.mode)
    if args.mode == "forward":
        table = t.forward_table()
    else:  # the primal trace, then the adjoint trace (Baydin et al. 2018, Table 3)
        table = f"{t.forward_table()}\n\n{t.reverse_table()}"
    if args.format != "table" or args.out:
        if not hasattr(t, "to_dot"):
            raise _BadInput(f"diffkit trace: --format {args.format} and --out draw the graph "
                            f"of the recorded program; use --mode reverse")
    if args.out:
        _savefig(lambda ax: t.draw(ax=ax), args.out, "trace", (9, 6))
    if args.format == "dot":
        print(t.to_dot())
    elif args.format == "mermaid":
        print(t.to_mermaid())
    elif args.json:
        _emit_json({"mode": args.mode, "ops": getattr(t, "ops", None),
                    "nbytes": getattr(t, "nbytes", None), "table": str(table)})
    else:
        print(table)
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import build_report

    path = build_report(args.out, quick=args.quick, log=_log)
    print(path)
    return 0


# ----------------------------------------------------------------------------- parser

def _parser() -> _Parser:
    parser = _Parser(prog="diffkit", description="Differentiate one function in every way "
                     "there is, side by side.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("compare", help="every method side by side against exact references")
    p.add_argument("expr", nargs="?", help="formula, e.g. 'log(x1) + x1*x2 - sin(x2)'; "
                   "without it, the whole catalogue")
    p.add_argument("--at", help="the point, comma-separated, e.g. 2,5")
    p.add_argument("--methods", help="comma-separated method names (default: all)")
    p.add_argument("--repeat", type=int, default=3, help="timed calls per method")
    p.add_argument("--markdown", action="store_true", help="a markdown table")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_compare)

    p = sub.add_parser("sweep", help="error versus step size, with the error model")
    p.add_argument("expr", help="formula of one variable, e.g. 'exp(x)'")
    p.add_argument("--at", required=True, help="the point, e.g. 1")
    p.add_argument("--schemes", default="forward-difference,backward-difference,"
                   "central-difference", help="comma-separated schemes")
    p.add_argument("--no-complex-step", action="store_true", help="leave out the complex step")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--out", help="write the plot to this PNG")
    p.add_argument("--csv", help="write the sweep to this CSV file")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_sweep)

    p = sub.add_parser("swell", help="expression size versus depth (Baydin Table 1)")
    p.add_argument("family", help="program family: logistic")
    p.add_argument("--n", default="1..12", help="depths: 1..12 or 1,2,4")
    p.add_argument("--out", help="write the plot to this PNG")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_swell)

    p = sub.add_parser("cost", help="evaluations, time and memory versus dimension")
    p.add_argument("family", help="rosenbrock (R^n -> R) or sines (R -> R^m)")
    p.add_argument("--dims", default="10,100,1000", help="comma-separated dimensions")
    p.add_argument("--methods", help="comma-separated method names (default: all)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per point")
    p.add_argument("--out", help="write the plot to this PNG")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_cost)

    p = sub.add_parser("memory", help="memory versus recomputation: reverse mode's tape, "
                       "checkpointing (sqrt, revolve) and the methods without a tape")
    p.add_argument("--family", default="lorenz96", help="the loop: lorenz96")
    p.add_argument("--steps", default="100,300,1000", help="comma-separated loop lengths T")
    p.add_argument("--state", type=int, default=32, help="size of the loop's state")
    p.add_argument("--schedules", default="tape,sqrt,2,5,20",
                   help="reverse-mode schedules: tape, sqrt or a number of snapshots")
    p.add_argument("--methods", default="forward-mode,central-difference",
                   help="methods without a tape, measured beside them ('none': none)")
    p.add_argument("--repeat", type=int, default=3, help="timed calls per point")
    p.add_argument("--metric", choices=("peak_bytes", "seconds", "tape_bytes", "recomputed",
                                        "tradeoff"), default="peak_bytes",
                   help="what --out plots")
    p.add_argument("--schedule", metavar="T,c", help="instead: list the actions of one "
                   "reversal (T steps, c snapshots or sqrt); --out draws its diagram")
    p.add_argument("--out", help="write the plot to this PNG")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_memory)

    p = sub.add_parser("trace", help="the forward or reverse trace of a formula")
    p.add_argument("expr", help="formula, e.g. 'log(x1) + x1*x2 - sin(x2)'")
    p.add_argument("--at", required=True, help="the point, e.g. 2,5")
    p.add_argument("--mode", choices=("forward", "reverse"), default="reverse")
    p.add_argument("--format", choices=("table", "dot", "mermaid"), default="table",
                   help="the trace table, or the graph as DOT or Mermaid text (reverse)")
    p.add_argument("--out", help="draw the graph to this PNG")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_trace)

    p = sub.add_parser("report", help="regenerate every figure and table into a directory")
    p.add_argument("--out", default="reports", help="output directory (default: reports/)")
    p.add_argument("--quick", action="store_true", help="smaller sweeps (CI)")
    p.set_defaults(run=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``diffkit`` command; returns the exit code (0, 1 or 2).

    Examples
    --------
    >>> main(["sweep", "exp(x)", "--at", "1", "--schemes", "central-difference",
    ...       "--no-complex-step"])  # doctest: +ELLIPSIS
    d/dx exp(x) at x = 1: ...
    0
    """
    from .errors import DiffkitError

    try:
        args = _parser().parse_args(argv)
        if getattr(args, "repeat", 1) is not None and getattr(args, "repeat", 1) < 1:
            raise _BadInput(f"diffkit {args.command}: --repeat must be >= 1")
        return int(args.run(args))
    except _BadInput as exc:
        _log(str(exc))
        return 2
    except _Failed as exc:
        _log(str(exc))
        return 1
    except DiffkitError as exc:  # bad input the analysis found (a point outside the domain)
        _log(f"diffkit: {_first_line(exc)}")
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:  # pragma: no cover
        _log("diffkit: interrupted")
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
