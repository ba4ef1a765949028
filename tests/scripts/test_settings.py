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
