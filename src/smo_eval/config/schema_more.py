"""Settings of drift, the release gate, the report and the improvement experiments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smo_eval.config.fields import section, setting


@dataclass
class WindowFiles:
    items: str | None = setting(None, "Items of the window.")
    gold: str | None = setting(None, "Gold of the window (null: unlabelled).")
    predictions: str | None = setting(None, "Scores of the window.")


@dataclass
class EffectTest:
    method: str = setting("jensenshannon", "Effect size: psi, jensenshannon or wasserstein.",
                          choices=("psi", "jensenshannon", "wasserstein"))
    threshold: float = setting(0.05, "Alarm at or above this effect size.", bounds=(0.0, None))


@dataclass
class AlarmConfig:
    min_n: int = setting(1000, "Items each window needs for an alarm.", bounds=(1, None))
    require_significance: bool = setting(True, "An alarm also needs p < alpha.")
    alpha: float = setting(0.01, "Significance level of drift tests.", bounds=(0.0, 1.0))
    categorical: EffectTest = section(EffectTest, "Categorical columns.")
    numeric: EffectTest = setting(help="Numeric columns.",
                                  factory=lambda: EffectTest("wasserstein", 0.1))
    score: EffectTest = setting(help="Model scores.",
                                factory=lambda: EffectTest("wasserstein", 0.1))
    per_column: dict[str, dict[str, Any]] = setting(
        help="Per column, e.g. {language: {method: psi, threshold: 0.02}}.", factory=dict)


@dataclass
class EvidentlyConfig:
    enabled: bool = setting(True, "Run Evidently's column tests and write its HTML report.")
    max_rows: int = setting(100000, "Seeded sample per window above this.", bounds=(100, None))
    cat_method: str = setting("jensenshannon", "Evidently stat-test for categorical columns.")
    cat_threshold: float = setting(0.05, "Its threshold.")
    num_method: str = setting("wasserstein", "Evidently stat-test for numeric columns.")
    num_threshold: float = setting(0.1, "Its threshold.")
    per_column_method: dict[str, str] = setting(help="Per-column stat-test.", factory=dict)
    per_column_threshold: dict[str, float] = setting(help="Per-column threshold.", factory=dict)


@dataclass
class MinCalibration:
    n: int = setting(500, "Items a calibration group needs.", bounds=(1, None))
    positives: int = setting(50, "Positives a calibration group needs.", bounds=(1, None))


@dataclass
class EstimateConfig:
    calibrate_by: list[str] = setting(help="Groups calibrated separately when large enough.",
                                      factory=lambda: ["region", "language"])
    min_calibration: MinCalibration = section(MinCalibration, "Support per group.")
    bins: int = setting(512, "Score bins of the estimate.", bounds=(8, None))
    min_bin_items: int = setting(100, "Reference items per merged bin before isotonic fit.",
                                 bounds=(1, None))
    level: float = setting(0.95, "Interval level.", bounds=(0.5, 0.999))


@dataclass
class DriftTermsConfig:
    text_column: str = setting("text", "Text column.")
    language_column: str = setting("language", "Language column.")
    subsets: list[str] = setting(help="Subsets: all, high_score, missed.",
                                 factory=lambda: ["all", "high_score", "missed"])
    char_ngrams: list[int] = setting(help="Character n-gram lengths.", factory=lambda: [2, 3])
    word_ngrams: list[int] = setting(help="Word n-gram lengths.", factory=lambda: [1, 2])
    zh_segmenter: str | None = setting(
        None, "null: character n-grams for Han; jieba: word n-grams over jieba (pip install "
        "jieba).", choices=("jieba",))
    stopwords: bool = setting(
        True, "Leave out function words and laughter (smo_eval/resources/stopwords.yaml) of the "
        "group's language and of `stopwords_also`.")
    stopwords_also: list[str] = setting(
        help="Stopword lists applied to every group (code-mixed posts: English inside Chinese).",
        factory=lambda: ["en", "zh"])
    fold_share: float = setting(
        0.9, "One line per term: an n-gram inside a longer emerging one holding this share of "
        "its current items is folded into it.", bounds=(0.0, 1.0))
    min_count: int = setting(20, "Current-window items a term needs.", bounds=(1, None))
    min_ratio: float = setting(2.0, "Minimum rise of the item share.", bounds=(1.0, None))
    min_z: float = setting(3.0, "Minimum log-odds z-score.")
    prior_scale: float = setting(1.0, "Dirichlet prior scale.", bounds=(0.0, None))
    top_k: int = setting(20, "Terms kept per language and subset.", bounds=(1, None))
    max_items: int = setting(500000, "Items per window read for terms.", bounds=(100, None))


@dataclass
class DriftSlicing:
    dimensions: list[str] = setting(help="Slices for score drift and the estimate.",
                                    factory=lambda: ["language", "region"])
    crosses: list[list[str]] = setting(help="Crosses.",
                                       factory=lambda: [["region", "language"]])


@dataclass
class DriftConfig:
    time_column: str = setting("created_at", "Time column windows are cut on.")
    reference: list[str] | None = setting(
        None, "Reference window [first day, last day] (inclusive); null with `current` null: "
        "drift is skipped unless window files are given.")
    current: list[str] | None = setting(None, "Current window [first day, last day].")
    reference_data: WindowFiles | None = setting(None, "Reference window from its own files.")
    current_data: WindowFiles | None = setting(None, "Current window from its own files.")
    use_current_labels: bool = setting(True, "Use the current window's gold when present.")
    columns: list[str] = setting(help="Metadata columns tested (empty: all shared ones).",
                                 factory=list)
    slicing: DriftSlicing = section(DriftSlicing, "Slices of score drift and the estimate.")
    score_bins: int = setting(4096, "Fine logit bins of score histograms.", bounds=(16, None))
    psi_bins: int = setting(10, "Reference-quantile bins of PSI.", bounds=(2, None))
    sample_rows: int = setting(
        500000, "engine.backend=duckdb|spark: rows per window (a seeded sample above this) "
        "read for emerging terms and Evidently; the drift tests and the estimate use every "
        "row.", bounds=(100, None))
    alarm: AlarmConfig = section(AlarmConfig, "When a drift is an alarm.")
    evidently: EvidentlyConfig = section(EvidentlyConfig, "Evidently's tests and HTML report.")
    estimate: EstimateConfig = section(EstimateConfig, "Label-free performance estimate.")
    terms: DriftTermsConfig = section(DriftTermsConfig, "Emerging terms.")


@dataclass
class GateSupport:
    items: int = setting(100, "Gold items a judged slice needs.", bounds=(0, None))
    positives: int = setting(30, "Positives a judged slice needs.", bounds=(0, None))
    negatives: int = setting(0, "Negatives a judged slice needs.", bounds=(0, None))


@dataclass
class RegistryConfig:
    model_name: str = setting("smo-safety", "Registered model holding the versions.")
    version_tag: str = setting("smo_eval.model_id", "Version tag naming the model id.")
    versions: dict[str, str] = setting(help="Model id -> registry version.", factory=dict)
    champion_alias: str = setting("champion", "Alias moved to the candidate on a pass.")
    previous_alias: str = setting("previous_champion", "Alias kept on the old champion.")


CHECK_KINDS = ("floor", "ceiling", "support", "non_regression", "agreement", "drift",
               "coverage", "borderline", "trend")


@dataclass
class CheckSpec:
    kind: str = setting("floor", "floor, ceiling, support, non_regression, agreement, drift, "
                        "coverage, borderline (ceiling `max` on the flag rate of borderline "
                        "items, evaluate/borderline.csv) or trend.", choices=CHECK_KINDS)
    metric: str | None = setting(None, "Metric judged (floor/ceiling/agreement).")
    metrics: list[str] = setting(help="Metrics judged (non_regression; trend: recall, "
                                 "precision, fpr or agreement).",
                                 factory=lambda: ["recall", "fpr"])
    min: Any = setting(None, "Floor: a number, or `target` (the taxonomy's target_recall).")
    max: Any = setting(None, "Ceiling: a number, or `target` (the taxonomy's max_fpr).")
    bound: str = setting("interval", "Judge the interval bound or the point estimate.",
                         choices=("interval", "point"))
    slices: list[Any] = setting(
        help="Selectors: `overall`, `region=*`, `region=*&language=*`, `*`, or a mapping "
        "{dimension: value glob} (values may hold any character).",
        factory=lambda: ["overall"])
    severity: list[int] = setting(help="Keep risk_category slices of these severity tiers.",
                                  factory=list)
    on_insufficient: str = setting("fail", "What insufficient evidence does: fail or warn.",
                                   choices=("fail", "warn"))
    on_unscored: str = setting(
        "fail", "A judged slice with gold items the candidate did not score: fail the slice, "
        "or call it insufficient evidence.", choices=("fail", "insufficient"))
    tolerance: float = setting(0.0, "non_regression: regression allowed (absolute).",
                               bounds=(0.0, 1.0))
    min_items: int | None = setting(None, "Gold items a slice needs (default gate.min_support).")
    min_positives: int | None = setting(None, "Positives a slice needs.")
    min_negatives: int | None = setting(None, "Negatives a slice needs.")
    min_annotated_items: int = setting(0, "agreement: annotated items a slice needs.")
    min_share: float = setting(1.0, "coverage: share of gold items the candidate must score.",
                               bounds=(0.0, 1.0))
    drift_kind: str | None = setting(None, "drift: rows of this kind (metadata, score, gold).")
    columns: list[str] = setting(help="drift: column globs.", factory=lambda: ["*"])
    alarms: bool = setting(False, "drift: fail on drift's own alarm flag instead of `max`.")
    periods: int = setting(1, "trend: fail when a series was in alarm in any of its last this "
                           "many periods with data.", bounds=(1, None))
    subjects: list[str] = setting(
        help="trend: models or QA reviewers whose series are judged (empty: the candidate).",
        factory=list)


@dataclass
class GateConfig:
    name: str = setting("default", "Gate name (shown in every gate file).")
    candidate: str | None = setting(
        None, "Model under test (null: compare.candidates[0], else the last model).")
    baseline: str | None = setting(
        None, "Champion (null: compare.baseline, else the first model).")
    min_support: GateSupport = section(GateSupport, "Preconditions of every judged slice.")
    promote: bool = setting(False, "On a pass, move the registry alias to the candidate.")
    registry: RegistryConfig = section(RegistryConfig, "Model registry.")
    checks: dict[str, CheckSpec | None] = setting(
        help="Checks by name (null switches an inherited check off).", factory=dict)
