"""Settings of the report and of the improvement experiments."""

from __future__ import annotations

from dataclasses import dataclass

from smo_eval.config.fields import section, setting


@dataclass
class ExamplesConfig:
    per_slice: int = setting(3, "Example items shown per failure slice / review queue.",
                             bounds=(0, None))
    max_chars: int = setting(160, "Example text truncated to this many characters.",
                             bounds=(10, None))
    mask: bool = setting(False, "Mask URLs, e-mail addresses and long digit runs.")
    mask_patterns: list[str] = setting(
        help="Regular expressions replaced by ▇▇ when mask=true.",
        factory=lambda: [r"https?://\S+", r"[\w.+-]+@[\w-]+\.[\w.]+", r"\d{5,}"])


@dataclass
class RulesConfig:
    max_interval_width: float = setting(
        0.15, "A KPI interval wider than this cannot decide against its target: collect more "
        "gold.", bounds=(0.0, 1.0))
    language_recall: float = setting(0.80, "Recall below this (with precision room) gets a "
                                     "threshold-retuning recommendation.", bounds=(0.0, 1.0))
    precision_room: float = setting(0.85, "Precision at least this leaves room to retune.",
                                    bounds=(0.0, 1.0))
    min_agreement: float = setting(0.60, "Krippendorff's alpha below this: clarify the "
                                   "guideline.", bounds=(-1.0, 1.0))
    annotator_gap: float = setting(0.15, "Annotator this far below the median agreement.",
                                   bounds=(0.0, 1.0))
    min_agreement_items: int = setting(
        30, "Annotated items a slice needs before its agreement or label-issue rate becomes a "
        "finding or a table row.", bounds=(1, None))


@dataclass
class ReportConfig:
    lang: str = setting("en", "Language of the report: en or zh.", choices=("en", "zh"))
    title: str | None = setting(None, "Title (null: the language's default).")
    max_rows: int = setting(12, "Rows shown per table.", bounds=(1, None))
    score_bins: int = setting(40, "Bins of the score-distribution histograms.",
                              bounds=(2, None))
    examples: ExamplesConfig = section(ExamplesConfig, "Example items on the page.")
    rules: RulesConfig = section(RulesConfig, "What turns numbers into findings.")
    png: bool = setting(True, "Export the plots as PNG through headless Chromium.")
    browser: str | None = setting(None, "Chromium binary (null: look on PATH).")


@dataclass
class SplitConfig:
    column: str | None = setting(None, "Column naming each row's part (null: seeded random).")
    shares: dict[str, float] = setting(
        help="Shares of the random split.",
        factory=lambda: {"train": 0.5, "valid": 0.1, "tune": 0.2, "held_out": 0.2})
    values: dict[str, list[str]] = setting(
        help="With a column: which of its values make each part.",
        factory=lambda: {"train": ["train"], "valid": [], "tune": ["dev"], "held_out": ["test"]})
    valid_share: float = setting(0.1, "Empty `valid`: this share of train.", bounds=(0.0, 1.0))


@dataclass
class TargetConfig:
    metric: str = setting("precision", "Constraint: precision >= value or fpr <= value.",
                          choices=("precision", "fpr"))
    value: float = setting(0.85, "The constraint's value.", bounds=(0.0, 1.0))


@dataclass
class TuneSupport:
    n: int = setting(200, "Tuning items a value needs.", bounds=(1, None))
    positives: int = setting(30, "Tuning positives a value needs.", bounds=(1, None))


@dataclass
class ThresholdTuning:
    models: list[str] = setting(help="Models (empty: experiment.models).", factory=list)
    dimension: str = setting("language", "One threshold per value of this dimension.")
    target: TargetConfig = section(TargetConfig, "Maximise recall subject to this.")
    min_support: TuneSupport = section(TuneSupport, "Below this, the global threshold.")
    score_bins: int = setting(8192, "Fine score bins.", bounds=(16, None))


@dataclass
class CalibrationSupport:
    n: int = setting(200, "Items a calibration scope needs.", bounds=(1, None))
    positives: int = setting(20, "Positives a calibration scope needs.", bounds=(1, None))


@dataclass
class CalibrationConfig:
    models: list[str] = setting(help="Models (empty: experiment.models).", factory=list)
    methods: list[str] = setting(help="platt and/or isotonic.",
                                 factory=lambda: ["platt", "isotonic"])
    by: str | None = setting("language", "One map per value of this column (null: global).")
    min_support: CalibrationSupport = section(CalibrationSupport, "Support per scope.")
    bins: int = setting(10, "Reliability bins.", bounds=(2, None))
    score_bins: int = setting(8192, "Fine score bins.", bounds=(16, None))


@dataclass
class TfidfConfig:
    analyzer: str = setting("char", "char or word n-grams.", choices=("char", "char_wb", "word"))
    ngram_min: int = setting(1, "Shortest n-gram.", bounds=(1, None))
    ngram_max: int = setting(3, "Longest n-gram.", bounds=(1, None))
    min_df: int = setting(3, "Documents a term needs.", bounds=(1, None))
    max_features: int = setting(20000, "Vocabulary size.", bounds=(1, None))


@dataclass
class RetrainConfig:
    model_name: str = setting("v3-retrain", "The challenger's model id in the predictions.")
    text_column: str = setting("text", "Text column.")
    metadata: list[str] = setting(help="Metadata columns used as features.",
                                  factory=lambda: ["region", "language", "content_type",
                                                   "surface"])
    max_train_rows: int = setting(20000, "Training rows sampled down to this.",
                                  bounds=(100, None))
    tfidf: TfidfConfig = section(TfidfConfig, "Text features.")
    n_estimators: int = setting(300, "LightGBM trees.", bounds=(1, None))
    learning_rate: float = setting(0.1, "Learning rate.", bounds=(0.0, 1.0))
    num_leaves: int = setting(31, "Leaves.", bounds=(2, None))
    max_bin: int = setting(63, "Histogram bins.", bounds=(2, None))
    min_child_samples: int = setting(20, "Minimum rows per leaf.", bounds=(1, None))
    colsample_bytree: float = setting(0.5, "Feature share per tree.", bounds=(0.0, 1.0))
    early_stopping_rounds: int = setting(20, "Early stopping on the valid part.",
                                         bounds=(1, None))
    n_jobs: int = setting(1, "LightGBM threads (keep 1 on shared machines).", bounds=(1, None))
    report_by: str | None = setting(None, "Also report ROC-AUC per value of this column.")


@dataclass
class ModelRegistryConfig:
    log_model: bool = setting(True, "Log the challenger to MLflow and register it.")
    model_name: str = setting("smo-safety-classifier", "Registered model name.")


@dataclass
class ObjectiveConfig:
    metric: str = setting("retrain.held_out.roc_auc", "Metric a sweep optimises.")
    mode: str = setting("max", "max or min.", choices=("max", "min"))


@dataclass
class ExperimentConfig:
    enabled: bool = setting(True, "Off: the stage writes only a 'skipped' marker.")
    kinds: list[str] = setting(help="retrain, thresholds, calibration (run in this order).",
                               factory=lambda: ["retrain", "thresholds", "calibration"])
    models: list[str] = setting(help="Models for thresholds / calibration (empty: all).",
                                factory=list)
    split: SplitConfig = section(SplitConfig, "Train / valid / tune / held-out parts.")
    thresholds: ThresholdTuning = section(ThresholdTuning, "Per-slice operating points.")
    calibration: CalibrationConfig = section(CalibrationConfig, "Score calibration.")
    retrain: RetrainConfig = section(RetrainConfig, "The retrained LightGBM challenger.")
    registry: ModelRegistryConfig = section(ModelRegistryConfig, "Model registry.")
    objective: ObjectiveConfig = section(ObjectiveConfig, "Sweep objective.")
