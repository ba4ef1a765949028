"""SOURCE=api with an abfss:// DATA_ROOT: the fetch writes into the ADLS Gen2 stand-in, then the run.

The Spark steps cannot read abfss:// here (no hadoop-azure jar offline), so the test does what a
user does to look at a lake run locally: fetch into the lake through the pipeline's own input
stage, `make download` raw/ (scripts.lake_transfer), and run steps 1-4 on it in local Spark.
"""
from __future__ import annotations

import functools
import json

import pytest

from scripts import acquire
from scripts.lake import Lake
from scripts.lake_transfer import download
from scripts.settings import load_settings
from scripts_spark import pipeline, runner, storage
from tests.lake_server import LakeServer
from tests.scripts.fake_api_server import SKIP_REASON, FakeApiServer, install_discogs, install_tmdb, shared_data_present

pytestmark = [pytest.mark.realdata, pytest.mark.skipif(not shared_data_present(), reason=SKIP_REASON)]

URI = "abfss://soundtracks@devaccount.dfs.core.windows.net/pipeline"
SAS = "sv=2023-08-03&sp=rwdl&sig=bGFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz"
TOKEN = "test-token-not-a-secret-0001"


def test_api_source_fetches_into_the_lake_then_runs(spark, tmp_path, monkeypatch, capsys):
    from tests.scripts.test_acquire import CATALOGUE_2020, discogs_catalogue

    lake_server = LakeServer().start()
    try:
        with FakeApiServer(limit=200, discogs_headers=True) as api:
            install_tmdb(api, catalogue=CATALOGUE_2020)
            install_discogs(api, discogs_catalogue())
            env = {"DATA_ROOT": URI, "SOURCE": "api", "AZURE_STORAGE_ENDPOINT": lake_server.account_url,
                   "AZURE_STORAGE_SAS_TOKEN": SAS, "TMDB_API_TOKEN": TOKEN, "DISCOGS_TOKEN": "discogs-token-0002",
                   "DISCOVER_FROM": "2020-01-01", "DISCOVER_TO": "2020-12-31",
                   "TMDB_API_BASE": api.url + "/3", "DISCOGS_API_BASE": api.url}
            monkeypatch.setenv("TMDB_API_BASE", api.url + "/3")
            monkeypatch.setenv("DISCOGS_API_BASE", api.url)
            monkeypatch.setattr(acquire, "FetchTuning", functools.partial(
                acquire.FetchTuning, discogs_max_calls=150, discogs_period=1.0, progress=False))
            settings = load_settings(env, dotenv_path=tmp_path / "no.env")
            layers = storage.Layers(settings.data_root)
            assert runner.ensure_raw_input(settings, layers) == "fetched"
            again = runner.ensure_raw_input(settings, layers)     # incremental: nothing new to fetch
            assert again == "fetched" and not api.violations
        stored = lake_server.files("soundtracks")
        tmdb_parts = [data for name, data in stored.items() if name.startswith("pipeline/raw/tmdb/api_movies_")]
        ids = [json.loads(line)["id"] for data in tmdb_parts for line in data.splitlines()]
        assert sorted(ids) == sorted(CATALOGUE_2020)                     # each film exactly once
        assert "pipeline/raw/tmdb/_state.json" in stored and "pipeline/raw/tmdb/_fetch.lock" not in stored
        assert not any(".upload-" in name for name in stored)
        assert all(TOKEN not in data.decode("utf-8", "replace") for data in stored.values())

        local = tmp_path / "local"
        lake = Lake.open(URI, settings, retries=1, backoff=0.01)
        assert download(lake, local, ("raw",), progress=False).failed == []
    finally:
        lake_server.stop()
    code = pipeline.main(["--data-root", str(local), "--source", "auto", "--steps", "1-4", "--run-id", "lake"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((local / "metrics" / "run_lake.json").read_text())
    assert metrics["input"] == "present" and metrics["status"] == "ok"
    films = spark.read.parquet(str(local / "bronze" / "tmdb_movies"))
    assert sorted(r.tmdb_id for r in films.select("tmdb_id").collect()) == sorted(CATALOGUE_2020)
    masters = spark.read.parquet(str(local / "bronze" / "discogs_masters"))
    assert {r.master_id for r in masters.collect()} == {4242, 129711}
