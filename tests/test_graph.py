"""Graph pictures: boxes never overlap, every label fits its box, edges end in arrowheads and
never cross a box, large graphs fold and say so; checked on the layout's geometry and on the
rendered figure, for Baydin's example, an MLP loss and loops of 20 and 50 steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import graph

pytest.importorskip("matplotlib")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 2))
Y = (X[:, 0] * X[:, 1] > 0).astype(float)
P0 = RNG.normal(size=13) * 0.5


def baydin(x1, x2):
    return dnp.log(x1) + x1 * x2 - dnp.sin(x2)


def mlp_loss(p):
    """A 2-3-1 tanh network's squared error: 13 operations, arrays and constants."""
    w1, b1, w2, b2 = p[:6].reshape(2, 3), p[6:9], p[9:12], p[12]
    h = np.tanh(X @ w1 + b1)
    return np.mean((h @ w2 + b2 - Y) ** 2)


def logistic(steps):
    def f(x):
        v = x
        for _ in range(steps):
            v = 3.7 * v * (1 - v)
        return v
    f.__name__ = f"logistic{steps}"
    return f


def running_sum(x):
    s = 0.0
    for i in range(30):
        s = s + dnp.sin(x[i]) * 0.5
    return s


CASES = {
    "baydin": (dk.Function(baydin, name="baydin"), [2.0, 5.0]),
    "mlp": (mlp_loss, P0),
    "loop20": (logistic(20), 0.3),  # 60 operations: drawn whole
    "loop50": (logistic(50), 0.3),  # 150 operations: folded
    "sum30": (running_sum, np.linspace(0.0, 1.0, 30)),
}


@pytest.fixture(scope="module")
def traces():
    return {name: dk.trace(f, x) for name, (f, x) in CASES.items()}


# ----------------------------------------------------------------------------- geometry


def _overlap(a, b, tol=0.0):
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    return (ax0 < bx0 + bw - tol and bx0 < ax0 + aw - tol and ay0 < by0 + bh - tol
            and by0 < ay0 + ah - tol)


def _on_edge(p, box, tol=1e-6):
    x0, y0, w, h = box
    inside = x0 - tol <= p[0] <= x0 + w + tol and y0 - tol <= p[1] <= y0 + h + tol
    on_side = min(abs(p[0] - x0), abs(p[0] - x0 - w), abs(p[1] - y0), abs(p[1] - y0 - h))
    return inside and on_side <= tol


def check_layout(lay):
    """No two boxes overlap; every route runs from its source's edge to its target's edge,
    enters the target on the side facing the previous layer, and no segment (the rectangle
    its curve stays in) touches a third box."""
    boxes = lay.boxes
    for (ka, a), (kb, b) in itertools.combinations(boxes.items(), 2):
        assert not _overlap(a, b), (ka, kb)
    for (src, dst), pts in lay.routes.items():
        assert _on_edge(pts[0], boxes[src]), (src, dst)
        assert _on_edge(pts[-1], boxes[dst]), (src, dst)
        x0, y0, _w, h = boxes[dst]
        if lay.direction == "LR":
            assert pts[-1][0] == pytest.approx(x0)  # enters from the left
            assert pts[-2][0] < pts[-1][0]
        else:
            assert pts[-1][1] == pytest.approx(y0 + h)  # enters from the top
            assert pts[-2][1] > pts[-1][1]
        for p, q in itertools.pairwise(pts):
            seg = (min(p[0], q[0]), min(p[1], q[1]), abs(p[0] - q[0]), abs(p[1] - q[1]))
            for k, b in boxes.items():
                if k in (src, dst):
                    continue
                assert not _overlap(seg, b, tol=1e-6) or seg[2] == seg[3] == 0, \
                    (src, dst, k)
    assert 0 <= min(b[0] for b in boxes.values())
    assert max(b[0] + b[2] for b in boxes.values()) <= lay.width
    assert max(b[1] + b[3] for b in boxes.values()) <= lay.height


def _inside(inner, outer, tol=0.5):
    return (inner.x0 >= outer.x0 - tol and inner.x1 <= outer.x1 + tol
            and inner.y0 >= outer.y0 - tol and inner.y1 <= outer.y1 + tol)


def check_rendered(ax):
    """On the rendered figure: each label inside its box, boxes apart and inside the
    figure, every edge an arrow with a head."""
    fig = ax.figure
    canvas = FigureCanvasAgg(fig) if type(fig.canvas).__name__ == "FigureCanvasBase" \
        else fig.canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    patches = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("node:")}
    texts = {t.get_gid(): t for t in ax.texts if (t.get_gid() or "").startswith("node:")}
    assert patches
    assert set(patches) == set(texts)
    page = fig.bbox
    extents = {}
    for gid, patch in patches.items():
        box = patch.get_window_extent(renderer)
        text = texts[gid].get_window_extent(renderer)
        assert _inside(text, box), gid  # the label fits its box
        assert _inside(box, page), gid  # and the box the figure: nothing cut
        assert texts[gid].get_fontsize() >= 4.9, gid  # readable
        extents[gid] = (box.x0, box.y0, box.width, box.height)
    for (ga, a), (gb, b) in itertools.combinations(extents.items(), 2):
        assert not _overlap(a, b, tol=0.5), (ga, gb)
    arrows = [p for p in ax.patches if p.get_gid() == "edge"]
    assert arrows
    for arrow in arrows:
        assert type(arrow.get_arrowstyle()).__name__ == "CurveFilledB"  # "-|>": a head
    if ax.get_title():
        title = ax.title.get_window_extent(renderer)
        assert title.x0 >= page.x0 - 0.5
        assert title.x1 <= page.x1 + 0.5
        assert title.y1 <= page.y1 + 0.5
    return patches, texts


# ----------------------------------------------------------------------------- the cases


@pytest.mark.parametrize("name", list(CASES))
def test_layout_geometry(traces, name):
    nodes, edges = traces[name].graph()
    for direction in ("LR", "TB"):
        for bands in (1, 3):
            check_layout(graph.layout(nodes, edges, direction=direction, bands=bands))
    check_layout(graph.layout(nodes, edges))


@pytest.mark.parametrize("name", list(CASES))
def test_picture_sized_to_the_graph(traces, name):
    t = traces[name]
    ax = t.draw()
    patches, texts = check_rendered(ax)
    for gid, text in texts.items():
        assert text.get_fontsize() == pytest.approx(8.0, rel=0.02), gid  # nothing shrunk
    width, height = ax.figure.get_size_inches()
    assert width <= 24
    assert height <= 26
    folded = "node:('fold',)" in patches
    assert folded == (len(t.steps) > graph.MAX_NODES)
    assert ("nodes folded into one box" in ax.get_title()) == folded


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("size", [(12, 8), (9, 6), (6, 4)])
def test_picture_in_a_given_axes(traces, name, size):
    _fig, ax = plt.subplots(figsize=size)
    assert traces[name].draw(ax=ax) is ax
    check_rendered(ax)


def test_picture_survives_a_layout_engine_resizing_the_axes(traces):
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.add_subplot()
    traces["mlp"].draw(ax=ax)
    fig.set_size_inches(7, 5)  # boxes are data, the text follows the data scale
    check_rendered(ax)


def test_baydin_runs_left_to_right_and_shows_every_step(traces):
    lay = graph.layout(*traces["baydin"].graph())
    assert (lay.direction, lay.bands, lay.folded) == ("LR", 1, [])
    assert lay.labels[5] == "v4 = v1 + v2\nvalue 10.69\nadjoint 1"
    assert lay.labels[0] == "v-1 = x1\nvalue 2\nadjoint 5.5"


def test_mlp_whole_at_12_by_8_inches(traces):
    """The issue's case: 13 operations on a 12 x 8 inch figure, nothing folded or cut."""
    _fig, ax = plt.subplots(figsize=(12, 8))
    traces["mlp"].draw(ax=ax)
    patches, texts = check_rendered(ax)
    assert len(patches) == 14
    assert "folded" not in ax.get_title()
    assert min(t.get_fontsize() for t in texts.values()) >= 5.5
    shown = "\n".join(t.get_text() for t in texts.values())
    assert "v6 = array[8x2] @ v5" in shown  # a constant array, abbreviated to its shape
    assert "v11 = v10 - array[8]" in shown


def test_sixty_operations_are_drawn_whole_and_readable(traces):
    t = traces["loop20"]
    assert t.ops == 60
    lay = graph.layout(*t.graph())
    assert lay.folded == []
    assert lay.nodes == 61
    assert lay.bands > 1  # the chain wraps instead of running 50 inches long
    assert lay.width <= 16 * 72
    assert lay.height <= 14 * 72


def test_fifty_step_loop_folds_its_middle(traces):
    t = traces["loop50"]
    nodes, edges = t.graph()
    lay = graph.layout(nodes, edges)
    assert len(lay.folded) == len(nodes) - graph.MAX_NODES
    assert lay.nodes == graph.MAX_NODES + 1
    label = lay.labels[graph.FOLD]
    assert label.startswith(f"⋯ {len(lay.folded)} nodes folded ⋯")
    assert "v40…v110" in label
    check_layout(lay)
    whole = graph.layout(nodes, edges, max_nodes=None)
    assert whole.folded == []
    assert whole.nodes == len(nodes)
    check_layout(whole)


def test_a_small_axes_folds_more_and_says_so(traces):
    _fig, ax = plt.subplots(figsize=(5, 3.5))
    traces["loop20"].draw(ax=ax)
    patches, texts = check_rendered(ax)
    assert "node:('fold',)" in patches
    assert texts["node:('fold',)"].get_text().endswith("max_nodes=None draws all")
    assert ax.get_title() == "logistic20: 60 ops, value 0.6792"


def test_max_nodes_none_draws_everything(traces):
    ax = traces["loop50"].draw(max_nodes=None)
    patches, _ = check_rendered(ax)
    assert len(patches) == len(traces["loop50"].steps)
    assert "folded" not in ax.get_title()


# ----------------------------------------------------------------------------- pieces


def test_long_labels_wrap_and_are_never_cut():
    long = "v7 = " + " + ".join(f"v{k} * 0.001234" for k in range(12))
    text = graph.wrap_label([long, "value 1"], 30)
    lines = text.splitlines()
    assert all(len(line) <= 30 for line in lines)
    assert "".join(text.split()) == "".join((long + "value 1").split())
    word = "x" * 70  # a single word longer than a line breaks inside
    assert "".join(graph.wrap_label([word], 30).split()) == word
    ax = graph.draw([(0, ["x"]), (1, [long])], [(0, 1)])
    check_rendered(ax)


def test_fold_keeps_the_ends_and_redirects_edges():
    chain = [(k, [f"v{k} = op", "value 1"]) for k in range(12)]
    edges = [(k, k + 1) for k in range(11)] + [(0, 11), (2, 9)]
    nodes, new_edges, folded = graph.fold(chain, edges, 6)
    keys = [k for k, _ in nodes]
    assert keys == [0, 1, 2, graph.FOLD, 9, 10, 11]
    assert folded == [3, 4, 5, 6, 7, 8]
    assert (2, graph.FOLD) in new_edges
    assert (graph.FOLD, 9) in new_edges
    assert (0, 11) in new_edges
    assert (2, 9) in new_edges
    assert len(new_edges) == len(set(new_edges))
    assert graph.fold(chain, edges, None) == (chain, edges, [])
    assert graph.fold(chain, edges, 12)[2] == []


def test_name_ranges():
    assert graph.name_ranges(["v13", "v14", "v15", "v41", "v42"]) == "v13…v15, v41…v42"
    assert graph.name_ranges(["a", "b"]) == "a, b"


def test_bad_settings():
    with pytest.raises(dk.UnknownMethodError, match=r"direction='sideways'.*'LR'.*'TB'"):
        graph.layout([(0, ["x"])], [], direction="sideways")
    with pytest.raises(dk.UnknownMethodError, match=r"bands=0"):
        graph.layout([(0, ["x"])], [], bands=0)
    with pytest.raises(dk.UnknownMethodError,
                       match=r"max_nodes=1\): must be an integer >= 2, or None"):
        graph.draw([(0, ["x"])], [], max_nodes=1)


def test_drawing_layers_pull_late_readers_close():
    nodes = [(k, [str(k)]) for k in range(6)]
    edges = [(0, 1), (1, 2), (2, 3), (3, 5), (0, 4), (4, 5)]
    assert graph.layers(nodes, edges)[4] == 1
    assert graph.drawing_layers(nodes, edges)[4] == 3  # beside its reader, not at the top
