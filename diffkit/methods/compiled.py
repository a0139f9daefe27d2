"""Reverse mode by source transformation: the derivative written out as numpy code.

The other reverse mode, :mod:`~diffkit.methods.reverse`, is operator overloading: every call
records the program on a tape and sweeps it back, paying Python work per operation each
time. This one is source transformation, as Tapenade, Google's Tangent and (in spirit) JAX
under ``jit`` do it: the spec is traced once, the registry's own VJP rules run on the trace
(:mod:`diffkit.codegen`), and what comes out is a straight-line Python function over numpy,
the adjoint program, compiled once per function, shapes and dtypes and then called like
hand-written code. :meth:`ReverseCompiled.source` shows it; for Baydin et al.'s example it is
their Table 3 as code.

The program holds for the path the traced point took. Every branch the function took on a
value (``if x > 0:``), and every value a rule looked at, is a guard in the program; where one
comes out differently the method traces again at that point and keeps both programs (up to
:data:`MAX_VARIANTS`), and the result's ``status`` says so. A guard on a floating-point
value (a rule that reads its argument, ``prod`` checking for zeros) holds only at the traced
value: such points are computed by the tape. Whatever the program cannot do (a domain error,
a construct the code writer does not follow), the tape does, and ``status`` says why: the
method never returns a number the tape would not.

Examples
--------
>>> import diffkit as dk, diffkit.numpy as dnp
>>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
>>> dk.gradient(f, [2.0, 5.0], method="reverse-compiled")
array([5.5       , 1.71633781])
>>> print(dk.methods.ReverseCompiled().source(f, [2.0, 5.0]))  # doctest: +NORMALIZE_WHITESPACE
def gradient(x1, x2):
    # the primal: one line per primitive
    v1 = log(x1)
    v2 = x1 * x2
    v3 = sin(x2)
    v4 = v1 + v2
    v5 = v4 - v3
    # the adjoints, v_bar = d(output)/dv, in reverse order
    v5_bar = 1.0
    v4_bar = v5_bar
    v3_bar = -v5_bar
    x2_bar = v3_bar * cos(x2)
    v1_bar = v4_bar
    v2_bar = v4_bar
    x1_bar = v2_bar * x2
    x2_bar = x2_bar + v2_bar * x1
    x1_bar = x1_bar + v1_bar / x1
    return v5, x1_bar, x2_bar
"""

from __future__ import annotations

import contextlib
import gc
import math
import operator
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..codegen import (
    RESERVED,
    NotCompilable,
    Program,
    Var,
    _identical,
    _layable,
    build,
    valid_name,
)
from ..core import FP_EVENTS, REGISTRY, Primitive, checked_evaluation, library_routes
from ..errors import GuardError, OutputShapeError, UnknownMethodError, UnsupportedPrimitiveError
from ..freevalues import compared_bitwise, free_values, free_values_unchanged
from ..results import DerivativeResult
from ..spec import Function, check_derivative
from ..validation import as_function, as_point
from .base import Method
from .reverse import ReverseMode

__all__ = ["MAX_DATA", "MAX_KEYS", "MAX_VARIANTS", "PROGRAMS", "CompiledProgram",
           "ReverseCompiled"]

MAX_VARIANTS = 8
"""Programs kept per function, shapes and dtypes (one per path taken); beyond, the least
recently used is dropped."""

MAX_KEYS = 32
"""Shapes and dtypes (and kinds of program) kept per function; beyond, the oldest is
dropped."""

PROGRAMS = "reverse-compiled"
"""The key of this method's programs in :attr:`diffkit.Function.cache`."""

WHATS = ("gradient", "jacobian", "jvp", "hvp")

_sum = np.add.reduce
_vdot = np.vdot
_F64 = np.dtype(np.float64)
_RULES = operator.attrgetter("vjp", "jvp", "numeric", "vjp_into")
_LARGE = 64 * 1024  # a point this large is checked before the program, its gradient after




# ============================================================================ a compiled program


@dataclass(eq=False)
class CompiledProgram:
    """One derivative program, written and compiled for one path through the function.

    Attributes
    ----------
    function : callable
        The compiled function. Its parameters are the function's (then, for ``"jvp"`` and
        ``"hvp"``, the direction, ``x1_dot, ...``); it returns the value, then the
        derivatives (see :meth:`ReverseCompiled.compile`). It raises
        :class:`~diffkit.errors.GuardError` at a point where the path differs.
    source : str
        Its Python source.
    what : str
        ``"gradient"``, ``"jacobian"``, ``"jvp"`` or ``"hvp"``.
    guards : list of str
        Each guard's decision, in words.
    ops : int
        Operations in the written program (primal and sweeps, each primitive once).
    primal : int
        Of those, the function's own (what the tape records).
    seconds : float
        Time to trace, write and compile it.
    """

    function: Callable[..., Any]
    source: str
    what: str
    guards: list[str]
    specializing: frozenset[int]
    ops: int
    primal: int
    seconds: float
    prims: tuple[Primitive, ...] = ()
    rules: tuple[tuple[Any, ...], ...] = ()
    revision: int = -1
    free: tuple[tuple[Any, str, Any], ...] = ()
    _hot: Callable[..., Any] | None = field(default=None, init=False, repr=False,
                                            compare=False)

    def hot(self, x: np.ndarray) -> tuple[Any, np.ndarray] | None:
        """A gradient program's ``(value, gradient)`` at the float64 array point ``x`` when
        nothing needs a second look, else None: the warm path of :func:`diffkit.gradient`.

        None where a stanza's rules or a value the function read from outside changed since
        the program was written (:meth:`current`), where a guard failed or numpy raised,
        where the point, the value or the gradient is not finite (a dot product is not
        finite when the array holds a NaN or an infinity; one of huge finite numbers
        overflows and sends the call down the general path too), and where the gradient is
        not a float64 array of its own shaped like ``x``: the general path then says what
        happened. numpy's floating-point errors are silenced, not counted, on the way: an
        event counts only where it leaves an output not finite, and then the general path
        runs it again. ``np.errstate`` as a decorator, made once, costs half of a ``with``
        block per call.

        A large point is read before the program (which then finds it in cache), the
        gradient and what the function read from outside after it (while they are in
        cache); a small point and its gradient in one ``x . gradient`` after it."""
        run = self._hot
        if run is None:
            run = self._hot = _hot_path(self.function, x)
        got = run(x)
        # (after the program: what the function read from outside is then in cache)
        return got if got is not None and self.current() else None

    @property
    def namespace(self) -> dict[str, Any]:
        """What the source's names stand for: the primitives' numeric functions, the
        constants ``c1, c2, ...``, the helpers (``float64``, ``unchanged``, ``Retrace``)."""
        return {k: v for k, v in self.function.__globals__.items() if k != "__builtins__"}

    def __call__(self, *args: Any) -> Any:
        """The outputs at ``args``, under diffkit's evaluation semantics (numpy's
        floating-point events counted, not raised).

        Raises
        ------
        GuardError
            Where a guard does not hold, and where a floating-point event (``sqrt`` of an
            entry ``np.where`` discards, say) left an output not finite: the tape lets the
            zero cotangent of a discarded entry annihilate its infinite partial, the written
            program does not (the method gives such points to the tape).
        """
        with checked_evaluation():
            seen = FP_EVENTS.count
            out = self.function(*args)
            if FP_EVENTS.count != seen and not all(_finite(o) for o in out):
                raise GuardError(
                    f"the compiled {self.what} program met a floating-point event (a NaN or an "
                    f"infinity: a domain edge, or an entry np.where discards) and an output "
                    f"is not finite; the tape (method='reverse-mode', or this method, which "
                    f"hands such points to it) decides what that means")
        return out

    def __str__(self) -> str:
        return self.source

    def current(self) -> bool:
        """Whether every stanza it was written from still has the rules it had (a stanza
        refined, or a rule planted by a test, since), and what the function read from outside
        its arguments is what it was (see :func:`~diffkit.freevalues.free_values`): else the program is written
        again."""
        if self.free and not free_values_unchanged(self.free):
            return False
        if self.revision == Primitive.revision:  # no rule of any primitive was assigned
            return True
        if tuple(map(_RULES, self.prims)) != self.rules:
            return False
        self.revision = Primitive.revision
        return True


def _hot_path(function: Callable[..., Any], x: np.ndarray) -> Callable[..., Any]:
    """:meth:`CompiledProgram.hot`'s checked call of a gradient program written for ``x``'s
    shape and dtype (so whether the point is large, and its dimension, are known once)."""
    isfinite = math.isfinite
    f64, ndarray = np.float64, np.ndarray
    dot = np.ndarray.dot if x.ndim == 1 else _vdot
    shape = x.shape

    large = x.nbytes >= _LARGE  # (then x . x before the program, g . g after it)

    def checked(x: np.ndarray) -> tuple[Any, np.ndarray] | None:
        if large and not isfinite(dot(x, x)):
            return None
        try:
            value, g = function(x)
        except Exception:
            return None
        if value.__class__ is not f64 or g.__class__ is not ndarray or g.base is not None \
                or g is x or g.shape != shape or g.dtype is not _F64 or not isfinite(value) \
                or not isfinite(dot(g if large else x, g)):
            return None
        return value, g

    return np.errstate(all="ignore")(checked)


class _Entry:
    """The programs of one function at one shape and dtype, most recently used first."""

    __slots__ = ("retraces", "tape", "variants")

    def __init__(self) -> None:
        self.variants: list[CompiledProgram] = []
        self.tape: str | None = None  # why this key is computed by the tape, if it is
        self.retraces = 0


_BY_FUNCTION: weakref.WeakKeyDictionary[Any, dict[Any, _Entry]] = weakref.WeakKeyDictionary()

MAX_DATA = 8
"""Data bindings (``args=``, ``kwargs=``) kept, the most recent ones: the same function and
data objects reuse the function bound to them, and its programs. (Kept in all, not per
function: each holds its function and its data.)"""

_BOUND: dict[Any, tuple[Any, Any, Any, Function]] = {}
"""Functions bound to data, by the Python function's and the data objects' identities."""
"""Programs by the Python function itself, so specs wrapping the same callable (a plain
callable is wrapped afresh by every call) share them."""


def _store(spec: Function) -> dict[Any, _Entry]:
    store = spec.cache.get(PROGRAMS)
    if store is None:
        try:
            store = _BY_FUNCTION.get(spec.fn)
            if store is None:
                store = _BY_FUNCTION[spec.fn] = {}
        except TypeError:  # not weakly referable (a builtin): per spec only
            store = {}
        spec.cache[PROGRAMS] = store
    return store


# ============================================================================ tracing


def _parameter_names(spec: Function) -> list[str]:
    """The spec's parameter names where the code writer may use them (identifiers, not a
    name the code needs), else ``x`` or ``x1, x2, ...``."""
    names = list(spec.parameters)
    if len(set(names)) == len(names) and all(valid_name(n) and n not in RESERVED
                                             for n in names):
        return names
    return ["x"] if len(names) == 1 else [f"x{k + 1}" for k in range(len(names))]


def _leaves(spec: Function, x: np.ndarray) -> list[Any]:
    """The values the inputs hold while tracing (the tape's leaves: numpy scalars)."""
    if spec.nparams == 1:
        return [x[()] if x.ndim == 0 else x]
    return [x[i] for i in range(spec.nparams)]


def arguments(spec: Function, x: np.ndarray) -> tuple[Any, ...]:
    """The compiled function's arguments for point ``x``: float64 scalars as Python floats
    (``+ - * /`` on them are the tape's numbers at a third of numpy's cost)."""
    if spec.nparams == 1:
        if x.ndim:
            return (x,)
        return (float(x),) if x.dtype == _F64 else (x[()],)
    if x.dtype == _F64:
        return tuple(x.tolist())
    return tuple(x[i] for i in range(spec.nparams))


def _zeros_like(v: Any) -> Any:
    return np.zeros(np.shape(v), dtype=np.result_type(v, float))


def _tangent_names(names: list[str]) -> list[str]:
    taken = set(names)
    out = []
    for n in names:
        t = f"{n}_dot"
        while t in taken:
            t += "_"
        taken.add(t)
        out.append(t)
    return out


def trace(spec: Function, x: np.ndarray, what: str, direction: np.ndarray | None = None,
          p: Program | None = None) -> tuple[list[Var], list[Any]]:
    """Run ``spec`` on a :class:`~diffkit.codegen.Program` ``p`` (a new one by default) at
    ``x`` and write the sweeps ``what`` asks for: ``(parameters, outputs)``.

    ``direction`` (``"jvp"``, ``"hvp"``; default the first unit vector) is the tangent the
    trace computes with; the program takes any.

    Outputs: ``"gradient"``: the value, then one cotangent per parameter. ``"jacobian"``: the
    value, then for each output entry (row-major) one cotangent per parameter. ``"jvp"``:
    the value and its tangent along the direction (the extra parameters). ``"hvp"``: the
    value, the gradient, then the Hessian times the direction.
    """
    p = Program() if p is None else p
    names = _parameter_names(spec)
    inputs = [p.input(leaf, name) for leaf, name in zip(_leaves(spec, x), names, strict=True)]
    with library_routes():
        out = spec.output(spec.fn(*inputs))
    op = {"gradient": "gradient", "jacobian": "jacobian", "jvp": "jacobian",
          "hvp": "hessian"}[what]
    value = out.concrete if out.__class__ is Var else out
    value = spec.check(value, op, x)
    if out.__class__ is not Var:
        out = p.static(value if value.shape else value[()])
    with _gc_paused():  # (the sweeps are the registry's rules: diffkit's own bookkeeping)
        return _sweeps(p, spec, x, what, direction, inputs, names, out)


def _sweeps(p: Program, spec: Function, x: np.ndarray, what: str,
            direction: np.ndarray | None, inputs: list[Var], names: list[str], out: Any
            ) -> tuple[list[Var], list[Any]]:
    """:func:`trace`'s second half: the sweeps ``what`` asks for, on the recorded program."""
    params = list(inputs)
    p.last_sweep = what != "hvp"
    if what == "gradient":
        cts = p.vjp(out, p.static(np.float64(1.0)), inputs)
        outputs = [out, *cts]
    elif what == "jacobian":
        outputs = [out]
        m = int(np.prod(out.shape, dtype=np.int64))
        for i in range(m):
            e = np.zeros(m)
            e[i] = 1.0
            outputs += p.vjp(out, p.static(e.reshape(out.shape)), inputs)
    elif what == "jvp":
        directions = _directions(p, spec, x, direction, names)
        tangents = p.jvp({v.id: d for v, d in zip(inputs, directions, strict=True)})
        params += directions
        outputs = [out, tangents.get(out.id)]
    else:  # hvp: forward over reverse, on the one program
        cts = p.vjp(out, p.static(np.float64(1.0)), inputs)
        directions = _directions(p, spec, x, direction, names)
        p.last_sweep = True
        tangents = p.jvp({v.id: d for v, d in zip(inputs, directions, strict=True)})
        params += directions
        outputs = [out, *cts,
                   *(tangents.get(c.id) if c.__class__ is Var else None for c in cts)]
    shapes = _output_shapes(what, inputs, out)
    outputs = [p.static(_zeros(s, x)) if o is None else o
               for o, s in zip(outputs, shapes, strict=True)]
    return params, outputs


def _directions(p: Program, spec: Function, x: np.ndarray, direction: np.ndarray | None,
                names: list[str]) -> list[Var]:
    if direction is None:
        direction = np.zeros(x.shape, dtype=x.dtype)
        direction.ravel()[0] = 1.0
    return [p.input(leaf, name, active=False) for leaf, name in
            zip(_leaves(spec, direction), _tangent_names(names), strict=True)]


def _zeros(shape: tuple[int, ...], x: np.ndarray) -> Any:
    dtype = np.result_type(x.dtype, float)
    return np.zeros(shape, dtype=dtype) if shape else dtype.type(0.0)


def _output_shapes(what: str, inputs: list[Var], out: Any) -> list[tuple[int, ...]]:
    shapes = [v.shape for v in inputs]
    if what == "gradient":
        return [out.shape, *shapes]
    if what == "jacobian":
        return [out.shape] + shapes * int(np.prod(out.shape, dtype=np.int64))
    if what == "jvp":
        return [out.shape, out.shape]
    return [out.shape, *shapes, *shapes]


def _compile(spec: Function, x: np.ndarray, what: str, direction: np.ndarray | None = None
             ) -> tuple[CompiledProgram, list[Any]]:
    """Trace, write and compile: the program and its outputs' values at ``x``."""
    start = time.perf_counter()
    p = Program()
    try:  # (the data a copy may be made of)
        p.lay_out = compared_bitwise(spec.fn)
    except Exception:  # reading what the function reads failed (an object whose __getattr__
        pass  # raises KeyError): no copies, and the trace, or the tape, says what is wrong
    try:
        params, outputs = trace(spec, x, what, direction, p)
        free = free_values(spec.fn)  # (what later calls compare: as the function left it)
        with _gc_paused():  # (writing and compiling: diffkit's own bookkeeping)
            fn, source, descriptions, ops, primal = build(p, params, outputs, what)
        if p.copied:
            _keep_copies(fn, p.copied, compared_bitwise(entries=free))
        prims = tuple(q for q in dict.fromkeys([v.prim for v in p.vars])  # (its rule calls:
                      if q is not None and REGISTRY.get(q.name) is q)  # from these)
        specializing = frozenset(k for k, g in enumerate(p.guards) if g.specializes)
        values = [o.concrete if o.__class__ is Var else o for o in outputs]
    finally:
        p.close()
    rules = tuple(map(_RULES, prims))
    compiled = CompiledProgram(
        fn, source, what, descriptions, specializing,
        ops, primal, time.perf_counter() - start, prims, rules, Primitive.revision, free)
    return compiled, values


def _keep_copies(fn: Callable[..., Any], copied: list[tuple[np.ndarray, np.ndarray]],
                 compared: frozenset[int]) -> None:
    """The program reads the views again, not the trace's contiguous copies, unless every
    copy still holds what its view holds and is of data the program compares after the trace
    (the function, or another thread, wrote into the data while it was traced: the program
    then computes with what the views hold, and its check against the trace sends the call
    to the tape, as without copies)."""
    if all(_identical(view, copy) and _layable(view, compared) for view, copy in copied):
        return
    back = {id(copy): view for view, copy in copied}
    names = fn.__globals__
    for name, value in list(names.items()):
        view = back.get(id(value))
        if view is not None:
            names[name] = view


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The garbage collector paused while diffkit writes a program (tens of thousands of
    short-lived objects, no cycles left behind: a program's vars are dropped by
    ``Program.close``), never while the user's function runs; as it was after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _agrees(got: Any, want: list[Any]) -> bool:
    """The compiled program's outputs are the trace's: the value bit for bit, the derivatives
    up to the sign of a zero (a cotangent the program assigns into entries no other reached,
    ``x_bar[:-1] = v2_bar``, keeps a -0.0 that the sweep's ``0.0 + g`` makes +0.0)."""
    if len(got) != len(want):
        return False
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        a = np.asarray(a, dtype=np.asarray(b).dtype) if np.ndim(b) == 0 else a
        if k == 0:
            if not _identical(a, b):
                return False
        else:
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(
                    a, b, equal_nan=a.dtype.kind in "fc"):
                return False
    return True


# ============================================================================ the method


class ReverseCompiled(Method):
    """Reverse-mode AD by source transformation (``method="reverse-compiled"``).

    The function is traced once per shapes and dtypes; the registry's VJP rules are run on
    the trace and written out as a straight-line numpy program (primal assignments, then one
    assignment per adjoint; constants folded, common subexpressions shared, dead code
    removed), which is compiled and cached in the function's :attr:`~diffkit.Function.cache`.
    Later calls run the compiled program: about a hand-written gradient's cost. Branches
    (``if x > 0:``) and values the rules read are guards: where one comes out differently the
    program is traced again and ``status`` says so; what the program cannot compute the tape
    (``reverse-mode``) does, with ``status`` saying why. ``info`` of a result holds
    ``compiled`` (``"cached"``, ``"traced"``, ``"re-traced"`` or ``"tape"``), ``variants``
    (programs kept for this shape), ``ops`` (the function's operations, as the tape counts
    them) and ``program ops`` (the written program's, primal and sweeps).

    Jacobians are one program with a sweep per output entry; Hessians are forward-over-reverse
    (:meth:`hvp`, one call per coordinate). :meth:`source` shows the program, :meth:`compile`
    returns it.

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp, numpy as np
    >>> rosen = dk.Function(lambda x: dnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2
    ...                                       + (1 - x[:-1]) ** 2))
    >>> dk.gradient(rosen, np.array([0.5, 1.0, 1.5]), method="reverse-compiled")
    array([-151.,  -50.,  100.])
    >>> r = dk.methods.ReverseCompiled().gradient(rosen, np.array([1.0, 1.0, 1.0]))
    >>> r.info["compiled"], r.status
    ('cached', 'ok')

    The derivatives are the tape's up to the sign of a zero (here ``-0.0`` in the first
    entry of ``r.value``, where the tape's sweep adds ``0.0 + g`` and has ``+0.0``).
    """

    name = "reverse-compiled"
    family = "reverse"

    def __init__(self) -> None:
        pass

    # ------------------------------------------------------------------ programs
    def compile(self, f: Any, x: Any, what: str = "gradient") -> CompiledProgram:
        """The program for ``f`` at ``x`` (traced there, or the cached one whose path ``x``
        takes).

        Parameters
        ----------
        f : Function or callable
        x : array_like
            The point; the program is for its shape and dtype and the path it takes.
        what : {"gradient", "jacobian", "jvp", "hvp"}
            ``"gradient"`` returns ``(value, *cotangents)``, one per parameter;
            ``"jacobian"`` ``(value, *cotangents)`` for each output entry in turn;
            ``"jvp"`` takes the direction after the point (``x1_dot, ...``) and returns
            ``(value, tangent)``; ``"hvp"`` takes the direction and returns
            ``(value, *gradient, *hessian_times_direction)``.

        Returns
        -------
        CompiledProgram
        """
        if what == "hessian":  # (the method's Hessian runs the "hvp" program n times)
            raise UnknownMethodError(
                "ReverseCompiled.compile: what='hessian' is not one program; the Hessian is "
                "the 'hvp' program (forward over reverse) run once per direction: compile "
                "what='hvp', or call .hessian(f, x)")
        spec, xa = self._prepare(f, x, what)
        with checked_evaluation():
            entry = self._entry(spec, xa, what)
            args = arguments(spec, xa)
            direction = None
            if what in ("jvp", "hvp"):
                direction = np.zeros(xa.shape, dtype=xa.dtype)
                direction.ravel()[0] = 1.0
                args += arguments(spec, direction)
            for variant in entry.variants:
                if variant.current():
                    try:
                        variant.function(*args)
                    except GuardError:
                        continue
                    except Exception:  # (the point's own trouble: the tape says what)
                        pass
                    return variant
            compiled, values = _compile(spec, xa, what, direction)
            try:  # (kept only if it reproduces its trace, as the method keeps them)
                check = compiled.function(*args)
            except Exception as exc:
                check = exc
            if isinstance(check, Exception) or not _agrees(check, values):
                entry.tape = _tape_status(_UNREPRODUCED)
                raise Unreproduced(
                    f"ReverseCompiled.compile: the program written for {spec.name} does not "
                    f"reproduce its trace's numbers at this point (please report this "
                    f"function); method='reverse-compiled' computes it with the tape",
                    compiled)
            self._keep(entry, compiled)
            return compiled

    def source(self, f: Any, x: Any, what: str = "gradient") -> str:
        """The derivative program for ``f`` at ``x`` as Python source text.

        Parameters are those of :meth:`compile`. Names: ``v1, v2, ...`` the primal
        variables (in the order of :func:`diffkit.trace`'s tables), ``v3_bar`` the adjoint
        ``d(output)/d v3``, ``x1_bar`` the gradient's entries, ``v3_dot`` a tangent; calls
        are the registry's numeric functions (numpy's), ``c1, c2, ...`` constants (see
        ``compile(...).namespace``).

        Examples
        --------
        >>> import diffkit as dk, diffkit.numpy as dnp
        >>> print(dk.methods.ReverseCompiled().source(lambda x: dnp.exp(2.0 * x), 0.5))
        def gradient(x):
            # the primal: one line per primitive
            v1 = 2.0 * x
            v2 = exp(v1)
            # the adjoints, v_bar = d(output)/dv, in reverse order
            v2_bar = 1.0
            v1_bar = v2_bar * v2
            x_bar = v1_bar * 2.0
            return v2, x_bar
        <BLANKLINE>
        """
        try:
            return self.compile(f, x, what).source
        except Unreproduced as exc:  # (shown, with what the method does instead)
            return (f"# not used: it does not reproduce its trace's numbers at this point "
                    f"(please report this function);\n# method='reverse-compiled' computes it "
                    f"with the tape\n{exc.program.source}")

    def hvp(self, f: Any, x: Any, v: Any) -> DerivativeResult:
        """The Hessian of scalar ``f`` at ``x`` times ``v`` (shape of ``x``), by the compiled
        forward-over-reverse program."""
        spec, xa = self._prepare(f, x, "hessian")
        va = as_point(spec, v, "hessian", call="hvp(f, x, v)")
        if va.shape != xa.shape:
            raise OutputShapeError(f"hvp(f, x, v): v has shape {va.shape}, x has shape "
                                   f"{xa.shape}; pass a direction shaped like x")
        return self._run(lambda s, a: self._hvp(s, a, va), spec, xa)

    def jvp(self, f: Any, x: Any, v: Any) -> DerivativeResult:
        """The derivative of ``f`` at ``x`` along ``v`` (shape of ``f(x)``), by the compiled
        tangent program (forward mode)."""
        spec, xa = self._prepare(f, x, "jacobian")
        va = as_point(spec, v, "jacobian", call="jvp(f, x, v)")
        if va.shape != xa.shape:
            raise OutputShapeError(f"jvp(f, x, v): v has shape {va.shape}, x has shape "
                                   f"{xa.shape}; pass a direction shaped like x")
        return self._run(lambda s, a: self._jvp(s, a, va), spec, xa)

    @staticmethod
    def clear(f: Any) -> None:
        """Forget the programs of ``f`` (the next call traces again), with the data bound to
        it and the memory its programs keep."""
        if isinstance(f, Function):
            f.cache.pop(PROGRAMS, None)
            f = f.fn
        try:
            _BY_FUNCTION.pop(f, None)
        except TypeError:
            pass
        for key in [k for k, hit in _BOUND.items() if hit[0] is f]:
            del _BOUND[key]

    def gradient(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """Gradient of scalar ``f`` at ``x``; the value has the shape of ``x``.

        A float64 array point of a :class:`~diffkit.Function` of one parameter is used as it
        is (the program never writes to it) once one sum shows it is finite; any other point
        is validated and copied as by every method. Data arguments (``args=``, ``kwargs=``,
        see :meth:`diffkit.Function.with_data`) are the program's constants: the function
        bound to the same data objects is kept (the last :data:`MAX_DATA` bindings), so a loop
        passing the same arrays runs one program (changed in place, they are seen, as every
        value the function reads from outside; other objects are traced for).
        """
        bound = self._bound(f, args, kwargs)
        if bound is not None:
            f = bound
        elif args.__class__ is not tuple or args or kwargs is not None:
            return super().gradient(f, x, args=args, kwargs=kwargs)
        entry = self._warm(f, x)
        if entry is not None:
            variant = entry.variants[0]
            hot = variant.hot(x)  # the program that ran last, as it is
            if hot is not None:
                return DerivativeResult(hot[1], 1, self.name, out_shape=(), info={
                    "compiled": "cached", "variants": len(entry.variants),
                    "ops": variant.primal, "program ops": variant.ops})
        if self._direct(f, x) and math.isfinite(_sum(x, None)):
            return self._run(self._gradient, f, x)
        return super().gradient(f, x)

    def gradient_array(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                       kwargs: dict[str, Any] | None = None) -> np.ndarray:
        """:meth:`gradient`'s value alone (what :func:`diffkit.gradient` returns): from a warm
        program, no result object is built."""
        if args.__class__ is tuple and not args and kwargs is None and f.__class__ is Function \
                and x.__class__ is np.ndarray and x.dtype is _F64:  # (_warm, written out)
            store = f.cache.get(PROGRAMS)
            if store is not None and x.ndim and x.size and len(f.parameters) == 1:
                entry = store.get(("gradient", x.shape, "d", f.parameters))
                if entry is not None and entry.variants:
                    hot = entry.variants[0].hot(x)
                    if hot is not None:
                        return hot[1]
        bound = self._bound(f, args, kwargs)
        if bound is not None:
            return self.gradient_array(bound, x)
        return np.asarray(self.gradient(f, x, args=args, kwargs=kwargs).value)

    def jacobian(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """Jacobian of ``f`` at ``x`` (data arguments as for :meth:`gradient`)."""
        return self._with_data(super().jacobian, "jacobian", f, x, args, kwargs)

    def hessian(self, f: Any, x: Any, *, args: tuple[Any, ...] = (),
                kwargs: dict[str, Any] | None = None) -> DerivativeResult:
        """Hessian of scalar ``f`` at ``x`` (data arguments as for :meth:`gradient`)."""
        return self._with_data(super().hessian, "hessian", f, x, args, kwargs)

    def _with_data(self, call: Callable[..., DerivativeResult], op: str, f: Any, x: Any,
                   args: Any, kwargs: Any) -> DerivativeResult:
        """The base method's ``call`` on ``f`` with its data bound by :meth:`_bound` (its
        programs kept with it), or with ``args``/``kwargs`` as given where it binds none."""
        bound = self._bound(f, args, kwargs, op)
        if bound is not None:
            return call(bound, x)
        return call(f, x, args=args, kwargs=kwargs)

    @staticmethod
    def _bound(f: Any, args: Any, kwargs: Any, op: str = "gradient") -> Function | None:
        """``f`` with its data bound, the same Function while the data are the same objects
        (its programs with it); None where there are no data, or where they cannot be kept by
        identity (not a tuple and a dict: :meth:`Function.with_data` says what is wrong)."""
        if args.__class__ is not tuple or (kwargs is not None and kwargs.__class__ is not dict) \
                or (not args and not kwargs):
            return None
        spec = as_function(f, op)
        kw = kwargs or {}
        key = (id(spec.fn), spec.parameters, tuple(map(id, args)),
               tuple((k, id(v)) for k, v in kw.items()))
        hit = _BOUND.pop(key, None)
        if hit is None:
            hit = (spec.fn, args, dict(kw), spec.with_data(args, kwargs, call=f"{op}(f, x)"))
            while len(_BOUND) >= MAX_DATA:
                del _BOUND[next(iter(_BOUND))]
        _BOUND[key] = hit  # (most recent last; the function and data held: ids stay theirs)
        return hit[3]

    @staticmethod
    def _direct(f: Any, x: Any) -> bool:
        """A float64 array point of a Function of one parameter: used as it is (the program
        never writes to it), its finiteness checked where the program's output is."""
        return f.__class__ is Function and x.__class__ is np.ndarray and x.dtype is _F64 \
            and x.ndim > 0 and x.size > 0 and len(f.parameters) == 1

    @classmethod
    def _warm(cls, f: Any, x: Any) -> _Entry | None:
        """The gradient programs of ``f`` at ``x``'s shape, the one that ran last first, when
        ``x`` is a ``_direct`` point and there is one."""
        if not cls._direct(f, x):
            return None
        store = f.cache.get(PROGRAMS)
        entry = None if store is None else store.get(("gradient", x.shape, "d", f.parameters))
        return entry if entry is not None and entry.variants else None

    # ------------------------------------------------------------------ internals
    def _prepare(self, f: Any, x: Any, what: str) -> tuple[Function, np.ndarray]:
        if what not in WHATS and what != "hessian":
            raise UnknownMethodError(
                f"ReverseCompiled: what={what!r} is not a program it writes; choose one of "
                f"{', '.join(repr(w) for w in WHATS)}")
        op = {"jvp": "jacobian", "hvp": "hessian"}.get(what, what)
        spec = as_function(f, op)
        return spec, as_point(spec, x, op)

    @staticmethod
    def _entry(spec: Function, x: np.ndarray, what: str) -> _Entry:
        store = _store(spec)
        key = (what, x.shape, x.dtype.char, spec.parameters)
        entry = store.get(key)
        if entry is None:
            while len(store) >= MAX_KEYS:
                del store[next(iter(store))]
            entry = store[key] = _Entry()
        return entry

    @staticmethod
    def _keep(entry: _Entry, compiled: CompiledProgram) -> None:
        entry.variants.insert(0, compiled)
        del entry.variants[MAX_VARIANTS:]

    def _outputs(self, spec: Function, x: np.ndarray, what: str, args: tuple[Any, ...],
                 direction: np.ndarray | None = None) -> tuple[Any, dict[str, Any], str]:
        """The program's outputs at ``x``: ``(outputs, info, status)``, or ``outputs`` None
        when the tape must compute this point (``status`` says why)."""
        store = spec.cache.get(PROGRAMS)
        entry = None if store is None else store.get((what, x.shape, x.dtype.char,
                                                      spec.parameters))
        if entry is None:
            entry = self._entry(spec, x, what)
        elif entry.variants:  # the program that ran last, first
            variant = entry.variants[0]
            try:
                out = variant.function(*args)
            except Exception:
                pass  # (the general path below says what happened)
            else:
                if variant.current():
                    return out, {"compiled": "cached", "variants": len(entry.variants),
                                 "ops": variant.primal, "program ops": variant.ops}, "ok"
        if entry.tape is not None:
            return None, {"compiled": "tape"}, entry.tape
        missed: tuple[CompiledProgram, int] | None = None
        for k, variant in enumerate(entry.variants):
            try:
                out = variant.function(*args)
            except GuardError as exc:
                if missed is None:
                    missed = (variant, exc.index)
                continue
            except Exception as exc:
                return None, {"compiled": "tape"}, _tape_status(
                    f"the compiled program raised {type(exc).__name__} ({exc}) at this point")
            if not variant.current():  # a stanza's rule was replaced: write it again
                entry.variants.clear()
                break
            if k:
                entry.variants.insert(0, entry.variants.pop(k))
            return out, {"compiled": "cached", "variants": len(entry.variants),
                         "ops": variant.primal, "program ops": variant.ops}, "ok"
        status = "ok"
        if missed is not None:
            variant, index = missed
            why = variant.guards[index]
            if index in variant.specializing:
                return None, {"compiled": "tape"}, _tape_status(
                    f"{why} (a floating-point value), so the compiled program holds at the "
                    f"traced point only")
            status = f"re-traced: {why}; this point takes another path"
        try:
            compiled, values = _compile(spec, x, what, direction)
        except (NotCompilable, RecursionError, SyntaxError, MemoryError) as exc:
            entry.tape = _tape_status(f"the program could not be written: {exc}")
            return None, {"compiled": "tape"}, entry.tape
        except UnsupportedPrimitiveError as exc:  # a stanza refused a written value (sort's
            # argsort indices are values of the program, the tape's are plain integers): the
            # tape follows it, or refuses with its own message
            entry.tape = _tape_status(f"the program could not be written: {exc}")
            return None, {"compiled": "tape"}, entry.tape
        try:
            check = compiled.function(*args)
        except Exception as exc:  # the program must reproduce its own trace
            check = exc
        if isinstance(check, Exception) or not _agrees(check, values):
            entry.tape = _tape_status(_UNREPRODUCED)
            return None, {"compiled": "tape"}, entry.tape
        self._keep(entry, compiled)
        if missed is not None:
            entry.retraces += 1
        info = {"compiled": "re-traced" if missed is not None else "traced",
                "variants": len(entry.variants), "ops": compiled.primal,
                "program ops": compiled.ops, "seconds": compiled.seconds}
        return check, info, status  # (the program's own arrays: the trace's are its constants)

    def _tape(self, run: Callable[[], DerivativeResult], info: dict[str, Any], status: str
              ) -> DerivativeResult:
        r = run()
        return DerivativeResult(r.value, nfev=r.nfev, method=self.name, out_shape=r.out_shape,
                                status=status, info={**r.info, **info})

    # ------------------------------------------------------------------ derivatives
    def _gradient(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        out, info, status = self._outputs(spec, x, "gradient", arguments(spec, x))
        if out is None:
            return self._tape(lambda: ReverseMode()._gradient(spec, x), info, status)
        value = out[0]
        if (value.__class__ is not np.float64 and value.__class__ is not float) \
                or not math.isfinite(value):
            spec.check(value, "gradient", x)
        if spec.nparams == 1:
            g = out[1]  # an array of its own, shaped like x (the program's, else a copy)
            if g.__class__ is not np.ndarray or g.base is not None or g is x \
                    or g.dtype is not _F64 or g.shape != x.shape:
                g = np.array(np.broadcast_to(g, x.shape), dtype=float)
        else:
            g = np.array(out[1:], dtype=float)
        if not _finite(g):
            return self._tape(lambda: ReverseMode()._gradient(spec, x), {"compiled": "tape"},
                              _NOT_FINITE)
        return DerivativeResult(g, nfev=1, method=self.name, out_shape=(), status=status,
                                info=info)

    def _jacobian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        out, info, status = self._outputs(spec, x, "jacobian", arguments(spec, x))
        if out is None:
            return self._tape(lambda: ReverseMode()._jacobian(spec, x), info, status)
        value = spec.check(out[0], "jacobian", x)
        m, k = value.size, spec.nparams
        rows = [np.concatenate([np.ravel(c) for c in out[1 + i * k: 1 + (i + 1) * k]])
                for i in range(m)]
        jac = np.array(rows, dtype=float).reshape(m, x.size)
        if not _finite(jac):
            return self._tape(lambda: ReverseMode()._jacobian(spec, x), {"compiled": "tape"},
                              _NOT_FINITE)
        return DerivativeResult(jac, nfev=1, method=self.name, out_shape=value.shape,
                                status=status, info=info)

    def _derivative(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        r = self._jacobian(spec, x)
        shape = r.out_shape or ()
        value = np.asarray(r.value).reshape(shape)
        return DerivativeResult(float(value) if shape == () else value, nfev=r.nfev,
                                method=self.name, out_shape=r.out_shape, status=r.status,
                                info=r.info)

    def _directional(self, spec: Function, x: np.ndarray, v: np.ndarray, what: str
                     ) -> tuple[Any, dict[str, Any], str]:
        args = arguments(spec, x) + arguments(spec, v)
        return self._outputs(spec, x, what, args, v)

    def _hvp(self, spec: Function, x: np.ndarray, v: np.ndarray) -> DerivativeResult:
        out, info, status = self._directional(spec, x, v, "hvp")
        if out is not None and not all(_finite(o) for o in out[1:]):
            out, info, status = None, {"compiled": "tape"}, _NOT_FINITE
        if out is None:
            from .forward import hvp as forward_hvp

            def tape() -> DerivativeResult:  # (checked: the tape's own refusal, never NaN)
                h = np.asarray(forward_hvp(spec.call, x, v), dtype=float).reshape(x.shape)
                return DerivativeResult(check_derivative(spec, h, "hessian", x, "reverse-mode"),
                                        nfev=2, method="reverse-mode", out_shape=())
            return self._tape(tape, info, status)
        spec.check(out[0], "hessian", x)
        k = spec.nparams
        hv = out[1 + k:]
        h = np.array(np.broadcast_to(hv[0], x.shape), dtype=float) if k == 1 else \
            np.array(hv, dtype=float)
        return DerivativeResult(h, nfev=1, method=self.name, out_shape=(), status=status,
                                info=info)

    def _jvp(self, spec: Function, x: np.ndarray, v: np.ndarray) -> DerivativeResult:
        out, info, status = self._directional(spec, x, v, "jvp")
        if out is not None and not _finite(out[1]):
            out, info, status = None, {"compiled": "tape"}, _NOT_FINITE
        if out is None:
            from .forward import jvp as forward_jvp

            def tape() -> DerivativeResult:  # (checked: the tape's own refusal, never NaN)
                _, t = forward_jvp(spec.call, x, v)
                t = check_derivative(spec, np.asarray(t, dtype=float), "jacobian", x,
                                     "forward-mode")
                return DerivativeResult(t, nfev=1, method="forward-mode", out_shape=np.shape(t))
            return self._tape(tape, info, status)
        value = spec.check(out[0], "jacobian", x)
        t = np.array(np.broadcast_to(out[1], value.shape), dtype=float)
        return DerivativeResult(t, nfev=1, method=self.name, out_shape=value.shape,
                                status=status, info=info)

    def _hessian(self, spec: Function, x: np.ndarray) -> DerivativeResult:
        n = x.size
        rows = []
        statuses: list[str] = []
        info: dict[str, Any] = {}
        for i in range(n):
            e = np.zeros(x.shape)
            e.ravel()[i] = 1.0
            r = self._hvp(spec, x, e)
            rows.append(np.ravel(r.value))
            if r.status != "ok" and r.status not in statuses:
                statuses.append(r.status)
            info = r.info
        h = np.array(rows, dtype=float).reshape(n, n)
        if not rows:
            spec.check(spec.call(x.copy()), "hessian", x)  # (f may write to its argument)
        return DerivativeResult(h, nfev=n, method=self.name, out_shape=(),
                                status="; ".join(statuses) or "ok",
                                info={**info, "passes": n})


class Unreproduced(NotCompilable):
    """A written program does not reproduce its trace's numbers (a bug of the code writer:
    the method computes such points with the tape). ``program`` is the program."""

    def __init__(self, message: str, program: CompiledProgram) -> None:
        super().__init__(message)
        self.program = program


_UNREPRODUCED = ("the compiled program did not reproduce its trace's numbers (please report "
                 "this function)")


def _tape_status(reason: str) -> str:
    return f"computed by the tape (reverse-mode): {reason}"


_NOT_FINITE = _tape_status(
    "the compiled program's derivative is not finite here, and the tape decides what that "
    "means (an error naming the primitive, or what it returns)")


def _finite(a: Any) -> bool:
    """Every entry finite (one sum, a full check only when the sum is not finite)."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc":
        return True
    if not a.size or np.isfinite(np.add.reduce(a, None)):
        return True
    return bool(np.isfinite(a).all())  # (a sum of finite entries can overflow)

