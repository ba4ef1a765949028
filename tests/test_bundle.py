"""databricks.yml and the job, validated with the `databricks-bundles` models (the bundle's own schema).

The models and PyYAML live in .venv/infra-tools (requirements_infra.txt), outside the pinned venv;
`make test` installs them, and these tests skip with that reason when the folder is absent.
`databricks bundle validate` itself needs a workspace login, so it is documented, not run here.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from scripts.requirements_hash import runtime_manifest
from scripts_spark.session import correctness_conf

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS = PROJECT_ROOT / ".venv" / "infra-tools"
VARIABLE = re.compile(r"\$\{(var|bundle)\.(\w+)\}")


@pytest.fixture(scope="module")
def models():
    if not (TOOLS / "databricks" / "bundles").is_dir():
        pytest.skip("databricks-bundles not installed in .venv/infra-tools: run `make checkov` (make test does)")
    if str(TOOLS) not in sys.path:
        sys.path.append(str(TOOLS))  # appended: the venv's pinned packages keep precedence
    import yaml
    from databricks.bundles.jobs import Job

    return yaml, Job


def _resolved(text: str, variables: dict, target: str) -> str:
    def value(match: re.Match) -> str:
        kind, name = match.groups()
        if kind == "bundle":
            assert name == "target"
            return target
        assert name in variables, f"${{var.{name}}} is used but not declared in databricks.yml"
        return str(variables[name])
    return VARIABLE.sub(value, text)


@pytest.fixture(scope="module")
def bundle(models):
    yaml, job_model = models
    config = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text(encoding="utf-8"))
    variables = {name: spec.get("default", f"<{name}>") for name, spec in config["variables"].items()}
    variables["storage_account"] = "acct01"   # required at deploy time (--var storage_account=...)
    jobs = {}
    for path in sorted(PROJECT_ROOT.glob("resources/*.job.yml")):
        text = _resolved(path.read_text(encoding="utf-8"), variables, "dev")
        for name, spec in yaml.safe_load(text)["resources"]["jobs"].items():
            jobs[name] = job_model.from_dict(spec)   # raises on any field the bundle schema does not know
    return config, variables, jobs


def test_bundle_has_dev_and_prod_targets_and_includes_the_jobs(bundle):
    config, variables, jobs = bundle
    assert set(config["targets"]) == {"dev", "prod"} and config["targets"]["dev"]["default"] is True
    assert config["include"] == ["resources/*.job.yml"] and set(jobs) == {"soundtracks_pipeline"}
    assert config["artifacts"]["soundtracks_wheel"]["type"] == "whl"


def test_job_runs_the_wheel_entry_point_on_the_manifest_runtime_against_abfss(bundle):
    _, variables, jobs = bundle
    job = jobs["soundtracks_pipeline"]
    manifest = runtime_manifest(PROJECT_ROOT / "requirements_stable.txt")
    [task] = job.tasks
    assert task.python_wheel_task.package_name == "tmdb_discogs_soundtracks"
    assert task.python_wheel_task.entry_point == "soundtracks-pipeline"
    assert "soundtracks-pipeline = \"scripts_spark.pipeline:main\"" in \
        (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8").replace("'", '"')
    [library] = task.libraries
    assert library.whl == "./dist/*.whl"
    [cluster] = job.job_clusters
    assert cluster.job_cluster_key == task.job_cluster_key
    assert cluster.new_cluster.spark_version == manifest["databricks_spark_version"] == "14.3.x-scala2.12"
    params = task.python_wheel_task.parameters
    data_root = params[params.index("--data-root") + 1]
    assert data_root == "abfss://soundtracks@acct01.dfs.core.windows.net/pipeline"
    assert cluster.new_cluster.spark_env_vars["DATA_ROOT"] == data_root
    assert job.max_concurrent_runs == 1
    # The cluster starts with the settings the runner also sets on every session.
    assert cluster.new_cluster.spark_conf == correctness_conf()


def test_tokens_come_from_the_key_vault_backed_secret_scope(bundle):
    _, variables, jobs = bundle
    env = jobs["soundtracks_pipeline"].job_clusters[0].new_cluster.spark_env_vars
    scope = variables["secret_scope"]
    assert env["TMDB_API_TOKEN"] == f"{{{{secrets/{scope}/{variables['tmdb_secret_name']}}}}}"
    assert env["DISCOGS_TOKEN"] == f"{{{{secrets/{scope}/{variables['discogs_secret_name']}}}}}"
    bicep = (PROJECT_ROOT / "infrastructure" / "main.bicep").read_text(encoding="utf-8")
    # The secret names the job asks for are the ones the template documents for the vault.
    assert f"param tmdbSecretName string = '{variables['tmdb_secret_name']}'" in bicep
    assert f"param discogsSecretName string = '{variables['discogs_secret_name']}'" in bicep
    assert env["SOURCE"] in ("auto", "api")


def test_the_wheel_declares_the_azure_sdk_pins_of_requirements_stable():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (PROJECT_ROOT / "requirements_stable.txt").read_text(),
                           flags=re.M))
    declared = dict(re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', (PROJECT_ROOT / "pyproject.toml").read_text()))
    for package in ("azure-core", "azure-storage-blob", "azure-storage-file-datalake", "azure-identity",
                    "azure-keyvault-secrets"):
        assert declared[package] == pins[package]
    manifest = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$",
                               (PROJECT_ROOT / "runtimes" / "dbr-14.3-lts.txt").read_text(), flags=re.M))
    # No job library may move a package the runtime ships (that is what would break the cluster).
    assert not set(declared) & set(manifest)
