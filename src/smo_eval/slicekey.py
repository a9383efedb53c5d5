"""Slices as data: a slice is a tuple of (dimension, value) pairs, never a string to parse.

`()` is the overall slice; `(("region", "SEA"), ("language", "zh"))` is a cross. The display
string (`region=SEA&language=zh`) is made here and only here, the same in CSV, MLflow and the
report; tables also carry `slice_key`, a canonical JSON form that reads back exactly, so a
value holding `&`, `=`, `*`, spaces or Chinese characters stays one value. Gate selectors match
on the pairs (`Selector`), with glob patterns on values.

>>> key = (("region", "XX&language=en"), ("language", "zh"))
>>> display(key)
'region=XX&language=en&language=zh'
>>> from_json(to_json(key)) == key
True
>>> Selector.parse("region=*&language=*").matches(key)
True
>>> Selector.parse("region=*").matches(key)
False
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

SliceKey = tuple[tuple[str, str], ...]
OVERALL = "overall"
OVERALL_KEY: SliceKey = ()


def display(key: SliceKey) -> str:
    """`overall`, `dim=value` or `dimA=a&dimB=b`: the one display form of a slice."""
    return "&".join(f"{d}={v}" for d, v in key) if key else OVERALL


def dimension_of(key: SliceKey) -> str:
    """`overall`, `dim` or `dimA&dimB`."""
    return "&".join(d for d, _ in key) if key else OVERALL


def to_json(key: SliceKey) -> str:
    return json.dumps([[d, v] for d, v in key], ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> SliceKey:
    pairs = json.loads(text)
    return tuple((str(d), str(v)) for d, v in pairs)


def value_of(key: SliceKey, dimension: str) -> str | None:
    """The value of one dimension in a slice (None when the slice does not fix it)."""
    return next((v for d, v in key if d == dimension), None)


_MLFLOW_BAD = re.compile(r"[^/\w.\- :]")


def mlflow_name(*parts: str | SliceKey) -> str:
    """A metric name MLflow accepts, built from the display forms: `v1/recall/region:SEA
    x language:zh` (MLflow allows letters, digits, `_ - . / :` and spaces only)."""
    text = "/".join(
        (" x ".join(f"{d}:{v}" for d, v in p) or OVERALL) if isinstance(p, tuple) else p
        for p in parts)
    return _MLFLOW_BAD.sub("_", text)


@dataclass(frozen=True)
class Selector:
    """Which slices a gate check judges: dimension -> value glob, in order; `*` alone is
    every slice. Parsed from config once (`region=*&language=*`, or a mapping)."""

    pairs: tuple[tuple[str, str], ...] | None  # None: every slice

    @classmethod
    def parse(cls, spec: Any) -> Selector:
        if isinstance(spec, Mapping):
            return cls(tuple((str(d), str(v)) for d, v in spec.items()))
        text = str(spec)
        if text == "*":
            return cls(None)
        if text == OVERALL:
            return cls(())
        pairs = []
        for part in text.split("&"):
            dim, sep, value = part.partition("=")
            if not sep or not dim:
                raise ValueError(f"slice selector {text!r}: expected dim=value[&dim=value], "
                                 "`overall`, `*` or a mapping {dimension: value}")
            pairs.append((dim, value))
        return cls(tuple(pairs))

    def matches(self, key: SliceKey) -> bool:
        if self.pairs is None:
            return True
        return len(key) == len(self.pairs) and all(
            d == sd and fnmatchcase(v, sv) for (d, v), (sd, sv) in zip(key, self.pairs,
                                                                        strict=True))

    def __str__(self) -> str:
        if self.pairs is None:
            return "*"
        return display(self.pairs)


def select(keys: Sequence[SliceKey], specs: Sequence[Any]) -> list[SliceKey]:
    """Distinct keys matching any selector, in table order."""
    selectors = [Selector.parse(s) for s in specs]
    return [k for k in dict.fromkeys(keys) if any(s.matches(k) for s in selectors)]
