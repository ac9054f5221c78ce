"""Warm starts (``inference/initial_points.py``): a refit starts at the earlier fit's draws, in
the sampler's coordinates, reproducibly, and samples the same posterior as a cold fit."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr

from bayescope.errors import ArtifactError, BayescopeInputError
from bayescope.inference.initial_points import WarmStart, warm_initial_points
from bayescope.inference.sampling import fit_model

OBSERVED = np.random.default_rng(0).normal(3.0, 2.0, size=40)


def model(shift: float = 0.0) -> pm.Model:
    """A location, a positive scale and zero-sum effects: three different transforms."""
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        effect = pm.ZeroSumNormal("effect", 1.0, shape=4)
        group = np.arange(OBSERVED.size) % 4
        pm.Normal("y", mu + effect[group], sigma, observed=OBSERVED + shift)
    return m


def test_a_warm_start_is_the_earlier_fits_draw_on_the_sampler_scale():
    m = model()
    effect = np.array([0.3, -0.1, -0.5, 0.3])
    warm = WarmStart(({"mu": np.array(2.5), "sigma": np.array(1.5), "effect": effect},), 0.3)
    start = warm_initial_points(m, 5, warm)(7)
    # nutpie's order: mu, log sigma, then the three zero-sum coordinates of the effects
    assert start[0] == pytest.approx(2.5)
    assert start[1] == pytest.approx(np.log(1.5))
    transform = m.rvs_to_transforms[m["effect"]]
    back = transform.backward(pt.as_tensor(start[2:]), *m["effect"].owner.inputs)
    np.testing.assert_allclose(back.eval(), effect, atol=1e-12)


def test_a_warm_start_from_another_model_structure_is_refused():
    warm = WarmStart(({"mu": np.array(2.5), "sigma": np.array(1.5),
                       "effect": np.zeros(4)},), 0.3)
    with pytest.raises(BayescopeInputError, match="another model structure"):
        warm_initial_points(model(), 9, warm)(0)


def test_a_warm_refit_with_short_warmup_samples_the_cold_posterior_reproducibly():
    names = ["mu", "sigma", "effect"]
    first = fit_model(model(), names, draws=300, tune=300, chains=2, seed=0, progress=False,
                      adaptation="diag")
    warm = first.warm_start
    assert warm is not None and len(warm.points) == 2 * 25
    assert 0.05 < warm.step_size < 2.0

    def refit(tune: int, start: WarmStart | None, seed: int = 1):
        return fit_model(model(shift=0.5), names, draws=1000, tune=tune, chains=2, seed=seed,
                         progress=False, adaptation="diag", warm_start=start)

    cold, hot = refit(1000, None), refit(50, warm)
    assert hot.gate.passed, hot.gate.problems
    for name in ("mu", "sigma"):
        a, b = (np.asarray(r.idata["posterior"][name]).ravel() for r in (cold, hot))
        # posterior means within 0.15 sd (Monte Carlo error of 2 x 1000 draws is about 0.05)
        assert abs(a.mean() - b.mean()) < 0.15 * a.std(), name
        assert b.std() == pytest.approx(a.std(), rel=0.15), name
    again = refit(50, warm)
    np.testing.assert_array_equal(np.asarray(hot.idata["posterior"]["mu"]),
                                  np.asarray(again.idata["posterior"]["mu"]))


def _fake_fit(step_sizes: list[float], diverging: float = 0.0) -> dict[str, xr.Dataset]:
    """A nutpie-shaped fit of ``mu``: chain c's draws are c + draw / 100."""
    chains, draws = len(step_sizes), 40
    mu = np.arange(chains)[:, None] + np.arange(draws)[None, :] / 100
    stats = {"step_size": (("chain", "draw"), np.repeat(np.array(step_sizes)[:, None], draws, 1)),
             "diverging": (("chain", "draw"), np.zeros((chains, draws), bool))}
    stats["diverging"][1][-1, :int(diverging * draws)] = True
    return {"posterior": xr.Dataset({"mu": (("chain", "draw"), mu)}),
            "sample_stats": xr.Dataset(stats)}


def test_a_stuck_chain_hands_on_nothing_and_the_stored_form_round_trips():
    warm = WarmStart.from_fit(_fake_fit([0.3, 0.2, 0.004, 0.25]), ["mu"])
    chains = {int(point["mu"]) for point in warm.points}
    assert chains == {0, 1, 3} and len(warm.points) == 3 * 25
    assert warm.step_size == pytest.approx(0.25)
    # a chain that diverged in most of its draws is left out too
    diverged = WarmStart.from_fit(_fake_fit([0.3, 0.2, 0.25], diverging=0.8), ["mu"])
    assert {int(point["mu"]) for point in diverged.points} == {0, 1}
    stored = warm.thinned(10)
    assert len(stored.points) == 10
    back = WarmStart.from_dataset(stored.to_dataset())
    assert back.step_size == stored.step_size
    np.testing.assert_array_equal([p["mu"] for p in back.points],
                                  [p["mu"] for p in stored.points])
    broken = stored.to_dataset()
    broken["mu"][0] = np.nan
    with pytest.raises(ArtifactError, match="not finite"):
        WarmStart.from_dataset(broken, "RUN")
    with pytest.raises(ArtifactError, match="malformed"):
        WarmStart.from_dataset(stored.to_dataset().drop_attrs(), "RUN")


def test_points_fit_a_model_that_gained_a_variable_and_refuse_other_shapes():
    m = model()
    warm = WarmStart(({"mu": np.array(2.5), "sigma": np.array(1.5)},), 0.3)
    warm.check_shapes(m, "RUN")
    start = warm_initial_points(m, 5, warm)(3)
    assert start[0] == pytest.approx(2.5) and start[1] == pytest.approx(np.log(1.5))
    wrong = WarmStart(({"mu": np.array(2.5), "effect": np.zeros(6)},), 0.3)
    with pytest.raises(BayescopeInputError, match="effect differ in shape"):
        wrong.check_shapes(m, "RUN")
