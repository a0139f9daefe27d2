"""Expression size, measured on the shared DAG: the numbers behind *expression swell*.

A sympy expression is a tree whose equal subtrees are usually the same Python object: a DAG.
Counting nodes by walking the unfolded tree (``preorder_traversal``, ``count_ops``) costs time
proportional to the tree, which is exponential in the depth of the logistic map (Baydin et
al. 2018, Table 1). Every metric here is a memoised walk over the *distinct* subexpressions, so
it costs time proportional to the DAG even when the numbers it returns (tree size, unfolded op
count) are astronomically large.

:func:`cse` is diffkit's own common-subexpression elimination built on the same walk: it turns
expressions into a straight-line program in which every distinct subexpression, and every
product or sum that extends an earlier one by one factor or term, is computed once. Its op count
is the ``cse_ops`` metric, and :mod:`diffkit.methods.symbolic` hands it to ``lambdify`` so
compiled derivatives run that program.

Op-count convention (the same for ``ops`` and ``cse_ops``, close to ``sympy.count_ops``): an
n-ary sum or product of ``k`` items costs ``k - 1`` operations; ``a - b`` is one subtraction and
``a / b`` one division (the negation and the reciprocal are not counted separately); a numeric
coefficient other than 1 costs one multiplication, a lone ``-`` one negation; a power, a
function call, a relation or a ``Piecewise`` costs one operation. Atoms (symbols, numbers) cost
nothing.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DiffkitError

__all__ = ["ExpressionMetrics", "cse", "expression_metrics", "measure"]

FORMS = ("nested", "expanded")
ENGINES = ("sympy", "symengine")


@dataclass(frozen=True)
class ExpressionMetrics:
    """Sizes of an expression (or of several expressions sharing one DAG).

    Attributes
    ----------
    tree_size : int
        Nodes of the unfolded tree, atoms included (``len(list(preorder_traversal(e)))``).
    dag_size : int
        Distinct subexpressions, atoms included (``len(set(preorder_traversal(e)))``).
    ops : int
        Arithmetic operations of the unfolded tree (the convention of the module docstring).
    cse_ops : int
        Operations of the straight-line program built by :func:`cse`: what evaluating the
        expression costs once common subexpressions are shared.
    depth : int
        Longest path from the root to an atom, in edges (an atom has depth 0).
    max_coef_bits : int
        Bits of the largest integer in a numeric coefficient (numerator or denominator).
    form : str
        ``"nested"`` (as built) or ``"expanded"`` (the expanded polynomial).
    status : str
        ``"ok"``, or why the numbers are missing (``"timeout after 10 s"``); missing sizes are -1.
    seconds : float
        Time spent building and measuring the measured form (expansion included).
    label : str
        What was measured (``"f"``, ``"f' (dag)"``, ...).
    """

    tree_size: int
    dag_size: int
    ops: int
    cse_ops: int
    depth: int
    max_coef_bits: int
    form: str = "nested"
    status: str = "ok"
    seconds: float = 0.0
    label: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for tables)."""
        return dataclasses.asdict(self)


# ============================================================================ node kinds
# The walks work on sympy and on symengine expressions: both expose ``args`` and the
# ``is_Add``/``is_Mul``/``is_Pow``/``is_Number`` flags.


def _is_atom(e: Any) -> bool:
    return not e.args


def _is_number(e: Any) -> bool:
    return bool(getattr(e, "is_Number", False))


def _number_value(e: Any) -> Any:
    """A sympy number for ``e`` (symengine numbers are converted)."""
    return e if hasattr(e, "p") or hasattr(e, "_prec") else e._sympy_()


def _coef_bits(e: Any) -> int:
    n = _number_value(e)
    if getattr(n, "is_Rational", False):
        return max(abs(int(n.p)).bit_length(), abs(int(n.q)).bit_length())
    if getattr(n, "is_Float", False):
        return int(getattr(n, "_prec", 53))
    return 0


def _split_mul(e: Any) -> tuple[Any, list[Any], list[Any]]:
    """``coefficient, numerator factors, denominator factors`` of a product.

    A factor ``b**-k`` (k a positive number) is the denominator factor ``b**k``: ``a/b`` is one
    division, not a reciprocal and a product.
    """
    coef = None
    num: list[Any] = []
    den: list[Any] = []
    for a in e.args:
        if _is_number(a) and coef is None:
            coef = a
        elif a.is_Pow and _is_number(a.args[1]) and a.args[1].is_negative:
            base, k = a.args
            den.append(base if -k == 1 else type(a)(base, -k))
        else:
            num.append(a)
    return coef, num, den


def _coef_cost(coef: Any) -> tuple[int, bool]:
    """``(multiplications, negative)`` for a numeric coefficient (None = 1)."""
    if coef is None:
        return 0, False
    neg = bool(coef.is_negative)
    return (0 if abs(coef) == 1 else 1), neg


# ============================================================================ sharing
# Structurally equal subexpressions are not always the same Python object (sympy's cache is
# bounded, symengine results are rebuilt). Comparing two such objects with ``==`` recurses
# through the unfolded tree, so a walk keyed on the expressions themselves can turn
# exponential. :class:`_Canon` hash-conses bottom-up instead: a compound node is identified by
# its type and the identities of its canonical arguments, so no comparison ever recurses.


class _Canon:
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


class _Walk:
    """Memoised per-node quantities over the DAG of some root expressions."""

    def __init__(self, canon: _Canon) -> None:
        self.canon = canon
        self.size: dict[int, int] = {}  # keyed by id of the representative
        self.depth: dict[int, int] = {}
        self.ops_abs: dict[int, int] = {}  # ops without a leading negation
        self.neg: dict[int, bool] = {}  # the node is a product with a negative coefficient
        self.bits = 0

    def visit(self, root: Any) -> Any:
        """Walk ``root`` (iteratively: deep expressions do not hit the recursion limit)."""
        canon, size = self.canon, self.size
        root = canon(root)
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            e, done = stack.pop()
            if id(e) in size:
                continue
            args = canon.args(e)
            if not done and args:
                stack.append((e, True))
                stack.extend((a, False) for a in args if id(a) not in size)
                continue
            self._finish(e, args)
        return root

    def _finish(self, e: Any, args: list[Any]) -> None:
        size, depth, ops_abs, neg = self.size, self.depth, self.ops_abs, self.neg
        k = id(e)
        if not args:
            size[k], depth[k], ops_abs[k], neg[k] = 1, 0, 0, False
            if _is_number(e):
                self.bits = max(self.bits, _coef_bits(e))
            return
        size[k] = 1 + sum(size[id(a)] for a in args)
        depth[k] = 1 + max(depth[id(a)] for a in args)
        if e.is_Add:
            # k terms: k - 1 additions/subtractions; a negated term is a subtraction
            total = len(args) - 1 + sum(ops_abs[id(a)] for a in args)
            if all(neg[id(a)] for a in args):
                total += 1  # -(a + b): one negation left over
            ops_abs[k], neg[k] = total, False
        elif e.is_Mul:
            coef, num, den = _split_mul(e)
            mults, negative = _coef_cost(coef)
            factors = [self.canon(a) for a in num + den]
            total = max(len(factors) - 1, 0) + mults + sum(self._op(a) for a in factors)
            if not num:  # 2/x, 1/x: one division even without a numerator factor
                total += 1 if not mults else 0
            ops_abs[k], neg[k] = total, negative
        else:  # power, function, relation, Piecewise, ...: one operation
            ops_abs[k] = 1 + sum(self._op(a) for a in args)
            neg[k] = False

    def _op(self, a: Any) -> int:
        """Ops of ``a`` (a representative) as a standalone value; its negation counts."""
        if id(a) not in self.size:  # a denominator power b**k built by _split_mul
            self.visit(a)
        return self.ops_abs[id(a)] + (1 if self.neg[id(a)] else 0)


def _metrics(roots: list[Any], form: str, label: str, seconds: float) -> ExpressionMetrics:
    canon = _Canon()
    walk = _Walk(canon)
    reps = [walk.visit(r) for r in roots]
    _, _, cse_ops = _cse_program(reps, canon)
    return ExpressionMetrics(
        tree_size=int(sum(walk.size[id(r)] for r in reps)),
        dag_size=_distinct(reps, canon),
        ops=int(sum(walk._op(r) for r in reps)),
        cse_ops=cse_ops,
        depth=max((walk.depth[id(r)] for r in reps), default=0),
        max_coef_bits=walk.bits,
        form=form,
        seconds=seconds,
        label=label,
    )


def _distinct(reps: list[Any], canon: _Canon) -> int:
    """Distinct subexpressions below the representatives ``reps``, atoms included."""
    seen: set[int] = set()
    stack = list(reps)
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        stack.extend(canon.args(e))
    return len(seen)


# ============================================================================ CSE


class _Program:
    """A straight-line program being built: ``(symbol, expression)`` assignments."""

    def __init__(self, names: Iterable[str], engine: Any, canon: _Canon) -> None:
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
        self.combos: dict[tuple[Any, ...], Any] = {}  # (kind, frozenset of items) -> symbol

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
            _, num, den = _split_mul(e)
            return [canon(a) for a in (*num, *den)]
        if e.is_Add:
            out: list[Any] = []
            for t in e.args:
                if t.is_Mul:
                    _, num, den = _split_mul(t)
                    out.extend(canon(a) for a in (*num, *den))
                elif not _is_number(t):
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
        key = (kind, frozenset(items))
        if key in self.combos:
            return self.combos[key]
        best = None
        for item in items:
            rest = (kind, key[1] - {item})
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
            key = ("div", abs(coef), frozenset(items))
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
                    coef, num, den = _split_mul(t)
                    items.append((self._mul_abs(coef, num, den),
                                  bool(coef is not None and coef.is_negative)))
                elif _is_number(t):
                    items.append((abs(t), bool(t.is_negative)))
                else:
                    items.append((self._val(t), False))
            return self._combine("add", items)
        if e.is_Mul:
            coef, num, den = _split_mul(e)
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


def _cse_program(roots: list[Any], canon: _Canon | None = None
                 ) -> tuple[list[tuple[Any, Any]], list[Any], int]:
    canon = canon or _Canon()
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
    prog = _Program(names, _engine(reps), canon)
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
    assignments, reduced, _ = _cse_program(roots)
    return assignments, (reduced[0] if single else reduced)


# ============================================================================ public


def _engine(roots: list[Any]) -> Any:
    if any(type(r).__module__.startswith("symengine") for r in roots):
        import symengine

        return symengine
    import sympy

    return sympy


def _to_sympy(e: Any) -> Any:
    """symengine -> sympy where needed (structural conversion; never parses text)."""
    if hasattr(e, "_sympy_") and not hasattr(e, "_hashable_content"):
        return e._sympy_()
    return e


def _roots(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    if isinstance(value, (list, tuple)):
        out: list[Any] = []
        for v in value:
            out.extend(_roots(v))
        return out
    if hasattr(value, "is_Matrix") and value.is_Matrix:
        return list(value)
    return [value]


def measure(expr: Any, *, form: str = "nested", label: str = "") -> ExpressionMetrics:
    """Metrics of a sympy (or symengine) expression, a list or an object array of them.

    Parameters
    ----------
    expr : expression, list of expressions, or ndarray of expressions
        Several expressions are measured as one program (shared subexpressions count once
        in ``dag_size`` and ``cse_ops``).
    form : str
        Only a label here; :func:`expression_metrics` does the expansion.
    label : str
        Stored in the result.

    Returns
    -------
    ExpressionMetrics

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> m = measure(sympy.sin(x) * x + x)
    >>> m.tree_size, m.dag_size, m.ops, m.cse_ops, m.depth
    (6, 4, 3, 3, 3)
    """
    t0 = time.perf_counter()
    m = _metrics(_roots(expr), form, label, 0.0)
    return dataclasses.replace(m, seconds=time.perf_counter() - t0)


def _expanded_metrics(roots: list[Any], label: str) -> ExpressionMetrics:
    import sympy

    t0 = time.perf_counter()
    expanded = [sympy.expand(r) for r in roots]
    m = _metrics(expanded, "expanded", label, 0.0)
    return dataclasses.replace(m, seconds=time.perf_counter() - t0)


def _missing(form: str, label: str, status: str, seconds: float) -> ExpressionMetrics:
    return ExpressionMetrics(-1, -1, -1, -1, -1, -1, form=form, status=status, seconds=seconds,
                             label=label)


def _expanded_with_limit(roots: list[Any], label: str, time_limit: float | None
                         ) -> ExpressionMetrics:
    """Expand in a child process that is stopped after ``time_limit`` seconds.

    Expansion cannot be interrupted from inside (sympy holds the interpreter in long C-level
    loops of big-integer arithmetic), so it runs in a forked child; on timeout the child is
    terminated and the metrics report the timeout instead of hanging the caller.
    """
    import multiprocessing as mp

    if time_limit is None or "fork" not in mp.get_all_start_methods():
        return _expanded_metrics(roots, label)
    ctx = mp.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    t0 = time.perf_counter()
    proc = ctx.Process(target=_child_expand, args=(roots, label, writer), daemon=True)
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork with threads running;
        # the child only expands and measures, then exits without touching shared locks
        warnings.filterwarnings("ignore", message=".*fork", category=DeprecationWarning)
        proc.start()
    writer.close()
    try:
        if reader.poll(time_limit):
            try:
                status, payload = reader.recv()
            except EOFError:
                status, payload = "error", "the expanding process exited without a result"
        else:
            status, payload = "timeout", None
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
        reader.close()
    if status == "ok":
        return dataclasses.replace(ExpressionMetrics(**payload), seconds=time.perf_counter() - t0)
    if status == "timeout":
        return _missing("expanded", label, f"timeout after {time_limit:g} s",
                        time.perf_counter() - t0)
    raise ExpressionError(f"expanding {label or 'the expression'} failed: {payload}")


def _child_expand(roots: list[Any], label: str, conn: Any) -> None:  # pragma: no cover - child
    try:
        m = _expanded_metrics(roots, label)
        conn.send(("ok", m.as_dict()))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
        os._exit(0)


class ExpressionError(DiffkitError, ValueError):
    """Bad arguments to :func:`expression_metrics`."""


def expression_metrics(
    f: Any,
    derivative: bool = False,
    strategy: str = "dag",
    form: str = "nested",
    *,
    engine: str = "sympy",
    shape: tuple[int, ...] | None = None,
    time_limit: float | None = 10.0,
) -> ExpressionMetrics:
    """Size of a function's expression, or of its derivative, measured on the shared DAG.

    Parameters
    ----------
    f : Function, callable, or sympy expression
        A spec (interpreted on sympy symbols by :mod:`diffkit.methods.symbolic`) or an
        expression to measure directly.
    derivative : bool
        Measure the derivative (gradient or Jacobian entries) instead of ``f``.
    strategy : {"dag", "tree"}
        How the derivative is built (see :class:`diffkit.methods.Symbolic`): ``"tree"`` is
        ``sympy.diff`` on the expression and shows the swell, ``"dag"`` differentiates the
        shared program and grows like automatic differentiation.
    form : {"nested", "expanded"}
        ``"expanded"`` measures the expanded polynomial (Baydin et al. Table 1's "simplified"
        column) computed in a child process stopped after ``time_limit`` seconds.
    engine : {"sympy", "symengine"}
        ``"symengine"`` builds the tree derivative with symengine (much faster); the metrics
        are the same.
    shape : tuple, optional
        Shape of the point for a one-parameter spec that takes an array.
    time_limit : float or None
        Seconds allowed for ``form="expanded"``; on timeout the sizes are -1 and ``status``
        says so. None waits for ever.

    Returns
    -------
    ExpressionMetrics

    Examples
    --------
    >>> import diffkit as dk
    >>> from diffkit.catalog import logistic
    >>> f = logistic(4).function
    >>> m = dk.analysis.expression_metrics(f)
    >>> m.tree_size, m.dag_size, m.cse_ops
    (38, 13, 9)
    >>> dk.analysis.expression_metrics(f, derivative=True, strategy="tree").tree_size
    166
    """
    if form not in FORMS:
        raise ExpressionError(f"expression_metrics(form={form!r}): choose one of {FORMS}")
    if engine not in ENGINES:
        raise ExpressionError(f"expression_metrics(engine={engine!r}): choose one of "
                              f"{ENGINES}")
    if time_limit is not None and not (time_limit > 0):
        raise ExpressionError(f"expression_metrics(time_limit={time_limit!r}): must be a "
                              f"positive number of seconds, or None")
    from ..methods import symbolic

    t0 = time.perf_counter()
    if symbolic.is_expression(f):
        if derivative:
            raise ExpressionError("expression_metrics(expr, derivative=True): pass a Function "
                                  "to measure its derivative; an expression is measured as is")
        roots, label = _roots(f), "expression"
    else:
        method = symbolic.Symbolic(strategy=strategy, engine=engine)
        if derivative:
            roots = _roots(method.derivative_expressions(f, shape=shape))
            label = f"f' ({strategy})"
        else:
            roots = _roots(method.expression(f, shape=shape))
            label = "f"
    built = time.perf_counter() - t0
    if form == "expanded":
        m = _expanded_with_limit([_to_sympy(r) for r in roots], label, time_limit)
        return dataclasses.replace(m, seconds=m.seconds + built)
    m = measure(roots, label=label)
    return m
