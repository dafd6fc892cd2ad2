"""The dashboard reads the service through its own public HTTP API, in process (no socket): what a page shows is
exactly what a client of the API gets, with the same experiments, filters, fallbacks and errors."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request


class ServiceClient:
    """Calls the app's own routes; admin calls carry the service's admin token."""

    def __init__(self, request: Request) -> None:
        self._app = request.app
        token = request.app.state.settings.admin_token
        self._admin = {"authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self._app), base_url="http://service",
                                 headers={"x-recsys-client": "dashboard"}, timeout=60)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        async with self._client() as client:
            return await client.get(path, params={k: v for k, v in params.items() if v is not None})

    async def json(self, path: str, **params: Any) -> Any | None:
        """The JSON body of a 200 answer, else None (a missing route or object shows as absent, not as an error)."""
        answer = await self.get(path, **params)
        return answer.json() if answer.status_code == 200 else None

    async def send(self, method: str, path: str, body: Any, *, admin: bool = False) -> httpx.Response:
        async with self._client() as client:
            return await client.request(method, path, json=body, headers=self._admin if admin else None)


def error_text(answer: httpx.Response) -> str:
    """The API's readable message of a failed call."""
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = answer.text
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d)) for d in detail)
    return f"{answer.status_code}: {detail}"
