"""The configuration cache: a repeated load is served from it, indistinguishable from a fresh
composition; any input that changes misses; errors and resolver calls are never cached; a
broken or unwritable cache only costs the composition."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import OmegaConf

from smo_eval.config import cache, loader
from smo_eval.config.loader import LoadedConfig, load_config
from smo_eval.errors import ConfigError
from tests.conftest import ROOT


class Spy:
    """Counts compositions (cache misses) by wrapping the loader's `_load`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.misses = 0
        real = loader._load

        def counted(*args: Any) -> Any:
            self.misses += 1
            return real(*args)

        monkeypatch.setattr(loader, "_load", counted)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test (the suite's own is shared by every test)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.DIR_ENV, str(folder))
    monkeypatch.delenv(cache.SWITCH_ENV, raising=False)
    return folder / "config"


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    return Spy(monkeypatch)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Path) -> Iterator[Path]:
    """A project folder with this repository's conf/, as cwd."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "conf").mkdir()
    (folder / "conf" / "config.yaml").write_bytes((ROOT / "conf" / "config.yaml").read_bytes())
    monkeypatch.chdir(folder)
    monkeypatch.delenv(loader.CONF_ENV, raising=False)
    yield folder


def entries(store: Path) -> list[Path]:
    return sorted(store.glob("*" + cache.SUFFIX)) if store.is_dir() else []


CASES = [
    [],
    ["evaluate.threshold=0.6", "slicing.crosses=[]"],
    ["gate=release", "+gate.checks.extra={kind: floor, metric: recall, min: 0.5}"],
    ["data.labels.positive=[违规,涉黄]", "data.gold=金标.csv"],
    ["data.columns.item_id=case_id", "evaluate.thresholds.v2=0.45"],
    ["preset=sample_policies"],
]


@pytest.mark.parametrize("overrides", CASES, ids=lambda o: " ".join(o) or "none")
def test_a_hit_equals_the_miss(workdir: Path, store: Path, spy: Spy,
                               monkeypatch: pytest.MonkeyPatch, overrides: list[str]) -> None:
    miss = load_config(overrides)
    assert spy.misses == 1 and len(entries(store)) == 1
    hit = load_config(overrides)
    assert spy.misses == 1, "the second load was composed again"
    monkeypatch.setenv(cache.SWITCH_ENV, "0")
    fresh = load_config(overrides)
    assert spy.misses == 2
    for loaded in (miss, hit):
        assert loaded == fresh  # config, container, yaml, overrides, sources, project_root
        assert loaded.config == fresh.config and loaded.plain() == fresh.plain()
        assert OmegaConf.to_yaml(loaded.tree) == OmegaConf.to_yaml(fresh.tree) == fresh.yaml
        assert (loaded.sources, loaded.overrides, loaded.project_root) == \
            (fresh.sources, fresh.overrides, fresh.project_root)
    # The lazily built tree is the composed one: typed, struct, same values.
    assert OmegaConf.to_container(hit.tree) == fresh.plain()
    assert OmegaConf.get_type(hit.tree) is type(fresh.config) and OmegaConf.is_struct(hit.tree)
    assert yaml.safe_load(hit.yaml) == fresh.plain()


def test_the_committed_params_file_still_matches_a_cached_load(monkeypatch:
                                                                pytest.MonkeyPatch) -> None:
    """`smo-eval params` writes `yaml`; a hit writes what the composition wrote."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv(loader.CONF_ENV, raising=False)
    load_config()
    committed = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load(load_config().yaml) == committed


def test_hits_are_independent_copies(workdir: Path, store: Path) -> None:
    first = load_config(["evaluate.threshold=0.6"])
    first.config.evaluate.threshold = 0.1
    first.plain()["evaluate"]["threshold"] = 0.2
    again = load_config(["evaluate.threshold=0.6"])
    assert again.config.evaluate.threshold == 0.6 and again.plain()["evaluate"]["threshold"] == 0.6
    assert first.plain()["evaluate"]["threshold"] == 0.6


def _threshold(*overrides: str, **kwargs: Path) -> float:
    return float(load_config(list(overrides), **kwargs).config.evaluate.threshold)


def test_editing_any_input_misses(workdir: Path, store: Path, spy: Spy,
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _threshold() == 0.5 and _threshold() == 0.5 and spy.misses == 1
    # an override
    assert _threshold("evaluate.threshold=0.55") == 0.55 and spy.misses == 2
    # a file of the project's conf/ tree (any file: a group the defaults may name later)
    conf = workdir / "conf" / "config.yaml"
    conf.write_text(conf.read_text(encoding="utf-8") + "evaluate:\n  threshold: 0.61\n",
                    encoding="utf-8")
    assert _threshold() == 0.61 and spy.misses == 3
    (workdir / "conf" / "gate").mkdir()
    (workdir / "conf" / "gate" / "mine.yaml").write_text("name: mine\n", encoding="utf-8")
    assert _threshold() == 0.61 and spy.misses == 4
    # the team file in the working folder: added, then edited
    team = workdir / "smo-eval.yaml"
    team.write_text("evaluate: {threshold: 0.62}\n", encoding="utf-8")
    assert _threshold() == 0.62 and spy.misses == 5
    team.write_text("evaluate: {threshold: 0.63}\n", encoding="utf-8")
    assert _threshold() == 0.63 and spy.misses == 6
    # --config FILE
    other = tmp_path / "team.yaml"
    other.write_text("evaluate: {threshold: 0.64}\n", encoding="utf-8")
    assert _threshold(config_file=other) == 0.64
    other.write_text("evaluate: {threshold: 0.65}\n", encoding="utf-8")
    assert _threshold(config_file=other) == 0.65 and spy.misses == 8
    # --params FILE (the DVC stages' way)
    params = tmp_path / "params.yaml"
    params.write_text("evaluate: {threshold: 0.66}\n", encoding="utf-8")
    assert _threshold(params_file=params) == 0.66
    params.write_text("evaluate: {threshold: 0.67}\n", encoding="utf-8")
    assert _threshold(params_file=params) == 0.67 and spy.misses == 10
    assert _threshold(params_file=params) == 0.67 and spy.misses == 10
    team.unlink()
    assert _threshold() == 0.61 and spy.misses == 10  # as before the team file: a hit
    # $SMO_EVAL_CONF_DIR
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.yaml").write_text(
        (ROOT / "conf" / "config.yaml").read_text(encoding="utf-8")
        + "evaluate:\n  threshold: 0.68\n", encoding="utf-8")
    monkeypatch.setenv(loader.CONF_ENV, str(elsewhere))
    assert _threshold() == 0.68 and spy.misses == 11
    monkeypatch.delenv(loader.CONF_ENV)
    assert _threshold() == 0.61 and spy.misses == 11  # back: the earlier entry


def test_the_working_folder_is_part_of_the_key(store: Path, spy: Spy, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With no conf/ anywhere, identical folders still differ: the project root and the
    relative team file are the working folder's."""
    monkeypatch.delenv(loader.CONF_ENV, raising=False)
    roots = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "smo-eval.yaml").write_text("evaluate: {threshold: 0.7}\n", encoding="utf-8")
        monkeypatch.chdir(folder)
        roots.append(load_config([]).project_root)
    assert roots == [tmp_path / "a", tmp_path / "b"] and spy.misses == 2


def test_the_code_fingerprint_is_part_of_the_key(workdir: Path, store: Path, spy: Spy,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    load_config([])
    real = cache.code_fingerprint()
    monkeypatch.setattr(cache, "code_fingerprint", lambda: {**real, "smo_eval": "0.0.0"})
    load_config([])
    assert spy.misses == 2
    # Every module of the config package is fingerprinted (a schema edit must miss).
    package = Path(loader.__file__).parent
    assert {Path(p).name for p, _, _ in real["config_src"]} == \
        {p.name for p in package.glob("*.py")} >= {"schema.py", "loader.py", "cache.py"}


@pytest.mark.parametrize("damage", [b"", b"not a pickle", pickle.dumps({"a": 1}),
                                    "truncate"])
def test_a_corrupt_entry_is_recomputed_and_rewritten(workdir: Path, store: Path, spy: Spy,
                                                     damage: bytes | str) -> None:
    expected = load_config(["evaluate.threshold=0.6"])
    (entry,) = entries(store)
    good = entry.read_bytes()
    entry.write_bytes(good[: len(good) // 2] if damage == "truncate" else damage)
    assert load_config(["evaluate.threshold=0.6"]) == expected and spy.misses == 2
    assert entry.read_bytes() == good  # rewritten
    assert load_config(["evaluate.threshold=0.6"]) == expected and spy.misses == 2


@pytest.mark.parametrize("value", ["0", "false", "OFF"])
def test_switched_off_by_the_environment(workdir: Path, store: Path, spy: Spy, value: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.SWITCH_ENV, value)
    load_config([])
    load_config([])
    assert spy.misses == 2 and not store.exists()


@pytest.mark.parametrize("override", ["evaluate.treshold=0.6", "evaluate.threshold=1.5",
                                      "gate=nope"])
def test_errors_are_not_cached(workdir: Path, store: Path, override: str) -> None:
    messages = []
    for _ in range(2):
        with pytest.raises(ConfigError) as found:
            load_config([override])
        messages.append(str(found.value))
    assert messages[0] == messages[1] and entries(store) == []


def test_a_broken_input_is_reported_every_time(workdir: Path, store: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "smo-eval.yaml").write_text("evaluate: {treshold: 0.7}\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"evaluate\.treshold"):
            load_config([])
    assert entries(store) == []
    bad = workdir / "missing.yaml"
    for _ in range(2):
        with pytest.raises(ConfigError, match="not found"):
            load_config([], params_file=bad)
    monkeypatch.setenv(loader.CONF_ENV, str(workdir / "nowhere"))
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"has no config\.yaml"):
            load_config([])
    assert entries(store) == []


def test_resolver_calls_are_not_cached(workdir: Path, store: Path, spy: Spy,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`${oc.env:...}` reads the environment at load: such a configuration is composed
    every time (plain `${a.b}` interpolations depend on the inputs only and are cached)."""
    (workdir / "smo-eval.yaml").write_text("out_dir: ${oc.env:SMO_TEST_OUT,outputs}\n",
                                           encoding="utf-8")
    monkeypatch.setenv("SMO_TEST_OUT", "one")
    assert load_config([]).config.out_dir == "one"
    monkeypatch.setenv("SMO_TEST_OUT", "two")
    assert load_config([]).config.out_dir == "two"
    assert entries(store) == [] and spy.misses == 2
    assert load_config(["out_dir=${oc.env:SMO_TEST_OUT}"]).config.out_dir == "two"
    assert entries(store) == []
    (workdir / "smo-eval.yaml").write_text("out_dir: runs/${seed}\n", encoding="utf-8")
    assert load_config([]).config.out_dir == "runs/20261124"
    assert load_config([]).config.out_dir == "runs/20261124"
    assert len(entries(store)) == 1 and spy.misses == 4


def test_an_unwritable_cache_is_skipped(workdir: Path, spy: Spy, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(cache.DIR_ENV, str(blocker / "cache"))  # cannot be a folder
    assert load_config([]).config.evaluate.threshold == 0.5
    monkeypatch.delenv(cache.DIR_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(blocker))  # a home that is no folder
    assert load_config([]).config.evaluate.threshold == 0.5
    assert spy.misses == 2


def test_where_the_cache_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.SWITCH_ENV, raising=False)
    monkeypatch.setenv(cache.DIR_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.folder() == tmp_path / "mine" / "config"
    monkeypatch.delenv(cache.DIR_ENV)
    assert cache.folder() == tmp_path / "xdg" / "smo-eval" / "config"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.folder() == tmp_path / "home" / ".cache" / "smo-eval" / "config"
    monkeypatch.setenv(cache.SWITCH_ENV, "0")
    assert cache.folder() is None


def test_writes_are_atomic_and_the_folder_is_pruned(store: Path) -> None:
    for i in range(cache.KEEP + 5):
        cache.write(f"{i:064x}", {"i": i})
        os.utime(store / f"{i:064x}{cache.SUFFIX}", (1000 + i, 1000 + i))
    cache.write("f" * 64, {"i": "last"})
    names = {p.name for p in store.iterdir()}
    assert len(names) == cache.KEEP and f"{'f' * 64}{cache.SUFFIX}" in names
    assert f"{0:064x}{cache.SUFFIX}" not in names  # the least recently used went first
    assert not any(n.endswith(".tmp") for n in names)
    assert cache.read(f"{cache.KEEP + 4:064x}") == {"i": cache.KEEP + 4}
    assert oct(store.stat().st_mode & 0o777) == oct(0o700)


HIT_SCRIPT = """
import json, sys
from smo_eval.config.loader import load_config
loaded = load_config(sys.argv[1:])
print(json.dumps({"modules": sorted(m for m in ("omegaconf", "hydra") if m in sys.modules),
                  "threshold": loaded.config.evaluate.threshold, "yaml": loaded.yaml}))
"""


def test_a_hit_imports_neither_hydra_nor_omegaconf(workdir: Path, store: Path) -> None:
    env = {**os.environ, cache.DIR_ENV: str(store.parent),
           "PYTHONPATH": os.pathsep.join([str(Path(loader.__file__).parents[2]), str(ROOT)])}
    runs = [json.loads(subprocess.run(
        [sys.executable, "-c", HIT_SCRIPT, "evaluate.threshold=0.6"], env=env, check=True,
        capture_output=True, text=True, cwd=workdir).stdout) for _ in range(2)]
    assert runs[0]["modules"] == ["hydra", "omegaconf"]  # the miss composed
    assert runs[1]["modules"] == []
    assert runs[0]["threshold"] == runs[1]["threshold"] == 0.6
    assert runs[0]["yaml"] == runs[1]["yaml"]


def test_loaded_config_pickles_without_its_tree(workdir: Path, store: Path) -> None:
    loaded = load_config([])
    assert loaded.tree is loaded.tree  # built once
    copy = pickle.loads(pickle.dumps(loaded))
    assert isinstance(copy, LoadedConfig) and copy == loaded and "tree" not in vars(copy)


def test_a_foreign_hydra_search_path_is_not_cached(workdir: Path, store: Path, spy: Spy,
                                                   tmp_path: Path) -> None:
    """Configs found on a search path the project adds are outside the key: not cached."""
    shared = tmp_path / "shared" / "extra"
    shared.mkdir(parents=True)
    (shared / "strict.yaml").write_text("# @package _global_\nevaluate:\n  threshold: 0.71\n",
                                        encoding="utf-8")
    (workdir / "conf" / "config.yaml").write_text(
        "defaults:\n  - smo_eval\n  - extra: strict\n  - override preset: sample\n  - _self_\n"
        f"hydra:\n  searchpath: [pkg://smo_eval.conf, file://{tmp_path / 'shared'}]\n",
        encoding="utf-8")
    assert _threshold() == 0.71
    (shared / "strict.yaml").write_text("# @package _global_\nevaluate:\n  threshold: 0.72\n",
                                        encoding="utf-8")
    assert _threshold() == 0.72 and spy.misses == 2 and entries(store) == []
    # smo-eval's own entry (this repository's conf/ names it, as `workdir` does) is cached.
    (workdir / "conf" / "config.yaml").write_bytes((ROOT / "conf" / "config.yaml").read_bytes())
    assert _threshold() == _threshold() == 0.5 and spy.misses == 3 and len(entries(store)) == 1
