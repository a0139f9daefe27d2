"""Results as text: values to 4 significant digits, result objects that print a summary (not
arrays of status strings), a comparison table that keeps to the terminal's width."""

from __future__ import annotations

import numpy as np
import pytest

import diffkit as dk
from diffkit import display


@pytest.mark.parametrize(("value", "text"), [
    (0.6931471805599453, "0.6931"), (10.0, "10"), (11.652071, "11.65"), (3.6e-4, "0.00036"),
    (3.594e-5, "3.594e-5"), (-123456.0, "-1.235e+5"), (-0.0, "0"), (float("nan"), "nan"),
    (float("-inf"), "-inf"), (1e300, "1e+300"),
])
def test_format_number(value, text):
    assert display.format_number(value) == text


def test_format_value():
    assert display.format_value(np.array([0.5, -1.0])) == "[0.5, -1]"
    assert display.format_value(np.zeros((8, 3))) == "array[8x3]"
    assert display.format_value(np.zeros(0)) == "array[0]"
    assert display.format_value(np.float32(0.1)) == "0.1"
    assert display.format_value(np.int64(7)) == "7"
    assert display.format_value(np.array([True, False])) == "[True, False]"
    assert display.format_value(2.0 + 0.5j) == "2+0.5j"


@pytest.mark.parametrize(("status", "code"), [
    ("ok", "ok"), ("MissingManualError: method='manual' ...", "no manual"),
    ("NonAnalyticError: complex-step: abs(x) uses ...", "non-analytic"),
    ("DomainError: log(-1) ...", "domain"), ("StencilError: ...", "stencil"),
    ("UnsupportedPrimitiveError: ...", "unsupported"),
    ("OrderError: ...", "order"), ("one-sided (forward) near a domain edge: f ...", "one-sided"),
])
def test_status_codes(status, code):
    assert display.status_code(status) == code


# ----------------------------------------------------------------------------- comparison


@pytest.fixture(scope="module")
def comparison():
    f = dk.Function.from_expr("abs(x) + log(x1) + x1*x2 - sin(x2)")
    return dk.compare(f, [0.5, 2.0, 5.0], repeat=1)


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_comparison_keeps_to_the_width(comparison, width):
    text = display.comparison_text(comparison, width)
    assert max(len(line) for line in text.splitlines()) <= width
    for r in comparison.rows:  # every method is still there
        assert r.method in text
    assert "[1] manual: MissingManualError: " in text.replace("\n    ", " ")
    assert "[2] complex-step: NonAnalyticError: " in text.replace("\n    ", " ")


def test_comparison_statuses_are_short_codes_with_details_under_the_table(comparison):
    lines = display.comparison_text(comparison, 200).splitlines()
    rows = {ln.split()[0]: ln for ln in lines[2:12]}
    assert rows["manual"].endswith("no manual [1]")
    assert rows["complex-step"].endswith("non-analytic [2]")
    assert rows["central-difference"].endswith("ok")
    assert all(len(ln) < 160 for ln in lines[1:12])  # no 300-character status in a row
    assert lines[12].startswith("[1] manual: MissingManualError")


def test_comparison_narrows_by_leaving_columns_out_and_says_so(comparison):
    text = display.comparison_text(comparison, 80)
    assert "(to fit 80 characters, left out: size, seconds; derivatives listed above)" in text
    assert "derivatives:\n  forward-difference: [" in text
    wide = display.comparison_text(comparison, 200)
    assert "left out" not in wide
    assert "expr tree" in wide


def test_print_comparison_uses_the_terminal_width(comparison, monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    assert max(len(line) for line in str(comparison).splitlines()) <= 70


# ----------------------------------------------------------------------------- the analyses


def test_step_error_prints_a_summary():
    """Issue 25: print(step_error(...)) dumped arrays of 100 status strings."""
    r = dk.analysis.step_error(dk.Function.from_expr("sqrt(x)"), 1e-3)
    text = str(r)
    lines = text.splitlines()
    assert lines[0] == ("d/dx sqrt(x) at x = 0.001: reference 15.811388300841896 (exact), "
                        "float64, 97 steps from 1.0e-16 to 1.0e+00")
    assert lines[1].split()[:3] == ["scheme", "p", "slope"]
    assert [ln.split()[0] for ln in lines[2:6]] == list(r.schemes)
    assert "central-difference: 18 of 97 steps broke down (StencilError); their errors are NaN" \
        in lines
    assert "'ok'" not in text
    assert len(lines) < 12
    assert repr(r).startswith("StepErrorResult('sqrt(x)' at x=0.001;")


def test_cost_prints_a_summary():
    c = dk.analysis.cost("rosenbrock", [4, 8], ["central-difference", "reverse-mode"],
                         repeat=1)
    lines = str(c).splitlines()
    assert lines[0] == ("gradient of rosenbrock versus n: median seconds per call "
                        "(function evaluations)")
    assert lines[1].split() == ["method", "n=4", "n=8"]
    assert lines[2].split()[0] == "central-difference"
    assert "(22 ev)" in lines[2]
    assert "(1 ev)" in lines[3]


def test_swell_prints_a_summary():
    s = dk.analysis.swell("logistic", [1, 2, 7])
    lines = str(s).splitlines()
    assert lines[1].split()[:3] == ["n", "f", "tree"]
    assert lines[4].split()[:3] == ["7", "318", "22"]
    assert lines[-1] == "expanded forms built for n <= 5 only (degree 2^(n-1))"
