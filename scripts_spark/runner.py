"""Running steps: the engine behind `python -m scripts_spark.pipeline` and every step's own entry.

It loads the settings once, makes sure `raw/` has input when a chosen step reads it (generating
the sample data set when `raw/` is empty and the root is the default ./data or SOURCE=sample), builds the one
SparkSession, runs the chosen steps in order through their one contract `run(ctx)` (see
`scripts_spark.context`), writes `metrics/run_<run_id>.json` whatever the outcome, and then, when
the run produced the report's tables, writes the report with the run's own metrics and records
the report's status in the metrics. The exit code says what happened: 0 success, 1 a step (or
the report) failed, 2 bad arguments or configuration, 75 another run holds DATA_ROOT.

The runner knows no step by name: it is handed an ordered tuple of step modules
(`scripts_spark.pipeline.STEPS`, or one step module for that step's entry point).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from scripts import data_root
from scripts.console import say
from scripts.settings import ConfigError, Settings
from scripts.settings import parse_steps as settings_parse_steps
from scripts_spark import session, storage
from scripts_spark.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, configure_logging, settings_with
from scripts_spark.context import StepContext
from scripts_spark.metrics import RunMetrics, new_run_id
from scripts_spark.schemas import RAW_DISCOGS, RAW_INPUT_SUFFIXES, RAW_TMDB

logger = logging.getLogger(__name__)

KEEP_RUNS = 3   # run folders kept under gold/runs, the published one among them


def parse_steps(text: str, count: int) -> list[int]:
    """Step numbers (1-based) out of `count`: "1-5" -> [1..5], "3" -> [3], "1,3-4" -> [1, 3, 4].

    Raises:
        ConfigError (a ValueError): anything else, or a number outside 1..count; validated in
        one place, `scripts.settings.parse_steps`.
    """
    return settings_parse_steps(text, count)


def _reads_raw(steps: Sequence[ModuleType]) -> bool:
    return any(getattr(step, "READS_RAW", False) for step in steps)


def _feeds_report(steps: Sequence[ModuleType]) -> bool:
    return any(getattr(step, "FEEDS_REPORT", False) for step in steps)


def _writes_gold(steps: Sequence[ModuleType]) -> bool:
    return any(getattr(step, "WRITES_GOLD", False) or getattr(step, "FEEDS_REPORT", False) for step in steps)


# A test-only hook: SIGKILL this process at a named point, to prove that a kill anywhere leaves the
# published gold as it was. Honoured only when the value names this run's exact id
# ("<run_id>@<point>", points "before:<step>", "after:<step>", "before:report", "before:publish"),
# so a stray value cannot kill a production run, whose id is a fresh timestamp.
KILL_HOOK_ENV = "SOUNDTRACKS_TEST_KILL_AT"


def _kill_point(run_id: str, point: str) -> None:
    if os.environ.get(KILL_HOOK_ENV) == f"{run_id}@{point}":
        logger.warning("%s: killing run %s at %s", KILL_HOOK_ENV, run_id, point)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


def _has_input(folder: str, suffixes: tuple[str, ...]) -> bool:
    return os.path.isdir(folder) and any(
        name.endswith(suffixes) and not name.startswith((".", "_")) for name in os.listdir(folder)
    )


def _local_input(layers: storage.Layers) -> tuple[bool, bool]:
    return (_has_input(layers.raw(RAW_TMDB), RAW_INPUT_SUFFIXES[RAW_TMDB]),
            _has_input(layers.raw(RAW_DISCOGS), RAW_INPUT_SUFFIXES[RAW_DISCOGS]))


def describe_input(settings: Settings, layers: storage.Layers) -> str:
    """What a run would do for input, without doing it (for --dry-run)."""
    if settings.is_remote_storage:
        return f"read from {layers.raw()} (remote storage: not checked without Spark)"
    has_tmdb, has_discogs = _local_input(layers)
    if settings.source == "api":
        return "fetch from the TMDB and Discogs APIs, then read raw/"
    if has_tmdb and has_discogs:
        return "raw/ has TMDB and Discogs input: used as it is"
    if has_tmdb or has_discogs:
        return f"raw/ has only {'TMDB' if has_tmdb else 'Discogs'} input: the run would stop"
    if data_root.may_generate_sample(settings):  # only into ./data, or when SOURCE=sample asks
        return f"raw/ is empty: a sample data set of {settings.sample_films} films would be generated"
    return f"raw/ is empty and SOURCE={settings.source}: the run would stop"


def ensure_raw_input(settings: Settings, layers: storage.Layers) -> str | None:
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
            # The fetch writes through the lake (scripts/raw_folder.py), on Databricks or the VM.
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
    has_tmdb, has_discogs = _local_input(layers)
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


def _local(path: str) -> Path:
    return Path(storage.local_path(path))


def run_step(module: ModuleType, spark, layers: storage.Layers, settings: Settings, run: RunMetrics) -> None:
    """Run one step module through its contract and record its status and duration in `run`."""
    step, started = run.start_step(module.NAME)
    _kill_point(run.run_id, f"before:{module.NAME}")
    try:
        module.run(StepContext(spark=spark, layers=layers, settings=settings, step_metrics=step, run_metrics=run))
        step.status = "ok"
    except Exception as exc:
        step.status = "failed"
        step.error = one_line(exc)
        raise
    else:
        _kill_point(run.run_id, f"after:{module.NAME}")
    finally:
        # Steps hand data on through storage only: nothing a step cached is read by the next one.
        try:
            session.release_cached(spark)
        except Exception as exc:  # Spark itself went down: the step's own error says why
            logger.warning("step %s: what it kept in memory was not released: %s", step.step, one_line(exc))
        step.seconds = round(time.monotonic() - started, 2)
        logger.info("step %s %s in %.1fs", step.step, step.status, step.seconds)


def one_line(exc: BaseException) -> str:
    """A one-line reason for a failure. Our own errors say it in their message; a Spark error
    (Py4JJavaError "... o123.parquet" and a JVM stack trace) is reduced to its root cause and the
    file Spark names (`storage.root_cause`); the whole trace goes to the log."""
    if getattr(exc, "java_exception", None) is not None:
        return f"{type(exc).__name__}: {storage.root_cause(exc)}"[:500]
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception")) and ":" in line]
    reason = causes[-1] if causes else (lines[0] if lines else "")
    return f"{type(exc).__name__}: {reason}"[:500]


def _write_error_details(spark, path: str) -> str | None:
    """The whole traceback of the failure being handled (Python and JVM) into `path`; the path, or
    None when it could not be written (then the log at DEBUG level is the only copy)."""


    try:
        storage.write_text(spark, path, traceback.format_exc())
        return path
    except Exception:
        return None


def write_metrics(spark, path: str, run: RunMetrics) -> bool:
    """Write the run's metrics; when that fails (a full disk, a read-only root), say so in one line on
    stderr and in sync_log.md instead of a second traceback. Returns True when written."""
    try:
        storage.write_text(spark, path, run.to_json())
        return True
    except Exception as exc:
        reason = one_line(exc)
        logger.debug("metrics write failed", exc_info=True)
        status = f"run {run.run_id}: {run.status}; metrics not written to {path}: {reason}"
        say(f"error: {status}", file=sys.stderr)
        try:
            from scripts import sync_log

            sync_log.append_entry("run-metrics", "failed", 0.0, details=status[:300])
        except Exception:  # the log may sit on the same full disk: stderr has the line
            logger.debug("sync_log append failed", exc_info=True)
        return False


def build_parser(prog: str, description: str, steps: Sequence[ModuleType] | None = None) -> argparse.ArgumentParser:
    """The runner's options; `--steps` only when there is more than one step to choose from."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if steps is not None and len(steps) > 1:
        every = f"1-{len(steps)}"
        names = ", ".join(f"{i} {s.NAME}" for i, s in enumerate(steps, 1))
        parser.add_argument("--steps", default=every,
                            help=f"steps to run, e.g. {every}, 3-{len(steps)}, 3 or 1,3 (default {every}): {names}")
    parser.add_argument("--data-root", help="DATA_ROOT for this run (folder or abfss:// URI)")
    parser.add_argument("--source", help="auto | sample | api | dump | kaggle (overrides SOURCE)")
    parser.add_argument("--films", type=int, help="films in generated sample data (overrides SAMPLE_FILMS)")
    parser.add_argument("--master", help="Spark master (overrides SPARK_MASTER), e.g. local[2] or spark://h:7077")
    parser.add_argument("--run-id", help="run id (default: UTC timestamp)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate arguments, configuration and input layout; start no Spark job")
    return parser


def main(steps: Sequence[ModuleType], argv: Sequence[str] | None, prog: str, description: str) -> int:
    """Parse `argv` (None: the process's arguments) and run the chosen ones of `steps` in order."""
    args = build_parser(prog, description, steps).parse_args(argv)
    try:
        settings = settings_with({
            "DATA_ROOT": args.data_root, "SOURCE": args.source, "SPARK_MASTER": args.master,
            "SAMPLE_FILMS": str(args.films) if args.films else None,
        })
        chosen = [steps[n - 1] for n in parse_steps(args.steps, len(steps))] if len(steps) > 1 else list(steps)
    except (ConfigError, ValueError) as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    layers = storage.Layers(settings.data_root)
    logger.info("settings: %s", settings.describe())
    names = ", ".join(step.NAME for step in chosen)

    if args.dry_run:
        say(f"dry run: configuration valid; steps {names} would run on {settings.data_root} "
              f"(source={settings.source}, master={settings.spark_master}); input: {describe_input(settings, layers)}")
        return EXIT_OK

    refusal = data_root.claim(settings)  # marker and run lock inside DATA_ROOT
    if refusal:
        say(f"error: {refusal.message}", file=sys.stderr)
        return refusal.exit_code
    run = RunMetrics(run_id=args.run_id or new_run_id(), data_root=settings.data_root)
    try:
        if _reads_raw(chosen):
            run.input = ensure_raw_input(settings, layers)
    except ConfigError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a fetch that kept failing: its message is one redacted line
        say(f"error: acquiring input failed: {exc}", file=sys.stderr)
        return EXIT_FAILED

    from scripts_spark.session import build_spark

    spark = build_spark(master=settings.spark_master, extra_conf=dict(settings.spark_conf))
    exit_code = EXIT_OK
    metrics_path = layers.metrics(f"run_{run.run_id}.json")
    writes_gold = _writes_gold(chosen)
    step_layers = layers
    try:
        run.gold_run = storage.current_run_id(spark, layers)
        # Gold goes to this run's own folder and is published at the end, all of it or none;
        # steps that write no gold read the published gold.
        step_layers = layers.for_run(run.run_id) if writes_gold else storage.published(spark, layers)
        if writes_gold:
            storage.start_run_gold(spark, layers, step_layers)
        for step in chosen:
            run_step(step, spark, step_layers, settings, run)
        run.finish("ok")
    except Exception as exc:  # the step is recorded; report one clear line, details in the log
        run.finish("failed")
        logger.debug("run failed", exc_info=True)
        where, reason = (run.steps[-1].step, run.steps[-1].error) if run.steps else ("setup", one_line(exc))
        details = _write_error_details(spark, layers.metrics(f"run_{run.run_id}_error.txt"))
        say(f"error: step {where} failed: {reason}" + (f" (details: {details})" if details else ""),
              file=sys.stderr)
        exit_code = EXIT_FAILED
    finally:
        metrics_written = write_metrics(spark, metrics_path, run)
    if run.status == "ok" and writes_gold:
        if _feeds_report(chosen):
            _kill_point(run.run_id, "before:report")
            if not write_run_report(spark, step_layers, run):
                exit_code = EXIT_FAILED
        if exit_code == EXIT_OK and not publish(spark, layers, step_layers, run):
            exit_code = EXIT_FAILED
        write_metrics(spark, metrics_path, run)   # now with the report's status and the published run
    elif _feeds_report(chosen) and metrics_written:   # a second failed write would only repeat the line
        write_run_report(spark, step_layers, run)   # records why there is no report
        write_metrics(spark, metrics_path, run)
    _print_outcome(run, layers, metrics_path)
    return exit_code


def publish(spark, layers: storage.Layers, run_layers: storage.Layers, run: RunMetrics) -> bool:
    """Switch gold/_CURRENT to this run's folder, then delete run folders beyond the last few.

    Before the switch readers see the previous run's tables, CSVs and report; after it, this run's.
    Returns False (and says why in one line) when the switch failed: the previous gold stays.
    """
    _kill_point(run.run_id, "before:publish")
    try:
        storage.publish_gold(spark, run_layers)
    except Exception as exc:
        logger.error("publishing gold failed", exc_info=True)
        say(f"error: gold of run {run.run_id} could not be published: {one_line(exc)}", file=sys.stderr)
        return False
    run.gold_run = run.run_id
    try:
        storage.prune_runs(spark, layers, keep=KEEP_RUNS)
    except Exception:  # old folders stay until the next run; the published gold is complete
        logger.warning("deleting old run folders failed", exc_info=True)
    return True


def write_run_report(spark, layers: storage.Layers, run: RunMetrics) -> bool:
    """Write the report of a finished run from its own metrics; record the outcome in `run.report`.

    Returns:
        False when the report was due and could not be written (the reason is in `run.report`).
    """
    if run.status != "ok":
        run.report = {"status": "skipped", "reason": "the run failed: its gold is not published"}
        return True
    from scripts_spark import report

    try:
        paths = report.write_report(spark, layers, run_metrics=run)
    except Exception as exc:  # say why the page is missing; the run's gold is then not published
        logger.error("report failed", exc_info=True)
        run.report = {"status": "failed", "error": one_line(exc)}
        say(f"error: the report could not be written: {run.report['error']}", file=sys.stderr)
        return False
    run.report = {"status": "ok", **paths}
    return True


def step_main(module: ModuleType, argv: Sequence[str] | None = None) -> int:
    """The entry point of one step module: `python -m <module> [--data-root DIR] ...`.

    Runs that step alone, the same way the pipeline runs it (settings, input, metrics, report);
    `argv` None means the process's own arguments.
    """
    description = (module.__doc__ or module.NAME).strip().splitlines()[0]
    # Run with `python -m`, the module is `__main__`; its spec still has the name it was run by.
    name = getattr(module.__spec__, "name", None) or module.__name__
    return main((module,), argv, prog=f"python -m {name}", description=description)


def _print_outcome(run: RunMetrics, layers: storage.Layers, metrics_path: str) -> None:
    """Tell the person at the terminal where the results are (command-line output, not logging)."""
    say(f"run {run.run_id}: {run.status}")
    if run.input == "generated":
        say(f"input: raw/ was empty: a SAMPLE data set was generated in {layers.raw()}")
    for step in run.steps:
        say(f"  {step.step:<20} {step.status:<7} {step.seconds:>7.1f}s  out={step.rows_out} "
              f"quarantined={step.quarantined}")
    quality = run.quality
    if quality:
        say(f"  match quality: precision={quality['precision']} recall={quality['recall']} "
              f"f1={quality['f1']} pair_completeness={quality['pair_completeness']}")
    if run.gold_run == run.run_id:
        say(f"results: {layers.for_run(run.run_id).gold()} (published: {layers.gold_base(storage.GOLD_POINTER)})")
    else:
        say(f"results: not published; the published gold is still "
              f"{'run ' + run.gold_run if run.gold_run else 'the previous one'}")
    if run.report:
        status = run.report["status"]
        detail = run.report.get("html") or run.report.get("reason") or run.report.get("error")
        say(f"report:  {status}: {detail}")
    say(f"metrics: {metrics_path}")
