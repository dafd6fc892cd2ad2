"""A small client of the recommendation service's admin API, for jobs that run elsewhere (the training DAG)."""

from __future__ import annotations

import logging
from typing import Any

from recsys.errors import RecsysError

log = logging.getLogger(__name__)


class ServiceAuthError(RecsysError):
    """The service refused the admin token (retrying will not help)."""


def reload_models(service_url: str, *, admin_token: str | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    """Ask the service at `service_url` to load the new production models (``POST /admin/reload``).

    Returns ``{"url", "status"}``. ServiceAuthError when the token is refused (401/403); other HTTP and network
    errors raise httpx's exceptions, which are worth retrying."""
    import httpx

    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token is not None else {}
    url = service_url.rstrip("/") + "/admin/reload"
    response = httpx.post(url, headers=headers, timeout=timeout_s)
    if response.status_code in (401, 403):
        raise ServiceAuthError(f"{url} refused the admin token ({response.status_code}); set admin_token to the "
                               "service's admin token")
    response.raise_for_status()
    log.info("service reloaded: %s", response.text[:500])
    return {"url": url, "status": response.status_code}
