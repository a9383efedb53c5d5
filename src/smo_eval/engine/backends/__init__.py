"""Engine backends: the same sufficient statistics as grouped aggregations, reduced in numpy.

`engine.backend=pandas` (the default) counts arrays in memory (`engine.counting`,
`engine.paired`). `duckdb` and `spark` run the map step as SQL over a *relation* — the
validated evaluation table with one score column per model, read from Parquet (ingest's
outputs, or any file, glob or hive-partitioned folder) or from frames already in memory — and
return small tables: per joint cell the confusion cells, sums and unscored counts; per slice
(GROUPING SETS, one per slicing) the score histogram by label; per joint cell the eight paired
cells of compare. numpy then reduces them exactly as the pandas path does, so every backend
gives the same counts (bins are assigned against the same float64 edges) and the same
metrics. Nothing here is a Python UDF: rows never leave the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from smo_eval.config.schema_engine import EngineConfig

SCORE_PREFIX = "__score__"


@dataclass(frozen=True)
class Relation:
    """A table the backend can query: `sql` is a parenthesised subquery with the evaluation
    table's columns and one DOUBLE column `__score__<model>` per model (NULL = not scored)."""

    backend: Any
    sql: str
    columns: tuple[str, ...]
    models: tuple[str, ...]

    def score(self, model: str) -> str:
        return self.backend.quote(SCORE_PREFIX + model)


def open_backend(cfg: EngineConfig, out_dir: Path) -> Any | None:
    """The configured SQL backend (None for pandas), started once per process."""
    if cfg.backend == "pandas":
        return None
    key = (cfg.backend, repr(cfg.duckdb) if cfg.backend == "duckdb" else repr(cfg.spark),
           str(out_dir))
    if key not in _OPEN:
        if cfg.backend == "duckdb":
            from smo_eval.engine.backends.duck import DuckBackend

            _OPEN[key] = DuckBackend(cfg.duckdb, out_dir)
        else:
            from smo_eval.engine.backends.spark import SparkBackend

            _OPEN[key] = SparkBackend(cfg.spark)
    return _OPEN[key]


_OPEN: dict[tuple[str, str, str], Any] = {}


def frame_relation(backend: Any, table: pd.DataFrame, scores: pd.DataFrame) -> Relation:
    """A relation over frames in memory (the backend reads them, no copy on disk)."""
    return backend.frames(table, scores)


def files_relation(backend: Any, eval_path: Path, scores_path: Path) -> Relation:
    """A relation over ingest's Parquet outputs (row-aligned evaluation table and scores)."""
    return backend.files(eval_path, scores_path)
