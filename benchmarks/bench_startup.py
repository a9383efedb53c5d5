"""Start-up: `smo-eval --help` and `smo-eval evaluate --help` beside a bare `python -c pass`
(the interpreter's own start-up), as a ratio measured in the same run. Issue 13 asks for
`--help` under 0.5 s: commands import what they use, so help imports none of the stages.

    python benchmarks/run.py --only --big 0 --also startup
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SMO = str(Path(sys.executable).parent / "smo-eval")
REPEATS = 7


def _median(argv: list[str], cwd: Path) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(rows: int, workdir: Path) -> list[dict[str, Any]]:
    """Rows for run.py's table (`rows` is unused)."""
    ref = _median([sys.executable, "-c", "pass"], workdir)
    out = [{"what": "python -c pass (reference)", "seconds": round(ref, 3), "time_ratio": 1.0}]
    for argv in (["--help"], ["evaluate", "--help"], ["--version"]):
        seconds = _median([SMO, *argv], workdir)
        out.append({"what": f"smo-eval {' '.join(argv)}" + (" (target < 0.5 s)"
                                                             if argv == ["--help"] else ""),
                    "seconds": round(seconds, 3), "time_ratio": round(seconds / ref, 1)})
    return [{"rows": 0, "backend": "-", "peak_gb": 0.0, "memory_ratio": None, **r} for r in out]
