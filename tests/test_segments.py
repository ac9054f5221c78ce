"""Segments: chosen by a stated criterion, stable across seeds, named from their profile."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from bayescope.data.generate_propensity import generate_propensity_table
from bayescope.data.propensity_features import PropensityDesign
from bayescope.data.propensity_table import validate_propensity_columns
from bayescope.models.segments import K_RANGE, TIE, fit_segments


@pytest.fixture(scope="module")
def design():
    generated = generate_propensity_table(30_000, np.random.default_rng(5))
    columns = validate_propensity_columns(generated.table)
    fitted = PropensityDesign.fit(columns)
    return fitted, fitted.transform(columns)[0]


def test_segments_are_stable_chosen_by_silhouette_and_named(design):
    fitted, x = design
    model = fit_segments(x, fitted.names, np.random.default_rng(0))
    assert set(model.silhouette_by_k) == set(K_RANGE)
    best = max(model.silhouette_by_k.values())
    assert model.silhouette_by_k[model.k] >= best - TIE
    assert min(model.stability_ari) >= 0.9, model.stability_ari
    np.testing.assert_array_equal(model.assign(x), model.labels_)
    assert len(set(model.segment_names)) == model.k
    for description in model.descriptions:
        assert "% of customers" in description and "Rule of thumb" in description
    # Another seed finds the same segments (labels may be permuted).
    other = fit_segments(x, fitted.names, np.random.default_rng(1))
    assert other.k == model.k
    assert adjusted_rand_score(model.labels_, other.labels_) >= 0.9
