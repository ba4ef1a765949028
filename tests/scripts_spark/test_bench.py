"""Smoke tests of the benchmark (`make bench`): its pure functions, and a quick parse run.

No timing is asserted (machines are noisy): only the structure of the results and that every
figure is a positive, finite number.
"""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from scripts import bench_common, bench_fetch, bench_parse, true_pairs
from scripts_spark import bench, bench_match

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_ratio_is_none_without_a_usable_baseline():
    assert bench_common.ratio(2.0, 4.0) == 0.5
    assert bench_common.ratio(None, 4.0) is None
    assert bench_common.ratio(1.0, None) is None
    assert bench_common.ratio(1.0, 0.0) is None


@pytest.mark.parametrize("value, higher, status", [
    (0.8, True, "PASS"), (0.7, True, "PASS"), (0.69, True, "MISS"),
    (0.0, False, "PASS"), (1.0, False, "MISS"), (None, True, "N/A"), (float("nan"), True, "N/A"),
])
def test_verdict_statuses(value, higher, status):
    check = bench_common.verdict("x", value, 0.7 if higher else 0.0, higher_is_better=higher)
    assert check["status"] == status
    assert check["op"] == (">=" if higher else "<=")


def test_verdict_line_names_status_value_and_target():
    line = bench_common.verdict_line(bench_common.verdict("parse: ours / bare", 0.8123, 0.7, detail="worst of 3"))
    assert line == "PASS parse: ours / bare = 0.812 (target >= 0.7)  (worst of 3)"
    assert bench_common.verdict_line(bench_common.verdict("none", None, 1.0)).startswith("N/A  none = n/a")


def test_format_table_aligns_numbers_right_and_marks_missing_values():
    table = bench_common.format_table(["method", "F1", "n"], [["ours", 0.99, 12], ["rapidfuzz Zoë", None, 3]])
    assert table.splitlines() == [
        "method            F1   n",
        "-------------  -----  --",
        "ours           0.990  12",
        "rapidfuzz Zoë      -   3",
    ]


def test_format_table_without_rows_prints_the_header():
    assert bench_common.format_table(["a", "b"], []).splitlines() == ["a  b", "-  -"]


@pytest.mark.parametrize("master, release, key", [
    ("1025", "10013", "m1025"), (7.0, 1, "m7"), ("", "10319", "r10319"), (None, 5, "r5"), (float("nan"), 6, "r6"),
])
def test_album_id_of_is_the_silver_album_id(master, release, key):
    assert true_pairs.album_id_of(master, release) == key


def test_read_true_pairs(tmp_path):
    path = tmp_path / "true_pairs.csv"
    path.write_text("tmdb_id,discogs_master_id,discogs_release_id\n16,1025,10013\n36,,10319\n", encoding="utf-8")
    assert true_pairs.read_true_pairs(path) == {(16, "m1025"), (36, "r10319")}


def test_pair_quality():
    truth = {(1, "m1"), (2, "m2"), (3, "r3")}
    quality = bench_match.pair_quality({(1, "m1"), (2, "m2"), (9, "m9")}, truth)
    assert quality == {"predicted_pairs": 3, "true_pairs": 3, "true_positives": 2,
                       "precision": 0.6667, "recall": 0.6667, "f1": 0.6667}
    assert bench_match.pair_quality(set(), truth)["f1"] == 0.0
    assert bench_match.pair_quality(set(), set())["recall"] == 0.0


def _exact_scorer(a, b, *, processor=None, score_cutoff=None):
    """A stand-in for fuzz.token_set_ratio: 100 for equal titles (after `processor`), else 0."""
    if processor is not None:
        a, b = processor(a), processor(b)
    return 100.0 if a == b else 0.0


def test_rule_pairs_keeps_titles_over_the_threshold_within_two_years():
    films = [(1, "Amélie", 2001), (2, "Amélie", 2004), (3, "Heat", 1995), (4, "Up", None), (5, None, 2001),
             (6, "Heat", float("nan"))]
    albums = [("m10", "Amélie", 2002), ("m11", "Heat", 1997), ("m12", "Up", 2009), ("r13", "Amélie", 0),
              ("r14", None, 2001), ("r15", "Amelie", 2001)]
    assert bench_match.rule_pairs(films, albums, _exact_scorer) == {(1, "m10"), (2, "m10"), (3, "m11")}


def test_rule_pairs_passes_the_processor_to_the_scorer():
    films, albums = [(1, "HEAT", 1995)], [("m1", "heat", 1995)]
    assert bench_match.rule_pairs(films, albums, _exact_scorer) == set()
    assert bench_match.rule_pairs(films, albums, _exact_scorer, processor=str.lower) == {(1, "m1")}


def test_rapidfuzz_rule_on_collected_silver_frames():
    pytest.importorskip("rapidfuzz")
    pd = pytest.importorskip("pandas")
    films = pd.DataFrame({"tmdb_id": [1, 2, 3], "title": ["Frozen", "Frozen II", "It"],
                          "release_year": [2013.0, 2019.0, None]})
    albums = pd.DataFrame({"album_id": ["m1", "m2", "m3", "m4"],
                           "title": ["Frozen (Original Motion Picture Soundtrack)", "Frozen", "FROZEN", "It"],
                           "year": [2013.0, 2013.0, 2013.0, 2017.0],
                           "genres": [["Stage & Screen"], ["Rock"], ["Stage & Screen"], None]})
    # Raw titles: "FROZEN" is another token; a rock album is not a soundtrack; "It" has no film year.
    assert bench_match.rapidfuzz_rule(films, albums, default_process=False) == {(1, "m1")}
    assert bench_match.rapidfuzz_rule(films, albums, default_process=True) == {(1, "m1"), (1, "m3")}


def test_sustained_rate_of_a_perfectly_paced_client():
    # 2 per 1 s, the client waiting 5 % more than the window: bursts at 0, 1.05, 2.1.
    rate = bench_fetch.sustained_rate([0.0, 0.01, 1.05, 1.06, 2.1, 2.11], limit=2, window=1.0)
    assert rate["fraction"] == pytest.approx(1 / 1.05, abs=1e-3)
    assert rate["allowed_per_s"] == 2.0
    assert rate["min_gap_s"] == pytest.approx(1.05)
    assert rate["requests"] == 6


def test_sustained_rate_needs_more_arrivals_than_the_limit():
    assert bench_fetch.sustained_rate([0.0, 0.5], limit=2, window=1.0) is None
    assert bench_fetch.sustained_rate([], limit=1, window=1.0) is None
    assert bench_fetch.sustained_rate([1.0, 1.0], limit=1, window=1.0) is None


def test_growth():
    assert bench_common.growth([10.0, 11.0, 12.0]) == pytest.approx(1.2)
    assert bench_common.growth([10.0]) is None


def test_parse_sections():
    assert bench.parse_sections("match, parse") == ["parse", "match"]
    for bad in ("", "parse,nope"):
        with pytest.raises(ValueError):
            bench.parse_sections(bad)


def test_main_rejects_bad_arguments(capsys):
    assert bench.main(["--only", "nope"]) == bench.EXIT_USAGE
    assert "--only" in capsys.readouterr().err
    assert bench.main(["--no-such-flag"]) == bench.EXIT_USAGE


def test_peak_rss_is_positive():
    assert _positive(bench_common.peak_rss_mb())


def test_parsers_agree_on_a_small_dump(tmp_path):
    gz_path, plain = bench_parse._releases_dump(40, tmp_path)
    counts = {bench_parse._run_parser(method, path, tmp_path) for method in bench_parse.PARSERS for path in (gz_path, plain)}
    assert len(counts) == 1 and counts.pop() > 40
    assert bench_parse._run_parser("none", plain, tmp_path) == 0
    with pytest.raises(ValueError):
        bench_parse._run_parser("sax", plain, tmp_path)
    result = tmp_path / "peak.json"
    assert bench_parse._worker_parse_peak("iter_records", plain, result, tmp_path) == 0
    peak = json.loads(result.read_text(encoding="utf-8"))
    assert peak["records"] > 40 and _positive(peak["peak_rss_mb"])


def test_quick_parse_run_writes_its_report(tmp_path, capsys):
    assert bench.main(["--only", "parse", "--quick", "--out", str(tmp_path)]) == bench.EXIT_OK
    out = capsys.readouterr().out
    assert "== parse:" in out and "== verdicts ==" in out
    [report_path] = tmp_path.glob("bench_*.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["quick"] is True and report["errors"] == {}
    parse = report["sections"]["parse"]
    real_sample = [("real", "xml")] if (bench_common.PROJECT_ROOT.parent / "shared" / "data").is_dir() else []
    assert [(r["films"], r["source"]) for r in parse["rows"]] == [
        (films, source) for films in bench_common.QUICK.parse_films for source in ("xml", "xml.gz")] + real_sample
    for row in parse["rows"]:
        for method in bench_parse.PARSERS:
            assert _positive(row[f"{method}_mb_s"]) and _positive(row[f"{method}_ratio"])
        assert row["bare_ratio"] == 1.0
    assert [m["films"] for m in parse["memory"]] == list(bench_common.QUICK.parse_films)
    for peaks in parse["memory"]:
        assert all(_positive(peaks[k]) for k in ("floor_mb", "bare_peak_mb", "iter_records_peak_mb",
                                                 "convert_dump_peak_mb"))
    assert len(parse["checks"]) == 6 + len(real_sample) + 5
    assert {c["status"] for c in parse["checks"]} <= {"PASS", "MISS"}
    dump = parse["dump"]
    assert [r["stream"] for r in dump["rows"]] == ["small .xml.gz", "small .xml", "large .xml"]
    assert [r["releases"] for r in dump["rows"]] == [bench_common.QUICK.dump_small_releases] * 2 + [
        bench_common.QUICK.dump_releases]
    for row in dump["rows"]:
        assert abs(row["soundtracks"] / row["releases"] - bench_parse.DUMP_SOUNDTRACK_SHARE) < 0.002
        assert all(_positive(row[k]) for k in ("bare_mb_s", "ours_mb_s", "ratio", "tree_peak_mb", "ours_cpu_s",
                                                 "idle_ratio", "idle_mb_s"))
    assert "generated releases stream" in out and "extrapolated to the real releases dump" in out


def test_fetch_section_against_the_local_server(tmp_path):
    fake = pytest.importorskip("scripts.fake_api_server")
    if not fake.shared_data_present():
        pytest.skip(fake.SKIP_REASON)
    plan = bench_common.Plan(parse_films=(1,), parse_repeats=1, tmdb_limit=5, tmdb_window=0.5, tmdb_requests=15,
                      discogs_limit=5, discogs_window=0.5, discogs_requests=11, match_films=1, splink_u_pairs=1.0)
    result = bench_fetch.run_fetch(plan, tmp_path)
    assert [r["api"] for r in result["runs"]] == ["tmdb", "discogs"]
    for run in result["runs"]:
        assert run["records"] > 0 and run["violations_429"] >= 0 and run["faults"] >= 0
        assert _positive(run["rate"]["fraction"]) and _positive(run["rate"]["rate_per_s"])
        assert run["rate"]["p5_p95_s"] <= run["rate"]["seconds"]
    assert len(result["checks"]) == 4


def test_sustained_rate_is_not_decided_by_one_slow_tail_request():
    paced = [i * 0.1 for i in range(100)]  # 10 a second for 10 s, the limit being 10 per 1 s
    with_tail = paced + [30.0]  # one retry of a stalled request, 20 s later
    assert bench_fetch.sustained_rate(with_tail, limit=10, window=1.0)["fraction"] == pytest.approx(1.0, abs=0.02)
    assert bench_fetch.sustained_rate(paced[::2] + [30.0], limit=10, window=1.0)["fraction"] == pytest.approx(0.5, abs=0.02)


def test_shipped_code_never_imports_tests():
    for path in list((PROJECT_ROOT / "scripts").glob("*.py")) + list((PROJECT_ROOT / "scripts_spark").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "from tests" not in text and "import tests" not in text, path


def test_ensure_splink_overlay_reuses_a_complete_folder(tmp_path, monkeypatch):
    target = tmp_path / "overlay"
    target.mkdir()
    (target / ".bench-packages").write_text("\n".join(bench_match.SPLINK_PACKAGES), encoding="utf-8")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    assert bench_match.ensure_splink_overlay(target) == (target, "")


def test_ensure_splink_overlay_installs_then_marks_the_folder(tmp_path, monkeypatch):
    def fake_pip(cmd, **kwargs):
        staging = Path(cmd[cmd.index("--target") + 1])
        (staging / "splink").mkdir(parents=True)
        assert "--no-deps" in cmd and list(bench_match.SPLINK_PACKAGES) == cmd[-len(bench_match.SPLINK_PACKAGES):]
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    target = tmp_path / "overlay"
    assert bench_match.ensure_splink_overlay(target) == (target, "")
    assert (target / "splink").is_dir() and (target / ".bench-packages").is_file()


def test_ensure_splink_overlay_reports_why_it_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution"))
    folder, reason = bench_match.ensure_splink_overlay(tmp_path / "overlay")
    assert folder is None and "No matching distribution" in reason

    def timeout(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, 1)

    monkeypatch.setattr(subprocess, "run", timeout)
    folder, reason = bench_match.ensure_splink_overlay(tmp_path / "overlay")
    assert folder is None and "did not finish" in reason


def test_a_failed_splink_run_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", "Traceback\nImportError: splink"))
    result = bench_match._run_splink(tmp_path, tmp_path / "overlay", tmp_path, 10.0)
    assert result["available"] is False and "ImportError: splink" in result["reason"]


def test_report_dir(tmp_path, monkeypatch):
    assert bench._report_dir(tmp_path) == tmp_path
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "data"))
    assert bench._report_dir(None) == tmp_path / "data" / "reports"
    monkeypatch.setenv("DATA_ROOT", "abfss://films@acct01.dfs.core.windows.net/x")
    assert bench._report_dir(None) is None


def test_a_splink_run_returns_its_pairs_and_timings(tmp_path, monkeypatch):
    def fake_worker(cmd, **kwargs):
        assert str(tmp_path / "overlay") == kwargs["env"]["PYTHONPATH"].split(":")[0]
        result = Path(cmd[cmd.index("--result") + 1])
        result.write_text(json.dumps({"pairs": [[1, "m1"]], "seconds": {"model": 1.5}}), encoding="utf-8")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_worker)
    result = bench_match._run_splink(tmp_path, tmp_path / "overlay", tmp_path, 10.0)
    assert result["available"] is True and result["pairs"] == [[1, "m1"]] and result["process_wall_s"] >= 0


def test_a_failed_peak_memory_child_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", "MemoryError"))
    with pytest.raises(bench_common.BenchError, match="MemoryError"):
        bench_parse._peak_rss_child("bare", tmp_path / "x.xml", tmp_path)
