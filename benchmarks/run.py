"""`make bench`: whole smo-eval commands beside a plain numpy reference, in the same run.

    python benchmarks/run.py [--rows 1e6 1e7] [--big 1e8 | --big 0] [--only ingest evaluate]
                             [--also trend mlflow startup] [--repeat 3]

Per size: the issue's workload (region 20 x language 15 x risk category 12 x content type
2, two models, the four dimensions and region x language) is written as Parquet; the
reference (`benchmarks/reference.py`) and `smo-eval ingest`, `evaluate` and `compare`
(pandas backend, MLflow on, a store of its own) run as separate processes, and each
command's wall time and peak memory are printed as a ratio to the reference's. The run has a
shared MLflow recorder of its own (smo_eval.recorder_server, started by the first `ingest`
as in any session; its per-command fork counts in peak memory), and `evaluate` and `compare`
also run with a recorder forked per command (`SMO_EVAL_RECORDER=fork`, each importing MLflow
afresh, as without the shared recorder) and with MLflow off. The reference and each command
run `--repeat` times (default 3) and their median times are compared (the first run of a
command also composes its configuration afresh: later runs find it cached). At the
largest size `evaluate` also runs the five-dimension slicing (region 50 x language 40 x
category 30 x content type 3 x surface 6, all single dimensions and two crosses) for its
peak memory. `--big` runs the same workload through the DuckDB backend (ingest, evaluate,
compare, and drift between its first and last two weeks) at that size. `--also` adds
benchmarks with references of their own: `trend` (trend beside evaluate on the same rows,
benchmarks/bench_trend.py, at the smallest size), `mlflow` (runs/search for 100 runs on a
real mlflow server beside a trivial call, benchmarks/bench_mlflow.py) and `startup`
(`smo-eval --help` beside `python -c pass`).
Results are also written to benchmarks/results/<time>.json.
The machine may be shared: only ratios measured in the same run mean anything.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.measure import measure_command, measure_repeated  # noqa: E402
from benchmarks.workload import FIVE, ISSUE, Workload, write  # noqa: E402

SMO = str(Path(sys.executable).parent / "smo-eval")
# Runs of the reference and of each command per size (--repeat): their medians are compared.
REPEAT = {"n": 3}
COMMANDS = ("ingest", "evaluate", "compare")
ALSO = ("trend", "mlflow", "startup")


def _args(data: Path, workload: Workload, store: Path) -> list[str]:
    return ["data.items=null", f"data.gold={data / 'gold.parquet'}",
            f"data.predictions={data / 'predictions.parquet'}", "data.annotations=null",
            f"mlflow.tracking_uri=sqlite:///{store}", *workload.overrides]


def _store(path: Path) -> None:
    """Create the MLflow store first (as in any project after its first run: creating a
    SQLite store alone takes seconds)."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{path}")
    mlflow.MlflowClient().search_experiments()


def _reference(data: Path, workload: Workload, work: Path, repeat: int
               ) -> tuple[float, float]:
    crosses = ",".join("x".join(c) for c in workload.crosses)
    seconds, peak, _ = measure_repeated(
        [sys.executable, str(HERE / "reference.py"), str(data / "wide.parquet"),
         ",".join(workload.dims), crosses, str(work / "reference.csv")], work, repeat)
    return seconds, peak


def _prepare(rows: int, tmp: Path, days: int = 0, repeat: int | None = None
             ) -> tuple[Path, Path, float, float, list[dict[str, Any]]]:
    """The workload's files, a project folder, an MLflow store and the reference's row:
    (data folder, project folder, reference seconds, reference GB, result rows)."""
    data, project = tmp / "data", tmp / "project"
    project.mkdir(parents=True)
    write(rows, data, ISSUE, days=days)
    _store(tmp / "mlflow.db")
    ref_s, ref_gb = _reference(data, ISSUE, tmp, REPEAT["n"] if repeat is None else repeat)
    return data, project, ref_s, ref_gb, [_row("reference (numpy)", rows, "-", ref_s, ref_gb,
                                               ref_s, ref_gb)]


def _recorder_forks() -> list[psutil.Process]:
    """The forks of this run's shared MLflow recorder (each answers one command)."""
    forks = []
    for server in _servers():
        with contextlib.suppress(psutil.NoSuchProcess):
            forks += server.children()
    return forks


def _servers() -> list[psutil.Process]:
    """This run's shared recorder servers (its private runtime folder names them)."""
    folder = os.environ.get("XDG_RUNTIME_DIR", "\0")
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "smo_eval.recorder_server" in cmdline and any(folder in a for a in cmdline):
            found.append(process)
    return found


def _size(rows: int, tmp: Path, commands: list[str], five: bool) -> list[dict[str, Any]]:
    data, project, ref_s, ref_gb, out = _prepare(rows, tmp)
    args = _args(data, ISSUE, tmp / "mlflow.db")
    for command in COMMANDS:  # the first ingest starts the run's shared recorder
        seconds, peak, _ = measure_repeated([SMO, command, *args], project, REPEAT["n"],
                                            _recorder_forks)
        if command in commands:
            out.append(_row(f"smo-eval {command}", rows, "pandas", seconds, peak, ref_s, ref_gb))
    variants = {"own recorder (SMO_EVAL_RECORDER=fork)": ([], {"SMO_EVAL_RECORDER": "fork"}),
                "MLflow off": (["mlflow.enabled=false"], {})}
    for command in ("evaluate", "compare"):
        for label, (extra, env) in variants.items() if command in commands else ():
            seconds, peak, _ = measure_repeated([SMO, command, *args, *extra], project,
                                                REPEAT["n"], _recorder_forks,
                                                {**os.environ, **env})
            out.append(_row(f"smo-eval {command}, {label}", rows, "pandas", seconds, peak,
                            ref_s, ref_gb))
    if five:
        shutil.rmtree(data)
        write(rows, data, FIVE)
        args = _args(data, FIVE, tmp / "mlflow.db")
        measure_command([SMO, "ingest", *args, "engine.backend=duckdb"], project)
        seconds, peak, _ = measure_command([SMO, "evaluate", *args], project, _recorder_forks)
        out.append(_row("smo-eval evaluate, five dimensions", rows, "pandas", seconds, peak,
                        None, None))
    return out


# The DuckDB run's items span four weeks; drift compares the first two with the last two,
# by the regions and languages of the workload.
DAYS = 28
DRIFT = ["drift.time_column=created_at", "drift.reference=[2026-11-01,2026-11-14]",
         "drift.current=[2026-11-15,2026-11-28]", "drift.slicing.dimensions=[region,language]",
         "drift.slicing.crosses=[]"]
BIG_COMMANDS = (*COMMANDS, "drift")


def _big(rows: int, tmp: Path) -> list[dict[str, Any]]:
    data, project, ref_s, ref_gb, out = _prepare(rows, tmp, days=DAYS, repeat=1)
    # DuckDB's default memory_limit (4GB): what a team gets without tuning.
    args = [*_args(data, ISSUE, tmp / "mlflow.db"), "engine.backend=duckdb", *DRIFT]
    total = 0.0
    for command in BIG_COMMANDS:
        try:
            seconds, peak, _ = measure_command([SMO, command, *args], project,
                                               _recorder_forks)
        except subprocess.CalledProcessError:
            out.append(_row(f"smo-eval {command} FAILED", rows, "duckdb", 0, 0, None, None))
            return out
        total += seconds
        out.append(_row(f"smo-eval {command}", rows, "duckdb", seconds, peak, ref_s, ref_gb))
    out.append(_row(" + ".join(BIG_COMMANDS), rows, "duckdb", total,
                    max(r["peak_gb"] for r in out[1:]), ref_s, ref_gb))
    return out


def _row(what: str, rows: int, backend: str, seconds: float, peak: float,
         ref_s: float | None, ref_gb: float | None) -> dict[str, Any]:
    row = {"what": what, "rows": rows, "backend": backend, "seconds": round(seconds, 2),
            "peak_gb": round(peak, 2),
            "time_ratio": round(seconds / ref_s, 2) if ref_s else None,
            "memory_ratio": round(peak / ref_gb, 2) if ref_gb else None}
    print(json.dumps(row), flush=True)  # as it is measured: a long run shows its progress
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="*", type=float, default=[1e6, 1e7])
    parser.add_argument("--big", type=float, default=1e8, help="DuckDB run size (0: none)")
    parser.add_argument("--only", nargs="*", default=list(COMMANDS), choices=COMMANDS)
    parser.add_argument("--also", nargs="*", default=[], choices=ALSO,
                        help="benchmarks beside their own reference (see above)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the reference and of each command per size (medians)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the Parquet files go (default: a temporary folder)")
    args = parser.parse_args()
    REPEAT["n"] = args.repeat
    results: list[dict[str, Any]] = []
    sizes = [int(r) for r in args.rows]
    with tempfile.TemporaryDirectory(prefix="smo-bench-", dir=args.workdir) as tmp:
        # A shared MLflow recorder of this run's own, stopped at its end.
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="smo-rt-", dir="/tmp")
        try:
            results += _all(args, sizes, Path(tmp))
        finally:
            for server in _servers():
                server.kill()
            shutil.rmtree(os.environ["XDG_RUNTIME_DIR"], ignore_errors=True)
    _print(results)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))


def _all(args: argparse.Namespace, sizes: list[int], tmp: Path) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for rows in sizes if args.only else []:
        print(f"[bench] {rows:,} rows ...", flush=True)
        folder = tmp / f"rows-{rows}"
        results += _size(rows, folder, args.only, five=rows == max(sizes))
        shutil.rmtree(folder)
    for name in args.also:
        print(f"[bench] {name} ...", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        for row in module.run(min(sizes, default=1_000_000), tmp):
            print(json.dumps(row), flush=True)
            results.append(row)
    if args.big:
        print(f"[bench] {int(args.big):,} rows through DuckDB ...", flush=True)
        results += _big(int(args.big), tmp / "big")
    return results


def _print(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="smo-eval vs a plain numpy reference (same run, same data)")
    for column in ("what", "rows", "backend", "seconds", "x reference", "peak GB",
                   "x reference "):
        table.add_column(column, justify="left" if column in ("what", "backend") else "right")
    for r in results:
        table.add_row(r["what"], f"{r['rows']:,}", r["backend"], f"{r['seconds']:.3g}",
                      "" if r["time_ratio"] is None else f"{r['time_ratio']:.1f}x",
                      f"{r['peak_gb']:.2f}",
                      "" if r["memory_ratio"] is None else f"{r['memory_ratio']:.1f}x")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
