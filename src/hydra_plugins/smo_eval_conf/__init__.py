"""Hydra plugin: smo-eval's packaged configuration and schema for any Hydra composition.

`dvc exp run` composes a project's `conf/` with Hydra, without importing smo-eval. Hydra
imports the modules of the `hydra_plugins` namespace when it starts; this one registers the
schema in Hydra's config store and puts `pkg://smo_eval.conf` on the search path, so a
project's `conf/config.yaml` can build on `smo_eval` (and `-S evaluate.threshold=0.6` finds its
key) both there and in smo-eval's own commands.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from smo_eval.config.schema import register

register()


class SmoEvalSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="smo-eval", path="pkg://smo_eval.conf")
