"""`smo-eval taxonomy import policies.csv|xlsx`: a team's risk taxonomy from a table.

Columns (English or Chinese headers): category (类别), parent (父类), severity (严重程度),
target_recall (目标召回率), max_fpr (最大误报率). The result replaces the `taxonomy:` block of
smo-eval.yaml (the rest of the file, comments included, is kept as it is).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml

from smo_eval.errors import ContractError, RowProblem

HEADERS = {
    "category": r"^(category|name|policy|risk_category|类别|类型|政策|风险类别)$",
    "parent": r"^(parent|group|parent_category|父类|上级|大类)$",
    "severity": r"^(severity|tier|level|严重程度|等级|级别)$",
    "target_recall": r"^(target_recall|recall_target|目标召回率|召回率目标)$",
    "max_fpr": r"^(max_fpr|fpr_max|最大误报率|误报率上限)$",
}


def read_taxonomy(frame: pd.DataFrame, path: str) -> dict[str, dict[str, object]]:
    """category -> {parent, severity, target_recall, max_fpr}; every bad cell named."""
    found = {}
    for canonical, pattern in HEADERS.items():
        found[canonical] = next((c for c in frame.columns
                                 if re.match(pattern, str(c).strip(), re.IGNORECASE)), None)
    if found["category"] is None:
        raise ContractError([RowProblem(path, None, None, "no category column (category / "
                                        f"类别); columns: {list(map(str, frame.columns))}")])
    out: dict[str, dict[str, object]] = {}
    problems = []
    for i, row in frame.iterrows():
        excel_row = int(str(i)) + 2
        name = str(row[found["category"]]).strip()
        if not name or name == "nan":
            problems.append(RowProblem(path, excel_row, found["category"], "empty category"))
            continue
        spec: dict[str, object] = {}
        if found["parent"] and pd.notna(row[found["parent"]]) and str(row[found["parent"]]):
            spec["parent"] = str(row[found["parent"]]).strip()
        for key, kind in (("severity", int), ("target_recall", float), ("max_fpr", float)):
            column = found[key]
            if column is None or pd.isna(row[column]) or str(row[column]).strip() == "":
                continue
            try:
                value = kind(float(str(row[column]).strip().rstrip("%"))
                             / (100 if str(row[column]).strip().endswith("%") else 1))
            except ValueError:
                problems.append(RowProblem(path, excel_row, column,
                                           f"not a number: '{row[column]}'"))
                continue
            if key != "severity" and not 0 <= float(value) <= 1:
                problems.append(RowProblem(path, excel_row, column,
                                           f"{value} is outside [0, 1]"))
                continue
            spec[key] = value
        out[name] = spec
    if problems:
        raise ContractError(problems)
    return out


def replace_block(text: str, categories: dict[str, dict[str, object]], source: str) -> str:
    """The config text with its top-level `taxonomy:` block replaced (or appended)."""
    block = [f"taxonomy:   # imported from {source}", "  categories:"]
    for name, spec in categories.items():
        body = yaml.safe_dump(spec, allow_unicode=True, default_flow_style=True,
                              width=10_000).strip() if spec else "{}"
        key = yaml.safe_dump(name, allow_unicode=True, width=10_000).strip().removesuffix(
            "...").strip()
        block.append(f"    {key}: {body}")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^taxonomy:", line)), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + "\n".join(block) + "\n"
    end = next((j for j in range(start + 1, len(lines))
                if lines[j] and not lines[j].startswith((" ", "#"))), len(lines))
    safe = [line for line in lines[start:end] if line.strip().startswith("safe_category")]
    return "\n".join([*lines[:start], block[0], *safe, *block[1:], "", *lines[end:]]).rstrip(
        "\n") + "\n"


def write(config_file: Path, categories: dict[str, dict[str, object]], source: str) -> None:
    text = config_file.read_text(encoding="utf-8") if config_file.is_file() else ""
    config_file.write_text(replace_block(text, categories, source), encoding="utf-8")
