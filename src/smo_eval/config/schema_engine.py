"""Settings of the counting engine's backend: where the sufficient statistics are computed."""

from __future__ import annotations

from dataclasses import dataclass

from smo_eval.config.fields import section, setting

BACKENDS = ("pandas", "duckdb", "spark")


@dataclass
class DuckdbConfig:
    memory_limit: str = setting(
        "4GB", "Memory DuckDB may use before it spills to temp_directory (e.g. 4GB, 500MB).")
    temp_directory: str | None = setting(
        None, "Folder DuckDB spills to (null: `<out_dir>/.duckdb_tmp`).")
    threads: int | None = setting(None, "Worker threads (null: one per core).",
                                  bounds=(1, None))


@dataclass
class SparkConfig:
    master: str = setting(
        "local[*]", "Spark master: local[*], local[2], spark://host:7077, yarn, ... "
        "(ignored when `remote` is set).")
    remote: str | None = setting(
        None, "Spark Connect URL (sc://host:15002): count on a remote cluster.")
    conf: dict[str, str] = setting(
        help="Further Spark settings, e.g. {spark.sql.shuffle.partitions: '64'}.",
        factory=dict)


@dataclass
class EngineConfig:
    backend: str = setting(
        "pandas", "Where evaluate and compare count: pandas (in memory, the default), duckdb "
        "(out of core on this machine; ingest of Parquet inputs too; `pip install "
        "smo-eval[duckdb]`) or spark (a cluster; `pip install smo-eval[spark]`). Every "
        "backend gives the same counts and metrics.",
        choices=BACKENDS)
    duckdb: DuckdbConfig = section(DuckdbConfig, "DuckDB backend.")
    spark: SparkConfig = section(SparkConfig, "Spark backend.")
