"""`smo-eval drift`: windows in; drift tables, label-free estimate, emerging terms and the
Evidently report out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.config.schema_more import DriftConfig, WindowFiles
from smo_eval.errors import ConfigError
from smo_eval.nodes import capped
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.policies import POLICY
from smo_eval.taxonomy import Taxonomy

NO_EVIDENTLY_PAGE = ("<!doctype html><html><head><meta charset='utf-8'>"
                     "<title>Evidently drift report</title></head><body>"
                     "<p>The Evidently report was not generated: {why}. The effect-size drift "
                     "tests are in drift.json and drift.csv.</p></body></html>\n")


PER_POLICY = ("drift on per-policy data (predictions with a policy column) is not supported: "
              "each item would count once per policy in every test; leave drift out of "
              "pipeline.stages")


def _file_window(ctx: StageContext, name: str, spec: WindowFiles) -> Any:
    """A window from its own files, checked with the ingest contract."""
    from smo_eval.pipeline.dataset import Dataset
    from smo_eval.policies.dataset import judged
    from smo_eval.stages.drift_windows import Window, unlabeled_window
    from smo_eval.stages.ingest import ingest

    if not spec.items and not spec.gold:
        raise ConfigError(f"drift.{name}_data needs items (and gold, predictions) paths")
    if not spec.predictions:
        raise ConfigError(f"drift.{name}_data.predictions is required (the window's scores)")

    def read(path: str | None) -> Any:
        return ctx.raw_table(path) if path else None

    if spec.gold:
        raw = {"items": read(spec.items), "gold": read(spec.gold),
               "predictions": read(spec.predictions), "annotations": None}
        result = ingest(raw, ctx.config.data, Taxonomy.from_config(ctx.config.taxonomy))
        # Borderline gold counts as evaluate.borderline says, as in every stage's dataset.
        data = judged(Dataset(result.eval_table, result.scores, None),
                      ctx.config.evaluate.borderline)
        return Window(name, data.eval_table, data.scores)
    if name == "reference":
        raise ConfigError("drift.reference_data.gold is required: calibration and the "
                          "baselines are fitted on the labelled reference")
    return unlabeled_window(name, read(spec.items), read(spec.predictions), ctx.config.data)


def sql_windows(ctx: StageContext) -> Any:
    """The windows as conditions on the dataset's relation (`stages.drift_sql`) when the
    backend is a SQL one and they are cut by time; None otherwise (then `windows`)."""
    cfg = ctx.config.drift
    if ctx.backend() is None or cfg.reference_data or cfg.current_data or not (
            cfg.reference and cfg.current):
        return None
    from smo_eval.stages.drift_sql import cut

    relation = ctx.dataset().relation
    if POLICY in relation.columns:
        raise ConfigError(PER_POLICY)
    found, notices = cut(relation, cfg)
    for text in notices:
        ctx.notice(text)
    return found


def windows(ctx: StageContext) -> tuple[Any, Any] | None:
    """Reference and current windows from files, or cut from the inputs by time; None when
    no window is configured."""
    from smo_eval.stages.drift_windows import split_by_time

    cfg = ctx.config.drift
    if cfg.reference_data or cfg.current_data:
        if not (cfg.reference_data and cfg.current_data):
            raise ConfigError("set both drift.reference_data and drift.current_data, or "
                              "neither (then windows are cut by time from the inputs)")
        reference = _file_window(ctx, "reference", cfg.reference_data)
        current = _file_window(ctx, "current", cfg.current_data)
    elif cfg.reference and cfg.current:
        data = ctx.dataset()
        reference, current = split_by_time(data.eval_table, data.scores, cfg.time_column,
                                           cfg.reference, cfg.current)
    else:
        return None
    if any(POLICY in w.table.columns for w in (reference, current)):
        raise ConfigError(PER_POLICY)
    if not cfg.use_current_labels and current.labelled:
        current = current.without_labels()
        ctx.notice("drift.use_current_labels=false: the current window's gold is ignored")
    return reference, current


def run(ctx: StageContext) -> StageResult:
    from smo_eval.operating_point import scalar
    from smo_eval.stages.drift import DRIFT_COLUMNS, drift

    cfg = ctx.config.drift
    sql = sql_windows(ctx)
    found = windows(ctx) if sql is None else None
    if sql is None and found is None:
        why = ("no drift windows configured (drift.reference / drift.current days, or "
               "drift.reference_data / drift.current_data files)")
        empty = pd.DataFrame(columns=DRIFT_COLUMNS)
        return StageResult({"drift.summary": {"skipped": why, "alarms": 0},
                            "drift.metrics": {"skipped": 1},
                            "drift.drift": empty, "drift.performance_estimate": pd.DataFrame(),
                            "drift.emerging_terms": pd.DataFrame(),
                            "drift.evidently": _note_page(why)},
                           notices=[f"drift skipped: {why}"], status="skipped")
    from smo_eval.pipeline.dataset import hard_label_models

    if found is not None:
        shared = [m for m in found[0].scores.columns if m in found[1].scores.columns]
        hard = set(hard_label_models(found[0].scores[shared]))
    else:  # the relation's models, hard ones judged on the reference in SQL
        shared, hard = list(sql.models), set(sql.hard)
    models = [m for m in shared if m not in hard]
    if hard:
        ctx.notice(f"score drift and the label-free estimate do not apply to hard 0/1 "
                   f"predictions: {', '.join(sorted(hard))} left out")
    if not models:
        raise ConfigError("the reference and current windows share no scored model's "
                          "predictions")
    if found is None and ctx.config.evaluate.thresholds_file:
        raise ConfigError(f"drift on engine.backend={ctx.config.engine.backend} needs one "
                          "threshold per model; evaluate.thresholds_file gives per-slice "
                          "thresholds (use evaluate.thresholds, or engine.backend=pandas)")
    # On a SQL backend the thresholds come from the settings alone: no row is read.
    points = ctx.operating_points(models, found[1].table if found else pd.DataFrame())
    thresholds = {m: scalar(t) for m, t in points.items()}
    use_evidently = cfg.evidently.enabled and _evidently_installed(ctx)
    with ctx.progress("drift", total=4 + use_evidently) as step:
        try:
            if found is not None:
                reference, current = found
                result = drift(reference, current, models, thresholds, cfg, ctx.seed,
                               progress=step)
            else:
                from smo_eval.stages.drift_sql import drift_sql

                # Evidently then runs on the windows' samples the emerging terms used.
                result, (reference, current) = drift_sql(sql, models, thresholds, cfg,
                                                         ctx.seed, progress=step)
        except ValueError as exc:
            raise ConfigError(f"drift: {exc}") from None
        snapshot = None
        if use_evidently:
            snapshot, ev = _evidently(reference, current, result, models, cfg, ctx.seed)
            result.drift = result.drift.merge(ev, how="left", on=["column", "slice"])
            step("evidently")
    html = (_snapshot_page(snapshot) if snapshot is not None else _note_page(
        "drift.evidently.enabled=false" if not cfg.evidently.enabled
        else "Evidently is not installed (pip install 'smo-eval[drift]')"))
    metrics = _metrics(result)
    outputs = {"drift.summary": drift_json(result), "drift.metrics": metrics,
               "drift.drift": result.drift,
               "drift.performance_estimate": result.estimate,
               "drift.emerging_terms": result.terms, "drift.evidently": html}
    return StageResult(outputs, capped(metrics), {"models": ",".join(models)},
                       result.notices, result,
                       run_label=f"{_days(cfg.reference)} -> {_days(cfg.current)}")


def _evidently_installed(ctx: StageContext) -> bool:
    import importlib.util

    if importlib.util.find_spec("evidently") is not None:
        return True
    ctx.notice("Evidently's column tests and HTML report skipped: not installed (pip install "
               "'smo-eval[drift]'); the effect-size drift tests ran")
    return False


def _days(days: list[str] | None) -> str:
    return "files" if not days else f"{days[0]}..{days[-1]}"


def _snapshot_page(snapshot: Any) -> Any:
    def write(path: Path) -> None:
        snapshot.save_html(str(path))

    return write


def _note_page(why: str) -> Any:
    def write(path: Path) -> None:
        path.write_text(NO_EVIDENTLY_PAGE.format(why=why), encoding="utf-8")

    return write


def _evidently(reference: Any, current: Any, result: Any, models: list[str],
               cfg: DriftConfig, seed: int) -> tuple[Any, pd.DataFrame]:
    """Evidently on the columns the stage tested (scores included); rows only for those."""
    from smo_eval.stages.drift_evidently import evidently_drift

    columns = result.drift[result.drift["kind"].isin(["metadata", "gold"])]
    numeric = columns.loc[columns["test"] == "ks", "column"].tolist()
    categorical = columns.loc[columns["test"] != "ks", "column"].tolist()
    snapshot, ev = evidently_drift(reference, current, categorical, numeric, models,
                                   cfg.evidently, seed)
    overall = result.drift[["column", "slice"]].drop_duplicates()
    ev = ev.merge(overall[overall["slice"] == "overall"], on="column")
    return snapshot, ev


def drift_json(result: Any) -> dict[str, Any]:
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


def _metrics(result: Any) -> dict[str, float]:
    """Alarm count, each column's overall effect size and each model's estimate."""
    d = result.drift
    metrics: dict[str, float] = {"drift/alarms": float(d["drifted"].sum())}
    overall = d[d["slice"] == "overall"]
    for column, method, value in zip(overall["column"], overall["method"],
                                     overall["value"].astype(float), strict=True):
        metrics[f"drift/{column}/{method}".replace("score:", "score_")] = value
    est = result.estimate
    for r in est[est["slice"] == "overall"].itertuples():
        for key in ("est_precision", "est_recall"):
            metrics[f"{r.model}/{key}"] = float(getattr(r, key))
    return metrics


def show(result: StageResult) -> None:
    if result.status == "skipped":
        return
    found = result.value
    d = found.drift
    cols = ["kind", "column", "slice", "method", "value", "threshold", "p_value", "n_reference",
            "n_current", "drifted"]
    kinds = {"value": "num", "threshold": "num", "p_value": "num", "n_reference": "count",
             "n_current": "count"}
    console.console.print(console.table("Drift per column (alarm = effect >= threshold, "
                                        "enough items, p < alpha)", d[d["slice"] == "overall"][
                                            cols], kinds))
    alarms = d[(d["kind"] == "score") & d["drifted"]]
    console.console.print(console.table(f"Score drift alarms by slice ({len(alarms)})",
                                        alarms[["model", *cols[2:]]], kinds))
    est = found.estimate
    cols = ["model", "slice", "n", "est_precision", "est_precision_lo", "est_precision_hi",
            "est_recall", "est_recall_lo", "est_recall_hi"]
    cols += [c for c in ("actual_precision", "actual_recall") if c in est.columns]
    console.console.print(console.table("Label-free performance estimate (overall)",
                                        est[est["slice"] == "overall"][cols],
                                        {c: "ratio" for c in cols[3:]} | {"n": "count"}))
    terms = found.terms[found.terms["rank"] <= 5] if len(found.terms) else found.terms
    if len(terms):
        console.console.print(console.table(
            "Emerging terms (top 5 per language and subset)",
            terms[["language", "subset", "model", "rank", "term", "ref_count", "cur_count",
                   "z"]], {"ref_count": "count", "cur_count": "count", "z": "num"},
            max_rows=40))
