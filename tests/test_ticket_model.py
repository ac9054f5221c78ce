"""Ticket demand: the hierarchical model recovers the generator's effects and passes its gate;
forecasts aggregate consistently; the CLI contract of fit tickets / predict holds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.families.tickets import (
    TicketFitSettings,
    fit_tickets,
    load_tickets_run,
    predict_tickets_run,
)
from bayescope.inference.artifacts import content_fingerprint, flat_posterior

PREDICT_COLUMNS = ["artist_id", "dma_id", "week_start", "tickets_mean", "tickets_median",
                   "tickets_low", "tickets_high", "order_value_mean", "order_value_low",
                   "order_value_high"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tickets")
    generated = generate_ticket_tables(9, np.random.default_rng(1), n_dmas=24, n_weeks=124)
    write_ticket_tables(generated.tables, folder / "tables")
    tables = load_ticket_tables(folder / "tables")
    settings = TicketFitSettings(str(tables.weeks[-6].date()), artists=9, horizon=4,
                                 draws=1000, tune=1000, chains=4, seed=1, progress=False)
    result, summary = fit_tickets(tables, settings, folder / "run")
    return generated, result, summary, folder


def _truth(generated) -> dict[str, float]:
    truth = generated.truth
    out = {"alpha_raw": truth.artist_mean, "artist_popularity": truth.artist_popularity,
           "sigma_artist": truth.sigma_artist, "beta_size": truth.beta_size,
           "sigma_dma": truth.sigma_dma, "sigma_pair": truth.sigma_pair,
           "price_mean": truth.price_mean, "price_popularity": truth.price_popularity,
           "gamma_size": truth.price_size, "sigma_price_artist": truth.sigma_price_artist,
           "sigma_price": truth.sigma_price}
    out.update({f"beta[{k}]": v for k, v in truth.coefficients.items()})
    # The generator's zero is NB(0 | mu, phi), which the hurdle's no-sale part is with phi0 =
    # sale_phi (rho0 = 0 and no weeks-ahead factor in the truth); its phi shapes the count
    # above one, which has no counterpart in the generator.
    out.update({f"sale_phi[{tier}]": v for tier, v in
                zip(("superstar", "established", "emerging"), truth.dispersion, strict=True)})
    return out


def test_recovers_the_generators_effects_and_passes_the_gate(fitted):
    generated, result, summary, _ = fitted
    assert result.gate.passed, result.gate.problems
    parameters = summary["parameters"]
    inside, inside_99 = [], []
    posterior = flat_posterior(result.idata["posterior"].to_dataset())
    for name, value in _truth(generated).items():
        row = parameters[name]
        inside.append(row["hdi_low"] <= value <= row["hdi_high"])
        base, _, coord = name.partition("[")
        draws = posterior[base]
        if coord:
            labels = list(result.idata["posterior"][base].coords[
                result.idata["posterior"][base].dims[-1]].values)
            draws = draws[:, labels.index(coord.rstrip("]"))]
        low, high = np.quantile(draws, [0.005, 0.995])
        inside_99.append(low <= value <= high)
    # 20 calibrated 94% intervals all cover with probability 0.29: ask for 85% and all in 99%.
    assert np.mean(inside) >= 0.85, dict(zip(_truth(generated), inside, strict=True))
    assert all(inside_99), dict(zip(_truth(generated), inside_99, strict=True))
    # Artist effects on the raw feature scale.
    effects = posterior["artist_effect"]
    artists = result.idata["posterior"]["artist_effect"].coords["artist"].values
    true = np.array([generated.truth.artist_effect[a] for a in
                     np.asarray(sorted(generated.truth.artist_effect))[artists]])
    low, high = np.quantile(effects, [0.03, 0.97], axis=0)
    assert np.mean((low <= true) & (true <= high)) >= 0.75


def test_forecasts_are_calibrated_and_totals_consistent(fitted):
    _, _, _, folder = fitted
    run = load_tickets_run(folder / "run")
    forecast = predict_tickets_run(run, seed=3)
    rows, by_artist, national = forecast.rows, forecast.artist_week, forecast.national
    assert list(rows.columns) == PREDICT_COLUMNS and len(rows) == 9 * 24 * 4
    # Totals come from the same draws: the mean of a sum is the sum of the means.
    np.testing.assert_allclose(national["tickets_mean"].to_numpy(),
                               rows.groupby("week_start")["tickets_mean"].sum().to_numpy(),
                               rtol=1e-9)
    per_artist = rows.groupby(["artist_id", "week_start"])["tickets_mean"].sum()
    np.testing.assert_allclose(by_artist.set_index(["artist_id", "week_start"])
                               ["tickets_mean"].loc[per_artist.index].to_numpy(),
                               per_artist.to_numpy(), rtol=1e-9)
    assert (national["tickets_low"] <= national["tickets_mean"]).all()
    assert (national["tickets_high"] > national["tickets_low"]).all()
    # The forecast weeks are inside the generated calendar: compare with what happened.
    panel = run.forecast_panel()
    actual = panel.tickets
    covered = (rows["tickets_low"] <= actual) & (actual <= rows["tickets_high"])
    assert covered.mean() >= 0.88
    weekly_actual = pd.Series(actual).groupby(rows["week_start"].to_numpy()).sum()
    inside = (national["tickets_low"].to_numpy() <= weekly_actual.to_numpy() * 1.0) & \
        (weekly_actual.to_numpy() <= national["tickets_high"].to_numpy())
    assert inside.sum() >= 3
    # The run states what each feature may forecast from, and the stored rows lie within it.
    ranges = run.attr("feature_ranges")
    assert set(ranges) == set(run.features)
    for k, name in enumerate(run.features):
        assert ranges[name][0] <= panel.x[:, k].min() <= panel.x[:, k].max() <= ranges[name][1]
    assert json.loads((folder / "run" / "summary.json").read_text())[
        "clamped_forecast_rows"] == run.attr("clamped_forecast_rows")


def test_cli_fit_and_predict_contract(tmp_path):
    tables = tmp_path / "tables"
    assert main(["-q", "generate", "artists", "--artists", "6", "--dmas", "8", "--weeks", "60",
                 "--format", "csv", "--seed", "2", "--out", str(tables)]) == 0
    assert (tables / "truth" / "truth.json").is_file()
    run = tmp_path / "run"
    assert main(["-q", "fit", "tickets", "--tables", str(tables), "--origin", "2020-10-19",
                 "--artists", "4", "--draws", "100", "--tune", "200", "--chains", "2",
                 "--out", str(run)]) == 0
    out = tmp_path / "forecast.csv"
    assert main(["-q", "predict", str(run), "--out", str(out)]) == 0
    forecast = pd.read_csv(out, dtype={"dma_id": str})
    assert list(forecast.columns) == PREDICT_COLUMNS
    assert len(forecast) == 4 * 8 * 4
    assert sorted(forecast["week_start"].unique()) == ["2020-10-19", "2020-10-26",
                                                        "2020-11-02", "2020-11-09"]
    assert ((forecast["tickets_low"] <= forecast["tickets_median"])
            & (forecast["tickets_median"] <= forecast["tickets_high"])).all()
    national = pd.read_csv(tmp_path / "forecast_national.csv")
    assert len(national) == 4
    assert len(pd.read_csv(tmp_path / "forecast_artist_week.csv")) == 4 * 4
    assert main(["-q", "predict", str(run), "--data", str(out), "--out",
                 str(tmp_path / "x.csv")]) == 2
    # Next week's refit starts where this fit ended; another sample size cannot.
    # 2 chains x their last 25 draws, every second one kept (at most 32 are stored)
    assert len(load_tickets_run(run).warm_start().points) == 25
    warm = tmp_path / "warm"
    assert main(["-q", "fit", "tickets", "--tables", str(tables), "--origin", "2020-10-26",
                 "--artists", "4", "--draws", "100", "--warm-tune", "50", "--chains", "2",
                 "--warm-start", str(run), "--out", str(warm)]) == 0
    assert json.loads((warm / "summary.json").read_text())["origin"] == "2020-10-26"
    assert main(["-q", "fit", "tickets", "--tables", str(tables), "--origin", "2020-10-26",
                 "--artists", "3", "--warm-start", str(run), "--out",
                 str(tmp_path / "other")]) == 2
    assert not (tmp_path / "other").exists()
    assert main(["-q", "fit", "tickets", "--tables", str(tables), "--origin", "2020-10-26",
                 "--warm-tune", "50", "--out", str(tmp_path / "other")]) == 2
    assert main(["-q", "report", str(run)]) == 0
    page = (run / "report" / "index.html").read_text()
    assert "ticket demand" in page and "Where should" in page and "National totals" in page
    report_metrics = json.loads((run / "report" / "metrics.json").read_text())
    assert len(report_metrics["national"]) == 4


def test_cli_backtest_and_rank_dmas(tmp_path):
    tables = tmp_path / "tables"
    assert main(["-q", "generate", "artists", "--artists", "5", "--dmas", "6", "--weeks", "70",
                 "--seed", "4", "--out", str(tables)]) == 0
    out = tmp_path / "backtest"
    # Every artist and a horizon of 2 in both the backtest and the fit below: one structure,
    # compiled once (models.ticket_demand.structure_key).
    assert main(["-q", "backtest", "--tables", str(tables), "--origins", "4", "--horizon",
                 "2", "--artists", "5", "--train-weeks", "30", "--draws", "60", "--tune",
                 "100", "--chains", "1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"ours", "seasonal_naive", "trailing_mean", "glm_nb",
                                      "gbm_poisson"}
    for scores in metrics["models"].values():
        assert set(scores) == {"mae", "rmse", "crps", "coverage_80", "coverage_90"}
        assert 0 <= scores["coverage_80"] <= scores["coverage_90"] <= 1
    assert len(metrics["origins"]) == 4 and metrics["n_rows"] == 4 * 2 * 5 * 6
    rows_sold = pd.read_parquet(out / "forecasts.parquet").query("tickets > 0")
    assert metrics["with_sales"]["n_rows"] == len(rows_sold)
    assert metrics["with_sales"]["models"]["ours"]["coverage_90"] == pytest.approx(
        rows_sold["ours_in_90"].mean())
    for scores in metrics["with_sales"]["models"].values():
        assert 0 <= scores["expected_coverage_80"] <= scores["expected_coverage_90"] <= 1
    assert (out / "backtest.png").is_file()
    rows = pd.read_parquet(out / "forecasts.parquet")
    # Every forecast week is after its origin: the backtest never scores a week it saw.
    assert (pd.to_datetime(rows["week_start"]) >= pd.to_datetime(rows["origin"])).all()
    assert main(["-q", "backtest", "--tables", str(tables), "--origins", "40", "--out",
                 str(tmp_path / "too_many")]) == 2

    run = tmp_path / "run"
    assert main(["-q", "fit", "tickets", "--tables", str(tables), "--origin", "2021-03-08",
                 "--artists", "5", "--horizon", "2", "--draws", "100", "--tune", "200",
                 "--chains", "2",
                 "--out", str(run)]) == 0
    ranking_path = tmp_path / "rank.csv"
    assert main(["-q", "rank-dmas", str(run), "--artist", "A0001", "--top", "3", "--out",
                 str(ranking_path)]) == 0
    ranking = pd.read_csv(ranking_path, dtype={"dma_id": str})
    assert len(ranking) == 6 and ranking_path.with_suffix(".png").is_file()
    ranked = ranking[ranking["rank"].notna()]
    assert (np.diff(ranked["expected_tickets_mean"]) <= 0).all()
    assert ranked["p_top_k"].sum() == pytest.approx(min(3, len(ranked)))
    assert ((ranking["expected_tickets_low"] <= ranking["expected_tickets_mean"])
            & (ranking["expected_tickets_mean"] <= ranking["expected_tickets_high"])).all()
    assert main(["-q", "rank-dmas", str(run), "--artist", "nobody", "--out",
                 str(tmp_path / "x.csv")]) == 2


def test_static_features_and_runs_saved_before_feature_sets(tmp_path):
    """``--features static`` fits the first release's seven signals; a run that does not
    store its feature names (saved before there were sets) forecasts from those seven."""
    import xarray as xr

    import bayescope as bs
    from bayescope.data.ticket_features import STATIC_FEATURES

    generated = generate_ticket_tables(6, np.random.default_rng(2), n_dmas=8, n_weeks=60)
    write_ticket_tables(generated.tables, tmp_path / "tables", "csv")
    model = bs.TicketDemand(artists=4, draws=100, tune=200, chains=2, features="static")
    run = model.fit(tmp_path / "tables", origin="2020-10-19").save(tmp_path / "run")
    assert list(model.idata_["posterior"]["beta"].coords["feature"].values) == list(
        STATIC_FEATURES)
    expected = model.predict(seed=3).rows
    tree = xr.open_datatree(run / "posterior.nc", engine="h5netcdf").load()
    del tree.attrs["features"]  # as a run saved before feature sets, fingerprinted anew
    tree.attrs["content_fingerprint"] = content_fingerprint(tree["posterior"].to_dataset(),
                                                            dict(tree.attrs))
    (run / "posterior.nc").unlink()
    tree.to_netcdf(run / "posterior.nc", engine="h5netcdf")
    pd.testing.assert_frame_equal(bs.load(run).predict(seed=3).rows, expected)
    with pytest.raises(bs.BayescopeInputError, match="--features"):
        bs.TicketDemand(features="everything").fit(tmp_path / "tables", origin="2020-10-19")


def test_forecasts_written_by_dask_workers_match_the_pandas_engine(fitted, tmp_path,
                                                                   monkeypatch):
    """Parts of three artists on a two-process cluster: same rows and columns; means, quantiles
    and totals as close to the pandas engine's as other seeds' are (within twice the largest
    difference between three pandas seeds: one pair alone left a 2x bound to chance)."""
    distributed = pytest.importorskip("distributed")
    from bayescope.families import tickets

    run_dir = fitted[3] / "run"
    base = ["-q", "predict", str(run_dir)]
    assert main([*base, "--seed", "1", "--out", str(tmp_path / "one.parquet")]) == 0
    for seed, stem in ((2, "two"), (3, "three")):
        assert main([*base, "--seed", str(seed), "--out", str(tmp_path / f"{stem}.parquet")]) == 0
    monkeypatch.setattr(tickets, "ARTISTS_PER_PART", 3)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main([*base, "--seed", "1", "--engine", "dask", "--scheduler",
                     cluster.scheduler_address, "--out", str(tmp_path / "parts")]) == 0
    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) == 3
    key = ["artist_id", "dma_id", "week_start"]
    ours = pd.read_parquet(tmp_path / "parts").sort_values(key, ignore_index=True)
    one, two, three = (pd.read_parquet(tmp_path / name).sort_values(key, ignore_index=True)
                       for name in ("one.parquet", "two.parquet", "three.parquet"))
    assert list(ours.columns) == PREDICT_COLUMNS
    pd.testing.assert_frame_equal(ours[key], one[key])
    for name, suffix in (("artist_week", ["artist_id", "week_start"]),
                         ("national", ["week_start"])):
        ours_totals = pd.read_parquet(tmp_path / f"parts_{name}.parquet").sort_values(
            suffix, ignore_index=True)
        one_totals, two_totals, three_totals = (
            pd.read_parquet(tmp_path / f"{stem}_{name}.parquet")
            .sort_values(suffix, ignore_index=True) for stem in ("one", "two", "three"))
        pd.testing.assert_frame_equal(ours_totals[suffix], one_totals[suffix])
        for column in ("tickets_mean", "tickets_low", "tickets_high"):
            engines = np.abs(ours_totals[column] - one_totals[column]).mean()
            seeds = _largest_seed_difference(one_totals, two_totals, three_totals, column=column)
            # A quantile of a whole number of tickets moves a whole ticket where its CDF
            # crosses 5% or 95% near a step: over the 36 artist-weeks, a fifth of a ticket per
            # row is seven rows one ticket apart, which three seeds may happen not to show
            # (CI saw 0.194 against seeds' 0.057 once the fit had eight chains).
            slack = 0.0 if column == "tickets_mean" else 0.2
            assert engines <= 2.0 * seeds + slack + 1e-9, (name, column, engines, seeds)
    for column in ("tickets_mean", "tickets_high", "order_value_mean"):
        engines = np.abs(ours[column] - one[column]).mean()
        seeds = _largest_seed_difference(one, two, three, column=column)
        assert engines <= 1.5 * seeds + 1e-9, (column, engines, seeds)


def _largest_seed_difference(*frames: pd.DataFrame, column: str) -> float:
    """The largest mean absolute difference in ``column`` between any two of ``frames``."""
    return max(float(np.abs(a[column] - b[column]).mean())
               for k, a in enumerate(frames) for b in frames[k + 1:])
