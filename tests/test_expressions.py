"""Expression metrics by memoised DAG walks, pinned by hand counts and against sympy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import diffkit as dk
from diffkit.analysis.expressions import ExpressionError, cse, expression_metrics, measure
from diffkit.catalog import logistic

x, y = sympy.symbols("x y")

# expression -> (tree_size, dag_size, ops, cse_ops, depth, max_coef_bits), counted by hand:
HAND = [
    # Add(Mul(sin(x), x), x): nodes Add, Mul, sin, x, x, x; ops: *, +, sin
    (sympy.sin(x) * x + x, (6, 4, 3, 3, 3, 0)),
    # Add(x, Mul(-1, y)): one subtraction
    (x - y, (5, 5, 1, 1, 2, 1)),
    # Mul(2, Pow(x, -1)): one division; the integer 2 has 2 bits
    (2 / x, (5, 5, 1, 1, 2, 2)),
    # Mul(-1, x): one negation
    (-x, (3, 3, 1, 1, 1, 1)),
    # Pow(Add(x, 1), 2): an addition and a power
    ((x + 1) ** 2, (5, 5, 2, 2, 2, 2)),
    # Mul(Add(1, Mul(-1, sin(x))), sin(x)): the tree holds sin(x) twice (9 nodes), the DAG
    # once (7); ops: sin twice, -, * in the tree; sin once, -, * after CSE
    (sympy.sin(x) * (1 - sympy.sin(x)), (9, 7, 4, 3, 4, 1)),
]


@pytest.mark.parametrize(("expr", "want"), HAND, ids=[str(e) for e, _ in HAND])
def test_hand_counts(expr, want):
    m = measure(expr)
    assert (m.tree_size, m.dag_size, m.ops, m.cse_ops, m.depth, m.max_coef_bits) == want


@pytest.mark.parametrize("n", [2, 4, 6])
def test_tree_and_dag_sizes_agree_with_sympy_traversal(n):
    f = logistic(n).function
    for expr in (dk.methods.Symbolic().expression(f),
                 dk.methods.Symbolic(strategy="tree").derivative_expression(f)):
        m = measure(expr)
        nodes = list(sympy.preorder_traversal(expr))
        assert m.tree_size == len(nodes)
        assert m.dag_size == len(set(nodes))


def test_logistic_map_figures_of_anchors():
    """ANCHORS.md's symbolic table (tree and DAG sizes of l and of sympy.diff's dl/dx)."""
    for n, want in {4: (38, 13, 166, 26), 8: (638, 25, 10946, 72)}.items():
        f = logistic(n).function
        mf = expression_metrics(f)
        md = expression_metrics(f, derivative=True, strategy="tree")
        assert (mf.tree_size, mf.dag_size, md.tree_size, md.dag_size) == want
        assert mf.cse_ops == 3 * (n - 1)  # l <- 4 l (1 - l): a subtraction, two products


@pytest.mark.parametrize("n", [2, 8, 20])
def test_dag_strategy_meets_the_cheap_gradient_bound(n):
    f = logistic(n).function
    mf = expression_metrics(f)
    md = expression_metrics(f, derivative=True, strategy="dag")
    assert md.cse_ops <= 3 * mf.cse_ops
    assert md.dag_size <= 3 * mf.dag_size


def test_cse_program_evaluates_to_the_expression():
    exprs = [sympy.sin(x) * (1 - sympy.sin(x)) / (x + y), -x - y + 3 * x * y,
             sympy.Piecewise((x**2, x > y), (y, True)), 2 / (x * y)]
    replacements, reduced = cse(exprs)
    fn = sympy.lambdify([x, y], reduced, cse=lambda e: (replacements, e))
    for point in [(0.3, 1.7), (2.5, -0.4)]:
        want = [float(e.subs({x: point[0], y: point[1]})) for e in exprs]
        np.testing.assert_allclose(fn(*point), want, rtol=1e-14)


def test_several_roots_share_one_dag():
    s = sympy.sin(x)
    one = measure(s * x)
    both = measure([s * x, s * y])
    assert both.tree_size == 2 * one.tree_size
    assert both.dag_size == 5  # x, y, sin(x) (once) and the two products
    assert both.cse_ops == 3  # sin(x) once, two products


def test_expanded_form_is_table1_simplified_column():
    m = expression_metrics(logistic(3).function, derivative=True, form="expanded")
    # 16 - 160 x + 384 x**2 - 256 x**3: Add of 4 terms; coefficient 384 has 9 bits
    assert m.status == "ok"
    assert m.form == "expanded"
    assert m.max_coef_bits == 9
    assert m.tree_size == 1 + 1 + 3 + 5 + 5


def test_expanded_form_reports_a_timeout_instead_of_hanging():
    m = expression_metrics(logistic(16).function, derivative=True, form="expanded",
                           time_limit=0.05)
    assert m.status == "timeout after 0.05 s"
    assert m.tree_size == -1


def test_engines_agree():
    pytest.importorskip("symengine")
    f = logistic(6).function
    a = expression_metrics(f, derivative=True, strategy="tree")
    b = expression_metrics(f, derivative=True, strategy="tree", engine="symengine")
    assert (a.tree_size, a.dag_size, a.depth) == (b.tree_size, b.dag_size, b.depth)


def test_bad_arguments():
    f = logistic(3).function
    with pytest.raises(ExpressionError, match="form='factored'"):
        expression_metrics(f, form="factored")
    with pytest.raises(ExpressionError, match="engine='maple'"):
        expression_metrics(f, engine="maple")
    with pytest.raises(ExpressionError, match="time_limit=0"):
        expression_metrics(f, form="expanded", time_limit=0)
    with pytest.raises(ExpressionError, match="pass a Function"):
        expression_metrics(x * y, derivative=True)
    with pytest.raises(dk.UnknownMethodError, match="strategy='wide'"):
        expression_metrics(f, derivative=True, strategy="wide")
