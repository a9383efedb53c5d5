"""Promotion in the MLflow model registry: the `champion` alias moves to the candidate.

The candidate is a model id as it appears in the predictions (`v2`); its registry version is
found through config: `gate.registry.versions[<id>]` when given, else the one version of
`gate.registry.model_name` whose tag `gate.registry.version_tag` equals the id. The old
champion keeps `previous_champion`, so a rollback is one alias away.
"""

from __future__ import annotations

from typing import Any

from smo_eval.config.schema_more import RegistryConfig
from smo_eval.errors import ConfigError, SmoEvalError


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def candidate_version(client: Any, registry: RegistryConfig, candidate: str) -> str:
    """The registry version of a candidate model id (SmoEvalError when not exactly one)."""
    name = registry.model_name
    explicit = registry.versions.get(candidate)
    if explicit is not None:
        return str(client.get_model_version(name, str(explicit)).version)
    tag = registry.version_tag
    if not tag:
        raise ConfigError(f"gate.registry: no versions[{candidate}] and no version_tag")
    found = [mv for mv in client.search_model_versions(f"name='{name}'")
             if (mv.tags or {}).get(tag) == candidate]
    if len(found) != 1:
        raise SmoEvalError(
            f"registry model {name!r}: {len(found)} versions carry tag {tag}={candidate!r} "
            f"(need exactly one; or set gate.registry.versions.{candidate}=<version>)")
    return str(found[0].version)


def promote(uri: str, registry: RegistryConfig, candidate: str) -> dict[str, Any]:
    """Move the champion alias to the candidate's version; the old one becomes previous."""
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    name = registry.model_name
    champion, previous_alias = registry.champion_alias, registry.previous_alias
    try:
        version = candidate_version(client, registry, candidate)
        try:
            previous = str(client.get_model_version_by_alias(name, champion).version)
        except MlflowException:
            previous = None
        if previous is not None and previous != version:
            client.set_registered_model_alias(name, previous_alias, previous)
        client.set_registered_model_alias(name, champion, version)
    except MlflowException as exc:
        raise SmoEvalError(f"gate passed but promotion in the registry failed: "
                           f"{exc.message}") from None
    return {"model_name": name, "alias": champion, "version": version,
            "previous_version": previous,
            "previous_alias": previous_alias if previous not in (None, version) else None}
