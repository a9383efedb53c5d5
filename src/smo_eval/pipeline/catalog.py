"""The output catalog: every stage output has one entry (key, file, format, producing stage),
and every read and write goes through it.

As in Kedro's DataCatalog, stages never open files: they return values by catalog key and read
other stages' values by key. A stage's outputs are written with `lineage.json`, the digest of
the settings and inputs that produced them (see `pipeline.lineage`); a reader uses files only
while that digest matches what the current settings and inputs would produce, so an output of
other inputs or settings is never used silently. Names that come from data (model ids) become
file names only through `safe_name`, and every path stays inside its root.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smo_eval.errors import SmoEvalError
from smo_eval.io.writers import (
    atomic_path,
    csv_text_restored,
    write_csv,
    write_json,
    write_parquet,
)
from smo_eval.lineage import known_sha256
from smo_eval.pipeline.entries import Entry, safe_name

if TYPE_CHECKING:
    from smo_eval.io.background import Pending

LINEAGE_FILE = "lineage.json"


class Catalog:
    """Entries by key, resolved under the output folder and the project folder."""

    def __init__(self, entries: Iterable[Entry], out_dir: Path, project_root: Path,
                 substitutions: dict[str, str] | None = None) -> None:
        self.entries = {e.key: e for e in entries}
        self.out_dir = out_dir
        self.project_root = project_root
        self.substitutions = substitutions or {}

    def relative(self, entry: Entry) -> str:
        """The entry's path with settings filled in (`{sample_dir}` -> sample.out_dir)."""
        return entry.path.format(**self.substitutions)

    def entry(self, key: str) -> Entry:
        try:
            return self.entries[key]
        except KeyError:
            raise SmoEvalError(f"no catalog entry {key!r}") from None

    def root(self, entry: Entry) -> Path:
        return self.out_dir if entry.root == "out" else self.project_root

    def path(self, key: str) -> Path:
        entry = self.entry(key)
        return self.root(entry) / self.relative(entry)

    def files(self, key: str) -> list[Path]:
        entry = self.entry(key)
        base = self.path(key)
        if entry.kind == "table":
            return [base.with_name(base.name + ".csv"), base.with_name(base.name + ".parquet")]
        if entry.kind == "frames":
            return [base, frames_index(base)]
        return [base]

    def stage_dir(self, stage: str) -> Path:
        return self.out_dir / stage

    def lineage_path(self, stage: str) -> Path:
        return self.stage_dir(stage) / LINEAGE_FILE

    def exists(self, key: str) -> bool:
        return all(f.exists() for f in self.files(key))

    def remove(self, key: str) -> None:
        """Delete an output's files (an optional output this run did not produce)."""
        import shutil

        for file in self.files(key):
            if file.is_dir():
                shutil.rmtree(file)
            else:
                file.unlink(missing_ok=True)

    # --- writing --------------------------------------------------------------------------

    def write_later(self, key: str, value: Any) -> Pending | None:
        """Start writing an output whose writer is slow Python (a review workbook) in a
        forked child (`io.background`); None when it is not such an output, or forking is not
        available: then `write` it."""
        if self.entry(key).kind != "xlsx":
            return None
        from smo_eval.io.background import in_background
        from smo_eval.io.excel import write_review_xlsx

        target = self.path(key)
        return in_background(lambda: write_review_xlsx(value, target), target)

    def write(self, key: str, value: Any) -> list[Path]:
        """Write one output by its entry's kind; returns the files written."""
        entry = self.entry(key)
        target = self.path(key)
        kind = entry.kind
        if kind == "table":
            return [write_csv(value, target.with_name(target.name + ".csv")),
                    write_parquet(value, target.with_name(target.name + ".parquet"))]
        if kind == "csv":
            return [write_csv(value, target)]
        if kind == "parquet":
            return [write_parquet(value, target)]
        if kind == "json":
            return [write_json(value, target)]
        if kind == "text":
            with atomic_path(target) as tmp:
                tmp.write_text(str(value), encoding="utf-8")
            return [target]
        if kind == "xlsx":
            from smo_eval.io.excel import write_review_xlsx

            return [write_review_xlsx(value, target)]
        if kind == "writer":
            with atomic_path(target) as tmp:
                value(tmp)
            return [target]
        if kind == "frames":
            return self._write_frames(target, value, bom=entry.dvc != "plot")
        if kind == "dir":
            return self._write_dir(target, value)
        raise SmoEvalError(f"catalog entry {key}: unknown kind {kind!r}")

    def _write_frames(self, folder: Path, frames: dict[str, Any], bom: bool) -> list[Path]:
        """One CSV per name (a model id made safe as a file name), and beside the folder an
        index of which file holds which name (beside it: DVC plots read every file inside)."""
        folder.mkdir(parents=True, exist_ok=True)
        index = {}
        written = []
        for name, frame in frames.items():
            file = f"{safe_name(name)}.csv"
            index[str(name)] = file
            written.append(write_csv(frame, _inside(folder, file), bom=bom))
        for old in folder.glob("*.csv"):
            if old.name not in index.values():
                old.unlink()
        written.append(write_json(index, frames_index(folder)))
        return written

    def _write_dir(self, folder: Path, frames: dict[str, Any]) -> list[Path]:
        """A folder of CSVs named by fixed names (e.g. quarantine/<table>.csv)."""
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.csv"):
            old.unlink()
        return [write_csv(frame, _inside(folder, f"{safe_name(name)}.csv"))
                for name, frame in frames.items()]

    # --- reading --------------------------------------------------------------------------

    def read(self, key: str) -> Any:
        import pandas as pd

        entry = self.entry(key)
        target = self.path(key)
        kind = entry.kind
        if kind in ("table", "parquet"):
            file = target.with_name(target.name + ".parquet") if kind == "table" else target
            return pd.read_parquet(file)
        if kind == "csv":
            return csv_text_restored(pd.read_csv(target, encoding="utf-8-sig"))
        if kind == "json":
            return json.loads(target.read_text(encoding="utf-8"))
        if kind == "text":
            return target.read_text(encoding="utf-8")
        if kind == "frames":
            index = json.loads(frames_index(target).read_text(encoding="utf-8"))
            return {name: csv_text_restored(pd.read_csv(_inside(target, file),
                                                        encoding="utf-8-sig"))
                    for name, file in index.items()}
        if kind == "dir":
            return {p.stem: csv_text_restored(pd.read_csv(p, encoding="utf-8-sig"))
                    for p in sorted(target.glob("*.csv"))}
        raise SmoEvalError(f"catalog entry {key} ({kind}) is written for people, not read back")

    # --- lineage --------------------------------------------------------------------------

    def record(self, stage: str, lineage: dict[str, Any], files: Iterable[Path]) -> None:
        """Write the stage's lineage last: the digest of what produced it and each file's
        sha256, so a half-written or hand-edited output is recognised as not current."""
        outputs = {}
        for file in sorted(set(files)):
            if file.is_file() and file.name != LINEAGE_FILE:
                outputs[_relative(file, self.out_dir, self.project_root)] = known_sha256(file)
        write_json({**lineage, "outputs": outputs}, self.lineage_path(stage))

    def forget(self, stage: str) -> None:
        """Before a stage rewrites its outputs: until its lineage is written again they are
        not current (a crash in between never leaves old lineage over new files)."""
        self.lineage_path(stage).unlink(missing_ok=True)

    def recorded(self, stage: str) -> dict[str, Any] | None:
        path = self.lineage_path(stage)
        if not path.is_file():
            return None
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def current(self, stage: str, key: str) -> tuple[bool, str]:
        """Whether the stage's files on disk were produced by `key` and are intact."""
        saved = self.recorded(stage)
        if saved is None:
            return False, "no lineage (not run, or run by an older version)"
        if saved.get("key") != key:
            return False, "produced by other inputs or settings"
        for rel, digest in (saved.get("outputs") or {}).items():
            file = _absolute(rel, self.out_dir, self.project_root)
            if not file.is_file():
                return False, f"{file} is missing"
            if known_sha256(file) != digest:
                return False, f"{file} changed since it was written"
        return True, ""


def frames_index(folder: Path) -> Path:
    return folder.with_name(folder.name + ".index.json")


def _inside(folder: Path, name: str) -> Path:
    """`folder/name`, refusing anything that would leave `folder`."""
    target = (folder / name).resolve()
    if folder.resolve() not in target.parents:
        raise SmoEvalError(f"refusing to write {name!r} outside {folder}")
    return folder / name


def _relative(file: Path, out_dir: Path, project_root: Path) -> str:
    resolved = file.resolve()
    for prefix, root in (("out:", out_dir), ("project:", project_root)):
        try:
            return prefix + resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return str(resolved)


def _absolute(rel: str, out_dir: Path, project_root: Path) -> Path:
    if rel.startswith("out:"):
        return out_dir / rel[4:]
    if rel.startswith("project:"):
        return project_root / rel[8:]
    return Path(rel)
