"""Command-line output for people: the one place the project's command-line tools print.

Library code logs through `logging`; a tool's `main()` tells the person at the terminal what
happened with `say`, which is `print` by another name so the linter's no-print rule (T201) keeps
catching stray prints everywhere else.
"""
from __future__ import annotations


def say(*parts: object, **kwargs) -> None:
    """`print(*parts, **kwargs)`: same arguments (`file=sys.stderr`, `flush=True` ...)."""
    print(*parts, **kwargs)  # noqa: T201 - the deliberate exception
