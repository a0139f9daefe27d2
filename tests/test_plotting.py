"""Plots as data: axes scales, line counts, labels; never pixels."""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
from diffkit import catalog

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure

from diffkit import plotting


def _ax():
    return Figure().add_subplot()


@pytest.fixture(scope="module")
def sweep():
    return dk.analysis.step_error(dk.Function.from_expr("exp(x)"), 1.0,
                                  h=np.logspace(-14, 0, 29))


def test_step_error_plot(sweep):
    ax = _ax()
    out = plotting.plot_step_error(sweep, ax=ax)
    assert out is ax
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    n = len(sweep.schemes)
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert len(solid) == n
    assert len(dashed) == n  # one model line per scheme
    assert len(stars) == n  # one measured optimum per scheme
    np.testing.assert_allclose(dashed[0].get_ydata(), sweep.model[sweep.schemes[0]])
    texts = [t.get_text() for t in ax.texts]
    assert "round-off ∝ ε/h" in texts
    assert "truncation ∝ h¹" in texts
    assert "truncation ∝ h²" in texts
    assert ax.get_xlabel() == "step h"


def test_step_error_plot_without_model(sweep):
    ax = plotting.plot_step_error(sweep, ax=_ax(), model=False, annotate=False,
                                  schemes=["central-difference"])
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert not ax.texts


def test_step_error_plot_makes_its_own_axes(sweep):
    ax = sweep.plot()
    assert ax.get_yscale() == "log"


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_swell_plot():
    s = dk.analysis.swell("logistic", [1, 2, 3, 4], max_expanded=1, max_tree=4)
    ax = plotting.plot_swell(s, ax=_ax())
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == len(s.available())
    labels = _legend(ax)
    assert [t.split(" (")[0] for t in labels] == s.available()
    # what the log axis leaves out is in the legend, not only in s.notes
    assert "f expanded (not computed at n = 2..4)" in labels
    assert "reverse tape ops (0 at n = 1, off the log axis)" in labels


def test_step_error_plot_says_what_it_leaves_out():
    """Issue 25: the complex step was in the legend and drew nothing, the reason only in
    r.notes; breakdowns and exact zeros were silent."""
    r = dk.analysis.step_error(dk.Function.from_expr("abs(x) + x**2"), 1.0)
    ax = plotting.plot_step_error(r, ax=_ax())
    labels = _legend(ax)
    assert ("complex-step: not drawn, every step broke down (NonAnalyticError)" in labels)
    assert not any(t.startswith("complex-step (p") for t in labels)
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert len(solid) == 3  # the three finite differences; nothing empty for complex step
    assert "forward-difference (p = 1); 1 of 97 steps not drawn (x + h == x)" in labels
    assert "errors of exactly 0 drawn at ε|f'|/2" in labels
    r = dk.analysis.step_error(dk.Function.from_expr("sqrt(x)"), 1e-3)
    labels = _legend(plotting.plot_step_error(r, ax=_ax()))
    assert any(t.startswith("central-difference (p = 2); ") and t.endswith(
        "steps not drawn (StencilError)") for t in labels)


def test_cost_plot_says_what_it_leaves_out():
    """Issue 25: plot_cost(metric="nfev") left out symbolic (0 evaluations) silently."""
    c = dk.analysis.cost("rosenbrock", [4, 8], ["symbolic", "reverse-mode",
                                                "central-difference"], repeat=1)
    ax = plotting.plot_cost(c, ax=_ax(), metric="nfev")
    assert len(ax.get_lines()) == 2
    assert "symbolic: not drawn (0, which a log axis cannot show)" in _legend(ax)
    labels = _legend(plotting.plot_cost(c, ax=_ax(), metric="tape_bytes"))
    assert "central-difference: not drawn (no tape)" in labels
    assert "reverse-mode" in labels


def test_cost_plot():
    c = dk.analysis.cost("rosenbrock", [4, 8], ["central-difference"], repeat=1)
    ax = c.plot(ax=_ax())
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert len(ax.get_lines()) == 1
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [4, 8])
    ax2 = plotting.plot_cost(c, ax=_ax(), metric="nfev")
    assert ax2.get_ylabel() == "function evaluations"
    with pytest.raises(dk.UnknownMethodError, match="metric"):
        plotting.plot_cost(c, ax=_ax(), metric="joules")


def test_comparison_plot():
    c = dk.compare(catalog.get("baydin"), methods=["manual", "central-difference"], repeat=1)
    ax = c.plot(ax=_ax())
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["manual", "central-difference"]
    labels = [t.get_text() for t in ax.texts]
    assert "MissingManualError" in labels
    assert len(ax.patches) == 2
