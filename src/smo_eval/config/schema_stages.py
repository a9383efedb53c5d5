"""Settings of the analysis stages: evaluate (and the operating point every stage shares),
compare, errors, labels and experiment."""

from __future__ import annotations

from dataclasses import dataclass

from smo_eval.config.fields import section, setting


@dataclass
class IntervalConfig:
    level: float = setting(
        0.95, "Confidence level of every interval: exact (Clopper-Pearson) for precision, "
        "recall and FPR, exact through J = tp / (tp + fp + fn) for F1, DeLong / delta-method "
        "with an exact bound at the edges for ROC-AUC and PR-AUC.", bounds=(0.5, 0.999))


@dataclass
class SupportConfig:
    n: int = setting(100, "Items below which a slice is marked low_support.", bounds=(0, None))
    positives: int = setting(20, "Positives below which a slice is marked low_support.",
                             bounds=(0, None))


@dataclass
class EvaluateConfig:
    threshold: float = setting(
        0.5, "Decision threshold (score >= threshold flags the item): the operating point of "
        "every stage.", bounds=(0.0, 1.0))
    thresholds: dict[str, float] = setting(
        help="Per-model thresholds, e.g. {v2: 0.45}; override `threshold` for those models.",
        factory=dict, item_bounds=(0.0, 1.0))
    thresholds_file: str | None = setting(
        None, "Per-slice thresholds (thresholds.csv written by `smo-eval experiment`): every "
        "stage counts at these operating points for the models the file lists.")
    policy_thresholds: dict[str, float] = setting(
        help="Per-policy thresholds for every model, e.g. {hate: 0.4} (predictions with a "
        "policy column); a thresholds file with dimension `policy` sets them per model.",
        factory=dict, item_bounds=(0.0, 1.0))
    borderline: str = setting(
        "separate", "Gold items labelled borderline (data.labels.borderline): exclude them "
        "from every count, count them as safe (negative) or violating (positive), or "
        "separate: left out of the counts like exclude, their flag rate reported beside "
        "the headline metrics. evaluate/borderline.csv gives their flag rate per slice in "
        "every mode.", choices=("exclude", "negative", "positive", "separate"))
    models: list[str] = setting(help="Models to evaluate (empty: every model).", factory=list)
    ci: IntervalConfig = section(IntervalConfig, "Confidence intervals.")
    min_support: SupportConfig = section(SupportConfig, "Slices below this are kept and marked.")
    score_bins: int = setting(8192, "Fine score bins (uniform in logit) for ROC-AUC, PR-AUC "
                              "and curves.", bounds=(16, None))
    calibration_bins: int = setting(10, "Equal-width bins for ECE and reliability curves.",
                                    bounds=(2, None))
    curve_points: int = setting(200, "Points kept in the PR/ROC curve files.", bounds=(2, None))


@dataclass
class CompareConfig:
    baseline: str | None = setting(
        None, "Champion model id (null: the first model in the predictions).")
    candidates: list[str] = setting(
        help="Challenger model ids (empty: every other model).", factory=list)
    optional_candidates: list[str] = setting(
        help="Candidates compared when their predictions exist, else left out with a notice.",
        factory=list)
    metrics: list[str] = setting(help="Metrics compared per slice.",
                                 factory=lambda: ["recall", "precision", "fpr", "f1"])
    correction: str = setting(
        "bh", "Multiple-testing correction across a candidate's slices x metrics: bh "
        "(false discovery rate) or holm (family-wise).", choices=("bh", "holm"))
    alpha: float = setting(0.05, "Level of the corrected tests.", bounds=(0.0, 1.0))
    min_positives: int = setting(20, "Below this a recall/precision/F1 slice is "
                                 "insufficient_evidence.", bounds=(0, None))
    min_negatives: int = setting(50, "Below this an FPR slice is insufficient_evidence.",
                                 bounds=(0, None))
    min_discordant: int = setting(10, "Items only one model gets right, needed to test.",
                                  bounds=(0, None))
    n_boot: int = setting(1000, "Paired bootstrap replicates.", bounds=(10, None))
    ci_level: float = setting(0.95, "Level of the delta intervals.", bounds=(0.5, 0.999))
    flips_xlsx_max_rows: int = setting(5000, "Rows of flips.xlsx (flips.csv keeps all).",
                                       bounds=(0, None))


@dataclass
class FailureSliceConfig:
    max_conditions: int = setting(3, "Conjunctions of up to this many column=value conditions.",
                                  bounds=(1, 5))
    min_support: int = setting(30, "Items of the population a slice needs.", bounds=(1, None))
    min_errors: int = setting(10, "Errors a slice needs.", bounds=(1, None))
    min_odds_ratio: float = setting(
        1.5, "A failure slice: BH-corrected one-sided Fisher test significant and the error "
        "odds ratio against the rest at least this (odds, not the error-rate lift: a model "
        "missing 70% of violations has no slice at 1.5x its miss rate, but a slice missing 95% "
        "has odds ratio ~9; with rare errors the odds ratio is ~ the lift).", bounds=(1.0, None))
    alpha: float = setting(0.05, "BH-corrected one-sided Fisher test against the rest.",
                           bounds=(0.0, 1.0))
    size_weight: float = setting(
        0.01, "Ranking by SliceLine's score with the excess on both sides of the base rate b: "
        "(1 - w)(lift - 1)/(1 - b) - w(N / n - 1).", bounds=(0.0, 1.0))
    min_condition_effect: float = setting(
        0.05, "A conjunction keeps a condition only if removing it grows the slice by more than "
        "this share of its rows; otherwise the shorter slice is the finding.", bounds=(0.0, 1.0))
    explain_share: float = setting(0.9, "A more specific slice keeping this share of the excess "
                                   "errors wins.", bounds=(0.0, 1.0))
    max_jaccard: float = setting(0.8, "Drop a slice whose rows overlap a better one this much.",
                                 bounds=(0.0, 1.0))
    top: int = setting(20, "Slices kept per model and error kind.", bounds=(1, None))


@dataclass
class ErrorModelConfig:
    max_rows: int = setting(100000, "LightGBM error model fit on a sample of this size.",
                            bounds=(100, None))
    n_estimators: int = setting(100, "Trees.", bounds=(1, None))
    num_leaves: int = setting(15, "Leaves per tree.", bounds=(2, None))
    learning_rate: float = setting(0.1, "Learning rate.", bounds=(0.0, 1.0))
    min_errors: int = setting(20, "Errors needed to fit the model.", bounds=(1, None))
    shap_rows: int = setting(2000, "Rows of SHAP contributions.", bounds=(1, None))
    min_support: int = setting(30, "Items a feature value needs to be reported.",
                               bounds=(1, None))
    top_values: int = setting(30, "Feature values reported.", bounds=(1, None))


@dataclass
class ErrorTermsConfig:
    ngram_max: int = setting(3, "Character 2..n-grams for unsegmented scripts.", bounds=(2, 6))
    min_df: int = setting(3, "Documents a term needs.", bounds=(1, None))
    min_count: int = setting(5, "Error documents a term must appear in.", bounds=(1, None))
    min_z: float = setting(3.0, "Smoothed log-odds z-score at least this.")
    prior_strength: float = setting(1000.0, "Informative Dirichlet prior strength.",
                                    bounds=(0.0, None))
    max_docs: int = setting(10000, "Documents per language and population.", bounds=(10, None))
    top: int = setting(30, "Terms kept per model, error kind and language.", bounds=(1, None))


@dataclass
class RcaConfig:
    near_threshold: float = setting(0.1, "|score - threshold| at most this is near_threshold.",
                                    bounds=(0.0, 1.0))
    top_slices: int = setting(10, "Errors inside these failure slices count as failure_slice.",
                              bounds=(0, None))
    order: list[str] = setting(
        help="Root-cause buckets, first that applies wins; none -> unexplained.",
        factory=lambda: ["label_disputed", "near_threshold", "over_represented_term",
                         "failure_slice"])


@dataclass
class ReviewQueueConfig:
    max_rows: int = setting(5000, "Rows of the review queue.", bounds=(1, None))
    fp_weight: float = setting(1.0, "Harm weight of a false positive (misses weigh by "
                               "severity tier).", bounds=(0.0, None))


@dataclass
class ErrorsConfig:
    models: list[str] = setting(help="Models analysed (empty: every model).", factory=list)
    columns: list[str] | None = setting(
        None, "Metadata columns searched for failure slices (null: the slicing dimensions); "
        "derived text features are added when the data has text.")
    slices: FailureSliceConfig = section(FailureSliceConfig, "Failure-slice search.")
    error_model: ErrorModelConfig = section(ErrorModelConfig, "LightGBM error model + SHAP.")
    terms: ErrorTermsConfig = section(ErrorTermsConfig, "Terms over-represented in errors.")
    rca: RcaConfig = section(RcaConfig, "Root-cause buckets.")
    review_queue: ReviewQueueConfig = section(ReviewQueueConfig, "QA review queue.")


@dataclass
class DawidSkeneConfig:
    max_iter: int = setting(100, "EM iterations.", bounds=(1, None))
    tol: float = setting(1e-6, "Convergence tolerance.", bounds=(0.0, None))


@dataclass
class AdjudicationConfig:
    method: str = setting("majority", "How votes become one label.",
                          choices=("majority", "dawid_skene"))
    tie: str = setting("violating", "A tied majority becomes: violating, safe, gold (keep the "
                       "gold label) or unresolved.",
                       choices=("violating", "safe", "gold", "unresolved"))
    dawid_skene: DawidSkeneConfig = section(DawidSkeneConfig, "Dawid-Skene EM.")


@dataclass
class LabelIssuesConfig:
    rank_by: str = setting("self_confidence", "Order of suspected label errors.",
                           choices=("self_confidence", "normalized_margin"))
    min_posterior: float = setting(
        0.5, "Annotated items: flagged when P(gold label wrong | annotator votes, model score) "
        "reaches this (0.5: the other label is more likely than gold).", bounds=(0.0, 1.0))
    annotator_prior_judgments: float = setting(
        10.0, "An annotator's reliability is shrunk toward the pooled one by this many "
        "judgments.", bounds=(0.0, None))
    models: list[str] = setting(help="Models whose mean score is used (empty: all).",
                                factory=list)


@dataclass
class GoldStoreConfig:
    store: str = setting("data/gold", "Folder of the versioned gold store.")
    pointer: str = setting("data.dvc", "DVC pointer file of the store.")
    dvc: bool = setting(True, "Run `dvc add <store> --file <pointer>` after each new version.")
    diff_dimensions: list[str] = setting(
        help="Metadata columns the gold diff is counted by.",
        factory=lambda: ["risk_category", "region", "language", "reviewer"])


@dataclass
class CasesConfig:
    store: str = setting("data/cases/cases.sqlite", "SQLite file of adjudicated precedents.")
    scenario: list[str] = setting(help="Gold columns whose values form the scenario id.",
                                  factory=lambda: ["scenario_id"])
    rationale: str = setting("rationale", "Gold column copied into each case as rationale.")
    policy_ref: str = setting("policy_ref", "Gold column copied as the policy reference.")
    top_k: int = setting(5, "Precedents `cases find` returns.", bounds=(1, None))
    ngram: list[int] = setting(help="Character n-gram lengths for similarity.",
                               factory=lambda: [1, 3])


@dataclass
class LabelsConfig:
    slices: list[str] | None = setting(
        None, "Metadata columns agreement is sliced by (null: the slicing dimensions).")
    min_shared_items: int = setting(20, "Shared items a pair of annotators needs for a Cohen's "
                                    "kappa.", bounds=(1, None))
    adjudication: AdjudicationConfig = section(AdjudicationConfig, "Adjudication rule.")
    issues: LabelIssuesConfig = section(LabelIssuesConfig, "Suspected gold label errors.")
    gold: GoldStoreConfig = section(GoldStoreConfig, "The versioned gold store.")
    cases: CasesConfig = section(CasesConfig, "The case database.")
