"""The versioned gold store under `data/gold/`: one Parquet file per version plus a manifest.

A version's id is the sha256 of its canonical validated table (so the same labels re-encoded
as Excel or GBK CSV are the same version), shown with a readable name and the ingest time.
The manifest keeps every version's lineage (source file and its hash, reviewer column, time).
Writers hold an exclusive lock for the whole read-modify-write, and every file is replaced
atomically, so two ingests at once keep both versions and a failed ingest changes nothing.

A version is stored `complete: false` and marked complete only once the ingest has done
everything that belongs to it (DVC commit, diff against the previous version, MLflow run).
An ingest killed in between leaves it incomplete, and the next ingest finishes it, rather
than finding "the same content" and skipping that work for good.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock, Timeout

from smo_eval.errors import SmoEvalError
from smo_eval.io.writers import atomic_path, to_json_text

MANIFEST = "manifest.json"
VERSIONS = "versions"
ID_LENGTH = 12
# Column order of the canonical table that is hashed (other columns follow, sorted by name).
HASHED_FIRST = ["item_id", "label", "risk_category"]
REF_PREFIX = "gold:"


def content_hash(table: pd.DataFrame) -> str:
    """sha256 of a canonical table, independent of file format, row order and dtypes."""
    columns = [c for c in HASHED_FIRST if c in table.columns]
    columns += sorted(c for c in table.columns if c not in columns and c != "gold_version"
                      and not str(c).startswith("_"))
    frame = table[columns].copy()
    for column in columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            frame[column] = values.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        elif pd.api.types.is_float_dtype(values):
            frame[column] = values.map(lambda v: "" if pd.isna(v) else repr(float(v)))
        frame[column] = frame[column].astype("string").fillna("")
    frame = frame.sort_values("item_id", kind="stable")
    digest = hashlib.sha256()
    digest.update("\x1f".join(columns).encode())
    for column in columns:
        digest.update(b"\x1e" + "\x1f".join(frame[column].tolist()).encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class Version:
    """One stored gold version and its lineage."""

    id: str
    name: str
    created_at: str
    content_sha256: str
    file: str
    rows: int
    positives: int
    source: str
    source_sha256: str | None
    reviewer_column: str | None
    previous: str | None
    complete: bool = True   # versions stored before completion was recorded are complete

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Version:
        known = {k: value.get(k) for k in cls.__dataclass_fields__}
        if "complete" not in value:  # stored before completion was recorded
            known.pop("complete")
        return cls(**known)  # type: ignore[arg-type]


class GoldStore:
    """Versions of the gold set in a folder; the lock file sits beside it (not tracked)."""

    def __init__(self, root: Path, lock_timeout: float = 120.0) -> None:
        self.root = root
        self.lock_path = root.parent / f".{root.name}.lock"
        self.lock_timeout = lock_timeout

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def versions(self) -> list[Version]:
        if not self.manifest_path.is_file():
            return []
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SmoEvalError(f"{self.manifest_path}: unreadable gold manifest ({exc})") from None
        return [Version.from_dict(v) for v in data.get("versions", [])]

    def resolve(self, ref: str) -> Version:
        """A version by id (or unique prefix), name, `latest`, or `latest~N` (N back)."""
        versions = self.versions()
        if not versions:
            raise SmoEvalError(f"the gold store {self.root} has no versions yet "
                               "(add one with `smo-eval gold ingest FILE`)")
        ref = ref.removeprefix(REF_PREFIX)
        if ref == "latest" or ref.startswith("latest~"):
            back = int(ref.split("~", 1)[1] or 1) if "~" in ref else 0
            if back >= len(versions):
                raise SmoEvalError(f"gold version {ref!r}: the store has {len(versions)} versions")
            return versions[-1 - back]
        matches = [v for v in versions if v.id.startswith(ref) or v.name == ref]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(f"{v.id} ({v.name})" for v in versions[-10:])
            raise SmoEvalError(f"gold version {ref!r} not in {self.root}; known: {known}")
        return matches[-1] if len({m.name for m in matches}) == 1 else _ambiguous(ref, matches)

    def incomplete(self) -> list[Version]:
        """Versions whose ingest has not finished (stopped, or still running), oldest first."""
        return [v for v in self.versions() if not v.complete]

    def previous(self, version: Version) -> Version | None:
        return next((v for v in self.versions() if v.id == version.previous), None)

    @contextmanager
    def finishing(self, version: Version) -> Iterator[bool]:
        """Claim the work of an incomplete version: yields False when another live ingest is
        finishing it or it is complete by now. The claim is a file lock, so it ends with the
        process that holds it, however that process ends."""
        path = self.lock_path.with_name(f"{self.lock_path.name}.{version.id}")
        claim = FileLock(str(path), timeout=0)
        try:
            claim.acquire()
        except Timeout:
            yield False
            return
        try:
            current = next((v for v in self.versions() if v.id == version.id), None)
            yield current is not None and not current.complete
        finally:
            claim.release()
            path.unlink(missing_ok=True)

    def mark_complete(self, version: Version) -> None:
        """Record that everything belonging to `version` is done (under the lock)."""
        with self.locked():
            versions = [replace(v, complete=True) if v.id == version.id else v
                        for v in self.versions()]
            self._write_manifest(versions)

    def _write_manifest(self, versions: list[Version]) -> None:
        payload = {"versions": [v.__dict__ for v in versions]}
        with atomic_path(self.manifest_path) as tmp:
            tmp.write_text(to_json_text(payload), encoding="utf-8")

    def path(self, version: Version) -> Path:
        return self.root / version.file

    def load(self, ref: str | Version) -> pd.DataFrame:
        version = ref if isinstance(ref, Version) else self.resolve(ref)
        return pd.read_parquet(self.path(version))

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(self.lock_path), timeout=self.lock_timeout):
                yield
        except Timeout:
            raise SmoEvalError(f"the gold store is locked by another ingest ({self.lock_path}); "
                               f"waited {self.lock_timeout:.0f} s") from None

    def add(self, table: pd.DataFrame, name: str, source: str, source_sha256: str | None,
            reviewer_column: str | None) -> tuple[Version, Version | None, bool]:
        """Store `table` as a new version unless its content is already stored.

        Returns (the version, the version before it, whether it was created). Under the lock:
        Parquet first, manifest last (both atomic renames); on any failure the new Parquet is
        removed, so the store is exactly as before. A new version is stored incomplete: the
        caller marks it complete when its work is done.
        """
        digest = content_hash(table)
        with self.locked():
            # Leftovers of an ingest killed mid-write (no other writer runs under the lock).
            for stale in self.root.glob("**/.*.tmp"):
                stale.unlink(missing_ok=True)
            versions = self.versions()
            for existing in versions:
                if existing.content_sha256 == digest:
                    index = versions.index(existing)
                    return existing, versions[index - 1] if index else None, False
            vid = digest[:ID_LENGTH]
            version = Version(
                id=vid, name=name, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                content_sha256=digest, file=f"{VERSIONS}/{vid}.parquet", rows=len(table),
                positives=int(table["label"].sum()), source=source, source_sha256=source_sha256,
                reviewer_column=reviewer_column, previous=versions[-1].id if versions else None,
                complete=False)
            target = self.path(version)
            stored = table.assign(gold_version=vid)
            try:
                with atomic_path(target) as tmp:
                    stored.to_parquet(tmp, index=False)
                self._write_manifest([*versions, version])
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            return version, versions[-1] if versions else None, True


def _ambiguous(ref: str, matches: list[Version]) -> Version:
    raise SmoEvalError(f"gold version {ref!r} is ambiguous: "
                       + ", ".join(f"{m.id} ({m.name})" for m in matches))


def dvc_track(project_root: Path, store: Path, pointer: Path) -> str | None:
    """Point the DVC file `pointer` at the store and commit its new content to the DVC cache.

    Equivalent to `dvc add <store>` with the pointer at a chosen path (DVC 3's `dvc add` has
    no `--file`): write `outs: [{path: <store>}]` once, then `dvc commit -f <pointer>`.
    Does nothing outside a DVC repo; returns a notice when DVC fails.
    """
    if not (project_root / ".dvc").is_dir():
        return None
    pointer_path = pointer if pointer.is_absolute() else project_root / pointer
    try:
        rel = os.path.relpath(store.resolve(), pointer_path.resolve().parent)
        store.resolve().relative_to(project_root.resolve())
    except ValueError:
        return f"gold store {store} is outside the project: not tracked by DVC"
    if not pointer_path.is_file():
        with atomic_path(pointer_path) as tmp:
            tmp.write_text(f"outs:\n- path: {Path(rel).as_posix()}\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "dvc", "commit", "--force", "--quiet", str(pointer)]
    try:
        done = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True,
                              timeout=600, check=False)
    except OSError as exc:
        return f"gold store not tracked by DVC: {exc}"
    if done.returncode != 0:
        return (f"`dvc commit {pointer}` failed: "
                f"{done.stderr.strip() or done.stdout.strip()}")
    return None
