"""The interpreter machinery every method shares.

A spec is ordinary Python over :mod:`diffkit.numpy`. Each ``dnp`` function is a
:class:`Primitive`; calling it on plain numbers runs numpy, calling it on a :class:`Tracer`
hands the call to that tracer's :class:`Trace` (an interpreter: tape recording, dual numbers,
sympy expressions). Traces nest: each has a ``level``, and :func:`bind` gives the call to the
innermost (highest level) trace among the arguments, which unboxes its own tracers and binds
again, so lower levels see the call next (autograd's and JAX autodidax's scheme).

Everything a primitive is lives in its :class:`Primitive` stanza (``diffkit/primitives/``):
:func:`register` derives the rest from it — numpy's and scipy's names for it (so
``np.sin(tracer)`` reaches it), the tracer's operators and ndarray methods.
"""

from __future__ import annotations

import functools
import itertools
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .errors import (
    DiffkitError,
    DomainError,
    NotTraceableError,
    UnsupportedAttributeError,
    UnsupportedPrimitiveError,
)

__all__ = [
    "NUMPY_TO_PRIMITIVE",
    "REGISTRY",
    "Domain",
    "Primitive",
    "Trace",
    "Tracer",
    "bind",
    "checked_evaluation",
    "domain_error",
    "evaluating",
    "register",
]


@dataclass(frozen=True)
class Domain:
    """Where a primitive (or its derivative) is real-valued and finite.

    ``lo``/``hi`` bound the first argument (``None`` = unbounded); ``lo_open``/``hi_open``
    say whether the bound itself is excluded. ``text`` is the human form, e.g. ``"x > 0"``.
    ``integer_exponent_only`` (``power``): the bounds hold only when the second argument is
    not an integer (``x**0.5`` needs ``x >= 0``, ``x**2`` does not). The rest guides
    random-program generators, which keep away from trouble, and the numerical methods, which
    check that no difference crosses one: ``kinks`` are points where the function is
    continuous but not differentiable (abs at 0; for a binary primitive, differences
    ``x - y``), and ``kink_vars`` where else they are, as argument positions -- ``(i,)`` for
    argument ``i`` itself, ``(i, j)`` for ``x_i - x_j`` (copysign ``((0,),)``, clip
    ``((0, 1), (0, 2))``), ``poles`` points where it is infinite, repeated every
    ``period`` if given (tan), and ``moderate`` the largest ``|x|`` worth feeding a function
    that grows fast (exp). ``nonzero``: argument positions that must not be 0 (the divisor
    of ``divide``, ``remainder``: ``(1,)``).
    """

    text: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = True
    hi_open: bool = True
    kinks: tuple[float, ...] = ()
    kink_vars: tuple[tuple[int, ...], ...] | None = None
    integer_exponent_only: bool = False
    poles: tuple[float, ...] = ()
    period: float | None = None
    moderate: float | None = None
    nonzero: tuple[int, ...] = ()

    @property
    def everywhere(self) -> bool:
        """Defined for every real argument, with kinks or jumps at most (``text`` says "all
        x ..."): no argument is outside it, no partial derivative infinite."""
        return self.text.startswith("all ")

    def contains(self, x: Any) -> np.ndarray:
        """Elementwise membership of ``x`` (a real array or scalar)."""
        x = np.asarray(x, dtype=float)
        ok = np.isfinite(x)
        if self.lo is not None:
            ok &= (x > self.lo) if self.lo_open else (x >= self.lo)
        if self.hi is not None:
            ok &= (x < self.hi) if self.hi_open else (x <= self.hi)
        return ok


@dataclass(eq=False)
class Primitive:
    """One primitive operation, all of its interpretations and everything said about it.

    The stanza is the single source of truth: the ``dnp`` function, numpy's and scipy's names
    for it, the tracer's operators and ndarray methods, formula names, the trace tables'
    display, compiled-code printers, the registry tests' sample arguments and the random
    program generators all read these fields.

    Parameters
    ----------
    name : str
        The ``dnp`` name (numpy's name for the operation).
    numeric : callable
        The numpy implementation; works on floats, complex numbers and arrays.
    symbolic : callable or None
        ``symbolic(*args, **params)`` on sympy values (scalars or object arrays).
    vjp : tuple of callables or None
        One function per positional argument, ``vjp[i](g, ans, *args, **params)`` giving the
        cotangent of argument ``i`` for output cotangent ``g``, written with ``dnp``
        primitives (so it is itself differentiable); ``None`` entries mark arguments that are
        not differentiable (indices, conditions).
    jvp : tuple of callables or None
        One function per positional argument, ``jvp[i](t, ans, *args, **params)`` giving the
        output tangent contributed by the tangent ``t`` of argument ``i``.
    jvp_batched : bool
        The ``jvp`` rules also take a batch of tangents: ``t`` with leading axes before the
        argument's shape (``(k, *x.shape)``, one tangent per direction), returning the output
        tangents with the same leading axes (vector forward mode pushes k directions in one
        pass). Elementwise primitives need no flag: the engine aligns their tangents so the
        rule broadcasts. A primitive with neither gets its rule once per direction.
    vjp_numpy : callable or None
        Optional fast rule for plain values, ``vjp_numpy(g, ans, args, params, wanted)``
        returning one cotangent per argument (``None`` where not ``wanted[i]``). It computes
        exactly what ``vjp`` computes, in plain numpy; ``tests/test_vjp.py`` holds it to that.
    vjp_into : callable or None
        Optional in-place rule for a one-argument primitive whose cotangent is sparse
        (``getitem``): ``vjp_into(acc, g, args, params)`` adds the cotangent of the argument
        into ``acc``, an accumulator the engine owns, instead of building a fresh array.
    saves : tuple or None
        What ``vjp`` reads beyond shapes, so the tape keeps only that and large intermediates
        are freed early: ``None`` (every argument and the output), a tuple of argument
        positions (``-1`` is the output ``ans``) read by every argument's rule, or one such
        tuple per argument (multiply: ``((1,), (0,))``, each cotangent reads the other
        factor).
    domain, derivative_domain : Domain or None
        Where the primitive, and where its derivative, are defined and finite on the reals.
    analytic : bool
        False for operations that are not complex-analytic (abs, max, comparisons, floor): the
        complex step refuses them.
    differentiable : bool
        False for operations whose output carries no derivative (comparisons, sign).
    nargs : int or None
        Number of positional arguments when fixed (1 for ``sin``, 2 for ``add``).
    linear, elementwise, variadic : bool
        Linear in its traced arguments; maps arrays entry by entry; takes any number of
        arrays (``stack``).
    numpy : tuple of str
        numpy's names for it (``"abs"``, ``"linalg.norm"``); the first numpy object found also
        serves as ``ufunc``.
    scipy : tuple of str
        scipy's names (``"special.erf"``), resolved lazily (scipy is never imported by diffkit
        before the user imports it).
    methods : dict of str to callable or None
        ndarray methods the tracer gets (``{"sum": None}`` calls the ``dnp`` function with the
        tracer first; a callable adapts numpy's method signature).
    operators : tuple of str
        Python operators (``"add"`` gives ``__add__`` and ``__radd__``; ``"neg"`` gives
        ``__neg__``).
    formula : tuple of str
        Names usable in formula text (``Function.from_expr``).
    sympy_name : str or None
        The sympy function class this primitive reads back from (``Function.from_sympy``).
    printer : dict or None
        Functions the compiled symbolic code needs, by sympy function name.
    infix : str or None
        Infix operator for display (``"+"``).
    partials : tuple of str
        Display text of the partial derivative with respect to each argument, with ``{0}``,
        ``{1}`` the arguments' names and ``{y}`` the result's (used by the trace tables).
    samples : tuple
        ``(args, params)`` sample calls inside the domain, for the registry-iterating tests.
    generate : bool or tuple of Domain
        Whether random-program generators may draw this primitive (elementwise, one or two
        real arguments): ``True`` draws arguments inside ``domain``; a tuple gives the region
        to draw each argument from (``|x| <= 3`` for exp, a nonzero divisor).
    composite : callable or None
        For primitives defined by other primitives: the implementation on traced values
        (``var`` as a mean of squares); ``numeric`` is numpy's own function.
    namespace : str
        ``""``, ``"linalg"`` or ``"special"``: where the ``dnp`` function lives.
    staircase : float, callable or None
        For step functions whose steps repeat (floor, ceil, trunc, rint, round): the height
        of one step in output units (a number, or a function of the params: round's
        ``10**-decimals``). Where the steps are finer than the difference methods' steps, the
        noise model counts them as noise of one step height (see ``_NoiseTrace``).
    staircase_edge : float
        Where a staircase's jumps are, as a fraction of one step: 0 for floor, ceil and trunc
        (at the multiples), 0.5 for rint and round (halfway). The numerical methods keep their
        stencils from straddling a jump of a coarse staircase.
    continuation : callable or None
        The real function's analytic continuation, where numpy's own function on complex input
        is not it (``linalg.norm`` takes ``|x|``, ``vdot`` conjugates): the complex step runs
        it instead of ``numeric``, tracing every evaluation so numpy never sees ``x + ih``.
    """

    name: str
    numeric: Callable[..., Any]
    symbolic: Callable[..., Any] | None = None
    vjp: tuple[Callable[..., Any] | None, ...] | None = None
    jvp: tuple[Callable[..., Any] | None, ...] | None = None
    jvp_batched: bool = False
    vjp_numpy: Callable[..., Any] | None = None
    vjp_into: Callable[..., Any] | None = None
    saves: tuple[Any, ...] | None = None
    domain: Domain | None = None
    derivative_domain: Domain | None = None
    analytic: bool = True
    differentiable: bool = True
    nargs: int | None = None
    linear: bool = False
    elementwise: bool = False
    variadic: bool = False
    ufunc: Any = None
    numpy: tuple[str, ...] = ()
    scipy: tuple[str, ...] = ()
    methods: dict[str, Any] = field(default_factory=dict)
    operators: tuple[str, ...] = ()
    formula: tuple[str, ...] = ()
    sympy_name: str | None = None
    printer: dict[str, Any] | None = None
    infix: str | None = None
    partials: tuple[Any, ...] = ()
    samples: tuple[Any, ...] = ()
    generate: bool | tuple[Domain, ...] = False
    composite: Callable[..., Any] | None = None
    continuation: Callable[..., Any] | None = None
    staircase: Any = None
    staircase_edge: float = 0.0
    namespace: str = ""
    doc: str = ""
    derivative_text: str = ""
    function: Callable[..., Any] | None = None  # the dnp function (numpy's signature)
    fast_for: Any = None  # the vjp tuple that vjp_numpy / vjp_into implement
    batched_for: Any = None  # the jvp tuple that jvp_batched vouches for

    _reads: dict[tuple[int, ...], tuple[frozenset[int] | None, bool]] = field(
        default_factory=dict, repr=False)

    fast_vjp: Callable[..., Any] | None = field(default=None, repr=False)
    """``vjp_numpy`` while it stands for ``vjp`` (see :attr:`fast_rules`), else None: what the
    tape's sweep reads, one attribute instead of three (kept by ``__setattr__``)."""
    fast_into: Callable[..., Any] | None = field(default=None, repr=False)
    """``vjp_into`` likewise."""

    def __post_init__(self) -> None:
        self.fast_for = self.vjp
        self.batched_for = self.jvp

    revision: ClassVar[int] = 0
    """Counts assignments to any primitive's rules (``vjp``, ``jvp``, ``numeric``,
    ``vjp_into``): code written from the rules (:mod:`diffkit.codegen`) knows in one
    comparison whether a stanza was refined, or a rule planted by a test, since."""

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _RULE_FIELDS:
            Primitive.revision += 1
        if name in _FAST_FIELDS:
            fast = getattr(self, "vjp", None) is getattr(self, "fast_for", None)
            object.__setattr__(self, "fast_vjp",
                               getattr(self, "vjp_numpy", None) if fast else None)
            object.__setattr__(self, "fast_into",
                               getattr(self, "vjp_into", None) if fast else None)

    def reads(self, positions: tuple[int, ...]) -> tuple[frozenset[int] | None, bool]:
        """``(arguments, ans)`` the VJPs of the arguments at ``positions`` read, from
        ``saves`` (``None`` arguments: all of them)."""
        got = self._reads.get(positions)
        if got is None:
            saves = self.saves
            if saves is None:
                got = (None, True)
            else:
                per_arg = bool(saves) and isinstance(saves[0], tuple)
                need = set()
                for k in positions:
                    need.update(saves[k] if per_arg and k < len(saves) else
                                (() if per_arg else saves))
                got = (frozenset(need - {-1}), -1 in need)
            self._reads[positions] = got
        return got

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    @property
    def fast_rules(self) -> bool:
        """Whether ``vjp_numpy``/``vjp_into`` still stand for ``vjp``: replacing ``vjp`` (a
        test planting a wrong rule, a user refining a stanza) turns the fast rules off, so
        every path computes with the rule in ``vjp``."""
        return self.vjp is self.fast_for

    @property
    def batched_jvp(self) -> bool:
        """Whether the ``jvp`` rules take a batch of tangents (``jvp_batched``) — only while
        they are the rules the stanza declared so: a replaced ``jvp`` (a planted rule, a user's
        refinement) runs once per direction, so no rule meets a shape it was not written for."""
        return self.jvp_batched and self.jvp is self.batched_for

    @property
    def qualname(self) -> str:
        """numpy's full name for users (``numpy.linalg.solve``, ``scipy.special.erf``)."""
        if self.numpy:
            return f"numpy.{self.numpy[0]}"
        if self.scipy:
            return f"scipy.{self.scipy[0]}"
        return f"dnp.{self.name}"

    def vjp_rule(self, i: int) -> Callable[..., Any] | None:
        """The VJP of positional argument ``i`` (``None``: not differentiable there)."""
        return _rule(self, self.vjp, i, "vjp")

    def jvp_rule(self, i: int) -> Callable[..., Any] | None:
        """The JVP of positional argument ``i`` (``None``: not differentiable there)."""
        return _rule(self, self.jvp, i, "jvp")

    def __call__(self, *args: Any, **params: Any) -> Any:
        return bind(self, args, params)

    def evaluate(self, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        """Run the numeric interpretation, turning a floating-point trap into DomainError."""
        try:
            return self.numeric(*args, **params)
        except FloatingPointError:
            raise domain_error(self, args) from None


_RULE_FIELDS = frozenset({"vjp", "jvp", "numeric", "vjp_into", "vjp_numpy"})
_FAST_FIELDS = frozenset({"vjp", "vjp_into", "vjp_numpy", "fast_for"})


def _rule(prim: Primitive, rules: Any, i: int, kind: str) -> Callable[..., Any] | None:
    if not prim.differentiable:
        return None
    if rules is None:
        raise UnsupportedPrimitiveError(
            f"{prim.qualname} has no {kind} rule, so this method cannot differentiate "
            f"through it; use a numerical method (e.g. method='richardson')"
        )
    if prim.variadic:  # one rule for every argument, taking the argument's index first
        rule = rules[0]
        return None if rule is None else functools.partial(rule, i)
    return rules[i] if i < len(rules) else None


REGISTRY: dict[str, Primitive] = {}
"""Every primitive by its ``dnp`` name; :mod:`diffkit.primitives` fills it."""

NUMPY_TO_PRIMITIVE: dict[Any, Primitive] = {}
"""numpy (and, once imported by the user, scipy) callables mapped to their primitive."""

_LAZY_ALIASES: dict[str, Primitive] = {}  # "scipy.special.erf" -> primitive, resolved on use
_resolved_modules: set[str] = set()


def _numpy_object(path: str) -> Any:
    obj: Any = np
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def register(prim: Primitive) -> Primitive:
    """Add ``prim`` to the registry and derive its aliases, operators and methods."""
    if prim.name in REGISTRY:
        raise ValueError(f"primitive {prim.name!r} registered twice")
    REGISTRY[prim.name] = prim
    for path in prim.numpy:
        obj = _numpy_object(path)
        if obj is None:
            continue
        if prim.ufunc is None:
            prim.ufunc = obj
        NUMPY_TO_PRIMITIVE.setdefault(obj, prim)
    for path in prim.scipy:
        _LAZY_ALIASES[f"scipy.{path}"] = prim
    for op in prim.operators:
        _install_operator(prim, op)
    for method, adapter in prim.methods.items():
        _install_method(prim, method, adapter)
    return prim


def resolve_lazy_aliases() -> bool:
    """Map the scipy functions of imported scipy modules to their primitives.

    scipy is never imported by diffkit to find them: a traced value can only meet
    ``scipy.special.erf`` after the user imported ``scipy.special``. Returns True when a new
    module was resolved.
    """
    new = False
    for path, prim in _LAZY_ALIASES.items():
        module_name, _, attr = path.rpartition(".")
        if module_name in _resolved_modules:
            continue
        module = sys.modules.get(module_name)
        if module is None:
            continue
        obj = getattr(module, attr, None)
        if obj is not None:
            NUMPY_TO_PRIMITIVE.setdefault(obj, prim)
            new = True
    for path in _LAZY_ALIASES:
        module_name = path.rpartition(".")[0]
        if module_name in sys.modules:
            _resolved_modules.add(module_name)
    return new


def _owner(path: str) -> tuple[Any, str] | None:
    """The object holding ``path``'s last attribute, through modules already imported only
    (``scipy.stats.norm.logpdf``: the ``scipy.stats.norm`` instance and ``"logpdf"``)."""
    parts = path.split(".")
    for k in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:k]))
        if module is None:
            continue
        obj: Any = module
        for part in parts[k:-1]:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj, parts[-1]
    return None


class library_routes:
    """While diffkit runs a function on traced values, scipy's Python-level functions with a
    stanza (``scipy.special.logsumexp``, ``softmax``, ``polygamma``,
    ``scipy.stats.norm.logpdf``...) reach it.

    Those functions are not numpy ufuncs: they convert their input with ``np.asarray``, which
    no tracer can survive. For the duration of the trace their module attribute is a wrapper
    that hands traced arguments to the ``dnp`` function and plain ones to scipy's own function
    unchanged, so any other code, in any thread, sees scipy's results; on exit the originals
    are back (a test pins it). A name imported before the trace (``from scipy.special import
    logsumexp``) is scipy's function itself and cannot be routed: its refusal says to call the
    ``dnp`` function. Reentrant and thread-safe; costs nothing when scipy is not imported.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        global _route_depth
        if "scipy" not in sys.modules:
            return
        with _ROUTE_LOCK:
            if _route_depth == 0:
                _install_routes()
            _route_depth += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._unroute()
        if exc_type is ValueError and isinstance(exc.__cause__, NotTraceableError):
            raise _written_into_array(exc) from None

    @staticmethod
    def _unroute() -> None:
        global _route_depth
        if "scipy" not in sys.modules or _route_depth == 0:
            return
        with _ROUTE_LOCK:
            _route_depth -= 1
            if _route_depth == 0:
                for owner, attr, original, _, module in reversed(_installed):
                    if module:
                        owner.__dict__[attr] = original
                    else:  # an instance attribute shadowing the class's method: remove it
                        owner.__dict__.pop(attr, None)
                _installed[:] = ()


def _written_into_array(exc: ValueError) -> NotTraceableError:
    """A traced value's refusal that numpy wrapped: ``out[i] = value`` on a plain float array
    converts ``value`` with ``float()``, and numpy reports the refusal as ``ValueError:
    setting an array element with a sequence`` (a tracer looks like a sequence to it)."""
    return NotTraceableError(
        f"a traced value was written into a plain numpy array (out[i] = value, or np.array / "
        f"np.asarray of a list holding traced values; numpy said {str(exc)!r}): numpy "
        f"converts it to a float, and no derivative passes through that. Build the array from "
        f"the traced values instead: dnp.stack([...]) of the entries, or "
        f"x = dnp.index_update(x, i, value) for one entry ({exc.__cause__})")


ROUTED: set[Primitive] = set()
"""Primitives that :class:`library_routes` has routed a scipy Python function to (the complex
step traces every call of a spec using one: plain calls would run scipy's own function)."""
_ROUTE_LOCK = threading.Lock()
_route_depth = 0
_installed: list[tuple[Any, str, Any, Any, bool]] = []  # the plan entries now installed


def _routed(prim: Primitive, original: Any) -> Any:
    def route(*args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, Tracer) for a in args) or any(
                isinstance(v, Tracer) for v in kwargs.values()):
            return prim.function(*args, **kwargs)
        return original(*args, **kwargs)

    route.__wrapped__ = original  # type: ignore[attr-defined]
    route.__name__ = getattr(original, "__name__", prim.name)
    route.__doc__ = getattr(original, "__doc__", None)
    return route


_PLAN: list[tuple[Any, str, Any, Any, bool]] = []  # owner, attr, original, route, a module
_plan_key = -1  # len(sys.modules) when _PLAN was made: an import may add owners


def _route_plan() -> list[tuple[Any, str, Any, Any, bool]]:
    """What :class:`library_routes` installs: resolved and wrapped once, made again when a
    module has been imported since or an attribute no longer holds the function it wrapped
    (resolving and wrapping on every recording cost 39 us with scipy imported)."""
    global _plan_key
    if _plan_key == len(sys.modules):
        for owner, attr, original, _, module in _PLAN:  # (a loop: all() over a generator
            held = owner.__dict__                       # cost twice as much)
            if module:
                if held.get(attr) is not original:
                    break
            elif attr in held or getattr(owner.__class__, attr, None) is not getattr(
                    original, "__func__", None):  # an instance's bound method: its class
                break  # still holds the function, and no instance attribute shadows it
        else:
            return _PLAN
    plan = []
    for path, prim in _LAZY_ALIASES.items():
        found = _owner(path)
        if found is None:
            continue
        owner, attr = found
        original = getattr(owner, attr, None)
        if original is None or isinstance(original, np.ufunc):
            continue  # ufuncs reach the registry through __array_ufunc__ already
        plan.append((owner, attr, original, _routed(prim, original),
                     isinstance(owner, type(sys))))
        ROUTED.add(prim)
    _PLAN[:] = plan
    _plan_key = len(sys.modules)
    return _PLAN


def _install_routes() -> None:
    plan = _route_plan()
    for owner, attr, _, route, _ in plan:  # (into the module's or the instance's dict: what
        owner.__dict__[attr] = route  # setattr does for both, at a third of its cost)
    _installed[:] = plan


def lookup(func: Any) -> Primitive | None:
    """The primitive standing for a numpy or scipy callable, or None."""
    prim = NUMPY_TO_PRIMITIVE.get(func)
    if prim is None and resolve_lazy_aliases():
        prim = NUMPY_TO_PRIMITIVE.get(func)
    return prim


def _describe(value: Any) -> str:
    if isinstance(value, Tracer):
        value = value._value
    try:
        arr = np.asarray(value)
    except Exception:  # an object numpy cannot hold
        return type(value).__name__
    if arr.ndim == 0:
        text = repr(arr.item())
        return text if len(text) <= 40 else f"{text[:12]}... ({len(text)} characters)"
    return f"array of shape {arr.shape}"


def _overflows(prim: Primitive, args: tuple[Any, ...]) -> bool:
    """Whether ``prim`` at ``args`` -- finite, inside its domain -- gives an infinity: an
    overflow (``power(1e300, 2)``, ``exp(710)``), not a point outside the domain."""
    if not prim.elementwise:  # logabsdet of a singular matrix: its domain, not a float range
        return False
    vals = tuple(np.asarray(a._value if isinstance(a, Tracer) else a) for a in args)
    if not vals or any(v.dtype.kind not in "biuf" or not np.all(np.isfinite(v)) or
                       np.any(v == 0) for v in vals):  # 1 / 0, 0 ** -1: a pole
        return False
    dom = prim.domain
    if dom is not None and (dom.poles or (dom.lo is None and dom.hi is None)):
        return False  # gammaln at -1: a pole its interval test does not see
    if dom is not None and not (dom.integer_exponent_only and len(vals) == 2
                                and np.all(vals[1] % 1 == 0)) and \
            not np.all(dom.contains(vals[0])):
        return False
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(prim.evaluate(vals, {}))
    except Exception:  # a primitive with parameters: no verdict
        return False
    return out.dtype.kind in "fc" and bool(np.any(np.isinf(out))) and \
        not bool(np.any(np.isnan(out)))


def innermost(x: Any) -> Any:
    """The value inside every layer of tracing: a plain number or array (sympy values under a
    symbolic trace)."""
    while isinstance(x, Tracer):
        x = x._value
    return x


def is_complex(value: Any) -> bool:
    """Whether ``value`` is a complex array or number (the result of a primitive)."""
    if value.__class__ is np.ndarray:
        return value.dtype.kind == "c"
    return value.__class__ is complex or isinstance(value, np.complexfloating)


def complex_intermediate(prim: Primitive) -> NotTraceableError:
    """The refusal of a complex value computed from a traced one, by an AD interpreter.

    The registry's rules are those of real arguments (``abs``' derivative is ``sign(x)``,
    ``imag`` has none): followed through complex intermediates they would return a wrong
    derivative without a word (d|x e^{ix}|/dx came out -0.52 for 1). ``method="auto"``
    falls back to Richardson extrapolation, which only evaluates f.
    """
    return NotTraceableError(
        f"{prim.name} made a complex value from the traced point: diffkit's AD methods "
        f"differentiate real functions through real values (the rules of abs, imag, conj, "
        f"angle are those of real arguments), so following it would give a wrong derivative; "
        f"write the complex arithmetic with real numbers (|z| as np.hypot(re, im)), or use "
        f"method='central-difference' or 'richardson' (method='auto' falls back to it)")


def domain_error(prim: Primitive, args: tuple[Any, ...]) -> DomainError:
    """The DomainError for ``prim`` evaluated at ``args`` outside its domain."""
    where = ", ".join(_describe(a) for a in args)
    bad = ""
    if prim.domain is not None and args:
        arr = np.asarray(args[0]._value if isinstance(args[0], Tracer) else args[0])
        if arr.ndim > 0 and arr.dtype.kind in "biuf":
            outside = ~prim.domain.contains(arr)
            if outside.any():
                idx = tuple(int(i) for i in np.argwhere(outside)[0])
                bad = f"; first offending element x{list(idx)} = {arr[idx].item()!r}"
    rule = f" requires {prim.domain.text}" if prim.domain is not None else " is not finite there"
    if not bad and _overflows(prim, args):
        return DomainError(
            f"{prim.name}({where}) overflows: its arguments are finite and inside its domain, "
            f"but the result is beyond the largest float (1.8e308); evaluate the function at "
            f"a smaller |x|, or rescale it (work with logarithms)"
        )
    return DomainError(
        f"{prim.name}({where}): outside its domain, {prim.name}{rule}{bad}; "
        f"evaluate the function at a point inside the domain"
    )


class _FloatingPointEvents:
    """numpy's floating-point error callback during diffkit's evaluations: it only counts.

    A warning inside ``f`` is not an error by itself (``np.where(x > 0, np.sqrt(x), 0.0)``
    computes, and discards, ``sqrt`` of negative entries): what counts is the value ``f``
    returns. Traces compare :attr:`count` before and after a primitive to know which records
    met a non-finite value (the reverse sweep then lets a zero cotangent annihilate an
    infinite partial: 0 * inf is 0 for a discarded entry).
    """

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, kind: str, flag: int) -> None:
        self.count += 1


FP_EVENTS = _FloatingPointEvents()
_STATE = threading.local()


class checked_evaluation:
    """Context in which diffkit evaluates a spec: numpy's floating-point errors are counted
    (:data:`FP_EVENTS`), neither raised nor printed.

    A primitive evaluated outside its domain returns NaN or an infinity as numpy does; the
    value the function returns decides (:func:`diffkit.spec.check_output` raises a
    :class:`DomainError` naming the primitive when it is not finite). Reentrant; plain ``dnp``
    calls outside it behave exactly like numpy.
    """

    __slots__ = ("_errstate",)

    def __init__(self) -> None:
        self._errstate: Any = None

    def __enter__(self) -> None:
        self._errstate = np.errstate(all="call", call=FP_EVENTS)
        self._errstate.__enter__()
        _STATE.depth = getattr(_STATE, "depth", 0) + 1

    def __exit__(self, *exc: Any) -> None:
        _STATE.depth -= 1
        self._errstate.__exit__(*exc)


@np.errstate(all="call", call=FP_EVENTS)  # (the decorator form: no context object per call)
def checked_call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` inside :class:`checked_evaluation`, at half the cost of the
    ``with`` statement (for the hot entry points)."""
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    try:
        return fn(*args)
    finally:
        _STATE.depth -= 1


def evaluating() -> bool:
    """Whether this thread is inside :class:`checked_evaluation` (cheap: no numpy call)."""
    return getattr(_STATE, "depth", 0) > 0


def located_domain_error(fn: Any, args: tuple[Any, ...], what: str = "value"
                         ) -> DomainError | None:
    """Where ``fn(*args)`` left the domain of one of its primitives, as a :class:`DomainError`
    naming the primitive and the offending element; None when no primitive did.

    ``fn`` runs once more on :class:`_Locator` values, which evaluate every primitive without
    traps and follow each non-finite entry back to the primitive that made it from finite
    arguments — so an entry that ``np.where`` discarded is never blamed, and the one the
    output kept is. With ``what="derivative"`` the culprit is instead the first primitive
    applied outside the domain of its derivative (``sqrt`` at 0). Code diffkit cannot trace
    falls back to a plain run with numpy's traps on (the first invalid operation).
    """
    trace = _LocatorTrace()
    boxed = tuple(_Located(trace, a, None) for a in args)
    try:
        with np.errstate(all="ignore"), library_routes():
            out = fn(*boxed)
    except DiffkitError:
        out = None
    except Exception:  # the user's own code failed on the locator: try the plain way below
        out = None
    if out is None:
        if what != "value":
            return None
        with np.errstate(invalid="raise", divide="raise", over="ignore", under="ignore"):
            try:
                fn(*args)
            except DomainError as exc:
                return exc
            except FloatingPointError as exc:
                return DomainError(f"{exc} (numpy); the point is outside the function's "
                                   f"domain; choose a point inside it")
        return None
    if what == "derivative":
        for prim, vals in trace.applications:
            dom = prim.derivative_domain
            if dom is None or not vals or (dom.integer_exponent_only and (
                    len(vals) < 2 or np.all(np.asarray(vals[1]) % 1 == 0))):
                continue
            first = np.asarray(vals[0])
            if first.dtype.kind in "biuf" and not np.all(dom.contains(first)):
                shown = ", ".join(_describe(v) for v in vals)
                return DomainError(
                    f"{prim.name}({shown}) is defined but its derivative is not finite there "
                    f"({prim.name}'s derivative requires {dom.text}); differentiate at a point "
                    f"inside that domain")
        return None
    origin = out.origin if isinstance(out, _Located) else None
    return None if origin is None else domain_error(*origin)


# ----------------------------------------------------------------------------- traces

_level_counter = itertools.count(1)


class Trace:
    """An interpreter of primitives. Subclasses implement :meth:`process`.

    ``level`` orders nested traces: a trace started inside another gets a higher level, and
    :func:`bind` always hands a call to the highest level among its arguments.
    """

    __slots__ = ("level",)

    def __init__(self) -> None:
        self.level = next(_level_counter)

    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def to_bool(self, tracer: Tracer) -> bool:
        """``bool(tracer)``: AD traces branch on the value; symbolic traces refuse."""
        raise NotTraceableError(f"bool() of a traced value {tracer!r} is not defined")

    def to_float(self, tracer: Tracer, kind: str) -> Any:
        raise NotTraceableError(
            f"{kind}() was called on a traced value {tracer!r}; a derivative cannot pass "
            f"through a conversion to a Python number (math.*, float(), int()). Write the "
            f"function with numpy or diffkit.numpy (np.sin, np.exp, ...), not math"
        )


def holds_tracer(a: Any) -> bool:
    """A list or tuple with traced values inside (``np.mean([x, x + 2])``), at any depth."""
    if a.__class__ not in (list, tuple):
        return False
    return any(isinstance(e, Tracer) or holds_tracer(e) for e in a)


def as_operand(a: Any) -> Any:
    """A list or tuple of numbers as the array numpy makes of it (``w @ [1.0, 2.0]``), so a
    rule sees an array; anything else (a tracer, a list holding tracers) as it is."""
    if a.__class__ in (list, tuple) and not holds_tracer(a):
        return np.asarray(a)
    return a


def bind(prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """Apply ``prim`` to ``args``: numeric on plain values, else the innermost trace's rule."""
    top = None
    for a in args:
        if isinstance(a, Tracer):
            if top is None or a._trace.level > top._trace.level:
                top = a
    if top is None:
        return prim.evaluate(args, params)
    return top._trace.process(prim, args, params)


# ----------------------------------------------------------------------------- tracers


class Tracer:
    """A value inside a trace: python operators and numpy calls are routed to primitives.

    Subclasses set ``_trace`` and expose the underlying value through ``_value`` (for shape
    and dtype). They define ``__slots__``. Operators (``+``, ``<``, ``@``...) and ndarray
    methods (``.sum()``, ``.std()``...) are installed from the registry by :func:`register`.
    """

    __slots__ = ()
    __array_priority__ = 100.0
    _trace: Trace

    # --- what the value looks like
    @property
    def _value(self) -> Any:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self._value)

    @property
    def ndim(self) -> int:
        return np.ndim(self._value)

    @property
    def size(self) -> int:
        return int(np.size(self._value))

    @property
    def dtype(self) -> Any:
        return getattr(self._value, "dtype", np.dtype(type(self._value)))

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise NotTraceableError("len() of a traced scalar: it has no length (numpy "
                                    "raises TypeError for a 0-d array too)")
        return shape[0]

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(len(self)):
            yield self[i]

    def __pos__(self) -> Any:
        return self

    def __divmod__(self, other: Any) -> tuple[Any, Any]:
        return self // other, self % other  # (numpy's divmod: floor_divide and remainder)

    def __rdivmod__(self, other: Any) -> tuple[Any, Any]:
        return other // self, other % self

    def __format__(self, spec: str) -> str:
        # an f-string inside f (logging a value, f"{x[0]:.3f}"): the value, as numpy formats
        # it (no derivative passes through text)
        value = self._value
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            raise NotTraceableError(
                f"format(x, {spec!r}) of a traced value {self!r}: its value does not take that "
                f"format here; log it without a format spec (print(x)) or after the "
                f"derivative is taken") from None

    __hash__ = object.__hash__

    def __setitem__(self, index: Any, value: Any) -> None:
        raise NotTraceableError(
            f"in-place assignment x[{index!r}] = ... on a traced array: diffkit records a "
            f"program of pure operations and cannot follow mutation. Build a new array instead: "
            f"x = dnp.index_update(x, index, value) replaces x[index] (any numpy index), "
            f"dnp.where(mask, value, x) updates by a mask"
        )

    # --- conversions
    def __bool__(self) -> bool:
        return self._trace.to_bool(self)

    def __float__(self) -> float:
        return self._trace.to_float(self, "float")

    def __int__(self) -> int:
        return self._trace.to_float(self, "int")

    def __complex__(self) -> complex:
        return self._trace.to_float(self, "complex")

    def __index__(self) -> int:
        return self._trace.to_float(self, "int")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise NotTraceableError(_conversion_message(self))

    # --- numpy interop: np.sin(tracer), ndarray * tracer, np.sum(tracer)
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if ufunc is np.divmod and method == "__call__" and not kwargs and len(inputs) == 2:
            return np.floor_divide(*inputs), np.remainder(*inputs)  # its two outputs' stanzas
        prim = lookup(ufunc)
        if prim is None or method != "__call__":
            raise UnsupportedPrimitiveError(_unsupported_numpy(ufunc, method))
        out = kwargs.pop("out", None)
        if out is not None and any(o is not None for o in out):
            raise UnsupportedPrimitiveError(
                f"{prim.qualname}(..., out=...) on a traced value: diffkit cannot follow "
                f"writes into an existing array; assign the result instead (y = np.{ufunc.__name__}"
                f"(x))")
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise UnsupportedPrimitiveError(
                f"{prim.qualname} was called on a traced value with "
                f"{', '.join(f'{k}=' for k in kwargs)}, which diffkit does not record; "
                f"compute it without {next(iter(kwargs))}= (for a mask use np.where)")
        # a list or tuple of numbers is an array to a ufunc (``w @ [1.0, 2.0]``): as one here,
        # so every rule sees the array numpy would have made of it
        inputs = tuple(map(as_operand, inputs))
        result = call(prim, inputs, {})
        if dtype is not None:
            result = result.astype(dtype)
        return result

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        prim = lookup(func)
        if prim is None:
            if func in _SHAPE_QUERIES:  # metadata, no derivative: ask the underlying value
                return func(*(a._value if isinstance(a, Tracer) else a for a in args), **kwargs)
            raise UnsupportedPrimitiveError(_unsupported_numpy(func, "__call__"))
        return call(prim, args, kwargs)


def call(prim: Primitive, args: Any, kwargs: dict[str, Any], method: str | None = None) -> Any:
    """``prim``'s ``dnp`` function called the way numpy's was (``np.sum(x, axis=0)``,
    ``x.std(ddof=1)``); arguments its signature does not take are an
    :class:`UnsupportedPrimitiveError` naming the call, not a TypeError from inside diffkit."""
    fn = prim.function
    try:
        return fn(*args, **kwargs)
    except TypeError as exc:
        import inspect

        try:
            inspect.signature(fn).bind(*args, **kwargs)
        except TypeError:
            pass
        except ValueError:  # no signature to compare with: not ours to judge
            raise exc from None
        else:
            raise
        shown = ", ".join([*("x" if isinstance(a, Tracer) else _brief(a) for a in args),
                           *(f"{k}={_brief(v)}" for k, v in kwargs.items())])
        where = f"ndarray.{method}" if method else prim.qualname
        raise UnsupportedPrimitiveError(
            f"{where}({shown}) on a traced value: {exc}; diffkit records "
            f"{prim.qualname}{inspect.signature(fn)}") from None


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


# numpy functions that only read shape or dtype
_SHAPE_QUERIES = frozenset({np.shape, np.ndim, np.size, np.iscomplexobj, np.isrealobj,
                            np.result_type})

_REFLECTED = {"add", "sub", "mul", "truediv", "pow", "matmul", "mod", "floordiv", "and", "or",
              "xor"}
_COMPARISON_SWAP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


def _unsupported_attribute(name: str) -> property:
    """``x.name`` on a tracer, for an ndarray attribute no stanza stands for (``x.tolist()``,
    ``x.flags``): a DiffkitError that is an AttributeError too (``hasattr`` keeps working;
    auto falls back to Richardson)."""

    def refuse(self: Tracer) -> Any:
        raise UnsupportedAttributeError(
            f"x.{name} on a traced value: diffkit does not follow ndarray.{name} (no "
            f"derivative passes through it); write that line with numpy functions on the "
            f"value (np.any(x > 0) for x.any(), np.sum for x.sum()), or choose a method "
            f"that only evaluates f (method='richardson'; method='auto' falls back to it)")

    return property(refuse, doc=f"``ndarray.{name}``: not followed on a traced value.")


def _install_unsupported_attributes() -> None:
    """A refusing property for each public ndarray attribute :class:`Tracer` lacks.

    Properties, not ``Tracer.__getattr__``: a class with ``__getattr__`` takes CPython's
    slow attribute path on *every* lookup (no specialized slot access), which cost the tape
    a sixth of its recording instructions. The stanzas' methods, installed later by
    :func:`register`, replace these.
    """
    for name in dir(np.ndarray):
        if not name.startswith("_") and not hasattr(Tracer, name):
            setattr(Tracer, name, _unsupported_attribute(name))


_install_unsupported_attributes()


def _install_operator(prim: Primitive, op: str) -> None:
    """``Tracer.__<op>__`` (and the reflected ``__r<op>__``) calling ``prim``."""

    def forward(self: Tracer, *other: Any) -> Any:
        return prim.function(self, *other)  # type: ignore[misc]

    forward.__name__ = f"__{op}__"
    setattr(Tracer, forward.__name__, forward)
    if op in _REFLECTED:
        def reflected(self: Tracer, other: Any) -> Any:
            return prim.function(other, self)  # type: ignore[misc]

        reflected.__name__ = f"__r{op}__"
        setattr(Tracer, reflected.__name__, reflected)


def _install_method(prim: Primitive, name: str, adapter: Any) -> None:
    """The ndarray method ``name`` on every tracer, calling ``prim``'s ``dnp`` function."""
    if name == "T":  # the transpose attribute is a property
        Tracer.T = property(lambda self: adapter(self))
        return
    if isinstance(adapter, property):  # an ndarray attribute (x.real): the stanza's property
        setattr(Tracer, name, adapter)
        return

    def method(self: Tracer, *args: Any, **kwargs: Any) -> Any:
        if adapter is not None:
            try:
                return adapter(self, *args, **kwargs)
            except TypeError as exc:
                raise UnsupportedPrimitiveError(
                    f"ndarray.{name}(...) on a traced value: {exc}") from None
        return call(prim, (self, *args), kwargs, method=name)

    method.__name__ = name
    method.__doc__ = f"``ndarray.{name}`` on a traced value (:func:`diffkit.numpy.{prim.name}`)."
    setattr(Tracer, name, method)


def _conversion_message(tracer: Tracer) -> str:
    caller = _library_caller()
    if caller is not None:
        # every scipy alias is placed in dnp at its own path (dnp.stats.norm.logpdf)
        instead = (f"call dnp.{caller.removeprefix('scipy.')} (same arguments) instead. "
                   f"(diffkit routes {caller}(...) called through its module while it traces "
                   f"f; a name imported before, or a frozen distribution, is scipy's own "
                   f"function)"
                   if caller in _LAZY_ALIASES else
                   "express it with numpy functions diffkit knows (diffkit.numpy.__all__)")
        return (f"{caller} is not a numpy ufunc or array function, so diffkit cannot see "
                f"inside it: it converted the traced value {tracer!r} to a plain array and the "
                f"derivative would be lost; {instead}")
    return (
        f"numpy tried to convert a traced value {tracer!r} to a plain array (np.asarray, "
        f"np.array, float arrays or a function diffkit does not know); the derivative would "
        f"be lost. Use the numpy function of the same name on the traced value (np.stack, "
        f"np.concatenate to build arrays), or diffkit.numpy (import diffkit.numpy as dnp)"
    )


def _library_caller() -> str | None:
    """``scipy.special.logsumexp`` (``scipy.stats.norm.logpdf``) when the conversion happened
    inside that scipy function (distribution method)."""
    frame = sys._getframe(2)
    outer = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("scipy."):
            outer = frame
        elif outer is not None and not module.startswith(("numpy", "scipy")):
            break
        frame = frame.f_back
    if outer is None:
        return None
    name = outer.f_code.co_name
    module = outer.f_globals.get("__name__", "")
    public = module.split("._")[0]
    owner = outer.f_locals.get("self")  # a (frozen) scipy.stats distribution: its name
    dist = getattr(owner, "dist", owner)
    if public == "scipy.stats" and isinstance(getattr(dist, "name", None), str):
        public = f"{public}.{dist.name}"
    return f"{public}.{name}"


def _unsupported_numpy(func: Any, method: str) -> str:
    name = getattr(func, "__name__", repr(func))
    module = getattr(func, "__module__", None) or "numpy"
    if isinstance(func, np.ufunc) and module == "numpy":
        # scipy.special's ufuncs say they are numpy's: name the namespace users call
        special = sys.modules.get("scipy.special")
        module = "scipy.special" if getattr(special, name, None) is func else "numpy"
    module = module.split("._")[0] if module.startswith(("numpy", "scipy")) else module
    full = f"{module}.{name}" if method == "__call__" else f"{module}.{name}.{method}"
    if method != "__call__":
        return (f"{full} was called on a traced value; diffkit records plain calls of numpy "
                f"functions, not ufunc methods ({method}); use the function form (np.sum, "
                f"np.cumsum, np.max, ...)")
    return (
        f"{full} was called on a traced value and diffkit has no primitive for it, so its "
        f"derivative is unknown; express it with the functions listed by "
        f"diffkit.numpy.__all__, or compute it outside the differentiated function"
    )


# ----------------------------------------------------------------------------- locating


def _finite(v: Any) -> Any:
    try:
        return np.isfinite(v)
    except TypeError:  # not a number (a boolean mask, an object)
        return True


class _LocatorTrace:
    """The interpreter of :func:`located_domain_error` (see there)."""

    __slots__ = ("applications", "level")

    def __init__(self) -> None:
        self.level = next(_level_counter)
        self.applications: list[tuple[Primitive, tuple[Any, ...]]] = []

    def process(self, prim: Primitive, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        vals = tuple(a.value if isinstance(a, _Located) and a._trace is self else a
                     for a in args)
        out = bind(prim, vals, params)
        if not prim.differentiable:
            return out  # a comparison: a plain value, so branches follow it
        self.applications.append((prim, vals))
        origin = None
        bad = ~_finite(out)
        if np.any(bad):
            for a, v in zip(args, vals, strict=True):
                if isinstance(a, _Located) and a._trace is self and a.origin is not None:
                    try:
                        hit = np.any(np.broadcast_to(~_finite(v), np.shape(out))[bad])
                    except ValueError:  # shapes change (a reduction): trust any non-finite
                        hit = True
                    if hit:
                        origin = a.origin
                        break
            if origin is None and all(np.all(_finite(v)) for v in vals) and (
                    prim.domain is not None or np.any(np.isnan(out))):
                origin = (prim, vals)  # (an infinity from a primitive without a domain is an
                # overflow, not a domain error: exp(720))
        return _Located(self, out, origin)

    def to_bool(self, tracer: Tracer) -> bool:
        return bool(tracer._value)

    def to_float(self, tracer: Tracer, kind: str) -> Any:
        return {"float": float, "int": int, "complex": complex}[kind](tracer._value)


class _Located(Tracer):
    """A value with the primitive application its non-finite entries came from."""

    __slots__ = ("_trace", "origin", "value")

    def __init__(self, trace: Any, value: Any, origin: Any) -> None:
        self._trace = trace
        self.value = value
        self.origin = origin

    @property
    def _value(self) -> Any:
        return self.value
