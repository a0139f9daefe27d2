"""Common-subexpression elimination in time proportional to the DAG (the symbolic method's).

A sympy expression is a tree whose equal subtrees are usually the same Python object: a DAG.
:func:`cse` turns expressions into a straight-line program in which every distinct
subexpression, and every product or sum that extends an earlier one by one factor or term, is
computed once, by a memoised walk over the distinct subexpressions; :mod:`.symbolic` hands it
to ``lambdify`` so compiled derivatives run that program, and
:mod:`diffkit.analysis.expressions` counts its operations (the ``cse_ops`` metric). The walk
works on sympy and on symengine expressions alike.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

__all__ = ["Canon", "cse", "cse_program"]

# ============================================================================ node kinds
# The walks work on sympy and on symengine expressions: both expose ``args`` and the
# ``is_Add``/``is_Mul``/``is_Pow``/``is_Number`` flags.


def is_atom(e: Any) -> bool:
    return not e.args


def is_number(e: Any) -> bool:
    return bool(getattr(e, "is_Number", False))


def number_value(e: Any) -> Any:
    """A sympy number for ``e`` (symengine numbers are converted)."""
    return e if hasattr(e, "p") or hasattr(e, "_prec") else e._sympy_()


def coef_bits(e: Any) -> int:
    n = number_value(e)
    if getattr(n, "is_Rational", False):
        return max(abs(int(n.p)).bit_length(), abs(int(n.q)).bit_length())
    if getattr(n, "is_Float", False):
        return int(getattr(n, "_prec", 53))
    return 0


def split_mul(e: Any) -> tuple[Any, list[Any], list[Any]]:
    """``coefficient, numerator factors, denominator factors`` of a product.

    A factor ``b**-k`` (k a positive number) is the denominator factor ``b**k``: ``a/b`` is one
    division, not a reciprocal and a product.
    """
    coef = None
    num: list[Any] = []
    den: list[Any] = []
    for a in e.args:
        if is_number(a) and coef is None:
            coef = a
        elif a.is_Pow and is_number(a.args[1]) and a.args[1].is_negative:
            base, k = a.args
            den.append(base if -k == 1 else type(a)(base, -k))
        else:
            num.append(a)
    return coef, num, den


def coef_cost(coef: Any) -> tuple[int, bool]:
    """``(multiplications, negative)`` for a numeric coefficient (None = 1)."""
    if coef is None:
        return 0, False
    neg = bool(coef.is_negative)
    return (0 if abs(coef) == 1 else 1), neg


# ============================================================================ sharing
# Structurally equal subexpressions are not always the same Python object (sympy's cache is
# bounded, symengine results are rebuilt). Comparing two such objects with ``==`` recurses
# through the unfolded tree, so a walk keyed on the expressions themselves can turn
# exponential. :class:`Canon` hash-conses bottom-up instead: a compound node is identified by
# its type and the identities of its canonical arguments, so no comparison ever recurses.


class Canon:
    """Maps every expression object to one representative per distinct subexpression."""

    def __init__(self) -> None:
        self.rep: dict[int, Any] = {}  # id(object) -> representative
        self.table: dict[tuple[Any, ...], Any] = {}  # structure -> representative
        self.alive: list[Any] = []  # keeps mapped objects alive, so ids stay unique

    def __call__(self, root: Any) -> Any:
        rep = self.rep
        found = rep.get(id(root))
        if found is not None:
            return found
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            e, done = stack.pop()
            if id(e) in rep:
                continue
            args = e.args
            if not args:
                key: tuple[Any, ...] = ("atom", type(e), e)  # atoms compare cheaply
            elif not done:
                stack.append((e, True))
                stack.extend((a, False) for a in args if id(a) not in rep)
                continue
            else:
                key = (type(e), *(id(rep[id(a)]) for a in args))
            rep[id(e)] = self.table.setdefault(key, e)
            self.alive.append(e)
        return rep[id(root)]

    def args(self, e: Any) -> list[Any]:
        """The representatives of ``e``'s arguments (``e`` already mapped)."""
        rep = self.rep
        return [rep[id(a)] if id(a) in rep else self(a) for a in e.args]


# ============================================================================ one walk


# ============================================================================ CSE


class _Program:
    """A straight-line program being built: ``(symbol, expression)`` assignments."""

    def __init__(self, names: Iterable[str], engine: Any, canon: Canon) -> None:
        self.canon = canon
        self.engine = engine  # the sympy or symengine module: the engine of the roots
        self.symbol = engine.Symbol
        prefix = "_c"
        taken = list(names)
        while any(n.startswith(prefix) for n in taken):
            prefix += "c"
        self.prefix = prefix
        self.assignments: list[tuple[Any, Any]] = []
        self.ops = 0
        self.value: dict[int, Any] = {}  # id(representative) -> symbol or atom with its value
        self.combos: dict[tuple[Any, ...], Any] = {}  # (kind, multiset of items) -> symbol

    def emit(self, expr: Any, cost: int) -> Any:
        s = self.symbol(f"{self.prefix}{len(self.assignments)}")
        self.assignments.append((s, expr))
        self.ops += cost
        return s

    # ------------------------------------------------------------------ nodes
    def visit(self, root: Any) -> Any:
        root = self.canon(root)
        stack: list[tuple[Any, bool]] = [(root, False)]
        value = self.value
        while stack:
            e, done = stack.pop()
            if id(e) in value:
                continue
            if not e.args:
                value[id(e)] = e
                continue
            if not done:
                stack.append((e, True))
                stack.extend((a, False) for a in self._children(e) if id(a) not in value)
                continue
            value[id(e)] = self._node(e)
        return value[id(root)]

    def _children(self, e: Any) -> list[Any]:
        """Representatives of the values ``e`` is computed from."""
        canon = self.canon
        if e.is_Mul:
            _, num, den = split_mul(e)
            return [canon(a) for a in (*num, *den)]
        if e.is_Add:
            out: list[Any] = []
            for t in e.args:
                if t.is_Mul:
                    _, num, den = split_mul(t)
                    out.extend(canon(a) for a in (*num, *den))
                elif not is_number(t):
                    out.append(canon(t))
            return out
        if _is_pairs(e):
            return [canon(x) for pair in e.args for x in pair.args]
        return canon.args(e)

    def _val(self, e: Any) -> Any:
        return self.value[id(self.canon(e))]

    def _scaled(self, coef: Any, v: Any) -> Any:
        """``|coef| * v`` (coefficient 1 is free)."""
        if coef is None or abs(coef) == 1:
            return v
        c = abs(coef)
        key = ("scale", c, v)
        if key not in self.combos:
            self.combos[key] = self.emit(c * v, 1)
        return self.combos[key]

    def _negated(self, v: Any) -> Any:
        key = ("neg", v)
        if key not in self.combos:
            self.combos[key] = self.emit(-v, 1)
        return self.combos[key]

    def _combine(self, kind: str, items: list[tuple[Any, bool]]) -> Any:
        """Sum (kind "add": flag = subtract) or product ("mul": flag = divide) of items.

        A combination that extends an earlier one by one item costs one operation: products
        and sums flattened by sympy (``16*x*(1-x)*(1-l2)``) are rebuilt from their prefixes.
        """
        counts = collections.Counter(items)  # a multiset: x*x (as written) has x twice
        key = (kind, frozenset(counts.items()))
        if key in self.combos:
            return self.combos[key]
        best = None
        for item in counts:
            less = counts.copy()
            less[item] -= 1
            rest = (kind, frozenset((k, n) for k, n in less.items() if n))
            if rest in self.combos:
                best = (self.combos[rest], item)
                break
        if best is not None:
            acc, (v, flag) = best
            expr = _binary(kind, acc, v, flag)
            out = self.emit(expr, 1)
        else:  # built in one call: one flatten, not one per item
            cost = len(items) - 1 + (1 if all(flag for _, flag in items) else 0)
            if kind == "add":
                expr = self.engine.Add(*(-v if flag else v for v, flag in items))
            else:
                expr = self.engine.Mul(*(self.engine.Pow(v, -1) if flag else v
                                         for v, flag in items))
            out = self.emit(expr, cost)
        self.combos[key] = out
        return out

    def _mul_abs(self, coef: Any, num: list[Any], den: list[Any]) -> Any:
        """The value of ``|coef| * prod(num) / prod(den)`` (the sign is the caller's)."""
        items = [(self._val(a), False) for a in num] + [(self._val(a), True) for a in den]
        if len(items) == 1 and not items[0][1]:
            v = items[0][0]
        elif not num and coef is not None and abs(coef) != 1:  # c/x: one division
            key = ("div", abs(coef), frozenset(collections.Counter(items).items()))
            if key not in self.combos:
                den_v = items[0][0] if len(items) == 1 else self._combine(
                    "mul", [(a, False) for a, _ in items])
                self.combos[key] = self.emit(abs(coef) / den_v, 1)
            return self.combos[key]
        else:
            v = self._combine("mul", items)
        return self._scaled(coef, v)

    def _node(self, e: Any) -> Any:
        if e.is_Add:  # a negated term is subtracted, its negation is free
            items: list[tuple[Any, bool]] = []
            for t in e.args:
                if t.is_Mul:
                    coef, num, den = split_mul(t)
                    items.append((self._mul_abs(coef, num, den),
                                  bool(coef is not None and coef.is_negative)))
                elif is_number(t):
                    items.append((abs(t), bool(t.is_negative)))
                else:
                    items.append((self._val(t), False))
            return self._combine("add", items)
        if e.is_Mul:
            coef, num, den = split_mul(e)
            v = self._mul_abs(coef, num, den)
            return self._negated(v) if coef is not None and coef.is_negative else v
        if _is_pairs(e):
            pairs = [(self._val(p.args[0]), self._val(p.args[1])) for p in e.args]
            return self.emit(e.func(*pairs), 1)
        return self.emit(e.func(*(self._val(a) for a in e.args)), 1)


def _is_pairs(e: Any) -> bool:
    """A sympy Piecewise: its arguments are (expression, condition) pairs, not values."""
    return type(e).__name__ == "Piecewise" and type(e.args[0]).__name__ == "ExprCondPair"


def _binary(kind: str, acc: Any, v: Any, flag: bool) -> Any:
    if kind == "add":
        return acc - v if flag else acc + v
    return acc / v if flag else acc * v


def cse_program(roots: list[Any], canon: Canon | None = None
                 ) -> tuple[list[tuple[Any, Any]], list[Any], int]:
    canon = canon or Canon()
    reps = [canon(r) for r in roots]
    names: list[str] = []
    seen: set[int] = set()
    stack = list(reps)
    while stack:  # the free symbols' names, so the program's names cannot clash with them
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if getattr(e, "is_Symbol", False):
            names.append(str(e))
        stack.extend(canon.args(e))
    prog = _Program(names, engine_of(reps), canon)
    reduced = [prog.visit(r) for r in reps]
    return prog.assignments, reduced, prog.ops


def cse(exprs: Any) -> tuple[list[tuple[Any, Any]], Any]:
    """Common-subexpression elimination in time proportional to the DAG.

    Drop-in for ``sympy.cse`` where ``lambdify(..., cse=...)`` takes a callable: returns
    ``(replacements, reduced)`` with ``reduced`` shaped like ``exprs`` (a single expression or
    a list).

    Parameters
    ----------
    exprs : sympy expression or list of them

    Returns
    -------
    replacements : list of (Symbol, expression)
        Assignments in evaluation order; each right-hand side is one operation (or a short
        chain when no earlier partial sum or product could be reused).
    reduced : expression or list
        The inputs in terms of the assigned symbols.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> repl, red = cse([sympy.sin(x) * (1 - sympy.sin(x))])
    >>> len(repl), red[0] == repl[-1][0]
    (3, True)
    """
    single = not isinstance(exprs, (list, tuple))
    roots = [exprs] if single else list(exprs)
    assignments, reduced, _ = cse_program(roots)
    return assignments, (reduced[0] if single else reduced)



def engine_of(roots: list[Any]) -> Any:
    if any(type(r).__module__.startswith("symengine") for r in roots):
        import symengine

        return symengine
    import sympy

    return sympy


