"""Measurement primitives for `make bench`: interleaved A/B runs and their statistics.

Every comparison is taken in the same run, A and B alternating, after a warm-up, so that
machine noise (the other core busy, page cache state) lands on both sides alike.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable, Optional


@dataclasses.dataclass
class Series:
    """Samples of one quantity, in `unit`."""

    label: str
    unit: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            raise ValueError(f"{self.label}: no samples")
        rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
        return ordered[rank]

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "unit": self.unit,
            "n": len(self.samples),
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "samples": self.samples,
        }


@dataclasses.dataclass
class Figure:
    """One benchmark's result: our series, optionally a reference series, and the target."""

    key: str
    title: str
    ours: Series
    reference: Optional[Series] = None
    target: str = ""
    # Whether the target holds; None when the figure has no target or was not comparable.
    met: Optional[bool] = None
    note: str = ""
    command: str = ""

    @property
    def ratio(self) -> Optional[float]:
        if self.reference is None or self.reference.median == 0:
            return None
        return self.ours.median / self.reference.median

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "title": self.title,
            "ours": self.ours.to_json(),
            "reference": self.reference.to_json() if self.reference else None,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "note": self.note,
            "command": self.command,
        }


@dataclasses.dataclass
class Skipped:
    """A benchmark that could not be measured, with the reason said plainly."""

    key: str
    title: str
    reason: str

    def to_json(self) -> dict:
        return {"key": self.key, "title": self.title, "skipped": self.reason}


def result_from_json(data: dict) -> "Figure | Skipped":
    """A Figure or Skipped as `to_json` wrote it (results.json of an earlier run)."""
    if "skipped" in data:
        return Skipped(data["key"], data["title"], data["skipped"])

    def series(value: Optional[dict]) -> Optional[Series]:
        return None if value is None else Series(value["label"], value["unit"], list(value["samples"]))

    return Figure(data["key"], data["title"], series(data["ours"]), series(data.get("reference")),
                  data.get("target", ""), data.get("met"), data.get("note", ""), data.get("command", ""))


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def interleave(
    a: Callable[[], object],
    b: Callable[[], object],
    runs: int,
    warmup: int = 1,
) -> tuple[list[float], list[float]]:
    """Times `a` and `b` alternately (A B A B ...) after `warmup` untimed rounds of each."""
    for _ in range(warmup):
        a()
        b()
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(runs):
        times_a.append(timed(a))
        times_b.append(timed(b))
    return times_a, times_b


def repeat(fn: Callable[[], object], runs: int, warmup: int = 1) -> list[float]:
    """Times `fn` `runs` times after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    return [timed(fn) for _ in range(runs)]
