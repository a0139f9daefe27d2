"""Analysis: references, step-size sweeps, swell, cost and comparisons, against exact values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import diffkit as dk
from diffkit import catalog
from diffkit.analysis.compare import catalog_markdown, compare_catalog
from diffkit.reference import (
    exact_derivatives,
    reference_jacobian,
    richardson_jacobian,
)

EXP = dk.Function.from_expr("exp(x)")


@pytest.fixture(scope="module")
def exp_sweep():
    return dk.analysis.step_error(
        EXP, 1.0, schemes=("forward-difference", "backward-difference", "central-difference",
                           "richardson"))


# ----------------------------------------------------------------------------- references

@pytest.mark.parametrize("entry", catalog.suite(), ids=lambda e: e.name)
def test_richardson_reference_is_close_and_its_estimate_is_honest(entry):
    value, err = richardson_jacobian(entry.function, entry.point)
    exact = entry.exact_float().ravel()
    true = np.abs(value.ravel() - exact)
    assert np.all(true <= 1e-11 * np.maximum(1, np.abs(exact)))
    assert np.all(err.ravel() > 0)


def test_richardson_reference_estimate_bounds_its_error_across_the_catalogue():
    """The reference is the Richardson method (one engine): its estimate holds on every
    catalogue entry. The old copy (fixed 0.1 |x| start, 8 levels, no rounding term) fell
    short on 8 of 17 (log@2 by 1.6x, polar by 5x)."""
    for entry in catalog.entries():
        value, err = richardson_jacobian(entry.function, entry.point)
        exact = np.asarray(entry.exact_float(), dtype=float).reshape(value.shape)
        assert np.all(np.abs(value - exact) <= err), entry.name
        assert np.all(err <= 1e3 * np.maximum(np.abs(value - exact), 1e-16 * np.abs(exact)))
    with pytest.raises(dk.OrderError, match=r"richardson_jacobian\(ratio=3.0\): the step "
                       r"sequence halves \(ratio 2.0\)"):
        richardson_jacobian(EXP, 1.0, ratio=3.0)


def test_reference_for_plain_numpy_is_marked_approximate():
    r = reference_jacobian(dk.Function(lambda x: math.sin(x) * math.exp(x)), 0.7)
    exact = np.exp(0.7) * (np.sin(0.7) + np.cos(0.7))
    assert not r.exact
    assert r.source == "richardson"
    assert abs(r.value[0, 0] - exact) < 1e-12
    assert "no exact reference" in r.note or "no symbolic form" in r.note


def test_reference_for_formula_is_exact():
    r = reference_jacobian(catalog.get("baydin").function, [2.0, 5.0])
    assert r.exact
    np.testing.assert_allclose(r.value[0], [5.5, 2.0 - np.cos(5.0)], rtol=1e-15)


def test_exact_higher_derivatives():
    f = dk.Function.from_expr("sin(x)")
    d2, d3, d5 = exact_derivatives(f, 0.5, (2, 3, 5))
    assert d2 == pytest.approx(-np.sin(0.5), rel=1e-15)
    assert d3 == pytest.approx(-np.cos(0.5), rel=1e-15)
    assert d5 == pytest.approx(np.cos(0.5), rel=1e-15)


# ----------------------------------------------------------------------------- step_error

def test_step_error_targets_for_exp_at_1(exp_sweep):
    r = exp_sweep
    fwd, cen = "forward-difference", "central-difference"
    assert 1e-10 <= r.optimal_h[fwd] <= 1e-6
    assert 1e-7 <= r.optimal_h[cen] <= 1e-3
    assert r.min_error[cen] < r.min_error[fwd] / 100
    assert r.slopes[fwd] == pytest.approx(1, abs=0.2)
    assert r.slopes["backward-difference"] == pytest.approx(1, abs=0.2)
    assert r.slopes[cen] == pytest.approx(2, abs=0.2)
    assert r.slopes["richardson"] == pytest.approx(4, abs=0.3)
    assert r.slopes["complex-step"] == pytest.approx(2, abs=0.2)
    for s in (fwd, cen):
        assert 0.1 <= r.predicted_h[s] / r.optimal_h[s] <= 10
    assert r.reference_exact
    assert r.exact == np.e


def test_step_error_model_is_the_textbook_one(exp_sweep):
    r = exp_sweep
    eps = np.finfo(float).eps
    h = r.h
    np.testing.assert_allclose(r.truncation["forward-difference"], np.e / 2 * h, rtol=1e-14)
    np.testing.assert_allclose(r.truncation["central-difference"], np.e / 6 * h**2, rtol=1e-14)
    np.testing.assert_allclose(r.roundoff["forward-difference"], eps * np.e / h, rtol=1e-14)
    np.testing.assert_allclose(r.model["central-difference"],
                               np.e / 6 * h**2 + eps * np.e / h, rtol=1e-14)
    assert r.predicted_h["forward-difference"] == pytest.approx(np.sqrt(2 * eps), rel=1e-12)
    assert r.predicted_h["central-difference"] == pytest.approx((3 * eps) ** (1 / 3), rel=1e-12)


def test_complex_step_reaches_rounding_for_small_h(exp_sweep):
    r = exp_sweep
    small = r.h <= 1e-9
    assert np.all(r.errors["complex-step"][small] <= 2 * np.finfo(float).eps * np.e)


def test_step_error_never_raises_mid_sweep():
    # sqrt at 0.01: central and backward stencils leave the domain for h > 0.01
    r = dk.analysis.step_error(dk.Function.from_expr("sqrt(x)"), 0.01, h=np.logspace(-6, 0, 13))
    bad = r.h > 0.011
    assert np.all(np.isnan(r.errors["central-difference"][bad]))
    assert np.all(r.status["central-difference"][bad] != "ok")
    assert np.all(r.status["central-difference"][~bad] == "ok")
    assert np.all(r.status["forward-difference"] == "ok")


def test_step_error_records_tiny_steps_as_breakdowns():
    r = dk.analysis.step_error(EXP, 1.0, h=[1e-17, 1e-3], complex_step=False)
    assert r.status["forward-difference"][0] == "x + h == x"
    assert np.isnan(r.errors["forward-difference"][0])
    assert r.status["forward-difference"][1] == "ok"


def test_step_error_non_analytic_complex_step_is_a_status():
    r = dk.analysis.step_error(dk.Function.from_expr("abs(x) + x**2"), 0.3,
                               h=np.logspace(-8, -2, 7))
    assert np.all(r.status["complex-step"] != "ok")
    assert np.all(np.isnan(r.errors["complex-step"]))


def test_step_error_float32():
    r = dk.analysis.step_error(EXP, 1.0, dtype=np.float32, h=np.logspace(-8, 0, 33))
    eps32 = float(np.finfo(np.float32).eps)
    assert r.dtype is np.float32
    # the optima move to the float32 balance points: sqrt(2 eps) and cbrt(3 eps)
    assert 1e-5 <= r.optimal_h["forward-difference"] <= 1e-2
    assert r.predicted_h["forward-difference"] == pytest.approx(np.sqrt(2 * eps32), rel=1e-6)
    assert r.slopes["forward-difference"] == pytest.approx(1, abs=0.2)
    assert r.min_error["central-difference"] > 1e-8  # float32 cannot do better


def test_step_error_plain_numpy_is_approximate_but_close():
    r = dk.analysis.step_error(lambda x: math.exp(x), 1.0, h=np.logspace(-12, -1, 23),
                               complex_step=False)
    assert not r.reference_exact
    assert r.notes
    assert abs(r.exact - np.e) < 1e-12
    assert r.slopes["central-difference"] == pytest.approx(2, abs=0.2)


def test_step_error_csv_and_json(exp_sweep):
    text = exp_sweep.to_csv()
    lines = text.splitlines()
    assert lines[0].startswith("scheme,h,value,abs_error")
    assert len(lines) == 1 + len(exp_sweep.h) * len(exp_sweep.schemes)
    data = json.loads(json.dumps(exp_sweep.to_dict()))
    assert set(data["schemes"]) == set(exp_sweep.schemes)


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"schemes": ("fancy",)}, dk.UnknownMethodError, "not a step-size scheme"),
    ({"schemes": ()}, dk.UnknownMethodError, "at least one scheme"),
    ({"h": [1e-3, -1.0]}, dk.StepError, "positive and finite"),
    ({"h": "small"}, dk.StepError, "not an array of numbers"),
    ({"dtype": np.float16}, dk.PointError, "only np.float64 and np.float32"),
])
def test_step_error_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dk.analysis.step_error(EXP, 1.0, **kwargs)


def test_step_error_bad_point():
    with pytest.raises(dk.PointError, match="takes 2 parameters"):
        dk.analysis.step_error(catalog.get("baydin").function, [2.0, 5.0])
    with pytest.raises(dk.PointError, match=r"cannot be evaluated"):
        dk.analysis.step_error(dk.Function.from_expr("log(x)"), -1.0)


# ----------------------------------------------------------------------------- swell

def test_swell_logistic_matches_baydin_and_anchors():
    pytest.importorskip("diffkit.analysis.expressions")
    pytest.importorskip("diffkit.methods.symbolic")
    s = dk.analysis.swell("logistic", [1, 2, 3, 4], max_expanded=4)
    m = s.metrics
    assert s.ns.tolist() == [1, 2, 3, 4]
    # ANCHORS.md at n = 4: tree(l) 38, DAG(l) 13, tree(dl/dx) 166, DAG(dl/dx) 26
    assert m["f tree"][3] == 38
    assert m["f DAG"][3] == 13
    assert m["f' tree"][3] == 166
    assert m["f' DAG"][3] == 26
    assert np.all(np.diff(m["f' tree"]) > 0)
    assert np.all(np.isfinite(m["f' expanded"]))


def test_swell_tape_grows_linearly():
    pytest.importorskip("diffkit.methods.reverse")
    s = dk.analysis.swell("logistic", [2, 3, 4, 5, 6], max_expanded=1, max_tree=1)
    tape = s.metrics["reverse tape ops"]
    assert np.all(np.isfinite(tape))
    assert len(set(np.diff(tape).tolist())) == 1  # a constant number of ops per step


@pytest.mark.parametrize(("args", "match"), [
    (("henon", [1, 2]), "unknown family"),
    (("logistic", [0, 1]), "integers >= 1"),
    (("logistic", []), "integers >= 1"),
    (("logistic", [1.5]), "integers >= 1"),
])
def test_swell_bad_input(args, match):
    with pytest.raises(dk.DiffkitError, match=match):
        dk.analysis.swell(*args)


# ----------------------------------------------------------------------------- cost

def test_cost_counts_evaluations():
    names = [m for m in ("reverse-mode", "forward-mode") if m in dk.methods.available()]
    fixed = dk.methods.CentralDifference(h=1e-6)
    c = dk.analysis.cost("rosenbrock", [4, 8], [fixed, *names], repeat=1)
    # f(x), the noise probe, 2n stencil points, and 2n at 2h for the error estimate
    assert c.nfev["central-difference"].tolist() == [18.0, 34.0]
    if "reverse-mode" in names:
        assert c.nfev["reverse-mode"].tolist() == [1.0, 1.0]
        assert np.all(c.tape_bytes["reverse-mode"] > 0)
        assert c.tape_bytes["reverse-mode"][1] > c.tape_bytes["reverse-mode"][0]
        assert np.all(c.rel_error["reverse-mode"] < 1e-15)
    assert np.all(c.rel_error["central-difference"] < 1e-8)
    assert np.all(c.seconds["central-difference"] > 0)
    assert np.all(c.peak_bytes["central-difference"] > 0)


def test_cost_wide_jacobian_family():
    c = dk.analysis.cost("sines", [3, 6], [dk.methods.CentralDifference(h=1e-6)], repeat=1)
    assert c.kind == "jacobian"
    # one input: f(x), the noise probe, 2 points, 2 at 2h for the error estimate
    assert c.nfev["central-difference"].tolist() == [6.0, 6.0]
    assert np.all(c.rel_error["central-difference"] < 1e-8)


def test_cost_skips_what_would_exceed_the_budget():
    c = dk.analysis.cost("rosenbrock", [10, 10**7], ["central-difference"], repeat=1,
                         budget=1e-6)
    assert c.status["central-difference"][1].startswith("skipped")
    assert np.isnan(c.seconds["central-difference"][1])


@pytest.mark.parametrize(("args", "kwargs", "exc", "match"), [
    (("nope", [10]), {}, dk.UnknownMethodError, "unknown family"),
    (("rosenbrock", [1]), {}, dk.PointError, "integers >= 2"),
    (("rosenbrock", [10]), {"repeat": 0}, dk.PointError, "positive integer"),
    (("rosenbrock", [10], ["magic"]), {}, dk.UnknownMethodError, "not a diffkit method"),
])
def test_cost_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dk.analysis.cost(*args, **kwargs)


# ----------------------------------------------------------------------------- compare

def test_compare_every_available_method_on_baydin():
    c = dk.compare(catalog.get("baydin"), repeat=1)
    exact = catalog.get("baydin").exact_float()
    assert c.methods == dk.methods.concrete()
    for r in c.rows:
        if r.value is None:
            assert r.status != "ok"
            continue
        assert r.abs_error == pytest.approx(np.max(np.abs(r.value - exact)), abs=1e-300)
        assert r.rel_error < 1e-6
    assert c["central-difference"].nfev >= 4
    if "reverse-mode" in c.methods:
        assert c["reverse-mode"].rel_error < 1e-15
        assert "tape ops" in c["reverse-mode"].size


def test_compare_vector_function_uses_jacobian():
    c = dk.compare(catalog.get("polar"), methods=["central-difference"], repeat=1)
    assert c.kind == "jacobian"
    assert c.rows[0].value.shape == (2, 2)
    assert c.rows[0].rel_error < 1e-9


def test_compare_reports_failures_as_status():
    c = dk.compare(dk.Function.from_expr("log(x1) + x1*x2 - sin(x2)"), [2.0, 5.0],
                   methods=["manual", "central-difference"], repeat=1)
    assert c["manual"].value is None
    assert c["manual"].status.startswith("MissingManualError")
    assert np.isnan(c["manual"].rel_error)


def test_compare_outputs():
    c = dk.compare(dk.Function.from_expr("exp(x)"), 1.0, methods=["central-difference"],
                   repeat=1)
    md = c.to_markdown()
    assert "| method | derivative | abs error |" in md
    assert "central-difference" in md
    html = c._repr_html_()
    assert html.count("<tr>") == 2
    assert "central-difference" in str(c)
    data = json.loads(json.dumps(c.to_dict()))
    assert data["rows"][0]["method"] == "central-difference"


def test_compare_with_given_reference_and_plain_numpy():
    c = dk.compare(lambda x: np.sin(x), 0.5, methods=["central-difference"], repeat=1,
                   reference=np.cos(0.5))
    assert c.reference.source == "given"
    c2 = dk.compare(lambda x: math.sin(x), 0.5, methods=["central-difference"], repeat=1)
    assert not c2.reference.exact
    assert any("Richardson" in n for n in c2.notes)


@pytest.mark.parametrize(("args", "kwargs", "exc", "match"), [
    ((dk.Function.from_expr("exp(x)"),), {}, dk.PointError, "x is required"),
    ((dk.Function.from_expr("exp(x)"), 1.0), {"methods": ["magic"]}, dk.UnknownMethodError,
     "not a diffkit method"),
    ((dk.Function.from_expr("log(x)"), -1.0), {}, dk.PointError, "cannot be evaluated"),
    (("exp(x)", 1.0), {}, dk.SpecError, "Function.from_expr"),
    ((dk.Function.from_expr("exp(x)"), 1.0), {"repeat": -1}, dk.PointError, "non-negative"),
])
def test_compare_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dk.compare(*args, **kwargs)


def test_catalog_matrix():
    entries = [catalog.get("exp@1"), catalog.get("abs-kink")]
    res = compare_catalog(entries, ["central-difference", "complex-step"])
    md = catalog_markdown(res)
    assert md.splitlines()[0] == "| function | central-difference | complex-step |"
    assert "NonAnalyticError" in md.splitlines()[3]


def test_catalog_matrix_names_missing_manual():
    md = catalog_markdown(compare_catalog([catalog.get("exp@1")], ["manual"]))
    assert md.splitlines()[2] == "| exp@1 | no manual |"


def test_compare_reports_symbolic_expression_size():
    pytest.importorskip("diffkit.methods.symbolic")
    pytest.importorskip("diffkit.analysis.expressions")
    c = dk.compare(catalog.get("baydin"), methods=["symbolic"], repeat=1)
    assert c["symbolic"].size.startswith("expr tree ")
