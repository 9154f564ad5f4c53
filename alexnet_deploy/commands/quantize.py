"""CLI commands (filled in by their pipeline stage)."""

COMMANDS: list = []
