"""Report size and time against the number of evaluated rows.

The page embeds aggregates only (slice metrics, curve points, histograms), so its size must
not grow with rows: run at two sizes (e.g. `--rows 1e5 1e6`) and compare; the target is
< 5 MB at any size (1e7 included).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.measure import measure_command

ROOT = Path(__file__).resolve().parents[1]


def run(rows: int, workdir: Path) -> list[dict[str, object]]:
    folder = workdir / f"report-{rows}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "conf", folder / "conf")
    smo = str(ROOT / ".venv" / "bin" / "smo-eval")
    common = ["mlflow.enabled=false", "evaluate.ci.n_boot=200"]
    measure_command([smo, "sample", f"sample.n_items={rows}", *common], cwd=folder)
    measure_command([smo, "evaluate", f"sample.n_items={rows}", *common], cwd=folder)
    seconds, peak_gb = measure_command([smo, "report", f"sample.n_items={rows}", *common],
                                       cwd=folder)
    html = folder / "outputs" / "report" / "report.html"
    size_mb = html.stat().st_size / 1e6
    return [{"benchmark": "report", "rows": rows, "what": f"smo-eval report ({size_mb:.2f} MB)",
             "seconds": round(seconds, 2), "peak_gb": round(peak_gb, 2),
             "target": "report.html < 5 MB, independent of rows"}]
