"""Gradient checks for your own test suite: pass, fail or inconclusive, entry by entry.

:func:`assert_grad_close` compares a hand-written gradient with a trustworthy reference (any
diffkit method, or a callable) entry by entry, under the rule users expect from
``numpy.testing.assert_allclose``::

    |actual - desired| <= atol + rtol * |desired|      (per entry, never scaled by size)

and it takes the reference's own error into account: every diffkit reference reports an
estimate ``e`` of its error per entry (truncation and noise for the numerical methods, a few
roundings for AD). An entry

* **fails** when ``|actual - desired| - e > atol + rtol |desired|``: whatever the reference's
  error, the checked value is not within the tolerance of the exact derivative -- a bug;
* **passes** when ``|actual - desired| <= atol + rtol |desired|`` and the reference resolves
  that tolerance: ``e`` is within it, or below :data:`RESOLUTION` ``* rtol * max|desired|``;
* is **inconclusive** otherwise: the reference cannot resolve the tolerance there (a function
  that computes in float32, a noisy one). The check does not pass; its message says why and
  what would resolve it (a float64 evaluation, ``reference="richardson"``, a larger rtol
  stated explicitly).

So nothing beyond the tolerance passes: an error above it fails or is inconclusive.

The defaults follow the reference and the precision f is measured to compute in
(:func:`default_tolerances`); ``atol`` defaults to ``1e-4 * rtol * max|desired|``, so a 1 %
error in an entry a million times smaller than the largest is still caught. The tolerance
never grows to fit the noise.

A failure names the worst entry (its index or name, both values, both errors and what was
allowed), lists only the failing entries when there are many, and adds a hint: does it look
like a sign flip, a factor of two or a transposition?

``directions=k`` checks ``k`` seeded random directional derivatives instead of every entry, at
a cost independent of the dimension; ``reference="taylor"`` runs the Taylor-remainder test,
which has no step to choose. ``args=`` and ``kwargs=`` are data passed to ``f`` and to the
checked derivative (``loss(w, X, y)``), never differentiated.

This module imports no pytest; :mod:`diffkit.pytest_plugin` adds a ``gradcheck`` fixture.

Examples
--------
>>> import numpy as np
>>> from diffkit.testing import check_grad
>>> f = lambda x: np.sum(x**3)
>>> report = check_grad(f, lambda x: 3 * x**2, np.array([1.0, 2.0]))
>>> report.ok, report.verdict
(True, 'pass')
>>> check_grad(f, lambda x: 3 * x, np.array([1.0, 2.0])).worst_label
'x[1]'
"""

from __future__ import annotations

import html
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DiffkitError, NonFiniteError, OutputShapeError, UnsupportedPrimitiveError
from .spec import Function, SpecError, check_value
from .validation import as_function, as_point, short_repr

__all__ = [
    "ATOL_FRACTION",
    "DEFAULT_RTOL",
    "RESOLUTION",
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
"""Default ``rtol`` by reference, for a function computing in float64: loose enough for the
reference's own error on well-scaled functions (central differences: about ``eps**(2/3)``,
i.e. 1e-11..1e-7), tight enough to catch a 0.1 % slip. The Hessian defaults are 100x looser
(second differences). Lower precision raises them (:func:`default_tolerances`)."""

ATOL_FRACTION = 1e-4
"""``atol`` defaults to this times ``rtol * max|desired|``: a 1 % error in an entry 1e-6 of the
largest stays above it (1e-8 against 1e-9 for central differences)."""

RESOLUTION = 1e-3
"""An entry within the tolerance passes when the reference's own error estimate is within the
tolerance too, or below this times ``rtol * max|desired|`` (an entry that is zero, where any
finite-difference estimate exceeds a tolerance of ``atol``): a reference that cannot resolve
even that is inconclusive."""

MAX_DEFAULT_RTOL = 0.05
"""The loosest default ``rtol``: in float16, or with a forward-difference reference of a
float32 Hessian, the reference's own accuracy would set it to 0.5 .. 5, where ``-grad`` and
``1.4 * grad`` pass; capped, such a check is inconclusive instead (a reference that cannot
resolve the tolerance) and names what would resolve it."""

FLOAT32_RTOL = 1e-3
"""``rtol`` floor for an exact reference (AD, symbolic) of a function computing in float32, or
a check of a float32 point or derivative."""

PRECISION_MARGIN = 4.0
"""A numerical reference of a lower-precision function is held to this many times 10x the
accuracy it reaches there (:func:`diffkit.methods.numerical.promised_accuracy` with
``margin=10``): central differences in float32, 1e-3."""

EXACT_ROUNDS = 16.0
"""An exact reference's (AD, symbolic) error estimate, in rounding units of ``|entry|`` plus a
thousandth of the largest (terms that cancel)."""

NUMERICAL = ("forward-difference", "backward-difference", "central-difference", "richardson",
             "complex-step")

MAX_ROWS = 10
"""Failing entries listed in a message (the worst first)."""

SMALL = 20
"""Up to this many entries a message shows every entry, failing or not."""


class GradCheckWarning(UserWarning):
    """A check ran, but under conditions worth knowing (float32 input, ...)."""


def _nice_up(v: float) -> float:
    """``v`` rounded up to 1, 2 or 5 times a power of ten (9.7e-4 -> 1e-3)."""
    p = 10.0 ** np.floor(np.log10(v))
    for m in (1.0, 2.0, 5.0, 10.0):
        if v <= m * p * (1 + 1e-9):
            return float(m * p)
    return float(10 * p)


def default_tolerances(reference: Any = "central-difference", dtype: Any = np.float64,
                       kind: str = "gradient", unit: float | None = None
                       ) -> tuple[float, str]:
    """The default ``rtol`` for a reference and precision, and the rule for the default
    ``atol``.

    Parameters
    ----------
    reference : str, Method or callable
        The reference (see :func:`check_grad`).
    dtype : numpy dtype
        The dtype of ``x`` or of the derivative being checked.
    kind : {"gradient", "jacobian", "hessian", "directional"}
    unit : float, optional
        The rounding unit f was measured to compute in (eps of float32 for a function that
        casts to float32 inside); default: from ``dtype``.

    Returns
    -------
    rtol : float
        :data:`DEFAULT_RTOL` (x100 for Hessians) in float64. In a lower precision, a
        numerical reference's is :data:`PRECISION_MARGIN` times the accuracy it promises
        there (central differences in float32: 1e-3), an exact reference's at least
        :data:`FLOAT32_RTOL`.
    atol_rule : str
        ``atol`` defaults to ``ATOL_FRACTION * rtol * max|desired|`` (or, where every entry is
        zero, ``ATOL_FRACTION * rtol * max(1, |f(x)|)``).

    Examples
    --------
    >>> default_tolerances("complex-step")[0]
    1e-10
    >>> default_tolerances("central-difference", np.float32)[0]
    0.001
    """
    name = _reference_name(reference)
    rtol = DEFAULT_RTOL.get(name, DEFAULT_RTOL["callable"])
    hessian = kind == "hessian"
    if hessian:
        rtol *= 100.0
    dt = np.dtype(dtype)
    low = max(float(unit or 0.0), float(np.finfo(dt).eps) if dt.kind == "f" else 0.0)
    if low > EPS:
        if name in NUMERICAL:
            from .methods.numerical import promised_accuracy

            order = 1 if name in ("forward-difference", "backward-difference") else 2
            rtol = max(rtol, _nice_up(PRECISION_MARGIN * promised_accuracy(
                name, low, order, 2 if hessian else 1, margin=10.0)))
        else:
            rtol = max(rtol, FLOAT32_RTOL, _nice_up(20 * low))
    # never so loose that a 10 % error, a zero or a sign flip passes: where the reference
    # cannot resolve this, the check is inconclusive (and says what would resolve it)
    return min(rtol, MAX_DEFAULT_RTOL), "ATOL_FRACTION * rtol * max|desired|"


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
        Every entry passes (``verdict == "pass"``).
    verdict : str
        ``"pass"``, ``"fail"`` (some entry is wrong beyond the tolerance and the reference's
        own error) or ``"inconclusive"`` (none is, but the reference cannot resolve the
        tolerance at some entry).
    kind : str
        ``"gradient"``, ``"jacobian"``, ``"hessian"`` or ``"directional"``.
    actual, desired : ndarray
        The checked derivative and the reference, same shape. For ``directional`` checks,
        ``actual[j] = grad(x) . v_j`` and ``desired[j]`` the reference's derivative along
        ``v_j``.
    abs_err, rel_err, allowed : ndarray
        ``|actual - desired|``, ``abs_err / |desired|`` and ``atol + rtol * |desired|``.
    failed, inconclusive : ndarray of bool
        The entries that fail (NaN counts as failing), and those the reference cannot
        resolve.
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
    precision : str
        What f was measured to compute in (``"float64"``, ``"float32"``, ...).
    notes : list of str
        Extra lines for the message (float32 input, an asymmetric Hessian, ...).
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
    verdict: str = "pass"
    inconclusive: np.ndarray | None = None
    precision: str = "float64"
    _labels: Callable[[tuple[int, ...]], str] | None = None
    _ref_error: Any = None
    _why: str = ""

    # ------------------------------------------------------------------ derived
    @property
    def nfailed(self) -> int:
        """Number of failing entries."""
        return int(np.count_nonzero(self.failed))

    @property
    def nunresolved(self) -> int:
        """Number of entries the reference cannot resolve (inconclusive)."""
        return 0 if self.inconclusive is None else int(np.count_nonzero(self.inconclusive))

    @property
    def ref_error(self) -> np.ndarray | None:
        """The reference's own error estimate per entry (zeros for a callable reference that
        reports none)."""
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

    def _mark(self, idx: tuple[int, ...]) -> str:
        if self.failed[idx]:
            return "FAIL"
        if self.inconclusive is not None and self.inconclusive[idx]:
            return "??"
        return "ok"

    def _rows(self, indices: Sequence[tuple[int, ...]]) -> list[list[str]]:
        est = self.ref_error
        rows = []
        for idx in indices:
            row = [self.label(idx), f"{self.actual[idx]:.10g}", f"{self.desired[idx]:.10g}",
                   f"{self.abs_err[idx]:.3g}", f"{self.rel_err[idx]:.3g}",
                   f"{self.allowed[idx]:.3g}"]
            if est is not None:
                row.append(f"{est[idx]:.2g}")
            row.append(self._mark(idx))
            rows.append(row)
        return rows

    def _header(self) -> list[str]:
        head = ["entry", "actual", "desired", "abs err", "rel err", "allowed"]
        if self.ref_error is not None:
            head.append("ref err est")
        return [*head, ""]

    def _shown(self, max_rows: int | None) -> tuple[list[tuple[int, ...]], int]:
        """Entries to show: all of a small check, else the failing (or unresolved) ones,
        worst first."""
        max_rows = MAX_ROWS if max_rows is None else max_rows
        if self.actual.size <= SMALL:
            return [tuple(i) for i in np.ndindex(self.actual.shape)], 0
        ratio = self._ratio()
        order = [tuple(int(v) for v in np.unravel_index(i, self.actual.shape))
                 for i in np.argsort(-ratio.ravel(), kind="stable")]
        bad = self.failed if self.nfailed or self.inconclusive is None else self.inconclusive
        failing = [i for i in order if bad[i]]
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
            what = "failing" if self.nfailed else "unresolved"
            lines.append(f"... and {more} more {what} entries")
        if not shown:
            lines.append(f"(all {self.actual.size} entries pass)")
        return "\n".join(lines)

    def _what(self) -> str:
        return {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian",
                "directional": "directional derivative"}[self.kind]

    def message(self) -> str:
        """The failure message (or a one-line summary when the check passed)."""
        what = self._what()
        n = self.actual.size
        unit = "directions" if self.kind == "directional" else "entries"
        if self.ok:
            return (f"{what} check of {self.function} passed: {n} {unit} within "
                    f"{self.rule()}, the reference's own error included")
        w = self.worst
        if self.verdict == "inconclusive":
            lines = [self._unresolved_text(n, unit), self.table()]
        else:
            unresolved = (f" ({self.nunresolved} more the reference could not resolve)"
                          if self.nunresolved else "")
            lines = [
                f"{what} check of {self.function} failed: {self.nfailed} of {n} {unit} outside "
                f"{self.rule()}, beyond the reference's own error{unresolved}",
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

    def _unresolved_text(self, n: int, unit: str) -> str:
        """Why the check is inconclusive and what would resolve it."""
        bad = self.inconclusive if self.inconclusive is not None else self.failed
        est = self.ref_error if self.ref_error is not None else np.zeros_like(self.allowed)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bad, est / self.allowed, -np.inf)
        w = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
        scale = float(np.max(np.abs(self.desired), initial=0.0))
        needed = float(np.max(np.where(bad, (self.abs_err + est) / np.maximum(
            np.abs(self.desired), ATOL_FRACTION * max(scale, 1e-300)), 0.0)))
        why = self._why or "its own error estimate is as large as the tolerance"
        return (
            f"{self._what()} check of {self.function} inconclusive: the reference "
            f"({self.reference}) could not resolve the tolerance at {self.nunresolved} of {n} "
            f"{unit} ({self.rule()}): at {self.label(w)} its own error estimate "
            f"{est[w]:.2g} leaves no room in the allowed {self.allowed[w]:.3g}. Why: {why}. "
            f"What would resolve it: evaluate f in float64, use reference='richardson' (or "
            f"an AD reference such as reference='reverse-mode'), or state a larger tolerance "
            f"explicitly (this reference resolves about rtol={_nice_up(max(needed, 1e-16)):.0e} "
            f"here)"
        )

    def hint(self) -> str:
        """What the mismatch looks like: bug or the reference's noise, sign flip, factor two,
        transpose, an asymmetric Hessian."""
        if self.ok:
            return ""
        a, d, f = self.actual, self.desired, self.failed
        hints = []
        bad = ~np.isfinite(a)
        if bad.any():
            where = ", ".join(self.label(tuple(int(v) for v in i)) for i in np.argwhere(bad)[:5])
            hints.append(f"the checked derivative is not finite at {where}")
            return "; ".join(hints)
        if f.any():
            tol = self.allowed[f]
            if np.all(np.abs(a[f] + d[f]) <= tol) and np.any(d[f] != 0):
                hints.append("every failing entry has the right size and the wrong sign "
                             "(a sign flip)")
            else:
                for factor, text in ((2.0, "twice"), (0.5, "half")):
                    if np.all(np.abs(a[f] - factor * d[f]) <= tol + 1e-9 * np.abs(d[f])) \
                            and np.any(d[f] != 0):
                        hints.append(f"every failing entry is {text} the reference (a factor "
                                     f"of two: a missing or extra 1/2 or 2)")
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
            if not self.failed[w]:
                hints.append(
                    f"the mismatch at {self.worst_label} ({mismatch:.2g}) is within the "
                    f"reference's own error estimate ({e:.2g}) and the tolerance: the reference "
                    f"cannot tell a bug from its own noise there")
            else:
                times = "" if e == 0 else f"{mismatch / e:.2g} times "
                hints.append(
                    f"the mismatch at {self.worst_label} ({mismatch:.2g}) is {times}the "
                    f"reference's own error estimate ({e:.2g}): a bug in the checked "
                    f"derivative, not step noise")
        return "; ".join(hints)

    def __repr__(self) -> str:
        if self.ok:
            status = "ok"
        elif self.verdict == "inconclusive":
            status = f"inconclusive at {self.nunresolved} entries"
        else:
            status = f"{self.nfailed} failing, worst {self.worst_label}"
        return (f"<GradCheckReport {self.kind} of {self.function}: {status}; "
                f"rtol={self.rtol:.3g}, atol={self.atol:.3g}, reference={self.reference!r}>")

    def __str__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        shown, more = self._shown(None)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._header())
        body = []
        for row in self._rows(shown):
            style = ' style="color:#b00"' if row[-1] in ("FAIL", "??") else ""
            body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                        + "</tr>")
        if self.ok:
            status = "passed"
        elif self.verdict == "inconclusive":
            status = f"inconclusive ({self.nunresolved} of {self.actual.size} unresolved)"
        else:
            status = f"failed ({self.nfailed} of {self.actual.size})"
        extra = f"<p>... and {more} more entries</p>" if more else ""
        hint = f"<p>hint: {html.escape(self.hint())}</p>" if not self.ok else ""
        why = (f"<p>{html.escape(self._unresolved_text(self.actual.size, 'entries'))}</p>"
               if self.verdict == "inconclusive" else "")
        return (f"<div><b>{html.escape(self.kind)} check of {html.escape(self.function)} "
                f"{status}</b><br><code>{html.escape(self.rule())}</code>"
                f"<table><tr>{head}</tr>{''.join(body)}</table>{extra}{why}{hint}</div>")


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
    resolved : ndarray or None
        Per direction, whether a 0.1 % slip of ``grad.v`` would have shown above the
        remainder at the finest step the test could read (f's rounding decides how fine:
        in float32 it may not), else the direction cannot vouch (inconclusive).
    """

    ok: bool
    orders: np.ndarray
    steps: np.ndarray
    remainders: np.ndarray
    directions: np.ndarray
    min_order: float
    function: str = "f"
    resolved: np.ndarray | None = None

    @property
    def verdict(self) -> str:
        """``"pass"``, ``"fail"`` (a direction decays with a lower order) or
        ``"inconclusive"`` (the test could not see a small error), as a check's verdict."""
        if self.ok:
            return "pass"
        low = any(not np.isnan(o) and o < self.min_order for o in self.orders)
        return "fail" if low else "inconclusive"

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
        blind = [] if self.resolved is None else [
            j for j, o in enumerate(self.orders) if not np.isnan(o) and not self.resolved[j]]
        if not bad and blind:  # second order seen, but too coarse to see a small slip
            return (f"Taylor test of {self.function} inconclusive: in direction(s) "
                    f"{', '.join(f'v{j}' for j in blind)} the remainder decays with order "
                    f">= {self.min_order} only at steps where a 0.1 % error in grad.v would "
                    f"not show (below them f's rounding -- its precision, or cancellation "
                    f"inside it -- swamps the remainder), so a small error would pass too\n"
                    f"{self.table()}\nhint: check against a reference instead "
                    f"(check_grad(f, grad, x)), or evaluate f in float64")
        if not bad:  # every direction's remainder stayed at rounding level
            return (f"Taylor test of {self.function} inconclusive: in direction(s) "
                    f"{', '.join(f'v{j}' for j, o in enumerate(self.orders) if np.isnan(o))} "
                    f"|f(x+e v) - f(x) - e grad.v| never rose above the rounding of f (|f| is "
                    f"large against its change over the steps), so nothing was tested\n"
                    f"{self.table()}\nhint: check against a reference instead "
                    f"(check_grad(f, grad, x)), or subtract f's constant part")
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


def _call(spec: Function, fn: Callable[..., Any], x: np.ndarray,
          data: tuple[tuple[Any, ...], dict[str, Any]] = ((), {}), name: str = "",
          op: str = "") -> Any:
    """Call ``fn`` the way ``spec`` is called (unpacked for several parameters), then the
    data arguments. ``name`` (the user's derivative: "grad", "jac", "hess"): a signature that
    cannot take those arguments is a SpecError naming it, not Python's TypeError."""
    point = spec.unpack(x)
    if name:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # a builtin without a signature: just call it
            sig = None
        if sig is not None:
            try:
                sig.bind(*point, *data[0], **data[1])
            except TypeError as exc:
                raise SpecError(
                    f"{_call_text(op)}: {name} cannot be called the way f is ({exc}); it "
                    f"must take the point as f does ({len(point)} positional argument"
                    f"{'s' if len(point) != 1 else ''}), then the data passed with args= "
                    f"and kwargs=") from None
    return fn(*point, *data[0], **data[1])


def _tolerance(value: Any, name: str) -> float:
    """``rtol`` / ``atol`` as a float, or NonFiniteError naming it (a string, a complex number
    or an array is not a tolerance)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                    np.floating)):
        raise NonFiniteError(
            f"{name}={short_repr(value)}: a tolerance must be a real number >= 0 (a "
            f"{type(value).__name__} is not); write e.g. {name}=1e-6")
    return float(value)


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
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise OutputShapeError(f"{op}: names={short_repr(names)} must be a list of "
                                   f"strings, one per coordinate of x")
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


# ============================================================================ data arguments

Data = tuple[tuple[Any, ...], dict[str, Any]]
"""``(args, kwargs)``: data passed to f and to the checked derivative after the point."""


def _data(args: Any, kwargs: Any, op: str) -> Data:
    """``args=`` as a tuple and ``kwargs=`` as a dict, or a SpecError saying how to pass them."""
    if args is None:
        args = ()
    if not isinstance(args, tuple):
        raise SpecError(
            f"{_call_text(op)}: args must be a tuple of data passed to f after x, got "
            f"{type(args).__name__} {short_repr(args)}; write args=(X, y) (a one-element "
            f"tuple is args=(X,))")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise SpecError(
            f"{_call_text(op)}: kwargs must be a dict of keyword data passed to f, got "
            f"{type(kwargs).__name__} {short_repr(kwargs)}; write e.g. kwargs={{'scale': 2.0}}")
    return args, dict(kwargs)


def _bind(spec: Function, data: Data, op: str) -> Function:
    """``spec`` with its data arguments fixed: a function of the point alone.

    Parameters after the first ``k - len(args)`` are the data's: ``loss(w, X, y)`` with
    ``args=(X, y)`` is differentiated in ``w``."""
    args, kwargs = data
    if not args and not kwargs:
        return spec
    params = list(spec.parameters)
    try:  # a keyword-only or defaulted data parameter is not a coordinate either
        sig = inspect.signature(spec.fn)
        params = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.name not in kwargs and p.default is p.empty] or params
    except (TypeError, ValueError):
        pass
    k = len(params) - len(args)
    if k < 1:
        raise SpecError(
            f"{_call_text(op)}: f takes {len(params)} positional parameters "
            f"({', '.join(params)}) but args= passes {len(args)}; f needs the point first, "
            f"then the data: f(x, *args)")
    fn = spec.fn
    try:
        inspect.signature(fn).bind(*params[:k], *args, **kwargs)
    except TypeError as exc:
        raise SpecError(
            f"{_call_text(op)}: f cannot take the data passed with args=/kwargs= ({exc}); f "
            f"takes the point first, then the data: f(x, *args, **kwargs)") from None
    except ValueError:  # a builtin without a signature: called as is
        pass

    def bound(*point: Any) -> Any:
        return fn(*point, *args, **kwargs)

    return Function(bound, name=spec.name, parameters=tuple(params[:k]),
                    vectorized=spec.vectorized)


# ============================================================================ references


def _reference_method(reference: Any, h: Any) -> Any:
    from . import methods

    settings = {} if h is None else {"h": h}
    try:
        return methods.get(reference, **settings)
    except DiffkitError as exc:  # said in the checker's terms: reference= and h=, not method=
        text = str(exc).replace("method='", "reference='").replace('method="', 'reference="')
        text = text.replace("method=", "reference=")
        raise type(exc)(text) from None


def _is_method(reference: Any) -> bool:
    from .methods import Method

    return isinstance(reference, (str, Method)) or (
        isinstance(reference, type) and issubclass(reference, Method))


def _exact_family(method: Any) -> bool:
    return getattr(method, "family", "") in ("symbolic", "reverse", "forward", "manual") or \
        getattr(method, "name", "") in ("reverse-mode", "forward-mode", "symbolic", "manual",
                                        "auto")


def _in_check(exc: DiffkitError, op: str, name: str) -> DiffkitError:
    """The reference's error, said in the checker's terms (``reference=``, not ``method=``)."""
    text = str(exc).replace("method='", "reference='").replace('method="', 'reference="')
    out = type(exc)(f"{_call_text(op)} with reference={name!r}: the reference could not "
                    f"differentiate f: {text}")
    return out


def _exact_error(desired: np.ndarray, unit: float) -> np.ndarray:
    """An exact reference's error: :data:`EXACT_ROUNDS` roundings of each entry, and of a
    thousandth of the largest (terms that cancel to a small entry)."""
    d = np.abs(desired)
    return EXACT_ROUNDS * unit * (d + 1e-3 * float(np.max(d, initial=0.0)))


def _unit_of(spec: Function, x: np.ndarray) -> tuple[float, str]:
    """The rounding unit f is measured to compute in at ``x`` (one traced evaluation: a cast
    to float32 inside f shows), and its name."""
    from .methods.numerical import CentralDifference, Noise, _Sampler

    try:
        s = _Sampler(CentralDifference(), spec, x, "jacobian", "auto")
        noise = Noise.measure(s)
    except (DiffkitError, FloatingPointError, ArithmeticError):
        return EPS, "float64"
    return noise.unit, noise.precision


def _fits(desired: np.ndarray, shape: tuple[int, ...], kind: str, op: str) -> None:
    """The reference's derivative has the checked one's entries: as many, and a matrix in
    the same layout (a transposed Jacobian is not silently reshaped into place)."""
    if desired.size != int(np.prod(shape)) or (
            desired.ndim == 2 and len(shape) == 2 and desired.shape != tuple(shape)):
        raise OutputShapeError(
            f"{op}: the reference returned shape {desired.shape}; the {kind} it is compared "
            f"with has shape {tuple(shape)}")


def _called_reference(spec: Function, reference: Any, x: np.ndarray, data: Data, kind: str,
                      op: str) -> tuple[np.ndarray, Any]:
    """A callable reference's derivative at ``x`` as float numbers, and its ``.error`` (if
    the value carries one)."""
    value = _call(spec, reference, x, data, "reference", op)
    try:
        return np.asarray(value, dtype=float), getattr(value, "error", None)
    except (TypeError, ValueError):
        raise OutputShapeError(f"{op}: the reference callable returned {short_repr(value)}, "
                               f"which is not an array of numbers; return the trusted "
                               f"{kind}") from None


def _reference_derivative(spec: Function, d: Any, x: np.ndarray, reference: Any, h: Any,
                          kind: str, op: str, data: Data
                          ) -> tuple[np.ndarray, np.ndarray, str, float, str]:
    """``desired`` (gradient shape, (m, n) or (n, n)), its error estimate per entry, a label,
    the rounding unit f computes in and its name."""
    if not _is_method(reference):
        if not callable(reference):
            raise SpecError(f"reference={short_repr(reference)} must be a method name, a method "
                            f"object or a callable returning the trusted derivative")
        desired, err = _called_reference(spec, reference, x, data, kind, op)

        name = getattr(reference, "__name__", "callable")
        est = np.zeros_like(desired) if err is None else np.broadcast_to(
            np.abs(np.asarray(err, dtype=float)), desired.shape).copy()
        unit, precision = _unit_of(spec, x)
        return desired, est, f"callable {name}", unit, precision
    method = _reference_method(reference, h)
    try:
        if kind == "hessian":
            try:
                result = method.hessian(spec, x)
            except UnsupportedPrimitiveError:
                from .methods import CentralDifference

                result = CentralDifference().hessian(spec, x)
                label = f"central second differences ({method.name} has no Hessian)"
            else:
                label = method.name
            desired = np.asarray(result.value, dtype=float)
        else:
            result = method.jacobian(spec, x)
            desired = np.asarray(result.value, dtype=float).reshape(-1, x.size)
            label = method.name
    except DiffkitError as exc:
        raise _in_check(exc, op, method.name) from None
    unit, precision = result.info.get("unit"), result.info.get("precision")
    if unit is None:
        unit, precision = _unit_of(spec, x)
    err = getattr(result, "error", None)
    if err is not None and np.size(err) == desired.size:
        est = np.abs(np.asarray(err, dtype=float)).reshape(desired.shape)
    else:
        est = _exact_error(desired, unit)
    if kind == "gradient":
        if desired.size != x.size:  # f is vector-valued: its derivative is a Jacobian
            raise OutputShapeError(
                f"{_call_text(op)}: f returned {desired.size // max(x.size, 1)} values, not a "
                f"scalar; check_grad checks the gradient of a scalar function -- use "
                f"check_jacobian for a vector-valued f")
        desired, est = desired.reshape(x.shape), est.reshape(x.shape)
    return desired, est, label, float(unit), str(precision)


# ============================================================================ checks


def _finish(kind: str, actual: np.ndarray, desired: np.ndarray, est: np.ndarray,
            rtol: float | None, atol: float | None, reference: str, function: str,
            labels: Any, dtype: Any, ref_for_defaults: Any, f0: Any, unit: float,
            precision: str, directions: Any = None, notes: list[str] | None = None
            ) -> GradCheckReport:
    """The verdict of every entry: pass, fail or inconclusive (see the module docstring)."""
    default_rtol, _ = default_tolerances(ref_for_defaults, dtype, kind, unit)
    rtol = default_rtol if rtol is None else _tolerance(rtol, "rtol")
    # the scale of the check: the largest entry, or where every entry is zero the function's
    # own size (a derivative of |f| per unit of x)
    finite = desired[np.isfinite(desired)]
    scale = float(np.max(np.abs(finite), initial=0.0))
    if scale == 0.0:
        fscale = float(np.max(np.abs(np.asarray(f0, dtype=float)), initial=0.0)) \
            if f0 is not None else 0.0
        scale = max(1.0, fscale if np.isfinite(fscale) else 1.0)
    if atol is None:
        atol = ATOL_FRACTION * rtol * scale
    atol = _tolerance(atol, "atol")
    if not (np.isfinite(rtol) and rtol >= 0 and np.isfinite(atol) and atol >= 0):
        raise NonFiniteError(f"rtol={rtol!r}, atol={atol!r}: tolerances must be finite and >= 0")
    est = np.where(np.isfinite(est), est, np.inf)
    notes = list(notes or [])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_err = np.abs(actual - desired)
        rel_err = np.where(abs_err == 0, 0.0, abs_err / np.abs(desired))
        allowed = atol + rtol * np.abs(desired)
        failed = ~(abs_err - est <= allowed)  # NaN fails
        # within the tolerance, by a reference that resolves it: its estimate is within the
        # tolerance, or below its resolution floor (RESOLUTION times rtol max|desired|)
        passed = (abs_err <= allowed) & (est <= np.maximum(allowed, RESOLUTION * rtol * scale))
    if kind == "hessian" and actual.shape[0] > 1:
        # a Hessian is symmetric: an asymmetry beyond the tolerance is a bug whatever the
        # reference says (a transposed or mistyped off-diagonal entry)
        asym = np.abs(actual - actual.T) > np.minimum(allowed, allowed.T)
        if asym.any():
            i, j = (int(v) for v in np.argwhere(asym)[0])
            notes.append(f"note: the checked Hessian is not symmetric: entry ({i}, {j}) is "
                         f"{actual[i, j]:.10g} but ({j}, {i}) is {actual[j, i]:.10g}; a Hessian "
                         f"of a twice continuously differentiable f is symmetric")
            failed |= asym
            passed &= ~asym
    unresolved = ~failed & ~passed
    verdict = "fail" if failed.any() else ("inconclusive" if unresolved.any() else "pass")
    why = ""
    if verdict == "inconclusive":
        why = (f"f computes in {precision} (its rounding limits any finite-difference "
               f"reference)" if unit > EPS or precision != "float64" else
               "its error at these entries (truncation and noise of its step) is as large as "
               "the tolerance")
    report = GradCheckReport(
        ok=verdict == "pass", kind=kind, actual=actual, desired=desired, abs_err=abs_err,
        rel_err=rel_err, allowed=allowed, failed=failed, worst=(), rtol=rtol, atol=atol,
        reference=reference, function=function, directions=directions, notes=notes,
        verdict=verdict, inconclusive=unresolved, precision=precision, _labels=labels,
        _ref_error=est, _why=why)
    ratio = report._ratio()
    report.worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape)) \
        if ratio.size else ()
    return report


def check_grad(f: Any, grad: Any, x: Any, *, reference: Any = "central-difference",
               h: Any = None, rtol: float | None = None, atol: float | None = None,
               directions: int | None = None, seed: int = 0,
               names: Sequence[str] | None = None, args: tuple[Any, ...] = (),
               kwargs: Mapping[str, Any] | None = None) -> GradCheckReport | TaylorReport:
    """Check a gradient function against a reference, entry by entry.

    Parameters
    ----------
    f : callable or Function
        The scalar function: plain numpy, ``diffkit.numpy`` or a :class:`diffkit.Function`.
        With ``k >= 2`` parameters it takes one scalar per parameter (``f(x1, x2)``).
    grad : callable
        The gradient to check, called like ``f`` (``grad(x)`` or ``grad(x1, x2)``, then the
        data); returns an array with the shape of ``x`` (a list of ``k`` values for ``k``
        parameters).
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
        The per-entry rule ``|actual - desired| <= atol + rtol*|desired|``, which must hold
        whatever the reference's own error (its estimate per entry). ``rtol`` defaults by
        reference and by the precision f is measured to compute in
        (:func:`default_tolerances`: central differences 1e-5 in float64, 1e-3 in float32),
        ``atol`` to ``ATOL_FRACTION * rtol * max|desired|``.
    directions : int, optional
        Check ``k`` seeded random directional derivatives ``grad(x).v`` against the
        reference's derivative of ``t -> f(x + t v)`` (about ``2k`` evaluations of ``f``
        for central differences, whatever the dimension), instead of every entry.
    seed : int
        Seed of the random directions.
    names : sequence of str, optional
        A name per coordinate for messages (defaults to the parameter names of ``f``).
    args : tuple, optional
        Data passed to ``f``, ``grad`` and a callable reference after the point
        (``f(x, *args, **kwargs)``), never differentiated: ``check_grad(loss, grad, w,
        args=(X, y))``.
    kwargs : dict, optional
        Keyword data, likewise.

    Returns
    -------
    GradCheckReport
        ``ok``, ``verdict`` (pass, fail, inconclusive), the arrays, the worst entry,
        ``table()``, ``message()``, ``ref_error``.

    Raises
    ------
    SpecError
        ``f`` or ``grad`` is not callable, or ``args``/``kwargs`` are not a tuple/dict.
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
    >>> r.verdict, r.hint().startswith("every failing entry has the right size and the wrong")
    ('fail', True)
    >>> loss = lambda w, X, y: np.sum((X @ w - y) ** 2)
    >>> X, y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 0.0])
    >>> check_grad(loss, lambda w, X, y: 2 * X.T @ (X @ w - y), np.ones(2), args=(X, y)).ok
    True
    """
    op = "check_grad"
    data = _data(args, kwargs, op)
    spec = _bind(_as_spec(f, op), data, op)
    _check_callable(grad, "grad", op)
    x64, dtype = _as_x(spec, x, op)
    if isinstance(reference, str) and reference == "taylor":
        return check_taylor(spec, lambda *p: grad(*p, *data[0], **data[1]), x64,
                            directions=directions or 3, seed=seed)
    notes = _dtype_note(dtype, op)
    actual = _as_derivative(_call(spec, grad, x64, data, "grad", op), x64.shape, "grad", "gradient", op)
    if actual.dtype == np.float32 and dtype != np.float32:
        dtype = actual.dtype
        notes += _dtype_note(dtype, op)
    actual = actual.astype(np.float64)
    if directions is not None:
        return _check_directional(spec, actual, x64, reference, h, rtol, atol, directions, seed,
                                  dtype, notes, "gradient", data)
    f0 = _value(spec, x64)
    desired, est, ref_name, unit, precision = _reference_derivative(
        spec, grad, x64, reference, h, "gradient", op, data)
    _fits(desired, x64.shape, "gradient", op)
    labels = _labels_for(spec, x64.shape, names, "gradient", op)
    return _finish("gradient", actual, desired.reshape(x64.shape), est.reshape(x64.shape),
                   rtol, atol, ref_name, spec.name, labels, dtype, reference, f0, unit,
                   precision, notes=notes + _precision_note(unit, precision, op))


def _dtype_note(dtype: Any, op: str) -> list[str]:
    if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float16)):
        msg = (f"{op}: single precision ({np.dtype(dtype)}) input; the reference is computed "
               f"in float64 and rtol defaults to at least {FLOAT32_RTOL:g}")
        warnings.warn(msg, GradCheckWarning, stacklevel=4)
        return [f"note: {msg}"]
    return []


def _precision_note(unit: float, precision: str, op: str) -> list[str]:
    if unit <= EPS and precision == "float64":
        return []
    return [f"note: {op}: f was measured to compute in {precision}; the default tolerances "
            f"are that precision's"]


def _value(spec: Function, x: np.ndarray, dtype: Any = float) -> np.ndarray:
    """f(x) as a float array (``dtype=None``: in the dtype f returns); f returning None, a
    bool, a string, an object array ... is refused as every method refuses it
    (:func:`diffkit.validation.check_value`)."""
    with np.errstate(all="ignore"):
        out = spec.call(x)
    return np.asarray(check_value(out, spec.name, "jacobian"), dtype=dtype)


def _directions(k: int, x: np.ndarray, seed: int) -> np.ndarray:
    """``k`` seeded Gaussian directions, scaled like the coordinates, unit 2-norm."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 100_000:
        raise OutputShapeError(f"directions={k!r} must be a positive integer up to 100000, "
                               f"e.g. 8")
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, (int, np.integer))):
        raise OutputShapeError(f"seed={seed!r} must be an integer (the directions' random "
                               f"seed), e.g. seed=0")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((int(k), x.size)) * np.maximum(1.0, np.abs(x.ravel()))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _check_directional(spec: Function, actual_full: np.ndarray, x: np.ndarray, reference: Any,
                       h: Any, rtol: Any, atol: Any, k: int, seed: int, dtype: Any,
                       notes: list[str], kind: str, data: Data) -> GradCheckReport:
    """Directional derivatives ``D v`` of the checked derivative against the reference's."""
    op = "check_grad" if kind == "gradient" else "check_jacobian"
    vs = _directions(k, x, seed)
    if kind == "gradient":
        actual = vs @ actual_full.ravel()
    else:
        actual = actual_full.reshape(-1, x.size) @ vs.T  # (m, k)
        actual = actual.T
    desired = np.empty_like(actual)
    errors = np.zeros_like(actual)
    f0 = _value(spec, x)
    unit, precision = EPS, "float64"
    if _is_method(reference):
        method = _reference_method(reference, h)
        ref_name = method.name
        for j, v in enumerate(vs):
            line = Function(_line(spec, x, v), name=f"{spec.name} along v{j}", parameters=("t",))
            try:
                r = method.derivative(line, 0.0)
            except DiffkitError as exc:
                raise _in_check(exc, op, method.name) from None
            desired[j] = np.asarray(r.value, dtype=float).reshape(desired[j].shape)
            unit = max(unit, float(r.info.get("unit", EPS)))
            if r.info.get("precision", "float64") != "float64":
                precision = r.info["precision"]
            if r.error is not None:
                errors[j] = np.abs(np.asarray(r.error, dtype=float)).reshape(errors[j].shape)
            else:
                errors[j] = _exact_error(np.asarray(desired[j]), unit)
    else:
        ref = reference if callable(reference) else None
        if ref is None:
            raise SpecError(f"reference={short_repr(reference)} must be a method name, a method "
                            f"object or a callable")
        op = "check_grad" if kind == "gradient" else "check_jacobian"
        full, err = _called_reference(spec, ref, x, data, kind, op)
        _fits(full, x.shape if kind == "gradient" else actual_full.shape, kind, op)
        desired = vs @ full.ravel() if kind == "gradient" else (full.reshape(-1, x.size) @ vs.T).T
        if err is not None:
            e = np.abs(np.asarray(err, dtype=float)).reshape(full.shape)
            errors = np.abs(vs) @ e.ravel() if kind == "gradient" else \
                (e.reshape(-1, x.size) @ np.abs(vs).T).T
        ref_name = f"callable {getattr(ref, '__name__', 'callable')}"
    labels = _labels_for(spec, x.shape, None, "directional", op)
    return _finish("directional", actual, desired, errors, rtol, atol,
                   f"{ref_name} along {k} seeded directions", spec.name, labels, dtype,
                   reference, f0, unit, precision, directions=vs, notes=notes)


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
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 3 <= steps <= 60:
        raise OutputShapeError(f"{op}(steps={steps!r}): the number of halvings of the step, an "
                               f"integer from 3 to 60 (e.g. steps=24)")
    if isinstance(min_order, bool) or not isinstance(min_order, (int, float, np.integer,
                                                                 np.floating)) \
            or not 1.0 < min_order <= 2.0:
        raise OutputShapeError(f"{op}(min_order={min_order!r}): the smallest observed order "
                               f"that passes, a number in (1, 2] (e.g. min_order=1.6)")
    spec = _as_spec(f, op)
    _check_callable(grad, "grad", op)
    x64, _ = _as_x(spec, x, op)
    g = _as_derivative(_call(spec, grad, x64, name="grad", op=op), x64.shape, "grad", "gradient", op).astype(float)
    vs = _directions(directions, x64, seed)
    v0 = _value(spec, x64, dtype=None)  # (in the dtype f returns)
    f0 = float(v0)
    # the rounding unit f computes in (float32 f: its eps, not float64's -- below a float32
    # ulp x + e v rounds back to x and the remainder is exactly e * slope, order 1)
    unit = max(EPS, float(np.finfo(v0.dtype).eps)) if v0.dtype.kind == "f" else EPS
    es = 0.5 ** np.arange(steps) * 0.1
    rem = np.empty((len(vs), steps))
    orders = np.full(len(vs), np.nan)
    seen = np.zeros(len(vs), dtype=bool)  # a rounding-level remainder that still tests g
    resolved = np.zeros(len(vs), dtype=bool)  # second order seen where a slip would show
    for j, v in enumerate(vs):
        line = _line(spec, x64, v)
        slope = float(g.ravel() @ v)
        for k, e in enumerate(es):
            with np.errstate(all="ignore"):
                rem[j, k] = abs(float(np.asarray(line(e))) - f0 - e * slope)
        floor = 100 * unit * max(1.0, abs(f0), abs(slope))
        # and the noise f's own rounding leaves in the remainder where it stops shrinking
        # (the finest steps: cancellation inside f, (x + 1e6)**2 - 1e12 - 2e6 x)
        floor = max(floor, 4 * float(np.median(rem[j, -3:])))
        valid = [k for k in range(steps - 1) if rem[j, k + 1] > floor and rem[j, k] > floor]
        scale = max(abs(slope), float(np.abs(g.ravel()) @ np.abs(v)), 1e-300)
        if valid:
            tail = valid[-4:]
            orders[j] = float(np.median([np.log2(rem[j, k] / rem[j, k + 1]) for k in tail]))
            finest = valid[-1] + 1  # a 0.1 % slip of grad.v adds e * 1e-3 * |grad.v| there
            resolved[j] = es[finest] * 1e-3 * scale > rem[j, finest]
        else:  # the remainder stayed at rounding level: exact along v (a linear f), if a
            # slope off by 0.1 % would have shown above rounding at the first step; not tested
            # where it would not (|f| of 1e14 against a change of 1)
            seen[j] = es[0] * 1e-3 * scale > floor
    ok = bool(np.all(((orders >= min_order) & resolved) | (np.isnan(orders) & seen)))
    return TaylorReport(ok, orders, es, rem, vs, min_order, spec.name, resolved)


def check_jacobian(f: Any, jac: Any, x: Any, *, reference: Any = "central-difference",
                   h: Any = None, rtol: float | None = None, atol: float | None = None,
                   directions: int | None = None, seed: int = 0,
                   names: Sequence[str] | None = None, args: tuple[Any, ...] = (),
                   kwargs: Mapping[str, Any] | None = None) -> GradCheckReport:
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
    data = _data(args, kwargs, op)
    spec = _bind(_as_spec(f, op), data, op)
    _check_callable(jac, "jac", op)
    x64, dtype = _as_x(spec, x, op)
    notes = _dtype_note(dtype, op)
    f0 = _value(spec, x64)
    expected = (int(f0.size), int(x64.size))
    actual = _as_derivative(_call(spec, jac, x64, data, "jac", op), expected, "jac", "Jacobian", op)
    actual = actual.astype(np.float64)
    if directions is not None:
        return _check_directional(spec, actual, x64, reference, h, rtol, atol, directions, seed,
                                  dtype, notes, "jacobian", data)
    desired, est, ref_name, unit, precision = _reference_derivative(
        spec, jac, x64, reference, h, "jacobian", op, data)
    _fits(desired, actual.shape, "jacobian", op)
    labels = _labels_for(spec, x64.shape, names, "jacobian", op)
    return _finish("jacobian", actual, desired.reshape(expected), est.reshape(expected), rtol,
                   atol, ref_name, spec.name, labels, dtype, reference, f0, unit, precision,
                   notes=notes + _precision_note(unit, precision, op))


def check_hessian(f: Any, hess: Any, x: Any, *, reference: Any = "central-difference",
                  h: Any = None, rtol: float | None = None, atol: float | None = None,
                  names: Sequence[str] | None = None, args: tuple[Any, ...] = (),
                  kwargs: Mapping[str, Any] | None = None) -> GradCheckReport:
    """Check a Hessian function ``hess(x) -> (n, n)`` against a reference.

    The reference's own Hessian is used (every built-in method has one); a method object
    without Hessians is replaced by central second differences of ``f``
    (:class:`~diffkit.methods.CentralDifference`, error about ``eps^(1/2)``). The default
    ``rtol`` is 100x the gradient's, ``atol`` ``ATOL_FRACTION * rtol * max|H|``: a 1 % error
    in any entry at least 1e-3 of the largest fails. A checked Hessian that is not symmetric
    fails at the asymmetric pair, and the message says so.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> H = lambda x: np.array([[2 * x[1], 2 * x[0]], [2 * x[0], 0.0]])
    >>> check_hessian(f, H, np.array([1.0, 3.0])).ok
    True
    """
    op = "check_hessian"
    data = _data(args, kwargs, op)
    spec = _bind(_as_spec(f, op), data, op)
    _check_callable(hess, "hess", op)
    x64, dtype = _as_x(spec, x, op)
    notes = _dtype_note(dtype, op)
    n = int(x64.size)
    actual = _as_derivative(_call(spec, hess, x64, data, "hess", op), (n, n), "hess", "Hessian", op)
    actual = actual.astype(np.float64)
    f0 = _value(spec, x64)
    desired, est, ref_name, unit, precision = _reference_derivative(
        spec, hess, x64, reference, h, "hessian", op, data)
    _fits(desired, (x64.size, x64.size), "hessian", op)
    labels = _labels_for(spec, x64.shape, names, "hessian", op)
    return _finish("hessian", actual, desired.reshape(n, n), est.reshape(n, n), rtol, atol,
                   ref_name, spec.name, labels, dtype, reference, f0, unit, precision,
                   notes=notes + _precision_note(unit, precision, op))


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
