"""Report: every stage's outputs (each optional) -> a structured risk assessment report.

Pure: takes loaded tables and config, returns a `Report` (sections with findings, tables and
figures; recommendations derived from the findings, each with its evidence). Rendering to HTML
and Markdown is `smo_eval.report.render`; reading and writing files is the command's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.clock import now
from smo_eval.config.schema import Config
from smo_eval.pipeline.dataset import HARD_LABEL_REASON
from smo_eval.report.base import Build, join, slice_label
from smo_eval.report.i18n import Messages, count, interval, pct
from smo_eval.report.model import Finding, Report, Section
from smo_eval.report.recommend import recommend
from smo_eval.report.sections_eval import curves, kpi
from smo_eval.report.sections_gate import gate
from smo_eval.report.sections_policy import policy_sections
from smo_eval.report.sections_stages import comparison, drift, errors, labels
from smo_eval.report.sections_trend import trend
from smo_eval.report.sections_weak import heatmaps
from smo_eval.slicekey import OVERALL_KEY, to_json
from smo_eval.taxonomy import Taxonomy

SECTIONS = (gate, kpi, heatmaps, comparison, errors, labels, drift, trend, curves)
SUMMARY_KINDS = ("regression", "below_target", "careless_annotator", "drift", "emerging_term",
                 "low_agreement", "language_threshold", "trend_alarm", "trend_qa_alarm")


def build_report(tables: Mapping[str, Any], config: Config,
                 generated: datetime | None = None) -> Report:
    """The report model from whatever stage outputs `tables` holds (absent = not run), read
    with the typed configuration: the report's settings, the taxonomy, the team's slicing and
    the gate's checks."""
    msg = Messages(config.report.lang)
    build = Build(tables, config, Taxonomy.from_config(config.taxonomy), msg)
    sections = [make(build) for make in SECTIONS] + policy_sections(build)
    findings = [f for s in sections for f in s.findings]
    recommendations = recommend(build, findings)
    labels = {k.split(".", 1)[1]: v for k, v in msg.all().items() if k.startswith("ui.")}
    when = (generated or now()).strftime("%Y-%m-%d %H:%M UTC")
    return Report(msg.lang, config.report.title or msg.t("title"), when,
                  _summary(build, sections, len(recommendations)), sections, recommendations,
                  labels)


def _coverage(build: Build, model: str, head: dict[str, Any]) -> list[str]:
    """What a model's numbers stand on: the gold items it left unscored, and hard 0/1
    decisions, for which the rank metrics and calibration do not apply."""
    out = []
    unscored = int(head.get("n_unscored") or 0)
    if unscored:
        total = int(head.get("n") or 0) + unscored
        out.append(build.t("summary.unscored", model=model, n=count(unscored),
                           total=count(total), share=pct(unscored / total)))
    frame = build.get("slice_metrics")
    if frame is not None and "undefined" in frame:
        overall = frame[(frame["model"].astype(str) == model)
                        & (frame["slice_key"].astype(str) == to_json(OVERALL_KEY))]
        if len(overall) and HARD_LABEL_REASON in str(overall["undefined"].iloc[0]):
            out.append(build.t("summary.hard_labels", model=model))
    return out


def _summary(build: Build, sections: list[Section], n_recs: int) -> list[str]:
    """The few numbers that matter, in sentences: verdict, headline and weakest slices per
    model, key findings counted in full (a section may name only the first few)."""
    findings = [f for s in sections for f in s.findings]
    totals: dict[str, int] = {}
    for section in sections:
        for kind, n in section.totals.items():
            totals[kind] = totals.get(kind, 0) + n
    out = [f.text for f in findings if f.kind == "gate_verdict"]
    if not out:
        out.append(build.t("summary.no_gate"))
    for model, head in (build.get("metrics") or {}).items():
        out.append(build.t("summary.model", model=model, recall=pct(head.get("recall")),
                           ci=interval(head.get("recall_lo"), head.get("recall_hi")),
                           precision=pct(head.get("precision")), fpr=pct(head.get("fpr")),
                           n=count(head.get("n")), n_pos=count(head.get("n_pos"))))
        out += _coverage(build, str(model), head)
        out += _weakest(build, findings, str(model))
    for kind in SUMMARY_KINDS:
        hits = [f for f in findings if f.kind == kind]
        if hits:
            n = totals.get(kind, len(hits))
            key = f"summary.{kind}" + (".one" if n == 1 and build.msg.has(
                f"summary.{kind}.one") else "")
            out.append(build.t(key, n=count(n), first=hits[0].text,
                               dimension=build.msg.name(
                                   build.config.experiment.thresholds.dimension)))
    out.append(build.t("summary.recommendations", n=count(n_recs)))
    return out


def _weakest(build: Build, findings: list[Finding], model: str) -> list[str]:
    """The model's weakest slices in the team's slicing (`sections_weak`): recall clearly
    below its overall recall, FPR clearly above its overall FPR, with their numbers."""
    out = []
    for metric in ("recall", "fpr"):
        hits = [f.subject for f in findings
                if f.kind == f"weak_{metric}" and f.subject["model"] == model]
        if hits:
            out.append(build.t(f"summary.weak_{metric}", model=model,
                               overall=pct(hits[0]["overall"]), slices=join(build, [
                                   build.t(f"summary.weak_item.{metric}",
                                           slice=slice_label(build, h["slice"]),
                                           value=pct(h["value"]),
                                           ci=interval(h["lo"], h["hi"]), n=count(h["n"]))
                                   for h in hits])))
    out += [f.text for f in findings if f.kind == "weak_none" and f.subject["model"] == model]
    return out


def score_distribution(labels: np.ndarray, scores: pd.DataFrame, bins: int) -> pd.DataFrame:
    """Histogram of each model's scores by gold label (the page embeds these counts, not rows).

    Columns: model, label, bin_lower, bin_upper, count. One bincount per model.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    frames = []
    lab = np.asarray(labels, dtype=np.int64)
    for model in scores.columns:
        values = scores[model].to_numpy(dtype=np.float64)
        keep = ~np.isnan(values)
        codes = np.minimum((values[keep] * bins).astype(np.int64), bins - 1)
        counts = np.bincount(lab[keep] * bins + codes, minlength=2 * bins).reshape(2, bins)
        frames.append(pd.DataFrame({
            "model": str(model), "label": np.repeat([0, 1], bins),
            "bin_lower": np.tile(edges[:-1], 2), "bin_upper": np.tile(edges[1:], 2),
            "count": counts.ravel()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["model", "label", "bin_lower", "bin_upper", "count"])


def category_shares(table: pd.DataFrame, columns: list[str], time_column: str,
                    reference: list[str], current: list[str]) -> pd.DataFrame:
    """Share of each value of `columns` in two day windows ([first, last] inclusive), largest
    absolute change first: what a drift alarm on a categorical column actually moved.

    Columns: column, value, ref_share, cur_share, change.
    """
    frames = []
    if columns:
        day = pd.to_datetime(table[time_column]).dt.normalize()
        ref = ((day >= pd.Timestamp(reference[0])) & (day <= pd.Timestamp(reference[1]))).to_numpy()
        cur = ((day >= pd.Timestamp(current[0])) & (day <= pd.Timestamp(current[1]))).to_numpy()
        for column in columns:
            values = table[column].astype("string").fillna("(missing)")
            shares = pd.DataFrame({"ref_share": values[ref].value_counts(normalize=True),
                                   "cur_share": values[cur].value_counts(normalize=True)}
                                  ).fillna(0.0)
            frames.append(shares.rename_axis("value").reset_index().assign(column=column))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["value", "ref_share", "cur_share", "column"])
    out["change"] = out["cur_share"] - out["ref_share"]
    out = out.assign(_a=out["change"].abs()).sort_values(["column", "_a"], ascending=[True, False])
    return out.drop(columns="_a")[["column", "value", "ref_share", "cur_share", "change"]] \
        .reset_index(drop=True)
