"""scipy.special and scipy.stats.norm: the special functions people write in likelihoods
(``dnp.special``). scipy is imported only when one of them is evaluated."""

from __future__ import annotations

__all__: list[str] = []
