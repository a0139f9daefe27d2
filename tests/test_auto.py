"""``method="auto"`` (issue 25 and 23): it says what it chose and why, announces a fallback from
AD to Richardson extrapolation once per function, decides once per (function, shape), and the
results it returns build their diagnostics only when read."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
import scipy.special

import diffkit as dk
import diffkit.numpy as dnp
from diffkit.methods import reverse
from diffkit.methods.auto import Fallback

AUTO = dk.methods.get("auto")
A = np.array([[3.0, 1.0], [1.0, 2.0]])


def _line_of(fn, text):
    """``test_auto.py:<line>`` of the line of ``fn``'s source holding ``text``."""
    import inspect

    lines, start = inspect.getsourcelines(fn)
    for k, line in enumerate(lines):
        if text in line:
            return f"test_auto.py:{start + k}"
    raise AssertionError(text)


# ----------------------------------------------------------------------------- the record


def test_traceable_code_records_the_ad_method_and_why():
    f = dk.Function(lambda x: dnp.sum(dnp.sin(x) * x))
    r = AUTO.gradient(f, [0.5, 1.5])
    assert r.method == r.info["method"] == "reverse-mode"
    assert r.info["why"] == ("reverse-mode: the code is traceable, and one reverse sweep gives "
                             "the whole gradient")
    assert "fallback" not in r.info
    d = AUTO.derivative(lambda t: dnp.exp(t), 0.0)
    assert d.method == "forward-mode"
    assert d.info["why"].startswith("forward-mode: the code")
    h = AUTO.hessian(f, [0.5, 1.5])
    assert h.method == "forward-mode"
    assert "forward-over-reverse" in h.info["why"]
    tall = AUTO.jacobian(lambda t: dnp.stack([t, t * t, dnp.sin(t)]), 0.5)
    assert tall.info["why"] == ("forward-mode: the code is traceable, and with more outputs "
                                "than inputs (m = 3 > n = 1) one forward pass per input is "
                                "cheaper")
    wide = AUTO.jacobian(lambda x: dnp.stack([dnp.sum(x), dnp.prod(x)]), [1.0, 2.0, 3.0])
    assert wide.info["why"] == ("reverse-mode: the code is traceable, and with no more "
                                "outputs than inputs (m = 2 <= n = 3) one reverse sweep per "
                                "output is cheaper")


def opaque_float(x):
    return math.sin(x[0]) + x[1] ** 2  # math.sin converts the traced value


def opaque_eig(x):
    return np.sum(np.linalg.eig(A * x[0])[0]) + x[1]


def opaque_special(x):
    return np.sum(scipy.special.ellipk(x / 10.0))


@pytest.mark.parametrize(("fn", "error", "primitive", "text"), [
    (opaque_float, "NotTraceableError", None, "math.sin(x[0])"),
    (opaque_eig, "UnsupportedPrimitiveError", "numpy.linalg.eig", "np.linalg.eig"),
    (opaque_special, "UnsupportedPrimitiveError", "scipy.special.ellipk", "ellipk"),
])
def test_a_fallback_names_the_primitive_and_the_line_that_stopped_ad(fn, error, primitive,
                                                                      text):
    r = AUTO.gradient(fn, [0.3, 0.5])
    assert r.method == r.info["method"] == "richardson"
    fb = r.info["fallback"]
    assert isinstance(fb, Fallback)
    assert (fb.tried, fb.error, fb.primitive, fb.function) == ("reverse-mode", error,
                                                                primitive, fn.__name__)
    assert fb.location == _line_of(fn, text)
    assert text in fb.source
    assert r.info["why"] == (f"richardson: {fb.describe()} ({error}); Richardson "
                             f"extrapolation only evaluates the function, and reports an "
                             f"error estimate")
    if primitive is not None:
        assert fb.reason.startswith(f"{primitive} was called on a traced value")
        assert "numpy.solve" not in r.info["why"]
        assert "numpy.ellipk" not in r.info["why"]
    # the answer itself is Richardson's, with its error estimate
    exact = {"opaque_float": [math.cos(0.3), 1.0]}.get(fn.__name__)
    if exact is not None:
        np.testing.assert_allclose(r.value, exact, rtol=1e-11)
    assert r.error is not None


def test_a_large_traced_array_is_never_printed_in_the_reason():
    r = AUTO.gradient(lambda x: float(np.sum(np.asarray(x))), np.ones(3000))
    assert "array of shape (3000,)" in r.info["fallback"].reason
    assert len(r.info["why"]) < 600


# ----------------------------------------------------------------------------- the warning


def test_the_plain_array_api_warns_once_per_function_naming_what_stopped_ad():
    def solve_then_eig(x):
        return np.sum(np.linalg.eig(A * x[0])[0]) * x[1]

    with pytest.warns(dk.DiffkitFallbackWarning) as record:
        g = dk.gradient(solve_then_eig, [0.3, 0.5])
    assert len(record) == 1
    w = record[0]
    assert w.filename == __file__  # points at the user's call, not inside diffkit
    message = str(w.message)
    assert message.startswith("gradient(f, x): method='auto' used Richardson extrapolation "
                              "(estimated error ")
    assert (f"because reverse-mode could not follow solve_then_eig at "
            f"{_line_of(solve_then_eig, 'np.linalg.eig')} (`return np.sum(np.linalg.eig(A * "
            f"x[0])[0]) * x[1]`): numpy.linalg.eig was called on a traced value and diffkit "
            f"has no primitive for it, so its derivative is unknown. For a derivative exact to "
            f"rounding, write that line with functions diffkit traces (diffkit.numpy: "
            f"numpy.linalg.eig is not one); to make the choice explicit, pass "
            f"method='richardson'. Shown once per function; silence with "
            f"warnings.filterwarnings('ignore', category=dk.DiffkitFallbackWarning)") in message
    np.testing.assert_allclose(g, [5.0 * 0.5, 5.0 * 0.3], rtol=1e-10)  # eigenvalues sum to tr
    # once per function, even when warnings are shown always
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        dk.gradient(solve_then_eig, [0.3, 0.5])
        dk.jacobian(solve_then_eig, [0.3, 0.5])
        dk.gradient(dk.Function(solve_then_eig), [0.3, 0.5])  # the same function, wrapped
        for k in range(3):  # a lambda made anew each time is one function too
            dk.gradient(lambda x: float(x[0]) * x[1], [0.3, 0.5 + k])
    assert len(again) == 1
    assert "could not follow f at test_auto.py:" in str(again[0].message)


def _opaque_cubes(where):
    """A new function per ``where`` (announcements are once per function)."""
    namespace = {"np": np}
    exec(compile("def f(x):\n    return float(np.sum(np.asarray(x) ** 3))\n", where, "exec"),
         namespace)
    return namespace["f"]


@pytest.mark.parametrize("op", ["derivative", "gradient", "jacobian", "hessian"])
def test_every_plain_array_call_announces_its_fallback(op):
    f = _opaque_cubes(f"<{op}>")
    x = 0.5 if op == "derivative" else [0.5, 1.0]
    with pytest.warns(dk.DiffkitFallbackWarning, match=rf"^{op}\(f, x\): method='auto' used "
                      rf"Richardson extrapolation .* could not follow f at <{op}>:2: "):
        getattr(dk, op)(f, x)


def test_the_warning_is_a_category_users_can_filter_and_objects_do_not_warn():
    def f(x):
        return float(x[0]) * x[1]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=dk.DiffkitFallbackWarning)
        np.testing.assert_allclose(dk.gradient(f, [2.0, 3.0]), [3.0, 2.0], rtol=1e-10)
    assert issubclass(dk.DiffkitFallbackWarning, UserWarning)

    def g(x):
        return float(x[0]) * x[1]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = AUTO.gradient(g, [2.0, 3.0])  # the result object records it instead
        assert r.info["fallback"].error == "NotTraceableError"
        dk.gradient(g, [2.0, 3.0], method="richardson")  # an explicit choice: no warning
        dk.gradient(lambda x: dnp.sum(x * x), [2.0, 3.0])  # traceable: no warning


# ----------------------------------------------------------------------------- memory


def test_auto_decides_once_per_function_and_shape():
    calls = []

    def f(x):
        calls.append(type(x).__name__)
        return dnp.stack([dnp.sum(x), dnp.prod(x)])

    F = dk.Function(f)
    AUTO.jacobian(F, [1.0, 2.0, 3.0])
    first = list(calls)
    assert first[0] == "ndarray"  # the outputs were counted on plain values once
    calls.clear()
    r = AUTO.jacobian(F, [4.0, 5.0, 6.0])
    assert "ndarray" not in calls
    assert len(calls) == 1
    np.testing.assert_allclose(r.value, [[1, 1, 1], [30, 24, 20]])
    calls.clear()
    AUTO.jacobian(F, [1.0, 2.0])  # another shape: decided anew
    assert calls[0] == "ndarray"


def test_a_known_fallback_is_not_retried_by_ad():
    traced = []

    def f(x):
        traced.append(type(x).__name__)
        return float(np.sum(np.asarray(x) ** 2))

    F = dk.Function(f)
    AUTO.gradient(F, [1.0, 2.0])
    assert "Node" in traced
    traced.clear()
    r = AUTO.gradient(F, [3.0, 4.0])
    assert "Node" not in traced  # straight to Richardson
    assert r.info["fallback"].error == "NotTraceableError"
    np.testing.assert_allclose(r.value, [6.0, 8.0], rtol=1e-10)


def test_a_remembered_choice_still_falls_back_when_the_code_takes_another_path():
    def f(x):
        if x[0] > 0:
            return dnp.sum(x * x)
        return float(np.sum(np.asarray(x) ** 2))  # only for x[0] <= 0

    F = dk.Function(f)
    assert AUTO.gradient(F, [1.0, 2.0]).method == "reverse-mode"
    r = AUTO.gradient(F, [-1.0, 2.0])
    assert r.method == "richardson"
    np.testing.assert_allclose(r.value, [-2.0, 4.0], rtol=1e-10)


def test_the_plain_array_gradient_takes_the_remembered_path_and_its_fallback():
    """dk.gradient skips the result object once auto has chosen AD; a point that leaves the
    traceable path still falls back, and the fallback is announced once."""
    def f(x):
        if x[0] > 0:
            return dnp.sum(x * x)
        return float(np.sum(np.asarray(x) ** 2))  # only for x[0] <= 0

    F = dk.Function(f)
    for _ in range(2):  # the first call decides, the second takes the remembered path
        g = dk.gradient(F, [1.0, 2.0])
        assert g.__class__ is np.ndarray
        assert g.base is None
        np.testing.assert_array_equal(g, [2.0, 4.0])
    with pytest.warns(dk.DiffkitFallbackWarning, match="Richardson"):
        g = dk.gradient(F, [-1.0, 2.0])
    np.testing.assert_allclose(g, [-2.0, 4.0], rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dk.gradient(F, [-3.0, 2.0])  # announced once per function


@pytest.mark.parametrize("method", [m for m in dk.methods.available() if m != "manual"]
                         + ["manual"])
@pytest.mark.parametrize("data", [False, True])
def test_the_plain_array_gradient_is_the_results_value(method, data):
    """dk.gradient's array path (no result object) gives the result's value, for every
    method, with and without data arguments, cold and warm."""
    def loss(x, c=1.0):
        return c * dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    F = dk.Function(loss)
    F.manual(lambda x, c=1.0: c * np.concatenate([
        -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1]), [0.0]])
        + c * np.concatenate([[0.0], 200.0 * (x[1:] - x[:-1] ** 2)]))
    x = np.array([0.3, -0.7, 1.1, 0.2])
    args = (2.0,) if data else ()
    for _ in range(2):  # cold, then warm (remembered choices, cached programs)
        want = dk.methods.get(method).gradient(F, x, args=args).value
        got = dk.gradient(F, x, method=method, args=args)
        np.testing.assert_array_equal(got, want)
        assert got.__class__ is np.ndarray
        assert got.shape == x.shape
        assert not np.shares_memory(got, x)
    exact = dk.gradient(F, x, method="symbolic", args=args)
    np.testing.assert_allclose(got, exact, rtol=1e-5)


@pytest.mark.parametrize("method", ["auto", "reverse-mode", "reverse-compiled"])
def test_the_plain_array_gradient_checks_the_point_and_the_derivative(method):
    F = dk.Function(lambda x: dnp.sum(x[1:] ** 2) + dnp.sqrt(x[1]))
    x = np.array([1.0, 2.0, 3.0])
    dk.gradient(F, x, method=method)  # warm
    x[0] = np.nan  # an entry f never reads: the point is still refused
    with pytest.raises(dk.NonFiniteError, match=r"x\[0\] = nan"):
        dk.gradient(F, x, method=method)
    with pytest.raises(dk.DomainError, match="sqrt"):  # sqrt'(0): the derivative's domain
        dk.gradient(F, [1.0, 0.0, 3.0], method=method)


@pytest.mark.parametrize("hook", ["gradient", "_gradient"])
@pytest.mark.parametrize("base", ["reverse-mode", "auto"])
def test_a_methods_own_gradient_is_what_dk_gradient_calls(hook, base):
    """A subclass's own public gradient() or private _gradient() is called through, never
    around, by dk.gradient's array path (cold and warm)."""
    if hook == "gradient":
        class Halved(type(dk.methods.get(base))):
            def gradient(self, f, x, **kw):
                r = super().gradient(f, x, **kw)
                return r.replace(value=r.value / 2.0)
    else:
        class Halved(type(dk.methods.get(base))):  # type: ignore[no-redef]
            def _gradient(self, spec, x):
                r = super()._gradient(spec, x)
                return r.replace(value=r.value / 2.0)

    F = dk.Function(_rosen)
    for _ in range(2):
        np.testing.assert_array_equal(dk.gradient(F, [1.0, 2.0], method=Halved()),
                                      dk.gradient(F, [1.0, 2.0]) / 2.0)


@pytest.mark.parametrize("op", ["hessian", "jacobian", "gradient"])
@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "auto", "reverse-compiled",
                                    "manual", "complex-step"])
def test_a_function_writing_to_its_argument_is_differentiated_at_the_point(op, method):
    """An AD method evaluates f once on plain values too (the value, the output count): f
    writing to that argument (``x += 1.0``) must not move the point the derivative is taken
    at (it did for Hessians: -sin(x + 2) for -sin(x + 1))."""
    def f(x):
        x += 1.0
        return dnp.sum(dnp.sin(x))

    F = dk.Function(f, manual=lambda x: np.cos(x + 1.0))
    x = np.array([1.0, 2.0, 3.0])
    if op == "hessian":
        if method in ("manual", "complex-step"):
            return
        want = np.diag(-np.sin(x + 1.0))
    elif op == "jacobian":
        want = np.cos(x + 1.0)[None, :]
    else:
        want = np.cos(x + 1.0)
    got = getattr(dk, op)(F, x, method=method)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "symbolic",
                                    "reverse-compiled"])
@pytest.mark.parametrize("attr", ["tolist", "any", "all", "fill", "flags", "nbytes", "view"])
def test_an_ndarray_attribute_no_stanza_stands_for_is_a_diffkit_error(method, attr):
    """x.tolist(), x.any(), x.flags on a traced value: a DiffkitError naming the attribute
    and what to write instead, and an AttributeError (hasattr keeps working); auto falls back
    to Richardson."""
    def f(x):
        getattr(x, attr)
        return dnp.sum(x ** 2)

    x = np.array([1.0, 2.0])
    with pytest.raises(dk.UnsupportedAttributeError, match=rf"x\.{attr} on a traced value"):
        dk.gradient(f, x, method=method)
    with pytest.raises(AttributeError):
        dk.gradient(f, x, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dk.DiffkitFallbackWarning)
        np.testing.assert_allclose(dk.gradient(f, x), [2.0, 4.0], rtol=1e-10)
    assert not hasattr(dk.Function(f), "no_such_attribute")


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode", "reverse-compiled", "auto"])
def test_an_f_string_inside_f_formats_the_value(method):
    """Logging inside f (f"{x[0]:.3f}") prints the value; it was a raw TypeError."""
    seen = []

    def f(x):
        seen.append(f"{x[0]:.3f} {x[1]}")
        return dnp.sum(x ** 2)

    np.testing.assert_array_equal(dk.gradient(f, np.array([1.5, 2.0]), method=method),
                                  [3.0, 4.0])
    assert seen[-1] == "1.500 2.0"


def test_hasattr_on_a_tracer_is_false_for_what_it_lacks():
    seen = []

    def f(x):
        seen.append((hasattr(x, "tolist"), hasattr(x, "sum"), hasattr(x, "no_such_thing")))
        return dnp.sum(x ** 2)

    dk.gradient(f, np.array([1.0, 2.0]), method="reverse-mode")
    assert seen == [(False, True, False)]


def test_a_manual_derivative_returning_its_data_hands_out_a_copy():
    c = np.array([1.0, 2.0, 3.0])
    G = dk.Function(lambda x, c: dnp.sum(c * x), manual=lambda x, c: c)
    g = dk.gradient(G, np.ones(3), method="manual", args=(c,))
    g *= 5.0
    np.testing.assert_array_equal(c, [1.0, 2.0, 3.0])


def test_checkpointed_code_that_writes_to_its_input_leaves_the_point_alone():
    """A checkpointed block or a loop step runs the user's code on raw values: the point it
    gets is a copy, never the caller's array."""
    def step(s):
        s *= 0.5
        return s

    @dk.checkpoint
    def block(s):
        s += 1.0
        return dnp.sin(s)

    x0 = np.array([1.0, 2.0, 3.0])
    cases = ((lambda x: dnp.sum(block(x)), np.cos(x0 + 1.0), np.diag(-np.sin(x0 + 1.0))),
             (lambda x: dnp.sum(dk.loop(step, x, 7, checkpoints=3)), np.full(3, 0.5 ** 7),
              np.zeros((3, 3))))
    for fn, gradient, hessian in cases:
        for method in ("reverse-mode", "auto", "auto", "forward-mode"):
            x = x0.copy()
            np.testing.assert_allclose(dk.gradient(fn, x, method=method), gradient,
                                       rtol=1e-12)
            np.testing.assert_allclose(dk.hessian(fn, x, method=method), hessian,
                                       rtol=1e-12, atol=1e-14)
            np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("method", ["auto", "reverse-mode", "forward-mode", "richardson"])
def test_dk_gradient_never_writes_to_the_callers_point(method):
    """The caller's array is never written and never aliased by the gradient; where f
    receives the point itself (Richardson, auto's fallback) and writes to it, the copy it got
    is changed, and the mutation is named."""
    def f(x):
        if isinstance(x, np.ndarray):  # plain numpy code that writes to its argument
            x *= 2.0
            return float(np.sum(x ** 2)) / 4.0
        if x[0] > 5.0:  # a point auto's AD cannot follow
            return float(np.sum(np.asarray(x) ** 2))
        return dnp.sum(x ** 2)

    F = dk.Function(f)
    x = np.array([1.0, 2.0, 3.0])
    if method != "richardson":
        for _ in range(2):
            g = dk.gradient(F, x, method=method)
            np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
            assert not np.shares_memory(g, x)
            np.testing.assert_allclose(g, [2.0, 4.0, 6.0], rtol=1e-12)
    x[0] = 6.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dk.DiffkitFallbackWarning)
        if method in ("auto", "richardson"):
            with pytest.raises(dk.ArgumentMutationError, match="modified its argument"):
                dk.gradient(F, x, method=method)
    np.testing.assert_array_equal(x, [6.0, 2.0, 3.0])


# ----------------------------------------------------------------------------- lazy info


def _rosen(x):
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("op", ["gradient", "jacobian", "hessian", "derivative"])
def test_reverse_diagnostics_are_built_on_first_access_with_unchanged_values(op):
    calls = []

    def f(x):
        calls.append(1)
        return _rosen(x) if op in ("gradient", "hessian") else dnp.sin(x) * x

    x = 0.7 if op == "derivative" else np.linspace(-1.0, 1.0, 5)
    r = getattr(dk.methods.get("reverse-mode"), op)(f, x)
    before = len(calls)
    assert "info" not in r.__dict__  # nothing measured yet
    if op == "hessian":
        tape, _, _ = reverse.record(lambda y: reverse.gradient(f, y), (np.asarray(x),))
    else:
        tape, _, _ = reverse.record(f, (np.asarray(x, dtype=float),))
    info = r.info
    assert {"nbytes": info["nbytes"], "ops": info["ops"]} == {"nbytes": tape.nbytes(),
                                                              "ops": tape.ops()}
    assert set(info) == {"nbytes", "ops", "peak_nbytes", "snapshots", "steps", "recomputed",
                         "checkpoints"}  # main's memory meter, measured on the same run
    # the reference above, and the one measurement (the Hessian's checks f's value first)
    assert len(calls) == before + (3 if op == "hessian" else 2)
    assert r.info is r.info  # built once


def test_lazy_results_copy_pickle_and_extend_without_losing_their_diagnostics():
    r = dk.methods.get("reverse-mode").gradient(_rosen, np.linspace(-1.0, 1.0, 5))
    extended = r.with_info(note="x")
    changed = r.replace(status="checked")
    assert "info" not in r.__dict__
    assert "info" not in extended.__dict__
    assert extended.info["note"] == "x"
    assert extended.info["nbytes"] == r.info["nbytes"]
    assert changed.status == "checked"
    assert changed.info["ops"] == r.info["ops"]
    back = pickle.loads(pickle.dumps(dk.methods.get("reverse-mode").gradient(
        _rosen, np.linspace(-1.0, 1.0, 5))))
    assert back.info == r.info
    with pytest.raises(TypeError, match="no field 'bogus'"):
        r.replace(bogus=1)
    with pytest.raises(AttributeError, match="has no attribute 'bogus'"):
        r.bogus  # noqa: B018


def test_auto_results_keep_the_engines_diagnostics_lazy():
    r = AUTO.gradient(_rosen, np.linspace(-1.0, 1.0, 5))
    assert "info" not in r.__dict__
    assert r.info["method"] == "reverse-mode"
    assert r.info["nbytes"] > 0
