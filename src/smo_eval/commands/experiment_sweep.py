"""`smo-eval experiment -m key=a,b ...`: a sweep of experiment configurations, one nested MLflow
run per combination under one parent that names the best child by `experiment.objective`.

Each child writes its files under `<out_dir>/experiment/sweep/<i>/` (the same layout as a
single run), and `sweep.csv` lists the children with their objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import command_run, folder
from smo_eval.commands.sweep import expand_sweep
from smo_eval.config.loader import load_config
from smo_eval.errors import ConfigError
from smo_eval.io.writers import write_csv
from smo_eval.pipeline.runner import Runner


def sweep(overrides: Sequence[str], params: Path | None, config_file: Path | None
          ) -> pd.DataFrame:
    combos = expand_sweep(overrides)
    first = Runner(load_config(combos[0], params_file=params, config_file=config_file))
    objective = first.config.experiment.objective
    base_out = folder(first, "experiment") / "sweep"
    rows = []
    with command_run(first, "experiment-sweep", "experiment-sweep",
                     {"sweep.runs": len(combos), "sweep.overrides": " ".join(overrides)}
                     ) as parent:
        for i, combo in enumerate(combos):
            console.console.rule(f"[bold]sweep run {i + 1}/{len(combos)}: {' '.join(combo)}")
            loaded = load_config([*combo, f"out_dir={base_out / str(i)}"], params_file=params,
                                 config_file=config_file)
            child = Runner(loaded)
            if (loaded.config.data == first.config.data
                    and loaded.config.taxonomy == first.config.taxonomy):
                child.share_inputs(first)
            result = child.run_stage("experiment")
            value = result.metrics.get("objective")
            rows.append({"child": i, "overrides": " ".join(combo), "objective": value,
                         "run_id": child.tracker.last_run_id,
                         "folder": str(base_out / str(i) / "experiment")})
        table = pd.DataFrame(rows)
        scored = table.dropna(subset=["objective"])
        if scored.empty:
            raise ConfigError(f"no sweep run produced the objective {objective.metric!r} "
                              "(experiment.objective.metric names a metric of a kind that ran?)")
        best = scored.sort_values("objective", ascending=objective.mode == "min",
                                  kind="stable").iloc[0]
        table["best"] = table["child"] == best["child"]
        write_csv(table, base_out / "sweep.csv")
        if parent is not None:
            parent.log_metrics({"best_objective": float(best["objective"])})
            parent.set_tags({"best_child": int(best["child"]), "best_run_id": best["run_id"],
                             "best_overrides": best["overrides"],
                             "objective.metric": objective.metric,
                             "objective.mode": objective.mode})
            parent.log_artifact(base_out / "sweep.csv", "sweep")
    console.console.print(console.table(
        f"Sweep: {objective.metric} ({objective.mode}); best = child {int(best['child'])}",
        table[["child", "overrides", "objective", "best"]], {"objective": "num"}))
    return table
