"""Errors at scale: the whole `smo-eval errors` command (2 models, FN and FP, MLflow on)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_compare import SMO, prepare
from benchmarks.measure import measure_command


def run(rows: int, workdir: Path) -> list[dict]:
    prepare(rows, workdir)
    seconds, peak, cpu = measure_command([*SMO, "errors"], workdir)
    return [{"benchmark": "errors", "rows": rows, "what": "smo-eval errors (whole command)",
             "seconds": seconds, "cpu_seconds": cpu, "peak_gb": peak,
             "target": "< 60 s at 1e6"}]
