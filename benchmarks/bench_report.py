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
    common = ["mlflow.enabled=false", "compare.n_boot=200",
              "drift.evidently.enabled=false", f"sample.n_items={rows}"]
    # The whole pipeline first, so every section of the page is filled (its largest size).
    measure_command([smo, "demo", *common], cwd=folder)
    seconds, peak_gb, _ = measure_command([smo, "report", "report.png=false", *common],
                                       cwd=folder)
    html = folder / "outputs" / "report" / "report.html"
    size_mb = html.stat().st_size / 1e6
    md = (folder / "outputs" / "report" / "report.md").read_text(encoding="utf-8")
    missing = md.count("(not run)")
    return [{"benchmark": "report", "rows": rows,
             "what": f"smo-eval report ({size_mb:.2f} MB, {missing} sections not run)",
             "seconds": round(seconds, 2), "peak_gb": round(peak_gb, 2),
             "target": "report.html < 5 MB, independent of rows"}]
