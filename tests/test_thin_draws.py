"""Thinning posterior draws: shared read-only arrays when nothing is dropped, a seeded subset
otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from bayescope.inference.predictive import thin_draws

POSTERIOR = {"mu": np.arange(10.0), "effects": np.arange(30.0).reshape(10, 3)}


def test_no_thinning_shares_the_stored_arrays_and_refuses_writes():
    params = thin_draws(POSTERIOR, 10, np.random.default_rng(0))
    for name, values in params.items():
        assert np.shares_memory(values, POSTERIOR[name])
        np.testing.assert_array_equal(values, POSTERIOR[name])
        with pytest.raises(ValueError, match="read-only"):
            values[0] = -1.0
    assert POSTERIOR["mu"].flags.writeable  # the stored posterior itself is untouched


def test_thinning_keeps_whole_draws_in_order_and_follows_the_seed():
    one = thin_draws(POSTERIOR, 4, np.random.default_rng(3))
    two = thin_draws(POSTERIOR, 4, np.random.default_rng(3))
    other = thin_draws(POSTERIOR, 4, np.random.default_rng(4))
    kept = one["mu"].astype(int)
    assert len(set(kept)) == 4 and np.all(np.diff(kept) > 0)
    np.testing.assert_array_equal(one["effects"], POSTERIOR["effects"][kept])
    np.testing.assert_array_equal(one["mu"], two["mu"])
    assert not np.array_equal(one["mu"], other["mu"])
