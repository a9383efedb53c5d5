"""Benchmark runner: `python benchmarks/run.py [--rows 1e6 1e7] [--only evaluate ...]`.

Each `benchmarks/bench_<name>.py` module exposes `run(rows: int, workdir: Path) -> list[dict]`
returning result rows (stage, rows, what was timed, seconds, peak memory). Timings live here,
never in unit tests. Results are printed as a table and appended to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--only", nargs="*", help="benchmark names (bench_<name>.py)")
    args = parser.parse_args()
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if n in args.only]
    results = []
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        for rows in args.rows:
            with tempfile.TemporaryDirectory(prefix=f"smo-bench-{name}-") as tmp:
                print(f"[{name}] rows={int(rows):,} ...", flush=True)
                results += module.run(int(rows), Path(tmp))
    from rich.console import Console
    from rich.table import Table

    table = Table(title="smo-eval benchmarks")
    for column in ("benchmark", "rows", "what", "seconds", "cpu_s", "peak_gb", "target"):
        table.add_column(column, justify="left" if column in {"benchmark", "what", "target"}
                         else "right")
    for r in results:
        cpu = r.get("cpu_seconds")  # optional: CPU time, robust to a loaded machine
        table.add_row(r["benchmark"], f"{r['rows']:,}", r["what"], f"{r['seconds']:.2f}",
                      "" if cpu is None else f"{cpu:.2f}", f"{r['peak_gb']:.2f}",
                      r.get("target", ""))
    Console(width=160).print(table)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
