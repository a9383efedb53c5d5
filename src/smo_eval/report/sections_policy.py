"""The report's section on per-policy models and borderline content, present only when
evaluate wrote those tables (per-policy predictions, borderline gold labels).

It names each model's largest wrong-policy confusion (rank 1 of evaluate's policy confusion
table), the share of violating items flagged only under a wrong policy, the macro summary,
and the slice whose borderline items the model flags most often among the slices
significantly above the rest (evaluate's `above_rest`, with enough items: not
`low_support`), ranked by the lower bound of the flag rate so a handful of items cannot win.
Its sentences are in `messages/policy_<lang>.yaml`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from smo_eval.report.base import Build, slice_label
from smo_eval.report.i18n import count, interval, pct
from smo_eval.report.model import Finding, Section, Table


@cache
def _catalogue(lang: str) -> dict[str, str]:
    text = resources.files("smo_eval.report").joinpath(
        "messages", f"policy_{lang}.yaml").read_text(encoding="utf-8")
    return {str(k): str(v) for k, v in yaml.safe_load(text).items()}


def _t(build: Build, key: str, **values: Any) -> str:
    template = _catalogue(build.msg.lang).get(key) or _catalogue("en")[key]
    return template.format(**values)


def policy_sections(build: Build) -> list[Section]:
    """The section, or none at all for single-score data without borderline labels."""
    confusion, rates = build.get("policy_confusion"), build.get("borderline")
    if confusion is None and rates is None:
        return []
    section = Section("policies", _t(build, "section"), ran=True, note=_t(build, "note"))
    if confusion is not None:
        _confusion(build, section, confusion)
    if rates is not None:
        _borderline(build, section, rates)
    return [section]


def _confusion(build: Build, section: Section, table: pd.DataFrame) -> None:
    metrics = build.get("metrics") or {}
    for model, part in table.groupby(table["model"].astype(str), sort=False):
        head = metrics.get(model, {})
        if head.get("n_policies"):
            section.findings.append(Finding("policy_macro", _t(
                build, "macro", model=model, recall=pct(head.get("macro_recall")),
                fpr=pct(head.get("macro_fpr")), n=count(head.get("n_policies")),
                micro=pct(head.get("recall")))))
        if head.get("violating_items"):
            section.findings.append(Finding("wrong_policy_only", _t(
                build, "wrong_only", model=model, share=pct(head.get("wrong_policy_only_share")),
                ci=interval(head.get("wrong_policy_only_share_lo"),
                            head.get("wrong_policy_only_share_hi")),
                n=count(head.get("wrong_policy_only")), total=count(head.get("violating_items")))))
        ranked = part[part["rank"].notna()].sort_values("rank")
        if ranked.empty:
            section.findings.append(Finding("policy_confusion", _t(build, "no_confusion",
                                                                   model=model)))
            continue
        top = ranked.iloc[0]
        section.findings.append(Finding("policy_confusion", _t(
            build, "confusion", model=model, items=count(top["items"]), gold=top["gold_policy"],
            flagged=top["flagged_policy"], share=pct(top["share"])), "medium",
            {"model": model, "gold": str(top["gold_policy"]),
             "flagged": str(top["flagged_policy"]), "items": int(top["items"])}))
        shown = ranked.head(build.max_rows)
        section.tables.append(Table(
            _t(build, "confusion.table", model=model),
            [_t(build, f"col.{c}") for c in ("gold", "flagged", "items", "share")],
            [[str(r.gold_policy), str(r.flagged_policy), count(r.items), pct(r.share)]
             for r in shown.itertuples()]))


def _borderline(build: Build, section: Section, rates: pd.DataFrame) -> None:
    for model, part in rates.groupby(rates["model"].astype(str), sort=False):
        overall = part[part["slice"] == "overall"]
        if len(overall):
            o = overall.iloc[0]
            section.findings.append(Finding("borderline_rate", _t(
                build, "borderline.overall", model=model, rate=pct(o["flag_rate"]),
                ci=interval(o["flag_rate_lo"], o["flag_rate_hi"]), n=count(o["n"]))))
        above = part[part["above_rest"].astype(bool) & ~part["low_support"].astype(bool)]
        above = above.sort_values(["flag_rate_lo", "n"], ascending=[False, False])
        if above.empty:
            section.findings.append(Finding("borderline_none", _t(build, "borderline.none",
                                                                  model=model)))
            continue
        top = above.iloc[0]
        section.findings.append(Finding("borderline_market", _t(
            build, "borderline.top", model=model, slice=slice_label(build, top["slice_key"]),
            rate=pct(top["flag_rate"]), ci=interval(top["flag_rate_lo"], top["flag_rate_hi"]),
            n=count(top["n"]), rest=pct(top["rest_flag_rate"]), p=f"{top['p_adjusted']:.2g}"),
            "high", {"model": model, "slice": str(top["slice_key"]),
                     "flag_rate": float(top["flag_rate"])}))
        section.tables.append(Table(
            _t(build, "borderline.table", model=model),
            [_t(build, f"col.{c}") for c in ("slice", "n", "flagged_n", "rate", "interval",
                                              "rest", "p")],
            [[slice_label(build, r.slice_key), count(r.n), count(r.flagged), pct(r.flag_rate),
              interval(r.flag_rate_lo, r.flag_rate_hi), pct(r.rest_flag_rate),
              f"{r.p_adjusted:.2g}"] for r in above.head(build.max_rows).itertuples()]))
