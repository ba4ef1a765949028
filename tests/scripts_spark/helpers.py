"""Building bronze and silver tables from hand-written API-shaped records, for step tests."""
from __future__ import annotations

import json

from scripts.settings import DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES, load_settings
from scripts_spark import storage
from scripts_spark.context import StepContext
from scripts_spark.metrics import RunMetrics, StepMetrics
from scripts_spark.step_01_extract_tmdb import extract_tmdb
from scripts_spark.step_02_extract_discogs import extract_discogs
from scripts_spark.step_03_normalize import build_albums, normalize_albums, normalize_films


def lines(spark, records, source="test.jsonl"):
    rows = [(json.dumps(r, ensure_ascii=False), source) for r in records]
    return spark.createDataFrame(rows, "value string, source_file string")


def film(tmdb_id, title, date, composers=(), original_title=None, genres=("Drama",), popularity=10.0,
         vote_average=7.0, vote_count=100, language="en"):
    return {
        "id": tmdb_id, "title": title, "original_title": original_title or title, "original_language": language,
        "release_date": date, "genres": [{"id": i, "name": g} for i, g in enumerate(genres)],
        "popularity": popularity, "vote_average": vote_average, "vote_count": vote_count,
        "credits": {"crew": [{"id": 900 + i, "name": c, "job": "Original Music Composer", "department": "Sound"}
                             for i, c in enumerate(composers)]},
    }


def master(master_id, title, year, artists=(), genres=("Stage & Screen",), styles=("Soundtrack",),
           main_release=None):
    return {
        "id": master_id, "title": title, "year": year, "main_release": main_release,
        "artists": [{"id": 100 + i, "name": a, "anv": "", "join": "", "role": ""} for i, a in enumerate(artists)],
        "genres": list(genres), "styles": list(styles), "data_quality": "Correct",
    }


def release(release_id, title, year, master_id=None, artists=(), credits=(), genres=("Stage & Screen",),
            styles=("Soundtrack",), formats=("CD",), labels=("Label",), is_main=None, country="US"):
    return {
        "id": release_id, "status": "Accepted", "title": title, "year": year,
        "released": f"{year}-01-01" if year else "", "country": country, "master_id": master_id,
        "is_main_release": is_main,
        "artists": [{"id": 100 + i, "name": a, "anv": "", "join": "", "role": ""} for i, a in enumerate(artists)],
        "extraartists": [{"id": 200 + i, "name": n, "anv": "", "join": "", "role": role}
                         for i, (n, role) in enumerate(credits)],
        "genres": list(genres), "styles": list(styles),
        "formats": [{"name": f, "qty": "1", "text": "", "descriptions": ["Album"]} for f in formats],
        "labels": [{"id": 1, "name": lab, "catno": "X1"} for lab in labels],
        "data_quality": "Correct",
    }


def silver(spark, films, masters=(), releases=()):
    """(silver films, silver albums) from API-shaped records, through the real step functions."""
    movies_df, _ = extract_tmdb(lines(spark, films))
    masters_df, _ = extract_discogs(lines(spark, list(masters)), "masters")
    releases_df, _ = extract_discogs(lines(spark, list(releases)), "releases")
    films_df = normalize_films(movies_df)
    albums_df = normalize_albums(build_albums(masters_df, releases_df), DEFAULT_SOUNDTRACK_GENRES,
                                 DEFAULT_SOUNDTRACK_STYLES)
    # Materialised, as the pipeline reads silver from its Parquet: left lazy, every job of the step
    # under test re-ran the extraction and normalisation (JSON parsing, the pandas UDFs) inside its
    # own plan, and step 04's thirty-odd jobs took a minute on three films.
    return films_df.localCheckpoint(), albums_df.localCheckpoint()


def step_context(spark, root, step="test") -> StepContext:
    """The context the runner would hand a step running on DATA_ROOT `root` (default settings)."""
    run = RunMetrics(run_id="test", data_root=str(root))
    return StepContext(spark=spark, layers=storage.Layers(str(root)), settings=load_settings({"DATA_ROOT": str(root)}),
                       step_metrics=StepMetrics(step), run_metrics=run)
