"""`pipelines/dvc.yaml` derived from the stage registry: deps, params, outs, metrics and plots
of every stage of `pipeline.stages` (plus `sample` for the sample-world project).

A stage depends on the files of the stages it reads, on the input files it reads directly
(the configured data files, drift windows, a thresholds file), and on the source modules its
node imports (found by walking the imports, so a change in any code a stage runs re-runs it).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import yaml

from smo_eval.config.loader import LoadedConfig
from smo_eval.pipeline import registry
from smo_eval.pipeline.catalog import LINEAGE_FILE
from smo_eval.pipeline.entries import Entry
from smo_eval.pipeline.registry import BASE_DATASET, DATASET, Stage

HEADER = """\
# Generated from the stage registry (src/smo_eval/pipeline/registry.py) by
# `smo-eval dvc-yaml`; a test checks it is current. Each stage runs `smo-eval <stage> --params
# params.yaml` from the project root (wdir: ..); `dvc exp run pipelines/dvc.yaml -S key=value`
# composes conf/ with the override into params.yaml first. `smo-eval run` runs the same stages
# in-process and writes the same files.
"""


def generate(loaded: LoadedConfig, src_root: Path) -> str:
    config = loaded.config
    names = list(config.pipeline.stages)
    if "ingest" in names and "sample" not in names and config.data.items and \
            config.data.items.startswith(config.sample.out_dir):
        names = ["sample", *names]
    stages = {name: _stage(registry.stage(name), names, loaded, src_root) for name in names}
    body = yaml.safe_dump({"stages": stages}, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def _declared(entry: Entry, config: Any) -> str:
    path = (entry.dvc_path or entry.path).format(sample_dir=config.sample.out_dir)
    if entry.root == "out":
        path = f"{config.out_dir}/{path}"
    if entry.kind == "table" and entry.dvc_path is None:
        return path  # expanded to .csv / .parquet by the caller
    return path


def _paths(entry: Entry, config: Any) -> list[str]:
    path = _declared(entry, config)
    if entry.kind == "table" and entry.dvc_path is None:
        return [f"{path}.csv", f"{path}.parquet"]
    return [path]


def _outputs(stage: Stage, config: Any) -> tuple[list[Any], list[Any], list[Any]]:
    outs: list[Any] = []
    metrics: list[Any] = []
    plots: list[Any] = []
    for entry in stage.outputs:
        if entry.dvc == "none":
            continue
        for path in _paths(entry, config):
            if entry.dvc == "metric":
                item: Any = {path: {"cache": False}}
                if item not in metrics:
                    metrics.append(item)
            elif entry.dvc == "plot":
                plots.append({path: {**entry.plot, "cache": False}})
            elif path not in outs:
                outs.append(path)
    lineage = f"{config.out_dir}/{stage.name}/{LINEAGE_FILE}"
    covering = [o for o in outs if lineage.startswith(o.rstrip("/") + "/")]
    if not covering:
        outs.append(lineage)
    return outs, metrics, plots


def _deps(stage: Stage, names: list[str], loaded: LoadedConfig, src_root: Path) -> list[str]:
    config = loaded.config
    deps: list[str] = []

    def add(path: str | None) -> None:
        if path and path not in deps:
            deps.append(path)

    for read in stage.reads:
        key = read.rstrip("?")
        if key in (DATASET, BASE_DATASET):
            for entry in registry.stage("ingest").outputs:
                for path in _paths(entry, config):
                    add(path)
            joins = ("experiment" in names and config.experiment.enabled
                     and "retrain" in config.experiment.kinds)
            if key == DATASET and joins and stage.name != "experiment":
                add(_declared(registry.BY_NAME["experiment"].outputs[1], config))
            for extra in config.data.extra_predictions:
                add(extra)
            continue
        source = registry.producer(key)
        if source is None or source.name not in names:
            continue
        entry = next(e for e in source.outputs if e.key == key)
        if entry.dvc == "none":  # not a DVC output, so it cannot be a dependency either
            continue
        for path in _paths(entry, config):
            add(path)
    if stage.name == "ingest":
        for file in config.data.input_paths().values():
            add(_sample_dir(file, config))
    if stage.files is not None and stage.name != "ingest":
        for file in stage.files(config).values():
            add(file)
    if stage.operating_point and config.evaluate.thresholds_file:
        add(config.evaluate.thresholds_file)
    for module in sorted(code_of(f"smo_eval.nodes.{stage.name}")):
        add(_source_path(module, src_root))
    return deps


def _sample_dir(path: str | None, config: Any) -> str | None:
    """The sample world's files are one output folder of the sample stage."""
    if path and path.startswith(config.sample.out_dir.rstrip("/") + "/"):
        return config.sample.out_dir
    return path


def _stage(stage: Stage, names: list[str], loaded: LoadedConfig, src_root: Path
           ) -> dict[str, Any]:
    outs, metrics, plots = _outputs(stage, loaded.config)
    body: dict[str, Any] = {
        "wdir": "..",
        "cmd": f"smo-eval {stage.name} --params params.yaml"
               + (f" {stage.dvc_args}" if stage.dvc_args else ""),
        "deps": _deps(stage, names, loaded, src_root),
        "params": list(stage.all_params),
        "outs": outs,
    }
    if metrics:
        body["metrics"] = metrics
    if plots:
        body["plots"] = plots
    return body


def code_of(module: str) -> set[str]:
    """Every smo_eval module `module` imports, directly or through others (static walk)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        spec = _spec(name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        seen.add(name)
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module if node.level == 0 else _relative(name, node)
                if base.startswith("smo_eval"):
                    todo.append(base)
                    todo += [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("smo_eval")]
        parent = name.rpartition(".")[0]
        if parent.startswith("smo_eval"):
            todo.append(parent)
    return seen


def _spec(name: str) -> Any:
    """The module's spec; None for a name that is an attribute (`module.function`)."""
    try:
        return importlib.util.find_spec(name)
    except (ModuleNotFoundError, ValueError):
        return None


def _relative(name: str, node: ast.ImportFrom) -> str:
    parts = name.split(".")[:-node.level]
    return ".".join([*parts, node.module or ""]).rstrip(".")


def _source_path(module: str, src_root: Path) -> str | None:
    spec = _spec(module)
    if spec is None or spec.origin is None:
        return None
    try:
        return Path(spec.origin).resolve().relative_to(src_root.resolve()).as_posix()
    except ValueError:
        return None
