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


def test_anticipated_r2_is_used_and_checked(tmp_path):
    from clinpred.core.errors import ConfigError
    from clinpred.core.evaluation.sample_size import check_anticipated_r2
    from clinpred.core.evaluation.settings import parse_evaluation

    assert parse_evaluation({"anticipated_r2": 0.2}, "c.toml [evaluation]").anticipated_r2 == 0.2
    with pytest.raises(ConfigError, match="anticipated_r2 = 1.5 is impossible"):
        parse_evaluation({"anticipated_r2": 1.5}, "c.toml [evaluation]")
    res = riley_sample_size(10, 0.3, 0.2)
    assert res["r2_cs"] == 0.2 and "anticipated_r2" in res["r2_cs_source"]
    check_anticipated_r2(0.2, 0.3)
    with pytest.raises(ConfigError, match=r"must lie in \(0, 0\.705\)"):  # the largest Cox-Snell R2 at 30%
        check_anticipated_r2(0.8, 0.3)


def test_an_impossible_anticipated_r2_stops_the_run_before_it_starts(tmp_path):
    from clirun import clinpred

    data = tmp_path / "d.csv"
    assert clinpred("data", "synth", "--n", "100", "--seed", "1", "-o", str(data)).code == 0
    config = tmp_path / "c.toml"
    config.write_text("[evaluation]\nanticipated_r2 = 0.9\n")
    out = tmp_path / "run"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(data), "--out", str(out))
    assert result.code == 2 and "anticipated_r2 = 0.9 is impossible" in result.err and "Traceback" not in result.err
    assert not (out / "run.json").exists()
