"""The /reports routes over real HTTP: list, latest and per-run pages, from the registry or from a folder of rendered
pages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from support.service import client_of

from recsys.registry import RunStore
from recsys.report import render_report
from serving.reports import configure_reports, router
from serving.settings import Settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Two runs of the real training pipeline (popularity + ALS) on generated events."""
    from recsys.generate import generate_events
    from recsys.ingest import ingest
    from recsys.training import run_training

    root = tmp_path_factory.mktemp("reports-route")
    generate_events(root / "landing", users=120, items=60, days=4, seed=2)
    ingest(sorted((root / "landing").glob("events-*.jsonl")), root / "lake")
    results = [run_training(root / "lake", root / "registry", models=["popularity", "als"], promote=True,
                            params={"als": {"factors": f, "iterations": 3}}) for f in (8, 4)]
    return root / "registry", results


def app_with(**state: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    for key, value in state.items():
        setattr(app.state, key, value)
    return app


def test_list_latest_and_run_pages_from_the_registry(trained: tuple[Path, list[dict[str, Any]]],
                                                     tmp_path: Path) -> None:
    registry, results = trained
    app = app_with(settings=Settings(registry=registry, reports_dir=tmp_path / "reports"))
    with client_of(app) as client:
        listing = client.get("/reports")
        assert listing.status_code == 200
        body = listing.json()
        assert body["latest"] == results[-1]["run_id"]
        assert [r["run_id"] for r in body["reports"]] == [r["run_id"] for r in reversed(results)]
        for entry, result in zip(body["reports"], reversed(results), strict=True):
            assert entry["html_url"].endswith(f"/reports/{result['run_id']}")
            assert entry["file"] is None
            for name, m in result["models"].items():
                assert entry["models"][name]["ndcg@10"] == m["ndcg@10"]

        latest = client.get("/reports/latest")
        assert latest.status_code == 200 and latest.headers["content-type"].startswith("text/html")
        assert latest.headers["x-report-run"] == results[-1]["run_id"]
        for name, m in results[-1]["models"].items():
            assert name in latest.text and f"{m['ndcg@10']:.4f}" in latest.text
        assert "<script" not in latest.text and 'src="data:image/svg+xml;base64,' in latest.text

        first = results[0]["run_id"]
        page = client.get(body["reports"][-1]["html_url"])
        assert page.status_code == 200 and page.headers["x-report-run"] == first
        assert f'<meta name="recsys-run-id" content="{first}">' in page.text

        numbers = client.get(f"/reports/{first}", params={"format": "json"}).json()
        record = RunStore(registry).get(first).to_dict()
        assert numbers["run_id"] == first
        for name, entry in record["models"].items():
            assert numbers["models"][name]["metrics"] == entry["metrics"]
            assert numbers["models"][name]["ci"] == entry["ci"]

        missing = client.get("/reports/no-such-run")
        assert missing.status_code == 404 and "no-such-run" in missing.json()["detail"]
        assert client.get("/reports/latest", params={"format": "pdf"}).status_code == 422


def test_a_new_run_shows_up_without_restart(trained: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    registry, results = trained
    copy = tmp_path / "registry"
    shutil.copytree(registry, copy)
    app = app_with()
    configure_reports(app, registry=copy)
    with client_of(app) as client:
        assert client.get("/reports/latest").headers["x-report-run"] == results[-1]["run_id"]
        store = RunStore(copy)
        run = store.get(results[0]["run_id"])
        run.run_id, run.recorded = "zz-later-run", None
        store.save(run)
        latest = client.get("/reports/latest")
        assert latest.headers["x-report-run"] == "zz-later-run"
        assert client.get("/reports").json()["latest"] == "zz-later-run"
        # the history of the new page covers every run
        numbers = client.get("/reports/latest", params={"format": "json"}).json()
        assert [p["run_id"] for p in numbers["history"]["runs"]][-1] == "zz-later-run"
        assert len(numbers["history"]["runs"]) == len(results) + 1


def test_pages_from_a_reports_folder_without_registry(trained: tuple[Path, list[dict[str, Any]]],
                                                      tmp_path: Path) -> None:
    registry, results = trained
    reports = tmp_path / "reports"
    older = render_report(registry, reports / "old" / "offline-metrics.html", run_id=results[0]["run_id"])
    page = render_report(registry, reports / "offline-metrics.html", json_out=reports / "offline-metrics.json")
    (reports / "behaviour-analytics.html").write_text("<!DOCTYPE html><html><head><title>analytics</title></head>"
                                                      "<body>not an offline report</body></html>")
    app = app_with(settings=Settings(registry=tmp_path / "no-registry", reports_dir=reports))
    with client_of(app) as client:
        body = client.get("/reports").json()
        assert body["latest"] == results[-1]["run_id"]
        assert {r["run_id"]: r["file"] for r in body["reports"]} == {
            results[-1]["run_id"]: str(page), results[0]["run_id"]: str(older)}
        latest = client.get("/reports/latest")
        assert latest.status_code == 200 and latest.text == page.read_text()
        assert client.get(f"/reports/{results[0]['run_id']}").text == older.read_text()
        numbers = client.get("/reports/latest", params={"format": "json"}).json()
        assert numbers == json.loads((reports / "offline-metrics.json").read_text())
        # no sidecar JSON and no registry: the numbers cannot be served
        assert client.get(f"/reports/{results[0]['run_id']}", params={"format": "json"}).status_code == 404


def test_nothing_to_report(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    app = app_with(settings=Settings(registry=tmp_path / "registry", reports_dir=tmp_path / "reports"))
    with client_of(app) as client:
        assert client.get("/reports").json() == {"latest": None, "reports": []}
        latest = client.get("/reports/latest")
        assert latest.status_code == 404 and "recsys train" in latest.json()["detail"]
    with client_of(app_with()) as client:
        unconfigured = client.get("/reports/latest")
        assert unconfigured.status_code == 503 and "not configured" in unconfigured.json()["detail"]
