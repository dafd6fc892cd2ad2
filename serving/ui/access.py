"""Who may see the dashboard: the admin token (everything) or the read-only token (views only).

A browser signs in once at ``/ui/login`` and then carries the token in an HttpOnly, SameSite=Strict cookie scoped to
``/ui``; scripts may send ``Authorization: Bearer <token>`` instead. SameSite=Strict keeps other sites from posting
the dashboard's forms with the cookie (no CSRF tokens needed for these same-origin actions).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

COOKIE = "recsys_ui"
Role = Literal["admin", "viewer"]


class SignInRequired(Exception):
    """Raised for a browser without a valid token: the app answers with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def _tokens(request: Request) -> dict[Role, str]:
    settings = request.app.state.settings
    out: dict[Role, str] = {}
    for role, secret in (("admin", settings.admin_token), ("viewer", getattr(settings, "ui_token", None))):
        if secret is not None and secret.get_secret_value():
            out[role] = secret.get_secret_value()  # type: ignore[index]
    return out


def role_of(request: Request, token: str | None) -> Role | None:
    """The role a presented token grants, compared in constant time."""
    if not token:
        return None
    for role, expected in _tokens(request).items():
        if secrets.compare_digest(token.encode(), expected.encode()):
            return role
    return None


def presented_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(COOKIE)


def require_viewer(request: Request) -> Role:
    """The caller's role; 403 when the dashboard has no token configured, sign-in (browsers) or 401 otherwise."""
    if not _tokens(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the dashboard is closed: configure an admin token "
                                                       "(RECSYS_ADMIN_TOKEN) or a read-only one (RECSYS_UI_TOKEN)")
    role = role_of(request, presented_token(request))
    if role is not None:
        return role
    if "text/html" in request.headers.get("accept", ""):
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong dashboard token",
                        headers={"WWW-Authenticate": "Bearer"})


def require_admin(role: Annotated[Role, Depends(require_viewer)]) -> Role:
    if role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this action needs the admin token (signed in read-only)")
    return role


def sign_in_url(next_url: str) -> str:
    return f"/ui/login?next={quote(next_url, safe='')}"


def safe_next(next_url: str | None) -> str:
    """Only paths of the dashboard itself: a sign-in link must not redirect elsewhere."""
    if next_url and next_url.startswith("/ui") and not next_url.startswith("//"):
        return next_url
    return "/ui"


ViewerDep = Annotated[Role, Depends(require_viewer)]
AdminUiDep = Annotated[Role, Depends(require_admin)]
