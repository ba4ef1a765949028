"""Scale benchmark: the whole pipeline at several catalogue sizes, measured from outside.

`python -m scripts_spark.bench_scale [--sizes 20000,100000,1000000] [--doc docs/performance.md]`

For each size it generates a sample world (or takes a world folder given with `--world`), runs
`python -m scripts_spark.pipeline` on it as a child process, samples the memory of the whole process
tree (the Python driver, the Spark JVM, the Python workers) every SAMPLE_SECONDS, and reads the
run's metrics file for the per-step times, rows and match figures. It prints a table and, with
`--doc`, rewrites the scale section of docs/performance.md between SECTION_BEGIN and SECTION_END,
so the performance record is regenerated from measurements, never typed by hand.

`--ablation` also re-runs steps 03-05 of the middle size with each Spark setting of ABLATIONS set to
its alternative (through SPARK_CONF), so the record shows the measurement behind each setting.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from scripts.console import say
from scripts.proc_tree import TreePeaks, TreeSampler
from scripts.settings import PROJECT_ROOT
from scripts_spark.metrics import new_run_id

SECTION_BEGIN = "<!-- scale:begin (written by make bench-scale; do not edit by hand) -->"
SECTION_END = "<!-- scale:end -->"
DEFAULT_SIZES = (20_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 10_000)
# Spark settings whose value decides time, each re-run with the alternative here: the non-default
# shuffle partitions (ours 8) against Spark's 200, and adaptive execution (Spark's default, kept)
# turned off. (Arrow for pandas conversion is ours only for parity with Databricks, which enables
# it: no pipeline step converts to or from pandas, so there is nothing to measure.)
ABLATIONS = {
    "spark.sql.shuffle.partitions": "200",
    "spark.sql.adaptive.enabled": "false",
}


@dataclass
class ScaleRun:
    """One measured run of the pipeline."""

    label: str
    films: int
    releases: int
    seconds: float
    exit_code: int
    steps: list[dict] = field(default_factory=list)  # name, seconds, rows_in, rows_out, rows_per_s
    peaks: TreePeaks = field(default_factory=TreePeaks)
    candidates_per_album: float | None = None
    quality: dict = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)   # 1-minute load average at the start and at the end
    layers: dict = field(default_factory=dict)  # layer -> {"tables", "files", "mb"} of the Parquet written
    # "generated" (the project's generator, --sizes) or "given" (--world): growth is measured
    # between sizes of one kind, never from a generated world to one written elsewhere.
    kind: str = "generated"


def parquet_layers(data_root: Path) -> dict:
    """Per layer (bronze, silver, the published gold run): tables, Parquet files and their MB, so the
    record shows the file sizes the write settings give at each scale."""
    from scripts.gold_digest import gold_folder

    out = {}
    folders = {"bronze": data_root / "bronze", "silver": data_root / "silver", "gold": gold_folder(data_root)}
    for layer, folder in folders.items():
        if not folder.is_dir():
            continue
        tables = [t for t in folder.iterdir() if t.is_dir() and not t.name.endswith(("_csv", ".__writing"))]
        files = [f for t in tables for f in t.rglob("*.parquet")]
        out[layer] = {"tables": len(tables), "files": len(files),
                      "mb": round(sum(f.stat().st_size for f in files) / 1e6, 1)}
    return out


def run_metrics(data_root: Path, run_id: str) -> dict | None:
    """The metrics the run `run_id` wrote under `data_root`, or None when it wrote none. Read by
    the run's own id: a kept world also holds the metrics of other runs (a `--steps 4` run named
    `run_s4.json` sorts after every timestamped one)."""
    path = data_root / "metrics" / f"run_{run_id}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


_run_numbers = itertools.count(1)


def _candidates_per_album(steps: list[dict]) -> float | None:
    for step in steps:
        details = step.get("details") or {}
        if "candidates_per_album" in details:
            return details["candidates_per_album"]
        pairs, albums = details.get("candidate_pairs"), details.get("albums") or (step.get("rows_in") or {}).get("albums")
        if pairs is not None and albums:
            return round(pairs / albums, 2)
    return None


def run_pipeline(data_root: Path, label: str, *, steps: str = "", spark_conf: str = "",
                 timeout: float = 3600.0) -> ScaleRun:
    """Run the pipeline on `data_root` in a child process, sampling its process tree."""
    env = dict(os.environ, DATA_ROOT=str(data_root), SOURCE="auto", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    if spark_conf:
        env["SPARK_CONF"] = spark_conf
    run_id = f"bench-{new_run_id()}-{next(_run_numbers)}"
    command = [sys.executable, "-m", "scripts_spark.pipeline", "--data-root", str(data_root), "--run-id", run_id]
    if steps:
        command += ["--steps", steps]
    started, load_start = time.monotonic(), os.getloadavg()[0]
    with open(data_root / "bench_scale.log", "ab") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        peaks = sampler.stop()
    seconds = time.monotonic() - started
    metrics = run_metrics(data_root, run_id) or {}
    steps_out = []
    for step in metrics.get("steps", []):
        rows_in = sum((step.get("rows_in") or {}).values())
        secs = step.get("seconds") or 0.0
        steps_out.append({"name": step.get("step"), "seconds": round(secs, 1), "rows_in": rows_in,
                          "rows_out": sum((step.get("rows_out") or {}).values()),
                          "rows_per_s": round(rows_in / secs) if secs else None})
    films = next((s["rows_out"] for s in steps_out if s["name"] and s["name"].startswith("01")), 0)
    releases = next((sum(v for k, v in (step.get("rows_out") or {}).items() if "release" in k)
                     for step in metrics.get("steps", []) if str(step.get("step", "")).startswith("02")), 0)
    return ScaleRun(label=label, films=films, releases=releases, seconds=round(seconds, 1), exit_code=code,
                    steps=steps_out, peaks=peaks, candidates_per_album=_candidates_per_album(metrics.get("steps", [])),
                    quality=metrics.get("quality") or {}, load=(round(load_start, 1), round(os.getloadavg()[0], 1)),
                    layers=parquet_layers(data_root))


# Issue 13's targets for the whole run (`make run`) on this 2-core machine.
SMALL_WORLD_FILMS = 20_000
SMALL_RUN_TARGET_S = 65.0
LARGE_WORLD_FILMS = 1_000_000
LARGE_RUN_TARGET_S = 600.0


def recorded_section(doc: Path) -> str | None:
    """The scale section last written into `doc` by `make bench-scale`, or None."""
    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    if SECTION_BEGIN not in text or SECTION_END not in text:
        return None
    return text.split(SECTION_BEGIN, 1)[1].split(SECTION_END, 1)[0].strip("\n")


def run_scale_section(films: int, scratch: Path, doc: Path = PROJECT_ROOT / "docs" / "performance.md") -> dict:
    """`make bench`'s scale section: one whole run on a generated world of `films` (20,000 in the full
    bench) measured now, against the small-run target; then the three-size table as last recorded by
    `make bench-scale` (a 1M-film run takes minutes, so it is not repeated on every bench)."""
    from scripts.bench_common import verdict

    run = run_pipeline(generated_world(films, scratch / f"scale{films}"), f"generated {films:,}")
    say(f"\n== scale: whole pipeline on {films:,} generated films (measured now) ==\n")
    say(markdown([run]))
    recorded = recorded_section(doc)
    say(f"== scale: three sizes as last recorded by `make bench-scale` in {doc.name} ==\n")
    say(recorded if recorded else "(none recorded yet: run `make bench-scale`)")
    checks = []
    if films == SMALL_WORLD_FILMS:
        checks.append(verdict(f"scale: whole run on {films:,} films (s)", run.seconds if run.exit_code == 0 else None,
                              SMALL_RUN_TARGET_S, higher_is_better=False,
                              detail=f"exit {run.exit_code}, load {run.load}"))
    return {"films": films, "seconds": run.seconds, "exit_code": run.exit_code, "load": run.load,
            "steps": run.steps, "recorded": recorded, "checks": checks}


WORLD_MARKER = ".bench-scale-world"


def generated_world(size: int, folder: Path, seed: int = 17) -> Path:
    """A sample world of `size` films in `folder/raw` (the project's own generator); a world this
    function generated there before with the same size and seed (its marker says so) is reused."""
    from scripts import generate_sample_data

    marker = folder / WORLD_MARKER
    wanted = f"films={size} seed={seed}\n"
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted and (folder / "raw").is_dir():
        return folder
    # Only a world this function wrote (its marker) is replaced; any other files in raw/ stop it.
    generate_sample_data.generate(folder / "raw", films=size, seed=seed, overwrite=marker.is_file())
    marker.write_text(wanted, encoding="utf-8")
    return folder


def growth(runs: Sequence[ScaleRun]) -> list[dict]:
    """Between consecutive sizes of one kind of world: how many times more films, and how many
    times more time."""
    out = []
    kinds = list(dict.fromkeys(run.kind for run in runs))
    ordered = [sorted((run for run in runs if run.kind == kind), key=lambda run: run.films) for kind in kinds]
    for small, large in (pair for group in ordered for pair in zip(group, group[1:])):
        if small.films and small.seconds and large.films:   # a run that wrote no step 01 counts no films
            data = large.films / small.films
            time_ratio = large.seconds / small.seconds
            small_steps = {st["name"]: st["seconds"] for st in small.steps}
            per_step = {st["name"]: round(st["seconds"] / small_steps[st["name"]] / data, 3)
                        for st in large.steps if small_steps.get(st["name"])}
            out.append({"from": small.label, "to": large.label, "data_x": round(data, 1),
                        "time_x": round(time_ratio, 2), "time_per_data": round(time_ratio / data, 3),
                        "steps_time_per_data": per_step})
    return out


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _share(value) -> str:
    """A precision, recall or F1 to four places (0.9811, not the 1.0 a one-place format shows)."""
    return "-" if value is None else f"{value:.4f}"


def markdown(runs: Sequence[ScaleRun], ablations: Sequence[tuple[str, str, ScaleRun, ScaleRun]] = ()) -> str:
    """The scale section of docs/performance.md."""
    step_names = []
    for run in runs:
        for step in run.steps:
            if step["name"] not in step_names:
                step_names.append(step["name"])
    lines = [
        f"Measured by `make bench-scale` on this machine ({os.cpu_count()} cores) on "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}. Peak RSS is of the whole process tree, by kind. "
        "Load is the 1-minute load average at the start and end of each run (2 cores: above 2, other work "
        "shared the machine and the times are longer than on an idle one).",
        "",
        "| world | films | releases | whole run (s) | " + " | ".join(f"{n} (s)" for n in step_names)
        + " | JVM peak (MB) | Python driver peak (MB) | Python workers peak (MB) | tree peak (MB) "
          "| candidates per album | load | exit |",
        "|" + "---|" * (4 + len(step_names) + 7),
    ]
    for run in runs:
        by_name = {s["name"]: s for s in run.steps}
        cells = [run.label, _fmt(run.films), _fmt(run.releases), _fmt(run.seconds)]
        cells += [_fmt(by_name.get(n, {}).get("seconds")) for n in step_names]
        cells += [_fmt(round(run.peaks.jvm)), _fmt(round(run.peaks.python_driver)),
                  _fmt(round(run.peaks.python_workers)), _fmt(round(run.peaks.tree)),
                  _fmt(run.candidates_per_album), f"{run.load[0]:g} / {run.load[1]:g}", str(run.exit_code)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Rows per second (rows in / step time):", "",
              "| world | " + " | ".join(step_names) + " |", "|" + "---|" * (1 + len(step_names))]
    for run in runs:
        by_name = {s["name"]: s for s in run.steps}
        lines.append("| " + " | ".join([run.label] + [_fmt(by_name.get(n, {}).get("rows_per_s")) for n in step_names])
                     + " |")
    if any(run.layers for run in runs):
        lines += ["", "Parquet written per layer (tables / files / MB; mean MB per file):", "",
                  "| world | bronze | silver | gold |", "|---|---|---|---|"]
        for run in runs:
            cells = []
            for layer in ("bronze", "silver", "gold"):
                got = run.layers.get(layer)
                cells.append(f"{got['tables']} / {got['files']} / {got['mb']:g}; {got['mb'] / got['files']:.2f}"
                             if got and got["files"] else "-")
            lines.append(f"| {run.label} | " + " | ".join(cells) + " |")
    targets = [(SMALL_WORLD_FILMS, SMALL_RUN_TARGET_S), (LARGE_WORLD_FILMS, LARGE_RUN_TARGET_S)]
    verdicts = [f"- whole run on {run.label}: {run.seconds:,.1f} s, target <= {target:g} s: "
                f"{'PASS' if run.exit_code == 0 and run.seconds <= target else 'MISS'}"
                for films, target in targets for run in runs if run.films and abs(run.films - films) <= films // 10]
    if verdicts:
        lines += ["", "Targets (issue 13):", "", *verdicts]
    grown = growth(runs)
    if grown:
        lines += ["", "Growth between sizes (time x / data x below 1 means the run, or the step, grows slower than its "
                  "input):", "",
                  "| from | to | data x | time x | time x / data x | " + " | ".join(f"{n}: time x / data x" for n in step_names)
                  + " |", "|" + "---|" * (5 + len(step_names))]
        lines += [f"| {g['from']} | {g['to']} | {g['data_x']} | {g['time_x']} | {g['time_per_data']} | "
                  + " | ".join(f"{g['steps_time_per_data'][n]:g}" if n in g["steps_time_per_data"] else "-"
                               for n in step_names) + " |" for g in grown]
    if any(run.quality for run in runs):
        lines += ["", "Match quality on each world (its own true pairs):", "",
                  "| world | precision | recall | F1 | pair completeness |", "|---|---|---|---|---|"]
        for run in runs:
            q = run.quality
            lines.append(f"| {run.label} | " + " | ".join(_share(q.get(name)) for name in
                                                       ("precision", "recall", "f1", "pair_completeness")) + " |")
    if ablations:
        lines += ["", "Spark settings that decide time, each against the alternative (steps 03-05 on the same world):", "",
                  "| setting | ours | alternative | ours (s) | alternative (s) | alternative / ours |",
                  "|---|---|---|---|---|---|"]
        for key, ours_value, ours, theirs in ablations:
            ratio = theirs.seconds / ours.seconds if ours.seconds else None
            lines.append(f"| `{key}` | {ours_value} | {ABLATIONS[key]} | {_fmt(ours.seconds)} | {_fmt(theirs.seconds)} "
                         f"| {_fmt(round(ratio, 2) if ratio else None)} |")
    return "\n".join(lines) + "\n"


def write_section(doc: Path, text: str) -> None:
    """Replace the scale section of `doc` (created when missing) with `text`."""
    current = doc.read_text(encoding="utf-8") if doc.is_file() else "# Performance\n"
    block = f"{SECTION_BEGIN}\n{text}{SECTION_END}"
    if SECTION_BEGIN in current and SECTION_END in current:
        head, rest = current.split(SECTION_BEGIN, 1)
        tail = rest.split(SECTION_END, 1)[1]
        updated = head + block + tail
    else:
        updated = current.rstrip("\n") + "\n\n## Whole pipeline at scale\n\n" + block + "\n"
    tmp = doc.with_suffix(doc.suffix + ".partial")
    tmp.write_text(updated, encoding="utf-8")
    os.replace(tmp, doc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts_spark.bench_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated film counts of generated worlds (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, for a smoke run")
    parser.add_argument("--world", action="append", default=[], type=Path,
                        help="also run on this world folder (holding raw/); repeatable; it is copied, never changed")
    parser.add_argument("--ablation", action="store_true", help="measure each non-default Spark setting")
    parser.add_argument("--doc", type=Path, help="rewrite the scale section of this Markdown file")
    parser.add_argument("--scratch", type=Path, help="folder for the worlds (default: a temporary folder)")
    parser.add_argument("--keep-worlds", type=Path, metavar="DIR",
                        help="generate the worlds into DIR and keep them; a later run reuses them (a 1M-film world "
                             "takes minutes to write)")
    return parser


def _copy_raw(world: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(world / "raw", dest / "raw")
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sizes = QUICK_SIZES if args.quick else tuple(int(s) for s in args.sizes.split(",") if s.strip())
    except ValueError:
        say(f"error: --sizes {args.sizes!r} must be whole numbers separated by commas", file=sys.stderr)
        return 2
    for world in args.world:
        if not (world / "raw").is_dir():
            say(f"error: {world} has no raw/ folder", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.scratch) as scratch_name:
        scratch = Path(scratch_name)
        worlds_home = args.keep_worlds or scratch
        runs = []
        for size in sizes:
            root = generated_world(size, worlds_home / f"gen{size}")
            runs.append(run_pipeline(root, f"generated {size:,}"))
            say(f"bench-scale: generated {size:,} films: {runs[-1].seconds} s, exit {runs[-1].exit_code}", flush=True)
        for i, world in enumerate(args.world):
            root = _copy_raw(world, scratch / f"world{i}")
            runs.append(replace(run_pipeline(root, world.name), kind="given"))
            say(f"bench-scale: {world.name}: {runs[-1].seconds} s, exit {runs[-1].exit_code}", flush=True)
        ablations = []
        if args.ablation and sizes:
            from scripts_spark.session import local_conf

            middle = worlds_home / f"gen{sizes[len(sizes) // 2]}"
            ours = run_pipeline(middle, "ours", steps="3-5")
            for key in ABLATIONS:
                theirs = run_pipeline(middle, f"{key}={ABLATIONS[key]}", steps="3-5", spark_conf=f"{key}={ABLATIONS[key]}")
                ablations.append((key, local_conf().get(key, "true (Spark's default)"), ours, theirs))
        text = markdown(runs, ablations)
    say(text)
    if args.doc:
        write_section(args.doc, text)
        say(f"bench-scale: wrote the scale section of {args.doc}")
    return 0 if all(run.exit_code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
