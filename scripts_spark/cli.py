"""What every command-line entry point shares: exit codes, settings with command-line overrides,
and the logging setup. Nothing here imports another module of this package, so any entry point
(the runner, a step, the report, the benchmark) can use it without an import circle.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from scripts.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401 - the runner, the steps and the report take them from here
from scripts.settings import Settings, load_settings

PROJECT_LOGGERS = ("scripts_spark", "scripts")


def settings_with(overrides: Mapping[str, str | None]) -> Settings:
    """The settings from the environment and `.env`, with the command line's values on top
    (None or "" leaves a setting as it is).

    Raises:
        ConfigError: a setting is invalid.
    """
    return load_settings(dict(os.environ, **{k: v for k, v in overrides.items() if v}))


def configure_logging(level: str) -> None:
    """Configure this project's loggers only (for every command-line entry point); Spark and py4j
    keep their own settings, and the root logger is left alone."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in PROJECT_LOGGERS:
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False
