"""The lake layer (scripts/lake.py, lake_transfer.py, raw_folder.py) with the real Azure SDK against
the ADLS Gen2 stand-in on 127.0.0.1 (tests/lake_server.py), with injected faults."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from scripts.acquire import RawStore, StoreBusyError
from scripts.generate_sample_data import generate
from scripts.lake import ConflictError, Lake, parse_lake_uri
from scripts.lake_transfer import download, upload
from scripts.lake_transfer import main as transfer_main
from scripts.raw_folder import LakeRawFolder
from scripts.settings import ConfigError, load_settings
from tests.lake_server import LakeServer

SAS = "sv=2023-08-03&ss=b&srt=sco&sp=rwdlac&sig=c2VjcmV0LXNpZ25hdHVyZS1mb3ItdGVzdHM%3D"
URI = "abfss://soundtracks@devaccount.dfs.core.windows.net/pipeline"
CHUNK = 64 * 1024


@pytest.fixture()
def server():
    srv = LakeServer().start()
    yield srv
    srv.stop()


@pytest.fixture()
def settings(server, tmp_path):
    return load_settings({"DATA_ROOT": URI, "AZURE_STORAGE_ENDPOINT": server.account_url,
                          "AZURE_STORAGE_SAS_TOKEN": SAS}, dotenv_path=tmp_path / "no.env")


def open_lake(settings, retries: int = 3) -> Lake:
    lake = Lake.open(URI, settings, retries=retries, backoff=0.01)
    lake.ensure_filesystem()
    return lake


def checksums(root: Path, layers=("raw", "gold", "metrics", "reports")) -> dict[str, str]:
    out = {}
    for layer in layers:
        for path in sorted((root / layer).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_data_root(root: Path) -> None:
    """A generated raw/ plus output-like layers: a multi-chunk file, an empty file, unicode names."""
    generate(root / "raw", films=40, seed=7)
    (root / "gold" / "film_soundtracks").mkdir(parents=True)
    (root / "gold" / "film_soundtracks" / "part-00000.parquet").write_bytes(bytes(range(256)) * 1500)  # 384 KiB
    (root / "gold" / "film_soundtracks" / "_SUCCESS").write_bytes(b"")
    (root / "metrics").mkdir()
    (root / "metrics" / "run_x.json").write_text('{"status": "ok", "note": "Amélie – 千と千尋"}', encoding="utf-8")
    (root / "reports").mkdir()
    (root / "reports" / "report_Zoë.html").write_text("<html>Zoë</html>", encoding="utf-8")


def test_uri_parsing_and_settings_validation(tmp_path):
    parsed = parse_lake_uri("abfss://soundtracks@acct01.dfs.core.windows.net/a/b/")
    assert (parsed.filesystem, parsed.account, parsed.path) == ("soundtracks", "acct01", "a/b")
    assert parsed.account_url == "https://acct01.dfs.core.windows.net"
    for bad in ("s3a://bucket/x", "abfss://UPPER@acct01.dfs.core.windows.net/x",
                "abfss://soundtracks@acct01.dfs.core.windows.net/a/../b", "abfss://c@a.dfs.core.windows.net/x"):
        with pytest.raises(ConfigError):
            parse_lake_uri(bad)
    with pytest.raises(ConfigError, match="no sig"):
        load_settings({"AZURE_STORAGE_SAS_TOKEN": "sv=1"}, dotenv_path=tmp_path / "no.env")
    with pytest.raises(ConfigError, match="AZURE_KEY_VAULT_URL"):
        load_settings({"AZURE_KEY_VAULT_URL": "http://evil.example/"}, dotenv_path=tmp_path / "no.env")
    masked = load_settings({"AZURE_STORAGE_SAS_TOKEN": SAS, "AZURE_STORAGE_CONNECTION_STRING": "AccountKey=k"},
                           dotenv_path=tmp_path / "no.env")
    assert SAS not in repr(masked) and "AccountKey" not in repr(masked)
    assert masked.describe()["azure_storage_sas_token"] == "set"


def test_round_trip_local_lake_local_is_unchanged(server, settings, tmp_path, capsys, caplog):
    source = tmp_path / "here"
    make_data_root(source)
    lake = open_lake(settings)
    caplog.set_level(logging.DEBUG)
    sent = upload(source, lake, ("raw", "gold", "metrics", "reports"), chunk_size=CHUNK, progress=False)
    assert sent.failed == [] and sent.sent == sent.files == len(checksums(source))
    back = tmp_path / "back"
    got = download(lake, back, ("raw", "gold", "metrics", "reports"), progress=False)
    assert got.failed == [] and got.sent == got.files
    assert checksums(back) == checksums(source)
    # the lake holds exactly the files, no staging leftovers, each with the MD5 it was sent with
    stored = server.files("soundtracks")
    assert sorted(stored) == sorted(f"pipeline/{rel}" for rel in checksums(source))
    assert server.unauthenticated == 0
    # a second pass moves nothing either way
    assert upload(source, lake, ("raw", "gold", "metrics", "reports"), progress=False).skipped == sent.files
    assert download(lake, back, ("raw", "gold", "metrics", "reports"), progress=False).skipped == got.files
    assert "c2VjcmV0" not in caplog.text and "c2VjcmV0" not in capsys.readouterr().err


def test_interrupted_upload_resumes_without_resending_finished_files(server, settings, tmp_path):
    source = tmp_path / "here"
    make_data_root(source)
    big = source / "gold" / "film_soundtracks" / "part-00000.parquet"
    lake = open_lake(settings, retries=0)
    layers = ("gold", "raw", "metrics", "reports")   # gold first: _SUCCESS (empty), then the big file
    # The connection drops once, on the big file's 6th chunk, and the SDK may not retry (retries=0):
    # that file fails after 4 chunks were committed to its staging file; every other file goes up.
    server.faults.add("append", "reset", times=1, after=5)
    first = upload(source, lake, layers, chunk_size=CHUNK, progress=False)
    assert first.failed == ["gold/film_soundtracks/part-00000.parquet"]
    assert first.sent == first.files - 1
    assert not lake.exists("gold/film_soundtracks/part-00000.parquet")   # never visible half-written
    appended_first = server.bytes_appended
    second = upload(source, lake, layers, chunk_size=CHUNK, progress=False)
    assert second.failed == []
    assert (second.skipped, second.sent) == (first.sent, 1)              # finished files are not re-sent
    # the big file continued after what its staging file had committed (4 chunks flushed), not from 0
    assert second.bytes == big.stat().st_size - 4 * CHUNK
    assert server.bytes_appended - appended_first == second.bytes
    back = tmp_path / "back"
    download(lake, back, ("raw", "gold", "metrics", "reports"), progress=False)
    assert checksums(back) == checksums(source)


def test_transient_503_and_a_reset_mid_upload_are_retried_by_the_sdk(server, settings, tmp_path):
    source = tmp_path / "here"
    make_data_root(source)
    lake = open_lake(settings, retries=3)
    server.faults.add("flush", "503", times=2)
    server.faults.add("append", "reset", times=1, after=3)
    summary = upload(source, lake, ("gold",), chunk_size=CHUNK, progress=False)
    assert summary.failed == []
    data = server.files("soundtracks")["pipeline/gold/film_soundtracks/part-00000.parquet"]
    assert data == (source / "gold" / "film_soundtracks" / "part-00000.parquet").read_bytes()


def test_a_conditional_write_conflict_is_not_lost(server, settings):
    lake = open_lake(settings)
    etag = lake.write_atomic("raw/tmdb/_state.json", b'{"v": 1}')
    lake.write_atomic("raw/tmdb/_state.json", b'{"v": 2}', etag=etag)
    with pytest.raises(ConflictError):
        lake.write_atomic("raw/tmdb/_state.json", b'{"v": 3}', etag=etag)    # stale ETag: refused
    with pytest.raises(ConflictError):
        lake.create_exclusive("raw/tmdb/_state.json", b"{}")
    server.faults.add("rename", "412")
    with pytest.raises(ConflictError):
        lake.write_atomic("raw/tmdb/_state.json", b'{"v": 4}')
    assert lake.read("raw/tmdb/_state.json") == b'{"v": 2}'
    assert [name for name in server.files("soundtracks") if ".upload-" in name] == []


def test_lake_raw_store_keeps_exactly_once_across_a_kill_and_a_second_writer(server, settings):
    lake = open_lake(settings)
    folder = LakeRawFolder(lake.child("raw/tmdb"))
    with RawStore(folder, {"movies": "api_movies"}, checkpoint_seconds=0) as store:
        for movie_id in (1, 2, 3):
            store.write("movies", movie_id, {"id": movie_id, "title": f"Zoë {movie_id}"})
        store.checkpoint()
        with pytest.raises(StoreBusyError):                    # one writer per folder, also in the lake
            RawStore(LakeRawFolder(lake.child("raw/tmdb")), {"movies": "api_movies"}).open()
        store.write("movies", 4, {"id": 4, "title": "committed after the checkpoint"})
        store._handles["movies"].commit()
        store.write("movies", 5, {"id": 5, "title": "buffered, never committed"})
        # a hard kill: no checkpoint, no unlock; the lock expires
        store.state = {}
        store._handles.clear()
    folder.lake.write_atomic("_fetch.lock", json.dumps({"owner": "dead", "expires": 0}).encode())
    with RawStore(LakeRawFolder(lake.child("raw/tmdb")), {"movies": "api_movies"}) as store:
        assert store.repaired == {"records_adopted": 1}
        assert all(store.is_done("movies", i) for i in (1, 2, 3, 4)) and not store.is_done("movies", 5)
        store.write("movies", 5, {"id": 5, "title": "fetched again"})
        # someone rewrites the checkpoint behind the store's back: its next checkpoint must fail
        lake.write_atomic("raw/tmdb/_state.json", b'{"version": 1}')
        with pytest.raises(ConflictError):
            store.checkpoint(force=True)
        store.state = {}
    lines = [json.loads(line) for name, data in server.files("soundtracks").items()
             if name.startswith("pipeline/raw/tmdb/api_movies_") for line in data.splitlines()]
    assert sorted(record["id"] for record in lines) == [1, 2, 3, 4, 5]


def test_cli_upload_download_and_errors(server, settings, tmp_path, capsys):
    source = tmp_path / "here"
    make_data_root(source)
    assert transfer_main(["upload", "--local", str(source), "--layers", "raw,gold", "--no-progress"],
                         settings=settings) == 0
    out = capsys.readouterr().out
    assert out.startswith("upload: ") and " 0 failed" in out and out.count("\n") == 1
    back = tmp_path / "back"
    assert transfer_main(["download", "--local", str(back), "--layers", "raw,gold"], settings=settings) == 0
    assert checksums(back, ("raw", "gold")) == checksums(source, ("raw", "gold"))
    assert transfer_main(["download", "--local", str(tmp_path / "bar"), "--layers", "gold", "--progress"],
                         settings=settings) == 0
    bar = capsys.readouterr().err
    assert "download: 100%" in bar and "B/s" in bar and "<00:00" in bar     # total, rate and ETA shown
    assert transfer_main(["download", "--layers", "../etc"], settings=settings) == 2
    no_lake = load_settings({"DATA_ROOT": str(tmp_path)}, dotenv_path=tmp_path / "no.env")
    assert transfer_main(["upload"], settings=no_lake) == 2
    assert "LAKE_DATA_ROOT" in capsys.readouterr().err
    server.faults.add("list", "503", times=100)
    slow = load_settings({"DATA_ROOT": URI, "AZURE_STORAGE_ENDPOINT": server.account_url,
                          "AZURE_STORAGE_SAS_TOKEN": SAS}, dotenv_path=tmp_path / "no.env")
    import scripts.lake as lake_module

    original = lake_module._retry_policy
    lake_module._retry_policy = lambda total, backoff: original(0, 0.01)
    try:
        assert transfer_main(["download", "--local", str(back)], settings=slow) == 1
    finally:
        lake_module._retry_policy = original
    assert "c2VjcmV0" not in capsys.readouterr().err
