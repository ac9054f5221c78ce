"""Per-customer BTYD predictions with posterior intervals, and top-N lists.

For every customer and every posterior draw this evaluates the closed forms of the model
(expected purchases in the horizon, P(alive), expected value per purchase, expected spend =
purchases x value, as in Fader, Hardie & Lee 2005) and reduces over draws to a compact
summary: mean and the 5% / 95% quantiles (a 90% posterior interval), through the shared
:func:`~bayescope.inference.predictive.predictive_summary` (:class:`ExpectedQuantities` is
the simulator). Purchases and P(alive)
depend on a customer only through (frequency, recency, T), so they are computed once per
unique triple. Work is chunked so memory stays bounded at a million customers.

With a :class:`Discounting`, spend is the present value: the expected purchases of each
month of the horizon are discounted at the annual rate before multiplying by the value per
purchase (the discrete-time CLV sum of FHL 2005, monthly steps as in lifetimes).

``p_in_top`` is the posterior probability that a customer is among the ``top`` customers by
the chosen quantity: the share of draws in which they rank there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescope.data.rfm import RFMSummary
from bayescope.inference.predictive import (
    n_draws,
    predictive_summary,
    quantile_name,
    thin_draws,
)
from bayescope.models.btyd import BTYDModel

QUANTITIES = ("purchases", "spend", "value")
PREDICTION_DRAWS = 500
"""Posterior draws behind each customer's prediction (thinned at random, seeded)."""
LOW_Q, HIGH_Q = 0.05, 0.95


@dataclass(frozen=True)
class Discounting:
    """Annual discount rate applied in ``steps_per_year`` steps (monthly by default)."""

    annual_rate: float
    periods_per_year: float
    steps_per_year: int = 12

    def schedule(self, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        """Step end times (periods) within the horizon and their discount factors."""
        step = self.periods_per_year / self.steps_per_year
        ends = np.minimum(np.arange(1, math.ceil(horizon / step - 1e-9) + 1) * step, horizon)
        return ends, (1.0 + self.annual_rate) ** -(ends / self.periods_per_year)


def customer_draws(
    spec: BTYDModel, params: Mapping[str, np.ndarray], rfm: RFMSummary, horizon: float,
    index: np.ndarray, discounting: Discounting | None = None,
) -> dict[str, np.ndarray]:
    """Draws x customers arrays of each quantity for the customers at ``index``."""
    x, tx, T = rfm.frequency[index], rfm.recency[index], rfm.T[index]
    triples, inverse = np.unique(np.column_stack([x, tx, T]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    ux, utx, uT = triples.T
    alive = spec.purchase.p_alive(params, ux, utx, uT)[:, inverse]
    purchases = spec.purchase.expected_purchases_if_alive(params, ux, uT, horizon)[:, inverse]
    purchases *= alive
    out = {"purchases": purchases, "p_alive": alive}
    if spec.spend is not None:
        value = spec.spend.expected_value(params, x, rfm.monetary_value[index])
        out["value"] = value
        spend_purchases = purchases
        if discounting is not None:
            spend_purchases = _discounted_purchases(spec, params, triples, horizon,
                                                    discounting)[:, inverse]
        out["spend"] = spend_purchases * value
    return out


@dataclass
class ExpectedQuantities:
    """Posterior draws of each customer's expected purchases, P(alive), value and spend.

    The :class:`~bayescope.inference.predictive.PredictiveSimulator` of BTYD predictions:
    its "outcomes" are the closed-form conditional expectations per posterior draw, so the
    shared summaries give their posterior mean and interval.
    """

    spec: BTYDModel
    rfm: RFMSummary
    horizon: float
    discounting: Discounting | None = None

    @property
    def n_units(self) -> int:
        """Number of customers."""
        return self.rfm.n_customers

    @property
    def outcomes(self) -> tuple[str, ...]:
        """purchases, p_alive, and value and spend when the run has a spend model."""
        spend = ("value", "spend") if self.spec.spend is not None else ()
        return ("purchases", "p_alive", *spend)

    def simulate(self, params: Mapping[str, np.ndarray], index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draws x customers arrays of each quantity (``rng`` is unused: closed forms)."""
        return customer_draws(self.spec, params, self.rfm, self.horizon, index,
                              self.discounting)


def _discounted_purchases(spec: BTYDModel, params: Mapping[str, np.ndarray],
                          triples: np.ndarray, horizon: float,
                          discounting: Discounting) -> np.ndarray:
    """Sum over steps of discounted increments of expected purchases, per unique triple."""
    ux, utx, uT = triples.T
    ends, factors = discounting.schedule(horizon)
    total = np.zeros((next(iter(params.values())).size, ux.size))
    previous = np.zeros_like(total)
    for end, factor in zip(ends, factors, strict=True):
        cumulative = spec.purchase.expected_purchases(params, ux, utx, uT, float(end))
        total += factor * (cumulative - previous)
        previous = cumulative
    return total


def predict_customers(
    spec: BTYDModel,
    posterior: Mapping[str, np.ndarray],
    rfm: RFMSummary,
    horizon: float,
    top: int | None = None,
    by: str = "purchases",
    max_draws: int = PREDICTION_DRAWS,
    seed: int = 0,
    chunk_size: int = 20_000,
    progress: Callable[[int, int], None] | None = None,
    discounting: Discounting | None = None,
    pmf: int | None = None,
) -> pd.DataFrame:
    """Tidy per-customer predictions, sorted by ``by`` (descending) when ``top`` is given.

    Parameters
    ----------
    spec
        The fitted model specification.
    posterior
        Flat posterior draws by parameter name.
    rfm
        Customers to predict for.
    horizon
        Horizon in the model's time unit.
    top, by
        Keep the ``top`` customers by the posterior mean of ``by`` and add ``p_in_top``.
    max_draws
        Posterior draws used (thinned at random with ``seed``).
    progress
        Called after each chunk with (customers in the chunk, customers in all).
    discounting
        When given, ``spend_*`` is the discounted present value of the horizon's spend.
    pmf
        When given, columns ``pmf_0`` .. ``pmf_{pmf}``: P(n purchases in the horizon),
        posterior mean (:func:`pmf_table`).
    """
    rng = np.random.default_rng(seed)
    params = thin_draws(posterior, max_draws, rng)
    quantities = list(QUANTITIES) if spec.spend is not None else ["purchases"]
    simulator = ExpectedQuantities(spec, rfm, horizon, discounting)
    summary = predictive_summary(simulator, params, rng, quantiles=(LOW_Q, HIGH_Q),
                                 chunk_size=chunk_size, progress=progress)
    columns: dict[str, np.ndarray] = {"customer_id": rfm.customer_id}
    for q in quantities:
        columns[f"{q}_mean"] = summary[f"{q}_mean"].to_numpy()
        columns[f"{q}_low"] = summary[f"{q}_{quantile_name(LOW_Q)}"].to_numpy()
        columns[f"{q}_high"] = summary[f"{q}_{quantile_name(HIGH_Q)}"].to_numpy()
    columns["p_alive"] = summary["p_alive_mean"].to_numpy()
    frame = pd.DataFrame(columns)
    if top is not None:
        frame["p_in_top"] = p_in_top(spec, params, rfm, horizon, top, by, chunk_size,
                                     discounting)
        frame = frame.sort_values(f"{by}_mean", ascending=False, kind="stable").head(top)
    if pmf is not None:
        table = pmf_table(spec, params, rfm.take(frame.index.to_numpy()), horizon, pmf)
        frame = pd.concat([frame, pd.DataFrame(table, index=frame.index,
                                               columns=[f"pmf_{n}" for n in range(pmf + 1)])],
                          axis=1)
    return frame.reset_index(drop=True)


def pmf_table(spec: BTYDModel, params: Mapping[str, np.ndarray], rfm: RFMSummary,
              horizon: float, n_max: int, chunk_size: int = 2_000) -> np.ndarray:
    """``(customers, n_max + 1)``: posterior mean of P(n purchases in the horizon) for
    n = 0..n_max (:meth:`~bayescope.models.btyd_base.PurchaseModel.pmf`), once per unique
    (x, t_x, T)."""
    triples, inverse = np.unique(np.column_stack([rfm.frequency, rfm.recency, rfm.T]), axis=0,
                                 return_inverse=True)
    out = np.empty((len(triples), n_max + 1))
    for start in range(0, len(triples), chunk_size):
        x, tx, T = triples[start:start + chunk_size].T
        for n in range(n_max + 1):
            out[start:start + chunk_size, n] = spec.purchase.pmf(
                params, x, tx, T, horizon, float(n)).mean(axis=0)
    return out[inverse.reshape(-1)]


def p_in_top(
    spec: BTYDModel, params: Mapping[str, np.ndarray], rfm: RFMSummary, horizon: float,
    top: int, by: str, chunk_size: int = 20_000, discounting: Discounting | None = None,
) -> np.ndarray:
    """Posterior probability that each customer is among the ``top`` by ``by``.

    Per draw, the threshold is the ``top``-th largest value over all customers; ties at the
    threshold count as in. Draws are processed in blocks so memory is ``block x customers``.
    """
    n = rfm.n_customers
    top = min(top, n)
    n_draws = next(iter(params.values())).size
    block = max(1, min(n_draws, 5_000_000 // max(n, 1)))
    hits = np.zeros(n)
    for start in range(0, n_draws, block):
        sub = {k: v[start:start + block] for k, v in params.items()}
        values = np.concatenate(
            [customer_draws(spec, sub, rfm, horizon, np.arange(s, min(s + chunk_size, n)),
                            discounting)[by]
             for s in range(0, n, chunk_size)], axis=1)
        threshold = -np.partition(-values, top - 1, axis=1)[:, top - 1:top]
        hits += (values >= threshold).sum(axis=0)
    return hits / n_draws


def predict_partition(rfm: RFMSummary, spec: BTYDModel, horizon: float,
                      discounting: Discounting | None, pmf: int | None,
                      params: Mapping[str, np.ndarray]) -> tuple[pd.DataFrame, None]:
    """:func:`predict_customers` of one partition with draws already thinned (the Dask
    engine's unit of work; rows equal the single-process ones)."""
    return predict_customers(spec, params, rfm, horizon, max_draws=n_draws(params),
                             discounting=discounting, pmf=pmf), None


def partitions_by_triple(rfm: RFMSummary, rows: int) -> list[RFMSummary]:
    """The customers sorted by (frequency, recency, T) and cut into parts of ``rows``, so that
    customers who share a triple share a part and its closed forms are evaluated once."""
    order = np.lexsort((rfm.T, rfm.recency, rfm.frequency))
    return [rfm.take(order[start:start + rows]) for start in range(0, rfm.n_customers, rows)]
