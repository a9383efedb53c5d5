"""Settings of the inputs and of what every stage shares: data files and their mapping, the
risk taxonomy, the slicing, MLflow, the pipeline and the sample world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smo_eval.config.fields import section, setting

POSITIVE_LABELS = ["1", "true", "yes", "violating", "positive", "hateful", "offensive", "unsafe"]
NEGATIVE_LABELS = ["0", "false", "no", "safe", "negative", "non-hateful", "clean", "benign"]
INPUT_TABLES = ("items", "gold", "predictions", "annotations")


@dataclass
class LabelValues:
    positive: list[str] = setting(
        help="Gold label values meaning 'violating' (trimmed, case-insensitive).",
        factory=lambda: list(POSITIVE_LABELS))
    negative: list[str] = setting(
        help="Gold label values meaning 'safe' (trimmed, case-insensitive).",
        factory=lambda: list(NEGATIVE_LABELS))
    borderline: list[str] = setting(
        help="Gold label values meaning 'borderline' (allowed but reduced, needs context), "
        "e.g. [borderline, 边缘]; empty: no borderline state. How they count: "
        "evaluate.borderline.", factory=list)


@dataclass
class PolicyConfig:
    """Multi-policy (multi-head) models: switched on by a `policy` column in predictions."""

    names: list[str] = setting(
        help="The policies (heads) evaluated, e.g. [hate, harassment, drugs]; empty: those "
        "the predictions score, each of which must then occur in gold. Needed to evaluate a "
        "policy with no violation in the gold set.", factory=list)
    delimiter: str = setting(
        "|", "Separator of a gold `policy` cell listing several policies (hate|harassment); "
        "`|` because policy names may hold commas and spaces.")


@dataclass
class DataConfig:
    items: str | None = setting(
        None, "Items table (item_id + metadata, optional text): CSV (UTF-8, BOM or GB18030), "
        "Parquet or .xlsx; null when gold carries the metadata. Naming any input file drops "
        "the sample world's paths for all four tables.")
    gold: str | None = setting(
        None, "Gold labels (item_id, label[, risk_category, ...]) or `gold:latest` / "
        "`gold:<version>` from the gold store.")
    predictions: str | None = setting(
        None, "Model scores: item_id, model, score in [0, 1] (one row per item and model).")
    annotations: str | None = setting(
        None, "Raw QA judgments: item_id, annotator_id, label (optional).")
    columns: dict[str, str] = setting(
        help="Canonical column name -> the column's name in your files, for every table "
        "(e.g. {item_id: case_id, score: prob}). Unlisted columns keep their names.",
        factory=dict)
    table_columns: dict[str, dict[str, str]] = setting(
        help="Per-table overrides of `columns`, e.g. {predictions: {item_id: content_id}}.",
        factory=dict)
    labels: LabelValues = section(LabelValues, "Gold label values and what they mean.")
    policies: PolicyConfig = section(
        PolicyConfig, "Per-policy scores and gold (predictions with a `policy` column).")
    encoding: str = setting(
        "auto", "CSV encoding: auto detects UTF-8, UTF-8 with BOM and GB18030/GBK from the "
        "bytes; or a Python codec name.")
    on_error: str = setting(
        "fail", "Rows that break the contract: fail (exit 2, every problem listed) or "
        "quarantine (set aside to outputs/ingest/quarantine/<table>.csv, counted).",
        choices=("fail", "quarantine"))
    unscored: str = setting(
        "keep", "Gold items no model scored: keep them (counted per model as not scored: the "
        "coverage table, the gate's coverage check and its unscored-slice rule) or treat them "
        "as errors.", choices=("keep", "error"))
    max_quarantine_share: float = setting(
        0.05, "With on_error=quarantine, still fail when more than this share of a table is "
        "set aside.", bounds=(0.0, 1.0))
    sheet: Any = setting(0, "Sheet of an Excel workbook to read (name or 0-based index).")
    extra_predictions: list[str] = setting(
        help="Further prediction files (same columns as `predictions`) joined to the "
        "validated tables by every stage, e.g. a challenger scored elsewhere.", factory=list)

    def input_paths(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in INPUT_TABLES}


@dataclass
class CategorySpec:
    parent: str | None = setting(None, "Parent category (null: the category is its own parent).")
    severity: int = setting(3, "Severity tier: 1 is the most harmful.", bounds=(1, None))
    target_recall: float | None = setting(
        None, "KPI target: recall the category must reach (report, gate `min: target`).",
        bounds=(0.0, 1.0))
    max_fpr: float | None = setting(
        None, "KPI target: highest acceptable false-positive rate.", bounds=(0.0, 1.0))


@dataclass
class TaxonomyConfig:
    safe_category: str = setting("none", "Category value of safe items.")
    categories: dict[str, CategorySpec] = setting(
        help="Risk categories (leaf -> parent, severity, KPI targets). Empty: any category in "
        "the data is accepted and no KPI targets apply. `smo-eval taxonomy import` writes it.",
        factory=dict)


@dataclass
class SlicingConfig:
    dimensions: list[str] = setting(
        help="Slice dimensions: columns of the joined items + gold table. A dimension the data "
        "lacks is skipped with a notice. `parent_category` is derived through the taxonomy.",
        factory=lambda: ["risk_category", "parent_category", "region", "language",
                         "content_type"])
    crosses: list[list[str]] = setting(
        help="Crosses of dimensions, each a list, e.g. [[region, language]].",
        factory=lambda: [["region", "language"], ["language", "risk_category"],
                         ["region", "risk_category"]])


@dataclass
class MlflowConfig:
    enabled: bool = setting(True, "Record every stage run in MLflow.")
    tracking_uri: str = setting(
        "sqlite:///mlflow.db", "Tracking store: a SQLite file (relative paths are anchored at "
        "the project folder) or an http(s):// server.")
    experiment: str = setting("smo-eval", "MLflow experiment name.")
    timeout: float = setting(
        10.0, "Seconds an MLflow request may take before the run is given up as not recorded "
        "(the stage's outputs and verdict stand).", bounds=(0.5, 600.0))
    required: bool = setting(
        False, "Exit 2 before judging when the tracking store is unreachable, instead of "
        "running unrecorded.")


@dataclass
class PipelineConfig:
    stages: list[str] = setting(
        help="Stages `smo-eval run` executes, in order.",
        factory=lambda: ["ingest", "evaluate", "compare", "errors", "labels", "drift", "gate",
                         "report"])
    on_stale: str = setting(
        "recompute", "An earlier stage's output that other inputs or settings produced: "
        "recompute it in-process (with a notice) or fail (exit 2, naming the file).",
        choices=("recompute", "fail"))


@dataclass
class SampleConfig:
    """The deterministic synthetic world written by `smo-eval sample` (values in
    the packaged `preset/sample.yaml`; the world's parameters are free-form maps)."""

    n_items: int = setting(60000, "Gold items in the world's period; planted.trend.history adds "
                           "earlier weeks.", bounds=(100, None))
    seed: int = setting(7, "Seed of the world (independent of the top-level seed).")
    out_dir: str = setting("data/sample", "Folder the world's four tables are written to.")
    annotation_share: float = setting(0.04, "Share of items judged by several annotators.",
                                      bounds=(0.0, 1.0))
    annotation: dict[str, Any] = setting(help="Annotator panel.", factory=dict)
    gold: dict[str, Any] = setting(help="Gold delivery: version, reviewers, delays.",
                                   factory=dict)
    period: dict[str, Any] = setting(help="Days created_at spans.", factory=dict)
    regions: dict[str, Any] = setting(help="Region mix.", factory=dict)
    languages_by_region: dict[str, Any] = setting(help="Language mix per region.", factory=dict)
    content_types: dict[str, Any] = setting(help="Content type mix.", factory=dict)
    surfaces_by_content_type: dict[str, Any] = setting(help="Surface mix.", factory=dict)
    creator_tiers_by_content_type: dict[str, Any] = setting(help="Creator tiers.", factory=dict)
    prevalence: dict[str, Any] = setting(help="Violation prevalence and effects.", factory=dict)
    category_mix: dict[str, Any] = setting(help="Leaf category mix.", factory=dict)
    hard_share: float = setting(0.12, "Share of ambiguous items.", bounds=(0.0, 1.0))
    scoring: dict[str, Any] = setting(help="How model scores are drawn.", factory=dict)
    models: dict[str, Any] = setting(help="Model versions, champion first.", factory=dict)
    planted: dict[str, Any] = setting(help="Effects the later stages must find.", factory=dict)
    policies: dict[str, Any] = setting(
        help="A multi-head world instead (preset sample_policies): policies, prevalence, "
        "borderline share, models per policy, planted confusion and borderline market.",
        factory=dict)
