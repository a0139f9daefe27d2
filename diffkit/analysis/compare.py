"""Every method side by side on one function, against the exact reference."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import methods as _methods
from ..core import checked_evaluation
from ..display import comparison_text
from ..errors import DiffkitError, PointError, UnknownMethodError
from ..plotting import plot_comparison
from ..reference import Reference, reference_jacobian
from ..validation import as_function, as_point, short_repr, with_data
from .expressions import expression_metrics

__all__ = ["Comparison", "ComparisonRow", "catalog_markdown", "compare", "compare_catalog"]


@dataclass(frozen=True)
class ComparisonRow:
    """One method's answer.

    Attributes
    ----------
    method : str
    value : ndarray or None
        The derivative (gradient with the point's shape, or ``(m, n)`` Jacobian); None if the
        method failed.
    abs_error, rel_error : float
        ``max |d - ref|`` and that divided by ``max |ref|`` (NaN when failed).
    est_error : float
        The method's own estimate of its error (the largest entry of ``error``), beside the
        true error for the numerical methods; NaN where a method reports none.
    nfev : int or None
        Evaluations of the function (forward passes for AD, 0 for compiled symbolic).
    seconds : float
        Median wall time of one call (NaN when failed).
    size : str
        Tape or expression size, where the method reports one.
    status : str
        ``"ok"``, the method's own status, or the error it raised.
    """

    method: str
    value: Any
    abs_error: float
    rel_error: float
    nfev: int | None
    seconds: float
    size: str
    status: str
    est_error: float = float("nan")


@dataclass(frozen=True, eq=False)
class Comparison:
    """A table of methods on one function at one point (see :func:`compare`)."""

    name: str
    x: np.ndarray
    kind: str  # "gradient" or "jacobian"
    reference: Reference
    rows: list[ComparisonRow]
    notes: list[str] = field(default_factory=list)

    COLUMNS = ("method", "derivative", "abs error", "estimated error", "rel error",
               "evaluations", "seconds", "size", "status")

    def __getitem__(self, method: str) -> ComparisonRow:
        for r in self.rows:
            if r.method == method:
                return r
        raise KeyError(f"no row for method {method!r}; rows: {[r.method for r in self.rows]}")

    @property
    def methods(self) -> list[str]:
        """The methods in table order."""
        return [r.method for r in self.rows]

    def table(self) -> list[list[str]]:
        """The rows as text cells, in :attr:`COLUMNS` order."""
        out = []
        for r in self.rows:
            out.append([
                r.method,
                _fmt_value(r.value),
                _fmt(r.abs_error),
                _fmt(r.est_error),
                _fmt(r.rel_error),
                "" if r.nfev is None else str(r.nfev),
                "" if not np.isfinite(r.seconds) else f"{r.seconds:.2e}",
                r.size,
                r.status,
            ])
        return out

    def _title(self) -> str:
        kind = "exact" if self.reference.exact else "approximate (Richardson)"
        return (f"{self.kind} of {self.name} at x = {_fmt_value(self.x)}; reference {kind}: "
                f"{_fmt_value(_ref_value(self))}")

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table (with the reference in a caption line)."""
        lines = [f"*{self._title()}*", "", "| " + " | ".join(self.COLUMNS) + " |",
                 "|" + "---|" * len(self.COLUMNS)]
        for cells in self.table():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines += [f"\n{n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                       for cells in self.table())
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f"<p><em>{html.escape(self._title())}</em></p><table><thead><tr>{head}</tr>"
                f"</thead><tbody>{body}</tbody></table>{notes}")

    def __str__(self) -> str:
        """The table within the terminal's width: statuses as short codes, their messages
        numbered under it (:func:`diffkit.display.comparison_text`)."""

        return comparison_text(self)

    def __repr__(self) -> str:
        return f"Comparison({self.name!r}, methods={self.methods})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        def num(v: Any) -> Any:
            return None if v is None or not np.isfinite(v) else float(v)

        return {
            "function": self.name, "x": self.x.tolist(), "kind": self.kind,
            "reference": _ref_value(self).tolist(), "reference_exact": self.reference.exact,
            "rows": [{"method": r.method,
                      "value": None if r.value is None else np.asarray(r.value).tolist(),
                      "abs_error": num(r.abs_error), "est_error": num(r.est_error),
                      "rel_error": num(r.rel_error),
                      "nfev": r.nfev, "seconds": num(r.seconds), "size": r.size,
                      "status": r.status} for r in self.rows],
            "notes": list(self.notes),
        }

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Bar chart of relative error per method; see :func:`diffkit.plotting.plot_comparison`.
        """
        return plot_comparison(self, ax=ax, **kwargs)


def _ref_value(c: Comparison) -> np.ndarray:
    return c.reference.gradient(c.x.shape) if c.kind == "gradient" else c.reference.value


def _fmt(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    return "0" if v == 0 else f"{v:.1e}"


def _fmt_value(v: Any) -> str:
    if v is None:
        return "—"
    arr = np.asarray(v, dtype=float)
    if arr.size > 4:
        flat = ", ".join(f"{t:.6g}" for t in arr.ravel()[:3])
        return f"[{flat}, ...] ({arr.size} entries)"
    if arr.ndim == 0:
        return f"{float(arr):.10g}"
    return np.array2string(arr, precision=10, separator=", ").replace("\n", "")


def _size(info: dict[str, Any]) -> str:
    parts = []
    for key, label in (("ops", "tape ops"), ("tape_ops", "tape ops"), ("dag_size", "DAG"),
                       ("tree_size", "tree"), ("expression_size", "expr"), ("nodes", "nodes"),
                       ("passes", "passes")):
        if key in info and isinstance(info[key], (int, np.integer)):
            parts.append(f"{label} {int(info[key])}")
    return ", ".join(parts)


def _expression_size(method: Any, spec: Any, x: np.ndarray) -> str:
    """Size of the symbolic method's derivative expression (tree and DAG nodes)."""
    if getattr(method, "family", None) != "symbolic":
        return ""
    try:
        shape = x.shape if spec.nparams == 1 and x.ndim else None
        m = expression_metrics(spec, derivative=True, shape=shape,
                               strategy=getattr(method, "strategy", "dag"))
    except (ImportError, DiffkitError, TypeError, ValueError):
        return ""
    return f"expr tree {m.tree_size}, DAG {m.dag_size}"


def _resolve_methods(methods: Any) -> list[Any]:
    if isinstance(methods, str) and methods == "all":
        return _methods.concrete()
    if isinstance(methods, (str, _methods.Method)):
        methods = [methods]
    try:
        out = list(methods)
    except TypeError:
        raise UnknownMethodError(f"compare(methods={methods!r}): pass 'all', a method name or "
                                 f"a list of names/method objects") from None
    for m in out:
        _methods.get(m)  # raises UnknownMethodError naming it
    return out


def _median_time(call: Any, repeat: int, budget: float) -> float:
    times = []
    t_end = time.perf_counter() + budget
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > t_end:
            break
    return float(np.median(times))


def compare(f: Any, x: Any = None, methods: Any = "all", *, reference: Any = None,
            repeat: int = 5, budget: float = 1.0, args: tuple[Any, ...] = (),
            kwargs: dict[str, Any] | None = None) -> Comparison:
    """Differentiate ``f`` at ``x`` with every method and measure each against the reference.

    Parameters
    ----------
    f : Function, callable or catalogue entry
        A scalar function (gradients are compared) or a vector one (Jacobians). A
        :class:`~diffkit.catalog.CatalogEntry` brings its own point and exact derivative.
    x : array_like, optional
        The point (default: the catalogue entry's point).
    methods : "all", str, Method or sequence
        ``"all"`` is :func:`diffkit.methods.concrete` (every method but ``auto``).
    reference : array_like, optional
        The exact derivative, if you know it; otherwise sympy/mpmath at 50 digits, or
        Richardson extrapolation (marked approximate) for plain numpy code.
    repeat : int
        Timed calls per method after the first (the median is reported).
    budget : float
        Seconds of timing per method at most (at least one call is always timed).
    args : tuple, optional
        Data arguments: ``f`` is called as ``f(x, *args, **kwargs)`` by every method (and the
        hand-written derivative too), and differentiated with respect to ``x`` only.
    kwargs : dict, optional
        Keyword data arguments.

    Returns
    -------
    Comparison
        ``.rows`` (method, value, abs/rel error, the method's estimated error, evaluations,
        seconds, size, status),
        ``.to_markdown()``, ``_repr_html_()``, ``.plot(ax=)``. A method that fails records its
        error in ``status``; compare itself raises only on bad input.

    Examples
    --------
    >>> import diffkit as dk
    >>> c = dk.compare(dk.Function.from_expr("log(x1) + x1*x2 - sin(x2)"), [2.0, 5.0],
    ...                methods=["manual", "central-difference"], repeat=1)
    >>> c["central-difference"].rel_error < 1e-9, c["manual"].status.split(":")[0]
    (True, 'MissingManualError')
    """
    from ..catalog import CatalogEntry  # the catalogue's exact references use this package

    exact_rows = None
    if isinstance(f, CatalogEntry):
        entry = f
        f = entry.function
        if x is None:
            x = entry.point
            exact_rows = entry.exact_float()
        else:
            exact_rows = entry.exact_float(x)
        if "vector" not in entry.tags:
            exact_rows = np.asarray(exact_rows).reshape(1, -1)
    spec = with_data(as_function(f, "compare"), args, kwargs, call="compare(f, x)")
    if x is None:
        raise PointError("compare(f, x): x is required (the point), e.g. compare(f, [2.0, 5.0])")
    if not isinstance(repeat, (int, np.integer)) or repeat < 0:
        raise PointError(f"compare(repeat={repeat!r}): must be a non-negative integer")
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer,
                                                           np.floating)) or not budget >= 0:
        raise PointError(f"compare(budget={budget!r}): the seconds to time each method, a "
                         f"non-negative number (e.g. budget=1.0)")
    xa = as_point(spec, x, "jacobian")
    chosen = _resolve_methods(methods)
    notes: list[str] = []
    missing = [m for m in _methods.METHOD_NAMES if m not in _methods.available()]
    if isinstance(methods, str) and methods == "all" and missing:
        notes.append(f"not in this installation (skipped): {', '.join(missing)}")

    try:
        with checked_evaluation():
            fx = spec.check(spec.call(xa), "jacobian", xa)
    except (DiffkitError, FloatingPointError) as exc:
        raise PointError(f"compare(f, x): {spec.name} cannot be evaluated at x = "
                         f"{_fmt_value(xa)} ({exc}); choose a point inside its domain") from None
    kind = "gradient" if fx.shape == () else "jacobian"

    if reference is not None:
        want_shape = xa.shape if kind == "gradient" else (int(fx.size), int(xa.size))
        try:
            ref_val = np.asarray(reference, dtype=float)
        except (TypeError, ValueError):
            ref_val = None
        if ref_val is None or ref_val.size != int(np.prod(want_shape)) or \
                not np.all(np.isfinite(ref_val)) or (ref_val.ndim == 2 and len(want_shape) == 2
                                                     and ref_val.shape != want_shape):
            raise PointError(
                f"compare(f, x, reference={short_repr(reference)}): reference must be the "
                f"trusted {kind} at x, finite numbers of shape {want_shape}; omit it for the "
                f"exact (symbolic) reference")
        ref_val = ref_val.reshape(-1 if kind == "jacobian" else 1, xa.size)
        ref = Reference(ref_val, np.zeros_like(ref_val), True, "given")
    elif exact_rows is not None:
        ref_val = np.asarray(exact_rows, dtype=float).reshape(-1, xa.size)
        ref = Reference(ref_val, np.abs(ref_val) * 1.1e-16, True, "catalog")
    else:
        ref = reference_jacobian(spec, xa)
        if not ref.exact:
            why = f" ({ref.note})" if "budget" in ref.note else ""
            notes.append(f"reference by Richardson extrapolation, approximate (estimated "
                         f"error {float(np.max(ref.error)):.1e}); errors below that are not "
                         f"resolved{why}")
    want = ref.gradient(xa.shape) if kind == "gradient" else ref.value
    scale = float(np.max(np.abs(want))) if want.size else 0.0

    rows = []
    for m in chosen:
        method = _methods.get(m)
        call = (lambda method=method: method.gradient(spec, xa)) if kind == "gradient" \
            else (lambda method=method: method.jacobian(spec, xa))
        try:
            with np.errstate(all="ignore"):
                r = call()
        except (DiffkitError, ArithmeticError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            rows.append(ComparisonRow(method.name, None, float("nan"), float("nan"), None,
                                      float("nan"), "", f"{type(exc).__name__}: {first}"))
            continue
        with np.errstate(all="ignore"):
            secs = _median_time(call, repeat, budget) if repeat else float("nan")
        val = np.asarray(r.value, dtype=float)
        if val.shape != want.shape:
            val = val.reshape(want.shape) if val.size == want.size else val
        with np.errstate(all="ignore"):
            abs_err = float(np.max(np.abs(val - want))) if val.shape == want.shape \
                else float("nan")
            rel_err = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float("inf"))
        size = _size(r.info) or _expression_size(method, spec, xa)
        est = float("nan") if r.error is None else float(np.max(np.abs(np.asarray(
            r.error, dtype=float)), initial=0.0))
        status = r.status
        ref_err = float(np.max(ref.error, initial=0.0))
        if r.ok and r.error is None and rel_err > 1e-8 and abs_err > 10 * ref_err:
            # a method that promises no estimate (a hand-written derivative, AD) off the
            # reference: its own 'ok' says nothing about that
            status = (f"disagrees with the reference: relative error {rel_err:.2g} (the "
                      f"method reports no error estimate of its own)")
        rows.append(ComparisonRow(method.name, val, abs_err, rel_err, r.nfev, secs, size,
                                  status, est))
    return Comparison(spec.name, xa, kind, ref, rows, notes)


def compare_catalog(entries: Sequence[Any] | None = None, methods: Any = "all", *,
                    repeat: int = 1, progress: Any = None) -> list[Comparison]:
    """:func:`compare` over catalogue entries (default: all of them)."""
    from .. import catalog

    entries = catalog.entries() if entries is None else list(entries)
    out = []
    for e in entries:
        out.append(compare(e, methods=methods, repeat=repeat, budget=0.2))
        if progress is not None:
            progress(e.name)
    return out


def catalog_markdown(comparisons: Sequence[Comparison]) -> str:
    """A function x method matrix of relative errors (markdown), failures named."""
    methods: list[str] = []
    for c in comparisons:
        for m in c.methods:
            if m not in methods:
                methods.append(m)
    lines = ["| function | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for c in comparisons:
        cells = []
        for m in methods:
            try:
                r = c[m]
            except KeyError:
                cells.append("")
                continue
            if r.value is None:
                name = r.status.split(":")[0]
                cells.append("no manual" if name == "MissingManualError" else name)
            else:
                cells.append(_fmt(r.rel_error))
        ref = "" if c.reference.exact else " (approx. ref)"
        lines.append(f"| {c.name}{ref} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
