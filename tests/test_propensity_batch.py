"""Batch scoring in chunks: same numbers as in memory, from any layout, errors by file row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.data.generate_propensity import generate_propensity_table
from bayescope.data.propensity_table import TARGET, validate_propensity_columns
from bayescope.errors import BayescopeInputError
from bayescope.families.propensity import (
    PropensityFitSettings,
    fit_propensity,
    load_propensity_run,
)
from bayescope.families.propensity_batch import SCORE_COLUMNS, score_file, score_run

N = 3_000


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    table = generate_propensity_table(4_000, np.random.default_rng(7)).table
    fit_propensity(validate_propensity_columns(table), PropensityFitSettings(0, 0.0),
                   folder / "run")
    new = generate_propensity_table(N, np.random.default_rng(8)).table.drop(columns=TARGET)
    new["customer_id"] = [f"new{i}" for i in range(N)]
    run = load_propensity_run(folder / "run")
    expected, _ = score_run(run, validate_propensity_columns(new, require_target=False))
    return folder, run, new, expected[SCORE_COLUMNS]


def _same(path, expected):
    scored = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(
        path, dtype={"customer_id": str})
    assert list(scored.columns) == SCORE_COLUMNS
    pd.testing.assert_frame_equal(scored, expected, check_dtype=False, rtol=1e-12)


def test_chunked_file_scores_equal_in_memory(fitted, tmp_path):
    _, run, new, expected = fitted
    # Another layout: shuffled column order, an extra column, TSV.
    messy = new[list(new.columns[::-1])].assign(notes="x")
    messy.to_csv(tmp_path / "new.tsv", sep="\t", index=False)
    report = score_file(run, tmp_path / "new.tsv", tmp_path / "scores.parquet", rows=700)
    assert report.chunks == 5 and report.rows == N
    _same(tmp_path / "scores.parquet", expected)
    new.to_parquet(tmp_path / "new.parquet", row_group_size=1_000, index=False)
    score_file(run, tmp_path / "new.parquet", tmp_path / "scores.csv", rows=400)
    _same(tmp_path / "scores.csv", expected)


def test_bad_row_in_a_later_chunk_is_named_and_nothing_is_written(fitted, tmp_path):
    folder, _, new, _ = fitted
    bad = new.copy()
    bad.loc[2_499, "refund_rate"] = 1.7  # file row 2,500, in the fourth chunk of 700
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "scores.parquet"
    out.write_text("yesterday's scores")
    with pytest.raises(BayescopeInputError, match="refund_rate") as error:
        score_file(load_propensity_run(folder / "run"), tmp_path / "bad.csv", out, rows=700)
    assert error.value.rows == [2_500]
    assert out.read_text() == "yesterday's scores"
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv", "scores.parquet"]
    assert main(["-q", "score", str(folder / "run"), "--data", str(tmp_path / "bad.csv"),
                 "--out", str(out), "--chunk-rows", "700"]) == 2


def test_customer_repeated_across_chunks_is_named(fitted, tmp_path):
    folder, run, new, _ = fitted
    repeated = new.copy()
    repeated.loc[2_900, "customer_id"] = repeated.loc[10, "customer_id"]
    repeated.to_csv(tmp_path / "rep.csv", index=False)
    with pytest.raises(BayescopeInputError, match="duplicated in 2 rows: 11, 2901"):
        score_file(run, tmp_path / "rep.csv", tmp_path / "s.parquet", rows=1_000)
    assert not (tmp_path / "s.parquet").exists()
    base = ["-q", "score", str(folder / "run"), "--data", str(tmp_path / "rep.csv"), "--out",
            str(tmp_path / "s.parquet")]
    for bad_option in (["--chunk-rows", "0"], ["--engine", "spark"]):  # refused when parsed
        with pytest.raises(SystemExit) as parse_error:
            main([*base, *bad_option])
        assert parse_error.value.code == 2
    with pytest.raises(SystemExit) as folder_out:  # a folder is the Dask engine's output
        main(["-q", "score", str(folder / "run"), "--data", str(tmp_path / "rep.csv"),
              "--out", str(tmp_path)])
    assert folder_out.value.code == 2
