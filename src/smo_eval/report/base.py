"""What every section builder shares: the inputs, the messages and table helpers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from smo_eval.report.i18n import Messages, cell
from smo_eval.report.model import Section, Table
from smo_eval.slicekey import display, from_json
from smo_eval.taxonomy import Taxonomy


@dataclass
class Build:
    """Inputs of one report: loaded stage outputs (each optional), config, language."""

    tables: Mapping[str, Any]
    cfg: Mapping[str, Any]
    taxonomy: Taxonomy
    msg: Messages

    def get(self, name: str) -> Any:
        value = self.tables.get(name)
        if isinstance(value, pd.DataFrame) and value.empty:
            return value
        return value

    def has(self, *names: str) -> bool:
        return any(self.tables.get(n) is not None for n in names)

    @property
    def rules(self) -> Mapping[str, Any]:
        return self.cfg.get("rules") or {}

    @property
    def max_rows(self) -> int:
        return int(self.cfg.get("max_rows", 12))

    def t(self, key: str, **values: Any) -> str:
        return self.msg.t(key, **values)


def not_run(build: Build, key: str, stage: str, files: str) -> Section:
    """A section whose stage left no outputs: clearly marked, with how to produce them."""
    return Section(key, build.t(f"section.{key}"), ran=False,
                   note=build.t("not_run", stage=stage, files=files))


def frame_table(build: Build, frame: pd.DataFrame, title: str,
                columns: Sequence[str] | None = None, marks: Sequence[str] | None = None,
                note: str | None = None) -> Table:
    """A stage's table as report rows: its first `max_rows` rows, cells formatted by column."""
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    head = frame.head(build.max_rows)
    rows = [[cell(c, v) for c, v in zip(cols, values, strict=True)]
            for values in head[cols].itertuples(index=False, name=None)]
    extra = len(frame) - len(head)
    more = build.t("more_rows", n=f"{extra:,}") if extra > 0 else None
    joined = " ".join(p for p in (note, more) if p) or None
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


def mask_text(text: Any, cfg: Mapping[str, Any]) -> str:
    """Example text for the page: optionally masked, truncated (escaping is the renderer's)."""
    value = "" if text is None or (isinstance(text, float) and text != text) else str(text)
    if cfg.get("mask"):
        for pattern in cfg.get("mask_patterns") or []:
            value = re.sub(pattern, "▇▇", value)
    limit = int(cfg.get("max_chars", 160))
    return value if len(value) <= limit else value[:limit - 1] + "…"
