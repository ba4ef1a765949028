"""Stand-in for run_pipeline_safe.sh in the sync tests: same arguments, same data layout, no Spark.

    python fake_pipeline.py [--steps S] [--data-root DIR] [--source auto]

Like the real pipeline with SOURCE=auto, it generates raw/films.jsonl when raw/ is empty (seeded by
SAMPLE_SEED from the environment or the `.env` of the current folder, SAMPLE_FILMS rows), then
writes two gold Parquet tables from raw/ and a CSV copy. Each run lays the gold out differently on
purpose, from an unseeded random source: how many files, their names, the row order, and whether
film_soundtracks is partitioned by genre. Only the content follows from raw/.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scripts.settings import load_settings

GENRES = ("Score", "Soundtrack", "Musical", "Stage & Screen")


def generate_raw(raw: Path, seed: int, films: int) -> None:
    rng = random.Random(seed)
    raw.mkdir(parents=True, exist_ok=True)
    with open(raw / "films.jsonl", "w", encoding="utf-8") as handle:
        for film_id in range(1, films + 1):
            handle.write(json.dumps({
                "id": film_id,
                "title": rng.choice(["Amélie", "Crouching Tiger", "千と千尋", "Heat"]) + f" {film_id}"
                if rng.random() > 0.05 else None,
                "genre": rng.choice(GENRES),
                "popularity": round(rng.uniform(0, 100), 6),
                "year": rng.choice([None, *range(1950, 2025)]),
            }, ensure_ascii=False) + "\n")


def write_table(folder: Path, rows: list, layout: random.Random, partition_by: str = "") -> None:
    shutil.rmtree(folder, ignore_errors=True)
    rows = rows[:]
    layout.shuffle(rows)
    groups = defaultdict(list)
    for row in rows:
        groups[row[partition_by] if partition_by else ""].append(row)
    for key, members in groups.items():
        target = folder / f"{partition_by}={key}" if partition_by else folder
        target.mkdir(parents=True, exist_ok=True)
        pieces = layout.randint(1, 3)
        for i in range(pieces):
            part = members[i::pieces]
            if partition_by:
                part = [{k: v for k, v in row.items() if k != partition_by} for row in part]
            if part:
                pq.write_table(pa.Table.from_pylist(part), target / f"part-{uuid.uuid4().hex}.parquet")
    (folder / "_SUCCESS").write_text("")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="1-5")
    parser.add_argument("--data-root")
    parser.add_argument("--source")
    args = parser.parse_args()
    print("fake pipeline", sys.argv[1:], flush=True)
    settings = load_settings(dotenv_path=Path.cwd() / ".env")
    data_root = Path(args.data_root or settings.data_root)
    raw = data_root / "raw"
    if not raw.is_dir() or not any(raw.iterdir()):
        generate_raw(raw, settings.sample_seed, settings.sample_films)
    films = [json.loads(line) for path in sorted(raw.rglob("*.jsonl")) for line in path.read_text("utf-8").splitlines()]
    layout = random.Random()  # unseeded: each run lays the files out its own way
    gold = data_root / "gold"
    soundtracks = [{**film, "score": film["popularity"] / 3.0} for film in films]
    write_table(gold / "film_soundtracks", soundtracks, layout, "genre" if layout.random() < 0.5 else "")
    totals = defaultdict(lambda: [0, 0.0])
    for film in layout.sample(films, len(films)):  # summation order varies too
        totals[film["genre"]][0] += 1
        totals[film["genre"]][1] += film["popularity"] / 7.0
    counts = [{"genre": genre, "films": n, "mean_popularity": total / n} for genre, (n, total) in totals.items()]
    write_table(gold / "genre_counts", counts, layout)
    csv_copy = gold / "film_soundtracks_csv"
    csv_copy.mkdir(parents=True, exist_ok=True)
    (csv_copy / f"part-{uuid.uuid4().hex}.csv").write_text("id\n" + "\n".join(str(f["id"]) for f in films))
    print(f"fake pipeline wrote {len(films)} films to {gold}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
