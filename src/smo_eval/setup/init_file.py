"""`smo-eval init FILES...`: the team's one config file, written from what its files hold.

The file is plain YAML with a comment beside every guess (the evidence) and `CHECK` where a
person must decide (which label value means violating, which model is the champion, each
category's severity and targets). Every later command reads it from the working folder, so
`evaluate`, `compare`, `gate` and `report` then run with no override.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from smo_eval.setup.inspect import FileFacts, dimensions, inspect, label_values

ROLES = ("items", "gold", "predictions", "annotations")
_CHAMPION = re.compile(r"prod|champion|baseline|base|current|线上|基线|v1\b", re.IGNORECASE)


def _q(value: object) -> str:
    """A YAML scalar exactly as it is (quoted when YAML would read it otherwise)."""
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=True,
                          width=10_000).strip().removesuffix("...").strip()


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def build(frames: dict[Path, tuple[pd.DataFrame, str | None]], base: Path) -> str:
    """The commented YAML for these files (paths written relative to `base`)."""
    files = inspect(frames)
    by_role = {f.role: f for f in files if f.role in ROLES}
    lines = [f"# smo-eval configuration, written by `smo-eval init` on "
             f"{datetime.now(UTC):%Y-%m-%d} from: {', '.join(f.path.name for f in files)}.",
             "# Every smo-eval command reads this file from the working folder (or --config).",
             "# Lines marked CHECK are guesses to confirm; `smo-eval config show` lists every",
             "# setting with its default and what it does.", ""]
    lines += _data_block(files, by_role, frames, base)
    dims = dimensions(files)
    lines += _slicing_block(dims)
    lines += _taxonomy_block(by_role.get("gold"), frames)
    models = _models(by_role.get("predictions"), frames)
    lines += _compare_block(models)
    lines += _gate_block(dims, len(models))
    return "\n".join(lines) + "\n"


def _data_block(files: list[FileFacts], by_role: dict[str, FileFacts],
                frames: dict[Path, tuple[pd.DataFrame, str | None]], base: Path) -> list[str]:
    lines = ["data:"]
    for role in ROLES:
        facts = by_role.get(role)
        if facts is None:
            lines.append(f"  {role}: null")
            continue
        note = f"{facts.rows:,} rows" + (f", {facts.encoding}" if facts.encoding else "")
        lines.append(f"  {role}: {_q(_relative(facts.path, base))}   # {note}")
    unused = [f for f in files if f.role not in ROLES or by_role.get(f.role) is not f]
    for facts in unused:
        lines.append(f"  # {facts.path.name}: not used (looks like {facts.role}); CHECK")
    gold = by_role.get("gold")
    common = dict(gold.mapping) if gold else {}
    lines.append("  # Your column names for the canonical ones (gold's; per table below).")
    lines.append("  columns:")
    for canonical, source in common.items():
        lines.append(f"    {canonical}: {_q(source)}   # {gold.notes.get(canonical, '')}"
                     if gold else "")
    per_table = []
    for role in ("items", "predictions", "annotations"):
        facts = by_role.get(role)
        if facts is None:
            continue
        differs = {k: v for k, v in facts.mapping.items() if common.get(k, k) != v}
        if differs:
            per_table.append(f"    {role}:")
            per_table += [f"      {k}: {_q(v)}   # {facts.notes.get(k, '')}"
                          for k, v in differs.items()]
    lines += ["  table_columns:", *per_table] if per_table else ["  table_columns: {}"]
    if gold and "label" in gold.mapping:
        column = gold.columns[gold.mapping["label"]]
        positive, negative, sure = label_values(column)
        check = "" if sure else "   # CHECK: guessed (the rarer value taken as violating)"
        lines += ["  labels:", f"    positive: {_flow(positive)}{check}",
                  f"    negative: {_flow(negative)}"]
    preds = by_role.get("predictions")
    for model in _hard_label_models(preds, frames):
        lines.append(f"  # {model} predicts hard 0/1 decisions: its rank metrics, calibration "
                     "and threshold tuning do not apply.")
    lines.append("")
    return lines


def _hard_label_models(preds: FileFacts | None,
                       frames: dict[Path, tuple[pd.DataFrame, str | None]]) -> list[str]:
    if preds is None or "score" not in preds.mapping or "model" not in preds.mapping:
        return []
    frame = frames[preds.path][0]
    score = pd.to_numeric(frame[preds.mapping["score"]], errors="coerce")
    hard = score.isin([0.0, 1.0]).groupby(frame[preds.mapping["model"]].astype("string")).all()
    return [str(m) for m, is_hard in hard.items() if is_hard]


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _slicing_block(dims: list[tuple[str, int]]) -> list[str]:
    names = [d for d, _ in dims]
    lines = ["slicing:",
             "  # Low-cardinality columns found (values each): every one is a slice dimension.",
             f"  dimensions: {_flow(names)}   # "
             + ", ".join(f"{d} {n}" for d, n in dims)]
    small = [d for d, n in sorted(dims, key=lambda x: x[1]) if d != "risk_category"][:2]
    crosses = [small] if len(small) == 2 else []
    lines += [f"  crosses: [{', '.join(_flow(c) for c in crosses)}]", ""]
    return lines


def _taxonomy_block(gold: FileFacts | None,
                    frames: dict[Path, tuple[pd.DataFrame, str | None]]) -> list[str]:
    if gold is None or "risk_category" not in gold.mapping or "label" not in gold.mapping:
        return ["taxonomy:", "  # No category column found: any category is accepted, no KPI "
                "targets.", "  categories: {}", ""]
    frame = frames[gold.path][0]
    category = frame[gold.mapping["risk_category"]].astype("string").str.strip()
    positive, _, _ = label_values(gold.columns[gold.mapping["label"]])
    violating = frame[gold.mapping["label"]].astype("string").str.strip().isin(positive)
    safe_values = category[~violating].value_counts()
    safe = str(safe_values.index[0]) if len(safe_values) else "none"
    counts = category[violating].value_counts()
    lines = ["taxonomy:", f"  safe_category: {_q(safe)}",
             "  # From the categories of violating gold items. CHECK each severity (1 = most",
             "  # harmful) and add KPI targets (target_recall, max_fpr) where you have them;",
             "  # `smo-eval taxonomy import policies.csv` reads them from a table.",
             "  categories:"]
    for name, n in counts.items():
        if str(name) != safe:
            lines.append(f"    {_q(str(name))}: {{severity: 3}}   # {int(n):,} violating items")
    lines.append("")
    return lines


def _models(preds: FileFacts | None,
            frames: dict[Path, tuple[pd.DataFrame, str | None]]) -> list[str]:
    if preds is None or "model" not in preds.mapping:
        return []
    values = frames[preds.path][0][preds.mapping["model"]].astype("string").dropna()
    return sorted({str(v).strip() for v in values})


def _compare_block(models: list[str]) -> list[str]:
    if len(models) < 2:
        return ["compare:", "  baseline: null   # one model: nothing to compare", ""]
    champion = next((m for m in models if _CHAMPION.search(m)), models[0])
    others = [m for m in models if m != champion]
    return ["compare:", f"  baseline: {_q(champion)}   # CHECK: the champion in production",
            f"  candidates: {_flow(others)}", ""]


def _gate_block(dims: list[tuple[str, int]], n_models: int) -> list[str]:
    """The default gate's checks, plus a recall floor on each value of the first dimension:
    every selector names a dimension these files have."""
    lines = ["gate:", "  name: team", "  # Every check judges interval bounds; a slice with "
             "too little gold is insufficient", "  # evidence, never a pass.", "  checks:",
             "    overall_recall: {kind: floor, metric: recall, min: 0.6, slices: [overall]}",
             "    coverage: {kind: coverage, min_share: 0.95, slices: [overall]}",
             "    overall_support: {kind: support, min_items: 1000, min_positives: 100, "
             "slices: [overall]}"]
    if n_models >= 2:
        lines.append("    no_regression: {kind: non_regression, metrics: [recall, fpr], "
                     "tolerance: 0.02, slices: ['*'], on_insufficient: warn}")
    else:
        lines.append("    no_regression: null   # one model: no baseline to regress from")
    first = next((d for d, _ in dims if d != "risk_category"), None)
    if first is not None:
        lines.append(f"    {_q(first + '_recall')}: {{kind: floor, metric: recall, min: 0.5, "
                     f"slices: [{_q(first + '=*')}], on_insufficient: warn}}")
    lines += ["    annotator_agreement: null", "    score_drift: null", ""]
    return lines
