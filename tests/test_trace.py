"""dk.trace: Baydin et al. (2018) Table 3 pinned, graph text and pictures, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog, graph


def f(x1, x2):
    return dnp.log(x1) + x1 * x2 - dnp.sin(x2)


FORWARD = """\
Forward primal trace
v-1 = x1          = 2
v0  = x2          = 5
v1  = log(v-1)    = 0.6931
v2  = v-1 * v0    = 10
v3  = sin(v0)     = -0.9589
v4  = v1 + v2     = 10.69
v5  = v4 - v3     = 11.65
y   = v5          = 11.65"""

REVERSE = """\
Reverse adjoint trace
v̄5  = ȳ                    = 1
v̄4  = v̄5 ∂v5/∂v4           = 1
v̄3  = v̄5 ∂v5/∂v3           = -1
v̄1  = v̄4 ∂v4/∂v1           = 1
v̄2  = v̄4 ∂v4/∂v2           = 1
v̄0  = v̄3 ∂v3/∂v0           = -0.2837
v̄-1 = v̄2 ∂v2/∂v-1          = 5
v̄0  = v̄0 + v̄2 ∂v2/∂v0      = 1.716
v̄-1 = v̄-1 + v̄1 ∂v1/∂v-1    = 5.5
x̄1  = v̄-1                  = 5.5
x̄2  = v̄0                   = 1.716"""


@pytest.fixture
def baydin():
    return dk.trace(dk.Function(f, name="f"), [2.0, 5.0])


def test_forward_table_is_baydins_table_3(baydin):
    assert baydin.forward_table() == FORWARD


def test_reverse_table_is_baydins_table_3(baydin):
    assert baydin.reverse_table() == REVERSE


def test_the_catalogue_formula_gives_the_same_tables():
    t = dk.trace(catalog.get("baydin").function, [2.0, 5.0])
    assert t.forward_table() == FORWARD
    assert t.reverse_table() == REVERSE


def test_values_adjoints_ops_and_bytes(baydin):
    values = [float(s.value) for s in baydin.steps]
    np.testing.assert_allclose(values, [2, 5, np.log(2), 10, np.sin(5), np.log(2) + 10,
                                        np.log(2) + 10 - np.sin(5)], rtol=1e-15)
    adjoints = [float(s.adjoint) for s in baydin.steps]
    np.testing.assert_allclose(adjoints, [5.5, 2 - np.cos(5), 1, 1, -1, 1, 1], rtol=1e-15)
    np.testing.assert_allclose(baydin.gradient, [5.5, 2 - np.cos(5)], rtol=1e-15)
    assert baydin.ops == 5
    assert baydin.nbytes == 2 * 8  # x1 and x2: log, sin and multiply read only them
    assert [s.op for s in baydin.steps] == ["input", "input", "log", "multiply", "sin", "add",
                                            "subtract"]
    assert baydin.steps[3].parents == [0, 1]
    assert "ops=5" in repr(baydin)


def test_dot_and_mermaid_text(baydin):
    dot = baydin.to_dot()
    assert dot.startswith("digraph f {")
    assert 'n_3 [label="v2 = v-1 * v0\\nvalue 10\\nadjoint 1"];' in dot
    assert dot.count("->") == 8
    mermaid = baydin.to_mermaid()
    assert mermaid.splitlines()[0] == "graph LR"
    assert 'n_0["v-1 = x1<br/>value 2<br/>adjoint 5.5"]' in mermaid
    assert mermaid.count("-->") == 8


def test_draw_shows_op_value_and_adjoint(baydin, tmp_path):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    out = baydin.draw(ax=ax)
    assert out is ax
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    assert "v5 = v4 - v3\nvalue 11.65\nadjoint 1" in texts
    assert "v-1 = x1\nvalue 2\nadjoint 5.5" in texts
    assert len(texts) == 7
    ax.figure.savefig(tmp_path / "baydin.png")
    assert (tmp_path / "baydin.png").stat().st_size > 1000
    assert baydin.draw().figure is not ax.figure  # a fresh figure without ax


def test_layers_are_topological_generations():
    nodes = [(k, [str(k)]) for k in range(5)]
    edges = [(0, 2), (1, 2), (2, 3), (0, 4), (3, 4)]
    assert graph.layers(nodes, edges) == {0: 0, 1: 0, 2: 1, 3: 2, 4: 3}
    pos = graph.positions(nodes, edges)
    assert pos[4][0] == 3.0
    assert pos[0][0] == 0.0


def test_values_have_four_significant_digits():
    """Not rounded to decimals: 3.6e-4 is not shown as 0 (issue 25)."""
    t = dk.trace(lambda x: x ** 3, 0.0711)
    assert t.forward_table().splitlines()[2] == "v1 = v0 ** 3    = 0.0003594"
    t = dk.trace(lambda x: x ** 3 * 1e-9 + 123456.0, 0.01)
    table = t.forward_table()
    assert "= 1e-15" in table
    assert "= 1.235e+5" in table
    assert t.forward_table(digits=2).splitlines()[-1].endswith("= 1.2e+5")
    t = dk.trace(lambda x: dnp.sum(x * 0.1234567), np.arange(6.0))
    assert "v1 = v0 * 0.1235" in t.forward_table()  # constants to 4 digits too
    assert "= array[6]" in t.forward_table()


def test_array_function_trace():
    t = dk.trace(lambda x: dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2),
                 [-1.2, 1.0, -1.2])
    np.testing.assert_allclose(t.gradient, catalog.rosenbrock(3).exact_float([-1.2, 1.0, -1.2]))
    table = t.forward_table()
    assert "v1  = v0[1:]" in table
    assert "sum(v10)" in table
    assert t.reverse_table().splitlines()[-1].startswith("x̄   = v̄0")


def test_vector_output_has_no_adjoint_table():
    t = dk.trace(lambda x: x * 2.0, [1.0, 2.0])
    assert t.gradient is None
    assert "v1 = v0 * 2" in t.forward_table()
    with pytest.raises(dk.OutputShapeError, match=r"returned shape \(2,\), not a scalar"):
        t.reverse_table()


def test_domain_error_while_tracing():
    with pytest.raises(dk.DomainError, match=r"log\(-2\.0\)"):
        dk.trace(lambda x: dnp.log(x), -2.0)


def test_a_derivative_that_is_not_finite_is_a_domain_error():
    with pytest.raises(dk.DomainError, match=r"trace\(f, x\): sqrt\(x\) at x = 0.0: "
                       r"sqrt\(0.0\) is defined but its derivative is not finite there"):
        dk.trace(dk.Function.from_expr("sqrt(x)"), 0.0)
    # plain numpy, no tracer: the warning is counted, the nan it returns is refused
    with pytest.raises(dk.NonFiniteError, match=r"trace\(f, x\): f\(x\) = nan is not finite"):
        dk.trace(lambda x: np.sqrt(np.float64(-1.0)) + x, -1.0)


def test_bad_mode():
    with pytest.raises(dk.UnknownMethodError, match=r"mode must be 'reverse' .* or 'forward'"):
        dk.trace(f, [2.0, 5.0], mode="sideways")
    with pytest.raises(dk.UnknownMethodError, match=r"pass mode='forward'"):
        dk.trace(f, [2.0, 5.0], direction=[1.0, 0.0])


def test_forward_mode_delegates_to_the_tangent_trace():
    forward = pytest.importorskip("diffkit.methods.forward")
    if not hasattr(forward, "tangent_trace"):
        pytest.skip("forward mode has no tangent_trace yet")
    t = dk.trace(f, [2.0, 5.0], mode="forward", direction=[1.0, 0.0])
    assert "5.5" in t.forward_table()


def test_trace_is_callable_after_the_module_is_imported():
    import importlib

    importlib.import_module("diffkit.trace")
    assert dk.trace(lambda x: x * x, 3.0).gradient == pytest.approx(6.0)
