"""The pytest plugin: fixture, marker, ini options, flag, report header (via pytester)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

CASE = """
import numpy as np
import pytest

def loss(x):
    return np.sum(np.sin(x) * x)

def good(x):
    return np.sin(x) + x * np.cos(x)

def bad(x):
    g = good(x)
    g[3] *= 1.01
    return g

X = np.linspace(0.1, 1.0, 6)
"""


def _plugin_args() -> list[str]:
    """Load the plugin explicitly unless the installed entry point already does."""
    names = {e.name for e in importlib.metadata.entry_points(group="pytest11")}
    return [] if "diffkit" in names else ["-p", "diffkit.pytest_plugin"]


_UNRELATED = ("nbmake", "benchmark", "hypothesispytest")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    names = {e.name for e in importlib.metadata.entry_points(group="pytest11")}
    off = [arg for name in _UNRELATED if name in names for arg in ("-p", f"no:{name}")]
    return pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider", *off, *args)


def test_fixture_passes_and_fails_with_the_worst_entry(pytester):
    pytester.makepyfile(CASE + """
def test_good(gradcheck):
    report = gradcheck(loss, good, X)
    assert report.ok

def test_bad(gradcheck):
    gradcheck(loss, bad, X)
""")
    result = _run(pytester, "--strict-markers")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*gradient check of loss failed: 1 of 6 entries outside*",
        "*worst x[[]3[]]*",
    ])
    # __tracebackhide__: the failure points at the user's line, not at diffkit internals
    assert "gradcheck(loss, bad, X)" in result.stdout.str()
    assert "def assert_grad_close" not in result.stdout.str()


def test_marker_is_registered_and_sets_the_reference(pytester):
    pytester.makepyfile(CASE + """
@pytest.mark.gradcheck(rtol=1e-3)
def test_loose(gradcheck):
    gradcheck(loss, bad, X)  # 1 % error is inside rtol=1e-3? no: 1e-2 > 1e-3

@pytest.mark.gradcheck(rtol=0.05, atol=0.0)
def test_very_loose(gradcheck):
    assert gradcheck.settings["rtol"] == 0.05
    gradcheck(loss, bad, X)

@pytest.mark.gradcheck(reference="forward-difference")
def test_reference(gradcheck):
    assert gradcheck(loss, good, X).reference == "forward-difference"
""")
    result = _run(pytester, "--strict-markers")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*rtol=0.001*"])


def test_ini_options_flag_and_header(pytester):
    pytester.makeini("""
[pytest]
diffkit_rtol = 1e-3
diffkit_atol = 1e-9
diffkit_reference = forward-difference
""")
    pytester.makepyfile(CASE + """
def test_settings(gradcheck):
    assert gradcheck.settings == {"reference": "backward-difference", "rtol": 1e-3,
                                  "atol": 1e-9}
    assert gradcheck(loss, good, X).reference == "backward-difference"

@pytest.mark.gradcheck(reference="central-difference")
def test_marker_beats_flag(gradcheck):
    assert gradcheck(loss, good, X).reference == "central-difference"
""")
    result = _run(pytester, "--diffkit-reference", "backward-difference")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "diffkit gradcheck: reference=backward-difference, rtol=0.001, atol=1e-09"])


def test_default_header(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = _run(pytester)
    result.stdout.fnmatch_lines([
        "diffkit gradcheck: reference=central-difference, rtol=by reference, "
        "atol=1e-4*rtol*max|desired|"])


def test_bad_ini_value_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\ndiffkit_rtol = tiny\n")
    pytester.makepyfile("def test_it(gradcheck):\n    pass\n")
    result = _run(pytester)
    assert "diffkit_rtol = 'tiny' is not a number" in result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(("args", "ini", "expected"), [
    (["--diffkit-reference", "bogus"], "", "--diffkit-reference bogus: not a diffkit "
                                           "reference; choose one of"),
    (["--diffkit-reference", "richardsn"], "", "did you mean 'richardson'?"),
    ([], "[pytest]\ndiffkit_reference = centrl-difference\n",
     "ini option diffkit_reference = 'centrl-difference': not a diffkit reference; did you "
     "mean 'central-difference'?"),
    ([], "[pytest]\ndiffkit_atol = -1\n", "diffkit_atol = '-1' must be finite and >= 0"),
])
def test_a_bad_reference_or_ini_value_stops_pytest_at_startup(pytester, args, ini, expected):
    """Issue #25: once, at startup, as a usage error -- not inside every test."""
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile("def test_a(gradcheck):\n    pass\n\ndef test_b():\n    pass\n")
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert expected in out
    assert "passed" not in out  # no test ran


def test_data_arguments_through_the_fixture(pytester):
    pytester.makepyfile("""
import numpy as np

X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
y = np.array([1.0, 0.0, 2.0])

def loss(w, X, y):
    return np.sum((X @ w - y) ** 2)

def grad(w, X, y):
    return 2 * X.T @ (X @ w - y)

def test_args(gradcheck):
    assert gradcheck(loss, grad, np.array([0.3, -0.2]), args=(X, y)).ok

@pytest.mark.gradcheck(args=(X, y))
def test_marker_args(gradcheck):
    gradcheck(loss, grad, np.array([0.3, -0.2]))
""".replace("import numpy as np", "import numpy as np\nimport pytest"))
    _run(pytester, "--strict-markers").assert_outcomes(passed=2)


def test_an_inconclusive_check_fails_the_test_saying_why(pytester):
    pytester.makepyfile("""
import numpy as np

def test_float32(gradcheck):
    f = lambda x: np.sum(np.sin(x.astype(np.float32)) ** 2)
    gradcheck(f, lambda x: np.sin(2 * x), np.array([0.3, 0.7]), rtol=1e-9)
""")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*gradient check of * inconclusive: the reference "
                                 "(central-difference) could not resolve the tolerance*"])


def test_marker_positional_and_unknown_settings(pytester):
    pytester.makepyfile("""
import pytest

@pytest.mark.gradcheck(1e-6)
def test_positional(gradcheck):
    pass

@pytest.mark.gradcheck(tolerance=1e-6)
def test_unknown(gradcheck):
    pass
""")
    result = _run(pytester)
    assert result.ret != 0
    out = result.stdout.str()
    assert "pass settings as keywords" in out or "unknown setting" in out


def test_jacobian_and_hessian_through_the_fixture(pytester):
    pytester.makepyfile("""
import numpy as np

def test_jac(gradcheck):
    F = lambda x: np.array([x[0] * x[1], np.exp(x[0])])
    J = lambda x: np.array([[x[1], x[0]], [np.exp(x[0]), 0.0]])
    gradcheck.jacobian(F, J, np.array([0.3, 2.0]))

def test_hess(gradcheck):
    f = lambda x: x[0] ** 2 * x[1]
    H = lambda x: np.array([[2 * x[1], 2 * x[0]], [2 * x[0], 0.0]])
    gradcheck.hessian(f, H, np.array([1.0, 3.0]))
""")
    _run(pytester).assert_outcomes(passed=2)


def test_plugin_imports_only_numpy_and_pytest():
    code = (
        "import sys; import diffkit.pytest_plugin; "
        "bad = [m for m in ('sympy', 'matplotlib', 'diffkit.testing', "
        "'scipy', 'hypothesis') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert out.stdout.strip() == "[]"


def test_the_issue_example_strict_complex_step(pytester):
    from diffkit import methods

    if "complex-step" not in methods.available():
        pytest.skip("complex-step not available")
    pytester.makepyfile(CASE + """
@pytest.mark.gradcheck(reference="complex-step", rtol=1e-12)
def test_strict(gradcheck):
    report = gradcheck(loss, good, X)
    assert report.reference == "complex-step"
    assert report.rtol == 1e-12

@pytest.mark.gradcheck(reference="taylor")
def test_taylor(gradcheck):
    gradcheck(loss, good, X)
""")
    _run(pytester, "--strict-markers").assert_outcomes(passed=2)
