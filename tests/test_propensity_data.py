"""The ShopSphere propensity table: the generator's documented properties and the loader's
contract on messy files (missing values only where the brief allows them)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bayescope.cli import main
from bayescope.data.generate_propensity import generate_propensity_table
from bayescope.data.propensity_table import (
    CATEGORICAL,
    FEATURE_GROUPS,
    FEATURES,
    TARGET,
    load_propensity_table,
    validate_propensity_columns,
)
from bayescope.errors import BayescopeInputError


@pytest.fixture(scope="module")
def generated():
    return generate_propensity_table(40_000, np.random.default_rng(5))


def test_generator_matches_the_brief(generated):
    table = generated.table
    assert len(FEATURES) == 25 and sum(len(g) for g in FEATURE_GROUPS.values()) == 25
    assert list(table.columns) == ["customer_id", *FEATURES, TARGET]
    assert table[TARGET].mean() == pytest.approx(0.18, abs=0.01)
    missing = table.isna().mean()
    assert missing["csat_score"] == pytest.approx(0.12, abs=0.02)
    assert 0.04 <= missing["avg_session_duration"] <= 0.09
    for column in CATEGORICAL:
        assert missing[column] == pytest.approx(0.03, abs=0.012), column
    allowed = {"csat_score", "avg_session_duration", *CATEGORICAL}
    assert (missing.drop(list(allowed)) == 0).all()
    # Not completely at random: surveys are skipped by the disengaged.
    skipped = table["csat_score"].isna()
    assert table.loc[skipped, "sessions_30d"].mean() < 0.8 * table.loc[~skipped,
                                                                      "sessions_30d"].mean()
    # The brief's bar is reachable: the true probabilities discriminate well.
    assert roc_auc_score(table[TARGET], generated.latent["p_true"]) > 0.85
    again = generate_propensity_table(40_000, np.random.default_rng(5))
    pd.testing.assert_frame_equal(again.table, table)
    assert np.isfinite(generated.truth.intercept)


def test_loader_reads_messy_files_and_names_bad_rows(generated, tmp_path):
    table = generated.table.head(300)
    messy = table[table.columns[::-1]].assign(notes="x").astype(object)
    messy = messy.where(messy.notna(), "NA")  # missing written as NA
    path = tmp_path / "messy.csv"
    messy.to_csv(path, index=False)
    clean = load_propensity_table(path)
    assert list(clean.columns) == ["customer_id", *FEATURES, TARGET]
    np.testing.assert_allclose(clean["csat_score"].to_numpy(float),
                               table["csat_score"].to_numpy(float))
    assert clean["age_band"].isna().sum() == table["age_band"].isna().sum()

    bad = table.copy()
    bad.loc[[4, 9], "orders_12m"] = np.nan  # missing where the brief does not allow it
    with pytest.raises(BayescopeInputError, match="orders_12m") as info:
        validate_propensity_columns(bad)
    assert info.value.rows == [5, 10]
    bad = table.copy()
    bad.loc[7, "refund_rate"] = 1.5
    with pytest.raises(BayescopeInputError, match="refund_rate") as info:
        validate_propensity_columns(bad)
    assert info.value.rows == [8]
    bad = table.copy()
    bad.loc[3, "csat_score"] = 9
    with pytest.raises(BayescopeInputError, match="csat_score"):
        validate_propensity_columns(bad)
    with pytest.raises(BayescopeInputError, match=TARGET):
        validate_propensity_columns(table.drop(columns=TARGET))
    assert len(validate_propensity_columns(table.drop(columns=TARGET),
                                           require_target=False)["customer_id"]) == 300


def test_cli_generate_propensity(tmp_path):
    out = tmp_path / "shop.parquet"
    assert main(["-q", "generate", "propensity", "--customers", "2000", "--seed", "1",
                 "--out", str(out)]) == 0
    table = load_propensity_table(out)
    assert len(table) == 2000
    truth = json.loads((tmp_path / "shop.truth.json").read_text())
    assert truth["positive_share"] == 0.18 and truth["seed"] == 1


def test_cdnow_propensity_task_reads_only_the_past(cdnow):
    from bayescope.data.cdnow_propensity import cdnow_propensity_table

    table = cdnow_propensity_table(transactions=cdnow)
    assert len(validate_propensity_columns(table)["customer_id"]) == len(table)
    assert 0.05 < table[TARGET].mean() < 0.12
    who = table["customer_id"].iloc[5]
    later = pd.DataFrame({"customer_id": [who, who], "value": [99.0, 5.0], "timestamp":
                          pd.to_datetime(["1997-10-10 10:00", "1998-03-01 10:00"])})
    changed = cdnow_propensity_table(transactions=pd.concat([cdnow, later], ignore_index=True))
    features = [c for c in table.columns if c != TARGET]
    pd.testing.assert_frame_equal(changed[features], table[features])
    assert changed[TARGET].iloc[5] == 1
    assert (changed[TARGET].drop(index=5) == table[TARGET].drop(index=5)).all()
