"""Data arguments (issue 25): ``args=`` / ``kwargs=`` on every entry point and method.

``dk.gradient(loss, w, args=(X, y))`` calls ``loss(w, X, y)`` and differentiates with respect to
``w`` only (scipy's convention). References are exact: rational arithmetic on the float data, or
mpmath at 50 digits.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.methods import available

METHODS = [m for m in available() if m != "manual"]
TOL = {  # relative to the largest entry of the exact derivative
    "forward-difference": 1e-6, "backward-difference": 1e-6, "central-difference": 1e-8,
    "richardson": 1e-11, "complex-step": 1e-13, "symbolic": 1e-13, "reverse-mode": 1e-13,
    "forward-mode": 1e-13, "auto": 1e-13, "manual": 1e-13, "reverse-compiled": 1e-13,
}
HESSIAN_TOL = {**TOL, "forward-difference": 1e-3, "backward-difference": 1e-3,
               "central-difference": 1e-5, "richardson": 1e-8, "complex-step": 1e-7}

RNG = np.random.default_rng(7)
X = RNG.normal(size=(6, 3))
Y = RNG.normal(size=6)
LABELS = np.where(RNG.normal(size=6) > 0, 1.0, -1.0)
W = np.array([0.3, -0.7, 1.1])


def lstsq(w, X, y):
    r = X @ w - y
    return dnp.sum(r * r)


def logistic(w, X, y):
    return dnp.sum(dnp.log1p(dnp.exp(-y * (X @ w))))


def _exact_lstsq_gradient(w, X, y):
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    wf = [Fraction(float(v)) for v in w]
    r = [sum(a * b for a, b in zip(row, wf, strict=True)) - Fraction(float(t))
         for row, t in zip(Xf, y, strict=True)]
    return np.array([float(2 * sum(Xf[i][j] * r[i] for i in range(len(Xf))))
                     for j in range(len(wf))])


def _exact_lstsq_hessian(X):
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    n = len(Xf[0])
    return np.array([[float(2 * sum(row[i] * row[j] for row in Xf)) for j in range(n)]
                     for i in range(n)])


def _exact_logistic_gradient(w, X, y):
    with mpmath.workdps(50):
        g = [mpmath.mpf(0)] * len(w)
        for row, t in zip(X, y, strict=True):
            z = -mpmath.mpf(float(t)) * mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(b))
                                                     for a, b in zip(row, w, strict=True))
            s = mpmath.exp(z) / (1 + mpmath.exp(z))  # d/dz log(1 + e^z)
            for j in range(len(w)):
                g[j] += s * -mpmath.mpf(float(t)) * mpmath.mpf(float(row[j]))
        return np.array([float(v) for v in g])


def _close(got, want, tol):
    got = np.asarray(got, dtype=float)
    scale = float(np.max(np.abs(want)))
    assert got.shape == want.shape
    assert float(np.max(np.abs(got - want))) <= tol * scale, (got, want)


# ----------------------------------------------------------------------------- every method


@pytest.mark.parametrize("method", METHODS)
def test_gradient_with_data_by_every_method(method):
    want = _exact_logistic_gradient(W, X, LABELS)
    _close(dk.gradient(logistic, W, method=method, args=(X, LABELS)), want, TOL[method])
    # keyword data, and a mix
    _close(dk.gradient(logistic, W, method=method, kwargs={"X": X, "y": LABELS}), want,
           TOL[method])
    _close(dk.gradient(logistic, W, method=method, args=(X,), kwargs={"y": LABELS}), want,
           TOL[method])


@pytest.mark.parametrize("method", METHODS)
def test_hessian_with_data_by_every_method(method):
    _close(dk.hessian(lstsq, W, method=method, args=(X, Y)), _exact_lstsq_hessian(X),
           HESSIAN_TOL[method])


@pytest.mark.parametrize("method", METHODS)
def test_jacobian_and_derivative_with_data_by_every_method(method):
    A = np.array([[0.5, -1.0, 0.25], [2.0, 0.0, -0.5]])
    b = np.array([0.1, -0.2])
    jac = dk.jacobian(lambda w, A, b: dnp.tanh(A @ w + b), W, method=method, args=(A, b))
    with mpmath.workdps(50):
        z = [mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(v))
                         for a, v in zip(row, W, strict=True)) + mpmath.mpf(float(c))
             for row, c in zip(A, b, strict=True)]
        want = np.array([[float(mpmath.sech(zi) ** 2 * mpmath.mpf(float(A[i, j])))
                          for j in range(3)] for i, zi in enumerate(z)])
    _close(jac, want, TOL[method])
    # a scalar function of a scalar, with a scalar and a keyword datum
    d = dk.derivative(lambda t, a, b=0.0: dnp.sin(a * t) * dnp.exp(b * t), 0.4, method=method,
                      args=(3.0,), kwargs={"b": -0.5})
    with mpmath.workdps(50):
        t = mpmath.mpf(0.4)
        exact = float(mpmath.diff(lambda s: mpmath.sin(3 * s) * mpmath.exp(-0.5 * s), t))
    assert abs(d - exact) <= TOL[method] * abs(exact)


def test_manual_derivatives_receive_the_data():
    seen = []

    @dk.function
    def loss(w, X, y):
        return lstsq(w, X, y)

    @loss.manual
    def dloss(w, X, y):
        seen.append((X, y))
        return 2 * X.T @ (X @ w - y)

    @loss.manual_hessian
    def hloss(w, X, y):
        return 2 * X.T @ X

    _close(dk.gradient(loss, W, method="manual", args=(X, Y)), _exact_lstsq_gradient(W, X, Y),
           1e-14)
    assert seen[-1][0] is X
    assert seen[-1][1] is Y
    _close(dk.hessian(loss, W, method="manual", kwargs={"X": X, "y": Y}),
           _exact_lstsq_hessian(X), 1e-14)
    c = dk.compare(loss, W, methods=["manual", "reverse-mode", "symbolic"], args=(X, Y),
                   repeat=0)
    assert [r.status for r in c.rows] == ["ok", "ok", "ok"]
    assert max(r.rel_error for r in c.rows) < 1e-13


def test_a_manual_derivative_without_the_data_parameters_is_refused_by_name():
    f = dk.Function(lstsq, manual=lambda w: 2 * w)
    with pytest.raises(dk.SpecError, match=r"^gradient\(f, x\): the hand-written derivative "
                       r"@lstsq\.manual \(<lambda>\(w\)\) does not take the data arguments "
                       r"\(array of shape \(6, 3\) \(float64\), array of shape \(6,\) "
                       r"\(float64\)\): too many positional arguments; give it the same "
                       r"parameters as lstsq$"):
        dk.gradient(f, W, method="manual", args=(X, Y))
    # the other methods do not need it
    _close(dk.gradient(f, W, method="reverse-mode", args=(X, Y)),
           _exact_lstsq_gradient(W, X, Y), 1e-13)


def test_method_objects_and_result_objects_take_data():
    r = dk.methods.CentralDifference(h=1e-6).gradient(lstsq, W, args=(X, Y))
    _close(r.value, _exact_lstsq_gradient(W, X, Y), 1e-8)
    r = dk.methods.get("reverse-mode").gradient(lstsq, W, args=(X, Y))
    assert r.method == "reverse-mode"
    assert r.info["ops"] > 0
    r = dk.methods.ComplexStep().derivative(lambda t, a: dnp.exp(a * t), 0.5, args=(2.0,))
    assert r.value == pytest.approx(2.0 * np.exp(1.0), rel=1e-15)
    r = dk.methods.Richardson().derivative(lambda t, a: dnp.exp(a * t), 0.5, kwargs={"a": 2.0})
    assert r.value == pytest.approx(2.0 * np.exp(1.0), rel=1e-12)


# ----------------------------------------------------------------------------- the binding


def test_data_fill_the_last_parameters_and_the_point_the_first():
    F = dk.Function(lstsq)
    assert F.with_data((X, Y)).parameters == ("w",)
    assert F.with_data((), {"X": X, "y": Y}).parameters == ("w",)

    def two(x1, x2, a):
        return x1 * x2 * a

    assert dk.Function(two).with_data((2.0,)).parameters == ("x1", "x2")
    np.testing.assert_allclose(dk.gradient(two, [3.0, 5.0], args=(2.0,)), [10.0, 6.0],
                               rtol=1e-15)

    def star(x, *data):  # scipy's `def f(x, *args)`
        A, c = data
        return dnp.sum(A @ x) + c

    np.testing.assert_allclose(dk.gradient(star, [1.0, 2.0], args=(np.eye(2) * 3.0, 1.0)),
                               [3.0, 3.0], rtol=1e-15)

    def defaulted(x, a, reg=0.0):  # data may overflow into parameters with defaults
        return dnp.sum(a * x * x) + reg * dnp.sum(x)

    np.testing.assert_allclose(dk.gradient(defaulted, [1.0, 2.0], args=(3.0, 0.5)),
                               [6.5, 12.5], rtol=1e-15)

    def keyword_only(x, *, scale):
        return scale * dnp.sum(x * x)

    np.testing.assert_allclose(dk.gradient(keyword_only, [1.0, 2.0], kwargs={"scale": 2.0}),
                               [4.0, 8.0], rtol=1e-15)


def test_formulas_take_data_by_position_and_by_name():
    g = dk.Function.from_expr("a*x**2 + b*x", ["x", "a", "b"])
    assert dk.derivative(g, 2.0, args=(3.0, 1.0), method="symbolic") == 13.0
    assert dk.derivative(g, 2.0, kwargs={"a": 3.0, "b": 1.0}, method="reverse-mode") == 13.0
    assert dk.derivative(g, 2.0, args=(1.0,), kwargs={"a": 3.0}) == 13.0  # b by position
    with pytest.raises(dk.SpecError, match=r"kwargs= names 'c', which a\*x\*\*2 \+ b\*x does "
                                           r"not take; its parameters are x, a, b"):
        dk.derivative(g, 2.0, kwargs={"c": 1.0})


def test_data_are_passed_as_they_are_and_never_differentiated():
    received = []

    def f(w, X, y):
        received.append((X, y))
        return lstsq(w, X, y)

    X0, Y0 = X.copy(), Y.copy()
    for method in ("reverse-mode", "forward-mode", "central-difference", "complex-step"):
        dk.gradient(f, W, method=method, args=(X, Y))
    assert all(a is X and b is Y for a, b in received)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


@pytest.mark.parametrize("method", ["symbolic", "complex-step", "auto", "reverse-mode"])
def test_each_call_sees_its_own_data(method):
    """Methods that cache per function (symbolic expressions, complex-step verdicts, auto's
    choice) must not reuse one call's data in the next."""
    F = dk.Function(lstsq)
    for k in range(3):
        Xk, Yk = X * (k + 1), Y - k
        _close(dk.gradient(F, W, method=method, args=(Xk, Yk)),
               _exact_lstsq_gradient(W, Xk, Yk), 1e-13)


def test_vectorized_functions_take_data():
    F = dk.Function(lambda xs, a: a * np.sum(xs**2, axis=-1), vectorized=True)
    g = dk.gradient(F, [1.0, 2.0], method="central-difference", args=(3.0,))
    np.testing.assert_allclose(g, [6.0, 12.0], rtol=1e-9)


def test_step_error_and_compare_take_data():
    r = dk.analysis.step_error(lambda t, a: dnp.exp(a * t), 0.5, args=(2.0,),
                               schemes=["central-difference"], complex_step=False)
    assert r.exact == pytest.approx(2.0 * np.exp(1.0), rel=1e-15)
    assert 1e-7 < r.optimal_h["central-difference"] < 1e-3
    c = dk.compare(logistic, W, methods=["reverse-mode", "central-difference"],
                   kwargs={"X": X, "y": LABELS}, repeat=0)
    assert c.reference.exact
    assert c["reverse-mode"].rel_error < 1e-13


def test_no_data_may_be_written_as_none_or_empty():
    want = _exact_lstsq_gradient(W, X, Y)
    F = dk.Function(lstsq).with_data((X, Y))
    for args, kwargs in ((None, None), ((), None), ((), {}), (None, {})):
        _close(dk.gradient(F, W, args=args, kwargs=kwargs), want, 1e-13)
    assert F.with_data(None, {}) is F


def test_no_warning_or_state_leaks_between_functions():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            dk.gradient(lstsq, W, args=(X, Y))


# ----------------------------------------------------------------------------- refusals

BIG = np.arange(2000.0).reshape(1000, 2)


def _assert_short(message):
    assert len(message) < 500
    assert "1999." not in message
    assert "998." not in message


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: dk.gradient(lstsq, W, args=BIG), dk.SpecError,
     r"^gradient\(f, x\): args= must be a tuple of data arguments, got an array of shape "
     r"\(1000, 2\) \(float64\); write args=\(data,\) for one data argument, args=\(X, y\) for "
     r"several$"),
    (lambda: dk.gradient(lstsq, W, args=[BIG, Y]), dk.SpecError,
     r"^gradient\(f, x\): args= must be a tuple of data arguments, got list \[array of shape "
     r"\(1000, 2\) \(float64\), array of shape \(6,\) \(float64\)\]; write args=\(data,\) "
     r"for one data argument, args=\(X, y\) for several$"),
    (lambda: dk.gradient(lstsq, W, kwargs=[("X", BIG)]), dk.SpecError,
     r"^gradient\(f, x\): kwargs= must be a dict of keyword data arguments \(names to "
     r"values\), got list"),
    (lambda: dk.gradient(lstsq, W, args=(BIG, Y, 1.0)), dk.SpecError,
     r"^gradient\(f, x\): lstsq\(w, X, y\) has 3 positional parameter\(s\), and args= gives 3 "
     r"data argument\(s\) \(array of shape \(1000, 2\) \(float64\), array of shape \(6,\) "
     r"\(float64\), 1\.0\), leaving none for the point x; the data fill the last parameters "
     r"and x the first, so f needs one more: def f\(x, data\): \.\.\.$"),
    (lambda: dk.gradient(lambda w: dnp.sum(w), W, args=(Y,), kwargs={"c": 1.0}), dk.SpecError,
     r"^gradient\(f, x\): f\(w\) has 1 positional parameter\(s\) not named in kwargs= \(w\), "
     r"and args= gives 1 data argument\(s\) \(array of shape \(6,\) \(float64\)\), leaving "
     r"none for the point x"),
    (lambda: dk.gradient(lstsq, W, args=(Y,), kwargs={"X": BIG}), dk.SpecError,
     r"^gradient\(f, x\): lstsq\(w, X, y\) cannot take the data arguments \(array of shape "
     r"\(6,\) \(float64\), X=array of shape \(1000, 2\) \(float64\)\) after 1 point "
     r"coordinate\(s\) \(w\): multiple values for argument 'X'\. The call is "
     r"f\(\*point, \*args, \*\*kwargs\); pass each data argument once, in order$"),
    (lambda: dk.gradient(lstsq, W, kwargs={"Z": BIG}), dk.SpecError,
     r"got an unexpected keyword argument 'Z'"),
    (lambda: dk.gradient(lstsq, W, X=BIG), dk.UnknownMethodError,
     r"^method='auto' does not take setting X=array of shape \(1000, 2\) \(float64\); it takes "
     r"no settings; data for f go in args=\(\.\.\.\) \(after the point, in order\) or "
     r"kwargs=\{\.\.\.\} \(by name\): gradient\(f, x, args=\(X,\)\)$"),
    (lambda: dk.gradient(lstsq, W, method="central-difference", data=BIG),
     dk.UnknownMethodError,
     r"^method='central-difference' does not take setting data=array of shape \(1000, 2\) "
     r"\(float64\); it takes h, order, accuracy, strict, chunk; data for f go in args="),
    (lambda: dk.Function(BIG), dk.SpecError,
     r"^Function\(fn\): fn must be callable, got an array of shape \(1000, 2\) \(float64\)"),
])
def test_refusals_name_the_argument_and_never_print_a_whole_array(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    _assert_short(str(info.value))


def test_a_point_of_the_wrong_size_says_which_parameters_the_data_took():
    def two(x1, x2, a):
        return x1 * x2 * a

    with pytest.raises(dk.ArityError, match=r"two takes 2 parameters \(x1, x2\), so x needs 2 "
                       r"coordinates; got 3 .* \(the data arguments args=/kwargs= fill a; the "
                       r"point fills the first parameter\(s\) of two\(x1, x2, a\)\)$"):
        dk.gradient(two, [1.0, 2.0, 3.0], args=(2.0,))


def test_a_function_of_only_star_args_is_refused():
    with pytest.raises(dk.SpecError, match=r"\*args/\*\*kwargs parameters cannot be "
                                           r"differentiated; name each scalar parameter"):
        dk.gradient(lambda *xs: xs[0], [1.0], args=(2.0,))


def test_bound_functions_print_their_data_briefly():
    bound = dk.Function(lstsq).with_data((BIG, Y))
    assert repr(bound) == ("Function('lstsq', parameters=('w',), data=(array of shape "
                           "(1000, 2) (float64), array of shape (6,) (float64)))")
    assert bound.unbound.parameters == ("w", "X", "y")
    assert bound.with_data(()) is bound
