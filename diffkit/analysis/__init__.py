"""Analysis: exact references, error versus step, expression swell, cost, comparisons."""

from __future__ import annotations

from .reference import exact_gradient, exact_jacobian

__all__ = ["exact_gradient", "exact_jacobian"]
