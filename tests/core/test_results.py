"""The result protocol: JSON round trip with nested results, atomic writes, truthiness from failures()."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from alexnet_deploy.core.results import Result


@dataclass
class Row:
    name: str
    value: float


@dataclass
class Inner(Result):
    score: float
    limit: float

    def failures(self) -> list[str]:
        return [f"score: {self.score} < {self.limit}"] if self.score < self.limit else []


@dataclass
class Outer(Result):
    inner: Inner
    rows: list[Row] = field(default_factory=list)
    optional: Inner | None = None
    shape: tuple[int, ...] = ()
    table: dict[str, float] = field(default_factory=dict)


def test_round_trip_rebuilds_nested_dataclasses_and_tuples(tmp_path):
    outer = Outer(inner=Inner(0.9, 0.5), rows=[Row("a", 1.0)], optional=Inner(0.1, 0.5), shape=(1, 3),
                  table={"x": float("inf")})
    again = Outer.from_json(outer.to_json())
    assert again == outer and isinstance(again.rows[0], Row) and isinstance(again.optional, Inner)
    assert isinstance(outer.to_json(), str) and isinstance(outer.to_dict(), dict)
    path = outer.write_json(tmp_path / "sub" / "r.json")
    assert json.loads(path.read_text())["shape"] == [1, 3]
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left


def test_truthiness_is_every_check_passed():
    assert Inner(0.9, 0.5) and not Inner(0.1, 0.5)
    assert Inner(0.1, 0.5).failures() == ["score: 0.1 < 0.5"]
    assert Outer(inner=Inner(0.1, 0.5))  # checks of nested results count only where the outer says so
