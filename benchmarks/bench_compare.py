"""Compare at scale: the comparison in-process (data in memory) and the whole command.

The machine may be shared: each row also carries the CPU seconds (user + system) the timed
work used, which load from other processes does not inflate the way it inflates wall time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.measure import measure_call, measure_command

ROOT = Path(__file__).resolve().parents[1]
SMO = [sys.executable, "-m", "smo_eval.cli"]


def prepare(rows: int, workdir: Path) -> None:
    shutil.copytree(ROOT / "conf", workdir / "conf", dirs_exist_ok=True)
    if not (workdir / "outputs/ingest/eval.parquet").is_file():
        # ingest logs to MLflow, so the store exists before the timed commands (as in any
        # project after its first run; creating a fresh SQLite store alone takes seconds).
        for argv in (["sample", f"sample.n_items={rows}"], ["ingest"]):
            subprocess.run([*SMO, *argv], cwd=workdir, check=True, stdout=subprocess.DEVNULL)


def run(rows: int, workdir: Path) -> list[dict]:
    prepare(rows, workdir)
    from smo_eval.commands.inputs import load_inputs

    from smo_eval.commands.context import Context
    from smo_eval.stages.compare import compare

    here = Path.cwd()
    os.chdir(workdir)
    try:
        ctx = Context.load(["mlflow.enabled=false"], None)
        inputs = load_inputs(ctx)
        cpu_start = time.process_time()
        _, seconds, peak = measure_call(lambda: compare(
            inputs.eval_table, inputs.scores, ctx.section("compare"), ctx.section("slicing"),
            ctx.seed))
        cpu = time.process_time() - cpu_start
    finally:
        os.chdir(here)
    cmd_seconds, cmd_peak, cmd_cpu = measure_command([*SMO, "compare"], workdir)
    return [
        {"benchmark": "compare", "rows": rows, "what": "comparison in-process (2 models)",
         "seconds": seconds, "cpu_seconds": cpu, "peak_gb": peak, "target": "< 5 s at 1e7"},
        {"benchmark": "compare", "rows": rows, "what": "smo-eval compare (whole command)",
         "seconds": cmd_seconds, "cpu_seconds": cmd_cpu, "peak_gb": cmd_peak,
         "target": "< 25 s at 1e7"},
    ]
