"""The interpreter machinery: tracer operators route to the registry in every trace."""

from __future__ import annotations

import pytest

import diffkit as dk
import diffkit.numpy as dnp


def sinc(x):
    return 1.0 if x == 0 else dnp.sin(x) / x


@pytest.mark.parametrize("method", ["reverse-mode", "forward-mode"])
def test_equality_on_traced_values_branches_in_ad(method):
    exact = (0.5 * 0.8775825618903728 - 0.479425538604203) / 0.25
    assert dk.derivative(sinc, 0.5, method=method) == pytest.approx(exact, rel=1e-14)


def test_equality_on_symbolic_values_is_a_branch_error():
    with pytest.raises(dk.SymbolicBranchError, match=r"branched on a symbolic value "
                       r"\(bool\(Eq\(x, 0\)\)\)"):
        dk.derivative(sinc, 0.5, method="symbolic")


def test_where_on_an_equality_is_a_closed_form():
    f = dk.Function(lambda x: dnp.where(x != 0, dnp.sin(x) / x, 1.0))
    for method in ["reverse-mode", "forward-mode", "symbolic"]:
        assert dk.derivative(f, 0.5, method=method) == pytest.approx(-0.16253703063606657,
                                                                    rel=1e-13)
