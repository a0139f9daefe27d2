"""Analysis: exact references, error versus step, expression swell, cost, comparisons."""

from __future__ import annotations

from .reference import exact_gradient, exact_jacobian, reference_jacobian
from .step_error import StepErrorResult, step_error

__all__ = [
    "StepErrorResult",
    "exact_gradient",
    "exact_jacobian",
    "reference_jacobian",
    "step_error",
]
