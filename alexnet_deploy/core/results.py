"""One protocol for every result a stage returns.

A result is a dataclass that also derives from ``Result``. It turns into plain
JSON data and back (nested result dataclasses, lists of them and optional ones
included), writes itself atomically, and is truthy exactly when every check it
carries passed: ``failures()`` names each failed check with its numbers, and the
CLI turns a non-empty list into exit code 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from alexnet_deploy.core.fsutil import write_text_atomic

R = TypeVar("R", bound="Result")


class Result:
    """Mixin for result dataclasses: JSON round trip, atomic write, truthiness = passed."""

    def failures(self) -> list[str]:
        """Each failed check, named, with its numbers; empty when every check passed."""
        return []

    def __bool__(self) -> bool:
        return not self.failures()

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=True)

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write ``to_json()`` to ``path`` atomically (a failed write leaves no partial file)."""
        return write_text_atomic(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls: type[R], raw: dict[str, Any]) -> R:
        return _build(cls, raw)

    @classmethod
    def from_json(cls: type[R], text: str) -> R:
        return cls.from_dict(json.loads(text))


def _plain(value: Any) -> Any:
    """Tuples become lists and paths strings, so that the dict is what JSON gives back."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _build(cls: type, raw: dict[str, Any]) -> Any:
    """``cls(**raw)`` with nested dataclass fields rebuilt from their dicts."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in raw:
            kwargs[field.name] = _convert(hints[field.name], raw[field.name])
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return _build(hint, value)
    if origin in (list, tuple) and args and isinstance(value, list):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(_convert(a, v) for a, v in zip(args, value))
        items = [_convert(args[0], v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: _convert(args[1], v) for k, v in value.items()}
    return value
