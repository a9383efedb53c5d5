"""Compare at scale: the comparison in-process (data in memory) and the whole command.

The machine may be shared: each row also carries the CPU seconds (user + system) the timed
work used, which load from other processes does not inflate the way it inflates wall time.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from benchmarks.measure import measure_call

ROOT = Path(__file__).resolve().parents[1]
SMO = [sys.executable, "-m", "smo_eval.cli"]


def prepare(rows: int, workdir: Path) -> None:
    shutil.copytree(ROOT / "conf", workdir / "conf", dirs_exist_ok=True)
    if not (workdir / "outputs/ingest/eval.parquet").is_file():
        # ingest logs to MLflow, so the store exists before the timed commands (as in any
        # project after its first run; creating a fresh SQLite store alone takes seconds).
        for argv in (["sample", f"sample.n_items={rows}"], ["ingest"]):
            subprocess.run([*SMO, *argv], cwd=workdir, check=True, stdout=subprocess.DEVNULL)


def command_with_cpu(argv: Sequence[str], workdir: Path) -> tuple[float, float, float]:
    """(wall seconds, peak GB RSS, CPU seconds) of one command. The peak is polled on the
    process itself: the kernel's RUSAGE_CHILDREN maximum would also count `prepare`'s
    sample and ingest runs, which need far more memory than the command timed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = psutil.Popen(list(argv), cwd=workdir, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if proc.wait() != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(argv))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, peak / 1e9, cpu


def run(rows: int, workdir: Path) -> list[dict]:
    prepare(rows, workdir)
    from smo_eval.commands.context import Context
    from smo_eval.commands.inputs import load_inputs
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
    cmd_seconds, cmd_peak, cmd_cpu = command_with_cpu([*SMO, "compare"], workdir)
    return [
        {"benchmark": "compare", "rows": rows, "what": "comparison in-process (2 models)",
         "seconds": seconds, "cpu_seconds": cpu, "peak_gb": peak, "target": "< 5 s at 1e7"},
        {"benchmark": "compare", "rows": rows, "what": "smo-eval compare (whole command)",
         "seconds": cmd_seconds, "cpu_seconds": cmd_cpu, "peak_gb": cmd_peak,
         "target": "< 25 s at 1e7"},
    ]
