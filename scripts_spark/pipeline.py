"""The pipeline runner: `python -m scripts_spark.pipeline [--steps 1-5] [--data-root DIR] ...`.

It loads the settings once, takes the run lock inside a local DATA_ROOT (scripts/data_root.py),
makes sure `raw/` has input (generating the sample data set when `raw/` is empty and the root is
the default ./data or SOURCE=sample), builds the one SparkSession, runs the chosen steps in order,
and writes `metrics/run_<run_id>.json` whatever the outcome. The exit code says what happened:
0 success, 1 a step failed, 2 bad arguments or configuration, 75 another run holds DATA_ROOT.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from typing import Callable, Optional

from scripts import data_root
from scripts.settings import ConfigError, Settings, load_settings
from scripts.settings import parse_steps as settings_parse_steps
from scripts_spark import storage
from scripts_spark.metrics import RunMetrics, StepMetrics, new_run_id
from scripts_spark.step_01_extract_tmdb import INPUT_SUFFIXES as TMDB_SUFFIXES
from scripts_spark.step_02_extract_discogs import DUMP_SUFFIXES, JSON_SUFFIXES

DISCOGS_SUFFIXES = JSON_SUFFIXES + DUMP_SUFFIXES

logger = logging.getLogger("scripts_spark.pipeline")

STEP_NAMES = {
    1: "01_extract_tmdb",
    2: "02_extract_discogs",
    3: "03_normalize",
    4: "04_match",
    5: "05_aggregate",
}
EXIT_OK, EXIT_STEP_FAILED, EXIT_USAGE = 0, 1, 2


def parse_steps(text: str) -> list[int]:
    """"1-5" -> [1..5], "3" -> [3], "1,3-4" -> [1, 3, 4]; raises ConfigError (a ValueError) otherwise."""
    return settings_parse_steps(text)  # validated in one place, scripts/settings.py


def _has_input(folder: str, suffixes: tuple[str, ...]) -> bool:
    return os.path.isdir(folder) and any(
        name.endswith(suffixes) and not name.startswith((".", "_")) for name in os.listdir(folder)
    )


def describe_input(settings: Settings, layers: storage.Layers) -> str:
    """What a run would do for input, without doing it (for --dry-run)."""
    if settings.is_remote_storage:
        return f"read from {layers.raw()} (remote storage: not checked without Spark)"
    has_tmdb = _has_input(layers.raw("tmdb"), TMDB_SUFFIXES)
    has_discogs = _has_input(layers.raw("discogs"), DISCOGS_SUFFIXES)
    if settings.source == "api":
        return "fetch from the TMDB and Discogs APIs, then read raw/"
    if has_tmdb and has_discogs:
        return "raw/ has TMDB and Discogs input: used as it is"
    if has_tmdb or has_discogs:
        return f"raw/ has only {'TMDB' if has_tmdb else 'Discogs'} input: the run would stop"
    if data_root.may_generate_sample(settings):
        return f"raw/ is empty: a sample data set of {settings.sample_films} films would be generated"
    return f"raw/ is empty and SOURCE={settings.source}: the run would stop"


def ensure_raw_input(settings: Settings, layers: storage.Layers) -> Optional[str]:
    """Make sure `raw/` holds input; return what was done ("generated", "fetched", "present").

    - `auto` and `sample` use what is in `raw/` and generate the sample data set only when `raw/`
      has neither TMDB nor Discogs input;
    - `api` fetches from TMDB and Discogs first (incremental: only what is new since the last
      fetch; films released DISCOVER_FROM..DISCOVER_TO, at most FETCH_LIMIT details and
      DISCOGS_MAX_PAGES search pages per run);
    - `dump` and `kaggle` use files placed with `python -m scripts.acquire dump|kaggle` and never
      generate anything.

    Raises:
        ConfigError: input is missing or half present, or a needed API key is not set.
        FetchError: an API kept failing (from the acquisition clients).
    """
    if settings.is_remote_storage:
        if settings.source == "api" and settings.data_root.startswith(("abfss://", "abfs://")):
            # Issue 14: the fetch writes through the lake (scripts/raw_folder.py), on Databricks or the VM.
            from scripts import acquire
            from scripts.raw_folder import lake_raw_folder

            summary = acquire.acquire(settings, lake_raw_folder(settings), limit=settings.fetch_limit,
                                      discogs_max_pages=settings.discogs_max_pages,
                                      discover_from=settings.discover_from, discover_to=settings.discover_to)
            logger.info("fetched into %s: %s", layers.raw(), summary)
            return "fetched"
        return None  # remote raw data is managed by the user (make upload) or the acquisition jobs
    if settings.source == "api":
        from scripts import acquire

        summary = acquire.acquire(settings, _local(layers.raw()), limit=settings.fetch_limit,
                                  discogs_max_pages=settings.discogs_max_pages,
                                  discover_from=settings.discover_from, discover_to=settings.discover_to)
        logger.info("fetched into %s: %s", layers.raw(), summary)
    has_tmdb = _has_input(layers.raw("tmdb"), TMDB_SUFFIXES)
    has_discogs = _has_input(layers.raw("discogs"), DISCOGS_SUFFIXES)
    if has_tmdb and has_discogs:
        return "fetched" if settings.source == "api" else "present"
    if has_tmdb or has_discogs:
        raise ConfigError(
            f"{layers.raw()} holds only {'TMDB' if has_tmdb else 'Discogs'} input: add the other source "
            "(python -m scripts.acquire ...), or empty raw/ to have sample data generated"
        )
    if data_root.may_generate_sample(settings):  # only into ./data, or when SOURCE=sample asks
        from scripts import generate_sample_data

        summary = generate_sample_data.generate(
            _local(layers.raw()), films=settings.sample_films, seed=settings.sample_seed
        )
        logger.info("generated sample data in %s: %d films, %d masters, %d releases", layers.raw(),
                    summary.films, summary.masters, summary.releases)
        return "generated"
    raise ConfigError(
        f"SOURCE={settings.source} but {layers.raw()} has no input (sample data is generated only into "
        "the default ./data, or with SOURCE=sample): place it with "
        f"`python -m scripts.acquire {settings.source} ...` (see README 'Input contract') or use SOURCE=auto"
    )


def _local(path: str):
    from pathlib import Path

    return Path(storage.local_path(path))


def _run_step(number: int, spark, layers: storage.Layers, settings: Settings, run: RunMetrics) -> None:
    from scripts_spark import (
        step_01_extract_tmdb, step_02_extract_discogs, step_03_normalize, step_04_match, step_05_aggregate,
    )

    runners: dict[int, Callable[[StepMetrics], object]] = {
        1: lambda s: step_01_extract_tmdb.run(spark, layers, s),
        2: lambda s: step_02_extract_discogs.run(spark, layers, s, settings),
        3: lambda s: step_03_normalize.run(spark, layers, s, settings),
        4: lambda s: step_04_match.run(spark, layers, s),
        5: lambda s: step_05_aggregate.run(spark, layers, s, run_metrics=run),
    }
    step, started = run.start_step(STEP_NAMES[number])
    try:
        result = runners[number](step)
        if number == 4 and result:
            run.quality = result
        step.status = "ok"
    except Exception as exc:
        step.status = "failed"
        step.error = one_line(exc)
        raise
    finally:
        step.seconds = round(time.monotonic() - started, 2)
        logger.info("step %s %s in %.1fs", step.step, step.status, step.seconds)


def one_line(exc: BaseException) -> str:
    """A one-line reason for a failure. Spark errors carry a Python or JVM traceback whose first line
    is often empty: the last "SomeError: message" line is the one that says what happened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception")) and ":" in line]
    reason = causes[-1] if causes else (lines[0] if lines else "")
    return f"{type(exc).__name__}: {reason}"[:500]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts_spark.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1-5", help="steps to run: 1-5, 3-5, 4 or 1,3 (default 1-5)")
    parser.add_argument("--data-root", help="DATA_ROOT for this run (folder or abfss:// URI)")
    parser.add_argument("--source", help="auto | sample | api | dump | kaggle (overrides SOURCE)")
    parser.add_argument("--films", type=int, help="films in generated sample data (overrides SAMPLE_FILMS)")
    parser.add_argument("--master", help="Spark master (overrides SPARK_MASTER), e.g. local[2] or spark://h:7077")
    parser.add_argument("--run-id", help="run id (default: UTC timestamp)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate arguments, configuration and input layout; start no Spark job")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        "DATA_ROOT": args.data_root, "SOURCE": args.source, "SPARK_MASTER": args.master,
        "SAMPLE_FILMS": str(args.films) if args.films else None,
    }
    env = dict(os.environ, **{k: v for k, v in overrides.items() if v})
    try:
        settings = load_settings(env)
        steps = parse_steps(args.steps)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    layers = storage.Layers(settings.data_root)
    logger.info("settings: %s", settings.describe())

    if args.dry_run:
        print(f"dry run: configuration valid; steps {steps} would run on {settings.data_root} "
              f"(source={settings.source}, master={settings.spark_master}); input: {describe_input(settings, layers)}")
        return EXIT_OK

    refusal = data_root.claim(settings)  # marker and run lock inside DATA_ROOT (issue 10 items 1, 12, 13)
    if refusal:
        print(f"error: {refusal.message}", file=sys.stderr)
        return refusal.exit_code
    run = RunMetrics(run_id=args.run_id or new_run_id(), data_root=settings.data_root)
    try:
        if 1 in steps or 2 in steps:
            run.input = ensure_raw_input(settings, layers)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a fetch that kept failing: its message is one redacted line
        print(f"error: acquiring input failed: {exc}", file=sys.stderr)
        return EXIT_STEP_FAILED

    from scripts_spark.session import build_spark

    spark = build_spark(master=settings.spark_master)
    exit_code = EXIT_OK
    try:
        for number in steps:
            _run_step(number, spark, layers, settings, run)
        run.finish("ok")
    except Exception as exc:  # the step is recorded; report one clear line, details in the log
        run.finish("failed")
        logger.debug("step failure", exc_info=True)
        logger.error("%s", traceback.format_exc(limit=3))
        print(f"error: step {run.steps[-1].step} failed: {run.steps[-1].error}", file=sys.stderr)
        exit_code = EXIT_STEP_FAILED
    finally:
        metrics_path = layers.metrics(f"run_{run.run_id}.json")
        storage.write_text(spark, metrics_path, run.to_json())
    _print_outcome(run, layers, metrics_path)
    return exit_code


def _print_outcome(run: RunMetrics, layers: storage.Layers, metrics_path: str) -> None:
    """Tell the person at the terminal where the results are (command-line output, not logging)."""
    print(f"run {run.run_id}: {run.status}")
    if run.input == "generated":
        print(f"input: raw/ was empty: a SAMPLE data set was generated in {layers.raw()}")
    for step in run.steps:
        print(f"  {step.step:<20} {step.status:<7} {step.seconds:>7.1f}s  out={step.rows_out} "
              f"quarantined={step.quarantined}")
    quality = run.quality
    if quality:
        print(f"  match quality: precision={quality['precision']} recall={quality['recall']} "
              f"f1={quality['f1']} pair_completeness={quality['pair_completeness']}")
    if run.status == "ok":
        print(f"results: {layers.gold()}  (soundtrack_matches/, film_soundtracks/, analytics tables, *_csv/)")
        print(f"report:  {layers.reports(f'report_{run.run_id}.html')}")
    print(f"metrics: {metrics_path}")


def configure_logging(level: str) -> None:
    """Configure this project's loggers only (for every command-line entry point); Spark and py4j
    keep their own settings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("scripts_spark", "scripts"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False


if __name__ == "__main__":
    raise SystemExit(main())
