"""`clinpred report`: report.md + self-contained report.html, its curves, and a real browser render."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred
from clinpred.core.evaluation import curves
from clinpred.core.report.report_render import Code, Figure, Heading, Paragraph, Table, to_html, to_markdown
from llm_run import LLM, add_llm, make_baseline_run, synth_csv

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    data = synth_csv(root / "cohort.csv", n=200)
    run = make_baseline_run(root / "run", data, "--cv", "3")
    add_llm(run, data)
    result = clinpred("report", str(run))
    assert result.code == 0, result.err
    assert "report.html" in result.out
    return run


def test_markdown_has_every_section_and_its_figures(reported: Path) -> None:
    md = (reported / "report.md").read_text()
    for heading in ("## Model comparison", "## Discrimination", "## Calibration", "## Clinical usefulness",
                    "## Confusion matrices", "## Fine-tuning", "## Output diagnostics",
                    "## Reporting items (TRIPOD+AI / TRIPOD-LLM)", "### Events per part", "### Example prompts"):
        assert heading in md, heading
    for name in ("roc", "calibration", "decision_curve", "confusion", "training", "importance"):
        assert f"(report_files/{name}.png)" in md
        assert (reported / "report_files" / f"{name}.png").read_bytes().startswith(PNG)
    import json

    run_info = json.loads((reported / "run.json").read_text())
    metrics = json.loads((reported / "metrics.json").read_text())
    assert run_info["dataset"]["sha256"] in md
    lasso = metrics["models"]["lasso"]["metrics"]["auroc"]
    assert f"{lasso['value']:.3f} [{lasso['ci'][0]:.3f}, {lasso['ci'][1]:.3f}]" in md
    delong = metrics["models"][LLM]["delong_vs_best_baseline"]
    assert f"{delong['auroc_difference']:+.3f}" in md
    assert "Patient record 0" in md  # the LLM's stored example prompt
    assert "unterminated-think" in md and "one-class collapse" in md
    assert '"lora_rank": 8' in md


def test_html_is_self_contained(reported: Path) -> None:
    page = (reported / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 6  # ROC, calibration (binned + smooth + risks), decision, confusion, training, importance
    assert all(base64.b64decode(img).startswith(PNG) for img in images)
    assert not re.search(r"""(?:src|href)=["']?(?:https?:|//)""", page)
    assert "<script" not in page and "<link" not in page


def test_no_html_and_unfinished_run(tmp_path: Path, reported: Path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(reported, run)
    (run / "report.html").unlink()
    assert clinpred("report", str(run), "--no-html").code == 0
    assert (run / "report.md").exists() and not (run / "report.html").exists()
    (run / "metrics.json").unlink()
    result = clinpred("report", str(run))
    assert result.code == 2 and "no metrics.json" in result.err


def test_renderers_escape_text() -> None:
    blocks = [Heading("<b>x</b>"), Paragraph("a & b"), Table(["c|d"], [["<i>"]]), Code("<|im_start|>"),
              Figure("f", PNG + b"0", "cap")]
    page = to_html(blocks, "T<")
    assert "<b>x</b>" not in page and "&lt;b&gt;" in page and "&lt;|im_start|&gt;" in page
    assert "a &amp; b" in page and "T&lt;" in page
    md = to_markdown(blocks, "T", "figs")
    assert "| c\\|d |" in md and "![cap](figs/f.png)" in md


def test_roc_points_match_sklearn() -> None:
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200), 2)  # ties
    fpr, tpr = curves.roc_points(y, p)
    ref_fpr, ref_tpr, _ = roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)


def test_net_benefit_and_reliability() -> None:
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.6, 0.6, 0.2, 0.1])
    # t = 0.5: treated 0.9, 0.6, 0.6 -> TP 2, FP 1 -> 2/5 - 1/5 * 1 = 0.2
    assert curves.net_benefit(y, p, [0.5])[0] == pytest.approx(0.2)
    assert curves.treat_all(y, [0.5])[0] == pytest.approx(0.6 - 0.4)
    assert curves.net_benefit(y, p, [0.0])[0] == pytest.approx(curves.treat_all(y, [0.0])[0])
    bins = curves.reliability_bins(np.tile(y, 20), np.tile(p, 20), 4)
    assert sum(b[2] for b in bins) == 100
    means = [b[0] for b in bins]
    assert means == sorted(means) and len(bins) <= 4
    # tied predictions share a bin, and the bins' observed rates average to the prevalence
    assert sum(b[1] * b[2] for b in bins) / 100 == pytest.approx(0.6)
    assert bins[0] == (pytest.approx(0.1), pytest.approx(1.0), 20)


def test_html_renders_in_headless_chromium(reported: Path, tmp_path: Path) -> None:
    from chromium import screenshot

    out = tmp_path / "report.png"
    proc = screenshot(reported / "report.html", out)
    assert out.exists(), proc.stderr[-2000:]
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (1280, 2400)
        rgb = np.asarray(im.convert("RGB"), dtype=int)
    ink = (rgb.min(axis=2) < 200).mean()  # share of pixels that are not white-ish
    assert ink > 0.03, f"screenshot looks blank ({ink:.1%} non-white pixels)"
    colours = len(np.unique(rgb.reshape(-1, 3)[::7], axis=0))
    assert colours > 50  # plots and tables, not a flat error page
    # the models' curves are drawn in their own colours (by name, the same in every figure)
    import json

    from clinpred.core.report.plots import model_colors

    names = list(json.loads((reported / "metrics.json").read_text())["models"])
    for name, color in model_colors(names).items():
        want = np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)])
        assert (np.abs(rgb - want).sum(axis=2) < 40).sum() > 100, (name, color)
