"""scripts/env_check.py and check_env.sh: each check in-process, then the preflight end to end."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from scripts import env_check
from scripts.env_check import (
    CheckResult,
    check_credentials,
    check_data_root,
    check_disk,
    check_java,
    check_pins,
    check_python,
    check_stamp,
    find_java,
    parse_java_version,
    run_checks,
)
from scripts.requirements_hash import PROJECT_ROOT, requirements_hash
from scripts.settings import Settings, load_settings

CHECK_ENV = PROJECT_ROOT / "check_env.sh"
REQUIREMENTS = PROJECT_ROOT / "requirements_stable.txt"
FAKE_TMDB = "fake-tmdb-token-7f3a9c1e5b"
FAKE_DISCOGS = "fake-discogs-token-0d8e2b4f6a"
CONFIG_VARS = ("DATA_ROOT", "SOURCE", "SPARK_MASTER", "LOG_LEVEL", "SAMPLE_FILMS", "SAMPLE_SEED",
               "SOUNDTRACK_GENRES", "SOUNDTRACK_STYLES", "TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN",
               "DISCOGS_USER_AGENT", "VM_HOST", "VM_PORT", "VM_USER", "VM_KEY_FILE", "VM_PROJECT_DIR",
               "MIN_FREE_GB", "REQUIREMENTS_FILE", "VENV_DIR")


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test process environment (coverage hooks included) with the project's settings isolated."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.update({"DATA_ROOT": str(tmp_path / "data"), "SOURCE": "sample", "MIN_FREE_GB": "0.01"})
    env.update(extra)
    return env


def run_check_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHECK_ENV), *args], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def path_without_java(tmp_path: Path) -> str:
    """A PATH holding every command of /usr/bin and /bin except java."""
    bin_dir = tmp_path / "bin-nojava"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            target = bin_dir / entry.name
            if entry.name != "java" and not os.path.lexists(target):
                target.symlink_to(entry)
    return str(bin_dir)


# --- java -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', ("17.0.15", 17)),
        ('java version "1.8.0_392"\nJava(TM) SE Runtime Environment', ("1.8.0_392", 8)),
        ('Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "11.0.2" 2019-01-15', ("11.0.2", 11)),
        ('openjdk version "21" 2023-09-19', ("21", 21)),
        ("bash: java: command not found", None),
    ],
)
def test_parse_java_version(output: str, expected: tuple | None) -> None:
    assert parse_java_version(output) == expected


def test_find_java_honours_java_home_before_path(tmp_path: Path) -> None:
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    fake = java_home / "bin" / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.9\" 2020-10-20' >&2\n", encoding="utf-8")
    fake.chmod(0o755)
    env = {"JAVA_HOME": str(java_home), "PATH": os.environ["PATH"]}
    assert find_java(env) == (str(fake), f"JAVA_HOME={java_home}")
    result = check_java({"java": "8"}, env)
    assert result.ok and result.detail == "11.0.9 (runtime manifest: 8; Spark 3.5 supports 8/11/17)"


def test_java_home_without_java_fails(tmp_path: Path) -> None:
    result = check_java({"java": "8"}, {"JAVA_HOME": str(tmp_path), "PATH": os.environ["PATH"]})
    assert not result.ok
    assert f"JAVA_HOME={tmp_path} has no bin/java" in result.detail


def test_java_version_spark_does_not_support_fails(tmp_path: Path) -> None:
    java_home = tmp_path / "jdk21"
    (java_home / "bin").mkdir(parents=True)
    (java_home / "bin" / "java").write_text("#!/bin/sh\necho 'openjdk version \"21.0.1\"' >&2\n", encoding="utf-8")
    (java_home / "bin" / "java").chmod(0o755)
    result = check_java({"java": "8"}, {"JAVA_HOME": str(java_home), "PATH": ""})
    assert not result.ok and "21.0.1" in result.detail and "not supported" in result.detail


# --- python, pins, stamp ---------------------------------------------------------------------------

def test_check_python_compares_major_minor_with_the_manifest() -> None:
    assert check_python({"python": "3.10"}, (3, 10, 13)).ok
    wrong = check_python({"python": "3.10"}, (3, 11, 7))
    assert not wrong.ok and "3.11.7 running, runtime manifest wants 3.10" in wrong.detail
    assert not check_python({}, (3, 10, 13)).ok


def test_check_pins_one_failure_per_drift() -> None:
    pinned = {"pandas": "1.5.3", "numpy": "1.23.5", "tqdm": "4.67.1", "six": "1.16"}
    installed = {"pandas": "2.0.0", "numpy": "1.23.5", "six": "1.16.0"}
    results = check_pins(pinned, installed)
    assert [r.line() for r in results] == [
        "FAIL pins: pandas 2.0.0 installed, 1.5.3 pinned -> run ./rebuild_venv.sh",
        "FAIL pins: tqdm not installed, 4.67.1 pinned -> run ./rebuild_venv.sh",
    ]
    assert check_pins({"numpy": "1.23.5"}, installed) == [
        CheckResult("pins", True, "1 packages installed at their pinned versions")
    ]


def test_check_stamp(tmp_path: Path) -> None:
    current = requirements_hash(REQUIREMENTS)
    missing = check_stamp(current, tmp_path)
    assert not missing.ok and "no .requirements.sha256" in missing.detail
    (tmp_path / ".requirements.sha256").write_text("0" * 64 + "\n", encoding="utf-8")
    stale = check_stamp(current, tmp_path)
    assert not stale.ok and f"built for requirements {'0' * 12}, current are {current[:12]}" in stale.detail
    (tmp_path / ".requirements.sha256").write_text(current + "\n", encoding="utf-8")
    assert check_stamp(current, tmp_path).ok


# --- data root, disk, credentials, config ----------------------------------------------------------

def test_check_data_root(tmp_path: Path) -> None:
    assert check_data_root(str(tmp_path), False).detail == f"{tmp_path} is writable"
    new = check_data_root(str(tmp_path / "a" / "b"), False)
    assert new.ok and "can be created" in new.detail
    assert not (tmp_path / "a").exists(), "the check must not create DATA_ROOT"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert not check_data_root(str(tmp_path / "file"), False).ok
    assert not check_data_root(str(tmp_path / "file" / "below"), False).ok
    remote = check_data_root("abfss://films@acct01.dfs.core.windows.net/x", True)
    assert remote.ok and "skipped" in remote.detail
    assert list(tmp_path.iterdir()) == [tmp_path / "file"], "the write probe must leave nothing behind"


def test_check_disk(tmp_path: Path) -> None:
    assert check_disk(str(tmp_path), False, {"MIN_FREE_GB": "0"}).ok
    too_much = check_disk(str(tmp_path), False, {"MIN_FREE_GB": "1000000000"})
    assert not too_much.ok and "MIN_FREE_GB=1e+09" in too_much.detail
    bad = check_disk(str(tmp_path), False, {"MIN_FREE_GB": "lots"})
    assert not bad.ok and "MIN_FREE_GB='lots'" in bad.detail
    assert "MIN_FREE_GB=2)" in check_disk(str(tmp_path), False, {}).detail


def test_check_credentials_reports_presence_never_values() -> None:
    missing = check_credentials(Settings(data_root="/d", source="api", tmdb_api_key=FAKE_TMDB))
    assert not missing.ok
    assert "DISCOGS_TOKEN missing" in missing.detail and "TMDB_API_KEY set" in missing.detail
    complete = check_credentials(Settings(data_root="/d", source="api", tmdb_api_token=FAKE_TMDB,
                                          discogs_token=FAKE_DISCOGS))
    assert complete.ok
    for result in (missing, complete):
        assert FAKE_TMDB not in result.line() and FAKE_DISCOGS not in result.line()
    assert check_credentials(Settings(data_root="/d", source="sample")).ok


def test_invalid_configuration_is_one_failure_with_the_settings_message(tmp_path: Path) -> None:
    results = run_checks(base_env(tmp_path, SOURCE="bogus"), venv_dir=tmp_path)
    config = [r for r in results if r.name == "config"]
    assert len(config) == 1 and not config[0].ok
    assert "SOURCE='bogus' is not one of" in config[0].detail


def test_run_checks_in_process_on_this_venv(tmp_path: Path) -> None:
    results = run_checks(base_env(tmp_path), venv_dir=Path(sys.prefix))
    names = [r.name for r in results]
    assert names == ["python", "java", "pins", "venv", "config", "credentials", "data_root", "disk"]
    failed = [r.line() for r in results if not r.ok]
    assert failed == [], failed


def test_env_example_lists_every_setting() -> None:
    example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    declared = set(re.findall(r"^([A-Z_]+)=", example, flags=re.M))
    expected = {f.name.upper() for f in fields(Settings)} | {"MIN_FREE_GB"}
    assert declared == expected
    for secret in ("TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN"):
        assert re.search(rf"^{secret}=$", example, flags=re.M), f"{secret} must be empty in .env.example"
    assert load_settings(env={}, dotenv_path=PROJECT_ROOT / ".env.example") == load_settings(
        env={}, dotenv_path=Path(os.devnull)), ".env.example must spell out the defaults"


# --- check_env.sh end to end -----------------------------------------------------------------------

def test_check_env_passes_on_this_machine(tmp_path: Path) -> None:
    completed = run_check_env(base_env(tmp_path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[-1] == "preflight ok"
    assert all(line.startswith("ok   ") for line in lines[:-1])
    assert re.search(r"^ok   java: \d[\w.]* \(", completed.stdout, flags=re.M)


def test_check_env_names_a_drifted_pin(tmp_path: Path) -> None:
    """A requirements file pinning pandas 2.0.0 while the venv has 1.5.3 is a drift, named precisely."""
    runtime = tmp_path / "runtimes" / "dbr.txt"
    runtime.parent.mkdir()
    runtime.write_text((PROJECT_ROOT / "runtimes" / "dbr-14.3-lts.txt").read_text(encoding="utf-8")
                       .replace("pandas==1.5.3", "pandas==2.0.0"), encoding="utf-8")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS.read_text(encoding="utf-8")
                            .replace("-r runtimes/dbr-14.3-lts.txt", "-r runtimes/dbr.txt"), encoding="utf-8")
    completed = run_check_env(base_env(tmp_path, REQUIREMENTS_FILE=str(requirements)))
    assert completed.returncode == 1
    failures = [line for line in completed.stdout.splitlines() if line.startswith("FAIL")]
    assert "FAIL pins: pandas 1.5.3 installed, 2.0.0 pinned -> run ./rebuild_venv.sh" in failures
    assert any(line.startswith("FAIL venv: built for requirements") for line in failures)
    assert len(failures) == 2, failures


def test_check_env_fails_in_one_line_without_java(tmp_path: Path) -> None:
    env = base_env(tmp_path, PATH=path_without_java(tmp_path))
    env.pop("JAVA_HOME", None)
    completed = run_check_env(env)
    assert completed.returncode == 1
    java_lines = [line for line in completed.stdout.splitlines() if "java" in line.split(":")[0]]
    assert java_lines == [
        "FAIL java: not found (JAVA_HOME unset and no java on PATH) -> install a Java 17 runtime "
        "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    ]
    assert completed.stdout.splitlines()[-1] == "preflight FAILED: 1 check(s)"


def test_check_env_json_is_valid_and_matches_the_exit_code(tmp_path: Path) -> None:
    env = base_env(tmp_path, PATH=path_without_java(tmp_path))
    env.pop("JAVA_HOME", None)
    completed = run_check_env(env, "--json")
    assert completed.returncode == 1
    payload = json.loads(completed.stdout)
    assert payload["ok"] is False
    by_name = {c["name"]: c for c in payload["checks"]}
    assert set(by_name["java"]) == {"name", "ok", "detail", "fix"}
    assert by_name["java"]["ok"] is False and by_name["python"]["ok"] is True
    passing = json.loads(run_check_env(base_env(tmp_path), "--json").stdout)
    assert passing["ok"] is True and all(c["ok"] for c in passing["checks"])


def test_check_env_never_prints_secrets(tmp_path: Path) -> None:
    env = base_env(tmp_path, SOURCE="api", TMDB_API_TOKEN=FAKE_TMDB, DISCOGS_TOKEN=FAKE_DISCOGS)
    (tmp_path / "data").mkdir()  # an explicit DATA_ROOT must exist unless SOURCE=sample (issue 10 item 12)
    for args in ((), ("--json",)):
        completed = run_check_env(env, *args)
        assert completed.returncode == 0, completed.stdout
        output = completed.stdout + completed.stderr
        assert FAKE_TMDB not in output and FAKE_DISCOGS not in output
        assert "TMDB_API_TOKEN set" in output and "DISCOGS_TOKEN set" in output


def test_check_env_reports_missing_credentials_for_source_api(tmp_path: Path) -> None:
    completed = run_check_env(base_env(tmp_path, SOURCE="api", TMDB_API_KEY=FAKE_TMDB))
    assert completed.returncode == 1
    assert "FAIL credentials: SOURCE=api but DISCOGS_TOKEN missing" in completed.stdout
    assert FAKE_TMDB not in completed.stdout + completed.stderr


def test_check_env_without_venv_says_how_to_build_it(tmp_path: Path) -> None:
    env = base_env(tmp_path, VENV_DIR=str(tmp_path / "no-venv"))
    completed = run_check_env(env)
    assert completed.returncode == 1
    assert completed.stderr.strip() == "venv missing: run ./rebuild_venv.sh (or make run/make test, which build it)"
    as_json = json.loads(run_check_env(env, "--json").stdout)
    assert as_json["ok"] is False and as_json["checks"][0]["name"] == "venv"


def test_check_env_usage(tmp_path: Path) -> None:
    assert run_check_env(base_env(tmp_path), "-h").returncode == 0
    bad = run_check_env(base_env(tmp_path), "--nope")
    assert bad.returncode == 2 and bad.stderr.startswith("usage: check_env.sh")


def test_main_in_process_prints_masked_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    for name, value in base_env(tmp_path, SOURCE="api", TMDB_API_TOKEN=FAKE_TMDB).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DISCOGS_TOKEN", raising=False)
    assert env_check.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL credentials: SOURCE=api but DISCOGS_TOKEN missing" in out
    assert FAKE_TMDB not in out


# --- issue 10 items 9 and 12: settings the pipeline would refuse fail the preflight ----------------

@pytest.mark.parametrize("extra, expected", [
    ({"SPARK_MASTER": "nonsense"}, "SPARK_MASTER='nonsense' is not a Spark master URL"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not one of"),
    ({"STEPS": "abc"}, "STEPS='abc' is not valid"),
])
def test_invalid_master_log_level_and_steps_fail_the_config_check(tmp_path: Path, extra, expected) -> None:
    results = run_checks(base_env(tmp_path, **extra), venv_dir=tmp_path)
    config = [r for r in results if r.name == "config"]
    assert len(config) == 1 and not config[0].ok and expected in config[0].detail


def test_explicit_data_root_that_does_not_exist_fails_unless_sample(tmp_path: Path) -> None:
    missing = str(tmp_path / "typo")
    refused = check_data_root(missing, False, may_create=False)
    assert not refused.ok and "does not exist" in refused.detail and "SOURCE=sample" in refused.fix
    results = {r.name: r for r in run_checks(base_env(tmp_path, DATA_ROOT=missing, SOURCE="auto"),
                                              venv_dir=tmp_path)}
    assert not results["data_root"].ok
    results = {r.name: r for r in run_checks(base_env(tmp_path, DATA_ROOT=missing, SOURCE="sample"),
                                              venv_dir=tmp_path)}
    assert results["data_root"].ok and "can be created" in results["data_root"].detail
