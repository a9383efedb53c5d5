"""Spark: the map step as Spark SQL on a cluster (`engine.spark.master`, or a Spark Connect
URL in `engine.spark.remote`); results come back as small Arrow tables."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from smo_eval.config.schema_engine import SparkConfig
from smo_eval.engine.backends import SCORE_PREFIX, Relation
from smo_eval.errors import ConfigError

_names = itertools.count()


class SparkBackend:
    name = "spark"

    def __init__(self, cfg: SparkConfig) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ConfigError("engine.backend=spark needs pyspark: pip install "
                              "'smo-eval[spark]'") from None
        builder = SparkSession.builder.appName("smo-eval")
        builder = builder.remote(cfg.remote) if cfg.remote else builder.master(cfg.master)
        settings = {"spark.sql.execution.arrow.pyspark.enabled": "true",
                    "spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false",
                    "spark.ui.showConsoleProgress": "false",
                    # pandas writes nanosecond timestamps, which Spark reads only as numbers.
                    "spark.sql.legacy.parquet.nanosAsLong": "true",
                    # The results are small tables: few shuffle partitions on one machine.
                    **({"spark.sql.shuffle.partitions": "8"}
                       if not cfg.remote and cfg.master.startswith("local") else {}),
                    **{str(k): str(v) for k, v in cfg.conf.items()}}
        for key, value in settings.items():
            builder = builder.config(key, value)
        self.spark = builder.getOrCreate()
        if not cfg.remote:
            self.spark.sparkContext.setLogLevel("ERROR")

    @staticmethod
    def quote(name: str) -> str:
        return "`" + str(name).replace("`", "``") + "`"

    @staticmethod
    def sample_key(column: str, seed: int) -> str:
        """A seeded pseudo-random order of rows by their id: the first n are a sample that
        the same data and seed give again, however the data is partitioned."""
        return f"xxhash64({column}, {int(seed)})"

    def query(self, sql: str) -> pd.DataFrame:
        return self.spark.sql(sql).toPandas()

    def small_table(self, stem: str, frame: pd.DataFrame) -> str:
        name = f"__{stem}{next(_names)}"
        self.spark.createDataFrame(frame).createOrReplaceTempView(name)
        return name

    def frames(self, table: pd.DataFrame, scores: pd.DataFrame) -> Relation:
        """Frames in memory as one temporary view (the driver ships them to the executors)."""
        plain = table.copy()
        for column in plain.columns:  # Arrow dictionaries and pandas categories become text
            if isinstance(plain[column].dtype, pd.CategoricalDtype):
                plain[column] = plain[column].astype(object).where(plain[column].notna(), None)
        for model in scores.columns:
            plain[SCORE_PREFIX + str(model)] = scores[model].astype("float64")
        name = self.small_table("eval", plain)
        return self._relation(name, [str(c) for c in table.columns],
                              [str(m) for m in scores.columns])

    def files(self, eval_path: Path, scores_path: Path) -> Relation:
        """Ingest's two row-aligned files, joined on each row's index in its file."""
        from pyspark.sql import functions as F

        reader = self.spark.read
        e = reader.parquet(str(eval_path)).select("*", "_metadata.row_index")
        for name in _nanosecond_timestamps(eval_path):
            # nanosAsLong read pandas' nanosecond timestamps as numbers: timestamps again
            # (microseconds, floored, so a day boundary splits the rows as in pandas).
            c = self.quote(name)
            e = e.withColumn(name, F.expr(f"timestamp_micros(({c} - pmod({c}, 1000)) div 1000)"))
        s = reader.parquet(str(scores_path))
        models = [str(c) for c in s.columns]
        s = s.select(*[s[m].alias(SCORE_PREFIX + m) for m in models], "_metadata.row_index")
        name = f"__files{next(_names)}"
        e.join(s, "row_index").drop("row_index").createOrReplaceTempView(name)
        return self._relation(name, [c for c in e.columns if c != "row_index"], models)

    def _relation(self, view: str, columns: list[str], models: list[str]) -> Relation:
        q = self.quote
        scores = ", ".join(
            f"CASE WHEN isnan({q(SCORE_PREFIX + m)}) THEN NULL ELSE "
            f"CAST({q(SCORE_PREFIX + m)} AS DOUBLE) END AS {q(SCORE_PREFIX + m)}" for m in models)
        cols = ", ".join(q(c) for c in columns)
        return Relation(self, f"(SELECT {cols}, {scores} FROM {view})", tuple(columns),
                        tuple(models))



def _nanosecond_timestamps(path: Path) -> list[str]:
    """Columns of a Parquet file stored as nanosecond timestamps (as pandas writes them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return [f.name for f in pq.read_schema(path)
            if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]
