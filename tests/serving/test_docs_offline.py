"""/docs and /redoc work without the internet: every asset they load is served by the service itself."""

from __future__ import annotations

import re

import pytest
from support.service import client_of, settings_for

from serving.app import create_app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_every_asset_from_the_service(registry, page):
    with client_of(create_app(settings_for(registry))) as client:
        r = client.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "https://" not in r.text and "http://" not in r.text and "cdn." not in r.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', r.text) + re.findall(r"url: ?'([^']+)'", r.text)
        scripts = [a for a in assets if a.endswith(".js")]
        assert scripts, r.text
        for asset in assets:
            got = client.get(asset)
            assert got.status_code == 200 and len(got.content) > 100, asset
        assert client.get("/openapi.json").json()["paths"]
