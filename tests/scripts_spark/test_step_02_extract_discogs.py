"""Step 02: Discogs JSON and dump sources to bronze, dump conversion reused when unchanged."""
import gzip
import json
import shutil

import pytest

from scripts_spark.ingest import MissingInputError
from scripts_spark.step_02_extract_discogs import extract_discogs, run
from tests.scripts_spark.helpers import lines, master, release, step_context


def test_release_columns_year_from_released_and_no_master(spark):
    body = release(5, "Unrest (Original Motion Picture Soundtrack)", 0, master_id=None, artists=["Bear McCreary"])
    body["released"] = "2017-09-00"
    body["master_id"] = 0       # the 2025 dump writes 0 for "no master"
    bronze_df, quarantine_df = extract_discogs(lines(spark, [body, {"id": None, "title": "x"}]), "releases")
    row = bronze_df.collect()[0]
    assert (row.release_id, row.master_id, row.year, row.country) == (5, None, 2017, "US")
    assert [a.name for a in row.artists] == ["Bear McCreary"]
    assert [q.reason for q in quarantine_df.collect()] == ["missing id"]


def test_master_year_zero_is_unknown(spark):
    bronze_df, _ = extract_discogs(lines(spark, [master(7, "Brigadoon", 0, ["Shirley Jones (2)"])]), "masters")
    assert [(r.master_id, r.year, r.main_release_id) for r in bronze_df.collect()] == [(7, None, None)]


@pytest.mark.parametrize("year, released, expected", [
    (0, "2001-00-00", 2001),        # month and day unknown
    (0, "1998", 1998),              # year only
    (0, " 1998-05-05 ", 1998),
    (0, "20010-05-05", None),       # five-digit year: no year rather than 2001
    (0, "0001-01-01", None),
    (1, "2001-05-05", 2001),        # an implausible year field falls back to `released`
    (20010, None, None),
    (0, "", None),
])
def test_release_year_only_when_plausible(spark, year, released, expected):
    """Issue 10 item 4 applied to Discogs: nonsense years are unknown, never a wrong year."""
    body = release(6, "Score", year, master_id=None, artists=["A"])
    body["released"] = released
    bronze_df, quarantine_df = extract_discogs(lines(spark, [body]), "releases")
    assert [r.year for r in bronze_df.collect()] == [expected]
    assert quarantine_df.count() == 0


def test_discogs_quarantine_keeps_the_original_bytes(spark):
    import base64
    cut = spark.createDataFrame([('{"id": 3, "title": "cut', "m_masters.jsonl")], "value string, source_file string")
    bronze_df, quarantine_df = extract_discogs(cut, "masters")
    row = quarantine_df.collect()[0]
    assert (row.reason, base64.b64decode(row.record_base64)) == ("malformed JSON", b'{"id": 3, "title": "cut')


def _write_jsonl_gz(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


@pytest.mark.realdata
def test_run_on_real_dump_and_api_bodies(spark, shared_data, tmp_path):
    raw = tmp_path / "raw" / "discogs"
    raw.mkdir(parents=True)
    # All four monthly files, as users download them: artists and labels are left alone.
    for kind in ("masters", "releases", "artists", "labels"):
        shutil.copy(shared_data / "discogs_dump_xml" / f"discogs_20200806_{kind}.xml.gz", raw)
    api_release = json.loads((shared_data / "discogs_api_json" / "joalla_discogs_client" / "discogs_client" /
                              "tests" / "res" / "releases" / "1.json").read_text())
    _write_jsonl_gz(raw / "api_releases_1.jsonl.gz", [api_release, api_release])   # a duplicate fetch
    _write_jsonl_gz(raw / "labels_dump.jsonl.gz", [{"id": 5, "name": "Svek"}])        # neither kind
    ctx = step_context(spark, tmp_path, "02")
    layers, step = ctx.layers, ctx.step_metrics
    run(ctx)
    masters = spark.read.parquet(layers.bronze("discogs_masters"))
    releases = spark.read.parquet(layers.bronze("discogs_releases"))
    star_trek = masters.filter("master_id = 129711").collect()[0]
    assert (star_trek.title, star_trek.year, star_trek.main_release_id) == \
        ("Star Trek (Music From The Motion Picture)", 2009, 1750386)
    assert [a.name for a in star_trek.artists] == ["Michael Giacchino"]
    # The API release (id 1, not a soundtrack, outside the dump subset) is ingested once.
    assert releases.filter("release_id = 1").count() == 1
    assert step.details["dump_files_converted"] == 2
    assert step.details["dump_records_seen"] == 2000
    assert step.details["json_files_ignored"] == ["labels_dump.jsonl.gz"]
    # 29: the real sample's "Bait: Music From And Inspired By..." is filed under Hip Hop only and is kept
    # for its title wording (issue 11: eligibility decided with evidence, not at parse time).
    assert step.rows_out == {"discogs_masters": 29, "discogs_releases": 37}

    # A second run reuses the conversions and gives the same tables.
    again_ctx = step_context(spark, tmp_path, "02")
    again = again_ctx.step_metrics
    run(again_ctx)
    assert again.details["dump_files_converted"] == 0
    assert again.rows_out == step.rows_out and again.quarantined == step.quarantined


def test_missing_input_is_a_clear_error(spark, tmp_path):
    with pytest.raises(MissingInputError, match="no Discogs input"):
        run(step_context(spark, tmp_path, "02"))
