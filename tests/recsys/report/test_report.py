"""The offline report: its numbers are the run record's, its page is self-contained and renders in a browser."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from typer.testing import CliRunner

from recsys.errors import ArtifactError, InputError
from recsys.registry import RunStore
from recsys.report import build_report, load_titles, render_html, render_report, summarize_runs

SECTIONS = ("summary", "gate", "metrics", "metric-vs-k", "history", "segments", "popularity", "samples", "models")


# ---------------------------------------------------------------------------------------------- fixtures
def trained_registry(root: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    """Generate events, ingest them, and run the real training pipeline twice (popularity + ALS, gated), the
    second time with a weaker ALS so the two runs differ. Returns (registry, items.csv, run results)."""
    from recsys.generate import generate_events
    from recsys.ingest import ingest
    from recsys.training import run_training

    generate_events(root / "landing", users=150, items=80, days=5, seed=1)
    ingest(sorted((root / "landing").glob("events-*.jsonl")), root / "lake")
    results = []
    for factors, iterations in ((16, 6), (2, 1)):
        results.append(run_training(root / "lake", root / "registry", models=["popularity", "als"], promote=True,
                                    params={"als": {"factors": factors, "iterations": iterations}}))
    return root / "registry", root / "landing" / "items.csv", results


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, Any]]]:
    return trained_registry(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def rendered(trained: tuple[Path, Path, list[dict[str, Any]]],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    registry, items, _ = trained
    out = tmp_path_factory.mktemp("rendered")
    html, js = out / "report.html", out / "report.json"
    render_report(registry, html, json_out=js, titles=items)
    return html, js


class _Cells(HTMLParser):
    """Collects the text of every cell tagged with data-model/data-metric, the img sources, scripts and links."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str], str] = {}
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.forbidden: list[str] = []
        self._cell: tuple[str, str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag in ("script", "link", "iframe", "object", "embed") or any(k.startswith("on") for k in a):
            self.forbidden.append(tag)
        for key in ("src", "href"):
            value = a.get(key) or ""
            if value and not value.startswith(("data:", "#")):
                self.forbidden.append(f"{tag} {key}={value[:60]}")
        if tag == "img":
            self.images.append(str(a.get("src")))
        if tag == "td" and a.get("data-model") and a.get("data-metric"):
            self._cell = (str(a["data-model"]), str(a.get("data-segment") or ""), str(a["data-metric"]))
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells[self._cell] = " ".join("".join(self._text).split())
            self._cell = None


def parse(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    return p


def value_of(cell: str) -> str:
    """The value printed in a cell (its first token; the interval follows it)."""
    return cell.split()[0]


def interval_of(cell: str) -> str:
    return cell[cell.index("["):] if "[" in cell else ""


# ---------------------------------------------------------------------------------------------- numbers
def test_json_numbers_are_the_run_record(trained: tuple[Path, Path, list[dict[str, Any]]],
                                         rendered: tuple[Path, Path]) -> None:
    registry, _, results = trained
    record = RunStore(registry).get(results[-1]["run_id"]).to_dict()
    report = json.loads(rendered[1].read_text())
    assert report["run_id"] == results[-1]["run_id"]
    assert set(report["models"]) == {"popularity", "als"}
    for name, entry in record["models"].items():
        got = report["models"][name]
        assert got["metrics"] == entry["metrics"]
        assert got["ci"] == entry["ci"]
        assert got["version"] == entry["version"]
        assert got["train_seconds"] == entry["train_seconds"]
        # what `recsys train --json` printed is what the report shows
        assert got["metrics"]["ndcg@10"] == results[-1]["models"][name]["ndcg@10"]
        for ks in ("ndcg", "hr", "recall", "mrr", "coverage", "novelty", "avg_popularity"):
            assert {f"{ks}@{k}" for k in (1, 5, 10, 20)} <= set(got["metrics"])
        for label, seg in entry["segments"].items():
            row = next(r for g in report["segments"] if g["group"] == seg["group"]
                       for r in g["rows"] if r["segment"] == label)
            assert row["users"] == seg["n_users"]
            assert row["models"][name] == seg["metrics"]
            assert row["ci"][name] == seg["intervals"]
        assert report["popularity"]["models"][name] == entry["popularity"]["recommendations"]
        gate = next(g for g in report["gate"] if g["model"] == name)
        assert gate["promoted"] == entry["gate"]["promoted"]
        assert gate["reason"] == entry["gate"]["reason"]
        assert gate["production_version"] == entry["gate"]["previous_version"]
    assert [s["user_id"] for s in report["samples"]] == [s["user_id"] for s in record["samples"]]
    assert report["gaps"] == []


def test_html_prints_every_recorded_number(trained: tuple[Path, Path, list[dict[str, Any]]],
                                           rendered: tuple[Path, Path]) -> None:
    registry, _, results = trained
    record = RunStore(registry).get(results[-1]["run_id"]).to_dict()
    cells = parse(rendered[0].read_text()).cells
    checked = 0
    for name, entry in record["models"].items():
        for key, value in entry["metrics"].items():
            if value is None:
                continue
            cell = cells[(name, "", key)]
            assert value_of(cell) == f"{value:.4f}", (name, key, cell)
            if key in entry["ci"]:
                lo, hi = entry["ci"][key]
                assert interval_of(cell) == f"[{lo:.4f}, {hi:.4f}]", (name, key, cell)
            checked += 1
        for label, seg in entry["segments"].items():
            for key in ("ndcg@10", "hr@10", "mrr@10"):
                cell = cells[(name, f"{seg['group']}={label}", key)]
                assert value_of(cell) == f"{seg['metrics'][key]:.4f}"
                checked += 1
    assert checked > 50


def test_page_is_self_contained_with_every_section(rendered: tuple[Path, Path]) -> None:
    html = rendered[0].read_text()
    page = parse(html)
    assert page.forbidden == [], f"external references or scripts in the page: {page.forbidden}"
    assert set(SECTIONS) <= page.ids
    assert len(page.images) == 3  # metric vs K, history, popularity distribution
    for src in page.images:
        assert src.startswith("data:image/svg+xml;base64,")
        svg = ElementTree.fromstring(base64.b64decode(src.split(",", 1)[1]))
        assert svg.tag.endswith("svg")
        elements = list(svg.iter())
        assert len(elements) > 50  # axes, lines and labels were drawn
        refs = [v for e in elements for k, v in e.attrib.items() if k.endswith("href") and not v.startswith("#")]
        assert refs == [], f"a plot refers to outside files: {refs[:3]}"


def test_sample_users_show_titles_and_hits(trained: tuple[Path, Path, list[dict[str, Any]]],
                                           rendered: tuple[Path, Path]) -> None:
    registry, items, results = trained
    titles = load_titles(items)
    record = RunStore(registry).get(results[-1]["run_id"]).to_dict()
    report = json.loads(rendered[1].read_text())
    html = rendered[0].read_text()
    assert len(report["samples"]) == len(record["samples"]) > 0
    for sample, recorded in zip(report["samples"], record["samples"], strict=True):
        for name, items_ in recorded["recommendations"].items():
            shown = sample["recommendations"][name]
            assert [i["item_id"] for i in shown] == items_
            assert all(i["title"] == titles[i["item_id"]] for i in shown)
            assert [i["hit"] for i in shown] == [i in recorded["targets"] for i in items_]
        assert [h["item_id"] for h in sample["history"]] == recorded["history"]
        assert f"<code>{sample['user_id']}</code>" in html
    first = report["samples"][0]["recommendations"]["als"][0]
    assert first["title"] in html


def test_older_run_and_history(trained: tuple[Path, Path, list[dict[str, Any]]]) -> None:
    registry, _, results = trained
    first = build_report(registry, results[0]["run_id"])
    latest = build_report(registry)
    assert first["run_id"] == results[0]["run_id"] and latest["run_id"] == results[-1]["run_id"]
    assert [p["run_id"] for p in latest["history"]["runs"]] == [r["run_id"] for r in results]
    assert first["history"]["current"] == 0 and latest["history"]["current"] == 1
    for point, result in zip(latest["history"]["runs"], results, strict=True):
        for name in ("popularity", "als"):
            assert point["models"][name]["ndcg@10"] == result["models"][name]["ndcg@10"]
    summary = summarize_runs(registry)
    assert [s["run_id"] for s in summary] == [r["run_id"] for r in reversed(results)]
    # the weaker ALS of the second run was gated against the first run's version
    als_gate = next(g for g in latest["gate"] if g["model"] == "als")
    assert als_gate["candidate_version"] == 2 and als_gate["production_version"] == 1
    assert als_gate["promoted"] == results[-1]["models"]["als"]["promoted"]
    prod = next(r for r in als_gate["comparison"] if r["metric"] == "ndcg@10")
    assert prod["production"] == results[0]["models"]["als"]["ndcg@10"]
    with pytest.raises(InputError, match="no training run"):
        build_report(registry, "nope")


def test_a_schema_1_record_is_upgraded_and_its_missing_sections_are_listed_as_gaps(
        trained: tuple[Path, Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    registry, _, results = trained
    copy = tmp_path / "registry"
    shutil.copytree(registry, copy)
    old = RunStore(copy).get(results[-1]["run_id"]).to_dict()
    old.pop("schema")  # as the pipeline wrote records before they carried a schema number
    old.pop("samples")
    for entry in old["models"].values():
        entry["popularity"] = {}  # an evaluation without a popularity distribution
    old["run_id"] = "older-pipeline"
    (copy / "_runs" / "older-pipeline.json").write_text(json.dumps(old))
    report = build_report(copy, "older-pipeline")
    assert report["models"]["als"]["metrics"] == old["models"]["als"]["metrics"]
    assert report["popularity"]["models"] == {} and report["samples"] == []
    assert any("popularity distribution" in g for g in report["gaps"])
    assert any("sample users" in g for g in report["gaps"])
    assert "Notes" in render_html(report)


def test_a_record_of_an_unknown_shape_is_refused_clearly(
        trained: tuple[Path, Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    registry, _, results = trained
    copy = tmp_path / "registry"
    shutil.copytree(registry, copy)
    (copy / "_runs" / "elsewhere.json").write_text(json.dumps({"run_id": "elsewhere", "schema": 7, "models": {}}))
    with pytest.raises(ArtifactError, match="schema 7"):
        RunStore(copy).get("elsewhere")
    assert build_report(copy)["run_id"] == results[-1]["run_id"]  # listing skips it


def test_runs_recorded_in_the_same_second_keep_their_order(
        trained: tuple[Path, Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    import os

    registry, _, results = trained
    copy = tmp_path / "registry"
    shutil.copytree(registry, copy)
    store = RunStore(copy)
    run = store.get(results[-1]["run_id"])
    run.recorded = "2099-01-01T00:00:00Z"  # both newer than the fixture's runs, and in the same second
    for i, run_id in enumerate(("zz-recorded-first", "aa-recorded-second")):
        run.run_id = run_id
        store.save(run)
        os.utime(copy / "_runs" / f"{run_id}.json", ns=(10**18 + i, 10**18 + i))
    assert build_report(copy)["run_id"] == "aa-recorded-second"
    assert [s["run_id"] for s in summarize_runs(copy)][:2] == ["aa-recorded-second", "zz-recorded-first"]


# ---------------------------------------------------------------------------------------------- titles
def test_titles_from_the_three_catalogue_layouts(tmp_path: Path) -> None:
    movies = tmp_path / "movies.dat"
    movies.write_bytes("1::Toy Story (1995)::Animation|Comedy\n2::Amélie (2001)::Comedy\n".encode("latin-1"))
    uitem = tmp_path / "u.item"
    uitem.write_bytes("1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n7|Café (1999)|||http://y|1|0\n"
                      .encode("latin-1"))
    items = tmp_path / "items.csv"
    items.write_text("item_id,category,title\ni1,c3,Mini Lamp 1\ni2,c4,\"Lamp, large\"\n")
    assert load_titles(movies) == {"1": "Toy Story (1995)", "2": "Amélie (2001)"}
    assert load_titles(uitem) == {"1": "Toy Story (1995)", "7": "Café (1999)"}
    assert load_titles(items) == {"i1": "Mini Lamp 1 [c3]", "i2": "Lamp, large [c4]"}
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="item_id"):
        load_titles(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_titles(tmp_path / "missing.dat")


@pytest.mark.realdata
def test_titles_of_real_movielens(shared_data: Any) -> None:
    titles = load_titles(shared_data("movielens-1m-partial/movies.dat"))
    assert titles["1"] == "Toy Story (1995)" and len(titles) > 3000
    titles = load_titles(shared_data("movielens-100k/u.item"))
    assert titles["1"] == "Toy Story (1995)" and len(titles) == 1682


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_renders_html_and_json(trained: tuple[Path, Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    from recsys.cli import _load_commands, app

    _load_commands()
    registry, items, results = trained
    runner = CliRunner()
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    res = runner.invoke(app, ["report", "--registry", str(registry), "--run", results[0]["run_id"], "--out",
                              str(out), "--json-out", str(js), "--titles", str(items), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["run_id"] == results[0]["run_id"]
    html = out.read_text()
    for name, m in results[0]["models"].items():
        assert name in html and f"{m['ndcg@10']:.4f}" in html
    assert json.loads(js.read_text())["run_id"] == results[0]["run_id"]

    res = runner.invoke(app, ["report", "--registry", str(tmp_path / "none"), "--out", str(out)])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())
    res = runner.invoke(app, ["report", "--registry", str(registry), "--run", "missing", "--out", str(out)])
    assert res.exit_code == 2 and "no training run 'missing'" in " ".join(res.output.split())
    empty = tmp_path / "empty-registry"
    empty.mkdir()
    res = runner.invoke(app, ["report", "--registry", str(empty), "--out", str(out)])
    assert res.exit_code == 2 and "no recorded training runs" in " ".join(res.output.split())
    res = runner.invoke(app, ["report", "--registry", str(registry), "--out-dir", str(tmp_path / "all"), "--json"])
    assert res.exit_code == 0, res.output
    pages = [Path(p) for p in json.loads(res.stdout.strip().splitlines()[-1])["pages"]]
    assert [p.stem for p in pages] == [r["run_id"] for r in results]
    for page, result in zip(pages, results, strict=True):
        assert json.loads(page.with_suffix(".json").read_text())["run_id"] == result["run_id"]
        assert f'<meta name="recsys-run-id" content="{result["run_id"]}">' in page.read_text()
    res = runner.invoke(app, ["report", "--registry", str(registry), "--list", "--json"])
    assert res.exit_code == 0
    assert [r["run_id"] for r in json.loads(res.stdout.strip().splitlines()[-1])["runs"]] == \
        [r["run_id"] for r in reversed(results)]


# ---------------------------------------------------------------------------------------------- browser
def inspect_in_chromium(url: str, browser: str, timeout: float = 60.0) -> dict[str, Any]:
    """Load `url` in headless Chromium over the DevTools protocol and report what the page did: script
    exceptions, console errors, failed requests, and for each image whether it decoded."""
    from websockets.sync.client import connect

    check = """JSON.stringify({
      images: Array.from(document.images).map(i => ({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth,
                                                     shown: i.getBoundingClientRect().width})),
      scripts: document.scripts.length,
      sections: Object.fromEntries(SECTIONS.map(id => { const e = document.getElementById(id);
                                                       return [id, e ? e.getBoundingClientRect().height : -1]; })),
      title: document.title})""".replace("SECTIONS", json.dumps(list(SECTIONS)))
    with tempfile.TemporaryDirectory(prefix="chromium-cdp-") as profile:
        proc = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.is_file() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("chromium did not open its DevTools port")
                time.sleep(0.1)
            port = port_file.read_text().split()[0]
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
            ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            events: list[dict[str, Any]] = []
            with connect(ws_url, max_size=None, open_timeout=timeout) as ws:
                counter = iter(range(1, 1_000_000))

                def call(method: str, **params: Any) -> dict[str, Any]:
                    msg_id = next(counter)
                    ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
                    while True:
                        msg = json.loads(ws.recv(timeout=timeout))
                        if msg.get("id") == msg_id:
                            if "error" in msg:
                                raise AssertionError(f"{method}: {msg['error']}")
                            return msg.get("result", {})
                        events.append(msg)

                for domain in ("Page", "Runtime", "Log", "Network"):
                    call(f"{domain}.enable")
                call("Page.navigate", url=url)
                while not any(e.get("method") == "Page.loadEventFired" for e in events):
                    events.append(json.loads(ws.recv(timeout=timeout)))
                state = json.loads(call("Runtime.evaluate", expression=check, returnByValue=True)["result"]["value"])
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    state["exceptions"] = [e["params"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
    state["console_errors"] = [e["params"] for e in events if e.get("method") == "Runtime.consoleAPICalled"
                               and e["params"].get("type") == "error"]
    state["log_errors"] = [e["params"]["entry"] for e in events if e.get("method") == "Log.entryAdded"
                           and e["params"]["entry"].get("level") == "error"]
    state["failed_requests"] = [e["params"] for e in events if e.get("method") == "Network.loadingFailed"]
    return state


def test_page_renders_in_headless_chromium(rendered: tuple[Path, Path]) -> None:
    from support.browser import ARTIFACTS, assert_not_blank, require_chromium, screenshot

    browser = require_chromium()
    html = rendered[0]
    state = inspect_in_chromium(html.resolve().as_uri(), browser)
    assert state["exceptions"] == [] and state["console_errors"] == [] and state["log_errors"] == []
    assert state["failed_requests"] == []
    assert state["scripts"] == 0
    assert len(state["images"]) == 3
    assert all(i["ok"] and i["shown"] > 100 for i in state["images"]), f"broken or hidden plot: {state['images']}"
    assert all(h > 20 for h in state["sections"].values()), f"a section did not render: {state['sections']}"
    assert state["title"].startswith("Offline metrics")
    png = screenshot(html, ARTIFACTS / "offline-report.png", width=1300, height=4000)
    assert_not_blank(png, min_colors=64)
