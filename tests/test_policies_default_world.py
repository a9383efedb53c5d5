"""The single-score sample world gives byte-identical outputs with the per-policy and
borderline features in the code: nothing switches on without a `policy` column in the
predictions or `data.labels.borderline`.

The digests were computed by main's code before those features existed (commit c75880c,
`smo-eval sample/ingest/evaluate/compare` on the sample world at 3,000 items): the ingest
tables, evaluate's every file (slice table, headline metrics, coverage, curves) and compare's
table. Tables are hashed from their column names, dtypes, category levels and CSV text (as in
test_sample_world_digest.py), other files byte for byte. A deliberate change to the sample
world or to these outputs updates the digests in the same commit, saying why.

Changed on purpose: compare's table after the scale work (issue 13), whose exact binomial and
McNemar p-values come from scipy.special instead of scipy.stats: 25 of 716 p-values differ in
the last digit or two (e.g. 0.6875 vs 0.6875000000000002); every count and verdict is the same.
And evaluate's slice table and reliability curves after the rank metrics moved to each slice's
occupied bins and ECE's bins to `np.add.reduceat` (issue 13): floating-point summation order
only, at most 7.9e-15 relative across the 358 x 35 table (CSV and Parquet) and the curves;
every count, NaN and text cell is the same.

The sample world has since gained the `expression_type` column with its planted effect on the
champion (issue 16): this test switches the effect off and leaves the column out of the
ingest table's digest, so the digests still are main's from before policies.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.cli_helpers import invoke
from tests.conftest import ROOT
from tests.test_sample_world_digest import _digest

SMALL = ["sample.n_items=3000", "mlflow.enabled=false",
         "sample.planted.expression_type.models=[]", "~sample.planted.trend"]
# Added to the world after these digests were taken: left out of the ingest table's digest.
LATER_COLUMNS = ["expression_type"]
DIGESTS = {
    "ingest/eval.parquet":
        "27771f8f55f744c3442c2de997c8c5913493c1e046e2d4cacd17cc37c764dc4c",
    "ingest/scores.parquet":
        "466f3c1fe63d7f835eecbb169c8a6f16f936e6f8f3a05cd037f1ae2be097186f",
    "evaluate/slice_metrics.parquet":
        "a51b8a86528864938269938cd3c164b11934111f63cde6c54d69d517747954c9",
    "compare/comparison.parquet":
        "4486b665d7a3830296dbb0da1c60e00a7b9cc5198ab755613ee84d6323b0ef68",
    "evaluate/coverage.csv":
        "4fdd7a47ae73b1d2a79fc2dbfd02236f4a17d833a884c12ac283d56073c37bc2",
    "evaluate/curves/pr/v1.csv":
        "cafa4877339b038c7f8a5f06b59780d92ac1ac418d60b0f8af507b3fa81905d8",
    "evaluate/curves/pr/v2.csv":
        "931e3167d30a940308ce3997789e6c60b3f2b7f3bee5240069c8b675502d3ede",
    "evaluate/curves/pr.index.json":
        "8506ed06f697aa688ba762a29a491bc289956b614d92aa8a6b8f8d1fea92e1b6",
    "evaluate/curves/reliability/v1.csv":
        "9659a1c64f0d5228ef16bfb14601e0eb74ada8b11263cb83dac7796ddaa716a4",
    "evaluate/curves/reliability/v2.csv":
        "9c1c29b49c5d1f4673d5285f3e9cdc7d8a72f3b43f7dd281cc2ae591d71bb6d0",
    "evaluate/curves/reliability.index.json":
        "8506ed06f697aa688ba762a29a491bc289956b614d92aa8a6b8f8d1fea92e1b6",
    "evaluate/curves/roc/v1.csv":
        "2fbb20cc81a1615e336849612edf45f163e39bfa4782a3b2e7a272a27fe98f7a",
    "evaluate/curves/roc/v2.csv":
        "b6dc5246dd80efafa04e40d810efd629eb5020b4d43ee785f3a913c02fa085fd",
    "evaluate/curves/roc.index.json":
        "8506ed06f697aa688ba762a29a491bc289956b614d92aa8a6b8f8d1fea92e1b6",
    "evaluate/metrics.json":
        "ce85d7f738c1a2d9e3e9a5d3275c247aec845fec691e845b6e5119fa25d09bb1",
    "evaluate/slice_metrics.csv":
        "9bf7b3c15301a88d4f9a0c13dfa51e6df3bacc105f34e8092fc532110525bd19",
}


def test_single_score_outputs_are_byte_identical_to_main_before_policies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMO_EVAL_CONF_DIR", raising=False)
    invoke("sample", *SMALL)
    invoke("ingest", *SMALL)
    invoke("evaluate", *SMALL)
    invoke("compare", *SMALL, "compare.candidates=[v2]")
    out = tmp_path / "outputs"
    got = {}
    for name in DIGESTS:
        path = out / name
        got[name] = (_digest(pd.read_parquet(path).drop(columns=LATER_COLUMNS,
                                                         errors="ignore"))
                     if path.suffix == ".parquet"
                     else hashlib.sha256(path.read_bytes()).hexdigest())
    assert got == DIGESTS
    # No new file either: the per-policy and borderline tables are not written.
    written = {str(p.relative_to(out)) for p in (out / "evaluate").rglob("*")
               if p.is_file() and p.suffix in (".csv", ".json")}
    assert written - {"evaluate/lineage.json"} == {k for k in DIGESTS
                                                   if k.startswith("evaluate/")
                                                   and not k.endswith(".parquet")}
