"""The stage registry: each stage declared once — its node, the settings and outputs of other
stages it reads, the files it writes — and everything else derived from it: the CLI's stage
commands, `smo-eval run`, `pipelines/dvc.yaml` and the lineage digests.

Declarations are data: importing this module imports no stage code (the CLI starts fast);
a stage's node module (`smo_eval.nodes.<name>`) is imported when the stage runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from smo_eval.pipeline.entries import Entry

# Settings every stage that counts flags (tp/fp/fn/tn) depends on: the one operating point.
OPERATING_POINT = ("evaluate.threshold", "evaluate.thresholds", "evaluate.thresholds_file",
                   "evaluate.policy_thresholds")
DATASET, BASE_DATASET = "dataset", "dataset.base"


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: what it reads and writes, and which settings change its outputs."""

    name: str
    help: str
    example: str
    params: tuple[str, ...]
    reads: tuple[str, ...]
    outputs: tuple[Entry, ...]
    operating_point: bool = False
    key_settings: tuple[str, ...] = ()
    files: Callable[[Any], dict[str, str | None]] | None = field(default=None, compare=False)
    dvc_args: str = ""

    def node(self) -> ModuleType:
        return importlib.import_module(f"smo_eval.nodes.{self.name}")

    @property
    def all_params(self) -> tuple[str, ...]:
        """The settings that change the stage's outputs (a key inside a listed section is
        not listed again)."""
        wanted = self.params + (OPERATING_POINT if self.operating_point else ())
        return tuple(p for p in dict.fromkeys(wanted)
                     if not any(p.startswith(q + ".") for q in wanted if q != p))

    @property
    def required_reads(self) -> tuple[str, ...]:
        return tuple(r for r in self.reads if not r.endswith("?"))


def _table(key: str, path: str, description: str, **kw: Any) -> Entry:
    return Entry(key, path, "table", description, **kw)


def _ingest_files(config: Any) -> dict[str, str | None]:
    return dict(config.data.input_paths())


def _trend_files(config: Any) -> dict[str, str | None]:
    """The gold store's manifest when periods are gold versions (its versions are read)."""
    if config.trend.period != "gold_version":
        return {}
    return {"gold_manifest": f"{config.labels.gold.store.rstrip('/')}/manifest.json"}


def _drift_files(config: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("reference_data", "current_data"):
        window = getattr(config.drift, name)
        if window is not None:
            out |= {f"{name}.{k}": getattr(window, k) for k in ("items", "gold", "predictions")}
    return out


STAGES: tuple[Stage, ...] = (
    Stage(
        "sample", "Write the deterministic sample world (items, gold, predictions, annotations).",
        "smo-eval sample sample.n_items=20000", params=("sample",), reads=(),
        outputs=tuple(Entry(f"sample.{t}", f"{{sample_dir}}/{t}.parquet", "parquet",
                            f"sample world {t}", root="project", dvc_path="{sample_dir}")
                      for t in ("items", "gold", "predictions", "annotations"))),
    Stage(
        "ingest", "Validate the input tables against the data contract and store them.",
        "smo-eval ingest data.gold=qa/gold.xlsx data.predictions=preds.csv",
        params=("data", "taxonomy"), reads=(), files=_ingest_files,
        key_settings=("data.on_error",),
        outputs=(
            Entry("ingest.eval", "ingest/eval.parquet", "parquet",
                  "one row per gold item with its metadata", dvc_path="ingest"),
            Entry("ingest.scores", "ingest/scores.parquet", "parquet",
                  "one score column per model, aligned to eval", dvc_path="ingest"),
            Entry("ingest.annotations", "ingest/annotations.parquet", "parquet",
                  "validated raw QA judgments", optional=True, dvc_path="ingest"),
            Entry("ingest.summary", "ingest/summary.json", "json",
                  "rows read and where they went", dvc_path="ingest"),
            Entry("ingest.quarantine", "ingest/quarantine", "dir",
                  "rows set aside with their reasons", optional=True, dvc_path="ingest"),
        )),
    Stage(
        "experiment", "Improvement experiments: per-slice thresholds, calibration, a retrained "
        "challenger.", "smo-eval experiment 'experiment.kinds=[thresholds]'",
        params=("experiment", "evaluate.ci", "seed"), reads=(BASE_DATASET,),
        key_settings=("experiment.kinds", "experiment.thresholds.dimension"),
        outputs=(
            Entry("experiment.metrics", "experiment/metrics.json", "json",
                  "held-out metrics of every experiment", dvc="metric"),
            *(Entry(f"experiment.{name}", f"experiment/results/{file}", kind, desc,
                    optional=True, dvc_path="experiment/results")
              for name, file, kind, desc in (
                  ("thresholds", "thresholds.csv", "csv", "per-slice thresholds"),
                  ("threshold_judgement", "threshold_judgement.csv", "csv",
                   "tuned vs global threshold on held-out"),
                  ("calibration", "calibration.csv", "csv", "held-out calibration"),
                  ("calibrators", "calibrators.json", "json", "fitted calibration maps"),
                  ("predictions", "predictions.parquet", "parquet",
                   "the retrained challenger's scores"),
                  ("retrain", "retrain.json", "json", "retrain metrics"),
                  ("skipped", "SKIPPED", "text", "why the stage did nothing"))),
            Entry("experiment.reliability", "experiment/reliability", "frames",
                  "reliability curves per model, method and scope", optional=True, dvc="plot",
                  plot={"x": "mean_score", "y": "observed_rate"}),
        )),
    Stage(
        "evaluate", "Sliced metrics with confidence intervals, curves and calibration per model.",
        "smo-eval evaluate evaluate.threshold=0.6 'slicing.crosses=[[region,language]]'",
        params=("evaluate", "slicing", "seed"), reads=(DATASET,), operating_point=True,
        key_settings=("evaluate.threshold", "evaluate.ci.level", "slicing.dimensions"),
        outputs=(
            _table("evaluate.slice_metrics", "evaluate/slice_metrics",
                   "one row per model and slice"),
            Entry("evaluate.metrics", "evaluate/metrics.json", "json",
                  "headline metrics per model", dvc="metric"),
            Entry("evaluate.coverage", "evaluate/coverage.csv", "csv",
                  "per model: gold items, scored, not scored"),
            # Written only with per-policy predictions / borderline gold: not DVC outputs
            # (DVC fails on a declared output a run does not write).
            _table("evaluate.policy_confusion", "evaluate/policy_confusion",
                   "per model: gold policy x flagged policy (per-policy predictions)",
                   optional=True, dvc="none"),
            _table("evaluate.borderline", "evaluate/borderline",
                   "flag rate of borderline gold items per model and slice", optional=True,
                   dvc="none"),
            Entry("evaluate.roc", "evaluate/curves/roc", "frames", "ROC curve per model",
                  dvc="plot", plot={"x": "fpr", "y": "tpr"}),
            Entry("evaluate.pr", "evaluate/curves/pr", "frames", "PR curve per model",
                  dvc="plot", plot={"x": "recall", "y": "precision"}),
            Entry("evaluate.reliability", "evaluate/curves/reliability", "frames",
                  "reliability curve per model", dvc="plot",
                  plot={"x": "mean_score", "y": "observed_rate"}),
        )),
    Stage(
        "compare", "Baseline vs candidates per slice: deltas, paired tests, verdicts, flips.",
        "smo-eval compare compare.baseline=v1 'compare.candidates=[v2]'",
        params=("compare", "slicing", "taxonomy", "seed"), reads=(DATASET,),
        operating_point=True, key_settings=("compare.baseline", "compare.candidates",
                                            "compare.correction", "compare.alpha"),
        outputs=(
            _table("compare.comparison", "compare/comparison",
                   "one row per candidate, slice and metric"),
            _table("compare.flips", "compare/flips", "items whose outcome changed"),
            Entry("compare.flips_xlsx", "compare/flips.xlsx", "xlsx", "flips for QA review"),
            Entry("compare.coverage", "compare/coverage.csv", "csv",
                  "items scored by both / one side"),
            Entry("compare.summary", "compare/summary.json", "json",
                  "verdict counts and overall deltas", dvc="metric"),
        )),
    Stage(
        "errors", "Failure slices, error drivers, over-represented terms, root causes, "
        "review queue.", "smo-eval errors 'errors.models=[v2]'",
        params=("errors", "slicing", "taxonomy", "seed"), reads=(DATASET,),
        operating_point=True, key_settings=("errors.slices.min_odds_ratio",),
        outputs=(
            _table("errors.failure_slices", "errors/failure_slices", "failure slices"),
            _table("errors.error_drivers", "errors/error_drivers", "error model drivers"),
            _table("errors.error_terms", "errors/error_terms", "terms over-represented"),
            _table("errors.rca", "errors/rca", "errors per root cause per slice"),
            _table("errors.review_queue", "errors/review_queue", "errors by impact"),
            Entry("errors.review_xlsx", "errors/review_queue.xlsx", "xlsx",
                  "review queue for QA"),
            Entry("errors.summary", "errors/summary.json", "json", "error counts",
                  dvc="metric"),
        )),
    Stage(
        "labels", "Annotator agreement, adjudication and suspected gold label errors.",
        "smo-eval labels labels.adjudication.method=dawid_skene",
        params=("labels", "slicing"), reads=(DATASET,), operating_point=True,
        key_settings=("labels.adjudication.method",),
        outputs=(
            _table("labels.agreement", "labels/agreement", "agreement per slice"),
            _table("labels.annotators", "labels/annotators", "annotators vs adjudicated"),
            _table("labels.annotator_pairs", "labels/annotator_pairs", "Cohen's kappa pairs"),
            _table("labels.adjudicated", "labels/adjudicated", "votes and adjudicated label"),
            _table("labels.label_issues", "labels/label_issues", "suspected label errors"),
            _table("labels.label_issue_rates", "labels/label_issue_rates",
                   "label issue rate per slice"),
            Entry("labels.metrics", "labels/metrics.json", "json", "headline", dvc="metric"),
        )),
    Stage(
        "drift", "Drift between a reference and a current window, label-free estimate, "
        "emerging terms.", "smo-eval drift 'drift.reference=[2026-09-28,2026-10-25]' "
        "'drift.current=[2026-10-26,2026-11-08]'",
        params=("drift", "seed"), reads=(DATASET,), operating_point=True, files=_drift_files,
        key_settings=("drift.reference", "drift.current"),
        outputs=(
            Entry("drift.summary", "drift/drift.json", "json", "alarms and effect sizes"),
            Entry("drift.metrics", "drift/metrics.json", "json", "headline drift numbers",
                  dvc="metric"),
            _table("drift.drift", "drift/drift", "drift per column and slice"),
            _table("drift.performance_estimate", "drift/performance_estimate",
                   "label-free performance estimate"),
            _table("drift.emerging_terms", "drift/emerging_terms", "emerging terms"),
            Entry("drift.evidently", "drift/evidently_report.html", "writer",
                  "Evidently's HTML report"),
        )),
    Stage(
        "trend", "KPIs and QA quality per period against targets, with change detection that "
        "holds the false-alarm rate across all series.", "smo-eval trend trend.period=month",
        params=("trend", "slicing", "taxonomy", "evaluate.ci", "seed"), reads=(DATASET,),
        operating_point=True, files=_trend_files,
        key_settings=("trend.period", "trend.detect.level"),
        outputs=(
            _table("trend.trend", "trend/trend",
                   "one row per period, model or QA person, slice and metric"),
            Entry("trend.series", "trend/series.csv", "csv",
                  "one row per monitored series: state, baseline, limit"),
            Entry("trend.alarms", "trend/alarms.csv", "csv",
                  "one row per alarm: series, change period, first alarm period"),
            Entry("trend.metrics", "trend/metrics.json", "json", "headline trend numbers",
                  dvc="metric"),
        )),
    Stage(
        "gate", "Release gate: one verdict from the declared checks (exit 0 pass, 1 fail, "
        "2 could not run).", "smo-eval gate gate=release gate.candidate=v2",
        params=("gate", "taxonomy", "compare.baseline", "compare.candidates"),
        reads=(DATASET, "evaluate.slice_metrics", "compare.comparison?", "labels.agreement?",
               "drift.drift?", "evaluate.borderline?", "trend.series?", "trend.alarms?"),
        key_settings=("gate.name", "gate.candidate", "gate.baseline"),
        # DVC records the verdict (gate/metrics.json) rather than failing the pipeline;
        # `smo-eval verdict` turns it into CI's exit code.
        dvc_args="--no-fail",
        outputs=(
            Entry("gate.verdict", "gate/gate.json", "json", "the verdict and every check"),
            Entry("gate.junit", "gate/junit.xml", "text", "each check as a JUnit test case"),
            Entry("gate.summary", "gate/summary.md", "text", "Markdown for a PR / CI summary"),
            _table("gate.checks", "gate/checks", "one row per check and slice"),
            Entry("gate.metrics", "gate/metrics.json", "json", "verdict for dvc exp show",
                  dvc="metric"),
        )),
    Stage(
        "report", "Risk assessment report: one self-contained HTML page and a Markdown summary.",
        "smo-eval report report.lang=zh",
        params=("report", "taxonomy", "drift.time_column", "drift.reference", "drift.current",
                "slicing", "gate.checks", "experiment.thresholds.dimension"),
        reads=(DATASET, "evaluate.slice_metrics", "evaluate.metrics", "evaluate.roc",
               "evaluate.pr", "evaluate.reliability", "compare.comparison?",
               "errors.failure_slices?", "errors.error_drivers?", "errors.error_terms?",
               "errors.rca?", "errors.review_queue?", "errors.summary?", "labels.agreement?",
               "labels.annotators?", "labels.annotator_pairs?", "labels.label_issues?",
               "labels.label_issue_rates?", "labels.metrics?", "drift.drift?",
               "drift.performance_estimate?", "drift.emerging_terms?", "drift.summary?",
               "trend.trend?", "trend.alarms?", "trend.metrics?", "gate.verdict?",
               "gold.impact?", "gold.diff?", "cases.conflicts?", "evaluate.policy_confusion?",
               "evaluate.borderline?"),
        key_settings=("report.lang",),
        outputs=(
            Entry("report.html", "report/report.html", "text", "the report page",
                  dvc_path="report"),
            Entry("report.markdown", "report/report.md", "text", "the report as Markdown",
                  dvc_path="report"),
        )),
)

# Outputs of commands outside the pipeline that the report reads when present.
RECORDS: tuple[Entry, ...] = (
    _table("gold.diff_table", "labels/gold_diff", "item-level gold diff", dvc="none"),
    _table("gold.diff_summary", "labels/gold_diff_summary", "gold diff per slice", dvc="none"),
    _table("gold.impact", "labels/gold_impact", "metric change split", dvc="none"),
    Entry("gold.diff", "labels/gold_diff.json", "json", "gold diff counts", dvc="none"),
    _table("cases.conflicts", "labels/case_conflicts", "gold vs precedents", dvc="none"),
)

BY_NAME = {s.name: s for s in STAGES}


def stage(name: str) -> Stage:
    try:
        return BY_NAME[name]
    except KeyError:
        from smo_eval.errors import ConfigError

        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(BY_NAME)}") from None


def producer(key: str) -> Stage | None:
    """The stage whose outputs include `key` (None for dataset keys and records)."""
    return BY_NAME.get(key.rstrip("?").split(".", 1)[0])


def entries() -> list[Entry]:
    return [e for s in STAGES for e in s.outputs] + list(RECORDS)
