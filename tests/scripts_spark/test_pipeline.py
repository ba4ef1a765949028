"""The runner end to end: generated data, real data with labelled pairs, re-runs, failures."""
import inspect
import json
import shutil

import pytest
from chispa import assert_df_equality

from scripts.gold_digest import gold_folder
from scripts_spark import pipeline, runner, storage
from scripts_spark.runner import parse_steps


@pytest.mark.parametrize("text, steps", [("1-5", [1, 2, 3, 4, 5]), ("3", [3]), ("1,3-4", [1, 3, 4])])
def test_parse_steps(text, steps):
    assert parse_steps(text, 5) == steps


@pytest.mark.parametrize("text", ["0", "4-2", "6", "x", ""])
def test_parse_steps_rejects(text):
    with pytest.raises(ValueError):
        parse_steps(text, 5)


def test_steps_are_counted_from_the_tuple(capsys):
    """No literal step count: `--steps` is checked against the pipeline's STEPS."""
    assert parse_steps("1-7", 7) == list(range(1, 8))
    assert pipeline.main(["--dry-run", "--steps", f"1-{len(pipeline.STEPS) + 1}"]) == 2
    assert f"within 1-{len(pipeline.STEPS)}" in capsys.readouterr().err


def test_every_step_module_has_the_contract():
    names = [step.NAME for step in pipeline.STEPS]
    assert names == ["01_extract_tmdb", "02_extract_discogs", "03_normalize", "04_match", "05_aggregate"]
    for step in pipeline.STEPS:
        assert callable(step.run) and callable(step.main), step.__name__
        assert list(inspect.signature(step.run).parameters) == ["ctx"], step.__name__


def test_dry_run_starts_no_spark(tmp_path, capsys):
    assert pipeline.main(["--dry-run", "--data-root", str(tmp_path), "--steps", "3-5", "--source", "sample"]) == 0
    out = capsys.readouterr().out
    assert "steps 03_normalize, 04_match, 05_aggregate would run" in out
    assert "a sample data set of 2000 films would be generated" in out
    # An explicit DATA_ROOT gets sample data only when SOURCE=sample asks for it (issue 10 item 12).
    assert pipeline.main(["--dry-run", "--data-root", str(tmp_path)]) == 0
    assert "raw/ is empty and SOURCE=auto: the run would stop" in capsys.readouterr().out
    assert not (tmp_path / "raw").exists()
    (tmp_path / "raw" / "discogs").mkdir(parents=True)
    (tmp_path / "raw" / "discogs" / "x_masters.jsonl").write_text("{}\n")
    assert pipeline.main(["--dry-run", "--data-root", str(tmp_path)]) == 0
    assert "only Discogs input: the run would stop" in capsys.readouterr().out


def test_bad_configuration_exit_code(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE", "ftp")
    assert pipeline.main(["--dry-run", "--data-root", str(tmp_path)]) == 2
    assert "SOURCE='ftp'" in capsys.readouterr().err


def test_api_source_without_keys_is_refused(tmp_path, capsys, monkeypatch):
    for key in ("TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN"):
        monkeypatch.setenv(key, "")
    monkeypatch.setattr("scripts.settings.PROJECT_ROOT", tmp_path)   # no .env with real keys
    assert pipeline.main(["--data-root", str(tmp_path), "--source", "api"]) == 2
    assert "TMDB_API_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["dump", "kaggle"])
def test_placed_sources_never_generate(tmp_path, capsys, source):
    assert pipeline.main(["--data-root", str(tmp_path), "--source", source]) == 2
    assert f"python -m scripts.acquire {source}" in capsys.readouterr().err
    assert not (tmp_path / "raw" / "tmdb").exists()


def test_half_present_input_is_refused(tmp_path, capsys):
    (tmp_path / "raw" / "tmdb").mkdir(parents=True)
    (tmp_path / "raw" / "tmdb" / "films.jsonl").write_text('{"id": 1, "title": "A"}\n')
    assert pipeline.main(["--data-root", str(tmp_path)]) == 2
    assert "holds only TMDB input" in capsys.readouterr().err


@pytest.mark.realdata
def test_api_source_fetches_then_runs(spark, shared_data, tmp_path, monkeypatch, capsys):
    """SOURCE=api end to end against the local replay server: fetch, then steps 1-4 on what came."""
    import functools

    from scripts import acquire
    from tests.scripts.fake_api_server import FakeApiServer, install_discogs, install_tmdb
    from tests.scripts.test_acquire import CATALOGUE_2020, discogs_catalogue

    with FakeApiServer(limit=200, discogs_headers=True) as server:
        install_tmdb(server, catalogue=CATALOGUE_2020)
        install_discogs(server, discogs_catalogue())
        monkeypatch.setenv("TMDB_API_BASE", server.url + "/3")
        monkeypatch.setenv("DISCOGS_API_BASE", server.url)
        monkeypatch.setenv("TMDB_API_TOKEN", "test-token-not-a-secret-0001")
        monkeypatch.setenv("DISCOGS_TOKEN", "test-discogs-token-0002")
        monkeypatch.setenv("DISCOVER_FROM", "2020-01-01")
        monkeypatch.setenv("DISCOVER_TO", "2020-12-31")
        monkeypatch.setattr(acquire, "FetchTuning", functools.partial(
            acquire.FetchTuning, discogs_max_calls=150, discogs_period=1.0, progress=False))
        code = pipeline.main(["--data-root", str(tmp_path), "--source", "api", "--steps", "1-4",
                              "--run-id", "api"])
        assert not server.violations
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "metrics" / "run_api.json").read_text())
    assert metrics["input"] == "fetched"
    films = spark.read.parquet(str(tmp_path / "bronze" / "tmdb_movies"))
    assert films.count() == len(CATALOGUE_2020) and films.select("tmdb_id").distinct().count() == films.count()
    masters = spark.read.parquet(str(tmp_path / "bronze" / "discogs_masters"))
    assert {r.master_id for r in masters.collect()} == {4242, 129711}   # 7001 answers 404: counted, skipped
    assert "test-token-not-a-secret-0001" not in (tmp_path / "metrics" / "run_api.json").read_text()


def _gold(spark, root, name):
    return spark.read.parquet(str(gold_folder(root) / name))


@pytest.mark.slow
def test_generated_run_is_complete(spark, generated_run):
    root, run_id, out = generated_run.root, generated_run.run_id, generated_run.output
    assert f"run {run_id}: ok" in out and "precision=" in out
    assert "a SAMPLE data set was generated" in out
    metrics = json.loads((root / "metrics" / f"run_{run_id}.json").read_text())
    assert metrics["status"] == "ok" and metrics["input"] == "generated"
    assert [s["step"] for s in metrics["steps"]] == [step.NAME for step in pipeline.STEPS]
    assert metrics["report"]["status"] == "ok" and metrics["report"]["html"].endswith(f"report_{run_id}.html")
    assert metrics["steps"][0]["quarantined"]["tmdb"] == 3          # the generator's deliberate bad lines
    quality = metrics["quality"]
    assert quality["true_pairs"] > 50
    assert quality["precision"] >= 0.95 and quality["recall"] >= 0.9
    matches = _gold(spark, root, "soundtrack_matches")
    assert {"tmdb_id", "discogs_master_id", "discogs_release_id", "match_score"} <= set(matches.columns)
    assert dict(matches.dtypes)["tmdb_id"] == "bigint" and dict(matches.dtypes)["match_score"] == "double"
    # A second run on the raw data now present (nothing generated, the same gold) is
    # test_kill_and_rerun's re-run, which also compares its gold with this run's.


def test_failed_step_is_recorded(spark, tmp_path, capsys):
    (tmp_path / "raw" / "tmdb").mkdir(parents=True)
    (tmp_path / "raw" / "discogs").mkdir(parents=True)
    (tmp_path / "raw" / "tmdb" / "x.jsonl").write_text('{"id": 1, "title": "A"}\n')
    (tmp_path / "raw" / "discogs" / "x_releases.xml.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    code = pipeline.main(["--data-root", str(tmp_path), "--run-id", "bad"])
    assert code == 1
    err = capsys.readouterr().err
    assert "step 02_extract_discogs failed" in err and "x_releases.xml.gz" in err
    metrics = json.loads((tmp_path / "metrics" / "run_bad.json").read_text())
    assert metrics["status"] == "failed"
    assert [(s["step"], s["status"]) for s in metrics["steps"]] == [("01_extract_tmdb", "ok"),
                                                                    ("02_extract_discogs", "failed")]
    # The run included step 05, which did not run: no report of tables this run did not make.
    assert metrics["report"]["status"] == "skipped"
    assert not (tmp_path / "reports").exists()


@pytest.mark.realdata
def test_real_tmdb_5000_and_discogs_dump(spark, shared_data, tmp_path):
    """Real data, labelled by hand: the three soundtracks of TMDB 5000 films in the dump samples.

    Look-alikes that must not match: Star Trek Into Darkness / Beyond (same composer, same
    franchise), The Best Exotic Marigold Hotel (the first film, for the sequel's album),
    Shaft (2000) for "Shaft's Big Score!", Immortals for Michael Jackson's "Immortal",
    Walk the Line (2005) for "I Walk The Line" (1970), The Heat (2013) for "Heat" (1995).
    """
    from scripts.import_kaggle_tmdb import import_csv

    raw = tmp_path / "raw"
    import_csv(shared_data / "tmdb_5000" / "tmdb_5000_movies.csv", raw / "tmdb",
               shared_data / "tmdb_5000" / "tmdb_5000_credits.head198.csv")
    (raw / "discogs").mkdir()
    for kind in ("masters", "releases"):
        shutil.copy(shared_data / "discogs_dump_xml" / f"discogs_20200806_{kind}.xml.gz", raw / "discogs")
    (raw / "true_pairs.csv").write_text(
        "tmdb_id,discogs_master_id,discogs_release_id\n"
        "13475,129711,1750386\n268238,1033347,8689395\n291270,1162025,10102504\n"
    )
    assert pipeline.main(["--data-root", str(tmp_path), "--steps", "1-4", "--run-id", "real"]) == 0
    matches = spark.read.parquet(str(gold_folder(tmp_path) / "soundtrack_matches"))
    expected = spark.createDataFrame(
        [(13475, 129711, 1750386), (268238, 1033347, 8689395), (291270, 1162025, 10102504)],
        "tmdb_id long, discogs_master_id long, discogs_release_id long",
    )
    assert_df_equality(matches.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True)
    star_trek = matches.filter("tmdb_id = 13475").collect()[0]
    assert star_trek.composer_match == "michael giacchino" and star_trek.match_score >= 0.99
    quality = json.loads((tmp_path / "metrics" / "run_real.json").read_text())["quality"]
    assert (quality["precision"], quality["recall"]) == (1.0, 1.0)


def test_one_line_reason_from_a_spark_traceback():
    exc = RuntimeError("\n  An exception was thrown from the Python worker.\nTraceback (most recent call last):\n"
                       '  File "x.py", line 1\nModuleNotFoundError: No module named \'scripts_spark\'\n')
    assert runner.one_line(exc) == "RuntimeError: ModuleNotFoundError: No module named 'scripts_spark'"
    assert runner.one_line(ValueError("plain message")) == "ValueError: plain message"


class _CheckpointingStep:
    """A step that leaves a local checkpoint and a cached table behind, then may fail."""
    NAME = "99_checkpointing"

    def __init__(self, fail: bool):
        self.fail = fail

    def run(self, ctx) -> None:
        self.kept = [ctx.spark.range(100).localCheckpoint(eager=True), ctx.spark.range(10).persist()]
        self.kept[1].count()
        if self.fail:
            raise RuntimeError("step failed after caching")


def _run_step(spark, tmp_path, step, fails_with: str | None = None):
    """`runner.run_step` of one step on an empty DATA_ROOT (its error, when `fails_with`, checked);
    the run's metrics."""
    import contextlib

    from scripts.settings import load_settings
    from scripts_spark.metrics import RunMetrics

    run = RunMetrics(run_id="t", data_root=str(tmp_path))
    with pytest.raises(RuntimeError, match=fails_with) if fails_with else contextlib.nullcontext():
        runner.run_step(step, spark, storage.Layers(str(tmp_path)),
                        load_settings({}, dotenv_path=tmp_path / "none.env"), run)
    return run


@pytest.mark.parametrize("fail", [False, True])
def test_a_step_leaves_nothing_in_memory(spark, tmp_path, fail):
    """Steps hand data on through storage only: whatever a step persisted or checkpointed is
    released when it ends, failed or not (local checkpoints included, which clearCache misses)."""
    step = _CheckpointingStep(fail)
    run = _run_step(spark, tmp_path, step, fails_with="after caching" if fail else None)
    assert [s.status for s in run.steps] == ["failed" if fail else "ok"]
    assert len(step.kept) == 2
    assert len(spark.sparkContext._jsc.getPersistentRDDs()) == 0


def test_a_step_whose_spark_failed_keeps_its_own_error(spark, tmp_path, monkeypatch, caplog):
    """When releasing memory fails too (Spark went down with the step), the step's own error is the
    one raised and its time is still recorded; the release failure is a warning."""
    from scripts_spark import session

    def gone(_spark):
        raise ConnectionError("Answer from Java side is empty")

    monkeypatch.setattr(session, "release_cached", gone)
    run = _run_step(spark, tmp_path, _CheckpointingStep(fail=True), fails_with="after caching")
    monkeypatch.undo()
    session.release_cached(spark)
    assert run.steps[0].status == "failed" and run.steps[0].seconds is not None
    assert "was not released: ConnectionError: Answer from Java side is empty" in caplog.text
