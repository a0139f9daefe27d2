"""The public API of the core: specs, method resolution, manual method, and pinned messages."""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog


@pytest.fixture
def f():
    @dk.function
    def f(x1, x2):
        return dnp.log(x1) + x1 * x2 - dnp.sin(x2)

    @f.manual
    def df(x1, x2):
        return [1 / x1 + x2, x1 - dnp.cos(x2)]

    return f


def test_quickstart(f):
    np.testing.assert_allclose(dk.gradient(f, [2.0, 5.0], method="manual"),
                               [5.5, 1.7163378145367738], rtol=1e-15)
    g = dk.Function.from_expr("exp(x)/sqrt(sin(x)**3 + cos(x)**3)")
    assert dk.derivative(g, 1.5, method="central-difference") == pytest.approx(
        4.053427893898621, rel=1e-9)
    a = dk.gradient(f, [2.0, 5.0], method="central-difference", h=1e-6)
    b = dk.gradient(f, [2.0, 5.0], method=dk.methods.CentralDifference(h=1e-6))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, [5.5, 1.7163378145367738], rtol=1e-8)


def test_outputs_are_plain_numbers(f):
    d = dk.derivative(lambda x: dnp.exp(x), 0.0, method="central-difference")
    assert type(d) is float
    g = dk.gradient(f, [2.0, 5.0], method="manual")
    assert type(g) is np.ndarray
    assert g.shape == (2,)


def test_one_parameter_receives_the_whole_point():
    weights = np.array([[1.0, 2.0], [3.0, 4.0]])
    quad = dk.Function(lambda x: dnp.sum(weights * x**2))
    x = np.array([[-1.2, 1.0], [0.5, 0.8]])
    g = dk.gradient(quad, x, method="central-difference")
    assert g.shape == (2, 2)
    np.testing.assert_allclose(g, 2 * weights * x, rtol=1e-9)


def test_jacobian_shape_is_m_by_n():
    polar = catalog.get("polar")
    jac = dk.jacobian(polar.function, polar.point, method="central-difference")
    assert jac.shape == (2, 2)
    np.testing.assert_allclose(jac, polar.exact_float(), rtol=1e-9)
    # n = 1 and m = 1 keep the convention
    assert dk.jacobian(lambda x: dnp.sin(x), 0.3, method="central-difference").shape == (1, 1)
    assert dk.jacobian(lambda x: dnp.stack([x, x * x, dnp.exp(x)]), 0.3,
                       method="central-difference").shape == (3, 1)


def test_plain_numpy_callables_work_with_numerical_and_manual():
    g = dk.gradient(lambda x: np.sum(np.sin(x)), [0.1, 0.2], method="central-difference")
    np.testing.assert_allclose(g, np.cos([0.1, 0.2]), rtol=1e-9)


@pytest.mark.parametrize("entry", catalog.entries(), ids=lambda e: e.name)
@pytest.mark.parametrize("method", ["central-difference", "forward-difference",
                                    "backward-difference"])
def test_catalogue_against_exact_references(entry, method):
    exact = entry.exact_float()
    if "vector" in entry.tags:
        got = dk.jacobian(entry.function, entry.point, method=method)
    else:
        got = dk.gradient(entry.function, entry.point, method=method)
    scale = np.maximum(np.abs(exact), 1.0)
    tol = 1e-6 if method == "central-difference" else 1e-4
    assert np.all(np.abs(got - exact) <= tol * scale), (got, exact)


def test_manual_against_exact_reference():
    e = catalog.rosenbrock(10)
    np.testing.assert_allclose(dk.gradient(e.function, e.point, method="manual"),
                               e.exact_float(), rtol=1e-14)


def test_methods_available_lists_core_methods():
    names = dk.methods.available()
    for name in ["auto", "manual", "forward-difference", "backward-difference", "central-difference"]:
        assert name in names


# ------------------------------------------------------------------ bad input, pinned


def test_unknown_method_lists_valid_names(f):
    with pytest.raises(dk.UnknownMethodError, match=r"method='nope' is not a diffkit method; "
                       r"choose one of 'auto', 'manual', .*'central-difference'"):
        dk.gradient(f, [2.0, 5.0], method="nope")
    assert issubclass(dk.UnknownMethodError, ValueError)


def test_unknown_setting_names_it(f):
    with pytest.raises(dk.UnknownMethodError, match=r"does not take setting hh=1; it takes h"):
        dk.gradient(f, [2.0, 5.0], method="central-difference", hh=1)


def test_settings_with_a_method_object(f):
    with pytest.raises(dk.UnknownMethodError, match="already configured"):
        dk.gradient(f, [2.0, 5.0], method=dk.methods.CentralDifference(), h=1e-3)


def test_wrong_number_of_coordinates_says_both_counts(f):
    with pytest.raises(dk.ArityError, match=r"takes 2 parameters \(x1, x2\), so x needs 2 "
                       r"coordinates; got 3"):
        dk.gradient(f, [1.0, 2.0, 3.0], method="central-difference")


@pytest.mark.parametrize("bad", [[np.nan, 1.0], [1.0, np.inf]])
def test_non_finite_point(f, bad):
    with pytest.raises(dk.NonFiniteError, match=r"x\[\d\] = (nan|inf) is not finite; .*pass a "
                       r"finite x"):
        dk.gradient(f, bad, method="central-difference")


def test_non_numeric_and_complex_points(f):
    with pytest.raises(dk.PointError, match="is not numeric"):
        dk.gradient(f, ["a", "b"], method="central-difference")
    with pytest.raises(dk.PointError, match="is complex"):
        dk.gradient(f, [1 + 1j, 2.0], method="central-difference")


def test_derivative_needs_a_scalar():
    with pytest.raises(dk.PointError, match=r"derivative\(f, x\): x must be a scalar, got shape "
                       r"\(2,\).*use gradient"):
        dk.derivative(lambda x: dnp.sum(x), [1.0, 2.0])


@pytest.mark.parametrize("method", ["manual", "central-difference", "forward-difference",
                                    "backward-difference"])
def test_point_outside_domain_in_every_method(f, method):
    with pytest.raises(dk.DomainError, match=r"log\(-1.0\): outside its domain, log requires "
                       r"x > 0"):
        dk.gradient(f, [-1.0, 5.0], method=method)


def test_plain_numpy_outside_domain_is_a_domain_error():
    with pytest.raises(dk.DomainError, match=r"log\(array of shape \(2,\)\): outside its domain, "
                                             r"log requires x > 0; first offending element "
                                             r"x\[0\] = -1.0; evaluate"):
        dk.gradient(lambda x: np.sum(np.log(x)), [-1.0, 2.0], method="central-difference")


def test_stencil_crossing_the_domain_edge():
    sqrt = dk.Function(lambda x: dnp.sqrt(x))
    with pytest.raises(dk.StencilError, match=r"stencil point .* crosses a domain edge .*"
                       r"one-sided scheme"):
        dk.derivative(sqrt, 1e-9, method="central-difference", h=1e-6)


def test_non_scalar_result_suggests_jacobian():
    with pytest.raises(dk.OutputShapeError, match=r"returned shape \(2,\), expected a scalar; "
                       r"use jacobian"):
        dk.gradient(lambda x: x * 2.0, [1.0, 2.0], method="central-difference")


def test_manual_without_manual_derivative():
    g = dk.Function(lambda x1, x2: x1 * x2, name="g")
    with pytest.raises(dk.MissingManualError, match=r"no hand-written derivative is registered; "
                       r"add one with @g.manual"):
        dk.gradient(g, [1.0, 2.0], method="manual")


def test_bad_step(f):
    with pytest.raises(dk.StepError, match=r"h=-1.0 must be positive and finite"):
        dk.gradient(f, [2.0, 5.0], method="central-difference", h=-1.0)


def test_not_callable():
    with pytest.raises(dk.SpecError, match=r"f must be a callable .*from_expr"):
        dk.gradient("sin(x)", 1.0)


def test_errors_subclass_builtins():
    assert issubclass(dk.DomainError, ValueError)
    assert issubclass(dk.ParseError, SyntaxError)
    assert issubclass(dk.SymbolicBranchError, TypeError)
    assert issubclass(dk.StencilError, dk.DomainError)
    for name in dk.__all__:
        obj = getattr(dk, name)
        if isinstance(obj, type) and issubclass(obj, Warning):
            assert issubclass(obj, (dk.DiffkitWarning, UserWarning))
        elif isinstance(obj, type) and issubclass(obj, Exception) \
                and obj is not dk.DiffkitError:
            assert issubclass(obj, dk.DiffkitError)
    assert issubclass(dk.DiffkitFallbackWarning, dk.DiffkitWarning)


def test_default_method_is_ad_with_a_richardson_fallback(f):
    r = dk.methods.get().gradient(f, [2.0, 5.0])
    assert r.method == "reverse-mode"
    np.testing.assert_allclose(dk.gradient(f, [2.0, 5.0]), [5.5, 1.7163378145367738],
                               rtol=1e-15)
    opaque = dk.Function(lambda x: float(np.sum(np.asarray(x) ** 3)))
    r = dk.methods.get().gradient(opaque, [1.0, 2.0])
    assert r.method == r.info["method"] == "richardson"
    assert r.info["why"].startswith("richardson: reverse-mode could not follow f at "
                                    "test_api.py:")
    assert "(NotTraceableError)" in r.info["why"]
    assert r.info["auto"] == r.info["why"]
    np.testing.assert_allclose(r.value, [3.0, 12.0], rtol=1e-12)


def test_default_jacobian_picks_forward_for_tall_and_reverse_for_wide():
    tall = dk.methods.get().jacobian(lambda x: dnp.stack([x, x * x, dnp.sin(x)]), 0.5)
    assert tall.method == "forward-mode"
    assert tall.value.shape == (3, 1)
    wide = dk.methods.get().jacobian(lambda x: dnp.stack([dnp.sum(x), dnp.prod(x)]),
                                     [1.0, 2.0, 3.0])
    assert wide.method == "reverse-mode"
    np.testing.assert_allclose(wide.value, [[1, 1, 1], [6, 3, 2]])


def test_exact_reference_for_a_dnp_spec_with_one_array_parameter():
    from diffkit.reference import exact_gradient

    rosen = dk.Function(lambda x: dnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
    x = np.array([-1.2, 1.0, 0.5])
    np.testing.assert_array_equal(exact_gradient(rosen, x), catalog.rosenbrock(3).exact_float(x))
