"""The seeded customer holdout every family uses (written once)."""

from __future__ import annotations

import numpy as np

from bayescope.errors import BayescopeInputError


def split_holdout(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of held-out rows: ``round(share * n)`` of ``n`` rows chosen at random.

    Raises
    ------
    BayescopeInputError
        If ``share`` is outside [0, 1) (field ``holdout_share``).
    """
    if not 0.0 <= share < 1.0:
        raise BayescopeInputError("--holdout-share must be in [0, 1)", field="holdout_share")
    mask = np.zeros(n, bool)
    mask[rng.choice(n, round(share * n), replace=False)] = True
    return mask
