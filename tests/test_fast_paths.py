"""The fast paths of the public call (issue 23: "validation does the least work that still
guarantees the checks"): each must accept exactly what the general path accepts, return the
same values, and refuse with the same messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import diffkit as dk
from diffkit.core import FP_EVENTS, checked_evaluation
from diffkit.spec import all_finite
from diffkit.validation import as_point

ONE = dk.Function(lambda x: x)
TWO = dk.Function(lambda x1, x2: x1 * x2)

POINTS = [
    np.linspace(-1.0, 1.0, 7),
    np.arange(12.0).reshape(3, 4),
    np.arange(12.0).reshape(3, 4)[:, ::2],  # not contiguous
    np.array(2.5),
    np.array([1.0, np.nan, 2.0]),
    np.array([[1.0, 2.0], [np.inf, 3.0]]),
    np.array([1e308, 1e308]),  # finite, but the sum overflows
    np.array([-np.inf, np.inf]),
    np.array([], dtype=float),
    np.array([1.0, 2.0], dtype=">f8"),  # another byte order: the general path
]


def _general(spec, x, op):
    """as_point's answer without its fast path (the point wrapped as a list)."""
    try:
        return as_point(spec, x.tolist() if isinstance(x, np.ndarray) and x.ndim else
                        float(x) if isinstance(x, np.ndarray) else x, op)
    except dk.DiffkitError as exc:
        return type(exc), str(exc).replace(repr(x.tolist()), "")


@pytest.mark.parametrize("x", POINTS, ids=range(len(POINTS)))
@pytest.mark.parametrize("spec", [ONE, TWO], ids=["one", "two"])
@pytest.mark.parametrize("op", ["gradient", "jacobian", "derivative"])
def test_the_array_fast_path_agrees_with_the_general_path(x, spec, op):
    for inside in (False, True):
        try:
            if inside:
                with checked_evaluation():
                    got = as_point(spec, x, op)
            else:
                got = as_point(spec, x, op)
        except dk.DiffkitError as exc:
            got = (type(exc), str(exc))
        want = _general(spec, x, op)
        if isinstance(got, tuple):
            assert isinstance(want, tuple)
            assert got[0] is want[0]
            # the same message but for how x itself was written
            assert got[1].split("x = ")[0] == want[1].split("x = ")[0]
        else:
            assert isinstance(want, np.ndarray)
            np.testing.assert_array_equal(got, want)
            assert got.dtype.kind == "f"
            assert got.dtype.itemsize == 8
            assert got.shape == want.shape
            assert not np.shares_memory(got, x)  # a copy: f cannot change the caller's x


@pytest.mark.parametrize("x", [*POINTS, np.array([np.nan]), np.zeros((0, 3)),
                               np.array([1, 2, 3]), np.array([1.0 + 1j, np.nan])],
                         ids=range(len(POINTS) + 4))
def test_all_finite_is_isfinite_all_inside_and_outside_checked_evaluation(x):
    want = bool(np.isfinite(x).all())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # outside: no floating-point warning may escape
        assert all_finite(x) is want
    with checked_evaluation():
        assert all_finite(x) is want


def test_checked_evaluation_counts_errors_and_restores_the_callers_state():
    with np.errstate(all="raise"):
        before = FP_EVENTS.count
        with checked_evaluation():
            np.log(np.array([-1.0, 0.0]))  # counted, not raised
            with checked_evaluation():
                np.sqrt(np.array([-1.0]))
            assert np.geterr()["invalid"] == "call"
        assert FP_EVENTS.count - before == 3
        assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise",
                               "invalid": "raise"}
    old = np.getbufsize()
    try:
        np.setbufsize(16384)
        with checked_evaluation():
            assert np.getbufsize() == 16384  # the caller's other settings are kept
    finally:
        np.setbufsize(old)
    for _ in range(20):  # a new caller state each time (np.errstate blocks): still right
        with np.errstate(divide="ignore"), checked_evaluation():
            assert np.geterr()["divide"] == "call"
