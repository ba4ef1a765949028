"""The pipeline on a real Spark standalone cluster (a master and a worker on 127.0.0.1).

The same code that runs in local mode must run when tasks execute in separate executor JVMs and
Python workers: pandas UDFs, temporary-then-rename writes and the metrics file all go through the
cluster. The cluster is started from the pyspark package's own `spark-class` and stopped after.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from scripts.gold_digest import compare_digests, gold_digests, gold_folder

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _wait_for_worker(ui_port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as reply:
                state = json.load(reply)
            if state.get("aliveworkers", 0) >= 1:
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError("the standalone worker did not register with the master in time")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark standalone master and one worker (1 core, 1 GB), bound to loopback only."""
    work = tmp_path_factory.mktemp("cluster")
    port, ui_port = _free_port(), _free_port()
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(work), SPARK_WORKER_DIR=str(work))
    master = subprocess.Popen(
        [_spark_class(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(ui_port)],
        env=env, stdout=open(work / "master.log", "wb"), stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [_spark_class(), "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
         "--host", "127.0.0.1", "--cores", "1", "--memory", "1g", "--webui-port", str(_free_port()),
         "--work-dir", str(work)],
        env=env, stdout=open(work / "worker.log", "wb"), stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_worker(ui_port)
        yield f"spark://127.0.0.1:{port}", ui_port
    finally:
        for process in (worker, master):
            process.terminate()
        for process in (worker, master):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.slow
def test_pipeline_runs_on_a_standalone_cluster(standalone_cluster, tmp_path, generated_run):
    master_url, ui_port = standalone_cluster
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               SPARK_LOCAL_IP="127.0.0.1")
    completed = subprocess.run(
        [sys.executable, "-m", "scripts_spark.pipeline", "--master", master_url,
         "--data-root", str(tmp_path), "--source", "sample", "--films", "150", "--steps", "1-4",
         "--run-id", "cluster"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics" / "run_cluster.json").read_text())
    assert metrics["status"] == "ok"
    assert metrics["quality"]["true_pairs"] > 20 and metrics["quality"]["precision"] >= 0.95
    assert (gold_folder(tmp_path) / "soundtrack_matches" / "_SUCCESS").exists()
    # The same matches as the same sample run in local mode (the shared uninterrupted run, made with
    # the tests' session: one shuffle partition, no adaptive execution; here the pipeline's own
    # settings on two processes).
    step_04_tables = ("soundtrack_matches", "match_near_misses")
    local, cluster = ({"tables": {t: gold_digests(root)["tables"].get(t) for t in step_04_tables}}
                      for root in (generated_run.root, tmp_path))
    assert compare_digests(local, cluster, "local", "cluster") == []
    # The work really ran on the cluster: the master lists the finished application and its cores.
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as reply:
        state = json.load(reply)
    apps = [app for app in state["completedapps"] if app["name"] == "tmdb-discogs-soundtracks"]
    assert len(apps) == 1 and apps[0]["cores"] >= 1
