"""CLI commands that set a team up: `init`, `taxonomy import`, `config show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smo_eval.cli_common import ConfigFile, Overrides, guarded

taxonomy_app = typer.Typer(no_args_is_help=True, help="The risk taxonomy in smo-eval.yaml.")
config_app = typer.Typer(no_args_is_help=True, help="The configuration every command reads.")


@guarded
def init(files: Annotated[list[Path], typer.Argument(help="The team's files: gold, "
                                                      "predictions, items, annotations.")],
         output: Annotated[Path, typer.Option("--output", "-o")] = Path("smo-eval.yaml"),
         force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]
         = False) -> None:
    """Inspect a team's files and write smo-eval.yaml: the column mapping, label values, slice
    dimensions, a taxonomy from the categories found and a gate that fits the data.

    Example: smo-eval init qa/gold.xlsx preds/scores.csv
    """
    from smo_eval import console
    from smo_eval.errors import SmoEvalError
    from smo_eval.io.readers import read_table
    from smo_eval.setup.init_file import build

    if output.exists() and not force:
        raise SmoEvalError(f"{output} exists: edit it, or pass --force to write it anew")
    frames = {}
    for file in files:
        table = read_table(file)
        frames[file] = (table.frame, table.encoding)
    output.write_text(build(frames, output.resolve().parent), encoding="utf-8")
    console.say(f"wrote {output}: check the lines marked CHECK, then run "
                "`smo-eval evaluate` (no overrides needed)")


@taxonomy_app.command("import")
@guarded
def taxonomy_import(table: Annotated[Path, typer.Argument(help="CSV or XLSX: category, "
                                                          "parent, severity, target_recall, "
                                                          "max_fpr.")],
                    config: Annotated[Path, typer.Option("--config")] = Path("smo-eval.yaml"),
                    ) -> None:
    """Read a risk taxonomy table into smo-eval.yaml's `taxonomy:` block.

    Example: smo-eval taxonomy import policies.xlsx
    """
    from smo_eval import console
    from smo_eval.io.readers import read_table
    from smo_eval.setup.taxonomy_import import read_taxonomy, write

    raw = read_table(table)
    categories = read_taxonomy(raw.frame, str(table))
    write(config, categories, table.name)
    console.say(f"{len(categories)} categories from {table} written to {config}")


@config_app.command("show")
@guarded
def config_show(section: Annotated[str | None, typer.Argument(
                    help="A section or dotted key, e.g. evaluate or gate.min_support")] = None,
                overrides: Overrides = None, config: ConfigFile = None) -> None:
    """List every setting: its value here, its default and what it does.

    Example: smo-eval config show evaluate
    """
    from smo_eval import console
    from smo_eval.config.loader import load_config
    from smo_eval.errors import ConfigError
    from smo_eval.setup.show import rows

    shown = rows(load_config(overrides or (), config_file=config), section)
    if shown.empty:
        raise ConfigError(f"no setting {section!r}; sections: evaluate, compare, errors, "
                          "labels, drift, gate, report, experiment, data, slicing, taxonomy, "
                          "mlflow, pipeline, sample")
    console.console.print(console.table(f"Settings{' of ' + section if section else ''}",
                                        shown, max_rows=len(shown)))
