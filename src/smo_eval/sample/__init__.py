"""Deterministic synthetic sample world with planted effects, for demos and tests."""

from __future__ import annotations

from smo_eval.sample.world import SampleWorld, generate_world

__all__ = ["SampleWorld", "generate_world"]
