"""What every benchmark shares: timing loops, percentiles, and the report they write to."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
# The rate limits out of the way: a benchmark sends thousands of requests a minute as one user.
UNTHROTTLED = {"user_burst": "1000000/min", "user_sustained": "1000000/hour", "anonymous": "1000/min"}


@dataclass
class Timing:
    name: str
    samples_ms: list[float]

    @property
    def summary(self) -> dict[str, float]:
        values = np.asarray(self.samples_ms)
        return {
            "n": int(values.size),
            "p50_ms": round(float(np.percentile(values, 50)), 3),
            "p95_ms": round(float(np.percentile(values, 95)), 3),
            "p99_ms": round(float(np.percentile(values, 99)), 3),
            "mean_ms": round(float(values.mean()), 3),
        }


def time_calls(call: Callable[[], object], *, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


@dataclass
class Report:
    benchmarks: dict[str, dict] = field(default_factory=dict)

    def add(self, name: str, figures: dict, *, goals: dict[str, bool] | None = None, notes: str = "") -> None:
        self.benchmarks[name] = {"figures": figures, "goals_met": goals or {}, "notes": notes}

    def write(self, environment: dict, *, filename: str = "latest.json") -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / filename
        body = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "environment": {"python": platform.python_version(), "machine": platform.machine(), **environment},
            "benchmarks": self.benchmarks,
        }
        path.write_text(json.dumps(body, indent=2) + "\n")
        return path

    def table(self) -> str:
        lines = []
        for name, entry in self.benchmarks.items():
            lines.append(f"\n{name}")
            for key, value in entry["figures"].items():
                lines.append(f"  {key:<44} {value}")
            for goal, met in entry["goals_met"].items():
                lines.append(f"  goal {goal:<39} {'met' if met else 'NOT MET'}")
        return "\n".join(lines)
