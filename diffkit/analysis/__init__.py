"""Analysis: exact references, error versus step, expression swell, cost, memory versus
recomputation, comparisons."""

from __future__ import annotations

from ..reference import exact_gradient, exact_jacobian, reference_jacobian
from .compare import Comparison, compare
from .cost import CostResult, cost
from .expressions import ExpressionMetrics, expression_metrics
from .memory import MemoryResult, memory
from .step_error import StepErrorResult, step_error
from .swell import SwellResult, swell

__all__ = [
    "Comparison",
    "CostResult",
    "ExpressionMetrics",
    "MemoryResult",
    "StepErrorResult",
    "SwellResult",
    "compare",
    "cost",
    "exact_gradient",
    "exact_jacobian",
    "expression_metrics",
    "memory",
    "reference_jacobian",
    "step_error",
    "swell",
]
