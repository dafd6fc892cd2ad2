"""How a command fails: exit codes, and one line on stderr for every failure, never a traceback.

Project errors and bad input say what to fix; failures of a known class (a damaged lake file DuckDB cannot read,
a full disk, a missing permission, memory) are named in one line; anything else is an unexpected error, shown
as one line plus a hint to rerun with ``--debug``, which shows the traceback instead.
"""

from __future__ import annotations

import errno
import sys
import zlib

from recsys.errors import RecsysError

EXIT_FAILED = 1
"""An unexpected error (rerun with --debug for the traceback), or a promotion the gate refused."""
EXIT_INPUT = 2
"""Bad input, options or files, or a known failure class: the line says what was wrong."""
EXIT_DAMAGED_SOURCE = 3
"""`recsys ingest`: a source is damaged part-way; the rows before the damage were ingested and the manifest written."""
EXIT_ALL_QUARANTINED = 4
"""`recsys ingest`: every row of a source was quarantined (wrong --format or --map?); the manifest was written."""

DEBUG_HINT = "rerun with --debug for the traceback"

_state = {"debug": False}


def set_debug(on: bool) -> None:
    """With debug on, an unexpected error is re-raised, so its traceback is shown."""
    _state["debug"] = on


def first_line(err: BaseException) -> str:
    """The first non-blank line of an error's message (foreign libraries add query excerpts and hints below)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__


def _flat(err: BaseException) -> str:
    """A project error's whole message on one line."""
    msg = err.args[0] if isinstance(err, KeyError) and err.args else err
    return " ".join(str(msg).split()) or type(err).__name__


def known_failure(err: BaseException) -> str | None:
    """One line for a failure of a known class, or None. Optional libraries are only checked when loaded."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(err, duckdb.Error):
        hint = " (a damaged or half-written file in the lake? move it away or re-ingest, then re-run)" \
            if "parquet" in str(err).lower() else ""
        return f"DuckDB could not run the query: {first_line(err)}{hint}"
    if isinstance(err, MemoryError):
        return "out of memory: use a smaller date window (--from/--to), a lower memory setting or a bigger machine"
    if type(err).__name__ == "OutOfMemoryError":  # torch (CUDA)
        return f"the device ran out of memory ({first_line(err)}): use --device cpu or smaller batches"
    if isinstance(err, PermissionError):
        return f"permission denied: {err.filename or first_line(err)}"
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return f"no space left on the device (writing {err.filename or 'a file'}): free some space and re-run"
    if isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror or first_line(err)}{where}"
    if isinstance(err, EOFError | zlib.error):
        return f"a file ended early or is damaged: {first_line(err)}"
    redis = sys.modules.get("redis")
    if redis is not None and isinstance(err, redis.RedisError):
        return f"Redis: {first_line(err)} (is the online store running and reachable?)"
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(err, sqlite3.Error):
        return f"SQLite: {first_line(err)}"
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and isinstance(err, pyarrow.ArrowException):
        return f"Arrow/Parquet: {first_line(err)}"
    return None


def fail(err: Exception) -> int:
    """Print `err` as one line on stderr and return the exit code; re-raise an unexpected error under --debug."""
    if isinstance(err, RecsysError | FileNotFoundError | ValueError | KeyError):
        line, code = _flat(err), EXIT_INPUT
    elif (known := known_failure(err)) is not None:
        line, code = known, EXIT_INPUT
    elif _state["debug"]:
        raise err
    else:
        line, code = f"unexpected {type(err).__name__}: {first_line(err)} ({DEBUG_HINT})", EXIT_FAILED
    print_error(line)
    return code


def print_error(line: str) -> None:
    """``error: <line>`` on stderr, never wrapped (scripts and people read the last line)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(line)}", highlight=False)


def passes_through(err: BaseException) -> bool:
    """Exceptions that already are a command's outcome (an exit code, a usage error, an abort), from typer or the
    click it is built on (typer ships its own copy, so both are recognised by name)."""
    return any(c.__name__ in _OUTCOMES and c.__module__.split(".")[0] in ("typer", "click")
               for c in type(err).__mro__)


_OUTCOMES = {"Exit", "Abort", "ClickException"}
