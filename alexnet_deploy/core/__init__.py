"""Shared pieces below every stage: files, lazy imports, the environment probe."""
