"""The shared typer application and the helpers every command uses."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from recsys.cli.failures import fail, passes_through, set_debug

app = typer.Typer(
    name="recsys",
    help="Recommendation and user-behaviour analytics pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

log = logging.getLogger("recsys")


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected error."),
) -> None:
    """Recommendation and user-behaviour analytics pipeline."""
    from rich.logging import RichHandler

    set_debug(debug)
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(console=_stderr_console(), show_path=False)], force=True)


def _stderr_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)


def stderr_console():  # type: ignore[no-untyped-def]
    """A rich console on stderr, so that stdout stays machine-readable with --json."""
    return _stderr_console()


def emit_json(obj: Any) -> None:
    """Print one JSON object on one line of stdout (the --json contract)."""
    sys.stdout.write(json.dumps(obj, default=str, sort_keys=True) + "\n")
    sys.stdout.flush()


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every failure into one line on stderr and an exit code, never a traceback (see `recsys.cli.failures`)."""
    try:
        yield
    except Exception as err:
        if passes_through(err):
            raise
        raise typer.Exit(code=fail(err)) from None
