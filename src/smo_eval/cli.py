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
from smo_eval.commands import cases as cases_cmd
from smo_eval.commands import compare as compare_cmd
from smo_eval.commands import drift as drift_cmd
from smo_eval.commands import errors as errors_cmd
from smo_eval.commands import evaluate as evaluate_cmd
from smo_eval.commands import experiment as experiment_cmd
from smo_eval.commands import gate as gate_cmd
from smo_eval.commands import gold as gold_cmd
from smo_eval.commands import ingest as ingest_cmd
from smo_eval.commands import labels as labels_cmd
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
def labels(overrides: Overrides = None, params: Params = None) -> None:
    """Annotator agreement, adjudication and suspected gold label errors."""
    labels_cmd.run(Context.load(overrides, params))


gold_app = typer.Typer(no_args_is_help=True, help="The versioned gold store (data/gold).")
app.add_typer(gold_app, name="gold")
cases_app = typer.Typer(no_args_is_help=True,
                        help="The case database of adjudicated precedents (data/cases).")
app.add_typer(cases_app, name="cases")


@gold_app.command("ingest")
@guarded
def gold_ingest(file: Annotated[Path, typer.Argument(help="Gold file: CSV, XLSX or Parquet.")],
                overrides: Overrides = None, params: Params = None,
                name: Annotated[str | None, typer.Option(help="Readable version name.")] = None,
                ) -> None:
    """Validate a QA gold delivery, store it as a version, diff it against the previous one."""
    gold_cmd.ingest(Context.load(overrides, params), file, name)


@gold_app.command("list")
@guarded
def gold_list(overrides: Overrides = None, params: Params = None) -> None:
    """Show the stored gold versions, oldest first."""
    gold_cmd.list_versions(Context.load(overrides, params))


@gold_app.command("diff")
@guarded
def gold_diff(old: Annotated[str, typer.Argument(help="Version id, name or latest~N.")],
              new: Annotated[str, typer.Argument(help="Version id, name or latest.")],
              overrides: Overrides = None, params: Params = None) -> None:
    """Diff any two gold versions and split every model's metric change."""
    gold_cmd.diff(Context.load(overrides, params), old, new)


@cases_app.command("add")
@guarded
def cases_add(overrides: Overrides = None, params: Params = None,
              file: Annotated[Path | None, typer.Option(help="Gold file (default data.gold).")]
              = None) -> None:
    """Grow the case database from a gold set (scenario from labels.cases.scenario)."""
    cases_cmd.add(Context.load(overrides, params), file)


@cases_app.command("check")
@guarded
def cases_check(overrides: Overrides = None, params: Params = None,
                file: Annotated[Path | None, typer.Option(help="Gold file (default data.gold).")]
                = None) -> None:
    """Flag gold labels contradicting their scenario's precedent and disagreeing scenarios."""
    cases_cmd.run_check(Context.load(overrides, params), file)


@cases_app.command("find")
@guarded
def cases_find(text: Annotated[str, typer.Argument(help="The new item's text.")],
               overrides: Overrides = None, params: Params = None,
               k: Annotated[int | None, typer.Option("-k", help="How many precedents.")] = None,
               ) -> None:
    """The nearest precedents of a text by character n-gram similarity."""
    cases_cmd.find(Context.load(overrides, params), text, k)


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
def gate(overrides: Overrides = None, params: Params = None,
         no_fail: Annotated[bool, typer.Option(
             "--no-fail", help="Exit 0 on a failing verdict (DVC stages: the verdict is "
             "recorded as a metric; `smo-eval verdict` turns it into the exit code).")] = False,
         ) -> None:
    """Release gate: one verdict from the declared checks (exit 0 pass, 1 fail, 2 could not run)."""
    gate_cmd.run(Context.load(overrides, params), fail_on_verdict=not no_fail)


@app.command()
@guarded
def report(overrides: Overrides = None, params: Params = None) -> None:
    """Risk assessment report: one self-contained HTML page and a Markdown summary."""
    report_cmd.run(Context.load(overrides, params))


@app.command()
@guarded
def verdict(path: Annotated[Path, typer.Argument(help="gate.json written by `smo-eval gate`")]
            = Path("outputs/gate/gate.json")) -> None:
    """Exit with the recorded gate verdict: 0 pass, 1 fail, 2 missing or could not run."""
    gate_cmd.exit_with_verdict(path)


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
