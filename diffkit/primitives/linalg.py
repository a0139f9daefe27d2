"""numpy.linalg: inverses, solves, determinants, factorizations and norms (``dnp.linalg``).

The adjoints are the standard ones: M. B. Giles, "Collected matrix derivative results for
forward and reverse mode algorithmic differentiation" (2008); I. Murray, "Differentiation of
the Cholesky decomposition" (2016).
"""

from __future__ import annotations

__all__: list[str] = []
