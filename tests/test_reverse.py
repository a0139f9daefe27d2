"""Reverse mode: the catalogue against exact references, the operators, numpy interop,
control flow, purity (no state on nodes, no reference cycles) and pinned bad-input messages."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import sympy

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.methods import reverse
from diffkit.methods.reverse import (
    ReverseMode,
    gradient,
    hessian,
    hvp,
    jacobian,
    value_and_gradient,
    vjp,
)
from diffkit.reference import sympy_form

ENTRIES = catalog.entries()


@pytest.fixture(autouse=True, params=["kept", "stand-ins"])
def stand_ins(request, monkeypatch):
    """Every test twice: as recorded by default, and with every argument a VJP does not read
    replaced by a stand-in (``STAND_IN_BYTES = 0``), so each stanza's ``saves`` is checked at
    these small sizes too."""
    if request.param == "stand-ins":
        monkeypatch.setattr(reverse, "STAND_IN_BYTES", 0)
    return request.param


# ----------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_catalogue_gradient_matches_the_exact_reference(entry):
    op = "jacobian" if "vector" in entry.tags else "gradient"
    r = getattr(ReverseMode(), op)(entry.function, entry.point)
    exact = entry.exact_float()
    np.testing.assert_allclose(np.asarray(r.value).reshape(exact.shape), exact, rtol=1e-13,
                               atol=1e-13)
    assert r.method == "reverse-mode"
    assert r.nfev == 1
    assert r.info["ops"] > 0
    assert r.info["nbytes"] > 0


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.expr is not None],
                         ids=[e.name for e in ENTRIES if e.expr is not None])
def test_catalogue_hessian_matches_sympy(entry):
    expr, symbols = sympy_form(entry.function)
    point = np.atleast_1d(entry.point)
    subs = {s: sympy.Rational(float(v)) for s, v in zip(symbols, point, strict=True)}
    exact = np.array([[float(sympy.diff(expr, a, b).evalf(30, subs=subs)) for b in symbols]
                      for a in symbols])
    h = dk.hessian(entry.function, entry.point, method="reverse-mode")
    np.testing.assert_allclose(h.reshape(exact.shape), exact, rtol=1e-12, atol=1e-12)


def test_rosenbrock_hessian_and_hvp_against_the_closed_form():
    x = catalog.rosenbrock(6).point
    f = catalog.rosenbrock(6).function.fn
    n = x.size
    h = np.zeros((n, n))
    for i in range(n - 1):  # d2/dx2 of 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i, i + 1] += -400 * x[i]
        h[i + 1, i] += -400 * x[i]
        h[i + 1, i + 1] += 200
    np.testing.assert_allclose(hessian(f, x), h, rtol=1e-13)
    v = np.linspace(-1.0, 1.0, n)
    np.testing.assert_allclose(hvp(f, x, v), h @ v, rtol=1e-12, atol=1e-10)


def test_logistic_map_against_the_exact_derivative():
    e = catalog.logistic(12, 0.3)
    exact = e.exact_float()
    np.testing.assert_allclose(dk.gradient(e.function, e.point, method="reverse-mode"), exact,
                               rtol=1e-9)


# ----------------------------------------------------------------------------- operators


def f_baydin(x1, x2):
    return dnp.log(x1) + x1 * x2 - dnp.sin(x2)


def test_gradient_of_baydins_example():
    g = dk.gradient(dk.Function(f_baydin), [2.0, 5.0], method="reverse-mode")
    np.testing.assert_allclose(g, [5.5, 2.0 - np.cos(5.0)], rtol=1e-15)


def test_value_and_grad_vjp_jacobian():
    x = np.array([0.5, 1.5, 2.5])
    v, g = value_and_gradient(lambda x: dnp.sum(dnp.exp(x) * x), x)
    assert v == pytest.approx(np.sum(np.exp(x) * x))
    np.testing.assert_allclose(g, np.exp(x) * (1 + x))
    y, pb = vjp(lambda x: dnp.sin(x) * x[::-1], x)
    np.testing.assert_allclose(y, np.sin(x) * x[::-1])
    u = np.array([1.0, -2.0, 0.5])
    jac = np.diag(np.cos(x) * x[::-1]) + np.diag(np.sin(x))[:, ::-1]
    np.testing.assert_allclose(pb(u), u @ jac, rtol=1e-14)
    np.testing.assert_allclose(jacobian(lambda x: dnp.sin(x) * x[::-1], x), jac, rtol=1e-14)


def test_tuple_of_arrays():
    w, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5])
    g = gradient(lambda p: dnp.sum(dnp.tanh(p[0] @ np.ones(2) + p[1])), (w, b))
    t = np.tanh(w @ np.ones(2) + b)
    np.testing.assert_allclose(g[1], 1 - t**2)
    np.testing.assert_allclose(g[0], np.outer(1 - t**2, np.ones(2)))


def test_jacobian_method_one_sweep_per_row():
    polar = catalog.get("polar")
    r = ReverseMode().jacobian(polar.function, polar.point)
    np.testing.assert_allclose(r.value, polar.exact_float(), rtol=1e-15)
    assert r.out_shape == (2,)


def test_derivative_of_a_scalar_function():
    assert dk.derivative(lambda x: x * dnp.exp(x), 1.0, method="reverse-mode") == \
        pytest.approx(2 * np.e, rel=1e-15)


def test_pullback_called_twice_gives_the_same_answer():
    """Cotangents live in the sweep, not on the nodes (micrograd #53)."""
    _, pb = vjp(lambda x: x * x * x, np.array([1.0, 2.0]))
    first = pb(np.ones(2))
    np.testing.assert_array_equal(pb(np.ones(2)), first)
    np.testing.assert_array_equal(first, [3.0, 12.0])


def test_constant_function_has_zero_gradient():
    np.testing.assert_array_equal(gradient(lambda x: 3.0, np.array([1.0, 2.0])), [0.0, 0.0])
    np.testing.assert_array_equal(dk.gradient(lambda x1, x2: x1 * 2.0, [1.0, 2.0],
                                              method="reverse-mode"), [2.0, 0.0])


def test_gradient_does_not_alias_a_read_only_broadcast():
    g = gradient(lambda x: dnp.sum(x), np.ones(3))
    g[0] = 5.0  # an ordinary writable array
    np.testing.assert_array_equal(g, [5.0, 1.0, 1.0])


def test_reverse_over_reverse_third_order():
    d3 = gradient(lambda x: gradient(lambda y: gradient(lambda z: z**4 * dnp.sin(z), y), x), 0.7)
    x = 0.7
    exact = (24 * x * np.sin(x) + 36 * x**2 * np.cos(x) - 12 * x**3 * np.sin(x)
             - x**4 * np.cos(x))
    assert float(d3) == pytest.approx(exact, rel=1e-13)


# ----------------------------------------------------------------------------- control flow


def test_python_control_flow_on_node_values():
    def f(x):
        y = x
        while y < 10.0:  # the loop runs on values; the branch taken is recorded
            y = y * 2.0
        return y * y if y > 12.0 else -y

    assert float(gradient(f, 3.5)) == pytest.approx(32 * 3.5)  # y = 4x = 14 > 12: f = 16 x^2
    assert float(gradient(f, 1.5)) == pytest.approx(-8.0)  # y = 8x = 12: f = -y


def test_comparisons_return_plain_booleans():
    seen = []

    def f(x):
        seen.append(type(x > 0.0))
        return dnp.where(x > 0.0, x, -x)

    np.testing.assert_array_equal(gradient(lambda x: dnp.sum(f(x)), np.array([-1.0, 2.0])),
                                  [-1.0, 1.0])
    assert seen[0] is np.ndarray


# ----------------------------------------------------------------------------- numpy interop


def test_ndarray_times_node_and_ufuncs_on_nodes():
    a = np.array([1.0, 2.0, 3.0])

    def f(x):
        return np.sum(a * x + x * a + np.sin(x) + np.exp(x) / a)

    x = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(gradient(f, x), 2 * a + np.cos(x) + np.exp(x) / a, rtol=1e-15)


def test_unsupported_numpy_function_says_none_exists():
    with pytest.raises(dk.UnsupportedPrimitiveError,
                       match=r"numpy\.unwrap was called on a traced value and diffkit has no "
                             r"primitive for it"):
        gradient(lambda x: np.sum(np.unwrap(x)), np.ones(3))


def test_numpy_ufunc_with_out_names_the_dnp_function():
    with pytest.raises(dk.UnsupportedPrimitiveError,
                       match=r"numpy\.exp\(\.\.\., out=\.\.\.\) on a traced value: diffkit "
                             r"cannot follow writes into an existing array; assign the result "
                             r"instead \(y = np\.exp\(x\)\)"):
        gradient(lambda x: np.sum(np.exp(x, out=np.empty(3))), np.ones(3))


def test_in_place_mutation_is_refused():
    def f(x):
        x[0] = 1.0
        return dnp.sum(x)

    with pytest.raises(dk.NotTraceableError, match=r"in-place assignment x\[0\] = \.\.\."):
        gradient(f, np.ones(3))

    def g(x):
        buf = np.zeros(3)
        buf += x
        return dnp.sum(buf)

    with pytest.raises(dk.UnsupportedPrimitiveError,
                       match=r"numpy\.add\(\.\.\., out=\.\.\.\) on a traced value"):
        gradient(g, np.ones(3))


def test_float_of_a_node_is_refused():
    import math

    with pytest.raises(dk.NotTraceableError, match=r"float\(\) was called on a traced value"):
        gradient(lambda x: math.sin(x), 1.0)


# ----------------------------------------------------------------------------- bad input


def test_domain_error_names_the_primitive_and_value():
    with pytest.raises(dk.DomainError, match=r"log\(-1\.0\): outside its domain, log requires "
                                             r"x > 0"):
        dk.gradient(lambda x: dnp.log(x), -1.0, method="reverse-mode")


def test_domain_error_on_a_fast_path():
    with pytest.raises(dk.DomainError, match=r"divide\(1\.0, 0\.0\): outside its domain"):
        dk.gradient(lambda x1, x2: x1 / x2, [1.0, 0.0], method="reverse-mode")


def test_non_scalar_output_suggests_jacobian():
    with pytest.raises(dk.OutputShapeError, match=r"returned shape \(2,\), expected a scalar; "
                                                  r"use jacobian"):
        dk.gradient(lambda x: x * 2.0, [1.0, 2.0], method="reverse-mode")
    with pytest.raises(dk.OutputShapeError, match=r"use jacobian"):
        gradient(lambda x: x * 2.0, np.array([1.0, 2.0]))


# ----------------------------------------------------------------------------- purity


def _workload():
    rosen = catalog.rosenbrock(10)
    gradient(rosen.function.fn, rosen.point)
    hessian(rosen.function.fn, rosen.point)
    dk.gradient(dk.Function(f_baydin), [2.0, 5.0], method="reverse-mode")
    jacobian(lambda x: dnp.stack([x[0] * x[1], dnp.sin(x[1])]), np.array([1.0, 2.0]))


def test_no_cyclic_garbage_after_a_call():
    _workload()  # warm caches (imports, registries)
    gc.collect()
    _workload()
    assert gc.collect() == 0


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_restored(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        gradient(lambda x: dnp.sum(x * x), np.ones(3))
        assert gc.isenabled() is enabled
        with pytest.raises(dk.DomainError):
            dk.gradient(lambda x: dnp.sum(dnp.log(x - 2.0)), np.ones(3), method="reverse-mode")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_tape_holds_only_what_the_vjps_need():
    x = np.ones(10_000)  # above STAND_IN_BYTES: the unread operands are not kept
    tr, _, _ = reverse.record(lambda x: dnp.sum((x + 1.0) * 2.0 + x), (x,))
    # x + 1.0 and (..) * 2.0 need no operand; sum needs only a shape
    assert tr.nbytes() < 100
    tr, _, _out = reverse.record(lambda x: dnp.sum(x * x), (x,))
    assert tr.nbytes() == x.nbytes


def test_methods_registry_resolves_reverse_mode():
    assert isinstance(dk.methods.get("reverse-mode"), ReverseMode)
    assert "reverse-mode" in dk.methods.available()


def test_forward_over_reverse_hessian_vector_product():
    """grad works on forward-mode duals: the Hessian-vector product as jvp of grad."""
    forward = pytest.importorskip("diffkit.methods.forward")
    rosen = catalog.rosenbrock(5)
    x, v = rosen.point, np.linspace(0.5, -0.5, 5)
    _, hv = forward.jvp(lambda y: gradient(rosen.function.fn, y), x, v)
    np.testing.assert_allclose(hv, hessian(rosen.function.fn, x) @ v, rtol=1e-13)


_FAST_PATHS = {
    # the sweep's plain-numpy shortcuts against the symbolic (sympy) gradient
    "mean": lambda x: dnp.mean(dnp.sin(x)) * 3.0,
    "broadcast + -": lambda x: dnp.sum(dnp.reshape(x[:3], (3, 1)) + dnp.reshape(x[3:], (1, 4))
                                        - x[3:] ** 2),
    "broadcast * /": lambda x: dnp.sum(dnp.reshape(x[:3], (3, 1)) * dnp.reshape(x[3:], (1, 4))
                                        / (2.0 + dnp.reshape(x[:3], (3, 1)) ** 2)),
    "scalar * array": lambda x: dnp.sum(x[0] * x[2:] - x[1] / (1.0 + x[2:] ** 2)),
    # the cotangent of a whole-array sum kept as one number (_Fill) through each record kind
    "fill + - neg": lambda x: dnp.sum(-(x - 2.0) + (1.0 - x) - x * x),
    "fill * / constant": lambda x: dnp.sum(3.0 * (x / 4.0) - 2.5 / (x + 3.0)),
    "fill * / arrays": lambda x: dnp.sum(x * dnp.sin(x) / (2.0 + dnp.cos(x))),
    "fill meets fill": lambda x: dnp.sum(x) + dnp.mean(x) * 2.0 + dnp.sum(x**2),
    "fill meets array": lambda x: dnp.sum(x[1:] * x[:-1]) + dnp.sum(dnp.exp(x)) + dnp.sum(x),
    "fill into getitem": lambda x: dnp.sum(x[2:]) + dnp.sum(x[[0, 0, 3]]) + dnp.sum(x[1:4]**2),
    "fill into a rule": lambda x: dnp.sum(dnp.tanh(x)) + dnp.sum(dnp.reshape(x[1:], (2, 3))),
    "fill times numpy scalars": lambda x: dnp.sum(x * np.int64(3) + x * True - x / np.float32(4)
                                                  + np.float32(2) * x**2 + np.bool_(False) * x),
    "logsumexp": lambda x: dnp.logsumexp(x) + dnp.sum(dnp.logsumexp(
        dnp.reshape(x[1:], (2, 3)), axis=1)) + dnp.mean(dnp.logsumexp(
        dnp.reshape(x[1:], (2, 3)), axis=0, keepdims=True)),
}


@pytest.mark.parametrize("name", list(_FAST_PATHS))
def test_sweep_fast_paths_match_the_exact_gradient(name):
    x = np.array([0.3, -0.7, 1.1, 0.5, -0.2, 0.9, 1.4])
    f = dk.Function(_FAST_PATHS[name])
    exact = np.asarray(dk.gradient(f, x, method="symbolic"), dtype=float)
    got = value_and_gradient(_FAST_PATHS[name], x)[1]
    np.testing.assert_allclose(got, exact, rtol=1e-13, atol=1e-15)
    # and over an outer trace (forward-over-reverse Hessian) the registry rules take over
    np.testing.assert_allclose(dk.hessian(f, x, method="reverse-mode"),
                               dk.hessian(f, x, method="symbolic"), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize(("axis", "keepdims"), [(1, False), (0, True), ((0, 2), False),
                                                (-1, True), (None, True)])
def test_sum_along_axes_fast_vjp(axis, keepdims):
    """The sweep's plain-numpy VJP of a sum along axes: the registry rule's values, and the
    gradient handed back is an ordinary writeable array (not the broadcast view)."""
    x = np.arange(24.0).reshape(2, 3, 4) / 7.0

    def f(a):
        return dnp.sum(dnp.sum(a, axis=axis, keepdims=keepdims) ** 2 * 0.5)

    g = gradient(f, x)
    s = np.sum(x, axis=axis, keepdims=True)
    np.testing.assert_allclose(g, np.broadcast_to(s, x.shape), rtol=1e-15)
    assert g.flags.writeable
    assert g.shape == x.shape
    g2 = gradient(lambda a: dnp.sum(dnp.sum(a, axis=axis, keepdims=keepdims)), x)
    assert g2.flags.writeable
    np.testing.assert_array_equal(g2, np.ones_like(x))
