"""Drift at scale: the stage (effect sizes per column and slice, label-free estimate, emerging
terms) on a sample world of `rows` items, Evidently's report on its sampled windows, and the
whole `smo-eval drift` command (ingest in-process, outputs, no MLflow)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.measure import measure_call, measure_command

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["v1", "v2"]


def run(rows: int, workdir: Path) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from tests.drift_helpers import world_windows

    from smo_eval.stages.drift import drift
    from smo_eval.stages.drift_evidently import evidently_drift

    ref, cur, cfg = world_windows(rows)
    thresholds = {m: 0.5 for m in MODELS}
    result, seconds, peak = measure_call(
        lambda: drift(ref, cur, MODELS, thresholds, cfg["drift"], seed=1))
    out = [{"benchmark": "drift", "rows": rows, "what": "drift stage (full windows)",
            "seconds": seconds, "peak_gb": peak, "target": "< 30 s at 1e6"}]
    meta = result.drift[result.drift["kind"].isin(["metadata", "gold"])]["column"].tolist()
    _, seconds, peak = measure_call(lambda: evidently_drift(
        ref, cur, meta, [], MODELS, cfg["drift"]["evidently"], seed=1))
    out.append({"benchmark": "drift", "rows": rows,
                "what": f"Evidently report ({cfg['drift']['evidently']['max_rows']:,} rows "
                        "sampled per window)", "seconds": seconds, "peak_gb": peak,
                "target": "< 15 s"})
    (workdir / "conf").symlink_to(ROOT / "conf")
    bin_dir = Path(sys.executable).parent
    measure_command([str(bin_dir / "smo-eval"), "sample", f"sample.n_items={rows}",
                     "mlflow.enabled=false"], workdir)
    seconds, peak, _ = measure_command([str(bin_dir / "smo-eval"), "drift",
                                     "mlflow.enabled=false"], workdir)
    out.append({"benchmark": "drift", "rows": rows, "what": "smo-eval drift (command, "
                "ingest in-process)", "seconds": seconds, "peak_gb": peak,
                "target": "< 60 s at 1e6"})
    return out
