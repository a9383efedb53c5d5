"""DuckDB: out-of-core counting on this machine, streamed from Parquet with a memory limit
and spilling to disk (`engine.duckdb.*`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from smo_eval.config.schema_engine import DuckdbConfig
from smo_eval.engine.backends import SCORE_PREFIX, Relation
from smo_eval.errors import ConfigError

_names = itertools.count()


class DuckBackend:
    name = "duckdb"

    def __init__(self, cfg: DuckdbConfig, out_dir: Path) -> None:
        try:
            import duckdb
        except ImportError:
            raise ConfigError("engine.backend=duckdb needs DuckDB: pip install "
                              "'smo-eval[duckdb]'") from None

        temp = Path(cfg.temp_directory) if cfg.temp_directory else out_dir / ".duckdb_tmp"
        temp.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(config={"memory_limit": cfg.memory_limit,
                                          "temp_directory": str(temp),
                                          "preserve_insertion_order": True,
                                          **({"threads": cfg.threads} if cfg.threads else {})})
        self._keep: list[Any] = []  # frames registered with the connection

    @staticmethod
    def quote(name: str) -> str:
        return '"' + str(name).replace('"', '""') + '"'

    @staticmethod
    def sample_key(column: str, seed: int) -> str:
        """A seeded pseudo-random order of rows by their id: the first n are a sample that
        the same data and seed give again, on any number of threads."""
        return f"hash({column}, {int(seed)})"

    def query(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).fetch_df()

    def stream(self, sql: str, rows: int = 1 << 23) -> Iterator[pd.DataFrame]:
        """The result in record batches of about `rows` rows (never all at once)."""
        reader = self.con.sql(sql).to_arrow_reader(rows)
        for batch in reader:
            yield batch.to_pandas()

    def execute(self, sql: str) -> Any:
        return self.con.execute(sql)

    def small_table(self, stem: str, frame: pd.DataFrame) -> str:
        name = f"__{stem}{next(_names)}"
        self.con.register(name, frame)
        self._keep.append(frame)
        return name

    @staticmethod
    def scan(path: str | Path) -> str:
        """A Parquet file, a glob or a (hive-partitioned) folder as a FROM item."""
        text = str(path)
        if Path(text).is_dir():
            text = str(Path(text) / "**" / "*.parquet")
        literal = "'" + text.replace("'", "''") + "'"
        return f"read_parquet({literal}, hive_partitioning = true, union_by_name = true)"

    def frames(self, table: pd.DataFrame, scores: pd.DataFrame) -> Relation:
        scored = pd.DataFrame({SCORE_PREFIX + str(m): scores[m].astype("float64")
                               for m in scores.columns})
        name_t = self.small_table("eval", table)
        name_s = self.small_table("scores", scored)
        return self._relation(name_t, name_s, [str(c) for c in table.columns],
                              [str(m) for m in scores.columns], prefixed=True)

    def files(self, eval_path: Path, scores_path: Path) -> Relation:
        columns = [str(c) for c in pq.read_schema(eval_path).names]
        models = [str(c) for c in pq.read_schema(scores_path).names]
        return self._relation(self.scan(eval_path), self.scan(scores_path), columns, models,
                              prefixed=False)

    def _relation(self, eval_from: str, scores_from: str, columns: list[str],
                  models: list[str], *, prefixed: bool) -> Relation:
        q = self.quote
        scores = ", ".join(
            f"CASE WHEN isnan(CAST(s.{q((SCORE_PREFIX if prefixed else '') + m)} AS DOUBLE)) "
            f"THEN NULL ELSE CAST(s.{q((SCORE_PREFIX if prefixed else '') + m)} AS DOUBLE) END "
            f"AS {q(SCORE_PREFIX + m)}" for m in models)
        cols = ", ".join(f"e.{q(c)}" for c in columns)
        sql = f"(SELECT {cols}, {scores} FROM {eval_from} AS e POSITIONAL JOIN {scores_from} AS s)"
        return Relation(self, sql, tuple(columns), tuple(models))
