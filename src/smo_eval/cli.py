"""The `smo-eval` command: one sub-command per stage, Hydra overrides as trailing arguments.

    smo-eval evaluate data.gold=gold.xlsx evaluate.threshold=0.6
    smo-eval evaluate --params params.yaml        # inside a DVC stage

Exit codes: 0 done, 1 a gate failed, 2 could not run (bad input or configuration).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from smo_eval import console
from smo_eval.commands import compare as compare_cmd
from smo_eval.commands import drift as drift_cmd
from smo_eval.commands import errors as errors_cmd
from smo_eval.commands import evaluate as evaluate_cmd
from smo_eval.commands import experiment as experiment_cmd
from smo_eval.commands import ingest as ingest_cmd
from smo_eval.commands import pipeline
from smo_eval.commands import report as report_cmd
from smo_eval.commands import sample as sample_cmd
from smo_eval.commands.context import Context
from smo_eval.commands.sweep import has_sweep
from smo_eval.config import dump_params, load_config
from smo_eval.errors import SmoEvalError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Evaluation and error analysis for content-safety models.")

Overrides = Annotated[
    list[str] | None, typer.Argument(help="Hydra overrides, e.g. evaluate.threshold=0.6")]
Params = Annotated[
    Path | None, typer.Option("--params", help="Composed params file (DVC stages).")]


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-caused failures into a message and exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SmoEvalError as exc:
            console.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("SMO_EVAL_DEBUG"):
                raise
            console.error(f"unexpected {type(exc).__name__}: {exc} "
                          "(set SMO_EVAL_DEBUG=1 for the traceback)")
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@guarded
def sample(overrides: Overrides = None, params: Params = None) -> None:
    """Write the deterministic sample world (items, gold, predictions, annotations)."""
    sample_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def ingest(overrides: Overrides = None, params: Params = None) -> None:
    """Validate the input tables against the data contract and store them for the stages."""
    ingest_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def evaluate(overrides: Overrides = None, params: Params = None) -> None:
    """Sliced metrics with bootstrap confidence intervals, curves and calibration per model."""
    evaluate_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def drift(overrides: Overrides = None, params: Params = None) -> None:
    """Drift between a reference and a current window, label-free performance estimate and
    emerging terms (drift.reference=[first,last] drift.current=[first,last])."""
    drift_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def compare(overrides: Overrides = None, params: Params = None) -> None:
    """Baseline vs candidates per slice: deltas, paired tests, verdicts, flipped items."""
    compare_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def errors(overrides: Overrides = None, params: Params = None) -> None:
    """Failure slices, error drivers, over-represented terms, root causes, review queue."""
    errors_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def report(overrides: Overrides = None, params: Params = None) -> None:
    """Risk assessment report: one self-contained HTML page and a Markdown summary."""
    report_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def experiment(overrides: Overrides = None, params: Params = None,
               multirun: Annotated[bool, typer.Option(
                   "--multirun", "-m", help="Sweep: one nested MLflow run per combination "
                   "of comma-separated override values.")] = False) -> None:
    """Improvement experiments: per-slice thresholds, calibration, a retrained challenger."""
    if multirun:
        experiment_cmd.sweep(overrides or [], params)
        return
    if has_sweep(overrides or []):
        raise SmoEvalError("sweep overrides (key=a,b) need -m: smo-eval experiment -m ...")
    experiment_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def run(overrides: Overrides = None, params: Params = None) -> None:
    """Run the pipeline's stages in-process (same outputs as `dvc repro`)."""
    pipeline.run(Context.load(overrides, params))


@app.command()
@guarded
def demo(overrides: Overrides = None, params: Params = None) -> None:
    """Generate the sample world and run every stage on it."""
    pipeline.demo(Context.load(overrides, params))


@app.command("params")
@guarded
def write_params(overrides: Overrides = None,
                 output: Annotated[Path, typer.Option("--output", "-o")] = Path("params.yaml"),
                 ) -> None:
    """Compose conf/ with overrides into a params file, as `dvc exp run` does."""
    dump_params(load_config(overrides or ()), output)
    console.console.print(f"wrote {output}")


def main() -> None:
    app(prog_name="smo-eval")


if __name__ == "__main__":
    main()
