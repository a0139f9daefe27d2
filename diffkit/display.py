"""How a recorded primitive and its values are written in the trace tables.

The primal expression (``v-1 * v0``, ``log(v-1)``, ``x[1:]``) and the tangent expression
(``v̇-1 / v-1``) of one row are built from the stanza's ``infix`` and ``partials`` fields, so
the forward tangent table (:mod:`diffkit.methods.forward`) and the reverse adjoint table
(:mod:`diffkit.trace`) write every primitive the same way, and a new stanza needs nothing here.
:func:`format_value` writes the values of both tables and of the graph pictures: 4
significant digits, scientific notation for very small and very large magnitudes, arrays too
long to list by their shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import Primitive

__all__ = ["expression_text", "format_number", "format_value", "index_text", "tangent_text"]

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
