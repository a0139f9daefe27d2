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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import REGISTRY, Primitive, Trace, Tracer, bind, domain_error
from ..errors import OutputShapeError
from ..primitives import _is_basic_index, unbroadcast
from ..results import DerivativeResult
from ..spec import Function
from ..validation import check_output
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
_SCALAR_TYPES = (float, int, np.float64)
_PLAIN = (np.ndarray, np.float64, float)  # cotangents the sweep may add into in place

# record kinds (first element of every tape record)
_GENERIC, _ADD, _SUB, _MUL, _DIV, _NEG, _SQUARE, _GETITEM = range(8)
_KIND_PRIM = {
    _ADD: "add", _SUB: "subtract", _MUL: "multiply", _DIV: "divide", _NEG: "negative",
    _SQUARE: "power", _GETITEM: "getitem",
}


def _prim(name: str) -> Primitive:
    return REGISTRY[name]


# ============================================================================ the trace


class ReverseTrace(Trace):
    """One recording: an append-only tape of records, one per node (``None`` for inputs).

    A record is a tuple whose first entry says how to sweep it back: ``_GENERIC`` records
    hold ``(kind, parents, prim, ans, raw_args, params)`` and use the registry's VJP of each
    traced argument; the fast kinds hold ``(kind, a, b, x, y, broadcast)`` with the parents'
    tape indices (``-1`` for a constant) and the raw operands.
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
            self.log.append(("input", (name,), value, {}))
        return node

    # --- the interpreter rule for every primitive without a fast path
    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
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
            self.log.append((prim.name, args, ans, params))
        return node

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
            held = (rec[3], *rec[4]) if rec[0] == _GENERIC else rec[3:5]
            for v in held:
                if id(v) in seen or v is None:
                    continue
                seen.add(id(v))
                total += int(getattr(v, "nbytes", 8))
        return total


# ============================================================================ nodes


def _binary_fallback(prim: str, x: Any, y: Any) -> Any:
    return bind(_prim(prim), (x, y), {})


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

    # --- fast binary operators. `other` is a plain constant, a node of this trace, or any
    # other tracer (handed to bind, which picks the innermost trace).
    def _binary(self, other: Any, kind: int, name: str, swap: bool) -> Any:
        tr = self._trace
        if other.__class__ is Node and other._trace is tr:
            y, b = other.value, other.id
        elif isinstance(other, Tracer):
            return _binary_fallback(name, other, self) if swap else \
                _binary_fallback(name, self, other)
        else:
            y, b = other, -1
        x, a = self.value, self.id
        if swap:
            x, y, a, b = y, x, b, a
        try:
            if kind == _ADD:
                ans = x + y
            elif kind == _MUL:
                ans = x * y
            elif kind == _SUB:
                ans = x - y
            else:
                ans = x / y
        except FloatingPointError:
            raise domain_error(_prim(name), (x, y)) from None
        except ZeroDivisionError:  # python floats
            raise domain_error(_prim(name), (x, y)) from None
        tx, ty = x.__class__, y.__class__
        if (tx is _f64 or tx is float or tx is int) and (ty is _f64 or ty is float or ty is int):
            broadcast = False
        else:
            sa = _shape_of(ans)
            broadcast = (a >= 0 and _shape_of(x) != sa) or (b >= 0 and _shape_of(y) != sa)
        tape = tr.tape
        node = Node(tr, ans, len(tape))
        tape.append((kind, a, b, x, y, broadcast, ans))
        if tr.log is not None:
            tr.log.append((name, (other, self) if swap else (self, other), ans, {}))
        return node

    def __add__(self, other: Any) -> Any:
        return self._binary(other, _ADD, "add", False)

    def __radd__(self, other: Any) -> Any:
        return self._binary(other, _ADD, "add", True)

    def __sub__(self, other: Any) -> Any:
        return self._binary(other, _SUB, "subtract", False)

    def __rsub__(self, other: Any) -> Any:
        return self._binary(other, _SUB, "subtract", True)

    def __mul__(self, other: Any) -> Any:
        return self._binary(other, _MUL, "multiply", False)

    def __rmul__(self, other: Any) -> Any:
        return self._binary(other, _MUL, "multiply", True)

    def __truediv__(self, other: Any) -> Any:
        return self._binary(other, _DIV, "divide", False)

    def __rtruediv__(self, other: Any) -> Any:
        return self._binary(other, _DIV, "divide", True)

    def __neg__(self) -> Any:
        tr = self._trace
        ans = -self.value
        tape = tr.tape
        node = Node(tr, ans, len(tape))
        tape.append((_NEG, self.id, -1, None, None, False, ans))
        if tr.log is not None:
            tr.log.append(("negative", (self,), ans, {}))
        return node

    def __pow__(self, other: Any) -> Any:
        # x**2 with a constant exponent: the commonest power, VJP 2 x g (no general pow)
        if other.__class__ in _SCALAR_TYPES and other == 2:
            tr = self._trace
            x = self.value
            ans = x * x
            tape = tr.tape
            node = Node(tr, ans, len(tape))
            tape.append((_SQUARE, self.id, -1, x, other, False, ans))
            if tr.log is not None:
                tr.log.append(("power", (self, other), ans, {}))
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
        tape.append((_GETITEM, self.id, -1, x, index, _is_basic_index(index), ans))
        if tr.log is not None:
            tr.log.append(("getitem", (self,), ans, {"index": index}))
        return node


def _shape_of(v: Any) -> tuple[int, ...]:
    if v.__class__ is _ndarray:
        return v.shape
    if isinstance(v, Tracer):
        return v.shape
    return np.shape(v)


# ============================================================================ the sweep


def _vjps(rec: Any, g: Any) -> list[tuple[int, Any, bool]]:
    """Cotangents of the parents of one record: ``[(parent, cotangent, fresh), ...]``.

    ``fresh`` marks a newly allocated plain array that the sweep may add into in place.
    """
    kind = rec[0]
    if kind == _GENERIC:
        _, parents, prim, ans, raw, params = rec
        out = []
        for pid, i in parents:
            rule = prim.vjp_rule(i)
            if rule is not None:
                out.append((pid, rule(g, ans, *raw, **params), False))
        return out
    _, a, b, x, y, broadcast, _ans = rec
    out = []
    if kind == _ADD:
        if a >= 0:
            out.append((a, unbroadcast(g, x) if broadcast else g, False))
        if b >= 0:
            out.append((b, unbroadcast(g, y) if broadcast else g, False))
    elif kind == _MUL:
        if a >= 0:
            out.append((a, unbroadcast(g * y, x) if broadcast else g * y, not broadcast))
        if b >= 0:
            out.append((b, unbroadcast(g * x, y) if broadcast else g * x, not broadcast))
    elif kind == _SUB:
        if a >= 0:
            out.append((a, unbroadcast(g, x) if broadcast else g, False))
        if b >= 0:
            out.append((b, unbroadcast(-g, y) if broadcast else -g, not broadcast))
    elif kind == _DIV:
        if a >= 0:
            out.append((a, unbroadcast(g / y, x) if broadcast else g / y, not broadcast))
        if b >= 0:
            # d(x/y)/dy = -x/y**2 = -ans/y
            c = -g * _ans / y
            out.append((b, unbroadcast(c, y) if broadcast else c, not broadcast))
    elif kind == _NEG:
        out.append((a, -g, True))
    elif kind == _SQUARE:
        c = g * x
        c *= 2.0  # in place on a fresh array; rebinding for scalars and tracers
        out.append((a, c, True))
    elif kind == _GETITEM:
        out.append((a, REGISTRY["getitem"].vjp_rule(0)(g, _ans, x, index=y), False))
    return out


def sweep(tape: list[Any], out: int, g: Any, inputs: Sequence[int]) -> list[Any]:
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
            if rec[0] == _GETITEM and gi.__class__ in _PLAIN:
                _getitem_into(ct, owned, rec, gi)
                continue
            for p, c, fresh in _vjps(rec, gi):
                old = ct.get(p)
                if old is None:
                    ct[p] = c
                    if fresh and c.__class__ is _ndarray:
                        owned.add(p)
                elif p in owned and c.__class__ in _PLAIN:
                    try:
                        np.add(old, c, out=old)
                    except (TypeError, ValueError):  # dtype or shape would change
                        ct[p] = old + c
                else:
                    s = old + c
                    ct[p] = s
                    if s.__class__ is _ndarray:
                        owned.add(p)
    finally:
        if gc_was_on:
            gc.enable()
    return [found.get(i) for i in inputs]


def _getitem_into(ct: dict[int, Any], owned: set[int], rec: Any, g: Any) -> None:
    """The VJP of ``x[index]`` added straight into x's cotangent (no scatter + add)."""
    _, p, _, x, index, basic, _ans = rec
    old = ct.get(p)
    if old is not None and p in owned:
        try:
            if basic:
                old[index] += g
            else:
                np.add.at(old, index, g)
            return
        except (TypeError, ValueError):
            pass
    if old is None:
        acc = np.zeros(x.shape, dtype=np.result_type(x.dtype, g, float))
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
    x : float, ndarray or Tracer
        The point. It may hold traced values of outer traces (forward-mode duals, nodes of an
        outer reverse trace): nothing here converts it to floats.

    Returns
    -------
    value : the value of ``fun(x)`` (plain, or traced by the outer traces)
    pullback : callable
        ``pullback(g)`` returns the cotangent of ``x`` for output cotangent ``g``; it can be
        called any number of times.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import vjp
    >>> y, pb = vjp(lambda x: dnp.sin(x) * 2.0, np.array([0.0, 1.0]))
    >>> pb(np.array([1.0, 1.0])).round(6)
    array([2.      , 1.080605])
    """
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
        raise OutputShapeError(
            f"{op}(f, x): f returned shape {shape}, expected a scalar; use jacobian for "
            f"vector-valued functions (or vjp with an output cotangent)"
        )


def value_and_grad(fun: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    """``(fun(x), grad fun(x))`` for a scalar-valued ``fun`` of one argument, in one sweep.

    Examples
    --------
    >>> import numpy as np, diffkit.numpy as dnp
    >>> from diffkit.methods.reverse import value_and_grad
    >>> v, g = value_and_grad(lambda x: dnp.sum(x ** 2), np.array([1.0, 2.0]))
    >>> float(v), g
    (5.0, array([2., 4.]))
    """
    value, pullback = vjp(fun, x)
    _scalar_check(value, "grad")
    return value, pullback(1.0)


def grad(fun: Callable[[Any], Any], x: Any) -> Any:
    """Gradient of a scalar-valued ``fun`` of one argument at ``x`` (the shape of ``x``).

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
                    x: np.ndarray) -> np.ndarray:
        if out.__class__ is not Node or out._trace is not trace:
            return np.zeros(x.shape)
        cts = sweep(trace.tape, out.id, g, [n.id for n in nodes])
        if len(nodes) == 1:
            c = cts[0]
            return np.zeros(x.shape) if c is None else np.asarray(c, dtype=float).reshape(
                x.shape)
        return np.array([0.0 if c is None else float(c) for c in cts])

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        trace, nodes, out = self._record(spec, x)
        value = check_output(spec, _value_of(out, trace), "gradient", x)
        g = self._cotangents(trace, nodes, out, np.ones_like(value, dtype=float), x)
        return self._result(g, trace, value.shape)

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
