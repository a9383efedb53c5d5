"""A cache of composed configurations, so a repeated command skips Hydra and OmegaConf.

Importing OmegaConf and Hydra, registering the schema and composing take ~0.4 s of every
command, although the same inputs always compose to the same typed `Config`. `load_config`
asks `key()` for a digest of everything the result depends on (see `load_config`'s inputs
plus `code_fingerprint()`); an entry stored under that digest is the `LoadedConfig` itself.
A key that is not computable (a file unreadable, a conf tree too large) means "do not cache".

Where: `$SMO_EVAL_CACHE_DIR`, else `$XDG_CACHE_HOME/smo-eval`, else `~/.cache/smo-eval`,
folder `config/`; `SMO_EVAL_CONFIG_CACHE=0` turns it off. The cache never fails a command:
a folder that cannot be made or written, an entry that cannot be read or unpickled, is
skipped (and rewritten on the next successful load). Writes are atomic (a temporary file,
then `os.replace`); the folder keeps the `KEEP` most recently used entries.

Entries are pickles of the typed dataclasses. Unpickling runs code named by the file, so the
cache folder is trusted like the user's own site-packages: it is created private (0700),
lives in the user's own cache directory, and an entry owned by another user is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any

DIR_ENV = "SMO_EVAL_CACHE_DIR"
SWITCH_ENV = "SMO_EVAL_CONFIG_CACHE"
# Bump when what is stored (or how keys are made) changes in a way the code fingerprint
# would not notice.
FORMAT = 1
KEEP = 64
SUFFIX = ".pkl"
# Hashing a project's conf/ costs time on every command; a tree larger than this is not
# cached (a conf/ folder is a few KB of YAML; megabytes mean something else lives there).
MAX_TREE_BYTES = 8 << 20
_STALE_TEMP_SECONDS = 3600
_OFF = {"0", "false", "no", "off"}


def folder() -> Path | None:
    """The cache folder, or None when the cache is switched off or no home is known."""
    if os.environ.get(SWITCH_ENV, "").strip().lower() in _OFF:
        return None
    base = root()
    return None if base is None else base / "config"


def root() -> Path | None:
    """smo-eval's cache root (the configuration and file-hash caches live in it), or None
    when no home is known."""
    base = os.environ.get(DIR_ENV)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        if os.path.isabs(xdg):  # the XDG spec: a relative value is to be ignored
            base = os.path.join(xdg, "smo-eval")
        else:
            try:
                base = str(Path.home() / ".cache" / "smo-eval")
            except (RuntimeError, KeyError):  # no $HOME and no passwd entry
                return None
    return Path(base)


def key(inputs: Mapping[str, Any]) -> str:
    """The entry name for `inputs` (JSON-able) and this installation's code."""
    text = json.dumps({"format": FORMAT, "code": code_fingerprint(), "inputs": inputs},
                      sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_fingerprint() -> dict[str, Any]:
    """What the composed result depends on besides its inputs: smo-eval's version and the
    stat of the config package's source (a schema edited during development must miss, the
    version string does not change then), Python, and the installed Hydra and OmegaConf.
    Stat (mtime, size) rather than content: `pip install` and editors rewrite files."""
    from smo_eval import __version__

    config_dir = Path(__file__).parent
    plugins = find_spec("hydra_plugins")
    plugin_dirs = [Path(p) for p in (plugins.submodule_search_locations or [])] if plugins \
        else []
    return {"smo_eval": __version__, "python": sys.version, "config_dir": str(config_dir),
            "config_src": _stats(sorted(config_dir.glob("*.py"))),
            # Any Hydra plugin can change the search path: which ones are installed, ours too.
            "hydra_plugins": [_stats(sorted(f for e in sorted(d.iterdir()) if e.is_dir()
                                            for f in e.glob("*.py")))
                              for d in plugin_dirs if d.is_dir()],
            "libraries": [_library(name, dist) for name, dist in
                          (("hydra", "hydra_core"), ("omegaconf", "omegaconf"))]}


def file_digest(path: Path) -> dict[str, Any]:
    """A file as an input: its path as given, resolved, and the sha256 of its content
    (None when it does not exist)."""
    content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return {"path": str(path), "resolved": str(path.resolve()), "sha256": content}


def tree_digest(root: Path) -> str | None:
    """The sha256 over every file under `root` (relative names and content), None when the
    tree is larger than MAX_TREE_BYTES."""
    digest = hashlib.sha256()
    total = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            file = Path(directory, name)
            data = file.read_bytes()
            total += len(data)
            if total > MAX_TREE_BYTES:
                return None
            digest.update(f"{file.relative_to(root).as_posix()}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def read(name: str) -> Any | None:
    """The entry stored under `name`, or None (absent, unreadable, corrupt, not ours)."""
    base = folder()
    if base is None:
        return None
    path = base / (name + SUFFIX)
    try:
        with path.open("rb") as handle:
            if hasattr(os, "getuid") and os.fstat(handle.fileno()).st_uid != os.getuid():
                return None
            value = pickle.load(handle)
    except Exception:  # missing, truncated, from an older layout: recompute and rewrite
        return None
    with contextlib.suppress(OSError):  # recently used: kept by `prune`
        os.utime(path)
    return value


def write(name: str, value: Any) -> None:
    """Store `value` under `name` atomically and prune; any failure just skips the cache."""
    base = folder()
    if base is None:
        return
    temp: str | None = None
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=base, prefix=".", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, base / (name + SUFFIX))
        temp = None
        prune(base)
    except Exception:  # read-only home, full disk, an unpicklable value: run uncached
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def prune(base: Path, keep: int = KEEP) -> None:
    """Keep the `keep` most recently used entries; remove temporary files of killed writers."""
    entries: list[tuple[float, Path]] = []
    now = time.time()
    for path in base.iterdir():
        try:
            mtime = path.stat().st_mtime
            if path.suffix == SUFFIX:
                entries.append((mtime, path))
            elif path.suffix == ".tmp" and now - mtime > _STALE_TEMP_SECONDS:
                path.unlink()
        except OSError:  # removed meanwhile by another command
            continue
    for _, path in sorted(entries, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()


def _stats(files: list[Path]) -> list[tuple[str, int, int]]:
    out = []
    for file in files:
        stat = file.stat()
        out.append((str(file), stat.st_mtime_ns, stat.st_size))
    return out


def _library(module: str, dist: str) -> list[Any]:
    """An installed library's identity without importing it (importlib.metadata alone costs
    ~30 ms): its location, the stat of its `__init__.py`, its dist-info folder's name."""
    spec = find_spec(module)
    if spec is None or spec.origin is None:
        return [module, None]
    origin = Path(spec.origin)
    site = origin.parent.parent
    prefix = dist.lower() + "-"
    infos = sorted(n for n in os.listdir(site)
                   if n.lower().startswith(prefix) and n.endswith((".dist-info", ".egg-info")))
    return [module, *_stats([origin]), str(site), infos]
