"""Errors raised by diffkit.

Every error is a :class:`DiffkitError` and also subclasses the builtin that a generic handler
would expect (``ValueError``, ``TypeError``, ...), the way sympy's errors do. Messages name the
argument, the value and the fix.
"""

from __future__ import annotations

__all__ = [
    "ArgumentMutationError",
    "ArityError",
    "CheckpointError",
    "DiffkitError",
    "DiffkitFallbackWarning",
    "DiffkitWarning",
    "DomainError",
    "GuardError",
    "InaccurateDerivativeError",
    "MissingManualError",
    "NonAnalyticError",
    "NonFiniteError",
    "NotTraceableError",
    "OrderError",
    "OutputShapeError",
    "ParseError",
    "PointError",
    "StencilError",
    "StepError",
    "SymbolicBranchError",
    "UnknownMethodError",
    "UnsupportedAttributeError",
    "UnsupportedPrimitiveError",
]


class DiffkitError(Exception):
    """Base class of every error diffkit raises on bad input."""


class UnknownMethodError(DiffkitError, ValueError):
    """A method name that is not registered, or settings a method does not take."""


class PointError(DiffkitError, ValueError):
    """The point ``x`` is malformed: wrong shape, not numeric, not finite."""


class ArityError(PointError):
    """The point has a different number of coordinates than the spec has parameters."""


class NonFiniteError(PointError):
    """The point, or the function value at it, is not finite."""


class DomainError(DiffkitError, ValueError):
    """A primitive was evaluated outside its domain (``log(-1)``, ``sqrt(-2)``)."""


class StencilError(DomainError):
    """A finite-difference stencil sampled the function where it is not finite."""


class StepError(DiffkitError, ValueError):
    """A step size ``h`` that is not positive and finite."""


class OrderError(DiffkitError, ValueError):
    """A requested accuracy order that a scheme cannot give."""


class OutputShapeError(DiffkitError, ValueError):
    """The function returned a shape the requested operation cannot use."""


class ParseError(DiffkitError, SyntaxError):
    """Formula text that is malformed, unsafe or too large."""


class SymbolicBranchError(DiffkitError, TypeError):
    """Python control flow branched on a symbolic value."""


class MissingManualError(DiffkitError, ValueError):
    """The manual method was asked for but the spec has no hand-written derivative."""


class NonAnalyticError(DiffkitError, ValueError):
    """Complex step on code that is not complex-analytic (abs, max, comparisons)."""


class NotTraceableError(DiffkitError, TypeError):
    """A traced value reached code that diffkit cannot follow (``float(x)``, ``math.sin``)."""


class UnsupportedAttributeError(NotTraceableError, AttributeError):
    """An ndarray attribute or method a traced value does not have (``x.tolist()``,
    ``x.flags``): AD cannot follow it. Also an ``AttributeError``, so ``hasattr`` keeps working;
    ``method="auto"`` falls back to Richardson extrapolation."""


class CheckpointError(DiffkitError, ValueError):
    """Bad arguments to :func:`diffkit.checkpoint` or :func:`diffkit.loop` (a step count, a
    checkpoint setting, something that is not a function)."""


class UnsupportedPrimitiveError(DiffkitError, NotImplementedError):
    """A primitive lacks the interpretation that a method needs."""


class InaccurateDerivativeError(DiffkitError, ArithmeticError):
    """A numerical derivative whose error estimate exceeds what the method promises, asked for
    with ``strict=True`` (f computes in float32, is not deterministic, jumps, ...)."""


class ArgumentMutationError(DiffkitError, ValueError):
    """The function modified its argument in place (``x *= 2``) instead of copying it."""


class DiffkitWarning(UserWarning):
    """Base class of the warnings diffkit emits (filter them all with this category)."""


class DiffkitFallbackWarning(DiffkitWarning):
    """``method="auto"`` could not follow the code with AD and used Richardson extrapolation.

    Emitted by the plain-array API (``dk.gradient`` and friends) once per function, the first
    time it falls back, naming the primitive or the source line that stopped AD. Silence it
    with ``warnings.filterwarnings("ignore", category=dk.DiffkitFallbackWarning)``, or choose
    the method explicitly.
    """


class GuardError(DiffkitError, RuntimeError):
    """A compiled derivative program was called where a decision it recorded while tracing
    (a branch, a value a rule read) comes out differently: it holds only on the traced path.

    ``index`` is the guard's position in the program (``Retrace(index)`` in its source).
    """

    def __init__(self, message: str, index: int = -1) -> None:
        super().__init__(message)
        self.index = index
