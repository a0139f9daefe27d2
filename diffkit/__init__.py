"""diffkit: differentiate one function in every way there is, side by side.

>>> import diffkit as dk, diffkit.numpy as dnp
>>> @dk.function
... def f(x1, x2):
...     return dnp.log(x1) + x1 * x2 - dnp.sin(x2)
>>> dk.gradient(f, [2.0, 5.0], method="central-difference").round(6)
array([5.5     , 1.716338])
"""

from __future__ import annotations

from typing import Any

from . import memory, methods, revolve
from . import numpy as numpy  # fills the primitive registry
from .api import derivative, gradient, hessian, jacobian
from .checkpointing import checkpoint, loop
from .errors import (
    ArgumentMutationError,
    ArityError,
    CheckpointError,
    DiffkitError,
    DiffkitFallbackWarning,
    DiffkitWarning,
    DomainError,
    InaccurateDerivativeError,
    MissingManualError,
    NonAnalyticError,
    NonFiniteError,
    NotTraceableError,
    OrderError,
    OutputShapeError,
    ParseError,
    PointError,
    StencilError,
    StepError,
    SymbolicBranchError,
    UnknownMethodError,
    UnsupportedAttributeError,
    UnsupportedPrimitiveError,
)
from .results import DerivativeResult
from .spec import Function, SpecError, function
from .trace import trace  # after this, diffkit.trace is the function, also once imported

__version__ = "0.1.0"

__all__ = [
    "ArgumentMutationError",
    "ArityError",
    "CheckpointError",
    "DerivativeResult",
    "DiffkitError",
    "DiffkitFallbackWarning",
    "DiffkitWarning",
    "DomainError",
    "Function",
    "InaccurateDerivativeError",
    "MissingManualError",
    "NonAnalyticError",
    "NonFiniteError",
    "NotTraceableError",
    "OrderError",
    "OutputShapeError",
    "ParseError",
    "PointError",
    "SpecError",
    "StencilError",
    "StepError",
    "SymbolicBranchError",
    "UnknownMethodError",
    "UnsupportedAttributeError",
    "UnsupportedPrimitiveError",
    "__version__",
    "checkpoint",
    "derivative",
    "function",
    "gradient",
    "hessian",
    "jacobian",
    "loop",
    "memory",
    "methods",
    "revolve",
    "trace",
]

# Submodules that later parts of diffkit add (analysis, compare, trace, testing) are imported on
# first attribute access, so `import diffkit` stays fast and never imports sympy or matplotlib.
_LAZY = {
    "analysis": ("diffkit.analysis", None),
    "catalog": ("diffkit.catalog", None),
    "testing": ("diffkit.testing", None),
    "plotting": ("diffkit.plotting", None),
    "graph": ("diffkit.graph", None),
    "stencils": ("diffkit.stencils", None),
    "compare": ("diffkit.analysis.compare", "compare"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attr is None else getattr(module, attr)
    raise AttributeError(f"module 'diffkit' has no attribute {name!r}")
