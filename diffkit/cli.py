"""The ``diffkit`` command (first version: ``compare``; the analysis issue adds the rest)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

__all__ = ["main"]


def _compare(args: argparse.Namespace) -> int:
    from . import catalog, methods
    from .errors import DiffkitError
    from .spec import Function

    if args.expr:
        try:
            spec = Function.from_expr(args.expr)
            point = np.array([float(v) for v in args.at.split(",")]) if args.at else None
        except (DiffkitError, ValueError) as exc:
            print(f"diffkit compare: {exc}", file=sys.stderr)
            return 2
        if point is None:
            print("diffkit compare: --at is required with a formula, e.g. --at 2,5",
                  file=sys.stderr)
            return 2
        if spec.nparams == 1 and point.size == 1:
            point = point.reshape(())
        items = [("formula", spec, point)]
    else:
        items = [(e.name, e.function, e.point) for e in catalog.entries()
                 if "vector" not in e.tags]
    from .analysis.reference import exact_gradient

    print(f"{'function':<18} {'method':<20} {'max rel error':>14}")
    for name, spec, point in items:
        try:
            exact = exact_gradient(spec, point)
        except DiffkitError as exc:
            print(f"diffkit compare: {exc}", file=sys.stderr)
            return 2
        for m in methods.available():
            try:
                g = methods.get(m).gradient(spec, point).value
                err = np.max(np.abs(np.asarray(g) - exact) / np.maximum(np.abs(exact), 1e-300))
                text = f"{err:14.2e}"
            except DiffkitError as exc:
                text = f"  ({type(exc).__name__})"
            print(f"{name:<18} {m:<20} {text}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``diffkit`` command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="diffkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compare", help="every method side by side against exact references")
    p.add_argument("expr", nargs="?", help="formula, e.g. 'log(x1) + x1*x2 - sin(x2)'")
    p.add_argument("--at", help="the point, comma-separated, e.g. 2,5")
    p.set_defaults(run=_compare)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
