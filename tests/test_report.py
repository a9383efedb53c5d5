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

from smo_eval.config import load_config
from smo_eval.nodes.report import load_tables
from smo_eval.pipeline import registry
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.runner import Runner
from smo_eval.report.browser import Page
from smo_eval.report.i18n import Messages, count, pct, pp
from smo_eval.report.model import Report
from smo_eval.report.render import to_html, to_markdown
from smo_eval.slicekey import from_json, to_json
from smo_eval.stages.report import build_report, score_distribution
from tests.conftest import browser
from tests.settings import config, planted

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "smo_eval.cli"]
PLANTED = planted()
TAXONOMY = config().taxonomy


def _smo(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*CLI, *args, "mlflow.enabled=false"], cwd=folder, text=True,
                         capture_output=True, env={**os.environ, "SMO_EVAL_DEBUG": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return out


# A 20,000-item world has ~500 current items per language and ~11 items with the new term:
# drift's defaults (tuned for >= 60,000 items) would rightly stay silent, so the alarm and
# term thresholds are scaled to the world's size. Evidently's own HTML is not the point here.
SMALL_WORLD = ["sample.n_items=20000", "compare.n_boot=200",
               "drift.alarm.min_n=300", "drift.terms.min_count=8", "drift.terms.min_z=2",
               "drift.evidently.enabled=false"]
CONFIG = config(*SMALL_WORLD)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample world (20,000 items) through the whole pipeline: ingest … gate, report."""
    folder = tmp_path_factory.mktemp("report-world")
    shutil.copytree(ROOT / "conf", folder / "conf")
    _smo(folder, "demo", *SMALL_WORLD)
    return folder



@pytest.fixture(scope="module")
def tables(world: Path) -> dict[str, object]:
    """Every stage output of the demo world, read by the report command's own loader."""
    cwd = Path.cwd()
    os.chdir(world)
    try:
        runner = Runner(load_config([*SMALL_WORLD, "mlflow.enabled=false"]))
        return load_tables(StageContext(runner, registry.stage("report")))
    finally:
        os.chdir(cwd)


def test_sample_world_report_names_planted_effects(tables: dict[str, object]) -> None:
    report = build_report(tables, CONFIG)
    found: dict[str, list] = {}
    for f in report.findings:
        found.setdefault(f.kind, []).append(f)
    # the planted regression: the challenger's recall in region x language (compare's output)
    spec = PLANTED["regression"]
    target = tuple(spec["where"].items())
    first = found["regression"][0].subject
    assert (from_json(first["slice"]), first["metric"], first["candidate"]) == (
        target, "recall", spec["model"])
    # the careless annotator (labels' annotators.csv), and only that one
    assert [f.subject["annotator"] for f in found["careless_annotator"]] == [
        PLANTED["careless_annotator"]["annotator_id"]]
    # the planted drift (drift.csv): the language mix, named by the language that grew ...
    drift = PLANTED["drift"]
    mix = [f for f in found["drift"] if f.subject["name"] == "language"]
    assert len(mix) == 1 and f" {drift['language_mix']['language']} " in mix[0].text
    metadata = {f.subject["name"] for f in found["drift"] if f.subject["kind"] == "metadata"}
    assert metadata == {"language"}          # each column once: no duplicate evidently rows
    # ... the score shift of one model in one language ...
    shift = drift["score_shift"]
    assert any(f.subject["model"] == shift["model"]
               and f.subject["slice"] == to_json((("language", shift["language"]),))
               for f in found["drift"])
    # ... and the new coded term
    assert [f.subject["term"] for f in found["emerging_term"]] == [drift["new_term"]["term"]]
    # recommendations that follow from them, each carrying its evidence
    recs = " ".join(r.text for r in report.recommendations)
    assert "Do not promote v2" in recs and "region=SEA&language=zh" in recs
    assert f"annotator {PLANTED['careless_annotator']['annotator_id']}" in recs
    assert f"Check why {shift['model']}'s scores moved in language={shift['language']}" in recs
    assert f"'{drift['new_term']['term']}'" in recs
    texts = {f.text for f in report.findings}
    assert all(r.evidence and set(r.evidence) <= texts for r in report.recommendations)
    # the summary opens with the gate's verdict (gate.json) and names the planted effects
    gate = tables["gate"]
    assert isinstance(gate, dict)
    assert report.summary[0].startswith(f"Release gate {gate['gate']}: "
                                        f"{gate['verdict'].upper()} for {gate['candidate']}")
    assert all(c in report.summary[0] for c in gate["failed_checks"])
    summary = " ".join(report.summary)
    assert "region=SEA&language=zh" in summary and "ann_06" in summary
    # the planted per-language score compression shows as a threshold recommendation
    language = PLANTED["language_bias"]["language"]
    assert any(f.subject["slice"] == to_json((("language", language),))
               for f in found["language_threshold"])


def test_kpi_status_follows_intervals_and_targets(tables: dict[str, object]) -> None:
    report = build_report(tables, CONFIG)
    sm = tables["slice_metrics"]
    assert isinstance(sm, pd.DataFrame)
    below = {(f.subject["model"], f.subject["slice"]) for f in report.findings
             if f.kind == "below_target"}
    targets = {to_json((("risk_category", k),)): v.target_recall
               for k, v in TAXONOMY.categories.items()}
    leaf = sm[sm["slice_key"].isin(targets)]
    expected = {(r.model, r.slice_key) for r in leaf.itertuples()
                if r.recall_hi < targets[r.slice_key]}
    assert {b for b in below if b[1] in targets} == expected
    kpi = next(s for s in report.sections if s.key == "kpi")
    # v3-retrain: the challenger the pipeline's experiment stage retrains
    assert [t.title for t in kpi.tables] == ["KPIs of v1", "KPIs of v2", "KPIs of v3-retrain"]


def test_missing_stages_are_marked_not_run(tables: dict[str, object]) -> None:
    core = {k: tables[k] for k in ("slice_metrics", "metrics", "curves", "score_hist")}
    report = build_report(core, CONFIG)
    status = {s.key: s.ran for s in report.sections}
    assert status == {"gate": False, "kpi": True, "heatmaps": True, "comparison": False,
                      "errors": False, "labels": False, "drift": False, "trend": False,
                      "curves": True}
    md = to_markdown(report)
    assert "## Model comparison (not run)" in md
    assert "Run `smo-eval compare`" in md
    assert "The release gate has not run" in report.summary[0]


def test_html_escapes_and_masks_example_text(tables: dict[str, object]) -> None:
    cfg = config(*SMALL_WORLD, "report.examples.mask=true")
    queue = tables["review_queue"]
    assert isinstance(queue, pd.DataFrame)
    hostile = queue.head(2).assign(text=["<script>alert(1)</script> call 13812345678",
                                         "x" * 400])
    html = to_html(build_report({**tables, "review_queue": hostile}, cfg))
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
    page = Page(browser())
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
    _smo(world, "report", *SMALL_WORLD, "report.lang=zh", "report.png=false")
    html = world / "outputs/report/report.html"
    page = _check_page(html, world / "outputs/report/screenshot-zh.png")
    with page:
        headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => "
                                 "h.firstChild.textContent.trim())")
        lang = page.evaluate("document.documentElement.lang")
    assert headings == ["摘要", "建议", "发布门禁", "各风险类别的 KPI 与目标", "模型薄弱环节",
                        "模型对比", "错误分析", "标注质量", "数据漂移与新兴词汇",
                        "KPI 趋势与变化告警", "校准、精确率-召回率与分数分布"]
    assert lang == "zh-CN"
    md = (world / "outputs/report/report.md").read_text(encoding="utf-8")
    assert md.startswith("# 内容安全风险评估报告") and "## 模型对比 (已运行)" in md
    # Every stage section says, in Chinese, whether its stage ran.
    marked = re.findall(r"^## .+ \((已运行|未运行)\)$", md, flags=re.M)
    assert len(marked) >= 6


def test_summary_counts_every_finding_not_only_those_shown(tables: dict[str, object]) -> None:
    """Sections name the first few regressions and low-agreement slices; the summary counts
    them all (the display cap once read as '12 slice regressions' when there were 201)."""
    report = build_report(tables, config(*SMALL_WORLD, "report.max_rows=1"))
    comparison, agreement = tables["comparison"], tables["agreement"]
    assert isinstance(comparison, pd.DataFrame) and isinstance(agreement, pd.DataFrame)
    regressed = int((comparison["verdict"] == "regressed").sum())
    rules = CONFIG.report.rules
    low = int(((agreement["krippendorff_alpha"] < rules.min_agreement)
               & (agreement["n_items"] >= rules.min_agreement_items)).sum())
    shown = {k: sum(f.kind == k for f in report.findings) for k in ("regression",
                                                                   "low_agreement")}
    assert regressed > shown["regression"] == 1 and low > shown["low_agreement"]
    assert any(s.startswith(f"{count(regressed)} slice regressions. First: ")
               for s in report.summary)
    assert any(s.startswith(f"{count(low)} slices with low annotator agreement. First: ")
               for s in report.summary)


def test_gate_row_shows_failures_first_and_counts_the_rest(tables: dict[str, object]) -> None:
    gate = tables["gate"]
    assert isinstance(gate, dict)
    check = next(c for c in gate["checks"] if c["name"] == "no_regression")
    bad = [s for s in check["slices"] if s["status"] != "pass"]
    failed = [s for s in bad if s["status"] == "fail"]
    assert failed and len(bad) > 2
    report = build_report(tables, CONFIG)
    table = next(t for s in report.sections if s.key == "gate" for t in s.tables)
    row = next(r for r in table.rows if r[0] == "no_regression")
    assert row[1] == ("no recall, FPR regression beyond 2.0 pp against the baseline on every "
                      "slice")
    first = [s["slice"] for s in (failed + [s for s in bad if s not in failed])[:2]]
    assert row[4].startswith(f"{first[0]}: ") and f"; {first[1]}: " in row[4]
    rest = {"failed": len(failed) - min(len(failed), 2),
            "with insufficient evidence": len(bad) - max(len(failed), 2)}
    breakdown = ", ".join(f"{n} {what}" for what, n in rest.items() if n)
    assert row[4].endswith(f" (and {len(bad) - 2} more: {breakdown})")


def test_item_ids_are_text_in_the_report(tables: dict[str, object]) -> None:
    report = build_report(tables, CONFIG)
    issues = next(t for s in report.sections for t in s.tables
                  if t.title == "Suspected label errors")
    column = issues.columns.index("item")
    ids = [r[column] for r in issues.rows]
    assert ids and all(re.fullmatch(r"\d+", i) for i in ids)
    assert any(int(i) >= 1000 for i in ids)   # large enough to have had a separator


# English words of metrics, table headers and the tool's statuses that the Chinese report must
# not show. Model names and data values aside: slice labels, ids and settings (anything with
# = _ . : / @ *) and code spans are dropped before the scan, and the example texts and terms
# (data, some English) are replaced by Chinese placeholders. Proper names of statistics
# (Krippendorff, Cohen, Fleiss, Wasserstein, Jensen-Shannon) and abbreviations (KPI, F1, ROC,
# AUC, PR, PSI, QA, UTC, pp, p, z) are not on the list.
ENGLISH = frozenset((
    "recall", "precision", "fpr", "accuracy", "threshold", "thresholds", "score", "scores",
    "interval", "intervals", "bound", "lower", "upper", "slice", "slices", "model", "models",
    "baseline", "candidate", "delta", "verdict", "status", "regressed", "regression", "improved",
    "insufficient", "evidence", "pass", "fail", "failed", "warn", "warning", "warnings", "skipped",
    "overall", "support", "positives", "negatives", "violating", "safe", "gold", "label", "labels",
    "annotator", "annotators", "agreement", "rate", "share", "count", "items", "item", "reference",
    "current", "term", "terms", "error", "errors", "estimate", "estimated", "actual", "rank",
    "reason", "method", "column", "kind", "value", "missed", "alarm", "alarms", "drift", "check",
    "checks", "description", "blocking", "category", "severity", "target", "parent", "metric",
    "metrics", "precedent", "scenario", "reviewer", "kappa", "alpha", "odds", "ratio", "lift",
    "adjusted", "change", "feature", "importance", "contribution", "subset", "calibration",
    "examples", "rows", "more", "not", "run", "ran", "suspected", "suggested", "given", "disputed",
    "unexplained", "near", "represented", "tuned", "global", "distance", "language", "region"))


def _visible_text(html: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.skip, self.parts = 0, []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.skip += tag in ("script", "style")

        def handle_endtag(self, tag: str) -> None:
            self.skip -= tag in ("script", "style")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return "\n".join(parser.parts)


def _titles(spec: object) -> list[str]:
    """Titles of a plotly figure spec: the figure's, its axes', its colour bar's."""
    out: list[str] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "title" and isinstance(value, str):
                out.append(value)
            elif key == "title" and isinstance(value, dict) and isinstance(value.get("text"),
                                                                           str):
                out.append(value["text"])
            out += _titles(value)
    elif isinstance(spec, list):
        out = [t for v in spec for t in _titles(v)]
    return out


def _english(report: Report) -> tuple[set[str], list[str]]:
    """The words of ENGLISH a rendered report shows (HTML text, Markdown, figure titles),
    with the lines they are on."""
    text = "\n".join([_visible_text(to_html(report)), to_markdown(report),
                      *(t for f in report.figures for t in _titles(f.spec))])
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\S*[=_.:/@*]\S*", " ", text)
    found = {w.lower() for w in re.findall(r"[A-Za-z]+", text)} & ENGLISH
    lines = [line for line in text.splitlines()
             if any(re.search(rf"\b{w}\b", line, re.I) for w in found)]
    return found, lines


def test_chinese_report_has_no_english_metric_or_header_words(
        tables: dict[str, object]) -> None:
    placeholders = {}
    for name, column in (("review_queue", "text"), ("error_terms", "term"),
                         ("emerging_terms", "term")):
        frame = tables[name]
        assert isinstance(frame, pd.DataFrame)
        placeholders[name] = frame.assign(**{column: "示例"})
    report = build_report({**tables, **placeholders}, config(*SMALL_WORLD, "report.lang=zh"))
    found, lines = _english(report)
    assert not found, (sorted(found), lines[:10])
    assert sum(len(t.rows) for t in report.sections[1].tables) > 10   # the scan saw tables
    # The scan can fail: the English report shows these words everywhere.
    english, _ = _english(build_report({**tables, **placeholders}, CONFIG))
    assert {"recall", "slice", "items", "threshold", "annotator"} <= english
