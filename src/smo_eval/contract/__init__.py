"""The data contract: canonical tables, column mapping and row validation."""
