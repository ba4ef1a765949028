"""Content digest of every gold table: equal digests mean equal tables, whatever their files look like.

    VENV/bin/python -m scripts.gold_digest DATA_ROOT        one JSON object on stdout

`make sync` runs this on both sides (on the VM through its venv over ssh) after both pipelines ran,
and compares the digests table by table. A table is a folder under DATA_ROOT/gold/ holding Parquet
files (`*_csv/` copies and other folders without Parquet are not tables). When gold/_CURRENT exists
it names the folder (relative to gold/) that holds the current tables, and that folder is read:
one line, `runs/<run_id>`, switched by `scripts_spark.storage.publish_gold` at the end of a
successful run (README 'Published gold'); without it, gold/ itself (the layout before run folders).

The digest does not depend on file names, how the rows are split into files or partitions, row
order, or column order: the table is read with pyarrow (hive partition folders become columns),
each row is serialised canonically (columns by name; integers whatever their width; floats to 12
significant digits so that a summation order across partitions is not a difference; dates and
times in ISO form; nested values recursively), the serialised rows are sorted, and the sorted list
is hashed with sha256 together with the column names.

Output: {"gold": "<folder read>", "tables": {"<table>": {"rows": N, "columns": [...],
"digest": "<64 hex>"}}} where a table that cannot be read has {"error": "..."} instead.
Exit codes: 0 printed (also when there is no gold folder: "tables" is then empty); 2 usage.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

from scripts.console import say

CURRENT_POINTER = "_CURRENT"
FLOAT_DIGITS = 12


def gold_folder(data_root: Path) -> Path:
    """DATA_ROOT/gold, or the run folder gold/_CURRENT names."""
    gold = Path(data_root) / "gold"
    pointer = gold / CURRENT_POINTER
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        if name:
            return gold / name
    return gold


def _is_table(folder: Path) -> bool:
    return any(path.suffix == ".parquet" and not path.name.startswith(("_", "."))
               for path in folder.rglob("*.parquet"))


def canonical(value: Any) -> Any:
    """A JSON-serialisable form of one cell value that is equal exactly when the values are."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return {"float": "nan"}
        if math.isinf(value):
            return {"float": "inf" if value > 0 else "-inf"}
        return {"float": format(value, f".{FLOAT_DIGITS}g") if value != 0 else "0"}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value.normalize())}
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return {"time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"duration": value.total_seconds()}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {"struct": [[key, canonical(value[key])] for key in sorted(value)]}
    if isinstance(value, (list, tuple)):
        # A map arrives as a list of (key, value) pairs; its order carries no meaning.
        items = [canonical(item) for item in value]
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {"map": sorted(items, key=lambda item: json.dumps(item, sort_keys=True))}
        return items
    return {"other": str(value)}


def table_digest(folder: Path) -> dict[str, Any]:
    """{"rows", "columns", "digest"} of the Parquet table in `folder`."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(folder), format="parquet", partitioning="hive").to_table()
    columns = sorted(table.column_names)
    data = {name: table.column(name).to_pylist() for name in columns}
    rows = sorted(json.dumps([canonical(data[name][i]) for name in columns], ensure_ascii=False,
                             separators=(",", ":"))
                  for i in range(table.num_rows))
    digest = hashlib.sha256(json.dumps(columns).encode("utf-8") + b"\n")
    for row in rows:
        digest.update(row.encode("utf-8") + b"\n")
    return {"rows": table.num_rows, "columns": columns, "digest": digest.hexdigest()}


def gold_digests(data_root: Path) -> dict[str, Any]:
    """The digests of every gold table under `data_root` (see the module docstring)."""
    gold = gold_folder(data_root)
    tables: dict[str, Any] = {}
    if gold.is_dir():
        for folder in sorted(p for p in gold.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            if not _is_table(folder):
                continue
            try:
                tables[folder.name] = table_digest(folder)
            except Exception as exc:  # one unreadable table is reported, the others still compared
                tables[folder.name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    return {"gold": str(gold), "tables": tables}


def compare_digests(left: dict[str, Any], right: dict[str, Any], left_name: str = "local",
                    right_name: str = "vm") -> list[str]:
    """Every gold table that differs, one line each by name; [] means identical."""
    differences = []
    a, b = left.get("tables") or {}, right.get("tables") or {}
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x is None or y is None:
            differences.append(f"{name}: {left_name} {'missing' if x is None else 'present'}, "
                               f"{right_name} {'missing' if y is None else 'present'}")
        elif "error" in x or "error" in y:
            differences.append(f"{name}: unreadable ({left_name}: {x.get('error', 'ok')}; "
                               f"{right_name}: {y.get('error', 'ok')})")
        elif x.get("digest") != y.get("digest"):
            detail = f"{x['rows']} vs {y['rows']} rows" if x.get("rows") != y.get("rows") else "same row count"
            if x.get("columns") != y.get("columns"):
                detail = "different columns"
            differences.append(f"{name}: {left_name} {x['digest'][:12]}, {right_name} {y['digest'][:12]} ({detail})")
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.gold_digest",
                                     description="Content digest of every gold table under DATA_ROOT, as JSON.")
    parser.add_argument("data_root", type=Path, help="the DATA_ROOT whose gold/ is read (a local folder)")
    args = parser.parse_args(argv)
    say(json.dumps(gold_digests(args.data_root), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
