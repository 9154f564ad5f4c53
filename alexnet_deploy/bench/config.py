"""What a benchmark run is asked to do, as one frozen config, and the parsing of its option values.

Every value is checked here, before any model is loaded: a zero batch, a
negative duration or a percentile outside (0, 100) is an InputError (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alexnet_deploy.errors import InputError

SCENARIOS = ("single-stream", "offline")
# Single-stream times one image at a time; offline sweeps batches and keeps the best throughput.
DEFAULT_BATCHES = {"single-stream": (1,), "offline": (1, 8, 32)}
DEFAULT_PERCENTILES = (50.0, 90.0, 95.0, 99.0)
_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "m": 60.0, "min": 60.0}


@dataclass(frozen=True)
class BenchConfig:
    """How every run is timed; the same for every backend so that rows compare."""

    scenario: str = "single-stream"
    batches: tuple[int, ...] = (1,)
    batches_given: bool = False  # False: a fixed-batch artifact runs at its own batch instead
    warmup_s: float = 1.0  # warm-up by time: caches, lazy initialisation, clocks, CUDA graph capture
    duration_s: float = 5.0  # the timed window lasts at least this long ...
    min_iterations: int = 50  # ... and at least this many iterations
    max_iterations: int = 1_000_000  # bounds memory and the JSON for very fast models
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    threads: int = 1  # intra-op threads of every CPU backend (recorded with each row)
    cv_warn: float = 0.10  # a coefficient of variation above this gets a warning
    energy: bool = True  # measure energy where a counter is readable (adds an idle baseline per run)
    seed: int = 0  # the random input images

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise InputError(f"Unknown scenario {self.scenario!r}; choose {' or '.join(SCENARIOS)}.")
        if not self.batches or any(b < 1 for b in self.batches):
            raise InputError(f"Batch sizes must be 1 or more, not {', '.join(map(str, self.batches))}.")
        if self.warmup_s < 0 or self.duration_s < 0:
            raise InputError("--warmup and --duration must be 0 s or more.")
        if self.min_iterations < 1:
            raise InputError("--min-iterations must be 1 or more.")
        if any(not 0 < p < 100 for p in self.percentiles):
            shown = ", ".join(map(fmt_pct, self.percentiles))
            raise InputError(f"Percentiles must lie between 0 and 100, not {shown}.")
        if self.threads < 1:
            raise InputError("--threads must be 1 or more.")
        if self.cv_warn <= 0:
            raise InputError("--cv-warn must be above 0.")


def parse_seconds(text: str, *, option: str) -> float:
    """``"5s"``, ``"500ms"``, ``"2.5"`` (seconds), ``"1m"`` as seconds; InputError for anything else or < 0."""
    match = re.fullmatch(r"\s*(-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(s|ms|us|m|min)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise InputError(f"{option} takes a duration such as 5s, 500ms or 2.5, not {text!r}.")
    value = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if value < 0:
        raise InputError(f"{option} must be 0 s or more, not {text}.")
    return value


def parse_list(values: tuple[str, ...] | list[str] | str | None) -> list[str]:
    """Comma-separated and repeated option values as one list, blanks dropped, order kept, duplicates removed."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip()
            if item and item not in out:
                out.append(item)
    return out


def parse_batches(values, *, option: str = "--batch-size") -> tuple[int, ...]:
    """Positive batch sizes from ``1,8,32`` (or repeated options); InputError for 0, negatives, words, or more
    than ``core.limits.MAX_BATCH_SIZE``."""
    from alexnet_deploy.core.limits import MAX_BATCH_SIZE

    out = []
    for item in parse_list(values):
        try:
            batch = int(item)
        except ValueError:
            raise InputError(f"{option} takes whole numbers such as 1,8,32, not {item!r}.") from None
        if batch < 1:
            raise InputError(f"{option} {item} is not a batch size; batches are 1 or more.")
        if batch > MAX_BATCH_SIZE:
            raise InputError(f"{option} {item} is over the largest batch this tool takes ({MAX_BATCH_SIZE:,}).")
        out.append(batch)
    return tuple(out)


def parse_percentiles(values) -> tuple[float, ...]:
    """Percentiles from ``50,90,99.9``; InputError outside (0, 100)."""
    out = []
    for item in parse_list(values):
        try:
            value = float(item.removeprefix("p"))
        except ValueError:
            raise InputError(f"--percentile takes numbers such as 50,90,99, not {item!r}.") from None
        if not 0 < value < 100:
            raise InputError(f"--percentile {item} is outside (0, 100).")
        out.append(value)
    return tuple(sorted(set(out)))


def fmt_pct(p: float) -> str:
    """``90.0`` -> ``"90"``, ``99.9`` -> ``"99.9"``: the name of a percentile in keys and columns."""
    return f"{p:g}"
