"""Step 04: match Discogs soundtrack albums to TMDB films.

1. Blocking, by equi-joins only: an album meets the films that share one of its title keys
   (film title, original title, or the main title before a subtitle, on either side). No cross
   join, so the work grows with the number of shared keys, not films x albums.
2. Scoring: title evidence, year gap and composer agreement, each in [0, 1], weighted.
3. Assignment: each album (each film-title piece of a two-film album) goes to its best film
   above the threshold; a film may keep several albums (score and songs).
The near-misses just below the threshold are written for review, and when true pairs lie beside
the raw data the run's precision, recall, F1 and pair completeness are measured.
"""
from __future__ import annotations

import logging
import sys
from typing import Optional, Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from scripts_spark import runner, storage
from scripts_spark.context import StepContext
from scripts_spark.schemas import RAW_TRUE_PAIRS, TRUE_PAIRS_CSV

logger = logging.getLogger(__name__)

NAME = "04_match"
WRITES_GOLD = True   # its tables go to the run's gold folder, published with step 05's (runner)
THRESHOLD = 0.7
NEAR_MISS_FLOOR = 0.5
# A title key shared by more films than this ("Love", "Home") is blocked on key and year together,
# so the candidates of one album stay bounded however large the catalogue grows.
MAX_FILMS_PER_KEY = 50
WEIGHTS = {"title": 0.45, "year": 0.30, "composer": 0.25}
# Title evidence by how the keys met: the film's own title is the strongest.
TITLE_EVIDENCE = {"title": 1.0, "original_title": 0.95, "album_title_unstripped": 0.95,
                  "film_main_title": 0.85, "album_main_title": 0.85}


def film_keys(films_df: DataFrame) -> DataFrame:
    """(tmdb_id, film_year, key, key_source) for every way a film can be named."""
    sources = [("title_key", "title"), ("original_title_key", "original_title"), ("main_title_key", "film_main_title")]
    parts = [
        films_df.select("tmdb_id", F.col("release_year").alias("film_year"), F.col(col).alias("key"),
                        F.lit(source).alias("key_source"))
        for col, source in sources
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out.filter(F.col("key").isNotNull() & (F.col("key") != ""))


def album_keys(albums_df: DataFrame) -> DataFrame:
    """(album_id, album_year, part, key, key_source): per title piece its key, its main-title key and
    its unstripped key, where they exist."""
    full = albums_df.select("album_id", F.col("year").alias("album_year"),
                            F.posexplode("title_keys").alias("part", "key")) \
        .withColumn("key_source", F.lit("album_title"))
    main = albums_df.select("album_id", F.col("year").alias("album_year"),
                            F.posexplode("main_title_keys").alias("part", "key")) \
        .withColumn("key_source", F.lit("album_main_title"))
    alt = albums_df.select("album_id", F.col("year").alias("album_year"),
                           F.posexplode("alt_title_keys").alias("part", "key")) \
        .withColumn("key_source", F.lit("album_title_unstripped"))
    return full.unionByName(main).unionByName(alt).filter(F.col("key") != "")


def blocked_key_pairs(fk: DataFrame, ak: DataFrame, max_films_per_key: int = MAX_FILMS_PER_KEY) -> DataFrame:
    """Equi-join film keys with album keys.

    A rare key joins on the key alone. A common key (more than `max_films_per_key` films) joins on
    the key and the film year, the album being offered to films from two years before to one
    year after its own year; an album of unknown year gets no candidates through a common key.
    """
    sizes = fk.groupBy("key").agg(F.countDistinct("tmdb_id").alias("films_with_key"))
    is_common = F.col("films_with_key") > max_films_per_key
    fk = fk.join(sizes, on="key", how="inner")
    ak = ak.join(sizes, on="key", how="inner")
    rare = fk.filter(~is_common).drop("films_with_key").join(
        ak.filter(~is_common).drop("films_with_key"), on="key", how="inner"
    )
    common_albums = ak.filter(is_common & F.col("album_year").isNotNull()).drop("films_with_key").withColumn(
        "film_year", F.explode(F.sequence(F.col("album_year") - 2, F.col("album_year") + 1))
    )
    common = fk.filter(is_common).drop("films_with_key").join(common_albums, on=["key", "film_year"], how="inner")
    return rare.unionByName(common)


def candidate_pairs(films_df: DataFrame, albums_df: DataFrame) -> DataFrame:
    """Blocked (album_id, part, tmdb_id) pairs with the strongest title evidence of each pair.

    Film-main-title keys only meet full album keys, and album-main-title keys only meet full film
    keys, so "Star Wars" meets "Star Wars: A New Hope" but two unrelated subtitled titles that
    share a prefix do not meet through both prefixes.
    """
    fk = film_keys(films_df).withColumnRenamed("key_source", "film_key_source")
    ak = album_keys(albums_df).withColumnRenamed("key_source", "album_key_source")
    joined = blocked_key_pairs(fk, ak).filter(
        ~((F.col("film_key_source") == "film_main_title") & (F.col("album_key_source") == "album_main_title"))
    )
    album_side = F.col("album_key_source")
    evidence = (
        F.when(album_side.isin("album_main_title", "album_title_unstripped"), album_side)
        .otherwise(F.col("film_key_source"))
    )
    scored = joined.select("album_id", "part", "tmdb_id", "key", evidence.alias("title_evidence"))
    mapping = F.create_map(*[x for k, v in TITLE_EVIDENCE.items() for x in (F.lit(k), F.lit(v))])
    scored = scored.withColumn("title_score", mapping[F.col("title_evidence")])
    best = Window.partitionBy("album_id", "part", "tmdb_id").orderBy(F.col("title_score").desc(), "title_evidence")
    return scored.withColumn("_r", F.row_number().over(best)).filter("_r = 1").drop("_r")


def year_score(gap: Column) -> Column:
    """1 for an album in the film's year or the next; less the further away; 0.5 when unknown.

    An album years after the film may be a late release or reissue, so it keeps a little weight;
    an album years before the film is almost never its soundtrack.
    """
    return (
        F.when(gap.isNull(), F.lit(0.5))
        .when(gap.between(0, 1), F.lit(1.0))
        .when(gap == -1, F.lit(0.7))
        .when(gap == 2, F.lit(0.6))
        .when(gap > 2, F.lit(0.3))
        .otherwise(F.lit(0.0))
    )


def composer_score(film_keys_col: Column, album_keys_col: Column) -> Column:
    """1 when a film composer is an album artist or credit, 0 when both sides name people who
    differ, 0.5 when either side names nobody."""
    has_both = (F.size(film_keys_col) > 0) & (F.size(album_keys_col) > 0)
    return (
        F.when(~has_both, F.lit(0.5))
        .when(F.arrays_overlap(film_keys_col, album_keys_col), F.lit(1.0))
        .otherwise(F.lit(0.0))
    )


def score_candidates(candidates_df: DataFrame, films_df: DataFrame, albums_df: DataFrame) -> DataFrame:
    """Join film and album facts to candidate pairs and compute the score and its components."""
    films = films_df.select(
        "tmdb_id", F.col("title").alias("film_title"), F.col("release_year").alias("film_year"),
        "composer_keys", "vote_count",
    )
    albums = albums_df.select(
        "album_id", "discogs_master_id", "discogs_release_id", F.col("title").alias("album_title"),
        F.col("year").alias("album_year"),
        F.array_distinct(F.concat("artist_keys", "credit_keys")).alias("album_people"),
    )
    pairs = candidates_df.join(films, on="tmdb_id", how="inner").join(albums, on="album_id", how="inner")
    gap = F.col("album_year") - F.col("film_year")
    people_overlap = F.array_intersect("composer_keys", "album_people")
    return (
        pairs.withColumn("year_gap", gap)
        .withColumn("year_score", year_score(gap))
        .withColumn("composer_score", composer_score(F.col("composer_keys"), F.col("album_people")))
        .withColumn("composer_match", F.array_join(people_overlap, "; "))
        .withColumn(
            "match_score",
            F.round(
                F.col("title_score") * WEIGHTS["title"]
                + F.col("year_score") * WEIGHTS["year"]
                + F.col("composer_score") * WEIGHTS["composer"],
                4,
            ),
        )
    )


def soundtrack_albums(albums_df: DataFrame) -> DataFrame:
    """Albums that can be a film's soundtrack: filed as soundtracks and not TV, game, stage or a
    compilation of many films' themes."""
    return albums_df.filter(F.col("is_soundtrack") & (F.col("album_kind") == "film"))


def assign_best(scored_df: DataFrame) -> DataFrame:
    """Rank each album piece's candidates: best score, then smallest year gap, then most-voted film,
    then lowest id (deterministic). Adds `rank` and `candidates`."""
    order = Window.partitionBy("album_id", "part").orderBy(
        F.col("match_score").desc(), F.abs(F.coalesce("year_gap", F.lit(99))).asc(),
        F.col("vote_count").desc_nulls_last(), F.col("tmdb_id").asc(),
    )
    count = Window.partitionBy("album_id", "part")
    return scored_df.withColumn("rank", F.row_number().over(order)) \
        .withColumn("candidates", F.count("*").over(count))


_OUTPUT_COLUMNS = [
    "tmdb_id", "discogs_master_id", "discogs_release_id", "match_score",
    "album_id", "album_title", "film_title", "album_year", "film_year", "year_gap",
    "title_evidence", "title_score", "year_score", "composer_score", "composer_match", "candidates",
]


def match(films_df: DataFrame, albums_df: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Match albums to films.

    Args:
        films_df: silver films.
        albums_df: silver albums.

    Returns:
        (matches, near_misses, candidates): matches follow the output contract plus evidence
        columns; near-misses are each album piece's best candidate scoring in
        [NEAR_MISS_FLOOR, THRESHOLD); candidates are all blocked (album, film) pairs, for pair
        completeness and the bound on candidates per album.
    """
    eligible_df = soundtrack_albums(albums_df)
    candidates_df = candidate_pairs(films_df, eligible_df)
    ranked_df = assign_best(score_candidates(candidates_df, films_df, eligible_df))
    best_df = ranked_df.filter(F.col("rank") == 1)
    matches_df = (
        best_df.filter(F.col("match_score") >= THRESHOLD)
        .withColumn("rule", F.lit(f"score>={THRESHOLD}"))
        # A two-film album whose pieces both point at the same film is one match.
        .dropDuplicates(["album_id", "tmdb_id"])
        .select(*_OUTPUT_COLUMNS, "rule")
    )
    near_df = best_df.filter(
        (F.col("match_score") < THRESHOLD) & (F.col("match_score") >= NEAR_MISS_FLOOR)
    ).select(*_OUTPUT_COLUMNS)
    pairs_df = candidates_df.join(
        eligible_df.select("album_id", "discogs_master_id", "discogs_release_id"), on="album_id", how="inner"
    ).select("album_id", "tmdb_id", "discogs_master_id", "discogs_release_id").distinct()
    return matches_df, near_df, pairs_df


def _album_key(df: DataFrame) -> DataFrame:
    """(tmdb_id, album) where album is the master id, or the release id for a release without one."""
    return df.select(
        "tmdb_id",
        F.when(F.col("discogs_master_id").isNotNull(), F.concat(F.lit("m"), F.col("discogs_master_id")))
        .otherwise(F.concat(F.lit("r"), F.col("discogs_release_id"))).alias("album"),
    ).distinct()


def match_quality(matches_df: DataFrame, truth_df: DataFrame, candidates_df: DataFrame) -> dict:
    """Precision, recall, F1 and pair completeness of matches against true pairs."""
    predicted = _album_key(matches_df)
    truth = _album_key(truth_df)
    blocked = _album_key(candidates_df)
    n_pred, n_true = predicted.count(), truth.count()
    true_pos = predicted.join(truth, on=["tmdb_id", "album"], how="inner").count()
    survived = truth.join(blocked, on=["tmdb_id", "album"], how="inner").count()
    precision = true_pos / n_pred if n_pred else 0.0
    recall = true_pos / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_pairs": n_true, "predicted_pairs": n_pred, "true_positives": true_pos,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "pair_completeness": round(survived / n_true, 4) if n_true else 0.0,
    }


def read_true_pairs(spark: SparkSession, layers: storage.Layers) -> Optional[DataFrame]:
    """`raw/true_pairs.csv` as a DataFrame, or None when there is none."""
    path = layers.raw(RAW_TRUE_PAIRS)
    if not storage.exists(spark, path):
        return None
    return spark.read.csv(path, header=True, schema=TRUE_PAIRS_CSV, mode="FAILFAST")


def run(ctx: StepContext) -> None:
    """Read silver, write `gold/soundtrack_matches` and `gold/match_near_misses`; record the counts
    in the step's metrics and, when true pairs are present, the match quality in the run's."""
    spark, layers, step = ctx.spark, ctx.layers, ctx.step_metrics
    films_df = spark.read.parquet(layers.silver("films"))
    albums_df = spark.read.parquet(layers.silver("albums"))
    matches_df, near_df, candidates_df = match(films_df, albums_df)
    # Counted, profiled and joined with the true pairs below: block once, not four times.
    candidates_df = candidates_df.persist()
    storage.write_gold(matches_df, layers, "soundtrack_matches", [F.col("tmdb_id"), F.col("album_id")])
    storage.write_gold(near_df, layers, "match_near_misses", [F.col("album_id"), F.col("tmdb_id")])
    matches_out = spark.read.parquet(layers.gold("soundtrack_matches"))
    step.rows_in = {"films": films_df.count(), "albums": albums_df.count(),
                    "soundtrack_film_albums": soundtrack_albums(albums_df).count()}
    step.rows_out = {"soundtrack_matches": matches_out.count(),
                     "match_near_misses": spark.read.parquet(layers.gold("match_near_misses")).count()}
    candidates = candidates_df.count()
    per_album = candidates_df.groupBy("album_id").count().agg(F.max("count").alias("m")).first()["m"]
    step.details = {"candidate_pairs": candidates, "max_candidates_per_album": per_album or 0,
                    "threshold": THRESHOLD, "weights": WEIGHTS,
                    "films_matched": matches_out.select("tmdb_id").distinct().count()}
    truth_df = read_true_pairs(spark, layers)
    quality = match_quality(matches_out, truth_df, candidates_df) if truth_df is not None else {}
    candidates_df.unpersist()
    if not quality:
        return
    ctx.run_metrics.quality = quality
    logger.info("match quality: precision %.3f recall %.3f F1 %.3f pair completeness %.3f",
                quality["precision"], quality["recall"], quality["f1"], quality["pair_completeness"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_04_match [--data-root DIR] ...` (see --help)."""
    return runner.step_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
