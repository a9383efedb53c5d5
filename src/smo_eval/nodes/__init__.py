"""Stage nodes: `run(ctx) -> StageResult` for each stage of the registry, with its console
view (`show`) and any MLflow extras (`log`). Nodes read through their `StageContext` and
return values by catalog key; they never open files."""

HEADLINE_PER_MODEL = ("recall", "recall_lo", "precision", "fpr", "fpr_hi", "f1", "roc_auc",
                      "pr_auc")
MAX_METRICS = 99


def capped(metrics: dict[str, float], limit: int = MAX_METRICS) -> dict[str, float]:
    """At most `limit` metrics per MLflow run (the slice tables are artifacts)."""
    return dict(list(metrics.items())[:limit])
