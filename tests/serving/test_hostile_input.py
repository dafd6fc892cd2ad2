"""Hostile and malformed requests: each gets a 4xx with a readable message, never a 5xx. Extends the bad-input
corpus of test_service.py with JSON that Python's parser takes but no portable reader should (NaN, Infinity,
1e400, lone surrogates), bodies over the limits, and events that ingestion would quarantine."""

from __future__ import annotations

import shutil

import httpx
import pytest
from support.service import client_of, settings_for

from recsys.registry import Registry
from serving.app import create_app

JSON = {"content-type": "application/json"}
EV = '{"user_id":%s,"item_id":%s,"event_type":"view","ts":%s%s}'


def ev(user: str = '"u1"', item: str = '"i1"', ts: str = '"2026-01-01T00:00:00Z"', extra: str = "") -> bytes:
    return ("[" + EV % (user, item, ts, extra) + "]").encode()


def event(**fields: object) -> list[dict[str, object]]:
    base: dict[str, object] = {"user_id": "u1", "item_id": "i1", "event_type": "view", "ts": "2026-01-01T00:00:00Z"}
    base.update(fields)
    return [{k: v for k, v in base.items() if v is not None}]


RAW_EVENTS = {  # raw bodies of POST /events
    "value NaN": ev(extra=',"value":NaN'),
    "value Infinity": ev(extra=',"value":Infinity'),
    "value -Infinity": ev(extra=',"value":-Infinity'),
    "value 1e400": ev(extra=',"value":1e400'),
    "value -1e400": ev(extra=',"value":-1e400'),
    "ts NaN": ev(ts="NaN"),
    "ts 1e400": ev(ts="1e400"),
    "ts Infinity": ev(ts="Infinity"),
    "user_id NaN": ev(user="NaN"),
    "lone surrogate user_id": ev(user='"\\ud800"'),
    "lone low surrogate item_id": ev(item='"ab\\udfff"'),
    "lone surrogate in properties value": ev(extra=',"properties":{"k":"\\ud83d"}'),
    "lone surrogate in properties key": ev(extra=',"properties":{"\\udc00":"v"}'),
    "lone surrogate in an unknown field": ev(extra=',"\\ud800":1'),
    "not UTF-8": b'[{"user_id":"u\xff\xfe","item_id":"i1","event_type":"view","ts":"2026-01-01T00:00:00Z"}]',
    "truncated JSON": ev()[:-5],
    "nested too deep": b"[" * 100_000 + b"]" * 100_000,
    "huge integer id": ev(user="1" + "0" * 5000),
    "a bare string": b'"events"',
    "null": b"null",
    "trailing garbage": ev() + b" ]]",
    "single quotes": b"[{'user_id':'u1'}]",
}
EVENTS = {  # well-formed JSON with content ingestion would quarantine (or the schema refuses)
    "id of 300 UTF-8 bytes (100 characters)": event(user_id="\u2603" * 100),
    "event_type of 65 bytes": event(event_type="\u00e9" * 33),
    "ts before 1990": event(ts="1989-12-31T23:59:59Z"),
    "ts far in the future": event(ts="2999-01-01T00:00:00Z"),
    "ts not a time": event(ts="yesterday"),
    "whitespace-only item_id": event(item_id=" \t "),
    "properties a list": event(properties=[1, 2]),
    "properties over 64 KiB": event(properties={"k": "x" * 70_000}),
    "value a boolean list": event(value=[True]),
    "unknown field": event(colour="red"),
    "no user_id": event(user_id=None),
    "user_id an object": event(user_id={"id": 1}),
}
RAW_BATCH = {  # raw bodies of POST /recommendations
    "k NaN": b'{"user_ids":["u1"],"k":NaN}',
    "k Infinity": b'{"user_ids":["u1"],"k":Infinity}',
    "k 1e400": b'{"user_ids":["u1"],"k":1e400}',
    "k 1.5": b'{"user_ids":["u1"],"k":1.5}',
    "k huge": b'{"user_ids":["u1"],"k":' + b"9" * 400 + b"}",
    "k a word": b'{"user_ids":["u1"],"k":"ten"}',
    "lone surrogate user id": b'{"user_ids":["\\ud800"],"k":5}',
    "lone surrogate model": b'{"user_ids":["u1"],"model":"\\udbff"}',
    "lone surrogate in exclude": b'{"user_ids":["u1"],"exclude":["\\ud800x"]}',
    "user_ids not a list": b'{"user_ids":"u1"}',
    "user_ids of objects": b'{"user_ids":[{"a":1}]}',
    "empty object": b"{}",
    "empty user_ids": b'{"user_ids":[]}',
    "exclude too long": ('{"user_ids":["u1"],"exclude":[' + ",".join(['"x"'] * 10_001) + "]}").encode(),
}


@pytest.fixture(scope="module")
def server(base_registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "registry"
    shutil.copytree(base_registry, root)
    settings = settings_for(Registry(root), max_body_bytes=1 << 20, max_events=100)
    with client_of(create_app(settings)) as client:
        yield client


def _readable_4xx(r: httpx.Response, code: int) -> None:
    assert r.status_code == code, r.text[:300]
    detail = r.json()["detail"]
    assert detail
    text = detail if isinstance(detail, str) else " ".join(str(d["msg"]) for d in detail)
    assert len(text) > 10


@pytest.mark.parametrize("name", sorted(RAW_EVENTS))
def test_hostile_event_bodies_get_422(server, name):
    _readable_4xx(server.post("/events", content=RAW_EVENTS[name], headers=JSON), 422)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_events_ingestion_would_quarantine_get_422(server, name):
    _readable_4xx(server.post("/events", json=EVENTS[name]), 422)


@pytest.mark.parametrize("name", sorted(RAW_BATCH))
def test_hostile_batch_bodies_get_422(server, name):
    _readable_4xx(server.post("/recommendations", content=RAW_BATCH[name], headers=JSON), 422)


def test_hostile_input_names_the_problem(server):
    msg = server.post("/events", content=RAW_EVENTS["value NaN"], headers=JSON).json()["detail"][0]["msg"]
    assert "NaN" in msg and "finite" in msg
    msg = server.post("/events", content=RAW_EVENTS["lone surrogate user_id"], headers=JSON).json()["detail"][0]["msg"]
    assert "surrogate" in msg
    issue = server.post("/events", json=EVENTS["id of 300 UTF-8 bytes (100 characters)"]).json()["detail"][0]
    assert issue["loc"] == ["body", 0, "user_id"] and "user_id_too_long" in issue["msg"] and "bytes" in issue["msg"]


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream"])
def test_bodies_that_are_not_json_get_422(server, kind):
    headers = {"content-type": kind}
    body = b'user_id=\xff\xfe&k=NaN'
    _readable_4xx(server.post("/events", content=body, headers=headers), 422)
    _readable_4xx(server.post("/recommendations", content=body, headers=headers), 422)


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"params": {"k": "NaN"}}, 422),
    ({"params": {"k": "1e400"}}, 422),
    ({"params": {"exclude_seen": "\u2603"}}, 422),
    ({"params": {"exclude": ",".join(["x"] * 10_001)}}, 422),
])
def test_hostile_query_parameters_get_4xx(server, kwargs, code):
    _readable_4xx(server.get("/users/u1/recommendations", **kwargs), code)


def test_bodies_over_the_limit_get_413_before_they_are_parsed(server):
    big = b'{"user_ids":["u1"],"exclude":["' + b"x" * (2 << 20) + b'"]}'
    _readable_4xx(server.post("/recommendations", content=big, headers=JSON), 413)

    def chunks():  # no content-length: the limit is counted as the body streams in
        for _ in range(40):
            yield b"x" * 65536

    _readable_4xx(server.post("/events", content=chunks(), headers=JSON), 413)
    huge_event = event(properties={f"k{n}": "v" * 1000 for n in range(1100)})  # over ingestion's line limit too
    _readable_4xx(server.post("/events", json=huge_event), 413)
    many = [event(item_id=f"i{n}")[0] for n in range(101)]
    _readable_4xx(server.post("/events", json=many), 413)  # over max_events
    assert server.get("/users/u1/recommendations").status_code == 200  # the service is fine afterwards
