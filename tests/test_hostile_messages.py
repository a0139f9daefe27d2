"""The messages the fuzz suite (tests/test_fuzz.py) made necessary, pinned (issue #24 items 1,
5, 9; #20's huge x): each was a raw exception from inside diffkit or an unvouched number."""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
from diffkit.analysis import step_error
from diffkit.methods import (
    BackwardDifference,
    CentralDifference,
    ComplexStep,
    ForwardDifference,
    ForwardMode,
    Richardson,
)
from diffkit.reference import reference_jacobian
from diffkit.testing import check_grad, check_hessian, check_jacobian

X = np.array([0.4, 1.3])


def _changes_shape():
    calls = [0]

    def f(x):
        calls[0] += 1
        return np.sum(x**2) if calls[0] % 2 else np.array([1.0, 2.0])

    return f


# ============================================================================ huge x


@pytest.mark.parametrize("method", [CentralDifference, ForwardDifference, Richardson])
def test_a_step_within_a_few_ulps_of_x_cannot_vouch(method):
    """sin at 1e20: the floats are 16384 apart, the slope between neighbours is noise."""
    r = method().derivative(np.sin, 1e20)
    assert not r.ok
    if method is not Richardson:
        return  # their steps stay > 4 ulps: the noise model already says inaccurate
    assert r.status.startswith("inaccurate: the step at x = 1e+20 is ")
    assert "units in the last place of x: f's values at neighbouring floats cannot show " \
           "its slope" in r.status
    assert float(r.error) == np.inf


def test_strict_raises_where_the_status_cannot_vouch():
    with pytest.raises(dk.InaccurateDerivativeError, match=r"^richardson: the step at "
                       r"x = 1e\+20 is "):
        Richardson(strict=True).derivative(np.sin, 1e20)
    assert Richardson(strict=True).derivative(np.sin, 3.0) == pytest.approx(np.cos(3.0))


# ============================================================================ Hessians


@pytest.mark.parametrize("method", [BackwardDifference, ForwardDifference, CentralDifference,
                                    Richardson, ComplexStep])
def test_an_ok_hessian_bounds_its_error(method):
    rng = np.random.default_rng(7)
    fs = [(lambda x: np.sum(np.sin(x)), lambda x: np.diag(-np.sin(x))),
          (lambda x: np.sum(np.log1p(x**2)), lambda x: np.diag(2 * (1 - x**2) / (1 + x**2) ** 2))]
    for _ in range(6):
        x = rng.uniform(-8, 8, 3)
        for f, hess in fs:
            r = method().hessian(f, x)
            if r.ok:
                assert np.all(np.abs(r.value - hess(x)) <= r.error), (x, r.value, r.error)


# ============================================================================ outputs


def test_an_output_whose_shape_changes_between_calls_is_refused():
    with pytest.raises(dk.OutputShapeError, match=r"^jacobian\(f, x\): f returned shape \(\) on "
                       r"the first pass and \(2,\) on pass 2 at the same x; f's output shape "
                       r"must not change between calls"):
        ForwardMode(chunk=1).jacobian(_changes_shape(), X)
    with pytest.raises(dk.OutputShapeError, match=r"^complex-step: f returned 1 and 2 values at "
                       r"the same x in two directions"):
        ComplexStep().gradient(_changes_shape(), X)


def test_symbolic_and_complex_step_refuse_a_bool_or_a_dict():
    with pytest.raises(dk.DiffkitError, match=r"^symbolic\(f, x\): f returned a boolean"):
        dk.methods.get("symbolic").gradient(lambda x: np.sum(x) > 0, X)
    with pytest.raises(dk.DiffkitError, match=r"f returned dict \{'a': 1.0\} \(dtype object\), "
                       r"which is not a number"):
        ComplexStep().derivative(lambda x: {"a": 1.0}, 0.7)


# ============================================================================ checkers


def test_a_derivative_that_cannot_take_fs_arguments_is_named():
    with pytest.raises(dk.SpecError, match=r"^check_jacobian\(f, jac, x\): jac cannot be called "
                       r"the way f is \(too many positional arguments\); it must take the point"):
        check_jacobian(lambda x: x**2, lambda: 1.0, X)
    with pytest.raises(dk.SpecError, match=r"^check_grad\(f, grad, x\): f cannot take the data "
                       r"passed with args=/kwargs= \(got an unexpected keyword argument 'bogus'\)"):
        check_grad(lambda x: np.sum(x**2), lambda x: 2 * x, X, kwargs={"bogus": 1})


@pytest.mark.parametrize("bad", [1j, "1e-3", np.array([1e-3, 1e-4]), True])
def test_a_tolerance_of_the_wrong_type_is_named(bad):
    with pytest.raises(dk.NonFiniteError, match=r"^rtol=.*: a tolerance must be a real number "
                       r">= 0"):
        check_grad(lambda x: np.sum(x**2), lambda x: 2 * x, X, rtol=bad)


def test_a_bad_reference_name_is_said_as_reference():
    with pytest.raises(dk.UnknownMethodError, match=r"^reference='' is not a diffkit method"):
        check_hessian(lambda x: np.sum(x**2), lambda x: 2 * np.eye(2), X, reference="")


def test_check_grad_of_a_vector_function_points_to_check_jacobian():
    with pytest.raises(dk.OutputShapeError, match=r"^check_grad\(f, grad, x\): f returned 2 "
                       r"values, not a scalar; .* use check_jacobian"):
        check_grad(lambda x: np.stack([np.sum(x), np.sum(x)]), lambda x: 2 * x, X)


def test_check_hessian_refuses_f_returning_a_bool():
    with pytest.raises(dk.DiffkitError, match=r"f returned a boolean"):
        check_hessian(lambda x: np.sum(x) > 0, lambda x: 2 * np.eye(2), X)


# ============================================================================ analyses


def test_compare_refuses_a_reference_that_is_not_the_derivative():
    with pytest.raises(dk.PointError, match=r"^compare\(f, x, reference=-1.0\): reference must "
                       r"be the trusted gradient at x, finite numbers of shape \(2,\)"):
        dk.compare(lambda x: np.sum(np.sin(x)), X, repeat=0, reference=-1.0)


def test_step_error_names_its_bad_settings():
    with pytest.raises(dk.UnknownMethodError, match=r"^step_error\(complex_step=.*\): "
                       r"complex_step must be True or False"):
        step_error(np.sin, 0.7, complex_step=np.array([1.0, 2.0]))
    with pytest.raises(dk.UnknownMethodError, match=r"^step_error\(schemes=.*\): schemes must "
                       r"be a scheme name or a sequence of them"):
        step_error(np.sin, 0.7, schemes=3)
    with pytest.raises(dk.PointError, match=r"f returned shape \(2,\); step_error sweeps a "
                       r"scalar function of one scalar"):
        step_error(lambda x: np.stack([x, x]), 0.7)


def test_the_exact_reference_falls_back_labelled_when_its_budget_runs_out():
    def f(p):
        x, y = p[0], p[1]
        for _ in range(40):
            x, y = x + 0.01 * y, y - 0.01 * dk.numpy.sin(x)
        return x * x + y

    r = reference_jacobian(dk.Function(f), np.array([0.7, 0.2]), seconds=0.05)
    assert not r.exact
    assert r.source == "richardson"
    assert r.note.startswith("the exact reference of 'f' ran out of its time budget of 0.05 s; "
                             "a high-precision numerical reference (Richardson) is used instead")
    assert np.all(np.abs(r.value - dk.gradient(f, np.array([0.7, 0.2]),
                                               method="reverse-mode")) <= r.error + 1e-14)


def test_the_second_round_of_fuzz_findings_is_named():
    with pytest.raises(dk.StepError, match=r"^Richardson: h=5e-324 is below the smallest normal "
                       r"float"):
        Richardson(h=5e-324)
    with pytest.raises(dk.DiffkitError, match=r"f returned dict"):
        dk.methods.get("symbolic").gradient(lambda x: {"a": 1.0}, X)
    with pytest.raises(dk.DiffkitError, match=r"f returned list \[1.0, \[2.0, 3.0\]\], which "
                       r"is not a number"):
        ComplexStep().gradient(lambda x: [1.0, [2.0, 3.0]], X)
    with pytest.raises(dk.OutputShapeError, match=r"hessian"):
        ComplexStep().hessian(lambda x: np.stack([np.sum(x), np.sum(x)]), X)
    r = dk.methods.get("symbolic").derivative(lambda x: np.stack([x, 2 * x]), 0.7)
    np.testing.assert_allclose(np.ravel(r.value), [1.0, 2.0])  # a Symbol is not a bool
    with pytest.raises(dk.OutputShapeError, match=r"names=3 must be a list of strings"):
        check_grad(lambda x: np.sum(x**2), lambda x: 2 * x, X, names=3)
    with pytest.raises(dk.OutputShapeError, match=r"directions=.* must be a positive integer "
                       r"up to 100000"):
        check_grad(lambda x: np.sum(x**2), lambda x: 2 * x, X, directions=2**70)


def test_the_complex_step_says_f_forgot_return():
    def f(x):
        y = x[0] ** 2

    with pytest.raises(dk.DiffkitError, match=r"^f returned None - did it forget `return`\?"):
        ComplexStep().gradient(f, X)


def test_richardson_refuses_a_ragged_output_by_name():
    with pytest.raises(dk.DiffkitError, match=r"f returned a ragged list \[1.0, \[2.0, 3.0\]\]"):
        Richardson().derivative(lambda x: [1.0, [2.0, 3.0]], 0.7)


# ============================================================================ silent numbers


_AD = ("reverse-mode", "forward-mode", "reverse-compiled")


def _complex_intermediates():
    def modulus(x):
        return np.sum(np.abs(np.exp(1j * x) * x))  # |x e^{ix}| = x: the gradient is 1

    def imaginary(x):
        return np.sum(np.imag(np.exp(1j * x)))  # sin x

    def conjugated(x):
        z = x + 1j * x
        return np.sum(np.real(z * np.conj(z)))  # 2 x^2

    def as_complex(x):
        return np.sum(np.abs(x.astype(complex) * (1 + 1j)))  # sqrt(2) |x|

    return [(modulus, np.ones(2)), (imaginary, np.cos(X)), (conjugated, 4.0 * X),
            (as_complex, np.sqrt(2.0) * np.ones(2))]


@pytest.mark.parametrize(("f", "want"), _complex_intermediates(),
                         ids=["abs", "imag", "conj", "astype"])
def test_complex_intermediates_are_refused_by_ad_and_auto_falls_back(f, want):
    """The registry's rules are those of real arguments: followed through a complex value they
    gave d|x e^{ix}|/dx = -0.52 for 1, and imag's derivative 0, without a word. Every AD
    method refuses by name; auto falls back to Richardson, which only evaluates f."""
    for method in _AD:
        with pytest.raises(dk.NotTraceableError,
                           match=r"made a complex value from the traced point.*real functions "
                                 r"through real values.*central-difference"):
            dk.gradient(f, X, method=method)
    with pytest.warns(dk.DiffkitFallbackWarning):
        got = dk.gradient(dk.Function(f), X)
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_real_inputs_of_real_imag_and_conj_still_differentiate():
    """real / imag / conj of a real value stay real: nothing to refuse."""
    def f(x):
        return np.sum(np.real(x) ** 2 + np.imag(x) + np.conj(x) * 3.0)

    for method in _AD:
        np.testing.assert_allclose(dk.gradient(f, X, method=method), 2.0 * X + 3.0)


@pytest.mark.parametrize("x", [1e-85, 1e-80, 1e-30])
def test_the_complex_step_retries_where_an_intermediate_underflowed(x):
    """x**3 / x**2 at 1e-80 with h = 1e-200: Im x**3 = 3 x^2 h = 3e-360 underflows, and the
    derivative 1 came out 0, "ok". The zero column is taken again at a step relative to x."""
    r = ComplexStep().derivative(lambda t: t**3 / t**2, x)
    assert r.value == pytest.approx(1.0, rel=1e-14)
    assert r.status == "ok"
    g = ComplexStep().gradient(lambda t: np.sum(t**3 / t**2), np.array([x, 1e-40, 0.3]))
    np.testing.assert_allclose(g.value, 1.0, rtol=1e-14)


@pytest.mark.parametrize("x", [1e-100, 3e-60])
def test_a_subnormal_imaginary_part_inside_f_is_said(x):
    """Closer to 0 the intermediate's imaginary part is subnormal (3e-320 at 1e-100 even with
    the relative step, 2.7e-319 at 3e-60 with h = 1e-200): 5 digits of 16 are left. The error
    bar covers the distance to the exact 1, and the status says why."""
    r = ComplexStep().derivative(lambda t: t**3 / t**2, x)
    assert abs(r.value - 1.0) <= r.error
    assert r.status.startswith("inaccurate: ")
    assert "underflow" in r.status or "loses digits" in r.status


@pytest.mark.parametrize("method", ["forward-difference", "backward-difference"])
@pytest.mark.parametrize(("f", "x"), [
    (lambda x: np.sum(np.maximum(x, 0.0)), [0.0, 2.0, 3.0]),
    (lambda x: np.sum(np.maximum(x, 0.0)), [0.0, -1.0]),
    (lambda x: np.sum(np.abs(x)), [0.0, -1.0]),
    (lambda x: np.sum(np.abs(x)), [0.0, 2.0, 3.0]),
], ids=["relu-3", "relu-2", "abs-2", "abs-3"])
def test_a_one_sided_difference_exactly_on_a_kink_is_never_ok(method, f, x):
    """relu at 0 by forward differences: 1, 'ok' -- one piece's slope. The noise trace saw
    the kink at distance 0, but x on the kink has sign 0, and 'crossing' asked for a sign
    change. (A symmetric stencil there gives the average of the two slopes, the rules' tie
    convention: relu'(0) = 0.5, abs'(0) = 0.)"""
    r = dk.methods.get(method).gradient(f, np.array(x))
    assert not r.ok
    assert "kink 0 from x along x[0]" in r.status
    assert np.isinf(np.ravel(r.error)[0])


@pytest.mark.parametrize("x", [[0.0], [0.0, -1.0], [0.0, 2.0, 3.0]])
def test_richardson_on_a_kink_gives_the_tie_convention_or_refuses(x):
    """Richardson's derivative refuses relu at 0 (its pilot cannot resolve the scale); its
    gradient went one-sided after that pilot failed and returned 0.5 'ok' with an error of
    4e-16 from one side's samples. Now it refuses too where the pilot fails, and elsewhere
    gives the symmetric value the rules' tie convention gives (0.5), never another."""
    def f(v):
        return np.sum(np.maximum(v, 0.0))

    if len(x) < 3:  # (one or two coordinates: the pilot's rounds see the kink)
        with pytest.raises(dk.StencilError, match="pilot rounds could not resolve"):
            Richardson().gradient(f, np.array(x))
        return
    r = Richardson().gradient(f, np.array(x))
    assert r.value[0] == pytest.approx(0.5, abs=1e-12)
    assert abs(r.value[0] - 0.5) <= np.ravel(r.error)[0]


def test_a_transposed_or_unchecked_manual_derivative_is_named():
    """A hand-written Jacobian returned (n, m) was reshaped into (m, n) silently (wrong
    numbers); a hand-written Hessian was returned unchecked (None as [[nan]], NaN entries, a
    point outside f's domain, ragged lists as a raw ValueError)."""
    v = dk.Function(lambda x: [x[0] * x[1], x[0], x[1] ** 2])
    v.manual(lambda x: np.array([[x[1], x[0]], [1, 0], [0, 2 * x[1]]]).T)
    with pytest.raises(dk.OutputShapeError, match=r"returned shape \(2, 3\); expected \(3, 2\)"
                                                  r".*looks transposed"):
        dk.jacobian(v, [1.0, 2.0], method="manual")
    f = dk.Function(lambda x: np.sum(np.log(x) * x))
    f.manual(lambda x: np.log(x) + 1.0)
    for bad, error, message in [
            (lambda x: None, dk.OutputShapeError, r"returned None \(a missing return"),
            (lambda x: np.diag([np.nan, 1.0]), dk.NonFiniteError,
             r"hand-written derivative of .* returned nan at entry \[0, 0\]"),
            (lambda x: [[1.0, 0.0], [0.0]], dk.OutputShapeError, "not an array of numbers"),
            (lambda x: np.eye(3), dk.OutputShapeError, r"returned shape \(3, 3\); expected")]:
        f.manual_hessian(bad)
        with pytest.raises(error, match=message):
            dk.hessian(f, [1.0, 2.0], method="manual")
    f.manual_hessian(lambda x: np.diag(1.0 / x))
    with pytest.raises(dk.DomainError, match="log"):
        dk.hessian(f, [-1.0, 2.0], method="manual")
    np.testing.assert_allclose(dk.hessian(f, [1.0, 2.0], method="manual"), np.diag([1, 0.5]))


@pytest.mark.parametrize("method", ["central-difference", "richardson", "forward-difference"])
def test_an_empty_output_has_an_empty_jacobian(method):
    """f returning x[:0]: numerical methods raised numpy's raw 'zero-size array to reduction
    operation maximum'; the AD methods return zeros((0, n))."""
    j = dk.jacobian(lambda x: x[:0], np.ones(3), method=method)
    assert j.shape == (0, 3)


def test_settings_of_the_checks_and_compare_are_named():
    f, g, x = (lambda x: np.sum(x**3)), (lambda x: 3 * x**2), np.array([1.0, 2.0, 3.0])
    with pytest.raises(dk.DiffkitError, match=r"seed='a' must be an integer"):
        check_grad(f, g, x, directions=2, seed="a")
    with pytest.raises(dk.OutputShapeError, match=r"the reference returned shape \(2,\); the "
                                                  r"gradient it is compared with has shape"):
        check_grad(f, g, x, reference=lambda x: g(x)[:2])
    with pytest.raises(dk.DiffkitError, match=r"compare\(budget='a'\)"):
        dk.compare(f, x, methods=["reverse-mode"], budget="a")
    with pytest.raises(dk.UnknownMethodError, match=r"what='hessian' is not one program"):
        dk.methods.ReverseCompiled().compile(f, x, "hessian")


def test_symbolic_adds_masks_as_numpy_does():
    """numpy's mask + mask is their logical or: symbolic's first version of masks in
    arithmetic counted 1 + 1 = 2 (0, 1, 6 for 0, 1, 3)."""
    x = np.array([-0.5, 0.5, 1.5])
    f = lambda v: np.sum(v**2 * ((v > 0) + (v > 1)))
    np.testing.assert_allclose(dk.gradient(f, x, method="symbolic"),
                               dk.gradient(f, x, method="reverse-mode"), rtol=1e-15)


def test_a_variable_listed_twice_is_refused():
    """variables=['x', 'x', 'y'] made x*y read the second x: the first coordinate's
    derivative came out 0 from every method (symbolic: a raw SyntaxError from lambdify)."""
    import sympy

    with pytest.raises(dk.ParseError, match=r"lists 'x' twice; list each variable once"):
        dk.Function.from_expr("x*y", variables=["x", "x", "y"])
    x = sympy.Symbol("x")
    with pytest.raises(dk.ParseError, match=r"lists 'x' twice"):
        dk.Function.from_sympy(x**2, [x, x])
    assert dk.derivative(dk.Function.from_sympy(x**2, "x"), 3.0) == pytest.approx(6.0)
    with pytest.raises(dk.ParseError, match=r"with other assumptions"):
        dk.Function.from_sympy(x**2, [sympy.Symbol("x", real=True)])


def test_a_wrong_kind_of_ax_is_named():
    """A Figure, an array of Axes, a string, a polar Axes: raw AttributeError,
    NotImplementedError or ValueError from inside matplotlib calls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2)
    polar = plt.figure().add_subplot(projection="polar")
    r = step_error(lambda t: np.exp(t), 1.0, schemes=["central-difference"])
    c = dk.compare(lambda v: np.sum(v**2), [1.0, 2.0], methods=["reverse-mode"], repeat=0)
    t = dk.trace(lambda v: np.sum(v**2), [1.0, 2.0])
    for bad, what in [(fig, "a Figure"), (axs, "ndarray of 2"), ("ax", "a str"),
                      (polar, "a polar Axes")]:
        for plot in (r.plot, c.plot, t.draw):
            with pytest.raises(dk.SpecError, match=rf"\(ax=\.\.\.\): ax is {what}"):
                plot(ax=bad)
    plt.close("all")


def test_compare_does_not_call_a_wrong_hand_written_derivative_ok(capsys):
    """compare 'x*y' --manual 'y, 2*x': the manual row said 'ok' with a relative error of
    0.5 and the command exited 0, on the flag that is there to check it."""
    from diffkit.cli import main

    f = dk.Function.from_expr("x*y")
    f.manual(lambda x, y: [y, 2 * x])
    c = dk.compare(f, [1.0, 2.0], methods=["manual", "reverse-mode"], repeat=0)
    assert c["manual"].status.startswith("disagrees with the reference: relative error 0.5")
    assert c["reverse-mode"].status == "ok"
    assert main(["compare", "x*y", "--at", "1,2", "--manual", "y, 2*x",
                 "--methods", "manual,reverse"]) == 1
    assert "disagrees with the reference" in capsys.readouterr().err
    assert main(["compare", "x*y", "--at", "1,2", "--manual", "y, x",
                 "--methods", "manual,reverse"]) == 0
    with pytest.raises(dk.PointError, match="reference must be the trusted jacobian"):
        dk.compare(lambda v: np.stack([v[0] * v[1], v[0], v[1] ** 2]), [1.0, 2.0],
                   methods=["reverse-mode"], reference=np.array([[2.0, 1.0, 0.0],
                                                                 [1.0, 0.0, 4.0]]))


def test_analysis_and_plot_settings_of_the_wrong_kind_are_named():
    """Found by a hunt: each raised a raw TypeError / KeyError / ValueError from inside
    diffkit (unhashable lists, str > int comparisons, missing keys)."""
    from diffkit.analysis import cost, expression_metrics, swell

    f = dk.Function(lambda v: np.sum(np.sin(v)))
    r = step_error(lambda t: np.exp(t), 1.0, schemes=["central-difference"])
    s = swell("logistic", [1, 2])
    t = dk.trace(lambda x1, x2: x1 * x2, [1.0, 2.0], mode="forward")
    formula = dk.Function.from_expr("x*y")
    cases = [
        (lambda: step_error(lambda t: np.exp(t), 1.0, schemes=[["a"]]), "not a step-size"),
        (lambda: swell(ns=[[1, 2]]), r"depths must be integers"),
        (lambda: swell(family=[]), "unknown family"),
        (lambda: swell(ns=[1], max_expanded="a"), r"max_expanded='a'"),
        (lambda: swell(ns=[1], progress=5), r"progress=5"),
        (lambda: cost(methods=5), r"cost\(methods=5\)"),
        (lambda: cost(dims=[4], budget="a"), r"cost\(budget='a'\)"),
        (lambda: cost(family=[]), "unknown family"),
        (lambda: cost(dims=[4], progress=5), r"cost\(progress=5\)"),
        (lambda: expression_metrics(f, time_limit="a", shape=(2,)), r"time_limit='a'"),
        (lambda: expression_metrics(f, shape=5), r"shape=5"),
        (lambda: expression_metrics(f, shape=(-1,)), r"shape=\(-1,\)"),
        (lambda: dk.trace(lambda x1, x2: x1 * x2, [1.0, 2.0], mode="forward",
                          direction="ab"), "not an array of numbers"),
        (lambda: t.forward_table(digits=None), r"digits=None"),
        (lambda: formula(1.0), r"takes 2 arguments \(x, y\), got 1"),
        (lambda: r.plot(schemes=["foo"]), r"'foo' is not a scheme"),
        (lambda: r.plot(schemes=[]), "name at least one scheme"),
        (lambda: s.plot(columns=["foo"]), r"'foo' is not a column"),
    ]
    import matplotlib

    matplotlib.use("Agg")
    for call, message in cases:
        with pytest.raises(dk.DiffkitError, match=message):
            call()
    r.plot(schemes="central-difference")  # one name alone is a list of one


def test_a_one_sided_scheme_meeting_a_jump_is_told_the_other_side():
    """Forward differences across a jump were advised to 'use a one-sided scheme
    (ForwardDifference/BackwardDifference)' -- which they are."""
    f = lambda t: np.where(t > 1.0, 1.0, 0.0) + t
    with pytest.raises(dk.StencilError, match=r"take the derivative from the other side "
                                              r"\(BackwardDifference\)$"):
        ForwardDifference().derivative(f, 1.0)
    with pytest.raises(dk.StencilError, match=r"use a one-sided scheme \(ForwardDifference/"
                                              r"BackwardDifference\)"):
        CentralDifference().derivative(f, 1.0)
    assert BackwardDifference().derivative(f, 1.0).value == pytest.approx(1.0)


def test_step_error_at_a_zero_of_f_still_predicts_a_step():
    """exp(x) - 1 at 0: f(x) = 0 made the round-off term eps |f(x)| / h vanish and every
    predicted h 0, though the measured optima are 1e-8 (forward) and 3e-6 (central)."""
    r = step_error(dk.Function.from_expr("exp(x) - 1"), 0.0)
    assert 1e-9 < r.predicted_h["forward-difference"] < 1e-7
    assert 1e-7 < r.predicted_h["central-difference"] < 1e-4
    assert any("f(x) = 0" in n for n in r.notes)


@pytest.mark.parametrize("reference", ["complex-step", "forward-difference",
                                       "central-difference", "richardson"])
def test_a_low_precision_point_never_loosens_the_check_past_a_sign_flip(reference):
    """A float16 point set the default rtol from the reference's accuracy in float16: 0.5 to 5,
    where -grad, 0 and 3 * grad passed. The default is capped at 5 %: a wrong gradient fails,
    or the check is inconclusive where the reference cannot resolve that."""
    from diffkit.testing import MAX_DEFAULT_RTOL, default_tolerances

    def f(x):
        return np.sum(np.sin(x) * 2.0)

    def g(x):
        return 2.0 * np.cos(x)

    x = np.array([0.5, -1.2, 1.7], dtype=np.float16)
    assert default_tolerances(reference, np.float16)[0] <= MAX_DEFAULT_RTOL
    for wrong in (lambda x: -g(x), lambda x: 0.0 * g(x), lambda x: 3.0 * g(x),
                  lambda x: 1.4 * g(x)):
        with pytest.warns(dk.testing.GradCheckWarning, match="float16"):
            assert not check_grad(f, wrong, x, reference=reference).ok


def test_the_taylor_test_does_not_pass_what_it_could_not_test():
    """f = 1e14 + sum(x**2): every remainder stays below the rounding of |f|, the order is
    unknown, and -grad passed; a linear f's rounding-level remainder still passes (a 0.1 %
    slip would have shown)."""
    from diffkit.testing import check_taylor

    x = np.array([0.3, -0.2, 0.9])
    big = check_taylor(lambda x: 1e14 + np.sum(x**2), lambda x: -2 * x, x)
    assert not big.ok
    assert "inconclusive" in big.message()
    assert not check_grad(lambda x: 1e12 + np.sum(x**2), lambda x: 2.02 * x, x,
                          reference="taylor").ok
    assert check_taylor(lambda x: np.sum(3 * x), lambda x: np.full(3, 3.0), x).ok
    with pytest.raises(dk.DiffkitError, match=r"steps=1"):
        check_taylor(lambda x: np.sum(x**2), lambda x: 5 * x, x, steps=1)
    with pytest.raises(dk.DiffkitError, match=r"min_order='a'"):
        check_taylor(lambda x: np.sum(x**2), lambda x: 2 * x, x, min_order="a")


def test_a_reference_callable_that_returns_no_derivative_is_named():
    f, g, x = (lambda x: np.sum(x**2)), (lambda x: 2 * x), np.array([1.0, 2.0])
    with pytest.raises(dk.OutputShapeError, match="returned 'ab', which is not an array"):
        check_grad(f, g, x, reference=lambda x: "ab")
    with pytest.raises(dk.OutputShapeError, match=r"reference returned shape \(3,\)"):
        check_grad(f, g, x, reference=lambda x: np.ones(3), directions=2)
    F = lambda x: np.array([x[0] * x[1], x[0]])
    J = lambda x: np.array([[x[1], x[0]], [1.0, 0.0]])
    with pytest.raises(dk.OutputShapeError, match=r"reference returned shape \(1, 2\)"):
        dk.testing.check_jacobian(F, J, x, reference=lambda x: J(x)[:1], directions=2)


@pytest.mark.parametrize("method", ["reverse-mode", "reverse-compiled", "auto"])
def test_nan_in_data_that_f_discards_has_a_gradient(method):
    """np.where(np.isnan(y), 0, y * w) and np.nansum(y * w) with y = [1, nan, 2]: f = 2.3 and
    the gradient is [1, 0, 2], but the sweep multiplied the zero cotangent of the discarded
    entry by its NaN (NaN data raises no floating-point event, so the guard was not used): a
    DomainError 'choose another point' at every point. A gradient that is not finite is
    swept again with every record guarded."""
    import diffkit.numpy as dnp

    y, w = np.array([1.0, np.nan, 2.0]), np.array([0.5, 0.7, 0.9])
    for f in (lambda w, y: dnp.sum(dnp.where(dnp.isnan(y), 0.0, y * w)),
              lambda w, y: dnp.nansum(y * w)):
        np.testing.assert_array_equal(dk.gradient(f, w, method=method, args=(y,)),
                                      [1.0, 0.0, 2.0])
    with pytest.raises(dk.DomainError, match="sqrt"):  # a derivative that truly is not finite
        dk.gradient(lambda x: np.sum(np.sqrt(x)), np.array([0.0, 1.0]), method=method)


_NAN_Y = np.array([1.0, np.nan, 3.0, 2.0])
_NAN_W = np.array([0.5, 2.0, -1.0, 0.7])
_KEEP = np.array([0, 2, 3])  # the numbers of y: the gradient is the plain reduction's there


@pytest.mark.parametrize(("name", "exact"), [
    ("nansum", lambda y, w: y),
    ("nanmean", lambda y, w: y / 3),
    ("nanprod", lambda y, w: y * np.prod(y * w) / (y * w)),
    ("nanmax", lambda y, w: y * (y * w == np.max(y * w))),
    ("nanmin", lambda y, w: y * (y * w == np.min(y * w))),
    ("nanmedian", lambda y, w: y * (y * w == np.median(y * w))),
    ("nanvar", lambda y, w: y * 2 * (y * w - np.mean(y * w)) / 3),
    ("nanstd", lambda y, w: y * (y * w - np.mean(y * w)) / (3 * np.std(y * w))),
])
@pytest.mark.parametrize("method", ["forward-mode", "reverse-mode", "auto", "richardson"])
def test_nan_reductions_of_data_times_parameters_have_exact_gradients(name, exact, method):
    """np.nansum(y * w) with NaN in the data y: forward mode's tangent of y * w is NaN at the
    NaN entry, and the reduction's JVP weighed it by 0 (0 * NaN): a DomainError at every
    point -- and Richardson, whose noise model runs the same JVPs, refused with 'crosses a
    domain edge'. The NaN-ignoring JVPs select (where) instead; every mode gives the exact
    gradient, 0 at the NaN entry."""
    fn = getattr(np, name)
    g = dk.gradient(lambda w: fn(_NAN_Y * w), _NAN_W, method=method)
    want = np.zeros(4)
    want[_KEEP] = exact(_NAN_Y[_KEEP], _NAN_W[_KEEP])
    tol = 1e-8 if method == "richardson" else 1e-13
    np.testing.assert_allclose(g, want, rtol=tol, atol=tol * 1e-2)


@pytest.mark.parametrize("method", ["forward-mode", "reverse-mode"])
def test_nan_cumulative_reductions_of_data_times_parameters(method):
    y, w = _NAN_Y, _NAN_W
    z = np.where(np.isnan(y), 0.0, y * w)  # nancumsum reads NaN as 0, nancumprod as 1
    g = dk.gradient(lambda w: np.sum(np.nancumsum(y * w) ** 2), w, method=method)
    c = np.cumsum(z)
    want = np.where(np.isnan(y), 0.0, y * np.cumsum((2 * c)[::-1])[::-1])
    np.testing.assert_allclose(g, want, rtol=1e-13)
    g = dk.gradient(lambda w: np.sum(np.nancumprod(y * w)), w, method=method)
    p = np.where(np.isnan(y), 1.0, y * w)
    want = [0.0 if np.isnan(y[i]) else sum(np.prod(p[:k + 1]) / p[i] * y[i]
                                           for k in range(i, 4)) for i in range(4)]
    np.testing.assert_allclose(g, want, rtol=1e-13)


def test_a_compiled_hessian_the_tape_cannot_give_is_refused_not_nan():
    """reverse-compiled's Hessian of np.nansum(y * w**3) with NaN data returned a column of
    NaN, quietly: the tape's fallback rows were not checked. They are now checked as every
    method's derivatives are (a DomainError naming the entry)."""
    y = np.array([1.0, np.nan, 3.0])
    m = dk.methods.get("reverse-compiled")
    with pytest.raises(dk.DomainError, match="derivative of f is nan"):
        dk.hessian(lambda w: np.nansum(y * w**3), np.array([0.5, 2.0, -1.0]),
                   method="reverse-compiled")
    with pytest.raises(dk.DomainError, match="derivative of f is nan"):
        m.hvp(lambda w: np.nansum(y * w**3), np.array([0.5, 2.0, -1.0]), np.ones(3))
