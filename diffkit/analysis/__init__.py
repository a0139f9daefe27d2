"""Analysis: exact references, error versus step, expression swell, cost, comparisons."""

from __future__ import annotations

from .compare import Comparison, compare
from .cost import CostResult, cost
from .expressions import ExpressionMetrics, expression_metrics
from .reference import exact_gradient, exact_jacobian, reference_jacobian
from .step_error import StepErrorResult, step_error
from .swell import SwellResult, swell

__all__ = [
    "Comparison",
    "CostResult",
    "ExpressionMetrics",
    "StepErrorResult",
    "SwellResult",
    "compare",
    "cost",
    "exact_gradient",
    "exact_jacobian",
    "expression_metrics",
    "reference_jacobian",
    "step_error",
    "swell",
]
