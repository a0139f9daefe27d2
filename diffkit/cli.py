"""The ``diffkit`` command: compare, sweep, swell, cost, memory, trace and report.

Results go to stdout (``--json`` for machine-readable output), progress and notes to stderr.
Every error is one line on stderr, in the command's own terms (flags and formulas, not Python
calls), with an exit code:

==  ==============================================================================
0   success
1   a run that could not complete (a part not installed, a file not writable, an internal
    error: rerun with ``--traceback`` to see where)
2   bad input: a formula, a point, a flag or a name (a misspelt method or family gets a
    "did you mean")
130 interrupted (Ctrl-C)
141 stdout was closed by its reader (``| head``): the output stops there, silently, as it
    does for any Unix tool
==  ==============================================================================

Formula text is parsed only by :mod:`diffkit.parse` (an ``ast`` whitelist, never ``eval``).

Examples
--------
::

    diffkit --version
    diffkit compare "log(x1) + x1*x2 - sin(x2)" --at 2,5
    diffkit compare "log(x1) + x1*x2 - sin(x2)" --at 2,5 --manual "1/x1 + x2, x1 - cos(x2)"
    diffkit compare "exp(x)" --at 1 --methods reverse,central
    diffkit sweep "exp(x)" --at 1 --out sweep.png --csv sweep.csv
    diffkit swell logistic --n 1..12
    diffkit cost rosenbrock --dims 10,100,1000
    diffkit memory --steps 100,1000 --state 32 --schedules tape,sqrt,5,20
    diffkit memory --schedule 10,3 --out revolve.png
    diffkit trace "log(x1) + x1*x2 - sin(x2)" --at 2,5 --mode reverse
    diffkit trace --python "log(x1) + x1*x2 - sin(x2)" --at 2,5
    diffkit report --out reports/ --quick
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import revolve
from .core import checked_evaluation
from .display import comparison_text, step_error_text
from .errors import DiffkitError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141


class _BadInput(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


class _Failed(Exception):
    """A run that could not complete: one line on stderr, exit code 1."""


def _did_you_mean(word: str, choices: Sequence[str], aliases: dict[str, str] | None = None
                  ) -> str:
    """``"; did you mean 'reverse-mode'?"`` when ``word`` is close to one of ``choices`` or
    of their ``aliases`` (which suggest the name they stand for)."""
    aliases = aliases or {}
    word = word.lower()
    scored = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c)
                     for c in [*choices, *aliases]), reverse=True)
    best = scored[0][0] if scored else 0.0
    close = [c for r, c in scored if r >= 0.6 and r >= best - 0.05]  # the clear best, or a tie
    names = list(dict.fromkeys(aliases.get(c, c) for c in close))[:2]
    if not names:
        return ""
    return f"; did you mean {' or '.join(repr(c) for c in names)}?"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage block
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:  # a misspelt subcommand or choice
            choices = re.findall(r"'([^']*)'", m.group(2))
            message += _did_you_mean(m.group(1), choices)
        raise _BadInput(f"{self.prog}: {message} (see {self.prog} --help)")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------------------- names

# Short names people type for the methods (the canonical names are diffkit.methods.METHOD_NAMES)
METHOD_ALIASES = {
    "reverse": "reverse-mode", "rev": "reverse-mode", "reverse-ad": "reverse-mode",
    "backprop": "reverse-mode", "adjoint": "reverse-mode", "vjp": "reverse-mode",
    "forward": "forward-mode", "fwd": "forward-mode", "forward-ad": "forward-mode",
    "dual": "forward-mode", "tangent": "forward-mode", "jvp": "forward-mode",
    "central": "central-difference", "centered": "central-difference",
    "centred": "central-difference", "cd": "central-difference",
    "central-diff": "central-difference", "forward-diff": "forward-difference",
    "fd": "forward-difference", "backward-diff": "backward-difference",
    "bd": "backward-difference", "complex": "complex-step", "cs": "complex-step",
    "sym": "symbolic", "sympy": "symbolic", "hand": "manual", "handwritten": "manual",
    "extrapolation": "richardson",
}
"""Aliases of ``--methods``; ``forward`` is forward mode (forward differences are
``forward-difference`` or ``fd``), and a note on stderr says so."""

_AMBIGUOUS = {"backward": ("backward-difference", "reverse-mode"),
              "ad": ("reverse-mode", "forward-mode"),
              "finite-difference": ("central-difference", "forward-difference"),
              "numerical": ("central-difference", "richardson")}

SCHEME_ALIASES = {"forward": "forward-difference", "backward": "backward-difference",
                  "central": "central-difference", "complex": "complex-step",
                  "fd": "forward-difference", "bd": "backward-difference",
                  "cd": "central-difference", "cs": "complex-step"}
"""Aliases of ``sweep --schemes`` (finite differences only, so ``forward`` is unambiguous)."""


def _normal(name: str) -> str:
    text = re.sub(r"[\s_]+", "-", name.strip().lower())
    return re.sub(r"differences$", "difference", text)


def _resolve(name: str, canonical: Sequence[str], aliases: dict[str, str], flag: str,
             cmd: str, what: str) -> str:
    """A name typed on the command line, as the canonical name it means, or a one-line
    error with a "did you mean"."""
    key = _normal(name)
    if key in canonical:
        return key
    if key in aliases and aliases[key] in canonical:
        return aliases[key]
    if key in _AMBIGUOUS and aliases is METHOD_ALIASES:
        a, b = _AMBIGUOUS[key]
        raise _BadInput(f"diffkit {cmd}: {flag} {name}: ambiguous; did you mean {a!r} or "
                        f"{b!r}?")
    hint = _did_you_mean(key, canonical, aliases)
    raise _BadInput(f"diffkit {cmd}: {flag} {name}: not {what}{hint} (choose from "
                    f"{', '.join(canonical)})")


def _methods_arg(text: str | None, cmd: str, *, manual: bool = True) -> Any:
    """``--methods``: names or aliases, comma-separated; default every method (without the
    manual one when there is no hand-written derivative)."""
    from . import methods

    names = methods.available()
    if text is None:
        return "all" if manual else [m for m in methods.concrete() if m != "manual"]
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if not parts:
        raise _BadInput(f"diffkit {cmd}: --methods {text!r} is empty; name at least one, "
                        f"e.g. --methods reverse-mode,central-difference")
    chosen = []
    for part in parts:
        name = _resolve(part, names, METHOD_ALIASES, "--methods", cmd, "a method")
        if _normal(part) == "forward":
            _log(f"note: --methods {part} is forward-mode (AD); forward differences are "
                 f"forward-difference (or fd)")
        if name == "manual" and not manual:
            raise _BadInput(f"diffkit {cmd}: --methods manual needs the hand-written "
                            f"derivative: give it with --manual, e.g. --manual '1/x1 + x2, "
                            f"x1 - cos(x2)' (one formula per variable)")
        chosen.append(name)
    return list(dict.fromkeys(chosen))


# ----------------------------------------------------------------------------- messages

# a leading Python call: ``compare(f, x): `` or ``trace(f, x, mode='x'): `` (arguments are
# names, so ``log(-1.0): outside its domain`` keeps its primitive)
_CALL_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*\((?:[A-Za-z_]\w*(?:=[^()]*)?(?:, )?)*\): )+")


def _cli_terms(text: str) -> str:
    """A library message in the command's terms: no leading Python call
    (``compare(f, x): ``), ``method='x'`` as ``--methods x``."""
    text = _CALL_PREFIX.sub("", text.strip())
    text = re.sub(r"method=(['\"])([\w-]+)\1 or (['\"])([\w-]+)\3", r"--methods \2 or \4",
                  text)
    text = re.sub(r"method=(['\"])([\w-]+)\1", r"--methods \2", text)
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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


# ----------------------------------------------------------------------------- arguments


def _spec(text: str, cmd: str) -> Any:
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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _point(text: str, spec: Any, cmd: str, *, one: bool = False) -> np.ndarray:
    """``--at``: one number per variable of the formula (for one variable, several numbers
    make it elementwise over a vector, except where ``one`` point is needed), finite, inside
    the formula's domain."""
    from .validation import as_point

    vals = np.array(_numbers(text, "--at", cmd))
    k = spec.nparams
    names = ", ".join(spec.parameters)
    example = ",".join(["1"] * k)
    if k > 1 and vals.size != k:
        raise _BadInput(f"diffkit {cmd}: --at {text} gives {_plural(vals.size, 'number')}, "
                        f"but {spec.name!r} has {k} variables ({names}); give one number per "
                        f"variable, in that order, e.g. --at {example}")
    if one and vals.size != 1:
        raise _BadInput(f"diffkit {cmd}: --at {text} gives {_plural(vals.size, 'number')}; "
                        f"{cmd} differentiates {spec.name!r} at one point: give one number, "
                        f"e.g. --at {format(vals[0], 'g')} (run once per point)")
    if not np.all(np.isfinite(vals)):
        raise _BadInput(f"diffkit {cmd}: --at {text}: every coordinate must be a finite "
                        f"number")
    x = vals.reshape(()) if k == 1 and vals.size == 1 else vals
    try:
        x = as_point(spec, x, "gradient")
    except DiffkitError as exc:
        raise _BadInput(f"diffkit {cmd}: --at {text}: {_cli_terms(_first_line(exc))}") \
            from None
    try:
        with checked_evaluation(), np.errstate(all="raise"):
            value = np.asarray(spec.call(x), dtype=float)
    except (DiffkitError, ArithmeticError) as exc:
        why = _first_line(exc).split("; evaluate the function")[0]
        raise _BadInput(f"diffkit {cmd}: {spec.name!r} is not defined at --at {text} ({why}); "
                        f"choose a point inside its domain") from None
    if not np.all(np.isfinite(value)):
        raise _BadInput(f"diffkit {cmd}: {spec.name!r} is not finite at --at {text}; choose "
                        f"a point inside its domain")
    return x


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses (``atan2(a, b), c`` -> 2 parts)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _manual(text: str, spec: Any, cmd: str) -> Callable[..., Any]:
    """``--manual``: the hand-written derivative, one formula per variable of ``spec``."""
    from .parse import parse

    body = text.strip()
    if body[:1] in "[(" and body[-1:] in "])" and len(_split_top(body[1:-1])) > 1:
        body = body[1:-1]  # "[1/x1 + x2, x1 - cos(x2)]"
    parts = _split_top(body)
    k = spec.nparams
    if len(parts) != k or not all(parts):
        raise _BadInput(f"diffkit {cmd}: --manual {text!r} gives "
                        f"{_plural(len([p for p in parts if p]), 'formula')}, but "
                        f"{spec.name!r} has {_plural(k, 'variable')} "
                        f"({', '.join(spec.parameters)}); give one partial derivative per "
                        f"variable, comma-separated, in that order")
    programs = []
    for part in parts:
        try:
            programs.append(parse(part, variables=spec.parameters))
        except DiffkitError as exc:
            raise _BadInput(f"diffkit {cmd}: --manual: bad formula {part!r}: "
                            f"{_first_line(exc).removeprefix(f'formula {part!r}: ')}") \
                from None
    if k == 1:
        return lambda x: programs[0].evaluate(x)
    return lambda *xs: [p.evaluate(*xs) for p in programs]


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


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _write(fig: Any, path: str, cmd: str) -> None:
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as exc:
        raise _Failed(f"diffkit {cmd}: cannot write {path}: {_first_line(exc)}") from None
    _log(f"wrote {path}")


def _savefig(draw: Callable[[Any], Any], path: str, cmd: str, size: tuple[float, float]) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise _Failed(f"diffkit {cmd}: --out needs matplotlib (pip install matplotlib)") \
            from None
    fig = Figure(figsize=size, layout="constrained")
    draw(fig.add_subplot())
    _write(fig, path, cmd)


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns  # COLUMNS, the terminal, or 120


# ----------------------------------------------------------------------------- commands

def _compare(args: argparse.Namespace) -> int:
    from .analysis.compare import catalog_markdown, compare, compare_catalog

    if args.expr is None:
        if args.at:
            raise _BadInput("diffkit compare: --at needs a formula, e.g. diffkit compare "
                            "'exp(x)' --at 1")
        if args.manual:
            raise _BadInput("diffkit compare: --manual needs a formula, e.g. diffkit compare "
                            "'x**2' --at 3 --manual '2*x'")
        methods = _methods_arg(args.methods, "compare")
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
    # a formula has no hand-written derivative unless --manual gives one: no manual row
    methods = _methods_arg(args.methods, "compare", manual=args.manual is not None)
    if args.manual is not None:
        spec.manual(_manual(args.manual, spec, "compare"))
        if args.methods is None:
            methods = "all"
    x = _point(args.at, spec, "compare")
    c = compare(spec, x, methods, repeat=args.repeat)
    if args.json:
        _emit_json(c.to_dict())
    elif args.markdown:
        print(c.to_markdown(), end="")
    else:
        print(comparison_text(c, _width(), detail=_cli_terms))
    # --manual is there to check it: a hand-written derivative off the reference fails the
    # command (exit 1), as a failing test would
    if args.manual is not None and any(
            r.method == "manual" and r.status.startswith("disagrees") for r in c.rows):
        print("diffkit compare: the --manual derivative disagrees with the reference",
              file=sys.stderr)
        return 1
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .analysis.step_error import SCHEMES, step_error

    spec = _spec(args.expr, "sweep")
    if spec.nparams != 1:
        raise _BadInput(f"diffkit sweep: {args.expr!r} has {spec.nparams} variables "
                        f"({', '.join(spec.parameters)}); sweep takes a function of one "
                        f"variable")
    x = _point(args.at, spec, "sweep", one=True)
    parts = [s.strip() for s in args.schemes.split(",") if s.strip()]
    if not parts:
        raise _BadInput(f"diffkit sweep: --schemes {args.schemes!r} is empty; choose from "
                        f"{', '.join(SCHEMES)}")
    schemes = list(dict.fromkeys(
        _resolve(s, list(SCHEMES), SCHEME_ALIASES, "--schemes", "sweep", "a scheme")
        for s in parts))
    dtype = {"float64": np.float64, "float32": np.float32}[args.dtype]
    if abs(float(x)) > float(np.finfo(dtype).max):
        raise _BadInput(f"diffkit sweep: --at {args.at} is beyond {args.dtype}'s range "
                        f"(±{np.finfo(dtype).max:.3g}); use --dtype float64 or a smaller point")
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
    table = step_error_text(r, notes=False)
    print(table)
    for n in step_error_text(r).splitlines()[len(table.splitlines()):]:
        _log(f"note: {n}")  # why steps broke down, and the notes: stdout keeps the table
    return 0


def _family(name: str, families: Any, cmd: str) -> str:
    key = _normal(name)
    if key in families:
        return key
    raise _BadInput(f"diffkit {cmd}: unknown family {name!r}"
                    f"{_did_you_mean(key, list(families))} (choose from "
                    f"{', '.join(families)})")


def _swell(args: argparse.Namespace) -> int:
    from .analysis.swell import FAMILIES, swell

    family = _family(args.family, FAMILIES, "swell")
    ns = _range(args.n, "swell")
    s = swell(family, ns, progress=_progress(len(ns), "swell"))
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

    family = _family(args.family, FAMILIES, "cost")
    dims = _numbers(args.dims, "--dims", "cost", int)
    if min(dims) < 2:
        raise _BadInput(f"diffkit cost: --dims {args.dims}: dimensions must be >= 2")
    methods = _methods_arg(args.methods, "cost")
    n_methods = len(methods) if methods != "all" else len(__import__(
        "diffkit.methods", fromlist=["available"]).available())
    c = cost(family, dims, methods, repeat=args.repeat,
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
    if (args.format != "table" or args.out) and args.mode != "reverse":
        raise _BadInput(f"diffkit trace: --format {args.format} and --out draw the graph of "
                        f"the recorded program; use --mode reverse")
    t = trace_mod.trace(spec, x, mode=args.mode)
    if args.python:  # the derivative program as code (method reverse-compiled)
        if args.format != "table" or args.out or args.json:
            raise _BadInput("diffkit trace: --python prints the program as text; leave out "
                            "--format, --out and --json")
        if args.mode == "forward":
            from .methods.compiled import ReverseCompiled

            print(ReverseCompiled().source(spec, x, what="jvp"), end="")
        else:
            print(t.to_python(), end="")
        return 0
    if args.mode == "forward":
        table = t.forward_table()
    else:  # the primal trace, then the adjoint trace (Baydin et al. 2018, Table 3)
        table = f"{t.forward_table()}\n\n{t.reverse_table()}"
    if args.out:
        try:
            fig = t.figure()  # sized to the graph
        except ImportError:
            raise _Failed("diffkit trace: --out needs matplotlib (pip install matplotlib)") \
                from None
        _write(fig, args.out, "trace")
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

def _method_help() -> str:
    from .methods import METHOD_NAMES

    return (f"comma-separated methods (default: all): {', '.join(METHOD_NAMES)}; short "
            f"names: reverse, forward (forward-mode), central, fd (forward-difference), bd, "
            f"complex, sym")


def _parser() -> _Parser:
    from . import __version__

    parser = _Parser(prog="diffkit", description="Differentiate one function in every way "
                     "there is, side by side.",
                     epilog="Exit codes: 0 success, 1 a run that could not complete, 2 bad "
                     "input, 130 interrupted, 141 output closed by its reader (| head).")
    parser.add_argument("--version", action="version", version=f"diffkit {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="on an internal error, show where it happened")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("compare", help="every method side by side against exact references")
    p.add_argument("expr", nargs="?", help="formula, e.g. 'log(x1) + x1*x2 - sin(x2)'; "
                   "without it, the whole catalogue")
    p.add_argument("--at", help="the point, one number per variable, e.g. 2,5")
    p.add_argument("--methods", help=_method_help())
    p.add_argument("--manual", metavar="FORMULAS",
                   help="your hand-written derivative, to check it: one formula per variable, "
                   "comma-separated, e.g. --manual '1/x1 + x2, x1 - cos(x2)' (adds the manual "
                   "row; without it a formula has none; exit status 1 where it disagrees with "
                   "the reference)")
    p.add_argument("--repeat", type=int, default=3, help="timed calls per method")
    p.add_argument("--markdown", action="store_true", help="a markdown table")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_compare)

    p = sub.add_parser("sweep", help="error versus step size, with the error model")
    p.add_argument("expr", help="formula of one variable, e.g. 'exp(x)'")
    p.add_argument("--at", required=True, help="the point, one number, e.g. 1")
    p.add_argument("--schemes", default="forward-difference,backward-difference,"
                   "central-difference", help="comma-separated schemes: forward-difference, "
                   "backward-difference, central-difference, complex-step, richardson (or "
                   "forward, backward, central, complex)")
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
    p.add_argument("--methods", help=_method_help())
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
    p.add_argument("--at", required=True, help="the point, one number per variable, e.g. 2,5")
    p.add_argument("--mode", choices=("forward", "reverse"), default="reverse")
    p.add_argument("--format", choices=("table", "dot", "mermaid"), default="table",
                   help="the trace table, or the graph as DOT or Mermaid text (reverse)")
    p.add_argument("--out", help="draw the graph to this PNG (sized to the graph)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--python", action="store_true",
                   help="print the adjoint program as Python code (the tangent program with "
                        "--mode forward), as method reverse-compiled writes it")
    p.set_defaults(run=_trace)

    p = sub.add_parser("report", help="regenerate every figure and table into a directory")
    p.add_argument("--out", default="reports", help="output directory (default: reports/)")
    p.add_argument("--quick", action="store_true", help="smaller sweeps (CI)")
    p.set_defaults(run=_report)
    return parser


def _closed_pipe() -> int:
    """stdout's reader went away (``| head``): stop quietly, and keep Python's final flush
    from printing a traceback of its own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (tests capture it)
        pass
    return EXIT_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``diffkit`` command; returns the exit code (see the module).

    Examples
    --------
    >>> main(["sweep", "exp(x)", "--at", "1", "--schemes", "central-difference",
    ...       "--no-complex-step"])  # doctest: +ELLIPSIS
    d/dx exp(x) at x = 1: ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = next((a for a in argv if not a.startswith("-")), "")
    where = f"diffkit {cmd}".rstrip()

    def one_line_warning(message: Any, category: type, *_: Any, **__: Any) -> None:
        text = str(message).strip().splitlines()
        _log(f"{where}: warning: {category.__name__}: {text[0] if text else ''}")

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning  # restored on exit
            return _main(argv, where)
    except BrokenPipeError:
        return _closed_pipe()


def _main(argv: list[str], where: str) -> int:

    try:
        args = _parser().parse_args(argv)
        where = f"diffkit {args.command}"
        if getattr(args, "repeat", 1) is not None and getattr(args, "repeat", 1) < 1:
            raise _BadInput(f"diffkit {args.command}: --repeat must be >= 1")
        code = int(args.run(args))
    except _BadInput as exc:
        _log(str(exc))
        code = EXIT_BAD_INPUT
    except _Failed as exc:
        _log(str(exc))
        code = EXIT_FAILED
    except DiffkitError as exc:  # bad input the analysis found (a point outside a domain)
        _log(f"{where}: {_cli_terms(_first_line(exc))}")
        code = EXIT_BAD_INPUT
    except SystemExit as exc:  # --help, --version
        code = int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _log(f"{where}: interrupted")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except OSError as exc:  # a file it cannot write or read (--out to a missing directory)
        if "--traceback" in argv:
            raise
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        _log(f"{where}: cannot use{name}: {exc.strerror or exc}; check the path and its "
             f"permissions")
        code = EXIT_FAILED
    except Exception as exc:  # a bug: one line, unless --traceback asks for the trace
        if "--traceback" in argv:
            raise
        _log(f"{where}: internal error: {type(exc).__name__}: {_first_line(exc)} "
             f"(rerun with --traceback to see where, and please report it)")
        code = EXIT_FAILED
    sys.stdout.flush()  # a closed pipe shows here, not in Python's flush at exit
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
