"""Run stages: in memory from one to the next, through the catalog at the edges.

`smo-eval <stage>` and `smo-eval run` both come here. Inputs are read and hashed once per
process; the validated dataset is built once; a stage's result is handed to the next stage in
memory; files are written once per stage with their lineage; an earlier output is used only
while it is current (else computed here with a notice, or refused with
`pipeline.on_stale=fail`); each stage is recorded in MLflow after its files exist.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smo_eval import __version__, console
from smo_eval.config.loader import LoadedConfig
from smo_eval.errors import SmoEvalError
from smo_eval.lineage import git_commit
from smo_eval.pipeline import registry
from smo_eval.pipeline.catalog import Catalog
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.dataset import Dataset, in_memory
from smo_eval.pipeline.lineage import FileHashes, digest, settings
from smo_eval.pipeline.registry import BASE_DATASET, DATASET, Stage
from smo_eval.pipeline.result import StageResult, pipeline_summary
from smo_eval.tracking import Tracker

if TYPE_CHECKING:
    from smo_eval.io.background import Pending

INGEST_KEYS = ("ingest.eval", "ingest.scores", "ingest.annotations", "ingest.summary")


class Runner:
    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.project_root = loaded.project_root
        self.out_dir = Path(self.config.out_dir)
        self.catalog = Catalog(registry.entries(), self.out_dir, Path.cwd(),
                               {"sample_dir": self.config.sample.out_dir})
        self.hashes = FileHashes()
        self.tracker = Tracker(self.config.mlflow, self.project_root)
        self.memory: dict[str, Any] = {}
        self.computed: set[str] = set()
        self.results: dict[str, StageResult] = {}
        self._keys: dict[str, str] = {}
        self._current: dict[tuple[str, str], tuple[bool, str]] = {}
        self._datasets: dict[bool, Dataset] = {}
        self._unjudged: dict[bool, Dataset] = {}
        self._thresholds: Any = None

    # --- inputs -----------------------------------------------------------------------------

    def input_paths(self) -> dict[str, str | None]:
        """The configured input tables; `gold:latest` / `gold:<version>` read the gold store."""
        from smo_eval.goldstore import REF_PREFIX, GoldStore

        paths = dict(self.config.data.input_paths())
        gold = paths["gold"]
        if gold and gold.startswith(REF_PREFIX):
            store = GoldStore(Path(self.config.labels.gold.store))
            paths["gold"] = str(store.path(store.resolve(gold)))
        return paths

    def read_file(self, path: str | Path) -> Any:
        from smo_eval.io.readers import read_table

        sample_dir = Path(self.config.sample.out_dir)
        if not Path(path).exists() and Path(path).parent == sample_dir:
            raise SmoEvalError(f"{path}: file not found; the sample world is written by "
                               "`smo-eval sample` (or `smo-eval demo`); for your own files "
                               "run `smo-eval init <gold> <predictions>`")
        return read_table(path, self.config.data.encoding, self.config.data.sheet)

    def operating_points(self, models: Any, table: Any) -> dict[str, Any]:
        from smo_eval.operating_point import read_thresholds, resolve

        file = self.config.evaluate.thresholds_file
        if file and self._thresholds is None:
            self._thresholds = read_thresholds(Path(file))
        return resolve(self.config.evaluate, table, list(models),
                       self._thresholds if file else None)

    def share_inputs(self, other: Runner) -> None:
        """Reuse another runner's validated inputs (a sweep's children share one dataset)."""
        self._datasets[True] = other.dataset(base=True)
        self._unjudged[True] = other._unjudged.get(True, self._datasets[True])

    # --- lineage ----------------------------------------------------------------------------

    def stage_key(self, name: str) -> str:
        if name in self._keys:
            return self._keys[name]
        stage = registry.stage(name)
        upstream: dict[str, str] = {}
        for read in stage.reads:
            key = read.rstrip("?")
            if key in (DATASET, BASE_DATASET):
                upstream[key] = self.dataset_key(base=key == BASE_DATASET)
                continue
            source = registry.producer(key)
            if source is None or source.name in upstream:
                continue
            optional = read.endswith("?")
            upstream[source.name] = (self.stage_key(source.name)
                                     if not optional or self.available(source.name)
                                     else "absent")
        files = dict(stage.files(self.config) if stage.files else {})
        if stage.operating_point and self.config.evaluate.thresholds_file:
            files["thresholds_file"] = self.config.evaluate.thresholds_file
        if name == "ingest":
            files = self.input_paths()
        payload = {"stage": name, "version": __version__,
                   "params": settings(self.loaded.container, stage.all_params),
                   "upstream": upstream,
                   "files": {role: self.hashes.of(p) if p else None
                             for role, p in sorted(files.items())}}
        self._keys[name] = digest(payload)
        return self._keys[name]

    def dataset_key(self, *, base: bool) -> str:
        extra = {p: self.hashes.of(p) for p in self._extra_files()}
        challenger = ("absent" if base or not self._joins_challenger()
                      or not self.available("experiment") else self.stage_key("experiment"))
        # How borderline gold counts changes every stage's dataset (only where it can exist).
        border = ({"borderline": self.config.evaluate.borderline}
                  if self.config.data.labels.borderline else {})
        return digest({"ingest": self.stage_key("ingest"), "extra": extra,
                       "challenger": challenger, **border})

    def is_current(self, name: str) -> tuple[bool, str]:
        key = self.stage_key(name)
        if (name, key) not in self._current:
            self._current[(name, key)] = self.catalog.current(name, key)
        return self._current[(name, key)]

    def available(self, name: str) -> bool:
        """Whether a stage's outputs exist for the current settings (in memory or on disk)."""
        return name in self.computed or self.is_current(name)[0]

    def _forget_keys(self) -> None:
        self._keys.clear()

    # --- values -----------------------------------------------------------------------------

    def value(self, key: str, *, when_missing: str = "compute") -> Any:
        key = key.rstrip("?")
        if key in (DATASET, BASE_DATASET):
            return self.dataset(base=key == BASE_DATASET)
        if key in self.memory:
            return self.memory[key]
        source = registry.producer(key)
        if source is None:  # a record of a command outside the pipeline (gold diff, cases)
            return self.catalog.read(key) if self.catalog.exists(key) else None
        if source.name in self.computed:
            return None  # an optional output this run's stage did not produce
        current, why = self.is_current(source.name)
        if current:
            value = self.catalog.read(key) if self.catalog.exists(key) else None
            self.memory[key] = value
            return value
        never_ran = self.catalog.recorded(source.name) is None and not any(
            self.catalog.exists(e.key) for e in source.outputs)
        if when_missing == "skip" and never_ran:
            return None
        self._recompute(source, why)
        return self.memory.get(key)

    def _recompute(self, stage: Stage, why: str) -> None:
        if self.config.pipeline.on_stale == "fail":
            raise SmoEvalError(f"{self.catalog.stage_dir(stage.name)}: {why}; run "
                               f"`smo-eval {stage.name}` first (pipeline.on_stale=fail)")
        console.notices([f"{stage.name} outputs {why}: computed in-process"])
        console.notices(self.compute(stage.name).notices)

    def dataset(self, *, base: bool = False) -> Dataset:
        if base in self._datasets:
            return self._datasets[base]
        if not base and not self._joins_challenger():
            self._datasets[False] = self.dataset(base=True)
            return self._datasets[False]
        if not base:
            self.dataset(base=True)
        data = self._extras(self._ingested()) if base else self._with_challenger(
            self._unjudged[True])
        self._unjudged[base] = data
        self._datasets[base] = self._judged(data)
        return self._datasets[base]

    def _judged(self, data: Dataset) -> Dataset:
        """Borderline gold counted as evaluate.borderline says, for every stage alike; with
        per-policy rows, `policy` becomes a slice dimension (smo_eval.policies)."""
        from dataclasses import replace

        from smo_eval.policies.dataset import judged, with_policy

        data = judged(data, self.config.evaluate.borderline)
        if not (data.lazy and "policies" not in data.summary):
            self.config = replace(self.config, slicing=with_policy(self.config.slicing,
                                                                   data.eval_table))
        return data

    def _ingested(self) -> Dataset:
        if "ingest" not in self.computed:
            current, _ = self.is_current("ingest")
            if not current:
                if self.config.pipeline.on_stale == "fail":
                    raise SmoEvalError(f"{self.catalog.stage_dir('ingest')}: missing or stale "
                                       "for these inputs; run `smo-eval ingest` first "
                                       "(pipeline.on_stale=fail)")
                console.notices(["ingest outputs missing or stale for this config: inputs "
                                 "validated in-process"])
                console.notices(self.compute("ingest").notices)
        hashes = {t: h for t, p in self.input_paths().items() if p and (h := self.hashes.of(p))}
        backend = self.backend()
        if backend is None:
            values = {k: self.value(k) for k in INGEST_KEYS}
            return Dataset(values["ingest.eval"], values["ingest.scores"],
                           values["ingest.annotations"], values["ingest.summary"] or {}, hashes)
        # A SQL backend: the tables are read only if a stage asks for them (dataset.py).
        summary = self.value("ingest.summary") or {}
        on_disk = self.is_current("ingest")[0] and all(
            self.catalog.path(k).is_file() for k in ("ingest.eval", "ingest.scores"))
        files = ((self.catalog.path("ingest.eval"), self.catalog.path("ingest.scores"))
                 if on_disk else None)
        return Dataset(lambda: in_memory(self.value("ingest.eval")),
                       lambda: in_memory(self.value("ingest.scores")),
                       self.value("ingest.annotations"), summary, hashes, backend=backend,
                       files=files, models=[str(m) for m in summary.get("models") or {}])

    def backend(self) -> Any:
        """The SQL engine backend (`engine.backend`), None for pandas."""
        from smo_eval.engine.backends import open_backend

        return open_backend(self.config.engine, self.out_dir)

    def _extra_files(self) -> list[str]:
        return [str(p) for p in self.config.data.extra_predictions]

    def _extras(self, data: Dataset) -> Dataset:
        from smo_eval.stages.ingest import append_predictions

        present = [p for p in self._extra_files() if Path(p).is_file()]
        missing = [p for p in self._extra_files() if p not in present]
        if missing:
            raise SmoEvalError("data.extra_predictions: file(s) not found: " + ", ".join(missing))
        if not present:
            return data
        raw = {p: self.read_file(p) for p in present}
        scores = append_predictions(data.eval_table, data.scores, raw, self.config.data)
        return data.with_scores(scores, {f"extra:{p}": self.hashes.of(p) or "" for p in present})

    def _joins_challenger(self) -> bool:
        exp = self.config.experiment
        return ("experiment" in self.config.pipeline.stages and exp.enabled
                and "retrain" in exp.kinds)

    def _with_challenger(self, data: Dataset) -> Dataset:
        from smo_eval.stages.ingest import join_scores

        predictions = self.value("experiment.predictions", when_missing="skip")
        name = self.config.experiment.retrain.model_name
        if predictions is None:
            console.notices([f"challenger {name} (smo-eval experiment) has no predictions yet: "
                             "left out"])
            return data
        scores = join_scores(data.eval_table, data.scores, predictions, "experiment.predictions")
        return data.with_scores(scores, {"challenger": self.stage_key("experiment")})

    # --- running ----------------------------------------------------------------------------

    def compute(self, name: str) -> StageResult:
        """Run a stage's node in memory (no files, no MLflow)."""
        stage = registry.stage(name)
        ctx = StageContext(self, stage)
        result: StageResult = stage.node().run(ctx)
        result.notices[:0] = ctx.notices
        self.memory.update({k: v for k, v in result.outputs.items()})
        self.computed.add(name)
        self.results[name] = result
        self._forget_keys()
        if name in ("ingest", "experiment"):
            self._datasets.clear()
            self._unjudged.clear()
        return result

    def run_stage(self, name: str) -> StageResult:
        """Run a stage, write its outputs and lineage, show it and record it in MLflow."""
        stage = registry.stage(name)
        try:
            self.tracker.check()  # mlflow.required=true: exit 2 before anything is judged
            result = self.compute(name)
            files = self.write(stage, result)
        except Exception as exc:
            self._write_error(stage, exc)
            raise
        try:  # the files (the gate's verdict) are written: what follows cannot change them
            console.notices(result.notices)
            node = stage.node()
            if hasattr(node, "show"):
                node.show(result)
            self.record(stage, result, files)
        except Exception as exc:
            if os.environ.get("SMO_EVAL_DEBUG"):
                raise
            console.notices([f"{name}: outputs written, but showing or recording them failed "
                             f"(unexpected {type(exc).__name__}: {exc})"])
        console.notices(self.tracker.notices)
        self.tracker.notices.clear()
        return result

    def _write_error(self, stage: Stage, exc: Exception) -> None:
        """A stage with `on_error` (the gate) that could not run or write leaves files that say
        `error`, or none at all: never an earlier verdict, never half of this one."""
        node = stage.node()
        if not hasattr(node, "on_error"):
            return
        self.catalog.forget(stage.name)
        try:
            for key, value in node.on_error(exc).items():
                self.catalog.write(key, value)
        except Exception:  # e.g. the disk is full
            for entry in stage.outputs:
                self.catalog.remove(entry.key)

    def write(self, stage: Stage, result: StageResult) -> list[Path]:
        """Write the stage's outputs (review workbooks in forked children meanwhile, waited
        for), then its lineage: last, over complete files."""
        self.catalog.forget(stage.name)
        files: list[Path] = []
        pending: dict[str, Pending] = {}
        try:
            for entry in stage.outputs:  # the slow workbooks start first
                value = result.outputs.get(entry.key)
                later = None if value is None else self.catalog.write_later(entry.key, value)
                if later is not None:
                    pending[entry.key] = later
            for entry in stage.outputs:
                value = result.outputs.get(entry.key)
                if value is None:
                    self.catalog.remove(entry.key)  # never leave an earlier run's optional file
                elif entry.key not in pending:
                    files += self.catalog.write(entry.key, value)
            if result.after_write is not None:
                files += result.after_write(self.catalog.stage_dir(stage.name))
        finally:
            waited = [_waited(p) for p in pending.values()]  # reaped even if a write failed
        for outcome in waited:
            if isinstance(outcome, Exception):
                raise outcome
            files += outcome
        self.catalog.record(stage.name, {"stage": stage.name, "key": self.stage_key(stage.name),
                                         "smo_eval": __version__, "status": result.status},
                            files)
        self._current = {k: v for k, v in self._current.items() if k[0] != stage.name}
        return files

    def record(self, stage: Stage, result: StageResult, files: list[Path]) -> None:
        """One MLflow run: what ran, on what, with which settings; headline metrics; files."""
        data = self._datasets.get(False) or self._datasets.get(True)
        gold = data.gold_version if data is not None else None
        label = " · ".join(p for p in (stage.name, result.run_label,
                                        f"gold {gold}" if gold else "") if p)
        params = {"overrides": " ".join(self.loaded.overrides) or "(none)",
                  "config_digest": digest(self.loaded.plain())[:16],
                  "config_sources": ", ".join(self.loaded.sources),
                  **{k: v for k, v in settings(self.loaded.container, stage.key_settings).items()}}
        tags = {"git_commit": git_commit(self.project_root), "lineage_key":
                self.stage_key(stage.name), "gold_version": gold, **result.tags}
        if data is not None:
            tags |= {f"input.{k}.sha256": v for k, v in data.hashes.items()}
        with self.tracker.run(label, stage=stage.name, params=params, tags=tags) as mlrun:
            if mlrun is None:
                return
            mlrun.log_metrics(result.metrics)
            for file in files:
                if file.suffix != ".parquet" and file.is_file():
                    mlrun.log_artifact(file, _artifact_folder(file, self.out_dir, stage.name))
            mlrun.log_text(self.loaded.yaml, "config/resolved.yaml")
            node = stage.node()
            if hasattr(node, "log"):
                node.log(mlrun, result, self.config)

    def run(self, names: list[str]) -> dict[str, StageResult]:
        """The stages in order under one `pipeline` MLflow run; returns their results."""
        for name in names:
            registry.stage(name)
        self.tracker.check()
        label = f"pipeline · {', '.join(names)}"
        params = {"overrides": " ".join(self.loaded.overrides) or "(none)",
                  "config_digest": digest(self.loaded.plain())[:16],
                  "stages": ",".join(names)}
        with self.tracker.run(label, stage="pipeline", params=params,
                              tags={"git_commit": git_commit(self.project_root)}) as parent:
            for name in names:
                console.console.rule(f"[bold]{name}")
                self.run_stage(name)
            if parent is not None:
                metrics, tags = pipeline_summary(self.results)
                parent.log_metrics(metrics)
                parent.set_tags(tags)
        console.notices(self.tracker.notices)
        return self.results


def _waited(pending: Pending) -> list[Path] | Exception:
    try:
        return pending.wait()
    except SmoEvalError as exc:
        return exc


def _artifact_folder(file: Path, out_dir: Path, stage: str) -> str:
    try:
        return file.resolve().parent.relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return stage
