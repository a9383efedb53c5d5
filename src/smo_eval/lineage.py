"""Where a result came from: git commit, content hashes of the full input files.

Hashes cover every byte of a file (not a sample of rows as MLflow's dataset digest does), so a
relabel past row 10,000 still changes the hash.

Every command checks that the files it builds on are the ones their lineage names, which at
1e7 rows meant reading 400 MB through sha256 (half a second) before any work. `known_sha256`
remembers a file's hash across commands by the file's identity (device, inode, size,
modification and status-change times in ns), as DVC's state database and git's index do, in
`<cache root>/hashes.json` (`smo_eval.config.cache.root`; `SMO_EVAL_HASH_CACHE=0` turns it
off). The status-change time moves on every write and cannot be set back (`os.utime` sets
only the modification time), so a file rewritten with its old size and modification time
restored is still read again. Like git's "racily clean" rule, a hash taken less than
`_RACY_NS` after the file's last change is not trusted: a rewrite within the clock's
granularity could otherwise keep its old hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
SWITCH_ENV = "SMO_EVAL_HASH_CACHE"
_RACY_NS = 2_000_000_000
_KEEP = 4096


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def known_sha256(path: Path) -> str:
    """`file_sha256`, remembered across commands while the file's identity is unchanged."""
    info = path.stat()
    identity = (f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:"
                f"{info.st_ctime_ns}:{path.resolve()}")
    store = _store()
    if store is None:
        return file_sha256(path)
    entries = _entries(store)
    known = entries.get(identity)
    if known and known[1] - max(info.st_mtime_ns, info.st_ctime_ns) > _RACY_NS:
        return str(known[0])
    hashed_at = time.time_ns()  # before reading: a change while reading changes the mtime
    digest = file_sha256(path)
    entries[identity] = [digest, hashed_at]
    _save(store, entries)
    return digest


def _store() -> Path | None:
    if os.environ.get(SWITCH_ENV, "").strip().lower() in {"0", "false", "no", "off"}:
        return None
    from smo_eval.config.cache import root

    base = root()
    return None if base is None else base / "hashes.json"


_LOADED: dict[Path, dict[str, Any]] = {}


def _entries(store: Path) -> dict[str, Any]:
    if store not in _LOADED:
        try:
            value = json.loads(store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            value = {}
        _LOADED[store] = value if isinstance(value, dict) else {}
    return _LOADED[store]


def _save(store: Path, entries: dict[str, Any]) -> None:
    """Atomically, the newest `_KEEP` entries; a cache that cannot be written is skipped."""
    if len(entries) > _KEEP:
        newest = sorted(entries.items(), key=lambda kv: kv[1][1])[-_KEEP:]
        entries.clear()
        entries.update(newest)
    with contextlib.suppress(OSError):
        store.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=store.parent, prefix=".hashes-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(entries, out)
            os.replace(tmp, store)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD commit of the project (with `-dirty` when the tree has changes), None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head
