"""The report reads the team's own slicing: on the sample world sliced by expression type
(explicit / implicit; the champion misses implicit violations about twice as often), the
summary names implicit as the champion's weak spot with its numbers, whatever the dimension is
called; heatmaps are the configured crosses. Also: which slices count as weak, ids as text,
and a Chinese catalogue that covers every message the gate section needs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from smo_eval.config import load_config
from smo_eval.config.schema_more import CHECK_KINDS
from smo_eval.io import markdown
from smo_eval.nodes.report import load_tables
from smo_eval.pipeline import registry
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.runner import Runner
from smo_eval.report.i18n import _catalogue, cell, count, interval, pct
from smo_eval.report.sections_weak import weak_spots
from smo_eval.slicekey import from_json, to_json
from smo_eval.stages.report import build_report
from tests.cli_helpers import invoke
from tests.conftest import ROOT
from tests.settings import config, planted

WORLD = ["sample.n_items=20000", "mlflow.enabled=false", "report.png=false",
         "slicing.dimensions=[expression_type,language,content_type]",
         "slicing.crosses=[[language,expression_type]]"]
IMPLICIT = to_json((("expression_type", "implicit"),))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`smo-eval sample` then `smo-eval report` (evaluate computed on the way), and the
    tables the report read."""
    root = tmp_path_factory.mktemp("expression-world")
    shutil.copytree(ROOT / "conf", root / "conf")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        invoke("sample", *WORLD)
        invoke("report", *WORLD)
        runner = Runner(load_config(WORLD))
        tables = load_tables(StageContext(runner, registry.stage("report")))
    finally:
        os.chdir(cwd)
    return root, tables


def _summary_line(summary: list[str], start: str) -> str:
    lines = [s for s in summary if s.startswith(start)]
    assert len(lines) == 1, (start, summary)
    return lines[0]


def test_summary_names_implicit_as_the_champions_weak_spot(
        world: tuple[Path, dict[str, Any]]) -> None:
    root, tables = world
    spec = planted()["expression_type"]
    champion = spec["models"][0]
    # The numbers from the data itself: recall of the champion on implicit violations at its
    # threshold (0.5) and the exact Clopper-Pearson interval (scipy).
    items = pd.read_parquet(root / "data/sample/items.parquet")
    gold = pd.read_parquet(root / "data/sample/gold.parquet")
    preds = pd.read_parquet(root / "data/sample/predictions.parquet")
    scores = preds[preds["model"] == champion].set_index("item_id")["score"]
    joined = gold.merge(items, on="item_id").assign(score=lambda f: scores.loc[f["item_id"]]
                                                   .to_numpy())
    positive = joined["label"] == 1
    caught = joined["score"] >= 0.5
    implicit = joined["expression_type"] == spec["value"]
    k, n = int((caught & positive & implicit).sum()), int((positive & implicit).sum())
    lo, hi = beta.ppf(0.025, k, n - k + 1), beta.ppf(0.975, k + 1, n - k)
    overall = float(caught[positive].mean())
    missed = {e: 1 - float(caught[positive & (implicit == e)].mean()) for e in (True, False)}
    assert 1.6 <= missed[True] / missed[False] <= 2.4     # missed about twice as often

    report = build_report(tables, config(*WORLD))
    line = _summary_line(report.summary, f"{champion}'s weakest slices")
    assert line.startswith(f"{champion}'s weakest slices, recall against {pct(overall)} overall: ")
    assert (f"expression_type=implicit {pct(k / n)} {interval(lo, hi)} ({count(n)} violating "
            "items)") in line
    # The same sentence reaches report.md through the report command.
    assert markdown.text(line, prose=True) in (root / "outputs/report/report.md").read_text(
        encoding="utf-8")
    # The challenger is not shifted: implicit is no weak spot of it.
    challenger = next(m for m in tables["metrics"] if m != champion)
    assert not any("expression_type=implicit" in s for s in report.summary
                   if s.startswith(f"{challenger}'s"))
    # A recommendation follows, with the finding as its evidence.
    assert any(f"{champion} misses in expression_type=implicit" in r.text
               for r in report.recommendations)


def test_heatmaps_are_the_configured_crosses(world: tuple[Path, dict[str, Any]]) -> None:
    _, tables = world
    report = build_report(tables, config(*WORLD))
    section = next(s for s in report.sections if s.key == "heatmaps")
    models = list(tables["metrics"])
    assert {f.key for f in section.figures} == {
        f"heatmap-{m}-{metric}-language-expression_type" for m in models
        for metric in ("recall", "fpr")}
    # Nothing about dimensions the team did not configure.
    text = " ".join(f.text for f in section.findings)
    assert "region" not in text and "risk_category" not in text
    assert not [f for f in section.findings if f.kind in ("missing_cross", "no_cross")]


@pytest.mark.parametrize(("crosses", "kind"), [
    ("[]", "no_cross"), ("[[language,expression_type,content_type]]", "wide_cross"),
    ("[[region,language]]", "missing_cross")])
def test_crosses_without_a_heatmap_say_why_once(world: tuple[Path, dict[str, Any]],
                                                crosses: str, kind: str) -> None:
    """No crosses configured, a cross of three, a cross evaluate has no slices of: one
    finding each (never one per model), no figure."""
    _, tables = world
    report = build_report(tables, config(*WORLD, f"slicing.crosses={crosses}"))
    section = next(s for s in report.sections if s.key == "heatmaps")
    assert [f.kind for f in section.findings if f.kind.endswith("cross")] == [kind]
    assert section.figures == []


def test_weak_spots_follow_the_dimension_whatever_it_is_called(
        world: tuple[Path, dict[str, Any]]) -> None:
    """The same slice table with `expression_type` renamed: the summary names the renamed
    dimension's implicit slice (nothing in the report knows the name)."""
    _, tables = world
    frame = tables["slice_metrics"]
    keys = [tuple(("phrasing" if d == "expression_type" else d, v) for d, v in from_json(k))
            for k in frame["slice_key"]]
    renamed = frame.assign(slice_key=[to_json(k) for k in keys],
                           dimension=frame["dimension"].str.replace("expression_type",
                                                                    "phrasing"))
    cfg = config(*[w.replace("expression_type", "phrasing") for w in WORLD])
    report = build_report({**tables, "slice_metrics": renamed}, cfg)
    line = _summary_line(report.summary, f"{planted()['expression_type']['models'][0]}'s weakest")
    assert "phrasing=implicit " in line


def _slice(key: tuple[tuple[str, str], ...], recall: float, lo: float, hi: float,
           n_pos: int = 400, low: bool = False) -> dict[str, Any]:
    return {"model": "m", "slice_key": to_json(key), "dimension": "&".join(d for d, _ in key)
            or "overall", "recall": recall, "recall_lo": lo, "recall_hi": hi, "n": 2000,
            "n_pos": n_pos, "fpr": np.nan, "fpr_lo": np.nan, "fpr_hi": np.nan,
            "low_support": low}


def test_weak_means_the_whole_interval_is_below_overall() -> None:
    frame = pd.DataFrame([
        _slice((), 0.80, 0.78, 0.82),
        _slice((("a", "x"),), 0.70, 0.66, 0.74),                     # 400 x .06 = 24 misses
        _slice((("a", "y"),), 0.50, 0.20, 0.81),                     # lower, but undecided
        _slice((("b", "z"),), 0.60, 0.40, 0.70, n_pos=100),          # 100 x .10 = 10
        _slice((("b", "w"),), 0.10, 0.01, 0.30, n_pos=5, low=True),  # too few items
        _slice((("a", "x"), ("b", "z")), 0.40, 0.30, 0.50, n_pos=30),  # 30 x .30 = 9
        _slice((("c", "v"),), 0.65, 0.60, 0.70)])                    # not configured
    spots = weak_spots(frame, ["a", "b", "a&b"])
    assert [from_json(k) for k in spots["slice_key"]] == [
        (("a", "x"),), (("b", "z"),), (("a", "x"), ("b", "z"))]
    assert spots["excess"].round(6).tolist() == [24.0, 10.0, 9.0]
    # A cross of a slice already named is not named again among the few the summary names.
    assert spots["named"].tolist() == [True, True, False]
    # FPR the other way round: its lower bound above the overall FPR, on the safe items.
    fpr = pd.DataFrame([_slice((), np.nan, np.nan, np.nan), _slice((("a", "x"),), np.nan,
                                                                   np.nan, np.nan),
                        _slice((("a", "y"),), np.nan, np.nan, np.nan)]).assign(
        fpr=[0.05, 0.10, 0.07], fpr_lo=[0.045, 0.08, 0.04], fpr_hi=[0.055, 0.12, 0.10])
    spots = weak_spots(fpr, ["a"])
    assert spots[["metric", "slice_key", "n"]].values.tolist() == [
        ["fpr", to_json((("a", "x"),)), 1600]]
    assert spots["excess"].round(6).tolist() == [1600 * 0.03]


def test_ids_print_as_text_and_counts_with_separators() -> None:
    assert (cell("item_id", 14647), cell("item_id", np.int64(14647)),
            cell("annotator_id", 7)) == ("14647", "14647", "7")
    assert (cell("n_items", 14647), cell("n", np.int64(14647))) == ("14,647", "14,647")


def test_chinese_catalogue_covers_every_message() -> None:
    """Every English message has its Chinese one (English plurals aside), including each gate
    check kind's description and every status a check or slice can end with."""
    en, zh = _catalogue("en"), _catalogue("zh")
    assert sorted(k for k in en if k not in zh and not k.endswith(".one")) == []
    for kind in CHECK_KINDS:
        assert f"gate.describe.{kind}" in zh, kind
    for status in ("pass", "fail", "insufficient_evidence", "skipped", "warn"):
        assert f"name.{status}" in zh, status
