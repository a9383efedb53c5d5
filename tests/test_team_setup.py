"""Setting a team up: init's guesses, the taxonomy from a table, settings listed with their
help, per-command help with an example, and review-ready workbooks."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from smo_eval import __version__
from smo_eval.io.excel import DECISIONS, write_review_xlsx
from tests.cli_helpers import invoke
from tests.team_data import write_team_files


def test_init_proposes_the_mapping_and_refuses_to_overwrite(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.chdir(tmp_path)
    files = write_team_files(tmp_path, n=2000)
    invoke("init", files["gold"].name, files["predictions"].name)
    cfg = yaml.safe_load(Path("smo-eval.yaml").read_text(encoding="utf-8"))
    assert cfg["data"]["columns"] == {"item_id": "内容ID", "label": "是否违规", "text": "文本",
                                      "risk_category": "违规类型"}
    assert cfg["data"]["table_columns"]["predictions"] == {
        "item_id": "content_id", "score": "prob", "model": "system"}
    assert cfg["data"]["labels"] == {"positive": ["违规"], "negative": ["正常"]}
    assert cfg["slicing"]["dimensions"] == ["risk_category", "渠道", "语言"]
    assert set(cfg["taxonomy"]["categories"]) == {"武器", "赌博", "诈骗"}
    assert cfg["taxonomy"]["safe_category"] == "正常"
    assert cfg["compare"] == {"baseline": "prod-2026-10",
                              "candidates": ["cand-2026-11", "rules-engine"]}
    assert cfg["gate"]["checks"]["渠道_recall"]["slices"] == ["渠道=*"]
    refused = invoke("init", files["gold"].name, code=2)
    assert "exists" in refused and "--force" in refused


def test_taxonomy_import_replaces_the_block_and_keeps_the_rest(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.chdir(tmp_path)
    files = write_team_files(tmp_path, n=2000)
    invoke("init", files["gold"].name, files["predictions"].name)
    pd.DataFrame({"类别": ["武器", "赌博", "诈骗"], "父类": ["暴力", "违禁", "欺诈"],
                  "严重程度": [1, 2, 2], "目标召回率": ["90%", "0.85", "0.8"],
                  "最大误报率": [0.01, 0.02, None]}).to_excel("policies.xlsx", index=False)
    invoke("taxonomy", "import", "policies.xlsx")
    text = Path("smo-eval.yaml").read_text(encoding="utf-8")
    assert "# Every smo-eval command reads this file" in text       # comments kept
    cfg = yaml.safe_load(text)
    assert cfg["taxonomy"]["categories"]["武器"] == {"parent": "暴力", "severity": 1,
                                                     "target_recall": 0.9, "max_fpr": 0.01}
    assert cfg["taxonomy"]["safe_category"] == "正常"
    assert cfg["gate"]["name"] == "team"
    shown = invoke("config", "show", "taxonomy")
    assert "武器" in shown
    pd.DataFrame({"category": ["x"], "severity": ["high"]}).to_csv("bad.csv", index=False)
    bad = invoke("taxonomy", "import", "bad.csv", code=2)
    assert "bad.csv, row 2, column 'severity': not a number: 'high'" in " ".join(bad.split())


def test_config_show_lists_every_setting_with_default_and_help(project: Path) -> None:
    shown = invoke("config", "show", "evaluate", "evaluate.threshold=0.6")
    assert "evaluate.threshold" in shown and "0.6" in shown and "Decision threshold" in shown
    assert "gate.min_support" not in shown
    assert "no setting 'evalute'" in invoke("config", "show", "evalute", code=2)


def test_version_and_per_command_help_with_an_example() -> None:
    assert invoke("--version").strip() == f"smo-eval {__version__}"
    for command in ("evaluate", "gate", "compare", "init", "report"):
        assert "Example: smo-eval" in invoke(command, "--help")


def test_review_workbook_is_ready_to_filter_read_and_decide_in(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "item_id": ["a1", "a2", "a3"], "score": [0.123456789, 0.5, 0.987654321],
        "error_rate": [0.25, 0.5, 0.125],
        "text": ["短文本", "x" * 400, "=HYPERLINK(\"http://evil\",\"click\")"],
        "note": ["+1 from QA", "-cmd", "@SUM(A1:A2)"]})
    target = write_review_xlsx(frame, tmp_path / "queue.xlsx")
    sheet = openpyxl.load_workbook(target).active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1")
    header = [c.value for c in sheet[1]]
    assert header == ["item_id", "score", "error_rate", "text", "note", "decision", "comment"]
    widths = {sheet.cell(1, j + 1).column_letter: sheet.column_dimensions[
        sheet.cell(1, j + 1).column_letter].width for j in range(len(header))}
    assert widths["D"] <= 52 and widths["A"] >= 8            # long text capped, wrapped
    assert sheet["B2"].number_format == "0.000" and sheet["C2"].number_format == "0.0%"
    assert sheet["D4"].data_type == "s" and sheet["D4"].value.startswith("=HYPERLINK")
    assert all(sheet[f"E{r}"].data_type == "s" for r in (2, 3, 4))
    validations = sheet.data_validations.dataValidation
    assert len(validations) == 1 and "F2:F4" in str(validations[0].sqref)
    assert all(d in validations[0].formula1 for d in DECISIONS)
