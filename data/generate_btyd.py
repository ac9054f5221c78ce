"""Seeded generator of Klaviyo-schema transactions from BG/NBD or MBG/NBD plus Gamma-Gamma.

Generative process, per customer (time in the chosen unit, days or weeks):

1. acquisition (first purchase) uniformly in ``[0, acquisition_periods)`` after ``start``;
2. ``lambda ~ Gamma(r, rate=alpha)``, ``p ~ Beta(a, b)``;
3. repeat purchases follow a Poisson process with rate ``lambda``; each ends the relationship
   with probability ``p`` (MBG/NBD: the first purchase may already end it), so the number of
   repeat purchases made before dropout is geometric. With ``regularity`` k > 1 the times
   between purchases are Erlang-k with mean ``1 / lambda`` instead of exponential: a process
   the models are *not* written from (more regular buyers, as in BTYDplus's (M)BG/CNBD-k),
   for checking that the assumption checks notice;
4. purchase values: ``nu ~ Gamma(q, rate=v)`` per customer, each value ``z ~ Gamma(p_value,
   rate=nu)`` (Gamma-Gamma), the first purchase included.

Timestamps carry a uniform time of day so files look like real exports. The truth (the
parameters above) is returned with the data, with each customer's latent lambda, p, nu and
whether they are still alive at the end, so recovery and P(alive) calibration can be tested.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from bayescope.data.rfm import TIME_UNITS
from bayescope.errors import BayescopeInputError


@dataclass(frozen=True)
class BTYDTruth:
    """True parameters of a generated population (purchase model + Gamma-Gamma)."""

    model: str = "mbgnbd"
    r: float = 0.25
    alpha: float = 4.0
    a: float = 0.8
    b: float = 2.5
    p: float = 6.0
    q: float = 4.0
    v: float = 15.0
    regularity: int = 1

    def to_dict(self) -> dict[str, float | str]:
        """Plain dictionary of the truth."""
        return asdict(self)


@dataclass
class GeneratedLog:
    """A generated transaction log with its ground truth."""

    transactions: pd.DataFrame
    truth: BTYDTruth
    customers: pd.DataFrame


def generate_btyd_transactions(
    n_customers: int,
    truth: BTYDTruth,
    rng: np.random.Generator,
    observation_periods: float = 78.0,
    acquisition_periods: float = 12.0,
    time_unit: str = "W",
    start: str = "2024-01-01",
) -> GeneratedLog:
    """Transactions in the Klaviyo schema (CustomerID, Timestamp ISO 8601 UTC, PurchaseValue).

    Parameters
    ----------
    n_customers
        Customers acquired.
    truth
        Population parameters; ``truth.model`` is ``bgnbd`` or ``mbgnbd``.
    rng
        NumPy Generator: the only source of randomness.
    observation_periods
        Length of the observed window from ``start``, in ``time_unit``.
    acquisition_periods
        Customers are acquired uniformly over the first this-many periods.

    Returns
    -------
    GeneratedLog
        ``transactions`` (the file a user would have), ``truth`` (population parameters) and
        ``customers`` (CustomerID, lambda, p, nu, repeat_purchases, alive_at_end).
    """
    if truth.model not in ("bgnbd", "mbgnbd"):
        raise BayescopeInputError(f"unknown model {truth.model!r}", field="model")
    if truth.regularity < 1:
        raise BayescopeInputError("regularity must be a positive integer", field="regularity")
    if time_unit not in TIME_UNITS:
        raise BayescopeInputError(f"unknown time unit {time_unit!r}", field="time_unit")
    n = int(n_customers)
    first = rng.uniform(0.0, acquisition_periods, n)
    lam = rng.gamma(truth.r, 1.0 / truth.alpha, n)
    p = rng.beta(truth.a, truth.b, n)
    # Repeat purchases before the one that triggers dropout: BG/NBD J-1 with J ~ Geom(p) >= 1
    # (the J-th repeat purchase ends it, and is made); MBG/NBD may end at time zero.
    max_repeats = rng.geometric(p)
    if truth.model == "mbgnbd":
        max_repeats = max_repeats - 1
    window = observation_periods - first
    if truth.regularity == 1:
        n_events = rng.poisson(lam * window)
        # Given N events of a Poisson process on the window, event times are uniform order
        # statistics; the first n_repeat of them are the purchases made before dropout.
        owner_events = np.repeat(np.arange(n), n_events)
        event_time = first[owner_events] + rng.uniform(0.0, 1.0, owner_events.size) * window[
            owner_events]
        order = np.lexsort((event_time, owner_events))
        owner_events, event_time = owner_events[order], event_time[order]
    else:
        owner_events, event_time, n_events = _renewal_events(
            first, observation_periods, lam, truth.regularity, max_repeats, rng)
    n_repeat = np.minimum(n_events, max_repeats)
    rank = np.arange(owner_events.size) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    keep = rank < n_repeat[owner_events]
    owners = np.concatenate([np.arange(n), owner_events[keep]])
    times = np.concatenate([first, event_time[keep]])
    nu = rng.gamma(truth.q, 1.0 / truth.v, n)
    values = rng.gamma(truth.p, 1.0 / nu[owners])
    seconds = times * TIME_UNITS[time_unit] * 86_400.0
    stamps = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.round(seconds), unit="s")
    frame = pd.DataFrame({
        "CustomerID": np.char.add("C", owners.astype(str)),
        "Timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "PurchaseValue": np.round(values, 2),
    })
    customers = pd.DataFrame({
        "CustomerID": np.char.add("C", np.arange(n).astype(str)),
        "lambda": lam, "p": p, "nu": nu, "repeat_purchases": n_repeat,
        # Still alive iff the purchase that would end it has not happened in the window.
        "alive_at_end": n_events < max_repeats,
    })
    transactions = frame.sort_values(["Timestamp", "CustomerID"], kind="stable",
                                     ignore_index=True)
    return GeneratedLog(transactions, truth, customers)


def _renewal_events(first: np.ndarray, end: float, lam: np.ndarray, k: int,
                    max_repeats: np.ndarray, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event owners and times (sorted by owner, then time) of renewal processes with Erlang-k
    gaps of mean ``1 / lambda`` from each first purchase to ``end``, and each owner's count;
    a customer stops drawing once past ``end`` or at the purchase that ends them."""
    owners: list[np.ndarray] = []
    times: list[np.ndarray] = []
    now = first.copy()
    count = np.zeros(first.size, dtype=np.int64)
    active = np.flatnonzero((lam > 0) & (max_repeats > 0))
    while active.size:
        now[active] += rng.gamma(k, 1.0 / (k * lam[active]))
        inside = active[now[active] < end]
        owners.append(inside)
        times.append(now[inside])
        count[inside] += 1
        active = inside[count[inside] < max_repeats[inside]]
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    when = np.concatenate(times) if times else np.zeros(0)
    order = np.lexsort((when, owner))
    return owner[order], when[order], count
