"""The convergence gate names the parameters behind each failed check, worst first."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from bayescope.inference.convergence import check_convergence


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_failed_check_names_its_parameters_worst_first() -> None:
    rng = np.random.default_rng(0)
    mixed = rng.normal(size=(4, 500))
    stuck = rng.normal(size=(4, 500)) * 0.1 + np.arange(4)[:, None]  # chains disagree
    sticky = np.cumsum(rng.normal(size=(4, 500)), axis=1) * 0.05  # mixes slowly
    idata = az.from_dict({
        "posterior": {"mu": mixed, "sigma_dma": stuck, "tau": sticky,
                      "beta": np.stack([mixed, mixed[::-1]], axis=-1)},
        "sample_stats": {"diverging": np.zeros((4, 500), dtype=bool)},
    })
    gate = check_convergence(idata, ("mu", "sigma_dma", "tau", "beta"))
    assert not gate.passed
    rhat_problem = next(p for p in gate.problems if p.startswith("max R-hat"))
    assert rhat_problem.endswith("(on sigma_dma, tau)")
    bulk_problem = next(p for p in gate.problems if p.startswith("min bulk ESS"))
    assert "mu" not in bulk_problem and "beta" not in bulk_problem
    assert bulk_problem.endswith("(on sigma_dma, tau)")
    assert gate.per_parameter["sigma_dma"]["rhat"] > gate.per_parameter["tau"]["rhat"]

    constant = check_convergence(az.from_dict({
        "posterior": {"sigma_dma": stuck, "flat": np.ones((4, 500))},
        "sample_stats": {"diverging": np.zeros((4, 500), dtype=bool)}}), ("sigma_dma", "flat"))
    assert np.isnan(constant.per_parameter["flat"]["rhat"])  # a NaN fails, and comes first
    assert constant.problems[0].endswith("(on flat, sigma_dma)")
