"""Settings: precedence, validation with the variable's name, secrets never shown."""
import pytest

from scripts.settings import ConfigError, load_settings, parse_steps


def test_environment_wins_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("SOURCE=sample\nSAMPLE_FILMS=50\nDISCOGS_TOKEN=from-dotenv-secret\n")
    settings = load_settings({"SAMPLE_FILMS": "70", "DATA_ROOT": str(tmp_path)}, dotenv_path=dotenv)
    assert (settings.source, settings.sample_films, settings.discogs_token) == ("sample", 70, "from-dotenv-secret")
    assert "from-dotenv-secret" not in repr(settings)
    assert settings.describe()["discogs_token"] == "set"


@pytest.mark.parametrize("env, name", [
    ({"SOURCE": "ftp"}, "SOURCE"),
    ({"SAMPLE_FILMS": "many"}, "SAMPLE_FILMS"),
    ({"SAMPLE_FILMS": "3"}, "SAMPLE_FILMS"),
    ({"DISCOVER_FROM": "2024-13-01"}, "DISCOVER_FROM"),
    ({"VM_PORT": "0"}, "VM_PORT"),
])
def test_bad_values_name_the_variable(tmp_path, env, name):
    with pytest.raises(ConfigError, match=name):
        load_settings(env, dotenv_path=tmp_path / "none")


def test_remote_data_root_is_kept_as_a_uri(tmp_path):
    uri = "abfss://soundtracks@account.dfs.core.windows.net/prod"
    settings = load_settings({"DATA_ROOT": uri, "SOUNDTRACK_STYLES": "Score, Soundtrack"}, dotenv_path=tmp_path / "x")
    assert settings.data_root == uri and settings.is_remote_storage
    assert settings.soundtrack_styles == ("Score", "Soundtrack")
    assert load_settings({"DISCOVER_FROM": "2020-01-01"}, dotenv_path=tmp_path / "x").discover_from == "2020-01-01"


def test_spark_conf_is_parsed_and_validated(tmp_path):
    settings = load_settings({"SPARK_CONF": "spark.sql.shuffle.partitions=200, spark.driver.memory=4g"},
                             dotenv_path=tmp_path / ".env")
    assert settings.spark_conf == (("spark.sql.shuffle.partitions", "200"), ("spark.driver.memory", "4g"))
    for bad in ("shuffle=2", "spark.x", "spark.x=", "spark. x=1"):
        with pytest.raises(ConfigError, match="SPARK_CONF"):
            load_settings({"SPARK_CONF": bad}, dotenv_path=tmp_path / ".env")


# --- issue 10 item 9: every setting validated once, in Settings ---------------------------------

@pytest.mark.parametrize("master", ["local", "local[2]", "local[*]", "local[4,2]", "spark://node-1.lan:7077",
                                    "spark://a:7077,b:7077", "yarn", "k8s://https://10.0.0.1:6443"])
def test_spark_master_forms_are_accepted(tmp_path, master):
    assert load_settings({"SPARK_MASTER": master}, dotenv_path=tmp_path / "none").spark_master == master


@pytest.mark.parametrize("env, name", [
    ({"SPARK_MASTER": "nonsense"}, "SPARK_MASTER"),
    ({"SPARK_MASTER": "local[0]"}, "SPARK_MASTER"),
    ({"SPARK_MASTER": "spark://host"}, "SPARK_MASTER"),
    ({"SPARK_MASTER": "local[2"}, "SPARK_MASTER"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
])
def test_spark_master_and_log_level_are_validated(tmp_path, env, name):
    with pytest.raises(ConfigError, match=name):
        load_settings(env, dotenv_path=tmp_path / "none")


def test_log_level_is_case_insensitive(tmp_path):
    assert load_settings({"LOG_LEVEL": "debug"}, dotenv_path=tmp_path / "none").log_level == "DEBUG"


@pytest.mark.parametrize("text, steps", [("1-5", [1, 2, 3, 4, 5]), ("3", [3]), ("1,3-4", [1, 3, 4]),
                                         (" 2 - 3 ", [2, 3])])
def test_parse_steps(text, steps):
    assert parse_steps(text) == steps


@pytest.mark.parametrize("text", ["abc", "", "0", "6", "5-1", "1-", "-3", "1,,2", "1.5", "٣"])
def test_parse_steps_rejects_with_a_message_naming_steps(text):
    with pytest.raises(ConfigError, match=r"STEPS=.* is not valid: use a step, a range or a list within 1-5"):
        parse_steps(text, 5)


def test_parse_steps_without_a_count_checks_the_form_only():
    assert parse_steps("6-7") == [6, 7]
    with pytest.raises(ConfigError, match="list of step numbers"):
        parse_steps("0")
# --- API fetch settings (issue 12) ---

def test_fetch_settings_have_the_documented_defaults_and_are_validated_once():
    from pathlib import Path as _Path

    from scripts.settings import ConfigError as _ConfigError
    from scripts.settings import load_settings as _load

    nowhere = _Path("/nonexistent/.env")
    settings = _load({"DATA_ROOT": "/tmp/x"}, dotenv_path=nowhere)
    assert (settings.tmdb_api_base, settings.discogs_api_base) == ("https://api.themoviedb.org/3",
                                                                    "https://api.discogs.com")
    assert (settings.tmdb_rate_per_second, settings.tmdb_workers, settings.discogs_rate_ceiling) == (40, 16, 600)
    assert _load({"DATA_ROOT": "/tmp/x", "TMDB_API_BASE": "http://127.0.0.1:8080/3/"},
                 dotenv_path=nowhere).tmdb_api_base == "http://127.0.0.1:8080/3"
    for name, value in [("TMDB_API_BASE", "ftp://example.org"), ("DISCOGS_API_BASE", "https://u:p@api.discogs.com"),
                        ("TMDB_API_BASE", "https://api.themoviedb.org/3?api_key=x"), ("TMDB_WORKERS", "0"),
                        ("TMDB_WORKERS", "65"), ("TMDB_READ_TIMEOUT", "soon"), ("FETCH_DEADLINE", "2"),
                        ("DISCOGS_RATE_CEILING", "-1"), ("FETCH_CONNECT_TIMEOUT", "0")]:
        with pytest.raises(_ConfigError, match=name):
            _load({"DATA_ROOT": "/tmp/x", name: value}, dotenv_path=nowhere)


def test_every_fetch_setting_is_in_env_example_and_readme():
    from scripts.settings import PROJECT_ROOT as _ROOT

    example = (_ROOT / ".env.example").read_text(encoding="utf-8")
    readme = (_ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("TMDB_API_BASE", "DISCOGS_API_BASE", "TMDB_RATE_PER_SECOND", "TMDB_WORKERS", "TMDB_READ_TIMEOUT",
                 "DISCOGS_RATE_CEILING", "DISCOGS_WORKERS", "DISCOGS_READ_TIMEOUT", "FETCH_CONNECT_TIMEOUT",
                 "FETCH_DEADLINE", "FETCH_RETRIES"):
        assert f"\n{name}=" in example and f"`{name}`" in readme, name


# --- CONFIDENT_MATCH_SCORE (issue 16) ---

@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "high", "inf"])
def test_confident_match_score_must_be_a_score(tmp_path, value):
    with pytest.raises(ConfigError, match="CONFIDENT_MATCH_SCORE"):
        load_settings({"DATA_ROOT": str(tmp_path), "CONFIDENT_MATCH_SCORE": value}, dotenv_path=tmp_path / "none")


def test_confident_match_score_default_bounds_and_docs(tmp_path):
    from scripts.settings import PROJECT_ROOT

    def score(value):
        return load_settings({"DATA_ROOT": str(tmp_path), "CONFIDENT_MATCH_SCORE": value},
                             dotenv_path=tmp_path / "none").confident_match_score

    assert (score(""), score("0"), score("1"), score(" 0.75 ")) == (0.9, 0.0, 1.0, 0.75)
    assert "\nCONFIDENT_MATCH_SCORE=0.9\n" in (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    assert "| `CONFIDENT_MATCH_SCORE` | `0.9` |" in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
