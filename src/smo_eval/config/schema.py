"""The whole configuration as one typed tree: every setting and its default, declared once.

Hydra composes the packaged values (`smo_eval/conf`), a project's `conf/`, a team's
`smo-eval.yaml` and the command line over this schema; a key the schema does not know, or a
value of the wrong type or range, fails at load with its dotted path. Stages receive the
sections as dataclasses (`cfg.evaluate.threshold`), never as dicts to be read with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from smo_eval.config.fields import section, setting
from smo_eval.config.schema_data import (
    DataConfig,
    MlflowConfig,
    PipelineConfig,
    SampleConfig,
    SlicingConfig,
    TaxonomyConfig,
)
from smo_eval.config.schema_engine import EngineConfig
from smo_eval.config.schema_more import DriftConfig, GateConfig
from smo_eval.config.schema_report import ExperimentConfig, ReportConfig
from smo_eval.config.schema_stages import (
    CompareConfig,
    ErrorsConfig,
    EvaluateConfig,
    LabelsConfig,
)
from smo_eval.config.schema_trend import TrendConfig

SCHEMA_NAME = "smo_eval_schema"


@dataclass
class Config:
    out_dir: str = setting("outputs", "Where every stage writes (one sub-folder per stage).")
    seed: int = setting(20261124, "Seed for everything random (bootstrap, sampling).")
    pipeline: PipelineConfig = section(PipelineConfig, "`smo-eval run`.")
    data: DataConfig = section(DataConfig, "Input files, column and label mapping.")
    taxonomy: TaxonomyConfig = section(TaxonomyConfig, "Risk categories and KPI targets.")
    slicing: SlicingConfig = section(SlicingConfig, "Slice dimensions and crosses.")
    evaluate: EvaluateConfig = section(EvaluateConfig, "Sliced metrics and the operating point.")
    compare: CompareConfig = section(CompareConfig, "Champion vs challengers.")
    errors: ErrorsConfig = section(ErrorsConfig, "Where and why models fail.")
    labels: LabelsConfig = section(LabelsConfig, "Label quality, gold store, case database.")
    drift: DriftConfig = section(DriftConfig, "What changed between two windows.")
    trend: TrendConfig = section(TrendConfig, "KPIs per period against targets, change "
                                 "detection.")
    gate: GateConfig = section(GateConfig, "The release gate.")
    report: ReportConfig = section(ReportConfig, "The risk assessment report.")
    experiment: ExperimentConfig = section(ExperimentConfig, "Improvement experiments.")
    sample: SampleConfig = section(SampleConfig, "The synthetic sample world.")
    mlflow: MlflowConfig = section(MlflowConfig, "Run tracking.")
    engine: EngineConfig = section(EngineConfig, "Where counting runs (pandas, DuckDB, Spark).")


def register() -> None:
    """Put the schema in Hydra's config store, where `conf/smo_eval.yaml` names it."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=Config)
