"""Exact reference derivatives: sympy differentiation evaluated with mpmath at high precision.

Accuracy claims in diffkit are measured against these, never against another approximate
method. The point's floats are converted exactly (``sympy.Rational(float)``), so the reference
is the derivative at exactly the point the methods saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedPrimitiveError
from ..spec import Function

__all__ = ["exact_gradient", "exact_jacobian", "sympy_form"]


def sympy_form(spec: Function) -> tuple[Any, tuple[Any, ...]]:
    """``(expr, symbols)`` for ``spec``: from its formula, or by symbolic interpretation."""
    program = spec.cache.get("program")
    if program is not None:
        return program.sympy()
    try:
        from ..methods import symbolic
    except ImportError:  # pragma: no cover - the symbolic family is always shipped
        symbolic = None
    if symbolic is not None and hasattr(symbolic, "sympy_form"):
        return symbolic.sympy_form(spec)
    raise UnsupportedPrimitiveError(
        f"no exact reference for {spec.name!r}: it was not built from a formula and has no "
        f"symbolic form; use Function.from_expr, or compare against method='richardson'"
    )


def exact_jacobian(spec: Function, x: Any, dps: int = 50) -> list[list[Any]]:
    """The Jacobian of ``spec`` at ``x`` as nested lists of mpmath numbers (m rows, n columns).

    For scalar-valued specs ``m = 1``.
    """
    import mpmath
    import sympy

    expr, symbols = sympy_form(spec)
    x = np.asarray(x, dtype=float).ravel()
    outputs = list(np.ravel(np.asarray(expr, dtype=object))) if isinstance(expr, np.ndarray) \
        else [expr]
    subs = {s: sympy.Rational(float(v)) for s, v in zip(symbols, x, strict=True)}
    rows = []
    with mpmath.workdps(dps):
        for out in outputs:
            row = []
            for s in symbols:
                d = sympy.diff(out, s)
                val = d.evalf(n=dps, subs=subs)
                if not val.is_real:
                    raise UnsupportedPrimitiveError(
                        f"the exact derivative of {spec.name!r} at {x.tolist()} is {val}, not "
                        f"a real number; the point is outside the domain or at a kink"
                    )
                row.append(mpmath.mpf(val))
            rows.append(row)
    return rows


def exact_gradient(spec: Function, x: Any, dps: int = 50) -> np.ndarray:
    """The exact gradient of scalar ``spec`` at ``x``, rounded to float64 at the end."""
    rows = exact_jacobian(spec, x, dps)
    return np.array([float(v) for v in rows[0]]).reshape(np.shape(x))
