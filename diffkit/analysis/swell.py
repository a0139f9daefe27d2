"""Expression swell: how big f and f' get as a program deepens, per representation.

Baydin et al. (2018), Table 1: the logistic map ``l_1 = x, l_{k+1} = 4 l_k (1 - l_k)``
differentiated symbolically as a *tree* roughly triples in size with each step, while the
same derivative kept as a *DAG* (shared subexpressions stored once, which is what a
reverse-mode tape is) grows by a constant per step. Laue (arXiv 1904.02990): the swell is an
artefact of the representation, not of symbolic differentiation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import methods as _methods
from ..catalog import logistic
from ..display import swell_text
from ..errors import DiffkitError, PointError, UnknownMethodError
from ..plotting import plot_swell
from .expressions import expression_metrics

__all__ = ["FAMILIES", "SwellResult", "swell"]


def _logistic(n: int) -> Any:
    return logistic(n)


FAMILIES: dict[str, Callable[[int], Any]] = {"logistic": _logistic}
"""Built-in program families: name -> (n -> catalogue entry)."""

# column -> (derivative, strategy, form, metric) passed to expression_metrics
METRICS: dict[str, tuple[bool, str, str, str]] = {
    "f tree": (False, "tree", "nested", "tree_size"),
    "f DAG": (False, "dag", "nested", "dag_size"),
    "f expanded": (False, "tree", "expanded", "tree_size"),
    "f' tree": (True, "tree", "nested", "tree_size"),
    "f' DAG": (True, "tree", "nested", "dag_size"),
    "f' CSE ops": (True, "tree", "nested", "cse_ops"),
    "f' DAG-strategy CSE ops": (True, "dag", "nested", "cse_ops"),
    "f' expanded": (True, "tree", "expanded", "tree_size"),
}
TAPE = "reverse tape ops"


@dataclass(frozen=True, eq=False)
class SwellResult:
    """Expression and tape sizes of a program family versus its depth ``n``.

    Attributes
    ----------
    family : str
    ns : ndarray of int
    metrics : dict of str -> ndarray
        One array per column (NaN where not computed): ``"f tree"``, ``"f DAG"``,
        ``"f expanded"``, ``"f' tree"``, ``"f' DAG"``, ``"f' CSE ops"``,
        ``"f' DAG-strategy CSE ops"``, ``"f' expanded"`` and ``"reverse tape ops"``.
    seconds : dict of str -> ndarray
        Time spent per ``n`` on the symbolic metrics and on the tape.
    notes : list of str
        Parts skipped (a family not installed, a form too large).
    """

    family: str
    ns: np.ndarray
    metrics: dict[str, np.ndarray]
    seconds: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)

    def available(self) -> list[str]:
        """Columns with at least one value."""
        return [k for k, v in self.metrics.items() if np.any(np.isfinite(v))]

    def to_markdown(self) -> str:
        """The table, one row per ``n``."""
        cols = self.available()
        lines = ["| n | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for i, n in enumerate(self.ns):
            cells = [("—" if not np.isfinite(self.metrics[c][i]) else
                      f"{int(self.metrics[c][i]):,}") for c in cols]
            lines.append(f"| {int(n)} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"family": self.family, "n": [int(n) for n in self.ns],
                "metrics": {k: [None if not np.isfinite(v) else int(v) for v in arr]
                            for k, arr in self.metrics.items()},
                "notes": list(self.notes)}

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Sizes versus n on a log y axis; see :func:`diffkit.plotting.plot_swell`."""
        return plot_swell(self, ax=ax, **kwargs)

    def __str__(self) -> str:
        """A summary table and the notes (:func:`diffkit.display.swell_text`)."""

        return swell_text(self)

    def __repr__(self) -> str:
        return f"SwellResult({self.family!r}, n={self.ns.tolist()}, columns={self.available()})"


def _metric(m: Any, key: str) -> float:
    val = m.get(key) if isinstance(m, dict) else getattr(m, key, None)
    return float("nan") if val is None or val < 0 else float(val)  # -1: not computed


def swell(family: str = "logistic", ns: Sequence[int] = range(1, 13), *,
          max_expanded: int = 5, max_tree: int = 12, engine: str = "auto",
          progress: Any = None) -> SwellResult:
    """Sizes of ``f`` and ``f'`` as trees, DAGs and expanded polynomials, beside the tape.

    Parameters
    ----------
    family : str
        ``"logistic"`` (Baydin et al. 2018, Table 1: ``l_{k+1} = 4 l_k (1 - l_k)``).
    ns : sequence of int
        Depths, each >= 1.
    max_expanded : int
        Largest ``n`` whose expanded form is built (its degree is ``2^(n-1)``).
    max_tree : int
        Largest ``n`` whose derivative is differentiated as a tree.
    engine : {"auto", "sympy", "symengine"}
        Engine that builds the tree derivative; ``"auto"`` takes symengine when it is
        installed (20 times faster at n = 12, same metrics).
    progress : callable, optional
        Called with each ``n`` when it is done.

    Returns
    -------
    SwellResult
        ``.metrics[column]`` per ``n``. Columns whose machinery is not installed (the
        symbolic family, reverse mode) are NaN, with a note.

    Examples
    --------
    >>> import diffkit as dk
    >>> s = dk.analysis.swell("logistic", [1, 2, 3])
    >>> s.ns.tolist()
    [1, 2, 3]
    """
    if not isinstance(family, str) or family not in FAMILIES:
        raise UnknownMethodError(f"swell(family={family!r}): unknown family; choose from "
                                 f"{', '.join(repr(k) for k in FAMILIES)}")
    try:
        ns_arr = np.asarray(list(ns))
    except TypeError:
        raise PointError(f"swell(ns={ns!r}): pass a sequence of depths, e.g. range(1, 13)") \
            from None
    if ns_arr.ndim != 1 or ns_arr.size == 0 or ns_arr.dtype.kind not in "iu" \
            or np.any(ns_arr < 1):
        raise PointError(f"swell(ns={ns!r}): depths must be integers >= 1, e.g. range(1, 13)")
    for name, limit in (("max_expanded", max_expanded), ("max_tree", max_tree)):
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)):
            raise PointError(f"swell({name}={limit!r}): the largest depth to build that form "
                             f"for, an integer (e.g. {name}=6)")
    if progress is not None and not callable(progress):
        raise PointError(f"swell(progress={progress!r}): a function called with each depth "
                         f"as it is done (e.g. progress=print), or None")
    notes: list[str] = []
    metrics = {k: np.full(ns_arr.shape, np.nan) for k in [*METRICS, TAPE]}
    seconds = {"symbolic": np.full(ns_arr.shape, np.nan), "tape": np.full(ns_arr.shape, np.nan)}
    if engine not in ("auto", "sympy", "symengine"):
        raise UnknownMethodError(f"swell(engine={engine!r}): choose 'auto', 'sympy' or "
                                 f"'symengine'")
    if engine == "auto":
        import importlib.util

        engine = "symengine" if importlib.util.find_spec("symengine") else "sympy"
    expr_metrics = expression_metrics
    have_reverse = "reverse-mode" in _methods.available()
    if not have_reverse:
        notes.append("reverse tape skipped: reverse mode is not in this installation")
    failures: dict[str, str] = {}
    for i, n in enumerate(ns_arr.tolist()):
        entry = FAMILIES[family](n)
        if expr_metrics is not None:
            t0 = time.perf_counter()
            cache: dict[tuple[bool, str, str], Any] = {}
            for col, (deriv, strategy, form, key) in METRICS.items():
                if form == "expanded" and n > max_expanded:
                    continue
                if deriv and strategy == "tree" and n > max_tree:
                    continue
                args = (deriv, strategy, form)
                if args not in cache:
                    try:
                        cache[args] = expr_metrics(entry.function, derivative=deriv,
                                                   strategy=strategy, form=form,
                                                   engine=engine)
                    except (DiffkitError, TypeError, ValueError, ImportError) as exc:
                        cache[args] = None
                        failures.setdefault(col, f"{type(exc).__name__}: {exc}")
                m = cache[args]
                if m is not None:
                    metrics[col][i] = _metric(m, key)
                    status = getattr(m, "status", "ok")
                    if status != "ok":
                        failures.setdefault(col, f"n = {n}: {status}")
            seconds["symbolic"][i] = time.perf_counter() - t0
        if have_reverse:
            t0 = time.perf_counter()
            r = _methods.get("reverse-mode").derivative(entry.function, entry.point)
            seconds["tape"][i] = time.perf_counter() - t0  # (info is built when read, after)
            metrics[TAPE][i] = r.info.get("ops", np.nan)
        if progress is not None:
            progress(n)
    if np.any(ns_arr > max_expanded):
        notes.append(f"expanded forms built for n <= {max_expanded} only (degree 2^(n-1))")
    if np.any(ns_arr > max_tree):
        notes.append(f"tree derivatives built for n <= {max_tree} only")
    notes += [f"{col}: {msg}" for col, msg in failures.items()]
    return SwellResult(family, ns_arr, metrics, seconds, notes)
