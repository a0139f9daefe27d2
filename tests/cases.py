"""Sample arguments for every registry primitive, read from the stanzas (``samples``).

Every primitive carries its own sample calls inside its domain (scalar, vector, matrix and
broadcast shapes) in its stanza; ``tests/test_primitives.py`` fails on a stanza without any,
so a new primitive is tested the moment it exists.
"""

from __future__ import annotations

from diffkit.core import REGISTRY

# name -> list of (args, params)
CASES: dict[str, list[tuple[tuple, dict]]] = {
    name: list(prim.samples) for name, prim in REGISTRY.items() if prim.samples
}
