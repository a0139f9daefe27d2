"""diffkit.testing: the checker catches real bugs, never cries wolf, and says what is wrong.

Self-test as autograd does it: every registry VJP and JVP rule is checked with this checker,
and a planted wrong rule (x1.001) must be caught.
"""

from __future__ import annotations

import numpy as np
import pytest

import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.core import REGISTRY
from diffkit.errors import NonFiniteError, OutputShapeError, PointError
from diffkit.results import DerivativeResult
from diffkit.spec import Function, SpecError
from diffkit.testing import (
    GradCheckWarning,
    assert_grad_close,
    assert_hessian_close,
    assert_jacobian_close,
    check_grad,
    check_hessian,
    check_jacobian,
    check_taylor,
    default_tolerances,
)
from tests.cases import CASES

# ============================================================================ targets


def _rosen_with_slip(index: int, factor: float = 1.01):
    e = catalog.rosenbrock(1000)
    good = e.function.manual_fn

    def bad(x):
        g = good(x)
        g[index] *= factor
        return g

    return e, bad


def test_one_percent_error_in_one_entry_of_a_1000_dim_rosenbrock_is_caught_and_named():
    e, bad = _rosen_with_slip(417)
    report = check_grad(e.function, bad, e.point)
    assert not report.ok
    assert report.nfailed == 1
    assert report.worst == (417,)
    with pytest.raises(AssertionError, match=r"1 of 1000 entries outside") as info:
        assert_grad_close(e.function, bad, e.point)
    msg = str(info.value)
    assert "worst x[417]: actual" in msg
    assert "|actual - desired| <= atol + rtol*|desired| (rtol=1e-05" in msg
    assert "a bug in the checked derivative, not step noise" in msg
    # large n: only the failing entry is listed, not 1000 rows
    assert len(msg.splitlines()) < 10
    assert "x[416]" not in msg


def test_directions_catch_the_same_slip_at_cost_independent_of_n():
    e, bad = _rosen_with_slip(417)
    assert not check_grad(e.function, bad, e.point, directions=8).ok
    counts = []
    for n in (100, 1000):
        small = catalog.rosenbrock(n)
        calls = []

        def counted(x, calls=calls, small=small):
            calls.append(1)
            return small.function.call(x)

        f = Function(counted, name="rosen")
        assert check_grad(f, small.function.manual_fn, small.point, directions=8).ok
        counts.append(len(calls))
    # evaluations of f do not grow with n (a pilot round more or less along some direction)
    assert abs(counts[0] - counts[1]) <= 8 * 3
    assert counts[1] < 2 * 1000  # far fewer than one central difference per entry


def _sampler(entry, rng):
    p = np.asarray(entry.point, dtype=float)
    spread = 0.25 * np.maximum(np.abs(p), 0.04)
    return lambda: p + rng.uniform(-1.0, 1.0, p.shape) * spread


def _exact_evaluator(entry):
    """Exact derivatives, compiled once per entry (sympy -> mpmath), evaluated at 30 digits."""
    import mpmath
    import sympy

    if entry.expr is None:
        return entry.exact_float
    from diffkit.reference import sympy_form

    expr, symbols = sympy_form(entry.function)
    fn = sympy.lambdify(symbols, [sympy.diff(expr, s) for s in symbols], modules="mpmath")

    def exact(x):
        with mpmath.workdps(30):
            args = [mpmath.mpf(float(v)) for v in np.ravel(x)]
            return np.array([float(v) for v in fn(*args)]).reshape(np.shape(x))

    return exact


@pytest.mark.parametrize("name", catalog.names())
def test_no_false_alarm_on_the_catalogue_at_100_random_points(name):
    entry = catalog.get(name)
    rng = np.random.default_rng(12345)
    draw = _sampler(entry, rng)
    exact = _exact_evaluator(entry)
    for _ in range(100):
        x = draw()
        value = exact(x)
        if "vector" in entry.tags:
            report = check_jacobian(entry.function, lambda *a, v=value: v, x)
        else:
            report = check_grad(entry.function, lambda *a, v=value: v, x)
        assert report.ok, f"{name} at {x}: {report.message()}"


# ============================================================================ self-test


def _float_args(args):
    return [i for i, a in enumerate(args)
            if not (isinstance(a, np.ndarray) and a.dtype == bool)]


def _with(args, i, xi):
    out = list(args)
    out[i] = xi
    return tuple(out)


def rule_cases():
    for name in sorted(REGISTRY):
        prim = REGISTRY[name]
        if not prim.differentiable or prim.composite is not None:  # composites: no rules
            continue
        for k, (args, _params) in enumerate(CASES[name]):
            for i in _float_args(args):
                if prim.vjp_rule(i) is not None:
                    yield pytest.param(name, k, i, id=f"{name}-{k}-arg{i}")


RULE_CASES = list(rule_cases())


def check_vjp_rule(prim, args, params, i, seed=0, **settings):
    """The registry VJP of argument i against the gradient of x_i -> sum(g * f(..x_i..))."""
    rng = np.random.default_rng(seed)
    ans = prim.numeric(*args, **params)
    g = rng.uniform(0.5, 1.5, np.shape(ans))
    rule = prim.vjp_rule(i)
    x_i = np.asarray(args[i], dtype=float)

    def phi(x):
        return np.sum(g * prim.numeric(*_with(args, i, x), **params))

    def vjp(x):
        a = _with(args, i, x)
        return rule(g, prim.numeric(*a, **params), *a, **params)

    return check_grad(Function(phi, name=f"{prim.name} arg {i}"), vjp, x_i, **settings)


def check_jvp_rule(prim, args, params, i, **settings):
    """The registry JVP of argument i, applied to unit tangents, against the Jacobian."""
    rule = prim.jvp_rule(i)
    x_i = np.asarray(args[i], dtype=float)

    def F(x):
        return np.ravel(prim.numeric(*_with(args, i, x), **params))

    def jac(x):
        a = _with(args, i, x)
        ans = prim.numeric(*a, **params)
        cols = []
        for k in range(x.size):
            t = np.zeros(x.size)
            t[k] = 1.0
            out = rule(t.reshape(x.shape), ans, *a, **params)
            cols.append(np.ravel(np.broadcast_to(out, np.shape(ans))))
        return np.stack(cols, axis=1)

    return check_jacobian(Function(F, name=f"{prim.name} arg {i}"), jac, x_i, **settings)


@pytest.mark.parametrize(("name", "k", "i"), RULE_CASES)
def test_every_registry_vjp_and_jvp_passes_the_checker(name, k, i):
    prim = REGISTRY[name]
    args, params = CASES[name][k]
    vjp_report = check_vjp_rule(prim, args, params, i)
    assert vjp_report.ok, vjp_report.message()
    jvp_report = check_jvp_rule(prim, args, params, i)
    assert jvp_report.ok, jvp_report.message()


@pytest.mark.parametrize("name", ["sin", "exp", "multiply", "divide", "sum", "matmul"])
def test_a_planted_wrong_rule_is_caught(name, monkeypatch):
    prim = REGISTRY[name]
    args, params = CASES[name][1]
    vjp0, jvp0 = prim.vjp_rule(0), prim.jvp_rule(0)
    monkeypatch.setattr(prim, "vjp", (lambda *a, **p: vjp0(*a, **p) * 1.001, *prim.vjp[1:]))
    monkeypatch.setattr(prim, "jvp", (lambda *a, **p: jvp0(*a, **p) * 1.001, *prim.jvp[1:]))
    vjp_report = check_vjp_rule(prim, args, params, 0)
    assert not vjp_report.ok
    assert "constant factor" in vjp_report.hint() or vjp_report.nfailed == 1
    assert not check_jvp_rule(prim, args, params, 0).ok
    assert not check_vjp_rule(prim, args, params, 0, directions=4).ok


def test_a_planted_wrong_rule_is_caught_through_reverse_and_forward_mode(monkeypatch):
    reverse = pytest.importorskip("diffkit.methods.reverse")
    forward = pytest.importorskip("diffkit.methods.forward")
    prim = REGISTRY["tanh"]
    vjp0, jvp0 = prim.vjp_rule(0), prim.jvp_rule(0)
    monkeypatch.setattr(prim, "vjp", (lambda *a, **p: vjp0(*a, **p) * 1.001,))
    monkeypatch.setattr(prim, "jvp", (lambda *a, **p: jvp0(*a, **p) * 1.001,))
    f = Function(lambda x: dnp.sum(dnp.tanh(x) * x), name="f")
    x = np.array([0.3, -0.7, 1.1])
    assert not check_grad(f, lambda x: reverse.gradient(f.fn, x), x).ok
    assert not check_grad(f, lambda x: forward.gradient(f.fn, x), x).ok


def _method_rule_cases():
    for name, k, i in (p.values for p in RULE_CASES):
        if name not in ("scatter",):
            yield pytest.param(name, k, i, id=f"{name}-{k}-arg{i}")


@pytest.mark.parametrize(("name", "k", "i"), list(_method_rule_cases()))
def test_every_primitive_through_reverse_and_forward_mode(name, k, i):
    """The same stanzas, as the AD methods apply them (their fast paths included)."""
    reverse = pytest.importorskip("diffkit.methods.reverse")
    forward = pytest.importorskip("diffkit.methods.forward")
    prim = REGISTRY[name]
    args, params = CASES[name][k]
    rng = np.random.default_rng(1)
    g = rng.uniform(0.5, 1.5, np.shape(prim.numeric(*args, **params)))
    fn = prim.function
    x_i = np.asarray(args[i], dtype=float)

    def F(x):
        a = _with(args, i, x)
        if name == "average":  # numpy's second positional parameter is axis, not weights
            return fn(a[0], weights=a[1], **params)
        return fn(*a, **params) if not prim.variadic else fn(a, **params)

    def phi(x):
        return dnp.sum(g * F(x))

    spec = Function(phi, name=f"{name} arg {i}")
    report = check_grad(spec, lambda x: reverse.vjp(F, x)[1](g), x_i)
    assert report.ok, report.message()
    jac = Function(lambda x: dnp.reshape(F(x), (-1,)), name=f"{name} arg {i}")

    def forward_jac(x):
        cols = []
        for c in range(x.size):
            t = np.zeros(x.size)
            t[c] = 1.0
            cols.append(np.ravel(forward.jvp(F, x, t.reshape(x.shape))[1]))
        return np.stack(cols, axis=1)

    report = check_jacobian(jac, forward_jac, x_i)
    assert report.ok, report.message()


# ============================================================================ messages


def _sq(x):
    return np.sum(x**2)


X3 = np.array([1.0, 2.0, 3.0])


def test_hint_sign_flip_factor_two_and_constant_factor():
    assert "sign flip" in check_grad(_sq, lambda x: -2 * x, X3).hint()
    assert "twice" in check_grad(_sq, lambda x: 4 * x, X3).hint()
    assert "half" in check_grad(_sq, lambda x: x, X3).hint()
    assert "1.001 times the reference" in check_grad(_sq, lambda x: 2.002 * x, X3).hint()


def test_hint_transposition():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    report = check_jacobian(lambda x: A @ x, lambda x: A.T, np.array([0.5, 1.5]))
    assert not report.ok
    assert "transposed" in report.hint()
    with pytest.raises(OutputShapeError, match=r"returned shape \(3, 2\).*its transpose"):
        check_jacobian(lambda x: np.ones((2, 3)) @ x, lambda x: np.ones((3, 2)), np.ones(3))


def test_hint_step_noise_versus_bug():
    # a correct gradient held to an impossible tolerance: not a failure but inconclusive, and
    # the hint blames the reference's own noise, not the gradient
    f = Function(lambda x: np.sum(np.exp(3 * x)), name="e3")
    report = check_grad(f, lambda x: 3 * np.exp(3 * x), np.array([2.0, 1.5]), rtol=1e-14,
                        atol=0.0)
    assert not report.ok
    assert report.verdict == "inconclusive"
    assert report.nfailed == 0
    assert "cannot tell a bug from its own noise" in report.hint()
    assert report.ref_error is not None
    assert np.all(report.ref_error > 0)
    # the same tolerance with a real bug: a failure, blamed on the gradient
    bad = check_grad(f, lambda x: 3.003 * np.exp(3 * x), np.array([2.0, 1.5]), rtol=1e-14,
                     atol=0.0)
    assert bad.verdict == "fail"
    assert "a bug in the checked derivative, not step noise" in bad.hint()


def test_small_checks_show_every_entry_large_ones_only_failures():
    small = check_grad(_sq, lambda x: np.array([2.0, 4.0, 7.0]), X3)
    table = small.table()
    assert table.count("\n") == 3
    assert "x[0]" in table
    assert "FAIL" in table
    x = np.linspace(0.1, 2.0, 100)
    big = check_grad(_sq, lambda x: 2 * x * np.where(np.arange(100) % 30 == 0, 1.1, 1.0), x)
    assert big.nfailed == 4
    assert "x[1]" not in big.table()
    assert "x[30]" in big.table()
    assert "<table>" in big._repr_html_()
    assert "FAIL" in big._repr_html_()


def test_many_failures_are_capped():
    x = np.linspace(0.1, 2.0, 100)
    report = check_grad(_sq, lambda x: 3 * x, x)
    assert "... and 90 more failing entries" in report.message()


def test_names_and_parameters_label_entries():
    f = Function(lambda a, b: a**2 * b, name="ab")
    report = check_grad(f, lambda a, b: [2 * a * b, 0.0], [1.5, 2.0])
    assert report.worst_label == "b"
    r2 = check_grad(_sq, lambda x: np.array([2.0, 4.0, 0.0]), X3, names=["u", "v", "w"])
    assert "worst w:" in r2.message()
    with pytest.raises(OutputShapeError, match="names has 2 entries"):
        check_grad(_sq, lambda x: 2 * x, X3, names=["u", "v"])


def test_matrix_shaped_points_use_multi_indices():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    report = check_grad(_sq, lambda x: 2 * x + (x == 5.0), x)
    assert report.worst_label == "x[1, 1]"


# ============================================================================ references


@pytest.mark.parametrize("reference", ["forward-difference", "backward-difference",
                                       "central-difference", "reverse-mode", "forward-mode",
                                       "symbolic"])
def test_every_method_works_as_a_reference(reference):
    from diffkit import methods

    if reference not in methods.available():
        pytest.skip(f"{reference} not available")
    e = catalog.get("trivariate")
    exact = e.exact_float()
    assert check_grad(e.function, lambda *a: exact, e.point, reference=reference).ok
    bad = exact * np.array([1.0, 1.001, 1.0])
    report = check_grad(e.function, lambda *a: bad, e.point, reference=reference)
    assert not report.ok
    assert report.worst_label == "y"


def test_richardson_and_complex_step_references_when_available():
    from diffkit import methods

    for ref in ("richardson", "complex-step"):
        if ref not in methods.available():
            continue
        e = catalog.get("squire-trapp@1.5")
        exact = e.exact_float()
        assert check_grad(e.function, lambda x, v=exact: v, e.point, reference=ref).ok
        assert not check_grad(e.function, lambda x, v=exact: v * (1 + 1e-6), e.point,
                              reference=ref).ok


def test_default_rtol_depends_on_reference_and_dtype():
    assert default_tolerances("central-difference")[0] == 1e-5
    assert default_tolerances("forward-difference")[0] == 1e-4
    assert default_tolerances("reverse-mode")[0] == 1e-10
    assert default_tolerances("central-difference", np.float32)[0] == 1e-3
    assert default_tolerances("central-difference", kind="hessian")[0] == 1e-3


def test_callable_reference_and_its_error_estimate():
    report = check_grad(_sq, lambda x: 2 * x, X3, reference=lambda x: 2 * x)
    assert report.ok
    assert report.reference.startswith("callable")
    est = DerivativeResult(2 * X3 + 1e-3, nfev=0, method="mine", error=np.full(3, 1e-2))
    r2 = check_grad(_sq, lambda x: 2 * x, X3, reference=lambda x: est, rtol=1e-6, atol=0.0)
    assert not r2.ok
    assert "within the reference's own error estimate" in r2.hint()


def test_step_is_passed_to_the_reference():
    assert check_grad(_sq, lambda x: 2 * x, X3, h=1e-4).ok
    with pytest.raises(ValueError, match="h="):
        check_grad(_sq, lambda x: 2 * x, X3, h=-1.0)


def test_float32_point_gets_a_float64_reference_and_a_warning():
    x = np.array([0.5, 1.5], dtype=np.float32)
    with pytest.warns(GradCheckWarning, match="single precision"):
        report = check_grad(lambda x: np.sum(np.sin(x)), lambda x: np.cos(x), x)
    assert report.ok
    assert report.rtol == 1e-3
    with pytest.warns(GradCheckWarning):
        report = check_grad(lambda x: np.sum(np.sin(x)),
                            lambda x: np.cos(x).astype(np.float32), x.astype(float))
    assert report.ok


# ============================================================================ directions / Taylor


def test_directions_pass_for_a_correct_gradient_and_are_seeded():
    x = np.linspace(-1, 1, 50)
    f = lambda x: np.sum(np.sin(x) * x**2)
    g = lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x)
    r1 = check_grad(f, g, x, directions=5, seed=3)
    r2 = check_grad(f, g, x, directions=5, seed=3)
    assert r1.ok
    assert r1.kind == "directional"
    assert r1.actual.shape == (5,)
    np.testing.assert_array_equal(r1.directions, r2.directions)
    assert not check_grad(f, lambda x: g(x) * 1.001, x, directions=2).ok
    with pytest.raises(OutputShapeError, match="directions=0"):
        check_grad(f, g, x, directions=0)


def test_directional_jacobian():
    A = np.array([[1.0, 2.0, 0.5], [3.0, -1.0, 2.0]])
    assert check_jacobian(lambda x: A @ np.sin(x), lambda x: A * np.cos(x), np.ones(3),
                          directions=3).ok
    assert not check_jacobian(lambda x: A @ np.sin(x), lambda x: A * np.sin(x), np.ones(3),
                              directions=3).ok


def test_taylor_remainder_test():
    x = np.array([0.3, -0.2, 0.9])
    f = lambda x: np.sum(np.exp(x) * np.cos(x))
    g = lambda x: np.exp(x) * (np.cos(x) - np.sin(x))
    good = check_grad(f, g, x, reference="taylor")
    assert good.ok
    assert np.all(good.orders > 1.8)
    bad = check_taylor(f, lambda x: g(x) * np.array([1, 1.0001, 1]), x)
    assert not bad.ok
    assert "order 1" in bad.message()
    # a linear function: the remainder stays at rounding level, which passes
    assert check_taylor(lambda x: np.sum(3 * x), lambda x: np.full(3, 3.0), x).ok
    with pytest.raises(AssertionError, match="Taylor test of f failed"):
        assert_grad_close(f, lambda x: g(x) * 1.01, x, reference="taylor")


# ============================================================================ Jacobian / Hessian


def test_jacobian_and_hessian():
    e = catalog.get("polar")
    exact = e.exact_float()
    assert_jacobian_close(e.function, lambda r, t: exact, e.point)
    with pytest.raises(AssertionError, match=r"worst d f\[1\]/d theta"):
        assert_jacobian_close(e.function, lambda r, t: exact + np.array([[0, 0], [0, 0.1]]),
                              e.point)
    f = lambda x: x[0] ** 2 * np.exp(x[1])
    H = lambda x: np.exp(x[1]) * np.array([[2, 2 * x[0]], [2 * x[0], x[0] ** 2]])
    assert_hessian_close(f, H, np.array([0.7, 0.2]))
    report = check_hessian(f, lambda x: H(x) * np.array([[1, 2], [1, 1]]), np.array([0.7, 0.2]))
    assert not report.ok
    assert report.worst_label == "(x[0], x[1])"


def test_hessian_with_an_ad_reference():
    pytest.importorskip("diffkit.methods.reverse")
    e = catalog.get("baydin")
    H = lambda x1, x2: np.array([[-1 / x1**2, 1.0], [1.0, np.sin(x2)]])
    report = assert_hessian_close(e.function, H, e.point, reference="reverse-mode")
    assert report.reference == "reverse-mode"


# ============================================================================ bad input


def test_non_callable_f_or_grad():
    with pytest.raises(SpecError, match=r"grad must be callable, got ndarray"):
        check_grad(_sq, np.ones(3), X3)
    with pytest.raises(SpecError, match=r"check_grad\(f, grad, x\): f must be a callable or a "
                       r"diffkit Function, got str 'x\*\*2'; for a formula use "
                       r"dk.Function.from_expr\('x\*\*2'\)"):  # as every entry point says it
        check_grad("x**2", lambda x: 2 * x, X3)
    with pytest.raises(SpecError, match=r"reference=3 must be a method name"):
        check_grad(_sq, lambda x: 2 * x, X3, reference=3)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(OutputShapeError,
                       match=r"grad\(x\) returned shape \(2,\), but the gradient at x must "
                             r"have shape \(3,\)"):
        check_grad(_sq, lambda x: np.ones(2), X3)
    with pytest.raises(OutputShapeError, match=r"returned shape \(3, 1\)"):
        check_grad(_sq, lambda x: np.ones((3, 1)), X3)
    with pytest.raises(OutputShapeError, match=r"returned str"):
        check_grad(_sq, lambda x: "grad", X3)
    with pytest.raises(OutputShapeError, match=r"returned complex values"):
        check_grad(_sq, lambda x: 2 * x + 1e-3j, X3)


def test_nan_gradient_is_a_failure_naming_the_entry():
    report = check_grad(_sq, lambda x: np.array([2.0, np.nan, 6.0]), X3)
    assert not report.ok
    assert report.worst_label == "x[1]"
    assert "not finite at x[1]" in report.hint()
    with pytest.raises(AssertionError, match=r"worst x\[1\]: actual nan"):
        assert_grad_close(_sq, lambda x: np.array([2.0, np.nan, 6.0]), X3)


def test_bad_points():
    """The checkers validate the point like every entry point (diffkit.validation.as_point):
    a non-numeric point is a PointError, not a NonFiniteError (tests/test_validation.py)."""
    with pytest.raises(NonFiniteError, match=r"check_grad\(f, grad, x\): x\[1\] = inf is not "
                       r"finite; derivatives are taken at finite points, pass a finite x"):
        check_grad(_sq, lambda x: 2 * x, [1.0, np.inf])
    with pytest.raises(PointError, match=r"check_grad\(f, grad, x\): x = \['a'\] is not numeric "
                       r"\(dtype <U1\); pass floats") as info:
        check_grad(_sq, lambda x: 2 * x, ["a"])
    assert type(info.value) is PointError


def test_report_repr_and_str():
    report = check_grad(_sq, lambda x: 2 * x, X3)
    assert "ok" in repr(report)
    assert "passed" in str(report)


# ============================================================================ the engine


@pytest.mark.parametrize("entry", [catalog.get(n) for n in ("baydin", "trivariate", "polar")],
                         ids=lambda e: e.name)
def test_finite_difference_reference_error_estimate_bounds_its_error(entry):
    """A finite-difference reference without its own estimate is judged against the engine's
    fourth-order stencil at the same steps: the estimate covers the reference's true error."""
    exact = entry.exact_float()
    x = np.asarray(entry.point, dtype=float)
    vector = "vector" in entry.tags
    check = check_jacobian if vector else check_grad

    def right(*args):  # the exact derivative, whatever the point
        return exact

    for reference in ("central-difference", "forward-difference"):
        report = check(entry.function, right, x, reference=reference)
        true = np.abs(report.desired - exact.reshape(report.desired.shape))
        assert np.all(report.ref_error >= true), (reference, report.ref_error, true)
        assert np.all(report.ref_error < 1e3 * np.maximum(true, 1e-12))
    if not vector:
        d = check_grad(entry.function, right, x, reference="central-difference", directions=3)
        true = np.abs(d.desired - d.directions @ exact.ravel())
        assert np.all(d.ref_error >= true)


def test_a_reference_without_hessians_falls_back_to_central_second_differences():
    from diffkit import hessian
    from diffkit.methods import CentralDifference, Method

    class GradientOnly(Method):  # a user's method: Jacobians, no Hessians
        name = "gradient-only"

        def _jacobian(self, spec, x):
            return CentralDifference()._jacobian(spec, x)

    f = catalog.get("trivariate")
    exact = np.asarray(hessian(f.function, f.point, method="symbolic"))
    report = check_hessian(f.function, lambda *a: exact, f.point, reference=GradientOnly())
    assert report.ok
    assert report.reference == "central second differences (gradient-only has no Hessian)"


# ============================================================================ verdicts (#18, #24, #25)


def test_a_one_percent_error_in_an_entry_a_million_times_smaller_than_the_largest_fails():
    """The default atol is ATOL_FRACTION * rtol * max|desired|, not rtol * max|desired|: a 1 %
    slip in an entry 1e-6 of the largest is caught (rtol * max|desired| passed it)."""
    scales = np.array([1.0, 1e-3, 1e-6])
    f = Function(lambda x: np.sum(scales * np.exp(x)), name="scaled")
    x = np.array([0.3, -0.2, 0.5])
    good = lambda x: scales * np.exp(x)
    assert check_grad(f, good, x).ok
    for i in range(3):
        slip = np.ones(3)
        slip[i] = 1.01
        report = check_grad(f, lambda x, s=slip: good(x) * s, x)
        assert report.verdict == "fail", (i, report.message())
        assert report.worst == (i,)


def test_inconclusive_when_the_reference_cannot_resolve_the_tolerance():
    """float32 arithmetic inside f: a tolerance tighter than float32 resolves is not a pass,
    and the message says why and what would resolve it."""
    f = Function(lambda x: np.sum(np.sin(x.astype(np.float32)) ** 2), name="f32")
    x = np.array([0.3, 0.7, 1.1])
    exact = np.sin(2 * x)
    report = check_grad(f, lambda x: exact, x, rtol=1e-8)
    assert report.verdict == "inconclusive"
    assert not report.ok
    assert report.nfailed == 0
    msg = report.message()
    assert msg.startswith("gradient check of f32 inconclusive: the reference "
                          "(central-difference) could not resolve the tolerance")
    assert "Why: f computes in float32" in msg
    assert "evaluate f in float64, use reference='richardson'" in msg
    assert "state a larger tolerance explicitly (this reference resolves about rtol=" in msg
    with pytest.raises(AssertionError, match="inconclusive"):
        assert_grad_close(f, lambda x: exact, x, rtol=1e-8)
    assert "??" in report.table()
    assert "inconclusive" in report._repr_html_()
    assert "inconclusive" in repr(report)


@pytest.mark.parametrize("out", ["float32", "float64"])
def test_float32_functions_bugs_fail_correct_gradients_pass(out):
    """Issue #18's table: sum(sin(float32 x)^2), returned as float32 or as a float64."""
    cast = (lambda v: v) if out == "float32" else float
    f = Function(lambda x: cast(np.sum(np.sin(x.astype(np.float32)) ** 2)), name="f")
    x = np.array([0.3, 0.7, 1.1])
    exact = np.sin(2 * x)
    report = check_grad(f, lambda x: exact, x)
    assert report.ok, report.message()
    assert report.precision != "float64"
    for bug in (1.1, 1.01):
        bad = check_grad(f, lambda x, b=bug: exact * np.array([b, 1.0, 1.0]), x)
        assert bad.verdict == "fail", bad.message()
        assert bad.worst == (0,)


def test_data_arguments_are_passed_and_never_differentiated():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal(5)
    loss = lambda w, X, y, scale=1.0: scale * np.sum((X @ w - y) ** 2)
    grad = lambda w, X, y, scale=1.0: scale * 2 * X.T @ (X @ w - y)
    w = np.array([0.1, -0.2, 0.3])
    assert check_grad(loss, grad, w, args=(X, y)).ok
    assert check_grad(loss, grad, w, args=(X, y), kwargs={"scale": 3.0}).ok
    assert not check_grad(loss, lambda w, X, y: 1.01 * grad(w, X, y), w, args=(X, y)).ok
    assert check_grad(loss, grad, w, args=(X, y), reference="richardson").ok
    assert check_grad(loss, grad, w, args=(X, y), directions=3).ok
    assert check_grad(loss, grad, w, args=(X, y), reference="taylor").ok
    assert check_grad(loss, grad, w, args=(X, y), reference=lambda w, X, y: grad(w, X, y)).ok
    F = lambda w, A: A @ np.sin(w)
    assert check_jacobian(F, lambda w, A: A * np.cos(w), w, args=(X,)).ok
    H = lambda w, X, y: 2 * X.T @ X
    assert check_hessian(loss, H, w, args=(X, y)).ok
    with pytest.raises(SpecError, match=r"args must be a tuple of data passed to f after x, "
                                        r"got ndarray"):
        check_grad(loss, grad, w, args=X)
    with pytest.raises(SpecError, match=r"kwargs must be a dict"):
        check_grad(loss, grad, w, args=(X, y), kwargs=[1])
    with pytest.raises(SpecError, match=r"f takes 3 positional parameters \(w, X, y\) but "
                                        r"args= passes 3"):
        check_grad(loss, grad, w, args=(X, y, 1.0))


def test_hessian_checks_catch_one_percent_off_the_diagonal_and_asymmetry():
    """Issue #25: a Gaussian log-likelihood's Hessian; an off-diagonal error of 0.4 on -19.4
    passed with atol = rtol * max|H|."""
    data = np.array([0.3, -1.2, 0.8, 2.1, -0.4])

    def loglik(p):
        mu, log_s = p[0], p[1]
        return -np.sum(0.5 * ((data - mu) / np.exp(log_s)) ** 2 + log_s)

    def hess(p):
        mu, log_s = p
        s2 = np.exp(2 * log_s)
        r = data - mu
        return np.array([[-data.size / s2, -2 * np.sum(r) / s2],
                         [-2 * np.sum(r) / s2, -2 * np.sum(r**2) / s2]])

    p = np.array([0.1, -0.3])
    H = hess(p)
    assert check_hessian(loglik, hess, p).ok
    off = H.copy()
    off[0, 1] += 0.4
    off[1, 0] += 0.4
    assert not check_hessian(loglik, lambda p: off, p).ok
    small = np.argmin(np.abs(H))
    for scale in (1.01,):
        bad = H.copy().ravel()
        bad[small] *= scale
        bad = bad.reshape(H.shape)
        bad = (bad + bad.T) / 2 if small in (1, 2) else bad
        assert not check_hessian(loglik, lambda p, b=bad: b, p).ok
    asym = H.copy()
    asym[0, 1] += 0.1
    report = check_hessian(loglik, lambda p: asym, p)
    assert not report.ok
    assert "the checked Hessian is not symmetric: entry (0, 1)" in report.message()


def test_errors_inside_a_check_name_the_checker_option():
    """Issue #25: a reference's refusal says reference=, not method=."""
    from diffkit.errors import NonAnalyticError

    f = Function(lambda x: np.sum(np.abs(x) ** 3), name="a3")
    x = np.array([0.5, -1.5])
    with pytest.raises(NonAnalyticError) as info:
        check_grad(f, lambda x: 3 * x * np.abs(x), x, reference="complex-step")
    msg = str(info.value)
    assert msg.startswith("check_grad(f, grad, x) with reference='complex-step': the "
                          "reference could not differentiate f:")
    assert "reference='richardson'" in msg
    assert "method='" not in msg


@pytest.mark.parametrize(("f", "grad", "x"), [
    (lambda x: np.sum(np.exp(x.astype(np.float32))), np.exp, np.array([0.1, 0.2, 0.3])),
    (lambda x: np.sum((x + 1e6) ** 2 - 1e12 - 2e6 * x), lambda x: 2 * x, np.array([0.3, 0.7])),
])
def test_the_taylor_test_measures_the_remainder_above_fs_own_rounding(f, grad, x):
    """A float32 f: below a float32 ulp x + e v rounds back to x and the remainder is exactly
    e * slope (order 1), read against float64's rounding floor -- the exact gradient failed.
    A float64 f with cancellation: the finest remainders are f's noise (order 0). The floor is
    f's own rounding unit and the noise the finest steps show; where a 0.1 % slip could not
    show above it, the test is inconclusive (a 1 % slip passed a first fix)."""
    exact = check_taylor(f, grad, x)
    assert exact.verdict == "inconclusive"
    assert "0.1 % error in grad.v would not show" in exact.message()
    for wrong in (1.01, 1.001, -1.0):
        assert not check_taylor(f, lambda x, c=wrong: c * np.asarray(grad(x)), x).ok
    clean = (lambda x: np.sum(np.exp(x)), np.exp, x)  # in float64, without cancellation:
    assert check_taylor(*clean).verdict == "pass"  # the same test sees a 0.1 % slip
    assert check_taylor(clean[0], lambda x: 1.001 * np.exp(x), x).verdict == "fail"
