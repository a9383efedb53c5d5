"""Report: every stage's outputs (each optional) -> a structured risk assessment report.

Pure: takes loaded tables and config, returns a `Report` (sections with findings, tables and
figures; recommendations derived from the findings, each with its evidence). Rendering to HTML
and Markdown is `smo_eval.report.render`; reading and writing files is the command's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import TaxonomyConfig
from smo_eval.report.base import Build
from smo_eval.report.i18n import Messages, count, interval, pct
from smo_eval.report.model import Finding, Report
from smo_eval.report.recommend import recommend
from smo_eval.report.sections_eval import curves, heatmaps, kpi
from smo_eval.report.sections_stages import comparison, drift, errors, gate, labels
from smo_eval.report.sections_trend import trend
from smo_eval.taxonomy import Taxonomy

SECTIONS = (gate, kpi, heatmaps, comparison, errors, labels, drift, trend, curves)
SUMMARY_KINDS = ("regression", "below_target", "careless_annotator", "drift", "emerging_term",
                 "low_agreement", "language_threshold", "trend_alarm", "trend_qa_alarm")


def build_report(tables: Mapping[str, Any], report_cfg: Mapping[str, Any],
                 taxonomy_cfg: TaxonomyConfig, generated: datetime | None = None) -> Report:
    """The report model from whatever stage outputs `tables` holds (absent = not run)."""
    msg = Messages(str(report_cfg.get("lang", "en")))
    build = Build(tables, report_cfg, Taxonomy.from_config(taxonomy_cfg), msg)
    sections = [make(build) for make in SECTIONS]
    findings = [f for s in sections for f in s.findings]
    recommendations = recommend(build, findings)
    labels = {k.split(".", 1)[1]: v for k, v in msg.all().items() if k.startswith("ui.")}
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return Report(msg.lang, str(report_cfg.get("title") or msg.t("title")), when,
                  _summary(build, findings, len(recommendations)), sections, recommendations,
                  labels)


def _summary(build: Build, findings: list[Finding], n_recs: int) -> list[str]:
    """The few numbers that matter, in sentences: verdict, headline per model, key findings."""
    out = [f.text for f in findings if f.kind == "gate_verdict"]
    if not out:
        out.append(build.t("summary.no_gate"))
    for model, head in (build.get("metrics") or {}).items():
        out.append(build.t("summary.model", model=model, recall=pct(head.get("recall")),
                           ci=interval(head.get("recall_lo"), head.get("recall_hi")),
                           precision=pct(head.get("precision")), fpr=pct(head.get("fpr")),
                           n=count(head.get("n")), n_pos=count(head.get("n_pos"))))
    for kind in SUMMARY_KINDS:
        hits = [f for f in findings if f.kind == kind]
        if hits:
            out.append(build.t(f"summary.{kind}", n=count(len(hits)), first=hits[0].text))
    out.append(build.t("summary.recommendations", n=count(n_recs)))
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
