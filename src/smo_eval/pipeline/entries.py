"""Catalog entries: what an output is called, where it lives and how it is stored.

Plain data with no heavy imports, so the stage registry (and the CLI built from it) loads
in milliseconds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

KINDS = ("table", "csv", "parquet", "json", "text", "frames", "xlsx", "writer", "dir")
_UNSAFE = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class Entry:
    """One output: `path` is relative to the output folder (`out_dir`), or to the project
    folder when `root="project"`; a `table` is written as `<path>.csv` and `<path>.parquet`,
    `frames` as a folder of CSVs (one per name) with `index.json`."""

    key: str
    path: str
    kind: str
    description: str = ""
    optional: bool = False          # a stage may leave it unwritten (e.g. no annotations)
    dvc: str = "out"                # out | metric | plot | none
    plot: dict[str, str] = field(default_factory=dict)   # DVC plot axes: {x: fpr, y: tpr}
    dvc_path: str | None = None     # the path DVC declares, when a folder groups outputs
    root: str = "out"               # out | project

    @property
    def stage(self) -> str:
        return self.key.split(".", 1)[0]



def safe_name(name: str) -> str:
    """A file name for a data-derived name (a model id): letters, digits, `_ . -` only, no
    leading dot, bounded length; never a path. Different names stay different files."""
    cleaned = _UNSAFE.sub("_", str(name)).strip("._") or "_"
    if cleaned != str(name) or len(cleaned) > 80:
        cleaned = f"{cleaned[:60]}_{hashlib.sha256(str(name).encode()).hexdigest()[:8]}"
    return cleaned
