"""Source transformation: derivative programs written out as numpy code.

The spec runs once on :class:`Var` values of a :class:`Program`, a trace that records every
primitive it applies as one assignment of a straight-line program (and computes its value at
the point, so Python control flow and the rules can look at values). The registry's own
rules then run on the same kind of values: :meth:`Program.vjp` is the reverse sweep of
:mod:`diffkit.methods.reverse` (``prim.vjp_rule(i)(g, ans, *args, **params)`` per record,
cotangents added in the same order), :meth:`Program.jvp` the tangent sweep of
:mod:`diffkit.methods.forward`; each rule's ``dnp`` calls become more assignments. What
comes out is one program (primal, then adjoint or tangent assignments) that :func:`write`
prints as Python over numpy and :func:`build` compiles.

Nothing here knows a primitive by name. A recorded operation is written as

* the Python operator it was called with, for the operators numpy evaluates the same way
  (``v4 = v1 + v2``, ``v1 = x[1:]``; the stanza's ``operators`` say which a primitive has), or
* a call of the stanza's numeric function, named after the primitive (``v3 = sin(x2)``,
  ``v9 = sum(v8, axis=0)``): the code's namespace maps ``sin`` to ``REGISTRY["sin"].numeric``,
  the function the tape calls.

so the numbers are the tape's, bit for bit (Python floats for the scalars: ``+ - * /`` and
comparisons are IEEE operations in Python and numpy alike; other operators on a Python
float, whose ``**`` is libm's and can return a complex number, are evaluated on
``float64(...)`` as the tape does). numpy's own transcendental functions are called even on
scalars: its SIMD ``exp``, ``log``, ``tanh`` and ``pow`` differ from ``math``'s in the last bit
for 5-25 % of arguments, and the program must give the tape's numbers.

On the way the program is simplified:

* constants are folded: an operation on values known without the point (the seed ``ȳ = 1``,
  constants, what the rules build from them) is computed once while tracing; a fold that
  stands for a uniform array in an elementwise operation is written as the number (the
  tape's "fill");
* common subexpressions are shared: recording an operation already recorded on the same
  arguments returns the earlier value (hash-consing);
* dead code is eliminated: only what the outputs and the guards need is written;
* single-use temporaries of the sweeps are written inline into the line that uses them, so
  each adjoint is one line named after its primal variable (``x2_bar = v3_bar * cos(x2)``),
  as in Baydin et al. (2018), Table 3 (large arrays read once are inlined too, so numpy
  reuses their memory, and deleted after their last use).

In the last sweep of a program (nothing differentiates it further) two of the stanzas' own
plain-value rules are used as the tape uses them: a sparse cotangent (``x[1:]``) is added
into an accumulator the sweep owns with ``vjp_into`` (``add_vjp_getitem_0``), and a rule that
reads a floating-point value (``prod`` checking for zeros, ``max`` picking entries) is written
as one call of the rule on the values (``vjp_prod_0``), which decides at run time. For a
primitive written as a subscript with a basic index the accumulator is written as what it
means: ``x_bar = zeros((n,))``, ``x_bar[:-1] = v2_bar`` where no earlier cotangent reached
those entries, ``x_bar[1:] += v1_bar`` where one did (so an assigned zero may keep the sign
the sweep's ``0.0 + g`` would have dropped: the derivatives are the tape's up to the sign of
a zero).

**Memory.** numpy allocates each line's result; at n = 1e6 the fresh pages cost more than
the arithmetic. An array an elementwise line reads for the last time lends its memory to
that line's result (``v5 = subtract(v1, v3, out=v3)``); the other large intermediates are
written into a :class:`Workspace`, arrays the program keeps between calls (``out=w1``),
reused as lines stop reading them, never returned; a cotangent one ufunc computes is written
straight into the gradient's entries (``add(v2_bar, t, out=x_bar[:-1])``), and a large
gradient starts as ``np.empty`` with only the entries added into before being assigned
zeroed.

**Guards.** The program is straight-line code for the path the point took. Every decision
that depended on a value is recorded and written as a guard: a ``bool()`` of a traced value
(``if x > 0:`` in the spec, or a rule's own branch) becomes ``if not v3: raise Retrace(0)``;
a rule or a conversion that read a traced value (a mask turned into an index, ``prod``'s rule
checking for zeros) becomes ``if not unchanged(v3, c1): raise Retrace(1)``. A program called
where a guard does not hold raises :class:`~diffkit.errors.GuardError` instead of computing a
wrong number; :mod:`diffkit.methods.compiled` re-traces there.

The code is compiled from text that diffkit wrote: names it made (``v3``, ``x1_bar``, the
primitives' names) and parameter names checked as identifiers; every value that is not a
plain number (arrays, strings, dtypes) is passed through the namespace, never printed; the
code runs without builtins. A trace's vars refer to their program only while it is written
(:meth:`Program.close`), so no reference cycle outlives it.

References
----------
A. G. Baydin, B. A. Pearlmutter, A. A. Radul, J. M. Siskind, "Automatic differentiation in
machine learning: a survey", JMLR 18 (2018), Tables 2 and 3.
L. Hascoët, V. Pascual, "The Tapenade automatic differentiation tool", ACM TOMS 39 (2013).
"""

from __future__ import annotations

import inspect
import itertools
import keyword
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .core import (
    _SHAPE_QUERIES,
    REGISTRY,
    Primitive,
    Trace,
    Tracer,
    _conversion_message,
    complex_intermediate,
    domain_error,
    is_complex,
    lookup,
)
from .errors import DiffkitError, GuardError, NotTraceableError

__all__ = ["Guard", "Program", "Var", "Workspace", "build", "write"]

INPUT, STATIC, OP = 0, 1, 2
"""Kinds of :class:`Var`: a parameter of the program, a value known without the point, an
operation of the program."""

PY, NP, ANY = 0, 1, 2
"""What a scalar is at run time: a Python number, a numpy scalar or array, either."""

PRIMAL, ADJOINT, TANGENT = "primal", "adjoint", "tangent"

MAX_OPS = 200_000
"""Operations a program may record (primal and sweeps) before it is refused as too long."""

INLINE_DEPTH = 6
"""Deepest nesting of single-use temporaries written inline in one line."""

FREE_BYTES = 64 * 1024
"""Arrays at least this large are deleted (``del v3``) after their last use, so the program
frees intermediates as the tape does instead of holding them until it returns; and one that
is read once is written inline where it is read, named or not, so numpy can reuse its memory
for the result (its temporary elision works on arrays no name holds)."""

IN_PLACE_BYTES = 2048
"""Arrays at least this large that no later line reads lend their memory to the elementwise
operation that reads them last (``v5 = subtract(v1, v3, out=v3)``): no allocation, and the
memory already in cache (at n = 1e6 the allocations cost more than the arithmetic). Smaller
ones keep the operator form, which reads best."""


KEEP_BYTES = 64 * 1024
"""Intermediates at least this large are written into memory the program keeps between calls
(:class:`Workspace`): numpy allocates smaller ones faster than a call takes its set."""

CONTIGUOUS_BYTES = 1 << 23
"""A constant the program reads on every call that is a strided view of another array (the
sweep's ``x.T`` of a data matrix ``x``, for ``matmul``'s rule) is copied C-contiguous once
while tracing, if not larger than this (8 MiB): BLAS and the ufuncs read it faster, and the
trace computes with the copy, as the program does. Only where the array behind it is data the
program compares bit for bit before every call (``Program.lay_out``, from
:func:`diffkit.freevalues.compared_bitwise` before the trace; after it,
``diffkit.methods.compiled`` puts the view back for a copy whose data changed while the
function ran): a copy must never outlive a change to its data."""

WORKSPACE_BYTES = 1 << 26
"""Memory a program may keep between calls for its intermediates (64 MiB; see
:class:`Workspace`); beyond it, further intermediates are allocated by each call. The memory
is the program's while it is cached: ``ReverseCompiled.clear(f)`` drops it."""


class NotCompilable(DiffkitError, TypeError):
    """A spec, or a rule, does something the code writer cannot follow (the tape still can);
    :mod:`diffkit.methods.compiled` falls back to the tape and says why."""


# ============================================================================ Python's operators

# The operators of Python's data model, by the names the stanzas' ``operators`` use. Those
# marked exact compute, on Python floats, the same IEEE 754 operation numpy computes.
_BINARY = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "**", "matmul": "@",
           "mod": "%", "floordiv": "//", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
           "eq": "==", "ne": "!="}
_UNARY = {"neg": "-", "pos": "+", "abs": "abs"}
_EXACT = frozenset({"add", "sub", "mul", "truediv", "lt", "le", "gt", "ge", "eq", "ne", "neg",
                    "pos", "abs"})
_SUBSCRIPT = "getitem"
# Python's precedence (higher binds tighter): a child of lower precedence is parenthesized, and
# so is a right child of equal precedence (a - (b - c); and a + (b + c), which rounds otherwise)
_PRECEDENCE = {"lt": 1, "le": 1, "gt": 1, "ge": 1, "eq": 1, "ne": 1, "add": 2, "sub": 2,
               "mul": 3, "truediv": 3, "floordiv": 3, "mod": 3, "matmul": 3, "neg": 4, "pos": 4,
               "pow": 5}
_ATOM = 6

# the operators the tape evaluates with Python's operator module on its raw values (its fast
# paths, diffkit.methods.reverse._install_operators): the program evaluates them the same way
_TAPE_BINARY = frozenset({"add", "sub", "mul", "truediv", "pow", "matmul", "mod"})
_TAPE_UNARY = frozenset({"neg", "abs"})


def _syntax(prim: Primitive, nargs: int, params: dict[str, Any]) -> str | None:
    """The Python operator ``prim`` can be written with for ``nargs`` arguments, if any."""
    for op in prim.operators:
        if op == _SUBSCRIPT and nargs == 1 and set(params) == {"index"}:
            return op
        if params:
            continue
        if (nargs == 2 and op in _BINARY) or (nargs == 1 and op in _UNARY):
            return op
    return None


# ============================================================================ values


class Var(Tracer):
    """A value of a :class:`Program`: an input, a constant of the sweeps, or an operation.

    Attributes
    ----------
    id : int
        Its position in the program (operations are written in this order).
    kind : int
        :data:`INPUT`, :data:`STATIC` or :data:`OP`.
    concrete : value
        Its value at the traced point.
    shape, dtype :
        Static: every point the program runs at has them (they are part of its cache key).
    prim, args, params, form :
        For an operation: the primitive, its arguments (vars or constants), its static
        parameters, and the Python operator it was called with (``None`` for a call).
    active : bool
        Depends on the inputs through differentiable primitives (what the tape records).
    """

    __slots__ = ("_trace", "active", "args", "concrete", "context", "dtype", "form", "id",
                 "kind", "params", "phase", "prim", "runtime", "shape")

    def __init__(self, trace: Program, kind: int, concrete: Any, prim: Primitive | None = None,
                 args: tuple[Any, ...] = (), params: dict[str, Any] | None = None,
                 form: str | None = None, active: bool = False, runtime: int = NP,
                 shape: tuple[int, ...] | None = None, dtype: Any = None) -> None:
        self._trace = trace
        self.kind = kind
        self.concrete = concrete
        self.shape = np.shape(concrete) if shape is None else shape
        self.dtype = np.result_type(concrete) if dtype is None else dtype
        self.prim = prim
        self.args = args
        self.params = {} if params is None else params
        self.form = form
        self.active = active
        self.runtime = runtime
        self.phase = trace.phase
        self.context = trace.node  # the var whose rule made this one (sweeps), for naming
        self.id = len(trace.vars)
        trace.vars.append(self)

    @property
    def _value(self) -> Any:
        return self._trace.read(self)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:
        value = self.concrete
        shown = repr(value) if np.size(value) <= 4 else f"array of shape {self.shape}"
        return f"Var(v{self.id}, value={shown})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        value = np.asarray(self._trace.convert(self, "array"))
        return value if dtype is None else value.astype(dtype)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _SHAPE_QUERIES:  # shape and dtype are static: no value is read
            return func(*(_shaped(a) for a in args), **kwargs)
        if lookup(func) is None and not _any_active(args, kwargs):
            return func(*_read_all(args), **_read_all(kwargs))  # plain values on the tape too
        return super().__array_function__(func, types, args, kwargs)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if (lookup(ufunc) is None or method != "__call__") and not _any_active(inputs, kwargs):
            return getattr(ufunc, method)(*_read_all(inputs), **_read_all(kwargs))
        return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)


def _shaped(a: Any) -> Any:
    """A stand-in of a var's shape and dtype (zero strides: no memory) for shape queries."""
    if a.__class__ is Var:
        return np.broadcast_to(np.zeros((), dtype=a.dtype), a.shape)
    return a


def _any_active(*trees: Any) -> bool:
    stack = list(trees)
    while stack:
        a = stack.pop()
        if a.__class__ is Var:
            if a.active:
                return True
        elif isinstance(a, (list, tuple)):
            stack.extend(a)
        elif isinstance(a, dict):
            stack.extend(a.values())
    return False


def _read_all(tree: Any) -> Any:
    """The values under vars (each read is guarded), in the same nesting."""
    if tree.__class__ is Var:
        return tree._trace.read(tree)
    if isinstance(tree, list):
        return [_read_all(a) for a in tree]
    if isinstance(tree, tuple):
        return tuple(_read_all(a) for a in tree)
    if isinstance(tree, dict):
        return {k: _read_all(v) for k, v in tree.items()}
    return tree


def _operator_method(prim: Primitive, op: str, swap: bool, unary: bool = False
                     ) -> Callable[..., Any]:
    if unary:

        def method(self: Var) -> Any:
            return self._trace.apply(prim, (self,), {}, op)

    elif swap:

        def method(self: Var, other: Any) -> Any:
            cls = other.__class__
            if cls is list or cls is tuple:  # numbers: the array numpy makes
                return prim.function(other, self)
            return self._trace.apply(prim, (other, self), {}, op)

    else:

        def method(self: Var, other: Any) -> Any:
            cls = other.__class__
            if cls is list or cls is tuple:
                return prim.function(self, other)
            return self._trace.apply(prim, (self, other), {}, op)

    method.__name__ = f"__{'r' if swap else ''}{op}__"
    return method


def _install_operators() -> None:
    """The operators the tape evaluates with Python's operator module, recorded as such."""
    for prim in REGISTRY.values():
        if not prim.differentiable or prim.composite is not None:
            continue
        for op in prim.operators:
            if op in _TAPE_UNARY:
                setattr(Var, f"__{op}__", _operator_method(prim, op, False, unary=True))
            elif op in _TAPE_BINARY:
                setattr(Var, f"__{op}__", _operator_method(prim, op, False))
                setattr(Var, f"__r{op}__", _operator_method(prim, op, True))


_install_operators()

_EVALUATE = {op: getattr(operator, op) for op in (*_TAPE_BINARY, *_TAPE_UNARY)}

_OPERATOR_PRIMS: dict[str, Primitive] = {
    op: prim for prim in REGISTRY.values() if prim.differentiable and prim.composite is None
    for op in prim.operators if op in ("add", "sub", "mul", "neg")}


def _number(a: Any) -> bool:
    """A float64 number known without the point (a literal of the program)."""
    cls = a.__class__
    if cls is Var:
        return a.kind == STATIC and not a.shape and a.dtype == _FLOAT64
    return cls is float or cls is np.float64


def _minus(c: Any) -> Any:
    return c._trace.static(-c.concrete) if c.__class__ is Var else -c


def fold_signs(program: Program, outputs: Sequence[Any]) -> None:
    """Merge the sweeps' negations (``-g`` in subtract's rule) into their one reader, the same
    numbers with one operation less: ``-(c * a)`` is ``(-c) * a``, ``(-a) * c`` is
    ``a * (-c)``, ``a + (-b)`` is ``a - b``, ``a - (-b)`` is ``a + b``, ``-(-a)`` is ``a``.
    Negation is exact in IEEE 754, so each is an identity of floats; the primal is left as
    the function wrote it. Operations are rewritten in place (their values do not change);
    the ones no longer read are dead code for the writer."""
    n = len(program.vars)
    uses = [0] * n  # (the numbers _minus adds below are never an operation: not counted)
    for v in program.vars:
        for a in v.args:
            if a.__class__ is Var:
                uses[a.id] += 1
    for o in outputs:
        if o.__class__ is Var:
            uses[o.id] += 2  # (an output is read whatever else does)
    for g in program.guards:
        uses[g.var.id] += 2

    def single(a: Any, form: str) -> bool:  # an operation `form` only this reader reads
        return a.__class__ is Var and a.kind == OP and a.form == form and a.phase != PRIMAL \
            and uses[a.id] == 1

    def rewrite(v: Var, form: str, args: tuple[Any, ...]) -> None:
        for a in v.args:
            if a.__class__ is Var and a.id < n:
                uses[a.id] -= 1
        for a in args:
            if a.__class__ is Var and a.id < n:
                uses[a.id] += 1
        v.form, v.args, v.prim = form, args, _OPERATOR_PRIMS[form]

    for v in program.vars[:n]:
        if v.kind != OP or v.phase == PRIMAL or v.form not in _OPERATOR_PRIMS:
            continue
        if v.form == "neg":
            a = v.args[0]
            if single(a, "mul"):
                x, y = a.args
                if _number(x):
                    rewrite(v, "mul", (_minus(x), y))
                elif _number(y):
                    rewrite(v, "mul", (x, _minus(y)))
            continue
        if len(v.args) != 2:
            continue
        x, y = v.args
        if v.form == "mul":
            if _number(y) and single(x, "neg"):
                rewrite(v, "mul", (x.args[0], _minus(y)))
            elif _number(x) and single(y, "neg"):
                rewrite(v, "mul", (_minus(x), y.args[0]))
        elif single(y, "neg") and _same_layout(x, y.args[0], v):
            rewrite(v, "sub" if v.form == "add" else "add", (x, y.args[0]))
        elif v.form == "add" and single(x, "neg") and _same_layout(y, x.args[0], v):
            rewrite(v, "sub", (y, x.args[0]))


def _same_layout(a: Any, b: Any, v: Var) -> bool:
    """Whether ``a`` and ``b`` are vars of ``v``'s shape and dtype (nothing broadcast anew, no
    other type promoted)."""
    return a.__class__ is Var and b.__class__ is Var and a.shape == b.shape == v.shape \
        and a.dtype == b.dtype == v.dtype


# ============================================================================ constants as keys


def _key(c: Any) -> Any:
    """A hashable key standing for a constant argument or parameter (for hash-consing)."""
    cls = c.__class__
    if cls is Var:
        if c.kind == STATIC and not c.shape:
            return ("s", c.dtype.str, np.asarray(c.concrete).tobytes())
        return ("v", c.id)
    if cls is float:
        return ("f", c.hex())
    if cls is int:
        return ("int", c)
    if cls is slice:
        start, stop, step = c.start, c.stop, c.step
        if (start is None or start.__class__ is int) and (stop is None or stop.__class__ is int) \
                and (step is None or step.__class__ is int):  # (the common slice: as it is)
            return ("slice", start, stop, step)
        return ("slice", _key(start), _key(stop), _key(step))
    if cls is bool or c is None or c is Ellipsis or cls is str:
        return (cls.__name__, c)
    if isinstance(c, np.generic):
        return ("n", c.dtype.str, c.tobytes())
    if cls is tuple or cls is list:
        return (cls.__name__, *(_key(e) for e in c))
    if cls is dict:
        return ("dict", *((k, _key(v)) for k, v in c.items()))
    if isinstance(c, np.dtype):
        return ("dtype", c.str)
    return ("id", id(c))  # arrays and other objects: the object itself (kept alive by the op)


@dataclass
class Guard:
    """A decision the trace took on a value, written into the program as a check.

    ``kind`` is ``"branch"`` (``bool()`` of the var was ``expected``) or ``"value"`` (a rule or
    a conversion read the var's value, ``expected``; the program holds where it is the
    same). ``origin`` says who decided: ``None`` for the function itself, else the primitive
    whose rule did.
    """

    var: Var
    expected: Any
    kind: str
    origin: Primitive | None

    @property
    def specializes(self) -> bool:
        """A read of a floating-point value: the program holds at that value only."""
        return self.kind == "value" and np.dtype(self.var.dtype).kind in "fc"


# ============================================================================ the program


class Program(Trace):
    """A straight-line program being written: the trace that records it, and its sweeps.

    Examples
    --------
    >>> import numpy as np
    >>> import diffkit.numpy as dnp
    >>> from diffkit.codegen import Program, build
    >>> p = Program()
    >>> x1, x2 = p.input(np.float64(2.0), "x1"), p.input(np.float64(5.0), "x2")
    >>> y = dnp.log(x1) + x1 * x2 - dnp.sin(x2)
    >>> g1, g2 = p.vjp(y, p.static(np.float64(1.0)), [x1, x2])
    >>> built = build(p, [x1, x2], [y, g1, g2], "gradient")
    >>> built.function(2.0, 5.0)[1:]
    (5.5, np.float64(1.7163378145367738))
    >>> print(built.source.splitlines()[-2])
        x1_bar = x1_bar + v1_bar / x1
    """

    __slots__ = ("copied", "events", "guards", "laid", "last_sweep", "lay_out", "names", "node",
                 "owned", "phase", "rule", "table", "vars")

    def __init__(self) -> None:
        super().__init__()
        self.vars: list[Var] = []
        self.table: dict[Any, Var] = {}  # hash-consing: (primitive, form, args, params) -> var
        self.guards: list[Guard] = []
        self.events: list[tuple[Any, ...]] = []  # adjoint and tangent bindings, for naming
        self.names: dict[int, str] = {}  # input var id -> parameter name
        self.phase = PRIMAL
        self.rule: Primitive | None = None  # the primitive whose rule is running (sweeps)
        self.node: Var | None = None  # the var the sweep is at
        # the sweep being written is the last (nothing differentiates it further): a rule that
        # reads a floating-point value is then called as it is, on the values, at run time
        self.last_sweep = False
        # accumulators the last sweep allocated, by the var whose cotangent each holds (a rule
        # may pass a cotangent on unchanged, add's does: then it is another var's too, and
        # adding into it would change both)
        self.owned: dict[int, int] = {}
        # strided constants copied C-contiguous (see CONTIGUOUS_BYTES): only views of the
        # arrays in lay_out (ids of the data the program compares bit for bit before each
        # call; empty: none); every (view, copy) made, and the raw ones by the view's id (one
        # copy per view while what it holds is the same)
        self.lay_out: frozenset[int] = frozenset()
        self.copied: list[tuple[np.ndarray, np.ndarray]] = []
        self.laid: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ values
    def input(self, value: Any, name: str, *, active: bool = True) -> Var:
        """A parameter of the program holding ``value`` at the traced point."""
        runtime = PY if _python_scalar(value) else NP
        var = Var(self, INPUT, value, active=active, runtime=runtime)
        self.names[var.id] = name
        return var

    def static(self, value: Any, provenance: tuple[Any, ...] | None = None) -> Var:
        """A value known without the point (the seed, folded constants)."""
        cls = value.__class__
        if cls is np.float64:  # (the commonest two: shape and dtype read off, not worked out)
            var = Var(self, STATIC, value, runtime=PY, shape=(), dtype=_FLOAT64)
        elif cls is np.ndarray and value.dtype.isnative:  # (np.result_type's, as it is)
            shape, dtype = value.shape, value.dtype
            var = Var(self, STATIC, value, runtime=NP if shape or dtype != _FLOAT64 else PY,
                      shape=shape, dtype=dtype)
        else:
            var = Var(self, STATIC, value, runtime=PY if _python_scalar(value) else NP)
        if provenance is not None:  # how it was folded, to write a scalar adjoint readably
            var.prim, var.args, var.params, var.form = provenance
        return var

    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        return self.apply(prim, args, params, None)

    def apply(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any],
              form: str | None) -> Any:
        """Record ``prim(*args, **params)`` (called as operator ``form``) and return its var."""
        values = []
        keys = []
        dynamic = active = constant_array = False
        for a in args:
            if a.__class__ is Var:
                if a._trace is not self:
                    raise NotCompilable("a value of another compiled program reached this one")
                values.append(a.concrete)
                if a.kind != STATIC:
                    dynamic = True
                    active = active or a.active
                    keys.append(a.id)
                else:
                    constant_array = constant_array or bool(a.shape)
                    keys.append(_key(a))
            elif isinstance(a, Tracer):
                raise NotCompilable(
                    f"{prim.name}: a value traced by another method reached the compiled "
                    f"program (a derivative of a derivative taken with another method)")
            else:
                if a.__class__ is np.ndarray and self.lay_out and not a.flags.c_contiguous:
                    a = self._laid(a)  # (x.T of a data matrix: its contiguous copy)
                    if a is not args[len(values)]:
                        args = (*args[:len(values)], a, *args[len(values) + 1:])
                values.append(a)
                keys.append(_key(a))
        if prim in _IN_PLACE:  # it adds into its first argument: not into the traced value
            values[0] = values[0].copy()
        value = self._evaluate(prim, form, values, params)
        if not dynamic:
            if self.lay_out and value.__class__ is np.ndarray and not value.flags.c_contiguous:
                copy = _laid_out(value, self.lay_out)
                if copy is not value:
                    self.copied.append((value, copy))
                    value = copy
            return self.static(value, (prim, args, params, form))
        cls = value.__class__
        if active and cls is not np.float64 and (
                value.dtype.kind == "c" if cls is np.ndarray else is_complex(value)) \
                and prim.differentiable:
            raise complex_intermediate(prim)
        if cls is np.float64:
            shape, dtype = (), _FLOAT64
        elif cls is np.ndarray:
            shape, dtype = value.shape, value.dtype
            if constant_array and prim.elementwise and shape:
                filled = self._fills(prim, form, args, values, params, value)
                if filled is not args:
                    args = filled
                    keys = [a.id if a.__class__ is Var and a.kind != STATIC else _key(a)
                            for a in args]
        elif isinstance(value, (np.generic, float, int, complex)):
            shape, dtype = (), np.result_type(value)
        else:
            raise NotCompilable(f"{prim.qualname} returned a {type(value).__name__}, which the "
                                f"code writer cannot hold as one value")
        key = (prim, form, tuple(keys),
               tuple([(k, _key(v)) for k, v in params.items()]) if params else ())
        hit = self.table.get(key)
        if hit is not None and prim not in _ACCUMULATORS:  # (each sweep its own buffer)
            return hit
        if len(self.vars) >= MAX_OPS:
            raise NotCompilable(f"the program grew past {MAX_OPS} operations")
        var = _new(Var)  # Var(self, OP, ...) without the call through __init__
        var._trace = self
        var.kind = OP
        var.concrete = value
        var.shape = shape
        var.dtype = dtype
        var.prim = prim
        var.args = tuple(args)
        var.params = params
        var.form = form
        var.active = active and prim.differentiable
        var.runtime = _runtime(prim, form, args) if not shape else NP
        var.phase = self.phase
        var.context = self.node
        var.id = len(self.vars)
        self.vars.append(var)
        self.table[key] = var
        return var

    def _laid(self, a: np.ndarray) -> np.ndarray:
        """The contiguous copy of the strided constant ``a`` (see :data:`CONTIGUOUS_BYTES`),
        or ``a``: one per view, made again if what the view holds changed since (a function
        that writes into its data between two uses of it)."""
        laid = self.laid.get(id(a))
        if laid is None or (laid[1] is not a and not _identical(a, laid[1])):
            copy = _laid_out(a, self.lay_out)
            laid = self.laid[id(a)] = (a, copy)  # (a held: its id stays its own)
            if copy is not a:
                self.copied.append(laid)
        return laid[1]

    @staticmethod
    def _evaluate(prim: Primitive, form: str | None, values: list[Any],
                  params: dict[str, Any]) -> Any:
        if form is None:
            return prim.evaluate(tuple(values), params)
        try:
            return _EVALUATE[form](*values)
        except (FloatingPointError, ZeroDivisionError):
            raise domain_error(prim, tuple(values)) from None

    def _fills(self, prim: Primitive, form: str | None, args: tuple[Any, ...],
               values: list[Any], params: dict[str, Any], value: Any) -> tuple[Any, ...]:
        """Uniform constant arrays of an elementwise operation written as their number, where
        the other arguments give the output its shape (the tape's fills)."""
        out = list(args)
        for k, a in enumerate(args):
            if a.__class__ is not Var or a.kind != STATIC or not a.shape:
                continue
            number = _uniform(a.concrete)
            if number is None:
                continue
            others = [np.shape(v) for j, v in enumerate(values) if j != k]
            if not others or np.broadcast_shapes(*others) != np.shape(value):
                continue
            out[k] = self.static(number)
        if all(o is a for o, a in zip(out, args, strict=True)):
            return args
        again = self._evaluate(prim, form, [o.concrete if o.__class__ is Var else o
                                            for o in out], params)
        return tuple(out) if _identical(again, value) else args

    # ------------------------------------------------------------------ decisions on values
    def read(self, var: Var) -> Any:
        """The value of ``var`` for code that looks at it; the program is guarded on it."""
        if var.kind != STATIC and not any(g.var is var and g.kind == "value"
                                          for g in self.guards):
            self.guards.append(Guard(var, _copy(var.concrete), "value", self.rule))
        return var.concrete

    def to_bool(self, tracer: Tracer) -> bool:
        """``bool(var)``: the branch taken at the point, guarded in the program."""
        taken = bool(tracer.concrete)  # type: ignore[attr-defined]
        if tracer.kind != STATIC and not any(  # type: ignore[attr-defined]
                g.var is tracer and g.kind == "branch" for g in self.guards):
            self.guards.append(Guard(tracer, taken, "branch", self.rule))  # type: ignore[arg-type]
        return taken

    def convert(self, var: Var, kind: str) -> Any:
        """The value of ``var`` for ``float()``, ``int()``, ``np.asarray()``: allowed where the
        tape's value is a plain number too (no derivative flows through it, or a rule asks),
        and guarded; refused like the tape's otherwise."""
        if var.kind == STATIC or not var.active or self.rule is not None:
            return self.read(var)
        if kind == "array":
            raise NotTraceableError(_conversion_message(var))
        return super().to_float(var, kind)

    def to_float(self, tracer: Tracer, kind: str) -> Any:
        value = self.convert(tracer, kind)  # type: ignore[arg-type]
        return {"float": float, "int": int, "complex": complex}[kind](value)

    # ------------------------------------------------------------------ sweeps
    def vjp(self, out: Any, seed: Any, wrt: Sequence[Var]) -> list[Any]:
        """The reverse sweep from ``out`` with cotangent ``seed``: the cotangent of each var
        in ``wrt`` (``None`` where ``out`` does not depend on it).

        The tape's sweep (:func:`diffkit.methods.reverse.sweep`) on this program: operations
        back from ``out``, each active argument's ``vjp_rule`` applied to the cotangent, the
        contributions added in the order the sweep reaches them.
        """
        if out.__class__ is not Var or not out.active:
            return [None] * len(wrt)
        phase, self.phase = self.phase, ADJOINT
        self.events.append(("bind", out, "_bar", seed, len(self.vars), None))
        ct: dict[int, Any] = {out.id: seed}
        found: dict[int, Any] = {}
        try:
            for i in range(out.id, -1, -1):
                g = ct.pop(i, None)
                if g is None:
                    continue
                v = self.vars[i]
                if v.kind == INPUT:
                    found[i] = g
                    continue
                self.rule, self.node = v.prim, v
                for k, a in enumerate(v.args):
                    if a.__class__ is not Var or not a.active:
                        continue
                    rule = v.prim.vjp_rule(k)  # type: ignore[union-attr]
                    if rule is None:
                        continue
                    old = ct.get(a.id)
                    total = self._into(v, a, g, old)
                    if total is None:
                        c = self._rule(rule, v, k, g, "vjp")
                        total = c if old is None else old + c
                    ct[a.id] = total
                    self.events.append(("bind", a, "_bar", total, len(self.vars), v))
        finally:
            self.phase, self.rule, self.node = phase, None, None
        return [found.get(w.id) for w in wrt]

    def jvp(self, tangents: dict[int, Any], stop: int | None = None) -> dict[int, Any]:
        """The tangent sweep: ``tangents`` (var id -> tangent) pushed through the operations
        before ``stop``, each argument's ``jvp_rule`` summed as forward mode does."""
        stop = len(self.vars) if stop is None else stop
        phase, self.phase = self.phase, TANGENT
        try:
            for i in range(stop):
                v = self.vars[i]
                if v.kind != OP:
                    continue
                total = None
                self.rule, self.node = v.prim, v
                for k, a in enumerate(v.args):
                    if a.__class__ is not Var:
                        continue
                    t = tangents.get(a.id)
                    if t is None:
                        continue
                    rule = v.prim.jvp_rule(k)  # type: ignore[union-attr]
                    if rule is None:
                        continue
                    term = self._rule(rule, v, k, t, "jvp")
                    total = term if total is None else total + term
                if total is not None:
                    tangents[i] = total
                    self.events.append(("bind", v, "_dot", total, len(self.vars), None))
        finally:
            self.phase, self.rule, self.node = phase, None, None
        return tangents

    def _into(self, v: Var, a: Var, g: Any, old: Any) -> Var | None:
        """The cotangent of ``v``'s one argument added into an accumulator of the sweep's own
        with the stanza's ``vjp_into`` (``getitem``: ``acc[index] += g``), as the tape does,
        instead of a scattered array added to it; in the last sweep only (the program then
        adds in place, which a later sweep could not differentiate)."""
        prim = v.prim
        if not self.last_sweep or prim.vjp_into is None or not prim.fast_rules \
                or len(v.args) != 1 or (old is not None and (
                    old.__class__ is not Var or self.owned.get(old.id) != a.id)):
            return None
        first = old is None
        call = _into_call(prim, first)  # type: ignore[arg-type]
        try:
            out = self.apply(call, (g, a) if first else (old, g, a), v.params, None)
        except (TypeError, ValueError):  # the accumulator's dtype would change: the rule
            return None
        self.owned[out.id] = a.id
        return out

    def _rule(self, rule: Callable[..., Any], v: Var, k: int, g: Any, kind: str) -> Any:
        """``rule(g, v, *args, **params)`` written out with primitives; in the last sweep, a
        rule that reads a floating-point value (``prod`` checking for zeros, ``max``'s
        weights) is written as one call of the rule itself, which then decides at run time:
        the guard it would need holds at the traced point only."""
        guards = len(self.guards)
        out = rule(g, v, *v.args, **v.params)
        if not self.last_sweep or len(self.guards) == guards or not any(
                gd.specializes for gd in self.guards[guards:]):
            return out
        del self.guards[guards:]  # (the written-out ops stay unread: dead code)
        return self.apply(_rule_call(v.prim, k, kind), (g, v, *v.args), v.params,  # type: ignore
                          None)

    def ops(self) -> int:
        """Operations recorded (primal and sweeps, after sharing)."""
        return sum(1 for v in self.vars if v.kind == OP)

    def close(self) -> None:
        """Drop every var: a var refers to its program and the program to its vars, and
        nothing of a written program needs them (no reference cycles outlive a trace)."""
        self.vars.clear()
        self.table.clear()
        self.events.clear()
        self.guards.clear()
        self.names.clear()
        self.owned.clear()
        self.copied.clear()
        self.laid.clear()


_RULE_CALLS: dict[tuple[Primitive, int, str], Primitive] = {}


def _rule_call(prim: Primitive, k: int, kind: str) -> Primitive:
    """A primitive standing for one rule of ``prim`` called on values (``vjp_prod_0``)."""
    key = (prim, k, kind)
    got = _RULE_CALLS.get(key)
    if got is None or got.fast_for is not (prim.vjp if kind == "vjp" else prim.jvp):
        rule = prim.vjp_rule(k) if kind == "vjp" else prim.jvp_rule(k)

        def numeric(g: Any, ans: Any, *args: Any, **params: Any) -> Any:
            return rule(g, ans, *args, **params)

        got = Primitive(name=f"{kind}_{prim.name}_{k}", numeric=numeric, differentiable=False)
        got.fast_for = prim.vjp if kind == "vjp" else prim.jvp  # the rules it was made from
        _RULE_CALLS[key] = got
    return got


_INTO_CALLS: dict[tuple[Primitive, bool], Primitive] = {}
_IN_PLACE: set[Primitive] = set()  # add into their first argument
_ACCUMULATORS: set[Primitive] = set()  # make or add into a sweep's accumulator: never shared
_INTO_OF: dict[Primitive, Primitive] = {}  # an accumulator's call -> the primitive it adds for


def _into_call(prim: Primitive, first: bool) -> Primitive:
    """``vjp_<prim>_0(g, x, **params)``: zeros shaped like ``x`` with the cotangent added in
    by ``prim.vjp_into``; ``add_vjp_<prim>_0(acc, g, x, **params)``: added into ``acc``."""
    key = (prim, first)
    got = _INTO_CALLS.get(key)
    if got is None or got.fast_for is not prim.vjp_into:
        into = prim.vjp_into

        if first:
            def numeric(g: Any, x: Any, **params: Any) -> Any:
                if x.__class__ is np.ndarray and x.dtype is _FLOAT64 and (
                        g.__class__ is np.float64 or g.__class__ is float or (
                            g.__class__ is np.ndarray and g.dtype is _FLOAT64)):
                    acc = np.zeros(x.shape)  # (the tape's fast case: float64 throughout)
                else:
                    acc = np.zeros(np.shape(x), dtype=np.result_type(x, g, float))
                into(acc, g, (x,), params)
                return acc
        else:
            def numeric(acc: Any, g: Any, x: Any, **params: Any) -> Any:  # type: ignore[misc]
                into(acc, g, (x,), params)
                return acc

        name = f"vjp_{prim.name}_0" if first else f"add_vjp_{prim.name}_0"
        got = Primitive(name=name, numeric=numeric, differentiable=False)
        got.fast_for = into
        _INTO_CALLS[key] = got
        _INTO_OF[got] = prim
        _ACCUMULATORS.add(got)
        if not first:
            _IN_PLACE.add(got)
    return got


def _layable(value: np.ndarray, compared: frozenset[int]) -> bool:
    """Whether a strided constant may be read from a C-contiguous copy (see
    :data:`CONTIGUOUS_BYTES`): a view with an array of ``compared`` (ids) behind it; not a
    broadcast view (a zero stride), a 1-d one, or one of data not compared."""
    if value.ndim < 2 or value.base is None or value.flags.c_contiguous \
            or 0 in value.strides or value.nbytes > CONTIGUOUS_BYTES:
        return False
    a = value
    while id(a) not in compared:
        a = a.base
        if a.__class__ is not np.ndarray:
            return False
    return True


def _laid_out(value: np.ndarray, compared: frozenset[int]) -> np.ndarray:
    """``value`` C-contiguous where :func:`_layable`, else as it is."""
    return np.ascontiguousarray(value) if _layable(value, compared) else value


def _python_scalar(value: Any) -> bool:
    """A float64 number, which the compiled program receives as a Python float."""
    return np.shape(value) == () and np.result_type(value) == np.float64


def _runtime(prim: Primitive, form: str | None, args: tuple[Any, ...]) -> int:
    """What the scalar result of an operation is at run time."""
    op = form
    if op is None:
        op = _EXACT_SYNTAX.get((prim, len(args)), 0)
        if op == 0:
            op = _EXACT_SYNTAX[prim, len(args)] = _syntax(prim, len(args), {})
        if op not in _EXACT:
            op = None
    if op is not None:
        if op not in _EXACT:  # (a non-exact operator runs on float64)
            return NP
        out = PY  # NP if any argument is, else PY if all are (no list of kinds made)
        for a in args:
            kind = _kind_of(a)
            if kind == NP:
                return NP
            if kind != PY:
                out = ANY
        return out
    return NP if isinstance(prim.numeric, np.ufunc) else ANY


_EXACT_SYNTAX: dict[tuple[Primitive, int], str | None] = {}
_FLOAT64 = np.dtype(np.float64)
_NO_IDS: list[int] = []  # (never written to)
_new = object.__new__


def _kind_of(a: Any) -> int:
    if a.__class__ is Var:
        return a.runtime
    if isinstance(a, (float, int)):
        return PY
    return NP if isinstance(a, (np.generic, np.ndarray)) else ANY


def _uniform(arr: np.ndarray) -> Any:
    """The number every entry of a floating-point array is (bit for bit), or None."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return None
    first = arr.flat[0]
    if first != first:
        return None
    if arr.size <= _FEW and arr.dtype.itemsize in (4, 8) and arr.dtype.isnative:  # (no padding:
        if arr.tobytes() != first.tobytes() * arr.size:  # a number and its sign are its bits)
            return None
    elif not (np.all(arr == first) and np.all(np.signbit(arr) == np.signbit(first))):
        return None
    return arr.dtype.type(first)


_NEXT_LINE = "\n    "  # (between two lines of a function's body)
_FEW = 1024  # entries compared as bytes (a copy and one comparison), not by two numpy passes


def _identical(a: Any, b: Any) -> bool:
    """Same shape, dtype and bits (NaN and signed zeros included)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.size <= _FEW and a.dtype.kind in "fciub" and a.tobytes() == b.tobytes():
        return True  # (the same bits; a small array's as one copy and one comparison)
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True)
                    and np.array_equal(np.signbit(a.real), np.signbit(b.real)))
    return bool(np.array_equal(a, b))


def _copy(value: Any) -> Any:
    return value.copy() if value.__class__ is np.ndarray else value


def unchanged(value: Any, expected: Any) -> bool:
    """Whether ``value`` is ``expected`` bit for bit (the check of a value guard)."""
    return _identical(value, expected)


# ============================================================================ writing the code

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def valid_name(name: Any) -> bool:
    """A name the code writer may print: an identifier, not a keyword, no dunder."""
    return isinstance(name, str) and bool(_IDENTIFIER.match(name)) and "__" not in name \
        and not keyword.iskeyword(name) and len(name) <= 64


_PHASE_COMMENT = {
    PRIMAL: "# the primal: one line per primitive",
    ADJOINT: "# the adjoints, v_bar = d(output)/dv, in reverse order",
    TANGENT: "# the tangents, v_dot = (dv/dx) x_dot, in forward order",
}
_HELPERS = {"float64": np.float64, "unchanged": unchanged, "array": np.array, "abs": abs,
            "slice": slice, "zeros": np.zeros, "empty": np.empty}
RESERVED = frozenset({*_HELPERS, "Retrace", "workspace"})
"""Names the written code uses besides its own: not available as parameter names."""


class _Writer:
    """Prints a program: dead code removed, temporaries inlined, adjoints named."""

    def __init__(self, program: Program, inputs: Sequence[Var], outputs: Sequence[Any],
                 name: str) -> None:
        self.p = program
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.name = name
        self.namespace: dict[str, Any] = dict(_HELPERS)
        self.reserved = {program.names[v.id] for v in inputs} | RESERVED
        self.fn_names: dict[Primitive, str] = {}
        self.const_names: dict[int, str] = {}
        self.holder: dict[str, int] = {}  # name -> the var it holds now
        self.names_of: dict[int, list[str]] = {}  # var -> its names, oldest first
        self.given: dict[int, str] = {}  # var -> the first name it got
        self.guard_texts: dict[int, str] = {}

    # ------------------------------------------------------------------ analysis
    def analyse(self) -> None:
        p = self.p
        fold_signs(p, self.outputs)
        vs = p.vars
        n = len(vs)
        # each var's var arguments (ids, in order) and which vars are operations: every pass
        # below reads these lists of integers, not the vars
        argids = [[a.id for a in v.args if a.__class__ is Var] if v.args else _NO_IDS
                  for v in vs]
        is_op = [v.kind == OP for v in vs]
        roots = [o for o in self.outputs if o.__class__ is Var] + [g.var for g in p.guards]
        live = [False] * n
        stack = [r.id for r in roots if r.kind == OP]
        while stack:
            i = stack.pop()
            if live[i]:
                continue
            live[i] = True
            stack.extend([j for j in argids[i] if is_op[j] and not live[j]])
        uses = [0] * n
        consumer = [-1] * n
        for i in range(n):
            if live[i]:
                for j in argids[i]:
                    uses[j] += 1
                    consumer[j] = i
        guarded = {g.var.id for g in p.guards}
        output_ids = self.output_ids = {o.id for o in self.outputs if o.__class__ is Var}
        prefer: dict[int, tuple[Var, str]] = {}  # adjoints and tangents: (node, suffix)
        for ev in p.events:
            _, node, suffix, value, _, _ = ev
            if value.__class__ is Var and value.kind == OP and value.phase != PRIMAL:
                prefer.setdefault(value.id, (node, suffix))
        allocs: dict[int, tuple[Any, tuple[Any, ...]]] = {}  # var -> the ufunc call making it
        large = [False] * n  # a named array this large is deleted after its last read
        for i in range(n):  # the arrays this program allocates: large results of numpy ufuncs
            value = vs[i].concrete
            if value.__class__ is np.ndarray:
                nbytes = value.nbytes
                large[i] = nbytes >= FREE_BYTES
                if nbytes >= IN_PLACE_BYTES and is_op[i] and live[i]:
                    found = self.ufunc_of(vs[i])
                    if found is not None:  # (a small one is neither lent nor kept: not
                        allocs[i] = found  # followed)
        self.ufuncs = allocs
        named = [False] * n
        for i in range(n):
            if live[i]:
                # (an array the program may keep is named, to be written into that memory)
                named[i] = (uses[i] != 1 or i in guarded or i in output_ids
                            or (i in allocs and vs[i].concrete.nbytes >= KEEP_BYTES)
                            or ((vs[i].phase == PRIMAL or i in prefer) and not large[i]))
        self.subscripts = subscripts = self.subscript_accumulators(live)
        for i in subscripts:  # (written as statements: x_bar[1:] += v1_bar)
            named[i] = True
            if vs[i].prim in _IN_PLACE:
                named[vs[i].args[0].id] = True
        depth = [0] * n  # a chain of single-use temporaries is cut every INLINE_DEPTH levels
        for i in range(n):
            if not live[i]:
                continue
            inner = [j for j in argids[i] if is_op[j] and not named[j]]
            d = 0
            for j in inner:
                if depth[j] > d:
                    d = depth[j]
            if d >= INLINE_DEPTH:
                for j in inner:
                    named[j] = True
                d = 0
            depth[i] = d + 1
        # the primal is written in topological generations, ties in execution order (the
        # layout of Baydin et al.'s tables and of dk.trace); the sweeps as they ran
        order = list(range(n))
        prefix = 0
        while prefix < n and vs[prefix].phase == PRIMAL:
            prefix += 1
        if all(v.phase != PRIMAL or v.kind != OP for v in vs[prefix:]):
            layer = [0] * prefix
            for i in range(prefix):  # (a var's arguments come before it)
                top = -1
                for j in argids[i]:
                    if layer[j] > top:
                        top = layer[j]
                layer[i] = top + 1
            order[:prefix] = sorted(range(prefix), key=lambda i: (layer[i], i))
        rank = [0] * n
        for k, i in enumerate(order):
            rank[i] = k
        self.order, self.rank = order, rank
        stmt = list(rank)  # the statement a var is evaluated in
        for i in range(n - 1, -1, -1):
            if live[i] and not named[i] and consumer[i] >= 0:
                stmt[i] = stmt[consumer[i]]
        last = [-1] * n  # the last statement that reads a var
        reads: dict[int, list[int]] = {}
        for i in range(n):
            if live[i]:
                s = stmt[i]
                for j in argids[i]:
                    if last[j] < s:
                        last[j] = s
                    got = reads.get(j)
                    if got is None:
                        reads[j] = [s]
                    else:
                        got.append(s)
        for g in p.guards:
            last[g.var.id] = max(last[g.var.id], rank[g.var.id])
        for o in self.outputs:
            if o.__class__ is Var:
                last[o.id] = n + 1
                reads.setdefault(o.id, []).append(n + 1)
        self.live, self.named, self.stmt, self.last, self.reads = live, named, stmt, last, reads
        dying: dict[int, list[int]] = {}  # large arrays by the statement that reads them last
        for i in range(n):
            if large[i] and live[i] and named[i] and i not in output_ids:
                dying.setdefault(last[i], []).append(i)
        self.dying = dying
        self.prefer = prefer
        self.lending(order)
        self.destinations(uses)

    def subscript_accumulators(self, live: list[bool]) -> set[int]:
        """The sweep's accumulators (:func:`_into_call`) for a primitive written as a
        subscript (``getitem``) with a basic index, which select each entry once: written as
        ``x_bar = zeros(shape)``, ``x_bar[:-1] = v2_bar``, ``x_bar[1:] += v1_bar`` (an
        assignment where no earlier cotangent reached the entries: pages written once)."""
        out = set()
        for v in self.p.vars:
            origin = _INTO_OF.get(v.prim)  # type: ignore[arg-type]
            if origin is None or not live[v.id] or _SUBSCRIPT not in origin.operators \
                    or set(v.params) != {"index"} or v.concrete.__class__ is not np.ndarray \
                    or not v.shape:
                continue
            index = v.params["index"]
            if not all(p is None or p is Ellipsis or p.__class__ is slice or (
                    isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)))
                       for p in (index if index.__class__ is tuple else (index,))):
                continue  # an advanced index may pick an entry twice: added by the call
            if v.prim in _IN_PLACE and v.args[0].__class__ is not Var:
                continue
            out.add(v.id)
        return out

    def destinations(self, uses: list[int]) -> None:
        """Plan the subscript accumulators' lines: ``self.assign`` (the entries of a
        cotangent no earlier one reached: ``=``, else ``+=``), and ``self.dest``, the arrays
        written straight into the gradient (``add(v1_bar, t, out=x_bar[:-1])``, no copy):
        a fresh array (a ufunc's result) read only where it is assigned to such entries,
        directly or as a reshaped view whose entries are the same (checked on the traced
        shapes), of the entries' dtype. The accumulator is then allocated before that line
        (``self.hoist``: var -> the accumulator to allocate first)."""
        p = self.p
        self.assign: dict[int, bool] = {}
        self.dest: dict[int, tuple[int, tuple[int, ...] | None]] = {}
        self.written: set[int] = set()  # the accumulators some ``dest`` var is written into
        self.hoist: dict[int, int] = {}
        self.zeroed: dict[int, np.ndarray | None] = {}  # first accumulator -> entries to zero
        cover: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # accumulator -> (its
        # first, the entries a cotangent reached, the entries read before any was written)
        last_of: dict[int, int] = {}  # first accumulator -> the chain's last
        for i in sorted(self.subscripts):
            v = p.vars[i]
            index = v.params["index"]
            if v.prim in _IN_PLACE:
                old, g = v.args[0], v.args[1]
                first, covered, read = cover.pop(old.id, (None, None, None))
                if covered is None:
                    continue  # (a chain begun by a call: added)
                fresh = not np.any(covered[index])
                if not fresh:
                    read[index] |= ~covered[index]  # type: ignore[index]
            else:
                g, first = v.args[0], i
                covered, fresh = np.zeros(v.shape, dtype=bool), True
                read = np.zeros(v.shape, dtype=bool)
            covered[index] = True  # type: ignore[index]
            cover[i] = (first, covered, read)  # type: ignore[assignment]
            last_of[first] = i  # type: ignore[index]
            self.assign[i] = fresh
            if not fresh or g.__class__ is not Var or g.kind != OP:
                continue
            u, shape = g, None
            if g.id not in self.ufuncs and len(g.args) == 1 and g.args[0].__class__ is Var \
                    and uses[g.id] == 1 and not self.named[g.id]:
                u, shape = g.args[0], g.args[0].shape  # a reshaped view of a fresh array
            if u.id not in self.ufuncs or uses[u.id] != 1 or u.id in self.output_ids \
                    or u.id in self.pinned or u.concrete.dtype != v.concrete.dtype \
                    or not _float64_line(u) \
                    or not self.named[u.id] or u.id in self.dest \
                    or any(w != g.id for w in self.sharers.get(u.id, ())):
                continue
            probe = np.arange(math.prod(v.shape)).reshape(v.shape)
            region = probe[index]
            if shape is not None:
                try:
                    view = region.reshape(shape)
                    same = np.shares_memory(view, probe) and np.array_equal(
                        np.asarray(g.prim.numeric(view, **g.params)), region)  # type: ignore
                except Exception:  # the view op takes no such array: not followed
                    same = False
                if not same:
                    continue
            elif region.shape != u.shape:
                continue
            self.dest[u.id] = (i, shape)
            self.written.add(i)
            self.hoist[u.id] = first  # type: ignore[assignment]
            self.keeps.discard(u.id)
        for first, last in last_of.items():  # entries to zero: read first, or never written
            if last in cover and p.vars[last].id in self.output_ids:
                _, covered, read = cover[last]
                need = read | ~covered
                count = int(need.sum())
                # (a few are zeroed one by one: np.empty and no pass over the rest)
                self.zeroed[first] = None if count * 8 > need.size or need.size * \
                    p.vars[first].concrete.itemsize < KEEP_BYTES else np.flatnonzero(need)

    def subscript_lines(self, v: Var, pos: int, base: str, allocated: dict[int, str]
                        ) -> list[str] | None:
        """An accumulator of :meth:`subscript_accumulators` as statements (None: as a call)."""
        context = self.context_of(v.context)
        index = v.params["index"]
        lines = []
        if v.prim in _IN_PLACE:
            old, g = v.args[0], v.args[1]
            name = self.ref(old.id, context)
            if name is None:
                return None
        else:
            g = v.args[0]
            name = allocated.get(v.id)
            if name is None:  # (else a cotangent computed before was written into it)
                name = allocated[v.id] = self.choose(base, pos)
                lines.extend(self.allocation(v, name))
        self.bind(name, v.id)
        if v.id not in self.written:  # (else the cotangent was computed into these entries)
            text = self.operand(g, pos, context)[0]
            op = "=" if self.assign.get(v.id) else "+="
            lines.append(f"{name}[{self.index(index)}] {op} {text}")
        return lines

    def allocation(self, v: Var, name: str) -> list[str]:
        """``x_bar = zeros((n,))``: a subscript accumulator's array; ``empty`` and the few
        entries no cotangent assigns zeroed (``x_bar.flat[c1] = 0.0``) where the sweep's
        lines write all the others before reading them."""
        dims = ", ".join(str(d) for d in v.shape) + ("," if len(v.shape) == 1 else "")
        dtype = "" if v.concrete.dtype == _FLOAT64 else f", {self.constant(v.concrete.dtype)}"
        zeroed = self.zeroed.get(v.id)
        if zeroed is None:
            return [f"{name} = zeros(({dims}){dtype})"]
        lines = [f"{name} = empty(({dims}){dtype})"]
        if zeroed.size:
            lines.append(f"{name}.flat[{self.constant(zeroed)}] = 0  # (added into, not assigned)")
        return lines

    def destination(self, u: Var, pos: int, allocated: dict[int, str], base_of: Any
                    ) -> tuple[list[str], str]:
        """For a var of :attr:`dest`: the accumulator's allocation if it comes first here,
        and the entries it is written into (``x_bar[:-1]``, ``p_bar[:8].reshape((2, 4))``)."""
        target, shape = self.dest[u.id]
        first = self.hoist[u.id]
        lines = []
        name = allocated.get(first)
        if name is None:
            name = self.choose(base_of(first), pos)
            allocated[first] = name
            lines.extend(self.allocation(self.p.vars[first], name))
            self.bind(name, first)
        text = f"{name}[{self.index(self.p.vars[target].params['index'])}]"
        if shape is not None:
            dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
            text = f"{text}.reshape(({dims}))"
        return lines, text

    def lending(self, order: list[int]) -> None:
        """Which vars are arrays this program allocated (a numpy ufunc's result,
        :meth:`ufunc_of`) and which later vars may share their memory (views, and anything
        not known to allocate, such as ``x[1:]`` or ``reshape``): a fresh array whose sharers
        are all dead may lend its memory to the elementwise operation that reads it last, and
        one that no output can share is written into memory the program keeps
        (:class:`Workspace`)."""
        p, live = self.p, self.live
        n = len(p.vars)
        fresh = [False] * n
        roots: list[frozenset[int]] = [frozenset()] * n  # the fresh arrays a var may view
        sharers: dict[int, list[int]] = {}
        pinned: set[int] = set()  # shared too widely to follow: never lent
        for i in self.ufuncs:
            fresh[i] = True
        self.fresh, self.sharers, self.pinned, self.keeps = fresh, sharers, pinned, set()
        if not self.ufuncs:
            return  # nothing could lend: no analysis (a scalar chain's first call)
        for i in order:
            v = p.vars[i]
            if fresh[i] or not live[i] or v.kind != OP:
                continue
            value = v.concrete
            large = value.__class__ is np.ndarray and value.nbytes >= IN_PLACE_BYTES
            # a sweep's accumulator is new memory, or its first argument's (never the
            # cotangent added into it)
            reading = v.args[:1] if v.prim in _IN_PLACE else () if v.prim in _ACCUMULATORS \
                else v.args
            inherited = [a.id for a in reading
                         if a.__class__ is Var and (fresh[a.id] or roots[a.id])]
            if not inherited or value.__class__ is not np.ndarray or (
                    not large and self.ufunc_of(v) is not None):
                continue  # views nothing that can lend, a number, or a new array of its own
            shared = frozenset().union(*(roots[k] | ({k} if fresh[k] else set())
                                         for k in inherited))
            if len(shared) > 32:
                pinned.update(shared)
                shared = frozenset()
            roots[i] = shared
            for a in shared:
                sharers.setdefault(a, []).append(i)
        outputs = self.output_ids
        # an array an output is written into (it lends its memory down a chain of
        # elementwise lines to one): allocated by the call, not kept
        bound = set(outputs)
        for i in reversed(order):
            v = p.vars[i]
            if i in bound and i in self.ufuncs and v.prim.elementwise:  # type: ignore
                for a in v.args:  # (the one :meth:`lender` picks)
                    if a.__class__ is Var and a.id in self.ufuncs and self.named[a.id] \
                            and a.id not in outputs and a.id not in pinned \
                            and a.shape == v.shape and a.dtype == v.dtype \
                            and self.last[a.id] == self.stmt[i]:
                        bound.add(a.id)
                        break
        # kept: no output is it or may view it (what is returned owns its memory)
        self.keeps = {i for i in self.ufuncs if i not in bound and i not in pinned
                      and p.vars[i].concrete.nbytes >= KEEP_BYTES and _float64_line(p.vars[i])
                      and not any(u in outputs for u in sharers.get(i, ()))}

    def ufunc_of(self, v: Var) -> tuple[Any, tuple[Any, ...]] | None:
        """``(ufunc, arguments)`` when ``v``'s line is one numpy ufunc whose result is a new
        array of ``v``'s shape (``x - y``, ``tanh(z)``, ``x**2`` as ``square``, ``a @ b``)."""
        value = v.concrete
        if value.__class__ is not np.ndarray or not v.shape or value.dtype.kind not in "fc" \
                or v.runtime != NP or v.params:
            return None
        op = v.form or _syntax(v.prim, len(v.args), v.params)  # type: ignore[arg-type]
        if op == "pow":  # (x ** 0.5 is numpy's sqrt, not its power: only ** 2, as square)
            y = v.args[1]
            y = y.concrete if y.__class__ is Var and y.kind == STATIC else y
            return (np.square, v.args[:1]) if y.__class__ in (int, float, np.float64) \
                and y == 2 else None
        # an operator's line is its stanza's ufunc on arrays (fold_signs keeps form and prim
        # together), a function's line the stanza's numeric function
        fn = v.prim.numeric  # type: ignore[union-attr]
        ok = isinstance(fn, np.ufunc) and fn.nout == 1 and fn.nin == len(v.args)
        return (fn, v.args) if ok else None

    def lender(self, v: Var, pos: int, kept: set[int] | tuple[()] = ()) -> Var | None:
        """The argument of ``v`` (a fresh var, statement ``pos``) whose memory ``v`` may be
        written into: an array this program allocated, of ``v``'s shape and dtype, named, read
        for the last time here, not an output, and no var that may share its memory read
        later."""
        last, live = self.last, self.live
        if not v.prim.elementwise:  # type: ignore[union-attr]
            return None  # (a matrix product reads its arguments after writing: never lent)
        for a in v.args:
            if a.__class__ is Var and a.kind == OP and self.fresh[a.id] and self.named[a.id] \
                    and a.id not in kept and last[a.id] == pos and a.id not in self.output_ids \
                    and a.id not in self.pinned and a.shape == v.shape and a.dtype == v.dtype \
                    and a.concrete.dtype == v.concrete.dtype \
                    and all(not live[u] or last[u] <= pos for u in self.sharers.get(a.id, ())):
                return a
        return None

    def in_place(self, v: Var, pos: int, into: Var | str) -> str | None:
        """The right-hand side of ``v`` (a fresh var: :meth:`lending` found its ufunc call)
        written into ``into``'s memory (a var's, or a kept array's by name)."""
        context = self.context_of(v.context)
        name = into if into.__class__ is str else self.ref(into.id, context)  # type: ignore
        if name is None:
            return None
        uf, args = self.ufuncs[v.id]
        texts = [self.operand(a, pos, context)[0] for a in args]
        return f"{self.ufunc_name(uf)}({', '.join(texts)}, out={name})"

    def ufunc_name(self, uf: Any) -> str:
        name = self.fn_names.get(uf)  # type: ignore[call-overload]
        if name is None:
            base = name = uf.__name__
            k = 1
            while name in self.reserved or (name in self.namespace
                                           and self.namespace[name] is not uf):
                k += 1
                name = f"{base}_{k}"
            self.fn_names[uf] = name  # type: ignore[index]
            self.namespace[name] = uf
        return name

    # ------------------------------------------------------------------ names
    def choose(self, base: str, pos: int) -> str:
        """``base`` (or ``base_2``, ...), unless a var read after ``pos`` holds it."""
        name, k = base, 1
        while True:
            if name not in self.reserved:
                held = self.holder.get(name)
                if held is None or (self.last[held] <= pos and held not in self.output_ids):
                    return name
            k += 1
            name = f"{base}_{k}"

    def bind(self, name: str, var_id: int) -> None:
        old = self.holder.get(name)
        if old is not None and name in self.names_of.get(old, ()):
            self.names_of[old].remove(name)
        self.holder[name] = var_id
        self.names_of.setdefault(var_id, []).append(name)
        self.given.setdefault(var_id, name)

    def ref(self, var_id: int, context: str | None) -> str | None:
        """The var's name where it is read: the one of the node the sweep was at (``v2_bar``
        while applying v2's rules), else the latest."""
        names = self.names_of.get(var_id)
        if not names:
            return None
        return context if context in names else names[-1]

    def context_of(self, node: Var | None, suffix: str = "_bar") -> str | None:
        if node is None:
            return None
        name = self.given.get(node.id)
        return None if name is None else f"{name}{suffix}"

    def function_name(self, prim: Primitive) -> str:
        name = self.fn_names.get(prim)
        if name is None:
            base = name = prim.name if valid_name(prim.name) else "primitive"
            k = 1
            while name in self.reserved or (name in self.namespace
                                           and self.namespace[name] is not prim.numeric):
                k += 1
                name = f"{base}_{k}"
            self.fn_names[prim] = name
            self.namespace[name] = prim.numeric
        return name

    def constant(self, value: Any) -> str:
        """The namespace name of a value that is not written as a literal."""
        name = self.const_names.get(id(value))
        if name is None:
            k = len(self.const_names) + 1
            while f"c{k}" in self.reserved or f"c{k}" in self.namespace:
                k += 1
            name = f"c{k}"
            self.const_names[id(value)] = name
            self.namespace[name] = value
        return name

    # ------------------------------------------------------------------ expressions
    @staticmethod
    def literal(c: Any) -> str | None:
        if c is None:
            return "None"
        if c is Ellipsis:
            return "..."  # (the name Ellipsis is a builtin: the code runs without them)
        cls = c.__class__
        if cls is bool or cls is int:
            return repr(c)
        if cls is float or cls is np.float64 or (cls is np.ndarray and c.shape == ()
                                                 and c.dtype == _FLOAT64):
            f = float(c)  # (a 0-d array computes the same numbers as the number)
            return repr(f) if math.isfinite(f) else None
        return None

    def operand(self, a: Any, pos: int, context: str | None) -> tuple[str, int]:
        """``(text, precedence)`` of an argument read in statement ``pos``."""
        if a.__class__ is Var:
            name = self.ref(a.id, context)
            if name is not None:
                return name, _ATOM
            if a.kind == OP:
                return self.expression(a, pos)
            a = a.concrete
        text = self.literal(a)
        if text is None:
            return self.constant(a), _ATOM
        return text, _PRECEDENCE["neg"] if text.startswith("-") else _ATOM

    def expression(self, v: Var, pos: int) -> tuple[str, int]:
        """``(text, precedence)``: the right-hand side of ``v``'s assignment."""
        context = self.context_of(v.context)
        args = [self.operand(a, pos, context) for a in v.args]
        op = v.form
        if op is None:
            op = _syntax(v.prim, len(v.args), v.params)  # type: ignore[arg-type]
            if op is not None and op not in _EXACT and op != _SUBSCRIPT:
                op = None  # numpy's function, not Python's operator: call the numeric one
        if op == _SUBSCRIPT:
            text, prec = args[0]
            return f"{text if prec == _ATOM else f'({text})'}[{self.index(v.params['index'])}]", \
                _ATOM
        if op is None:
            texts = [t for t, _ in args] + self.parameters(v.prim, v.params)  # type: ignore
            return f"{self.function_name(v.prim)}({', '.join(texts)})", _ATOM  # type: ignore
        if op not in _EXACT and not any(_kind_of(a) == NP for a in v.args):
            # a Python float's ** or % is not numpy's: evaluate on float64, as the tape does
            args = [(f"float64({t})", _ATOM)
                    if a.__class__ is Var and not a.shape and a.dtype == np.float64
                    else (t, q) for a, (t, q) in zip(v.args, args, strict=True)]
        if op == "abs":
            return f"abs({args[0][0]})", _ATOM
        return _combine(op, args), _PRECEDENCE[op]

    def parameters(self, prim: Primitive, params: dict[str, Any]) -> list[str]:
        if not params:
            return []
        if not all(valid_name(k) for k in params):
            return [f"**{self.constant(params)}"]
        defaults = _defaults(prim)
        out = []
        for k, value in params.items():
            d = defaults.get(k, inspect.Parameter.empty)
            if (type(d) is type(value) and isinstance(value, (bool, int, float, str, type(None)))
                    and d == value) or (d is np._NoValue and value is False):
                continue  # numpy's default (keepdims not given is False): not written
            text = self.literal(value)
            if text is None and value.__class__ is slice:
                parts = [self.literal(_plain_int(e)) for e in (value.start, value.stop,
                                                               value.step)]
                if all(t is not None for t in parts):
                    text = f"slice({', '.join(parts)})"
            if text is None and isinstance(value, tuple):
                parts = [self.literal(e) for e in value]
                if all(t is not None for t in parts):
                    text = f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"
            out.append(f"{k}={self.constant(value) if text is None else text}")
        return out

    def index(self, index: Any) -> str:
        parts = index if isinstance(index, tuple) else (index,)
        out = []
        for part in parts:
            if isinstance(part, slice):
                texts = ["" if b is None else self.literal(_plain_int(b))
                         for b in (part.start, part.stop, part.step)]
                if any(t is None for t in texts):
                    out.append(self.constant(part))
                else:
                    a, b, c = texts
                    out.append(f"{a}:{b}" if not c else f"{a}:{b}:{c}")
            elif part is None or part is Ellipsis:
                out.append("None" if part is None else "...")
            elif isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)):
                out.append(repr(int(part)))
            else:
                out.append(self.constant(part))
        if not isinstance(index, tuple):
            return out[0]
        if not out:
            return "()"
        return f"{out[0]}," if len(out) == 1 else ", ".join(out)

    # ------------------------------------------------------------------ lines
    def binding(self, node: Var, suffix: str, value: Any, pos: int, context: Var | None
                ) -> str | None:
        """``v4_bar = v5_bar``, ``v3_bar = -v5_bar``: an adjoint that is already a value under
        another name, or a constant, written where the sweep gets it, if a later line reads
        it (an adjoint computed by an operation is named at its own assignment)."""
        if value.__class__ is not Var:
            return None
        if value.kind == OP and (value.id in self.prefer or not self.live[value.id]):
            if self.prefer.get(value.id, (None,))[0] is node or not self.live[value.id]:
                return None
        if not any(r >= pos for r in self.reads.get(value.id, ())):
            return None
        node_name = self.given.get(node.id)
        if node_name is None:
            return None
        name = f"{node_name}{suffix}"
        if name in self.names_of.get(value.id, ()):
            return None
        ctx = self.context_of(context)
        if value.kind == STATIC:
            rhs = self.constant_adjoint(value, pos, ctx)
            if rhs is None:
                return None
        else:
            rhs = self.ref(value.id, ctx)
            if rhs is None:
                return None
        name = self.choose(name, pos)
        self.bind(name, value.id)
        return f"{name} = {rhs}"

    def constant_adjoint(self, value: Var, pos: int, context: str | None) -> str | None:
        """A scalar constant adjoint as the sweep folded it from named ones (``-v5_bar``),
        or as its number."""
        if value.shape:
            return None
        number = self.literal(value.concrete)
        if number is None:
            return None
        name = self.ref(value.id, context)
        if name is not None:
            return name
        op = value.form or (None if value.prim is None
                            else _syntax(value.prim, len(value.args), value.params))
        if op in _EXACT and value.args and all(
                a.__class__ is not Var or (a.kind == STATIC and self.ref(a.id, context))
                for a in value.args):
            for a in value.args:
                if a.__class__ is Var:
                    self.last[a.id] = max(self.last[a.id], pos)
            args = [self.operand(a, pos, context) for a in value.args]
            return f"abs({args[0][0]})" if op == "abs" else _combine(op, args)
        return number

    def guard_line(self, k: int, name: str, rhs: str) -> str:
        g = self.p.guards[k]
        self.guard_texts[k] = f"{name} = {rhs}"
        who = "the function" if g.origin is None else f"the rule of {g.origin.name}"
        if g.kind == "branch":
            test = f"not {name}" if g.expected else name
            return f"if {test}: raise Retrace({k})  # {who} took {name} = {bool(g.expected)}"
        return (f"if not unchanged({name}, {self.constant(g.expected)}): raise Retrace({k})"
                f"  # {who} read the value of {name}")

    def after(self, pos: int, slot_of: dict[int, int], kept: set[int],
              layout: list[tuple[tuple[int, ...], Any]],
              spare: dict[tuple[tuple[int, ...], Any], list[int]]) -> list[str]:
        """After statement ``pos``: ``del`` of the large arrays it read last, and the kept
        arrays no later statement reads (nor any var that may share their memory) made
        free for reuse."""
        dead = self.freed(pos, kept)
        for held, k in list(slot_of.items()):
            if self.last[held] <= pos and all(not self.live[u] or self.last[u] <= pos
                                             for u in self.sharers.get(held, ())):
                spare.setdefault(layout[k], []).append(k)
                del slot_of[held]
        return [f"del {', '.join(dead)}"] if dead else []

    def kept_name(self, k: int) -> str:
        """The name of kept array ``k`` (``w1``, ...; ``w1_`` where a parameter has it)."""
        name = f"w{k + 1}"
        while name in self.reserved:
            name += "_"
        return name

    def freed(self, pos: int, kept: set[int]) -> list[str]:
        """Names of large arrays last read in statement ``pos`` (deleted after it; not those
        in kept memory)."""
        out = []
        for held in self.dying.get(pos, ()):
            if self.last[held] == pos and held not in kept:
                out.extend(self.names_of.get(held, ()))
        for name in out:
            self.names_of[self.holder.pop(name)].remove(name)
        return out

    def guards(self) -> list[str]:
        """Each guard's decision in words (after :meth:`write`)."""
        out = []
        for k, g in enumerate(self.p.guards):
            who = "the function" if g.origin is None else f"the rule of {g.origin.qualname}"
            text = self.guard_texts.get(k, f"v{g.var.id}")
            if g.kind == "branch":
                out.append(f"{who} branched on `{text}`, {bool(g.expected)} when traced")
            else:
                out.append(f"{who} read the value of `{text}`")
        return out

    # ------------------------------------------------------------------ the text
    def write(self) -> str:
        self.analyse()
        p = self.p
        n = len(p.vars)
        params = []
        for v in self.inputs:
            self.bind(p.names[v.id], v.id)
            params.append(p.names[v.id])
        events: dict[int, list[tuple[Any, ...]]] = {}
        for ev in p.events:
            events.setdefault(ev[4], []).append(ev)
        guards_at: dict[int, list[int]] = {}
        for k, g in enumerate(p.guards):
            guards_at.setdefault(g.var.id, []).append(k)
        lines: list[str] = []
        for k, g in enumerate(p.guards):  # a rule that read a parameter's value (max's
            if g.var.kind == INPUT:  # one-hot weights in a Hessian's first sweep): at the top
                name = p.names[g.var.id]
                lines.append(self.guard_line(k, name, name))
                self.guard_texts[k] = name
        phase = None
        counter = 0
        lent = False
        slot_of: dict[int, int] = {}  # var -> the kept array it is written into, while read
        kept: set[int] = set()  # vars ever written into kept memory (never deleted)
        layout: list[tuple[tuple[int, ...], Any]] = []  # the kept arrays' shapes and dtypes
        spare: dict[tuple[tuple[int, ...], Any], list[int]] = {}  # kept arrays free to reuse
        kept_bytes = 0
        allocated: dict[int, str] = {}  # subscript accumulators allocated ahead: their names

        def base_of(i: int) -> str:
            node, suffix = self.prefer.get(i, (None, ""))
            node_name = None if node is None else self.given.get(node.id)
            return f"{node_name}{suffix}" if node_name else "t"

        rank, live, named, dying = self.rank, self.live, self.named, self.dying
        for pos in [*self.order, n]:
            r = rank[pos] if pos < n else n  # where this statement is written
            here = events.get(pos)
            if here is not None:
                for _, node, suffix, value, _, context in here:
                    line = self.binding(node, suffix, value, r, context)
                    if line is not None:
                        ev_phase = TANGENT if suffix == "_dot" else ADJOINT
                        if ev_phase != phase:
                            lines.append(_PHASE_COMMENT[ev_phase])
                            phase = ev_phase
                        lines.append(line)
            if pos == n:
                break
            if not named[pos] or not live[pos]:
                continue
            v = p.vars[pos]
            if v.kind != OP:
                continue
            if v.phase == PRIMAL:
                counter += 1
                base = f"v{counter}"
            else:
                base = base_of(pos)
            if pos in self.subscripts:
                got = self.subscript_lines(v, r, base, allocated)
                if got is not None:
                    if v.phase != phase:
                        lines.append(_PHASE_COMMENT[v.phase])
                        phase = v.phase
                    lines.extend(got)
                    lines.extend(self.after(r, slot_of, kept, layout, spare))
                    continue
            rhs = None
            if pos in self.dest:  # written straight into the gradient's entries
                ahead, target = self.destination(v, r, allocated, base_of)
                if ahead and v.phase != phase:
                    lines.append(_PHASE_COMMENT[v.phase])
                    phase = v.phase
                lines.extend(ahead)
                rhs = self.in_place(v, r, target)
                kept.add(pos)  # (a view of the gradient: never deleted, never lent)
            # (kept memory is lent only to what may be kept: it is never returned)
            into = None if rhs is not None or not self.fresh[pos] else self.lender(
                v, r, () if pos in self.keeps else kept)
            if into is not None:
                rhs = self.in_place(v, r, into)
            if rhs is not None:
                lent = True
                if into is not None and into.id in slot_of:
                    slot_of[pos] = slot_of.pop(into.id)  # type: ignore[union-attr]
                    kept.add(pos)
            elif pos in self.keeps:
                key = (v.shape, v.concrete.dtype)
                free = spare.get(key)
                if free:
                    k = free.pop()
                elif kept_bytes + v.concrete.nbytes <= WORKSPACE_BYTES:
                    k = len(layout)
                    layout.append(key)
                    kept_bytes += v.concrete.nbytes
                else:
                    k = -1
                if k >= 0:
                    rhs = self.in_place(v, r, self.kept_name(k))
                    slot_of[pos] = k
                    kept.add(pos)
            if rhs is None:
                rhs, _ = self.expression(v, r)
            name = self.choose(base, r)
            self.bind(name, pos)
            if v.phase != phase:
                lines.append(_PHASE_COMMENT[v.phase])
                phase = v.phase
            lines.append(f"{name} = {rhs}")
            if pos in guards_at:
                lines.extend([self.guard_line(k, name, rhs) for k in guards_at[pos]])
            if slot_of or r in dying:  # (else nothing to free after it)
                lines.extend(self.after(r, slot_of, kept, layout, spare))
        returned = []
        for o in self.outputs:
            if o.__class__ is Var and o.kind == STATIC and o.shape:
                returned.append(f"array({self.constant(o.concrete)})")  # a copy of its own
            else:
                returned.append(self.operand(o, n + 1, None)[0])
        if layout:
            names = ", ".join(self.kept_name(k) for k in range(len(layout)))
            self.namespace["workspace"] = Workspace(layout)
            lines.insert(0, f"{names}{',' if len(layout) == 1 else ''} = workspace.take()")
            lines.append(f"workspace.give(({names}{',' if len(layout) == 1 else ''}))")
            lines.insert(0, "# w1, w2, ...: memory the program keeps between calls")
        if lent or layout:
            lines.insert(0, "# out=: into the memory of an array no later line reads")
        body = f"    {_NEXT_LINE.join(lines)}\n" if lines else ""
        out = ", ".join(returned) + ("," if len(returned) == 1 else "")
        return f"def {self.name}({', '.join(params)}):\n{body}    return {out}\n"


def _float64_line(v: Var) -> bool:
    """Whether ``v``'s line computes in float64 from float64 values: the dtype its result
    has in the trace is then the one the written line gives it, and ``out=`` an array of
    that dtype computes what the tape computes. (A float32 array times the sweep's constant
    1.0 is float64 in the trace, where the constant is a 0-d float64 array, and float32 in
    the written line, where it is a Python float: written into float64 memory it would be
    the trace's product, rounded unlike the tape's.)"""
    if v.concrete.dtype != _FLOAT64:
        return False
    for a in v.args:
        value = a.concrete if a.__class__ is Var else a
        if isinstance(value, (np.ndarray, np.generic)) and value.dtype != _FLOAT64:
            return False
    return True


class Workspace:
    """The arrays a written program keeps between calls for its intermediates (``out=w1``):
    at n = 1e6 an allocation costs more than the arithmetic written into it (the operating
    system hands fresh pages over one fault at a time). A call takes one set and gives it
    back on return; a call that finds none free (another thread, a recursive call, a call
    that stopped at a guard and never gave its set back) allocates its own. Nothing the
    program returns is in them."""

    __slots__ = ("layout", "spare")

    KEEP = 1
    """Sets kept for reuse (a concurrent call's own set is dropped when it gives it back)."""

    def __init__(self, layout: Sequence[tuple[tuple[int, ...], Any]]) -> None:
        self.layout = tuple(layout)
        self.spare: list[tuple[np.ndarray, ...]] = []

    def take(self) -> tuple[np.ndarray, ...]:
        try:
            return self.spare.pop()
        except IndexError:
            return tuple(np.empty(shape, dtype) for shape, dtype in self.layout)

    def give(self, arrays: tuple[np.ndarray, ...]) -> None:
        if len(self.spare) < self.KEEP:
            self.spare.append(arrays)

    def __repr__(self) -> str:
        return f"Workspace({len(self.layout)} arrays, {self.nbytes} bytes)"

    @property
    def nbytes(self) -> int:
        return sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in self.layout)


def _large(value: Any) -> bool:
    return value.__class__ is np.ndarray and value.nbytes >= FREE_BYTES


def _combine(op: str, args: list[tuple[str, int]]) -> str:
    """Operator ``op`` applied to operands ``(text, precedence)``, parenthesized as Python
    needs to evaluate them in the recorded order."""
    mine = _PRECEDENCE[op]
    if len(args) == 1:
        text, prec = args[0]
        return f"{_UNARY[op]}{text if prec >= mine else f'({text})'}"
    (left, lp), (right, rp) = args
    if lp < mine or (lp == mine and (op == "pow" or mine == 1)):
        left = f"({left})"
    if rp < mine or (rp == mine and op != "pow"):
        right = f"({right})"
    return f"{left} {_BINARY[op]} {right}"


def _plain_int(b: Any) -> Any:
    return int(b) if isinstance(b, np.integer) else b


_DEFAULTS: dict[Primitive, dict[str, Any]] = {}


def _defaults(prim: Primitive) -> dict[str, Any]:
    """The keyword defaults of the stanza's numeric function (not written in calls)."""
    got = _DEFAULTS.get(prim)
    if got is None:
        try:
            got = {k: q.default for k, q in inspect.signature(prim.numeric).parameters.items()}
        except (TypeError, ValueError):
            got = {}
        _DEFAULTS[prim] = got
    return got


def _writer(program: Program, inputs: Sequence[Var], outputs: Sequence[Any], name: str
            ) -> _Writer:
    if not valid_name(name):
        raise NotCompilable(f"{name!r} is not a name the code writer uses")
    names = [program.names.get(v.id) for v in inputs]
    for parameter in names:
        if not valid_name(parameter) or parameter in RESERVED:
            raise NotCompilable(f"parameter name {parameter!r} is not one the code writer "
                                f"uses")
    if len(set(names)) != len(names):
        raise NotCompilable(f"parameter names {names} repeat")
    return _Writer(program, inputs, outputs, name)


def write(program: Program, inputs: Sequence[Var], outputs: Sequence[Any], name: str
          ) -> tuple[str, dict[str, Any], list[str]]:
    """The program as Python source text, the namespace it runs in, and its guards in words.

    Parameters
    ----------
    program : Program
    inputs : sequence of Var
        The function's parameters, in order (named as the program names them).
    outputs : sequence
        What the function returns, in order: vars or constants.
    name : str
        The function's name (an identifier diffkit chose).

    Returns
    -------
    source : str
        ``def name(params): ...``, over the names of the namespace.
    namespace : dict
        The primitives' numeric functions by name, the constants, ``float64``, ``unchanged``.
    guards : list of str
        What each guard checks (``Retrace(k)`` is guard ``k``).
    """
    w = _writer(program, inputs, outputs, name)
    return w.write(), w.namespace, w.guards()


class Built(NamedTuple):
    """A written and compiled program."""

    function: Callable[..., Any]
    source: str
    guards: list[str]
    """What each guard checks, in words."""
    ops: int
    """Operations in the written program (each primitive once)."""
    primal: int
    """Of those, the function's own operations (what the tape records)."""


def build(program: Program, inputs: Sequence[Var], outputs: Sequence[Any], name: str) -> Built:
    """Write the program and compile it: the function, its source, its guards in words.

    The function raises :class:`~diffkit.errors.GuardError` (with the guard's index) where a
    decision recorded while tracing comes out differently.
    """
    w = _writer(program, inputs, outputs, name)
    source, namespace, guards = w.write(), w.namespace, w.guards()

    def retrace(k: int) -> GuardError:
        return GuardError(f"{guards[k]}; at this point it comes out differently, and the "
                          f"program holds only on the path it was traced on: trace it again "
                          f"there (ReverseCompiled re-traces by itself)", k)

    namespace["Retrace"] = retrace
    namespace["__builtins__"] = {}  # the code reads only what diffkit put here
    code = compile(source, f"<diffkit {name}>", "exec")
    exec(code, namespace)  # text diffkit wrote from its own names; values via the namespace
    # (the function is not left in its namespace, its globals: it would hold itself, a cycle)
    primal = [v.phase for v in itertools.compress(program.vars, w.live)].count(PRIMAL)
    return Built(namespace.pop(name), source, guards, sum(w.live), primal)
