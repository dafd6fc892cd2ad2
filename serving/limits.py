"""Request bodies are bounded and strictly parsed before any route sees them.

`BodyGuard` (plain ASGI, in front of the app) answers 413 for a body over the configured size without reading
more of it than the limit, and 422 for a JSON body that Python's `json` would take but no other JSON reader
should: ``NaN``/``Infinity``, numbers that overflow a double (``1e400``), lone UTF-16 surrogates (``"\\ud800"``),
text that is not UTF-8, or nesting too deep to parse. What passes is handed to FastAPI unchanged.
`validation_error_handler` renders validation errors whatever their input held, so rendering never fails.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SURROGATE = re.compile("[\ud800-\udfff]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DRAIN_FACTOR = 16


class HostileJSON(ValueError):
    """A JSON body that parses in Python but is not portable JSON."""


def _no_constant(name: str) -> Any:
    raise HostileJSON(f"{name} is not a JSON number: numbers must be finite")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise HostileJSON(f"number {text[:40]} is out of range: it does not fit a double")
    return value


def strict_loads(body: bytes) -> Any:
    """Parse a JSON body, refusing what `HostileJSON` describes; ValueError says what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise HostileJSON(f"the body is not UTF-8 text (byte {err.start})") from None
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise HostileJSON("the JSON is nested too deeply") from None
    bad = _find_surrogate(obj)
    if bad is not None:
        raise HostileJSON(f"the JSON text {bad!r} holds a lone UTF-16 surrogate, which is not a character")
    return obj


def _find_surrogate(obj: Any) -> str | None:
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return node.encode("utf-8", "backslashreplace").decode()[:60]
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI would parse this body as JSON: no content type, or application/json or .../*+json."""
    for key, value in scope["headers"]:
        if key == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))
    return True


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyGuard:
    """Bounds request bodies to `max_bytes` (413) and refuses hostile JSON (422), before the app parses them."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int] | int) -> None:
        self.app = app
        self._max = max_bytes if callable(max_bytes) else (lambda: max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self._max()
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(receive, send, limit, f"the request body of {declared} bytes exceeds the limit of "
                                                f"{limit} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > limit:
                chunks.clear()
                await _refuse(receive, send, limit, f"the request body exceeds the limit of {limit} bytes", more)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        if body and _is_json(scope):
            try:
                strict_loads(body)
            except HostileJSON as err:
                await _reply(send, 422, [_issue(str(err))])
                return
            except ValueError as err:
                await _reply(send, 422, [_issue(f"JSON decode error: {err}")])
                return
        await self.app(scope, _replay(body, receive), send)


def _issue(msg: str) -> dict[str, Any]:
    return {"type": "json_invalid", "loc": ["body"], "msg": msg, "input": None}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(receive: Receive, send: Send, limit: int, msg: str, more: bool = True) -> None:
    """413, after reading and dropping what the client still sends (up to `DRAIN_FACTOR` x the limit, so a
    client that writes its whole body before reading sees the answer instead of a reset connection)."""
    drained = 0
    while more and drained <= DRAIN_FACTOR * limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        drained += len(message.get("body", b""))
        more = message.get("more_body", False)
    await _reply(send, 413, msg, close=more)


async def _reply(send: Send, status: int, detail: Any, *, close: bool = False) -> None:
    data = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _safe(obj: Any) -> Any:
    """`obj` with every float finite-or-text and every string encodable as UTF-8."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8") if _SURROGATE.search(obj) else obj
    if isinstance(obj, dict):
        return {_safe(k): _safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_safe(v) for v in obj]
    return obj


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 with FastAPI's error list, made safe to render whatever the rejected input was."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [{"msg": str(exc)}]
    try:
        detail = _safe(jsonable_encoder(errors))
    except (TypeError, ValueError):
        detail = [{"type": e.get("type", "value_error"), "loc": list(e.get("loc", [])), "msg": str(e.get("msg"))}
                  for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


def check_batch(settings: Any, body: Any) -> None:
    """413 for a POST /recommendations batch over `settings.max_batch_users`."""
    if len(body.user_ids) > settings.max_batch_users:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(body.user_ids)} users exceed the batch limit of {settings.max_batch_users}")
