"""The scale benchmark's measuring and reporting parts (the full runs are `make bench-scale`)."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

from scripts.proc_tree import TreePeaks, sample_tree
from scripts_spark import bench_scale as bs


def _run(label, films, seconds, steps, jvm=900.0, cpa=3.2):
    return bs.ScaleRun(label=label, films=films, releases=films // 2, seconds=seconds, exit_code=0,
                       steps=steps, peaks=TreePeaks(jvm=jvm, python_driver=80.0, python_workers=300.0, tree=1300.0),
                       candidates_per_album=cpa, quality={"precision": 0.99, "recall": 0.97, "f1": 0.98,
                                                          "pair_completeness": 0.995})


def test_sample_tree_sees_a_child_python_process():
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(60 * 1024 * 1024); time.sleep(5)"])
    try:
        deadline = time.monotonic() + 5
        seen = 0.0
        while time.monotonic() < deadline and seen < 60:
            import os

            seen = sample_tree(os.getpid())["python_workers"]
            time.sleep(0.1)
        assert seen >= 60  # the child's 60 MB buffer counts under the tree
    finally:
        child.kill()
        child.wait()


def test_growth_and_markdown():
    steps_small = [{"name": "01_extract_tmdb", "seconds": 10.0, "rows_in": 20000, "rows_out": 20000, "rows_per_s": 2000}]
    steps_large = [{"name": "01_extract_tmdb", "seconds": 50.0, "rows_in": 1000000, "rows_out": 1000000,
                    "rows_per_s": 20000}]
    runs = [_run("20k", 20000, 60.0, steps_small), _run("1M", 1000000, 300.0, steps_large)]
    (grown,) = bs.growth(runs)
    assert grown["data_x"] == 50.0 and grown["time_x"] == 5.0 and grown["time_per_data"] == 0.1
    text = bs.markdown(runs)
    header, separator = text.splitlines()[2:4]
    assert header.count("|") == separator.count("|")
    assert "| 20k | 20,000 | 10,000 | 60.0 | 10.0 | 900 | 80 | 300 | 1,300 | 3.2 | 0 / 0 | 0 |" in text
    assert grown["steps_time_per_data"] == {"01_extract_tmdb": 0.1}   # 5x the time for 50x the films
    assert "| 20k | 1M | 50.0 | 5.0 | 0.1 | 0.1 |" in text
    # Each size with a target gets its verdict: 60 s <= 65 s passes, 300 s <= 600 s passes.
    assert "- whole run on 20k: 60.0 s, target <= 65 s: PASS" in text
    assert "- whole run on 1M: 300.0 s, target <= 600 s: PASS" in text
    slow = bs.markdown([_run("20k", 20000, 80.0, steps_small)])
    assert "- whole run on 20k: 80.0 s, target <= 65 s: MISS" in slow


def test_write_section_replaces_only_its_own_block(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n## Dump parsing\n\nkept\n", encoding="utf-8")
    bs.write_section(doc, "first\n")
    bs.write_section(doc, "second\n")
    text = doc.read_text(encoding="utf-8")
    assert "kept" in text and "second" in text and "first" not in text
    assert text.count(bs.SECTION_BEGIN) == 1


def test_recorded_section_is_what_bench_scale_wrote(tmp_path):
    doc = tmp_path / "performance.md"
    assert bs.recorded_section(doc) is None
    doc.write_text("# Performance\n\nno section yet\n", encoding="utf-8")
    assert bs.recorded_section(doc) is None
    bs.write_section(doc, "| world | films |\n")
    assert bs.recorded_section(doc) == "| world | films |"


def test_candidates_per_album_from_step_details():
    assert bs._candidates_per_album([{"step": "04_match", "details": {"candidate_pairs": 50, "albums": 20}}]) == 2.5
    assert bs._candidates_per_album([{"step": "04_match", "details": {"candidates_per_album": 1.7}}]) == 1.7
    assert bs._candidates_per_album([{"step": "04_match", "details": {}}]) is None


def test_bad_sizes_are_a_usage_error(capsys):
    assert bs.main(["--sizes", "ten"]) == 2
    assert "must be whole numbers" in capsys.readouterr().err


def test_tree_sampler_keeps_the_peak_after_the_child_ends():
    import os

    from scripts.proc_tree import TreeSampler

    with TreeSampler(os.getpid(), interval=0.05) as sampler:
        child = subprocess.run([sys.executable, "-c", "x = bytearray(80 * 1024 * 1024); import time; time.sleep(1)"])
    assert child.returncode == 0
    assert sampler.peaks.python_workers >= 80 and sampler.peaks.tree >= sampler.peaks.python_workers


def test_bench_scale_section_measures_one_run_and_shows_the_recorded_table(tmp_path, monkeypatch, capsys):
    """The section's own logic; the pipeline run it measures is the one `run_pipeline` starts (its
    sampling is tested above, a real run is `make bench`)."""
    doc = tmp_path / "performance.md"
    bs.write_section(doc, "| generated 1,000,000 | recorded |\n")
    worlds = []
    monkeypatch.setattr(bs, "generated_world", lambda size, folder, seed=17: worlds.append(size) or folder)
    steps = [{"name": "01_extract_tmdb", "seconds": 9.0, "rows_in": 20000, "rows_out": 20000, "rows_per_s": 2222}]
    monkeypatch.setattr(bs, "run_pipeline", lambda root, label, **kw: _run(label, 20000, 70.5, steps))
    result = bs.run_scale_section(bs.SMALL_WORLD_FILMS, tmp_path, doc)
    out = capsys.readouterr().out
    assert worlds == [20000] and result["seconds"] == 70.5
    assert "| generated 1,000,000 | recorded |" in out and "generated 20,000" in out
    (check,) = result["checks"]
    assert check["status"] == "MISS" and check["target"] == bs.SMALL_RUN_TARGET_S


def test_parquet_layers_counts_the_published_run_only(tmp_path):
    for table, files in (("bronze/tmdb_movies", 3), ("silver/films", 2), ("gold/runs/old/matches", 5),
                         ("gold/runs/new/matches", 1)):
        folder = tmp_path / table
        folder.mkdir(parents=True)
        for i in range(files):
            (folder / f"part-{i}.parquet").write_bytes(b"x" * 500_000)
    (tmp_path / "gold" / "runs" / "new" / "matches_csv").mkdir()
    (tmp_path / "gold" / "_CURRENT").write_text("runs/new\n", encoding="utf-8")
    got = bs.parquet_layers(tmp_path)
    assert got == {"bronze": {"tables": 1, "files": 3, "mb": 1.5}, "silver": {"tables": 1, "files": 2, "mb": 1.0},
                   "gold": {"tables": 1, "files": 1, "mb": 0.5}}
    run = _run("20k", 20000, 60.0, [])
    run.layers = got
    assert "| 20k | 1 / 3 / 1.5; 0.50 | 1 / 2 / 1; 0.50 | 1 / 1 / 0.5; 0.50 |" in bs.markdown([run])


def test_a_kept_world_is_reused_only_for_the_same_size_and_seed(tmp_path):
    folder = bs.generated_world(40, tmp_path / "gen40")
    tmdb = next((folder / "raw" / "tmdb").iterdir())
    first = tmdb.stat().st_mtime_ns
    time.sleep(0.05)
    bs.generated_world(40, tmp_path / "gen40")
    assert tmdb.stat().st_mtime_ns == first           # same size and seed: not written again
    bs.generated_world(40, tmp_path / "gen40", seed=18)
    assert (folder / bs.WORLD_MARKER).read_text(encoding="utf-8") == "films=40 seed=18\n"


def test_a_run_is_measured_from_its_own_metrics_not_the_last_file_by_name(tmp_path):
    """A kept world holds other runs' metrics too: `run_s4.json` (a `--steps 4` run) sorts after
    every timestamped run and has no step 01, so reading the last file by name counted 0 films."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "run_bench-20261202T110350Z-1.json").write_text('{"steps": [{"step": "01_extract_tmdb"}]}')
    (metrics / "run_s4.json").write_text('{"steps": [{"step": "04_match"}]}')
    assert bs.run_metrics(tmp_path, "bench-20261202T110350Z-1") == {"steps": [{"step": "01_extract_tmdb"}]}
    assert bs.run_metrics(tmp_path, "bench-20261202T110350Z-2") is None


def test_growth_skips_a_run_that_counted_no_films():
    steps = [{"name": "01_extract_tmdb", "seconds": 10.0, "rows_in": 20000, "rows_out": 20000, "rows_per_s": 2000}]
    runs = [_run("20k", 20000, 60.0, steps), _run("failed", 0, 5.0, [])]
    assert bs.growth(runs) == []


def test_growth_is_measured_within_one_kind_of_world():
    """Generated sizes grow among themselves and worlds written elsewhere among themselves, each
    ordered by films: never from the largest generated world to a small given one."""
    steps = [{"name": "01_extract_tmdb", "seconds": 10.0, "rows_in": 1, "rows_out": 1, "rows_per_s": 1}]
    runs = [_run("generated 20,000", 20000, 60.0, steps), _run("generated 1,000,000", 1000000, 600.0, steps),
            replace(_run("e1m", 1000000, 650.0, steps), kind="given"),
            replace(_run("e20k", 20000, 65.0, steps), kind="given")]
    assert [(g["from"], g["to"], g["data_x"]) for g in bs.growth(runs)] == [
        ("generated 20,000", "generated 1,000,000", 50.0), ("e20k", "e1m", 50.0)]


def test_match_quality_is_shown_to_four_places():
    run = _run("e1m", 1000000, 650.0, [])
    run.quality = {"precision": 0.9811, "recall": 0.873, "f1": 0.92391, "pair_completeness": None}
    assert "| e1m | 0.9811 | 0.8730 | 0.9239 | - |" in bs.markdown([run])
