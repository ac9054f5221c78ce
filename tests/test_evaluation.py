"""The shared evaluation functions on simulated data with known answers.

A correctly specified predictive must look calibrated; an over-confident and a biased one must
be flagged by the same functions; scores must agree with closed forms; the paired bootstrap
must detect a real difference and not a null one.
"""

import logging

import numpy as np
import pytest
from scipy import stats

from bayescope.posterior_reports import comparison
from bayescope.posterior_reports.binary import binary_metrics, expected_calibration_error
from bayescope.posterior_reports.binned import two_model_bins
from bayescope.posterior_reports.comparison import compare_models
from bayescope.posterior_reports.counts import CountCheck
from bayescope.posterior_reports.loo import loo_summary
from bayescope.posterior_reports.predictive_eval import PredictiveEvaluation, evaluate_draws
from bayescope.posterior_reports.ranking import decile_table, precision_at_k, top_k_calibration
from bayescope.posterior_reports.scores import (
    crps,
    log_score_continuous,
    log_score_discrete,
    log_score_from_loglik,
)

N_UNITS, N_DRAWS = 2000, 400


def normal_case(rng, scale=1.0, bias=0.0):
    mu = rng.normal(0, 2, N_UNITS)
    y = rng.normal(mu, 1.0)
    draws = rng.normal(mu + bias, scale, (N_DRAWS, N_UNITS))
    return y, draws


def test_correct_normal_model_is_calibrated():
    rng = np.random.default_rng(1)
    result = evaluate_draws(*normal_case(rng), rng, discrete=False)
    assert result.pit_check.inside_band
    assert result.summary["calibrated"]
    for row in result.summary["coverage"]:
        assert abs(row["pit_coverage"] - row["level"]) < 0.03
        assert abs(row["interval_coverage"] - row["level"]) < 0.03


@pytest.mark.parametrize("kind", ["overconfident", "biased"])
def test_miscalibrated_models_are_flagged(kind):
    rng = np.random.default_rng(2)
    case = normal_case(rng, scale=0.5) if kind == "overconfident" else normal_case(rng, bias=0.5)
    result = evaluate_draws(*case, rng, discrete=False)
    assert not result.pit_check.inside_band
    assert not result.summary["calibrated"]
    if kind == "overconfident":
        ninety = next(r for r in result.summary["coverage"] if r["level"] == 0.9)
        assert ninety["flagged"] and ninety["interval_coverage"] < 0.65


def test_correct_count_model_is_calibrated_with_randomised_pit():
    rng = np.random.default_rng(3)
    lam = rng.gamma(0.6, 1.5, N_UNITS)  # many zeros: the point mass an interval over-covers
    y = rng.poisson(lam)
    draws = rng.poisson(lam, (N_DRAWS, N_UNITS))
    result = evaluate_draws(y, draws, rng)
    assert result.counts is not None
    assert result.summary["calibrated"]
    ninety = next(r for r in result.summary["coverage"] if r["level"] == 0.9)
    assert ninety["interval_coverage"] > 0.92  # equal-tailed interval over-covers ...
    assert abs(ninety["pit_coverage"] - 0.9) < 0.02  # ... the randomised PIT does not
    assert not result.summary["zero_check"]["flagged"]


def test_zero_inflation_is_flagged_by_the_zero_check_and_pit():
    rng = np.random.default_rng(4)
    lam = rng.gamma(2.0, 1.5, N_UNITS)
    y = np.where(rng.random(N_UNITS) < 0.3, 0, rng.poisson(lam))
    draws = rng.poisson(lam, (N_DRAWS, N_UNITS))
    result = evaluate_draws(y, draws, rng)
    zero = result.summary["zero_check"]
    assert zero["flagged"] and zero["observed"] > zero["predicted_high"]
    assert not result.pit_check.inside_band
    observed_zero = result.summary["rootogram"][0]
    assert observed_zero["observed"] > observed_zero["expected"] * 1.5


def test_crps_matches_closed_forms():
    rng = np.random.default_rng(5)
    y = rng.normal(0, 2, 300)
    mu, sigma = rng.normal(0, 1, 300), rng.uniform(0.5, 2.0, 300)
    draws = rng.normal(mu, sigma, (8000, 300))
    z = (y - mu) / sigma
    closed = sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    estimate = crps(y, draws)
    np.testing.assert_allclose(estimate, closed, rtol=0.05, atol=0.03)  # Monte Carlo error
    assert estimate.mean() == pytest.approx(closed.mean(), rel=0.01)

    lam = rng.uniform(0.5, 6.0, 300)
    counts = rng.poisson(lam)
    k = np.arange(60)[:, None]
    exact = (np.sum((stats.poisson.cdf(k, lam) - (k >= counts)) ** 2, axis=0))
    ensemble = crps(counts, rng.poisson(lam, (8000, 300)))
    np.testing.assert_allclose(ensemble, exact, rtol=0.05, atol=0.03)
    assert ensemble.mean() == pytest.approx(exact.mean(), rel=0.01)


def test_log_scores_match_closed_forms():
    rng = np.random.default_rng(6)
    mu, sigma = rng.normal(0, 1, 200), rng.uniform(0.5, 2.0, 200)
    y = rng.normal(mu, sigma)
    estimate = log_score_continuous(y, rng.normal(mu, sigma, (8000, 200)))
    exact = stats.norm.logpdf(y, mu, sigma)
    assert abs(estimate.mean() - exact.mean()) < 0.03
    np.testing.assert_allclose(estimate, exact, atol=0.25)

    lam = rng.uniform(0.5, 6.0, 200)
    counts = rng.poisson(lam)
    estimate = log_score_discrete(counts, rng.poisson(lam, (20000, 200)))
    exact = stats.poisson.logpmf(counts, lam)
    assert abs(estimate.mean() - exact.mean()) < 0.02
    # The exact form from the log-likelihood: a posterior of one point gives the logpmf itself.
    np.testing.assert_allclose(log_score_from_loglik(np.tile(exact, (50, 1))), exact)


def test_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(7)
    mu = rng.normal(0, 2, N_UNITS)
    y = rng.normal(mu, 1.0)
    good = rng.normal(mu, 1.0, (N_DRAWS, N_UNITS))
    twin = rng.normal(mu, 1.0, (N_DRAWS, N_UNITS))  # equally good, independent draws
    biased = good + 0.3
    scores = {}
    for name, draws in (("ours", good), ("twin", twin), ("biased", biased)):
        result = evaluate_draws(y, draws, rng, discrete=False)
        scores[name] = result.pointwise
    rows = compare_models(scores, "ours", np.random.default_rng(8), n_boot=1000)
    verdict = {(r["metric"], r["model"]): r["verdict"] for r in rows}
    for metric in ("crps", "mae", "rmse", "log_score"):
        assert verdict[(metric, "twin")] == "within noise", metric
        assert verdict[(metric, "biased")] == "worse", metric
    # The normal approximation used at large n agrees with the bootstrap.
    import bayescope.posterior_reports.comparison as comparison

    saved = comparison.MAX_BOOTSTRAP_CELLS
    comparison.MAX_BOOTSTRAP_CELLS = 0
    try:
        normal_rows = compare_models(scores, "ours", np.random.default_rng(8))
    finally:
        comparison.MAX_BOOTSTRAP_CELLS = saved
    for boot, approx in zip(rows, normal_rows, strict=True):
        assert approx["method"] == "normal"
        width = boot["difference_high"] - boot["difference_low"]
        for end in ("difference_low", "difference_high"):
            assert abs(approx[end] - boot[end]) < 0.2 * width + 1e-12


def test_cluster_bootstrap_widens_intervals_for_shared_errors_and_still_finds_a_real_gap():
    rng = np.random.default_rng(11)
    n_clusters, per_cluster = 40, 200
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    # Model b's score differs from a's by a shared per-cluster error and a small unit noise.
    shared = rng.normal(0.0, 1.0, n_clusters)[cluster]
    a = rng.gamma(2.0, 1.0, cluster.size)
    null = {"a": {"crps": a}, "b": {"crps": a + shared + rng.normal(0, 0.1, cluster.size)}}
    by_unit = compare_models(null, "a", np.random.default_rng(0), n_boot=1000)
    by_cluster = compare_models(null, "a", np.random.default_rng(0), n_boot=1000,
                                clusters=cluster)
    row_u, row_c = by_unit[1], by_cluster[1]
    assert row_c["method"] == "cluster bootstrap" and row_u["method"] == "bootstrap"
    width_u = row_u["difference_high"] - row_u["difference_low"]
    width_c = row_c["difference_high"] - row_c["difference_low"]
    # The cluster means' sd is 1 / sqrt(40); the units' would be ~1 / sqrt(8000).
    assert width_c == pytest.approx(2 * 1.645 / np.sqrt(n_clusters), rel=0.25)
    assert width_c > 8 * width_u
    worse = {"a": {"crps": a}, "b": {"crps": a + 1.0 + shared}}
    row = compare_models(worse, "a", np.random.default_rng(0), n_boot=1000,
                         clusters=cluster)[1]
    assert row["verdict"] == "worse"
    with pytest.raises(ValueError, match="2 clusters"):
        compare_models(null, "a", rng, clusters=np.zeros(cluster.size))


def test_binary_metrics_and_reliability():
    rng = np.random.default_rng(9)
    p = rng.beta(1, 4, 20000)
    y = (rng.random(20000) < p).astype(float)
    metrics = binary_metrics(y, p)
    assert metrics["ece"] < 0.02
    assert 0.7 < metrics["roc_auc"] < 0.9
    assert abs(metrics["base_rate"] - metrics["mean_predicted"]) < 0.01
    assert expected_calibration_error(y, np.sqrt(p)) > 0.15  # over-predicting model


def test_ranking_metrics():
    rng = np.random.default_rng(10)
    y = rng.gamma(1.0, 1.0, 1000)
    assert precision_at_k(y, y, 50) == 1.0
    noisy = y + rng.normal(0, 0.5, 1000)
    assert 0.2 < precision_at_k(y, noisy, 50) < 1.0
    deciles = decile_table(y, noisy)
    assert deciles[0]["lift"] > 1.5 > deciles[-1]["lift"]
    assert deciles[-1]["cumulative_capture"] == pytest.approx(1.0)
    rows = top_k_calibration(np.array([0.0, 0.02, 0.6, 0.97, 1.0]),
                             np.array([0, 0, 1, 1, 1]))
    assert sum(r["n"] for r in rows) == 5


def test_two_model_bins_cross_tabulate_every_unit():
    rng = np.random.default_rng(11)
    p_a = rng.random(500)
    p_b = np.clip(p_a + rng.normal(0, 0.2, 500), 0, 1)
    y = (rng.random(500) < p_a).astype(float)
    out = two_model_bins(p_a, p_b, y, ("a", "b"))
    assert np.sum(out["crosstab_counts"]) == 500
    assert sum(row["n"] for row in out["a"]) == 500
    assert two_model_bins(p_a, p_a, y, ("a", "a2"))["agreement"] == 1.0


def test_count_check_accumulates_over_chunks():
    rng = np.random.default_rng(12)
    y = rng.poisson(2.0, 1000)
    draws = rng.poisson(2.0, (100, 1000))
    whole, chunked = CountCheck(8), CountCheck(8)
    whole.add(y, draws)
    for start in range(0, 1000, 300):
        chunked.add(y[start:start + 300], draws[:, start:start + 300])
    for a, b in zip(whole.rootogram(), chunked.rootogram(), strict=True):
        assert a["observed"] == b["observed"] and a["expected"] == pytest.approx(b["expected"])
    assert whole.zero_check() == chunked.zero_check()


def test_loo_weights_equal_duplicated_units_and_warn_on_high_k(caplog):
    rng = np.random.default_rng(13)
    theta = rng.normal(0, 0.1, (4, 250))
    y = np.array([0.1, -0.3, 0.5])
    loglik = stats.norm.logpdf(y[None, None, :], theta[..., None], 1.0)
    weighted = loo_summary(loglik, weights=np.array([3, 1, 2]))
    repeated = loo_summary(np.repeat(loglik, [3, 1, 2], axis=-1))
    assert weighted["elpd_loo"] == pytest.approx(repeated["elpd_loo"])
    assert weighted["se"] == pytest.approx(repeated["se"])
    assert weighted["n_units"] == 6 and not weighted["warning"]
    # A posterior from a tiny sample and an outlying unit: its importance weights are wild.
    theta = rng.normal(8.0, 0.3, (4, 250))
    y = np.array([8.0, 8.2, 0.0])
    loglik = stats.norm.logpdf(y[None, None, :], theta[..., None], 0.3)
    with caplog.at_level(logging.WARNING):
        bad = loo_summary(loglik)
    assert bad["warning"] and bad["max_k"] > 0.7
    assert "Pareto k" in caplog.text


def test_chunked_evaluation_equals_one_pass_scores():
    rng = np.random.default_rng(14)
    y, draws = normal_case(rng)
    one = PredictiveEvaluation(False, np.random.default_rng(0))
    one.add(y, draws)
    chunked = PredictiveEvaluation(False, np.random.default_rng(0))
    for start in range(0, N_UNITS, 700):
        chunked.add(y[start:start + 700], draws[:, start:start + 700])
    a, b = one.result(), chunked.result()
    for name in ("crps", "mae", "rmse", "interval_score_90"):
        assert a.summary[name] == pytest.approx(b.summary[name])


def test_reliability_bins_with_no_or_all_events_keep_valid_intervals(tmp_path):
    from bayescope.posterior_reports.binary import reliability_table
    from bayescope.posterior_reports.plots import plot_reliability

    y = np.r_[np.zeros(50), np.ones(50)]
    p = np.r_[np.full(50, 0.1), np.full(50, 0.9)]
    rows = reliability_table(y, p, bins=4)
    assert rows[0]["observed_low"] == 0.0 and rows[-1]["observed_high"] == 1.0
    assert plot_reliability({"m": rows}, tmp_path / "r.png").is_file()


def test_undefined_differences_are_undetermined_not_worse():
    perfect = {"squared_error": np.zeros(20), "crps": np.zeros(20)}
    rows = compare_models({"a": perfect, "b": dict(perfect)}, "a", np.random.default_rng(0))
    import bayescope.posterior_reports.comparison as comparison

    saved = comparison.MAX_BOOTSTRAP_CELLS
    comparison.MAX_BOOTSTRAP_CELLS = 0
    try:
        normal = compare_models({"a": perfect, "b": dict(perfect)}, "a",
                                np.random.default_rng(0))
    finally:
        comparison.MAX_BOOTSTRAP_CELLS = saved
    assert {r["verdict"] for r in rows + normal if r["model"] == "b"} <= {
        "within noise", "undetermined"}
    assert any(r["verdict"] == "undetermined" for r in normal)


def test_ties_are_broken_at_random_so_top_k_has_k_units():
    from bayescope.posterior_reports.ranking import actual_top

    y = np.r_[np.full(500, 3), np.zeros(500)]
    assert actual_top(y, 100).sum() == 100
    assert precision_at_k(y, y, 100) == 1.0
    # A constant score picks at random: about half the units reach the top value.
    assert 0.35 < precision_at_k(y, np.zeros(1000), 100) < 0.65


def test_stratified_cluster_bootstrap_keeps_the_design_and_its_variance_is_the_textbook_one():
    rng = np.random.default_rng(12)
    # Three strata of 2, 5 and 9 equal clusters (a backtest's tiers): differences centred on
    # 1.0, 0.1 and 0.0 per stratum with within-stratum spread 0.2, 0.05 and 0.02.
    sizes, centres, spreads = (2, 5, 9), (1.0, 0.1, 0.0), (0.2, 0.05, 0.02)
    per_cluster = 50
    stratum_of = np.repeat(np.arange(3), sizes)
    cluster_diff = np.concatenate([rng.normal(c, s, k) for k, c, s in
                                   zip(sizes, centres, spreads, strict=True)])
    cluster = np.repeat(np.arange(stratum_of.size), per_cluster)
    a = rng.gamma(2.0, 1.0, cluster.size)
    scores = {"a": {"crps": a}, "b": {"crps": a + cluster_diff[cluster]}}
    labels = np.array(["superstar", "established", "emerging"])[stratum_of][cluster]
    n, n_boot = stratum_of.size, 20000
    weights = comparison.resample_weights(
        comparison.stratum_of_clusters(cluster_index=np.arange(n), strata=stratum_of), n,
        np.random.default_rng(0), n_boot)
    for h, k in enumerate(sizes):  # every resample keeps each stratum's count
        np.testing.assert_allclose(weights[:, stratum_of == h].sum(axis=1), k)
    boot = weights @ cluster_diff / n
    textbook = np.sqrt(sum((k / n) ** 2 * np.var(cluster_diff[stratum_of == h], ddof=1) / k
                           for h, k in enumerate(sizes)))
    assert boot.std() == pytest.approx(textbook, rel=0.05)

    plain = compare_models(scores, "a", np.random.default_rng(1), n_boot=4000,
                           clusters=cluster)[1]
    stratified = compare_models(scores, "a", np.random.default_rng(1), n_boot=4000,
                                clusters=cluster, strata=labels)[1]
    assert stratified["method"] == "stratified cluster bootstrap"
    assert stratified["difference"] == plain["difference"]
    # Unstratified resamples lose the 2-cluster stratum one time in (14/16)^16 ~ 12%.
    assert plain["difference_low"] < 0.06 < stratified["difference_low"]
    assert stratified["verdict"] == "worse"
    with pytest.raises(ValueError, match="superstar has one cluster"):
        compare_models(scores, "a", rng, clusters=cluster,
                       strata=np.where(cluster == 0, "superstar", "other"))
    with pytest.raises(ValueError, match="more than one stratum"):
        compare_models(scores, "a", rng, clusters=cluster,
                       strata=np.where(np.arange(cluster.size) % 2 == 0, "x", "y"))
    with pytest.raises(ValueError, match="give clusters"):
        compare_models(scores, "a", rng, strata=labels)
