"""Subgroup performance against scikit-learn / statsmodels on the same rows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from clinpred.core.evaluation.subgroups import subgroup_metrics


def test_levels_match_sklearn_and_repeats_are_averaged():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(0)
    n = 300
    country = rng.choice(["UK", "Uganda", "Pakistan"], n, p=[0.5, 0.4, 0.1])
    country[:3] = "Fiji"  # three patients: too few for an estimate
    y = (rng.random(n) < 0.4).astype(int)
    p = np.clip(0.4 + 0.2 * (y - 0.4) + rng.normal(0, 0.15, n), 0.01, 0.99)
    ds = SimpleNamespace(frame=pd.DataFrame({"country": country}), labels=y)
    halves = np.array_split(rng.permutation(n), 2)
    from outcomes import outcome

    units = {"r0f0": outcome(halves[0], p[halves[0]]), "r0f1": outcome(halves[1], p[halves[1]]),
             "r1f0": outcome(np.arange(n), np.clip(p * 0.9, 0.01, 0.99))}
    res = subgroup_metrics(ds, units, ("country",), {"r0f0": 0, "r0f1": 0, "r1f0": 1}, n_resamples=200, seed=1)
    uk = country == "UK"
    expected = (roc_auc_score(y[uk], p[uk]) + roc_auc_score(y[uk], np.clip(p * 0.9, 0.01, 0.99)[uk])) / 2
    level = res["country"]["levels"]["UK"]
    assert level["auroc"]["value"] == pytest.approx(expected, abs=1e-12)
    lp = np.log(p[uk] / (1 - p[uk]))
    citl0 = sm.GLM(y[uk], np.ones((uk.sum(), 1)), family=sm.families.Binomial(), offset=lp).fit().params[0]
    q = np.clip(p * 0.9, 0.01, 0.99)[uk]
    citl1 = sm.GLM(y[uk], np.ones((uk.sum(), 1)), family=sm.families.Binomial(), offset=np.log(q / (1 - q))).fit().params[0]
    assert level["calibration_intercept"]["value"] == pytest.approx((citl0 + citl1) / 2, abs=1e-6)
    lo, hi = level["auroc"]["ci"]
    assert lo < level["auroc"]["value"] < hi
    assert level["n"] == int(uk.sum())
    assert "Fiji" not in res["country"]["levels"]  # three patients: merged, and still too few to show (issue 25)
    small = res["country"]["levels"]["other levels (each < 5 patients)"]
    assert "auroc" not in small and small["n"] is None and small["events"] is None and "fewer than 5" in small["note"]
    aucs = [res["country"]["levels"][c]["auroc"]["value"] for c in ("UK", "Uganda", "Pakistan")]
    assert res["country"]["auroc_spread"] == pytest.approx(max(aucs) - min(aucs))
