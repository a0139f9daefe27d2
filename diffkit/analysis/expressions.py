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
from ..methods.cse import (
    Canon,
    coef_bits,
    coef_cost,
    cse,
    cse_program,
    is_atom,
    is_number,
    number_value,
    split_mul,
)

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


class _Walk:
    """Memoised per-node quantities over the DAG of some root expressions."""

    def __init__(self, canon: Canon) -> None:
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
            if is_number(e):
                self.bits = max(self.bits, coef_bits(e))
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
            coef, num, den = split_mul(e)
            mults, negative = coef_cost(coef)
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
        if id(a) not in self.size:  # a denominator power b**k built by split_mul
            self.visit(a)
        return self.ops_abs[id(a)] + (1 if self.neg[id(a)] else 0)


def _metrics(roots: list[Any], form: str, label: str, seconds: float) -> ExpressionMetrics:
    canon = Canon()
    walk = _Walk(canon)
    reps = [walk.visit(r) for r in roots]
    _, _, cse_ops = cse_program(reps, canon)
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


def _distinct(reps: list[Any], canon: Canon) -> int:
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
    if time_limit is not None and (isinstance(time_limit, (bool, str)) or not isinstance(
            time_limit, (int, float, np.integer, np.floating)) or not time_limit > 0):
        raise ExpressionError(f"expression_metrics(time_limit={time_limit!r}): must be a "
                              f"positive number of seconds, or None")
    if shape is not None and (not isinstance(shape, tuple) or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1
            for k in shape)):
        raise ExpressionError(f"expression_metrics(shape={shape!r}): the point's shape, a tuple "
                              f"of positive integers (e.g. shape=(3,)), or None for k scalars")
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
