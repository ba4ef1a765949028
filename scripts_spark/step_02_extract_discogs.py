"""Step 02: ingest Discogs masters and releases into typed bronze Parquet.

Inputs in `raw/discogs/` (docs/contracts.md): monthly dump files `*_masters.xml[.gz]` /
`*_releases.xml[.gz]`, and JSON lines of API bodies (`*master*.jsonl[.gz]`, `*release*.jsonl[.gz]`).

Spark 3.5 has no XML reader without an extra jar, so dump files are first streamed on the driver,
in bounded memory, into JSON lines under `staging/discogs/` (only the soundtrack subset, and only
when the dump file changed since its last conversion). From there both sources take the same path:
explicit schema, quarantine with a reason, one row per id.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from scripts import discogs_dump
from scripts.settings import Settings
from scripts_spark import ingest, runner, storage
from scripts_spark.columns import array_or_empty
from scripts_spark.context import StepContext
from scripts_spark.schemas import (
    DISCOGS_DUMP_SUFFIXES,
    DISCOGS_JSON_SUFFIXES,
    DISCOGS_MASTER_JSON,
    DISCOGS_OTHER_DUMP_SUFFIXES,
    DISCOGS_RELEASE_JSON,
    QUARANTINE,
    RAW_DISCOGS,
)

logger = logging.getLogger(__name__)

NAME = "02_extract_discogs"
READS_RAW = True


def _clean_artists(col_name: str):
    """Artists with empty strings as nulls and without nameless entries."""
    artists = array_or_empty(col_name)
    return F.filter(artists, lambda a: F.coalesce(F.trim(a["name"]), F.lit("")) != "")


def select_master_columns(masters_df: DataFrame) -> DataFrame:
    """Typed bronze columns of Discogs masters.

    Returns:
        `master_id`, `title`, `year` (null when unknown, Discogs writes 0, or outside 1870-2100),
        `main_release_id`,
        `artists`, `genres`, `styles`, `data_quality`, `source_file`.
    """
    return masters_df.select(
        F.col("id").alias("master_id"),
        F.trim("title").alias("title"),
        ingest.plausible_year(F.col("year")).alias("year"),
        F.col("main_release").alias("main_release_id"),
        _clean_artists("artists").alias("artists"),
        array_or_empty("genres").alias("genres"),
        array_or_empty("styles").alias("styles"),
        F.col("data_quality"),
        F.col("source_file"),
    )


def select_release_columns(releases_df: DataFrame) -> DataFrame:
    """Typed bronze columns of Discogs releases.

    Returns:
        `release_id`, `master_id` (null without master), `is_main_release`, `title`, `year` (null
        when unknown or outside 1870-2100; taken from `released` when the body has none), `released`, `country`,
        `artists`, `extraartists`, `genres`, `styles`, `formats`, `labels`, `status`,
        `data_quality`, `source_file`.
    """
    # `released` is "2001-05-05", "2001-00-00" (day or month unknown) or "1998"; only a leading
    # four-digit year is taken, so "20010-05-05" gives no year rather than 2001.
    released_year = F.nullif(F.regexp_extract(F.trim("released"), r"^(\d{4})(?:-|$)", 1), F.lit("")).cast("int")
    year = F.coalesce(ingest.plausible_year(F.col("year")), ingest.plausible_year(released_year))
    return releases_df.select(
        F.col("id").alias("release_id"),
        F.when(F.col("master_id") > 0, F.col("master_id")).alias("master_id"),
        F.col("is_main_release"),
        F.trim("title").alias("title"),
        year.alias("year"),
        F.col("released"),
        F.nullif(F.trim("country"), F.lit("")).alias("country"),
        _clean_artists("artists").alias("artists"),
        _clean_artists("extraartists").alias("extraartists"),
        array_or_empty("genres").alias("genres"),
        array_or_empty("styles").alias("styles"),
        array_or_empty("formats").alias("formats"),
        array_or_empty("labels").alias("labels"),
        F.col("status"),
        F.col("data_quality"),
        F.col("source_file"),
    )


def extract_discogs(lines_df: DataFrame, kind: str) -> tuple[DataFrame, DataFrame]:
    """Parse, validate and de-duplicate Discogs JSON lines of one kind ("masters" or "releases").

    Returns:
        (bronze table, quarantine).
    """
    return extract_parsed_discogs(ingest.parse_json_lines(lines_df, json_schema(kind)), kind)


def json_schema(kind: str):
    """The JSON schema of one Discogs kind ("masters" or "releases")."""
    return DISCOGS_MASTER_JSON if kind == "masters" else DISCOGS_RELEASE_JSON


def extract_parsed_discogs(parsed_df: DataFrame, kind: str) -> tuple[DataFrame, DataFrame]:
    """`extract_discogs` from lines already parsed with `ingest.parse_json_lines(..., json_schema(kind))`
    (the run caches them: the bronze table, the quarantine and the count read one parse)."""
    valid_df, quarantine_df = ingest.split_valid(parsed_df)
    deduped_df = ingest.keep_latest_per_id(valid_df, "id")
    select = select_master_columns if kind == "masters" else select_release_columns
    return select(deduped_df), quarantine_df


def _kind_of_json_file(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower()
    if "master" in name:
        return "masters"
    if "release" in name:
        return "releases"
    return None


def stage_dumps(spark: SparkSession, layers: storage.Layers, settings: Settings) -> dict:
    """Convert changed dump files to JSON lines in `staging/discogs/`; return counts over all dumps.

    A dump file is converted again only when its size or modification time (or the soundtrack
    filter) changed, so a re-run, or a run after a kill, does not parse multi-GB files twice. Each
    conversion leaves a marker with its counts and bad-record samples, so a reused conversion
    reports the same quarantine as a fresh one. Checksums are verified when the dump's CHECKSUM
    file lies beside it.

    Returns:
        {"files", "converted", "records_seen", "records_kept", "records_bad", "bad_samples"}.
    """
    summary = {"files": 0, "converted": 0, "records_seen": 0, "records_kept": 0, "records_bad": 0,
               "bad_samples": []}
    unused = storage.list_files(spark, layers.raw(RAW_DISCOGS), DISCOGS_OTHER_DUMP_SUFFIXES)
    if unused:
        logger.info("not needed, left alone: %s", ", ".join(p.rsplit("/", 1)[-1] for p in unused))
    for dump in storage.list_files(spark, layers.raw(RAW_DISCOGS), DISCOGS_DUMP_SUFFIXES):
        name = dump.rsplit("/", 1)[-1]
        stem = name[: -len(".xml.gz")] if name.endswith(".xml.gz") else name[: -len(".xml")]
        target = layers.staging("discogs", f"{stem}.jsonl.gz")
        marker_path = layers.staging("discogs", f"_{stem}.source.json")
        identity = {
            "source": name,
            "signature": storage.file_signature(spark, dump),
            "genres": list(settings.soundtrack_genres),
            "styles": list(settings.soundtrack_styles),
        }
        previous = json.loads(storage.read_text(spark, marker_path) or "{}")
        if {k: previous.get(k) for k in identity} == identity and storage.exists(spark, target):
            logger.info("dump %s unchanged since its last conversion: reusing staging", name)
            marker = previous
        else:
            marker = dict(identity, **_convert_one(spark, dump, target, settings))
            storage.write_text(spark, marker_path, json.dumps(marker, sort_keys=True, ensure_ascii=False))
            summary["converted"] += 1
        summary["files"] += 1
        for key in ("records_seen", "records_kept", "records_bad"):
            summary[key] += marker[key]
        summary["bad_samples"].extend(marker["bad_samples"])
    return summary


def _convert_one(spark: SparkSession, dump: str, target: str, settings: Settings) -> dict:
    """Verify and convert one dump file into `target`; return its counts and bad-record samples."""
    name = dump.rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory(prefix="discogs-dump-") as tmp:
        local_dump = storage.copy_to_local(spark, dump, tmp)
        discogs_dump.verify_checksum(local_dump)
        if storage.is_local(target):
            local_out = storage.local_path(target)
            os.makedirs(os.path.dirname(local_out), exist_ok=True)
        else:
            local_out = os.path.join(tmp, target.rsplit("/", 1)[-1])
        stats = discogs_dump.convert_dump(
            local_dump, local_out, genres=settings.soundtrack_genres, styles=settings.soundtrack_styles,
            workers=settings.dump_workers,
        )
        storage.copy_from_local(spark, local_out, target)
    logger.info("dump %s: %d records, %d kept (soundtrack subset), %d bad",
                name, stats.records_seen, stats.records_kept, stats.records_bad)
    return {
        "records_seen": stats.records_seen,
        "records_kept": stats.records_kept,
        "records_bad": stats.records_bad,
        "bad_samples": [
            {"source_file": name, "reason": sample.get("reason", "bad record"),
             "record": str(sample.get("snippet", ""))}
            for sample in stats.bad_samples
        ],
    }


def run(ctx: StepContext) -> None:
    """Stage dumps, read every Discogs JSON source, write bronze masters/releases and quarantine."""
    spark, layers, step = ctx.spark, ctx.layers, ctx.step_metrics
    staged = stage_dumps(spark, layers, ctx.settings)
    sources = storage.list_files(spark, layers.raw(RAW_DISCOGS), DISCOGS_JSON_SUFFIXES) + \
        storage.list_files(spark, layers.staging("discogs"), DISCOGS_JSON_SUFFIXES)
    by_kind: dict[str, list[str]] = {"masters": [], "releases": []}
    unknown = []
    for path in sources:
        kind = _kind_of_json_file(path)
        (by_kind[kind] if kind else unknown).append(path)
    if unknown:
        logger.warning("ignoring Discogs JSON files whose names say neither master nor release: %s",
                       ", ".join(p.rsplit("/", 1)[-1] for p in unknown))
    if not by_kind["masters"] and not by_kind["releases"]:
        raise ingest.MissingInputError(
            f"no Discogs input in {layers.raw(RAW_DISCOGS)}: expected *_masters.xml.gz / *_releases.xml.gz "
            "dump files or *master*/*release* .jsonl[.gz] files (see README 'Input contract')"
        )

    quarantine_parts, parsed = [], []
    tables: dict[str, DataFrame] = {}
    for kind, files in by_kind.items():
        table = layers.bronze(f"discogs_{kind}")
        # A source with only releases (or only masters) still gets an empty, typed table.
        lines_df = ingest.read_lines(spark, files) if files else _empty_lines(spark)
        # Parsed once and kept (see step 01): the bronze table, the quarantine and the count share it.
        parsed_df = ingest.parse_json_lines(lines_df, json_schema(kind)).cache()
        parsed.append(parsed_df)
        bronze_df, quarantine_df = extract_parsed_discogs(parsed_df, kind)
        key = "master_id" if kind == "masters" else "release_id"
        try:
            storage.write_parquet(storage.in_key_order(bronze_df, key), table)
        except Exception as exc:  # a truncated gzip: say which file (Spark does not)
            raise ingest.name_unreadable_input(spark, "Discogs", files, exc) from exc
        quarantine_parts.append(quarantine_df)
        if files:
            tables[f"discogs_{kind}_lines"] = parsed_df
        tables[f"discogs_{kind}"] = spark.read.parquet(table)

    dump_bad_df = ingest.with_record_base64(spark.createDataFrame(staged["bad_samples"], QUARANTINE))
    quarantine_df = quarantine_parts[0].unionByName(quarantine_parts[1]).unionByName(dump_bad_df)
    storage.write_parquet(storage.in_one_sorted_partition(quarantine_df, [F.col("source_file"), F.col("record")]),
                          layers.quarantine("discogs"))
    # Every count of the step in one job (a small run is mostly such fixed costs).
    counts = storage.row_counts({**tables, "quarantine": spark.read.parquet(layers.quarantine("discogs"))})
    for parsed_df in parsed:
        parsed_df.unpersist()
    for kind in by_kind:
        step.rows_in[f"discogs_{kind}_lines"] = counts.get(f"discogs_{kind}_lines", 0)
        step.rows_out[f"discogs_{kind}"] = counts[f"discogs_{kind}"]
    json_quarantined = counts["quarantine"] - len(staged["bad_samples"])
    step.quarantined = {"discogs_json": json_quarantined, "discogs_dump": staged["records_bad"]}
    step.details = {
        "dump_files": staged["files"],
        "dump_files_converted": staged["converted"],
        "dump_records_seen": staged["records_seen"],
        "dump_records_kept": staged["records_kept"],
        "json_files": len(sources) - len(unknown),
        # Files that say neither master nor release are not read: named here, not dropped silently.
        "json_files_ignored": sorted(p.rsplit("/", 1)[-1] for p in unknown),
    }
    json_files = by_kind["masters"] + by_kind["releases"]
    ingest.check_usable_input(spark.read.parquet(layers.quarantine("discogs")), "Discogs", json_files,
                              sum(v for k, v in step.rows_in.items() if k.endswith("_lines")),
                              sum(step.rows_out.values()), json_quarantined, ctx.settings.max_quarantine_share)


def _empty_lines(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([], "value string, source_file string")


def main(argv: Sequence[str] | None = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_02_extract_discogs [--data-root DIR] ...` (see --help)."""
    return runner.step_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
