"""The symbolic method: run the spec on sympy symbols, differentiate the formula exactly.

The spec is interpreted by :class:`SymbolicTrace`: every ``dnp`` primitive applies its
``symbolic`` rule (sympy functions, elementwise over numpy object arrays), and each application
is recorded as one node of a straight-line program. Numbers in the spec become exact sympy
numbers (``0.1`` becomes ``1/10``, the decimal that was written).

Two strategies build the derivative:

``"tree"``
    ``sympy.diff`` on the finished expression: the classical method. The expression is a tree,
    and the derivative of a product of ``n`` nested factors has ``n`` terms that each repeat
    the factors: *expression swell* (Baydin et al. 2018, Table 1).
``"dag"``
    Reverse accumulation over the recorded program (the registry's VJP rules applied to
    symbolic values), so every shared subexpression is differentiated once and the derivative
    program grows like the function's (Laue 2019, arXiv 1904.02990): what reverse-mode AD costs.

Evaluation goes through ``lambdify(..., cse=...)`` with :func:`diffkit.methods.cse.cse`
(a common-subexpression elimination in time proportional to the DAG), compiled once per spec,
shape and strategy, and cached by the method per spec (``_TRACES``).
"""

from __future__ import annotations

import inspect
import linecache
import math
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
from sympy.core.parameters import evaluate as _evaluation

from ..budget import BudgetError, limited
from ..core import REGISTRY, Primitive, Trace, Tracer, library_routes, located_domain_error
from ..errors import (
    DiffkitError,
    DomainError,
    NotTraceableError,
    OutputShapeError,
    SymbolicBranchError,
    UnknownMethodError,
    UnsupportedPrimitiveError,
)
from ..freevalues import free_values, free_values_unchanged
from ..parse import check_name
from ..primitives import ops
from ..results import DerivativeResult
from ..spec import Function, check_derivative, check_output, check_value
from ..validation import as_function, not_scalar
from .base import Method
from .cse import cse

__all__ = [
    "STRATEGIES",
    "Symbolic",
    "SymbolicTrace",
    "SymbolicTracer",
    "is_expression",
    "sympy_form",
]

STRATEGIES = ("dag", "tree")
EXACT_DIGITS = 8
"""A float constant with at most this many significant digits is read as the decimal the user
wrote (an exact rational); longer ones were computed in floating point and stay Floats."""
TIME_LIMIT = 10.0
"""Default seconds the symbolic method may spend on one function (construction,
differentiation and compilation); see :mod:`diffkit.budget`."""
EVALUATED_SHARE = 0.2
"""Share of the time budget the dag strategy spends building with sympy's simplification
before rebuilding the program as written."""
EVALUATED_SECONDS = 5.0
"""The same, in seconds, when there is no time limit."""
MEMORY_LIMIT = 2048.0
"""Default megabytes of memory growth the symbolic method may use on one function."""
ENGINES = ("sympy", "symengine")

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INTERNAL_DIRS = (os.path.join(_HERE, "primitives") + os.sep,)
_INTERNAL = {os.path.join(_HERE, "core.py"), os.path.abspath(__file__),
             os.path.join(_HERE, "numpy.py"), os.path.join(_HERE, "spec.py")}


def _internal(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path in _INTERNAL or path.startswith(_INTERNAL_DIRS)


# ============================================================================ the trace


class _Node:
    """One primitive application of the recorded program."""

    __slots__ = ("args", "index", "params", "prim")

    def __init__(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any],
                 index: int) -> None:
        self.prim, self.args, self.params, self.index = prim, args, params, index


class SymbolicTracer(Tracer):
    """A sympy value (scalar expression or object array) inside a :class:`SymbolicTrace`."""

    __slots__ = ("_trace", "node", "value")

    def __init__(self, trace: SymbolicTrace, value: Any, node: _Node | None) -> None:
        self._trace = trace
        self.value = value
        self.node = node

    @property
    def _value(self) -> Any:
        return self.value

    @property
    def dtype(self) -> Any:
        # a sympy expression stands for a real float64 value (np.finfo(x.dtype).eps, or
        # x.dtype.kind == "f", see what the other methods see), not numpy's object dtype
        return _FLOAT64

    def __repr__(self) -> str:
        return f"<symbolic {_brief(self.value)}>"


_FLOAT64 = np.dtype(np.float64)


def _brief(value: Any, limit: int = 200) -> str:
    """``str(value)`` for small expressions; printing a swollen tree would take for ever."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if isinstance(value, sympy.Basic):
        for count, _ in enumerate(sympy.preorder_traversal(value)):  # lazy: stops at limit
            if count > limit:
                return f"{type(value).__name__} of more than {limit} nodes"
    text = str(value)
    return text if len(text) < 60 else text[:57] + "..."


def _exact(v: Any) -> Any:
    """A plain number or array as exact sympy values (``0.1`` -> ``1/10``)."""
    if isinstance(v, sympy.Basic):
        return v
    if isinstance(v, np.ndarray):
        if v.dtype == object:
            return np.vectorize(_exact, otypes=[object])(v) if v.size else v
        out = np.empty(v.shape, dtype=object)
        for idx in np.ndindex(v.shape):
            out[idx] = _exact(v[idx].item())
        return out
    if isinstance(v, (bool, np.bool_)):
        return sympy.true if v else sympy.false
    if isinstance(v, (int, np.integer)):
        return sympy.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not np.isfinite(f):
            # a constant computed outside its domain (a branch np.where discards): it stays
            # what it is; if it reaches the output, evaluation names it
            return sympy.nan if np.isnan(f) else (sympy.oo if f > 0 else -sympy.oo)
        if f.is_integer():
            return sympy.Integer(int(f))
        text = repr(f)
        if len(text.replace("-", "").replace(".", "").lstrip("0")) <= EXACT_DIGITS \
                and "e" not in text:
            return sympy.Rational(text)  # a short decimal, as written: 0.1 is 1/10
        # a constant computed in floating point (np.cosh(1.5)): its exact binary value, kept
        # as a Float (an exact rational would carry a 2**52-sized denominator into the algebra)
        return sympy.Float(f, precision=53)
    if isinstance(v, (complex, np.complexfloating)):
        raise NotTraceableError(f"the complex constant {v!r} is not supported by "
                                f"method='symbolic'; diffkit differentiates real functions")
    return v


def _scalar_array(v: Any) -> np.ndarray:
    """A sympy scalar as a 0-d object array (so arithmetic with arrays broadcasts)."""
    out = np.empty((), dtype=object)
    out[()] = v
    return out


def _settle_one(v: Any) -> Any:
    if isinstance(v, sympy.core.relational.Relational) and not v.free_symbols:
        return v.func(*v.args)  # evaluated: true or false
    return v


def _settle(out: Any) -> Any:
    """Relations between numbers (``3/4 > 3/10``, left after cancellation) as true/false.

    Left unevaluated they reach ``Piecewise``, whose simplification then fails inside sympy
    ("Invalid comparison of non-real zoo").
    """
    if isinstance(out, np.ndarray):
        return np.vectorize(_settle_one, otypes=[object])(out) if out.size else out
    return _settle_one(out)


class SymbolicTrace(Trace):
    """Interprets primitives with their sympy rules and records the straight-line program."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def new(self, value: Any, node: _Node | None = None) -> SymbolicTracer:
        return SymbolicTracer(self, value, node)

    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        if prim.symbolic is None:
            raise UnsupportedPrimitiveError(
                f"primitive {prim.name!r} has no symbolic rule, so method='symbolic' cannot "
                f"interpret it; use method='reverse-mode' or a numerical method"
            )
        if prim.numeric is np.add and len(args) == 2 and all(_truth(a, self) for a in args):
            return ops.logical_or(*args)  # numpy's mask + mask is their logical or
        values = []
        for i, a in enumerate(args):
            if isinstance(a, SymbolicTracer) and a._trace is self:
                if _has_relation(a.value) and prim.vjp is not None and not (
                        i < len(prim.vjp) and prim.vjp[i] is None and not prim.variadic):
                    # a comparison in arithmetic (x**2 * (x > 0), np.mean(x > 0)): the number
                    # numpy makes of it, where(x > 0, 1, 0), recorded as such for the sweep
                    a = ops.where(a, 1.0, 0.0)
                    args = (*args[:i], a, *args[i + 1:])
                values.append(a.value)
            elif isinstance(a, Tracer):
                raise NotTraceableError(
                    f"{prim.name}: a value traced by another method reached the symbolic "
                    f"trace; nest symbolic differentiation outside other methods, not inside"
                )
            else:
                keeps_bool = prim.vjp is not None and i < len(prim.vjp) and prim.vjp[i] is None \
                    and not prim.variadic  # a condition (where's first argument) stays boolean
                if not keeps_bool and (isinstance(a, (bool, np.bool_)) or (
                        isinstance(a, np.ndarray) and a.dtype == bool)):
                    a = np.asarray(a, dtype=int) if isinstance(a, np.ndarray) else int(a)
                    # a bool in arithmetic is 0 or 1 (sympy's true/false refuse arithmetic)
                values.append(_exact(a))
        if any(isinstance(v, np.ndarray) and v.ndim for v in values):
            # a sympy number next to an array: numpy's broadcasting, entry by entry (sympy's
            # own operators do not defer to numpy when built without evaluation)
            values = [_scalar_array(v) if isinstance(v, sympy.Basic) else v for v in values]
        out = prim.symbolic(*values, **params)
        if isinstance(out, np.ndarray) and out.ndim == 0 and out.dtype == object:
            out = out[()]
        out = _exact(out) if not isinstance(out, np.ndarray) or out.dtype != object else out
        if not prim.differentiable:  # comparisons, sign: settle relations between numbers
            out = _settle(out)
        self.count += 1
        return self.new(out, _Node(prim, args, params, self.count))

    def to_bool(self, tracer: Tracer) -> bool:
        where, source = _caller()
        raise SymbolicBranchError(
            f"{where}: Python control flow branched on a symbolic value "
            f"(bool({_short(tracer)})){source}. Symbolic differentiation needs a closed form, "
            f"one formula for every input, while reverse-mode follows the control flow taken "
            f"at the point: use method='reverse-mode', or write the branch as "
            f"dnp.where(condition, a, b)"
        )


_TRUTH = (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanAtom,
          sympy.logic.boolalg.BooleanFunction)  # (not Boolean: a Symbol is one too)


def _truth(a: Any, trace: SymbolicTrace) -> bool:
    """A boolean mask: a traced truth value of ``trace``, or a plain bool or bool array."""
    if isinstance(a, SymbolicTracer) and a._trace is trace:
        return _has_relation(a.value)
    return isinstance(a, (bool, np.bool_)) or (isinstance(a, np.ndarray) and a.dtype == bool)


def _has_relation(v: Any) -> bool:
    """A sympy truth value (a relation between symbols, true, false, And/Or/Not of them), or
    an array holding one."""
    if isinstance(v, np.ndarray):
        return v.dtype == object and any(isinstance(e, _TRUTH) for e in v.flat)
    return isinstance(v, _TRUTH)


def _short(tracer: Tracer) -> str:
    return _brief(getattr(tracer, "value", tracer))


def _caller() -> tuple[str, str]:
    """``file:line`` and the source text of the user code that called ``bool()``."""
    frame = inspect.currentframe()
    try:
        while frame is not None and _internal(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is None:  # pragma: no cover - always called from user code
            return "<unknown>", ""
        filename, line = frame.f_code.co_filename, frame.f_lineno
        text = linecache.getline(filename, line).strip()
        return f"{filename}:{line} (in {frame.f_code.co_name})", f" at `{text}`" if text else ""
    finally:
        del frame


def is_expression(obj: Any) -> bool:
    """True for sympy/symengine expressions, matrices and object arrays of them."""
    if isinstance(obj, np.ndarray):
        return obj.dtype == object
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(is_expression(o) for o in obj)
    return isinstance(obj, sympy.Basic) or type(obj).__module__.startswith("symengine") \
        or isinstance(obj, sympy.MatrixBase)


# ============================================================================ tracing a spec


class _Traced:
    """A spec run on symbols: inputs, output and the recorded program."""

    def __init__(self, spec: Function, shape: tuple[int, ...] | None, evaluated: bool = True
                 ) -> None:
        names = [check_name(p, "parameter") for p in spec.parameters]
        self.free: tuple[Any, ...] = ()  # what f read from outside its arguments (_traced)
        self.store: dict[Any, Any] = {}  # derivative expressions, compiled functions
        # evaluated: sympy simplifies as it builds (readable forms, swell metrics); not
        # evaluated: expressions kept as built, which keeps long programs linear in size
        self.evaluated = evaluated
        self.trace = trace = SymbolicTrace()
        self.shape = shape
        if spec.nparams == 1 and shape:  # one array parameter: one symbol per entry
            flat = [sympy.Symbol(check_name(f"{names[0]}_{'_'.join(map(str, idx))}"),
                                 real=True) for idx in np.ndindex(shape)]
            arr = np.empty(len(flat), dtype=object)
            arr[:] = flat
            self.symbols = tuple(flat)
            self.inputs = [trace.new(arr.reshape(shape))]
        else:
            self.symbols = tuple(sympy.Symbol(n, real=True) for n in names)
            self.inputs = [trace.new(s) for s in self.symbols]
        with _evaluation(evaluated), library_routes():
            out = spec.output(spec.fn(*self.inputs))
        if isinstance(out, (bool, np.bool_, str)) or (isinstance(out, np.ndarray)
                                                      and out.dtype.kind not in "iuf") or \
                not isinstance(out, (SymbolicTracer, int, float, np.number, np.ndarray)):
            check_value(out, spec.name, "symbolic")
        if isinstance(out, SymbolicTracer):  # a comparison on the symbols: f returned a bool
            vals = out.value.ravel() if isinstance(out.value, np.ndarray) else [out.value]
            logical = (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanAtom,
                       sympy.logic.boolalg.BooleanFunction)  # not Boolean: a Symbol is one
            if any(isinstance(v, logical) for v in vals):
                check_value(np.True_, spec.name, "symbolic")
        if not isinstance(out, SymbolicTracer):
            out = trace.new(_exact(out if not isinstance(out, (int, float)) else float(out)))
        self.output = out
        value = out.value
        self.out_shape: tuple[int, ...] = value.shape if isinstance(value, np.ndarray) else ()

    @property
    def expr(self) -> Any:
        return self.output.value

    def outputs(self) -> list[Any]:
        v = self.expr
        return list(v.ravel()) if isinstance(v, np.ndarray) else [v]

    def input_adjoints(self, seed_index: int | None, out: SymbolicTracer | None = None
                       ) -> list[Any]:
        """Reverse accumulation from one output entry: d out / d symbol, one per symbol.

        The VJP rules run on symbolic tracers, so the adjoints are recorded on the same
        program: the gradient is itself a program that a second sweep differentiates again
        (the Hessian).
        """
        with _evaluation(self.evaluated):
            return self._input_adjoints(seed_index, out)

    def _input_adjoints(self, seed_index: int | None, out: SymbolicTracer | None) -> list[Any]:
        out = self.output if out is None else out
        trace = self.trace
        if isinstance(out.value, np.ndarray):
            seed = np.full(out.value.shape, sympy.Integer(0), dtype=object)
            seed.ravel()[seed_index or 0] = sympy.Integer(1)
        else:
            seed = sympy.Integer(1)
        adjoint: dict[int, Any] = {id(out): trace.new(seed)}
        memo: dict[Any, bool] = {}
        order = _ancestors(out)
        # an infinite partial (0 * inf below a where) needs a primitive defined on part of the
        # line only, upstream of the contribution: where each is undefined (see _annihilated)
        undefined = _undefined_where(order)
        for t in order:
            g = adjoint.pop(id(t), None)
            if g is None or t.node is None:
                if g is not None:
                    adjoint[id(t)] = g  # an input: keep its adjoint
                continue
            node = t.node
            for i, a in enumerate(node.args):
                if not (isinstance(a, SymbolicTracer) and a._trace is trace):
                    continue
                rule = node.prim.vjp_rule(i)
                if rule is None:
                    continue
                contribution = rule(g, t, *node.args, **node.params)
                if node.prim.elementwise and undefined.get(id(t)):
                    contribution = _annihilated(contribution, g, memo, undefined[id(t)])
                prev = adjoint.get(id(a))
                adjoint[id(a)] = contribution if prev is None else prev + contribution
        grads: list[Any] = []
        for inp in self.inputs:
            g = adjoint.get(id(inp))
            shape = inp.value.shape if isinstance(inp.value, np.ndarray) else ()
            if g is None:
                grads.extend([sympy.Integer(0)] * int(np.prod(shape, dtype=np.int64)))
            elif shape:  # entries through getitem, so a second sweep can differentiate them
                grads.extend(g[idx] if isinstance(g, SymbolicTracer) else _exact(g)[idx]
                             for idx in np.ndindex(shape))
            else:
                grads.append(g)
        return grads


def _selected(v: Any, memo: dict[Any, bool]) -> bool:
    """Whether ``v`` holds a ``Piecewise``, walking its DAG once (``memo`` spans one sweep):
    ``v.has`` walks the tree, which is exponentially larger for a long recurrence."""
    if not isinstance(v, sympy.Basic):
        return False
    stack = [v]
    found = False
    order: list[Any] = []
    while stack:
        e = stack.pop()
        if e in memo:
            if memo[e]:
                found = True
                break
            continue
        if isinstance(e, sympy.Piecewise):
            memo[e] = found = True
            break
        order.append(e)
        memo[e] = False  # provisional; fixed below if a descendant holds one
        stack.extend(a for a in e.args if a not in memo)
    if found:
        for e in order:  # conservative: every expression walked here may hold it
            memo.pop(e, None)
        memo[v] = True
    return found


def _zero(v: Any) -> bool:
    """A cotangent entry that is the constant zero: a branch ``where`` discards at every point
    (its condition folded to a constant), whose partial may be ``zoo`` (0 * zoo is nan)."""
    return isinstance(v, sympy.Number) and v.is_zero is True


_UNKNOWN: Any = object()  # a condition this code cannot write: the zero cotangent alone decides
_MAX_CONDITIONS = 8


def _full_precision_printer(lenient: bool, namespace: dict[str, Any]) -> Any:
    """lambdify's own printer for its modules (with the settings lambdify gives the printer it
    picks), writing every float constant with all 17 digits: sympy prints 15
    (``x - 3.14159265358979``), so ``x**2/2 - np.pi*x`` had derivative 3e-15 at pi and
    ``np.where(x > np.pi, ...)`` took the wrong branch a few ulps below pi."""
    from sympy.printing.numpy import NumPyPrinter
    from sympy.printing.pycode import PythonCodePrinter

    base = NumPyPrinter if lenient else PythonCodePrinter
    cls = _PRINTERS.setdefault(base, type(f"Full{base.__name__}", (base,), {
        "_print_Float": lambda self, e: repr(float(e))}))
    return cls({"fully_qualified_modules": False, "inline": True,
                "allow_unknown_functions": True, "user_functions": {k: k for k in namespace}})


_PRINTERS: dict[Any, Any] = {}


def _defined_everywhere(node: Any) -> bool:
    """Whether the node's primitive is defined, with finite partials, for every argument:
    a domain of "all x" (kinks at most), or a power with a constant integer exponent."""
    dom = node.prim.domain
    if dom is None or dom.everywhere:
        return True
    args = node.args
    return bool(dom.integer_exponent_only and len(args) > 1
                and not isinstance(args[1], SymbolicTracer)
                and np.all(np.mod(np.asarray(args[1], dtype=float), 1) == 0))


def _outside(node: Any, shape: tuple[int, ...]) -> Any:
    """Where the node's primitive is undefined, as a traced relation on its arguments
    (``x < 0`` for sqrt, ``y == 0`` for a divisor), None where it is defined for every value
    they take (a constant divisor), or :data:`_UNKNOWN` where its domain has nothing to
    write."""
    dom = node.prim.domain
    args = node.args
    x = args[0] if args else None
    bounded = dom.lo is not None or dom.hi is not None
    if not (bounded or dom.nonzero) or (bounded and not isinstance(x, SymbolicTracer)):
        return _UNKNOWN
    if any(isinstance(a, SymbolicTracer) and _shape(a) != shape for a in args):
        return _UNKNOWN  # (a relation on a broadcast argument is not one per output entry)
    out = None
    if dom.lo is not None:
        out = (ops.less_equal if dom.lo_open else ops.less)(x, dom.lo)
    if dom.hi is not None:
        above = (ops.greater_equal if dom.hi_open else ops.greater)(x, dom.hi)
        out = above if out is None else ops.logical_or(out, above)
    for k in dom.nonzero:  # a divisor: undefined where it is 0
        if k >= len(args):
            continue
        if not isinstance(args[k], SymbolicTracer):
            if np.any(np.asarray(args[k], dtype=float) == 0):
                return _UNKNOWN
            continue  # a constant divisor that is not 0: defined
        zero = ops.equal(args[k], 0.0)
        out = zero if out is None else ops.logical_or(out, zero)
    return out  # (None: defined for every value of the traced arguments)


def _shape(t: Any) -> tuple[int, ...]:
    return np.shape(t.value if isinstance(t, SymbolicTracer) else t)


def _undefined_where(order: list[SymbolicTracer]) -> dict[int, Any]:
    """For each traced value: the conditions under which a primitive it is computed from is
    undefined (a dict of tracer id -> {node id: relation}), :data:`_UNKNOWN` where one cannot
    be written (or too many), absent where every primitive upstream is defined everywhere."""
    found: dict[int, Any] = {}
    for t in reversed(order):  # inputs first
        node = t.node
        if node is None:
            continue
        conds: Any = {}
        shape = _shape(t)
        for a in node.args:
            up = found.get(id(a)) if isinstance(a, SymbolicTracer) else None
            if up is _UNKNOWN or (up and (not node.prim.elementwise or _shape(a) != shape)):
                conds = _UNKNOWN  # (conditions hold entry by entry only along elementwise
                break  # primitives that keep the shape)
            if up:
                conds.update(up)
        if conds is not _UNKNOWN and node.prim.elementwise and not _defined_everywhere(node):
            own = _outside(node, shape)
            if own is _UNKNOWN:
                conds = _UNKNOWN
            elif own is not None:
                conds = {**conds, id(node): own}
        if conds is not _UNKNOWN and len(conds) > _MAX_CONDITIONS:
            conds = _UNKNOWN
        if conds is _UNKNOWN or conds:
            found[id(t)] = conds
    return found


def _annihilated(c: Any, g: Any, memo: dict[Any, bool], undefined: Any) -> Any:
    """An elementwise VJP's contribution ``c`` with zero where its cotangent ``g`` is zero and
    a primitive upstream is undefined (``undefined``: their relations, or :data:`_UNKNOWN`).

    Below an ``np.where`` the cotangent is a ``Piecewise`` that is zero for the discarded
    branch, and the discarded branch's partial derivative may be infinite there (``sqrt`` of a
    negative): 0 * inf must be 0, as in the reverse engine. The guard is itself a ``where`` on
    traced values, so a second sweep (the Hessian) differentiates through it; only cotangents
    that hold a ``Piecewise`` are guarded, so programs without ``where`` are unchanged. A
    cotangent that is zero where everything upstream is defined -- an exact fit, a stationary
    point -- keeps its contribution, whose derivative the Hessian needs (guarded on the zero
    alone, the Hessian of a least-squares fit through np.where was zero at an exact fit).
    """
    gv = g.value if isinstance(g, SymbolicTracer) else g
    entries = gv.ravel() if isinstance(gv, np.ndarray) else (gv,)
    if not any(_zero(e) or _selected(e, memo) for e in entries) or np.shape(gv) != np.shape(
            c.value if isinstance(c, SymbolicTracer) else c):
        return c
    cond = ops.equal(g, 0.0)
    if undefined is not _UNKNOWN:
        rels = list(undefined.values())
        out = rels[0]
        for r in rels[1:]:
            out = ops.logical_or(out, r)
        cond = ops.logical_and(cond, out)
    return ops.where(cond, 0.0, c)


def _ancestors(out: SymbolicTracer) -> list[SymbolicTracer]:
    """Tracers the output depends on, latest first (a reverse topological order)."""
    seen: dict[int, SymbolicTracer] = {}
    stack = [out]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen[id(t)] = t
        if t.node is not None:
            stack.extend(a for a in t.node.args
                         if isinstance(a, SymbolicTracer) and id(a) not in seen)
    return sorted(seen.values(), key=lambda t: -(t.node.index if t.node is not None else 0))


def _value(t: Any) -> Any:
    return t.value if isinstance(t, SymbolicTracer) else _exact(t)


_TRACES: weakref.WeakKeyDictionary[Function, dict[Any, _Traced]] = weakref.WeakKeyDictionary()
"""The symbolic method's cache: each spec's symbolic runs by point shape, alive as long as the
spec (with their derivative expressions and compiled functions, :attr:`_Traced.store`)."""


def _traced(spec: Function, shape: tuple[int, ...] | None, evaluated: bool = True) -> _Traced:
    """The spec run on symbols, cached per spec, shape and evaluation mode."""
    shape_key = None if spec.nparams > 1 else (tuple(shape) if shape else ())
    key = (shape_key, evaluated)
    by_shape = _TRACES.setdefault(spec, {})
    got = by_shape.get(key)
    # (an expression holds the values f read from its closure and globals: when one has
    # changed, f is run on symbols again)
    if got is None or (got.free and not free_values_unchanged(got.free)):
        got = by_shape[key] = _Traced(spec, shape_key, evaluated)
        got.free = free_values(spec.fn)
    return got


def sympy_form(spec: Any, shape: tuple[int, ...] | None = None) -> tuple[Any, tuple[Any, ...]]:
    """``(expr, symbols)``: the spec as a sympy expression in its symbols.

    Parameters
    ----------
    spec : Function or callable
        Written with :mod:`diffkit.numpy`.
    shape : tuple, optional
        For a one-parameter spec taking an array: the array's shape (default: a scalar).

    Returns
    -------
    expr : sympy expression, or object ndarray of them for array outputs
    symbols : tuple of sympy.Symbol
        One per scalar parameter, or the flattened entries of the one array parameter
        (named ``x_0, x_1, ...``).

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> sympy_form(dk.Function(lambda x1, x2: dnp.sin(x1) * x2))
    (x2*sin(x1), (x1, x2))
    """
    spec = as_function(spec, "sympy_form")
    t = _traced(spec, shape)
    return t.expr, t.symbols


# ============================================================================ the method


def _heaviside(x: float, h0: float = 0.5) -> float:
    return 0.0 if x < 0 else (1.0 if x > 0 else h0)


# sympy keeps re()/im()/arg() where it cannot prove a subexpression real (abs(exp(arccos(x))),
# abs(exp((log(x) + 1.25)**2.0))); the compiled "math" code has none of them, and at a real
# point they are the identity, zero and the angle (0 or pi)
_SYMPY_ARTEFACTS = {
    "Heaviside": _heaviside,
    "re": lambda v: v.real,
    "im": lambda v: v.imag,
    "arg": lambda v: math.atan2(v.imag, v.real),
    "conjugate": lambda v: v.conjugate(),
}


def _scalar_select(condlist: Any, choicelist: Any, default: Any = np.nan) -> Any:
    """numpy's ``select`` for the scalar values the lenient compiled code computes (sympy
    prints ``Piecewise`` as ``select``, whose numpy form wants boolean arrays)."""
    for cond, choice in zip(condlist, choicelist, strict=True):
        if cond:
            return choice
    return default


def compiled_namespace() -> dict[str, Any]:
    """The functions compiled symbolic code may call beyond ``math``: sympy's artefacts and
    every stanza's ``printer`` (erf, gamma, ... where ``math`` lacks them)."""
    names = dict(_SYMPY_ARTEFACTS)
    for prim in REGISTRY.values():
        if prim.printer:
            names.update(prim.printer)
    return names


class Symbolic(Method):
    """Exact derivatives from computer algebra, evaluated by compiled code.

    Parameters
    ----------
    strategy : {"dag", "tree"}
        ``"dag"`` (default) differentiates the recorded program by reverse accumulation: each
        shared subexpression is differentiated once, so the derivative costs a small constant
        times the function, as in reverse-mode AD, for every depth of nesting. ``"tree"`` is
        ``sympy.diff`` on the expression: the same exact derivative, but its size and build
        time swell exponentially with nesting (the logistic map at n = 12 takes seconds and
        390,146 tree nodes). ``"dag"`` is the default because it gives the same exact values
        at a fraction of the cost and never swells; choose ``"tree"`` to see the swell or for
        the familiar sympy form.
    engine : {"sympy", "symengine"}
        With ``"symengine"`` (if installed) the tree strategy differentiates with symengine,
        hundreds of times faster; results are converted back to sympy for evaluation.
    time_limit, memory_limit : float or None
        Budget (seconds; megabytes of memory growth) for building, differentiating and
        compiling one function; when it runs out a :class:`~diffkit.budget.BudgetError` says
        so and names the methods that need no expressions. ``None``: no limit. For numbers
        (``dk.gradient``) the ``"dag"`` strategy builds expressions as written, without
        sympy's automatic simplification, so a 100-step loop stays linear in size.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    >>> dk.gradient(f, [2.0, 5.0], method="symbolic").round(6)
    array([5.5     , 1.716338])
    >>> dk.methods.Symbolic().derivative_expression(f)
    Matrix([
    [   x2 + 1/x1],
    [x1 - cos(x2)]])
    """

    name = "symbolic"
    family = "symbolic"

    def __init__(self, *, strategy: str = "dag", engine: str = "sympy",
                 time_limit: float | None = TIME_LIMIT,
                 memory_limit: float | None = MEMORY_LIMIT) -> None:
        if strategy not in STRATEGIES:
            raise UnknownMethodError(
                f"Symbolic(strategy={strategy!r}): choose 'dag' (differentiate the shared "
                f"program, no swell) or 'tree' (sympy.diff on the expression)"
            )
        if engine not in ENGINES:
            raise UnknownMethodError(f"Symbolic(engine={engine!r}): choose 'sympy' or "
                                     f"'symengine'")
        if engine == "symengine":
            try:
                import symengine
            except ImportError:
                raise UnknownMethodError(
                    "Symbolic(engine='symengine'): symengine is not installed; "
                    "pip install symengine, or use engine='sympy'"
                ) from None
        for name, v in (("time_limit", time_limit), ("memory_limit", memory_limit)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not v > 0):
                raise UnknownMethodError(
                    f"Symbolic({name}={v!r}): a positive number (seconds, megabytes) or None "
                    f"for no limit")
        self.strategy = strategy
        self.engine = engine
        self.time_limit = time_limit
        self.memory_limit = memory_limit

    # ------------------------------------------------------------------ expressions
    def expression(self, f: Any, *, shape: tuple[int, ...] | None = None) -> Any:
        """The function as a sympy expression (a Matrix for vector-valued ``f``).

        Examples
        --------
        >>> import diffkit as dk
        >>> from diffkit.catalog import logistic
        >>> dk.methods.Symbolic().expression(logistic(3).function)
        16*x*(1 - x)*(-4*x*(1 - x) + 1)
        """
        t = _traced(as_function(f, "expression"), shape)
        return _as_sympy_object(t.expr)

    def derivative_expressions(self, f: Any, *, shape: tuple[int, ...] | None = None
                               ) -> np.ndarray:
        """The Jacobian entries as an ``(m, n)`` object array of sympy expressions."""
        spec = as_function(f, "derivative_expression")
        return self._jacobian_exprs(_traced(spec, shape))

    def derivative_expression(self, f: Any, *, shape: tuple[int, ...] | None = None) -> Any:
        """The derivative as a sympy object.

        A scalar for scalar ``f`` of one scalar, a column Matrix (the gradient) for scalar
        ``f`` of several, the ``(m, n)`` Jacobian Matrix for vector ``f``.

        Examples
        --------
        >>> import diffkit as dk, diffkit.numpy as dnp
        >>> dk.methods.Symbolic().derivative_expression(lambda x: dnp.sin(x) ** 2)
        2*sin(x)*cos(x)
        """
        jac = self.derivative_expressions(f, shape=shape)
        if jac.shape == (1, 1):
            return jac[0, 0]
        if jac.shape[0] == 1:
            return sympy.Matrix(jac.shape[1], 1, list(jac[0]))
        return sympy.Matrix(jac.tolist())

    def latex(self, f: Any, *, derivative: bool = True, shape: tuple[int, ...] | None = None
              ) -> str:
        """LaTeX of the derivative (or of ``f`` with ``derivative=False``).

        Examples
        --------
        >>> import diffkit as dk, diffkit.numpy as dnp
        >>> dk.methods.Symbolic().latex(lambda x: dnp.exp(2 * x))
        '2 e^{2 x}'
        """
        obj = self.derivative_expression(f, shape=shape) if derivative else \
            self.expression(f, shape=shape)
        return sympy.latex(obj)

    # ------------------------------------------------------------------ differentiation
    def _jacobian_exprs(self, t: _Traced) -> np.ndarray:
        key = ("jacobian", self.strategy, self.engine)
        store = _store(t)
        if key in store:
            return store[key]
        outputs = t.outputs()
        jac = np.empty((len(outputs), len(t.symbols)), dtype=object)
        if self.strategy == "dag":
            for i in range(len(outputs)):
                jac[i] = [_value(g) for g in t.input_adjoints(i)]
        else:
            for i, e in enumerate(outputs):
                jac[i] = self._tree_diff(e, t.symbols)
        store[key] = jac
        return jac

    def _tree_diff(self, e: Any, symbols: tuple[Any, ...]) -> list[Any]:
        if self.engine == "symengine":
            import symengine

            se_e = to_symengine(e)
            back = {to_symengine(s): s for s in symbols}
            return [_from_symengine(symengine.diff(se_e, s), back) for s in back]
        return [sympy.diff(e, s) for s in symbols]

    def _hessian_exprs(self, t: _Traced) -> np.ndarray:
        store = _store(t)
        key = ("hessian", self.strategy, self.engine)
        if key in store:
            return store[key]
        n = len(t.symbols)
        hess = np.empty((n, n), dtype=object)
        if self.strategy == "dag":
            grads = t.input_adjoints(0)
            for i, g in enumerate(grads):
                if isinstance(g, SymbolicTracer):
                    hess[i] = [_value(v) for v in t.input_adjoints(None, out=g)]
                else:  # an adjoint entry of an array input, or a constant
                    hess[i] = self._tree_diff(_value(g), t.symbols)
        else:
            grad = self._jacobian_exprs(t)[0]
            for i, g in enumerate(grad):
                hess[i] = self._tree_diff(g, t.symbols)
        store[key] = hess
        return hess

    # ------------------------------------------------------------------ compiled evaluation
    def compile(self, f: Any, what: str = "gradient", *,
                shape: tuple[int, ...] | None = None) -> Callable[..., Any]:
        """The compiled derivative: a function of the coordinates returning a list of floats.

        ``what`` is ``"value"``, ``"jacobian"`` (row-major entries), ``"gradient"`` (same as
        jacobian for scalar ``f``) or ``"hessian"``. Built with
        ``lambdify(symbols, exprs, modules="math", cse=diffkit's cse)`` once per spec, shape,
        strategy and ``what``, then cached.

        Examples
        --------
        >>> import diffkit as dk, diffkit.numpy as dnp
        >>> g = dk.methods.Symbolic().compile(lambda x1, x2: x1 * dnp.exp(x2))
        >>> g(2.0, 0.0)
        [1.0, 2.0]
        """
        spec = as_function(f, "compile")
        if what not in ("value", "jacobian", "gradient", "hessian"):
            raise UnknownMethodError(f"compile(what={what!r}): choose 'value', 'gradient', "
                                     f"'jacobian' or 'hessian'")
        return self._compiled(_traced(spec, shape), "jacobian" if what == "gradient" else what)

    def _compiled(self, t: _Traced, what: str, lenient: bool = False) -> Callable[..., Any]:
        """The compiled ``what`` ("value", "jacobian", "hessian"): Python floats through
        ``math`` (fast), or with ``lenient`` numpy float64 through numpy's functions, which
        return NaN where ``math`` raises — for a branch that ``where`` discards but whose
        subexpressions the shared program computes anyway (``sqrt(x)`` of a negative x)."""
        store = _store(t)
        key = ("compiled", what, self.strategy, self.engine, lenient)
        if key not in store:
            if what == "value":
                exprs = t.outputs()
            elif what == "jacobian":
                exprs = list(self._jacobian_exprs(t).ravel())
            else:
                exprs = list(self._hessian_exprs(t).ravel())
            for s in t.symbols:  # lambdify runs exec: only names diffkit created and checked
                check_name(str(s), "symbol")
            # CSE first: lambdify walks the expressions it is given as trees, and the
            # derivative's tree can be exponentially larger than its DAG
            replacements, reduced = cse(exprs)
            replacements = [(lhs, _float_coefficients(rhs)) for lhs, rhs in replacements]
            lenient_space = {"select": _scalar_select} if lenient else {}
            store[key] = sympy.lambdify(
                list(t.symbols), reduced,
                modules=[{**compiled_namespace(), **lenient_space},
                         "numpy" if lenient else "math"],
                cse=lambda _: (replacements, reduced), docstring_limit=0,
                printer=_full_precision_printer(
                    lenient, {**compiled_namespace(), **lenient_space}),
            )
        return store[key]

    def _run_compiled(self, t: _Traced, what: str, coords: list[float]
                      ) -> tuple[np.ndarray | None, str]:
        """``what`` at ``coords``: the fast compiled code, else the lenient one; None (and why)
        when neither gives a real value."""
        reason = ""
        try:
            out = self._compiled(t, what)(*coords)
            if not any(isinstance(v, complex) for v in out):
                return np.asarray(out, dtype=float), ""
            reason = "the value is complex"
        except DiffkitError:  # a printer's own refusal
            raise
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            reason = str(exc)
        try:
            out = self._compiled(t, what, lenient=True)(*(np.float64(c) for c in coords))
            arr = np.asarray(out)
            if arr.dtype.kind == "c":
                return None, reason or "the value is complex"
            return arr.astype(float), reason
        except DiffkitError:
            raise
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            return None, str(exc)

    def _evaluate(self, spec: Function, t: _Traced, what: str, x: np.ndarray) -> np.ndarray:
        coords = x.ravel().tolist()
        # f itself first: a point outside f's domain is refused, as by every method -- as
        # numpy computes it too: sympy simplifies as it builds (x/x is 1, sqrt(x)**2 is x), so
        # the compiled value can be finite where f is not
        try:
            plain = spec.call(x.copy())
        except DiffkitError:
            raise
        except Exception:  # code only a tracer runs (round(x, 1) of an array): the compiled
            plain = None  # value decides alone
        if plain is not None:
            check_output(spec, plain, "jacobian", x)
        value, _ = self._run_compiled(t, "value", coords)
        if value is None or not np.all(np.isfinite(value)):
            located = located_domain_error(spec.fn, spec.unpack(x))
            raise located if located is not None else DomainError(
                f"symbolic: {spec.name} is not finite (or not real) at x = "
                f"{np.array2string(x, threshold=8)}; choose a point inside its domain")
        arr, reason = self._run_compiled(t, what, coords)
        if arr is None or not np.all(np.isfinite(arr)):
            located = located_domain_error(spec.fn, spec.unpack(x), what="derivative")
            if located is None and reason:
                raise DomainError(
                    f"symbolic {what} of {spec.name} at x = {np.array2string(x, threshold=8)}: "
                    f"{reason}; the derivative is not defined there; choose another point")
            check_derivative(spec, np.full(1, np.nan), what, x, "symbolic")
        return arr

    def _numbers(self, spec: Function, x: np.ndarray, what: str) -> tuple[_Traced, np.ndarray]:
        """The traced spec and ``what`` ("jacobian", "hessian") evaluated at ``x``, within
        the budget.

        The ``"dag"`` strategy first lets sympy simplify as it builds, for at most
        :data:`EVALUATED_SHARE` of the time budget; a program too long for that is rebuilt as
        written (no automatic simplification: linear in the program's length).
        """
        start = time.perf_counter()
        modes = (True,) if self.strategy == "tree" else (True, False)
        for evaluated in modes:
            limit = self.time_limit
            if limit is not None:
                limit = max(limit - (time.perf_counter() - start), 0.05)
                if evaluated and len(modes) > 1:
                    limit = min(limit, EVALUATED_SHARE * self.time_limit)
            elif evaluated and len(modes) > 1:
                limit = EVALUATED_SECONDS
            try:
                with limited(limit, self.memory_limit, f"symbolic {what} of {spec.name}"):
                    t = self._check_shape(spec, x, evaluated)
                    if what == "hessian" and t.out_shape != ():
                        raise not_scalar(spec.name, t.out_shape, "hessian")
                    return t, self._evaluate(spec, t, what, x)
            except BudgetError as exc:
                if evaluated and len(modes) > 1:
                    continue  # rebuild without sympy's automatic simplification
                raise BudgetError(
                    f"{exc}: the expressions are too large for computer algebra. Reverse-mode "
                    f"and forward-mode compute the same derivative without building "
                    f"expressions (method='reverse-mode'); or raise the budget with "
                    f"dk.methods.Symbolic(time_limit=..., memory_limit=...) (None: no limit)"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_shape(self, spec: Function, x: np.ndarray, evaluated: bool = True) -> _Traced:
        t = _traced(spec, x.shape if spec.nparams == 1 else None, evaluated=evaluated)
        if len(t.symbols) != x.size:  # pragma: no cover - validation guarantees it
            raise OutputShapeError(f"{spec.name}: {len(t.symbols)} symbols for x of size "
                                   f"{x.size}")
        return t

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        t, value = self._numbers(spec, x, "jacobian")
        value = value.reshape(-1, x.size)
        return DerivativeResult(value, nfev=0, method=self.name, out_shape=t.out_shape,
                                info={"strategy": self.strategy})

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        t, value = self._numbers(spec, x, "jacobian")
        if t.out_shape != ():
            raise not_scalar(spec.name, t.out_shape, "gradient")
        value = value.reshape(x.shape)
        return DerivativeResult(value, nfev=0, method=self.name, out_shape=(),
                                info={"strategy": self.strategy})

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        _, value = self._numbers(spec, x, "hessian")
        value = value.reshape(x.size, x.size)
        return DerivativeResult(value, nfev=0, method=self.name, out_shape=(),
                                info={"strategy": self.strategy})


def to_symengine(root: Any) -> Any:
    """A sympy expression as symengine, memoised over the DAG.

    (symengine's own ``sympy2symengine`` walks the unfolded tree: seconds at logistic n = 16.)
    """
    import symengine
    from symengine.lib.symengine_wrapper import sympy2symengine

    memo: dict[Any, Any] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        e, done = stack.pop()
        if e in memo:
            continue
        args = e.args
        if not args:
            memo[e] = sympy2symengine(e)
            continue
        if not done:
            stack.append((e, True))
            stack.extend((a, False) for a in args if a not in memo)
            continue
        func = getattr(symengine, type(e).__name__, None)
        memo[e] = sympy2symengine(e) if func is None or not callable(func) else \
            func(*(memo[a] for a in args))
    return memo[root]


def _from_symengine(root: Any, symbols: dict[Any, Any]) -> Any:
    """A symengine expression as sympy, memoised over the DAG, with our own symbols back.

    (``_sympy_()`` alone walks the unfolded tree and returns symbols without assumptions.)
    """
    memo: dict[Any, Any] = dict(symbols)
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        e, done = stack.pop()
        if e in memo:
            continue
        args = e.args
        if not args:
            memo[e] = e._sympy_()
            continue
        if not done:
            stack.append((e, True))
            stack.extend((a, False) for a in args if a not in memo)
            continue
        func = getattr(sympy, type(e).__name__, None)
        if func is None or not callable(func):
            memo[e] = e._sympy_().xreplace({sympy.Symbol(str(k)): v for k, v in symbols.items()})
        else:
            memo[e] = func(*(memo[a] for a in args))
    return memo[root]


def _float_coefficients(e: Any) -> Any:
    """``4*x`` -> ``4.0*x`` in sums and products, for the compiled code only.

    Python multiplies a float by a float faster than by an int (the int is converted on every
    call); the value is the same, since the int would be rounded to the same double. Exponents
    and the factors ``-1``/``1`` stay integers (``-x``, ``x**2`` print as they should).
    """
    if not (e.is_Add or e.is_Mul):
        return e
    args = [sympy.Float(a) if a.is_Number and (e.is_Add or abs(a) != 1)
            else _float_coefficients(a) for a in e.args]
    return e.func(*args, evaluate=False)


def _store(t: _Traced) -> dict[Any, Any]:
    """Per-trace cache of derivative expressions and compiled functions."""
    return t.store


def _as_sympy_object(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            return sympy.Matrix(value.shape[0], 1, list(value))
        if value.ndim == 2:
            return sympy.Matrix(value.tolist())
        return sympy.ImmutableDenseNDimArray(value.tolist())
    return value

