"""Tests for scripts.eval_world: contract shape, ground truth consistency, and every naming habit.

The habit checks read the generated files themselves (titles, genres, credits, years) and only use
`eval/album_labels.csv.gz` to find which album belongs to which film, so a habit that the labels
claim but the data does not show fails here.
"""
from __future__ import annotations

import csv
import gzip
import json
import re
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from scripts import eval_world as ew
from scripts.discogs_dump import DumpStats, convert_dump, iter_records

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TMDB_5000 = PROJECT_ROOT.parent / "shared" / "data" / "tmdb_5000" / "tmdb_5000_movies.csv"
PREFIX = "discogs_20250901"
FILMS = 3000
SEED = 7
QUALIFIERS = ("Original Motion Picture Soundtrack", "Music From The Motion Picture", "Original Soundtrack",
              "Original Score", "(Soundtrack)", "Inspired By", "Original Soundtrack Recording",
              "Music From The Film", "Original Music From The Film", "The Complete Score", " OST")


def _world_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    summary = ew.generate(out, FILMS, SEED)
    raw = out / "raw"
    films = [json.loads(line) for line in (raw / "tmdb" / "films.jsonl").read_text(encoding="utf-8").splitlines()]
    stats = DumpStats()
    masters = {m["id"]: m for m in iter_records(raw / "discogs" / f"{PREFIX}_masters.xml.gz", stats=stats)}
    releases = {r["id"]: r for r in iter_records(raw / "discogs" / f"{PREFIX}_releases.xml.gz", stats=stats)}
    with open(raw / "true_pairs.csv", newline="", encoding="utf-8") as handle:
        pairs = list(csv.DictReader(handle))
    with gzip.open(out / "eval" / "album_labels.csv.gz", "rt", encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle))
    return {"out": out, "summary": summary, "films": {f["id"]: f for f in films}, "film_list": films,
            "masters": masters, "releases": releases, "pairs": pairs, "labels": labels, "stats": stats}


def _album(world, label):
    """(title, year, genres, styles, artists, extraartists) of the album a label row names."""
    release = world["releases"][int(label["discogs_release_id"])]
    if label["discogs_master_id"]:
        master = world["masters"][int(label["discogs_master_id"])]
        return master["title"], master["year"], master["genres"], master["styles"], master["artists"], release["extraartists"]
    return (release["title"], release["year"], release["genres"], release["styles"], release["artists"],
            release["extraartists"])


def _true_labels(world):
    return [row for row in world["labels"] if row["is_true_album"] == "1"]


def _share(part: int, whole: int) -> float:
    assert whole > 0
    return part / whole


# --- shape and consistency ---------------------------------------------------------------------

def test_writes_exactly_the_contract_layout(world):
    rel = {str(p.relative_to(world["out"])) for p in _world_files(world["out"])}
    assert rel == {"raw/tmdb/films.jsonl", f"raw/discogs/{PREFIX}_masters.xml.gz",
                   f"raw/discogs/{PREFIX}_releases.xml.gz", "raw/true_pairs.csv",
                   "eval/album_labels.csv.gz", "eval/summary.json"}


def test_same_seed_same_bytes_other_seed_other_world(world, tmp_path):
    ew.generate(tmp_path / "again", FILMS, SEED)
    ew.generate(tmp_path / "other", FILMS, SEED + 1)
    for path in _world_files(world["out"]):
        rel = path.relative_to(world["out"])
        if rel.name == "summary.json":
            continue  # holds the wall time
        assert (tmp_path / "again" / rel).read_bytes() == path.read_bytes(), rel
    assert (tmp_path / "other" / "raw" / "true_pairs.csv").read_bytes() != (
        world["out"] / "raw" / "true_pairs.csv").read_bytes()


def test_tmdb_lines_follow_the_contract(world):
    films = world["film_list"]
    assert len(films) == FILMS
    assert len({f["id"] for f in films}) == FILMS
    jobs = Counter()
    for film in films:
        assert isinstance(film["id"], int) and film["id"] > 0
        assert isinstance(film["title"], str) and film["title"]
        assert isinstance(film["original_title"], str) and film["original_title"]
        assert re.fullmatch(r"[a-z]{2}", film["original_language"])
        assert film["release_date"] == "" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", film["release_date"])
        assert all(set(g) == {"id", "name"} for g in film["genres"])
        assert isinstance(film["popularity"], float) and isinstance(film["vote_count"], int)
        assert film["runtime"] is None or isinstance(film["runtime"], int)
        assert film["imdb_id"] is None or re.fullmatch(r"tt\d{7,}", film["imdb_id"])
        assert film["adult"] is False
        for person in film["credits"]["crew"]:
            assert {"id", "name", "job", "department"} <= set(person)
            jobs[person["job"]] += 1
        assert isinstance(film["credits"]["cast"], list)
    assert jobs["Original Music Composer"] > FILMS * 0.4
    assert jobs["Music"] > 0 and jobs["Music Supervisor"] > 0
    assert sum(f["release_date"] == "" for f in films) > 0
    foreign = [f for f in films if f["original_language"] in ("ja", "zh", "ko", "ru", "hi")]
    assert foreign and all(not f["original_title"].isascii() for f in foreign)
    assert 0.15 < _share(sum(f["original_language"] != "en" for f in films), FILMS) < 0.35


def test_dump_parses_with_the_project_parser(world):
    assert world["stats"].records_bad == 0
    masters, releases = world["masters"], world["releases"]
    assert masters and len(releases) > len(masters)
    assert list(masters) == sorted(masters) and list(releases) == sorted(releases)  # dumps are in id order
    for master in masters.values():
        main = releases[master["main_release"]]
        assert main["master_id"] == master["id"] and main["is_main_release"] is True
    under = Counter(r["master_id"] for r in releases.values() if r["master_id"] is not None)
    assert all(releases[m["main_release"]]["master_id"] == m["id"] for m in masters.values())
    assert sum(n > 1 for n in under.values()) > 0  # reissues under one master
    without = [r for r in releases.values() if r["master_id"] is None]
    assert without and all(r["is_main_release"] is None for r in without)
    assert any(not r["title"].isascii() for r in releases.values())  # character references resolved


def test_convert_dump_reads_the_world(world, tmp_path):
    src = world["out"] / "raw" / "discogs" / f"{PREFIX}_releases.xml.gz"
    kept_all = convert_dump(src, tmp_path / "all.jsonl.gz", keep_all=True)
    candidates = convert_dump(src, tmp_path / "st.jsonl.gz")
    assert kept_all.records_kept == len(world["releases"]) and kept_all.records_bad == 0
    # Soundtracks filed under another genre only (habit 1) are not candidates for the default filter.
    assert 0 < candidates.records_kept < kept_all.records_kept


def test_true_pairs_refer_to_existing_albums_and_films(world):
    films, masters, releases = world["films"], world["masters"], world["releases"]
    pairs = world["pairs"]
    assert pairs and list(pairs[0]) == ["tmdb_id", "discogs_master_id", "discogs_release_id"]
    assert len({tuple(p.values()) for p in pairs}) == len(pairs)
    for pair in pairs:
        assert int(pair["tmdb_id"]) in films
        release = releases[int(pair["discogs_release_id"])]
        if pair["discogs_master_id"]:
            assert masters[int(pair["discogs_master_id"])]["main_release"] == release["id"]
        else:
            assert release["master_id"] is None
    assert world["summary"]["counts"]["true_pairs"] == len(pairs)
    masterless = sum(not p["discogs_master_id"] for p in pairs)
    assert 0.15 < _share(masterless, len(pairs)) < 0.4


# --- habits ------------------------------------------------------------------------------------

def test_habit1_soundtracks_filed_under_another_genre(world):
    true = _true_labels(world)
    elsewhere = []
    for label in true:
        title, _, genres, styles, _, _ = _album(world, label)
        if "Stage & Screen" not in genres and not {"Soundtrack", "Score"} & set(styles):
            elsewhere.append((title, genres))
    assert 0.05 < _share(len(elsewhere), len(true)) < 0.2
    assert all(set(g) <= set(ew.OTHER_GENRES) for _, g in elsewhere)
    assert all(any(q.lower() in t.lower() for q in QUALIFIERS + ("Bande", "Banda", "Colonna", "Vol. 1"))
               for t, _ in elsewhere)
    assert {g[0] for _, g in elsewhere} == set(ew.OTHER_GENRES)


def test_habit2_typos_in_the_film_part(world):
    typos = [row for row in _true_labels(world) if "typo_" in row["habits"]]
    assert 0.03 < _share(len(typos), len(_true_labels(world))) < 0.1
    kinds = Counter(h for row in typos for h in row["habits"].split() if h.startswith("typo_"))
    assert set(kinds) == {"typo_transposed", "typo_doubled", "typo_missing", "typo_moved_space"}
    for row in typos:
        if "two_film" in row["habits"]:
            continue
        title = _album(world, row)[0].lower()
        film = world["films"][int(row["tmdb_ids"].split(";")[0])]
        for name in (film["title"], film["original_title"]):
            assert not re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", title), (name, title)


def test_typo_function_kinds():
    rng = ew.random.Random(0)
    seen = {}
    for _ in range(200):
        text, kind = ew.typo(rng, "The Godfather")
        seen[kind] = text
        assert text != "The Godfather"
    assert len(seen["doubled"]) == 14 and len(seen["missing"]) == 12
    assert sorted(seen["transposed"].lower()) == sorted("the godfather")
    assert seen["moved_space"].replace(" ", "") == "TheGodfather"


@pytest.mark.parametrize("needle", [
    "Music From And Inspired By ", "Music From The Film ", ": The Complete Score", " OST",
    "(Original Music From The Film)", "(Original Score)", "[Original Soundtrack Recording]",
    "Bande Originale Du Film ", "Banda Sonora Original ", " - Colonna Sonora Originale", "(Soundtrack)",
    "(Deluxe Edition)", "Anniversary Edition)", "Vol. 1", "(Original Motion Picture Soundtrack)",
    "(Music From The Motion Picture)",
])
def test_habit3_title_forms_present(world, needle):
    titles = [_album(world, row)[0] for row in _true_labels(world)]
    assert any(needle in t for t in titles), needle


def test_habit3_form_proportions_are_skewed(world):
    forms = Counter(h for row in world["labels"] for h in row["habits"].split() if h.startswith("form_"))
    total = sum(forms.values())
    assert forms.most_common(1)[0][0] == "form_ompst" and 0.2 < forms["form_ompst"] / total < 0.35
    assert 0.08 < forms["form_plain"] / total < 0.2
    assert forms["form_ost"] / total < 0.05


def test_habit3_composer_prefix_names_a_credit_only(world):
    rows = [r for r in _true_labels(world) if "form_composer_prefix" in r["habits"]]
    assert rows
    for row in rows:
        title, _, _, _, artists, extra = _album(world, row)
        credited = {a["anv"] or a["name"] for a in extra}
        assert title.split(" - ", 1)[0] in credited
        assert [a["name"] for a in artists] == ["Various"]


def test_habit3_numerals_swapped_mid_title(world):
    rows = [r for r in _true_labels(world) if "numeral_swapped" in r["habits"] and "typo_" not in r["habits"]]
    assert rows
    for row in rows:
        film = world["films"][int(row["tmdb_ids"].split(";")[0])]
        title = _album(world, row)[0]
        assert ew.swap_numeral(film["title"]).lower() in title.lower() or \
            ew.swap_numeral(film["original_title"]).lower() in title.lower()
    assert ew.swap_numeral("Rocky II: The Return") == "Rocky 2: The Return"
    assert ew.swap_numeral("Alien 3") == "Alien III"


def test_habit4_album_years(world):
    deltas = Counter()
    for row in _true_labels(world):
        if "two_film" in row["habits"]:
            continue
        film = world["films"][int(row["tmdb_ids"])]
        year = _album(world, row)[1]
        if not film["release_date"]:
            continue
        deltas["unknown" if year == 0 else year - int(film["release_date"][:4])] += 1
    total = sum(deltas.values())
    assert _share(deltas[0] + deltas[1], total) > 0.7
    assert 0.02 < _share(sum(v for k, v in deltas.items() if k != "unknown" and 3 <= k <= 10), total) < 0.12
    assert 0.02 < _share(deltas["unknown"], total) < 0.1
    reissued = [r for r in world["releases"].values() if r["master_id"] and r["is_main_release"] is False]
    late = [r for r in reissued if world["masters"][r["master_id"]]["year"]
            and r["year"] - world["masters"][r["master_id"]]["year"] >= 10]
    assert late


def test_habit5_sequel_albums_belong_to_the_sequel(world):
    by_title = defaultdict(list)
    for film in world["film_list"]:
        by_title[film["title"]].append(film["id"])
    traps = 0
    for row in _true_labels(world):
        if "sequel_album" not in row["habits"] or "two_film" in row["habits"]:
            continue
        film = world["films"][int(row["tmdb_ids"])]
        base = film["belongs_to_collection"]["name"].removesuffix(" Collection")
        assert film["title"] != base and film["title"].startswith(base)
        if base in by_title:
            traps += 1
            assert film["id"] not in by_title[base]
    assert traps > 0
    sequel_titles = [_album(world, r)[0] for r in world["labels"] if "sequel_album" in r["habits"]]
    assert any(": Part Two" in t for t in sequel_titles) and any(re.search(r" II\b", t) for t in sequel_titles)
    ghosts = [r for r in world["labels"] if "sequel_album" in r["habits"] and "ghost_film" in r["habits"]]
    assert ghosts and all(r["is_true_album"] == "0" for r in ghosts)


def test_habit6_albums_of_films_outside_the_catalogue(world):
    catalogue_titles = {ew.discogs_case(f["title"]).lower() for f in world["film_list"]}
    paired = {(p["discogs_master_id"], p["discogs_release_id"]) for p in world["pairs"]}
    ghosts = [r for r in world["labels"] if "ghost_film" in r["habits"]]
    assert ghosts
    namesakes = 0
    for row in ghosts:
        assert (row["discogs_master_id"], row["discogs_release_id"]) not in paired
        assert row["tmdb_ids"] == ""
        title = _album(world, row)[0].lower()
        if any(title.startswith(t + " (") for t in catalogue_titles):
            namesakes += 1
    assert namesakes > 10


def test_habit7_non_soundtracks_compilations_and_credits(world):
    common = {f["title"] for f in world["film_list"]} & set(ew.COMMON_TITLES)
    rows = [r for r in world["labels"] if "noise_namesake_record" in r["habits"]]
    assert rows
    for row in rows:
        title, _, genres, styles, artists, _ = _album(world, row)
        assert title in common and "Stage & Screen" not in genres and row["is_true_album"] == "0"
        assert artists[0]["name"] in ew.NOISE_ARTISTS
    comps = [r for r in world["labels"] if "noise_compilation" in r["habits"]]
    assert comps and all(_album(world, r)[4][0]["name"] == "Various" for r in comps)
    roles = Counter()
    mains = Counter()
    for row in _true_labels(world):
        _, _, _, _, artists, extra = _album(world, row)
        roles.update(a["role"] for a in extra)
        mains["various" if artists[0]["name"] == "Various" else "other"] += 1
    assert {"Composed By", "Music By", "Score"} <= set(roles)
    assert 0.2 < _share(mains["various"], sum(mains.values())) < 0.5


def test_habit8_composer_name_variants(world):
    kinds = Counter()
    for row in _true_labels(world):
        if "two_film" in row["habits"]:
            continue
        film = world["films"][int(row["tmdb_ids"])]
        composers = {p["name"] for p in film["credits"]["crew"] if p["department"] == "Sound"
                     and p["job"] in ("Original Music Composer", "Music")}
        _, _, _, _, artists, extra = _album(world, row)
        for credit in artists + extra:
            if credit["id"] == 194 or credit["name"] in ew.BANDS:
                continue
            name = re.sub(r" \(\d+\)$", "", credit["name"])
            if credit["anv"]:
                kinds["anv"] += 1
            elif name != credit["name"]:
                kinds["numbered"] += 1
            elif name not in composers and name in {ew.strip_accents(c) for c in composers}:
                kinds["accents"] += 1
            elif name in composers:
                kinds["exact"] += 1
    total = sum(kinds.values())
    assert set(kinds) == {"anv", "numbered", "accents", "exact"}
    assert kinds["exact"] / total > 0.5
    assert ew.strip_accents("Jóhann Guðnadóttir") == "Johann Gudnadottir"


def test_habit9_several_albums_and_two_film_albums(world):
    per_film = Counter(p["tmdb_id"] for p in world["pairs"])
    with_album = len(per_film)
    assert 0.1 < _share(sum(n >= 2 for n in per_film.values()), with_album) < 0.35
    two = [r for r in world["labels"] if "two_film" in r["habits"]]
    assert two
    for row in two:
        ids = row["tmdb_ids"].split(";")
        assert len(ids) == 2
        title = _album(world, row)[0]
        assert " / " in title
        for tmdb_id in ids:
            assert {"tmdb_id": tmdb_id, "discogs_master_id": row["discogs_master_id"],
                    "discogs_release_id": row["discogs_release_id"]} in world["pairs"]
    sequel_pairs = 0
    for row in two:
        first, second = (world["films"][int(i)] for i in row["tmdb_ids"].split(";"))
        sequel_pairs += second["title"].startswith(first["title"]) and second["title"] != first["title"]
    assert 0 < sequel_pairs < len(two) or len(two) < 3


def test_plural_of_vocabulary_nouns():
    assert [ew.plural(n) for n in ("Witness", "Sky", "Woman", "Wolf", "Day", "Star")] == [
        "Witnesses", "Skies", "Women", "Wolves", "Days", "Stars"]


def test_common_titles_and_remakes_share_titles(world):
    titles = Counter(f["title"] for f in world["film_list"])
    assert titles.most_common(1)[0][1] >= 5
    remade = defaultdict(set)
    for film in world["film_list"]:
        if film["release_date"]:
            remade[film["title"]].add(film["release_date"][:4])
    assert sum(len(years) > 1 for years in remade.values()) > 20


# --- vocabulary, CLI, memory -------------------------------------------------------------------

def test_reference_titles_absent_and_present(tmp_path):
    assert ew.load_reference_titles(tmp_path / "missing.csv") == ()
    assert ew.load_reference_titles(None) == ()
    if not TMDB_5000.is_file():
        pytest.skip(f"real TMDB 5000 CSV not found at {TMDB_5000}")
    titles = ew.load_reference_titles(TMDB_5000)
    assert "Avatar" in titles and len(titles) > 4000


def test_cli_writes_a_world_and_rejects_bad_arguments(tmp_path, capsys):
    assert ew.main(["--films", "50", "--seed", "3", "--out", str(tmp_path / "w"), "--no-reference-titles"]) == 0
    assert len((tmp_path / "w" / "raw" / "tmdb" / "films.jsonl").read_text(encoding="utf-8").splitlines()) == 50
    assert not (tmp_path / "w" / ".eval_world.part").exists()
    assert ew.main(["--films", "50", "--seed", "3", "--out", str(tmp_path / "z"), "--no-reference-titles",
                    "--tmdb-gzip"]) == 0
    with gzip.open(tmp_path / "z" / "raw" / "tmdb" / "films.jsonl.gz", "rt", encoding="utf-8") as handle:
        assert handle.read() == (tmp_path / "w" / "raw" / "tmdb" / "films.jsonl").read_text(encoding="utf-8")
    for bad in (["--films", "0", "--out", str(tmp_path / "x")], ["--films", "5", "--out", str(tmp_path / "x"),
                                                                  "--prefix", "../evil"]):
        with pytest.raises(SystemExit) as exc:
            ew.main(bad)
        assert exc.value.code == 2


def test_refuses_to_mix_with_files_already_there(tmp_path):
    ew.generate(tmp_path / "w", 20, 1)
    with pytest.raises(ew.OutputExistsError, match="--overwrite"):
        ew.generate(tmp_path / "w", 20, 1)
    before = (tmp_path / "w" / "raw" / "true_pairs.csv").read_bytes()
    ew.generate(tmp_path / "w", 20, 2, overwrite=True)
    assert (tmp_path / "w" / "raw" / "true_pairs.csv").read_bytes() != before
    with pytest.raises(ew.OutputExistsError, match="films.jsonl"):
        ew.generate(tmp_path / "w", 20, 2, overwrite=True, tmdb_gzip=True)  # would leave two film files
    (tmp_path / "w" / "raw" / "tmdb" / "films.jsonl").unlink()
    (tmp_path / "v" / "raw" / "discogs").mkdir(parents=True)
    (tmp_path / "v" / "raw" / "discogs" / "mine.jsonl").write_text("{}\n", encoding="utf-8")
    assert ew.main(["--films", "5", "--out", str(tmp_path / "v"), "--overwrite"]) == 2
    assert (tmp_path / "v" / "raw" / "discogs" / "mine.jsonl").read_text(encoding="utf-8") == "{}\n"


def test_memory_stays_flat_as_the_world_grows(tmp_path):
    peaks = {}
    for films in (600, 4800):
        tracemalloc.start()
        ew.generate(tmp_path / str(films), films, 1)
        peaks[films] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # Eight times the films, (almost) the same peak: nothing grows with the world.
    assert peaks[4800] < peaks[600] * 1.5 + 2_000_000, peaks
