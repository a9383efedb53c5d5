"""The trend section: KPIs and QA quality per period, their alarms, one line chart per KPI.

Reads trend/trend.parquet (long format), trend/alarms.csv and trend/metrics.json as the stage
writes them. Each chart is one KPI (a metric on a slice, one line per model; or one QA
person's agreement): the exact interval as a band, the taxonomy's target as a dashed line,
the periods in alarm as red crosses and the estimated start of each change as a dotted line.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from smo_eval.report import figures
from smo_eval.report.base import Build, frame_table, not_run, slice_label
from smo_eval.report.i18n import count, interval, pct
from smo_eval.report.model import Figure, Finding, Section, Table

MAX_CHARTS = 16
QA_KINDS = ("reviewer", "annotator")
SERIES = ["kind", "subject", "slice_key", "metric"]
_STATUS_ORDER = {"missed": 0, "unclear": 1, "met": 2}


def trend(build: Build) -> Section:
    table = build.get("trend")
    if table is None or not len(table):
        return not_run(build, "trend", "trend", "trend/trend.parquet, trend/alarms.csv")
    head = build.get("trend_metrics") or {}
    section = Section("trend", build.t("section.trend"), ran=True, note=build.t(
        "trend.note", first=head.get("first_period", "–"), last=head.get("last_period", "–"),
        monitored=count(head.get("monitored")), level=pct(head.get("level")),
        short=count(head.get("not_enough_data"))))
    alarms = build.get("trend_alarms")
    alarms = alarms if alarms is not None else pd.DataFrame()
    section.findings += _alarm_findings(build, table, alarms)
    if not len(alarms):
        section.findings.append(Finding("trend_quiet", build.t(
            "trend.none", monitored=count(head.get("monitored"))), "info"))
    latest = _latest(table)
    missed = latest[latest["status"] == "missed"]
    if len(missed):
        section.findings.append(Finding("trend_missed", build.t(
            "trend.missed", n=count(len(missed)), period=str(missed["period"].iloc[0])),
            "medium"))
    if len(alarms):
        shown = alarms.assign(
            slice=[slice_label(build, k) for k in alarms["slice_key"]],
            metric=[build.msg.name(str(m)) for m in alarms["metric"]],
            baseline_value=[pct(v) for v in alarms["baseline_value"]],
            value_since_change=[pct(v) for v in alarms["value_since_change"]])
        section.tables.append(frame_table(build, shown, build.t("trend.alarms"), (
            "kind", "subject", "slice", "metric", "change_period", "alarm_period",
            "end_period", "baseline_value", "value_since_change", "ongoing")))
    if len(latest):
        ordered = latest.assign(_o=latest["status"].map(_STATUS_ORDER)).sort_values(
            ["_o", "subject", "slice"])
        rows = [[str(r.subject), slice_label(build, r.slice_key), build.msg.name(str(r.metric)),
                 pct(r.value), interval(r.lo, r.hi), pct(r.target),
                 build.t(f"trend.status.{r.status}")]
                for r in ordered.head(build.max_rows).itertuples()]
        section.tables.append(Table(
            build.t("trend.latest", period=str(latest["period"].iloc[0])),
            [build.t(f"trend.col.{c}") for c in ("subject", "slice", "metric", "value",
                                                  "interval", "target", "status")],
            rows, [f"status-{_MARK[s]}" for s in ordered["status"].head(build.max_rows)]))
    section.figures += _charts(build, table, alarms)
    return section


_MARK = {"missed": "below", "unclear": "uncertain", "met": "meets"}


def _latest(table: pd.DataFrame) -> pd.DataFrame:
    """Model KPIs with a target in the last period that has any."""
    kpis = table[(table["kind"] == "model") & (table["status"] != "no_target")]
    return kpis[kpis["period_index"] == kpis["period_index"].max()] if len(kpis) else kpis


def _alarm_findings(build: Build, table: pd.DataFrame, alarms: pd.DataFrame
                    ) -> list[Finding]:
    out: list[Finding] = []
    if not len(alarms):
        return out
    # One finding per series: its first episode (when the change started), and whether its
    # last one is still on (the chart restarts after an alarm, so a KPI that stays down
    # alarms again).
    ordered = alarms.sort_values("alarm_index")
    last = ordered.drop_duplicates(SERIES, keep="last").set_index(SERIES)
    first = ordered.drop_duplicates(SERIES).assign(
        ongoing=lambda f: [bool(last.loc[tuple(k), "ongoing"]) for k in f[SERIES].values],
        end_period=lambda f: [last.loc[tuple(k), "end_period"] for k in f[SERIES].values])
    first = first.sort_values(["ongoing", "alarm_index"], ascending=[False, True])
    counts = table[table["in_alarm"].astype(bool)].groupby(SERIES).size()
    for r in first.head(build.max_rows).to_dict("records"):
        state = build.t("trend.ongoing" if r["ongoing"] else "trend.ended",
                        period=r["end_period"], n=count(counts.get(
                            tuple(r[c] for c in SERIES), 0)))
        values = {"subject": r["subject"], "metric": build.msg.name(str(r["metric"])),
                  "slice": slice_label(build, r["slice_key"]), "change": r["change_period"],
                  "alarm": r["alarm_period"], "base": pct(r["baseline_value"]),
                  "since": pct(r["value_since_change"]), "state": state,
                  "role": build.msg.name(str(r["kind"]))}
        qa = r["kind"] in QA_KINDS
        out.append(Finding("trend_qa_alarm" if qa else "trend_alarm", build.t(
            "trend.qa_alarm" if qa else "trend.alarm", **values),
            "high" if r["ongoing"] else "medium",
            {"kind": r["kind"], "subject": r["subject"], "slice": r["slice_key"],
             "metric": r["metric"], "change": r["change_period"], "alarm": r["alarm_period"]}))
    return out


def _chart_keys(table: pd.DataFrame, alarms: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(kind, slice_key or person, metric) of the charts, alarms first, then each model's
    overall recall and FPR, then the KPIs with targets; at most MAX_CHARTS."""
    keys: list[tuple[str, str, str]] = []
    for r in alarms.sort_values("alarm_index").itertuples():
        keys.append(("qa", str(r.subject), str(r.metric)) if r.kind in QA_KINDS
                    else ("model", str(r.slice_key), str(r.metric)))
    models = table[table["kind"] == "model"]
    keys += [("model", "[]", m) for m in ("recall", "fpr")
             if ((models["slice_key"] == "[]") & (models["metric"] == m)).any()]
    targeted = models[models["status"] != "no_target"][["slice_key", "metric"]]
    keys += [("model", k, m) for k, m in targeted.drop_duplicates().itertuples(index=False)]
    return list(dict.fromkeys(keys))[:MAX_CHARTS]


def _charts(build: Build, table: pd.DataFrame, alarms: pd.DataFrame) -> list[Figure]:
    periods = list(table.sort_values("period_index")["period"].drop_duplicates())
    out = []
    for number, (kind, key, metric) in enumerate(_chart_keys(table, alarms)):
        if kind == "qa":
            rows = table[table["kind"].isin(QA_KINDS) & (table["subject"] == key)
                         & (table["metric"] == metric)]
            title = build.t("trend.chart_qa", person=key, metric=build.msg.name(metric))
        else:
            rows = table[(table["kind"] == "model") & (table["slice_key"] == key)
                         & (table["metric"] == metric)]
            title = build.t("trend.chart", metric=build.msg.name(metric),
                            slice=slice_label(build, key))
        target = rows["target"].dropna()
        changes: list[str] = []
        if len(alarms):
            mine = ((alarms["kind"].isin(QA_KINDS) & (alarms["subject"] == key)) if kind == "qa"
                    else (alarms["kind"] == "model") & (alarms["slice_key"] == key))
            # where each line's change began: its first episode (later ones are restarts)
            firsts = alarms[mine & (alarms["metric"] == metric)].sort_values(
                "alarm_index").drop_duplicates(SERIES)
            changes = sorted(set(firsts["change_period"].astype(str)))
        spec = _line_chart(build, rows, periods, title, build.msg.name(metric),
                           float(target.iloc[0]) if len(target) else None, changes)
        out.append(Figure(f"trend-{number + 1}", title, spec))
    return out


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _line_chart(build: Build, rows: pd.DataFrame, periods: list[str], title: str,
                ytitle: str, target: float | None, changes: list[str]) -> dict[str, Any]:
    fig = go.Figure()
    for i, (subject, part) in enumerate(rows.sort_values("period_index").groupby(
            "subject", sort=True)):
        colour = figures.PALETTE[i % len(figures.PALETTE)]
        x = part["period"].astype(str).tolist()
        if part["lo"].notna().any():
            fig.add_trace(go.Scatter(
                x=x + x[::-1], y=part["hi"].round(4).tolist() + part["lo"].round(4).tolist()[::-1],
                fill="toself", fillcolor=_rgba(colour, 0.15), line={"width": 0},
                hoverinfo="skip", showlegend=False, name=str(subject)))
        fig.add_trace(go.Scatter(x=x, y=part["value"].round(4), mode="lines+markers",
                                 name=str(subject), line={"color": colour}))
        hit = part[part["in_alarm"].astype(bool)]
        if len(hit):
            fig.add_trace(go.Scatter(
                x=hit["period"].astype(str), y=hit["value"].round(4), mode="markers",
                name=build.t("trend.alarm_marker", subject=subject),
                marker={"symbol": "x", "size": 12, "color": "#d62728"}))
    if target is not None:
        fig.add_hline(y=target, line={"dash": "dash", "color": "#555"},
                      annotation_text=build.t("trend.target", target=pct(target)))
    for period in changes:
        fig.add_vline(x=period, line={"dash": "dot", "color": "#d62728"})
    fig.update_layout(title=title, height=340, legend={"orientation": "h", "y": -0.2},
                      xaxis={"type": "category", "categoryorder": "array",
                             "categoryarray": periods, "title": build.t("trend.period")},
                      yaxis={"tickformat": ".0%", "title": ytitle})
    return figures.to_spec(fig)
