"""Forward-mode AD: dual numbers against exact references, tags, Hessians, the tangent trace."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.methods import forward
from diffkit.methods.forward import Dual, ForwardMode, tangent_trace


@pytest.fixture
def baydin():
    @dk.function
    def f(x1, x2):
        return dnp.log(x1) + x1 * x2 - dnp.sin(x2)

    return f


# ----------------------------------------------------------------------------- correctness


@pytest.mark.parametrize("name", catalog.names())
def test_catalogue_against_exact(name):
    entry = catalog.get(name)
    exact = entry.exact_float()
    method = "jacobian" if "vector" in entry.tags else "gradient"
    got = getattr(dk, method)(entry.function, entry.point, method="forward-mode")
    assert got.shape == exact.shape
    np.testing.assert_allclose(got, exact, rtol=1e-13, atol=1e-13)


def test_derivative_is_a_float_and_matches_exact():
    entry = catalog.get("squire-trapp@1.5")
    d = dk.derivative(entry.function, 1.5, method="forward-mode")
    assert type(d) is float
    assert d == pytest.approx(4.053427893898621, rel=1e-15)


def test_arrays_carry_a_tangent_per_element():
    x = np.array([[0.5, 1.0], [1.5, 2.0]])
    v = np.array([[1.0, 0.0], [2.0, -1.0]])
    value, tangent = forward.jvp(lambda z: dnp.sin(z) * z, x, v)
    np.testing.assert_allclose(value, np.sin(x) * x, rtol=1e-15)
    np.testing.assert_allclose(tangent, (np.cos(x) * x + np.sin(x)) * v, rtol=1e-15)
    assert tangent.shape == x.shape


def test_scalars_and_constant_outputs():
    value, tangent = forward.jvp(lambda z: dnp.exp(z), 0.0, 1.0)
    assert float(value) == 1.0
    assert float(tangent) == 1.0
    value, tangent = forward.jvp(lambda z: np.ones(3), 1.0, 1.0)  # ignores its input
    np.testing.assert_array_equal(tangent, np.zeros(3))


def test_jacobian_column_by_column_shape_and_passes():
    a = np.arange(1.0, 7.0).reshape(3, 2)
    res = ForwardMode().jacobian(lambda x: dnp.tanh(a @ x), [0.1, -0.2])
    s = 1 - np.tanh(a @ np.array([0.1, -0.2])) ** 2
    np.testing.assert_allclose(res.value, s[:, None] * a, rtol=1e-14)
    assert res.value.shape == (3, 2)
    assert res.nfev == 2  # two directional derivatives...
    assert res.info == {"passes": 1, "chunk": 2}  # ...carried by one vector pass
    scalar = ForwardMode(chunk=1).jacobian(lambda x: dnp.tanh(a @ x), [0.1, -0.2])
    assert scalar.nfev == 2  # chunk=1: one scalar pass per input coordinate
    np.testing.assert_array_equal(scalar.value, res.value)
    assert res.method == "forward-mode"


def test_module_level_operators():
    f = lambda x: dnp.sum(x**3) + x[0] * x[1]
    x = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(forward.gradient(f, x), 3 * x**2 + [2.0, 1.0, 0.0])
    np.testing.assert_allclose(forward.jacobian(lambda z: z**2, x), np.diag(2 * x))
    exact_h = np.diag(6 * x) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(forward.hessian(f, x, hessian_scheme="forward-over-forward"), exact_h)
    assert forward.derivative(lambda t: t**3, 2.0) == 12.0


def test_branches_on_values_and_comparisons_are_plain():
    def relu_ish(x):
        if x > 0:  # a comparison of a dual gives a plain bool: Python branches work
            return x**2
        return -x

    assert forward.derivative(relu_ish, 3.0) == 6.0
    assert forward.derivative(relu_ish, -3.0) == -1.0
    d = dk.derivative(lambda x: dnp.where(x < 1.0, x**3, dnp.exp(x)), 0.5, method="forward-mode")
    assert d == pytest.approx(0.75, rel=1e-15)


def test_numpy_ufuncs_reach_the_primitives():
    g = dk.gradient(lambda x: np.sum(np.sin(x) * x), [0.3, 0.4], method="forward-mode")
    x = np.array([0.3, 0.4])
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-15)


# ----------------------------------------------------------------------------- tags


def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1; untagged duals give 2
    outer = forward.derivative(lambda x: x * forward.derivative(lambda y: x + y, 1.0), 2.0)
    assert float(outer) == 1.0


def test_nested_derivatives_see_their_own_variable():
    # d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x
    outer = forward.derivative(lambda x: x * forward.derivative(lambda y: x * y, 3.0), 2.5)
    assert float(outer) == 5.0
    # d2/dx2 sin = -sin, by a pass inside a pass
    second = forward.derivative(lambda x: forward.derivative(dnp.sin, x), 0.7)
    assert float(second) == pytest.approx(-math.sin(0.7), rel=1e-15)


def test_each_pass_is_its_own_trace():
    seen = []
    forward.jvp(lambda z: seen.append(z._trace) or z, 1.0, 1.0)
    forward.jvp(lambda z: seen.append(z._trace) or z, 1.0, 1.0)
    assert seen[0] is not seen[1]
    assert seen[0].level != seen[1].level


# ----------------------------------------------------------------------------- Hessians


def rosenbrock_hessian_exact(x, dps=50):
    """The closed-form Hessian of Rosenbrock's function, evaluated in mpmath."""
    with mpmath.workdps(dps):
        v = [mpmath.mpf(float(t)) for t in x]
        n = len(v)
        h = [[mpmath.mpf(0)] * n for _ in range(n)]
        for i in range(n - 1):
            # f_i = 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
            h[i][i] += 1200 * v[i] ** 2 - 400 * v[i + 1] + 2
            h[i][i + 1] += -400 * v[i]
            h[i + 1][i] += -400 * v[i]
            h[i + 1][i + 1] += 200
        return h


def _max_rel(h, exact):
    err = max(abs(mpmath.mpf(float(h[i, j])) - exact[i][j])
              for i in range(len(exact)) for j in range(len(exact)))
    scale = max(abs(e) for row in exact for e in row)
    return float(err / scale)


def test_hessian_rosenbrock_100_forward_over_reverse_against_exact():
    pytest.importorskip("diffkit.methods.reverse")
    entry = catalog.rosenbrock(100)
    rng = np.random.default_rng(5)
    for x in (entry.point, rng.uniform(-2, 2, 100)):
        res = ForwardMode(hessian_scheme="forward-over-reverse").hessian(entry.function, x)
        assert res.info["hessian_scheme"] == "forward-over-reverse"
        assert res.value.shape == (100, 100)
        assert _max_rel(res.value, rosenbrock_hessian_exact(x)) <= 1e-12


def test_hvp_forward_over_reverse():
    pytest.importorskip("diffkit.methods.reverse")
    x = np.array([-1.2, 1.0, 0.3, 2.0])
    v = np.array([0.5, -1.0, 2.0, 0.25])
    exact = np.array(rosenbrock_hessian_exact(x), dtype=float)
    hv = forward.hvp(catalog.rosenbrock(4).function, x, v)
    np.testing.assert_allclose(hv, exact @ v, rtol=1e-14)


_W = np.array([[0.5, -1.0, 0.25], [1.5, 0.3, -0.7]])
MIXED = {
    "sin-times-square": lambda x: dnp.sum(dnp.sin(x) * x**2),
    "broadcast-product": lambda x: dnp.sum(dnp.exp(x[:, None] * x[None, :]) / (1.0 + x**2)),
    "matmul-tanh": lambda x: dnp.sum(dnp.tanh(_W @ x) ** 2),
    "logsumexp": lambda x: dnp.logsumexp(x * x) + dnp.prod(x),
    "slices": lambda x: dnp.sum((x[1:] - x[:-1] ** 2) ** 2) + x[0] / x[2],
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_forward_over_reverse_equals_forward_over_forward(name):
    reverse = pytest.importorskip("diffkit.methods.reverse")
    f = MIXED[name]
    x = np.array([0.3, 0.8, 1.4])
    h_ff = forward.hessian(f, x, hessian_scheme="forward-over-forward")
    np.testing.assert_allclose(forward.hessian(f, x, hessian_scheme="forward-over-reverse"), h_ff, rtol=1e-13,
                               atol=1e-13)
    v = np.array([1.0, -0.5, 2.0])
    # reverse-over-forward: the gradient of a directional derivative is H v
    hv = reverse.gradient(lambda z: forward.jvp(f, z, v)[1], x)
    np.testing.assert_allclose(hv, h_ff @ v, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", ["forward-over-reverse", "forward-over-forward"])
@pytest.mark.parametrize("name", ["baydin", "trivariate", "rosenbrock10"])
def test_hessian_against_sympy(name, mode):
    if mode == "forward-over-reverse":
        pytest.importorskip("diffkit.methods.reverse")
    import sympy

    entry = catalog.get(name)
    x = entry.point
    if entry.expr is not None:
        from diffkit.reference import sympy_form

        expr, syms = sympy_form(entry.function)
        subs = {s: sympy.Rational(float(v)) for s, v in zip(syms, x, strict=True)}
        exact = np.array([[float(sympy.diff(expr, a, b).evalf(30, subs=subs)) for b in syms]
                          for a in syms])
    else:
        exact = np.array(rosenbrock_hessian_exact(x), dtype=float)
    h = dk.hessian(entry.function, x, method=ForwardMode(hessian_scheme=mode))
    np.testing.assert_allclose(h, exact, rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------- tangent trace


def test_tangent_trace_is_baydin_table_2(baydin):
    t = tangent_trace(baydin, np.array([2.0, 5.0]), np.array([1.0, 0.0]))
    assert [r.name for r in t.rows] == ["v1", "v2", "v3", "v4", "v5"]
    assert [r.primitive for r in t.rows] == ["log", "multiply", "sin", "add", "subtract"]
    np.testing.assert_allclose([float(r.tangent) for r in t.rows], [0.5, 5.0, 0.0, 5.5, 5.5],
                               rtol=1e-15)
    np.testing.assert_allclose([float(r.value) for r in t.rows],
                               [math.log(2), 10.0, math.sin(5), math.log(2) + 10,
                                math.log(2) + 10 - math.sin(5)], rtol=1e-15)
    assert float(t.tangent) == 5.5
    assert float(t.value) == pytest.approx(11.652071455223084, rel=1e-15)
    table = t.forward_table()
    dot = "\u0307"
    for line in ["v-1 = x1 = 2", "v0 = x2 = 5", "v1 = log(v-1) = 0.6931",
                 "v2 = v-1 * v0 = 10", "v3 = sin(v0) = -0.9589", "v4 = v1 + v2 = 10.69",
                 "v5 = v4 - v3 = 11.65", f"v{dot}1 = v{dot}-1 / v-1 = 0.5",
                 f"v{dot}3 = v{dot}0 * cos(v0) = 0", f"v{dot}5 = v{dot}4 - v{dot}3 = 5.5",
                 f"y{dot} = v{dot}5 = 5.5"]:
        assert line in table, line
    assert str(t) == table


def test_tangent_trace_numbering_does_not_depend_on_evaluation_order(baydin):
    formula = catalog.get("baydin").function
    a = tangent_trace(baydin, [2.0, 5.0], None)  # None: e1
    b = tangent_trace(formula, [2.0, 5.0], None)
    assert [r.primitive for r in a.rows] == [r.primitive for r in b.rows]
    assert [float(r.tangent) for r in b.rows] == [0.5, 5.0, 0.0, 5.5, 5.5]


def test_tangent_trace_other_direction_and_arrays(baydin):
    t = tangent_trace(baydin, [2.0, 5.0], [0.0, 1.0])
    assert float(t.tangent) == pytest.approx(2.0 - math.cos(5.0), rel=1e-15)
    r = tangent_trace(catalog.rosenbrock(4).function, [-1.2, 1.0, -1.2, 1.0], [0, 0, 1.0, 0])
    exact = catalog.rosenbrock(4).exact_float(np.array([-1.2, 1.0, -1.2, 1.0]))
    assert float(r.tangent) == pytest.approx(exact[2], rel=1e-14)
    assert "sum(v" in r.forward_table()


def test_dk_trace_forward_mode(baydin):
    trace_mod = pytest.importorskip("diffkit.trace")
    t = trace_mod.trace(baydin, [2.0, 5.0], mode="forward")
    assert "v\u03071 = v\u0307-1 / v-1 = 0.5" in t.forward_table()
    assert "v1 = log(v-1) = 0.693 " in t.forward_table(digits=3)
    u = trace_mod.trace(baydin, [2.0, 5.0], mode="forward", direction=[0.0, 1.0])
    assert float(u.tangent) == pytest.approx(2.0 - math.cos(5.0), rel=1e-15)


# ----------------------------------------------------------------------------- bad input


def test_float_conversion_names_the_call_and_dnp():
    def f(x):
        return math.sin(x) + x

    with pytest.raises(dk.NotTraceableError,
                       match=r"float\(\) was called on a forward-mode dual number .*math\.sin\(x\)"
                       r".*diffkit\.numpy"):
        dk.derivative(f, 1.0, method="forward-mode")
    with pytest.raises(dk.NotTraceableError, match=r"`dk\.gradient\(lambda x: float\(x\) \+ x"):
        dk.gradient(lambda x: float(x) + x, [1.0], method="forward-mode")
    with pytest.raises(TypeError):  # also the builtin a generic handler expects
        dk.derivative(lambda x: int(x), 1.0, method="forward-mode")


def test_numpy_conversion_and_unknown_numpy_functions():
    with pytest.raises(dk.NotTraceableError, match="dnp"):
        dk.derivative(lambda x: np.asarray(x) * 2, 1.0, method="forward-mode")
    with pytest.raises(dk.UnsupportedPrimitiveError, match=r"numpy\.unwrap"):
        dk.derivative(lambda x: np.sum(np.unwrap(x)), 1.0, method="forward-mode")


def test_bad_points_and_outputs(baydin):
    with pytest.raises(dk.ArityError, match="takes 2 parameters"):
        dk.gradient(baydin, [1.0, 2.0, 3.0], method="forward-mode")
    with pytest.raises(dk.NonFiniteError, match="not finite"):
        dk.gradient(baydin, [np.nan, 2.0], method="forward-mode")
    with pytest.raises(dk.PointError, match="complex"):
        dk.gradient(baydin, [1j, 2.0], method="forward-mode")
    with pytest.raises(dk.OutputShapeError, match=r"returned shape \(2,\), expected a scalar"):
        dk.gradient(lambda x: x * 2.0, [1.0, 2.0], method="forward-mode")
    with pytest.raises(dk.OutputShapeError, match="expected a scalar"):
        dk.hessian(lambda x: x * 2.0, [1.0, 2.0], method="forward-mode")
    with pytest.raises(dk.OutputShapeError, match="direction v has shape"):
        forward.jvp(lambda x: x, np.ones(3), np.ones(2))


def test_domain_errors(baydin):
    with pytest.raises(dk.DomainError, match=r"log\(-1.0\): outside its domain"):
        dk.gradient(baydin, [-1.0, 2.0], method="forward-mode")
    with pytest.raises(dk.DomainError, match=r"^forward-mode: f at x = 0.0: sqrt\(0.0\) is "
                                             r"defined but its derivative is not finite there "
                                             r"\(sqrt's derivative requires x > 0\)"):
        dk.derivative(lambda x: dnp.sqrt(x), 0.0, method="forward-mode")


def test_bad_settings():
    with pytest.raises(dk.UnknownMethodError, match="not a Hessian scheme"):
        ForwardMode(hessian_scheme="reverse-over-forward")
    with pytest.raises(dk.UnknownMethodError, match="does not take setting h="):
        dk.gradient(lambda x: x, 1.0, method="forward-mode", h=1e-3)
    with pytest.raises(dk.UnknownMethodError, match="choose one of 'forward-over-reverse', "
                                                    "'forward-over-forward'"):
        forward.hessian(lambda x: x, np.ones(2), hessian_scheme="sideways")
    assert repr(ForwardMode()) == "ForwardMode(hessian_scheme='auto', chunk=None)"


def test_dual_repr_and_shape():
    seen = []
    forward.jvp(lambda z: seen.append((repr(z), z.shape, z.ndim)) or z, np.ones(2), np.ones(2))
    text, shape, ndim = seen[0]
    assert text.startswith("Dual(primal=[1. 1.], tangent=[1. 1.])")
    assert shape == (2,)
    assert ndim == 1
    assert isinstance(Dual, type)
