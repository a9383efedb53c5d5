"""`smo-eval labels`: annotator agreement, adjudication and suspected gold label errors.

Reads the validated inputs (ingest's outputs when current); with annotations but no gold or
predictions configured (a raw QA export on its own) it validates the annotations alone and
reports agreement only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import load_inputs
from smo_eval.contract.schema import ANNOTATIONS, source_to_canonical
from smo_eval.contract.validate import LabelMap, validate_table
from smo_eval.errors import ContractError, RowProblem
from smo_eval.io.readers import read_table
from smo_eval.io.writers import write_csv, write_json, write_table
from smo_eval.stages.labels import AGREEMENT_COLUMNS, LabelQuality, label_quality
from smo_eval.tracking import metric_name, stage_run


def annotations_only(ctx: Context) -> pd.DataFrame:
    """Validate the configured annotations file on its own (no gold, no predictions needed)."""
    data = ctx.section("data")
    raw = read_table(str(data["annotations"]), data.get("encoding", "auto"), data.get("sheet", 0))
    labels = LabelMap.from_lists(data["labels"]["positive"], data["labels"]["negative"])
    rename = source_to_canonical("annotations", data.get("columns") or {},
                                 data.get("table_columns") or {})
    checked = validate_table(raw, ANNOTATIONS, rename, labels=labels)
    if not checked.problems.empty and data.get("on_error", "fail") != "quarantine":
        raise ContractError([RowProblem(r.file, int(r.row), r.column, r.reason)
                             for r in checked.problems.head(50).itertuples(index=False)])
    return checked.frame


def run(ctx: Context) -> LabelQuality:
    data = ctx.section("data")
    cfg = ctx.section("labels")
    hashes: dict[str, str] = {}
    gold_version = None
    if data.get("gold") and data.get("predictions"):
        inputs = load_inputs(ctx)
        table, scores, annotations = inputs.eval_table, inputs.scores, inputs.annotations
        hashes, gold_version = inputs.hashes, inputs.gold_version
    elif data.get("annotations"):
        table, scores, annotations = None, None, annotations_only(ctx)
    else:
        raise ContractError([RowProblem("config", None, None, "labels needs data.annotations, "
                                        "or data.gold with data.predictions")])
    with console.progress("label quality", total=None):
        result = label_quality(annotations, table, scores, cfg, ctx.section("slicing"),
                               seed=ctx.seed)
    console.notices(result.notices)
    folder = ctx.stage_dir("labels")
    write_outputs(result, folder)
    show(result)
    with stage_run(ctx.section("mlflow"), "labels", ctx.plain, ctx.project_root, {
        **ctx.base_tags(), **{f"input.{k}.sha256": v for k, v in hashes.items()},
        "gold_version": gold_version,
        "least_reliable_annotator": result.headline.get("least_reliable_annotator"),
    }) as mlrun:
        if mlrun is not None:
            metrics = {f"labels/{k}": v for k, v in result.headline.items()
                       if isinstance(v, int | float)}
            for row in result.agreement.itertuples(index=False):
                for key in ("fleiss_kappa", "krippendorff_alpha", "mean_pairwise_cohen_kappa"):
                    metrics[metric_name("labels", key, str(row.slice))] = getattr(row, key)
            mlrun.log_metrics(metrics)
            for name in ("agreement.csv", "annotators.csv", "label_issues.csv",
                         "label_issue_rates.csv", "adjudicated.csv", "metrics.json"):
                mlrun.log_artifact(folder / name, "labels")
    return result


def write_outputs(result: LabelQuality, folder: Path) -> None:
    extra = [c for c in result.agreement.columns if c not in AGREEMENT_COLUMNS]
    write_table(result.agreement[AGREEMENT_COLUMNS + extra], folder / "agreement")
    write_csv(result.annotators, folder / "annotators.csv")
    write_csv(result.pairs, folder / "annotator_pairs.csv")
    write_csv(result.adjudicated, folder / "adjudicated.csv")
    write_csv(result.issues, folder / "label_issues.csv")
    write_csv(result.issue_rates, folder / "label_issue_rates.csv")
    write_json(result.headline, folder / "metrics.json")


def show(result: LabelQuality) -> None:
    ratio = {"fleiss_kappa": "num", "krippendorff_alpha": "num",
             "mean_pairwise_cohen_kappa": "num", "n_items": "count", "n_annotators": "count"}
    console.console.print(console.table("Annotator agreement by slice", result.agreement[
        AGREEMENT_COLUMNS], ratio, max_rows=15))
    if len(result.annotators):
        cols = [c for c in ("rank", "annotator_id", "n_ratings", "agreement_with_adjudicated",
                            "kappa_with_adjudicated", "agreement_with_gold")
                if c in result.annotators.columns]
        console.console.print(console.table(
            "Annotators against the adjudicated label (least reliable last)",
            result.annotators[cols], {"rank": "count", "n_ratings": "count",
                                      "agreement_with_adjudicated": "ratio",
                                      "kappa_with_adjudicated": "num",
                                      "agreement_with_gold": "ratio"}))
    if len(result.issues):
        cols = [c for c in ("rank", "item_id", "given_label", "suggested_label", "model_score",
                            "reason", "language", "risk_category") if c in result.issues.columns]
        console.console.print(console.table(
            f"Suspected label errors ({len(result.issues):,}; most suspicious first)",
            result.issues[cols], {"model_score": "num"}, max_rows=10))
