"""Honest error bars (issue #20) and the reliability items of issue #24: every numerical result
carries a per-entry estimate; ``"ok"`` only within the method's promise; noise, offsets and
jumps are named; a function that modifies its argument is refused."""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit import catalog
from diffkit.methods import (
    BackwardDifference,
    CentralDifference,
    ComplexStep,
    ForwardDifference,
    Richardson,
)

NUMERICAL = ["forward-difference", "backward-difference", "central-difference", "richardson",
             "complex-step"]
STEPPED = NUMERICAL[:4]


def _noisy(level: float, seed: int):
    rng = np.random.default_rng(seed)
    return lambda x: x**2 + level * rng.standard_normal()


# ============================================================================ the complex step


@pytest.mark.parametrize(("f", "x", "exact"), [
    (lambda x: 1 / (x**2 - 2), np.sqrt(2) + 1e-6, lambda t: -2 * t / (t**2 - 2) ** 2),
    (lambda x: 1 / (dnp.exp(x) - 3), np.log(3) + 1e-7,
     lambda t: -mpmath.exp(t) / (mpmath.exp(t) - 3) ** 2),
    (lambda x: dnp.tan(x * x / x), np.pi / 2 - 1e-8, lambda t: 1 / mpmath.cos(t) ** 2),
])
def test_the_complex_step_near_a_pole_of_a_composite_says_its_rounding_is_amplified(f, x, exact):
    """``x**2`` is off by an ulp next to sqrt(2): the derivative of ``1 / (x**2 - 2)`` moves
    far more than the entry's own ulps. The estimate (measured a shift of x away) bounds it and
    the status says why."""
    with mpmath.workdps(50):
        want = float(exact(mpmath.mpf(float(x))))
    spec = dk.Function(f, name="g")
    r = ComplexStep().derivative(spec, x)  # first call, traced
    again = ComplexStep().derivative(spec, x)  # the lean path: the same judgement
    for res in (r, again):
        assert abs(float(res) - want) <= res.error
        assert res.status.startswith("inaccurate: rounding inside f is amplified at x")
        assert res.nfev == 4  # at x; a shift away, another step, and f(x) in reals
    with pytest.raises(dk.InaccurateDerivativeError, match="rounding inside f is amplified"):
        ComplexStep(strict=True).derivative(spec, x)


@pytest.mark.parametrize("x", [1e4, 1e8, 1e10, 1e12, 1e15, -1e13])
@pytest.mark.parametrize("shape", ["scalar", "gradient"])
def test_the_complex_step_sees_its_own_arithmetic_cancel(x, shape):
    """(x + ih) / (1 + x + ih) at large x: the complex division cancels h - x h / (1 + x), and
    Im f / h loses digits (7 of 16 at 1e10, 1.5 % at 1e15) while every real part is exact.
    The third evaluation, at another step, sees it: never "ok" with the true error above the
    estimate, and the status names the cause."""
    with mpmath.workdps(50):
        want = float(1 / (1 + mpmath.mpf(x)) ** 2)
    m = ComplexStep()
    if shape == "scalar":
        spec = dk.Function(lambda t: t / (1 + t), name="g")
        for res in (m.derivative(spec, x), m.derivative(spec, x)):  # traced, then lean
            err = abs(float(res) - want)
            assert res.status != "ok" or err <= res.error
            assert res.status.startswith("inaccurate: f's complex arithmetic loses digits") \
                or res.status.startswith("inaccurate: rounding inside f") or err <= res.error
            assert res.nfev == 4
    else:
        spec = dk.Function(lambda t: dnp.sum(t / (1 + t)) + t[1] ** 2, name="g")
        res = m.gradient(spec, np.array([x, 0.5]))
        err = np.abs(np.asarray(res.value) - [want, 1 / 1.5**2 + 1.0])
        assert np.all(err <= res.error)


def test_the_complex_step_noise_term_is_an_ulp_or_two_for_plain_code():
    m = ComplexStep()
    for f, x in ((dnp.sin, 0.5), (dnp.exp, 3.0), (lambda t: t * t - 1.0 / t, 1.7)):
        r = m.derivative(dk.Function(f), x)
        assert r.status == "ok"
        assert r.error < 1e-13 * abs(float(r))


def test_the_complex_step_far_from_a_pole_keeps_its_ulps():
    r = ComplexStep().derivative(lambda x: 1 / (x**2 - 2), 3.0)
    assert r.ok
    assert r.error < 30 * 1e-15 * abs(float(r))


@pytest.mark.parametrize(("f", "x", "cmp"), [
    (lambda x: x if x < 1 else x + 1, 1.0, "less(1.0, 1.0)"),
    (lambda x: dnp.sum(dnp.where(x > 0.5, x, 2 * x)), np.array([0.5, 2.0]),
     "greater(0.5, 0.5)"),
])
def test_the_complex_step_on_a_branch_boundary_is_not_ok(f, x, cmp):
    """At ``x = 1`` the branch ``x < 1`` is decided by the real part alone: the complex step
    follows one side and cannot vouch for a derivative that may not exist."""
    m = ComplexStep()
    r = m.derivative(f, x) if np.ndim(x) == 0 else m.gradient(f, x)
    assert not r.ok
    assert f"x is on the boundary of the comparison {cmp}, where f may jump or kink" in r.status
    assert np.all(np.isinf(r.error))
    x2 = 1.5 if np.ndim(x) == 0 else np.array([0.7, 2.0])
    r2 = m.derivative(f, x2) if np.ndim(x) == 0 else m.gradient(f, x2)
    assert r2.ok  # off the boundary: one branch, exact
    with pytest.raises(dk.InaccurateDerivativeError, match="on the boundary of the comparison"):
        ComplexStep(strict=True).derivative(lambda x: x if x < 1 else x + 1, 1.0)


def test_a_zero_derivative_by_the_complex_step_is_ok():
    r = ComplexStep().derivative(dk.Function(lambda x: 3.0 + 0 * x, name="const"), 1.0)
    assert (float(r), r.status) == (0.0, "ok")
    unused = dk.Function(lambda a, b: dnp.sin(a) + 0 * b)  # b changes nothing: 0 is exact
    g = ComplexStep().gradient(unused, [1.0, 2.0])
    assert (g.status, float(g.value[1])) == ("ok", 0.0)


@pytest.mark.parametrize("x", [1e20, 1e50, 1e100, -1e200])
def test_a_derivative_the_complex_arithmetic_cancelled_to_zero_is_not_ok(x):
    """x / (1 + x) at 1e50: h - x h / (1 + x) is 0 to the last bit at every step, and the
    real function is the constant 1.0 for a relative 2^-10 either side -- but not with x at 0
    or 1: the 0 is f's resolution, not its derivative (1e-100)."""
    r = ComplexStep().derivative(dk.Function(lambda t: t / (1 + t), name="g"), x)
    with mpmath.workdps(50):
        want = float(1 / (1 + mpmath.mpf(x)) ** 2)
    assert abs(float(r) - want) <= r.error
    assert r.status.startswith("inaccurate: f is flat to float64 precision around x")


# ============================================================================ huge x


def _status_or_refusal(call) -> tuple[str, np.ndarray | None]:
    """The result's status and error, or the StencilError's message (a refusal)."""
    try:
        r = call()
    except dk.StencilError as exc:
        return str(exc), None
    return r.status, np.asarray(r.error)


GRID_WHY = ("varies on a scale finer than the float grid", "units in the last place of x",
            "neighbouring floats are")


@pytest.mark.parametrize("name", STEPPED)
def test_differences_at_1e308_never_say_ok(name):
    """sin at 1e308: neighbouring floats are 2e292 apart, so f varies below the float grid:
    every entry along that coordinate is infinite or the call refused, never an "ok" 0 (the
    Hessian's 1 / h^2 would have underflowed to exactly that)."""
    m = dk.methods.get(name)
    f = dk.Function(lambda x: dnp.sum(dnp.sin(x)), name="sinsum")
    calls = [functools.partial(m.gradient, f, np.array([1e308, 1.0]))]
    calls += [functools.partial(m.hessian, f, x) for x in
              (np.array([1e308]), np.array([-1e308, 1.0]), np.array([3e250, 1e200]))]
    for call in calls:
        status, error = _status_or_refusal(call)
        assert status != "ok"
        assert any(w in status for w in GRID_WHY), status
        if error is not None:
            assert np.all(np.isinf(error.reshape(-1, error.shape[-1])[..., 0]))


def test_the_complex_step_hessian_at_1e308_says_its_step_overflows():
    h = ComplexStep().hessian(lambda x: dnp.sum(dnp.sin(x)), np.array([1e308]))
    assert not h.ok
    assert np.isinf(h.error).all()
    assert "its square overflows" in h.status


@pytest.mark.parametrize("name", STEPPED)
def test_huge_coordinates_are_sampled_in_units_of_a_power_of_two(name):
    """At 1e300 the pilot's f'' ~ 1/x^2 would underflow to 0 and the truncation estimate with
    it (a forward difference was 7.5e-5 off, estimate 4e-9, "ok"); scaled, the estimate bounds
    the error and Hessians come out right."""
    m = dk.methods.get(name)
    def f(x):
        return dnp.sum(dnp.sqrt(x))

    for x in (np.array([1e300]), np.array([4e250, 9e200]), np.array([1e30])):
        g = m.gradient(f, x)
        assert np.all(np.abs(g.value - 0.5 / np.sqrt(x)) <= g.error)
        h = m.hessian(f, x)
        exact = np.diag(-0.25 * x**-1.5)
        assert np.all(np.abs(h.value - exact) <= h.error)
    r = m.derivative(dnp.log, 1e300)
    assert abs(float(r) - 1e-300) <= r.error


@pytest.mark.parametrize("name", STEPPED)
def test_a_smooth_function_at_huge_x_keeps_finite_estimates(name):
    """log at 1e300 varies on the scale of x: the float-grid probe passes it, and its
    estimates are finite numbers (no inf - inf from h^2 overflowing) that bound the error."""
    m = dk.methods.get(name)
    r = m.gradient(lambda x: dnp.sum(dnp.log(x)), np.array([1e300, 2.0]))
    assert "float grid" not in r.status
    assert np.all(np.isfinite(r.error))
    r = m.gradient(lambda x: dnp.sum(dnp.log(x)), np.array([1e300, 1e290]))
    assert "float grid" not in r.status
    assert np.all(np.isfinite(r.error))
    assert np.all(np.abs(r.value - [1e-300, 1e-290]) <= r.error)


def test_an_overflow_is_named_as_an_overflow():
    with pytest.raises(dk.DomainError, match=r"power\(1e\+300, 2\) overflows: its arguments "
                       r"are finite and inside its domain"):
        dk.gradient(lambda x: x[0] ** 2 * 1e-300, np.array([1e300, 2.0]))


# ============================================================================ every result


@pytest.mark.parametrize("name", NUMERICAL)
def test_every_numerical_result_carries_an_error_of_the_value_shape(name):
    m = dk.methods.get(name)
    f = dk.Function(lambda x1, x2: dnp.exp(x1) * dnp.sin(x2) + x1 * x2, name="f")
    F = dk.Function(lambda x: dnp.stack([x[0] * x[1], dnp.sin(x[0]), x[1] ** 3]), name="F")
    x = np.array([0.4, 1.3])
    for r in (m.derivative(dnp.exp, 0.7), m.gradient(f, x), m.jacobian(F, x),
              m.hessian(f, x)):
        assert r.error is not None
        assert np.shape(r.error) == np.shape(r.value)
        assert np.all(np.asarray(r.error) >= 0)
        assert r.status == "ok", r.status
        assert r.ok


@pytest.mark.parametrize("name", NUMERICAL)
def test_an_ok_result_bounds_its_true_error_across_the_catalogue(name):
    for e in catalog.entries():
        if name == "complex-step" and "non-analytic" in e.tags:
            continue
        m = dk.methods.get(name)
        r = m.jacobian(e.function, e.point) if "vector" in e.tags else \
            m.gradient(e.function, e.point)
        exact = np.asarray(e.exact_float(), dtype=float).reshape(np.shape(r.value))
        true = np.abs(np.asarray(r.value) - exact)
        if r.status == "ok":
            assert np.all(true <= np.asarray(r.error)), (e.name, true, r.error)


# ============================================================================ issue #20's table


def test_noise_is_measured_and_named():
    for name in STEPPED:
        r = dk.methods.get(name).derivative(_noisy(1e-6, 1), 1.5)
        assert abs(float(r) - 3.0) <= float(r.error), (name, r)
        if name != "richardson" or not r.ok:
            assert r.status.startswith("inaccurate: f is not deterministic: two evaluations at "
                                       "x differ by "), (name, r.status)
    with pytest.raises(dk.InaccurateDerivativeError, match=r"^central-difference: f is not "
                       r"deterministic: two evaluations at x differ by .*Evaluate f in float64, "
                       r"make it deterministic"):
        CentralDifference(strict=True).derivative(_noisy(1e-4, 2), 1.5)
    with pytest.raises(dk.InaccurateDerivativeError):
        dk.derivative(_noisy(1e-4, 3), 1.5, method="forward-difference", strict=True)


def test_a_large_offset_grows_the_step_until_noise_and_truncation_balance():
    """1e12 + sum x^2: its rounding is 1e-4; the central difference's error is <= 1e-8."""
    f = lambda x: 1e12 + np.sum(x**2)
    x = np.array([0.5, 1.5])
    r = CentralDifference().gradient(f, x)
    true = np.abs(r.value - 2 * x)
    assert np.all(true <= r.error)
    assert np.all(r.error / np.abs(2 * x) <= 1e-8)
    assert np.all(true / np.abs(2 * x) <= 1e-8)
    r = Richardson().gradient(f, x)
    assert np.all(np.abs(r.value - 2 * x) <= r.error)
    r = ForwardDifference().gradient(f, x)
    assert r.status.startswith("inaccurate: |f| is ")
    assert "times its variation over the step" in r.status


def test_float32_inside_a_float64_result_is_detected():
    f = lambda x: float(np.sin(np.float32(x)))
    for name in STEPPED:
        r = dk.methods.get(name).derivative(f, 0.7)
        assert abs(float(r) - np.cos(0.7)) <= float(r.error), name
        assert float(r) != 0.0
        assert r.info["unit"] > 1e-10  # the precision measured, not float64's
    r = ForwardDifference().derivative(f, 0.7)
    assert abs(float(r) - np.cos(0.7)) < 1e-2  # was 0, silently


@pytest.mark.parametrize("name", STEPPED)
def test_a_jump_is_refused_saying_where(name):
    with pytest.raises(dk.StencilError) as info:
        dk.methods.get(name).derivative(lambda x: np.floor(x) + x, 1.0 - 1e-12 if name ==
                                        "forward-difference" else 1.0)
    msg = str(info.value)
    assert f"{name}: f jumps by " in msg
    assert "however small the step" in msg
    assert "a discontinuity at or next to x (floor, round, sign, a comparison or branch)" in msg


def test_a_jump_in_one_coordinate_names_it():
    f = lambda x: np.sin(x[0]) + np.sign(x[1] - 0.3) + x[1] ** 2
    with pytest.raises(dk.StencilError, match=r"f jumps by 1 between x\[1\] = 0.3 and "):
        CentralDifference().gradient(f, np.array([0.2, 0.3]))


def test_a_pure_step_function_is_never_ok():
    """sign alone: every value it takes is on a grid of 1, so the jump reads as quantization;
    the result is not "ok" and the status names the coarse grid and the entry."""
    f = lambda x: np.sin(x[0]) + np.sign(x[1] - 0.3)
    r = CentralDifference().gradient(f, np.array([0.2, 0.3]))
    assert not r.ok
    assert r.status.startswith("inaccurate: f's values are quantized to multiples of 1 ")
    assert "at entry 1" in r.status


def test_a_one_sided_scheme_at_a_jump_gives_the_derivative_from_its_side():
    r = ForwardDifference().derivative(lambda x: np.floor(x) + x, 1.0)
    assert abs(float(r) - 1.0) <= float(r.error)
    r = BackwardDifference().derivative(lambda x: np.round(x) + 0.1 * x, 2.5)
    assert abs(float(r) - 0.1) <= float(r.error)


def test_values_rounded_to_six_decimals_are_a_grid():
    f = lambda x: np.round(1e6 * np.exp(x)) / 1e6
    for name in ("central-difference", "richardson"):
        r = dk.methods.get(name).derivative(f, 0.5)
        assert abs(float(r) - np.exp(0.5)) <= float(r.error), name
        assert "quantized to multiples of" in r.info["precision"], name


STAIRS = [
    ("round(exp(x) / 1e-3) * 1e-3", lambda x: np.round(np.exp(x) / 1e-3) * 1e-3, 1.7,
     lambda t: mpmath.exp(t)),
    ("round(exp(x), 6)", lambda x: np.round(np.exp(x), 6), 0.4, lambda t: mpmath.exp(t)),
    ("floor(1e9 sin(x)) / 1e9", lambda x: np.floor(1e9 * np.sin(x)) / 1e9, 0.9,
     lambda t: mpmath.cos(t)),
    ("rint(x**3 * 1e4) / 1e4 gradient", lambda x: np.sum(np.rint(x**3 * 1e4)) / 1e4,
     np.array([1.3, -0.7]), lambda t: 3 * t**2),
]


@pytest.mark.parametrize(("label", "f", "x", "exact"), STAIRS, ids=[s[0] for s in STAIRS])
@pytest.mark.parametrize("name", STEPPED)
def test_rounding_inside_f_is_noise_on_every_difference(name, label, f, x, exact):
    """Values rounded inside f (steps of 1e-3 that exp crosses every 1.8e-4 of x): every
    difference the methods take crosses steps, so the steps are noise. The noise trace sees
    the fine staircase (round's step height against how fast its argument moves); the
    estimate bounds the error of the derivative of the function f rounds, and the precision
    names it. (The pilot's samples at 7.8e-4 lay exactly on a line: it said "ok" at 6.9e-12
    with the true error 0.33.)"""
    m = dk.methods.get(name)
    r = m.gradient(f, x) if np.ndim(x) else m.derivative(f, x)
    with mpmath.workdps(40):
        want = np.array([float(exact(mpmath.mpf(float(v)))) for v in np.ravel(x)])
    err = np.abs(np.ravel(np.asarray(r.value, dtype=float)) - want)
    assert r.status != "ok" or np.all(err <= np.ravel(np.asarray(r.error))), (err, r.error)
    assert "quantized to multiples of" in r.info["precision"]


def test_a_coarse_staircase_is_left_to_the_jump_checks():
    """floor(x) steps every 1: between its steps f is smooth, and its derivative there is the
    one the differences find (floor's 0 plus 2x), not noise."""
    for name in STEPPED:
        r = dk.methods.get(name).derivative(lambda x: np.floor(x) + x * x, 1.3)
        assert r.ok, name
        assert abs(float(r) - 2.6) <= float(r.error), name
        assert "quantized" not in r.info.get("precision", ""), name


@pytest.mark.parametrize("d", [1e-4, 1e-7, 1e-10])
@pytest.mark.parametrize("name", STEPPED)
def test_a_kink_within_the_step_of_one_coordinate_is_not_ok(name, d):
    """sum(maximum(x, 0)**2) at (d, -d, 1): f is about 1, so the steps along x[0] and x[1]
    are far longer than d and cross maximum's kink at 0, and one side's samples cannot see
    it (backward gave 6.7e-10 for 2e-7 with an estimate of 3e-9). The noise trace finds the
    kink, a second traced run at the stencil's end confirms the crossing, and those entries
    get no bound instead of a wrong one."""
    f = lambda x: np.sum(np.maximum(x, 0.0) ** 2)
    try:
        r = dk.methods.get(name).gradient(f, np.array([d, -d, 1.0]))
    except dk.StencilError:  # a refusal is no wrong number either
        return
    err = np.abs(np.asarray(r.value) - [2 * d, 0.0, 2.0])
    assert r.status != "ok" or np.all(err <= r.error), (r.value, r.error)
    if not np.all(err <= r.error):
        assert "has a kink" in r.status


@pytest.mark.parametrize("name", STEPPED)
def test_a_kink_the_stencil_does_not_reach_changes_nothing(name):
    """The trace's distance to a kink is along one direction mixing every coordinate: a kink
    near x[0] says nothing about x[1]'s step. Each candidate is confirmed by running the trace
    at the stencil's end (sum |x| at (0.5, 2): a forward step of 4.9 never crosses 0)."""
    m = dk.methods.get(name)
    for f, x, want in ((lambda t: np.sum(np.abs(t)), np.array([0.5, 2.0]), [1.0, 1.0]),
                       (lambda t: np.sum(np.maximum(t, 0.0) ** 2), np.array([0.5, -0.3, 1.0]),
                        [1.0, 0.0, 2.0])):
        r = m.gradient(f, x)
        assert r.ok, (name, r.status)
        assert np.all(np.abs(np.asarray(r.value) - want) <= r.error)


@pytest.mark.parametrize(("label", "f", "x", "exact"), [
    ("sqrt(x - 3) at 3 + 1e-7", lambda t: np.sqrt(t - 3), 3 + 1e-7,
     lambda t: 1 / (2 * mpmath.sqrt(t - 3))),
    ("1 / sin(x) at pi + 1e-7", lambda t: 1 / np.sin(t), np.pi + 1e-7,
     lambda t: -mpmath.cos(t) / mpmath.sin(t) ** 2),
    ("log(x^2 - 1) at 1 + 1e-9", lambda t: np.log(t * t - 1), 1 + 1e-9,
     lambda t: 2 * t / (t * t - 1)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_richardson_next_to_a_singularity_extrapolates_the_steps_it_took(label, f, x, exact):
    """x +- h rounds to the float grid: at 3 + 1e-7 a step of 2.3e-9 is off by 2e-7 of
    itself, and Neville's factors for steps halving exactly mis-extrapolated the differences
    by 2 c h^2 times that -- 100x the estimate next to the branch point. The factors now come
    from the steps taken."""
    r = Richardson().derivative(f, x)
    with mpmath.workdps(50):
        want = float(exact(mpmath.mpf(x)))
    assert r.status != "ok" or abs(float(r) - want) <= r.error, (float(r) - want, r.error)


def _jacobian_mp(F, x):
    with mpmath.workdps(40):
        return np.array(mpmath.jacobian(lambda *a: F(list(a)), [mpmath.mpf(float(v))
                                                               for v in x]).tolist(), dtype=float)


JACOBIANS = [
    # np.array([...]) of traced numbers: the noise trace follows it (it fell back to plain
    # evaluations, blind to t1 / (t0**2 - 4) cancelling next to its pole)
    ("pole, built with np.array", lambda t: np.array([1 / (t[0] - 2.0), t[1] / (t[0] * t[0] - 4)]),
     np.array([2.0 + 1e-6, 0.5]), lambda a: [1 / (a[0] - 2), a[1] / (a[0] ** 2 - 4)]),
    # a grid one coordinate's samples show holds for its output along the other coordinate
    ("rounded to 1e-4", lambda t: np.round(np.array([np.exp(t[0]), t[0] * t[1] ** 2]) / 1e-4)
     * 1e-4, np.array([0.7, 1.3]), lambda a: [mpmath.exp(a[0]), a[0] * a[1] ** 2]),
    # np.round over an object array of traced numbers: numpy calls each element's rint()
    ("rounded array", lambda t: np.round(np.array([t[0] * t[1], np.exp(t[1])]) / 1e-4) * 1e-4,
     np.array([0.9, 0.4]), lambda a: [a[0] * a[1], mpmath.exp(a[1])]),
    # float32 values: their spacing scales with |f| (0.03 at 4e5, where a long step lands)
    ("float32 inside", lambda t: np.array([np.sin(np.float32(t[0])), np.float32(t[1]) ** 2],
                                          dtype=float),
     np.array([0.7, 1.3]), lambda a: [mpmath.sin(a[0]), a[1] ** 2]),
]


@pytest.mark.parametrize(("label", "f", "x", "F"), JACOBIANS, ids=[j[0] for j in JACOBIANS])
@pytest.mark.parametrize("name", STEPPED)
def test_a_jacobians_entries_are_bounded_or_not_ok(name, label, f, x, F):
    r = dk.methods.get(name).jacobian(f, x)
    err = np.abs(np.asarray(r.value) - _jacobian_mp(F, x))
    assert r.status != "ok" or np.all(err <= r.error), (err, r.error)


@pytest.mark.parametrize("name", STEPPED)
def test_a_hessian_across_a_kink_is_not_ok(name):
    """maximum(x0, 0)**3 at x0 = 1e-6: the Hessian's steps along x0 reach the kink; its row
    and column get no bound (backward said "ok" with 4.4e-9 for 6e-6)."""
    f = lambda t: np.maximum(t[0], 0.0) ** 3 + t[0] * t[1]
    try:
        r = dk.methods.get(name).hessian(f, np.array([1e-6, 0.4]))
    except dk.StencilError:
        return
    err = np.abs(np.asarray(r.value) - [[6e-6, 1.0], [1.0, 0.0]])
    assert r.status != "ok" or np.all(err <= r.error), (r.value, r.error)


@pytest.mark.parametrize("name", STEPPED)
def test_a_hessian_of_float32_values_is_bounded_or_not_ok(name):
    """float(float32(x0)**2 * float32(x1)): Richardson's Hessian took f's rounding as eps |f|
    (the estimate was half the error); a binary grid's spacing, relative to |f|, holds at
    the size of the values its steps see."""
    f = lambda t: float(np.float32(t[0]) ** 2 * np.float32(t[1]))
    r = dk.methods.get(name).hessian(f, np.array([0.5, 1.5]))
    err = np.abs(np.asarray(r.value) - [[3.0, 1.0], [1.0, 0.0]])
    assert r.status != "ok" or np.all(err <= r.error), (r.value, r.error)


def test_auto_never_returns_a_jump_with_status_ok():
    f = lambda x: np.floor(x) + x
    try:
        r = dk.methods.get("auto").derivative(f, 1.0)
    except dk.DiffkitError:
        return
    assert r.method != "richardson" or r.status != "ok"


# ============================================================================ status


def test_accuracy_setting_and_its_errors():
    r = CentralDifference(accuracy=1e-20).derivative(dnp.exp, 1.0)
    assert r.status.startswith("inaccurate: ")
    assert "above accuracy=1e-20" in r.status
    assert CentralDifference(accuracy=1e-3).derivative(lambda x: float(np.sin(np.float32(x))),
                                                       0.7).status == "ok"
    for bad in (0, 1.5, "high", True, -1e-3):
        with pytest.raises(dk.OrderError, match=r"accuracy=.* must be 'auto'"):
            CentralDifference(accuracy=bad)
    with pytest.raises(dk.OrderError, match=r"strict='yes' must be True"):
        Richardson(strict="yes")
    with pytest.raises(dk.InaccurateDerivativeError, match=r"above accuracy=1e-20"):
        ComplexStep(accuracy=1e-20, strict=True).gradient(lambda x: np.sum(np.exp(x)),
                                                          np.ones(2))


def test_promises_follow_the_precision():
    from diffkit.methods.numerical import promised_accuracy

    eps32 = float(np.finfo(np.float32).eps)
    assert promised_accuracy("central-difference") == pytest.approx(1.1e-9, rel=0.05)
    assert promised_accuracy("central-difference", eps32) == pytest.approx(7.3e-4, rel=0.05)
    assert promised_accuracy("forward-difference", order=1) > \
        promised_accuracy("central-difference") > promised_accuracy("richardson") > \
        promised_accuracy("complex-step")


def test_result_summary_is_short_and_readable():
    r = CentralDifference().gradient(lambda x: np.sum(np.sin(x)), np.linspace(0, 1, 50))
    text = str(r)
    assert text.splitlines()[0].startswith("central-difference: [")
    assert ", 0.99979176" in text.splitlines()[0]
    assert "..." in text.splitlines()[0]
    assert "(shape (50,))" in text
    assert text.splitlines()[1].startswith("estimated error: <= ")
    assert len(text.splitlines()) == 3
    assert len(repr(r)) < 400
    assert "<pre>" in r._repr_html_()


# ============================================================================ cost


def test_the_default_central_gradient_costs_one_evaluation_more_in_all():
    """The determinism check (a traced evaluation at x), not one per coordinate."""
    for n in (2, 10, 100):
        e = catalog.rosenbrock(n)
        r = CentralDifference().gradient(e.function, e.point)
        assert r.nfev == 1 + 1 + 3 * n + 2 * n, n  # f(x), the probe, the pilot, the stencil
    for e in catalog.suite():
        assert CentralDifference().derivative(e.function, float(e.point)).nfev == 7, e.name


# ============================================================================ #24 item 2


@pytest.mark.parametrize("name", [*STEPPED, "complex-step"])
def test_a_function_that_modifies_its_argument_is_refused(name):
    def f(x):
        x *= 2
        return np.sum(x**2)

    method = ComplexStep(check=False) if name == "complex-step" else dk.methods.get(name)
    x = np.array([1.0, 2.0])
    with pytest.raises(dk.ArgumentMutationError) as info:
        method.gradient(f, x)
    assert str(info.value) == (f"{name}: f modified its argument in place (f changed x[0] "
                               f"from 1 to 2); copy it first (y = x.copy()) and change the copy")
    assert np.array_equal(x, [1.0, 2.0])  # the caller's x is untouched
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("x", [1e-100, 1e-300, -1e-200])
def test_the_complex_step_keeps_an_underflowed_tiny_derivative_at_its_floor(x):
    """x**3 at 1e-100: Im f = 3 x^2 h underflows at h = 1e-200. A retry at an absolute
    h = 1e-20 would bring truncation h^2 = 1e-40 into an answer of 3e-200; the retry's step is
    relative (1e-120 here: 3e-200 to 5 digits, its error bar from the noise at 1.37 h);
    below |x| = 1e-180 no relative step is larger, and it is 0 to the subnormal floor."""
    r = ComplexStep().derivative(lambda t: t**3, x)
    assert abs(float(r) - 3 * x * x) <= r.error
    assert abs(float(r)) < 1e-150  # not the -1e-40 of a retry at h = 1e-20
    r = ComplexStep().derivative(dnp.sqrt, 1e300)  # |x| >= 1: retried, 5e-151 exactly
    assert float(r) == pytest.approx(5e-151, rel=1e-14)
    assert r.ok
