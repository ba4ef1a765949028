"""What the runner hands every step: the one contract `run(ctx)` of each step module.

A step module exposes `NAME` (its name in metrics and logs) and `run(ctx: StepContext) -> None`.
It reads and writes through `ctx.layers`, records its own figures in `ctx.step_metrics` (rows in
and out, quarantine, details) and, when it measures something about the whole run (match
quality), in `ctx.run_metrics`. Optional module flags the runner reads:
`READS_RAW = True` (the step reads `raw/`, so the runner makes sure input is there first) and
`FEEDS_REPORT = True` (the step writes the tables the report shows, so a run that includes it
ends with the report) and `WRITES_GOLD = True` (the step writes gold; implied by FEEDS_REPORT).
A run that writes gold writes it into its own folder `gold/runs/<run_id>/` (`ctx.layers.gold`),
which starts as a copy of the published gold; the runner publishes the folder at the end.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from scripts.settings import Settings
from scripts_spark.metrics import RunMetrics, StepMetrics
from scripts_spark.storage import Layers


@dataclass(frozen=True)
class StepContext:
    """The session, paths, settings and metrics of one step in one run.

    Frozen: a step cannot swap the session or the layers for the steps after it; the metrics
    objects themselves are filled in by the step.
    """

    spark: SparkSession
    layers: Layers
    settings: Settings
    step_metrics: StepMetrics
    run_metrics: RunMetrics
