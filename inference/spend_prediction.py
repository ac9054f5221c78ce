"""Per-customer spend predictions from a hurdle log-normal posterior, as NumPy over draws.

For each customer and posterior draw: the simulated spend (posterior predictive), the
expected spend ``psi exp(mu + sigma^2/2)``, P(spend > 0) and the uplift
``E[spend | mailed] - E[spend | not mailed]``. Reduced through the shared
:func:`~bayescope.inference.predictive.predictive_summary`:

* ``spend_mean``: posterior mean of the expected spend (exact, not a simulation average);
* ``spend_median``, ``spend_low``, ``spend_high``: median and equal-tailed 5% / 95% quantiles
  of the posterior-predictive spend (with most customers spending nothing, low and often the
  median are 0);
* ``p_positive``: posterior mean of P(spend > 0);
* ``uplift_mean``, ``uplift_low``, ``uplift_high``: posterior mean and 90% interval of the
  uplift.

The CLI's ``predict`` and the API call :func:`predict_spend` with the same seed, so they give
the same numbers for the same rows. The simulation uses common random numbers: draw s uses one
uniform and one standard normal for every customer, so a customer's numbers depend on the seed
alone, never on which other customers are in the batch or in what order (per-customer
summaries are exact marginals; totals over customers must not be taken from these draws).
Nothing here compiles a PyTensor graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayescope.inference.predictive import predictive_summary, thin_draws
from bayescope.models.spend_hurdle import HurdleSpendModel, SpendDesign

COLUMNS = ("customer_id", "spend_mean", "spend_median", "spend_low", "spend_high",
           "p_positive", "uplift_mean", "uplift_low", "uplift_high")


@dataclass
class SpendSimulator:
    """The :class:`~bayescope.inference.predictive.PredictiveSimulator` of the spend model."""

    design: SpendDesign
    common_random_numbers: bool = True
    _shared: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)

    @property
    def n_units(self) -> int:
        """Number of customers."""
        return self.design.n

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Simulated spend, expected spend, P(spend > 0) and uplift."""
        return ("spend", "expected", "p_positive", "uplift")

    def simulate(self, params: Mapping[str, np.ndarray], index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Each outcome as (draws, customers) for the customers at ``index``."""
        treated = self.design.treated[index]
        parts = HurdleSpendModel.parts(params, self.design.z[index],
                                       self.design.campaign[index])
        mailed, not_mailed = parts.expected(1.0), parts.expected(0.0)
        is_mailed = treated == 1.0
        psi = parts.psi(treated)
        mu = parts.log_amount(treated)
        sigma = parts.sigma
        if self.common_random_numbers:
            uniform, normal = self._noise(psi.shape[0], rng)
        else:
            uniform, normal = rng.random(psi.shape), rng.standard_normal(psi.shape)
        spend = np.where(uniform < psi, np.exp(mu + sigma * normal), 0.0)
        return {"spend": spend, "expected": np.where(is_mailed, mailed, not_mailed),
                "p_positive": psi, "uplift": mailed - not_mailed}

    def _noise(self, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One uniform and one normal per draw, drawn once and shared by all customers."""
        if self._shared is None or self._shared[0].shape[0] != draws:
            self._shared = (rng.random((draws, 1)), rng.standard_normal((draws, 1)))
        return self._shared


PREDICTION_DRAWS = 1000
"""Posterior draws behind each customer's prediction (thinned at random, seeded)."""


def predict_spend(
    posterior: Mapping[str, np.ndarray], design: SpendDesign, customer_id: np.ndarray,
    seed: int = 0, max_draws: int = PREDICTION_DRAWS,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """The prediction table (see module docstring), one row per customer in input order."""
    rng = np.random.default_rng(seed)
    params = thin_draws(posterior, max_draws, rng)
    summary = predictive_summary(SpendSimulator(design), params, rng,
                                 quantiles=(0.05, 0.5, 0.95), progress=progress,
                                 means_only=("expected", "p_positive"))
    return pd.DataFrame({
        "customer_id": np.asarray(customer_id).astype(str),
        "spend_mean": summary["expected_mean"].to_numpy(),
        "spend_median": summary["spend_median"].to_numpy(),
        "spend_low": summary["spend_q05"].to_numpy(),
        "spend_high": summary["spend_q95"].to_numpy(),
        "p_positive": summary["p_positive_mean"].to_numpy(),
        "uplift_mean": summary["uplift_mean"].to_numpy(),
        "uplift_low": summary["uplift_q05"].to_numpy(),
        "uplift_high": summary["uplift_q95"].to_numpy(),
    }, columns=list(COLUMNS))
