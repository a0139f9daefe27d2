"""The recorded program as data: evaluation traces, adjoint traces and graph pictures.

``dk.trace(f, x)`` runs ``f`` once on reverse-mode nodes, keeps every primitive it recorded
(the Wengert list), sweeps it back once with ``ȳ = 1`` and returns an
:class:`EvaluationTrace`: the primal trace and the adjoint trace in the layout of Baydin et
al. (2018), Table 3, the tape's size, and the computational graph as DOT, Mermaid or a
matplotlib picture whose nodes show the operation, the value and the adjoint.

Examples
--------
>>> import diffkit as dk, diffkit.numpy as dnp
>>> f = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2 - dnp.sin(x2))
>>> t = dk.trace(f, [2.0, 5.0])
>>> print(t.forward_table())
Forward primal trace
v-1 = x1          = 2
v0  = x2          = 5
v1  = log(v-1)    = 0.6931
v2  = v-1 * v0    = 10
v3  = sin(v0)     = -0.9589
v4  = v1 + v2     = 10.69
v5  = v4 - v3     = 11.65
y   = v5          = 11.65
>>> t.gradient.round(3)
array([5.5  , 1.716])
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import graph
from .core import REGISTRY, Primitive, checked_evaluation
from .display import DIGITS, expression_text, format_value
from .errors import OutputShapeError, UnknownMethodError
from .graph import MAX_NODES
from .memory import meter
from .methods.forward import tangent_trace
from .methods.reverse import Node, ReverseTrace, record, record_vjps
from .spec import check_derivative
from .validation import check_output, prepare

__all__ = ["EvaluationTrace", "Step", "trace"]

BAR = "\u0304"  # combining macron: v̄ (adjoint), as in Baydin et al.

@dataclass
class Step:
    """One line of the evaluation trace.

    Attributes
    ----------
    name : str
        ``v-1``, ``v0`` (inputs, Baydin's numbering ``v_{i-n}``) and ``v1``, ``v2``, ...
    op : str
        The primitive's name, or ``"input"``.
    expr : str
        The operation on earlier steps, e.g. ``"v-1 * v0"``, or the input's parameter name.
    value : float or ndarray
    adjoint : float or ndarray or None
        ``∂y/∂v`` from the reverse sweep (None where y does not depend on the step).
    parents : list of int
        Indices (into :attr:`EvaluationTrace.steps`) of the steps this one reads.
    """

    name: str
    op: str
    expr: str
    value: Any
    adjoint: Any = None
    parents: list[int] = field(default_factory=list)


@dataclass
class Contribution:
    """One line of the adjoint trace: ``v̄_parent += v̄_child ∂v_child/∂v_parent``."""

    child: int
    parent: int
    value: Any  # this contribution
    total: Any  # the parent's adjoint after adding it
    first: bool  # the first contribution to this parent (``=`` rather than ``+=``)


class EvaluationTrace:
    """A recorded program with its values and adjoints (see :func:`trace`).

    Attributes
    ----------
    steps : list of Step
        Inputs first, then every recorded primitive in execution order.
    output : int or None
        Index of the step whose value ``f`` returned (None for a constant function).
    contributions : list of Contribution
        The reverse sweep, edge by edge, in the order it ran.
    ops : int
        Number of recorded primitive operations.
    nbytes : int
        Bytes of values the tape holds for the reverse sweep.
    value : float or ndarray
        ``f(x)``.
    gradient : ndarray or None
        The gradient (the inputs' adjoints), for a scalar ``f``.
    memory : dict
        What :mod:`diffkit.memory` counted: ``peak_nbytes`` (most bytes held by tapes at
        once, the tapes of re-run checkpoints included), ``snapshots`` (most checkpointed
        states held at once), ``steps`` and ``recomputed`` (:func:`diffkit.loop` steps run,
        and re-run by the sweep), ``checkpoints`` (checkpoint nodes recorded).
    """

    def __init__(self, steps: list[Step], output: int | None, contributions: list[Contribution],
                 ninputs: int, nbytes: int, value: Any, gradient: Any, name: str,
                 memory: dict[str, int] | None = None, spec: Any = None, point: Any = None
                 ) -> None:
        self.steps = steps
        self.output = output
        self.contributions = contributions
        self.ninputs = ninputs
        self.ops = len(steps) - ninputs
        self.nbytes = nbytes
        self.value = value
        self.gradient = gradient
        self.name = name
        self.memory = dict(memory or {})
        self.spec = spec  # the function and point traced (for to_python)
        self.point = point

    def __repr__(self) -> str:
        return (f"EvaluationTrace({self.name!r}, ops={self.ops}, nbytes={self.nbytes}, "
                f"value={_fmt(self.value, 6)})")

    # ------------------------------------------------------------------ tables
    def forward_table(self, digits: int = DIGITS) -> str:
        """The primal trace, one line per step (Baydin et al. 2018, Table 3, left).

        Parameters
        ----------
        digits : int
            Significant digits of the values (scientific notation for very small and very
            large ones; arrays of more than 4 entries are shown by their shape).

        Returns
        -------
        str
        """
        rows = [(s.name, s.expr, _fmt(s.value, digits)) for s in self.steps]
        if self.output is not None:
            rows.append(("y", self.steps[self.output].name,
                         _fmt(self.steps[self.output].value, digits)))
        return "Forward primal trace\n" + _columns(rows)

    def reverse_table(self, digits: int = DIGITS) -> str:
        """The adjoint trace, one line per edge swept back (Baydin et al. 2018, Table 3, right).

        Returns
        -------
        str

        Raises
        ------
        OutputShapeError
            When ``f`` is not scalar (the adjoint trace starts from ``ȳ = 1``).
        """
        if self.gradient is None:
            raise OutputShapeError(
                f"reverse_table(): {self.name} returned shape {np.shape(self.value)}, not a "
                f"scalar, so there is no single adjoint trace; trace one output at a time "
                f"(e.g. dk.trace(lambda x: f(x)[0], x)) or use jacobian"
            )
        rows = []
        if self.output is not None:
            out = self.steps[self.output]
            rows.append((_bar(out.name), "ȳ", _fmt(1.0, digits)))
        for c in self.contributions:
            child, parent = self.steps[c.child].name, self.steps[c.parent].name
            term = f"{_bar(child)} ∂{child}/∂{parent}"
            expr = term if c.first else f"{_bar(parent)} + {term}"
            rows.append((_bar(parent), expr, _fmt(c.total, digits)))
        for k in range(self.ninputs):
            s = self.steps[k]
            adj = s.adjoint if s.adjoint is not None else 0.0 * np.asarray(s.value)
            rows.append((f"x{BAR}{k + 1}" if self.ninputs > 1 else f"x{BAR}", _bar(s.name),
                         _fmt(adj, digits)))
        return "Reverse adjoint trace\n" + _columns(rows)

    def to_python(self) -> str:
        """The adjoint program as Python source: the primal trace, then one line per adjoint
        (the table above as code), written by ``method="reverse-compiled"``
        (:meth:`diffkit.methods.ReverseCompiled.source`; the Jacobian's sweeps for a
        vector-valued function).

        Examples
        --------
        >>> import diffkit as dk, diffkit.numpy as dnp
        >>> t = dk.trace(lambda x1, x2: x1 * dnp.sin(x2), [2.0, 0.5])
        >>> print(t.to_python().splitlines()[-1])
            return v2, x1_bar, x2_bar
        """
        if self.spec is None:
            raise UnknownMethodError(
                "to_python(): this trace does not hold its function; make it with "
                "dk.trace(f, x)")
        from .methods.compiled import ReverseCompiled

        what = "gradient" if self.gradient is not None else "jacobian"
        return ReverseCompiled().source(self.spec, self.point, what=what)

    # ------------------------------------------------------------------ graphs
    def graph(self, digits: int = DIGITS
              ) -> tuple[list[tuple[int, list[str]]], list[tuple[int, int]]]:
        """``(nodes, edges)`` for :mod:`diffkit.graph`: op, value and adjoint in each node."""
        nodes = []
        for k, s in enumerate(self.steps):
            lines = [f"{s.name} = {s.expr}", f"value {_fmt(s.value, digits)}"]
            if s.adjoint is not None:
                lines.append(f"adjoint {_fmt(s.adjoint, digits)}")
            nodes.append((k, lines))
        edges = [(p, k) for k, s in enumerate(self.steps) for p in dict.fromkeys(s.parents)]
        return nodes, edges

    def to_dot(self, digits: int = DIGITS) -> str:
        """The computational graph in Graphviz DOT (text)."""
        return graph.to_dot(*self.graph(digits), name=self.name)

    def to_mermaid(self, digits: int = DIGITS) -> str:
        """The computational graph as a Mermaid flowchart (text)."""
        return graph.to_mermaid(*self.graph(digits))

    def draw(self, ax: Any = None, digits: int = DIGITS, *,
             max_nodes: int | None = MAX_NODES, direction: str = "auto",
             fontsize: float = 8.0) -> Any:
        """Draw the graph as a layered DAG (layers = topological generations).

        Each node shows its operation, value and adjoint; the output is outlined; arrows run
        from each value to the operations that read it. Without ``ax`` the figure is sized to
        the graph; programs of more than ``max_nodes`` steps have their middle folded into
        one box, and the title says how many steps it hides (see :func:`diffkit.graph.draw`).

        Parameters
        ----------
        ax : matplotlib Axes, optional
        digits : int
            Significant digits of values and adjoints.
        max_nodes : int or None
            Steps drawn before the middle is folded; None draws every step.
        direction : {"auto", "LR", "TB"}
            Layers left to right or top to bottom (``"auto"``: left to right when it fits on
            a 16 x 10 inch page, else whichever fits better).
        fontsize : float

        Returns
        -------
        matplotlib Axes
            It never shows the figure itself.
        """
        nodes, edges = self.graph(digits)
        title = f"{self.name}: {self.ops} ops, value {_fmt(self.value, digits)}"
        return graph.draw(nodes, edges, ax=ax, title=title, max_nodes=max_nodes,
                          direction=direction, fontsize=fontsize,
                          highlight=() if self.output is None else (self.output,))

    def figure(self, digits: int = DIGITS, **kwargs: Any) -> Any:
        """:meth:`draw` on a new figure sized to the graph, made without pyplot (for saving:
        ``dk.trace(f, x).figure().savefig("dag.png")``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        return self.draw(ax="figure", digits=digits, **kwargs).figure


# ----------------------------------------------------------------------------- formatting


def _bar(name: str) -> str:
    return name[0] + BAR + name[1:]


def _width(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else 1 for c in text)


def _columns(rows: list[tuple[str, str, str]]) -> str:
    w0 = max(_width(r[0]) for r in rows)
    w1 = max(_width(r[1]) for r in rows)
    lines = []
    for a, b, c in rows:
        lines.append(f"{a}{' ' * (w0 - _width(a))} = {b}{' ' * (w1 - _width(b))}    = {c}")
    return "\n".join(line.rstrip() for line in lines)


def _fmt(v: Any, digits: int) -> str:
    return format_value(v, digits)


def _ref(ref: tuple[str, Any], names: list[str], digits: int = DIGITS) -> str:
    kind, v = ref
    if kind == "v":
        return names[v]
    return _fmt(v, digits)


def _expr(op: str, refs: tuple[Any, ...], params: dict[str, Any], names: list[str]) -> str:
    prim = REGISTRY.get(op)
    if prim is None:  # a primitive made for one function (a checkpoint), not in the registry
        prim = Primitive(name=op, numeric=None)  # type: ignore[arg-type]
    return expression_text(prim, [_ref(r, names) for r in refs], params)


# ----------------------------------------------------------------------------- the sweep


def _logged_sweep(tr: ReverseTrace, out: int) -> tuple[dict[int, Any], list[Contribution]]:
    """A reverse sweep that keeps every edge's contribution (for the adjoint table)."""
    adj: dict[int, Any] = {out: 1.0}
    contributions: list[Contribution] = []
    for i in range(out, -1, -1):
        g = adj.get(i)
        rec = tr.tape[i]
        if g is None or rec is None:
            continue
        for p, c in record_vjps(rec, g):
            c = np.array(c)  # materialize broadcast views and fills for display
            if c.shape != np.shape(tr.log[p][2]):
                c = np.broadcast_to(c, np.shape(tr.log[p][2])).copy()
            first = p not in adj
            adj[p] = c if first else adj[p] + c
            contributions.append(Contribution(i, p, c, adj[p], first))
    return adj, contributions


# ----------------------------------------------------------------------------- entry point


def trace(f: Any, x: Any, mode: str = "reverse", direction: Any = None) -> Any:
    """Record one evaluation of ``f`` at ``x`` and return it as data.

    Parameters
    ----------
    f : Function or callable
        A function written with ``diffkit.numpy``.
    x : array_like
        The point (one coordinate per parameter, or the whole array for one parameter).
    mode : {"reverse", "forward"}
        ``"reverse"``: the primal trace and the adjoint trace (Baydin et al. 2018, Table 3).
        ``"forward"``: the tangent trace of forward mode (Table 2), from
        :func:`diffkit.methods.forward.tangent_trace`.
    direction : array_like, optional
        Forward mode only: the input tangent (default: the first unit vector).

    Returns
    -------
    EvaluationTrace
        (or the forward method's tangent trace for ``mode="forward"``).

    Examples
    --------
    >>> import diffkit as dk, diffkit.numpy as dnp
    >>> t = dk.trace(lambda x: dnp.sum(dnp.sin(x) * x), [0.5, 1.0])
    >>> t.ops, [s.name for s in t.steps]
    (3, ['v0', 'v1', 'v2', 'v3'])
    >>> print(t.to_mermaid().splitlines()[1])
      n_0["v0 = x<br/>value [0.5, 1]<br/>adjoint [0.9182, 1.382]"]
    """
    if mode == "forward":
        return tangent_trace(f, x, direction)
    if mode != "reverse":
        raise UnknownMethodError(
            f"trace(f, x, mode={mode!r}): mode must be 'reverse' (primal and adjoint traces) "
            f"or 'forward' (tangent trace)"
        )
    if direction is not None:
        raise UnknownMethodError(
            "trace(f, x, direction=...): a direction seeds forward mode; pass mode='forward'"
        )
    spec, xa = prepare(f, x, "trace")
    with checked_evaluation(), meter() as usage:
        tr, nodes, out = _record_named(spec, list(spec.unpack(xa)))
        value = out.value if out.__class__ is Node and out._trace is tr else out
        value = check_output(spec, value, "trace", xa)
        output = out.id if out.__class__ is Node and out._trace is tr else None
        adj: dict[int, Any] = {}
        contributions: list[Contribution] = []
        scalar = np.shape(value) == ()
        usage.tape(tr, consumed=False)
        nbytes = usage.tape_nbytes
        if scalar and output is not None:
            adj, contributions = _logged_sweep(tr, output)
    n = len(nodes)
    # list the steps by topological generation, ties in execution order: a valid order of
    # the same program, and the one of Baydin et al.'s table (all ops on inputs first)
    parents_of = [[r[1] for r in refs if r[0] == "v"] if op != "input" else []
                  for op, refs, _, _ in tr.log]
    layer = graph.layers([(k, ()) for k in range(len(tr.log))],
                   [(p, k) for k, ps in enumerate(parents_of) for p in ps])
    order = sorted(range(len(tr.log)), key=lambda k: (k >= n, layer[k], k))
    position = {k: j for j, k in enumerate(order)}
    names = [f"v{j - n + 1}" for j in range(len(order))]  # inputs v_{1-n} .. v_0
    tape_names = [names[position[k]] for k in range(len(tr.log))]
    steps = []
    for k in order:
        op, refs, val, params = tr.log[k]
        expr = refs[0] if op == "input" else _expr(op, refs, params, tape_names)
        steps.append(Step(tape_names[k], op, expr, val, adj.get(k),
                          [position[p] for p in parents_of[k]]))
    contributions = sorted(
        (Contribution(position[c.child], position[c.parent], c.value, c.total, c.first)
         for c in contributions), key=lambda c: -c.child)
    contributions = _retotal(contributions)
    output = None if output is None else position[output]
    gradient = None
    if scalar:
        grads = [np.zeros(np.shape(s.value)) if s.adjoint is None else np.asarray(s.adjoint)
                 for s in steps[:n]]
        gradient = (np.array([float(g) for g in grads]) if n > 1
                    else np.asarray(grads[0], dtype=float).reshape(xa.shape))
        check_derivative(spec, gradient, "trace", xa, "trace(f, x)")
    return EvaluationTrace(steps, output, contributions, n, nbytes, value, gradient,
                           spec.name, usage.info(), spec, xa)


def _retotal(contributions: list[Contribution]) -> list[Contribution]:
    """Running totals and first-contribution flags in the order the table lists them."""
    total: dict[int, Any] = {}
    out = []
    for c in contributions:
        first = c.parent not in total
        total[c.parent] = c.value if first else total[c.parent] + c.value
        out.append(Contribution(c.child, c.parent, c.value, total[c.parent], first))
    return out


def _record_named(spec: Any, args: list[Any]) -> tuple[ReverseTrace, list[Node], Any]:
    tr, nodes, out = record(spec.fn, args, log=True)  # (record routes scipy's functions)
    out = spec.output(out)
    for k, pname in enumerate(spec.parameters[: len(nodes)]):
        op, _, val, params = tr.log[k]
        tr.log[k] = (op, (pname,), val, params)
    return tr, nodes, out
