"""The configuration: one typed schema (every default declared once), composed with Hydra.

`load_config` is the only way commands get settings; stages receive typed sections.
"""

from smo_eval.config.loader import LoadedConfig, load_config
from smo_eval.config.schema import Config

__all__ = ["Config", "LoadedConfig", "load_config"]
