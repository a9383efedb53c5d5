"""Pin the exact sample world, so a change to it is made on purpose and never by accident.

Refactoring the generator (moving phrases to data, splitting modules) must not change a byte
of the tables: the demo, the DVC pipeline's cached outputs and every test that reads numbers
off the sample world depend on them. Each table is hashed from its column names, dtypes,
category levels (in order) and CSV text. When the world is changed deliberately (config,
phrases or draws), update the digests below in the same commit and say why.

Changed on purpose (issue 16): items gained the `expression_type` column and the champion's
scores of implicit violations moved down (`planted.expression_type`), so the items and
predictions digests changed; gold, annotations and truth did not. BEFORE_EXPRESSION pins the
two tables as they were, and the test below shows the new column changed nothing else.

Changed on purpose (issue 14): six weeks of history with two planted changes come before the
period (`planted.trend`), so every table changed; WITHOUT_TREND pins the period alone, which
is drawn exactly as before. The history draws its expression types from a stream of their own
(seed + 1).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import pytest

from smo_eval.sample import SampleWorld, generate_world
from tests.settings import world_config

N_ITEMS = 3_000

DIGESTS = {
    "items": "ed169fd6b7f130a37de7bd18d29c949cfc8fb1287ba95e50e0136961e9418c53",
    "gold": "aadb7261743914c40749f2deba0414cc3579ffc85046b5e2231eaab8f2d256f8",
    "predictions": "ae9816e23033cda781086e09f353796e39e585540187a244dbeb9bcf6d310b04",
    "annotations": "5a541a007252a2992193c83146d521e1b79ee7e457916f7b610503f6329bef7a",
    "truth": "1907699e54d73abb06ea2fe7c7cdf4f8a12b21650bc8c35f2c99720b4c2e6112",
}
# The world before `planted.trend` added weeks of history (and its two planted changes): the
# period is drawn exactly as before, so without the trend spec these are unchanged.
WITHOUT_TREND = {
    "items": "990821ee9bf4831e20fabbb039f8e2a44064a48d463e8de42d3d0b98863a70b8",
    "gold": "a5189317e2078ad8638649e0c3620efe749221b4e572eb3048d71adfc11a50cb",
    "predictions": "78afdb15fd755c688140d9318582cf96cbd24a1762ffa9226663e3c1866f121c",
    "annotations": "ced151a5a65551124759ddfc2f963a0fb822246de75d6f834a205164f0ae44b0",
    "truth": "e9fd3736a372b24f71313eeb2a9c611ae7fcd94229db7db9f8732d06fa3dc0f1",
}

BEFORE_EXPRESSION = {
    "items": "c3a9b37c4d316c2cf27912605a225499ab5ccbca529a0894a2f282f08f231c03",
    "predictions": "966d8e9a37f0b7282d9e242077a30b27eb2a79d5f9845642764ffb30ffa6da23",
}


def _digest(frame: pd.DataFrame) -> str:
    """sha256 of a table's schema (names, dtypes, category levels) and its CSV text."""
    h = hashlib.sha256()
    for name, column in frame.items():
        h.update(f"{name}\t{column.dtype}\n".encode())
        if isinstance(column.dtype, pd.CategoricalDtype):
            h.update(("\x1f".join(map(str, column.cat.categories)) + "\n").encode())
    h.update(frame.to_csv(index=False, lineterminator="\n").encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def world() -> SampleWorld:
    cfg, taxonomy = world_config()
    return generate_world(cfg, taxonomy, n_items=N_ITEMS)


@pytest.mark.parametrize("table", sorted(DIGESTS))
def test_sample_world_table_is_byte_identical_to_the_pinned_one(
    world: SampleWorld, table: str
) -> None:
    assert _digest(getattr(world, table)) == DIGESTS[table], (
        f"the sample world's {table} table changed; if on purpose, update DIGESTS"
    )


def _without_trend() -> tuple[dict[str, Any], dict[str, Any]]:
    cfg, taxonomy = world_config()
    cfg["planted"] = {k: v for k, v in cfg["planted"].items() if k != "trend"}
    return cfg, taxonomy


def test_without_the_trend_history_the_world_is_the_earlier_one() -> None:
    cfg, taxonomy = _without_trend()
    world = generate_world(cfg, taxonomy, n_items=N_ITEMS)
    assert {t: _digest(getattr(world, t)) for t in WITHOUT_TREND} == WITHOUT_TREND


def test_expression_type_left_the_rest_of_the_world_as_it_was() -> None:
    """Without its column the items are the old ones; with the implicit effect switched off
    the predictions are too (the column is drawn on a stream of its own)."""
    cfg, taxonomy = _without_trend()
    world = generate_world(cfg, taxonomy, n_items=N_ITEMS)
    assert _digest(world.items.drop(columns="expression_type")) == BEFORE_EXPRESSION["items"]
    cfg["planted"]["expression_type"] = {**cfg["planted"]["expression_type"], "models": []}
    off = generate_world(cfg, taxonomy, n_items=N_ITEMS)
    assert _digest(off.predictions) == BEFORE_EXPRESSION["predictions"]
    assert list(off.items["expression_type"]) == list(world.items["expression_type"])
