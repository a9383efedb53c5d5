"""`evaluate` on the sample world: two models, default slices, 1,000 replicates.

Targets at 1e7 rows on 2 cores: the evaluation in memory < 5 s, the whole `smo-eval evaluate`
command (Parquet read, outputs and MLflow included) < 20 s, peak memory < 3 GB.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from benchmarks.common import SMO_EVAL, overrides, sample_project
from benchmarks.measure import measure_call, measure_command
from smo_eval.stages.evaluate import evaluate


def run(rows: int, workdir: Path) -> list[dict]:
    project = sample_project(rows, workdir)
    args = overrides(rows, project)
    ingest_s, ingest_gb, ingest_cpu = measure_command([SMO_EVAL, "ingest", *args], project)
    command_s, command_gb, command_cpu = measure_command([SMO_EVAL, "evaluate", *args], project)

    table = pd.read_parquet(project / "outputs/ingest/eval.parquet")
    scores = pd.read_parquet(project / "outputs/ingest/scores.parquet")
    cfg = OmegaConf.to_container(OmegaConf.load(project / "conf/evaluate/default.yaml"))
    slicing = OmegaConf.to_container(OmegaConf.load(project / "conf/slicing/default.yaml"))
    cpu_start = time.process_time()
    result, seconds, peak = measure_call(lambda: evaluate(table, scores, cfg, slicing, seed=1))
    cpu = time.process_time() - cpu_start
    n_slices = len(result.slice_metrics) // 2
    base = {"benchmark": "evaluate", "rows": rows}
    return [
        {**base, "what": f"evaluation in memory ({n_slices} slices x 2 models, 1,000 reps)",
         "seconds": seconds, "cpu_seconds": cpu, "peak_gb": peak, "target": "< 5 s at 1e7"},
        {**base, "what": "smo-eval evaluate (whole command)", "seconds": command_s,
         "peak_gb": command_gb, "cpu_seconds": command_cpu, "target": "< 20 s, < 3 GB at 1e7"},
        {**base, "what": "smo-eval ingest (whole command, for reference)", "seconds": ingest_s,
         "peak_gb": ingest_gb, "cpu_seconds": ingest_cpu, "target": ""},
    ]
