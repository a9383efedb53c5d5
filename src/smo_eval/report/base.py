"""What every section builder shares: the inputs, the messages and table helpers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from smo_eval.config.schema import Config
from smo_eval.config.schema_report import ExamplesConfig, ReportConfig, RulesConfig
from smo_eval.report.i18n import Messages, cell
from smo_eval.report.model import Section, Table
from smo_eval.slicekey import OVERALL, display, from_json
from smo_eval.taxonomy import Taxonomy

# Columns whose values are words of the tool (error kinds, verdicts, statuses, root causes,
# methods) or column names (`language`, `surface`): shown in the report's language where the
# catalogue has a name for them. Every other text cell is data and shown as it is.
WORD_COLUMNS = frozenset({"error", "verdict", "status", "root_cause", "reason", "kind",
                          "subset", "metric", "method", "source", "operating_point", "column",
                          "feature"})


@dataclass
class Build:
    """Inputs of one report: loaded stage outputs (each optional), the typed configuration
    (the report's settings, the team's slicing, the gate's checks), taxonomy and language."""

    tables: Mapping[str, Any]
    config: Config
    taxonomy: Taxonomy
    msg: Messages

    def get(self, name: str) -> Any:
        return self.tables.get(name)

    def has(self, *names: str) -> bool:
        return any(self.tables.get(n) is not None for n in names)

    @property
    def cfg(self) -> ReportConfig:
        return self.config.report

    @property
    def rules(self) -> RulesConfig:
        return self.config.report.rules

    @property
    def max_rows(self) -> int:
        return self.config.report.max_rows

    def t(self, key: str, **values: Any) -> str:
        return self.msg.t(key, **values)


def not_run(build: Build, key: str, stage: str, files: str) -> Section:
    """A section whose stage left no outputs: clearly marked, with how to produce them."""
    return Section(key, build.t(f"section.{key}"), ran=False,
                   note=build.t("not_run", stage=stage, files=files))


def frame_table(build: Build, frame: pd.DataFrame, title: str, columns: Sequence[str],
                marks: Sequence[str] | None = None, note: str | None = None,
                more: str = "more_rows") -> Table:
    """A stage's table as report rows: its first `max_rows` rows, the named columns (those it
    has), headers and tool words in the report's language, cells formatted by column, the
    `slice` column in the one display form (from `slice_key` when the table has it).

    `more` is the message saying how many rows were left out (`more_rows`: the stage's file
    holds them; `more_rows_here`: a table the report derived)."""
    cols = [c for c in columns if c in frame.columns]
    head = frame.head(build.max_rows)
    rows = []
    for record in head.to_dict("records"):
        row = []
        for c in cols:
            value = record[c]
            if c == "slice":
                row.append(slice_label(build, record.get("slice_key", "[]"))
                           if "slice_key" in record or value == OVERALL else str(value))
            elif c in WORD_COLUMNS and isinstance(value, str):
                row.append(build.msg.name(value))
            else:
                row.append(cell(c, value))
        rows.append(row)
    extra = len(frame) - len(head)
    left = build.t(more, n=f"{extra:,}") if extra > 0 else None
    joined = " ".join(p for p in (note, left) if p) or None
    return Table(title, [build.msg.name(c) for c in cols], rows,
                 list(marks or [])[:len(rows)], joined)


def slice_label(build: Build, key: Any) -> str:
    """A slice as the report shows it: the one display form (`region=SEA&language=zh`, as in
    every CSV), `overall` in the report's language. Takes a key, its JSON (`slice_key`) or
    the pairs list of gate.json."""
    if isinstance(key, str):
        key = from_json(key) if key.startswith("[") else None
    elif isinstance(key, list):
        key = tuple((str(d), str(v)) for d, v in key)
    if key is None:
        return "–"
    return display(key) if key else build.msg.name("overall")


def join(build: Build, parts: Sequence[str]) -> str:
    """A list in running text: `a, b, c` (`a、b、c` in Chinese)."""
    return ("、" if build.msg.lang == "zh" else ", ").join(parts)


def mask_text(text: Any, examples: ExamplesConfig) -> str:
    """Example text for the page: optionally masked, truncated (escaping is the renderer's)."""
    value = "" if text is None or (isinstance(text, float) and text != text) else str(text)
    if examples.mask:
        for pattern in examples.mask_patterns:
            value = re.sub(pattern, "▇▇", value)
    limit = examples.max_chars
    return value if len(value) <= limit else value[:limit - 1] + "…"

