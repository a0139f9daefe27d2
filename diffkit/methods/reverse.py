"""Reverse-mode automatic differentiation: a numpy tape walked backwards.

Running a spec on :class:`Node` values records a Wengert list: every primitive appends one
:class:`Record` to an append-only tape, and the reverse sweep walks the tape from the output
back to the inputs, applying each primitive's VJP from its registry stanza and adding
cotangents into a dict that lives only as long as the sweep (calling twice gives the same
answer; nothing is stored on the nodes).

The engine knows no primitive by name. What makes it fast is read from the stanzas:

* ``vjp_numpy``: the stanza's rule in plain numpy, used when the cotangent and the recorded
  values are plain arrays (no ``dnp`` dispatch); ``vjp_into`` adds a sparse cotangent
  (``x[1:]``) straight into the parent's accumulator;
* ``saves``: the values the VJP reads, so a record holds only those (a large
  argument the rule reads only the shape of is replaced by a zero-stride stand-in and freed);
* ``elementwise``: the cotangent of a whole-array ``sum`` stays one number while it flows
  through elementwise records that do not broadcast (``x**2``, ``a * b``): one pass over the
  array instead of two.

Nodes have ``__slots__`` and hold a raw value and their tape index; records hold raw values,
never nodes, so there are no reference cycles. The garbage collector is paused during the
sweep (diffkit's own bookkeeping), never while the user's function runs.

Because the values inside a node may themselves be traced (dual numbers of forward mode, the
nodes of an outer reverse trace), and then the stanzas' differentiable rules (written with
``dnp`` primitives) are used, the sweep is itself differentiable: reverse-over-reverse
Hessians and forward-over-reverse Hessian-vector products work.
"""

from __future__ import annotations

import functools
import gc
import math
import operator
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from ..core import (
    FP_EVENTS,
    REGISTRY,
    Primitive,
    Trace,
    Tracer,
    bind,
    checked_call,
    checked_evaluation,
    complex_intermediate,
    domain_error,
    evaluating,
    innermost,
    is_complex,
    library_routes,
)
from ..errors import NotTraceableError
from ..memory import Meter, current, meter
from ..primitives import ops
from ..primitives._stanza import sum_to
from ..results import DerivativeResult
from ..spec import (
    Function,
    all_finite,
    check_derivative,
    normalize_output,
    not_scalar,
    surely_finite,
)
from .base import Method

__all__ = [
    "Node",
    "Record",
    "ReverseMode",
    "ReverseTrace",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "record",
    "sweep",
    "value_and_gradient",
    "vjp",
]

_ndarray = np.ndarray
_f64 = np.float64
_F64 = np.dtype(np.float64)
_NUMBERS = (float, int, np.float64)  # plain Python and numpy numbers
_FILLS = (float, int, np.float64, np.float32, np.float16, complex, np.complex128)
_PLAIN = (np.ndarray, np.float64, float, int, np.float32, np.complex128, complex, np.bool_, bool)

STAND_IN_BYTES = 64 * 1024
"""An argument a VJP reads only the shape of is replaced on the tape by a zero-stride stand-in
when it is at least this large (so the intermediate can be freed while recording goes on)."""


def _shape_of(v: Any) -> tuple[int, ...]:
    if v.__class__ is _ndarray:
        return v.shape
    if v.__class__ in _NUMBERS:
        return ()
    if isinstance(v, Tracer):
        return v.shape
    return np.shape(v)


_ZERO_BUFFERS: dict[Any, np.ndarray] = {}
_UNREAD = float(0)  # stands for a number argument a rule reads only the shape of: ()


def _stand_in(v: np.ndarray) -> np.ndarray:
    """A zero-stride, read-only array of ``v``'s shape and dtype: all that a rule reading only
    the shape needs. Shared (read-only, so safe): one per shape and dtype, kept in a bounded
    cache (building one costs a microsecond; finding it, a dict lookup)."""
    key = (v.shape, v.dtype)
    out = _STAND_INS.get(key)
    if out is None:
        dtype = v.dtype
        buf = _ZERO_BUFFERS.get(dtype)
        if buf is None:
            buf = _ZERO_BUFFERS[dtype] = np.zeros(1, dtype=dtype)
            buf.flags.writeable = False
        out = np.ndarray(v.shape, dtype, buf, 0, (0,) * v.ndim)
        out.flags.writeable = False
        if len(_STAND_INS) >= _STAND_IN_CACHE:
            _STAND_INS.clear()
        _STAND_INS[key] = out
    return out


_STAND_INS: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}
_STAND_IN_CACHE = 256  # shapes remembered (a program has few; a sweep over sizes, many)


# ============================================================================ the tape


class Record:
    """One recorded primitive: what the sweep needs to apply its VJP.

    Every field has one meaning for every primitive. ``Record()`` is empty (no ``__init__``:
    a class without one is made by a C call, once per recorded operation); :func:`_record`
    fills one, and the hot paths write its stores out.

    Attributes
    ----------
    prim : Primitive
    parents : tuple of int
        Tape indices of the traced arguments.
    positions : tuple of int
        Their argument positions (``parents[j]`` is argument ``positions[j]``).
    mask : tuple of bool
        Which arguments are traced (the ``wanted`` of the fast rules).
    args : tuple
        The raw arguments the VJP reads (stand-ins for the ones it does not).
    params : dict
        Static parameters (``axis``, ``index``, ...).
    ans : value or None
        The output, when the VJP reads it.
    shape : tuple of int
        The output's shape.
    plain : bool
        No traced value among ``args`` and ``ans`` (the fast rules may be used).
    poisoned : bool or int
        numpy counted a floating-point event while computing it (a NaN or an infinity, say
        ``sqrt`` of an entry ``np.where`` then discards): its VJP lets a zero cotangent
        annihilate an infinite partial (see :func:`_guarded_vjps`); :data:`_AGAIN` on a second
        sweep with every record guarded.
    fast : callable or None
        The stanza's plain-numpy rule (:attr:`Primitive.fast_vjp`) when the record is plain
        and not poisoned, else None: the one test the sweep's fast lanes make.
    whole : bool or None
        Whether a number may stand for the whole output cotangent (an elementwise primitive
        whose arrays all have the output's shape and whose numbers are constants: no rule
        needs the cotangent's shape); None: not worked out while recording (the sweep does,
        when a number arrives).
    """

    __slots__ = ("ans", "args", "fast", "mask", "params", "parents", "plain", "poisoned",
                 "positions", "prim", "shape", "whole")

    def __repr__(self) -> str:
        return f"Record({self.prim.name}, parents={self.parents})"


_SPARE: list[Record] = []
"""Records a consuming sweep has finished with, for the next recordings to fill: emptied of
everything of the user's (values, params, the primitive and its rule, which for a checkpoint
holds the user's function and what it captures).

A tape keeps every record until its sweep: thousands of tracked objects a call, which made
Python's collector run and promote them into its oldest generation (a third of the scalar
tape's recording time, with the collector left on around the user's code). Reused records
are allocated once; a record anything else still refers to is never reused."""
_SPARE_MAX = 1 << 16  # records kept spare (~10 MB at most)
_SPARE_FROM = 512  # tapes this long give their records back (a shorter one barely wakes the
# collector, whose youngest generation is collected every 700 new objects)
_refcount = sys.getrefcount


def _spare_record() -> Record:
    """An empty record: a spare one, else a new one."""
    if _SPARE:
        try:
            return _SPARE.pop()
        except IndexError:  # another thread took the last one
            pass
    return Record()


def _record(prim: Primitive, parents: tuple[int, ...], positions: tuple[int, ...],
            mask: tuple[bool, ...], args: tuple, params: dict[str, Any], ans: Any,
            shape: tuple[int, ...], plain: bool, poisoned: bool) -> Record:
    """A record of these fields (``fast`` worked out from ``plain`` and ``poisoned``)."""
    r = _spare_record()
    r.prim = prim
    r.parents = parents
    r.positions = positions
    r.mask = mask
    r.args = args
    r.params = params
    r.ans = ans
    r.shape = shape
    r.plain = plain
    r.poisoned = poisoned
    r.fast = prim.fast_vjp if plain and not poisoned else None
    r.whole = None
    return r


_MASKS: dict[tuple[tuple[int, ...], int], tuple[bool, ...]] = {}


def _mask(positions: tuple[int, ...], n: int) -> tuple[bool, ...]:
    """Which of ``n`` arguments are traced, as the fast rules take it (``wanted``)."""
    key = (positions, n)
    m = _MASKS.get(key)
    if m is None:
        m = _MASKS[key] = tuple(k in positions for k in range(n))
    return m


class ReverseTrace(Trace):
    """One recording: an append-only tape of :class:`Record` (``None`` for inputs).

    Parameters
    ----------
    log : bool
        Keep ``(primitive name, argument references, value, params)`` per node for
        :func:`diffkit.trace` to print and draw the program.
    stand_in_bytes : int
        See :data:`STAND_IN_BYTES`; 0 replaces every unread argument (tests use it to prove
        each stanza's ``saves``).
    """

    __slots__ = ("fp_seen", "log", "poisoned", "stand_in_bytes", "tape")

    def __init__(self, log: bool = False, stand_in_bytes: int | None = None) -> None:
        super().__init__()
        self.fp_seen = FP_EVENTS.count  # floating-point events counted so far (poisoned)
        self.poisoned = False  # some record is: check the parents of later ones
        self.tape: list[Any] = []
        self.log: list[Any] | None = [] if log else None
        self.stand_in_bytes = STAND_IN_BYTES if stand_in_bytes is None else stand_in_bytes

    def new_input(self, value: Any, name: str = "x") -> Node:
        """A fresh input node holding ``value`` (a leaf of the graph); never complex (the
        binary operators rely on it: a traced value is real, so only a complex constant can
        make their result complex)."""
        if is_complex(value):
            raise NotTraceableError(
                f"the point {name} = {value!r} is complex: diffkit's AD methods differentiate "
                f"real functions at real points (the complex step is method='complex-step')")
        node = _node(self, value, len(self.tape))
        self.tape.append(None)
        if self.log is not None:
            self.log.append(("input", (name,), value, {}))  # name: the parameter
        return node

    # --- the interpreter rule for every primitive
    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        if len(args) == 1:  # one argument, a node holding a plain value: no dispatch needed
            a = args[0]
            if a.__class__ is Node and a._trace is self:
                v = a.value
                cls = v.__class__
                if cls is _ndarray or cls is _f64 or cls is float:
                    try:
                        ans = prim.numeric(v, **params)
                    except FloatingPointError:
                        raise domain_error(prim, (v,)) from None
                    if not prim.differentiable:
                        return ans
                    acls = ans.__class__
                    if (acls is _ndarray and ans.dtype is not _F64 and ans.dtype.kind == "c") \
                            or (acls is not _ndarray and acls is not _f64 and is_complex(ans)):
                        raise complex_intermediate(prim)
                    reads = prim._reads.get(_FIRST)
                    need, keep_ans = reads if reads is not None else prim.reads(_FIRST)
                    kept = v
                    if cls is _ndarray:
                        if need is not None and 0 not in need \
                                and v.nbytes >= self.stand_in_bytes:
                            kept = _stand_in(v)
                    elif need is not None and 0 not in need and not self.stand_in_bytes:
                        kept = _UNREAD
                    shape = ans.shape if acls is _ndarray else (() if acls is _f64 or acls is float
                                                                else _shape_of(ans))
                    tape = self.tape
                    node = Node()  # (_node written out)
                    node._trace = self
                    node.value = ans
                    node.id = len(tape)
                    poisoned = self.poison((a.id,), ans) if self.poisoned \
                        or FP_EVENTS.count != self.fp_seen else False
                    plain = acls is _ndarray or not isinstance(ans, Tracer)
                    r = None  # _record inline (_spare_record written out)
                    if _SPARE:
                        try:
                            r = _SPARE.pop()
                        except IndexError:
                            pass
                    if r is None:
                        r = Record()
                    r.prim = prim
                    r.parents = (a.id,)
                    r.positions = _FIRST
                    r.mask = _ONE
                    r.args = (kept,)
                    r.params = params
                    r.ans = ans if keep_ans else None
                    r.shape = shape
                    r.plain = plain
                    r.poisoned = poisoned
                    r.fast = prim.fast_vjp if plain and not poisoned else None
                    r.whole = shape == v.shape if cls is _ndarray and prim.elementwise else None
                    tape.append(r)
                    if self.log is not None:
                        self.note(prim.name, args, ans, params)
                    return node
        raw = list(args)
        parents = []
        positions = []
        for i, a in enumerate(args):
            if a.__class__ is Node and a._trace is self:
                raw[i] = a.value
                parents.append(a.id)
                positions.append(i)
        raw_t = tuple(raw)
        ans = bind(prim, raw_t, params)  # lower traces (if any) see the call next
        if not parents or not prim.differentiable:
            return ans  # comparisons, sign: plain values, so `if x > 0:` works
        node = self.push(prim, tuple(parents), tuple(positions), raw_t, params, ans)
        if self.log is not None:
            self.note(prim.name, args, ans, params)
        return node

    def push(self, prim: Primitive, parents: tuple[int, ...], positions: tuple[int, ...],
             raw: tuple, params: dict[str, Any], ans: Any) -> Node:
        """Append the record of ``prim`` applied to ``raw`` and return the output node."""
        reads = prim._reads.get(positions)
        need, keep_ans = reads if reads is not None else prim.reads(positions)
        plain = True
        kept = raw
        for k, a in enumerate(raw):
            cls = a.__class__
            if cls is _ndarray:
                if need is not None and k not in need and a.nbytes >= self.stand_in_bytes:
                    if kept is raw:
                        kept = list(raw)
                    kept[k] = _stand_in(a)
            elif cls is _f64 or cls is float or cls is int:
                if need is not None and k not in need and not self.stand_in_bytes:
                    if kept is raw:  # (numbers are small: replaced only to test ``saves``)
                        kept = list(raw)
                    kept[k] = _UNREAD
            elif isinstance(a, Tracer):
                plain = False
        if kept is not raw:
            kept = tuple(kept)
        acls = ans.__class__
        if acls is _ndarray:
            shape = ans.shape
            if ans.dtype is not _F64 and ans.dtype.kind == "c":
                raise complex_intermediate(prim)
        elif acls is _f64 or acls is float:
            shape = ()
        else:
            shape = _shape_of(ans)
            if isinstance(ans, Tracer):
                plain = False
            elif is_complex(ans):
                raise complex_intermediate(prim)
        tape = self.tape
        node = _node(self, ans, len(tape))
        poisoned = self.poison(parents, ans)
        tape.append(_record(prim, parents, positions, _mask(positions, len(raw)), kept, params,
                            ans if keep_ans else None, shape, plain, poisoned))
        return node

    def poison(self, parents: tuple[int, ...], ans: Any) -> bool:
        """Whether the record being pushed is poisoned: numpy counted a floating-point event
        while computing it, or a parent is poisoned and the NaN or infinity reached ``ans``
        (``p * log(p)`` at p < 0). Free for programs that never meet one."""
        if FP_EVENTS.count != self.fp_seen:
            self.fp_seen = FP_EVENTS.count
            self.poisoned = True
            return True
        if not self.poisoned:
            return False
        tape = self.tape
        for p in parents:
            rec = tape[p]
            if rec is not None and rec.poisoned:
                if isinstance(ans, Tracer):  # an outer trace's value: no plain guard applies
                    return False
                try:
                    return not np.all(np.isfinite(ans))
                except TypeError:  # a non-numeric value
                    return True
        return False

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
        return bool(tracer._value)

    def nbytes(self, seen: set[int] | None = None) -> int:
        """Bytes of the values the tape keeps for the VJPs (each stanza's ``saves``).

        ``seen``: ids of values already counted elsewhere (a checkpoint's inputs, which the
        tape that re-runs it shares with the tape that saved them); they are not counted.
        """
        return sum(self.nbytes_by_record(seen))

    def nbytes_by_record(self, seen: set[int] | None = None) -> list[int]:
        """:meth:`nbytes` record by record: the bytes each tape entry adds (a value held by
        several records counts at the first; inputs and swept records add nothing)."""
        out = []
        seen = set() if seen is None else set(seen)
        for rec in self.tape:
            total = 0
            if rec is not None and rec.__class__ is Record:
                need, keep_ans = rec.prim.reads(rec.positions)
                held = [a for k, a in enumerate(rec.args) if need is None or k in need]
                if keep_ans:
                    held.append(rec.ans)
                for v in held:
                    if v is None or id(v) in seen:
                        continue
                    seen.add(id(v))
                    if v.__class__ is _ndarray:
                        if v.base is None or v.base is not _ZERO_BUFFERS.get(v.dtype):
                            total += v.nbytes  # (a stand-in views a shared zero: nothing)
                    elif isinstance(v, (float, int, np.generic)) and v is not _UNREAD:
                        total += 8
            out.append(total)
        return out

    def ops(self) -> int:
        """Number of recorded primitives (swept records of a consumed tape are gone)."""
        tape = self.tape
        return len(tape) - tape.count(None)


# ============================================================================ nodes


class Node(Tracer):
    """A value recorded on a :class:`ReverseTrace`: its raw value and its tape index.

    The Python operators take a short path to :meth:`ReverseTrace.push` (the stanza's
    numeric rule on the raw values, no dispatch); every other primitive goes through
    :meth:`ReverseTrace.process`.
    """

    __slots__ = ("_trace", "id", "value")

    @property
    def _value(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        v = self.value  # messages name nodes: a large array by its shape, never whole
        shown = f"array of shape {v.shape}" if isinstance(v, np.ndarray) and v.size > 6 \
            else repr(v)
        return f"Node(v{self.id}, value={shown})"


def _node(trace: ReverseTrace, value: Any, index: int) -> Node:
    """``Node`` holding ``value`` at tape index ``index`` of ``trace`` (the hot paths write these
    three lines out: a class without ``__init__`` is made by a C call)."""
    node = Node()
    node._trace = trace
    node.value = value
    node.id = index
    return node


_FIRST, _SECOND, _BOTH = (0,), (1,), (0, 1)
_ONE = (True,)
_NO_PARAMS: dict[str, Any] = {}


def _binary_operator(prim: Primitive, op: str, swap: bool) -> Callable[[Node, Any], Any]:
    """``Node.__<op>__`` for a binary primitive (``swap``: the reflected ``__r<op>__``).

    ``other`` is a plain constant, a node of this trace, or another tracer (handed to
    :func:`~diffkit.core.bind`, which picks the innermost trace). The value is the Python
    operator on the raw values, which for numpy arrays and scalars is the stanza's ufunc
    (``x + y`` is ``np.add(x, y)``) without the ufunc's call overhead on numbers. The record
    is :meth:`ReverseTrace.push` written out for two arguments (the common case, at a
    third of the cost).
    """
    numeric = getattr(operator, op)
    name = prim.name
    layouts = {}
    for positions in (_FIRST, _SECOND, _BOTH):
        need, keep_ans = prim.reads(positions)
        need = frozenset((0, 1)) if need is None else need
        layouts[positions] = (positions, keep_ans, _mask(positions, 2), 0 in need, 1 in need)
    # the three layouts as locals of the closure: no dict lookup per operation
    lay_1, lay_2, lay_b = layouts[_FIRST], layouts[_SECOND], layouts[_BOTH]
    events = FP_EVENTS
    elementwise = prim.elementwise
    spare = _SPARE

    def method(self: Node, other: Any) -> Any:
        tr = self._trace
        ocls = other.__class__
        if ocls is Node and other._trace is tr:
            y, b = other.value, other.id
        elif ocls is float or ocls is _f64 or ocls is _ndarray or ocls is int:
            y, b = other, -1
        elif isinstance(other, Tracer) or ocls is list or ocls is tuple:  # (the stanza's
            return prim.function(other, self) if swap else prim.function(self, other)  # call)
        else:
            y, b = other, -1
        x, a = self.value, self.id
        if swap:
            x, y, a, b = y, x, b, a
        try:
            ans = numeric(x, y)
        except (FloatingPointError, ZeroDivisionError, OverflowError):  # (Python floats)
            raise domain_error(prim, (x, y)) from None
        if b < 0:
            parents = (a,)
            positions, keep_ans, mask, x_read, y_read = lay_1
        elif a < 0:
            parents = (b,)
            positions, keep_ans, mask, x_read, y_read = lay_2
        else:
            parents = (a, b)
            positions, keep_ans, mask, x_read, y_read = lay_b
        acls = ans.__class__
        whole = None
        if acls is float or acls is _f64:  # a number out (so numbers in): nothing to replace
            shape = ()  # by a stand-in, no shape, never a fill
            plain = True
        else:
            if acls is _ndarray:  # complex only from a complex constant (traced values: real)
                if ocls is not Node and ocls is not float and ocls is not int \
                        and ans.dtype.kind == "c":
                    raise complex_intermediate(prim)
            elif is_complex(ans):
                raise complex_intermediate(prim)
            plain = True
            cx = x.__class__
            if cx is _ndarray:
                if not x_read and x.nbytes >= tr.stand_in_bytes:
                    x = _stand_in(x)
            elif cx is not _f64 and cx is not float and cx is not int and isinstance(x, Tracer):
                plain = False
            cy = y.__class__
            if cy is _ndarray:
                if not y_read and y.nbytes >= tr.stand_in_bytes:
                    y = _stand_in(y)
            elif cy is not _f64 and cy is not float and cy is not int and isinstance(y, Tracer):
                plain = False
            if acls is _ndarray:
                shape = ans.shape
                if elementwise:  # (see Record.whole)
                    whole = (x.shape == shape if cx is _ndarray else a < 0 and (
                        cx is float or cx is _f64 or cx is int)) and (
                        y.shape == shape if cy is _ndarray else b < 0 and (
                            cy is float or cy is _f64 or cy is int))
                else:
                    whole = False
            else:
                shape = _shape_of(ans)
                if isinstance(ans, Tracer):
                    plain = False
        tape = tr.tape
        node = Node()  # (_node written out)
        node._trace = tr
        node.value = ans
        node.id = len(tape)
        r = None  # _record inline (_spare_record written out): the commonest record
        if spare:
            try:
                r = spare.pop()
            except IndexError:
                pass
        if r is None:
            r = Record()
        r.prim = prim
        r.parents = parents
        r.positions = positions
        r.mask = mask
        r.args = (x, y)
        r.params = _NO_PARAMS
        r.ans = ans if keep_ans else None
        r.shape = shape
        r.plain = plain
        r.whole = whole
        # (tr.poison inline: nothing to check until numpy counts an event or a record is)
        if tr.poisoned or events.count != tr.fp_seen:
            r.poisoned = poisoned = tr.poison(parents, ans)
            r.fast = prim.fast_vjp if plain and not poisoned else None
        else:
            r.poisoned = False
            r.fast = prim.fast_vjp if plain else None
        tape.append(r)
        if tr.log is not None:
            tr.note(name, (other, self) if swap else (self, other), ans, {})
        return node

    return method


def _unary_operator(prim: Primitive, op: str) -> Callable[[Node], Any]:
    numeric = getattr(operator, op)

    def method(self: Node) -> Any:
        tr = self._trace
        x = self.value
        try:
            ans = numeric(x)
        except FloatingPointError:
            raise domain_error(prim, (x,)) from None
        node = tr.push(prim, (self.id,), _FIRST, (x,), _NO_PARAMS, ans)
        if tr.log is not None:
            tr.note(prim.name, (self,), ans, {})
        return node

    return method


def _getitem_operator(prim: Primitive) -> Callable[[Node, Any], Any]:
    """``Node.__getitem__``: a slice or an integer index is the parameter as it is (straight to
    :meth:`ReverseTrace.process`); any other index goes through the stanza's function, which
    parses it (arrays, lists, traced indices)."""
    function = prim.function
    numeric = operator.getitem  # the Python operator, as the binary operators take theirs
    need, keep_ans = prim.reads(_FIRST)
    x_read = need is None or 0 in need
    events = FP_EVENTS

    def method(self: Node, index: Any) -> Any:
        icls = index.__class__
        if icls is not slice and icls is not int:
            return function(self, index)
        tr = self._trace
        v = self.value
        if v.__class__ is not _ndarray:
            return tr.process(prim, (self,), {"index": index})
        ans = numeric(v, index)  # (process's one-argument path, written out for an array)
        if not x_read and v.nbytes >= tr.stand_in_bytes:
            v = _stand_in(v)
        tape = tr.tape
        node = Node()
        node._trace = tr
        node.value = ans
        node.id = len(tape)
        params = {"index": index}
        poisoned = tr.poison((self.id,), ans) if tr.poisoned or events.count != tr.fp_seen \
            else False
        r = _spare_record()
        r.prim = prim
        r.parents = (self.id,)
        r.positions = _FIRST
        r.mask = _ONE
        r.args = (v,)
        r.params = params
        r.ans = ans if keep_ans else None
        if ans.__class__ is _ndarray:
            r.shape = ans.shape
            plain = True
        else:  # an entry: a number, or what an object array holds
            r.shape = _shape_of(ans)
            plain = not isinstance(ans, Tracer)
        r.plain = plain
        r.poisoned = poisoned
        r.fast = prim.fast_vjp if plain and not poisoned else None
        r.whole = False
        tape.append(r)
        if tr.log is not None:
            tr.note(prim.name, (self,), ans, params)
        return node

    return method


def _install_operators() -> None:
    """The stanzas' Python operators as short paths on :class:`Node` (nothing by name)."""
    for prim in REGISTRY.values():
        if not prim.differentiable or prim.composite is not None:
            continue
        for op in prim.operators:
            if op == "getitem":  # an index is a parameter: slices and integers as they
                setattr(Node, f"__{op}__", _getitem_operator(prim))  # are, others parsed
                continue
            if op in ("neg", "abs"):
                setattr(Node, f"__{op}__", _unary_operator(prim, op))
            elif op in _REFLECTED:
                setattr(Node, f"__{op}__", _binary_operator(prim, op, False))
                setattr(Node, f"__r{op}__", _binary_operator(prim, op, True))


_REFLECTED = frozenset({"add", "sub", "mul", "truediv", "pow", "matmul", "mod"})


_install_operators()


# ============================================================================ the sweep


def _materialize(g: Any, rec: Record) -> Any:
    """A number standing for a whole array (a fill) as the array, unless the record can take
    it as it is: an elementwise primitive whose traced arguments have the output's shape and
    whose constants are numbers or have it too (so no rule needs the fill's shape to
    broadcast, or to sum a scalar argument's cotangent over it: ``x - x[0]``)."""
    shape = rec.shape
    if not shape or (g.__class__ not in _FILLS and not (
            g.__class__ is _ndarray and g.ndim == 0)):
        return g
    if rec.prim.elementwise:
        mask = rec.mask
        j = 0
        for a in rec.args:
            traced = mask[j]
            j += 1
            cls = a.__class__
            if cls is _ndarray:
                if a.shape != shape:
                    break
            elif traced or (not (cls is _f64 or cls is float or cls is int) and _shape_of(a)):
                break
        else:
            return g
    return np.full(shape, g)


def _guarded_vjps(rec: Record, g: Any) -> list[tuple[int, Any]]:
    """The VJPs of a poisoned elementwise record, where a zero cotangent annihilates.

    ``np.where(x > 0, np.sqrt(x), 0.0)`` evaluates ``sqrt`` at negative entries and discards
    them: their cotangent is exactly zero, and their partial derivative NaN, and 0 * NaN would
    poison the gradient. Each argument's contribution is computed at the output's full shape
    (arguments broadcast to it), entries whose cotangent is zero are set to zero, and only then
    is it summed back to the argument's shape. Only records numpy flagged (``poisoned``) take
    this path: the ordinary one pays nothing.
    """
    prim = rec.prim
    shape = rec.shape
    gf = np.broadcast_to(g, shape) if shape else g
    full = tuple(np.broadcast_to(a, shape) if shape and _shape_of(a) != shape else a
                 for a in rec.args)
    out = []
    for p, k in _pairs(rec.parents, rec.positions):
        rule = prim.vjp_rule(k)
        if rule is None:
            continue
        c = np.asarray(rule(gf, rec.ans, *full, **rec.params))
        drop = _discarded(rec, gf, c, strict=rec.poisoned is _AGAIN)
        if drop is not None:
            c = np.where(drop, 0.0, c)
        out.append((p, sum_to(c, _shape_of(rec.args[k]))))
    return out


def _discarded(rec: Record, g: Any, c: Any, strict: bool = True) -> np.ndarray | None:
    """Where a zero cotangent annihilates a contribution ``c`` that is not a number (a mask of
    the output's shape, or None): ``g`` is 0 there and ``c`` NaN or infinite -- never where
    ``c`` is a number (a zero cotangent at an exact fit keeps the derivative of its
    contribution, which a Hessian needs).

    ``strict``: also only where the record's own value is not a number -- an argument or the
    output NaN or infinite, or the first argument outside the primitive's domain (``sqrt`` of
    a negative entry ``np.where`` discards; NaN in data ``np.nansum`` skips). A number whose
    partial is infinite (``sqrt`` at 0, ``arccos`` at 1) is then the derivative's own
    singularity: 0 * inf stays NaN and is refused (``cos(sqrt(k))`` at 0 has a derivative, but
    not the one 0 * inf = 0 gives; the Matern kernel's Hessian where its points meet). Strict
    are second sweeps of a gradient that was not finite, and traced contributions (Hessians);
    a record numpy flagged while recording keeps the zero cotangent's rule on the first
    sweep, so the branch ``np.where`` does not take at its switch (``sqrt`` at 0 below
    ``where(x > 0, ...)``) contributes nothing, as forward mode's selection gives.
    ``g`` and ``c`` may be traced: the mask is read from their values, a constant."""
    gv, cv = np.asarray(innermost(g)), np.asarray(innermost(c))
    if gv.dtype.kind not in "fc" or cv.dtype.kind not in "fc" or cv.shape != rec.shape:
        return None
    with np.errstate(invalid="ignore"):
        drop = (gv == 0) & ~np.isfinite(cv)
    if not drop.any():
        return None
    if not strict:
        return drop
    shape = rec.shape
    bad = np.zeros(shape, dtype=bool)
    held = [a for a in rec.args if not _is_stand_in(a)]  # (what the VJP reads)
    if rec.ans is not None:
        held.append(rec.ans)
    for v in held:
        v = np.asarray(innermost(v))
        if v.dtype.kind in "fc":
            bad |= ~np.isfinite(np.broadcast_to(v, shape))
    dom = rec.prim.domain
    if dom is not None and (dom.lo is not None or dom.hi is not None) and rec.args \
            and not _is_stand_in(rec.args[0]):
        first = np.asarray(innermost(rec.args[0]))
        if first.dtype.kind == "f":
            bad |= ~dom.contains(np.broadcast_to(first, shape))
    drop &= bad
    return drop if drop.any() else None


_AGAIN = 2
"""``Record.poisoned`` on the second sweep of a gradient that was not finite: every record
guarded, strictly (see :func:`_discarded`)."""


def _is_stand_in(a: Any) -> bool:
    return a.__class__ is _ndarray and a is _STAND_INS.get((a.shape, a.dtype))


def record_vjps(rec: Record, g: Any) -> list[tuple[int, Any]]:
    """``[(parent, cotangent), ...]`` of one record for the output cotangent ``g``.

    The stanza's plain-numpy rule when everything is plain, its differentiable rule otherwise.
    """
    g = _materialize(g, rec)
    prim = rec.prim
    if rec.poisoned and prim.elementwise:
        if rec.plain and not isinstance(g, Tracer):
            return _guarded_vjps(rec, g)
        # traced values (a Hessian): the same guard, written with primitives so the outer
        # trace differentiates through it
        out = []
        for p, k in _pairs(rec.parents, rec.positions):
            rule = prim.vjp_rule(k)
            if rule is not None:
                c = rule(g, rec.ans, *rec.args, **rec.params)
                if _shape_of(c) == _shape_of(g):
                    drop = _discarded(rec, g, c)  # (a constant mask: the tangent of c
                    if drop is not None:  # stays where it is a number)
                        inside = _moved_inside(rec, drop, c)
                        if inside is not None:  # the rule again, where it stays finite
                            c = rule(g, inside[1], inside[0], **rec.params)
                        c = ops.where(drop, 0.0, c)
                out.append((p, c))
        return out
    if rec.fast is not None and not isinstance(g, Tracer):
        cts = rec.fast(g, rec.ans, rec.args, rec.params, rec.mask)
        return [(p, cts[k]) for p, k in _pairs(rec.parents, rec.positions)]
    out = []
    for p, k in _pairs(rec.parents, rec.positions):
        rule = prim.vjp_rule(k)
        if rule is not None:
            out.append((p, rule(g, rec.ans, *rec.args, **rec.params)))
    return out


def _moved_inside(rec: Record, drop: np.ndarray, c: Any) -> tuple[Any, Any] | None:
    """``(x, ans)`` of a one-argument record with the entries ``drop`` discards moved to a point
    inside the derivative's domain (JAX's "double where"), or None.

    On traced values (a Hessian) the VJP rule is itself recorded: ``arccosh``'s,
    ``g / sqrt(x**2 - 1)``, at a discarded ``x = -1`` holds ``sqrt(0)``, whose own partial is
    infinite, and the zero cotangent the outer sweep brings back to it gives 0 * inf = NaN
    (forward mode's selection gives the Hessian). With ``x`` moved inside where it is dropped,
    everything the rule computes there is finite, and the ``where`` that drops it passes back
    exact zeros.

    Only where ``drop`` covers every entry at which the contribution ``c`` is not finite: an
    entry left out (``sqrt`` at 0, a value the primitive has, discarded by ``np.where``) is
    guarded on the outer tape only because numpy counted an event while the rule ran, which
    moving the other entries inside would take away.
    """
    prim = rec.prim
    dom = prim.derivative_domain or prim.domain
    if dom is None or len(rec.args) != 1 or (dom.lo is None and dom.hi is None):
        return None
    x = rec.args[0]
    if _is_stand_in(x) or _shape_of(x) != rec.shape \
            or not np.all(np.isfinite(np.asarray(innermost(c))) | drop):
        return None
    lo, hi = dom.lo, dom.hi
    safe = (lo + hi) / 2.0 if lo is not None and hi is not None \
        else lo + 1.0 if lo is not None else hi - 1.0  # type: ignore[operator]
    x = ops.where(drop, safe, x)
    return x, (None if rec.ans is None else prim(x, **rec.params))


def _pairs(parents: tuple[int, ...], positions: tuple[int, ...]) -> Any:
    """``zip(parents, positions)`` (equal lengths by construction) without zip's keyword:
    ``strict=`` costs a quarter of a microsecond per call, once per record in a sweep."""
    return zip(parents, positions)  # noqa: B905


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
        Drop each record once swept (for a single sweep, as in ``gradient``): the values it held
        are freed as early as possible, so their memory is reused by the sweep itself.

    Returns
    -------
    list
        One cotangent per input; ``None`` where the output does not depend on it. A number
        may stand for a whole array of the input's shape (see :func:`_materialize`).
    """
    ct: list[Any] = [None] * (out + 1)  # cotangents by tape index, local to this sweep
    ct[out] = g
    owned: set[int] = set()  # entries of ct this sweep allocated: safe to add into in place
    found: dict[int, Any] = {}
    global _GC_PAUSES
    gc_was_on = gc.isenabled()
    if gc_was_on:  # diffkit's own bookkeeping only: record() resumes it around user code
        gc.disable()  # (a checkpoint's re-run inside this sweep)
        _GC_PAUSES += 1
    state = None
    spent = None  # (consume) the last record swept, made spare once the next is reached
    keep = _SPARE.append
    give_back = consume and out >= _SPARE_FROM  # (a short tape's records: not worth it)
    if not evaluating():  # called directly: 0 * inf of a discarded entry must not warn
        state = checked_evaluation()
        state.__enter__()
    try:
        for i in range(out, -1, -1):
            gi = ct[i]
            if gi is None:
                continue
            ct[i] = None
            rec = tape[i]
            if rec is None:  # an input
                found[i] = gi
                continue
            if consume:
                tape[i] = _SWEPT
                if give_back:
                    if spent is not None and _refcount(spent) == 2:  # the record swept
                        # before this one, which nothing else holds (here, the call): emptied
                        spent.args = spent.ans = spent.params = spent.prim = spent.fast = None
                        keep(spent)
                    spent = rec
            fast = rec.fast
            if fast is not None:
                gcls = gi.__class__
                if gcls is _ndarray:
                    if not gi.ndim and rec.shape:  # a 0-d array standing for the whole
                        gi = _materialize(gi, rec)
                elif gcls in _FILLS:  # a number: the scalar lane, or a fill of rec.shape
                    if rec.shape:
                        whole = rec.whole
                        if whole is None:
                            gi = _materialize(gi, rec)  # kept where the record can take it
                            gcls = gi.__class__
                        elif not whole:
                            gi = np.full(rec.shape, gi)
                            gcls = _ndarray
                else:
                    fast = None  # a cotangent the plain rule does not take
                if fast is not None:
                    into = rec.prim.fast_into
                    if into is not None:
                        p = rec.parents[0]
                        acc = ct[p]
                        if acc is None or (p in owned and acc.__class__ is _ndarray):
                            args = rec.args
                            if acc is None:
                                x = args[0]
                                acc = np.zeros(x.shape) if x.dtype is _F64 and (
                                    gcls is _f64 or gcls is float or (
                                        gcls is _ndarray and gi.dtype is _F64)) else \
                                    np.zeros(x.shape, dtype=np.result_type(x.dtype, gi, float))
                            try:
                                into(acc, gi, args, rec.params)
                            except (TypeError, ValueError):  # the dtype would change
                                pass
                            else:
                                ct[p] = acc
                                owned.add(p)
                                continue
                    cts = fast(gi, rec.ans, rec.args, rec.params, rec.mask)
                    del gi
                    parents = rec.parents
                    if len(parents) == 1:  # one traced argument (x * 2.0, sum(x)), reached
                        p = parents[0]  # for the first time: no loop
                        if ct[p] is None:
                            ct[p] = cts[rec.positions[0]]
                            continue
                    positions = rec.positions  # (by index: a zip is a tracked object a
                    for j in range(len(parents)):  # record, and wakes the collector sooner)
                        p = parents[j]
                        c = cts[positions[j]]
                        old = ct[p]
                        if old is None:
                            ct[p] = c
                        elif p in owned:
                            try:
                                np.add(old, c, out=old)
                            except (TypeError, ValueError):  # dtype or shape would change
                                ct[p] = old + c
                        else:
                            s = ct[p] = old + c
                            if s.__class__ is _ndarray:
                                owned.add(p)
                    continue
            pairs = record_vjps(rec, gi)
            del gi
            for p, c in pairs:
                old = ct[p]
                if old is None:
                    ct[p] = c
                    continue
                if p in owned and not isinstance(c, Tracer):
                    try:
                        np.add(old, c, out=old)
                        continue
                    except (TypeError, ValueError):  # dtype or shape would change
                        pass
                s = old + c
                ct[p] = s
                if s.__class__ is _ndarray:
                    owned.add(p)
    finally:
        if spent is not None and _refcount(spent) == 2:
            spent.args = spent.ans = spent.params = spent.prim = spent.fast = None
            keep(spent)
        if len(_SPARE) > _SPARE_MAX:
            del _SPARE[_SPARE_MAX:]
        if state is not None:
            state.__exit__(None, None, None)
        if gc_was_on:
            _GC_PAUSES -= 1
            gc.enable()
    return [found.get(i) for i in inputs]


_GC_PAUSES = 0
"""Sweeps under way that paused the garbage collector (it was on when they started)."""


_SWEPT = None  # a record already swept by a consuming sweep (never read again)


def _own(c: Any, like: Any) -> Any:
    """A cotangent handed to the caller: shaped like ``like`` and an array of its own."""
    if c.__class__ is _ndarray and like.__class__ is _ndarray and c.shape == like.shape:
        return c if c.base is None and c.flags.writeable else np.array(c)  # (the commonest)
    if isinstance(c, Tracer):
        shape = _shape_of(like)
        if c.shape != shape:
            c = ops.broadcast_to(c, shape) if c.shape == () else ops.reshape(c, shape)
        return c
    shape = _shape_of(like)
    if c.__class__ is not _ndarray:
        if not shape:
            return c
        return np.full(shape, c)
    if c.shape != shape:
        c = np.broadcast_to(c, shape) if c.ndim == 0 else c.reshape(shape)
    if c.base is not None or not c.flags.writeable:
        c = np.array(c)
    return c


# ============================================================================ operators


def _as_leaf(x: Any) -> Any:
    """Plain 0-d arrays become numpy scalars: scalar arithmetic is ~10x cheaper on them."""
    if x.__class__ is _ndarray and x.ndim == 0:
        return x[()]
    return x


def record(fun: Callable[..., Any], args: Sequence[Any], *, log: bool = False,
           stand_in_bytes: int | None = None) -> tuple[ReverseTrace, list[Node], Any]:
    """Run ``fun(*nodes)`` on fresh input nodes holding ``args``; return (trace, nodes, out)."""
    trace = ReverseTrace(log=log, stand_in_bytes=stand_in_bytes)
    if log:
        nodes = [trace.new_input(_as_leaf(a), f"x{k + 1}") for k, a in enumerate(args)]
    else:
        nodes = [trace.new_input(_as_leaf(a)) for a in args]
    # the user's code runs with the garbage collector as the user left it, even when a sweep
    # (re-running a checkpoint) paused it for its own bookkeeping
    resume = _GC_PAUSES and not gc.isenabled()
    if resume:
        gc.enable()
    try:
        if evaluating():
            with library_routes():
                out = fun(*nodes)
        else:  # called directly (not through a method): count floating-point events here
            with checked_evaluation(), library_routes():
                out = fun(*nodes)
    finally:
        if resume:
            gc.disable()
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
        return [_zeros_like(x) if c is None else _own(c, x) for c, x in zip(cts, xs,
                                                                             strict=True)]

    return pullback


def _value_of(out: Any, trace: ReverseTrace) -> Any:
    return out.value if out.__class__ is Node and out._trace is trace else out


def _normalized(out: Any) -> Any:
    """Lists and tuples of values (a vector output written as a list) as one array."""
    if isinstance(out, (list, tuple)):
        return normalize_output(out)
    return out


def vjp(fun: Callable[[Any], Any], x: Any) -> tuple[Any, Callable[[Any], Any]]:
    """Value of ``fun(x)`` and its pullback ``g -> g^T J``.

    Parameters
    ----------
    fun : callable
        A function of one argument (a scalar or an array), written with numpy or
        ``diffkit.numpy``.
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
    >>> import numpy as np
    >>> from diffkit.methods.reverse import vjp
    >>> y, pb = vjp(lambda x: np.sin(x) * 2.0, np.array([0.0, 1.0]))
    >>> pb(np.array([1.0, 1.0])).round(6)
    array([2.      , 1.080605])
    """
    if x.__class__ is tuple:  # several arrays: fun receives a tuple of nodes
        trace, nodes, out = record(lambda *xs: _normalized(fun(xs)), x)
        pull = _pullback_for(trace, nodes, out, x)
        return _value_of(out, trace), lambda g: tuple(pull(g))
    trace, nodes, out = record(lambda a: _normalized(fun(a)), (x,))
    pull = _pullback_for(trace, nodes, out, (x,))
    return _value_of(out, trace), lambda g: pull(g)[0]


def _scalar_check(value: Any, op: str) -> None:
    shape = _shape_of(value)
    if shape != ():
        raise not_scalar("f", shape, op, " (or vjp with an output cotangent)")


def value_and_gradient(fun: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    """``(fun(x), gradient of fun at x)`` for a scalar-valued ``fun`` of one argument, in one sweep.

    Parameters
    ----------
    fun : callable
        A function of one argument written with numpy or ``diffkit.numpy``, returning a
        scalar.
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
    >>> import numpy as np
    >>> from diffkit.methods.reverse import value_and_gradient
    >>> v, g = value_and_gradient(lambda x: np.sum(x ** 2), np.array([1.0, 2.0]))
    >>> float(v), g
    (5.0, array([2., 4.]))
    """
    if not evaluating():  # called directly: one context for the recording and the sweep
        return checked_call(_value_and_gradient, fun, x)
    return _value_and_gradient(fun, x)


def _value_and_gradient(fun: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    several = x.__class__ is tuple
    xs = x if several else (x,)
    trace, nodes, out = record(lambda *a: fun(a), xs) if several else record(fun, xs)
    if out.__class__ is not Node or out._trace is not trace:
        _scalar_check(out, "gradient")
        zeros = tuple(_zeros_like(xi) for xi in xs)
        return out, zeros if several else zeros[0]
    v = out.value
    if v.__class__ is not _f64 and v.__class__ is not float:
        _scalar_check(v, "gradient")
    usage = current()
    if usage is not None:  # a diffkit.memory.meter is counting
        usage.tape(trace, consumed=True)
    if not several:  # one argument (its node is tape entry 0)
        (c,) = sweep(trace.tape, out.id, 1.0, _ENTRY_0, consume=True)
        return v, _zeros_like(x) if c is None else _own(c, x)
    cts = sweep(trace.tape, out.id, 1.0, [n.id for n in nodes], consume=True)
    return v, tuple(_zeros_like(xi) if c is None else _own(c, xi)
                    for c, xi in zip(cts, xs, strict=True))


_ENTRY_0 = (0,)


def gradient(fun: Callable[[Any], Any], x: Any) -> Any:
    """Gradient of a scalar-valued ``fun`` of one argument at ``x`` (the shape of ``x``).

    Examples
    --------
    >>> import numpy as np
    >>> from diffkit.methods.reverse import gradient
    >>> round(float(gradient(lambda x: np.log(x) * x, 2.0)), 6)
    1.693147
    """
    return value_and_gradient(fun, x)[1]


def jacobian(fun: Callable[[Any], Any], x: Any) -> Any:
    """Jacobian ``(m, n)`` of ``fun`` at ``x``: one recording, one sweep per output entry.

    Examples
    --------
    >>> import numpy as np
    >>> from diffkit.methods.reverse import jacobian
    >>> jacobian(lambda x: x * x, np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    value, pullback = vjp(fun, x)
    out_shape = _shape_of(value)
    m = int(np.prod(out_shape, dtype=np.int64))
    n = int(np.prod(_shape_of(x), dtype=np.int64))
    rows = []
    for i in range(m):
        e = np.zeros(m)
        e[i] = 1.0
        rows.append(_ravel(pullback(e.reshape(out_shape))))
    if any(isinstance(r, Tracer) for r in rows):
        return ops.stack(rows) if rows else np.zeros((0, n))
    if not rows:
        return np.zeros((0, n))
    return np.array(rows, dtype=np.result_type(*rows, float)).reshape(m, n)


def _ravel(c: Any) -> Any:
    if isinstance(c, Tracer):
        return ops.reshape(c, (-1,))
    return np.ravel(c)


def hessian(fun: Callable[[Any], Any], x: Any) -> Any:
    """Hessian of a scalar ``fun`` at ``x`` by reverse-over-reverse (``(n, n)``).

    Examples
    --------
    >>> import numpy as np
    >>> from diffkit.methods.reverse import hessian
    >>> hessian(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacobian(lambda y: gradient(fun, y), x)


def hvp(fun: Callable[[Any], Any], x: Any, v: Any) -> Any:
    """Hessian-vector product ``H(x) v`` of a scalar ``fun``: one reverse-over-reverse sweep.

    The Hessian is symmetric, so ``H v`` is the VJP of the gradient map with cotangent ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> from diffkit.methods.reverse import hvp
    >>> hvp(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    _, pullback = vjp(lambda y: gradient(fun, y), x)
    return pullback(v)


# ============================================================================ the method


def _metered(compute: Callable[..., Any], spec: Function, x: np.ndarray) -> dict[str, Any]:
    """The memory diagnostics of ``compute(spec, x)`` (a ``ReverseMode`` operation), run
    again under a meter: what a result built without one reports on first access."""
    with checked_evaluation(), meter():
        info = compute(spec, x).info
    return {k: v for k, v in info.items() if k != "ops"}


class ReverseMode(Method):
    """Reverse-mode automatic differentiation on a numpy tape (``method="reverse-mode"``).

    One forward pass records the program; one reverse sweep gives the whole gradient, at a
    small constant multiple of the function's own cost. Jacobians take one sweep per output
    entry; Hessians are reverse-over-reverse (``n`` sweeps of the recorded gradient).
    ``info`` of the result holds ``ops`` (recorded primitives) and ``nbytes`` (bytes held by
    the tape), and what :mod:`diffkit.memory` counts: ``peak_nbytes`` (most bytes held by
    tapes at once, those a sweep records to re-run checkpoints included), ``snapshots``
    (most checkpointed states held at once), ``steps`` (:func:`diffkit.loop` steps run) and
    ``recomputed`` (those the sweep re-ran), ``checkpoints`` (checkpoint nodes recorded).

    Examples
    --------
    >>> import diffkit as dk, numpy as np
    >>> f = dk.Function(lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2))
    >>> dk.gradient(f, [2.0, 5.0], method="reverse-mode")
    array([5.5       , 1.71633781])
    """

    name = "reverse-mode"
    family = "reverse"
    reads_point = True  # (the tape holds it for the call; the sweep writes only its own arrays)

    def __init__(self) -> None:
        pass

    def _record(self, spec: Function, x: np.ndarray) -> tuple[ReverseTrace, list[Node], Any]:
        trace, nodes, out = record(spec.fn, spec.unpack(x))
        return trace, nodes, spec.output(out)

    @staticmethod
    def _info(trace: ReverseTrace, usage: Meter | None, consumed: bool = False
              ) -> dict[str, Any]:
        """``ops`` (the recorded primitives, counted before any sweep consumes the tape: the
        inputs are its only empty entries then) and, under a meter, ``nbytes``."""
        n_ops = len(trace.tape) - trace.tape.count(None)
        if usage is None:
            return {"ops": n_ops}
        usage.tape(trace, consumed)
        return {"ops": n_ops, "nbytes": usage.tape_nbytes}

    @staticmethod
    def _lazy(compute: Callable[..., DerivativeResult], spec: Function, x: np.ndarray
              ) -> Callable[[], dict[str, Any]]:
        """``info``'s memory diagnostics on first access, measured on the same operation run
        again under a meter (measuring the tape on every call cost half the engine's time at
        n = 1e3; the gradient's own tape is consumed by its sweep)."""
        return functools.partial(_metered, compute, spec, x)

    def _cotangents(self, trace: ReverseTrace, nodes: list[Node], out: Any, g: Any,
                    x: np.ndarray, consume: bool = False) -> np.ndarray:
        if out.__class__ is not Node or out._trace is not trace:
            return np.zeros(x.shape)
        cts = sweep(trace.tape, out.id, g, [n.id for n in nodes], consume)
        if len(nodes) == 1:
            c = cts[0]
            if c is None:
                return np.zeros(x.shape)
            c = _own(c, x)
            return c if c.__class__ is _ndarray and c.dtype is _F64 else np.asarray(c, dtype=float)
        return np.array([0.0 if c is None else float(c) for c in cts])

    def _result(self, value: Any, nfev: int, out_shape: tuple[int, ...], info: dict[str, Any],
                usage: Meter | None, compute: Callable[..., DerivativeResult], spec: Function,
                x: np.ndarray) -> DerivativeResult:
        """The result of ``compute(spec, x)``: with the meter's counts when it ran under one,
        else with them left to the first access of ``info`` (measured on a second run)."""
        if usage is None:
            return DerivativeResult(value, nfev=nfev, method=self.name, out_shape=out_shape,
                                    info=info, lazy_info=self._lazy(compute, spec, x))
        info.update(usage.info())
        return DerivativeResult(value, nfev=nfev, method=self.name, out_shape=out_shape,
                                info=info)

    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        # measured while a meter is active (a user's, or info's second run); else no meter
        if current() is None:
            usage = None
            value, info, g = self._taped_gradient(spec, x, usage)
        else:
            with meter() as usage:
                value, info, g = self._taped_gradient(spec, x, usage)
        check_derivative(spec, g, "gradient", x, self.name)
        return self._result(g, 1, value.shape, info, usage, self._gradient, spec, x)

    def _gradient_array(self, spec: Function, x: np.ndarray) -> np.ndarray:
        # dk.gradient's path: the same recording, sweep and checks, no result object (unless a
        # meter counts, or a subclass has a _gradient of its own)
        if current() is not None or type(self)._gradient is not ReverseMode._gradient:
            return np.asarray(self._gradient(spec, x).value)
        if len(spec.parameters) == 1:  # one array parameter: _record, check and _cotangents
            trace, _, out = record(spec.fn, (x,))  # written out (a sixth of the call's cost)
            out = normalize_output(out)
            if out.__class__ is Node and out._trace is trace:
                v = out.value
                if v.__class__ is not _f64 or v - v != 0.0:  # (not a finite number)
                    spec.check(v, "gradient", x)
                (g,) = sweep(trace.tape, out.id, 1.0, _ENTRY_0, True)
                del trace, out
                g = np.zeros(x.shape) if g is None else _own(g, x)
                if g.__class__ is not _ndarray or g.dtype is not _F64:
                    g = np.asarray(g, dtype=float)
            else:  # f did not use its argument
                spec.check(out, "gradient", x)
                g = np.zeros(x.shape)
        else:
            trace, nodes, out = self._record(spec, x)  # (_taped_gradient without the info)
            spec.check(_value_of(out, trace), "gradient", x)
            g = self._cotangents(trace, nodes, out, 1.0, x, True)
            del trace, nodes, out  # (the tape's memory back before any second sweep)
        if g.dtype is _F64 and surely_finite(g):
            return g  # finite: what check_derivative would return
        if g.dtype.kind == "f" and not all_finite(g):
            g = self._guarded(spec, x, g)
        return check_derivative(spec, g, "gradient", x, self.name)

    def _taped_gradient(self, spec: Function, x: np.ndarray, usage: Meter | None
                        ) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
        trace, nodes, out = self._record(spec, x)
        value = spec.check(_value_of(out, trace), "gradient", x)
        info = self._info(trace, usage, consumed=True)  # before the sweep consumes it
        g = self._cotangents(trace, nodes, out, 1.0, x, True)  # (a scalar output)
        if g.dtype.kind == "f" and not all_finite(g):
            g = self._guarded(spec, x, g)
        return value, info, g

    def _guarded(self, spec: Function, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """A gradient that is not finite, swept again with every record guarded: a zero
        cotangent annihilates a NaN or infinite partial. The guard is used where numpy counted
        a floating-point event while recording; NaN in data raises none, and
        ``np.where(np.isnan(y), 0, y * w)`` or ``np.nansum(y * w)`` multiplied the zero
        cotangent of a discarded entry by its NaN (a DomainError at every point). Where the
        guarded sweep is not finite either, the first gradient stands (and is refused)."""
        trace, nodes, out = self._record(spec, x)
        for rec in trace.tape:
            if rec.__class__ is Record:
                rec.poisoned = _AGAIN  # (guarded strictly: see _discarded)
                rec.fast = None
        again = self._cotangents(trace, nodes, out, 1.0, x, True)
        return again if all_finite(again) else g

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        with nullcontext() if current() is None else meter() as usage:
            trace, nodes, out = self._record(spec, x)
            value = spec.check(_value_of(out, trace), "jacobian", x)
            info = self._info(trace, usage)
            m = value.size
            rows = []
            for i in range(m):  # one sweep per output entry, all on the same recording
                e = np.zeros(m)
                e[i] = 1.0
                rows.append(self._cotangents(trace, nodes, out, e.reshape(value.shape),
                                             x).ravel())
        jac = np.array(rows).reshape(m, x.size)
        check_derivative(spec, jac, "jacobian", x, self.name)
        return self._result(jac, 1, value.shape, info, usage, self._jacobian, spec, x)

    def _derivative(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        r = self._jacobian(spec, x)
        shape = r.out_shape or ()
        value = np.asarray(r.value).reshape(shape)
        return r.replace(value=float(value) if shape == () else value)

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        value = spec.check(spec.call(x.copy()), "hessian", x)  # (f may write to its argument)
        with nullcontext() if current() is None else meter() as usage:
            # record the gradient computation itself on an outer tape, then sweep it n times
            outer, nodes, gout = record(lambda y: gradient(spec.call, y), (x,))
            info = self._info(outer, usage)
            n = x.size
            rows = []
            for i in range(n):
                e = np.zeros(x.shape)
                e.ravel()[i] = 1.0
                rows.append(self._cotangents(outer, nodes, gout, e, x).ravel())
        h = np.array(rows).reshape(n, n)
        check_derivative(spec, h, "hessian", x, self.name)
        return self._result(h, 2, value.shape, info, usage, self._hessian, spec, x)
