"""Named functions with exact derivatives: teaching examples and test fixtures.

Each :class:`CatalogEntry` has a spec written once (most from formula text, so every method,
the symbolic one included, can interpret it), a point, and an exact reference: sympy at 50
digits for formulas, or an mpmath routine for the families (Rosenbrock, logistic map).

Examples
--------
>>> from diffkit import catalog
>>> e = catalog.get("baydin")
>>> e.point
array([2., 5.])
>>> [round(float(v), 6) for v in e.exact_gradient()]
[5.5, 1.716338]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import numpy as dnp
from .spec import Function

__all__ = [
    "SUITE",
    "CatalogEntry",
    "entries",
    "get",
    "logistic",
    "names",
    "rosenbrock",
    "suite",
]


@dataclass(frozen=True)
class CatalogEntry:
    """A function, a point, and a way to get its exact derivatives.

    Attributes
    ----------
    name : str
    function : Function
    point : ndarray
    expr : str or None
        Formula text when the entry was built from one (exact references come from sympy).
    description : str
    tags : frozenset of str
        ``"analytic"`` (complex step applies), ``"non-analytic"``, ``"domain-edge"``,
        ``"large-x"``, ``"vector"`` (vector-valued), ``"suite"`` (ANCHORS.md 9-function suite).
    """

    name: str
    function: Function
    point: np.ndarray
    expr: str | None = None
    description: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)
    _exact: Callable[[np.ndarray, int], Any] | None = None

    def exact_gradient(self, x: Any = None, dps: int = 50) -> Any:
        """The exact gradient (or Jacobian for vector entries) at ``x`` as mpmath numbers."""
        from .reference import exact_jacobian

        x = self.point if x is None else np.asarray(x, dtype=float)
        if self._exact is not None:
            return self._exact(x, dps)
        jac = exact_jacobian(self.function, x, dps=dps)
        return jac[0] if "vector" not in self.tags else jac

    def exact_float(self, x: Any = None) -> np.ndarray:
        """:meth:`exact_gradient` rounded to float64 (shape of the point, or (m, n))."""
        x = self.point if x is None else np.asarray(x, dtype=float)
        val = self.exact_gradient(x)
        arr = np.array([[float(v) for v in row] for row in val]) if "vector" in self.tags \
            else np.array([float(v) for v in np.ravel(np.asarray(val, dtype=object))])
        return arr if "vector" in self.tags else arr.reshape(x.shape)


def _formula(name: str, text: str, point: Sequence[float] | float, description: str,
             tags: Sequence[str] = ("analytic",)) -> CatalogEntry:
    spec = Function.from_expr(text, name=name)
    return CatalogEntry(name, spec, np.atleast_1d(np.asarray(point, dtype=float))
                        if spec.nparams > 1 else np.asarray(point, dtype=float),
                        text, description, frozenset(tags))


# ----------------------------------------------------------------------------- families


def rosenbrock(n: int = 2) -> CatalogEntry:
    """Rosenbrock's function in ``n`` dimensions, at the classical start (-1.2, 1, -1.2, ...)."""
    if n < 2:
        raise ValueError(f"rosenbrock(n): n must be >= 2, got {n}")

    def rosen(x: Any) -> Any:
        return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def rosen_grad(x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        g = np.zeros_like(x)
        d = x[1:] - x[:-1] ** 2
        g[:-1] = -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
        g[1:] += 200.0 * d
        return g

    def exact(x: np.ndarray, dps: int) -> list[Any]:
        import mpmath

        with mpmath.workdps(dps):
            v = [mpmath.mpf(float(t)) for t in x]
            g = [mpmath.mpf(0)] * len(v)
            for i in range(len(v) - 1):
                d = v[i + 1] - v[i] ** 2
                g[i] += -400 * v[i] * d - 2 * (1 - v[i])
                g[i + 1] += 200 * d
            return g

    spec = Function(rosen, name=f"rosenbrock{n}", manual=rosen_grad)
    point = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
    return CatalogEntry(f"rosenbrock{n}", spec, point, None,
                        f"Rosenbrock's banana function in {n} dimensions",
                        frozenset({"analytic", "array", "family"}), exact)


def logistic(n: int = 4, x0: float = 0.3) -> CatalogEntry:
    """The logistic map l_1 = x, l_{k+1} = 4 l_k (1 - l_k), as l_n (Baydin et al. Table 1)."""
    if n < 1:
        raise ValueError(f"logistic(n): n must be >= 1, got {n}")

    def logistic_map(x: Any) -> Any:
        l_k = x
        for _ in range(n - 1):
            l_k = 4.0 * l_k * (1.0 - l_k)
        return l_k

    def exact(x: np.ndarray, dps: int) -> list[Any]:
        import mpmath

        with mpmath.workdps(dps):
            v, dv = mpmath.mpf(float(x)), mpmath.mpf(1)
            for _ in range(n - 1):
                v, dv = 4 * v * (1 - v), 4 * (1 - 2 * v) * dv
            return [dv]

    spec = Function(logistic_map, name=f"logistic{n}")
    return CatalogEntry(f"logistic{n}", spec, np.asarray(x0, dtype=float), None,
                        f"logistic map l_{n}(x), l_(k+1) = 4 l_k (1 - l_k)",
                        frozenset({"analytic", "family"}), exact)


# ----------------------------------------------------------------------------- fixed entries

SUITE = (
    ("exp@1", "exp(x)", 1.0, "exp at 1"),
    ("sin@1", "sin(x)", 1.0, "sin at 1"),
    ("log@2", "log(x)", 2.0, "log at 2"),
    ("cbrt@0.5", "x**(1/3)", 0.5, "cube root at 0.5"),
    ("atan@0.5", "atan(x)", 0.5, "arctan at 0.5"),
    ("runge@0.2", "1/(1 + 25*x**2)", 0.2, "Runge's function at 0.2"),
    ("sqrt@0.01", "sqrt(x)", 0.01, "sqrt near the domain edge"),
    ("sin@100", "sin(x)", 100.0, "sin at large x"),
    ("squire-trapp@1.5", "exp(x)/sqrt(sin(x)**3 + cos(x)**3)", 1.5,
     "Squire and Trapp's complex-step test function, f'(1.5) = 4.053427893898621"),
)
"""The 9-function suite of ANCHORS.md: (name, formula, point, description)."""


def _build() -> dict[str, Callable[[], CatalogEntry]]:
    table: dict[str, Callable[[], CatalogEntry]] = {}
    for name, text, x, desc in SUITE:
        tags = {"analytic", "suite"}
        if name == "sqrt@0.01":
            tags.add("domain-edge")
        if name == "sin@100":
            tags.add("large-x")
        table[name] = lambda name=name, text=text, x=x, desc=desc, tags=tags: _formula(
            name, text, x, desc, tuple(tags))
    table["baydin"] = lambda: _formula(
        "baydin", "log(x1) + x1*x2 - sin(x2)", [2.0, 5.0],
        "Baydin et al. (2018): f(x1, x2) = ln x1 + x1 x2 - sin x2 at (2, 5)")
    table["trivariate"] = lambda: _formula(
        "trivariate", "x*y*z + exp(x*y) - log(z)/y", [0.5, -1.5, 2.0],
        "a smooth function of three variables")
    table["abs-kink"] = lambda: _formula(
        "abs-kink", "abs(x) + x**2", 0.3, "abs has a kink at 0; not complex-analytic",
        ("non-analytic",))
    table["max-pair"] = lambda: _formula(
        "max-pair", "maximum(x1, x2**2) + x1*x2", [1.5, 0.7],
        "maximum of two smooth pieces, away from the tie", ("non-analytic",))
    table["rosenbrock2"] = lambda: rosenbrock(2)
    table["rosenbrock10"] = lambda: rosenbrock(10)
    table["logistic4"] = lambda: logistic(4)
    table["polar"] = _polar
    return table


def _polar() -> CatalogEntry:
    def polar(r: Any, theta: Any) -> Any:
        return dnp.stack([r * dnp.cos(theta), r * dnp.sin(theta)])

    def exact(x: np.ndarray, dps: int) -> list[list[Any]]:
        import mpmath

        with mpmath.workdps(dps):
            r, t = mpmath.mpf(float(x[0])), mpmath.mpf(float(x[1]))
            return [[mpmath.cos(t), -r * mpmath.sin(t)], [mpmath.sin(t), r * mpmath.cos(t)]]

    spec = Function(polar, name="polar")
    return CatalogEntry("polar", spec, np.array([2.0, 0.6]), None,
                        "polar to Cartesian coordinates, R^2 -> R^2",
                        frozenset({"analytic", "vector"}), exact)


_TABLE = _build()


def names() -> list[str]:
    """Names of the fixed catalogue entries."""
    return list(_TABLE)


def get(name: str) -> CatalogEntry:
    """The catalogue entry called ``name`` (see :func:`names`)."""
    if name not in _TABLE:
        raise KeyError(f"no catalogue entry {name!r}; known: {', '.join(_TABLE)}")
    return _TABLE[name]()


def entries(tag: str | None = None) -> list[CatalogEntry]:
    """Every fixed entry, or those carrying ``tag``."""
    out = [f() for f in _TABLE.values()]
    return [e for e in out if tag is None or tag in e.tags]


def suite() -> list[CatalogEntry]:
    """The 9-function suite of ANCHORS.md, in its order."""
    return [get(name) for name, *_ in SUITE]
