"""Sections drawn from the later stages' outputs: comparison, errors, labels, drift (the
gate's: `sections_gate`).

Each reads its stage's files as the stage writes them (the formats in the README's stage
sections); a stage that left no outputs gives a section marked "not run". Tables show named
columns, headers and the tool's words in the report's language; metadata columns shown beside
items are the team's own slicing dimensions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smo_eval.report import figures
from smo_eval.report.base import Build, frame_table, join, mask_text, not_run, slice_label
from smo_eval.report.i18n import cell, count, interval, num, pct, pp
from smo_eval.report.model import Figure, Finding, Section, Table


def comparison(build: Build) -> Section:
    frame = build.get("comparison")
    if frame is None:
        return not_run(build, "comparison", "compare", "compare/comparison.parquet")
    section = Section("comparison", build.t("section.comparison"), ran=True,
                      note=build.t("comparison.note"))
    moved = frame[frame["verdict"].isin(["regressed", "improved"])].copy()
    moved["size"] = moved["delta"].abs()
    moved = moved.sort_values(["verdict", "size"], ascending=[False, False])
    counts = frame["verdict"].value_counts()
    section.totals["regression"] = int(counts.get("regressed", 0))
    section.findings.append(Finding("comparison_counts", build.t(
        "comparison.counts", regressed=count(counts.get("regressed", 0)),
        improved=count(counts.get("improved", 0)), tested=count(len(frame)),
        insufficient=count(counts.get("insufficient_evidence", 0))), "info"))
    for r in moved[moved["verdict"] == "regressed"].head(build.max_rows).itertuples():
        section.findings.append(Finding("regression", build.t(
            "comparison.regressed", candidate=r.candidate, baseline=r.baseline,
            metric=build.msg.name(str(r.metric)), slice=slice_label(build, r.slice_key),
            base=pct(r.baseline_value), cand=pct(r.candidate_value), delta=pp(r.delta),
            ci=interval(r.delta_lo, r.delta_hi, pp), p=f"{r.p_adjusted:.2g}"), "high",
            {"candidate": r.candidate, "baseline": r.baseline, "slice": r.slice_key,
             "metric": r.metric, "delta": float(r.delta)}))
    rows = [[str(r.candidate), slice_label(build, r.slice_key), build.msg.name(str(r.metric)),
             pct(r.baseline_value), pct(r.candidate_value), pp(r.delta),
             interval(r.delta_lo, r.delta_hi, pp), f"{r.p_adjusted:.2g}",
             build.msg.name(str(r.verdict))] for r in moved.head(build.max_rows).itertuples()]
    section.tables.append(Table(build.t("comparison.table"), [build.t(f"comparison.col.{c}") for c
                                in ("candidate", "slice", "metric", "baseline", "candidate_value",
                                    "delta", "interval", "p", "verdict")], rows,
                                [str(v) for v in moved["verdict"].head(build.max_rows)]))
    if len(moved):
        top = moved.head(30).copy()
        top["label"] = [f"{c} · {slice_label(build, s)} · {build.msg.name(str(m))}"
                        for c, s, m in zip(top["candidate"], top["slice_key"], top["metric"],
                                           strict=True)]
        title = build.t("comparison.figure")
        section.figures.append(Figure("comparison-deltas", title, figures.forest(
            top, title, build.t("comparison.col.delta"))))
    return section


def errors(build: Build) -> Section:
    """errors/: failure_slices, error_drivers, error_terms, rca, review_queue, summary.json."""
    names = ("failure_slices", "error_drivers", "error_terms", "rca", "review_queue",
             "errors_summary")
    if not build.has(*names):
        return not_run(build, "errors", "errors", "errors/failure_slices.csv, …")
    section = Section("errors", build.t("section.errors"), ran=True)
    for model, head in (build.get("errors_summary") or {}).items():
        buckets = head.get("buckets") or {}
        top = max(buckets, key=lambda b: buckets[b]) if buckets else ""
        section.findings.append(Finding("error_counts", build.t(
            "errors.counts", model=model, n_fn=count(head.get("n_fn")),
            n_fp=count(head.get("n_fp")), bucket=build.msg.name(str(top)),
            n_bucket=count(buckets.get(top))), "info"))
    slices = build.get("failure_slices")
    if slices is not None and len(slices):
        # The strongest slice of each model and error kind (the stage ranks within them).
        for r in slices.sort_values("rank").groupby(["model", "error"], sort=True).head(1) \
                .to_dict("records"):
            section.findings.append(Finding("failure_slice", build.t(
                "errors.slice", model=r["model"], error=build.msg.name(str(r["error"])),
                slice=slice_label(build, r["slice_key"]), rate=pct(r["error_rate"]),
                rest=pct(r["rest_rate"]), n=count(r["n"])), "medium",
                {"slice": r["slice_key"], "model": r["model"], "error": r["error"]}))
        section.tables.append(frame_table(build, slices.sort_values(["rank", "model", "error"]),
                                          build.t("errors.failure_slices"), FAILURE_COLUMNS))
    terms = build.get("error_terms")
    if terms is not None and len(terms):
        top = terms.sort_values("z", ascending=False).drop_duplicates("term").head(5)
        section.findings.append(Finding("error_terms", build.t(
            "errors.terms", terms=join(build, [f"{t} ({lang})" for t, lang in
                                               zip(top["term"], top["language"], strict=True)])),
            "info"))
        section.tables.append(frame_table(build, terms.sort_values("z", ascending=False),
                                          build.t("errors.error_terms"), TERM_COLUMNS))
    drivers = build.get("error_drivers")
    if drivers is not None:
        section.tables.append(frame_table(
            build, drivers.sort_values("mean_contribution", ascending=False),
            build.t("errors.error_drivers"), DRIVER_COLUMNS))
    rca = build.get("rca")
    if rca is not None:
        section.tables.append(frame_table(build, rca[rca["dimension"] == "overall"],
                                          build.t("errors.rca"), RCA_COLUMNS))
    queue = build.get("review_queue")
    if queue is not None:
        section.tables.append(_examples(build, queue))
    return section


FAILURE_COLUMNS = ("model", "error", "rank", "slice", "n", "errors", "error_rate", "rest_rate",
                   "odds_ratio", "p_adjusted")
DRIVER_COLUMNS = ("model", "error", "feature", "value", "n", "error_rate", "mean_contribution",
                  "feature_importance")
ANNOTATOR_COLUMNS = ("rank", "annotator_id", "n_ratings", "agreement_with_adjudicated",
                     "kappa_with_adjudicated", "positive_rate", "agreement_with_gold",
                     "kappa_with_gold")
RCA_COLUMNS = ("model", "error", "n_errors", "label_disputed", "near_threshold",
               "over_represented_term", "failure_slice", "unexplained")
TERM_COLUMNS = ("model", "error", "language", "term", "n_error_docs", "error_doc_rate",
                "correct_doc_rate", "z")


def item_dimensions(build: Build, frame: pd.DataFrame, limit: int = 3) -> list[str]:
    """Metadata shown beside items: the first `limit` configured slicing dimensions the
    table has (whatever the team calls them)."""
    return [d for d in build.config.slicing.dimensions if d in frame.columns][:limit]


def _examples(build: Build, queue: pd.DataFrame) -> Table:
    """A few review-queue items per root cause, most impactful first: text masked by config
    and truncated (the renderer escapes it)."""
    examples = build.cfg.examples
    picked = queue.groupby("root_cause", sort=False, observed=True).head(examples.per_slice) \
        .head(build.max_rows) if "root_cause" in queue.columns else queue.head(build.max_rows)
    cols = [c for c in ("root_cause", "item_id", "model", "error", "label", "score",
                        *item_dimensions(build, picked)) if c in picked.columns]
    words = ("root_cause", "error")
    rows = [[build.msg.name(str(r[c])) if c in words else cell(c, r[c]) for c in cols]
            + [mask_text(r.get("text"), examples)] for r in picked.to_dict("records")]
    headers = [build.msg.name(c) for c in cols] + [build.msg.name("text")]
    return Table(build.t("errors.examples"), headers, rows, [], build.t(
        "errors.examples_note", n=count(len(queue))))


def labels(build: Build) -> Section:
    """labels/: agreement, annotators, annotator_pairs, label_issues(+_rates), metrics.json;
    gold_diff.json + gold_impact.csv (gold ingest); case_conflicts.csv (cases check)."""
    names = ("agreement", "annotators", "label_issues", "labels_metrics", "gold_diff",
             "gold_impact", "case_conflicts")
    if not build.has(*names):
        return not_run(build, "labels", "labels", "labels/agreement.csv, …")
    section = Section("labels", build.t("section.labels"), ran=True)
    head = build.get("labels_metrics")
    if head:
        section.findings.append(Finding("label_headline", build.t(
            "labels.headline", alpha=num(head.get("krippendorff_alpha"), 2),
            n=count(head.get("annotated_items")), disputed=pct(head.get("disputed_share")),
            errors=count(head.get("suspected_label_errors")),
            rate=pct(head.get("suspected_error_rate"), 2)), "info"))
    agreement = build.get("agreement")
    if agreement is not None:
        floor = build.rules.min_agreement
        enough = build.rules.min_agreement_items
        low = agreement[(agreement["krippendorff_alpha"] < floor)
                        & (agreement["n_items"] >= enough)].sort_values("krippendorff_alpha")
        section.totals["low_agreement"] = len(low)
        for r in low.head(5).to_dict("records"):
            section.findings.append(Finding("low_agreement", build.t(
                "labels.low_agreement", slice=slice_label(build, r["slice_key"]),
                value=num(r["krippendorff_alpha"], 2), floor=num(floor, 2),
                n=count(r["n_items"])), "medium", {"slice": r["slice_key"]}))
        section.tables.append(frame_table(build, agreement, build.t("labels.agreement"), (
            "slice", "n_items", "n_annotators", "krippendorff_alpha", "fleiss_kappa",
            "mean_pairwise_cohen_kappa")))
    annotators = build.get("annotators")
    if annotators is not None and len(annotators):
        careless = _careless(build, annotators)
        section.findings.extend(careless)
        flagged = {f.subject["annotator"] for f in careless}
        ordered = annotators.sort_values("kappa_with_adjudicated")
        section.tables.append(frame_table(
            build, ordered, build.t("labels.annotators"), ANNOTATOR_COLUMNS,
            marks=["status-below" if str(a) in flagged else "" for a in ordered["annotator_id"]]))
    pairs = build.get("annotator_pairs")
    if pairs is not None and len(pairs):
        section.tables.append(frame_table(build, pairs.sort_values("cohen_kappa"),
                                          build.t("labels.annotator_pairs"), (
            "annotator_a", "annotator_b", "shared_items", "cohen_kappa", "agreement")))
    issues = build.get("label_issues")
    if issues is not None:
        section.findings.append(Finding("label_issues", build.t(
            "labels.issues", n=count(len(issues))), "info" if len(issues) == 0 else "medium",
            {"n": len(issues)}))
        section.tables.append(frame_table(build, issues, build.t("labels.label_issues"), (
            "rank", "item_id", "given_label", "suggested_label", "model_score", "reason",
            *item_dimensions(build, issues))))
    rates = build.get("label_issue_rates")
    if rates is not None and len(rates):
        enough = build.rules.min_agreement_items
        section.tables.append(frame_table(build, rates[rates["n_items"] >= enough].sort_values(
            "rate", ascending=False), build.t("labels.label_issue_rates"), (
            "slice", "n_items", "suspected_errors", "rate")))
    section.findings.extend(_relabel(build, section))
    conflicts = build.get("case_conflicts")
    if conflicts is not None:
        if len(conflicts):
            section.findings.append(Finding("case_conflicts", build.t(
                "labels.case_conflicts_found", n=count(len(conflicts))), "medium"))
        section.tables.append(frame_table(build, conflicts, build.t("labels.case_conflicts"), (
            "item_id", "scenario_id", "gold_label", "precedent_decision", "n_cases", "n_agree",
            "risk_category", "reviewer")))
    return section


def _relabel(build: Build, section: Section) -> list[Finding]:
    """The last gold ingest: what changed (gold_diff.json) and its effect per model and metric
    (gold_impact.csv), split into relabels and added/removed items."""
    diff, impact = build.get("gold_diff"), build.get("gold_impact")
    out = []
    if diff:
        out.append(Finding("gold_diff", build.t(
            "labels.gold_diff_counts", old=diff.get("old_version"), new=diff.get("new_version"),
            **{k: count(diff.get(k, 0)) for k in ("added", "removed", "relabeled",
                                                  "recategorised")}), "info"))
    if impact is not None and len(impact):
        section.tables.append(frame_table(build, impact, build.t("labels.gold_impact"), (
            "model", "metric", "old", "new", "change", "due_to_relabels",
            "due_to_added_removed")))
        recall = impact[impact["metric"] == "recall"]
        for r in recall.to_dict("records"):
            out.append(Finding("gold_impact", build.t(
                "labels.gold_impact_recall", model=r["model"], old=pct(r["old"]),
                new=pct(r["new"]), relabels=pp(r["due_to_relabels"]),
                added=pp(r["due_to_added_removed"])), "info"))
    return out


def _careless(build: Build, annotators: pd.DataFrame) -> list[Finding]:
    """Annotators whose kappa with the adjudicated label is far below their peers' median."""
    value = "kappa_with_adjudicated"
    if len(annotators) < 3:
        return []
    median = float(annotators[value].median())
    gap = build.rules.annotator_gap
    low = annotators[annotators[value] < median - gap].sort_values(value)
    return [Finding("careless_annotator", build.t(
        "labels.careless", annotator=r["annotator_id"], value=num(r[value], 2),
        median=num(median, 2), agreement=pct(r["agreement_with_adjudicated"])), "high",
        {"annotator": str(r["annotator_id"]), "value": float(r[value]), "median": median})
        for r in low.to_dict("records")]


def drift(build: Build) -> Section:
    """drift/: drift.csv (one row per test: metadata columns and per-slice score columns),
    drift.json (windows, notices), performance_estimate.csv, emerging_terms.csv; plus the
    command's per-value shares of drifted metadata columns (`drift_shares`)."""
    if not build.has("drift_tests", "performance_estimate", "emerging_terms"):
        return not_run(build, "drift", "drift", "drift/drift.csv, …")
    section = Section("drift", build.t("section.drift"), ran=True, note=build.t("drift.note"))
    report = build.get("drift") or {}
    windows = report.get("windows") or {}
    if windows:
        section.findings.append(Finding("drift_windows", build.t(
            "drift.windows", ref=count((windows.get("reference") or {}).get("n")),
            cur=count((windows.get("current") or {}).get("n"))), "info"))
    tests = build.get("drift_tests")
    if tests is not None and len(tests):
        tests = _drift_status(tests)
        section.totals["drift"] = int((tests["status"] == "alarm").sum())
        section.findings.extend(_drift_findings(build, tests))
        marks = ["status-below" if s == "alarm" else "status-uncertain" if s == "watch" else ""
                 for s in tests["status"]]
        section.tables.append(frame_table(build, tests, build.t("drift.table"), (
            "kind", "column", "slice", "method", "value", "threshold", "p_value",
            "n_reference", "n_current", "status"), marks))
    estimate = build.get("performance_estimate")
    if estimate is not None:
        section.tables.append(frame_table(build, estimate, build.t("drift.estimate"), (
            "model", "slice", "n", "est_precision", "est_precision_lo", "est_precision_hi",
            "est_recall", "est_recall_lo", "est_recall_hi", "actual_precision",
            "actual_recall")))
    terms = build.get("emerging_terms")
    if terms is not None and len(terms):
        top = terms.sort_values("z", ascending=False).drop_duplicates(["language", "term"])
        section.totals["emerging_term"] = len(top)
        for r in top.head(3).to_dict("records"):
            section.findings.append(Finding("emerging_term", build.t(
                "drift.term", term=r["term"], language=r["language"],
                ref=count(r["ref_count"]), cur=count(r["cur_count"]), z=num(r["z"], 1)),
                "medium", {"term": str(r["term"]), "language": r["language"]}))
        section.tables.append(frame_table(build, top, build.t("drift.terms"), (
            "language", "subset", "term", "ref_count", "cur_count", "ref_share", "cur_share",
            "z")))
        bar = top.head(15)
        title = build.t("drift.terms")
        section.figures.append(Figure("emerging-terms", title, figures.bars(
            [f"{t} ({lang})" for t, lang in zip(bar["term"], bar["language"], strict=True)],
            [float(v) for v in bar["z"]], title, build.msg.name("z"))))
    for notice in report.get("notices") or []:  # the stage's own words, marked as such
        section.findings.append(Finding("drift_notice", build.t("drift.notice",
                                                                text=str(notice)), "info"))
    return section


def _drift_status(tests: pd.DataFrame) -> pd.DataFrame:
    """alarm (the stage's verdict), watch (effect above threshold but too few items or not
    significant, so no alarm) or ok; alarms first, then by effect relative to threshold."""
    over = tests["value"] >= tests["threshold"]
    status = np.where(tests["drifted"].astype(bool), "alarm", np.where(over, "watch", "ok"))
    order = pd.Series(status).map({"alarm": 0, "watch": 1, "ok": 2}).to_numpy()
    ratio = (tests["value"] / tests["threshold"]).to_numpy()
    out = tests.assign(status=status, _o=order, _r=-ratio)
    return out.sort_values(["_o", "_r"]).drop(columns=["_o", "_r"]).reset_index(drop=True)


def _drift_findings(build: Build, tests: pd.DataFrame) -> list[Finding]:
    shares = build.get("drift_shares")
    out = []
    for r in tests[tests["status"] == "alarm"].head(build.max_rows).to_dict("records"):
        model = r.get("model")
        model = None if model is None or model != model or model == "" else str(model)
        if r["kind"] == "score" and model:
            text = build.t("drift.score_alarm", model=model,
                           slice=slice_label(build, r["slice_key"]),
                           method=build.msg.name(str(r["method"])),
                           value=num(r["value"]), threshold=num(r["threshold"]))
        else:
            moved = ""
            if shares is not None and len(shares):
                top = shares[shares["column"] == r["column"]]
                if len(top):
                    t = top.iloc[0]
                    moved = build.t("drift.moved", value=t["value"], ref=pct(t["ref_share"]),
                                    cur=pct(t["cur_share"]))
            text = build.t("drift.alarm", name=build.msg.name(str(r["column"])),
                           method=build.msg.name(str(r["method"])), value=num(r["value"]),
                           threshold=num(r["threshold"]), moved=moved)
        out.append(Finding("drift", text, "medium", {
            "name": str(r["column"]), "kind": r["kind"], "model": model,
            "slice": r["slice_key"]}))
    watch = tests[tests["status"] == "watch"]
    if len(watch):
        r = watch.iloc[0]
        out.append(Finding("drift_watch", build.t(
            "drift.watch", n=count(len(watch)), name=build.msg.name(str(r["column"])),
            slice=slice_label(build, r["slice_key"]), value=num(r["value"]),
            threshold=num(r["threshold"]), n_cur=count(r["n_current"])), "info"))
    if not (tests["status"] == "alarm").any():
        out.append(Finding("no_drift", build.t("drift.none", n=count(len(tests))), "info"))
    return out

