"""Computational graphs as text (DOT, Mermaid) and as pictures (pure matplotlib).

A graph here is plain data: a list of ``(key, lines)`` nodes, where ``lines`` are the text
shown in the node, and a list of ``(source, target)`` edges. :func:`layers` puts every node
in its topological generation (inputs in layer 0, each node one layer after its latest
parent); :func:`layout` is a layered (Sugiyama) drawing of those layers: edges that skip
layers are routed through placeholder points so they never cross a box, the order within a
layer is chosen to reduce crossings, every box is sized to its text (long lines wrap, nothing
is cut) and the figure is sized to the graph. :func:`fold` replaces the middle of a graph
larger than ``max_nodes`` by one box that says what it hides. No ``dot`` binary is needed:
DOT and Mermaid come out as text, the picture is matplotlib (imported only when drawing).

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

import itertools
import textwrap
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import UnknownMethodError

__all__ = ["FOLD", "Layout", "draw", "drawing_layers", "figure", "fold", "layers", "layout",
           "to_dot", "to_mermaid"]

Node = tuple[Hashable, Sequence[str]]
Edge = tuple[Hashable, Hashable]

FOLD = ("fold",)
"""The key of the box that stands for the nodes :func:`fold` leaves out."""

MAX_NODES = 80
"""Nodes drawn before :func:`draw` folds the middle of the graph (a 60-operation program with
its inputs is drawn whole)."""

WRAP = 30
"""Characters per line before a label wraps."""

# Geometry, in points at the nominal font size (1 data unit = 1 point before scaling).
_PAD = 0.55  # text to box edge, in font sizes
_SLACK = 1.05  # text is measured at one size and may render a little wider at another
_GAP_ALONG = 14.0  # between neighbouring boxes of one layer
_GAP_ACROSS = {"LR": 42.0, "TB": 30.0}  # between layers, where the edges run
_DUMMY = 4.0  # the width of an edge passing through a layer
_LANE = 7.0  # between edges running side by side in a channel
_MARGIN = 10.0
_PAGE = (16.0 * 72, 14.0 * 72)  # the page the automatic direction tries to fit
_MIN_FONT = 5.0  # below this, draw(ax=...) folds more instead of shrinking further


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


def drawing_layers(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[Hashable, int]:
    """The layer each node is drawn in: its topological generation (:func:`layers`), then as
    late as its children allow, sources staying first.

    A value computed early but read late (``sin(x[i])`` in a running sum) then sits beside
    its reader instead of trailing a long edge through every layer in between.

    Examples
    --------
    >>> drawing_layers([(k, [str(k)]) for k in range(4)], [(0, 1), (0, 2), (1, 3), (2, 3),
    ...                                                    (0, 3)])
    {0: 0, 1: 1, 2: 1, 3: 2}
    >>> drawing_layers([(k, [str(k)]) for k in range(5)], [(0, 1), (0, 2), (2, 3), (1, 4),
    ...                                                    (3, 4)])
    {0: 0, 1: 2, 2: 1, 3: 2, 4: 3}
    """
    layer = layers(nodes, edges)
    children: dict[Hashable, list[Hashable]] = {k: [] for k, _ in nodes}
    has_parent = set()
    for src, dst in edges:
        children[src].append(dst)
        has_parent.add(dst)
    for key, _ in reversed(nodes):
        if key in has_parent and children[key]:
            layer[key] = max(layer[key], min(layer[c] for c in children[key]) - 1)
    return layer


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


# ----------------------------------------------------------------------------- folding


def fold(nodes: Sequence[Node], edges: Sequence[Edge], max_nodes: int | None = MAX_NODES
         ) -> tuple[list[Node], list[Edge], list[Hashable]]:
    """Keep the first and last ``max_nodes / 2`` nodes; one box (key :data:`FOLD`) stands for
    the rest.

    Nodes are taken in the order of their drawing layers (:func:`drawing_layers`: inputs
    first, the output last), so the kept prefix and suffix are the start and the end of the
    computation and the folded box sits between them: edges into and out of the folded nodes are redrawn to and from the box
    (folding a contiguous stretch of a topological order cannot create a cycle). The box's
    label names how many nodes it hides and the first and last of them (the first word of
    their labels, as ranges: ``v13…v22, v41…v51``).

    Returns
    -------
    nodes, edges, folded
        The graph to draw and the keys of the nodes left out (empty when nothing was folded).

    Examples
    --------
    >>> from diffkit import graph
    >>> chain = [(k, [f"v{k}"]) for k in range(10)]
    >>> nodes, edges, folded = graph.fold(chain, [(k, k + 1) for k in range(9)], 4)
    >>> [k for k, _ in nodes], folded
    ([0, 1, ('fold',), 8, 9], [2, 3, 4, 5, 6, 7])
    >>> nodes[2][1]
    ['⋯ 6 nodes folded ⋯', 'v2…v7']
    """
    if max_nodes is None or len(nodes) <= max(int(max_nodes), 2):
        return list(nodes), list(edges), []
    budget = max(int(max_nodes), 2)
    layer = drawing_layers(nodes, edges)
    order = sorted(range(len(nodes)), key=lambda i: (layer[nodes[i][0]], i))
    head = budget - budget // 2
    keep_idx = set(order[:head]) | set(order[len(order) - budget // 2:])
    folded_idx = [i for i in order if i not in keep_idx]
    folded = [nodes[i][0] for i in folded_idx]
    gone = set(folded)

    def first_word(i: int) -> str:
        lines = list(nodes[i][1])
        return (lines[0].split() or ["?"])[0] if lines else "?"

    label = [f"⋯ {len(folded)} nodes folded ⋯",
             name_ranges([first_word(i) for i in folded_idx])]
    out_nodes: list[Node] = []
    placed = False
    for i in order:  # keep the drawing order topological: prefix, fold, suffix
        if i in keep_idx:
            out_nodes.append(nodes[i])
        elif not placed:
            out_nodes.append((FOLD, label))
            placed = True
    out_edges: list[Edge] = []
    seen: set[Edge] = set()
    for src, dst in edges:
        e = (FOLD if src in gone else src, FOLD if dst in gone else dst)
        if e[0] == e[1] or e in seen:
            continue
        seen.add(e)
        out_edges.append(e)
    return out_nodes, out_edges, folded


def name_ranges(names: Sequence[str], parts: int = 4) -> str:
    """Names written as runs of consecutive numbers: ``v13…v22, v41…v51``.

    At most ``parts`` runs are listed; the rest are counted.

    Examples
    --------
    >>> name_ranges(["v3", "v4", "v5", "v9", "x", "v-1", "v0"])
    'v-1…v0, v3…v5, v9, x'
    >>> name_ranges([f"v{k}" for k in range(0, 20, 2)], parts=3)
    'v0, v2, … (8 more)'
    """
    import re

    keyed = []
    for n in dict.fromkeys(names):
        m = re.fullmatch(r"(.*?)(-?\d+)", n)
        keyed.append((m.group(1), int(m.group(2)), n) if m else (n, None, n))
    keyed.sort(key=lambda t: (t[0], -1e18 if t[1] is None else t[1]))
    runs: list[list[tuple[str, Any, str]]] = []
    for item in keyed:
        prev = runs[-1][-1] if runs else None
        if (prev is not None and item[1] is not None and prev[1] is not None
                and prev[0] == item[0] and item[1] == prev[1] + 1):
            runs[-1].append(item)
        else:
            runs.append([item])
    texts = [r[0][2] if len(r) == 1 else f"{r[0][2]}…{r[-1][2]}" for r in runs]
    if len(texts) > parts:
        return ", ".join(texts[:parts - 1]) + f", … ({len(texts) - parts + 1} more)"
    return ", ".join(texts)


# ----------------------------------------------------------------------------- layout


@dataclass
class Layout:
    """Where every box and edge goes, in points at the nominal font size.

    Attributes
    ----------
    direction : {"LR", "TB"}
        Layers left to right or top to bottom.
    boxes : dict
        key -> ``(x0, y0, width, height)`` of the node's box (y grows upwards).
    labels : dict
        key -> the wrapped text drawn in the box.
    routes : dict
        ``(source, target)`` -> list of ``(x, y)`` points from the source's box edge to the
        target's, through every layer the edge skips.
    width, height : float
        Extent of the drawing (boxes and edges), margins included.
    fontsize : float
    folded : list
        Keys of the nodes :func:`fold` left out.
    nodes : int
        Boxes drawn (the fold's box included).
    bands : int
        Bands the layers wrap into (1: none).
    layer : dict
        key -> the layer the node is drawn in: a topological generation, pushed later when
        every reader of the node is later.
    """

    direction: str
    boxes: dict[Hashable, tuple[float, float, float, float]]
    labels: dict[Hashable, str]
    routes: dict[Edge, list[tuple[float, float]]]
    width: float
    height: float
    fontsize: float
    folded: list[Hashable] = field(default_factory=list)
    nodes: int = 0
    bands: int = 1
    layer: dict[Hashable, int] = field(default_factory=dict)


def wrap_label(lines: Sequence[str], width: int = WRAP) -> str:
    """The node's text with every line longer than ``width`` wrapped (never cut).

    Lines break at spaces; a word longer than ``width`` breaks inside; continuation lines are
    indented by two spaces.

    Examples
    --------
    >>> print(wrap_label(["v11 = v10 - array[8] + v9 * v8 + v7", "value 1.5"], 20))
    v11 = v10 - array[8]
      + v9 * v8 + v7
    value 1.5
    """
    out: list[str] = []
    for line in lines:
        line = str(line)
        if len(line) <= width:
            out.append(line)
            continue
        out += textwrap.wrap(line, width=width, subsequent_indent="  ",
                             break_on_hyphens=False, drop_whitespace=True) or [line]
    return "\n".join(out)


class _Measure:
    """Text extents in points, from matplotlib's own renderer (the one that draws them)."""

    def __init__(self, fontsize: float) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.text import Text

        self.fig = Figure(dpi=72)  # 1 pixel = 1 point
        self.renderer = FigureCanvasAgg(self.fig).get_renderer()
        self.text = Text(0, 0, "", fontsize=fontsize, ha="center", va="center",
                         multialignment="center", figure=self.fig)
        self.cache: dict[str, tuple[float, float]] = {}

    def __call__(self, s: str) -> tuple[float, float]:
        if s not in self.cache:
            self.text.set_text(s)
            bb = self.text.get_window_extent(self.renderer)
            self.cache[s] = (float(bb.width), float(bb.height))
        return self.cache[s]


def _crossings(upper: list[int], lower: list[int], down: list[list[int]]) -> int:
    pos = {v: i for i, v in enumerate(lower)}
    ends = [pos[c] for u in upper for c in sorted(down[u], key=pos.__getitem__) if c in pos]
    # inversions of the lower ends in the upper order = crossings between the two layers
    count = 0
    for i in range(len(ends)):
        for j in range(i + 1, len(ends)):
            if ends[j] < ends[i]:
                count += 1
    return count


def _isotonic(target: list[float], sep: list[float]) -> list[float]:
    """Positions ``p`` closest to ``target`` (least squares) with ``p[i+1] - p[i] >= sep[i]``.

    With ``c[i] = sep[0] + ... + sep[i-1]`` and ``q = p - c`` the constraint is ``q``
    non-decreasing: isotonic regression of ``target - c``, solved by pooling adjacent
    violators.
    """
    if not target:
        return []
    c = [0.0]
    for s in sep:
        c.append(c[-1] + s)
    blocks: list[list[float]] = []  # [mean, weight, count]
    for t, ci in zip(target, c, strict=True):
        blocks.append([t - ci, 1.0, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    q: list[float] = []
    for m, _, n in blocks:
        q += [m] * int(n)
    return [qi + ci for qi, ci in zip(q, c, strict=True)]


def layout(nodes: Sequence[Node], edges: Sequence[Edge], *, fontsize: float = 8.0,
           direction: str = "auto", max_nodes: int | None = MAX_NODES, wrap: int = WRAP,
           page: tuple[float, float] | None = None, bands: int | str = "auto") -> Layout:
    """A layered drawing of the graph: boxes, wrapped labels and edge routes, in points.

    Parameters
    ----------
    nodes, edges : sequences
        ``(key, lines)`` nodes in topological order and ``(source, target)`` edges.
    fontsize : float
        The size the text is measured at (the layout's unit is one point at this size).
    direction : {"auto", "LR", "TB"}
        Layers left to right or top to bottom; ``"auto"`` takes left to right when it fits
        on ``page``, else top to bottom when that fits, else whichever fits better.
    max_nodes : int or None
        Fold the middle of larger graphs into one box (:func:`fold`); None draws every node.
    wrap : int
        Characters per line before a label wraps.
    page : (width, height) in points, optional
        The space the drawing should fit (default 16 x 14 inches).
    bands : int or "auto"
        A deep graph's layers can wrap into bands the way text wraps into lines (columns
        side by side for top to bottom, rows for left to right); edges from one band to the
        next run in channels around the bands. ``"auto"``: one band when the drawing fits on
        ``page``, else the number (up to 8) that fits it best.

    Returns
    -------
    Layout

    Examples
    --------
    >>> from diffkit import graph
    >>> lay = graph.layout([(0, ["x"]), (1, ["sin(x)"])], [(0, 1)])
    >>> lay.direction, lay.bands, sorted(lay.boxes), len(lay.routes[(0, 1)])
    ('LR', 1, [0, 1], 2)
    """
    if direction not in ("auto", "LR", "TB"):

        raise UnknownMethodError(f"draw(direction={direction!r}): choose 'auto', 'LR' (layers "
                                 f"left to right) or 'TB' (top to bottom)")
    if bands != "auto" and (not isinstance(bands, int) or bands < 1):

        raise UnknownMethodError(f"draw(bands={bands!r}): choose 'auto' or a number of bands "
                                 f">= 1")
    nodes, edges, folded = fold(nodes, edges, max_nodes)
    measure = _Measure(fontsize)
    labels = {k: wrap_label(lines, wrap) for k, lines in nodes}
    if folded:
        labels[FOLD] += "\nmax_nodes=None draws all"
    pad = _PAD * fontsize
    sizes = {}
    for k, text in labels.items():
        w, h = measure(text)
        sizes[k] = (w * _SLACK + 2 * pad, h * _SLACK + pad * 1.2)
    page = page or _PAGE
    directions = ("LR", "TB") if direction == "auto" else (direction,)
    skeletons = {d: _Skeleton(nodes, edges, sizes, d) for d in directions}
    if bands != "auto":
        candidates = [skeletons[d].realize(bands, labels, fontsize, folded) for d in directions]
        return max(candidates, key=lambda lay: _scale(lay, page))
    singles = [skeletons[d].realize(1, labels, fontsize, folded) for d in directions]
    for lay in singles:  # one band, left to right first: the picture people expect
        if lay.width <= page[0] and lay.height <= page[1]:
            return lay
    best = max(singles, key=lambda lay: _scale(lay, page))
    for d in directions:
        for nb in range(2, min(8, skeletons[d].nlayers) + 1):
            lay = skeletons[d].realize(nb, labels, fontsize, folded)
            if _scale(lay, page) > 1.1 * _scale(best, page):  # a band must earn its jumps
                best = lay
    return best


class _Skeleton:
    """The layered graph of one direction: layers, placeholders, order, coordinates.

    Coordinates are abstract: ``across`` runs with the layers (x for LR, down for TB),
    ``along`` runs within a layer (down for LR, x for TB).
    """

    def __init__(self, nodes: Sequence[Node], edges: Sequence[Edge],
                 sizes: dict[Hashable, tuple[float, float]], direction: str) -> None:
        self.direction = direction
        self.keys = keys = [k for k, _ in nodes]
        layer_of = drawing_layers(nodes, edges)
        self.layer_of = layer_of
        self.nlayers = nlayers = 1 + max(layer_of.values(), default=0)
        # real nodes 0..n-1, then one placeholder per layer an edge skips
        index = {k: i for i, k in enumerate(keys)}
        self.lay = lay = [layer_of[k] for k in keys]
        up: list[list[int]] = [[] for _ in keys]
        down: list[list[int]] = [[] for _ in keys]
        self.chains: dict[Edge, list[int]] = {}
        for src, dst in edges:
            a, b = index[src], index[dst]
            chain = [a]
            for lvl in range(lay[a] + 1, lay[b]):
                lay.append(lvl)
                up.append([])
                down.append([])
                chain.append(len(lay) - 1)
            chain.append(b)
            for u, v in itertools.pairwise(chain):
                down[u].append(v)
                up[v].append(u)
            self.chains[(src, dst)] = chain
        self.n_real = n_real = len(keys)
        along_i, across_i = (1, 0) if direction == "LR" else (0, 1)
        self.along = along = [sizes[k][along_i] for k in keys] + [_DUMMY] * (len(lay) - n_real)
        across = [sizes[k][across_i] for k in keys]
        self.order = self._order(up, down)
        self.coord = self._coordinates(up, down, along)
        # every box of a layer is as deep as the layer's deepest: edges start clean
        self.depth = [0.0] * nlayers
        for v in range(n_real):
            self.depth[lay[v]] = max(self.depth[lay[v]], across[v])
        self.gap = _GAP_ACROSS[direction]

    def _order(self, up: list[list[int]], down: list[list[int]]) -> list[list[int]]:
        """Order within layers: barycentre sweeps, keeping the order with fewest crossings."""
        lay, nlayers = self.lay, self.nlayers
        order: list[list[int]] = [[] for _ in range(nlayers)]
        for v in range(len(lay)):
            order[lay[v]].append(v)

        def sweep(levels: range, nbrs: list[list[int]], step: int) -> None:
            for lvl in levels:
                pos = {v: i for i, v in enumerate(order[lvl - step])}
                here = {v: i for i, v in enumerate(order[lvl])}

                def bary(v: int, pos: dict[int, int] = pos, here: dict[int, int] = here
                         ) -> float:
                    ps = [pos[p] for p in nbrs[v] if p in pos]
                    return sum(ps) / len(ps) if ps else float(here[v])

                order[lvl] = sorted(order[lvl], key=bary)

        def total() -> int:
            return sum(_crossings(order[lvl], order[lvl + 1], down)
                       for lvl in range(nlayers - 1))

        best, best_order = total(), [list(o) for o in order]
        for _ in range(6):
            if best == 0:
                break
            sweep(range(1, nlayers), up, 1)
            sweep(range(nlayers - 2, -1, -1), down, -1)
            score = total()
            if score < best:
                best, best_order = score, [list(o) for o in order]
        return best_order

    def _seps(self, lvl: int) -> list[float]:
        o, along, n = self.order[lvl], self.along, self.n_real
        return [(along[a] + along[b]) / 2 + _GAP_ALONG * (0.5 if a >= n or b >= n else 1.0)
                for a, b in itertools.pairwise(o)]

    def _coordinates(self, up: list[list[int]], down: list[list[int]],
                     along: list[float]) -> list[float]:
        """Along each layer: closest to the neighbours' mean, boxes never overlapping."""
        coord = [0.0] * len(self.lay)
        for lvl in range(self.nlayers):
            for v, c in zip(self.order[lvl],
                            _isotonic([0.0] * len(self.order[lvl]), self._seps(lvl)),
                            strict=True):
                coord[v] = c
        for it in range(8):
            nbrs, levels = (up, range(1, self.nlayers)) if it % 2 == 0 else \
                (down, range(self.nlayers - 2, -1, -1))
            for lvl in levels:
                target = []
                for v in self.order[lvl]:
                    ps = [coord[p] for p in nbrs[v]]
                    target.append(sum(ps) / len(ps) if ps else coord[v])
                for v, c in zip(self.order[lvl], _isotonic(target, self._seps(lvl)),
                                strict=True):
                    coord[v] = c
        return coord

    def realize(self, nbands: int, labels: dict[Hashable, str], fontsize: float,
                folded: list[Hashable]) -> Layout:
        """Boxes and routes with the layers wrapped into ``nbands`` bands."""
        lay, coord, along, depth, gap = self.lay, self.coord, self.along, self.depth, self.gap
        nlayers, n_real = self.nlayers, self.n_real
        nbands = max(1, min(nbands, nlayers))
        # split the layers into bands of about equal depth
        total = sum(depth) + gap * (nlayers - 1)
        band_of_layer = []
        acc = 0.0
        for lvl in range(nlayers):
            b = min(int(acc / total * nbands), nbands - 1) if total > 0 else 0
            if band_of_layer and b < band_of_layer[-1]:
                b = band_of_layer[-1]
            band_of_layer.append(b)
            acc += depth[lvl] + gap
        nbands = band_of_layer[-1] + 1
        first = {}
        for lvl, b in enumerate(band_of_layer):
            first.setdefault(b, lvl)
        start = [0.0] * nlayers  # across, from the top of the layer's band
        for lvl in range(nlayers):
            if lvl > 0 and band_of_layer[lvl] == band_of_layer[lvl - 1]:
                start[lvl] = start[lvl - 1] + depth[lvl - 1] + gap
        band_depth = [0.0] * nbands
        for lvl in range(nlayers):
            b = band_of_layer[lvl]
            band_depth[b] = max(band_depth[b], start[lvl] + depth[lvl])
        band = [band_of_layer[lay[v]] for v in range(len(lay))]
        lo = [min((coord[v] - along[v] / 2 for v in range(len(lay)) if band[v] == b),
                  default=0.0) for b in range(nbands)]
        hi = [max((coord[v] + along[v] / 2 for v in range(len(lay)) if band[v] == b),
                  default=0.0) for b in range(nbands)]
        # the edges that jump from the end of one band to the start of the next, in lanes
        jumps: dict[int, list[tuple[int, int]]] = {}
        for chain in self.chains.values():
            for u, w in itertools.pairwise(chain):
                if band[u] != band[w]:
                    jumps.setdefault(band[u], []).append((u, w))
        lane_of: dict[tuple[int, int], int] = {}
        for hops in jumps.values():
            for i, hop in enumerate(sorted(set(hops), key=lambda h: -coord[h[0]])):
                lane_of[hop] = i
        lanes = max((len(set(h)) for h in jumps.values()), default=0)
        channel = lanes * _LANE
        top = channel + gap / 2 if nbands > 1 else 0.0  # the channel above every band
        offset = []  # along, where each band starts
        pos = 0.0
        for b in range(nbands):
            offset.append(pos)
            pos += hi[b] - lo[b] + _GAP_ALONG + len(set(jumps.get(b, []))) * _LANE + \
                _GAP_ALONG
        span_along = pos - 2 * _GAP_ALONG - len(set(jumps.get(nbands - 1, []))) * _LANE
        bottom = top + max(band_depth) + gap / 2  # the channel below every band
        span_across = bottom + channel if nbands > 1 else max(band_depth)

        def c_of(v: int) -> float:
            return coord[v] - lo[band[v]] + offset[band[v]]

        def a_start(v: int) -> float:
            return top + start[lay[v]]

        def a_end(v: int) -> float:
            return top + start[lay[v]] + depth[lay[v]]

        def point(a: float, c: float) -> tuple[float, float]:
            """(across, along) -> (x, y) with y up: LR runs x right, TB runs y down."""
            if self.direction == "LR":
                return (_MARGIN + a, _MARGIN + span_along - c)
            return (_MARGIN + c, _MARGIN + span_across - a)

        boxes = {}
        for v, k in enumerate(self.keys):
            c0 = c_of(v) - along[v] / 2
            (x0, y0), (x1, y1) = point(a_start(v), c0), point(a_end(v), c0 + along[v])
            boxes[k] = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))

        # ports: spread the edges over each box side, ordered by where they go next
        out_ports: dict[int, list[Edge]] = {}
        in_ports: dict[int, list[Edge]] = {}
        for e, chain in self.chains.items():
            out_ports.setdefault(chain[0], []).append(e)
            in_ports.setdefault(chain[-1], []).append(e)
        shift: dict[tuple[Edge, int], float] = {}
        for ports, nxt, which in ((out_ports, 1, 0), (in_ports, -2, 1)):
            for v, es in ports.items():
                es = sorted(es, key=lambda e, n=nxt: c_of(self.chains[e][n]))
                m = len(es)
                for j, e in enumerate(es):
                    frac = 0.0 if m == 1 else (j / (m - 1) - 0.5) * min(0.7, 0.25 * (m - 1))
                    shift[(e, which)] = frac * along[v]
        routes = {}
        for e, chain in self.chains.items():
            pts = [(a_end(chain[0]), c_of(chain[0]) + shift[(e, 0)])]
            for u, w in itertools.pairwise(chain):
                last = w == chain[-1]
                entry = (a_start(w), c_of(w) + (shift[(e, 1)] if last else 0.0))
                if band[u] != band[w]:  # down to the channel below, across, up, in
                    i = lane_of[(u, w)]
                    below = bottom + (i + 0.5) * _LANE
                    side = offset[band[u]] + hi[band[u]] - lo[band[u]] + _GAP_ALONG + \
                        (i + 0.5) * _LANE
                    above = top - gap / 2 - (i + 0.5) * _LANE
                    pts += [(below, pts[-1][1]), (below, side), (above, side),
                            (above, entry[1])]
                pts.append(entry)
                if not last:  # through the placeholder's layer
                    pts.append((a_end(w), entry[1]))
            routes[e] = [point(a, c) for a, c in pts]
        if self.direction == "LR":
            width, height = span_across + 2 * _MARGIN, span_along + 2 * _MARGIN
        else:
            width, height = span_along + 2 * _MARGIN, span_across + 2 * _MARGIN
        return Layout(self.direction, boxes, labels, routes, width, height, fontsize, folded,
                      n_real, nbands, dict(self.layer_of))


def positions(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[Hashable, tuple[float, float]]:
    """``(layer, height)`` of every node in the left-to-right layout, unfolded and unwrapped:
    x is the layer the node is drawn in, y the centre of its box in units of the tallest box
    (0 at the middle of the drawing)."""
    lay = layout(nodes, edges, direction="LR", max_nodes=None, bands=1)
    unit = max((b[3] for b in lay.boxes.values()), default=1.0) or 1.0
    mid = lay.height / 2
    return {k: (float(lay.layer[k]), (b[1] + b[3] / 2 - mid) / unit)
            for k, b in lay.boxes.items()}


# ----------------------------------------------------------------------------- drawing


def _scaled_text_class() -> type:
    from matplotlib.text import Text

    class ScaledText(Text):
        """Text whose size follows the data scale, so it stays inside its box however the
        axes are resized after drawing (the boxes are data-sized patches)."""

        def __init__(self, *args: Any, size_data: float, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.size_data = size_data

        def draw(self, renderer: Any) -> None:
            if self.axes is not None:
                t = self.axes.transData
                x0, y0 = t.transform((0.0, 0.0))
                x1, y1 = t.transform((1.0, 1.0))
                px_per_unit = min(abs(x1 - x0), abs(y1 - y0))
                dpi = self.figure.dpi if self.figure is not None else 72.0
                self.set_fontsize(max(self.size_data * px_per_unit * 72.0 / dpi, 0.1))
            super().draw(renderer)

    return ScaledText


def check_axes(ax: Any, who: str) -> None:
    """``ax`` is one cartesian matplotlib Axes, or a :class:`SpecError` naming what it is
    (a Figure, an array of Axes from ``plt.subplots(2)``, a polar Axes)."""
    from matplotlib.axes import Axes

    from .spec import SpecError

    if isinstance(ax, Axes) and getattr(ax, "name", "rectilinear") == "rectilinear":
        return
    what = type(ax).__name__
    if isinstance(ax, Axes):
        hint = f"a {ax.name} Axes; pass a cartesian one (plt.subplots())"
    elif what == "Figure" or hasattr(ax, "add_subplot"):
        hint = "a Figure; pass one of its Axes (fig.add_subplot(), or ax of fig, ax = plt.subplots())"
    elif hasattr(ax, "__len__") and not isinstance(ax, str):
        hint = f"{what} of {len(ax)}; pass one Axes of it (axs[0], from fig, axs = plt.subplots(n))"
    else:
        hint = f"a {what} ({ax!r:.40}); pass a matplotlib Axes (fig, ax = plt.subplots())"
    raise SpecError(f"{who}(ax=...): ax is {hint}, or leave ax=None for a new figure")


def draw(nodes: Sequence[Node], edges: Sequence[Edge], ax: Any = None, *,
         title: str | None = None, fontsize: float = 8.0,
         highlight: Sequence[Hashable] = (), max_nodes: int | None = MAX_NODES,
         direction: str = "auto", wrap: int = WRAP) -> Any:
    """Draw the graph as layered boxes and arrows; return the matplotlib Axes.

    Every box is sized to its text (long lines wrap, nothing is cut), boxes never overlap,
    edges end in arrowheads at their target and pass between layers, never across a box.
    Without ``ax`` the figure is sized to the graph (text at ``fontsize``); with ``ax`` the
    drawing is scaled to fit it, and when the text would drop below 5 points the middle of
    the graph is folded further so what is drawn stays readable.

    Parameters
    ----------
    nodes, edges : sequences
        ``(key, lines)`` nodes in topological order and ``(source, target)`` edges.
    ax : matplotlib Axes, optional
        Where to draw; a new pyplot figure sized to the graph when omitted (``"figure"``: a
        figure made without pyplot, see :func:`figure`).
    title : str, optional
        On a new figure, a note on what was folded is added to it (in a given Axes the
        fold's box says it, and the title stays one line).
    fontsize : float
    highlight : keys
        Nodes drawn with a stronger outline (e.g. the output).
    max_nodes : int or None
        Graphs with more nodes have their middle folded into one box (:func:`fold`);
        None draws every node.
    direction : {"auto", "LR", "TB"}
        Layers left to right or top to bottom (see :func:`layout`).
    wrap : int
        Characters per line before a label wraps.

    Returns
    -------
    matplotlib.axes.Axes
        Each box is a patch with gid ``"node:<key>"``, its text has the same gid; edges are
        patches with gid ``"edge"``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from diffkit import graph
    >>> ax = graph.draw([(0, ["x"]), (1, ["sin(x)"])], [(0, 1)])
    >>> [t.get_text() for t in ax.texts if t.get_text()]
    ['x', 'sin(x)']
    """
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 2):

        raise UnknownMethodError(f"draw(max_nodes={max_nodes!r}): must be an integer >= 2, "
                                 f"or None to draw every node")
    if ax is None or (isinstance(ax, str) and ax == "figure"):
        lay = layout(nodes, edges, fontsize=fontsize, direction=direction,
                     max_nodes=max_nodes, wrap=wrap)
        heading = _heading(title, lay, len(nodes))
        head_w, head_h = _Measure(fontsize + 1)(heading) if heading else (0.0, 0.0)
        head = head_h + 10.0 if heading else 0.0
        width = max(lay.width, head_w + 2 * _MARGIN, 72.0)
        size = (width / 72.0, (lay.height + head) / 72.0)
        if ax is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=size)
        else:
            from matplotlib.figure import Figure

            fig = Figure(figsize=size)
        ax = fig.add_axes((0.0, 0.0, 1.0, lay.height / (lay.height + head)))
        box = (width, lay.height)
    else:
        check_axes(ax, "draw")
        bb = ax.get_window_extent()
        dpi = ax.figure.dpi
        box = (bb.width * 72.0 / dpi, bb.height * 72.0 / dpi)
        lay = layout(nodes, edges, fontsize=fontsize, direction=direction,
                     max_nodes=max_nodes, wrap=wrap, page=box)
        budget = len(nodes) if max_nodes is None else min(max_nodes, len(nodes))
        while _scale(lay, box) * fontsize < _MIN_FONT and budget > 4 and lay.nodes > 4:
            budget = max(4, int(budget * 0.7))
            lay = layout(nodes, edges, fontsize=fontsize, direction=direction,
                         max_nodes=budget, wrap=wrap, page=box)
        heading = title or ""  # the fold's box says what it hides: the title stays one line
    _render(ax, lay, box, set(highlight), fontsize)
    if heading:
        ax.set_title(heading, fontsize=fontsize + 1)
    return ax


def figure(nodes: Sequence[Node], edges: Sequence[Edge], **kwargs: Any) -> Any:
    """:func:`draw` on a new figure sized to the graph, made without pyplot (for scripts
    that save it: ``graph.figure(nodes, edges).savefig("dag.png")``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return draw(nodes, edges, ax="figure", **kwargs).figure


def _heading(title: str | None, lay: Layout, n: int) -> str:
    """The title, and what was folded: a picture never leaves nodes out in silence."""
    note = ""
    if lay.folded:
        note = (f"{len(lay.folded)} of {n} nodes folded into one box "
                f"(max_nodes=None draws all)")
    lines = [t for t in (title, note) if t]
    return wrap_label("\n".join(lines).splitlines(), 100) if lines else ""


def _scale(lay: Layout, box: tuple[float, float]) -> float:
    return min(box[0] / lay.width, box[1] / lay.height)


def _render(ax: Any, lay: Layout, box: tuple[float, float], strong: set[Hashable],
            fontsize: float) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    scale = min(_scale(lay, box), 1.5)  # fill the axes, but never blow small graphs up
    w, h = box[0] / scale, box[1] / scale
    cx, cy = lay.width / 2, lay.height / 2
    ax.set_xlim(cx - w / 2, cx + w / 2)
    ax.set_ylim(cy - h / 2, cy + h / 2)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_axis_off()
    text_cls = _scaled_text_class()
    rounding = 0.35 * fontsize
    for key, (x0, y0, bw, bh) in lay.boxes.items():
        folded = key == FOLD
        hi = key in strong
        patch = FancyBboxPatch(
            (x0, y0), bw, bh, boxstyle=f"round,pad=0,rounding_size={rounding}",
            facecolor="#f2f2f2" if folded else ("#fff4d6" if hi else "#eef3fb"),
            edgecolor="#888888" if folded else ("#b5651d" if hi else "#4a6fa5"),
            linewidth=1.6 if hi else 0.9, linestyle="--" if folded else "-", zorder=3)
        patch.set_gid(f"node:{key}")
        ax.add_patch(patch)
        text = text_cls(x0 + bw / 2, y0 + bh / 2, lay.labels[key], size_data=fontsize,
                        ha="center", va="center", multialignment="center",
                        fontsize=fontsize * scale, zorder=4,
                        color="#555555" if folded else "black")
        text.set_gid(f"node:{key}")
        ax.add_artist(text)
    across = 0 if lay.direction == "LR" else 1
    for pts in lay.routes.values():
        verts = [pts[0]]
        codes = [Path.MOVETO]
        for p, q in itertools.pairwise(pts):
            if p[across] == q[across]:  # through a skipped layer: straight
                verts.append(q)
                codes.append(Path.LINETO)
                continue
            half = (q[across] - p[across]) / 2  # an S-curve leaving and entering square on
            c1 = (p[0] + half, p[1]) if across == 0 else (p[0], p[1] + half)
            c2 = (q[0] - half, q[1]) if across == 0 else (q[0], q[1] - half)
            verts += [c1, c2, q]
            codes += [Path.CURVE4] * 3
        arrow = FancyArrowPatch(path=Path(verts, codes), arrowstyle="-|>",
                                mutation_scale=max(6.0, 9.0 * scale), color="#555555",
                                linewidth=0.9, shrinkA=0, shrinkB=0, zorder=2)
        arrow.set_gid("edge")
        ax.add_patch(arrow)
