"""Run metrics: one JSON document per run under `metrics/run_<run_id>.json`.

Each step reports rows in and out, quarantined rows, duration and status; the match step adds the
match-quality figures when true pairs are known. The runner owns the object and writes it at the
end of the run, whether the run succeeded or not, and once more with the report's status when it
writes the report.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class StepMetrics:
    """What one step did."""

    step: str
    status: str = "running"
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RunMetrics:
    """All steps of one run plus the run's identity."""

    run_id: str
    data_root: str
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    finished_at: str | None = None
    status: str = "running"
    input: str | None = None
    steps: list[StepMetrics] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    # The report written after the run: {"status": "ok", "html", "md"}, or "skipped"/"failed" with
    # the reason; empty when the run did not include the steps the report is made from.
    report: dict[str, Any] = field(default_factory=dict)
    # The run whose gold is published (gold/_CURRENT) when this document was last written: this
    # run's id once it published, else the earlier run's (None before any run published).
    gold_run: str | None = None

    def start_step(self, name: str) -> tuple[StepMetrics, float]:
        """Register a step and return it with its start time (monotonic)."""
        step = StepMetrics(step=name)
        self.steps.append(step)
        return step, time.monotonic()

    def finish(self, status: str) -> None:
        self.status = status
        self.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)


def new_run_id(now: datetime | None = None) -> str:
    """A sortable run id: UTC time to the second, e.g. 20261126T160102Z."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
