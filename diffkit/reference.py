"""Exact reference derivatives: sympy differentiation evaluated with mpmath at high precision.

Accuracy claims in diffkit are measured against these, never against another approximate
method. The point's floats are converted exactly (``sympy.Rational(float)``), so the reference
is the derivative at exactly the point the methods saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .budget import BudgetError, limited
from .errors import DiffkitError, OrderError, UnsupportedPrimitiveError
from .spec import Function
from .validation import as_function, as_point

__all__ = [
    "Reference",
    "exact_derivatives",
    "exact_gradient",
    "exact_jacobian",
    "reference_jacobian",
    "richardson_jacobian",
    "sympy_form",
]

EPS = float(np.finfo(np.float64).eps)


def sympy_form(spec: Function, shape: tuple[int, ...] | None = None
               ) -> tuple[Any, tuple[Any, ...]]:
    """``(expr, symbols)`` for ``spec``: from its formula, or by symbolic interpretation.

    ``shape`` is the point's shape, needed for a spec with one array parameter (its symbols
    are then the flattened entries).
    """
    program = spec.program
    if program is not None:
        return program.sympy()
    try:
        from .methods import symbolic
    except ImportError:  # pragma: no cover - the symbolic family is always shipped
        symbolic = None
    if symbolic is not None and hasattr(symbolic, "sympy_form"):
        return symbolic.sympy_form(spec, shape)
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

    spec = as_function(spec)  # a plain callable too, as every public entry point takes
    x = as_point(spec, x, "jacobian", call="exact_jacobian(spec, x)").astype(float)
    expr, symbols = sympy_form(spec, x.shape if spec.nparams == 1 and x.ndim else None)
    x = x.ravel()
    outputs = list(np.ravel(np.asarray(expr, dtype=object))) if isinstance(expr, np.ndarray) \
        else [expr]
    subs = {s: sympy.Rational(float(v)) for s, v in zip(symbols, x, strict=True)}
    rows = []
    with mpmath.workdps(dps):
        for out in outputs:
            row = []
            for s in symbols:
                row.append(mpmath.mpf(_real(sympy.diff(out, s), subs, dps, f"the exact "
                                            f"derivative of {spec.name!r} at {x.tolist()}")))
            rows.append(row)
    return rows


def _real(expr: Any, subs: dict[Any, Any], dps: int, what: str) -> Any:
    """``expr`` evaluated at ``subs`` to ``dps`` digits; UnsupportedPrimitiveError unless real."""
    val = expr.evalf(n=dps, subs=subs)
    if not val.is_real:
        raise UnsupportedPrimitiveError(
            f"{what} is {_plain(val)}, not a real number; the point is outside the domain or at "
            f"a kink"
        )
    return val


def _plain(val: Any) -> str:
    """A non-real sympy number in plain words (never sympy's ``zoo``, ``oo`` or ``nan``)."""
    import sympy

    if val in (sympy.zoo, sympy.oo, -sympy.oo):
        return "infinite"
    if val is sympy.nan:
        return "undefined (0/0 or inf - inf)"
    try:
        return f"the complex number {complex(val):.6g}"
    except (TypeError, ValueError):
        return "not a number"


def exact_gradient(spec: Function, x: Any, dps: int = 50) -> np.ndarray:
    """The exact gradient of scalar ``spec`` at ``x``, rounded to float64 at the end."""
    rows = exact_jacobian(spec, x, dps)
    return np.array([float(v) for v in rows[0]]).reshape(np.shape(x))


# ----------------------------------------------------------------------------- any callable


@dataclass(frozen=True)
class Reference:
    """A reference Jacobian and how far it can be trusted.

    Attributes
    ----------
    value : ndarray
        ``(m, n)`` float64 Jacobian (``m = 1`` for scalar functions).
    error : ndarray
        Absolute error bound per entry: half an ulp of the float64 rounding for exact
        references, Richardson's own estimate otherwise.
    exact : bool
        True when the value comes from sympy/mpmath (or a catalogue routine) at ``dps`` digits.
    source : str
        ``"sympy"``, ``"catalog"`` or ``"richardson"``.
    note : str
        Why an approximate reference was used, when it was.
    """

    value: np.ndarray
    error: np.ndarray
    exact: bool
    source: str
    note: str = ""

    def gradient(self, shape: tuple[int, ...]) -> np.ndarray:
        """The first row reshaped to the point's ``shape`` (for scalar functions)."""
        return self.value[0].reshape(shape)


#: The exact reference's default budget: sympy's differentiation of a long program (a 100-step
#: loop) can take minutes and gigabytes; past these the reference falls back, labelled
REFERENCE_SECONDS = 10.0
REFERENCE_MEGABYTES = 2000.0


def reference_jacobian(spec: Function, x: Any, dps: int = 50, *,
                       seconds: float | None = REFERENCE_SECONDS,
                       megabytes: float | None = REFERENCE_MEGABYTES) -> Reference:
    """The most trustworthy Jacobian diffkit can get for ``spec`` at ``x``.

    Exact (sympy evaluated with mpmath at ``dps`` digits) when ``spec`` has a symbolic form
    and the symbolic work fits its budget (``seconds``, ``megabytes``:
    :func:`diffkit.budget.limited`); otherwise Richardson extrapolation of central
    differences with its error estimate, marked ``exact=False``, its ``note`` saying why.

    Parameters
    ----------
    spec : Function
    x : array_like
        The point (validated by :func:`~diffkit.validation.as_point`).
    dps : int
        Decimal digits of the exact evaluation.
    seconds, megabytes : float or None
        Budget of the exact (symbolic) reference: wall time, and growth of resident memory
        (None: no limit).

    Returns
    -------
    Reference

    Examples
    --------
    >>> import math, diffkit as dk
    >>> r = reference_jacobian(dk.Function(lambda x: math.exp(x)), 1.0)  # no symbolic form
    >>> r.exact, r.source, bool(abs(r.value[0, 0] - math.e) < 1e-11)
    (False, 'richardson', True)
    """
    x = as_point(spec, x, "jacobian", call="reference_jacobian(spec, x)")
    try:
        with limited(seconds, megabytes, f"the exact reference of {spec.name!r}"):
            rows = exact_jacobian(spec, x, dps)
    except BudgetError as exc:
        note = f"{exc}; a high-precision numerical reference (Richardson) is used instead"
    except UnsupportedPrimitiveError as exc:
        if "not a real number" in str(exc):
            raise
        note = str(exc)
    except (DiffkitError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        note = f"no symbolic form ({type(exc).__name__}: {exc})"
    else:
        value = np.array([[float(v) for v in row] for row in rows])
        return Reference(value, np.abs(value) * EPS / 2, True, "sympy")
    value, error = richardson_jacobian(spec, x)
    return Reference(value, error, False, "richardson", note)


def exact_derivatives(spec: Function, x: float, orders: Sequence[int], dps: int = 50
                      ) -> list[float]:
    """Exact higher derivatives ``d^k f / dx^k`` of a scalar function of one scalar at ``x``.

    Raises
    ------
    UnsupportedPrimitiveError
        ``spec`` has no symbolic form, or a derivative is not real at ``x``.
    """
    import sympy

    expr, symbols = sympy_form(spec)
    if len(symbols) != 1 or isinstance(expr, np.ndarray):
        raise UnsupportedPrimitiveError(
            f"exact_derivatives: {spec.name!r} must be a scalar function of one scalar"
        )
    (s,) = symbols
    x = as_point(spec, x, "derivative", call="exact_derivatives(spec, x, orders)")
    at = {s: sympy.Rational(float(x.reshape(())))}
    out = []
    d, have = expr, 0
    for k in sorted(orders):
        d = sympy.diff(d, s, k - have)
        have = k
        out.append(float(_real(d, at, dps, f"the exact derivative of order {k} of "
                                           f"{spec.name!r} at {float(at[s])}")))
    return [out[sorted(orders).index(k)] for k in orders]


def richardson_jacobian(spec: Function, x: Any, *, levels: int = 8, ratio: float = 2.0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Richardson extrapolation of central differences, with an error estimate.

    The :class:`~diffkit.methods.Richardson` method (the engine of
    :mod:`diffkit.stencils`): a pilot stencil picks the first step, central differences at
    halving steps fill Neville's tableau, and the entry with the smallest error estimate
    (truncation plus rounding) is kept; near a domain edge the sequence goes one-sided. The
    estimate is never below 32 ulp of the value (a lucky tableau can claim less).

    Parameters
    ----------
    spec : Function
    x : array_like
        The point.
    levels : int
        Most steps in the sequence (``Richardson(max_levels=levels)``).
    ratio : float
        The ratio of successive steps: 2 (the sequence halves its step, so that it passes
        through the pilot's samples); any other value is refused.

    Returns
    -------
    value, error : ndarray
        ``(m, n)`` Jacobian and its estimated absolute error.

    Raises
    ------
    StencilError
        No stencil around ``x`` stays where ``f`` is finite (one-sided ones included).
    """
    from .methods.numerical import Richardson

    if ratio != 2.0:
        raise OrderError(
            f"richardson_jacobian(ratio={ratio!r}): the step sequence halves (ratio 2.0), so "
            f"that it reuses the pilot's samples; omit ratio"
        )
    r = Richardson(max_levels=levels).jacobian(spec, x)
    value, error = np.asarray(r.value), np.asarray(r.error)
    # the tableau's own estimate can be lucky; never claim better than 32 ulp
    return value, np.maximum(error, 32 * EPS * np.abs(value))
