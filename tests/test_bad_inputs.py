"""The bad-input corpus through the real CLI: each careless or hostile input ends with its exit
code and a message naming the file, the row (header = row 1) and the column, never a traceback.

Tiny cases live in tests/data/bad_inputs/ (valid gold.csv and predictions.csv beside them);
large or binary ones (a NUL past the first 64 KB, Parquet types, an unreadable file) are
written here. Each case lists what the output must say, word for word.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli

CORPUS = ROOT / "tests" / "data" / "bad_inputs"
Build = Callable[[Path], tuple[dict[str, Path], list[str]]]


def _ingest(gold: Path, predictions: Path, *extra: str) -> tuple[int, str]:
    """Run `smo-eval ingest` on two files (paths quoted: Hydra reads '[' as a list)."""
    result = run_cli("ingest", f'data.gold="{gold}"', f'data.predictions="{predictions}"',
                     "data.items=null", "data.annotations=null", "mlflow.enabled=false", *extra)
    return result.exit_code, " ".join(result.output.split())


def _corpus(gold: str = "gold.csv", predictions: str = "predictions.csv",
            *extra: str) -> Build:
    def build(_: Path) -> tuple[dict[str, Path], list[str]]:
        return {"gold": CORPUS / gold, "predictions": CORPUS / predictions}, list(extra)
    return build


def _nul_after_64kb(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """1,500 rows of long text; row 1,402 (item t1400) holds a NUL far past the first 64 KB."""
    ids = [f"t{i}" for i in range(1500)]
    text = [f"评论 {i} " + "正常内容" * 12 for i in range(1500)]
    text[1400] = "cut here\x00and the rest is lost"
    gold = folder / "gold_nul.csv"
    pd.DataFrame({"item_id": ids, "label": "0", "text": text}).to_csv(gold, index=False)
    assert gold.read_bytes().index(b"\x00") > 65536
    preds = folder / "predictions.csv"
    pd.DataFrame({"item_id": ids, "model": "m1", "score": 0.5}).to_csv(preds, index=False)
    return {"gold": gold, "predictions": preds}, []


def _parquet_scores(values: object) -> Build:
    def build(folder: Path) -> tuple[dict[str, Path], list[str]]:
        preds = folder / "scores.parquet"
        pd.DataFrame({"item_id": [f"a{i}" for i in range(1, 7)], "model": "m1",
                      "score": values}).to_parquet(preds)
        return {"gold": CORPUS / "gold.csv", "predictions": preds}, []
    return build


def _percentages(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """1,200 predictions in percent: the cause must lead, not 1,200 gold items left unscored."""
    ids = [f"p{i}" for i in range(1200)]
    gold, preds = folder / "gold.csv", folder / "predictions.csv"
    pd.DataFrame({"item_id": ids, "label": np.arange(1200) % 2}).to_csv(gold, index=False)
    score = np.round(np.linspace(1.5, 99.5, 1200), 1)
    pd.DataFrame({"item_id": ids, "model": "m1", "score": score}).to_csv(preds, index=False)
    return {"gold": gold, "predictions": preds}, []


def _duplicate_header_xlsx(folder: Path) -> tuple[dict[str, Path], list[str]]:
    gold = folder / "gold.xlsx"
    frame = pd.read_csv(CORPUS / "gold.csv", dtype=str)
    frame.insert(3, "item_id ", frame["item_id"])  # trimmed, it repeats column 1
    frame.to_excel(gold, index=False)
    return {"gold": gold, "predictions": CORPUS / "predictions.csv"}, []


# case id, build, exit code, file named, row named (None: whole column/file), column, words
CASES = [
    ("nul_after_64kb", _nul_after_64kb, 2, "gold_nul.csv", 1402, "text",
     "control character in the value 'cut here\\x00and the rest is lost'"),
    ("control_character", _corpus("control_character.csv"), 2, "control_character.csv", 4,
     "text", "control character in the value 'hel\\x1blo'"),
    ("mapping_to_missing_column", _corpus("gold.csv", "predictions.csv",
                                          "data.columns.text=no_such_column"),
     2, "config data.columns.text", None, None,
     "names column 'no_such_column', which none of the input files has"),
    ("table_mapping_to_missing_column", _corpus("gold.csv", "predictions.csv",
                                                "+data.table_columns.gold.text=remark"),
     2, "config data.table_columns.gold.text", None, None,
     "names column 'remark', which"),
    ("required_mapping_to_missing_column", _corpus("gold.csv", "predictions.csv",
                                                   "data.columns.label=verdict"),
     2, "config data.columns.label", None, None, "names column 'verdict'"),
    ("mapping_onto_taken_name_bad_values", _corpus("gold.csv", "predictions.csv",
                                                   "data.columns.label=text"),
     2, "gold.csv", None, "label",
     "left out: the column mapping gives its name to column 'text'"),
    ("duplicate_header", _corpus("duplicate_header.csv"), 2, "duplicate_header.csv", None,
     "label", "column name repeated in the header: columns 2 (B) and 3 (C)"),
    ("duplicate_header_xlsx", _duplicate_header_xlsx, 2, "gold.xlsx", None, "item_id",
     "column name repeated in the header: columns 1 (A) and 4 (D)"),
    ("boolean_parquet_score", _parquet_scores([True, False, True, True, False, False]), 2,
     "scores.parquet", None, "score", "holds true/false values (stored as bool"),
    ("text_parquet_score", _parquet_scores(["0.9", "0.1", "0.2", "0.8", "0.1", "0.4"]), 2,
     "scores.parquet", None, "score", "holds text (stored as object"),
    ("datetime_parquet_score", _parquet_scores(pd.date_range("2024-01-01", periods=6)), 2,
     "scores.parquet", None, "score", "holds dates/times"),
    ("unclosed_quote", _corpus("unclosed_quote.csv"), 2, "unclosed_quote.csv", 5, None,
     "a quote opens in this row and is never closed"),
    ("percent_scores", _percentages, 2, "predictions.csv", None, "score",
     "1,200 of 1,200 values outside [0, 1] (looks like percentages 0–100: divide by 100)"),
    ("timestamp_text_scores", _corpus("gold.csv", "timestamp_scores.csv"), 2,
     "timestamp_scores.csv", None, "score",
     "6 of 6 values not numbers (looks like dates/times: is data.columns.score mapped"),
    ("epoch_scores", _corpus("gold.csv", "epoch_scores.csv"), 2, "epoch_scores.csv", None,
     "score", "6 of 6 values outside [0, 1] (looks like timestamps"),
    ("bracket_label", _corpus("bracket_label.csv"), 2, "bracket_label.csv", 4, "label",
     "unknown label value '[/x]'"),
    ("bracket_header", _corpus("bracket_header.csv"), 2, "bracket_header.csv", None, "label",
     "missing required column 'label' (gold table needs item_id, label; found item_id, [/x], "
     "text)"),
    ("bracket_model", _corpus("gold.csv", "bracket_model.csv"), 2, "bracket_model.csv", 8,
     "item_id", "duplicate item_id/model 'a1|[/x]' with conflicting values"),
    ("bracket_file_name", _corpus("gold[bold].csv"), 2, "gold[bold].csv", 3, "label",
     "unknown label value 'maybe'"),
    # Configuration values are checked by type and range when loaded, with the full key.
    ("threshold_above_one", _corpus("gold.csv", "predictions.csv", "evaluate.threshold=1.5"),
     2, "configuration error", None, None, "evaluate.threshold=1.5: must be in [0, 1]"),
    ("threshold_not_a_number", _corpus("gold.csv", "predictions.csv",
                                       "evaluate.threshold=high"),
     2, "configuration error", None, None,
     "evaluate.threshold=high: Value 'high' of type 'str' could not be converted to Float"),
    ("threshold_nan", _corpus("gold.csv", "predictions.csv", "evaluate.threshold=nan"),
     2, "configuration error", None, None, "evaluate.threshold=nan: must be in [0, 1]"),
    ("model_threshold_negative", _corpus("gold.csv", "predictions.csv",
                                         "evaluate.thresholds.m1=-0.2"),
     2, "configuration error", None, None, "evaluate.thresholds.m1=-0.2: must be in [0, 1]"),
    ("mlflow_timeout_infinite", _corpus("gold.csv", "predictions.csv", "mlflow.timeout=inf"),
     2, "configuration error", None, None, "mlflow.timeout=inf: must be in [0.5, 600]"),
]


@pytest.mark.parametrize("build, exit_code, file, row, column, words",
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_input_names_file_row_column(project: Path, build: Build, exit_code: int,
                                         file: str, row: int | None, column: str | None,
                                         words: str) -> None:
    paths, extra = build(project)
    code, text = _ingest(paths["gold"], paths["predictions"], *extra)
    assert code == exit_code, text
    where = file if file.startswith("config") else next(
        str(p) for p in paths.values() if p.name == file)
    location = ", ".join([where] + ([f"row {row}"] if row is not None else [])
                         + ([f"column '{column}'"] if column is not None else []))
    assert f"error: {location}: " in text or f" {location}: " in text, text
    assert words in text, text
    assert "Traceback" not in text and "unexpected" not in text


def test_percentages_lead_with_the_cause_and_count_follow_ons(project: Path) -> None:
    """The cause is the first line; 1,200 unscored gold items are one follow-on line after it."""
    paths, _ = _percentages(project)
    code, text = _ingest(paths["gold"], paths["predictions"])
    assert code == 2
    first = text.split("error: ", 1)[1]
    assert first.startswith(f"{paths['predictions']}, column 'score': 1,200 of 1,200 values "
                            "outside [0, 1]")
    assert "rows 2, 3, 4, 5, 6, ...; first: score 1.5 is outside [0, 1]" in text
    assert (f"follow-on: {paths['gold']}, column 'item_id': 1,200 of 1,200 rows: gold item has "
            "no prediction left: its prediction rows were rejected") in text
    assert text.index("follow-on") > text.index("values outside [0, 1]")
    assert "more problem(s)" not in text  # two lines stand for all 2,400 problems


def test_more_problems_count_is_the_true_total(project: Path) -> None:
    """24 one-row causes in 3-row groups and 21 follow-ons: 18 cause lines, '... and 6 more
    problem(s)' (the hidden causes, counted), then two follow-on lines with their counts.
    (Gold items no model scored are kept and counted, not causes: data.unscored=keep.)"""
    ids = [f"g{i}" for i in range(40)]
    gold = pd.DataFrame({"item_id": ids, "label": "0", "labeled_at": "2024-01-01"})
    gold.loc[1:3, "label"] = ""             # rows 3-5: label missing
    gold.loc[4:6, "label"] = "maybe"        # rows 6-8: unknown label
    gold.loc[7:9, "labeled_at"] = "someday"  # rows 9-11: not a date
    preds = pd.DataFrame({"item_id": ids, "model": "m1", "score": "0.5"})
    preds.loc[10:12, "score"] = ""          # score missing
    preds.loc[13:15, "score"] = "high"      # not a number
    preds.loc[16:18, "score"] = "1.5"       # outside [0, 1]
    preds.loc[19:21, "model"] = ""          # model missing
    preds.loc[22:24, "item_id"] = ""        # item_id missing: g22-g24 then have no prediction
    gold.to_csv(project / "gold.csv", index=False)
    preds.to_csv(project / "predictions.csv", index=False)
    code, text = _ingest(project / "gold.csv", project / "predictions.csv")
    assert code == 2
    # Causes: 9 in gold's values + 15 in predictions' values.
    assert text.count(f"{project / 'gold.csv'}, row ") == 9  # 18 shown: 9 gold + 9 preds
    assert text.count(f"{project / 'predictions.csv'}, row ") == 9
    assert "... and 6 more problem(s)" in text
    assert (f"follow-on: {project / 'gold.csv'}, column 'item_id': 12 of 40 rows: gold item has "
            "no prediction left") in text
    assert (f"follow-on: {project / 'predictions.csv'}, column 'item_id': 9 of 40 rows: "
            "prediction for an item whose gold row was rejected") in text


def test_mapping_onto_a_taken_name_uses_the_mapped_column(project: Path) -> None:
    """gold has 'label' (junk) and 'verdict'; data.columns.label=verdict: verdict wins, the
    file's own 'label' column is left out with a notice naming it."""
    code, text = _ingest(CORPUS / "mapped_name_taken.csv", CORPUS / "predictions.csv",
                         "data.columns.label=verdict")
    assert code == 0, text
    assert (f"notice: {CORPUS / 'mapped_name_taken.csv'}, column 'label': left out: the column "
            "mapping gives its name to column 'verdict'") in text
    table = pd.read_parquet(project / "outputs/ingest/eval.parquet")
    assert table["label"].tolist() == [1, 0, 0, 1, 0, 0]


@contextlib.contextmanager
def _as_nobody() -> Iterator[None]:
    """Root reads every file whatever its mode: drop to the 'nobody' user for the call."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_unreadable_file_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file without read permission: exit 2 naming the file (was 'unexpected
    PermissionError' through the catch-all)."""
    import smo_eval.cli  # noqa: F401  (imported before the user changes)

    folder = Path(tempfile.mkdtemp(prefix="smo-eval-perm-"))
    try:
        folder.chmod(0o755)
        shutil.copytree(ROOT / "conf", folder / "conf")
        monkeypatch.chdir(folder)
        monkeypatch.delenv("SMO_EVAL_CONF_DIR", raising=False)
        gold = folder / "gold.csv"
        shutil.copy(CORPUS / "gold.csv", gold)
        gold.chmod(0)
        with _as_nobody():
            code, text = _ingest(gold, CORPUS / "predictions.csv")
        assert code == 2, text
        assert f"error: {gold}: cannot read the file: Permission denied" in text
        assert "Traceback" not in text and "unexpected" not in text
    finally:
        shutil.rmtree(folder)


def test_cases_add_names_the_gold_file(project: Path) -> None:
    """A scenario column the gold file lacks: the message names the file first (it named
    only the setting)."""
    gold = CORPUS / "gold.csv"
    for command in ("add", "check"):
        result = run_cli("cases", command, "--file", str(gold),
                         "labels.cases.scenario=[functionality]", "mlflow.enabled=false")
        text = " ".join(result.output.split())
        assert result.exit_code == 2, text
        assert (f"error: {gold}: labels.cases.scenario names columns ['functionality'] the "
                "gold table lacks; it has item_id, label, text") in text
        assert "Traceback" not in text and "unexpected" not in text


def test_valid_corpus_files_ingest(project: Path) -> None:
    """The corpus's own gold and predictions are valid: each case breaks exactly one thing."""
    code, text = _ingest(CORPUS / "gold.csv", CORPUS / "predictions.csv")
    assert code == 0, text
    summary = json.loads((project / "outputs/ingest/summary.json").read_text())
    assert summary["gold_items"] == 6


def test_console_prints_data_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Labels, column names, model and file names with square brackets (rich markup) and emoji
    codes print literally, in tables, notices, errors and progress labels."""
    from rich.console import Console

    from smo_eval import console

    out = Console(record=True, width=200, highlight=False)
    monkeypatch.setattr(console, "err_console", out)
    frame = pd.DataFrame({"model [/x]": ["[bold]m1", "m2:smile:"], "recall": [0.5, 0.25]})
    out.print(console.table("Models in gold[bold].csv [/x]", frame, {"recall": "ratio"}))
    console.notices(["gold[bold].csv: column '[/x]' left out"])
    console.error("gold[bold].csv, row 3, column 'label': unknown label value '[/red]'")
    with console.progress("read [/x]", total=1) as step:
        step("gold[bold].csv")
    text = " ".join(out.export_text().split())  # the title wraps at the width of the table
    for literal in ("Models in gold[bold].csv [/x]", "model [/x]", "[bold]m1", "m2:smile:",
                    "50.0%", "notice: gold[bold].csv: column '[/x]' left out",
                    "error: gold[bold].csv, row 3, column 'label': unknown label value '[/red]'"):
        assert literal in text, text
