"""Shared bits for the benchmarks: timing summaries and JSON output."""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any


def summary(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(p90 * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
        "n": len(ordered),
    }


def emit(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
