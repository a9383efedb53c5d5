"""Compose the configuration: packaged defaults, then a project's `conf/`, then a team's
config file, then the command line; check it against the schema; hand out typed sections.

Order, last wins:
1. the packaged defaults: the schema (`smo_eval.config.schema`) plus `smo_eval/conf/` (the
   default gate, the sample-world preset), read from the installed package;
2. a project's Hydra tree: `$SMO_EVAL_CONF_DIR`, else the nearest `conf/config.yaml` upward
   from the working folder that builds on `smo_eval` (as this repository's does);
3. a team's file: `--config FILE`, else `smo-eval.yaml` in the working folder;
4. the command line's Hydra overrides (`evaluate.threshold=0.6`, `gate=release`).
Inside a DVC stage the composed file is `params.yaml` (`--params`), read instead of 1-3.

The sample world's input paths belong to the demo: when the team file or the command line
names any input file, the other inputs that still hold the sample preset's paths are dropped.

A successful composition is cached (`smo_eval.config.cache`): the same inputs again are read
back in milliseconds, without importing Hydra or OmegaConf.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smo_eval.config import cache
from smo_eval.config.schema import Config, register
from smo_eval.config.schema_data import INPUT_TABLES
from smo_eval.errors import ConfigError

if TYPE_CHECKING:  # OmegaConf and Hydra are imported only when a configuration is composed
    from omegaconf import DictConfig

CONF_ENV = "SMO_EVAL_CONF_DIR"
TEAM_FILE = "smo-eval.yaml"
PACKAGED_PRIMARY = "smo_eval"
SAMPLE_PRESET = "preset/sample.yaml"
_TEAM_GROUP = "smo_eval_team"
# A project conf/config.yaml is ours when its defaults build on the packaged config.
_OURS = re.compile(r"^\s*-\s*smo_eval\s*$", re.MULTILINE)
# A resolver call (`${oc.env:HOME}`, `${now:%Y}`), unlike a plain `${a.b}` interpolation, may
# read more than the configuration's own inputs.
_RESOLVER = re.compile(r"\$\{\s*[\w.\-]+\s*:")
# A Hydra search-path entry, and the one (the packaged conf) whose files are in the cache key.
_SEARCH_URI = re.compile(r"\b(?:pkg|file|structured)://[^\s,\]}'\"]*")
_OWN_SEARCH_PATHS = {"pkg://smo_eval.conf", "pkg://smo_eval/conf"}


@dataclass
class LoadedConfig:
    """The typed configuration and where it came from (for lineage and MLflow params).

    `container` is the composed, resolved tree as plain dicts and lists, and `yaml` its
    text: what lineage digests and MLflow record, read without OmegaConf (a cached load does
    not import it). `tree`, the OmegaConf view, is built from `container` on first use.
    """

    config: Config
    container: dict[str, Any]
    yaml: str
    overrides: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    project_root: Path = field(default_factory=Path.cwd)

    @cached_property
    def tree(self) -> DictConfig:
        """The resolved configuration as a typed, struct-mode OmegaConf tree (as composed)."""
        from omegaconf import DictConfig, OmegaConf

        tree = OmegaConf.merge(OmegaConf.structured(Config), self.container)
        assert isinstance(tree, DictConfig)
        OmegaConf.set_struct(tree, True)
        return tree

    def plain(self) -> dict[str, Any]:
        """The resolved configuration as plain data (a copy: the caller may change it)."""
        return copy.deepcopy(self.container)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (the configuration cache) without the OmegaConf view, so that reading a
        cached configuration imports no OmegaConf."""
        state = dict(self.__dict__)
        state.pop("tree", None)
        return state


def packaged_conf_dir() -> Path:
    return Path(str(resources.files("smo_eval") / "conf"))


def find_project_conf(start: Path | None = None) -> Path | None:
    """$SMO_EVAL_CONF_DIR, else the nearest smo-eval `conf/config.yaml` upward from `start`."""
    env = os.environ.get(CONF_ENV)
    if env:
        path = Path(env)
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"{CONF_ENV}={env} has no config.yaml")
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "conf" / "config.yaml"
        if candidate.is_file() and _OURS.search(candidate.read_text(encoding="utf-8")):
            return candidate.parent
    return None


def load_config(overrides: Sequence[str] = (), *, params_file: Path | None = None,
                config_file: Path | None = None, preset: str | None = None) -> LoadedConfig:
    """Compose, check and type the configuration (ConfigError with the key's path if not).

    A successful load is cached (`smo_eval.config.cache`) under a digest of everything it
    read, so the same command again skips Hydra; errors are never cached."""
    overrides = list(overrides)
    key = _cache_key(overrides, params_file, config_file, preset)
    if key is not None:
        hit = cache.read(key)
        if isinstance(hit, LoadedConfig) and isinstance(hit.config, Config):
            return hit
    loaded, reusable = _load(overrides, params_file, config_file, preset)
    if key is not None and reusable:
        cache.write(key, loaded)
    return loaded


def _cache_key(overrides: list[str], params_file: Path | None, config_file: Path | None,
               preset: str | None) -> str | None:
    """The cache key of a load: every input it reads (paths as given and resolved, file
    contents, the working folder, $SMO_EVAL_CONF_DIR); None means "do not cache"."""
    if cache.folder() is None:
        return None
    try:
        inputs: dict[str, Any] = {"overrides": overrides, "preset": preset,
                                  "cwd": str(Path.cwd()), "conf_env": os.environ.get(CONF_ENV)}
        if params_file is not None:
            inputs["params"] = cache.file_digest(params_file)
        else:
            project = find_project_conf()
            team = config_file or Path(TEAM_FILE)
            named = [project / "config.yaml" if project else None,
                     team if team.is_file() else None]
            if _foreign_search_path([*overrides, *(f.read_text(encoding="utf-8")
                                                   for f in named if f is not None)]):
                return None
            trees = [cache.tree_digest(packaged_conf_dir())] + (
                [cache.tree_digest(project)] if project else [])
            if None in trees:  # a conf tree too large to hash on every command
                return None
            inputs |= {"project": str(project) if project else None, "conf_trees": trees,
                       "team": cache.file_digest(team)}
        return cache.key(inputs)
    except Exception:  # an unreadable file, a bad $SMO_EVAL_CONF_DIR: the load reports it
        return None


def _foreign_search_path(texts: Sequence[str]) -> bool:
    """Whether a primary config, team file or override puts folders other than smo-eval's
    own on Hydra's search path (`hydra.searchpath: [file://../shared]`): their files are not
    in the cache key, so such a configuration is composed every time."""
    return any(uri.rstrip("/") not in _OWN_SEARCH_PATHS for text in texts
               if "searchpath" in text for uri in _SEARCH_URI.findall(text))


def _load(overrides: list[str], params_file: Path | None, config_file: Path | None,
          preset: str | None) -> tuple[LoadedConfig, bool]:
    """Compose with Hydra; also whether the result may be cached (it calls no resolver)."""
    from omegaconf import DictConfig, OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    register()
    overrides = [_open_free_maps(_quote_if_needed(o)) for o in overrides]
    try:
        plain_overrides, merges = _split_mappings(overrides)
        if params_file is not None:
            tree, sources, root = _from_params(params_file, plain_overrides), \
                [str(params_file)], params_file.resolve().parent
        else:
            tree, sources, root = _compose(plain_overrides, config_file, preset)
        for merge in merges:  # `+gate.checks.x={kind: floor, ...}`: a whole typed section
            with open_dict(tree):
                merged = OmegaConf.merge(tree, merge)
            assert isinstance(merged, DictConfig)
            tree = merged
        reusable = not _RESOLVER.search(json.dumps(OmegaConf.to_container(tree), default=str))
        OmegaConf.resolve(tree)
        if merges or any(o.startswith("+") for o in overrides):
            # A forced addition (`+key=`, `++key=`, a merged mapping) skipped the schema's
            # checks during composition: every key is checked once more.
            OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.to_container(tree))
        typed = OmegaConf.to_object(tree)
    except (OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(_explain(exc, overrides)) from None
    except Exception as exc:  # Hydra's own exceptions (composition, override grammar)
        if type(exc).__module__.startswith("hydra"):
            raise ConfigError(_explain(exc, overrides)) from None
        raise
    assert isinstance(typed, Config)
    check_values(typed)
    container = OmegaConf.to_container(tree, resolve=True)
    assert isinstance(container, dict)
    plain = {str(k): v for k, v in container.items()}
    return LoadedConfig(typed, plain, OmegaConf.to_yaml(tree), list(overrides), sources,
                        root), reusable


def _compose(overrides: list[str], config_file: Path | None,
             preset: str | None) -> tuple[DictConfig, list[str], Path]:
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    project = find_project_conf()
    conf_dir, name = (project, "config") if project else (packaged_conf_dir(), PACKAGED_PRIMARY)
    sources = [f"packaged {packaged_conf_dir()}"] + ([str(project)] if project else [])
    extra = [f"preset={preset}"] if preset and not any(
        o.split("=", 1)[0].lstrip("+~") == "preset" for o in overrides) else []
    team = config_file or (Path(TEAM_FILE) if Path(TEAM_FILE).is_file() else None)
    given: set[str] = _named_inputs(overrides)
    if team is not None:
        node = _read_team_file(team)
        given |= {t for t in INPUT_TABLES if OmegaConf.select(node, f"data.{t}") is not None}
        ConfigStore.instance().store(group=_TEAM_GROUP, name="file", node=node,
                                     package="_global_")
        extra.append(f"+{_TEAM_GROUP}=file")
        sources.append(str(team))
    with initialize_config_dir(str(conf_dir), version_base=None):
        tree = compose(name, overrides=[*extra, *overrides])
    if given:
        _drop_sample_paths(tree, given)
    root = project.parent if project else (team.resolve().parent if team else Path.cwd())
    return tree, sources, root


def _split_mappings(overrides: list[str]) -> tuple[list[str], list[DictConfig]]:
    """Overrides whose value is a mapping (a new gate check, a category) are merged into the
    composed tree instead: Hydra assigns them as plain dicts, which typed sections refuse."""
    if not any("={" in o for o in overrides):
        return overrides, []
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keep: list[str] = []
    merges: list[DictConfig] = []
    for text, parsed in zip(overrides, OverridesParser.create().parse_overrides(overrides),
                            strict=True):
        value = parsed.value()
        if isinstance(value, dict) and not parsed.is_delete():
            merges.append(_nested(parsed.get_key_element().lstrip("+~"), value))
        else:
            keep.append(text)
    return keep, merges


def _nested(key: str, value: Any) -> DictConfig:
    from omegaconf import DictConfig, OmegaConf

    node: Any = value
    for part in reversed(key.split(".")):
        node = {part: node}
    created = OmegaConf.create(node)
    assert isinstance(created, DictConfig)
    return created


def _read_team_file(path: Path) -> DictConfig:
    from omegaconf import DictConfig, OmegaConf

    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        node = OmegaConf.load(path)
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({exc})") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    if "defaults" in node:
        raise ConfigError(f"{path}: `defaults` lists belong in a Hydra conf/ tree; set values "
                          "directly (e.g. gate: {checks: ...}) or pass gate=release")
    return node


def _named_inputs(overrides: Sequence[str]) -> set[str]:
    out = set()
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key.startswith("data.") and key[5:] in INPUT_TABLES:
            out.add(key[5:])
    return out


def _drop_sample_paths(tree: DictConfig, given: set[str]) -> None:
    """Inputs the user did not name but that still hold the sample preset's paths -> null."""
    from omegaconf import OmegaConf

    preset = OmegaConf.load(packaged_conf_dir() / SAMPLE_PRESET)
    sample_paths = {t: OmegaConf.select(preset, f"data.{t}") for t in INPUT_TABLES}
    for table in INPUT_TABLES:
        if table not in given and tree.data[table] is not None \
                and tree.data[table] == sample_paths.get(table):
            tree.data[table] = None


def _from_params(params_file: Path, overrides: list[str]) -> DictConfig:
    """A composed params file (as `dvc exp run` writes it) over the schema, then overrides."""
    from omegaconf import DictConfig, OmegaConf

    if not params_file.is_file():
        raise ConfigError(f"params file {params_file} not found")
    loaded = OmegaConf.load(params_file)
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{params_file} does not hold a mapping")
    tree = OmegaConf.merge(OmegaConf.structured(Config), loaded)
    assert isinstance(tree, DictConfig)
    if overrides:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(overrides)
        ConfigLoaderImpl._apply_overrides_to_config(parsed, tree)
    assert isinstance(tree, DictConfig)
    return tree


# --- messages ----------------------------------------------------------------------------

def _open_free_maps(override: str) -> str:
    """`data.columns.item_id=case_id`, `evaluate.thresholds.v2=0.45`: a key inside a free map
    (names chosen by the team) is added or changed (`++`), as if it had always been there."""
    key, sep, _ = override.partition("=")
    if not sep or key.startswith(("+", "~")) or not _in_free_map(key):
        return override
    return "++" + override


def _in_free_map(key: str) -> bool:
    """Whether `key` names an entry of a map of team-chosen names whose values are plain
    (data.columns.<name>, evaluate.thresholds.<model>, data.table_columns.<t>.<name>), or a
    whole entry of a map of sections (gate.checks.<name>): not a field inside such an entry."""
    import typing

    cls: Any = Config
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not is_dataclass(cls):
            return False
        hint = typing.get_type_hints(cls).get(part)
        if hint is None:
            return False
        if typing.get_origin(hint) is dict:
            args = typing.get_args(hint)
            inside_section = len(args) == 2 and is_dataclass(args[1])
            return i + 1 < len(parts) and not (inside_section and i + 2 < len(parts))
        cls = next((a for a in typing.get_args(hint) if is_dataclass(a)),
                   hint if is_dataclass(hint) else None)
    return False


def _quote_if_needed(override: str) -> str:
    """Hydra's grammar rejects unquoted non-ASCII values (`data.labels.positive=[违规]`):
    quote them, element by element in a list, so Chinese label values just work."""
    key, sep, value = override.partition("=")
    if not sep or value.isascii() or value[:1] in "'\"":
        return override
    if value.startswith("[") and value.endswith("]"):
        items = [v.strip() for v in value[1:-1].split(",") if v.strip()]
        return f"{key}=[{','.join(_quoted(v) for v in items)}]"
    return f"{key}={_quoted(value)}"


def _quoted(value: str) -> str:
    if value[:1] in "'\"" or value.isascii():
        return value
    return "'" + value.replace("'", "\\'") + "'" if '"' in value else '"' + value + '"'


_KEY_PATTERNS = (re.compile(r"full_key: (\S+)"), re.compile(r"override '([^']+)'"),
                 re.compile(r"Could not (?:override|append to config) '?([\w.]+)'?"),
                 re.compile(r"Key '([^']+)' (?:is )?not in"))


def _explain(exc: Exception, overrides: Sequence[str]) -> str:
    """One readable message: what is wrong, at which dotted key, and the nearest valid key."""
    text = str(exc)
    if exc.__cause__ is not None and "Error merging override" in text:
        text = f"{text}: {exc.__cause__}"
    text = re.sub(r"\s*To append to your config use \S+", "", text)
    text = text.split("\nConfig search path:")[0]
    key = next((m.group(1) for p in _KEY_PATTERNS if (m := p.search(text))), None)
    if "LexerNoViableAlt" in text or "mismatched input" in text:
        return (f"configuration error: cannot parse the override {text.splitlines()[0]}; "
                "quote values with spaces or special characters: key='value'")
    lines = [re.sub(r"^In '[^']+': \w+ raised while composing config:\s*", "", line).strip()
             for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(
        ("full_key:", "object_type", "reference_type", "See https"))]
    if any(line.startswith("Available options") for line in lines):
        lines = lines[:next(i for i, line in enumerate(lines)
                            if line.startswith("Available options"))]
    message = "configuration error: " + " ".join(lines[:3])
    if key and key not in message:
        message += f" (at {key})"
    unknown = key is not None and ("not in" in text or "Could not override" in text
                                   or "Could not append" in text)
    if unknown:
        assert key is not None
        hint = nearest_key(key)
        if hint and hint != key:
            message += f"; did you mean {hint}?"
    options = re.search(r"Available options in '([^']+)':\s*((?:\n\s+\S+)+)", text)
    if options:
        message += f"; options for {options.group(1)}: " + ", ".join(options.group(2).split())
    return message


def all_keys() -> list[str]:
    """Every dotted setting path of the schema (for hints and `config show`)."""
    out: list[str] = []

    def walk(cls: Any, prefix: str) -> None:
        for f in fields(cls):
            path = f"{prefix}{f.name}"
            default = f.default_factory() if callable(f.default_factory) else f.default
            if is_dataclass(default):
                walk(type(default), path + ".")
            else:
                out.append(path)

    walk(Config, "")
    return out


def nearest_key(key: str) -> str | None:
    """The valid dotted key closest to a mistyped one, segment by segment through the schema
    (names inside free maps such as gate.checks.<name> are kept as given)."""
    import difflib
    import typing

    cls: Any = Config
    out: list[str] = []
    parts = key.split(".")
    i = 0
    while i < len(parts):
        if cls is None or not is_dataclass(cls):
            return None
        hints = typing.get_type_hints(cls)
        name = parts[i] if parts[i] in hints else next(
            iter(difflib.get_close_matches(parts[i], list(hints), n=1, cutoff=0.6)), None)
        if name is None:
            return None
        out.append(name)
        hint, i = hints[name], i + 1
        args = typing.get_args(hint)
        if typing.get_origin(hint) is dict and i < len(parts):
            out.append(parts[i])  # a free name: a check, a category, a model
            i += 1
            value = args[1] if len(args) == 2 else None   # CheckSpec, or CheckSpec | None
            cls = next((a for a in typing.get_args(value) if is_dataclass(a)),
                       value if is_dataclass(value) else None)
        else:
            cls = next((a for a in args if is_dataclass(a)),
                       hint if is_dataclass(hint) else None)
    return ".".join(out)


def check_values(config: Config) -> None:
    """Allowed values and ranges declared on the fields, checked with the full key path."""
    from omegaconf import ListConfig

    problems: list[str] = []

    def in_range(path: str, value: Any, bounds: Any) -> None:
        if bounds and isinstance(value, int | float) and not isinstance(value, bool):
            low, high = bounds
            if (value != value  # NaN is in no range (every comparison with it is false)
                    or (low is not None and value < low) or (high is not None and value > high)):
                problems.append(f"{path}={value}: must be in [{_end(low)}, {_end(high)}]")

    def walk(node: Any, prefix: str) -> None:
        if is_dataclass(node):
            for f in fields(node):
                value = getattr(node, f.name)
                path = f"{prefix}{f.name}"
                choices, bounds = f.metadata.get("choices"), f.metadata.get("bounds")
                if choices and value is not None and value not in choices:
                    problems.append(f"{path}={value!r}: use one of {', '.join(map(str, choices))}")
                in_range(path, value, bounds)
                items = f.metadata.get("item_bounds")
                if items and isinstance(value, dict):
                    for k, v in value.items():
                        in_range(f"{path}.{k}", v, items)
                walk(value, path + ".")
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        elif isinstance(node, list | ListConfig):
            for i, v in enumerate(node):
                walk(v, f"{prefix}{i}.")

    walk(config, "")
    if problems:
        raise ConfigError("configuration error: " + "; ".join(problems))


def _end(value: float | None) -> str:
    return "∞" if value is None else f"{value:g}"
