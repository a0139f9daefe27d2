"""pytest plugin: a ``gradcheck`` fixture and marker for checking gradients in your tests.

Registered as the ``diffkit`` pytest11 entry point, so it loads on every pytest run in an
environment where diffkit is installed. It therefore imports only numpy and pytest when it
loads; :mod:`diffkit.testing` is imported the first time a check runs.

Settings, later ones win: built-in defaults, the ini options ``diffkit_reference``,
``diffkit_rtol`` and ``diffkit_atol``, the ``--diffkit-reference`` command-line flag, and a
test's ``@pytest.mark.gradcheck(reference=..., rtol=..., atol=..., h=..., directions=...,
seed=...)`` marker. A reference or ini value that is not valid stops pytest at startup with a
usage error, not every test that uses the fixture::

    @pytest.mark.gradcheck(reference="complex-step", rtol=1e-12)
    def test_strict(gradcheck):
        gradcheck(loss, my_grad, x0)     # raises AssertionError naming the worst entry
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

__all__ = ["GradCheck", "gradcheck"]

SETTINGS = ("reference", "rtol", "atol", "h", "directions", "seed", "names", "args", "kwargs")
"""Keywords the marker and the fixture accept (those of diffkit.testing.check_grad)."""

EXTRA_REFERENCES = ("taylor",)
"""References the fixture takes besides the method names (the Taylor-remainder test)."""

DEFAULT_REFERENCE = "central-difference"

_MARKER = (
    "gradcheck(**settings): settings of the diffkit gradcheck fixture for this test "
    "(reference=, rtol=, atol=, h=, directions=, seed=, names=, args=, kwargs=)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("diffkit", "diffkit gradient checks")
    group.addoption(
        "--diffkit-reference", dest="diffkit_reference", default=None, metavar="METHOD",
        help="reference method of the gradcheck fixture (overrides the diffkit_reference ini "
             "option), e.g. richardson or complex-step",
    )
    parser.addini("diffkit_reference", "reference method of the gradcheck fixture "
                  f"(default {DEFAULT_REFERENCE})", default="")
    parser.addini("diffkit_rtol", "rtol of the gradcheck fixture (default: by reference)",
                  default="")
    parser.addini("diffkit_atol", "atol of the gradcheck fixture (default: rtol*max|desired|)",
                  default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)
    run_settings(config, check=True)  # a bad flag or ini value stops the run here, once


def _float_ini(config: pytest.Config, name: str) -> float | None:
    text = str(config.getini(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise pytest.UsageError(f"ini option {name} = {text!r} is not a number; write e.g. "
                                f"{name} = 1e-6") from None
    if not (np.isfinite(value) and value >= 0):
        raise pytest.UsageError(f"ini option {name} = {text!r} must be finite and >= 0")
    return value


def run_settings(config: pytest.Config, check: bool = False) -> dict[str, Any]:
    """The run-wide settings: ini options, then the command-line flag.

    With ``check``, a reference that is not a diffkit method raises :class:`pytest.UsageError`
    (diffkit's methods are imported only then, and only when a reference is set)."""
    settings: dict[str, Any] = {"reference": DEFAULT_REFERENCE}
    ini_ref = str(config.getini("diffkit_reference") or "").strip()
    if ini_ref:
        settings["reference"] = ini_ref
        if check:
            _check_reference(ini_ref, f"ini option diffkit_reference = {ini_ref!r}")
    cli_ref = config.getoption("diffkit_reference", default=None)
    if cli_ref:
        settings["reference"] = cli_ref
        if check:
            _check_reference(cli_ref, f"--diffkit-reference {cli_ref}")
    for key in ("rtol", "atol"):
        value = _float_ini(config, f"diffkit_{key}")
        if value is not None:
            settings[key] = value
    return settings


def _check_reference(name: str, where: str) -> None:
    """UsageError unless ``name`` is a diffkit method (or ``taylor``) in this installation."""
    from diffkit import methods

    known = [*methods.available(), *EXTRA_REFERENCES]
    if name in known:
        return
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise pytest.UsageError(
        f"{where}: not a diffkit reference; {hint}choose one of {', '.join(known)}")


def pytest_report_header(config: pytest.Config) -> str:
    try:
        s = run_settings(config)
    except pytest.UsageError as exc:  # reported properly when a test uses the fixture
        return f"diffkit gradcheck: {exc}"
    rtol = s.get("rtol", "by reference")
    atol = s.get("atol", "1e-4*rtol*max|desired|")
    return f"diffkit gradcheck: reference={s['reference']}, rtol={rtol}, atol={atol}"


class GradCheck:
    """The ``gradcheck`` fixture's value: call it like ``assert_grad_close``.

    ``gradcheck(f, grad, x, **overrides)`` asserts and returns the report (a failing or an
    inconclusive check raises AssertionError saying which); ``gradcheck.jacobian(...)``,
    ``gradcheck.hessian(...)`` check Jacobians and Hessians; ``args=``/``kwargs=`` pass data
    to f and the derivative (``gradcheck(loss, grad, w, args=(X, y))``);
    ``gradcheck.settings`` shows what applies to this test.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = dict(settings)

    def _merged(self, overrides: dict[str, Any]) -> dict[str, Any]:
        return {**self.settings, **overrides}

    def __call__(self, f: Any, grad: Any, x: Any, **overrides: Any) -> Any:
        __tracebackhide__ = True
        from diffkit.testing import assert_grad_close

        return assert_grad_close(f, grad, x, **self._merged(overrides))

    def jacobian(self, f: Any, jac: Any, x: Any, **overrides: Any) -> Any:
        __tracebackhide__ = True
        from diffkit.testing import assert_jacobian_close

        return assert_jacobian_close(f, jac, x, **self._merged(overrides))

    def hessian(self, f: Any, hess: Any, x: Any, **overrides: Any) -> Any:
        __tracebackhide__ = True
        from diffkit.testing import assert_hessian_close

        settings = {k: v for k, v in self._merged(overrides).items()
                    if k not in ("directions", "seed")}
        return assert_hessian_close(f, hess, x, **settings)

    def __repr__(self) -> str:
        return f"GradCheck({self.settings})"


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradCheck:
    """Check a gradient against a reference; settings from ini, flag and marker.

    Examples
    --------
    ::

        @pytest.mark.gradcheck(reference="complex-step", rtol=1e-12)
        def test_strict(gradcheck):
            gradcheck(loss, my_grad, x0)
    """
    settings = run_settings(request.config)
    marker = request.node.get_closest_marker("gradcheck")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.gradcheck{marker.args!r}: pass settings as keywords, e.g. "
                f"@pytest.mark.gradcheck(reference='richardson', rtol=1e-8)")
        unknown = [k for k in marker.kwargs if k not in SETTINGS]
        if unknown:
            raise pytest.UsageError(
                f"@pytest.mark.gradcheck({unknown[0]}=...): unknown setting; use "
                f"{', '.join(SETTINGS)}")
        settings.update(marker.kwargs)
    return GradCheck(settings)
