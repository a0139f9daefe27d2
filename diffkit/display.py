"""How a recorded primitive is written in the trace tables, from its stanza.

The primal expression (``v-1 * v0``, ``log(v-1)``, ``x[1:]``) and the tangent expression
(``v̇-1 / v-1``) of one row are built from the stanza's ``infix`` and ``partials`` fields, so
the forward tangent table (:mod:`diffkit.methods.forward`) and the reverse adjoint table
(:mod:`diffkit.trace`) write every primitive the same way, and a new stanza needs nothing here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import Primitive

__all__ = ["expression_text", "index_text", "tangent_text"]


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
