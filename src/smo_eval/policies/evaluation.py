"""Evaluate's per-policy and borderline outputs, beside its slice table: the policy
confusion table, the macro summary, the borderline flag rates. Present only where the data
has per-policy rows or a borderline state, so a single-score run writes what it always did."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.dataset import Dataset
from smo_eval.policies import POLICY
from smo_eval.stages.evaluate import Evaluation

HEADLINE_KEYS = ("macro_recall", "macro_fpr", "wrong_policy_only_share",
                 "borderline_flag_rate", "borderline_flag_rate_hi")


def policy_outputs(ctx: StageContext, data: Dataset, models: Sequence[str],
                   thresholds: Mapping[str, Any], result: Evaluation
                   ) -> tuple[dict[str, Any], dict[str, float]]:
    """Outputs by catalog key and MLflow metrics; adds the macro, wrong-policy and (with
    evaluate.borderline=separate) borderline numbers to `result.headline`."""
    cfg = ctx.config.evaluate
    outputs: dict[str, Any] = {}
    aside = data.borderline
    aside_thresholds = (ctx.operating_points(models, aside) if aside is not None else None)
    per_policy = "policies" in data.summary if data.lazy else POLICY in data.eval_table.columns
    # Imported in their branch: what they pull in (scipy.stats, statsmodels: ~0.5 s of every
    # evaluate) is only paid by data that has policies or borderline gold.
    if per_policy:
        from smo_eval.policies.confusion import macro, policy_confusion

        excluded = cfg.borderline in ("exclude", "separate")
        table, summary = policy_confusion(
            data.eval_table, data.scores, models, thresholds,
            aside=aside if excluded else None,
            aside_scores=data.borderline_scores if excluded else None,
            aside_thresholds=aside_thresholds if excluded else None, level=cfg.ci.level)
        outputs["evaluate.policy_confusion"] = table
        for model in models:
            result.headline[model].update(macro(result.slice_metrics, model) | summary[model])
    if aside is not None and data.borderline_scores is not None:
        from smo_eval.policies.borderline import flag_rates
        from smo_eval.policies.borderline import headline as borderline_headline

        assert aside_thresholds is not None
        rates = flag_rates(aside, data.borderline_scores, models, aside_thresholds,
                           ctx.config.slicing, cfg)
        outputs["evaluate.borderline"] = rates
        if cfg.borderline == "separate":
            for model in models:
                result.headline[model].update(borderline_headline(rates, model))
    metrics = {f"{model}/{key}": float(value) for model in models
               for key in HEADLINE_KEYS
               if (value := result.headline[model].get(key)) is not None}
    return outputs, metrics
