"""The pipeline: `python -m scripts_spark.pipeline [--steps 1-5] [--data-root DIR] ...`.

STEPS is the pipeline: an ordered tuple of step modules, each with `NAME` and `run(ctx)` (see
`scripts_spark.context`). Adding a step is one module and one entry here; `--steps` numbers
follow this tuple. The run itself (settings, input, Spark, metrics, report, exit codes) is
`scripts_spark.runner`.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from scripts_spark import (
    runner,
    step_01_extract_tmdb,
    step_02_extract_discogs,
    step_03_normalize,
    step_04_match,
    step_05_aggregate,
)

STEPS = (
    step_01_extract_tmdb,
    step_02_extract_discogs,
    step_03_normalize,
    step_04_match,
    step_05_aggregate,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen steps of STEPS; `argv` None means the process's own arguments."""
    return runner.main(STEPS, argv, prog="python -m scripts_spark.pipeline", description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
