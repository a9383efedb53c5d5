"""The command layer: reading inputs, writing outputs, MLflow, terminal and exit codes."""
