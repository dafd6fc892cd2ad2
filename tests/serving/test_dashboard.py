"""The dashboard at /ui: access by token, assets served by the service itself, and every view driven in a real
headless Chromium (Playwright pointed at the system browser) with assertions on what is shown."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.service import serve

from serving.settings import Settings
from serving.ui import HTMX_SHA256, STATIC

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("RECSYS_SCREENSHOTS", ROOT / "test-artifacts" / "dashboard"))
"""Screenshots land here (gitignored); RECSYS_SCREENSHOTS=docs/screenshots refreshes the README's."""
TOKEN, READ_ONLY = "admin-tok", "viewer-tok"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated events in a lake, two training runs of popularity + ALS in a registry."""
    from recsys.catalog import load_catalog
    from recsys.generate import generate_events
    from recsys.ingest import ingest
    from recsys.training import run_training

    root = tmp_path_factory.mktemp("dashboard")
    generate_events(root / "landing", users=150, items=80, days=6, seed=4)
    ingest(sorted((root / "landing").glob("events-*.jsonl")), root / "lake")
    load_catalog(root / "landing" / "items.csv", root / "lake")
    for factors in (8, 4):
        run_training(root / "lake", root / "registry", models=["popularity", "als"], promote=True,
                     params={"als": {"factors": factors, "iterations": 3}})
    return {"root": root, "lake": root / "lake", "registry": root / "registry"}


@pytest.fixture
def service(deployment: dict[str, Path], tmp_path: Path) -> Iterator[str]:
    from recsys.experiments import Arm, Experiment, ExperimentStore

    registry = tmp_path / "registry"
    shutil.copytree(deployment["registry"], registry)
    shutil.copytree(deployment["lake"], tmp_path / "lake")  # the item view's hide writes to the catalogue
    ExperimentStore(registry).start(Experiment("pop-vs-als", {"control": Arm("popularity"), "treatment": Arm("als")},
                                               {"control": 50, "treatment": 50}))
    settings = Settings(registry=registry, lake=tmp_path / "lake", admin_token=TOKEN, ui_token=READ_ONLY,
                        online_store_path=tmp_path / "online.sqlite", landing_dir=tmp_path / "served",
                        reload_interval_s=0, report_titles=None)
    with serve(settings) as base:
        yield base


def test_the_dashboard_needs_a_token_and_a_browser_is_sent_to_sign_in(service: str) -> None:
    with httpx.Client(base_url=service) as client:
        assert client.get("/ui").status_code == 401
        browser = client.get("/ui/users?user_id=u1", headers={"accept": "text/html"})
        assert browser.status_code == 303
        assert browser.headers["location"] == "/ui/login?next=%2Fui%2Fusers%3Fuser_id%3Du1"
        assert client.get("/ui", headers={"authorization": "Bearer wrong"}).status_code == 401
        page = client.get("/ui", headers={"authorization": f"Bearer {READ_ONLY}"})
        assert page.status_code == 200 and "<html" in page.text and "read-only" in page.text
        refused = client.post("/ui/reload", headers={"authorization": f"Bearer {READ_ONLY}"})
        assert refused.status_code == 403
        wrong = client.post("/ui/login", data={"token": "nope", "next": "/ui"})
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        signed = client.post("/ui/login", data={"token": TOKEN, "next": "https://elsewhere.example/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/ui"  # no open redirect
        assert client.get("/ui").status_code == 200  # the cookie now opens it


def test_every_asset_is_served_by_the_service(service: str) -> None:
    assert hashlib.sha256((STATIC / "htmx-2.0.4.min.js").read_bytes()).hexdigest() == HTMX_SHA256
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=service, headers=headers) as client:
        for path in ("/ui", "/ui/users?user_id=u1", "/ui/items?item_id=i1", "/ui/runs", "/ui/experiments",
                     "/ui/behaviour", "/ui/login"):
            page = client.get(path)
            assert page.status_code == 200, (path, page.text[:300])
            assert not re.search(r"(src|href)=\"(https?:)?//", page.text), path
            for asset in re.findall(r"(?:src|href)=\"(/ui/static/[^\"]+)\"", page.text):
                assert client.get(asset).status_code == 200, asset


# ---------------------------------------------------------------------------------------------- in a browser
@pytest.fixture
def browser_page(service: str) -> Iterator[Any]:
    from support.browser import require_chromium

    chromium = require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=service)
        context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())  # offline
        page = context.new_page()
        page.goto("/ui")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/ui$"))
        try:
            yield page
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_service_view_shows_models_and_reloads(browser_page: Any) -> None:
    page = browser_page
    rows = page.locator("table").first.locator("tr")
    assert {rows.nth(i).locator("td").first.inner_text() for i in range(1, rows.count())} == {"als", "popularity"}
    assert "ready" in page.locator(".cards").inner_text()
    page.click("text=Reload models")
    page.wait_for_selector("#reload-result span")
    assert "reloaded" in page.inner_text("#reload-result")
    assert page.locator("#routes tr").count() >= 2  # at least the header and the routes the view itself called
    shot(page, "service")


def test_user_view_shows_each_model_and_a_test_event_changes_the_lists(browser_page: Any) -> None:
    page = browser_page
    page.goto("/ui/users?user_id=u1&k=10")
    columns = page.locator(".col[data-model]")
    assert sorted(columns.nth(i).get_attribute("data-model") for i in range(columns.count())) == ["als", "popularity"]
    popular = page.locator(".col[data-model=popularity] table tr")
    assert popular.count() == 11  # header + k rows
    top = popular.nth(1).locator("a").inner_text()
    page.fill("input[name=item_id]", top)
    page.click("text=Post event")
    page.wait_for_selector("#lists p.muted")
    assert "fresh" in page.inner_text("#lists p.muted")
    rows = page.locator(".col[data-model=popularity] table tr")
    after = [rows.nth(i).locator("a").inner_text() for i in range(1, 11)]
    assert top not in after  # a seen item leaves the list at once
    page.goto("/ui/users?user_id=u1&k=10")
    assert top in page.inner_text("#history")
    shot(page, "user")


def test_item_view_shows_similar_items_and_ranks_and_hides_an_item(browser_page: Any) -> None:
    page = browser_page
    page.goto("/ui/users?user_id=u2&k=5")
    item = page.locator(".col[data-model=als] table tr").nth(1).locator("a").inner_text()
    page.click(f".col[data-model=als] >> text={item}")
    page.wait_for_url(re.compile(r"/ui/items/"))
    assert page.locator(".col[data-model=als] table tr").count() == 11
    ranks = page.inner_text("#ranks")
    assert "popularity" in ranks and "als" in ranks
    assert "categories" in page.inner_text("#catalogue") and "price" in page.inner_text("#catalogue")
    shot(page, "item")
    page.click("text=Hide from every answer")
    page.wait_for_selector("#availability .tag.warn")
    time.sleep(1.0)  # every worker re-reads the catalogue within a second
    page.goto("/ui/users?user_id=u2&k=5")
    shown = page.inner_text(".col[data-model=als]")
    assert item not in re.findall(r"\bi\d+\b", shown)
    page.goto(f"/ui/items/{item}")
    page.click("text=Make available again")
    page.wait_for_selector("#availability button:has-text('Hide from every answer')")


def test_runs_view_compares_two_runs(browser_page: Any) -> None:
    page = browser_page
    page.goto("/ui/runs")
    assert page.locator("#runs tr").count() == 3
    page.click("text=Compare")
    page.wait_for_selector("#compare")
    text = page.inner_text("#compare")
    assert "ndcg@10" in text and "als" in text and "popularity" in text
    assert page.locator("#gates tr").count() == 5  # header + 2 runs x 2 models
    shot(page, "runs")


def test_behaviour_and_experiments_views(browser_page: Any) -> None:
    page = browser_page
    page.goto("/ui/behaviour")
    kpis = page.inner_text("#kpis")
    assert "events" in kpis and "mean DAU" in kpis
    assert page.locator(".warn").count() >= 1  # six days: the report says DAU/MAU cannot be read
    page.goto("/ui/behaviour?from=2026-01-03&to=2026-01-02")
    assert "exclusive" in page.inner_text(".error")
    page.goto("/ui/behaviour")
    shot(page, "behaviour")
    page.goto("/ui/users?user_id=u7&k=5")  # an answer of the experiment, with no model named, is served...
    page.goto("/ui/experiments")
    table = page.inner_text("#experiments")
    assert "pop-vs-als" in table and "running" in table and "control=popularity" in table
