"""The labels of a labelled world: `raw/true_pairs.csv` (`tmdb_id,discogs_master_id,discogs_release_id`,
written by `scripts.generate_sample_data` and `scripts.eval_world`) read as (tmdb_id, album_id) pairs,
the key step 04's match quality, `make bench` and `scripts.eval_misses` all count on."""
from __future__ import annotations

import csv
import math
from pathlib import Path


def album_id_of(master_id, release_id) -> str:
    """The album a true pair names: `m<master>`, or `r<release>` for a release without master
    (the same key as silver `album_id`)."""
    if master_id not in (None, "") and not (isinstance(master_id, float) and math.isnan(master_id)):
        return f"m{int(master_id)}"
    return f"r{int(release_id)}"


def read_true_pairs(path: Path) -> set[tuple[int, str]]:
    """`raw/true_pairs.csv` as {(tmdb_id, album key)}."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {(int(row["tmdb_id"]), album_id_of(row["discogs_master_id"], row["discogs_release_id"]))
                for row in csv.DictReader(handle)}
