"""Gradient checks for your own test suite: which entry is wrong, by how much, and why.

:func:`assert_grad_close` compares a hand-written gradient with a trustworthy reference (any
diffkit method, or a callable) entry by entry, under the rule users expect from
``numpy.testing.assert_allclose``::

    |actual - desired| <= atol + rtol * |desired|      (per entry, never scaled by size)

A failure names the worst entry (its index or name, both values, both errors and what was
allowed), lists only the failing entries when there are many, and adds a hint: is the mismatch
far above the reference's own error estimate (a bug) or within it (step-size noise), and does
it look like a sign flip, a factor of two or a transposition?

``directions=k`` checks ``k`` seeded random directional derivatives instead of every entry, at
a cost independent of the dimension; ``reference="taylor"`` runs the Taylor-remainder test,
which has no step to choose.

This module imports no pytest; :mod:`diffkit.pytest_plugin` adds a ``gradcheck`` fixture.

Examples
--------
>>> import numpy as np
>>> from diffkit.testing import check_grad
>>> f = lambda x: np.sum(x**3)
>>> report = check_grad(f, lambda x: 3 * x**2, np.array([1.0, 2.0]))
>>> report.ok
True
>>> check_grad(f, lambda x: 3 * x, np.array([1.0, 2.0])).worst_label
'x[1]'
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DiffkitError, NonFiniteError, OutputShapeError, UnsupportedPrimitiveError
from .spec import Function, SpecError
from .stencils import along_axes, axis_points, stencil
from .validation import as_function, as_point, short_repr

__all__ = [
    "DEFAULT_RTOL",
    "GradCheckReport",
    "GradCheckWarning",
    "TaylorReport",
    "assert_grad_close",
    "assert_hessian_close",
    "assert_jacobian_close",
    "check_grad",
    "check_hessian",
    "check_jacobian",
    "check_taylor",
    "default_tolerances",
]

EPS = float(np.finfo(np.float64).eps)

DEFAULT_RTOL: dict[str, float] = {
    "forward-difference": 1e-4,
    "backward-difference": 1e-4,
    "central-difference": 1e-5,
    "richardson": 1e-8,
    "complex-step": 1e-10,
    "symbolic": 1e-10,
    "reverse-mode": 1e-10,
    "forward-mode": 1e-10,
    "reverse-compiled": 1e-10,
    "manual": 1e-10,
    "auto": 1e-8,  # AD, or Richardson where AD cannot follow the code
    "callable": 1e-7,
}
"""Default ``rtol`` by reference: loose enough for the reference's own error on well-scaled
functions (central differences: about ``eps**(2/3)``, i.e. 1e-11..1e-7), tight enough to catch
a 0.1 % slip. The Hessian defaults are 100x looser (second differences)."""

FLOAT32_RTOL = 1e-3
"""``rtol`` floor when ``x`` or the checked derivative is float32 (single precision)."""

MAX_ROWS = 10
"""Failing entries listed in a message (the worst first)."""

SMALL = 20
NOISE_FACTOR = 10.0
"""A defaulted ``atol`` is raised to this multiple of the reference's largest error estimate
when a check would otherwise fail within the reference's own noise."""
"""Up to this many entries a message shows every entry, failing or not."""


class GradCheckWarning(UserWarning):
    """A check ran, but under conditions worth knowing (float32 input, ...)."""


def default_tolerances(reference: Any = "central-difference", dtype: Any = np.float64,
                       kind: str = "gradient") -> tuple[float, str]:
    """The default ``rtol`` for a reference and dtype, and the rule for the default ``atol``.

    Parameters
    ----------
    reference : str, Method or callable
        The reference (see :func:`check_grad`).
    dtype : numpy dtype
        The dtype of ``x`` or of the derivative being checked.
    kind : {"gradient", "jacobian", "hessian", "directional"}

    Returns
    -------
    rtol : float
    atol_rule : str
        ``atol`` defaults to ``rtol`` times the scale of the check: the largest ``|desired|``
        entry (or, when every entry is zero, ``sqrt(eps) * max(1, |f(x)|)``), raised to
        :data:`NOISE_FACTOR` times the reference's largest error estimate when that is larger
        and the check would fail.

    Examples
    --------
    >>> default_tolerances("complex-step")[0]
    1e-10
    >>> default_tolerances("central-difference", np.float32)[0]
    0.001
    """
    name = _reference_name(reference)
    rtol = DEFAULT_RTOL.get(name, DEFAULT_RTOL["callable"])
    if kind == "hessian":
        rtol *= 100.0
    if np.dtype(dtype) == np.float32 or np.dtype(dtype) == np.float16:
        rtol = max(rtol, FLOAT32_RTOL)
    return rtol, "rtol * max|desired|"


def _reference_name(reference: Any) -> str:
    if isinstance(reference, str):
        return reference
    name = getattr(reference, "name", None)
    if isinstance(name, str) and not callable(name) and hasattr(reference, "gradient"):
        return name
    return "callable"


# ============================================================================ the report


@dataclass(eq=False)
class GradCheckReport:
    """The outcome of a derivative check, entry by entry.

    Attributes
    ----------
    ok : bool
        Every entry satisfies ``|actual - desired| <= atol + rtol * |desired|``.
    kind : str
        ``"gradient"``, ``"jacobian"``, ``"hessian"`` or ``"directional"``.
    actual, desired : ndarray
        The checked derivative and the reference, same shape. For ``directional`` checks,
        ``actual[j] = grad(x) . v_j`` and ``desired[j]`` the reference's derivative along
        ``v_j``.
    abs_err, rel_err, allowed : ndarray
        ``|actual - desired|``, ``abs_err / |desired|`` and ``atol + rtol * |desired|``.
    failed : ndarray of bool
        The entries outside the rule (NaN counts as failing).
    worst : tuple
        Index of the entry with the largest ``abs_err / allowed``.
    rtol, atol : float
        The tolerances used (after defaults were filled in).
    reference : str
        What produced ``desired``.
    function : str
        The checked function's name.
    directions : ndarray or None
        The directions ``v_j`` (rows) of a directional check.
    """

    ok: bool
    kind: str
    actual: np.ndarray
    desired: np.ndarray
    abs_err: np.ndarray
    rel_err: np.ndarray
    allowed: np.ndarray
    failed: np.ndarray
    worst: tuple[int, ...]
    rtol: float
    atol: float
    reference: str
    function: str = "f"
    directions: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    _labels: Callable[[tuple[int, ...]], str] | None = None
    _estimate: Callable[[], Any] | None = None
    _ref_error: Any = None
    _estimated: bool = False

    # ------------------------------------------------------------------ derived
    @property
    def nfailed(self) -> int:
        """Number of failing entries."""
        return int(np.count_nonzero(self.failed))

    @property
    def ref_error(self) -> np.ndarray | None:
        """The reference's own error estimate per entry (``None`` when it has none).

        From the method's result where it reports one (Richardson), otherwise estimated by
        comparing with a fourth-order central difference; computed on first access.
        """
        if not self._estimated:
            self._estimated = True
            if self._estimate is not None:
                try:
                    est = self._estimate()
                except (DiffkitError, FloatingPointError, ValueError, ArithmeticError):
                    est = None
                if est is not None:
                    est = np.broadcast_to(np.abs(np.asarray(est, dtype=float)),
                                          self.desired.shape)
                self._ref_error = est
        return self._ref_error

    def label(self, index: tuple[int, ...]) -> str:
        """The display name of entry ``index`` (``x[3]``, ``x2``, ``d y[0]/d x[1]``...)."""
        if self._labels is not None:
            return self._labels(tuple(int(i) for i in index))
        return f"[{', '.join(str(int(i)) for i in index)}]"

    @property
    def worst_label(self) -> str:
        """The display name of the worst entry."""
        return self.label(self.worst)

    # ------------------------------------------------------------------ text
    def rule(self) -> str:
        """The rule as text, with the numbers used."""
        return (f"|actual - desired| <= atol + rtol*|desired| "
                f"(rtol={self.rtol:.3g}, atol={self.atol:.3g}; reference: {self.reference})")

    def _rows(self, indices: Sequence[tuple[int, ...]]) -> list[list[str]]:
        est = self.ref_error if self.nfailed else None
        rows = []
        for idx in indices:
            row = [self.label(idx), f"{self.actual[idx]:.10g}", f"{self.desired[idx]:.10g}",
                   f"{self.abs_err[idx]:.3g}", f"{self.rel_err[idx]:.3g}",
                   f"{self.allowed[idx]:.3g}"]
            if est is not None:
                row.append(f"{est[idx]:.2g}")
            row.append("FAIL" if self.failed[idx] else "ok")
            rows.append(row)
        return rows

    def _header(self) -> list[str]:
        head = ["entry", "actual", "desired", "abs err", "rel err", "allowed"]
        if self.nfailed and self.ref_error is not None:
            head.append("ref err est")
        return [*head, ""]

    def _shown(self, max_rows: int | None) -> tuple[list[tuple[int, ...]], int]:
        """Entries to show: all of a small check, else the failing ones, worst first."""
        max_rows = MAX_ROWS if max_rows is None else max_rows
        if self.actual.size <= SMALL:
            return [tuple(i) for i in np.ndindex(self.actual.shape)], 0
        ratio = self._ratio()
        order = [tuple(int(v) for v in np.unravel_index(i, self.actual.shape))
                 for i in np.argsort(-ratio.ravel(), kind="stable")]
        failing = [i for i in order if self.failed[i]]
        return failing[:max_rows], max(0, len(failing) - max_rows)

    def _ratio(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.abs_err / self.allowed
        ratio = np.where(self.abs_err == 0, 0.0, ratio)
        return np.where(np.isnan(ratio), np.inf, ratio)

    def table(self, max_rows: int | None = None) -> str:
        """A text table of the entries: every entry of a small check, else the failing ones."""
        shown, more = self._shown(max_rows)
        rows = [self._header(), *self._rows(shown)]
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.rjust(w) if c else cell.ljust(w)
                           for c, (cell, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in rows]
        if more:
            lines.append(f"... and {more} more failing entries")
        if not shown:
            lines.append(f"(all {self.actual.size} entries pass)")
        return "\n".join(lines)

    def message(self) -> str:
        """The failure message (or a one-line summary when the check passed)."""
        what = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian",
                "directional": "directional derivative"}[self.kind]
        n = self.actual.size
        unit = "directions" if self.kind == "directional" else "entries"
        if self.ok:
            return (f"{what} check of {self.function} passed: {n} {unit} within "
                    f"{self.rule()}")
        w = self.worst
        lines = [
            f"{what} check of {self.function} failed: {self.nfailed} of {n} {unit} outside "
            f"{self.rule()}",
            f"worst {self.worst_label}: actual {self.actual[w]:.10g}, desired "
            f"{self.desired[w]:.10g}, abs err {self.abs_err[w]:.3g}, rel err "
            f"{self.rel_err[w]:.3g}, allowed {self.allowed[w]:.3g}",
            self.table(),
        ]
        hint = self.hint()
        if hint:
            lines.append("hint: " + hint)
        lines.extend(self.notes)
        return "\n".join(lines)

    def hint(self) -> str:
        """What the mismatch looks like: bug or step noise, sign flip, factor two, transpose."""
        if self.ok:
            return ""
        a, d, f = self.actual, self.desired, self.failed
        hints = []
        bad = ~np.isfinite(a)
        if bad.any():
            where = ", ".join(self.label(tuple(int(v) for v in i)) for i in np.argwhere(bad)[:5])
            hints.append(f"the checked derivative is not finite at {where}")
            return "; ".join(hints)
        tol = self.allowed[f]
        if np.all(np.abs(a[f] + d[f]) <= tol) and np.any(d[f] != 0):
            hints.append("every failing entry has the right size and the wrong sign "
                         "(a sign flip)")
        else:
            for factor, text in ((2.0, "twice"), (0.5, "half")):
                if np.all(np.abs(a[f] - factor * d[f]) <= tol + 1e-9 * np.abs(d[f])) \
                        and np.any(d[f] != 0):
                    hints.append(f"every failing entry is {text} the reference (a factor of "
                                 f"two: a missing or extra 1/2 or 2)")
                    break
            else:
                nz = f & (d != 0)
                if nz.sum() >= 2:
                    ratios = a[nz] / d[nz]
                    r0 = float(np.median(ratios))
                    if np.allclose(ratios, r0, rtol=1e-3, atol=0) and abs(r0 - 1) > 1e-6:
                        hints.append(f"every failing entry is {r0:.6g} times the reference "
                                     f"(a constant factor)")
        if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1:
            at = a.T
            if np.all(np.abs(at - d) <= self.allowed) and not np.allclose(a, at):
                hints.append("the checked matrix matches the reference transposed "
                             "(rows and columns swapped)")
        est = self.ref_error
        if est is not None:
            w = self.worst
            mismatch, e = float(self.abs_err[w]), float(est[w])
            if e > 0 and mismatch <= 3 * e:
                hints.append(
                    f"the mismatch at {self.worst_label} ({mismatch:.2g}) is within the "
                    f"reference's own error estimate ({e:.2g}): likely step-size noise, not a "
                    f"bug; use reference='richardson' or 'complex-step', or loosen rtol")
            else:
                times = "" if e == 0 else f"{mismatch / e:.2g} times "
                hints.append(
                    f"the mismatch at {self.worst_label} ({mismatch:.2g}) is {times}the "
                    f"reference's own error estimate ({e:.2g}): a bug in the checked "
                    f"derivative, not step noise")
        return "; ".join(hints)

    def __repr__(self) -> str:
        status = "ok" if self.ok else f"{self.nfailed} failing, worst {self.worst_label}"
        return (f"<GradCheckReport {self.kind} of {self.function}: {status}; "
                f"rtol={self.rtol:.3g}, atol={self.atol:.3g}, reference={self.reference!r}>")

    def __str__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        shown, more = self._shown(None)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._header())
        body = []
        for row in self._rows(shown):
            style = ' style="color:#b00"' if row[-1] == "FAIL" else ""
            body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                        + "</tr>")
        status = "passed" if self.ok else f"failed ({self.nfailed} of {self.actual.size})"
        extra = f"<p>... and {more} more failing entries</p>" if more else ""
        hint = f"<p>hint: {html.escape(self.hint())}</p>" if not self.ok else ""
        return (f"<div><b>{html.escape(self.kind)} check of {html.escape(self.function)} "
                f"{status}</b><br><code>{html.escape(self.rule())}</code>"
                f"<table><tr>{head}</tr>{''.join(body)}</table>{extra}{hint}</div>")


@dataclass(eq=False)
class TaylorReport:
    """The Taylor-remainder test: ``|f(x + e v) - f(x) - e grad.v|`` should shrink like e**2.

    Attributes
    ----------
    ok : bool
        Every direction shows second-order decay (observed order >= ``min_order``), or its
        remainder stays at rounding level (an exactly linear direction).
    orders : ndarray
        Observed order of the remainder per direction (NaN: at rounding level throughout).
    steps : ndarray
        The step sequence ``e_k``.
    remainders : ndarray
        ``(k, len(steps))`` remainders per direction and step.
    directions : ndarray
        The directions ``v_j`` (rows).
    """

    ok: bool
    orders: np.ndarray
    steps: np.ndarray
    remainders: np.ndarray
    directions: np.ndarray
    min_order: float
    function: str = "f"

    def table(self) -> str:
        """Observed order per direction, with the remainders at the first and last steps."""
        lines = ["direction  order  remainder(e0)  remainder(e_last)"]
        for j, order in enumerate(self.orders):
            text = "noise" if np.isnan(order) else f"{order:.2f}"
            lines.append(f"v{j:<8d}  {text:>5}  {self.remainders[j, 0]:13.3g}  "
                         f"{self.remainders[j, -1]:17.3g}")
        return "\n".join(lines)

    def message(self) -> str:
        """The failure message (or a one-line summary when the test passed)."""
        if self.ok:
            return (f"Taylor test of {self.function} passed: the remainder decays with order "
                    f">= {self.min_order} in {len(self.orders)} directions")
        bad = [j for j, o in enumerate(self.orders) if not np.isnan(o) and o < self.min_order]
        return (f"Taylor test of {self.function} failed: |f(x+e v) - f(x) - e grad.v| decays "
                f"with order {', '.join(f'{self.orders[j]:.2f}' for j in bad)} in direction(s) "
                f"{', '.join(f'v{j}' for j in bad)} (a correct gradient gives 2, a wrong one "
                f"1)\n{self.table()}\nhint: order 1 means grad.v differs from the true "
                f"directional derivative: grad is wrong somewhere along these directions")

    def __str__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.message())}</pre>"


# ============================================================================ validation


_SECOND = {"check_jacobian": "jac", "check_hessian": "hess"}


def _call_text(op: str) -> str:
    return f"{op}(f, {_SECOND.get(op, 'grad')}, x)"


def _check_callable(obj: Any, name: str, op: str) -> None:
    if not callable(obj):
        raise SpecError(
            f"{_call_text(op)}: {name} must be callable, got {type(obj).__name__} "
            f"{short_repr(obj)}; pass a function of x, e.g. lambda x: 2 * x"
        )


def _as_spec(f: Any, op: str) -> Function:
    return as_function(f, op, call=_call_text(op))


def _as_x(spec: Function, x: Any, op: str) -> tuple[np.ndarray, Any]:
    """The point as float64 (validated by :func:`diffkit.validation.as_point`) and the dtype
    it came in, so float32 input can be noted."""
    arr = as_point(spec, x, op, call=_call_text(op))
    return arr.astype(np.float64), arr.dtype


def _call(spec: Function, fn: Callable[..., Any], x: np.ndarray) -> Any:
    """Call ``fn`` the way ``spec`` is called: unpacked for several parameters."""
    return fn(*spec.unpack(x))


def _as_derivative(value: Any, expected: tuple[int, ...], name: str, what: str,
                   op: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise TypeError(arr.dtype)
    except (TypeError, ValueError):
        raise OutputShapeError(
            f"{op}: {name}(x) returned {type(value).__name__} {short_repr(value)}, not an array of "
            f"numbers; return the {what} as a numpy array"
        ) from None
    if arr.dtype.kind == "c":
        if np.any(arr.imag != 0):
            raise OutputShapeError(
                f"{op}: {name}(x) returned complex values; a derivative of a real function "
                f"is real (after a complex step, take .imag / h)")
        arr = arr.real
    if arr.shape != expected:
        if arr.size == int(np.prod(expected)) and (arr.ndim == 0 or len(expected) == 0):
            return arr.reshape(expected)
        hint = ""
        if len(expected) == 2 and arr.shape == expected[::-1]:
            hint = " (its transpose: return rows = outputs, columns = coordinates)"
        per = "coordinate of x" if what == "gradient" else "entry"
        raise OutputShapeError(
            f"{op}: {name}(x) returned shape {arr.shape}, but the {what} at x must have shape "
            f"{expected}{hint}; return one entry per {per}"
        )
    return arr


def _labels_for(spec: Function, x_shape: tuple[int, ...], names: Sequence[str] | None,
                kind: str, op: str) -> Callable[[tuple[int, ...]], str]:
    n = int(np.prod(x_shape))
    if names is not None:
        names = [str(s) for s in names]
        if len(names) != n:
            raise OutputShapeError(f"{op}: names has {len(names)} entries but x has {n} "
                                   f"coordinates; pass one name per coordinate")
    elif spec.nparams >= 2:
        names = list(spec.parameters)

    def coord(flat: int) -> str:
        if names is not None:
            return names[flat]
        if not x_shape:
            return "x"
        idx = np.unravel_index(flat, x_shape)
        return f"x[{', '.join(str(int(i)) for i in idx)}]"

    def flat_of(idx: tuple[int, ...]) -> int:
        return int(np.ravel_multi_index(idx, x_shape)) if x_shape else 0

    if kind == "gradient":
        return lambda idx: coord(flat_of(idx))
    if kind == "jacobian":
        return lambda idx: f"d f[{idx[0]}]/d {coord(idx[1])}"
    if kind == "hessian":
        return lambda idx: f"({coord(idx[0])}, {coord(idx[1])})"
    return lambda idx: f"direction v{idx[0]}" if len(idx) == 1 else \
        f"direction v{idx[0]}, f[{idx[1]}]"


# ============================================================================ references


def _reference_method(reference: Any, h: Any) -> Any:
    from . import methods

    settings = {} if h is None else {"h": h}
    return methods.get(reference, **settings)


def _is_method(reference: Any) -> bool:
    from .methods import Method

    return isinstance(reference, (str, Method)) or (
        isinstance(reference, type) and issubclass(reference, Method))


def _fd_error(spec: Function, x: np.ndarray, steps: np.ndarray, desired_mn: np.ndarray,
              f0: np.ndarray) -> np.ndarray:
    """The error of a finite-difference reference taken at ``steps``, per entry ``(m, n)``:
    its distance to the fourth-order central difference at the same steps (the engine's
    stencil, :func:`diffkit.stencils.along_axes`), plus the rounding ``1/h`` amplifies."""
    flat = x.ravel()

    def sample(idx: np.ndarray, val: np.ndarray) -> np.ndarray:
        return np.array([np.ravel(np.asarray(spec.call(p.reshape(x.shape)), dtype=float))
                         for p in axis_points(flat, idx, val)])

    d4 = along_axes(stencil("central", 1, 4), flat, steps, sample, np.ravel(f0))
    rounding = 4 * EPS * np.max(np.abs(f0), initial=1.0) / steps
    return np.abs(desired_mn - d4) + rounding[None, :]


def _estimate_fd(spec: Function, x: np.ndarray, result: Any, desired_mn: np.ndarray,
                 f0: np.ndarray) -> np.ndarray:
    """:func:`_fd_error` at the reference's own steps (``eps^(1/3) max(1, |x|)`` if it has
    none)."""
    steps = getattr(result, "step", None)
    if steps is None or np.size(steps) != x.size:
        steps = EPS ** (1 / 3) * np.maximum(1.0, np.abs(x.ravel()))
    return _fd_error(spec, x, np.ravel(np.asarray(steps, dtype=float)), desired_mn, f0)


def _method_error(result: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    err = getattr(result, "error", None)
    if err is None:
        return None
    arr = np.abs(np.asarray(err, dtype=float))
    return arr.reshape(shape) if arr.size == int(np.prod(shape)) else \
        np.broadcast_to(arr.max(initial=0.0), shape)


def _exact_family(method: Any) -> bool:
    return getattr(method, "family", "") in ("symbolic", "reverse", "forward", "manual") or \
        getattr(method, "name", "") in ("complex-step", "reverse-mode", "forward-mode",
                                        "symbolic", "manual")


# ============================================================================ checks


def _finish(kind: str, actual: np.ndarray, desired: np.ndarray, rtol: float | None,
            atol: float | None, reference: str, function: str, labels: Any, estimate: Any,
            dtype: Any, ref_for_defaults: Any, f0: Any, directions: Any = None,
            notes: list[str] | None = None) -> GradCheckReport:
    default_rtol, _ = default_tolerances(ref_for_defaults, dtype,
                                         "hessian" if kind == "hessian" else kind)
    rtol = default_rtol if rtol is None else float(rtol)
    atol_defaulted = atol is None
    if atol is None:
        scale = float(np.max(np.abs(desired), initial=0.0)) if np.all(np.isfinite(desired)) \
            else 0.0
        if scale == 0.0:
            fscale = float(np.max(np.abs(np.asarray(f0, dtype=float)), initial=0.0)) \
                if f0 is not None else 0.0
            scale = np.sqrt(EPS) * max(1.0, fscale)
        atol = rtol * scale
    atol = float(atol)
    if not (np.isfinite(rtol) and rtol >= 0 and np.isfinite(atol) and atol >= 0):
        raise NonFiniteError(f"rtol={rtol!r}, atol={atol!r}: tolerances must be finite and >= 0")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_err = np.abs(actual - desired)
        rel_err = np.where(abs_err == 0, 0.0, abs_err / np.abs(desired))
        allowed = atol + rtol * np.abs(desired)
        failed = ~(abs_err <= allowed)  # NaN fails
    report = GradCheckReport(
        ok=not bool(failed.any()), kind=kind, actual=actual, desired=desired, abs_err=abs_err,
        rel_err=rel_err, allowed=allowed, failed=failed, worst=(), rtol=rtol, atol=atol,
        reference=reference, function=function, directions=directions,
        notes=list(notes or []), _labels=labels, _estimate=estimate)
    ratio = report._ratio()
    report.worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape)) \
        if ratio.size else ()
    if not report.ok and atol_defaulted and report.ref_error is not None:
        # never report step noise as a bug: the default atol covers the reference's own error
        est = report.ref_error
        floor = NOISE_FACTOR * float(np.max(est[np.isfinite(est)], initial=0.0))
        if floor > atol:
            note = (f"note: atol raised from rtol*max|desired| = {atol:.3g} to {floor:.3g}, "
                    f"{NOISE_FACTOR:g}x the reference's largest error estimate")
            return _finish(kind, actual, desired, rtol, floor, reference, function, labels,
                           lambda: est, dtype, ref_for_defaults, f0, directions,
                           [*(notes or []), note])
    return report


def check_grad(f: Any, grad: Any, x: Any, *, reference: Any = "central-difference",
               h: Any = None, rtol: float | None = None, atol: float | None = None,
               directions: int | None = None, seed: int = 0,
               names: Sequence[str] | None = None) -> GradCheckReport | TaylorReport:
    """Check a gradient function against a reference, entry by entry.

    Parameters
    ----------
    f : callable or Function
        The scalar function: plain numpy, ``diffkit.numpy`` or a :class:`diffkit.Function`.
        With ``k >= 2`` parameters it takes one scalar per parameter (``f(x1, x2)``).
    grad : callable
        The gradient to check, called like ``f`` (``grad(x)`` or ``grad(x1, x2)``); returns
        an array with the shape of ``x`` (a list of ``k`` values for ``k`` parameters).
    x : array_like
        The point. float32 points are checked against a float64 reference, with a warning.
    reference : str, Method or callable
        A diffkit method name (``"central-difference"``, ``"richardson"``,
        ``"complex-step"``, ``"reverse-mode"``, ...; see :func:`diffkit.methods.available`),
        a method object, a callable called like ``grad`` returning the trusted gradient
        (or a :class:`~diffkit.results.DerivativeResult`, whose ``error`` is used), or
        ``"taylor"`` for the Taylor-remainder test (returns a :class:`TaylorReport`).
    h : float, optional
        Step of a finite-difference reference (default: the method's own).
    rtol, atol : float, optional
        The per-entry rule ``|actual - desired| <= atol + rtol*|desired|``. ``rtol``
        defaults by reference (:data:`DEFAULT_RTOL`; at least 1e-3 for float32), ``atol`` to
        ``rtol * max|desired|``, raised to 10x the reference's largest error estimate when a
        check would otherwise fail inside the reference's own noise (a note says so).
    directions : int, optional
        Check ``k`` seeded random directional derivatives ``grad(x).v`` against the
        reference's derivative of ``t -> f(x + t v)`` (about ``2k`` evaluations of ``f``
        for central differences, whatever the dimension), instead of every entry.
    seed : int
        Seed of the random directions.
    names : sequence of str, optional
        A name per coordinate for messages (defaults to the parameter names of ``f``).

    Returns
    -------
    GradCheckReport
        ``ok``, the arrays, the worst entry, ``table()``, ``message()``, ``ref_error``.

    Raises
    ------
    SpecError
        ``f`` or ``grad`` is not callable.
    OutputShapeError
        ``grad(x)`` does not have the shape of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: np.sum(np.sin(x))
    >>> r = check_grad(f, lambda x: np.cos(x), np.linspace(0, 1, 5))
    >>> r.ok, r.reference
    (True, 'central-difference')
    >>> r = check_grad(f, lambda x: -np.cos(x), np.linspace(0, 1, 5))
    >>> r.ok, r.hint().startswith("every failing entry has the right size and the wrong sign")
    (False, True)
    """
    op = "check_grad"
    spec = _as_spec(f, op)
    _check_callable(grad, "grad", op)
    x64, dtype = _as_x(spec, x, op)
    if isinstance(reference, str) and reference == "taylor":
        return check_taylor(spec, grad, x64, directions=directions or 3, seed=seed)
    notes = _dtype_note(dtype, op)
    actual = _as_derivative(_call(spec, grad, x64), x64.shape, "grad", "gradient", op)
    if actual.dtype == np.float32 and dtype != np.float32:
        dtype = actual.dtype
        notes += _dtype_note(dtype, op)
    actual = actual.astype(np.float64)
    if directions is not None:
        return _check_directional(spec, actual, x64, reference, h, rtol, atol, directions, seed,
                                  dtype, notes, "gradient")
    f0 = _value(spec, x64)
    desired, estimate, ref_name = _reference_derivative(spec, grad, x64, reference, h,
                                                        "gradient", f0)
    labels = _labels_for(spec, x64.shape, names, "gradient", op)
    return _finish("gradient", actual, desired.reshape(x64.shape), rtol, atol, ref_name,
                   spec.name, labels, estimate, dtype, reference, f0, notes=notes)


def _dtype_note(dtype: Any, op: str) -> list[str]:
    if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float16)):
        msg = (f"{op}: single precision ({np.dtype(dtype)}) input; the reference is computed "
               f"in float64 and rtol defaults to {FLOAT32_RTOL:g}")
        warnings.warn(msg, GradCheckWarning, stacklevel=4)
        return [f"note: {msg}"]
    return []


def _value(spec: Function, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(spec.call(x), dtype=float)


def _reference_derivative(spec: Function, d: Any, x: np.ndarray, reference: Any, h: Any,
                          kind: str, f0: np.ndarray) -> tuple[np.ndarray, Any, str]:
    """``desired`` (gradient shape, (m, n) or (n, n)), a lazy error estimate, a label."""
    if not _is_method(reference):
        if not callable(reference):
            raise SpecError(f"reference={short_repr(reference)} must be a method name, a method "
                            f"object or a callable returning the trusted derivative")
        value = _call(spec, reference, x)
        err = getattr(value, "error", None)
        desired = np.asarray(value, dtype=float)
        name = getattr(reference, "__name__", "callable")
        ref = f"callable {name}"
        est = (lambda: err) if err is not None else None
        return desired, est, ref
    method = _reference_method(reference, h)
    if kind == "hessian":
        try:
            result = method.hessian(spec, x)
        except UnsupportedPrimitiveError:
            from .methods import CentralDifference

            return (np.asarray(CentralDifference().hessian(spec, x).value, dtype=float), None,
                    f"central second differences ({method.name} has no Hessian)")
        desired = np.asarray(result.value, dtype=float)
        err = _method_error(result, desired.shape)
        return desired, (None if err is None else (lambda: err)), method.name
    result = method.jacobian(spec, x)
    desired_mn = np.asarray(result.value, dtype=float).reshape(-1, x.size)
    shape = x.shape if kind == "gradient" else desired_mn.shape
    err = _method_error(result, desired_mn.shape)
    if err is not None:
        estimate = lambda: err.reshape(shape)
    elif _exact_family(method):
        estimate = lambda: 4 * EPS * np.abs(desired_mn).reshape(shape)
    else:
        def estimate() -> np.ndarray:
            return _estimate_fd(spec, x, result, desired_mn, f0).reshape(shape)
    return desired_mn.reshape(shape), estimate, method.name


def _directions(k: int, x: np.ndarray, seed: int) -> np.ndarray:
    """``k`` seeded Gaussian directions, scaled like the coordinates, unit 2-norm."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise OutputShapeError(f"directions={k!r} must be a positive integer, e.g. 8")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((int(k), x.size)) * np.maximum(1.0, np.abs(x.ravel()))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _check_directional(spec: Function, actual_full: np.ndarray, x: np.ndarray, reference: Any,
                       h: Any, rtol: Any, atol: Any, k: int, seed: int, dtype: Any,
                       notes: list[str], kind: str) -> GradCheckReport:
    """Directional derivatives ``D v`` of the checked derivative against the reference's."""
    vs = _directions(k, x, seed)
    if kind == "gradient":
        actual = vs @ actual_full.ravel()
    else:
        actual = actual_full.reshape(-1, x.size) @ vs.T  # (m, k)
        actual = actual.T
    desired = np.empty_like(actual)
    errors = np.zeros_like(actual)
    have_err = False
    ref_name = _reference_name(reference)
    f0 = _value(spec, x)
    if _is_method(reference):
        method = _reference_method(reference, h)
        ref_name = method.name
        exact = _exact_family(method)
        for j, v in enumerate(vs):
            line = Function(_line(spec, x, v), name=f"{spec.name} along v{j}", parameters=("t",))
            r = method.derivative(line, 0.0)
            desired[j] = np.asarray(r.value, dtype=float).reshape(desired[j].shape)
            if r.error is not None:
                errors[j] = np.abs(np.asarray(r.error, dtype=float)).reshape(errors[j].shape)
                have_err = True
            elif exact:
                errors[j] = 4 * EPS * np.abs(desired[j])
                have_err = True
        if not have_err:
            def estimate() -> np.ndarray:
                est = np.empty_like(actual)
                for j, v in enumerate(vs):
                    line = Function(_line(spec, x, v), parameters=("t",))
                    est[j] = _fd_error(line, np.zeros(()), np.array([EPS ** (1 / 3)]),
                                       desired[j].reshape(-1, 1), f0).reshape(est[j].shape)
                return est
        else:
            estimate = lambda: errors
    else:
        ref = reference if callable(reference) else None
        if ref is None:
            raise SpecError(f"reference={short_repr(reference)} must be a method name, a method "
                            f"object or a callable")
        full = np.asarray(_call(spec, ref, x), dtype=float)
        desired = vs @ full.ravel() if kind == "gradient" else (full.reshape(-1, x.size) @ vs.T).T
        ref_name = f"callable {getattr(ref, '__name__', 'callable')}"
        estimate = None
    labels = _labels_for(spec, x.shape, None, "directional", "check_grad")
    return _finish("directional", actual, desired, rtol, atol, f"{ref_name} along {k} seeded "
                   f"directions", spec.name, labels, estimate, dtype, reference, f0,
                   directions=vs, notes=notes)


def _line(spec: Function, x: np.ndarray, v: np.ndarray) -> Callable[[Any], Any]:
    """``t -> f(x + t v)``: works on floats, complex numbers and tracers."""
    shape = x.shape
    flat = x.ravel()

    def along(t: Any) -> Any:
        point = flat + t * v
        return spec.call(point.reshape(shape) if shape else point.reshape(()))

    return along


def check_taylor(f: Any, grad: Any, x: Any, *, directions: int = 3, seed: int = 0,
                 steps: int = 24, min_order: float = 1.6) -> TaylorReport:
    """The Taylor-remainder test: no step size to choose.

    For seeded random directions ``v``, the remainder ``r(e) = |f(x + e v) - f(x) - e g.v|``
    decays like ``e**2`` when ``g`` is the gradient, and like ``e`` when it is not. The
    observed order is fitted over the steps ``e_k = 2**-k`` (scaled like ``x``) whose
    remainder is above rounding level.

    Parameters
    ----------
    f, grad, x
        As in :func:`check_grad`.
    directions : int
        Number of seeded random directions.
    seed : int
        Seed of the directions.
    steps : int
        Length of the halving sequence ``e_k``.
    min_order : float
        Smallest observed order that passes.

    Returns
    -------
    TaylorReport

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: np.sum(np.exp(x))
    >>> check_taylor(f, lambda x: np.exp(x), np.array([0.1, 0.2])).ok
    True
    >>> check_taylor(f, lambda x: 1.001 * np.exp(x), np.array([0.1, 0.2])).ok
    False
    """
    op = "check_taylor"
    spec = _as_spec(f, op)
    _check_callable(grad, "grad", op)
    x64, _ = _as_x(spec, x, op)
    g = _as_derivative(_call(spec, grad, x64), x64.shape, "grad", "gradient", op).astype(float)
    vs = _directions(directions, x64, seed)
    f0 = float(_value(spec, x64))
    es = 0.5 ** np.arange(steps) * 0.1
    rem = np.empty((len(vs), steps))
    orders = np.full(len(vs), np.nan)
    for j, v in enumerate(vs):
        line = _line(spec, x64, v)
        slope = float(g.ravel() @ v)
        for k, e in enumerate(es):
            with np.errstate(all="ignore"):
                rem[j, k] = abs(float(np.asarray(line(e))) - f0 - e * slope)
        floor = 100 * EPS * max(1.0, abs(f0), abs(slope))
        valid = [k for k in range(steps - 1) if rem[j, k + 1] > floor and rem[j, k] > floor]
        if valid:
            tail = valid[-4:]
            orders[j] = float(np.median([np.log2(rem[j, k] / rem[j, k + 1]) for k in tail]))
    ok = bool(np.all(np.isnan(orders) | (orders >= min_order)))
    return TaylorReport(ok, orders, es, rem, vs, min_order, spec.name)


def check_jacobian(f: Any, jac: Any, x: Any, *, reference: Any = "central-difference",
                   h: Any = None, rtol: float | None = None, atol: float | None = None,
                   directions: int | None = None, seed: int = 0,
                   names: Sequence[str] | None = None) -> GradCheckReport:
    """Check a Jacobian function ``jac(x) -> (m, n)`` against a reference.

    Parameters are those of :func:`check_grad`; ``f`` may be vector-valued (``m`` outputs)
    and ``jac`` returns the ``(m, n)`` Jacobian (rows: outputs, columns: coordinates).
    ``directions=k`` compares ``J v`` with the reference's derivative along ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> F = lambda x: np.array([x[0] * x[1], np.sin(x[0])])
    >>> J = lambda x: np.array([[x[1], x[0]], [np.cos(x[0]), 0.0]])
    >>> check_jacobian(F, J, np.array([0.5, 2.0])).ok
    True
    """
    op = "check_jacobian"
    spec = _as_spec(f, op)
    _check_callable(jac, "jac", op)
    x64, dtype = _as_x(spec, x, op)
    notes = _dtype_note(dtype, op)
    f0 = _value(spec, x64)
    expected = (int(f0.size), int(x64.size))
    actual = _as_derivative(_call(spec, jac, x64), expected, "jac", "Jacobian", op)
    actual = actual.astype(np.float64)
    if directions is not None:
        return _check_directional(spec, actual, x64, reference, h, rtol, atol, directions, seed,
                                  dtype, notes, "jacobian")
    desired, estimate, ref_name = _reference_derivative(spec, jac, x64, reference, h,
                                                        "jacobian", f0)
    labels = _labels_for(spec, x64.shape, names, "jacobian", op)
    return _finish("jacobian", actual, desired.reshape(expected), rtol, atol, ref_name,
                   spec.name, labels, estimate, dtype, reference, f0, notes=notes)


def check_hessian(f: Any, hess: Any, x: Any, *, reference: Any = "central-difference",
                  h: Any = None, rtol: float | None = None, atol: float | None = None,
                  names: Sequence[str] | None = None) -> GradCheckReport:
    """Check a Hessian function ``hess(x) -> (n, n)`` against a reference.

    The reference's own Hessian is used (every built-in method has one); a method object
    without Hessians is replaced by central second differences of ``f``
    (:class:`~diffkit.methods.CentralDifference`, error about ``eps^(1/2)``). The default
    ``rtol`` is 100x the gradient's.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> H = lambda x: np.array([[2 * x[1], 2 * x[0]], [2 * x[0], 0.0]])
    >>> check_hessian(f, H, np.array([1.0, 3.0])).ok
    True
    """
    op = "check_hessian"
    spec = _as_spec(f, op)
    _check_callable(hess, "hess", op)
    x64, dtype = _as_x(spec, x, op)
    notes = _dtype_note(dtype, op)
    n = int(x64.size)
    actual = _as_derivative(_call(spec, hess, x64), (n, n), "hess", "Hessian", op)
    actual = actual.astype(np.float64)
    f0 = _value(spec, x64)
    desired, estimate, ref_name = _reference_derivative(spec, hess, x64, reference, h,
                                                        "hessian", f0)
    labels = _labels_for(spec, x64.shape, names, "hessian", op)
    return _finish("hessian", actual, desired.reshape(n, n), rtol, atol, ref_name, spec.name,
                   labels, estimate, dtype, reference, f0, notes=notes)


# ============================================================================ assertions


def _raise(report: Any) -> Any:
    """``report``, or AssertionError with its message when the check failed."""
    __tracebackhide__ = True
    if not report.ok:
        raise AssertionError(report.message())
    return report


def assert_grad_close(f: Any, grad: Any, x: Any, **settings: Any) -> GradCheckReport:
    """Assert that ``grad`` is the gradient of ``f`` at ``x`` (see :func:`check_grad`).

    Raises
    ------
    AssertionError
        With the rule, the worst entry, the failing entries and a hint.

    Examples
    --------
    >>> import numpy as np
    >>> assert_grad_close(lambda x: np.sum(x**2), lambda x: 2 * x, np.ones(3)).ok
    True
    """
    __tracebackhide__ = True
    return _raise(check_grad(f, grad, x, **settings))


def assert_jacobian_close(f: Any, jac: Any, x: Any, **settings: Any) -> GradCheckReport:
    """Assert that ``jac`` is the Jacobian of ``f`` at ``x`` (see :func:`check_jacobian`).

    Examples
    --------
    >>> import numpy as np
    >>> assert_jacobian_close(lambda x: 2 * x, lambda x: 2 * np.eye(2), np.ones(2)).ok
    True
    """
    __tracebackhide__ = True
    return _raise(check_jacobian(f, jac, x, **settings))


def assert_hessian_close(f: Any, hess: Any, x: Any, **settings: Any) -> GradCheckReport:
    """Assert that ``hess`` is the Hessian of ``f`` at ``x`` (see :func:`check_hessian`).

    Examples
    --------
    >>> import numpy as np
    >>> assert_hessian_close(lambda x: np.sum(x**2), lambda x: 2 * np.eye(2), np.ones(2)).ok
    True
    """
    __tracebackhide__ = True
    return _raise(check_hessian(f, hess, x, **settings))
