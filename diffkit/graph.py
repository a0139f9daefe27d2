"""Computational graphs as text (DOT, Mermaid) and as pictures (pure matplotlib).

A graph here is plain data: a list of ``(key, lines)`` nodes, where ``lines`` are the text
shown in the node, and a list of ``(source, target)`` edges. :func:`layers` puts every node
in its topological generation (inputs in layer 0, each node one layer after its latest
parent); :func:`draw` places the layers left to right. No ``dot`` binary is needed: DOT and
Mermaid come out as text, the picture is matplotlib (imported only when drawing).

Examples
--------
>>> from diffkit import graph
>>> nodes = [("a", ["x"]), ("b", ["sin(x)"])]
>>> print(graph.to_mermaid(nodes, [("a", "b")]))
graph LR
  a["x"]
  b["sin(x)"]
  a --> b
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["draw", "layers", "to_dot", "to_mermaid"]

Node = tuple[Hashable, Sequence[str]]
Edge = tuple[Hashable, Hashable]


def layers(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[Hashable, int]:
    """Topological generation of every node: 0 without parents, else 1 + the latest parent's.

    ``nodes`` must be listed in a topological order (a tape is: parents come first).
    """
    parents: dict[Hashable, list[Hashable]] = {k: [] for k, _ in nodes}
    for src, dst in edges:
        parents[dst].append(src)
    out: dict[Hashable, int] = {}
    for key, _ in nodes:
        ps = [out[p] for p in parents[key] if p in out]
        out[key] = 1 + max(ps) if ps else 0
    return out


def _ident(key: Hashable) -> str:
    text = "".join(c if c.isalnum() else "_" for c in str(key))
    return f"n_{text}"


def _escape(text: str, quote: str = '"') -> str:
    return text.replace("\\", "\\\\").replace(quote, "\\" + quote)


def to_dot(nodes: Sequence[Node], edges: Sequence[Edge], name: str = "G") -> str:
    """The graph in Graphviz DOT (text; render it with ``dot -Tpng`` if you have Graphviz).

    Examples
    --------
    >>> from diffkit import graph
    >>> print(graph.to_dot([(0, ["x"]), (1, ["y"])], [(0, 1)]))
    digraph G {
      rankdir=LR;
      node [shape=box, style=rounded, fontname="Helvetica"];
      n_0 [label="x"];
      n_1 [label="y"];
      n_0 -> n_1;
    }
    """
    lines = [f"digraph {_ident(name)[2:] or 'G'} {{", "  rankdir=LR;",
             '  node [shape=box, style=rounded, fontname="Helvetica"];']
    for key, text in nodes:
        label = "\\n".join(_escape(t) for t in text)
        lines.append(f'  {_ident(key)} [label="{label}"];')
    for src, dst in edges:
        lines.append(f"  {_ident(src)} -> {_ident(dst)};")
    lines.append("}")
    return "\n".join(lines)


def to_mermaid(nodes: Sequence[Node], edges: Sequence[Edge]) -> str:
    """The graph as a Mermaid flowchart (renders in GitHub markdown and many notebooks)."""
    lines = ["graph LR"]
    for key, text in nodes:
        label = "<br/>".join(t.replace('"', "#quot;") for t in text)
        lines.append(f'  {_ident(key)[2:] if str(key).isidentifier() else _ident(key)}'
                     f'["{label}"]')
    for src, dst in edges:
        a = _ident(src)[2:] if str(src).isidentifier() else _ident(src)
        b = _ident(dst)[2:] if str(dst).isidentifier() else _ident(dst)
        lines.append(f"  {a} --> {b}")
    return "\n".join(lines)


def positions(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[Hashable, tuple[float, float]]:
    """``(x, y)`` of every node: x = its layer; within a layer, nodes are ordered by the mean
    height of their parents (the barycentre heuristic, fewer crossings) and centred."""
    layer = layers(nodes, edges)
    parents: dict[Hashable, list[Hashable]] = {k: [] for k, _ in nodes}
    for src, dst in edges:
        parents[dst].append(src)
    columns: dict[int, list[Hashable]] = {}
    for key, _ in nodes:
        columns.setdefault(layer[key], []).append(key)
    pos: dict[Hashable, tuple[float, float]] = {}
    for x in sorted(columns):
        keys = columns[x]
        if x > 0:
            def height(k: Hashable) -> float:
                ys = [pos[p][1] for p in parents[k] if p in pos]
                return -sum(ys) / len(ys) if ys else 0.0

            keys = sorted(keys, key=height)  # stable: ties keep execution order
        n = len(keys)
        for j, key in enumerate(keys):
            pos[key] = (float(x), (n - 1) / 2.0 - j)
    return pos


def draw(nodes: Sequence[Node], edges: Sequence[Edge], ax: Any = None, *,
         title: str | None = None, fontsize: float = 8.0,
         highlight: Sequence[Hashable] = ()) -> Any:
    """Draw the graph as layered boxes and arrows; return the matplotlib Axes.

    Parameters
    ----------
    nodes, edges : sequences
        ``(key, lines)`` nodes in topological order and ``(source, target)`` edges.
    ax : matplotlib Axes, optional
        Where to draw; a new figure sized to the graph when omitted.
    title : str, optional
    fontsize : float
    highlight : keys
        Nodes drawn with a stronger outline (e.g. the output).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from diffkit import graph
    >>> ax = graph.draw([(0, ["x"]), (1, ["sin(x)"])], [(0, 1)])
    >>> [t.get_text() for t in ax.texts if t.get_text()]
    ['x', 'sin(x)']
    """
    import matplotlib.pyplot as plt

    pos = positions(nodes, edges)
    ncols = 1 + max((int(p[0]) for p in pos.values()), default=0)
    per_col: dict[float, int] = {}
    for x, _ in pos.values():
        per_col[x] = per_col.get(x, 0) + 1
    nrows = max(per_col.values(), default=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 2.3 * ncols), max(2.5, 1.25 * nrows)))
    ax.set_xlim(-0.6, ncols - 0.4)
    ax.set_ylim(-(nrows / 2.0) - 0.1, nrows / 2.0 + 0.1)
    strong = set(highlight)
    boxes = {}
    for key, text in nodes:
        x, y = pos[key]
        boxes[key] = ax.text(
            x, y, "\n".join(text), ha="center", va="center", fontsize=fontsize, zorder=3,
            bbox={"boxstyle": "round,pad=0.35",
                  "facecolor": "#fff4d6" if key in strong else "#eef3fb",
                  "edgecolor": "#b5651d" if key in strong else "#4a6fa5",
                  "linewidth": 1.6 if key in strong else 0.9})
    # box edges in data coordinates (the boxes' size is known once the text is laid out)
    ax.figure.canvas.draw()
    to_data = ax.transData.inverted()
    half = {}
    for key, box in boxes.items():
        ext = box.get_bbox_patch().get_window_extent()
        (a, _), (b, _) = to_data.transform([(ext.x0, ext.y0), (ext.x1, ext.y1)])
        half[key] = (b - a) / 2.0
    for src, dst in edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        # edges that skip layers bend, so they pass beside the boxes in between
        rad = 0.0 if x1 - x0 <= 1 else (0.2 if y1 >= y0 else -0.2)
        ax.annotate("", xy=(x1 - half[dst], y1), xytext=(x0 + half[src], y0), zorder=2,
                    arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 0.9,
                                "shrinkA": 1, "shrinkB": 1,
                                "connectionstyle": f"arc3,rad={rad}"})
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=fontsize + 2)
    return ax
