"""Riley et al. 2020 sample size against the pmsampsize documentation example."""

import math

import pytest

from clinpred.core.evaluation.sample_size import max_r2_cs, riley_sample_size


def test_pmsampsize_binary_example():
    # pmsampsize(type = "b", rsquared = 0.288, parameters = 24, prevalence = 0.174), computed by hand from
    # the formulas of Riley et al. 2020: criteria 622.3, 661.1, 220.9 -> 623, 662, 221; minimum 662
    res = riley_sample_size(24, 0.174, 0.288)
    assert res["criteria"] == [623, 662, 221]
    assert res["minimum_n"] == 662 and res["minimum_events"] == math.ceil(662 * 0.174)
    assert res["max_r2_cs"] == pytest.approx(0.6032, abs=1e-4)


def test_conservative_default_r2():
    res = riley_sample_size(10, 0.3)
    assert res["r2_cs"] == pytest.approx(0.15 * max_r2_cs(0.3))
    assert res["minimum_n"] >= max(res["criteria"][:2])
