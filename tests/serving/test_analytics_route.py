"""The /analytics routes over real HTTP: rendered pages from the reports folder, reports on demand from the lake."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from support.lakes import TINY_EVENTS, write_lake
from support.service import client_of

from serving.analytics import router
from serving.settings import Settings


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("analytics-route") / "lake", TINY_EVENTS)


def app_with(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.settings = settings
    return app


def test_latest_renders_the_lake_when_no_page_exists_and_ranges_are_served(lake: Path, tmp_path: Path) -> None:
    settings = Settings(registry=tmp_path / "registry", reports_dir=tmp_path / "reports", lake=lake)
    with client_of(app_with(settings)) as client:
        listing = client.get("/analytics").json()
        assert listing["latest"] is None and listing["pages"] == []
        page = client.get("/analytics/latest")
        assert page.status_code == 200 and "User behaviour report" in page.text
        numbers = client.get("/analytics/latest", params={"format": "json"}).json()
        assert numbers["summary"]["events"] == len(TINY_EVENTS)
        week = client.get("/analytics/range", params={"from": "2024-01-08", "to": "2024-01-15", "format": "json"})
        assert week.status_code == 200 and week.json()["summary"]["events"] == 6
        assert week.json()["previous_period"]["previous"]["events"] == 8
        bad = client.get("/analytics/range", params={"from": "2024-01-15", "to": "2024-01-08"})
        assert bad.status_code == 400 and "exclusive" in bad.json()["detail"]
        assert client.get("/analytics/range", params={"from": "yesterday"}).status_code == 422


def test_rendered_pages_are_listed_newest_first_and_served(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / "analytics"
    folder.mkdir(parents=True)
    for day in ("2024-01-14", "2024-01-15"):
        (folder / f"behaviour-{day}.html").write_text(f"<html>report {day}</html>")
    (folder / "notes.txt").write_text("not a report")
    with client_of(app_with(Settings(registry=tmp_path / "registry", reports_dir=tmp_path / "reports"))) as client:
        listing = client.get("/analytics").json()
        assert listing["latest"] == "2024-01-15"
        assert [p["day"] for p in listing["pages"]] == ["2024-01-15", "2024-01-14"]
        assert client.get("/analytics/latest").text == "<html>report 2024-01-15</html>"
        assert client.get(listing["pages"][1]["html_url"]).text == "<html>report 2024-01-14</html>"
        assert client.get("/analytics/day/2023-01-01").status_code == 404
        missing = client.get("/analytics/range")
        assert missing.status_code == 404 and "--lake" in missing.json()["detail"]
