"""`smo-eval trend`: KPIs and QA quality per period against targets, alarms from a CUSUM whose
limit holds the false-alarm rate across every series, and the series as stepped MLflow
metrics (step = period index, so the UI draws them as lines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.config.schema import Config
from smo_eval.nodes import MAX_METRICS, capped
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.slicekey import from_json, mlflow_name
from smo_eval.taxonomy import Taxonomy
from smo_eval.tracking import StageRun

OVERALL_METRICS = ("recall", "precision", "fpr")


def _versions(ctx: StageContext) -> list[Any]:
    """The gold store's versions as periods (trend.period=gold_version)."""
    from smo_eval.goldstore import GoldStore
    from smo_eval.stages.trend_periods import GoldVersion

    store = GoldStore(Path(ctx.config.labels.gold.store))
    return [GoldVersion(v.name, pd.Timestamp(v.created_at).tz_localize(None),
                        ctx.raw_table(store.path(v)).frame["item_id"])
            for v in store.versions()]


def run(ctx: StageContext) -> StageResult:
    from smo_eval.stages.trend import trend

    cfg = ctx.config.trend
    data = ctx.dataset()
    table = data.eval_table
    if cfg.period != "gold_version" and cfg.time_column not in table.columns:
        why = (f"the evaluation table has no {cfg.time_column!r} column (trend.time_column; "
               f"columns: {', '.join(map(str, table.columns))})")
        return StageResult({"trend.metrics": {"skipped": why, "alarms": 0}},
                           notices=[f"trend skipped: {why}"], status="skipped")
    versions = _versions(ctx) if cfg.period == "gold_version" else None
    models = list(cfg.models or data.models)
    thresholds = ctx.operating_points(models, table)
    with ctx.progress("trend", total=1) as step:
        result = trend(table, data.scores, data.annotations, cfg, ctx.config.slicing,
                       Taxonomy.from_config(ctx.config.taxonomy), thresholds=thresholds,
                       level=ctx.config.evaluate.ci.level, seed=ctx.seed, versions=versions)
        step("trend")
    head = result.headline
    outputs = {"trend.trend": result.table, "trend.series": result.series,
               "trend.alarms": result.alarms, "trend.metrics": head}
    metrics = {f"trend/{k}": float(v) for k, v in head.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    label = f"{head['first_period']}..{head['last_period']} · {head['alarms']} alarms"
    return StageResult(outputs, capped(metrics), {"trend.period": cfg.period}, result.notices,
                       result, run_label=label)


def metric_key(kind: str, subject: str, metric: str, slice_key: str) -> str:
    """The MLflow name of a series: `v1/recall/risk_category:gambling`, `qa/annotator/ann_02/
    agreement`."""
    if kind == "model":
        return mlflow_name(subject, metric, from_json(slice_key))
    return mlflow_name("qa", kind, subject, metric)


def stepped(table: pd.DataFrame, series: pd.DataFrame, limit: int) -> dict[int, dict[str, float]]:
    """At most `limit` series as {period index: {metric name: value}}: each model's overall
    recall, precision and FPR first, then the series in alarm, then QA agreement, then the
    other monitored series (MLflow's UI lists a run's metrics; a few tens stay readable)."""
    overall = table[(table["kind"] == "model") & (table["slice"] == "overall")
                    & table["metric"].isin(OVERALL_METRICS)]
    ranked = [*(overall[["kind", "subject", "slice_key", "metric"]].drop_duplicates()
                .itertuples(index=False, name=None))]
    for state in ("alarm", "qa", "in_control"):
        part = (series[series["kind"] != "model"] if state == "qa"
                else series[series["state"] == state])
        ranked += list(part[["kind", "subject", "slice_key", "metric"]]
                       .itertuples(index=False, name=None))
    chosen = list(dict.fromkeys(ranked))[:limit]
    wanted = pd.DataFrame(chosen, columns=["kind", "subject", "slice_key", "metric"])
    rows = table.merge(wanted, on=["kind", "subject", "slice_key", "metric"])
    out: dict[int, dict[str, float]] = {}
    for r in rows.itertuples(index=False):
        if pd.notna(r.value):
            out.setdefault(int(r.period_index), {})[
                metric_key(r.kind, r.subject, r.metric, r.slice_key)] = float(r.value)
    return out


def log(mlrun: StageRun, result: StageResult, config: Config) -> None:
    if result.status == "skipped":
        return
    found = result.value
    for step, values in sorted(stepped(found.table, found.series,
                                       MAX_METRICS - len(result.metrics)).items()):
        mlrun.log_metrics(values, step=step)


def show(result: StageResult) -> None:
    if result.status == "skipped":
        return
    found = result.value
    head = found.headline
    console.console.print(
        f"{head['periods']} periods ({head['first_period']}..{head['last_period']}), "
        f"{head['monitored']} of {head['series']} series monitored, limit "
        f"{head['limit']} (family-wise false-alarm rate {head['level']:g})", markup=False)
    alarms = found.alarms
    cols = ["kind", "subject", "slice", "metric", "change_period", "alarm_period",
            "baseline_value", "value_since_change", "ongoing"]
    console.console.print(console.table(
        f"Alarms ({len(alarms)}): the KPI worsened from the change period on", alarms[cols],
        {"baseline_value": "ratio", "value_since_change": "ratio"}, max_rows=20))
    table = found.table
    last = table[(table["period_index"] == table["period_index"].max())
                 & (table["status"] == "missed")]
    cols = ["period", "subject", "slice", "metric", "value", "lo", "hi", "target"]
    console.console.print(console.table(
        f"KPIs that missed their target in the last period ({len(last)})", last[cols],
        {c: "ratio" for c in ("value", "lo", "hi", "target")}, max_rows=15))
