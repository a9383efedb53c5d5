"""Sections drawn from evaluate's outputs: KPIs against targets, curves (where the model is
weak: `sections_weak`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from smo_eval.report import figures
from smo_eval.report.base import Build, not_run, slice_label
from smo_eval.report.i18n import count, interval, pct
from smo_eval.report.model import Figure, Finding, Section, Table
from smo_eval.slicekey import SliceKey, to_json


def models_of(build: Build) -> list[str]:
    frame = build.get("slice_metrics")
    return [] if frame is None else list(dict.fromkeys(frame["model"].astype(str)))


def kpi(build: Build) -> Section:
    frame = build.get("slice_metrics")
    if frame is None:
        return not_run(build, "kpi", "evaluate", "evaluate/slice_metrics.parquet")
    section = Section("kpi", build.t("section.kpi"), ran=True, note=build.t("kpi.note"))
    width = build.rules.max_interval_width
    for model in models_of(build):
        rows, marks = [], []
        part = frame[frame["model"].astype(str) == model].drop_duplicates("slice_key") \
            .set_index("slice_key")
        for key, level, target, severity, parent in _kpi_rows(build):
            if to_json(key) not in part.index:
                continue
            r = part.loc[to_json(key)]
            status = _status(r, target)
            label = key[0][1] if key else build.msg.name("overall")  # a category is data
            rows.append([("" if level == "leaf" else "▸ ") + label,
                         parent, str(severity) if severity else "", count(r["n_pos"]),
                         pct(r["recall"]), interval(r["recall_lo"], r["recall_hi"]),
                         pct(target) if target is not None else "–",
                         pct(r["fpr"]) if not key else "–",
                         build.t(f"status.{status}") + (" *" if r["low_support"] else "")])
            marks.append(f"status-{status}" + (" low" if r["low_support"] else ""))
            if target is None or not key:
                continue
            subject = {"model": model, "slice": to_json(key), "recall": float(r["recall"]),
                       "lo": float(r["recall_lo"]), "hi": float(r["recall_hi"]),
                       "target": target, "n_pos": int(r["n_pos"])}
            values = {"model": model, "slice": slice_label(build, key),
                      "recall": pct(r["recall"]), "ci": interval(r["recall_lo"], r["recall_hi"]),
                      "target": pct(target), "n_pos": count(r["n_pos"])}
            if status == "below":
                section.findings.append(Finding("below_target", build.t("kpi.below", **values),
                                                "high" if (severity or 3) <= 2 else "medium",
                                                subject))
            elif status == "uncertain" and r["recall_hi"] - r["recall_lo"] > width:
                section.findings.append(Finding("wide_interval", build.t("kpi.wide", **values),
                                                "medium", subject))
        section.tables.append(Table(
            build.t("kpi.table", model=model),
            [build.t(f"kpi.col.{c}") for c in ("category", "parent", "severity", "support",
                                                "recall", "interval", "target", "fpr",
                                                "status")],
            rows, marks, build.t("low_support_note")))
    return section


def _kpi_rows(build: Build) -> list[tuple[SliceKey, str, Any, Any, str]]:
    """(slice key, level, target recall, severity, parent) in taxonomy order, parents first.

    A parent's target is its strictest child's: the parent is held to its most severe bar.
    """
    out: list[tuple[SliceKey, str, Any, Any, str]] = [((), "all", None, None, "")]
    parents: dict[str, list[Any]] = {}
    for c in build.taxonomy.categories:
        parents.setdefault(c.parent, []).append(c)
    for parent, children in parents.items():
        targets = [c.target_recall for c in children if c.target_recall is not None]
        out.append(((("parent_category", parent),), "parent",
                    max(targets) if targets else None, min(c.severity for c in children), ""))
        out.extend(((("risk_category", c.name),), "leaf", c.target_recall, c.severity,
                    build.msg.name(parent)) for c in children)
    return out


def _status(row: pd.Series, target: float | None) -> str:
    if target is None:
        return "none"
    if row["recall_lo"] >= target:
        return "meets"
    if row["recall_hi"] < target:
        return "below"
    return "uncertain"


def curves(build: Build) -> Section:
    curves_by_model: dict[str, dict[str, pd.DataFrame]] = build.get("curves") or {}
    hist = build.get("score_hist")
    if not curves_by_model and hist is None:
        return not_run(build, "curves", "evaluate", "evaluate/curves/")
    section = Section("curves", build.t("section.curves"), ran=True, note=build.t("curves.note"))
    plots = (("reliability", "mean_score", "observed_rate", True),
             ("pr", "recall", "precision", False), ("roc", "fpr", "tpr", True))
    for kind, x, y, diagonal in plots:
        series = {m: c[kind] for m, c in curves_by_model.items() if kind in c}
        if series:
            title = build.t(f"curves.{kind}")
            section.figures.append(Figure(f"curve-{kind}", title, figures.lines(
                series, x, y, title, build.t(f"curves.{kind}.x"), build.t(f"curves.{kind}.y"),
                diagonal)))
    if hist is not None:
        for model, part in hist.groupby("model", sort=False):
            title = build.t("curves.hist", model=model)
            section.figures.append(Figure(f"hist-{model}", title, figures.histogram(
                part, title, build.t("curves.hist.x"), build.t("curves.hist.y"),
                {0: build.t("label.safe"), 1: build.t("label.violating")})))
    metrics: dict[str, dict[str, Any]] = build.get("metrics") or {}
    for model, head in metrics.items():
        ece = head.get("ece")
        if ece is not None and ece > 0.05:
            section.findings.append(Finding("calibration", build.t(
                "curves.ece", model=model, ece=f"{ece:.3f}"), "info", {"model": model}))
    return section
