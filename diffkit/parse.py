"""Formula text to a program, safely: an ``ast`` whitelist, never ``eval`` or ``sympify``.

Accepted: names (variables; ``pi`` and ``e`` are constants unless listed as variables),
numbers, ``+ - * / **``, unary minus and plus, parentheses, and calls by name to the
formula functions below with positional arguments. Everything else (attributes, subscripts,
lambdas, comprehensions, keywords, strings, statements) is a :class:`ParseError` that gives
the position. Limits on length, node count, nesting depth and exponent size make hostile text
fail fast instead of exhausting memory.

A parsed :class:`Program` evaluates with :mod:`diffkit.numpy` (so every method interprets it)
and converts to sympy on request.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import primitives as P
from .core import domain_error
from .errors import ArityError, ParseError

__all__ = ["FORMULA_FUNCTIONS", "LIMITS", "Program", "parse", "program_from_sympy"]

LIMITS = {"length": 10_000, "nodes": 2_000, "depth": 64, "chain": 500, "exponent": 1_000,
          "number": 1e300}
"""Largest accepted text length, AST node count, bracket nesting depth, length of an operator
chain (``x1 + x2 + ...``, which nests in the syntax tree), |constant exponent| and |number|."""

_AST_INFIX = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def _formula_functions() -> dict[str, str]:
    """Formula name -> registry name, from the stanzas' ``formula`` fields (one or two
    real arguments only: what the parser can call)."""
    table = {}
    for prim in P.REGISTRY.values():
        if prim.nargs in (1, 2):
            for name in prim.formula:
                table.setdefault(name, prim.name)
    return table


FORMULA_FUNCTIONS: dict[str, str] = _formula_functions()
"""Names a formula may call, each mapped to its primitive (derived from the registry)."""
_CONSTANTS = {"pi": math.pi, "e": math.e}
_BINOPS = {cls: prim.name for cls, sym in _AST_INFIX.items() for prim in P.REGISTRY.values()
           if prim.infix == sym and prim.nargs == 2}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _err(text: str, node: ast.AST | None, msg: str) -> ParseError:
    if node is not None and hasattr(node, "col_offset"):
        col = node.col_offset
        return ParseError(f"formula {text!r}: {msg} at column {col + 1}\n  {text}\n  "
                          f"{' ' * col}^")
    return ParseError(f"formula {text!r}: {msg}")


def check_name(name: str, what: str = "variable") -> str:
    """A safe identifier: letters, digits, underscores; no leading digit; no dunders."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or "__" in name:
        raise ParseError(f"{what} name {name!r} is not allowed; use letters, digits and single "
                         f"underscores, e.g. x1")
    return name


class Program:
    """A validated formula: evaluates with ``dnp`` and converts to sympy.

    Attributes
    ----------
    text : str
        The source text (or ``str(expr)`` for programs built from sympy).
    variables : tuple of str
        Parameter names, in calling order.
    """

    def __init__(self, text: str, variables: tuple[str, ...],
                 compiled: Callable[[dict[str, Any]], Any],
                 to_sympy: Callable[[], Any]) -> None:
        self.text = text
        self.variables = variables
        self._compiled = compiled
        self._to_sympy = to_sympy
        self._sympy: Any = None

    def evaluate(self, *args: Any) -> Any:
        """The formula at the given values, one per variable (dnp: any interpretation)."""
        if len(args) != len(self.variables):
            raise ArityError(f"formula {self.text!r} takes {len(self.variables)} arguments "
                             f"({', '.join(self.variables)}), got {len(args)}; call it with "
                             f"one value per variable, or pass the point to dk.gradient")
        return self._compiled(args)  # closures read their variable by position

    def sympy(self) -> tuple[Any, tuple[Any, ...]]:
        """``(expr, symbols)``: the sympy expression and its symbols in variable order."""
        if self._sympy is None:
            self._sympy = self._to_sympy()
        return self._sympy

    def __repr__(self) -> str:
        return f"Program({self.text!r}, variables={self.variables})"


def parse(text: str, variables: Sequence[str] | None = None) -> Program:
    """Parse formula ``text`` into a :class:`Program`.

    Parameters
    ----------
    text : str
        E.g. ``"log(x1) + x1*x2 - sin(x2)"``.
    variables : sequence of str, optional
        Parameter order; defaults to the sorted free names.

    Raises
    ------
    ParseError
        Malformed, unsafe or too large text, with the position.

    Examples
    --------
    >>> p = parse("x**2 + sin(y)")
    >>> p.variables
    ('x', 'y')
    >>> float(p.evaluate(3.0, 0.0))
    9.0
    """
    if not isinstance(text, str):
        raise ParseError(f"formula must be a string, got {type(text).__name__} {text!r}")
    if len(text) > LIMITS["length"]:
        raise ParseError(f"formula is {len(text)} characters long; the limit is "
                         f"{LIMITS['length']}")
    if not text.strip():
        raise ParseError("formula is empty; write an expression such as 'sin(x) * y'")
    # Python's own parser recurses on nesting: bound it before calling ast.parse
    depth = best = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            best = max(best, depth)
        elif ch in ")]}":
            depth -= 1
    if best > LIMITS["depth"]:
        raise ParseError(f"formula {text[:40]!r}...: nesting depth {best} exceeds the limit "
                         f"{LIMITS['depth']}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = (exc.offset or 1) - 1
        raise ParseError(f"formula {text!r}: invalid syntax ({exc.msg}) at column {col + 1}\n"
                         f"  {text}\n  {' ' * col}^") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ParseError(f"formula {text[:40]!r}...: too deeply nested or malformed "
                         f"({type(exc).__name__})") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > LIMITS["nodes"]:
        raise ParseError(f"formula has {nodes} syntax nodes; the limit is {LIMITS['nodes']}")

    names: set[str] = set()
    fixed = tuple(check_name(v) for v in variables) if variables is not None else None
    if fixed is not None:
        _no_repeats(fixed, f"formula {text!r}")
    checker = _Checker(text, names, fixed)
    checker.visit_top(tree.body)
    if fixed is None:
        order = tuple(sorted(names))
    else:
        missing = sorted(names - set(fixed))
        if missing:
            raise ParseError(f"formula {text!r} uses {', '.join(missing)}, which "
                             f"variables={list(fixed)} does not list; add them")
        order = fixed
    if not order:
        raise ParseError(f"formula {text!r} has no variables; nothing to differentiate")
    consts = {k: v for k, v in _CONSTANTS.items() if k not in order}
    compiled = _compile(tree.body, consts, {v: i for i, v in enumerate(order)})

    def to_sympy() -> tuple[Any, tuple[Any, ...]]:
        import sympy

        symbols = tuple(sympy.Symbol(v, real=True) for v in order)
        env = dict(zip(order, symbols, strict=True))
        env.update({k: {"pi": sympy.pi, "e": sympy.E}[k] for k in consts})
        return _to_sympy(tree.body, env, text), symbols

    return Program(text, order, compiled, to_sympy)


class _Checker:
    """Walks the AST once, refusing everything outside the whitelist."""

    def __init__(self, text: str, names: set[str], fixed: tuple[str, ...] | None) -> None:
        self.text, self.names, self.fixed = text, names, fixed

    def visit_top(self, node: ast.AST) -> None:
        self.visit(node, 0)

    def visit(self, node: ast.AST, depth: int) -> None:
        if depth > LIMITS["chain"]:
            raise _err(self.text, node, f"expression nested deeper than {LIMITS['chain']}")
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise _err(self.text, node, f"operator {type(node.op).__name__} is not allowed; "
                           f"use + - * / **")
            self.visit(node.left, depth + 1)
            self.visit(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                exponent = _constant_value(node.right)
                if exponent is not None and abs(exponent) > LIMITS["exponent"]:
                    raise _err(self.text, node.right, f"exponent {exponent:g} exceeds the limit "
                               f"{LIMITS['exponent']}")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise _err(self.text, node, f"operator {type(node.op).__name__} is not allowed")
            self.visit(node.operand, depth + 1)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise _err(self.text, node, f"constant {node.value!r} is not a number")
            if abs(node.value) > LIMITS["number"]:
                raise _err(self.text, node, f"number {node.value!r} is too large")
        elif isinstance(node, ast.Name):
            name = check_name(node.id)
            if name in _CONSTANTS and (self.fixed is None or name not in self.fixed):
                return
            if name in FORMULA_FUNCTIONS:
                raise _err(self.text, node, f"{name} is a function; call it, e.g. {name}(x)")
            self.names.add(name)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise _err(self.text, node, "only calls of functions by name are allowed, "
                           "e.g. sin(x)")
            fname = node.func.id
            if fname not in FORMULA_FUNCTIONS:
                known = ", ".join(sorted(FORMULA_FUNCTIONS))
                raise _err(self.text, node, f"unknown function {fname!r}; known: {known}")
            if node.keywords:
                raise _err(self.text, node, f"{fname}(): keyword arguments are not allowed")
            prim = P.REGISTRY[FORMULA_FUNCTIONS[fname]]
            want = prim.nargs
            if len(node.args) != want:
                raise _err(self.text, node, f"{fname}() takes {want} argument(s), got "
                           f"{len(node.args)}")
            for a in node.args:
                if isinstance(a, ast.Starred):
                    raise _err(self.text, a, "*arguments are not allowed")
                self.visit(a, depth + 1)
        else:
            raise _err(self.text, node, f"{type(node).__name__} is not allowed in a formula "
                       f"(only numbers, names, + - * / **, and function calls)")


def _constant_value(node: ast.AST) -> float | None:
    """The value of a constant subtree (numbers and arithmetic only), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        v = _constant_value(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp):
        a, b = _constant_value(node.left), _constant_value(node.right)
        if a is None or b is None:
            return None
        try:
            if isinstance(node.op, ast.Pow):
                if abs(b) > LIMITS["exponent"]:
                    return b  # refused by the caller before anything large is computed
                return float(a) ** b if a >= 0 or b == int(b) else None
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) \
                if not isinstance(node.op, ast.Div) else (a / b if b else None)
        except OverflowError:
            return math.inf
    return None


_F64, _C128 = np.float64, np.complex128
_SCALARS = (np.float64, np.complex128)
_REAL = (float, int, np.float64)
_ANY = (float, int, np.float64, complex, np.complex128)
# numpy's scalar arithmetic for these, bitwise the ufunc's result and under the same error
# state, at a tenth of a ufunc call on scalars (0.2 us for 2.4): a formula evaluated at one
# point (every numerical method's inner loop) spends its time in arithmetic, not dispatch.
# Not power (its ufunc loop rounds differently from the scalar pow in about 1 case in 1000),
# and a complex product only by a real number (the complex-by-complex loop fuses multiply-
# adds). Arrays and tracers take the dnp function as before.
_SCALAR_OPS = {"+": (operator.add, True), "-": (operator.sub, True),
               "*": (operator.mul, False), "/": (operator.truediv, True)}


def _scalar_fast(x: Any, y: Any, complex_ok: bool) -> bool:
    """Whether ``op(x, y)`` may use numpy's scalar arithmetic instead of the ufunc."""
    tx, ty = x.__class__, y.__class__
    if tx is _F64:
        return ty in _REAL or (ty is _C128 and complex_ok)
    if ty is _F64:
        return tx in _REAL or (tx is _C128 and complex_ok)
    if tx is _C128:
        return ty in (_ANY if complex_ok else _REAL)
    return tx in (_ANY if complex_ok else _REAL)  # ty is _C128


def _scalar_binop(prim: Any, fn: Callable[[Any, Any], Any], left: Callable[..., Any],
                  right: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(left, right)``, on numpy scalars as numpy's scalar arithmetic (see _SCALAR_OPS)."""
    op, complex_ok = _SCALAR_OPS[prim.infix]

    def run(env: Any) -> Any:
        a, b = left(env), right(env)
        if (a.__class__ in _SCALARS or b.__class__ in _SCALARS) and _scalar_fast(a, b,
                                                                                  complex_ok):
            try:
                return op(a, b)
            except FloatingPointError:
                raise domain_error(prim, (a, b)) from None
        return fn(a, b)

    return run


def _compile(node: ast.AST, consts: dict[str, float], index: dict[str, int]
             ) -> Callable[[tuple[Any, ...]], Any]:
    """Closures that evaluate the checked AST with dnp primitives."""
    if isinstance(node, ast.BinOp):
        name = _BINOPS[type(node.op)]
        fn = P.REGISTRY[name].function
        left, right = _compile(node.left, consts, index), _compile(node.right, consts, index)
        if P.REGISTRY[name].infix in _SCALAR_OPS:
            return _scalar_binop(P.REGISTRY[name], fn, left, right)
        return lambda env: fn(left(env), right(env))
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, consts, index)
        if isinstance(node.op, ast.UAdd):
            return operand
        negative = P.ops.negative
        return lambda env: negative(operand(env))
    if isinstance(node, ast.Constant):
        value = float(node.value)
        return lambda env: value
    if isinstance(node, ast.Name):
        if node.id in consts:
            value = consts[node.id]
            return lambda env: value
        i = index[node.id]
        return lambda env: env[i]
    if isinstance(node, ast.Call):
        fn = P.REGISTRY[FORMULA_FUNCTIONS[node.func.id]].function  # type: ignore[attr-defined]
        args = [_compile(a, consts, index) for a in node.args]
        if len(args) == 1:
            (a0,) = args
            return lambda env: fn(a0(env))
        a0, a1 = args
        return lambda env: fn(a0(env), a1(env))
    raise AssertionError(f"unchecked node {node!r}")  # pragma: no cover


def _to_sympy(node: ast.AST, env: dict[str, Any], text: str) -> Any:
    import sympy

    if isinstance(node, ast.BinOp):
        a = _to_sympy(node.left, env, text)
        b = _to_sympy(node.right, env, text)
        if isinstance(node.op, ast.Pow) and b.is_number and abs(b) > LIMITS["exponent"]:
            raise _err(text, node.right, f"exponent {b} exceeds the limit {LIMITS['exponent']}")
        if isinstance(node.op, ast.Pow) and a.is_number and b.is_number and abs(a) > 1e6:
            raise _err(text, node, "constant power too large")
        return P.REGISTRY[_BINOPS[type(node.op)]].symbolic(a, b)
    if isinstance(node, ast.UnaryOp):
        a = _to_sympy(node.operand, env, text)
        return -a if isinstance(node.op, ast.USub) else a
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int):
            return sympy.Integer(node.value)
        return sympy.Rational(repr(node.value))  # the decimal the user wrote, exactly
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.Call):
        prim = P.REGISTRY[FORMULA_FUNCTIONS[node.func.id]]  # type: ignore[attr-defined]
        return prim.symbolic(*(_to_sympy(a, env, text) for a in node.args))
    raise AssertionError(f"unchecked node {node!r}")  # pragma: no cover


# ----------------------------------------------------------------------------- from sympy

_SYMPY_FUNCTIONS = {prim.sympy_name: prim.name for prim in P.REGISTRY.values()
                    if prim.sympy_name is not None}
"""sympy function class name -> registry name (derived from the stanzas' ``sympy_name``)."""


def _no_repeats(names: tuple[str, ...], what: str) -> None:
    """Each variable once: a name listed twice is two coordinates of which the formula reads
    one, the other's derivative silently 0."""
    seen: set[str] = set()
    twice = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if twice:
        raise ParseError(f"{what}: variables={list(names)} lists {twice[0]!r} twice; list each "
                         f"variable once (one per coordinate of the point)")


def program_from_sympy(expr: Any, variables: Sequence[Any]) -> Program:
    """A :class:`Program` that evaluates the sympy ``expr`` with ``dnp`` primitives.

    The expression's DAG is compiled once (shared subexpressions are evaluated once per call).
    """
    import sympy

    if not isinstance(expr, sympy.Basic):
        raise ParseError(f"from_sympy(expr): expr must be a sympy expression, got "
                         f"{type(expr).__name__}; for text use Function.from_expr")
    if isinstance(variables, (str, sympy.Basic)):  # one name or symbol: the one variable
        variables = [variables]
    by_name = {str(sym): sym for sym in expr.free_symbols}  # a name: the expression's symbol
    symbols = tuple(by_name.get(v, sympy.Symbol(v)) if isinstance(v, str) else v
                    for v in variables)
    names = tuple(check_name(str(s)) for s in symbols)
    _no_repeats(names, f"expression {expr}")
    free = expr.free_symbols - set(symbols)
    if free:
        same = sorted(str(f) for f in free if str(f) in names)
        clash = (f" (a symbol named {same[0]!r} is listed, with other assumptions: pass the "
                 f"expression's own symbol, or its name as a string)") if same else ""
        raise ParseError(f"expression {expr} has symbols {sorted(map(str, free))} that are "
                         f"not in variables={list(names)}; add them{clash}")
    index = {s: i for i, s in enumerate(symbols)}
    memo: dict[Any, Callable[[list[Any]], Any]] = {}

    def build(e: Any) -> Callable[[list[Any]], Any]:
        if e in memo:
            return memo[e]
        if e in index:
            i = index[e]
            fn = lambda vals: vals[i]
        elif e.is_number:
            value = float(e)
            fn = lambda vals: value
        elif isinstance(e, sympy.Add):
            parts = [build(a) for a in e.args]
            fn = lambda vals: _fold(P.ops.add, [p(vals) for p in parts])
        elif isinstance(e, sympy.Mul):
            parts = [build(a) for a in e.args]
            fn = lambda vals: _fold(P.ops.multiply, [p(vals) for p in parts])
        elif isinstance(e, sympy.Pow):
            base, ex = build(e.base), e.exp
            if ex == sympy.Rational(1, 2):
                fn = lambda vals: P.ops.sqrt(base(vals))
            elif ex.is_number:
                value = float(ex)
                if value == int(value):
                    value = int(value)
                fn = lambda vals: P.ops.power(base(vals), value)
            else:
                exf = build(ex)
                fn = lambda vals: P.ops.power(base(vals), exf(vals))
        elif type(e).__name__ in _SYMPY_FUNCTIONS and e.args:
            prim = P.REGISTRY[_SYMPY_FUNCTIONS[type(e).__name__]]
            prim_fn = prim.function
            parts = [build(a) for a in e.args]
            if prim.nargs == 2:  # Max(a, b, c): sympy's n-ary form of a binary primitive
                fn = lambda vals: _fold(prim_fn, [p(vals) for p in parts])
            elif len(parts) == 1:
                (p0,) = parts
                fn = lambda vals: prim_fn(p0(vals))
            else:
                raise ParseError(f"sympy expression {e} calls {type(e).__name__} with "
                                 f"{len(parts)} arguments; diffkit's {prim.name} takes one")
        else:
            raise ParseError(f"sympy expression contains {type(e).__name__} ({e}), which has no "
                             f"diffkit primitive; rewrite it with "
                             f"{', '.join(sorted(_SYMPY_FUNCTIONS))}")
        memo[e] = fn
        return fn

    compiled_root = build(expr)
    return Program(str(expr), names, compiled_root, lambda: (expr, symbols))


def _fold(fn: Callable[[Any, Any], Any], values: list[Any]) -> Any:
    out = values[0]
    for v in values[1:]:
        out = fn(out, v)
    return out
