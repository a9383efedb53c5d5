"""`smo-eval drift`: windows in, drift tables, label-free estimate, emerging terms and the
Evidently report out (`outputs/drift/`), logged to MLflow and shown as tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import load_inputs
from smo_eval.errors import ConfigError
from smo_eval.io.readers import read_table
from smo_eval.io.writers import atomic_path, write_csv, write_json
from smo_eval.stages.drift import DriftResult, drift
from smo_eval.stages.drift_evidently import evidently_drift
from smo_eval.stages.drift_windows import Window, split_by_time, unlabeled_window
from smo_eval.stages.evaluate import model_thresholds
from smo_eval.stages.ingest import ingest
from smo_eval.taxonomy import Taxonomy
from smo_eval.tracking import StageRun, metric_name, stage_run

HTML_FILE = "evidently_report.html"
NO_EVIDENTLY_PAGE = ("<!doctype html><html><head><meta charset='utf-8'>"
                     "<title>Evidently drift report</title></head><body>"
                     "<p>The Evidently report was not generated: "
                     "<code>drift.evidently.enabled=false</code>. The effect-size drift tests "
                     "are in drift.json and drift.csv.</p></body></html>\n")


def _file_window(ctx: Context, name: str, spec: Mapping[str, Any]) -> Window:
    """A window from its own files, checked with the ingest contract."""
    data = ctx.section("data")
    if not spec.get("items") and not spec.get("gold"):
        raise ConfigError(f"drift.{name}_data needs items (and gold, predictions) paths")
    if not spec.get("predictions"):
        raise ConfigError(f"drift.{name}_data.predictions is required (the window's scores)")

    def read(key: str) -> Any:
        path = spec.get(key)
        return read_table(str(path), data.get("encoding", "auto"), data.get("sheet", 0)) \
            if path else None

    if spec.get("gold"):
        raw = {"items": read("items"), "gold": read("gold"), "predictions": read("predictions"),
               "annotations": None}
        result = ingest(raw, data, Taxonomy.from_config(ctx.section("taxonomy")))
        return Window(name, result.eval_table, result.scores)
    if name == "reference":
        raise ConfigError("drift.reference_data.gold is required: calibration and the "
                          "baselines are fitted on the labelled reference")
    return unlabeled_window(name, read("items"), read("predictions"), data)


def load_windows(ctx: Context) -> tuple[Window, Window, list[str]]:
    """Reference and current windows from separate files, or cut from the inputs by time."""
    cfg = ctx.section("drift")
    ref_spec, cur_spec = cfg.get("reference_data"), cfg.get("current_data")
    notices = []
    if ref_spec or cur_spec:
        if not (ref_spec and cur_spec):
            raise ConfigError("set both drift.reference_data and drift.current_data, or "
                              "neither (then windows are cut by time from the inputs)")
        reference, current = _file_window(ctx, "reference", ref_spec), _file_window(
            ctx, "current", cur_spec)
    else:
        inputs = load_inputs(ctx)
        if not inputs.reused:
            notices.append("ingest outputs missing or stale for this config: inputs validated "
                           "in-process")
        reference, current = split_by_time(inputs.eval_table, inputs.scores,
                                           str(cfg.get("time_column", "created_at")),
                                           cfg["reference"], cfg["current"])
    if not cfg.get("use_current_labels", True) and current.labelled:
        current = current.without_labels()
        notices.append("drift.use_current_labels=false: the current window's gold is ignored")
    return reference, current, notices


def run(ctx: Context) -> DriftResult:
    cfg = ctx.section("drift")
    reference, current, notices = load_windows(ctx)
    models = [m for m in reference.scores.columns if m in current.scores.columns]
    if not models:
        raise ConfigError("the reference and current windows share no model's predictions")
    thresholds = {m: float(t) for m, t in
                  model_thresholds(models, ctx.section("evaluate")).items()}
    console.notices(notices)
    use_evidently = bool((cfg.get("evidently") or {}).get("enabled", True))
    with console.progress("drift", total=4 + use_evidently) as step:
        try:
            result = drift(reference, current, models, thresholds, cfg, ctx.seed, progress=step)
        except ValueError as exc:
            raise ConfigError(f"drift: {exc}") from None
        snapshot = None
        if use_evidently:
            snapshot, ev = _evidently(reference, current, result, models, cfg, ctx.seed)
            result.drift = result.drift.merge(ev, how="left", on=["column", "slice"])
            step("evidently")
    console.notices(result.notices)
    folder = ctx.stage_dir("drift")
    write_outputs(result, folder, snapshot)
    show(result)
    with stage_run(ctx.section("mlflow"), "drift", ctx.plain, ctx.project_root, {
        **ctx.base_tags(), "models": ",".join(models),
        "drift.reference": str(cfg.get("reference_data") or cfg.get("reference")),
        "drift.current": str(cfg.get("current_data") or cfg.get("current")),
    }) as mlrun:
        if mlrun is not None:
            log(mlrun, result, folder)
    return result


def _evidently(reference: Window, current: Window, result: DriftResult, models: list[str],
               cfg: Mapping[str, Any], seed: int) -> tuple[Any, pd.DataFrame]:
    """Evidently on the columns the stage tested (scores included); rows only for those."""
    columns = result.drift[result.drift["kind"].isin(["metadata", "gold"])]
    numeric = columns.loc[columns["test"] == "ks", "column"].tolist()
    categorical = columns.loc[columns["test"] != "ks", "column"].tolist()
    snapshot, ev = evidently_drift(reference, current, categorical, numeric, models,
                                   cfg.get("evidently") or {}, seed)
    overall = result.drift[["column", "slice"]].drop_duplicates()
    ev = ev.merge(overall[overall["slice"] == "overall"], on="column")
    return snapshot, ev


def drift_json(result: DriftResult) -> dict[str, Any]:
    """drift.json: per column and per slice method, value, threshold, p-value, drifted."""
    d = result.drift

    def entry(row: pd.Series) -> dict[str, Any]:
        keep = ["method", "value", "threshold", "test", "p_value", "n_reference", "n_current",
                "drifted"]
        out = {k: row[k] for k in keep}
        if "evidently_method" in row and isinstance(row["evidently_method"], str):
            out["evidently"] = {"method": row["evidently_method"],
                                "value": row["evidently_value"],
                                "threshold": row["evidently_threshold"],
                                "drifted": bool(row["evidently_drifted"]),
                                "rows": row["evidently_rows"]}
        return out

    columns = {str(r["column"]): entry(r) for _, r in d[d["slice"] == "overall"].iterrows()}
    scores: dict[str, dict[str, Any]] = {}
    for _, r in d[d["kind"] == "score"].iterrows():
        scores.setdefault(str(r["model"]), {})[str(r["slice"])] = entry(r)
    est = result.estimate
    keys = [c for c in est.columns if c.startswith(("est_", "actual_"))]
    estimate = {str(r["model"]): {k: r[k] for k in ["n", "flagged", *keys]}
                for _, r in est[est["slice"] == "overall"].iterrows()}
    return {"windows": result.windows, "alarms": int(d["drifted"].sum()),
            "alarm_list": [f"{r.column} [{r.slice}]" for r in d[d["drifted"]].itertuples()],
            "columns": columns, "scores": scores, "estimate": estimate,
            "notices": result.notices}


def write_outputs(result: DriftResult, folder: Path, snapshot: Any) -> None:
    write_json(drift_json(result), folder / "drift.json")
    write_csv(result.drift, folder / "drift.csv")
    write_csv(result.estimate, folder / "performance_estimate.csv")
    write_csv(result.terms, folder / "emerging_terms.csv")
    with atomic_path(folder / HTML_FILE) as tmp:
        if snapshot is not None:
            snapshot.save_html(str(tmp))
        else:  # the file is a declared DVC output: say why there is no Evidently report
            tmp.write_text(NO_EVIDENTLY_PAGE, encoding="utf-8")


def show(result: DriftResult) -> None:
    d = result.drift
    cols = ["kind", "column", "slice", "method", "value", "threshold", "p_value", "n_reference",
            "n_current", "drifted"]
    kinds = {"value": "num", "threshold": "num", "p_value": "num", "n_reference": "count",
             "n_current": "count"}
    view = d[d["slice"] == "overall"][cols]
    console.console.print(console.table("Drift per column (alarm = effect >= threshold, "
                                        "enough items, p < alpha)", view, kinds))
    alarms = d[(d["kind"] == "score") & d["drifted"]]
    console.console.print(console.table(f"Score drift alarms by slice ({len(alarms)})",
                                        alarms[["model", *cols[2:]]], kinds))
    est = result.estimate
    cols = ["model", "slice", "n", "est_precision", "est_precision_lo", "est_precision_hi",
            "est_recall", "est_recall_lo", "est_recall_hi"]
    cols += [c for c in ("actual_precision", "actual_recall") if c in est.columns]
    ratio = {c: "ratio" for c in cols[3:]}
    console.console.print(console.table("Label-free performance estimate (overall)",
                                        est[est["slice"] == "overall"][cols],
                                        ratio | {"n": "count"}))
    terms = result.terms[result.terms["rank"] <= 5]
    console.console.print(console.table(
        "Emerging terms (top 5 per language and subset)",
        terms[["language", "subset", "model", "rank", "term", "ref_count", "cur_count", "z"]],
        {"ref_count": "count", "cur_count": "count", "z": "num"}, max_rows=40))


def log(mlrun: StageRun, result: DriftResult, folder: Path) -> None:
    d = result.drift
    metrics: dict[str, float] = {"drift/alarms": float(d["drifted"].sum())}
    for column, method, slice_name, value in zip(d["column"], d["method"], d["slice"],
                                                 d["value"].astype(float), strict=True):
        parts = [str(column), str(method)] + ([] if slice_name == "overall" else [slice_name])
        metrics[metric_name("drift", *parts)] = value
    est = result.estimate
    for r in est[est["slice"] == "overall"].itertuples():
        for key in ("est_precision", "est_recall"):
            metrics[metric_name(str(r.model), key)] = float(getattr(r, key))
    mlrun.log_metrics(metrics)
    for name in ("drift.json", "drift.csv", "performance_estimate.csv", "emerging_terms.csv",
                 HTML_FILE):
        mlrun.log_artifact(folder / name, "drift")
