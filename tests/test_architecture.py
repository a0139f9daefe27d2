"""Architecture: one home per rule, engines that read only stanzas, no import cycles."""

from __future__ import annotations

import ast
import collections
import pathlib
import re

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.core import REGISTRY

PACKAGE = pathlib.Path(dk.__file__).parent


# ----------------------------------------------------------------------------- planted rules

_PATHS = {
    # how user code reaches a primitive: operator, dnp call, plain numpy call, ndarray method
    "multiply": {
        "operator": lambda x: (x * (x + 1.0)).sum(),
        "dnp": lambda x: dnp.sum(dnp.multiply(x, x + 1.0)),
        "numpy": lambda x: np.sum(np.multiply(x, x + 1.0)),
        "numbers": lambda x: x[0] * x[1] + x[2] * x[3],  # (the tape's number lane)
    },
    "sin": {
        "dnp": lambda x: dnp.sum(dnp.sin(x)),
        "numpy": lambda x: np.sum(np.sin(x)),
    },
    "sum": {
        "dnp": lambda x: dnp.sum(x * x),
        "numpy": lambda x: np.sum(x * x),
        "method": lambda x: (x * x).sum(),
    },
    "getitem": {
        "operator": lambda x: np.sum(x[1:] * 2.0),
    },
}


@pytest.mark.parametrize(("name", "path"), [(n, p) for n, ps in _PATHS.items() for p in ps])
@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode"])
@pytest.mark.parametrize("n", [4, 20_000])  # small arrays, and above the stand-in threshold
def test_a_planted_wrong_rule_is_seen_by_every_path(name, path, method, n, monkeypatch):
    """Scale a stanza's rule by 1.001: every way of calling the primitive, through either
    engine (including the plain-numpy fast rules), computes with the planted rule."""
    fn = _PATHS[name][path]
    x = np.linspace(0.3, 1.1, n)
    right = dk.gradient(fn, x, method=method)
    prim = REGISTRY[name]
    field = "vjp" if method == "reverse-mode" else "jvp"
    rules = getattr(prim, field)
    planted = tuple(None if r is None else (lambda *a, r=r, **k: r(*a, **k) * 1.001)
                    for r in rules)
    monkeypatch.setattr(prim, field, planted)
    wrong = dk.gradient(fn, x, method=method)
    moved = right != 0  # (entries the primitive does not reach stay zero)
    assert moved.any()
    np.testing.assert_allclose(wrong[moved], right[moved] * 1.001, rtol=1e-12)
    np.testing.assert_array_equal(wrong[~moved], 0.0)


def test_fast_rules_are_off_once_the_rule_is_replaced(monkeypatch):
    prim = REGISTRY["multiply"]
    assert prim.fast_rules
    monkeypatch.setattr(prim, "vjp", tuple(list(prim.vjp)))  # an equal rule, a new tuple
    assert not prim.fast_rules


# ----------------------------------------------------------------------------- engines


ENGINES = ["methods/reverse.py", "methods/forward.py", "methods/symbolic.py", "trace.py",
           "display.py", "parse.py", "numpy.py", "core.py"]


@pytest.mark.parametrize("module", ENGINES)
def test_engines_name_no_primitive(module):
    """Derivative and display knowledge lives in the stanzas: an engine that refers to a
    primitive by name (``REGISTRY["add"]``, ``prim.name == "power"``) has a second home for a
    rule."""
    source = (PACKAGE / module).read_text()
    tree = ast.parse(source)
    named = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value in REGISTRY:
            named.add(node.value)
    # words that are also ordinary English in messages, or names of Python's operators
    # (operator.add, __getitem__): the protocol, not the primitive; "trace" is also diffkit's
    # own dk.trace, named in its call checks
    allowed = {"sum", "max", "min", "dot", "where", "sign", "exp", "log", "power", "stack",
               "add", "matmul", "getitem", "divide", "trace"}
    assert not (named - allowed), f"{module} names primitives {sorted(named - allowed)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                and node.value.id == "REGISTRY" and isinstance(node.slice, ast.Constant):
            raise AssertionError(f"{module} looks up REGISTRY[{node.slice.value!r}]")
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) \
                and node.left.attr == "name" and any(
                    isinstance(c, ast.Constant) and c.value in REGISTRY
                    for c in node.comparators):
            raise AssertionError(f"{module} compares a primitive's name with a constant")


# ----------------------------------------------------------------------------- imports

HEAVY = ("sympy", "matplotlib", "scipy", "mpmath", "tqdm")


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = ("diffkit", *p.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(mods: dict[str, pathlib.Path]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> diffkit modules and heavy libraries it imports, at top level and inside
    functions."""
    top: dict[str, set[str]] = collections.defaultdict(set)
    local: dict[str, set[str]] = collections.defaultdict(set)
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        body_nodes = set()
        for stmt in tree.body:
            for node in ast.walk(stmt):
                if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.If, ast.Try)):
                    body_nodes.add(node)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_package else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                submodules = [f"{target}.{a.name}" for a in node.names
                              if f"{target}.{a.name}" in mods]
                targets = submodules or [target]  # from pkg import submodule: the submodule
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t.startswith("diffkit") or t.split(".")[0] in HEAVY:
                    (top if node in body_nodes else local)[mod].add(t)
    return top, local


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return [*stack[stack.index(t):], t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def _edges_within(graph: dict[str, set[str]], mods: dict[str, pathlib.Path]
                  ) -> dict[str, set[str]]:
    """Edges between modules; importing ``diffkit.a.b`` also imports the package
    ``diffkit.a`` (unless the importer is inside it)."""
    out: dict[str, set[str]] = collections.defaultdict(set)
    for m, targets in graph.items():
        for t in targets:
            if t not in mods or t == m:
                continue
            parts = t.split(".")
            for k in range(2, len(parts) + 1):
                pkg = ".".join(parts[:k])
                if pkg in mods and pkg != m and not m.startswith(pkg + "."):
                    out[m].add(pkg)
    return out


def test_no_import_cycles():
    """Every import, at module level or inside a function, between diffkit's modules forms
    a DAG (a package importing its own submodules excepted)."""
    mods = _modules()
    top, local = _imports(mods)
    graph = _edges_within({m: top[m] | local[m] for m in mods}, mods)
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def _heavy(mods: dict[str, pathlib.Path], top: dict[str, set[str]],
           local: dict[str, set[str]]) -> set[str]:
    """Modules that use a heavy library (imported anywhere in them), directly or through the
    modules they import at module level."""
    heavy = {m for m in mods if any(t.split(".")[0] in HEAVY for t in top[m] | local[m])}
    changed = True
    while changed:
        changed = False
        for m in mods:
            if m not in heavy and any(t in heavy for t in top[m] if t in mods):
                heavy.add(m)
                changed = True
    return heavy


def test_function_level_imports_only_keep_heavy_libraries_lazy():
    """A function-level import of a diffkit module is there to keep sympy, matplotlib or
    scipy out of ``import diffkit``: its target uses one of them. (The pytest plugin is
    imported by every pytest run in a user's environment: it imports only numpy and pytest
    at module level, by design.)"""
    mods = _modules()
    top, local = _imports(mods)
    heavy = _heavy(mods, top, local)
    light = sorted((m, t) for m in mods for t in local[m]
                   if t in mods and t not in heavy and t.split(".")[0] not in HEAVY
                   and not m.startswith(t + ".") and m != "diffkit.pytest_plugin")
    assert not light, f"function-level imports of light modules: {light}"


def test_no_private_numpy_api():
    """numpy's private modules change without notice (issue 21: no numpy private API). The
    one exception is ``np._NoValue``, the "not given" default that numpy's own public
    signatures carry (``np.sum(..., keepdims=<no value>)``), which diffkit's mirror them."""
    pattern = re.compile(r"\b(?:numpy|np)\._(?!_|NoValue\b)\w+")
    found = [f"{path.relative_to(PACKAGE)}:{i}" for path in sorted(PACKAGE.rglob("*.py"))
             for i, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found
