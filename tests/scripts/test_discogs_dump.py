"""Tests for scripts.discogs_dump against the real dump samples in ../shared/data and small hand-written XML."""
from __future__ import annotations

import gzip
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import discogs_dump as dd
from scripts.discogs_dump import (
    ChecksumMismatchError,
    DumpFormatError,
    DumpStats,
    convert_dump,
    detect_kind,
    is_soundtrack_candidate,
    iter_records,
    main,
    verify_checksum,
)
from scripts.soundtrack_terms import title_says_soundtrack

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
DUMPS = SHARED_DATA / "discogs_dump_xml"
MASTERS_2020 = DUMPS / "discogs_20200806_masters.xml.gz"
RELEASES_2020 = DUMPS / "discogs_20200806_releases.xml.gz"
DIR_2025 = DUMPS / "tgmz_2025"
MASTERS_2025 = DIR_2025 / "discogs_masters.xml.gz"
RELEASES_2025 = DIR_2025 / "discogs_releases.xml.gz"



def realdata(test):
    """Mark a test as reading ../shared/data and skip it, saying why, when the samples are absent."""
    reason = f"real Discogs dump samples not found at {DUMPS} (../shared/data beside the project)"
    return pytest.mark.skipif(not DUMPS.is_dir(), reason=reason)(pytest.mark.realdata(test))


MASTER_KEYS = {"id", "title", "year", "main_release", "artists", "genres", "styles", "data_quality"}
RELEASE_KEYS = {
    "id", "status", "title", "year", "released", "country", "master_id", "is_main_release", "artists",
    "extraartists", "genres", "styles", "formats", "labels", "data_quality",
}
ARTIST_KEYS = {"id", "name", "anv", "join", "role"}


def artist(id_, name, anv="", join="", role=""):
    return {"id": id_, "name": name, "anv": anv, "join": join, "role": role}


def assert_contract_shape(record: dict, kind: str) -> None:
    """Exact keys and value types of docs/contracts.md "Discogs record shape"."""
    assert set(record) == (MASTER_KEYS if kind == "masters" else RELEASE_KEYS)
    assert isinstance(record["id"], int) and record["id"] > 0
    assert isinstance(record["title"], str) and isinstance(record["data_quality"], str)
    assert isinstance(record["year"], int) and (record["year"] == 0 or 1000 <= record["year"] <= 2100)
    assert all(isinstance(g, str) and g for g in record["genres"] + record["styles"])
    people = record["artists"] + record.get("extraartists", [])
    for person in people:
        assert set(person) == ARTIST_KEYS
        assert person["id"] is None or isinstance(person["id"], int)
        assert all(isinstance(person[k], str) for k in ("name", "anv", "join", "role"))
    if kind == "masters":
        assert record["main_release"] is None or isinstance(record["main_release"], int)
        return
    assert all(isinstance(record[k], str) for k in ("status", "released", "country"))
    assert record["year"] == (int(record["released"][:4]) if record["released"][:4].isdigit() else 0)
    assert record["master_id"] is None or isinstance(record["master_id"], int)
    assert (record["is_main_release"] is None) == (record["master_id"] is None)
    for fmt in record["formats"]:
        assert set(fmt) == {"name", "qty", "text", "descriptions"}
        assert isinstance(fmt["qty"], str) and all(isinstance(d, str) for d in fmt["descriptions"])
    for label in record["labels"]:
        assert set(label) == {"id", "name", "catno"}
        assert label["id"] is None or isinstance(label["id"], int)


def write_dump(folder: Path, name: str, xml: str) -> Path:
    """Write hand-made dump XML, gzip-compressed when `name` ends in .gz."""
    path = folder / name
    data = xml.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return path


def by_id(path: Path) -> dict[int, dict]:
    return {record["id"]: record for record in iter_records(path)}


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


# --- detect_kind --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, kind",
    [("discogs_20200806_masters.xml.gz", "masters"), ("discogs_releases.xml", "releases"),
     ("Discogs_20250101_RELEASES.xml.gz", "releases")],
)
def test_detect_kind_from_file_name_without_opening_the_file(tmp_path, name, kind):
    assert detect_kind(tmp_path / name) == kind  # the file does not exist: the name alone decides


@pytest.mark.parametrize("gz", [False, True])
def test_detect_kind_from_root_element_when_name_says_nothing(tmp_path, gz):
    path = write_dump(tmp_path, "dump.xml.gz" if gz else "dump.xml", "<releases><release id='1'/></releases>")
    assert detect_kind(path) == "releases"


def test_detect_kind_rejects_other_dumps(tmp_path):
    path = write_dump(tmp_path, "discogs_20200806_artists.xml.gz", "<artists><artist><id>1</id></artist></artists>")
    with pytest.raises(DumpFormatError, match=r"artists\.xml\.gz: root element <artists> is neither"):
        detect_kind(path)


def test_detect_kind_on_empty_file_is_a_format_error(tmp_path):
    path = write_dump(tmp_path, "dump.xml", "")
    with pytest.raises(DumpFormatError, match="truncated or corrupt"):
        detect_kind(path)


# --- records from the real samples --------------------------------------------------------------

@realdata
def test_2020_master_star_trek_whole_record():
    masters = by_id(MASTERS_2020)
    assert masters[129711] == {
        "id": 129711,
        "title": "Star Trek (Music From The Motion Picture)",
        "year": 2009,
        "main_release": 1750386,
        "artists": [artist(236226, "Michael Giacchino")],
        "genres": ["Classical", "Stage & Screen"],
        "styles": ["Soundtrack", "Score", "Contemporary"],
        "data_quality": "Correct",
    }
    assert len(masters) == 1000
    assert masters[517026]["year"] == 0  # <year>0</year> in the dump stays 0


@realdata
def test_2020_release_1_whole_record_with_character_references_resolved():
    releases = by_id(RELEASES_2020)
    assert releases[1] == {
        "id": 1,
        "status": "Accepted",
        "title": "Stockholm",
        "year": 1999,
        "released": "1999-03-00",
        "country": "Sweden",
        "master_id": 1660109,
        "is_main_release": True,
        "artists": [artist(1, "The Persuader")],
        "extraartists": [artist(239, "Jesper Dahlbäck", role="Music By [All Tracks By]")],  # Dahlb&#228;ck
        "genres": ["Electronic"],
        "styles": ["Deep House"],
        "formats": [{"name": "Vinyl", "qty": "2", "text": "", "descriptions": ['12"', "33 ⅓ RPM"]}],  # &#8531;
        "labels": [{"id": 5, "name": "Svek", "catno": "SK032"}],
        "data_quality": "Needs Vote",
    }
    assert releases[2]["artists"][0]["name"] == "Mr. James Barth & A.D."  # &amp;
    assert sum(r["master_id"] is None for r in releases.values()) == 385  # 615 of 1000 carry <master_id>
    assert {r["is_main_release"] for r in releases.values() if r["master_id"]} == {True, False}


@realdata
def test_2025_master_whole_record_keeps_the_new_trailing_join():
    masters = by_id(MASTERS_2025)
    assert sorted(masters) == [115, 18080, 240656, 482870]
    # The same master in the 2020 dump has join "" (all fields written); 2025 writes "," and omits anv/role.
    assert masters[115] == {
        "id": 115, "title": "Soleil", "year": 2004, "main_release": 336873,
        "artists": [artist(233125, "Soleil (2)", join=",")],
        "genres": ["Electronic"], "styles": ["IDM", "Electro"], "data_quality": "Correct",
    }
    assert masters[240656]["artists"][1]["anv"] == "Трио Современной Джазовой Музыки"


@realdata
def test_2025_release_without_master_released_or_images():
    releases = by_id(RELEASES_2025)
    assert len(releases) == 11
    # <master_id is_main_release="false">0</master_id> and no <released>: no master, year unknown.
    assert releases[10850325] == {
        "id": 10850325,
        "status": "Accepted",
        "title": "Decca - Die Erste Wahl (Höhepunkte Aus Dem Decca Katalog)",
        "year": 0,
        "released": "",
        "country": "Germany",
        "master_id": None,
        "is_main_release": None,
        "artists": [artist(194, "Various")],
        "extraartists": [],
        "genres": ["Classical"],
        "styles": [],
        "formats": [{"name": "CD", "qty": "1", "text": "", "descriptions": ["Compilation", "Remastered"]}],
        "labels": [{"id": 5320, "name": "Decca", "catno": "443 144-2"}],
        "data_quality": "Needs Vote",
    }
    assert releases[2323]["status"] == ""  # 2025 leaves the status attribute out on some releases
    assert (releases[2323]["master_id"], releases[2323]["is_main_release"]) == (19830, False)
    assert (releases[3870362]["master_id"], releases[3870362]["is_main_release"]) == (482870, True)
    assert releases[2460568]["year"] == 1998 and releases[2460568]["released"] == "1998"
    # 2025 writes credits that are not linked to an artist page without <id>
    assert artist(None, "Martin L. Gore", anv="M.L. Gore", role="Written By [All Songs Written By]") in (
        releases[10222]["extraartists"])
    assert releases[4957101]["formats"][1] == {
        "name": "CD", "qty": "41", "text": "", "descriptions": ["Album", "Reissue"]}
    assert releases[1349372]["formats"][0]["text"] == "SR"


@realdata
@pytest.mark.parametrize("path, kind", [(MASTERS_2020, "masters"), (RELEASES_2020, "releases"),
                                        (MASTERS_2025, "masters"), (RELEASES_2025, "releases")])
def test_every_real_record_has_the_contract_shape_and_bytes_are_counted(path, kind):
    stats = DumpStats()
    records = list(iter_records(path, stats=stats))
    for record in records:
        assert_contract_shape(record, kind)
    assert stats.records_seen == len(records) and stats.records_bad == 0
    assert stats.bytes_read_uncompressed == len(gzip.decompress(path.read_bytes()))
    assert stats.files == [str(path)]


@realdata
@pytest.mark.parametrize(
    "path, genres, styles, expected",
    [
        # The README's counts (27 masters, 36 releases) plus master 387806, "Bait: Music From And
        # Inspired By The Motion Picture", filed under Hip Hop only: kept for its title.
        (MASTERS_2020, ("Stage & Screen",), (), 28),
        (RELEASES_2020, ("Stage & Screen",), (), 36),
        (MASTERS_2020, ("Stage & Screen",), ("Soundtrack", "Score", "Musical"), 29),
        (RELEASES_2020, ("Stage & Screen",), ("Soundtrack", "Score", "Musical"), 36),
        (MASTERS_2020, (), ("Soundtrack", "Score", "Musical"), 19),
        (RELEASES_2025, ("Stage & Screen",), ("Soundtrack", "Score", "Musical"), 0),
    ],
)
def test_soundtrack_filter_counts_on_real_samples(path, genres, styles, expected):
    kept = [r for r in iter_records(path) if is_soundtrack_candidate(r, genres, styles)]
    assert len(kept) == expected
    assert all(set(r["genres"]) & set(genres) or set(r["styles"]) & set(styles) or title_says_soundtrack(r["title"])
               for r in kept)


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"genres": ["Stage & Screen"], "styles": []}, True),
        ({"genres": ["Electronic"], "styles": ["Score"]}, True),
        ({"genres": ["Electronic"], "styles": ["Techno"]}, False),
        ({"genres": [], "styles": []}, False),
        ({"genres": None, "styles": None}, False),
        ({"genres": ["stage & screen"], "styles": []}, False),  # exact Discogs spelling only
    ],
)
def test_is_soundtrack_candidate_defaults(record, expected):
    assert is_soundtrack_candidate(record) is expected


def test_is_soundtrack_candidate_configurable():
    record = {"genres": ["Jazz"], "styles": ["Free Jazz"]}
    assert is_soundtrack_candidate(record, genres=["Jazz"], styles=[])
    assert is_soundtrack_candidate(record, genres=[], styles={"Free Jazz"})
    assert not is_soundtrack_candidate(record, genres=[], styles=[])


# --- hand-written XML: missing fields, bad records, unicode ---------------------------------------

def test_minimal_records_get_contract_defaults(tmp_path):
    masters = write_dump(tmp_path, "m_masters.xml", '<masters><master id="7"></master></masters>')
    releases = write_dump(tmp_path, "r_releases.xml", '<releases><release id="8"/></releases>')
    assert list(iter_records(masters)) == [{
        "id": 7, "title": "", "year": 0, "main_release": None, "artists": [], "genres": [], "styles": [],
        "data_quality": "",
    }]
    assert list(iter_records(releases)) == [{
        "id": 8, "status": "", "title": "", "year": 0, "released": "", "country": "", "master_id": None,
        "is_main_release": None, "artists": [], "extraartists": [], "genres": [], "styles": [], "formats": [],
        "labels": [], "data_quality": "",
    }]


@pytest.mark.parametrize(
    "released, year",
    [("2009-05-05", 2009), ("1999-03-00", 1999), ("1975", 1975), ("", 0), ("?", 0), ("75", 0),
     ("１９９９", 0), ("19x9-01-01", 0)],
)
def test_release_year_is_first_four_digits_of_released(tmp_path, released, year):
    path = write_dump(tmp_path, "x_releases.xml",
                      f'<releases><release id="3"><released>{released}</released></release></releases>')
    [record] = iter_records(path)
    assert (record["year"], record["released"]) == (year, released)


def test_unicode_and_character_references_in_plain_and_gzip_files(tmp_path):
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n<releases>\r\n'
        '<release id="42" status="Accepted"><title>Caf&#233; &amp; B&#228;r — 東京</title>'
        '<artists><!-- a comment is not an artist --><artist><id>9</id><name>Bj&#246;rk</name>'
        '<anv/><join/><role/><tracks/></artist></artists>'
        '<labels><label name="Var&#232;se Sarabande" catno="VSD-5" id="x"/></labels>'
        '<master_id is_main_release="true">77</master_id>'
        '<tracklist><track><title>ignored</title></track></tracklist><notes>ignored</notes>'
        '</release>\r\n</releases>\r\n'
    )
    for name in ("u_releases.xml", "u_releases.xml.gz"):
        [record] = iter_records(write_dump(tmp_path, name, xml))
        assert record["title"] == "Café & Bär — 東京"
        assert record["artists"] == [artist(9, "Björk")]
        assert record["labels"] == [{"id": None, "name": "Varèse Sarabande", "catno": "VSD-5"}]
        assert (record["master_id"], record["is_main_release"]) == (77, True)


BAD_MASTERS_XML = """<masters>
<master id="abc"><title>non-numeric id</title></master>
<master><title>no id at all</title></master>
<master id="5"><title>Good One</title><year>1999</year></master>
<master id="0"><title>zero id</title></master>
<master id=" "><title>blank id</title></master>
<master id="6"><title>Good Two</title><year> </year></master>
</masters>
"""


def test_bad_ids_are_counted_and_sampled_not_emitted(tmp_path):
    path = write_dump(tmp_path, "bad_masters.xml", BAD_MASTERS_XML)
    stats = DumpStats()
    records = list(iter_records(path, stats=stats))
    assert [(r["id"], r["title"], r["year"]) for r in records] == [(5, "Good One", 1999), (6, "Good Two", 0)]
    assert (stats.records_seen, stats.records_bad) == (6, 4)
    assert [(s["file"], s["element_index"], s["reason"]) for s in stats.bad_samples] == [
        (str(path), 0, "id 'abc' is not a positive whole number"),
        (str(path), 1, "missing id attribute"),
        (str(path), 3, "id '0' is not a positive whole number"),
        (str(path), 4, "missing id attribute"),
    ]
    assert stats.bad_samples[0]["snippet"].startswith('<master id="abc"><title>non-numeric id</title>')


def test_bad_samples_are_bounded_but_all_bad_records_counted(tmp_path):
    xml = "<masters>" + '<master id="no"/>' * 7 + "</masters>"
    stats = DumpStats(max_bad_samples=3)
    assert list(iter_records(write_dump(tmp_path, "b_masters.xml", xml), stats=stats)) == []
    assert (stats.records_bad, len(stats.bad_samples)) == (7, 3)
    assert [s["element_index"] for s in stats.bad_samples] == [0, 1, 2]


def test_bad_records_are_logged_when_no_stats_are_given(tmp_path, caplog):
    path = write_dump(tmp_path, "bad_masters.xml", BAD_MASTERS_XML)
    with caplog.at_level(logging.WARNING, logger="scripts.discogs_dump"):
        assert len(list(iter_records(path))) == 2
    assert "4 record(s) without a usable id were skipped" in caplog.text


def test_nested_elements_with_the_record_tag_are_not_records(tmp_path):
    xml = '<releases><release id="1"><sub><release id="99"/></sub><title>Outer</title></release></releases>'
    assert [r["id"] for r in iter_records(write_dump(tmp_path, "n_releases.xml", xml))] == [1]


def test_dump_whose_root_does_not_match_its_name_is_rejected(tmp_path):
    path = write_dump(tmp_path, "discogs_masters.xml", '<releases><release id="1"/></releases>')
    with pytest.raises(DumpFormatError, match=r"root element is <releases>, expected <masters>"):
        list(iter_records(path))


def test_unknown_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="kind must be one of"):
        list(iter_records(write_dump(tmp_path, "a.xml", "<artists/>"), kind="artists"))


# --- truncated and corrupt files -----------------------------------------------------------------

@realdata
def test_truncated_gzip_download_raises_dump_format_error(tmp_path):
    cut = tmp_path / RELEASES_2020.name
    cut.write_bytes(RELEASES_2020.read_bytes()[: RELEASES_2020.stat().st_size // 2])
    with pytest.raises(DumpFormatError) as info:
        for _ in iter_records(cut):
            pass
    message = str(info.value)
    assert str(cut) in message and "truncated or corrupt" in message and "re-download" in message
    assert isinstance(info.value.__cause__, EOFError)
    assert "\n" not in message


@pytest.mark.parametrize(
    "name, content",
    [
        ("cut_releases.xml", b'<releases><release id="1"><title>Half'),
        ("html_releases.xml.gz", b"<html><body>502 Bad Gateway</body>"),  # error page saved under the dump's name
        ("empty_masters.xml.gz", b""),
    ],
)
def test_truncated_or_non_xml_files_raise_dump_format_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DumpFormatError, match=rf"{name}: looks truncated or corrupt .*re-download"):
        list(iter_records(path))


def test_corrupt_gzip_body_raises_dump_format_error(tmp_path):
    body = "<masters>" + "".join(f'<master id="{i}"><title>T{i}</title></master>' for i in range(1, 2000)) + "</masters>"
    data = bytearray(gzip.compress(body.encode(), mtime=0))
    for offset in range(len(data) // 2, len(data) // 2 + 32):
        data[offset] ^= 0xFF
    path = tmp_path / "corrupt_masters.xml.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DumpFormatError, match="corrupt_masters.xml.gz: looks truncated or corrupt"):
        list(iter_records(path))


# --- convert_dump ---------------------------------------------------------------------------------

@realdata
def test_convert_dump_is_byte_deterministic_and_writes_the_contract_shape(tmp_path):
    first = tmp_path / "a" / "discogs_20200806_releases.jsonl.gz"
    second = tmp_path / "b" / "other_name.jsonl.gz"
    stats_first = convert_dump(RELEASES_2020, first)
    convert_dump(RELEASES_2020, second)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime field
    records = read_jsonl_gz(first)
    assert len(records) == stats_first.records_kept == 36
    assert (stats_first.records_seen, stats_first.records_bad, stats_first.records_filtered_out) == (1000, 0, 964)
    for record in records:
        assert_contract_shape(record, "releases")
        assert is_soundtrack_candidate(record)
    raw_line = gzip.decompress(first.read_bytes()).split(b"\n")[0].decode("utf-8")
    assert raw_line == json.dumps(records[0], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # no temp file left behind


@realdata
def test_convert_dump_keep_all_and_plain_output(tmp_path):
    dest = tmp_path / "masters.jsonl"
    stats = convert_dump(MASTERS_2020, dest, keep_all=True)
    lines = dest.read_text(encoding="utf-8").splitlines()
    assert len(lines) == stats.records_kept == 1000
    star_trek = [json.loads(line) for line in lines if '"id":129711,' in line]
    assert star_trek[0]["artists"][0]["name"] == "Michael Giacchino"
    assert "Dahlbäck" not in lines[0]  # sanity: masters file, not releases
    assert any("\\u" not in line and any(ord(ch) > 127 for ch in line) for line in lines)  # ensure_ascii=False


@realdata
def test_convert_dump_accumulates_stats_across_files(tmp_path):
    stats = DumpStats()
    convert_dump(MASTERS_2025, tmp_path / "m.jsonl.gz", stats=stats, keep_all=True)
    convert_dump(RELEASES_2025, tmp_path / "r.jsonl.gz", stats=stats, keep_all=True)
    assert stats.files == [str(MASTERS_2025), str(RELEASES_2025)]
    assert (stats.records_seen, stats.records_kept) == (15, 15)
    assert stats.seconds > 0
    assert json.loads(json.dumps(stats.as_dict()))["records_filtered_out"] == 0


def test_interrupted_conversion_keeps_previous_output_and_leaves_no_partial_file(tmp_path):
    src = tmp_path / "src" / "cut_masters.xml"
    src.parent.mkdir()
    good = "".join(f'<master id="{i}"><genres><genre>Stage &amp; Screen</genre></genres></master>' for i in range(1, 50))
    src.write_text("<masters>" + good + '<master id="50"><tit', encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "cut_masters.jsonl.gz"
    dest.write_bytes(b"previous complete output")
    with pytest.raises(DumpFormatError):
        convert_dump(src, dest)
    assert dest.read_bytes() == b"previous complete output"
    assert [p.name for p in out.iterdir()] == [dest.name]


# --- checksums -----------------------------------------------------------------------------------

@realdata
def test_real_checksum_file_verifies_the_2025_files():
    for name in ("discogs_masters.xml.gz", "discogs_releases.xml.gz", "discogs_artists.xml.gz",
                 "discogs_labels.xml.gz"):
        assert verify_checksum(DIR_2025 / name) is True
    assert verify_checksum(MASTERS_2025, DIR_2025 / "discogs_CHECKSUM.txt") is True


@realdata
def test_tampered_copy_raises_checksum_mismatch(tmp_path):
    shutil.copy(DIR_2025 / "discogs_CHECKSUM.txt", tmp_path)
    copy = tmp_path / "discogs_masters.xml.gz"
    data = bytearray(MASTERS_2025.read_bytes())
    data[-10] ^= 0x01
    copy.write_bytes(bytes(data))
    expected = "83afacc7da4bccceadd348476d4e87228738300585563425bc75637146c04289"
    with pytest.raises(ChecksumMismatchError) as info:
        verify_checksum(copy)
    message = str(info.value)
    assert str(copy) in message and f"expected {expected}" in message
    assert f"got {dd.sha256_of(copy)}" in message and "\n" not in message


def test_checksum_not_listed_returns_false(tmp_path):
    dump = write_dump(tmp_path, "discogs_20200806_masters.xml.gz", "<masters/>")
    assert verify_checksum(dump) is False  # no checksum file at all
    (tmp_path / "discogs_20200806_CHECKSUM.txt").write_text(f"{'0' * 64} discogs_20200806_releases.xml.gz\n")
    assert verify_checksum(dump) is False  # a checksum file that does not name this dump


def test_checksum_lines_in_sha256sum_format_are_understood(tmp_path):
    dump = write_dump(tmp_path, "d_masters.xml", "<masters/>")
    digest = dd.sha256_of(dump)
    listing = tmp_path / "elsewhere_CHECKSUM.txt"
    listing.write_text(f"{'f' * 64}  other.xml.gz\n{digest.upper()} *d_masters.xml\n")
    assert verify_checksum(dump, listing) is True


# --- command line ----------------------------------------------------------------------------------

@realdata
def test_cli_verifies_converts_and_logs_counts(tmp_path, caplog):
    out = tmp_path / "staging"
    with caplog.at_level(logging.INFO, logger="scripts.discogs_dump"):
        code = main([str(MASTERS_2025), str(RELEASES_2025), "--out", str(out), "--keep-all"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["discogs_masters.jsonl.gz", "discogs_releases.jsonl.gz"]
    assert [r["id"] for r in read_jsonl_gz(out / "discogs_masters.jsonl.gz")] == [115, 18080, 240656, 482870]
    assert "discogs_masters.xml.gz: sha256 matches discogs_CHECKSUM.txt" in caplog.text
    assert "4 records seen, 4 kept, 0 filtered out, 0 bad" in caplog.text


@realdata
def test_cli_filters_by_default_and_accepts_genre_options(tmp_path):
    out = tmp_path / "out"
    assert main([str(MASTERS_2020), "--out", str(out)]) == 0
    assert len(read_jsonl_gz(out / "discogs_20200806_masters.jsonl.gz")) == 29  # 28 + "Bait" by its title
    assert main([str(MASTERS_2020), "--out", str(out), "--genre", "Jazz", "--style", "Free Jazz"]) == 0
    jazz = read_jsonl_gz(out / "discogs_20200806_masters.jsonl.gz")
    assert jazz and all("Jazz" in r["genres"] or "Free Jazz" in r["styles"] or title_says_soundtrack(r["title"])
                        for r in jazz)


@realdata
def test_cli_exit_1_on_checksum_mismatch_but_converts_the_other_files(tmp_path, caplog):
    src = tmp_path / "src"
    shutil.copytree(DIR_2025, src)
    tampered = src / "discogs_masters.xml.gz"
    tampered.chmod(0o644)
    tampered.write_bytes(tampered.read_bytes()[:-1])
    out = tmp_path / "out"
    assert main([str(tampered), str(src / "discogs_releases.xml.gz"), "--out", str(out)]) == 1
    assert "sha256 mismatch" in caplog.text
    assert [p.name for p in out.iterdir()] == ["discogs_releases.jsonl.gz"]
    # with --no-verify the cut-off file is still caught, by the parser
    assert main([str(tampered), "--out", str(out), "--no-verify"]) == 1
    assert "looks truncated or corrupt" in caplog.text


def test_cli_exit_1_on_a_dump_that_is_not_masters_or_releases(tmp_path):
    src = write_dump(tmp_path, "discogs_20200806_artists.xml.gz", "<artists/>")
    assert main([str(src), "--out", str(tmp_path / "out"), "--no-verify"]) == 1


def test_cli_warns_when_no_checksum_lists_the_file(tmp_path, caplog):
    src = write_dump(tmp_path, "x_masters.xml", '<masters><master id="1"/></masters>')
    assert main([str(src), "--out", str(tmp_path / "out"), "--keep-all"]) == 0
    assert "no *CHECKSUM.txt beside it lists this file; not verified" in caplog.text


def test_cli_reports_bad_records_and_still_succeeds(tmp_path, caplog):
    src = write_dump(tmp_path, "bad_masters.xml", BAD_MASTERS_XML)
    with caplog.at_level(logging.INFO, logger="scripts.discogs_dump"):
        assert main([str(src), "--out", str(tmp_path / "out"), "--keep-all", "--no-verify"]) == 0
    assert "6 records seen, 2 kept, 0 filtered out, 4 bad" in caplog.text
    assert "bad record #0: id 'abc' is not a positive whole number" in caplog.text


@pytest.mark.parametrize(
    "argv",
    [[], ["x_masters.xml"], ["--out", "o"], ["missing_masters.xml.gz", "--out", "o"], ["--bogus"]],
)
def test_cli_usage_errors_exit_2(tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert not (tmp_path / "o").exists()


def test_cli_refuses_two_inputs_with_the_same_output_name(tmp_path):
    a = write_dump(tmp_path, "discogs_masters.xml.gz", "<masters/>")
    (tmp_path / "b").mkdir()
    b = write_dump(tmp_path / "b", "discogs_masters.xml", "<masters/>")
    assert main([str(a), str(b), "--out", str(tmp_path / "out")]) == 2


def test_cli_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "--keep-all" in capsys.readouterr().out


def test_module_runs_as_a_script(tmp_path):
    src = write_dump(tmp_path, "s_masters.xml", '<masters><master id="3"/></masters>')
    done = subprocess.run(
        [sys.executable, "-m", "scripts.discogs_dump", str(src), "--out", str(tmp_path / "out"), "--keep-all"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert read_jsonl_gz(tmp_path / "out" / "s_masters.jsonl.gz")[0]["id"] == 3
    assert "1 records seen, 1 kept" in done.stderr
    missing = subprocess.run([sys.executable, "-m", "scripts.discogs_dump", "nope.xml", "--out", "o"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env={"PYTHONPATH": str(PROJECT_ROOT)})
    assert missing.returncode == 2


def test_prefilter_gives_the_same_output_as_filtering_built_records(shared_data, tmp_path):
    """Deciding on the XML element must keep exactly the records the dict filter keeps."""
    src = shared_data / "discogs_dump_xml" / "discogs_20200806_releases.xml.gz"
    expected = [r for r in dd.iter_records(src) if dd.is_soundtrack_candidate(r)]
    stats = dd.convert_dump(src, tmp_path / "out.jsonl")
    got = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert got == expected and stats.records_kept == len(expected) == 36
    assert stats.records_seen == 1000 and stats.records_bad == 0
