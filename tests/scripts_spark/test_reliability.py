"""Issue 10 items 2, 3 and 8: unusable input fails the step, gold is published all or nothing, a
Spark failure is one line naming the file or table and the root cause, metrics survive a full disk.

Every test starts from a DATA_ROOT whose gold is already published (`_published_root`) and checks
that a failed run leaves it exactly as it was (content digest and pointer).
"""
from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from scripts.gold_digest import gold_digests
from scripts_spark import ingest, pipeline, storage
from tests.scripts_spark.helpers import film, lines, release


def _published_root(spark, root: Path) -> dict:
    """A DATA_ROOT with one published run "old" (one gold table) and good Discogs input; the digest."""
    layers = storage.Layers(str(root)).for_run("old")
    df = spark.createDataFrame([(1, "Amélie"), (2, None)], "tmdb_id long, title string")
    storage.write_gold(df, layers, "film_soundtracks", [df.tmdb_id])
    storage.publish_gold(spark, layers)
    discogs = root / "raw" / "discogs"
    discogs.mkdir(parents=True)
    (discogs / "releases.jsonl").write_text(json.dumps(release(10, "Amélie OST", 2001)) + "\n", encoding="utf-8")
    (root / "raw" / "tmdb").mkdir(parents=True)
    return _state(root)


def _state(root: Path) -> dict:
    return {"pointer": (root / "gold" / "_CURRENT").read_text(encoding="utf-8"), **gold_digests(root)}


def _films_jsonl(count: int) -> bytes:
    return "".join(json.dumps(film(i, f"Film {i}", "2001-05-05")) + "\n" for i in range(1, count + 1)).encode()


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


UNUSABLE = {
    "empty file": (b"", "films.jsonl: the files hold no lines"),
    "gzip named .jsonl": (gzip.compress(_films_jsonl(20)), "no usable line"),
    "pretty-printed JSON array": (json.dumps([film(1, "A", "2001-05-05"), film(2, "B", "2002-01-01")],
                                             indent=2).encode(), "'malformed JSON'"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_input_fails_the_step_and_keeps_the_published_gold(spark, tmp_path, capsys, case):
    root = tmp_path / "root"
    before = _published_root(spark, root)
    content, expected = UNUSABLE[case]
    (root / "raw" / "tmdb" / "films.jsonl").write_bytes(content)

    assert pipeline.main(["--data-root", str(root), "--run-id", "bad"]) == 1

    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and errors[0].startswith("error: step 01_extract_tmdb failed: UnusableInputError: ")
    assert "films.jsonl" in errors[0] and expected in errors[0], errors[0]
    assert _state(root) == before
    metrics = json.loads((root / "metrics" / "run_bad.json").read_text(encoding="utf-8"))
    assert metrics["status"] == "failed" and metrics["gold_run"] == "old"


def test_quarantine_share_above_the_limit_fails_and_names_the_worst_file(spark):
    good = [film(i, f"Film {i}", "2001-05-05") for i in range(1, 3)]
    lines_df = lines(spark, good, source="good.jsonl").unionByName(
        spark.createDataFrame([("{not json", "bad.jsonl"), ("[", "bad.jsonl"), ("{}", "other.jsonl")],
                              "value string, source_file string"))
    from scripts_spark.step_01_extract_tmdb import extract_tmdb

    movies_df, quarantine_df = extract_tmdb(lines_df)
    kept, quarantined = movies_df.count(), quarantine_df.count()
    assert (kept, quarantined) == (2, 3)
    with pytest.raises(ingest.UnusableInputError) as error:
        ingest.check_usable_input(quarantine_df, "TMDB", ["x/good.jsonl", "x/bad.jsonl"], 5, kept, quarantined, 0.5)
    assert str(error.value) == ("TMDB input: 3 of 5 lines (60%) quarantined, above MAX_QUARANTINE_SHARE=0.5 "
                                "(worst bad.jsonl: 2 lines 'malformed JSON')")
    # At or under the limit, and for an empty quarantine, the step goes on.
    ingest.check_usable_input(quarantine_df, "TMDB", ["x/good.jsonl"], 5, kept, quarantined, 0.6)
    ingest.check_usable_input(quarantine_df.limit(0), "TMDB", ["x/good.jsonl"], 2, 2, 0, 0.0)


def test_max_quarantine_share_is_validated():
    from scripts.settings import ConfigError, load_settings

    assert load_settings({"DATA_ROOT": "/tmp/x"}).max_quarantine_share == 0.5
    assert load_settings({"DATA_ROOT": "/tmp/x", "MAX_QUARANTINE_SHARE": "0.9"}).max_quarantine_share == 0.9
    for bad in ("1.5", "-0.1", "half", "nan"):
        with pytest.raises(ConfigError, match="MAX_QUARANTINE_SHARE"):
            load_settings({"DATA_ROOT": "/tmp/x", "MAX_QUARANTINE_SHARE": bad})


@pytest.mark.slow
def test_truncated_gzip_is_one_line_naming_the_file_and_the_cause(spark, tmp_path, capsys):
    root = tmp_path / "root"
    before = _published_root(spark, root)
    whole = gzip.compress(_films_jsonl(3000))
    (root / "raw" / "tmdb" / "films.jsonl.gz").write_bytes(whole[: len(whole) // 2])

    assert pipeline.main(["--data-root", str(root), "--run-id", "cut"]) == 1

    err = capsys.readouterr().err
    errors = _error_lines(err)
    assert len(errors) == 1, err
    assert "UnusableInputError: TMDB input films.jsonl.gz cannot be read: EOFError: Compressed file ended" \
        in errors[0], errors[0]
    assert "An error occurred while calling" not in errors[0] and "Traceback" not in err
    details = root / "metrics" / "run_cut_error.txt"
    assert f"(details: {details})" in errors[0] and "Py4JJavaError" in details.read_text(encoding="utf-8")
    assert _state(root) == before


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:  # ENOSPC: the filesystem is full, as wanted
            pass


@pytest.mark.slow
def test_full_disk_gives_one_line_and_a_metrics_fallback_without_a_traceback(spark, tmp_path, capfd, monkeypatch):
    root = tmp_path / "root"
    before = _published_root(spark, root)
    (root / "raw" / "tmdb" / "films.jsonl").write_bytes(_films_jsonl(50))
    log = tmp_path / "sync_log.md"
    monkeypatch.setenv("SYNC_LOG", str(log))
    full = [root / "bronze", root / "metrics"]
    try:
        for folder in full:
            _mount_tmpfs(folder, "64k")
            _fill(folder)
        code = pipeline.main(["--data-root", str(root), "--run-id", "full"])
    finally:
        for folder in full:
            # Lazy: the JVM may still hold a file open there; the mount goes once it is closed.
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
    err = capfd.readouterr().err
    assert code == 1
    errors = _error_lines(err)
    assert len(errors) == 2, err
    assert errors[0].startswith("error: step 01_extract_tmdb failed: ") and "No space left on device" in errors[0]
    assert "bronze/tmdb_movies" in errors[0]
    assert errors[1].startswith("error: run full: failed; metrics not written to ") and "run_full.json" in errors[1]
    assert "Traceback" not in err
    assert "run full: failed; metrics not written" in log.read_text(encoding="utf-8")
    assert _state(root) == before


def test_read_only_root_is_refused_in_one_line_and_changes_nothing(spark, tmp_path, capsys):
    root = tmp_path / "root"
    before = _published_root(spark, root)
    (root / "raw" / "tmdb" / "films.jsonl").write_bytes(_films_jsonl(5))
    bind = subprocess.run(["mount", "--bind", str(root), str(root)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"a read-only bind mount is not permitted here: {bind.stderr.strip()}")
    try:
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(root)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"remounting read-only is not permitted here: {remount.stderr.strip()}")
        code = pipeline.main(["--data-root", str(root), "--run-id", "ro"])
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)
    assert code == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot write in DATA_ROOT={root}: "), errors
    assert _state(root) == before


def test_old_run_folders_are_pruned_inside_gold_runs_only(spark, tmp_path):
    root = tmp_path / "root"
    base = storage.Layers(str(root))
    df = spark.createDataFrame([(1,)], "n int")
    for run_id in ("a", "b", "c", "d"):
        storage.write_gold(df, base.for_run(run_id), "t", [df.n])
        storage.publish_gold(spark, base.for_run(run_id))
    storage.write_gold(df, base.for_run("killed"), "t", [df.n])            # never published
    decoy = root / "gold" / "runs_keep"                                    # a folder beside runs/
    decoy.mkdir()
    assert storage.prune_runs(spark, base, keep=3) == ["a", "killed"]
    assert sorted(p.name for p in (root / "gold" / "runs").iterdir()) == ["b", "c", "d"]
    assert decoy.is_dir() and storage.current_run_id(spark, base) == "d"
    # A run id that is the published run cannot start: its folder would be emptied.
    with pytest.raises(storage.StorageError, match="is the published run"):
        storage.start_run_gold(spark, base, base.for_run("d"))


def test_layout_before_run_folders_is_read_until_a_run_publishes(spark, tmp_path):
    root = tmp_path / "root"
    df = spark.createDataFrame([(1,)], "n int")
    storage.write_gold(df, storage.Layers(str(root)), "t", [df.n])         # gold/t, no pointer
    layers = storage.published(spark, storage.Layers(str(root)))
    assert layers.gold("t") == f"{root}/gold/t" and storage.current_run_id(spark, layers) is None
    assert gold_digests(root)["tables"]["t"]["rows"] == 1
    run = storage.Layers(str(root)).for_run("new")
    assert storage.start_run_gold(spark, storage.Layers(str(root)), run) == ["t"]   # carried into the run
    storage.publish_gold(spark, run)
    assert gold_digests(root)["gold"] == f"{root}/gold/runs/new" and "t" in gold_digests(root)["tables"]
