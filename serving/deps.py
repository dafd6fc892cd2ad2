"""Dependencies: routes get the service state from `app.state` (set up by the lifespan), never from globals."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status

from feature_store.online import OnlineStore
from serving.catalog_state import CatalogServices
from serving.events import EventSink
from serving.holder import ModelHolder
from serving.metrics import ServiceMetrics
from serving.settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    holder: ModelHolder
    store: OnlineStore
    sink: EventSink
    metrics: ServiceMetrics
    catalog: CatalogServices | None = None
    identities: Any = None  # serving.users.IdentityView: the lake's identity map as this worker read it


async def get_service(request: Request) -> ServiceState:
    return request.app.state.service


ServiceDep = Annotated[ServiceState, Depends(get_service)]


async def require_admin(svc: ServiceDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """Admin routes need ``Authorization: Bearer <RECSYS_ADMIN_TOKEN>``; with no token configured they are closed."""
    token = svc.settings.admin_token
    if token is None or not token.get_secret_value():
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "admin routes are disabled: no admin token is configured (set RECSYS_ADMIN_TOKEN)")
    expected = f"Bearer {token.get_secret_value()}".encode()
    if not authorization or not secrets.compare_digest(authorization.encode(), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong admin bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


AdminDep = Annotated[None, Depends(require_admin)]
