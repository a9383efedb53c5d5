"""The data contract through the CLI: every bad input gives exit 2 and names file, row, column;
quarantine sets rows aside with their reasons and says how many went where."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli

N = 40


def _world(folder: Path) -> dict[str, Path]:
    """A tiny valid world in a team's own column names and label words."""
    rng = np.random.default_rng(3)
    ids = [f"case-{i}" for i in range(N)]
    label = np.where(np.arange(N) % 4 == 0, "offensive", "clean")
    paths = {"items": folder / "items.csv", "gold": folder / "gold.csv",
             "predictions": folder / "preds.csv"}
    pd.DataFrame({"case_id": ids, "region": rng.choice(["EU", "SEA"], N),
                  "language": rng.choice(["en", "zh"], N)}).to_csv(paths["items"], index=False)
    pd.DataFrame({"case_id": ids, "verdict": label}).to_csv(paths["gold"], index=False)
    pd.DataFrame({"case_id": ids * 2, "system": ["m1"] * N + ["m2"] * N,
                  "prob": np.round(rng.random(2 * N), 4)}).to_csv(paths["predictions"],
                                                                   index=False)
    return paths


def _args(paths: dict[str, Path], *extra: str) -> list[str]:
    return [
        "ingest", f"data.items={paths['items']}", f"data.gold={paths['gold']}",
        f"data.predictions={paths['predictions']}", "data.annotations=null",
        "data.columns.item_id=case_id", "data.columns.label=verdict",
        "data.columns.score=prob", "data.columns.model=system", "mlflow.enabled=false", *extra,
    ]


def _edit(path: Path, change: str) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if change == "drop_label":
        frame = frame.drop(columns="verdict")
    elif change == "unknown_label":
        frame.loc[5, "verdict"] = "maybe"
    elif change == "score_text":
        frame.loc[7, "prob"] = "high"
    elif change == "score_range":
        frame.loc[8, "prob"] = "1.7"
    elif change == "conflict":
        frame = pd.concat([frame, frame.iloc[[3]].assign(verdict="offensive")])
    elif change == "orphan_prediction":
        frame = pd.concat([frame, pd.DataFrame({"case_id": ["case-999"], "system": ["m1"],
                                                "prob": ["0.5"]})])
    elif change == "unscored_gold":
        frame = frame[frame["case_id"] != "case-11"]
    frame.to_csv(path, index=False)


@pytest.mark.parametrize("edited, named, change, row, column, message", [
    ("gold", "gold", "drop_label", None, "verdict", "missing required column 'verdict'"),
    ("gold", "gold", "unknown_label", 7, "label", "unknown label value 'maybe'"),
    ("predictions", "predictions", "score_text", 9, "score", "score is not a number: 'high'"),
    ("predictions", "predictions", "score_range", 10, "score", "score 1.7 is outside [0, 1]"),
    ("gold", "gold", "conflict", 5, "item_id",
     "duplicate item_id 'case-3' with conflicting values"),
    ("predictions", "predictions", "orphan_prediction", 82, "item_id",
     "prediction for an item without gold"),
])
def test_bad_input_exits_2_naming_file_row_column(project: Path, edited: str, named: str,
                                                   change: str, row: int | None, column: str,
                                                   message: str) -> None:
    paths = _world(project)
    _edit(paths[edited], change)
    result = run_cli(*_args(paths))
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"{paths[named]}, " in text
    assert message in text
    assert f"column '{column}'" in text
    if row is not None:
        assert f"{paths[named]}, row {row}," in text
    assert "Traceback" not in result.output


def test_unscored_gold_is_kept_and_counted_or_an_error_when_asked(project: Path) -> None:
    """A gold item no model scored is not an error by default: it stays, each model counts it
    as not scored (notice, coverage table, n_unscored per slice); `data.unscored=error` makes
    it one, naming the file, row and column."""
    paths = _world(project)
    _edit(paths["predictions"], "unscored_gold")
    kept = run_cli(*_args(paths))
    assert kept.exit_code == 0, kept.output
    assert "1 of 40 gold items (2.5%) have no prediction from any model" in kept.output
    assert "m1: scored 39 of 40 gold items (97.5%); 1 not scored" in kept.output
    refused = run_cli(*_args(paths), "data.unscored=error")
    text = " ".join(refused.output.split())
    assert refused.exit_code == 2
    assert f"{paths['gold']}, row 13, column 'item_id': gold item has no prediction" in text


@pytest.mark.parametrize("content, message", [(b"", "empty file"),
                                              (b"\xff\xfe\x00\x00\x81", "unreadable encoding")])
def test_empty_or_unreadable_file_exits_2(project: Path, content: bytes, message: str) -> None:
    paths = _world(project)
    paths["gold"].write_bytes(content)
    result = run_cli(*_args(paths))
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_quarantine_sets_rows_aside_and_counts_them(project: Path) -> None:
    paths = _world(project)
    _edit(paths["predictions"], "score_range")
    result = run_cli(*_args(paths, "data.on_error=quarantine", "data.max_quarantine_share=0.1"))
    assert result.exit_code == 0, result.output
    quarantined = pd.read_csv(project / "outputs/ingest/quarantine/predictions.csv")
    assert quarantined["row"].tolist() == [10]
    assert "outside [0, 1]" in quarantined["problem"].iloc[0]
    summary = json.loads((project / "outputs/ingest/summary.json").read_text())
    assert summary["tables"]["predictions"] == {"rows_read": 2 * N, "accepted": 2 * N - 1,
                                                "quarantined": 1, "duplicates_merged": 0}
    scores = pd.read_parquet(project / "outputs/ingest/scores.parquet")
    assert scores["m1"].isna().sum() + scores["m2"].isna().sum() == 1


def test_quarantine_still_fails_above_the_allowed_share(project: Path) -> None:
    paths = _world(project)
    _edit(paths["predictions"], "score_range")
    result = run_cli(*_args(paths, "data.on_error=quarantine", "data.max_quarantine_share=0.001"))
    assert result.exit_code == 2
    assert "data.max_quarantine_share" in " ".join(result.output.split())


def test_gold_alone_carries_metadata_and_labels_map(project: Path) -> None:
    paths = _world(project)
    items = pd.read_csv(paths["items"])
    gold = pd.read_csv(paths["gold"]).merge(items, on="case_id")
    gold.to_excel(project / "gold.xlsx", index=False)
    result = run_cli("ingest", "data.items=null", f"data.gold={project / 'gold.xlsx'}",
                     f"data.predictions={paths['predictions']}", "data.annotations=null",
                     "data.columns.item_id=case_id", "data.columns.label=verdict",
                     "data.columns.score=prob", "data.columns.model=system",
                     "mlflow.enabled=false")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(project / "outputs/ingest/eval.parquet")
    assert set(table.columns) >= {"item_id", "label", "region", "language"}
    assert table["label"].sum() == (np.arange(N) % 4 == 0).sum()
    assert table["item_id"].tolist() == sorted(table["item_id"])


def test_identical_duplicates_are_merged_and_counted(project: Path) -> None:
    paths = _world(project)
    gold = pd.read_csv(paths["gold"])
    pd.concat([gold, gold.iloc[[2, 3]]]).to_csv(paths["gold"], index=False)
    result = run_cli(*_args(paths))
    assert result.exit_code == 0, result.output
    summary = json.loads((project / "outputs/ingest/summary.json").read_text())
    assert summary["tables"]["gold"]["duplicates_merged"] == 2
    assert summary["gold_items"] == N


@pytest.mark.parametrize("id_kind", ["int", "text"])
def test_wide_scores_align_every_layout_with_the_gold_rows(id_kind: str) -> None:
    """A model listing the gold items in the table's order is taken as it is; shuffled,
    partial and text-id models are looked up: all equal pandas' pivot on the gold rows."""
    from smo_eval.stages.ingest import _wide_scores

    gold = np.array([10, 3, 7, 5, 12])
    aligned = pd.DataFrame({"item_id": gold, "model": "a", "score": [.1, .2, .3, .4, .5]})
    shuffled = pd.DataFrame({"item_id": [7, 10, 12], "model": "b", "score": [.6, .7, .8]})
    partial = pd.DataFrame({"item_id": gold[:4], "model": "c", "score": [.9, .8, .7, .6]})
    predictions = pd.concat([shuffled, aligned, partial], ignore_index=True)
    item_ids = pd.Series(gold)
    if id_kind == "text":
        item_ids = item_ids.map(lambda i: f"item-{i}")
        predictions["item_id"] = predictions["item_id"].map(lambda i: f"item-{i}")
    predictions["score"] = predictions["score"].astype(np.float32)
    got = _wide_scores(item_ids, predictions)
    expected = (predictions.pivot(index="item_id", columns="model", values="score")
                .reindex(item_ids.to_numpy()).reset_index(drop=True))
    expected.columns = [str(c) for c in expected.columns]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_names=False)
    assert list(got.dtypes) == [np.float32] * 3
