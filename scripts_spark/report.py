"""The human-readable report: `reports/report_<run_id>.html` and `reports/report_<run_id>.md`.

Built from the gold tables and a run's metrics JSON, so it can be rebuilt at any time
(`make report`, or `python -m scripts_spark.report [--data-root DIR] [--run-id ID]`). The runner
writes it at the end of every run that includes step 05, after the run's metrics are written, so
the report shows that run's own figures.

- Every number about films and albums comes from the gold tables: small aggregates computed in
  Spark and collected (nothing film-level reaches the driver).
- Charts are drawn with matplotlib's Agg canvas and embedded as base64 PNG data URIs; the page
  has no external script, style sheet, font or image, so it opens offline.
- Which metrics: those handed in by the runner (the run just finished), else the file of `--run-id`, else the
  newest metrics file of a run whose step 05 succeeded (else the newest at all). When the gold
  tables are newer than that file the report says so.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import jinja2
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from scripts.console import say
from scripts_spark import soundtrack_effects as effects
from scripts_spark import storage
from scripts_spark.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, configure_logging, settings_with
from scripts_spark.gold_tables import FORMAT_GROUPS, MIN_GROUP_SIZE
from scripts_spark.metrics import RunMetrics
from scripts_spark.schemas import RAW_FILE_SUFFIXES, RAW_TRUE_PAIRS

logger = logging.getLogger(__name__)

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
STEP_NAME = "05_aggregate"   # the step whose success marks a metrics file as the gold tables' run
TOP_GROUPS = 20       # genre and style rows shown per dimension (all rows are in the gold table)
TOP_CHART_GROUPS = 12
TOP_LANGUAGES = 15
TOP_COMPOSERS = 15
TOP_EFFECT_ROWS = 60  # rows of each effect table shown (all rows are in the gold tables)
FORMAT_LABELS = {"vinyl": "Vinyl", "cd": "CD", "cassette": "Cassette", "file": "File", "other": "other"}
SAMPLE_TMDB_FILE = "sample_movies.jsonl.gz"   # what scripts.generate_sample_data writes
# Chart text (titles, labels) includes film titles and names in any script. DejaVu Sans (bundled
# with matplotlib) covers Latin, Greek and Cyrillic; Noto Sans CJK (Debian fonts-noto-cjk) covers
# Japanese, Korean and Chinese. matplotlib falls back glyph by glyph along this list.
CHART_FONTS = ("DejaVu Sans", "Noto Sans CJK JP")
_COLOURS = {"baseline": "#8c8c8c", "all": "#1f4e79", "genre": "#2a9d8f", "style": "#e76f51"}


class ReportError(RuntimeError):
    """The report cannot be built (no gold tables, unknown run id); the message says what to do."""


@dataclass
class ReportData:
    """Everything the templates show; lists hold small collected aggregates as dicts."""

    run_id: str
    generated_at: str
    data_root: str
    metrics: dict | None
    metrics_source: str
    notes: list[str]
    is_sample_data: bool
    headline: dict[str, Any]
    style_rows: list[dict]
    style_hidden: int
    coverage_genre: list[dict]
    coverage_decade: list[dict]
    coverage_language: list[dict]
    languages_total: int
    composers: list[dict]
    composers_total: int
    formats: list[dict]
    formats_decade: list[dict]
    format_totals: dict[str, Any]
    raw_files: list[dict]
    bronze_sources: list[dict]
    findings: list[str] = field(default_factory=list)
    # Issue 16: the tested comparisons (gold effect_tests, effect_regression, effect_sensitivity).
    effect_tests: list[dict] = field(default_factory=list)
    effect_tests_hidden: int = 0
    effect_regression: list[dict] = field(default_factory=list)
    effect_regression_hidden: int = 0
    effect_sensitivity: list[dict] = field(default_factory=list)
    effect_sensitivity_hidden: int = 0
    family: dict[str, Any] = field(default_factory=lambda: family_summary([], []))

    @property
    def quality(self) -> dict:
        return (self.metrics or {}).get("quality") or {}

    @property
    def steps(self) -> list[dict]:
        return (self.metrics or {}).get("steps") or []

    def step(self, name: str) -> dict:
        return next((s for s in self.steps if s.get("step") == name), {})


def _rows(df: DataFrame) -> list[dict]:
    return [row.asDict() for row in df.collect()]


def _share(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole else None


def headline_figures(film_df: DataFrame) -> dict:
    """Films, films with a soundtrack, their share, distinct matched albums, release-year range."""
    row = film_df.agg(
        F.count("*").alias("films"),
        F.coalesce(F.sum(F.col("has_soundtrack").cast("long")), F.lit(0)).alias("films_with_soundtrack"),
        F.min("release_year").alias("first_release_year"),
        F.max("release_year").alias("last_release_year"),
    ).first().asDict()
    row["soundtrack_share"] = _share(row["films_with_soundtrack"], row["films"])
    row["matched_albums"] = film_df.select(F.explode("album_ids").alias("album_id")).distinct().count()
    return row


def coverage_by_genre(coverage_df: DataFrame) -> DataFrame:
    """Coverage per film genre over all decades, from `coverage_by_genre_decade` (a film has one
    decade, so summing over decades counts each film once per genre)."""
    return (
        coverage_df.groupBy("film_genre")
        .agg(F.sum("films").alias("films"), F.sum("films_with_soundtrack").alias("films_with_soundtrack"))
        .withColumn("soundtrack_share", F.round(F.col("films_with_soundtrack") / F.col("films"), 4))
        .withColumn("is_small_group", F.col("films") < MIN_GROUP_SIZE)
    )


def coverage_by_decade(film_df: DataFrame) -> DataFrame:
    """Coverage per release decade, from `film_soundtracks`."""
    return (
        film_df.groupBy("decade")
        .agg(F.count("*").alias("films"), F.sum(F.col("has_soundtrack").cast("long")).alias("films_with_soundtrack"))
        .withColumn("soundtrack_share", F.round(F.col("films_with_soundtrack") / F.col("films"), 4))
        .withColumn("is_small_group", F.col("films") < MIN_GROUP_SIZE)
    )


def formats_by_decade(formats_df: DataFrame) -> DataFrame:
    """`formats_by_year` summed per album decade (albums of unknown year left out), for the chart."""
    sums = [F.sum(c).alias(c) for c in ("albums", *[f"{g}_albums" for g in (*FORMAT_GROUPS, "other")],
                                         "reissued_albums")]
    return (
        formats_df.filter(F.col("album_year").isNotNull())
        .groupBy((F.floor(F.col("album_year") / 10) * 10).cast("int").alias("decade"))
        .agg(*sums)
        .withColumn("reissue_share", F.round(F.col("reissued_albums") / F.col("albums"), 4))
    )


def format_totals(formats_df: DataFrame) -> DataFrame:
    """One row: the `formats_by_year` counts summed over all years, with the album-year range."""
    sums = [F.coalesce(F.sum(c), F.lit(0)).alias(c) for c in
            ("albums", *[f"{g}_albums" for g in (*FORMAT_GROUPS, "other")], "no_format_albums", "releases",
             "reissued_albums")]
    return formats_df.agg(*sums, F.min("album_year").alias("first_album_year"),
                          F.max("album_year").alias("last_album_year")) \
        .withColumn("reissue_share", F.round(F.col("reissued_albums") / F.col("albums"), 4))


def _gold(spark: SparkSession, layers: storage.Layers, name: str) -> DataFrame:
    path = layers.gold(name)
    if not storage.exists(spark, path):
        raise ReportError(f"gold table {path} is missing: run the pipeline (make run, or steps 1-5) first")
    return spark.read.parquet(path)


def _top_styles(style_df: DataFrame) -> tuple[list[dict], int]:
    comparison = style_df.filter(F.col("dimension").isin("all", "baseline")).orderBy("dimension", "value")
    rows = _rows(comparison)
    hidden = 0
    for dimension in ("genre", "style"):
        part = style_df.filter(F.col("dimension") == dimension)
        rows += _rows(part.orderBy(F.col("films").desc(), "value").limit(TOP_GROUPS))
        hidden += max(part.count() - TOP_GROUPS, 0)
    return rows, hidden


def _mtime(spark: SparkSession, path: str) -> int:
    return int(storage.file_signature(spark, path).rsplit(":", 1)[1])


def _ran_ok(metrics: dict, step: str) -> bool:
    return any(s.get("step") == step and s.get("status") == "ok" for s in metrics.get("steps") or [])


def find_metrics(spark: SparkSession, layers: storage.Layers,
                 run_id: str | None = None) -> tuple[dict | None, str | None]:
    """The metrics document to report and its path: `run_<run_id>.json` when a run id is given,
    else the newest file (by modification time) of a run whose step 05 succeeded, else the newest.

    Raises:
        ReportError: the run id given has no metrics file.
    """
    if run_id:
        path = layers.metrics(f"run_{run_id}.json")
        text = storage.read_text(spark, path)
        if text is None:
            raise ReportError(f"no metrics file {path}: check --run-id (the file names are run_<run_id>.json)")
        return json.loads(text), path
    files = [p for p in storage.list_files(spark, layers.metrics(), (".json",))
             if p.rsplit("/", 1)[-1].startswith("run_")]
    newest: tuple[dict | None, str | None] = (None, None)
    for path in sorted(files, key=lambda p: (_mtime(spark, p), p), reverse=True):
        doc = json.loads(storage.read_text(spark, path) or "{}")
        if newest[0] is None:
            newest = (doc, path)
        if _ran_ok(doc, STEP_NAME):
            return doc, path
    return newest


def raw_files(spark: SparkSession, layers: storage.Layers) -> list[dict]:
    """The input files under `raw/`: source, name, size and modification time (UTC)."""
    found = []
    for source, suffixes in RAW_FILE_SUFFIXES.items():
        for path in storage.list_files(spark, layers.raw(source), suffixes):
            found.append((source, path))
    if storage.exists(spark, layers.raw(RAW_TRUE_PAIRS)):
        found.append(("true pairs", layers.raw(RAW_TRUE_PAIRS)))
    out = []
    for source, path in found:
        size, mtime = storage.file_signature(spark, path).rsplit(":", 1)
        out.append({"source": source, "file": path.rsplit("/", 1)[-1], "bytes": int(size),
                    "modified": datetime.fromtimestamp(int(mtime) / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    return out


def bronze_sources(spark: SparkSession, layers: storage.Layers) -> list[dict]:
    """Records per source file in the bronze tables (Discogs dumps appear under their staged name)."""
    out = []
    for table in ("tmdb_movies", "discogs_masters", "discogs_releases"):
        path = layers.bronze(table)
        if storage.exists(spark, path):
            counts = spark.read.parquet(path).groupBy("source_file").count().orderBy("source_file")
            out += [{"table": f"bronze/{table}", "source_file": r["source_file"], "records": r["count"]}
                    for r in counts.collect()]
    return out


def _fmt_num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _fmt_p(value: float | None) -> str:
    """A p-value: three decimals, or two significant digits in e-notation below 0.001 (a p-value
    of 1e-12 is not 0.000)."""
    if value is None:
        return "–"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _fmt_signed(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def family_summary(tests: list[dict], sensitivity: list[dict]) -> dict:
    """What the findings rest on: the family's description and size, how many of its comparisons
    survive Holm's correction, the controls of the regression and the match-score threshold."""
    family = [t for t in tests if t.get("in_family")]
    thresholds = {r["threshold"] for r in sensitivity if r.get("threshold") is not None}
    return {
        "description": effects.FAMILY, "size": len(family),
        "significant": sum(1 for t in family if t.get("is_significant")),
        "tested": len(tests), "outside": len(tests) - len(family),
        "alpha": effects.SIGNIFICANCE, "min_group_size": MIN_GROUP_SIZE,
        "controls": list(effects.CONTROLS), "not_controlled": list(effects.NOT_CONTROLLED),
        "threshold": min(thresholds) if thresholds else None,
        "flagged": sum(1 for r in sensitivity if not r.get("is_robust")),
    }


def main_findings(tests: list[dict], regression: list[dict], sensitivity: list[dict]) -> list[str]:
    """The report's main findings: `soundtrack_effects.findings` over the gold effect tables (only
    comparisons in the family that survive Holm's correction), or one sentence saying that none
    does. Descriptive means never make a finding."""
    sentences = effects.findings(tests, regression, sensitivity)
    if sentences:
        return sentences
    family = [t for t in tests if t.get("in_family")]
    if not family:
        return [f"No soundtrack genre or style (nor the films with any soundtrack) has {MIN_GROUP_SIZE} or more "
                "films beside a baseline of films without one: nothing was tested, so there is no finding."]
    return [f"None of the {len(family)} comparisons in the family is significant after Holm's correction "
            f"(family-wise error {effects.SIGNIFICANCE * 100:.0f} %): this data shows no relation between a "
            "soundtrack's genre or style and a film's popularity or rating that chance would not explain."]


def _effect_rows(tests_df: DataFrame, regression_df: DataFrame, sensitivity_df: DataFrame) -> dict:
    """All rows of the three effect tables (small: a few per soundtrack genre/style), and the
    first TOP_EFFECT_ROWS of each in the order shown: the family by p-value, then the groups
    outside it by size; regression in table order; sensitivity with the changed and the
    significant comparisons first."""
    tests = _rows(tests_df)
    regression = _rows(regression_df)
    sensitivity = _rows(sensitivity_df)
    shown_tests = sorted(tests, key=effect_test_order)
    shown_sensitivity = sorted(sensitivity, key=sensitivity_order)
    return {
        "all_tests": tests, "all_regression": regression, "all_sensitivity": sensitivity,
        "effect_tests": shown_tests[:TOP_EFFECT_ROWS],
        "effect_tests_hidden": max(len(tests) - TOP_EFFECT_ROWS, 0),
        "effect_regression": regression[:TOP_EFFECT_ROWS],
        "effect_regression_hidden": max(len(regression) - TOP_EFFECT_ROWS, 0),
        "effect_sensitivity": shown_sensitivity[:TOP_EFFECT_ROWS],
        "effect_sensitivity_hidden": max(len(sensitivity) - TOP_EFFECT_ROWS, 0),
    }


def effect_test_order(row: dict) -> tuple:
    """Family rows first, most significant first; then the rest, largest groups first."""
    if row.get("in_family"):
        return (0, row["p_value"], 0, row["dimension"], row["value"], row["metric"])
    return (1, 0.0, -(row.get("films") or 0), row["dimension"], row["value"], row["metric"])


def sensitivity_order(row: dict) -> tuple:
    """Comparisons whose verdict changes first, then the significant ones, then table order."""
    return (bool(row.get("is_robust")), not row.get("significant_all"), row["dimension"], row["value"],
            row["metric"])


def collect_report_data(spark: SparkSession, layers: storage.Layers, run_metrics: RunMetrics | None = None,
                        run_id: str | None = None) -> ReportData:
    """Read the gold tables (small aggregates), the metrics and the provenance of a report.

    Raises:
        ReportError: a gold table is missing, or `run_id` has no metrics file.
    """
    film_df = _gold(spark, layers, "film_soundtracks")
    style_df = _gold(spark, layers, "soundtrack_style_vs_film")
    tests_df = _gold(spark, layers, "effect_tests")
    regression_df = _gold(spark, layers, "effect_regression")
    sensitivity_df = _gold(spark, layers, "effect_sensitivity")
    coverage_df = _gold(spark, layers, "coverage_by_genre_decade")
    language_df = _gold(spark, layers, "coverage_by_language")
    composers_df = _gold(spark, layers, "composers")
    formats_df = _gold(spark, layers, "formats_by_year")

    notes = []
    if run_metrics is not None:
        metrics: dict | None = dataclasses.asdict(run_metrics)
        metrics_source = layers.metrics(f"run_{run_metrics.run_id}.json")
    else:
        metrics, path = find_metrics(spark, layers, run_id)
        metrics_source = path or "none"
        if metrics is None:
            notes.append(f"No metrics file under {layers.metrics()}: run metrics, match quality and run dates "
                         "are not shown.")
        elif _mtime(spark, layers.gold("film_soundtracks")) > _mtime(spark, path):
            notes.append(f"The gold tables are newer than {path.rsplit('/', 1)[-1]}: the run metrics shown are "
                         "those of an earlier run. Rebuild the report after the run has finished (make report).")
    files = raw_files(spark, layers)
    is_sample = (metrics or {}).get("input") == "generated" or any(f["file"] == SAMPLE_TMDB_FILE for f in files)
    if is_sample:
        notes.insert(0, "This run used the generated sample data set: the films and albums are synthetic and "
                        "the findings describe nothing real.")

    style_rows, style_hidden = _top_styles(style_df)
    genre_rows = _rows(coverage_by_genre(coverage_df).orderBy(F.col("films").desc(), "film_genre"))
    composer_rows = _rows(composers_df.orderBy(F.col("matched_films").desc(), F.col("matched_albums").desc(),
                                               "composer").limit(TOP_COMPOSERS))
    data = ReportData(
        run_id=(metrics or {}).get("run_id") or "unknown",
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        data_root=layers.root,
        metrics=metrics,
        metrics_source=metrics_source,
        notes=notes,
        is_sample_data=is_sample,
        headline=headline_figures(film_df),
        style_rows=style_rows,
        style_hidden=style_hidden,
        coverage_genre=genre_rows,
        coverage_decade=_rows(coverage_by_decade(film_df).orderBy(F.col("decade").asc_nulls_first())),
        coverage_language=_rows(language_df.orderBy(F.col("films").desc(), "original_language").limit(TOP_LANGUAGES)),
        languages_total=language_df.count(),
        composers=composer_rows,
        composers_total=composers_df.count(),
        formats=_rows(formats_df.orderBy(F.col("album_year").asc_nulls_first())),
        formats_decade=_rows(formats_by_decade(formats_df).orderBy("decade")),
        format_totals=format_totals(formats_df).first().asDict(),
        raw_files=files,
        bronze_sources=bronze_sources(spark, layers),
    )
    effect = _effect_rows(tests_df, regression_df, sensitivity_df)
    data.findings = main_findings(effect["all_tests"], effect["all_regression"], effect["all_sensitivity"])
    data.family = family_summary(effect["all_tests"], effect["all_sensitivity"])
    for key in ("effect_tests", "effect_tests_hidden", "effect_regression", "effect_regression_hidden",
                "effect_sensitivity", "effect_sensitivity_hidden"):
        setattr(data, key, effect[key])
    return data


@dataclass
class Chart:
    name: str
    title: str
    caption: str
    uri: str


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)  # a canvas per figure: no pyplot state, no GUI backend
    return fig


@contextmanager
def chart_fonts() -> Iterator[None]:
    """Build and draw charts with CHART_FONTS. Text takes its font when it is created, so the
    whole chart is built inside this context (a font not installed is skipped by matplotlib)."""
    register_installed_chart_fonts()
    with matplotlib.rc_context({"font.family": list(CHART_FONTS)}):
        yield


@functools.lru_cache(maxsize=1)
def register_installed_chart_fonts() -> list[str]:
    """Make fonts installed after matplotlib listed the system's fonts usable; returns the files added.

    matplotlib lists the system's fonts once and keeps the list in its cache folder
    (~/.cache/matplotlib/fontlist-*.json): fonts-noto-cjk installed after any earlier chart (the
    advice `rebuild_venv.sh` prints) stayed unknown and CJK titles were drawn as boxes. When a
    family of CHART_FONTS is missing from that list, the font files not in it are added (in this
    process; matplotlib rewrites its cache when it next rebuilds it)."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if set(CHART_FONTS) <= {f.name for f in manager.ttflist}:
        return []
    known = {f.fname for f in manager.ttflist} | {f.fname for f in manager.afmlist}
    added = []
    for path in sorted(font_manager.findSystemFonts()):
        if path in known:
            continue
        try:
            manager.addfont(path)
        except (OSError, RuntimeError, ValueError) as exc:   # a damaged font file: skipped, as matplotlib does
            logger.debug("font %s not usable: %s", path, exc)
            continue
        added.append(path)
    return added


def _png_uri(fig: Figure) -> str:
    """The figure as a PNG data URI. A glyph no font in CHART_FONTS has is drawn as a box and
    matplotlib warns "Glyph ... missing from font(s)"; the warning is left to reach the log."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _no_data(ax, text: str = "no data in this run") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#666666", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def chart_style_vs_film(rows: list[dict]) -> Figure:
    """Mean popularity and vote average with 95 % intervals per soundtrack genre/style."""
    comparison = [r for r in rows if r["dimension"] in ("baseline", "all")]
    groups = sorted((r for r in rows if r["dimension"] in ("genre", "style")),
                    key=lambda r: (-r["films"], r["dimension"], r["value"]))[:TOP_CHART_GROUPS]
    shown = comparison + groups
    fig = _figure(11, 1.2 + 0.38 * max(len(shown), 3))
    axes = fig.subplots(1, 2, sharey=True)
    if not shown:
        for ax in axes:
            _no_data(ax)
        return fig
    labels = [f"{r['dimension']}: {r['value']} (n={r['films']})" for r in shown]
    positions = list(range(len(shown)))[::-1]
    base = next((r for r in shown if r["dimension"] == "baseline"), None)
    for ax, metric, label in zip(axes, ("popularity", "vote_average"), ("popularity", "vote average")):
        for y, r in zip(positions, shown):
            mean = r[f"{metric}_mean"]
            if mean is None:
                continue
            low, high = r[f"{metric}_ci95_low"], r[f"{metric}_ci95_high"]
            err = [[mean - low], [high - mean]] if low is not None and high is not None else None
            ax.barh(y, mean, xerr=err, color=_COLOURS[r["dimension"]], alpha=0.45 if r["is_small_group"] else 0.9,
                    hatch="//" if r["is_small_group"] else None, edgecolor="#333333", linewidth=0.5,
                    error_kw={"elinewidth": 1, "capsize": 3, "ecolor": "#222222"})
        # Scale to the means and the intervals of the groups large enough to read; small groups'
        # intervals can be very wide and may run off the axis.
        values = [r[f"{metric}_mean"] for r in shown if r[f"{metric}_mean"] is not None]
        values += [r[f"{metric}_ci95_{b}"] for r in shown for b in ("low", "high")
                   if not r["is_small_group"] and r[f"{metric}_ci95_{b}"] is not None]
        if values:
            low, high = min(0.0, *values), max(0.0, *values)
            pad = 0.05 * (high - low) or 1.0
            ax.set_xlim(low - (pad if low < 0 else 0), high + pad)
        if base and base[f"{metric}_mean"] is not None:
            ax.axvline(base[f"{metric}_mean"], color="#555555", linestyle="--", linewidth=1)
        ax.set_xlabel(f"mean {label} (95 % CI)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions)
    axes[0].set_yticklabels(labels)
    fig.suptitle(f"Film popularity and rating by soundtrack genre/style (hatched: fewer than {MIN_GROUP_SIZE} films; "
                 "dashed: films without soundtrack)", fontsize=10)
    return fig


def chart_effect_sizes(tests: list[dict]) -> Figure:
    """Cliff's delta of the family's comparisons, per metric: the TOP_CHART_GROUPS smallest
    p-values each; dark when significant after Holm's correction, pale otherwise."""
    metrics = (("popularity", "popularity"), ("vote_average", "vote average"))
    family = {m: sorted((t for t in tests if t.get("in_family") and t["metric"] == m),
                        key=lambda t: (t["p_value"], t["dimension"], t["value"]))[:TOP_CHART_GROUPS]
              for m, _ in metrics}
    rows = max(len(v) for v in family.values())
    fig = _figure(11, 1.4 + 0.36 * max(rows, 3))
    axes = fig.subplots(1, 2)
    for ax, (metric, label) in zip(axes, metrics):
        shown = family[metric]
        if not shown:
            _no_data(ax, "no comparison in the family")
            continue
        positions = list(range(len(shown)))[::-1]
        ax.barh(positions, [t["cliffs_delta"] for t in shown],
                color=["#1f4e79" if t["is_significant"] else "#b8c9d9" for t in shown], edgecolor="#333333",
                linewidth=0.5)
        ax.set_yticks(positions)
        ax.set_yticklabels([f"{t['dimension']}: {t['value']} (n={t['films']})" for t in shown], fontsize=8)
        ax.axvline(0, color="#555555", linewidth=1)
        ax.set_xlim(-1, 1)
        ax.set_xlabel(f"Cliff's delta, {label} (vs films without soundtrack)")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Effect sizes of the family's comparisons, smallest p-values first (dark: significant after "
                 "Holm's correction)", fontsize=10)
    fig.tight_layout()
    return fig


def _share_bars(rows: list[dict], key: Callable[[dict], str], title: str, horizontal: bool = True) -> Figure:
    fig = _figure(9, 1.2 + 0.32 * max(len(rows), 4) if horizontal else 4)
    ax = fig.subplots()
    if not rows:
        _no_data(ax)
        return fig
    labels = [f"{key(r)} (n={r['films']})" for r in rows]
    shares = [100 * (r["soundtrack_share"] or 0) for r in rows]
    colours = ["#b8c9d9" if r["is_small_group"] else "#1f4e79" for r in rows]
    # Up to 100 %, but zoomed in when every share is small, so that low coverage stays visible.
    limit = min(100.0, max(1.0, 1.15 * max(shares)))
    if horizontal:
        positions = list(range(len(rows)))[::-1]
        ax.barh(positions, shares, color=colours)
        ax.set_yticks(positions)
        ax.set_yticklabels(labels)
        ax.set_xlabel("films with a soundtrack album (%)")
        ax.set_xlim(0, limit)
    else:
        ax.bar(range(len(rows)), shares, color=colours)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_ylabel("films with a soundtrack album (%)")
        ax.set_ylim(0, limit)
    ax.set_title(f"{title} (pale: fewer than {MIN_GROUP_SIZE} films)", fontsize=10)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    return fig


def chart_composers(rows: list[dict]) -> Figure:
    fig = _figure(9, 1.2 + 0.32 * max(len(rows), 4))
    ax = fig.subplots()
    if not rows:
        _no_data(ax)
        return fig
    positions = list(range(len(rows)))[::-1]
    ax.barh(positions, [r["matched_films"] for r in rows], color="#2a9d8f", label="films with a matched album")
    ax.barh(positions, [r["credited_films"] - r["matched_films"] for r in rows],
            left=[r["matched_films"] for r in rows], color="#d9e8e6", label="other films credited (TMDB)")
    ax.set_yticks(positions)
    ax.set_yticklabels([r["composer"] for r in rows])
    ax.set_xlabel("films")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Most-matched composers (TMDB composer credits)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def chart_formats(rows: list[dict]) -> Figure:
    """Per album decade: share of albums with each format, and share reissued."""
    fig = _figure(10, 6.5)
    top, bottom = fig.subplots(2, 1, sharex=True)
    if not rows:
        _no_data(top)
        _no_data(bottom)
        return fig
    groups = (*FORMAT_GROUPS, "other")
    positions = list(range(len(rows)))
    width = 0.8 / len(groups)
    for i, group in enumerate(groups):
        top.bar([p - 0.4 + width * (i + 0.5) for p in positions],
                [100 * r[f"{group}_albums"] / r["albums"] for r in rows], width=width, label=FORMAT_LABELS[group])
    top.set_ylabel("albums with a release\nin this format (%)")
    top.set_ylim(0, 100)
    top.legend(fontsize=8, ncol=5, loc="upper left")
    top.set_title("Matched soundtrack albums by album decade: formats and reissues", fontsize=10)
    top.grid(axis="y", alpha=0.3)
    bottom.bar(positions, [100 * (r["reissue_share"] or 0) for r in rows], color="#e76f51")
    bottom.set_ylabel("albums released again\nin a later year (%)")
    bottom.set_ylim(0, 100)
    bottom.set_xticks(positions)
    bottom.set_xticklabels([f"{r['decade']}s (n={r['albums']})" for r in rows], rotation=30, ha="right")
    bottom.grid(axis="y", alpha=0.3)
    return fig


def render_charts(data: ReportData) -> list[Chart]:
    """The report's charts as PNG data URIs, in page order."""
    def decade_label(r: dict) -> str:
        return "unknown" if r["decade"] is None else f"{r['decade']}s"

    specs = [
        ("effect_sizes", "Effect sizes of the tested comparisons",
         f"Cliff's delta of each comparison in the family against films without a soundtrack album (the "
         f"{TOP_CHART_GROUPS} smallest p-values per metric); dark bars stay significant after Holm's correction.",
         lambda: chart_effect_sizes(data.effect_tests)),
        ("style_vs_film", "Descriptive means of film popularity and rating per soundtrack genre and style",
         f"Bars: group means; whiskers: 95 % confidence intervals (those of small groups may run past the axis); "
         f"the comparison groups and the {TOP_CHART_GROUPS} largest genre/style groups.",
         lambda: chart_style_vs_film(data.style_rows)),
        ("coverage_genre", "Coverage by film genre", "Share of films with at least one matched soundtrack album.",
         lambda: _share_bars(data.coverage_genre, lambda r: r["film_genre"], "Coverage by film genre")),
        ("coverage_decade", "Coverage by decade", "Share of films with a soundtrack album by release decade.",
         lambda: _share_bars(data.coverage_decade, decade_label, "Coverage by release decade", horizontal=False)),
        ("coverage_language", "Coverage by original language",
         f"The {TOP_LANGUAGES} languages with the most films (TMDB original language codes).",
         lambda: _share_bars(data.coverage_language, lambda r: r["original_language"],
                             "Coverage by original language")),
        ("composers", "Most-matched composers", f"The {TOP_COMPOSERS} composers with the most matched films.",
         lambda: chart_composers(data.composers)),
        ("formats_by_year", "Formats and reissues over time",
         "Top: share of each decade's albums with at least one release in each format (an album can have several). "
         "Bottom: share of albums released again in a later year. Per year in the table below.",
         lambda: chart_formats(data.formats_decade)),
    ]
    with chart_fonts():
        return [Chart(name, title, caption, _png_uri(build())) for name, title, caption, build in specs]


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({"num": _fmt_num, "pct": _fmt_pct, "md": _md_cell, "pval": _fmt_p, "signed": _fmt_signed})
    env.globals.update({
        "MIN_GROUP_SIZE": MIN_GROUP_SIZE, "FORMAT_GROUPS": list(FORMAT_GROUPS) + ["other"],
        "FORMAT_LABELS": FORMAT_LABELS,
    })
    return env


def render_html(data: ReportData, charts: list[Chart]) -> str:
    """The self-contained HTML page."""
    return _environment().get_template("report.html").render(d=data, charts=charts)


def render_markdown(data: ReportData, html_name: str) -> str:
    """The Markdown summary: key figures, findings, match quality, provenance and limits."""
    return _environment().get_template("report.md").render(d=data, html_name=html_name)


def write_report(spark: SparkSession, layers: storage.Layers, run_metrics: RunMetrics | None = None,
                 run_id: str | None = None) -> dict[str, str]:
    """Build the report and write `reports/report_<run_id>.html` and `.md` under DATA_ROOT.

    Args:
        run_metrics: the metrics of the run just finished (the runner passes them, after writing
            them to `metrics/run_<run_id>.json`).
        run_id: report this run's metrics file (ignored when `run_metrics` is given).

    Returns:
        {"html": path, "md": path}.

    Raises:
        ReportError: a gold table is missing, or `run_id` has no metrics file.
    """
    data = collect_report_data(spark, layers, run_metrics=run_metrics, run_id=run_id)
    html_name = f"report_{data.run_id}.html"
    paths = {"html": layers.reports(html_name), "md": layers.reports(f"report_{data.run_id}.md")}
    storage.write_text(spark, paths["html"], render_html(data, render_charts(data)))
    storage.write_text(spark, paths["md"], render_markdown(data, html_name))
    logger.info("report written: %s (metrics: %s)", paths["html"], data.metrics_source)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts_spark.report", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="DATA_ROOT (folder or abfss:// URI; default from .env / settings)")
    parser.add_argument("--run-id", help="report this run's metrics (default: the newest run with step 05 ok)")
    parser.add_argument("--master", help="Spark master (overrides SPARK_MASTER)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild the report from the gold tables: exit 0 written, 1 cannot be built, 2 bad configuration."""
    from scripts.settings import ConfigError

    args = build_parser().parse_args(argv)
    try:
        settings = settings_with({"DATA_ROOT": args.data_root, "SPARK_MASTER": args.master})
    except ConfigError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)

    from scripts_spark.session import build_spark

    spark = build_spark(master=settings.spark_master)
    try:
        # The published gold (gold/_CURRENT) and, unless --run-id says otherwise, its run's metrics.
        layers = storage.published(spark, storage.Layers(settings.data_root))
        run_id = args.run_id or storage.current_run_id(spark, layers)
        paths = write_report(spark, layers, run_id=run_id)
    except ReportError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    say(f"report: {paths['html']}\nsummary: {paths['md']}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
