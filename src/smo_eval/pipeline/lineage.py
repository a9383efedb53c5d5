"""Lineage digests: what an output was made from, as one sha256 per stage.

A stage's key covers its name, smo-eval's version, the settings it declares (`params`, plus
the operating point when it counts flags), the keys of the stages it reads and the content
hashes of the files it reads directly. Keys are computed from the configuration and the
input files alone, so any command can tell whether a stage's files on disk are the ones the
current settings would produce, without reading them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smo_eval.lineage import known_sha256


def digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def settings(values: Mapping[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """The values of dotted settings paths (sections or single keys) in the resolved
    configuration as plain data (`LoadedConfig.container`); None where a path is absent."""
    out = {}
    for path in paths:
        node: Any = values
        for part in path.split("."):
            if isinstance(node, Mapping):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
                break
        out[path] = copy.deepcopy(node)
    return out


class FileHashes:
    """sha256 of input files, each computed once per process (keyed by size and mtime)."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, int, int], str] = {}

    def of(self, path: str | Path) -> str | None:
        file = Path(path)
        if not file.is_file():
            return None
        stat = file.stat()
        key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._memo:
            self._memo[key] = known_sha256(file)
        return self._memo[key]
