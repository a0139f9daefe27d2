"""Hostile-input fuzzing of every public entry point (issue #24, item 5).

One property, shared by ``tests/test_fuzz.py`` (CI) and ``benchmarks/soak_fuzz.py`` (the long
run): a call with hostile arguments

- returns a result that is correct against the exact derivative (numerical results only when
  their status vouches for them: ``ok`` means the true error is within the estimate), or
- lets the user's own exception (raised inside ``f`` or the user's derivative) propagate
  unchanged, the very object, or
- raises a :class:`diffkit.DiffkitError` subclass whose message names the argument at fault,

and never a raw TypeError / AttributeError / IndexError / ZeroDivisionError / ValueError from
inside diffkit, never a silently wrong number, never a hang (each call runs under an alarm).

:func:`case` draws one call (an entry point, its arguments, what a correct result is and
which words a refusal must use); :func:`violation` runs it and returns None or what went wrong.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

import diffkit as dk

METHODS = ["auto", "forward-difference", "backward-difference", "central-difference",
           "richardson", "complex-step", "symbolic", "reverse-mode", "forward-mode"]
NUMERICAL = {"forward-difference", "backward-difference", "central-difference", "richardson",
             "complex-step"}
SECONDS = 20  # one call's bound: a hang is a violation, not a dead run


class UserError(Exception):
    """An exception the user's own code raises: it must reach the caller unchanged."""


class Hang(BaseException):
    """A call ran past :data:`SECONDS`."""


# ============================================================================ functions
# Each function: (f, gradient, hessian) on a vector x; scalar-valued; exact closed forms.

GOOD: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = {
    "sumsq": (lambda x: np.sum(x**2), lambda x: 2 * x, lambda x: 2 * np.eye(np.size(x))),
    "sinsum": (lambda x: np.sum(np.sin(x)), np.cos, lambda x: np.diag(-np.sin(np.ravel(x)))),
    "log1p": (lambda x: np.sum(np.log1p(x**2)), lambda x: 2 * x / (1 + x**2),
              lambda x: np.diag(np.ravel(2 * (1 - x**2) / (1 + x**2) ** 2))),
}
VECTOR = {  # elementwise vector functions for jacobian: (F, Jacobian)
    "square": (lambda x: x**2, lambda x: np.diag(np.ravel(2 * x))),
    "sin": (lambda x: np.sin(x), lambda x: np.diag(np.ravel(np.cos(x)))),
}


def _forgets_return(x):
    y = x**2


def _shape_changer() -> Callable[[Any], Any]:
    calls = [0]

    def f(x):
        calls[0] += 1
        return np.sum(x**2) if calls[0] % 2 else np.array([1.0, 2.0])

    return f


def _raiser(exc: BaseException) -> Callable[[Any], Any]:
    def f(x):
        raise exc

    return f


def _mutates(x):
    x *= 2
    return np.sum(x**2)


def bad_functions() -> st.SearchStrategy[tuple[str, Any, tuple[str, ...], Any]]:
    """``(label, f, words, user_exception)``: f returns or does something wrong; a refusal
    must use one of ``words``; ``user_exception`` (if any) must propagate unchanged."""
    def fixed(label: str, f: Any, *words: str) -> Any:
        return st.just((label, f, words, None))

    def raising(label: str, make: Callable[[], BaseException]) -> Any:
        return st.builds(lambda: (exc := make(), (label, _raiser(exc), (), exc))[1])

    return st.one_of(
        fixed("returns None", _forgets_return, "None", "return"),
        fixed("returns bool", lambda x: np.sum(x) > 0, "bool"),
        fixed("returns str", lambda x: "1.0", "str"),
        fixed("returns an object array", lambda x: np.array([1.0, "a"], dtype=object),
              "object", "dtype"),
        fixed("returns a ragged list", lambda x: [1.0, [2.0, 3.0]], "ragged", "list",
              "sequence", "shape"),
        fixed("returns complex", lambda x: np.sum(x**2) + 1j, "complex"),
        fixed("returns a dict", lambda x: {"a": 1.0}, "dict"),
        fixed("returns NaN", lambda x: np.sum(x) * np.nan, "nan", "finite", "NaN"),
        fixed("returns a vector", lambda x: np.stack([np.sum(x), np.sum(x)]), "shape",
              "scalar", "jacobian"),
        st.builds(lambda: ("changes its shape", _shape_changer(), ("shape",), None)),
        fixed("takes three arguments", lambda a, b, c: a + b + c, "argument", "parameter",
              "arity", "takes"),
        fixed("takes no argument", lambda: 1.0, "argument", "parameter", "arity", "takes"),
        fixed("is not callable", 3.0, "callable", "function", "f"),
        fixed("is None", None, "callable", "function", "None", "f"),
        raising("raises its own error", lambda: UserError("mine")),
        raising("raises its own TypeError", lambda: TypeError("user type error")),
        raising("raises its own ZeroDivisionError", lambda: ZeroDivisionError("user zero")),
        raising("raises its own IndexError", lambda: IndexError("user index")),
    )


# ============================================================================ points


def _arr(*a: Any, **k: Any) -> Any:
    return st.just(None).map(lambda _: np.array(*a, **k))


def hostile_points() -> st.SearchStrategy[Any]:
    """Points a validator must refuse (or accept and get right): every dtype, odd shapes."""
    return st.one_of(
        st.just(None), st.just("1.0"), st.just("x"), st.just({"x": 1.0}), st.builds(object),
        st.just([1.0, [2.0, 3.0]]), st.just([[1.0, 2.0], [3.0]]), st.just([]), st.just(()),
        _arr([], dtype=float), _arr([[]], dtype=float), _arr(np.zeros((2, 0))),
        _arr([True, False]), _arr(True), _arr(["a", "b"]), _arr([1 + 2j, 3.0]), _arr(1j),
        _arr(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"),
        _arr([1, 2], dtype="timedelta64[s]"), _arr([1.0, 2.0], dtype=object),
        _arr([1.0, None], dtype=object), _arr([np.nan, 1.0]), _arr([np.inf, 1.0]),
        _arr([-np.inf]), _arr(np.nan), st.just(float("nan")), st.just(float("inf")),
        st.just(1e308), st.just(-1e308), _arr([1e308, 1.0]), _arr([5e-324, 1.0]),
        st.just(5e-324), _arr([0.5, 1.5], dtype=np.float16), _arr([1, 2], dtype=np.int8),
        _arr([1, 2], dtype=np.uint64), _arr(np.ones((2, 2, 2))), st.just(True), st.just(b"1"),
        st.just(np.float16(0.5)), st.just(np.int64(2)), st.just(2), st.just(range(3)),
        st.builds(lambda: iter([1.0, 2.0])),
    )


def good_points(n: int | None = None) -> st.SearchStrategy[np.ndarray]:
    """A finite float64 vector of moderate size (the exact forms are accurate there)."""
    size = st.just(n) if n is not None else st.integers(1, 4)
    value = st.floats(-8.0, 8.0, allow_nan=False, allow_infinity=False).filter(
        lambda v: abs(v) > 1e-3)
    return size.flatmap(lambda k: st.lists(value, min_size=k, max_size=k)).map(np.array)


# ============================================================================ settings


BAD_NUMBERS = [-1.0, 0.0, float("nan"), float("inf"), -float("inf"), 1e300, 5e-324, "1e-3",
               "auto!", True, [1e-3], (), None, 1j, np.array([1e-3, 1e-4]), object(), -3, 2**70]


def bad_settings() -> st.SearchStrategy[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """``(method name, settings, words)``: a setting of wrong type or range; the refusal must
    name it."""
    def one(method: str, name: str) -> Any:
        return st.sampled_from(BAD_NUMBERS).map(lambda v: (method, {name: v}, (name,)))

    return st.one_of(
        one("central-difference", "h"), one("forward-difference", "h"),
        one("backward-difference", "h"), one("richardson", "h"),
        one("richardson", "max_levels"), one("complex-step", "h"),
        one("central-difference", "accuracy"), one("richardson", "accuracy"),
        one("complex-step", "accuracy"), one("central-difference", "strict"),
        one("complex-step", "check"), one("symbolic", "simplify"),
        st.sampled_from(["central-difference", "reverse-mode"]).map(
            lambda m: (m, {"bogus": 1.0}, ("bogus",))),
    )


def bad_method_names() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(["reverse", "REVERSE-MODE", "", " central-difference",
                                      "numpy", "central_difference", "finite"]),
                     st.sampled_from([None, 3, 1.5, True, ["reverse-mode"], object()]),
                     st.text(max_size=12))


# ============================================================================ cases


@dataclass
class Case:
    """One call: ``run()``; what a correct answer is; what a refusal must say."""

    label: str
    run: Callable[[], Any]
    words: tuple[str, ...] = ()  # a DiffkitError must use one of these (any if empty)
    user: BaseException | None = None  # the user's exception, which must propagate as is
    exact: Callable[[Any], bool] | None = None  # checks a returned value
    may_fail: tuple[type[BaseException], ...] = ()  # further acceptable outcomes
    vouched: Callable[[], bool] | None = None  # a plain number: whether its status is ok
    notes: list[str] = field(default_factory=list)


def _close(value: Any, want: Any, rtol: float) -> bool:
    value = np.asarray(value, dtype=float)
    want = np.asarray(want, dtype=float)
    if value.shape != want.shape and value.size == want.size:
        value = value.reshape(want.shape)
    if value.shape != want.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    return bool(np.all(np.abs(value - want) <= rtol * scale))


def _check_result(r: Any, want: Any, method: str) -> bool:
    """A rich result: AD and symbolic exact to rounding; a numerical one within its estimate
    when its status says ok, and anything when it says it cannot vouch."""
    value = np.asarray(r.value, dtype=float)
    want = np.asarray(want, dtype=float).reshape(value.shape)
    if method in NUMERICAL or r.method in NUMERICAL:
        if not r.ok:
            return True
        err = np.asarray(r.error, dtype=float).reshape(value.shape)
        return bool(np.all(np.abs(value - want) <= err + 8 * np.finfo(float).eps
                           * np.maximum(np.abs(want), 1.0)))
    return _close(value, want, 1e-8)


def _plain_tolerance(method: str) -> float:
    return 1e-3 if method in NUMERICAL or method == "auto" else 1e-8


def _entry(kind: str, method: str, settings: dict[str, Any], rich: bool) -> Callable[..., Any]:
    if rich:
        m = dk.methods.get(method, **settings)
        return getattr(m, kind)
    api = getattr(dk, kind)
    return lambda f, x: api(f, x, method=method, **settings)


@st.composite
def api_cases(draw: Any) -> Case:
    """dk.derivative/gradient/jacobian/hessian and each method object."""
    kind = draw(st.sampled_from(["derivative", "gradient", "jacobian", "hessian"]))
    method = draw(st.sampled_from(METHODS))
    rich = draw(st.booleans())
    what = draw(st.sampled_from(["good", "good", "bad f", "bad x", "bad setting",
                                 "bad method"]))
    if what == "bad setting":
        method, settings, words = draw(bad_settings())
        f = GOOD["sumsq"][0] if kind != "jacobian" else VECTOR["square"][0]
        x = 0.7 if kind == "derivative" else np.array([0.3, 0.9])
        call = lambda: _entry(kind, method, settings, rich)(f, x)
        grad, hess = (GOOD["sumsq"][1], GOOD["sumsq"][2]) if kind != "jacobian" else \
            (VECTOR["square"][1], None)
        return Case(f"{kind} {method} {settings!r}", call, words,
                    exact=_exact_for(kind, method, rich, grad, hess, x),
                    vouched=None if rich else _vouched(kind, method, f, x, settings))
    if what == "bad method":
        name = draw(bad_method_names())
        f, x = GOOD["sumsq"][0], np.array([0.3, 0.9])
        call = lambda: getattr(dk, kind)(f, x, method=name)
        ok_name = isinstance(name, str) and name in METHODS
        if ok_name:  # hypothesis's text can spell a real method: then a right value is due
            return Case(f"{kind} method={name!r}", call, (),
                        exact=_exact_for(kind, name, False, GOOD["sumsq"][1],
                                         GOOD["sumsq"][2], x),
                        vouched=_vouched(kind, name, f, x, {}))
        return Case(f"{kind} method={name!r}", call, ("method",))
    if what == "bad f":
        label, f, words, user = draw(bad_functions())
        x = 0.7 if kind == "derivative" else np.array([0.3, 0.9])
        call = lambda: _entry(kind, method, {}, rich)(f, x)
        # f returning a vector is right for a jacobian; a dict or a constant is never a value
        exact = None
        if label == "returns a vector" and kind in ("jacobian", "derivative"):
            # a vector-valued f: its Jacobian (or derivative) is all ones
            want = np.ones((2, 2)) if kind == "jacobian" else np.ones(2)
            exact = lambda v: _close(v if not rich else v.value, want, 1e-3)
        if label == "changes its shape":
            # evaluated once (AD, symbolic): the derivative of what that call returned
            want_g = 2 * np.asarray(x, dtype=float)
            if kind == "hessian":  # of the call that returned sum(x**2): 2 I
                want_g = 2 * np.eye(np.size(x))
            exact = lambda v: any(_close(np.ravel(v if not rich else v.value), w, 1e-3)
                                  for w in (np.ravel(want_g), np.zeros(np.size(
                                      v if not rich else v.value))))
        return Case(f"{kind} {method}: f {label}", call, words, user, exact)
    if what == "bad x":
        x = draw(hostile_points())
        name = draw(st.sampled_from(list(GOOD)))
        f, grad, hess = GOOD[name]
        if kind == "jacobian":
            f, grad = VECTOR[draw(st.sampled_from(list(VECTOR)))]
        call = lambda: _entry(kind, method, {}, rich)(f, x)
        return Case(f"{kind} {method} {name} at {x!r}", call,
                    ("x", "point", "at", "dtype", "shape", "f", "domain"),
                    exact=_exact_for(kind, method, rich, grad, hess, x),
                    vouched=None if rich else _vouched(kind, method, f, x))
    # a good call: the answer must be right
    if kind == "derivative":
        x = draw(st.floats(-8, 8).filter(lambda v: abs(v) > 1e-3))
    else:
        x = draw(good_points())
    name = draw(st.sampled_from(list(GOOD)))
    f, grad, hess = GOOD[name]
    if kind == "jacobian":
        f, grad = VECTOR[draw(st.sampled_from(list(VECTOR)))]
    call = lambda: _entry(kind, method, {}, rich)(f, x)
    return Case(f"{kind} {method} {name} at {x!r}", call, (),
                exact=_exact_for(kind, method, rich, grad, hess, x),
                vouched=None if rich else _vouched(kind, method, f, x))


def _vouched(kind: str, method: str, f: Any, x: Any,
             settings: dict[str, Any] | None = None) -> Callable[[], bool]:
    """For the plain-number API: whether the rich result of the same call says ``ok`` (the
    plain API returns the value alone; the rich result carries the status)."""
    def ask() -> bool:
        try:
            return bool(getattr(dk.methods.get(method, **(settings or {})), kind)(f, x).ok)
        except dk.DiffkitError:
            return False

    return ask


def _exact_for(kind: str, method: str, rich: bool, grad: Callable[..., Any],
               hess: Callable[..., Any], x: Any) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        try:
            xa = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            return False  # a value for a point that is not a point
        with np.errstate(all="ignore"):
            if kind == "hessian":
                want = hess(xa)
            elif kind == "jacobian":
                want = grad(xa)
            else:
                want = grad(xa)
        if not np.all(np.isfinite(want)):
            return False  # the exact value is not finite: a finite answer is wrong
        # a float16 or float32 point: numpy computes f in that precision (AD too)
        dt = getattr(x, "dtype", np.dtype(float))
        unit = float(np.finfo(dt).eps) if dt.kind == "f" else 0.0
        if rich:
            return _check_result(v, want, method) or (
                unit > 1e-15 and _close(v.value, want, 16 * unit))
        return _close(v, want, max(_plain_tolerance(method), 16 * unit))

    return check


@st.composite
def function_cases(draw: Any) -> Case:
    """Function(...) and Function.from_expr with hostile arguments."""
    which = draw(st.sampled_from(["Function", "from_expr"]))
    if which == "Function":
        fn = draw(st.sampled_from([None, 3, "x**2", [1], lambda x: x, np.sin, print]))
        kw = draw(st.sampled_from([{}, {"name": None}, {"bogus": 1}, {"name": "ok"}]))
        return Case(f"Function({fn!r}, {kw!r})", lambda: dk.Function(fn, **kw),
                    ("fn", "name", "vectorized", "bogus", "callable", "function", "f",
                     "Function"), exact=lambda spec: callable(fn) or isinstance(fn, str))
    alphabet = st.sampled_from(["x", "x1", "x2", "y", "+", "-", "*", "/", "**", "(", ")",
                                "sin", "log", "exp", "1", "2.5", "1e308", ",", " ", "sqrt",
                                "import", "__class__", ".", "[", "]", "lambda", ":", "=", "@",
                                "'", "0x1f", "1j", "nan", "inf"])
    text = draw(st.one_of(st.lists(alphabet, max_size=8).map("".join),
                          st.sampled_from([None, 3, b"x", ["x"]])))
    variables = draw(st.sampled_from([None, ["x"], ["x1", "x2"], "x", [1], ["x", "x"], []]))
    kw = {} if variables is None else {"variables": variables}
    return Case(f"from_expr({text!r}, {kw!r})",
                lambda: dk.Function.from_expr(text, **kw), exact=lambda spec: True,
                words=("expr", "formula", "variables", "variable", "text", "name", "parse", "x",
                 "token", "syntax", "expression"))


@st.composite
def check_cases(draw: Any) -> Case:
    """check_grad / check_jacobian / check_hessian / assert_*_close with hostile arguments."""
    from diffkit import testing

    which = draw(st.sampled_from(["check_grad", "assert_grad_close", "check_hessian",
                                  "assert_hessian_close", "check_jacobian",
                                  "assert_jacobian_close"]))
    fn = getattr(testing, which)
    hessian = "hessian" in which
    jac = "jacobian" in which
    f, grad, hess = GOOD[draw(st.sampled_from(list(GOOD)))]
    if jac:
        f, grad = VECTOR[draw(st.sampled_from(list(VECTOR)))]
    d = hess if hessian else grad
    x = np.array([0.4, 1.3])
    what = draw(st.sampled_from(["good", "wrong", "bad derivative", "bad f", "bad x",
                                 "bad option"]))
    kw: dict[str, Any] = {}
    words: tuple[str, ...] = ()
    user = None
    exact: Callable[[Any], bool] | None = None
    may_fail: tuple[type[BaseException], ...] = ()
    if what == "good":
        exact = lambda rep: bool(rep.ok)
    elif what == "wrong":  # a 10% bug in one entry: never a pass
        bug = d
        d = lambda z: np.asarray(bug(z), dtype=float) * np.where(
            np.arange(np.size(bug(z))).reshape(np.shape(bug(z))) == 0, 1.1, 1.0)
        exact = lambda rep: not rep.ok
        may_fail = (AssertionError,)
    elif what == "bad derivative":
        _, d, words, user = draw(bad_functions())
        words = (*words, "grad", "hess", "jac", "derivative")
        may_fail = (AssertionError,)
        exact = lambda rep: not rep.ok
    elif what == "bad f":
        _, f, words, user = draw(bad_functions())
        words = (*words, "jac", "hess", "grad", "shape")  # f and the derivative disagree
        may_fail = (AssertionError,)
        exact = lambda rep: not rep.ok
    elif what == "bad x":
        x = draw(hostile_points())
        words = ("x", "point", "dtype", "shape", "domain", "f")
        may_fail = (AssertionError,)
        exact = lambda rep: True
    else:
        key = draw(st.sampled_from(["rtol", "atol", "reference", "h", "directions", "names",
                                    "args", "kwargs", "seed"]))
        if key == "reference":
            value = draw(st.one_of(bad_method_names(), st.sampled_from(["exact", "symbolic"])))
        elif key == "names":
            value = draw(st.sampled_from([3, ["a"], ["a", "b", "c"], "ab", [1, 2]]))
        elif key == "args":
            value = draw(st.sampled_from([3, "ab", [1], None, {"a": 1}]))
        elif key == "kwargs":
            value = draw(st.sampled_from([3, "ab", [1], {1: 2}, {"bogus": 1}]))
        else:
            value = draw(st.sampled_from(BAD_NUMBERS))
        if key in ("directions", "seed") and hessian:
            key = "rtol"
        if key == "directions" and jac:
            key = "atol"
        kw = {key: value}
        words = (key,)
        may_fail = (AssertionError,)
        exact = lambda rep: True
    return Case(f"{which} {what} {kw!r}", lambda: fn(f, d, x, **kw), words, user, exact,
                may_fail)


@st.composite
def analysis_cases(draw: Any) -> Case:
    """dk.compare and step_error with hostile arguments (cheap settings: no timing)."""
    from diffkit.analysis import step_error

    which = draw(st.sampled_from(["compare", "step_error"]))
    what = draw(st.sampled_from(["bad f", "bad x", "bad option"]))
    f = GOOD["sinsum"][0]
    x: Any = np.array([0.4, 1.3]) if which == "compare" else 0.7
    kw: dict[str, Any] = {"repeat": 0} if which == "compare" else {"h": [1e-3, 1e-4]}
    words: tuple[str, ...] = ()
    user = None
    if what == "bad f":
        _, f, words, user = draw(bad_functions())
    elif what == "bad x":
        x = draw(hostile_points())
        words = ("x", "point", "dtype", "shape", "domain", "f", "scalar")
    else:
        key = draw(st.sampled_from(["methods", "reference", "budget"] if which == "compare"
                                   else ["schemes", "h", "dtype", "complex_step"]))
        if key in ("methods", "schemes"):
            value = draw(st.one_of(bad_method_names(), st.sampled_from([[], ["nope"], [3]])))
        elif key == "dtype":
            value = draw(st.sampled_from([np.int32, "float", object, None, np.complex128]))
        elif key == "h":
            value = draw(st.sampled_from([[], [0.0], [-1e-3], ["a"], [np.nan], 3j,
                                          [[1e-3]], None]))
        else:
            value = draw(st.sampled_from(BAD_NUMBERS))
        kw[key] = value
        words = (key.rstrip("s"), "method", "scheme")
    call = (lambda: dk.compare(f, x, **kw)) if which == "compare" else \
        (lambda: step_error(f, x, **kw))
    return Case(f"{which} {what} {kw!r}", call, words, user, exact=lambda r: True)


@st.composite
def cli_cases(draw: Any) -> Case:
    """The CLI's main(argv): a random argv from its own vocabulary and garbage."""
    from diffkit.cli import main

    command = draw(st.sampled_from(["compare", "sweep", "trace", "swell", "cost", "bogus",
                                    "--version", "-h", ""]))
    tokens = st.sampled_from(["--at", "1,2", "0", "nan", "1e308", "x", "a,b", "--method",
                              "reverse", "central", "--format", "dot", "json", "markdown",
                              "--methods", "all", "--repeat", "0", "-1", "--schemes", "sin(x)",
                              "log(x1) + x1*x2 - sin(x2)", "x1**2", "sqrt(x)", "(", "--steps",
                              "--manual", "2*x", "--no-complex-step", "--out", "--max-order",
                              "3", "", "--", "\x00"])
    formula = draw(st.sampled_from(["sin(x)", "x1**2 + x2", "log(x1) + x1*x2 - sin(x2)",
                                    "sqrt(x)", "(", "x +", "exp(x)"]))
    # a formula always: `diffkit compare` alone compares the whole catalogue (a long run)
    argv = [command, formula, *draw(st.lists(tokens, max_size=7))]
    argv = [a for a in argv if a != ""] or ["--version"]

    def run() -> int:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        if not isinstance(rc, int) or rc not in (0, 1, 2):
            raise AssertionError(f"exit code {rc!r}")
        if rc and "Traceback" in err.getvalue():
            raise AssertionError("a traceback on stderr")
        if rc and len(err.getvalue().strip().splitlines()) > 3:
            raise AssertionError(f"an error in more than a few lines: {err.getvalue()!r}")
        return rc

    return Case(f"diffkit {' '.join(argv)!r}", run, (), exact=lambda rc: True)


def cases(cheap: bool = False) -> st.SearchStrategy[Case]:
    """Every entry point; ``cheap`` leaves out compare and the CLI's analyses (CI)."""
    parts = [api_cases(), api_cases(), api_cases(), function_cases(), check_cases(),
             check_cases()]
    if not cheap:
        parts += [analysis_cases(), cli_cases()]
    return st.one_of(parts)


# ============================================================================ the property

KNOWN: tuple[re.Pattern[str], ...] = ()
"""Violations of a known, explained kind, counted apart (none now: a Hessian by differences at
|x| ~ 1e308, whose 1 / h^2 underflowed to an "ok" 0, says it cannot resolve it; a gradient
entry there is judged with f's rounding at that |x|)."""


def known(problem: str) -> bool:
    """A violation of a KNOWN kind: a derivative by differences at |x| >= 1e300 that came
    back wrong."""
    return "wrong value" in problem and "e+30" in problem.split(":")[0] and \
        any(k.search(problem) for k in KNOWN)


RAW = (TypeError, AttributeError, IndexError, ZeroDivisionError, ValueError, KeyError,
       RuntimeError, NameError, RecursionError, AssertionError, OverflowError, MemoryError,
       FloatingPointError, LookupError, ArithmeticError)


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def violation(c: Case, seconds: int = SECONDS) -> str | None:
    """Run ``c``; None when the property holds, else what broke it."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    warned: list[Any] = []
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            out = c.run()
    except Hang:
        return f"{c.label}: no answer within {seconds} s"
    except dk.DiffkitError as exc:
        if c.user is not None:
            return f"{c.label}: the user's {type(c.user).__name__} became {type(exc).__name__}"
        msg = str(exc)
        if not msg.strip():
            return f"{c.label}: {type(exc).__name__} with an empty message"
        if c.words and not any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}", msg,
                                         re.IGNORECASE) for w in c.words):
            return (f"{c.label}: {type(exc).__name__} does not name the argument "
                    f"({' / '.join(c.words)}): {msg[:300]}")
        return None
    except BaseException as exc:
        if c.user is not None and exc is c.user:
            return None  # the user's own exception, unchanged
        if isinstance(exc, c.may_fail) and c.user is None:
            return None
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc) and \
                not _raised_in_diffkit(exc):
            return None  # Python's own check of the call (Function(fn, bogus=1)), named
        return f"{c.label}: raw {type(exc).__name__} from inside diffkit: {str(exc)[:300]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if c.user is not None:
        return f"{c.label}: f raised {type(c.user).__name__} but a value came back"
    if c.exact is None:
        return f"{c.label}: a value came back where a refusal was due: {_short(out)}"
    try:
        good = c.exact(out)
    except Exception as exc:
        return f"{c.label}: the value cannot be checked ({type(exc).__name__}: {exc}): " \
               f"{_short(out)}"
    if good:
        return None
    if c.vouched is not None and not c.vouched():
        return None  # the plain API's number; the rich result's status says it cannot vouch
    return f"{c.label}: a wrong value came back: {_short(out)}"


def _raised_in_diffkit(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is in the diffkit package (Python
    raises a call's signature mismatch in the caller's frame)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and os.path.dirname(os.path.abspath(dk.__file__)) in \
        os.path.abspath(tb.tb_frame.f_code.co_filename)


def _short(v: Any) -> str:
    return " ".join(repr(v).split())[:300]


__all__ = ["Case", "UserError", "cases", "violation"]
