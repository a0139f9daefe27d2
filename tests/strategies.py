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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

import diffkit.numpy as dnp
from diffkit.core import REGISTRY
from diffkit.spec import Function

# formula name -> registry primitive
UNARY = {
    "sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "log": "log", "log1p": "log1p",
    "expm1": "expm1", "sqrt": "sqrt", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh",
    "arctan": "arctan", "arcsin": "arcsin", "arccos": "arccos", "square": "square",
    "abs": "absolute", "neg": "negative",
}
BINARY = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "**": "power",
          "maximum": "maximum", "minimum": "minimum"}
NON_ANALYTIC = {"absolute", "maximum", "minimum"}

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
# textbook derivative of its primitive. Cross-checked against diffkit.analysis.reference.

def _mp_unary(name: str, a: Any, da: list[Any], aa: list[Any]
              ) -> tuple[Any, list[Any], list[Any]]:
    import mpmath as m

    table = {
        "sin": (m.sin, m.cos), "cos": (m.cos, lambda u: -m.sin(u)),
        "tan": (m.tan, lambda u: 1 / m.cos(u) ** 2), "exp": (m.exp, m.exp),
        "log": (m.log, lambda u: 1 / u), "log1p": (lambda u: m.log(1 + u), lambda u: 1 / (1 + u)),
        "expm1": (m.expm1, m.exp), "sqrt": (m.sqrt, lambda u: 1 / (2 * m.sqrt(u))),
        "tanh": (m.tanh, lambda u: 1 - m.tanh(u) ** 2), "sinh": (m.sinh, m.cosh),
        "cosh": (m.cosh, m.sinh), "arctan": (m.atan, lambda u: 1 / (1 + u * u)),
        "arcsin": (m.asin, lambda u: 1 / m.sqrt(1 - u * u)),
        "arccos": (m.acos, lambda u: -1 / m.sqrt(1 - u * u)),
        "square": (lambda u: u * u, lambda u: 2 * u), "abs": (abs, m.sign),
        "neg": (lambda u: -u, lambda u: -1),
    }
    f, df = table[name]
    d = df(a)
    return f(a), [d * t for t in da], [abs(d) * t for t in aa]


def _mp_binary(op: str, a: Any, da: list[Any], aa: list[Any], b: Any, db: list[Any],
               ab: list[Any]) -> tuple[Any, list[Any], list[Any]]:
    """Value, gradient, and the gradient's magnitude scale (the chain rule on |terms|)."""
    import mpmath as m

    if op in ("+", "-"):
        sign = 1 if op == "+" else -1
        return (a + sign * b, [s + sign * t for s, t in zip(da, db, strict=True)],
                [s + t for s, t in zip(aa, ab, strict=True)])
    if op == "*":
        return (a * b, [s * b + a * t for s, t in zip(da, db, strict=True)],
                [s * abs(b) + abs(a) * t for s, t in zip(aa, ab, strict=True)])
    if op == "/":
        return (a / b, [(s * b - a * t) / (b * b) for s, t in zip(da, db, strict=True)],
                [s / abs(b) + abs(a) * t / (b * b) for s, t in zip(aa, ab, strict=True)])
    if op == "**":
        value = a**b
        const_exp = all(t == 0 for t in db)
        ds = b * a ** (b - 1)
        dt = 0 if const_exp else value * m.log(a)
        return (value, [ds * s + dt * t for s, t in zip(da, db, strict=True)],
                [abs(ds) * s + abs(dt) * t for s, t in zip(aa, ab, strict=True)])
    if op == "maximum":
        return (a, da, aa) if a > b else (b, db, ab)
    if op == "minimum":
        return (a, da, aa) if a < b else (b, db, ab)
    raise ValueError(op)


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


def _unary(name: str, a: Node) -> Node:
    prim = REGISTRY[UNARY[name]]
    with np.errstate(all="ignore"):
        value = float(prim.numeric(a.value))
    fn = prim.function
    text = f"(-{a.text})" if name == "neg" else f"{name}({a.text})"
    return Node(text, value, lambda env: fn(a.fn(env)), a.prims | {prim.name},
                lambda env: _mp_unary(name, *a.mp(env)))


def _binary(op: str, a: Node, b: Node) -> Node:
    prim = REGISTRY[BINARY[op]]
    with np.errstate(all="ignore"):
        value = float(prim.numeric(a.value, b.value))
    fn = prim.function
    text = f"{op}({a.text}, {b.text})" if op.isalpha() else f"({a.text} {op} {b.text})"
    return Node(text, value, lambda env: fn(a.fn(env), b.fn(env)), a.prims | b.prims |
                {prim.name}, lambda env: _mp_binary(op, *a.mp(env), *b.mp(env)))


def _shift(a: Node, target: float) -> Node:
    """``a + c`` with a short decimal ``c`` moving the value to at least ``target``."""
    c = math.ceil((target - a.value) * 4) / 4 + 0.25
    return _binary("+", a, _const(c))


def _squash(a: Node) -> Node:
    """Keep magnitudes moderate: ``arctan`` of a large value (smooth, bounded)."""
    if abs(a.value) <= LIMIT:
        return a
    return _unary("arctan", a)


def _prepare_unary(name: str, a: Node) -> Node:
    """Move ``a`` inside the domain of ``name`` (with a margin), away from kinks and poles."""
    dom = REGISTRY[UNARY[name]].domain
    v = a.value
    if name in ("log", "sqrt") and v < 0.5:
        return _shift(a, 0.5)
    if name == "log1p" and v < -0.5:
        return _shift(a, -0.5)
    # squashing uses arctan (derivative 1/(1+v**2)), not tanh, which saturates to a zero
    # derivative in float64 while the exact one is tiny but not zero
    if name in ("arcsin", "arccos") and dom is not None and not (abs(v) < 1 - 3 * MARGIN):
        return _binary("*", _unary("arctan", a), _const(0.5))
    if name == "tan" and abs(math.cos(v)) < 0.3:
        return _binary("*", _unary("arctan", a), _const(0.5))
    if name in ("exp", "expm1", "sinh", "cosh", "tanh") and abs(v) > 3:
        return _binary("*", _unary("arctan", a), _const(2.0))
    if name == "abs" and abs(v) < MARGIN:
        return _shift(a, 0.5)
    return a


def _prepare_binary(op: str, a: Node, b: Node) -> tuple[Node, Node]:
    if op == "/" and abs(b.value) < 0.3:
        b = _binary("+", b, _const(1.0 if b.value >= 0 else -1.0))
    if op == "**":
        if a.value < 0.5:
            a = _shift(a, 0.5)
        if abs(b.value) > 3:  # exponent in (-3, 3): keeps a**b moderate
            b = _binary("*", _unary("arctan", b), _const(1.5))
    if op in ("maximum", "minimum") and abs(a.value - b.value) < MARGIN:
        b = _binary("+", b, _const(0.5))
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
        return _squash(_unary(name, _prepare_unary(name, a)))
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
    # every variable takes part, so the gradient has no structurally missing entry
    for v in variables:
        if v not in _names(root.text):
            leaf = _var(v, values[v], variables.index(v))
            root = _binary("+", root, _binary("*", _const(0.5), leaf))

    def python(*args: Any) -> Any:
        return root.fn(dict(zip(variables, args, strict=True)))

    python.__name__ = "program"
    return RandomProgram(root.text, variables, point, python, root.prims, root.mp)


def _names(text: str) -> set[str]:
    import re

    return set(re.findall(r"\bx\d+\b", text))


__all__ = ["BINARY", "NON_ANALYTIC", "UNARY", "RandomProgram", "dnp", "programs"]
