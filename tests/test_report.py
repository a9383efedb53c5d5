"""The risk assessment report: model, findings and recommendations on the sample world,
"not run" sections, escaping and masking, formatting, and the page in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import cohen_kappa_score

from smo_eval.report.browser import Page, find_browser
from smo_eval.report.i18n import Messages, count, pct, pp
from smo_eval.report.render import to_html, to_markdown
from smo_eval.stages.report import build_report, score_distribution

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "smo_eval.cli"]
PLANTED = yaml.safe_load((ROOT / "conf/sample/default.yaml").read_text())["planted"]
TAXONOMY = yaml.safe_load((ROOT / "conf/taxonomy/default.yaml").read_text())
REPORT_CFG = yaml.safe_load((ROOT / "conf/report/default.yaml").read_text())


def _smo(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*CLI, *args, "mlflow.enabled=false"], cwd=folder, text=True,
                         capture_output=True, env={**os.environ, "SMO_EVAL_DEBUG": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample world (20,000 items) run through ingest, evaluate and report."""
    folder = tmp_path_factory.mktemp("report-world")
    shutil.copytree(ROOT / "conf", folder / "conf")
    _smo(folder, "demo", "sample.n_items=20000", "evaluate.ci.n_boot=200")
    return folder


def _browser() -> str:
    path = find_browser()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI (.ci/apt-packages installs it)")
        pytest.skip("chromium not installed")
    return path


# --- fixture tables in the later stages' documented formats, from the sample world -----------

def _comparison(slice_metrics: pd.DataFrame) -> pd.DataFrame:
    """compare's columns; verdict `regressed` where the challenger's recall interval lies
    wholly below the champion's (a stand-in until the compare stage lands on main)."""
    wide = slice_metrics.pivot(index="slice", columns="model",
                               values=["recall", "recall_lo", "recall_hi"]).dropna()
    delta = wide["recall"]["v2"] - wide["recall"]["v1"]
    verdict = np.where(wide["recall_hi"]["v2"] < wide["recall_lo"]["v1"], "regressed",
                       np.where(wide["recall_lo"]["v2"] > wide["recall_hi"]["v1"], "improved",
                                "no_change"))
    return pd.DataFrame({
        "baseline": "v1", "candidate": "v2", "slice": wide.index, "metric": "recall",
        "baseline_value": wide["recall"]["v1"].to_numpy(),
        "candidate_value": wide["recall"]["v2"].to_numpy(), "delta": delta.to_numpy(),
        "delta_lo": (wide["recall_lo"]["v2"] - wide["recall_hi"]["v1"]).to_numpy(),
        "delta_hi": (wide["recall_hi"]["v2"] - wide["recall_lo"]["v1"]).to_numpy(),
        "p_value": 0.001, "p_adjusted": 0.01, "verdict": verdict})


def _annotators(annotations: pd.DataFrame) -> pd.DataFrame:
    """Each annotator's Cohen's kappa against the majority label of the other annotators."""
    rows = []
    for who, part in annotations.groupby("annotator_id", observed=True):
        others = annotations[(annotations["annotator_id"] != who)
                             & annotations["item_id"].isin(part["item_id"])]
        majority = (others.groupby("item_id", observed=True)["label"].mean() >= 0.5).astype(int)
        joined = part.set_index("item_id")["label"].astype(int).to_frame().join(
            majority.rename("adjudicated"), how="inner")
        rows.append({"annotator_id": str(who), "n_items": len(joined),
                     "kappa_vs_adjudicated": cohen_kappa_score(joined["label"],
                                                               joined["adjudicated"])})
    return pd.DataFrame(rows)


def _drift(eval_table: pd.DataFrame) -> dict[str, object]:
    """drift.json-shaped: PSI of the language mix between the planted windows (the planted
    doubling of one language gives ~0.04; the fixture's alarm threshold is 0.02)."""
    when = pd.to_datetime(eval_table["created_at"])
    ref_days, cur_days = PLANTED["drift"]["reference"], PLANTED["drift"]["current"]
    ref = eval_table[when < pd.Timestamp(cur_days[0])]["language"].value_counts(normalize=True)
    cur = eval_table[when >= pd.Timestamp(cur_days[0])]["language"].value_counts(normalize=True)
    ref, cur = ref.align(cur, fill_value=1e-4)
    psi = float(((cur - ref) * np.log(cur / ref)).sum())
    return {"windows": {"reference": ref_days, "current": cur_days},
            "columns": [{"column": "language", "method": "psi", "value": psi,
                         "threshold": 0.02, "p_value": 1e-9, "drifted": psi > 0.02},
                        {"column": "content_type", "method": "psi", "value": 0.001,
                         "threshold": 0.02, "p_value": 0.4, "drifted": False}]}


@pytest.fixture(scope="module")
def tables(world: Path) -> dict[str, object]:
    ev = world / "outputs" / "evaluate"
    slice_metrics = pd.read_parquet(ev / "slice_metrics.parquet")
    eval_table = pd.read_parquet(world / "outputs/ingest/eval.parquet")
    scores = pd.read_parquet(world / "outputs/ingest/scores.parquet")
    new_term = PLANTED["drift"]["new_term"]
    return {
        "slice_metrics": slice_metrics,
        "metrics": json.loads((ev / "metrics.json").read_text()),
        "curves": {m: {k: pd.read_csv(ev / "curves" / k / f"{m}.csv", encoding="utf-8-sig")
                       for k in ("roc", "pr", "reliability")} for m in ("v1", "v2")},
        "score_hist": score_distribution(eval_table["label"].to_numpy(), scores, 40),
        # the real compare stage's output (the demo runs it), the stand-in only without it
        "comparison": pd.read_parquet(compared) if (compared := world / "outputs/compare/"
                                                     "comparison.parquet").is_file()
        else _comparison(slice_metrics),
        "annotators": _annotators(pd.read_parquet(world / "outputs/ingest/annotations.parquet")),
        "drift": _drift(eval_table),
        "emerging_terms": pd.DataFrame({
            "language": [new_term["language"]], "subset": ["violating"], "model": ["all"],
            "rank": [1], "term": [new_term["term"]], "ref_count": [0], "cur_count": [57],
            "z": [7.9]}),
        "review_queue": pd.DataFrame({
            "slice": ["language=zh", "language=zh"], "item_id": ["a1", "a2"],
            "text": ["<script>alert(1)</script> call 13812345678", "x" * 400],
            "score": [0.1, 0.2]}),
    }


def test_sample_world_report_names_planted_effects(tables: dict[str, object]) -> None:
    report = build_report(tables, REPORT_CFG, TAXONOMY)
    findings = {f.kind: [g for g in report.findings if g.kind == f.kind]
                for f in report.findings}
    where = PLANTED["regression"]["where"]
    target = "&".join(f"{k}={v}" for k, v in where.items())
    regressions = [f.subject["slice"] for f in findings["regression"]]
    assert target in regressions
    assert all(f.subject["candidate"] == PLANTED["regression"]["model"]
               for f in findings["regression"])
    careless = [f.subject["annotator"] for f in findings["careless_annotator"]]
    assert careless == [PLANTED["careless_annotator"]["annotator_id"]]
    drifted = [f.subject["name"] for f in findings["drift"]]
    assert drifted == ["language"]
    assert [f.subject["term"] for f in findings["emerging_term"]] == [
        PLANTED["drift"]["new_term"]["term"]]
    recs = " ".join(r.text for r in report.recommendations)
    assert "Do not promote v2" in recs and "region SEA × language zh" in recs
    assert "annotator ann_06" in recs
    assert f"'{PLANTED['drift']['new_term']['term']}'" in recs
    # every recommendation carries the finding it follows from
    texts = {f.text for f in report.findings}
    assert all(r.evidence and set(r.evidence) <= texts for r in report.recommendations)
    summary = " ".join(report.summary)
    assert "region SEA × language zh" in summary and "ann_06" in summary
    # the planted per-language score compression shows as a threshold recommendation
    language = PLANTED["language_bias"]["language"]
    assert any(f.subject["slice"] == f"language={language}"
               for f in findings["language_threshold"])


def test_kpi_status_follows_intervals_and_targets(tables: dict[str, object]) -> None:
    report = build_report(tables, REPORT_CFG, TAXONOMY)
    sm = tables["slice_metrics"]
    assert isinstance(sm, pd.DataFrame)
    below = {(f.subject["model"], f.subject["slice"]) for f in report.findings
             if f.kind == "below_target"}
    targets = {f"risk_category={k}": v["target_recall"]
               for k, v in TAXONOMY["categories"].items()}
    leaf = sm[sm["slice"].isin(targets)]
    expected = {(r.model, r.slice) for r in leaf.itertuples()
                if r.recall_hi < targets[r.slice]}
    assert {b for b in below if b[1].startswith("risk_category=")} == expected
    kpi = next(s for s in report.sections if s.key == "kpi")
    # v3-retrain: the challenger the pipeline's experiment stage retrains
    assert [t.title for t in kpi.tables] == ["KPIs of v1", "KPIs of v2", "KPIs of v3-retrain"]


def test_missing_stages_are_marked_not_run(tables: dict[str, object]) -> None:
    core = {k: tables[k] for k in ("slice_metrics", "metrics", "curves", "score_hist")}
    report = build_report(core, REPORT_CFG, TAXONOMY)
    status = {s.key: s.ran for s in report.sections}
    assert status == {"gate": False, "kpi": True, "heatmaps": True, "comparison": False,
                      "errors": False, "labels": False, "drift": False, "curves": True}
    md = to_markdown(report)
    assert "## Model comparison (not run)" in md
    assert "Run `smo-eval compare`" in md
    assert "The release gate has not run" in report.summary[0]


def test_html_escapes_and_masks_example_text(tables: dict[str, object]) -> None:
    cfg = {**REPORT_CFG, "examples": {**REPORT_CFG["examples"], "mask": True}}
    html = to_html(build_report(tables, cfg, TAXONOMY))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "13812345678" not in html and "call ▇▇" in html
    assert "x" * 159 + "…" in html and "x" * 160 not in html
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()[:300]) == 1          # plotly.js inlined once
    assert "://" not in html.replace(get_plotlyjs(), "")    # no link of ours leaves the page
    assert "default-src 'none'" in html                      # and the browser enforces it


def test_score_distribution_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 5000)
    scores = pd.DataFrame({"m": rng.random(5000).astype(np.float32)})
    scores.loc[:9, "m"] = np.nan
    scores.loc[10, "m"] = 1.0
    hist = score_distribution(labels, scores, 20)
    for label in (0, 1):
        values = scores["m"].to_numpy(dtype=float)[(labels == label)]
        expected, _ = np.histogram(values[~np.isnan(values)], bins=20, range=(0, 1))
        got = hist[hist["label"] == label]["count"].to_numpy()
        assert got.tolist() == expected.tolist()


def test_numbers_are_formatted_for_people() -> None:
    assert (pct(0.73125), count(1234567), pp(-0.1234)) == ("73.1%", "1,234,567", "-12.3 pp")
    assert Messages("zh").t("section.kpi") == "各风险类别的 KPI 与目标"
    with pytest.raises(Exception, match="supported languages"):
        Messages("fr")


def _check_page(html: Path, shot: Path) -> Page:
    page = Page(_browser())
    try:
        assert page.open(html) == "1"
        n_plots = page.evaluate("document.querySelectorAll('div.plot').length")
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('div.plot')).filter(d => d.data && "
            "d.data.length && d.querySelector('.main-svg') && "
            "d.querySelector('.main-svg').getBoundingClientRect().height > 100).length")
        assert n_plots >= 11 and drawn == n_plots
        assert page.errors == []
        external = [u for u in page.requests if not u.startswith(("file:", "data:"))]
        assert external == []
        page.screenshot(shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    except BaseException:
        page.close()
        raise
    return page


def test_report_page_renders_in_chromium(world: Path) -> None:
    html = world / "outputs/report/report.html"
    assert html.stat().st_size < 5_000_000
    page = _check_page(html, world / "outputs/report/screenshot-en.png")
    with page:
        headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => "
                                 "h.firstChild.textContent.trim())")
    assert headings[:3] == ["Summary", "Recommendations", "Release gate"]
    pngs = sorted((world / "outputs/report/png").glob("*.png"))
    assert len(pngs) == len(json.loads(json.dumps([p.name for p in pngs]))) >= 11
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000 for p in pngs)


def test_chinese_report_renders_in_chromium(world: Path) -> None:
    _smo(world, "report", "report.lang=zh", "report.png=false", "out_dir=outputs")
    html = world / "outputs/report/report.html"
    page = _check_page(html, world / "outputs/report/screenshot-zh.png")
    with page:
        headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => "
                                 "h.firstChild.textContent.trim())")
        lang = page.evaluate("document.documentElement.lang")
    assert headings == ["摘要", "建议", "发布门禁", "各风险类别的 KPI 与目标", "模型薄弱环节",
                        "模型对比", "错误分析", "标注质量", "数据漂移与新兴词汇",
                        "校准、精确率-召回率与分数分布"]
    assert lang == "zh-CN"
    md = (world / "outputs/report/report.md").read_text(encoding="utf-8")
    assert md.startswith("# 内容安全风险评估报告") and "## 模型对比 (已运行)" in md
    # Every stage section says, in Chinese, whether its stage ran.
    marked = re.findall(r"^## .+ \((已运行|未运行)\)$", md, flags=re.M)
    assert len(marked) >= 6
