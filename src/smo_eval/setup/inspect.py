"""What a team's files hold: which file is gold, predictions, items or annotations, and which
column is the id, the label, the score, the model, the category, the text, a time or a slice
dimension — guessed from headers (English and Chinese) and from the values themselves.

Every guess is a proposal a person checks: `smo-eval init` writes them into smo-eval.yaml
with the evidence beside each line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from smo_eval.config.schema_data import NEGATIVE_LABELS, POSITIVE_LABELS

NAME_HINTS = {
    "item_id": (r"(^|_)(item|case|content|post|doc|sample|msg|message)?_?id$|编号|^id$"
                r"|内容id|样本id"),
    "label": r"label|verdict|gold|decision|judg|是否违规|标签|结论|判定|人工",
    "score": r"score|prob|confidence|logit|分数|概率|置信",
    "model": r"model|system|version|classifier|模型|版本",
    "risk_category": r"categor|policy|risk|violation_type|类别|类型|风险|政策",
    "text": r"text|content|body|comment|message|文本|内容|正文",
    "created_at": r"created|posted|publish|timestamp|date|time|发布|创建|时间|日期",
    "labeled_at": r"label(l)?ed_at|review(ed)?_at|审核时间|标注时间",
    "annotator_id": r"annotator|rater|labeler|worker|标注员",
    "reviewer": r"reviewer|auditor|qa|审核员|质检",
}
POSITIVE_WORDS = {*POSITIVE_LABELS, "违规", "违规内容", "有害", "是", "命中", "1.0", "y"}
NEGATIVE_WORDS = {*NEGATIVE_LABELS, "正常", "无害", "否", "未命中", "合规", "0.0", "n", "ok",
                  "pass", "normal", "none"}
MAX_DIMENSION_VALUES = 60


@dataclass
class Column:
    name: str
    dtype: str
    distinct: int
    missing: float
    unique: bool
    numeric_01: bool       # numbers, all within [0, 1]
    hard_01: bool          # only the values 0 and 1
    datetime: bool
    mean_length: float
    values: list[str] = field(default_factory=list)   # the most common values

    def hint(self, role: str) -> bool:
        return re.search(NAME_HINTS[role], self.name, flags=re.IGNORECASE) is not None


@dataclass
class FileFacts:
    path: Path
    rows: int
    encoding: str | None
    columns: dict[str, Column]
    role: str = "unknown"
    mapping: dict[str, str] = field(default_factory=dict)   # canonical -> source column
    notes: dict[str, str] = field(default_factory=dict)     # canonical -> why


def describe(path: Path, frame: pd.DataFrame, encoding: str | None) -> FileFacts:
    """The facts the guesses need, from one pass over each column."""
    columns = {}
    for name in frame.columns:
        series = frame[name]
        text = series.astype("string")
        numbers = pd.to_numeric(series, errors="coerce")
        filled = series.notna() & text.str.strip().ne("")
        numeric = bool(filled.any()) and bool(numbers[filled].notna().all())
        in01 = numeric and bool(numbers[filled].between(0, 1).all())
        distinct = int(text[filled].nunique())
        stamps = pd.Series(dtype="datetime64[ns]")
        if not numeric and distinct > 1:
            stamps = pd.to_datetime(text[filled].head(500), errors="coerce", format="mixed")
        columns[str(name)] = Column(
            name=str(name), dtype=str(series.dtype), distinct=distinct,
            missing=float(1 - filled.mean()) if len(series) else 1.0,
            unique=distinct == int(filled.sum()) and distinct > 0,
            numeric_01=in01, hard_01=in01 and set(numbers[filled].unique()) <= {0.0, 1.0},
            datetime=bool(len(stamps)) and bool(stamps.notna().mean() > 0.9),
            mean_length=float(text[filled].str.len().mean()) if filled.any() else 0.0,
            values=[str(v) for v in text[filled].value_counts().head(MAX_DIMENSION_VALUES).index])
    return FileFacts(path, len(frame), encoding, columns)


def _best(candidates: list[Column], role: str) -> Column | None:
    named = [c for c in candidates if c.hint(role)]
    chosen = named or candidates
    return chosen[0] if chosen else None


def guess_id(facts: FileFacts, others: list[FileFacts]) -> Column | None:
    """The join key: the column whose values other files share most, a unique `*id` column
    else."""
    best, best_overlap = None, 0.0
    for column in facts.columns.values():
        values = set(column.values[:MAX_DIMENSION_VALUES])
        for other in others:
            for theirs in other.columns.values():
                overlap = len(values & set(theirs.values)) / max(len(values), 1)
                if overlap > best_overlap and column.distinct > MAX_DIMENSION_VALUES // 2:
                    best, best_overlap = column, overlap
    if best is not None and best_overlap >= 0.5:
        return best
    unique = [c for c in facts.columns.values() if c.unique and not c.numeric_01]
    return _best(unique, "item_id") or _best(list(facts.columns.values()), "item_id")


def classify(facts: FileFacts) -> str:
    """predictions (a score in [0, 1] and a model column), annotations (an annotator column),
    gold (a two-valued label), items (text and metadata)."""
    cols = list(facts.columns.values())
    scores = [c for c in cols if c.numeric_01 and (c.distinct > 2 or c.hint("score"))]
    hard = [c for c in cols if c.hard_01 and c.hint("score")]
    if (scores or hard) and any(c.hint("model") for c in cols):
        return "predictions"
    if any(c.hint("annotator_id") for c in cols):
        return "annotations"
    if any(2 <= c.distinct <= 3 and (c.hint("label") or _labelish(c)) for c in cols):
        return "gold"
    if scores or hard:
        return "predictions"
    return "items"


def _labelish(column: Column) -> bool:
    values = {v.strip().lower() for v in column.values}
    return bool(values & POSITIVE_WORDS) and bool(values & NEGATIVE_WORDS)


def label_values(column: Column) -> tuple[list[str], list[str], bool]:
    """Which values mean violating and which safe; `sure` is False when it was guessed from
    frequency (the rarer value taken as violating) and must be checked."""
    values = [v for v in column.values]
    positive = [v for v in values if v.strip().lower() in POSITIVE_WORDS]
    negative = [v for v in values if v.strip().lower() in NEGATIVE_WORDS]
    if positive and negative and len(positive) + len(negative) == len(values):
        return positive, negative, True
    rest = [v for v in values if v not in positive and v not in negative]
    if not positive and len(rest) >= 1:
        positive = [rest[-1]]              # the rarest value: violations are usually fewer
    negative = [v for v in values if v not in positive]
    return positive, negative, False


def map_columns(facts: FileFacts, id_column: Column | None) -> None:
    """Fill `facts.mapping` for the file's role, with the evidence in `facts.notes`."""
    cols = [c for c in facts.columns.values() if id_column is None or c.name != id_column.name]
    if id_column is not None:
        facts.mapping["item_id"] = id_column.name
        facts.notes["item_id"] = (f"{id_column.distinct:,} distinct values"
                                  + (", unique" if id_column.unique else ""))

    def take(role: str, column: Column | None, why: str) -> None:
        if column is not None and column.name not in facts.mapping.values():
            facts.mapping[role] = column.name
            facts.notes[role] = why

    if facts.role == "predictions":
        scores = [c for c in cols if c.numeric_01 and (c.distinct > 2 or c.hint("score"))]
        score = _best(scores, "score")
        take("score", score, "numbers in [0, 1]" + (" (only 0 and 1: hard labels)"
                                                    if score is not None and score.hard_01
                                                    else ""))
        models = [c for c in cols if 1 <= c.distinct <= 50 and not c.numeric_01]
        take("model", _best(models, "model"), "model versions")
    if facts.role in ("gold", "annotations"):
        labels = [c for c in cols if 2 <= c.distinct <= 3 and (c.hint("label") or _labelish(c))]
        take("label", _best(labels, "label"), "two label values")
    if facts.role == "annotations":
        take("annotator_id", _best([c for c in cols if c.hint("annotator_id")], "annotator_id"),
             "who judged")
    strings = [c for c in cols if not c.numeric_01 and not c.datetime]
    texts = [c for c in strings if c.mean_length >= 8 and c.distinct > max(50, facts.rows // 2)]
    take("text", _best(texts, "text"), "long free text")
    categories = [c for c in strings if 2 <= c.distinct <= MAX_DIMENSION_VALUES
                  and c.hint("risk_category")]
    if facts.role == "gold":
        take("risk_category", _best(categories, "risk_category"), "risk categories")
        take("reviewer", _best([c for c in strings if c.hint("reviewer")], "reviewer"),
             "who labelled")
        take("labeled_at", _best([c for c in cols if c.datetime and c.hint("labeled_at")],
                                 "labeled_at"), "dates")
    times = [c for c in cols if c.datetime and c.name not in facts.mapping.values()]
    take("created_at", _best(times, "created_at"), "dates")


def dimensions(files: list[FileFacts]) -> list[tuple[str, int]]:
    """Low-cardinality metadata columns of gold and items: the slice dimensions, with the
    number of values each has."""
    used = {v for f in files for v in f.mapping.values()}
    out: dict[str, int] = {}
    for facts in files:
        if facts.role not in ("gold", "items"):
            continue
        if "risk_category" in facts.mapping:
            out["risk_category"] = facts.columns[facts.mapping["risk_category"]].distinct
        for column in facts.columns.values():
            if column.name in used or column.numeric_01 or column.datetime:
                continue
            if 2 <= column.distinct <= MAX_DIMENSION_VALUES and column.missing < 0.5 \
                    and column.mean_length < 40:
                out.setdefault(column.name, column.distinct)
    return list(out.items())


def inspect(frames: dict[Path, tuple[pd.DataFrame, str | None]]) -> list[FileFacts]:
    """Every file described, its role guessed, its columns mapped."""
    files = [describe(path, frame, encoding) for path, (frame, encoding) in frames.items()]
    for facts in files:
        facts.role = classify(facts)
    seen: dict[str, int] = {}
    for facts in files:  # a role claimed twice: the later files are items
        seen[facts.role] = seen.get(facts.role, 0) + 1
        if seen[facts.role] > 1 and facts.role != "items":
            facts.role = "items"
    for facts in files:
        map_columns(facts, guess_id(facts, [f for f in files if f is not facts]))
    return files
