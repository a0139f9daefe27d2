"""One validation boundary: every public entry point takes its point through ``as_point`` and
raises the same error class, with the same message, for the same kind of bad point."""

from __future__ import annotations

import re

import numpy as np
import pytest

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.methods import CentralDifference, ComplexStep, Richardson
from diffkit.reference import exact_jacobian, reference_jacobian
from diffkit.testing import check_grad, check_hessian, check_jacobian, check_taylor
from diffkit.validation import as_point, scalar_point

F2 = dk.Function(lambda x1, x2: dnp.log(x1) + x1 * x2, name="f")
F1 = dk.Function(lambda x: dnp.sum(x * x), name="g")


def _grad2(x1, x2):
    return [1 / x1 + x2, x1]


ENTRY_POINTS = {  # name -> (call text in messages, call on a spec of two parameters)
    "dk.gradient": ("gradient(f, x)", lambda x: dk.gradient(F2, x, method="reverse-mode")),
    "dk.jacobian": ("jacobian(f, x)", lambda x: dk.jacobian(F2, x, method="forward-mode")),
    "dk.hessian": ("hessian(f, x)", lambda x: dk.hessian(F2, x, method="richardson")),
    "CentralDifference.gradient": ("gradient(f, x)",
                                   lambda x: CentralDifference().gradient(F2, x)),
    "ComplexStep.jacobian": ("jacobian(f, x)", lambda x: ComplexStep().jacobian(F2, x)),
    "check_grad": ("check_grad(f, grad, x)", lambda x: check_grad(F2, _grad2, x)),
    "check_jacobian": ("check_jacobian(f, jac, x)",
                       lambda x: check_jacobian(F2, lambda a, b: [_grad2(a, b)], x)),
    "check_hessian": ("check_hessian(f, hess, x)",
                      lambda x: check_hessian(F2, lambda a, b: np.eye(2), x)),
    "check_taylor": ("check_taylor(f, grad, x)", lambda x: check_taylor(F2, _grad2, x)),
    "reference_jacobian": ("reference_jacobian(spec, x)", lambda x: reference_jacobian(F2, x)),
    "exact_jacobian": ("exact_jacobian(spec, x)", lambda x: exact_jacobian(F2, x)),
}

BAD = [  # (x, error class, message after the call text)
    ([2.0, np.nan], dk.NonFiniteError,
     r"x\[1\] = nan is not finite; derivatives are taken at finite points, pass a finite x"),
    ([np.inf, 5.0], dk.NonFiniteError, r"x\[0\] = inf is not finite"),
    ([2.0, 5.0, 1.0], dk.ArityError,
     r"f takes 2 parameters \(x1, x2\), so x needs 2 coordinates; got 3 \(x = \[2\. 5\. 1\.\]\)"
     r"\. Pass one value per parameter, or write the function with a single array parameter"),
    ([[2.0, 5.0]], dk.ArityError,
     r"f takes 2 parameters .* got shape \(1, 2\) \(x = \[\[2\. 5\.\]\]\)"),
    (["a", "b"], dk.PointError,
     r"x = \['a', 'b'\] is not numeric \(dtype <U1\); pass floats, e.g. \[2\.0, 5\.0\]"),
    ([[1.0, 2.0], [3.0]], dk.PointError,
     r"x = \[\[1\.0, 2\.0\], \[3\.0\]\] is not an array of numbers \(setting an array element "
     r"with a sequence\); pass a float, a list of floats or an array, e.g. \[2\.0, 5\.0\]"),
    ([1 + 1j, 2.0], dk.PointError,
     r"x = \[1\.\+1\.j 2\.\+0\.j\] is complex; diffkit differentiates real functions at real "
     r"points \(the complex step is method='complex-step'\)"),
    ([], dk.PointError, r"x is empty \(shape \(0,\)\); pass at least one number"),
]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=str)
@pytest.mark.parametrize(("x", "error", "message"), BAD,
                         ids=[f"{e.__name__}-{i}" for i, (_, e, _) in enumerate(BAD)])
def test_every_entry_point_raises_the_same_error_for_a_bad_point(entry, x, error, message):
    call, run = ENTRY_POINTS[entry]
    with pytest.raises(error, match=rf"^{re.escape(call)}: {message}") as info:
        run(x)
    # one class per kind: a non-finite point is not reported as an arity error and so on
    assert type(info.value) is error


@pytest.mark.parametrize("run", [
    lambda x: dk.derivative(dnp.exp, x, method="richardson"),
    lambda x: Richardson().derivative(dk.Function(dnp.exp), x),  # the scalar fast path
    lambda x: ComplexStep().derivative(dk.Function(dnp.exp), x),  # the lean path
    lambda x: dk.derivative(dnp.exp, x, method="central-difference"),
], ids=["api", "richardson-scalar", "complex-step-lean", "central"])
def test_scalar_fast_paths_explain_a_bad_point_like_the_general_path(run):
    for bad, text in ((float("nan"), "nan"), (np.float64(-np.inf), "-inf")):
        with pytest.raises(dk.NonFiniteError, match=rf"^derivative\(f, x\): x = {text} is not "
                           r"finite; derivatives are taken at finite points, pass a finite x$"):
            run(bad)
    with pytest.raises(dk.PointError, match=r"^derivative\(f, x\): x must be a scalar, got "
                       r"shape \(2,\) \(x = \[1\. 2\.\]\); use gradient"):
        run([1.0, 2.0])
    with pytest.raises(dk.PointError, match=r"^derivative\(f, x\): x = 'one' is not numeric"):
        run("one")


def test_as_point_returns_a_float_copy():
    x = np.array([2, 5])
    out = as_point(F2, x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 5.0])
    y = np.array([2.0, 5.0])
    assert as_point(F2, y) is not y  # the caller's array is never aliased
    assert as_point(F1, 3.0).shape == ()
    assert as_point(F1, np.float32(3.0)).dtype == np.float32  # float types are kept


def test_scalar_point_is_the_case_needing_no_checks():
    spec = dk.Function(dnp.exp)
    assert scalar_point(spec, 1.5) == 1.5
    assert type(scalar_point(spec, np.float64(1.5))) is float
    for f, x in ((spec, float("nan")), (spec, 1), (spec, np.float32(1.5)), (dnp.exp, 1.5),
                 (F2, 1.5), (dk.Function(dnp.exp, vectorized=True), 1.5)):
        assert scalar_point(f, x) is None


def test_the_quick_finiteness_proof_and_its_fallback():
    """``surely_finite`` (one sum) proves finiteness or proves nothing; where it proves nothing
    (the sum of finite entries overflows) the entries are checked one by one, so a huge finite
    point is accepted without a warning and a gradient at it is returned. Tiny entries count no
    floating-point event (one would poison the next record of an enclosing tape)."""
    from diffkit.core import FP_EVENTS, checked_evaluation
    from diffkit.spec import all_finite, surely_finite

    with checked_evaluation():
        assert surely_finite(np.array([1.0, -2.0]))
        assert surely_finite(np.zeros((3, 4))[:, ::2])  # (not contiguous)
        assert surely_finite(np.zeros(0))
        assert not surely_finite(np.array([1.0, np.nan]))
        assert not surely_finite(np.array([[np.inf], [-np.inf]]))
        huge = np.array([1.7e308, 1.7e308])
        assert not surely_finite(huge)  # (the sum overflows)
        assert all_finite(huge)
        assert not all_finite(np.array([1e200, np.inf]))
        before = FP_EVENTS.count
        assert surely_finite(np.array([1e-160, 1.0, 1e-300]))
        assert FP_EVENTS.count == before
    f = dk.Function(lambda x: dnp.sum(x * 1e-300))
    np.testing.assert_array_equal(dk.gradient(f, [1.7e308, 1.7e308], method="reverse-mode"),
                                  [1e-300, 1e-300])
    with pytest.raises(dk.NonFiniteError, match=r"x\[1\] = inf is not finite"):
        dk.gradient(f, [1e200, np.inf], method="reverse-mode")


@pytest.mark.parametrize("f", [
    lambda x: dnp.sum(x), lambda x: x[0] * 1.0, lambda x: dnp.sum(x * x),
    lambda x: dnp.dot(x, x) / 2.0, lambda x: dnp.sum(dnp.reshape(x, (2, 2))),
])
def test_a_method_that_only_reads_the_point_never_hands_it_back(f):
    """dk.gradient hands reverse-mode a C-ordered float64 point as it is (Method.reads_point:
    no copy of a large parameter vector); the caller's array is unchanged and no result
    shares its memory."""
    x = np.array([1.0, 2.0, 3.0, 4.0])
    before = x.copy()
    m = dk.methods.get("reverse-mode")
    assert m.reads_point
    outs = [dk.gradient(f, x, method="reverse-mode"), m.gradient(f, x).value,
            m.jacobian(f, x).value, m.hessian(f, x).value,
            dk.jacobian(lambda x: x * 1.0, x, method="reverse-mode"),
            dk.jacobian(lambda x: x, x, method="reverse-mode")]
    np.testing.assert_array_equal(x, before)
    for out in outs:
        assert not np.shares_memory(out, x)


def test_only_a_method_that_reads_its_point_gets_it_uncopied():
    """The copy is skipped for reverse-mode's dk.gradient path only, and only for a C-ordered
    float64 array; every other method, and every result object (whose diagnostics are worked
    out later), gets a copy: a hand-written gradient writing into its argument leaves the
    caller's array alone."""
    seen = []
    spec = dk.Function(lambda x: dnp.sum(x * x))

    @spec.manual
    def _(x):
        seen.append(x)
        x *= 2.0  # the user's derivative writes into its argument
        return x

    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(dk.gradient(spec, x, method="manual"), [2.0, 4.0])
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert seen[0] is not x
    f = dk.Function(lambda x: dnp.sum(x))
    assert as_point(f, x, copy=False) is x
    assert as_point(f, x) is not x
    fortran = np.asfortranarray(np.ones((2, 3)))
    assert as_point(f, fortran, copy=False).flags.c_contiguous
    reverse = dk.methods.get("reverse-mode")
    assert not dk.methods.get("manual").reads_point
    assert not dk.methods.get("richardson").reads_point
    r = reverse.gradient(lambda x: dnp.sum(dnp.log(x)), x)
    x[0] = -1.0  # the caller reuses the array before reading the result's diagnostics
    assert r.info["ops"] >= 1


def test_auto_hands_the_callers_point_only_to_a_method_that_reads_it():
    """auto (dk.gradient's default) passes the caller's array on to the remembered
    reverse-mode choice; a fallback to Richardson, and every result object, gets a copy."""
    x = np.array([0.5, 1.5])
    for _ in range(3):  # the first call decides, the next ones take the remembered path
        g = dk.gradient(lambda x: dnp.sum(dnp.sin(x) * x), x)
        np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-14)
        assert not np.shares_memory(g, x)

    def untraceable(x):
        return float(x[0]) * x[1] + x[0] ** 2  # float(): only the finite differences follow

    with pytest.warns(dk.DiffkitFallbackWarning):
        g = dk.gradient(untraceable, x)
    np.testing.assert_allclose(g, [1.5 + 1.0, 0.5], rtol=1e-8)
    np.testing.assert_array_equal(x, [0.5, 1.5])
    assert not np.shares_memory(g, x)
