"""Reverse-mode automatic differentiation: a numpy tape walked backwards.

Running a spec on :class:`Node` values records a Wengert list: every primitive appends one
record to an append-only tape, and the reverse sweep walks the tape from the output back to
the inputs, applying each primitive's VJP from the registry (``prim.vjp_rule(i)``) and adding
cotangents into a dict that lives only as long as the sweep (calling twice gives the same
answer; nothing is stored on the nodes).

Why it is fast (ANCHORS.md, reverse mode):

* nodes have ``__slots__`` and hold a raw value and their tape index, nothing else; the tape
  records raw values, never nodes, so there are no reference cycles and Python's cyclic
  garbage collector can be paused while recording and sweeping;
* constants never become nodes, and the VJP of a constant argument is never computed;
* the commonest operations (``+ - * /``, ``x**2``, indexing) have fast paths on the node
  itself and in the sweep: a basic slice's cotangent is added in place into its parent's
  cotangent; after the first contribution, cotangents are accumulated in place.

Because the values inside a node may themselves be traced (dual numbers of forward mode, the
nodes of an outer reverse trace), and every fast path uses Python operators on those values
and the registry's VJPs use ``dnp`` primitives, the sweep is itself differentiable:
reverse-over-reverse Hessians and forward-over-reverse Hessian-vector products work.
"""

from __future__ import annotations

import gc
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import REGISTRY, Primitive, Trace, Tracer, bind, domain_error
from ..primitives import _is_basic_index, _norm_axes
from ..results import DerivativeResult
from ..spec import Function
from ..validation import check_output, not_scalar
from . import _pool
from .base import Method

__all__ = [
    "Node",
    "ReverseMode",
    "ReverseTrace",
    "grad",
    "hessian",
    "hvp",
    "jacobian",
    "record",
    "sweep",
    "value_and_grad",
    "vjp",
]

_ndarray = np.ndarray
_f64 = np.float64
_F64 = np.dtype(np.float64)
_SCALAR_TYPES = (float, int, np.float64)  # numbers that keep a float64 array's dtype
_PLAIN = (np.ndarray, np.float64, float)  # cotangents the sweep may add into in place
_HELD = (np.ndarray, np.generic, float, int, Tracer)  # values a record can hold

# record kinds (first element of every tape record)
_GENERIC, _ADD, _SUB, _MUL, _DIV, _NEG, _SQUARE, _GETITEM, _SUM = range(9)
_KIND_PRIM = {
    _ADD: "add", _SUB: "subtract", _MUL: "multiply", _DIV: "divide", _NEG: "negative",
    _SQUARE: "power", _GETITEM: "getitem", _SUM: "sum",
}


def _prim(name: str) -> Primitive:
    return REGISTRY[name]


_SUM_PRIM = _prim("sum")
_MEAN_PRIM = _prim("mean")
_TANH_PRIM = _prim("tanh")
_LSE_PRIM = _prim("logsumexp")
# the registry's rules these fast paths stand for: a stanza whose rules were replaced (say a
# test planting a wrong VJP) goes through the registry again
_SUM_RULES, _MEAN_RULES, _TANH_RULES, _LSE_RULES = (_SUM_PRIM.vjp, _MEAN_PRIM.vjp,
                                                    _TANH_PRIM.vjp, _LSE_PRIM.vjp)
_SWEPT = (-1,)  # a record already swept by a consuming sweep
_add_reduce = np.add.reduce


def _pooled(ufunc: Any, a: Any, b: Any) -> Any:
    """``ufunc(a, b)`` into a cached buffer (:mod:`._pool`) when the result is a large float64
    array of an operand's shape (no broadcasting); None when numpy should allocate it."""
    if a.__class__ is _ndarray:
        if a.nbytes >= _pool.MIN_BYTES and a.dtype is _F64 and (
                b.__class__ in _SCALAR_TYPES
                or (b.__class__ is _ndarray and b.shape == a.shape and b.dtype is _F64)):
            return ufunc(a, b, out=_pool.empty(a.shape))
    elif b.__class__ is _ndarray and a.__class__ in _SCALAR_TYPES and b.nbytes >= _pool.MIN_BYTES \
            and b.dtype is _F64:
        return ufunc(a, b, out=_pool.empty(b.shape))
    return None


def _pooled1(ufunc: Any, a: Any) -> Any:
    """``ufunc(a)`` into a cached buffer for a large float64 array ``a``; else None."""
    if a.__class__ is _ndarray and a.nbytes >= _pool.MIN_BYTES and a.dtype is _F64:
        return ufunc(a, out=_pool.empty(a.shape))
    return None


# ============================================================================ the trace


class ReverseTrace(Trace):
    """One recording: an append-only tape of records, one per node (``None`` for inputs).

    A record is a tuple whose first entry says how to sweep it back: ``_GENERIC`` records
    hold ``(kind, parents, prim, ans, raw_args, params)`` and use the registry's VJP of each
    traced argument; the fast kinds hold ``(kind, a, b, x, y, broadcast, ans)`` with the
    parents' tape indices (``-1`` for a constant) and only the operands their VJP reads
    (``None`` for the others, so intermediates are freed as soon as Python drops them).
    """

    __slots__ = ("log", "tape")

    def __init__(self, log: bool = False) -> None:
        super().__init__()
        self.tape: list[Any] = []
        # dk.trace keeps (prim name, args, value) per node to print and draw the program
        self.log: list[Any] | None = [] if log else None

    def new_input(self, value: Any, name: str = "x") -> Node:
        """A fresh input node holding ``value`` (a leaf of the graph)."""
        node = Node(self, value, len(self.tape))
        self.tape.append(None)
        if self.log is not None:
            self.log.append(("input", (name,), value, {}))  # name: the parameter
        return node

    # --- the interpreter rule for every primitive without a fast path
    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        if ((prim is _SUM_PRIM and prim.vjp is _SUM_RULES)
                or (prim is _MEAN_PRIM and prim.vjp is _MEAN_RULES)) \
                and params["axis"] is None and not params["keepdims"]:
            x = args[0]
            if x.__class__ is Node and x._trace is self and x.value.__class__ is _ndarray:
                # sum (mean) of a whole array: its VJP is a broadcast view of the cotangent
                # (divided by the count): record the count, not the array
                mean = prim is _MEAN_PRIM
                ans = prim.numeric(x.value) if mean else _add_reduce(x.value, axis=None)
                node = Node(self, ans, len(self.tape))
                self.tape.append((_SUM, x.id, -1, x.value.shape, x.value.size if mean else None,
                                  False, None))
                if self.log is not None:
                    self.note(prim.name, args, ans, params)
                return node
        raw = list(args)
        parents = []
        for i, a in enumerate(args):
            if a.__class__ is Node and a._trace is self:
                raw[i] = a.value
                parents.append((a.id, i))
        raw = tuple(raw)
        ans = bind(prim, raw, params)  # lower traces (if any) see the call next
        if not parents or not prim.differentiable:
            return ans  # comparisons, sign: plain values, so `if x > 0:` works
        tape = self.tape
        node = Node(self, ans, len(tape))
        tape.append((_GENERIC, tuple(parents), prim, ans, raw, params))
        if self.log is not None:
            self.note(prim.name, args, ans, params)
        return node

    def note(self, name: str, args: tuple[Any, ...], ans: Any, params: dict[str, Any]) -> None:
        """Log one recorded primitive for :func:`diffkit.trace` (``log=True`` only).

        Nodes of this trace are logged as ``("v", index)`` and constants as ``("c", value)``,
        so the log holds no nodes (and no reference cycles).
        """
        refs = tuple(("v", a.id) if a.__class__ is Node and a._trace is self else ("c", a)
                     for a in args)
        self.log.append((name, refs, ans, params))  # type: ignore[union-attr]

    def to_bool(self, tracer: Tracer) -> bool:
        """Python control flow on a node branches on its value (the branch is recorded)."""
        return bool(tracer._value)  # type: ignore[attr-defined]

    def nbytes(self) -> int:
        """Bytes of the arrays and numbers the tape holds (values captured for the VJPs)."""
        total = 0
        seen: set[int] = set()
        for rec in self.tape:
            if rec is None:
                continue
            kind = rec[0]
            if kind == _GENERIC:
                held = (rec[3], *rec[4])
            else:
                held = (rec[3], rec[6]) if kind == _GETITEM else (rec[3], rec[4], rec[6])
            for v in held:
                if id(v) in seen or not isinstance(v, _HELD):
                    continue
                seen.add(id(v))
                total += int(getattr(v, "nbytes", 8))
        return total


# ============================================================================ nodes


class Node(Tracer):
    """A value recorded on a :class:`ReverseTrace`: its raw value and its tape index.

    Arithmetic operators take a fast path that records a compact tape entry directly; every
    other primitive goes through :meth:`ReverseTrace.process` and the registry.
    """

    __slots__ = ("_trace", "id", "value")

    def __init__(self, trace: ReverseTrace, value: Any, index: int) -> None:
        self._trace = trace
        self.value = value
        self.id = index

    @property
    def _value(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"Node(v{self.id}, value={self.value!r})"

    # + - * / (and reflected) are fast paths made by _binary_method below the class

    def __neg__(self) -> Any:
        tr = self._trace
        x = self.value
        ans = _pooled1(np.negative, x) if x.__class__ is _ndarray and x.nbytes >= _pool.MIN_BYTES \
            else None
        if ans is None:
            ans = -x
        tape = tr.tape
        node = Node(tr, ans, len(tape))
        tape.append((_NEG, self.id, -1, None, None, False, None))
        if tr.log is not None:
            tr.note("negative", (self,), ans, {})
        return node

    def __pow__(self, other: Any) -> Any:
        # x**2 with a constant exponent: the commonest power, VJP 2 x g (no general pow)
        if other.__class__ in _SCALAR_TYPES and other == 2:
            tr = self._trace
            x = self.value
            ans = _pooled(np.multiply, x, x) if x.__class__ is _ndarray \
                and x.nbytes >= _pool.MIN_BYTES else None
            if ans is None:
                ans = x * x
            tape = tr.tape
            node = Node(tr, ans, len(tape))
            tape.append((_SQUARE, self.id, -1, x, None, False, None))
            if tr.log is not None:
                tr.note("power", (self, other), ans, {})
            return node
        return bind(_prim("power"), (self, other), {})

    def __getitem__(self, index: Any) -> Any:
        tr = self._trace
        x = self.value
        if x.__class__ is not _ndarray or isinstance(index, Tracer) or (
            isinstance(index, tuple) and any(isinstance(i, Tracer) for i in index)
        ):
            return bind(_prim("getitem"), (self,), {"index": index})
        ans = x[index]
        tape = tr.tape
        node = Node(tr, ans, len(tape))
        basic = index.__class__ is slice or index.__class__ is int or _is_basic_index(index)
        tape.append((_GETITEM, self.id, -1, x, index, basic, None))
        if tr.log is not None:
            tr.note("getitem", (self,), ans, {"index": index})
        return node


def _binary_method(kind: int, name: str, op: Callable[[Any, Any], Any], swap: bool) -> Any:
    """The operator ``Node.__<op>__`` (``swap``: the reflected ``__r<op>__``).

    ``other`` is a plain constant (never a node), a node of this trace, or any other tracer,
    handed to :func:`~diffkit.core.bind`, which picks the innermost trace. The record keeps the
    raw operands, the parents' tape indices (-1 for a constant) and whether shapes broadcast.
    """
    prim = _prim(name)
    ufunc = prim.ufunc  # the registry's ufunc, for writing into a cached buffer

    def method(self: Node, other: Any) -> Any:
        tr = self._trace
        if other.__class__ is Node and other._trace is tr:
            y, b = other.value, other.id
        elif isinstance(other, Tracer):
            return bind(prim, (other, self) if swap else (self, other), {})
        else:
            y, b = other, -1
        x, a = self.value, self.id
        if swap:
            x, y, a, b = y, x, b, a
        try:
            # a large array (the size test inline: small arrays must not pay a call)
            ans = _pooled(ufunc, x, y) if (x.__class__ is _ndarray
                                           and x.nbytes >= _pool.MIN_BYTES) or (
                y.__class__ is _ndarray and y.nbytes >= _pool.MIN_BYTES) else None
            if ans is None:
                ans = op(x, y)
        except (FloatingPointError, ZeroDivisionError):
            raise domain_error(prim, (x, y)) from None
        tx, ty = x.__class__, y.__class__
        xs = tx is _f64 or tx is float or tx is int
        ys = ty is _f64 or ty is float or ty is int
        if xs and ys:
            broadcast = False
        elif tx is _ndarray and ty is _ndarray:
            broadcast = x.shape != y.shape
        elif tx is _ndarray and ys:  # array with a number: only a traced number sums back
            broadcast = b >= 0 or x.ndim == 0
        elif xs and ty is _ndarray:
            broadcast = a >= 0 or y.ndim == 0
        else:
            sa = _shape_of(ans)
            broadcast = (a >= 0 and _shape_of(x) != sa) or (b >= 0 and _shape_of(y) != sa)
        tape = tr.tape
        node = Node(tr, ans, len(tape))
        if broadcast:  # the registry's rules unbroadcast: they need every operand
            tape.append((kind, a, b, x, y, True, ans))
        elif kind == _MUL:  # hold only what the VJPs use, so intermediates can be freed
            tape.append((_MUL, a, b, x if b >= 0 else None, y if a >= 0 else None, False, None))
        elif kind == _DIV:
            tape.append((_DIV, a, b, None, y, False, ans if b >= 0 else None))
        else:  # + and -: the cotangent passes through
            tape.append((kind, a, b, None, None, False, None))
        if tr.log is not None:
            tr.note(name, (other, self) if swap else (self, other), ans, {})
        return node

    method.__name__ = f"__{'r' if swap else ''}{name}__"
    return method


for _kind, _name, _op, _dunder in [
    (_ADD, "add", operator.add, "add"), (_SUB, "subtract", operator.sub, "sub"),
    (_MUL, "multiply", operator.mul, "mul"), (_DIV, "divide", operator.truediv, "truediv"),
]:
    setattr(Node, f"__{_dunder}__", _binary_method(_kind, _name, _op, False))
    setattr(Node, f"__r{_dunder}__", _binary_method(_kind, _name, _op, True))


def _shape_of(v: Any) -> tuple[int, ...]:
    if v.__class__ is _ndarray:
        return v.shape
    if isinstance(v, Tracer):
        return v.shape
    return np.shape(v)


# ============================================================================ the sweep


def _bview(gs: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A view of the number ``gs`` broadcast to ``shape`` (every stride 0; never written).

    Built directly (``np.broadcast_to`` costs several times more on small arrays).
    """
    base = np.array([gs])
    return np.ndarray(shape, base.dtype, base, 0, (0,) * len(shape))


class _Fill:
    """A cotangent that is one number at every entry of ``shape`` (the VJP of ``sum``).

    Kept as the number until something needs the array: scaling, negating and adding such
    cotangents is arithmetic on one number, and ``x**2`` or ``x * y`` multiply the array by
    it in one pass. Never leaves the sweep: rules that want an array get :meth:`view`.
    """

    __slots__ = ("shape", "v")

    def __init__(self, v: Any, shape: tuple[int, ...]) -> None:
        self.v = v
        self.shape = shape

    def view(self) -> np.ndarray:
        """The broadcast view (every stride 0, read-only) the registry's rules can read."""
        return _bview(self.v, self.shape)


def _fill_vjps(kind: int, rec: Any, f: _Fill) -> list[tuple[int, Any, bool]] | None:
    """The VJPs of a non-broadcasting ``+ - * / neg x**2`` record for a :class:`_Fill`
    cotangent, or None for every other record (it then gets the broadcast view)."""
    _, a, b, x, y, _, ans = rec
    v, shape = f.v, f.shape
    if kind == _ADD:
        return [(p, f, False) for p in (a, b) if p >= 0]
    if kind == _SUB:
        out = [(a, f, False)] if a >= 0 else []
        if b >= 0:
            out.append((b, _Fill(-v, shape), False))
        return out
    if kind == _NEG:
        return [(a, _Fill(-v, shape), False)]
    if kind == _SQUARE:
        return [(a, *_times(x, 2.0 * v, shape))]
    if kind == _MUL:
        out = []
        if a >= 0:
            out.append((a, *_times(y, v, shape)))
        if b >= 0:
            out.append((b, *_times(x, v, shape)))
        return out
    if kind == _DIV:
        out = []
        if a >= 0:
            out.append((a, *_times(y, v, shape, divide=True)))
        if b >= 0:
            c = (-v) * ans / y
            out.append((b, c, c.__class__ is _ndarray))
        return out
    return None


def _times(y: Any, v: Any, shape: tuple[int, ...], divide: bool = False) -> tuple[Any, bool]:
    """``y * v`` (``v / y`` with ``divide``) for a fill ``v`` and an operand ``y`` of the
    fill's shape or a constant number: a fill again for a number, else one pass over y."""
    if y.__class__ is _ndarray:
        c = None if y.nbytes < _pool.MIN_BYTES else \
            _pooled(np.divide, v, y) if divide else _pooled(np.multiply, y, v)
        if c is None:
            c = np.divide(v, y) if divide else y * v
        return c, True
    if isinstance(y, (int, float, complex, np.generic)):
        # a constant number (np.int64, np.float32 and bool too): the product is a fill again
        return _Fill(v / y if divide else v * y, shape), False
    c = v / y if divide else v * y
    return c, c.__class__ is _ndarray


def _scaled(g: Any, y: Any, mine: bool, op: Any) -> tuple[Any, bool]:
    """``op(g, y)`` for ``op`` = multiply or divide, with ``y`` of g's shape or a scalar.

    Returns the product and whether it is a fresh plain array the sweep may own; reuses ``g``
    in place when the sweep owns it (``mine``).
    """
    if mine and g.__class__ is _ndarray and y.__class__ in _PLAIN:
        try:
            return op(g, y, out=g), True
        except TypeError:  # the result needs another dtype (complex y)
            pass
    c = _pooled(op, g, y) if g.__class__ is _ndarray and g.nbytes >= _pool.MIN_BYTES else None
    if c is None:
        c = op(g, y) if g.__class__ in _PLAIN else (g * y if op is np.multiply else g / y)
    return c, c.__class__ is _ndarray


def _negated(g: Any, mine: bool) -> tuple[Any, bool]:
    if mine and g.__class__ is _ndarray:
        return np.negative(g, out=g), True
    c = _pooled1(np.negative, g) if g.__class__ is _ndarray and g.nbytes >= _pool.MIN_BYTES \
        else None
    if c is None:
        c = -g
    return c, c.__class__ is _ndarray


def _vjps(rec: Any, g: Any, mine: bool) -> list[tuple[int, Any, bool]]:
    """Cotangents of the parents of one record: ``[(parent, cotangent, fresh), ...]``.

    ``mine`` says the sweep owns ``g`` (allocated it and handed it to no one else), so a
    VJP with a single traced argument may overwrite it. ``fresh`` marks a plain array the
    sweep now owns and may add into in place.
    """
    kind = rec[0]
    if kind == _GENERIC:
        _, parents, prim, ans, raw, params = rec
        if prim is _TANH_PRIM and prim.vjp is _TANH_RULES and g.__class__ is _ndarray \
                and ans.__class__ is _ndarray and g.shape == ans.shape and g.dtype is _F64:
            # g (1 - tanh^2) with one temporary instead of three (the registry's rule, in place)
            t = ans * ans
            np.subtract(1.0, t, out=t)
            return [(parents[0][0], np.multiply(g, t, out=g if mine else t), True)]
        if prim is _LSE_PRIM and prim.vjp is _LSE_RULES and g.__class__ in _PLAIN \
                and raw[0].__class__ is _ndarray and raw[0].dtype is _F64:
            # g * softmax(x): the registry's rule in plain numpy (five dnp calls on small
            # arrays cost more than the arithmetic)
            x, reduced = raw[0], _norm_axes(params["axis"], raw[0].ndim)
            shape = tuple(1 if k in reduced else n for k, n in enumerate(x.shape))
            c = np.subtract(x, np.reshape(ans, shape))
            np.exp(c, out=c)
            c *= np.reshape(g, shape) if np.ndim(g) else g
            return [(parents[0][0], c, True)]
        if prim is _SUM_PRIM and prim.vjp is _SUM_RULES and g.__class__ is _ndarray \
                and raw[0].__class__ is _ndarray:
            # a sum along axes: the registry's rule (a broadcast view of g) in plain numpy
            x = raw[0]
            if not params["keepdims"]:
                reduced = _norm_axes(params["axis"], x.ndim)
                g = g.reshape(tuple(1 if k in reduced else n for k, n in enumerate(x.shape)))
            return [(parents[0][0], np.broadcast_to(g, x.shape), False)]
        out = []
        for pid, i in parents:
            rule = prim.vjp_rule(i)
            if rule is not None:
                out.append((pid, rule(g, ans, *raw, **params), False))
        return out
    _, a, b, x, y, broadcast, ans = rec
    if broadcast:  # shapes differ: each cotangent is summed back to its operand's shape
        if g.__class__ is _ndarray and kind != _GETITEM and kind != _SUM \
                and not isinstance(x, Tracer) and not isinstance(y, Tracer):
            return _broadcast_vjps(kind, a, b, x, y, ans, g)
        return _vjps((_GENERIC, tuple((p, k) for k, p in enumerate((a, b)) if p >= 0),
                      REGISTRY[_KIND_PRIM[kind]], ans, (x, y), {}), g, False)
    if kind == _ADD:
        out = []
        if a >= 0:
            out.append((a, g, False))
        if b >= 0:
            out.append((b, g, False))
        return out
    if kind == _MUL:
        out = []
        if a >= 0:
            out.append((a, *_scaled(g, y, mine and b < 0, np.multiply)))
        if b >= 0:
            out.append((b, *_scaled(g, x, mine and a < 0, np.multiply)))
        return out
    if kind == _SUB:
        out = []
        if a >= 0:
            out.append((a, g, False))
        if b >= 0:
            out.append((b, *_negated(g, mine and a < 0)))
        return out
    if kind == _SQUARE:
        c, fresh = _scaled(g, x, mine, np.multiply)
        c *= 2.0  # in place on a fresh array; rebinding for scalars and tracers
        return [(a, c, fresh)]
    if kind == _NEG:
        return [(a, *_negated(g, mine))]
    if kind == _DIV:
        out = []
        if a >= 0:
            out.append((a, *_scaled(g, y, mine and b < 0, np.divide)))
        if b >= 0:
            c = -g * ans / y  # d(x/y)/dy = -x/y**2 = -ans/y
            out.append((b, c, c.__class__ is _ndarray))
        return out
    if kind == _SUM:  # x here is the summed array's shape, y the count for a mean
        if y is not None:
            g = g / y
        if g.__class__ in _PLAIN:
            return [(a, _bview(g, x), False)]
        stand_in = np.broadcast_to(0.0, x)  # the rule only reads x's shape
        return [(a, REGISTRY["sum"].vjp_rule(0)(g, ans, stand_in), False)]
    # _GETITEM with a traced cotangent: the registry's rule (scatter), differentiable
    return [(a, REGISTRY["getitem"].vjp_rule(0)(g, ans, x, index=y), False)]


def _sum_to(c: np.ndarray, shape: tuple[int, ...]) -> Any:
    """Sum ``c`` over the axes it gained by broadcasting against an operand of ``shape``."""
    if c.shape == shape:
        return c
    lead = c.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape)
                                      if n == 1 and c.shape[lead + k] != 1)
    out = _add_reduce(c, axis=axes) if axes else c
    return out.reshape(shape) if out.shape != shape else out


def _broadcast_vjps(kind: int, a: int, b: int, x: Any, y: Any, ans: Any, g: np.ndarray
                    ) -> list[tuple[int, Any, bool]]:
    """+ - * / whose operands broadcast, for a plain-array cotangent: the registry's rules
    (``unbroadcast``) without the generic dispatch."""
    out = []
    if a >= 0:
        c = g if kind in (_ADD, _SUB) else (g * y if kind == _MUL else g / y)
        out.append((a, _sum_to(c, np.shape(x)), False))
    if b >= 0:
        if kind == _ADD:
            c = g
        elif kind == _SUB:
            c = -g
        elif kind == _MUL:
            c = g * x
        else:
            c = -g * ans / y
        out.append((b, _sum_to(c, np.shape(y)), False))
    return out


def sweep(tape: list[Any], out: int, g: Any, inputs: Sequence[int], consume: bool = False
          ) -> list[Any]:
    """Walk ``tape`` back from node ``out`` with output cotangent ``g``.

    Parameters
    ----------
    tape : list
        The records of a :class:`ReverseTrace`.
    out : int
        Tape index of the output node.
    g : array_like or Tracer
        Cotangent of the output (same shape as its value).
    inputs : sequence of int
        Tape indices whose cotangents to return.
    consume : bool
        Drop each record once swept (for a single sweep, as in ``grad``): the values it held
        are freed as early as possible, so their memory is reused by the sweep itself.

    Returns
    -------
    list
        One cotangent per input; ``None`` where the output does not depend on it.
    """
    ct: dict[int, Any] = {out: g}  # cotangents, local to this sweep
    owned: set[int] = set()  # entries of ct this sweep allocated: safe to add into in place
    found: dict[int, Any] = {}
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for i in range(out, -1, -1):
            gi = ct.pop(i, None)
            if gi is None:
                continue
            rec = tape[i]
            if rec is None:  # an input
                found[i] = gi
                continue
            kind = rec[0]
            if (gi.__class__ is _f64 or gi.__class__ is float) and 0 < kind < _NEG \
                    and not rec[5]:
                # scalar lane: + - * / on numbers, no allocation to track
                _, a, b, x, y, _, ans = rec
                if kind == _MUL:
                    ca = gi * y if a >= 0 else None
                    cb = gi * x if b >= 0 else None
                elif kind == _ADD:
                    ca = cb = gi
                elif kind == _SUB:
                    ca, cb = gi, -gi
                else:
                    ca = gi / y
                    cb = -gi * ans / y if b >= 0 else None
                if a >= 0:
                    old = ct.get(a)
                    ct[a] = ca if old is None else old + ca
                if b >= 0:
                    old = ct.get(b)
                    ct[b] = cb if old is None else old + cb
                continue
            pairs = None
            if gi.__class__ is _Fill:
                if kind == _GETITEM:
                    _getitem_into(ct, owned, rec, gi.v)
                    if consume:
                        tape[i] = _SWEPT
                    continue
                if 0 < kind < _GETITEM and not rec[5]:
                    pairs = _fill_vjps(kind, rec, gi)
                if pairs is None:
                    gi = gi.view()
            if pairs is None:
                if kind == _GETITEM and gi.__class__ in _PLAIN:
                    _getitem_into(ct, owned, rec, gi)
                    if consume:
                        tape[i] = _SWEPT
                    continue
                if kind == _ADD and not rec[5]:  # the cotangent passes through to both sides
                    pairs = [(p, gi, False) for p in rec[1:3] if p >= 0]
                elif kind == _SUM and (gi.__class__ is _f64 or gi.__class__ is float or (
                        gi.__class__ is _ndarray and not gi.ndim)):
                    # the sum of a whole array: its cotangent is one number everywhere
                    v = gi[()] if gi.__class__ is _ndarray else gi
                    if rec[4] is not None:
                        v = v / rec[4]
                    pairs = [(rec[1], _Fill(v, rec[3]) if rec[3] else v, False)]
                else:
                    pairs = _vjps(rec, gi, i in owned)
            if consume:
                tape[i] = rec = _SWEPT
            del gi
            for p, c, fresh in pairs:
                old = ct.get(p)
                if old is None:
                    ct[p] = c
                    if fresh and c.__class__ is _ndarray:
                        owned.add(p)
                elif old.__class__ is _Fill or c.__class__ is _Fill:
                    _add_fill(ct, owned, p, old, c, fresh)
                elif p in owned and c.__class__ in _PLAIN:
                    try:
                        np.add(old, c, out=old)
                    except (TypeError, ValueError):  # dtype or shape would change
                        ct[p] = old + c
                else:
                    s = _pooled(np.add, old, c) if old.__class__ is _ndarray \
                        and old.nbytes >= _pool.MIN_BYTES else None
                    if s is None:
                        s = old + c
                    ct[p] = s
                    if s.__class__ is _ndarray:
                        owned.add(p)
    finally:
        if gc_was_on:
            gc.enable()
    return [_materialized(found.get(i)) for i in inputs]


def _add_fill(ct: dict[int, Any], owned: set[int], p: int, old: Any, c: Any, fresh: bool
              ) -> None:
    """``ct[p] = old + c`` where one of them (or both) is a :class:`_Fill`."""
    if old.__class__ is _Fill and c.__class__ is _Fill:
        ct[p] = _Fill(old.v + c.v, old.shape)
        return
    if old.__class__ is _Fill:  # add the number into the array, in place if the sweep may
        arr, v, mine, shape = c, old.v, fresh, old.shape
    else:
        arr, v, mine, shape = old, c.v, p in owned, c.shape
    if arr.__class__ is not _ndarray or arr.shape != shape:
        ct[p] = (old.view() if old.__class__ is _Fill else old) + (
            c.view() if c.__class__ is _Fill else c)
        if ct[p].__class__ is _ndarray:
            owned.add(p)
        return
    if mine:
        try:
            ct[p] = np.add(arr, v, out=arr)
            owned.add(p)
            return
        except (TypeError, ValueError):  # the dtype would change
            pass
    s = _pooled(np.add, arr, v) if arr.nbytes >= _pool.MIN_BYTES else None
    ct[p] = arr + v if s is None else s
    owned.add(p)


def _materialized(c: Any) -> Any:
    """A cotangent handed to the caller: broadcast views become ordinary arrays."""
    if c.__class__ is _Fill:
        return _full(c.shape, c.v)
    if c.__class__ is _ndarray and (not c.flags.writeable or (c.ndim and not any(c.strides))):
        return np.array(c)
    return c


def _full(shape: tuple[int, ...], v: Any) -> Any:
    """``np.full(shape, v)``, in a cached buffer when large and float64."""
    if (v.__class__ is float or v.__class__ is _f64) and \
            8 * math.prod(shape) >= _pool.MIN_BYTES:
        out = _pool.empty(shape)
        out.fill(v)
        return out
    return np.full(shape, v)


def _getitem_into(ct: dict[int, Any], owned: set[int], rec: Any, g: Any) -> None:
    """The VJP of ``x[index]`` added straight into x's cotangent (no scatter + add)."""
    _, p, _, x, index, basic, _ans = rec
    old = ct.get(p)
    if old.__class__ is _Fill:
        old = ct[p] = _full(old.shape, old.v) if x.dtype is _F64 else \
            np.full(old.shape, old.v, dtype=np.result_type(x.dtype, old.v, float))
        owned.add(p)
    if old is not None and p in owned:
        try:
            if basic:
                view = old[index]
                if view.__class__ is _ndarray:  # add into the view: no write-back __setitem__
                    view += g
                else:  # an int index: a number, not a view
                    old[index] += g
            else:
                np.add.at(old, index, g)
            return
        except (TypeError, ValueError):
            pass
    if old is None:
        real = g.dtype is _F64 if g.__class__ is _ndarray else g.__class__ in (_f64, float)
        if real and x.dtype is _F64:  # _full(x.shape, 0.0), inline: once per sweep at any n
            if x.nbytes >= _pool.MIN_BYTES:
                acc = _pool.empty(x.shape)
                acc.fill(0.0)
            else:
                acc = np.zeros(x.shape)
        else:
            acc = np.zeros(x.shape, dtype=np.result_type(x.dtype, g, float))
        if basic:  # fresh zeros and each element selected once: assign, no read
            acc[index] = g
            ct[p] = acc
            owned.add(p)
            return
    else:
        acc = np.array(old, dtype=np.result_type(old, g), copy=True)
    if basic:
        acc[index] += g
    else:
        np.add.at(acc, index, g)
    ct[p] = acc
    owned.add(p)


# ============================================================================ operators


def _as_leaf(x: Any) -> Any:
    """Plain 0-d arrays become numpy scalars: scalar arithmetic is ~10x cheaper on them."""
    if x.__class__ is _ndarray and x.ndim == 0:
        return x[()]
    return x


def record(fun: Callable[..., Any], args: Sequence[Any], *, log: bool = False
           ) -> tuple[ReverseTrace, list[Node], Any]:
    """Run ``fun(*nodes)`` on fresh input nodes holding ``args``; return (trace, nodes, out).

    The cyclic garbage collector is paused while recording (nodes and records hold no
    cycles) and re-enabled afterwards only if it was on.
    """
    trace = ReverseTrace(log=log)
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        nodes = [trace.new_input(_as_leaf(a), f"x{k + 1}") for k, a in enumerate(args)]
        out = fun(*nodes)
    finally:
        if gc_was_on:
            gc.enable()
    return trace, nodes, out


def _zeros_like(x: Any) -> Any:
    if isinstance(x, Tracer):
        return x * 0.0  # keeps the outer trace's type (a dual of zero tangent, a node)
    return np.zeros(np.shape(x), dtype=np.result_type(x, float))


def _pullback_for(trace: ReverseTrace, nodes: list[Node], out: Any, xs: Sequence[Any]
                  ) -> Callable[[Any], list[Any]]:
    ids = [n.id for n in nodes]
    tape = trace.tape

    def pullback(g: Any) -> list[Any]:
        if out.__class__ is not Node or out._trace is not trace:
            return [_zeros_like(x) for x in xs]  # the output does not depend on the input
        cts = sweep(tape, out.id, g, ids)
        res = []
        for c, x in zip(cts, xs, strict=True):
            if c is None:
                res.append(_zeros_like(x))
            else:
                res.append(c)
        return res

    return pullback


def _value_of(out: Any, trace: ReverseTrace) -> Any:
    return out.value if out.__class__ is Node and out._trace is trace else out


def vjp(fun: Callable[[Any], Any], x: Any) -> tuple[Any, Callable[[Any], Any]]:
    """Value of ``fun(x)`` and its pullback ``g -> g^T J``.

    Parameters
    ----------
    fun : callable
        A function of one argument (a scalar or an array), written with ``diffkit.numpy``.
    x : float, ndarray, Tracer, or tuple of them
        The point. It may hold traced values of outer traces (forward-mode duals, nodes of an
        outer reverse trace): nothing here converts it to floats. A tuple (say the weights
        of a network) is passed to ``fun`` as a tuple of nodes.

    Returns
    -------
    value : the value of ``fun(x)`` (plain, or traced by the outer traces)
    pullback : callable
        ``pullback(g)`` returns the cotangent of ``x`` (a tuple for a tuple ``x``) for output
        cotangent ``g``; it can be called any number of times.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import vjp
    >>> y, pb = vjp(lambda x: dnp.sin(x) * 2.0, np.array([0.0, 1.0]))
    >>> pb(np.array([1.0, 1.0])).round(6)
    array([2.      , 1.080605])
    """
    if x.__class__ is tuple:  # several arrays: fun receives a tuple of nodes
        trace, nodes, out = record(lambda *xs: fun(xs), x)
        pull = _pullback_for(trace, nodes, out, x)
        return _value_of(out, trace), lambda g: tuple(pull(g))
    trace, nodes, out = record(fun, (x,))
    pull = _pullback_for(trace, nodes, out, (x,))
    shape = _shape_of(x)

    def pullback(g: Any) -> Any:
        c = pull(g)[0]
        if not isinstance(c, Tracer) and _shape_of(c) != shape:
            c = np.reshape(c, shape)
        return c

    return _value_of(out, trace), pullback


def _scalar_check(value: Any, op: str) -> None:
    shape = _shape_of(value)
    if shape != ():
        raise not_scalar("f", shape, op, " (or vjp with an output cotangent)")


def value_and_grad(fun: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    """``(fun(x), grad fun(x))`` for a scalar-valued ``fun`` of one argument, in one sweep.

    Parameters
    ----------
    fun : callable
        A function of one argument written with ``diffkit.numpy``, returning a scalar.
    x : float, ndarray, Tracer or tuple of them
        The point; it may hold values traced by outer traces (forward-mode duals).

    Returns
    -------
    value : the scalar ``fun(x)``
    gradient : the shape of ``x`` (a tuple of cotangents for a tuple ``x``)

    Raises
    ------
    OutputShapeError
        When ``fun`` returns an array (use :func:`jacobian` or :func:`vjp`).

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import value_and_grad
    >>> v, g = value_and_grad(lambda x: dnp.sum(x ** 2), np.array([1.0, 2.0]))
    >>> float(v), g
    (5.0, array([2., 4.]))
    """
    several = x.__class__ is tuple
    xs = x if several else (x,)
    # vjp without its closures, and one sweep that frees the tape as it goes
    trace, nodes, out = record(lambda *a: fun(a), xs) if several else record(fun, xs)
    if out.__class__ is not Node or out._trace is not trace:
        _scalar_check(out, "grad")
        zeros = tuple(_zeros_like(xi) for xi in xs)
        return out, zeros if several else zeros[0]
    v = out.value
    if v.__class__ is not _f64 and v.__class__ is not float:
        _scalar_check(v, "grad")
    cts = sweep(trace.tape, out.id, 1.0, [n.id for n in nodes], consume=True)
    for k, (c, xi) in enumerate(zip(cts, xs, strict=True)):
        if c is None:
            cts[k] = _zeros_like(xi)
        elif c.__class__ is _ndarray and xi.__class__ is _ndarray and c.shape != xi.shape:
            cts[k] = c.reshape(xi.shape)
    return out.value, tuple(cts) if several else cts[0]


def grad(fun: Callable[[Any], Any], x: Any) -> Any:
    """Gradient of a scalar-valued ``fun`` of one argument at ``x`` (the shape of ``x``).

    Parameters
    ----------
    fun : callable
        A function of one argument written with ``diffkit.numpy``, returning a scalar.
    x : float, ndarray, Tracer or tuple of them
        The point; it may hold values traced by outer traces (forward-mode duals).

    Returns
    -------
    The gradient, shaped like ``x`` (see :func:`value_and_grad`).

    Examples
    --------
    >>> import diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import grad
    >>> round(float(grad(lambda x: dnp.log(x) * x, 2.0)), 6)
    1.693147
    """
    return value_and_grad(fun, x)[1]


def jacobian(fun: Callable[[Any], Any], x: Any) -> Any:
    """Jacobian ``(m, n)`` of ``fun`` at ``x``: one recording, one sweep per output entry.

    Parameters
    ----------
    fun : callable
        A function of one argument written with ``diffkit.numpy``.
    x : float, ndarray, Tracer
        The point; it may hold values traced by outer traces (forward-mode duals).

    Returns
    -------
    ndarray or Tracer of shape ``(fun(x).size, x.size)``

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import jacobian
    >>> jacobian(lambda x: x * x, np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    value, pullback = vjp(fun, x)
    m = int(np.prod(_shape_of(value), dtype=np.int64))
    n = int(np.prod(_shape_of(x), dtype=np.int64))
    rows = []
    for i in range(m):
        e = np.zeros(m)
        e[i] = 1.0
        rows.append(_ravel(pullback(e.reshape(_shape_of(value)))))
    if any(isinstance(r, Tracer) for r in rows):
        from ..primitives import stack

        return stack(rows) if rows else np.zeros((0, n))
    return np.array(rows, dtype=np.result_type(*rows, float)).reshape(m, n)


def _ravel(c: Any) -> Any:
    if isinstance(c, Tracer):
        from ..primitives import reshape

        return reshape(c, (-1,))
    return np.ravel(c)


def hessian(fun: Callable[[Any], Any], x: Any) -> Any:
    """Hessian of a scalar ``fun`` at ``x`` by reverse-over-reverse (``(n, n)``).

    Parameters
    ----------
    fun : callable
        A function of one argument written with ``diffkit.numpy``, returning a scalar.
    x : float, ndarray, Tracer
        The point; it may hold values traced by outer traces (forward-mode duals).

    Returns
    -------
    ndarray of shape ``(x.size, x.size)``: the gradient computation is recorded on an outer
    tape and swept once per row.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import hessian
    >>> hessian(lambda x: dnp.sum(x ** 3), np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacobian(lambda y: grad(fun, y), x)


def hvp(fun: Callable[[Any], Any], x: Any, v: Any) -> Any:
    """Hessian-vector product ``H(x) v`` of a scalar ``fun``: one reverse-over-reverse sweep.

    The Hessian is symmetric, so ``H v`` is the VJP of the gradient map with cotangent ``v``.

    Parameters
    ----------
    fun : callable
        A function of one argument written with ``diffkit.numpy``, returning a scalar.
    x : float, ndarray, Tracer
        The point; it may hold values traced by outer traces (forward-mode duals).
    v : ndarray
        The direction, shaped like ``x``.

    Returns
    -------
    ndarray shaped like ``x``

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import hvp
    >>> hvp(lambda x: dnp.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    _, pullback = vjp(lambda y: grad(fun, y), x)
    return pullback(v)


# ============================================================================ the method


class ReverseMode(Method):
    """Reverse-mode automatic differentiation on a numpy tape (``method="reverse-mode"``).

    One forward pass records the program; one reverse sweep gives the whole gradient, at a
    small constant multiple of the function's own cost. Jacobians take one sweep per output
    entry; Hessians are reverse-over-reverse (``n`` sweeps of the recorded gradient).
    ``info`` of the result holds ``ops`` (recorded primitives) and ``nbytes`` (bytes held by
    the tape).

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
    >>> dk.gradient(f, [2.0, 5.0], method="reverse-mode")
    array([5.5       , 1.71633781])
    """

    name = "reverse-mode"
    family = "reverse"

    def __init__(self) -> None:
        pass

    # --- recording a spec: k scalar parameters -> k input nodes; one parameter -> one
    def _record(self, spec: Function, x: np.ndarray) -> tuple[ReverseTrace, list[Node], Any]:
        if spec.nparams >= 2:
            return record(spec.fn, [x[i] for i in range(spec.nparams)])
        return record(spec.fn, (x,))

    def _result(self, value: Any, trace: ReverseTrace, out_shape: tuple[int, ...],
                nfev: int = 1) -> DerivativeResult:
        ops = sum(1 for r in trace.tape if r is not None)
        return DerivativeResult(value, nfev=nfev, method=self.name, out_shape=out_shape,
                                info={"ops": ops, "nbytes": trace.nbytes()})

    def _cotangents(self, trace: ReverseTrace, nodes: list[Node], out: Any, g: Any,
                    x: np.ndarray, consume: bool = False) -> np.ndarray:
        if out.__class__ is not Node or out._trace is not trace:
            return np.zeros(x.shape)
        cts = sweep(trace.tape, out.id, g, [n.id for n in nodes], consume)
        if len(nodes) == 1:
            c = cts[0]
            return np.zeros(x.shape) if c is None else np.asarray(c, dtype=float).reshape(
                x.shape)
        return np.array([0.0 if c is None else float(c) for c in cts])

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        trace, nodes, out = self._record(spec, x)
        value = check_output(spec, _value_of(out, trace), "gradient", x)
        info = self._result(None, trace, value.shape).info  # before the sweep consumes it
        g = self._cotangents(trace, nodes, out, np.ones_like(value, dtype=float), x, True)
        return DerivativeResult(g, nfev=1, method=self.name, out_shape=value.shape, info=info)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        trace, nodes, out = self._record(spec, x)
        value = check_output(spec, _value_of(out, trace), "jacobian", x)
        m = value.size
        rows = []
        for i in range(m):  # one sweep per output entry, all on the same recording
            e = np.zeros(m)
            e[i] = 1.0
            rows.append(self._cotangents(trace, nodes, out, e.reshape(value.shape), x).ravel())
        jac = np.array(rows).reshape(m, x.size)
        return self._result(jac, trace, value.shape)

    def _derivative(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        r = self._jacobian(spec, x)
        shape = r.out_shape or ()
        value = np.asarray(r.value).reshape(shape)
        return DerivativeResult(float(value) if shape == () else value, nfev=r.nfev,
                                method=self.name, out_shape=r.out_shape, info=r.info)

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        k = spec.nparams
        if k >= 2:
            def flat(y: Any) -> Any:
                return spec.fn(*(y[i] for i in range(k)))
        else:
            flat = spec.fn
        value = check_output(spec, spec.call(x), "hessian", x)
        # record the gradient computation itself on an outer tape, then sweep it n times
        outer, nodes, gout = record(lambda y: grad(flat, y), (x,))
        n = x.size
        rows = []
        for i in range(n):
            e = np.zeros(x.shape)
            e.ravel()[i] = 1.0
            rows.append(self._cotangents(outer, nodes, gout, e, x).ravel())
        h = np.array(rows).reshape(n, n)
        return self._result(h, outer, value.shape, nfev=2)
