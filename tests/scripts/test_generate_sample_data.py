"""Tests for scripts/generate_sample_data.py: determinism, the raw input contract, and the ground truth."""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from scripts import generate_sample_data as gsd
from scripts import sample_vocabulary as vocabulary
from scripts import sample_xml

TMDB_GENRE_IDS = {genre_id: name for name, genre_id in vocabulary.TMDB_GENRES.items()}
SOUNDTRACK_STYLES = {"Soundtrack", "Score", "Musical"}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RELEASED = re.compile(r"^\d{4}(-\d{2}-\d{2})?$")
DISCOGS_SUFFIX = re.compile(r" \(\d+\)$")


def _norm(text: str) -> str:
    """Casefolded words only, so "X: Part Two" and "X - Part Two" compare equal."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def _tmdb_lines(raw: Path) -> list[str]:
    with gzip.open(raw / gsd.TMDB_FILE, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def _is_valid_body(line: str) -> bool:
    try:
        body = json.loads(line)
    except ValueError:
        return False
    return isinstance(body.get("id"), int)


def _valid_bodies(raw: Path) -> list[dict]:
    return [json.loads(line) for line in _tmdb_lines(raw) if _is_valid_body(line)]


@dataclass
class Sample:
    """A generated raw/ folder, parsed."""

    raw: Path
    summary: gsd.GenerationSummary
    films: dict[int, dict]
    masters: dict[int, etree._Element]
    releases: dict[int, etree._Element]
    masters_root: etree._Element
    releases_root: etree._Element
    pairs: list[dict[str, str]]

    def album(self, pair: dict[str, str]) -> etree._Element:
        """The master of a pair, or its release when the album has no master."""
        if pair["discogs_master_id"]:
            return self.masters[int(pair["discogs_master_id"])]
        return self.releases[int(pair["discogs_release_id"])]

    def paired_albums(self) -> set[tuple[str, int]]:
        return {("master", int(p["discogs_master_id"])) if p["discogs_master_id"]
                else ("release", int(p["discogs_release_id"])) for p in self.pairs}


def _load(raw: Path, summary: gsd.GenerationSummary) -> Sample:
    # A strict parser: any escaping mistake in the generated XML fails here.
    masters_root = etree.parse(gzip.open(raw / gsd.MASTERS_FILE)).getroot()
    releases_root = etree.parse(gzip.open(raw / gsd.RELEASES_FILE)).getroot()
    with open(raw / gsd.TRUE_PAIRS_FILE, newline="", encoding="utf-8") as handle:
        pairs = list(csv.DictReader(handle))
    return Sample(
        raw=raw, summary=summary, films={b["id"]: b for b in _valid_bodies(raw)},
        masters={int(m.get("id")): m for m in masters_root}, releases={int(r.get("id")): r for r in releases_root},
        masters_root=masters_root, releases_root=releases_root, pairs=pairs,
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """The default-size sample (2000 films, seed 42, 3 bad lines), generated once for the module."""
    raw = tmp_path_factory.mktemp("sample") / "raw"
    return _load(raw, gsd.generate(raw))


def _genres(element: etree._Element) -> list[str]:
    return [g.text for g in element.iterfind("genres/genre")]


def _styles(element: etree._Element) -> list[str]:
    return [s.text for s in element.iterfind("styles/style")]


def _album_year(album: etree._Element) -> int:
    if album.tag == "master":
        return int(album.findtext("year"))
    released = album.findtext("released") or ""
    return int(released[:4]) if released else 0


def _composers(body: dict) -> list[str]:
    return [c["name"] for c in body["credits"]["crew"] if c["job"] == "Original Music Composer"]


def _file_digests(raw: Path) -> dict[str, str]:
    return {str(p.relative_to(raw)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(raw.rglob("*")) if p.is_file()}


# --- determinism ------------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    first = gsd.generate(tmp_path / "a", films=300, seed=5)
    gsd.generate(tmp_path / "b", films=300, seed=5)
    gsd.generate(tmp_path / "c", films=300, seed=6)

    digests_a = _file_digests(tmp_path / "a")
    assert set(digests_a) == {str(p.relative_to(tmp_path / "a")) for p in first.files}
    assert digests_a == _file_digests(tmp_path / "b")
    digests_c = _file_digests(tmp_path / "c")
    assert all(digests_a[name] != digests_c[name] for name in digests_a)


def test_gzip_headers_hold_no_timestamp_or_temporary_name(sample: Sample) -> None:
    for name in (gsd.TMDB_FILE, gsd.MASTERS_FILE, gsd.RELEASES_FILE):
        header = (sample.raw / name).read_bytes()[:64]
        assert header[4:8] == b"\0\0\0\0"  # gzip MTIME
        assert header[10:].split(b"\0")[0] == name.name[:-3].encode()  # FNAME: final name, no ".partial"


# --- TMDB -------------------------------------------------------------------------------------
def test_every_tmdb_line_but_the_bad_ones_is_a_contract_body(sample: Sample) -> None:
    lines = _tmdb_lines(sample.raw)
    assert len(lines) == 2000 + 3
    broken = []
    for line in lines:
        try:
            body = json.loads(line)
        except ValueError:
            broken.append("not json")
            continue
        if "id" not in body:
            broken.append("no id")
            continue
        if not isinstance(body["id"], int):
            broken.append("id not a number")
            continue
        assert body["id"] > 0
        assert isinstance(body["title"], str) and body["title"]
        assert isinstance(body["original_title"], str) and body["original_title"]
        assert body["release_date"] == "" or DATE.match(body["release_date"])
        assert body["runtime"] is None or isinstance(body["runtime"], int)
        assert isinstance(body["popularity"], float) and body["popularity"] > 0
        assert 0 <= body["vote_average"] <= 10 and isinstance(body["vote_count"], int)
        assert body["vote_average"] == 0 or body["vote_count"] > 0
        assert body["imdb_id"] is None or re.match(r"^tt\d{7,8}$", body["imdb_id"])
        assert body["adult"] is False and isinstance(body["original_language"], str)
        assert all(TMDB_GENRE_IDS[g["id"]] == g["name"] for g in body["genres"])
        assert body["credits"]["cast"] and all({"id", "name", "character", "order"} <= set(c) for c in body["credits"]["cast"])
        for member in body["credits"]["crew"]:
            assert {"id", "name", "job", "department", "credit_id"} <= set(member)
            if member["job"] == "Original Music Composer":
                assert member["department"] == "Sound"
    assert sorted(broken) == ["id not a number", "no id", "not json"]
    assert len(sample.films) == sample.summary.films == 2000


def test_film_ids_and_imdb_ids_are_unique(sample: Sample) -> None:
    bodies = _valid_bodies(sample.raw)
    assert len({b["id"] for b in bodies}) == len(bodies)
    imdb = [b["imdb_id"] for b in bodies if b["imdb_id"]]
    assert len(set(imdb)) == len(imdb)


def test_films_show_the_variety_of_real_data(sample: Sample) -> None:
    films = list(sample.films.values())
    composer_counts = {len(_composers(b)) for b in films}
    assert {0, 1, 2} <= composer_counts
    assert sum(len(_composers(b)) >= 1 for b in films) > 0.75 * len(films)  # most films have a composer
    assert any(not b["title"].isascii() for b in films)
    assert any(ch in b["title"] for b in films for ch in "·*&")
    assert any(len(b["title"]) <= 3 for b in films)
    assert any(b["title"].isdigit() for b in films)
    assert any(":" in b["title"] for b in films) and any(" - " in b["title"] for b in films)
    assert any(b["title"].startswith("The ") for b in films)
    native_scripts = {b["original_language"] for b in films
                      if b["original_title"] != b["title"]
                      and re.search(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", b["original_title"])}
    assert native_scripts == {"ja", "ko"}
    assert {"fr", "es", "de"} <= {b["original_language"] for b in films if b["original_title"] != b["title"]}
    assert any(b["release_date"] == "" for b in films)
    assert any(b["runtime"] is None for b in films)
    assert any(b["vote_count"] == 0 for b in films)
    assert len({round(b["vote_average"], 1) for b in films}) > 30
    popularity = sorted(b["popularity"] for b in films)
    assert popularity[-1] > 10 * popularity[len(popularity) // 2]  # a long tail, as on TMDB


def test_titles_repeat_only_for_remakes_with_another_year_and_composer(sample: Sample) -> None:
    by_title: dict[str, list[dict]] = {}
    for body in sample.films.values():
        by_title.setdefault(body["title"], []).append(body)
    remakes = [group for group in by_title.values() if len(group) > 1]
    assert remakes
    for group in remakes:
        years = [int(b["release_date"][:4]) for b in group]
        assert max(years) - min(years) >= 15
        assert len({tuple(_composers(b)) for b in group}) == len(group)


def test_sequels_share_a_collection_and_extend_the_first_title(sample: Sample) -> None:
    collections: dict[int, list[dict]] = {}
    for body in sample.films.values():
        if body["belongs_to_collection"]:
            collections.setdefault(body["belongs_to_collection"]["id"], []).append(body)
    franchises = [films for films in collections.values() if len(films) >= 2]
    assert franchises
    for films in franchises:
        first = min(films, key=lambda b: b["release_date"])
        for sequel in films:
            if sequel is not first:
                assert sequel["title"].startswith(re.split(r": | - ", first["title"])[0])
                assert re.search(r" (2|3|II|III)\b|Part (Two|Three)", sequel["title"])


# --- Discogs XML ------------------------------------------------------------------------------
def test_discogs_files_have_the_dump_structure(sample: Sample) -> None:
    assert sample.masters_root.tag == "masters" and sample.releases_root.tag == "releases"
    assert len(sample.masters) == len(sample.masters_root) == sample.summary.masters
    assert len(sample.releases) == len(sample.releases_root) == sample.summary.releases
    for master_id, master in sample.masters.items():
        assert master.findtext("title") and master.find("artists/artist/id") is not None
        assert "main_release" == master[0].tag
        main = sample.releases[int(master.findtext("main_release"))]
        assert int(main.findtext("master_id")) == master_id
        assert main.find("master_id").get("is_main_release") == "true"
        assert master.findtext("year") == "0" or 1900 < int(master.findtext("year")) <= gsd.LATEST_YEAR
    masterless = 0
    for release in sample.releases.values():
        assert release.get("status") == "Accepted"
        assert release.find("formats/format").get("name") in {"CD", "Vinyl", "File", "Cassette"}
        assert release.find("labels/label").get("catno")
        assert (release.findtext("released") or "") == "" or RELEASED.match(release.findtext("released"))
        link = release.find("master_id")
        if link is None:
            masterless += 1
            continue
        master = sample.masters[int(link.text)]
        is_main = int(master.findtext("main_release")) == int(release.get("id"))
        assert link.get("is_main_release") == ("true" if is_main else "false")
    assert masterless > 0
    assert any(m.findtext("year") == "0" for m in sample.masters.values())
    assert any(r.find("released") is None for r in sample.releases.values())


def test_xml_is_ascii_with_character_references_like_the_2020_dumps(sample: Sample) -> None:
    raw_bytes = gzip.open(sample.raw / gsd.RELEASES_FILE).read()
    assert raw_bytes.isascii()
    assert raw_bytes.startswith(b"<releases>\n<release id=")
    assert b"&#" in raw_bytes and b"&amp;" in raw_bytes
    titles = [m.findtext("title") for m in sample.masters.values()]
    assert any(not t.isascii() for t in titles)  # the references resolve back to text
    assert "Stage & Screen" in {g for m in sample.masters.values() for g in _genres(m)}


def test_checksum_file_matches_the_dump_files(sample: Sample) -> None:
    lines = (sample.raw / gsd.CHECKSUM_FILE).read_text(encoding="utf-8").splitlines()
    listed = dict(reversed(line.split(" ", 1)) for line in lines)
    assert set(listed) == {gsd.MASTERS_FILE.name, gsd.RELEASES_FILE.name}
    for name, digest in listed.items():
        assert hashlib.sha256((sample.raw / "discogs" / name).read_bytes()).hexdigest() == digest


# --- ground truth -----------------------------------------------------------------------------
def test_true_pairs_point_at_the_films_own_soundtrack(sample: Sample) -> None:
    header = (sample.raw / gsd.TRUE_PAIRS_FILE).read_text(encoding="utf-8").splitlines()[0]
    assert header == "tmdb_id,discogs_master_id,discogs_release_id"
    assert len(sample.pairs) == sample.summary.true_pairs
    for pair in sample.pairs:
        film = sample.films[int(pair["tmdb_id"])]
        album = sample.album(pair)
        if pair["discogs_master_id"]:
            assert int(album.findtext("main_release")) == int(pair["discogs_release_id"])
        else:
            assert album.find("master_id") is None
        assert "Stage & Screen" in _genres(album)
        assert SOUNDTRACK_STYLES & set(_styles(album))
        assert "Video Game Music" not in _styles(album) and "Theme" not in _styles(album)
        title = _norm(album.findtext("title"))
        assert _norm(re.split(r": | - ", film["title"])[0]) in title or _norm(film["original_title"]) in title
        assert not re.search(r"television|tv series|cast recording|video game|game soundtrack", title)
        year = _album_year(album)
        film_year = int(film["release_date"][:4]) if film["release_date"] else 0
        assert year == 0 or 0 <= year - film_year <= 1
        artists = [DISCOGS_SUFFIX.sub("", a.findtext("name")) for a in album.iterfind("artists/artist")]
        assert artists == ["Various"] or set(artists) <= set(_composers(film))


def test_about_half_the_films_have_a_soundtrack_and_some_have_two(sample: Sample) -> None:
    per_film: dict[str, int] = {}
    for pair in sample.pairs:
        per_film[pair["tmdb_id"]] = per_film.get(pair["tmdb_id"], 0) + 1
    assert 0.35 < len(per_film) / len(sample.films) < 0.6
    assert any(count >= 2 for count in per_film.values())
    assert any(not p["discogs_master_id"] for p in sample.pairs)  # a soundtrack release with no master


def test_two_film_albums_are_paired_once_per_film(sample: Sample) -> None:
    albums: dict[tuple[str, str], set[str]] = {}
    for pair in sample.pairs:
        albums.setdefault((pair["discogs_master_id"], pair["discogs_release_id"]), set()).add(pair["tmdb_id"])
    shared = {key: films for key, films in albums.items() if len(films) > 1}
    assert len(shared) >= 2
    for (master_id, release_id), films in shared.items():
        title = sample.album({"discogs_master_id": master_id, "discogs_release_id": release_id}).findtext("title")
        assert " / " in title and len(films) == 2


def test_lookalikes_are_present_and_never_true_pairs(sample: Sample) -> None:
    paired = sample.paired_albums()
    titles = {b["title"] for b in sample.films.values()}
    years_by_title: dict[str, list[int]] = {}
    for body in sample.films.values():
        years_by_title.setdefault(_norm(body["title"]), []).append(int(body["release_date"][:4] or 0))
    found: dict[str, list[int]] = {k: [] for k in ("same_title", "tv", "game", "stage", "theme", "sequel", "remake")}
    for master_id, master in sample.masters.items():
        title, genres, styles = master.findtext("title"), _genres(master), _styles(master)
        artists = [a.findtext("name") for a in master.iterfind("artists/artist")]
        if title in titles and "Stage & Screen" not in genres:
            found["same_title"].append(master_id)
        if re.search(r"Television|TV Series|Series Soundtrack", title):
            found["tv"].append(master_id)
        if "Video Game Music" in styles:
            found["game"].append(master_id)
        if "Cast Recording" in title and styles == ["Musical"]:
            found["stage"].append(master_id)
        if artists == ["Various"] and "Theme" in styles:
            found["theme"].append(master_id)
        sequel = re.match(r"^(.*) 2 \(Original Motion Picture Soundtrack\)$", title)
        if sequel and _norm(sequel.group(1)) in years_by_title and not any(
                t.startswith(_norm(sequel.group(1) + " 2")) for t in years_by_title):  # "X 2: Subtitle" counts
            found["sequel"].append(master_id)
        remake = re.match(r"^(.*) \(Original Motion Picture Soundtrack\)$", title)
        if remake and "Stage & Screen" in genres and _norm(remake.group(1)) in years_by_title:
            year = int(master.findtext("year"))
            if year and all(abs(year - y) >= 15 for y in years_by_title[_norm(remake.group(1))]):
                found["remake"].append(master_id)
    for kind, masters in found.items():
        assert masters, f"no {kind} look-alike"
        assert not {("master", m) for m in masters} & paired, f"a {kind} look-alike is a true pair"


def test_discogs_also_holds_ordinary_music(sample: Sample) -> None:
    ordinary = [m for m in sample.masters.values() if "Stage & Screen" not in _genres(m)]
    assert len(ordinary) > 0.2 * len(sample.masters)
    assert {"Rock", "Electronic", "Jazz"} <= {g for m in ordinary for g in _genres(m)}


# --- options, overwriting and atomic writes -----------------------------------------------------
def test_zero_bad_records_gives_only_valid_lines(tmp_path: Path) -> None:
    summary = gsd.generate(tmp_path / "raw", films=120, bad_records=0)
    lines = _tmdb_lines(tmp_path / "raw")
    assert summary.bad_records == 0 and len(lines) == 120
    assert all(isinstance(json.loads(line)["id"], int) for line in lines)


def test_bad_records_are_spread_and_counted(tmp_path: Path) -> None:
    summary = gsd.generate(tmp_path / "raw", films=100, bad_records=7)
    lines = _tmdb_lines(tmp_path / "raw")
    assert summary.bad_records == 7 and len(lines) == 107
    assert len(_valid_bodies(tmp_path / "raw")) == 100
    bad_positions = [i for i, line in enumerate(lines) if not _is_valid_body(line)]
    assert len(bad_positions) == 7
    assert bad_positions[0] > 0 and bad_positions[-1] < len(lines) - 1  # spread, not bunched at one end


def test_invalid_sizes_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        gsd.generate(tmp_path / "raw", films=0)
    with pytest.raises(ValueError):
        gsd.generate(tmp_path / "raw", films=10, bad_records=-1)


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    gsd.generate(raw, films=50, seed=1)
    before = _file_digests(raw)
    with pytest.raises(gsd.OutputExistsError):
        gsd.generate(raw, films=50, seed=2)
    assert _file_digests(raw) == before
    gsd.generate(raw, films=50, seed=2, overwrite=True)
    assert _file_digests(raw) != before

    other = tmp_path / "user_raw"
    (other / "tmdb").mkdir(parents=True)
    (other / "tmdb" / "my_films.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(gsd.OutputExistsError):
        gsd.generate(other, films=10)


def test_failed_run_leaves_old_files_and_no_partial_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw"
    gsd.generate(raw, films=60)
    before = _file_digests(raw)
    calls = {"n": 0}
    emit = gsd._Generator._emit_album

    def failing_emit(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 20:
            raise RuntimeError("disk full")
        return emit(self, *args, **kwargs)

    monkeypatch.setattr(gsd._Generator, "_emit_album", failing_emit)
    with pytest.raises(RuntimeError, match="disk full"):
        gsd.generate(raw, films=500, seed=9, overwrite=True)
    assert _file_digests(raw) == before
    assert not list(raw.rglob(f"*{sample_xml.PARTIAL_SUFFIX}"))


def test_partial_files_of_a_killed_run_do_not_block_a_new_run(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "discogs").mkdir(parents=True)
    (raw / "discogs" / f"sample_masters.xml.gz{sample_xml.PARTIAL_SUFFIX}").write_bytes(b"half")
    summary = gsd.generate(raw, films=30)
    assert summary.films == 30
    assert not list(raw.rglob(f"*{sample_xml.PARTIAL_SUFFIX}"))


def test_unique_names_never_repeat_and_report_exhaustion() -> None:
    names = sample_xml.UniqueNames((("{} {}", (("a", "b", "c"), ("x", "y")), 2), ("{}!", (("p", "q"),), 1)), salt=3)
    rng = random.Random(0)
    values = [names.draw(rng) for _ in range(8)]
    assert None not in values
    assert len({value for _, value in values}) == 8  # 3 x 2 + 2 strings, each once
    assert names.draw(rng) is None


def test_word_lists_hold_distinct_words() -> None:
    for words in (vocabulary.ADJECTIVES, vocabulary.NOUNS, vocabulary.PLACES, vocabulary.FIRST_NAMES, vocabulary.LAST_NAMES,
                  vocabulary.VERB_PHRASES,
                  vocabulary.SPECIAL_TITLES):
        assert len(set(words)) == len(words)


# --- command line -------------------------------------------------------------------------------
def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "raw")
    assert gsd.main(["--out", out, "--films", "40", "--seed", "3"]) == 0
    assert "40 films" in capsys.readouterr().out

    assert gsd.main(["--out", out, "--films", "40"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err and err.count("\n") == 1

    assert gsd.main(["--out", out, "--films", "40", "--bad-records", "0", "--force"]) == 0
    assert len(_tmdb_lines(Path(out))) == 40

    assert gsd.main(["--out", out, "--films", "0", "--force"]) == 2
    assert gsd.main(["--out", out, "--films", "many"]) == 2
    assert gsd.main(["--help"]) == 0


def test_main_defaults_to_data_root_raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("SAMPLE_SEED", "11")
    assert gsd.main(["--films", "25"]) == 0
    assert (tmp_path / "data" / "raw" / gsd.TMDB_FILE).is_file()
    gsd.generate(tmp_path / "same", films=25, seed=11)
    assert _file_digests(tmp_path / "data" / "raw") == _file_digests(tmp_path / "same")


def test_main_reports_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SAMPLE_FILMS", "lots")
    assert gsd.main(["--out", str(tmp_path / "raw")]) == 2
    assert "SAMPLE_FILMS" in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()
