"""The `smo-eval` command: one sub-command per registered stage, plus `run`, `demo`, `gate`'s
verdict, the gold store, the case database and configuration helpers.

    smo-eval evaluate data.gold=gold.xlsx evaluate.threshold=0.6
    smo-eval evaluate --params params.yaml        # inside a DVC stage
    smo-eval gate --config team.yaml gate=release

Exit codes: 0 done, 1 a gate failed, 2 could not run (bad input or configuration). Nothing
heavy is imported until a command runs, so `--help` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from smo_eval import __version__
from smo_eval.cli_common import ConfigFile, Overrides, Params, guarded
from smo_eval.pipeline import registry

if TYPE_CHECKING:
    from smo_eval.pipeline.runner import Runner

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Evaluation and error analysis for content-safety models.")


def runner(overrides: list[str] | None, params: Path | None, config: Path | None,
           preset: str | None = None) -> Runner:
    from smo_eval.config.loader import load_config
    from smo_eval.pipeline.runner import Runner
    from smo_eval.recorder import prestart

    prestart()  # MLflow's import overlaps with reading the configuration and the stage
    return Runner(load_config(overrides or (), params_file=params, config_file=config,
                              preset=preset))


def _fail_on_gate(results: dict[str, Any]) -> None:
    from smo_eval.errors import GateFailed

    gate = results.get("gate")
    if gate is not None and gate.value is not None and not gate.value.passed:
        verdict = gate.value
        raise GateFailed(f"gate {verdict.name} failed: "
                         f"{', '.join(c.name for c in verdict.failed_checks)}")


def _stage_command(name: str) -> None:
    stage = registry.stage(name)

    def command(overrides: Overrides = None, params: Params = None,
                config: ConfigFile = None) -> None:
        preset = "sample" if name == "sample" else None
        runner(overrides, params, config, preset).run_stage(name)

    command.__doc__ = f"{stage.help}\n\nExample: {stage.example}"
    app.command(name=name, help=command.__doc__)(guarded(command))


for _name in registry.BY_NAME:
    if _name not in ("gate", "experiment"):
        _stage_command(_name)


@app.command(help=f"{registry.stage('gate').help}\n\nExample: {registry.stage('gate').example}")
@guarded
def gate(overrides: Overrides = None, params: Params = None, config: ConfigFile = None,
         no_fail: Annotated[bool, typer.Option(
             "--no-fail", help="Exit 0 on a failing verdict (DVC stages: the verdict is "
             "recorded as a metric; `smo-eval verdict` turns it into the exit code).")] = False,
         ) -> None:
    result = runner(overrides, params, config).run_stage("gate")
    if not no_fail:
        _fail_on_gate({"gate": result})


@app.command(help=f"{registry.stage('experiment').help}\n\nExample: "
             f"{registry.stage('experiment').example}; sweep: smo-eval experiment -m "
             "experiment.retrain.num_leaves=15,31")
@guarded
def experiment(overrides: Overrides = None, params: Params = None, config: ConfigFile = None,
               multirun: Annotated[bool, typer.Option(
                   "--multirun", "-m", help="Sweep: one nested MLflow run per combination "
                   "of comma-separated override values.")] = False) -> None:
    from smo_eval.commands.sweep import has_sweep
    from smo_eval.errors import SmoEvalError

    if multirun:
        from smo_eval.commands.experiment_sweep import sweep

        sweep(overrides or [], params, config)
        return
    if has_sweep(overrides or []):
        raise SmoEvalError("sweep overrides (key=a,b) need -m: smo-eval experiment -m ...")
    runner(overrides, params, config).run_stage("experiment")


@app.command()
@guarded
def run(overrides: Overrides = None, params: Params = None, config: ConfigFile = None) -> None:
    """Run the stages of `pipeline.stages` in-process (the same files as `dvc repro`); exits
    with the gate's verdict.

    Example: smo-eval run 'pipeline.stages=[ingest,evaluate,gate]'
    """
    active = runner(overrides, params, config)
    _fail_on_gate(active.run(list(active.config.pipeline.stages)))


@app.command()
@guarded
def demo(overrides: Overrides = None) -> None:
    """Generate the sample world and run every stage on it (exit 0 whatever the verdict).

    Example: smo-eval demo sample.n_items=20000
    """
    from smo_eval import console

    active = runner(overrides, None, None, preset="sample")
    names = list(active.config.pipeline.stages)
    active.run(names if "sample" in names else ["sample", *names])
    console.console.rule("[bold]demo finished")
    console.console.print(f"Outputs under {active.out_dir}/; MLflow runs: "
                          f"`mlflow ui --backend-store-uri {active.config.mlflow.tracking_uri}`",
                          markup=False)
    html = active.out_dir / "report" / "report.html"
    if html.is_file():
        console.console.print(f"Report: {html}", markup=False)


@app.command()
@guarded
def verdict(path: Annotated[Path, typer.Argument(help="gate.json written by `smo-eval gate`")]
            = Path("outputs/gate/gate.json")) -> None:
    """Exit with the recorded gate verdict: 0 pass, 1 fail, 2 missing or could not run.

    Example: smo-eval verdict outputs/gate/gate.json
    """
    from smo_eval.commands.verdict import exit_with_verdict

    exit_with_verdict(path)


@app.command("params")
@guarded
def write_params(overrides: Overrides = None, config: ConfigFile = None,
                 output: Annotated[Path, typer.Option("--output", "-o")] = Path("params.yaml"),
                 ) -> None:
    """Compose the configuration with overrides into a params file, as `dvc exp run` does.

    Example: smo-eval params gate=release -o params.yaml
    """
    from smo_eval import console
    from smo_eval.config.loader import load_config

    loaded = load_config(overrides or (), config_file=config)
    output.write_text(loaded.yaml, encoding="utf-8")  # the tree is resolved at load
    console.console.print(f"wrote {output}", markup=False)


@app.command("dvc-yaml")
@guarded
def dvc_yaml(overrides: Overrides = None,
             output: Annotated[Path, typer.Option("--output", "-o")] = Path(
                 "pipelines/dvc.yaml")) -> None:
    """Write the DVC pipeline derived from the stage registry and the project's configuration.

    Example: smo-eval dvc-yaml -o pipelines/dvc.yaml
    """
    from smo_eval import console
    from smo_eval.config.loader import load_config
    from smo_eval.pipeline.dvcgen import generate

    loaded = load_config(overrides or ())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(generate(loaded, loaded.project_root), encoding="utf-8")
    console.console.print(f"wrote {output}", markup=False)


gold_app = typer.Typer(no_args_is_help=True, help="The versioned gold store (data/gold).")
app.add_typer(gold_app, name="gold")
cases_app = typer.Typer(no_args_is_help=True,
                        help="The case database of adjudicated precedents (data/cases).")
app.add_typer(cases_app, name="cases")


@gold_app.command("ingest")
@guarded
def gold_ingest(file: Annotated[Path, typer.Argument(help="Gold file: CSV, XLSX or Parquet.")],
                overrides: Overrides = None, params: Params = None, config: ConfigFile = None,
                name: Annotated[str | None, typer.Option(help="Readable version name.")] = None,
                ) -> None:
    """Validate a QA gold delivery, store it as a version, diff it against the previous one.

    Example: smo-eval gold ingest qa/relabel_2026-11.xlsx --name november
    """
    from smo_eval.commands import gold as gold_cmd

    gold_cmd.ingest(runner(overrides, params, config), file, name)


@gold_app.command("list")
@guarded
def gold_list(overrides: Overrides = None, params: Params = None,
              config: ConfigFile = None) -> None:
    """Show the stored gold versions, oldest first.

    Example: smo-eval gold list
    """
    from smo_eval.commands import gold as gold_cmd

    gold_cmd.list_versions(runner(overrides, params, config))


@gold_app.command("diff")
@guarded
def gold_diff(old: Annotated[str, typer.Argument(help="Version id, name or latest~N.")],
              new: Annotated[str, typer.Argument(help="Version id, name or latest.")],
              overrides: Overrides = None, params: Params = None,
              config: ConfigFile = None) -> None:
    """Diff any two gold versions and split every model's metric change.

    Example: smo-eval gold diff latest~1 latest
    """
    from smo_eval.commands import gold as gold_cmd

    gold_cmd.diff(runner(overrides, params, config), old, new)


FileOption = Annotated[Path | None, typer.Option(help="Gold file (default data.gold).")]


@cases_app.command("add")
@guarded
def cases_add(overrides: Overrides = None, params: Params = None, config: ConfigFile = None,
              file: FileOption = None) -> None:
    """Grow the case database from a gold set (scenario from labels.cases.scenario).

    Example: smo-eval cases add --file qa/gold.csv 'labels.cases.scenario=[functionality]'
    """
    from smo_eval.commands import cases as cases_cmd

    cases_cmd.add(runner(overrides, params, config), file)


@cases_app.command("check")
@guarded
def cases_check(overrides: Overrides = None, params: Params = None, config: ConfigFile = None,
                file: FileOption = None) -> None:
    """Flag gold labels contradicting their scenario's precedent and disagreeing scenarios.

    Example: smo-eval cases check --file qa/new_gold.csv
    """
    from smo_eval.commands import cases as cases_cmd

    cases_cmd.run_check(runner(overrides, params, config), file)


@cases_app.command("find")
@guarded
def cases_find(text: Annotated[str, typer.Argument(help="The new item's text.")],
               overrides: Overrides = None, params: Params = None, config: ConfigFile = None,
               k: Annotated[int | None, typer.Option("-k", help="How many precedents.")] = None,
               ) -> None:
    """The nearest precedents of a text by character n-gram similarity.

    Example: smo-eval cases find "加薇了解一下" -k 3
    """
    from smo_eval.commands import cases as cases_cmd

    cases_cmd.find(runner(overrides, params, config), text, k)


from smo_eval import cli_setup  # noqa: E402 - registered after the stage commands

app.command("init")(cli_setup.init)
app.add_typer(cli_setup.taxonomy_app, name="taxonomy")
app.add_typer(cli_setup.config_app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"smo-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")]
          = False) -> None:
    """Evaluation and error analysis for content-safety models."""


def main() -> None:
    from smo_eval.recorder import want_recorder

    want_recorder()  # a fresh process: MLflow starts beside the stage, not after it
    app(prog_name="smo-eval")


if __name__ == "__main__":
    main()
