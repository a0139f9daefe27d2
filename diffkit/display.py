"""How recorded primitives, values and result tables are written as text.

The primal expression (``v-1 * v0``, ``log(v-1)``, ``x[1:]``) and the tangent expression
(``v̇-1 / v-1``) of one row are built from the stanza's ``infix`` and ``partials`` fields, so
the forward tangent table (:mod:`diffkit.methods.forward`) and the reverse adjoint table
(:mod:`diffkit.trace`) write every primitive the same way, and a new stanza needs nothing here.
:func:`format_value` writes the values of both tables and of the graph pictures: 4
significant digits, scientific notation for very small and very large magnitudes, arrays too
long to list by their shape. :func:`comparison_text` writes a comparison as a table that
keeps to the terminal's width, with each status as a short code and the messages under it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import Primitive
from .errors import OutputShapeError

__all__ = ["comparison_text", "cost_text", "expression_text", "format_number", "format_value",
           "index_text", "status_code", "step_error_text", "swell_text", "tangent_text"]

DIGITS = 4
"""Significant digits of the values in trace tables and graph pictures."""


def format_number(v: Any, digits: int = DIGITS) -> str:
    """A real number to ``digits`` significant digits, scientific where ``g`` format puts it.

    Examples
    --------
    >>> [format_number(v) for v in (0.6931471805599453, 10.0, 11.652071, 3.6e-4, 3.6e-5,
    ...                             -123456.0, -0.0, float("inf"))]
    ['0.6931', '10', '11.65', '0.00036', '3.6e-5', '-1.235e+5', '0', 'inf']
    """
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)):
        raise OutputShapeError(f"digits={digits!r}: the significant digits shown, a positive "
                               f"integer (e.g. digits=4)")
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if v == 0:
        return "0"
    text = f"{v:.{max(int(digits), 1)}g}"
    if "e" in text:  # 3.6e-05 -> 3.6e-5: the exponent without padding
        mant, _, exp = text.partition("e")
        text = f"{mant}e{exp[0]}{int(exp[1:])}"
    return text


def format_value(v: Any, digits: int = DIGITS, max_items: int = 4) -> str:
    """A scalar or array as shown in a trace: numbers to ``digits`` significant digits,
    arrays of up to ``max_items`` entries listed, longer ones as ``array[8x3]``.

    Examples
    --------
    >>> format_value(0.00036012), format_value([0.5, 1.0]), format_value(np.ones((8, 3)))
    ('0.0003601', '[0.5, 1]', 'array[8x3]')
    >>> format_value(True), format_value(1 + 2j), format_value(np.eye(2))
    ('True', '1+2j', '[[1, 0], [0, 1]]')
    """
    arr = np.asarray(v)
    if arr.dtype == bool:
        return str(arr.tolist())
    if arr.dtype.kind not in "iufc":
        text = str(v)
        return text if len(text) <= 24 else text[:21] + "..."
    if arr.ndim == 0:
        if arr.dtype.kind == "c":
            z = complex(arr)
            return f"{z:.{max(int(digits), 1)}g}"
        return format_number(arr, digits)
    if arr.size <= max_items and arr.size > 0:
        def nest(a: np.ndarray) -> str:
            if a.ndim == 0:
                return format_value(a, digits)
            return "[" + ", ".join(nest(b) for b in a) + "]"

        return nest(arr)
    return f"array[{'x'.join(str(d) for d in arr.shape)}]"


def index_text(index: Any) -> str:
    """An index as written between brackets (``1:``, ``:, 0``, ``[0, 2]``)."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice):
            a = "" if p.start is None else str(p.start)
            b = "" if p.stop is None else str(p.stop)
            c = "" if p.step is None else f":{p.step}"
            out.append(f"{a}:{b}{c}")
        elif p is None:
            out.append("None")
        elif p is Ellipsis:
            out.append("...")
        elif np.ndim(p):
            out.append(np.array2string(np.asarray(p), separator=", "))
        else:
            out.append(str(p))
    return ", ".join(out)


def expression_text(prim: Primitive, names: list[str], params: dict[str, Any]) -> str:
    """The primal expression of one row: ``v-1 * v0``, ``-v1``, ``x[1:]``, ``sum(v3)``."""
    if prim.infix is not None and len(names) == 2:
        return f"{names[0]} {prim.infix} {names[1]}"
    if prim.infix is not None and len(names) == 1:  # a prefix operator (negation)
        return f"{prim.infix}{names[0]}"
    if "getitem" in prim.operators and len(names) == 1:  # x[index]: Python's subscription
        return f"{names[0]}[{index_text(params['index'])}]"
    shown = [f"{k}={v!r}" for k, v in params.items()
             if v is not None and v is not False and k not in ("dtype", "index")]
    return f"{prim.name}({', '.join([*names, *shown])})"


def _term(tangent: str, partial: str) -> str:
    if partial == "1":
        return tangent
    if partial == "-1":
        return f"-{tangent}"
    if partial.startswith("1 / "):
        return f"{tangent} / {partial[4:]}"
    if partial.startswith("-1 / "):
        return f"-{tangent} / {partial[5:]}"
    if " " in partial or partial.startswith("-"):
        partial = f"({partial})"
    return f"{tangent} * {partial}"


def tangent_text(prim: Primitive, args: tuple[Any, ...], params: dict[str, Any],
                 names: list[str], tangents: list[str], traced: list[bool], result: str) -> str:
    """The tangent of one row as algebra on the arguments' names (display only).

    ``names`` are the arguments' names (constants formatted), ``tangents`` their tangents'
    names, ``traced`` which arguments carry a tangent, ``result`` the row's own name.
    """
    if prim.partials:
        terms = []
        for k, partial in enumerate(prim.partials):
            if k >= len(names) or not traced[k]:
                continue
            text = partial(names, args) if callable(partial) else partial.format(
                *names, y=result)
            terms.append(_term(tangents[k], text))
        if terms:
            return " + ".join(terms).replace("+ -", "- ")
        return "0"
    if prim.linear:  # a linear primitive maps tangents the way it maps values
        shown = [t if tr else n for t, n, tr in zip(tangents, names, traced, strict=True)]
        return expression_text(prim, shown, params)
    return f"jvp_{prim.name}({', '.join(t for t, tr in zip(tangents, traced, strict=True) if tr)})"


# ----------------------------------------------------------------------------- tables

_CODES = {"MissingManualError": "no manual", "NonAnalyticError": "non-analytic",
          "UnsupportedPrimitiveError": "unsupported", "NotTraceableError": "not traceable",
          "SymbolicBranchError": "branches", "OutputShapeError": "output shape",
          "FloatingPointError": "float error", "ZeroDivisionError": "zero division"}


def status_code(status: str) -> str:
    """A status as a short code for a table cell: ``"ok"``, the kind of error
    (``"non-analytic"``, ``"domain"``), or the first words of a warning.

    Examples
    --------
    >>> status_code("ok"), status_code("NonAnalyticError: complex-step: abs(x) uses ...")
    ('ok', 'non-analytic')
    >>> status_code("StencilError: ..."), status_code("one-sided (forward) near a domain edge")
    ('stencil', 'one-sided')
    """
    import re

    status = str(status).strip()
    if status == "ok":
        return "ok"
    head = status.split(":", 1)[0].strip()
    if re.fullmatch(r"[A-Z][A-Za-z]*(Error|Exception|Warning)", head):
        if head in _CODES:
            return _CODES[head]
        words = re.findall(r"[A-Z][a-z]*", re.sub(r"(Error|Exception)$", "", head))
        return "-".join(w.lower() for w in words) or head
    words = re.split(r"[\s;:(,]+", head)
    return words[0][:16] if words and words[0] else status[:16]


def _number_text(v: Any, digits: int) -> str:
    arr = np.asarray(v, dtype=float)
    if arr.ndim == 0:
        return format_number(arr, digits)
    flat = arr.ravel()
    if flat.size > 4:
        return (f"[{', '.join(format_number(t, digits) for t in flat[:3])}, ...] "
                f"({flat.size} entries)")

    def nest(a: np.ndarray) -> str:
        return format_number(a, digits) if a.ndim == 0 else \
            "[" + ", ".join(nest(b) for b in a) + "]"

    return nest(arr)


def _wrapped(text: str, width: int, indent: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, subsequent_indent=indent,
                         break_on_hyphens=False) or [""]


def comparison_text(c: Any, width: int | None = None, *,
                    detail: Any = None) -> str:
    """A :class:`~diffkit.analysis.compare.Comparison` as plain text no wider than ``width``.

    Each row's status is a short code (``ok``, ``non-analytic [1]``); the full messages are
    listed under the table by number. When the columns do not fit, the size and time columns
    are left out and the derivatives shown with fewer digits, then listed under the table, and
    a line says what was left out.

    Parameters
    ----------
    c : Comparison
    width : int, optional
        Characters per line (default: the terminal's width, 100 when unknown; at least 40).
    detail : callable, optional
        Rewrites each message listed under the table (the CLI puts them in its own terms).

    Returns
    -------
    str
    """
    import shutil

    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    width = max(int(width), 40)
    detail = detail or (lambda s: s)
    header = ["method", "derivative", "abs error", "rel error", "evals", "seconds", "size",
              "status"]
    notes: list[str] = []
    status_cells = []
    for r in c.rows:
        code = status_code(r.status)
        if r.status != "ok":
            notes.append(f"[{len(notes) + 1}] {r.method}: {detail(r.status)}")
            code = f"{code} [{len(notes)}]"
        status_cells.append(code)

    def err(v: float) -> str:
        return "—" if v is None or not np.isfinite(v) else ("0" if v == 0 else f"{v:.1e}")

    def cells(digits: int | None, drop: set[str]) -> list[list[str]]:
        rows = [header]
        for r, code in zip(c.rows, status_cells, strict=True):
            value = "—" if r.value is None or digits is None else _number_text(r.value, digits)
            rows.append([r.method, value, err(r.abs_error), err(r.rel_error),
                         "" if r.nfev is None else str(r.nfev),
                         "" if not np.isfinite(r.seconds) else f"{r.seconds:.2e}",
                         r.size, code])
        keep = [i for i, h in enumerate(header)
                if h not in drop and not (h == "derivative" and digits is None)]
        return [[row[i] for i in keep] for row in rows]

    def render(rows: list[list[str]]) -> list[str]:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                for row in rows]

    table: list[str] | None = None
    digits: int | None = 10
    dropped: tuple[str, ...] = ()
    size, secs = ("size",), ("size", "seconds")
    for digits, dropped in ((10, ()), (6, ()), (10, size), (6, size), (4, size), (6, secs),
                            (4, secs), (None, secs), (None, (*secs, "abs error"))):
        table = render(cells(digits, set(dropped)))
        if max(len(line) for line in table) <= width:
            break
    else:  # narrower than any table: one wrapped line per method
        table = []
        for r, code in zip(c.rows, status_cells, strict=True):
            table += _wrapped(f"{r.method}: rel error {err(r.rel_error)}, "
                              f"{'—' if r.nfev is None else r.nfev} evaluations, {code}",
                              width, "    ")
        digits, dropped = None, ("the table's columns",)
    ref = c.reference.gradient(c.x.shape) if c.kind == "gradient" else c.reference.value
    kind = "exact" if c.reference.exact else "approximate (Richardson)"
    out = _wrapped(f"{c.kind} of {c.name} at x = {_number_text(c.x, 10)}; reference {kind}: "
                   f"{_number_text(ref, 10)}", width, "  ")
    out += table
    if digits is None:
        out.append("derivatives:")
        for r in c.rows:
            if r.value is not None:
                out += _wrapped(f"  {r.method}: {_number_text(r.value, 10)}", width, "    ")
    if dropped:
        out += _wrapped(f"(to fit {width} characters, left out: {', '.join(dropped)}"
                        f"{'; derivatives listed above' if digits is None else ''})", width)
    for n in notes:
        out += _wrapped(n, width, "    ")
    for n in getattr(c, "notes", []):
        out += _wrapped(n, width, "  ")
    return "\n".join(out)


def _aligned(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in rows]


def step_error_text(r: Any, notes: bool = True) -> str:
    """A :class:`~diffkit.analysis.step_error.StepErrorResult` as a summary: one line per
    scheme (order, fitted slope, measured and predicted best step, smallest error, steps
    that broke down), then (with ``notes``) why steps broke down and the result's notes.

    Examples
    --------
    >>> import diffkit as dk
    >>> r = dk.analysis.step_error(dk.Function.from_expr("exp(x)"), 1.0)
    >>> print(step_error_text(r).splitlines()[1].split())
    ['scheme', 'p', 'slope', 'optimal', 'h', 'predicted', 'h', 'min', 'error', 'breakdowns']
    """
    ref = "exact" if r.reference_exact else "approximate"
    rows = [["scheme", "p", "slope", "optimal h", "predicted h", "min error", "breakdowns"]]
    why = []
    for row in r.summary():
        rows.append([row["scheme"], str(row["order"]), f"{row['slope']:.2f}",
                     f"{row['optimal_h']:.1e}", f"{row['predicted_h']:.1e}",
                     f"{row['min_error']:.1e}", str(row["breakdowns"])])
        if row["breakdowns"]:
            status = np.asarray(r.status[row["scheme"]])
            kinds = ", ".join(dict.fromkeys(str(s) for s in status if s != "ok"))
            why.append(f"{row['scheme']}: {row['breakdowns']} of {status.size} steps broke "
                       f"down ({kinds}); their errors are NaN")
    lines = [f"d/dx {r.name} at x = {r.x:g}: reference {r.exact:.17g} ({ref}), "
             f"{np.dtype(r.dtype).name}, {np.size(r.h)} steps from {np.min(r.h):.1e} to "
             f"{np.max(r.h):.1e}"]
    lines += _aligned(rows, right=set(range(1, 7)))
    return "\n".join(lines + (why + list(r.notes) if notes else []))


def cost_text(c: Any) -> str:
    """A :class:`~diffkit.analysis.cost.CostResult` as a summary: per method and dimension
    the median seconds of a call and the evaluations, then failures and notes.

    Examples
    --------
    >>> import diffkit as dk
    >>> c = dk.analysis.cost("rosenbrock", [4, 8], ["reverse-mode"], repeat=1)
    >>> print(cost_text(c).splitlines()[1].split())
    ['method', 'n=4', 'n=8']
    """
    dim = "n" if c.kind == "gradient" else "m"
    rows = [["method", *[f"{dim}={int(d)}" for d in c.dims]]]
    failed = []
    for m in c.methods:
        cells = []
        for i in range(len(c.dims)):
            secs, nfev = c.seconds[m][i], c.nfev[m][i]
            if not np.isfinite(secs):
                cells.append(status_code(c.status[m][i]) if c.status[m][i] != "ok" else "—")
                if c.status[m][i] != "ok":
                    failed.append(f"{m} at {dim} = {int(c.dims[i])}: {c.status[m][i]}")
                continue
            cells.append(f"{secs:.1e} s" + ("" if not np.isfinite(nfev) else
                                             f" ({int(nfev)} ev)"))
        rows.append([m, *cells])
    what = f"{c.kind} of {c.family}"
    lines = [f"{what} versus {dim}: median seconds per call (function evaluations)"]
    lines += _aligned(rows, right=set(range(1, len(rows[0]))))
    return "\n".join(lines + failed + list(c.notes))


def swell_text(s: Any) -> str:
    """A :class:`~diffkit.analysis.swell.SwellResult` as an aligned table of sizes, one row
    per depth, then the notes.

    Examples
    --------
    >>> import diffkit as dk
    >>> print(swell_text(dk.analysis.swell("logistic", [1, 2])).splitlines()[0])
    expression swell of logistic versus depth n (nodes / operations; — not computed)
    """
    cols = s.available()
    rows = [["n", *cols]]
    for i, n in enumerate(s.ns):
        rows.append([str(int(n)), *[("—" if not np.isfinite(s.metrics[k][i]) else
                                     f"{int(s.metrics[k][i]):,}") for k in cols]])
    lines = [f"expression swell of {s.family} versus depth n (nodes / operations; — not "
             f"computed)"]
    lines += _aligned(rows, right=set(range(len(rows[0]))))
    return "\n".join(lines + list(s.notes))
