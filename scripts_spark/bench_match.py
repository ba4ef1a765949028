"""The `match` section of `make bench`: matcher quality and time on labelled worlds, against the
replaced RapidFuzz rule and a Splink model.

See `scripts_spark.bench` for what is measured and the targets.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from scripts.bench_common import PROJECT_ROOT, BenchError, Plan, format_table, ratio, verdict
from scripts.console import say
from scripts.exit_codes import EXIT_OK
from scripts.gold_digest import gold_folder
from scripts.true_pairs import read_true_pairs
from scripts_spark.cli import configure_logging

logger = logging.getLogger(__name__)


MATCH_PRECISION_TARGET, MATCH_RECALL_TARGET = 0.98, 0.95


MATCH_SEED = 7  # not the pipeline's default 42, which the matcher was developed on


# Splink and the packages it needs at versions that install for Python 3.10, in a folder of their
# own (see the module docstring). pyarrow is the one that conflicts with the project's pins.
SPLINK_PACKAGES = ("splink==5.0.0", "duckdb==1.5.6", "pyarrow==25.0.1", "sqlglot==30.30.0")


SPLINK_THRESHOLD = 0.5  # match probability; Fellegi-Sunter's own decision point (weight 0), not tuned


def pair_quality(predicted: set, truth: set) -> dict:
    """Precision, recall and F1 of predicted (tmdb_id, album_id) pairs against the true ones."""
    from scripts_spark.pair_quality import quality_figures

    return quality_figures(len(predicted & truth), len(predicted), len(truth))


def _year(value) -> int | None:
    """A usable year (an int above 0) from an int, float or NaN; None otherwise."""
    if value is None:
        return None
    try:
        year = int(value)
    except (TypeError, ValueError):
        return None
    return year if year > 0 else None


def rule_pairs(films: Iterable[tuple], albums: Iterable[tuple], scorer: Callable[..., float], *,
               processor: Callable[[str], str] | None = None, threshold: float = 85.0,
               year_window: int = 2) -> set[tuple[int, str]]:
    """The replaced system's rule: every (film, album) whose raw titles score >= `threshold` and
    whose years differ by at most `year_window`.

    Args:
        films: (tmdb_id, title, year) tuples.
        albums: (album_id, title, year) tuples, already restricted to soundtrack albums.
        scorer: `rapidfuzz.fuzz.token_set_ratio` or anything with its signature.
        processor: passed to the scorer (None: titles compared exactly as written).

    Returns:
        {(tmdb_id, album_id)}. Films are looked up by year (album year +-`year_window`) so the
        baseline finishes; the rule itself needs the years that close, so no pair is lost by it.
    """
    by_year: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for tmdb_id, title, year in films:
        year = _year(year)
        if year is not None and title:
            by_year[year].append((int(tmdb_id), title))
    pairs: set[tuple[int, str]] = set()
    for album_id, title, year in albums:
        year = _year(year)
        if year is None or not title:
            continue
        for film_year in range(year - year_window, year + year_window + 1):
            for tmdb_id, film_title in by_year.get(film_year, ()):
                if scorer(title, film_title, processor=processor, score_cutoff=threshold) >= threshold:
                    pairs.add((tmdb_id, album_id))
    return pairs


def _silver_frames(spark, data_root: Path):
    films = spark.read.parquet(str(data_root / "silver" / "films")) \
        .select("tmdb_id", "title", "release_year").toPandas()
    albums = spark.read.parquet(str(data_root / "silver" / "albums")) \
        .select("album_id", "title", "year", "genres").toPandas()
    return films, albums


def rapidfuzz_rule(films_pd, albums_pd, *, default_process: bool) -> set[tuple[int, str]]:
    """The replaced system's rule over collected silver tables (raw titles, Stage & Screen albums)."""
    from rapidfuzz import fuzz, utils

    soundtracks = albums_pd[albums_pd["genres"].map(lambda g: g is not None and "Stage & Screen" in list(g))]
    return rule_pairs(
        films_pd[["tmdb_id", "title", "release_year"]].itertuples(index=False, name=None),
        soundtracks[["album_id", "title", "year"]].itertuples(index=False, name=None),
        fuzz.token_set_ratio, processor=utils.default_process if default_process else None)


def _run_ours(data_root: Path, run_id: str) -> dict:
    """Steps 1-4 through the pipeline's own entry (it reuses the active SparkSession)."""
    from scripts_spark import pipeline

    captured = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(captured):
        code = pipeline.main(["--data-root", str(data_root), "--steps", "1-4", "--run-id", run_id])
    wall = time.monotonic() - started
    configure_logging("WARNING")  # the pipeline configured the project loggers for its own run
    if code != 0:
        raise BenchError(f"pipeline steps 1-4 failed with exit code {code}: {captured.getvalue().strip()[-500:]}")
    metrics = json.loads((data_root / "metrics" / f"run_{run_id}.json").read_text(encoding="utf-8"))
    return {"wall_s": round(wall, 2), "metrics": metrics,
            "step_seconds": {s["step"]: s["seconds"] for s in metrics.get("steps", [])}}


def _our_pairs(spark, data_root: Path) -> set[tuple[int, str]]:
    rows = spark.read.parquet(str(gold_folder(data_root) / "soundtrack_matches")).select("tmdb_id", "album_id").collect()
    return {(int(r["tmdb_id"]), r["album_id"]) for r in rows}


def default_splink_overlay() -> Path:
    return Path(sys.prefix) / "bench-splink-overlay"


def ensure_splink_overlay(target: Path, timeout: float = 600.0) -> tuple[Path | None, str]:
    """Install `SPLINK_PACKAGES` into `target` (pip --target --no-deps) unless already there.

    Returns:
        (folder, "") when usable, else (None, the reason).
    """
    marker = target / ".bench-packages"
    wanted = "\n".join(SPLINK_PACKAGES)
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return target, ""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--target", str(staging), *SPLINK_PACKAGES]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"pip install {' '.join(SPLINK_PACKAGES)} did not finish: {exc}"
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        return None, f"pip install {' '.join(SPLINK_PACKAGES)} failed: {tail}"
    (staging / ".bench-packages").write_text(wanted, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target, ""


def _run_splink(data_root: Path, overlay: Path, scratch: Path, u_pairs: float) -> dict:
    result = scratch / "splink_result.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(overlay), str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "scripts_spark.bench", "--worker", "splink", "--data-root", str(data_root),
           "--result", str(result), "--out", str(scratch), "--splink-u-pairs", str(u_pairs)]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    wall = time.monotonic() - started
    if done.returncode != 0 or not result.is_file():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"available": False, "reason": f"the Splink run failed (exit {done.returncode}): {tail[-600:]}"}
    payload = json.loads(result.read_text(encoding="utf-8"))
    payload.update(available=True, process_wall_s=round(wall, 2))
    return payload


def _worker_splink(data_root: Path, result: Path, scratch: Path, u_pairs: float) -> int:
    """Link silver films and soundtrack albums with Splink 5 on Spark; write pairs and timings.

    Runs in its own interpreter with the overlay first on the path (see the module docstring) and
    its own SparkSession, since the similarity jar must be on the classpath from the start.
    """
    import splink
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from pyspark.sql import functions as F
    from splink import Linker, SettingsCreator, SparkAPI, block_on
    from splink.backends.spark import similarity_jar_location

    from scripts_spark.session import build_spark

    started = time.monotonic()
    spark = build_spark(app_name="bench-splink", master="local[2]",
                        extra_conf={"spark.jars": similarity_jar_location()})
    spark.sparkContext.setCheckpointDir(str(scratch / "splink_checkpoints"))
    ready = time.monotonic()
    films = spark.read.parquet(str(data_root / "silver" / "films"))
    albums = spark.read.parquet(str(data_root / "silver" / "albums"))
    # Our silver features (title keys, composers) and the same eligible albums as our matcher, so
    # what is compared is the scoring model. Each title key of an album is a record of its own
    # (a two-film album can link to both films).
    films_df = films.select(
        F.col("tmdb_id").cast("string").alias("unique_id"), "tmdb_id", F.lit(None).cast("string").alias("album_id"),
        "title_key", F.coalesce("original_title_key", "title_key").alias("original_title_key"),
        F.coalesce("main_title_key", "title_key").alias("main_key"), F.col("release_year").cast("int").alias("year"),
        F.coalesce("composer_keys", F.array().cast("array<string>")).alias("composer_keys"))
    from scripts_spark.step_04_match import soundtrack_albums

    eligible = soundtrack_albums(albums)
    pieces = eligible.select(
        "album_id", F.posexplode("title_keys").alias("pos", "title_key"),
        F.element_at("main_title_keys", 1).alias("album_main_key"), F.col("year").cast("int").alias("year"),
        F.array_union(F.coalesce("artist_keys", F.array().cast("array<string>")),
                      F.coalesce("credit_keys", F.array().cast("array<string>"))).alias("composer_keys"))
    albums_df = pieces.select(
        F.concat_ws("#", "album_id", F.col("pos").cast("string")).alias("unique_id"),
        F.lit(None).cast("long").alias("tmdb_id"), "album_id", "title_key",
        F.col("title_key").alias("original_title_key"), F.coalesce("album_main_key", "title_key").alias("main_key"),
        "year", "composer_keys")
    settings = SettingsCreator(
        link_type="link_only",
        # Symmetric equi-joins only, like ours: title key, film original title vs album key, main title.
        blocking_rules_to_generate_predictions=[
            block_on("title_key"), "l.original_title_key = r.original_title_key", block_on("main_key")],
        comparisons=[
            cl.JaroWinklerAtThresholds("title_key", [0.97, 0.9]),
            cl.CustomComparison(output_column_name="year", comparison_levels=[
                cll.NullLevel("year"), cll.ExactMatchLevel("year"), cll.AbsoluteDifferenceLevel("year", 1),
                cll.AbsoluteDifferenceLevel("year", 3), cll.ElseLevel()]),
            cl.ArrayIntersectAtSizes("composer_keys", [1]),
        ],
        additional_columns_to_retain=["tmdb_id", "album_id"],
    )
    db_api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    linker = Linker([db_api.register(films_df, dataset_display_name="films"),
                     db_api.register(albums_df, dataset_display_name="albums")], settings, log_level="WARNING")
    train_started = time.monotonic()
    linker.training.estimate_probability_two_random_records_match(
        ["l.title_key = r.title_key and abs(l.year - r.year) <= 1"], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=MATCH_SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("title_key"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("year"))
    predict_started = time.monotonic()
    scored = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD).as_spark_dataframe()
    # Orientation of l/r is Splink's business: take whichever side holds the film.
    pairs_df = scored.select(
        F.coalesce("tmdb_id_l", "tmdb_id_r").alias("tmdb_id"), F.coalesce("album_id_l", "album_id_r").alias("album_id"),
        F.when(F.col("album_id_l").isNotNull(), F.col("unique_id_l")).otherwise(F.col("unique_id_r")).alias("piece"),
        "match_probability")
    best = {}
    for row in pairs_df.collect():
        kept = best.get(row["piece"])
        if kept is None or (row["match_probability"], -row["tmdb_id"]) > (kept[2], -kept[0]):
            best[row["piece"]] = (int(row["tmdb_id"]), row["album_id"], row["match_probability"])
    finished = time.monotonic()
    result.write_text(json.dumps({
        "splink_version": splink.__version__, "pyarrow_version": __import__("pyarrow").__version__,
        "threshold_match_probability": SPLINK_THRESHOLD, "scored_pairs": len(best),
        "pairs": sorted({(t, a) for t, a, _p in best.values()}),
        "seconds": {"session_start": round(ready - started, 2), "train": round(predict_started - train_started, 2),
                    "predict": round(finished - predict_started, 2), "model": round(finished - ready, 2)},
    }), encoding="utf-8")
    spark.stop()
    return EXIT_OK


def run_match(plan: Plan, scratch: Path, *, splink: str, splink_overlay: Path,
              worlds_dirs: Sequence[Path] | None = None) -> dict:
    """The match section: ours, the replaced rule and Splink on the same generated data; then ours
    on the real labelled set and on each labelled world in `worlds_dirs`."""
    from scripts.generate_sample_data import TRUE_PAIRS_FILE, generate
    from scripts.settings import load_settings
    from scripts_spark.session import build_spark

    data_root = scratch / f"match_films_{plan.match_films}"
    raw = data_root / "raw"
    if not (raw / TRUE_PAIRS_FILE).is_file():
        generate(raw, films=plan.match_films, seed=MATCH_SEED, overwrite=True)
    truth = read_true_pairs(raw / TRUE_PAIRS_FILE)
    settings = load_settings()
    spark = build_spark(app_name="bench", master=settings.spark_master)
    run_id = "bench_" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    ours_run = _run_ours(data_root, run_id)
    steps = ours_run["step_seconds"]
    ours_match_s = steps.get("04_match")
    normalize_s = steps.get("03_normalize") or 0.0
    methods = [{"method": "ours (step 04)", "key": "ours", "seconds": ours_match_s,
                "from_bronze_s": round(normalize_s + (ours_match_s or 0.0), 2),
                **pair_quality(_our_pairs(spark, data_root), truth),
                "pipeline_quality": ours_run["metrics"].get("quality")}]

    started = time.monotonic()
    films_pd, albums_pd = _silver_frames(spark, data_root)
    collect_s = time.monotonic() - started
    try:
        import rapidfuzz
    except ImportError:
        rapidfuzz = None
    for default_process, label in ((False, "replaced rule: rapidfuzz, raw titles"),
                                   (True, "replaced rule + rapidfuzz default_process")):
        key = "rapidfuzz_default_process" if default_process else "rapidfuzz"
        if rapidfuzz is None:
            methods.append({"method": label, "key": key, "available": False,
                            "reason": "rapidfuzz not installed: pip install -r requirements_bench.txt"})
            continue
        started = time.monotonic()
        predicted = rapidfuzz_rule(films_pd, albums_pd, default_process=default_process)
        rule_s = time.monotonic() - started
        seconds = collect_s + rule_s
        methods.append({"method": label, "key": key, "seconds": round(seconds, 2), "collect_s": round(collect_s, 2),
                        "rule_s": round(rule_s, 2),
                        "from_bronze_s": round(normalize_s + seconds, 2), "rapidfuzz_version": rapidfuzz.__version__,
                        **pair_quality(predicted, truth)})

    label = f"splink {SPLINK_PACKAGES[0].split('==')[1]} (spark)"
    if splink == "off":
        methods.append({"method": label, "key": "splink", "available": False, "reason": "--no-splink"})
    else:
        overlay, reason = ensure_splink_overlay(splink_overlay)
        result = _run_splink(data_root, overlay, scratch, plan.splink_u_pairs) if overlay else \
            {"available": False, "reason": reason}
        if result.get("available"):
            predicted = {(int(t), a) for t, a in result.pop("pairs")}
            result["splink_seconds"] = result.pop("seconds")
            model_s = result["splink_seconds"]["model"]
            methods.append({"method": label, "key": "splink", **result, "seconds": model_s,
                            "from_bronze_s": round(normalize_s + model_s, 2), **pair_quality(predicted, truth)})
        else:
            methods.append({"method": label, "key": "splink", **result})

    for method in methods:
        method["time_vs_ours"] = ratio(method.get("seconds"), ours_match_s)
    ours = methods[0]
    checks = [verdict("match: ours precision", ours["precision"], MATCH_PRECISION_TARGET),
              verdict("match: ours recall", ours["recall"], MATCH_RECALL_TARGET)]
    for method in methods[1:]:
        if "f1" in method:
            checks.append(verdict(f"match: ours F1 / {method['key']} F1", ratio(ours["f1"], method["f1"]), 1.0,
                                  detail="ours at least as good"))

    say(f"\n== match: seed {MATCH_SEED}, {plan.match_films} films, {len(truth)} true pairs; "
         f"steps 1-4 took {ours_run['wall_s']:.1f} s ({', '.join(f'{k} {v:.1f}s' for k, v in steps.items())}) ==")
    say(format_table(
        ["method", "precision", "recall", "F1", "predicted pairs", "seconds", "time/ours", "from bronze s"],
        [[m["method"], m.get("precision"), m.get("recall"), m.get("f1"), m.get("predicted_pairs"), m.get("seconds"),
          m.get("time_vs_ours"), m.get("from_bronze_s")] for m in methods]))
    for method in methods:
        if method.get("available") is False:
            say(f"  {method['key']}: not available: {method['reason']}")
    say("  replaced rule: fuzz.token_set_ratio(album title, film title) >= 85 and |year gap| <= 2 on Stage & "
         "Screen albums, every passing pair kept; raw titles as written (processor None), and once with "
         "rapidfuzz's utils.default_process (lowercase, symbols out) as a kinder variant.\n"
         f"  splink: Fellegi-Sunter on our silver title keys, year and composers, the same eligible albums "
         f"and equi-join blocking as ours; best film per album title key with match probability >= "
         f"{SPLINK_THRESHOLD} (weight 0, not tuned).\n"
         "  seconds: ours = step 04 (blocking, scoring, assignment, gold writes, quality counts); replaced "
         "rule = silver collected to pandas + the rule in plain Python, films looked up by album year +-2 "
         "(the rule needs that closeness anyway, so no pair is lost); splink = training + prediction in its "
         "own process (excluding its JVM start). from bronze = + step 03 (silver), which all of them read.")
    worlds = _labelled_worlds(scratch, worlds_dirs or [], run_id)
    for world in worlds:
        if world.get("quality"):
            checks.append(verdict(f"match: {world['name']} precision", world["quality"]["precision"],
                                  MATCH_PRECISION_TARGET))
            checks.append(verdict(f"match: {world['name']} recall", world["quality"]["recall"], MATCH_RECALL_TARGET))
    say("\n== match on labelled worlds: ours, steps 1-4 ==")
    say(format_table(
        ["world", "true pairs", "precision", "recall", "F1", "pair completeness", "step 04 s", "max cand/album"],
        [[w["name"], (w.get("quality") or {}).get("true_pairs"), (w.get("quality") or {}).get("precision"),
          (w.get("quality") or {}).get("recall"), (w.get("quality") or {}).get("f1"),
          (w.get("quality") or {}).get("pair_completeness"), w.get("match_s"), w.get("max_candidates_per_album")]
         for w in worlds]))
    for world in worlds:
        if world.get("reason"):
            say(f"  {world['name']}: {world['reason']}")
    return {"films": plan.match_films, "seed": MATCH_SEED, "true_pairs": len(truth), "ours_steps_s": steps,
            "methods": methods, "worlds": worlds, "checks": checks}


def _real_labelled_raw(target: Path) -> str | None:
    """TMDB 5000 x the Discogs dump samples with the three hand-labelled true pairs (Star Trek 2009,
    Anomalisa, The Second Best Exotic Marigold Hotel) under `target`; a reason when the data is absent."""
    from scripts.import_kaggle_tmdb import import_csv

    shared = PROJECT_ROOT.parent / "shared" / "data"
    if not (shared / "tmdb_5000").is_dir():
        return f"real data not found at {shared}"
    import_csv(shared / "tmdb_5000" / "tmdb_5000_movies.csv", target / "tmdb",
               shared / "tmdb_5000" / "tmdb_5000_credits.head198.csv")
    (target / "discogs").mkdir(parents=True, exist_ok=True)
    for kind in ("masters", "releases"):
        shutil.copy(shared / "discogs_dump_xml" / f"discogs_20200806_{kind}.xml.gz", target / "discogs")
    (target / "true_pairs.csv").write_text(
        "tmdb_id,discogs_master_id,discogs_release_id\n"
        "13475,129711,1750386\n268238,1033347,8689395\n291270,1162025,10102504\n", encoding="utf-8")
    return None


def _labelled_worlds(scratch: Path, world_dirs: Sequence[Path], run_id: str) -> list[dict]:
    """Our pipeline (steps 1-4) on the real labelled set and on each `--world DIR` (a DATA_ROOT whose
    raw/ holds TMDB, Discogs and true_pairs.csv, written by someone else): quality with pair
    completeness, step 04 seconds and the bound on candidates per album, from the run's metrics."""
    sources: list[tuple[str, Path | None]] = [("real: TMDB 5000 x dump samples", None)]
    sources += [(f"world: {Path(d).name}", Path(d)) for d in world_dirs]
    out = []
    for index, (name, source) in enumerate(sources):
        root = scratch / f"labelled_{index}"
        shutil.rmtree(root, ignore_errors=True)
        if source is None:
            reason = _real_labelled_raw(root / "raw")
        elif not (source / "raw" / "true_pairs.csv").is_file():
            reason = f"{source}/raw/true_pairs.csv not found"
        else:
            shutil.copytree(source / "raw", root / "raw")
            reason = None
        if reason:
            out.append({"name": name, "reason": reason})
            continue
        run = _run_ours(root, f"{run_id}_w{index}")
        match_step = next((st for st in run["metrics"].get("steps", []) if st["step"] == "04_match"), {})
        out.append({"name": name, "quality": run["metrics"].get("quality"), "match_s": match_step.get("seconds"),
                    "candidate_pairs": match_step.get("details", {}).get("candidate_pairs"),
                    "max_candidates_per_album": match_step.get("details", {}).get("max_candidates_per_album")})
    return out
