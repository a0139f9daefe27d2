"""Hypothesis strategies: random programs over the registry's primitives, inside their domains.

A drawn :class:`RandomProgram` is one expression over the elementwise and arithmetic
primitives of :data:`diffkit.core.REGISTRY`, at a drawn point, in two forms: formula text for
:meth:`diffkit.Function.from_expr` and a ``diffkit.numpy`` Python function built from the same
tree. Programs are built bottom up with every intermediate value known at the point, so each
primitive is applied inside its domain (``prim.domain``) with a margin, away from kinks (abs,
maximum, minimum) and poles (tan, divide), and with moderate magnitudes: every method should
then agree with the exact reference within its tolerance.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

import diffkit.numpy as dnp
from diffkit.core import REGISTRY
from diffkit.spec import Function


def _drawable() -> tuple[dict[str, str], dict[str, str]]:
    """Formula name -> primitive for every stanza with ``generate``: one argument, or two."""
    unary, binary = {}, {}
    for prim in REGISTRY.values():
        if not prim.generate:
            continue
        if prim.nargs == 1:
            key = f"{prim.infix}" if prim.infix else prim.formula[0]
            unary[key] = prim.name
        elif prim.nargs == 2:
            binary[prim.infix or prim.formula[0]] = prim.name
    return unary, binary


# formula name (or operator) -> registry primitive, derived from the stanzas' ``generate``
UNARY, BINARY = _drawable()
NON_ANALYTIC = frozenset(name for name in (*UNARY.values(), *BINARY.values())
                         if not REGISTRY[name].analytic)

MARGIN = 0.05
"""Smallest distance of an argument from a domain edge or a kink."""

LIMIT = 20.0
"""Largest magnitude of any intermediate value (larger ones are squashed by arctan)."""


@dataclass(frozen=True)
class Node:
    text: str
    value: float
    fn: Callable[[dict[str, Any]], Any]
    prims: frozenset[str]
    mp: Callable[[dict[str, Any]], tuple[Any, list[Any], list[Any]]]  # (value, gradient) in mpmath


# ---------------------------------------------------------------- mpmath reference (chain rule)
# An independent high-precision reference: each node's value and gradient in mpmath, by the
# chain rule with the primitive's own derivative taken by sympy from its symbolic form (never
# from its vjp/jvp rules). Cross-checked against diffkit.reference.


@functools.cache
def _mp_rules(name: str) -> tuple[Callable[..., Any], tuple[Callable[..., Any], ...]]:
    """The primitive's value and partial derivatives as mpmath functions (sympy, lambdified)."""
    import sympy

    prim = REGISTRY[name]
    syms = sympy.symbols(f"u0:{prim.nargs}", real=True)
    expr = prim.symbolic(*syms)
    partials = [sympy.diff(expr, s) for s in syms]
    space = ["mpmath", {"Heaviside": lambda x, h0=0.5: 0 if x < 0 else (1 if x > 0 else h0),
                        "sign": lambda x: (x > 0) - (x < 0)}]
    value = sympy.lambdify(syms, expr, modules=space)
    return value, tuple(sympy.lambdify(syms, d, modules=space) for d in partials)


def _mp_apply(name: str, *operands: tuple[Any, list[Any], list[Any]]
              ) -> tuple[Any, list[Any], list[Any]]:
    """Value, gradient, and the gradient's magnitude scale (the chain rule on |terms|)."""
    value_fn, partial_fns = _mp_rules(name)
    vals = [o[0] for o in operands]
    value = value_fn(*vals)
    n = len(operands[0][1])
    grad = [0] * n
    scale = [0] * n
    for (_, da, aa), dfn in zip(operands, partial_fns, strict=True):
        if not any(da) and not any(aa):  # a constant operand: its partial is not needed
            continue
        d = dfn(*vals)
        for j in range(n):
            grad[j] += d * da[j]
            scale[j] += abs(d) * aa[j]
    return value, grad, scale


@dataclass(frozen=True)
class RandomProgram:
    """A drawn program: formula text, a dnp function, the point, and what it uses."""

    text: str
    variables: tuple[str, ...]
    point: np.ndarray
    python: Callable[..., Any]
    primitives: frozenset[str]
    mp: Callable[[dict[str, Any]], tuple[Any, list[Any], list[Any]]] | None = None

    def reference(self, dps: int = 40) -> tuple[np.ndarray, np.ndarray]:
        """The gradient by the chain rule in mpmath at ``dps`` digits, and its scale.

        The scale is the same chain rule on absolute values (every path's contribution
        counted positively): rounding in float64 is relative to it, not to the gradient,
        when contributions cancel.
        """
        import mpmath

        if self.mp is None:
            raise ValueError("this program has no mpmath form; use exact_gradient")
        with mpmath.workdps(dps):
            env: dict[str, Any] = {v: mpmath.mpf(float(p)) for v, p in
                                   zip(self.variables, np.ravel(self.point), strict=True)}
            env["__n__"] = len(self.variables)
            _, grad, scale = self.mp(env)
            shape = np.shape(self.point)
            return (np.array([float(g) for g in grad]).reshape(shape),
                    np.array([float(g) for g in scale]).reshape(shape))

    def reference_gradient(self, dps: int = 40) -> np.ndarray:
        """The gradient by the chain rule in mpmath at ``dps`` digits (float64 at the end)."""
        return self.reference(dps)[0]

    @property
    def analytic(self) -> bool:
        """No abs/maximum/minimum: the complex step applies."""
        return not (self.primitives & NON_ANALYTIC)

    def spec(self) -> Function:
        """The formula form (exact reference available through sympy)."""
        return Function.from_expr(self.text, variables=list(self.variables))

    def python_spec(self) -> Function:
        """The ``diffkit.numpy`` Python form of the same program."""
        return Function(self.python, name=self.text, parameters=self.variables)

    def __repr__(self) -> str:
        return f"RandomProgram({self.text!r}, point={np.atleast_1d(self.point).tolist()!r})"


def _const(c: float) -> Node:
    def mp(env: dict[str, Any]) -> tuple[Any, list[Any]]:
        import mpmath

        zero = [mpmath.mpf(0)] * env["__n__"]
        return mpmath.mpf(repr(c)), zero, zero

    return Node(repr(c) if c >= 0 else f"({c!r})", c, lambda env, c=c: c, frozenset(), mp)


def _var(v: str, value: float, index: int) -> Node:
    def mp(env: dict[str, Any]) -> tuple[Any, list[Any]]:
        import mpmath

        grad = [mpmath.mpf(0)] * env["__n__"]
        grad[index] = mpmath.mpf(1)
        return env[v], grad, grad

    return Node(v, value, lambda env: env[v], frozenset(), mp)


def _unary(key: str, a: Node) -> Node:
    prim = REGISTRY[UNARY[key]]
    with np.errstate(all="ignore"):
        value = float(prim.numeric(a.value))
    fn = prim.function
    text = f"({prim.infix}{a.text})" if prim.infix else f"{key}({a.text})"
    return Node(text, value, lambda env: fn(a.fn(env)), a.prims | {prim.name},
                lambda env: _mp_apply(prim.name, a.mp(env)))


def _binary(op: str, a: Node, b: Node) -> Node:
    prim = REGISTRY[BINARY[op]]
    with np.errstate(all="ignore"):
        value = float(prim.numeric(a.value, b.value))
    fn = prim.function
    text = f"({a.text} {op} {b.text})" if prim.infix else f"{op}({a.text}, {b.text})"
    return Node(text, value, lambda env: fn(a.fn(env), b.fn(env)), a.prims | b.prims |
                {prim.name}, lambda env: _mp_apply(prim.name, a.mp(env), b.mp(env)))


def _shift(a: Node, target: float) -> Node:
    """``a + c`` with a short decimal ``c`` moving the value to at least ``target``."""
    c = math.ceil((target - a.value) * 4) / 4 + 0.25
    return _binary("+", a, _const(c))


def _scaled_arctan(a: Node, factor: float) -> Node:
    """``arctan(a) * factor``: smooth, bounded by ``factor * pi / 2``."""
    return _binary("*", _unary("arctan", a), _const(factor))


def _squash(a: Node) -> Node:
    """Keep magnitudes moderate: ``arctan`` of a large value (smooth, bounded)."""
    if abs(a.value) <= LIMIT:
        return a
    return _unary("arctan", a)


def _region(prim_name: str, k: int) -> Any:
    """The region argument ``k`` of a primitive is drawn from: its ``generate`` domains, or
    its ``domain`` for the first argument."""
    prim = REGISTRY[prim_name]
    if isinstance(prim.generate, tuple):
        return prim.generate[k] if k < len(prim.generate) else None
    return prim.domain if k == 0 else None


def _prepare(a: Node, dom: Any) -> Node:
    """Move ``a`` inside the region ``dom`` with a margin, away from its kinks and poles.

    Read from the stanza's Domain: squashing uses arctan (derivative 1/(1+v**2)), not tanh,
    which saturates to a zero derivative in float64 while the exact one is tiny but not zero.
    """
    if dom is None:
        return a
    v = a.value
    lo, hi = dom.lo, dom.hi
    if lo is not None and hi is not None:
        width = hi - lo
        if not (lo + 1.5 * MARGIN * width < v < hi - 1.5 * MARGIN * width):
            a = _binary("+", _scaled_arctan(a, width / 4), _const((lo + hi) / 2)) \
                if lo + hi else _scaled_arctan(a, width / 4)
        return a
    if lo is not None and v < lo + 0.5:
        return _shift(a, lo + 0.5)
    if hi is not None and v > hi - 0.5:
        return _binary("-", _const(hi - 0.5), _squash(_binary("*", a, a)))
    if dom.moderate is not None and abs(v) > dom.moderate:
        return _scaled_arctan(a, 2 * dom.moderate / math.pi)
    for pole in dom.poles:
        if dom.period is not None:  # poles repeat (tan): squash between two of them
            if abs((v - pole + dom.period / 2) % dom.period - dom.period / 2) < 0.3:
                half, center = dom.period / 2 - 0.3, pole - dom.period / 2
                a = _scaled_arctan(a, 2 * half / math.pi)
                return _binary("+", a, _const(center)) if center else a
        elif abs(v - pole) < 0.3:
            return _binary("+", a, _const(1.0 if v >= pole else -1.0))
    for kink in dom.kinks:
        if abs(v - kink) < MARGIN:
            return _shift(a, kink + 0.5)
    return a


def _prepare_binary(op: str, a: Node, b: Node) -> tuple[Node, Node]:
    name = BINARY[op]
    a = _prepare(a, _region(name, 0))
    b = _prepare(b, _region(name, 1))
    dom = REGISTRY[name].domain
    if dom is not None and dom.kinks and any(abs(a.value - b.value - k) < MARGIN
                                             for k in dom.kinks):
        b = _binary("+", b, _const(0.5))  # a kink where the arguments meet (max at a tie)
    return a, b


CONSTANTS = (-2.0, -0.5, 0.25, 0.5, 1.5, 2.0, 3.0)
EXPONENTS = (2.0, 3.0, 0.5, -1.0)
LEAF_SLOTS = 6  # a node is a variable with probability about 1/4 (shallower trees)


def _node(draw: st.DrawFn, variables: tuple[str, ...], values: dict[str, float], depth: int,
          unary: tuple[str, ...], binary: tuple[str, ...]) -> Node:
    """One node, drawn with one choice per node (a plain recursion: cheap to generate).

    The choice indexes ``[variable leaves..., constant, unary..., binary...]``, so shrinking
    moves towards leaves, then constants, then the first primitives of each list.
    """
    leaves = LEAF_SLOTS + 1
    top = leaves - 1 if depth == 0 else leaves + len(unary) + len(binary) - 1
    k = draw(st.integers(0, top))
    if k < LEAF_SLOTS:
        v = variables[k % len(variables)]
        return _var(v, values[v], variables.index(v))
    if k == LEAF_SLOTS:
        return _const(draw(st.sampled_from(CONSTANTS)))
    k -= leaves
    if k < len(unary):
        name = unary[k]
        a = _node(draw, variables, values, depth - 1, unary, binary)
        return _squash(_unary(name, _prepare(a, _region(UNARY[name], 0))))
    op = binary[k - len(unary)]
    a = _node(draw, variables, values, depth - 1, unary, binary)
    if op == "**" and draw(st.booleans()):
        b = _const(draw(st.sampled_from(EXPONENTS)))
    else:
        b = _node(draw, variables, values, depth - 1, unary, binary)
    a, b = _prepare_binary(op, a, b)
    return _squash(_binary(op, a, b))


@st.composite
def programs(draw: st.DrawFn, max_vars: int = 3, max_depth: int = 4,
             unary: tuple[str, ...] = tuple(UNARY), binary: tuple[str, ...] = tuple(BINARY),
             analytic: bool | None = None) -> RandomProgram:
    """Random programs over the registry, with a point inside every primitive's domain.

    Parameters
    ----------
    max_vars : int
        Up to this many variables ``x1, x2, ...``.
    max_depth : int
        Depth of the expression tree.
    unary, binary : tuple of str
        The primitives to draw from (formula names, see :data:`UNARY`, :data:`BINARY`).
    analytic : bool, optional
        ``True``: only complex-analytic programs (no abs/maximum/minimum).
    """
    if analytic:
        unary = tuple(u for u in unary if UNARY[u] not in NON_ANALYTIC)
        binary = tuple(b for b in binary if BINARY[b] not in NON_ANALYTIC)
    n = draw(st.integers(1, max_vars))
    variables = tuple(f"x{i + 1}" for i in range(n))
    point = np.array([draw(st.sampled_from([-1.7, -1.2, -0.8, -0.3, 0.2, 0.4, 0.7, 1.1, 1.6,
                                            2.3]))
                      + draw(st.integers(0, 99)) / 1000 for _ in variables])
    values = dict(zip(variables, point.tolist(), strict=True))
    if n == 1:  # a one-parameter function receives the whole point: make it a scalar
        point = point.reshape(())
    root = _node(draw, variables, values, max_depth, unary, binary)
    return _finished(root, variables, values, point, "program")


# ---------------------------------------------------------------- where-guarded programs
# The code people write to stay inside a domain: compute both branches and select,
# np.where(u > 0, np.sqrt(u), other). At the drawn point the guarded branch is taken or
# discarded; a discarded one is evaluated outside its primitive's domain (NaN, infinite
# partials) and must contribute exactly nothing.


def _guardable() -> dict[str, tuple[float, bool]]:
    """Unary stanzas bounded below by their domain: name -> (bound, strict)."""
    out = {}
    for prim in REGISTRY.values():
        dom = prim.domain
        if prim.nargs == 1 and prim.differentiable and dom is not None and dom.lo is not None \
                and dom.hi is None and prim.formula and not dom.integer_exponent_only:
            out[prim.name] = (dom.lo, dom.lo_open)
    return out


GUARDED = _guardable()


def _guarded(draw: st.DrawFn, u: Node, other: Node) -> Node:
    """``where(u > bound, prim(u), other)`` for a domain-bounded primitive: the branch
    taken at the point decides the value and the derivative (the reference's)."""
    name = draw(st.sampled_from(sorted(GUARDED)))
    bound, _ = GUARDED[name]
    if abs(u.value - bound) < 2 * MARGIN:  # away from the switch itself
        u = _binary("+", u, _const(0.5))
    prim, where = REGISTRY[name], REGISTRY["where"].function
    taken = u.value > bound
    with np.errstate(all="ignore"):
        value = float(prim.numeric(u.value)) if taken else other.value
    fn = prim.function

    def run(env: dict[str, Any]) -> Any:
        uv = u.fn(env)
        return where(uv > bound, fn(uv), other.fn(env))

    def mp(env: dict[str, Any]) -> Any:
        return _mp_apply(name, u.mp(env)) if taken else other.mp(env)

    text = f"where({u.text} > {bound!r}, {prim.formula[0]}({u.text}), {other.text})"
    return Node(text, value, run, u.prims | other.prims | {name, "where", "greater"}, mp)


@st.composite
def guarded_programs(draw: st.DrawFn, max_vars: int = 3, max_depth: int = 3) -> RandomProgram:
    """Random programs with ``np.where`` guards whose discarded branch is often outside its
    primitive's domain (a ``RandomProgram`` with only its Python form: formulas have no
    ``where``)."""
    n = draw(st.integers(1, max_vars))
    variables = tuple(f"x{i + 1}" for i in range(n))
    point = np.array([draw(st.sampled_from([-1.7, -1.2, -0.8, -0.3, 0.2, 0.4, 0.7, 1.1, 1.6,
                                            2.3]))
                      + draw(st.integers(0, 99)) / 1000 for _ in variables])
    values = dict(zip(variables, point.tolist(), strict=True))
    if n == 1:
        point = point.reshape(())
    unary = tuple(k for k in UNARY if k in ("sin", "cos", "exp", "tanh", "arctan", "-",
                                            "square"))
    binary = ("+", "-", "*")
    root = _guarded(draw, _node(draw, variables, values, max_depth, unary, binary),
                    _node(draw, variables, values, max_depth, unary, binary))
    if draw(st.booleans()):  # a second guard, nested in arithmetic
        root = _binary("*", root, _guarded(draw, _node(draw, variables, values, 2, unary,
                                                       binary), _const(0.5)))
    return _finished(root, variables, values, point, "guarded")


def _names(text: str) -> set[str]:
    import re

    return set(re.findall(r"\bx\d+\b", text))


__all__ = ["BINARY", "GUARDED", "NON_ANALYTIC", "UNARY", "RandomProgram", "dnp",
           "guarded_programs", "programs"]


def _finished(root: Any, variables: tuple[str, ...], values: dict[str, float], point: np.ndarray,
              name: str) -> RandomProgram:
    """``root`` as a :class:`RandomProgram`; every variable takes part, so the gradient has no
    structurally missing entry."""
    for v in variables:
        if v not in _names(root.text):
            leaf = _var(v, values[v], variables.index(v))
            root = _binary("+", root, _binary("*", _const(0.5), leaf))

    def python(*args: Any) -> Any:
        return root.fn(dict(zip(variables, args, strict=True)))

    python.__name__ = name
    return RandomProgram(root.text, variables, point, python, root.prims, root.mp)
