"""smo-eval: evaluation and error analysis for content-safety models."""

__version__ = "0.1.0"
