"""`smo-eval cases add|check|find`: the case database of adjudicated precedents (SQLite).

The store is one SQLite file (`labels.cases.store`, under data/cases/): it survives versions,
any SQLite client reads it, and each `add` is one transaction. A case is unique by (scenario,
text), so growing the database from the same gold set twice adds nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import command_run, folder
from smo_eval.commands.gold import _validated, resolve_ref
from smo_eval.errors import ConfigError, ContractError, RowProblem
from smo_eval.io.writers import write_csv, write_json
from smo_eval.pipeline.runner import Runner
from smo_eval.stages.cases import CASE_COLUMNS, cases_from_gold, check, nearest, precedents

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    case_id INTEGER PRIMARY KEY AUTOINCREMENT,
    scenario_id TEXT NOT NULL,
    text TEXT NOT NULL,
    decision INTEGER NOT NULL CHECK (decision IN (0, 1)),
    risk_category TEXT,
    rationale TEXT,
    policy_ref TEXT,
    decided_at TEXT NOT NULL,
    source TEXT,
    item_id TEXT,
    UNIQUE (scenario_id, text)
);
CREATE INDEX IF NOT EXISTS cases_scenario ON cases (scenario_id);
"""


def _path(ctx: Runner) -> Path:
    return Path(ctx.config.labels.cases.store)


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=60)) as conn:
        conn.executescript(SCHEMA)
        yield conn


def load_cases(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=["case_id", *CASE_COLUMNS])
    with connect(path) as conn:
        return pd.read_sql_query("SELECT * FROM cases ORDER BY case_id", conn)


def _gold(ctx: Runner, file: Path | None) -> tuple[pd.DataFrame, str]:
    source = str(file) if file else ctx.config.data.gold
    if not source:
        raise ContractError([RowProblem("config", None, None, "no gold file: give FILE or "
                                        "data.gold")])
    return _validated(ctx, "gold", resolve_ref(ctx, str(source))), str(source)


@contextmanager
def _naming(source: str) -> Iterator[None]:
    """A setting the gold file cannot satisfy (a scenario column it lacks) names the file."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def add(ctx: Runner, file: Path | None = None) -> int:
    """Grow the database from a gold set; returns how many new cases were stored."""
    gold, source = _gold(ctx, file)
    with _naming(source):
        rows = cases_from_gold(gold, ctx.config.labels.cases, source)
    path = _path(ctx)
    with connect(path) as conn, conn:
        before = conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
        conn.executemany(
            f"INSERT OR IGNORE INTO cases ({', '.join(CASE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(CASE_COLUMNS))})",
            rows[CASE_COLUMNS].astype(object).where(rows[CASE_COLUMNS].notna(), None)
            .itertuples(index=False, name=None))
        after = conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    added = int(after - before)
    console.say(f"{added:,} new case(s) from {source} ({len(rows) - added:,} already "
                f"stored); {after:,} cases in {path}")
    with command_run(ctx, "cases-add", f"cases add · {source}",
                     {"cases_source": source}) as mlrun:
        if mlrun is not None:
            mlrun.log_metrics({"cases/added": added, "cases/total": after})
    return added


def run_check(ctx: Runner, file: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flag gold labels against precedents and scenarios whose gold labels disagree."""
    gold, source = _gold(ctx, file)
    cases = load_cases(_path(ctx))
    if cases.empty:
        console.notices([f"the case database {_path(ctx)} is empty: only scenarios whose own "
                         "gold labels disagree are checked (grow it with `smo-eval cases add`)"])
    with _naming(source):
        conflicts, scenarios = check(gold, list(ctx.config.labels.cases.scenario), cases)
    target = folder(ctx, "labels")
    written = ctx.catalog.write("cases.conflicts", conflicts)
    written.append(write_csv(scenarios, target / "scenario_conflicts.csv"))
    summary = {"gold": source, "gold_items": len(gold), "contradicts_precedent": len(conflicts),
               "scenarios_with_disagreeing_gold": len(scenarios),
               "scenarios_with_precedent": len(precedents(cases))}
    written.append(write_json(summary, target / "cases_check.json"))
    console.console.print(console.table(
        f"Gold labels contradicting their scenario's precedent ({len(conflicts):,} of "
        f"{len(gold):,})", conflicts, {"n_cases": "count", "n_agree": "count"}, max_rows=15))
    console.console.print(console.table(
        f"Scenarios whose own gold labels disagree ({len(scenarios):,})", scenarios,
        {"n_items": "count", "n_violating": "count", "n_safe": "count",
         "minority_share": "ratio"}, max_rows=15))
    with command_run(ctx, "cases-check", f"cases check · {source}",
                     {"cases_gold": source}) as mlrun:
        if mlrun is not None:
            mlrun.log_metrics({f"cases/{k}": v for k, v in summary.items()
                               if isinstance(v, int)})
            for file in written:
                if file.suffix == ".csv":
                    mlrun.log_artifact(file, "labels")
    return conflicts, scenarios


def find(ctx: Runner, text: str, k: int | None = None) -> pd.DataFrame:
    """The nearest precedents of a new text, with their scenario's precedent decision."""
    cfg = ctx.config.labels.cases
    cases = load_cases(_path(ctx))
    if cases.empty:
        raise ContractError([RowProblem(str(_path(ctx)), None, None,
                                        "the case database is empty (`smo-eval cases add`)")])
    hits = nearest(cases, text, int(k or cfg.top_k), tuple(cfg.ngram))
    hits = hits.merge(precedents(cases)[["scenario_id", "precedent"]], on="scenario_id",
                      how="left")
    cols = ["rank", "similarity", "case_id", "scenario_id", "decision", "precedent",
            "risk_category", "text", "rationale", "policy_ref", "decided_at"]
    console.console.print(console.table(f"Nearest precedents for: {text}", hits[cols],
                                        {"similarity": "num", "rank": "count"}))
    return hits[cols]
