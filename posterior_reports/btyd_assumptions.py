"""The BTYD models' assumptions, each tested on the data: statistic, 90% interval, verdict.

Every check returns ``{"name", "statistic", "low", "high", "verdict", "says"}`` (the
``metrics.json["assumptions"]`` contract) with ``verdict`` one of ``holds``, ``doubtful``,
``violated``. Two kinds:

* **Estimates** (``poisson_purchasing``, ``spend_frequency_independence``): the statistic is
  an estimate and ``low``/``high`` its 90% interval; the verdict compares the interval with
  the value the model assumes.
* **Posterior predictive checks** (the rest): the statistic is computed on the data and on
  data replicated from the fitted model (one replicate per posterior draw); ``low``/``high``
  is the 90% interval of the replicated statistic, and the verdict follows the posterior
  predictive p-value ``P(T_rep >= T_obs)`` (Gelman, Meng & Stern 1996): ``holds`` at 0.05 or
  more, ``doubtful`` from 0.01, ``violated`` below (two-sided checks: twice the smaller
  tail, against 0.10 and 0.02). A chi-square discrepancy ``T`` sums
  ``(observed - expected)^2 / variance`` over groups, both moments from the replicates.

The assumptions (Fader, Hardie & Lee 2005, sec. 2; Batislam et al. 2007; Fader & Hardie 2013
for Gamma-Gamma) and their checks:

``poisson_purchasing``
    Wheat & Morrison's (1990) regularity ``k = 1 / (8 Var(M)) - 1/2`` from each customer's
    last two inter-purchase times (:mod:`bayescope.data.purchase_history`); 1 for Poisson,
    k for Erlang-k times. Bootstrap interval over customers. Holds when the interval meets
    [0.8, 1.25], is violated when it lies beyond [2/3, 1.5]. (Day-resolution times read
    about 1.1 on Poisson data: gaps of a fraction of a day round up.)
``gamma_heterogeneity``
    Calibration frequency histogram (0..6, 7+) and mean ``t_x / T`` by frequency (1, 2, 3-4,
    5+) of the customers against new customers simulated over their own T.
``dropout_after_purchase``
    Holdout: customers with any purchase by decile of P(alive), against the model's
    P(any purchase).
``rate_dropout_independence``
    The rank correlation of the repeat buyers' posterior mean rate and dropout probability
    against data replicated with independent ones (the statistic and band), and with a
    holdout, purchases by frequency (1, 2, 3-5, 6+) x recency (thirds of ``t_x / T``) cell
    against the model's conditional predictive; the verdict is the worse of the two.
``stationarity``
    Repeat purchases per period of the whole customer base (FHL 2005 fig. 2, with 90%
    bands): the statistic is the holdout total over its expectation (the later half of the
    calibration when the run has no holdout), ``low``/``high`` the band of that ratio. Bands
    take each period's total as Poisson given a draw's expectation (per-customer counts in
    one period are almost all 0 or 1, their sum over many customers near Poisson).
``spend_frequency_independence``
    Pearson correlation of frequency and mean repeat value (customers with repeats), Fisher
    interval. Holds when the interval lies within (-0.2, 0.2); violated beyond +-0.3.
``spend_stability``
    Mean within-customer coefficient of variation of repeat values (customers with two or
    more) against Gamma-Gamma's ``z ~ Gamma(p, nu)``, whose CV depends on ``p`` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bayescope.data.purchase_history import PurchaseHistory
from bayescope.data.rfm import RFMSummary
from bayescope.inference.btyd_simulation import HoldoutCounts, purchases_before_dropout
from bayescope.inference.predictive import thin_draws
from bayescope.models.btyd import BTYDModel

ASSUMPTIONS = ("poisson_purchasing", "gamma_heterogeneity", "dropout_after_purchase",
               "rate_dropout_independence", "stationarity", "spend_frequency_independence",
               "spend_stability")
VERDICTS = ("holds", "doubtful", "violated")
P_DOUBTFUL, P_VIOLATED = 0.05, 0.01
MIN_CUSTOMERS = 30
FREQUENCY_BINS = (0, 1, 2, 3, 4, 5, 6, 7)  # the last is 7+
RECENCY_BINS = ((1, 1), (2, 2), (3, 4), (5, np.inf))


@dataclass
class AssumptionCheck:
    """One row of ``metrics.json["assumptions"]`` (module docstring)."""

    name: str
    statistic: float
    low: float
    high: float
    verdict: str
    says: str

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object."""
        return {"name": self.name, "statistic": float(self.statistic), "low": float(self.low),
                "high": float(self.high), "verdict": self.verdict, "says": self.says}


@dataclass
class CheckedAssumptions:
    """The checks, the ones that could not be run (name -> why) and what the plots need."""

    checks: list[AssumptionCheck]
    skipped: dict[str, str]
    plot_data: dict[str, Any] = field(default_factory=dict)

    def failed(self) -> list[AssumptionCheck]:
        """The checks whose verdict is not ``holds``."""
        return [c for c in self.checks if c.verdict != "holds"]


def check_assumptions(spec: BTYDModel, posterior: Mapping[str, np.ndarray], rfm: RFMSummary,
                      history: PurchaseHistory | None, rng: np.random.Generator,
                      draws: int = 200, max_customers: int = 20_000) -> CheckedAssumptions:
    """Every check the run's data allow (module docstring).

    ``draws`` posterior draws are used (one replicate each); posterior predictive checks use
    at most ``max_customers`` customers, drawn at random, for observed and replicated data
    alike.
    """
    params = thin_draws(posterior, draws, rng)
    sample = rng.permutation(rfm.n_customers)[:max_customers]
    sample.sort()
    part = rfm.take(sample)
    checks: list[AssumptionCheck] = []
    skipped: dict[str, str] = {}
    plot_data: dict[str, Any] = {}

    def run(name: str, check: Callable[[], AssumptionCheck | str]) -> None:
        outcome = check()
        if isinstance(outcome, str):
            skipped[name] = outcome
        else:
            checks.append(outcome)

    run("poisson_purchasing", lambda: _poisson_purchasing(history, rng, plot_data))
    run("gamma_heterogeneity", lambda: _gamma_heterogeneity(spec, params, part, rng))
    run("dropout_after_purchase", lambda: _dropout_after_purchase(spec, params, part, rng,
                                                                  plot_data))
    run("rate_dropout_independence", lambda: _rate_dropout_independence(spec, params, part,
                                                                        rng))
    run("stationarity", lambda: _stationarity(spec, params, rfm, history, rng, plot_data))
    run("spend_frequency_independence", lambda: _spend_frequency_independence(rfm))
    run("spend_stability", lambda: _spend_stability(spec, params, rfm, history, rng))
    return CheckedAssumptions(checks, skipped, plot_data)


# ------------------------------------------------------------------------------ verdicts


def predictive_verdict(observed: float, replicated: np.ndarray, two_sided: bool = False
                       ) -> tuple[str, float]:
    """Verdict and posterior predictive p-value of ``observed`` against ``replicated``.

    Two-sided p-values are twice the smaller tail and their thresholds doubled, so that for
    either kind ``holds`` means inside the replicated 90% band (below its top for a
    one-sided discrepancy).
    """
    upper = float(np.mean(replicated >= observed))
    scale = 1.0
    p = upper
    if two_sided:
        scale = 2.0
        p = min(1.0, 2 * min(upper, float(np.mean(replicated <= observed))))
    verdict = ("holds" if p >= scale * P_DOUBTFUL else "doubtful" if p >= scale * P_VIOLATED
               else "violated")
    return verdict, p


def _band(replicated: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(replicated, [0.05, 0.95])
    return float(low), float(high)


def _chi_square(observed: np.ndarray, replicated: np.ndarray) -> tuple[float, np.ndarray]:
    """Discrepancy of ``observed`` (groups) and of each replicate (draws x groups)."""
    mean = replicated.mean(axis=0)
    variance = np.maximum(replicated.var(axis=0), 1e-9 + 1e-6 * np.abs(mean))
    return (float(np.sum((observed - mean) ** 2 / variance)),
            np.sum((replicated - mean) ** 2 / variance, axis=1))


def _ppc_check(name: str, observed: float, replicated: np.ndarray, says: Mapping[str, str],
               two_sided: bool = False) -> AssumptionCheck:
    verdict, p = predictive_verdict(observed, replicated, two_sided)
    low, high = _band(replicated)
    return AssumptionCheck(name, observed, low, high, verdict,
                           says[verdict].format(p=p, low=low, high=high, value=observed))


# ------------------------------------------------------------------------------ checks


def _poisson_purchasing(history: PurchaseHistory | None, rng: np.random.Generator,
                        plot_data: dict[str, Any]) -> AssumptionCheck | str:
    if history is None:
        return "needs the transaction log (runs fitted before this check stored none)"
    m = history.regularity_m[np.isfinite(history.regularity_m)]
    if m.size < MIN_CUSTOMERS:
        return (f"only {m.size} customers have three purchase days; the regularity estimate "
                f"needs {MIN_CUSTOMERS}")
    k = regularity(m)
    boot = np.array([regularity(m[rng.integers(0, m.size, m.size)]) for _ in range(400)])
    low, high = (float(v) for v in np.quantile(boot, [0.05, 0.95]))
    plot_data["regularity_m"] = m
    plot_data["regularity_k"] = k
    if high >= 0.8 and low <= 1.25:
        verdict = "holds"
        says = (f"Inter-purchase times look exponential (k = {k:.2f}, 90% interval "
                f"{low:.2f}-{high:.2f}, from {m.size:,} customers' last two gaps): purchasing "
                "while alive is as irregular as the Poisson assumption says.")
    else:
        verdict = "violated" if (low > 1.5 or high < 2 / 3) else "doubtful"
        if k > 1:
            says = (f"Customers buy more regularly than a Poisson process (k = {k:.2f}, 90% "
                    f"interval {low:.2f}-{high:.2f}, {m.size:,} customers): a gap longer "
                    "than a regular buyer's usual interval is stronger evidence of dropout "
                    "than the model thinks, so P(alive) is too high for lapsed regular buyers.")
        else:
            says = (f"Purchases come in bursts (k = {k:.2f}, 90% interval {low:.2f}-"
                    f"{high:.2f}, {m.size:,} customers): a quiet spell says less about "
                    "dropout than the model thinks, so P(alive) is too low after a pause.")
    return AssumptionCheck("poisson_purchasing", k, low, high, verdict, says)


def regularity(m: np.ndarray) -> float:
    """Wheat & Morrison's ``k = 1 / (8 Var(M)) - 1/2`` (``M ~ Beta(k, k)`` for Erlang-k)."""
    return float(1.0 / (8.0 * np.var(m)) - 0.5)


def _simulate_calibration(spec: BTYDModel, params: Mapping[str, np.ndarray], T: np.ndarray,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Replicated (frequency, recency) of new customers observed for ``T``, (draws, n).

    ``N ~ Poisson(lambda T)`` events, the purchase after which the customer leaves ``G``
    geometric (MBG/NBD: also at time zero), ``x = min(N, G)``; given ``N`` the event times
    are uniform, so the last purchase is the x-th of ``N``: ``t_x = T Beta(x, N - x + 1)``.
    """
    r, alpha, a, b = (np.asarray(params[k], float)[:, None] for k in ("r", "alpha", "a", "b"))
    shape = (r.shape[0], T.size)
    lam = rng.gamma(np.broadcast_to(r, shape), 1.0 / alpha)
    p = rng.beta(np.broadcast_to(a, shape), np.broadcast_to(b, shape))
    events = rng.poisson(lam * T[None, :])
    frequency = np.minimum(events, purchases_before_dropout(p, rng))
    if spec.purchase.drops_at_time_zero:
        frequency = np.where(rng.random(shape) < p, 0, frequency)
    recency = np.where(frequency > 0, T * rng.beta(np.maximum(frequency, 1),
                                                   events - frequency + 1), 0.0)
    return frequency.astype(float), recency


def _frequency_recency_statistics(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
                                  ) -> np.ndarray:
    """Histogram of frequency (0..6, 7+; shares) then mean t_x / T by frequency group, along
    the last axis."""
    hist = [np.mean(frequency == k, axis=-1) for k in FREQUENCY_BINS[:-1]]
    hist.append(np.mean(frequency >= FREQUENCY_BINS[-1], axis=-1))
    ratio = np.divide(recency, T, out=np.zeros(np.broadcast_shapes(recency.shape, T.shape)),
                      where=T > 0)
    means = []
    for low, high in RECENCY_BINS:
        member = (frequency >= low) & (frequency <= high) & (T > 0)
        count = member.sum(axis=-1)
        means.append(np.where(count > 0, (ratio * member).sum(axis=-1) / np.maximum(count, 1),
                              np.nan))
    return np.stack([*hist, *means], axis=-1)


def _gamma_heterogeneity(spec: BTYDModel, params: Mapping[str, np.ndarray], rfm: RFMSummary,
                         rng: np.random.Generator) -> AssumptionCheck | str:
    if rfm.n_customers < MIN_CUSTOMERS:
        return f"needs {MIN_CUSTOMERS} customers"
    frequency, recency = _simulate_calibration(spec, params, rfm.T, rng)
    observed = _frequency_recency_statistics(rfm.frequency, rfm.recency, rfm.T)
    replicated = _frequency_recency_statistics(frequency, recency, rfm.T[None, :])
    usable = np.isfinite(observed) & np.all(np.isfinite(replicated), axis=0)
    value, reps = _chi_square(observed[usable] * rfm.n_customers,
                              replicated[:, usable] * rfm.n_customers)
    return _ppc_check("gamma_heterogeneity", value, reps, {
        "holds": "The spread of purchase counts and of recency given frequency is what gamma "
                 "purchase rates and beta dropout produce (chi-square {value:.1f}, replicated "
                 "90% band {low:.1f}-{high:.1f}, p = {p:.2f}).",
        "doubtful": "The counts or recencies stray somewhat from what gamma rates and beta "
                    "dropout produce (chi-square {value:.1f} against {low:.1f}-{high:.1f}, "
                    "p = {p:.3f}): look at the frequency histogram before trusting the tails.",
        "violated": "Purchase counts or recency given frequency are not what gamma rates and "
                    "beta dropout produce (chi-square {value:.1f} against {low:.1f}-"
                    "{high:.1f}, p = {p:.3f}): the heaviest and lightest buyers' forecasts "
                    "are the least reliable."})


def _dropout_after_purchase(spec: BTYDModel, params: Mapping[str, np.ndarray],
                            rfm: RFMSummary, rng: np.random.Generator,
                            plot_data: dict[str, Any]) -> AssumptionCheck | str:
    if rfm.frequency_holdout is None or not rfm.duration_holdout:
        return "needs a holdout period"
    horizon = float(rfm.duration_holdout)
    x, tx, T = rfm.frequency, rfm.recency, rfm.T
    alive = spec.purchase.p_alive(params, x, tx, T)
    p_any = spec.purchase.p_any_purchase(params, x, tx, T, horizon)
    group = _deciles(alive.mean(axis=0))
    bought = (rfm.frequency_holdout > 0).astype(float)
    observed = np.bincount(group, bought, minlength=10)
    replicated = np.stack([np.bincount(group, row, minlength=10)
                           for row in (rng.random(p_any.shape) < p_any).astype(float)])
    value, reps = _chi_square(observed, replicated)
    size = np.bincount(group, minlength=10).astype(float)
    gap = np.abs(observed - replicated.mean(axis=0)) / np.maximum(size, 1)
    worst = int(np.argmax(gap))
    plot_data["alive_calibration"] = {
        "p_alive": np.bincount(group, alive.mean(axis=0), minlength=10) / np.maximum(size, 1),
        "observed": observed / np.maximum(size, 1),
        "expected": replicated.mean(axis=0) / np.maximum(size, 1),
        "low": np.quantile(replicated, 0.05, axis=0) / np.maximum(size, 1),
        "high": np.quantile(replicated, 0.95, axis=0) / np.maximum(size, 1)}
    shares = plot_data["alive_calibration"]
    detail = (f"in the P(alive) decile {worst + 1} {shares['observed'][worst]:.1%} bought in "
              f"the holdout against {shares['expected'][worst]:.1%} expected")
    return _ppc_check("dropout_after_purchase", value, reps, {
        "holds": "Who comes back in the holdout matches P(alive) in every decile (chi-square "
                 "{value:.1f}, band {low:.1f}-{high:.1f}, p = {p:.2f}): dropping out right "
                 "after a purchase fits these customers.",
        "doubtful": f"P(alive) is somewhat off ({detail}; chi-square {{value:.1f}}, band "
                    "{low:.1f}-{high:.1f}, p = {p:.3f}).",
        "violated": f"P(alive) is miscalibrated ({detail}; chi-square {{value:.1f}}, band "
                    "{low:.1f}-{high:.1f}, p = {p:.3f}): customers leave, or come back, "
                    "other than right after a purchase."})


def _deciles(values: np.ndarray) -> np.ndarray:
    """Decile (0-9) of each value, ties broken by position."""
    order = np.argsort(values, kind="stable")
    group = np.empty(values.size, dtype=np.int64)
    group[order] = np.arange(values.size) * 10 // max(values.size, 1)
    return group


def _rate_dropout_independence(spec: BTYDModel, params: Mapping[str, np.ndarray],
                               rfm: RFMSummary, rng: np.random.Generator
                               ) -> AssumptionCheck | str:
    """Two looks at independence: the rank correlation of the repeat buyers' posterior mean
    purchase rate and dropout probability (it is not zero under independence, since both
    are read off the same history, so it is set against data replicated from the model),
    and, with a holdout, purchases by frequency x recency cell. The verdict is the worse
    of the two; the statistic and band are the correlation's."""
    repeat = rfm.frequency > 0
    if repeat.sum() < MIN_CUSTOMERS:
        return f"needs {MIN_CUSTOMERS} customers with repeat purchases"
    centre = {k: np.array([float(np.mean(params[k]))]) for k in ("r", "alpha", "a", "b")}
    observed = _rate_dropout_correlation(spec, centre, rfm.frequency[repeat],
                                         rfm.recency[repeat], rfm.T[repeat])
    frequency, recency = _simulate_calibration(spec, params, rfm.T, rng)
    replicated = np.array([
        _rate_dropout_correlation(spec, centre, f[f > 0], r[f > 0], rfm.T[f > 0])
        for f, r in zip(frequency, recency, strict=True)])
    replicated = replicated[np.isfinite(replicated)]
    verdict, p = predictive_verdict(observed, replicated, two_sided=True)
    low, high = _band(replicated)
    says = (f"The repeat buyers' posterior purchase rates and dropout probabilities rank-"
            f"correlate at {observed:.2f}, against {low:.2f} to {high:.2f} in data drawn with "
            f"independent rates and dropout (p = {p:.2f})")
    if rfm.frequency_holdout is not None and rfm.duration_holdout:
        cell_verdict, cell_says = _holdout_cells(spec, params, rfm.take(np.flatnonzero(repeat)),
                                                 float(rfm.duration_holdout), rng)
        says += f"; {cell_says}"
        verdict = max(verdict, cell_verdict, key=VERDICTS.index)
    ending = {"holds": "purchase rate and dropout behave as independent, as the model assumes.",
              "doubtful": "rate and dropout may be related.",
              "violated": "heavy and light buyers drop out at rates the model cannot "
                          "produce, since it takes rate and dropout as independent."}[verdict]
    return AssumptionCheck("rate_dropout_independence", observed, low, high, verdict,
                           f"{says}: {ending}")


def _rate_dropout_correlation(spec: BTYDModel, params: Mapping[str, np.ndarray],
                              x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> float:
    """Spearman correlation of E[lambda | history] and E[p | history] (FHL 2005: alive, lambda
    is Gamma(r + x, alpha + T) and p Beta(a, b + x + s); gone after the last purchase,
    Gamma(r + x, alpha + t_x) and Beta(a + 1, b + x - 1 + s))."""
    if x.size < 3:
        return float("nan")
    r, alpha, a, b = (float(params[k][0]) for k in ("r", "alpha", "a", "b"))
    alive = spec.purchase.p_alive(params, x, tx, T)[0]
    s = spec.purchase.shift
    rate = (r + x) * (alive / (alpha + T) + (1.0 - alive) / (alpha + tx))
    dropout = (alive * a + (1.0 - alive) * (a + 1.0)) / (a + b + x + s)
    return float(stats.spearmanr(rate, dropout).statistic)


def _holdout_cells(spec: BTYDModel, params: Mapping[str, np.ndarray], part: RFMSummary,
                   horizon: float, rng: np.random.Generator) -> tuple[str, str]:
    """Verdict and sentence of the holdout purchases by frequency x recency cell."""
    frequency_group = np.digitize(part.frequency, [2, 3, 6])
    ratio = part.recency / np.maximum(part.T, 1e-9)
    recency_group = np.digitize(ratio, np.quantile(ratio, [1 / 3, 2 / 3]))
    cell = frequency_group * 3 + recency_group
    simulated = HoldoutCounts(spec.purchase, part, horizon).simulate(
        params, np.arange(part.n_customers), rng)["purchases"].astype(float)
    observed = np.bincount(cell, part.frequency_holdout, minlength=12)
    replicated = np.stack([np.bincount(cell, row, minlength=12) for row in simulated])
    value, reps = _chi_square(observed, replicated)
    verdict, p = predictive_verdict(value, reps)
    low, high = _band(reps)
    return verdict, (f"holdout purchases by frequency x recency cell give chi-square "
                     f"{value:.1f} against {low:.1f}-{high:.1f} (p = {p:.3f})")


def expected_tracking(spec: BTYDModel, params: Mapping[str, np.ndarray], rfm: RFMSummary,
                      history: PurchaseHistory) -> np.ndarray:
    """Expected repeat purchases per period of ``history``'s series, (draws, periods):
    ``sum_s n_s (E[X(k - s)] - E[X(k - s - 1)])`` over first-purchase periods ``s``."""
    n_periods = history.repeat_by_period.size
    first = history.calibration_periods - 1 - rfm.T.astype(np.int64)
    cohort = np.bincount(first, minlength=n_periods)[:n_periods].astype(float)
    cumulative = spec.purchase.expected_purchases_new(params, np.arange(n_periods,
                                                                        dtype=float))
    increment = np.diff(cumulative, axis=1, prepend=0.0)
    return np.stack([np.convolve(cohort, row)[:n_periods] for row in increment])


def _stationarity(spec: BTYDModel, params: Mapping[str, np.ndarray], rfm: RFMSummary,
                  history: PurchaseHistory | None, rng: np.random.Generator,
                  plot_data: dict[str, Any]) -> AssumptionCheck | str:
    if history is None:
        return "needs the transaction log (runs fitted before this check stored none)"
    if not np.array_equal(rfm.T, np.round(rfm.T)):
        return "needs whole-period T"
    expected = expected_tracking(spec, params, rfm, history)
    replicated = rng.poisson(np.maximum(expected, 0.0)).astype(float)
    observed = history.repeat_by_period
    n_cal = history.calibration_periods
    has_holdout = observed.size > n_cal
    window = slice(n_cal, None) if has_holdout else slice(n_cal // 2, n_cal)
    where = "the holdout" if has_holdout else "the later half of the calibration period"
    total = float(observed[window].sum())
    expected_total = float(expected[:, window].sum(axis=1).mean())
    ratio_reps = replicated[:, window].sum(axis=1) / max(expected_total, 1e-9)
    ratio = total / max(expected_total, 1e-9)
    low_band, high_band = np.quantile(replicated, [0.05, 0.95], axis=0)
    outside = float(np.mean((observed[window] < low_band[window])
                            | (observed[window] > high_band[window])))
    # Days are plotted as weeks (sums of seven days), which people read more easily.
    step = 7 if rfm.time_unit == "D" else 1
    weeks = observed.size // step
    def per_step(values: np.ndarray) -> np.ndarray:
        return values[..., :weeks * step].reshape(*values.shape[:-1], weeks, step).sum(axis=-1)
    stepped = per_step(replicated)
    plot_data["tracking"] = {"observed": per_step(observed),
                             "expected": per_step(expected.mean(axis=0)),
                             "low": np.quantile(stepped, 0.05, axis=0),
                             "high": np.quantile(stepped, 0.95, axis=0),
                             "cumulative_low": np.quantile(np.cumsum(stepped, axis=1), 0.05,
                                                           axis=0),
                             "cumulative_high": np.quantile(np.cumsum(stepped, axis=1), 0.95,
                                                            axis=0),
                             "calibration_periods": n_cal / step,
                             "unit": "week" if step == 7 or rfm.time_unit == "W" else "day"}
    verdict, p = predictive_verdict(ratio, ratio_reps, two_sided=True)
    low, high = _band(ratio_reps)
    share = f"{outside:.0%} of its periods fall outside the 90% band"
    says = {
        "holds": f"Repeat purchases in {where} run at {ratio:.2f} times the model's "
                 f"expectation (band {low:.2f}-{high:.2f}) and {share}: the purchase and "
                 "dropout processes look stable over time.",
        "doubtful": f"Repeat purchases in {where} run at {ratio:.2f} times the expectation "
                    f"(band {low:.2f}-{high:.2f}, p = {p:.3f}; {share}): the base may be "
                    "drifting.",
        "violated": f"Repeat purchases in {where} run at {ratio:.2f} times the model's "
                    f"expectation (band {low:.2f}-{high:.2f}, p = {p:.3f}; {share}): the "
                    "process is not stationary (seasonality, a campaign, a changing base), so "
                    "forecasts carry the calibration period's level forward wrongly."}[verdict]
    return AssumptionCheck("stationarity", ratio, low, high, verdict, says)


def _spend_frequency_independence(rfm: RFMSummary) -> AssumptionCheck | str:
    repeat = rfm.frequency > 0
    n = int(repeat.sum())
    if n < MIN_CUSTOMERS or np.ptp(rfm.monetary_value[repeat]) == 0:
        return "needs repeat purchases with values"
    r = float(np.corrcoef(rfm.frequency[repeat], rfm.monetary_value[repeat])[0, 1])
    half = stats.norm.ppf(0.95) / np.sqrt(max(n - 3, 1))
    low, high = (float(np.tanh(np.arctanh(np.clip(r, -0.999999, 0.999999)) + s * half))
                 for s in (-1, 1))
    if -0.2 < low and high < 0.2:
        verdict = "holds"
        says = (f"Spend per purchase and purchase frequency are nearly uncorrelated (r = "
                f"{r:.2f}, 90% interval {low:.2f} to {high:.2f}, {n:,} repeat customers), as "
                "Gamma-Gamma assumes.")
    else:
        verdict = "violated" if (low > 0.3 or high < -0.3) else "doubtful"
        direction = "more" if r > 0 else "less"
        says = (f"Frequent buyers spend {direction} per purchase (r = {r:.2f}, 90% interval "
                f"{low:.2f} to {high:.2f}, {n:,} repeat customers): Gamma-Gamma's "
                "independence does not hold, and spend forecasts of heavy buyers are biased.")
    return AssumptionCheck("spend_frequency_independence", r, low, high, verdict, says)


def _spend_stability(spec: BTYDModel, params: Mapping[str, np.ndarray], rfm: RFMSummary,
                     history: PurchaseHistory | None, rng: np.random.Generator
                     ) -> AssumptionCheck | str:
    if spec.spend is None:
        return "the run has no spend model"
    if history is None:
        return "needs the transaction log (runs fitted before this check stored none)"
    usable = np.flatnonzero(np.isfinite(history.value_cv) & (rfm.frequency >= 2))
    if usable.size < MIN_CUSTOMERS:
        return f"needs {MIN_CUSTOMERS} customers with two repeat purchases"
    usable = rng.permutation(usable)[:2_000]
    counts = np.minimum(rfm.frequency[usable], 60).astype(np.int64)
    shape = np.asarray(params["p"], float)[:50]
    mask = np.arange(counts.max())[None, :] < counts[:, None]
    replicated = np.empty(shape.size)
    for d, p in enumerate(shape):
        z = rng.gamma(p, 1.0, mask.shape)
        mean = (z * mask).sum(axis=1) / counts
        variance = (((z - mean[:, None]) ** 2) * mask).sum(axis=1) / (counts - 1)
        replicated[d] = float(np.mean(np.sqrt(variance) / mean))
    observed = float(np.mean(history.value_cv[usable]))
    return _ppc_check("spend_stability", observed, replicated, {
        "holds": "Each customer's purchases vary around their own mean as Gamma-Gamma says "
                 "(mean within-customer CV {value:.2f}, replicated band {low:.2f}-{high:.2f},"
                 " p = {p:.2f}).",
        "doubtful": "Within-customer spend varies somewhat differently than Gamma-Gamma says "
                    "(mean CV {value:.2f} against {low:.2f}-{high:.2f}, p = {p:.3f}).",
        "violated": "Within-customer spend is {kind} than Gamma-Gamma says (mean CV "
                    "{value:.2f} against {low:.2f}-{high:.2f}, p = {p:.3f}): a customer's "
                    "average is a {trust} guide to their next purchase than the model "
                    "assumes.".replace(
                        "{kind}", "more erratic" if observed > np.median(replicated)
                        else "steadier").replace(
                        "{trust}", "worse" if observed > np.median(replicated) else "better")},
        two_sided=True)
