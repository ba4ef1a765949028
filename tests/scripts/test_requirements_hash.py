"""scripts/requirements_hash.py: include following, hash stability, pins and the runtime manifest."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.requirements_hash import (
    PROJECT_ROOT,
    RequirementsError,
    main,
    normalize_name,
    pins,
    requirements_hash,
    runtime_manifest,
)

TOOL = PROJECT_ROOT / "scripts" / "requirements_hash.py"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """requirements.txt -> -r runtimes/rt.txt (manifest + pins) and -c constraints.txt."""
    (tmp_path / "runtimes").mkdir()
    (tmp_path / "runtimes" / "rt.txt").write_text(
        "# Runtime X (Apache Spark 3.5.0), end of support 2027.\n"
        "#\n"
        "# runtime: rt-1\n"
        "# python: 3.10\n"
        "# spark: 3.5.0\n"
        "# java: 8\n"
        "pyspark==3.5.0\n"
        "Typing_Extensions==4.4.0\n",
        encoding="utf-8",
    )
    (tmp_path / "constraints.txt").write_text("qux==3.0\n", encoding="utf-8")
    (tmp_path / "requirements.txt").write_text(
        "# top comment\n"
        "-r runtimes/rt.txt\n"
        "-c constraints.txt\n"
        "\n"
        "foo==1.0   # why foo\n"
        "Requests[socks]==2.28.1 ; python_version >= '3.8'\n"
        "loose>=1.2\n"
        "--index-url https://pypi.org/simple\n",
        encoding="utf-8",
    )
    return tmp_path / "requirements.txt"


def test_hash_is_sha256_hex_and_stable(tree: Path) -> None:
    first = requirements_hash(tree)
    assert len(first) == 64 and int(first, 16) >= 0
    assert requirements_hash(tree) == first


def test_hash_ignores_comments_blank_lines_and_spacing(tree: Path) -> None:
    before = requirements_hash(tree)
    text = tree.read_text(encoding="utf-8")
    tree.write_text("# a new comment\n\n" + text.replace("foo==1.0   # why foo", "foo==1.0") + "\n\n",
                    encoding="utf-8")
    assert requirements_hash(tree) == before


def test_hash_changes_when_an_included_pin_changes(tree: Path) -> None:
    before = requirements_hash(tree)
    runtime = tree.parent / "runtimes" / "rt.txt"
    runtime.write_text(runtime.read_text(encoding="utf-8").replace("pyspark==3.5.0", "pyspark==3.5.1"),
                       encoding="utf-8")
    assert requirements_hash(tree) != before


def test_hash_changes_when_the_manifest_python_changes(tree: Path) -> None:
    before = requirements_hash(tree)
    runtime = tree.parent / "runtimes" / "rt.txt"
    runtime.write_text(runtime.read_text(encoding="utf-8").replace("# python: 3.10", "# python: 3.11"),
                       encoding="utf-8")
    assert requirements_hash(tree) != before


def test_hash_changes_when_a_constraint_changes(tree: Path) -> None:
    before = requirements_hash(tree)
    (tree.parent / "constraints.txt").write_text("qux==3.1\n", encoding="utf-8")
    assert requirements_hash(tree) != before


def test_pins_follow_r_includes_normalize_names_and_skip_constraints(tree: Path) -> None:
    assert pins(tree) == {
        "pyspark": "3.5.0",
        "typing-extensions": "4.4.0",
        "foo": "1.0",
        "requests": "2.28.1",
    }


def test_two_versions_of_one_package_are_an_error(tree: Path) -> None:
    with tree.open("a", encoding="utf-8") as handle:
        handle.write("PySpark==3.4.1\n")
    with pytest.raises(RequirementsError, match="pyspark pinned twice: 3.5.0 .* 3.4.1"):
        pins(tree)


def test_missing_include_names_the_file_and_its_includer(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("-r nowhere.txt\n", encoding="utf-8")
    with pytest.raises(RequirementsError, match=r"nowhere\.txt \(included from .*req\.txt\)"):
        requirements_hash(req)


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("--requirement b.txt\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("-r a.txt\n", encoding="utf-8")
    with pytest.raises(RequirementsError, match="include cycle"):
        pins(tmp_path / "a.txt")


def test_manifest_reads_key_value_header_lines_only(tree: Path) -> None:
    assert runtime_manifest(tree) == {"runtime": "rt-1", "python": "3.10", "spark": "3.5.0", "java": "8"}


def test_normalize_name_follows_pep_503() -> None:
    assert normalize_name("Typing_Extensions") == "typing-extensions"
    assert normalize_name("zope.Interface") == "zope-interface"
    assert normalize_name("a-_.b") == "a-b"


def test_project_manifest_agrees_with_its_pins() -> None:
    """The runtime manifest's spark version is the pyspark the project pins (a real invariant)."""
    requirements = PROJECT_ROOT / "requirements_stable.txt"
    manifest = runtime_manifest(requirements)
    assert manifest["python"] == "3.10"
    assert pins(requirements)["pyspark"] == manifest["spark"]


def test_cli_modes(tree: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tree)]) == 0
    assert capsys.readouterr().out.strip() == requirements_hash(tree)
    assert main(["--short", str(tree)]) == 0
    assert capsys.readouterr().out.strip() == requirements_hash(tree)[:12]
    assert main(["--pins", str(tree)]) == 0
    assert "typing-extensions==4.4.0" in capsys.readouterr().out.splitlines()
    assert main(["--manifest", str(tree)]) == 0
    assert "java=8" in capsys.readouterr().out.splitlines()
    assert main(["--get", "python", str(tree)]) == 0
    assert capsys.readouterr().out.strip() == "3.10"
    assert main(["--get", "scala", str(tree)]) == 1
    assert main([str(tree.parent / "missing.txt")]) == 2
    assert "not found" in capsys.readouterr().err


def test_another_interpreter_computes_the_same_hash(tree: Path) -> None:
    """rebuild_venv.sh hashes with the system python3 and env_check with the venv's: they must agree."""
    other = shutil.which("python3", path="/usr/bin:/bin") or shutil.which("python3")
    if other is None:
        pytest.skip("no python3 besides the test interpreter")
    completed = subprocess.run([other, str(TOOL), str(tree)], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == requirements_hash(tree)
