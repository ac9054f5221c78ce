"""Shared base of the BG/NBD-family purchase models (spec + NumPy predictive core).

A purchase model here has four population parameters: transaction rates are
``lambda ~ Gamma(r, alpha)`` (rate ``alpha``) and dropout probabilities ``p ~ Beta(a, b)``.
Subclasses differ only in *when* a customer may drop out (after each repeat purchase for
BG/NBD; also at time zero for MBG/NBD), which changes the likelihood, P(alive) and the
conditional expectations.

Two halves, in the spirit of bambi's split of model spec from backend and arviz-stats' numeric
core apart from its xarray layer:

* :meth:`PurchaseModel.build` writes the PyMC model from an RFM summary. The likelihood
  depends on a customer only through ``(frequency, recency, T)``, so it is evaluated on the
  unique triples and weighted by their counts: a million customers cost what a few thousand
  unique triples do (:mod:`bayescope.models.btyd_likelihood`; pymc-marketing's
  distributions serve as the reference it is tested against).
* The ``p_alive`` / ``expected_purchases`` / ... methods are closed forms in NumPy, vectorised
  over posterior draws (leading axis) and customers (trailing axis): prediction never compiles
  a PyTensor graph.

Priors (weakly informative, scale-free, written down in :data:`DEFAULT_PURCHASE_PRIORS`):
``r ~ LogNormal(0, 3)`` and ``alpha ~ LogNormal(log(sum T / sum x), 3)``, centred on the data's
time scale (alpha is in units of time: days and weeks give the same posterior, alpha
rescaled); the Beta dropout distribution is parameterised by its mean
``phi = a / (a + b) ~ Uniform(0, 1)`` and concentration ``kappa = a + b ~ LogNormal(0, 3)``,
as pymc-marketing does, which decorrelates ``a`` and ``b`` for NUTS.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pymc as pm
from scipy import special, stats

from bayescope.data.rfm import RFMSummary
from bayescope.models.btyd_likelihood import (
    TripleStatistics,
    purchase_loglik,
    register_statistics,
)

Params = Mapping[str, np.ndarray]

DEFAULT_PURCHASE_PRIORS: dict[str, float] = {
    "r_log_sigma": 3.0,
    "alpha_log_sigma": 3.0,
    "kappa_log_sigma": 3.0,
}

PURCHASE_PARAMETERS = ("r", "alpha", "a", "b")


def unique_triples(rfm: RFMSummary) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(frequency, recency, T)`` rows and how many customers share each."""
    columns = (rfm.frequency, rfm.recency, rfm.T)
    if all(np.array_equal(c, np.round(c)) and c.min() >= 0 for c in columns):
        # Whole periods (the RFM summary's case): one int64 key per customer makes the
        # unique a 1-D sort, ~10x faster than np.unique(axis=0) on a million rows.
        ints = [c.astype(np.int64) for c in columns]
        base = int(max(c.max() for c in ints)) + 1
        keys, counts = np.unique((ints[0] * base + ints[1]) * base + ints[2],
                                 return_counts=True)
        triples = np.column_stack([keys // (base * base), keys // base % base, keys % base])
        return triples.astype(float), counts.astype(float)
    stacked = np.column_stack(columns)
    triples, counts = np.unique(stacked, axis=0, return_counts=True)
    return triples, counts.astype(float)


def as_draws(params: Params, names: tuple[str, ...]) -> list[np.ndarray]:
    """Posterior draws of ``names`` as column vectors ``(draws, 1)`` for broadcasting."""
    return [np.asarray(params[n], dtype=float).reshape(-1, 1) for n in names]


class PurchaseModel(ABC):
    """Base class of BG/NBD-type purchase models.

    Parameters
    ----------
    priors
        Overrides of :data:`DEFAULT_PURCHASE_PRIORS` (log-scale sds of the LogNormal priors).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    reference_distribution: ClassVar[str]
    """Name of pymc-marketing's distribution of this model, the cross-checks' reference."""
    drops_at_time_zero: ClassVar[bool]
    parameter_names: ClassVar[tuple[str, ...]] = PURCHASE_PARAMETERS

    def __init__(self, priors: Mapping[str, float] | None = None) -> None:
        self.priors = {**DEFAULT_PURCHASE_PRIORS, **(priors or {})}

    # ------------------------------------------------------------------ PyMC spec
    def add_to_model(self, rfm: RFMSummary) -> None:
        """Add priors and the weighted likelihood to the current PyMC model context."""
        triples, counts = unique_triples(rfm)
        # Start chains from the data's scale (r = 1, alpha = 1 / mean repeat rate): the
        # priors' own start, exp(4.5) for LogNormal(0, 3), lies on the flat Poisson-limit
        # ridge (r, alpha -> infinity) where a chain can stall.
        rate = max(float(np.sum(rfm.frequency)) / max(float(np.sum(rfm.T)), 1e-9), 1e-6)
        r = pm.LogNormal("r", 0.0, self.priors["r_log_sigma"], initval=1.0)
        # alpha has the unit of time: its prior is centred on the data's time scale, so that
        # the same purchases measured in days rather than weeks rescale alpha and nothing else.
        alpha_centre = pm.Data("alpha_prior_log_centre", np.log(1.0 / rate))
        alpha = pm.LogNormal("alpha", alpha_centre, self.priors["alpha_log_sigma"],
                             initval=1.0 / rate)
        phi = pm.Uniform("phi_dropout", 0.0, 1.0, initval=0.3)
        kappa = pm.LogNormal("kappa_dropout", 0.0, self.priors["kappa_log_sigma"], initval=3.0)
        a = pm.Deterministic("a", phi * kappa)
        b = pm.Deterministic("b", (1.0 - phi) * kappa)
        # Data enter as pm.Data, not constants: the compiled graph then does not depend on the
        # data, so pytensor's numba cache reuses it across fits (seconds saved per fit).
        data = register_statistics(TripleStatistics.from_triples(triples, counts))
        pm.Potential("purchase_loglik",
                     purchase_loglik(data, r, alpha, a, b, self.drops_at_time_zero))

    def reference_loglik(self, rfm: RFMSummary, params: Mapping[str, float]) -> float:
        """Total log-likelihood through pymc-marketing's distribution (for cross-checks)."""
        # Imported here, not at the top: pymc-marketing takes ~2 s to import and only the
        # cross-checks need it.
        from pymc_marketing.clv import distributions

        triples, counts = unique_triples(rfm)
        distribution = getattr(distributions, self.reference_distribution)
        dist = distribution.dist(a=params["a"], b=params["b"], r=params["r"],
                                 alpha=params["alpha"], T=triples[:, 2])
        observed = np.column_stack([triples[:, 1], triples[:, 0]])
        return float((pm.logp(dist, observed).eval() * counts).sum())

    def build(self, rfm: RFMSummary) -> pm.Model:
        """The PyMC model of this purchase process for ``rfm``."""
        with pm.Model() as model:
            self.add_to_model(rfm)
        return model

    # ------------------------------------------------------------------ NumPy core
    # BG/NBD and MBG/NBD share one set of closed forms: MBG/NBD's extra dropout chance at time
    # zero shifts b by one (``shift``), and a BG/NBD customer without repeat purchases is
    # alive for sure. FHL (2005) eqs. (10), (14); Batislam et al. (2007) eqs. (A.5), (A.6).

    @property
    def shift(self) -> float:
        """1 when a customer may drop out right after the first purchase, else 0."""
        return 1.0 if self.drops_at_time_zero else 0.0

    def loglik(self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Pointwise log-likelihood of each customer's (x, t_x, T), shape (draws, customers).

        FHL (2005) eq. (6) (Batislam et al. 2007 eq. (A.3) with ``shift``): the same
        expression as the PyMC likelihood, per customer instead of summed, for LOO. An
        impossible summary (:func:`possible_summary`) has likelihood 0: ``-inf``.
        """
        possible = possible_summary(np.asarray(x, float), np.asarray(tx, float),
                                    np.asarray(T, float))
        r, alpha, a, b = as_draws(params, PURCHASE_PARAMETERS)
        s = self.shift
        x, tx, T = (np.asarray(v, float) for v in (x, tx, T))
        # Impossible rows are -inf below; clipped here so that nothing on the way warns.
        x, tx = np.maximum(x, 0.0), np.clip(tx, 0.0, np.maximum(T, 0.0))
        log_alpha_T = np.log(alpha + T)
        per_x = (special.gammaln(r + x) - special.gammaln(r) + special.gammaln(a + b)
                 + special.gammaln(b + x + s) - special.gammaln(b)
                 - special.gammaln(a + b + x + s))
        x_in_log = x if self.drops_at_time_zero else np.maximum(x, 1.0)
        z = (np.log(a) - np.log(b + x_in_log - 1.0 + s)
             + (r + x) * (log_alpha_T - np.log(alpha + tx)))
        dropout = np.logaddexp(0.0, z)
        if not self.drops_at_time_zero:
            dropout = np.where(x > 0, dropout, 0.0)
        out = per_x + r * np.log(alpha) - (r + x) * log_alpha_T + dropout
        return np.where(possible, out, -np.inf)

    def p_alive(self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(customer still alive at T | x, t_x, T), shape (draws, customers).

        ``1 / (1 + a / (b + x - 1 + shift) ((alpha+T)/(alpha+tx))^(r+x))``, and 1 for a
        BG/NBD customer with x = 0.
        """
        r, alpha, a, b = as_draws(params, PURCHASE_PARAMETERS)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds_dead = (np.log(a) - np.log(b + x - 1.0 + self.shift)
                             + log_ratio_power(alpha, T, tx, r + x))
        # expit, not 1 / (1 + exp(.)): a heavy buyer long quiet (x = 300, t_x = 30, T = 365
        # days) has log-odds in the thousands, where exp overflows.
        alive = special.expit(-log_odds_dead)
        return alive if self.drops_at_time_zero else np.where(x > 0, alive, 1.0)

    def expected_purchases_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, t: float | np.ndarray
    ) -> np.ndarray:
        """E[purchases in (T, T + t] | alive at T, x, T], shape (draws, customers).

        ``(a+b+x-1+s)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        2F1(r+x, b+x+s; a+b+x-1+s; t/(alpha+T+t))]`` with ``s = shift``; the sign-safe 2F1
        keeps BG/NBD with a + b < 1 finite.
        """
        r, alpha, a, b = as_draws(params, PURCHASE_PARAMETERS)
        s = self.shift
        tail = hyp2f1_times_power(r + x, b + x + s, a + b + x - 1.0 + s, t / (alpha + T + t),
                                  (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        return (a + b + x - 1.0 + s) / (a - 1.0) * (1.0 - tail)

    def expected_purchases(
        self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
        t: float | np.ndarray,
    ) -> np.ndarray:
        """E[number of purchases in (T, T + t] | history], shape (draws, customers)."""
        return self.expected_purchases_if_alive(params, x, T, t) * self.p_alive(params, x, tx, T)

    def expected_purchases_new(self, params: Params, t: float | np.ndarray) -> np.ndarray:
        """E[repeat purchases in (0, t]] for a newly acquired customer, shape (draws, *t).

        A new customer is one observed with x = t_x = T = 0, so this is
        :meth:`expected_purchases` there (FHL 2005 eq. 9; Batislam et al. 2007).
        """
        t = np.asarray(t, dtype=float)
        zero = np.zeros_like(t)
        out = self.expected_purchases(params, zero, zero, zero, t)
        return out.reshape(out.shape[0], *t.shape)

    def alive_dropout_beta(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Beta parameters of p for a customer alive at T: ``Beta(a, b + x + shift)``."""
        a, b = as_draws(params, ("a", "b"))
        return a + 0.0 * x, b + x + self.shift

    def p_any_purchase(
        self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float
    ) -> np.ndarray:
        """P(at least one purchase in (T, T + t] | history), shape (draws, customers).

        A customer alive at T keeps purchasing as a Poisson process until a purchase triggers
        dropout, so no purchase in the window means no Poisson event:
        ``P = P(alive) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x))`` with the
        Gamma(r + x, alpha + T) posterior of lambda.
        """
        r, alpha = as_draws(params, ("r", "alpha"))
        with np.errstate(under="ignore"):
            no_event = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        return self.p_alive(params, x, tx, T) * (1.0 - no_event)

    def pmf(self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
            t: float, n: np.ndarray | float) -> np.ndarray:
        """P(n purchases in (T, T + t] | x, t_x, T), shape (draws, customers).

        A customer alive at T has ``lambda ~ Gamma(r + x, alpha + T)`` and
        ``p ~ Beta(a, b' = b + x + shift)`` (:meth:`alive_dropout_beta`), independent, and from
        T on drops out only after a purchase: the count is ``min(N, G)`` with ``N`` the
        Poisson count and ``G`` the purchase after which they drop. Integrating, as FHL (2005)
        eq. (8) does for a new customer,

            P(n | alive) = B(a, b' + n) / B(a, b') NB(n)
                           + 1[n > 0] B(a + 1, b' + n - 1) / B(a, b') P(N >= n),

        ``NB`` the negative binomial of ``Gamma(r + x, alpha + T)``-mixed Poisson counts over
        ``t``, ``P(N >= n) = I_{t / (alpha + T + t)}(n, r + x)``. Then
        ``P(n) = P(alive) P(n | alive) + (1 - P(alive)) 1[n = 0]`` (Fader & Hardie's
        conditional PMF; at x = t_x = T = 0 it is FHL eq. (8) for BG/NBD and Batislam et al.'s
        (2007) for MBG/NBD).
        """
        if not t > 0:
            raise ValueError(f"the horizon t must be positive, got {t}")
        r, alpha = as_draws(params, ("r", "alpha"))
        a, b_alive = self.alive_dropout_beta(params, x)
        n = np.asarray(n, float)
        shape, rate = r + x, alpha + T
        with np.errstate(under="ignore"):
            log_nb = (special.gammaln(shape + n) - special.gammaln(shape)
                      - special.gammaln(n + 1.0) + shape * (np.log(rate) - np.log(rate + t))
                      + n * (np.log(t) - np.log(rate + t)))
            log_beta = special.betaln(a, b_alive)
            stay = np.exp(special.betaln(a, b_alive + n) - log_beta + log_nb)
            at_least_n = special.betainc(np.maximum(n, 1.0), shape, t / (rate + t))
            drop = np.exp(special.betaln(a + 1.0, b_alive + np.maximum(n - 1.0, 0.0))
                          - log_beta) * at_least_n
            if_alive = stay + np.where(n > 0, drop, 0.0)
            alive = self.p_alive(params, x, tx, T)
            return alive * if_alive + (1.0 - alive) * (n == 0)

    def pmf_new(self, params: Params, t: float, n: np.ndarray) -> np.ndarray:
        """P(X(t) = n) for a newly acquired customer, shape (draws, len(n)) (FHL 2005 eq. 8;
        Batislam et al. 2007 for MBG/NBD): :meth:`pmf` at x = t_x = T = 0."""
        n = np.atleast_1d(np.asarray(n, float))
        zero = np.zeros_like(n)
        return self.pmf(params, zero, zero, zero, t, n)

    def p_alive_new(self, params: Params, t: np.ndarray, n_nodes: int = 64) -> np.ndarray:
        """P(a new customer is alive at time t), shape (draws, len(t)).

        Given (lambda, p), a BG/NBD customer is alive at t iff no Poisson event triggered
        dropout: ``E[(1 - p) ** N(t)] = exp(-lambda p t)``; integrating lambda gives
        ``(alpha / (alpha + p t)) ** r``. MBG/NBD multiplies by ``1 - p`` (dropout at zero).
        The Beta(a, b) integral over p is done by Gauss-Jacobi quadrature.
        """
        r, alpha, a, b = (np.asarray(params[n], float) for n in PURCHASE_PARAMETERS)
        t = np.atleast_1d(np.asarray(t, float))
        out = np.empty((r.size, t.size))
        for i in range(r.size):
            with np.errstate(over="ignore", invalid="ignore"):
                nodes, weights = special.roots_jacobi(n_nodes, b[i] - 1.0, a[i] - 1.0)
                p = (1.0 + nodes) / 2.0
                w = weights / weights.sum()
            if not np.all(np.isfinite(w)):
                # Jacobi weights overflow once a + b reaches a few hundred; then the Beta is
                # concentrated and equal-probability quantile nodes are accurate enough.
                p = stats.beta.ppf((np.arange(4 * n_nodes) + 0.5) / (4 * n_nodes), a[i], b[i])
                w = np.full(p.size, 1.0 / p.size)
            survive = (alpha[i] / (alpha[i] + np.outer(t, p))) ** r[i]
            if self.drops_at_time_zero:
                survive = survive * (1.0 - p)
            out[i] = survive @ w
        return out


def possible_summary(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Whether each (x, t_x, T) can be observed: x a non-negative integer, 0 <= t_x <= T,
    and t_x = 0 when x = 0."""
    with np.errstate(invalid="ignore"):
        return ((x >= 0) & (x == np.round(x)) & (tx >= 0) & (tx <= T)
                & ((x > 0) | (tx == 0)))


def log_ratio_power(alpha: np.ndarray, T: np.ndarray, tx: np.ndarray, power: np.ndarray
                    ) -> np.ndarray:
    """``power * log((alpha + T) / (alpha + tx))``, the recurring term of P(alive)."""
    return power * (np.log(alpha + T) - np.log(alpha + tx))


def hyp2f1_times_power(a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray,
                       log_power: np.ndarray) -> np.ndarray:
    """``2F1(a, b; c; z) * exp(log_power)`` for 0 <= z < 1, keeping the sign of 2F1.

    2F1 is evaluated directly (it is negative for some c < 0, e.g. BG/NBD with a + b < 1);
    where it overflows, Euler's transformation
    ``2F1(a, b; c; z) = (1 - z) ** (c - a - b) * 2F1(c - a, c - b; c; z)`` is used in logs.
    """
    direct = special.hyp2f1(a, b, c, z)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = direct * np.exp(log_power)
        bad = ~np.isfinite(out)
        if np.any(bad):
            a_, b_, c_, z_, lp = np.broadcast_arrays(a, b, c, z, log_power)
            alt = special.hyp2f1(c_ - a_, c_ - b_, c_, z_)
            log_alt = np.log(np.abs(alt)) + (c_ - a_ - b_) * np.log1p(-z_) + lp
            out = np.where(bad, np.sign(alt) * np.exp(log_alt), out)
    return out
