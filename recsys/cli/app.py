"""The shared typer application and the helpers every command uses."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from recsys.errors import RecsysError

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
) -> None:
    """Recommendation and user-behaviour analytics pipeline."""
    from rich.logging import RichHandler

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
    """Turn project errors into a one-line message on stderr and exit code 2, never a traceback."""
    try:
        yield
    except (RecsysError, FileNotFoundError, ValueError, KeyError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        stderr_console().print(f"[bold red]error:[/] {msg}", highlight=False)
        raise typer.Exit(code=2) from None
