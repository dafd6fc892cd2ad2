"""The `recsys` command line: a thin client of the libraries.

Every module ``recsys/cli/cmd_*.py`` adds its commands to `app` (see `recsys.cli.app`); they are discovered here,
so a new command is a new module. Command modules import heavy libraries inside their functions only.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from recsys.cli.app import app
from recsys.cli.failures import fail


def _load_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}")


def main() -> None:
    """Entry point of the `recsys` console script."""
    _load_commands()
    try:
        app()
    except Exception as err:  # raised outside a command's own handling: still one line, never a traceback
        sys.exit(fail(err))


__all__ = ["app", "main"]
