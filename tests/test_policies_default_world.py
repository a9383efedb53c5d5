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
        "72901a402945ffd7b911e4d567ed4290e4b70247147b049ed021777482faad1f",
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
        "a6567948cc86b4ce8c4d3c53c33ae4e71852002ce19ce122c390844a767d73b8",
    "evaluate/curves/reliability/v2.csv":
        "bbf2283b76bcf8d0a326b29a64044665d92ba8ff89f8bfb1e4b2071f830efa82",
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
        "1c0dac6d80f386140f2c9fec097e124f076dd86467ba7a22bfd82b27d92b5b53",
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
