"""`smo-eval labels`: annotator agreement, adjudication and suspected gold label errors.

With gold and predictions configured it reads the validated dataset; with a raw QA export
alone (`data.annotations` only) it validates the annotations by themselves and reports
agreement only.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from smo_eval import console
from smo_eval.config.schema import Config
from smo_eval.errors import ContractError, RowProblem
from smo_eval.nodes import capped
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.tracking import StageRun

TABLES = {"labels.agreement": "agreement", "labels.annotators": "annotators",
          "labels.annotator_pairs": "pairs", "labels.adjudicated": "adjudicated",
          "labels.label_issues": "issues", "labels.label_issue_rates": "issue_rates"}


def annotations_only(ctx: StageContext) -> pd.DataFrame:
    """Validate the configured annotations file on its own (no gold, no predictions needed)."""
    from smo_eval.contract.schema import ANNOTATIONS, source_to_canonical
    from smo_eval.contract.summary import contract_error
    from smo_eval.contract.validate import LabelMap, validate_table

    data = ctx.config.data
    raw = ctx.raw_table(str(data.annotations))
    labels = LabelMap.from_lists(data.labels.positive, data.labels.negative)
    rename = source_to_canonical("annotations", data.columns, data.table_columns)
    checked = validate_table(raw, ANNOTATIONS, rename, labels=labels)
    if not checked.problems.empty and data.on_error != "quarantine":
        raise contract_error([checked])
    return checked.frame


def run(ctx: StageContext) -> StageResult:
    from smo_eval.stages.labels import AGREEMENT_COLUMNS, label_quality

    data_cfg = ctx.config.data
    cfg = ctx.config.labels
    if cfg.slices is None:
        cfg = replace(cfg, slices=list(ctx.config.slicing.dimensions))
    if data_cfg.gold and data_cfg.predictions:
        data = ctx.dataset()
        table, scores, annotations = data.eval_table, data.scores, data.annotations
    elif data_cfg.annotations:
        table, scores, annotations = None, None, annotations_only(ctx)
    else:
        raise ContractError([RowProblem("config", None, None, "labels needs data.annotations, "
                                        "or data.gold with data.predictions")])
    with ctx.progress("label quality"):
        result = label_quality(annotations, table, scores, cfg, ctx.config.slicing,
                               seed=ctx.seed)
    extra = [c for c in result.agreement.columns if c not in AGREEMENT_COLUMNS]
    outputs = {key: getattr(result, attr) for key, attr in TABLES.items()}
    outputs["labels.agreement"] = result.agreement[AGREEMENT_COLUMNS + extra]
    outputs["labels.metrics"] = result.headline
    metrics = {f"labels/{k}": float(v) for k, v in result.headline.items()
               if isinstance(v, int | float)}
    tags = {"least_reliable_annotator": result.headline.get("least_reliable_annotator")}
    return StageResult(outputs, capped(metrics), tags, result.notices, result)


def show(result: StageResult) -> None:
    from smo_eval.stages.labels import AGREEMENT_COLUMNS

    quality = result.value
    ratio = {"fleiss_kappa": "num", "krippendorff_alpha": "num",
             "mean_pairwise_cohen_kappa": "num", "n_items": "count", "n_annotators": "count"}
    console.console.print(console.table("Annotator agreement by slice", quality.agreement[
        AGREEMENT_COLUMNS], ratio, max_rows=15))
    if len(quality.annotators):
        cols = [c for c in ("rank", "annotator_id", "n_ratings", "agreement_with_adjudicated",
                            "kappa_with_adjudicated", "agreement_with_gold")
                if c in quality.annotators.columns]
        console.console.print(console.table(
            "Annotators against the adjudicated label (least reliable last)",
            quality.annotators[cols], {"rank": "count", "n_ratings": "count",
                                       "agreement_with_adjudicated": "ratio",
                                       "kappa_with_adjudicated": "num",
                                       "agreement_with_gold": "ratio"}))
    if len(quality.issues):
        cols = [c for c in ("rank", "item_id", "given_label", "suggested_label", "model_score",
                            "reason", "language", "risk_category") if c in quality.issues.columns]
        console.console.print(console.table(
            f"Suspected label errors ({len(quality.issues):,}; most suspicious first)",
            quality.issues[cols], {"model_score": "num"}, max_rows=10))


def log(mlrun: StageRun, result: StageResult, config: Config) -> None:
    quality = result.value
    if len(quality.agreement):
        mlrun.log_table(quality.agreement, "labels/agreement.json")
