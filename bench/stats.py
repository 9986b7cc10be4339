"""Pure statistics and target evaluation (no I/O): percentiles, summaries, ratios, targets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Comparison = Literal["<=", ">="]
Verdict = Literal["PASS", "FAIL", "MISSING"]


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) with linear interpolation between closest ranks, the
    same definition as ``numpy.percentile``'s default, so numbers compare with other tools."""
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile out of range: {pct}")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50.0)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Count, p50/p90/p99, mean, min and max of a sample (empty sample: count 0 only)."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "p50": percentile(samples, 50.0),
        "p90": percentile(samples, 90.0),
        "p99": percentile(samples, 99.0),
        "mean": math.fsum(samples) / len(samples),
        "min": float(min(samples)),
        "max": float(max(samples)),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either side is missing or the denominator is 0
    (a missing peer must not turn into a fake PASS or a crash)."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def spread(values: Sequence[float]) -> float | None:
    """Relative spread ``(max - min) / max`` of per-user figures: 0 is perfectly fair."""
    if not values or max(values) <= 0:
        return None
    return (max(values) - min(values)) / max(values)


def bytes_per_unit(before: float | None, after: float | None, units: int) -> float | None:
    if before is None or after is None or units <= 0:
        return None
    return (after - before) / units


@dataclass
class Target:
    """One row of performance.md section 7: ``measured <op> threshold`` decides PASS/FAIL."""

    id: str
    scenario: str
    description: str
    op: Comparison
    threshold: float
    measured: float | None = None
    unit: str = "x"
    detail: str = ""
    verdict: Verdict = field(init=False, default="MISSING")

    def __post_init__(self) -> None:
        self.verdict = evaluate(self.measured, self.op, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(measured: float | None, op: Comparison, threshold: float) -> Verdict:
    """PASS/FAIL of one comparison; MISSING when nothing was measured (scenario error, peer
    down), so an absent number is never counted as a pass."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return "MISSING"
    if op == "<=":
        return "PASS" if measured <= threshold else "FAIL"
    if op == ">=":
        return "PASS" if measured >= threshold else "FAIL"
    raise ValueError(f"unknown comparison {op!r}")


def count_verdicts(targets: Iterable[Target]) -> dict[str, int]:
    counts = {"PASS": 0, "FAIL": 0, "MISSING": 0}
    for target in targets:
        counts[target.verdict] += 1
    return counts
