"""The registry: one stanza per primitive, with every interpretation side by side.

Each family file is a table of stanzas (:func:`~diffkit.primitives._stanza.primitive`):

========================  ============================================================
``arithmetic.py``         ``+ - * /``, negation, powers
``elementwise.py``        transcendental functions, kinks, comparisons, ``where``
``reductions.py``         sums, means, products, extrema, statistics
``shapes.py``             reshape, transpose, broadcasting, indexing, joining
``contractions.py``       matrix products, einsum, tensordot, kron, cross
``norms.py``              numpy.linalg.norm, vector_norm, matrix_norm: every ord
``linalg.py``             numpy.linalg: inv, solve, det, factorizations
``special.py``            scipy.special and scipy.stats.norm
========================  ============================================================

A stanza names the numpy implementation (``numeric``), the sympy one (``symbolic``), the
vector-Jacobian products (``vjp``, one per argument, ``vjp[i](g, ans, *args, **params)``), the
Jacobian-vector products (``jvp``, one per argument, ``jvp[i](t, ans, *args, **params)``), the
domains of the value and of the derivative, and every name and display form the rest of
diffkit derives from it (see :class:`~diffkit.core.Primitive`). Adding a primitive is one
stanza in one family file; ``tests/test_primitives.py`` and the other registry-iterating tests
check it the moment it exists.
"""

from __future__ import annotations

from ..core import REGISTRY
from . import arithmetic, contractions, elementwise, linalg, norms, reductions, shapes, special
from ._stanza import ops, unbroadcast

__all__ = ["FAMILIES", "REGISTRY", "arithmetic", "contractions", "elementwise", "linalg", "norms",
           "ops", "reductions", "shapes", "special", "unbroadcast"]

FAMILIES = ("arithmetic", "elementwise", "reductions", "shapes", "contractions", "linalg",
            "norms", "special")
"""The family modules, in the order they register."""
