"""Message catalogues (en, zh) and number formatting for people.

Every heading, label and sentence of the report comes from `messages/<lang>.yaml`, so a
translation is one file; numbers are formatted here (percentages, thousands separators).
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from smo_eval.errors import ConfigError

LANGS = ("en", "zh")


@cache
def _catalogue(lang: str) -> dict[str, str]:
    text = resources.files("smo_eval.report").joinpath("messages", f"{lang}.yaml").read_text(
        encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


class Messages:
    """`t(key, **values)`: the sentence for `key` in the report's language."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGS:
            raise ConfigError(f"report.lang={lang!r}: supported languages are {list(LANGS)}")
        self.lang = lang
        self._text = _catalogue(lang)

    def t(self, key: str, **values: Any) -> str:
        template = self._text.get(key)
        if template is None:
            template = _catalogue("en").get(key, key)
        return template.format(**values)

    def has(self, key: str) -> bool:
        return key in self._text

    def name(self, value: str) -> str:
        """Display name of a metric, dimension or verdict when the catalogue knows it."""
        return self._text.get(f"name.{value}", value)

    def all(self) -> dict[str, str]:
        return dict(self._text)


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: Any, digits: int = 1) -> str:
    """0.7312 -> 73.1%."""
    return "–" if missing(value) else f"{100 * float(value):.{digits}f}%"


def pp(value: Any) -> str:
    """A difference of ratios in percentage points: -0.123 -> -12.3 pp."""
    return "–" if missing(value) else f"{100 * float(value):+.1f} pp"


def count(value: Any) -> str:
    """12345 -> 12,345."""
    return "–" if missing(value) else f"{round(float(value)):,}"


def num(value: Any, digits: int = 3) -> str:
    if missing(value):
        return "–"
    number = float(value)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.{digits}g}" if abs(number) < 1e-3 and number != 0 else f"{number:.{digits}f}"


def interval(lo: Any, hi: Any, fmt: Any = pct) -> str:
    return "–" if missing(lo) or missing(hi) else f"[{fmt(lo)}, {fmt(hi)}]"


def identifier(column: str) -> bool:
    """An id column (`item_id`, `annotator_id`): its numbers name things, they count nothing."""
    name = column.lower()
    return name == "id" or name.endswith("_id")


def cell(column: str, value: Any) -> str:
    """Format a cell of a stage's table by its column name (ratios, counts, p-values, text).

    Ids are text: item 14647 prints as `14647`, never `14,647`."""
    if missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "✓" if value else ""
    if not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    if identifier(column):
        return str(int(value)) if float(value).is_integer() else str(value)
    name = column.lower()
    if name.startswith(("p_", "p-")) or name in ("p_value", "p_adjusted", "pvalue"):
        return f"{float(value):.2g}"
    if name in ("n", "n_pos", "count", "support", "rank") or name.startswith(
            ("n_", "count", "num_", "ref_count", "cur_count")) or name.endswith(
            ("_count", "_items", "_n")):
        return count(value)
    if any(word in name for word in ("recall", "precision", "fpr", "rate", "share",
                                     "accuracy", "f1", "coverage", "prevalence")):
        return pct(value)
    if isinstance(value, int | np.integer):
        return count(value)
    return num(value)
